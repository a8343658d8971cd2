"""``nqg networks align A.npz B.npz``: permutation alignment and norm balancing of one MLP onto another,
and the loss barrier on the straight line between them before and after alignment."""

from __future__ import annotations

import io
import math
import re
from pathlib import Path
from typing import Annotated

import typer

from nqg.cli.apps import networks_app
from nqg.cli.common import JsonOpt, OutOpt, QuietOpt, SeedOpt, execute
from nqg.errors import NqgInputError


def read_mlp_npz(path: Path, what: str) -> list:
    """``[(W_l, b_l)]`` from an npz with arrays ``W0, b0, W1, b1, ...`` (``W_l: (out, in)``); NqgInputError
    for a missing file or array, shapes that do not chain, or NaN/inf."""
    import numpy as np

    from nqg.networks.symmetries import check_mlp_params

    path = Path(path)
    if not path.is_file():
        raise NqgInputError(f"{what}: file {str(path)!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k]) for k in data.files}
    except Exception as exc:
        raise NqgInputError(f"{what}: {str(path)!r} is not a readable .npz file ({exc})") from None
    layers = sorted(int(m.group(1)) for k in arrays if (m := re.fullmatch(r"W(\d+)", k)))
    if not layers:
        raise NqgInputError(
            f"{what}: {str(path)!r} has no arrays W0, b0, W1, b1, ... (found {sorted(arrays)})"
        )
    pairs = []
    for i in range(len(layers)):
        for name in (f"W{i}", f"b{i}"):
            if name not in arrays:
                raise NqgInputError(f"{what}: {str(path)!r} is missing array {name!r}")
            if not np.issubdtype(arrays[name].dtype, np.floating):
                raise NqgInputError(
                    f"{what}: array {name!r} must be floating point, got {arrays[name].dtype}"
                )
        pairs.append((arrays[f"W{i}"], arrays[f"b{i}"]))
    if layers != list(range(len(layers))):
        raise NqgInputError(
            f"{what}: weight arrays must be W0..W{len(layers) - 1} without gaps, got {layers}"
        )
    check_mlp_params(pairs, f"{what} ({path.name})")
    return pairs


def read_data_npz(path: Path, n_in: int, n_out: int) -> tuple:
    """Arrays ``x: (n, n_in)`` and ``y: (n, n_out)`` (or ``(n,)`` when ``n_out = 1``) from ``--data``."""
    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise NqgInputError(f"--data: file {str(path)!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k]) for k in data.files}
    except Exception as exc:
        raise NqgInputError(f"--data: {str(path)!r} is not a readable .npz file ({exc})") from None
    for name in ("x", "y"):
        if name not in arrays:
            raise NqgInputError(f"--data: {str(path)!r} is missing array {name!r} (needs x and y)")
    x, y = arrays["x"], arrays["y"]
    if x.ndim == 1 and n_in == 1:
        x = x[:, None]
    if y.ndim == 1 and n_out == 1:
        y = y[:, None]
    if x.ndim != 2 or x.shape[1] != n_in or x.shape[0] < 1:
        raise NqgInputError(f"--data: x has shape {x.shape}, expected (n, {n_in}) for these networks")
    if y.shape != (x.shape[0], n_out):
        raise NqgInputError(f"--data: y has shape {y.shape}, expected ({x.shape[0]}, {n_out})")
    for name, arr in (("x", x), ("y", y)):
        if not np.issubdtype(arr.dtype, np.number) or not np.all(np.isfinite(arr)):
            raise NqgInputError(f"--data: array {name!r} must be finite numbers")
    return x.astype(np.float64), y.astype(np.float64)


@networks_app.command("align")
def align_command(
    a: Annotated[Path, typer.Argument(help="Reference MLP: npz with W0, b0, W1, b1, ... (W: (out, in)).")],
    b: Annotated[Path, typer.Argument(help="MLP to align onto A (same architecture).")],
    activation: Annotated[
        str,
        typer.Option(
            "--activation", help="Hidden activation: relu, leaky_relu, tanh, sin, gelu, sigmoid, softplus."
        ),
    ] = "relu",
    data: Annotated[
        Path | None,
        typer.Option(
            "--data", help="npz with x (n, in) and y (n, out): the barrier uses their mean squared error."
        ),
    ] = None,
    points: Annotated[int, typer.Option("--points", help="Points on the straight line A -> B.")] = 25,
    samples: Annotated[
        int, typer.Option("--samples", help="Without --data: Gaussian inputs for the functional barrier.")
    ] = 1024,
    seed: SeedOpt = 0,
    out: OutOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Align B to A (weight matching; ReLU norm balancing, or sign fixing for odd activations), write
    aligned.npz, and measure the loss barrier on the straight line before and after alignment.

    The barrier is max_t L(t) - (L(0) + L(1))/2. With --data, L is the mean squared error on (x, y);
    without it, L(t) = mean |f_theta(t)(x) - (1-t) f_A(x) - t f_B(x)|^2 on Gaussian inputs x."""
    from nqg.networks.symmetries import ACTIVATIONS

    if activation not in ACTIVATIONS or activation == "linear":
        allowed = ", ".join(k for k in ACTIVATIONS if k != "linear")
        raise NqgInputError(f"--activation: unknown activation {activation!r}; allowed: {allowed}")
    if points < 3:
        raise NqgInputError(f"--points must be at least 3, got {points}")
    if samples < 1:
        raise NqgInputError(f"--samples must be a positive integer, got {samples}")
    params_a = read_mlp_npz(a, "A")
    params_b = read_mlp_npz(b, "B")
    shapes_a = [w.shape for w, _ in params_a]
    shapes_b = [w.shape for w, _ in params_b]
    if shapes_a != shapes_b:
        raise NqgInputError(f"A and B have different architectures: weight shapes {shapes_a} vs {shapes_b}")
    xy = read_data_npz(data, shapes_a[0][1], shapes_a[-1][0]) if data is not None else None
    out_dir = Path(out) if out is not None else Path("nqg-out") / "networks-align"

    def run(ctx):
        return align_result(params_a, params_b, activation, xy, points, samples, ctx, str(a), str(b))

    execute(out_dir, run, seed=seed, quiet=quiet, json_out=json_out)


def align_result(params_a, params_b, activation, xy, points, samples, ctx, name_a="A", name_b="B"):
    """Align, write ``aligned.npz`` and the barrier figure, and build the Result."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from nqg.networks.canonical import align, functional_barrier, loss_along_line, loss_barrier, mse
    from nqg.results import Result, atomic_write_bytes, save_figure

    dtype_b = params_b[0][0].dtype
    al = align(params_a, params_b, activation)
    aligned = [(np.asarray(w, dtype_b), np.asarray(bb, dtype_b)) for w, bb in al.aligned]
    buf = io.BytesIO()
    np.savez(buf, **{k: v for i, (w, bb) in enumerate(aligned) for k, v in ((f"W{i}", w), (f"b{i}", bb))})
    atomic_write_bytes(Path(ctx.out_dir) / "aligned.npz", buf.getvalue())

    if xy is not None:
        x, y = xy

        def loss_fn(p):
            return mse(p, x, y, activation)

        ts, before = loss_along_line(loss_fn, params_a, params_b, points)
        _, after = loss_along_line(loss_fn, params_a, al.aligned, points)
        loss_kind = "mse on --data"
    else:
        rng = np.random.default_rng(ctx.seed)
        x = rng.standard_normal((samples, params_a[0][0].shape[1]))
        ts, before = functional_barrier(params_a, params_b, x, activation, points)
        _, after = functional_barrier(params_a, al.aligned, x, activation, points)
        loss_kind = "functional (Gaussian inputs)"

    params = {
        "A": name_a,
        "B": name_b,
        "activation": activation,
        "points": points,
        "widths": [int(w.shape[0]) for w, _ in params_a],
        "barrier_loss": loss_kind,
        "balanced": al.balanced,
    }
    if xy is None:
        params["samples"] = samples
    result = Result("networks-align", seed=ctx.seed, params=params)
    result.add_metric("max_param_diff", al.max_param_diff)
    result.add_metric("barrier_before", loss_barrier(before))
    result.add_metric("barrier_after", loss_barrier(after))
    if xy is not None:
        result.add_table(
            "barrier",
            [
                {"t": float(t), "loss_before": float(lb), "loss_after": float(la)}
                for t, lb, la in zip(ts, before, after, strict=True)
            ],
        )
    if math.isfinite(float(np.max(before))):
        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.plot(ts, before, "o-", label="before alignment")
        ax.plot(ts, after, "s-", label="after alignment")
        ax.set_xlabel("t  (theta = (1 - t) theta_A + t theta_B)")
        ax.set_ylabel("loss")
        ax.legend()
        save_figure(fig, ctx.out_dir, "barrier.png", result)
    return result
