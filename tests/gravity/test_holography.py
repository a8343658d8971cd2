"""Holographic QCD: boundary map, horizon condition, data generator, fitting and prediction."""

from __future__ import annotations

import io
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

import nqg  # noqa: F401  (float64)
from nqg.errors import NqgInputError
from nqg.gravity import holography as H
from nqg.gravity.network import DiscreteBulkNetwork, propagate


def test_lattice_data_shipped_with_package():
    m, s = H.load_lattice_condensate()
    assert m.shape == (6,) and s.shape == (6,)
    assert np.all(np.diff(m) > 0) and np.all(np.diff(s) > 0)
    np.testing.assert_allclose(m[0], 0.000673563)
    np.testing.assert_allclose(s[-1], 0.102948908)


# ---------------------------------------------------------------------------------------- boundary map
def _phi_closed_form(eta, alpha, beta, lam):
    return alpha * jnp.exp(-eta) + beta * jnp.exp(-3 * eta) - 0.5 * lam * alpha**3 * eta * jnp.exp(-3 * eta)


def test_boundary_map_pi_is_derivative_of_phi():
    L, lam, m_q, sigma = 3.85, 0.3, 0.01, 0.05
    alpha = L * math.sqrt(3) / (2 * math.pi) * m_q
    beta = L**3 * math.pi / math.sqrt(3) * sigma
    for eta in (0.5, 1.0, 2.0):
        phi, pi = H.boundary_map(m_q, sigma, L, lam, eta)
        np.testing.assert_allclose(phi, _phi_closed_form(eta, alpha, beta, lam), rtol=1e-14)
        dphi = jax.grad(_phi_closed_form)(eta, alpha, beta, lam)
        np.testing.assert_allclose(pi, dphi, rtol=1e-13)


def test_boundary_map_solves_near_boundary_equation():
    """phi'' + 4 phi' + 3 phi - lam phi^3 vanishes up to O(eta e^-5eta): the resonant e^-3eta source
    lam alpha^3 e^-3eta is cancelled by the eta e^-3eta term."""
    alpha, beta, lam = 0.8, -1.5, 0.7  # signs chosen so the e^-5eta terms do not cancel

    def residual(eta, with_log_term=True):
        lam_term = lam if with_log_term else 0.0

        def phi(e):
            return (
                alpha * jnp.exp(-e) + beta * jnp.exp(-3 * e) - 0.5 * lam_term * alpha**3 * e * jnp.exp(-3 * e)
            )

        d1 = jax.grad(phi)
        d2 = jax.grad(d1)
        return d2(eta) + 4 * d1(eta) + 3 * phi(eta) - lam * phi(eta) ** 3

    etas = np.array([6.0, 7.0, 8.0])
    r = np.array([abs(float(residual(e))) for e in etas])
    slopes = np.diff(np.log(r)) / np.diff(etas)
    assert np.all((slopes > -5.2) & (slopes < -4.6)), slopes  # ~ eta e^-5eta
    r_bad = np.array([abs(float(residual(e, False))) for e in etas])
    slopes_bad = np.diff(np.log(r_bad)) / np.diff(etas)
    np.testing.assert_allclose(slopes_bad, -3.0, atol=0.05)  # without it: the e^-3eta source remains


def test_boundary_map_agrees_with_numerical_solve_from_deep_boundary():
    """Start at eta = 9 on the expansion, integrate the pure-AdS equation (h = 4) to eta = 3."""
    m_q, sigma, L, lam = 0.02, 0.09, 3.85, 0.5
    phi9, pi9 = H.boundary_map(m_q, sigma, L, lam, 9.0)

    def rhs(eta, y):
        return [y[1], -4 * y[1] - 3 * y[0] + lam * y[0] ** 3]

    sol = solve_ivp(rhs, (9.0, 3.0), [float(phi9), float(pi9)], method="DOP853", rtol=1e-12, atol=1e-20)
    phi3, pi3 = H.boundary_map(m_q, sigma, L, lam, 3.0)
    np.testing.assert_allclose(sol.y[0, -1], phi3, rtol=1e-4)
    np.testing.assert_allclose(sol.y[1, -1], pi3, rtol=1e-4)


