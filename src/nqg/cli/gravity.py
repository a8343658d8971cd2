"""``nqg gravity fit`` and ``nqg gravity predict``: the emergent bulk of the user's condensate table."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from nqg.cli.apps import gravity_app
from nqg.cli.common import JsonOpt, OutOpt, QuickOpt, QuietOpt, SeedOpt, execute, parse_float_list
from nqg.errors import NqgInputError


@gravity_app.command("fit")
def fit_command(
    data: Annotated[Path, typer.Argument(help="CSV: quark_mass_GeV,condensate_GeV3[,condensate_error_GeV3]")],
    method: Annotated[
        str, typer.Option("--method", help="regression (F = 0 on the points) | paper")
    ] = "regression",
    seeds: Annotated[int, typer.Option("--seeds", help="Ensemble size (error bars over seeds).")] = 10,
    member_by_member: Annotated[
        bool,
        typer.Option(
            "--member-by-member",
            help="Each device loops over its members: bitwise the same members on any device count "
            "(slower; default: one vectorised batch, equal up to rounding).",
        ),
    ] = False,
    seed: SeedOpt = 0,
    out: OutOpt = None,
    quick: QuickOpt = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Learn the emergent bulk metric h(eta), the AdS radius L and lambda from your condensate table.

    Writes DIR/result.json, DIR/metric.csv (eta, h_mean, h_std), DIR/model.npz (for `nqg gravity
    predict`) and DIR/metric.png. The members train split over the devices in use (`nqg --devices N
    gravity fit ...`; default: all visible), recorded as params.devices; member i draws from the global
    stream fold_in(key, i), so the device count does not change the members beyond rounding (a long
    regression amplifies that rounding; `--member-by-member` makes the members bitwise independent of
    the device count, at a cost in speed). Recorded as params.member_by_member.
    """
    from nqg.gravity.holography import fit_condensate, read_condensate_csv

    if method not in ("regression", "paper"):
        raise NqgInputError(f"--method must be 'regression' or 'paper', got {method!r}")
    if seeds < 1 or seeds > 1000:
        raise NqgInputError(f"--seeds must be between 1 and 1000, got {seeds}")
    m_q, sigma, err = read_condensate_csv(data)  # validates before anything is written
    if out is None:
        out = Path("runs") / f"gravity-fit-{data.stem}-{method}"

    def body(ctx):
        return fit_condensate(
            m_q,
            sigma,
            err,
            method=method,
            n_members=seeds,
            seed=seed,
            quick=quick,
            ctx=ctx,
            source=str(data),
            member_by_member=member_by_member,
        )

    execute(out, body, seed=seed, quick=quick, quiet=quiet, json_out=json_out)


@gravity_app.command("predict")
def predict_command(
    model: Annotated[Path, typer.Option("--model", help="Folder written by `nqg gravity fit`.")],
    quark_mass: Annotated[str, typer.Option("--quark-mass", help="Comma-separated quark masses in GeV.")],
    json_out: JsonOpt = False,
) -> None:
    """Predict the chiral condensate at given quark masses: the sigma with F(m_q, sigma) = 0, per member."""
    from nqg.gravity.holography import load_ensemble, predict_from_model

    masses = parse_float_list(quark_mass, "--quark-mass")
    bad = [m for m in masses if m < 0]
    if bad:
        raise NqgInputError(f"--quark-mass must be >= 0 GeV, got {bad[0]}")
    load_ensemble(model)  # NqgInputError if the folder is not a fitted model
    rows = predict_from_model(model, masses)
    if json_out:
        sys.stdout.write(
            json.dumps(
                [{k: r[k] for k in ("quark_mass_GeV", "condensate_GeV3", "spread_GeV3")} for r in rows]
            )
            + "\n"
        )
        return
    for r in rows:
        if r["condensate_GeV3"] is None:
            print(f"m_q = {r['quark_mass_GeV']:.6g} GeV: no root of the horizon condition in [0, 0.3] GeV^3")
        else:
            print(
                f"m_q = {r['quark_mass_GeV']:.6g} GeV: <qbar q> = {r['condensate_GeV3']:.6g} "
                f"± {r['spread_GeV3']:.2g} GeV^3 ({r['members']} members)"
            )
