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

Every ensemble trains with its members split over the devices in use (``nqg --devices N run ...``, default
all; recorded as ``params.devices``): member ``i`` is initialised from ``stream_key(key, i)`` and draws its
minibatch at step ``t`` from ``stream_key(fold_in(key, t), i)`` (:mod:`nqg.gravity.holography`), so the
device count changes the members only at the rounding level (which long regressions amplify).
"""

from __future__ import annotations

import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from nqg.gravity import holography as H
from nqg.gravity.network import DiscreteBulkNetwork, layer_etas
from nqg.results import FullSettingValue, Result, save_figure
from nqg.spec import Experiment, RunContext

#: the three published anchors of arXiv:1809.10536, which disagree with each other (see the notes):
#: the talk slides, v1's Table II, and the published code's saved run
REF_SOURCE = "arXiv:1809.10536, talk slides (1/L = 237(3) MeV, lambda/L = 0.0127(6))"
TABLE2_SOURCE = "arXiv:1809.10536 v1, Table II (L = 3.460(21) GeV^-1, lambda = 0.01243(60))"
CODE_SOURCE = "published code of arXiv:1809.10536, saved run: L = 3.8526 GeV^-1, lambda = 0.00545"
REF_INV_L_MEV = (237.0, 3.0)
REF_LAMBDA_OVER_L = (0.0127, 0.0006)
TABLE2_L = (3.460, 0.021)  # GeV^-1
TABLE2_LAMBDA = (0.01243, 0.00060)
CODE_L, CODE_LAMBDA = 3.8526, 0.00545
#: converged members must reach this fraction of the Bayes bound of the held-out set (the best band
#: around the generating curve: 0.945 at the full setting); the 0.95 asked first is above that bound
BAYES_FRACTION = 0.90
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
#: the neural ODE's 1/L must lie within this fraction of the discrete regression's (issue 11)
ODE_VS_DISCRETE_TOLERANCE = 0.10
#: the neural-ODE regression: at least this fraction of the seeds must converge (8 of 10)
ODE_CONVERGED_FRACTION = 0.8
FULL_RUN_DATE = "2026-11-27"

#: What the checks that are judged only at the full setting gave in the last full run (value, date
#: and the command that reproduces it). They are listed, not judged, at the quick setting: a quick
#: run of 10^3 published-optimiser steps says nothing about seeds that need 10^5-10^6 steps.
LAST_FULL_RUNS: dict[str, dict[str, FullSettingValue]] = {"holographic-qcd": {}, "holographic-qcd-ode": {}}


def _full(experiment: str, name: str, passed: bool, value: str) -> None:
    LAST_FULL_RUNS[experiment][name] = FullSettingValue(
        passed, value, FULL_RUN_DATE, f"nqg run {experiment} --out DIR"
    )


# `nqg run holographic-qcd --out DIR` (full setting, seed 0), 2026-11-27
_full(
    "holographic-qcd",
    "paper: all six lattice points |F| < 0.1 for every member",
    False,
    "max over members per point: 17.4, 544, 7.58e+08, 7.07e+35, 1.71e+135, inf (the 6 plateau members)",
)
_full(
    "holographic-qcd",
    "paper: 1/L within 15% of 237 MeV",
    False,
    "1/L = 24327.3 +- 12273.9 MeV over all 10 members, plateaus included (+10164.7%)",
)
_full(
    "holographic-qcd",
    "paper: at least one member converged (loss <= 0.1; published run: 0.0757)",
    True,
    "4 of 10 members; final losses: 0.2509, 0.2545, 0.2570, 0.0755, 0.0842, 0.0797, 0.2718, 0.2519, "
    "0.2482, 0.0743",
)
_full(
    "holographic-qcd",
    "paper, converged members: 1/L within 15% of 237 MeV",
    True,
    "1/L = 256.1 +- 4.6 MeV over 4 members (+8.1%; saved run: 259.6 MeV, Table II: 289.0 MeV)",
)
_full(
    "holographic-qcd",
    "paper, converged members: all six lattice points |F| < 0.1",
    True,
    "max over converged members per point: 0.0107, 0.021, 0.0394, 0.0655, 0.0562, 0.0685",
)
_full(
    "holographic-qcd",
    "paper, converged members: held-out accuracy >= 0.90 x Bayes bound",
    False,
    "threshold 0.90 x 0.9448 = 0.8503; per converged member: 0.889, 0.818, 0.835, 0.886; the published "
    "saved run scores 0.869",
)
_full(
    "holographic-qcd",
    "paper_warm, converged members: held-out accuracy >= 0.90 x Bayes bound",
    False,
    "no converged member after 10^4 warm steps (window-mean losses 0.231-1.77, accuracies 0.496-0.746)",
)


# `nqg run holographic-qcd-ode --out DIR` (full setting, seed 0), 2026-11-27: the neural ODE's paper
# method keeps a short clipped schedule (3000 steps); 10^5-10^6 steps through diffrax are out of reach
_ODE_PAPER_LOSSES = "0.2534, 0.2564, 0.2505, 0.2559, 0.2542, 0.2561, 0.2572, 0.2547, 0.2549, 0.2521"
_full(
    "holographic-qcd-ode",
    "paper: all six lattice points |F| < 0.1 for every member",
    False,
    "max over members per point: 1.24, 2.27, 4.28, 7.96, 16.4, 33.5",
)
_full(
    "holographic-qcd-ode",
    "paper: 1/L within 15% of 237 MeV",
    False,
    "1/L = 627.3 +- 136.8 MeV (std 432.7; +164.7%)",
)
_full(
    "holographic-qcd-ode",
    "paper: at least one member converged (loss <= 0.1; published run: 0.0757)",
    False,
    f"0 of 10 members; final losses: {_ODE_PAPER_LOSSES}",
)
for _name in (
    "paper, converged members: 1/L within 15% of 237 MeV",
    "paper, converged members: all six lattice points |F| < 0.1",
    "paper, converged members: held-out accuracy >= 0.90 x Bayes bound",
):
    _full("holographic-qcd-ode", _name, False, "no converged member (loss-0.25 plateau after 3000 steps)")


def add_check(result: Result, name: str, passed, detail: str, *, full_only: bool) -> bool:
    """``result.add_check``; with ``full_only`` (at the quick setting) the check is listed as
    "full setting only" with the last full run's value from :data:`LAST_FULL_RUNS`."""
    if not full_only:
        return result.add_check(name, passed, detail)
    last = LAST_FULL_RUNS.get(result.experiment, {}).get(name)
    if last is None:
        last = FullSettingValue(False, "no full-setting run recorded", "", f"nqg run {result.experiment}")
    return result.add_check(name, passed, detail, full_setting_only=True, last_full=last)


