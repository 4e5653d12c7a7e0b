"""Report how long each notebook took in the book build, and enforce the time budget.

Usage: ``python .ci/notebook_times.py [--limit SECONDS] [--warn SECONDS]``

Reads the execution times that Jupyter Book's cache (``_build/.jupyter_cache``) recorded for the
notebooks listed in ``_toc.yml``. The GUIDE's budget is 3 minutes per notebook on a 2-core CPU;
a notebook over ``--warn`` (default 180 s) is flagged, one over ``--limit`` (default 240 s: the
budget plus a margin for a busy CI machine) fails the run. A notebook of the table of contents
that has no record was not executed by this build's cache and fails the run too.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml
from jupyter_cache import get_cache

ROOT = Path(__file__).resolve().parents[1]


def toc_notebooks() -> list[Path]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files: list[str] = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    walk(toc.get("parts"))
    walk(toc.get("chapters"))
    return [ROOT / f"{f}.ipynb" for f in files if (ROOT / f"{f}.ipynb").exists()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=float, default=240.0)
    parser.add_argument("--warn", type=float, default=180.0)
    parser.add_argument("--records", action="store_true",
                        help="only list the cache's execution records (notebook, when executed)")
    args = parser.parse_args()

    cache = get_cache(ROOT / "_build" / ".jupyter_cache")
    if args.records:  # .ci/run compares these before and after `make notebooks`
        for record in sorted(cache.list_cache_records(), key=lambda r: r.uri):
            print(record.uri, record.created.isoformat(), record.hashkey)
        return 0
    seconds = {}
    for record in cache.list_cache_records():
        seconds[Path(record.uri).resolve()] = record.data.get("execution_seconds")
    rc = 0
    total = 0.0
    print(f"{'notebook':40s} {'seconds':>8s}")
    for nb in toc_notebooks():
        t = seconds.get(nb.resolve())
        name = str(nb.relative_to(ROOT))
        if t is None:
            print(f"{name:40s} {'none':>8s}  FAIL: no execution record in the cache")
            rc = 1
            continue
        total += t
        flag = ""
        if t > args.limit:
            flag, rc = f"  FAIL: over {args.limit:.0f} s", 1
        elif t > args.warn:
            flag = f"  WARNING: over the {args.warn:.0f} s budget"
        print(f"{name:40s} {t:8.1f}{flag}")
    print(f"{'total':40s} {total:8.1f}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
