"""Neural-network field theory: kernels, 1/N formula, streaming, Wick pairings, generators."""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import quad

import nqg  # noqa: F401  (float64)
from nqg.errors import NqgInputError
from nqg.fields import nnft_random
from nqg.fields.nnft import (
    CauchyCosNet,
    CosNet,
    CustomArchitecture,
    ErfNet,
    GaussNet,
    ReLUNet,
    connected_four_point,
    cutoff_propagator_1d,
    gaussian_correlator,
    multisets,
    predict_correlators,
    wick_pairings,
)
from nqg.fields.nnft_ensemble import estimate_correlators, normalized_deviation

N_SIGMA = 4.0


def _mc_hidden_moments(arch, points, tuples, n=2**18, seed=7):
    """Plain Monte-Carlo mean and standard error of prod_j h(x_{t_j}) over float64 neurons."""
    theta = arch.sample_hidden(jax.random.key(seed), (n,), jnp.float64)
    h = np.stack([np.asarray(arch.hidden_unit(theta, jnp.asarray(x))) for x in points], axis=-1)
    prods = np.prod(h[:, np.asarray(tuples)], axis=-1)
    return prods.mean(0), prods.std(0, ddof=1) / math.sqrt(n)


@pytest.mark.parametrize("n, count", [(2, 1), (4, 3), (6, 15), (8, 105)])
def test_wick_pairing_counts_and_completeness(n, count):
    pairings = wick_pairings(n)
    assert len(pairings) == count == math.prod(range(n - 1, 0, -2))
    for p in pairings:
        assert sorted(i for pair in p for i in pair) == list(range(n))
    assert len(set(frozenset(map(frozenset, p)) for p in pairings)) == count


def test_gaussian_correlator_matches_isserlis_for_a_gaussian_vector():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 3))
    cov = a @ a.T + np.eye(3)
    t = np.array([[0, 1, 2, 2, 1, 0]])
    # direct Isserlis from the moment generating function: E[prod] via derivative of exp(j C j / 2)
    x = rng.multivariate_normal(np.zeros(3), cov, size=400_000)
    mc = np.prod(x[:, t[0]], axis=1)
    assert abs(gaussian_correlator(cov, t)[0] - mc.mean()) < N_SIGMA * mc.std() / math.sqrt(len(mc))


def test_wick_pairings_reject_odd():
    with pytest.raises(NqgInputError):
        wick_pairings(3)


POINTS_1D = np.array([[-1.0], [-0.3], [0.4], [1.0]])
ARCHS = [
    ErfNet(),
    ReLUNet(),
    ReLUNet(s_b=0.7),
    GaussNet(s_b=0.5),
    GaussNet(d_in=2, s_b=0.3),
    ErfNet(d_in=2),
    CosNet(cutoff=6.0),
    CosNet(d_in=2, cutoff=4.0),
    CauchyCosNet(omega=1.3),
]


@pytest.mark.parametrize("arch", ARCHS, ids=lambda a: f"{a.name}-d{a.d_in}")
def test_kernel_and_four_point_moments_match_monte_carlo(arch):
    rng = np.random.default_rng(1)
    pts = POINTS_1D if arch.d_in == 1 else rng.uniform(-0.8, 0.8, size=(4, arch.d_in))
    pairs = multisets(len(pts), 2)
    quads = multisets(len(pts), 4)[::5]
    kmat = arch.kernel(pts)
    mc2, se2 = _mc_hidden_moments(arch, pts, pairs)
    k_mc = arch.output_bias_std**2 + arch.readout_std**2 * mc2
    k_se = arch.readout_std**2 * se2
    k_an = kmat[pairs[:, 0], pairs[:, 1]]
    assert np.all(np.abs(k_an - k_mc) < N_SIGMA * k_se + 1e-12), (k_an, k_mc, k_se)
    m4 = arch.hidden_moments(pts, quads)
    mc4, se4 = _mc_hidden_moments(arch, pts, quads)
    assert np.all(np.abs(m4 - mc4) < N_SIGMA * se4 + 1e-12), (m4, mc4, se4)


