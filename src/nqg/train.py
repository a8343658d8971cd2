"""The training loop: one compiled chunk of steps at a time, with progress, NaN guard,
periodic checkpoints, resume and a clean Ctrl-C.

:func:`run_loop` drives any pure step ``step_fn(state, step) -> (state, metrics)`` (a VMC
iteration, an optimizer step, ...). :func:`minimize` builds that step from a loss and an optax
optimizer. Steps run in chunks of ``chunk`` under one ``jax.jit(lax.scan)`` call; chunks are
aligned to absolute step numbers, so a run resumed from a checkpoint executes exactly the same
compiled computation as an uninterrupted one and ends in the same state.
"""

from __future__ import annotations

import io
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from nqg.errors import NqgInputError, TrainingDivergedError, TrainingInterrupted
from nqg.results import atomic_write_bytes
from nqg.spec import RunContext

StepFn = Callable[[Any, jax.Array], tuple[Any, dict[str, jax.Array]]]


@dataclass
class LoopResult:
    """Final state, per-step metrics (``history[name][step]``) and the number of steps done."""

    state: Any
    history: dict[str, np.ndarray] = field(default_factory=dict)
    steps: int = 0
    resumed_from: int = 0


class MinimizeState(eqx.Module):
    """State of :func:`minimize`: parameters, optimizer state, and the base PRNG key."""

    params: Any
    opt_state: Any
    key: jax.Array


# ----------------------------------------------------------------------------- checkpoints


def _is_key(leaf: Any) -> bool:
    return isinstance(leaf, jax.Array) and jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def save_checkpoint(path: Path, arrays: Any, step: int, history: dict[str, np.ndarray]) -> None:
    """Write the array leaves of a state, the step count and the history atomically (npz).

    Leaves sharded over several devices are saved with their global value (:func:`nqg.devices.to_host`,
    a collective in a multi-process run: every process must call this); only process 0 writes."""
    from nqg.devices import is_writer, to_host

    leaves = jax.tree_util.tree_leaves(arrays)
    leaves = to_host([jax.random.key_data(leaf) if _is_key(leaf) else leaf for leaf in leaves])
    if not is_writer():
        return
    payload: dict[str, np.ndarray] = {"__step__": np.asarray(step, dtype=np.int64)}
    for i, leaf in enumerate(leaves):
        payload[f"leaf_{i}"] = leaf
    for name, values in history.items():
        payload[f"history_{name}"] = np.asarray(values)
    buf = io.BytesIO()
    np.savez(buf, **payload)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: Path, like: Any) -> tuple[Any, int, dict[str, np.ndarray]]:
    """Read a checkpoint written by :func:`save_checkpoint` into the structure of ``like``; a leaf of
    ``like`` sharded over several devices (of this or other processes) is placed with the same sharding."""
    leaves, treedef = jax.tree_util.tree_flatten(like)
    with np.load(path) as data:
        n_saved = sum(1 for k in data.files if k.startswith("leaf_"))
        if n_saved != len(leaves):
            raise NqgInputError(
                f"checkpoint {path} does not match this run ({n_saved} arrays, expected {len(leaves)})"
            )
        new = []
        for i, leaf in enumerate(leaves):
            saved = data[f"leaf_{i}"]
            if _is_key(leaf):
                new.append(jax.random.wrap_key_data(jnp.asarray(saved), impl=jax.random.key_impl(leaf)))
                continue
            if saved.shape != leaf.shape:
                raise NqgInputError(
                    f"checkpoint {path} does not match this run (array {i}: {saved.shape} vs {leaf.shape})"
                )
            value = np.asarray(saved, dtype=leaf.dtype)
            sharding = getattr(leaf, "sharding", None)
            if isinstance(sharding, jax.sharding.NamedSharding):  # each device takes its slice
                new.append(jax.make_array_from_callback(value.shape, sharding, lambda idx, v=value: v[idx]))
            else:
                new.append(jnp.asarray(value))
        step = int(data["__step__"])
        history = {k[len("history_") :]: data[k] for k in data.files if k.startswith("history_")}
    return jax.tree_util.tree_unflatten(treedef, new), step, history


