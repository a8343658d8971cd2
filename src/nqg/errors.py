"""Error types. The CLI maps each to one line on stderr and an exit code.

- :class:`NqgInputError`: bad user input (exit 2, nothing written).
- :class:`TrainingDivergedError`: NaN or inf during training (exit 3; last good checkpoint kept).
- :class:`TrainingInterrupted`: Ctrl-C during training (exit 130; checkpoint saved, ``--resume`` continues).
"""

from __future__ import annotations


class NqgError(Exception):
    """Base class of every error nqg raises on purpose."""


class NqgInputError(NqgError, ValueError):
    """Bad user input: the message names the bad value and what is allowed."""


class TrainingDivergedError(NqgError, FloatingPointError):
    """Training produced NaN or inf; the last finite state was checkpointed."""


class TrainingInterrupted(NqgError, KeyboardInterrupt):
    """Training was interrupted by the user; a checkpoint was saved."""
