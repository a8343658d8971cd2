"""Shared test set-up: float64 JAX (imported through nqg) and a non-interactive matplotlib."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import pytest

import nqg  # noqa: F401  (turns on float64)

_DOC_EXAMPLES = {"python_blocks": 0, "pages": 0, "commands_validated": 0, "commands_executed": 0}


@pytest.fixture
def doc_example_counter() -> dict[str, int]:
    """Counts of executed documentation examples (tests/docs), printed at the end of the run."""
    return _DOC_EXAMPLES


def pytest_terminal_summary(terminalreporter) -> None:
    c = _DOC_EXAMPLES
    if any(c.values()):
        terminalreporter.write_line(
            f"documentation examples: {c['python_blocks']} python blocks executed on {c['pages']} pages; "
            f"{c['commands_validated']} nqg command lines parsed and validated, "
            f"{c['commands_executed']} of them executed"
        )
