"""Headless-browser check of the built book.

Usage::

    .venv/bin/python .ci/browser_check.py _build/html

Serves the built site on 127.0.0.1 and opens, in Debian's Chromium driven by Playwright, every
page listed in ``_toc.yml`` (root, parts, chapters, sections; new chapters are picked up
automatically), plus the root redirect and the search page. A page fails on:

* an HTTP error: the page itself, or any request it makes to the local server, answering >= 400,
  or a local request that fails outright;
* any request to another host. The book must work offline (an air-gapped classroom, CI without
  network): MathJax, fonts and scripts have to come from ``_static/``. Such requests are blocked
  (so the page is checked as an offline reader sees it) and reported as failures;
* a console error or an uncaught exception, unless it matches an entry of ``ALLOWED_CONSOLE``
  (named, each with the reason it is harmless);
* math that MathJax did not render: raw TeX delimiters or any literal ``$`` left in the page
  text (outside code and cell outputs: a ``$$`` block broken by a list item, or a ``+`` that
  starts a wrapped line inside ``$...$`` and becomes a bullet, leaves its dollars on the page), a
  Sphinx ``span.math``/``div.math`` without an ``mjx-container``, or a MathJax TeX error;
* a broken image (it loaded but cannot be decoded, or never finished loading);
* on notebook pages (source ``.ipynb``): a missing Binder or Colab launch link, or one that does
  not point at this page's notebook in the repository named in ``_config.yml``;
* a search for ``sparsity`` on ``search.html`` that finds nothing;
* an accessibility violation of impact "serious" or "critical" found by axe-core (bundled by
  axe-playwright-python, so it runs offline), in light mode and again in dark mode;
* a page that does not switch to dark mode (the reader's choice, stored by the theme in
  localStorage, applied on reload: the page background must turn dark).

A full-page screenshot of each page, light and dark, goes to ``.ci/screenshots/`` for a person
to look at.
Exit status: 0 all passed, 1 some check failed, 2 the check could not run (no site, no browser).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import re
import shutil
import socketserver
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Request,
    Response,
    Route,
    sync_playwright,
)
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

REPO_ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    # Without these Chromium phones home (component updates, variations, sync...) and, on a
    # closed network, its connections get refused en masse.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 900}
SOURCE_SUFFIXES = (".ipynb", ".md", ".rst")
# Raw TeX left in the prose: MathJax delimiters, any literal dollar sign (a broken $...$ or $$
# block shows its dollars as text), or a LaTeX environment. Code and cell outputs are skipped.
RAW_TEX = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$|\\begin\{")
MAX_SHOWN = 5  # at most this many examples per kind of problem


# --------------------------------------------------------------------------------------------
# Known-harmless console messages. Each entry is matched narrowly: the kind of event, the full
# message, and (where the browser tells) the script or resource that produced it.
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Allowed:
    name: str
    kind: str  # "console" (console.error / resource errors) or "pageerror" (uncaught exception)
    message: re.Pattern[str]  # must match the whole message
    source: re.Pattern[str] | None = None  # must match the whole source URL path, if given
    why: str = ""


ALLOWED_CONSOLE: tuple[Allowed, ...] = (
    Allowed(
        name="pydata-theme-first-visit",
        kind="console",
        message=re.compile(r"Got invalid theme mode: (|null|undefined)\. Resetting to auto\."),
        source=re.compile(r"/_static/scripts/pydata-sphinx-theme\.js"),
        why=(
            "pydata-sphinx-theme 0.17 reads the light/dark mode from localStorage; on a first "
            "visit there is none, it logs this with console.error and falls back to 'auto'."
        ),
    ),
    Allowed(
        name="sphinx-thebe-duplicate-config",
        kind="pageerror",
        message=re.compile(r"(SyntaxError: )?Identifier 'THEBE_JS_URL' has already been declared"),
        why=(
            "sphinx-thebe 0.3.1 (pinned by jupyter-book 1.0.4) adds its inline config script "
            "(`const THEBE_JS_URL = ...`) twice under Sphinx 7.4; the second copy fails to "
            "redeclare the constant, the first one already defined identical values, so thebe "
            "still works. Upstream bug, reproduced with a minimal one-page jupyter-book."
        ),
    ),
    Allowed(
        name="host-root-favicon",
        kind="console",
        message=re.compile(
            r"Failed to load resource: the server responded with a status of 404 .*"
        ),
        source=re.compile(r"/favicon\.ico"),
        why=(
            "Chromium asks for /favicon.ico at the server root on its own. The book sets no "
            "favicon, and on GitHub Pages it lives under /sparsity-in-ml/, so the host root is "
            "not the book's; the page itself never requests it."
        ),
    ),
)


def allowed_by(kind: str, message: str, source_url: str | None) -> Allowed | None:
    source_path = urlsplit(source_url).path if source_url else None
    for entry in ALLOWED_CONSOLE:
        if entry.kind != kind or not entry.message.fullmatch(message):
            continue
        if entry.source is not None and (
            source_path is None or not entry.source.fullmatch(source_path)
        ):
            continue
        return entry
    return None


# --------------------------------------------------------------------------------------------
# Pages to check
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BookPage:
    docname: str  # "book/00_introduction"
    source: Path | None  # the source file, None if not found

    @property
    def html(self) -> str:
        return f"{self.docname}.html"

    @property
    def is_notebook(self) -> bool:
        return self.source is not None and self.source.suffix == ".ipynb"


def _strip_suffix(name: str) -> str:
    for suffix in SOURCE_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _toc_docnames(node: Any, toc_dir: Path) -> Iterator[str]:
    """Every document of a jb-book / jb-article ToC, in reading order."""
    if isinstance(node, list):
        for item in node:
            yield from _toc_docnames(item, toc_dir)
    elif isinstance(node, dict):
        for key in ("root", "file"):
            if isinstance(node.get(key), str):
                yield _strip_suffix(node[key])
        if isinstance(node.get("glob"), str):
            matches = sorted(p for p in toc_dir.glob(node["glob"]) if p.suffix in SOURCE_SUFFIXES)
            for match in matches:
                yield match.relative_to(toc_dir).with_suffix("").as_posix()
        for key in ("parts", "chapters", "sections", "subtrees", "entries"):
            if key in node:
                yield from _toc_docnames(node[key], toc_dir)


def read_toc(toc_path: Path) -> list[BookPage]:
    toc = yaml.safe_load(toc_path.read_text(encoding="utf-8"))
    toc_dir = toc_path.parent
    pages: list[BookPage] = []
    seen: set[str] = set()
    for docname in _toc_docnames(toc, toc_dir):
        if docname in seen:
            continue
        seen.add(docname)
        sources = [toc_dir / f"{docname}{s}" for s in SOURCE_SUFFIXES]
        source = next((s for s in sources if s.is_file()), None)
        pages.append(BookPage(docname, source))
    return pages


@dataclass(frozen=True)
class LaunchConfig:
    """What the launch links must point to, from _config.yml."""

    org_repo: str  # "sparsity-in-ml/sparsity-in-ml"
    branch: str
    path_to_book: str
    binderhub_url: str
    colab_url: str

    @classmethod
    def from_config(cls, config_path: Path) -> LaunchConfig:
        config = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
        repo = config.get("repository") or {}
        launch = config.get("launch_buttons") or {}
        url = str(repo.get("url", "")).rstrip("/")
        org_repo = "/".join(urlsplit(url).path.strip("/").split("/")[:2])
        return cls(
            org_repo=org_repo,
            branch=str(repo.get("branch", "main")),
            path_to_book=str(repo.get("path_to_book", "") or "").strip("/"),
            binderhub_url=str(launch.get("binderhub_url", "https://mybinder.org")).rstrip("/"),
            colab_url=str(launch.get("colab_url", "https://colab.research.google.com")).rstrip("/"),
        )

    def notebook_path(self, page: BookPage) -> str:
        name = f"{page.docname}.ipynb"
        return f"{self.path_to_book}/{name}" if self.path_to_book else name

    def binder_prefix(self) -> str:
        return f"{self.binderhub_url}/v2/gh/{self.org_repo}/{self.branch}?"

    def colab_href(self, page: BookPage) -> str:
        return f"{self.colab_url}/github/{self.org_repo}/blob/{self.branch}/" + (
            self.notebook_path(page)
        )


# --------------------------------------------------------------------------------------------
# Local web server
# --------------------------------------------------------------------------------------------
class QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".svg": "image/svg+xml",
        ".woff": "font/woff",
        ".woff2": "font/woff2",
        ".json": "application/json",
    }

    def log_message(self, format: str, *args: Any) -> None:
        pass


class QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The browser closing a connection early is not an error of the site.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


@contextmanager
def serve(site: Path) -> Iterator[str]:
    handler = functools.partial(QuietHandler, directory=str(site))
    server: socketserver.TCPServer = QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --------------------------------------------------------------------------------------------
# In-page checks (JavaScript run in the page)
# --------------------------------------------------------------------------------------------
JS_SCROLL_THROUGH = """async () => {
  const step = Math.max(200, Math.floor(window.innerHeight * 0.8));
  for (let y = 0; y < document.documentElement.scrollHeight; y += step) {
    window.scrollTo(0, y);
    await new Promise((r) => setTimeout(r, 30));
  }
  window.scrollTo(0, document.documentElement.scrollHeight);
  await new Promise((r) => setTimeout(r, 100));
  window.scrollTo(0, 0);
}"""

JS_IMAGES = """async (timeoutMs) => {
  const imgs = Array.from(document.images);
  for (const img of imgs) if (img.loading === "lazy") img.loading = "eager";
  const pending = imgs.filter((img) => !img.complete).map((img) => new Promise((resolve) => {
    img.addEventListener("load", resolve, { once: true });
    img.addEventListener("error", resolve, { once: true });
  }));
  await Promise.race([
    Promise.all(pending), new Promise((resolve) => setTimeout(resolve, timeoutMs)),
  ]);
  const broken = [];
  for (const img of imgs) {
    const src = img.getAttribute("src") || "(no src)";
    if (!img.complete) { broken.push(`${src} (still loading after ${timeoutMs} ms)`); continue; }
    if (img.naturalWidth > 0) continue;
    // naturalWidth 0: broken, or an SVG without intrinsic size; decode() tells them apart.
    try { await img.decode(); } catch (e) { broken.push(`${src} (cannot be decoded)`); }
  }
  return { count: imgs.length, broken };
}"""

JS_MATHJAX_READY = """async (timeoutMs) => {
  const deadline = Date.now() + timeoutMs;
  while (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) {
    if (Date.now() > deadline) return "MathJax did not start";
    await new Promise((r) => setTimeout(r, 50));
  }
  const timeout = new Promise((r) => setTimeout(() => r("timeout"), deadline - Date.now()));
  const done = MathJax.startup.promise.then(() => "ok", (e) => `MathJax failed: ${e}`);
  const result = await Promise.race([done, timeout]);
  return result === "timeout" ? "MathJax did not finish typesetting" : result;
}"""

JS_MATH = """(rawTex) => {
  const mathNodes = Array.from(document.querySelectorAll("span.math, div.math"));
  const unrendered = mathNodes.filter((el) => !el.querySelector("mjx-container"))
    .map((el) => el.textContent.trim().slice(0, 80));
  const errors = Array.from(document.querySelectorAll("mjx-merror"))
    .map((el) => el.getAttribute("data-mjx-error") || el.textContent.trim().slice(0, 80));
  const skip = "script, style, noscript, template, textarea, pre, code, kbd, samp, "
    + "mjx-container, .highlight, .cell_output, .output";
  const raw = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const re = new RegExp(rawTex);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest(skip)) continue;
    const text = node.textContent;
    const m = text.match(re);
    if (m) {
      const start = Math.max(0, m.index - 30);
      raw.push(text.slice(start, m.index + 50).replace(/\\s+/g, " ").trim());
    }
  }
  return {
    mathNodes: mathNodes.length,
    containers: document.querySelectorAll("mjx-container").length,
    unrendered, errors, raw,
  };
}"""

AXE_FAIL_IMPACTS = ("serious", "critical")

# The reader's dark-mode choice as pydata-sphinx-theme stores it; applied by the theme on load.
JS_CHOOSE_DARK = """() => {
  localStorage.setItem("mode", "dark");
  localStorage.setItem("theme", "dark");
}"""
JS_THEME = """() => {
  const bg = getComputedStyle(document.body).backgroundColor;
  const m = bg.match(/[0-9.]+/g) || ["255", "255", "255"];
  const lin = (c) => {
    c = Number(c) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const luminance = 0.2126 * lin(m[0]) + 0.7152 * lin(m[1]) + 0.0722 * lin(m[2]);
  return { theme: document.documentElement.dataset.theme || "", bg, luminance };
}"""

JS_HAS_MATHJAX = """() => Boolean(window.MathJax) ||
  Array.from(document.scripts).some((s) => /mathjax/i.test(s.src))"""


# --------------------------------------------------------------------------------------------
# Running one page
# --------------------------------------------------------------------------------------------
@dataclass
class PageResult:
    label: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    allowed: dict[str, int] = field(default_factory=dict)  # allow-list entry -> times matched
    stats: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, kind: str, items: list[str]) -> None:
        for item in items[:MAX_SHOWN]:
            self.problems.append(f"{kind}: {item}")
        if len(items) > MAX_SHOWN:
            self.problems.append(f"{kind}: ... and {len(items) - MAX_SHOWN} more")


class PageWatcher:
    """Collects console errors, uncaught exceptions and network problems of one page."""

    def __init__(self, page: Page, origin: str) -> None:
        self.origin = origin
        self.console_errors: list[str] = []
        self.allowed: dict[str, int] = {}
        self.http_errors: list[str] = []
        self.http_error_urls: set[str] = set()
        self.failed_requests: list[str] = []
        self.external: list[str] = []
        self.requests = 0
        page.route("**/*", self._route)
        page.on("console", self._on_console)
        page.on("pageerror", self._on_pageerror)
        page.on("response", self._on_response)
        page.on("requestfailed", self._on_requestfailed)

    def is_local(self, url: str) -> bool:
        return url == self.origin or url.startswith(self.origin + "/")

    def _route(self, route: Route) -> None:
        url = route.request.url
        if self.is_local(url) or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            self.external.append(url)
            route.abort("blockedbyclient")

    def _allow(self, kind: str, text: str, source: str | None) -> bool:
        entry = allowed_by(kind, text, source)
        if entry is not None:
            self.allowed[entry.name] = self.allowed.get(entry.name, 0) + 1
        return entry is not None

    def _on_console(self, msg: ConsoleMessage) -> None:
        if msg.type != "error":
            return
        source = msg.location.get("url") if msg.location else None
        if self._allow("console", msg.text, source):
            return
        where = f" [{source}:{msg.location.get('lineNumber', '?')}]" if source else ""
        self.console_errors.append(f"{msg.text}{where}")

    def _on_pageerror(self, error: PlaywrightError) -> None:
        text = f"{error.name}: {error.message}" if error.name else error.message
        if self._allow("pageerror", text, None):
            return
        self.console_errors.append(f"uncaught {text}")

    def _on_response(self, response: Response) -> None:
        self.requests += 1
        if response.status >= 400 and self.is_local(response.url):
            self.http_errors.append(f"{response.status} {response.url}")
            self.http_error_urls.add(response.url)

    def _on_requestfailed(self, request: Request) -> None:
        if not self.is_local(request.url) or request.url in self.http_error_urls:
            return  # blocked by us (reported as external), or already reported as HTTP error
        self.failed_requests.append(f"{request.url} ({request.failure})")

    def report_into(self, result: PageResult) -> None:
        result.add("HTTP error", self.http_errors)
        result.add("request failed", self.failed_requests)
        result.add("non-local request (the book must work offline)", self.external)
        result.add("console error", self.console_errors)
        result.stats.update(
            requests=self.requests,
            console_errors=len(self.console_errors),
            http_errors=len(self.http_errors) + len(self.failed_requests),
            external=len(self.external),
        )
        result.allowed.update(self.allowed)
        if self.allowed:
            result.stats["allowed"] = sum(self.allowed.values())


@dataclass
class Checker:
    browser: Browser
    origin: str
    screenshots: Path
    launch: LaunchConfig
    timeout_ms: int
    search_term: str
    axe: Axe | None = None

    @contextmanager
    def open_page(self, label: str) -> Iterator[tuple[Page, PageWatcher, PageResult]]:
        result = PageResult(label)
        start = time.monotonic()
        context = self.browser.new_context(viewport=VIEWPORT)  # fresh profile: a first visit
        context.set_default_timeout(self.timeout_ms)
        context.set_default_navigation_timeout(self.timeout_ms)
        try:
            page = context.new_page()
            watcher = PageWatcher(page, self.origin)
            try:
                yield page, watcher, result
            except PlaywrightTimeoutError as exc:
                result.problems.append(f"timeout: {first_line(exc)}")
            except PlaywrightError as exc:
                result.problems.append(f"browser error: {first_line(exc)}")
            except Exception as exc:  # a bug in this script must not hide the other pages
                result.problems.append(f"check crashed: {exc!r}")
            # Let late requests and console messages arrive before reading them.
            try:
                page.wait_for_load_state("networkidle", timeout=5_000)
            except PlaywrightError:
                result.notes.append("network not idle after 5 s")
            watcher.report_into(result)
        finally:
            context.close()
            result.seconds = time.monotonic() - start

    def goto(self, page: Page, path: str, result: PageResult) -> bool:
        response = page.goto(f"{self.origin}/{path}", wait_until="load")
        if response is None:
            result.problems.append(f"no response for {path}")
            return False
        if response.status >= 400:
            return False  # reported by the watcher
        return True

    def screenshot(self, page: Page, result: PageResult, name: str) -> None:
        target = self.screenshots / f"{name}.png"
        try:
            page.screenshot(path=str(target), full_page=True, timeout=self.timeout_ms)
        except PlaywrightError as exc:
            result.notes.append(f"no screenshot: {first_line(exc)}")

    def check_book_page(self, book_page: BookPage) -> PageResult:
        with self.open_page(book_page.html) as (page, _watcher, result):
            if book_page.source is None:
                result.problems.append(f"no source file for '{book_page.docname}' next to _toc.yml")
            if not self.goto(page, book_page.html, result):
                return result
            self.check_math(page, result)
            page.evaluate(JS_SCROLL_THROUGH)
            self.check_images(page, result)
            self.screenshot(page, result, book_page.docname.replace("/", "__"))
            self.check_accessibility(page, result, "light")
            if book_page.is_notebook:  # after the screenshot: this opens the launch menu
                self.check_launch_buttons(page, result, book_page)
            self.check_dark_mode(page, result, book_page.docname.replace("/", "__"))
        return result

    def check_accessibility(self, page: Page, result: PageResult, mode: str) -> None:
        if self.axe is None:
            return
        # preload off: axe would re-fetch @imported stylesheets from wrong URLs (404 /basic.css)
        options = {"resultTypes": ["violations"], "preload": False}
        violations = self.axe.run(page, options=options).response.get("violations", [])
        bad = [v for v in violations if v.get("impact") in AXE_FAIL_IMPACTS]
        result.stats[f"axe_{mode}"] = sum(len(v["nodes"]) for v in bad)
        result.add(
            f"accessibility, {mode} mode (axe)",
            [
                f"{v['id']} ({v['impact']}): {v['help']}; "
                + ", ".join(str(n["target"][-1]) for n in v["nodes"][:3])
                + (f" and {len(v['nodes']) - 3} more" if len(v["nodes"]) > 3 else "")
                for v in bad
            ],
        )

    def check_dark_mode(self, page: Page, result: PageResult, name: str) -> None:
        page.evaluate(JS_CHOOSE_DARK)
        page.reload(wait_until="load")
        self.check_math(page, result)
        theme = page.evaluate(JS_THEME)
        if theme["theme"] != "dark" or theme["luminance"] > 0.2:
            result.problems.append(
                f"dark mode: data-theme={theme['theme']!r}, background {theme['bg']} "
                f"(relative luminance {theme['luminance']:.2f}, expected <= 0.2)"
            )
        self.screenshot(page, result, f"{name}__dark")
        self.check_accessibility(page, result, "dark")

    def check_math(self, page: Page, result: PageResult) -> None:
        if page.evaluate(JS_HAS_MATHJAX):
            status = page.evaluate(JS_MATHJAX_READY, self.timeout_ms)
            if status != "ok":
                result.problems.append(f"math: {status}")
        math = page.evaluate(JS_MATH, RAW_TEX.pattern)
        result.stats["math"] = math["mathNodes"]
        result.stats["mjx"] = math["containers"]
        result.add("raw TeX in page text (math not rendered)", math["raw"])
        result.add("math element not rendered by MathJax", math["unrendered"])
        result.add("MathJax TeX error", math["errors"])
        if math["mathNodes"] and not math["containers"]:
            result.problems.append(
                f"math: {math['mathNodes']} math element(s) but no mjx-container at all"
            )

    def check_images(self, page: Page, result: PageResult) -> None:
        images = page.evaluate(JS_IMAGES, self.timeout_ms)
        result.stats["images"] = images["count"]
        result.add("broken image", images["broken"])

    def check_launch_buttons(self, page: Page, result: PageResult, book_page: BookPage) -> None:
        menu = page.locator(".dropdown-launch-buttons")
        if menu.count() == 0:
            result.problems.append("launch buttons: no .dropdown-launch-buttons menu")
            return
        hrefs = [a.get_attribute("href") or "" for a in menu.locator("a.dropdown-item").all()]
        notebook = self.launch.notebook_path(book_page)
        binder = [h for h in hrefs if h.startswith(self.launch.binderhub_url + "/")]
        colab = [h for h in hrefs if h.startswith(self.launch.colab_url + "/")]
        if not binder:
            result.problems.append(f"launch buttons: no Binder link ({self.launch.binderhub_url})")
        elif not any(
            h.startswith(self.launch.binder_prefix()) and h.endswith(notebook) for h in binder
        ):
            result.problems.append(
                f"launch buttons: Binder link {binder[0]} does not open "
                f"{self.launch.binder_prefix()}...{notebook}"
            )
        if not colab:
            result.problems.append(f"launch buttons: no Colab link ({self.launch.colab_url})")
        elif self.launch.colab_href(book_page) not in colab:
            result.problems.append(
                f"launch buttons: Colab link {colab[0]} is not {self.launch.colab_href(book_page)}"
            )
        # The menu must also work for a reader: it opens and shows both links.
        if binder and colab:
            try:
                menu.locator("button.dropdown-toggle").click(timeout=5_000)
                for href in (binder[0], colab[0]):
                    menu.locator(f'a[href="{href}"]').wait_for(state="visible", timeout=5_000)
            except PlaywrightTimeoutError:
                result.problems.append(
                    "launch buttons: the launch menu does not open to show Binder and Colab"
                )
                return
            page.keyboard.press("Escape")
            result.stats["launch"] = 2

    def check_search(self) -> PageResult:
        path = f"search.html?q={self.search_term}"
        with self.open_page(path) as (page, _watcher, result):
            if not self.goto(page, path, result):
                return result
            try:
                page.wait_for_function(
                    """() => {
                      const s = document.querySelector("#search-results .search-summary");
                      return s && s.textContent.trim().length > 0;
                    }""",
                    timeout=self.timeout_ms,
                )
            except PlaywrightTimeoutError:
                result.problems.append(
                    f"search did not finish within {self.timeout_ms / 1000:.0f} s "
                    "(searchindex.js missing, empty or invalid?)"
                )
                return result
            hits = page.locator("#search-results ul.search > li").count()
            result.stats["results"] = hits
            if hits == 0:
                summary = page.locator("#search-results .search-summary").inner_text()
                result.problems.append(
                    f"search for '{self.search_term}' found nothing: {summary.strip()}"
                )
            self.screenshot(page, result, "search")
        return result

    def check_root_redirect(self, first_page: str) -> PageResult:
        with self.open_page("index.html (root)") as (page, _watcher, result):
            if not self.goto(page, "index.html", result):
                return result
            target = f"{self.origin}/{first_page}"
            try:
                page.wait_for_url(target, timeout=10_000)
            except PlaywrightTimeoutError:
                result.problems.append(f"root index.html does not lead to {first_page}")
        return result


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------
def print_result(result: PageResult) -> None:
    status = "OK  " if result.ok else "FAIL"
    stats = " ".join(f"{k}={v}" for k, v in result.stats.items())
    print(f"{status} {result.label:<40} {result.seconds:5.1f}s  {stats}", flush=True)
    for problem in result.problems:
        print(f"       - {problem}", flush=True)
    for note in result.notes:
        print(f"       . {note}", flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("site", type=Path, help="the built HTML site, e.g. _build/html")
    parser.add_argument("--toc", type=Path, default=REPO_ROOT / "_toc.yml")
    parser.add_argument("--config", type=Path, default=REPO_ROOT / "_config.yml")
    parser.add_argument("--screenshots", type=Path, default=REPO_ROOT / ".ci" / "screenshots")
    parser.add_argument("--chromium", default=CHROMIUM, help="Chromium executable")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per browser step")
    parser.add_argument("--search-term", default="sparsity")
    parser.add_argument("--no-axe", action="store_true", help="skip the accessibility audit")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    site: Path = args.site.resolve()
    for required, what in (
        (site / "index.html", "built site (run `make book`)"),
        (args.toc, "table of contents"),
        (args.config, "book configuration"),
        (Path(args.chromium), "Chromium (apt-get install chromium)"),
    ):
        if not Path(required).exists():
            print(f"browser check: cannot run, no {what}: {required}", file=sys.stderr)
            return 2

    pages = read_toc(args.toc)
    if not pages:
        print(f"browser check: no pages found in {args.toc}", file=sys.stderr)
        return 2
    launch = LaunchConfig.from_config(args.config)
    shutil.rmtree(args.screenshots, ignore_errors=True)
    args.screenshots.mkdir(parents=True, exist_ok=True)
    notebooks = sum(p.is_notebook for p in pages)
    print(
        f"browser check: {len(pages)} pages from {args.toc.name} ({notebooks} notebooks), "
        f"site {site}, Chromium {args.chromium}",
        flush=True,
    )

    start = time.monotonic()
    results: list[PageResult] = []
    with serve(site) as origin:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=args.chromium,
                headless=True,
                args=CHROMIUM_ARGS,
                timeout=60_000,
            )
            try:
                print(f"browser: Chromium {browser.version}, serving on {origin}", flush=True)
                checker = Checker(
                    browser=browser,
                    origin=origin,
                    screenshots=args.screenshots,
                    launch=launch,
                    timeout_ms=int(args.timeout * 1000),
                    search_term=args.search_term,
                    axe=None if args.no_axe else Axe(),
                )
                jobs = [functools.partial(checker.check_root_redirect, pages[0].html)]
                jobs += [functools.partial(checker.check_book_page, p) for p in pages]
                jobs.append(checker.check_search)
                for job in jobs:
                    result = job()
                    print_result(result)
                    results.append(result)
            finally:
                browser.close()

    allowed: dict[str, int] = {}
    for result in results:
        for name, count in result.allowed.items():
            allowed[name] = allowed.get(name, 0) + count
    for entry in ALLOWED_CONSOLE:
        print(f"allowed console message '{entry.name}': {allowed.get(entry.name, 0)}x")
    failed = [r for r in results if not r.ok]
    elapsed = time.monotonic() - start
    print(
        f"browser check: {len(results) - len(failed)}/{len(results)} pages passed "
        f"in {elapsed:.1f}s; screenshots in {args.screenshots}",
        flush=True,
    )
    if failed:
        print("browser check FAILED on: " + ", ".join(r.label for r in failed), flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
