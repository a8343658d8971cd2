"""Two-replica VMC of the imaginary-time DBM (nqg.quantum.dbm_vmc) against exact enumeration."""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from nqg.errors import NqgInputError
from nqg.quantum import chain
from nqg.quantum.dbm import GibbsState, exact_trotter_energy, heisenberg_dbm, tfim_dbm, tfim_local_energy
from nqg.quantum.dbm_vmc import (
    DBMVMC,
    _flat,
    compare_with_rbm,
    conditional_deep_sweep,
    conditional_means,
    count_dbm_parameters,
    deep_partners,
    enumerated_energy,
    joint_log_derivatives,
    local_energy_fn,
    sample_energy_conditional,
    sample_replicas,
    shifted_solve,
    three_sigma_verdict,
)
from nqg.quantum.exact import ground_state
from nqg.quantum.hilbert import SpinHilbert


def perturbed_machine(n_sites: int, seed: int, std: float = 0.15):
    """The M = 1 construction on chain(n) with every trainable entry (dense W, V too) perturbed, so that the
    deep layer is coupled and the gradient has no zero components."""
    dbm = tfim_dbm(chain(n_sites), 1.0, 0.3, 1)
    flat, unravel, static = _flat(dbm.machine)
    noise = std * jax.random.normal(jax.random.key(seed), flat.shape, flat.dtype)
    return dbm, eqx.combine(unravel(flat + noise), static)


def gradient_samples(machine, ham, n_chains, n_samples, key, same_replica=False, n_conditional=1):
    """Per-chain means of the two-replica gradient estimator (chains, P) (global centring); with
    ``n_conditional = K`` each replica's E_loc and O are averaged over K conditional (h, d) sweeps."""
    dt = machine.W.dtype
    ks = jax.random.split(key, 3)
    rand = lambda k, n: jnp.where(jax.random.bernoulli(k, 0.5, (n_chains, n)), 1.0, -1.0).astype(dt)  # noqa: E731
    chains = GibbsState(
        rand(ks[0], machine.n_visible), rand(ks[1], machine.n_deep), rand(ks[2], machine.n_deep)
    )
    _, (s, d1, d2) = jax.jit(sample_replicas, static_argnums=(3, 4, 5))(
        machine, chains, jax.random.fold_in(key, 1), n_samples, 2, 100
    )
    if n_conditional == 1:
        e_loc = jax.vmap(lambda x, d: tfim_local_energy(machine, ham, x, d))
        e1, e2 = e_loc(s, d1), e_loc(s, d2)
        o1, o2 = joint_log_derivatives(machine, s, d1), joint_log_derivatives(machine, s, d2)
    else:
        cond = jax.jit(conditional_means, static_argnums=(1, 5))
        e1, o1 = cond(machine, ham, s, d1, jax.random.fold_in(key, 2), n_conditional)
        e2, o2 = cond(machine, ham, s, d2, jax.random.fold_in(key, 3), n_conditional)
    if same_replica:  # the biased negative control: O and E_loc from the same replica
        o2, e2 = o1, e1
    energy = 0.5 * (jnp.mean(e1) + jnp.mean(e2))
    o_mean = 0.5 * (jnp.mean(o1, 0) + jnp.mean(o2, 0))
    per_sample = (o1 - o_mean) * (e2 - energy)[:, None] + (o2 - o_mean) * (e1 - energy)[:, None]
    return np.asarray(per_sample.reshape(n_chains, n_samples, -1).mean(1))


