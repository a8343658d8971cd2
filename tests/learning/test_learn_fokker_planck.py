"""Fokker-Planck reference solver: exact OU spectrum, Boltzmann ground state, entropy balance."""

from __future__ import annotations

import numpy as np
import pytest

from nqg.learning.ensemble import double_well, quadratic
from nqg.learning.fokker_planck import (
    FokkerPlanckSpectrum,
    boltzmann_density,
    entropy_rate_terms,
    relaxation_rate,
    sample_boltzmann,
)


def test_ornstein_uhlenbeck_spectrum_is_k_times_a():
    a = 2.0
    spec = FokkerPlanckSpectrum(quadratic(a), 0.5, half_width=6.0, n=2000, n_modes=5)
    np.testing.assert_allclose(spec.rates[:5] - spec.rates[0], a * np.arange(5), atol=2e-4)


def test_ground_state_is_boltzmann_and_evolution_relaxes_to_it():
    pot, t = double_well(), 0.3
    spec = FokkerPlanckSpectrum(pot, t, half_width=2.5, n=1500)
    p_eq = boltzmann_density(pot, t, spec.grid)
    np.testing.assert_allclose(spec.boltzmann(), p_eq, atol=1e-3 * p_eq.max())
    p0 = np.exp(-((spec.grid - 1) ** 2) / (2 * 0.1**2))
    p0 /= p0.sum() * spec.dq
    late = spec.evolve(p0, [0.0, 200.0])
    assert late[0].sum() * spec.dq == pytest.approx(1.0, abs=1e-3)
    np.testing.assert_allclose(late[1], p_eq, atol=1e-3 * p_eq.max())


def test_entropy_balance_of_the_exact_fokker_planck_flow():
    """dS/dt = T I_F - <V''> along the exact (eigen-expansion) solution; dropping T I_F fails."""
    pot, t = double_well(), 0.3
    spec = FokkerPlanckSpectrum(pot, t, half_width=2.5, n=2000, n_modes=80)
    p0 = np.exp(-((spec.grid - 1) ** 2) / (2 * 0.15**2))
    p0 /= p0.sum() * spec.dq
    dt, t0 = 1e-4, 0.05
    ps = spec.evolve(p0, [t0 - dt, t0, t0 + dt])
    terms = [entropy_rate_terms(p, spec.grid, pot, t) for p in ps]
    ds_dt = (terms[2]["entropy"] - terms[0]["entropy"]) / (2 * dt)
    rhs = terms[1]["T_fisher"] - terms[1]["mean_curvature"]
    scale = max(terms[1]["T_fisher"], terms[1]["mean_curvature"])
    assert abs(ds_dt - rhs) < 2e-3 * scale
    assert abs(ds_dt + terms[1]["mean_curvature"]) > 0.5 * scale  # without the production term


def test_double_well_gap_is_converged_and_near_kramers():
    pot, t = double_well(), 0.3
    g1 = FokkerPlanckSpectrum(pot, t, n=1500).gap
    g2 = FokkerPlanckSpectrum(pot, t, n=3000).gap
    assert g1 == pytest.approx(g2, rel=1e-3)
    kramers = 2 * np.sqrt(8 * 4) / (2 * np.pi) * np.exp(-1 / t)  # 2 k, leading order in T / barrier
    assert g2 == pytest.approx(kramers, rel=0.15)


def test_relaxation_rate_and_boltzmann_sampler():
    times = np.linspace(0, 10, 50)
    assert relaxation_rate(times, 0.7 * np.exp(-0.3 * times), 1, 9) == pytest.approx(0.3)
    x = sample_boltzmann(quadratic(2.0), 0.5, 100_000, np.random.default_rng(0))
    assert np.var(x) == pytest.approx(0.25, rel=4 * np.sqrt(2 / 100_000))
