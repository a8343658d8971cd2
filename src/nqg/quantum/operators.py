"""Spin Hamiltonians in the "flip" representation used by the local energy.

Every operator is written as ``H = D + sum_c K_c`` where ``D`` is diagonal in the sigma^z basis and
each off-diagonal part ``K_c`` maps a configuration ``s`` to the single configuration ``s^(c)``
obtained by flipping a FIXED set of sites ``F_c`` (``flip_sites[c]``, padded, ``flip_mask[c]``
marks the real entries). An operator therefore provides, for a batch of configurations,

* ``diagonal(s)``            = <s|H|s>,                       shape ``(...,)``
* ``off_diagonal(s)[..., c]`` = <s|H|s^(c)>  (zero when that connection vanishes), ``(..., C)``

and the local energy of a wave function is ``E_loc(s) = diagonal(s) + sum_c off_diagonal(s)_c
psi(s^(c)) / psi(s)``. Because each connected configuration differs from ``s`` on the known
sites ``F_c`` (k = |F_c| of them), a model with a cache (the RBM's ``theta = b + W s``) gives each
ratio in O(k M) instead of re-evaluating the network.

Conventions: ``s_i = +1`` is spin up; Pauli matrices act as ``X|s> = |-s>``, ``Y|s> = i s|-s>``,
``Z|s> = s|s>``; spin operators ``S = sigma / 2``. The methods take an array-namespace argument
``xp`` (``jax.numpy`` by default, ``numpy`` for the exact-diagonalization builder).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp

from nqg.errors import NqgInputError
from nqg.quantum.hilbert import SpinHilbert
from nqg.quantum.lattice import Lattice


class SpinOperator:
    """Base class: an operator on ``n_sites`` spins-1/2 in the flip representation (see module doc)."""

    n_sites: int
    flip_sites: np.ndarray  # (C, k) int
    flip_mask: np.ndarray  # (C, k) bool
    is_complex: bool = False
    conserves_sz: bool = False

    @property
    def n_connections(self) -> int:
        return int(self.flip_sites.shape[0])

    def diagonal(self, s, xp=jnp):
        raise NotImplementedError

    def off_diagonal(self, s, xp=jnp):
        raise NotImplementedError

    # ------------------------------------------------------------------ matrices
    def flip_codes(self) -> np.ndarray:
        """XOR masks (int64) that flip the sites of each connection in the integer basis codes."""
        weights = np.int64(1) << (self.n_sites - 1 - self.flip_sites.astype(np.int64))
        return np.bitwise_or.reduce(np.where(self.flip_mask, weights, 0), axis=1)

    def to_sparse(self, hilbert: SpinHilbert | None = None, chunk: int = 1 << 17) -> sp.csr_matrix:
        """The matrix ``<s|H|s'>`` on the (sector) basis of ``hilbert``, as scipy CSR (vectorised numpy)."""
        hilbert = SpinHilbert(self.n_sites) if hilbert is None else hilbert
        if hilbert.n_sites != self.n_sites:
            raise NqgInputError(f"operator acts on {self.n_sites} sites, Hilbert space has {hilbert.n_sites}")
        basis = hilbert.basis_integers()
        n = basis.size
        flips = self.flip_codes()
        dtype = np.complex128 if self.is_complex else np.float64
        rows, cols, vals = [], [], []
        for start in range(0, n, chunk):
            codes = basis[start : start + chunk]
            s = hilbert.integers_to_states(codes, np.int8).astype(np.float64)
            idx = np.arange(start, start + codes.size, dtype=np.int64)
            d = np.asarray(self.diagonal(s, np), dtype=dtype)
            rows.append(idx)
            cols.append(idx)
            vals.append(d)
            if self.n_connections:
                off = np.asarray(self.off_diagonal(s, np), dtype=dtype)
                nz = off != 0
                new = (codes[:, None] ^ flips[None, :])[nz]
                pos = np.searchsorted(basis, new)
                pos_c = np.minimum(pos, n - 1)
                if not np.all(basis[pos_c] == new):
                    raise NqgInputError("operator connects states outside the chosen S^z sector")
                rows.append(np.broadcast_to(idx[:, None], off.shape)[nz])
                cols.append(pos_c)
                vals.append(off[nz])
        r = np.concatenate(rows).astype(np.int32 if n < 2**31 else np.int64)
        c = np.concatenate(cols).astype(r.dtype)
        v = np.concatenate(vals)
        keep = v != 0
        mat = sp.coo_matrix((v[keep], (r[keep], c[keep])), shape=(n, n)).tocsr()
        mat.sum_duplicates()
        return mat

    def to_dense(self, hilbert: SpinHilbert | None = None) -> np.ndarray:
        return self.to_sparse(hilbert).toarray()


# ---------------------------------------------------------------------------- TFIM


