"""Gauge symmetries of the linear neural ODE (arXiv:2402.02362, section 4).

The linear neural ODE ``x'(t) = w(t) x(t) + b(t)``, ``x`` in R^d, maps ``x(0)`` to ``x(T)``:

    x(t2) = W(t1, t2) x(t1) + int_{t1}^{t2} W(s, t2) b(s) ds,     W(t1, t2) = P exp int_{t1}^{t2} w

with the Wilson line (path-ordered exponential, later times to the left). With the augmented state
``(x, 1)`` the affine map is the Wilson line of the connection ``[[w, b], [0, 0]]``; :func:`wilson_line`
computes it with the fourth-order Magnus integrator (two Gauss-Legendre nodes per step,
``Omega = h/2 (A_1 + A_2) + sqrt(3)/12 h^2 [A_2, A_1]``), :func:`solve_diffrax` with an adaptive
Dormand-Prince 8(7) solver.

Transformations that leave the map ``x(0) -> x(T)`` unchanged:

- spatial gauge ``x -> G(t) x``, ``G(0) = G(T) = 1``: ``w -> G w G^{-1} + G' G^{-1}``, ``b -> G b``; the
  Wilson line transforms covariantly, ``W(t1, t2) -> G(t2) W(t1, t2) G(t1)^{-1}``;
- time reparametrisation ``x~(t) = x(phi(t))``, ``phi(0) = 0``, ``phi(T) = T``: ``w -> phi' w(phi)``,
  ``b -> phi' b(phi)``;
- affine shift ``x -> x + c(t)``, ``c(0) = c(T) = 0``: ``b -> b + c' - w c``.

``w, b`` and the generators ``g, phi, c`` are trainable functions of time (:class:`ChebyshevPolynomial`,
:class:`MLPFunction`, :class:`PiecewiseLinear`); derivatives in time are taken by forward-mode autodiff.

**Discrete and continuous.** :class:`ResidualNetwork` ``x_{l+1} = s((1 + dt w_l) x_l + dt b_l)`` (linear
last layer) is, for ``s`` the identity, the Euler discretisation of the ODE; for ``s = ReLU`` it is an MLP
of :mod:`nqg.networks.symmetries` with layer matrices ``1 + dt w_l``. A gauge transformation sampled at
the layer times, ``G_l = G(l dt)``, acts as ``1 + dt w_l -> G_{l+1} (1 + dt w_l) G_l^{-1}``,
``dt b_l -> G_{l+1} dt b_l``: for a positive diagonal ``G`` this is exactly the rescaling symmetry with
``D_l = G(t_l)`` (:func:`discrete_gauge_transform`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from nqg import rng
from nqg.errors import NqgInputError

# ----------------------------------------------------------------------------- trainable functions of t


def matrix_exponential(a: jax.Array, order: int = 14, max_squarings: int = 30) -> jax.Array:
    """``exp(a)`` of a square matrix by scaling and squaring of a Taylor polynomial: ``(sum_k^order
    (a / 2^s)^k / k!)^(2^s)`` with ``2^s >= 2 ||a||_1`` (a truncation error below ``2^-order/order!`` per
    factor). Branch-free, so it is cheap to compile under ``vmap`` / ``jvp`` / ``grad``."""
    norm = jnp.max(jnp.sum(jnp.abs(a), axis=-2))
    s = jnp.clip(jnp.ceil(jnp.log2(jnp.maximum(norm, 1e-300))) + 1, 0, max_squarings)
    x = a / 2.0**s
    eye = jnp.eye(a.shape[-1], dtype=a.dtype)
    term, out = eye, eye
    for k in range(1, order + 1):
        term = term @ x / k
        out = out + term

    def square(i: int, m: jax.Array) -> jax.Array:
        return jnp.where(i < s, m @ m, m)

    return jax.lax.fori_loop(0, max_squarings, square, out)


def time_derivative(f: Callable[[jax.Array], jax.Array], t: Any) -> tuple[jax.Array, jax.Array]:
    """``(f(t), f'(t))`` by forward-mode autodiff."""
    t = jnp.asarray(t)
    return jax.jvp(f, (t,), (jnp.ones_like(t),))


def _kinks_of(tree: Any) -> np.ndarray:
    """Times where some piecewise-linear function inside ``tree`` has a kink."""
    out = [np.zeros(0)]
    for leaf in jax.tree_util.tree_leaves(tree, is_leaf=lambda x: hasattr(x, "kinks")):
        if hasattr(leaf, "kinks"):
            out.append(np.asarray(leaf.kinks(), dtype=float))
    return np.unique(np.concatenate(out))


class ChebyshevPolynomial(eqx.Module):
    """``f(t) = sum_k c_k T_k(2 t / T - 1)`` on ``[0, T]`` (Chebyshev basis: well conditioned to train);
    ``coeffs`` of shape ``(degree + 1, *shape)``."""

    coeffs: jax.Array
    T: float = eqx.field(static=True)

    def __call__(self, t: Any) -> jax.Array:
        u = 2.0 * jnp.asarray(t, self.coeffs.dtype) / self.T - 1.0
        t_prev, t_cur = jnp.ones_like(u), u
        out = self.coeffs[0] * t_prev
        if self.coeffs.shape[0] > 1:
            out = out + self.coeffs[1] * t_cur
        for k in range(2, self.coeffs.shape[0]):
            t_prev, t_cur = t_cur, 2.0 * u * t_cur - t_prev
            out = out + self.coeffs[k] * t_cur
        return out

    @classmethod
    def random(
        cls,
        key: jax.Array,
        degree: int,
        shape: tuple[int, ...],
        T: float,
        scale: float = 1.0,
        dtype: Any = None,
    ) -> ChebyshevPolynomial:
        """Coefficients ``c_k ~ N(0, (scale / (k + 1))^2)`` (smooth random functions)."""
        dtype = dtype or jnp.zeros(()).dtype
        c = rng.normal(key, (degree + 1, *shape), dtype)
        decay = (scale / jnp.arange(1, degree + 2, dtype=dtype)).reshape((-1,) + (1,) * len(shape))
        return cls(c * decay, float(T))

    @classmethod
    def constant(cls, value: Any, degree: int, T: float) -> ChebyshevPolynomial:
        value = jnp.asarray(value)
        if not jnp.issubdtype(value.dtype, jnp.inexact):
            value = value.astype(jnp.zeros(()).dtype)
        coeffs = jnp.zeros((degree + 1, *value.shape), value.dtype).at[0].set(value)
        return cls(coeffs, float(T))


class MLPFunction(eqx.Module):
    """``f(t) = MLP(2 t / T - 1)`` reshaped to ``shape`` (tanh hidden layers: smooth in ``t``)."""

    mlp: eqx.nn.MLP
    shape: tuple[int, ...] = eqx.field(static=True)
    T: float = eqx.field(static=True)

    def __call__(self, t: Any) -> jax.Array:
        u = 2.0 * jnp.asarray(t) / self.T - 1.0
        return self.mlp(u[None].astype(self.mlp.layers[0].weight.dtype)).reshape(self.shape)

    @classmethod
    def random(
        cls,
        key: jax.Array,
        shape: tuple[int, ...],
        T: float,
        width: int = 16,
        depth: int = 2,
        scale: float = 1.0,
        dtype: Any = None,
    ) -> MLPFunction:
        dtype = dtype or jnp.zeros(()).dtype
        mlp = eqx.nn.MLP(1, int(np.prod(shape)), width, depth, activation=jnp.tanh, key=key, dtype=dtype)
        last = mlp.layers[-1]
        mlp = eqx.tree_at(lambda m: m.layers[-1].weight, mlp, scale * last.weight)
        mlp = eqx.tree_at(lambda m: m.layers[-1].bias, mlp, scale * last.bias)
        return cls(mlp, tuple(shape), float(T))


class PiecewiseLinear(eqx.Module):
    """Linear interpolation of ``values[i]`` at the knots ``t_i = i T / (n - 1)``; ``values: (n, *shape)``."""

    values: jax.Array
    T: float = eqx.field(static=True)

    def __call__(self, t: Any) -> jax.Array:
        n = self.values.shape[0]
        s = jnp.asarray(t, self.values.dtype) / self.T * (n - 1)
        i = jnp.clip(jnp.floor(s), 0, n - 2).astype(jnp.int32)
        frac = s - i
        return self.values[i] * (1.0 - frac) + self.values[i + 1] * frac

    def kinks(self) -> np.ndarray:
        n = self.values.shape[0]
        return np.linspace(0.0, self.T, n)[1:-1]

    @classmethod
    def random(
        cls,
        key: jax.Array,
        n_knots: int,
        shape: tuple[int, ...],
        T: float,
        scale: float = 1.0,
        dtype: Any = None,
    ) -> PiecewiseLinear:
        dtype = dtype or jnp.zeros(()).dtype
        return cls(scale * rng.normal(key, (n_knots, *shape), dtype), float(T))


FUNCTION_KINDS = ("polynomial", "mlp", "piecewise_linear")


def random_function(
    kind: str, key: jax.Array, shape: tuple[int, ...], T: float, scale: float = 1.0, dtype: Any = None
) -> eqx.Module:
    """A random smooth trainable function of ``t`` of the given kind and output ``shape``."""
    if kind == "polynomial":
        return ChebyshevPolynomial.random(key, 5, shape, T, scale, dtype)
    if kind == "mlp":
        return MLPFunction.random(key, shape, T, scale=scale, dtype=dtype)
    if kind == "piecewise_linear":
        return PiecewiseLinear.random(key, 9, shape, T, scale, dtype)
    raise NqgInputError(f"unknown function kind {kind!r}; allowed: {', '.join(FUNCTION_KINDS)}")


# ----------------------------------------------------------------------------- the linear neural ODE


class LinearNeuralODE(eqx.Module):
    """``x' = w(t) x + b(t)`` on ``[0, T]``; ``w(t): (d, d)``, ``b(t): (d,)``."""

    w: Callable[[jax.Array], jax.Array]
    b: Callable[[jax.Array], jax.Array]
    T: float = eqx.field(static=True)

    def drift(self, t: Any) -> jax.Array:
        return self.w(t)

    def source(self, t: Any) -> jax.Array:
        return self.b(t)

    def vector_field(self, t: Any, x: jax.Array) -> jax.Array:
        """``w(t) x + b(t)`` for ``x`` of shape ``(..., d)``."""
        return x @ self.w(t).T + self.b(t)

    def kinks(self) -> np.ndarray:
        """Times where ``w`` or ``b`` is not smooth (jump times for the solvers)."""
        return _kinks_of((self.w, self.b))

    @property
    def dim(self) -> int:
        return int(jnp.shape(self.b(0.0))[0])

    @classmethod
    def random(
        cls,
        key: jax.Array,
        dim: int,
        T: float,
        kind: str = "polynomial",
        scale: float = 0.6,
        dtype: Any = None,
    ) -> LinearNeuralODE:
        kw, kb = jax.random.split(key)
        return cls(
            random_function(kind, kw, (dim, dim), T, scale, dtype),
            random_function(kind, kb, (dim,), T, scale, dtype),
            float(T),
        )


def _time_grid(t1: float, t2: float, kinks: np.ndarray, n_steps: int) -> np.ndarray:
    """A grid from ``t1`` to ``t2`` with ~``n_steps`` steps that has every kink in between as a node."""
    lo, hi = min(t1, t2), max(t1, t2)
    inner = kinks[(kinks > lo) & (kinks < hi)] if kinks.size else kinks
    breaks = np.unique(np.concatenate([[lo, hi], inner]))
    pieces = []
    for a, b in itertools.pairwise(breaks):
        n = max(1, int(np.ceil(n_steps * (b - a) / max(hi - lo, 1e-300))))
        pieces.append(np.linspace(a, b, n + 1)[:-1])
    grid = np.concatenate([*pieces, [hi]])
    return grid if t2 >= t1 else grid[::-1]


def augmented_connection(ode: LinearNeuralODE, t: Any) -> jax.Array:
    """``[[w(t), b(t)], [0, 0]]``: the connection whose Wilson line is the affine map on ``(x, 1)``."""
    w, b = ode.w(t), ode.b(t)
    d = b.shape[0]
    top = jnp.concatenate([w, b[:, None]], axis=1)
    return jnp.concatenate([top, jnp.zeros((1, d + 1), w.dtype)], axis=0)


def wilson_line(
    ode: LinearNeuralODE, t1: float = 0.0, t2: float | None = None, n_steps: int = 800
) -> tuple[jax.Array, jax.Array]:
    """The affine transport ``x(t2) = W x(t1) + v`` with ``W = P exp int_{t1}^{t2} w`` (the Wilson line).

    Fourth-order Magnus integrator on a grid of ~``n_steps`` steps that has the kinks of
    piecewise-linear coefficients as nodes (global error ``O(h^4)``). Returns ``(W, v)``.
    """
    t2 = ode.T if t2 is None else t2
    grid = _time_grid(float(t1), float(t2), ode.kinks(), int(n_steps))
    dtype = jnp.result_type(ode.b(jnp.asarray(0.0)))
    return _magnus_transport(ode, jnp.asarray(grid[:-1], dtype), jnp.asarray(grid[1:], dtype))


@eqx.filter_jit
def _magnus_transport(ode: LinearNeuralODE, ta: jax.Array, tb: jax.Array) -> tuple[jax.Array, jax.Array]:
    h = tb - ta
    c = float(np.sqrt(3.0)) / 6.0
    conn = jax.vmap(lambda t: augmented_connection(ode, t))
    a1 = conn(ta + (0.5 - c) * h)
    a2 = conn(ta + (0.5 + c) * h)
    hh = h[:, None, None]
    omega = 0.5 * hh * (a1 + a2) + (float(np.sqrt(3.0)) / 12.0) * hh**2 * (a2 @ a1 - a1 @ a2)
    steps = jax.vmap(lambda om: matrix_exponential(om, max_squarings=12))(omega)  # |Omega| < 2^11

    def compose(acc: jax.Array, step: jax.Array) -> tuple[jax.Array, None]:
        return step @ acc, None

    d1 = steps.shape[-1]
    total, _ = jax.lax.scan(compose, jnp.eye(d1, dtype=ta.dtype), steps)
    return total[:-1, :-1], total[:-1, -1]


def transport(ode: LinearNeuralODE, x0: jax.Array, n_steps: int = 800) -> jax.Array:
    """``x(T)`` from ``x(0)`` (shape ``(..., d)``) through the Wilson line."""
    W, v = wilson_line(ode, 0.0, ode.T, n_steps)
    return x0 @ W.T + v


def solve_diffrax(
    ode: LinearNeuralODE,
    x0: jax.Array,
    t1: float = 0.0,
    t2: float | None = None,
    rtol: float = 1e-12,
    atol: float = 1e-12,
    max_steps: int = 200_000,
) -> jax.Array:
    """``x(t2)`` from ``x(t1)`` (shape ``(..., d)``) with diffrax (Dopri8, adaptive, kinks as jump times)."""
    t2 = ode.T if t2 is None else t2
    kinks = ode.kinks()
    x0 = jnp.asarray(x0)
    jump_ts = jnp.asarray(kinks, x0.dtype) if kinks.size else None
    return _diffrax_solve(
        ode, x0, jnp.asarray(t1, x0.dtype), jnp.asarray(t2, x0.dtype), jump_ts, rtol, atol, max_steps
    )


@eqx.filter_jit
def _diffrax_solve(
    ode: LinearNeuralODE,
    x0: jax.Array,
    t1: jax.Array,
    t2: jax.Array,
    jump_ts: jax.Array | None,
    rtol: float,
    atol: float,
    max_steps: int,
) -> jax.Array:
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(lambda t, x, args: ode.vector_field(t, x)),
        diffrax.Dopri8(),
        t0=t1,
        t1=t2,
        dt0=None,
        y0=x0,
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol, jump_ts=jump_ts),
        max_steps=max_steps,
    )
    return sol.ys[-1]


