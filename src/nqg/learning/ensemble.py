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

**Random streams (one per learner).** Learner ``i`` (its *global* index ``0 <= i < N``) owns the key
``k_i = nqg.devices.stream_key(key, i) = fold_in(key, i)``. At step ``n`` (counted from 0 over the whole
:func:`simulate` call) it needs ``M`` standard normals ``z_{i,n,c}`` (``c < M``; ``M`` is the learner's
:meth:`noise_shape`, e.g. 1 for one additive-noise parameter). They are drawn in pairs of steps
``(2k, 2k + 1)`` by the Box-Muller transform of two uniforms, each from the Threefry-2x32 block cipher keyed
by ``k_i`` in counter mode:

    u_a = U(threefry2x32(k_i; c, 2k)),   u_b = U(threefry2x32(k_i; c, 2k + 1)),   R = sqrt(-2 ln u_a),
    z_{i,2k,c} = R cos(2 pi u_b),         z_{i,2k+1,c} = R sin(2 pi u_b),

with ``U(w_hi, w_lo) = (m + 1/2) 2^-b`` and ``m`` the top ``b`` bits of the words (float64: ``b = 52`` of
``w_hi w_lo``; float32: ``b = 23`` of ``w_hi``, so a float32 run draws its float64 run's uniforms rounded).
For ``c = 0`` the words at counter ``(0, n)`` are exactly the key data of ``fold_in(k_i, n)``. So learner
``i``'s trajectory depends on ``(key, i)``, its initial state and the hyper-parameters only: not on ``N``,
on the other learners, on ``record_every`` or on the number of devices. The cipher is evaluated unrolled
(:func:`threefry2x32`, bit-identical to ``jax.extend.random.threefry_2x32``), and ``ln`` (float64), ``cos``
and ``sin`` are branch-free series (:func:`_log_float64`, :func:`cos_sin_2pi`), so XLA fuses two whole
steps (cipher, normals, gradient, update) into one loop over learners. JAX's own CPU lowering of the cipher
is a rolled loop that costs several times more. Per float64 normal on an AVX-512 CPU (``benchmarks/
learner_ensemble.py``): 3.3 CPU-ns with the cipher, against 7.8 for Wichura's AS241 quantile of one
uniform (this engine's previous method) and more for ``erfinv`` or XLA's ``log``, ``sin`` and ``cos``.
With an odd ``record_every`` the records are run two at a time (``2 record_every`` steps from an even
step); only a last, unpaired record draws each step's pair alone (the same numbers, at twice the cost).

**Devices** (:mod:`nqg.devices`). The learner axis is laid out over ``n_devices`` devices (default
:func:`nqg.devices.device_count`) with a :class:`~jax.sharding.NamedSharding` and the jitted scan is
partitioned by XLA (GSPMD): every step is elementwise over learners, and whatever ``observe`` reduces
(means, variances, histograms) is reduced across devices by XLA's collectives. When ``D`` does not divide
``N`` the learner axis is padded to ``padded_length(N, D)``; the padded learners (global indices
``N, ...``) evolve like the others but are sliced off before ``observe`` sees the ensemble and from the
returned state. Results for ``D = 1, 2, 4`` agree: the trajectories to the last bit, the records to the
rounding of reordered sums. On an AVX-512 CPU the scan is compiled with 512-bit vectors
(:func:`nqg.devices.wide_vector_compiler_options`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import NamedSharding, PartitionSpec

from nqg import devices as nqg_devices
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
    """Per-sample loss ``V(q) - xi . q`` with ``xi ~ N(0, s^2)``: ``g = V'(q) - mean_B(xi)``.

    ``mean_B(xi) = (s / sqrt(B)) z`` with one standard normal ``z`` per trainable variable per step.
    """

    potential: Potential
    noise: float
    batch: int

    def noise_shape(self, param_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Standard normals one learner needs per step: one per trainable variable."""
        return tuple(param_shape)

    def gradient(self, q: Any, z: Any) -> Any:
        """Mini-batch gradient of every learner; ``z``: standard normals of shape ``q.shape``."""
        return self.potential.gradient(q) - (self.noise / jnp.sqrt(self.batch)) * z

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

    def noise_shape(self, param_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Two standard normals per trainable variable per step (``xi`` and ``xi'``)."""
        return (2, *param_shape)

    def gradient(self, q: Any, z: Any) -> Any:
        """Mini-batch gradient; ``z``: standard normals of shape ``(N, 2, *q.shape[1:])``."""
        scale = 1.0 / jnp.sqrt(self.batch)
        zeta, zeta_a = z[:, 0], z[:, 1]
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
        """Initial parameters ``(n_learners, 3 width + 1)``: ``w, b ~ N(0, 1)``, ``a ~ N(0, 1/width)``.

        Learner ``i`` draws from ``stream_key(key, i)``: its initial state does not depend on ``n_learners``.
        """
        dtype = dtype or jnp.zeros(()).dtype
        q = jax.vmap(lambda i: jax.random.normal(nqg_devices.stream_key(key, i), (self.n_params,), dtype))(
            jnp.arange(n_learners)
        )
        scale = (
            jnp.ones(self.n_params, dtype).at[2 * self.width : 3 * self.width].set(1.0 / np.sqrt(self.width))
        )
        return q * scale.at[-1].set(0.0)

    def noise_shape(self, param_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Standard normals per learner per step: ``B`` inputs ``x`` and ``B`` label noises ``zeta``."""
        return (2, self.batch)

    def gradient(self, q: Any, z: Any) -> Any:
        """Mini-batch gradient of every learner; ``z``: standard normals of shape ``(N, 2, B)``."""
        x = z[:, 0]
        y = self.teacher(x) + self.noise * z[:, 1]
        return jax.vmap(jax.grad(self.loss))(q, x, y)


# ------------------------------------------------------------------------------------------ noise streams
_THREEFRY_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
MAX_STEPS = 2**32 - 1
"""Steps of one :func:`simulate` call: the step index is the low 32-bit word of the cipher counter."""


def threefry2x32(k0: Any, k1: Any, x0: Any, x1: Any) -> tuple[Any, Any]:
    """Threefry-2x32 (20 rounds; Salmon et al., SC'11) of the counter ``(x0, x1)`` under the key ``(k0, k1)``.

    All arguments ``uint32`` arrays (broadcast). Bit-identical to ``jax.extend.random.threefry_2x32``; written
    out round by round so that XLA fuses it with its consumer (JAX lowers it to a rolled loop on CPU).
    """
    u32 = np.uint32
    ks = (k0, k1, k0 ^ k1 ^ u32(0x1BD11BDA))
    x0, x1 = x0 + ks[0], x1 + ks[1]
    for j in range(5):
        for r in _THREEFRY_ROTATIONS[j % 2]:
            x0 = x0 + x1
            x1 = (x1 << u32(r)) | (x1 >> u32(32 - r))
            x1 = x0 ^ x1
        x0 = x0 + ks[(j + 1) % 3]
        x1 = x1 + ks[(j + 2) % 3] + u32(j + 1)
    return x0, x1


def learner_key_words(key: Any, global_index: Any) -> tuple[Any, Any]:
    """The two ``uint32`` words of learner ``global_index``'s key ``stream_key(key, i)`` (arrays of ``i``).

    (With a non-Threefry key implementation, its first two key words.)
    """
    words = jax.vmap(lambda i: jax.random.key_data(nqg_devices.stream_key(key, i)))(jnp.ravel(global_index))
    shape = jnp.shape(global_index)
    return words[:, 0].reshape(shape), words[:, 1].reshape(shape)


def _horner(coefficients: tuple[float, ...], x: Any) -> Any:
    acc = jnp.full_like(x, coefficients[-1])
    for c in coefficients[-2::-1]:
        acc = acc * x + c
    return acc


_LN2_HI, _LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10  # ln 2 = hi + lo (fdlibm split)


def _log_float64(x: Any) -> Any:
    """``log x`` for positive normal float64 ``x`` (relative error ~2e-16 for ``x <= 1/2``).

    ``x = 2^e f`` with ``f`` in ``[sqrt(1/2), sqrt(2))`` from the bits; ``log f = 2 atanh(s)``,
    ``s = (f - 1)/(f + 1)``, ``|s| <= 0.172``, summed to ``s^23``. Branch- and division-free, so it
    vectorises and fuses with the cipher; XLA's float64 ``log`` on CPU costs about 2.5 times more.
    """
    bits = jax.lax.bitcast_convert_type(x, jnp.uint64)
    mantissa = bits & np.uint64(0x000FFFFFFFFFFFFF)
    above = mantissa > np.uint64(0x6A09E667F3BCD)  # f > sqrt(2): use f/2 and e + 1
    exponent_bits = jnp.where(above, np.uint64(0x3FE0000000000000), np.uint64(0x3FF0000000000000))
    f = jax.lax.bitcast_convert_type(mantissa | exponent_bits, jnp.float64)
    e = ((bits >> np.uint64(52)).astype(jnp.int64) - 1023 + above.astype(jnp.int64)).astype(jnp.float64)
    # 1/(f + 1) by Newton's iteration r <- r (2 - (f + 1) r) from r = 2/(L + H) (relative error
    # <= (H - L)/(H + L) = 0.172 on [L, H] = [1 + sqrt(1/2), 1 + sqrt(2)]; squared each step: 0.172^32 after
    # five): no division, which XLA would not fuse and would recompute the cipher for
    d = f + 1.0
    r = jnp.full_like(d, 2.0 / (2.0 + np.sqrt(0.5) + np.sqrt(2.0)))
    for _ in range(5):
        r = r * (2.0 - d * r)
    s = (f - 1.0) * r
    s2 = s * s
    series = jnp.full_like(s2, 1.0 / 23.0)
    for k in range(10, -1, -1):
        series = series * s2 + 1.0 / (2 * k + 1)
    return e * _LN2_HI + (e * _LN2_LO + 2.0 * s * series)


_SIN_2PI = tuple((-1) ** k / math.factorial(2 * k + 1) for k in range(8))  # sin r, r^1 .. r^15
_COS_2PI = tuple((-1) ** k / math.factorial(2 * k) for k in range(9))  # cos r, r^0 .. r^16


def cos_sin_2pi(u: Any) -> tuple[Any, Any]:
    """``(cos 2 pi u, sin 2 pi u)`` for any real ``u`` (absolute error ~7e-16 in float64).

    ``x = u - round(u)`` in ``[-1/2, 1/2]``, quadrant ``k = round(4x)``, ``r = (4x - k) pi/2`` in
    ``[-pi/4, pi/4]`` (``4x - k`` is exact), Taylor series of ``sin r`` to ``r^15`` and ``cos r`` to ``r^16``
    (truncation ``< (pi/4)^17/17! = 5e-17``), rotated by ``k`` quarter turns. Branch-free, so it vectorises
    and fuses with the cipher; XLA's float64 ``sin`` and ``cos`` on a CPU cost several times more.
    """
    x = u - jnp.round(u)
    y = 4.0 * x
    k = jnp.round(y)
    r = (y - k) * (np.pi / 2)
    r2 = r * r
    s, c = r * _horner(_SIN_2PI, r2), _horner(_COS_2PI, r2)
    quadrant = k.astype(jnp.int32) & 3  # k = -2 .. 2; -1 & 3 = 3, -2 & 3 = 2
    cos_t = jnp.where(quadrant == 0, c, jnp.where(quadrant == 1, -s, jnp.where(quadrant == 2, -c, s)))
    sin_t = jnp.where(quadrant == 0, s, jnp.where(quadrant == 1, c, jnp.where(quadrant == 2, -s, -c)))
    return cos_t, sin_t


def uniform_from_bits(hi: Any, lo: Any, dtype: Any) -> Any:
    """The midpoint uniform ``u = (m + 1/2) 2^-b`` on ``(0, 1)`` from the cipher words ``hi, lo``.

    float64: ``m`` = the top ``b = 52`` of the 64 bits ``hi lo``; float32: the top ``b = 23`` bits of ``hi``
    (so a float32 uniform is its float64 one rounded to 23 bits). ``u`` is exact in the dtype, never 0 or 1.
    """
    dtype = jnp.dtype(dtype)
    if dtype.itemsize == 8:  # 1 <= f = 1 + m 2^-52 < 2 from the bits; f - 1 + 2^-53 is exact
        bits = (hi.astype(jnp.uint64) << np.uint64(32)) | lo.astype(jnp.uint64)
        one_to_two = jax.lax.bitcast_convert_type(
            (bits >> np.uint64(12)) | np.uint64(0x3FF0000000000000), jnp.float64
        )
        return (one_to_two - 1.0) + 2.0**-53
    one_to_two = jax.lax.bitcast_convert_type((hi >> np.uint32(9)) | np.uint32(0x3F800000), jnp.float32)
    return ((one_to_two - np.float32(1.0)) + np.float32(2.0**-24)).astype(dtype)


def learner_noise_pair(k0: Any, k1: Any, pair: Any, shape: tuple[int, ...], dtype: Any) -> tuple[Any, Any]:
    """The standard normals of steps ``n = 2 pair`` and ``2 pair + 1`` of every learner (Box-Muller).

    Component ``c`` (row-major over ``shape``) of learner ``i``: ``u_a``, ``u_b`` are the uniforms
    (:func:`uniform_from_bits`) of ``threefry2x32(k_i; c, 2 pair)`` and ``threefry2x32(k_i; c, 2 pair + 1)``,
    and ``z_{2 pair} = R cos 2 pi u_b``, ``z_{2 pair + 1} = R sin 2 pi u_b`` with ``R = sqrt(-2 ln u_a)``:
    two independent standard normals, exactly, for exact uniforms. Returns two arrays of shape
    ``(len(k0), *shape)``. ``|z| <= 8.57`` in float64 (``5.77`` in float32).
    """
    m = int(np.prod(shape, dtype=np.int64))
    component = jnp.arange(m, dtype=jnp.uint32)[None, :]
    even = jnp.asarray(pair, jnp.uint32) * np.uint32(2)
    u_a = uniform_from_bits(*threefry2x32(k0[:, None], k1[:, None], component, even), dtype)
    u_b = uniform_from_bits(*threefry2x32(k0[:, None], k1[:, None], component, even + np.uint32(1)), dtype)
    log_u = _log_float64(u_a) if jnp.dtype(dtype) == jnp.float64 else jnp.log(u_a)
    radius = jnp.sqrt(-2.0 * log_u)
    cos_t, sin_t = cos_sin_2pi(u_b)
    return (radius * cos_t).reshape(k0.shape[0], *shape), (radius * sin_t).reshape(k0.shape[0], *shape)


def learner_noise(k0: Any, k1: Any, step: Any, shape: tuple[int, ...], dtype: Any) -> Any:
    """Standard normals ``z_{i,n,c}`` of every learner at step ``n``: shape ``(len(k0), *shape)``.

    The even or odd member of :func:`learner_noise_pair` for ``pair = n // 2`` (both are computed: the
    engine draws pairs of steps at once where it can). It depends on ``(k_i, n, c)`` only.
    """
    step = jnp.asarray(step, jnp.uint32)
    even, odd = learner_noise_pair(k0, k1, step >> np.uint32(1), shape, dtype)
    return jnp.where((step & np.uint32(1)) == 0, even, odd)


# ------------------------------------------------------------------------------------------ the engine
class Trajectory(eqx.Module):
    """What :func:`simulate` returns: the record times, the records (stacked along axis 0), the final
    state ``q`` of every learner (a JAX array laid out over the devices used) and the device count."""

    times: Any
    records: Any
    q: Any
    steps: int = eqx.field(static=True)
    devices: int = eqx.field(static=True, default=1)


def validate_learning(learning_rate: float, steps: int, record_every: int, momentum: float = 0.0) -> None:
    """Bad input -> NqgInputError naming the value and what is allowed."""
    if not (np.isfinite(learning_rate) and learning_rate > 0):
        raise NqgInputError(f"learning rate must be a positive number, got {learning_rate}")
    if not 1 <= steps <= MAX_STEPS:
        raise NqgInputError(f"steps must be an integer between 1 and {MAX_STEPS}, got {steps}")
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
    n_devices: int | None = None,
) -> Trajectory:
    """Run every learner for ``steps`` online-SGD steps from ``q0`` (leading axis: learners).

    ``learner.noise_shape(q0.shape[1:])`` is the shape of the standard normals one learner uses per step
    and ``learner.gradient(q, z)`` the mini-batch gradient of the whole ensemble given them (``z``: shape
    ``(N, *noise_shape)``, drawn from learner ``i``'s own stream, see the module docstring). The update is
    ``optimizer`` (default ``optax.sgd(learning_rate, momentum)``), elementwise over learners. Every
    ``record_every`` steps ``observe(q, q_previous)`` of the whole ensemble is stored (``q_previous``: the
    state one step before), at times ``t = eta * step``. Memory does not grow with ``steps``.

    ``n_devices``: devices the learners are laid out over (default :func:`nqg.devices.device_count`); the
    learner axis is padded to ``padded_length(N, n_devices)`` and the padded learners are never observed
    nor returned. The records come back replicated on every device (and every process).
    """
    record_every = int(record_every or steps)
    validate_learning(float(learning_rate), int(steps), record_every, float(momentum))
    n_dev = nqg_devices.resolve_device_count(n_devices)
    q0 = jnp.asarray(q0)
    if q0.ndim < 1 or q0.shape[0] < 1:
        raise NqgInputError(f"q0 needs a leading learner axis of length >= 1, got shape {q0.shape}")
    if not jnp.issubdtype(q0.dtype, jnp.floating):
        q0 = q0.astype(jnp.zeros(()).dtype)
    n_learners = int(q0.shape[0])
    # numbers in the learner become traced arrays: one compilation serves every noise and batch size
    learner = jax.tree_util.tree_map(
        lambda x: jnp.asarray(x, q0.dtype) if isinstance(x, (float, int)) and not isinstance(x, bool) else x,
        learner,
    )
    hyper = (jnp.asarray(learning_rate, q0.dtype), jnp.asarray(momentum, q0.dtype), bool(momentum > 0))
    device_mesh = nqg_devices.mesh(n_dev)
    layout = (
        NamedSharding(device_mesh, PartitionSpec(nqg_devices.WORK_AXIS)),
        NamedSharding(device_mesh, PartitionSpec()),
    )
    n_padded = nqg_devices.padded_length(n_learners, n_dev)
    q0 = nqg_devices.pad_with_last(q0, n_padded)  # padded learners copy the last one, and are dropped
    q0 = jax.device_put(q0, layout[0])
    n_records = int(steps) // record_every
    scan = _scan_wide if nqg_devices.wide_vector_compiler_options() else _scan
    records, q = scan(
        learner, q0, key, optimizer, hyper, n_records, record_every, observe, n_learners, layout
    )
    if not all(a.is_fully_addressable for a in jax.tree.leaves((records, q))):
        records, q = nqg_devices.to_host((records, q))
    times = learning_rate * record_every * np.arange(1, n_records + 1)
    return Trajectory(times=times, records=records, q=q, steps=int(steps), devices=n_dev)


def _scan_impl(learner, q0, key, optimizer, hyper, n_records, record_every, observe, n_learners, layout):
    sharded, replicated = layout
    learning_rate, momentum, use_momentum = hyper
    if optimizer is not None:
        opt = optimizer
    else:  # built inside the trace: the same compiled scan serves every learning rate and momentum
        opt = optax.sgd(learning_rate, momentum=momentum if use_momentum else None)
    state0 = opt.init(q0)
    global_index = jax.lax.with_sharding_constraint(jnp.arange(q0.shape[0], dtype=jnp.uint32), sharded)
    k0, k1 = learner_key_words(key, global_index)
    k0, k1 = (jax.lax.with_sharding_constraint(k, sharded) for k in (k0, k1))
    noise_shape = tuple(learner.noise_shape(tuple(q0.shape[1:])))

    def real(x):  # the learners that exist (padding sliced off)
        return x if x.shape[0] == n_learners else x[:n_learners]

    def update(carry, z):
        q, state = carry
        g = learner.gradient(q, z)
        updates, state = opt.update(g, state, q)
        q = jax.lax.with_sharding_constraint(optax.apply_updates(q, updates), sharded)
        return q, state

    def step(carry, n):  # one step, drawing its normal alone (half of a Box-Muller pair is wasted)
        return update(carry, learner_noise(k0, k1, n, noise_shape, q0.dtype)), None

    def step_pair(carry, pair):  # steps 2 pair and 2 pair + 1 from one Box-Muller pair
        z_even, z_odd = learner_noise_pair(k0, k1, pair, noise_shape, q0.dtype)
        return update(update(carry, z_even), z_odd), None

    def pairs(carry, first_pair, n_pairs):  # n_pairs >= 1 pairs; also the state before the last step
        carry, _ = jax.lax.scan(step_pair, carry, first_pair + jnp.arange(n_pairs - 1, dtype=jnp.uint32))
        z_even, z_odd = learner_noise_pair(k0, k1, first_pair + np.uint32(n_pairs - 1), noise_shape, q0.dtype)
        carry = update(carry, z_even)
        return update(carry, z_odd), carry[0]

    def seen(carry, q_prev):
        return observe(real(carry[0]), real(q_prev))

    def record_even(carry, r):  # record_every even: every record starts at an even step
        carry, q_prev = pairs(carry, r * np.uint32(record_every // 2), record_every // 2)
        return carry, seen(carry, q_prev)

    def record_single(carry, r):  # one record, each step drawing its own pair
        first = r * np.uint32(record_every)
        carry, _ = jax.lax.scan(step, carry, first + jnp.arange(record_every - 1, dtype=jnp.uint32))
        q_prev = carry[0]
        carry, _ = step(carry, first + np.uint32(record_every - 1))
        return carry, seen(carry, q_prev)

    def record_two(carry, rr):  # record_every = 2 half + 1 odd: records 2 rr and 2 rr + 1 (from an even step)
        half, base = record_every // 2, rr * np.uint32(record_every)  # base: the first pair
        if half:
            carry, _ = jax.lax.scan(step_pair, carry, base + jnp.arange(half, dtype=jnp.uint32))
        z_even, z_odd = learner_noise_pair(k0, k1, base + np.uint32(half), noise_shape, q0.dtype)
        q_prev = carry[0]
        carry = update(carry, z_even)  # the last step of record 2 rr
        first_record = seen(carry, q_prev)
        q_prev = carry[0]
        carry = update(carry, z_odd)  # the first step of record 2 rr + 1
        if half:
            carry, q_prev = pairs(carry, base + np.uint32(half + 1), half)
        both = jax.tree.map(lambda a, b: jnp.stack([a, b]), first_record, seen(carry, q_prev))
        return carry, both

    carry = (q0, state0)
    if record_every % 2 == 0:
        carry, records = jax.lax.scan(record_even, carry, jnp.arange(n_records, dtype=jnp.uint32))
    else:
        carry, records = jax.lax.scan(record_two, carry, jnp.arange(n_records // 2, dtype=jnp.uint32))
        records = jax.tree.map(lambda a: a.reshape(-1, *a.shape[2:]), records)
        if n_records % 2:
            carry, last = record_single(carry, np.uint32(n_records - 1))
            records = jax.tree.map(lambda a, b: jnp.concatenate([a, b[None]]), records, last)
    q = carry[0]
    records = jax.tree.map(lambda a: jax.lax.with_sharding_constraint(a, replicated), records)
    return records, real(q)


_scan = eqx.filter_jit(_scan_impl)
# the same program with 512-bit vectors on an AVX-512 CPU (nqg.devices.wide_vector_compiler_options): the step
# is elementwise over learners and compute bound, and this halves its instructions (float64: 13.0 -> 7.5
# CPU-ns per learner-step on an AMD EPYC, benchmarks/learner_ensemble.py)
_scan_wide = eqx.filter_jit(_scan_impl, compiler_options=nqg_devices.WIDE_VECTORS)


# ------------------------------------------------------------------------------------------ device reductions
def ensemble_moments(q: Any, weights: Any = None) -> dict[str, Any]:
    """Mean, variance and fourth central moment of each variable over the learner axis, with the standard
    error of the variance ``sqrt((m4 - m2^2) / N)`` (independent learners); ``weights`` (optional, shape
    ``q.shape``): also the mean and standard error of ``weights`` (e.g. the virial ``q V'(q)``).

    Computed where ``q`` lives: for a ``q`` laid out over devices the sums are reduced across them.
    """
    out = dict(_moments(jnp.asarray(q), None if weights is None else jnp.asarray(weights)))
    return jax.tree.map(lambda a: np.asarray(nqg_devices.to_host(a)), out)


@jax.jit
def _moments(q, weights):
    n = q.shape[0]
    mean = jnp.mean(q, axis=0)
    d = q - mean
    m2, m4 = jnp.mean(d**2, axis=0), jnp.mean(d**4, axis=0)
    out = {
        "n": n,
        "mean": mean,
        "variance": m2,
        "variance_error": jnp.sqrt(jnp.maximum(m4 - m2**2, 0.0) / n),
        "m4": m4,
        "min": jnp.min(q, axis=0),
        "max": jnp.max(q, axis=0),
    }
    if weights is not None:
        out["weight_mean"] = jnp.mean(weights, axis=0)
        out["weight_error"] = jnp.std(weights, axis=0) / np.sqrt(n)
    return out


def ensemble_histogram(q: Any, edges: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Histogram density of the learners on ``edges`` (counted where ``q`` lives, summed over devices):
    ``(centres, p, p_error)`` with ``p_k = c_k / (N dq_k)`` and the binomial error
    ``sqrt(c_k (1 - c_k/N)) / (N dq_k)``, as :func:`nqg.learning.density.histogram_density`."""
    q = jnp.ravel(jnp.asarray(q))
    edges = np.asarray(edges, dtype=float)
    if q.size < 2 or edges.ndim != 1 or edges.size < 2 or not np.all(np.diff(edges) > 0):
        raise NqgInputError(
            f"a histogram needs >= 2 samples and increasing edges, got {q.size} samples, {edges.size} edges"
        )
    counts = np.asarray(nqg_devices.to_host(_counts(q, jnp.asarray(edges, q.dtype))), dtype=float)
    n, width = q.size, np.diff(edges)
    p = counts / (n * width)
    err = np.sqrt(counts * (1.0 - counts / n)) / (n * width)
    return 0.5 * (edges[1:] + edges[:-1]), p, err


@jax.jit
def _counts(q, edges):
    # bin k holds edges[k] <= q < edges[k+1]; the last bin also holds q == edges[-1] (as numpy)
    k = jnp.searchsorted(edges, q, side="right") - 1
    k = jnp.where(q == edges[-1], edges.shape[0] - 2, k)
    inside = (k >= 0) & (k < edges.shape[0] - 1)
    n_bins = edges.shape[0] - 1
    return jnp.bincount(jnp.where(inside, k, n_bins), length=n_bins + 1)[:n_bins]


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
    "MAX_STEPS",
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
    "cos_sin_2pi",
    "default_observe",
    "double_well",
    "ensemble_histogram",
    "ensemble_moments",
    "hbar_eff",
    "learner_key_words",
    "learner_noise",
    "learner_noise_pair",
    "multiplicative_moments_quadratic",
    "potential_from_name",
    "quadratic",
    "quartic",
    "simulate",
    "stationary_variance_quadratic",
    "threefry2x32",
    "uniform_from_bits",
    "validate_learning",
]
