"""The bulk scalar equation of motion as a deep network (AdS/DL, arXiv:1802.08313).

A scalar field in the bulk metric ``ds^2 = -f(eta) dt^2 + d eta^2 + g(eta) dx_i^2`` (``d`` boundary
dimensions, ``eta`` the radial coordinate, boundary at large ``eta``, horizon at ``eta -> 0``) obeys

    phi''(eta) + h(eta) phi'(eta) - dV/dphi = 0,     h(eta) = d/deta log sqrt(f g^(d-1)),
    V(phi) = m^2 phi^2 / 2 + lambda phi^4 / 4,       dV/dphi = m^2 phi + lambda phi^3.

With ``pi = phi'`` and ``N`` layers from ``eta_ini`` to ``eta_fin`` (``d_eta = (eta_fin - eta_ini)/N``,
negative when integrating from the boundary inward) the explicit-Euler discretisation of
arXiv:1802.08313 eq. (3.3) is the residual network

    phi_{n+1} = phi_n + d_eta pi_n,
    pi_{n+1}  = pi_n + d_eta (-h_n pi_n + dV/dphi(phi_n)),      h_n = h(eta_n), eta_n = eta_ini + n d_eta,

whose weights are the metric values ``h_n``. Two models are provided:

- :class:`DiscreteBulkNetwork`: the residual network above with trainable ``h_n`` (any N, d, m^2;
  lambda trainable or fixed);
- :class:`NeuralODEBulk`: the continuum equation solved with diffrax, ``h(eta)`` a trainable
  polynomial (:class:`NodalPolynomialMetric`: its values at Chebyshev-Lobatto nodes, the basis the
  holographic fits train in; :class:`PolynomialMetric`: monomial coefficients in ``(1 - eta)``) or an
  :class:`MLPMetric`.

Both act elementwise on arrays ``phi, pi`` of any (batch) shape. An ensemble of seeds is one model
with stacked parameters (leading axis): build it with :func:`make_ensemble` and evaluate it with
``eqx.filter_vmap`` (see :func:`ensemble_call`) so error bars come from one compiled run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array

__all__ = [
    "DiscreteBulkNetwork",
    "MLPMetric",
    "NeuralODEBulk",
    "NodalPolynomialMetric",
    "PolynomialMetric",
    "ads_schwarzschild_h",
    "ads_schwarzschild_metric",
    "chebyshev_lobatto_nodes",
    "ensemble_call",
    "ensemble_loss",
    "layer_etas",
    "make_ensemble",
    "metric_h",
    "phi4_force",
    "propagate",
    "propagate_trajectory",
    "pure_ads_h",
    "smoothness_penalty",
]


# --------------------------------------------------------------------------------------------------
# Generic propagation
# --------------------------------------------------------------------------------------------------
def _scan_layers(h, phi, pi, d_eta, force: Callable, *, emit: bool):
    """``lax.scan`` of the layer step over ``h``: ``((phi_N, pi_N), ys)``, ``ys`` every layer's
    output ``(phi_{n+1}, pi_{n+1})`` stacked when ``emit`` (else None)."""

    def layer(carry, h_n):
        phi_n, pi_n = carry
        out = (phi_n + d_eta * pi_n, pi_n + d_eta * (-h_n * pi_n + force(phi_n)))
        return out, out if emit else None

    return jax.lax.scan(layer, (jnp.asarray(phi), jnp.asarray(pi)), jnp.asarray(h))


def propagate(h, phi, pi, d_eta, force: Callable) -> tuple[Array, Array]:
    """Propagate ``(phi, pi)`` through the N layers of the bulk network (explicit Euler).

    For ``n = 0 .. N-1`` (``h`` has shape ``(N,)``)::

        phi <- phi + d_eta * pi
        pi  <- pi + d_eta * (-h[n] * pi + force(phi_old))

    i.e. arXiv:1802.08313 eq. (3.3): the ``pi`` update uses the ``phi`` *before* this layer's update.
    ``force(phi)`` is ``dV/dphi``. Works elementwise over any batch shape of ``phi``/``pi``
    (``lax.scan`` over layers). Returns ``(phi_N, pi_N)``.
    """
    (phi, pi), _ = _scan_layers(h, phi, pi, d_eta, force, emit=False)
    return phi, pi


def propagate_trajectory(h, phi, pi, d_eta, force: Callable) -> tuple[Array, Array]:
    """Like :func:`propagate` but returns every layer: arrays of shape ``(N + 1, *batch)``.

    Index 0 is the input ``(phi_0, pi_0)`` at ``eta_ini``, index N the output at ``eta_fin``.
    """
    phi = jnp.asarray(phi)
    pi = jnp.asarray(pi)
    _, (phis, pis) = _scan_layers(h, phi, pi, d_eta, force, emit=True)
    phis = jnp.concatenate([phi[None], phis], axis=0)
    pis = jnp.concatenate([pi[None], pis], axis=0)
    return phis, pis


def phi4_force(phi, m2, lam):
    """``dV/dphi = m^2 phi + lambda phi^3`` for ``V = m^2 phi^2/2 + lambda phi^4/4``."""
    return m2 * phi + lam * phi**3


def smoothness_penalty(h, etas, c_reg: float = 0.01) -> Array:
    """``c_reg sum_{n=0}^{N-2} eta_n^4 (h_{n+1} - h_n)^2`` (arXiv:1802.08313 eq. (3.9)): the metric
    ``h`` (N,) on the grid ``etas`` (N,)."""
    h = jnp.asarray(h)
    etas = jnp.asarray(etas)
    return c_reg * jnp.sum(etas[:-1] ** 4 * (h[1:] - h[:-1]) ** 2)


def layer_etas(eta_ini: float, eta_fin: float, n_layers: int) -> Array:
    """Positions ``eta_n = eta_ini + n d_eta`` (n = 0..N-1) at which layer n evaluates ``h``."""
    d_eta = (eta_fin - eta_ini) / n_layers
    return eta_ini + d_eta * jnp.arange(n_layers)


# --------------------------------------------------------------------------------------------------
# Metric helpers
# --------------------------------------------------------------------------------------------------
def metric_h(f: Callable, g: Callable, d: int) -> Callable:
    """``h(eta) = d/deta log sqrt(f(eta) g(eta)^(d-1))`` (by automatic differentiation).

    ``f, g``: scalar functions of ``eta``. Returns a function of ``eta`` (vectorised over arrays).
    """

    def log_volume(eta):
        return 0.5 * (jnp.log(f(eta)) + (d - 1) * jnp.log(g(eta)))

    return jnp.vectorize(jax.grad(log_volume))


def ads_schwarzschild_metric(eta, d: int) -> tuple[Array, Array]:
    """AdS-Schwarzschild (AdS radius 1, horizon at eta = 0) in the coordinate ``eta``.

    ``f = cosh(d eta/2)^(4/d - 2) sinh(d eta/2)^2``, ``g = cosh(d eta/2)^(4/d)``, so that
    ``sqrt(f g^(d-1)) = sinh(d eta)/2`` and ``h(eta) = d coth(d eta)``.
    """
    c = jnp.cosh(d * eta / 2)
    s = jnp.sinh(d * eta / 2)
    return c ** (4.0 / d - 2.0) * s**2, c ** (4.0 / d)


def ads_schwarzschild_h(eta, d: int) -> Array:
    """``h(eta) = d coth(d eta)`` of AdS-Schwarzschild (tends to ``d`` at the boundary)."""
    return d / jnp.tanh(d * jnp.asarray(eta))


def pure_ads_h(eta, d: int) -> Array:
    """``h(eta) = d`` of pure AdS (``f = g = e^(2 eta)``)."""
    return jnp.full_like(jnp.asarray(eta, dtype=float), float(d))


# --------------------------------------------------------------------------------------------------
# Discrete network
# --------------------------------------------------------------------------------------------------
class _QuarticBulk(eqx.Module):
    """What both bulk models share: the static settings ``m2, eta_ini, eta_fin, d, train_lambda``,
    the quartic coupling (gradient stopped unless ``train_lambda``) and the force ``dV/dphi``.
    Subclasses declare the array field ``lam`` after their own (so the leaf order is theirs)."""

    m2: float = eqx.field(static=True)
    eta_ini: float = eqx.field(static=True)
    eta_fin: float = eqx.field(static=True)
    d: int = eqx.field(static=True)
    train_lambda: bool = eqx.field(static=True)

    def _set_bulk(self, lam, m2, eta_ini, eta_fin, d, train_lambda) -> None:
        """Set the shared fields (from a subclass ``__init__``)."""
        self.lam = jnp.asarray(lam, dtype=float)
        self.m2 = float(m2)
        self.eta_ini = float(eta_ini)
        self.eta_fin = float(eta_fin)
        self.d = int(d)
        self.train_lambda = bool(train_lambda)

    @property
    def coupling(self) -> Array:
        return self.lam if self.train_lambda else jax.lax.stop_gradient(self.lam)

    def with_trainable_lambda(self, train_lambda: bool):
        """The same network with lambda trained (True) or held fixed (False)."""
        return dataclasses.replace(self, train_lambda=bool(train_lambda))

    def force(self, phi):
        """``dV/dphi = m^2 phi + lambda phi^3``."""
        return phi4_force(phi, self.m2, self.coupling)


class DiscreteBulkNetwork(_QuarticBulk):
    """Residual network of the bulk equation with trainable metric weights ``h_n``.

    Fields: ``h`` (N,) the metric at the layer positions :attr:`etas`; ``lam`` the quartic coupling
    (trained unless ``train_lambda=False``, in which case gradients to it are stopped); ``m2``,
    ``eta_ini``, ``eta_fin``, ``d`` static. Call ``net(phi, pi) -> (phi_N, pi_N)`` elementwise over
    any batch shape.
    """

    h: Array
    lam: Array

    def __init__(
        self,
        h,
        lam: float = 0.0,
        *,
        m2: float,
        eta_ini: float,
        eta_fin: float,
        d: int = 4,
        train_lambda: bool = True,
    ):
        self.h = jnp.asarray(h, dtype=float)
        self._set_bulk(lam, m2, eta_ini, eta_fin, d, train_lambda)

    @classmethod
    def random(
        cls,
        key,
        n_layers: int,
        *,
        h_mean: float,
        h_std: float,
        lam: float = 0.0,
        m2: float,
        eta_ini: float,
        eta_fin: float,
        d: int = 4,
        train_lambda: bool = True,
    ) -> DiscreteBulkNetwork:
        """A network with ``h_n ~ N(h_mean, h_std^2)`` independently per layer."""
        h = h_mean + h_std * jax.random.normal(key, (n_layers,))
        return cls(h, lam, m2=m2, eta_ini=eta_ini, eta_fin=eta_fin, d=d, train_lambda=train_lambda)

    @classmethod
    def from_metric(
        cls,
        h_fn: Callable,
        n_layers: int,
        *,
        lam: float = 0.0,
        m2: float,
        eta_ini: float,
        eta_fin: float,
        d: int = 4,
        train_lambda: bool = True,
    ) -> DiscreteBulkNetwork:
        """A network whose weights are a known metric sampled at the layer positions."""
        h = h_fn(layer_etas(eta_ini, eta_fin, n_layers))
        return cls(h, lam, m2=m2, eta_ini=eta_ini, eta_fin=eta_fin, d=d, train_lambda=train_lambda)

    @property
    def n_layers(self) -> int:
        return self.h.shape[-1]

    @property
    def d_eta(self) -> float:
        return (self.eta_fin - self.eta_ini) / self.n_layers

    @property
    def etas(self) -> Array:
        """Layer positions ``eta_n`` (n = 0..N-1) where ``h_n = h(eta_n)``."""
        return layer_etas(self.eta_ini, self.eta_fin, self.n_layers)

    def __call__(self, phi, pi) -> tuple[Array, Array]:
        return propagate(self.h, phi, pi, self.d_eta, self.force)

    def trajectory(self, phi, pi) -> tuple[Array, Array]:
        """All layers ``(N+1, *batch)``, at ``eta_ini + n d_eta``, n = 0..N."""
        return propagate_trajectory(self.h, phi, pi, self.d_eta, self.force)

    def smoothness_penalty(self, c_reg: float = 0.01) -> Array:
        """``c_reg * sum_n eta_n^4 (h_{n+1} - h_n)^2`` (arXiv:1802.08313 eq. (3.9))."""
        return smoothness_penalty(self.h, self.etas, c_reg)


# --------------------------------------------------------------------------------------------------
# Continuous network (neural ODE)
# --------------------------------------------------------------------------------------------------
class _MetricFunction(eqx.Module):
    """A trainable ``h(eta)``; subclasses define ``__call__``."""

    def smoothness_penalty(self, etas, c_reg: float = 0.01) -> Array:
        """Same form as the discrete penalty on a grid: ``c_reg sum eta^4 (h(eta_{n+1}) - h(eta_n))^2``."""
        return smoothness_penalty(self(etas), etas, c_reg)


class PolynomialMetric(_MetricFunction):
    """``h(eta) = sum_k c_k (1 - eta)^k`` (k = 0..degree), trainable coefficients ``c``."""

    coeffs: Array

    def __init__(self, coeffs):
        self.coeffs = jnp.asarray(coeffs, dtype=float)

    @classmethod
    def constant(cls, value: float, degree: int) -> PolynomialMetric:
        return cls(jnp.zeros(degree + 1).at[0].set(value))

    @property
    def degree(self) -> int:
        return self.coeffs.shape[-1] - 1

    def __call__(self, eta):
        return jnp.polyval(self.coeffs[::-1], 1.0 - eta)


def chebyshev_lobatto_nodes(eta_a: float, eta_b: float, n_nodes: int) -> tuple[float, ...]:
    """The ``n_nodes`` Chebyshev-Lobatto points of the interval between ``eta_a`` and ``eta_b``:
    ``eta_j = (eta_a + eta_b)/2 + (eta_a - eta_b)/2 cos(pi j/(n - 1))``, j = 0..n-1, so ``eta_0 = eta_a``
    and ``eta_{n-1} = eta_b`` (both ends are nodes)."""
    if n_nodes < 2:
        raise ValueError(f"n_nodes must be >= 2, got {n_nodes}")
    j = np.arange(n_nodes)
    nodes = 0.5 * (eta_a + eta_b) + 0.5 * (eta_a - eta_b) * np.cos(np.pi * j / (n_nodes - 1))
    return tuple(float(x) for x in nodes)


class NodalPolynomialMetric(_MetricFunction):
    """``h(eta)``: the polynomial of degree ``n - 1`` through the trainable values ``h_j = h(eta_j)`` at
    ``n`` Chebyshev-Lobatto nodes ``eta_j`` (:func:`chebyshev_lobatto_nodes`), evaluated by the
    barycentric formula ``h(eta) = sum_j [w_j/(eta - eta_j)] h_j / sum_j [w_j/(eta - eta_j)]`` with
    ``w_j = (-1)^j`` (halved at both ends).

    The same functions as :class:`PolynomialMetric` of that degree, in coordinates where each
    parameter moves ``h`` near one node: Adam's per-parameter step sizes then act like the discrete
    network's per-layer ones, whereas the monomials ``(1 - eta)^k`` on ``[1/15, 1]`` are nearly
    collinear and a diagonal optimiser crawls along their combinations. :attr:`coeffs` gives the
    monomial coefficients in ``(1 - eta)`` of the same polynomial (for tables and for code that reads
    a :class:`PolynomialMetric`).
    """

    values: Array
    nodes: tuple[float, ...] = eqx.field(static=True)

    def __init__(self, values, nodes: Sequence[float]):
        self.values = jnp.asarray(values, dtype=float)
        self.nodes = tuple(float(x) for x in nodes)
        if self.values.shape[-1] != len(self.nodes):
            raise ValueError(f"{self.values.shape[-1]} values for {len(self.nodes)} nodes")

    @classmethod
    def on_interval(cls, values, eta_a: float, eta_b: float) -> NodalPolynomialMetric:
        """Values at the Chebyshev-Lobatto nodes of ``[eta_a, eta_b]`` (``values[0]`` at ``eta_a``)."""
        values = jnp.asarray(values, dtype=float)
        return cls(values, chebyshev_lobatto_nodes(eta_a, eta_b, values.shape[-1]))

    @property
    def degree(self) -> int:
        return len(self.nodes) - 1

    def _barycentric_weights(self, dtype) -> Array:
        n = len(self.nodes)
        w = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
        w[0] *= 0.5
        w[-1] *= 0.5
        return jnp.asarray(w, dtype=dtype)

    def __call__(self, eta):
        values = self.values
        eta = jnp.asarray(eta, dtype=values.dtype)
        nodes = jnp.asarray(self.nodes, dtype=values.dtype)
        diff = eta[..., None] - nodes
        at_node = diff == 0
        terms = self._barycentric_weights(values.dtype) / jnp.where(at_node, 1.0, diff)
        interpolated = jnp.sum(terms * values, axis=-1) / jnp.sum(terms, axis=-1)
        exact = jnp.sum(jnp.where(at_node, values, 0.0), axis=-1)
        return jnp.where(jnp.any(at_node, axis=-1), exact, interpolated)

    @property
    def coeffs(self) -> Array:
        """Monomial coefficients ``c_k`` of ``h(eta) = sum_k c_k (1 - eta)^k`` (shape of ``values``)."""
        x = 1.0 - np.asarray(self.nodes)
        vandermonde = x[:, None] ** np.arange(len(self.nodes))[None, :]
        inverse = jnp.asarray(np.linalg.inv(vandermonde), dtype=self.values.dtype)
        return jnp.einsum("kj,...j->...k", inverse, self.values)


class MLPMetric(_MetricFunction):
    """``h(eta) = h0 + MLP(eta)``: a small tanh network with a fixed offset ``h0`` (e.g. ``d``)."""

    mlp: eqx.nn.MLP
    h0: float = eqx.field(static=True)

    def __init__(self, key, *, width: int = 16, depth: int = 2, h0: float = 0.0):
        self.mlp = eqx.nn.MLP("scalar", "scalar", width, depth, activation=jnp.tanh, key=key)
        self.h0 = float(h0)

    def __call__(self, eta):
        eta = jnp.asarray(eta)
        return self.h0 + jnp.vectorize(self.mlp)(eta)


class NeuralODEBulk(_QuarticBulk):
    """The continuum bulk equation ``phi'' + h(eta) phi' - m^2 phi - lambda phi^3 = 0`` solved with diffrax.

    ``metric``: any callable module ``eta -> h(eta)`` (:class:`NodalPolynomialMetric`,
    :class:`PolynomialMetric`, :class:`MLPMetric`).
    Integrates from ``eta_ini`` to ``eta_fin`` elementwise over the batch shape of ``phi, pi``.
    ``n_steps`` given: fixed step ``(eta_fin - eta_ini)/n_steps`` (fast, what training uses);
    ``n_steps=None``: adaptive steps with tolerances ``rtol, atol``. Reverse-mode differentiable;
    for a derivative along the initial data inside a gradient use :meth:`with_tangent`, which
    integrates the variational equation alongside (forward sensitivity) instead of ``jax.jvp``.
    """

    metric: eqx.Module
    lam: Array
    n_steps: int | None = eqx.field(static=True)
    rtol: float = eqx.field(static=True)
    atol: float = eqx.field(static=True)

    def __init__(
        self,
        metric,
        lam: float = 0.0,
        *,
        m2: float,
        eta_ini: float,
        eta_fin: float,
        d: int = 4,
        train_lambda: bool = True,
        n_steps: int | None = 60,
        rtol: float = 1e-8,
        atol: float = 1e-10,
    ):
        self.metric = metric
        self._set_bulk(lam, m2, eta_ini, eta_fin, d, train_lambda)
        self.n_steps = None if n_steps is None else int(n_steps)
        self.rtol = float(rtol)
        self.atol = float(atol)

    def vector_field(self, eta, state, args=None):
        """``(phi, pi)' = (pi, -h(eta) pi + m^2 phi + lambda phi^3)``."""
        phi, pi = state
        return pi, -self.metric(eta) * pi + self.force(phi)

    def tangent_field(self, eta, state, args=None):
        """The equation and its linearisation: ``(phi, pi, dphi, dpi)' = (pi, -h pi + V'(phi), dpi,
        -h dpi + V''(phi) dphi)`` with ``V'' = m^2 + 3 lambda phi^2``."""
        phi, pi, dphi, dpi = state
        h = self.metric(eta)
        curvature = self.m2 + 3 * self.coupling * phi**2
        return pi, -h * pi + self.force(phi), dpi, -h * dpi + curvature * dphi

    def with_tangent(self, phi, pi, dphi, dpi) -> tuple[Array, Array, Array, Array]:
        """``(phi, pi)`` at ``eta_fin`` and their derivative along the initial tangent ``(dphi, dpi)``."""
        y0 = tuple(jnp.asarray(x, dtype=float) for x in (phi, pi, dphi, dpi))
        if self.n_steps is not None:
            return self._fixed_steps(self.tangent_field, y0)
        ys = self._solve_system(self.tangent_field, y0, diffrax.SaveAt(t1=True))
        return tuple(y[0] for y in ys)

    def _solve(self, phi, pi, saveat):
        y0 = (jnp.asarray(phi, dtype=float), jnp.asarray(pi, dtype=float))
        return self._solve_system(self.vector_field, y0, saveat)

    def _fixed_steps(self, field, y0):
        """``n_steps`` Tsit5 steps of diffrax's solver under one ``lax.scan`` (the state at eta_fin).

        Same arithmetic as ``diffeqsolve`` with ``ConstantStepSize``, without its adaptive-loop
        machinery: much faster to compile, and forward/reverse derivatives nest freely."""
        solver = diffrax.Tsit5()
        term = diffrax.ODETerm(field)
        dt = (self.eta_fin - self.eta_ini) / self.n_steps
        state = solver.init(term, self.eta_ini, self.eta_ini + dt, y0, None)

        def step(carry, i):
            y, st = carry
            t0 = self.eta_ini + i * dt
            y1, _, _, st, _ = solver.step(term, t0, t0 + dt, y, None, st, made_jump=False)
            return (y1, st), None

        (y, _), _ = jax.lax.scan(step, (y0, state), jnp.arange(self.n_steps))
        return y

    def _solve_system(self, field, y0, saveat):
        span = self.eta_fin - self.eta_ini
        if self.n_steps is None:
            controller = diffrax.PIDController(rtol=self.rtol, atol=self.atol)
            dt0 = span / 50
            max_steps = 100_000
            adjoint = diffrax.RecursiveCheckpointAdjoint()
        else:
            controller = diffrax.ConstantStepSize()
            dt0 = span / self.n_steps
            max_steps = self.n_steps + 1
            adjoint = diffrax.RecursiveCheckpointAdjoint()
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(field),
            diffrax.Tsit5(),
            t0=self.eta_ini,
            t1=self.eta_fin,
            dt0=dt0,
            y0=y0,
            stepsize_controller=controller,
            saveat=saveat,
            max_steps=max_steps,
            adjoint=adjoint,
        )
        return sol.ys

    def __call__(self, phi, pi) -> tuple[Array, Array]:
        if self.n_steps is not None:
            y0 = (jnp.asarray(phi, dtype=float), jnp.asarray(pi, dtype=float))
            return self._fixed_steps(self.vector_field, y0)
        phis, pis = self._solve(phi, pi, diffrax.SaveAt(t1=True))
        return phis[0], pis[0]

    def trajectory(self, phi, pi, etas: Sequence[float] | Array) -> tuple[Array, Array]:
        """``(phi, pi)`` at ``etas`` (between ``eta_ini`` and ``eta_fin``), shape ``(len(etas), *batch)``."""
        return self._solve(phi, pi, diffrax.SaveAt(ts=jnp.asarray(etas, dtype=float)))


# --------------------------------------------------------------------------------------------------
# Ensembles of seeds
# --------------------------------------------------------------------------------------------------
def make_ensemble(factory: Callable, key, n_members: int):
    """``n_members`` independent models ``factory(key_i)`` stacked along a leading axis.

    The result is one PyTree whose array leaves have shape ``(n_members, ...)``; static fields are
    shared. Evaluate with :func:`ensemble_call` or ``eqx.filter_vmap``.
    """
    keys = jax.random.split(key, n_members)
    return eqx.filter_vmap(factory)(keys)


def ensemble_call(fn: Callable, ensemble, *args):
    """``fn(member, *args)`` for every member of a stacked ensemble (vmapped; ``args`` shared)."""
    return eqx.filter_vmap(fn, in_axes=(eqx.if_array(0),) + (None,) * len(args))(ensemble, *args)


def ensemble_loss(member_loss: Callable, params, *data):
    """``member_loss(params_m, *data_m)`` for every member (vmapped over the leading axis of
    ``params`` and of each ``data`` array): ``(sum over members, per-member losses)``. The summed
    loss gives each member its own gradient, so one elementwise optimizer trains them all."""
    losses = jax.vmap(member_loss)(params, *data)
    return jnp.sum(losses), losses
