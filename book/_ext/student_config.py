"""Write the Jupyter Book configuration of the student edition to stdout.

Usage: ``python book/_ext/student_config.py > _build/student_config.yml`` (``make book-student``)

It is ``_config.yml`` with: the title marked "student edition", the ``student_edition``
extension (removes every solution, code cells of gated solutions included; see there why not
sphinx-exercise's ``hide_solutions``), and the notebook
execution cache of the full edition (``_build/.jupyter_cache``), so the student edition
executes nothing the full edition already executed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def student_config() -> dict:
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    config["title"] = f"{config['title']} (student edition)"
    config.setdefault("execute", {})["cache"] = str(ROOT / "_build" / ".jupyter_cache")
    sphinx = config.setdefault("sphinx", {})
    sphinx.setdefault("local_extensions", {})["student_edition"] = str(ROOT / "book" / "_ext")
    # Not sphinx-exercise's hide_solutions: it would drop the solution-start directives before
    # the gated solutions are merged, and leave their code cells on the page.
    return config


if __name__ == "__main__":
    yaml.safe_dump(student_config(), sys.stdout, sort_keys=False, allow_unicode=True)
