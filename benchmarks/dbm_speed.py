"""DBM sampling speed: the imaginary-time DBM of the TFIM chain (N = 12, M = 20 Trotter steps) sampled by
two-replica block Gibbs, 10^4 samples, against its exact Trotter energy (issue 12: < 60 s on 2 cores).

    .venv/bin/python benchmarks/dbm_speed.py [--sites 12] [--steps 20] [--samples 10000] [--chains 32]

Prints the wall time of two seeds (each call compiles its sampler: the time includes compilation), the
energy with its error, and the exact energy of the same state.
"""

from __future__ import annotations

import argparse
import os
import time

import jax

from nqg.quantum import chain
from nqg.quantum.dbm import exact_trotter_energy, sample_energy, tfim_dbm


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sites", type=int, default=12)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--dtau", type=float, default=0.1)
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--chains", type=int, default=32)
    args = ap.parse_args()

    dbm = tfim_dbm(chain(args.sites), 1.0, args.dtau, args.steps)
    per_chain = -(-args.samples // args.chains)
    mach = dbm.machine
    print(f"DBM: N = {args.sites}, M = {args.steps}, {mach.n_hidden} hidden, {mach.n_deep} deep units")
    print(f"load average (1 min): {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for label, key in (("seed 0 (compile + run)", 0), ("seed 1 (compile + run)", 1)):
        t0 = time.perf_counter()
        mc = sample_energy(dbm, jax.random.key(key), n_chains=args.chains, n_samples=per_chain)
        dt = time.perf_counter() - t0
        print(
            f"{label}: {dt:.1f} s for {args.chains * per_chain} samples; "
            f"E/N = {mc.energy / args.sites:.5f} +- {mc.energy_error / args.sites:.5f} (tau {mc.tau:.1f})"
        )
    t0 = time.perf_counter()
    exact = exact_trotter_energy(dbm)
    took = time.perf_counter() - t0
    print(f"exact energy of the Trotter state: E/N = {exact / args.sites:.5f} ({took:.1f} s)")


if __name__ == "__main__":
    main()
