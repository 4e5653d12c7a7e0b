"""Sphinx extension of the student edition: every exercise solution removed from the pages.

sphinx-exercise's own ``hide_solutions`` drops the ``solution`` and ``solution-start``
directives, but with gated solutions (``solution-start`` ... ``solution-end``, how a notebook
wraps solution *code cells*) the cells in between stay on the page, code and output. This
transform runs after sphinx-exercise has merged each gated solution into one ``solution_node``
(its MergeGatedSolutions transform, priority 10) and removes every solution node, gated or not.

The page's download button serves the notebook from ``_sources/``; at the end of the build the
solution cells (``solution-start`` ... ``solution-end``, and cells that are a ``solution``
directive) are removed from those copies too.

Used by ``make book-student`` through the configuration that ``student_config.py`` writes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.transforms import SphinxTransform
from sphinx_exercise.nodes import solution_node


class RemoveSolutions(SphinxTransform):
    default_priority = 11  # after sphinx-exercise merges gated solutions (priority 10)

    def apply(self) -> None:
        for node in list(self.document.findall(solution_node)):
            node.parent.remove(node)


_SOLUTION = re.compile(r"^\s*(```|:::)\{solution\}")


def strip_solution_cells(nb: dict) -> int:
    """Remove solution cells from a notebook (in place); return how many were removed."""
    kept, inside, removed = [], False, 0
    for cell in nb["cells"]:
        text = "".join(cell["source"]) if cell["cell_type"] == "markdown" else ""
        if "{solution-start}" in text:
            inside = True
        if inside or _SOLUTION.match(text):
            removed += 1
        else:
            kept.append(cell)
        if "{solution-end}" in text:
            inside = False
    nb["cells"] = kept
    return removed


def _strip_sources(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None:
        return
    for path in Path(app.outdir, "_sources").rglob("*.ipynb"):
        nb = json.loads(path.read_text(encoding="utf-8"))
        if strip_solution_cells(nb):
            path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n",
                            encoding="utf-8")


def setup(app: Sphinx) -> dict:
    app.add_transform(RemoveSolutions)
    app.connect("build-finished", _strip_sources)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
