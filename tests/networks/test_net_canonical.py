"""Canonicalisation: norm balancing minimises the squared norm in the rescaling orbit, weight matching
and alignment recover a network from any permuted + rescaled (or sign-flipped) copy to 1e-10, and the
loss barrier."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nqg.errors import NqgInputError
from nqg.networks.canonical import (
    align,
    balance_relu,
    balance_residual,
    barrier_across_widths,
    canonical_signs,
    functional_barrier,
    interpolate,
    loss_barrier,
    match_permutations,
    max_param_diff,
    squared_norm,
)
from nqg.networks.symmetries import (
    flip_signs,
    mlp_apply,
    permute_neurons,
    random_log_scales,
    random_mlp_params,
    random_permutations,
    random_signs,
    relative_change,
    rescale_neurons,
)

# a few random architectures (each new shape costs JAX compilations)
shapes = st.sampled_from([(3, 5, 2), (4, 2, 6, 3), (2, 9, 3, 12, 1)])


@settings(max_examples=10, deadline=None)
@given(sizes=shapes, seed=st.integers(0, 2**31 - 1), spread=st.floats(0.1, 2.0))
def test_align_recovers_a_from_permuted_rescaled_copy(sizes, seed, spread):
    A = random_mlp_params(jax.random.key(seed), sizes)
    B = permute_neurons(A, random_permutations(jax.random.key(seed + 1), A))
    B = rescale_neurons(B, random_log_scales(jax.random.key(seed + 2), A, spread))
    for act in ("relu", "leaky_relu"):
        al = align(A, B, act)
        assert al.max_param_diff < 1e-10
        assert max_param_diff(al.aligned, A) == al.max_param_diff


@settings(max_examples=8, deadline=None)
@given(sizes=shapes, seed=st.integers(0, 2**31 - 1))
def test_align_recovers_sign_flipped_copy_for_tanh(sizes, seed):
    A = random_mlp_params(jax.random.key(seed), sizes)
    B = flip_signs(
        permute_neurons(A, random_permutations(jax.random.key(seed + 1), A)),
        random_signs(jax.random.key(seed + 2), A),
    )
    assert align(A, B, "tanh").max_param_diff < 1e-10
    assert (
        align(A, permute_neurons(A, random_permutations(jax.random.key(seed + 3), A)), "gelu").max_param_diff
        < 1e-12
    )


def test_permutation_alone_does_not_undo_rescaling():
    """Negative control: without balancing, a rescaled copy is not recovered."""
    A = random_mlp_params(jax.random.key(0), (4, 10, 8, 2))
    B = rescale_neurons(A, random_log_scales(jax.random.key(1), A, 1.0))
    assert align(A, B, "gelu").max_param_diff > 1e-2
    assert align(A, B, "relu").max_param_diff < 1e-10


@settings(max_examples=8, deadline=None)
@given(sizes=shapes, seed=st.integers(0, 2**31 - 1))
def test_balancing_is_the_norm_minimum_of_the_orbit(sizes, seed):
    A = random_mlp_params(jax.random.key(seed), sizes)
    bal, g = balance_relu(A)
    assert balance_residual(bal) < 1e-12
    x = jax.random.normal(jax.random.key(1), (9, sizes[0]))
    assert relative_change(mlp_apply(A, x), mlp_apply(bal, x)) < 1e-12
    # bal = rescale(A, g), and any further rescaling raises the squared norm (strictly convex minimum)
    assert max_param_diff(rescale_neurons(A, g), bal) < 1e-12
    for k in range(3):
        other = rescale_neurons(bal, random_log_scales(jax.random.key(seed + k), A, 0.05))
        assert squared_norm(other) > squared_norm(bal)


def test_balanced_units_have_equal_in_and_out_norms():
    A = random_mlp_params(jax.random.key(3), (3, 7, 5, 2))
    bal, _ = balance_relu(A)
    for k in range(2):
        inc = np.sum(np.asarray(bal[k][0]) ** 2, 1) + np.asarray(bal[k][1]) ** 2
        out = np.sum(np.asarray(bal[k + 1][0]) ** 2, 0)
        np.testing.assert_allclose(inc, out, rtol=1e-12)


def test_canonical_signs_and_matching_are_exact_on_numpy_and_float32():
    A = [
        (np.asarray(w, np.float32), np.asarray(b, np.float32))
        for w, b in random_mlp_params(jax.random.key(5), (3, 6, 4, 2))
    ]
    flipped, _s = canonical_signs(A)
    assert flipped[0][0].dtype == np.float32
    perms = random_permutations(jax.random.key(6), A)
    P = permute_neurons(A, perms)
    found = match_permutations(A, P)
    assert max_param_diff(permute_neurons(P, found), A) == 0.0
    al = align(A, rescale_neurons(P, random_log_scales(jax.random.key(7), A)), "relu")
    assert al.max_param_diff < 1e-5


def test_loss_barrier_definition_and_interpolation():
    assert loss_barrier([1.0, 3.0, 2.0]) == 1.5  # max - mean of endpoints
    A = random_mlp_params(jax.random.key(0), (2, 3, 1))
    B = random_mlp_params(jax.random.key(1), (2, 3, 1))
    mid = interpolate(A, B, 0.5)
    np.testing.assert_allclose(mid[0][0], 0.5 * (A[0][0] + B[0][0]))
    x = np.random.default_rng(0).normal(size=(50, 2))
    _, vals = functional_barrier(A, A, x)
    assert np.max(vals) < 1e-25  # the same network: no barrier
    _ts, vals = functional_barrier(A, B, x)
    assert vals[0] < 1e-25 and vals[-1] < 1e-25 and np.max(vals) > 1e-4


@pytest.mark.slow
def test_alignment_lowers_barrier_between_trained_networks():
    rows, curves = barrier_across_widths(
        jax.random.key(0), [16], n_train=256, steps=300, learning_rate=1e-2, n_points=9
    )
    r = rows[0]
    assert r["barrier_after"] < r["barrier_before"]
    _ts, before, after = curves[16]
    assert before[0] == after[0] and abs(before[-1] - after[-1]) < 1e-10  # alignment keeps the function


def test_architecture_mismatch():
    A = random_mlp_params(jax.random.key(0), (2, 3, 1))
    B = random_mlp_params(jax.random.key(0), (2, 4, 1))
    with pytest.raises(NqgInputError, match="different architectures"):
        align(A, B)
    with pytest.raises(NqgInputError, match="unknown activation"):
        align(A, A, "swish")
    assert jnp.asarray(A[0][0]).dtype == jnp.float64