class TransverseFieldIsing(SpinOperator):
    """``H = -J sum_<ij> sz_i sz_j - h sum_i sx_i`` (Pauli matrices) on the bonds of a lattice."""

    def __init__(self, lattice: Lattice, h: float = 1.0, J: float = 1.0):
        self.lattice = lattice
        self.n_sites = lattice.n_sites
        self.h = float(h)
        self.J = float(J)
        self.bonds = np.asarray(lattice.bonds, np.int64)
        self.flip_sites = np.arange(self.n_sites, dtype=np.int64)[:, None]
        self.flip_mask = np.ones((self.n_sites, 1), dtype=bool)

    def diagonal(self, s, xp=jnp):
        return -self.J * xp.sum(s[..., self.bonds[:, 0]] * s[..., self.bonds[:, 1]], axis=-1)

    def off_diagonal(self, s, xp=jnp):
        return xp.full((*s.shape[:-1], self.n_sites), -self.h, dtype=s.dtype)

    def __repr__(self) -> str:
        return f"TransverseFieldIsing({self.lattice.name}, J={self.J:g}, h={self.h:g})"


# ---------------------------------------------------------------------------- Heisenberg / J1-J2


class Heisenberg(SpinOperator):
    """``H = J1 sum_<ij> S_i.S_j + J2 sum_<<ij>> S_i.S_j`` with ``S = sigma / 2``.

    ``S_i.S_j = (1/4) sz_i sz_j + (1/2)(S+_i S-_j + S-_i S+_j)``: diagonal ``J s_i s_j / 4`` and,
    for anti-aligned pairs, the exchange element ``J / 2``. With ``marshall_sign=True`` (bipartite
    lattices) the basis is rotated by ``U = prod_{i in B} sz_i``, which flips the sign of the
    exchange element on every bond joining the two sublattices (``-J/2``): for the unfrustrated
    antiferromagnet the ground state then has positive amplitudes (Marshall's rule). ``J2`` bonds
    on the square lattice and the chain join equal sublattices and keep their sign.
    """

    conserves_sz = True

    def __init__(self, lattice: Lattice, J1: float = 1.0, J2: float = 0.0, marshall_sign: bool = False):
        self.lattice = lattice
        self.n_sites = lattice.n_sites
        self.J1, self.J2 = float(J1), float(J2)
        self.marshall_sign = bool(marshall_sign)
        if marshall_sign and not lattice.is_bipartite:
            raise NqgInputError(f"the Marshall sign rule needs a bipartite lattice; {lattice.name} is not")
        parts = [np.asarray(lattice.bonds, np.int64)]
        couplings = [np.full(len(lattice.bonds), self.J1)]
        if self.J2 != 0.0:
            parts.append(np.asarray(lattice.next_nearest_bonds, np.int64))
            couplings.append(np.full(len(lattice.next_nearest_bonds), self.J2))
        self.bonds = np.concatenate(parts).reshape(-1, 2)
        self.couplings = np.concatenate(couplings)
        sign = np.ones(len(self.bonds))
        if marshall_sign:
            sub = lattice.sublattice
            sign = np.where(sub[self.bonds[:, 0]] != sub[self.bonds[:, 1]], -1.0, 1.0)
        self.exchange = 0.5 * self.couplings * sign
        self.flip_sites = self.bonds
        self.flip_mask = np.ones_like(self.bonds, dtype=bool)

    def diagonal(self, s, xp=jnp):
        zz = s[..., self.bonds[:, 0]] * s[..., self.bonds[:, 1]]
        return xp.sum(0.25 * self.couplings * zz, axis=-1)

    def off_diagonal(self, s, xp=jnp):
        anti = s[..., self.bonds[:, 0]] != s[..., self.bonds[:, 1]]
        return xp.where(anti, self.exchange, 0.0).astype(s.dtype)

    def __repr__(self) -> str:
        extra = f", J2={self.J2:g}" if self.J2 else ""
        return f"Heisenberg({self.lattice.name}, J1={self.J1:g}{extra}, marshall_sign={self.marshall_sign})"


def J1J2(lattice: Lattice, J2: float = 0.2, J1: float = 1.0, marshall_sign: bool = False) -> Heisenberg:
    """The frustrated ``J1-J2`` model (a :class:`Heisenberg` with next-nearest couplings ``J2``)."""
    return Heisenberg(lattice, J1=J1, J2=J2, marshall_sign=marshall_sign)


# ---------------------------------------------------------------------------- Pauli strings

_PAULI = {"I": 0, "X": 1, "Y": 2, "Z": 3}


