"""Neural geodesic equation: Christoffel symbols and curvature by autodiff against exact geometries,
diffeomorphism and scale behaviour of K, geodesics against closed forms, the affine reparametrisation
symmetry (and its non-affine negative control), and a metric fitted to sphere geodesics."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nqg.errors import NqgInputError
from nqg.networks import geodesic as geo

SETTINGS = settings(max_examples=15, deadline=None)


def test_christoffel_symbols_of_the_sphere():
    theta = 0.8
    gam = geo.christoffel(geo.sphere_metric, jnp.array([theta, 0.3]))
    expected = np.zeros((2, 2, 2))
    expected[0, 1, 1] = -np.sin(theta) * np.cos(theta)  # Gamma^theta_phiphi
    expected[1, 0, 1] = expected[1, 1, 0] = np.cos(theta) / np.sin(theta)  # Gamma^phi_thetaphi
    np.testing.assert_allclose(gam, expected, atol=1e-14)


@pytest.mark.parametrize(
    "metric, point, k",
    [
        (geo.sphere_metric, [0.7, 0.3], 1.0),
        (geo.sphere_metric, [2.2, -1.0], 1.0),
        (geo.hyperbolic_half_plane_metric, [0.2, 1.3], -1.0),
        (geo.hyperbolic_half_plane_metric, [-3.0, 0.1], -1.0),
        (geo.euclidean_polar_metric, [0.7, 0.3], 0.0),
    ],
)
def test_gaussian_curvature_of_known_metrics(metric, point, k):
    assert float(geo.gaussian_curvature(metric, jnp.array(point))) == pytest.approx(k, abs=1e-12)


def test_ricci_scalar_of_the_three_sphere():
    """S^3 of radius 2 in hyperspherical coordinates: R = d (d - 1) / r^2 = 6 / 4."""

    def s3(x):
        a, b = jnp.sin(x[0]) ** 2, jnp.sin(x[0]) ** 2 * jnp.sin(x[1]) ** 2
        return 4.0 * jnp.diag(jnp.stack([jnp.ones_like(a), a, b]))

    assert float(geo.ricci_scalar(s3, jnp.array([1.1, 0.7, 0.2]))) == pytest.approx(1.5, rel=1e-12)
    with pytest.raises(NqgInputError, match="two dimensions"):
        geo.gaussian_curvature(s3, jnp.array([1.1, 0.7, 0.2]))


def _warped_product(x):
    """ds^2 = dx1^2 + G^2 dx2^2 with G = 1 + 0.3 x1^2 + 0.2 x1 x2: K = -G_{x1 x1} / G = -0.6 / G."""
    G = 1 + 0.3 * x[0] ** 2 + 0.2 * x[0] * x[1]
    return jnp.diag(jnp.stack([jnp.ones_like(G), G**2]))


@SETTINGS
@given(
    c=st.floats(0.1, 10.0),
    y1=st.floats(-1.0, 1.0),
    y2=st.floats(-1.0, 1.0),
    eps=st.floats(-0.2, 0.2),
    a=st.floats(-2.0, 2.0),
    b=st.floats(-2.0, 2.0),
)
def test_curvature_is_a_scalar_and_scales_as_inverse_metric(c, y1, y2, eps, a, b):
    """A metric of varying K = -0.6 / G; its pull-back by the diffeomorphism f(y) = y + eps (sin(a y2),
    sin(b y1)) has K'(y) = K(f(y)) although every component changes; and K(c g) = K(g) / c."""
    y = jnp.array([y1, y2])

    def f(z):
        return z + eps * jnp.stack([jnp.sin(a * z[1]), jnp.sin(b * z[0])])

    def pulled(z):
        jac = jax.jacfwd(f)(z)
        return jac.T @ _warped_product(f(z)) @ jac

    fy = f(y)
    exact = -0.6 / (1 + 0.3 * fy[0] ** 2 + 0.2 * fy[0] * fy[1])
    assert float(geo.gaussian_curvature(_warped_product, fy)) == pytest.approx(float(exact), rel=1e-10)
    assert float(geo.gaussian_curvature(pulled, y)) == pytest.approx(float(exact), rel=1e-9)
    scaled = float(geo.gaussian_curvature(lambda z: c * _warped_product(z), y))
    assert scaled == pytest.approx(float(geo.gaussian_curvature(_warped_product, y)) / c, rel=1e-10)


