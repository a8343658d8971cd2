"""Metric measured from a network, Christoffel symbols by autodiff, geodesics with diffrax, packets."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from nqg.errors import NqgInputError
from nqg.learning.optical_geodesic import (
    OpticalMetric,
    _padded_metric,
    _wigner_bundle_nodes,
    deflection_angle,
    geodesic,
    infall_acceleration,
    lens_deflection,
    lens_speed,
    measure_local_speed,
    run_packet,
    speed_squared_at,
)
from nqg.learning.spacetime_experiments import GEODESIC_DEFAULTS, _geodesic_sequence
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


def test_padded_metric_leaves_the_interior_unchanged():
    """Padding the c^2 grid (to share one compiled solver) leaves the metric unchanged inside it."""
    net, _ = _lens_network(n=60)
    c2 = measure_local_speed(net)
    plain, padded = OpticalMetric(c2), _padded_metric(c2, block=64)
    assert padded.speed_squared.shape == (64, 64)
    points = jnp.array([[2.0, 3.5], [30.3, 41.7], [56.9, 56.2]])  # interior: >= 1 site from the far edge
    # the interpolant reads the same 4 x 4 neighbours, so c^2 (and every derivative, Gamma) is identical
    np.testing.assert_array_equal(speed_squared_at(padded, points), speed_squared_at(plain, points))


def test_wigner_bundle_nodes_reproduce_the_packet_moments():
    """Gauss-Hermite nodes: energy std w/sqrt(2) across and along the carrier, angle std 1/(sqrt(2) k w)."""
    w, k = 20.0, 2 * np.pi / 16
    across, along, angle, wts = _wigner_bundle_nodes(w, k, 5)
    assert wts.sum() == pytest.approx(1.0, abs=1e-14) and len(wts) == 125
    assert wts @ across**2 == pytest.approx(w**2 / 2, rel=1e-12)
    assert wts @ along**2 == pytest.approx(w**2 / 2, rel=1e-12)
    assert wts @ angle**2 == pytest.approx(1 / (2 * k**2 * w**2), rel=1e-12)
    assert wts @ (across * angle) == pytest.approx(0.0, abs=1e-14)  # independent at the waist


def test_packet_in_a_uniform_network_goes_straight():
    """Negative control (flat c): a packet with an oblique carrier moves on a straight line."""
    net = wave_network(0.8, kappa=0.5, shape=(160, 200))
    k = 2 * np.pi / 16
    times, cent = run_packet(net, (50.0, 50.0), (0.3 * k, k), 10.0, 100, every=5)
    # measured 3e-4 rad (oblique carrier on the lattice); 3% of the lens deflection is 5e-3 rad
    assert deflection_angle(cent) == pytest.approx(0.0, abs=1e-3)
    speed = np.linalg.norm(cent[-1] - cent[0]) / times[-1]
    assert 0.9 * 0.8 < speed < 0.8  # the lattice group velocity, c cos(k/2) to leading order


def test_geodesic_sequence_validation():
    assert _geodesic_sequence(GEODESIC_DEFAULTS)[-1] == (32.0, 320.0)
    bad = [
        {"sequence_wavelengths": [16.0], "sequence_radii": [80.0]},  # one point: no convergence
        {"sequence_wavelengths": [16.0, 32.0], "sequence_radii": [80.0]},  # lengths differ
        {"sequence_wavelengths": [2.0, 32.0], "sequence_radii": [80.0, 320.0]},  # lambda < 4 sites
        {"sequence_wavelengths": [16.0, 32.0], "sequence_radii": [80.0, 40.0]},  # R < 2 lambda
        {"sequence_wavelengths": [16.0, 32.0], "sequence_radii": [80.0, 160.0]},  # lambda/R not decreasing
    ]
    for cfg in bad:
        with pytest.raises(NqgInputError):
            _geodesic_sequence(cfg)


@pytest.mark.slow
def test_packet_is_the_wigner_ray_bundle_times_the_lattice_factor():
    """Geometric optics with the lattice dispersion: alpha_packet = alpha_bundle / cos^2(pi/lambda).

    The bundle averages the null geodesics of the measured metric over the packet's Wigner distribution
    (offsets along and across, angles); on the lattice rays bend 1/cos^2(k/2) times more per unit length.
    What is left is the wave correction beyond geometric optics (measured < 0.1% here).
    """
    r = lens_deflection(80.0, 16.0, width=float(np.sqrt(16 * 80 / np.pi)), bundle=5)
    lattice = 1 / np.cos(np.pi / 16) ** 2
    assert (1 + r["packet_vs_bundle"]) / lattice - 1 == pytest.approx(0.0, abs=5e-3)
    assert abs(r["bundle_vs_geodesic"]) < 0.02  # a narrow packet: the bundle is close to the central ray
    assert r["edge_energy_fraction"] < 1e-6


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
    """The issue's statement at R = 5 lambda (lambda = 16, w = 2.5 lambda): measured -1.5%.

    It holds there partly by cancellation: the lattice makes rays bend 4.0% more, the wide packet
    (w = R/2) averages the lens to a 5.2% smaller deflection (see the Wigner-bundle test); at lambda = 32
    the same ratios give -4.3%. The experiment measures the geometric-optics sequence instead.
    """
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
