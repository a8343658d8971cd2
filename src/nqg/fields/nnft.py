r"""Neural-network field theory: random single-hidden-layer networks as fields.

A network ensemble ``f(x) = b_1 + sum_{i=1}^N a_i h(x; theta_i)`` with i.i.d. parameters
(Halverson, Maiti, Stoner, arXiv:2008.08601) defines a field with correlators
``G_n(x_1..x_n) = E[f(x_1) ... f(x_n)]``. With readout weights ``a_i ~ N(0, s^2/N)`` and output bias
``b_1 ~ N(0, s_out^2)`` the joint cumulants of f are exactly

    kappa_2(x, y)       = K(x, y) = s_out^2 + s^2 E[h(x) h(y)]            (every N),
    kappa_4(x_1..x_4)   = N kappa_4(a h) = (s^4/N) [3 E[h_1 h_2 h_3 h_4] - (E[h_1h_2]E[h_3h_4] + 2 more)],

since ``E[a^4] = 3 Var(a)^2`` and the Gaussian ``b_1`` has no cumulant beyond the second; kappa_6 is
O(1/N^2). So the N -> infinity limit is the Gaussian process with kernel K (correlators are sums over
Wick pairings of K), and the leading interaction is the 1/N connected four-point function.

This module holds the architectures (parameter sampler + hidden unit) and the analytic side: kernels,
hidden-unit moments ``E[h(x_1)...h(x_k)]`` (closed form, Gauss-Hermite quadrature over the jointly
Gaussian pre-activations, or a radial quadrature for the cos-net), Wick pairings, Gaussian-process and
order-1/N predictions. Streaming ensemble estimates live in :mod:`nqg.fields.nnft_ensemble`.

Architectures (d_in inputs; defaults ``s_w = s_b = 1`` as in the published code, ``s_b = 0`` for ReLU):

* :class:`ErfNet`, :class:`ReLUNet`, :class:`GaussNet`: first-layer weights ``W ~ N(0, s_w^2/d_in)``,
  biases ``b ~ N(0, s_b^2)``, readout ``a ~ N(0, s_w^2/N)``, output bias ``b_1 ~ N(0, s_b^2)``; hidden unit
  ``erf(W.x + b)``, ``max(0, W.x + b)``, ``exp(W.x + b) / exp(s_b^2 + s_w^2 |x|^2 / d_in)``.
* :class:`CosNet`: ``f(x) = sum_i a_i cos(b_i.x + c_i) / sqrt(|b_i|^2 + m^2)``, ``c ~ U(-pi, pi)``, ``b``
  uniform in the ball of radius Lambda, ``a ~ N(0, s^2/N)`` with ``s^2 = 2 vol(B_Lambda) / (2 pi)^d``, so
  that ``G_2(x, y) = int_{|p|<Lambda} d^dp/(2pi)^d e^{ip(x-y)} / (p^2 + m^2)``: the free scalar propagator
  with a momentum cutoff (for d = 1 the Euclidean harmonic oscillator with M = 1, omega = m).
* :class:`CauchyCosNet`: ``f(t) = sum_i a_i cos(b_i t + c_i)``, ``b ~ Cauchy(0, omega)`` (isotropic
  multivariate Cauchy for d_in > 1), ``a ~ N(0, 1/(M omega N))``:
  ``G_2 = e^{-omega|t|} / (2 M omega)`` exactly.
* :class:`CustomArchitecture`: your own parameter sampler and hidden unit.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import exp1, gamma, jv

from nqg.errors import NqgInputError
from nqg.fields import nnft_random

Array = Any

__all__ = [
    "ARCHITECTURE_NAMES",
    "CauchyCosNet",
    "CosNet",
    "CustomArchitecture",
    "ErfNet",
    "GaussNet",
    "NetworkArchitecture",
    "ReLUNet",
    "architecture",
    "as_points",
    "connected_four_point",
    "cutoff_propagator_1d",
    "gaussian_correlator",
    "hidden_moments",
    "kernel_matrix",
    "multisets",
    "order_one_over_n_correlator",
    "predict_correlators",
    "wick_pairings",
]


def as_points(xs: Any, d_in: int | None = None) -> np.ndarray:
    """Inputs as a float array of shape (n_points, d_in); a 1-D list means d_in = 1."""
    arr = np.asarray(xs, dtype=float)
    if arr.ndim == 0:
        arr = arr.reshape(1, 1)
    elif arr.ndim == 1:
        arr = arr[:, None] if (d_in is None or d_in == 1) else arr[None, :]
    if arr.ndim != 2:
        raise NqgInputError(f"inputs must be a list of points of shape (n, d_in), got shape {arr.shape}")
    if d_in is not None and arr.shape[1] != d_in:
        raise NqgInputError(f"inputs have dimension {arr.shape[1]}, the network has d_in = {d_in}")
    return arr


# --------------------------------------------------------------------------------------------------
# Architectures
# --------------------------------------------------------------------------------------------------


class NetworkArchitecture(eqx.Module):
    """A single-hidden-layer network family ``f(x) = b_1 + sum_i a_i h(x; theta_i)``.

    Concrete architectures provide the fields ``d_in``, ``readout_std`` (``s``: ``a ~ N(0, s^2/N)``) and
    ``output_bias_std`` (``s_out``: ``b_1 ~ N(0, s_out^2)``) and the two methods

    * ``sample_hidden(key, shape, dtype)``: the hidden parameters theta of ``shape`` = (..., N) neurons
      (a pytree whose leaves have that leading shape);
    * ``hidden_unit(theta, x)``: ``h(x; theta)`` at one input ``x`` of shape (d_in,), broadcasting over
      theta's leading shape.

    ``hidden_moments(points, tuples)`` returns ``E[h(x_{i_1}) ... h(x_{i_k})]`` for index tuples; the
    built-in architectures compute it in closed form or by quadrature, the default is Monte Carlo.
    """

    def sample_hidden(self, key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> Any:
        raise NotImplementedError

    def hidden_unit(self, theta: Any, x: Array) -> Array:
        raise NotImplementedError

    @property
    def name(self) -> str:
        return type(self).__name__

    def hidden_moments(self, points: np.ndarray, tuples: np.ndarray) -> np.ndarray:
        """``E[prod_j h(x_{t_j})]`` for each row t of ``tuples`` (Monte Carlo, 2^20 neurons, ~1e-3)."""
        return _monte_carlo_hidden_moments(self, points, tuples, n_samples=2**20, key=jax.random.key(12345))

    # shared derived quantities ------------------------------------------------------------------
    def kernel(self, points: Any) -> np.ndarray:
        """Infinite-width kernel ``K(x_i, x_j) = s_out^2 + s^2 E[h(x_i) h(x_j)]`` (exact at every N)."""
        pts = as_points(points, self.d_in)
        n = len(pts)
        pairs = np.array([(i, j) for i in range(n) for j in range(n)])
        m2 = self.hidden_moments(pts, pairs).reshape(n, n)
        return float(self.output_bias_std) ** 2 + float(self.readout_std) ** 2 * m2


def _monte_carlo_hidden_moments(
    arch: NetworkArchitecture, points: np.ndarray, tuples: np.ndarray, n_samples: int, key: jax.Array
) -> np.ndarray:
    theta = arch.sample_hidden(key, (n_samples,), jnp.float64)
    h = jnp.stack([arch.hidden_unit(theta, jnp.asarray(x)) for x in points], axis=-1)  # (S, n)
    tuples = np.asarray(tuples)
    return np.asarray(jnp.mean(jnp.prod(h[:, tuples], axis=-1), axis=0))


class CustomArchitecture(NetworkArchitecture):
    """A user-defined architecture from a parameter sampler and a hidden unit.

    ``sample_hidden(key, shape, dtype) -> theta`` and ``hidden_unit(theta, x) -> h`` as in
    :class:`NetworkArchitecture`; ``readout_std = s`` gives ``a ~ N(0, s^2/N)``, ``output_bias_std`` the
    output bias. Hidden-unit moments for the analytic predictions are Monte-Carlo estimates (2^20 neurons)
    unless ``moments(points, tuples)`` is given.

    Example (a tanh-net)::

        def sample(key, shape, dtype):
            kw, kb = jax.random.split(key)
            return {"w": jax.random.normal(kw, (*shape, 1), dtype), "b": jax.random.normal(kb, shape, dtype)}

        tanh_net = CustomArchitecture(sample, lambda th, x: jnp.tanh(th["w"] @ x + th["b"]), d_in=1)
    """

    sampler: Callable = eqx.field(static=True)
    unit: Callable = eqx.field(static=True)
    d_in: int = eqx.field(static=True, default=1)
    readout_std: float = eqx.field(static=True, default=1.0)
    output_bias_std: float = eqx.field(static=True, default=0.0)
    moments: Callable | None = eqx.field(static=True, default=None)
    label: str = eqx.field(static=True, default="custom")

    def sample_hidden(self, key, shape, dtype=jnp.float32):
        return self.sampler(key, shape, dtype)

    def hidden_unit(self, theta, x):
        return self.unit(theta, x)

    @property
    def name(self) -> str:
        return self.label

    def hidden_moments(self, points, tuples):
        if self.moments is not None:
            return np.asarray(self.moments(points, tuples))
        return super().hidden_moments(points, tuples)


class _GaussianFirstLayer(NetworkArchitecture):
    """Nets with pre-activation ``z = W.x + b``, ``W ~ N(0, s_w^2/d_in)``, ``b ~ N(0, s_b^2)``."""

    d_in: int = eqx.field(static=True, default=1)
    s_w: float = eqx.field(static=True, default=1.0)
    s_b: float = eqx.field(static=True, default=1.0)

    @property
    def readout_std(self):
        return self.s_w

    @property
    def output_bias_std(self):
        return self.s_b

    def sample_hidden(self, key, shape, dtype=jnp.float32):
        kw, kb = jax.random.split(key)
        w = nnft_random.normal(kw, (*shape, self.d_in), dtype) * (self.s_w / math.sqrt(self.d_in))
        b = nnft_random.normal(kb, shape, dtype) * self.s_b
        return {"w": w, "b": b}

    def preactivation(self, theta, x):
        x = jnp.asarray(x, theta["w"].dtype)
        z = theta["b"]
        for k in range(self.d_in):  # explicit sum: XLA fuses it with the activation
            z = z + theta["w"][..., k] * x[k]
        return z

    def preactivation_covariance(self, points: np.ndarray) -> np.ndarray:
        """``Sigma_ij = s_b^2 + s_w^2 x_i.x_j / d_in``."""
        pts = np.asarray(points, float)
        return self.s_b**2 + self.s_w**2 * pts @ pts.T / self.d_in

    def _preactivation_factors(self, points: np.ndarray) -> np.ndarray:
        """Matrix L with ``z = L g``, ``g ~ N(0, 1)^r``: columns ``s_w x / sqrt(d_in)`` and ``s_b``."""
        pts = np.asarray(points, float)
        cols = [self.s_w * pts / math.sqrt(self.d_in)]
        if self.s_b != 0:
            cols.append(np.full((len(pts), 1), self.s_b))
        return np.concatenate(cols, axis=1)

    def activation(self, z):
        raise NotImplementedError

    def hidden_unit(self, theta, x):
        return self.activation(self.preactivation(theta, x))

    def hidden_moments(self, points, tuples):
        """``E[prod_j sigma(z_{t_j})]``: Gauss-Hermite quadrature over the (Gaussian) pre-activations."""
        return _gauss_hermite_moments(self._activation_np, self._preactivation_factors(points), tuples)

    def _activation_np(self, z):
        return np.asarray(self.activation(jnp.asarray(z)))


def _gauss_hermite_moments(
    activation: Callable, factors: np.ndarray, tuples: np.ndarray, nodes_total: int = 2**16
) -> np.ndarray:
    """``E[prod_j act(z_{t_j})]`` with ``z = L g``, ``g ~ N(0, I_r)``: tensor-product Gauss-Hermite.

    The pre-activations of all inputs live in the r = rank(L) <= d_in + 1 dimensional span of (W, b), so
    one r-dimensional grid serves every tuple. Spectrally accurate for smooth activations (erf);
    if r > 3 the quadrature is done per tuple in the <= k-dimensional span of that tuple's pre-activations.
    """
    factors = np.asarray(factors, float)
    tuples = np.asarray(tuples)
    u, s, _ = np.linalg.svd(factors, full_matrices=False)
    keep = s > 1e-12 * max(s.max(initial=0.0), 1e-300)
    lmat = u[:, keep] * s[keep]  # same covariance L L^T in r = keep.sum() columns
    r = lmat.shape[1]
    if r == 0:
        return np.prod(activation(np.zeros((1, factors.shape[0])))[0][tuples], axis=-1)
    if r <= 3:
        return _gh_on_grid(activation, lmat, tuples, nodes_total)
    out = np.empty(len(tuples))
    for row, t in enumerate(tuples):
        out[row] = _gauss_hermite_moments(activation, lmat[np.asarray(t)], np.arange(len(t))[None], 20**4)[0]
    return out


def _gh_on_grid(activation, lmat, tuples, nodes_total):
    r = lmat.shape[1]
    n1 = max(8, round(nodes_total ** (1.0 / r)))
    g, w = np.polynomial.hermite_e.hermegauss(n1)
    w = w / math.sqrt(2 * math.pi)
    grids = np.meshgrid(*([g] * r), indexing="ij")
    nodes = np.stack([x.ravel() for x in grids], axis=1)  # (n1^r, r)
    weights = np.prod(np.stack(np.meshgrid(*([w] * r), indexing="ij"), 0).reshape(r, -1), axis=0)
    h = activation(nodes @ lmat.T)  # (nodes, n_points)
    return np.einsum("q,qt->t", weights, np.prod(h[:, tuples], axis=-1))


class ErfNet(_GaussianFirstLayer):
    """Erf-net: hidden unit ``erf(W.x + b)``. Kernel: the arcsine kernel

    ``K(x, y) = s_b^2 + s_w^2 (2/pi) arcsin(2 S_xy / sqrt((1 + 2 S_xx)(1 + 2 S_yy)))``,
    ``S_xy = s_b^2 + s_w^2 x.y / d_in``.
    """

    def activation(self, z):
        return jax.lax.erf(z)

    def _activation_np(self, z):
        from scipy.special import erf

        return erf(z)

    def kernel(self, points):
        sig = self.preactivation_covariance(as_points(points, self.d_in))
        d = np.diag(sig)
        arg = 2 * sig / np.sqrt(np.outer(1 + 2 * d, 1 + 2 * d))
        return self.s_b**2 + self.s_w**2 * (2 / np.pi) * np.arcsin(np.clip(arg, -1, 1))


class ReLUNet(_GaussianFirstLayer):
    """ReLU-net: hidden unit ``max(0, W.x + b)`` (default ``s_b = 0``). Kernel: the arc-cosine kernel

    ``K(x, y) = s_b^2 + s_w^2 sqrt(S_xx S_yy) (sin t + (pi - t) cos t) / (2 pi)``,
    ``cos t = S_xy / sqrt(S_xx S_yy)``.

    Higher moments use positive homogeneity: with ``z = L g = rho L u`` (u on the unit sphere),
    ``E[prod_k relu(z_k)] = E[rho^k] <prod relu(L u)>_sphere``; on the circle (rank 2) the angular average is
    done exactly by Gauss-Legendre between the kinks, in rank 1 it is a two-point sum.
    """

    s_b: float = eqx.field(static=True, default=0.0)

    def activation(self, z):
        return jnp.maximum(z, 0.0)

    def _activation_np(self, z):
        return np.maximum(z, 0.0)

    def kernel(self, points):
        sig = self.preactivation_covariance(as_points(points, self.d_in))
        d = np.sqrt(np.clip(np.diag(sig), 0, None))
        norm = np.outer(d, d)
        with np.errstate(invalid="ignore", divide="ignore"):
            cos_t = np.where(norm > 0, sig / np.where(norm > 0, norm, 1), 1.0)
        t = np.arccos(np.clip(cos_t, -1, 1))
        return self.s_b**2 + self.s_w**2 * norm * (np.sin(t) + (np.pi - t) * np.cos(t)) / (2 * np.pi)

    def hidden_moments(self, points, tuples):
        factors = self._preactivation_factors(points)
        u, s, _ = np.linalg.svd(factors, full_matrices=False)
        keep = s > 1e-12 * max(s.max(initial=0.0), 1e-300)
        lmat = u[:, keep] * s[keep]
        r = lmat.shape[1]
        tuples = np.asarray(tuples)
        k = tuples.shape[1]
        if r == 0:
            return np.zeros(len(tuples))
        if r > 2:  # kinks on great spheres: fall back to a dense Gauss-Hermite grid
            return _gauss_hermite_moments(np.vectorize(lambda z: max(z, 0.0)), lmat, tuples, 2**18)
        rho_k = 2 ** (k / 2) * gamma((r + k) / 2) / gamma(r / 2)  # E[|g|^k] for g ~ N(0, I_r)
        if r == 1:
            dirs, wts = np.array([[1.0], [-1.0]]), np.array([0.5, 0.5])
        else:
            kinks = np.arctan2(-lmat[:, 0], lmat[:, 1])  # angles where (L u)_i = 0, and + pi
            edges = np.sort(np.mod(np.concatenate([kinks, kinks + np.pi, [0.0]]), 2 * np.pi))
            edges = np.unique(np.append(edges, 2 * np.pi))
            gx, gw = np.polynomial.legendre.leggauss(24)
            lo, hi = edges[:-1], edges[1:]
            ang = (0.5 * (hi - lo)[:, None] * gx[None] + 0.5 * (hi + lo)[:, None]).ravel()
            wts = (0.5 * (hi - lo)[:, None] * gw[None]).ravel() / (2 * np.pi)
            dirs = np.stack([np.cos(ang), np.sin(ang)], axis=1)
        h = np.maximum(dirs @ lmat.T, 0.0)
        return rho_k * np.einsum("q,qt->t", wts, np.prod(h[:, tuples], axis=-1))


class GaussNet(_GaussianFirstLayer):
    """Gauss-net: hidden unit ``exp(W.x + b) / exp(s_b^2 + s_w^2 |x|^2 / d_in)``.

    Closed forms: with ``Sigma`` the pre-activation covariance of a tuple,
    ``E[prod_j h(x_j)] = exp(1^T Sigma 1 / 2 - tr Sigma)``, so the kernel is the Gaussian
    ``K(x, y) = s_b^2 + s_w^2 exp(-s_w^2 |x - y|^2 / (2 d_in))``.
    """

    def hidden_unit(self, theta, x):
        x = jnp.asarray(x, theta["w"].dtype)
        shift = self.s_b**2 + self.s_w**2 * jnp.sum(x * x) / self.d_in
        return jnp.exp(self.preactivation(theta, x) - shift)

    def activation(self, z):  # only used by the generic quadrature (not by the closed form)
        raise NotImplementedError("GaussNet's hidden unit depends on |x|; use hidden_unit")

    def hidden_moments(self, points, tuples):
        sig = self.preactivation_covariance(np.asarray(points, float))
        tuples = np.asarray(tuples)
        sub = sig[tuples[:, :, None], tuples[:, None, :]]  # (T, k, k)
        return np.exp(0.5 * sub.sum(axis=(1, 2)) - np.trace(sub, axis1=1, axis2=2))

    def kernel(self, points):
        pts = as_points(points, self.d_in)
        d2 = ((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1)
        return self.s_b**2 + self.s_w**2 * np.exp(-(self.s_w**2) * d2 / (2 * self.d_in))


def _cos_product_frequencies(points: np.ndarray, tuples: np.ndarray) -> np.ndarray:
    """``E_c[prod_j cos(theta_j + c)]`` for c ~ U(-pi, pi) as a sum of ``cos(b.u)`` terms: the vectors u.

    k = 2: (1/2) cos(b.(x1 - x2)).
    k = 4: (1/8) [cos b.(x1+x2-x3-x4) + cos b.(x1-x2+x3-x4) + cos b.(x1-x2-x3+x4)].
    General even k: 2^{1-k} sum over sign vectors with zero sum and s_1 = +1.
    Returns u of shape (T, n_terms, d) (the prefactor 2^{1-k} is applied by the caller).
    """
    k = tuples.shape[1]
    signs = [s for s in itertools.product([1, -1], repeat=k) if sum(s) == 0 and s[0] == 1]
    signs = np.array(signs, float)  # (n_terms, k)
    x = points[tuples]  # (T, k, d)
    return np.einsum("sk,tkd->tsd", signs, x)


class CosNet(NetworkArchitecture):
    """Cos-net ``f(x) = sum_i a_i cos(b_i.x + c_i) / sqrt(|b_i|^2 + m^2)``: free scalar field with cutoff.

    ``c ~ U(-pi, pi)``, ``b`` uniform in the d_in-ball of radius ``cutoff`` (Lambda), ``a ~ N(0, s^2/N)`` with
    ``s^2 = 2 vol(B_Lambda) / (2 pi)^d`` (Demirtas et al., arXiv:2307.03223), so that
    ``G_2(x, y) = int_{|p|<Lambda} d^dp/(2 pi)^d  e^{i p.(x-y)} / (p^2 + m^2)``. Hidden-unit moments are
    radial Gauss-Legendre integrals of ``(b^2 + m^2)^{-k/2}`` times the angular average of ``cos(b.u)``,
    ``Gamma(d/2) (2/s)^{d/2-1} J_{d/2-1}(s)`` (``cos s`` for d = 1).
    """

    d_in: int = eqx.field(static=True, default=1)
    cutoff: float = eqx.field(static=True, default=10.0)
    mass: float = eqx.field(static=True, default=1.0)

    @property
    def readout_std(self):
        d = self.d_in
        ball = math.pi ** (d / 2) * self.cutoff**d / math.gamma(d / 2 + 1)
        return math.sqrt(2 * ball / (2 * math.pi) ** d)

    @property
    def output_bias_std(self):
        return 0.0

    def sample_hidden(self, key, shape, dtype=jnp.float32):
        kd, kr, kc = jax.random.split(key, 3)
        d = self.d_in
        if d == 1:
            b = nnft_random.uniform(kd, (*shape, 1), dtype, -self.cutoff, self.cutoff)
        else:  # uniform in the ball: direction uniform on the sphere, radius Lambda u^(1/d)
            g = nnft_random.normal(kd, (*shape, d), dtype)
            radius = self.cutoff * nnft_random.uniform(kr, (*shape, 1), dtype) ** (1.0 / d)
            b = g / jnp.linalg.norm(g, axis=-1, keepdims=True) * radius
        c = nnft_random.uniform(kc, shape, dtype, -math.pi, math.pi)
        amp = jax.lax.rsqrt(jnp.sum(b * b, axis=-1) + self.mass**2)
        return {"b": b, "c": c, "amp": amp}

    def hidden_unit(self, theta, x):
        x = jnp.asarray(x, theta["b"].dtype)
        phase = theta["c"]
        for k in range(self.d_in):
            phase = phase + theta["b"][..., k] * x[k]
        return theta["amp"] * jnp.cos(phase)

    def _radial_average(self, g_of_rho: Callable, s_values: np.ndarray, n_panels: int = 256) -> np.ndarray:
        """``E_b[g(|b|) cos(b.u)]`` for b uniform in the ball, as a function of s = |u| (array).

        Composite Gauss-Legendre (``n_panels`` panels of 16 nodes on [0, Lambda]) in the radius.
        """
        d = self.d_in
        gx, gw = np.polynomial.legendre.leggauss(16)
        edges = np.linspace(0.0, self.cutoff, n_panels + 1)
        half = 0.5 * np.diff(edges)[:, None]
        rho = (half * (gx[None] + 1) + edges[:-1, None]).ravel()
        w = (half * gw[None]).ravel() * d * rho ** (d - 1) / self.cutoff**d
        arg = np.outer(np.asarray(s_values).ravel(), rho)
        if d == 1:
            ang = np.cos(arg)
        else:
            nu = d / 2 - 1
            with np.errstate(invalid="ignore", divide="ignore"):
                ang = np.where(
                    arg > 1e-12, gamma(d / 2) * (2 / np.maximum(arg, 1e-300)) ** nu * jv(nu, arg), 1.0
                )
        return (ang * (w * g_of_rho(rho))[None]).sum(axis=1).reshape(np.shape(s_values))

    def hidden_moments(self, points, tuples):
        points = np.asarray(points, float)
        tuples = np.asarray(tuples)
        k = tuples.shape[1]
        u = _cos_product_frequencies(points, tuples)  # (T, S, d)
        s = np.linalg.norm(u, axis=-1)
        m2 = self.mass**2
        vals = self._radial_average(lambda rho: (rho**2 + m2) ** (-k / 2), s)
        return 2.0 ** (1 - k) * vals.sum(axis=1)

    def kernel(self, points):
        pts = as_points(points, self.d_in)
        if self.d_in == 1:
            return cutoff_propagator_1d(pts[:, 0][:, None] - pts[:, 0][None, :], self.mass, self.cutoff)
        return super().kernel(pts)


class CauchyCosNet(NetworkArchitecture):
    """Cos-net with Cauchy frequencies: ``f(t) = sum_i a_i cos(b_i.t + c_i)``, ``b ~ Cauchy(0, omega)``.

    ``a ~ N(0, 1/(M omega N))``, ``c ~ U(-pi, pi)``. Since ``E[cos(b.u)] = e^{-omega |u|}`` (characteristic
    function of the isotropic Cauchy law), ``G_2(t, t') = e^{-omega |t - t'|} / (2 M omega)``: for d_in = 1
    exactly the Euclidean propagator of the harmonic oscillator of mass M and frequency omega.
    """

    d_in: int = eqx.field(static=True, default=1)
    omega: float = eqx.field(static=True, default=1.0)
    oscillator_mass: float = eqx.field(static=True, default=1.0)

    @property
    def readout_std(self):
        return 1.0 / math.sqrt(self.oscillator_mass * self.omega)

    @property
    def output_bias_std(self):
        return 0.0

    def sample_hidden(self, key, shape, dtype=jnp.float32):
        kd, kr, kc = jax.random.split(key, 3)
        g = nnft_random.normal(kd, (*shape, self.d_in), dtype)
        # |chi| = 0 happens (about once in 1e7 float32 draws) and would give b = inf, cos(inf) = NaN; a
        # floor of 1e-20 keeps b finite (a huge frequency: a uniformly random phase, the right limit)
        chi = jnp.maximum(jnp.abs(nnft_random.normal(kr, (*shape, 1), dtype)), 1e-20)
        b = self.omega * g / chi  # multivariate Cauchy (Student t with one degree of freedom)
        c = nnft_random.uniform(kc, shape, dtype, -math.pi, math.pi)
        return {"b": b, "c": c}

    def hidden_unit(self, theta, x):
        x = jnp.asarray(x, theta["b"].dtype)
        phase = theta["c"]
        for k in range(self.d_in):
            phase = phase + theta["b"][..., k] * x[k]
        return jnp.cos(phase)

    def hidden_moments(self, points, tuples):
        points = np.asarray(points, float)
        tuples = np.asarray(tuples)
        k = tuples.shape[1]
        s = np.linalg.norm(_cos_product_frequencies(points, tuples), axis=-1)
        return 2.0 ** (1 - k) * np.exp(-self.omega * s).sum(axis=1)


#: the architectures that have a name on the command line and in the experiments
ARCHITECTURE_NAMES = ("erf", "relu", "gauss", "cos", "cauchy")


def architecture(name: str, d_in: int = 1, *, cutoff: float = 10.0, mass: float = 1.0) -> NetworkArchitecture:
    """The named architecture with the published defaults (s_w = s_b = 1, s_b = 0 for ReLU); ``cutoff``
    and ``mass`` are the cos-net's Lambda and m (``mass`` is omega for the Cauchy cos-net)."""
    if name == "erf":
        return ErfNet(d_in=d_in)
    if name == "relu":
        return ReLUNet(d_in=d_in)
    if name == "gauss":
        return GaussNet(d_in=d_in)
    if name == "cos":
        return CosNet(d_in=d_in, cutoff=cutoff, mass=mass)
    if name == "cauchy":
        return CauchyCosNet(d_in=d_in, omega=mass)
    raise NqgInputError(f"unknown network {name!r}; allowed: {', '.join(ARCHITECTURE_NAMES)}")