def test_generated_geodesics_are_unit_speed_and_solve_the_geodesic_equation():
    for generate, metric in (
        (geo.sphere_geodesics, geo.sphere_metric),
        (geo.hyperbolic_geodesics, geo.hyperbolic_half_plane_metric),
    ):
        traj = generate(jax.random.key(3), 6, 40)
        # the exact metric's geodesics from the observed start reproduce the closed-form arcs
        x = traj.positions
        v_est, _ = geo.local_derivatives(traj, window=7)
        pred = geo.predict_trajectories(metric, traj, window=7)
        assert geo.prediction_rms(pred, traj) < 1e-5  # error from the 7-point initial velocity only
        speed2 = jax.vmap(lambda p, u, m=metric: u @ m(p) @ u)(
            jnp.asarray(x[traj.mask]), jnp.asarray(v_est[traj.mask])
        )
        np.testing.assert_allclose(speed2, 1.0, atol=1e-4)  # one-sided 7-point velocity at the ends
        flat = geo.prediction_rms(geo.straight_line_prediction(traj), traj)
        assert flat > 0.05  # the curvature is visible in the data (negative control)


def test_integrate_geodesic_matches_a_great_circle_exactly():
    """Equator-crossing great circle with inclination i: tan(latitude) = tan(i) sin(longitude)."""
    inc = 0.6
    ts = jnp.linspace(0.0, 1.2, 7)
    x, _ = geo.integrate_geodesic(
        geo.sphere_metric, jnp.array([np.pi / 2, 0.0]), jnp.array([-np.sin(inc), np.cos(inc)]), ts
    )
    p = np.stack([np.cos(ts), np.sin(ts) * np.cos(inc), np.sin(ts) * np.sin(inc)], -1)
    np.testing.assert_allclose(x[:, 0], np.arccos(p[:, 2]), atol=1e-9)
    np.testing.assert_allclose(x[:, 1], np.arctan2(p[:, 1], p[:, 0]), atol=1e-9)


def test_local_derivatives_exact_for_quartics_on_an_uneven_grid():
    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(0, 2, 12))
    x = np.stack([1 + t - 2 * t**2 + 0.5 * t**3 - 0.1 * t**4, t**2], -1)
    traj = geo.Trajectories.from_list([t], [x])
    v, a = geo.local_derivatives(traj)
    np.testing.assert_allclose(v[0, :, 0], 1 - 4 * t + 1.5 * t**2 - 0.4 * t**3, atol=1e-8)
    np.testing.assert_allclose(a[0, :, 0], -4 + 3 * t - 1.2 * t**2, atol=1e-7)
    np.testing.assert_allclose(a[0, :, 1], 2.0, atol=1e-7)


@SETTINGS
@given(stretch=st.floats(0.3, 4.0), shift=st.floats(0.0, 0.8), alpha=st.floats(0.0, 6.28))
def test_affine_reparametrisation_is_a_symmetry_and_a_warp_is_not(stretch, shift, alpha):
    x0 = jnp.array([0.2, 1.1])
    v0 = 1.1 * jnp.array([np.cos(alpha), np.sin(alpha)])
    metric = geo.hyperbolic_half_plane_metric
    stretch, shift, one = jnp.asarray(stretch), jnp.asarray(shift), jnp.asarray(1.0)  # arrays: one compile
    assert float(geo.affine_reparametrisation_defect(metric, x0, v0, one, stretch, shift)) < 1e-7
    affine_time = geo.AffineTime(stretch, shift)
    assert float(geo.reparametrised_geodesic_residual(metric, x0, v0, one / 2, affine_time)) < 1e-7
    # t = s + s^2 / 2: y'' + Gamma(y)(y', y') = t'' x'(t), of coordinate size |v| y >= 0.1 here
    warp = float(geo.reparametrised_geodesic_residual(metric, x0, v0, one / 2, geo.QuadraticTime(one)))
    assert warp > 0.1


