"""Noise-free optimisation on the enumerated energy (nqg.quantum.dbm_exact_opt): the differentiable exact
energy and exact SR against finite differences, exact diagonalisation and the RBM embedded in the DBM."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from nqg.errors import NqgInputError
from nqg.quantum import RBM, TransverseFieldIsing, chain
from nqg.quantum.dbm import DeepBoltzmannMachine, energy_of_vector, tfim_dbm
from nqg.quantum.dbm_exact_opt import (
    EnumeratedProblem,
    dbm_ansatz,
    deep_layer_noise,
    enumerated_log_psi,
    exact_energy,
    exact_sr_quantities,
    optimise_exact_energy,
    rbm_ansatz,
    rbm_hidden_for_parameters,
)
from nqg.quantum.dbm_vmc import _flat, count_dbm_parameters, enumerated_energy
from nqg.quantum.exact import ground_state


def perturbed(n_sites: int, seed: int, std: float = 0.15):
    """The M = 1 construction with every entry of a, b, c, W, V perturbed (deep layer coupled)."""
    dbm = tfim_dbm(chain(n_sites), 1.0, 0.3, 1)
    flat, unravel, static = _flat(dbm.machine)
    noise = std * jax.random.normal(jax.random.key(seed), flat.shape, flat.dtype)
    return dbm, eqx.combine(unravel(flat + noise), static)


def test_exact_energy_equals_enumerated_energy_and_rbm_vector_energy():
    dbm, mach = perturbed(4, seed=0)
    ans = dbm_ansatz(mach)
    problem = EnumeratedProblem.from_hamiltonian(dbm.hamiltonian)
    assert float(exact_energy(ans, ans.flat, problem)) == pytest.approx(
        enumerated_energy(mach, dbm.hamiltonian), rel=1e-12
    )
    rbm = RBM(4, alpha=1.5, key=jax.random.key(1), init_std=0.3)
    r_ans = rbm_ansatz(rbm)
    psi = np.exp(np.asarray(rbm.log_psi(problem.states)))
    assert float(exact_energy(r_ans, r_ans.flat, problem)) == pytest.approx(
        energy_of_vector(dbm.hamiltonian, psi), rel=1e-12
    )


def test_gradient_and_metric_against_finite_differences():
    """jax.grad of the enumerated energy, and the SR formula g = 2 <(E_loc - E)(O - <O>)>, both equal
    central differences of E (12 random parameters of the dense DBM, N = 3; relative 1e-6); S is PSD.
    The formula without the factor 2 (negative control) does not."""
    dbm, mach = perturbed(3, seed=1)
    ans = dbm_ansatz(mach)
    problem = EnumeratedProblem.from_hamiltonian(dbm.hamiltonian)

    def energy(f):
        return exact_energy(ans, f, problem)

    step = 1e-5
    idx = np.random.default_rng(0).choice(ans.flat.shape[0], 12, replace=False)
    eye = step * jnp.eye(ans.flat.shape[0], dtype=ans.flat.dtype)[idx]
    fd = np.asarray((jax.vmap(energy)(ans.flat + eye) - jax.vmap(energy)(ans.flat - eye)) / (2 * step))
    auto = np.asarray(jax.grad(energy)(ans.flat))[idx]
    _, grad, s_mat, variance = exact_sr_quantities(ans, ans.flat, problem)
    grad = np.asarray(grad)[idx]
    scale = np.max(np.abs(fd))
    assert scale > 0.1  # a coupled machine: the gradient is not trivially zero
    assert np.max(np.abs(auto - fd)) < 1e-6 * scale
    assert np.max(np.abs(np.asarray(grad) - fd)) < 1e-6 * scale
    assert np.max(np.abs(0.5 * np.asarray(grad) - fd)) > 0.1 * scale
    assert np.min(np.linalg.eigvalsh(np.asarray(s_mat))) > -1e-12
    assert float(variance) > 0.0


def test_dbm_with_decoupled_deep_layer_is_the_rbm():
    """The dense DBM contains the RBM with the same hidden units: V = 0, c = 0, W = RBM weights^T gives the
    same state (log 2cosh = log cosh + log 2, and the 2^D deep configurations only rescale it)."""
    n, hidden, deep = 4, 6, 3
    rbm = RBM(n, alpha=hidden / n, key=jax.random.key(2), init_std=0.4)
    mach = DeepBoltzmannMachine(
        rbm.visible_bias,
        rbm.hidden_bias,
        jnp.zeros(deep),
        rbm.weights.T,
        jnp.zeros((deep, hidden)),
        jnp.asarray(0.0),
    )
    problem = EnumeratedProblem.from_hamiltonian(TransverseFieldIsing(chain(n), h=1.0))
    e_dbm = exact_energy(dbm_ansatz(mach), dbm_ansatz(mach).flat, problem)
    e_rbm = exact_energy(rbm_ansatz(rbm), rbm_ansatz(rbm).flat, problem)
    assert float(e_dbm) == pytest.approx(float(e_rbm), rel=1e-12)
    log_dbm = enumerated_log_psi(dbm_ansatz(mach), dbm_ansatz(mach).flat, problem.states)
    log_rbm = rbm.log_psi(problem.states)
    diff = np.asarray(log_dbm - log_rbm)
    assert np.ptp(diff) < 1e-12  # a constant: (H + D) log 2


def test_deep_layer_noise_decomposition():
    """Law of total variance, against a direct enumeration of Var E_loc(s, d) over p(s) p(d | s); the
    deep-layer term vanishes exactly when the deep layer is decoupled (V = 0: E_loc(s, d) = E_loc(s))
    and not otherwise."""
    from nqg.quantum.dbm import tfim_local_energy
    from nqg.quantum.hilbert import SpinHilbert

    dbm, mach = perturbed(3, seed=4)
    ham = dbm.hamiltonian
    noise = deep_layer_noise(mach, ham)
    states = jnp.asarray(SpinHilbert(3).all_states(np.float64))
    deep = jnp.asarray(SpinHilbert(mach.n_deep).all_states(np.float64))
    log_joint = jax.vmap(lambda s: jax.vmap(lambda d: mach.log_psi_joint(s, d))(deep))(states)
    e_loc = jax.vmap(lambda s: jax.vmap(lambda d: tfim_local_energy(mach, ham, s, d))(deep))(states)
    weight = np.asarray(jnp.exp(log_joint - log_joint.max()))  # Psi(s, d)
    psi = weight.sum(1)
    joint = psi[:, None] * weight  # p(s) p(d | s) = Psi(s) Psi(s, d) / Z
    joint = joint / joint.sum()
    mean = np.sum(joint * np.asarray(e_loc))
    assert noise["energy"] == pytest.approx(enumerated_energy(mach, ham), rel=1e-12)
    assert mean == pytest.approx(noise["energy"], rel=1e-12)
    assert noise["var_total"] == pytest.approx(np.sum(joint * (np.asarray(e_loc) - mean) ** 2), rel=1e-10)
    assert noise["var_deep"] > 0.1
    decoupled = eqx.tree_at(lambda m: m.V, mach, jnp.zeros_like(mach.V))
    assert deep_layer_noise(decoupled, ham)["var_deep"] < 1e-20
    # paired flips: same energy and visible variance; for the M = 1 construction no deep noise at all
    paired = deep_layer_noise(mach, ham, "paired")
    assert paired["energy"] == pytest.approx(noise["energy"], rel=1e-12)
    assert paired["var_visible"] == pytest.approx(noise["var_visible"], rel=1e-10)
    construction = dbm.machine
    assert deep_layer_noise(construction, ham)["var_deep"] > 1.0
    assert deep_layer_noise(construction, ham, "paired")["var_deep"] < 1e-20


def test_exact_sr_lowers_the_energy_variationally_and_keeps_the_sparsity():
    """30 exact SR steps on chain(4) from a poor M = 1 construction (dtau = 0.05): the sparse DBM's frozen
    couplings stay zero, its energy falls, both machines stay above E_0 and the dense one gets within
    1e-4 relative."""
    dbm = tfim_dbm(chain(4), 1.0, 0.05, 1)
    e0 = ground_state(dbm.hamiltonian).energies[0]
    start = enumerated_energy(dbm.machine, dbm.hamiltonian)
    sparse = optimise_exact_energy(
        dbm_ansatz(dbm.machine, keep_sparsity=True), dbm.hamiltonian, optax.sgd(0.1), 30, max_norm=1.0
    )
    frozen = np.asarray(sparse.ansatz.mask) == 0
    assert frozen.sum() == count_dbm_parameters(dbm.machine) - count_dbm_parameters(dbm.machine, True)
    assert np.all(np.asarray(sparse.flat)[frozen] == 0.0)
    assert e0 - 1e-9 <= sparse.energy < start - 0.1, (start, sparse.energy, e0)
    dense = optimise_exact_energy(dbm_ansatz(dbm.machine), dbm.hamiltonian, optax.sgd(0.1), 30, max_norm=1.0)
    assert e0 - 1e-9 <= dense.energy < e0 + 1e-4 * abs(e0), (dense.energy, e0)
    assert dense.energy < sparse.energy
    assert dense.history["energy"].shape == (30,)
    assert dense.energy == pytest.approx(enumerated_energy(dense.model, dbm.hamiltonian), rel=1e-12)


def test_rbm_hidden_for_parameters():
    # N + H + N H closest to P
    assert rbm_hidden_for_parameters(8, 288) == 31  # 287
    assert rbm_hidden_for_parameters(8, 64) == 6  # 62
    assert rbm_hidden_for_parameters(10, 80) == 6  # 76 (7 gives 87)
    assert rbm_hidden_for_parameters(4, 1) == 1


def test_bad_input():
    with pytest.raises(NqgInputError, match="N <= 14"):
        EnumeratedProblem.from_hamiltonian(TransverseFieldIsing(chain(16), h=1.0))
    dbm = tfim_dbm(chain(4), 1.0, 0.3, 1)
    with pytest.raises(NqgInputError, match="diag_shift"):
        optimise_exact_energy(dbm_ansatz(dbm.machine), dbm.hamiltonian, optax.sgd(0.1), 1, diag_shift=0.0)
    other = TransverseFieldIsing(chain(5), h=1.0)
    with pytest.raises(NqgInputError, match="sites"):
        optimise_exact_energy(dbm_ansatz(dbm.machine), other, optax.sgd(0.1), 1)
    with pytest.raises(NqgInputError, match="complex"):
        rbm_ansatz(RBM(4, key=jax.random.key(0), complex_params=True))


def test_float32():
    dbm = tfim_dbm(chain(3), 1.0, 0.3, 1)
    m32 = jax.tree_util.tree_map(lambda x: x.astype(jnp.float32), dbm.machine)
    res = optimise_exact_energy(dbm_ansatz(m32), dbm.hamiltonian, optax.sgd(0.1), 3, max_norm=1.0)
    assert res.flat.dtype == jnp.float32
    assert np.all(np.isfinite(res.history["energy"]))
    assert res.energy < enumerated_energy(dbm.machine, dbm.hamiltonian)