def cutoff_propagator_1d(t: Any, mass: float, cutoff: float) -> np.ndarray:
    r"""``G_Lambda(t) = int_{-Lambda}^{Lambda} dp/(2 pi) cos(p t)/(p^2 + m^2)`` in closed form.

    ``G_Lambda(t) = e^{-m|t|}/(2m) - T(t)/pi`` with the tail ``T = int_Lambda^inf cos(pt)/(p^2+m^2) dp``
    ``= Re[(e^{-m t} E_1(-m t - i Lambda t) - e^{m t} E_1(m t - i Lambda t)) / (2 i m)]`` for t > 0 (partial
    fractions ``1/(p^2+m^2) = (1/(p - im) - 1/(p + im))/(2im)`` and ``int_z^inf e^{iut}/u du = E_1(-i z t)``),
    and ``T(0) = (pi/2 - arctan(Lambda/m))/m``, i.e. ``G_Lambda(0) = arctan(Lambda/m)/(pi m)``.
    As Lambda -> infinity this is the oscillator propagator ``e^{-m|t|}/(2m)``.
    """
    t = np.abs(np.asarray(t, float))
    m, lam = float(mass), float(cutoff)
    out = np.empty_like(t)
    small = t < 1e-12
    out[small] = np.arctan(lam / m) / (np.pi * m)
    ts = t[~small]
    tail = (
        (np.exp(-m * ts) * exp1(-m * ts - 1j * lam * ts) - np.exp(m * ts) * exp1(m * ts - 1j * lam * ts))
        / (2j * m)
    ).real
    out[~small] = np.exp(-m * ts) / (2 * m) - tail / np.pi
    return out