@pytest.mark.parametrize("arch", [ErfNet(), ReLUNet(s_b=0.5), ErfNet(d_in=2)], ids=["erf", "relu", "erf2"])
def test_closed_form_kernels_match_quadrature(arch):
    pts = POINTS_1D if arch.d_in == 1 else np.array([[0.1, -0.5], [0.7, 0.2], [-0.4, 0.9]])
    n = len(pts)
    pairs = np.array([(i, j) for i in range(n) for j in range(n)])
    quad_k = arch.output_bias_std**2 + arch.readout_std**2 * arch.hidden_moments(pts, pairs).reshape(n, n)
    np.testing.assert_allclose(arch.kernel(pts), quad_k, rtol=1e-9, atol=1e-12)


def test_relu_moments_exact_for_homogeneous_case():
    """s_b = 0, d_in = 1: relu(W x_i) = x_i relu(W) (x_i > 0): E[prod] = 1.5 prod x_i."""
    x = np.array([[0.2], [0.6], [1.2]])
    t = np.array([[0, 1, 1, 2]])
    assert ReLUNet().hidden_moments(x, t)[0] == pytest.approx(1.5 * 0.2 * 0.6 * 0.6 * 1.2, rel=1e-12)


def test_cutoff_propagator_closed_form_matches_integral_and_oscillator_limit():
    m, lam = 1.3, 7.0
    for t in [0.0, 0.01, 0.5, 2.0, 8.0]:
        direct = (
            quad(lambda p: 1 / (p * p + m * m), 0, lam, weight="cos", wvar=t)[0] / np.pi
            if t
            else (quad(lambda p: 1 / (p * p + m * m), 0, lam)[0] / np.pi)
        )
        assert cutoff_propagator_1d(np.array([t]), m, lam)[0] == pytest.approx(direct, rel=1e-9, abs=1e-13)
    t = np.linspace(0, 3, 7)
    np.testing.assert_allclose(cutoff_propagator_1d(t, m, 1e5), np.exp(-m * t) / (2 * m), atol=2e-5)


def test_cauchy_cos_net_kernel_is_oscillator_propagator():
    arch = CauchyCosNet(omega=0.8, oscillator_mass=2.0)
    t = np.array([[0.0], [0.5], [2.0]])
    expected = np.exp(-0.8 * np.abs(t - t.T)) / (2 * 2.0 * 0.8)
    np.testing.assert_allclose(arch.kernel(t), expected, rtol=1e-12)


def test_one_over_n_formula_matches_brute_force_moments_at_small_width():
    """At N = 2 the measured connected 4-point function equals (s^4/N)[3E[hhhh] - sum E[hh]E[hh]]."""
    arch = ErfNet()
    pts = np.array([[-1.0], [0.2], [1.0]])
    est = estimate_correlators(arch, 2, pts, 2**18, jax.random.key(3), orders=(2, 4), dtype=jnp.float64)
    g4c, err = est.connected_four_point()
    theory = connected_four_point(arch, 2, pts, est.tuples[4])
    assert np.sum(theory > 5 * err) >= 8  # the 1/N term is resolved (a few tuples vanish by symmetry)
    assert np.all(np.abs(g4c - theory) < N_SIGMA * err), (g4c, theory, err)
    # the kurtosis formula itself: G4 = GP + G4_c, exact at every N for Gaussian readout weights
    pred = predict_correlators(arch, 2, pts, (4,))
    z = (est.mean(4) - pred[4]["order_1_over_n"]) / est.error(4)
    assert np.all(np.abs(z) < N_SIGMA)
    assert np.max(g4c / err) > 5  # and the Gaussian process alone (G4_c = 0) is excluded at N = 2


