"""One-dimensional quantum mechanics references for the path integral over network weights.

Units: ``hbar`` and the mass ``m`` are parameters (default 1). The Hamiltonian is
``H = p^2 / (2 m) + V(x)`` with a polynomial potential ``V(x) = sum_p c_p x^p`` (degree <= 4 for the
sampler's exact quadrature; any degree for the references).

References computed here:

- :func:`oscillator_basis_spectrum`: diagonalization of ``H`` in the first ``n_basis`` eigenstates of a
  harmonic oscillator of frequency ``omega_basis`` (position operator ``x = sqrt(hbar/(2 m W)) (a + a^+)``,
  momentum ``p = i sqrt(hbar m W / 2) (a^+ - a)``; powers of ``x`` are formed in a larger space and then
  truncated so that the kept block is exact). Returns energies and the ground-state wave function.
- :func:`finite_difference_spectrum`: an independent check, the three-point Laplacian on a uniform grid
  (error O(h^2)).
- :func:`free_particle_kernel`, :func:`mehler_kernel`: the exact Euclidean kernels
  ``K(x_f, x_0; T) = <x_f| exp(-H T / hbar) |x_0>``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
from scipy.special import gammaln

from nqg.errors import NqgInputError


@dataclass(frozen=True)
class PolynomialPotential:
    """``V(x) = sum_p coefficients[p] x^p`` (coefficients in ascending powers, at most degree 4 for the
    sampler). ``name`` is for display only."""

    coefficients: tuple[float, ...]
    name: str = "polynomial"

    def __post_init__(self) -> None:
        c = tuple(float(v) for v in self.coefficients)
        if len(c) == 0 or not all(np.isfinite(c)):
            raise NqgInputError(f"potential coefficients must be finite numbers, got {self.coefficients!r}")
        c = c + (0.0,) * max(0, 5 - len(c))
        object.__setattr__(self, "coefficients", c)

    @property
    def degree(self) -> int:
        nz = [p for p, v in enumerate(self.coefficients) if v != 0.0]
        return max(nz) if nz else 0

    @property
    def bounded_below(self) -> bool:
        """True if V -> +inf (or stays constant-bounded) as |x| -> inf: leading even power with c > 0."""
        d = self.degree
        return d == 0 or (d % 2 == 0 and self.coefficients[d] > 0)

    def __call__(self, x):
        """V(x) (numpy or jax arrays)."""
        out = 0.0 * x
        for p, c in enumerate(self.coefficients):
            if c != 0.0:
                out = out + c * x**p
        return out

    def derivative(self, x):
        """V'(x)."""
        out = 0.0 * x
        for p, c in enumerate(self.coefficients):
            if p > 0 and c != 0.0:
                out = out + p * c * x ** (p - 1)
        return out

    def curvature(self, x):
        """V''(x)."""
        out = 0.0 * x
        for p, c in enumerate(self.coefficients):
            if p > 1 and c != 0.0:
                out = out + p * (p - 1) * c * x ** (p - 2)
        return out


def free_potential() -> PolynomialPotential:
    """V = 0."""
    return PolynomialPotential((0.0,), name="free")


def harmonic_potential(omega: float = 1.0, mass: float = 1.0) -> PolynomialPotential:
    """V = m omega^2 x^2 / 2."""
    return PolynomialPotential((0.0, 0.0, 0.5 * mass * omega**2), name="harmonic")


def anharmonic_potential(g: float = 1.0, omega: float = 1.0, mass: float = 1.0) -> PolynomialPotential:
    """V = m omega^2 x^2 / 2 + g x^4 (g >= 0 for a spectrum bounded below)."""
    return PolynomialPotential((0.0, 0.0, 0.5 * mass * omega**2, 0.0, g), name="anharmonic")