# ----------------------------------------------------------------------------- gauge transformations


def _pin(f: Callable, t: jax.Array, T: float, pin_end: bool) -> jax.Array:
    """``f(t) - f(0) - (t / T)(f(T) - f(0))`` (zero at both ends) or ``f(t) - f(0)``."""
    t = jnp.asarray(t)
    f0 = f(jnp.zeros_like(t))
    out = f(t) - f0
    if pin_end:
        out = out - (t / T) * (f(jnp.full_like(t, T)) - f0)
    return out


class GaugeTransformation(eqx.Module):
    """``G(t) = expm(g^(t))`` from a trainable generator ``g``; ``g(t): (d, d)`` (a general ``G`` in
    GL(d)) or ``(d,)`` (``G = diag(e^{g^})``: positive rescaling). ``g^ = g - g(0)`` so that ``G(0) = 1``;
    with ``pin_end`` also ``g^(T) = 0``, i.e. ``G(T) = 1`` (then the map ``x(0) -> x(T)`` is invariant)."""

    g: Callable[[jax.Array], jax.Array]
    T: float = eqx.field(static=True)
    pin_end: bool = eqx.field(static=True, default=True)

    def generator(self, t: Any) -> jax.Array:
        return _pin(self.g, t, self.T, self.pin_end)

    def matrix(self, t: Any) -> jax.Array:
        gen = self.generator(t)
        return jnp.diag(jnp.exp(gen)) if gen.ndim == 1 else matrix_exponential(gen)

    def matrix_and_derivative(self, t: Any) -> tuple[jax.Array, jax.Array]:
        return time_derivative(self.matrix, t)

    def kinks(self) -> np.ndarray:
        return _kinks_of(self.g)


