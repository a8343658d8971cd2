"""Networks as spacetime: a convolution is a derivative, and depth is time.

**Convolution is a derivative.** A convolution kernel ``w_j`` (``j = -m..m``) acting on samples
``phi_n = phi(n dx)`` gives, by Taylor expansion,

    (w * phi)_n = sum_j w_j phi((n + j) dx) = sum_p M_p phi^(p)(n dx),   M_p = sum_j w_j (j dx)^p / p!,

so a kernel trained to output ``a phi + b phi' + c phi''`` on smooth functions must have moments
``(M_0, M_1, M_2) = (a, b, c)`` (and ``M_3 = M_4 = 0`` for a 5-point kernel): it learns a finite-difference
stencil. In two dimensions the moments ``M_pq = sum_ij w_ij (i dx)^p (j dx)^q / (p! q!)`` of a 3x3 kernel
trained on the Laplacian are ``M_20 = M_02 = 1`` and ``M_00 = M_10 = M_01 = M_11 = 0``; the entries
themselves are not unique (the 5-point and the diagonal 5-point stencils have the same moments), only the
moments are determined.

**Depth is time.** A residual network with shared blocks ``x_{n+1} = x_n + dt f_theta(x_n)``, ``N`` layers,
``dt = T / N``, is the explicit Euler scheme of ``x' = f_theta(x)``. Trained on the time-``T`` flow of
``x' = f(x)``, it learns the (inverse) modified vector field of backward error analysis,
``f_theta = f + (dt / 2) (Df) f + O(dt^2)`` (one Euler step ``x + dt f_theta`` then matches the Taylor series
``x + dt f + dt^2/2 (Df) f`` of the exact flow), so ``|f_theta - f|`` falls like ``dt``: slope 1 in
``log |f_theta - f|`` against ``log dt``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import factorial
from typing import Any

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from nqg import rng
from nqg.errors import NqgInputError
from nqg.spec import RunContext
from nqg.train import LoopResult, minimize, run_loop

# ----------------------------------------------------------------------------- optimisation


def minimize_lbfgs(
    loss_fn: Callable[[Any], jax.Array],
    params: Any,
    *,
    steps: int,
    ctx: RunContext | None = None,
    name: str = "lbfgs",
    progress: bool | None = None,
) -> LoopResult:
    """Minimise a deterministic ``loss_fn(params)`` with optax L-BFGS (zoom line search) in the nqg loop
    (:func:`nqg.train.run_loop`); ``history["loss"][i]`` is the loss before step ``i``."""
    optimizer = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(loss_fn)

    def step(state: tuple, _i: jax.Array) -> tuple[tuple, dict[str, jax.Array]]:
        p, opt_state = state
        value, grad = value_and_grad(p, state=opt_state)
        updates, opt_state = optimizer.update(grad, opt_state, p, value=value, grad=grad, value_fn=loss_fn)
        return (optax.apply_updates(p, updates), opt_state), {"loss": value}

    return run_loop(
        step,
        (params, optimizer.init(params)),
        steps=steps,
        ctx=ctx,
        name=name,
        progress=progress,
        primary="loss",
        chunk=50,
    )


# ----------------------------------------------------------------------------- convolution as a derivative


def random_smooth_functions_1d(
    key: jax.Array, n_functions: int, n_grid: int, dx: float, k_max: float = 2.0, n_modes: int = 6
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Random ``phi(x) = sum_m A_m cos(k_m x + delta_m)``, ``k_m`` uniform in ``(0, k_max]``, sampled at
    ``x = n dx``; returns ``(x, phi, phi', phi'')``, the last three ``(n_functions, n_grid)``, exact."""
    k_amp, k_wave, k_phase = jax.random.split(key, 3)
    shape = (n_functions, n_modes, 1)
    amp = rng.normal(k_amp, shape) / jnp.sqrt(n_modes)
    wave = rng.uniform(k_wave, shape, minval=0.05 * k_max, maxval=k_max)
    phase = rng.uniform(k_phase, shape, maxval=2 * jnp.pi)
    x = jnp.arange(n_grid) * dx
    arg = wave * x + phase
    phi = jnp.sum(amp * jnp.cos(arg), 1)
    d1 = jnp.sum(-amp * wave * jnp.sin(arg), 1)
    d2 = jnp.sum(-amp * wave**2 * jnp.cos(arg), 1)
    return x, phi, d1, d2


def convolve_valid_1d(kernel: jax.Array, phi: jax.Array) -> jax.Array:
    """``y_n = sum_j w_j phi_{n + j}``, ``j = -m..m`` (kernel size ``2m + 1``), at the ``n_grid - 2m`` points
    where the kernel fits (cross-correlation, the convention of convolutional layers)."""
    size = kernel.shape[0]
    n = phi.shape[-1] - size + 1
    return sum(kernel[j] * phi[..., j : j + n] for j in range(size))


