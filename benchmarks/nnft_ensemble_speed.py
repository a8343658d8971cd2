"""Gauss-net ensemble speed and peak memory vs the published PyTorch code (keeganstoner/nn-qft).

Workload (arXiv:2008.08601): Gauss-net, d_in = 1, width N = 1000, inputs 0.01 * {-1, -0.6, -0.2, 0.2, 0.6, 1},
all 2-, 4- and 6-point functions (21 + 126 + 462 input multisets) from an ensemble of networks.
Published code: ~143 s and 7.4 GB for 1e5 networks on a 2-core CPU; memory grows with the ensemble (it stores
all network outputs), so 1e6 does not fit in 24 GB. Goal here: 1e6 networks in < 60 s, peak memory < 1 GB,
flat in the number of networks.

Each configuration runs in its own subprocess so that peak resident memory (``ru_maxrss``) is separate.
Usage: ``python benchmarks/nnft_ensemble_speed.py [--nets 100000,1000000] [--dtype float32]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

PUBLISHED = {"networks": 100_000, "seconds": 143.0, "peak_gb": 7.4}

CHILD = r"""
import json, resource, sys, time
import jax, jax.numpy as jnp
import nqg
from nqg.fields.nnft import GaussNet, predict_correlators
from nqg.fields.nnft_ensemble import estimate_correlators, normalized_deviation
n_nets, dtype = int(sys.argv[1]), sys.argv[2]
xs = [0.01 * v for v in (-1.0, -0.6, -0.2, 0.2, 0.6, 1.0)]
arch = GaussNet()
t0 = time.perf_counter()
# warm-up with the same batch plan (batch 2097, 16 batches per call, 32 blocks): compiles the program
estimate_correlators(arch, 1000, xs, min(n_nets, 32 * 2097), jax.random.key(1), dtype=jnp.dtype(dtype))
t1 = time.perf_counter()
est = estimate_correlators(arch, 1000, xs, n_nets, jax.random.key(0), dtype=jnp.dtype(dtype))
t2 = time.perf_counter()
pred = predict_correlators(arch, 1000, xs, (2, 4, 6))
m = {n: normalized_deviation(est, pred, n) for n in (2, 4, 6)}
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"networks": n_nets, "dtype": dtype, "compile_s": t1 - t0, "run_s": t2 - t1,
                  "peak_mb": peak_kb / 1024, "m": {str(k): v for k, v in m.items()}}))
"""


def run_one(n_nets: int, dtype: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(n_nets), dtype], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nets", default="100000,1000000", help="comma-separated ensemble sizes")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = ap.parse_args()
    sizes = [int(s) for s in args.nets.split(",")]
    print(f"Gauss-net N=1000, 6 inputs, G2+G4+G6 (609 correlators), dtype {args.dtype}")
    print(f"{'networks':>10} {'run s':>8} {'warm-up s':>10} {'peak MB':>8} {'us/net':>8}  m2 / m4 / m6")
    rows = []
    for n in sizes:
        r = run_one(n, args.dtype)
        rows.append(r)
        ms = " / ".join(f"{r['m'][k][0]:.4f}+-{r['m'][k][1]:.4f}" for k in ("2", "4", "6"))
        print(
            f"{n:>10d} {r['run_s']:>8.1f} {r['compile_s']:>10.1f} {r['peak_mb']:>8.0f} "
            f"{1e6 * r['run_s'] / n:>8.1f}  {ms}",
            flush=True,
        )
    pub_per_net = PUBLISHED["seconds"] / PUBLISHED["networks"]
    print(
        f"\npublished nn-qft (PyTorch, 2-core CPU): {PUBLISHED['seconds']:.0f} s and "
        f"{PUBLISHED['peak_gb']} GB for {PUBLISHED['networks']:.0e} networks "
        f"({1e6 * pub_per_net:.0f} us/net; memory grows with the ensemble)"
    )
    for r in rows:
        ours = r["run_s"] / r["networks"]
        print(
            f"nqg {r['networks']:.0e} networks: {r['run_s']:.1f} s, peak {r['peak_mb']:.0f} MB -> "
            f"{pub_per_net / ours:.1f}x faster per network, "
            f"{PUBLISHED['peak_gb'] * 1024 / r['peak_mb']:.1f}x less memory "
            f"(goal: 1e6 in < 60 s, < 1 GB)"
        )
    if len(rows) >= 2:
        mem = ", ".join(f"{r['networks']:.0e}: {r['peak_mb']:.0f} MB" for r in rows)
        print(f"memory vs ensemble size: {mem}")


if __name__ == "__main__":
    main()
