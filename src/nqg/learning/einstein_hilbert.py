"""A discretised Einstein-Hilbert action on a periodic 3D grid, and its gradient against ``sqrt(g) G^{ab}``.

Issue 10, section 4 (optional part). For a Riemannian metric ``g_ab(x)`` on the periodic box
``[0, L)^3`` the Einstein-Hilbert action and its first variation are

.. math::
   S[g] = \\int \\sqrt{g}\\, R\\, d^3x, \\qquad
   \\delta S = -\\int \\sqrt{g}\\, G^{ab}\\, \\delta g_{ab}\\, d^3x, \\qquad
   G_{ab} = R_{ab} - \\tfrac12 R g_{ab}

(``delta (sqrt(g) R) = sqrt(g) G_ab delta g^ab`` up to a total derivative, and
``delta g^ab = -g^ac g^bd delta g_cd``; no boundary on the torus). The discrete action replaces every
derivative by the second-order central difference ``(f_{n+1} - f_{n-1}) / 2h`` on the grid of spacing
``h = L / N``:

.. math::
   S_h = h^3 \\sum_n \\sqrt{g_n}\\, R_h(n), \\quad
   \\Gamma^a_{bc} = \\tfrac12 g^{ad}(D_b g_{dc} + D_c g_{db} - D_d g_{bc}), \\quad
   R_{bd} = D_a \\Gamma^a_{bd} - D_d \\Gamma^a_{ba}
          + \\Gamma^a_{ae}\\Gamma^e_{bd} - \\Gamma^a_{de}\\Gamma^e_{ba}.

Its gradient with respect to the grid values of the (symmetric) metric, divided by the cell volume,
``(1/h^3) dS_h / dg_ab(n)``, is the summation-by-parts image of the continuum Euler-Lagrange expression
(the adjoint of a central difference is minus a central difference), so it converges to
``-sqrt(g) G^ab(x_n)`` at second order in ``h``. :func:`gradient_convergence` measures that order against
``G^ab`` of the smooth metric computed by automatic differentiation (:func:`einstein_tensor_upper`), and
against the Ricci tensor ``sqrt(g) R^ab`` as a negative control that must not converge.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nqg.errors import NqgInputError

MetricField = Callable[[jax.Array], jax.Array]
"""A smooth metric: ``x`` (shape ``(3,)``) -> ``g_ab(x)`` (shape ``(3, 3)``, symmetric positive definite)."""


# ------------------------------------------------------------------- the formulas, shared by both sides
def _christoffel_from(g_inv: jax.Array, dg: jax.Array) -> jax.Array:
    """``Gamma^a_bc = g^ad (d_b g_dc + d_c g_db - d_d g_bc) / 2`` from ``dg[..., a, b, c] = d_c g_ab``."""
    lower = 0.5 * (jnp.einsum("...dcb->...dbc", dg) + dg - jnp.einsum("...bcd->...dbc", dg))
    return jnp.einsum("...ad,...dbc->...abc", g_inv, lower)


def _ricci_from(gam: jax.Array, dgam: jax.Array) -> jax.Array:
    """``R_bd = d_a Gamma^a_bd - d_d Gamma^a_ba + Gamma^a_ae Gamma^e_bd - Gamma^a_de Gamma^e_ba`` from
    ``dgam[..., a, b, c, e] = d_e Gamma^a_bc``."""
    return (
        jnp.einsum("...abda->...bd", dgam)
        - jnp.einsum("...abad->...bd", dgam)
        + jnp.einsum("...aae,...ebd->...bd", gam, gam)
        - jnp.einsum("...ade,...eba->...bd", gam, gam)
    )


# ----------------------------------------------------------------------------------------- the smooth side
def christoffel(metric: MetricField, x: jax.Array) -> jax.Array:
    """``Gamma^a_bc(x)`` of a smooth metric, by automatic differentiation (index order ``[a, b, c]``)."""
    return _christoffel_from(jnp.linalg.inv(metric(x)), jax.jacfwd(metric)(x))


def ricci_tensor(metric: MetricField, x: jax.Array) -> jax.Array:
    """``R_bd(x)`` of a smooth metric (:func:`_ricci_from`), by automatic differentiation."""
    gam = christoffel(metric, x)
    return _ricci_from(gam, jax.jacfwd(lambda y: christoffel(metric, y))(x))


def einstein_tensor_upper(metric: MetricField, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(sqrt(g) G^ab, sqrt(g) R^ab)`` at ``x``: the expected gradient (up to sign) and the control."""
    g = metric(x)
    g_inv = jnp.linalg.inv(g)
    ric = ricci_tensor(metric, x)
    scalar = jnp.einsum("ab,ab->", g_inv, ric)
    einstein = ric - 0.5 * scalar * g
    sqrt_g = jnp.sqrt(jnp.linalg.det(g))
    raise_ = lambda t: g_inv @ t @ g_inv  # noqa: E731
    return sqrt_g * raise_(einstein), sqrt_g * raise_(ric)


# ----------------------------------------------------------------------------------------- the grid side
def _central(field: jax.Array, axis: int, h: float) -> jax.Array:
    """Second-order central difference along grid ``axis`` of a periodic ``(N, N, N, ...)`` field."""
    return (jnp.roll(field, -1, axis) - jnp.roll(field, 1, axis)) / (2.0 * h)


def _grad(field: jax.Array, h: float) -> jax.Array:
    """All three central differences, stacked as the LAST index: ``(..., c)`` = ``D_c field``."""
    return jnp.stack([_central(field, a, h) for a in range(3)], axis=-1)


