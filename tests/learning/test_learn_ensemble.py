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
    continuum_temperature,
    multiplicative_moments_quadratic,
    potential_from_name,
    quadratic,
    simulate,
    stationary_variance_quadratic,
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
