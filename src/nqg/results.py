"""Results: what a run measured, what it is compared with, and whether its checks passed.

A :class:`Result` serialises to ``result.json`` (format in DESIGN.md). Every file written here
is written atomically: to a temporary file in the same folder, then renamed over the target,
so an interrupted run never leaves a half-written file.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

RESULT_FILE = "result.json"


def _current_umask() -> int:
    """The process umask (read by setting it and setting it back: there is no read-only call)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename).

    The file gets the mode an ordinary new file gets under the user's umask (0644 under umask 022),
    not the 0600 of the temporary file, so results and reports can be shared and served.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_current_umask())  # mkstemp makes 0600; a new file gets the umask's mode
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def _jsonable(obj: Any) -> Any:
    """Convert numpy/JAX scalars and arrays, paths and tuples into plain JSON values."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, (complex, np.complexfloating)):
        return {"real": _jsonable(obj.real), "imag": _jsonable(obj.imag)}
    if hasattr(obj, "__array__"):
        return _jsonable(np.asarray(obj).tolist())
    return obj


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically (numpy values converted; NaN/inf become null)."""
    return atomic_write_text(path, json.dumps(_jsonable(obj), indent=2, allow_nan=False) + "\n")


def write_csv(
    path: str | os.PathLike, header: Sequence[str], rows: Iterable[Sequence[Any]] | np.ndarray
) -> Path:
    """Write a CSV file with a header row atomically. ``rows`` is a 2-D array or rows of values."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(list(header))
    for row in np.asarray(rows).tolist() if isinstance(rows, np.ndarray) else rows:
        writer.writerow([repr(float(v)) if isinstance(v, (float, np.floating)) else v for v in row])
    return atomic_write_text(path, buf.getvalue())


def save_figure(fig: Any, out_dir: str | os.PathLike, filename: str, result: Result | None = None) -> str:
    """Save a matplotlib figure as ``out_dir/filename`` atomically, close it, record it in ``result``."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fmt = Path(filename).suffix.lstrip(".") or "png"
    fig.savefig(buf, format=fmt, dpi=120, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(Path(out_dir) / filename, buf.getvalue())
    if result is not None:
        result.add_figure(filename)
    return filename


def _number(value: Any, what: str) -> float:
    arr = np.asarray(value)
    if arr.shape != () or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{what} must be a real scalar, got {value!r}")
    if np.iscomplexobj(arr):
        raise TypeError(f"{what} must be real, got {value!r}")
    return float(arr)


@dataclass(frozen=True)
class FullSettingValue:
    """What a check gave in the last run at the full setting: ``passed``, ``value`` (the check's
    detail then), ``date`` (ISO, e.g. '2026-11-27') and ``command`` (that reproduces it)."""

    passed: bool
    value: str
    date: str
    command: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"passed": bool(self.passed), "value": self.value, "date": self.date, "command": self.command}