def double_well_potential(g: float = 1.0, a: float = 1.0) -> PolynomialPotential:
    """V = g (x^2 - a^2)^2 = g x^4 - 2 g a^2 x^2 + g a^4: minima at x = +-a, barrier g a^4,
    curvature V''(+-a) = 8 g a^2 (g > 0)."""
    return PolynomialPotential((g * a**4, 0.0, -2.0 * g * a**2, 0.0, g), name="double-well")


# ----------------------------------------------------------------------------- basis diagonalization
@dataclass(frozen=True)
class Spectrum:
    """Eigen-energies ``energies`` (ascending) and the ground-state wave function ``psi0(x)``
    (real, normalized, sign chosen positive at its maximum)."""

    energies: np.ndarray
    ground_state_coefficients: np.ndarray
    omega_basis: float
    mass: float
    hbar: float

    @property
    def E0(self) -> float:
        return float(self.energies[0])

    @property
    def gap(self) -> float:
        return float(self.energies[1] - self.energies[0])

    def ground_state_wavefunction(self, x) -> np.ndarray:
        """psi0(x) = sum_n c_n phi_n(x) with phi_n the oscillator eigenfunctions of frequency omega_basis."""
        phi = hermite_functions(
            np.asarray(x, float), len(self.ground_state_coefficients), self.omega_basis, self.mass, self.hbar
        )
        return self.ground_state_coefficients @ phi


def hermite_functions(x: np.ndarray, n: int, omega: float = 1.0, mass: float = 1.0, hbar: float = 1.0):
    """Oscillator eigenfunctions phi_0..phi_{n-1} at points x (shape (n, len(x))), by the stable
    recurrence phi_{k+1} = sqrt(2/(k+1)) xi phi_k - sqrt(k/(k+1)) phi_{k-1}, xi = x sqrt(m omega/hbar)."""
    scale = np.sqrt(mass * omega / hbar)
    xi = np.asarray(x, float) * scale
    out = np.zeros((n, xi.size))
    out[0] = np.pi**-0.25 * np.exp(-(xi**2) / 2) * np.sqrt(scale)
    if n > 1:
        out[1] = np.sqrt(2.0) * xi * out[0]
    for k in range(1, n - 1):
        out[k + 1] = np.sqrt(2.0 / (k + 1)) * xi * out[k] - np.sqrt(k / (k + 1)) * out[k - 1]
    return out


def oscillator_basis_spectrum(
    potential: PolynomialPotential,
    *,
    n_basis: int = 200,
    omega_basis: float | None = None,
    mass: float = 1.0,
    hbar: float = 1.0,
) -> Spectrum:
    """Diagonalize ``H = p^2/(2m) + V(x)`` in the lowest ``n_basis`` oscillator states of frequency
    ``omega_basis`` (default: sqrt(V''(minimum)/m), at least 1).

    ``x^p`` is built in a basis of ``n_basis + 4`` states and truncated, so the kept block of every power
    up to 4 is exact; ``p^2`` is exact. Variational: each eigenvalue converges from above.
    """
    if not potential.bounded_below:
        raise NqgInputError(f"potential {potential.coefficients} is unbounded below: no ground state")
    if omega_basis is None:
        xs = np.linspace(-5, 5, 2001)
        xmin = xs[np.argmin(potential(xs))]
        omega_basis = float(np.sqrt(max(potential.curvature(xmin) / mass, 1.0)))
    nb = n_basis + 4
    k = np.arange(1, nb)
    a = np.diag(np.sqrt(k), 1)  # annihilation
    x = np.sqrt(hbar / (2 * mass * omega_basis)) * (a + a.T)
    p2 = -(hbar * mass * omega_basis / 2) * ((a.T - a) @ (a.T - a))
    h = p2 / (2 * mass)
    xp = np.eye(nb)
    for c in potential.coefficients:
        if c != 0.0:
            h = h + c * xp
        xp = xp @ x
    # the loop multiplied in order p = 0, 1, 2, ...: coefficient p is paired with x^p
    h = h[:n_basis, :n_basis]
    evals, evecs = scipy.linalg.eigh(h)
    c0 = evecs[:, 0]
    probe = hermite_functions(np.linspace(-3, 3, 61), n_basis, omega_basis, mass, hbar)
    psi = c0 @ probe
    if psi[np.argmax(np.abs(psi))] < 0:
        c0 = -c0
    return Spectrum(evals, c0, float(omega_basis), mass, hbar)


