"""Hamilton dynamics is a network: learning an unknown time-dependent friction from "came to rest" data.

A particle of mass ``m`` in the confining potential ``V(x) = k x^2/2 + g x^4/4`` with friction ``h(t)``,

    m x'' = -h(t) x' - V'(x),        t in [0, T],

is the bulk equation of :mod:`nqg.gravity.network` with ``eta -> t``, ``phi -> x``, ``pi -> x'``: the
explicit-Euler network of :func:`nqg.gravity.network.propagate` with ``N`` layers, ``dt = T/N``,

    x_{n+1} = x_n + dt v_n,      v_{n+1} = v_n + dt (-(h_n/m) v_n - V'(x_n)/m),      h_n = h(t_n), t_n = n dt,

so weight ``h_n`` is the friction at the start ``t_n`` of layer n. The *true* dynamics is this same
network with ``h_n = h_true(t_n)`` (default N = 200, ``dt = 0.05``); learned weights are compared with
``h_true(t_n)`` layer by layer, so the inverse problem is posed exactly for the network that generated
the data. The network converges to the ODE at first order in ``dt`` (tested against
``scipy.integrate.solve_ivp``), but N = 200 is a coarse discretisation: over the ~5 oscillations up to
``T = 10`` a typical trajectory's final state differs from the ODE's by O(0.1) (explicit Euler adds an
effective anti-damping ~ ``omega^2 dt / 2``). Raise ``n_layers`` (e.g. 2000) to stay within a few percent
of the continuum at ten times the cost.

**Data.** Initial conditions ``(x(0), x'(0))`` uniform in a box; a run is *positive* ("at rest at T")
when the rest measure

    F = sqrt( (x'(T)/v_tol)^2 + (V'(x(T))/f_tol)^2 )  < 1,

i.e. the final velocity is below ``v_tol`` and the final force below ``f_tol`` (an elliptic version of the
two conditions), negative otherwise; balanced classes by rejection sampling.

**Well-posedness (why these thresholds).** With a small *isotropic* rest window the positives are
exactly those trajectories that end in the linear regime near ``x = 0``; their final-time map is
essentially a 2x2 matrix, which depends on ``h(t)`` through very few numbers (mostly ``int h dt``),
and a constant friction with the same mean reproduces the labels almost perfectly (measured: it
mislabels ~4% of the positives). The window used here is *anisotropic*: a tight velocity threshold
(``v_tol = 0.05``) and a loose force threshold (``f_tol = 1``, final excursions up to |x| ~ 0.68). Its
pre-image is a thin strip of initial conditions that arrive at a turning point at ``t = T``; the strip
winds through phase space across a wide range of amplitudes, and because the quartic term makes the
frequency amplitude dependent, its winding records the energy history and hence ``h(t)``
(a constant friction with the true mean mislabels about half of the positives). The friction scale
(``h ~ 0.15..0.45``, i.e. ``int h dt ~ 3``) keeps the initial amplitudes of the strip (|x| < 2.5) within
reach of the explicit-Euler network. Late times (``t`` close to T) remain the least constrained:
there the positive trajectories already have small amplitude and the dynamics is nearly linear.

**Fit.** The classifier output ``t(F) = [tanh((F - 1)/w) + 1]/2`` (~0 at rest, ~1 not at rest) is
trained against labels 0/1 with the L1 loss plus ``c_reg sum_n (h_{n+1} - h_n)^2``, Adam, an
ensemble of members (one data set each) vmapped in one compiled loop. The width ``w`` is annealed
geometrically from ``w_start`` to ``w_end`` during training: a wide sigmoid gives gradients from points
far from the boundary early on, a narrow one removes the bias of the L1-on-tanh loss toward short
class boundaries at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax

from nqg.errors import NqgInputError
from nqg.gravity.network import ensemble_loss, propagate
from nqg.spec import RunContext
from nqg.train import LoopResult, run_loop

__all__ = [
    "FrictionSetup",
    "classification_loss",
    "fit_friction",
    "generate_data",
    "propagate_particle",
    "rest_measure",
    "rest_output",
    "rms_relative_error",
    "sinusoidal_friction",
    "smoothness_penalty",
]


@dataclass(frozen=True)
class FrictionSetup:
    """Particle of mass ``mass`` in ``V = k x^2/2 + g x^4/4`` for ``t in [0, duration]``, ``n_layers`` steps;
    rest thresholds ``v_tol`` (velocity) and ``f_tol`` (force ``V'(x)``) at ``t = duration``."""

    duration: float = 10.0
    n_layers: int = 200
    mass: float = 1.0
    k: float = 1.0
    g: float = 1.0
    v_tol: float = 0.05
    f_tol: float = 1.0

    def __post_init__(self) -> None:
        if self.n_layers < 2:
            raise NqgInputError(f"n_layers must be >= 2, got {self.n_layers}")
        for name in ("duration", "mass", "v_tol", "f_tol"):
            if not getattr(self, name) > 0:
                raise NqgInputError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.k < 0 or self.g < 0 or self.k + self.g == 0:
            raise NqgInputError(f"need k >= 0, g >= 0, not both 0 (confining), got k={self.k}, g={self.g}")

    @property
    def dt(self) -> float:
        return self.duration / self.n_layers

    @property
    def times(self) -> jax.Array:
        """``t_n = n dt`` (n = 0..N-1): layer n uses ``h_n = h(t_n)``."""
        return self.dt * jnp.arange(self.n_layers)

    def potential(self, x):
        """``V(x) = k x^2/2 + g x^4/4``."""
        return 0.5 * self.k * x**2 + 0.25 * self.g * x**4

    def potential_gradient(self, x):
        """``V'(x) = k x + g x^3``."""
        return self.k * x + self.g * x**3


def sinusoidal_friction(t, h0: float = 0.3, amplitude: float = 0.15, omega: float = 0.5):
    """``h(t) = h0 + amplitude sin(omega t)`` (the default true friction; positive for amplitude < h0)."""
    return h0 + amplitude * jnp.sin(omega * jnp.asarray(t, dtype=float))


def propagate_particle(h, x0, v0, setup: FrictionSetup):
    """``(x(T), x'(T))`` from ``(x(0), x'(0))`` through the network with friction weights ``h`` (N,)."""

    def force(x):
        return -setup.potential_gradient(x) / setup.mass

    return propagate(jnp.asarray(h) / setup.mass, x0, v0, setup.dt, force)


def rest_measure(x, v, setup: FrictionSetup):
    """``F = sqrt((v/v_tol)^2 + (V'(x)/f_tol)^2)``: below 1 means "at rest"."""
    return jnp.sqrt((v / setup.v_tol) ** 2 + (setup.potential_gradient(x) / setup.f_tol) ** 2)


def rest_output(F, width: float):
    """``t(F) = [tanh((F - 1)/w) + 1]/2``: ~0 for F < 1 (at rest), ~1 for F > 1."""
    return 0.5 * (jnp.tanh((F - 1.0) / width) + 1.0)


def smoothness_penalty(h, c_reg: float):
    """``c_reg sum_n (h_{n+1} - h_n)^2``."""
    h = jnp.asarray(h)
    return c_reg * jnp.sum((h[1:] - h[:-1]) ** 2)


def classification_loss(h, x0, v0, labels, setup: FrictionSetup, width: float, c_reg: float):
    """``mean_i |t(F_i) - y_i| + c_reg sum_n (h_{n+1} - h_n)^2`` with labels 0 (at rest) / 1."""
    x, v = propagate_particle(h, x0, v0, setup)
    l1 = jnp.mean(jnp.abs(rest_output(rest_measure(x, v, setup), width) - labels))
    return l1 + smoothness_penalty(h, c_reg)


@partial(jax.jit, static_argnums=(3, 4))
def _draw_initial_conditions(key, h_true, box, setup: FrictionSetup, chunk: int):
    u = jax.random.uniform(key, (chunk, 2), minval=-box, maxval=box)
    x, v = propagate_particle(h_true, u[:, 0], u[:, 1], setup)
    return u[:, 0], u[:, 1], rest_measure(x, v, setup)


def generate_data(
    key,
    setup: FrictionSetup,
    h_true,
    n_per_class: int = 1000,
    *,
    box: float = 2.5,
    chunk: int = 1 << 16,
    max_draws: int = 1 << 25,
) -> dict[str, np.ndarray]:
    """Balanced "came to rest" data by rejection sampling through the true network.

    ``(x0, v0)`` uniform in ``[-box, box]^2``; label 0 when the rest measure ``F < 1`` at ``t = T``
    with friction weights ``h_true`` (N,), 1 otherwise. Returns ``{"x", "v", "label", "F", "acceptance"}``
    with ``n_per_class`` of each class, shuffled.
    """
    if n_per_class < 1:
        raise NqgInputError(f"n_per_class must be >= 1, got {n_per_class}")
    if not box > 0:
        raise NqgInputError(f"box must be > 0, got {box}")
    h_true = jnp.asarray(h_true, dtype=float)
    k_draw, k_shuffle = jax.random.split(key)
    pos: list[np.ndarray] = []
    neg: list[np.ndarray] = []
    n_pos = n_neg = drawn = seen_pos = i = 0
    while n_pos < n_per_class or n_neg < n_per_class:
        if drawn >= max_draws:
            raise NqgInputError(f"rejection sampling found only {n_pos} positives in {drawn} draws")
        out = _draw_initial_conditions(jax.random.fold_in(k_draw, i), h_true, float(box), setup, chunk)
        x, v, F = (np.asarray(a) for a in out)
        i += 1
        drawn += chunk
        block = np.stack([x, v, F], axis=1)
        rest = F < 1.0
        seen_pos += int(rest.sum())
        pos.append(block[rest][: max(n_per_class - n_pos, 0)])
        neg.append(block[~rest][: max(n_per_class - n_neg, 0)])
        n_pos += len(pos[-1])
        n_neg += len(neg[-1])
    both = np.concatenate([np.concatenate(pos), np.concatenate(neg)])
    labels = np.concatenate([np.zeros(n_per_class), np.ones(n_per_class)])
    order = np.asarray(jax.random.permutation(k_shuffle, 2 * n_per_class))
    return {
        "x": both[order, 0],
        "v": both[order, 1],
        "F": both[order, 2],
        "label": labels[order],
        "acceptance": np.asarray(seen_pos / drawn),
    }


def fit_friction(
    datasets: dict[str, np.ndarray],
    setup: FrictionSetup,
    *,
    c_reg: float = 0.1,
    learning_rate: float = 0.01,
    steps: int = 3000,
    width_start: float = 0.1,
    width_end: float = 0.01,
    h_init: float = 0.5,
    ctx: RunContext | None = None,
) -> tuple[jax.Array, LoopResult]:
    """Learn friction weights ``h_n`` for an ensemble of members, one data set each.

    ``datasets``: ``x, v, label`` of shape ``(M, n)``. Every member starts at the constant ``h_init`` and
    minimises :func:`classification_loss` with width ``w(s) = w_start (w_end/w_start)^(s/steps)`` at
    step ``s``, Adam with a cosine-decayed learning rate; members are vmapped and trained together in
    :func:`nqg.train.run_loop` (summed loss, Adam being elementwise). Returns ``h`` (M, N) and the loop
    result (``history["member_loss"]``: (steps, M)).
    """
    x0, v0, labels = (jnp.asarray(datasets[k]) for k in ("x", "v", "label"))
    h0 = jnp.full((x0.shape[0], setup.n_layers), float(h_init))
    optimizer = optax.adam(optax.cosine_decay_schedule(learning_rate, max(steps, 1), alpha=0.05))

    def total_loss(h, width):
        def member(hm, x, v, y):
            return classification_loss(hm, x, v, y, setup, width, c_reg)

        return ensemble_loss(member, h, x0, v0, labels)

    grad_fn = jax.value_and_grad(total_loss, has_aux=True)

    def step_fn(state, step):
        h, opt_state = state
        width = width_start * (width_end / width_start) ** (step / max(steps, 1))
        (loss, losses), grads = grad_fn(h, width)
        updates, opt_state = optimizer.update(grads, opt_state, h)
        return (optax.apply_updates(h, updates), opt_state), {
            "loss": loss,
            "member_loss": losses,
            "width": width,
        }

    loop = run_loop(
        step_fn,
        (h0, optimizer.init(h0)),
        steps=steps,
        name="friction-inverse",
        ctx=ctx,
        chunk=250,
        primary="loss",
    )
    return loop.state[0], loop


def rms_relative_error(h, h_true):
    """``sqrt(mean_n ((h_n - h_true_n)/h_true_n)^2)`` over the last axis."""
    rel = (jnp.asarray(h) - jnp.asarray(h_true)) / jnp.asarray(h_true)
    return jnp.sqrt(jnp.mean(rel**2, axis=-1))
