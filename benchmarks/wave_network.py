"""Speed of the local recurrent wave network: a 512 x 512 lattice for 2000 steps (issue 10: < 30 s, 2 cores).

The network is ``x(t+1) = 2x - x(t-1) + kappa c^2(sigma) Lap x - kappa m^2 x`` with sparse local weights
(``nqg.learning.wave_network``), here with the lens ``c^2 = 1 - 0.3 exp(-r^2/R^2)``, stepped in one jitted
``lax.scan``. The script times the first call (compile + run) and the median of ``--repeats`` further calls
(run only), and prints site updates per second. Reference: the same update written as plain numpy
(``np.roll``), timed on ``--numpy-steps`` steps and scaled to the full run.

Usage: ``python benchmarks/wave_network.py [--size 512] [--steps 2000] [--dtype float64]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    parser.add_argument("--numpy-steps", type=int, default=100)
    args = parser.parse_args()

    import jax
    import jax.numpy as jnp

    import nqg  # noqa: F401  (float64)
    from nqg.learning.optical_geodesic import lens_speed
    from nqg.learning.wave_network import evolve, gaussian_packet, wave_network

    n, steps = args.size, args.steps
    dtype = jnp.float32 if args.dtype == "float32" else jnp.float64
    net = wave_network(lens_speed(n / 8, (n / 2, n / 2)), kappa=0.25, shape=(n, n), dtype=dtype)
    x_prev, x = gaussian_packet(net, (n / 4, n / 4), (0.0, 0.4), 8.0, omega=0.4)

    def run():
        (_, xT), _ = evolve(net, x_prev, x, steps)
        return xT.block_until_ready()

    t0 = time.perf_counter()
    run()
    first = time.perf_counter() - t0
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    median = float(np.median(times))

    # plain numpy reference of the same update
    c2 = np.asarray(net.speed_squared())
    xp, xc = np.asarray(x_prev), np.asarray(x)
    t0 = time.perf_counter()
    for _ in range(args.numpy_steps):
        lap = np.roll(xc, 1, 0) + np.roll(xc, -1, 0) + np.roll(xc, 1, 1) + np.roll(xc, -1, 1) - 4 * xc
        xp, xc = xc, 2 * xc - xp + 0.25 * c2 * lap
    numpy_full = (time.perf_counter() - t0) * steps / args.numpy_steps

    print(
        f"wave network {n}x{n}, {steps} steps, {args.dtype}, backend {jax.default_backend()}, "
        f"{jax.device_count()} device(s)"
    )
    print(f"  first call (compile + run): {first:8.2f} s")
    print(
        f"  run (median of {args.repeats}):      {median:8.2f} s   target < 30 s   "
        f"{'OK' if median < 30 else 'SLOW'}"
    )
    print(f"  site updates per second:    {n * n * steps / median:10.3e}")
    print(
        f"  plain numpy (scaled):       {numpy_full:8.2f} s   ratio numpy / nqg = {numpy_full / median:.2f}"
    )


if __name__ == "__main__":
    main()
