"""Geodesics of the spacetime that a neuron-state network carries, measured from the network alone.

A 2D wave network with a position-dependent speed (e.g. the lens ``c^2 = 1 - 0.3 exp(-r^2/R^2)``).

1. Local dispersion. One network step applied (``jax.jvp``) to plane waves ``exp(i k.sigma)`` of long
   wavelength gives at every site the local ``2 cos(omega dt) = Re[exp(-i k.sigma) (W exp(i k.sigma))]``;
   a fit of ``omega^2 = c^2 k^2 + b k^4`` over a few small ``k`` along both axes gives ``c^2(sigma)``.
2. Optical metric. ``ds^2 = -c^2(sigma) dt^2 + d sigma^2``, with ``c^2`` interpolated (Catmull-Rom,
   C^1) from the measured grid; Christoffel symbols by automatic differentiation.
3. Geodesics. Null and timelike geodesics of that metric, in coordinate time
   ``d^2 x^i/dt^2 = -Gamma^i_ab u^a u^b + Gamma^0_ab u^a u^b u^i`` with ``u = (1, dx/dt)``, integrated with
   diffrax (Tsit5, adaptive). At low speed ``d^2 x/dt^2 = -grad Phi`` with ``Phi = c^2/2``.
4. Packets. A wave packet (carrier wavelength ``lambda``, waist ``w``) is run through the network; the
   centroid of its energy density is compared with the geodesic from the same start and direction.
   Geometric optics needs ``lambda << R`` and a packet narrow against ``R``: the centroid follows the
   energy-weighted average of the rays over the packet's Wigner distribution (position spread
   ``w / sqrt 2``, angle spread ``1 / (sqrt 2 k w)``), which is the central ray only as ``w / R -> 0``.
   At ``R ~ lambda`` diffraction breaks even the ray average.

Note on the lattice: rays of the lattice dispersion ``F(c(sigma) s(k))`` (``s^2 = sum 4 sin^2(k_a/2)``)
bend by ``1/cos^2(k/2)`` times the continuum angle for propagation along an axis: +3.9% at
``lambda = 16`` sites, +1.0% at ``lambda = 32``. The time step does not change ray paths. Measured: the
packet's deflection is the Wigner ray bundle's times ``1/cos^2(pi/lambda)`` to < 0.1% for
``R >= 5 lambda`` (``lens_deflection(..., bundle=5)``).
"""

from __future__ import annotations

from typing import Any

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from nqg.errors import NqgInputError
from nqg.learning.wave_network import (
    LocalRecurrentNetwork,
    energy_centroid,
    evolve,
    gaussian_packet,
    site_coordinates,
    wave_network,
)

Array = jax.Array


def lens_speed(radius: float, centre: tuple[float, float], depth: float = 0.3):
    """``c(sigma) = sqrt(1 - depth exp(-|sigma - centre|^2 / R^2))``, callable of sigma (2, ...)."""

    def speed(sigma):
        xp = np if isinstance(sigma, np.ndarray) else jnp  # numpy in, numpy out (no compilation)
        r2 = (sigma[0] - centre[0]) ** 2 + (sigma[1] - centre[1]) ** 2
        return xp.sqrt(1.0 - depth * xp.exp(-r2 / radius**2))

    return speed


# ----------------------------------------------------------------------------- 1. local dispersion


def local_frequency(network: LocalRecurrentNetwork, wavevector: Any) -> Array:
    """Per-site ``omega(sigma; k)`` from one step of the network on ``exp(i k.sigma)`` (forward mode).

    The real and imaginary parts are pushed through the drive ``W`` of ``x(t+1) = W x(t) - x(t-1)`` by
    ``jax.jvp``; for a mode ``exp(i(k.sigma - omega t))`` of that leapfrog update ``W -> 2 cos(omega dt)``,
    so locally ``2 cos(omega dt) = Re[exp(-i k.sigma) (W exp(i k.sigma))]`` (exact for uniform weights,
    O(gradient) corrections where the weights vary).
    """
    dtype = network.self_weight.dtype
    sigma = site_coordinates(network.shape, dtype)
    phase = jnp.tensordot(jnp.asarray(wavevector, dtype), sigma, axes=1)
    cos, sin = jnp.cos(phase), jnp.sin(phase)
    zero = jnp.zeros(network.shape, dtype)

    _, w_cos = jax.jvp(network.drive, (zero,), (cos,))
    _, w_sin = jax.jvp(network.drive, (zero,), (sin,))
    two_cos = w_cos * cos + w_sin * sin  # Re[e^{-ik.s} W e^{ik.s}]
    return jnp.arccos(jnp.clip(two_cos / 2, -1.0, 1.0)) / network.dt


