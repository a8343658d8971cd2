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
4. Packets. A wave packet (carrier wavelength ``lambda``) is run through the network; the centroid of
   its energy density is compared with the geodesic from the same start and direction. Geometric optics
   needs ``lambda << R``: at ``R ~ lambda`` diffraction breaks the agreement.

Note on the lattice: rays of the lattice dispersion ``F(c(sigma) s(k))`` (``s^2 = sum 4 sin^2(k_a/2)``)
bend by ``1/cos^2(k/2)`` times the continuum angle for propagation along an axis: +3.9% at
``lambda = 16`` sites, +1.0% at ``lambda = 32``. The time step does not change ray paths.
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
        r2 = (sigma[0] - centre[0]) ** 2 + (sigma[1] - centre[1]) ** 2
        return jnp.sqrt(1.0 - depth * jnp.exp(-r2 / radius**2))

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
    w0sq = local_frequency(network, (0.0, 0.0)) ** 2
    c2 = 0.0
    for axis in range(2):
        # commensurate with the periodic lattice, so that the plane wave has no seam
        n_axis = network.shape[axis]
        kk = 2 * np.pi * np.maximum(np.round(ks * n_axis / (2 * np.pi)), 1) / n_axis
        design = np.stack([kk**2, kk**4], 1)
        pinv = jnp.asarray(np.linalg.pinv(design), network.self_weight.dtype)  # (2, n)
        wsq = jnp.stack([local_frequency(network, (k, 0.0) if axis == 0 else (0.0, k)) ** 2 for k in kk])
        coef = jnp.tensordot(pinv, wsq - w0sq[None], axes=1)
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
    times = jnp.asarray(times, dtype)
    start, velocity = jnp.asarray(start, dtype), jnp.asarray(velocity, dtype)
    start, velocity = jnp.broadcast_arrays(start, velocity)
    y0 = jnp.concatenate([start, velocity], axis=-1)
    if y0.ndim == 1:
        return np.asarray(_geodesic_solve(metric, y0, times, rtol))
    return np.asarray(jax.vmap(lambda y: _geodesic_solve(metric, y, times, rtol))(y0))


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


def _energy_centroid_of(network, m2, x_prev, x):
    return energy_centroid(network.energy_density(x_prev, x, m2))


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
        omega = float(local_frequency(network, wavevector)[site])
    x_prev, x = gaussian_packet(network, start, tuple(wavevector), width, omega=omega)
    m2 = jnp.asarray(mass) ** 2
    # a Partial keeps the network's arrays as traced arguments (not constants folded at compile time)
    observe = jax.tree_util.Partial(_energy_centroid_of, network, m2)
    _, cent = evolve(network, x_prev, x, steps, observe=observe, every=every)
    times = network.dt * np.arange(0, steps + 1, every)
    cent0 = np.asarray(energy_centroid(network.energy_density(x_prev, x, m2)))
    return times, np.concatenate([cent0[None], np.asarray(cent)])


def lens_deflection(
    radius: float,
    wavelength: float,
    *,
    depth: float = 0.3,
    impact: float = 1.22,
    width: float | None = None,
    kappa: float = 0.5,
    every: int = 10,
    bundle: int = 0,
) -> dict[str, Any]:
    """Packet vs null geodesic through the lens ``c^2 = 1 - depth exp(-r^2/R^2)``.

    The packet (carrier along +sigma_1, wavelength ``lambda``, envelope ``width``, default ``1.5 lambda``)
    starts ``2 R`` before the lens centre at impact parameter ``impact * R`` (1.22 R: the inflection of
    the deflection angle, where the centroid of a finite packet follows the central ray to second order)
    and runs until ``2 R`` past it. The metric is measured from the network; the geodesic starts at the
    packet's initial centroid with the carrier direction and ``|v| = c``.
    """
    R, lam = float(radius), float(wavelength)
    width = 1.5 * lam if width is None else float(width)
    half = 2.0 * R + 3 * width
    n0 = int(2 * (impact * R + 3 * width + 0.5 * R))
    n1 = int(2 * half + 2 * R)
    centre = (n0 / 2, n1 / 2)
    shape = (n0, n1)
    net = wave_network(lens_speed(R, centre, depth), kappa=kappa, shape=shape)
    c2 = measure_local_speed(net)
    metric = OpticalMetric(c2)
    k = 2 * np.pi / lam
    start = (centre[0] - impact * R, centre[1] - 2.0 * R)
    travel = 4.0 * R
    steps = int(np.ceil(travel / net.dt / every) * every)
    times, cent = run_packet(net, start, (0.0, k), width, steps, every=every)
    c_start = float(jnp.sqrt(metric.c2(jnp.asarray(cent[0]))))
    geo = geodesic(metric, cent[0], (0.0, c_start), times)
    a_packet, a_geo = deflection_angle(cent), deflection_angle(geo)
    extra = {}
    if bundle:
        # geometric-optics prediction for the centroid: rays from the packet's cross-section, weighted
        # by the initial (Gaussian^2) energy profile, averaged at equal times
        offs = np.linspace(-2.5, 2.5, bundle) * width / np.sqrt(2)
        wts = np.exp(-(offs**2) / width**2)
        starts = cent[0][None] + np.stack([offs, 0 * offs], 1)
        paths = geodesic(metric, starts, np.array([0.0, c_start]), times)
        mean = np.tensordot(wts / wts.sum(), paths, axes=1)
        extra = {"bundle": mean, "deflection_bundle": deflection_angle(mean)}
    return {
        **extra,
        "radius": R,
        "wavelength": lam,
        "width": width,
        "shape": shape,
        "times": times,
        "packet": cent,
        "geodesic": geo,
        "deflection_packet": a_packet,
        "deflection_geodesic": a_geo,
        "relative_difference": abs(a_packet / a_geo - 1),
        "speed_error": float(jnp.max(jnp.abs(c2 - net.speed_squared()))),
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
    sigma = site_coordinates((n, n))
    c = speed(sigma)
    net = wave_network(c, kappa=kappa, mass=c * mass, shape=(n, n))
    start = (centre[0], centre[1] - offset * R)
    steps = round(duration / net.dt)
    omega = float(local_frequency(net, (0.0, 0.0))[tuple(int(s) for s in start)])
    times, cent = run_packet(net, start, (0.0, 0.0), width, steps, every=1, mass=c * mass, omega=omega)
    c2 = measure_local_speed(net)
    metric = OpticalMetric(c2)
    geo = geodesic(metric, cent[0], (0.0, 0.0), times)
    a_packet = 2 * np.polyfit(times, cent[:, 1], 2)[0]
    a_geo = 2 * np.polyfit(times, geo[:, 1], 2)[0]
    a_newton = -float(jax.grad(lambda p: metric.potential(p))(jnp.asarray(cent[0]))[1])
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
]
