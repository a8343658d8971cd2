"""The VMC collapse guard: a collapsed state is rejected and restored, a NaN update is skipped, frozen
chains restart, and a run without rejections is exactly the run without the guard."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from nqg.errors import TrainingDivergedError
from nqg.quantum import (
    RBM,
    SR,
    VMC,
    CollapseGuard,
    MetropolisLocal,
    SpinHilbert,
    TransverseFieldIsing,
    chain,
    tfim_chain_ground_energy,
)
from nqg.quantum.vmc import GuardState, frozen_chains

N = 8
EXACT = tfim_chain_ground_energy(N, 1.0)


def _vmc(guard, optimizer=None):
    lat = chain(N)
    return VMC(
        TransverseFieldIsing(lat, h=1.0),
        RBM(N, alpha=1, key=jax.random.key(0)),
        MetropolisLocal(SpinHilbert(N), n_chains=8, n_samples=128),
        optimizer or optax.sgd(0.05),
        sr=SR(diag_shift=0.01),
        guard=guard,
    )


def test_guard_leaves_a_healthy_run_unchanged():
    with_guard = _vmc(CollapseGuard()).run(25, jax.random.key(1), progress=False)
    without = _vmc(None).run(25, jax.random.key(1), progress=False)
    assert with_guard.rejections == []
    assert np.all(with_guard.history["update_skipped"] == 0)
    np.testing.assert_array_equal(with_guard.history["energy"], without.history["energy"])
    assert with_guard.energy == without.energy


def _blow_up(state):
    """The state after one disastrous step: every RBM weight multiplied by 40."""
    params, static = eqx.partition(state.model, eqx.is_inexact_array)
    return eqx.tree_at(
        lambda s: s.model, state, eqx.combine(jax.tree.map(lambda p: 40.0 * p, params), static)
    )


def test_collapsed_state_is_rejected_and_the_last_good_one_restored():
    vmc = _vmc(CollapseGuard())
    first = vmc.run(15, jax.random.key(1), progress=False, final_estimate_repeats=0)
    good = first.state.guard.prev_params  # the last accepted parameters
    after = vmc.run(25, state=_blow_up(first.state), progress=False)
    rejected = after.rejections
    assert rejected and rejected[0]["iteration"] == 0, rejected
    assert after.history["step_scale"][0] == pytest.approx(0.5)
    # the rejection went back to exactly the last accepted parameters
    restored = vmc.jit_step(_blow_up(first.state), 0)[0].model
    jax.tree.map(np.testing.assert_array_equal, eqx.filter(restored, eqx.is_inexact_array), good)
    # and the run recovers: the final energy is that of a good state (statistical error ~0.02)
    assert after.energy - EXACT < 0.1, (after.energy, after.energy_error, EXACT)

    # negative control: without the guard the blown-up state is kept (NaN, or an energy far off)
    unguarded = _vmc(None)
    start = _blow_up(unguarded.run(15, jax.random.key(1), progress=False, final_estimate_repeats=0).state)
    try:
        bad = unguarded.run(25, state=start, progress=False)
    except TrainingDivergedError:
        return
    assert abs(bad.energy - EXACT) > 1.0 or np.any(np.abs(bad.history["energy"]) > 1e3)


def _vmc_nan_at(step: int, guard):
    """A run whose SR solve fails (diagonal shift NaN) at one iteration."""
    vmc = _vmc(guard)
    vmc.sr = SR(diag_shift=lambda k: jnp.where(k == step, jnp.nan, 0.01))
    vmc.jit_step = jax.jit(vmc.step_fn)
    return vmc


def test_nonfinite_update_is_skipped_not_fatal():
    res = _vmc_nan_at(5, CollapseGuard()).run(12, jax.random.key(1), progress=False)
    assert res.history["update_skipped"][5] == 1 and res.history["update_skipped"].sum() == 1
    assert res.history["step_scale"][5] == pytest.approx(0.5)
    assert np.all(np.isfinite(res.history["energy"]))
    with pytest.raises(TrainingDivergedError):
        _vmc_nan_at(5, None).run(12, jax.random.key(1), progress=False)


def test_rejection_thresholds():
    g = CollapseGuard(n_sigma=8.0, rel_jump=0.01, variance_factor=25.0)
    ref = GuardState(
        None,
        None,
        None,
        jnp.asarray(-10.0),
        jnp.asarray(0.01),
        jnp.asarray(0.5),
        jnp.asarray(1.0),
        jnp.asarray(True),
    )
    assert not g.state_rejected(-10.05, 0.01, 0.5, ref)  # went down
    assert not g.state_rejected(-9.95, 0.01, 0.5, ref)  # up 3.5 sigma
    assert not g.state_rejected(-9.95, 0.001, 0.5, ref)  # up 7 sigma but only 0.5 %
    assert g.state_rejected(-9.8, 0.01, 0.5, ref)  # up 14 sigma and 2 %
    assert g.state_rejected(-30.0, 1.0, 1e4, ref)  # a blown-up estimate reads as a drop
    assert g.state_rejected(jnp.nan, 0.01, 0.5, ref)
    first = GuardState(None, None, None, *(jnp.zeros(()),) * 4, jnp.asarray(False))
    assert not g.state_rejected(-9.0, 0.01, 0.5, first)  # no reference yet


def test_frozen_chains_are_found():
    samples = jnp.ones((3, 5, 4))
    samples = samples.at[1, 2, 0].set(-1.0)
    np.testing.assert_array_equal(frozen_chains(samples), [True, False, True])
    assert not frozen_chains(jnp.ones((3, 1, 4))).any()  # one sample per chain says nothing
