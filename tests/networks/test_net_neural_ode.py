"""Linear neural ODE (arXiv:2402.02362 section 4): Wilson line vs diffrax, gauge transformations,
reparametrisations and affine shifts leave x(0) -> x(T) unchanged to 1e-9, the Wilson line is covariant,
and the rescaling of a residual ReLU network is the gauge transformation at the layer times."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

from nqg.networks.neural_ode import (
    AffineShift,
    ChebyshevPolynomial,
    GaugeTransformation,
    LinearNeuralODE,
    PiecewiseLinear,
    Reparametrisation,
    ResidualNetwork,
    affine_shift,
    discrete_gauge_transform,
    gauge_at_layers,
    gauge_transform,
    layer_log_scales,
    matrix_exponential,
    random_function,
    reparametrise,
    solve_diffrax,
    transport,
    wilson_line,
)
from nqg.networks.symmetries import rescale_neurons

T = 1.5


def _rel(a, b):
    return float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))


@pytest.mark.parametrize(
    "kind",
    [
        "polynomial",
        pytest.param("mlp", marks=pytest.mark.slow),
        pytest.param("piecewise_linear", marks=pytest.mark.slow),
    ],
)
def test_wilson_line_and_every_transformation(kind):
    """One ODE per function kind; the transformations with generators of the same kind."""
    ode = LinearNeuralODE.random(jax.random.key(1), 3, T, kind)
    x0 = jax.random.normal(jax.random.key(2), (4, 3))
    ref = solve_diffrax(ode, x0)
    assert _rel(transport(ode, x0), ref) < 1e-9
    G = GaugeTransformation(random_function(kind, jax.random.key(3), (3, 3), T, 0.5), T)
    phi = Reparametrisation(random_function(kind, jax.random.key(4), (), T, 0.5), T)
    c = AffineShift(random_function(kind, jax.random.key(5), (3,), T, 1.0), T)
    for new in (gauge_transform(ode, G), reparametrise(ode, phi), affine_shift(ode, c)):
        assert _rel(transport(new, x0), ref) < 1e-9
    assert _rel(solve_diffrax(gauge_transform(ode, G), x0), ref) < 1e-9


def test_transformation_is_not_trivial_and_unpinned_gauge_breaks_invariance():
    """Negative controls: the transformed coefficients differ, and a G with G(T) != 1 changes the map
    exactly to G(T) M (the covariant law), so the invariance check can fail."""
    ode = LinearNeuralODE.random(jax.random.key(1), 2, T)
    x0 = jax.random.normal(jax.random.key(2), (3, 2))
    g = ChebyshevPolynomial.random(jax.random.key(3), 4, (2, 2), T, 0.5)
    G = GaugeTransformation(g, T)
    assert float(jnp.max(jnp.abs(gauge_transform(ode, G).w(0.4) - ode.w(0.4)))) > 1e-2
    Gfree = GaugeTransformation(g, T, pin_end=False)
    moved = transport(gauge_transform(ode, Gfree), x0)
    assert _rel(moved, transport(ode, x0)) > 1e-3
    assert _rel(moved, transport(ode, x0) @ Gfree.matrix(T).T) < 1e-9


@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 10_000), t1=st.floats(0.0, 0.7), t2=st.floats(0.8, 1.5))
def test_wilson_line_covariance(seed, t1, t2):
    ode = LinearNeuralODE.random(jax.random.key(seed), 3, T)
    G = GaugeTransformation(
        ChebyshevPolynomial.random(jax.random.key(seed + 1), 5, (3, 3), T, 0.5), T, pin_end=False
    )
    W, _ = wilson_line(ode, t1, t2)
    Wg, _ = wilson_line(gauge_transform(ode, G), t1, t2)
    cov = G.matrix(t2) @ W @ jnp.linalg.inv(G.matrix(t1))
    assert _rel(Wg, cov) < 1e-9


def test_one_dimension_gauge_is_w_plus_g_prime():
    w = ChebyshevPolynomial.random(jax.random.key(0), 4, (1, 1), T)
    b = ChebyshevPolynomial.random(jax.random.key(1), 4, (1,), T)
    g = ChebyshevPolynomial.random(jax.random.key(2), 4, (1, 1), T)
    ode = gauge_transform(LinearNeuralODE(w, b, T), GaugeTransformation(g, T, pin_end=False))
    t = jnp.asarray(0.37)
    dg = jax.jvp(g, (t,), (jnp.ones_like(t),))[1]
    np.testing.assert_allclose(ode.w(t), w(t) + dg, rtol=1e-12)
    np.testing.assert_allclose(ode.b(t), jnp.exp(g(t) - g(0.0))[0] * b(t), rtol=1e-12)


def test_reparametrisation_is_a_diffeomorphism_fixing_ends():
    for h in (
        ChebyshevPolynomial.random(jax.random.key(3), 4, (), T, 0.8),
        PiecewiseLinear.random(jax.random.key(4), 7, (), T, 0.8),
    ):
        phi = Reparametrisation(h, T)
        assert float(phi(0.0)) == 0.0 and abs(float(phi(T)) - T) < 1e-14
        ts = jnp.linspace(0, T, 200)
        assert np.all(np.diff(np.asarray(jax.vmap(phi)(ts))) > 0)
        assert abs(float(phi(phi.inverse(0.6))) - 0.6) < 1e-12


def test_matrix_exponential_against_scipy():
    a = np.random.default_rng(0).normal(size=(4, 4))
    for s in (1e-6, 0.5, 8.0):
        ref = scipy.linalg.expm(s * a)
        assert np.max(np.abs(matrix_exponential(jnp.asarray(s * a)) - ref)) / np.max(np.abs(ref)) < 1e-12


def test_residual_relu_rescaling_is_gauge_at_layer_times():
    ode = LinearNeuralODE.random(jax.random.key(1), 4, T)
    net = ResidualNetwork.from_ode(ode, 20, "relu")
    Gd = GaugeTransformation(ChebyshevPolynomial.random(jax.random.key(3), 5, (4,), T, 0.7), T)
    Gl = gauge_at_layers(Gd, net)
    np.testing.assert_allclose(Gl[0], np.eye(4), atol=1e-15)
    np.testing.assert_allclose(Gl[-1], np.eye(4), atol=1e-14)
    by_gauge = discrete_gauge_transform(net, Gl).as_mlp()
    by_rescaling = rescale_neurons(net.as_mlp(), layer_log_scales(Gd, net))
    for (wa, ba), (wb, bb) in zip(by_gauge, by_rescaling, strict=True):
        np.testing.assert_allclose(wa, wb, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(ba, bb, rtol=1e-13, atol=1e-15)
    x = jax.random.normal(jax.random.key(4), (8, 4))
    assert _rel(ResidualNetwork.from_mlp(by_gauge, net.dt)(x), net(x)) < 1e-12
    # the discrete gauge transformation tends to the continuum one, O(dt)
    errs = []
    for n in (40, 80):
        net_n = ResidualNetwork.from_ode(ode, n)
        wt = discrete_gauge_transform(net_n, gauge_at_layers(Gd, net_n)).w[n // 4]
        errs.append(float(jnp.max(jnp.abs(wt - gauge_transform(ode, Gd).w(net_n.layer_times[n // 4])))))
    assert 1.7 < errs[0] / errs[1] < 2.3


def test_euler_convergence_of_linear_residual_network():
    ode = LinearNeuralODE.random(jax.random.key(5), 3, T)
    x0 = jax.random.normal(jax.random.key(6), (5, 3))
    exact = transport(ode, x0)
    e = [float(jnp.max(jnp.abs(ResidualNetwork.from_ode(ode, n, "linear")(x0) - exact))) for n in (50, 100)]
    assert 1.8 < e[0] / e[1] < 2.2


def test_float32_transport():
    ode64 = LinearNeuralODE.random(jax.random.key(7), 2, T)
    ode = jax.tree_util.tree_map(lambda a: a.astype(jnp.float32) if eqx.is_inexact_array(a) else a, ode64)
    x0 = jnp.ones((2, 2), jnp.float32)
    out = transport(ode, x0, 200)
    assert out.dtype == jnp.float32
    ref = transport(ode64, jnp.ones((2, 2)))
    assert _rel(out, ref) < 1e-4