def finite_difference_gradient(machine, ham, step=1e-5):
    """Central differences of the exact energy ``<Psi|H|Psi>/<Psi|Psi>`` (all 2^N visible and 2^D deep
    configurations enumerated) in every trainable parameter."""
    flat, unravel, static = _flat(machine)
    states = jnp.asarray(SpinHilbert(machine.n_visible).all_states(np.float64))
    h_dense = jnp.asarray(ham.to_sparse().toarray())

    @jax.jit
    def energy(p):
        log_psi = jax.vmap(eqx.combine(unravel(p), static).log_psi_enumerated)(states)
        psi = jnp.exp(log_psi - jnp.max(log_psi))
        return psi @ h_dense @ psi / (psi @ psi)

    eye = step * jnp.eye(flat.shape[0], dtype=flat.dtype)
    return np.asarray((jax.vmap(energy)(flat + eye) - jax.vmap(energy)(flat - eye)) / (2 * step))


def test_finite_differences_agree_with_enumerated_energy():
    dbm, mach = perturbed_machine(3, seed=1)
    grad = finite_difference_gradient(mach, dbm.hamiltonian)
    flat, unravel, static = _flat(mach)
    k = int(np.argmax(np.abs(grad)))
    shifted = eqx.combine(unravel(flat.at[k].add(1e-5)), static)
    slope = (enumerated_energy(shifted, dbm.hamiltonian) - enumerated_energy(mach, dbm.hamiltonian)) / 1e-5
    assert slope == pytest.approx(grad[k], rel=1e-3)


def test_enumerated_energy_is_the_trotter_energy():
    dbm = tfim_dbm(chain(4), 1.0, 0.3, 2)
    assert enumerated_energy(dbm.machine, dbm.hamiltonian) == pytest.approx(
        exact_trotter_energy(dbm), rel=1e-10
    )


def test_replica_gradient_matches_finite_differences_and_same_replica_is_biased():
    """g_k = mean[(E_loc(s,d2) - E)(O_k(s,d1) - <O_k>) + (1 <-> 2)] equals dE/dtheta_k of the exact energy
    (N = 3, deep units enumerated) within its standard error; the same-replica estimator does not."""
    dbm, mach = perturbed_machine(3, seed=1)
    ham = dbm.hamiltonian
    exact = finite_difference_gradient(mach, ham)
    chains = 400
    per_chain = gradient_samples(mach, ham, chains, 50, jax.random.key(3))
    mean, err = per_chain.mean(0), per_chain.std(0, ddof=1) / np.sqrt(chains)
    z = (mean - exact) / err
    # P = 48 components: max |z| < 4.5 fails with probability ~3e-4 for an unbiased estimator
    assert np.max(np.abs(z)) < 4.5, z
    # chi^2 / P of an unbiased estimator: 1.8-3.7 over seeds, not 1, since the 48 components are strongly
    # correlated and E_loc(s, d) is heavy-tailed (see the next test); the biased control gives ~22
    assert np.mean(z**2) < 5.0
    biased = gradient_samples(mach, ham, chains, 50, jax.random.key(3), same_replica=True)
    zb = (biased.mean(0) - exact) / (biased.std(0, ddof=1) / np.sqrt(chains))
    assert np.mean(zb**2) > 10.0  # the negative control: the bias is seen at this sample size


