"""``nqg reproduce``: run experiments and write a self-contained report (HTML and Markdown).

The HTML embeds every figure (base64 PNG), so ``report.html`` can be mailed or archived
alone. For each experiment it shows a table of our values beside the reference values and
their sources, and the pass/fail of each check.
"""

from __future__ import annotations

import base64
import html
import math
import re
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nqg import experiments
from nqg.results import Result, atomic_write_text, software_versions


@dataclass
class Outcome:
    """One experiment of a reproduction: its result, or the error that stopped it."""

    name: str
    result: Result | None = None
    error: str | None = None
    elapsed_s: float = 0.0


def fmt_value(entry: dict[str, Any] | None) -> str:
    """'value ± error unit' with the error's precision (two significant digits)."""
    if not entry or entry.get("value") is None:
        return ""
    value, error, unit = entry["value"], entry.get("error"), entry.get("unit", "")
    if error is not None and error > 0:
        digits = max(0, 1 - math.floor(math.log10(error)))
        text = f"{value:.{digits}f} ± {error:.{digits}f}" if digits < 12 else f"{value:.6g} ± {error:.2g}"
    else:
        text = f"{value:.6g}"
    return f"{text} {unit}".strip()


def comparison_rows(result: Result) -> list[dict[str, str]]:
    """Rows of (quantity, ours, reference, source), metrics first, then references alone."""
    rows = []
    for name, metric in result.metrics.items():
        ref = result.references.get(name)
        rows.append(
            {
                "quantity": name,
                "ours": fmt_value(metric),
                "reference": fmt_value(ref),
                "source": (ref or {}).get("source", ""),
            }
        )
    for name, ref in result.references.items():
        if name not in result.metrics:
            rows.append(
                {"quantity": name, "ours": "", "reference": fmt_value(ref), "source": ref.get("source", "")}
            )
    return rows


def _run_one(
    name: str, quick: bool, seed: int, out: Path, quiet: bool, precision: str | None = None
) -> Outcome:
    """One experiment into ``out/NAME``; an exception becomes the outcome's error (the others go on)."""
    if precision is not None:  # a worker process: the parent's precision (``nqg --float32``)
        from nqg import set_precision

        set_precision(precision)
    t0 = time.perf_counter()
    try:
        res = experiments.run_experiment(name, quick=quick, seed=seed, out=out / name, quiet=quiet)
        return Outcome(name, result=res, elapsed_s=time.perf_counter() - t0)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # one failing experiment must not hide the others
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return Outcome(name, error=detail, elapsed_s=time.perf_counter() - t0)


def reproduce(
    names: Sequence[str] | None,
    *,
    quick: bool,
    seed: int,
    out: Path,
    quiet: bool = True,
    on_start: Callable[[str, int, int], None] | None = None,
    jobs: int = 1,
) -> list[Outcome]:
    """Run the named experiments (all when None) into ``out/NAME`` and write the reports.

    ``jobs > 1`` runs that many experiments at a time, each in its own (spawned) process: much of a quick
    run is single-threaded compilation, so two at a time use two cores. Results do not depend on it
    (every experiment draws from its own seed); the elapsed times then include the sharing.
    """
    selected = list(names) if names else list(experiments.registry())
    for name in selected:
        experiments.get(name)  # validate every name before running anything
    if jobs < 1:
        from nqg.errors import NqgInputError

        raise NqgInputError(f"--jobs must be >= 1, got {jobs}")
    if jobs == 1:
        outcomes = []
        for i, name in enumerate(selected):
            if on_start is not None:
                on_start(name, i, len(selected))
            outcomes.append(_run_one(name, quick, seed, out, quiet))
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        import jax

        precision = "float64" if jax.config.read("jax_enable_x64") else "float32"
        context = multiprocessing.get_context("spawn")  # never fork a process that has started JAX
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            futures = [pool.submit(_run_one, n, quick, seed, out, True, precision) for n in selected]
            outcomes = []
            for i, (name, future) in enumerate(zip(selected, futures, strict=True)):
                if on_start is not None:
                    on_start(name, i, len(selected))
                outcomes.append(future.result())
    write_reports(outcomes, out, quick=quick, seed=seed)
    return outcomes


def write_reports(outcomes: Sequence[Outcome], out: Path, *, quick: bool, seed: int) -> None:
    """report.md and report.html in ``out`` (process 0 only, in a multi-process run)."""
    from nqg.devices import is_writer

    if not is_writer():
        return
    atomic_write_text(out / "report.md", render_markdown(outcomes, quick=quick, seed=seed))
    atomic_write_text(out / "report.html", render_html(outcomes, out, quick=quick, seed=seed))


