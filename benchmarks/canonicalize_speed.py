"""Time the invariance checks and the canonicalisation of a 3-hidden-layer MLP of width 1024.

Prints the wall time of: the permutation and rescaling invariance checks (forward passes of the original
and transformed networks on 256 inputs), ReLU norm balancing of both networks, weight matching
(scipy linear_sum_assignment) and the full `align` that recovers A from a permuted + rescaled copy.
Target (issue 8): under 2 s on the CI machine (2 CPU cores).

    .venv/bin/python benchmarks/canonicalize_speed.py [--width 1024] [--input 784]
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

import nqg  # noqa: F401  (float64)
from nqg.networks.canonical import align, balance_relu, match_permutations
from nqg.networks.symmetries import (
    mlp_apply,
    permute_neurons,
    random_log_scales,
    random_mlp_params,
    random_permutations,
    relative_change,
    rescale_neurons,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--input", type=int, default=784)
    parser.add_argument("--output", type=int, default=10)
    args = parser.parse_args()
    sizes = (args.input, args.width, args.width, args.width, args.output)
    A = [(np.asarray(w), np.asarray(b)) for w, b in random_mlp_params(jax.random.key(0), sizes)]
    perms = [np.asarray(p) for p in random_permutations(jax.random.key(1), A)]
    scales = [np.asarray(g) for g in random_log_scales(jax.random.key(2), A)]
    x = np.random.default_rng(0).standard_normal((256, args.input))

    t0 = time.perf_counter()
    P = permute_neurons(A, perms)
    B = rescale_neurons(P, scales)
    f0 = mlp_apply(A, x)
    dp = relative_change(f0, mlp_apply(P, x))
    dr = relative_change(f0, mlp_apply(B, x))
    B = [(np.asarray(w), np.asarray(b)) for w, b in B]
    t_inv = time.perf_counter() - t0

    t0 = time.perf_counter()
    a_bal, _ = balance_relu(A)
    b_bal, _ = balance_relu(B)
    t_bal = time.perf_counter() - t0
    t0 = time.perf_counter()
    match_permutations(a_bal, b_bal)
    t_match = time.perf_counter() - t0
    t0 = time.perf_counter()
    al = align(A, B, "relu")
    t_align = time.perf_counter() - t0

    print(f"MLP {'-'.join(map(str, sizes))} (float64)")
    print(f"invariance checks (permutation {dp:.1e}, rescaling {dr:.1e}): {t_inv:.3f} s")
    print(f"norm balancing of A and B:  {t_bal:.3f} s")
    print(f"weight matching:            {t_match:.3f} s")
    print(
        f"align (balance + match + A's gauge), max |theta - theta_A| = {al.max_param_diff:.1e}: "
        f"{t_align:.3f} s"
    )
    total = t_inv + t_align
    print(
        f"invariance checks + canonicalisation: {total:.3f} s "
        f"(target < 2 s): {'PASS' if total < 2 else 'FAIL'}"
    )


if __name__ == "__main__":
    main()
