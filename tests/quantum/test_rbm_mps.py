"""RBM -> MPS (Chen et al., arXiv:1701.04831): exact amplitudes, bond dimension = Schmidt rank, control."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nqg.errors import NqgInputError
from nqg.quantum.hilbert import SpinHilbert
from nqg.quantum.models import RBM
from nqg.quantum.mps import MPS
from nqg.quantum.tensor_networks import local_rbm, rbm_to_mps, schmidt_rank


def all_states(n):
    return jnp.asarray(SpinHilbert(n).all_states(np.int8)).astype(jnp.float64)


def rbm_amplitudes_numpy(rbm, n):
    """psi(s) = exp(a.s) prod_j cosh(b_j + (W s)_j) over all configurations, in numpy (independent of jax)."""
    s = SpinHilbert(n).all_states(np.int8).astype(float)
    w, a, b = (np.asarray(x) for x in (rbm.weights, rbm.visible_bias, rbm.hidden_bias))
    return np.exp(s @ a) * np.prod(np.cosh(b + s @ w.T), axis=1)


@settings(max_examples=10, deadline=None)
@given(
    n=st.integers(3, 9),
    range_=st.integers(1, 4),
    alpha=st.integers(1, 3),
    periodic=st.booleans(),
    seed=st.integers(0, 10_000),
)
def test_rbm_to_mps_amplitudes_equal(n, range_, alpha, periodic, seed):
    range_ = min(range_, n)
    rbm = local_rbm(n, range_, alpha, key=jax.random.key(seed), periodic=periodic, std=0.5)
    ratio = rbm_to_mps(rbm).amplitudes() / rbm_amplitudes_numpy(rbm, n)
    assert np.max(np.abs(ratio - 1)) < 1e-12


def test_rbm_as_nqg_mps_model_has_the_same_log_psi():
    n = 9
    rbm = local_rbm(n, 3, 2, key=jax.random.key(5), periodic=True, std=0.5)
    model = MPS.from_tensors(rbm_to_mps(rbm).tensors)
    log_rbm = np.asarray(rbm.log_psi(all_states(n)))
    assert np.max(np.abs(np.expm1(np.asarray(model.log_psi(all_states(n))) - log_rbm))) < 1e-12


def test_dense_and_complex_rbms_convert_exactly():
    n = 8
    for rbm in (
        RBM(n, 1.5, key=jax.random.key(0), init_std=0.4),
        RBM(n, 1, key=jax.random.key(1), init_std=0.4, complex_params=True),
    ):
        conv = rbm_to_mps(rbm)
        ref = rbm_amplitudes_numpy(rbm, n)
        assert np.max(np.abs(conv.amplitudes() / ref - 1)) < 1e-12
        assert conv.bond_dimensions.tolist() == [2 ** (c + 1) for c in range(n - 1)]  # all left spins carried


@pytest.mark.parametrize(
    ("n", "range_", "alpha"),
    [
        (10, 3, 2),
        pytest.param(12, 4, 1, marks=pytest.mark.slow),
        pytest.param(10, 2, 3, marks=pytest.mark.slow),
    ],
)
def test_bond_dimension_is_the_schmidt_rank_for_short_range_rbms(n, range_, alpha):
    """In the bulk the bond dimension 2^(r-1) (independent of alpha) IS the Schmidt rank; near the right
    end the construction carries more spins than the short side needs, so there it only bounds it."""
    rbm = local_rbm(n, range_, alpha, key=jax.random.key(n + range_))
    conv = rbm_to_mps(rbm)
    amps = np.exp(np.asarray(rbm.log_psi(all_states(n))))
    ranks = np.array([schmidt_rank(amps, c + 1) for c in range(n - 1)])
    dims = conv.bond_dimensions
    bulk = np.arange(range_ - 2, n - range_ + 1)  # cuts with >= r-1 sites on either side
    assert np.all(dims[bulk] == 2 ** (range_ - 1))
    assert np.all(dims[bulk] == ranks[bulk])
    assert np.all(dims >= ranks)


def test_negative_control_dense_rbm_exceeds_the_short_range_bound():
    n = 10
    amps = np.exp(np.asarray(RBM(n, 2, key=jax.random.key(3), init_std=0.3).log_psi(all_states(n))))
    assert schmidt_rank(amps, n // 2) > 2 ** (3 - 1)
    # and a range-3 RBM with the same hidden-unit count stays at the bound
    local = local_rbm(n, 3, 2, key=jax.random.key(3))
    assert schmidt_rank(np.exp(np.asarray(local.log_psi(all_states(n)))), n // 2) == 4


def test_bond_dimension_limit():
    with pytest.raises(NqgInputError, match="needs bond dimension 1024 > max_bond_dim=64"):
        rbm_to_mps(RBM(11, 1, key=jax.random.key(0)), max_bond_dim=64)
