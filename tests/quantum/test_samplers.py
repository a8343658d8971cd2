"""Detailed balance: Metropolis histograms against the exact |psi|^2 (chi-square tests)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from nqg.errors import NqgInputError
from nqg.quantum.hilbert import SpinHilbert
from nqg.quantum.lattice import chain
from nqg.quantum.models import FFNN, RBM
from nqg.quantum.samplers import ExactSampler, MetropolisExchange, MetropolisLocal


def chi_square_pvalue(samples, hilbert, probs):
    """Pearson chi-square of the histogram of independent samples against probabilities ``probs``."""
    idx = hilbert.states_to_indices(np.asarray(samples).reshape(-1, hilbert.n_sites).astype(np.int64))
    counts = np.bincount(idx, minlength=probs.size)
    expected = probs * counts.sum()
    stat = np.sum((counts - expected) ** 2 / expected)
    return stats.chi2.sf(stat, df=probs.size - 1)


@pytest.mark.parametrize("kind", ["local", "exchange", "exchange-real", "exchange-ffnn", "exact"])
def test_sampler_matches_exact_distribution(kind):
    """Real RBMs use the fast tanh-cache kernel, complex RBMs and FFNNs the generic one.

    Each chain contributes only its last sample after a long burn-in, so the samples are independent
    and the Pearson statistic follows chi^2(K-1): a p-value below 1e-3 means the sampler is wrong.
    (The RBM has large random weights, so |psi|^2 is far from uniform. For the bond-exchange chain the
    exact transition matrix has second eigenvalue 0.996 (a metastable state): 300 sweeps = 1800 steps
    leave a bias 0.996^1800 < 1e-3 in total variation, far below the noise 1/sqrt(2000).)"""
    n = 6
    hil = SpinHilbert(n) if kind == "local" else SpinHilbert(n, total_sz=0)
    if kind == "exchange-ffnn":
        model = FFNN(n, [6], key=jax.random.key(1), init_std=0.8)
    else:
        model = RBM(n, 1, key=jax.random.key(1), complex_params=kind == "exchange", init_std=0.35)
    n_chains = 2000
    if kind == "local":
        sampler = MetropolisLocal(hil, n_chains=n_chains, n_samples=n_chains, n_burn_in=300)
    elif kind == "exact":
        sampler = ExactSampler(hil, n_chains=n_chains, n_samples=n_chains)
    else:
        pairs = None if kind == "exchange-ffnn" else chain(n).bonds  # all pairs / bonds only
        sampler = MetropolisExchange(hil, pairs, n_chains=n_chains, n_samples=n_chains, n_burn_in=300)
    states = jnp.asarray(hil.all_states(), jnp.float64)
    probs = np.exp(2 * np.real(np.asarray(model.log_psi(states))))
    probs /= probs.sum()
    assert probs.max() / probs.min() > 5
    chains = sampler.init_chains(jax.random.key(2))
    samples, _, acc = jax.jit(lambda m, c, k: sampler.sample(m, c, k))(model, chains, jax.random.key(3))
    assert samples.shape == (n_chains, 1, n)
    assert 0 < float(acc) <= 1
    if kind != "local":
        assert np.all(np.asarray(samples).sum(-1) == 0)  # S^z conserved
    assert chi_square_pvalue(samples[:, -1], hil, probs) > 1e-3


def test_sampler_input_checks():
    with pytest.raises(NqgInputError):
        MetropolisLocal(SpinHilbert(4, total_sz=0))
    with pytest.raises(NqgInputError):
        MetropolisExchange(SpinHilbert(4, total_sz=0), n_chains=16, n_samples=8)
