"""``nqg networks geodesic-fit``: a metric network fitted to observed trajectories (geodesics)."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Annotated, Any

import typer

from nqg.cli.apps import networks_app
from nqg.cli.common import JsonOpt, QuietOpt, SeedOpt, execute
from nqg.errors import NqgInputError


def read_trajectories_csv(path: Path) -> Any:
    """Read ``trajectory,t,x1,x2[,x3...]`` (one row per observed point, any order) into
    :class:`nqg.networks.geodesic.Trajectories` (each trajectory sorted by ``t``); NqgInputError naming the
    bad row or value otherwise."""
    import numpy as np

    from nqg.networks.geodesic import Trajectories

    path = Path(path)
    if not path.is_file():
        raise NqgInputError(f"trajectories file {str(path)!r} does not exist")
    try:
        with path.open(newline="") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise NqgInputError(f"cannot read {str(path)!r} as CSV: {exc}") from None
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise NqgInputError(f"{str(path)!r} is empty; expected a header trajectory,t,x1,x2[,x3...]")
    header = [c.strip() for c in rows[0]]
    dim = len(header) - 2
    expected = ["trajectory", "t"] + [f"x{i + 1}" for i in range(max(dim, 2))]
    if dim < 2 or header != expected:
        raise NqgInputError(
            f"{str(path)!r}: header {','.join(header)!r} is not trajectory,t,x1,x2[,x3...] "
            "(at least two coordinates, numbered from x1)"
        )
    groups: dict[str, list[list[float]]] = {}
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise NqgInputError(
                f"{str(path)!r} line {line}: {len(row)} columns, the header has {len(header)} "
                f"(trajectory, t and {dim} coordinates)"
            )
        label = row[0].strip()
        if not label:
            raise NqgInputError(f"{str(path)!r} line {line}: empty trajectory label")
        values = []
        for name, cell in zip(header[1:], row[1:], strict=True):
            try:
                value = float(cell)
            except ValueError:
                raise NqgInputError(
                    f"{str(path)!r} line {line}: {name} = {cell.strip()!r} is not a number"
                ) from None
            if not math.isfinite(value):
                raise NqgInputError(f"{str(path)!r} line {line}: {name} = {cell.strip()!r} is not finite")
            values.append(value)
        groups.setdefault(label, []).append(values)
    if not groups:
        raise NqgInputError(f"{str(path)!r} has a header but no data rows")
    times, positions, labels = [], [], []
    for label, values in groups.items():
        arr = np.asarray(values, dtype=np.float64)
        arr = arr[np.argsort(arr[:, 0], kind="stable")]
        if len(arr) < 3:
            raise NqgInputError(f"trajectory {label!r} has {len(arr)} points; at least 3 are needed")
        if np.any(np.diff(arr[:, 0]) <= 0):
            raise NqgInputError(f"trajectory {label!r} has two points at the same time t")
        times.append(arr[:, 0])
        positions.append(arr[:, 1:])
        labels.append(label)
    if len(labels) < 2:
        raise NqgInputError(
            f"{str(path)!r} has {len(labels)} trajectory; at least 2 are needed (one is held out)"
        )
    return Trajectories.from_list(times, positions, labels)


@networks_app.command("geodesic-fit")
def geodesic_fit(
    trajectories: Annotated[Path, typer.Argument(help="CSV with header trajectory,t,x1,x2[,x3...].")],
    out: Annotated[Path, typer.Option("--out", help="Output folder (result.json, metric.npz, figure).")],
    steps: Annotated[int, typer.Option("--steps", help="Adam steps of the fit.")] = 3000,
    width: Annotated[int, typer.Option("--width", help="Hidden width of the metric network.")] = 32,
    depth: Annotated[int, typer.Option("--depth", help="Hidden layers of the metric network.")] = 2,
    learning_rate: Annotated[
        float, typer.Option("--learning-rate", help="Initial Adam learning rate.")
    ] = 1e-2,
    heldout: Annotated[
        float, typer.Option("--heldout", help="Fraction of trajectories held out for prediction.")
    ] = 0.1,
    seed: SeedOpt = 0,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Fit a metric g_ij(x) (a positive-definite network) to observed trajectories, taken as geodesics with
    an affine time t; report the Gaussian curvature K (2D) over the region the data cover and how well
    held-out trajectories are predicted. The metric's constant scale is fixed by mean g(v, v) = 1."""
    if steps < 1:
        raise NqgInputError(f"--steps must be a positive integer, got {steps}")
    if width < 1 or depth < 1:
        raise NqgInputError(f"--width and --depth must be positive integers, got {width} and {depth}")
    if not (learning_rate > 0 and math.isfinite(learning_rate)):
        raise NqgInputError(f"--learning-rate must be a positive number, got {learning_rate}")
    if not (0 < heldout < 1):
        raise NqgInputError(f"--heldout must be a fraction in (0, 1), got {heldout}")
    traj = read_trajectories_csv(trajectories)
    params = {
        "trajectories_file": str(trajectories),
        "steps": steps,
        "width": width,
        "depth": depth,
        "learning_rate": learning_rate,
        "heldout": heldout,
    }

    def run(ctx):
        return geodesic_fit_result(traj, params, ctx)

    execute(Path(out), run, seed=seed, quiet=quiet, json_out=json_out)