def _member(ensemble, k: int):
    return jax.tree_util.tree_map(lambda x: x[k] if hasattr(x, "ndim") and x.ndim else x, ensemble)


def _select(ensemble, mask):
    return jax.tree_util.tree_map(lambda x: x[mask] if hasattr(x, "ndim") and x.ndim else x, ensemble)


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
    result: Result, ensemble, suffix: str, m, s, held, *, quick: bool, band=None, full_only: bool = False
) -> dict[str, Any]:
    """Add the metrics, references and all-member checks of one fitted ensemble; return its numbers.

    Held-out accuracy: the member's own classifier ``|F| < 0.1`` (the paper's), or with
    ``band = (train, prior)`` the band rule of :func:`nqg.gravity.holography.band_accuracy` (for fits
    that never trained a classifier: the regression). The accuracy is judged over converged members
    only (:func:`_add_converged`). ``full_only``: the checks are listed as full setting only.
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
    add_check(
        result,
        f"{suffix}: all six lattice points |F| < 0.1 for every member",
        bool(np.all(abs_f < 0.1)),
        f"max over members per point: {', '.join(f'{v:.3g}' for v in abs_f.max(axis=0))}",
        full_only=full_only,
    )
    close = abs(mean - REF_INV_L_MEV[0]) <= TARGET_INV_L_TOLERANCE * REF_INV_L_MEV[0]
    add_check(
        result,
        f"{suffix}: 1/L within 15% of 237 MeV",
        close,
        f"1/L = {mean:.1f} +- {sem:.1f} MeV (std {std:.1f}; {100 * (mean / REF_INV_L_MEV[0] - 1):+.1f}%)",
        full_only=full_only,
    )
    return {
        "inv_L": inv_l,
        "lambda": lam,
        "radius": radius,
        "lambda_over_L": lam_over_l,
        "accuracy": acc,
        "accuracy_rule": rule,
        "F": F,
        "finite": finite,
        "inv_L_mean": mean,
        "inv_L_sem": sem,
        "lam_std": lstd,
    }


def _add_published_anchors(result: Result) -> None:
    """The three published anchors as references, each with its source, so that the report's table
    shows where they disagree: the slides, Table II (and the 1/L, lambda/L it implies) and the saved run."""
    l2, dl2 = TABLE2_L
    lam2, dlam2 = TABLE2_LAMBDA
    result.add_reference("inv_L_MeV_slides", *REF_INV_L_MEV, unit="MeV", source=REF_SOURCE)
    result.add_reference("lambda_over_L_slides", *REF_LAMBDA_OVER_L, unit="GeV", source=REF_SOURCE)
    result.add_reference("L_GeV_inv_table2", l2, dl2, unit="GeV^-1", source=TABLE2_SOURCE)
    result.add_reference("lambda_table2", lam2, dlam2, source=TABLE2_SOURCE)
    result.add_reference(
        "inv_L_MeV_table2", 1000.0 / l2, 1000.0 * dl2 / l2**2, unit="MeV", source=TABLE2_SOURCE + ", 1000/L"
    )
    lol = lam2 / l2
    result.add_reference(
        "lambda_over_L_table2",
        lol,
        lol * math.hypot(dlam2 / lam2, dl2 / l2),
        unit="GeV",
        source=TABLE2_SOURCE + ", lambda/L",
    )
    result.add_reference("L_GeV_inv_published_code", CODE_L, unit="GeV^-1", source=CODE_SOURCE)
    result.add_reference("lambda_published_code", CODE_LAMBDA, source=CODE_SOURCE)
    result.add_reference("inv_L_MeV_published_code", 1000.0 / CODE_L, unit="MeV", source=CODE_SOURCE)
    result.add_reference("lambda_over_L_published_code", CODE_LAMBDA / CODE_L, unit="GeV", source=CODE_SOURCE)


def published_table2() -> tuple[np.ndarray, np.ndarray]:
    """``(eta, h)`` of arXiv:1809.10536 v1 Table II (package data), boundary (eta = 1) first."""
    from nqg.gravity.emergent_metric import published_metric_table2

    return published_metric_table2()


def table2_rms(h_layers) -> np.ndarray:
    """Per member, ``sqrt(mean_n (h_n - h_n^{Table II})^2)`` over the 15 layers (``h_layers`` (K, 15),
    layer n = Table II row n, boundary first)."""
    _, h2 = published_table2()
    diff = np.asarray(h_layers, dtype=float) - h2[None, :]
    return np.sqrt(np.mean(diff**2, axis=1))


def _layer_values(ensemble) -> np.ndarray:
    """``h`` on Table II's 15 layers for every member: the layer weights of a discrete network (layer
    n against row n), the function at Table II's ``eta`` for a neural ODE."""
    if isinstance(ensemble.bulk, DiscreteBulkNetwork):
        return np.asarray(ensemble.bulk.h)
    eta2, _ = published_table2()
    return _metric_band(ensemble, eta2)


