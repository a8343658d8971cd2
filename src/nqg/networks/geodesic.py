"""Neural geodesic equation: a metric network, its Levi-Civita connection and curvature by autodiff.

The geodesic equation of a Riemannian metric ``g_ij(x)`` in coordinates ``x`` is the first-order system

    x' = v,    v'^k = -Gamma^k_ij(x) v^i v^j,
    Gamma^k_ij = 1/2 g^kl (d_i g_jl + d_j g_il - d_l g_ij),

with ``t`` an affine parameter (arc length up to a constant factor). Here ``g`` is the output of a
network, positive definite by construction (``g = L L^T`` with ``L`` lower triangular and
``L_ii = exp(.)``); ``Gamma`` and the Riemann tensor

    R^a_bcd = d_c Gamma^a_db - d_d Gamma^a_cb + Gamma^a_ce Gamma^e_db - Gamma^a_de Gamma^e_cb

come from it by automatic differentiation, with the Ricci scalar ``R = g^bd R^a_bad`` and, in two
dimensions, the Gaussian curvature ``K = R / 2``.

What observed geodesics determine. Trajectories ``x(t)`` sampled in time determine the connection
``Gamma`` on the region they cover (every direction ``v v^T`` spans the symmetric matrices once three
independent directions pass through a neighbourhood). A connection with irreducible holonomy (``K != 0``
in 2D) is the Levi-Civita connection of a metric unique up to a constant factor ``c``: ``g -> c g``
leaves ``Gamma`` and every geodesic, with its parametrisation, unchanged, while ``K -> K / c``. The fit
fixes that one number by a convention: the mean squared speed ``g(v, v)`` over the observed points is 1
(exact for arc-length parametrised data, where ``g(v, v) = 1`` at every point). Coordinates are those of
the data; a metric obtained in other coordinates is the same geometry (a diffeomorphism), so fits are
compared through the invariant ``K``, never through components. From unparametrised paths one would
only get ``Gamma`` up to a projective change ``Gamma^k_ij -> Gamma^k_ij + delta^k_i p_j + delta^k_j p_i``.

Geodesics are solved with diffrax (adaptive Tsit5). The fit matches the geodesic equation
``a + Gamma(x)(v, v) = 0`` at the observed points, with ``v, a`` from local polynomial fits of each
trajectory (any, uneven, sampling in ``t``), and is trained with optax through :func:`nqg.train.minimize`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
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
from nqg.train import minimize

MetricFn = Callable[[jax.Array], jax.Array]

# ----------------------------------------------------------------------------- known geometries


def sphere_metric(x: jax.Array) -> jax.Array:
    """Unit 2-sphere in angular coordinates ``x = (theta, phi)``: ``ds^2 = dtheta^2 + sin^2 theta dphi^2``
    (``K = 1``)."""
    one = jnp.ones_like(x[0])
    return jnp.diag(jnp.stack([one, jnp.sin(x[0]) ** 2]))


def hyperbolic_half_plane_metric(x: jax.Array) -> jax.Array:
    """Poincare upper half-plane ``x = (x, y)``, ``y > 0``: ``ds^2 = (dx^2 + dy^2) / y^2`` (``K = -1``)."""
    return jnp.eye(2, dtype=x.dtype) / x[1] ** 2


def euclidean_polar_metric(x: jax.Array) -> jax.Array:
    """The flat plane in polar coordinates ``x = (r, phi)``: ``ds^2 = dr^2 + r^2 dphi^2`` (``K = 0``)."""
    one = jnp.ones_like(x[0])
    return jnp.diag(jnp.stack([one, x[0] ** 2]))


# ----------------------------------------------------------------------------- geometry by autodiff


def christoffel(metric: MetricFn, x: jax.Array) -> jax.Array:
    """``Gamma[k, i, j] = 1/2 g^kl (d_i g_jl + d_j g_il - d_l g_ij)`` at the point ``x`` (shape ``(d,)``)."""
    g = metric(x)
    dg = jax.jacfwd(metric)(x)  # dg[i, j, l] = d_l g_ij
    lower = 0.5 * (jnp.einsum("jli->lij", dg) + jnp.einsum("ilj->lij", dg) - jnp.einsum("ijl->lij", dg))
    return jnp.linalg.solve(g, lower.reshape(g.shape[0], -1)).reshape(lower.shape)


def geodesic_acceleration(metric: MetricFn, x: jax.Array, v: jax.Array) -> jax.Array:
    """``a^k = -Gamma^k_ij(x) v^i v^j``: acceleration of the geodesic through ``x`` with velocity ``v``."""
    return -jnp.einsum("kij,i,j->k", christoffel(metric, x), v, v)


def riemann_tensor(metric: MetricFn, x: jax.Array) -> jax.Array:
    """``R[a, b, c, d] = R^a_bcd = d_c Gamma^a_db - d_d Gamma^a_cb + Gamma^a_ce Gamma^e_db
    - Gamma^a_de Gamma^e_cb``."""
    gam = christoffel(metric, x)
    dgam = jax.jacfwd(lambda y: christoffel(metric, y))(x)  # dgam[a, i, j, c] = d_c Gamma^a_ij
    deriv = jnp.einsum("adbc->abcd", dgam) - jnp.einsum("acbd->abcd", dgam)
    quad = jnp.einsum("ace,edb->abcd", gam, gam) - jnp.einsum("ade,ecb->abcd", gam, gam)
    return deriv + quad


def ricci_scalar(metric: MetricFn, x: jax.Array) -> jax.Array:
    """``R = g^bd R^a_bad`` (the sphere of radius ``r``: ``R = 2 / r^2``)."""
    ricci = jnp.einsum("abad->bd", riemann_tensor(metric, x))
    return jnp.trace(jnp.linalg.solve(metric(x), ricci))


def gaussian_curvature(metric: MetricFn, x: jax.Array) -> jax.Array:
    """Gaussian curvature of a two-dimensional metric, ``K = R / 2 = R_1212 / det g``."""
    if x.shape[-1] != 2:
        raise NqgInputError(
            f"Gaussian curvature needs two dimensions, got a point of dimension {x.shape[-1]}"
        )
    return 0.5 * ricci_scalar(metric, x)


def curvature_at(metric: MetricFn, points: Any) -> jax.Array:
    """``K`` (2D) or the Ricci scalar ``R`` (other dimensions) at each row of ``points`` (``(n, d)``)."""
    return _curvature_batch(metric, jnp.asarray(points))


@eqx.filter_jit
def _curvature_batch(metric: MetricFn, points: jax.Array) -> jax.Array:
    fn = gaussian_curvature if points.shape[-1] == 2 else ricci_scalar
    return jax.vmap(lambda p: fn(metric, p))(points)


# ----------------------------------------------------------------------------- geodesics with diffrax


def geodesic_vector_field(metric: MetricFn) -> Callable[[Any, tuple, Any], tuple]:
    """The first-order geodesic flow ``(x, v)' = (v, -Gamma(x)(v, v))`` as a diffrax vector field."""

    def field_(t: Any, y: tuple, args: Any) -> tuple:
        x, v = y
        return v, geodesic_acceleration(metric, x, v)

    return field_