def measure_local_speed(network: LocalRecurrentNetwork, wavenumbers: Any = (0.05, 0.1, 0.15)) -> Array:
    """``c^2(sigma)`` from local dispersion: fit ``omega^2 = m^2 + c^2 k^2 + b k^4`` per site, both axes.

    Uses wavevectors ``(k, 0)`` and ``(0, k)`` for each ``k`` in ``wavenumbers`` (radians per site)
    and ``k = 0`` (the mass). Returns the per-site ``c^2`` (average of the two axes).
    """
    if network.dim != 2:
        raise NqgInputError("the local speed measurement is for 2D networks")
    ks = np.asarray(wavenumbers, float)
    if len(ks) < 2:
        raise NqgInputError("need at least two wavenumbers for the local dispersion fit")
    return _local_speed_fit(network, tuple(float(k) for k in ks))


@eqx.filter_jit
def _local_speed_fit(network: LocalRecurrentNetwork, ks: tuple[float, ...]) -> Array:
    dtype = network.self_weight.dtype
    wavevectors, pinvs = [(0.0, 0.0)], []
    for axis in range(2):
        # commensurate with the periodic lattice, so that the plane wave has no seam
        n_axis = network.shape[axis]
        kk = 2 * np.pi * np.maximum(np.round(np.asarray(ks) * n_axis / (2 * np.pi)), 1) / n_axis
        pinvs.append(jnp.asarray(np.linalg.pinv(np.stack([kk**2, kk**4], 1)), dtype))  # (2, n)
        wavevectors += [(k, 0.0) if axis == 0 else (0.0, k) for k in kk]
    wsq = jax.vmap(lambda kv: local_frequency(network, kv))(jnp.asarray(wavevectors, dtype)) ** 2
    n = len(ks)
    c2 = 0.0
    for axis, pinv in enumerate(pinvs):
        coef = jnp.tensordot(pinv, wsq[1 + axis * n : 1 + (axis + 1) * n] - wsq[0][None], axes=1)
        c2 = c2 + 0.5 * coef[0]
    return c2


# ----------------------------------------------------------------------------- 2. optical metric


def _catmull_rom(f0, f1, f2, f3, t):
    return 0.5 * (
        2 * f1 + (-f0 + f2) * t + (2 * f0 - 5 * f1 + 4 * f2 - f3) * t**2 + (-f0 + 3 * f1 - 3 * f2 + f3) * t**3
    )


def interpolate_periodic(grid: Array, point: Array) -> Array:
    """Bicubic Catmull-Rom interpolation (C^1) of ``grid[i0, i1]`` at real ``point = (p0, p1)``, periodic."""
    n0, n1 = grid.shape
    i0, i1 = jnp.floor(point[0]).astype(int), jnp.floor(point[1]).astype(int)
    t0, t1 = point[0] - i0, point[1] - i1
    rows = []
    for a in range(-1, 3):
        r = grid[(i0 + a) % n0]
        vals = [r[(i1 + b) % n1] for b in range(-1, 3)]
        rows.append(_catmull_rom(*vals, t1))
    return _catmull_rom(*rows, t0)


@eqx.filter_jit
def speed_squared_at(metric: OpticalMetric, points: Array) -> Array:
    """``c^2`` of ``metric`` (interpolated) at ``points`` of shape ``(..., 2)``; compiled per grid shape."""
    flat = points.reshape(-1, 2)
    return jax.vmap(metric.c2)(flat).reshape(points.shape[:-1])


@eqx.filter_jit
def _newton_acceleration(metric: OpticalMetric, point: Array) -> Array:
    """``-grad Phi`` at ``point``."""
    return -jax.grad(metric.potential)(point)


