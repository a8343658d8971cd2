"""Density ``p(q, t)`` and probability current ``j(q, t)`` of an ensemble of learners, with errors.

* :func:`histogram_density`: ``p_k = c_k / (N dq)``, binomial error ``sqrt(c_k (1 - c_k/N)) / (N dq)``.
* :func:`kde_density`: Gaussian kernel density ``p_h(x) = (1/N) sum_i K_h(x - q_i)`` evaluated by linear
  binning on a fine grid; its error is ``sqrt((<K_h^2> - p_h^2) / N)`` (independent learners).
* :func:`current_histogram`: the probability current from one step of every learner,
  ``j(x) = < delta(x - (q_n + q_{n+1})/2) (q_{n+1} - q_n) > / dt`` (midpoint = Stratonovich product).
  The midpoint rule gives the full Fokker-Planck current ``j = -V' p - T p'``; the Ito (start-point)
  rule would give only the drift part ``-V' p`` (it is offered as ``rule="ito"`` for comparison).
* :func:`current_from_cdf`: the exact one-dimensional relation ``j(x, t) = -d/dt P(q < x, t)``.
* :class:`ScoreFit`: an exponential-family density ``log p = sum_k c_k z^k + const`` (``z`` standardised)
  fitted by Hyvarinen score matching (a linear least-squares problem), for smooth derivatives of
  ``log p``: entropy, Fisher information and the quantum potential.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from nqg.errors import NqgInputError


def _samples(q: Any) -> np.ndarray:
    x = np.asarray(q).reshape(-1)
    if x.size < 2:
        raise NqgInputError(f"a density needs at least 2 samples, got {x.size}")
    if not np.all(np.isfinite(x)):
        raise NqgInputError("the samples contain NaN or inf")
    return x


def histogram_density(q: Any, edges: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Histogram density on ``edges``: ``(centres, p, p_error)`` (normalised by all ``N`` samples)."""
    x = _samples(q)
    edges = np.asarray(edges, dtype=float)
    counts, _ = np.histogram(x, edges)
    n, width = x.size, np.diff(edges)
    p = counts / (n * width)
    err = np.sqrt(counts * (1.0 - counts / n)) / (n * width)
    return 0.5 * (edges[1:] + edges[:-1]), p, err


def _linear_binning(x: np.ndarray, lo: float, dx: float, n: int, weights: np.ndarray | None = None):
    """Linear (cloud-in-cell) binning of samples onto ``n`` grid points ``lo + k dx``."""
    u = (x - lo) / dx
    i = np.floor(u).astype(np.int64)
    f = u - i
    w = np.ones_like(x) if weights is None else weights
    out = np.zeros(n)
    ok = (i >= 0) & (i < n - 1)
    np.add.at(out, i[ok], w[ok] * (1 - f[ok]))
    np.add.at(out, i[ok] + 1, w[ok] * f[ok])
    return out


def kde_density(
    q: Any, grid: Any, bandwidth: float | None = None, refine: int = 4
) -> tuple[np.ndarray, np.ndarray, float]:
    """Gaussian KDE ``p_h`` on a uniform ``grid``: ``(p, p_error, h)``.

    ``h`` defaults to Silverman's rule ``1.06 sigma N^{-1/5}``. The smoothing bias is ``O(h^2 p'')``; the
    error returned is the statistical one, ``sqrt((<K_h^2> - p_h^2)/N)``.
    """
    x = _samples(q)
    grid = np.asarray(grid, dtype=float)
    if grid.ndim != 1 or grid.size < 3 or not np.allclose(np.diff(grid), grid[1] - grid[0]):
        raise NqgInputError("kde_density needs a uniform grid of at least 3 points")
    n = x.size
    h = float(bandwidth) if bandwidth is not None else 1.06 * float(np.std(x)) * n ** (-0.2)
    if not h > 0:
        raise NqgInputError(f"bandwidth must be positive, got {h}")
    dx = (grid[1] - grid[0]) / refine
    pad = int(np.ceil(5 * h / dx)) + 1
    fine_n = (grid.size - 1) * refine + 1 + 2 * pad
    lo = grid[0] - pad * dx
    counts = _linear_binning(x, lo, dx, fine_n)
    offs = dx * np.arange(-pad, pad + 1)
    k1 = np.exp(-0.5 * (offs / h) ** 2) / (np.sqrt(2 * np.pi) * h)
    k2 = k1**2
    ek = np.convolve(counts, k1, mode="same") / n
    ek2 = np.convolve(counts, k2, mode="same") / n
    sel = slice(pad, pad + (grid.size - 1) * refine + 1, refine)
    p, p2 = ek[sel], ek2[sel]
    return p, np.sqrt(np.maximum(p2 - p**2, 0.0) / n), h