def finite_difference_spectrum(
    potential: PolynomialPotential,
    *,
    x_max: float = 8.0,
    n_grid: int = 4001,
    n_levels: int = 4,
    mass: float = 1.0,
    hbar: float = 1.0,
) -> np.ndarray:
    """Lowest ``n_levels`` eigenvalues of H on a uniform grid on [-x_max, x_max] with Dirichlet ends and
    the three-point Laplacian (error O(h^2), h = 2 x_max/(n_grid - 1))."""
    x = np.linspace(-x_max, x_max, n_grid)
    h = x[1] - x[0]
    diag = hbar**2 / (mass * h**2) + potential(x)
    off = np.full(n_grid - 1, -(hbar**2) / (2 * mass * h**2))
    return scipy.linalg.eigh_tridiagonal(diag, off, select="i", select_range=(0, n_levels - 1))[0]


# ----------------------------------------------------------------------------- exact kernels
def free_particle_kernel(x_f, x_0, T: float, mass: float = 1.0, hbar: float = 1.0):
    """K(x_f, x_0; T) = sqrt(m/(2 pi hbar T)) exp(-m (x_f - x_0)^2 / (2 hbar T))."""
    x_f = np.asarray(x_f, float)
    return np.sqrt(mass / (2 * np.pi * hbar * T)) * np.exp(-mass * (x_f - x_0) ** 2 / (2 * hbar * T))


def mehler_kernel(x_f, x_0, T: float, omega: float = 1.0, mass: float = 1.0, hbar: float = 1.0):
    """Euclidean Mehler kernel of V = m omega^2 x^2/2:
    K = sqrt(m w/(2 pi hbar sinh wT)) exp(-m w [(x_f^2 + x_0^2) cosh wT - 2 x_f x_0] / (2 hbar sinh wT))."""
    x_f = np.asarray(x_f, float)
    s, c = np.sinh(omega * T), np.cosh(omega * T)
    pref = np.sqrt(mass * omega / (2 * np.pi * hbar * s))
    return pref * np.exp(-mass * omega * ((x_f**2 + x_0**2) * c - 2 * x_f * x_0) / (2 * hbar * s))


def endpoint_density_exact(
    x_f, x_0: float, T: float, potential: str, omega: float = 1.0, mass: float = 1.0, hbar: float = 1.0
):
    """Normalized density of the free end x(T) of paths with x(0) = x_0:
    ``p(x_f) = K(x_f, x_0; T) / int K dx_f`` for the free particle (Gaussian, mean x_0, variance hbar T/m)
    or the oscillator (Gaussian, mean x_0/cosh(wT), variance hbar tanh(wT)/(m w))."""
    x_f = np.asarray(x_f, float)
    if potential == "free":
        mean, var = x_0, hbar * T / mass
    elif potential == "harmonic":
        mean, var = x_0 / np.cosh(omega * T), hbar * np.tanh(omega * T) / (mass * omega)
    else:
        raise NqgInputError(f"exact endpoint density only for 'free' or 'harmonic', got {potential!r}")
    return np.exp(-((x_f - mean) ** 2) / (2 * var)) / np.sqrt(2 * np.pi * var)


def gaussian_moment(p: int) -> float:
    """E[xi^p] for xi ~ N(0, 1): (p-1)!! for even p, 0 for odd p."""
    if p % 2:
        return 0.0
    return float(np.exp(gammaln(p + 1) - gammaln(p // 2 + 1) - (p // 2) * np.log(2.0)))