@SETTINGS
@given(seed=st.integers(0, 10_000), scale=st.floats(0.1, 5.0))
def test_metric_network_is_positive_definite_in_float64_and_float32(seed, scale):
    key = jax.random.key(seed)
    for dtype in (jnp.float64, jnp.float32):
        net = geo.MetricNetwork(3, key, width=8, depth=2, dtype=dtype)
        last = net.mlp.layers[-1].weight  # the untrained last layer is zero (flat metric): randomise it
        noise = 0.3 * scale * jax.random.normal(jax.random.fold_in(key, 2), last.shape, dtype)
        net = eqx.tree_at(lambda n: n.mlp.layers[-1].weight, net, noise)
        x = jax.random.normal(jax.random.fold_in(key, 1), (5, 3), dtype) * scale
        g = jax.vmap(net)(x)
        assert g.dtype == dtype
        eig = np.linalg.eigvalsh(np.asarray(g, np.float64))
        assert np.all(eig > 0)
        np.testing.assert_allclose(g, np.swapaxes(g, -1, -2), rtol=1e-6)


def test_untrained_network_is_flat_and_curvature_works_in_float32():
    net = geo.MetricNetwork(2, jax.random.key(0), width=8, dtype=jnp.float32)
    k = geo.curvature_at(net, np.array([[0.1, 0.2], [1.0, -1.0]], np.float32))
    assert k.dtype == jnp.float32 and np.allclose(k, 0.0)
    k32 = geo.gaussian_curvature(geo.sphere_metric, jnp.array([0.9, 0.1], jnp.float32))
    assert k32.dtype == jnp.float32 and float(k32) == pytest.approx(1.0, rel=1e-5)


def test_trajectories_reject_bad_input():
    t = np.linspace(0, 1, 4)
    x = np.zeros((4, 2))
    with pytest.raises(NqgInputError, match="at least 3"):
        geo.Trajectories.from_list([t[:2]], [x[:2]])
    with pytest.raises(NqgInputError, match="NaN"):
        geo.Trajectories.from_list([t], [np.where(t[:, None] > 0.5, np.nan, x)])
    with pytest.raises(NqgInputError, match="different dimensions"):
        geo.Trajectories.from_list([t, t], [x, np.zeros((4, 3))])
    with pytest.raises(NqgInputError, match="increasing"):
        geo.Trajectories.from_list([t[::-1]], [x])


def test_coverage_counts_distinct_trajectories():
    t = np.linspace(0, 1, 5)
    lines = [np.stack([t, np.full(5, y)], -1) for y in (0.0, 0.01, 1.0)]
    traj = geo.Trajectories.from_list([t] * 3, lines)
    counts = geo.coverage_count(traj, [[0.5, 0.005], [0.5, 1.0], [5.0, 5.0]], radius=0.1)
    assert counts.tolist() == [2, 1, 0]


@pytest.mark.slow
def test_fit_recovers_sphere_curvature_and_predicts_heldout():
    train = geo.sphere_geodesics(jax.random.key(0), 200, 50)
    held = geo.sphere_geodesics(jax.random.key(1), 10, 50)
    fit = geo.fit_metric(train, jax.random.key(2), steps=3000, progress=False)
    pts = train.points()
    covered = geo.covered_region(train, pts)
    err, _ = geo.curvature_rms_error(fit.metric, pts[covered], 1.0)
    assert err < 0.05
    pred = geo.predict_trajectories(fit.metric, held)
    flat = geo.prediction_rms(geo.straight_line_prediction(held), held)
    assert geo.prediction_rms(pred, held) < 0.05 * flat