# ---------------------------------------------------------------------------------------- horizon
def test_horizon_classifier_shape():
    t = H.horizon_classifier(jnp.array([0.0, 0.05, -0.05, 0.1, -0.1, 0.3, -0.3]))
    np.testing.assert_allclose(t[:3], 0.0, atol=1e-4)
    np.testing.assert_allclose(t[3:5], 0.5, atol=1e-6)
    np.testing.assert_allclose(t[5:], 1.0, atol=1e-6)


def test_horizon_condition_is_pi_at_eta_fin():
    model = H.discrete_model(jax.random.key(0), h_std=1.0, lam=0.05, ads_radius=3.0)
    m_q = jnp.array([0.001, 0.01, 0.02])
    sigma = jnp.array([0.01, 0.05, 0.1])
    phi0, pi0 = H.boundary_map(m_q, sigma, 3.0, 0.05, 1.0)
    b = model.bulk
    _, pi_fin = propagate(b.h, phi0, pi0, (1 / 15 - 1.0) / 15, lambda p: -3.0 * p + 0.05 * p**3)
    np.testing.assert_allclose(model.horizon_condition(m_q, sigma), pi_fin, rtol=1e-13)


# ---------------------------------------------------------------------------------------- data
def _reference_generator(curve, n_each, noise_std, seed, chunk):
    """The published code's loop, literally, on the same random stream."""
    rng = np.random.default_rng(seed)
    pos, neg = [], []
    while True:
        m = rng.uniform(0.0, 0.022, chunk)
        s = rng.uniform(0.0, 0.11, chunk)
        xi = rng.normal(0.0, noise_std, chunk)
        for mi, si, xii in zip(m, s, xi, strict=True):
            if abs(si - curve(mi)) < abs(xii) and len(pos) < n_each:
                pos.append((mi, si))
            elif len(neg) < n_each:
                neg.append((mi, si))
            if len(pos) == n_each and len(neg) == n_each:
                return np.array(pos), np.array(neg)


def test_generator_reproduces_published_loop():
    m, s = H.load_lattice_condensate()
    curve = H.condensate_curve(m, s)
    data = H.generate_condensate_data(curve, n_each=60, seed=3, chunk=500)
    pos, neg = _reference_generator(curve, 60, 0.004, 3, 500)
    np.testing.assert_array_equal(data.quark_mass[:60], pos[:, 0])
    np.testing.assert_array_equal(data.condensate[60:], neg[:, 1])
    np.testing.assert_array_equal(data.label, np.r_[np.zeros(60), np.ones(60)])


def test_generator_class_balance_and_positive_region():
    m, s = H.load_lattice_condensate()
    curve = H.condensate_curve(m, s)
    data = H.generate_condensate_data(curve, n_each=10_000, seed=0)
    assert len(data) == 20_000
    assert np.sum(data.label == 0) == 10_000 and np.sum(data.label == 1) == 10_000
    assert data.quark_mass.min() >= 0 and data.quark_mass.max() <= 0.022
    assert data.condensate.min() >= 0 and data.condensate.max() <= 0.11
    dist = np.abs(data.condensate - curve(data.quark_mass))
    pos, neg = dist[data.label == 0], dist[data.label == 1]
    # positives have density ∝ P(|xi| > d): mean distance sigma_xi sqrt(pi/8) = 0.002507 GeV^3
    # (standard error ~ 2e-5 here; edge clipping at sigma = 0 lowers it a little)
    assert abs(pos.mean() - 0.004 * math.sqrt(math.pi / 8)) < 0.05 * 0.0025
    assert pos.max() < 6 * 0.004
    # negatives: uniform except for a hole around the curve
    assert np.mean(neg < 0.004) < 0.05
    assert neg.mean() > 10 * pos.mean()


def test_cubic_fit_passes_near_lattice_points():
    m, s = H.load_lattice_condensate()
    curve = H.condensate_curve(m, s)
    assert np.max(np.abs(curve(m) - s)) < 0.005


def test_optimal_band_accuracy_is_below_095():
    """The Bayes limit of any band classifier around the generating curve (why >= 0.95 is out of reach)."""
    m, s = H.load_lattice_condensate()
    curve = H.condensate_curve(m, s)
    data = H.generate_condensate_data(curve, n_each=20_000, seed=11)
    w, acc = H.optimal_band_halfwidth(curve, data)
    assert 0.006 < w < 0.009
    assert 0.935 < acc < 0.95


