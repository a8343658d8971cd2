"""DMRG speed: the N = 80 open Heisenberg chain at bond dimension D = 128 (target: under 60 s on 2 CPU cores).

Prints wall and CPU time, sweeps, the energy per site against the Bethe-ansatz value of the open XXX
chain, the truncation error and the middle-cut entanglement entropy. Run:

    .venv/bin/python benchmarks/dmrg_speed.py [--sites 80] [--bond-dim 128]

Pin it to two cores to reproduce the target's setting: ``taskset -c 0,1 .venv/bin/python ...``.
"""

from __future__ import annotations

import argparse
import os
import time

from nqg.quantum.lattice import chain
from nqg.quantum.operators import Heisenberg
from nqg.quantum.tensor_networks import dmrg_ground_state, heisenberg_open_chain_energy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=80)
    parser.add_argument("--bond-dim", type=int, default=128)
    args = parser.parse_args()
    n, d = args.sites, args.bond_dim
    exact = heisenberg_open_chain_energy(n) / n
    dmrg_ground_state(Heisenberg(chain(8, pbc=False)), 4)  # warm-up: imports, TeNPy set-up
    cpu0, wall0 = time.process_time(), time.perf_counter()
    r = dmrg_ground_state(Heisenberg(chain(n, pbc=False)), d)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"DMRG open Heisenberg chain N={n}, D={d} (TeNPy two-site, S^z conserved, mixer)")
    print(f"  cores available {cores}, 1-min load average {load:.1f}")
    print(f"  wall time      {wall:8.1f} s   (target < 60 s on 2 idle cores)")
    print(f"  CPU time       {cpu:8.1f} s   (all threads of this process)")
    print(f"  sweeps         {r.sweeps}")
    print(f"  E/N            {r.energy_per_site:.12f}")
    print(f"  Bethe ansatz   {exact:.12f}   difference {r.energy_per_site - exact:.2e} per site")
    print(f"  truncation     {r.truncation_error:.2e}")
    print(f"  S(N/2)         {r.entanglement_entropy_mid:.6f}")
    print(f"  verdict        {'PASS' if wall < 60 else 'FAIL'} (wall < 60 s)")


if __name__ == "__main__":
    main()
