"""Time of ``nqg networks geodesic-fit`` on 200 trajectories of 50 points (issue 8: < 3 min on 2 CPU cores).

Writes sphere geodesics (arc-length parametrised great circles in (theta, phi), uneven times) to a CSV, runs
the command end to end in a subprocess (CSV parsing, fit, curvature, held-out prediction, figure, metric.npz),
and prints the wall time, the process CPU time, the host's load average (other jobs on a shared machine
inflate the wall time) and the curvature the fit found (exact K = 1).

Usage: ``python benchmarks/geodesic_fit.py [--trajectories 200] [--points 50] [--steps 3000]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trajectories", type=int, default=200)
    parser.add_argument("--points", type=int, default=50)
    parser.add_argument("--steps", type=int, default=3000)
    args = parser.parse_args()

    import jax

    from nqg.networks.geodesic import sphere_geodesics

    traj = sphere_geodesics(jax.random.key(0), args.trajectories, args.points)
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "trajectories.csv"
        lines = ["trajectory,t,x1,x2"]
        for i in range(len(traj)):
            for j in range(int(traj.lengths[i])):
                t, x1, x2 = (float(v) for v in (traj.times[i, j], *traj.positions[i, j]))
                lines.append(f"{i},{t!r},{x1!r},{x2!r}")
        csv.write_text("\n".join(lines) + "\n")
        nqg = Path(sys.executable).with_name("nqg")
        cmd = [
            str(nqg),
            "networks",
            "geodesic-fit",
            str(csv),
            "--out",
            str(Path(tmp) / "out"),
            "--json",
            "--steps",
            str(args.steps),
        ]
        load_before = os.getloadavg()[0]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
        cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            sys.exit(f"geodesic-fit failed ({proc.returncode}): {proc.stderr.strip()}")
        metrics = json.loads(proc.stdout)["metrics"]
    print(f"geodesic-fit, {args.trajectories} trajectories x {args.points} points, {args.steps} steps")
    print(f"  wall time      {wall:8.1f} s   (target < 180 s on 2 cores)")
    print(f"  CPU time       {cpu.ru_utime + cpu.ru_stime:8.1f} s   (user + system, all threads)")
    load_after = os.getloadavg()[0]
    print(f"  load average   {load_before:8.2f} -> {load_after:.2f} on {os.cpu_count()} cores")
    k_mean, k_std = metrics["curvature_mean"]["value"], metrics["curvature_std"]["value"]
    print(f"  K mean +- std  {k_mean:.4f} +- {k_std:.4f}   (exact 1)")
    print(
        f"  held-out RMS   {metrics['heldout_rms']['value']:.2e}   (flat-metric control "
        f"{metrics['heldout_rms_flat_control']['value']:.2e})"
    )


if __name__ == "__main__":
    main()