def _compare_with_table2(result: Result, members: dict[str, np.ndarray]) -> None:
    """RMS difference per layer from Table II (mean +- standard error over each set of converged
    members; ``members[label]`` is ``h`` on the 15 layers, (K, 15)), the saved run's own, and a table
    of the layers side by side."""
    eta2, h2 = published_table2()
    saved = np.asarray(CODE_H)[None, :]
    result.add_metric("rms_h_vs_table2_published_saved_run", float(table2_rms(saved)[0]))
    for label, h in members.items():
        if h.shape[0] == 0 or not np.all(np.isfinite(h)):
            continue
        rms = table2_rms(h)
        mean, sem, _ = _mean_sem(rms)
        result.add_metric(f"rms_h_vs_table2_{label}", mean, sem if rms.size > 1 else None)
    rows = []
    for n in range(len(h2)):
        row: dict[str, Any] = {"layer": n + 1, "eta": float(eta2[n]), "h_table2": float(h2[n])}
        row["h_published_saved_run"] = float(CODE_H[n])
        for label, h in members.items():
            if h.shape[0]:
                mean, sem, _ = _mean_sem(h[:, n])
                row[f"h_{label}"], row[f"h_sem_{label}"] = mean, sem
        rows.append(row)
    result.add_table("table2_comparison", rows)


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


def _metric_band(ensemble, etas):
    hs = np.asarray(jax.vmap(lambda mdl: mdl.metric(jnp.asarray(etas)))(ensemble))
    return hs


