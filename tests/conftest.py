"""Shared test set-up: float64 JAX (imported through nqg) and a non-interactive matplotlib."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import nqg  # noqa: F401  (turns on float64)
