"""Ensemble engine and density estimators: exact discrete SGD results, invariances, estimators."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nqg.errors import NqgInputError
from nqg.learning.density import (
    ScoreFit,
    current_from_cdf,
    current_histogram,
    entropy_and_fisher,
    histogram_density,
    kde_density,
)
from nqg.learning.ensemble import (
    AdditiveNoise,
    MultiplicativeNoise,
    RegressionNet,
    UserPotential,
    _log_float64,
    continuum_temperature,
    cos_sin_2pi,
    learner_key_words,
    learner_noise,
    learner_noise_pair,
    multiplicative_moments_quadratic,
    potential_from_name,
    quadratic,
    simulate,
    stationary_variance_quadratic,
    threefry2x32,
    uniform_from_bits,
)

N = 40_000
TOL = 4 * np.sqrt(2 / N)  # 4 standard errors of a sample variance of N independent Gaussians


def _var(q):
    return float(jnp.var(q))


def test_stationary_variance_is_the_exact_discrete_one_not_the_continuum_one():
    a, s, eta, batch = 1.0, 1.0, 0.5, 2
    tr = simulate(
        AdditiveNoise(quadratic(a), s, batch), jnp.zeros(N), jax.random.key(0), learning_rate=eta, steps=120
    )
    exact = stationary_variance_quadratic(a, s, eta, batch)
    assert exact == pytest.approx(eta * s**2 / (a * batch * (2 - eta * a)))
    assert abs(_var(tr.q) / exact - 1) < TOL
    # negative control: the continuum T/a = eta s^2/(2 B a) is 1/(1 - eta a/2) - 1 = 33% too small here
    cont = continuum_temperature(s, eta, batch) / a
    assert abs(_var(tr.q) / cont - 1) > 0.25


def test_momentum_learners_match_the_ar2_variance():
    a, s, eta, mu = 2.0, 1.0, 0.2, 0.5
    tr = simulate(
        AdditiveNoise(quadratic(a), s, 1),
        jnp.zeros(N),
        jax.random.key(1),
        learning_rate=eta,
        steps=300,
        momentum=mu,
    )
    exact = stationary_variance_quadratic(a, s, eta, 1, mu)
    assert abs(_var(tr.q) / exact - 1) < TOL
    assert abs(_var(tr.q) / stationary_variance_quadratic(a, s, eta, 1) - 1) > 0.3  # momentum matters


def test_multiplicative_noise_second_moment():
    a, s, sa, eta = 1.0, 2.0, 1.0, 0.05
    q = simulate(
        MultiplicativeNoise(quadratic(a), s, 1, additive=sa),
        jnp.zeros(N),
        jax.random.key(2),
        learning_rate=eta,
        steps=400,
    ).q
    m2, m4 = multiplicative_moments_quadratic(a, s, sa, eta, 1)
    x = np.asarray(q)
    se = np.sqrt((np.mean(x**4) - np.mean(x**2) ** 2) / N)
    assert abs(np.mean(x**2) - m2) < 4 * se
    assert m4 / m2**2 - 3 > 0.5  # heavy tails: not Boltzmann


@settings(max_examples=8, deadline=None)
@given(scale=st.floats(0.1, 10.0))
def test_linear_dynamics_scale_with_the_noise(scale):
    """On a quadratic, (q0, s) -> (c q0, c s) maps every trajectory q_n -> c q_n (same random numbers)."""
    q0 = jnp.linspace(-1, 1, 64)
    kw = {"learning_rate": 0.3, "steps": 20}
    q1 = simulate(AdditiveNoise(quadratic(1.5), 0.7, 3), q0, jax.random.key(3), **kw).q
    q2 = simulate(AdditiveNoise(quadratic(1.5), 0.7 * scale, 3), scale * q0, jax.random.key(3), **kw).q
    np.testing.assert_allclose(np.asarray(q2), scale * np.asarray(q1), rtol=1e-9, atol=1e-12)


def test_records_and_float32():
    tr = simulate(
        AdditiveNoise(quadratic(1.0), 1.0, 1),
        jnp.zeros(100, jnp.float32),
        jax.random.key(0),
        learning_rate=0.1,
        steps=50,
        record_every=10,
    )
    assert tr.q.dtype == jnp.float32
    assert tr.records["variance"].shape == (5,)
    np.testing.assert_allclose(tr.times, 0.1 * 10 * np.arange(1, 6))
    with pytest.raises(NqgInputError, match="divisor"):
        simulate(
            AdditiveNoise(quadratic(1.0), 1.0, 1),
            jnp.zeros(4),
            jax.random.key(0),
            learning_rate=0.1,
            steps=50,
            record_every=7,
        )
    with pytest.raises(NqgInputError, match="learning rate"):
        simulate(
            AdditiveNoise(quadratic(1.0), 1.0, 1),
            jnp.zeros(4),
            jax.random.key(0),
            learning_rate=-0.1,
            steps=5,
        )
    with pytest.raises(NqgInputError, match="unknown potential"):
        potential_from_name("sextic")


def test_user_potential_vector_learners():
    pot = UserPotential(lambda q: 0.5 * jnp.sum(jnp.array([1.0, 4.0]) * q**2), dim=1)
    tr = simulate(
        AdditiveNoise(pot, 1.0, 1), jnp.zeros((N, 2)), jax.random.key(4), learning_rate=0.2, steps=40
    )
    var = np.var(np.asarray(tr.q), axis=0)
    exact = [stationary_variance_quadratic(a, 1.0, 0.2, 1) for a in (1.0, 4.0)]
    np.testing.assert_allclose(var / exact, 1.0, atol=TOL)
    np.testing.assert_allclose(np.asarray(pot.curvature(jnp.zeros((3, 2)))), 5.0)


def test_network_learners_learn_the_teacher():
    net = RegressionNet(width=8, noise=0.1, batch=8)
    q0 = net.init(jax.random.key(5), 16)
    before = np.asarray(net.population_loss(q0))
    q = simulate(net, q0, jax.random.key(6), learning_rate=0.1, steps=300).q
    after = np.asarray(net.population_loss(q))
    assert np.median(after) < 0.2 * np.median(before)


# ------------------------------------------------------------------------------------ random streams
def test_step_noise_is_the_threefry_cipher_at_fold_in_of_the_learner_key():
    """Layout: learner i, step n, component c -> threefry2x32(stream_key(key, i); c, n); c = 0 is fold_in."""
    from jax.extend.random import threefry_2x32

    key = jax.random.key(11)
    idx = jnp.array([0, 1, 5, 123456], dtype=jnp.uint32)
    k0, k1 = learner_key_words(key, idx)
    for step in (0, 1, 7, 2**31 + 5):
        for comp in (0, 3):
            c = jnp.full(idx.shape, comp, jnp.uint32)
            n = jnp.full(idx.shape, step, jnp.uint32)
            mine = threefry2x32(k0, k1, c, n)
            ref = threefry_2x32(jnp.stack([k0, k1]), jnp.stack([c, n]))
            np.testing.assert_array_equal(np.asarray(mine), np.asarray(ref))
        folded = jax.vmap(
            lambda i, s=step: jax.random.key_data(jax.random.fold_in(jax.random.fold_in(key, i), s))
        )
        hi, lo = threefry2x32(k0, k1, jnp.zeros_like(k0), jnp.full(idx.shape, step, jnp.uint32))
        np.testing.assert_array_equal(np.asarray(folded(idx)), np.stack([hi, lo], axis=1))


def test_series_log_cos_sin_against_numpy():
    """The branch-free ln (on the whole uniform grid's range) and cos/sin 2 pi u against libm."""
    x = np.concatenate([np.logspace(-300, -1e-16, 20_000), np.linspace(1e-6, 1 - 1e-16, 20_001)])
    ln = np.asarray(_log_float64(jnp.asarray(x)))
    assert np.max(np.abs(ln - np.log(x)) / np.abs(np.log(x))) < 4e-16 * 8  # a few ulp
    u = np.concatenate([np.linspace(-3, 3, 200_001), 2.0 ** -np.arange(1, 60), 1 - 2.0 ** -np.arange(1, 53)])
    c, s = (np.asarray(v) for v in cos_sin_2pi(jnp.asarray(u)))
    x = u - np.round(u)  # exact; libm of 2 pi x is then within ~1 ulp (2 pi u itself would not be, |u| > 1)
    assert np.max(np.abs(c - np.cos(2 * np.pi * x))) < 1e-15
    assert np.max(np.abs(s - np.sin(2 * np.pi * x))) < 1e-15
    c32, s32 = cos_sin_2pi(jnp.asarray(u[:1000], jnp.float32))
    assert c32.dtype == jnp.float32 and np.max(np.abs(np.asarray(s32) - np.sin(2 * np.pi * u[:1000]))) < 3e-6


def test_noise_pair_is_box_muller_of_the_counter_uniforms():
    """Every normal equals the Box-Muller transform (numpy's ln, cos, sin) of the documented uniforms."""
    k0, k1 = learner_key_words(jax.random.key(3), jnp.arange(500, dtype=jnp.uint32))
    for dtype, tol in ((jnp.float64, 2e-15), (jnp.float32, 3e-6)):
        for pair in (0, 7, 2**31 - 1):  # the last pair: steps 2^32 - 2 and 2^32 - 1
            z_even, z_odd = learner_noise_pair(k0, k1, pair, (3,), dtype)
            assert z_even.shape == (500, 3) and z_even.dtype == dtype
            c = jnp.arange(3, dtype=jnp.uint32)[None, :]
            ua, ub = (
                np.asarray(
                    uniform_from_bits(*threefry2x32(k0[:, None], k1[:, None], c, jnp.uint32(n)), dtype)
                )
                for n in (2 * pair, 2 * pair + 1)
            )
            assert 0 < ua.min() and ua.max() < 1
            r = np.sqrt(-2 * np.log(ua.astype(np.float64)))
            ref_even, ref_odd = r * np.cos(2 * np.pi * ub), r * np.sin(2 * np.pi * ub)
            assert np.max(np.abs(np.asarray(z_even) - ref_even) / (1 + r)) < tol
            assert np.max(np.abs(np.asarray(z_odd) - ref_odd) / (1 + r)) < tol
            for step, ref in ((2 * pair, z_even), (2 * pair + 1, z_odd)):  # one step = its half of the pair
                np.testing.assert_array_equal(np.asarray(learner_noise(k0, k1, step, (3,), dtype)), ref)
    # float32 draws the float64 uniforms rounded to 23 bits
    u64 = uniform_from_bits(*threefry2x32(k0, k1, jnp.uint32(0), jnp.uint32(5)), jnp.float64)
    u32 = uniform_from_bits(*threefry2x32(k0, k1, jnp.uint32(0), jnp.uint32(5)), jnp.float32)
    assert np.max(np.abs(np.asarray(u64) - np.asarray(u32, np.float64))) <= 2.0**-24


def test_step_noise_is_independent_standard_normal():
    """100 steps x 2000 learners x 2 components: moments, KS distance and correlations within 4-5 SE."""
    from scipy import stats

    n, steps = 2000, 100
    k0, k1 = learner_key_words(jax.random.key(12), jnp.arange(n, dtype=jnp.uint32))
    draw = jax.jit(jax.vmap(lambda t: learner_noise(k0, k1, t, (2,), jnp.float64)))
    z = np.asarray(draw(jnp.arange(steps, dtype=jnp.uint32)))  # (T, n, 2)
    x = z.ravel()
    m = x.size
    assert abs(x.mean()) < 4 / np.sqrt(m)
    assert abs(x.var() - 1) < 4 * np.sqrt(2 / m)
    assert abs(np.mean(x**4) - 3) < 4 * np.sqrt(96 / m)  # Var(z^4) = 105 - 9
    assert stats.kstest(x, "norm").pvalue > 1e-3
    pairs = {
        "consecutive steps": (z[1:, :, 0], z[:-1, :, 0]),
        "neighbouring learners": (z[:, 1:, 0], z[:, :-1, 0]),
        "two components": (z[:, :, 0], z[:, :, 1]),
    }
    for name, (u, v) in pairs.items():
        assert abs(np.mean(u * v)) < 4.5 / np.sqrt(u.size), name


def test_learner_trajectory_depends_on_its_index_only():
    """Learner i's final state is the same in an ensemble of 7 or of 50, and for any record_every."""
    kw = {"learning_rate": 0.3, "steps": 40}
    learner = MultiplicativeNoise(quadratic(1.0), 0.5, 2, additive=1.0)
    q0 = jnp.linspace(-1.0, 1.0, 50)
    big = simulate(learner, q0, jax.random.key(13), record_every=8, **kw).q
    small = simulate(learner, q0[:7], jax.random.key(13), **kw).q
    np.testing.assert_array_equal(np.asarray(small), np.asarray(big)[:7])
    other = simulate(learner, q0[:7], jax.random.key(14), **kw).q  # negative control: another key
    assert np.min(np.abs(np.asarray(other) - np.asarray(small))) > 1e-6
    net = RegressionNet(width=2, noise=0.1, batch=3)
    qn = net.init(jax.random.key(15), 9)
    np.testing.assert_array_equal(np.asarray(net.init(jax.random.key(15), 4)), np.asarray(qn)[:4])
    a = simulate(net, qn, jax.random.key(16), learning_rate=0.3, steps=10).q
    b = simulate(net, qn[:4], jax.random.key(16), learning_rate=0.3, steps=10).q
    np.testing.assert_array_equal(np.asarray(b), np.asarray(a)[:4])


def test_every_record_every_gives_the_same_trajectory_and_records():
    """Records taken every 1, 3, 6, 7 or 21 steps (odd ones run two records at a time, an odd count ends with
    a record of single steps): the final state is bitwise that of one 42-step record, and record r equals
    the every-step record at step (r + 1) R."""
    learner = AdditiveNoise(quadratic(1.0), 0.7, 3)
    q0 = jnp.linspace(-1.0, 1.0, 33)

    def observe(q, q_prev):  # q_prev: the state one step before the record
        return {"mean": jnp.mean(q), "variance": jnp.var(q), "step": jnp.mean(q - q_prev)}

    kw = {"learning_rate": 0.2, "key": jax.random.key(21), "observe": observe}
    whole = simulate(learner, q0, steps=42, **kw)
    every = simulate(learner, q0, steps=42, record_every=1, **kw)
    for steps, r_every in ((42, 1), (42, 3), (42, 6), (42, 7), (42, 21), (21, 3), (5, 1), (35, 7)):
        tr = simulate(learner, q0, steps=steps, record_every=r_every, **kw)
        if steps == 42:
            np.testing.assert_array_equal(np.asarray(tr.q), np.asarray(whole.q))
        idx = np.arange(1, steps // r_every + 1) * r_every - 1
        for name in ("mean", "variance", "step"):
            np.testing.assert_allclose(
                np.asarray(tr.records[name]), np.asarray(every.records[name])[idx], rtol=1e-13, atol=1e-15
            )
    other = simulate(learner, q0, steps=42, record_every=7, learning_rate=0.2, key=jax.random.key(22))
    assert np.all(np.asarray(every.records["step"]) != 0)
    assert np.max(np.abs(np.asarray(other.q) - np.asarray(whole.q))) > 1e-3  # control: another key


# ------------------------------------------------------------------------------------ density estimators
def test_histogram_and_kde_of_a_gaussian():
    x = np.asarray(jax.random.normal(jax.random.key(7), (N,)))
    centres, p, err = histogram_density(x, np.linspace(-3, 3, 31))
    exact = np.exp(-(centres**2) / 2) / np.sqrt(2 * np.pi)
    chi = (p - exact) / err  # bin-averaging bias ~ (dq^2/24) p'' is far below the error here
    assert np.mean(chi**2) < 2.0
    grid = np.linspace(-2, 2, 41)
    pk, ek, h = kde_density(x, grid, bandwidth=0.1)
    smoothed = np.exp(-(grid**2) / (2 * (1 + h**2))) / np.sqrt(2 * np.pi * (1 + h**2))  # exact KDE mean
    assert np.max(np.abs(pk - smoothed) / ek) < 5
    assert np.max(np.abs(pk - np.exp(-(grid**2) / 2) / np.sqrt(2 * np.pi))) < 0.02


def test_midpoint_current_vanishes_at_equilibrium_but_the_ito_one_does_not():
    """In equilibrium j = -V'p - T p' = 0; the start-point (Ito) estimate measures only the drift -V'p."""
    a, eta = 1.0, 0.01
    s = np.sqrt(2 * 0.5 / eta)  # T = 0.5
    rng = np.random.default_rng(0)
    n = 200_000
    q0 = rng.normal(0, np.sqrt(stationary_variance_quadratic(a, s, eta, 1)), n)
    q1 = q0 - eta * (a * q0 - s * rng.normal(size=n))  # one SGD step
    edges = np.linspace(-1.5, 1.5, 7)
    c, j_mid, e_mid = current_histogram(q0, q1, eta, edges)
    _, j_ito, e_ito = current_histogram(q0, q1, eta, edges, rule="ito")
    assert np.max(np.abs(j_mid) / e_mid) < 4.5
    assert np.max(np.abs(j_ito) / e_ito) > 10
    drift = -a * c * np.exp(-(c**2) / (2 * 0.5)) / np.sqrt(2 * np.pi * 0.5)
    assert np.max(np.abs(j_ito - drift) / e_ito) < 5
    jc, ec = current_from_cdf(q0, q1, eta, [0.0, 0.5])
    assert np.all(np.abs(jc) < 4.5 * ec + 1e-12)


def test_score_fit_recovers_a_gaussian_and_its_entropy():
    x = 1.0 + 2.0 * jax.random.normal(jax.random.key(8), (N,))
    fit = ScoreFit.fit(x, degree=4)
    grid = jnp.linspace(-2, 4, 7)  # within 1.5 standard deviations the fitted score is tight
    np.testing.assert_allclose(np.asarray(fit.score(grid)), -(np.asarray(grid) - 1) / 4, atol=0.03)
    ent, fisher = entropy_and_fisher(x)
    assert float(ent) == pytest.approx(0.5 * np.log(2 * np.pi * np.e * 4), abs=0.01)
    assert float(fisher) == pytest.approx(0.25, rel=0.03)