def check_counts(result: Result) -> tuple[int, int, int]:
    """``(passed, evaluated, full setting only)``: full-setting-only checks are not evaluated."""
    return (
        sum(bool(c["passed"]) for c in result.checks),
        len(result.checks),
        len(result.full_setting_only),
    )


def check_summary(result: Result) -> str:
    """'7/7 checks passed' or '7/7 checks passed, 6 full setting only'."""
    n_pass, n_eval, n_full = check_counts(result)
    text = f"{n_pass}/{n_eval} checks passed"
    return text + (f", {n_full} full setting only" if n_full else "")


def check_rows(result: Result) -> list[dict[str, str]]:
    """Rows ``(check, result, detail)``: evaluated checks (PASS/FAIL), then the full-setting-only ones
    with the last full-setting run's outcome, value, date and command, and this run's value."""
    rows = [
        {"check": c["name"], "result": "PASS" if c["passed"] else "FAIL", "detail": str(c["detail"])}
        for c in result.checks
    ]
    for c in result.full_setting_only:
        rows.append({"check": c["name"], "result": FULL_SETTING_ONLY, "detail": full_setting_detail(c)})
    return rows


FULL_SETTING_ONLY = "full setting only"


def full_setting_detail(check: dict[str, Any]) -> str:
    """'last full run (DATE, `COMMAND`): PASS, VALUE; this run (not judged): DETAIL'."""
    last = check.get("last_full") or {}
    outcome = "PASS" if last.get("passed") else "FAIL"
    command = f"`{last['command']}`" if last.get("command") else ""
    where = ", ".join(x for x in (last.get("date", ""), command) if x)
    text = f"last full run ({where}): {outcome}, {last.get('value', '')}"
    if check.get("detail"):
        text += f"; this run (not judged): {check['detail']}"
    return text


def _md_cell(text: str) -> str:
    """A Markdown table cell: a literal '|' (as in |F| < 0.1) escaped so it does not split the row."""
    return str(text).replace("|", "\\|")


def _status(o: Outcome) -> str:
    if o.error is not None:
        return "error"
    assert o.result is not None
    return check_summary(o.result)


def _css_class(o: Outcome) -> str:
    return "fail" if o.error or (o.result is not None and not o.result.passed) else "pass"


def _notes(result: Result) -> list[str]:
    """The experiment's own remarks (a table named ``notes`` of ``{"note": text}`` rows), shown in full."""
    return [str(row.get("note", "")) for row in result.tables.get("notes", [])]


def intro(quick: bool) -> list[str]:
    """The report's opening paragraphs: what it is, how to read its checks, where the full figures are."""
    setting = (
        "This is the quick setting (`nqg reproduce --quick`, what `make demo` runs): every experiment at a "
        "small size, to show the whole program in minutes. Its numbers are rough; the full-setting figures "
        "come from `nqg reproduce` without `--quick` (`nqg list` shows how long each takes) and are quoted, "
        "with the commands that print them, in the project's closing notes and its documentation."
        if quick
        else "This is the full setting (`nqg reproduce`): the sizes the papers' and the issues' targets "
        "refer to."
    )
    return [
        "This report runs each experiment of nqg and puts its numbers (with one standard error) beside the "
        "published or exact references, with their sources. The status table gives, per experiment, the "
        "checks passed out of those evaluated; each experiment's section lists its checks.",
        "How to read a check: its name states the quantity and the threshold. PASS and FAIL are verdicts "
        "at this run's setting (a quick setting uses thresholds stated for the quick setting); "
        "'full setting only' marks a check that is meaningful only at the full setting and is not "
        "evaluated here. A FAIL at the full setting is a real miss, and the experiment's notes explain it.",
        setting,
    ]


