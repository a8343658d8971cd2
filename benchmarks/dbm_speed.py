"""DBM sampling speed (issue 12: N = 12, M = 20 Trotter steps, 10^4 samples in < 60 s on 2 cores), for both
machines on the periodic chain:

* the TFIM DBM (h = 1) sampled by two-replica block Gibbs;
* the Heisenberg DBM (Marshall-rotated, complex constraint units) sampled by two-replica loop moves
  (:func:`nqg.quantum.dbm.sample_heisenberg_energy`, loop estimator of the energy).

    .venv/bin/python benchmarks/dbm_speed.py [--sites 12] [--steps 20] [--samples 10000] [--chains 32]
                                             [--only tfim|heisenberg]

Prints the wall time of two seeds each (each call compiles its sampler: the time includes compilation),
the energy with its error, the exact energy of the same Trotter state, and the load of the machine.
"""

from __future__ import annotations

import argparse
import os
import time

import jax

from nqg.quantum import chain
from nqg.quantum.dbm import exact_trotter_energy, heisenberg_dbm, sample_energy, tfim_dbm


def bench(name: str, dbm, args) -> None:
    per_chain = -(-args.samples // args.chains)
    mach = dbm.machine
    print(
        f"{name} DBM: N = {args.sites}, M = {args.steps}, dtau = {args.dtau}, {mach.n_hidden} hidden, "
        f"{mach.n_deep} deep units"
    )
    print(f"  load average (1 min): {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for label, key in (("seed 0 (compile + run)", 0), ("seed 1 (compile + run)", 1)):
        t0 = time.perf_counter()
        mc = sample_energy(dbm, jax.random.key(key), n_chains=args.chains, n_samples=per_chain)
        dt = time.perf_counter() - t0
        print(
            f"  {label}: {dt:.1f} s for {args.chains * per_chain} samples; "
            f"E/N = {mc.energy / args.sites:.5f} +- {mc.energy_error / args.sites:.5f} (tau {mc.tau:.1f})"
        )
    t0 = time.perf_counter()
    exact = exact_trotter_energy(dbm)
    took = time.perf_counter() - t0
    print(f"  exact energy of the Trotter state: E/N = {exact / args.sites:.5f} ({took:.1f} s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sites", type=int, default=12)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--dtau", type=float, default=0.1)
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--chains", type=int, default=32)
    ap.add_argument("--only", choices=("tfim", "heisenberg"), default=None)
    args = ap.parse_args()

    if args.only in (None, "tfim"):
        bench("TFIM (block Gibbs)", tfim_dbm(chain(args.sites), 1.0, args.dtau, args.steps), args)
    if args.only in (None, "heisenberg"):
        bench("Heisenberg (loop moves)", heisenberg_dbm(chain(args.sites), args.dtau, args.steps), args)


if __name__ == "__main__":
    main()