def current_histogram(
    q_before: Any, q_after: Any, dt: float, edges: Any, rule: str = "midpoint"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Probability current ``(centres, j, j_error)`` from one step ``q_before -> q_after`` of duration ``dt``.

    ``j(x) = sum_i 1[(q_i at the rule's point) in bin(x)] (q_after_i - q_before_i) / (N dq dt)``; the
    point is the midpoint (Stratonovich, the physical current) or the start (``rule="ito"``: drift only).
    The error is the standard error of that mean over learners.
    """
    a, b = _samples(q_before), _samples(q_after)
    if a.shape != b.shape:
        raise NqgInputError("q_before and q_after must have the same number of learners")
    if rule not in ("midpoint", "ito"):
        raise NqgInputError(f"unknown rule {rule!r}; allowed: midpoint, ito")
    edges = np.asarray(edges, dtype=float)
    where = 0.5 * (a + b) if rule == "midpoint" else a
    dq = (b - a) / dt
    idx = np.digitize(where, edges) - 1
    ok = (idx >= 0) & (idx < edges.size - 1)
    nb, n, width = edges.size - 1, a.size, np.diff(edges)
    s1 = np.bincount(idx[ok], weights=dq[ok], minlength=nb)
    s2 = np.bincount(idx[ok], weights=dq[ok] ** 2, minlength=nb)
    j = s1 / (n * width)
    var = (s2 / n - (s1 / n) ** 2) / n
    return 0.5 * (edges[1:] + edges[:-1]), j, np.sqrt(np.maximum(var, 0.0)) / width


def current_from_cdf(q_t0: Any, q_t1: Any, dt: float, points: Any) -> tuple[np.ndarray, np.ndarray]:
    """``j(x) = -(P(q < x, t1) - P(q < x, t0)) / dt`` at ``points`` with its standard error
    (the two ensembles are the same learners at two times; the error uses the per-learner differences)."""
    a, b = _samples(q_t0), _samples(q_t1)
    x = np.asarray(points, dtype=float)[:, None]
    d = (b[None, :] < x).astype(float) - (a[None, :] < x).astype(float)
    return -d.mean(axis=1) / dt, d.std(axis=1) / np.sqrt(a.size) / dt


# ------------------------------------------------------------------------------------------ score fit
class ScoreFit(eqx.Module):
    """``log p(q) = sum_{k=1}^{K} c_k z^k + const``, ``z = (q - centre) / scale``, fitted by score matching.

    Hyvarinen's objective ``E[ s(q)^2 / 2 + s'(q) ]`` with ``s = d log p / dq`` is quadratic in ``c``:
    ``A c = -b`` with ``A_jk = E[phi_j' phi_k']``, ``b_k = E[phi_k'']``, ``phi_k = z^k``. A Gaussian is
    represented exactly at ``K >= 2``; ``exp(-V/T)`` for a polynomial ``V`` of degree ``<= K`` too.
    """

    coefficients: Any
    centre: Any
    scale: Any

    @staticmethod
    def fit(q: Any, degree: int = 4, ridge: float = 1e-10) -> ScoreFit:
        """Fit to the samples ``q`` (a 1-D array; jittable)."""
        q = jnp.ravel(q)
        centre, scale = jnp.mean(q), jnp.std(q)
        z = (q - centre) / scale
        k = jnp.arange(1, degree + 1, dtype=q.dtype)
        powers = z[:, None] ** jnp.maximum(k - 1, 0)[None, :]  # z^{k-1}
        d1 = k * powers / scale  # d phi_k / dq
        d2 = k * (k - 1) * z[:, None] ** jnp.maximum(k - 2, 0) / scale**2
        a = d1.T @ d1 / q.size
        b = jnp.mean(d2, axis=0)
        a = a + ridge * jnp.trace(a) / degree * jnp.eye(degree, dtype=q.dtype)
        c = -jnp.linalg.solve(a, b)
        return ScoreFit(coefficients=c, centre=centre, scale=scale)

    def _derivs(self, q: Any) -> tuple[Any, Any, Any, Any]:
        """``log p`` (unnormalised) and its first three derivatives in ``q``."""
        c = self.coefficients
        degree = c.shape[0]
        z = (q - self.centre) / self.scale
        poly = jnp.concatenate([jnp.zeros((1,), c.dtype), c])  # coefficients of z^0..z^K
        vals = []
        for _ in range(4):
            vals.append(jnp.polyval(poly[::-1], z))
            n = poly.shape[0]
            poly = (poly[1:] * jnp.arange(1, n, dtype=c.dtype)) if n > 1 else jnp.zeros((1,), c.dtype)
            poly = poly / self.scale
        del degree
        return vals[0], vals[1], vals[2], vals[3]

    def log_density(self, q: Any) -> Any:
        """Unnormalised ``log p``."""
        return self._derivs(q)[0]

    def score(self, q: Any) -> Any:
        """``(log p)'``."""
        return self._derivs(q)[1]

    def sqrt_laplacian_ratio(self, q: Any) -> Any:
        """``(sqrt p)'' / sqrt p = (log p)''/2 + ((log p)')^2/4``."""
        _, s1, s2, _ = self._derivs(q)
        return 0.5 * s2 + 0.25 * s1**2

    def quantum_force(self, q: Any, hbar: Any, mass: Any = 1.0) -> Any:
        """``-dQ/dq`` with ``Q = -(hbar^2/2m) (sqrt p)''/sqrt p``:
        ``(hbar^2 / 2m) [(log p)'''/2 + (log p)' (log p)''/2]``."""
        _, s1, s2, s3 = self._derivs(q)
        return hbar**2 / (2 * mass) * (0.5 * s3 + 0.5 * s1 * s2)

    def normalised(self, grid: Any) -> Any:
        """The normalised density on a uniform ``grid`` (trapezoid normalisation)."""
        lp = self.log_density(grid)
        w = jnp.exp(lp - jnp.max(lp))
        return w / jnp.trapezoid(w, grid)


@partial(jax.jit, static_argnames=("degree", "grid_points"))
def entropy_and_fisher(q: Any, degree: int = 4, grid_points: int = 2001) -> tuple[Any, Any]:
    """Differential entropy ``S = -int p log p`` and Fisher information ``I_F = int p ((log p)')^2`` of the
    score-matching fit to the samples (jittable; quadrature on the sample range widened by one ``scale``
    on each side, so that a fit that is not normalisable far outside the data does no harm)."""
    fit = ScoreFit.fit(q, degree)
    lo, hi = jnp.min(q) - fit.scale, jnp.max(q) + fit.scale
    grid = jnp.linspace(0.0, 1.0, grid_points, dtype=fit.scale.dtype) * (hi - lo) + lo
    p = fit.normalised(grid)
    logp = jnp.log(jnp.maximum(p, jnp.finfo(p.dtype).tiny))
    entropy = -jnp.trapezoid(p * logp, grid)
    fisher = jnp.trapezoid(p * fit.score(grid) ** 2, grid)
    return entropy, fisher


def batched(fn: Any, q: Any, n_batches: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error of ``fn(sub-ensemble)`` over ``n_batches`` disjoint sub-ensembles
    (``fn`` returns an array; the last axis of ``q`` are the learners)."""
    q = jnp.asarray(q)
    n = q.shape[-1] // n_batches
    parts = q[..., : n * n_batches].reshape(*q.shape[:-1], n_batches, n)
    vals = np.asarray(jax.vmap(fn, in_axes=-2, out_axes=0)(parts))
    return vals.mean(axis=0), vals.std(axis=0, ddof=1) / np.sqrt(n_batches)


class PeriodicScoreFit(eqx.Module):
    """``log p(q) = sum_{k=1}^{K} (a_k cos kq + b_k sin kq) + const`` on the circle, fitted by score matching
    (the same linear problem as :class:`ScoreFit` with a Fourier basis)."""

    cos_coefficients: Any
    sin_coefficients: Any

    @staticmethod
    def fit(q: Any, harmonics: int = 4, ridge: float = 1e-10) -> PeriodicScoreFit:
        q = jnp.ravel(q)
        k = jnp.arange(1, harmonics + 1, dtype=q.dtype)
        kq = q[:, None] * k[None, :]
        c, s = jnp.cos(kq), jnp.sin(kq)
        d1 = jnp.concatenate([-k * s, k * c], axis=1)  # d/dq of (cos kq, sin kq)
        d2 = jnp.concatenate([-(k**2) * c, -(k**2) * s], axis=1)
        a = d1.T @ d1 / q.size
        a = a + ridge * jnp.trace(a) / (2 * harmonics) * jnp.eye(2 * harmonics, dtype=q.dtype)
        coef = -jnp.linalg.solve(a, jnp.mean(d2, axis=0))
        return PeriodicScoreFit(coef[:harmonics], coef[harmonics:])

    def derivatives(self, q: Any) -> tuple[Any, Any, Any, Any]:
        """``log p`` (unnormalised) and its first three derivatives."""
        a, b = self.cos_coefficients, self.sin_coefficients
        k = jnp.arange(1, a.shape[0] + 1, dtype=a.dtype)
        kq = jnp.asarray(q)[..., None] * k
        c, s = jnp.cos(kq), jnp.sin(kq)
        l0 = c @ a + s @ b
        l1 = (-s * k) @ a + (c * k) @ b
        l2 = (-c * k**2) @ a + (-s * k**2) @ b
        l3 = (s * k**3) @ a + (-c * k**3) @ b
        return l0, l1, l2, l3

    def score(self, q: Any) -> Any:
        return self.derivatives(q)[1]

    def quantum_force(self, q: Any, hbar: Any, mass: Any = 1.0) -> Any:
        """``-dQ/dq = (hbar^2/2m) [(log p)'''/2 + (log p)' (log p)''/2]``."""
        _, s1, s2, s3 = self.derivatives(q)
        return hbar**2 / (2 * mass) * (0.5 * s3 + 0.5 * s1 * s2)

    def normalised(self, grid: Any) -> Any:
        """Normalised density on a uniform grid covering one period ``[0, 2 pi)``."""
        lp = self.derivatives(grid)[0]
        w = jnp.exp(lp - jnp.max(lp))
        return w / (jnp.sum(w) * (2 * jnp.pi / grid.shape[0]))


__all__ = [
    "PeriodicScoreFit",
    "ScoreFit",
    "batched",
    "current_from_cdf",
    "current_histogram",
    "entropy_and_fisher",
    "histogram_density",
    "kde_density",
]