def _plot_metric(
    ctx: RunContext,
    result: Result,
    bands: dict[str, tuple[np.ndarray, np.ndarray]],
    filename: str,
    title: str,
    anchor_etas=None,
) -> None:
    """The ensembles' ``h(eta)`` (mean +- std over members) beside the published metric: Table II of
    arXiv:1809.10536 and the published code's saved run (both the 15-layer network's weights), drawn
    at ``anchor_etas`` (default: Table II's ``eta = 1, 14/15, ..., 1/15``; the discrete figure puts
    layer n at our network's ``eta_n``, so that layers line up)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.8, 4.4))
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
    eta2, h2 = published_table2()
    at = eta2 if anchor_etas is None else np.asarray(anchor_etas)
    where = "" if anchor_etas is None else " (layer n at our eta_n)"
    ax.plot(at, h2, "ks", ms=5, mfc="none", label=f"arXiv:1809.10536 Table II{where}")
    ax.plot(at, CODE_H, "kx", ms=5, label=f"published code, saved run{where}")
    ax.axhline(4.0, color="gray", lw=0.8, ls=":", label="pure AdS$_5$: h = 4")
    ax.set_xlabel(r"$\eta$ (boundary at 1, horizon side at 1/15)")
    ax.set_ylabel(r"emergent metric $h(\eta)$")
    ax.set_ylim(-15, max(30.0, 1.1 * float(np.max(h2))))
    ax.invert_xaxis()
    ax.set_title(title)
    ax.legend(fontsize=7)
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
    result: Result,
    fits: dict[str, Any],
    m,
    s,
    held,
    *,
    quick: bool,
    band=None,
    full_only: dict[str, bool] | None = None,
    bayes: float,
    saved_acc: float,
) -> dict[str, dict[str, Any]]:
    """Metrics, references and tables of every fit (``fits["regression"]`` gives the chi^2 median);
    returns the per-method numbers of :func:`summarise_method` plus final losses, skipped steps and,
    for the regression, the mask ``converged`` of members within 3x the best chi^2.
    ``band = (train data, prior curve)``: the regression's accuracy by the band rule."""
    full_only = full_only or {}
    per_method = {}
    for name, fit in fits.items():
        rule = band if name == "regression" else None
        info = summarise_method(
            result,
            fit.state.params,
            name,
            m,
            s,
            held,
            quick=quick,
            band=rule,
            full_only=full_only.get(name, False),
        )
        # over the last finite steps (a member skipping non-finite steps records loss 0); the
        # minibatch losses of the paper loss averaged over a window, the full-batch fits' last step
        window = min(FINAL_LOSS_WINDOW if name.startswith("paper") else 1, len(fit.history["member_loss"]))
        final, _ = H.windowed_member_loss(fit.history, window)
        info["final_loss"] = [float(x) if np.isfinite(x) else None for x in final]
        info["skipped"] = np.asarray(fit.state.skipped)
        per_method[name] = info
    _add_published_anchors(result)
    chi2 = np.asarray(fits["regression"].history["member_chi2"][-1])
    result.add_metric("chi2_regression_median", float(np.median(chi2)))
    # members stuck in a poor local minimum (chi^2 far above the best seed's) are counted, and the
    # regression's numbers over the others are given beside the all-member ones
    good = regression_converged(chi2)
    reg = per_method["regression"]
    reg["converged"] = good
    result.add_metric("regression_converged_members", int(good.sum()))
    _add_converged(
        result, "regression", reg, good, bayes=bayes, saved_acc=saved_acc, criterion="chi^2 <= 3 x the best"
    )
    result.add_table("lattice_points_abs_F", _lattice_table(m, s, per_method))
    result.add_table("members", _member_table(per_method))
    return per_method


def regression_converged(chi2) -> np.ndarray:
    """Regression members that converged: final chi^2 within 3x the best member's (the others sit in
    a poor local minimum, chi^2 tens of times larger)."""
    chi2 = np.asarray(chi2, dtype=float)
    return np.isfinite(chi2) & (chi2 <= 3.0 * np.nanmin(chi2))


FINAL_LOSS_WINDOW = 2000


