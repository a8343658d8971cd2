"""Ensembles of independent online-SGD learners, vectorised in one jitted ``lax.scan``.

Each of ``N`` learners holds its trainable variables ``q`` (one number or a small vector) and makes
one step per fresh mini-batch of ``B`` samples:

    q_{n+1} = q_n - eta * g_n,     g_n = grad_q (1/B) sum_{b=1}^{B} l(q_n; xi_b)         (plain SGD)

or the optax momentum version (``trace = g + mu trace``, ``q -= eta trace``). Time is ``t = eta n``.

Noise models (the per-sample loss ``l``):

* additive (default): ``l(q; xi) = V(q) - xi . q`` with ``xi ~ N(0, s^2)``, so
  ``g = V'(q) - mean_B(xi)`` with ``mean_B(xi) ~ N(0, s^2 / B)`` (drawn exactly as one Gaussian);
* multiplicative: ``l(q; xi) = V(q) (1 + xi)``, so ``g = V'(q) (1 + mean_B(xi))``;
* a small neural network: ``q`` are the parameters of ``f(x) = sum_j a_j tanh(w_j x + b_j) + c``,
  ``l = (f(x) - y)^2 / 2`` on fresh samples ``x ~ N(0, 1)``, ``y = teacher(x) + s zeta``.

Continuum limit (additive noise): per unit time the noise has variance ``eta^2 s^2 / B`` per step, i.e.
``2 T eta`` with the temperature ``T = eta s^2 / (2 B)``, and the density obeys the Fokker-Planck
equation ``dp/dt = d/dq (V' p) + T d^2 p / dq^2``. We write ``hbar_eff = 2 T`` (mass ``m = 1``):
the diffusion coefficient of Nelson's stochastic mechanics, ``D = hbar / (2 m)``.

Exact discrete result (quadratic ``V = a q^2 / 2``, plain SGD): ``q_{n+1} = (1 - eta a) q_n + eta zeta_n``
has the stationary variance ``eta s^2 / (a B (2 - eta a))`` (stable for ``0 < eta a < 2``), so
``a Var(q) = T / (1 - eta a / 2)``. With heavy-ball momentum ``mu`` (optax convention) the stationary
variance is ``eta s^2 (1 + mu) / (a B (1 - mu) (2 (1 + mu) - eta a))``.

Memory is ``O(N)`` plus what is recorded: the scan runs ``steps // record_every`` records of
``record_every`` steps each and keeps only ``observe(q, q_previous)`` at each record.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from nqg.errors import NqgInputError

POTENTIAL_NAMES = ("quadratic", "double-well", "quartic")


# ------------------------------------------------------------------------------------------ potentials
class Potential(eqx.Module):
    """A loss landscape ``V(q)`` of one learner (``q`` a scalar, or a vector when ``ndim`` = 1).

    Subclasses define ``value(q)`` for one learner; ``__call__``, ``gradient`` and ``curvature`` (``V''``, the
    trace of the Hessian) broadcast over the leading ensemble axes and come from autodiff. The built-in
    potentials keep their parameters as fields, so equal potentials share one compilation.
    """

    def value(self, q: Any) -> Any:
        raise NotImplementedError

    @property
    def ndim(self) -> int:
        return 0

    def __call__(self, q: Any) -> Any:
        signature = "()->()" if self.ndim == 0 else "(d)->()"
        return jnp.vectorize(self.value, signature=signature)(q)

    def gradient(self, q: Any) -> Any:
        """``V'(q)`` for every learner (shape of ``q``)."""
        signature = "()->()" if self.ndim == 0 else "(d)->(d)"
        return jnp.vectorize(jax.grad(self.value), signature=signature)(q)

    def curvature(self, q: Any) -> Any:
        """``V''(q)`` (Laplacian for vector ``q``) for every learner."""
        if self.ndim == 0:
            return jnp.vectorize(jax.grad(jax.grad(self.value)))(q)
        return jnp.vectorize(lambda x: jnp.trace(jax.hessian(self.value)(x)), signature="(d)->()")(q)

    def third_derivative(self, q: Any) -> Any:
        """Third derivative of ``V`` (one-dimensional ``q`` only)."""
        return jnp.vectorize(jax.grad(jax.grad(jax.grad(self.value))))(q)


