"""Documentation that runs: the site builds with ``--strict``, and every example in it works.

- The site is built once per session with ``mkdocs build --strict`` (a broken link, a missing page or an
  unresolvable API reference fails the suite); the built index page and a package page are parsed for
  their headings and at least one rendered (MathML) formula.
- Every fenced ``python`` block of README.md and of each page under docs/ is executed, in order, page by
  page, in one namespace per page (cwd: a temporary folder with ``src`` linked, so the examples' relative
  paths resolve and what they write lands there). A block preceded by ``<!-- docs-test: slow -->`` is
  deliberately long: the page runs without it here and with it under ``-m slow``.
- Every documented ``nqg ...`` command line (in ``bash`` blocks) is *parsed and validated* by the real
  command tree: the subcommands must exist and every option must exist and take a value of the right type
  (a missing input file named as a placeholder, such as ``DATA.csv``, is accepted). ``nqg list`` and any
  ``--help`` line are *executed*. The experiments' quick runs are executed by the experiment tests.

The counts are printed at the end of the test run (see tests/conftest.py).
"""

from __future__ import annotations

import html.parser
import importlib
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
SLOW_MARK = "<!-- docs-test: slow -->"
FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```\s*$", re.M | re.S)


def doc_pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]


def blocks(page: Path, language: str) -> list[tuple[str, bool]]:
    """The fenced blocks of ``language`` in ``page``: (code, marked slow)."""
    text = page.read_text()
    out = []
    for m in FENCE.finditer(text):
        if m.group(1) != language:
            continue
        before = text[: m.start()].rstrip().splitlines()
        out.append((m.group(2), bool(before) and before[-1].strip() == SLOW_MARK))
    return out


PY_PAGES = [p for p in doc_pages() if blocks(p, "python")]


def _page_id(p: Path) -> str:
    return str(p.relative_to(ROOT))


def _run_page(page: Path, include_slow: bool, tmp_path: Path, monkeypatch, counter) -> None:
    (tmp_path / "src").symlink_to(ROOT / "src")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    for i, (code, slow) in enumerate(blocks(page, "python")):
        if slow and not include_slow:
            continue
        try:
            exec(compile(code, f"{_page_id(page)}[python block {i + 1}]", "exec"), namespace)
        except Exception as exc:  # name the page and block in the failure
            raise AssertionError(f"{_page_id(page)}, python block {i + 1} failed: {exc!r}\n{code}") from exc
        counter["python_blocks"] += 1
    counter["pages"] += 1


@pytest.mark.parametrize("page", PY_PAGES, ids=_page_id)
def test_python_examples_run(page, tmp_path, monkeypatch, doc_example_counter):
    _run_page(page, False, tmp_path, monkeypatch, doc_example_counter)


SLOW_PAGES = [p for p in PY_PAGES if any(slow for _, slow in blocks(p, "python"))]


@pytest.mark.slow
@pytest.mark.parametrize("page", SLOW_PAGES, ids=_page_id)
def test_python_examples_run_with_long_blocks(page, tmp_path, monkeypatch, doc_example_counter):
    _run_page(page, True, tmp_path, monkeypatch, doc_example_counter)


# ------------------------------------------------------------------------------------------ command lines


def command_lines() -> list[tuple[str, list[str]]]:
    """(page, argv after ``nqg``) for every documented ``nqg`` line, continuations joined."""
    found = []
    for page in doc_pages():
        for code, _ in blocks(page, "bash"):
            text = code.replace("\\\n", " ")
            for line in text.splitlines():
                words = shlex.split(line, comments=True)
                while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", words[0]):
                    words = words[1:]  # NQG_PRECISION=float32 nqg ...
                if words and words[0] in ("srun", "mpirun", "mpiexec") and "nqg" in words:
                    words = words[words.index("nqg") :]  # a cluster launcher: srun nqg --distributed ...
                if words and words[0] == "nqg":
                    found.append((_page_id(page), words[1:]))
    return found


def _root_command():
    from nqg.cli import app

    return typer.main.get_command(app)


# typer ships its own copy of click: take the exception classes from the module its commands come from
_CLICK = type(_root_command()).__mro__[2].__module__.rsplit(".", 1)[0]  # "typer._click" or "click"
click_exceptions = importlib.import_module(f"{_CLICK}.exceptions")


def validate_command(args: list[str]) -> None:
    """Resolve ``nqg ARGS`` down the click command tree and parse every option, without running it."""
    cmd = _root_command()
    ctx = cmd.make_context("nqg", list(args), resilient_parsing=False)
    while hasattr(cmd, "resolve_command"):  # a group: descend into the subcommand
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
        if not rest:
            return
        name, sub, rest = cmd.resolve_command(ctx, rest)
        ctx = sub.make_context(name, rest, parent=ctx)
        cmd = sub


def _placeholder_file(exc) -> bool:
    return "does not exist" in exc.format_message()


@pytest.mark.parametrize(("page", "args"), command_lines(), ids=lambda v: v if isinstance(v, str) else None)
def test_documented_command_lines_parse(page, args, doc_example_counter):
    try:
        validate_command(args)
    except click_exceptions.BadParameter as exc:
        if not _placeholder_file(exc):
            raise AssertionError(f"{page}: `nqg {' '.join(args)}`: {exc.format_message()}") from exc
    except click_exceptions.UsageError as exc:
        raise AssertionError(f"{page}: `nqg {' '.join(args)}`: {exc.format_message()}") from exc
    doc_example_counter["commands_validated"] += 1
    if args in (["list"],) or "--help" in args:
        from nqg.cli import app

        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        doc_example_counter["commands_executed"] += 1


def test_command_validation_catches_a_wrong_option():
    with pytest.raises(click_exceptions.UsageError):
        validate_command(["run", "ads-schwarzschild", "--no-such-option"])
    with pytest.raises(click_exceptions.UsageError):
        validate_command(["fields", "correlators", "--width", "ten"])
    with pytest.raises(click_exceptions.UsageError):
        validate_command(["no-such-group", "x"])


# ------------------------------------------------------------------------------------------------ the site


class _Headings(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.headings: list[str] = []
        self.math = 0
        self._in: str | None = None

    def handle_starttag(self, tag, attrs):
        if tag in ("h1", "h2"):
            self._in = tag
            self.headings.append("")
        if tag == "math":
            self.math += 1

    def handle_endtag(self, tag):
        if tag == self._in:
            self._in = None

    def handle_data(self, data):
        if self._in:
            self.headings[-1] += data


@pytest.fixture(scope="session")
def built_site(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return site


def _parse(path: Path) -> _Headings:
    parser = _Headings()
    parser.feed(path.read_text())
    return parser


def test_site_builds_strict_and_renders(built_site):
    index = _parse(built_site / "index.html")
    assert any("nqg: neural networks, quantum systems and gravity" in h for h in index.headings)
    assert index.math >= 1, "no rendered (MathML) formula on the index page"
    gravity = _parse(built_site / "gravity" / "index.html")
    assert any(h.startswith("Gravity") for h in gravity.headings)
    api = (built_site / "api" / "gravity" / "index.html").read_text()
    assert "DiscreteBulkNetwork" in api, "the API reference did not render the gravity docstrings"
    experiments = (built_site / "experiments" / "index.html").read_text()
    from nqg.experiments import registry

    for name in registry():
        assert f"<code>{name}</code>" in experiments, f"{name} missing from the experiments page"
