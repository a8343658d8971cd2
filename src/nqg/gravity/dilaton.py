"""Einstein-dilaton consistency of an emergent metric and its dilaton potential ``V(Phi)``
(after arXiv:2108.08091 and arXiv:2209.04638; units of ``L``).

For ``S ∝ int sqrt(-g) [R - (4/3)(d Phi)^2 + V(Phi)]`` and ``ds^2 = -e^{2a} dt^2 + d eta^2 + e^{2b} dx_i^2``
(3 ``x_i``; ``h = a' + 3 b'``), the Einstein equations are (derived in docs/gravity_observables.md):

    tt - xx:   (a - b)'' + h (a - b)' = 0,
    dilaton:   Phi'^2 = (9/4) [b' (a' - b') - b''],        (>= 0: the null energy condition)
    potential: V = 3 (b'' + h b'),                          (pure AdS: V = 12).

:func:`dilaton_from_metric` applies them to any ``f, g`` (derivatives by automatic differentiation)
and reports the residual of the first equation, which the paper's assumptions (i) ``g ∝ e^{2 eta}``
and (ii) ``g ∝ cosh 2 eta`` do not satisfy in general.

:func:`einstein_dilaton_from_h` is the consistent reconstruction from ``h`` alone: the first equation
gives ``u = (a - b)' = C e^{-int h}``, with ``C`` fixed by horizon regularity (``f ∝ (eta - eta_h)^2``,
``g`` finite: ``u ~ 1/(eta - eta_h)``) and ``u -> 0`` at the boundary; then ``b' = (h - u)/4`` and

    Phi'^2 = -(9/16) (h' + u^2),        V = (3/4) (h' + h^2),

so the null energy condition needs ``h' <= -u^2``: ``h`` must decrease monotonically from the horizon
to the boundary, whatever the temperature (which only rescales ``f`` and ``g`` together).
``Phi(eta) = int_eta^inf sqrt(Phi'^2)`` (``Phi -> 0`` at the boundary) by Gauss-Legendre quadrature.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from nqg.gravity.emergent_metric import EmergentMetric, SmoothedMetricH

__all__ = ["DilatonProfile", "dilaton_field", "dilaton_from_metric", "einstein_dilaton_from_h"]


@dataclass
class DilatonProfile:
    """On the grid ``eta`` (increasing): ``phi_prime_sq`` (``Phi'^2``), ``potential`` (``V``),
    ``phi`` (``int_eta^top sqrt(max(Phi'^2, 0))``), ``residual`` (of the tt - xx equation; 0 for the
    consistent reconstruction), ``nec`` (``Phi'^2 >= 0`` pointwise)."""

    eta: np.ndarray
    phi_prime_sq: np.ndarray
    potential: np.ndarray
    phi: np.ndarray
    residual: np.ndarray

    @property
    def nec(self) -> np.ndarray:
        return self.phi_prime_sq >= 0

    @property
    def nec_fraction(self) -> float:
        """Fraction of the grid where the null energy condition holds."""
        return float(np.mean(self.nec))


def _derivatives(fn, eta):
    """``fn, fn', fn''`` at ``eta`` (forward-mode autodiff, one compiled call; ``fn`` scalar -> scalar)."""

    def three(e):
        d1 = lambda x: jax.jvp(fn, (x,), (jnp.ones_like(x),))[1]  # noqa: E731
        v2, dd = jax.jvp(d1, (e,), (jnp.ones_like(e),))
        return fn(e), v2, dd

    out = jax.jit(jax.vmap(three))(jnp.asarray(eta))
    return tuple(np.asarray(o) for o in out)


def _with_nodes(eta, top, n_nodes):
    """The grid's Gauss-Legendre nodes (for :func:`dilaton_field`) appended to the grid."""
    edges = np.append(eta, top) if top is not None and top > eta[-1] else eta
    x, _ = np.polynomial.legendre.leggauss(n_nodes)
    a, b = edges[:-1], edges[1:]
    nodes = 0.5 * (a + b)[:, None] + 0.5 * (b - a)[:, None] * x[None, :]
    return np.concatenate([eta, nodes.ravel()])


def dilaton_field(eta, phi_prime_sq_fn, top: float | None = None, n_nodes: int = 16) -> np.ndarray:
    """``Phi(eta_i) = int_{eta_i}^{top} sqrt(max(Phi'^2, 0))`` on an increasing grid, by ``n_nodes``-point
    Gauss-Legendre on each cell (``top`` defaults to the last grid point)."""
    eta = np.asarray(eta, dtype=float)
    edges = np.append(eta, top) if top is not None and top > eta[-1] else eta
    x, w = np.polynomial.legendre.leggauss(n_nodes)
    a, b = edges[:-1], edges[1:]
    nodes = 0.5 * (a + b)[:, None] + 0.5 * (b - a)[:, None] * x[None, :]
    vals = np.sqrt(np.maximum(np.asarray(phi_prime_sq_fn(nodes.ravel())).reshape(nodes.shape), 0.0))
    cells = 0.5 * (b - a) * np.sum(w * vals, axis=1)
    phi = np.append(np.cumsum(cells[::-1])[::-1], 0.0)
    return phi[: eta.size]


def dilaton_from_metric(
    metric: EmergentMetric, eta, *, top: float | None = None, n_nodes: int = 16
) -> DilatonProfile:
    """``Phi'^2``, ``V`` and the tt - xx residual of any metric (``a = log f / 2``, ``b = log g / 2``)."""
    eta = np.sort(np.asarray(eta, dtype=float))
    pts = _with_nodes(eta, top, n_nodes)
    _, a1, a2 = _derivatives(lambda e: 0.5 * metric.log_f(e), pts)
    _, b1, b2 = _derivatives(lambda e: 0.5 * metric.log_g(e), pts)
    h = a1 + 3.0 * b1
    pps_all = 2.25 * (b1 * (a1 - b1) - b2)
    n = eta.size
    table = dict(zip(pts[n:].tolist(), pps_all[n:].tolist(), strict=True))
    phi = dilaton_field(eta, lambda x: np.array([table[v] for v in np.ravel(x).tolist()]), top, n_nodes)
    potential = 3.0 * (b2 + h * b1)
    residual = (a2 - b2) + h * (a1 - b1)
    return DilatonProfile(eta, pps_all[:n], potential[:n], phi, residual[:n])


def _regular_u(h_model: SmoothedMetricH):
    """``u(eta) = (a - b)' = C e^{-int h}`` normalised so that ``u (eta - c1) -> 1`` at the horizon:
    with ``int h = 4 eta - I(eta)`` and ``-I - log(eta - c1) -> Lambda/2``,
    ``u = exp(I(eta) - 4 (eta - c1) + Lambda/2)``."""
    c1 = h_model.eta_horizon
    half_lambda = 0.5 * h_model.horizon_log_limit()

    def u(e):
        return jnp.exp(h_model.tail_integral(e) - 4.0 * (e - c1) + half_lambda)

    return u


def einstein_dilaton_from_h(
    h_model: SmoothedMetricH, eta, *, top: float | None = None, n_nodes: int = 16
) -> DilatonProfile:
    """The Einstein-dilaton-consistent reconstruction from ``h`` (see the module docstring)."""
    eta = np.sort(np.asarray(eta, dtype=float))
    pts = _with_nodes(eta, top, n_nodes)
    h0, h1, _ = _derivatives(h_model, pts)
    u = np.asarray(jax.jit(jax.vmap(_regular_u(h_model)))(jnp.asarray(pts)))
    pps_all = -0.5625 * (h1 + u * u)
    n = eta.size
    table = dict(zip(pts[n:].tolist(), pps_all[n:].tolist(), strict=True))
    phi = dilaton_field(eta, lambda x: np.array([table[v] for v in np.ravel(x).tolist()]), top, n_nodes)
    potential = 0.75 * (h1 + h0 * h0)
    return DilatonProfile(eta, pps_all[:n], potential[:n], phi, np.zeros_like(eta))
