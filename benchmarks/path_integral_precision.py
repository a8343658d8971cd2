"""Precision per sample of the path-integral E0: plain virial estimator vs zero-variance control variates.

The anharmonic oscillator V = x^2/2 + g x^4 on periodic paths of length T = 8/(E1 - E0), N = 64 neurons,
20000 samples (8 chains x 2500 after 400 warm-up steps, blackjax HMC as in `nqg fields path-integral`),
for each activation (relu, step, cosine) and g in {0.1, 1, 2}. Both estimators read the SAME samples:

- ``virial``: <(1/T) int [x V'/2 + V]> (nqg.fields.path_integral.ground_state_energy_virial);
- ``cv``: the same minus the least-squares combination of the zero-mean scaling identities
  u_i = y_i dS/dy_i - 1 (ground_state_energy_control_variates).

Printed per row: E0 +- error, the deviation from the exact E0 (oscillator_basis_spectrum, 200 states),
sigma/E0, the integrated autocorrelation time, and the effective sample size per second of sampling
wall time, ESS = Var(virial per sample)/sigma^2 (the number of independent virial samples worth the
same error); the control-variate fit's own time is added to its seconds. Timings exclude compilation
(one untimed run per activation first). Target (issue 13 section 4): sigma/E0 <= 0.4%, |E0/exact - 1| < 1%.

    .venv/bin/python benchmarks/path_integral_precision.py                      # full grid (9 runs)
    .venv/bin/python benchmarks/path_integral_precision.py --activations relu --g 1 --samples 4000
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import nqg  # noqa: F401  (float64)
from nqg.fields.path_integral import (
    ground_state_energy_control_variates,
    ground_state_energy_virial,
    make_path_network,
    make_potential,
    sample_path_integral,
)
from nqg.fields.quantum_mechanics import oscillator_basis_spectrum


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--activations", default="relu,step,cosine")
    parser.add_argument("--g", default="0.1,1,2")
    parser.add_argument("--neurons", type=int, default=64)
    parser.add_argument("--samples", type=int, default=20000, help="total over all chains")
    parser.add_argument("--chains", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    per_chain = -(-args.samples // args.chains)
    sizes = {"n_chains": args.chains, "n_samples": per_chain, "n_warmup": args.warmup, "block_size": 1}
    couplings = [float(v) for v in args.g.split(",")]
    print(
        f"N = {args.neurons}, {per_chain * args.chains} samples ({args.chains} chains), T = 8/gap, "
        f"HMC (3 leapfrog steps), float64"
    )
    head = (
        f"{'act':6s} {'g':>4s} {'E0_exact':>9s} {'estimator':9s} {'E0':>9s} {'error':>8s} "
        f"{'dev%':>7s} {'sigma/E0%':>9s} {'tau':>5s} {'ESS':>8s} {'ESS/s':>8s} {'target':>6s}"
    )
    print(head)
    for act in args.activations.split(","):
        for i, g in enumerate([couplings[0], *couplings]):
            V = make_potential("anharmonic", g)
            spec = oscillator_basis_spectrum(V, n_basis=200)
            T = 8.0 / spec.gap
            net = make_path_network(act, T, args.neurons, "periodic")
            t0 = time.perf_counter()
            s = sample_path_integral(net, V, seed=args.seed + i, **sizes)
            t_sample = time.perf_counter() - t0
            if i == 0:  # the untimed compilation run (sampler and error analysis)
                ground_state_energy_control_variates(s), ground_state_energy_virial(s)
                continue
            var = float(np.var(s.blocks["virial"]))
            t1 = time.perf_counter()
            cv = ground_state_energy_control_variates(s)
            t_cv = time.perf_counter() - t1
            for name, est, secs in (
                ("virial", ground_state_energy_virial(s), t_sample),
                ("cv", cv, t_sample + t_cv),
            ):
                ess = var / est.error**2
                dev, rel = est.mean / spec.E0 - 1, est.error / spec.E0
                ok = "ok" if rel <= 0.004 and abs(dev) < 0.01 else "MISS"
                print(
                    f"{act:6s} {g:4.1f} {spec.E0:9.5f} {name:9s} {est.mean:9.5f} {est.error:8.5f} "
                    f"{100 * dev:+7.3f} {100 * rel:9.3f} {est.tau:5.2f} {ess:8.0f} {ess / secs:8.0f} {ok:>6s}"
                )
            print(f"{'':11s} sampling {t_sample:.1f} s, acceptance {s.acceptance:.2f}, cv fit {t_cv:.2f} s")


if __name__ == "__main__":
    main()
