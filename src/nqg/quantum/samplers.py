"""Samplers of ``|psi(s)|^2``: Metropolis-Hastings with local moves, and exact sampling for small N.

Why not blackjax: its kernels are built for continuous states and full log-density evaluations.
Here the state is a discrete spin configuration *plus a model cache* (the RBM's ``theta = b + W s``)
that must be updated on acceptance so that each proposal costs O(k M) instead of a forward pass;
that carry does not fit blackjax's ``(position, logdensity)`` state, so the (short) Metropolis
kernel is written here.

Metropolis: propose ``s' = s`` with the sites ``F`` flipped (``F`` chosen by a symmetric rule),
accept with probability ``min(1, |psi(s')/psi(s)|^2) = min(1, exp(2 Re log_ratio))``. Moves:

* :class:`LocalRule`: one uniformly chosen site (changes S^z; not for fixed-S^z spaces);
* :class:`ExchangeRule`: a uniformly chosen pair ``(i, j)`` from a list (lattice bonds by default,
  or all pairs); it exchanges the two spins if they are anti-aligned (S^z conserved) and is the
  identity otherwise. Both proposals are symmetric, so detailed balance holds with the plain
  Metropolis ratio.

All chains advance in parallel (vmapped over the chain axis). **Random streams:** chain ``c`` draws
from ``fold_in(key, c)`` (:func:`nqg.devices.stream_key`) with ``c`` its *global* index
(``chain_index``), and sweep ``t`` of a call from ``fold_in(fold_in(key, c), t)``; so a chain's draws
depend neither on how many chains there are nor on how they are split over devices
(:class:`nqg.quantum.vmc.VMC` shards the chain axis). Between stored samples each chain
makes ``sweep_size`` proposals (default N: one sweep, the thinning), and ``n_burn_in`` sweeps are
discarded at the start of every call. Chains persist across calls (a VMC iteration continues
the chains of the previous one). The reported acceptance counts every accepted proposal
(identity exchanges included, as in NetKet).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from nqg.devices import stream_key
from nqg.errors import NqgInputError
from nqg.quantum.hilbert import SpinHilbert
from nqg.quantum.models import NQSModel, flip_sites


@dataclass(frozen=True, eq=False)
class LocalRule:
    """Single-spin flip at a uniformly random site."""

    def groups(self, n_sites):
        return np.arange(n_sites)[:, None]

    def proposals(self, key, shape, n_sites):
        sites = jax.random.randint(key, shape, 0, n_sites)
        return sites[..., None]

    def masks(self, s, sites):
        return jnp.ones(sites.shape, bool)


@dataclass(frozen=True, eq=False)
class ExchangeRule:
    """Exchange of the spins of a uniformly random pair from ``pairs`` (conserves S^z)."""

    pairs: np.ndarray

    def groups(self, n_sites):
        return np.asarray(self.pairs)

    def proposals(self, key, shape, n_sites):
        idx = jax.random.randint(key, shape, 0, self.pairs.shape[0])
        return jnp.asarray(self.pairs)[idx]

    def masks(self, s, sites):
        anti = s[sites[0]] != s[sites[1]]
        return jnp.stack([anti, anti])


@dataclass(frozen=True, eq=False)
class MetropolisSampler:
    """Parallel Metropolis chains for ``|psi|^2`` on ``hilbert`` (see module docstring).

    Args:
        hilbert: the spin Hilbert space (its S^z sector fixes the initial states).
        rule: :class:`LocalRule` or :class:`ExchangeRule`.
        n_chains: number of parallel chains.
        n_samples: total samples per call; each chain keeps ``ceil(n_samples / n_chains)``.
        sweep_size: proposals between stored samples (thinning); default N.
        n_burn_in: sweeps discarded at the start of each call (default: samples per chain // 10).
    """

    hilbert: SpinHilbert
    rule: LocalRule | ExchangeRule
    n_chains: int = 16
    n_samples: int = 1008
    sweep_size: int | None = None
    n_burn_in: int | None = None

    def __post_init__(self) -> None:
        if self.n_chains < 1:
            raise NqgInputError(f"n_chains must be >= 1, got {self.n_chains}")
        if self.n_samples < self.n_chains:
            raise NqgInputError(f"n_samples ({self.n_samples}) must be >= n_chains ({self.n_chains})")
        if isinstance(self.rule, LocalRule) and self.hilbert.total_sz is not None:
            raise NqgInputError("single-spin flips break the fixed S^z sector: use ExchangeRule")
        if isinstance(self.rule, ExchangeRule):
            p = np.asarray(self.rule.pairs)
            if p.ndim != 2 or p.shape[1] != 2 or p.shape[0] == 0:
                raise NqgInputError("ExchangeRule needs a non-empty (n, 2) array of pairs")

    @property
    def samples_per_chain(self) -> int:
        return -(-self.n_samples // self.n_chains)

    @property
    def n_sweep(self) -> int:
        return self.sweep_size if self.sweep_size is not None else self.hilbert.n_sites

    @property
    def burn_in(self) -> int:
        return self.n_burn_in if self.n_burn_in is not None else self.samples_per_chain // 10

    def init_chains(self, key: jax.Array, dtype=jnp.float64) -> jax.Array:
        """Random initial configurations, (n_chains, N)."""
        return self.hilbert.random_states(key, self.n_chains, dtype)

    def sample(
        self, model: NQSModel, chains: jax.Array, key: jax.Array, chain_index: jax.Array | None = None
    ):
        """Run the chains: returns ``(samples (n_chains, n_per_chain, N), final chains, acceptance)``.

        ``model`` should be ``model.as_cached()`` of the variational model (done here if not).
        ``chain_index``: the global indices of the rows of ``chains`` (default ``0, ..., n - 1``), from which
        each chain's random stream is derived; a device holding a slice of the chains passes its slice.
        """
        cmodel = model.as_cached()
        n = self.hilbert.n_sites
        n_ch = chains.shape[0]
        if chain_index is None:
            chain_index = jnp.arange(n_ch)
        chain_keys = jax.vmap(lambda c: stream_key(key, c))(chain_index)  # (n_ch,) keys
        real_dtype = jnp.real(chains).dtype
        sweep = self.n_sweep
        groups = self.rule.groups(n)
        tables = cmodel.flip_tables(groups) if hasattr(cmodel, "flip_tables") else None
        masks_fn = jax.vmap(self.rule.masks)

        if tables is not None:  # fast RBM kernel: cache t = tanh(theta), proposals by group index
            caches = jax.vmap(cmodel.fast_cache)(chains)
            groups_j = jnp.asarray(groups)
            propose_fast = jax.vmap(cmodel.fast_propose, in_axes=(0, 0, None, 0))

            def mh_step(carry, rand):
                s, cache, acc = carry
                idx, u = rand
                sites = groups_j[idx]  # (n_ch, k)
                masks = masks_fn(s, sites)
                active = masks[:, 0]
                s_first = jnp.take_along_axis(s, sites[:, :1], axis=1)[:, 0]
                log_r, new_cache = propose_fast(s_first, cache, tables, idx)
                log_r = jnp.where(active, log_r, 0.0)
                accept = jnp.log(u) < 2.0 * jnp.real(log_r)
                move = accept & active
                new_s = jax.vmap(flip_sites)(s, sites, masks & move[:, None])
                cache = jnp.where(move[:, None], new_cache, cache)
                return (new_s, cache, acc + accept.astype(jnp.int32)), None

            def draws(k, n_steps):  # one chain's proposals and uniforms for n_steps
                k1, k2 = jax.random.split(k)
                return (
                    jax.random.randint(k1, (n_steps,), 0, groups.shape[0]),
                    jax.random.uniform(k2, (n_steps,), dtype=real_dtype),
                )

        else:
            caches = jax.vmap(cmodel.init_cache)(chains)
            propose = jax.vmap(cmodel.propose)

            def mh_step(carry, rand):
                s, cache, acc = carry
                sites, u = rand  # (n_ch, k), (n_ch,)
                masks = masks_fn(s, sites)
                log_r, new_cache = propose(s, cache, sites, masks)
                accept = jnp.log(u) < 2.0 * jnp.real(log_r)
                new_s = jax.vmap(flip_sites)(s, sites, masks & accept[:, None])
                cache = jax.tree_util.tree_map(
                    lambda a, b: jnp.where(accept.reshape((-1,) + (1,) * (a.ndim - 1)), a, b),
                    new_cache,
                    cache,
                )
                return (new_s, cache, acc + accept.astype(jnp.int32)), None

            def draws(k, n_steps):
                k1, k2 = jax.random.split(k)
                return (
                    self.rule.proposals(k1, (n_steps,), n),
                    jax.random.uniform(k2, (n_steps,), dtype=real_dtype),
                )

        def run_steps(carry, keys, n_steps):
            """``n_steps`` proposals per chain; ``keys`` (n_ch,): this sweep's key of every chain."""
            proposals, u = jax.vmap(lambda k: draws(k, n_steps))(keys)  # chain-major
            carry, _ = jax.lax.scan(mh_step, carry, (jnp.swapaxes(proposals, 0, 1), jnp.swapaxes(u, 0, 1)))
            return carry

        # one scan over burn-in + kept sweeps (a single compiled copy of the Metropolis step)
        n_keep = self.samples_per_chain
        n_total = self.burn_in + n_keep
        carry = (chains, caches, jnp.zeros_like(chains[:, 0], dtype=jnp.int32))  # varying like the chains

        def one_sweep(carry, t):
            keys = jax.vmap(lambda k: jax.random.fold_in(k, t))(chain_keys)
            s, cache, acc = run_steps(carry, keys, sweep)
            acc = jnp.where(t >= self.burn_in, acc, 0)  # acceptance counted on the kept sweeps only
            return (s, cache, acc), s

        (final, _, acc), samples = jax.lax.scan(one_sweep, carry, jnp.arange(n_total))
        samples = samples[self.burn_in :]
        acceptance = jnp.sum(acc) / (n_ch * self.samples_per_chain * sweep)
        return jnp.swapaxes(samples, 0, 1), final, acceptance


def MetropolisLocal(hilbert: SpinHilbert, **kwargs) -> MetropolisSampler:
    """Metropolis with single-spin flips."""
    return MetropolisSampler(hilbert, LocalRule(), **kwargs)


def MetropolisExchange(hilbert: SpinHilbert, pairs=None, **kwargs) -> MetropolisSampler:
    """Metropolis with S^z-conserving exchanges of ``pairs`` (default: all pairs i < j)."""
    if pairs is None:
        i, j = np.triu_indices(hilbert.n_sites, 1)
        pairs = np.stack([i, j], 1)
    return MetropolisSampler(hilbert, ExchangeRule(np.asarray(pairs, np.int64)), **kwargs)


@dataclass(frozen=True, eq=False)
class ExactSampler:
    """Independent samples from ``|psi(s)|^2 / Z`` by enumerating the (sector) basis; small N only."""

    hilbert: SpinHilbert
    n_chains: int = 16
    n_samples: int = 1008

    def __post_init__(self) -> None:
        if self.hilbert.n_states > 2**20:
            raise NqgInputError(f"exact sampling needs <= 2^20 basis states, got {self.hilbert.n_states}")
        if self.n_samples < self.n_chains:
            raise NqgInputError(f"n_samples ({self.n_samples}) must be >= n_chains ({self.n_chains})")

    @property
    def samples_per_chain(self) -> int:
        return -(-self.n_samples // self.n_chains)

    def init_chains(self, key: jax.Array, dtype=jnp.float64) -> jax.Array:
        return self.hilbert.random_states(key, self.n_chains, dtype)

    def probabilities(self, model: NQSModel) -> tuple[jax.Array, jax.Array]:
        """(basis states, |psi|^2 normalised)."""
        states = jnp.asarray(self.hilbert.all_states(np.int8)).astype(model.input_dtype)
        lp = 2.0 * jnp.real(model.log_psi(states))
        return states, jax.nn.softmax(lp)

    def sample(
        self, model: NQSModel, chains: jax.Array, key: jax.Array, chain_index: jax.Array | None = None
    ):
        """Independent draws: chain ``c`` (global index, see :class:`MetropolisSampler`) from
        ``fold_in(key, c)``; returns ``(samples (n_chains, n_per_chain, N), last samples, 1)``."""
        states = jnp.asarray(self.hilbert.all_states(np.int8)).astype(chains.dtype)
        lp = 2.0 * jnp.real(model.log_psi(states))
        if chain_index is None:
            chain_index = jnp.arange(chains.shape[0])
        idx = jax.vmap(
            lambda c: jax.random.categorical(stream_key(key, c), lp, shape=(self.samples_per_chain,))
        )(chain_index)
        samples = states[idx]
        return samples, samples[:, -1], jnp.asarray(1.0, chains.dtype)
