"""``nqg learning sgd-ensemble``: an ensemble of online-SGD learners, its temperature and density."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from nqg.cli.apps import learning_app
from nqg.cli.common import JsonOpt, OutOpt, QuietOpt, SeedOpt, execute
from nqg.errors import NqgInputError

MAX_WORK = 10**12  # learners x steps


def validate(
    potential: str,
    curvature: float,
    noise: float,
    lr: float,
    batch: int,
    learners: int,
    steps: int,
    momentum: float,
) -> None:
    """Check every option; NqgInputError naming the bad value and what is allowed."""
    from nqg.learning.ensemble import POTENTIAL_NAMES

    if potential not in POTENTIAL_NAMES:
        raise NqgInputError(
            f"--potential: unknown potential {potential!r}; allowed: {', '.join(POTENTIAL_NAMES)}"
        )
    for name, value in (("--curvature", curvature), ("--lr", lr)):
        if not (math.isfinite(value) and value > 0):
            raise NqgInputError(f"{name} must be a positive number, got {value}")
    if not (math.isfinite(noise) and noise >= 0):
        raise NqgInputError(f"--noise must be a non-negative number, got {noise}")
    if batch < 1:
        raise NqgInputError(f"--batch must be a positive integer, got {batch}")
    if learners < 2:
        raise NqgInputError(f"--learners must be at least 2 (a variance needs two), got {learners}")
    if steps < 1:
        raise NqgInputError(f"--steps must be a positive integer, got {steps}")
    if not (math.isfinite(momentum) and 0 <= momentum < 1):
        raise NqgInputError(f"--momentum must be in [0, 1), got {momentum}")
    if learners * steps > MAX_WORK:
        raise NqgInputError(f"--learners x --steps = {learners * steps} exceeds the limit {MAX_WORK}")
    if potential == "quadratic" and lr * curvature >= 2 * (1 + momentum):
        raise NqgInputError(
            f"--lr {lr} x --curvature {curvature} = {lr * curvature:g}: SGD on the quadratic diverges for "
            f"eta a >= 2 (1 + momentum) = {2 * (1 + momentum):g}; use a smaller --lr"
        )


@learning_app.command("sgd-ensemble")
def sgd_ensemble(
    potential: Annotated[
        str, typer.Option("--potential", help="quadratic | double-well | quartic")
    ] = "quadratic",
    curvature: Annotated[
        float, typer.Option("--curvature", help="A: a q^2/2, a (q^2-1)^2 or a q^4/4.")
    ] = 1.0,
    noise: Annotated[
        float, typer.Option("--noise", help="S: per-sample gradient noise xi ~ N(0, S^2).")
    ] = 1.0,
    lr: Annotated[float, typer.Option("--lr", help="Learning rate eta.")] = 0.1,
    batch: Annotated[int, typer.Option("--batch", help="Mini-batch size B.")] = 1,
    learners: Annotated[int, typer.Option("--learners", help="Number of independent learners N.")] = 100_000,
    steps: Annotated[int, typer.Option("--steps", help="SGD steps K (time t = eta K).")] = 1000,
    momentum: Annotated[float, typer.Option("--momentum", help="Heavy-ball momentum M in [0, 1).")] = 0.0,
    seed: SeedOpt = 0,
    out: OutOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Run N online-SGD learners on V(q) with per-sample loss V(q) - xi q and report the stationary
    temperature (a Var(q) for the quadratic, the virial <q V'(q)> otherwise), T = eta S^2/(2B(1-M)),
    hbar_eff = 2T and the density p(q)."""
    validate(potential, curvature, noise, lr, batch, learners, steps, momentum)
    out_dir = Path(out) if out is not None else Path("nqg-out") / "learning-sgd-ensemble"

    def run(ctx):
        return sgd_ensemble_result(potential, curvature, noise, lr, batch, learners, steps, momentum, ctx)

    execute(out_dir, run, seed=seed, quiet=quiet, json_out=json_out)


