"""``nqg gravity wilson-loop`` and ``nqg gravity dilaton``: observables of an emergent metric."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from nqg.cli.apps import gravity_app
from nqg.cli.common import JsonOpt, OutOpt, QuietOpt, execute
from nqg.errors import NqgInputError

ASSUMPTION_CHOICES = ("exp", "cosh")


@gravity_app.command("wilson-loop")
def wilson_loop_command(
    model: Annotated[
        Path | None, typer.Option("--model", help="Folder written by `nqg gravity fit`.")
    ] = None,
    metric: Annotated[
        Path | None,
        typer.Option("--metric", help="CSV eta,f,g (units of L), eta decreasing from the boundary."),
    ] = None,
    assumption: Annotated[
        str | None,
        typer.Option("--assumption", help="With --model: g = c e^{2 eta} (exp, default) | c cosh 2 eta."),
    ] = None,
    temperature: Annotated[
        float | None,
        typer.Option("--temperature-GeV", help="With --model: horizon temperature [default 0.207]."),
    ] = None,
    separations: Annotated[int, typer.Option("--separations", help="Number of separations d.")] = 200,
    out: OutOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Quark-antiquark potential V(d) of the emergent metric (Nambu-Goto string, Debye screening).

    Writes the table wilson_loop (rows d, V), the metrics screening_distance and, where F = f g has an
    interior minimum, string_tension, and wilson_loop.png. With --metric: d in units of L and
    V in units of 1/(2 pi alpha' L); with --model: d in fm, V in GeV x L^2/(2 pi alpha'), band over members.
    """
    from nqg.gravity.emergent_metric import LATTICE_TEMPERATURE_GEV, metric_from_csv

    if (model is None) == (metric is None):
        raise NqgInputError("give exactly one of --model DIR or --metric FILE.csv")
    if assumption is not None and assumption not in ASSUMPTION_CHOICES:
        raise NqgInputError(
            f"--assumption must be one of {', '.join(ASSUMPTION_CHOICES)}, got {assumption!r}"
        )
    if metric is not None and (assumption is not None or temperature is not None):
        raise NqgInputError(
            "--assumption and --temperature-GeV apply to --model only (a metric CSV has f and g)"
        )
    if temperature is not None and not (math.isfinite(temperature) and temperature > 0):
        raise NqgInputError(f"--temperature-GeV must be a positive number, got {temperature}")
    if not 2 <= separations <= 100_000:
        raise NqgInputError(f"--separations must be between 2 and 100000, got {separations}")
    if metric is not None:
        parsed = metric_from_csv(metric)  # validates before anything is written
        out_dir = Path(out) if out is not None else Path("nqg-out") / "gravity-wilson-loop"

        def body(ctx):
            return metric_wilson_result(parsed, str(metric), separations, ctx)

    else:
        from nqg.gravity.holography import load_ensemble

        ensemble, _ = load_ensemble(model)
        t = LATTICE_TEMPERATURE_GEV if temperature is None else temperature
        a = assumption or "exp"
        out_dir = Path(out) if out is not None else Path("nqg-out") / "gravity-wilson-loop"

        def body(ctx):
            return model_wilson_result(ensemble, str(model), a, t, separations, ctx)

    execute(out_dir, body, seed=0, quiet=quiet, json_out=json_out)


def metric_wilson_result(parsed, source, n_sep, ctx):
    """Result of one metric given as f, g (units of L)."""
    import matplotlib.pyplot as plt

    from nqg.gravity.wilson_loop import wilson_loop
    from nqg.results import Result, save_figure

    curve = wilson_loop(parsed, n_separations=n_sep)
    res = Result(
        "gravity-wilson-loop",
        seed=ctx.seed,
        params={"metric": source, "d_unit": "L", "V_unit": "1/(2 pi alpha' L)"},
    )
    res.add_table(
        "wilson_loop",
        [{"d": float(d), "V": float(v)} for d, v in zip(curve.separations, curve.potential, strict=True)],
    )
    res.add_metric("screening_distance", curve.screening_distance, unit="L")
    if math.isfinite(curve.max_separation):
        res.add_metric("max_separation", curve.max_separation, unit="L")
    if curve.string_tension is not None:
        res.add_metric("string_tension", curve.string_tension, unit="1/(2 pi alpha' L^2)")
    fig, ax = plt.subplots(figsize=(5, 3.6))
    ax.plot(curve.separations, curve.potential, label="V (screened)")
    ax.plot(curve.separations, curve.connected, "--", lw=0.8, label="connected string")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("d [L]")
    ax.set_ylabel(r"$2\pi\alpha' V$ [1/L]")
    ax.legend()
    save_figure(fig, ctx.out_dir, "wilson_loop.png", res)
    return res


