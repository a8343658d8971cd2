"""`nqg list` shows each experiment's measured full-setting time; `nqg reproduce` prints the total first."""

from __future__ import annotations

import dataclasses

from typer.testing import CliRunner

from nqg import experiments
from nqg.cli import app, full_setting_estimate
from nqg.spec import format_duration


def test_format_duration():
    assert format_duration(None) == "not measured"
    assert format_duration(13.2) == "13 s"
    assert format_duration(169) == "3 min"
    assert format_duration(36 * 60) == "36 min"
    assert format_duration(2.5 * 3600) == "2.5 h"


def test_list_shows_full_setting_times():
    out = CliRunner().invoke(app, ["list"]).output
    lines = out.splitlines()
    assert "full setting" in lines[0]
    reg = experiments.registry()
    assert len(lines) == 1 + len(reg)
    for line, exp in zip(lines[1:], reg.values(), strict=True):
        assert line.startswith(exp.name)
        assert format_duration(exp.full_time_s) in line


def test_reproduce_estimate_adds_up_the_measured_times(monkeypatch):
    reg = dict(experiments.registry())
    a, b = list(reg)[:2]
    reg[a] = dataclasses.replace(reg[a], full_time_s=600.0)
    reg[b] = dataclasses.replace(reg[b], full_time_s=None)
    monkeypatch.setattr(experiments, "registry", lambda: reg)
    line = full_setting_estimate([a, b])
    assert "2 experiment(s)" in line and "10 min" in line and "1 not yet timed" in line
    assert "not yet timed" not in full_setting_estimate([a])


def test_reproduce_runs_experiments_in_parallel_processes(tmp_path):
    from nqg.report import reproduce

    names = ["sgd-temperature", "dbm-imaginary-time"]
    outcomes = reproduce(names, quick=True, seed=0, out=tmp_path, jobs=2)
    assert [o.name for o in outcomes] == names
    for o in outcomes:
        assert o.error is None and o.result is not None and all(c["passed"] for c in o.result.checks)
        assert (tmp_path / o.name / "result.json").exists()
    assert (tmp_path / "report.html").exists()