def _add_converged(
    result: Result,
    method: str,
    info: dict[str, Any],
    ok: np.ndarray,
    *,
    bayes: float,
    saved_acc: float,
    criterion: str,
    full_only: bool = False,
    accuracy_only: bool = False,
) -> None:
    """1/L, L, lambda, lambda/L and the held-out accuracy over a method's converged members only
    (``ok``), and the checks over them: 1/L within 15% of 237 MeV, the six lattice points inside
    |F| < 0.1, and held-out accuracy >= 0.90 of the Bayes bound ``bayes`` of the held-out set (the
    published saved run's score ``saved_acc`` beside it). A member stuck on a plateau says nothing
    about the fitted bulk. With no converged member every check fails and says so. ``accuracy_only``:
    only the held-out accuracy check (a method whose 1/L and |F| are judged over all members)."""
    k = int(ok.sum())
    names = (
        f"{method}, converged members: 1/L within 15% of 237 MeV",
        f"{method}, converged members: all six lattice points |F| < 0.1",
        f"{method}, converged members: held-out accuracy >= {BAYES_FRACTION:.2f} x Bayes bound",
    )
    threshold = BAYES_FRACTION * bayes
    if k == 0:
        for name in names[2:] if accuracy_only else names:
            add_check(result, name, False, f"no converged member ({criterion})", full_only=full_only)
        return
    mean, sem, _ = _mean_sem(info["inv_L"][ok])
    result.add_metric(f"inv_L_MeV_{method}_converged", mean, sem, "MeV")
    result.add_reference(f"inv_L_MeV_{method}_converged", *REF_INV_L_MEV, unit="MeV", source=REF_SOURCE)
    result.add_metric(f"lambda_over_L_{method}_converged", *_mean_sem(info["lambda_over_L"][ok])[:2], "GeV")
    result.add_metric(f"L_GeV_inv_{method}_converged", *_mean_sem(info["radius"][ok])[:2], "GeV^-1")
    result.add_reference(f"L_GeV_inv_{method}_converged", *TABLE2_L, unit="GeV^-1", source=TABLE2_SOURCE)
    result.add_metric(f"lambda_{method}_converged", *_mean_sem(info["lambda"][ok])[:2])
    result.add_reference(f"lambda_{method}_converged", *TABLE2_LAMBDA, source=TABLE2_SOURCE)
    acc = np.asarray(info["accuracy"])[ok]
    result.add_metric(f"heldout_accuracy_min_{method}_converged", float(np.min(acc)))
    result.add_metric(f"heldout_accuracy_mean_{method}_converged", *_mean_sem(acc)[:2])
    if not accuracy_only:
        add_check(
            result,
            names[0],
            abs(mean - REF_INV_L_MEV[0]) <= TARGET_INV_L_TOLERANCE * REF_INV_L_MEV[0],
            f"1/L = {mean:.1f} +- {sem:.1f} MeV over {k} members "
            f"({100 * (mean / REF_INV_L_MEV[0] - 1):+.1f}%; saved run: {1000 / CODE_L:.1f} MeV, "
            f"Table II: {1000 / TABLE2_L[0]:.1f} MeV)",
            full_only=full_only,
        )
        abs_f = np.where(np.isfinite(info["F"][ok]), np.abs(info["F"][ok]), np.inf)
        add_check(
            result,
            names[1],
            bool(np.all(abs_f < 0.1)),
            f"max over converged members per point: {', '.join(f'{v:.3g}' for v in abs_f.max(axis=0))}",
            full_only=full_only,
        )
    add_check(
        result,
        names[2],
        bool(np.min(acc) >= threshold),
        f"threshold {BAYES_FRACTION:.2f} x {bayes:.4f} = {threshold:.4f} (Bayes bound: the best band around "
        f"the generating curve on this held-out set); rule {info['accuracy_rule']}; per converged member: "
        f"{', '.join(f'{a:.3f}' for a in acc)}; the published saved run scores {saved_acc:.3f}",
        full_only=full_only,
    )


