"""Torch-heavy notebooks on a busy machine stay within 2x of their quiet time.

Usage: ``python .ci/contention_check.py [notebook ...] [--max-ratio 2.0]``

Binder and classroom machines share their cores. torch and numba each keep an OpenMP pool, and
threads that spin while they wait starve the working threads when fewer cores are free than
threads (here a torch cell once went from 3.4 s to 119 s). ``sparsecourse`` sizes the pools to
the CPUs the process may use and makes waiting threads sleep (sparsecourse/_threads.py).

Each notebook (default ``book/03b_lista.ipynb``, which runs its small problems on one thread,
and ``book/05_activation_sparsity.ipynb``, which trains its language model on all of them) runs
top to bottom in a fresh kernel twice: once on the quiet machine, then while one CPU-bound
process competes for the cores. Both runs start with the same caches (numba's compiled kernels
are on disk from the book build), so the ratio compares like with like; an earlier version took
the quiet time from the book build's first execution, which included compiling and flattered
the ratio. The kernel gets the environment a reader's Jupyter would give it: the OpenMP
variables that the Makefile exports are removed, so what is tested is the package's own setup.
Fails if loaded / quiet > ``--max-ratio`` for any notebook.
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


def check(path: Path, max_ratio: float) -> bool:
    quiet = run_notebook(path)
    print(f"{path.name}: quiet {quiet:.1f} s; load before: "
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
          f"(load {load}): {ratio:.2f}x the quiet time (limit {max_ratio:.1f}x)", flush=True)
    return ratio <= max_ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*",
                        default=["book/03b_lista.ipynb", "book/05_activation_sparsity.ipynb"])
    parser.add_argument("--max-ratio", type=float, default=2.0)
    args = parser.parse_args()
    failed = [nb for nb in args.notebooks
              if not check((ROOT / nb).resolve(), args.max_ratio)]
    if failed:
        print("FAIL: slower than the limit under contention: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
