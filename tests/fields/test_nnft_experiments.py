"""The quick settings of the NNFT experiments run end to end and pass their checks (~30 s)."""

from __future__ import annotations

import pytest

from nqg.fields.nnft_experiments import EXPERIMENTS
from nqg.runner import run_into


@pytest.mark.parametrize("exp", EXPERIMENTS, ids=lambda e: e.name)
def test_quick_experiment_passes_its_checks(exp, tmp_path):
    cfg = exp.config(quick=True)
    result = run_into(tmp_path / exp.name, lambda ctx: exp.run(cfg, ctx), seed=0, quick=True, quiet=True)
    assert result.checks and all(c["passed"] for c in result.checks), result.checks
    assert (tmp_path / exp.name / "result.json").exists()


def test_experiment_registry_entries():
    names = {e.name for e in EXPERIMENTS}
    assert names == {"nnft-width-scaling", "nnft-free-field"}
    for e in EXPERIMENTS:
        assert set(e.quick) <= set(e.defaults)