def integrate_geodesic(
    metric: MetricFn,
    x0: jax.Array,
    v0: jax.Array,
    ts: jax.Array,
    *,
    rtol: float | None = None,
    atol: float | None = None,
    max_steps: int = 8192,
) -> tuple[jax.Array, jax.Array]:
    """Positions and velocities at the times ``ts`` (non-decreasing, ``ts[0]`` the initial time) of the
    geodesic with ``x(ts[0]) = x0``, ``x'(ts[0]) = v0`` (adaptive Tsit5; tolerances from the dtype)."""
    x0, v0 = jnp.asarray(x0), jnp.asarray(v0)
    ts = jnp.asarray(ts, dtype=x0.dtype)
    eps = jnp.finfo(x0.dtype).eps
    rtol = rtol if rtol is not None else (1e-10 if eps < 1e-10 else 1e-6)
    atol = atol if atol is not None else rtol
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(geodesic_vector_field(metric)),
        diffrax.Tsit5(),
        t0=ts[0],
        t1=ts[-1],
        dt0=None,
        y0=(x0, v0),
        saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        max_steps=max_steps,
    )
    return sol.ys[0], sol.ys[1]


# ----------------------------------------------------------------------------- trajectories


@dataclass
class Trajectories:
    """Observed trajectories, padded to a common length: ``times (n, m)``, ``positions (n, m, d)``,
    ``lengths (n,)`` (row ``i`` is valid up to ``lengths[i]``; padding repeats the last point)."""

    times: np.ndarray
    positions: np.ndarray
    lengths: np.ndarray
    labels: list[str] = field(default_factory=list)

    @property
    def dim(self) -> int:
        return int(self.positions.shape[-1])

    def __len__(self) -> int:
        return int(self.times.shape[0])

    @property
    def mask(self) -> np.ndarray:
        """``(n, m)`` booleans: which entries are observed points (not padding)."""
        return np.arange(self.times.shape[1])[None, :] < self.lengths[:, None]

    def points(self) -> np.ndarray:
        """Every observed position, ``(N, d)``."""
        return self.positions[self.mask]

    def subset(self, index: Any) -> Trajectories:
        index = np.asarray(index)
        labels = [self.labels[i] for i in index] if self.labels else []
        lengths = self.lengths[index]
        m = int(lengths.max())
        return Trajectories(self.times[index, :m], self.positions[index, :m], lengths, labels)

    @classmethod
    def from_list(
        cls, times: list[np.ndarray], positions: list[np.ndarray], labels: list[str] | None = None
    ) -> Trajectories:
        """Pad a list of ``(t_i (m_i,), x_i (m_i, d))`` trajectories; each needs >= 3 points, increasing t."""
        if not times:
            raise NqgInputError("no trajectories given")
        dims = {np.shape(x)[-1] for x in positions}
        if len(dims) != 1:
            raise NqgInputError(f"trajectories have different dimensions {sorted(dims)}")
        lengths = np.array([len(t) for t in times])
        for i, (t, x) in enumerate(zip(times, positions, strict=True)):
            name = labels[i] if labels else str(i)
            if len(t) < 3:
                raise NqgInputError(f"trajectory {name!r} has {len(t)} points; at least 3 are needed")
            if not (np.all(np.isfinite(t)) and np.all(np.isfinite(x))):
                raise NqgInputError(f"trajectory {name!r} has a NaN or infinite value")
            if np.any(np.diff(t) <= 0):
                raise NqgInputError(f"trajectory {name!r}: times must be strictly increasing (no repeats)")
        m, d = int(lengths.max()), dims.pop()
        dtype = np.result_type(*[np.asarray(x).dtype for x in positions], np.float32)
        ts = np.empty((len(times), m), dtype)
        xs = np.empty((len(times), m, d), dtype)
        for i, (t, x) in enumerate(zip(times, positions, strict=True)):
            n = len(t)
            ts[i, :n], ts[i, n:] = t, t[-1]
            xs[i, :n], xs[i, n:] = x, np.asarray(x)[-1]
        return cls(ts, xs, lengths, list(labels or []))