def test_streaming_equals_one_shot_with_the_same_key():
    arch = ErfNet()
    pts = [-0.5, 0.1, 0.9]
    for dtype, rtol in [(jnp.float64, 1e-11), (jnp.float32, 1e-5)]:  # float32: fusion order changes rounding
        kw = dict(orders=(2, 4), batch_size=100, n_blocks=4, dtype=dtype)
        s = estimate_correlators(arch, 7, pts, 1000, jax.random.key(11), streaming=True, **kw)
        o = estimate_correlators(arch, 7, pts, 1000, jax.random.key(11), streaming=False, **kw)
        for n in (2, 4):
            np.testing.assert_allclose(s.block_sums[n], o.block_sums[n], rtol=rtol)
        np.testing.assert_array_equal(s.block_counts, o.block_counts)
    # a partial last batch is masked: 1000 networks in batches of 300 -> 4 batches, counts sum to 1000
    p = estimate_correlators(arch, 7, pts, 1000, jax.random.key(11), orders=(2,), batch_size=300, n_blocks=2)
    assert p.block_counts.sum() == 1000


def test_correlators_follow_the_gaussian_process_at_large_width():
    arch = GaussNet()
    pts = 0.01 * np.array([-1.0, 0.2, 1.0])
    est = estimate_correlators(arch, 200, pts, 20_000, jax.random.key(5), orders=(2, 4))
    pred = predict_correlators(arch, 200, pts, (2, 4))
    for n in (2, 4):
        z = (est.mean(n) - pred[n]["order_1_over_n"]) / est.error(n)
        assert np.all(np.abs(z) < N_SIGMA)
    m2, m2_err = normalized_deviation(est, pred, 2)
    assert 0 <= m2 < 0.05 and m2_err > 0


def test_custom_architecture_end_to_end():
    def sample(key, shape, dtype):
        kw, kb = jax.random.split(key)
        return {"w": jax.random.normal(kw, (*shape, 1), dtype), "b": jax.random.normal(kb, shape, dtype)}

    tanh_net = CustomArchitecture(
        sample, lambda th, x: jnp.tanh(th["w"] @ x + th["b"]), d_in=1, readout_std=1.0
    )
    pts = np.array([[0.0], [0.8]])
    est = estimate_correlators(tanh_net, 50, pts, 8000, jax.random.key(2), orders=(2,))
    kmat = tanh_net.kernel(pts)
    t = est.tuples[2]
    z = (est.mean(2) - kmat[t[:, 0], t[:, 1]]) / est.error(2)
    assert np.all(np.abs(z) < N_SIGMA + 1.0)  # MC kernel (2^20 neurons) has its own ~1e-3 error


def test_philox_known_answer_vectors_and_normal_moments():
    # Random123 kat_vectors for philox4x32-10
    out = nnft_random.philox4x32((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0))
    assert [int(x) for x in out] == [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]
    out = nnft_random.philox4x32((0, 0, 0, 0), (0, 0))
    assert [int(x) for x in out] == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
    n = 2**20
    for dtype in (jnp.float32, jnp.float64):
        z = np.asarray(nnft_random.normal(jax.random.key(0), (n,), dtype), dtype=float)
        for k, exact in [(1, 0.0), (2, 1.0), (4, 3.0)]:
            se = math.sqrt((math.prod(range(2 * k - 1, 0, -2)) - exact**2) / n)
            assert abs((z**k).mean() - exact) < N_SIGMA * se
    u = np.asarray(nnft_random.uniform(jax.random.key(1), (n,), jnp.float64, -2.0, 3.0))
    assert u.min() > -2 and u.max() < 3 and abs(u.mean() - 0.5) < N_SIGMA * 5 / math.sqrt(12 * n)


def test_predictions_are_symmetric_under_permutations():
    arch = ErfNet()
    pts = np.array([[-0.7], [0.1], [0.5]])
    pred = predict_correlators(arch, 3, pts, (4,))
    table = {tuple(t): v for t, v in zip(pred[4]["tuples"].tolist(), pred[4]["order_1_over_n"], strict=True)}
    g4c = connected_four_point(arch, 3, pts, np.array(list(itertools.permutations([0, 1, 1, 2]))))
    np.testing.assert_allclose(g4c, g4c[0], rtol=1e-12)
    assert (0, 1, 1, 2) in table