# --------------------------------------------------------------------------------------------------
# Wick pairings, Gaussian-process and order-1/N predictions
# --------------------------------------------------------------------------------------------------


@cache
def wick_pairings(n: int) -> tuple[tuple[tuple[int, int], ...], ...]:
    """All perfect matchings of {0..n-1}: (n-1)!! of them (3 for n = 4, 15 for n = 6)."""
    if n % 2:
        raise NqgInputError(f"Wick pairings need an even number of points, got {n}")

    def rec(items):
        if not items:
            return [()]
        first, rest = items[0], items[1:]
        out = []
        for j, other in enumerate(rest):
            remaining = rest[:j] + rest[j + 1 :]
            out.extend(((first, other), *p) for p in rec(remaining))
        return out

    return tuple(rec(tuple(range(n))))


@cache
def _multisets_colex(n_points: int, order: int) -> tuple[tuple[int, ...], ...]:
    if order == 0:
        return ((),)
    prev = _multisets_colex(n_points, order - 1)
    out = []
    for j in range(n_points):  # prev is sorted by its last index, so "last <= j" is a prefix
        out.extend((*t, j) for t in prev if not t or t[-1] <= j)
    return tuple(out)


def multisets(n_points: int, order: int) -> np.ndarray:
    """All multisets of ``order`` indices from ``range(n_points)`` as sorted rows, in colexicographic order
    (grouped by the last index): shape (C(n+order-1, order), order). Every correlator table uses it."""
    return np.array(_multisets_colex(n_points, order), dtype=np.int64).reshape(-1, order)


