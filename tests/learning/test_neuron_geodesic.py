"""Metric measured from a network, Christoffel symbols by autodiff, geodesics with diffrax, packets."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from nqg.learning.optical_geodesic import (
    OpticalMetric,
    deflection_angle,
    geodesic,
    infall_acceleration,
    lens_deflection,
    lens_speed,
    measure_local_speed,
)
from nqg.learning.wave_network import site_coordinates, wave_network


def _lens_network(n=64, R=12.0):
    return wave_network(lens_speed(R, (n / 2, n / 2), 0.3), kappa=0.5, shape=(n, n)), R


def test_local_dispersion_recovers_c_squared():
    net, _ = _lens_network()
    c2 = measure_local_speed(net)
    np.testing.assert_allclose(c2, net.speed_squared(), atol=2e-6)


def test_christoffel_symbols_of_the_optical_metric():
    """Gamma^i_00 = (1/2) d_i c^2 and Gamma^0_0i = d_i c^2 / (2 c^2) for ds^2 = -c^2 dt^2 + dsigma^2."""
    n, R = 64, 24.0
    sigma = site_coordinates((n, n))
    r2 = (sigma[0] - n / 2) ** 2 + (sigma[1] - n / 2) ** 2
    metric = OpticalMetric(1 - 0.3 * jnp.exp(-r2 / R**2))
    p = jnp.array([30.3, 37.6])
    gam = metric.christoffel(jnp.concatenate([jnp.zeros(1), p]))
    c2 = 1 - 0.3 * np.exp(-((p[0] - 32) ** 2 + (p[1] - 32) ** 2) / R**2)
    grad = 0.3 * np.exp(-((p[0] - 32) ** 2 + (p[1] - 32) ** 2) / R**2) * 2 * (np.asarray(p) - 32) / R**2
    np.testing.assert_allclose(gam[1:, 0, 0], 0.5 * grad, rtol=2e-3)  # interpolation error ~ h^3
    np.testing.assert_allclose(gam[0, 0, 1:], grad / (2 * c2), rtol=2e-3)
    np.testing.assert_allclose(gam[1:, 1:, 1:], 0.0, atol=1e-15)


def test_geodesic_in_uniform_medium_is_a_straight_null_line():
    metric = OpticalMetric(jnp.full((64, 64), 0.64))
    times = np.linspace(0, 5, 81)
    path = geodesic(metric, (4.0, 5.0), (0.48, 0.64), times)
    np.testing.assert_allclose(path, np.array([4.0, 5.0]) + np.outer(times, [0.48, 0.64]), atol=1e-9)
    assert deflection_angle(path) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.slow
def test_null_geodesic_stays_null_in_the_lens():
    net, R = _lens_network()
    metric = OpticalMetric(measure_local_speed(net))
    times = np.linspace(0, 40, 81)
    start = jnp.array([32 - 1.2 * R, 8.0])
    c0 = float(jnp.sqrt(metric.c2(start)))
    path = geodesic(metric, start, (0.0, c0), times, rtol=1e-10)
    vel = np.gradient(path, times, axis=0, edge_order=2)
    c2 = np.array([float(metric.c2(jnp.asarray(p))) for p in path])
    null = np.sum(vel**2, axis=1) / c2 - 1
    assert np.max(np.abs(null[2:-2])) < 1e-3  # finite-difference velocity
    assert deflection_angle(path) < -0.05  # bends towards the slow centre (sigma_0 grows)


@pytest.mark.slow
def test_packet_follows_the_null_geodesic_at_five_wavelengths():
    r = lens_deflection(80.0, 16.0, width=40.0)
    assert r["relative_difference"] < 0.03


@pytest.mark.slow
def test_diffraction_breaks_geometric_optics_at_one_wavelength():
    r = lens_deflection(16.0, 16.0, width=24.0)
    assert r["relative_difference"] > 0.03


@pytest.mark.slow
def test_massive_packet_falls_along_the_timelike_geodesic():
    r = infall_acceleration()
    assert r["relative_difference"] < 0.05
    assert r["geodesic_vs_newton"] < 0.05