def stencil_moments_1d(kernel: Any, dx: float, orders: int = 3) -> np.ndarray:
    """``M_p = sum_j w_j (j dx)^p / p!`` for ``p = 0..orders-1``, offsets ``j = -m..m``."""
    kernel = np.asarray(kernel)
    offsets = (np.arange(kernel.shape[0]) - kernel.shape[0] // 2) * dx
    return np.array([np.sum(kernel * offsets**p) / factorial(p) for p in range(orders)])


@dataclass
class StencilFit:
    """A trained 1D kernel, its moments ``M_0..M_4`` (``M_0, M_1, M_2`` estimate ``a, b, c``) and the
    relative RMS error of its output on held-out functions."""

    kernel: np.ndarray
    moments: np.ndarray
    heldout_relative_error: float
    history: dict[str, np.ndarray]


def fit_derivative_stencil(
    key: jax.Array,
    coefficients: tuple[float, float, float],
    *,
    size: int = 3,
    dx: float = 0.05,
    n_functions: int = 64,
    n_grid: int = 64,
    k_max: float = 2.0,
    steps: int = 50,
    ctx: RunContext | None = None,
) -> StencilFit:
    """Train a 1D convolution kernel of ``size`` (3 or 5) to map ``phi`` to ``a phi + b phi' + c phi''``.

    The kernel is ``u / dx^2`` (``u`` dimensionless) and starts at zero; the loss is the mean squared
    error over ``n_functions`` random smooth functions relative to the target's mean square, minimised with
    optax L-BFGS (the problem is linear least squares, badly conditioned for gradient descent: the moments
    enter the output with weights ``(k dx)^p``)."""
    if size not in (3, 5):
        raise NqgInputError(f"kernel size must be 3 or 5, got {size}")
    a, b, c = coefficients
    k_train, k_test = jax.random.split(key)
    m = size // 2

    def data(k: jax.Array) -> tuple[jax.Array, jax.Array]:
        _, phi, d1, d2 = random_smooth_functions_1d(k, n_functions, n_grid, dx, k_max)
        target = (a * phi + b * d1 + c * d2)[:, m : n_grid - m]
        return phi, target

    phi, target = data(k_train)
    norm = jnp.mean(target**2)

    def loss(u: jax.Array) -> jax.Array:
        return jnp.mean((convolve_valid_1d(u / dx**2, phi) - target) ** 2) / norm

    out = minimize_lbfgs(loss, jnp.zeros(size, phi.dtype), steps=steps, ctx=ctx, name=f"stencil-{size}")
    kernel = out.state[0] / dx**2
    phi_t, target_t = data(k_test)
    err = jnp.sqrt(jnp.mean((convolve_valid_1d(kernel, phi_t) - target_t) ** 2) / jnp.mean(target_t**2))
    return StencilFit(np.asarray(kernel), stencil_moments_1d(kernel, dx, 5), float(err), out.history)


def random_smooth_functions_2d(
    key: jax.Array, n_functions: int, n_grid: int, dx: float, k_max: float = 2.0, n_modes: int = 6
) -> tuple[jax.Array, jax.Array]:
    """Random ``phi = sum_m A_m cos(k_m . x + delta_m)`` on an ``n_grid x n_grid`` grid and its exact
    Laplacian ``-sum_m |k_m|^2 A_m cos(...)``; each ``(n_functions, n_grid, n_grid)``."""
    k_amp, k_wave, k_phase = jax.random.split(key, 3)
    amp = rng.normal(k_amp, (n_functions, n_modes, 1, 1)) / jnp.sqrt(n_modes)
    wave = rng.uniform(k_wave, (n_functions, n_modes, 2, 1, 1), minval=-k_max, maxval=k_max)
    phase = rng.uniform(k_phase, (n_functions, n_modes, 1, 1), maxval=2 * jnp.pi)
    grid = jnp.arange(n_grid) * dx
    arg = wave[:, :, 0] * grid[:, None] + wave[:, :, 1] * grid[None, :] + phase
    phi = jnp.sum(amp * jnp.cos(arg), 1)
    lap = jnp.sum(-amp * (wave[:, :, 0] ** 2 + wave[:, :, 1] ** 2) * jnp.cos(arg), 1)
    return phi, lap


def convolve_valid_2d(kernel: jax.Array, phi: jax.Array) -> jax.Array:
    """``y_{mn} = sum_{ij} w_ij phi_{m + i, n + j}`` where the kernel fits (cross-correlation)."""
    s0, s1 = kernel.shape
    n0, n1 = phi.shape[-2] - s0 + 1, phi.shape[-1] - s1 + 1
    return sum(kernel[i, j] * phi[..., i : i + n0, j : j + n1] for i in range(s0) for j in range(s1))


def stencil_moments_2d(kernel: Any, dx: float) -> dict[str, float]:
    """``M_pq = sum_ij w_ij (i dx)^p (j dx)^q / (p! q!)`` for ``p + q <= 2`` (offsets centred)."""
    kernel = np.asarray(kernel)
    oi = (np.arange(kernel.shape[0]) - kernel.shape[0] // 2)[:, None] * dx
    oj = (np.arange(kernel.shape[1]) - kernel.shape[1] // 2)[None, :] * dx
    out = {}
    for p, q in ((0, 0), (1, 0), (0, 1), (2, 0), (1, 1), (0, 2)):
        out[f"M{p}{q}"] = float(np.sum(kernel * oi**p * oj**q) / (factorial(p) * factorial(q)))
    return out


def fit_laplacian_stencil(
    key: jax.Array,
    *,
    dx: float = 0.05,
    n_functions: int = 32,
    n_grid: int = 24,
    k_max: float = 2.0,
    steps: int = 50,
    ctx: RunContext | None = None,
) -> tuple[np.ndarray, dict[str, float], float]:
    """Train a 3x3 kernel on ``phi -> laplacian(phi)`` (L-BFGS, kernel ``u / dx^2``); returns the kernel, its
    moments and the held-out relative RMS error of its output."""
    k_train, k_test = jax.random.split(key)
    phi, lap = random_smooth_functions_2d(k_train, n_functions, n_grid, dx, k_max)
    target = lap[:, 1:-1, 1:-1]
    norm = jnp.mean(target**2)

    def loss(u: jax.Array) -> jax.Array:
        return jnp.mean((convolve_valid_2d(u / dx**2, phi) - target) ** 2) / norm

    out = minimize_lbfgs(loss, jnp.zeros((3, 3), phi.dtype), steps=steps, ctx=ctx, name="stencil-laplacian")
    kernel = out.state[0] / dx**2
    phi_t, lap_t = random_smooth_functions_2d(k_test, n_functions, n_grid, dx, k_max)
    tgt = lap_t[:, 1:-1, 1:-1]
    err = jnp.sqrt(jnp.mean((convolve_valid_2d(kernel, phi_t) - tgt) ** 2) / jnp.mean(tgt**2))
    return np.asarray(kernel), stencil_moments_2d(kernel, dx), float(err)


# ----------------------------------------------------------------------------- depth is time


def pendulum_vector_field(x: jax.Array) -> jax.Array:
    """``f(q, p) = (p, -sin q)``: the pendulum ``q'' = -sin q``."""
    return jnp.stack([x[..., 1], -jnp.sin(x[..., 0])], -1)


def pendulum_modified_field(x: jax.Array, dt: float) -> jax.Array:
    """``f + (dt / 2) (Df) f``, ``(Df) f = (-sin q, -p cos q)``: the field whose explicit Euler steps of size
    ``dt`` follow the exact flow of ``f`` to second order (local error ``O(dt^3)``; with ``f`` itself
    ``O(dt^2)``)."""
    q, p = x[..., 0], x[..., 1]
    return pendulum_vector_field(x) + 0.5 * dt * jnp.stack([-jnp.sin(q), -p * jnp.cos(q)], -1)


def exact_flow(field_: Callable[[jax.Array], jax.Array], x0: jax.Array, duration: float) -> jax.Array:
    """``x(T)`` of ``x' = f(x)`` from each row of ``x0`` (diffrax Tsit5, tolerance 1e-10; float32 1e-6)."""
    tol = 1e-10 if jnp.finfo(x0.dtype).eps < 1e-10 else 1e-6

    def solve(y0: jax.Array) -> jax.Array:
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(lambda t, y, args: field_(y)),
            diffrax.Tsit5(),
            0.0,
            duration,
            None,
            y0,
            stepsize_controller=diffrax.PIDController(rtol=tol, atol=tol),
            max_steps=4096,
        )
        return sol.ys[-1]

    return jax.vmap(solve)(x0)


class ResidualFlowNetwork(eqx.Module):
    """``x_{n+1} = x_n + dt f_theta(x_n)``, ``n = 0..depth-1``, one block ``f_theta`` (a tanh MLP) shared by
    all layers: the explicit Euler scheme of ``x' = f_theta(x)`` over ``T = depth * dt``."""

    block: eqx.nn.MLP
    dt: float = eqx.field(static=True)
    depth: int = eqx.field(static=True)

    def __init__(self, dim: int, depth: int, duration: float, key: jax.Array, *, width: int = 32):
        self.block = eqx.nn.MLP(dim, dim, width, 2, activation=jnp.tanh, key=key)
        self.depth = int(depth)
        self.dt = float(duration) / self.depth

    def vector_field(self, x: jax.Array) -> jax.Array:
        """``f_theta(x)`` for a batch ``(n, dim)``."""
        return jax.vmap(self.block)(x)

    def __call__(self, x: jax.Array) -> jax.Array:
        def layer(y: jax.Array, _: Any) -> tuple[jax.Array, None]:
            return y + self.dt * self.vector_field(y), None

        return jax.lax.scan(layer, x, None, length=self.depth)[0]


@dataclass
class DepthTimeFit:
    """Per depth: ``dt``, the RMS error of the learned vector field against ``f`` and against the modified
    field ``f + dt/2 (Df) f``, the flow-map training loss; and the fitted slope of ``log error``
    vs ``log dt``."""

    dts: np.ndarray
    field_error: np.ndarray
    modified_field_error: np.ndarray
    flow_loss: np.ndarray
    slope: float
    slope_error: float


def depth_as_time(
    key: jax.Array,
    depths: list[int],
    *,
    duration: float = 1.0,
    n_train: int = 512,
    box: float = 1.5,
    width: int = 32,
    steps: int = 3000,
    learning_rate: float = 1e-2,
    ctx: RunContext | None = None,
) -> DepthTimeFit:
    """Train a :class:`ResidualFlowNetwork` of each depth on the pendulum's time-``duration`` flow map from
    ``n_train`` initial points uniform in ``[-box, box]^2`` (Adam, cosine decay); measure the RMS error of
    the learned vector field on ``[-box, box]^2`` and fit ``log error = slope log dt + const``."""
    if not depths or min(depths) < 1:
        raise NqgInputError(f"depths must be positive integers, got {depths}")
    k_data, k_eval, key = jax.random.split(key, 3)
    x0 = rng.uniform(k_data, (n_train, 2), minval=-box, maxval=box)
    x_t = exact_flow(pendulum_vector_field, x0, duration)
    x_eval = rng.uniform(k_eval, (1024, 2), minval=-box, maxval=box)
    f_eval = pendulum_vector_field(x_eval)
    norm = jnp.mean(jnp.sum((x_t - x0) ** 2, -1))
    dts, errs, mod_errs, losses = [], [], [], []
    for depth in depths:
        key, k_net = jax.random.split(key)
        net = ResidualFlowNetwork(2, depth, duration, k_net, width=width)

        def loss(model: ResidualFlowNetwork, _key: jax.Array) -> jax.Array:
            return jnp.mean(jnp.sum((model(x0) - x_t) ** 2, -1)) / norm

        schedule = optax.cosine_decay_schedule(learning_rate, steps, alpha=1e-3)
        out = minimize(
            loss, net, optax.adam(schedule), steps=steps, key=k_net, ctx=ctx, name=f"depth-{depth}", chunk=250
        )
        model = out.state.params
        learned = model.vector_field(x_eval)
        dts.append(model.dt)
        errs.append(float(jnp.sqrt(jnp.mean(jnp.sum((learned - f_eval) ** 2, -1)))))
        mod = pendulum_modified_field(x_eval, model.dt)
        mod_errs.append(float(jnp.sqrt(jnp.mean(jnp.sum((learned - mod) ** 2, -1)))))
        losses.append(float(loss(model, k_net)))
    dts_a, errs_a = np.array(dts), np.array(errs)
    slope, slope_err = _loglog_slope(dts_a, errs_a)
    return DepthTimeFit(dts_a, errs_a, np.array(mod_errs), np.array(losses), slope, slope_err)


def _loglog_slope(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares slope of ``log y`` on ``log x`` and its standard error (0 with two points)."""
    lx, ly = np.log(x), np.log(y)
    design = np.stack([lx, np.ones_like(lx)], 1)
    coef, *_ = np.linalg.lstsq(design, ly, rcond=None)
    if len(x) <= 2:
        return float(coef[0]), 0.0
    resid = ly - design @ coef
    s2 = np.sum(resid**2) / (len(x) - 2)
    cov = s2 * np.linalg.inv(design.T @ design)
    return float(coef[0]), float(np.sqrt(cov[0, 0]))


__all__ = [
    "DepthTimeFit",
    "ResidualFlowNetwork",
    "StencilFit",
    "convolve_valid_1d",
    "convolve_valid_2d",
    "depth_as_time",
    "exact_flow",
    "fit_derivative_stencil",
    "fit_laplacian_stencil",
    "minimize_lbfgs",
    "pendulum_modified_field",
    "pendulum_vector_field",
    "random_smooth_functions_1d",
    "random_smooth_functions_2d",
    "stencil_moments_1d",
    "stencil_moments_2d",
]
