"""Path integrals as statistical sums over network weights (Hashimoto, Hirono, Maeda,
Totsuka-Yoshinaka, arXiv:2403.11420).

A Euclidean path x(tau), 0 <= tau <= T, is a network whose weights theta are the integration
variables; the path integral ``Z = int D x exp(-S_E[x]/hbar)`` becomes an ordinary integral over theta
with density ``exp(-S_E(theta)/hbar)`` (times a constant Jacobian: every map theta -> path here is
affine), sampled with NUTS (blackjax) over many chains.

Networks (``N`` neurons, boundary ``"fixed"``: x(0) = x_0, x(T) = x_f; ``"free"``: x(0) = x_0, x(T)
integrated over; ``"periodic"``: x(0) = x(T) integrated over):

- :class:`ReluPath`: ``x(tau) = b + sum_n w_n ReLU(tau - tau_n)`` with kinks ``tau_n = n T/N``; ``w_n``
  are accelerations (slope changes), the path is piecewise linear. ``b = x_0`` (``periodic``: b free).
- :class:`FreeKinkReluPath`: ``x(tau) = b + sum_n w_n ReLU(wt_n tau + bt_n)``. By the rescaling symmetry
  ``(w, wt, bt) -> (w/l, l wt, l bt)`` (l > 0) only the kink times ``-bt_n/wt_n`` and ``w_n wt_n`` matter;
  we fix the gauge ``wt_n = 1`` and draw the kink times of neurons 1..N-1 at random (neuron 0 sits at
  tau = 0), independently per chain: by default one uniform time per stratum [n T/N, (n+1) T/N)
  (``division="uniform"``: i.i.d. uniform on (0, T)). The measure on (wt, bt) is this distribution of time
  divisions, independent of the path, and given a division the weights carry ``exp(-S_E/hbar)`` (for
  each division a consistent discretization of the same path integral, so the marginal of the division
  is the chosen one). Observables are averages over random time divisions; their errors come from the
  spread of independent chains (each chain one division), :func:`batch_mean_estimate`.
- :class:`StepPath`: ``x(tau) = x_0 + dtau sum_{n=1}^N W_n theta(tau - n dtau)``, dtau = T/N; ``W_n`` are
  velocities. The path is piecewise constant; its action is the Feynman lattice action
  ``S = sum_n dtau [m W_n^2/2 + V(x_{n-1})]`` (kinetic term from the velocity weights, potential exactly
  integrated over the piecewise-constant path). For the free particle the W_n are i.i.d. Gaussian with
  variance hbar/(m dtau): x is Brownian motion, ``<(x(t) - x(s))^2> = hbar |t - s| / m``.
- :class:`FourierPath`: ``fixed``: ``x = x_cl(tau) + sum_{n=1}^N a_n sin(n pi tau/T)`` with the straight
  classical free path x_cl; ``free``: ``x = x_0 + sum_n a_n sin((n - 1/2) pi tau/T)`` (the quarter-wave
  cosine basis cos((n - 1/2) pi (T - tau)/T) up to signs, x'(T) = 0 natural end); ``periodic``:
  ``x = a_0 + sum_{n=1}^K [a_n cos(2 pi n tau/T) + b_n sin(2 pi n tau/T)]``, 2K + 1 = N (N rounded down
  to odd).

Action ``S_E = int_0^T dtau [m x'^2/2 + V(x)]``: the kinetic part is exact (piecewise-linear slopes,
Fourier orthogonality); the potential (a polynomial of degree <= 4) is integrated by 3-point
Gauss-Legendre per linear segment (exact: the integrand is a degree-4 polynomial in tau), by the
trapezoid rule on 3N points for periodic Fourier paths (exact for trigonometric polynomials of degree
< 3N, and V(x) has degree 4K < 3N), and by 6-point Gauss-Legendre on N segments for the sine bases
(relative error ~1e-9 for typical sampled paths, see the tests).

Tail correction (partial averaging, Doll & Freeman 1985), on by default for ReLU and Fourier paths:
the modes a finite network omits are, at short times, free-particle Gaussian fluctuations with variance
``s^2(tau)`` (a Brownian bridge of variance ``hbar (tau - s_k)(s_{k+1} - tau)/(m ds_k)`` inside each
linear segment; ``hbar/m [T/12 - sum_{n<=K} T/(2 pi^2 n^2)]`` for periodic Fourier paths, and the analogous
Karhunen-Loeve remainders for the sine bases). V and every observable polynomial O(x) are replaced by
their Gaussian averages ``<O(x + s xi)>``, which for polynomials is exact and analytic. The step network
is the plain lattice path integral (no tail correction; E0 has an O(dtau^2) bias, e.g. for the oscillator
``(w/2)(1 + w^2 dtau^2/4)^(-1/2)``).

Sampling: HMC (default) or NUTS (blackjax) over the weights with the constant mass matrix of a
reference Gaussian action (the kinetic term plus ``m w_ref^2 x^2/2``, w_ref the self-consistent
Gaussian frequency of V): we sample
``z = C^T (theta - theta_ref)``, ``C C^T`` = Hessian of the reference action, which is HMC on theta with that
mass matrix; blackjax's window adaptation tunes the step size and a residual diagonal mass matrix.

Control variates (:func:`ground_state_energy_control_variates`): the scaling identities
``u_i = y_i dS/dy_i / hbar - 1`` (y: whitened coordinates rotated so that ``int x^2`` is diagonal) have
mean zero exactly and are recorded with every sample (the gradient comes with the HMC state); subtracting
their least-squares combination from the virial estimator keeps its mean and removes the part of its
variance they explain (all of it for a harmonic potential, ~99% at g = 1).

Several devices (:mod:`nqg.devices`): the chains are independent, so the chain axis is split over the
devices with :func:`jax.shard_map` (default: all in use, ``n_devices=`` to choose). Chain i (global index)
takes its initial state, its window adaptation and every transition from
``stream_key(PRNGKey(seed), i) -> (k_init, k_warm, k_run)``, and adapts its own step size and mass matrix
(no pooling across chains). Nothing is reduced on the devices: the block means come back in global chain
order and every estimator (virial, control variates, correlator fit) runs on the host, so for a fixed
seed 1, 2, 4, ... devices give bit-identical E0. A chain count that the device count does not divide is
padded with extra chains (global indices n_chains, ...) that are run and dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg
import scipy.optimize
from jax.sharding import PartitionSpec

from nqg import devices as nqg_devices
from nqg.errors import NqgInputError
from nqg.fields.quantum_mechanics import PolynomialPotential
from nqg.stats import Estimate, batch_means, estimate

BOUNDARIES = ("fixed", "free", "periodic")
ACTIVATIONS = ("relu", "step", "cosine", "free-relu")
DEFAULT_GRID = 64  # uniform times t_j = j T/64 for correlators and densities

_GL3_NODES, _GL3_WEIGHTS = np.polynomial.legendre.leggauss(3)
_GL6_NODES, _GL6_WEIGHTS = np.polynomial.legendre.leggauss(6)


def _check_common(n_neurons: int, T: float, boundary: str) -> None:
    if int(n_neurons) < 2:
        raise NqgInputError(f"number of neurons must be >= 2, got {n_neurons}")
    if not (np.isfinite(T) and T > 0):
        raise NqgInputError(f"path length T must be a positive number, got {T}")
    if boundary not in BOUNDARIES:
        raise NqgInputError(f"boundary must be one of {', '.join(BOUNDARIES)}, got {boundary!r}")


def _xp(*arrays):
    """jax.numpy if any argument is a jax array or tracer, numpy otherwise (model construction in numpy
    avoids compiling every small operation)."""
    return jnp if any(isinstance(a, jax.Array) for a in arrays) else np


def _relu(x):
    return _xp(x).maximum(x, 0.0)


# ============================================================================ the affine path model
@dataclass(frozen=True)
class LinearPathModel:
    """The affine map from free weights theta (dim d) to the path, and the exact action pieces.

    - ``x_q = B theta + c``: the path at quadrature times ``quad_times`` with weights ``quad_weights``
      (``sum = T``), tail variance ``tail_variance`` (partial averaging; zeros: none);
    - ``S_kin = theta.K.theta/2 + k.theta + k0`` (exact kinetic action);
    - ``x(t_j) = G theta + g`` on the uniform grid ``t_j = j T/n_t`` (correlators, densities);
    - ``x(T) = e.theta + e0`` (the end point) with tail variance ``end_tail_variance``;
    - ``quarter_tail_variance``: tail variance at tau = 0, T/4, T/2, 3T/4 (the recorded ``x_quarter``).
    """

    B: np.ndarray
    c: np.ndarray
    quad_times: np.ndarray
    quad_weights: np.ndarray
    tail_variance: np.ndarray
    K: np.ndarray
    k: np.ndarray
    k0: float
    G: np.ndarray
    g: np.ndarray
    e: np.ndarray
    e0: float
    end_tail_variance: float
    T: float
    boundary: str
    quarter_tail_variance: np.ndarray = field(default_factory=lambda: np.zeros(4))

    @property
    def dim(self) -> int:
        return self.B.shape[1]

    def arrays(self) -> dict[str, np.ndarray]:
        """The numeric arrays (for stacking over chains)."""
        names = ("B", "c", "quad_weights", "tail_variance", "K", "k", "k0", "G", "g", "e", "e0")
        return {n: np.asarray(getattr(self, n), float) for n in names}

    def path_at_quadrature(self, theta):
        return self.B @ theta + self.c

    def action(self, theta, potential: PolynomialPotential, tail: bool = True) -> float:
        """S_E(theta) (numpy), the same function the sampler uses."""
        arrs = self.arrays()
        if not tail:
            arrs["tail_variance"] = np.zeros_like(arrs["tail_variance"])
        return float(_action(jnp.asarray(theta), arrs, jnp.asarray(potential.coefficients[:5])))


def smeared_polynomial(coefficients, x, s2):
    """Gaussian average ``E[P(x + s xi)]``, xi ~ N(0,1), s^2 = s2, of ``P(y) = sum_{p<=4} c_p y^p``:
    y -> x, y^2 -> x^2 + s2, y^3 -> x^3 + 3 x s2, y^4 -> x^4 + 6 x^2 s2 + 3 s2^2."""
    c = coefficients
    x2 = x * x
    return (
        c[0]
        + c[1] * x
        + c[2] * (x2 + s2)
        + c[3] * (x2 * x + 3.0 * x * s2)
        + c[4] * (x2 * x2 + 6.0 * x2 * s2 + 3.0 * s2 * s2)
    )


def virial_coefficients(coefficients):
    """Coefficients of ``x V'(x)/2 + V(x)``: ``c_p (1 + p/2)``."""
    return jnp.asarray(coefficients) * (1.0 + 0.5 * jnp.arange(5))


