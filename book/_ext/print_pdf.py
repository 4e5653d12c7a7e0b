"""Print the whole book to one PDF with headless Chromium, and check the PDF (a CI stage).

Usage::

    python book/_ext/print_pdf.py _build/html _build/html/sparsity-in-ml.pdf
    python book/_ext/print_pdf.py --check _build/html/sparsity-in-ml.pdf

``make pdf`` joins the built site's pages, in the order of ``_toc.yml``, into one page
(``book/print.html``: the articles of all pages under one page's head, so styles, MathJax and
images work as on the site; Jupyter Book's own ``singlehtml`` builder cannot render myst-nb's
hidden-input cells) and prints it: MathJax renders the math first (offline, from ``_static``),
the navigation is hidden, every page starts a new sheet, and the footer carries page numbers.
The PDF goes next to the site and is linked from "How to use this book".

Chromium: ``/usr/bin/chromium`` (Debian's), or the executable named by ``$CHROMIUM``.

``--check`` (CI) fails unless the PDF has at least ``--min-pages`` pages, marks the start of
every page of ``_toc.yml`` (an invisible marker written before each page) with the page's title
(its source's first heading) on its first sheets, and, for each notebook chapter, holds at
least one of that chapter's own figures on its sheets. A figure is recognised by its pixel size
(``--site``: the PNGs of the chapter's cell outputs), because Chromium also rasterizes some
regions of a page into images of other sizes (pdftotext, pdfimages).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
# Written (1 px, white) at the start of every page of the book in the PDF, so that the check
# finds where each page begins without guessing from titles that other pages also mention.
MARKER = "@@print-page@@"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]
PRINT_CSS = """
.bd-header, .bd-sidebar-primary, .bd-sidebar-secondary, .header-article, .prev-next-area,
.bd-footer, .bd-footer-content, footer, .search-button, .theme-switch-button,
.sidebar-toggle, .headerbtn, .dropdown-download-buttons { display: none !important; }
.bd-main, .bd-content, .bd-article-container, .bd-page-width { max-width: 100% !important;
  width: 100% !important; padding: 0 !important; margin: 0 !important; }
section.print-page { break-before: page; }
p.print-marker { font-size: 1px; line-height: 1px; color: #fff; margin: 0; }
article h1, article h2 { display: block !important; visibility: visible !important; }
details { display: block; }
pre, .cell_output { white-space: pre-wrap; word-break: break-word; }
img { max-width: 100% !important; break-inside: avoid; }
"""


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for key in ("parts", "chapters", "sections"):
                walk(node.get(key))
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    return files


def title_of(docname: str) -> tuple[str, bool]:
    """First heading of a page's source, and whether the page is a notebook."""
    nb = ROOT / f"{docname}.ipynb"
    if nb.is_file():
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        is_nb = True
    else:
        text, is_nb = (ROOT / f"{docname}.md").read_text(encoding="utf-8"), False
    m = re.search(r"^# (.+)$", text, re.M)
    return (m.group(1).strip() if m else docname), is_nb


def join_pages(site: Path) -> str:
    """Write ``book/print.html``: every page's article, in reading order; return its path."""
    from bs4 import BeautifulSoup

    shell = None
    articles = []
    for doc in toc_files():
        page = site / f"{doc}.html"
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        article = soup.find("article")
        if article is None:
            raise SystemExit(f"{page} has no <article>")
        if Path(doc).parent != Path("book"):
            raise SystemExit(f"{doc}: pages outside book/ would break relative links")
        articles.append(f'<section class="print-page"><p class="print-marker">{MARKER}{doc}'
                        f'{MARKER}</p>{article.decode_contents()}</section>')
        if shell is None:
            shell = soup
    target = shell.find("article")
    target.clear()
    target.append(BeautifulSoup("\n".join(articles), "html.parser"))
    out = site / "book" / "print.html"
    out.write_text(str(shell), encoding="utf-8")
    return "book/print.html"


def print_pdf(site: Path, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    page_path = join_pages(site)

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/{page_path}"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"), args=CHROMIUM_ARGS
            )
            page = browser.new_page()
            page.goto(url, wait_until="load", timeout=120_000)
            page.add_style_tag(content=PRINT_CSS)
            page.evaluate("""async () => {
              document.querySelectorAll('details').forEach((d) => { d.open = true; });
              document.querySelectorAll('img').forEach((i) => { i.loading = 'eager'; });
              if (window.MathJax && MathJax.startup) { await MathJax.startup.promise; }
            }""")
            page.wait_for_load_state("networkidle")
            page.emulate_media(media="print")
            out.parent.mkdir(parents=True, exist_ok=True)
            page.pdf(path=str(out), format="A4", print_background=True,
                     margin={"top": "16mm", "bottom": "18mm", "left": "14mm", "right": "14mm"},
                     display_header_footer=True, header_template="<span></span>",
                     footer_template='<div style="font-size:8px;width:100%;text-align:center">'
                     '<span class="pageNumber"></span> / <span class="totalPages"></span></div>')
            browser.close()
    finally:
        server.shutdown()
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")


