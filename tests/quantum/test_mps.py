"""The MPS ansatz: amplitudes against dense contractions, TeNPy round trips, VMC + SR with nqg samplers."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from nqg.errors import NqgInputError
from nqg.quantum.exact import ground_state, tfim_open_chain_ground_energy
from nqg.quantum.hilbert import SpinHilbert
from nqg.quantum.lattice import chain
from nqg.quantum.models import count_parameters
from nqg.quantum.mps import MPS, bond_dim_for_parameters, build_mps_problem, mps_parameter_count
from nqg.quantum.operators import Heisenberg, TransverseFieldIsing
from nqg.quantum.samplers import MetropolisLocal
from nqg.quantum.tensor_networks import dmrg_ground_state, mps_energy
from nqg.quantum.vmc import SR, VMC, log_derivatives


def dense_amplitudes(model: MPS) -> np.ndarray:
    """Independent reference: contract the open tensors over all configurations with einsum."""
    ts = model.open_tensors()
    out = ts[0][:, 0, :]
    for a in ts[1:]:
        out = np.einsum("xa,sab->xsb", out, a).reshape(-1, a.shape[2])
    return out[:, 0]


def explicit_amplitude(model: MPS, s) -> complex:
    """psi(s) = l^T A...A r (open) or Tr(A...A) (periodic), by plain matrix products."""
    idx = [(1 - int(x)) // 2 for x in s]
    bulk = np.asarray(model.bulk)
    if model.periodic:
        m = np.eye(model.bond_dim)
        for i, k in enumerate(idx):
            m = m @ bulk[i, k]
        return np.trace(m)
    v = np.asarray(model.left)[idx[0]]
    for i, k in enumerate(idx[1:-1]):
        v = v @ bulk[i, k]
    return v @ np.asarray(model.right)[idx[-1]]


@pytest.mark.parametrize(
    ("periodic", "complex_params"),
    [(False, False), (True, True), pytest.param(True, False, marks=pytest.mark.slow),
     pytest.param(False, True, marks=pytest.mark.slow)],
)  # fmt: skip
def test_amplitudes_match_explicit_products(periodic, complex_params):
    n = 7
    m = MPS(n, 3, key=jax.random.key(1), periodic=periodic, complex_params=complex_params, init_std=0.6)
    states = SpinHilbert(n).all_states(np.int8).astype(np.float64)
    amp = np.exp(np.asarray(m.log_psi(jnp.asarray(states))))
    ref = np.array([explicit_amplitude(m, s) for s in states])
    np.testing.assert_allclose(amp, ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())
    # the open-tensor form (D^2 for periodic) gives the same state
    np.testing.assert_allclose(dense_amplitudes(m), ref, rtol=1e-11, atol=1e-12 * np.abs(ref).max())
    assert np.any(np.real(ref) < 0)  # signs are represented, not lost


@pytest.mark.slow
def test_long_chain_neither_overflows_nor_underflows():
    m = MPS(120, 4, key=jax.random.key(0), init_std=0.3)
    s = jnp.where(jax.random.bernoulli(jax.random.key(1), 0.5, (120,)), 1.0, -1.0)
    assert np.isfinite(np.asarray(m(s))).all()
    big = jax.tree_util.tree_map(lambda x: 50.0 * x, m)
    assert np.isfinite(np.asarray(big(s))).all()


def test_float32_parameters_give_float32_computation():
    m = MPS(6, 2, key=jax.random.key(0), dtype=jnp.float32)
    out = m(jnp.ones(6, jnp.float32))
    assert out.dtype == jnp.complex64
    o = log_derivatives(m, jnp.ones((3, 6), jnp.float32))
    assert o.shape == (3, count_parameters(m))


def test_real_parameters_have_real_log_derivatives():
    m = MPS(6, 2, key=jax.random.key(0), init_std=0.8)
    s = SpinHilbert(6).all_states(np.int8).astype(np.float64)
    o = log_derivatives(m, jnp.asarray(s))
    assert np.max(np.abs(np.imag(o))) == 0.0
    # against a finite difference of log|psi|
    flat_eps = 1e-6
    m2 = jax.tree_util.tree_map(lambda x: x, m)
    bumped = type(m2).__new__(type(m2))
    for f in ("left", "bulk", "right", "periodic"):
        object.__setattr__(bumped, f, getattr(m2, f))
    object.__setattr__(bumped, "left", m2.left.at[0, 0].add(flat_eps))
    fd = (
        np.real(np.asarray(bumped.log_psi(jnp.asarray(s)))) - np.real(np.asarray(m.log_psi(jnp.asarray(s))))
    ) / flat_eps
    np.testing.assert_allclose(np.real(o[:, 0]), fd, atol=1e-4)


def test_parameter_counts():
    assert (
        count_parameters(MPS(10, 3, key=jax.random.key(0))) == mps_parameter_count(10, 3) == 2 * (6 + 8 * 9)
    )
    assert count_parameters(MPS(10, 3, key=jax.random.key(0), periodic=True)) == mps_parameter_count(
        10, 3, True
    )
    assert bond_dim_for_parameters(16, 288) == 3


def test_dmrg_state_as_nqg_model_is_the_ground_state():
    op = Heisenberg(chain(8, pbc=False))
    r = dmrg_ground_state(op, 16, max_sweeps=8)  # S^z conserved: TeNPy permutes the basis internally
    model = MPS.from_tenpy(r.psi)
    vec = dense_amplitudes(model)
    vec = vec / np.linalg.norm(vec)
    spec = ground_state(op, SpinHilbert(8), return_vectors=True)
    assert abs(np.vdot(spec.vectors[:, 0], vec)) == pytest.approx(1.0, abs=1e-10)
    assert mps_energy(model, op) == pytest.approx(r.energy, abs=1e-10)


@pytest.mark.parametrize("periodic", [False, True])
def test_mps_energy_equals_dense_expectation(periodic):
    n = 8
    m = MPS(n, 3, key=jax.random.key(4), periodic=periodic, init_std=0.5)
    v = dense_amplitudes(m)
    for op in (
        TransverseFieldIsing(chain(n, pbc=periodic), h=0.8),
        Heisenberg(chain(n, pbc=periodic), marshall_sign=True),
    ):
        h = op.to_dense()
        assert mps_energy(m, op) == pytest.approx(np.real(v.conj() @ h @ v / (v.conj() @ v)), abs=1e-10)


def test_vmc_with_mps_reaches_tfim_ground_state():
    """VMC + SR with the Metropolis sampler of the RBM: variational, and within 1% of free fermions."""
    n = 6
    op = TransverseFieldIsing(chain(n, pbc=False), h=1.0)
    model = MPS(n, 2, key=jax.random.key(0))
    sampler = MetropolisLocal(SpinHilbert(n), n_chains=8, n_samples=256)
    vmc = VMC(op, model, sampler, optax.sgd(0.05), SR(diag_shift=0.01, max_norm=2.0))
    res = vmc.run(80, jax.random.key(1), progress=False)
    exact = tfim_open_chain_ground_energy(n, 1.0) / n
    e, err = res.energy / n, res.energy_error / n
    assert e >= exact - 4 * err
    assert abs(e - exact) / abs(exact) < 1e-2
    first = res.history["energy"][0] / n
    assert first - exact > 10 * abs(e - exact)  # it did learn: the start was much further away


def test_build_mps_problem_and_bad_bond_dim():
    cfg = {
        "hamiltonian": "heisenberg",
        "lattice": "chain",
        "size": "8",
        "iterations": 2,
        "samples": 64,
        "chains": 8,
    }
    p = build_mps_problem(cfg, 3)
    assert isinstance(p.model, MPS) and p.model.periodic and p.config["model"] == "mps"
    with pytest.raises(NqgInputError, match="--bond-dim must be an integer >= 1, got 0"):
        build_mps_problem(cfg, 0)
    with pytest.raises(NqgInputError, match="needs --lattice chain"):
        build_mps_problem({**cfg, "lattice": "square", "size": "4x4"}, 2)
    with pytest.raises(NqgInputError, match="bond dimension must be an integer >= 1"):
        MPS(6, 0, key=jax.random.key(0))