class UserPotential(Potential):
    """A user-given ``V``: ``fn(q)`` for one learner returns a scalar (``dim`` = 0: scalar ``q``;
    1: vector ``q``)."""

    fn: Callable[[Any], Any] = eqx.field(static=True)
    name: str = eqx.field(static=True, default="user")
    dim: int = eqx.field(static=True, default=0)

    def value(self, q: Any) -> Any:
        return self.fn(q)

    @property
    def ndim(self) -> int:
        return self.dim


class Quadratic(Potential):
    """``V = a q^2 / 2``."""

    a: float = 1.0

    def value(self, q: Any) -> Any:
        return 0.5 * self.a * q**2


class DoubleWell(Potential):
    """``V = h (q^2 - q0^2)^2 / q0^4``: minima at ``+-q0``, barrier height ``h``."""

    height: float = 1.0
    minimum: float = 1.0

    def value(self, q: Any) -> Any:
        return self.height * (q**2 - self.minimum**2) ** 2 / self.minimum**4


class Quartic(Potential):
    """``V = k q^4 / 4``."""

    coupling: float = 1.0

    def value(self, q: Any) -> Any:
        return 0.25 * self.coupling * q**4


class Cosine(Potential):
    """``V = v0 cos q``: a loss landscape for an angle (a periodic trainable variable)."""

    amplitude: float = 1.0

    def value(self, q: Any) -> Any:
        return self.amplitude * jnp.cos(q)


def quadratic(curvature: float = 1.0) -> Potential:
    """``V = a q^2 / 2``."""
    return Quadratic(float(curvature))


def double_well(height: float = 1.0, minimum: float = 1.0) -> Potential:
    """``V = h (q^2 - q0^2)^2 / q0^4`` (default ``(q^2 - 1)^2``)."""
    return DoubleWell(float(height), float(minimum))


def quartic(coupling: float = 1.0) -> Potential:
    """``V = k q^4 / 4``."""
    return Quartic(float(coupling))


def potential_from_name(name: str, curvature: float = 1.0) -> Potential:
    """``quadratic`` (``a q^2/2``), ``double-well`` (``a (q^2-1)^2``), ``quartic`` (``a q^4/4``)."""
    if name == "quadratic":
        return quadratic(curvature)
    if name == "double-well":
        return double_well(curvature)
    if name == "quartic":
        return quartic(curvature)
    raise NqgInputError(f"unknown potential {name!r}; allowed: {', '.join(POTENTIAL_NAMES)}")


# ------------------------------------------------------------------------------------------ learners
class AdditiveNoise(eqx.Module):
    """Per-sample loss ``V(q) - xi . q`` with ``xi ~ N(0, s^2)``: ``g = V'(q) - mean_B(xi)``."""

    potential: Potential
    noise: float
    batch: int

    def gradient(self, q: Any, key: Any) -> Any:
        zeta = jax.random.normal(key, jnp.shape(q), jnp.result_type(q))
        return self.potential.gradient(q) - (self.noise / jnp.sqrt(self.batch)) * zeta

    def temperature(self, learning_rate: float) -> float:
        """Continuum temperature ``T = eta s^2 / (2 B)``."""
        return learning_rate * self.noise**2 / (2.0 * self.batch)


