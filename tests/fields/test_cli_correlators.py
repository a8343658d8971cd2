"""`nqg fields correlators`: result table, metrics, and input validation."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from nqg.cli import app
from nqg.cli.fields_correlators import parse_points, validate
from nqg.errors import NqgInputError

runner = CliRunner()


def _run(args):
    return runner.invoke(app, ["fields", "correlators", *args])


def test_correlators_table_rows_and_metrics(tmp_path):
    out = tmp_path / "run"
    res = _run(
        [
            "--net",
            "erf",
            "--width",
            "4",
            "--nets",
            "4000",
            "--inputs",
            "-1,0.2,1",
            "--order",
            "4",
            "--seed",
            "3",
            "--out",
            str(out),
            "--json",
        ]
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data == json.loads((out / "result.json").read_text())
    rows = data["tables"]["correlators"]
    assert len(rows) == 6 + 15  # multisets of 2 and of 4 points from 3
    assert set(rows[0]) == {"order", "inputs", "measured", "error", "gaussian", "order_1_over_n"}
    assert {r["order"] for r in rows} == {2, 4}
    assert all(r["error"] > 0 for r in rows)
    for r in rows:  # order 2 has no 1/N correction; order 4 adds the connected part
        if r["order"] == 2:
            assert r["order_1_over_n"] == r["gaussian"]
    assert set(data["metrics"]) == {"m2", "m4"}
    assert data["metrics"]["m2"]["error"] > 0


def test_two_dimensional_inputs(tmp_path):
    res = _run(
        [
            "--net",
            "cos",
            "--width",
            "20",
            "--nets",
            "2000",
            "--inputs",
            "0.1;0.2,0.3;0.4",
            "--order",
            "2",
            "--out",
            str(tmp_path / "c"),
            "--json",
            "--cutoff",
            "5",
        ]
    )
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)["tables"]["correlators"]
    assert len(rows) == 3 and rows[1]["inputs"] == [[0.1, 0.2], [0.3, 0.4]]


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--net", "tanh", "--width", "3", "--nets", "100", "--inputs", "0.1"], "--net"),
        (["--net", "erf", "--width", "0", "--nets", "100", "--inputs", "0.1"], "--width"),
        (["--net", "erf", "--width", "3", "--nets", "0", "--inputs", "0.1"], "--nets"),
        (["--net", "erf", "--width", "3", "--nets", "100", "--inputs", "0.1", "--order", "3"], "--order"),
        (["--net", "erf", "--width", "3", "--nets", "100", "--inputs", "0.1", "--order", "0"], "--order"),
        (["--net", "erf", "--width", "3", "--nets", "100", "--inputs", ""], "--inputs"),
        (["--net", "erf", "--width", "3", "--nets", "100", "--inputs", "0.1,abc"], "--inputs"),
        (["--net", "erf", "--width", "3", "--nets", "100", "--inputs", "0.1,,0.2"], "--inputs"),
        (["--net", "erf", "--width", "3", "--nets", "100", "--inputs", "0.1;0.2,0.3"], "inconsistent"),
        (["--net", "erf", "--width", "3", "--nets", "100", "--inputs", "nan"], "--inputs"),
        (["--net", "cos", "--width", "3", "--nets", "100", "--inputs", "0.1", "--cutoff", "-1"], "--cutoff"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, args, needle):
    out = tmp_path / "never"
    res = _run([*args, "--out", str(out)])
    assert res.exit_code == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("nqg: error:") and needle in lines[0]
    assert not out.exists()


def test_parsers_directly():
    assert parse_points("1, 2,3") == [[1.0], [2.0], [3.0]]
    assert parse_points("1;2,3;4") == [[1.0, 2.0], [3.0, 4.0]]
    with pytest.raises(NqgInputError):
        validate("erf", 3, 1, 2, "0.1")
    with pytest.raises(NqgInputError, match="tuples"):
        validate("erf", 3, 10, 12, ",".join(str(i) for i in range(30)))
