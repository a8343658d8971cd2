"""Models: cached log-amplitude ratios and local energies against full recomputation and dense H."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nqg.quantum.hilbert import SpinHilbert
from nqg.quantum.lattice import chain, square
from nqg.quantum.models import FFNN, RBM, SymmetricRBM, flip_sites, log_cosh
from nqg.quantum.operators import Heisenberg, PauliSum, TransverseFieldIsing
from nqg.quantum.vmc import local_energies


def make_models(n, lattice):
    k = jax.random.split(jax.random.key(3), 5)
    return {
        "rbm": RBM(n, 2, key=k[0], init_std=0.4),
        "rbm-complex": RBM(n, 1.5, key=k[1], complex_params=True, init_std=0.4),
        "rbm-symmetric": SymmetricRBM(lattice.translations, 2, key=k[2], init_std=0.4),
        "ffnn": FFNN(n, [8, 5], key=k[3]),
        "ffnn-amplitude": FFNN(n, [7], key=k[4], output="amplitude", activation="tanh"),
    }


def test_log_cosh_stable_and_complex():
    x = jnp.array([-800.0, -3.0, 0.0, 1e-8, 2.5, 800.0])
    np.testing.assert_allclose(
        log_cosh(x), np.abs(x) + np.log1p(np.exp(-2 * np.abs(x))) - np.log(2), rtol=1e-14
    )
    z = jnp.array([0.3 + 0.4j, -1.2 + 2.0j, 3.0 - 0.1j])
    np.testing.assert_allclose(np.exp(log_cosh(z)), np.cosh(np.asarray(z)), rtol=1e-12)
    g = jax.grad(lambda v: jnp.sum(log_cosh(v)))(x)
    np.testing.assert_allclose(g, np.tanh(np.asarray(x)), atol=1e-14)


@pytest.mark.parametrize("name", ["rbm", "rbm-complex", "rbm-symmetric", "ffnn", "ffnn-amplitude"])
def test_cached_ratios_match_full_evaluation(name):
    lat = chain(8)
    model = make_models(8, lat)[name]
    s = SpinHilbert(8).random_states(jax.random.key(0), 6)
    groups = jnp.array([[0, 0], [3, 0], [2, 5], [7, 1], [4, 4]])
    masks = jnp.array([[True, False], [True, False], [True, True], [True, True], [False, False]])

    @jax.jit
    def compare(model, x):
        cm = model.as_cached()
        cache = cm.init_cache(x)
        flipped = jax.vmap(lambda f, m: flip_sites(x, f, m))(groups, masks)
        full = model.log_psi(flipped) - model(x)
        batched = cm.log_ratios(x, cache, groups, masks)
        single, new_caches = jax.vmap(lambda f, m: cm.propose(x, cache, f, m))(groups, masks)
        fresh = jax.vmap(cm.init_cache)(flipped)
        return full, batched, single, new_caches, fresh

    for x in s:
        full, batched, single, new_caches, fresh = compare(model, x)
        np.testing.assert_allclose(_mod2pi(batched - full), 0, atol=1e-10)
        np.testing.assert_allclose(_mod2pi(single - full), 0, atol=1e-10)
        np.testing.assert_allclose(np.asarray(new_caches), np.asarray(fresh), atol=1e-10)


def _mod2pi(d):
    d = np.asarray(d)
    return d.real + 1j * (np.angle(np.exp(1j * d.imag))) if np.iscomplexobj(d) else d


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**16 - 1), st.integers(0, 15), st.integers(0, 3))
def test_symmetric_rbm_is_translation_invariant(code, shift, seed):
    lat = square(4)
    model = SymmetricRBM(lat.translations, 2, key=jax.random.key(seed), init_std=0.5)
    s = jnp.asarray(SpinHilbert(16).integers_to_states(np.array([code]))[0], jnp.float64)
    perm = lat.translations[shift]
    shifted = jnp.zeros_like(s).at[perm].set(s)  # (T s)_{T(i)} = s_i
    np.testing.assert_allclose(model(shifted), model(s), atol=1e-11)


@pytest.mark.parametrize("name", ["rbm", "rbm-complex", "rbm-symmetric", "ffnn-amplitude"])
@pytest.mark.parametrize("op_name", ["tfim", "heisenberg-marshall", "pauli"])
def test_local_energy_matches_dense(name, op_name):
    """``E_loc(s) = sum_s' H[s, s'] psi(s') / psi(s)`` from the dense matrix and the full psi vector."""
    lat = chain(6)
    model = make_models(6, lat)[name]
    if op_name == "tfim":
        op = TransverseFieldIsing(lat, h=0.8)
    elif op_name == "heisenberg-marshall":
        op = Heisenberg(lat, J2=0.3, marshall_sign=True)
    else:
        op = PauliSum(6, [(0.5, "X0 X1"), (0.3j, "Y2 Z4"), (-0.7, "Z0 Z5"), (0.2, "Y1 Y3 X5")])
    hil = SpinHilbert(6)
    states = jnp.asarray(hil.all_states(), jnp.float64)
    psi = np.exp(np.asarray(model.log_psi(states)))
    h = op.to_dense(hil)
    ref = (h @ psi) / psi
    got = jax.jit(lambda m, x: local_energies(op, m, x, batch_size=7))(model, states)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9)


def test_rbm_kernel_is_gram_of_log_derivatives():
    from nqg.quantum.vmc import log_derivatives

    for cplx in (False, True):
        model = RBM(5, 2, key=jax.random.key(1), complex_params=cplx, init_std=0.3)
        s = SpinHilbert(5).random_states(jax.random.key(2), 9)
        o, k = jax.jit(lambda m, x: (log_derivatives(m, x), m.log_derivative_kernel(x)))(model, s)
        o = np.asarray(o)
        np.testing.assert_allclose(k, o @ o.conj().T, atol=1e-11)
