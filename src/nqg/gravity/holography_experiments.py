"""Experiments of the holographic-QCD part of the gravity vertex: ``holographic-qcd`` (discrete bulk
network, arXiv:1809.10536) and ``holographic-qcd-ode`` (neural ODE, arXiv:2006.00712).

Both fit the six lattice points of the chiral condensate with an ensemble of seeds trained in one
compiled run per method, and report ensemble mean +- standard error (std/sqrt(K)) of 1/L and
lambda/L, the emergent metric band, held-out accuracy and |F| at the lattice points.
Methods (metric suffixes): ``_paper`` (the published recipe: classification loss, data,
batch, penalty, initialisation h_n ~ N(4, 3), lambda = 0.2, L = 0.8 GeV^-1, and optimiser: Adam at
a constant 1e-3, no clipping, 6 x 10^5 steps (the published notebook: 10^6); only some seeds
converge, those are also reported as ``_paper_converged``),
``_regression`` (F = 0 on the data points, see :func:`nqg.gravity.holography.regression_loss`),
and ``_paper_warm`` (the paper's classification loss started from the regression fit).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from nqg.gravity import holography as H
from nqg.gravity.network import layer_etas
from nqg.results import Result, save_figure
from nqg.spec import Experiment, RunContext

REF_SOURCE = "arXiv:1809.10536 (as presented for this work)"
CODE_SOURCE = "published code of arXiv:1809.10536, saved run: L = 3.8526 GeV^-1, lambda = 0.00545"
REF_INV_L_MEV = (237.0, 3.0)
REF_LAMBDA_OVER_L = (0.0127, 0.0006)
CODE_L, CODE_LAMBDA = 3.8526, 0.00545
#: the saved run's layer weights h_1..h_15 (boundary to horizon), printed in the published notebook
CODE_H = (
    3.13351607, 2.39271212, 1.60696924, 0.8100372, 0.06195514, -0.5439406, -0.87814671, -0.77317631,
    -0.00735563, 1.74285817, 4.97534227, 10.37840176, 18.70586967, 30.80181313, 46.99329758,
)  # fmt: skip


def published_saved_run() -> H.HolographicQCD:
    """The published code's saved network (L, lambda and the 15 weights h_n) as an nqg model."""
    model = H.discrete_model(jax.random.key(0), h_std=0.0, lam=CODE_LAMBDA, ads_radius=CODE_L)
    return eqx.tree_at(lambda mdl: mdl.bulk.h, model, jnp.asarray(CODE_H, dtype=float))


def published_run_accuracy(held) -> float:
    """Held-out accuracy (``|F| < 0.1`` rule) of the published saved run."""
    ensemble_of_one = jax.tree_util.tree_map(lambda x: x[None], published_saved_run())
    return float(H.heldout_accuracy(ensemble_of_one, held)[0])


def add_published_run_check(result: Result, m, s, held) -> float:
    """Evaluate the published saved run through our network on our held-out set: its accuracy is the
    quality the issue's benchmark asks for, and |F| < 0.1 at the six lattice points checks that our
    boundary map and layers are the published ones. Returns that accuracy."""
    model = published_saved_run()
    acc = published_run_accuracy(held)
    result.add_metric("heldout_accuracy_published_saved_run", acc)
    f_lat = np.abs(np.asarray(model.horizon_condition(jnp.asarray(m), jnp.asarray(s))))
    result.add_check(
        "published saved run through nqg's network: all six lattice points |F| < 0.1",
        bool(np.all(f_lat < 0.1)),
        f"|F| = {', '.join(f'{v:.3g}' for v in f_lat)}; its held-out accuracy here: {acc:.3f}",
    )
    return acc


TARGET_INV_L_TOLERANCE = 0.15


def _member(ensemble, k: int):
    return jax.tree_util.tree_map(lambda x: x[k] if hasattr(x, "ndim") and x.ndim else x, ensemble)


def _mean_sem(values) -> tuple[float, float, float]:
    v = np.asarray(values, dtype=float)
    std = float(np.std(v, ddof=1)) if v.size > 1 else 0.0
    return float(np.mean(v)), std / np.sqrt(max(v.size, 1)), std


