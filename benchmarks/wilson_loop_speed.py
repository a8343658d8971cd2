"""V(d) of one metric at 200 separations (issue target: < 2 s), and the accuracy of the integrals.

Prints, for pure AdS, AdS-Schwarzschild (T = 1/pi) and the Table II metric (both assumptions): the
wall time of `wilson_loop(metric, n_separations=200)` (best of 5, after a warm-up), and for the exact
cases the deviations from 1.19814 e^{-eta0}, -1.43554, 0.8691 and 0.7541 against the number of
Gauss-Legendre nodes. Run: .venv/bin/python benchmarks/wilson_loop_speed.py
"""

from __future__ import annotations

import math
import time

import numpy as np

from nqg.gravity.emergent_metric import ads_schwarzschild_metric, pure_ads_metric, table2_metric
from nqg.gravity.wilson_loop import ADS_D_COEFF, ADS_DV, separation_and_energy, wilson_loop


def best_of(fn, n=5):
    fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    metrics = {
        "pure AdS": pure_ads_metric(),
        "AdS-Schwarzschild T=1/pi": ads_schwarzschild_metric(1 / math.pi),
        "Table II (i) exp": table2_metric("exp"),
        "Table II (ii) cosh": table2_metric("cosh"),
    }
    print(f"{'metric':<28} {'200 separations [s]':>20}")
    for name, m in metrics.items():
        print(f"{name:<28} {best_of(lambda m=m: wilson_loop(m, n_separations=200)):>20.3f}")
    print("\nnodes   |d e^eta0 - coeff|   |d V - (-1.43554..)|   d_max - 0.8691   zero - 0.7541")
    for n in (8, 16, 32, 64, 128):
        d, e = separation_and_energy(pure_ads_metric(), np.array([0.0]), n)
        c = wilson_loop(ads_schwarzschild_metric(1 / math.pi), np.array([0.5]), n_nodes=n)
        print(
            f"{n:>5} {abs(d[0] - ADS_D_COEFF):>20.2e} {abs(d[0] * e[0] - ADS_DV):>22.2e} "
            f"{c.max_separation - 0.8691:>16.2e} {c.screening_distance - 0.7541:>14.2e}"
        )


if __name__ == "__main__":
    main()