def test_phi4_first_order_cumulant_formula_on_gaussian_fields():
    """Gaussian field: kappa(phi_1..phi_4, (1/4!) sum_k w_k phi_k^4) = sum_k w_k prod_i G(x_k, x_i)."""
    from nqg.fields.nnft_phi4 import Phi4Setup, _jackknife, _kappa_from_moments, _pairs

    arch = CosNet(cutoff=4.0)
    setup = Phi4Setup.build(0.5, 0.1, [(0.0, 0.0, 0.0, 0.0), (-0.2, 0.0, 0.2, 0.4)])
    cov = arch.kernel(setup.grid[:, None])
    rng = np.random.default_rng(0)
    n_blocks, per_block = 20, 20_000
    pr, pidx = _pairs(len(setup.external))
    chol = np.linalg.cholesky(cov + 1e-12 * np.eye(len(cov)))
    sums = []
    for _ in range(n_blocks):
        phi = rng.normal(size=(per_block, len(cov))) @ chol.T
        s = (phi**4 @ setup.weights) / 24
        ext = phi[:, setup.external]
        p4 = np.prod(ext[:, setup.tuples], axis=-1)
        p2 = np.prod(ext[:, pr], axis=-1)
        sums.append(np.concatenate([p4 * s[:, None], p4, s[:, None], p2 * s[:, None], p2], axis=1).sum(0))
    sums, counts = np.array(sums), np.full(n_blocks, per_block, float)
    n_t, n_p = len(setup.tuples), len(pr)
    sl = np.cumsum([0, n_t, n_t, 1, n_p, n_p])

    def kappa(m):
        return _kappa_from_moments(*(m[..., sl[i] : sl[i + 1]] for i in range(5)), setup.tuples, pidx)

    k, ke = _jackknife(sums, counts, kappa)
    analytic = setup.analytic_first_order(arch)
    assert np.all(np.abs(k - analytic) < N_SIGMA * ke), (k, analytic, ke)
    assert np.all(analytic > 5 * ke)


def test_phi4_rao_blackwell_estimator_approaches_analytic_at_large_width():
    from nqg.fields.nnft_phi4 import Phi4Setup, phi4_first_order_rao_blackwell

    arch = CosNet(cutoff=4.0)
    setup = Phi4Setup.build(0.5, 0.1, [(0.0, 0.0, 0.0, 0.0)])
    analytic = setup.analytic_first_order(arch)
    small = phi4_first_order_rao_blackwell(arch, 50, setup, 2000, jax.random.key(0))
    large = phi4_first_order_rao_blackwell(arch, 2000, setup, 200, jax.random.key(1))
    dev_small = small["kappa"][0] / analytic[0] - 1
    dev_large = large["kappa"][0] / analytic[0] - 1
    assert dev_small > 10 * small["kappa_error"][0] / analytic[0]  # finite-N non-Gaussianity is resolved ...
    assert abs(dev_large) < abs(dev_small) / 10  # ... and shrinks like 1/N (50 -> 2000: / 40)


def test_cauchy_frequencies_stay_finite_when_the_normal_draw_is_exactly_zero(monkeypatch):
    """A float32 normal is exactly 0 about once in 1e7 draws; b = g / |chi| must not become inf."""
    from nqg.fields import nnft_random
    from nqg.fields.nnft import CauchyCosNet

    monkeypatch.setattr(nnft_random, "normal", lambda key, shape, dtype=jnp.float32: jnp.zeros(shape, dtype))
    theta = CauchyCosNet().sample_hidden(jax.random.key(0), (4, 3), jnp.float32)
    assert bool(jnp.all(jnp.isfinite(theta["b"])))
    assert bool(jnp.all(jnp.isfinite(CauchyCosNet().hidden_unit(theta, jnp.array([0.7])))))
