import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import nqg.train as train
from nqg.errors import TrainingDivergedError, TrainingInterrupted
from nqg.spec import RunContext


def noisy_quadratic(params, key):
    """A stochastic loss: |p - 3 + noise|^2, so results depend on the per-step keys."""
    noise = 0.1 * jax.random.normal(key, params.shape)
    return jnp.sum((params - 3.0 + noise) ** 2)


def test_minimize_converges_and_records_history():
    res = train.minimize(
        lambda p, k: jnp.sum((p - 3.0) ** 2),
        jnp.zeros(3),
        optax.adam(0.1),
        steps=300,
        key=jax.random.PRNGKey(0),
    )
    np.testing.assert_allclose(res.state.params, 3.0, atol=1e-4)
    assert res.history["loss"].shape == (300,) and res.steps == 300
    assert res.history["loss"][0] == pytest.approx(27.0)


def test_minimize_aux_and_static_leaves():
    params = {"w": jnp.ones(2), "n": 4}  # non-array leaf stays static

    def loss(p, key):
        return jnp.sum(p["w"] ** 2) * p["n"], {"w0": p["w"][0]}

    res = train.minimize(
        loss, params, optax.sgd(0.05), steps=7, key=jax.random.PRNGKey(1), has_aux=True, chunk=3
    )
    assert res.state.params["n"] == 4
    np.testing.assert_allclose(res.history["w0"], 0.6 ** np.arange(7))


def test_same_seed_same_result_and_chunking_invariance():
    kw = dict(steps=40, key=jax.random.PRNGKey(7))
    a = train.minimize(noisy_quadratic, jnp.zeros(2), optax.adam(0.05), chunk=10, **kw)
    b = train.minimize(noisy_quadratic, jnp.zeros(2), optax.adam(0.05), chunk=10, **kw)
    c = train.minimize(noisy_quadratic, jnp.zeros(2), optax.adam(0.05), chunk=7, **kw)
    np.testing.assert_array_equal(a.state.params, b.state.params)
    np.testing.assert_allclose(a.state.params, c.state.params, rtol=1e-12)


def _interrupt_after(monkeypatch, n_calls):
    real_jit = jax.jit

    def fake_jit(fn, **kwargs):
        compiled = real_jit(fn, **kwargs)
        calls = {"n": 0}

        def wrapper(*args):
            calls["n"] += 1
            if calls["n"] > n_calls:
                raise KeyboardInterrupt
            return compiled(*args)

        return wrapper

    monkeypatch.setattr(train.jax, "jit", fake_jit)


def test_interrupt_checkpoint_and_resume_equal_uninterrupted(tmp_path, monkeypatch):
    opt = optax.adam(0.05)
    key = jax.random.PRNGKey(3)
    full = train.minimize(noisy_quadratic, jnp.zeros(2), opt, steps=50, key=key, chunk=10)

    ctx = RunContext(out_dir=tmp_path, checkpoint_dir=tmp_path / "ckpt")
    with monkeypatch.context() as m:
        _interrupt_after(m, 3)
        with pytest.raises(TrainingInterrupted, match="step 30"):
            train.minimize(noisy_quadratic, jnp.zeros(2), opt, steps=50, key=key, chunk=10, ctx=ctx)
    assert (tmp_path / "ckpt" / "train.ckpt").exists()

    ctx.resume = True
    resumed = train.minimize(noisy_quadratic, jnp.zeros(2), opt, steps=50, key=key, chunk=10, ctx=ctx)
    assert resumed.resumed_from == 30
    np.testing.assert_array_equal(resumed.state.params, full.state.params)
    np.testing.assert_array_equal(resumed.history["loss"], full.history["loss"])


def test_nan_guard_keeps_last_finite_state(tmp_path):
    def step(state, i):
        new = jnp.where(i >= 12, jnp.nan, state + 1.0)
        return new, {"value": new}

    ctx = RunContext(out_dir=tmp_path, checkpoint_dir=tmp_path / "ckpt")
    with pytest.raises(TrainingDivergedError, match="at step 12"):
        train.run_loop(step, jnp.zeros(()), steps=30, chunk=5, ctx=ctx)
    state, step_no, hist = train.load_checkpoint(tmp_path / "ckpt" / "train.ckpt", jnp.zeros(()))
    assert step_no == 10 and float(state) == 10.0 and hist["value"].shape == (10,)


def test_typed_prng_keys_roundtrip(tmp_path):
    state = {"key": jax.random.key(0), "x": jnp.arange(3.0)}
    train.save_checkpoint(tmp_path / "c.ckpt", state, 5, {})
    back, step, _ = train.load_checkpoint(tmp_path / "c.ckpt", state)
    assert step == 5
    np.testing.assert_array_equal(jax.random.key_data(back["key"]), jax.random.key_data(state["key"]))
