"""Matrix-product-state wave functions as nqg models (the tensor-network ansatz for VMC).

Open boundaries (bond dimension D, boundary vectors ``l[s]``, ``r[s]``)::

    psi(s) = l[s_0]^T A_1[s_1] A_2[s_2] ... A_{N-2}[s_{N-2}] r[s_{N-1}]

and periodic boundaries::

    psi(s) = Tr( A_0[s_0] A_1[s_1] ... A_{N-1}[s_{N-1}] ),

with ``A_i[s]`` D x D matrices and the physical index ``(1 - s)/2`` (0: spin up, nqg's and TeNPy's
order). The contraction runs left to right (``jax.lax.scan``), dividing the running vector (matrix)
by its norm at every site and accumulating the logarithms, so that ``log psi`` neither overflows
nor underflows for long chains. Cost O(N D^2) per amplitude (open) and O(N D^3) (periodic).

Real tensors give amplitudes of either sign, so ``log psi = log|psi| + i pi [psi < 0]`` is complex
for real parameters as well; its imaginary part is locally constant, so the log-derivatives are
real and the VMC's real-parameter SR applies. With complex tensors ``log psi`` is holomorphic in
them. The model uses the generic cache of :class:`~nqg.quantum.models.NQSModel` (a proposal
re-contracts the chain), so it runs with every nqg sampler and with ``VMC`` + ``SR`` unchanged.

The initial state is the uniform product state (``A[s] = 1``, ``l[s] = r[s] = e_0``) plus normal
noise of standard deviation ``init_std`` on every entry.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from nqg.errors import NqgInputError
from nqg.quantum.models import NQSModel, _normal, _param_dtype


def _complex_of(dtype):
    return jnp.complex128 if jnp.dtype(dtype) in (jnp.float64, jnp.complex128) else jnp.complex64


def _physical_index(s):
    return ((1 - s) // 2).astype(jnp.int32)


class MPS(NQSModel):
    """Matrix-product state ``psi(s)`` with open or periodic boundaries (see the module docstring).

    Open: ``left (2, D)``, ``bulk (N - 2, 2, D, D)``, ``right (2, D)``; ``2 (2D + (N - 2) D^2)`` real
    parameters per real/imaginary part. Periodic: ``bulk (N, 2, D, D)``, ``2 N D^2``; ``left`` and
    ``right`` are None.
    """

    left: jax.Array | None
    bulk: jax.Array
    right: jax.Array | None
    periodic: bool = eqx.field(static=True)

    def __init__(
        self,
        n_sites: int,
        bond_dim: int,
        *,
        key: jax.Array,
        periodic: bool = False,
        complex_params: bool = False,
        dtype=jnp.float64,
        init_std: float = 0.01,
    ):
        if int(n_sites) != n_sites or n_sites < 2:
            raise NqgInputError(f"an MPS needs n_sites >= 2, got {n_sites}")
        if int(bond_dim) != bond_dim or bond_dim < 1:
            raise NqgInputError(f"bond dimension must be an integer >= 1, got {bond_dim}")
        n, d = int(n_sites), int(bond_dim)
        dt = _param_dtype(dtype, complex_params)
        k1, k2, k3 = jax.random.split(key, 3)
        eye = jnp.broadcast_to(jnp.eye(d, dtype=dt), (2, d, d))
        unit = jnp.zeros((2, d), dt).at[:, 0].set(1.0)
        self.periodic = bool(periodic)
        n_bulk = n if periodic else n - 2
        if periodic:  # start: Tr(E00^N) = 1 (only channel 0 open), like the open chain
            eye = jnp.broadcast_to(jnp.zeros((d, d), dt).at[0, 0].set(1.0), (2, d, d))
        self.bulk = jnp.broadcast_to(eye, (n_bulk, 2, d, d)) + _normal(k2, (n_bulk, 2, d, d), init_std, dt)
        if periodic:
            self.left = None
            self.right = None
        else:
            self.left = unit + _normal(k1, (2, d), init_std, dt)
            self.right = unit + _normal(k3, (2, d), init_std, dt)

    # ---------------------------------------------------------------- construction from tensors
    @classmethod
    def from_tensors(cls, tensors, dtype=None) -> MPS:
        """The open MPS of tensors ``A_i`` (2, D_{i-1}, D_i) with ``D_0 = D_N = 1``, zero-padded to the
        largest bond dimension (padding does not change any amplitude)."""
        tensors = [np.asarray(t) for t in tensors]
        n = len(tensors)
        if n < 2 or tensors[0].shape[1] != 1 or tensors[-1].shape[2] != 1:
            raise NqgInputError("need >= 2 open-boundary tensors (2, D_l, D_r) with D = 1 at both ends")
        d = max(max(t.shape[1], t.shape[2]) for t in tensors)
        dt = np.result_type(*tensors) if dtype is None else dtype
        bulk = np.zeros((n - 2, 2, d, d), dt)
        for i, t in enumerate(tensors[1:-1]):
            bulk[i, :, : t.shape[1], : t.shape[2]] = t
        left = np.zeros((2, d), dt)
        left[:, : tensors[0].shape[2]] = tensors[0][:, 0, :]
        right = np.zeros((2, d), dt)
        right[:, : tensors[-1].shape[1]] = tensors[-1][:, :, 0]
        out = object.__new__(cls)
        object.__setattr__(out, "left", jnp.asarray(left))
        object.__setattr__(out, "bulk", jnp.asarray(bulk))
        object.__setattr__(out, "right", jnp.asarray(right))
        object.__setattr__(out, "periodic", False)
        return out

    @classmethod
    def from_tenpy(cls, psi) -> MPS:
        """The nqg model of a finite TeNPy MPS (e.g. a DMRG ground state), in nqg's basis order."""
        tensors = []
        for i in range(psi.L):
            b = psi.get_B(i, "B").to_ndarray()  # legs (vL, p, vR) in the site's internal order
            if i == 0:
                b = b * np.asarray(psi.get_SL(0))[:, None, None]
            perm = np.asarray(psi.sites[i].perm)
            b = b[:, np.argsort(perm), :] if perm.size else b
            tensors.append(np.transpose(b, (1, 0, 2)))
        return cls.from_tensors(tensors)

    # ---------------------------------------------------------------- properties
    @property
    def n_sites(self) -> int:
        return int(self.bulk.shape[0] if self.periodic else self.bulk.shape[0] + 2)

    @property
    def bond_dim(self) -> int:
        return int(self.bulk.shape[-1])

    def open_tensors(self) -> list[np.ndarray]:
        """Open-boundary tensors (2, D_l, D_r) with D = 1 at the ends (numpy).

        A periodic MPS becomes an open one of bond dimension ``D^2`` that carries the trace index:
        ``B_0[s]_{1,(c,a)} = A_0[s]_{c,a}``, ``B_i[s] = 1_D (x) A_i[s]``,
        ``B_{N-1}[s]_{(c,a),1} = A_{N-1}[s]_{a,c}``.
        """
        bulk = np.asarray(self.bulk)
        if not self.periodic:
            first = np.asarray(self.left)[:, None, :]
            last = np.asarray(self.right)[:, :, None]
            return [first, *list(bulk), last]
        d = self.bond_dim
        eye = np.eye(d, dtype=bulk.dtype)
        first = bulk[0].reshape(2, 1, d * d)
        middle = [np.stack([np.kron(eye, a[s]) for s in range(2)]) for a in bulk[1:-1]]
        last = np.transpose(bulk[-1], (0, 2, 1)).reshape(2, d * d, 1)
        return [first, *middle, last]

    # ---------------------------------------------------------------- amplitude
    def __call__(self, s):
        rdt = jnp.real(self.bulk).dtype
        idx = _physical_index(s.astype(rdt))
        cdt = _complex_of(rdt)
        tiny = jnp.finfo(rdt).tiny
        if self.periodic:
            m0 = self.bulk[0][idx[0]]

            def step(carry, inp):
                m, log_norm = carry
                a, k = inp
                m = m @ a[k]
                nrm = jnp.sqrt(jnp.sum(jnp.abs(m) ** 2)) + tiny
                return (m / nrm, log_norm + jnp.log(nrm)), None

            (m, log_norm), _ = jax.lax.scan(step, (m0, jnp.zeros((), rdt)), (self.bulk[1:], idx[1:]))
            amp = jnp.trace(m)
        else:
            v0 = self.left[idx[0]]

            def step(carry, inp):
                v, log_norm = carry
                a, k = inp
                v = v @ a[k]
                nrm = jnp.sqrt(jnp.sum(jnp.abs(v) ** 2)) + tiny
                return (v / nrm, log_norm + jnp.log(nrm)), None

            (v, log_norm), _ = jax.lax.scan(step, (v0, jnp.zeros((), rdt)), (self.bulk, idx[1:-1]))
            amp = v @ self.right[idx[-1]]
        return log_norm + jnp.log(amp.astype(cdt))


