"""Deep Boltzmann machines built exactly from imaginary time (Carleo, Nomura, Imada, arXiv:1802.09558).

A deep Boltzmann machine (DBM) has visible spins ``s`` (N), hidden units ``h`` (H) and deep units
``d`` (D), all ``+-1``, with no couplings inside a layer and none between the visible and deep layers:

    Psi(s) = C sum_{h,d} exp(a.s + b.h + c.d + s^T W h + d^T V h)
           = C sum_d exp(a.s + c.d) prod_j 2 cosh(b_j + (s W)_j + (d V)_j).

**Imaginary time for the transverse-field Ising model** ``H = -J sum_<ij> sz_i sz_j - Gamma sum_i sx_i``.
Start from ``|+>^N`` (every amplitude 1) and apply ``M`` first-order Trotter steps,
``|psi_M> = (U_zz U_x)^M |+>`` with ``U_x = exp(dtau Gamma sum sx)`` and ``U_zz = exp(dtau J sum sz sz)``.
Writing the spins after step ``k`` as ``s^k`` (``s^M = s`` visible, ``s^0 .. s^{M-1}`` deep), every factor
of the path sum is a coupling between two spins, and each becomes one hidden unit:

* transverse field, per site and step: ``<s'|exp(dtau Gamma sx)|s> = A exp(K s s')`` with
  ``A = sqrt(sinh(dtau Gamma) cosh(dtau Gamma))`` and ``K = (1/2) ln coth(dtau Gamma)`` (check: s = s' gives
  ``A e^K = cosh``, s = -s' gives ``A e^-K = sinh``);
* any Ising factor ``exp(G u v)`` equals ``(e^{-|G|} / 2) sum_{h=+-1} exp(w h (u + sign(G) v))`` with
  ``w = (1/2) arccosh(e^{2|G|})``: summing ``h`` gives ``2 cosh(w (u + sign(G) v))``, which is
  ``2 cosh 2w = 2 e^{2|G|}`` when ``u = sign(G) v`` and ``2`` otherwise, so the ratio is ``e^{2|G|}`` as
  required, and the prefactor ``e^{-|G|}/2`` fixes the scale.

So a bond of step ``k`` is a hidden unit with weights ``W_b = (1/2) arccosh(e^{2 dtau |J|})`` on ``s^k_i``
and ``sign(J) W_b`` on ``s^k_j`` (constant ``e^{-dtau |J|} / 2``), and the transverse factor of site ``i``
a hidden unit with weight ``W_K = (1/2) arccosh(e^{2K})`` on ``s^{k-1}_i`` and on ``s^k_i`` (``K > 0``;
constant ``A e^{-K} / 2``). All biases vanish, and

    log C = M n_bonds log(e^{-dtau |J|} / 2) + M N log(A e^{-K} / 2).

The machine has ``H = M (n_bonds + N)`` hidden and ``D = M N`` deep units. Every weight is real and every
summand positive, so ``Psi(s, d) = C e^{a.s + c.d} prod_j 2 cosh(theta_j) > 0`` is a probability weight
for the deep units given ``s``.

**Heisenberg** (bipartite lattice, Marshall rotation): each bond factor ``e^{-dtau J S_i.S_j}`` creates
new spins for its two sites and four hidden units (:func:`heisenberg_dbm`): an Ising unit between the old
spins, a mediator between old and new, and two complex constraint units that enforce S^z conservation.

**Exact evaluation.** Summing the deep units one Trotter factor at a time (each factor's hidden units
couple only its sites' old and new spins, so they sum to a gate of at most 16 x 16) gives every
amplitude for ``N <= 14``; :func:`trotter_product` is the independent reference
``(U_zz U_x)^M |+>`` from sparse matrix exponentials.

**Sampling.** ``|Psi(s)|^2 = sum_{d,d'} Psi(s, d) Psi(s, d')``: two replicas of the deep layer share the
visible spins. Block Gibbs sampling alternates ``(h, h') | (s, d, d')`` (independent,
``P(h_j = 1) = sigmoid(2 theta_j)``) and ``(s, d, d') | (h, h')`` (independent too: ``s`` feels both
replicas' hidden units, ``2 a + W (h + h')``; each ``d`` feels its own). The energy is the mean of
``E_loc(s, d) = sum_s' <s|H|s'> Psi(s', d) / Psi(s, d)`` over both replicas, which is unbiased because
``E[Psi(s', d) / Psi(s, d) | s] = Psi(s') / Psi(s)`` for ``d ~ Psi(s, d) / Psi(s)``, provided
``Psi(s, d) > 0`` wherever ``Psi(s', d) != 0`` (true for the TFIM machine: every ``Psi(s, d) > 0``).

**Sampling the Heisenberg machine.** The constraint units are complex, so ``Psi(s, d, h)`` is no
probability; but summed over its four hidden units a bond event is a *real, non-negative* gate (checked
from the machine's weights by :func:`heisenberg_world_lines`). With ``x = dtau J``, the Marshall-rotated
bond ``h_b = (J/4)(ZZ - XX - YY) = J/4 - (J/2) e_b``, where ``e_b`` has matrix elements 1 on
antiparallel -> same and antiparallel -> exchanged and 0 elsewhere (``e_b^2 = 2 e_b``), so

    G_b = e^{-x h_b} = W_v 1 + W_x e_b,   W_v = e^{-x/4},   W_x = e^{-x/4} (e^x - 1) / 2 = e^{x/4} sinh(x/2):

parallel -> parallel ``W_v``, antiparallel stay ``W_v + W_x = e^{x/4} cosh(x/2)``, exchange ``W_x``, and 0 on
every S^z-violating transition (what ``cos(pi Delta/4) cos(pi Delta/8)`` enforces). Every weight is a
sum of two non-negative graph weights: the *vertical* graph (``old_i - new_i``, ``old_j - new_j``: equal
spins) and the *exchange* graph (``old_i - old_j``, ``new_i - new_j``: opposite spins). Two replicas of the
deep layer share the visible spins, ``|Psi(s)|^2 = sum_{d1, d2} Psi(s, d1) Psi(s, d2)``: one path of
``2M`` Trotter steps from ``|+>`` through ``d1`` to ``s`` and back through ``d2`` to ``|+>``, with weight

    Z = sum_{s, d1, d2} prod_events G(old, new) = sum_G W_v^{n_v(G)} W_x^{n_x(G)} 2^{C(G)},

where ``C(G)`` counts the connected components of the graph: closed loops and open strings whose two ends
are initial spins (``<+|s> = 1`` for both values, so a string, like a loop, has 2 spin states; on a
bipartite lattice a loop crosses an even number of exchange edges, so no component is frustrated).

*The update* (Swendsen-Wang for loops, the Edwards-Sokal joint ``P(s, G) ~ W(G) Delta(s, G)``): given the
spins, each event takes a graph compatible with it by heat bath (parallel: vertical; exchanged: exchange;
antiparallel stay: exchange with probability ``W_x / (W_v + W_x) = tanh(x/2)``); given the graph, each
component is flipped with probability 1/2. Both steps are exact conditionals of the joint, so
``Psi(s, d1) Psi(s, d2)`` is stationary; every move keeps ``Delta = 0`` at every event (flipping a whole
component preserves every equal/opposite relation). The graph plays the part of the TFIM's sampled hidden
units (the auxiliary variable of a two-block Gibbs sampler); the machine's own hidden units, complex ones
included, are summed exactly per event. Strings end at free boundaries, so all S^z sectors are visited.

*The energy* is measured at the visible slice without ratios of amplitudes (the TFIM-style
``E_loc(s, d) = sum_s' H_ss' Psi(s', d) / Psi(s, d)`` is **biased** here: ``Psi(s', d) = 0`` for an exchange
``s'`` unless the bond's event is the last of both sites, so ``Psi(s', .)`` is not supported where
``Psi(s, .)`` is; :func:`heisenberg_local_energy` keeps it as the negative control). Instead,
``<psi|e_b|psi> / <psi|psi> = Z[e_b at the visible slice] / Z = E_G[2^{C(G + e_b) - C(G)}]``: inserting
``e_b`` cuts the components through ``s_i`` and ``s_j`` and reconnects them horizontally. Orient every
component upward in time on sublattice A and downward on B (consistent at both graphs of an event); the
component through ``s_i`` (A) then passes upward, the one through ``s_j`` (B) downward, and

* ``i, j`` on one component (loop or string): it splits in two, ``2^{+1}``;
* on two components of which at least one is a loop: they join, ``2^{-1}``;
* on two strings: the four half-strings reconnect into two strings, ``2^0``.

So ``E = sum_b J (1/4 - (1/2) 2^{Delta C_b})`` (:func:`loop_energy`) is an exact, bounded estimator of the
energy of the Trotter state (tested against the dense product for ``N <= 14``).

**Trotter error.** ``e^{dtau X} e^{dtau Y} = e^{dtau (X + Y) + (dtau^2 / 2) [X, Y] + ...}``: the first
correction is anti-Hermitian, and its expectation in the real ground state vanishes, so the energy of the
long-time state converges to the ground-state energy at *second* order in ``dtau``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from nqg.errors import NqgInputError
from nqg.quantum.hilbert import SpinHilbert
from nqg.quantum.lattice import Lattice
from nqg.quantum.operators import SpinOperator, TransverseFieldIsing
from nqg.stats import estimate

MAX_EXACT_SITES = 14


def log_2cosh(x):
    """``log(2 cosh x)``, stable for large ``|x|`` (real ``x``; complex ``x``: the principal branch)."""
    if jnp.iscomplexobj(x):
        return jnp.log(2.0 * jnp.cosh(x))
    ax = jnp.abs(x)
    return ax + jnp.log1p(jnp.exp(-2.0 * ax))


def ising_as_hidden_unit(coupling: float) -> tuple[float, float]:
    """``exp(G u v) = c sum_h exp(w h (u + sign(G) v))``: returns ``(w, log c)`` for ``G = coupling``."""
    g = abs(float(coupling))
    w = 0.5 * float(np.arccosh(np.exp(2.0 * g)))
    return w, -g - float(np.log(2.0))


class DeepBoltzmannMachine(eqx.Module):
    """``Psi(s) = exp(log_const) sum_{h,d} exp(a.s + b.h + c.d + s^T W h + d^T V h)`` (module docstring)."""

    a: jax.Array  # (N,) visible biases
    b: jax.Array  # (H,) hidden biases
    c: jax.Array  # (D,) deep biases
    W: jax.Array  # (N, H) visible-hidden
    V: jax.Array  # (D, H) deep-hidden
    log_const: jax.Array

    @property
    def n_visible(self) -> int:
        return int(self.a.shape[0])

    @property
    def n_hidden(self) -> int:
        return int(self.b.shape[0])

    @property
    def n_deep(self) -> int:
        return int(self.c.shape[0])

    def theta(self, s, d):
        """Hidden-unit fields ``b + s W + d V`` (..., H)."""
        return self.b + s @ self.W + d @ self.V

    def log_psi_joint(self, s, d):
        """``log Psi(s, d)``: hidden units summed, deep units fixed."""
        return self.log_const + s @ self.a + d @ self.c + jnp.sum(log_2cosh(self.theta(s, d)), axis=-1)

    def log_psi_enumerated(self, s):
        """``log Psi(s)`` by enumerating all ``2^D`` deep configurations (D <= 20)."""
        if self.n_deep > 20:
            raise NqgInputError(f"enumerating 2^{self.n_deep} deep configurations is too many (D <= 20)")
        deep = jnp.asarray(SpinHilbert(self.n_deep).all_states(np.float64), self.a.dtype)
        joint = jax.vmap(lambda d: self.log_psi_joint(s, d))(deep)
        return jax.scipy.special.logsumexp(joint, axis=0)


@dataclass(frozen=True)
class TrotterEvent:
    """One factor of the Trotter product as it sits in the machine.

    ``sites`` are the sites it acts on; ``old`` their spin variables before it and ``new`` after it (the
    same variable for a site it leaves diagonal); ``units`` the hidden units it owns; ``step`` the Trotter
    step it belongs to. Spin variables are global indices: ``0..N-1`` visible, ``N + k`` deep unit ``k``.
    """

    sites: tuple[int, ...]
    old: tuple[int, ...]
    new: tuple[int, ...]
    units: tuple[int, ...]
    step: int


@dataclass(frozen=True)
class TrotterDBM:
    """A DBM built from ``M`` Trotter steps on ``N`` sites: the machine, the Hamiltonian, and the layout
    (the sequence of :class:`TrotterEvent` and the initial spin variable of each site)."""

    machine: DeepBoltzmannMachine
    n_sites: int
    n_steps: int
    hamiltonian: SpinOperator
    dtau: float
    events: tuple[TrotterEvent, ...]
    initial: tuple[int, ...]

    @property
    def tau(self) -> float:
        return self.n_steps * self.dtau


class _Layout:
    """Builds a Trotter DBM: spin variables per site, hidden units with their couplings, the constant."""

    def __init__(self, n_sites: int):
        self.n = n_sites
        self.n_vars = n_sites  # the initial spins (|+>: no bias)
        self.current = list(range(n_sites))
        self.units: list[dict[int, complex]] = []
        self.events: list[TrotterEvent] = []
        self.log_terms: list[float] = []  # summed with math.fsum: ~10^3 terms of O(1), exactly rounded

    def fresh(self) -> int:
        self.n_vars += 1
        return self.n_vars - 1

    def unit(self, couplings: dict[int, complex], log_c: float) -> int:
        self.units.append(couplings)
        self.log_terms.append(log_c)
        return len(self.units) - 1

    def ising(self, u: int, v: int, g: float) -> int:
        """A hidden unit for ``exp(g s_u s_v)``."""
        w, log_c = ising_as_hidden_unit(g)
        return self.unit({u: w, v: (1.0 if g >= 0 else -1.0) * w}, log_c)

    def event(self, sites, new_sites, step, make_units) -> None:
        old = tuple(self.current[i] for i in sites)
        for i in new_sites:
            self.current[i] = self.fresh()
        new = tuple(self.current[i] for i in sites)
        units = tuple(make_units(dict(zip(sites, old, strict=True)), dict(zip(sites, new, strict=True))))
        self.events.append(TrotterEvent(tuple(sites), old, new, units, step))

    def build(self, hamiltonian, dtau: float, n_steps: int) -> TrotterDBM:
        """Visible = the last spin of each site, deep = every other spin variable, in creation order."""
        n = self.n
        final = self.current
        deep = [v for v in range(self.n_vars) if v not in set(final)]
        row = {v: i for i, v in enumerate(final)} | {v: n + k for k, v in enumerate(deep)}
        complex_weights = any(isinstance(w, complex) for u in self.units for w in u.values())
        dtype = np.complex128 if complex_weights else np.float64
        weights = np.zeros((n + len(deep), len(self.units)), dtype)
        for j, couplings in enumerate(self.units):
            for v, w in couplings.items():
                weights[row[v], j] += w
        machine = DeepBoltzmannMachine(
            jnp.zeros(n, dtype),
            jnp.zeros(len(self.units), dtype),
            jnp.zeros(len(deep), dtype),
            jnp.asarray(weights[:n]),
            jnp.asarray(weights[n:]),
            jnp.asarray(math.fsum(self.log_terms)),
        )

        def relabel(vs):
            return tuple(row[v] for v in vs)

        events = tuple(
            TrotterEvent(e.sites, relabel(e.old), relabel(e.new), e.units, e.step) for e in self.events
        )
        initial = relabel(range(n))
        return TrotterDBM(machine, n, int(n_steps), hamiltonian, float(dtau), events, initial)


def _check_steps(dtau: float, n_steps: int) -> None:
    if not dtau > 0:
        raise NqgInputError(f"dtau must be > 0, got {dtau}")
    if int(n_steps) != n_steps or n_steps < 1:
        raise NqgInputError(f"the number of Trotter steps must be a positive integer, got {n_steps}")


def tfim_dbm(lattice: Lattice, h: float, dtau: float, n_steps: int, J: float = 1.0) -> TrotterDBM:
    """The DBM of ``(U_zz U_x)^M |+>`` for ``H = -J sum sz sz - h sum sx`` (module docstring)."""
    _check_steps(dtau, n_steps)
    if not h > 0:
        raise NqgInputError(f"the construction needs a transverse field h > 0, got {h}")
    x = dtau * h
    k_field = 0.5 * np.log(1.0 / np.tanh(x))
    log_a = 0.5 * np.log(np.sinh(x) * np.cosh(x))
    lay = _Layout(lattice.n_sites)
    for step in range(1, int(n_steps) + 1):
        for i in range(lattice.n_sites):  # <s'|exp(dtau h sx)|s> = A exp(K s s')
            lay.event((i,), (i,), step, lambda old, new, i=i: [lay.ising(old[i], new[i], k_field)])
            lay.log_terms.append(log_a)
        for p, q in np.asarray(lattice.bonds):  # exp(dtau J s_p s_q) on the new spins
            lay.event(
                (int(p), int(q)), (), step, lambda old, new, p=p, q=q: [lay.ising(old[p], old[q], dtau * J)]
            )
    return lay.build(TransverseFieldIsing(lattice, h=h, J=J), dtau, n_steps)


def heisenberg_bond_couplings(x: float) -> tuple[float, float, float]:
    """``(c0, c1, c2)`` with ``<s'_i s'_j| e^{-x S_i.S_j} |s_i s_j> = e^{c0 + c1 s_i s_j + c2 s_i s'_i}``
    on the S^z-conserving transitions, after the Marshall rotation (``x = dtau J > 0``).

    The bond propagator has three classes of conserving transitions: parallel spins (stay),
    ``e^{-x/4}``; antiparallel, stay, ``e^{x/4} cosh(x/2)``; antiparallel, exchange, ``e^{x/4} sinh(x/2)``
    (the Marshall rotation makes this one positive). Three values, three constants:
    ``c2 = (1/2) ln coth(x/2)``, ``c1 = -x/4 - (1/2) ln cosh(x/2)``, ``c0 = -x/4 - c1 - c2``.
    """
    c2 = 0.5 * np.log(1.0 / np.tanh(x / 2))
    c1 = -x / 4 - 0.5 * np.log(np.cosh(x / 2))
    return -x / 4 - c1 - c2, c1, c2


def heisenberg_dbm(lattice: Lattice, dtau: float, n_steps: int, J: float = 1.0) -> TrotterDBM:
    """The DBM of ``(prod_<ij> e^{-dtau J S_i.S_j})^M |+>`` with the Marshall rotation (bipartite lattice).

    Each bond factor creates new spins ``s'_i, s'_j`` and four hidden units:
    an Ising unit ``e^{c1 s_i s_j}`` between the old spins, a mediator ``e^{c2 s_i s'_i}`` between old and new
    (:func:`heisenberg_bond_couplings`), and two constraint units with imaginary weights
    ``+-i pi/4`` and ``+-i pi/8`` (``+`` on the new spins, ``-`` on the old), whose sums are
    ``2 cos(pi Delta/4)`` and ``2 cos(pi Delta/8)`` with ``Delta = s'_i + s'_j - s_i - s_j``:
    ``cos(pi Delta/4) cos(pi Delta/8) = delta_{Delta,0}`` for ``Delta`` in ``{0, +-2, +-4}`` enforces
    S^z conservation. Constant per bond: ``c0 + log(1/4)`` plus the Ising units' own.
    The complex constraint units make ``Psi(s, d, h)`` complex; summed over each event's hidden units the
    weight is real and non-negative, and :func:`sample_heisenberg_energy` samples it with loop moves.
    """
    from nqg.quantum.operators import Heisenberg

    _check_steps(dtau, n_steps)
    if not J > 0:
        raise NqgInputError(f"the Heisenberg construction needs an antiferromagnetic J > 0, got {J}")
    if not lattice.is_bipartite:
        raise NqgInputError(f"the Marshall rotation needs a bipartite lattice; {lattice.name} is not")
    c0, c1, c2 = heisenberg_bond_couplings(dtau * J)
    lay = _Layout(lattice.n_sites)

    def bond_units(old, new, i, j):
        q = np.pi / 4
        return [
            lay.ising(old[i], old[j], c1),
            lay.ising(old[i], new[i], c2),
            lay.unit({new[i]: 1j * q, new[j]: 1j * q, old[i]: -1j * q, old[j]: -1j * q}, -np.log(2.0)),
            lay.unit(
                {new[i]: 0.5j * q, new[j]: 0.5j * q, old[i]: -0.5j * q, old[j]: -0.5j * q}, -np.log(2.0)
            ),
        ]

    for step in range(1, int(n_steps) + 1):
        for i, j in np.asarray(lattice.bonds):
            i, j = int(i), int(j)
            lay.event((i, j), (i, j), step, lambda old, new, i=i, j=j: bond_units(old, new, i, j))
            lay.log_terms.append(c0)
    return lay.build(Heisenberg(lattice, J1=J, marshall_sign=True), dtau, n_steps)


# ---------------------------------------------------------------------------------------- exact


def exact_log_amplitudes(dbm: TrotterDBM) -> tuple[np.ndarray, np.ndarray]:
    """``(states, log Psi(states))`` for every visible configuration (complex log for complex machines).

    The deep units are summed event by event, from the machine's weights alone: each Trotter factor's
    hidden units couple only the old and new spins of its sites, so summing them gives a small gate
    (at most 16 x 16) on the ``2^N`` amplitudes. ``N <= 14``.
    """
    states, logs = step_log_amplitudes(dbm)
    return states, logs[-1]


def step_log_amplitudes(dbm: TrotterDBM) -> tuple[np.ndarray, list[np.ndarray]]:
    """``(states, [log psi_0, ..., log psi_M])``: the amplitudes after each Trotter step (up to a constant;
    the last one carries the machine's constant and is ``log Psi``)."""
    n = dbm.n_sites
    if n > MAX_EXACT_SITES:
        raise NqgInputError(f"exact DBM amplitudes need N <= {MAX_EXACT_SITES} sites, got {n}")
    mach = dbm.machine
    weights = np.concatenate([np.asarray(mach.W), np.asarray(mach.V)])  # rows: visible, then deep
    biases = np.concatenate([np.asarray(mach.a), np.asarray(mach.c)])
    b = np.asarray(mach.b)
    dtype = np.result_type(weights, np.float64)
    touched = weights != 0
    owner = np.full(len(b), -1)
    for e, event in enumerate(dbm.events):
        owner[list(event.units)] = e
        outside = np.setdiff1d(np.flatnonzero(touched[:, list(event.units)].any(1)), event.old + event.new)
        if outside.size:
            raise NqgInputError("a hidden unit couples spins outside its Trotter factor")
    if np.any(owner < 0):
        raise NqgInputError("some hidden units belong to no Trotter factor")

    states = SpinHilbert(n).all_states(np.float64)
    psi = np.exp(states @ biases[list(dbm.initial)]).astype(dtype).reshape((2,) * n)
    log_norm = 0.0
    out: list[np.ndarray] = []

    def record() -> None:
        with np.errstate(divide="ignore"):
            out.append(np.log(psi.reshape(-1)) + log_norm)

    step = 0
    for event in dbm.events:
        if event.step != step:
            record()
            step = event.step
        k = len(event.sites)
        gate = _event_gate(event, weights, biases, b)
        axes = list(event.sites)
        moved = gate @ np.moveaxis(psi, axes, range(k)).reshape(2**k, -1)
        psi = np.moveaxis(moved.reshape((2,) * n), range(k), axes)
        scale = np.max(np.abs(psi))
        if not 1e-100 < scale < 1e100:  # rescale rarely: every rescaling rounds the log-norm
            psi, log_norm = psi / scale, log_norm + np.log(scale)
    record()
    out[-1] = out[-1] + float(np.real(mach.log_const))
    return states, out


def _event_gate(event: TrotterEvent, weights: np.ndarray, biases: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The Trotter factor of one event with its hidden units summed:
    ``gate[new, old] = prod_{j in units} 2 cosh(b_j + sum_v w_vj s_v) * exp(bias . s_new)``, indices in the
    order of ``SpinHilbert(k).all_states()`` for the event's ``k`` sites (``weights``/``biases``: rows
    visible then deep)."""
    k = len(event.sites)
    configs = SpinHilbert(k).all_states(np.float64)  # tensor index order of k sites
    changed = np.array([o != w for o, w in zip(event.old, event.new, strict=True)], bool)
    units = list(event.units)
    new_rows = [v for v, c in zip(event.new, changed, strict=True) if c]
    gate = np.zeros((len(configs), len(configs)), np.result_type(weights, np.float64))
    for a_out, s_new in enumerate(configs):
        for a_in, s_old in enumerate(configs):
            if np.any(s_new[~changed] != s_old[~changed]):
                continue  # a site the factor leaves diagonal keeps its spin
            fields = b[units] + s_old @ weights[list(event.old)][:, units]
            fields = fields + s_new[changed] @ weights[new_rows][:, units]
            gate[a_out, a_in] = np.prod(2.0 * np.cosh(fields)) * np.exp(s_new[changed] @ biases[new_rows])
    return gate


def trotter_product(dbm: TrotterDBM) -> np.ndarray:
    """The independent reference for the DBM's state, in the basis order of ``SpinHilbert(N).all_states()``
    (unnormalised, starting from ``|+>`` with all amplitudes 1): ``(U_zz U_x)^M |+>`` from sparse matrix
    exponentials (TFIM), or ``(prod_<ij> expm(-dtau h_ij))^M |+>`` with the Marshall-rotated bond
    ``h_ij = (J/4)(Z Z - X X - Y Y)`` from dense 4 x 4 exponentials (Heisenberg)."""
    from scipy.linalg import expm
    from scipy.sparse.linalg import expm_multiply

    ham, dtau, n = dbm.hamiltonian, dbm.dtau, dbm.n_sites
    psi = np.ones(2**n)
    if isinstance(ham, TransverseFieldIsing):
        lat = ham.lattice
        h_x = TransverseFieldIsing(lat, h=ham.h, J=0.0).to_sparse()  # -Gamma sum sx
        zz = TransverseFieldIsing(lat, h=0.0, J=ham.J).to_sparse().diagonal()  # -J sum sz sz
        for _ in range(dbm.n_steps):
            psi = np.exp(-dtau * zz) * expm_multiply(-dtau * h_x, psi)
        return psi
    x = np.array([[0, 1], [1, 0]])
    y = np.array([[0, -1j], [1j, 0]])
    z = np.diag([1.0, -1.0])  # index 0 = spin up, as in SpinHilbert
    h_bond = (ham.J1 / 4) * np.real(np.kron(z, z) - np.kron(x, x) - np.kron(y, y))
    gate = expm(-dtau * h_bond)
    tensor = psi.reshape((2,) * n)
    for _ in range(dbm.n_steps):
        for i, j in np.asarray(ham.lattice.bonds):
            moved = gate @ np.moveaxis(tensor, [i, j], [0, 1]).reshape(4, -1)
            tensor = np.moveaxis(moved.reshape((2,) * n), [0, 1], [i, j])
    return tensor.reshape(-1)


def energy_of_vector(hamiltonian, psi: np.ndarray) -> float:
    """``<psi|H|psi> / <psi|psi>`` for a vector in the full basis."""
    h = hamiltonian.to_sparse()
    return float(np.real(np.vdot(psi, h @ psi) / np.vdot(psi, psi)))


def _amplitudes(log_psi: np.ndarray) -> np.ndarray:
    return np.exp(log_psi - np.max(np.real(log_psi)))


def exact_trotter_energy(dbm: TrotterDBM) -> float:
    """The energy of the DBM's state, from its exact amplitudes."""
    _, log_psi = exact_log_amplitudes(dbm)
    return energy_of_vector(dbm.hamiltonian, _amplitudes(log_psi))


def exact_energy_vs_tau(dbm: TrotterDBM) -> tuple[np.ndarray, np.ndarray]:
    """``(tau_k, E_k)`` for ``k = 0 .. M``: the energy after each Trotter step, from the DBM's amplitudes."""
    _, logs = step_log_amplitudes(dbm)
    energies = [energy_of_vector(dbm.hamiltonian, _amplitudes(lv)) for lv in logs]
    return dbm.dtau * np.arange(len(logs)), np.asarray(energies)


# -------------------------------------------------------------------------------------- sampling


class GibbsState(eqx.Module):
    """Chains of the two-replica block Gibbs sampler: visible ``s`` (chains, N), deep ``d1, d2``."""

    s: jax.Array
    d1: jax.Array
    d2: jax.Array

    @classmethod
    def random(cls, machine: DeepBoltzmannMachine, key: jax.Array, n_chains: int) -> GibbsState:
        """``n_chains`` chains with every visible and deep spin an independent fair coin."""
        ks, k1, k2 = jax.random.split(key, 3)

        def coins(k, width):
            heads = jax.random.bernoulli(k, 0.5, (n_chains, width))
            return jnp.where(heads, 1.0, -1.0).astype(machine.W.dtype)

        return cls(coins(ks, machine.n_visible), coins(k1, machine.n_deep), coins(k2, machine.n_deep))


def random_spins(key, p_up):
    """Independent spins ``+-1`` with ``P(+1) = p_up`` (elementwise), in ``p_up``'s dtype."""
    return jnp.where(jax.random.uniform(key, p_up.shape) < p_up, 1.0, -1.0).astype(p_up.dtype)


def gibbs_sweep(machine: DeepBoltzmannMachine, state: GibbsState, key: jax.Array) -> GibbsState:
    """One block Gibbs sweep: hidden units of both replicas given the spins, then all spins given them."""
    k1, k2, k3, k4, k5 = jax.random.split(key, 5)
    h1 = random_spins(k1, jax.nn.sigmoid(2.0 * machine.theta(state.s, state.d1)))
    h2 = random_spins(k2, jax.nn.sigmoid(2.0 * machine.theta(state.s, state.d2)))
    s = random_spins(k3, jax.nn.sigmoid(2.0 * (2.0 * machine.a + (h1 + h2) @ machine.W.T)))
    d1 = random_spins(k4, jax.nn.sigmoid(2.0 * (machine.c + h1 @ machine.V.T)))
    d2 = random_spins(k5, jax.nn.sigmoid(2.0 * (machine.c + h2 @ machine.V.T)))
    return GibbsState(s, d1, d2)


def tfim_local_energy(machine: DeepBoltzmannMachine, ham: TransverseFieldIsing, s, d):
    """``E_loc(s, d) = -J sum s_i s_j - Gamma sum_i Psi(s^(i), d) / Psi(s, d)`` for one (s, d)."""
    theta = machine.theta(s, d)
    flipped = theta[None, :] - 2.0 * s[:, None] * machine.W  # (N, H): site i flipped
    log_ratio = -2.0 * s * machine.a + jnp.sum(log_2cosh(flipped) - log_2cosh(theta)[None, :], axis=1)
    bonds = jnp.asarray(ham.bonds)
    return -ham.J * jnp.sum(s[bonds[:, 0]] * s[bonds[:, 1]]) - ham.h * jnp.sum(jnp.exp(log_ratio))


@dataclass
class DBMSamples:
    """Per-chain series of the local energy (both replicas averaged) and the estimate."""

    local_energy: np.ndarray  # (chains, samples)
    energy: float
    energy_error: float
    tau: float
    rhat: float
    diagonal_energy: np.ndarray | None = None  # (chains, samples): sum_b J_b/4 s_i s_j (Heisenberg sampler)


def sample_energy(
    dbm: TrotterDBM,
    key: jax.Array,
    *,
    n_chains: int = 32,
    n_samples: int = 400,
    n_burn_in: int = 200,
    thin: int = 2,
) -> DBMSamples:
    """Energy of the DBM state (``n_chains * n_samples`` samples, one every ``thin`` sweeps): two-replica
    block Gibbs for the TFIM machine, the two-replica loop sampler (:func:`sample_heisenberg_energy`,
    its loop estimator) for the Heisenberg machine."""
    check_sampling(n_chains, n_samples, n_burn_in, thin)
    from nqg.quantum.operators import Heisenberg

    if isinstance(dbm.hamiltonian, Heisenberg):
        return sample_heisenberg_energy(
            dbm, key, n_chains=n_chains, n_samples=n_samples, n_burn_in=n_burn_in, thin=thin
        )
    mach, ham = dbm.machine, dbm.hamiltonian
    k_init, k_run = jax.random.split(key)
    state = GibbsState.random(mach, k_init, n_chains)
    e_loc = jax.vmap(lambda s, d: tfim_local_energy(mach, ham, s, d))

    @jax.jit
    def run(state, key):
        # one scan over every sweep (burn-in included), measuring after each and keeping every thin-th:
        # a single copy of the sweep in the compiled program
        def body(st, t):
            st = gibbs_sweep(mach, st, jax.random.fold_in(key, t))
            return st, 0.5 * (e_loc(st.s, st.d1) + e_loc(st.s, st.d2))

        _, series = jax.lax.scan(body, state, jnp.arange(n_burn_in + n_samples * thin))
        return series[n_burn_in + thin - 1 :: thin].T  # (chains, samples)

    series = np.asarray(run(state, k_run))
    est = estimate(series)
    return DBMSamples(series, float(est.mean), float(est.error), float(est.tau), float(est.rhat))


def check_sampling(n_chains: int, n_samples: int, n_burn_in: int, thin: int) -> None:
    """:class:`NqgInputError` unless n_chains >= 2, n_samples >= 2, thin >= 1 and n_burn_in >= 0."""
    if n_chains < 2 or n_samples < 2 or thin < 1 or n_burn_in < 0:
        raise NqgInputError(
            f"need n_chains >= 2, n_samples >= 2, thin >= 1, n_burn_in >= 0; got {n_chains}, {n_samples}, "
            f"{thin}, {n_burn_in}"
        )


# ---------------------------------------------------------------------- Heisenberg: loop sampling


@dataclass(frozen=True)
class HeisenbergWorldLines:
    """The two-replica world-line graph of a Heisenberg Trotter DBM (see :func:`heisenberg_world_lines`).

    Vertices: ``0..N-1`` the shared visible spins, ``N + k`` deep unit ``k`` of replica 1,
    ``N + D + k`` deep unit ``k`` of replica 2. ``corners[e] = (old_i, old_j, new_i, new_j)`` for every
    bond event of both replicas; ``p_exchange_graph[e] = W_x / (W_v + W_x)`` is the probability of the
    exchange graph on an antiparallel, non-exchanging event; ``ends`` the ``2N`` initial (``|+>``) spins;
    ``site`` the lattice site of every vertex; ``bonds``/``couplings`` the Hamiltonian's bonds.
    """

    n_sites: int
    n_vertices: int
    corners: np.ndarray
    p_exchange_graph: np.ndarray
    ends: np.ndarray
    site: np.ndarray
    bonds: np.ndarray
    couplings: np.ndarray
    vertical_weight: np.ndarray  # W_v per event (replica 1), from the machine
    exchange_weight: np.ndarray  # W_x per event (replica 1), from the machine


def heisenberg_world_lines(dbm: TrotterDBM, rtol: float | None = None) -> HeisenbergWorldLines:
    """Read the world-line (loop) structure off the machine itself.

    Every event's hidden units (Ising unit, mediator, both constraint units) are summed into its 4 x 4
    gate (:func:`_event_gate`), and the gate is checked to have the loop form
    ``gate = W_v 1 + W_x e`` (``e``: 1 on antiparallel stay and antiparallel exchange, 0 elsewhere),
    i.e. ``g(parallel) = W_v``, ``g(exchange) = W_x``, ``g(antiparallel stay) = W_v + W_x``, zero on every
    S^z-violating transition, and real non-negative. Raises otherwise (e.g. a machine edited by VMC)."""
    from nqg.quantum.operators import Heisenberg

    ham = dbm.hamiltonian
    if not isinstance(ham, Heisenberg):
        raise NqgInputError("the loop sampler is for the Heisenberg DBM (use the TFIM's block Gibbs)")
    if ham.J2 != 0.0:
        raise NqgInputError(f"the Heisenberg DBM has nearest-neighbour bonds only, got J2 = {ham.J2}")
    mach = dbm.machine
    n, n_deep = dbm.n_sites, mach.n_deep
    if rtol is None:  # cos(pi/2) of the constraint units is zero to rounding: ~1e-16 (x64), ~1e-8 (x32)
        rtol = max(1e-9, 1e3 * float(np.finfo(np.real(np.asarray(mach.W)).dtype).eps))
    weights = np.concatenate([np.asarray(mach.W), np.asarray(mach.V)])
    biases = np.concatenate([np.asarray(mach.a), np.asarray(mach.c)])
    b = np.asarray(mach.b)
    # SpinHilbert(2) order: 0 = (+,+), 1 = (+,-), 2 = (-,+), 3 = (-,-); gate[new, old]
    parallel, stay, exchange = [(0, 0), (3, 3)], [(1, 1), (2, 2)], [(1, 2), (2, 1)]
    w_v, w_x, corners1 = [], [], []
    for event in dbm.events:
        if len(event.sites) != 2 or set(event.old) & set(event.new):
            raise NqgInputError("the loop sampler needs two-site events that renew both spins")
        gate = _event_gate(event, weights, biases, b)
        scale = np.max(np.abs(gate))
        g = {key: gate[key] for key in parallel + stay + exchange}
        allowed = np.zeros((4, 4), bool)
        for key in g:
            allowed[key] = True
        vals = np.array(list(g.values()))
        if (
            np.max(np.abs(gate[~allowed])) > rtol * scale
            or np.max(np.abs(np.imag(vals))) > rtol * scale
            or np.min(np.real(vals)) < 0
        ):
            raise NqgInputError("an event's gate is not a non-negative S^z-conserving bond propagator")
        g = {key: float(np.real(v)) for key, v in g.items()}
        wv, wx = g[parallel[0]], g[exchange[0]]
        same = [g[k] for k in parallel] + [g[k] - wv for k in stay] + [g[k] for k in exchange]
        ref = [wv, wv, wx, wx, wx, wx]
        if not np.allclose(same, ref, rtol=rtol, atol=rtol * scale):
            raise NqgInputError("an event's gate is not of the loop form W_v 1 + W_x e")
        w_v.append(wv)
        w_x.append(wx)
        corners1.append((*event.old, *event.new))
    corners1 = np.asarray(corners1, np.int64)
    corners2 = np.where(corners1 >= n, corners1 + n_deep, corners1)  # replica 2: its own deep units
    w_v, w_x = np.asarray(w_v), np.asarray(w_x)
    p_x = np.tile(w_x / (w_v + w_x), 2)
    initial = np.asarray(dbm.initial, np.int64)
    ends = np.concatenate([initial, np.where(initial >= n, initial + n_deep, initial)])
    site = np.full(n + 2 * n_deep, -1, np.int64)
    site[:n] = np.arange(n)
    for corners in (corners1, corners2):
        for e, event in enumerate(dbm.events):
            site[corners[e]] = np.array(event.sites * 2)
    if np.any(site < 0):
        raise NqgInputError("some deep units belong to no bond event")
    return HeisenbergWorldLines(
        n,
        n + 2 * n_deep,
        np.concatenate([corners1, corners2]),
        p_x,
        ends,
        site,
        np.asarray(ham.bonds, np.int64),
        np.asarray(ham.couplings, float),
        w_v,
        w_x,
    )


def loop_graph(wl: HeisenbergWorldLines, spins, uniforms):
    """Sample the graph given the spins (one chain) from one uniform number per event: the edges
    ``(src, dst)``, two per event.

    Vertical graph: ``old_i - new_i``, ``old_j - new_j`` (spins equal along an edge); exchange graph:
    ``old_i - old_j``, ``new_i - new_j`` (spins opposite). Parallel events take the vertical graph,
    exchanging events the exchange graph, antiparallel staying events the exchange graph with probability
    ``W_x / (W_v + W_x)`` (heat bath for ``W(s) = sum_G W(G) Delta(s, G)``)."""
    corners = jnp.asarray(wl.corners)
    c = spins[corners]
    parallel = c[:, 0] == c[:, 1]
    exchanged = c[:, 0] != c[:, 2]
    cross = exchanged | (~parallel & (uniforms < jnp.asarray(wl.p_exchange_graph, uniforms.dtype)))
    src = jnp.concatenate([corners[:, 0], jnp.where(cross, corners[:, 2], corners[:, 1])])
    dst = jnp.concatenate([jnp.where(cross, corners[:, 1], corners[:, 2]), corners[:, 3]])
    return src, dst


def connected_components(src, dst, n_vertices: int):
    """Label of the connected component of every vertex (its smallest vertex index): hooking by
    scatter-min along the edges and at the current roots, then pointer jumping, until nothing changes
    (at the fixed point every edge joins equal labels and every label is its own root)."""

    def body(state):
        label, _ = state
        ls, ld = label[src], label[dst]
        m = jnp.minimum(ls, ld)
        new = label.at[src].min(m).at[dst].min(m).at[ls].min(m).at[ld].min(m)
        new = new[new]
        new = new[new]
        return new, jnp.any(new != label)

    label, _ = jax.lax.while_loop(lambda st: st[1], body, (jnp.arange(n_vertices), jnp.asarray(True)))
    return label


def loop_bond_estimator(wl: HeisenbergWorldLines, label):
    """``2^(C(G + e_b) - C(G))`` for every Hamiltonian bond ``b = (i, j)`` inserted at the visible slice:
    2 if ``i, j`` lie on one component, 1 if on two strings, 1/2 otherwise (module docstring)."""
    ends = jnp.asarray(wl.ends)
    is_string = jnp.zeros(wl.n_vertices, bool).at[label[ends]].set(True)
    bonds = jnp.asarray(wl.bonds)
    li, lj = label[bonds[:, 0]], label[bonds[:, 1]]
    return jnp.where(li == lj, 2.0, jnp.where(is_string[li] & is_string[lj], 1.0, 0.5))


def loop_energy(wl: HeisenbergWorldLines, label, dtype=jnp.float64):
    """``E = sum_b J_b (1/4 - (1/2) 2^(Delta C_b))``: the loop estimator of ``<psi|H|psi> / <psi|psi>``."""
    e_b = loop_bond_estimator(wl, label).astype(dtype)
    return jnp.sum(jnp.asarray(wl.couplings, dtype) * (0.25 - 0.5 * e_b))


def diagonal_energy(wl: HeisenbergWorldLines, spins):
    """``sum_b (J_b / 4) s_i s_j`` of the visible spins: the diagonal part of ``H``."""
    bonds = jnp.asarray(wl.bonds)
    return jnp.sum(jnp.asarray(wl.couplings, spins.dtype) * 0.25 * spins[bonds[:, 0]] * spins[bonds[:, 1]])


def heisenberg_local_energy(machine: DeepBoltzmannMachine, ham, s, d):
    """The TFIM-style local energy ``E_loc(s, d) = sum_s' H_ss' Psi(s', d) / Psi(s, d)`` for one replica.

    **Biased** for this machine (kept as the negative control): ``Psi(s', d)`` vanishes for an exchange
    ``s' = P_ij s`` unless the bond's event is the last one of both sites, so ``Psi(s', .)`` is not
    supported where ``Psi(s, .)`` is and ``E[Psi(s', d) / Psi(s, d) | s] != Psi(s') / Psi(s)``."""
    bonds = jnp.asarray(ham.bonds)
    si, sj = s[bonds[:, 0]], s[bonds[:, 1]]
    base = machine.log_psi_joint(s, d)
    swapped = jax.vmap(lambda i, j: s.at[i].set(s[j]).at[j].set(s[i]))(bonds[:, 0], bonds[:, 1])
    ratio = jnp.real(jnp.exp(jax.vmap(lambda x: machine.log_psi_joint(x, d))(swapped) - base))
    coupl = jnp.asarray(ham.couplings)
    exch = jnp.asarray(ham.exchange)
    return jnp.sum(0.25 * coupl * si * sj) + jnp.sum(jnp.where(si != sj, exch * ratio, 0.0))


def sample_heisenberg_energy(
    dbm: TrotterDBM,
    key: jax.Array,
    *,
    n_chains: int = 32,
    n_samples: int = 400,
    n_burn_in: int = 100,
    thin: int = 1,
    estimator: str = "loop",
) -> DBMSamples:
    """Energy of the Heisenberg DBM state by two-replica loop sampling (module docstring, "Sampling the
    Heisenberg machine"). ``estimator``: ``"loop"`` (exact, the default) or ``"local"`` (the TFIM-style
    ``E_loc(s, d)``, biased: the negative control). The series of the diagonal part
    ``sum_b J_b/4 s_i s_j`` of the visible spins comes back as ``diagonal_energy`` (a check on the spins
    themselves: the loop estimator reads only the graph)."""
    check_sampling(n_chains, n_samples, n_burn_in, thin)
    if estimator not in ("loop", "local"):
        raise NqgInputError(f"estimator must be loop or local, got {estimator!r}")
    wl = heisenberg_world_lines(dbm)
    mach, ham = dbm.machine, dbm.hamiltonian
    dtype = np.empty(0, mach.W.dtype).real.dtype  # float64, or float32 for a complex64 machine
    n, n_deep = dbm.n_sites, mach.n_deep
    site = np.asarray(wl.site)
    n_events = wl.corners.shape[0]

    def sweep(spins, k):  # one draw of uniforms per sweep: graph choices, then one coin per component
        u = jax.random.uniform(k, (n_events + wl.n_vertices,), dtype=dtype)
        src, dst = loop_graph(wl, spins, u[:n_events])
        label = connected_components(src, dst, wl.n_vertices)
        return jnp.where(u[n_events:][label] < 0.5, -spins, spins), label

    def measure(spins, label):
        diag = diagonal_energy(wl, spins)
        if estimator == "loop":
            return jnp.stack([loop_energy(wl, label, dtype), diag])
        s, d1, d2 = spins[:n], spins[n : n + n_deep], spins[n + n_deep :]
        local = heisenberg_local_energy(mach, ham, s, d1) + heisenberg_local_energy(mach, ham, s, d2)
        return jnp.stack([0.5 * local.astype(dtype), diag])

    def chain_run(k):
        k_init, k_sweeps = jax.random.split(k)
        # straight world lines (every event parallel or antiparallel-stay): an allowed start
        spins = jnp.where(jax.random.bernoulli(k_init, 0.5, (n,)), 1.0, -1.0).astype(dtype)[site]

        def body(x, t):
            x, label = sweep(x, jax.random.fold_in(k_sweeps, t))
            # the graph that produced x is compatible with x, and the loop estimator uses it
            return x, measure(x, label)

        _, series = jax.lax.scan(body, spins, jnp.arange(n_burn_in + n_samples * thin))
        return series[n_burn_in + thin - 1 :: thin]

    @jax.jit
    def run(key):  # chain c draws from fold_in(key, c): the same chain whatever the number of chains
        return jax.vmap(lambda c: chain_run(jax.random.fold_in(key, c)))(jnp.arange(n_chains))

    both = np.asarray(run(key))  # (chains, samples, 2)
    series, diag = both[..., 0], both[..., 1]
    est = estimate(series)
    return DBMSamples(series, float(est.mean), float(est.error), float(est.tau), float(est.rhat), diag)


def fit_trotter_order(dtaus, energies, e_exact) -> tuple[float, float]:
    """Fit ``|E(dtau) - E_exact| = A dtau^p`` in log-log: ``(p, A)``."""
    x = np.log(np.asarray(dtaus, float))
    y = np.log(np.abs(np.asarray(energies, float) - e_exact))
    p, log_a = np.polyfit(x, y, 1)
    return float(p), float(np.exp(log_a))