def _data(config: dict[str, Any], seed: int):
    m, s = H.load_lattice_condensate()
    curve = H.condensate_curve(m, s)
    data = H.generate_condensate_data(
        curve, n_each=config["n_each"], noise_std=config["noise_std"], seed=seed
    )
    held = H.generate_condensate_data(
        curve, n_each=config["heldout_each"], noise_std=config["noise_std"], seed=seed + 100_003
    )
    return m, s, curve, data, held


def summarise_method(
    result: Result, ensemble, suffix: str, m, s, held, *, quick: bool, band=None
) -> dict[str, Any]:
    """Add the metrics, references and checks of one fitted ensemble; return its numbers.

    Held-out accuracy: the member's own classifier ``|F| < 0.1`` (the paper's), or with
    ``band = (train, prior)`` the band rule of :func:`nqg.gravity.holography.band_accuracy` (for fits
    that never trained a classifier: the regression).
    """
    radius = np.abs(np.asarray(ensemble.ads_radius))
    lam = np.asarray(ensemble.bulk.lam)
    inv_l = 1000.0 / radius  # MeV
    lam_over_l = lam / radius  # GeV
    if band is None:
        acc = H.heldout_accuracy(ensemble, held)
        rule = "|F| < 0.1"
    else:
        acc, widths = H.band_accuracy(ensemble, band[0], held, prior=band[1])
        rule = f"band |sigma - sigma_pred(m_q)| < w, w = {np.median(widths):.4f} GeV^3 (median)"
    F = np.asarray(H.ensemble_horizon_condition(ensemble, jnp.asarray(m), jnp.asarray(s)))
    finite = np.all(np.isfinite(F), axis=1)
    mean, sem, std = _mean_sem(inv_l)
    result.add_metric(f"inv_L_MeV_{suffix}", mean, sem, "MeV")
    result.add_reference(f"inv_L_MeV_{suffix}", *REF_INV_L_MEV, unit="MeV", source=REF_SOURCE)
    lmean, lsem, lstd = _mean_sem(lam_over_l)
    result.add_metric(f"lambda_over_L_{suffix}", lmean, lsem, "GeV")
    result.add_reference(f"lambda_over_L_{suffix}", *REF_LAMBDA_OVER_L, unit="GeV", source=REF_SOURCE)
    result.add_metric(f"heldout_accuracy_min_{suffix}", float(np.min(acc)))
    result.add_metric(f"heldout_accuracy_mean_{suffix}", *_mean_sem(acc)[:2])
    abs_f = np.where(np.isfinite(F), np.abs(F), np.inf)
    result.add_check(
        f"{suffix}: held-out accuracy >= 0.95 for every member",
        np.min(acc) >= 0.95,
        f"rule {rule}; per member: {', '.join(f'{a:.3f}' for a in acc)}",
    )
    result.add_check(
        f"{suffix}: all six lattice points |F| < 0.1 for every member",
        bool(np.all(abs_f < 0.1)),
        f"max over members per point: {', '.join(f'{v:.3g}' for v in abs_f.max(axis=0))}",
    )
    close = abs(mean - REF_INV_L_MEV[0]) <= TARGET_INV_L_TOLERANCE * REF_INV_L_MEV[0]
    result.add_check(
        f"{suffix}: 1/L within 15% of 237 MeV",
        close,
        f"1/L = {mean:.1f} +- {sem:.1f} MeV (std {std:.1f}; {100 * (mean / REF_INV_L_MEV[0] - 1):+.1f}%)",
    )
    return {
        "inv_L": inv_l,
        "lambda": lam,
        "lambda_over_L": lam_over_l,
        "accuracy": acc,
        "F": F,
        "finite": finite,
        "inv_L_mean": mean,
        "inv_L_sem": sem,
        "lam_std": lstd,
    }