class _GaugeDrift(eqx.Module):
    w: Callable
    gauge: GaugeTransformation

    def __call__(self, t: Any) -> jax.Array:
        G, dG = self.gauge.matrix_and_derivative(t)
        num = G @ self.w(t) + dG
        return jnp.linalg.solve(G.T, num.T).T  # (G w + G') G^{-1}


class _GaugeSource(eqx.Module):
    b: Callable
    gauge: GaugeTransformation

    def __call__(self, t: Any) -> jax.Array:
        return self.gauge.matrix(t) @ self.b(t)


def gauge_transform(ode: LinearNeuralODE, gauge: GaugeTransformation) -> LinearNeuralODE:
    """``w -> G w G^{-1} + G' G^{-1}``, ``b -> G b``: the ODE of ``x~ = G(t) x``."""
    return LinearNeuralODE(_GaugeDrift(ode.w, gauge), _GaugeSource(ode.b, gauge), ode.T)


def _exp_integral(a: jax.Array, slope: jax.Array, length: jax.Array) -> jax.Array:
    """``int_0^length exp(a + slope s) ds = e^a length (e^z - 1) / z``, ``z = slope length``."""
    z = slope * length
    small = jnp.abs(z) < 1e-4
    z_safe = jnp.where(small, 1.0, z)
    rel = jnp.where(small, 1.0 + z / 2.0 + z**2 / 6.0 + z**3 / 24.0, jnp.expm1(z_safe) / z_safe)
    return jnp.exp(a) * length * rel