def gaussian_correlator(kernel: np.ndarray, tuples: np.ndarray) -> np.ndarray:
    """Gaussian-process (Wick) correlator ``G_n = sum_{pairings} prod K(x_a, x_b)`` for each index tuple."""
    tuples = np.asarray(tuples)
    n = tuples.shape[1]
    out = np.zeros(len(tuples))
    for pairing in wick_pairings(n):
        term = np.ones(len(tuples))
        for a, b in pairing:
            term = term * kernel[tuples[:, a], tuples[:, b]]
        out += term
    return out


def connected_four_point(
    arch: NetworkArchitecture, width: int, points: Any, tuples: np.ndarray
) -> np.ndarray:
    """Order-1/N connected four-point function (exact for Gaussian readout weights at every N):

    ``G4_c = (s^4/N) [3 E[h1 h2 h3 h4] - (E[h1h2]E[h3h4] + E[h1h3]E[h2h4] + E[h1h4]E[h2h3])]``,
    s^2 = N Var(a).
    """
    pts = as_points(points, arch.d_in)
    tuples = np.asarray(tuples)
    if tuples.shape[1] != 4:
        raise NqgInputError("connected_four_point needs tuples of 4 indices")
    m4 = arch.hidden_moments(pts, tuples)
    n = len(pts)
    pairs = np.array([(i, j) for i in range(n) for j in range(n)])
    m2 = arch.hidden_moments(pts, pairs).reshape(n, n)
    disc = sum(
        m2[tuples[:, a], tuples[:, b]] * m2[tuples[:, c], tuples[:, d]] for (a, b), (c, d) in wick_pairings(4)
    )
    return float(arch.readout_std) ** 4 / width * (3 * m4 - disc)