def local_derivatives(traj: Trajectories, window: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Velocity and acceleration at every observed point from the interpolating polynomial through the
    ``window`` nearest samples of its trajectory (degree ``window - 1``; error ``O(h^(window-2))`` for the
    acceleration on any uneven grid). Returns ``(v, a)``, each ``(n, m, d)`` (zero on padding)."""
    n = traj.positions.shape[0]
    v = np.zeros_like(traj.positions)
    a = np.zeros_like(traj.positions)
    for i in range(n):
        length = int(traj.lengths[i])
        w = min(window, length)
        t, x = traj.times[i, :length].astype(np.float64), traj.positions[i, :length].astype(np.float64)
        starts = np.clip(np.arange(length) - w // 2, 0, length - w)
        idx = starts[:, None] + np.arange(w)[None, :]  # (length, w)
        dt = t[idx] - t[:, None]  # (length, w)
        scale = np.max(np.abs(dt), axis=1, keepdims=True)
        vander = (dt / scale)[:, :, None] ** np.arange(w)[None, None, :]  # (length, w, w)
        coef = np.linalg.solve(vander, x[idx])  # (length, w, d): Taylor coefficients in units of scale
        v[i, :length] = coef[:, 1] / scale
        a[i, :length] = 2.0 * coef[:, 2] / scale**2
    return v, a


def _orthonormal_frame_sphere(theta: np.ndarray, phi: np.ndarray) -> tuple[np.ndarray, ...]:
    point = np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], -1)
    e_theta = np.stack([np.cos(theta) * np.cos(phi), np.cos(theta) * np.sin(phi), -np.sin(theta)], -1)
    e_phi = np.stack([-np.sin(phi), np.cos(phi), np.zeros_like(phi)], -1)
    return point, e_theta, e_phi


def _uneven_times(key: jax.Array, n: int, m: int, duration: float, jitter: float) -> np.ndarray:
    """``m`` increasing times on ``[0, duration]``: a grid with each point moved by up to ``jitter`` of
    a spacing (uneven sampling, no two points closer than ``(1 - 2 jitter)`` spacings)."""
    k = np.asarray(rng.uniform(key, (n, m), minval=-jitter, maxval=jitter))
    grid = np.arange(m)[None, :] + k
    grid[:, 0], grid[:, -1] = 0.0, m - 1.0
    return grid * duration / (m - 1)


def sphere_geodesics(
    key: jax.Array,
    n_trajectories: int,
    n_points: int,
    *,
    duration: float = 1.5,
    theta_range: tuple[float, float] = (0.45, np.pi - 0.45),
    phi_range: tuple[float, float] = (-1.0, 1.0),
    jitter: float = 0.35,
) -> Trajectories:
    """Arc-length parametrised great-circle arcs of the unit sphere in ``(theta, phi)``, exact.

    Starting points uniform in the coordinate box, directions uniform; arcs that leave
    ``theta_range`` (the poles' neighbourhoods, where the chart is singular) are redrawn. A great circle is
    ``p(s) = cos s p0 + sin s u0`` in R^3 with ``u0`` a unit tangent at ``p0``."""
    times, positions = [], []
    k_time, key = jax.random.split(key)
    t_all = _uneven_times(k_time, n_trajectories, n_points, duration, jitter)
    while len(positions) < n_trajectories:
        key, sub = jax.random.split(key)
        u = np.asarray(rng.uniform(sub, (4 * n_trajectories, 3)))
        theta0 = theta_range[0] + 0.3 + (theta_range[1] - theta_range[0] - 0.6) * u[:, 0]
        phi0 = phi_range[0] + (phi_range[1] - phi_range[0]) * u[:, 1]
        alpha = 2 * np.pi * u[:, 2]
        for th, ph, al in zip(theta0, phi0, alpha, strict=True):
            if len(positions) == n_trajectories:
                break
            t = t_all[len(positions)] - duration / 2
            p0, e_th, e_ph = _orthonormal_frame_sphere(np.array(th), np.array(ph))
            u0 = np.cos(al) * e_th + np.sin(al) * e_ph
            p = np.cos(t)[:, None] * p0 + np.sin(t)[:, None] * u0
            theta = np.arccos(np.clip(p[:, 2], -1.0, 1.0))
            phi = np.unwrap(np.arctan2(p[:, 1], p[:, 0]))
            phi += np.round((ph - phi[np.argmin(np.abs(t))]) / (2 * np.pi)) * 2 * np.pi
            if theta.min() < theta_range[0] or theta.max() > theta_range[1]:
                continue
            times.append(t + duration / 2)
            positions.append(np.stack([theta, phi], -1))
    return Trajectories.from_list(times, positions)


def hyperbolic_geodesics(
    key: jax.Array,
    n_trajectories: int,
    n_points: int,
    *,
    duration: float = 1.5,
    x_range: tuple[float, float] = (-1.0, 1.0),
    y_range: tuple[float, float] = (0.5, 2.0),
    jitter: float = 0.35,
) -> Trajectories:
    """Arc-length parametrised geodesics of the upper half-plane (``K = -1``), exact.

    The unit-speed geodesic ``z(s) = i e^s`` is moved by the isometry
    ``z -> y0^(1/2) R_alpha(z) + x0`` (``R_alpha`` the rotation about ``i`` by ``2 alpha``), so that it passes
    through ``x0 + i y0`` at ``s = 0`` in a uniformly random direction;
    ``(x0, log y0)`` uniform in the box."""
    k_time, k_start = jax.random.split(key)
    t = _uneven_times(k_time, n_trajectories, n_points, duration, jitter)
    u = np.asarray(rng.uniform(k_start, (n_trajectories, 3)))
    x0 = x_range[0] + (x_range[1] - x_range[0]) * u[:, 0]
    y0 = np.exp(np.log(y_range[0]) + np.log(y_range[1] / y_range[0]) * u[:, 1])
    alpha = np.pi * u[:, 2]
    s = t - duration / 2
    z = 1j * np.exp(s)
    c, sn = np.cos(alpha)[:, None], np.sin(alpha)[:, None]
    z = (c * z + sn) / (-sn * z + c)  # rotation about i: an isometry fixing i
    z = np.sqrt(y0)[:, None] ** 2 * z + x0[:, None]  # y0 * z + x0 maps i to x0 + i y0
    pos = np.stack([z.real, z.imag], -1)
    return Trajectories.from_list(list(t), list(pos))


# ----------------------------------------------------------------------------- the metric network


class MetricNetwork(eqx.Module):
    """A positive-definite metric ``g(x) = c L(x) L(x)^T``, ``L`` lower triangular with ``L_ii = exp(.)``.

    ``L``'s entries are the outputs of a tanh MLP of the standardised coordinates
    ``(x - center) / spread`` (smooth: ``K`` needs second derivatives); ``c = exp(log_scale)``."""

    mlp: eqx.nn.MLP
    center: jax.Array
    spread: jax.Array
    log_scale: jax.Array
    dim: int = eqx.field(static=True)

    def __init__(
        self,
        dim: int,
        key: jax.Array,
        *,
        width: int = 64,
        depth: int = 2,
        center: Any = None,
        spread: Any = None,
        log_scale: float = 0.0,
        dtype: Any = None,
    ):
        dtype = dtype or jnp.zeros(()).dtype
        self.dim = int(dim)
        n_out = self.dim * (self.dim + 1) // 2
        mlp = eqx.nn.MLP(self.dim, n_out, width, depth, activation=jnp.tanh, key=key, dtype=dtype)
        last = mlp.layers[-1]  # start from the flat metric g = c * identity
        last = eqx.tree_at(
            lambda layer: (layer.weight, layer.bias), last, (last.weight * 0.0, last.bias * 0.0)
        )
        self.mlp = eqx.tree_at(lambda m: m.layers[-1], mlp, last)
        self.center = jnp.zeros(self.dim, dtype) if center is None else jnp.asarray(center, dtype)
        self.spread = jnp.ones(self.dim, dtype) if spread is None else jnp.asarray(spread, dtype)
        self.log_scale = jnp.asarray(log_scale, dtype)

    def cholesky_factor(self, x: jax.Array) -> jax.Array:
        """``L(x)``: lower triangular, positive diagonal."""
        out = self.mlp((x - self.center) / self.spread)
        rows, cols = np.tril_indices(self.dim)
        raw = jnp.zeros((self.dim, self.dim), out.dtype).at[rows, cols].set(out)
        diag = jnp.exp(jnp.diagonal(raw))
        return jnp.tril(raw, -1) + jnp.diag(diag)

    def __call__(self, x: jax.Array) -> jax.Array:
        factor = self.cholesky_factor(x)
        return jnp.exp(self.log_scale) * factor @ factor.T


# ----------------------------------------------------------------------------- fitting


@dataclass
class GeodesicFit:
    """A fitted metric network with the training history and the residuals of the geodesic equation."""

    metric: MetricNetwork
    history: dict[str, np.ndarray]
    relative_residual: float
    mean_speed2: float


def geodesic_residual_loss(
    metric: MetricNetwork,
    x: jax.Array,
    v: jax.Array,
    a: jax.Array,
    weight: jax.Array,
    accel_scale: jax.Array,
    residual_norm: str = "coordinate",
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The geodesic equation at the observed points plus the gauge condition fixing the constant scale of
    ``g`` (mean squared speed 1): ``<|r|^2> / accel_scale^2 + (log <g(v, v)>)^2``, ``r = a + Gamma(x)(v, v)``
    (``residual_norm="coordinate"``), or with ``<g(r, r) / g(v, v)^2>``, the squared geodesic curvature of
    the observed paths in the fitted metric, a diffeomorphism invariant (``"metric"``)."""

    def at_point(xi: jax.Array, vi: jax.Array, ai: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        g = metric(xi)
        r = ai - geodesic_acceleration(metric, xi, vi)
        speed2 = vi @ g @ vi
        return jnp.sum(r**2), (r @ g @ r) / speed2**2, speed2

    coord, kappa2, speed2 = jax.vmap(at_point)(x, v, a)
    wsum = jnp.sum(weight)
    coordinate = jnp.sum(weight * coord) / wsum / accel_scale**2
    residual = coordinate if residual_norm == "coordinate" else jnp.sum(weight * kappa2) / wsum
    mean_speed2 = jnp.mean(speed2)
    gauge = jnp.log(mean_speed2) ** 2
    return residual + gauge, {
        "residual": residual,
        "coordinate_residual": coordinate,
        "mean_speed2": mean_speed2,
    }


def fit_metric(
    traj: Trajectories,
    key: jax.Array,
    *,
    width: int = 32,
    depth: int = 2,
    steps: int = 3000,
    learning_rate: float = 1e-2,
    window: int = 5,
    residual_norm: str = "metric",
    ctx: RunContext | None = None,
    progress: bool | None = None,
    name: str = "geodesic-fit",
) -> GeodesicFit:
    """Fit a :class:`MetricNetwork` to observed trajectories: the geodesic equation at every observed point
    (velocities and accelerations from :func:`local_derivatives`), Adam with cosine decay.

    ``residual_norm="metric"`` (default) minimises the mean squared geodesic curvature
    ``g(r, r) / g(v, v)^2`` of the observed paths in the fitted metric (``r = a + Gamma(v, v)``): it does
    not depend on the coordinates, and on sphere and hyperbolic-plane data it recovers ``K`` 2-3 times more
    accurately than the coordinate residual ``|r|^2`` (``"coordinate"``), which over-weights fast points."""
    if steps < 1:
        raise NqgInputError(f"steps must be >= 1, got {steps}")
    if residual_norm not in ("coordinate", "metric"):
        raise NqgInputError(f"residual_norm must be 'coordinate' or 'metric', got {residual_norm!r}")
    dtype = jnp.asarray(traj.positions).dtype
    v, a = local_derivatives(traj, window)
    mask = traj.mask
    x_obs, v_obs, a_obs = (jnp.asarray(arr[mask], dtype) for arr in (traj.positions, v, a))
    weight = jnp.ones(x_obs.shape[0], dtype)
    center = jnp.mean(x_obs, 0)
    spread = jnp.maximum(jnp.std(x_obs, 0), 1e-6 * (1 + jnp.abs(center)))
    speed2 = jnp.mean(jnp.sum(v_obs**2, -1))
    accel_scale = speed2 / jnp.sqrt(jnp.mean(jnp.sum((x_obs - center) ** 2, -1)))
    net = MetricNetwork(
        traj.dim,
        key,
        width=width,
        depth=depth,
        center=center,
        spread=spread,
        log_scale=float(-jnp.log(speed2)),
        dtype=dtype,
    )
    schedule = optax.cosine_decay_schedule(learning_rate, steps, alpha=1e-2)
    optimizer = optax.adam(schedule)

    def loss(params: MetricNetwork, _key: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        return geodesic_residual_loss(params, x_obs, v_obs, a_obs, weight, accel_scale, residual_norm)

    out = minimize(
        loss,
        net,
        optimizer,
        steps=steps,
        key=key,
        has_aux=True,
        ctx=ctx,
        name=name,
        progress=progress,
        chunk=100,
        description="geodesic fit",
    )
    metric = out.state.params
    _, aux = loss(metric, key)
    rel = float(jnp.sqrt(aux["coordinate_residual"] * accel_scale**2 / jnp.mean(jnp.sum(a_obs**2, -1))))
    return GeodesicFit(metric, out.history, rel, float(aux["mean_speed2"]))


def predict_trajectories(metric: MetricFn, traj: Trajectories, window: int = 5) -> np.ndarray:
    """Positions at the observed times of geodesics started at each trajectory's first point with its
    velocity there (from :func:`local_derivatives`): ``(n, m, d)``."""
    v, _ = local_derivatives(traj, window)
    x0 = jnp.asarray(traj.positions[:, 0])
    v0 = jnp.asarray(v[:, 0])
    ts = jnp.asarray(traj.times)
    return np.asarray(_geodesic_batch(metric, x0, v0, ts))


@eqx.filter_jit
def _geodesic_batch(metric: MetricFn, x0: jax.Array, v0: jax.Array, ts: jax.Array) -> jax.Array:
    return jax.vmap(lambda x, u, t: integrate_geodesic(metric, x, u, t)[0])(x0, v0, ts)


def prediction_rms(predicted: np.ndarray, traj: Trajectories) -> float:
    """Root-mean-square coordinate distance between predicted and observed positions (observed points)."""
    err = np.sum((predicted - traj.positions) ** 2, -1)[traj.mask]
    return float(np.sqrt(np.mean(err)))


def straight_line_prediction(traj: Trajectories, window: int = 5) -> np.ndarray:
    """The flat-metric control: ``x(t) = x0 + v0 (t - t0)`` (what a fit without curvature predicts)."""
    v, _ = local_derivatives(traj, window)
    dt = traj.times - traj.times[:, :1]
    return traj.positions[:, :1] + v[:, :1] * dt[:, :, None]


class AffineTime(eqx.Module):
    """``t = stretch * s + shift``: a time-affine reparametrisation."""

    stretch: jax.Array
    shift: jax.Array

    def __call__(self, s: jax.Array) -> jax.Array:
        return self.stretch * s + self.shift


class QuadraticTime(eqx.Module):
    """``t = s + curvature * s^2 / 2``: a reparametrisation that is not affine (``t'' = curvature``)."""

    curvature: jax.Array

    def __call__(self, s: jax.Array) -> jax.Array:
        return s + 0.5 * self.curvature * s**2


@eqx.filter_jit
def affine_reparametrisation_defect(
    metric: MetricFn, x0: jax.Array, v0: jax.Array, duration: float, stretch: float, shift: float
) -> jax.Array:
    """Max distance between ``x(stretch * s + shift)`` (the geodesic from ``(x0, v0)`` at ``t = shift``)
    and the geodesic started at ``(x0, stretch * v0)`` at ``s = 0``, for ``s`` in ``[0, duration / stretch]``:
    zero (to the solver tolerance) because ``t -> a t + b`` maps geodesics to geodesics."""
    s = jnp.linspace(0.0, duration / stretch, 9, dtype=jnp.asarray(x0).dtype)
    x_orig, _ = integrate_geodesic(metric, x0, v0, stretch * s + shift)
    x_new, _ = integrate_geodesic(metric, x0, stretch * jnp.asarray(v0), s)
    return jnp.max(jnp.linalg.norm(x_orig - x_new, axis=-1))


@eqx.filter_jit
def reparametrised_geodesic_residual(
    metric: MetricFn, x0: jax.Array, v0: jax.Array, duration: float, warp: Callable[[jax.Array], jax.Array]
) -> jax.Array:
    """Max over ``s`` of ``|y'' + Gamma(y)(y', y')|`` for ``y(s) = x(warp(s))``, ``x`` the geodesic from
    ``(x0, v0)``: zero for an affine ``warp``, ``|warp''| |x'|`` otherwise (the negative control)."""
    s = jnp.linspace(0.0, duration, 17, dtype=jnp.asarray(x0).dtype)
    t = jax.vmap(warp)(s)
    x, v = integrate_geodesic(metric, x0, v0, jnp.concatenate([jnp.zeros(1, t.dtype), t]))
    x, v = x[1:], v[1:]
    dw = jax.vmap(jax.grad(warp))(s)
    d2w = jax.vmap(jax.grad(jax.grad(warp)))(s)
    acc = jax.vmap(lambda xi, vi: geodesic_acceleration(metric, xi, vi))(x, v)
    y1 = dw[:, None] * v
    y2 = d2w[:, None] * v + dw[:, None] ** 2 * acc
    gamma_term = -jax.vmap(lambda xi, vi: geodesic_acceleration(metric, xi, vi))(x, y1)
    return jnp.max(jnp.linalg.norm(y2 + gamma_term, axis=-1))


def coverage_count(traj: Trajectories, points: Any, radius: float) -> np.ndarray:
    """For each row of ``points``: how many distinct trajectories have an observed point within
    ``radius`` (coordinate distance). The connection is determined at ``x`` only where geodesics in at least
    three independent directions pass nearby, so the region the data covers is where this count is high."""
    from scipy.spatial import cKDTree

    obs = traj.points()
    owner = np.repeat(np.arange(len(traj)), traj.lengths)
    tree = cKDTree(obs)
    hits = tree.query_ball_point(np.asarray(points, np.float64), r=radius)
    return np.array([len(np.unique(owner[h])) for h in hits])


def covered_region(
    traj: Trajectories, points: Any, radius_fraction: float = 0.1, min_trajectories: int = 5
) -> np.ndarray:
    """Booleans: ``points`` where at least ``min_trajectories`` trajectories pass within
    ``radius_fraction`` times the data's RMS extent (the region the data covers)."""
    obs = traj.points()
    extent = float(np.sqrt(np.sum(np.var(obs, 0))))
    return coverage_count(traj, points, radius_fraction * extent) >= min_trajectories


def curvature_rms_error(
    metric: MetricFn, points: Any, exact: Callable[[jax.Array], jax.Array] | float
) -> tuple[float, np.ndarray]:
    """Relative RMS error of ``K`` over ``points``: ``sqrt(mean (K - K_exact)^2) / sqrt(mean K_exact^2)``."""
    k = np.asarray(curvature_at(metric, points))
    pts = np.asarray(points)
    k_exact = np.full(len(pts), float(exact)) if np.isscalar(exact) else np.asarray(jax.vmap(exact)(pts))
    return float(np.sqrt(np.mean((k - k_exact) ** 2) / np.mean(k_exact**2))), k


def curvature_map(
    metric: MetricFn,
    traj: Trajectories,
    n_grid: int = 40,
    radius_fraction: float = 0.1,
    min_trajectories: int = 5,
) -> dict[str, np.ndarray]:
    """``K`` (2D) on an ``n_grid x n_grid`` grid over the data's bounding box, the metric there, and the mask
    of the covered region (:func:`covered_region`): arrays
    ``grid_x1, grid_x2, K_grid, g_grid, covered_grid``."""
    pts = traj.points()
    lo, hi = pts.min(0), pts.max(0)
    g1, g2 = np.meshgrid(np.linspace(lo[0], hi[0], n_grid), np.linspace(lo[1], hi[1], n_grid), indexing="ij")
    grid = np.stack([g1.ravel(), g2.ravel()], -1).astype(pts.dtype)
    k_grid = np.asarray(curvature_at(metric, grid)).reshape(g1.shape)
    g_grid = np.asarray(jax.vmap(metric)(jnp.asarray(grid))).reshape(*g1.shape, 2, 2)
    mask = covered_region(traj, grid, radius_fraction, min_trajectories).reshape(g1.shape)
    return {"grid_x1": g1, "grid_x2": g2, "K_grid": k_grid, "g_grid": g_grid, "covered_grid": mask}


def plot_curvature_map(
    ax: Any,
    fig: Any,
    cmap: dict[str, np.ndarray],
    traj: Trajectories,
    labels: tuple[str, str] = ("x1", "x2"),
    k_exact: float | None = None,
    title: str = "learned K over the covered region",
) -> None:
    """Draw ``K`` of :func:`curvature_map` where the data cover the region, with the observed points."""
    k = np.where(cmap["covered_grid"], cmap["K_grid"], np.nan)
    if k_exact is not None:
        lo, hi = k_exact - 0.2 * abs(k_exact), k_exact + 0.2 * abs(k_exact)
    else:
        finite = k[np.isfinite(k)]
        lo, hi = (np.percentile(finite, 2), np.percentile(finite, 98)) if finite.size else (-1.0, 1.0)
    im = ax.pcolormesh(cmap["grid_x1"], cmap["grid_x2"], k, cmap="RdBu_r", vmin=lo, vmax=hi, shading="auto")
    pts = traj.points()
    ax.plot(pts[:, 0], pts[:, 1], "k.", ms=0.8, alpha=0.3)
    fig.colorbar(im, ax=ax, label="K (learned)")
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_title(title + (f" (exact {k_exact:+g})" if k_exact is not None else ""), fontsize=9)


def metric_parameters(metric: MetricNetwork) -> dict[str, np.ndarray]:
    """The network's arrays (``param_i`` in tree order), for saving beside a result."""
    leaves = jax.tree_util.tree_leaves(eqx.filter(metric, eqx.is_array))
    return {f"param_{i}": np.asarray(leaf) for i, leaf in enumerate(leaves)}


__all__ = [
    "AffineTime",
    "GeodesicFit",
    "MetricNetwork",
    "QuadraticTime",
    "Trajectories",
    "affine_reparametrisation_defect",
    "christoffel",
    "coverage_count",
    "covered_region",
    "curvature_at",
    "curvature_map",
    "curvature_rms_error",
    "euclidean_polar_metric",
    "fit_metric",
    "gaussian_curvature",
    "geodesic_acceleration",
    "geodesic_residual_loss",
    "hyperbolic_geodesics",
    "hyperbolic_half_plane_metric",
    "integrate_geodesic",
    "local_derivatives",
    "metric_parameters",
    "plot_curvature_map",
    "predict_trajectories",
    "prediction_rms",
    "reparametrised_geodesic_residual",
    "ricci_scalar",
    "riemann_tensor",
    "sphere_geodesics",
    "sphere_metric",
    "straight_line_prediction",
]