def test_conditional_averaging_is_unbiased_and_less_noisy():
    """Rao-Blackwellised replicas (K = 4 conditional (h, d) sweeps with s clamped): the gradient matches the
    finite differences of the exact energy within its standard error, and its per-chain variance is
    below the plain (K = 1) estimator's at the same visible samples; same-replica products of the averaged
    quantities stay biased (negative control).

    E_loc(s, d) is heavy-tailed here (min -71 against E = -3.5: the ratio Psi(s', d) / Psi(s, d) with d
    fixed), and the 48 components are strongly correlated, so mean z^2 of an unbiased estimator scatters
    well above 1: measured 1.8-3.4 over seeds (K = 1 and K = 4 alike), against ~22 for the same-replica
    control; the exact expectation of the estimator (all (s, d1, d2) enumerated) equals the gradient to
    3e-10 (see the report)."""
    dbm, mach = perturbed_machine(3, seed=1)
    ham = dbm.hamiltonian
    exact = finite_difference_gradient(mach, ham)
    chains = 400
    plain = gradient_samples(mach, ham, chains, 50, jax.random.key(3))
    averaged = gradient_samples(mach, ham, chains, 50, jax.random.key(3), n_conditional=4)
    z = (averaged.mean(0) - exact) / (averaged.std(0, ddof=1) / np.sqrt(chains))
    assert np.max(np.abs(z)) < 4.5, z
    assert np.mean(z**2) < 5.0, z
    # summed per-chain variance: measured ratio 0.69 (seeds 3, 4): the conditional chain mixes slowly
    ratio = averaged.var(0, ddof=1).sum() / plain.var(0, ddof=1).sum()
    assert ratio < 0.8, ratio
    biased = gradient_samples(mach, ham, chains, 50, jax.random.key(3), same_replica=True, n_conditional=4)
    zb = (biased.mean(0) - exact) / (biased.std(0, ddof=1) / np.sqrt(chains))
    assert np.mean(zb**2) > 10.0 and np.max(np.abs(zb)) > 6.0  # measured ~22 and ~15.7


def test_conditional_sweep_leaves_p_d_given_s_invariant():
    """Deep configurations drawn exactly from p(d | s) = Psi(s, d) / Psi(s) (enumerated, D = 3) stay so
    distributed after 3 conditional sweeps: Pearson chi^2 over the 8 cells below 24.3 (p = 0.001, 7 dof);
    the same test on a machine whose V is negated in the sweep (a wrong kernel) fails it."""
    _, mach = perturbed_machine(3, seed=1)
    s = jnp.asarray([1.0, -1.0, 1.0])
    deep = jnp.asarray(SpinHilbert(mach.n_deep).all_states(np.float64))
    log_p = jax.vmap(lambda d: mach.log_psi_joint(s, d))(deep)
    prob = np.asarray(jax.nn.softmax(log_p))
    n = 20000
    idx = jax.random.categorical(jax.random.key(0), log_p, shape=(n,))

    @jax.jit
    def three_sweeps(machine):
        d = deep[idx]
        ss = jnp.broadcast_to(s, (n, 3))
        for t in range(3):
            d = conditional_deep_sweep(machine, ss, d, jax.random.key(10 + t))
        return d

    def chi2_after_sweeps(machine):
        d = three_sweeps(machine)
        code = np.asarray(((d > 0) * (2 ** jnp.arange(mach.n_deep - 1, -1, -1))).sum(1))
        ref_code = np.asarray(((deep > 0) * (2 ** jnp.arange(mach.n_deep - 1, -1, -1))).sum(1))
        counts = np.array([np.sum(code == c) for c in ref_code])
        return float(np.sum((counts - n * prob) ** 2 / (n * prob)))

    assert chi2_after_sweeps(mach) < 24.3
    wrong = eqx.tree_at(lambda m: m.V, mach, -mach.V)
    assert chi2_after_sweeps(wrong) > 100.0


def test_conditional_energy_matches_enumeration():
    """The energy from conditionally averaged replicas (K = 2) with the paired local energy agrees with the
    enumerated energy (N = 4, dense perturbed machine) within 4 standard errors (measured |z| 0.2-1.6 over
    seeds 0-3 for the plain local energy at K = 4)."""
    dbm, mach = perturbed_machine(4, seed=2)
    trained = dataclasses.replace(dbm, machine=mach)
    exact = enumerated_energy(mach, dbm.hamiltonian)
    avg = sample_energy_conditional(
        trained,
        jax.random.key(5),
        n_chains=32,
        n_samples=100,
        n_burn_in=50,
        thin=2,
        n_conditional=2,
        local_energy="paired",
    )
    assert abs(avg.energy - exact) < 4 * avg.energy_error, (avg.energy, avg.energy_error, exact)
    assert avg.local_energy.shape == (32, 100)