def _action(theta, m, coeffs):
    x = m["B"] @ theta + m["c"]
    kin = 0.5 * theta @ (m["K"] @ theta) + m["k"] @ theta + m["k0"]
    pot = jnp.sum(m["quad_weights"] * smeared_polynomial(coeffs, x, m["tail_variance"]))
    return kin + pot


# ============================================================================ networks
def _bridge_variance(times, left, right, mass, hbar):
    width = right - left
    safe = np.where(width > 0, width, 1.0)
    return np.where(width > 0, hbar * (times - left) * (right - times) / (mass * safe), 0.0)


def _segment_quadrature(nodes_t, gl_nodes, gl_weights):
    """Composite Gauss-Legendre on the segments between sorted times ``nodes_t``: times, weights,
    left and right segment ends for each point."""
    left, right = nodes_t[:-1], nodes_t[1:]
    width = right - left
    t = left[:, None] + 0.5 * width[:, None] * (1.0 + gl_nodes[None, :])
    w = 0.5 * width[:, None] * gl_weights[None, :]
    rep = len(gl_nodes)
    return t.ravel(), w.ravel(), np.repeat(left, rep), np.repeat(right, rep)


def _affine_design(path_fn, d: int, times) -> tuple[np.ndarray, np.ndarray]:
    """(A, a) with path_fn(theta, times) = A theta + a, read off the network itself (in numpy)."""
    times = np.asarray(times, float)
    a = np.asarray(path_fn(np.zeros(d), times), float)
    eye = np.eye(d)
    A = np.stack([np.asarray(path_fn(eye[i], times), float) for i in range(d)], axis=1) - a[:, None]
    return A, a