class MultiplicativeNoise(eqx.Module):
    """Per-sample loss ``V(q) (1 + xi) - xi' . q`` with ``xi ~ N(0, s^2)``, ``xi' ~ N(0, s_a^2)`` independent:
    ``g = V'(q) (1 + mean_B(xi)) - mean_B(xi')`` (``additive = 0``: purely multiplicative noise, whose
    fixed points ``V' = 0`` are absorbing).

    Continuum limit (Ito): diffusion ``D(q) = T_a + T_m V'(q)^2`` with ``T_m = eta s^2 / (2B)``,
    ``T_a = eta s_a^2 / (2B)``; zero-flux stationary density ``p ∝ exp(-int V'/D) / D``, not Boltzmann.
    For ``V = a q^2/2``: ``p ∝ (T_a + T_m a^2 q^2)^{-1 - 1/(2 T_m a)}``, a Student-t with
    ``nu = 1 + 1/(T_m a)`` degrees of freedom.
    """

    potential: Potential
    noise: float
    batch: int
    additive: float = 0.0

    def gradient(self, q: Any, key: Any) -> Any:
        k1, k2 = jax.random.split(key)
        dtype = jnp.result_type(q)
        zeta = jax.random.normal(k1, jnp.shape(q), dtype)
        zeta_a = jax.random.normal(k2, jnp.shape(q), dtype)
        scale = 1.0 / jnp.sqrt(self.batch)
        return self.potential.gradient(q) * (1.0 + self.noise * scale * zeta) - self.additive * scale * zeta_a

    def temperature(self, learning_rate: float) -> float:
        """Additive temperature ``T_a = eta s_a^2 / (2 B)``."""
        return learning_rate * self.additive**2 / (2.0 * self.batch)


def multiplicative_moments_quadratic(
    curvature: float, noise: float, additive: float, learning_rate: float, batch: int
) -> tuple[float, float]:
    """Exact stationary ``<q^2>, <q^4>`` of discrete SGD with :class:`MultiplicativeNoise` on ``a q^2/2``.

    ``q' = (alpha + beta zeta) q + gamma zeta'`` with ``alpha = 1 - eta a``, ``beta = -eta a s/sqrt(B)``,
    ``gamma = eta s_a / sqrt(B)``: ``m2 = gamma^2 / (1 - alpha^2 - beta^2)``,
    ``m4 = (6 m2 (alpha^2 + beta^2) gamma^2 + 3 gamma^4) / (1 - alpha^4 - 6 alpha^2 beta^2 - 3 beta^4)``
    (``inf`` where the moment does not exist).
    """
    a, eta = float(curvature), float(learning_rate)
    alpha, beta = 1 - eta * a, -eta * a * noise / np.sqrt(batch)
    gamma = eta * additive / np.sqrt(batch)
    d2 = 1 - alpha**2 - beta**2
    d4 = 1 - alpha**4 - 6 * alpha**2 * beta**2 - 3 * beta**4
    m2 = gamma**2 / d2 if d2 > 0 else np.inf
    m4 = (6 * m2 * (alpha**2 + beta**2) * gamma**2 + 3 * gamma**4) / d4 if d4 > 0 and d2 > 0 else np.inf
    return float(m2), float(m4)