def test_paired_local_energy_is_unbiased_given_s():
    """sum_d p(d|s) E_loc^paired(s, d) = (H Psi)(s) / Psi(s) for every s (dense perturbed machine, N = 3,
    all deep configurations enumerated), to 1e-10 relative; the partner of each site in the M = 1
    construction is its initial spin (the deep unit of the same site)."""
    dbm, mach = perturbed_machine(3, seed=3)
    ham = dbm.hamiltonian
    states = jnp.asarray(SpinHilbert(3).all_states(np.float64))
    deep = jnp.asarray(SpinHilbert(mach.n_deep).all_states(np.float64))
    log_psi = jax.vmap(mach.log_psi_enumerated)(states)
    psi = np.exp(np.asarray(log_psi))
    e_loc_exact = (ham.to_sparse() @ psi) / psi
    for name in ("paired", "plain"):
        fn = local_energy_fn(mach, ham, name)

        def conditional_mean(s, fn=fn):
            p_d = jax.nn.softmax(jax.vmap(lambda d: mach.log_psi_joint(s, d))(deep))
            return p_d @ fn(jnp.broadcast_to(s, deep.shape[:1] + s.shape), deep)

        means = np.asarray(jax.jit(jax.vmap(conditional_mean))(states))
        np.testing.assert_allclose(means, e_loc_exact, rtol=1e-10)
    construction = tfim_dbm(chain(5), 1.0, 0.3, 1)
    assert np.array_equal(np.asarray(deep_partners(construction.machine)), np.arange(5))


def test_optimisation_lowers_the_exact_energy():
    """From a poor construction (dtau = 0.05: E/N far above E_0), 20 SR iterations on chain(4) lower the
    exact (enumerated) energy of the machine by more than 0.3, and it stays variational (>= E_0)."""
    lat = chain(4)
    dbm = tfim_dbm(lat, 1.0, 0.05, 1)
    e_start = exact_trotter_energy(dbm)
    e0 = ground_state(dbm.hamiltonian).energies[0]
    driver = DBMVMC(dbm, optax.sgd(0.05), sr_shift=0.01, max_norm=1.0, n_chains=32, n_samples=32)
    res = driver.run(20, jax.random.key(0), progress=False, final_samples=0)
    e_end = enumerated_energy(res.machine, dbm.hamiltonian)
    assert e_end >= e0 - 1e-9
    # start: E - E_0 = 0.86; a gradient of the wrong sign or scale raises the energy or collapses the
    # state (E ~ 0); measured after 20 iterations: see the report
    assert e_end < e_start - 0.3, (e_start, e_end, e0)
    assert res.history["energy"].shape == (20,)
    assert np.all(res.history["skipped"] == 0)


