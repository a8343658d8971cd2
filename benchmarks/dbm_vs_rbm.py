"""The imaginary-time DBM optimised by VMC (deep layer sampled) against nqg's RBM with the same number of
hidden units, trained by nqg's VMC with the same optimizer, samples per iteration and iterations, on the
periodic TFIM chain at h = 1 (issue 12, section 1, "Beyond exactness").

    .venv/bin/python benchmarks/dbm_vs_rbm.py [--sites 8] [--steps 1] [--iterations 150] [--sparse]

The DBM starts from the construction ``tfim_dbm(chain(N), h, dtau, M)`` with ``dtau`` the grid value that
minimises the exact energy of the M-step state; "same size" = equal hidden units ``H = M (n_bonds + N)``
(the RBM has ``alpha = H / N``); the parameter counts of both are printed. Both use SR (diagonal shift
0.01, trust region 1 in S-norm, ``optax.sgd(lr)``) and ``chains * samples`` samples per iteration.
Prints both final energies per site with their standard errors (fresh samples), the exact energy, the
relative errors, the parameter counts and the wall times (which include compilation); for small machines
also the trained DBM's exact energy (visible and deep units enumerated), free of sampling noise.
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import numpy as np
import optax

from nqg.quantum import (
    RBM,
    SR,
    VMC,
    MetropolisLocal,
    SpinHilbert,
    chain,
    count_parameters,
    tfim_chain_ground_energy,
)
from nqg.quantum.dbm import exact_trotter_energy, tfim_dbm
from nqg.quantum.dbm_vmc import DBMVMC, enumerated_energy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sites", type=int, default=8)
    ap.add_argument("--h", type=float, default=1.0)
    ap.add_argument("--steps", type=int, default=1, help="Trotter steps M of the starting DBM")
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--chains", type=int, default=32)
    ap.add_argument("--samples", type=int, default=32, help="samples per chain per iteration")
    ap.add_argument("--sparse", action="store_true", help="keep the construction's sparsity pattern")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    n = args.sites
    lat = chain(n)
    exact = tfim_chain_ground_energy(n, args.h) / n
    grid = (0.1, 0.2, 0.3, 0.4, 0.5)
    trotter = {dt: exact_trotter_energy(tfim_dbm(lat, args.h, dt, args.steps)) / n for dt in grid}
    dtau = min(trotter, key=trotter.get)
    dbm = tfim_dbm(lat, args.h, dtau, args.steps)
    n_hidden = dbm.machine.n_hidden
    print(f"TFIM chain N = {n}, h = {args.h}: exact E/N = {exact:.6f}")
    print(f"load average (1 min): {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(
        f"construction: M = {args.steps}, dtau = {dtau} (best of {grid}), exact E/N = {trotter[dtau]:.6f}; "
        f"{n_hidden} hidden, {dbm.machine.n_deep} deep units"
    )

    t0 = time.perf_counter()
    driver = DBMVMC(
        dbm,
        optax.sgd(args.lr),
        sr_shift=0.01,
        max_norm=1.0,
        keep_sparsity=args.sparse,
        n_chains=args.chains,
        n_samples=args.samples,
    )
    res = driver.run(args.iterations, jax.random.key(args.seed), progress=False)
    t_dbm = time.perf_counter() - t0

    t0 = time.perf_counter()
    model = RBM(n, alpha=n_hidden / n, key=jax.random.key(args.seed))
    sampler = MetropolisLocal(SpinHilbert(n), n_chains=args.chains, n_samples=args.chains * args.samples)
    vmc = VMC(dbm.hamiltonian, model, sampler, optax.sgd(args.lr), sr=SR(diag_shift=0.01, max_norm=1.0))
    rbm = vmc.run(args.iterations, jax.random.key(args.seed + 1), progress=False, final_estimate_repeats=12)
    t_rbm = time.perf_counter() - t0

    rows = [
        (
            f"DBM ({'sparse' if args.sparse else 'dense'})",
            res.energy / n,
            res.energy_error / n,
            driver.n_parameters,
            t_dbm,
        ),
        (
            f"RBM (alpha = {n_hidden / n:g})",
            rbm.energy / n,
            rbm.energy_error / n,
            count_parameters(model),
            t_rbm,
        ),
    ]
    print(
        f"{args.iterations} iterations, {args.chains * args.samples} samples/iteration, SR + sgd({args.lr})"
    )
    print(f"{'model':<22}{'E/N':>12}{'+-':>10}{'rel. error':>12}{'params':>8}{'hidden':>8}{'time s':>8}")
    for name, e, err, p, t in rows:
        print(
            f"{name:<22}{e:>12.6f}{err:>10.6f}{abs(e - exact) / abs(exact):>12.2e}"
            f"{p:>8d}{n_hidden:>8d}{t:>8.1f}"
        )
    e_dbm, err_dbm, label = rows[0][1], rows[0][2], "sampled"
    if n <= 12 and res.machine.n_deep <= 16:  # the trained DBM's energy without sampling noise
        e_dbm, err_dbm, label = enumerated_energy(res.machine, dbm.hamiltonian) / n, 0.0, "exact"
        print(
            f"trained DBM, exact (all visible and deep configurations enumerated): E/N = {e_dbm:.6f}, "
            f"rel. error {abs(e_dbm - exact) / abs(exact):.2e}"
        )
    diff = e_dbm - rows[1][1]
    sigma = float(np.hypot(err_dbm, rows[1][2]))
    verdict = "lower" if diff < -3 * sigma else ("higher" if diff > 3 * sigma else "indistinguishable")
    print(f"E_DBM ({label}) - E_RBM = {diff:.6f} +- {sigma:.6f} per site: the DBM is {verdict} (3 sigma)")


if __name__ == "__main__":
    main()