class Reparametrisation(eqx.Module):
    """A diffeomorphism of ``[0, T]`` fixing both ends, ``phi(t) = T I(t/T) / I(1)``,
    ``I(u) = int_0^u exp(h(v T)) dv`` (Gauss-Legendre, ``n_quad`` nodes, the same rule at every ``t``, so
    ``phi(0) = 0`` and ``phi(T) = T`` exactly and ``phi'`` is the exact derivative of ``phi``); for a
    piecewise-linear ``h`` the integral is exact."""

    h: Callable[[jax.Array], jax.Array]
    T: float = eqx.field(static=True)
    n_quad: int = eqx.field(static=True, default=40)

    def _integral(self, u: jax.Array) -> jax.Array:
        if isinstance(self.h, PiecewiseLinear):  # exact: exp of a linear function on each segment
            vals = jnp.reshape(self.h.values, (self.h.values.shape[0],))
            n = vals.shape[0]
            step = 1.0 / (n - 1)
            slopes = jnp.diff(vals) / step
            full = jnp.concatenate(
                [jnp.zeros(1, u.dtype), jnp.cumsum(_exp_integral(vals[:-1], slopes, step))]
            )
            s = u * (n - 1)
            i = jnp.clip(jnp.floor(s), 0, n - 2).astype(jnp.int32)
            return full[i] + _exp_integral(vals[i], slopes[i], u - i * step)
        x, wts = np.polynomial.legendre.leggauss(self.n_quad)
        nodes = jnp.asarray((x + 1.0) / 2.0, u.dtype) * u
        vals = jax.vmap(lambda v: jnp.exp(jnp.reshape(self.h(v * self.T), ())))(nodes)
        return u * jnp.sum(jnp.asarray(wts / 2.0, u.dtype) * vals)

    def kinks(self) -> np.ndarray:
        return _kinks_of(self.h)

    def __call__(self, t: Any) -> jax.Array:
        t = jnp.asarray(t)
        one = jnp.ones_like(t)
        return self.T * self._integral(t / self.T) / self._integral(one)

    def inverse(self, s: Any, iterations: int = 60) -> jax.Array:
        """``phi^{-1}(s)`` by bisection (``phi`` increasing)."""
        s = jnp.asarray(s)
        lo, hi = jnp.zeros_like(s), jnp.full_like(s, self.T)

        def body(_, bounds):
            lo, hi = bounds
            mid = 0.5 * (lo + hi)
            below = self(mid) < s
            return jnp.where(below, mid, lo), jnp.where(below, hi, mid)

        lo, hi = jax.lax.fori_loop(0, iterations, body, (lo, hi))
        return 0.5 * (lo + hi)


