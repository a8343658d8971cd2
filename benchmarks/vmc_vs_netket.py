#!/usr/bin/env python
"""VMC speed, nqg against NetKet, on the same problem and machine, measured in one run.

Problem (issue 3, "Speed"): the spin-1/2 Heisenberg antiferromagnet
``H = sum_<ij> S_i.S_j`` (S = sigma/2, J = 1) on an L x L periodic square lattice, in the sector
``sum_i S^z_i = 0``, with the Marshall sign rule (the exchange element of every bond takes the sign
``-J/2``, so the ground state is positive). Variational state: an RBM with real parameters and
alpha = M/N = 1, ``log psi(s) = sum_i a_i s_i + sum_j log cosh(b_j + sum_i W_ji s_i)``, initialised
from N(0, 0.01^2) as NetKet does. Sampling: Metropolis with exchange moves (swap the two spins of a
random nearest-neighbour bond), 16 chains, 1008 samples per iteration (63 per chain), one sample every
sweep of N proposals, 5 sweeps discarded per chain at the start of every iteration (chains continue
from the previous iteration: NetKet's defaults). Update: stochastic reconfiguration with diagonal
shift 0.01, ``(S + 0.01) dtheta = -F`` ... then ``theta <- theta - 0.02 * dtheta`` (plain SGD,
learning rate 0.02), everything in float64.

Timing: seconds per VMC iteration (sample, local energies, gradient, SR solve, update), each
iteration synchronised with ``block_until_ready``; the first ``--warmup`` iterations (JIT
compilation) are excluded and the median of the rest is reported. Both codes run back to back in
the same invocation (nqg in this interpreter, NetKet in its own virtual environment as a
subprocess that prints JSON), and the load average of the machine is printed beside each figure.

Energies: after the same number of iterations each code evaluates its final state with
``--eval-samples`` fresh samples; energies are per site in S units (NetKet's Heisenberg uses Pauli
matrices, so its numbers are divided by 4), with one standard error that accounts for
autocorrelation. References: 4x4 exact diagonalization -0.7017802; 10x10 quantum Monte Carlo
-0.671549 (Sandvik, Phys. Rev. B 56, 11678 (1997)).

Usage (from the repository root)::

    .venv/bin/python benchmarks/vmc_vs_netket.py --setup-netket        # once: NetKet venv
    .venv/bin/python benchmarks/vmc_vs_netket.py --sizes 4,10 --iterations 50

``--skip-netket`` runs the nqg side only; ``--json FILE`` writes all measurements.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
NETKET_VENV = HERE / ".venv-netket"
NETKET_REQUIREMENTS = HERE / "requirements-netket.txt"

# Ground-state energy per site, S units (from ../shared/reference/ground_state_energies.csv).
REFERENCE_ENERGY = {
    4: (-0.7017802, "exact diagonalization"),
    6: (-0.678873, "QMC, Sandvik PRB 56, 11678 (1997)"),
    10: (-0.671549, "QMC, Sandvik PRB 56, 11678 (1997)"),
}

PROBLEM = {
    "alpha": 1,
    "n_samples": 1008,
    "n_chains": 16,
    "n_discard_per_chain": 5,  # NetKet's default, sweeps discarded at the start of every iteration
    "diag_shift": 0.01,
    "learning_rate": 0.02,
    "init_std": 0.01,  # NetKet's RBM initialiser: normal(stddev=0.01) for W, a and b
}


def netket_python() -> Path:
    return NETKET_VENV / "bin" / "python"


def setup_netket() -> None:
    """Create ``benchmarks/.venv-netket`` and install the pinned NetKet into it."""
    if not netket_python().exists():
        print(f"creating {NETKET_VENV} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(NETKET_VENV)], check=True)
    print(f"installing {NETKET_REQUIREMENTS.name} into {NETKET_VENV} ...", file=sys.stderr)
    subprocess.run(
        [str(netket_python()), "-m", "pip", "install", "-q", "-r", str(NETKET_REQUIREMENTS)], check=True
    )


def _median_after_warmup(times: list[float], warmup: int) -> float:
    rest = times[warmup:] if len(times) > warmup else times[-1:]
    return float(statistics.median(rest))


def _run_record(times, cpu_times, energies, errors, warmup: int) -> dict:
    """The per-iteration record both sides report: times, medians after warm-up, energy history."""
    return {
        "times": times,
        "median_s": _median_after_warmup(times, warmup),
        "cpu_times": cpu_times,
        "median_cpu_s": _median_after_warmup(cpu_times, warmup),
        "energy_history": energies,
        "error_history": errors,
    }


# ============================================================================ NetKet side
# Runs in benchmarks/.venv-netket (no nqg there): only NetKet, jax and numpy may be imported here.


def run_netket(cfg: dict) -> dict:
    """One NetKet VMC run with the benchmark settings; returns timings and energies (S units)."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import netket as nk
    import numpy as np

    L = cfg["L"]
    graph = nk.graph.Square(L, pbc=True)
    n = graph.n_nodes
    hilbert = nk.hilbert.Spin(0.5, n, total_sz=0)
    # NetKet: H = J sum sigma_i.sigma_j = 4 sum S_i.S_j, sign_rule=True is the Marshall sign rule.
    hamiltonian = nk.operator.Heisenberg(hilbert, graph, sign_rule=True)
    jax_mode = cfg.get("netket_operator", "numba") == "jax"
    if jax_mode:  # how NetKet is meant to run on a GPU: the operator as a jax PyTree, jitted with the rest
        hamiltonian = hamiltonian.to_jax_operator()
    pauli_to_s = 1.0 / (4.0 * n)
    init = jax.nn.initializers.normal(stddev=cfg["init_std"])
    model = nk.models.RBM(
        alpha=cfg["alpha"],
        param_dtype=np.float64,
        kernel_init=init,
        hidden_bias_init=init,
        visible_bias_init=init,
    )
    sampler = nk.sampler.MetropolisExchange(hilbert, graph=graph, n_chains=cfg["n_chains"])  # sweep_size = N
    vstate = nk.vqs.MCState(
        sampler,
        model,
        n_samples=cfg["n_samples"],
        n_discard_per_chain=cfg["n_discard_per_chain"],
        seed=cfg["seed"],
        sampler_seed=cfg["seed"] + 1,
        chunk_size=cfg.get("netket_chunk_size"),  # None: all samples at once (OOM at 16x16 on a GPU)
    )
    optimizer = nk.optimizer.Sgd(learning_rate=cfg["learning_rate"])
    if cfg.get("netket_driver", "sr") == "vmc_sr":
        driver = nk.driver.VMC_SR(
            hamiltonian, optimizer, diag_shift=cfg["diag_shift"], variational_state=vstate
        )
    else:
        import warnings

        warnings.filterwarnings("ignore", message=".*number of samples.*")
        qgt = {"qgt": nk.optimizer.qgt.QGTOnTheFly} if cfg.get("sr_solver") == "onthefly" else {}
        driver = nk.driver.VMC(
            hamiltonian,
            optimizer,
            variational_state=vstate,
            preconditioner=nk.optimizer.SR(diag_shift=cfg["diag_shift"], **qgt),
        )

    times: list[float] = []
    cpu_times: list[float] = []
    energies: list[float] = []
    errors: list[float] = []
    last = [time.perf_counter(), time.process_time()]

    def record(step, log_data, drv):
        jax.block_until_ready(drv.state.parameters)
        stats = log_data["Energy"]
        energies.append(float(np.real(stats.mean)) * pauli_to_s)
        errors.append(float(stats.error_of_mean) * pauli_to_s)
        now, cpu = time.perf_counter(), time.process_time()
        times.append(now - last[0])
        cpu_times.append(cpu - last[1])
        last[0], last[1] = now, cpu
        return True

    load_before = os.getloadavg()[0]
    last[0], last[1] = time.perf_counter(), time.process_time()
    driver.run(cfg["iterations"], out=None, show_progress=False, callback=record)
    load_after = os.getloadavg()[0]

    vstate.n_samples = cfg["eval_samples"]
    vstate.sample(n_discard_per_chain=cfg["n_discard_per_chain"])
    final = vstate.expect(hamiltonian)
    return {
        "code": "netket",
        "version": nk.__version__,
        "jax": jax.__version__,
        "driver": (
            ("VMC + SR(QGTOnTheFly, cg)" if cfg.get("sr_solver") == "onthefly" else "VMC + SR(qgt, cg)")
            if cfg.get("netket_driver", "sr") == "sr"
            else "VMC_SR"
        )
        + (", jax operator" if jax_mode else ", numba operator"),
        "device": str(jax.devices()[0].platform),
        "n_parameters": int(vstate.n_parameters),
        "sweep_size": int(sampler.sweep_size),
        **_run_record(times, cpu_times, energies, errors, cfg["warmup"]),
        "energy": float(np.real(final.mean)) * pauli_to_s,
        "energy_error": float(final.error_of_mean) * pauli_to_s,
        "load": [load_before, load_after],
    }