def _lattice_table(m, s, per_method: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for i in range(len(m)):
        row: dict[str, Any] = {"quark_mass_GeV": float(m[i]), "condensate_GeV3": float(s[i])}
        for name, info in per_method.items():
            absf = np.abs(info["F"][:, i])
            row[f"abs_F_mean_{name}"] = float(np.mean(absf)) if np.all(np.isfinite(absf)) else None
            row[f"abs_F_max_{name}"] = float(np.max(absf)) if np.all(np.isfinite(absf)) else None
        rows.append(row)
    return rows


def _member_table(per_method: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for name, info in per_method.items():
        for k in range(len(info["inv_L"])):
            rows.append(
                {
                    "method": name,
                    "member": k,
                    "inv_L_MeV": float(info["inv_L"][k]),
                    "lambda": float(info["lambda"][k]),
                    "lambda_over_L_GeV": float(info["lambda_over_L"][k]),
                    "heldout_accuracy": float(info["accuracy"][k]),
                    "final_loss": info.get("final_loss", [None] * 99)[k],
                }
            )
    return rows


def _add_published_code_references(result: Result) -> None:
    result.add_reference("inv_L_MeV_published_code", 1000.0 / CODE_L, unit="MeV", source=CODE_SOURCE)
    result.add_reference("lambda_over_L_published_code", CODE_LAMBDA / CODE_L, unit="GeV", source=CODE_SOURCE)


def _metric_band(ensemble, etas):
    hs = np.asarray(jax.vmap(lambda mdl: mdl.metric(jnp.asarray(etas)))(ensemble))
    return hs


def _plot_metric(
    ctx: RunContext,
    result: Result,
    bands: dict[str, tuple[np.ndarray, np.ndarray]],
    filename: str,
    title: str,
) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for label, (etas, hs) in bands.items():
        good = np.all(np.isfinite(hs), axis=1)
        hs = hs[good]
        if hs.shape[0] == 0:
            continue
        mean, std = hs.mean(0), hs.std(0)
        (line,) = ax.plot(
            etas, mean, marker="o" if len(etas) < 40 else None, ms=3, label=f"{label} (K={len(hs)})"
        )
        ax.fill_between(etas, mean - std, mean + std, color=line.get_color(), alpha=0.25)
    ax.axhline(4.0, color="gray", lw=0.8, ls=":", label="pure AdS$_5$: h = 4")
    ax.set_xlabel(r"$\eta$ (boundary at 1, horizon side at 1/15)")
    ax.set_ylabel(r"emergent metric $h(\eta)$")
    ax.set_ylim(-15, 30)
    ax.invert_xaxis()
    ax.set_title(title)
    ax.legend(fontsize=8)
    save_figure(fig, ctx.out_dir, filename, result)


def _plot_condensate(
    ctx: RunContext,
    result: Result,
    m,
    s,
    curve,
    predictions: dict[str, np.ndarray],
    masses: np.ndarray,
    filename: str,
) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.plot(masses, curve(masses), "k--", lw=1, label="cubic fit to the lattice points")
    ax.plot(m, s, "ko", label="lattice QCD (arXiv:1809.10536 data)")
    for label, roots in predictions.items():
        good = np.all(np.isfinite(roots), axis=1)
        if not np.any(good):
            continue
        mean, std = roots[good].mean(0), roots[good].std(0)
        (line,) = ax.plot(masses, mean, label=f"bulk prediction, {label}")
        ax.fill_between(masses, mean - std, mean + std, color=line.get_color(), alpha=0.25)
    ax.set_xlabel(r"quark mass $m_q$ [GeV]")
    ax.set_ylabel(r"$\langle\bar q q\rangle$ [GeV$^3$]")
    ax.legend(fontsize=8)
    save_figure(fig, ctx.out_dir, filename, result)


def _fit_regression(ensemble, m, s, config: dict[str, Any], *, steps: int, key, name: str, loop, **kwargs):
    """:func:`nqg.gravity.holography.fit_regression` with the config's regression learning rates."""
    return H.fit_regression(
        ensemble,
        m,
        s,
        steps=steps,
        key=key,
        learning_rate=config["regression_learning_rate"],
        final_learning_rate=config["regression_final_learning_rate"],
        name=name,
        **kwargs,
        **loop,
    )


def _fit_paper(
    ensemble,
    data,
    config: dict[str, Any],
    *,
    key,
    name: str,
    loop,
    steps: int | None = None,
    learning_rate: float | None = None,
    final_learning_rate: float | None = None,
    clip: float | None = None,
):
    """:func:`nqg.gravity.holography.fit_paper` with the config's paper schedule unless overridden.

    In the config, ``paper_final_learning_rate = 0`` means a constant learning rate and
    ``paper_clip = 0`` no gradient clipping (absent: 10, the clipping the neural-ODE runs use)."""
    final = config["paper_final_learning_rate"] if final_learning_rate is None else final_learning_rate
    clip = config.get("paper_clip", 10.0) if clip is None else clip
    return H.fit_paper(
        ensemble,
        data,
        steps=config["paper_steps"] if steps is None else steps,
        key=key,
        learning_rate=config["paper_learning_rate"] if learning_rate is None else learning_rate,
        final_learning_rate=final or None,
        clip=clip or None,
        batch_size=config["batch_size"],
        name=name,
        **loop,
    )


def _summarise_fits(
    result: Result, fits: dict[str, Any], m, s, held, *, quick: bool, band=None
) -> dict[str, dict[str, Any]]:
    """Metrics, references and tables of every fit (``fits["regression"]`` gives the chi^2 median);
    returns the per-method numbers of :func:`summarise_method` plus final losses and skipped steps.
    ``band = (train data, prior curve)``: the regression's accuracy by the band rule."""
    per_method = {}
    for name, fit in fits.items():
        rule = band if name == "regression" else None
        info = summarise_method(result, fit.state.params, name, m, s, held, quick=quick, band=rule)
        # over the last finite steps (a member skipping non-finite steps records loss 0); the
        # minibatch losses of the paper loss averaged over a window, the full-batch fits' last step
        window = min(FINAL_LOSS_WINDOW if name.startswith("paper") else 1, len(fit.history["member_loss"]))
        final, _ = H.windowed_member_loss(fit.history, window)
        info["final_loss"] = [float(x) if np.isfinite(x) else None for x in final]
        info["skipped"] = np.asarray(fit.state.skipped)
        per_method[name] = info
    _add_published_code_references(result)
    chi2 = np.asarray(fits["regression"].history["member_chi2"][-1])
    result.add_metric("chi2_regression_median", float(np.median(chi2)))
    # members stuck in a poor local minimum (chi^2 far above the best seed's) are counted, and the
    # regression's numbers over the others are given beside the all-member ones
    good = chi2 <= 3.0 * np.min(chi2)
    reg = per_method["regression"]
    result.add_metric("regression_converged_members", int(good.sum()))
    _add_converged(result, "regression", reg, good)
    result.add_table("lattice_points_abs_F", _lattice_table(m, s, per_method))
    result.add_table("members", _member_table(per_method))
    return per_method


FINAL_LOSS_WINDOW = 2000


def _add_converged(result: Result, method: str, info: dict[str, Any], ok: np.ndarray) -> None:
    """1/L, lambda/L and the lowest held-out accuracy over a method's converged members only (``ok``),
    and the 1/L and lattice-point checks over them, beside the all-member ones: a member stuck on a
    plateau says nothing about the fitted bulk."""
    k = int(ok.sum())
    mean, sem, _ = _mean_sem(info["inv_L"][ok])
    result.add_metric(f"inv_L_MeV_{method}_converged", mean, sem, "MeV")
    result.add_metric(f"lambda_over_L_{method}_converged", *_mean_sem(info["lambda_over_L"][ok])[:2], "GeV")
    result.add_metric(f"heldout_accuracy_min_{method}_converged", float(np.min(info["accuracy"][ok])))
    result.add_check(
        f"{method}, converged members: 1/L within 15% of 237 MeV",
        abs(mean - REF_INV_L_MEV[0]) <= TARGET_INV_L_TOLERANCE * REF_INV_L_MEV[0],
        f"1/L = {mean:.1f} +- {sem:.1f} MeV over {k} members "
        f"({100 * (mean / REF_INV_L_MEV[0] - 1):+.1f}%; saved run: {1000 / CODE_L:.1f} MeV)",
    )
    abs_f = np.where(np.isfinite(info["F"][ok]), np.abs(info["F"][ok]), np.inf)
    result.add_check(
        f"{method}, converged members: all six lattice points |F| < 0.1",
        bool(np.all(abs_f < 0.1)),
        f"max over converged members per point: {', '.join(f'{v:.3g}' for v in abs_f.max(axis=0))}",
    )


def _summarise_paper_converged(result: Result, fit, info: dict[str, Any]) -> np.ndarray:
    """Metrics over the paper-method members that converged (:func:`H.paper_converged_members`):
    the published run is one such run. Returns the mask."""
    window = min(FINAL_LOSS_WINDOW, len(fit.history["member_loss"]))
    ok, loss = H.paper_converged_members(fit.history, window=window)
    k = int(ok.sum())
    result.add_metric("paper_converged_members", k)
    result.add_check(
        f"paper: at least one member converged (loss <= {H.PAPER_CONVERGED_LOSS}; published run: 0.0757)",
        k > 0,
        f"{k} of {len(ok)} members; final losses: "
        + ", ".join("overflow" if not np.isfinite(x) else f"{x:.4f}" for x in loss),
    )
    if k:
        result.add_metric("paper_converged_loss_mean", *_mean_sem(loss[ok])[:2])
        _add_converged(result, "paper", info, ok)
        result.add_reference("inv_L_MeV_paper_converged", 1000.0 / CODE_L, unit="MeV", source=CODE_SOURCE)
        result.add_reference(
            "lambda_over_L_paper_converged", CODE_LAMBDA / CODE_L, unit="GeV", source=CODE_SOURCE
        )
        result.add_metric("heldout_accuracy_mean_paper_converged", *_mean_sem(info["accuracy"][ok])[:2])
    return ok


# ------------------------------------------------------------------------------------------- discrete
HOLO_DEFAULTS: dict[str, Any] = {
    "n_seeds": 10,
    "n_each": 10_000,
    "heldout_each": 5_000,
    "noise_std": 0.004,
    "batch_size": 100,
    # the published optimiser (torch.optim.Adam defaults: lr 1e-3, constant, no clipping); the
    # published run trained 10^6 steps, our seeds that converge do so within ~6 x 10^5
    "paper_steps": 600_000,
    "paper_learning_rate": H.PAPER_LEARNING_RATE,
    "paper_final_learning_rate": 0.0,
    "paper_clip": 0.0,
    "regression_steps": 8_000,
    "regression_learning_rate": 0.01,
    "regression_final_learning_rate": 0.0005,
    "regression_h_std": 1.0,
    "regression_relative_error": 0.02,
    "warm_paper_steps": 10_000,
    "warm_learning_rate": 0.001,
}
HOLO_QUICK: dict[str, Any] = {
    "n_seeds": 4,
    "n_each": 5_000,
    "heldout_each": 2_000,
    "paper_steps": 1_000,
    "regression_steps": 6_000,
    "warm_paper_steps": 500,
}


def run_holographic_qcd(config: dict[str, Any], ctx: RunContext) -> Result:
    """holographic-qcd: discrete 15-layer bulk network, three fitting routes side by side."""
    result = Result("holographic-qcd", quick=ctx.quick, seed=ctx.seed, params=dict(config))
    m, s, curve, data, held = _data(config, ctx.seed)
    key = jax.random.key(ctx.seed)
    k_reg, k_paper, k_init_reg, k_init_paper, k_warm = jax.random.split(key, 5)
    K = int(config["n_seeds"])
    loop = {"ctx": ctx, "chunk": 500}

    # the best any band classifier around the generating curve can do on the held-out set
    w_opt, acc_opt = H.optimal_band_halfwidth(curve, held)
    result.add_metric("heldout_accuracy_bayes_band", acc_opt)
    result.add_metric("optimal_band_halfwidth_GeV3", w_opt, unit="GeV^3")
    acc_code = add_published_run_check(result, m, s, held)

    reg = _fit_regression(
        H.discrete_ensemble(k_init_reg, K, h_std=config["regression_h_std"]),
        m,
        s,
        config,
        steps=config["regression_steps"],
        key=k_reg,
        relative_error=config["regression_relative_error"],
        name="regression",
        loop=loop,
    )
    paper = _fit_paper(
        H.discrete_ensemble(k_init_paper, K),
        data,
        config,
        key=k_paper,
        name="paper",
        loop={**loop, "chunk": 5000},  # 10^5-10^6 steps: fewer, longer compiled chunks
    )
    warm = _fit_paper(
        reg.state.params,
        data,
        config,
        steps=config["warm_paper_steps"],
        key=k_warm,
        learning_rate=config["warm_learning_rate"],
        final_learning_rate=config["warm_learning_rate"] / 10,
        clip=10.0,
        name="paper_warm",
        loop=loop,
    )
    fits = {"paper": paper, "regression": reg, "paper_warm": warm}
    per_method = _summarise_fits(result, fits, m, s, held, quick=ctx.quick, band=(data, curve))
    converged = _summarise_paper_converged(result, paper, per_method["paper"])
    chi2 = reg.history["member_chi2"][-1]

    etas = np.asarray(layer_etas(H.ETA_INI, H.ETA_FIN, H.N_LAYERS))
    bands = {name: (etas, _metric_band(fit.state.params, etas)) for name, fit in fits.items()}
    if converged.any():
        bands["paper, converged members"] = (etas, bands["paper"][1][converged])
    _plot_metric(ctx, result, bands, "metric.png", "holographic QCD: emergent metric (mean ± std over seeds)")
    masses = np.linspace(0.0005, 0.022, 44)
    predictions = {
        name: H.predict_condensate(fits[name].state.params, masses, prior=curve(masses))[0]
        for name in ("regression", "paper_warm")
    }
    _plot_condensate(ctx, result, m, s, curve, predictions, masses, "condensate.png")
    reg_pred = predictions["regression"]
    rel = np.abs(np.nanmean(reg_pred, axis=0) / curve(masses) - 1)
    result.add_metric("regression_prediction_max_rel_dev_from_cubic", float(np.nanmax(rel[masses >= m[0]])))

    notes = [
        {"note": "errors are ensemble standard errors: std over seeds / sqrt(K)"},
        {
            "note": f"held-out accuracy cannot exceed ~{acc_opt:.3f}: the best band |sigma - cubic| < "
            f"{w_opt:.4f} GeV^3 on the same held-out set (the generator's classes overlap), so the "
            "check '>= 0.95' is out of reach for any classifier built on the generating curve; the "
            f"published code's saved run, evaluated through our network, scores {acc_code:.3f}"
        },
        {
            "note": "paper (published recipe: h_n ~ N(4,3), lambda = 0.2, L = 0.8, Adam lr 1e-3 constant, "
            f"no clipping, {config['paper_steps']} steps; the published notebook ran 10^6): "
            f"{int(converged.sum())} of {len(converged)} members converged (loss <= "
            f"{H.PAPER_CONVERGED_LOSS}; the published saved run: 0.0757, 1/L = {1000 / CODE_L:.1f} MeV, "
            f"lambda/L = {CODE_LAMBDA / CODE_L:.5f} GeV). The others sit on a loss-0.25 plateau of the "
            "published loss: L shrunk until |F| < 0.1 everywhere (all points called positive, zero "
            "gradient), or L and lambda ran away until the quartic force overflows (all called "
            "negative); the all-member paper metrics mix both. Updates skipped per member: "
            f"{per_method['paper']['skipped'].tolist()}"
        },
        {
            "note": "regression: F pulled toward |dF/dsigma| ~ 13 GeV^-3 by a log penalty (weight 10), "
            "lambda frozen for the first half; it trains no classifier, so its held-out accuracy is that "
            "of the band around its predicted condensate curve (width chosen on the training set); "
            "chi^2 (2% errors) per member: " + ", ".join(f"{c:.1f}" for c in chi2)
        },
    ]
    result.add_table("notes", notes)
    return result


# ------------------------------------------------------------------------------------------- neural ODE
ODE_DEFAULTS: dict[str, Any] = {
    "n_seeds": 10,
    "degree": 8,
    "ode_steps": 20,
    "n_each": 10_000,
    "heldout_each": 5_000,
    "noise_std": 0.004,
    "batch_size": 100,
    "paper_steps": 3_000,
    "paper_learning_rate": 0.01,
    "paper_final_learning_rate": 0.001,
    "paper_clip": 10.0,
    "regression_steps": 4_000,
    "regression_learning_rate": 0.01,
    "regression_final_learning_rate": 0.0005,
    "regression_relative_error": 0.02,
    "regression_freeze_lambda_fraction": 0.5,
    "discrete_seeds": 6,
    "discrete_regression_steps": 4_000,
}
ODE_QUICK: dict[str, Any] = {
    "n_seeds": 2,
    "ode_steps": 8,
    "n_each": 2_000,
    "heldout_each": 1_000,
    "paper_steps": 100,
    "regression_steps": 3_000,
    "discrete_seeds": 2,
    "discrete_regression_steps": 6_000,
}


def run_holographic_qcd_ode(config: dict[str, Any], ctx: RunContext) -> Result:
    """holographic-qcd-ode: h(eta) a degree-8 polynomial in (1 - eta), solved with diffrax."""
    result = Result("holographic-qcd-ode", quick=ctx.quick, seed=ctx.seed, params=dict(config))
    m, s, curve, data, held = _data(config, ctx.seed)
    key = jax.random.key(ctx.seed + 1)
    k_reg, k_paper, k_init_reg, k_init_paper, k_disc, k_disc_init = jax.random.split(key, 6)
    K = int(config["n_seeds"])
    loop = {"ctx": ctx, "chunk": 200}
    ode_kwargs = {"degree": int(config["degree"]), "n_steps": int(config["ode_steps"])}

    freeze = {"freeze_lambda_fraction": config["regression_freeze_lambda_fraction"]}
    reg = _fit_regression(
        H.ode_ensemble(k_init_reg, K, **ode_kwargs),
        m,
        s,
        config,
        steps=config["regression_steps"],
        key=k_reg,
        relative_error=config["regression_relative_error"],
        name="ode_regression",
        loop=loop,
        **freeze,
    )
    paper = _fit_paper(
        H.ode_ensemble(k_init_paper, K, **ode_kwargs), data, config, key=k_paper, name="ode_paper", loop=loop
    )
    fits = {"paper": paper, "regression": reg}
    _summarise_fits(result, fits, m, s, held, quick=ctx.quick, band=(data, curve))

    coeffs = {name: np.asarray(fit.state.params.bulk.metric.coeffs) for name, fit in fits.items()}
    rows = []
    for k in range(int(config["degree"]) + 1):
        row: dict[str, Any] = {"power_of_(1-eta)": k}
        for name, c in coeffs.items():
            mean, _, std = _mean_sem(c[:, k])
            row[f"c_mean_{name}"], row[f"c_std_{name}"] = mean, std
        rows.append(row)
    result.add_table("metric_coefficients", rows)

    # a small discrete ensemble (regression) for the comparison band
    disc = _fit_regression(
        H.discrete_ensemble(k_disc_init, int(config["discrete_seeds"]), h_std=1.0),
        m,
        s,
        config,
        steps=config["discrete_regression_steps"],
        key=k_disc,
        name="discrete_regression",
        loop=loop,
        **freeze,
    )
    etas_fine = np.linspace(H.ETA_INI, H.ETA_FIN, 60)
    etas_layers = np.asarray(layer_etas(H.ETA_INI, H.ETA_FIN, H.N_LAYERS))
    bands = {
        "neural ODE, regression": (etas_fine, _metric_band(reg.state.params, etas_fine)),
        "neural ODE, paper": (etas_fine, _metric_band(paper.state.params, etas_fine)),
        "discrete 15 layers, regression": (etas_layers, _metric_band(disc.state.params, etas_layers)),
    }
    _plot_metric(ctx, result, bands, "metric_ode.png", "neural-ODE metric vs the discrete ensemble band")
    h_ode = _metric_band(reg.state.params, etas_layers)
    h_disc = _metric_band(disc.state.params, etas_layers)
    result.add_metric(
        "max_abs_diff_h_ode_vs_discrete_regression",
        float(np.nanmax(np.abs(np.nanmean(h_ode, 0) - np.nanmean(h_disc, 0)))),
    )
    result.add_table(
        "notes",
        [
            {"note": "errors are ensemble standard errors: std over seeds / sqrt(K)"},
            {
                "note": "the discrete network's h_n absorb its explicit-Euler discretisation error "
                "(15 coarse "
                "layers), so the continuum h(eta) need not coincide with the layer weights"
            },
        ],
    )
    return result


EXPERIMENTS = [
    Experiment(
        name="holographic-qcd",
        description="Emergent bulk metric, AdS radius, lambda from the lattice chiral condensate (discrete)",
        defaults=HOLO_DEFAULTS,
        run=run_holographic_qcd,
        quick=HOLO_QUICK,
        reference="Hashimoto, Sugishita, Tanaka, Tomiya, arXiv:1809.10536",
    ),
    Experiment(
        name="holographic-qcd-ode",
        description="Holographic QCD through a neural ODE (diffrax), h a degree-8 polynomial in 1 - eta",
        defaults=ODE_DEFAULTS,
        run=run_holographic_qcd_ode,
        quick=ODE_QUICK,
        reference="Hu, You, Hashimoto, arXiv:2006.00712; data of arXiv:1809.10536",
    ),
]
