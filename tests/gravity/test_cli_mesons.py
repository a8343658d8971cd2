"""`nqg gravity mesons`: result table, profiles, figure, and input validation."""

from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

from nqg.cli import app

runner = CliRunner()
DATA = "spin,mass_GeV\n1,0.775\n1,1.465\n1,1.720\n2,1.318\n2,1.706\n"


def _run(args):
    return runner.invoke(app, ["gravity", "mesons", *args])


@pytest.mark.slow  # compiles an L-BFGS ensemble (~30 s CPU)
def test_mesons_table_profiles_and_figure(tmp_path):
    data = tmp_path / "masses.csv"
    data.write_text(DATA)
    out = tmp_path / "run"
    res = _run(
        [
            "--data",
            str(data),
            "--predict",
            "2",
            "--members",
            "2",
            "--steps",
            "30",
            "--out",
            str(out),
            "--json",
            "--seed",
            "1",
        ]
    )
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout)
    assert result == json.loads((out / "result.json").read_text())
    rows = result["tables"]["masses"]
    assert set(rows[0]) == {"spin", "n", "mass_GeV", "error", "input"}
    assert [(r["spin"], r["n"], r["input"]) for r in rows] == [
        (1, 0, True),
        (1, 1, True),
        (1, 2, True),
        (1, 3, False),
        (1, 4, False),
        (2, 0, True),
        (2, 1, True),
        (2, 2, False),
        (2, 3, False),
    ]
    for s in (1, 2):  # each tower ascending
        masses = [r["mass_GeV"] for r in rows if r["spin"] == s]
        assert masses == sorted(masses)
    # the fitted ground states sit near the data (a loose bound: 30 L-BFGS steps, 2 members)
    assert rows[0]["mass_GeV"] == pytest.approx(0.775, rel=0.1)
    with (out / "profiles.csv").open() as fh:
        header = next(csv.reader(fh))
    assert header == ["z_inv_GeV", "A", "A_std", "Phi", "Phi_std"]
    assert (out / "mesons.png").is_file() and result["figures"] == ["mesons.png"]


@pytest.mark.parametrize(
    "text, args, match",
    [
        ("spin,mass_GeV\n1,1.465\n1,0.775\n", [], "increase"),
        ("spin,mass\n1,0.775\n1,1.465\n", [], "header"),
        ("spin,mass_GeV\n1,0.775\n1,-1\n", [], "> 0"),
        (DATA, ["--predict", "-1"], "--predict"),
        (DATA, ["--members", "0"], "--members"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(tmp_path, text, args, match):
    data = tmp_path / "m.csv"
    data.write_text(text)
    out = tmp_path / "out"
    res = _run(["--data", str(data), "--out", str(out), *args])
    assert res.exit_code == 2
    assert match in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_missing_file_exits_2(tmp_path):
    res = _run(["--data", str(tmp_path / "none.csv"), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "no such file" in res.stderr