class RegressionNet(eqx.Module):
    """A 1-hidden-layer tanh network ``f(x) = sum_j a_j tanh(w_j x + b_j) + c`` as a learner.

    Its trainable variables ``q`` (per learner, ``3 width + 1`` numbers: ``w, b, a, c``) are fitted online to
    ``y = teacher(x) + s zeta`` with fresh ``x ~ N(0, 1)`` each step; the per-sample loss is
    ``(f(x) - y)^2 / 2`` and the gradient is the mini-batch mean over ``B`` samples.
    """

    width: int = eqx.field(static=True)
    noise: float
    batch: int = eqx.field(static=True)
    teacher: Callable[[Any], Any] = eqx.field(static=True, default=jnp.sin)

    @property
    def n_params(self) -> int:
        return 3 * self.width + 1

    def predict(self, q: Any, x: Any) -> Any:
        """``f(x; q)`` for one learner's ``q`` (shape ``(3 width + 1,)``) and inputs ``x``."""
        w, b, a = q[: self.width], q[self.width : 2 * self.width], q[2 * self.width : 3 * self.width]
        return jnp.tanh(x[..., None] * w + b) @ a + q[-1]

    def loss(self, q: Any, x: Any, y: Any) -> Any:
        return 0.5 * jnp.mean((self.predict(q, x) - y) ** 2)

    def population_loss(self, q: Any, n_points: int = 2001) -> Any:
        """Noise-free generalisation loss ``E_x (f(x) - teacher(x))^2 / 2`` (Gauss-Hermite-free grid)."""
        x = jnp.linspace(-6.0, 6.0, n_points, dtype=jnp.result_type(q))
        w = jnp.exp(-0.5 * x**2) / np.sqrt(2 * np.pi) * (x[1] - x[0])
        err = jax.vmap(lambda qq: self.predict(qq, x))(q) - self.teacher(x)
        return 0.5 * (err**2) @ w

    def init(self, key: Any, n_learners: int, dtype: Any = None) -> Any:
        """Initial parameters ``(n_learners, 3 width + 1)``: ``w, b ~ N(0, 1)``, ``a ~ N(0, 1/width)``."""
        dtype = dtype or jnp.zeros(()).dtype
        q = jax.random.normal(key, (n_learners, self.n_params), dtype)
        scale = (
            jnp.ones(self.n_params, dtype).at[2 * self.width : 3 * self.width].set(1.0 / np.sqrt(self.width))
        )
        return q * scale.at[-1].set(0.0)

    def gradient(self, q: Any, key: Any) -> Any:
        n = q.shape[0]
        kx, ky = jax.random.split(key)
        x = jax.random.normal(kx, (n, self.batch), q.dtype)
        y = self.teacher(x) + self.noise * jax.random.normal(ky, (n, self.batch), q.dtype)
        return jax.vmap(jax.grad(self.loss))(q, x, y)


# ------------------------------------------------------------------------------------------ the engine
class Trajectory(eqx.Module):
    """What :func:`simulate` returns: the record times, the records (stacked along axis 0) and the final
    state ``q`` of every learner."""

    times: Any
    records: Any
    q: Any
    steps: int = eqx.field(static=True)


def validate_learning(learning_rate: float, steps: int, record_every: int, momentum: float = 0.0) -> None:
    """Bad input -> NqgInputError naming the value and what is allowed."""
    if not (np.isfinite(learning_rate) and learning_rate > 0):
        raise NqgInputError(f"learning rate must be a positive number, got {learning_rate}")
    if steps < 1:
        raise NqgInputError(f"steps must be a positive integer, got {steps}")
    if record_every < 1 or steps % record_every:
        raise NqgInputError(f"record_every ({record_every}) must be a positive divisor of steps ({steps})")
    if not (0.0 <= momentum < 1.0):
        raise NqgInputError(f"momentum must be in [0, 1), got {momentum}")


def default_observe(q: Any, q_previous: Any) -> dict[str, Any]:
    """Ensemble mean and variance of each trainable variable."""
    return {"mean": jnp.mean(q, axis=0), "variance": jnp.var(q, axis=0)}


