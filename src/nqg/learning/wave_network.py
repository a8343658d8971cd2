"""Networks whose neuron states carry waves (Vanchurin, arXiv:2111.00903 Sec. 7; arXiv:2008.01540).

Two kinds of recurrent networks on a periodic lattice (ring, torus; 1 to 3 dimensions):

* :class:`PermutationNetwork`: right and left movers, ``x_R(t+1) = P x_R(t)``, ``x_L(t+1) = P^T x_L(t)``
  with ``P`` the shift permutation along a lattice vector ``s``. Because ``P P^T = 1`` the sum
  ``x = x_R + x_L`` obeys the discrete wave equation ``x(t+1) + x(t-1) = (P + P^T) x(t)`` exactly,
  and a kick at site 0 is supported on ``{+t s, -t s}``: a strict light cone.

* :class:`LocalRecurrentNetwork`: a second-order recurrent network with sparse local weights,

  .. math::
     x_i(t+1) = a_i x_i(t) + \\sum_{\\pm, \\alpha} w^{\\pm\\alpha}_i x_{i \\pm e_\\alpha}(t) + b_i x_i(t-1),

  i.e. ``x(t+1) = W x(t) + B x(t-1)`` with ``W`` nonzero only between nearest neighbours.
  :func:`wave_network` builds the weights of the leapfrog wave update

  .. math:: x(t+1) = 2x(t) - x(t-1) + \\kappa c^2(\\sigma) (\\Delta x)(t) - \\kappa m^2 x(t),

  (``a = 2 - kappa m^2 - 2 D kappa c^2``, ``w = kappa c^2`` at the receiving site, ``b = -1``), the
  explicit discretisation of ``d_t^2 x = c^2 Lap x - m^2 x`` with time step ``dt = sqrt(kappa)`` and unit
  lattice spacing. So ``c`` is a speed in sites per unit time and ``m`` a mass (frequency) per unit time;
  one network step advances the physical time by ``sqrt(kappa)``. The exact lattice dispersion is

  .. math::
     \\frac{4}{dt^2}\\sin^2\\frac{\\omega\\,dt}{2} = c^2 \\sum_\\alpha 4\\sin^2\\frac{k_\\alpha}{2} + m^2,

  stable (real ``omega``) for ``kappa c^2 D + kappa m^2/4 <= 1`` (CFL: ``kappa c^2 <= 1/D`` when massless).

Every network steps in one jitted ``lax.scan`` (:func:`evolve`). The networks are equinox modules:
the user builds them with their own ``c(sigma)``, mass and lattice size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from nqg.errors import NqgInputError

Array = jax.Array


# ----------------------------------------------------------------------------- permutation networks


class PermutationNetwork(eqx.Module):
    """Right/left movers on a torus: ``x_R <- P x_R``, ``x_L <- P^T x_L`` with ``P`` the shift by ``shift``.

    ``P x`` is ``jnp.roll(x, shift)``: the state at site ``i`` moves to site ``i + shift``.
    """

    shape: tuple[int, ...] = eqx.field(static=True)
    shift: tuple[int, ...] = eqx.field(static=True)

    def __init__(self, shape: tuple[int, ...] | int, shift: tuple[int, ...] | int | None = None):
        shape = (int(shape),) if np.isscalar(shape) else tuple(int(n) for n in shape)
        if not 1 <= len(shape) <= 3 or min(shape) < 2:
            raise NqgInputError(f"lattice shape {shape}: need 1 to 3 dimensions of at least 2 sites each")
        if shift is None:
            shift = (1,) + (0,) * (len(shape) - 1)
        shift = (int(shift),) if np.isscalar(shift) else tuple(int(s) for s in shift)
        if len(shift) != len(shape):
            raise NqgInputError(f"shift {shift} must have one entry per lattice axis ({len(shape)})")
        self.shape, self.shift = shape, shift

    @property
    def axes(self) -> tuple[int, ...]:
        return tuple(range(len(self.shape)))

    def forward(self, x: Array) -> Array:
        """``P x``: move every state by ``+shift``."""
        return jnp.roll(x, self.shift, axis=self.axes)

    def backward(self, x: Array) -> Array:
        """``P^T x``: move every state by ``-shift``."""
        return jnp.roll(x, tuple(-s for s in self.shift), axis=self.axes)

    def evolve(self, x_right: Array, x_left: Array, steps: int) -> Array:
        """The total state ``x(t) = x_R(t) + x_L(t)`` for ``t = 0..steps`` (shape ``(steps+1, *shape)``)."""
        return _permutation_scan(self, x_right, x_left, int(steps))

    def wave_residual(self, history: Array) -> Array:
        """``max |x(t+1) + x(t-1) - (P + P^T) x(t)|`` over the recorded history."""
        lhs = history[2:] + history[:-2]
        rhs = jax.vmap(lambda x: self.forward(x) + self.backward(x))(history[1:-1])
        return jnp.max(jnp.abs(lhs - rhs))


@eqx.filter_jit
def _permutation_scan(net: PermutationNetwork, x_right: Array, x_left: Array, steps: int) -> Array:
    def body(carry, _):
        xr, xl = carry
        xr, xl = net.forward(xr), net.backward(xl)
        return (xr, xl), xr + xl

    _, hist = jax.lax.scan(body, (x_right, x_left), None, length=steps)
    return jnp.concatenate([(x_right + x_left)[None], hist])


# ----------------------------------------------------------------------------- local recurrent networks


class LocalRecurrentNetwork(eqx.Module):
    """Second-order recurrent network with nearest-neighbour weights on a periodic lattice.

    ``x(t+1)_i = self_weight_i x_i(t) + sum_a [plus_a,i x_{i+e_a}(t) + minus_a,i x_{i-e_a}(t)]
    + memory_weight_i x_i(t-1) + noise``. ``neighbour_weight`` has shape ``(D, 2, *shape)`` with
    ``[a, 0]`` the weight of ``x_{i+e_a}`` and ``[a, 1]`` that of ``x_{i-e_a}``. ``dt`` is the physical
    time per step (``sqrt(kappa)`` for :func:`wave_network`).
    """

    self_weight: Array
    neighbour_weight: Array
    memory_weight: Array
    dt: float = eqx.field(static=True, default=1.0)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.self_weight.shape)

    @property
    def dim(self) -> int:
        return len(self.shape)

    def drive(self, x: Array) -> Array:
        """``W x``: the local weighted sum of a site and its ``2 D`` neighbours."""
        out = self.self_weight * x
        for a in range(self.dim):
            out = out + self.neighbour_weight[a, 0] * jnp.roll(x, -1, axis=a)
            out = out + self.neighbour_weight[a, 1] * jnp.roll(x, 1, axis=a)
        return out

    def step(self, x_prev: Array, x: Array) -> Array:
        """``x(t+1) = W x(t) + B x(t-1)``."""
        return self.drive(x) + self.memory_weight * x_prev

    def speed_squared(self) -> Array:
        """Local ``c^2`` from the weights: mean neighbour weight / dt^2 (exact for :func:`wave_network`)."""
        return jnp.mean(self.neighbour_weight, axis=(0, 1)) / self.dt**2

    def energy_density(self, x_prev: Array, x: Array, mass_squared: Array | float = 0.0) -> Array:
        """Energy density ``[(x - x_prev)/dt]^2/(2c^2) + sum_a (x_{i+e_a} - x_i)^2/2 + m^2 x^2/(2c^2)``.

        ``c^2`` from :meth:`speed_squared`. For ``d_t^2 x = c^2(sigma) (Lap x - ...)``
        this is the conserved density (the ``1/c^2`` weight makes the total exactly the energy of the
        continuum equation; uniform ``c`` only rescales it). Its centroid locates a packet.
        """
        c2 = self.speed_squared()
        kinetic = 0.5 * ((x - x_prev) / self.dt) ** 2
        grad2 = sum((jnp.roll(x, -1, axis=a) - x) ** 2 for a in range(self.dim))
        return (kinetic + 0.5 * mass_squared * x**2) / c2 + 0.5 * grad2


def wave_network(
    speed: Any,
    *,
    kappa: float = 0.25,
    mass: Any = 0.0,
    shape: tuple[int, ...] | None = None,
    dtype: Any = None,
) -> LocalRecurrentNetwork:
    """The leapfrog wave update ``x(t+1) = 2x - x(t-1) + kappa c^2 Lap x - kappa m^2 x`` as sparse weights.

    ``speed``: ``c`` per site (an array of the lattice shape), a scalar (with ``shape``), or a callable
    ``c(sigma)`` of the site coordinates (``sigma`` of shape ``(D, *shape)``, lattice units) with ``shape``.
    ``mass``: scalar or per-site array. Raises :class:`NqgInputError` for ``c <= 0``, non-finite values,
    or a CFL-unstable ``kappa c^2 D + kappa m^2 / 4 > 1``.
    """
    if callable(speed):
        if shape is None:
            raise NqgInputError("a callable speed profile c(sigma) needs the lattice shape")
        grid = jnp.stack(jnp.meshgrid(*[jnp.arange(n, dtype=dtype or float) for n in shape], indexing="ij"))
        c = jnp.asarray(speed(grid))
    else:
        c = jnp.asarray(speed)
        if c.ndim == 0:
            if shape is None:
                raise NqgInputError("a scalar speed needs the lattice shape")
            c = jnp.full(tuple(shape), c)
    if dtype is not None:
        c = c.astype(dtype)
    elif not jnp.issubdtype(c.dtype, jnp.floating):
        c = c.astype(float)
    if not 1 <= c.ndim <= 3 or min(c.shape) < 3:
        raise NqgInputError(f"speed profile of shape {c.shape}: need 1 to 3 axes of at least 3 sites")
    if shape is not None and tuple(shape) != c.shape:
        raise NqgInputError(
            f"speed profile of shape {c.shape} does not match the lattice shape {tuple(shape)}"
        )
    kappa = float(kappa)
    if not (np.isfinite(kappa) and kappa > 0):
        raise NqgInputError(f"kappa must be a positive number, got {kappa}")
    c_np = np.asarray(c)
    if not np.all(np.isfinite(c_np)):
        raise NqgInputError("speed profile contains NaN or inf; allowed: finite c > 0")
    if np.min(c_np) <= 0:
        raise NqgInputError(f"speed profile has c = {float(np.min(c_np)):g} <= 0; allowed: c > 0 everywhere")
    m = jnp.broadcast_to(jnp.asarray(mass, dtype=c.dtype), c.shape)
    m_np = np.asarray(m)
    if not np.all(np.isfinite(m_np)) or np.min(m_np) < 0:
        raise NqgInputError(f"mass must be finite and >= 0, got min {float(np.min(m_np)):g}")
    dim = c.ndim
    cfl = kappa * c_np**2 * dim + kappa * m_np**2 / 4
    if np.max(cfl) > 1 + 1e-12:
        raise NqgInputError(
            f"CFL-unstable: kappa c^2 D + kappa m^2/4 = {float(np.max(cfl)):.4g} > 1 "
            f"(kappa = {kappa}, max c = {float(np.max(c_np)):.4g}, D = {dim}); allowed: kappa c^2 <= 1/D"
        )
    coupling = kappa * c**2
    self_weight = 2.0 - kappa * m**2 - 2 * dim * coupling
    neighbour = jnp.broadcast_to(coupling, (dim, 2, *c.shape))
    return LocalRecurrentNetwork(
        self_weight, jnp.asarray(neighbour), -jnp.ones_like(c), dt=float(np.sqrt(kappa))
    )


def site_coordinates(shape: tuple[int, ...], dtype: Any = float) -> Array:
    """Coordinates ``sigma`` of every site, shape ``(D, *shape)``."""
    return jnp.stack(jnp.meshgrid(*[jnp.arange(n, dtype=dtype) for n in shape], indexing="ij"))


def evolve(
    network: LocalRecurrentNetwork,
    x_prev: Array,
    x: Array,
    steps: int,
    *,
    observe: Callable[[Array, Array], Any] | None = None,
    every: int = 1,
    noise: float = 0.0,
    key: Array | None = None,
) -> tuple[tuple[Array, Array], Any]:
    """Step the network ``steps`` times in one jitted ``lax.scan``.

    Returns the final pair ``(x(T-1), x(T))`` and ``observe(x(t-1), x(t))`` stacked for
    ``t = every, 2 every, ..., T`` (``None`` when ``observe`` is None). ``noise`` adds
    ``noise * N(0, 1)`` to every neuron at every step (needs ``key``).
    """
    steps, every = int(steps), int(every)
    if steps < 0 or every < 1 or steps % every:
        raise NqgInputError(f"steps ({steps}) must be a non-negative multiple of every ({every})")
    if noise and key is None:
        raise NqgInputError("noise > 0 needs an explicit PRNG key")
    if key is None:
        key = jax.random.key(0)
    return _evolve_scan(network, x_prev, x, steps, observe, every, noise, key)


@eqx.filter_jit
def _evolve_scan(network, x_prev, x, steps, observe, every, noise, key):
    def one(carry, k):
        xp, xc = carry
        xn = network.step(xp, xc)
        if noise:
            xn = xn + noise * jax.random.normal(k, xn.shape, xn.dtype)
        return (xc, xn), None

    def chunk(carry, keys):
        carry, _ = jax.lax.scan(one, carry, keys)
        obs = None if observe is None else observe(*carry)
        return carry, obs

    n_chunks = steps // every if steps else 0
    keys = jax.random.split(key, max(steps, 1))[:steps].reshape(n_chunks, every)
    carry, obs = jax.lax.scan(chunk, (x_prev, x), keys)
    return carry, obs


def kick(shape: tuple[int, ...], site: tuple[int, ...] | None = None, dtype: Any = float) -> Array:
    """A unit kick: 1 at ``site`` (default: the lattice centre), 0 elsewhere."""
    site = tuple(n // 2 for n in shape) if site is None else tuple(site)
    return jnp.zeros(shape, dtype).at[site].set(1.0)


def causal_support(history: Array, site: tuple[int, ...]) -> Array:
    """Largest lattice (Manhattan) distance from ``site`` at which ``history[t]`` is nonzero, per ``t``.

    On a periodic lattice the distance is the shortest one around the torus. For a nearest-neighbour
    network the response to a kick at ``site`` obeys ``support(t) <= t`` exactly (the lattice light cone).
    """
    shape = history.shape[1:]
    dist = 0
    for a, (n, s) in enumerate(zip(shape, site, strict=True)):
        d = jnp.abs(jnp.arange(n) - s)
        d = jnp.minimum(d, n - d)
        dist = dist + d.reshape([-1 if b == a else 1 for b in range(len(shape))])
    nonzero = history != 0
    return jnp.max(jnp.where(nonzero, dist[None], -1), axis=tuple(range(1, history.ndim)))


def gaussian_packet(
    network: LocalRecurrentNetwork,
    centre: tuple[float, ...],
    wavevector: tuple[float, ...],
    width: float,
    *,
    omega: float,
) -> tuple[Array, Array]:
    """A travelling packet ``exp(-|sigma - X(t)|^2 / (2 width^2)) cos(k.(sigma - X(0)) - omega t)`` as the
    pair ``(x(-1), x(0))``, with ``X(t) = centre + v_g t`` and ``v_g = c^2 k / omega`` (continuum group
    velocity of ``omega^2 = c^2 k^2 + m^2`` at the mean local ``c``).

    Coordinates are in sites (not wrapped: keep the packet away from the edges).
    """
    shape = network.shape
    dtype = network.self_weight.dtype
    sigma = site_coordinates(shape, dtype)
    k = jnp.asarray(wavevector, dtype)
    c2 = jnp.mean(network.speed_squared())
    vg = c2 * k / omega if omega > 0 else jnp.zeros_like(k)

    def at(t):
        centre_t = jnp.asarray(centre, dtype) + vg * t
        rel = sigma - centre_t.reshape((-1,) + (1,) * len(shape))
        env = jnp.exp(-jnp.sum(rel**2, axis=0) / (2 * width**2))
        rel0 = sigma - jnp.asarray(centre, dtype).reshape((-1,) + (1,) * len(shape))
        phase = jnp.tensordot(k, rel0, axes=1) - omega * t
        return env * jnp.cos(phase)

    return at(-network.dt), at(0.0)


def energy_centroid(density: Array) -> Array:
    """Centroid ``sum_i sigma_i e_i / sum_i e_i`` (lattice coordinates, not wrapped)."""
    sigma = site_coordinates(density.shape, density.dtype)
    total = jnp.sum(density)
    return jnp.tensordot(sigma, density, axes=density.ndim) / total


# ----------------------------------------------------------------------------- learned variant


def thermal_state(network: LocalRecurrentNetwork, mass: float, key: Array) -> tuple[Array, Array]:
    """A random equipartition state ``(x(-1), x(0))`` of a uniform wave network, unit variance per site.

    Every Fourier mode gets a complex Gaussian amplitude ``/ omega(k)`` (equal energy per mode) and
    travels with the exact lattice frequency, so the state is a stationary sample of the free field.
    """
    shape, dtype = network.shape, network.self_weight.dtype
    c2 = float(jnp.mean(network.speed_squared()))
    dt = network.dt
    ks = jnp.meshgrid(*[2 * jnp.pi * jnp.fft.fftfreq(n) for n in shape], indexing="ij")
    s2 = sum(4 * jnp.sin(k / 2) ** 2 for k in ks)
    omega = 2 / dt * jnp.arcsin(jnp.clip(jnp.sqrt(c2 * s2 + mass**2) * dt / 2, 0, 1))
    k1, k2 = jax.random.split(key)
    amp = (jax.random.normal(k1, shape) + 1j * jax.random.normal(k2, shape)) / jnp.where(
        omega > 0, omega, jnp.inf
    )

    def at(t):
        return jnp.real(jnp.fft.ifftn(amp * jnp.exp(-1j * omega * t)))

    x_prev, x = at(-dt), at(0.0)
    scale = jnp.std(x)
    return (x_prev / scale).astype(dtype), (x / scale).astype(dtype)


class LearnedWaveNetwork(eqx.Module):
    """Local weights learned online: per site ``(self, neighbours (D, 2), memory)`` as in
    :class:`LocalRecurrentNetwork`, trained to predict the next state of the neurons it observes."""

    network: LocalRecurrentNetwork
    loss_history: Array


def learn_wave_network(
    environment: LocalRecurrentNetwork,
    *,
    mass: float,
    key: Array,
    steps: int = 4000,
    noise: float = 0.1,
    learning_rate: float = 0.05,
    record: int = 40,
) -> LearnedWaveNetwork:
    """Train general sparse local weights online, under noise (the learned variant of the wave network).

    The environment is a thermal state of the wave network ``environment`` (the data the neurons see;
    its dynamics is the input, not the learner). Each neuron observes the noisy states
    ``y = x + noise * xi`` (entropy production: fresh Gaussian noise at every step) and predicts its next
    state from its own and its neighbours' observed states,
    ``yhat_i(t+1) = a_i y_i(t) + sum_{a,+-} w_i^{a+-} y_{i+-e_a}(t) + b_i y_i(t-1)``. One optax SGD step per
    time step on ``(1/2) sum_i (yhat_i - y_i)^2`` (entropy destruction by learning). Weights start at zero.
    Noise in the inputs biases the learned couplings (errors in variables); the learning rate sets the
    stationary scatter of the weights (SGD noise) and the convergence. Returns the learned network
    (with the environment's ``dt``) and the mean loss per site in ``record`` windows.
    """
    shape, dtype, dim = environment.shape, environment.self_weight.dtype, environment.dim
    if not (noise >= 0 and learning_rate > 0):
        raise NqgInputError(f"noise ({noise}) must be >= 0 and learning_rate ({learning_rate}) > 0")
    k_state, k_noise = jax.random.split(key)
    x_prev, x = thermal_state(environment, mass, k_state)
    zeros = jnp.zeros(shape, dtype)
    params = (zeros, jnp.zeros((dim, 2, *shape), dtype), zeros)
    steps = int(steps) // int(record) * int(record)
    lr, sigma = jnp.asarray(learning_rate, dtype), jnp.asarray(noise, dtype)
    return _learn_scan(environment, params, lr, x_prev, x, sigma, k_noise, steps, int(record))


def _prediction(params, y_prev, y):
    a, w, b = params
    return LocalRecurrentNetwork(a, w, b).step(y_prev, y)


@eqx.filter_jit
def _learn_scan(environment, params, learning_rate, x_prev, x, noise, key, steps, record):
    import optax

    opt = optax.sgd(learning_rate)
    opt_state = opt.init(params)

    def loss(p, y_prev, y, y_next):
        return 0.5 * jnp.sum((_prediction(p, y_prev, y) - y_next) ** 2)

    def one(carry, k):
        p, s, xp, xc, yp, yc = carry
        xn = environment.step(xp, xc)
        yn = xn + noise * jax.random.normal(k, xn.shape, xn.dtype)
        value, grad = jax.value_and_grad(loss)(p, yp, yc, yn)
        updates, s = opt.update(grad, s, p)
        p = optax.apply_updates(p, updates)
        return (p, s, xc, xn, yc, yn), value / xn.size

    def window(carry, keys):
        carry, losses = jax.lax.scan(one, carry, keys)
        return carry, jnp.mean(losses)

    k0, k1, k2 = jax.random.split(key, 3)
    y_prev = x_prev + noise * jax.random.normal(k0, x.shape, x.dtype)
    y = x + noise * jax.random.normal(k1, x.shape, x.dtype)
    keys = jax.random.split(k2, steps).reshape(steps // record, record)
    carry, losses = jax.lax.scan(window, (params, opt_state, x_prev, x, y_prev, y), keys)
    a, w, b = carry[0]
    return LearnedWaveNetwork(LocalRecurrentNetwork(a, w, b, dt=environment.dt), losses)


__all__ = [
    "LearnedWaveNetwork",
    "LocalRecurrentNetwork",
    "PermutationNetwork",
    "causal_support",
    "energy_centroid",
    "evolve",
    "gaussian_packet",
    "kick",
    "learn_wave_network",
    "site_coordinates",
    "thermal_state",
    "wave_network",
]