def sgd_ensemble_result(potential, curvature, noise, lr, batch, learners, steps, momentum, ctx):
    """Simulate and build the Result (metrics, a ``density`` table and figure)."""
    import jax
    import jax.numpy as jnp
    import matplotlib.pyplot as plt
    import numpy as np

    from nqg.errors import TrainingDivergedError
    from nqg.learning.ensemble import (
        AdditiveNoise,
        ensemble_histogram,
        ensemble_moments,
        hbar_eff,
        potential_from_name,
        simulate,
        stationary_variance_quadratic,
    )
    from nqg.results import Result, save_figure, write_csv

    pot = potential_from_name(potential, curvature)
    q0 = jnp.zeros(learners)
    tr = simulate(  # learners laid out over nqg.devices.device_count() devices (--devices)
        AdditiveNoise(pot, noise, batch),
        q0,
        jax.random.key(ctx.seed),
        learning_rate=lr,
        steps=steps,
        momentum=momentum,
    )
    # moments, the virial and the histogram are reduced where the learners live (across devices)
    mom = ensemble_moments(tr.q, tr.q * pot.gradient(tr.q))
    if not (np.isfinite(mom["mean"]) and np.isfinite(mom["m4"]) and np.isfinite(mom["weight_mean"])):
        raise TrainingDivergedError(f"SGD diverged (non-finite q) at --lr {lr}; use a smaller learning rate")
    params = {
        "potential": potential,
        "curvature": curvature,
        "noise": noise,
        "lr": lr,
        "batch": batch,
        "learners": learners,
        "steps": steps,
        "momentum": momentum,
        "time": lr * steps,
    }
    res = Result("learning-sgd-ensemble", seed=ctx.seed, params=params)
    var, var_err = float(mom["variance"]), float(mom["variance_error"])
    t_cont = lr * noise**2 / (2 * batch * (1 - momentum))
    if potential == "quadratic":
        t_meas, t_err = curvature * var, curvature * var_err
        t_disc = curvature * stationary_variance_quadratic(curvature, noise, lr, batch, momentum)
        res.add_metric("temperature_exact_discrete", t_disc)
    else:  # virial theorem for a Boltzmann density: <q V'(q)> = T
        t_meas, t_err = float(mom["weight_mean"]), float(mom["weight_error"])
    res.add_metric("temperature", t_meas, t_err)
    res.add_metric("temperature_continuum", t_cont)
    res.add_metric("hbar_eff", hbar_eff(t_meas), hbar_eff(t_err))
    res.add_metric("variance", var, var_err)
    res.add_reference(
        "hbar_eff", hbar_eff(t_cont), source="convention hbar_eff = 2T, m = 1 (D = hbar/2m = T)"
    )
    spread, mean = max(np.sqrt(var), 1e-12), float(mom["mean"])
    lo, hi = max(float(mom["min"]), mean - 6 * spread), min(float(mom["max"]), mean + 6 * spread)
    if not hi > lo:
        lo, hi = lo - 1.0, hi + 1.0
    edges = np.linspace(lo, hi, 61)
    centres, p, p_err = ensemble_histogram(tr.q, edges)
    rows = [{"q": c, "p": v, "p_error": e} for c, v, e in zip(centres, p, p_err, strict=True)]
    res.add_table("density", rows)
    write_csv(ctx.out_dir / "density.csv", ["q", "p", "p_error"], np.stack([centres, p, p_err], axis=1))
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.errorbar(centres, p, p_err, fmt="o", ms=3, label=f"{learners} learners, t = {lr * steps:g}")
    if t_cont > 0:
        fine = np.linspace(lo, hi, 400)
        w = np.exp(
            -(np.asarray(pot(jnp.asarray(fine))) - np.min(np.asarray(pot(jnp.asarray(fine))))) / t_cont
        )
        ax.plot(fine, w / np.trapezoid(w, fine), "k-", label=f"Boltzmann exp(-V/T), T = {t_cont:.4g}")
    ax.set_xlabel("q")
    ax.set_ylabel("p(q)")
    ax.legend(fontsize=8)
    save_figure(fig, ctx.out_dir, "density.png", res)
    return res