def test_shifted_solve_cholesky_equals_clipped_eigh_on_gram_matrices():
    """The Cholesky path (psd=True) solves the same shifted system as the eigendecomposition, and both
    honour the trust region in the (S + lambda)-norm; an indefinite matrix is where they must differ (the
    eigh path clips its negative eigenvalue, the negative control)."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 12))
    x[:, 5] = x[:, 4]  # a singular direction: only the shift keeps S + lambda invertible
    s_mat, g = jnp.asarray(x.T @ x / 40), jnp.asarray(rng.normal(size=12))
    d_eig, n_eig = shifted_solve(s_mat, g, 1e-3)
    d_chol, n_chol = shifted_solve(s_mat, g, 1e-3, psd=True)
    np.testing.assert_allclose(d_chol, d_eig, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(n_chol, n_eig, rtol=1e-10)
    np.testing.assert_allclose((s_mat + 1e-3 * jnp.eye(12)) @ d_chol, g, atol=1e-10)
    for psd in (False, True):
        bounded, norm = shifted_solve(s_mat, g, 1e-3, max_norm=float(n_eig) / 4, psd=psd)
        np.testing.assert_allclose(bounded, d_eig / 4, rtol=1e-9, atol=1e-12)
        assert float(norm) == pytest.approx(float(n_eig), rel=1e-10)  # the norm before scaling
    indefinite = s_mat - 0.5 * jnp.outer(g, g) / float(g @ g)  # one negative direction along g
    assert float(jnp.linalg.eigvalsh(indefinite)[0]) < 0
    d_clip, _ = shifted_solve(indefinite, g, 1e-3)
    d_raw = jnp.linalg.solve(indefinite + 1e-3 * jnp.eye(12), g)
    assert float(jnp.max(jnp.abs(d_clip - d_raw))) > 1e-3


def test_compare_with_rbm_trains_both_with_the_same_budget():
    dbm = tfim_dbm(chain(4), 1.0, 0.3, 1)
    kw = dict(iterations=3, n_chains=4, n_samples=8, n_conditional=2, local_energy="paired", final_samples=10)
    rows = compare_with_rbm(dbm, [8, 3], **kw)
    assert [r.name for r in rows] == ["DBM (dense, K = 2)", "RBM (H = 8)", "RBM (H = 3)"]
    assert [r.n_parameters for r in rows] == [count_dbm_parameters(dbm.machine), 4 + 8 + 32, 4 + 3 + 12]
    assert all(
        r.history.shape == (3,) and np.isfinite(r.energy_per_site) and r.error_per_site > 0 for r in rows
    )
    assert rows[0].result.machine.n_hidden == 8
    only_rbm = compare_with_rbm(dbm, [8], train_dbm=False, **kw)
    assert [r.name for r in only_rbm] == ["RBM (H = 8)"]
    assert only_rbm[0].energy_per_site == rows[1].energy_per_site  # same seeds, same RBM run
    assert [three_sigma_verdict(d, 1.0) for d in (-3.5, 2.9, 3.1)] == ["lower", "indistinguishable", "higher"]


def test_parameter_counts():
    dbm = tfim_dbm(chain(4), 1.0, 0.3, 2)
    m = dbm.machine  # N = 4, H = 2 (4 + 4) = 16, D = 8
    assert (m.n_visible, m.n_hidden, m.n_deep) == (4, 16, 8)
    assert count_dbm_parameters(m) == 4 + 16 + 8 + 4 * 16 + 8 * 16
    # sparse: each hidden unit touches two spin variables
    assert count_dbm_parameters(m, keep_sparsity=True) == 4 + 16 + 8 + 2 * 16


def test_bad_input():
    dbm = tfim_dbm(chain(4), 1.0, 0.3, 1)
    with pytest.raises(NqgInputError, match="sr_shift"):
        DBMVMC(dbm, optax.sgd(0.1), sr_shift=-1.0)
    with pytest.raises(NqgInputError, match="n_chains"):
        DBMVMC(dbm, optax.sgd(0.1), n_chains=1)
    with pytest.raises(NqgInputError, match="n_conditional"):
        DBMVMC(dbm, optax.sgd(0.1), n_conditional=0)
    with pytest.raises(NqgInputError, match="local_energy"):
        DBMVMC(dbm, optax.sgd(0.1), local_energy="exact")
    with pytest.raises(NqgInputError, match="transverse-field Ising"):
        DBMVMC(heisenberg_dbm(chain(4), 0.1, 1), optax.sgd(0.1))


def test_float32_machine_trains_in_float32():
    dbm = tfim_dbm(chain(4), 1.0, 0.3, 1)
    m32 = jax.tree_util.tree_map(lambda x: x.astype(jnp.float32), dbm.machine)
    dbm32 = dataclasses.replace(dbm, machine=m32)
    res = DBMVMC(dbm32, optax.sgd(0.05), n_chains=8, n_samples=8).run(
        3, jax.random.key(0), progress=False, final_samples=0
    )
    assert res.machine.W.dtype == jnp.float32 and res.machine.V.dtype == jnp.float32
    assert np.all(np.isfinite(res.history["energy"])) and np.all(res.history["skipped"] == 0)