def _summarise_paper_converged(
    result: Result,
    fit,
    info: dict[str, Any],
    method: str = "paper",
    *,
    bayes: float,
    saved_acc: float,
    full_only: bool = False,
    count_check: bool = True,
) -> np.ndarray:
    """Metrics over the members of a paper-loss fit that converged (:func:`H.paper_converged_members`):
    the published run is one such run. ``count_check=False`` (the warm start, whose 1/L and |F| are
    judged over all members): no count check, and only the accuracy check over converged members.
    Returns the mask."""
    window = min(FINAL_LOSS_WINDOW, len(fit.history["member_loss"]))
    ok, loss = H.paper_converged_members(fit.history, window=window)
    k = int(ok.sum())
    result.add_metric(f"{method}_converged_members", k)
    if count_check:
        add_check(
            result,
            f"{method}: at least one member converged "
            f"(loss <= {H.PAPER_CONVERGED_LOSS}; published run: 0.0757)",
            k > 0,
            f"{k} of {len(ok)} members; final losses: "
            + ", ".join("overflow" if not np.isfinite(x) else f"{x:.4f}" for x in loss),
            full_only=full_only,
        )
    criterion = f"window-mean loss <= {H.PAPER_CONVERGED_LOSS}; final losses: " + ", ".join(
        "overflow" if not np.isfinite(x) else f"{x:.4f}" for x in loss
    )
    _add_converged(
        result,
        method,
        info,
        ok,
        bayes=bayes,
        saved_acc=saved_acc,
        criterion=criterion,
        full_only=full_only,
        accuracy_only=not count_check,
    )
    if k:
        result.add_metric(f"{method}_converged_loss_mean", *_mean_sem(loss[ok])[:2])
        result.add_reference(f"inv_L_MeV_{method}_converged", 1000.0 / CODE_L, unit="MeV", source=CODE_SOURCE)
        result.add_reference(
            f"lambda_over_L_{method}_converged", CODE_LAMBDA / CODE_L, unit="GeV", source=CODE_SOURCE
        )
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


def _anchor_note() -> dict[str, str]:
    return {
        "note": "the three published anchors disagree: 1/L = 237(3) MeV on the talk slides, "
        f"{1000 / TABLE2_L[0]:.1f}(1.8) MeV from Table II's L = 3.460(21) GeV^-1, {1000 / CODE_L:.1f} MeV "
        "from the published code's saved run (L = 3.8526); lambda = 0.01243(60) in Table II, 0.00545 in "
        f"the saved run; lambda/L = 0.0127(6) GeV on the slides but {TABLE2_LAMBDA[0] / TABLE2_L[0]:.5f} "
        f"GeV from Table II and {CODE_LAMBDA / CODE_L:.5f} GeV from the saved run (the slides' lambda/L "
        "equals Table II's lambda within its error). The checks keep the slides' 237 MeV; every anchor "
        "is in the table with its source. rms_h_vs_table2_*: sqrt(mean over the 15 layers of "
        "(h_n - h_n^TableII)^2), mean +- standard error over each method's converged members (discrete: "
        "layer n against row n; neural ODE: h at Table II's eta)"
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
    # the published cold start needs 10^5-10^6 steps: its checks are judged at the full setting only;
    # the paper loss warm-started from the regression converges only over 10^5 steps too
    judged = {"bayes": acc_opt, "saved_acc": acc_code}
    per_method = _summarise_fits(
        result,
        fits,
        m,
        s,
        held,
        quick=ctx.quick,
        band=(data, curve),
        full_only={"paper": ctx.quick},
        **judged,
    )
    converged = _summarise_paper_converged(
        result, paper, per_method["paper"], "paper", full_only=ctx.quick, **judged
    )
    warm_converged = _summarise_paper_converged(
        result, warm, per_method["paper_warm"], "paper_warm", full_only=ctx.quick, count_check=False, **judged
    )
    chi2 = reg.history["member_chi2"][-1]
    reg_ok = per_method["regression"]["converged"]
    _compare_with_table2(
        result,
        {
            "regression_converged": _layer_values(_select(reg.state.params, reg_ok)),
            "paper_converged": _layer_values(_select(paper.state.params, converged)),
            "paper_warm_converged": _layer_values(_select(warm.state.params, warm_converged)),
        },
    )

    etas = np.asarray(layer_etas(H.ETA_INI, H.ETA_FIN, H.N_LAYERS))
    bands = {name: (etas, _metric_band(fit.state.params, etas)) for name, fit in fits.items()}
    if converged.any():
        bands["paper, converged members"] = (etas, bands["paper"][1][converged])
    _plot_metric(
        ctx,
        result,
        bands,
        "metric.png",
        "holographic QCD: emergent metric (mean ± std over seeds)",
        anchor_etas=etas,
    )
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
            f"{w_opt:.4f} GeV^3 on the same held-out set (the generator's classes overlap), so the first "
            "round's target 0.95 was out of reach for any classifier; the checks ask converged members "
            f"for >= {BAYES_FRACTION:.2f} x {acc_opt:.3f} = {BAYES_FRACTION * acc_opt:.3f}. The published "
            f"code's saved run, evaluated through our network on the same set, scores {acc_code:.3f}"
        },
        _anchor_note(),
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
    if ctx.quick:
        notes.append(_quick_note())
    result.add_table("notes", notes)
    return result