# ----------------------------------------------------------------------------- progress


class _Progress:
    """A rich progress bar on stderr showing the primary metric and the rate; or nothing."""

    def __init__(self, enabled: bool, description: str, total: int, done: int, primary: str | None):
        self.primary = primary
        self.bar = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[metric]}"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.task = self.bar.add_task(description, total=total, completed=done, metric="", rate="")
        self.bar.start()
        self.t0 = time.perf_counter()
        self.done0 = done

    def update(self, done: int, metrics: dict[str, np.ndarray]) -> None:
        if self.bar is None:
            return
        text = ""
        if self.primary and self.primary in metrics and np.size(metrics[self.primary]):
            last = np.asarray(metrics[self.primary])[-1]
            value = float(np.real(np.mean(last)))
            text = f"{self.primary}={value:.6g}"
        rate = (done - self.done0) / max(time.perf_counter() - self.t0, 1e-9)
        self.bar.update(self.task, completed=done, metric=text, rate=f"{rate:.1f} it/s")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


# ----------------------------------------------------------------------------- the loop


def _all_finite(tree: Any) -> jax.Array:
    leaves = [x for x in jax.tree_util.tree_leaves(tree) if eqx.is_inexact_array(x)]
    if not leaves:
        return jnp.array(True)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def run_loop(
    step_fn: StepFn,
    state: Any,
    *,
    steps: int,
    name: str = "train",
    ctx: RunContext | None = None,
    chunk: int = 50,
    primary: str | None = None,
    progress: bool | None = None,
    description: str | None = None,
    checkpoint_every_s: float = 60.0,
) -> LoopResult:
    """Run ``steps`` iterations of ``state, metrics = step_fn(state, step)``.

    ``step_fn`` must be pure and jittable; ``step`` is an int32 scalar (derive per-step
    randomness with ``jax.random.fold_in(key, step)``). Metrics of every step are returned in
    ``history``. With a ``ctx`` that has a checkpoint folder, the state is checkpointed every
    ``checkpoint_every_s`` seconds, at the end, on Ctrl-C (:class:`TrainingInterrupted`) and,
    as the last finite state, when NaN/inf appears (:class:`TrainingDivergedError`);
    ``ctx.resume`` continues from the checkpoint.
    """
    if steps < 0:
        raise NqgInputError(f"steps must be >= 0, got {steps}")
    if chunk < 1:
        raise NqgInputError(f"chunk must be >= 1, got {chunk}")
    arrays, static = eqx.partition(state, eqx.is_array)
    ckpt = ctx.checkpoint_path(name) if ctx is not None else None

    start = 0
    history_parts: dict[str, list[np.ndarray]] = {}
    if ckpt is not None and ctx is not None and ctx.resume:
        _same_checkpoint_on_every_process(ckpt)
        if ckpt.exists():
            arrays, start, saved_history = load_checkpoint(ckpt, arrays)
            history_parts = {k: [v] for k, v in saved_history.items()}
    resumed_from = start
    checkpoint_step = start if start else None  # step of the newest checkpoint of this run, if any

    def run_chunk(arrays: Any, first: jax.Array, length: int) -> tuple[Any, dict[str, jax.Array], jax.Array]:
        def body(arr: Any, i: jax.Array) -> tuple[Any, dict[str, jax.Array]]:
            new_state, metrics = step_fn(eqx.combine(arr, static), first + i)
            new_arrays, _ = eqx.partition(new_state, eqx.is_array)
            return new_arrays, metrics

        new_arrays, metrics = jax.lax.scan(body, arrays, jnp.arange(length, dtype=jnp.int32))
        return new_arrays, metrics, _all_finite((new_arrays, metrics))

    compiled = jax.jit(run_chunk, static_argnums=2)

    def history() -> dict[str, np.ndarray]:
        return {k: np.concatenate(v) for k, v in history_parts.items()}

    quiet = ctx.quiet if ctx is not None else False
    enabled = progress if progress is not None else (not quiet and sys.stderr.isatty())
    bar = _Progress(enabled, description or name, steps, start, primary)
    last_save = time.perf_counter()
    try:
        while start < steps:
            length = min(chunk - start % chunk, steps - start)
            try:
                new_arrays, metrics, finite = compiled(arrays, jnp.int32(start), length)
                metrics = jax.tree_util.tree_map(np.asarray, metrics)
                finite = bool(finite)
            except KeyboardInterrupt:
                # several processes: saving is a collective the others may not join; the last periodic
                # checkpoint stays
                where = ""
                if ckpt is not None and jax.process_count() == 1:
                    save_checkpoint(ckpt, arrays, start, history())
                    where = f"; checkpoint saved at step {start}, rerun with --resume"
                elif ckpt is not None and checkpoint_step is not None:
                    where = f" at step {start}; the last checkpoint is at step {checkpoint_step}"
                    where += ", rerun with --resume"
                elif ckpt is not None:
                    where = f" at step {start}; no checkpoint was written yet"
                raise TrainingInterrupted(f"{name}: interrupted{where}") from None
            if not finite:
                bad = _first_bad_step(metrics)
                if ckpt is not None:
                    save_checkpoint(ckpt, arrays, start, history())
                where = f" (last finite state checkpointed at step {start}: {ckpt})" if ckpt else ""
                at = (
                    f"at step {start + bad}"
                    if bad is not None
                    else f"between steps {start} and {start + length}"
                )
                raise TrainingDivergedError(f"{name}: NaN or inf {at}{where}")
            arrays = new_arrays
            for key, value in metrics.items():
                history_parts.setdefault(key, []).append(value)
            start += length
            bar.update(start, metrics)
            if ckpt is not None and _agreed(time.perf_counter() - last_save >= checkpoint_every_s):
                save_checkpoint(ckpt, arrays, start, history())
                checkpoint_step = start
                last_save = time.perf_counter()
    finally:
        bar.close()
    if ckpt is not None:
        save_checkpoint(ckpt, arrays, start, history())
    return LoopResult(eqx.combine(arrays, static), history(), start, resumed_from)


