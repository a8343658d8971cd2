"""Wave networks of neuron states: exact wave equation, strict light cones, sparse local weights, learning."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nqg.errors import NqgInputError
from nqg.learning.wave_network import (
    PermutationNetwork,
    causal_support,
    evolve,
    kick,
    learn_wave_network,
    wave_network,
)


@settings(max_examples=3, deadline=None)
@given(
    lattice=st.sampled_from([((17,), (1,)), ((9, 11), (1, 0)), ((9, 11), (1, 1)), ((5, 6, 7), (0, 1, 1))]),
    seed=st.integers(0, 2**16),
)
def test_permutation_network_obeys_the_discrete_wave_equation(lattice, seed):
    """x = x_R + x_L satisfies x(t+1) + x(t-1) = (P + P^T) x(t) for any initial states (P P^T = 1)."""
    shape, shift = lattice
    net = PermutationNetwork(shape, shift)
    k1, k2 = jax.random.split(jax.random.key(seed))
    hist = net.evolve(jax.random.normal(k1, shape), jax.random.normal(k2, shape), 12)
    assert float(net.wave_residual(hist)) < 1e-12
    # a history that is not a wave (x + 0.01 t^2 adds 0.02 to the left side) violates it
    t2 = jnp.arange(hist.shape[0], dtype=hist.dtype) ** 2
    bad = hist + 0.01 * t2.reshape((-1,) + (1,) * len(shape))
    assert float(net.wave_residual(bad)) == pytest.approx(0.02, rel=1e-9)


@pytest.mark.parametrize("shape,shift", [((40,), (1,)), ((21, 21), (1, 0)), ((21, 21), (1, 1))])
def test_permutation_kick_lies_exactly_on_the_light_cone(shape, shift):
    net = PermutationNetwork(shape, shift)
    origin = (0,) * len(shape)
    hist = net.evolve(kick(shape, origin), kick(shape, origin), 9)
    support = np.asarray(causal_support(hist, origin))
    assert np.array_equal(support, sum(abs(s) for s in shift) * np.arange(10))


def test_local_network_has_a_lattice_causal_cone_and_nonzero_response_on_it():
    n, steps = 41, 15
    net = wave_network(1.0, kappa=0.5, shape=(n, n))
    site = (n // 2, n // 2)
    x0 = kick((n, n), site)
    _, hist = evolve(net, jnp.zeros_like(x0), x0, steps, observe=lambda a, b: b)
    support = np.asarray(causal_support(hist, site))
    assert np.array_equal(support, np.arange(1, steps + 1))  # exactly |i|_1 <= t, and reached


def test_wave_weights_are_the_leapfrog_stencil():
    c = jnp.linspace(0.5, 1.0, 12).reshape(3, 4)
    net = wave_network(c, kappa=0.2, mass=0.3)
    x = jax.random.normal(jax.random.key(1), (3, 4))
    xp = jax.random.normal(jax.random.key(2), (3, 4))
    lap = sum(jnp.roll(x, s, a) for a in (0, 1) for s in (1, -1)) - 4 * x
    expected = 2 * x - xp + 0.2 * c**2 * lap - 0.2 * 0.09 * x
    np.testing.assert_allclose(net.step(xp, x), expected, atol=1e-14)
    assert net.dt == pytest.approx(np.sqrt(0.2))


def test_float32_states_stay_float32():
    net = wave_network(jnp.ones((8, 8), jnp.float32), kappa=0.25)
    x = kick((8, 8), dtype=jnp.float32)
    (_, xT), _ = evolve(net, x, x, 10)
    assert xT.dtype == jnp.float32


@pytest.mark.parametrize(
    "speed,kwargs,needle",
    [
        (-1.0, {"shape": (8, 8)}, "c = -1"),
        (1.0, {"shape": (8, 8), "kappa": 0.6}, "CFL"),
        (float("nan"), {"shape": (8, 8)}, "NaN"),
        (1.0, {"shape": (8, 8), "kappa": -1.0}, "kappa"),
    ],
)
def test_bad_network_parameters_are_rejected(speed, kwargs, needle):
    with pytest.raises(NqgInputError, match=needle):
        wave_network(speed, **kwargs)


def test_noise_free_learning_recovers_the_wave_weights():
    env = wave_network(1.0, kappa=0.25, shape=(16, 16))
    learned = learn_wave_network(
        env, mass=0.0, key=jax.random.key(0), steps=3000, noise=0.0, learning_rate=0.1
    )
    net = learned.network
    np.testing.assert_allclose(net.neighbour_weight, 0.25, atol=1e-6)
    np.testing.assert_allclose(net.memory_weight, -1.0, atol=1e-6)
    np.testing.assert_allclose(net.self_weight, 1.0, atol=1e-6)


def test_input_noise_attenuates_the_learned_memory_weight():
    """Errors in variables: noisy inputs shrink the regression weights, so the learned network dissipates."""
    env = wave_network(1.0, kappa=0.25, shape=(16, 16))
    memory = []
    for noise in (0.02, 0.2):
        learned = learn_wave_network(
            env, mass=0.0, key=jax.random.key(0), steps=3000, noise=noise, learning_rate=0.02
        )
        memory.append(float(jnp.mean(learned.network.memory_weight)))
    assert -1.0 < memory[0] < -0.95
    assert memory[1] > memory[0] + 0.1