def simulate(
    learner: Any,
    q0: Any,
    key: Any,
    *,
    learning_rate: float,
    steps: int,
    record_every: int | None = None,
    momentum: float = 0.0,
    observe: Callable[[Any, Any], Any] = default_observe,
    optimizer: optax.GradientTransformation | None = None,
) -> Trajectory:
    """Run every learner for ``steps`` online-SGD steps from ``q0`` (leading axis: learners).

    ``learner.gradient(q, key)`` returns the mini-batch gradient of the whole ensemble; the update is
    ``optimizer`` (default ``optax.sgd(learning_rate, momentum)``), elementwise over learners. Every
    ``record_every`` steps ``observe(q, q_previous)`` is stored (``q_previous``: the state one step
    before), at times ``t = eta * step``. Memory does not grow with ``steps``.
    """
    record_every = int(record_every or steps)
    validate_learning(float(learning_rate), int(steps), record_every, float(momentum))
    q0 = jnp.asarray(q0)
    # numbers in the learner become traced arrays: one compilation serves every noise and batch size
    learner = jax.tree_util.tree_map(
        lambda x: jnp.asarray(x, q0.dtype) if isinstance(x, (float, int)) and not isinstance(x, bool) else x,
        learner,
    )
    hyper = (jnp.asarray(learning_rate, q0.dtype), jnp.asarray(momentum, q0.dtype), bool(momentum > 0))
    records, q = _scan(learner, q0, key, optimizer, hyper, int(steps) // record_every, record_every, observe)
    times = learning_rate * record_every * np.arange(1, int(steps) // record_every + 1)
    return Trajectory(times=times, records=records, q=q, steps=int(steps))


@eqx.filter_jit
def _scan(learner, q0, key, optimizer, hyper, n_records, record_every, observe):
    learning_rate, momentum, use_momentum = hyper
    if optimizer is not None:
        opt = optimizer
    else:  # built inside the trace: the same compiled scan serves every learning rate and momentum
        opt = optax.sgd(learning_rate, momentum=momentum if use_momentum else None)
    state0 = opt.init(q0)

    def step(carry, k):
        q, state = carry
        g = learner.gradient(q, k)
        updates, state = opt.update(g, state, q)
        return (optax.apply_updates(q, updates), state), None

    def record(carry, k):
        q, state = carry
        keys = jax.random.split(k, record_every)
        (q, state), _ = jax.lax.scan(step, (q, state), keys[:-1])
        q_prev = q
        (q, state), _ = step((q, state), keys[-1])
        return (q, state), observe(q, q_prev)

    (q, _), records = jax.lax.scan(record, (q0, state0), jax.random.split(key, n_records))
    return records, q


# ------------------------------------------------------------------------------------------ exact results
def stationary_variance_quadratic(
    curvature: float, noise: float, learning_rate: float, batch: int, momentum: float = 0.0
) -> float:
    """Exact stationary variance of discrete SGD (optax heavy-ball momentum ``mu``) on ``a q^2 / 2``.

    ``mu = 0``: ``eta s^2 / (a B (2 - eta a))``. For ``mu > 0`` the AR(2) process
    ``q_{n+1} = (1 + mu - eta a) q_n - mu q_{n-1} + eta zeta_n`` has the stationary variance
    ``eta s^2 (1 + mu) / (a B (1 - mu) (2 (1 + mu) - eta a))``.
    """
    a, eta, mu = float(curvature), float(learning_rate), float(momentum)
    return eta * noise**2 * (1 + mu) / (a * batch * (1 - mu) * (2 * (1 + mu) - eta * a))


def continuum_temperature(noise: float, learning_rate: float, batch: int) -> float:
    """``T = eta s^2 / (2 B)``."""
    return float(learning_rate) * float(noise) ** 2 / (2.0 * float(batch))


def hbar_eff(temperature: float) -> float:
    """``hbar_eff = 2 T`` (mass 1): the Nelson diffusion coefficient is ``D = T = hbar / (2 m)``."""
    return 2.0 * float(temperature)


__all__ = [
    "POTENTIAL_NAMES",
    "AdditiveNoise",
    "Cosine",
    "DoubleWell",
    "MultiplicativeNoise",
    "Potential",
    "Quadratic",
    "Quartic",
    "RegressionNet",
    "Trajectory",
    "UserPotential",
    "continuum_temperature",
    "default_observe",
    "double_well",
    "hbar_eff",
    "multiplicative_moments_quadratic",
    "potential_from_name",
    "quadratic",
    "quartic",
    "simulate",
    "stationary_variance_quadratic",
    "validate_learning",
]
