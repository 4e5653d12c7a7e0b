"""Put the build's executed notebooks on the site: one per chapter, and all of them in one zip.

Usage: ``python book/_ext/executed_notebooks.py _build [--html DIR] [--strip-solutions]``
(run by ``make book`` after the build, and by ``make book-student`` for the student edition, whose
copies lose their solution cells: ``--html _build/student/_build/html --strip-solutions``)

The book build executes every notebook through its execution cache (``_build/.jupyter_cache``),
which keeps each execution, outputs included. (The copies myst-nb writes to
``_build/jupyter_execute/`` have no outputs when they come from the cache.) This takes each
notebook's cached execution, merged into the notebook as the page shows it, and writes it

* over the page's source copy in ``_build/html/_sources/`` (what the page's download button
  serves), so "Download .ipynb" gives the notebook with its outputs: a reader on Colab or
  Binder sees the results before running a chapter that takes minutes;
* into ``_build/html/notebooks/`` and ``_build/html/notebooks.zip`` (linked from the "How to
  use this book" page).

It fails if a notebook of the book has no cached execution, or its execution has no outputs.
"""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from pathlib import Path

import nbformat
from jupyter_cache import get_cache
from student_edition import strip_solution_cells

ROOT = Path(__file__).resolve().parents[2]


def main(build: str, html_dir: str | None = None, strip: bool = False) -> int:
    build_dir = Path(build)
    cache = get_cache(build_dir / ".jupyter_cache")
    html = Path(html_dir) if html_dir else build_dir / "html"
    sources = sorted(p.relative_to(ROOT) for p in (ROOT / "book").glob("*.ipynb"))
    out_dir = html / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    problems, copied = [], []
    for rel in sources:
        try:
            _, merged = cache.merge_match_into_notebook(nbformat.read(ROOT / rel, as_version=4))
        except KeyError:
            problems.append(f"{rel}: no execution of this notebook in {build_dir}/.jupyter_cache")
            continue
        nb = json.loads(nbformat.writes(merged))
        n_out = sum(len(c.get("outputs", [])) for c in nb["cells"] if c["cell_type"] == "code")
        if n_out == 0:
            problems.append(f"{rel}: the executed copy has no outputs")
            continue
        if strip:
            strip_solution_cells(nb)
        text = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
        (out_dir / rel.name).write_text(text, encoding="utf-8")
        page_source = html / "_sources" / rel
        if page_source.parent.is_dir():
            page_source.write_text(text, encoding="utf-8")
        copied.append((rel, n_out))
    with zipfile.ZipFile(html / "notebooks.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        for rel, _ in copied:
            zf.write(out_dir / rel.name, f"sparsity-in-ml-notebooks/{rel.name}")
    for rel, n_out in copied:
        print(f"{rel}: {n_out} outputs")
    size = (html / "notebooks.zip").stat().st_size / 1e6
    print(f"{len(copied)} executed notebooks in {out_dir} and notebooks.zip ({size:.1f} MB)")
    for p in problems:
        print("FAIL:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build", nargs="?", default="_build")
    parser.add_argument("--html", default=None, help="site to write into (default BUILD/html)")
    parser.add_argument("--strip-solutions", action="store_true")
    args = parser.parse_args()
    sys.exit(main(args.build, args.html, args.strip_solutions))
