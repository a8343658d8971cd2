"""The `tensor-networks` experiment at its quick setting: every check passes; its exact state vectors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nqg.experiments import run_experiment
from nqg.quantum.hilbert import SpinHilbert
from nqg.quantum.models import RBM
from nqg.quantum.mps import MPS
from nqg.quantum.tensor_network_experiments import _state_vector, chain_operator


def test_tensor_networks_quick(tmp_path):
    res = run_experiment("tensor-networks", quick=True, out=tmp_path / "tn")
    failed = [c for c in res.checks if not c["passed"]]
    assert not failed, failed
    assert len(res.checks) >= 12
    m = res.metrics
    for key in (
        "rbm_energy_per_site",
        "mps_energy_per_site",
        "central_charge_dmrg",
        "central_charge_exact",
        "entanglement_max_abs_deviation_dmrg_exact",
        "rbm_entanglement_entropy_mid",
    ):
        assert key in m
    assert abs(m["central_charge_exact"]["value"] - 0.5) < 0.02
    assert (tmp_path / "tn" / "entanglement.png").exists()


@pytest.mark.parametrize("kind", ["rbm", "mps"])
def test_state_vector_matches_log_psi(kind):
    """The numpy state vectors of the experiment (RBM formula, MPS contraction) equal the models' log_psi."""
    n = 6
    key = jax.random.key(3)
    model = RBM(n, 2, key=key) if kind == "rbm" else MPS(n, 3, key=key)
    states = jnp.asarray(SpinHilbert(n).all_states(np.int8)).astype(model.input_dtype)
    lp = np.asarray(model.log_psi(states))
    ref = np.exp(lp - np.max(np.real(lp)))
    ref = ref / np.linalg.norm(ref)
    vec = _state_vector(model, n)
    phase = np.vdot(vec, ref) / abs(np.vdot(vec, ref))
    np.testing.assert_allclose(vec * phase, ref, atol=1e-12)


def test_exact_energy_of_a_trained_state_equals_the_local_energy_average():
    """<psi|H|psi> as the experiment computes it (op.to_sparse() on _state_vector) equals
    sum_s |psi(s)|^2 E_loc(s) from VMC's local energies: the same basis order on both sides."""
    from nqg.quantum.vmc import local_energies

    n = 6
    op = chain_operator("tfim", n, False, 0.8)
    model = RBM(n, 1, key=jax.random.key(5), init_std=0.4)
    vec = _state_vector(model, n)
    e_sparse = float(np.real(np.vdot(vec, op.to_sparse() @ vec)))
    states = jnp.asarray(SpinHilbert(n).all_states(np.int8)).astype(model.input_dtype)
    e_loc = np.asarray(local_energies(op, model, states))
    assert e_sparse == pytest.approx(float(np.real(np.sum(np.abs(vec) ** 2 * e_loc))), abs=1e-10)
