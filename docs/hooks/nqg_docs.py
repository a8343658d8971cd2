"""MkDocs hooks of the nqg site.

- ``<!-- nqg:experiments-table -->`` in a page becomes the table of experiments, read from the registry
  (name, what it does, reference, measured full-setting time), so the page cannot drift from ``nqg list``.
- Maths written as ``$...$`` or ``$$...$$`` (kept verbatim by ``pymdownx.arithmatex``) is converted to
  MathML at build time with latex2mathml, so formulas render in any current browser without JavaScript
  or a network connection.
"""

from __future__ import annotations

import html
import re

from latex2mathml.converter import convert

TABLE_MARKER = "<!-- nqg:experiments-table -->"
_INLINE = re.compile(r'<span class="arithmatex">\\\((.+?)\\\)</span>', re.S)
_BLOCK = re.compile(r'<div class="arithmatex">\\\[(.+?)\\\]</div>', re.S)


def _experiments_table() -> str:
    from nqg.experiments import registry
    from nqg.spec import format_duration

    rows = ["| experiment | what it does | reference | full setting (2 CPU cores) |", "|---|---|---|---|"]
    for exp in registry().values():
        ref, took = exp.reference or "-", format_duration(exp.full_time_s)
        rows.append(f"| `{exp.name}` | {exp.description} | {ref} | {took} |")
    return "\n".join(rows)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if TABLE_MARKER in markdown:
        markdown = markdown.replace(TABLE_MARKER, _experiments_table())
    return markdown


def _mathml(tex: str, display: str) -> str:
    return convert(html.unescape(tex).strip(), display=display)


def on_page_content(html_text: str, page, config, files) -> str:
    block = _BLOCK.sub(lambda m: f'<div class="arithmatex">{_mathml(m.group(1), "block")}</div>', html_text)
    return _INLINE.sub(lambda m: f'<span class="arithmatex">{_mathml(m.group(1), "inline")}</span>', block)