def order_one_over_n_correlator(
    kernel: np.ndarray, g4c_lookup: Callable[[np.ndarray], np.ndarray], tuples: np.ndarray
) -> np.ndarray:
    """GP prediction plus the order-1/N part: ``G_n^GP + sum_{4-subsets A} G4_c(A) G^GP_{n-4}(rest)``.

    For n = 2 this is K (no 1/N correction); for n = 4, ``G^GP + G4_c`` (exact at every N); for n = 6 the 15
    splits 4 + 2 (the kappa_6 term is O(1/N^2)).
    """
    tuples = np.asarray(tuples)
    n = tuples.shape[1]
    out = gaussian_correlator(kernel, tuples)
    if n < 4:
        return out
    for subset in itertools.combinations(range(n), 4):
        rest = [j for j in range(n) if j not in subset]
        sub = np.sort(tuples[:, list(subset)], axis=1)
        rest_val = gaussian_correlator(kernel, tuples[:, rest]) if rest else np.ones(len(tuples))
        out = out + g4c_lookup(sub) * rest_val
    return out


def hidden_moments(arch: NetworkArchitecture, points: Any, tuples: Any) -> np.ndarray:
    """``E[h(x_{t_1}) ... h(x_{t_k})]`` for each index tuple (closed form or quadrature, see the classes)."""
    return arch.hidden_moments(as_points(points, arch.d_in), np.asarray(tuples))


