"""The notebooks read as a course text on the page: code fits the column, cells stay short.

The rendered page shows about 88 characters of code before a scroll bar hides the rest, and a
code cell of more than about 30 lines buries the few lines that matter; both limits are checked
on every notebook under ``book/`` (markdown cells are prose and are not checked here).
"""

from __future__ import annotations

import json
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT / "book").rglob("*.ipynb")
                   if ".ipynb_checkpoints" not in p.parts)
MAX_LINE = 88  # characters of code visible in the page column
MAX_CELL = 35  # lines of one code cell ("about 30")


def _code_cells(path):
    nb = json.loads(path.read_text())
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            yield i, "".join(cell["source"]).splitlines()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_code_lines_fit_the_page_column(path):
    long = [f"cell {i} line {j + 1} ({len(line)} chars)"
            for i, lines in _code_cells(path) for j, line in enumerate(lines)
            if len(line) > MAX_LINE]
    assert not long, f"{path.name}: code lines over {MAX_LINE} characters: {long}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_code_cells_are_short(path):
    big = [f"cell {i} ({len(lines)} lines)" for i, lines in _code_cells(path)
           if len(lines) > MAX_CELL]
    assert not big, f"{path.name}: code cells over {MAX_CELL} lines: {big}"


def test_the_checks_see_a_long_line_and_a_long_cell(tmp_path):
    nb = {"cells": [{"cell_type": "code", "source": ["x = 1\n" * (MAX_CELL + 1)]},
                    {"cell_type": "code", "source": ["y = " + "1 + " * 30 + "1"]},
                    {"cell_type": "markdown", "source": ["z" * 200]}]}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb))
    with pytest.raises(AssertionError, match="cell 1 line 1"):
        test_code_lines_fit_the_page_column(path)
    with pytest.raises(AssertionError, match=r"cell 0 \(36 lines\)"):
        test_code_cells_are_short(path)
