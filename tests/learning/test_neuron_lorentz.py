"""Dispersion, isotropy and time dilation of neuron-state wave networks, with first-order controls."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from nqg.learning.lorentz import (
    control_time_dilation,
    isotropy_report,
    lattice_dispersion,
    measure_dispersion,
    time_dilation,
)
from nqg.learning.wave_network import LocalRecurrentNetwork, wave_network


def test_measured_dispersion_is_the_exact_lattice_dispersion():
    L = 24
    net = wave_network(0.8, kappa=0.3, mass=0.4, shape=(L, L))
    n = np.array([[1, 0], [0, 3], [2, 5], [7, 7], [12, 1]])
    ks = 2 * np.pi * n / L
    measured = measure_dispersion(net, ks, steps=24)
    np.testing.assert_allclose(measured, lattice_dispersion(ks, 0.8, 0.4, 0.3), rtol=1e-9)


def test_long_wavelength_dispersion_and_isotropy():
    rep = isotropy_report(wave_network(1.0, kappa=0.25, shape=(96, 96)), steps=16)
    assert rep["max_dispersion_error"] < 0.01
    assert abs(rep["c_axis"] - 1) < 1e-4 and abs(rep["c_diag"] - 1) < 1e-4
    # exact lattice value of the anisotropy at the largest diagonal |k| compared
    last = rep["anisotropy"][-1]
    k = last["k"]
    exact_diag = lattice_dispersion([k / np.sqrt(2), k / np.sqrt(2)], 1.0) / k
    exact_axis = lattice_dispersion([k, 0.0], 1.0) / k
    assert last["anisotropy"] == pytest.approx(exact_diag / exact_axis - 1, abs=1e-4)
    assert last["anisotropy"] > 0.1  # short wavelengths: the diagonal is faster


def test_anisotropic_network_fails_the_isotropy_test():
    L, kappa = 96, 0.25
    nb = jnp.stack([jnp.full((2, L, L), kappa * 1.0), jnp.full((2, L, L), kappa * 0.81)])
    net = LocalRecurrentNetwork(2.0 - 2 * kappa * 1.81 * jnp.ones((L, L)), nb, -jnp.ones((L, L)), dt=0.5)
    rep = isotropy_report(net, steps=16)
    expected = np.sqrt(1.81 / 2)  # diagonal speed^2 is the mean of the two axes'
    assert rep["c_diag"] == pytest.approx(expected, rel=1e-3)
    assert abs(rep["c_diag"] / rep["c_axis"] - 1) > 0.01


def test_time_dilation_of_a_boosted_packet():
    rows = time_dilation([0.0, 0.6], sites=1024, width=80.0, duration=160.0)
    fast = rows[-1]
    assert fast["v_measured"] == pytest.approx(0.6, abs=0.01)
    assert abs(fast["deviation"]) < 0.02
    assert fast["period_ratio"] == pytest.approx(1.25, rel=0.02)


def test_first_order_controls_do_not_show_time_dilation():
    diff = control_time_dilation([0.0, 0.6], kind="diffusive", sites=1024, width=80.0, duration=160.0)
    assert abs(diff[-1]["v_measured"]) < 1e-3 and not np.isfinite(diff[-1]["period"])
    schr = control_time_dilation([0.0, 0.6], kind="schrodinger", sites=1024, width=80.0, duration=160.0)
    assert abs(schr[-1]["deviation"]) > 0.02  # misses gamma
    assert schr[-1]["period_ratio"] == pytest.approx(schr[-1]["galilean"], rel=5e-3)  # follows Galileo
