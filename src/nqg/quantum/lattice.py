"""Lattices: sites, nearest- and next-nearest-neighbour bonds, sublattices, translations.

A :class:`Lattice` is plain data (numpy arrays), shared by operators, samplers and symmetric
models. Sites are numbered row-major: on an ``Lx x Ly`` square lattice, site ``(x, y)`` has
index ``x * Ly + y``. Bonds are unordered pairs stored as ``(i, j)`` with ``i < j``, without
duplicates (a periodic chain of 2 sites has one bond, not two).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from nqg.errors import NqgInputError


def _unique_bonds(pairs: list[tuple[int, int]]) -> np.ndarray:
    seen: set[tuple[int, int]] = set()
    out = []
    for i, j in pairs:
        if i == j:
            continue
        b = (min(i, j), max(i, j))
        if b not in seen:
            seen.add(b)
            out.append(b)
    return np.asarray(out, dtype=np.int64).reshape(-1, 2)


def bipartite_labels(n_sites: int, bonds: np.ndarray) -> np.ndarray | None:
    """Two-colouring of the bond graph (0/1 per site), or ``None`` if the graph is not bipartite."""
    adj: list[list[int]] = [[] for _ in range(n_sites)]
    for i, j in bonds:
        adj[int(i)].append(int(j))
        adj[int(j)].append(int(i))
    label = -np.ones(n_sites, dtype=np.int64)
    for start in range(n_sites):
        if label[start] >= 0:
            continue
        label[start] = 0
        queue = deque([start])
        while queue:
            u = queue.popleft()
            for v in adj[u]:
                if label[v] < 0:
                    label[v] = 1 - label[u]
                    queue.append(v)
                elif label[v] == label[u]:
                    return None
    return label


@dataclass(frozen=True, eq=False)
class Lattice:
    """A finite lattice of ``n_sites`` sites.

    Attributes:
        n_sites: number of sites N.
        bonds: (n_bonds, 2) nearest-neighbour pairs <ij>.
        next_nearest_bonds: (n, 2) next-nearest-neighbour pairs <<ij>> (may be empty).
        sublattice: (N,) 0/1 labels of a bipartition of the nearest-neighbour graph, or ``None``.
        translations: (n_T, N) permutations; ``translations[t, i]`` is the image of site i under
            translation t (row 0 is the identity). Only the identity for open boundaries.
        shape: the extent, e.g. ``(16,)`` or ``(4, 4)``; ``()`` for a user graph.
        pbc: periodic boundary conditions.
        name: a short label, e.g. ``"chain 16 periodic"``.
    """

    n_sites: int
    bonds: np.ndarray
    next_nearest_bonds: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    sublattice: np.ndarray | None = None
    translations: np.ndarray | None = None
    shape: tuple[int, ...] = ()
    pbc: bool = False
    name: str = "graph"

    def __post_init__(self) -> None:
        if self.translations is None:
            object.__setattr__(self, "translations", np.arange(self.n_sites)[None, :])

    @property
    def is_bipartite(self) -> bool:
        return self.sublattice is not None

    @property
    def n_bonds(self) -> int:
        return int(self.bonds.shape[0])

    def __repr__(self) -> str:
        return f"Lattice({self.name}, N={self.n_sites}, bonds={self.n_bonds})"


def chain(length: int, pbc: bool = True) -> Lattice:
    """Chain of ``length`` sites; bonds (i, i+1) and next-nearest (i, i+2), wrapped if ``pbc``."""
    if int(length) != length or length < 2:
        raise NqgInputError(f"chain length must be an integer >= 2, got {length}")
    n = int(length)
    nn = [(i, (i + 1) % n) for i in range(n if pbc else n - 1)]
    nnn = [(i, (i + 2) % n) for i in range(n if pbc else n - 2)] if n > 2 else []
    trans = np.stack([(np.arange(n) + t) % n for t in range(n)]) if pbc else None
    return _from_bonds(n, nn, nnn, trans, (n,), pbc, f"chain {n} {'periodic' if pbc else 'open'}")


def square(lx: int, ly: int | None = None, pbc: bool = True) -> Lattice:
    """``lx x ly`` square lattice; nearest bonds along x and y, next-nearest along both diagonals."""
    ly = lx if ly is None else ly
    if int(lx) != lx or int(ly) != ly or lx < 2 or ly < 2:
        raise NqgInputError(f"square lattice sides must be integers >= 2, got {lx}x{ly}")
    lx, ly = int(lx), int(ly)

    def idx(x: int, y: int) -> int | None:
        if pbc:
            return (x % lx) * ly + (y % ly)
        if 0 <= x < lx and 0 <= y < ly:
            return x * ly + y
        return None

    nn, nnn = [], []
    for x in range(lx):
        for y in range(ly):
            i = idx(x, y)
            for dx, dy, target in ((1, 0, nn), (0, 1, nn), (1, 1, nnn), (1, -1, nnn)):
                j = idx(x + dx, y + dy)
                if j is not None:
                    target.append((i, j))
    n = lx * ly
    trans = None
    if pbc:
        xs, ys = np.divmod(np.arange(n), ly)
        trans = np.stack([((xs + tx) % lx) * ly + (ys + ty) % ly for tx in range(lx) for ty in range(ly)])
    return _from_bonds(n, nn, nnn, trans, (lx, ly), pbc, f"square {lx}x{ly} {'periodic' if pbc else 'open'}")


def graph(n_sites: int, edges, next_nearest_edges=None) -> Lattice:
    """A lattice from a user-given edge list (pairs of site indices in ``[0, n_sites)``)."""
    if int(n_sites) != n_sites or n_sites < 1:
        raise NqgInputError(f"n_sites must be a positive integer, got {n_sites}")
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    nnn = np.asarray(next_nearest_edges if next_nearest_edges is not None else [], np.int64).reshape(-1, 2)
    for arr in (e, nnn):
        if arr.size and (arr.min() < 0 or arr.max() >= n_sites):
            raise NqgInputError(
                f"edge indices must lie in [0, {n_sites}), got range [{arr.min()}, {arr.max()}]"
            )
    pairs = [[tuple(p) for p in a.tolist()] for a in (e, nnn)]
    return _from_bonds(int(n_sites), *pairs, None, (), False, f"graph {n_sites} sites")


def _from_bonds(n: int, nn, nnn, translations, shape, pbc: bool, name: str) -> Lattice:
    """The :class:`Lattice` of ``n`` sites with bond lists ``nn`` and ``nnn`` (pairs, any order)."""
    bonds = _unique_bonds(nn)
    return Lattice(
        n_sites=n,
        bonds=bonds,
        next_nearest_bonds=_unique_bonds(nnn),
        sublattice=bipartite_labels(n, bonds),
        translations=translations,
        shape=shape,
        pbc=pbc,
        name=name,
    )


def parse_lattice(kind: str, size: str, pbc: bool = True) -> Lattice:
    """Build a lattice from CLI-style strings: ``("chain", "16")`` or ``("square", "4x4")``."""
    size = str(size).strip().lower()
    try:
        if kind == "chain":
            if "x" in size:
                raise ValueError
            return chain(int(size), pbc)
        if kind == "square":
            parts = size.split("x")
            if len(parts) == 1:
                return square(int(parts[0]), int(parts[0]), pbc)
            if len(parts) == 2:
                return square(int(parts[0]), int(parts[1]), pbc)
            raise ValueError
    except ValueError:
        want = "an integer >= 2, e.g. 16" if kind == "chain" else "LxL or L, e.g. 4x4"
        raise NqgInputError(f"--size {size!r} is not valid for a {kind} lattice: expected {want}") from None
    raise NqgInputError(f"unknown lattice {kind!r}: expected 'chain' or 'square'")