def _quick_note() -> dict[str, str]:
    return {
        "note": "quick setting: the checks of fits that need the full setting (the published cold start "
        "needs 10^5-10^6 Adam steps, the quick run does 10^2-10^3) are listed as 'full setting only' "
        f"with the last full run's value ({FULL_RUN_DATE}); the other checks are judged as at the full "
        "setting"
    }


# ------------------------------------------------------------------------------------------- neural ODE
ODE_DEFAULTS: dict[str, Any] = {
    "n_seeds": 10,
    "degree": 8,
    "ode_steps": 20,
    # h(eta) by its values at the degree + 1 Chebyshev-Lobatto nodes, started at pure AdS (h = 4) plus
    # N(0, 0.3^2); "monomial" is the first round's basis and start (the negative control)
    "ode_basis": "nodes",
    "ode_node_std": 0.3,
    "n_each": 10_000,
    "heldout_each": 5_000,
    "noise_std": 0.004,
    "batch_size": 100,
    "paper_steps": 3_000,
    "paper_learning_rate": 0.01,
    "paper_final_learning_rate": 0.001,
    "paper_clip": 10.0,
    # 1/L drifts down along a nearly flat chi^2 valley as the regression trains (discrete and ODE
    # alike: ~256 -> ~230 MeV from 4000 to 8000 steps), so the ODE is judged against a discrete
    # regression of the same length: 8000 steps, as holographic-qcd's
    "regression_steps": 8_000,
    "regression_learning_rate": 0.01,
    "regression_final_learning_rate": 0.0005,
    "regression_relative_error": 0.02,
    "regression_freeze_lambda_fraction": 0.5,
    "discrete_seeds": 10,
    "discrete_regression_steps": 8_000,
}
ODE_QUICK: dict[str, Any] = {
    "n_seeds": 2,
    "ode_steps": 8,
    "n_each": 2_000,
    "heldout_each": 1_000,
    "paper_steps": 100,
    "regression_steps": 4_000,
    "discrete_seeds": 2,
    "discrete_regression_steps": 4_000,
}


