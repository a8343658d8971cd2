"""The Madelung (hydrodynamic) form of learning dynamics.

With ``psi = sqrt(p) exp(i S / hbar)`` and ``v = S' / m`` the Schrodinger equation is equivalent (for a
single-valued phase) to

    continuity:  dp/dt + d(p v)/dq = 0,
    Euler:       m (dv/dt + v dv/dq) = -d(V + Q)/dq,    Q = -(hbar^2 / 2m) (sqrt p)'' / sqrt p .

Stationary SGD (Fokker-Planck with ``D = T``): the density ``p = exp(-V/T)/Z`` has ``sqrt p = psi_0``, the
zero-energy ground state of ``H_FP = -T d^2 + V'^2/(4T) - V''/2``. Rescaled to the Schrodinger form with
``hbar_eff = 2T`` and ``m = 1`` (``hbar^2 / 2m = 2 T^2``), ``psi_0`` solves
``-(hbar^2/2m) psi'' + U_eff psi = 0``
with ``U_eff = (hbar^2 / 2mT) (V'^2/(4T) - V''/2) = V'^2/2 - T V''``: the stationary Madelung balance is
``Q + U_eff = const`` (:func:`stationary_residual`).

Madelung learners (:func:`madelung_learners`): second-order learners ``q'' = -(V' + Q')/m`` whose ``Q`` is
computed at every instant from the ensemble's own density by a score-matching fit
(:class:`nqg.learning.density.ScoreFit`); integrated with diffrax (Tsit5, adaptive steps).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import diffrax
import equinox as eqx
import jax.numpy as jnp
import numpy as np

from nqg.errors import NqgInputError
from nqg.learning.density import PeriodicScoreFit, ScoreFit


def quantum_potential(p: Any, grid: Any, hbar: float, mass: float = 1.0) -> np.ndarray:
    """``Q = -(hbar^2/2m) (sqrt p)''/sqrt p`` on a uniform grid (second-order finite differences; NaN where
    ``p <= 0``)."""
    p, grid = np.asarray(p, dtype=float), np.asarray(grid, dtype=float)
    dq = grid[1] - grid[0]
    r = np.sqrt(np.maximum(p, 0.0))
    lap = np.full_like(r, np.nan)
    lap[1:-1] = (r[2:] - 2 * r[1:-1] + r[:-2]) / dq**2
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(r > 0, -(hbar**2) / (2 * mass) * lap / r, np.nan)


def effective_schrodinger_potential(
    potential: Any, temperature: float, grid: Any, hbar: float | None = None, mass: float = 1.0
) -> np.ndarray:
    """``U_eff = (hbar^2 / 2mT) (V'^2/(4T) - V''/2)``; with ``hbar = 2T``, ``m = 1``: ``V'^2/2 - T V''``."""
    hbar = 2 * temperature if hbar is None else hbar
    x = jnp.asarray(np.asarray(grid, dtype=float))
    v1 = np.asarray(potential.gradient(x))
    v2 = np.asarray(potential.curvature(x))
    return hbar**2 / (2 * mass * temperature) * (v1**2 / (4 * temperature) - 0.5 * v2)


def stationary_residual(
    p: Any, grid: Any, potential: Any, temperature: float, mass: float = 1.0, p_min: float = 0.02
) -> dict[str, Any]:
    """Relative residual of ``Q + U_eff = const`` for a density ``p`` on a uniform grid, assuming the
    temperature ``T`` (``hbar = 2T``): ``||Q + U_eff - c||_p / ||U_eff - <U_eff>_p||_p`` with the
    ``p``-weighted norm over the points where ``p >= p_min max(p)`` (``c``: the weighted mean)."""
    p, grid = np.asarray(p, dtype=float), np.asarray(grid, dtype=float)
    hbar = 2.0 * temperature
    q_pot = quantum_potential(p, grid, hbar, mass)
    u = effective_schrodinger_potential(potential, temperature, grid, hbar, mass)
    sel = (p >= p_min * np.max(p)) & np.isfinite(q_pot)
    w = p[sel] / p[sel].sum()
    total = q_pot[sel] + u[sel]
    resid = total - np.sum(w * total)
    u_c = u[sel] - np.sum(w * u[sel])
    rel = float(np.sqrt(np.sum(w * resid**2) / np.sum(w * u_c**2)))
    return {"relative": rel, "Q": q_pot, "U_eff": u, "mask": sel, "constant": float(np.sum(w * total))}


def stationary_residual_samples(
    q: Any, potential: Any, temperature: float, mass: float = 1.0, degree: int = 6
) -> float:
    """Relative residual of ``Q + U_eff = const`` from samples ``q`` of the ensemble, assuming ``T``
    (``hbar = 2T``): ``Q`` from a score-matching fit of degree ``degree`` (smooth second derivatives), and the
    ``p``-weighted norms as sample averages: ``sqrt(Var(Q + U_eff) / Var(U_eff))``."""
    x = jnp.ravel(jnp.asarray(q))
    dtype = x.dtype
    return float(
        _residual(potential, x, jnp.asarray(temperature, dtype), jnp.asarray(mass, dtype), int(degree))
    )


@eqx.filter_jit
def _residual(potential, x, temperature, mass, degree):
    hbar = 2.0 * temperature
    fit = ScoreFit.fit(x, degree)
    q_pot = -(hbar**2) / (2 * mass) * fit.sqrt_laplacian_ratio(x)
    u = (
        hbar**2
        / (2 * mass * temperature)
        * (potential.gradient(x) ** 2 / (4 * temperature) - 0.5 * potential.curvature(x))
    )
    return jnp.sqrt(jnp.var(q_pot + u) / jnp.var(u))


def continuity_residual(p0: Any, p1: Any, current: Any, grid: Any, dt: float) -> np.ndarray:
    """``(p1 - p0)/dt + dj/dq`` on a uniform grid (``j`` at the middle time; central differences)."""
    grid = np.asarray(grid, dtype=float)
    return (np.asarray(p1) - np.asarray(p0)) / dt + np.gradient(np.asarray(current, dtype=float), grid)


# ------------------------------------------------------------------------------------------ learners
def madelung_learners(
    potential: Any,
    q0: Any,
    v0: Any,
    times: Any,
    *,
    hbar: float,
    mass: float = 1.0,
    quantum: bool = True,
    degree: int = 4,
    periodic: bool = False,
    observe: Callable[[Any, Any], Any] | None = None,
    rtol: float = 1e-6,
    atol: float = 1e-8,
) -> Any:
    """Second-order learners ``dq/dt = v``, ``m dv/dt = -V'(q) - Q'(q)`` with ``Q`` from the ensemble's own
    density (score-matching fit of degree ``degree``; ``quantum=False``: classical, ``Q = 0``). With
    ``periodic=True`` the variable is an angle and the fit has ``degree`` Fourier harmonics.

    Returns ``observe(q, v)`` at each of ``times`` (default: mean and variance of ``q``), stacked.
    """
    if not (np.isfinite(hbar) and hbar > 0):
        raise NqgInputError(f"hbar must be a positive number, got {hbar}")
    if not (np.isfinite(mass) and mass > 0):
        raise NqgInputError(f"mass must be a positive number, got {mass}")
    times = np.asarray(times, dtype=float)
    if times.ndim != 1 or times.size < 1 or np.any(np.diff(times) <= 0) or times[0] < 0:
        raise NqgInputError("times must be a non-empty increasing sequence of non-negative numbers")
    q0, v0 = jnp.asarray(q0), jnp.asarray(v0)
    obs = observe or _mean_variance
    dtype = q0.dtype
    return _solve(
        potential,
        q0,
        v0,
        jnp.asarray(times, dtype),
        jnp.asarray(hbar, dtype),
        jnp.asarray(mass, dtype),
        jnp.asarray(1.0 if quantum else 0.0, dtype),  # traced: classical and quantum share one compile
        int(degree),
        bool(periodic),
        obs,
        float(rtol),
        float(atol),
    )


def _mean_variance(q: Any, v: Any) -> dict[str, Any]:
    return {"mean": jnp.mean(q), "variance": jnp.var(q)}


@eqx.filter_jit
def _solve(potential, q0, v0, times, hbar, mass, quantum, degree, periodic, obs, rtol, atol):
    model = PeriodicScoreFit if periodic else ScoreFit

    def field(t, y, args):
        q, v = y
        force = -potential.gradient(q)
        # where, not a product: at a classical caustic the fit is degenerate (NaN), and 0 * NaN = NaN
        quantum_force = model.fit(q, degree).quantum_force(q, hbar, mass)
        force = force + jnp.where(quantum > 0, quantum_force, 0.0)
        return v, force / mass

    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(field),
        diffrax.Tsit5(),
        t0=0.0,
        t1=times[-1],
        dt0=1e-3,
        y0=(q0, v0),
        saveat=diffrax.SaveAt(ts=times, fn=lambda t, y, args: obs(*y)),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        max_steps=200_000,
    )
    return sol.ys


def squeezed_width(
    times: Any, sigma0: float, hbar: float, omega: float = 1.0, mass: float = 1.0
) -> np.ndarray:
    """Exact ``sigma^2(t) = sigma0^2 cos^2(w t) + (hbar / (2 m w sigma0))^2 sin^2(w t)`` of a real Gaussian
    in ``V = m w^2 q^2 / 2``."""
    t = np.asarray(times, dtype=float)
    return (
        sigma0**2 * np.cos(omega * t) ** 2
        + (hbar / (2 * mass * omega * sigma0)) ** 2 * np.sin(omega * t) ** 2
    )


# ------------------------------------------------------------------------------------------ flows on a ring
def ring_flow(
    potential: Any, hbar: float, kappa: float, mass: float = 1.0, n_grid: int = 128
) -> dict[str, Any]:
    """Stationary Madelung flow on the ring ``[0, 2 pi)`` with circulation ``Gamma = 2 pi hbar kappa / m``.

    It is the lowest eigenstate ``psi = exp(i kappa q) u(q)`` of the twisted problem (twist ``2 pi kappa``)
    whose periodic part ``u`` does not wind: density ``p = |u|^2``,
    velocity ``v = (hbar/m)(kappa + (arg u)')``,
    energy = its eigenvalue; ``uniformity = min p / mean p`` (0 would be a node).
    """
    from nqg.learning.schrodinger import grid_eigenvalues

    grid = np.arange(n_grid) * (2 * np.pi / n_grid)
    v_pot = np.asarray(potential(jnp.asarray(grid)))
    vals, vecs = grid_eigenvalues(
        v_pot,
        2 * np.pi,
        hbar=hbar,
        mass=mass,
        boundary="twisted",
        twist=2 * np.pi * kappa,
        n_levels=n_grid,
        return_states=True,
    )
    # the flow's state: the lowest level whose u does not wind (the phase of psi winds kappa times). At an
    # integer kappa the pair exp(+-i kappa q) is (nearly) degenerate and a solver may return standing waves:
    # pass kappa slightly off the integer to select the current-carrying state.
    dphi = np.angle(np.roll(vecs, -1, axis=0) / np.where(vecs == 0, 1, vecs))
    winding = np.round(dphi.sum(axis=0) / (2 * np.pi))
    amp = np.abs(vecs) ** 2
    uniformity = amp.min(axis=0) / amp.mean(axis=0)
    if not np.any(winding == 0):
        raise NqgInputError(
            f"no rotating state with kappa = {kappa} on a {n_grid}-point ring; refine the grid"
        )
    k = int(np.flatnonzero(winding == 0)[0])
    u = vecs[:, k]
    dq = grid[1] - grid[0]
    p = np.abs(u) ** 2
    p /= p.sum() * dq
    # (arg u)' by central differences of the wrapped phase increments (periodic, no winding)
    dpu = np.angle(np.roll(u, -1) / u)
    dphase = 0.5 * (dpu + np.roll(dpu, 1)) / dq
    velocity = hbar / mass * (kappa + dphase)
    return {
        "grid": grid,
        "density": p,
        "velocity": velocity,
        "energy": float(vals[k]),
        "uniformity": float(uniformity[k]),
        "circulation": 2 * np.pi * hbar * kappa / mass,
    }


def sample_ring_flow(flow: dict[str, Any], n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` learners (angle, velocity) with angles from the flow's density (inverse CDF, linear in each cell)
    and velocities ``v(q)``."""
    grid, p = flow["grid"], flow["density"]
    dq = grid[1] - grid[0]
    g = np.concatenate([grid, [2 * np.pi]])
    pp = np.concatenate([p, p[:1]])
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (pp[1:] + pp[:-1]) * dq)])
    cdf /= cdf[-1]
    q = np.interp(rng.uniform(size=n), cdf, g)
    v = np.interp(q, g, np.concatenate([flow["velocity"], flow["velocity"][:1]]))
    return q, v


