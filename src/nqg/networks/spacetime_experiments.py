"""Experiments ``network-spacetime`` (convolution is a derivative, depth is time) and ``neural-geodesic``
(the metric of a curved space learned from its geodesics; curvature by autodiff)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nqg.errors import NqgInputError
from nqg.networks import geodesic as geo
from nqg.networks import spacetime as st
from nqg.results import Result, save_figure
from nqg.spec import Experiment, RunContext

REFERENCE = "Hirono, Sannai, Hashimoto, arXiv:2402.02362"

SPACETIME_DEFAULTS: dict[str, Any] = {
    "a": 0.5,
    "b": -1.2,
    "c": 0.8,
    "dx": 0.05,
    "k_max": 2.0,
    "stencil_functions": 64,
    "stencil_steps": 200,  # L-BFGS to convergence: at 50 steps 32 functions left a 2% held-out error
    "depths": [2, 4, 8, 16],
    "duration": 1.0,
    "flow_points": 512,
    "flow_width": 32,
    "flow_steps": 4000,
    "flow_learning_rate": 1e-2,
}
SPACETIME_QUICK: dict[str, Any] = {
    "stencil_functions": 32,
    "depths": [2, 4, 8],
    "flow_points": 256,
    "flow_steps": 1500,
}


def _key(ctx: RunContext, i: int) -> jax.Array:
    return jax.random.fold_in(jax.random.key(ctx.seed), i)


def run_network_spacetime(cfg: dict[str, Any], ctx: RunContext) -> Result:
    import matplotlib.pyplot as plt

    res = Result("network-spacetime", quick=ctx.quick, seed=ctx.seed, params=dict(cfg))
    coeffs = (float(cfg["a"]), float(cfg["b"]), float(cfg["c"]))
    dx, k_max = float(cfg["dx"]), float(cfg["k_max"])

    # ---------------------------------------------------------------- 1D stencils
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    rows = []
    for i, size in enumerate((3, 5)):
        fit = st.fit_derivative_stencil(
            _key(ctx, i),
            coeffs,
            size=size,
            dx=dx,
            n_functions=int(cfg["stencil_functions"]),
            k_max=k_max,
            steps=int(cfg["stencil_steps"]),
            ctx=ctx,
        )
        worst = 0.0
        for name, target, moment in zip("abc", coeffs, fit.moments[:3], strict=True):
            res.add_metric(f"k{size}_{name}", moment)
            res.add_reference(f"k{size}_{name}", target, source="target operator a phi + b phi' + c phi''")
            worst = max(worst, abs(moment - target) / abs(target))
        res.add_check(
            f"kernel {size}: moments (M0, M1, M2) = (a, b, c) within 1%",
            worst < 0.01,
            f"worst relative error {worst:.2e}",
        )
        if size == 5:
            res.add_metric("k5_M3", fit.moments[3])
            res.add_metric("k5_M4", fit.moments[4])
        res.add_metric(f"k{size}_heldout_relative_error", fit.heldout_relative_error)
        rows.append(
            {
                "kernel_size": size,
                "kernel_dx2": (fit.kernel * dx**2).tolist(),
                "M0": fit.moments[0],
                "M1": fit.moments[1],
                "M2": fit.moments[2],
                "M3": fit.moments[3],
                "M4": fit.moments[4],
                "heldout_relative_error": fit.heldout_relative_error,
            }
        )
        offsets = np.arange(size) - size // 2
        axes[0].bar(
            offsets + (0.2 if size == 5 else -0.2),
            fit.kernel * dx**2,
            width=0.4,
            label=f"learned, size {size}",
        )
    fd = (
        coeffs[0] * np.array([0, 1, 0])
        + coeffs[1] * dx * np.array([-0.5, 0, 0.5])
        + coeffs[2] * np.array([1, -2, 1])
    )
    axes[0].plot([-1, 0, 1], fd, "k*", ms=10, label="a + b D_central + c D2 (3 point)")
    axes[0].set_xlabel("offset j")
    axes[0].set_ylabel("w_j dx^2")
    axes[0].set_title(f"learned stencils (a, b, c) = {coeffs}")
    axes[0].legend(fontsize=7)
    res.add_table("stencils_1d", rows)

    # ---------------------------------------------------------------- 2D Laplacian
    kernel, moments, err2d = st.fit_laplacian_stencil(
        _key(ctx, 2),
        dx=dx,
        n_functions=int(cfg["stencil_functions"]) // 2,
        k_max=k_max,
        steps=int(cfg["stencil_steps"]),
        ctx=ctx,
    )
    for name, value in moments.items():
        res.add_metric(f"laplacian_{name}", value)
    second = max(abs(moments["M20"] - 1), abs(moments["M02"] - 1))
    lower = max(abs(moments[k]) for k in ("M00", "M10", "M01", "M11"))
    res.add_check("3x3 Laplacian: M20 = M02 = 1 within 1%", second < 0.01, f"max |M - 1| = {second:.2e}")
    res.add_check("3x3 Laplacian: |M00|, |M10|, |M01|, |M11| < 0.01", lower < 0.01, f"max {lower:.2e}")
    res.add_metric("laplacian_heldout_relative_error", err2d)
    res.add_table("laplacian_kernel_dx2", [{"row": i, "w": (kernel[i] * dx**2).tolist()} for i in range(3)])
    im = axes[1].imshow(kernel * dx**2, cmap="RdBu_r")
    for (i, j), w in np.ndenumerate(kernel * dx**2):
        axes[1].text(j, i, f"{w:.3f}", ha="center", va="center", fontsize=8)
    fig.colorbar(im, ax=axes[1])
    axes[1].set_title("learned 3x3 Laplacian (w dx^2)")

    # ---------------------------------------------------------------- depth is time
    depths = [int(d) for d in cfg["depths"]]
    flow = st.depth_as_time(
        _key(ctx, 3),
        depths,
        duration=float(cfg["duration"]),
        n_train=int(cfg["flow_points"]),
        width=int(cfg["flow_width"]),
        steps=int(cfg["flow_steps"]),
        learning_rate=float(cfg["flow_learning_rate"]),
        ctx=ctx,
    )
    res.add_metric("depth_time_slope", flow.slope, flow.slope_error)
    res.add_reference("depth_time_slope", 1.0, source="explicit Euler: f_theta = f + dt/2 (Df) f + O(dt^2)")
    res.add_table(
        "depth_as_time",
        [
            {"depth": d, "dt": dt, "field_rms_error": e, "modified_field_rms_error": me, "flow_loss": lo}
            for d, dt, e, me, lo in zip(
                depths, flow.dts, flow.field_error, flow.modified_field_error, flow.flow_loss, strict=True
            )
        ],
    )
    lo_s, hi_s = (0.8, 1.2) if not ctx.quick else (0.7, 1.3)
    res.add_check(
        f"error of the learned vector field ~ dt^slope, slope in [{lo_s}, {hi_s}]",
        lo_s <= flow.slope <= hi_s,
        f"slope {flow.slope:.3f} +- {flow.slope_error:.3f}",
    )
    ratio = float(flow.modified_field_error[0] / flow.field_error[0])
    res.add_check(
        "largest dt: learned field is the modified field f + dt/2 (Df) f (error ratio < 0.3)",
        ratio < 0.3,
        f"|f_theta - f_mod| / |f_theta - f| = {ratio:.3f} at dt = {flow.dts[0]:.3g}",
    )
    ax = axes[2]
    ax.loglog(flow.dts, flow.field_error, "o-", label="|f_theta - f| (RMS)")
    ax.loglog(flow.dts, flow.modified_field_error, "s--", label="|f_theta - (f + dt/2 Df f)|")
    ax.loglog(flow.dts, flow.field_error[0] * flow.dts / flow.dts[0], "k:", label="slope 1")
    ax.set_xlabel("dt = T / depth")
    ax.set_ylabel("RMS error of the learned vector field")
    ax.set_title(f"depth is time (pendulum): slope {flow.slope:.2f}")
    ax.legend(fontsize=7)
    save_figure(fig, ctx.out_dir, "network_spacetime.png", res)
    return res


GEODESIC_DEFAULTS: dict[str, Any] = {
    "trajectories": 200,
    "points": 50,
    "heldout": 20,
    "duration": 1.5,
    "width": 32,
    "depth": 2,
    "steps": 3000,
    "learning_rate": 1e-2,
    "min_trajectories": 5,
    "radius_fraction": 0.1,
    "stretch": 2.5,
    "shift": 0.3,
    "geometries": ["sphere", "hyperbolic"],
}
# quick: the sphere only (the two geometries run the same pipeline; the hyperbolic plane runs at full)
GEODESIC_QUICK: dict[str, Any] = {
    "trajectories": 40,
    "points": 30,
    "heldout": 8,
    "steps": 300,
    "geometries": ["sphere"],
}

GEOMETRIES = {
    "sphere": (geo.sphere_geodesics, geo.sphere_metric, 1.0, ("theta", "phi")),
    "hyperbolic": (geo.hyperbolic_geodesics, geo.hyperbolic_half_plane_metric, -1.0, ("x", "y")),
}


def run_neural_geodesic(cfg: dict[str, Any], ctx: RunContext) -> Result:
    import matplotlib.pyplot as plt

    res = Result("neural-geodesic", quick=ctx.quick, seed=ctx.seed, params=dict(cfg))
    n_traj, n_pts, n_held = int(cfg["trajectories"]), int(cfg["points"]), int(cfg["heldout"])
    k_tol = 0.05 if not ctx.quick else 0.15
    held_tol = 0.05 if not ctx.quick else 0.1
    rows = []
    names = list(cfg["geometries"])
    unknown = [n for n in names if n not in GEOMETRIES]
    if unknown or not names:
        raise NqgInputError(f"geometries {names}: allowed a non-empty subset of {list(GEOMETRIES)}")
    fig, axes = plt.subplots(2, len(names), figsize=(5.5 * len(names), 9), squeeze=False)
    for gi, name in enumerate(names):
        generate, exact_metric, k_exact, labels = GEOMETRIES[name]
        train = generate(_key(ctx, 10 * gi), n_traj, n_pts, duration=float(cfg["duration"]))
        held = generate(_key(ctx, 10 * gi + 1), n_held, n_pts, duration=float(cfg["duration"]))
        fit = geo.fit_metric(
            train,
            _key(ctx, 10 * gi + 2),
            width=int(cfg["width"]),
            depth=int(cfg["depth"]),
            steps=int(cfg["steps"]),
            learning_rate=float(cfg["learning_rate"]),
            ctx=ctx,
            name=f"geodesic-{name}",
        )
        pts = train.points()
        covered = geo.covered_region(train, pts, float(cfg["radius_fraction"]), int(cfg["min_trajectories"]))
        k_fit = np.asarray(geo.curvature_at(fit.metric, pts))
        k_cov = k_fit[covered]
        k_rms = float(np.sqrt(np.mean((k_cov - k_exact) ** 2)) / abs(k_exact))
        k_rms_all = float(np.sqrt(np.mean((k_fit - k_exact) ** 2)) / abs(k_exact))
        res.add_metric(f"{name}_K_mean", float(np.mean(k_cov)))
        res.add_reference(f"{name}_K_mean", k_exact, source="exact Gaussian curvature")
        res.add_metric(f"{name}_K_std", float(np.std(k_cov)))
        res.add_metric(f"{name}_K_rms_relative_error", k_rms)
        res.add_metric(f"{name}_K_rms_relative_error_all_points", k_rms_all)
        res.add_metric(f"{name}_covered_fraction", float(np.mean(covered)))
        res.add_check(
            f"{name}: K = {k_exact:+.0f} within {k_tol:.0%} RMS over the covered region",
            k_rms <= k_tol,
            f"{k_rms:.2%} over {covered.sum()} points ({np.mean(covered):.0%} of the "
            f"data; {k_rms_all:.2%} over all points)",
        )

        pred = geo.predict_trajectories(fit.metric, held)
        held_rms = geo.prediction_rms(pred, held)
        flat_rms = geo.prediction_rms(geo.straight_line_prediction(held), held)
        res.add_metric(f"{name}_heldout_rms", held_rms)
        res.add_metric(f"{name}_heldout_rms_flat_control", flat_rms)
        exact_rms = None
        if not ctx.quick:  # the floor set by the finite-difference data (a reference, not a check; one more
            # ODE compilation per geometry, which the quick setting skips)
            exact_rms = geo.prediction_rms(geo.predict_trajectories(exact_metric, held), held)
            res.add_metric(f"{name}_heldout_rms_exact_metric", exact_rms)
        res.add_check(
            f"{name}: held-out trajectories predicted, RMS <= {held_tol} x flat-metric control",
            held_rms <= held_tol * flat_rms,
            f"{held_rms:.2e} vs flat {flat_rms:.2e}",
        )

        # time-affine reparametrisation t -> a t + b maps geodesics of the fitted metric to geodesics
        x0 = jnp.asarray(held.positions[0, 0])
        v_held, _ = geo.local_derivatives(held)
        v0 = jnp.asarray(v_held[0, 0])
        stretch, shift = jnp.asarray(float(cfg["stretch"])), jnp.asarray(float(cfg["shift"]))
        dur = jnp.asarray(float(cfg["duration"]))
        defect = float(geo.affine_reparametrisation_defect(fit.metric, x0, v0, dur, stretch, shift))
        affine_res = float(
            geo.reparametrised_geodesic_residual(fit.metric, x0, v0, dur / 2, geo.AffineTime(stretch, shift))
        )
        warp_res = float(
            geo.reparametrised_geodesic_residual(
                fit.metric, x0, v0, dur / 2, geo.QuadraticTime(jnp.asarray(1.0))
            )
        )
        res.add_metric(f"{name}_affine_reparametrisation_defect", defect)
        res.add_check(
            f"{name}: t -> {cfg['stretch']} t + {cfg['shift']} maps geodesics to geodesics "
            "(defect < 1e-6, residual < 1e-6)",
            defect < 1e-6 and affine_res < 1e-6,
            f"endpoint defect {defect:.1e}, geodesic residual {affine_res:.1e}",
        )
        res.add_check(
            f"{name}: non-affine t -> t + t^2/2 is not a symmetry (residual > 0.1)",
            warp_res > 0.1,
            f"geodesic residual {warp_res:.3f}",
        )
        rows.append(
            {
                "geometry": name,
                "K_exact": k_exact,
                "K_mean": float(np.mean(k_cov)),
                "K_std": float(np.std(k_cov)),
                "K_rms_relative_error": k_rms,
                "K_rms_relative_error_all_points": k_rms_all,
                "covered_fraction": float(np.mean(covered)),
                "heldout_rms": held_rms,
                "heldout_rms_flat": flat_rms,
                "heldout_rms_exact": exact_rms,
                "relative_residual": fit.relative_residual,
                "mean_speed2": fit.mean_speed2,
            }
        )
        cmap = geo.curvature_map(
            fit.metric, train, 40, float(cfg["radius_fraction"]), int(cfg["min_trajectories"])
        )
        geo.plot_curvature_map(axes[0, gi], fig, cmap, train, labels, k_exact, f"{name}: learned K")
        ax = axes[1, gi]
        for i in range(min(n_held, 6)):
            n = int(held.lengths[i])
            ax.plot(held.positions[i, :n, 0], held.positions[i, :n, 1], "k.", ms=3)
            ax.plot(pred[i, :n, 0], pred[i, :n, 1], "-", lw=1)
        ax.set_xlabel(labels[0])
        ax.set_ylabel(labels[1])
        ax.set_title(f"{name}: held-out data (dots), fitted geodesics (lines)")
    res.add_table("geometries", rows)
    fig.tight_layout()
    save_figure(fig, ctx.out_dir, "neural_geodesic.png", res)
    return res


EXPERIMENTS = [
    Experiment(
        name="network-spacetime",
        description="Convolution kernels learn finite-difference stencils; residual depth is time (Euler)",
        defaults=SPACETIME_DEFAULTS,
        run=run_network_spacetime,
        quick=SPACETIME_QUICK,
        reference=REFERENCE,
        full_time_s=73,  # measured wall time of the full setting on 2 CPU cores (2026-11-27)
    ),
    Experiment(
        name="neural-geodesic",
        description="Metric network from observed geodesics: Gaussian curvature of the sphere and H^2",
        defaults=GEODESIC_DEFAULTS,
        run=run_neural_geodesic,
        quick=GEODESIC_QUICK,
        reference=REFERENCE,
        full_time_s=257,  # measured wall time of the full setting on 2 CPU cores (2026-11-27)
    ),
]

__all__ = ["EXPERIMENTS", "run_network_spacetime", "run_neural_geodesic"]
