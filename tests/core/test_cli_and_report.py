"""The CLI conventions (DESIGN.md) and the report, on a small experiment injected into the registry."""

import json
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import optax
import pytest
from typer.testing import CliRunner

import nqg.experiments as experiments
from nqg.cli import app
from nqg.results import Result, save_figure
from nqg.spec import Experiment
from nqg.train import minimize


def run_toy(cfg, ctx):
    """Fit a straight line; report the slope against the truth."""
    key = jax.random.PRNGKey(ctx.seed)
    x = jnp.linspace(0, 1, 20)
    y = cfg["slope"] * x + 0.01 * jax.random.normal(key, x.shape)
    fit = minimize(
        lambda p, k: jnp.mean((p * x - y) ** 2),
        jnp.zeros(()),
        optax.adam(0.1),
        steps=cfg["steps"],
        key=key,
        ctx=ctx,
        name="line",
    )
    res = Result("toy")
    res.add_metric("slope", fit.state.params, error=0.01)
    res.add_reference("slope", cfg["slope"], source="construction")
    res.add_check(
        "slope within 5%", abs(fit.state.params / cfg["slope"] - 1) < 0.05, f"{float(fit.state.params):.4f}"
    )
    fig, ax = plt.subplots()
    ax.plot(fit.history["loss"])
    save_figure(fig, ctx.out_dir, "loss.png", res)
    return res


def run_broken(cfg, ctx):
    raise RuntimeError("deliberately broken")


TOY = Experiment(
    "toy", "a line fit", {"slope": 2.0, "steps": 400, "label": "a"}, run_toy, quick={"steps": 300}
)
BROKEN = Experiment("broken", "always fails", {}, run_broken)


@pytest.fixture
def toy_registry(monkeypatch):
    monkeypatch.setattr(experiments, "registry", lambda: {"toy": TOY, "broken": BROKEN})


runner = CliRunner()


def test_run_writes_result_and_json_stdout(tmp_path, toy_registry):
    out = tmp_path / "toy"
    r = runner.invoke(
        app, ["run", "toy", "--quick", "--out", str(out), "--seed", "1", "--json", "--set", "slope=3"]
    )
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data == json.loads((out / "result.json").read_text())
    assert data["params"]["slope"] == 3.0 and data["params"]["steps"] == 300 and data["quick"] is True
    assert data["checks"][0]["passed"] and data["figures"] == ["loss.png"]
    assert not (out / "checkpoints").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "nope"], "unknown experiment 'nope'"),
        (["run", "toy", "--set", "bogus=1"], "unknown parameter 'bogus'"),
        (["run", "toy", "--set", "steps=many"], "parameter 'steps' expects int"),
        (["run", "toy", "--set", "steps"], "--set expects key=value"),
        (["run", "toy", "--seed", "x"], "seed"),
        (["reproduce", "--only", "toy,nope"], "unknown experiment 'nope'"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
    tmp_path, toy_registry, args, message, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, [*args, "--out", str(tmp_path / "o")])
    assert r.exit_code == 2
    assert (
        message in r.stderr and len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("nqg: error:")
    )
    assert "Traceback" not in r.output
    assert list(tmp_path.iterdir()) == []


def test_reproduce_writes_self_contained_report(tmp_path, toy_registry):
    r = runner.invoke(app, ["reproduce", "--quick", "--only", "toy", "--out", str(tmp_path), "--quiet"])
    assert r.exit_code == 0, r.output
    html = (tmp_path / "report.html").read_text()
    assert "data:image/png;base64," in html and "construction" in html and "PASS" in html
    md = (tmp_path / "report.md").read_text()
    assert "| slope |" in md and "toy/loss.png" in md
    assert Result.read(tmp_path / "toy").experiment == "toy"


def test_reproduce_reports_a_failing_experiment_and_exits_1(tmp_path, toy_registry):
    r = runner.invoke(
        app, ["reproduce", "--only", "toy,broken", "--quick", "--out", str(tmp_path), "--quiet"]
    )
    assert r.exit_code == 1
    md = (tmp_path / "report.md").read_text()
    assert "deliberately broken" in md and "| toy | 1/1 checks passed" in md


