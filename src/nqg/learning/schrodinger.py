"""Schrodinger reference solvers: split-operator time evolution and grid eigenvalues.

    i hbar dpsi/dt = -(hbar^2 / 2m) d^2psi/dq^2 + V(q) psi .

* :func:`split_operator`: Strang splitting ``exp(-i V dt/2hbar) exp(-i hbar k^2 dt/2m) exp(-i V dt/2hbar)``
  on a periodic grid (FFT for the kinetic part); unitary, error ``O(dt^2)`` per unit time.
* :func:`grid_eigenvalues`: lowest eigenvalues of ``H`` with

  - ``boundary="dirichlet"``: finite differences on an interval (``psi = 0`` at the ends);
  - ``boundary="periodic"``: a ring of length ``L``, plane-wave (Fourier) kinetic energy,
    ``psi(q + L) = psi(q)``;
  - ``boundary="twisted"``: ``psi(q + L) = exp(i theta) psi(q)``, i.e. wave numbers ``k + theta / L``.

  On the ring the eigenvalue depends on the twist ``theta``; a Madelung fluid with circulation ``Gamma``
  (``m Gamma = hbar theta`` modulo ``2 pi hbar``) is described by the twisted problem, and only when
  ``m Gamma / (2 pi hbar)`` is an integer by the periodic (single-valued) one.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from scipy.linalg import eigh_tridiagonal

from nqg.errors import NqgInputError

BOUNDARIES = ("dirichlet", "periodic", "twisted")


def _check(hbar: float, mass: float) -> None:
    if not (np.isfinite(hbar) and hbar > 0):
        raise NqgInputError(f"hbar must be a positive number, got {hbar}")
    if not (np.isfinite(mass) and mass > 0):
        raise NqgInputError(f"mass must be a positive number, got {mass}")


def wave_numbers(n: int, length: float) -> np.ndarray:
    """``k = 2 pi fftfreq(n, L/n)``."""
    return 2 * np.pi * np.fft.fftfreq(n, length / n)


def split_operator(
    psi0: Any,
    potential_values: Any,
    length: float,
    *,
    hbar: float,
    mass: float = 1.0,
    dt: float,
    steps: int,
    save_every: int = 1,
) -> Any:
    """Evolve ``psi0`` (on ``n`` periodic grid points spanning ``length``) for ``steps`` steps of ``dt``;
    returns ``psi`` at every ``save_every`` steps, shape ``(steps // save_every, n)`` (jitted scan)."""
    _check(hbar, mass)
    if steps < 1 or save_every < 1 or steps % save_every:
        raise NqgInputError(f"steps ({steps}) must be a positive multiple of save_every ({save_every})")
    psi0 = jnp.asarray(psi0, dtype=jnp.result_type(psi0, 1j))
    n = psi0.shape[-1]
    k = jnp.asarray(wave_numbers(n, length), dtype=psi0.real.dtype)
    half_v = jnp.exp(-0.5j * jnp.asarray(potential_values) * dt / hbar).astype(psi0.dtype)
    kinetic = jnp.exp(-1j * hbar * k**2 * dt / (2 * mass)).astype(psi0.dtype)
    return _split_scan(psi0, half_v, kinetic, steps // save_every, save_every)


@partial(jax.jit, static_argnums=(3, 4))
def _split_scan(psi0, half_v, kinetic, n_saves, save_every):
    def step(psi, _):
        psi = half_v * jnp.fft.ifft(kinetic * jnp.fft.fft(half_v * psi))
        return psi, None

    def save(psi, _):
        psi, _ = jax.lax.scan(step, psi, None, length=save_every)
        return psi, psi

    _, out = jax.lax.scan(save, psi0, None, length=n_saves)
    return out


def gaussian_wavepacket(grid: Any, centre: float, width: float, momentum: float = 0.0, hbar: float = 1.0):
    """``psi = (2 pi sigma^2)^{-1/4} exp(-(q - q0)^2 / (4 sigma^2) + i p0 q / hbar)`` (``|psi|^2`` has
    standard deviation ``sigma``)."""
    x = np.asarray(grid, dtype=float)
    return (2 * np.pi * width**2) ** -0.25 * np.exp(
        -((x - centre) ** 2) / (4 * width**2) + 1j * momentum * x / hbar
    )


def grid_eigenvalues(
    potential_values: Any,
    length: float,
    *,
    hbar: float,
    mass: float = 1.0,
    boundary: str = "dirichlet",
    twist: float = 0.0,
    n_levels: int = 10,
    return_states: bool = False,
) -> Any:
    """Lowest ``n_levels`` eigenvalues of ``H`` for ``V`` sampled on ``n`` grid points.

    Dirichlet: the points are the interior points of an interval of length ``length`` (spacing
    ``length / (n + 1)``); periodic/twisted: ``n`` points of a ring of circumference ``length`` with the
    kinetic energy ``hbar^2 (k + twist/length)^2 / 2m`` diagonal in the Fourier basis.
    """
    _check(hbar, mass)
    if boundary not in BOUNDARIES:
        raise NqgInputError(f"unknown boundary {boundary!r}; allowed: {', '.join(BOUNDARIES)}")
    v = np.asarray(potential_values, dtype=float)
    n = v.size
    n_levels = min(int(n_levels), n)
    if boundary == "dirichlet":
        dq = length / (n + 1)
        t = hbar**2 / (2 * mass * dq**2)
        vals, vecs = eigh_tridiagonal(
            2 * t + v, np.full(n - 1, -t), select="i", select_range=(0, n_levels - 1)
        )
    else:
        theta = float(twist) if boundary == "twisted" else 0.0
        k = wave_numbers(n, length) + theta / length
        f = np.fft.fft(np.eye(n), axis=0) / np.sqrt(n)  # unitary DFT matrix
        h = f.conj().T @ np.diag(hbar**2 * k**2 / (2 * mass)) @ f + np.diag(v)
        vals, vecs = np.linalg.eigh(0.5 * (h + h.conj().T))
        vals, vecs = vals[:n_levels], vecs[:, :n_levels]
    return (vals, vecs) if return_states else vals


__all__ = ["BOUNDARIES", "gaussian_wavepacket", "grid_eigenvalues", "split_operator", "wave_numbers"]