def run_netket_subprocess(cfg: dict) -> dict:
    """Run :func:`run_netket` with the NetKet venv's interpreter; it prints one JSON line last."""
    py = Path(cfg["netket_python"]) if cfg.get("netket_python") else netket_python()
    if not py.exists():
        setup_netket()
    proc = subprocess.run(
        [str(py), str(Path(__file__).resolve()), "--netket-worker", json.dumps(cfg)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise RuntimeError(f"NetKet worker failed with exit code {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ============================================================================ nqg side


def build_nqg(cfg: dict):
    """The benchmark problem in nqg: ``(vmc driver, initial state)``."""
    import jax
    import optax

    import nqg  # noqa: F401  (turns on float64)
    from nqg.quantum.hilbert import SpinHilbert
    from nqg.quantum.lattice import square
    from nqg.quantum.models import RBM
    from nqg.quantum.operators import Heisenberg
    from nqg.quantum.samplers import MetropolisExchange
    from nqg.quantum.vmc import SR, VMC

    L = cfg["L"]
    lattice = square(L, L, pbc=True)
    n = lattice.n_sites
    hilbert = SpinHilbert(n, total_sz=0)
    # J1 = 4: H = sum sigma_i.sigma_j, exactly NetKet's operator (its scale sets the SGD step size);
    # energies are divided by 4 N for the table (S units per site).
    hamiltonian = Heisenberg(lattice, J1=4.0, marshall_sign=True)
    key = jax.random.key(cfg["seed"])
    model = RBM(n, cfg["alpha"], key=jax.random.fold_in(key, 1), init_std=cfg["init_std"])
    sampler = MetropolisExchange(
        hilbert,
        pairs=lattice.bonds,  # nearest-neighbour exchanges, as NetKet's MetropolisExchange(graph=...)
        n_chains=cfg["n_chains"],
        n_samples=cfg["n_samples"],
        sweep_size=n,
        n_burn_in=cfg["n_discard_per_chain"],
    )
    sr = SR(diag_shift=cfg["diag_shift"], solver=cfg.get("sr_solver", "auto"))
    vmc = VMC(hamiltonian, model, sampler, optax.sgd(cfg["learning_rate"]), sr=sr)
    return vmc, vmc.init_state(jax.random.fold_in(key, 2))


def run_nqg(cfg: dict) -> dict:
    """One nqg VMC run with the benchmark settings; returns timings and energies (S units).

    Each iteration is one call of the jitted pure step ``VMC.jit_step`` (what ``VMC.run`` scans over),
    synchronised with ``block_until_ready`` so that it is timed exactly like a NetKet iteration.
    """
    import jax
    import jax.numpy as jnp

    import nqg

    vmc, state = build_nqg(cfg)
    to_s_units = 1.0 / (4.0 * cfg["L"] ** 2)  # the Hamiltonian is in Pauli units (see build_nqg)
    times: list[float] = []
    cpu_times: list[float] = []
    energies: list[float] = []
    errors: list[float] = []
    load_before = os.getloadavg()[0]
    for it in range(cfg["iterations"]):
        t0, c0 = time.perf_counter(), time.process_time()
        state, metrics = vmc.jit_step(state, jnp.asarray(it, jnp.int32))
        jax.block_until_ready((state, metrics))
        times.append(time.perf_counter() - t0)
        cpu_times.append(time.process_time() - c0)
        energies.append(float(metrics["energy"]) * to_s_units)
        errors.append(float(metrics["energy_error"]) * to_s_units)
    load_after = os.getloadavg()[0]
    repeats = max(1, round(cfg["eval_samples"] / cfg["n_samples"]))
    final = vmc.estimate(state, jax.random.fold_in(state.key, 2**30), n_repeats=repeats)
    return {
        "code": "nqg",
        "version": nqg.__version__,
        "jax": jax.__version__,
        "driver": f"VMC + SR(solver={vmc.sr.solver}), {vmc.n_devices} device(s)",
        "device": str(jax.devices()[0].platform),
        "n_parameters": int(vmc.n_parameters),
        "sweep_size": int(vmc.sampler.n_sweep),
        **_run_record(times, cpu_times, energies, errors, cfg["warmup"]),
        "energy": final["energy"] * to_s_units,
        "energy_error": final["energy_error"] * to_s_units,
        "acceptance": final["acceptance"],
        "load": [load_before, load_after],
    }


# ============================================================================ driver


def _fmt_energy(res: dict | None) -> str:
    return "-" if res is None else f"{res['energy']:.5f}({round(res['energy_error'] * 1e5):d})"


def _fmt_time(res: dict | None, key: str) -> str:
    return "-" if res is None else f"{res[key]:.4f}"


def _ratio(nk: dict | None, nqg: dict | None, key: str) -> float | None:
    return nk[key] / nqg[key] if (nk and nqg and nqg[key] > 0) else None


def print_table(rows: list[dict]) -> None:
    """Side-by-side table: median wall and CPU seconds per iteration, ratios, final energies."""
    seen = set()
    for row in rows:
        for res in (row.get("netket"), row.get("nqg")):
            if res and (res["code"], res["driver"]) not in seen:
                seen.add((res["code"], res["driver"]))
                print(f"{res['code']} {res['version']} (jax {res['jax']}): {res['driver']}")
    print(
        f"{'':14}|{'wall s / iteration':^27}|{'CPU s / iteration':^27}|"
        f"{'energy per site (S units), final state':^44}|"
    )
    codes = f"{'NetKet':>9}{'nqg':>9}{'ratio':>8} |"
    header = (
        f"{'lattice':>8} {'iter':>5}|{codes}{codes}{'NetKet':>15}{'nqg':>15}{'reference':>12}  |{'load':>10}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        L = row["L"]
        ref = REFERENCE_ENERGY.get(L, (float("nan"), ""))[0]
        nqg, nk = row.get("nqg"), row.get("netket")
        r_wall, r_cpu = _ratio(nk, nqg, "median_s"), _ratio(nk, nqg, "median_cpu_s")
        loads = [res["load"] for res in (nk, nqg) if res]
        load = f"{max(x[0] for x in loads):.1f}-{max(x[1] for x in loads):.1f}" if loads else "-"
        lattice = f"{L}x{L}"
        wall = f"{_fmt_time(nk, 'median_s'):>9}{_fmt_time(nqg, 'median_s'):>9}"
        cpu = f"{_fmt_time(nk, 'median_cpu_s'):>9}{_fmt_time(nqg, 'median_cpu_s'):>9}"
        print(
            f"{lattice:>8} {row['iterations']:>5}|{wall}{'-' if r_wall is None else f'{r_wall:.2f}x':>8} |"
            f"{cpu}{'-' if r_cpu is None else f'{r_cpu:.2f}x':>8} |"
            f"{_fmt_energy(nk):>15}{_fmt_energy(nqg):>15}{ref:>12.7f}  |{load:>10}"
        )
    print(
        "ratio = NetKet / nqg (goal on 10x10: >= 3 at equal accuracy); medians over the iterations after\n"
        "the warm-up; CPU s = process CPU time of all threads (less sensitive to other load than wall s).\n"
        "Energies of the final states, (one standard error) in units of 1e-5.\n"
        f"load = highest 1-minute load average before / after the runs, on {os.cpu_count()} CPUs."
    )
    for row in rows:
        nqg, nk = row.get("nqg"), row.get("netket")
        if not (nqg and nk):
            continue
        L = row["L"]
        ref = REFERENCE_ENERGY.get(L, (float("nan"), ""))[0]
        sigma = (nqg["energy_error"] ** 2 + nk["energy_error"] ** 2) ** 0.5
        z = (nqg["energy"] - nk["energy"]) / sigma if sigma > 0 else float("nan")
        rel_nqg, rel_nk = abs(nqg["energy"] / ref - 1), abs(nk["energy"] / ref - 1)
        r_wall, r_cpu = _ratio(nk, nqg, "median_s"), _ratio(nk, nqg, "median_cpu_s")
        verdict = ""
        if L == 10:
            met = r_wall >= 3 and z <= 2
            verdict = f"; goal (>= 3x wall at equal accuracy): {'met' if met else 'NOT met'}"
        print(
            f"{L}x{L}: NetKet/nqg time {r_wall:.2f}x wall, {r_cpu:.2f}x CPU; "
            f"relative error nqg {rel_nqg:.2e}, NetKet {rel_nk:.2e}; "
            f"E(nqg) - E(NetKet) = {z:+.1f} sigma{verdict}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default="4,10", help="comma-separated L of the L x L lattices (default 4,10)"
    )
    parser.add_argument("--iterations", type=int, default=50, help="VMC iterations per code and size")
    parser.add_argument("--warmup", type=int, default=5, help="first iterations excluded from the median")
    parser.add_argument(
        "--eval-samples",
        type=int,
        default=8064,
        help="samples for the final-state energy (rounded to a multiple of 1008)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--alpha", type=int, default=PROBLEM["alpha"], help="RBM hidden-unit density")
    parser.add_argument("--samples", type=int, default=PROBLEM["n_samples"], help="samples per iteration")
    parser.add_argument("--chains", type=int, default=PROBLEM["n_chains"], help="parallel Markov chains")
    parser.add_argument(
        "--sr-solver",
        choices=["auto", "onthefly"],
        default="auto",
        help="nqg's SR solver; onthefly (matrix-free CG) also gives NetKet QGTOnTheFly",
    )
    parser.add_argument(
        "--netket-operator",
        choices=["numba", "jax"],
        default="numba",
        help="NetKet's Heisenberg as its default numba operator or .to_jax_operator() (GPU)",
    )
    parser.add_argument(
        "--netket-python",
        default=None,
        help="interpreter of a NetKet environment (default: the benchmark venv)",
    )
    parser.add_argument("--skip-netket", action="store_true", help="run the nqg side only")
    parser.add_argument("--skip-nqg", action="store_true", help="run the NetKet side only")
    parser.add_argument(
        "--netket-driver",
        choices=["sr", "vmc_sr"],
        default="sr",
        help="sr: nk.driver.VMC + nk.optimizer.SR (the issue's setting); vmc_sr: nk.driver.VMC_SR",
    )
    parser.add_argument(
        "--single-thread",
        action="store_true",
        help="run both codes with one XLA and one BLAS thread (steadier figures on a shared, loaded machine)",
    )
    parser.add_argument("--setup-netket", action="store_true", help="create the NetKet venv and exit")
    parser.add_argument("--json", type=Path, default=None, help="also write all measurements to this file")
    parser.add_argument("--netket-worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.netket_worker is not None:
        print(json.dumps(run_netket(json.loads(args.netket_worker))))
        return 0
    if args.setup_netket:
        setup_netket()
        return 0
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--sizes {args.sizes!r}: expected comma-separated integers, e.g. 4,10")
    if not sizes or any(L < 2 or L % 2 for L in sizes):
        parser.error(f"--sizes {args.sizes!r}: each L must be an even integer >= 2 (bipartite, Sz = 0)")
    if args.iterations < 1 or args.warmup < 0 or args.iterations <= args.warmup:
        parser.error("--iterations must be >= 1 and larger than --warmup")
    if args.chains < 1 or args.samples < args.chains or args.alpha < 1:
        parser.error("--chains and --alpha must be >= 1 and --samples >= --chains")
    if args.eval_samples < args.chains:
        parser.error(f"--eval-samples must be >= {args.chains} (one per chain)")

    if args.single_thread:  # before jax is imported here; the NetKet subprocess inherits the environment
        if "jax" in sys.modules:
            parser.error("--single-thread must be set before jax is imported")
        os.environ["XLA_FLAGS"] = (
            os.environ.get("XLA_FLAGS", "")
            + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        ).strip()
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # LAPACK behind jax
            os.environ[var] = "1"
    rows = []
    for L in sizes:
        cfg = dict(
            PROBLEM,
            alpha=args.alpha,
            n_samples=args.samples,
            n_chains=args.chains,
            sr_solver=args.sr_solver,
            netket_operator=args.netket_operator,
            netket_python=args.netket_python,
            L=L,
            iterations=args.iterations,
            warmup=args.warmup,
            seed=args.seed,
            # a whole number of sampler calls (nqg's VMC.estimate repeats the 1008-sample call)
            eval_samples=max(1, round(args.eval_samples / args.samples)) * args.samples,
            netket_driver=args.netket_driver,
        )
        row: dict = {"L": L, "iterations": args.iterations}
        if not args.skip_nqg:
            print(f"[{L}x{L}] nqg: {args.iterations} iterations ...", file=sys.stderr, flush=True)
            row["nqg"] = run_nqg(cfg)
        if not args.skip_netket:
            print(f"[{L}x{L}] NetKet: {args.iterations} iterations ...", file=sys.stderr, flush=True)
            row["netket"] = run_netket_subprocess(cfg)
        rows.append(row)
    print_table(rows)
    if args.json is not None:
        args.json.write_text(json.dumps({"problem": PROBLEM, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