class _ReparamCoefficient(eqx.Module):
    f: Callable
    phi: Reparametrisation

    def __call__(self, t: Any) -> jax.Array:
        p, dp = time_derivative(self.phi, t)
        return dp * self.f(p)

    def kinks(self) -> np.ndarray:
        inner = _kinks_of(self.f)
        own = self.phi.kinks()
        if not inner.size:
            return own
        return np.unique(np.concatenate([own, np.asarray(jax.vmap(self.phi.inverse)(jnp.asarray(inner)))]))


def reparametrise(ode: LinearNeuralODE, phi: Reparametrisation) -> LinearNeuralODE:
    """``w -> phi' w(phi)``, ``b -> phi' b(phi)``: the ODE of ``x~(t) = x(phi(t))``."""
    return LinearNeuralODE(_ReparamCoefficient(ode.w, phi), _ReparamCoefficient(ode.b, phi), ode.T)


class AffineShift(eqx.Module):
    """``c^(t) = c(t) - c(0) - (t / T)(c(T) - c(0))``: a shift vanishing at both ends."""

    c: Callable[[jax.Array], jax.Array]
    T: float = eqx.field(static=True)

    def __call__(self, t: Any) -> jax.Array:
        return _pin(self.c, t, self.T, True)

    def kinks(self) -> np.ndarray:
        return _kinks_of(self.c)