# ---------------------------------------------------------------------------------------- csv input
@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("0.001,0.01\n0.002,0.02\n0.003,0.03\n0.004,0.04\n", "header"),
        ("quark_mass_GeV,condensate_GeV3\n0.001,0.01\n0.002,abc\n0.003,0.03\n0.004,0.04\n", "non-numeric"),
        ("quark_mass_GeV,condensate_GeV3\n0.001,0.01\n0.002,nan\n0.003,0.03\n0.004,0.04\n", "NaN"),
        ("quark_mass_GeV,condensate_GeV3\n-0.001,0.01\n0.002,0.02\n0.003,0.03\n0.004,0.04\n", "negative"),
        ("quark_mass_GeV,condensate_GeV3\n0.001,0.01\n0.002,0.02\n0.003,0.03\n", "at least 4"),
        (
            "quark_mass_GeV,condensate_GeV3,condensate_error_GeV3\n0.001,0.01,0\n0.002,0.02,1\n0.003,0.03,1\n"
            "0.004,0.04,1\n",
            "errors",
        ),
        ("", "empty"),
    ],
)
def test_csv_validation(text, fragment):
    with pytest.raises(NqgInputError, match=fragment):
        H.read_condensate_csv(io.StringIO(text))


def test_csv_reads_errors_and_unreadable_file(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(
        "# comment\nquark_mass_GeV,condensate_GeV3,condensate_error_GeV3\n"
        "0.001,0.01,0.001\n0.002,0.02,0.001\n0.003,0.03,0.001\n0.004,0.04,0.002\n"
    )
    _, _, e = H.read_condensate_csv(path)
    np.testing.assert_allclose(e, [0.001, 0.001, 0.001, 0.002])
    with pytest.raises(NqgInputError, match="cannot read"):
        H.read_condensate_csv(tmp_path / "missing.csv")


# ---------------------------------------------------------------------------------------- fitting
_CACHE: dict = {}


def _small_regression(K=2, steps=300):
    """One small regression fit shared by the tests below (lambda trained from the start)."""
    if (K, steps) not in _CACHE:
        m, s = H.load_lattice_condensate()
        ens = H.discrete_ensemble(jax.random.key(0), K, h_std=1.0)
        out = H.fit_regression(
            ens,
            m,
            s,
            steps=steps,
            key=jax.random.key(1),
            chunk=steps,
            progress=False,
            learning_rate=0.03,
            freeze_lambda_fraction=0.0,
            slope_weight=1.0,  # weak normalisation: chi^2 alone drives these few steps
        )
        _CACHE[(K, steps)] = (m, s, ens, out)
    return _CACHE[(K, steps)]


def test_regression_ensemble_equals_independent_members_and_lowers_chi2():
    m_q, sigma, ens, out = _small_regression(K=2, steps=300)
    chi2 = out.history["member_chi2"]
    assert chi2.shape == (300, 2)
    assert np.all(chi2[-1] < chi2[0]), (chi2[0], chi2[-1])
    assert np.min(chi2[-1]) < 0.1 * np.min(chi2[0]), (chi2[0], chi2[-1])
    # member 1 trained alone ends where it ends inside the ensemble (full batch: no shared randomness)
    single = jax.tree_util.tree_map(lambda x: x[1:2] if hasattr(x, "shape") and x.ndim else x, ens)
    alone = H.fit_regression(
        single,
        m_q,
        sigma,
        steps=300,
        key=jax.random.key(1),
        chunk=300,
        progress=False,
        learning_rate=0.03,
        freeze_lambda_fraction=0.0,
        slope_weight=1.0,
    )
    np.testing.assert_allclose(
        alone.state.params.bulk.h[0], out.state.params.bulk.h[1], rtol=1e-6
    )  # roundoff order
    np.testing.assert_allclose(alone.state.params.ads_radius[0], out.state.params.ads_radius[1], rtol=1e-6)


def test_blown_up_member_is_skipped_without_poisoning_the_others():
    m, s = H.load_lattice_condensate()
    ens = H.discrete_ensemble(jax.random.key(0), 2, h_std=1.0)
    # member 0: a quartic coupling so large that the field overflows to inf in the bulk
    ens = H.HolographicQCD(
        DiscreteBulkNetwork(ens.bulk.h, jnp.array([1e30, 0.2]), m2=-3.0, eta_ini=1.0, eta_fin=1 / 15, d=4),
        jnp.array([50.0, 0.8]),
    )
    out = H.fit_regression(
        ens, m, s, steps=20, key=jax.random.key(1), chunk=20, progress=False, freeze_lambda_fraction=0.0
    )
    assert int(out.state.skipped[0]) == 20 and int(out.state.skipped[1]) == 0
    np.testing.assert_array_equal(out.state.params.bulk.h[0], ens.bulk.h[0])
    assert np.all(np.isfinite(out.history["member_loss"]))


def test_paper_fit_runs_with_per_member_minibatches():
    m, s = H.load_lattice_condensate()
    data = H.generate_condensate_data(H.condensate_curve(m, s), n_each=500, seed=0)
    ens = H.discrete_ensemble(jax.random.key(0), 3)
    out = H.fit_paper(ens, data, steps=40, key=jax.random.key(1), chunk=40, progress=False)
    assert out.history["member_data_loss"].shape == (40, 3)
    acc = H.heldout_accuracy(out.state.params, data)
    assert acc.shape == (3,) and np.all((acc >= 0) & (acc <= 1))


def test_prediction_roots_satisfy_horizon_condition_and_match_brentq(tmp_path):
    _, _, _, out = _small_regression(K=2, steps=300)
    ens = out.state.params
    masses = np.array([0.003, 0.012])
    roots, _ = H.predict_condensate(ens, masses)
    assert roots.shape == (2, 2)
    grid = np.linspace(0, 0.3, 600)
    for k in range(2):
        member = jax.tree_util.tree_map(lambda x, k=k: x[k] if hasattr(x, "shape") and x.ndim else x, ens)
        for j, mq in enumerate(masses):
            if np.isnan(roots[k, j]):
                continue
            F = np.asarray(member.horizon_condition(jnp.full(600, mq), jnp.asarray(grid)))
            i = int(np.argmax(np.sign(F[:-1]) * np.sign(F[1:]) <= 0))

            def f_of_sigma(x, member=member, mq=mq):
                return float(member.horizon_condition(mq, x))

            ref = brentq(f_of_sigma, grid[i], grid[i + 1], xtol=1e-14)
            np.testing.assert_allclose(roots[k, j], ref, rtol=1e-9, atol=1e-12)
    # save / load round trip
    H.save_ensemble(tmp_path, ens, {"method": "regression"})
    loaded, config = H.load_ensemble(tmp_path)
    assert config["method"] == "regression" and config["kind"] == "discrete"
    np.testing.assert_array_equal(loaded.bulk.h, ens.bulk.h)
    np.testing.assert_array_equal(H.predict_condensate(loaded, masses)[0], roots)
    with pytest.raises(NqgInputError):
        H.load_ensemble(tmp_path / "nope")


def test_band_accuracy_matches_direct_classification_at_the_held_out_masses():
    """The band rule (roots on a mass grid, interpolated) classifies like roots solved at each point."""
    m, s, _, out = _small_regression(K=2, steps=300)
    ens = out.state.params
    curve = H.condensate_curve(m, s)
    train = H.generate_condensate_data(curve, n_each=300, seed=3)
    held = H.generate_condensate_data(curve, n_each=100, seed=4)
    acc, widths = H.band_accuracy(ens, train, held, prior=curve)
    assert acc.shape == widths.shape == (2,)
    roots, _ = H.predict_condensate(ens, held.quark_mass, prior=curve(held.quark_mass))
    for k in range(2):
        d = np.where(np.isfinite(roots[k]), np.abs(held.condensate - roots[k]), np.inf)
        direct = np.mean((d >= widths[k]) == (held.label == 1))
        assert abs(direct - acc[k]) <= 2 / len(held), (direct, acc[k])  # interpolation: at most 2 points


def test_paper_fit_defaults_to_the_published_optimiser():
    """The published notebook trains with torch.optim.Adam's defaults: lr 1e-3, constant, no clipping.
    Three steps of fit_paper equal three optax.adam(1e-3) steps on the same minibatches."""
    import equinox as eqx
    import optax

    from nqg.devices import stream_key

    m, s = H.load_lattice_condensate()
    data = H.generate_condensate_data(H.condensate_curve(m, s), n_each=500, seed=0)
    ens = H.discrete_ensemble(jax.random.key(3), 2)
    # h_1 far from d = 4: the boundary penalty's gradient is far above any clipping threshold
    ens = eqx.tree_at(lambda e: e.bulk.h, ens, ens.bulk.h.at[:, 0].set(jnp.array([600.0, -500.0])))
    key = jax.random.key(5)
    out = H.fit_paper(ens, data, steps=3, key=key, chunk=3, progress=False)

    loss = H.paper_member_loss(data)
    opt = optax.adam(H.PAPER_LEARNING_RATE)
    members = [jax.tree_util.tree_map(lambda x, k=k: x[k] if x.ndim else x, ens) for k in range(2)]
    static = eqx.partition(members[0], eqx.is_inexact_array)[1]
    grad = jax.jit(jax.grad(lambda p, bk: loss(eqx.combine(p, static), bk)[0]))
    for k in range(2):
        params = eqx.partition(members[k], eqx.is_inexact_array)[0]
        state = opt.init(params)
        for step in range(3):
            batch_key = stream_key(jax.random.fold_in(key, step), k)  # member k's stream at this step
            grads = grad(params, batch_key)
            norm = float(jnp.sqrt(sum(jnp.sum(g**2) for g in jax.tree_util.tree_leaves(grads))))
            assert norm > 10.0  # clipping at global norm 10 would have changed the step
            updates, state = opt.update(grads, state, params)
            params = optax.apply_updates(params, updates)
        np.testing.assert_allclose(out.state.params.bulk.h[k], params.bulk.h, rtol=0, atol=1e-12)
        np.testing.assert_allclose(out.state.params.ads_radius[k], params.ads_radius, rtol=0, atol=1e-12)
        np.testing.assert_allclose(out.state.params.bulk.lam[k], params.bulk.lam, rtol=0, atol=1e-12)


def test_paper_converged_members_ignores_overflowing_and_plateau_members():
    """Converged: the last-window loss is finite at every step and <= 0.1. A member whose field
    overflows skips its steps, which record loss 0: it must not count as converged."""
    n = 50
    loss = np.stack([np.full(n, 0.076), np.zeros(n), np.full(n, 0.2525), np.full(n, 0.09)], axis=1)
    finite = np.ones((n, 4), dtype=bool)
    finite[:, 1] = False  # overflowed member: every step skipped
    finite[-1, 3] = False  # one skipped step in the window: not converged
    loss[-1, 3] = 0.0
    history = {"member_loss": loss, "member_finite": finite}
    ok, mean = H.paper_converged_members(history, window=20)
    assert ok.tolist() == [True, False, False, False]
    np.testing.assert_allclose(mean[[0, 2, 3]], [0.076, 0.2525, 0.09])
    assert np.isnan(mean[1])


def test_published_saved_run_stays_converged_under_the_published_training():
    """The published code's saved network is where the published training ends: 2000 further steps
    of fit_paper (published optimiser) keep its loss near the published 0.0757 and its accuracy."""
    from nqg.gravity.holography_experiments import published_saved_run

    m, s = H.load_lattice_condensate()
    curve = H.condensate_curve(m, s)
    data = H.generate_condensate_data(curve, n_each=10_000, seed=0)
    held = H.generate_condensate_data(curve, n_each=2_000, seed=1)
    ens = jax.tree_util.tree_map(lambda x: jnp.stack([x, x]), published_saved_run())
    out = H.fit_paper(ens, data, steps=2000, key=jax.random.key(0), chunk=2000, progress=False)
    ok, mean = H.paper_converged_members(out.history, window=1000)
    assert ok.all(), mean
    assert np.all(np.abs(mean - 0.0757) < 0.01), mean
    assert np.all(H.heldout_accuracy(out.state.params, held) > 0.83)
    np.testing.assert_allclose(np.abs(np.asarray(out.state.params.ads_radius)), 3.8526, atol=0.1)


def test_ode_model_starts_at_pure_ads_in_the_nodal_basis_and_saves(tmp_path):
    """The neural ODE's default h: values at the Chebyshev-Lobatto nodes of [1/15, 1], pure AdS (4) plus
    N(0, node_std^2); the first round's monomial model stays available; a saved nodal ensemble loads
    back to the same horizon condition."""
    from nqg.gravity.network import NodalPolynomialMetric, PolynomialMetric

    ens = H.ode_ensemble(jax.random.key(3), 400, degree=8, n_steps=8, node_std=0.3)
    assert isinstance(ens.bulk.metric, NodalPolynomialMetric)
    values = np.asarray(ens.bulk.metric.values)
    assert values.shape == (400, 9)
    # mean 4 and std 0.3 at every node, within 4 standard errors of 3600 draws
    assert abs(values.mean() - 4.0) < 4 * 0.3 / 60 and abs(values.std() / 0.3 - 1) < 4 / math.sqrt(2 * 3600)
    np.testing.assert_allclose(ens.bulk.metric.nodes[0], H.ETA_INI)
    mono = H.ode_model(jax.random.key(0), basis="monomial", h0_std=1.0, coeff_std=0.3)
    assert isinstance(mono.bulk.metric, PolynomialMetric)
    with pytest.raises(NqgInputError, match="basis"):
        H.ode_model(jax.random.key(0), basis="chebyshev")
    m_q, sigma = H.load_lattice_condensate()
    small = jax.tree_util.tree_map(lambda x: x[:3] if hasattr(x, "ndim") and x.ndim else x, ens)
    H.save_ensemble(tmp_path, small)
    back, config = H.load_ensemble(tmp_path)
    assert config["basis"] == "nodes" and isinstance(back.bulk.metric, NodalPolynomialMetric)
    F = H.ensemble_horizon_condition(small, jnp.asarray(m_q), jnp.asarray(sigma))
    np.testing.assert_allclose(H.ensemble_horizon_condition(back, jnp.asarray(m_q), jnp.asarray(sigma)), F)


def _ode_regression(ensemble, steps):
    m_q, sigma = H.load_lattice_condensate()
    out = H.fit_regression(
        ensemble, m_q, sigma, steps=steps, key=jax.random.key(2), chunk=steps // 2, progress=False
    )
    return np.asarray(out.history["member_chi2"][-1]), out.state.params


@pytest.mark.slow
def test_ode_regression_converges_from_pure_ads_and_the_monomial_start_above_ads_sticks():
    """Issue 11: why the first round's neural-ODE regression left 6 of 10 seeds at chi^2 ~ 1620.
    Negative control: the monomial model started with h shifted above AdS (c_0 = 5) stays on the
    plateau (chi^2 > 1000) while the same model at c_0 = 3 converges; from pure AdS in the nodal basis
    at least 8 of 10 seeds converge (chi^2 within 3x the best), with chi^2 below 80 like the discrete
    network's."""
    from nqg.gravity.network import NeuralODEBulk, PolynomialMetric, make_ensemble

    def monomial(c0):
        def make(key):
            coeffs = jnp.zeros(9).at[0].set(c0)
            bulk = NeuralODEBulk(
                PolynomialMetric(coeffs), 0.2, m2=-3.0, eta_ini=1.0, eta_fin=1 / 15, n_steps=20
            )
            return H.HolographicQCD(bulk, 0.8)

        return make

    chi2_hi, _ = _ode_regression(make_ensemble(monomial(5.0), jax.random.key(0), 1), 4000)
    chi2_lo, _ = _ode_regression(make_ensemble(monomial(3.0), jax.random.key(0), 1), 4000)
    assert chi2_hi[0] > 1000 and chi2_lo[0] < 200, (chi2_hi, chi2_lo)
    chi2, _ = _ode_regression(H.ode_ensemble(jax.random.key(5), 10, degree=8, n_steps=20), 4000)
    ok = chi2 <= 3 * chi2.min()
    assert ok.sum() >= 8 and np.median(chi2) < 80, chi2