def test_resume_after_interrupt_matches(tmp_path, toy_registry, monkeypatch):
    import nqg.train as train

    ref = experiments.run_experiment("toy", out=tmp_path / "ref", seed=2)
    real_jit = jax.jit

    def flaky_jit(fn, **kw):
        compiled, calls = real_jit(fn, **kw), {"n": 0}

        def wrapper(*a):
            calls["n"] += 1
            if calls["n"] > 2:
                raise KeyboardInterrupt
            return compiled(*a)

        return wrapper

    with monkeypatch.context() as m:
        m.setattr(train.jax, "jit", flaky_jit)
        r = runner.invoke(app, ["run", "toy", "--out", str(tmp_path / "run"), "--seed", "2"])
    assert r.exit_code == 130 and "--resume" in r.stderr
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["checkpoints"]
    r = runner.invoke(
        app, ["run", "toy", "--out", str(tmp_path / "run"), "--seed", "2", "--resume", "--json"]
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["metrics"]["slope"] == ref.metrics["slope"]


def test_console_script_lists_experiments():
    exe = Path(sys.executable).with_name("nqg")
    r = subprocess.run([str(exe), "list"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0
    names = [line.split()[0] for line in r.stdout.splitlines()[1:]]  # after the header line
    assert names == list(experiments.registry())


def test_experiment_notes_are_shown_in_both_reports(tmp_path):
    from nqg.report import Outcome, render_html, render_markdown

    res = Result("noted")
    res.add_metric("x", 1.0)
    res.add_check("x is one", True, "x = 1")
    res.add_table("notes", [{"note": "the target is above the Bayes limit <0.94>"}])
    res.add_table("rows", [{"a": 1}])
    outcome = [Outcome("noted", res, elapsed_s=0.1)]
    md = render_markdown(outcome, quick=True, seed=0)
    assert "- the target is above the Bayes limit <0.94>" in md
    page = render_html(outcome, tmp_path, quick=True, seed=0)
    assert "<li>the target is above the Bayes limit &lt;0.94&gt;</li>" in page
    assert "table: rows" in page and "table: notes" not in page


def test_set_coerces_optional_numbers_and_lists():
    from nqg.experiments import parse_overrides

    exp = Experiment("opt", "optional", {"cap": None, "sizes": ["4x4"], "alphas": [1.0]}, run_toy)
    assert parse_overrides(exp, ["cap=0.5"]) == {"cap": 0.5}
    assert parse_overrides(exp, ["cap=none"]) == {"cap": None}
    assert parse_overrides(exp, ["sizes=4x4,6x6", "alphas=1,2"]) == {
        "sizes": ["4x4", "6x6"],
        "alphas": [1.0, 2.0],
    }
    with pytest.raises(Exception, match="parameter 'cap' expects"):
        parse_overrides(exp, ["cap=big"])


def test_full_setting_only_checks_are_counted_apart_and_rendered_with_their_last_full_value(tmp_path):
    from nqg.report import Outcome, check_counts, check_summary, render_html, render_markdown
    from nqg.results import FullSettingValue

    res = Result("mixed", quick=True)
    res.add_check("|F| < 0.1 at the data", True, "max 0.02")
    last = FullSettingValue(False, "4 of 10 converged", "2026-11-23", "nqg run mixed")
    res.add_check("paper: converged", False, "0 of 4", full_setting_only=True, last_full=last)
    assert check_counts(res) == (1, 1, 1)
    assert check_summary(res) == "1/1 checks passed, 1 full setting only"
    outcome = [Outcome("mixed", res, elapsed_s=0.1)]
    md = render_markdown(outcome, quick=True, seed=0)
    assert "| mixed | 1/1 checks passed, 1 full setting only |" in md
    row = next(line for line in md.splitlines() if line.startswith("| paper: converged"))
    assert "| full setting only |" in row and "2026-11-23" in row and "4 of 10 converged" in row
    assert "FAIL" in row and "this run (not judged): 0 of 4" in row  # the last full run's outcome
    assert "| \\|F\\| < 0.1 at the data | PASS |" in md  # a literal | does not split the row
    page = render_html(outcome, tmp_path, quick=True, seed=0)
    assert "<td class='full'>full setting only</td>" in page and "class='fail'" not in page


def test_reproduce_prints_full_setting_only_counts(tmp_path, monkeypatch):
    from nqg.results import FullSettingValue

    def run_mixed(config, ctx):
        res = Result("mixed", quick=ctx.quick, seed=ctx.seed)
        res.add_check("always", True)
        last = FullSettingValue(True, "ok", "2026-11-27")
        res.add_check("long run only", False, "", full_setting_only=ctx.quick, last_full=last)
        return res

    monkeypatch.setattr(experiments, "registry", lambda: {"mixed": Experiment("mixed", "m", {}, run_mixed)})
    r = runner.invoke(app, ["reproduce", "--quick", "--only", "mixed", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "1/1 checks, 1 full setting only mixed" in r.stderr
    r = runner.invoke(app, ["reproduce", "--only", "mixed", "--out", str(tmp_path / "full")])
    assert "1/2 checks mixed" in r.stderr