def kernel_matrix(arch: NetworkArchitecture, points: Any) -> np.ndarray:
    """Infinite-width kernel ``K(x_i, x_j)`` of ``arch`` at ``points``."""
    return np.asarray(arch.kernel(as_points(points, arch.d_in)))


def predict_correlators(
    arch: NetworkArchitecture, width: int, points: Any, orders: Sequence[int] = (2, 4, 6)
) -> dict[int, dict[str, np.ndarray]]:
    """Analytic predictions at every multiset of ``points`` for each even order.

    Returns ``{n: {"tuples", "gaussian", "order_1_over_n"}}`` where ``gaussian`` is the Wick sum of the kernel
    and ``order_1_over_n`` adds the connected 1/N part (see :func:`order_one_over_n_correlator`).
    """
    pts = as_points(points, arch.d_in)
    kmat = kernel_matrix(arch, pts)
    n_pts = len(pts)
    four = multisets(n_pts, 4)
    g4c_table = {}
    if max(orders) >= 4:
        vals = connected_four_point(arch, width, pts, four)
        g4c_table = {tuple(t): v for t, v in zip(four.tolist(), vals, strict=True)}

    def lookup(sub):
        return np.array([g4c_table[tuple(t)] for t in sub.tolist()])

    out = {}
    for n in orders:
        tup = multisets(n_pts, n)
        out[n] = {
            "tuples": tup,
            "gaussian": gaussian_correlator(kmat, tup),
            "order_1_over_n": order_one_over_n_correlator(kmat, lookup, tup),
        }
    return out
