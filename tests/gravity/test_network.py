"""The bulk network against independent solves of the same equation."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import nqg  # noqa: F401  (float64)
from nqg.gravity.network import (
    DiscreteBulkNetwork,
    MLPMetric,
    NeuralODEBulk,
    PolynomialMetric,
    ads_schwarzschild_h,
    ads_schwarzschild_metric,
    ensemble_call,
    layer_etas,
    make_ensemble,
    metric_h,
    phi4_force,
    propagate,
    propagate_trajectory,
    pure_ads_h,
)

# AdS-Schwarzschild toy of arXiv:1802.08313: d = 3, m^2 = -1, lambda = 1, eta from 1 to 0.1
D, M2, LAM, ETA_INI, ETA_FIN = 3, -1.0, 1.0, 1.0, 0.1
PHI0 = np.array([0.1, 0.5, 0.9, 1.2])
PI0 = np.array([-0.2, 0.1, 0.0, 0.15])


def scipy_solution(h_fn, phi0, pi0, eta_ini=ETA_INI, eta_fin=ETA_FIN, m2=M2, lam=LAM):
    """Independent reference: scipy's DOP853 on phi'' + h phi' - m^2 phi - lam phi^3 = 0."""

    def rhs(eta, y):
        n = len(y) // 2
        phi, pi = y[:n], y[n:]
        return np.concatenate([pi, -h_fn(eta) * pi + m2 * phi + lam * phi**3])

    sol = solve_ivp(
        rhs, (eta_ini, eta_fin), np.concatenate([phi0, pi0]), method="DOP853", rtol=1e-12, atol=1e-12
    )
    n = len(phi0)
    return sol.y[:n, -1], sol.y[n:, -1]


def bh_h(eta):
    return D / np.tanh(D * eta)


def test_propagate_is_explicit_euler_of_eq_3_3():
    h = jnp.array([2.0, -1.0, 0.5])
    d_eta = -0.3

    def force(p):
        return phi4_force(p, M2, LAM)

    phi, pi = PHI0.copy(), PI0.copy()
    for h_n in np.asarray(h):
        phi, pi = phi + d_eta * pi, pi + d_eta * (-h_n * pi + M2 * phi + LAM * phi**3)  # old phi in pi update
    got_phi, got_pi = propagate(h, PHI0, PI0, d_eta, force)
    np.testing.assert_allclose(got_phi, phi, rtol=1e-14)
    np.testing.assert_allclose(got_pi, pi, rtol=1e-14)
    phis, pis = propagate_trajectory(h, PHI0, PI0, d_eta, force)
    assert phis.shape == (4, 4) and pis.shape == (4, 4)
    np.testing.assert_allclose(phis[0], PHI0)
    np.testing.assert_allclose(phis[-1], phi, rtol=1e-14)
    np.testing.assert_allclose(pis[-1], pi, rtol=1e-14)


def test_propagate_broadcasts_over_batch_shapes():
    h = jnp.linspace(3.0, 5.0, 7)
    phi = jnp.asarray(np.random.default_rng(0).uniform(0, 1, (2, 3, 4)))
    pi = jnp.zeros((2, 3, 4))

    def force(p):
        return phi4_force(p, M2, LAM)

    out_phi, out_pi = propagate(h, phi, pi, -0.1, force)
    flat_phi, flat_pi = propagate(h, phi.reshape(-1), pi.reshape(-1), -0.1, force)
    np.testing.assert_allclose(out_phi.reshape(-1), flat_phi)
    np.testing.assert_allclose(out_pi.reshape(-1), flat_pi)


def test_discrete_network_converges_to_ode_solution_first_order():
    """Explicit Euler: the error at the horizon falls like d_eta (halves when N doubles)."""
    ref_phi, ref_pi = scipy_solution(bh_h, PHI0, PI0)
    errors = []
    for n in (200, 400, 800, 1600):
        net = DiscreteBulkNetwork.from_metric(
            lambda e: ads_schwarzschild_h(e, D), n, lam=LAM, m2=M2, eta_ini=ETA_INI, eta_fin=ETA_FIN, d=D
        )
        phi, pi = net(PHI0, PI0)
        errors.append(max(np.max(np.abs(phi - ref_phi)), np.max(np.abs(pi - ref_pi))))
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    assert np.all((ratios > 1.8) & (ratios < 2.2)), (errors, ratios)
    scale = max(np.max(np.abs(ref_phi)), np.max(np.abs(ref_pi)))
    assert errors[-1] < 0.01 * scale, (errors[-1], scale)


def test_neural_ode_matches_scipy_and_discrete_network_at_large_n():
    coeffs = jnp.array([3.0, 0.5, -0.3, 0.2])  # h(eta) = sum c_k (1 - eta)^k

    def h_np(eta):
        x = 1.0 - eta
        return sum(float(c) * x**k for k, c in enumerate(coeffs))

    ode = NeuralODEBulk(
        PolynomialMetric(coeffs), LAM, m2=M2, eta_ini=ETA_INI, eta_fin=ETA_FIN, d=D, n_steps=None
    )
    phi, pi = ode(PHI0, PI0)
    ref_phi, ref_pi = scipy_solution(h_np, PHI0, PI0)
    np.testing.assert_allclose(phi, ref_phi, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(pi, ref_pi, rtol=1e-6, atol=1e-8)
    # fixed-step Tsit5 (what training uses) agrees too
    fixed = NeuralODEBulk(
        PolynomialMetric(coeffs), LAM, m2=M2, eta_ini=ETA_INI, eta_fin=ETA_FIN, d=D, n_steps=60
    )
    np.testing.assert_allclose(fixed(PHI0, PI0)[1], ref_pi, rtol=1e-5, atol=1e-7)
    # the discrete network with the same h at N = 4000 layers is within O(d_eta) of the ODE
    net = DiscreteBulkNetwork.from_metric(
        PolynomialMetric(coeffs), 4000, lam=LAM, m2=M2, eta_ini=ETA_INI, eta_fin=ETA_FIN, d=D
    )
    d_phi, d_pi = net(PHI0, PI0)
    scale = np.max(np.abs(ref_pi))
    assert np.max(np.abs(d_pi - pi)) < 5e-3 * scale
    assert np.max(np.abs(d_phi - phi)) < 5e-3 * max(scale, 1.0)
    # trajectory of the ODE ends where __call__ ends
    etas = jnp.linspace(ETA_INI, ETA_FIN, 5)
    t_phi, t_pi = ode.trajectory(PHI0, PI0, etas)
    assert t_phi.shape == (5, 4)
    np.testing.assert_allclose(t_pi[-1], pi, rtol=1e-6)
    np.testing.assert_allclose(t_phi[0], PHI0)


def test_mlp_metric_ode_runs_and_is_differentiable():
    metric = MLPMetric(jax.random.key(0), width=8, depth=1, h0=3.0)
    ode = NeuralODEBulk(metric, LAM, m2=M2, eta_ini=ETA_INI, eta_fin=ETA_FIN, d=D, n_steps=4)
    grads = eqx.filter_grad(lambda m: jnp.sum(m(jnp.asarray(PHI0), jnp.asarray(PI0))[1] ** 2))(ode)
    leaves = [x for x in jax.tree_util.tree_leaves(grads) if eqx.is_inexact_array(x)]
    assert all(np.all(np.isfinite(x)) for x in leaves)
    assert any(np.any(np.asarray(x) != 0) for x in leaves)


def test_ensemble_vmap_equals_loop():
    def factory(k):
        return DiscreteBulkNetwork.random(
            k, 12, h_mean=3.0, h_std=1.0, lam=LAM, m2=M2, eta_ini=ETA_INI, eta_fin=ETA_FIN, d=D
        )

    key = jax.random.key(7)
    ensemble = make_ensemble(factory, key, 5)
    assert ensemble.h.shape == (5, 12)
    phi_v, pi_v = ensemble_call(lambda mdl, a, b: mdl(a, b), ensemble, jnp.asarray(PHI0), jnp.asarray(PI0))
    for i, k in enumerate(jax.random.split(key, 5)):
        member = factory(k)
        np.testing.assert_allclose(member.h, ensemble.h[i])
        phi, pi = member(PHI0, PI0)
        np.testing.assert_allclose(phi_v[i], phi, rtol=1e-13)
        np.testing.assert_allclose(pi_v[i], pi, rtol=1e-13)


def test_fixed_lambda_gets_no_gradient_and_trainable_does():
    kwargs = dict(m2=M2, eta_ini=ETA_INI, eta_fin=ETA_FIN, d=D)
    for train, expect_zero in ((False, True), (True, False)):
        net = DiscreteBulkNetwork(jnp.full(10, 3.0), LAM, train_lambda=train, **kwargs)
        g = eqx.filter_grad(lambda n: jnp.sum(n(jnp.asarray(PHI0), jnp.asarray(PI0))[1]))(net)
        assert (float(g.lam) == 0.0) == expect_zero
        assert np.all(np.asarray(g.h) != 0)


def test_metric_helpers():
    eta = jnp.array([0.2, 0.5, 1.0, 2.0])
    for d in (3, 4):
        h = metric_h(
            lambda e, d=d: ads_schwarzschild_metric(e, d)[0],
            lambda e, d=d: ads_schwarzschild_metric(e, d)[1],
            d,
        )
        np.testing.assert_allclose(h(eta), ads_schwarzschild_h(eta, d), rtol=1e-12)
    # pure AdS: f = g = e^(2 eta) -> h = d; AdS-Schwarzschild tends to it at the boundary
    h_ads = metric_h(lambda e: jnp.exp(2 * e), lambda e: jnp.exp(2 * e), 4)
    np.testing.assert_allclose(h_ads(eta), pure_ads_h(eta, 4), rtol=1e-12)
    np.testing.assert_allclose(ads_schwarzschild_h(8.0, 4), 4.0, rtol=1e-12)


def test_layer_positions_and_smoothness_penalty():
    etas = layer_etas(1.0, 0.1, 10)
    np.testing.assert_allclose(etas, 1.0 - 0.09 * np.arange(10))
    h = jnp.arange(10.0) ** 2
    net = DiscreteBulkNetwork(h, 0.0, m2=M2, eta_ini=1.0, eta_fin=0.1, d=D)
    expected = 0.01 * np.sum(np.asarray(etas[:-1]) ** 4 * np.diff(np.asarray(h)) ** 2)
    np.testing.assert_allclose(net.smoothness_penalty(0.01), expected, rtol=1e-13)
    assert net.d_eta == pytest.approx(-0.09)


def test_nodal_polynomial_metric_is_the_interpolating_polynomial():
    """Values at the Chebyshev-Lobatto nodes of [eta_fin, eta_ini] define the same polynomial as its
    monomial coefficients: h agrees with PolynomialMetric everywhere (also between the nodes and
    outside), coeffs recovers the monomials, and the ODE solved with it matches scipy."""
    from nqg.gravity.network import NodalPolynomialMetric, chebyshev_lobatto_nodes

    coeffs = jnp.array([3.0, 0.5, -0.3, 0.2, 1.5])
    mono = PolynomialMetric(coeffs)
    nodes = chebyshev_lobatto_nodes(ETA_INI, ETA_FIN, 5)
    assert nodes[0] == ETA_INI and abs(nodes[-1] - ETA_FIN) < 1e-15
    nodal = NodalPolynomialMetric.on_interval(mono(jnp.asarray(nodes)), ETA_INI, ETA_FIN)
    etas = jnp.concatenate([jnp.linspace(0.0, 1.2, 37), jnp.asarray(nodes)])
    np.testing.assert_allclose(nodal(etas), mono(etas), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(nodal.coeffs, coeffs, atol=1e-10)
    assert nodal.degree == 4
    # gradients flow to the node values (exactly the Lagrange basis at a node)
    g = jax.grad(lambda v: NodalPolynomialMetric(v, nodes)(jnp.asarray(nodes[2])))(nodal.values)
    np.testing.assert_allclose(g, np.eye(5)[2], atol=1e-12)
    ode = NeuralODEBulk(nodal, LAM, m2=M2, eta_ini=ETA_INI, eta_fin=ETA_FIN, d=D, n_steps=None)
    ref_phi, ref_pi = scipy_solution(lambda e: float(mono(jnp.asarray(e))), PHI0, PI0)
    phi, pi = ode(PHI0, PI0)
    np.testing.assert_allclose(pi, ref_pi, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(phi, ref_phi, rtol=1e-6, atol=1e-8)
    # a stacked ensemble: coeffs per member
    ens = make_ensemble(
        lambda k: NodalPolynomialMetric(4.0 + jax.random.normal(k, (5,)), nodes), jax.random.key(0), 3
    )
    assert ens.coeffs.shape == (3, 5)
    with pytest.raises(ValueError):
        NodalPolynomialMetric(jnp.ones(4), nodes)
