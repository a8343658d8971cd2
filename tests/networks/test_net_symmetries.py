"""Symmetries of MLPs and attention (arXiv:2402.02362 section 2): exact invariances on random shapes and
parameters (hypothesis), the non-symmetries as negative controls, equinox modules, float32."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nqg.errors import NqgInputError
from nqg.networks.symmetries import (
    MLP,
    activation_symmetries,
    attention_apply,
    attention_symmetries,
    check_mlp_params,
    flip_signs,
    invariance_table,
    mlp_apply,
    permute_heads,
    permute_neurons,
    random_attention_params,
    random_attention_symmetry,
    random_log_scales,
    random_mlp_params,
    random_mlp_symmetry,
    random_permutations,
    random_signs,
    relative_change,
    rescale_neurons,
    rescale_relu_attention,
    transform_query_key,
    transform_value_output,
)

# a few random architectures (each new shape costs JAX compilations): widths 1..9, depth 2..4
shapes = st.sampled_from([(3, 5, 2), (4, 1, 6, 3), (2, 8, 3, 9, 1)])
seeds = st.integers(0, 2**31 - 1)


def _x(seed, n_in, dtype=jnp.float64):
    return jax.random.normal(jax.random.key(seed + 1), (13, n_in), dtype)


@settings(max_examples=6, deadline=None)
@given(
    sizes=shapes, seed=seeds, act=st.sampled_from(["relu", "leaky_relu", "tanh", "sin", "gelu", "sigmoid"])
)
def test_every_admitted_mlp_symmetry_is_exact(sizes, seed, act):
    params = random_mlp_params(jax.random.key(seed), sizes)
    x = _x(seed, sizes[0])
    f0 = mlp_apply(params, x, act)
    for j, sym in enumerate(activation_symmetries(act) - {"general_linear"}):
        new = random_mlp_symmetry(jax.random.key(seed + 7 + j), params, sym, spread=1.5)
        assert relative_change(f0, mlp_apply(new, x, act)) < 1e-10, sym


@settings(max_examples=8, deadline=None)
@given(seed=seeds, act=st.sampled_from(["tanh", "gelu", "sigmoid"]))
def test_rescaling_is_not_a_symmetry_of_tanh_gelu_sigmoid(seed, act):
    sizes = (4, 12, 10, 2)
    params = random_mlp_params(jax.random.key(seed), sizes)
    x = _x(seed, 4)
    new = rescale_neurons(params, random_log_scales(jax.random.key(seed + 3), params, 1.0))
    assert relative_change(mlp_apply(params, x, act), mlp_apply(new, x, act)) > 1e-3
    assert "rescaling" not in activation_symmetries(act)


def test_sign_flip_is_not_a_symmetry_of_relu_but_is_of_tanh():
    params = random_mlp_params(jax.random.key(0), (3, 8, 8, 2))
    x = _x(0, 3)
    new = flip_signs(params, random_signs(jax.random.key(1), params))
    assert relative_change(mlp_apply(params, x, "relu"), mlp_apply(new, x, "relu")) > 1e-3
    assert relative_change(mlp_apply(params, x, "tanh"), mlp_apply(new, x, "tanh")) < 1e-14


def test_permutation_matches_explicit_matrices():
    params = random_mlp_params(jax.random.key(2), (3, 5, 4))
    perms = random_permutations(jax.random.key(3), params)
    new = permute_neurons(params, perms)
    P = np.eye(5)[np.asarray(perms[0])]  # (P y)_i = y_{p_i}
    np.testing.assert_allclose(new[0][0], P @ params[0][0], atol=0)
    np.testing.assert_allclose(new[1][0], params[1][0] @ P.T, atol=0)


def test_rescaling_matches_explicit_formula():
    params = random_mlp_params(jax.random.key(4), (3, 5, 4, 2))
    g = random_log_scales(jax.random.key(5), params)
    new = rescale_neurons(params, g)
    D1, D2 = np.diag(np.exp(g[0])), np.diag(np.exp(g[1]))
    np.testing.assert_allclose(new[1][0], D2 @ params[1][0] @ np.linalg.inv(D1), rtol=1e-13)
    np.testing.assert_allclose(new[1][1], D2 @ params[1][1], rtol=1e-13)
    np.testing.assert_allclose(new[2][1], params[2][1], rtol=0)  # D_L = 1


def test_float32_keeps_dtype_and_invariance():
    params = random_mlp_params(jax.random.key(6), (4, 16, 8, 2), dtype=jnp.float32)
    x = _x(6, 4, jnp.float32)
    new = random_mlp_symmetry(jax.random.key(7), params, "rescaling")
    assert new[0][0].dtype == jnp.float32
    assert relative_change(mlp_apply(params, x), mlp_apply(new, x)) < 1e-5


def test_equinox_modules_and_dict_params():
    mlp = eqx.nn.MLP(4, 2, 8, 2, activation=jax.nn.relu, key=jax.random.key(8))
    x = _x(8, 4)
    new = random_mlp_symmetry(jax.random.key(9), mlp, "rescaling")
    assert isinstance(new, eqx.nn.MLP)
    assert relative_change(jax.vmap(mlp)(x), jax.vmap(new)(x)) < 1e-12
    own = MLP.random(jax.random.key(10), (4, 6, 3), "tanh")
    flipped = random_mlp_symmetry(jax.random.key(11), own, "sign_flip")
    assert isinstance(flipped, MLP) and relative_change(own(x), flipped(x)) < 1e-12
    d = {"W0": own.weights[0], "b0": own.biases[0], "W1": own.weights[1], "b1": own.biases[1]}
    dp = random_mlp_symmetry(jax.random.key(12), d, "permutation")
    assert set(dp) == set(d) and relative_change(mlp_apply(d, x, "tanh"), mlp_apply(dp, x, "tanh")) < 1e-12


@settings(max_examples=5, deadline=None)
@given(seed=seeds, shape=st.sampled_from([(2, 1, 3, 1), (5, 3, 4, 2), (6, 4, 2, 5)]))
def test_attention_symmetries(seed, shape):
    d, heads, n, dk = shape
    params = random_attention_params(jax.random.key(seed), d, heads, d_k=dk)
    x = jax.random.normal(jax.random.key(seed + 1), (n, d))
    for kind in ("softmax", "relu"):
        f0 = attention_apply(params, x, kind)
        for sym in attention_symmetries(kind):
            new = random_attention_symmetry(jax.random.key(seed + 2), params, sym)
            assert relative_change(f0, attention_apply(new, x, kind)) < 1e-10, (kind, sym)


def test_attention_explicit_transformations_and_relu_rescaling_control():
    p = random_attention_params(jax.random.key(0), 5, 2, d_k=3, d_v=4)
    x = jax.random.normal(jax.random.key(1), (6, 5))
    A = jnp.array([[2.0, 0.3, 0.0], [0.1, 0.5, 0.2], [0.0, -0.4, 1.5]])
    B = jnp.eye(4) * 3.0 + 0.1
    for kind in ("softmax", "relu"):
        f0 = attention_apply(p, x, kind)
        for new in (transform_query_key(p, A), transform_value_output(p, B), permute_heads(p, [1, 0])):
            assert relative_change(f0, attention_apply(new, x, kind)) < 1e-12
    r = rescale_relu_attention(p, 3.0, 0.5, 1 / 1.5)
    assert relative_change(attention_apply(p, x, "relu"), attention_apply(r, x, "relu")) < 1e-12
    # a_q a_k a_v = 1 is not a symmetry of softmax attention; a_q a_k a_v != 1 is none of relu attention
    assert relative_change(attention_apply(p, x, "softmax"), attention_apply(r, x, "softmax")) > 1e-3
    bad = rescale_relu_attention(p, 3.0, 0.5, 1.0)
    assert relative_change(attention_apply(p, x, "relu"), attention_apply(bad, x, "relu")) > 1e-3


def test_equinox_multihead_attention():
    mha = eqx.nn.MultiheadAttention(3, 6, key=jax.random.key(3))
    x = jax.random.normal(jax.random.key(4), (5, 6))
    for sym in ("query_key", "value_output", "head_permutation"):
        new = random_attention_symmetry(jax.random.key(5), mha, sym)
        assert isinstance(new, eqx.nn.MultiheadAttention)
        assert relative_change(mha(x, x, x), new(x, x, x)) < 1e-12


@pytest.mark.slow  # the nn-symmetries quick run (test_net_symmetry_experiments.py) checks the same table
def test_invariance_table_separates_symmetries_from_controls():
    rows = invariance_table(jax.random.key(0))
    assert max(r["relative_change"] for r in rows if r["expected_symmetry"]) < 1e-10
    assert min(r["relative_change"] for r in rows if not r["expected_symmetry"]) > 1e-3


def test_bad_input():
    with pytest.raises(NqgInputError, match="unknown activation 'swish'"):
        activation_symmetries("swish")
    with pytest.raises(NqgInputError, match="do not chain"):
        check_mlp_params([(np.ones((4, 3)), np.ones(4)), (np.ones((2, 5)), np.ones(2))])
    with pytest.raises(NqgInputError, match="NaN"):
        check_mlp_params([(np.full((4, 3), np.nan), np.ones(4))])