class OpticalMetric(eqx.Module):
    """``ds^2 = -c^2(sigma) dt^2 + d sigma^2`` on coordinates ``(t, sigma_0, sigma_1)`` (sites, network time).

    ``speed_squared``: the measured ``c^2`` on the lattice (index order of the network arrays).
    """

    speed_squared: Array

    def c2(self, position: Array) -> Array:
        return interpolate_periodic(self.speed_squared, position)

    def metric(self, coords: Array) -> Array:
        """``g_ab`` at ``coords = (t, sigma_0, sigma_1)``."""
        c2 = self.c2(coords[1:])
        return jnp.diag(jnp.stack([-c2, jnp.ones_like(c2), jnp.ones_like(c2)]))

    def christoffel(self, coords: Array) -> Array:
        """``Gamma^m_ab = (1/2) g^{mn} (d_a g_nb + d_b g_na - d_n g_ab)`` by autodiff; shape (3, 3, 3)."""
        g = self.metric(coords)
        dg = jax.jacfwd(self.metric)(coords)  # dg[n, b, a] = d_a g_nb
        lower = 0.5 * (jnp.einsum("nba->nab", dg) + jnp.einsum("nab->nab", dg) - jnp.einsum("abn->nab", dg))
        return jnp.einsum("mn,nab->mab", jnp.linalg.inv(g), lower)

    def potential(self, position: Array) -> Array:
        """Newtonian potential of the weak-field limit, ``Phi = c^2/2``."""
        return 0.5 * self.c2(position)


# ----------------------------------------------------------------------------- 3. geodesics


def _geodesic_rhs(t, y, metric):
    pos, vel = y[:2], y[2:]
    u = jnp.concatenate([jnp.ones((1,), y.dtype), vel])
    gam = metric.christoffel(jnp.concatenate([jnp.zeros((1,), y.dtype), pos]))
    quad = jnp.einsum("mab,a,b->m", gam, u, u)
    acc = -quad[1:] + quad[0] * vel
    return jnp.concatenate([vel, acc])


@eqx.filter_jit
def _geodesic_solve(metric, y0, times, rtol):
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(_geodesic_rhs),
        diffrax.Tsit5(),
        t0=times[0],
        t1=times[-1],
        dt0=None,
        y0=y0,
        args=metric,
        saveat=diffrax.SaveAt(ts=times),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=rtol),
        max_steps=100_000,
    )
    return sol.ys[..., :2]


def geodesic(
    metric: OpticalMetric, start: Any, velocity: Any, times: Any, *, rtol: float = 1e-9
) -> np.ndarray:
    """Geodesic through ``start`` with coordinate velocity ``velocity`` (sites per unit time) at ``times``.

    Null when ``|velocity| = c(start)``; timelike when smaller. Integrated in coordinate time with diffrax
    (``d^2 x^i/dt^2 = -Gamma^i_ab u^a u^b + Gamma^0_ab u^a u^b u^i``). ``start`` and ``velocity`` may carry
    a leading batch axis (a bundle of geodesics). Returns positions of shape ``(..., len(times), 2)``.
    """
    dtype = metric.speed_squared.dtype
    n_times = len(np.asarray(times))
    # pad the save times (repeating the last) to a multiple of 128: fewer recompilations across runs
    padded = np.concatenate([np.asarray(times), np.full(-n_times % 128, np.asarray(times)[-1])])
    times = jnp.asarray(padded, dtype)
    start, velocity = jnp.asarray(start, dtype), jnp.asarray(velocity, dtype)
    start, velocity = jnp.broadcast_arrays(start, velocity)
    y0 = jnp.concatenate([start, velocity], axis=-1)
    if y0.ndim == 1:
        return np.asarray(_geodesic_solve(metric, y0, times, rtol))[:n_times]
    return np.asarray(jax.vmap(lambda y: _geodesic_solve(metric, y, times, rtol))(y0))[:, :n_times]


def deflection_angle(trajectory: Any, fraction: float = 0.1) -> float:
    """Signed change of the direction of motion (radians) between the first and the last ``fraction``.

    Directions from linear fits of the positions in each window.
    """
    p = np.asarray(trajectory, float)
    n = max(3, round(fraction * len(p)))
    s = np.arange(n)
    d0 = np.polyfit(s, p[:n], 1)[0]
    d1 = np.polyfit(s, p[-n:], 1)[0]
    return float(np.arctan2(d0[0] * d1[1] - d0[1] * d1[0], d0 @ d1))


