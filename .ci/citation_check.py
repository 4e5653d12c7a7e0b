"""One version everywhere, and the citation metadata agree.

Usage: ``python .ci/citation_check.py [SITE_DIR]``

Checks that ``sparsecourse.__version__`` (the package, hence the wheel), ``CITATION.cff``'s
``version``, the site footer (``_config.yml``), the BibTeX entry of ``book/index.md`` and, given
the built site, its ``index.html`` (footer and BibTeX) all carry the same version; that the BibTeX
entry's title and url are CITATION.cff's. CITATION.cff's schema is checked separately, by
cffconvert (``.ci/run``).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def package_version() -> str:
    text = (ROOT / "sparsecourse" / "__init__.py").read_text(encoding="utf-8")
    return re.search(r'^__version__ = "([^"]+)"', text, re.M).group(1)


def bibtex_field(block: str, name: str) -> str | None:
    m = re.search(rf"^\s*{name}\s*=\s*\{{(.*)\}},?\s*$", block, re.M)
    return m.group(1) if m else None


def main(site: str | None) -> int:
    version = package_version()
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    index = (ROOT / "book" / "index.md").read_text(encoding="utf-8")
    m = re.search(r"```bibtex\n(.*?)```", index, re.S)
    problems = []
    if m is None:
        problems.append("book/index.md has no ```bibtex block")
        block = ""
    else:
        block = m.group(1)
    found = {
        "CITATION.cff version": str(cff.get("version")),
        "site footer (_config.yml html.extra_footer)": (
            re.search(r"Version (\d+(?:\.\d+)*)", config["html"]["extra_footer"]) or [None, None]
        )[1],
        "BibTeX version (book/index.md)": bibtex_field(block, "version"),
        "'Version ...' line of book/index.md": (
            re.search(r"^Version (\d+(?:\.\d+)*)", index, re.M) or [None, None]
        )[1],
    }
    for where, value in found.items():
        if value != version:
            problems.append(f"{where} is {value!r}, sparsecourse.__version__ is {version!r}")
    if bibtex_field(block, "title") != cff.get("title"):
        problems.append(f"BibTeX title {bibtex_field(block, 'title')!r} != CITATION.cff title")
    if bibtex_field(block, "url") != cff.get("url"):
        problems.append(f"BibTeX url {bibtex_field(block, 'url')!r} != CITATION.cff url")
    if site:
        html = (Path(site) / "book" / "index.html").read_text(encoding="utf-8")
        text = re.sub(r"<[^>]+>", "", html)
        if "@book{sparsity_in_ml" not in text:
            problems.append(f"{site}/book/index.html shows no BibTeX entry")
        if f"Version {version}." not in text:
            problems.append(f"{site}/book/index.html does not show 'Version {version}.'")
    print(f"version {version}: package, CITATION.cff, footer, index page and BibTeX"
          + (f", built {site}" if site else ""))
    for p in problems:
        print("FAIL:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else None))