def run_holographic_qcd_ode(config: dict[str, Any], ctx: RunContext) -> Result:
    """holographic-qcd-ode: h(eta) a degree-8 polynomial (values at Chebyshev-Lobatto nodes), diffrax."""
    result = Result("holographic-qcd-ode", quick=ctx.quick, seed=ctx.seed, params=dict(config))
    m, s, curve, data, held = _data(config, ctx.seed)
    key = jax.random.key(ctx.seed + 1)
    k_reg, k_paper, k_init_reg, k_init_paper, k_disc, k_disc_init = jax.random.split(key, 6)
    K = int(config["n_seeds"])
    loop = {"ctx": ctx, "chunk": 200}
    ode_kwargs = {
        "degree": int(config["degree"]),
        "n_steps": int(config["ode_steps"]),
        "basis": str(config["ode_basis"]),
        "node_std": float(config["ode_node_std"]),
    }
    _, acc_opt = H.optimal_band_halfwidth(curve, held)
    result.add_metric("heldout_accuracy_bayes_band", acc_opt)
    acc_code = published_run_accuracy(held)
    result.add_metric("heldout_accuracy_published_saved_run", acc_code)
    judged = {"bayes": acc_opt, "saved_acc": acc_code}

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
    per_method = _summarise_fits(
        result,
        fits,
        m,
        s,
        held,
        quick=ctx.quick,
        band=(data, curve),
        full_only={"paper": ctx.quick},
        **judged,
    )
    paper_ok = _summarise_paper_converged(
        result, paper, per_method["paper"], "paper", full_only=ctx.quick, **judged
    )

    coeffs = {name: np.asarray(fit.state.params.bulk.metric.coeffs) for name, fit in fits.items()}
    rows = []
    for k in range(int(config["degree"]) + 1):
        row: dict[str, Any] = {"power_of_(1-eta)": k}
        for name, c in coeffs.items():
            mean, _, std = _mean_sem(c[:, k])
            row[f"c_mean_{name}"], row[f"c_std_{name}"] = mean, std
        rows.append(row)
    result.add_table("metric_coefficients", rows)

    # the discrete regression (same seeds, steps and lambda schedule) that the ODE's 1/L is judged against
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
    reg_info = per_method["regression"]
    reg_ok = reg_info["converged"]
    need = math.ceil(ODE_CONVERGED_FRACTION * K)
    chi2 = np.asarray(reg.history["member_chi2"][-1])
    result.add_check(
        f"regression: at least {need} of {K} members converge (chi^2 <= 3 x the best)",
        int(reg_ok.sum()) >= need,
        f"{int(reg_ok.sum())} of {K}; chi^2 (2% errors) per member: {', '.join(f'{c:.1f}' for c in chi2)}",
    )
    disc_chi2 = np.asarray(disc.history["member_chi2"][-1])
    disc_ok = regression_converged(disc_chi2)
    disc_inv_l = 1000.0 / np.abs(np.asarray(disc.state.params.ads_radius))[disc_ok]
    d_mean, d_sem, _ = _mean_sem(disc_inv_l)
    result.add_metric("inv_L_MeV_discrete_regression_converged", d_mean, d_sem, "MeV")
    result.add_metric("discrete_regression_converged_members", int(disc_ok.sum()))
    o_mean, o_sem, _ = _mean_sem(reg_info["inv_L"][reg_ok])
    ratio = o_mean / d_mean
    result.add_metric(
        "inv_L_ratio_ode_over_discrete_regression", ratio, ratio * math.hypot(o_sem / o_mean, d_sem / d_mean)
    )
    result.add_check(
        f"regression, converged members: 1/L within {ODE_VS_DISCRETE_TOLERANCE:.0%} "
        "of the discrete regression's",
        abs(ratio - 1.0) <= ODE_VS_DISCRETE_TOLERANCE,
        f"neural ODE {o_mean:.1f} +- {o_sem:.1f} MeV ({int(reg_ok.sum())} members), discrete {d_mean:.1f} +- "
        f"{d_sem:.1f} MeV ({int(disc_ok.sum())} of {len(disc_ok)} members): ratio {ratio:.3f}",
    )
    _compare_with_table2(
        result,
        {
            "regression_converged": _layer_values(_select(reg.state.params, reg_ok)),
            "paper_converged": _layer_values(_select(paper.state.params, paper_ok)),
            "discrete_regression_converged": _layer_values(_select(disc.state.params, disc_ok)),
        },
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
    notes = [
        {"note": "errors are ensemble standard errors: std over seeds / sqrt(K)"},
        {
            "note": "h(eta) is a degree-8 polynomial held by its values at 9 Chebyshev-Lobatto nodes of "
            "[1/15, 1], started at pure AdS (h = 4 + N(0, 0.3^2) at each node). The first round's "
            "monomial basis sum_k c_k (1 - eta)^k with c_0 ~ N(4, 1) (`--set ode_basis=monomial`) left "
            "every seed whose c_0 was above ~4.2 on a chi^2 ~ 1.5e4 plateau while lambda was frozen, "
            "from which lambda then ran to ~ -1 (chi^2 ~ 1620), and its nearly collinear monomials "
            "stopped Adam at chi^2 ~ 50-100 after 4000 steps (discrete and nodal: 42-53) with 1/L ~ 290 MeV"
        },
        {
            "note": "the discrete network's h_n absorb its explicit-Euler discretisation error (15 coarse "
            "layers), so the continuum h(eta) need not coincide with the layer weights"
        },
        _anchor_note(),
    ]
    if ctx.quick:
        notes.append(_quick_note())
    result.add_table("notes", notes)
    return result


EXPERIMENTS = [
    Experiment(
        name="holographic-qcd",
        # full setting, measured on 2 CPU cores (2026-11-23, shared with a VMC run)
        full_time_s=169,
        description="Emergent bulk metric, AdS radius, lambda from the lattice chiral condensate (discrete)",
        defaults=HOLO_DEFAULTS,
        run=run_holographic_qcd,
        quick=HOLO_QUICK,
        reference="Hashimoto, Sugishita, Tanaka, Tomiya, arXiv:1809.10536",
    ),
    Experiment(
        name="holographic-qcd-ode",
        # full setting, measured on 2 CPU cores (2026-11-27, machine loaded: an upper bound)
        full_time_s=426,
        description="Holographic QCD through a neural ODE (diffrax), h a degree-8 polynomial (nodal basis)",
        defaults=ODE_DEFAULTS,
        run=run_holographic_qcd_ode,
        quick=ODE_QUICK,
        reference="Hu, You, Hashimoto, arXiv:2006.00712; data of arXiv:1809.10536",
    ),
]
