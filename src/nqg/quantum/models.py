"""Neural-network wave functions ``log psi(s)`` as equinox modules (real or complex parameters).

Every model is an :class:`NQSModel`: ``model(s)`` returns ``log psi(s)`` for one configuration
``s`` (shape (N,), entries +-1); ``model.log_psi(samples)`` maps over a batch. Samplers and local
energies use the *cache protocol*:

* ``model.as_cached()`` -> the module whose cache methods are used (a symmetric RBM expands its
  shared filters into a full RBM once per VMC step);
* ``init_cache(s)`` -> cache for configuration ``s``;
* ``propose(s, cache, sites, mask)`` -> ``(log psi(s') - log psi(s), cache(s'))`` where ``s'`` is
  ``s`` with ``sites[mask]`` flipped;
* ``log_ratios(s, cache, flip_sites, flip_mask)`` -> the same ratio for C flip groups at once.

The generic fallback (any model) caches ``log psi(s)`` and re-evaluates the network: O(cost of
one forward pass) per proposal. The RBM caches ``theta = b + W s``, so a flip of k sites costs
O(k M): ``theta' = theta - 2 sum_{i in F} W[:, i] s_i``.

Complex parameters must enter ``log psi`` holomorphically (true for every model here), so that
``O_k = d log psi / d p_k`` is a complex derivative.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from nqg.errors import NqgInputError

LOG2 = float(np.log(2.0))


def log_cosh(x: jax.Array) -> jax.Array:
    """``log cosh x``, stable for large |x| and complex-safe (holomorphic away from cosh x = 0).

    With ``y = x sign(Re x)`` (cosh is even): ``log cosh x = y + log1p(exp(-2y)) - log 2``, where
    ``Re(-2y) <= 0`` so the exponential never overflows. Imaginary parts are defined modulo 2 pi i,
    which leaves ``psi = exp(log psi)`` unchanged.
    """
    sgn = jnp.where(jnp.real(x) >= 0, 1.0, -1.0).astype(jnp.real(x).dtype)
    y = x * sgn
    return y + jnp.log1p(jnp.exp(-2.0 * y)) - LOG2


def flip_sites(s: jax.Array, sites: jax.Array, mask: jax.Array) -> jax.Array:
    """``s`` with ``s_i -> -s_i`` for the sites ``sites[mask]`` (padding entries are ignored)."""
    return s.at[sites].multiply(jnp.where(mask, -1, 1).astype(s.dtype))


def _param_dtype(dtype, complex_params: bool):
    real = jnp.dtype(dtype)
    if jnp.issubdtype(real, jnp.complexfloating):
        return real
    if complex_params:
        return jnp.complex128 if real == jnp.float64 else jnp.complex64
    return real


def _normal(key, shape, std, dtype):
    dt = jnp.dtype(dtype)
    if jnp.issubdtype(dt, jnp.complexfloating):
        kr, ki = jax.random.split(key)
        rd = jnp.float64 if dt == jnp.complex128 else jnp.float32
        return (std / np.sqrt(2.0)) * (
            jax.random.normal(kr, shape, rd) + 1j * jax.random.normal(ki, shape, rd)
        ).astype(dt)
    return std * jax.random.normal(key, shape, dt)


class NQSModel(eqx.Module):
    """Base class of variational wave functions (see the module docstring for the protocol)."""

    def __call__(self, s: jax.Array) -> jax.Array:
        raise NotImplementedError

    def log_psi(self, samples: jax.Array) -> jax.Array:
        """``log psi`` of a batch (..., N)."""
        flat = samples.reshape(-1, samples.shape[-1])
        return jax.vmap(self)(flat).reshape(samples.shape[:-1])

    @property
    def n_sites(self) -> int:
        raise NotImplementedError

    @property
    def input_dtype(self):
        """Real dtype configurations are stored in for this model (float64 or float32)."""
        leaf = jax.tree_util.tree_leaves(eqx.filter(self, eqx.is_inexact_array))[0]
        return jnp.real(jnp.zeros((), leaf.dtype)).dtype

    # -------------------------------------------------------------- cache protocol
    def as_cached(self) -> NQSModel:
        return self

    def init_cache(self, s: jax.Array):
        return self(s)

    def propose(self, s, cache, sites, mask):
        new = self(flip_sites(s, sites, mask))
        return new - cache, new

    def ratio_tables(self, flips: np.ndarray, masks: np.ndarray):
        """Sample-independent tables that speed up :meth:`log_ratios` for fixed flip groups (or None)."""
        return None

    def log_ratios(self, s, cache, flips, masks, tables=None):
        return jax.vmap(lambda f, m: self.propose(s, cache, f, m)[0])(flips, masks)

    def log_derivative_kernel(self, samples: jax.Array) -> jax.Array | None:
        """``K_ab = sum_k O_k(s_a) conj(O_k(s_b))`` (uncentered) from a fast formula, or None."""
        return None


# ---------------------------------------------------------------------------- RBM


class RBM(NQSModel):
    """Restricted Boltzmann machine (Carleo and Troyer 2017), hidden units traced out:

    ``log psi(s) = sum_i a_i s_i + sum_j log cosh(b_j + sum_i W_ji s_i)``, M = alpha N hidden units.

    Cache: ``theta = b + W s`` (M,). Flipping the sites F changes ``theta`` by
    ``-2 sum_{i in F} W[:, i] s_i`` and ``log psi`` by
    ``-2 sum_{i in F} a_i s_i + sum_j [log cosh theta'_j - log cosh theta_j]``: O(|F| M).
    """

    visible_bias: jax.Array
    hidden_bias: jax.Array
    weights: jax.Array

    def __init__(
        self,
        n_sites: int,
        alpha: float = 1.0,
        *,
        key: jax.Array,
        complex_params: bool = False,
        dtype=jnp.float64,
        init_std: float = 0.01,
        use_visible_bias: bool = True,
    ):
        if alpha <= 0:
            raise NqgInputError(f"alpha must be > 0, got {alpha}")
        m = max(1, round(alpha * n_sites))
        dt = _param_dtype(dtype, complex_params)
        k1, k2, k3 = jax.random.split(key, 3)
        self.visible_bias = (
            _normal(k1, (n_sites,), init_std, dt) if use_visible_bias else jnp.zeros((n_sites,), dt)
        )
        self.hidden_bias = _normal(k2, (m,), init_std, dt)
        self.weights = _normal(k3, (m, n_sites), init_std, dt)

    @property
    def n_sites(self) -> int:
        return int(self.weights.shape[1])

    @property
    def n_hidden(self) -> int:
        return int(self.weights.shape[0])

    def __call__(self, s):
        s = s.astype(jnp.real(self.weights).dtype)
        theta = self.hidden_bias + self.weights @ s
        return self.visible_bias @ s + jnp.sum(log_cosh(theta))

    def init_cache(self, s):
        return self.hidden_bias + self.weights @ s.astype(jnp.real(self.weights).dtype)

    def propose(self, s, cache, sites, mask):
        ds = jnp.where(mask, -2.0 * s[sites], 0.0).astype(s.dtype)  # (k,)
        # explicit multiply-add: a dot_general with a tiny contraction is slow on CPU under vmap
        new_theta = cache + jnp.sum(self.weights.T[sites] * ds[:, None], axis=0)
        log_r = self.visible_bias[sites] @ ds + jnp.sum(log_cosh(new_theta) - log_cosh(cache))
        return log_r, new_theta

    def ratio_tables(self, flips, masks):
        """For flip groups of 1 or 2 sites (all real entries): with ``D = W_i`` (one site) or
        ``D = W_i -+ W_j`` (anti-/aligned pair), ``delta theta = -2 s_i D`` and
        ``cosh(theta + delta) / cosh(theta) = cosh(2D) - s_i tanh(theta) sinh(2D)``; the tables
        ``cosh 2D, sinh 2D`` (C, M) are computed once per step, leaving one multiply-add and one log
        per (connection, hidden unit) for each sample."""
        flips, masks = np.asarray(flips), np.asarray(masks)
        if flips.shape[1] > 2 or not masks.all():
            return None
        wt = self.weights.T  # (N, M)
        if flips.shape[1] == 1:
            d = 2.0 * wt[flips[:, 0]]
            return (jnp.cosh(d), jnp.sinh(d))
        d_anti = 2.0 * (wt[flips[:, 0]] - wt[flips[:, 1]])
        d_par = 2.0 * (wt[flips[:, 0]] + wt[flips[:, 1]])
        return (jnp.cosh(d_anti), jnp.sinh(d_anti), jnp.cosh(d_par), jnp.sinh(d_par))

    def log_ratios(self, s, cache, flips, masks, tables=None):
        if tables is not None:
            s_first = s[flips[:, 0]]  # (C,)
            vis = -2.0 * jnp.sum(self.visible_bias[flips] * s[flips], axis=-1)
            tanh_theta = jnp.tanh(cache)
            if len(tables) == 2:
                ch, sh = tables
            else:
                anti = (s_first * s[flips[:, 1]] < 0)[:, None]
                ch = jnp.where(anti, tables[0], tables[2])
                sh = jnp.where(anti, tables[1], tables[3])
            ratio = ch - (s_first[:, None] * sh) * tanh_theta
            return vis + jnp.sum(jnp.log(ratio), axis=-1)
        ds = jnp.where(masks, -2.0 * s[flips], 0.0).astype(s.dtype)  # (C, k)
        wt = self.weights.T[flips]  # (C, k, M)
        dtheta = jnp.sum(wt * ds[..., None], axis=1)
        vis = jnp.sum(self.visible_bias[flips] * ds, axis=-1)
        return vis + jnp.sum(log_cosh(cache + dtheta), axis=-1) - jnp.sum(log_cosh(cache))

    def flip_tables(self, groups: np.ndarray):
        """Tables for the fast Metropolis kernel (real parameters only; None otherwise).

        A proposal flips one site i (``groups`` (P, 1)) or exchanges an anti-aligned pair (i, j)
        (``groups`` (P, 2)); then ``delta theta = -2 s_i D`` with ``D = W_i`` or ``W_i - W_j``, and with
        ``t = tanh theta`` cached,
        ``log psi(s') - log psi(s) = -2 s_i A + sum_m log cosh 2D_m + sum_m log(1 - s_i tanh(2D_m) t_m)``,
        ``t' = (t - s_i tanh 2D) / (1 - s_i tanh(2D) t)`` (A = a_i or a_i - a_j): one log and one
        division per hidden unit instead of two log-cosh evaluations.
        """
        if jnp.iscomplexobj(self.weights):
            return None
        groups = np.asarray(groups)
        wt = self.weights.T
        d = wt[groups[:, 0]] if groups.shape[1] == 1 else wt[groups[:, 0]] - wt[groups[:, 1]]
        a = self.visible_bias[groups[:, 0]]
        if groups.shape[1] == 2:
            a = a - self.visible_bias[groups[:, 1]]
        return (jnp.tanh(2.0 * d), jnp.sum(log_cosh(2.0 * d), axis=-1), a)

    def fast_cache(self, s):
        return jnp.tanh(self.init_cache(s))

    @staticmethod
    def fast_propose(s_first, t, tables, idx):
        th, lch, a = tables
        x = s_first * th[idx]
        denom = 1.0 - x * t
        log_r = -2.0 * s_first * a[idx] + lch[idx] + jnp.sum(jnp.log(denom))
        return log_r, (t - x) / denom

    def log_derivative_kernel(self, samples):
        """``O_a = s_i``, ``O_b = tanh theta_j``, ``O_W = tanh theta_j s_i``; the Gram matrix factorises:
        ``K = S S^T + T T^dagger + (T T^dagger) * (S S^T)`` with S (n, N) the samples, T (n, M) tanh theta.
        Cost O(n^2 (N + M)) instead of O(n^2 N M)."""
        s = samples.astype(jnp.real(self.weights).dtype)
        t = jnp.tanh(self.hidden_bias + s @ self.weights.T)
        ss = s @ s.T
        tt = t @ jnp.conj(t).T
        return ss + tt + tt * ss


class SymmetricRBM(NQSModel):
    """Translation-invariant RBM: F = alpha filters ``W_f`` shared over the lattice translations T_t,

    ``log psi(s) = a sum_i s_i + sum_{f,t} log cosh(b_f + sum_i W_{f,i} s_{T_t(i)})``.

    It is an RBM with ``M = F n_T`` hidden units and tied weights ``W_{(f,t), j} = W_{f, T_t^{-1}(j)}``;
    :meth:`as_cached` builds that RBM (once per VMC step) so the O(kM) cache applies unchanged.
    """

    visible_bias: jax.Array  # (1,)
    hidden_bias: jax.Array  # (F,)
    filters: jax.Array  # (F, N)
    inverse_translations: tuple = eqx.field(static=True)  # (n_T, N) as nested tuples (hashable)

    def __init__(
        self,
        translations: np.ndarray,
        alpha: int = 1,
        *,
        key: jax.Array,
        complex_params: bool = False,
        dtype=jnp.float64,
        init_std: float = 0.01,
    ):
        translations = np.asarray(translations)
        if alpha <= 0 or int(alpha) != alpha:
            raise NqgInputError(f"alpha of a symmetric RBM must be a positive integer, got {alpha}")
        n_t, n = translations.shape
        inv = np.empty_like(translations)
        for t in range(n_t):
            inv[t, translations[t]] = np.arange(n)
        self.inverse_translations = tuple(map(tuple, inv.tolist()))
        dt = _param_dtype(dtype, complex_params)
        k1, k2, k3 = jax.random.split(key, 3)
        self.visible_bias = _normal(k1, (1,), init_std, dt)
        self.hidden_bias = _normal(k2, (int(alpha),), init_std, dt)
        self.filters = _normal(k3, (int(alpha), n), init_std, dt)

    @property
    def n_sites(self) -> int:
        return int(self.filters.shape[1])

    def as_cached(self) -> RBM:
        f, n = self.filters.shape
        inv = np.asarray(self.inverse_translations)
        n_t = inv.shape[0]
        w = self.filters[:, inv].reshape(f * n_t, n)  # W[(f,t), j] = W_f[T_t^-1(j)]
        rbm = object.__new__(RBM)
        object.__setattr__(rbm, "visible_bias", jnp.broadcast_to(self.visible_bias, (n,)))
        object.__setattr__(rbm, "hidden_bias", jnp.repeat(self.hidden_bias, n_t))
        object.__setattr__(rbm, "weights", w)
        return rbm

    def __call__(self, s):
        return self.as_cached()(s)


# ---------------------------------------------------------------------------- FFNN

_ACTIVATIONS = {
    "log_cosh": log_cosh,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "relu": jax.nn.relu,
    "softplus": jax.nn.softplus,
}


class FFNN(NQSModel):
    """Feed-forward network wave function with one or more hidden layers.

    ``h_0 = s``, ``h_l = g(W_l h_{l-1} + b_l)``. Output forms:

    * ``"log_sum"`` (default): ``log psi = sum_i h_{L,i}`` (with g = log cosh and one layer this is an
      RBM without visible bias);
    * ``"amplitude"`` (feedforward network states): ``psi = sum_i f_i sigma(W_L h_{L-1} + b_L)_i``,
      ``log psi = log psi`` taken complex (a negative amplitude gives imaginary part pi).
    """

    layers: list
    output_weights: jax.Array | None
    activation: str = eqx.field(static=True)
    output: str = eqx.field(static=True)

    def __init__(
        self,
        n_sites: int,
        hidden: Sequence[int] | int,
        *,
        key: jax.Array,
        activation: str = "log_cosh",
        output: str = "log_sum",
        complex_params: bool = False,
        dtype=jnp.float64,
        init_std: float | None = None,
    ):
        hidden = [hidden] if isinstance(hidden, int) else list(hidden)
        if not hidden or any(int(h) != h or h < 1 for h in hidden):
            raise NqgInputError(f"hidden layer sizes must be positive integers, got {hidden}")
        if activation not in _ACTIVATIONS:
            raise NqgInputError(f"unknown activation {activation!r}; choose from {sorted(_ACTIVATIONS)}")
        if output not in ("log_sum", "amplitude"):
            raise NqgInputError(f"output must be 'log_sum' or 'amplitude', got {output!r}")
        dt = _param_dtype(dtype, complex_params)
        keys = jax.random.split(key, len(hidden) + 1)
        sizes = [n_sites, *[int(h) for h in hidden]]
        self.layers = []
        for k, (a, b) in zip(keys[:-1], itertools.pairwise(sizes), strict=True):
            kw, kb = jax.random.split(k)
            std = init_std if init_std is not None else 1.0 / np.sqrt(a)
            self.layers.append((_normal(kw, (b, a), std, dt), _normal(kb, (b,), 0.01, dt)))
        self.activation = activation
        self.output = output
        self.output_weights = (
            _normal(keys[-1], (sizes[-1],), 1.0 / np.sqrt(sizes[-1]), dt) + 1.0
            if output == "amplitude"
            else None
        )

    @property
    def n_sites(self) -> int:
        return int(self.layers[0][0].shape[1])

    def __call__(self, s):
        h = s.astype(jnp.real(self.layers[0][0]).dtype)
        g = _ACTIVATIONS[self.activation]
        for i, (w, b) in enumerate(self.layers):
            z = w @ h + b
            last = i == len(self.layers) - 1
            h = jax.nn.sigmoid(z) if (last and self.output == "amplitude") else g(z)
        if self.output == "log_sum":
            return jnp.sum(h)
        amp = self.output_weights @ h
        cdt = jnp.complex128 if jnp.real(amp).dtype == jnp.float64 else jnp.complex64
        return jnp.log(amp.astype(cdt))


def count_parameters(model: eqx.Module) -> int:
    """Number of (complex counts as one) trainable scalars."""
    return int(sum(x.size for x in jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_inexact_array))))
