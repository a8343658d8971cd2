"""nqg.rng: the same numbers as jax.random, with fewer compilations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nqg import rng

CASES = [((), jnp.float64), ((7, 5), jnp.float64), ((2, 3, 4), jnp.float64), ((17,), jnp.float32)]


@pytest.mark.parametrize(("shape", "dtype"), CASES)
def test_normal_and_uniform_equal_jax_random_bit_for_bit(shape, dtype):
    key = jax.random.key(11)
    a, b = rng.normal(key, shape, dtype), jax.random.normal(key, shape, dtype)
    assert a.shape == b.shape and a.dtype == b.dtype
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    u = rng.uniform(key, shape, dtype, minval=-2.0, maxval=3.0)
    np.testing.assert_array_equal(np.asarray(u), np.asarray(jax.random.uniform(key, shape, dtype, -2.0, 3.0)))


def test_default_dtype_and_other_keys_differ():
    a = rng.normal(jax.random.key(0), (50,))
    assert a.dtype == jnp.zeros(()).dtype
    b = rng.normal(jax.random.key(1), (50,))
    assert np.max(np.abs(np.asarray(a) - np.asarray(b))) > 1.0  # a negative control: not the same stream
    # the draws are standard normals (mean and variance of 2^14 draws within 5 standard errors)
    z = np.asarray(rng.normal(jax.random.key(2), (1 << 14,)))
    assert abs(z.mean()) < 5 / np.sqrt(z.size) and abs(z.var() - 1) < 5 * np.sqrt(2 / z.size)


def test_inside_jit_falls_back_to_jax_random():
    f = jax.jit(lambda k: rng.normal(k, (4, 3)) + rng.uniform(k, (4, 3)))
    key = jax.random.key(5)
    expected = jax.jit(lambda k: jax.random.normal(k, (4, 3)) + jax.random.uniform(k, (4, 3)))(key)
    np.testing.assert_array_equal(np.asarray(f(key)), np.asarray(expected))


def test_one_compilation_per_bucket():
    compiled = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda event, duration, **kw: compiled.append(event)
        if event == "/jax/core/compile/backend_compile_duration"
        else None
    )
    key = jax.random.key(3)
    rng.normal(key, (1000,), jnp.float32)  # warm the bucket 4096 (float32: not used by the tests above)
    before = len(compiled)
    for shape in [(999,), (10, 90), (4096,), (4, 8, 32), (1,)]:  # all in the bucket of 4096
        rng.normal(key, shape, jnp.float32)
    assert len(compiled) == before
