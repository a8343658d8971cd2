"""The experiments holographic-wilson-loop and holographic-dilaton at their quick settings."""

from __future__ import annotations

import pytest

from nqg.experiments import get, run_experiment


@pytest.mark.parametrize("name", ["holographic-wilson-loop", "holographic-dilaton"])
def test_quick_setting_all_checks_pass(name, tmp_path):
    res = run_experiment(name, quick=True, seed=0, out=tmp_path / name)
    failed = [c for c in res.checks if not c["passed"]]
    assert not failed, failed
    assert len(res.checks) >= 4
    assert res.figures and (tmp_path / name / res.figures[0]).is_file()
    assert res.metrics["discrete_members_with_horizon"]["value"] >= 2


def test_full_setting_trains_both_ensembles():
    for name in ("holographic-wilson-loop", "holographic-dilaton"):
        full = get(name).config(False)
        assert full["members"] == 10 and full["ode_members"] > 0 and full["steps"] >= 8000