def page_texts(pdf: Path) -> list[str]:
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    return [" ".join(p.split()) for p in text.split("\f")]


def images_on(pdf: Path, first: int, last: int) -> list[tuple[int, int]]:
    """(width, height) in pixels of every image ``pdfimages`` finds on pages first..last."""
    out = subprocess.run(["pdfimages", "-list", "-f", str(first), "-l", str(last), str(pdf)],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    sizes = []
    for line in out[2:]:  # two header lines
        cols = line.split()
        if len(cols) > 4 and cols[3].isdigit() and cols[4].isdigit():
            sizes.append((int(cols[3]), int(cols[4])))
    return sizes


def figure_sizes(site: Path, doc: str) -> set[tuple[int, int]]:
    """(width, height) of the PNG figures a notebook page shows in its cell outputs.

    Chromium embeds a PNG at its own pixel size, while the regions it rasterizes itself have
    other sizes: matching the sizes tells the chapter's figures from those.
    """
    from bs4 import BeautifulSoup

    page = site / f"{doc}.html"
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    sizes = set()
    for img in soup.select(".cell_output img"):
        src = (page.parent / img.get("src", "")).resolve()
        if src.suffix.lower() == ".png" and src.is_file():
            head = src.read_bytes()[:24]
            sizes.add((int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")))
    return sizes


def check(pdf: Path, min_pages: int, site: Path | None = None) -> int:
    pages = page_texts(pdf)
    if pages and not pages[-1]:
        pages = pages[:-1]
    problems = []
    if len(pages) < min_pages:
        problems.append(f"{len(pages)} pages, expected at least {min_pages}")
    found = []
    for doc in toc_files():
        title, is_nb = title_of(doc)
        norm = " ".join(title.replace("*", "").split())
        at = next((i for i, text in enumerate(pages) if f"{MARKER}{doc}{MARKER}" in
                   text.replace(" ", "")), None)
        if at is None:
            problems.append(f"the start of {doc} is not marked in the PDF")
        elif not any(norm in text for text in pages[at:at + 2]):
            problems.append(f"the title of {doc} ({title!r}) is not on its first pages")
        found.append((doc, norm, is_nb, at))
    starts = sorted(at for *_, at in found if at is not None)
    for doc, norm, is_nb, at in found:
        if not is_nb or at is None:
            continue
        later = [s for s in starts if s > at]
        end = (later[0] - 1) if later else len(pages) - 1
        wanted = figure_sizes(site, doc) if site is not None else set()
        found_sizes = images_on(pdf, at + 1, end + 1)
        n = sum(size in wanted for size in found_sizes) if site is not None else len(found_sizes)
        print(f"{doc}: '{norm}' on page {at + 1}, pages {at + 1}-{end + 1}, {n} of its "
              f"{len(wanted)} figure(s) found among {len(found_sizes)} images")
        if n == 0:
            problems.append(f"none of {doc}'s figures between its title (page {at + 1}) and "
                            f"page {end + 1}")
    print(f"{pdf}: {len(pages)} pages")
    for p in problems:
        print("FAIL:", p)
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="SITE OUT to print, or PDF with --check")
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--min-pages", type=int, default=50)
    parser.add_argument("--site", type=Path, default=None,
                        help="the built site: match each chapter's figures by pixel size")
    args = parser.parse_args()
    if args.check:
        return check(Path(args.paths[0]), args.min_pages, args.site)
    print_pdf(Path(args.paths[0]), Path(args.paths[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
