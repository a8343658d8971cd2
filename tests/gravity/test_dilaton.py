"""Einstein-dilaton reconstruction: analytic solution, Einstein tensor, NEC theorem, Table II."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nqg.gravity.dilaton import dilaton_from_metric, einstein_dilaton_from_h
from nqg.gravity.emergent_metric import (
    EmergentMetric,
    ads_schwarzschild_metric,
    published_metric_table2,
    pure_ads_metric,
    reconstruct_metric,
    smooth_metric_h,
)
from nqg.gravity.observable_experiments import analytic_dilaton_solution


@pytest.mark.parametrize("phi0", [0.3, 0.7, 1.5])
def test_analytic_solution_potential_recovered_to_1e_6(phi0):
    metric, v_exact = analytic_dilaton_solution(phi0)
    prof = dilaton_from_metric(metric, np.linspace(-1.0, 8.0, 120), top=30.0)
    np.testing.assert_allclose(prof.phi, phi0 * np.exp(-prof.eta), atol=1e-9)
    np.testing.assert_allclose(prof.potential, v_exact(prof.phi), atol=1e-6)
    np.testing.assert_allclose(prof.residual, 0.0, atol=1e-9)
    assert prof.nec_fraction == 1.0


def test_negative_control_wrong_potential_is_detected():
    metric, _ = analytic_dilaton_solution(0.7)
    prof = dilaton_from_metric(metric, np.linspace(-1.0, 3.0, 40), top=30.0)
    assert np.max(np.abs(prof.potential - (12.0 + 4.0 * prof.phi**2))) > 1e-3  # the Phi^4 term is seen


def test_pure_ads_and_black_brane_have_v_12_and_no_dilaton():
    for m, grid in (
        (pure_ads_metric(), np.linspace(-1, 2, 20)),
        (ads_schwarzschild_metric(0.4), np.linspace(0.05, 3, 40)),
    ):
        p = dilaton_from_metric(m, grid)
        np.testing.assert_allclose(p.potential, 12.0, atol=1e-9)
        np.testing.assert_allclose(p.phi_prime_sq, 0.0, atol=1e-9)
        np.testing.assert_allclose(p.residual, 0.0, atol=1e-9)


def _einstein_minus_stress(metric: EmergentMetric, eta, phi_prime, V) -> np.ndarray:
    """G_MN - (4/3)(d_M Phi d_N Phi - g_MN (dPhi)^2/2) - g_MN V/2 for
    ds^2 = -e^{2a}dt^2 + deta^2 + e^{2b}dx^2, with the Ricci tensor by automatic differentiation
    (independent of the reconstruction formulas)."""

    def g(x):
        e = x[1]
        return jnp.diag(jnp.array([-jnp.exp(metric.log_f(e)), 1.0, *(3 * [jnp.exp(metric.log_g(e))])]))

    def christoffel(x):
        ginv = jnp.linalg.inv(g(x))
        dg = jax.jacfwd(g)(x)  # dg[k, n, m] = d_m g_kn
        return 0.5 * (
            jnp.einsum("lk,knm->lmn", ginv, dg)
            + jnp.einsum("lk,kmn->lmn", ginv, dg)
            - jnp.einsum("lk,mnk->lmn", ginv, dg)
        )

    def one(eta, phi_prime, V):
        x = jnp.zeros(5).at[1].set(eta)
        gam = christoffel(x)
        dgam = jax.jacfwd(christoffel)(x)  # dgam[l, m, n, p] = d_p Gamma^l_mn
        ricci = (
            jnp.einsum("lmnl->mn", dgam)
            - jnp.einsum("llmn->mn", dgam)
            + jnp.einsum("llk,kmn->mn", gam, gam)
            - jnp.einsum("lnk,klm->mn", gam, gam)
        )
        gm = g(x)
        R = jnp.einsum("mn,mn->", jnp.linalg.inv(gm), ricci)
        G = ricci - 0.5 * gm * R
        dphi = jnp.zeros(5).at[1].set(phi_prime)
        T = (4.0 / 3.0) * (jnp.outer(dphi, dphi) - 0.5 * gm * phi_prime**2) + 0.5 * gm * V
        return G - T

    return np.asarray(jax.jit(jax.vmap(one))(jnp.asarray(eta), jnp.asarray(phi_prime), jnp.asarray(V)))


@pytest.mark.parametrize("which", ["dilaton", "black brane"])
def test_reconstructed_fields_solve_the_einstein_equations(which):
    """The quoted formulas, checked against the full Einstein equations (autodiff Ricci tensor)."""
    metric = analytic_dilaton_solution(0.9)[0] if which == "dilaton" else ads_schwarzschild_metric(0.3)
    grid = np.array([0.2, 0.7, 1.5, 0.7])
    p = dilaton_from_metric(metric, grid[:3])
    phi_prime = np.sqrt(np.maximum(p.phi_prime_sq, 0.0))
    V = p.potential.copy()
    # the last point is a negative control: V off by 1% violates the equations
    res = _einstein_minus_stress(metric, grid, np.append(phi_prime, phi_prime[1]), np.append(V, 1.01 * V[1]))
    assert np.max(np.abs(res[:3])) < 1e-8, res[:3]
    assert np.max(np.abs(res[3])) > 1e-2


def test_consistent_reconstruction_on_the_black_brane():
    """h = 4 coth 4 eta: u = 4/sinh 4 eta exactly, Phi'^2 = -(9/16)(h' + u^2) = 0, V = 12."""
    eta = 1.0 - np.arange(15) / 15.0
    hm = smooth_metric_h(eta, 4.0 / np.tanh(4.0 * eta), degree=6)
    p = einstein_dilaton_from_h(hm, np.linspace(0.1, 1.0, 30))
    np.testing.assert_allclose(p.potential, 12.0, atol=0.05)
    np.testing.assert_allclose(p.phi_prime_sq, 0.0, atol=0.05)


def test_table2_violates_the_nec_where_h_rises():
    eta, h = published_metric_table2()
    hm = smooth_metric_h(eta, h)
    grid = np.linspace(eta.min(), eta.max(), 141)
    cons = einstein_dilaton_from_h(hm, grid)
    slope = np.asarray(jax.jit(jax.vmap(jax.grad(hm)))(jnp.asarray(grid)))
    assert np.any(slope > 0)
    assert np.all(cons.phi_prime_sq[slope > 0] < 0)
    assert cons.nec_fraction < 1.0
    # assumptions (i), (ii) break the tt - xx equation, the consistent reconstruction satisfies it
    for a in ("exp", "cosh"):
        pa = dilaton_from_metric(reconstruct_metric(hm, a, 0.716), grid)
        assert np.max(np.abs(pa.residual)) > 1.0
