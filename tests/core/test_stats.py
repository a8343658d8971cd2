import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nqg import stats


def ar1(phi, n_chains, n, seed):
    rng = np.random.default_rng(seed)
    e = rng.normal(size=(n_chains, n))
    x = np.empty_like(e)
    x[:, 0] = e[:, 0] / np.sqrt(1 - phi**2)
    for t in range(1, n):
        x[:, t] = phi * x[:, t - 1] + e[:, t]
    return x


@pytest.mark.parametrize("phi", [0.5, 0.9])
def test_tau_of_ar1_process(phi):
    x = ar1(phi, 8, 20000, seed=1)
    tau_exact = (1 + phi) / (1 - phi)
    # Sokal's estimator has relative std ~ sqrt(2 (2W+1) / N) for window W = c tau.
    rel = np.sqrt(2 * (2 * 5 * tau_exact + 1) / x.size)
    assert float(stats.integrated_autocorrelation_time(x)) == pytest.approx(tau_exact, rel=4 * rel)


def test_error_of_correlated_mean_is_calibrated():
    # Over many independent runs the z-scores of the mean must have unit spread.
    phi = 0.8
    z = []
    for seed in range(40):
        est = stats.estimate(ar1(phi, 4, 2000, seed))
        z.append(est.mean / est.error)
    # std of 40 standard normals is 1 within ~ 1/sqrt(2*40) = 0.11; allow 3.5 sigma.
    assert abs(np.std(z) - 1.0) < 0.4


def test_iid_error_and_rhat():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 4000))
    est = stats.estimate(x)
    assert est.error == pytest.approx(1 / np.sqrt(x.size), rel=0.05)
    assert est.tau == pytest.approx(1.0, abs=0.05)
    assert abs(est.rhat - 1) < 0.01
    x[:4] += 2.0  # chains stuck elsewhere: R-hat ~ sqrt(1 + 4 * var of the 0/1 mixture) ~ 1.2
    assert stats.estimate(x).rhat > 1.1


def test_complex_samples():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4, 1000)) + 1j * rng.normal(size=(4, 1000))
    est = stats.estimate(x)
    assert isinstance(est.mean, complex)
    assert est.variance == pytest.approx(2.0, rel=0.1)


@settings(max_examples=20, deadline=None)
@given(st.integers(2, 50), st.floats(-5, 5), st.floats(0.1, 10))
def test_batch_means_is_mean_and_sem(n, shift, scale):
    rng = np.random.default_rng(n)
    m = shift + scale * rng.normal(size=n)
    mean, err = stats.batch_means(m)
    assert float(mean) == pytest.approx(m.mean())
    assert float(err) == pytest.approx(m.std(ddof=1) / np.sqrt(n))


def test_batch_means_needs_two():
    with pytest.raises(ValueError):
        stats.batch_means(np.ones(1))
