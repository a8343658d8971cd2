"""nqg: neural networks, quantum systems and gravity.

Importing nqg switches JAX to float64 (``jax_enable_x64``), the precision every
physics check in this package is calibrated for. Set the environment variable
``NQG_PRECISION=float32`` before import, or call :func:`set_precision`, to work
in float32 instead.
"""

from __future__ import annotations

import os

import jax

__version__ = "0.1.0"


def set_precision(precision: str) -> None:
    """Select the default floating-point precision: ``"float64"`` or ``"float32"``."""
    if precision not in ("float64", "float32"):
        from nqg.errors import NqgInputError

        raise NqgInputError(f"precision must be 'float64' or 'float32', got {precision!r}")
    jax.config.update("jax_enable_x64", precision == "float64")


set_precision(os.environ.get("NQG_PRECISION", "float64"))

__all__ = ["__version__", "set_precision"]
