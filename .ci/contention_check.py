"""A torch-heavy notebook on a busy machine stays within 2x of its quiet time.

Usage: ``python .ci/contention_check.py [notebook] [--max-ratio 2.0] [--quiet-run]``

Binder and classroom machines share their cores. torch and numba each keep an OpenMP pool, and
threads that spin while they wait starve the working threads when fewer cores are free than
threads (here a torch cell once went from 3.4 s to 119 s). ``sparsecourse`` sizes the pools to
the CPUs the process may use and makes waiting threads sleep (sparsecourse/_threads.py).

This runs the notebook (default ``book/03b_lista.ipynb``) top to bottom in a fresh kernel while
one CPU-bound process competes for the cores, and compares with its quiet time: the book
build's own execution time from the jupyter cache (``_build/.jupyter_cache``), or, with
``--quiet-run`` or no cache record, a quiet run made here first. The kernel gets the environment
a reader's Jupyter would give it: the OpenMP variables that the Makefile exports are removed,
so what is tested is the package's own setup. Fails if loaded / quiet > ``--max-ratio``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
READER_ENV_DROP = ("OMP_WAIT_POLICY", "KMP_BLOCKTIME", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS",
                   "GOMP_SPINCOUNT")


def run_notebook(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    saved = {k: os.environ.pop(k) for k in READER_ENV_DROP if k in os.environ}
    try:
        client = NotebookClient(nb, timeout=600, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        start = time.perf_counter()
        client.execute()
        return time.perf_counter() - start
    finally:
        os.environ.update(saved)


def cached_seconds(path: Path) -> float | None:
    cache_dir = ROOT / "_build" / ".jupyter_cache"
    if not cache_dir.is_dir():
        return None
    from jupyter_cache import get_cache

    for record in get_cache(cache_dir).list_cache_records():
        if Path(record.uri).resolve() == path.resolve():
            return record.data.get("execution_seconds")
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", nargs="?", default="book/03b_lista.ipynb")
    parser.add_argument("--max-ratio", type=float, default=2.0)
    parser.add_argument("--quiet-run", action="store_true",
                        help="measure the quiet time here instead of taking the book build's")
    args = parser.parse_args()
    path = (ROOT / args.notebook).resolve()

    quiet = None if args.quiet_run else cached_seconds(path)
    source = "book build (jupyter cache)"
    if quiet is None:
        quiet, source = run_notebook(path), "quiet run here"
    print(f"{path.name}: quiet {quiet:.1f} s ({source}); load before: "
          f"{open('/proc/loadavg').read().split()[0]}", flush=True)

    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1.0)
        loaded = run_notebook(path)
        load = open("/proc/loadavg").read().split()[0]
    finally:
        hog.kill()
        hog.wait()
    ratio = loaded / quiet
    print(f"{path.name}: with one competing CPU-bound process {loaded:.1f} s "
          f"(load {load}): {ratio:.2f}x the quiet time (limit {args.max_ratio:.1f}x)")
    if ratio > args.max_ratio:
        print("FAIL: the notebook slows down more than the limit under contention")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
