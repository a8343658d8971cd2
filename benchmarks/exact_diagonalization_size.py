"""How far the exact-diagonalization reference reaches: Heisenberg chains in the S^z = 0 sector.

Prints, per size, the sector dimension, the wall time to build the sparse Hamiltonian and to find
the ground state (Lanczos, scipy), the peak memory of the process, and the energy per site against
the Bethe-ansatz value of the infinite chain (finite-size corrected values converge to it as 1/N^2).
Issue 3 asks for at least 24 spins in the S^z = 0 sector within 24 GB.

Usage: .venv/bin/python benchmarks/exact_diagonalization_size.py [--sizes 16,20,24]
"""

from __future__ import annotations

import argparse
import resource
import time

import nqg  # noqa: F401
from nqg.quantum.exact import default_sector, ground_state
from nqg.quantum.lattice import chain
from nqg.quantum.operators import Heisenberg

BETHE_PER_SITE = 0.25 - 0.6931471805599453  # S units: 1/4 - ln 2 = -0.443147...


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="16,20,24", help="comma-separated chain lengths (even)")
    args = ap.parse_args()
    print(f"{'N':>4} {'dim(Sz=0)':>11} {'build+lanczos s':>16} {'peak GB':>8} {'E0/N (S units)':>16}")
    for n in (int(x) for x in args.sizes.split(",")):
        op = Heisenberg(chain(n), marshall_sign=True)
        hilbert = default_sector(op)
        t0 = time.perf_counter()
        e0 = ground_state(op, hilbert).ground_energy  # builds the sparse matrix, then Lanczos
        elapsed = time.perf_counter() - t0
        peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
        print(f"{n:>4} {hilbert.n_states:>11} {elapsed:>16.1f} {peak_gb:>8.2f} {e0 / n:>16.10f}")
    print(f"Bethe ansatz, infinite chain: {BETHE_PER_SITE:.10f} per site")


if __name__ == "__main__":
    main()