def geodesic_fit_result(traj: Any, params: dict[str, Any], ctx: Any) -> Any:
    """Fit, evaluate and write ``metric.npz`` and ``curvature.png``; returns the Result."""
    import io

    import jax
    import matplotlib.pyplot as plt
    import numpy as np

    from nqg.networks import geodesic as geo
    from nqg.results import Result, atomic_write_bytes, save_figure

    n = len(traj)
    n_held = min(n - 1, max(1, round(params["heldout"] * n)))
    order = np.asarray(jax.random.permutation(jax.random.key(ctx.seed), n))
    held, train = traj.subset(np.sort(order[:n_held])), traj.subset(np.sort(order[n_held:]))
    fit = geo.fit_metric(
        train,
        jax.random.fold_in(jax.random.key(ctx.seed), 1),
        width=params["width"],
        depth=params["depth"],
        steps=params["steps"],
        learning_rate=params["learning_rate"],
        ctx=ctx,
    )
    result = Result(
        "networks-geodesic-fit",
        seed=ctx.seed,
        params={
            **params,
            "n_trajectories": n,
            "n_heldout": n_held,
            "dimension": traj.dim,
            "heldout_labels": held.labels,
        },
    )
    points = train.points()
    covered = geo.covered_region(train, points)
    use = covered if covered.any() else np.ones(len(points), bool)
    curvature = np.asarray(geo.curvature_at(fit.metric, points))
    name = "curvature" if traj.dim == 2 else "scalar_curvature"
    result.add_metric(f"{name}_mean", float(np.mean(curvature[use])))
    result.add_metric(f"{name}_std", float(np.std(curvature[use])))
    result.add_metric("covered_fraction", float(np.mean(covered)))
    pred = geo.predict_trajectories(fit.metric, held)
    result.add_metric("heldout_rms", geo.prediction_rms(pred, held))
    result.add_metric(
        "heldout_rms_flat_control", geo.prediction_rms(geo.straight_line_prediction(held), held)
    )
    result.add_metric("relative_residual", fit.relative_residual)
    result.add_metric("final_loss", float(fit.history["loss"][-1]))

    arrays = {
        "points": points,
        "curvature_points": curvature,
        "covered_points": covered,
        "metric_points": np.asarray(jax.vmap(fit.metric)(points)),
        **geo.metric_parameters(fit.metric),
    }
    if traj.dim == 2:
        cmap = geo.curvature_map(fit.metric, train)
        arrays.update(cmap)
        fig, ax = plt.subplots(figsize=(6, 5))
        geo.plot_curvature_map(ax, fig, cmap, train, title="Gaussian curvature K of the fitted metric")
        save_figure(fig, ctx.out_dir, "curvature.png", result)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(Path(ctx.out_dir) / "metric.npz", buf.getvalue())
    return result
