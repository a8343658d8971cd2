import json
import math

import matplotlib.pyplot as plt
import numpy as np
import pytest

from nqg.errors import NqgInputError
from nqg.results import Result, atomic_write_text, save_figure, write_csv
from nqg.runner import run_into


def test_result_roundtrip_and_format(tmp_path):
    res = Result("demo", quick=True, seed=3, params={"n": np.int64(4), "xs": np.array([1.0, 2.0])})
    res.add_metric("inv_L_MeV", np.float64(251.0), error=4.0, unit="MeV")
    res.add_reference("inv_L_MeV", 237.0, error=3.0, unit="MeV", source="arXiv:1809.10536")
    res.add_check("accuracy >= 0.95", np.bool_(True), "0.98")
    res.add_table("layers", [{"eta": 0.5, "h": np.float32(2.0)}])
    res.write(tmp_path)
    data = json.loads((tmp_path / "result.json").read_text())
    assert data["metrics"]["inv_L_MeV"] == {"value": 251.0, "error": 4.0, "unit": "MeV"}
    assert data["references"]["inv_L_MeV"]["source"] == "arXiv:1809.10536"
    assert data["checks"] == [{"name": "accuracy >= 0.95", "passed": True, "detail": "0.98"}]
    assert data["params"] == {"n": 4, "xs": [1.0, 2.0]}
    back = Result.read(tmp_path)
    assert back.metrics == res.metrics and back.tables["layers"][0]["h"] == 2.0 and back.passed


def test_metric_must_be_a_real_scalar():
    res = Result("demo")
    with pytest.raises(TypeError):
        res.add_metric("x", np.array([1.0, 2.0]))
    with pytest.raises(TypeError):
        res.add_metric("x", 1 + 2j)


def test_non_finite_values_become_null(tmp_path):
    res = Result("demo")
    res.add_metric("x", math.nan)
    res.write(tmp_path)
    assert json.loads((tmp_path / "result.json").read_text())["metrics"]["x"]["value"] is None


def test_atomic_write_leaves_old_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "a.txt"
    atomic_write_text(target, "old")

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(OSError):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_csv_and_figure(tmp_path):
    write_csv(tmp_path / "m.csv", ["eta", "h"], np.array([[0.1, 2.0], [0.2, 3.0]]))
    assert (tmp_path / "m.csv").read_text().splitlines() == ["eta,h", "0.1,2.0", "0.2,3.0"]
    res = Result("demo")
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    save_figure(fig, tmp_path, "f.png", res)
    assert res.figures == ["f.png"] and (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"


def test_run_into_publishes_only_on_success(tmp_path):
    out = tmp_path / "run"

    def ok(ctx):
        (ctx.out_dir / "data.csv").write_text("x\n1\n")
        return Result("demo")

    res = run_into(out, ok, seed=5)
    assert sorted(p.name for p in out.iterdir()) == ["data.csv", "result.json"]
    assert res.seed == 5 and res.elapsed_s is not None and "jax" in res.versions

    def bad(ctx):
        (ctx.out_dir / "data.csv").write_text("half")
        raise NqgInputError("bad value")

    with pytest.raises(NqgInputError):
        run_into(out, bad)
    assert (out / "data.csv").read_text() == "x\n1\n"  # the previous result is untouched
    assert not list(tmp_path.glob(".run.partial*"))
    with pytest.raises(NqgInputError):
        run_into(tmp_path / "never", bad)
    assert not (tmp_path / "never").exists()


def test_full_setting_only_check_is_listed_not_judged(tmp_path):
    from nqg.results import FullSettingValue

    res = Result("demo", quick=True)
    res.add_check("slope within 1%", True, "0.3%")
    last = FullSettingValue(True, "1/L = 228 +- 2 MeV", "2026-11-27", "nqg run demo")
    # a failing quick value of a full-setting-only check neither passes nor fails the run
    out = res.add_check("1/L within 15%", False, "1/L = 900 MeV", full_setting_only=True, last_full=last)
    assert out is False
    assert res.passed and [c["name"] for c in res.checks] == ["slope within 1%"]
    res.write(tmp_path)
    data = json.loads((tmp_path / "result.json").read_text())
    assert data["full_setting_only"] == [
        {
            "name": "1/L within 15%",
            "detail": "1/L = 900 MeV",
            "last_full": {
                "passed": True,
                "value": "1/L = 228 +- 2 MeV",
                "date": "2026-11-27",
                "command": "nqg run demo",
            },
        }
    ]
    assert Result.read(tmp_path).full_setting_only == data["full_setting_only"]
    # the last full-setting value is required, and a result without such checks has no such key
    with pytest.raises(TypeError, match="last_full"):
        res.add_check("x", True, full_setting_only=True)
    plain = Result("plain")
    plain.add_check("a", False)
    assert "full_setting_only" not in plain.to_dict() and not plain.passed