# ----------------------------------------------------------------------------- 4. packets


_launch_packet = eqx.filter_jit(gaussian_packet)  # one compilation instead of one per operation


def _energy_centroid_of(network, m2, x_prev, x):
    return energy_centroid(network.energy_density(x_prev, x, m2))


_centroid = eqx.filter_jit(_energy_centroid_of)


@eqx.filter_jit
def _carrier_frequency(network: LocalRecurrentNetwork, wavevector: Array, site: Array) -> Array:
    """``omega(sigma; k)`` of :func:`local_frequency` at one ``site`` (integer index array)."""
    return local_frequency(network, wavevector)[tuple(site)]


@eqx.filter_jit
def _outer_energy_fraction(network: LocalRecurrentNetwork, x_prev: Array, x: Array, strip: int) -> Array:
    """Fraction of the energy within ``strip`` sites of the lattice's edges."""
    energy = network.energy_density(x_prev, x)
    return 1 - jnp.sum(energy[strip:-strip, strip:-strip]) / jnp.sum(energy)


def run_packet(
    network: LocalRecurrentNetwork,
    start: Any,
    wavevector: Any,
    width: float,
    steps: int,
    *,
    every: int = 10,
    mass: Any = 0.0,
    omega: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Run a Gaussian packet and return times (network time, from 0) and energy centroids ``(n, D)``.

    ``omega`` defaults to the local lattice frequency at ``start`` (measured, :func:`local_frequency`).
    ``mass``: the per-site mass entering the energy density (``m^2 x^2 / 2``).
    """
    start = tuple(float(s) for s in start)
    if omega is None:
        site = tuple(round(s) for s in start)
        omega = float(
            _carrier_frequency(network, jnp.asarray(wavevector, network.self_weight.dtype), jnp.asarray(site))
        )
    x_prev, x = _launch_packet(network, start, tuple(float(k) for k in wavevector), float(width), omega=omega)
    m2 = jnp.asarray(mass) ** 2
    # a Partial keeps the network's arrays as traced arguments (not constants folded at compile time)
    observe = jax.tree_util.Partial(_energy_centroid_of, network, m2)
    _, cent = evolve(network, x_prev, x, steps, observe=observe, every=every)
    times = network.dt * np.arange(0, steps + 1, every)
    cent0 = np.asarray(_centroid(network, m2, x_prev, x))
    return times, np.concatenate([cent0[None], np.asarray(cent)])


def _wigner_bundle_nodes(width: float, wavenumber: float, nodes: int):
    """Gauss-Hermite nodes and weights over the packet's initial Wigner distribution.

    The amplitude envelope ``exp(-|x|^2 / (2 w^2))`` gives an energy profile of standard deviation
    ``w / sqrt(2)`` along and across the carrier, and a transverse wavenumber spread ``1 / (sqrt(2) w)``,
    i.e. ray angles of standard deviation ``1 / (sqrt(2) k w)``; at the packet's waist these are
    independent. Returns (transverse offsets, longitudinal offsets, angles, weights), ``nodes^3`` each.
    """
    x, wx = np.polynomial.hermite_e.hermegauss(nodes)
    grid = np.stack(np.meshgrid(x, x, x, indexing="ij")).reshape(3, -1)
    weights = np.einsum("i,j,k->ijk", wx, wx, wx).ravel()
    sigma_x, sigma_angle = width / np.sqrt(2), 1 / (np.sqrt(2) * wavenumber * width)
    return grid[0] * sigma_x, grid[1] * sigma_x, grid[2] * sigma_angle, weights / weights.sum()


def _padded_metric(speed_squared: Array, block: int = 512) -> OpticalMetric:
    """The optical metric on the grid padded (edge values) to multiples of ``block`` sites.

    For paths that stay inside the original grid the geodesics are unchanged; runs of different sizes then
    share one compiled geodesic solver.
    """
    pad = [(0, -n % block) for n in speed_squared.shape]
    return OpticalMetric(jnp.pad(speed_squared, pad, mode="edge"))


def lens_deflection(
    radius: float,
    wavelength: float,
    *,
    depth: float = 0.3,
    impact: float = 1.22,
    width: float | None = None,
    kappa: float = 0.5,
    samples: int = 100,
    bundle: int = 0,
    margin: float = 4.5,
) -> dict[str, Any]:
    """Packet vs null geodesic through the lens ``c^2 = 1 - depth exp(-r^2/R^2)``.

    The packet (carrier along +sigma_1, wavelength ``lambda``, amplitude envelope
    ``exp(-|sigma - X|^2 / (2 w^2))`` with ``w = width``, default ``1.5 lambda``) starts ``2 R`` before the
    lens centre at impact parameter ``impact * R`` (1.22 R: near the inflection of the deflection angle
    ``alpha(b)``, where averaging over the packet's cross-section changes the centroid's deflection only
    at fourth order in its width) and runs for the network time ``4 R`` (about ``samples`` centroid
    samples). The metric is measured from the network; the
    geodesic starts at the packet's initial centroid with the carrier direction and ``|v| = c``.

    The lattice covers only the band the packet sweeps (``margin`` envelope widths around it, with the
    diffractive spreading ``w(z) = w sqrt(1 + (z / k w^2)^2)`` and twice the weak-lens estimate of the
    bend); the lens centre may lie outside it. ``edge_energy_fraction`` reports the energy that reached
    the outer envelope width of the lattice at the end (it must be negligible).

    ``bundle = n > 0`` adds the geometric-optics prediction for the centroid: the energy-weighted mean, at
    equal times, of the null geodesics launched from the packet's initial Wigner distribution (``n^3``
    Gauss-Hermite nodes over the offsets across and along the carrier and the ray angle).
    """
    R, lam = float(radius), float(wavelength)
    width = 1.5 * lam if width is None else float(width)
    if not (np.isfinite(lam) and lam >= 2):
        raise NqgInputError(f"wavelength {lam}: allowed >= 2 sites (a carrier the lattice resolves)")
    if not (np.isfinite(R) and R > 0 and np.isfinite(width) and width > 0):
        raise NqgInputError(f"lens radius {R} and packet width {width}: allowed > 0")
    k = 2 * np.pi / lam
    travel = 4.0 * R
    w_end = width * np.sqrt(1 + (travel / (k * width**2)) ** 2)
    bend = 2 * depth * np.sqrt(np.pi) * impact * np.exp(-(impact**2)) * 2 * R
    before = margin * w_end
    n0 = int(np.ceil(before + bend + margin * w_end)) + 2
    n1 = int(np.ceil(travel + 2 * margin * width)) + 2
    start = (float(round(before)), float(round(margin * width)))
    centre = (start[0] + impact * R, start[1] + 2.0 * R)
    shape = (n0, n1)
    sites = np.stack(np.meshgrid(np.arange(n0, dtype=float), np.arange(n1, dtype=float), indexing="ij"))
    net = wave_network(lens_speed(R, centre, depth)(sites), kappa=kappa)
    c2 = measure_local_speed(net)
    metric = _padded_metric(c2)
    every = max(1, int(np.ceil(travel / net.dt / samples)))
    steps = int(np.ceil(travel / net.dt / every) * every)
    omega = float(_carrier_frequency(net, jnp.asarray([0.0, k], c2.dtype), jnp.asarray(np.round(start), int)))
    x_prev, x = _launch_packet(net, start, (0.0, k), width, omega=omega)
    observe = jax.tree_util.Partial(_energy_centroid_of, net, jnp.zeros((), c2.dtype))
    (x_prev_end, x_end), cent = evolve(net, x_prev, x, steps, observe=observe, every=every)
    times = net.dt * np.arange(0, steps + 1, every)
    cent0 = np.asarray(_centroid(net, jnp.zeros((), c2.dtype), x_prev, x))
    cent = np.concatenate([cent0[None], np.asarray(cent)])
    outer = float(_outer_energy_fraction(net, x_prev_end, x_end, max(1, round(width))))
    # the central ray (index 0) and, with ``bundle``, the Wigner rays, in one batched solve
    across, along, ang, wts = _wigner_bundle_nodes(width, k, int(bundle)) if bundle else ([], [], [], [])
    starts = cent[0][None] + np.stack([np.r_[0.0, across], np.r_[0.0, along]], 1)
    speeds = np.sqrt(np.asarray(speed_squared_at(metric, jnp.asarray(starts, c2.dtype))))
    angles = np.r_[0.0, ang]
    velocities = speeds[:, None] * np.stack([np.sin(angles), np.cos(angles)], 1)
    paths = geodesic(metric, starts, velocities, times) if bundle else None
    geo = paths[0] if bundle else geodesic(metric, starts[0], velocities[0], times)
    a_packet, a_geo = deflection_angle(cent), deflection_angle(geo)
    extra = {}
    if bundle:
        mean = np.tensordot(wts, paths[1:], axes=1)
        a_bundle = deflection_angle(mean)
        extra = {
            "bundle": mean,
            "deflection_bundle": a_bundle,
            "bundle_vs_geodesic": a_bundle / a_geo - 1,
            "packet_vs_bundle": a_packet / a_bundle - 1,
        }
    interior = (slice(2, -2), slice(2, -2))
    return {
        **extra,
        "radius": R,
        "wavelength": lam,
        "width": width,
        "shape": shape,
        "times": times,
        "packet": cent,
        "geodesic": geo,
        "metric": metric,
        "deflection_packet": a_packet,
        "deflection_geodesic": a_geo,
        "signed_difference": a_packet / a_geo - 1,
        "relative_difference": abs(a_packet / a_geo - 1),
        "lattice_ray_correction": 1 / np.cos(np.pi / lam) ** 2 - 1,
        "edge_energy_fraction": outer,
        "speed_error": float(jnp.max(jnp.abs(c2 - net.speed_squared())[interior])),
    }


def infall_acceleration(
    radius: float = 60.0,
    *,
    depth: float = 0.3,
    mass: float = 0.5,
    width: float = 24.0,
    duration: float = 60.0,
    kappa: float = 0.1,
    offset: float = 1.22,
) -> dict[str, float]:
    """A massive packet released at rest at ``offset * R`` from the lens centre; weak-field acceleration.

    The massive network has the covariant mass term ``kappa c^2(sigma) M^2 x``
    (``d_t^2 x = c^2 (Lap - M^2) x``).
    The centroid is fitted by ``x0 + v0 t + a t^2/2`` over the run; the timelike geodesic from rest is
    fitted the same way; ``-grad Phi = -(1/2) d c^2/dr`` at the start is the Newtonian value.
    """
    R = float(radius)
    n = int(2 * (offset * R + 4 * width))
    centre = (n / 2, n / 2)
    speed = lens_speed(R, centre, depth)
    c = speed(np.stack(np.meshgrid(np.arange(n, dtype=float), np.arange(n, dtype=float), indexing="ij")))
    net = wave_network(c, kappa=kappa, mass=c * mass, shape=(n, n))
    start = (centre[0], centre[1] - offset * R)
    steps = round(duration / net.dt)
    omega = float(_carrier_frequency(net, jnp.zeros(2, c.dtype), jnp.asarray([int(s) for s in start])))
    every = 2
    steps = every * max(1, round(steps / every))
    times, cent = run_packet(net, start, (0.0, 0.0), width, steps, every=every, mass=c * mass, omega=omega)
    metric = _padded_metric(measure_local_speed(net))
    geo = geodesic(metric, cent[0], (0.0, 0.0), times)
    a_packet = 2 * np.polyfit(times, cent[:, 1], 2)[0]
    a_geo = 2 * np.polyfit(times, geo[:, 1], 2)[0]
    a_newton = float(_newton_acceleration(metric, jnp.asarray(cent[0], metric.speed_squared.dtype))[1])
    return {
        "a_packet": float(a_packet),
        "a_geodesic": float(a_geo),
        "a_newton": a_newton,
        "relative_difference": abs(a_packet / a_geo - 1),
        "geodesic_vs_newton": abs(a_geo / a_newton - 1),
    }


__all__ = [
    "OpticalMetric",
    "deflection_angle",
    "geodesic",
    "infall_acceleration",
    "interpolate_periodic",
    "lens_deflection",
    "lens_speed",
    "local_frequency",
    "measure_local_speed",
    "run_packet",
    "speed_squared_at",
]