class RingObserver(eqx.Module):
    """Observables of an ensemble of angles: Madelung energy
    ``E = <m v^2/2> + <V> + (hbar^2/8m) <((log p)')^2>`` and circulation ``Gamma = int v dq = <v / p(q)>``
    (``p`` from a periodic score-matching fit with ``harmonics`` Fourier modes)."""

    potential: Any
    hbar: Any
    mass: Any = 1.0
    harmonics: int = eqx.field(static=True, default=4)
    n_grid: int = eqx.field(static=True, default=256)

    def __call__(self, q: Any, v: Any) -> dict[str, Any]:
        fit = PeriodicScoreFit.fit(q, self.harmonics)
        grid = jnp.arange(self.n_grid, dtype=q.dtype) * (2 * jnp.pi / self.n_grid)
        lp = fit.derivatives(grid)[0]
        log_z = jnp.log(jnp.sum(jnp.exp(lp - jnp.max(lp))) * (2 * jnp.pi / self.n_grid)) + jnp.max(lp)
        l0, l1, _, _ = fit.derivatives(q)
        kinetic_potential = jnp.mean(0.5 * self.mass * v**2 + self.potential(q))
        energy = kinetic_potential + self.hbar**2 / (8 * self.mass) * jnp.mean(l1**2)
        return {"energy": energy, "circulation": jnp.mean(v * jnp.exp(log_z - l0))}


def ring_observer(potential: Any, hbar: float, mass: float = 1.0, harmonics: int = 4) -> RingObserver:
    """A :class:`RingObserver` (numbers as arrays: one compilation serves every ``hbar``)."""
    return RingObserver(potential, jnp.asarray(hbar), jnp.asarray(mass), harmonics)


__all__ = [
    "RingObserver",
    "continuity_residual",
    "effective_schrodinger_potential",
    "madelung_learners",
    "quantum_potential",
    "ring_flow",
    "ring_observer",
    "sample_ring_flow",
    "squeezed_width",
    "stationary_residual",
    "stationary_residual_samples",
]