class _ShiftedSource(eqx.Module):
    w: Callable
    b: Callable
    shift: AffineShift

    def __call__(self, t: Any) -> jax.Array:
        c, dc = time_derivative(self.shift, t)
        return self.b(t) + dc - self.w(t) @ c


def affine_shift(ode: LinearNeuralODE, shift: AffineShift) -> LinearNeuralODE:
    """``b -> b + c' - w c``: the ODE of ``x~ = x + c(t)``."""
    return LinearNeuralODE(ode.w, _ShiftedSource(ode.w, ode.b, shift), ode.T)


# ----------------------------------------------------------------------------- residual networks


class ResidualNetwork(eqx.Module):
    """``x_{l+1} = s((1 + dt w_l) x_l + dt b_l)`` for ``l < L - 1``, the last layer linear; ``w: (L, d, d)``,
    ``b: (L, d)``. With ``s`` the identity this is the Euler discretisation of ``x' = w x + b``."""

    w: jax.Array
    b: jax.Array
    dt: float = eqx.field(static=True)
    activation: str = eqx.field(static=True, default="relu")

    @classmethod
    def from_ode(cls, ode: LinearNeuralODE, n_layers: int, activation: str = "relu") -> ResidualNetwork:
        """Sample ``w, b`` at the layer times ``t_l = l dt``, ``dt = T / L`` (forward Euler)."""
        dt = ode.T / n_layers
        ts = jnp.arange(n_layers) * dt
        return cls(jax.vmap(ode.w)(ts), jax.vmap(ode.b)(ts), float(dt), activation)

    @property
    def layer_times(self) -> np.ndarray:
        return np.arange(self.w.shape[0] + 1) * self.dt

    def as_mlp(self) -> list[tuple[jax.Array, jax.Array]]:
        """The same network as MLP parameters ``[(1 + dt w_l, dt b_l)]`` (see :mod:`.symmetries`)."""
        eye = jnp.eye(self.w.shape[-1], dtype=self.w.dtype)
        return [(eye + self.dt * self.w[i], self.dt * self.b[i]) for i in range(self.w.shape[0])]

    @classmethod
    def from_mlp(
        cls, params: list[tuple[jax.Array, jax.Array]], dt: float, activation: str = "relu"
    ) -> ResidualNetwork:
        eye = jnp.eye(params[0][0].shape[0], dtype=params[0][0].dtype)
        return cls(
            jnp.stack([(w - eye) / dt for w, _ in params]),
            jnp.stack([b / dt for _, b in params]),
            float(dt),
            activation,
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        from nqg.networks.symmetries import mlp_apply

        return mlp_apply(self.as_mlp(), x, self.activation)


def discrete_gauge_transform(net: ResidualNetwork, G_layers: jax.Array) -> ResidualNetwork:
    """``1 + dt w_l -> G_{l+1} (1 + dt w_l) G_l^{-1}``, ``b_l -> G_{l+1} b_l`` with ``G_l = G(t_l)``,
    ``G_0 = G_L = 1``: the gauge transformation at the layer times (``O(dt)`` from the continuum one)."""
    mlp = net.as_mlp()
    out = []
    for i, (a, beta) in enumerate(mlp):
        a = G_layers[i + 1] @ jnp.linalg.solve(G_layers[i].T, a.T).T
        out.append((a, G_layers[i + 1] @ beta))
    return ResidualNetwork.from_mlp(out, net.dt, net.activation)


def gauge_at_layers(gauge: GaugeTransformation, net: ResidualNetwork) -> jax.Array:
    """``G(t_l)`` at the layer times ``t_0 .. t_L``: shape ``(L + 1, d, d)``."""
    return jax.vmap(gauge.matrix)(jnp.asarray(net.layer_times, net.w.dtype))


def layer_log_scales(gauge: GaugeTransformation, net: ResidualNetwork) -> list[jax.Array]:
    """For a diagonal gauge ``G = diag(e^{g^})``: the log-scales ``g^(t_l)`` of the hidden layers
    ``l = 1 .. L - 1``, i.e. the ``D_l = G(t_l)`` of :func:`nqg.networks.symmetries.rescale_neurons`."""
    ts = jnp.asarray(net.layer_times[1:-1], net.w.dtype)
    return list(jax.vmap(gauge.generator)(ts))
