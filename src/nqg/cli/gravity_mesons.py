"""``nqg gravity mesons``: learn an AdS/QCD warp factor and dilaton from meson masses (arXiv:2005.02636)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nqg.cli.apps import gravity_app
from nqg.cli.common import JsonOpt, OutOpt, QuietOpt, SeedOpt, execute
from nqg.errors import NqgInputError


def validate(predict: int, members: int, degree: int, steps: int) -> None:
    """Check the numeric options (the CSV is checked by :func:`nqg.gravity.mesons.read_meson_csv`)."""
    if not 0 <= predict <= 10:
        raise NqgInputError(f"--predict must be an integer 0..10, got {predict}")
    if members < 1:
        raise NqgInputError(f"--members must be >= 1, got {members}")
    if not 1 <= degree <= 4:
        raise NqgInputError(f"--degree must be 1..4, got {degree}")
    if steps < 1:
        raise NqgInputError(f"--steps must be >= 1, got {steps}")


@gravity_app.command("mesons")
def mesons(
    data: Annotated[Path, typer.Option("--data", help="CSV with header spin,mass_GeV[,error_GeV][,name].")],
    predict: Annotated[int, typer.Option("--predict", help="Further states predicted per tower.")] = 2,
    members: Annotated[int, typer.Option("--members", help="Ensemble members (seeds) for the band.")] = 8,
    degree: Annotated[int, typer.Option("--degree", help="Powers of z^2 in A(z) + log z and Phi(z).")] = 2,
    steps: Annotated[int, typer.Option("--steps", help="L-BFGS iterations per member.")] = 200,
    seed: SeedOpt = 0,
    out: OutOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Learn A(z) and Phi(z) from the masses of one or more spin towers; writes the table `masses`
    (rows {spin, n, mass_GeV, error, input}; input false for the predicted states), profiles.csv and
    mesons.png. Masses of each spin must be listed in increasing order."""
    from nqg.gravity.mesons import read_meson_csv

    validate(predict, members, degree, steps)
    meson_data = read_meson_csv(data)
    out_dir = Path(out) if out is not None else Path("nqg-out") / "gravity-mesons"

    def run(ctx):
        return mesons_result(meson_data, str(data), predict, members, degree, steps, ctx)

    execute(out_dir, run, seed=seed, quiet=quiet, json_out=json_out)


def mesons_result(meson_data, source, predict, members, degree, steps, ctx):
    """Fit the ensemble and build the Result (table ``masses``, metrics, profiles.csv, figure)."""
    import jax
    import numpy as np

    from nqg.gravity.meson_experiments import meson_towers_result, profiles_figure, write_profiles
    from nqg.gravity.mesons import fit_meson_ensemble
    from nqg.results import Result

    params = {"data": source, "predict": predict, "members": members, "degree": degree, "steps": steps}
    result = Result("gravity-mesons", seed=ctx.seed, params=params)
    fit = fit_meson_ensemble(
        meson_data,
        members=members,
        degree=degree,
        steps=steps,
        resample=True,
        key=jax.random.key(ctx.seed),
        ctx=ctx,
    )
    best = float(np.min(fit.final_loss))
    ok = fit.final_loss <= 3.0 * best + 1e-8  # the best basin: each member has its own resampled masses
    result.add_metric("converged_members", int(ok.sum()))
    result.add_metric("loss_best", best)
    rows = meson_towers_result(fit, meson_data, predict, result, ok)
    dev = [abs(r["mass_GeV"] / meson_data.masses[r["spin"]][r["n"]] - 1) for r in rows if r["input"]]
    result.add_metric("max_rel_mass_deviation", max(dev))
    z = np.linspace(0.05, 8.0 / fit.profiles.scale, 160)
    band = write_profiles(fit, ok, ctx.out_dir, z)
    profiles_figure(
        band, meson_data, rows, ctx.out_dir, result, f"learned A(z), Phi(z) from {Path(source).name}"
    )
    return result
