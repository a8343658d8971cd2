"""Exact references: sparse Lanczos diagonalization and the free-fermion TFIM chain.

:func:`ground_state` builds the Hamiltonian in the (fixed-S^z) sector with vectorised numpy
(:meth:`SpinOperator.to_sparse`) and calls ``scipy.sparse.linalg.eigsh`` (implicitly restarted
Lanczos) for the lowest eigenvalues. The 24-spin S^z = 0 sector (2,704,156 states) fits in a few GB.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse.linalg as spla

from nqg.errors import NqgInputError
from nqg.quantum.hilbert import SpinHilbert
from nqg.quantum.operators import SpinOperator


@dataclass
class Spectrum:
    """Lowest eigenvalues (ascending) and, if requested, eigenvectors (columns) in ``hilbert``'s basis."""

    energies: np.ndarray
    vectors: np.ndarray | None
    hilbert: SpinHilbert

    @property
    def ground_energy(self) -> float:
        return float(self.energies[0])


def default_sector(operator: SpinOperator) -> SpinHilbert:
    """S^z = 0 (or 1/2 for odd N) if the operator conserves S^z, else the full space."""
    n = operator.n_sites
    if operator.conserves_sz:
        return SpinHilbert(n, total_sz=0.0 if n % 2 == 0 else 0.5)
    return SpinHilbert(n)


def ground_state(
    operator: SpinOperator,
    hilbert: SpinHilbert | None = None,
    *,
    n_levels: int = 1,
    return_vectors: bool = False,
    tol: float = 1e-10,
) -> Spectrum:
    """Lowest ``n_levels`` eigenpairs of ``operator`` in ``hilbert`` (default: S^z = 0 sector if conserved).

    Uses dense ``eigh`` for dimensions <= 512, else Lanczos (``eigsh(which="SA")``).
    """
    hilbert = default_sector(operator) if hilbert is None else hilbert
    if hilbert.n_sites > 32:
        raise NqgInputError(f"exact diagonalization needs N <= 32 spins, got {hilbert.n_sites}")
    mat = operator.to_sparse(hilbert)
    dim = mat.shape[0]
    if n_levels < 1 or n_levels > dim:
        raise NqgInputError(f"n_levels must be in [1, {dim}], got {n_levels}")
    if dim <= 512:
        w, v = np.linalg.eigh(mat.toarray())
        w, v = w[:n_levels], v[:, :n_levels]
    else:
        rng = np.random.default_rng(0)
        v0 = rng.standard_normal(dim)
        w, v = spla.eigsh(mat, k=n_levels, which="SA", tol=tol, v0=v0, ncv=max(20, 2 * n_levels + 1))
        order = np.argsort(w)
        w, v = w[order], v[:, order]
    return Spectrum(np.asarray(w), v if return_vectors else None, hilbert)


# ---------------------------------------------------------------------------- free fermions


def _tfim_sector_energy(n: int, h: float, J: float, periodic_fermions: bool, parity: int) -> float:
    """Lowest energy of ``-J sum zz - h sum x`` (periodic chain) in one fermion-parity sector.

    Jordan-Wigner: parity P = prod_i x_i (fermion parity) = +1 gives antiperiodic fermions (k = pi(2n+1)/N),
    P = -1 periodic ones (k = 2 pi n/N). Paired modes (k, -k) have energy -eps_k/2 each in their
    ground state, eps_k = 2|h - J e^{ik}| (breaking a pair costs eps_k, parity odd). Unpaired modes
    (k = 0 or pi) carry ``(2 n_k - 1)(h - J cos k)``. The sector's parity constraint fixes the
    occupation of the unpaired modes.
    """
    ks = (2 * np.arange(n) + (0 if periodic_fermions else 1)) * np.pi / n
    eps = 2.0 * np.abs(h - J * np.exp(1j * ks))
    unpaired = np.isclose(np.sin(ks), 0.0, atol=1e-12)
    base = -0.5 * eps[~unpaired].sum()
    u_vals = h - J * np.cos(ks[unpaired])  # energy (2n-1) * u
    best = np.inf
    n_u = int(unpaired.sum())
    for occ in range(2**n_u):
        bits = [(occ >> b) & 1 for b in range(n_u)]
        e_u = sum((2 * b - 1) * u for b, u in zip(bits, u_vals, strict=True))
        par = sum(bits) % 2
        want = 0 if parity == 1 else 1
        if par == want:
            best = min(best, base + e_u)
        elif (~unpaired).any():
            best = min(best, base + e_u + eps[~unpaired].min())  # break one pair: flips parity
    return float(best)


def tfim_chain_ground_energy(n_sites: int, h: float, J: float = 1.0) -> float:
    """Exact ground energy (total, not per site) of the periodic TFIM chain by free fermions."""
    if n_sites < 2:
        raise NqgInputError(f"n_sites must be >= 2, got {n_sites}")
    even = _tfim_sector_energy(n_sites, h, J, periodic_fermions=False, parity=1)
    odd = _tfim_sector_energy(n_sites, h, J, periodic_fermions=True, parity=-1)
    return min(even, odd)
