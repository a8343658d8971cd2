r"""Devices: the mesh nqg shards independent work over, and the rules that keep results device-independent.

nqg writes no parallel runtime of its own: a leading axis of independent work (networks of an ensemble,
Markov chains, ensemble members) is laid out over a one-dimensional :class:`jax.sharding.Mesh` whose axis is
:data:`WORK_AXIS`, and the per-device code is written with :func:`jax.shard_map` (or arrays are placed with
:class:`jax.sharding.NamedSharding` and left to ``jit``).

**Which devices.** All devices JAX reports (``jax.devices()``) unless :func:`set_device_count` chose the
first ``n`` of them (the CLI's ``nqg --devices N``). :func:`device_count` is the number in use.

**Random streams.** Item ``i`` of the work (a network, a chain, a member; or a batch of networks whose
composition does not depend on the device count) draws from ``fold_in(key, i)`` with ``i`` its *global*
index, never a device-local one (:func:`stream_key`). So a fixed seed gives the same draws whatever the
device count; only the order of floating-point reductions across devices changes (relative differences at
the rounding level, ~1e-16 per operation).

**Padding.** When the device count ``D`` does not divide the number of items ``n``, the work axis is padded
to ``padded_length(n, D) = D * ceil(n / D)`` items. Padded items get the global indices
``n, ..., D ceil(n/D) - 1`` (so the real items' draws are unchanged), are evaluated like the others, and
are then dropped (:func:`sharded_map`) or masked to contribute zero to every sum and count (the streamed
ensembles). At most ``D - 1`` items of work are wasted per sharded call.

Simulating several devices on a CPU: set ``XLA_FLAGS=--xla_force_host_platform_device_count=4`` in the
environment *before* JAX is first imported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from nqg.errors import NqgInputError

__all__ = [
    "WORK_AXIS",
    "device_count",
    "mesh",
    "padded_length",
    "set_device_count",
    "shard_leading_axis",
    "sharded_map",
    "stream_key",
    "visible_device_count",
]

WORK_AXIS = "work"
"""Name of the mesh axis over which independent work (networks, chains, members) is split."""

_requested: int | None = None


def visible_device_count() -> int:
    """Number of devices JAX sees in this process (``len(jax.devices())``)."""
    return len(jax.devices())


def set_device_count(n: int | None) -> None:
    """Use the first ``n`` visible devices from now on (``None``: all of them).

    Raises :class:`NqgInputError` unless ``1 <= n <= visible_device_count()``.
    """
    global _requested
    if n is None:
        _requested = None
        return
    visible = visible_device_count()
    if isinstance(n, bool) or int(n) != n or not 1 <= int(n) <= visible:
        raise NqgInputError(
            f"--devices must be an integer between 1 and the {visible} visible device(s), got {n}"
        )
    _requested = int(n)


def device_count() -> int:
    """Number of devices nqg shards over: the :func:`set_device_count` choice, else all visible ones."""
    return _requested if _requested is not None else visible_device_count()


def mesh(n_devices: int | None = None) -> Mesh:
    """One-dimensional mesh (axis :data:`WORK_AXIS`) over the first ``n_devices`` devices.

    ``n_devices=None`` uses :func:`device_count`.
    """
    n = device_count() if n_devices is None else int(n_devices)
    devices = jax.devices()
    if not 1 <= n <= len(devices):
        raise NqgInputError(f"n_devices must be between 1 and the {len(devices)} visible device(s), got {n}")
    return Mesh(np.array(devices[:n]), (WORK_AXIS,))


def padded_length(n_items: int, n_devices: int) -> int:
    """``n_devices * ceil(n_items / n_devices)``: the work axis length after padding (see module doc)."""
    if n_items < 0 or n_devices < 1:
        raise NqgInputError(f"need n_items >= 0 and n_devices >= 1, got {n_items} and {n_devices}")
    return n_devices * -(-n_items // n_devices)


def stream_key(key: jax.Array, global_index: Any) -> jax.Array:
    """Random key of work item ``global_index``: ``fold_in(key, global_index)``, independent of devices."""
    return jax.random.fold_in(key, global_index)


def shard_leading_axis(x: Any, device_mesh: Mesh | None = None) -> Any:
    """Place every array of the pytree ``x`` with its leading axis split over the mesh's devices.

    The leading axis must be divisible by the device count (pad it first, see :func:`padded_length`).
    """
    device_mesh = mesh() if device_mesh is None else device_mesh
    n_dev = device_mesh.devices.size
    sharding = NamedSharding(device_mesh, PartitionSpec(WORK_AXIS))

    def place(a):
        a = jnp.asarray(a)
        if a.ndim == 0 or a.shape[0] % n_dev:
            raise NqgInputError(
                f"leading axis of shape {a.shape} is not divisible by {n_dev} devices; pad it to "
                f"padded_length(n, {n_dev})"
            )
        return jax.device_put(a, sharding)

    return jax.tree.map(place, x)


def sharded_map(fn: Callable[..., Any], n_items: int, *args: Any, device_mesh: Mesh | None = None) -> Any:
    """``[fn(i, *args) for i in range(n_items)]`` stacked along a leading axis, sharded over the devices.

    ``fn(global_index, *args)`` returns a pytree of arrays; derive its randomness from ``global_index``
    (e.g. ``stream_key(key, i)`` with ``key`` among ``args``), so the output does not depend on the device
    count. ``args`` are replicated on every device. The index axis is padded to
    ``padded_length(n_items, D)``; padded items are evaluated and dropped.
    """
    if n_items < 1:
        raise NqgInputError(f"n_items must be a positive integer, got {n_items}")
    device_mesh = mesh() if device_mesh is None else device_mesh
    n_dev = device_mesh.devices.size
    indices = shard_leading_axis(jnp.arange(padded_length(n_items, n_dev)), device_mesh)

    def local(idx, *a):
        return jax.vmap(lambda i: fn(i, *a))(idx)

    replicated = (PartitionSpec(),) * len(args)
    mapped = jax.shard_map(
        local,
        mesh=device_mesh,
        in_specs=(PartitionSpec(WORK_AXIS), *replicated),
        out_specs=PartitionSpec(WORK_AXIS),
    )
    out = jax.jit(mapped)(indices, *args)
    return jax.tree.map(lambda a: a[:n_items], out)
