"""Stochastic reconfiguration against a dense numpy reference; a small VMC run against ED."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from nqg.quantum.exact import ground_state
from nqg.quantum.hilbert import SpinHilbert
from nqg.quantum.lattice import chain
from nqg.quantum.models import RBM
from nqg.quantum.operators import Heisenberg
from nqg.quantum.samplers import MetropolisExchange
from nqg.quantum.vmc import SR, VMC, carleo_troyer_schedule, log_derivatives, sr_direction


def rbm_log_derivatives_numpy(model, s):
    """Analytic O_k for the RBM, in the parameter order (a, b, W) of the flattened module."""
    b, w = (np.asarray(x) for x in (model.hidden_bias, model.weights))
    s = np.asarray(s, float)
    t = np.tanh(b[None, :] + s @ w.T)
    return np.concatenate([s.astype(t.dtype), t, (t[:, :, None] * s[:, None, :]).reshape(len(s), -1)], axis=1)


def sr_reference(o, e_loc, lam, real_params, relative=False):
    n = o.shape[0]
    do = o - o.mean(0)
    eps = e_loc - e_loc.mean()
    s = do.conj().T @ do / n
    f = do.conj().T @ eps / n
    if real_params:
        s, g = s.real, 2 * f.real
    else:
        g = f
    d = np.diag(np.diag(s)) if relative else np.eye(s.shape[0])
    return np.linalg.solve(s + lam * d, g)


@pytest.mark.parametrize("complex_params", [False, True])
def test_sr_solvers_match_dense_numpy(complex_params):
    n_sites, n_samples = 6, 40
    model = RBM(n_sites, 2, key=jax.random.key(0), complex_params=complex_params, init_std=0.3)
    s = SpinHilbert(n_sites).random_states(jax.random.key(1), n_samples)
    rng = np.random.default_rng(0)
    e_loc = rng.normal(size=n_samples) + (1j * rng.normal(size=n_samples) if complex_params else 0)
    o_np = rbm_log_derivatives_numpy(model, s)
    lam = 0.05
    ref = sr_reference(o_np, e_loc, lam, not complex_params)
    ref_rel = sr_reference(o_np, e_loc, lam, not complex_params, relative=True)
    assert o_np.shape[1] > n_samples  # 6 + 12 + 72 = 90 parameters > 40 samples: sample-space form exercised
    settings = {
        "dense": SR(diag_shift=lam, solver="dense"),
        "cg": SR(diag_shift=lam, solver="cg", cg_tol=1e-12, cg_maxiter=2000),
        "sample_space": SR(diag_shift=lam, solver="sample_space"),  # RBM kernel path
        "relative dense": SR(diag_shift=lam, solver="dense", diag_scale="relative"),
        "relative sample_space": SR(diag_shift=lam, solver="sample_space", diag_scale="relative"),  # generic
        "gradient": None,
    }

    @jax.jit
    def directions(m, x, e):
        out = {k: sr_direction(m, x, e, sr, 0)[0] for k, sr in settings.items()}
        return out, log_derivatives(m, x)

    def flat(tree):
        return np.concatenate([np.ravel(x) for x in jax.tree_util.tree_leaves(tree)])

    got, o_jax = directions(model, s, jnp.asarray(e_loc))
    np.testing.assert_allclose(np.asarray(o_jax), o_np, atol=1e-12)
    for name in ("dense", "cg", "sample_space"):
        np.testing.assert_allclose(flat(got[name]), ref, rtol=1e-6, atol=1e-8, err_msg=name)
    for name in ("relative dense", "relative sample_space"):
        np.testing.assert_allclose(flat(got[name]), ref_rel, rtol=1e-6, atol=1e-8, err_msg=name)
    do = o_np - o_np.mean(0)
    f = do.conj().T @ (e_loc - e_loc.mean()) / n_samples
    np.testing.assert_allclose(flat(got["gradient"]), 2 * f.real if not complex_params else f, atol=1e-12)


@pytest.mark.parametrize("complex_params", [False, True])
@pytest.mark.parametrize("solver", ["dense", "sample_space", "cg"])
def test_trust_region_bounds_the_s_norm_of_the_direction(complex_params, solver):
    n_sites, n_samples = 6, 40
    model = RBM(n_sites, 2, key=jax.random.key(0), complex_params=complex_params, init_std=0.3)
    s = SpinHilbert(n_sites).random_states(jax.random.key(1), n_samples)
    rng = np.random.default_rng(0)
    e_loc = jnp.asarray(rng.normal(size=n_samples) * 5)
    o_np = rbm_log_derivatives_numpy(model, s)
    do = o_np - o_np.mean(0)
    s_mat = do.conj().T @ do / n_samples
    if not complex_params:
        s_mat = s_mat.real

    def flat(tree):
        return np.concatenate([np.ravel(x) for x in jax.tree_util.tree_leaves(tree)])

    kw = {"diag_shift": 0.05, "solver": solver, "cg_tol": 1e-12, "cg_maxiter": 2000}
    free, _ = sr_direction(model, s, e_loc, SR(**kw), 0)
    d = flat(free)
    norm = float(np.sqrt(np.real(d.conj() @ s_mat @ d)))
    assert norm > 1.0
    bounded, info = sr_direction(model, s, e_loc, SR(**kw, max_norm=norm / 4), 0)
    np.testing.assert_allclose(float(info["s_norm"]), norm, rtol=1e-8)  # the reported S-norm is d^+ S d
    np.testing.assert_allclose(flat(bounded), d / 4, rtol=1e-8, atol=1e-12)  # scaled down, same direction
    loose, _ = sr_direction(model, s, e_loc, SR(**kw, max_norm=norm * 2), 0)
    np.testing.assert_allclose(flat(loose), d, rtol=1e-12, atol=1e-14)  # inactive when shorter
    with pytest.raises(Exception, match="max_norm must be > 0"):
        SR(max_norm=0.0)


def test_carleo_troyer_schedule():
    np.testing.assert_allclose(carleo_troyer_schedule(jnp.arange(3)), [100.0, 90.0, 81.0])
    assert float(carleo_troyer_schedule(500)) == pytest.approx(1e-4)


def test_small_vmc_reaches_exact_energy():
    """Heisenberg ring N = 8 (Marshall sign), real RBM alpha = 2, exchange moves, SR.

    Criterion: the VMC energy E (sigma its standard error) obeys the variational bound
    E >= E0 - 4 sigma, and Temple's inequality E - E0 <= Var(H) / (E1 - E) (E1: the next level in the
    S^z = 0 sector, Var(H) the sampled energy variance) up to 4 sigma: the remaining bias is bounded by
    the measured variance, not by a hand-set tolerance. It must also be within 1% (a sanity floor).
    """
    lat = chain(8)
    ham = Heisenberg(lat, marshall_sign=True)
    hil = SpinHilbert(8, total_sz=0)
    spec = ground_state(ham, hil, n_levels=2)
    e0, e1 = spec.energies
    model = RBM(8, 2, key=jax.random.key(0))
    sampler = MetropolisExchange(hil, lat.bonds, n_chains=16, n_samples=512)
    vmc = VMC(ham, model, sampler, optax.sgd(0.05), sr=SR(diag_shift=0.01))
    res = vmc.run(150, jax.random.key(1), progress=False, final_estimate_repeats=4)
    e, sigma, var = res.energy, res.energy_error, res.variance
    print(f"E={e:.6f} sigma={sigma:.1e} E0={e0:.6f} var={var:.2e} temple={var / (e1 - e):.1e}")
    assert sigma > 0 and np.isfinite(e)
    assert e >= e0 - 4 * sigma
    temple = var / (e1 - e)
    assert e - e0 <= temple + 4 * sigma, (e, e0, sigma, temple)
    assert abs(e - e0) / abs(e0) < 1e-2
    assert res.history["energy"].shape == (150,)
    assert 0.05 < res.acceptance <= 1
