r"""Correlators of network ensembles, streamed: memory independent of the number of networks.

``estimate_correlators(arch, width, points, n_networks, key)`` draws the ensemble in batches of B networks
(batch j uses ``fold_in(key, j)``), evaluates the (B, n_points) output matrix ``F``, and accumulates the
sums over networks of every monomial ``F[:, t_1] ... F[:, t_n]`` (t a multiset of input indices) into a
fixed number of blocks (batch j goes to block ``j mod n_blocks``). Nothing of size n_networks is ever
stored. Monomials of degree k are built from degree k-1 with one multiplication each (a gather tree), so
all multisets up to degree 6 at 6 inputs cost 923 multiplications per network.

The correlator is the ensemble mean ``G_n(t) = (1/M) sum_networks prod_j f(x_{t_j})``; its standard error
comes from the independent block means (:func:`nqg.stats.batch_means`), and nonlinear functions of the
correlators (connected parts, ``m_n``) get jackknife errors over the blocks.

**Several devices** (:mod:`nqg.devices`). With D > 1 devices each call of the compiled chunk runs under
:func:`jax.shard_map`: device d processes the batches ``start + d * P + i`` (i < P) and accumulates its own
block sums; the D partial block sums are added at the end. Batch j still draws from ``fold_in(key, j)`` (a
global index; the batch size does not depend on D), so a fixed seed gives the same networks whatever D, and
the results differ only by the order of the final additions (~1e-16 relative). Padding: the batch list is
extended to a multiple of ``D * P``; batches ``j >= n_batches`` are masked and add zero to every sum and
count. Memory stays one batch per device. With one device the code path is the single-device one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nqg import devices as nqg_devices
from nqg.errors import NqgInputError
from nqg.fields import nnft_random
from nqg.fields.nnft import NetworkArchitecture, as_points, multisets, predict_correlators, wick_pairings
from nqg.stats import batch_means

__all__ = [
    "CorrelatorEstimate",
    "MonomialTree",
    "estimate_correlators",
    "measure_and_predict",
    "network_outputs",
    "normalized_deviation",
    "signed_deviation",
    "stream_ensemble",
]

_ELEMENTS_PER_BATCH = 2**21  # B * N per batch: ~100 MB of working memory in float32


def network_outputs(
    arch: NetworkArchitecture,
    width: int | jnp.ndarray,
    points: jnp.ndarray,
    key: jax.Array,
    batch: int,
    dtype=jnp.float32,
    pad_width: int | None = None,
) -> jnp.ndarray:
    """Outputs ``f(x_k) = b_1 + sum_i a_i h(x_k; theta_i)`` of ``batch`` fresh networks: (batch, n_points).

    ``a_i ~ N(0, s^2/N)`` and ``b_1 ~ N(0, s_out^2)`` with ``s = arch.readout_std`` and
    ``s_out = arch.output_bias_std``.
    With ``pad_width`` (static) >= width the hidden layer is allocated with pad_width neurons and the readout
    weights of neurons ``i >= width`` are zero, so one compiled function serves every width up to pad_width
    (``width`` may then be a traced scalar).
    """
    n_alloc = int(width) if pad_width is None else int(pad_width)
    k_hidden, k_a, k_b = jax.random.split(key, 3)
    theta = arch.sample_hidden(k_hidden, (batch, n_alloc), dtype)
    scale = jnp.asarray(arch.readout_std, dtype) / jnp.sqrt(jnp.asarray(width, dtype))
    a = nnft_random.normal(k_a, (batch, n_alloc), dtype) * scale
    if pad_width is not None:
        a = jnp.where(jnp.arange(n_alloc) < width, a, jnp.zeros((), dtype))
    points = jnp.asarray(points, dtype)

    def one_input(x):
        return jnp.sum(a * arch.hidden_unit(theta, x), axis=-1)

    if points.shape[0] <= 12:  # unrolled: one fused exp-multiply-reduce per input (fastest on CPU)
        out = jnp.stack([one_input(points[k]) for k in range(points.shape[0])], axis=-1)
    else:
        out = jax.lax.map(one_input, points).T
    if float(arch.output_bias_std) != 0.0:
        out = (
            out
            + (nnft_random.normal(k_b, (batch,), dtype) * jnp.asarray(arch.output_bias_std, dtype))[:, None]
        )
    return out


@dataclass(frozen=True)
class MonomialTree:
    """All multisets of input indices up to ``max_order`` (colexicographic order, :func:`multisets`).

    Degree-k monomials whose last index is j are the degree-(k-1) monomials with last index <= j (a prefix of
    the previous level) times ``f[:, j]``: static slices and broadcasts, one multiplication per monomial, no
    gathers. ``levels[k]`` is the (T_k, k) array of multisets; ``prefix[k][j]`` the number of degree-k
    monomials with last index <= j.
    """

    n_points: int
    max_order: int
    levels: dict = field(default_factory=dict)
    prefix: dict = field(default_factory=dict)

    @classmethod
    def build(cls, n_points: int, max_order: int) -> MonomialTree:
        tree = cls(n_points, max_order)
        for k in range(1, max_order + 1):
            lev = multisets(n_points, k)
            tree.levels[k] = lev
            tree.prefix[k] = [int(np.sum(lev[:, -1] <= j)) for j in range(n_points)]
        return tree

    def evaluate(self, f: jnp.ndarray, orders: Sequence[int]) -> jnp.ndarray:
        """Monomials of ``f`` (shape (B, n_points)) for the requested orders, concatenated: (B, sum T_n)."""
        cur = f
        keep = [cur] if 1 in orders else []
        for k in range(2, self.max_order + 1):
            pre = self.prefix[k - 1]
            cur = jnp.concatenate([cur[:, : pre[j]] * f[:, j : j + 1] for j in range(self.n_points)], axis=1)
            if k in orders:
                keep.append(cur)
        return jnp.concatenate(keep, axis=1)


def _plan(n_networks: int, width: int, batch_size: int | None, n_blocks: int) -> tuple[int, int, int]:
    if n_networks < 2:
        raise NqgInputError(f"need at least 2 networks for an error estimate, got {n_networks}")
    if batch_size is None:
        batch_size = max(16, _ELEMENTS_PER_BATCH // max(width, 1))
    batch_size = int(max(1, min(batch_size, -(-n_networks // min(n_blocks, n_networks)))))
    n_batches = -(-n_networks // batch_size)
    return batch_size, n_batches, min(n_blocks, n_batches)


_COMPILED: dict = {}


def _chunk_runner(
    arch, pad_width, n_points, batch, per_call, n_blk, n_stat, dtype, statistic, features, n_devices=1
):
    """Jitted ``(carry, start, key, width, points, n_networks, n_batches) -> carry``, cached by shape.

    With ``n_devices`` D > 1 the carry has a leading device axis (D, ...) sharded over
    :func:`nqg.devices.mesh`, and one call covers the batches ``start, ..., start + D * per_call - 1``.
    """
    cache_key = (
        arch,
        pad_width,
        n_points,
        batch,
        per_call,
        n_blk,
        n_stat,
        jnp.dtype(dtype).name,
        statistic,
        features,
        n_devices,
    )
    try:
        hit = _COMPILED.get(cache_key)
    except TypeError:  # unhashable architecture: no caching
        cache_key, hit = None, None
    if hit is not None:
        return hit
    acc_dtype = jnp.zeros(()).dtype

    def batch_stats(j, key, width, points, n_networks):
        k = jax.random.fold_in(key, j)
        if features is None:
            f = network_outputs(arch, width, points, k, batch, dtype, pad_width=pad_width)
        else:
            f = features(arch, width, points, k, batch, dtype, pad_width)
        f = f.astype(acc_dtype)
        mask = (j * batch + jnp.arange(batch)) < n_networks
        return jnp.sum(jnp.where(mask[:, None], statistic(f), 0.0), axis=0), jnp.sum(mask).astype(acc_dtype)

    def run_chunk(carry, start, key, width, points, n_networks, n_batches):
        def body(i, c):
            s, n = c
            j = start + i
            bs, bn = batch_stats(j, key, width, points, n_networks)
            valid = j < n_batches
            blk = j % n_blk
            return s.at[blk].add(jnp.where(valid, bs, 0.0)), n.at[blk].add(jnp.where(valid, bn, 0.0))

        return jax.lax.fori_loop(0, per_call, body, carry)

    def one_shot(key, width, points, n_networks, n_batches_static):
        sums, counts = jax.vmap(lambda j: batch_stats(j, key, width, points, n_networks))(
            jnp.arange(n_batches_static)
        )
        blocks = jnp.arange(n_batches_static) % n_blk
        return jax.ops.segment_sum(sums, blocks, n_blk), jax.ops.segment_sum(counts, blocks, n_blk)

    if n_devices == 1:
        chunk = jax.jit(run_chunk)
    else:
        spec, whole = jax.sharding.PartitionSpec(nqg_devices.WORK_AXIS), jax.sharding.PartitionSpec()

        def run_chunk_on_device(carry, start, key, width, points, n_networks, n_batches):
            first = start + jax.lax.axis_index(nqg_devices.WORK_AXIS) * per_call  # global batch index
            s, n = run_chunk((carry[0][0], carry[1][0]), first, key, width, points, n_networks, n_batches)
            return s[None], n[None]

        chunk = jax.jit(
            jax.shard_map(
                run_chunk_on_device,
                mesh=nqg_devices.mesh(n_devices),
                in_specs=((spec, spec), whole, whole, whole, whole, whole, whole),
                out_specs=(spec, spec),
            )
        )
    fns = (chunk, jax.jit(one_shot, static_argnums=4))
    if cache_key is not None:
        if len(_COMPILED) > 8:
            _COMPILED.clear()
        _COMPILED[cache_key] = fns
    return fns


def stream_ensemble(
    arch: NetworkArchitecture,
    width: int,
    points: Any,
    statistic: Callable[[jnp.ndarray], jnp.ndarray],
    n_statistics: int,
    n_networks: int,
    key: jax.Array,
    *,
    batch_size: int | None = None,
    n_blocks: int = 32,
    dtype=jnp.float32,
    streaming: bool = True,
    progress: bool = False,
    pad_width: int | None = None,
    features: Callable | None = None,
    n_devices: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Block sums of per-network statistics over an ensemble of ``n_networks`` networks.

    ``statistic(F)`` maps the (B, n_points) outputs (cast to the default float type, float64 under nqg) to
    (B, n_statistics); pass the same function object again to reuse the compiled code. ``features``
    (optional) replaces :func:`network_outputs` as the per-network quantity F. Returns
    ``(block_sums (n_blocks, n_statistics), block_counts (n_blocks,))``. ``pad_width``: see
    :func:`network_outputs`. ``streaming=False`` draws all batches at once (same keys, memory ~ n_networks):
    for tests only (one device). ``n_devices``: devices to shard the batches over (default
    :func:`nqg.devices.device_count`; see the module docstring), with results independent of it up to the
    order of the final additions.
    """
    pts = jnp.asarray(as_points(points, arch.d_in))
    pad_width = int(width) if pad_width is None else int(pad_width)
    if pad_width < width:
        raise NqgInputError(f"pad_width {pad_width} < width {width}")
    batch, n_batches, n_blk = _plan(n_networks, pad_width, batch_size, n_blocks)
    n_dev = nqg_devices.resolve_device_count(n_devices)
    if not streaming:
        n_dev = 1
    per_call = max(1, min(-(-n_batches // n_dev), 16))  # batches per device per call
    run_chunk, one_shot = _chunk_runner(
        arch, pad_width, len(pts), batch, per_call, n_blk, n_statistics, dtype, statistic, features, n_dev
    )
    width_arg = jnp.asarray(width)
    if not streaming:
        sums, counts = one_shot(key, width_arg, pts, n_networks, n_batches)
        return np.asarray(sums), np.asarray(counts)
    acc_dtype = jnp.zeros(()).dtype
    carry = (jnp.zeros((n_blk, n_statistics), acc_dtype), jnp.zeros((n_blk,), acc_dtype))
    if n_dev > 1:  # one partial block sum per device, added at the end
        carry = nqg_devices.shard_leading_axis(
            jax.tree.map(lambda c: jnp.zeros((n_dev, *c.shape), c.dtype), carry), nqg_devices.mesh(n_dev)
        )
    starts = range(0, n_batches, per_call * n_dev)
    args = (key, width_arg, pts, n_networks, n_batches)
    if progress:
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task(f"{arch.name} N={width}", total=n_networks)
            for s in starts:
                carry = run_chunk(carry, s, *args)
                jax.block_until_ready(carry)
                bar.update(task, completed=min(n_networks, (s + per_call * n_dev) * batch))
    else:
        for s in starts:
            carry = run_chunk(carry, s, *args)
    if n_dev > 1:  # to_host: the global block sums, also when other processes hold some devices
        sums, counts = nqg_devices.to_host(carry)
        return sums.sum(0), counts.sum(0)
    return np.asarray(carry[0]), np.asarray(carry[1])


@dataclass
class CorrelatorEstimate:
    """Measured correlators at every multiset of the inputs, with block means for errors.

    ``tuples[n]`` (T_n, n) index multisets; ``block_means[n]`` (n_blocks, T_n); ``mean(n)`` the ensemble
    mean (all networks), ``error(n)`` its standard error from the block means.
    """

    points: np.ndarray
    orders: tuple[int, ...]
    tuples: dict[int, np.ndarray]
    block_sums: dict[int, np.ndarray]
    block_counts: np.ndarray
    n_networks: int

    @property
    def block_means(self) -> dict[int, np.ndarray]:
        return {n: s / self.block_counts[:, None] for n, s in self.block_sums.items()}

    def mean(self, order: int) -> np.ndarray:
        return self.block_sums[order].sum(0) / self.block_counts.sum()

    def error(self, order: int) -> np.ndarray:
        return np.asarray(batch_means(self.block_means[order])[1])

    def jackknife(self, fn: Callable[[dict[int, np.ndarray]], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Value and jackknife error (over blocks) of ``fn({order: correlator array})``."""
        total = {n: s.sum(0) for n, s in self.block_sums.items()}
        count = self.block_counts.sum()
        value = np.asarray(fn({n: total[n] / count for n in total}))
        n_blk = len(self.block_counts)
        reps = np.stack(
            [
                np.asarray(
                    fn(
                        {
                            n: (total[n] - self.block_sums[n][b]) / (count - self.block_counts[b])
                            for n in total
                        }
                    )
                )
                for b in range(n_blk)
            ]
        )
        err = np.sqrt((n_blk - 1) / n_blk * ((reps - reps.mean(0)) ** 2).sum(0))
        return value, err

    def connected_four_point(self) -> tuple[np.ndarray, np.ndarray]:
        """Measured ``G4 - (G2 G2 + 2 more)`` at every 4-multiset, with jackknife errors."""
        if 2 not in self.orders or 4 not in self.orders:
            raise NqgInputError("connected_four_point needs orders 2 and 4")
        n = len(self.points)
        pair_index = {tuple(t): i for i, t in enumerate(self.tuples[2].tolist())}
        t4 = self.tuples[4]
        idx = [
            [[pair_index[tuple(sorted((t[a], t[b])))] for a, b in p] for p in wick_pairings(4)]
            for t in t4.tolist()
        ]
        idx = np.array(idx)  # (T4, 3, 2)
        del n

        def fn(g):
            return g[4] - np.prod(g[2][idx], axis=-1).sum(-1)

        return self.jackknife(fn)


@functools.cache
def _monomial_tree(n_points: int, max_order: int) -> MonomialTree:
    return MonomialTree.build(n_points, max_order)


@functools.cache
def _monomial_statistic(n_points: int, orders: tuple[int, ...]) -> Callable:
    tree = _monomial_tree(n_points, max(orders))
    return lambda f: tree.evaluate(f, orders)


def estimate_correlators(
    arch: NetworkArchitecture,
    width: int,
    points: Any,
    n_networks: int,
    key: jax.Array,
    *,
    orders: Sequence[int] = (2, 4, 6),
    batch_size: int | None = None,
    n_blocks: int = 32,
    dtype=jnp.float32,
    streaming: bool = True,
    progress: bool = False,
    pad_width: int | None = None,
    n_devices: int | None = None,
) -> CorrelatorEstimate:
    """``G_n(x_{t_1}, ..., x_{t_n}) = E[f(x_{t_1}) ... f(x_{t_n})]`` for every multiset t of the inputs.

    Streams ``n_networks`` networks of ``width`` in batches (see :func:`stream_ensemble`); ``dtype`` is the
    precision of the network evaluation (products are accumulated in float64 under nqg). ``n_devices``:
    see :func:`stream_ensemble` (default: all devices in use, :func:`nqg.devices.device_count`).
    """
    pts = as_points(points, arch.d_in)
    orders = tuple(sorted(set(int(n) for n in orders)))
    if not orders or min(orders) < 1:
        raise NqgInputError(f"orders must be positive integers, got {orders}")
    tree = _monomial_tree(len(pts), max(orders))
    sizes = [len(tree.levels[n]) for n in orders]
    sums, counts = stream_ensemble(
        arch,
        width,
        pts,
        _monomial_statistic(len(pts), orders),
        sum(sizes),
        n_networks,
        key,
        batch_size=batch_size,
        n_blocks=n_blocks,
        dtype=dtype,
        streaming=streaming,
        progress=progress,
        pad_width=pad_width,
        n_devices=n_devices,
    )
    splits = np.cumsum(sizes)[:-1]
    parts = np.split(sums, splits, axis=1)
    return CorrelatorEstimate(
        points=pts,
        orders=orders,
        tuples={n: tree.levels[n] for n in orders},
        block_sums=dict(zip(orders, parts, strict=True)),
        block_counts=counts,
        n_networks=int(n_networks),
    )


def _relative_deviation(
    estimate: CorrelatorEstimate,
    prediction: dict[int, dict[str, np.ndarray]],
    order: int,
    key: str,
    transform: Callable[[np.ndarray], np.ndarray],
) -> tuple[float, float]:
    """``mean over tuples transform(G_n - G_n^GP) / |G_n^GP|`` with its jackknife error."""
    ref = prediction[order][key]

    def fn(g):
        return np.mean(transform(g[order] - ref) / np.abs(ref))

    v, e = estimate.jackknife(fn)
    return float(v), float(e)


def normalized_deviation(
    estimate: CorrelatorEstimate,
    prediction: dict[int, dict[str, np.ndarray]],
    order: int,
    key: str = "gaussian",
) -> tuple[float, float]:
    """``m_n = mean over tuples |G_n - G_n^GP| / |G_n^GP|`` (arXiv:2008.08601) with its jackknife error."""
    return _relative_deviation(estimate, prediction, order, key, np.abs)


def signed_deviation(
    estimate: CorrelatorEstimate,
    prediction: dict[int, dict[str, np.ndarray]],
    order: int,
    key: str = "gaussian",
) -> tuple[float, float]:
    """``mean over tuples (G_n - G_n^GP) / |G_n^GP|``: unbiased by noise (unlike m_n), jackknife error."""
    return _relative_deviation(estimate, prediction, order, key, lambda d: d)


def measure_and_predict(
    arch: NetworkArchitecture,
    width: int,
    points: Any,
    n_networks: int,
    key: jax.Array,
    orders=(2, 4, 6),
    **kw,
) -> tuple[CorrelatorEstimate, dict[int, dict[str, np.ndarray]]]:
    """Ensemble estimate and analytic predictions at the same tuples."""
    est = estimate_correlators(arch, width, points, n_networks, key, orders=orders, **kw)
    pred = predict_correlators(arch, width, points, orders)
    return est, pred
