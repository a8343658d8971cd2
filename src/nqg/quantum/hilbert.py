"""Hilbert space of N spin-1/2, optionally restricted to a sector of fixed total S^z.

Configurations are arrays of +-1 (``s_i = +1``: spin up, sigma^z_i = +1). The computational
basis index of a configuration is the binary number with bit ``b_i = (1 - s_i) / 2`` and site 0
as the most significant bit, so the basis order matches ``kron(op_0, op_1, ..., op_{N-1})`` with
``|up> = (1, 0)``. In a sector, basis states are the sector's integers in increasing order.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

import jax
import jax.numpy as jnp
import numpy as np

from nqg.errors import NqgInputError


def popcount(x: np.ndarray) -> np.ndarray:
    """Number of set bits of non-negative int64 values (vectorised SWAR)."""
    x = x.astype(np.uint64)
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return ((x * np.uint64(0x0101010101010101)) >> np.uint64(56)).astype(np.int64)


@dataclass(frozen=True, eq=False)
class SpinHilbert:
    """N spin-1/2; with ``total_sz`` set, only configurations with ``sum_i s_i / 2 = total_sz``.

    ``n_down = N/2 - total_sz`` spins point down in the sector.
    """

    n_sites: int
    total_sz: float | None = None

    def __post_init__(self) -> None:
        if int(self.n_sites) != self.n_sites or self.n_sites < 1:
            raise NqgInputError(f"n_sites must be a positive integer, got {self.n_sites}")
        if self.total_sz is not None:
            n_down = self.n_sites / 2 - self.total_sz
            if n_down != int(n_down) or not 0 <= n_down <= self.n_sites:
                raise NqgInputError(
                    f"total_sz={self.total_sz} is impossible for {self.n_sites} spins-1/2 "
                    f"(allowed: -N/2..N/2 in steps of 1, here {-self.n_sites / 2}..{self.n_sites / 2})"
                )

    @property
    def n_down(self) -> int | None:
        return None if self.total_sz is None else int(self.n_sites / 2 - self.total_sz)

    @property
    def n_states(self) -> int:
        return 2**self.n_sites if self.total_sz is None else comb(self.n_sites, self.n_down)

    # -------------------------------------------------------------- basis enumeration
    def basis_integers(self) -> np.ndarray:
        """Sorted int64 codes of the basis states (bit ``N-1-i`` set <=> site i is down)."""
        n = self.n_sites
        if n > 40:
            raise NqgInputError(f"basis enumeration needs N <= 40 spins, got {n}")
        if self.total_sz is None:
            return np.arange(2**n, dtype=np.int64)
        k = self.n_down
        # lexicographic generation with Gosper's hack, vectorised in blocks of popcount filtering
        if n <= 26:
            out = []
            block = 1 << 22
            for start in range(0, 2**n, block):
                x = np.arange(start, min(start + block, 2**n), dtype=np.int64)
                out.append(x[popcount(x) == k])
            return np.concatenate(out)
        return _combinations_as_integers(n, k)

    def all_states(self, dtype=np.int8) -> np.ndarray:
        """All basis configurations as a (n_states, N) array of +-1."""
        return self.integers_to_states(self.basis_integers(), dtype)

    def integers_to_states(self, codes: np.ndarray, dtype=np.int8) -> np.ndarray:
        shifts = np.arange(self.n_sites - 1, -1, -1, dtype=np.int64)
        bits = (np.asarray(codes, np.int64)[..., None] >> shifts) & 1
        return (1 - 2 * bits).astype(dtype)

    def states_to_integers(self, states: np.ndarray) -> np.ndarray:
        bits = (1 - np.asarray(states).astype(np.int64)) // 2
        weights = np.int64(1) << np.arange(self.n_sites - 1, -1, -1, dtype=np.int64)
        return bits @ weights

    def states_to_indices(self, states: np.ndarray, basis: np.ndarray | None = None) -> np.ndarray:
        """Positions of configurations in the (sector) basis."""
        codes = self.states_to_integers(states)
        if self.total_sz is None:
            return codes
        basis = self.basis_integers() if basis is None else basis
        return np.searchsorted(basis, codes)

    # -------------------------------------------------------------- random states
    def random_states(self, key: jax.Array, n: int, dtype=jnp.float64) -> jax.Array:
        """``n`` uniformly random configurations (in the sector if one is fixed), shape (n, N)."""
        if self.total_sz is None:
            return jnp.where(jax.random.bernoulli(key, 0.5, (n, self.n_sites)), 1, -1).astype(dtype)
        base = jnp.concatenate([-jnp.ones(self.n_down, dtype), jnp.ones(self.n_sites - self.n_down, dtype)])
        keys = jax.random.split(key, n)
        return jax.vmap(lambda k: jax.random.permutation(k, base))(keys)

    def __repr__(self) -> str:
        sector = "" if self.total_sz is None else f", total_sz={self.total_sz:g}"
        return f"SpinHilbert(N={self.n_sites}{sector})"


def _combinations_as_integers(n: int, k: int) -> np.ndarray:
    """All n-bit integers with exactly k set bits, sorted (recursive numpy construction)."""
    # rows: (prefix code, remaining ones) built bit by bit from the most significant bit
    codes = np.zeros(1, np.int64)
    ones = np.zeros(1, np.int64)
    for pos in range(n):
        remaining = n - pos
        need = k - ones
        can_zero = need <= remaining - 1
        can_one = need >= 1
        z_codes, z_ones = codes[can_zero] << 1, ones[can_zero]
        o_codes, o_ones = (codes[can_one] << 1) | 1, ones[can_one] + 1
        codes = np.concatenate([z_codes, o_codes])
        ones = np.concatenate([z_ones, o_ones])
    return np.sort(codes)
