"""The experiment registry: name -> :class:`nqg.spec.Experiment`, collected from the vertices."""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from nqg.errors import NqgInputError
from nqg.results import Result
from nqg.runner import run_into
from nqg.spec import Experiment

EXPERIMENT_MODULES = (
    "nqg.gravity.toy_experiments",
    "nqg.gravity.holography_experiments",
    "nqg.quantum.experiments",
    "nqg.fields.nnft_experiments",
    "nqg.fields.path_integral_experiments",
    "nqg.gravity.observable_experiments",
    "nqg.gravity.meson_experiments",
    "nqg.quantum.tensor_network_experiments",
    "nqg.quantum.dbm_experiments",
    "nqg.networks.symmetry_experiments",
    "nqg.networks.spacetime_experiments",
    "nqg.learning.dynamics_experiments",
    "nqg.learning.spacetime_experiments",
)


@cache
def registry() -> dict[str, Experiment]:
    """All experiments, in a stable order (gravity, quantum, fields, networks, learning)."""
    found: dict[str, Experiment] = {}
    for module in EXPERIMENT_MODULES:
        for exp in importlib.import_module(module).EXPERIMENTS:
            if exp.name in found:
                raise RuntimeError(f"experiment {exp.name!r} registered twice")
            found[exp.name] = exp
    return found


def get(name: str) -> Experiment:
    """The experiment called ``name``; :class:`NqgInputError` naming the known ones otherwise."""
    reg = registry()
    if name not in reg:
        raise NqgInputError(f"unknown experiment {name!r}; known: {', '.join(reg)}")
    return reg[name]


def parse_overrides(exp: Experiment, pairs: list[str], quick: bool = False) -> dict[str, Any]:
    """Parse ``key=value`` strings against the experiment's parameters.

    A value takes the type of the default it replaces: bool (true/false/1/0/yes/no), int,
    float, str, or a list (comma-separated, elements typed like the default's first element);
    a default of None (an optional number that is off) takes a float or ``none``.
    """
    cfg = exp.config(quick)
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise NqgInputError(f"--set expects key=value, got {pair!r}")
        key, raw = (s.strip() for s in pair.split("=", 1))
        if key not in cfg:
            raise NqgInputError(
                f"unknown parameter {key!r} for {exp.name}; allowed: {', '.join(sorted(cfg))}"
            )
        out[key] = _coerce(raw, cfg[key], key)
    return out


def _coerce(raw: str, default: Any, key: str) -> Any:
    try:
        if isinstance(default, bool):
            low = raw.lower()
            if low in ("true", "1", "yes", "on"):
                return True
            if low in ("false", "0", "no", "off"):
                return False
            raise ValueError
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            value = float(raw)
            if value != value:
                raise ValueError
            return value
        if default is None:  # an optional number (None: off): "none" keeps it off
            return None if raw.lower() in ("none", "") else float(raw)
        if isinstance(default, (list, tuple)):
            items = [s for s in raw.split(",") if s.strip()]
            proto = default[0] if default else ""
            return [_coerce(s.strip(), proto, key) for s in items]
    except ValueError:
        kind = type(default).__name__ if not isinstance(default, (list, tuple)) else "comma-separated list"
        raise NqgInputError(f"parameter {key!r} expects {kind}, got {raw!r}") from None
    return raw


def run_experiment(
    name: str,
    *,
    quick: bool = False,
    seed: int = 0,
    out: str | os.PathLike,
    overrides: Mapping[str, Any] | None = None,
    quiet: bool = True,
    resume: bool = False,
) -> Result:
    """Run one experiment into ``out`` (``out/result.json`` and its figures)."""
    exp = get(name)
    config = exp.config(quick, overrides)

    def body(ctx: Any) -> Result:
        result = exp.run(dict(config), ctx)
        result.params = {**config, **result.params}
        return result

    return run_into(Path(out), body, seed=seed, quick=quick, quiet=quiet, resume=resume)
