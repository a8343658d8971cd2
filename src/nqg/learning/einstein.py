"""The Einstein equations as the unique diffeomorphism-invariant quadratic functional (linearised).

Vanchurin (arXiv:2111.00903, Sec. 8) derives the Einstein equations from an entropy-production
functional quadratic in first derivatives of the metric, with the cosmological constant as the Lagrange
multiplier that fixes the average number of neurons (the volume). The checkable core is classic
(Fierz-Pauli 1939; Deser 1970; van Nieuwenhuizen 1973):

For a metric perturbation ``g = eta + h`` in ``D`` dimensions (``eta = diag(-1, 1, .., 1)``) the general
Lorentz-invariant functional quadratic in ``d h`` is ``L = sum_i c_i I_i`` with the five invariants

.. math::
   I_1 = \\partial_c h_{ab}\\partial^c h^{ab},\\ I_2 = \\partial_c h_{ab}\\partial^b h^{ac},\\
   I_3 = \\partial_a h\\,\\partial^a h,\\ I_4 = \\partial_a h\\,\\partial_b h^{ab},\\
   I_5 = \\partial_a h^{ab}\\,\\partial^c h_{cb}.

``I_2 - I_5`` is a total derivative. Invariance of the action under ``h -> h + d xi + (d xi)^T`` is
imposed numerically in Fourier space (``d -> i k``) at random wavevectors; the allowed coefficient space
is two-dimensional, one dimension of which is the total derivative: modulo integration by parts it is
one-dimensional, spanned by Fierz-Pauli ``c = (-1/2, 1, 1/2, -1, 0)``, whose Euler-Lagrange operator is
the linearised Einstein tensor (``E_ab = -2 G^{(1)}_ab`` in this normalisation, checked numerically).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nqg import rng

INVARIANT_NAMES = ("dc h_ab dc h^ab", "dc h_ab d^b h^ac", "da h da h", "da h db h^ab", "da h^ab dc h_cb")
FIERZ_PAULI = np.array([-0.5, 1.0, 0.5, -1.0, 0.0])
TOTAL_DERIVATIVE = np.array([0.0, 1.0, 0.0, 0.0, -1.0])


def minkowski(dim: int, dtype: Any = float) -> jax.Array:
    """``eta = diag(-1, 1, ..., 1)``."""
    return jnp.diag(jnp.array([-1.0] + [1.0] * (dim - 1), dtype))


def invariants(k: jax.Array, h1: jax.Array, h2: jax.Array) -> jax.Array:
    """The five invariants as symmetric bilinear forms of two perturbations at wavevector ``k``.

    Each ``d_c`` becomes ``k_c`` (the common factor ``i`` and the complex conjugation of a Fourier mode
    give ``+k k``); indices are raised with ``eta``. Returns shape ``(5,)``; ``I_i(h, h)`` is the
    quadratic form.
    """
    dim = k.shape[0]
    eta = minkowski(dim, k.dtype)
    ku = eta @ k  # k^a
    a, b = 0.5 * (h1 + h1.T), 0.5 * (h2 + h2.T)
    au, bu = eta @ a @ eta, eta @ b @ eta  # h^{ab}
    tr_a, tr_b = jnp.trace(eta @ a), jnp.trace(eta @ b)
    k2 = k @ ku
    div_a, div_b = a @ ku, b @ ku  # d^b h_ab -> h_ab k^b
    i1 = k2 * jnp.sum(a * bu)
    i2 = 0.5 * (jnp.einsum("c,ab,b,ac->", k, a, ku, bu) + jnp.einsum("c,ab,b,ac->", k, b, ku, au))
    i3 = k2 * tr_a * tr_b
    i4 = 0.5 * (tr_a * (ku @ b @ ku) + tr_b * (ku @ a @ ku))
    i5 = div_a @ eta @ div_b
    return jnp.stack([i1, i2, i3, i4, i5])


def quadratic_form(coeffs: Any, k: jax.Array, h: jax.Array) -> jax.Array:
    """``Q(h) = sum_i c_i I_i(h, h)`` at wavevector ``k``."""
    return jnp.asarray(coeffs, k.dtype) @ invariants(k, h, h)


def gauge_mode(k: jax.Array, xi: jax.Array) -> jax.Array:
    """Linearised diffeomorphism ``delta h_ab = k_a xi_b + k_b xi_a`` (``d -> i k``; lower indices)."""
    return jnp.outer(k, xi) + jnp.outer(xi, k)


def gauge_constraint_matrix(dim: int, key: jax.Array, samples: int = 40) -> np.ndarray:
    """Rows ``I_i(h, delta_xi h)`` at ``h``, ``xi``: ``A c = 0`` iff ``c`` is gauge-invariant."""
    k1, k2, k3 = jax.random.split(key, 3)
    ks = rng.normal(k1, (samples, dim))
    hs = rng.normal(k2, (samples, dim, dim))
    xis = rng.normal(k3, (samples, dim))
    rows = jax.jit(jax.vmap(lambda k, h, xi: invariants(k, h, gauge_mode(k, xi))))(ks, hs, xis)
    return np.asarray(rows)


def kernel_map(dim: int, key: jax.Array, samples: int = 8) -> np.ndarray:
    """Linear map from coefficients to the momentum-space kernels ``d^2 Q / dh dh`` at random ``k``.

    Its null space is the set of combinations that vanish identically: total derivatives.
    """
    ks = rng.normal(key, (samples, dim))

    zero = jnp.zeros((dim, dim), ks.dtype)
    hess = jax.jit(
        jax.vmap(
            jax.vmap(lambda e, k: jax.hessian(lambda h: quadratic_form(e, k, h))(zero), (None, 0)), (0, None)
        )
    )(jnp.eye(5, dtype=ks.dtype), ks)
    return np.asarray(hess).reshape(5, -1).T


def null_space(matrix: np.ndarray, rtol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """Orthonormal basis of the null space (columns) and the singular values."""
    _, s, vt = np.linalg.svd(matrix)
    s_full = np.zeros(vt.shape[0])
    s_full[: len(s)] = s
    return vt[s_full <= rtol * s_full[0]].T, s_full


def allowed_functionals(dim: int, key: jax.Array, samples: int = 40) -> dict[str, Any]:
    """Gauge-invariant quadratic functionals, found numerically.

    Returns the null space of the gauge constraints (``allowed``), the total derivatives
    (``trivial``: null space of :func:`kernel_map`), the dimension modulo total derivatives, the singular
    values, and the angle (radians) between the nontrivial allowed direction and Fierz-Pauli in the
    quotient space (both projected orthogonally to the total derivatives).
    """
    ka, kb = jax.random.split(key)
    allowed, s_allowed = null_space(gauge_constraint_matrix(dim, ka, samples))
    trivial, _ = null_space(kernel_map(dim, kb))
    proj = np.eye(5) - trivial @ trivial.T
    quotient = proj @ allowed
    rank = np.linalg.matrix_rank(quotient, tol=1e-10)
    u, _, _ = np.linalg.svd(quotient)
    direction = u[:, 0]
    fp = proj @ FIERZ_PAULI
    cosine = abs(direction @ fp) / np.linalg.norm(fp)
    return {
        "allowed_dimension": allowed.shape[1],
        "trivial_dimension": trivial.shape[1],
        "dimension_mod_total_derivatives": int(rank),
        "singular_values": s_allowed,
        "fierz_pauli_angle": float(np.arccos(min(cosine, 1.0))),
        "direction": direction,
        "trivial": trivial,
    }


def euler_lagrange(coeffs: Any, k: jax.Array, h: jax.Array) -> jax.Array:
    """``E^{ab}(k) = dQ/dh_ab``: the Euler-Lagrange operator of ``sum c_i I_i`` on a Fourier mode."""
    return jax.grad(lambda hh: quadratic_form(coeffs, k, hh))(h)


def linearised_einstein(k: jax.Array, h: jax.Array) -> jax.Array:
    """``G^{(1)}_ab = R^{(1)}_ab - eta_ab R^{(1)}/2`` of ``g = eta + h`` on a Fourier mode (``d -> i k``).

    ``R^{(1)}_ab = (1/2)(d_c d_a h^c_b + d_c d_b h^c_a - box h_ab - d_a d_b h)``.
    """
    dim = k.shape[0]
    eta = minkowski(dim, k.dtype)
    h = 0.5 * (h + h.T)
    ku = eta @ k
    mixed = eta @ h  # h^c_b
    tr = jnp.trace(mixed)
    k2 = k @ ku
    dd = -1.0  # i k_a i k_b
    t1 = jnp.einsum("c,a,cb->ab", k, k, mixed)
    ricci = 0.5 * dd * (t1 + t1.T - k2 * h - jnp.outer(k, k) * tr)
    scalar = jnp.trace(eta @ ricci)
    return ricci - 0.5 * eta * scalar


def einstein_operator_check(coeffs: Any, dim: int, key: jax.Array, samples: int = 20) -> dict[str, float]:
    """Compare ``eta E eta`` (lowered Euler-Lagrange operator) with ``lambda G^{(1)}`` at random ``k``, ``h``.

    ``lambda`` is fitted over all samples at once; returns it, the largest relative residual
    ``|E - lambda G| / |E|``, and the spread of the per-sample ratios.
    """
    k1, k2 = jax.random.split(key)
    ks = rng.normal(k1, (samples, dim))
    hs = rng.normal(k2, (samples, dim, dim))
    eta = minkowski(dim)
    c = jnp.asarray(coeffs, ks.dtype)
    el = jax.jit(jax.vmap(lambda k, h: eta @ euler_lagrange(c, k, h) @ eta))(ks, hs)
    ein = jax.jit(jax.vmap(linearised_einstein))(ks, hs)
    el, ein = np.asarray(el), np.asarray(ein)
    lam = float(np.sum(el * ein) / np.sum(ein * ein))
    resid = np.linalg.norm((el - lam * ein).reshape(samples, -1), axis=1) / np.linalg.norm(
        el.reshape(samples, -1), axis=1
    )
    per = np.sum((el * ein).reshape(samples, -1), 1) / np.sum((ein * ein).reshape(samples, -1), 1)
    return {"lambda": lam, "max_relative_residual": float(np.max(resid)), "ratio_spread": float(np.ptp(per))}


# ----------------------------------------------------------------------------- cosmological constant


def sqrt_minus_det(inverse_metric: jax.Array) -> jax.Array:
    """``sqrt(-g)`` as a function of the inverse metric ``g^{ab}`` (Lorentzian)."""
    return jnp.sqrt(-jnp.linalg.det(jnp.linalg.inv(inverse_metric)))


def volume_variation_check(dim: int, key: jax.Array, samples: int = 10) -> float:
    """Largest relative error of ``d sqrt(-g)/d g^{ab} = -(1/2) sqrt(-g) g_ab`` (autodiff), random metrics."""
    k1, k2 = jax.random.split(key)
    eta = minkowski(dim)
    pert = rng.normal(k1, (samples, dim, dim)) * 0.2
    pert = 0.5 * (pert + jnp.swapaxes(pert, 1, 2))
    boosts = rng.normal(k2, (samples, dim, dim)) * 0.3

    @jax.jit
    @jax.vmap
    def error(p, b):
        frame = jnp.eye(dim) + b  # a general frame: g = F^T (eta + p) F
        metric = frame.T @ (eta + p) @ frame
        inv = jnp.linalg.inv(metric)
        grad = jax.grad(sqrt_minus_det)(inv)
        expected = -0.5 * sqrt_minus_det(inv) * metric
        return jnp.linalg.norm(grad - expected) / jnp.linalg.norm(expected)

    return float(jnp.max(error(pert, boosts)))


def volume_multiplier_demo(target_volume: float, dim: int = 3, h: float = 1e-4) -> dict[str, float]:
    """The cosmological constant as the multiplier of a fixed volume (number of neurons).

    Minimise a toy entropy-production functional ``F(g) = |g - g_0|^2 / 2`` over Euclidean metrics
    ``g`` (positive definite, ``D x D``) subject to ``sqrt(det g) = N``. At the optimum
    ``dF/dg_ab = Lambda d sqrt(g)/dg_ab = (Lambda/2) sqrt(g) g^ab`` with one number ``Lambda``, and
    ``Lambda = dF_min/dN`` (envelope theorem). Returns ``Lambda`` from the stationarity condition, from
    the finite difference of ``F_min(N)``, and the residual of the stationarity condition.
    """
    from scipy.optimize import minimize

    rng = np.random.default_rng(1)
    a = rng.normal(size=(dim, dim))
    g0 = np.eye(dim) + 0.2 * (a + a.T)
    iu = np.triu_indices(dim)

    def unpack(v):
        m = np.zeros((dim, dim))
        m[iu] = v
        return m + np.triu(m, 1).T

    def solve(volume):
        res = minimize(
            lambda v: 0.5 * np.sum((unpack(v) - g0) ** 2),
            g0[iu],
            constraints=[{"type": "eq", "fun": lambda v: np.sqrt(np.linalg.det(unpack(v))) - volume}],
            method="SLSQP",
            options={"ftol": 1e-14, "maxiter": 500},
        )
        return unpack(res.x), res.fun

    g, _ = solve(target_volume)
    grad_f = g - g0
    grad_v = 0.5 * np.sqrt(np.linalg.det(g)) * np.linalg.inv(g)
    lam = float(np.sum(grad_f * grad_v) / np.sum(grad_v * grad_v))
    resid = float(np.linalg.norm(grad_f - lam * grad_v) / np.linalg.norm(grad_f))
    fd = (solve(target_volume + h)[1] - solve(target_volume - h)[1]) / (2 * h)
    return {"lambda_stationarity": lam, "lambda_envelope": float(fd), "stationarity_residual": resid}


__all__ = [
    "FIERZ_PAULI",
    "INVARIANT_NAMES",
    "TOTAL_DERIVATIVE",
    "allowed_functionals",
    "einstein_operator_check",
    "euler_lagrange",
    "gauge_constraint_matrix",
    "gauge_mode",
    "invariants",
    "kernel_map",
    "linearised_einstein",
    "minkowski",
    "quadratic_form",
    "sqrt_minus_det",
    "volume_multiplier_demo",
    "volume_variation_check",
]
