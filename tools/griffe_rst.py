"""A griffe extension for the documentation site (mkdocs.yml loads it): the reStructuredText that
wsfast's docstrings use, turned into the Markdown that mkdocstrings renders.

The docstrings are Google style, but some carry Sphinx cross-reference roles, code blocks and
simple tables, which Markdown would show as written (``:class:`` before the name, rows of ``=``):

- ``:class:`~wsfast.asyncio.connection.Connection``` becomes ```Connection``` (the last part,
  as Sphinx shows ``~``), ``:func:`install``` becomes ```install``` (any role);
- ``.. code-block:: LANG`` and a paragraph ending in ``::`` become fenced code blocks;
- a simple table (rows between lines of ``=`` runs) becomes a Markdown table.

Only the text that griffe gives mkdocstrings changes; the source files stay as they are.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|data|attr|exc|obj|const|type):`(~?)([^`]+)`")
_DIRECTIVE = re.compile(r"^(\s*)\.\. code-block::\s*(\w*)\s*$")
_BORDER = re.compile(r"^\s*=+(\s+=+)+\s*$")


def _role(match: re.Match[str]) -> str:
    target = match.group(2)
    if match.group(1):
        target = target.rsplit(".", 1)[-1]
    return f"`{target}`"


def _indented_block(lines: list[str], start: int, indent: int) -> int:
    """The index after the block indented deeper than ``indent`` that starts at ``start`` (blank
    lines inside it included, trailing ones not)."""
    end = start
    index = start
    while index < len(lines):
        line = lines[index]
        if line.strip():
            if len(line) - len(line.lstrip()) <= indent:
                break
            end = index + 1
        index += 1
    return end


def _fence(block: list[str], language: str, indent: str) -> list[str]:
    code = textwrap.dedent("\n".join(block)).strip("\n").splitlines()
    return [f"{indent}```{language}", *(indent + line if line else "" for line in code), f"{indent}```"]


def _table(lines: list[str]) -> list[str]:
    """A reST simple table (border, rows, border) as a Markdown table without a header row."""
    border = lines[0]
    columns = [(match.start(), match.end()) for match in re.finditer(r"=+", border)]
    rows: list[list[str]] = []
    heading: list[str] | None = None
    for line in lines[1:-1]:
        if not line.strip():
            continue
        if _BORDER.match(line):  # the rule under a header row
            if len(rows) == 1 and heading is None:
                heading = rows.pop()
            continue
        cells = []
        for number, (start, end) in enumerate(columns):
            stop = columns[number + 1][0] if number + 1 < len(columns) else len(line)
            cells.append(line[start:stop].strip())
        if cells[0] or not rows:
            rows.append(cells)
        else:  # a continuation line: its text joins the row above
            rows[-1] = [f"{above} {more}".strip() for above, more in zip(rows[-1], cells)]
    header = "| " + " | ".join(heading if heading is not None else [" " for _ in columns]) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    return [header, rule, *("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows)]


def markdown(text: str) -> str:
    """``text`` with its reST roles, code blocks and simple tables turned into Markdown."""
    lines = _ROLE.sub(_role, text).splitlines()
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        directive = _DIRECTIVE.match(line)
        if directive is not None:
            indent = directive.group(1)
            end = _indented_block(lines, index + 1, len(indent))
            out += _fence(lines[index + 1:end], directive.group(2), indent)
            index = end
            continue
        if line.rstrip().endswith("::") and not line.lstrip().startswith(".."):
            indent = len(line) - len(line.lstrip())
            end = _indented_block(lines, index + 1, indent)
            if end > index + 1:
                stripped = line.rstrip()[:-2].rstrip()
                if stripped.strip():
                    out.append(stripped + ":")
                out.append("")
                out += _fence(lines[index + 1:end], "python", " " * indent)
                index = end
                continue
        if _BORDER.match(line):
            closing = next((number for number in range(index + 1, len(lines)) if _BORDER.match(lines[number])
                            and (number + 1 >= len(lines) or not lines[number + 1].strip())), None)  # fmt: skip
            if closing is not None:
                out += _table(lines[index:closing + 1])
                index = closing + 1
                continue
        out.append(line)
        index += 1
    return "\n".join(out)


class RestToMarkdown(griffe.Extension):
    """Rewrites each object's docstring as it is loaded (statically or by inspection)."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
