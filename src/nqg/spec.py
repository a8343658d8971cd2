"""What an experiment is: a name, defaults, quick defaults, and ``run(config, ctx) -> Result``.

The registry (:mod:`nqg.experiments`) collects :class:`Experiment` objects from the vertex
packages; the vertex packages depend only on this module, never on the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nqg.results import Result


@dataclass
class RunContext:
    """Where and how one run happens.

    ``out_dir`` is the staging folder a run writes its figures and arrays into (the
    runner moves them to the user's folder only when the run succeeds);
    ``checkpoint_dir`` persists across interrupted runs so that ``resume`` can continue.
    """

    out_dir: Path
    seed: int = 0
    quick: bool = False
    quiet: bool = False
    resume: bool = False
    checkpoint_dir: Path | None = None

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        if self.checkpoint_dir is not None:
            self.checkpoint_dir = Path(self.checkpoint_dir)

    def checkpoint_path(self, name: str) -> Path | None:
        """Checkpoint file for the training loop called ``name`` (None: no checkpointing)."""
        if self.checkpoint_dir is None:
            return None
        return self.checkpoint_dir / f"{name}.ckpt"


@dataclass(frozen=True)
class Experiment:
    """A reproducible computation with a full and a quick setting.

    ``defaults`` holds every parameter ``run`` reads (the keys ``--set`` may change);
    ``quick`` overrides some of them for ``--quick``. ``run(config, ctx)`` returns a
    :class:`nqg.results.Result` whose figures it has saved into ``ctx.out_dir``. ``full_time_s`` is the
    measured wall time of the full setting on 2 CPU cores (None: not measured), which ``nqg list``
    shows and ``nqg reproduce`` adds up before it starts.
    """

    name: str
    description: str
    defaults: Mapping[str, Any]
    run: Callable[[dict[str, Any], RunContext], Result]
    quick: Mapping[str, Any] = field(default_factory=dict)
    reference: str = ""
    full_time_s: float | None = None

    def config(self, quick: bool, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The parameters of one run: defaults, then quick settings, then user overrides."""
        from nqg.errors import NqgInputError

        cfg = dict(self.defaults)
        if quick:
            cfg.update(self.quick)
        for key, value in (overrides or {}).items():
            if key not in cfg:
                allowed = ", ".join(sorted(cfg))
                raise NqgInputError(f"unknown parameter {key!r} for {self.name}; allowed: {allowed}")
            cfg[key] = value
        return cfg


def format_duration(seconds: float | None) -> str:
    """A wall time for people: ``45 s``, ``12 min``, ``1.5 h``; ``not measured`` for None."""
    if seconds is None:
        return "not measured"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