def _agreed(flag: bool) -> bool:
    """Process 0's ``flag`` on every process (a decision that leads to a collective must be shared)."""
    if jax.process_count() == 1:
        return flag
    from jax.experimental import multihost_utils

    return bool(multihost_utils.broadcast_one_to_all(np.asarray(flag)))


def _same_checkpoint_on_every_process(path: Path) -> None:
    """Before resuming a multi-process run: every process must see the same checkpoint (or none).

    Each process resumes from its own reading of ``OUT/checkpoints``; if one found no checkpoint or another
    one (``OUT`` not on a file system all hosts share, a stale copy), the processes would run different
    steps and wait for each other in their collectives for ever. So a checksum of the checkpoint file
    (CRC-32; -1: none) is gathered from every process (a collective: every process calls this) and any
    difference is an :class:`NqgInputError` raised on every process.
    """
    if jax.process_count() == 1:
        return
    from jax.experimental import multihost_utils

    digest = zlib.crc32(path.read_bytes()) % (2**31 - 1) if path.exists() else -1  # int32 (float32 mode)
    every = np.asarray(multihost_utils.process_allgather(np.array([digest], dtype=np.int32))).reshape(-1)
    if np.any(every != every[0]):
        seen = ", ".join(
            f"process {i}: {'none' if d < 0 else f'checksum {d:08x}'}" for i, d in enumerate(every.tolist())
        )
        raise NqgInputError(
            f"--resume: the processes do not see the same checkpoint {path.name} ({seen}); OUT must be on a "
            "file system all processes share, and the number of processes must not change"
        )


def _first_bad_step(metrics: dict[str, np.ndarray]) -> int | None:
    bad = None
    for value in metrics.values():
        value = np.asarray(value)
        if not np.issubdtype(value.dtype, np.inexact) or value.ndim == 0:
            continue
        rows = ~np.isfinite(value.reshape(value.shape[0], -1)).all(axis=1)
        if rows.any():
            first = int(np.argmax(rows))
            bad = first if bad is None else min(bad, first)
    return bad


