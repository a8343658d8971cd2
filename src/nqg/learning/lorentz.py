"""Lorentz symmetry of neuron-state networks, measured: dispersion, isotropy and time dilation.

Dispersion. The response of a network to a plane-wave perturbation ``cos(k.sigma)`` of its state is
computed by forward-mode differentiation (``jax.jvp`` of the jitted scan: the linear response; for the
linear wave networks it equals the evolution of the perturbation). Its projection ``a(t)`` on the plane
wave obeys ``a(t+1) + a(t-1) = 2 cos(omega dt) a(t)`` for an eigenmode; the least-squares (Prony) estimate

.. math:: 2\\cos(\\omega\\,dt) = \\frac{\\sum_t a(t)[a(t+1)+a(t-1)]}{\\sum_t a(t)^2}

gives ``omega(k)`` (physical units, ``dt = sqrt(kappa)``). Lorentz invariance at long wavelength means
``omega^2 = c^2 |k|^2 + m^2`` with one ``c`` in every direction.

Time dilation. A massive network carries a localized oscillating packet (a "particle"). Its internal
clock is the field sampled at the moving energy centroid; along the worldline ``x = v t`` the phase
``k x - omega t`` advances at ``omega - k v = m^2/omega = m/gamma`` (for ``omega^2 = m^2 + c^2 k^2``,
``v = c^2 k/omega``), so the period measured in network time grows as ``gamma = 1/sqrt(1 - v^2/c^2)``.
The negative controls are first-order updates: diffusion (the packet neither moves nor oscillates) and
the first-order (Schrodinger) network ``i d_t z = (m - c^2 Lap/(2m)) z``, whose clock slows by
``1/(1 - v^2/(2c^2))`` (Galilean), not by ``gamma``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nqg.errors import NqgInputError
from nqg.learning.wave_network import (
    LocalRecurrentNetwork,
    energy_centroid,
    evolve,
    site_coordinates,
    wave_network,
)

Array = jax.Array


# ----------------------------------------------------------------------------- dispersion


def lattice_dispersion(wavevector: Any, speed: float, mass: float = 0.0, kappa: float = 0.25) -> np.ndarray:
    """Exact ``omega(k)`` of the leapfrog wave network:
    ``(4/dt^2) sin^2(omega dt/2) = c^2 sum 4 sin^2(k/2) + m^2``.

    ``wavevector``: shape ``(..., D)``. Returns ``omega`` in physical units (``dt = sqrt(kappa)``).
    """
    k = np.asarray(wavevector, float)
    dt = np.sqrt(kappa)
    rhs = speed**2 * np.sum(4 * np.sin(k / 2) ** 2, axis=-1) + mass**2
    return 2 / dt * np.arcsin(np.sqrt(rhs) * dt / 2)


def linear_response(
    network: LocalRecurrentNetwork, tangent: Array, steps: int, observe, *, tangent_prev: Array | None = None
) -> Array:
    """Forward-mode linear response: ``jax.jvp`` of ``x0 -> [observe(x(t))]_{t=1..steps}`` at the zero state.

    The perturbation is ``delta x(0) = tangent`` and ``delta x(-1) = tangent_prev`` (default: the same,
    a wave starting at rest).
    """
    tangent_prev = tangent if tangent_prev is None else tangent_prev
    zero = jnp.zeros_like(tangent)

    def trajectory(xp, x):
        _, obs = evolve(network, xp, x, steps, observe=lambda a, b: observe(b))
        return obs

    _, response = jax.jvp(trajectory, (zero, zero), (tangent_prev, tangent))
    return response


def prony_fit(signal: Array, dt: float) -> tuple[Array, Array]:
    """Least-squares fit of ``a(t+1) = alpha a(t) + beta a(t-1)`` (exact for one, possibly damped, mode).

    The roots ``r exp(+-i omega dt)`` of ``z^2 - alpha z - beta`` give ``omega`` and the damping rate
    ``-ln(r)/dt`` (``r = sqrt(-beta)``; ``beta = -1`` for a conservative leapfrog network).
    """
    a = jnp.asarray(signal)
    X = jnp.stack([a[1:-1], a[:-2]], 1)
    gram = X.T @ X
    alpha, beta = jnp.linalg.solve(gram, X.T @ a[2:])
    r = jnp.sqrt(jnp.maximum(-beta, 1e-300))
    omega = jnp.arccos(jnp.clip(alpha / (2 * r), -1.0, 1.0)) / dt
    return omega, -jnp.log(r) / dt


def prony_frequency(signal: Array, dt: float) -> Array:
    """``omega`` of :func:`prony_fit`."""
    return prony_fit(signal, dt)[0]


def measure_frequency(network: LocalRecurrentNetwork, wavevector: Any, steps: int = 96) -> Array:
    """``omega(k)`` measured from the network's response to a standing plane wave ``cos(k.sigma)``.

    ``k`` must be commensurate with the periodic lattice (``k_a L_a / 2 pi`` an integer) for the
    plane wave to be an eigenmode of a translation-invariant network.
    """
    dtype = network.self_weight.dtype
    sigma = site_coordinates(network.shape, dtype)
    k = jnp.asarray(wavevector, dtype)
    if k.shape != (network.dim,):
        raise NqgInputError(f"wavevector {wavevector} must have {network.dim} components")
    wave = jnp.cos(jnp.tensordot(k, sigma, axes=1))
    norm = jnp.sum(wave**2)
    a = linear_response(network, wave, steps, lambda x: jnp.sum(wave * x) / norm)
    a = jnp.concatenate([jnp.ones((1,), dtype), a])
    return prony_frequency(a, network.dt)


def measure_dispersion(network: LocalRecurrentNetwork, wavevectors: Any, steps: int = 96) -> np.ndarray:
    """:func:`measure_frequency` for each row of ``wavevectors`` (shape ``(n, D)``)."""
    ks = jnp.asarray(wavevectors, network.self_weight.dtype)
    return np.asarray(jax.vmap(lambda k: measure_frequency(network, k, steps))(ks))


def fit_speed(k_abs: Any, omega: Any, *, massive: bool = False) -> dict[str, float]:
    """Fit ``omega^2 = m^2 + c^2 k^2 + b k^4`` (``m = 0`` unless ``massive``); returns ``c``, ``m``, ``b``."""
    k2 = np.asarray(k_abs, float) ** 2
    w2 = np.asarray(omega, float) ** 2
    cols = ([np.ones_like(k2)] if massive else []) + [k2, k2**2]
    coef, *_ = np.linalg.lstsq(np.stack(cols, 1), w2, rcond=None)
    m2 = coef[0] if massive else 0.0
    c2, b = coef[-2], coef[-1]
    return {
        "c": float(np.sqrt(max(c2, 0.0))),
        "m": float(np.sqrt(max(m2, 0.0))),
        "m2": float(m2),
        "b": float(b),
    }


def directional_dispersion(network: LocalRecurrentNetwork, steps: int = 96) -> dict[str, np.ndarray]:
    """``omega`` along the first lattice axis and the (1,1,..) diagonal of a square/cubic torus.

    Axis modes ``k = (2 pi n / L, 0, ..)`` for ``n = 1..L/2``; diagonal modes ``k = (2 pi n / L)(1,..,1)``
    for ``n = 1..L/2``. Returns ``|k|`` and ``omega`` for both, and the phase velocities ``omega/|k|``.
    """
    shape = network.shape
    if len(set(shape)) != 1 or network.dim < 2:
        raise NqgInputError(f"directional dispersion needs a square or cubic lattice, got shape {shape}")
    L = shape[0]
    n = np.arange(1, L // 2 + 1)
    q = 2 * np.pi * n / L
    axis_k = np.zeros((len(n), network.dim))
    axis_k[:, 0] = q
    diag_k = np.repeat(q[:, None], network.dim, axis=1)
    omega = measure_dispersion(network, np.concatenate([axis_k, diag_k]), steps)
    w_axis, w_diag = omega[: len(n)], omega[len(n) :]
    ka, kd = q, q * np.sqrt(network.dim)
    return {"k_axis": ka, "omega_axis": w_axis, "k_diag": kd, "omega_diag": w_diag}


def isotropy_report(
    network: LocalRecurrentNetwork, k_max: float = 0.1 * np.pi, steps: int = 96, *, massive: bool = False
) -> dict[str, Any]:
    """Long-wavelength speeds along the axis and the diagonal and the short-wavelength anisotropy.

    ``c_axis`` and ``c_diag``: fits of ``omega^2 = m^2 + c^2 k^2 + b k^4`` over ``|k| < k_max`` (at least
    three modes each). ``max_dispersion_error``: ``max |omega/(c k) - 1|`` over those modes with the
    axis ``c`` (massless networks). ``anisotropy``: rows ``{k, v_axis, v_diag, ratio - 1}`` comparing the
    diagonal phase velocity with the axis phase velocity interpolated (cubic in ``k``) to the same ``|k|``.
    ``unstable_modes``: modes without a real frequency (a learned network can have growing modes); they are
    left out of every fit and reported.
    """
    from scipy.interpolate import CubicSpline

    d = directional_dispersion(network, steps)
    ka, wa, kd, wd = d["k_axis"], d["omega_axis"], d["k_diag"], d["omega_diag"]
    ok_a, ok_d = np.isfinite(wa), np.isfinite(wd)
    unstable = int((~ok_a).sum() + (~ok_d).sum())
    ka, wa, kd, wd = ka[ok_a], wa[ok_a], kd[ok_d], wd[ok_d]
    sel_a, sel_d = ka < k_max, kd < k_max
    if sel_a.sum() < 3 or sel_d.sum() < 3:
        raise NqgInputError(
            f"lattice of {network.shape[0]} sites has too few (stable) modes below k_max = {k_max:.3g}; "
            "use a larger lattice"
        )
    fa = fit_speed(ka[sel_a], wa[sel_a], massive=massive)
    fd = fit_speed(kd[sel_d], wd[sel_d], massive=massive)
    spline = CubicSpline(ka, wa / ka)
    rows = []
    for k, w in zip(kd, wd, strict=True):
        if k <= ka[-1]:
            va = float(spline(k))
            rows.append(
                {"k": float(k), "v_axis": va, "v_diag": float(w / k), "anisotropy": float(w / k / va - 1)}
            )
    c = fa["c"]
    err = np.concatenate([np.abs(wa[sel_a] / (c * ka[sel_a]) - 1), np.abs(wd[sel_d] / (c * kd[sel_d]) - 1)])
    return {
        "c_axis": fa["c"],
        "c_diag": fd["c"],
        "max_dispersion_error": float(np.max(err)),
        "anisotropy": rows,
        "unstable_modes": unstable,
        "raw": d,
    }


# ----------------------------------------------------------------------------- time dilation


def diffusive_network(speed: float, shape: tuple[int, ...], *, kappa: float = 0.25, mass: float = 0.0):
    """Negative control: the first-order update ``x(t+1) = x + kappa c^2 Lap x - kappa m^2 x`` (diffusion)."""
    dim = len(shape)
    dtype = jnp.zeros(()).dtype
    coupling = jnp.full(shape, kappa * speed**2, dtype)
    self_w = 1.0 - kappa * mass**2 - 2 * dim * coupling
    nb = jnp.broadcast_to(coupling, (dim, 2, *shape))
    return LocalRecurrentNetwork(self_w, jnp.asarray(nb), jnp.zeros(shape, dtype), dt=float(np.sqrt(kappa)))


def schrodinger_network(speed: float, mass: float, shape: tuple[int, ...], *, dt: float):
    """Negative control: first-order complex network for ``i d_t z = (m - (c^2/2m) Lap) z`` (leapfrog).

    ``z(t+1) = z(t-1) - 2 i dt H z(t)``; stable for ``dt (m + 2 D c^2/m) < 1``. Dispersion
    ``omega = m + c^2 k^2/(2m)`` (Galilean: group velocity ``c^2 k/m``).
    """
    dim = len(shape)
    if dt * (mass + 2 * dim * speed**2 / mass) >= 1:
        raise NqgInputError(f"dt = {dt} is unstable for the first-order network (need dt (m + 2Dc^2/m) < 1)")
    hop = speed**2 / (2 * mass)
    cdtype = (jnp.zeros(()) + 0j).dtype
    self_w = jnp.full(shape, -2j * dt * (mass + 2 * dim * hop), cdtype)
    nb = jnp.full((dim, 2, *shape), 2j * dt * hop, cdtype)
    return LocalRecurrentNetwork(self_w, nb, jnp.ones(shape, cdtype), dt=float(dt))


def _interp_1d(field: Array, position: Array) -> Array:
    """Linear interpolation of a 1D field at a real position."""
    i0 = jnp.floor(position).astype(int)
    f = position - i0
    return (1 - f) * field[i0] + f * field[i0 + 1]


def _clock_reading(network, mass2, density_is_intensity, x_prev, x):
    """Energy (or intensity) centroid of a 1D state and the field interpolated there."""
    dens = jnp.abs(x) ** 2 if density_is_intensity else network.energy_density(x_prev, x, mass2)
    pos = energy_centroid(dens)[0]
    return pos, _interp_1d(x, pos)


def _zero_crossing_period(t: np.ndarray, s: np.ndarray) -> float:
    """Period from a linear fit of the (interpolated) zero-crossing times: 2 x spacing. inf: < 3 crossings."""
    idx = np.nonzero(np.sign(s[:-1]) * np.sign(s[1:]) < 0)[0]
    if len(idx) < 3:
        return float("inf")
    tc = t[idx] - s[idx] * (t[idx + 1] - t[idx]) / (s[idx + 1] - s[idx])
    slope = np.polyfit(np.arange(len(tc)), tc, 1)[0]
    return float(2 * slope)


def clock_of_packet(
    network: LocalRecurrentNetwork,
    *,
    wavenumber: float,
    omega: float,
    width: float,
    start: float,
    duration: float,
    mass: float,
    complex_field: bool = False,
) -> dict[str, float]:
    """Run a 1D packet and read its clock and its speed.

    The packet ``exp(-(s-X)^2/(2 width^2)) cos(k (s-X) - omega t)`` (or ``exp(i(...))`` for a complex
    network) starts at ``start``. Measured: the centroid velocity ``v`` (linear fit of the energy centroid,
    ``|z|^2`` centroid for complex/first-order networks) and the clock period: the field at the centroid,
    period from its zero crossings (real) or from its phase slope (complex). ``inf``: the clock never ticks.
    """
    if network.dim != 1:
        raise NqgInputError("the clock measurement runs on a 1D network")
    steps = round(duration / network.dt)
    shape = network.shape
    dtype = network.self_weight.dtype
    s = site_coordinates(shape, jnp.zeros(()).dtype)[0]
    if complex_field:
        hop = float(jnp.real(network.neighbour_weight[0, 0, 0] / (2j * network.dt)))
        vg = 2 * hop * wavenumber
    else:
        vg = 0.0 if omega == 0 else float(jnp.mean(network.speed_squared())) * wavenumber / omega
    density_is_intensity = complex_field or bool(np.all(np.asarray(network.memory_weight) == 0))

    def packet(t):
        X = start + vg * t
        env = jnp.exp(-((s - X) ** 2) / (2 * width**2))
        phase = wavenumber * (s - start) - omega * t
        return (env * jnp.exp(1j * phase)).astype(dtype) if complex_field else env * jnp.cos(phase)

    x_prev, x = packet(-network.dt), packet(0.0)

    observe = jax.tree_util.Partial(_clock_reading, network, jnp.asarray(mass**2), density_is_intensity)
    _, (pos, val) = evolve(network, x_prev, x, steps, observe=observe)
    t = network.dt * np.arange(1, steps + 1)
    pos, val = np.asarray(pos), np.asarray(val)
    v = float(np.polyfit(t, pos, 1)[0])
    if complex_field:
        phase = np.unwrap(np.angle(val))
        rate = -np.polyfit(t, phase, 1)[0]
        period = float(2 * np.pi / rate) if rate > 0 else float("inf")
    else:
        period = _zero_crossing_period(t, np.real(val))
    return {"v": v, "period": period, "t": t, "centroid": pos, "clock": np.real(val)}


def time_dilation(
    velocities: Any,
    *,
    speed: float = 1.0,
    mass: float = 0.1,
    kappa: float = 0.25,
    sites: int = 2048,
    width: float = 150.0,
    duration: float = 300.0,
    network: LocalRecurrentNetwork | None = None,
) -> list[dict[str, float]]:
    """Clock period of packets boosted to each ``v / c`` in ``velocities`` in the massive wave network.

    The carrier ``k = gamma m v / c^2`` and ``omega = gamma m`` (continuum ``c``, ``m``). Rows: target
    ``v/c``, measured ``v/c``, period, ``T(v)/T(0)``, ``gamma`` of the measured ``v`` and the relative
    deviation. ``network``: a 1D network to measure instead (its mean ``c^2`` from the weights).
    """
    if not (speed > 0 and mass > 0):
        raise NqgInputError(f"time dilation needs c > 0 and m > 0, got c = {speed}, m = {mass}")
    net = network if network is not None else wave_network(speed, kappa=kappa, mass=mass, shape=(sites,))
    rows, t0 = [], None
    for beta in velocities:
        beta = float(beta)
        if not 0 <= beta < 1:
            raise NqgInputError(f"velocity {beta} must be in [0, 1) in units of c")
        gamma = 1 / np.sqrt(1 - beta**2)
        k, omega = gamma * mass * beta / speed, gamma * mass
        r = clock_of_packet(
            net,
            wavenumber=k,
            omega=omega,
            width=width,
            start=0.3 * net.shape[0],
            duration=duration,
            mass=mass,
        )
        if t0 is None:
            t0 = r["period"]
        beta_m = r["v"] / speed
        gamma_m = 1 / np.sqrt(1 - beta_m**2) if abs(beta_m) < 1 else float("inf")
        ratio = r["period"] / t0
        rows.append(
            {
                "v_target": beta,
                "v_measured": beta_m,
                "period": r["period"],
                "period_ratio": ratio,
                "gamma": gamma_m,
                "deviation": float(ratio / gamma_m - 1) if np.isfinite(ratio) else float("inf"),
            }
        )
    return rows


def control_time_dilation(
    velocities: Any,
    *,
    kind: str,
    speed: float = 1.0,
    mass: float = 0.1,
    kappa: float = 0.25,
    sites: int = 2048,
    width: float = 150.0,
    duration: float = 300.0,
    dt: float = 0.025,
) -> list[dict[str, float]]:
    """The same protocol on a first-order network: ``kind`` = ``"diffusive"`` or ``"schrodinger"``.

    Rows as in :func:`time_dilation`, plus ``galilean = 1/(1 - v^2/(2c^2))`` (the first-order
    network's own law) and the intended boost. The carrier is chosen so that the packet would move at
    ``v`` under that network's group velocity (diffusive: the relativistic carrier; it does not move).
    """
    if kind == "diffusive":
        net = diffusive_network(speed, (sites,), kappa=kappa, mass=0.0)
    elif kind == "schrodinger":
        net = schrodinger_network(speed, mass, (sites,), dt=dt)
    else:
        raise NqgInputError(f"unknown control {kind!r}; allowed: diffusive, schrodinger")
    rows, t0 = [], None
    for beta in velocities:
        beta = float(beta)
        gamma = 1 / np.sqrt(1 - beta**2)
        if kind == "schrodinger":
            k = mass * beta / speed
            omega = mass + speed**2 * k**2 / (2 * mass)
        else:
            k, omega = gamma * mass * beta / speed, gamma * mass
        r = clock_of_packet(
            net,
            wavenumber=k,
            omega=omega,
            width=width,
            start=0.3 * sites,
            duration=duration,
            mass=mass,
            complex_field=(kind == "schrodinger"),
        )
        if t0 is None:
            t0 = r["period"]
        beta_m = r["v"] / speed
        ratio = r["period"] / t0 if np.isfinite(r["period"]) and np.isfinite(t0) else float("inf")
        rows.append(
            {
                "v_target": beta,
                "v_measured": beta_m,
                "period": r["period"],
                "period_ratio": ratio,
                "gamma": 1 / np.sqrt(1 - beta**2),
                "galilean": 1 / (1 - beta**2 / 2),
                "deviation": float(ratio * np.sqrt(1 - beta**2) - 1) if np.isfinite(ratio) else float("inf"),
            }
        )
    return rows


__all__ = [
    "clock_of_packet",
    "control_time_dilation",
    "diffusive_network",
    "directional_dispersion",
    "fit_speed",
    "isotropy_report",
    "lattice_dispersion",
    "linear_response",
    "measure_dispersion",
    "measure_frequency",
    "prony_frequency",
    "schrodinger_network",
    "time_dilation",
]
