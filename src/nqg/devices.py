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

**Several processes** (hosts). :func:`initialize_distributed` starts JAX's multi-controller runtime
(:func:`jax.distributed.initialize`; CPU collectives through gloo). Every process then runs the same
program; ``jax.devices()`` lists the devices of *all* processes, so the mesh, the global indices and hence
the numbers are those of one process with as many devices. Arrays sharded over devices of other processes
are brought to every process with :func:`to_host`; only :func:`is_writer` (process 0) writes files.
"""

from __future__ import annotations

import functools
import os
import socket
import sys
import time
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
    "initialize_distributed",
    "is_writer",
    "mesh",
    "padded_length",
    "process_count",
    "process_index",
    "resolve_device_count",
    "set_device_count",
    "shard_leading_axis",
    "sharded_map",
    "stream_key",
    "to_host",
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


def resolve_device_count(n_devices: int | None = None) -> int:
    """The device count a computation asked for with ``n_devices`` (``None``: :func:`device_count`).

    Raises :class:`NqgInputError` unless it is an integer between 1 and :func:`visible_device_count`.
    """
    visible = visible_device_count()
    n = device_count() if n_devices is None else n_devices
    if isinstance(n, bool) or int(n) != n or not 1 <= int(n) <= visible:
        raise NqgInputError(
            f"n_devices must be an integer between 1 and the {visible} visible device(s), got {n}"
        )
    return int(n)


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


def pad_with_last(x: Any, n_padded: int) -> Any:
    """``x`` (numpy or JAX array) with its leading axis padded to ``n_padded`` by copies of its last item.

    The padding rule of the module doc for items that must stay finite (chains, learners, members).
    """
    extra = n_padded - x.shape[0]
    if extra <= 0:
        return x
    xp = np if isinstance(x, np.ndarray) else jnp
    return xp.concatenate([x, xp.repeat(x[-1:], extra, axis=0)])


def stream_key(key: jax.Array, global_index: Any) -> jax.Array:
    """Random key of work item ``global_index``: ``fold_in(key, global_index)``, independent of devices."""
    return jax.random.fold_in(key, global_index)


WIDE_VECTORS: dict[str, Any] = {"xla_cpu_prefer_vector_width": 512}
"""See :func:`wide_vector_compiler_options`."""


@functools.cache
def _host_has_avx512() -> bool:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            return any(line.startswith("flags") and " avx512f" in line for line in cpuinfo)
    except OSError:
        return False


def wide_vector_compiler_options() -> dict[str, Any] | None:
    """XLA compile options for elementwise loops over many independent items on an AVX-512 CPU.

    LLVM's x86 back end prefers 256-bit vectors by default (512-bit instructions lower the clock of some
    Intel parts); for a compute-bound elementwise loop (a block cipher, a normal quantile and an update per
    item) 512-bit vectors halve the instruction count. ``{"xla_cpu_prefer_vector_width": 512}`` for a
    jit's ``compiler_options`` when the default backend is the CPU and the host has AVX-512F, else
    ``None`` (GPUs and other CPUs compile as usual). The choice changes no result beyond the rounding of
    reordered reductions.
    """
    if jax.default_backend() == "cpu" and _host_has_avx512():
        return WIDE_VECTORS
    return None


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


# --- several processes (jax.distributed) ------------------------------------------------------------------

DEFAULT_COORDINATOR_TIMEOUT_S = 60
"""Seconds a process waits for the coordinator (and the coordinator for every process) at start-up."""


def process_index() -> int:
    """Index of this process in a multi-process run (``jax.process_index()``; 0 in a single process)."""
    return jax.process_index()


def process_count() -> int:
    """Number of processes of the run (``jax.process_count()``; 1 unless :func:`initialize_distributed`)."""
    return jax.process_count()


def is_writer() -> bool:
    """True on the one process that writes results, figures and checkpoints (process 0)."""
    return process_index() == 0


def to_host(x: Any) -> Any:
    """Every array of the pytree ``x`` as a NumPy array holding its *global* value, on every process.

    A single-process array is simply fetched; an array with shards on other processes' devices is gathered
    (:func:`jax.experimental.multihost_utils.process_allgather`, a collective: every process must call it).
    """

    def fetch(a):
        if isinstance(a, jax.Array) and not a.is_fully_addressable:
            from jax.experimental import multihost_utils

            return np.asarray(multihost_utils.process_allgather(a, tiled=True))
        return np.asarray(a)

    return jax.tree.map(fetch, x)


def _parse_coordinator(coordinator: str) -> tuple[str, int]:
    host, sep, port = coordinator.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise NqgInputError(f"--coordinator must be HOST:PORT with a port in 1..65535, got {coordinator!r}")
    return host.strip("[]"), int(port)


def _wait_for_coordinator(host: str, port: int, timeout_s: float) -> None:
    """Return once a TCP connection to ``host:port`` opens; NqgInputError after ``timeout_s`` seconds."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host, port), timeout=max(0.1, min(1.0, timeout_s))):
                return
        except OSError as exc:
            if time.monotonic() >= deadline:
                raise NqgInputError(
                    f"--coordinator {host}:{port} could not be reached within {timeout_s:g} s ({exc}); start "
                    "process 0 there, or check the address, port and firewall"
                ) from None
            time.sleep(0.2)