def minimize(
    loss_fn: Callable[..., Any],
    params: Any,
    optimizer: optax.GradientTransformation,
    *,
    steps: int,
    key: jax.Array,
    has_aux: bool = False,
    **run_loop_kwargs: Any,
) -> LoopResult:
    """Minimise ``loss_fn(params, key)`` with an optax optimizer for ``steps`` steps.

    Only the inexact-array leaves of ``params`` are trained. Step ``i`` uses the key
    ``fold_in(key, i)``; ``history["loss"][i]`` is the loss before update ``i``. With
    ``has_aux`` the loss returns ``(loss, aux)`` and each entry of ``aux`` is recorded per step.
    The returned state is a :class:`MinimizeState` with the trained ``params``.
    """
    trainable, static = eqx.partition(params, eqx.is_inexact_array)

    def objective(tr: Any, k: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        out = loss_fn(eqx.combine(tr, static), k)
        return out if has_aux else (out, {})

    grad_fn = jax.value_and_grad(objective, has_aux=True)

    def step_fn(state: MinimizeState, step: jax.Array) -> tuple[MinimizeState, dict[str, jax.Array]]:
        (loss, aux), grads = grad_fn(state.params, jax.random.fold_in(state.key, step))
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        new_params = optax.apply_updates(state.params, updates)
        return MinimizeState(new_params, opt_state, state.key), {"loss": loss, **aux}

    run_loop_kwargs.setdefault("primary", "loss")
    state = MinimizeState(trainable, optimizer.init(trainable), key)
    out = run_loop(step_fn, state, steps=steps, **run_loop_kwargs)
    final = out.state
    out.state = MinimizeState(eqx.combine(final.params, static), final.opt_state, final.key)
    return out


def minimize_members_lbfgs(
    loss_fn: Callable[[Any, Any], Any],
    params: Any,
    member_data: Any = None,
    *,
    steps: int,
    **run_loop_kwargs: Any,
) -> LoopResult:
    """Minimise ``loss_fn(params_i, data_i)`` for every ensemble member ``i`` by L-BFGS.

    ``params`` and ``member_data`` (any PyTree, or None) carry the members along their leading axis.
    Each member has its own ``optax.lbfgs`` state (zoom line search); the members run one after the
    other in ``lax.map`` inside each step (on a CPU a batched line search or ``eigh`` is far slower), and
    the steps in one compiled :func:`run_loop`. A step that would give a non-finite loss, parameter or
    optimizer state leaves that member where it was (a step that ends on a zero curvature pair, e.g. once a
    member has converged to machine precision, is so rejected). ``history["loss"]`` is the sum and
    ``history["member_loss"]`` the per-member loss before each step (0 for a rejected step). The returned
    state is ``(params, opt_states)``.
    """
    opt = optax.lbfgs()

    def one_member(args: Any) -> tuple[Any, Any, jax.Array]:
        p, st, data = args

        def member_loss(q: Any) -> jax.Array:
            return loss_fn(q, data)

        v, g = optax.value_and_grad_from_state(member_loss)(p, state=st)
        u, new_st = opt.update(g, st, p, value=v, grad=g, value_fn=member_loss)
        new_p = optax.apply_updates(p, u)
        ok = jnp.isfinite(v) & _all_finite((new_p, new_st))
        keep = lambda new, old: jnp.where(ok, new, old)  # noqa: E731
        return (
            jax.tree_util.tree_map(keep, new_p, p),
            jax.tree_util.tree_map(keep, new_st, st),
            jnp.where(ok, v, 0.0),
        )

    def step_fn(state: Any, step: jax.Array) -> tuple[Any, dict[str, jax.Array]]:
        ps, sts = state
        new_p, new_st, v = jax.lax.map(one_member, (ps, sts, member_data))
        return (new_p, new_st), {"loss": jnp.sum(v), "member_loss": v}

    run_loop_kwargs.setdefault("primary", "loss")
    opt_states = eqx.filter_vmap(opt.init)(params)
    return run_loop(step_fn, (params, opt_states), steps=steps, **run_loop_kwargs)