def mps_parameter_count(n_sites: int, bond_dim: int, periodic: bool = False) -> int:
    """Number of tensor entries: ``2 (2D + (N-2) D^2)`` open, ``2 N D^2`` periodic."""
    d = int(bond_dim)
    return 2 * int(n_sites) * d * d if periodic else 2 * (2 * d + (int(n_sites) - 2) * d * d)


def bond_dim_for_parameters(n_sites: int, n_parameters: int, periodic: bool = False) -> int:
    """The bond dimension whose MPS parameter count is closest to ``n_parameters``."""
    best = min(range(1, 257), key=lambda d: abs(mps_parameter_count(n_sites, d, periodic) - n_parameters))
    return int(best)


def build_mps_problem(config: dict, bond_dim: int, seed: int = 0):
    """A :class:`~nqg.quantum.ground_state.Problem` of ``nqg quantum ground-state`` with an MPS model.

    ``config`` holds the ground-state settings (``model`` is ignored); the lattice, Hamiltonian,
    sampler, SR and optimizer are those :func:`~nqg.quantum.ground_state.build_problem` builds for the
    RBM, and the model is an :class:`MPS` of bond dimension ``bond_dim`` (periodic iff the lattice is
    a periodic chain). Only chains are supported (an MPS is a one-dimensional ansatz).
    """
    import copy

    from nqg.quantum.ground_state import build_problem

    if isinstance(bond_dim, bool) or int(bond_dim) != bond_dim or bond_dim < 1:
        raise NqgInputError(f"--bond-dim must be an integer >= 1, got {bond_dim}")
    base = build_problem({**config, "model": "rbm"}, seed=seed)
    if len(base.lattice.shape) != 1:
        raise NqgInputError(f"--model mps needs --lattice chain, got {base.lattice.name}")
    c = base.config
    dtype = jnp.float32 if c["float32"] else jnp.float64
    model = MPS(
        base.lattice.n_sites, int(bond_dim), key=jax.random.key(seed), periodic=base.lattice.pbc, dtype=dtype
    )
    vmc = copy.copy(base.vmc)  # the same Hamiltonian, sampler, optimizer, SR and safeguards
    vmc.model = model
    vmc.jit_step = jax.jit(vmc.step_fn)
    base.model = model
    base.vmc = vmc
    base.config = {**c, "model": "mps", "bond_dim": int(bond_dim)}
    return base
