"""Shared test set-up: float64 JAX (imported through nqg), a non-interactive matplotlib, and the count of
executed documentation examples (tests/docs) printed at the end of the run."""

import json
import os
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")

import pytest

import nqg  # noqa: F401  (turns on float64)

_DOC_KEYS = ("python_blocks", "pages", "commands_validated", "commands_executed")


def _counts_dir(config) -> Path:
    return Path(str(config.rootpath)) / ".pytest_cache" / "nqg-doc-examples"


@pytest.fixture
def doc_example_counter(request):
    """Counts of executed documentation examples, printed at the end of the run.

    Each process (a pytest-xdist worker or the main one) keeps its own file; the summary adds them up.
    """
    worker = getattr(request.config, "workerinput", {}).get("workerid", "main")
    path = _counts_dir(request.config) / f"{worker}.json"
    counts = json.loads(path.read_text()) if path.exists() else dict.fromkeys(_DOC_KEYS, 0)
    yield counts
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(counts))


def pytest_sessionstart(session) -> None:
    if not hasattr(session.config, "workerinput"):  # the main process clears the last run's counts
        for old in _counts_dir(session.config).glob("*.json"):
            old.unlink()


def pytest_terminal_summary(terminalreporter) -> None:
    counts = dict.fromkeys(_DOC_KEYS, 0)
    for path in _counts_dir(terminalreporter.config).glob("*.json"):
        for key, value in json.loads(path.read_text()).items():
            counts[key] += value
    if any(counts.values()):
        terminalreporter.write_line(
            f"documentation examples: {counts['python_blocks']} python blocks executed on "
            f"{counts['pages']} pages; {counts['commands_validated']} nqg command lines parsed and "
            f"validated, {counts['commands_executed']} of them executed"
        )


def run_on_devices(script: str, n_devices: int = 4, timeout_s: float = 900) -> dict:
    """Run the Python ``script`` in a fresh interpreter that sees ``n_devices`` CPU devices and return the
    JSON object it prints on its last line of stdout (after an optional ``RESULT `` prefix).

    JAX takes its device count from ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` when it is first
    imported, so multi-device work cannot run in the pytest process itself (one device).
    """
    import subprocess
    import sys

    env = dict(
        os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={n_devices}", JAX_PLATFORMS="cpu"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=timeout_s
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    return json.loads(last.removeprefix("RESULT "))


@pytest.fixture(scope="session")
def device_script():
    """:func:`run_on_devices` as a fixture (tests/ has no packages to import a helper from)."""
    return run_on_devices
