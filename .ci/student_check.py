"""The student edition has every exercise and no solution, code cells of solutions included.

Usage: ``python .ci/student_check.py _build/html _build/student/_build/html``

For each page of the full edition, collects the solutions (sphinx-exercise's ``div.solution``):
their count, and each line of their text (code and prose) longer than 25 characters that does
not also appear on the page outside the solutions. The same
page of the student edition must then have no ``solution`` element, none of those lines, and
as many exercises (``div.exercise``) as the full edition; the notebooks it serves (every
``.ipynb`` of the site, and ``notebooks.zip``) must have no solution cells. Fails if the full
edition has no solution at all (then nothing was checked).
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

from bs4 import BeautifulSoup


def _is_solution(tag) -> bool:
    return tag.name == "div" and "solution" in (tag.get("class") or [])


def _is_exercise(tag) -> bool:
    return tag.name == "div" and "exercise" in (tag.get("class") or [])


def _text(soup: BeautifulSoup) -> str:
    main = soup.find("main") or soup
    return " ".join(main.get_text(" ").split())


def main(full_dir: str, student_dir: str) -> int:
    full, student = Path(full_dir), Path(student_dir)
    problems, n_solutions, n_lines, n_pages = [], 0, 0, 0
    for page in sorted(full.rglob("*.html")):
        rel = page.relative_to(full)
        if rel.parts[0].startswith("_"):
            continue
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        solutions = soup.find_all(_is_solution)
        exercises = len(soup.find_all(_is_exercise))
        if not solutions and not exercises:
            continue
        other = student / rel
        if not other.is_file():
            problems.append(f"{rel}: missing from the student edition")
            continue
        n_pages += 1
        lines = {
            " ".join(line.split())
            for sol in solutions
            for line in sol.get_text("\n").splitlines()
            if len(line.strip()) > 25
        }
        # Only text that is the solution's own: not also elsewhere on the full page (an
        # identifier named in the exercise, an import the page makes anyway).
        for sol in solutions:
            sol.decompose()
        rest = _text(soup)
        lines = {line for line in lines if line not in rest}
        n_solutions += len(solutions)
        n_lines += len(lines)
        ssoup = BeautifulSoup(other.read_text(encoding="utf-8"), "html.parser")
        left = ssoup.find_all(_is_solution)
        if left:
            problems.append(f"{rel}: {len(left)} solution element(s) in the student edition")
        text = _text(ssoup)
        leaked = sorted(line for line in lines if line in text)
        if leaked:
            problems.append(f"{rel}: solution text in the student edition, e.g. {leaked[:3]}")
        s_exercises = len(ssoup.find_all(_is_exercise))
        if s_exercises != exercises:
            problems.append(f"{rel}: {s_exercises} exercises in the student edition, "
                            f"{exercises} in the full one")
        print(f"{rel}: {exercises} exercises, {len(solutions)} solutions "
              f"({len(lines)} lines of text) removed")
    # The download button's notebooks (_sources/) must have lost their solution cells too.
    n_sources = 0
    for nb in sorted(student.rglob("*.ipynb")):
        n_sources += 1
        if "{solution-start}" in nb.read_text(encoding="utf-8"):
            problems.append(f"{nb.relative_to(student)}: solution cells in the downloadable copy")
    if (student / "notebooks.zip").is_file():
        with zipfile.ZipFile(student / "notebooks.zip") as zf:
            for name in zf.namelist():
                n_sources += 1
                if b"{solution-start}" in zf.read(name):
                    problems.append(f"notebooks.zip/{name}: solution cells in the zip")
    print(f"{n_pages} pages with exercises; {n_solutions} solutions, {n_lines} lines checked; "
          f"{n_sources} downloadable notebooks without solution cells")
    if n_solutions == 0:
        problems.append("the full edition has no solution: nothing was checked")
    for p in problems:
        print("FAIL:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
