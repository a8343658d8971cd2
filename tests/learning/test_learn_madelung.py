"""Madelung form: quantum potential, stationary balance with its control, Madelung learners."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from nqg.learning.ensemble import double_well, quadratic
from nqg.learning.fokker_planck import boltzmann_density, sample_boltzmann
from nqg.learning.madelung import (
    madelung_learners,
    quantum_potential,
    squeezed_width,
    stationary_residual,
    stationary_residual_samples,
)


def test_quantum_potential_of_a_gaussian():
    x = np.linspace(-3, 3, 601)
    sigma, hbar = 0.8, 0.6
    p = np.exp(-(x**2) / (2 * sigma**2))
    q = quantum_potential(p, x, hbar)
    exact = -(hbar**2) / 2 * (x**2 / (4 * sigma**4) - 1 / (2 * sigma**2))
    np.testing.assert_allclose(q[1:-1], exact[1:-1], atol=1e-4)


def test_stationary_balance_exact_density_and_wrong_temperature():
    pot, t = double_well(), 0.3
    grid = np.linspace(-1.8, 1.8, 721)
    p = boltzmann_density(pot, t, grid)
    assert stationary_residual(p, grid, pot, t)["relative"] < 1e-3
    assert stationary_residual(p, grid, pot, 1.5 * t)["relative"] > 0.3


def test_stationary_balance_from_samples():
    pot, t = double_well(), 0.3
    x = sample_boltzmann(pot, t, 50_000, np.random.default_rng(1))
    assert stationary_residual_samples(x, pot, t) < 0.1
    assert stationary_residual_samples(x, pot, 1.5 * t) > 0.3


def test_madelung_learners_squeezed_width_and_classical_control():
    n, hbar = 2000, 1.0
    q0 = jax.random.normal(jax.random.key(0), (n,))
    ts = np.linspace(0, np.pi, 9)[1:]
    exact = squeezed_width(ts, float(jnp.std(q0)), hbar)
    harmonic = quadratic(1.0)
    w = np.asarray(madelung_learners(harmonic, q0, jnp.zeros(n), ts, hbar=hbar)["variance"])
    assert np.max(np.abs(w / exact - 1)) < 0.03
    wc = np.asarray(madelung_learners(harmonic, q0, jnp.zeros(n), ts, hbar=hbar, quantum=False)["variance"])
    k = int(np.argmin(np.abs(ts - np.pi / 2)))
    assert abs(wc[k] / exact[k] - 1) > 0.5