def _quarter_indices(n_grid: int) -> np.ndarray:
    """Grid indices of tau = 0, T/4, T/2, 3T/4 (where ``x_quarter`` is recorded)."""
    return np.array([0, n_grid // 4, n_grid // 2, (3 * n_grid) // 4])


def _grid(T: float, n_grid: int) -> np.ndarray:
    return np.arange(n_grid) * T / n_grid


@dataclass(frozen=True)
class _PathNetwork:
    """Common fields of the networks with N neurons on [0, T] and their boundary conditions; the
    default ``n_free`` is that of the networks whose last output weight closes the path."""

    T: float
    n_neurons: int
    boundary: str = "periodic"
    x0: float = 0.0
    xf: float = 0.0

    def __post_init__(self) -> None:
        _check_common(self.n_neurons, self.T, self.boundary)

    @property
    def n_free(self) -> int:
        return self.n_neurons if self.boundary in ("free", "periodic") else self.n_neurons - 1


def _close_path(theta, boundary: str, x0: float, xf: float, last_weight):
    """(bias, output weights) from the free weights theta: ``free``: (x0, theta); ``fixed``: bias x0 and
    the last weight ``last_weight(x_f, x0, theta)``; ``periodic``: bias theta[0] and the last weight
    ``last_weight(theta[0], theta[0], theta[1:])`` (the path ends where it starts)."""
    xp = _xp(theta)
    theta = xp.asarray(theta)
    if boundary == "free":
        return xp.asarray(x0, float), theta
    if boundary == "fixed":
        b, w = xp.asarray(x0, float), theta
        target = xf
    else:
        b, w = theta[0], theta[1:]
        target = b
    last = last_weight(target, b, w)
    return b, xp.concatenate([w, xp.reshape(last, (1,))])


def _readout_designs(path_fn, d: int, T: float, n_grid: int | None):
    """(n_grid, G, g, E, e): the path on the uniform grid ``G theta + g`` and its end ``E theta + e``."""
    n_grid = n_grid or DEFAULT_GRID
    G, g = _affine_design(path_fn, d, _grid(T, n_grid))
    E, e = _affine_design(path_fn, d, np.array([T]))
    return n_grid, G, g, E, e


@dataclass(frozen=True)
class ReluPath(_PathNetwork):
    """``x(tau) = b + sum_n w_n ReLU(tau - tau_n)`` (kinks ``kinks``, sorted, kinks[0] = 0).

    Free weights theta: ``free``: all w (b = x_0); ``fixed``: w_0..w_{N-2} (w_{N-1} solves x(T) = x_f);
    ``periodic``: (b, w_0..w_{N-2}) (w_{N-1} solves x(T) = b). Every map is affine with unit Jacobian
    between w and the segment velocities ``v_k = sum_{n<=k} w_n``.
    """

    kinks: np.ndarray | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        kinks = np.arange(self.n_neurons) * self.T / self.n_neurons if self.kinks is None else self.kinks
        kinks = np.sort(np.asarray(kinks, float))
        if kinks.shape != (self.n_neurons,) or kinks[0] != 0.0 or kinks[-1] >= self.T:
            raise NqgInputError("ReLU kinks must be N sorted times in [0, T) with the first at 0")
        object.__setattr__(self, "kinks", kinks)

    def network_weights(self, theta):
        """(b, w): the network's bias and output weights from the free weights theta."""
        xp = _xp(theta)
        lever = self.T - xp.asarray(self.kinks)  # d x(T) / d w_n

        def last_weight(target, b, w):
            return (target - b - xp.sum(w * lever[:-1])) / lever[-1]

        return _close_path(theta, self.boundary, self.x0, self.xf, last_weight)

    def path(self, theta, tau):
        """x(tau) evaluated from the network formula."""
        xp = _xp(theta, tau)
        b, w = self.network_weights(theta)
        return b + _relu(xp.asarray(tau)[..., None] - xp.asarray(self.kinks)) @ w

    def linear_model(
        self, *, mass: float = 1.0, hbar: float = 1.0, tail_correction: bool = True, n_grid: int | None = None
    ) -> LinearPathModel:
        d = self.n_free
        nodes = np.concatenate([self.kinks, [self.T]])
        tq, wq, left, right = _segment_quadrature(nodes, _GL3_NODES, _GL3_WEIGHTS)
        B, c = _affine_design(self.path, d, tq)
        # exact kinetic action: slopes v_k = (x(s_{k+1}) - x(s_k)) / ds_k
        X, x = _affine_design(self.path, d, nodes)
        ds = np.diff(nodes)
        safe = np.where(ds > 0, ds, 1.0)
        V, v = np.diff(X, axis=0) / safe[:, None], np.diff(x) / safe
        K = mass * V.T @ (ds[:, None] * V)
        k = mass * V.T @ (ds * v)
        k0 = 0.5 * mass * float(np.sum(ds * v * v))
        tail = _bridge_variance(tq, left, right, mass, hbar) if tail_correction else np.zeros_like(tq)
        n_grid, G, g, E, e = _readout_designs(self.path, d, self.T, n_grid)
        quarter = np.zeros(4)
        if tail_correction:
            tg = _grid(self.T, n_grid)[_quarter_indices(n_grid)]
            seg = np.clip(np.searchsorted(nodes, tg, side="right") - 1, 0, len(nodes) - 2)
            quarter = _bridge_variance(tg, nodes[seg], nodes[seg + 1], mass, hbar)
        return LinearPathModel(
            B, c, tq, wq, tail, K, k, k0, G, g, E[0], float(e[0]), 0.0, self.T, self.boundary, quarter
        )


def random_time_division(seed, T: float, n_neurons: int, division: str = "stratified") -> np.ndarray:
    """Kink times of the free-kink ReLU network: 0 and N-1 random times in (0, T), sorted.

    ``division="stratified"``: one uniform time in each stratum ``[n T/N, (n+1) T/N)``, n = 1..N-1
    (gaps below 2T/N); ``"uniform"``: N-1 i.i.d. uniform times on (0, T) (gaps up to O(T log N / N), so a
    larger discretization error at equal N)."""
    rng = np.random.default_rng(seed)
    if division == "stratified":
        inner = (np.arange(1, n_neurons) + rng.uniform(0.0, 1.0, n_neurons - 1)) * T / n_neurons
        inner = np.minimum(inner, np.nextafter(T, 0.0))
    elif division == "uniform":
        inner = rng.uniform(0.0, T, n_neurons - 1)
    else:
        raise NqgInputError(f"division must be 'stratified' or 'uniform', got {division!r}")
    return np.sort(np.concatenate([[0.0], inner]))


@dataclass(frozen=True)
class FreeKinkReluPath:
    """``x(tau) = b + sum_n w_n ReLU(wt_n tau + bt_n)`` with free kink times ``-bt_n/wt_n``.

    ``wt``, ``bt``: the first-layer weights and biases (any positive ``wt``; the path depends on them
    only through the kink times and ``w_n wt_n``, the ReLU rescaling symmetry). The free output weights
    theta are those of the :class:`ReluPath` with the same kinks, in the gauge ``wt = 1``.
    """

    T: float
    wt: np.ndarray
    bt: np.ndarray
    boundary: str = "periodic"
    x0: float = 0.0
    xf: float = 0.0

    @classmethod
    def random(
        cls,
        seed,
        T: float,
        n_neurons: int,
        boundary: str = "periodic",
        x0: float = 0.0,
        xf: float = 0.0,
        scale: np.ndarray | None = None,
        division: str = "stratified",
    ) -> FreeKinkReluPath:
        """Random time division (:func:`random_time_division`); first-layer weights ``wt = scale``
        (default 1), biases ``bt = -kink * wt``."""
        _check_common(n_neurons, T, boundary)
        kinks = random_time_division(seed, T, n_neurons, division)
        wt = np.ones(n_neurons) if scale is None else np.asarray(scale, float)
        return cls(T, wt, -kinks * wt, boundary, x0, xf)

    @property
    def n_neurons(self) -> int:
        return len(self.wt)

    @property
    def kinks(self) -> np.ndarray:
        return -np.asarray(self.bt) / np.asarray(self.wt)

    def _gauge_fixed(self) -> ReluPath:
        wt = np.asarray(self.wt, float)
        if np.any(wt <= 0):
            raise NqgInputError("free-kink ReLU network needs positive first-layer weights wt")
        order = np.argsort(self.kinks)
        return ReluPath(self.T, self.n_neurons, self.boundary, self.x0, self.xf, self.kinks[order])

    @property
    def n_free(self) -> int:
        return self._gauge_fixed().n_free

    def network_weights(self, theta):
        """(b, w) in the network's own normalisation: w_n = (gauge-fixed weight)/wt_n."""
        xp = _xp(theta)
        order = np.argsort(self.kinks)
        b, w_gauge = self._gauge_fixed().network_weights(theta)
        w_back = w_gauge[np.argsort(order)]  # w_back[order[j]] = w_gauge[j]
        return b, w_back / xp.asarray(self.wt)

    def path(self, theta, tau):
        """x(tau) from the network formula sum_n w_n ReLU(wt_n tau + bt_n) + b."""
        xp = _xp(theta, tau)
        b, w = self.network_weights(theta)
        pre = xp.asarray(tau)[..., None] * xp.asarray(self.wt) + xp.asarray(self.bt)
        return b + _relu(pre) @ w

    def linear_model(self, **kwargs) -> LinearPathModel:
        return self._gauge_fixed().linear_model(**kwargs)


@dataclass(frozen=True)
class StepPath(_PathNetwork):
    """``x(tau) = x_0 + dtau sum_{n=1}^N W_n theta(tau - n dtau)`` (theta(0) = 1), dtau = T/N.

    Free weights: ``free``: W_1..W_N; ``fixed``: W_1..W_{N-1}; ``periodic``: (x_0, W_1..W_{N-1}), the last
    velocity closing the path. Action: the lattice action ``sum_n dtau [m W_n^2/2 + V(x_{n-1})]``.
    """

    @property
    def dtau(self) -> float:
        return self.T / self.n_neurons

    def network_weights(self, theta):
        """(x_0, W)."""
        xp = _xp(theta)

        def last_weight(target, x0, W):
            return (target - x0) / self.dtau - xp.sum(W)

        return _close_path(theta, self.boundary, self.x0, self.xf, last_weight)

    def path(self, theta, tau):
        """x(tau) from the network formula (theta(0) = 1: the jump at n dtau is included there)."""
        xp = _xp(theta, tau)
        x0, W = self.network_weights(theta)
        # jump times n dtau, n = 1..N; a tiny guard makes theta(0) = 1 robust to rounding
        jumps = xp.arange(1, self.n_neurons + 1) * self.dtau - 1e-9 * self.dtau
        return x0 + self.dtau * (xp.heaviside(xp.asarray(tau)[..., None] - jumps, 1.0) @ W)

    def linear_model(
        self,
        *,
        mass: float = 1.0,
        hbar: float = 1.0,
        tail_correction: bool = False,
        n_grid: int | None = None,
    ) -> LinearPathModel:
        d, N, dt = self.n_free, self.n_neurons, self.dtau
        nodes = np.arange(N + 1) * dt
        X, x = _affine_design(self.path, d, nodes)
        # the potential on [tau_k, tau_{k+1}) is V(x_k): 3 points per segment (same layout as ReLU)
        tq, wq, _, _ = _segment_quadrature(nodes, _GL3_NODES, _GL3_WEIGHTS)
        B, c = np.repeat(X[:-1], 3, axis=0), np.repeat(x[:-1], 3)
        V, v = np.diff(X, axis=0) / dt, np.diff(x) / dt  # = the velocity weights W
        K = mass * dt * V.T @ V
        k = mass * dt * V.T @ v
        k0 = 0.5 * mass * dt * float(v @ v)
        _, G, g, _, _ = _readout_designs(self.path, d, self.T, n_grid)
        return LinearPathModel(
            B, c, tq, wq, np.zeros_like(tq), K, k, k0, G, g, X[-1], float(x[-1]), 0.0, self.T, self.boundary
        )


@dataclass(frozen=True)
class FourierPath(_PathNetwork):
    """Fourier network (see the module docstring for the three bases)."""

    @property
    def n_modes(self) -> int:
        """K for periodic paths (2K + 1 weights), N otherwise."""
        return (self.n_neurons - 1) // 2 if self.boundary == "periodic" else self.n_neurons

    @property
    def n_free(self) -> int:
        return 2 * self.n_modes + 1 if self.boundary == "periodic" else self.n_neurons

    def frequencies(self) -> np.ndarray:
        n = np.arange(1, self.n_modes + 1)
        if self.boundary == "periodic":
            return 2 * np.pi * n / self.T
        if self.boundary == "fixed":
            return np.pi * n / self.T
        return np.pi * (n - 0.5) / self.T

    def path(self, theta, tau):
        """x(tau) from the Fourier network."""
        xp = _xp(theta, tau)
        theta = xp.asarray(theta)
        tau = xp.asarray(tau)[..., None]
        k = xp.asarray(self.frequencies())
        if self.boundary == "periodic":
            K = self.n_modes
            return theta[0] + xp.cos(k * tau) @ theta[1 : K + 1] + xp.sin(k * tau) @ theta[K + 1 :]
        base = self.x0 + (self.xf - self.x0) * tau[..., 0] / self.T if self.boundary == "fixed" else self.x0
        return base + xp.sin(k * tau) @ theta

    def tail_variance(self, tau, mass: float = 1.0, hbar: float = 1.0, n_max: int = 0) -> np.ndarray:
        """Variance of the omitted free-particle modes at tau (Karhunen-Loeve remainders):
        periodic ``T/12 - sum_{n<=K} 2/(T k_n^2)``; fixed ``tau(T - tau)/T - sum 2/(T k_n^2) sin^2(k_n tau)``;
        free ``tau - sum 2/(T k_n^2) sin^2(k_n tau)``; all times hbar/m."""
        tau = np.asarray(tau, float)
        k = self.frequencies()
        if self.boundary == "periodic":
            return np.full_like(tau, hbar / mass * (self.T / 12 - np.sum(2.0 / (self.T * k**2))))
        kept = (np.sin(np.outer(tau, k)) ** 2) @ (2.0 / (self.T * k**2))
        full = tau * (self.T - tau) / self.T if self.boundary == "fixed" else tau
        return np.maximum(hbar / mass * (full - kept), 0.0)

    def linear_model(
        self, *, mass: float = 1.0, hbar: float = 1.0, tail_correction: bool = True, n_grid: int | None = None
    ) -> LinearPathModel:
        d, T = self.n_free, self.T
        k = self.frequencies()
        if self.boundary == "periodic":
            nq = 3 * d
            tq, wq = _grid(T, nq), np.full(nq, T / nq)
            K = mass * np.diag(np.concatenate([[0.0], k**2 * T / 2, k**2 * T / 2]))
            kvec, k0 = np.zeros(d), 0.0
        else:
            nodes = np.linspace(0.0, T, self.n_neurons + 1)
            tq, wq, _, _ = _segment_quadrature(nodes, _GL6_NODES, _GL6_WEIGHTS)
            K = mass * np.diag(k**2 * T / 2)
            kvec = np.zeros(d)  # int cos(k_n tau) dtau = 0 for the fixed basis; none for the free one
            k0 = 0.5 * mass * (self.xf - self.x0) ** 2 / T if self.boundary == "fixed" else 0.0
        B, c = _affine_design(self.path, d, tq)
        tail = self.tail_variance(tq, mass, hbar) if tail_correction else np.zeros_like(tq)
        n_grid, G, g, E, e = _readout_designs(self.path, d, T, n_grid)
        end_tail = float(self.tail_variance(np.array([T]), mass, hbar)[0]) if tail_correction else 0.0
        tg = _grid(T, n_grid)[_quarter_indices(n_grid)]
        quarter = self.tail_variance(tg, mass, hbar) if tail_correction else np.zeros(4)
        return LinearPathModel(
            B, c, tq, wq, tail, K, kvec, k0, G, g, E[0], float(e[0]), end_tail, T, self.boundary, quarter
        )


def make_path_network(
    activation: str,
    T: float,
    n_neurons: int,
    boundary: str = "periodic",
    *,
    x0: float = 0.0,
    xf: float = 0.0,
    seed: int = 0,
):
    """The network of ``activation`` in {relu, step, cosine, free-relu} (free-relu: a random time
    division drawn from ``seed``)."""
    if activation == "relu":
        return ReluPath(T, n_neurons, boundary, x0, xf)
    if activation == "step":
        return StepPath(T, n_neurons, boundary, x0, xf)
    if activation in ("cosine", "fourier"):
        return FourierPath(T, n_neurons, boundary, x0, xf)
    if activation == "free-relu":
        return FreeKinkReluPath.random(seed, T, n_neurons, boundary, x0, xf)
    raise NqgInputError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")


# ============================================================================ reference Gaussian
def reference_frequency(potential: PolynomialPotential, mass: float = 1.0, hbar: float = 1.0) -> float:
    """Frequency of the Gaussian that preconditions the sampler: the self-consistent (Hartree) value
    ``m w^2 = <V''>`` under a Gaussian of variance hbar/(2 m w) centred at 0; if that has no positive
    solution (double well), ``sqrt(V''(x_min)/m)`` at the minimum; 0 for the free particle."""
    c = potential.coefficients
    if all(v == 0.0 for v in c[1:]):
        return 0.0
    w = 1.0
    for _ in range(200):
        curv = 2 * c[2] + 12 * c[4] * hbar / (2 * mass * w)
        if curv <= 0:
            break
        w = 0.5 * w + 0.5 * np.sqrt(curv / mass)
    else:
        return float(w)
    xs = np.linspace(-10, 10, 20001)
    xmin = xs[np.argmin(potential(xs))]
    return float(np.sqrt(max(potential.curvature(xmin), 1e-12) / mass))


def whitening(model_arrays: dict[str, np.ndarray], omega_ref: float, mass: float, hbar: float):
    """(theta_ref, M) with theta = theta_ref + M z, z ~ N(0, 1) under the reference Gaussian action
    ``S_kin + int m w_ref^2 x^2/2`` (M = L^-T, L L^T its Hessian / hbar)."""
    B, c, wq = model_arrays["B"], model_arrays["c"], model_arrays["quad_weights"]
    H = model_arrays["K"] + mass * omega_ref**2 * B.T @ (wq[:, None] * B)
    lin = model_arrays["k"] + mass * omega_ref**2 * B.T @ (wq * c)
    H = H / hbar
    try:
        L = np.linalg.cholesky(H)
    except np.linalg.LinAlgError:
        raise NqgInputError(
            "the weight density is not normalizable for this system (e.g. a free particle on periodic "
            "paths has a flat zero mode); use a fixed or free end"
        ) from None
    theta_ref = -np.linalg.solve(H, lin / hbar)
    M = scipy.linalg.solve_triangular(L, np.eye(len(L)), lower=True).T
    return theta_ref, M


# ============================================================================ sampling
def _snapshot(theta, m):
    x_t = m["G"] @ theta + m["g"]
    n_t = x_t.shape[0]
    return {
        "x_end": m["e"] @ theta + m["e0"],
        "x_quarter": x_t[_quarter_indices(n_t)],
    }


def _observables(theta, m, coeffs, vir_coeffs, T):
    x_q = m["B"] @ theta + m["c"]
    x_t = m["G"] @ theta + m["g"]
    n_t = x_t.shape[0]
    f = jnp.fft.rfft(x_t)
    corr = jnp.fft.irfft(f * jnp.conj(f), n=n_t)[: n_t // 2 + 1] / n_t
    return {
        "virial": jnp.sum(m["quad_weights"] * smeared_polynomial(vir_coeffs, x_q, m["tail_variance"])) / T,
        "potential": jnp.sum(m["quad_weights"] * smeared_polynomial(coeffs, x_q, m["tail_variance"])) / T,
        "x2": jnp.sum(m["quad_weights"] * (x_q**2 + m["tail_variance"])) / T,
        "correlator": corr,
        "action": _action(theta, m, coeffs),
    }


def _scaling_identities(z, logdensity_grad, R):
    """``u_i = y_i d(S/hbar)/dy_i - 1`` in the rotated whitened coordinates ``y = R^T z``: each has mean
    zero exactly, ``<y_i d_i S/hbar> = -int y_i d_i exp(-S/hbar) / Z = 1`` (integration by parts), so
    any linear combination is a control variate for any observable (zero-variance principle)."""
    return (R.T @ z) * (-(R.T @ logdensity_grad)) - 1.0


def scaling_rotation(model_arrays: dict[str, np.ndarray], M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lambda, R): eigen-decomposition ``M^T B^T W B M = R diag(lambda) R^T`` (lambda descending) of the
    path's mean square ``int x^2`` in the whitened coordinates z. In the basis ``y = R^T z`` the reference
    Gaussian is still ``|y|^2/2`` and ``int x^2`` is diagonal, so for ``V = m w^2 x^2/2`` (then the
    reference is exact and ``u_i = y_i^2 - 1``) the virial estimator minus ``(m w^2/T) sum_i lambda_i u_i``
    (``u_i``: :func:`_scaling_identities`) is a constant: the control variates remove all of its variance."""
    B, wq = model_arrays["B"], model_arrays["quad_weights"]
    BM = B @ M
    lam, R = np.linalg.eigh(BM.T @ (wq[:, None] * BM))
    order = np.argsort(lam)[::-1]
    return lam[order], R[:, order]


def pad_model_arrays(arrays: dict[str, np.ndarray], dim: int, n_quad: int) -> dict[str, np.ndarray]:
    """Pad a model to ``dim`` weights and ``n_quad`` quadrature points without changing the physics:
    extra weights are unit Gaussians (K = 1) that do not enter the path, extra quadrature points have
    weight 0. Lets one compiled sampler serve every network and size."""
    q, d = arrays["B"].shape
    if dim < d or n_quad < q:
        raise ValueError(f"cannot pad a model with (Q, d) = {(q, d)} to {(n_quad, dim)}")
    out = dict(arrays)
    out["B"] = np.pad(arrays["B"], ((0, n_quad - q), (0, dim - d)))
    for name in ("c", "quad_weights", "tail_variance"):
        out[name] = np.pad(arrays[name], (0, n_quad - q))
    K = np.eye(dim)
    K[:d, :d] = arrays["K"]
    out["K"] = K
    out["k"] = np.pad(arrays["k"], (0, dim - d))
    out["G"] = np.pad(arrays["G"], ((0, 0), (0, dim - d)))
    out["e"] = np.pad(arrays["e"], (0, dim - d))
    return out


def _sample_chains(
    chain_indices,
    key,
    m,
    theta_ref,
    M,
    R,
    coeffs,
    T,
    hbar,
    *,
    num_warmup,
    n_blocks,
    block_size,
    keep_weights,
    algorithm,
    leapfrog_steps,
):
    """The chains ``chain_indices`` (global indices; a device's share of them). Chain i draws its initial
    state, its window adaptation and every transition from ``stream_key(key, i)`` alone and adapts its own
    step size and mass matrix (nothing is pooled across chains), so its samples do not depend on which
    device runs it or with which other chains.

    The warm-up runs chain by chain (``lax.map``), the sampling for all of them at once (``vmap``): under
    ``vmap`` blackjax's dual averaging divides the batched error by the unbatched step counter, and XLA
    compiles such a division by a broadcast scalar differently with and without device partitioning (a
    last-bit difference that chaotic HMC trajectories amplify), which would make one device differ from
    several."""
    vir = virial_coefficients(coeffs)
    if algorithm == "nuts":
        algo, extra = blackjax.nuts, {}
    else:
        algo, extra = blackjax.hmc, {"num_integration_steps": leapfrog_steps}

    def chain_keys(index):
        return jax.random.split(nqg_devices.stream_key(key, index), 3)  # initial state, warm-up, sampling

    def log_density_of(m, theta_ref, M):
        def theta_of(z):
            return theta_ref + M @ z

        def logdensity(z):
            return -_action(theta_of(z), m, coeffs) / hbar

        return theta_of, logdensity

    def warm_up(args):
        index, m, theta_ref, M = args
        k_init, k_warm, _ = chain_keys(index)
        _, logdensity = log_density_of(m, theta_ref, M)
        z0 = jax.random.normal(k_init, theta_ref.shape, theta_ref.dtype)
        warmup = blackjax.window_adaptation(
            algo,
            logdensity,
            initial_step_size=0.5,
            adaptation_info_fn=blackjax.adaptation.base.get_filter_adapt_info_fn(),
            **extra,
        )
        (state, params), _ = warmup.run(k_warm, z0, num_steps=num_warmup)
        return state, params

    warm_states, warm_params = jax.lax.map(warm_up, (chain_indices, m, theta_ref, M))

    def one_chain(index, m, theta_ref, M, R, state, params):
        _, _, k_run = chain_keys(index)
        theta_of, logdensity = log_density_of(m, theta_ref, M)
        z0 = state.position
        if algorithm == "nuts":
            nuts = blackjax.nuts(logdensity, **params)
            transition = nuts.step
        else:
            hmc_kernel = blackjax.hmc.build_kernel()

            def transition(k, st):
                # step-size jitter (Neal 2011): the trajectory length varies by +-20%, which breaks
                # resonances with the (whitened, nearly unit-frequency) modes
                k_move, k_jit = jax.random.split(k)
                eps = params["step_size"] * jax.random.uniform(k_jit, minval=0.8, maxval=1.2)
                return hmc_kernel(k_move, st, logdensity, eps, params["inverse_mass_matrix"], leapfrog_steps)

        def one_step(carry, k):
            st, acc = carry
            st, info = transition(k, st)
            th = theta_of(st.position)
            obs = _observables(th, m, coeffs, vir, T)
            obs["scaling_identities"] = _scaling_identities(st.position, st.logdensity_grad, R)
            acc = jax.tree.map(jnp.add, acc, obs)
            stats = jnp.stack(
                [
                    info.acceptance_rate,
                    info.is_divergent.astype(float),
                    jnp.asarray(info.num_integration_steps, float),
                ]
            )
            return (st, acc), (stats, _snapshot(th, m))

        zero_obs = jax.tree.map(jnp.zeros_like, _observables(theta_of(z0), m, coeffs, vir, T))
        zero_obs["scaling_identities"] = jnp.zeros_like(z0)

        def one_block(st, k):
            (st, acc), (stats, snaps) = jax.lax.scan(
                one_step, (st, zero_obs), jax.random.split(k, block_size)
            )
            out = jax.tree.map(lambda a: a / block_size, acc)
            out.update(snaps)
            if keep_weights:
                out["weights"] = theta_of(st.position)
            return st, (out, jnp.mean(stats, axis=0))

        _, (blocks, stats) = jax.lax.scan(one_block, state, jax.random.split(k_run, n_blocks))
        return blocks, stats, params["step_size"]

    return jax.vmap(one_chain)(chain_indices, m, theta_ref, M, R, warm_states, warm_params)


@partial(
    jax.jit,
    static_argnames=(
        "n_devices",
        "num_warmup",
        "n_blocks",
        "block_size",
        "keep_weights",
        "algorithm",
        "leapfrog_steps",
    ),
)
def _sample_chains_sharded(chain_indices, key, m, theta_ref, M, R, coeffs, T, hbar, *, n_devices, **static):
    """:func:`_sample_chains` with the chain axis (``chain_indices`` and the per-chain model arrays)
    split over the first ``n_devices`` devices (:func:`jax.shard_map` on :func:`nqg.devices.mesh`); the key,
    the potential, T and hbar are replicated. Nothing is reduced across devices."""
    chains, whole = PartitionSpec(nqg_devices.WORK_AXIS), PartitionSpec()
    on_device = jax.shard_map(
        partial(_sample_chains, **static),
        mesh=nqg_devices.mesh(n_devices),
        in_specs=(chains, whole, chains, chains, chains, chains, whole, whole, whole),
        out_specs=chains,
        check_vma=False,  # blackjax's adaptation mixes device-varying and replicated values in lax.switch
    )
    return on_device(chain_indices, key, m, theta_ref, M, R, coeffs, T, hbar)


@dataclass
class PathIntegralSamples:
    """Block means of the observables, shape (chains, blocks, ...), and sampler diagnostics.
    ``x_end`` and ``x_quarter`` are kept for every sample (chains, samples[, 4]); ``weights`` (if kept)
    are the last sample of each block.

    ``virial``: ``(1/T) int dtau [x V'/2 + V]`` (E0 estimator on periodic paths of large T);
    ``potential``: ``(1/T) int V``; ``x2``: ``(1/T) int x^2``; ``x_end``: x(T); ``x_quarter``: x at
    0, T/4, T/2, 3T/4; ``correlator``: ``(1/n_t) sum_j x(t_j) x(t_j + dt)`` for dt = 0..T/2;
    ``weights``: the last weights of each block (if kept).
    """

    blocks: dict[str, np.ndarray]
    T: float
    grid_dt: float
    end_tail_variance: float
    acceptance: float
    divergences: int
    mean_leapfrog_steps: float
    step_sizes: np.ndarray
    samples_per_chain: int
    info: dict[str, Any] = field(default_factory=dict)
    quarter_tail_variance: np.ndarray = field(default_factory=lambda: np.zeros((1, 4)))

    def quarter_density(self, bin_edges: np.ndarray):
        """Density of x(tau) on periodic paths (-> |psi0|^2 for large T) from ``x_quarter``, smeared by
        the omitted modes' variance at those times. Returns (centres, density, error)."""
        return position_density(self.blocks["x_quarter"], bin_edges, self.quarter_tail_variance[:, None, :])

    @property
    def n_chains(self) -> int:
        return self.blocks["virial"].shape[0]

    def estimate(self, name: str) -> Estimate:
        """Mean and autocorrelation-aware error of a scalar observable (nqg.stats.estimate on blocks)."""
        return estimate(self.blocks[name])


def sample_path_integral(
    networks,
    potential: PolynomialPotential,
    *,
    n_chains: int = 8,
    n_samples: int = 2000,
    n_warmup: int = 500,
    block_size: int = 10,
    seed: int = 0,
    mass: float = 1.0,
    hbar: float = 1.0,
    tail_correction: bool | None = None,
    keep_weights: bool = False,
    pad_dim: int | None = None,
    pad_quad: int | None = None,
    algorithm: str = "hmc",
    leapfrog_steps: int = 3,
    n_devices: int | None = None,
) -> PathIntegralSamples:
    """Sample network weights with density ``exp(-S_E(theta)/hbar)`` by NUTS on ``n_chains`` chains.

    ``networks``: one network (shared by all chains) or a list of ``n_chains`` networks of equal shapes
    (e.g. free-kink ReLU networks with one random time division each). ``n_samples`` per chain after
    ``n_warmup`` window-adaptation steps; observables are averaged over blocks of ``block_size`` samples.
    ``tail_correction``: partial averaging (default: the network's own default). ``pad_dim``,
    ``pad_quad``: pad every model to these sizes (:func:`pad_model_arrays`) so that runs of different
    networks and sizes share one compiled sampler. ``algorithm``: ``"hmc"`` (blackjax HMC with
    ``leapfrog_steps`` steps per trajectory, step size from window adaptation, jittered by +-20% per
    trajectory; the default: it compiles about twice as fast as NUTS) or ``"nuts"`` (blackjax NUTS).

    ``n_devices``: the chains are split over the first ``n_devices`` devices (default
    :func:`nqg.devices.device_count`, i.e. all in use). Chain i (global index, 0 <= i < n_chains) draws its
    initial state, its warm-up and every transition from ``stream_key(PRNGKey(seed), i)`` and adapts its
    own step size and mass matrix, so a fixed seed gives the same chains whatever the device count. When
    ``n_devices`` does not divide ``n_chains``, the chain axis is padded to
    ``padded_length(n_chains, n_devices)`` with extra chains (global indices ``n_chains, ...``) that are run
    and dropped; they change nothing.
    """
    if algorithm not in ("hmc", "nuts"):
        raise NqgInputError(f"algorithm must be 'hmc' or 'nuts', got {algorithm!r}")
    if potential.degree > 4:
        raise NqgInputError("the sampler integrates polynomial potentials of degree <= 4 exactly")
    if not potential.bounded_below:
        raise NqgInputError(f"potential {potential.coefficients} is unbounded below: no path integral")
    if n_samples < 1 or n_chains < 1 or block_size < 1:
        raise NqgInputError("n_samples, n_chains and block_size must be >= 1")
    nets = list(networks) if isinstance(networks, (list, tuple)) else [networks] * n_chains
    if len(nets) != n_chains:
        raise NqgInputError(f"got {len(nets)} networks for {n_chains} chains")
    n_dev = nqg_devices.resolve_device_count(n_devices)
    kw = {"mass": mass, "hbar": hbar}
    if tail_correction is not None:
        kw["tail_correction"] = tail_correction
    unique = {id(n): n for n in nets}
    built = {i: n.linear_model(**kw) for i, n in unique.items()}
    models = [built[id(n)] for n in nets]
    omega_ref = reference_frequency(potential, mass, hbar)
    dim = max([mdl.dim for mdl in built.values()] + [pad_dim or 0])
    n_quad = max([len(mdl.quad_weights) for mdl in built.values()] + [pad_quad or 0])
    padded = {i: pad_model_arrays(mdl.arrays(), dim, n_quad) for i, mdl in built.items()}
    white = {i: whitening(arr, omega_ref, mass, hbar) for i, arr in padded.items()}
    arrays = {k: np.stack([padded[id(n)][k] for n in nets]) for k in padded[id(nets[0])]}
    theta_ref = np.stack([white[id(n)][0] for n in nets])
    M = np.stack([white[id(n)][1] for n in nets])
    rot = {i: scaling_rotation(padded[i], white[i][1]) for i in padded}
    R = np.stack([rot[id(n)][1] for n in nets])
    scaling_eigenvalues = np.stack([rot[id(n)][0] for n in nets])
    n_blocks = max(1, n_samples // block_size)
    # chains n_chains .. n_padded - 1 (copies of the last chain's model, their own streams) are dropped
    n_padded = nqg_devices.padded_length(n_chains, n_dev)

    def per_chain(a):
        return nqg_devices.pad_with_last(a, n_padded)

    out = _sample_chains_sharded(
        np.arange(n_padded),
        jax.random.PRNGKey(seed),
        {k: per_chain(v) for k, v in arrays.items()},
        per_chain(theta_ref),
        per_chain(M),
        per_chain(R),
        jnp.asarray(potential.coefficients[:5]),
        jnp.asarray(float(models[0].T)),
        jnp.asarray(float(hbar)),
        n_devices=n_dev,
        num_warmup=int(n_warmup),
        n_blocks=n_blocks,
        block_size=int(block_size),
        keep_weights=keep_weights,
        algorithm=algorithm,
        leapfrog_steps=int(leapfrog_steps),
    )
    blocks, stats, step_sizes = jax.tree.map(lambda a: a[:n_chains], nqg_devices.to_host(out))
    for name in ("x_end", "x_quarter"):  # every sample, not block means: (chains, samples[, 4])
        v = blocks[name]
        blocks[name] = v.reshape(v.shape[0], v.shape[1] * v.shape[2], *v.shape[3:])
    if keep_weights:
        blocks["weights"] = blocks["weights"][..., : models[0].dim]
    stats = np.asarray(stats)
    if not np.all(np.isfinite(blocks["action"])):
        from nqg.errors import TrainingDivergedError

        raise TrainingDivergedError("path-integral sampler produced non-finite actions")
    n_grid = models[0].G.shape[0]
    return PathIntegralSamples(
        blocks=blocks,
        T=models[0].T,
        grid_dt=models[0].T / n_grid,
        end_tail_variance=models[0].end_tail_variance,
        acceptance=float(stats[..., 0].mean()),
        divergences=round(float(stats[..., 1].sum()) * block_size),
        mean_leapfrog_steps=float(stats[..., 2].mean()),
        step_sizes=np.asarray(step_sizes),
        samples_per_chain=n_blocks * block_size,
        info={"omega_ref": omega_ref, "dim": models[0].dim, "scaling_eigenvalues": scaling_eigenvalues},
        quarter_tail_variance=np.stack([mdl.quarter_tail_variance for mdl in models]),
    )


# ============================================================================ estimators
def ground_state_energy_virial(samples: PathIntegralSamples) -> Estimate:
    """E0 ~ <(1/T) int dtau [x V'(x)/2 + V(x)]> on periodic paths (virial theorem <p^2/m> = <x V'>;
    valid when exp(-(E1 - E0) T) is negligible)."""
    return samples.estimate("virial")


@dataclass(frozen=True)
class CorrelatorFit:
    """Fit of ``C(t) = A [exp(-D t) + exp(-D (T - t))]`` to <x(t) x(0)> on periodic paths.

    ``gap`` = D = E1 - E0 and its jackknife error (over chains x quarter-runs); ``amplitude`` A = |<0|x|1>|^2;
    ``E0`` = <V> + (m/2) A D^2 (the sum rule <p^2> = m^2 sum_n |x_0n|^2 (E_n - E0)^2 saturated by the first
    excited state: exact for the oscillator; for the g = 1 anharmonic oscillator it is 1.6% low, since
    |<0|x|3>|^2 (E3 - E0)^2 carries the rest of <p^2>; the virial estimator is the E0 to quote there).
    """

    gap: float
    gap_error: float
    amplitude: float
    amplitude_error: float
    E0: float
    E0_error: float
    times: np.ndarray
    correlator: np.ndarray
    correlator_error: np.ndarray
    window: tuple[float, float]


def _fit_cosh(t, c, err, T):
    def model(t, A, D):
        return A * (np.exp(-D * t) + np.exp(-D * (T - t)))

    slope = np.log(max(c[0], 1e-300) / max(c[-1], 1e-300)) / max(t[-1] - t[0], 1e-12)
    p0 = (max(c[0] * np.exp(slope * t[0]), 1e-12), max(slope, 1e-3))
    popt, _ = scipy.optimize.curve_fit(model, t, c, p0=p0, sigma=err, absolute_sigma=True, maxfev=20000)
    return popt


def fit_correlator(
    samples: PathIntegralSamples,
    *,
    mass: float = 1.0,
    t_min: float = 0.5,
    t_max: float | None = None,
    n_groups: int = 4,
) -> CorrelatorFit:
    """Gap E1 - E0 from the decay of the time-averaged <x(t) x(0)>; errors by jackknife over
    independent units (each chain cut into ``n_groups`` consecutive parts)."""
    corr = samples.blocks["correlator"]  # (chains, blocks, n_lag)
    pot = samples.blocks["potential"]
    T, dt = samples.T, samples.grid_dt
    n_lag = corr.shape[-1]
    t = np.arange(n_lag) * dt
    t_max = T / 2 if t_max is None else t_max
    sel = (t >= t_min - 1e-12) & (t <= t_max + 1e-12)
    if sel.sum() < 3:
        raise NqgInputError("correlator fit window holds fewer than 3 times: use more neurons or larger T")
    nb = corr.shape[1]
    groups = max(1, min(n_groups, nb))
    cut = nb // groups
    units_c = corr[:, : cut * groups].reshape(corr.shape[0] * groups, cut, n_lag).mean(axis=1)
    units_v = pot[:, : cut * groups].reshape(pot.shape[0] * groups, cut).mean(axis=1)
    n_units = units_c.shape[0]
    mean_c = units_c.mean(axis=0)
    err_c = np.array([estimate(corr[..., j]).error for j in range(n_lag)])
    err_fit = np.maximum(err_c[sel], 1e-15)

    def evaluate(c_mean, v_mean):
        A, D = _fit_cosh(t[sel], c_mean[sel], err_fit, T)
        return np.array([D, A, v_mean + 0.5 * mass * A * D**2])

    full = evaluate(mean_c, units_v.mean())
    if n_units >= 2:
        tot_c, tot_v = units_c.sum(axis=0), units_v.sum()
        jack = np.array(
            [
                evaluate((tot_c - units_c[i]) / (n_units - 1), (tot_v - units_v[i]) / (n_units - 1))
                for i in range(n_units)
            ]
        )
        err = np.sqrt((n_units - 1) / n_units * np.sum((jack - jack.mean(axis=0)) ** 2, axis=0))
    else:
        err = np.full(3, np.nan)
    return CorrelatorFit(
        float(full[0]),
        float(err[0]),
        float(full[1]),
        float(err[1]),
        float(full[2]),
        float(err[2]),
        t,
        mean_c,
        err_c,
        (float(t_min), float(t_max)),
    )


def position_density(values: np.ndarray, bin_edges: np.ndarray, tail_variance=0.0, log_weights=None):
    """Histogram density of ``values`` (chains, samples[, copies]) with autocorrelation-aware errors.

    ``tail_variance`` s^2 (scalar or broadcastable to values): each value is smeared by N(0, s^2) (the
    omitted modes of a truncated network, partial averaging). ``log_weights`` (chains, samples): the
    ratio estimator ``sum w occ / sum w`` (error by linearisation, ``(w/<w>)(occ - ratio)``).
    Returns (centres, density, error)."""
    from scipy.special import ndtr

    v = np.asarray(values, float)
    if v.ndim == 2:
        v = v[..., None]
    s2 = np.broadcast_to(np.asarray(tail_variance, float), v.shape)
    s = np.sqrt(s2)
    safe = np.where(s > 0, s, 1.0)
    if log_weights is not None:
        lw = np.asarray(log_weights, float)
        w = np.exp(lw - lw.max())
        w = w / w.mean()
    widths = np.diff(bin_edges)
    dens, errs = [], []
    for lo, hi, width in zip(bin_edges[:-1], bin_edges[1:], widths, strict=True):
        smeared = ndtr((hi - v) / safe) - ndtr((lo - v) / safe)
        sharp = ((v >= lo) & (v < hi)).astype(float)
        occ = np.where(s > 0, smeared, sharp).mean(axis=-1) / width
        if log_weights is None:
            est = estimate(occ)
            dens.append(est.mean)
            errs.append(est.error)
        else:
            ratio = float(np.mean(w * occ))
            dens.append(ratio)
            errs.append(estimate(w * (occ - ratio)).error)
    return 0.5 * (bin_edges[1:] + bin_edges[:-1]), np.array(dens), np.array(errs)


def chi2_against(
    density: np.ndarray,
    error: np.ndarray,
    exact: np.ndarray,
    *,
    bin_width=None,
    n_samples: int | None = None,
    min_expected: float = 10.0,
):
    """chi^2 = sum ((density - exact)/error)^2 over the bins with an expected count
    ``exact * bin_width * n_samples >= min_expected`` (when given) and error > 0: tail bins with a
    handful of samples have no Gaussian error. Returns (chi2, dof, p-value)."""
    from scipy.stats import chi2 as chi2_dist

    ok = error > 0
    if bin_width is not None and n_samples is not None:
        ok &= exact * np.asarray(bin_width) * n_samples >= min_expected
    chi2 = float(np.sum(((density[ok] - exact[ok]) / error[ok]) ** 2))
    dof = int(ok.sum())
    return chi2, dof, float(chi2_dist.sf(chi2, dof)) if dof > 0 else float("nan")


def batch_mean_estimate(values: np.ndarray) -> tuple[float, float]:
    """Mean and error from independent chain means (values: chains x blocks), e.g. when each chain
    has its own random time division."""
    mean, err = batch_means(np.asarray(values).mean(axis=1))
    return float(mean), float(err)


# ============================================================================ high-level drivers
POTENTIALS = ("harmonic", "anharmonic", "double-well", "free")
ESTIMATORS = ("virial", "control-variates")


def make_potential(
    name: str, g: float = 1.0, *, omega: float = 1.0, a: float = 1.0, mass: float = 1.0
) -> PolynomialPotential:
    """``harmonic``: m w^2 x^2/2; ``anharmonic``: m w^2 x^2/2 + g x^4 (g >= 0); ``double-well``:
    g (x^2 - a^2)^2 (g > 0); ``free``: 0. Raises NqgInputError for unknown names or unbounded V."""
    from nqg.fields.quantum_mechanics import (
        anharmonic_potential,
        double_well_potential,
        free_potential,
        harmonic_potential,
    )

    if not np.isfinite(g):
        raise NqgInputError(f"g must be a finite number, got {g}")
    if name == "harmonic":
        return harmonic_potential(omega, mass)
    if name == "anharmonic":
        if g < 0:
            raise NqgInputError(
                f"anharmonic oscillator needs g >= 0 (V = x^2/2 + g x^4 unbounded below), got {g}"
            )
        return anharmonic_potential(g, omega, mass)
    if name == "double-well":
        if g <= 0:
            raise NqgInputError(f"double well V = g (x^2 - a^2)^2 needs g > 0, got {g}")
        return double_well_potential(g, a)
    if name == "free":
        return free_potential()
    raise NqgInputError(f"potential must be one of {', '.join(POTENTIALS)}, got {name!r}")


def make_networks(
    activation: str,
    T: float,
    n_neurons: int,
    boundary: str,
    n_chains: int,
    *,
    x0: float = 0.0,
    xf: float = 0.0,
    seed: int = 0,
):
    """One network for all chains, or (free-relu) one random time division per chain."""
    if activation == "free-relu":
        return [FreeKinkReluPath.random([seed, i], T, n_neurons, boundary, x0, xf) for i in range(n_chains)]
    return make_path_network(activation, T, n_neurons, boundary, x0=x0, xf=xf)


@dataclass
class GroundStateRun:
    """E0 from the virial estimator, the correlator fit (gap, E0 by the sum rule) and the samples."""

    E0: Estimate
    correlator: CorrelatorFit | None
    samples: PathIntegralSamples
    T: float
    n_neurons: int
    activation: str


def ground_state(
    potential: PolynomialPotential,
    activation: str = "relu",
    *,
    n_neurons: int = 64,
    T: float = 8.0,
    n_chains: int = 8,
    n_samples: int = 2000,
    n_warmup: int = 400,
    block_size: int = 10,
    seed: int = 0,
    mass: float = 1.0,
    hbar: float = 1.0,
    fit_gap: bool = True,
    t_min: float = 0.5,
    estimator: str = "virial",
    n_devices: int | None = None,
    **sample_kwargs: Any,
) -> GroundStateRun:
    """Periodic paths of length T: E0 = <(1/T) int [x V'/2 + V]> and the gap from <x(t) x(0)>.

    ``estimator``: ``"virial"`` (the plain time-averaged virial estimator) or ``"control-variates"``
    (the same with zero-variance control variates, :func:`ground_state_energy_control_variates`: the
    same mean, about 10x smaller error at N = 64 for the anharmonic oscillator). ``n_devices``: devices
    the chains are split over (default all in use, :func:`sample_path_integral`); for a fixed seed E0 and
    its error do not depend on it (the estimators read the chains in global order on the host)."""
    if estimator not in ESTIMATORS:
        raise NqgInputError(f"estimator must be one of {', '.join(ESTIMATORS)}, got {estimator!r}")
    nets = make_networks(activation, T, n_neurons, "periodic", n_chains, seed=seed)
    sizes = {"n_chains": n_chains, "n_samples": n_samples, "n_warmup": n_warmup, "block_size": block_size}
    samples = sample_path_integral(
        nets, potential, seed=seed, mass=mass, hbar=hbar, n_devices=n_devices, **sizes, **sample_kwargs
    )
    fit = None
    if fit_gap:
        try:
            fit = fit_correlator(samples, mass=mass, t_min=t_min)
        except (RuntimeError, ValueError):
            fit = None
    if estimator == "virial":
        E0 = ground_state_energy_virial(samples)
    else:
        E0 = ground_state_energy_control_variates(samples)
    return GroundStateRun(E0, fit, samples, T, n_neurons, activation)


@dataclass
class EndpointRun:
    """Density of the free end x(T) of paths with x(0) = x0 (proportional to K(x, x0; T))."""

    centres: np.ndarray
    density: np.ndarray
    error: np.ndarray
    samples: PathIntegralSamples
    variance: Estimate
    mean: Estimate


def endpoint_distribution(
    potential: PolynomialPotential,
    activation: str = "relu",
    *,
    n_neurons: int = 32,
    T: float = 1.0,
    x0: float = 0.0,
    bin_edges: np.ndarray | None = None,
    n_chains: int = 8,
    n_samples: int = 2000,
    n_warmup: int = 400,
    block_size: int = 5,
    seed: int = 0,
    mass: float = 1.0,
    hbar: float = 1.0,
    n_devices: int | None = None,
    **sample_kwargs: Any,
) -> EndpointRun:
    """Sample paths with x(0) = x0 and a free end; histogram x(T) (the tail-smeared histogram for
    truncated Fourier networks; for the step network weighted by exp(-dtau V(x_T)/2), see the code).
    For large T, ``p(x) -> psi0(x) / int psi0`` (K(x, x0; T) ~
    psi0(x) psi0(x0) exp(-E0 T)): the free end gives psi0 itself, not |psi0|^2. ``n_devices``: as in
    :func:`sample_path_integral`."""
    nets = make_networks(activation, T, n_neurons, "free", n_chains, x0=x0, seed=seed)
    sizes = {"n_chains": n_chains, "n_samples": n_samples, "n_warmup": n_warmup, "block_size": block_size}
    samples = sample_path_integral(
        nets, potential, seed=seed, mass=mass, hbar=hbar, n_devices=n_devices, **sizes, **sample_kwargs
    )
    xe = samples.blocks["x_end"]
    if bin_edges is None:
        sd = float(np.std(xe)) + np.sqrt(samples.end_tail_variance)
        bin_edges = np.linspace(np.mean(xe) - 4 * sd, np.mean(xe) + 4 * sd, 33)
    log_w = None
    if activation == "step":
        # lattice (left-point) action: x(T) carries no potential factor, its density is
        # exp(+dtau V/2) psi + O(dtau^2); the weight exp(-dtau V(x_T)/2) restores the symmetric splitting
        log_w = -0.5 * (T / n_neurons) * potential(xe) / hbar
    c, d, e = position_density(xe, np.asarray(bin_edges), samples.end_tail_variance, log_w)
    if log_w is None:
        var = estimate((xe - xe.mean()) ** 2 + samples.end_tail_variance)
        mean = estimate(xe)
    else:
        w = np.exp(log_w - log_w.max())
        w = w / w.mean()
        mu = float(np.mean(w * xe))
        m2 = float(np.mean(w * (xe - mu) ** 2))
        mean = Estimate(mu, estimate(w * (xe - mu)).error, m2, 1.0, float("nan"))
        var = Estimate(m2, estimate(w * ((xe - mu) ** 2 - m2)).error, float("nan"), 1.0, float("nan"))
    return EndpointRun(c, d, e, samples, var, mean)


def harmonic_discretized_energy(
    network, omega: float = 1.0, *, mass: float = 1.0, hbar: float = 1.0, tail_correction: bool | None = None
) -> float:
    """Exact expectation of the virial estimator for V = m w^2 x^2/2 on a given network (the weight
    density is Gaussian, covariance hbar H^-1):
    ``m w^2 (1/T) sum_q w_q [B H^-1 B^T + c c^T + s^2]_qq``.
    Separates the discretization error of a network (N, T) from Monte-Carlo error."""
    kw = {"mass": mass, "hbar": hbar}
    if tail_correction is not None:
        kw["tail_correction"] = tail_correction
    a = network.linear_model(**kw).arrays()
    H = a["K"] + mass * omega**2 * a["B"].T @ (a["quad_weights"][:, None] * a["B"])
    mean = -np.linalg.solve(H, a["k"] + mass * omega**2 * a["B"].T @ (a["quad_weights"] * a["c"]))
    cov = hbar * np.linalg.inv(H)
    xq = a["B"] @ mean + a["c"]
    var = np.einsum("qi,ij,qj->q", a["B"], cov, a["B"]) + a["tail_variance"]
    return float(mass * omega**2 * np.sum(a["quad_weights"] * (xq**2 + var)) / network.T)


def thermal_oscillator_energy(T: float, omega: float = 1.0, hbar: float = 1.0) -> float:
    """<H> at inverse temperature T/hbar: (hbar w/2) coth(w T/2) (what periodic paths of length T give)."""
    return 0.5 * hbar * omega / np.tanh(0.5 * omega * T)


def squared_increments(weights: np.ndarray, network: StepPath, lags: list[int]) -> list[Estimate]:
    """<(x(t + l dtau) - x(t))^2> from sampled step-network weights (chains, samples, d), averaged over t;
    Brownian motion predicts hbar l dtau / m."""
    times = np.arange(network.n_neurons + 1) * network.dtau
    w = np.asarray(weights)
    A, a = _affine_design(network.path, w.shape[-1], times)
    x = w @ A.T + a
    out = []
    for lag in lags:
        inc = (x[..., lag:] - x[..., :-lag]) ** 2
        out.append(estimate(inc.mean(axis=-1)))
    return out


# ============================================================================ control variates
def _control_variate_regressors(samples: PathIntegralSamples, n_groups: int | None) -> np.ndarray:
    """Regressors (chains, blocks, p) from the block means of the scaling identities ``u_i``: all modes
    with ``lambda_i > 0`` (``n_groups=None``), or ``n_groups`` bands of the lambda-ordered modes, band g
    contributing ``sum_{i in g} lambda_i u_i``."""
    u = np.asarray(samples.blocks["scaling_identities"])
    lam = np.asarray(samples.info["scaling_eigenvalues"])  # (chains, d)
    keep = np.max(lam, axis=0) > 1e-10 * np.max(lam)
    u, lam = u[..., keep], lam[:, keep]
    if n_groups is None:
        return u
    bands = np.array_split(np.arange(u.shape[-1]), min(int(n_groups), u.shape[-1]))
    weighted = u * lam[:, None, :]
    return np.stack([weighted[..., b].sum(axis=-1) for b in bands], axis=-1)


def ground_state_energy_control_variates(samples: PathIntegralSamples, n_groups: int | None = 8) -> Estimate:
    """E0 from the virial estimator O with zero-variance control variates (Assaraf & Caffarel 1999,
    Mira, Solgi & Imparato 2013): ``E0 = <O - sum_g beta_g X_g>`` with ``X_g`` linear combinations of the
    scaling identities ``u_i = y_i d_i S/hbar - 1`` (``<u_i> = 0`` exactly, :func:`_scaling_identities`),
    grouped by :func:`_control_variate_regressors`, and beta the least-squares coefficients of O on X
    over all block means (the optimal linear control variate; fitting beta on the same samples biases
    the mean by O(p/n) of the variance, far below the error). The error is the autocorrelation-aware
    error of the corrected series ``O - X beta``. For a harmonic potential the variance vanishes (the
    regressors span O - <O>); for quartic ones the quadratic part of the fluctuation is removed."""
    if "scaling_identities" not in samples.blocks:
        raise NqgInputError("these samples carry no scaling identities (sampled by an older nqg)")
    virial = np.asarray(samples.blocks["virial"])
    X = _control_variate_regressors(samples, n_groups)
    Xf, of = X.reshape(-1, X.shape[-1]), virial.ravel()
    if Xf.shape[0] <= 2 * Xf.shape[1]:
        raise NqgInputError(
            f"control variates need more than 2 x {Xf.shape[1]} block means, got {Xf.shape[0]}: use more "
            "samples, smaller blocks or fewer groups (n_groups)"
        )
    Xc = Xf - Xf.mean(axis=0)
    beta, *_ = np.linalg.lstsq(Xc, of - of.mean(), rcond=None)
    return estimate(virial - X @ beta)