def model_wilson_result(ensemble, source, assumption, temperature, n_sep, ctx):
    """Result of a fitted ensemble: V(d) in fm, mean and spread over the members."""
    import matplotlib.pyplot as plt
    import numpy as np

    from nqg.gravity.emergent_metric import ensemble_metrics
    from nqg.gravity.wilson_loop import wilson_loops_in_fm
    from nqg.results import Result, save_figure

    members = ensemble_metrics(ensemble, assumption, temperature)
    usable = [(m, L) for m, L, _ in members if m is not None]
    if not usable:
        raise NqgInputError(f"{source}: no member's h(eta) has a horizon; {members[0][2]}")
    d_fm = np.geomspace(0.005, 50.0, n_sep)
    wl = wilson_loops_in_fm(usable, d_fm)
    pot = wl["potential"]
    k = pot.shape[0]
    res = Result(
        "gravity-wilson-loop",
        seed=ctx.seed,
        params={
            "model": source,
            "assumption": assumption,
            "temperature_GeV": temperature,
            "members": k,
            "members_without_horizon": len(members) - k,
            "d_unit": "fm",
            "V_unit": "GeV L^2/(2 pi alpha')",
        },
    )
    mean, std = pot.mean(0), pot.std(0)
    res.add_table(
        "wilson_loop",
        [{"d": float(d), "V": float(v), "V_std": float(s)} for d, v, s in zip(d_fm, mean, std, strict=True)],
    )

    def add(name, values, unit):
        v = np.asarray(values, dtype=float)
        v = v[np.isfinite(v)]
        if v.size:
            err = float(np.std(v, ddof=1) / math.sqrt(v.size)) if v.size > 1 else None
            res.add_metric(name, float(np.mean(v)), err, unit)
        return v.size

    add("screening_distance", wl["screening_fm"], "fm")
    n_t = add("string_tension", wl["string_tension_GeV2"], "GeV^2 L^2/(2 pi alpha')")
    res.add_metric("members_with_string_tension", n_t)
    fig, ax = plt.subplots(figsize=(5, 3.6))
    ax.plot(d_fm, mean)
    ax.fill_between(d_fm, mean - std, mean + std, alpha=0.3)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=0.1)
    ax.set_xlabel("d [fm]")
    ax.set_ylabel(r"$2\pi\alpha' V / L^2$ [GeV]")
    save_figure(fig, ctx.out_dir, "wilson_loop.png", res)
    return res


@gravity_app.command("dilaton")
def dilaton_command(
    model: Annotated[Path, typer.Option("--model", help="Folder written by `nqg gravity fit`.")],
    out: OutOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Einstein-dilaton reconstruction of the fitted metric: Phi'^2 (null energy condition) and V(Phi).

    Writes the table dilaton (rows eta, phi_prime_sq, V, Phi: mean over members), the metrics
    nec_fraction and members_satisfying_nec, and dilaton.png.
    """
    from nqg.gravity.holography import load_ensemble

    ensemble, _ = load_ensemble(model)
    out_dir = Path(out) if out is not None else Path("nqg-out") / "gravity-dilaton"

    def body(ctx):
        return dilaton_result(ensemble, str(model), ctx)

    execute(out_dir, body, seed=0, quiet=quiet, json_out=json_out)


def dilaton_result(ensemble, source, ctx):
    import matplotlib.pyplot as plt
    import numpy as np

    from nqg.gravity.dilaton import einstein_dilaton_from_h
    from nqg.gravity.emergent_metric import ensemble_h_profiles, smooth_metric_h
    from nqg.results import Result, save_figure

    profiles = []
    for eta, h, _ in ensemble_h_profiles(ensemble):
        grid = np.linspace(eta.min(), eta.max(), 101)
        profiles.append(einstein_dilaton_from_h(smooth_metric_h(eta, h), grid))
    res = Result("gravity-dilaton", seed=ctx.seed, params={"model": source, "members": len(profiles)})
    frac = np.array([p.nec_fraction for p in profiles])
    err = float(np.std(frac, ddof=1) / math.sqrt(frac.size)) if frac.size > 1 else None
    res.add_metric("nec_fraction", float(frac.mean()), err)
    res.add_metric("members_satisfying_nec", int(np.sum(frac == 1.0)))
    pps = np.array([p.phi_prime_sq for p in profiles])
    pot = np.array([p.potential for p in profiles])
    phi = np.array([p.phi for p in profiles])
    grid = profiles[0].eta
    res.add_table(
        "dilaton",
        [
            {"eta": float(e), "phi_prime_sq": float(a), "V": float(v), "Phi": float(f)}
            for e, a, v, f in zip(grid, pps.mean(0), pot.mean(0), phi.mean(0), strict=True)
        ],
    )
    res.add_check(
        "null energy condition Phi'^2 >= 0 on every member",
        bool(np.all(frac == 1.0)),
        f"holds on {100 * frac.mean():.0f}% of the eta range on average",
    )
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    a1.plot(grid, pps.mean(0))
    a1.fill_between(grid, pps.mean(0) - pps.std(0), pps.mean(0) + pps.std(0), alpha=0.3)
    a1.axhline(0, color="k", lw=0.5)
    a1.set_xlabel(r"$\eta$")
    a1.set_ylabel(r"$\Phi'^2$")
    for f, v in zip(phi, pot, strict=True):
        a2.plot(f, v, alpha=0.6)
    a2.set_xlabel(r"$\Phi$")
    a2.set_ylabel(r"$V(\Phi)$")
    save_figure(fig, ctx.out_dir, "dilaton.png", res)
    return res