@dataclass
class Result:
    """What one run produced: metrics (with errors and units), references beside them, checks,
    figures and small tables. ``write(out_dir)`` produces ``out_dir/result.json``."""

    experiment: str
    quick: bool = False
    seed: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    references: dict[str, dict[str, Any]] = field(default_factory=dict)
    checks: list[dict[str, Any]] = field(default_factory=list)
    full_setting_only: list[dict[str, Any]] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    elapsed_s: float | None = None
    versions: dict[str, str] = field(default_factory=dict)

    def __init__(
        self,
        experiment: str,
        *,
        quick: bool = False,
        seed: int = 0,
        params: dict[str, Any] | None = None,
    ) -> None:
        self.experiment = experiment
        self.quick = bool(quick)
        self.seed = int(seed)
        self.params = dict(params or {})
        self.metrics = {}
        self.references = {}
        self.checks = []
        self.full_setting_only = []
        self.figures = []
        self.tables = {}
        self.elapsed_s = None
        self.versions = {}

    def add_metric(self, name: str, value: Any, error: Any = None, unit: str | None = None) -> None:
        """Record a measured number; ``error`` is one standard error (MC or seed ensemble)."""
        entry: dict[str, Any] = {"value": _number(value, f"metric {name!r}")}
        if error is not None:
            entry["error"] = _number(error, f"error of metric {name!r}")
        if unit:
            entry["unit"] = unit
        self.metrics[name] = entry

    def add_reference(
        self, name: str, value: Any, error: Any = None, unit: str | None = None, source: str = ""
    ) -> None:
        """Record the reference value that metric ``name`` is compared with, and where it comes from."""
        entry: dict[str, Any] = {"value": _number(value, f"reference {name!r}")}
        if error is not None:
            entry["error"] = _number(error, f"error of reference {name!r}")
        if unit:
            entry["unit"] = unit
        entry["source"] = source
        self.references[name] = entry

    def add_check(
        self,
        name: str,
        passed: Any,
        detail: str = "",
        *,
        full_setting_only: bool = False,
        last_full: FullSettingValue | None = None,
    ) -> bool:
        """Record a pass/fail check (e.g. 'held-out accuracy >= 0.95'); returns ``passed``.

        ``full_setting_only=True`` (typically ``full_setting_only=ctx.quick`` for a check whose
        threshold only means something at the full setting): the check is not evaluated here; it is
        listed under ``full_setting_only`` with ``last_full`` (required: the last full-setting run's
        value, date and command) and ``detail`` as this run's value for information, and counts
        neither as passed nor as failed.
        """
        ok = bool(passed)
        if full_setting_only:
            if not isinstance(last_full, FullSettingValue):
                raise TypeError(f"check {name!r}: full_setting_only needs last_full=FullSettingValue(...)")
            self.full_setting_only.append(
                {"name": name, "detail": str(detail), "last_full": last_full.to_dict()}
            )
            return ok
        self.checks.append({"name": name, "passed": ok, "detail": str(detail)})
        return ok

    def add_table(self, name: str, rows: list[dict[str, Any]]) -> None:
        """Attach a small table (a list of row objects with the same keys)."""
        self.tables[name] = [_jsonable(dict(row)) for row in rows]

    def add_figure(self, filename: str) -> None:
        if filename not in self.figures:
            self.figures.append(filename)

    @property
    def passed(self) -> bool:
        """True when every evaluated check passed (full-setting-only checks are not evaluated)."""
        return all(c["passed"] for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "experiment": self.experiment,
            "quick": self.quick,
            "seed": self.seed,
            "params": self.params,
            "metrics": self.metrics,
            "references": self.references,
            "checks": self.checks,
            "figures": self.figures,
        }
        if self.full_setting_only:
            out["full_setting_only"] = self.full_setting_only
        if self.tables:
            out["tables"] = self.tables
        out["elapsed_s"] = self.elapsed_s
        out["versions"] = self.versions
        return _jsonable(out)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        res = cls(data["experiment"], quick=data.get("quick", False), seed=data.get("seed", 0))
        res.params = dict(data.get("params", {}))
        res.metrics = dict(data.get("metrics", {}))
        res.references = dict(data.get("references", {}))
        res.checks = list(data.get("checks", []))
        res.full_setting_only = list(data.get("full_setting_only", []))
        res.figures = list(data.get("figures", []))
        res.tables = dict(data.get("tables", {}))
        res.elapsed_s = data.get("elapsed_s")
        res.versions = dict(data.get("versions", {}))
        return res

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)

    def write(self, out_dir: str | os.PathLike) -> Path:
        """Write ``out_dir/result.json`` atomically."""
        return atomic_write_text(Path(out_dir) / RESULT_FILE, self.to_json() + "\n")

    @classmethod
    def read(cls, path: str | os.PathLike) -> Result:
        """Read a result from ``path`` (a result.json file or the folder holding one)."""
        path = Path(path)
        if path.is_dir():
            path = path / RESULT_FILE
        return cls.from_dict(json.loads(path.read_text()))


def software_versions() -> dict[str, str]:
    """Versions of nqg and the numerical stack, and the JAX backend in use."""
    import importlib.metadata as md
    import platform

    import jax

    import nqg

    versions = {"nqg": nqg.__version__, "python": platform.python_version()}
    for pkg in ("jax", "jaxlib", "equinox", "optax", "diffrax", "blackjax", "numpy", "scipy"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:  # pragma: no cover - optional packages
            continue
    versions["backend"] = jax.default_backend()
    versions["x64"] = str(bool(jax.config.jax_enable_x64))
    return versions
