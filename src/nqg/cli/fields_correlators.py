"""``nqg fields correlators``: measured vs predicted correlators of a random-network ensemble."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from nqg.cli.apps import fields_app
from nqg.cli.common import JsonOpt, OutOpt, QuietOpt, SeedOpt, execute
from nqg.errors import NqgInputError

MAX_TUPLES = 50_000


def parse_points(text: str) -> list[list[float]]:
    """'x1,x2' (d_in = 1) or 'x;y,x;y' (d_in = 2) -> list of points; NqgInputError if malformed."""
    groups = [g.strip() for g in text.split(",")]
    if not text.strip() or any(not g for g in groups):
        raise NqgInputError(
            f"--inputs: expected comma-separated points like '0.1,0.2' or '0.1;0.2,0.3;0.4', got {text!r}"
        )
    points = []
    for g in groups:
        coords = []
        for c in g.split(";"):
            try:
                v = float(c)
            except ValueError:
                raise NqgInputError(f"--inputs: {c.strip()!r} in point {g!r} is not a number") from None
            if not math.isfinite(v):
                raise NqgInputError(f"--inputs: {c.strip()!r} in point {g!r} is not a finite number")
            coords.append(v)
        points.append(coords)
    dims = {len(p) for p in points}
    if len(dims) != 1:
        raise NqgInputError(
            f"--inputs: points have inconsistent dimensions {sorted(dims)}; use the same number of ';' parts"
        )
    return points


def validate(net: str, width: int, nets: int, order: int, inputs: str) -> list[list[float]]:
    """Check every option; returns the parsed points."""
    from nqg.fields.nnft import ARCHITECTURE_NAMES

    if net not in ARCHITECTURE_NAMES:
        raise NqgInputError(f"--net: unknown network {net!r}; allowed: {', '.join(ARCHITECTURE_NAMES)}")
    if width <= 0:
        raise NqgInputError(f"--width must be a positive integer, got {width}")
    if nets < 2:
        raise NqgInputError(f"--nets must be at least 2 (errors need two blocks), got {nets}")
    if order < 2 or order % 2:
        raise NqgInputError(f"--order must be an even integer >= 2, got {order}")
    points = parse_points(inputs)
    n_tuples = sum(math.comb(len(points) + k - 1, k) for k in range(2, order + 1, 2))
    if n_tuples > MAX_TUPLES:
        raise NqgInputError(
            f"--inputs/--order give {n_tuples} input tuples; at most {MAX_TUPLES} are allowed"
        )
    return points


@fields_app.command("correlators")
def correlators(
    net: Annotated[str, typer.Option("--net", help="erf | relu | gauss | cos | cauchy")],
    width: Annotated[int, typer.Option("--width", help="Hidden width N.")],
    nets: Annotated[int, typer.Option("--nets", help="Number of networks in the ensemble.")],
    inputs: Annotated[str, typer.Option("--inputs", help="Points 'x1,x2,...'; for d_in > 1 'x;y,x;y'.")],
    order: Annotated[int, typer.Option("--order", help="Highest (even) correlator order.")] = 4,
    cutoff: Annotated[float, typer.Option("--cutoff", help="cos-net momentum cutoff Lambda.")] = 10.0,
    mass: Annotated[float, typer.Option("--mass", help="cos-net mass m (cauchy: omega).")] = 1.0,
    seed: SeedOpt = 0,
    out: OutOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Measure G_2, G_4, ... of a random-network ensemble at every multiset of --inputs and compare them
    with the Gaussian-process (infinite-width) prediction and the order-1/N prediction."""
    points = validate(net, width, nets, order, inputs)
    if not (cutoff > 0 and math.isfinite(cutoff)):
        raise NqgInputError(f"--cutoff must be a positive number, got {cutoff}")
    if not (mass > 0 and math.isfinite(mass)):
        raise NqgInputError(f"--mass must be a positive number, got {mass}")
    out_dir = Path(out) if out is not None else Path("nqg-out") / "fields-correlators"

    def run(ctx):
        return correlator_result(net, width, nets, points, order, cutoff, mass, ctx)

    execute(out_dir, run, seed=seed, quiet=quiet, json_out=json_out)


def correlator_result(net, width, nets, points, order, cutoff, mass, ctx):
    """Run the ensemble and build the Result (table ``correlators``, metrics m2, m4, ...)."""
    import sys

    import jax
    import numpy as np

    from nqg.fields.nnft import architecture, predict_correlators
    from nqg.fields.nnft_ensemble import estimate_correlators, normalized_deviation
    from nqg.results import Result

    d_in = len(points[0])
    arch = architecture(net, d_in, cutoff=cutoff, mass=mass)
    orders = tuple(range(2, order + 1, 2))
    est = estimate_correlators(
        arch,
        width,
        points,
        nets,
        jax.random.key(ctx.seed),
        orders=orders,
        progress=(not ctx.quiet) and sys.stderr.isatty(),
    )
    pred = predict_correlators(arch, width, points, orders)
    params = {"net": net, "width": width, "nets": nets, "inputs": points, "order": order}
    if net in ("cos", "cauchy"):
        params.update({"cutoff": cutoff, "mass": mass} if net == "cos" else {"omega": mass})
    result = Result("fields-correlators", seed=ctx.seed, params=params)
    pts = np.asarray(points)
    rows = []
    for n in orders:
        mean, err = est.mean(n), est.error(n)
        for i, t in enumerate(est.tuples[n]):
            x = [float(pts[j, 0]) if d_in == 1 else [float(v) for v in pts[j]] for j in t]
            rows.append(
                {
                    "order": n,
                    "inputs": x,
                    "measured": float(mean[i]),
                    "error": float(err[i]),
                    "gaussian": float(pred[n]["gaussian"][i]),
                    "order_1_over_n": float(pred[n]["order_1_over_n"][i]),
                }
            )
        m, m_err = normalized_deviation(est, pred, n)
        result.add_metric(f"m{n}", m, m_err)
    result.add_table("correlators", rows)
    return result
