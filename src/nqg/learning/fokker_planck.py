"""Fokker-Planck reference solutions for the continuum limit of SGD (``D = T``, mobility 1).

    dp/dt = d/dq (V'(q) p) + T d^2p/dq^2 .

With ``p = psi_0 phi``, ``psi_0 = exp(-V / 2T)``, the generator becomes (minus) the Schrodinger operator

    H = -T d^2/dq^2 + U(q),    U = V'^2 / (4T) - V'' / 2,

whose ground state is ``psi_0`` with eigenvalue 0 and whose first nonzero eigenvalue ``lambda_1`` is the
slowest relaxation rate (in a double well: the Kramers rate of hopping, ``lambda_1 = 2 k``). Here ``H`` is
diagonalised on a uniform grid with Dirichlet ends (second-order finite differences, tridiagonal).

Entropy balance: ``S = -int p log p`` obeys ``dS/dt = T I_F - <V''>`` with the Fisher information
``I_F = int p ((log p)')^2`` (integrate ``-int (dp/dt) log p`` by parts twice): diffusion produces entropy,
the drift (learning) destroys it; in equilibrium ``T I_F = <V'^2>/T = <V''>``.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
from scipy.linalg import eigh_tridiagonal

from nqg.errors import NqgInputError


def _np(fn: Any, x: np.ndarray) -> np.ndarray:
    return np.asarray(fn(jnp.asarray(x)), dtype=float)


def effective_potential(potential: Any, temperature: float, q: Any) -> np.ndarray:
    """``U = V'^2/(4T) - V''/2`` on the points ``q``."""
    q = np.asarray(q, dtype=float)
    return _np(potential.gradient, q) ** 2 / (4 * temperature) - 0.5 * _np(potential.curvature, q)


class FokkerPlanckSpectrum:
    """Lowest eigenpairs of ``H = -T d^2/dq^2 + U`` on ``[-half_width, half_width]`` (``n`` interior points).

    ``rates[k]`` are the relaxation rates ``lambda_k`` (``rates[0] ~ 0``); ``modes[:, k]`` the orthonormal
    eigenfunctions ``phi_k`` (``sum phi_k^2 dq = 1``).
    """

    def __init__(
        self, potential: Any, temperature: float, half_width: float = 3.0, n: int = 3000, n_modes: int = 40
    ) -> None:
        if not temperature > 0:
            raise NqgInputError(f"temperature must be positive, got {temperature}")
        if n < 10:
            raise NqgInputError(f"the grid needs at least 10 points, got {n}")
        self.temperature = float(temperature)
        self.grid = np.linspace(-half_width, half_width, n + 2)[1:-1]
        self.dq = float(self.grid[1] - self.grid[0])
        t, dq = self.temperature, self.dq
        diag = 2 * t / dq**2 + effective_potential(potential, t, self.grid)
        off = np.full(n - 1, -t / dq**2)
        k = min(n_modes, n) - 1
        self.rates, modes = eigh_tridiagonal(diag, off, select="i", select_range=(0, k))
        self.modes = modes / np.sqrt(dq)
        # fix the sign of the ground state: positive
        self.modes[:, 0] *= np.sign(self.modes[np.argmax(np.abs(self.modes[:, 0])), 0])
        self.potential = potential

    @property
    def gap(self) -> float:
        """``lambda_1``: the slowest relaxation rate."""
        return float(self.rates[1] - self.rates[0])

    def boltzmann(self) -> np.ndarray:
        """``p_eq = psi_0^2`` on the grid (normalised): equals ``exp(-V/T)/Z`` up to discretisation."""
        p = self.modes[:, 0] ** 2
        return p / (p.sum() * self.dq)

    def evolve(self, p0: Any, times: Any) -> np.ndarray:
        """``p(q, t) = psi_0 sum_k c_k exp(-lambda_k t) phi_k`` with ``c_k = int phi_k p0 / psi_0``;
        returns ``(len(times), n)``. ``p0`` is given on :attr:`grid`."""
        psi0 = self.modes[:, 0]
        p0 = np.asarray(p0, dtype=float)
        ratio = np.where(psi0 > 1e-300, p0 / np.maximum(psi0, 1e-300), 0.0)
        c = self.modes.T @ ratio * self.dq
        t = np.asarray(times, dtype=float)[:, None]
        return psi0[None, :] * (
            (c[None, :] * np.exp(-(self.rates[None, :] - self.rates[0]) * t)) @ self.modes.T
        )


def boltzmann_density(potential: Any, temperature: float, grid: Any) -> np.ndarray:
    """``exp(-V/T) / Z`` on a uniform grid (trapezoid normalisation)."""
    grid = np.asarray(grid, dtype=float)
    v = _np(potential, grid)
    w = np.exp(-(v - v.min()) / temperature)
    return w / np.trapezoid(w, grid)


def sample_boltzmann(
    potential: Any,
    temperature: float,
    n: int,
    rng: np.random.Generator,
    half_width: float = 4.0,
    n_grid: int = 20001,
) -> np.ndarray:
    """``n`` samples of ``exp(-V/T)/Z`` by inverting its cumulative distribution on a fine grid."""
    grid = np.linspace(-half_width, half_width, n_grid)
    p = boltzmann_density(potential, temperature, grid)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (p[1:] + p[:-1]) * np.diff(grid))])
    cdf /= cdf[-1]
    return np.interp(rng.uniform(size=n), cdf, grid)


def entropy_rate_terms(p: Any, grid: Any, potential: Any, temperature: float) -> dict[str, float]:
    """``S``, ``T I_F`` and ``<V''>`` of a density given on a uniform grid (finite differences)."""
    p, grid = np.asarray(p, dtype=float), np.asarray(grid, dtype=float)
    dq = grid[1] - grid[0]
    safe = np.maximum(p, 1e-300)
    dp = np.gradient(p, dq)
    return {
        "entropy": float(-np.trapezoid(np.where(p > 0, p * np.log(safe), 0.0), grid)),
        "T_fisher": float(temperature * np.trapezoid(np.where(p > 1e-250, dp**2 / safe, 0.0), grid)),
        "mean_curvature": float(np.trapezoid(p * _np(potential.curvature, grid), grid)),
    }


def relaxation_rate(times: Any, signal: Any, t_min: float, t_max: float, floor: float = 0.0) -> float:
    """Rate ``lambda`` of ``signal ~ A exp(-lambda t)`` by a least-squares fit of ``log signal`` on
    ``t_min <= t <= t_max`` (points where the signal exceeds ``floor``, e.g. a few standard errors)."""
    t, s = np.asarray(times, dtype=float), np.asarray(signal, dtype=float)
    sel = (t >= t_min) & (t <= t_max) & (s > max(floor, 0.0))
    if sel.sum() < 3:
        raise NqgInputError("relaxation_rate needs at least 3 positive points in the fit window")
    slope, _ = np.polyfit(t[sel], np.log(s[sel]), 1)
    return float(-slope)


__all__ = [
    "FokkerPlanckSpectrum",
    "boltzmann_density",
    "effective_potential",
    "entropy_rate_terms",
    "relaxation_rate",
    "sample_boltzmann",
]
