#!/usr/bin/env python
"""GPU-sized workloads of issue #13 §3, timed in one run: VMC, network ensembles, path integrals, holography.

Run through ``benchmarks/gpu.sh`` (one GPU call, < 8 minutes on an H100/H200) or, small, on any CPU with
``--cpu`` (kept working by ``tests/core/test_benchmark_gpu_script.py`` under ``-m slow``). Every figure
is printed with the device it ran on; a section that fails prints ``FAILED`` and the rest go on; sections
are skipped once ``--budget-s`` seconds have passed.

1. **VMC** (the problem of ``benchmarks/vmc_vs_netket.py``: Heisenberg L x L, Marshall sign, S^z = 0, RBM at
   ``alpha``, exchange moves, SR + SGD): for every lattice and sample count, the median seconds per
   iteration after ``--warmup`` iterations and the samples per second. GPU sizes: L = 10, 16, 20 at alpha 4
   with 2^12, 2^14, 2^16 samples, 16 samples per chain (n_samples / 16 chains: a GPU wants many short
   chains), the matrix-free SR solver (``SR(solver="onthefly")``: 2^16 samples and 6.4e5 parameters fit
   in memory). With ``--cpu-baseline``, the same VMC problems run again on 2 CPU cores (``taskset -c 0,1``,
   ``JAX_PLATFORMS=cpu``) in the same invocation, for the GPU / 2-core ratio of the issue's goal (>= 10x).
2. **NetKet** on the same problems as it is meant to run on a GPU (``to_jax_operator()``, ``QGTOnTheFly``),
   when an interpreter with NetKet is given (``--netket-python``) or ``benchmarks/.venv-netket`` exists;
   otherwise the script says it was not run.
3. **Network ensembles**: ``nqg fields correlators`` (erf net, width 1000, G2 and G4 at 3 inputs) for 10^7
   and 10^8 networks (CPU: 10^4, 10^5): wall seconds and networks per second.
4. **Path-integral chains**: ``nqg fields path-integral`` (anharmonic g = 1, ReLU, N = 64) with many chains.
5. **Holographic ensemble**: ``nqg gravity fit --quick --seeds 100`` (CPU: 4 seeds).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _vmc_module():
    spec = importlib.util.spec_from_file_location("vmc_vs_netket", HERE / "vmc_vs_netket.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sizes(args) -> dict:
    if args.baseline:  # GPU problems on 2 CPU cores: the two the goals name
        return {"vmc": [(10, 2**12), (16, 2**14)], "alpha": 4, "samples_per_chain": 16}
    if args.cpu:
        return {
            "vmc": [(4, 256), (6, 512)],
            "alpha": 1,
            "samples_per_chain": 64,
            "nets": [10_000, 100_000],
            "pi_chains": 8,
            "pi_samples": 4_000,
            "seeds": 4,
        }
    return {
        "vmc": [(L, n) for L in (10, 16, 20) for n in (2**12, 2**14, 2**16)],
        "alpha": 4,
        "samples_per_chain": 16,
        "nets": [10_000_000, 100_000_000],
        "pi_chains": 1024,
        "pi_samples": 1_048_576,
        "seeds": 100,
    }


def _device() -> str:
    import jax

    d = jax.devices()[0]
    return f"{d.platform}:{getattr(d, 'device_kind', '?')} x{len(jax.devices())}"


def vmc_section(args, sizes, out: list) -> None:
    vm = _vmc_module()
    for L, n_samples in sizes["vmc"]:
        if time.perf_counter() - args.t0 > args.budget_s:
            print(f"  VMC {L}x{L} {n_samples}: skipped (budget)")
            continue
        chains = max(1, n_samples // sizes["samples_per_chain"])
        cfg = dict(
            vm.PROBLEM,
            L=L,
            alpha=sizes["alpha"],
            n_samples=n_samples,
            n_chains=chains,
            sr_solver="onthefly",
            iterations=args.iterations,
            warmup=args.warmup,
            seed=0,
            eval_samples=n_samples,
            netket_operator="jax",
            netket_python=args.netket_python,
            netket_chunk_size=args.netket_chunk_size,
        )
        try:
            res = vm.run_nqg(cfg)
            row = {"section": "vmc", "L": L, "samples": n_samples, "chains": chains, "alpha": sizes["alpha"]}
            row.update(code="nqg", device=_device(), s_per_iter=res["median_s"])
            row["samples_per_s"] = n_samples / res["median_s"]
            out.append(row)
            print(
                f"  nqg    VMC {L:>2}x{L:<2} alpha {sizes['alpha']} {n_samples:>6} samples"
                f" {chains:>5} chains: "
                f"{res['median_s']:.4f} s/iteration, {row['samples_per_s']:.3g} samples/s [{row['device']}]",
                flush=True,
            )
        except Exception as exc:  # a benchmark reports and goes on
            print(f"  nqg    VMC {L}x{L} {n_samples}: FAILED {type(exc).__name__}: {exc}"[:400], flush=True)
        if args.netket:
            try:
                res = vm.run_netket_subprocess(cfg)
                out.append({"section": "vmc", "L": L, "samples": n_samples, "code": "netket", **res})
                print(
                    f"  NetKet VMC {L:>2}x{L:<2} alpha {sizes['alpha']} {n_samples:>6} samples: "
                    f"{res['median_s']:.4f} s/iteration [{res.get('device')}; {res['driver']}]",
                    flush=True,
                )
            except Exception as exc:
                print(
                    f"  NetKet VMC {L}x{L} {n_samples}: FAILED {type(exc).__name__}: {exc}"[:400], flush=True
                )


def _nqg_command(args, name: str, argv: list[str], out: list, items: int | None, unit: str) -> None:
    if time.perf_counter() - args.t0 > args.budget_s:
        print(f"  {name}: skipped (budget)")
        return
    cmd = [sys.executable, "-c", "from nqg.cli import main; main()", *argv, "--json"]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        print(f"  {name}: FAILED (exit {proc.returncode}) {proc.stderr.strip()[-300:]}", flush=True)
        return
    data = json.loads(proc.stdout)
    row = {"section": name, "wall_s": wall, "elapsed_s": data.get("elapsed_s"), "argv": argv}
    rate = f", {items / wall:.3g} {unit}/s" if items else ""
    out.append(row)
    print(f"  {name}: {wall:.1f} s wall (run {data.get('elapsed_s', float('nan')):.1f} s){rate}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--cpu", action="store_true", help="small sizes on the CPU (keeps the script working)"
    )
    parser.add_argument("--iterations", type=int, default=6, help="VMC iterations per problem")
    parser.add_argument("--warmup", type=int, default=2, help="VMC iterations excluded (compilation)")
    parser.add_argument("--budget-s", type=float, default=420.0, help="skip sections after this many seconds")
    parser.add_argument("--netket-python", default=None, help="interpreter of a NetKet environment")
    parser.add_argument(
        "--netket-chunk-size",
        type=int,
        default=None,
        help="NetKet's MCState chunk_size (default on a GPU: 2048; unchunked NetKet ran out of an H200's "
        "memory at 16x16 with 2^14 samples)",
    )
    parser.add_argument("--cpu-baseline", action="store_true", help="rerun the VMC part on 2 CPU cores")
    parser.add_argument("--sections", default="vmc,ensembles,path-integral,holography")
    parser.add_argument("--json", type=Path, default=None, help="write every figure to this file")
    parser.add_argument(
        "--vmc-sizes",
        default=None,
        help="VMC problems as L:samples pairs, e.g. 10:4096,20:65536 (default: the section's full list)",
    )
    parser.add_argument("--baseline", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.t0 = time.perf_counter()
    if args.cpu:
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
    elif args.netket_chunk_size is None and not args.baseline:
        args.netket_chunk_size = 2048
    venv = HERE / ".venv-netket" / "bin" / "python"
    args.netket = bool(args.netket_python) or venv.exists()
    sections = {s.strip() for s in args.sections.split(",")}
    sizes = _sizes(args)
    if args.vmc_sizes:
        sizes["vmc"] = [tuple(int(v) for v in item.split(":")) for item in args.vmc_sizes.split(",")]
    out: list[dict] = []
    print(f"device: {_device()}; {os.cpu_count()} CPUs; load {os.getloadavg()[0]:.1f}", flush=True)
    if "vmc" in sections:
        print("VMC (Heisenberg, RBM, SR onthefly + SGD):", flush=True)
        if not args.netket:
            print("  NetKet: not run (no --netket-python and no benchmarks/.venv-netket on this machine)")
        vmc_section(args, sizes, out)
        if args.cpu_baseline and not args.cpu:
            print("VMC on 2 CPU cores (same problems, same run):", flush=True)
            env = dict(os.environ, JAX_PLATFORMS="cpu")
            cmd = ["taskset", "-c", "0,1", sys.executable, __file__, "--sections", "vmc", "--baseline"]
            cmd += ["--iterations", "3", "--warmup", "1"]
            try:
                subprocess.run(cmd, env=env, check=False, timeout=max(10.0, args.budget_s / 3))
            except subprocess.TimeoutExpired:
                print("  2-core baseline: stopped at its time limit (figures above are what it reached)")
    if "ensembles" in sections:
        print("Network ensembles (nqg fields correlators, erf, width 1000, orders 2 and 4):", flush=True)
        for n in sizes["nets"]:
            cmd = ["fields", "correlators", "--net", "erf", "--width", "1000", "--nets", str(n)]
            cmd += ["--inputs=-0.5,0.1,0.7", "--order", "4", "--out", f"/tmp/nqg-gpu-bench/nets{n}"]
            _nqg_command(args, f"ensemble {n:.0e} networks", cmd, out, n, "networks")
    if "path-integral" in sections:
        print("Path-integral chains (anharmonic g = 1, ReLU, N = 64):", flush=True)
        c, s = sizes["pi_chains"], sizes["pi_samples"]
        cmd = ["fields", "path-integral", "--potential", "anharmonic", "--g", "1", "--activation", "relu"]
        cmd += ["--neurons", "64", "--chains", str(c), "--samples", str(s), "--out", "/tmp/nqg-gpu-bench/pi"]
        _nqg_command(args, f"path integral {c} chains {s} samples", cmd, out, s, "samples")
    if "holography" in sections:
        print("Holographic QCD ensemble:", flush=True)
        k = sizes["seeds"]
        data = ROOT / "src" / "nqg" / "data" / "lattice_qcd_chiral_condensate.csv"
        cmd = ["gravity", "fit", str(data), "--quick", "--seeds", str(k), "--out", "/tmp/nqg-gpu-bench/holo"]
        _nqg_command(args, f"holographic ensemble {k} members (--quick)", cmd, out, None, "")
    print(f"total {time.perf_counter() - args.t0:.0f} s", flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