def _parse_pauli_term(term, n_sites: int) -> np.ndarray:
    """A Pauli string as codes (N,) with I=0, X=1, Y=2, Z=3.

    Accepts ``"XZIY"`` (one letter per site), ``"X0 Z3"`` (letter+site tokens) or a dict ``{site: "X"}``.
    """
    codes = np.zeros(n_sites, np.int64)
    if isinstance(term, dict):
        items = term.items()
    elif (
        isinstance(term, str)
        and re.fullmatch(r"[IXYZ]+", term.strip().upper())
        and len(term.strip()) == n_sites
    ):
        items = enumerate(term.strip().upper())
    elif isinstance(term, str):
        items = []
        for tok in term.replace("*", " ").split():
            m = re.fullmatch(r"([IXYZ])(\d+)", tok.strip().upper())
            if not m:
                raise NqgInputError(
                    f"cannot read Pauli string {term!r}: use 'XZIY' or 'X0 Z3' or {{site: 'X'}}"
                )
            items.append((int(m.group(2)), m.group(1)))
    else:
        raise NqgInputError(f"cannot read Pauli string {term!r}")
    for site, letter in items:
        site = int(site)
        if not 0 <= site < n_sites:
            raise NqgInputError(f"Pauli string {term!r}: site {site} outside [0, {n_sites})")
        letter = str(letter).upper()
        if letter not in _PAULI:
            raise NqgInputError(f"Pauli string {term!r}: unknown letter {letter!r}")
        if codes[site] != 0 and _PAULI[letter] != 0:
            raise NqgInputError(f"Pauli string {term!r}: site {site} appears twice")
        codes[site] = _PAULI[letter]
    return codes


class PauliSum(SpinOperator):
    """``H = sum_p c_p P_p`` with Pauli strings ``P_p`` (products of X, Y, Z on distinct sites).

    Strings with the same X/Y support flip the same sites and are grouped into one connection.
    The row element is ``<s|P|s^(F)> = c prod_{i in Z} s_i prod_{i in Y} (-i s_i)``.
    Coefficients may be complex (then the operator need not be Hermitian; ``is_complex`` is set).
    """

    def __init__(self, n_sites: int, terms: Iterable[tuple[complex, object]]):
        self.n_sites = int(n_sites)
        terms = list(terms)
        if not terms:
            raise NqgInputError("PauliSum needs at least one (coefficient, string) term")
        codes = np.stack([_parse_pauli_term(t, self.n_sites) for _, t in terms])
        coeffs = np.asarray([complex(c) for c, _ in terms])
        n_y = (codes == 2).sum(1)
        coeffs = coeffs * (-1j) ** n_y
        self.is_complex = bool(np.any(np.abs(coeffs.imag) > 0))
        self.codes = codes
        self.sign_mask = (codes == 2) | (codes == 3)  # sites whose s_i multiplies the element
        flips = (codes == 1) | (codes == 2)
        diag = ~flips.any(1)
        self.diag_coeffs = coeffs[diag] if self.is_complex else coeffs[diag].real
        self.diag_mask = self.sign_mask[diag]
        off_idx = np.nonzero(~diag)[0]
        keys: dict[tuple[int, ...], int] = {}
        group = np.zeros(len(off_idx), np.int64)
        for n, p in enumerate(off_idx):
            key = tuple(np.nonzero(flips[p])[0].tolist())
            group[n] = keys.setdefault(key, len(keys))
        k = max((len(key) for key in keys), default=1)
        self.flip_sites = np.zeros((len(keys), k), np.int64)
        self.flip_mask = np.zeros((len(keys), k), bool)
        for key, g in keys.items():
            self.flip_sites[g, : len(key)] = key
            self.flip_mask[g, : len(key)] = True
        self.off_coeffs = coeffs[off_idx] if self.is_complex else coeffs[off_idx].real
        self.off_mask = self.sign_mask[off_idx]
        self.group_matrix = np.zeros((len(keys), len(off_idx)))
        self.group_matrix[group, np.arange(len(off_idx))] = 1.0
        self.conserves_sz = False

    @staticmethod
    def _string_signs(s, mask, xp):
        return xp.prod(xp.where(mask, s[..., None, :], 1.0), axis=-1)

    def diagonal(self, s, xp=jnp):
        if self.diag_coeffs.size == 0:
            return xp.zeros(s.shape[:-1], dtype=complex if self.is_complex else s.dtype)
        return self._string_signs(s, self.diag_mask, xp) @ self.diag_coeffs

    def off_diagonal(self, s, xp=jnp):
        vals = self._string_signs(s, self.off_mask, xp) * self.off_coeffs
        return vals @ self.group_matrix.T

    def __repr__(self) -> str:
        return f"PauliSum(N={self.n_sites}, strings={len(self.codes)}, connections={self.n_connections})"


# ---------------------------------------------------------------------------- reference (tests)


def pauli_matrices() -> dict[str, np.ndarray]:
    """Pauli matrices in the basis (up, down)."""
    return {
        "I": np.eye(2),
        "X": np.array([[0, 1], [1, 0]], complex),
        "Y": np.array([[0, -1j], [1j, 0]]),
        "Z": np.array([[1, 0], [0, -1]], complex),
    }


def dense_from_site_operators(n_sites: int, terms: Sequence[tuple[complex, dict[int, str]]]) -> np.ndarray:
    """``sum_p c_p kron(...)`` built with numpy kron products (independent reference for tests)."""
    paulis = pauli_matrices()
    out = np.zeros((2**n_sites, 2**n_sites), complex)
    for c, ops in terms:
        m = np.ones((1, 1), complex)
        for i in range(n_sites):
            m = np.kron(m, paulis[ops.get(i, "I")])
        out += c * m
    return out
