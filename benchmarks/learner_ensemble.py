"""Speed of the learner-ensemble engine: 10^6 one-parameter online-SGD learners for 10^4 steps.

Target (issue 9): under 30 s on 2 CPU cores. Prints, for the engine (``nqg.learning.ensemble.simulate``:
per-learner Threefry counter streams, Box-Muller normals, learners sharded over ``--devices`` devices):

* the wall and CPU time (compilation excluded and reported separately), the throughput in learner-steps
  per second, and the projected wall time for 10^6 x 10^4 learner-steps;
* in the same run, the noise of the previous engine (one ``jax.random.normal(fold_in(key, n), (N,))`` per
  step: JAX's Threefry, rolled on CPU, and ``erfinv``) in the same scan, as a ratio;
* the stationary temperature against the exact discrete result, so that a fast but wrong engine cannot pass.

On an AVX-512 CPU the engine compiles its scan with 512-bit vectors
(``nqg.devices.wide_vector_compiler_options``; printed as ``wide vectors``); ``--vector-width`` sets the XLA
flag for every program, the baseline included.

On a CPU, XLA runs one device's loop on one core: ``--devices`` (default: all cores) simulates that many
host devices (``XLA_FLAGS=--xla_force_host_platform_device_count``, set here before JAX starts) so that the
learners are split over the cores. On a loaded machine compare the CPU time per learner-step.

    .venv/bin/python benchmarks/learner_ensemble.py [--learners N] [--steps K] [--float32] [--devices D]
        [--vector-width 512] [--no-baseline]
"""

from __future__ import annotations

import argparse
import os
import time


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=1_000_000)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--float32", action="store_true")
    parser.add_argument("--devices", type=int, default=os.cpu_count() or 1, help="host devices (CPU cores)")
    parser.add_argument(
        "--vector-width", type=int, default=None, help="XLA CPU prefer_vector_width (e.g. 512 on AVX-512)"
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the previous engine's noise")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each (interleaved); best kept")
    return parser.parse_args()


def main() -> None:
    args = _parse()
    flags = [os.environ.get("XLA_FLAGS", ""), f"--xla_force_host_platform_device_count={args.devices}"]
    if args.vector_width:
        flags.append(f"--xla_cpu_prefer_vector_width={args.vector_width}")
    os.environ["XLA_FLAGS"] = " ".join(f for f in flags if f)

    import jax
    import jax.numpy as jnp
    import numpy as np

    import nqg  # noqa: F401  (float64 unless --float32)
    from nqg import devices as nqg_devices
    from nqg.learning.ensemble import AdditiveNoise, quadratic, simulate, stationary_variance_quadratic

    dtype = jnp.float32 if args.float32 else jnp.float64
    n, k = args.learners, args.steps
    a, s, eta, batch = 1.0, 1.0, 0.1, 4
    learner = AdditiveNoise(quadratic(a), s, batch)
    q0 = jnp.zeros(n, dtype)
    every = max(1, k // 10) if k % max(1, k // 10) == 0 else k
    kw = {"learning_rate": eta, "steps": k, "record_every": every, "n_devices": args.devices}

    def timed(fn):
        c0, t0 = os.times(), time.perf_counter()
        out = jax.block_until_ready(fn())
        wall, c1 = time.perf_counter() - t0, os.times()
        return out, wall, (c1.user - c0.user) + (c1.system - c0.system)

    sharding = jax.sharding.NamedSharding(
        nqg_devices.mesh(args.devices), jax.sharding.PartitionSpec(nqg_devices.WORK_AXIS)
    )
    n_pad = nqg_devices.padded_length(n, args.devices)

    @jax.jit
    def previous_noise(q, key):  # one ensemble-shaped jax.random.normal per step, same update
        def step(q, t):
            z = jax.random.normal(jax.random.fold_in(key, t), q.shape, q.dtype)
            q = q - eta * (a * q - float(s / np.sqrt(batch)) * z)
            return jax.lax.with_sharding_constraint(q, sharding), None

        return jax.lax.scan(step, q, jnp.arange(k, dtype=jnp.uint32))[0]

    qp = jax.device_put(jnp.zeros(n_pad, dtype), sharding)
    _, t_first, _ = timed(lambda: simulate(learner, q0, jax.random.key(1), **kw).q)  # compile + run
    if not args.no_baseline:
        timed(lambda: previous_noise(qp, jax.random.key(1)))
    engine, previous = [], []
    for _ in range(max(1, args.repeats)):  # interleaved, so that a changing load hits both alike
        tr, wall, cpu = timed(lambda: simulate(learner, q0, jax.random.key(0), **kw))
        engine.append((wall, cpu))
        if not args.no_baseline:
            previous.append(timed(lambda: previous_noise(qp, jax.random.key(0)))[1:])
    wall, cpu = min(w for w, _ in engine), min(c for _, c in engine)
    rate = n * k / wall
    print(
        f"learners={n} steps={k} dtype={jnp.dtype(dtype).name} devices={args.devices} "
        f"backend={jax.default_backend()} XLA_FLAGS='{os.environ['XLA_FLAGS']}' cores={os.cpu_count()} "
        f"load(1 min)={os.getloadavg()[0]:.2f}; wide vectors={nqg_devices.wide_vector_compiler_options()}; "
        f"best of {len(engine)} runs"
    )
    print(
        f"engine: wall {wall:.2f} s, CPU {cpu:.2f} s, {rate:.3g} learner-steps/s "
        f"({cpu / (n * k) * 1e9:.2f} CPU-ns per learner-step); first call incl. compile {t_first:.2f} s"
    )
    print(
        f"projected wall time for 10^6 learners x 10^4 steps: {1e10 / rate:.1f} s (target < 30 s on 2 idle "
        f"cores); from CPU time on {args.devices} busy cores: {1e10 * cpu / (n * k) / args.devices:.1f} s"
    )
    var = float(jnp.var(tr.q))
    exact = stationary_variance_quadratic(a, s, eta, batch)
    print(
        f"check: a Var(q) / exact discrete T - 1 = {var / exact - 1:+.4f} "
        f"(4 sqrt(2/N) = {4 * np.sqrt(2 / n):.4f})"
    )
    if previous:
        wall_b, cpu_b = min(w for w, _ in previous), min(c for _, c in previous)
        print(
            f"previous engine's noise (jax.random.normal per step, not per learner): wall {wall_b:.2f} s, "
            f"CPU {cpu_b:.2f} s; engine / previous: wall {wall / wall_b:.2f}, CPU {cpu / cpu_b:.2f}"
        )


if __name__ == "__main__":
    main()