def _check_port_free(port: int) -> None:
    """NqgInputError if process 0 cannot bind the coordinator port (jax may crash on a busy one)."""
    for family, address in ((socket.AF_INET6, "::"), (socket.AF_INET, "0.0.0.0")):
        try:
            probe = socket.socket(family, socket.SOCK_STREAM)
        except OSError:  # no IPv6 on this host: try IPv4
            continue
        with probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((address, port))
            except OSError as exc:
                raise NqgInputError(
                    f"--distributed: could not start the coordinator on port {port} ({exc}); choose a free "
                    "port for --coordinator"
                ) from None
        return


def _native_stdout_to_stderr() -> None:
    """Send what native code prints on file descriptor 1 to stderr; Python's ``sys.stdout`` keeps stdout.

    gloo prints "[Gloo] Rank r is connected to ..." on the C++ standard output, which would break ``--json``
    (the JSON and nothing else on stdout).
    """
    try:
        if sys.stdout is None or sys.stdout.fileno() != 1:
            return
    except (AttributeError, OSError, ValueError):  # replaced by a test harness: nothing to protect
        return
    sys.stdout.flush()
    python_stdout = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = os.fdopen(python_stdout, "w", encoding=sys.stdout.encoding, errors=sys.stdout.errors)


def initialize_distributed(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    timeout_s: float = DEFAULT_COORDINATOR_TIMEOUT_S,
) -> None:
    """Join a multi-process run through :func:`jax.distributed.initialize` (CPU collectives: gloo).

    Options left ``None`` come from JAX's cluster auto-detection (SLURM, Open MPI); explicit settings need
    all three. Process 0 hosts the coordinator at ``coordinator`` (HOST:PORT); the others wait at most
    ``timeout_s`` seconds for it to accept connections, and every process waits at most ``timeout_s``
    seconds (rounded up to whole seconds) for all of them to join. Must run before anything touches a JAX
    device. Calling it again in an initialised process is a no-op.

    Raises :class:`NqgInputError` for a malformed coordinator, a process id outside ``0..num_processes-1``,
    settings that are missing with no cluster detected, an unreachable coordinator, a coordinator port that
    process 0 cannot bind, or JAX devices already in use. (A process that reaches the coordinator but whose
    peers never join is ended by JAX itself after the timeout, with its own message.)
    """
    from jax._src import xla_bridge  # backends_are_initialized: no public equivalent in jax 0.10

    if jax.distributed.is_initialized():
        return
    if num_processes is not None and (isinstance(num_processes, bool) or int(num_processes) < 1):
        raise NqgInputError(f"--num-processes must be a positive integer, got {num_processes}")
    if process_id is not None and num_processes is not None and not 0 <= int(process_id) < int(num_processes):
        raise NqgInputError(
            f"--process-id must be between 0 and {int(num_processes) - 1} (--num-processes {num_processes}), "
            f"got {process_id}"
        )
    if process_id is not None and int(process_id) < 0:
        raise NqgInputError(f"--process-id must be a non-negative integer, got {process_id}")
    if not timeout_s > 0:
        raise NqgInputError(f"the coordinator timeout must be positive, got {timeout_s}")
    explicit = (coordinator, num_processes, process_id)
    if any(v is not None for v in explicit) and any(v is None for v in explicit):
        raise NqgInputError(
            "--distributed: give all of --coordinator, --num-processes and --process-id, or none of them "
            "(then the cluster's settings are detected: SLURM, Open MPI)"
        )
    if coordinator is not None:
        host, port = _parse_coordinator(coordinator)
        if int(process_id) == 0:
            _check_port_free(port)
        else:
            _wait_for_coordinator(host, port, timeout_s)
    if xla_bridge.backends_are_initialized():
        raise NqgInputError(
            "--distributed must be set up before JAX uses any device, but devices are already in use in this "
            "process"
        )
    _native_stdout_to_stderr()
    if jax.config.values.get("jax_cpu_collectives_implementation") is None:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        jax.distributed.initialize(
            coordinator_address=coordinator,
            num_processes=None if num_processes is None else int(num_processes),
            process_id=None if process_id is None else int(process_id),
            initialization_timeout=max(1, int(np.ceil(timeout_s))),
        )
    except ValueError as exc:  # settings missing and no cluster detected, or inconsistent detected ones
        raise NqgInputError(
            f"--distributed: {exc} No cluster (SLURM, Open MPI) was detected; give --coordinator HOST:PORT "
            "--num-processes N --process-id I"
        ) from None
    except RuntimeError as exc:  # jax's JaxRuntimeError, e.g. "Failed to start RPC server" (port in use)
        raise NqgInputError(
            f"--distributed: could not start or join the coordinator {coordinator}: {exc}"
        ) from None
