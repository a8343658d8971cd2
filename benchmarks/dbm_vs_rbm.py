"""The imaginary-time DBM, optimised, against nqg's RBM of the same size on the periodic TFIM chain at h = 1
(issue 12, section 1, "Beyond exactness").

    .venv/bin/python benchmarks/dbm_vs_rbm.py --mode exact   [--sites 8 10] [--steps 1 2] [--iterations 300]
                                              [--sparse-only]
    .venv/bin/python benchmarks/dbm_vs_rbm.py --mode sampled [--sites 8] [--steps 1] [--iterations 100]
                                              [--conditional K] [--local-energy plain|paired] [--sparse]
                                              [--rbm-match hidden parameters] [--chains 32] [--samples 32]
                                              [--no-dbm | --no-rbm]

**exact** (noise-free, :mod:`nqg.quantum.dbm_exact_opt`): every machine is trained on its exact energy
(visible and deep units enumerated) by exact SR (diagonal shift ``--shift``, trust region ``--max-norm``
in the ``(S + lambda)``-norm, ``optax.sgd(--lr)``), the same optimizer and iterations for all. Machines
for each ``N`` and ``M``: the DBM of ``tfim_dbm(chain(N), 1, dtau, M)`` dense and with the construction's
sparsity (``dtau``: the grid value with the lowest exact energy of the M-step state), and RBMs with
(i) the same number of hidden units ``H = M (n_bonds + N)`` and (ii) the parameter count closest to each
DBM's (``H = argmin |N + H + N H - P_DBM|``). Prints every exact energy per site, the relative error, the
relative error at half the budget (convergence), parameters, time.

**sampled** (the issue's wording: deep layer sampled, :class:`nqg.quantum.dbm_vmc.DBMVMC`) against nqg's
VMC of the RBM with the same hidden units (``--rbm-match parameters``: the closest parameter count), same
optimizer, samples per iteration and iterations. With
``--conditional K`` every kept sample's deep replicas are averaged over K conditional sweeps (the
Rao-Blackwellised estimator of ``DBMVMC(n_conditional=K)``); the RBM then gets ``K`` times as many samples
per iteration (equal local-energy evaluations). ``--local-energy paired`` flips each visible spin's
partner deep unit with it in the off-diagonal term (unbiased; no deep-layer noise at all for the M = 1
construction). For N <= 10 it also prints the trained DBM's noise split (law of total variance).
Prints both final energies with their standard errors (fresh samples), the exact energy, the relative
errors, the trained DBM's exact (enumerated) energy where ``N <= 12``, and whether the DBM is lower by
more than 3 sigma.

Beyond N = 14 (where the Trotter state cannot be enumerated) ``dtau`` is chosen on the N = 14 chain, and the
only reference is the free-fermion energy. ``--no-rbm`` / ``--no-dbm`` run one side alone, so that the
two can run as separate processes (docs/quantum_dbm_vmc.md, section 4: N = 16 to 64 on a GPU).
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import numpy as np
import optax

from nqg.quantum import RBM, chain
from nqg.quantum import tfim_chain_ground_energy as tfim_exact
from nqg.quantum.dbm import MAX_EXACT_SITES, exact_trotter_energy, tfim_dbm
from nqg.quantum.dbm_exact_opt import (
    dbm_ansatz,
    deep_layer_noise,
    optimise_exact_energy,
    rbm_ansatz,
    rbm_hidden_for_parameters,
)
from nqg.quantum.dbm_vmc import compare_with_rbm, count_dbm_parameters, enumerated_energy, three_sigma_verdict

DTAU_GRID = (0.1, 0.2, 0.3, 0.4, 0.5)


def construction(n: int, h: float, steps: int, dtau: float | None = None):
    """The M-step DBM with the grid ``dtau`` of lowest exact energy, and that energy per site.

    Beyond :data:`MAX_EXACT_SITES` the Trotter state cannot be enumerated: ``dtau`` is then chosen on the
    largest even chain that can (the energy per site of the M-step state is intensive), and the returned
    energy is ``nan``."""
    if dtau is not None:  # given: no grid search (its exact energy where the Trotter state is enumerable)
        dbm = tfim_dbm(chain(n), h, dtau, steps)
        return dbm, dtau, exact_trotter_energy(dbm) / n if n <= MAX_EXACT_SITES else float("nan")
    n_pick = n if n <= MAX_EXACT_SITES else MAX_EXACT_SITES - MAX_EXACT_SITES % 2
    lat = chain(n_pick)
    trotter = {dt: exact_trotter_energy(tfim_dbm(lat, h, dt, steps)) / n_pick for dt in DTAU_GRID}
    dtau = min(trotter, key=trotter.get)
    e_trot = trotter[dtau] if n_pick == n else float("nan")
    return tfim_dbm(chain(n), h, dtau, steps), dtau, e_trot


def exact_mode(args) -> None:
    print(
        f"noise-free: exact SR (shift {args.shift}, trust region {args.max_norm}) + sgd({args.lr}), "
        f"{args.iterations} iterations for every machine; h = {args.h}, periodic chain"
    )
    header = f"{'N':>3}{'M':>3}  {'machine':<28}{'H':>5}{'D':>4}{'params':>8}{'E/N':>14}{'rel. err':>10}"
    header += f"{'@half':>10}{'time s':>8}"
    for n in args.sites:
        exact = tfim_exact(n, args.h) / n
        for steps in args.steps:
            dbm, dtau, e_trot = construction(n, args.h, steps, args.dtau)
            mach = dbm.machine
            print(
                f"\nN = {n}, M = {steps}: exact E/N = {exact:.9f}; construction dtau = {dtau}, "
                f"E/N = {e_trot:.6f} (rel. err {abs(e_trot - exact) / abs(exact):.2e})"
            )
            print(header)
            p_dense = count_dbm_parameters(mach)
            p_sparse = count_dbm_parameters(mach, keep_sparsity=True)
            machines = []
            if not args.sparse_only:
                machines.append(("DBM dense", dbm_ansatz(mach), mach.n_deep))
            machines.append(("DBM sparse (construction)", dbm_ansatz(mach, keep_sparsity=True), mach.n_deep))
            rbm_sizes = [("RBM, equal H", mach.n_hidden)]
            if not args.sparse_only:
                rbm_sizes.append(("RBM, P ~ DBM dense", rbm_hidden_for_parameters(n, p_dense)))
            rbm_sizes.append(("RBM, P ~ DBM sparse", rbm_hidden_for_parameters(n, p_sparse)))
            for label, hidden in rbm_sizes:
                model = RBM(n, alpha=hidden / n, key=jax.random.key(args.seed))
                machines.append((label, rbm_ansatz(model), 0))
            rel = {}
            noise_lines = []
            for label, ans, n_deep in machines:
                t0 = time.perf_counter()
                res = optimise_exact_energy(
                    ans,
                    dbm.hamiltonian,
                    optax.sgd(args.lr),
                    args.iterations,
                    diag_shift=args.shift,
                    max_norm=args.max_norm,
                    batch_size=args.batch,
                )
                dt = time.perf_counter() - t0
                e = res.energy / n
                half = res.history["energy"][args.iterations // 2] / n if args.iterations > 1 else e
                hidden = int(ans.rebuild(ans.flat).n_hidden)
                rel[label] = abs(e - exact) / abs(exact)
                print(
                    f"{n:>3}{steps:>3}  {label:<28}{hidden:>5}{n_deep:>4}{res.n_parameters:>8}{e:>14.9f}"
                    f"{rel[label]:>10.2e}{abs(half - exact) / abs(exact):>10.2e}{dt:>8.1f}",
                    flush=True,
                )
                if n_deep and n_deep <= 16 and n <= 10:
                    noise_lines.append((label, res.model))
            sparse = "DBM sparse (construction)"
            pairs = [(sparse, "RBM, equal H"), (sparse, "RBM, P ~ DBM sparse")]
            if not args.sparse_only:
                pairs = [("DBM dense", "RBM, equal H"), ("DBM dense", "RBM, P ~ DBM dense"), *pairs]
            for a, b in pairs:
                verdict = "lower" if rel[a] < rel[b] else "higher"
                print(f"  {a} vs {b}: rel. errors {rel[a]:.2e} / {rel[b]:.2e} -> the DBM is {verdict}")
            if n <= 10 and mach.n_deep <= 16:
                noise_lines.insert(0, ("construction", mach))
            for label, machine in noise_lines:  # law of total variance (dbm_exact_opt.deep_layer_noise)
                plain = deep_layer_noise(machine, dbm.hamiltonian)
                paired = deep_layer_noise(machine, dbm.hamiltonian, "paired")
                print(
                    f"  noise, {label}: Var E_loc(s) = {plain['var_visible']:.3e}; E[Var(E_loc(s, d) | s)] = "
                    f"{plain['var_deep']:.3e} plain, {paired['var_deep']:.3e} paired"
                )


def sampled_mode(args) -> None:
    for n in args.sites:
        for steps in args.steps:
            sampled_one(args, n, steps)


def sampled_one(args, n: int, steps: int) -> None:
    exact = tfim_exact(n, args.h) / n
    dbm, dtau, e_trot = construction(n, args.h, steps, args.dtau)
    n_hidden = dbm.machine.n_hidden
    k = args.conditional
    n_per_iter = args.chains * args.samples
    print(f"\nTFIM chain N = {n}, h = {args.h}: exact E/N = {exact:.6f}")
    print(f"load average (1 min): {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(
        f"construction: M = {steps}, dtau = {dtau} "
        f"({'given' if args.dtau is not None else f'best of {DTAU_GRID}'}), exact E/N = {e_trot:.6f}; "
        f"{n_hidden} hidden, {dbm.machine.n_deep} deep units"
    )
    matched = rbm_hidden_for_parameters(n, count_dbm_parameters(dbm.machine, args.sparse))
    rbm_hidden = [n_hidden if m == "hidden" else matched for m in ([] if args.no_rbm else args.rbm_match)]
    rows = compare_with_rbm(
        dbm,
        rbm_hidden,
        iterations=args.iterations,
        learning_rate=args.lr,
        sr_shift=args.shift,
        max_norm=args.max_norm,
        n_chains=args.chains,
        n_samples=args.samples,
        n_conditional=k,
        local_energy=args.local_energy,
        keep_sparsity=args.sparse,
        final_samples=args.final,
        seed=args.seed,
        train_dbm=not args.no_dbm,
    )
    if not args.no_dbm:
        tenths = np.array_split(rows[0].history, min(10, args.iterations))
        print(
            "DBM's sampled E/N during training, mean of each tenth: "
            + " ".join(f"{t.mean():.5f}" for t in tenths)
        )
    print(
        f"{args.iterations} iterations, SR (shift {args.shift}, trust region {args.max_norm}) + "
        f"sgd({args.lr}); DBM: {n_per_iter} samples/iteration x {k} conditional sweeps, {args.local_energy} "
        f"local energy; RBM: {n_per_iter * k} samples/iteration"
    )
    print(f"{'model':<26}{'E/N':>12}{'+-':>10}{'rel. error':>12}{'params':>8}{'time s':>8}")
    for row in rows:
        rel = abs(row.energy_per_site - exact) / abs(exact)
        print(
            f"{row.name:<26}{row.energy_per_site:>12.6f}{row.error_per_site:>10.6f}{rel:>12.2e}"
            f"{row.n_parameters:>8d}{row.seconds:>8.1f}"
        )
    for row in rows[1:] if not args.no_dbm else []:
        diff = rows[0].energy_per_site - row.energy_per_site
        sigma = float(np.hypot(rows[0].error_per_site, row.error_per_site))
        verdict = three_sigma_verdict(diff, sigma)
        print(f"E_DBM (sampled) - E_{row.name} = {diff:.6f} +- {sigma:.6f} per site: DBM {verdict} (3 sigma)")
    if args.no_dbm or args.no_rbm:
        return
    machine = rows[0].result.machine
    if n <= 12 and machine.n_deep <= 16:  # the trained DBM's energy without sampling noise
        e_dbm = enumerated_energy(machine, dbm.hamiltonian) / n
        print(
            f"trained DBM, exact (all visible and deep configurations enumerated): E/N = {e_dbm:.6f}, "
            f"rel. error {abs(e_dbm - exact) / abs(exact):.2e}"
        )
        rbm = rows[1]
        diff_exact = e_dbm - rbm.energy_per_site
        verdict = three_sigma_verdict(diff_exact, rbm.error_per_site)
        print(
            f"E_DBM (exact) - E_{rbm.name} = {diff_exact:.6f} +- {rbm.error_per_site:.6f}: "
            f"DBM {verdict} (3 sigma)"
        )
        if n <= 10:
            for estimator in ("plain", "paired"):
                v = deep_layer_noise(machine, dbm.hamiltonian, estimator)
                print(
                    f"trained DBM noise ({estimator} local energy): Var E_loc(s) = {v['var_visible']:.3e}, "
                    f"E[Var(E_loc(s, d) | s)] = {v['var_deep']:.3e}"
                )
            print(f"{rbm.name}'s sampled variance of E_loc: {float(rbm.result.variance):.3e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=("exact", "sampled"), default="exact")
    ap.add_argument("--sites", type=int, nargs="+", default=[8])
    ap.add_argument("--h", type=float, default=1.0)
    ap.add_argument("--steps", type=int, nargs="+", default=[1], help="Trotter steps M of the starting DBM")
    ap.add_argument("--iterations", type=int, default=None, help="default: 300 exact, 100 sampled")
    ap.add_argument("--lr", type=float, default=None, help="default: 0.1 exact, 0.05 sampled")
    ap.add_argument("--shift", type=float, default=None, help="SR shift (default 1e-3 exact, 1e-2 sampled)")
    ap.add_argument("--max-norm", type=float, default=1.0, help="SR trust region")
    ap.add_argument("--sparse-only", action="store_true", help="exact: skip the dense DBM and its RBM")
    ap.add_argument("--batch", type=int, default=16, help="exact: visible configurations per vmapped batch")
    ap.add_argument("--chains", type=int, default=32)
    ap.add_argument("--samples", type=int, default=32, help="sampled: samples per chain per iteration")
    ap.add_argument("--conditional", type=int, default=1, help="sampled: conditional deep sweeps K")
    ap.add_argument(
        "--rbm-match",
        choices=("hidden", "parameters"),
        nargs="+",
        default=["hidden"],
        help="sampled: RBMs of equal H and/or of the closest parameter count",
    )
    ap.add_argument("--local-energy", choices=("plain", "paired"), default="plain", help="sampled: estimator")
    ap.add_argument("--final", type=int, default=200, help="sampled: final samples per chain")
    ap.add_argument("--sparse", action="store_true", help="sampled: keep the construction's sparsity")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--dtau", type=float, default=None, help="the construction's dtau (default: the grid's best)"
    )
    ap.add_argument("--no-dbm", action="store_true", help="sampled: the RBMs only")
    ap.add_argument("--no-rbm", action="store_true", help="sampled: the DBM only")
    args = ap.parse_args()
    exact_defaults = args.mode == "exact"
    if args.iterations is None:
        args.iterations = 300 if exact_defaults else 100
    if args.lr is None:
        args.lr = 0.1 if exact_defaults else 0.05
    if args.shift is None:
        args.shift = 1e-3 if exact_defaults else 0.01
    print(f"load average (1 min): {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; jax {jax.__version__}")
    (exact_mode if exact_defaults else sampled_mode)(args)


if __name__ == "__main__":
    main()