def discrete_action(metric_grid: jax.Array, h: float) -> jax.Array:
    """``S_h = h^3 sum_n sqrt(g_n) R_h(n)`` for grid values ``metric_grid`` of shape ``(N, N, N, 3, 3)``.

    The metric is symmetrised first, ``(g + g^T)/2``, so the gradient with respect to the full ``3 x 3``
    array is the symmetric derivative (each of ``g_ab`` and ``g_ba`` gets half of the derivative with
    respect to the one independent off-diagonal component).
    """
    g = 0.5 * (metric_grid + jnp.swapaxes(metric_grid, -1, -2))
    g_inv = jnp.linalg.inv(g)
    gam = _christoffel_from(g_inv, _grad(g, h))  # _grad stacks D_c as the last index, as jacfwd does
    ric = _ricci_from(gam, _grad(gam, h))
    scalar = jnp.einsum("...ab,...ab->...", g_inv, ric)
    return h**3 * jnp.sum(jnp.sqrt(jnp.linalg.det(g)) * scalar)


def grid_points(n: int, length: float, dtype: Any = None) -> jax.Array:
    """The ``n^3`` grid points ``x = h (i, j, k)``, shape ``(n, n, n, 3)``, ``h = length / n``."""
    axis = jnp.arange(n, dtype=dtype or jnp.zeros(()).dtype) * (length / n)
    return jnp.stack(jnp.meshgrid(axis, axis, axis, indexing="ij"), axis=-1)


def action_gradient(metric: MetricField, n: int, length: float) -> tuple[jax.Array, jax.Array]:
    """``((1/h^3) dS_h/dg_ab(x_n), x_n)`` on the ``n^3`` grid; shapes ``(n, n, n, 3, 3)``, ``(n, n, n, 3)``.

    Evaluated op by op: the same computation under one ``jit`` stalled (no CPU use for minutes) at
    ``n = 24`` on XLA's CPU runtime, cause not isolated; op by op every size up to 64 ran in under 20 s.
    """
    if n < 4:
        raise NqgInputError(f"grid size {n}: allowed >= 4 points per side")
    if not (np.isfinite(length) and length > 0):
        raise NqgInputError(f"box length {length}: allowed > 0")
    h = length / n
    x = grid_points(n, length)
    g = jax.vmap(jax.vmap(jax.vmap(metric)))(x)
    return jax.grad(discrete_action)(g, h) / h**3, x


def perturbed_metric(amplitude: float = 0.2, length: float = 2 * np.pi) -> MetricField:
    """A smooth periodic metric ``g = 1 + amplitude * A(x)`` with every component varying.

    ``A_ab(x) = sym(M_ab) sin(k.x + phi_ab)``-type terms of the two lowest wavevectors; for
    ``amplitude <= 0.25`` it is positive definite (the eigenvalues of ``A`` stay within ``[-2.2, 2.2]``).
    """
    q = 2 * np.pi / length
    base = np.array([[1.0, 0.3, -0.2], [0.3, 0.8, 0.25], [-0.2, 0.25, 1.1]])

    def metric(x: jax.Array) -> jax.Array:
        s1 = jnp.sin(q * (x[0] + 2 * x[1]) + 0.3)
        s2 = jnp.cos(q * (x[1] - x[2]) + 1.1)
        s3 = jnp.sin(q * x[2] + 0.7) * jnp.cos(q * x[0])
        pert = jnp.asarray(base, x.dtype) * s1
        pert = pert + jnp.asarray(np.diag([0.5, -0.4, 0.3]), x.dtype) * s2
        shear = np.array([[0.0, 0.4, 0.0], [0.4, 0.0, -0.3], [0.0, -0.3, 0.0]])
        pert = pert + jnp.asarray(shear, x.dtype) * s3
        return jnp.eye(3, dtype=x.dtype) + amplitude * pert

    return metric


def gradient_convergence(
    metric: MetricField, sizes: tuple[int, ...] = (8, 12, 16, 24), length: float = 2 * np.pi
) -> dict[str, Any]:
    """The error of ``(1/h^3) dS_h/dg`` against ``-sqrt(g) G^ab`` (max over the grid, relative to
    ``max |sqrt(g) G^ab|``) and against ``-sqrt(g) R^ab`` (the control) for each grid size, and the orders
    fitted to ``log error`` vs ``log h``."""
    if len(sizes) < 2:
        raise NqgInputError(f"grid sizes {sizes}: need at least two")
    errors, control = [], []
    expected_at = jax.jit(jax.vmap(lambda y: einstein_tensor_upper(metric, y)))
    for n in sizes:
        grad, x = action_gradient(metric, int(n), length)
        g_up, r_up = expected_at(x.reshape(-1, 3))
        grad = grad.reshape(-1, 3, 3)
        scale = float(jnp.max(jnp.abs(g_up)))
        errors.append(float(jnp.max(jnp.abs(grad + g_up))) / scale)
        control.append(float(jnp.max(jnp.abs(grad + r_up))) / scale)
    h = length / np.asarray(sizes, float)
    order = float(np.polyfit(np.log(h), np.log(errors), 1)[0])
    control_order = float(np.polyfit(np.log(h), np.log(control), 1)[0])
    return {
        "sizes": list(sizes),
        "h": h.tolist(),
        "relative_error": errors,
        "control_relative_error": control,
        "order": order,
        "control_order": control_order,
    }
