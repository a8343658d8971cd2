"""Speed of the learner-ensemble engine: 10^6 one-parameter online-SGD learners for 10^4 steps.

Target (issue 9): under 30 s on 2 CPU cores. Prints the wall time (compilation excluded and reported
separately), the throughput in learner-steps per second, and checks the stationary temperature against the
exact discrete result so that a fast but wrong engine cannot pass.

    .venv/bin/python benchmarks/learner_ensemble.py [--learners N] [--steps K] [--float32]
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

import nqg  # noqa: F401  (float64 unless --float32)
from nqg.learning.ensemble import AdditiveNoise, quadratic, simulate, stationary_variance_quadratic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=1_000_000)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--float32", action="store_true")
    args = parser.parse_args()
    dtype = jnp.float32 if args.float32 else jnp.float64
    a, s, eta, batch = 1.0, 1.0, 0.1, 4
    learner = AdditiveNoise(quadratic(a), s, batch)
    q0 = jnp.zeros(args.learners, dtype)
    kw = {"learning_rate": eta, "steps": args.steps, "record_every": args.steps // 10}
    t0 = time.perf_counter()
    jax.block_until_ready(simulate(learner, q0, jax.random.key(1), **{**kw, "steps": kw["record_every"]}).q)
    t_compile = time.perf_counter() - t0  # includes one tenth of the work
    t0 = time.perf_counter()
    tr = simulate(learner, q0, jax.random.key(0), **kw)
    q = jax.block_until_ready(tr.q)
    wall = time.perf_counter() - t0
    var = float(jnp.var(q))
    exact = stationary_variance_quadratic(a, s, eta, batch)
    dev = var / exact - 1
    print(
        f"learners={args.learners} steps={args.steps} dtype={jnp.dtype(dtype).name} "
        f"devices={jax.device_count()} backend={jax.default_backend()}"
    )
    print(
        f"wall time {wall:.2f} s (target < 30 s for 10^6 x 10^4 on 2 cores); "
        f"{args.learners * args.steps / wall:.3g} learner-steps/s; first call incl. compile {t_compile:.2f} s"
    )
    print(
        f"check: a Var(q) / exact discrete T - 1 = {dev:+.4f} "
        f"(4 sqrt(2/N) = {4 * np.sqrt(2 / args.learners):.4f})"
    )


if __name__ == "__main__":
    main()