def render_markdown(outcomes: Sequence[Outcome], *, quick: bool, seed: int) -> str:
    lines = [
        "# nqg reproduction report",
        "",
        *(line for para in intro(quick) for line in (para, "")),
        f"Setting: {'quick' if quick else 'full'}, seed {seed}. Versions: "
        + ", ".join(f"{k} {v}" for k, v in software_versions().items()),
        "",
        "| experiment | status | time (s) |",
        "|---|---|---|",
    ]
    lines += [f"| {o.name} | {_status(o)} | {o.elapsed_s:.1f} |" for o in outcomes]
    for o in outcomes:
        lines += ["", f"## {o.name}", ""]
        if o.error is not None:
            lines += [f"**Failed:** `{o.error}`"]
            continue
        assert o.result is not None
        lines += ["| quantity | ours | reference | source |", "|---|---|---|---|"]
        lines += [
            f"| {r['quantity']} | {r['ours']} | {r['reference']} | {r['source']} |"
            for r in comparison_rows(o.result)
        ]
        lines += [""] + [f"- {note}" for note in _notes(o.result)]
        if o.result.checks or o.result.full_setting_only:
            lines += ["", "| check | result | detail |", "|---|---|---|"]
            lines += [
                "| " + " | ".join(_md_cell(r[c]) for c in ("check", "result", "detail")) + " |"
                for r in check_rows(o.result)
            ]
        lines += [""] + [f"![{f}]({o.name}/{f})" for f in o.result.figures]
    return "\n".join(lines) + "\n"


_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f3f3f3}.pass{color:#176b2c;font-weight:bold}.fail{color:#b00020;font-weight:bold}
.full{color:#666;font-style:italic}
img{max-width:100%;border:1px solid #eee;margin:.4em 0}code{background:#f6f6f6;padding:0 .2em}
details{margin:.5em 0}
"""


def _table(rows: list[dict[str, str]], cols: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(r.get(c, '')))}</td>" for c in cols) + "</tr>" for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(outcomes: Sequence[Outcome], out: Path, *, quick: bool, seed: int) -> str:
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>nqg reproduction report</title>",
        f"<style>{_CSS}</style></head><body><h1>nqg reproduction report</h1>",
        *(f"<p class='intro'>{_code_spans(esc(para))}</p>" for para in intro(quick)),
        f"<p>Setting: <b>{'quick' if quick else 'full'}</b>, seed {seed}. Versions: "
        + esc(", ".join(f"{k} {v}" for k, v in software_versions().items()))
        + "</p>",
    ]
    summary = "".join(
        f"<tr><td><a href='#{esc(o.name)}'>{esc(o.name)}</a></td>"
        f"<td class='{_css_class(o)}'>{esc(_status(o))}</td>"
        f"<td>{o.elapsed_s:.1f}</td></tr>"
        for o in outcomes
    )
    parts.append(f"<table><tr><th>experiment</th><th>status</th><th>time (s)</th></tr>{summary}</table>")
    for o in outcomes:
        parts.append(f"<h2 id='{esc(o.name)}'>{esc(o.name)}</h2>")
        if o.error is not None:
            parts.append(f"<p class='fail'>Failed: <code>{esc(o.error)}</code></p>")
            continue
        res = o.result
        assert res is not None
        parts.append(_table(comparison_rows(res), ["quantity", "ours", "reference", "source"]))
        if res.checks or res.full_setting_only:
            css = {"PASS": "pass", "FAIL": "fail", FULL_SETTING_ONLY: "full"}
            rows = "".join(
                f"<tr><td>{esc(r['check'])}</td><td class='{css[r['result']]}'>"
                f"{esc(r['result'])}</td><td>{esc(r['detail'])}</td></tr>"
                for r in check_rows(res)
            )
            parts.append(f"<table><tr><th>check</th><th>result</th><th>detail</th></tr>{rows}</table>")
        notes = _notes(res)
        if notes:
            parts.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
        for name, rows in res.tables.items():
            if name == "notes":
                continue
            cols = list(rows[0]) if rows else []
            parts.append(f"<details><summary>table: {esc(name)} ({len(rows)} rows)</summary>")
            parts.append(
                _table([{c: _short(r.get(c)) for c in cols} for r in rows[:200]], cols) + "</details>"
            )
        for fig in res.figures:
            path = out / o.name / fig
            if path.exists() and path.suffix.lower() == ".png":
                data = base64.b64encode(path.read_bytes()).decode("ascii")
                img = f"<img alt='{esc(fig)}' src='data:image/png;base64,{data}'>"
                parts.append(f"<figure>{img}<figcaption>{esc(fig)}</figcaption></figure>")
        params = esc(", ".join(f"{k}={v}" for k, v in res.params.items()))
        parts.append(f"<details><summary>parameters</summary><p><code>{params}</code></p></details>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _code_spans(escaped: str) -> str:
    """Markdown-style `code` spans of already escaped text as <code> elements."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    return "" if value is None else str(value)
