"""Helpers shared by the scripts in ``benchmarks/``.

Every benchmark follows the same recipe (GUIDE.md, section 5): time each contender on the *same*
input after warm-up, report the median of repeats, print ratios side by side, compare memory-bound
kernels with the measured memory bandwidth, and write everything, including a description of the
machine, to ``benchmarks/results/<name>.json``. This module holds the parts that do not depend on
the kernel being measured:

* :func:`parse_args` -- the command line every benchmark accepts (``--quick``);
* :func:`start` -- what a memory-bound benchmark records before it loads the machine itself;
* :func:`machine_info` and :func:`thread_info` -- what the numbers were measured on;
* :func:`check_agree` -- every contender must compute the same result before it is timed;
* :func:`cache_note`, :func:`print_table` and :func:`write_json` -- the report.

The timing itself -- warm-up, interleaved rounds, repeats fitted to a time budget, rotation of
input copies past the last-level cache, the bandwidth probe -- is :mod:`sparsecourse.utils`, the
one timing module of the package and the book. ``llc_bytes``, ``rotation_copies`` and
``time_contender`` are kept here as names for the scripts written against them.

Run as a script, it prints the machine description and exits.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from sparsecourse.utils import (  # noqa: F401 - llc_bytes, rotation_copies: re-exported
    Timing,
    benchmark,
    llc_bytes,
    memory_bandwidth,
    rotation_copies,
)

RESULTS_DIR = Path(__file__).resolve().parent / "results"
MB = 1e6  # sizes are printed in 10^6 bytes, bandwidths in 10^9 bytes per second


def parse_args(description: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line shared by all benchmarks: ``python benchmarks/<name>.py [--quick]``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--quick", action="store_true",
        help="smaller sizes and fewer cases, under a minute (for CI and `make bench QUICK=1`)",
    )
    return parser.parse_args(argv)


# --------------------------------------------------------------------------------------------
# The machine
# --------------------------------------------------------------------------------------------

def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else what :mod:`platform` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def thread_info() -> dict:
    """Thread counts of every runtime that may run a contender: numba, torch, BLAS/OpenMP.

    On a small machine these matter as much as the code: numba, torch and OpenBLAS each keep their
    own pool of threads, and all of them default to one thread per core.
    """
    import numba
    import threadpoolctl
    import torch

    pools = threadpoolctl.threadpool_info()
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel numba function has run yet
        layer = "not initialised yet"
    return {
        "numba_threads": numba.get_num_threads(),
        "numba_threading_layer": layer,
        "torch_threads": torch.get_num_threads(),
        "threadpools": [
            {k: p.get(k) for k in ("user_api", "internal_api", "prefix", "num_threads",
                                   "architecture", "version", "threading_layer", "filepath")
             if p.get(k)}
            for p in pools
        ],
    }


def describe_threads(info: dict) -> str:
    """One line such as ``numba 2 (omp), torch 2, openblas 2 (Haswell) (numpy), ...``."""
    parts = [f"numba {info['numba_threads']} ({info['numba_threading_layer']})",
             f"torch {info['torch_threads']}"]
    for p in info["threadpools"]:
        arch = f" ({p['architecture']})" if p.get("architecture") else ""
        parts.append(f"{p['internal_api']} {p['num_threads']}{arch} ({_owner(p.get('filepath'))})")
    return ", ".join(parts)


def _owner(filepath: str | None) -> str:
    """Which package ships a shared library: 'numpy' for .../site-packages/numpy.libs/..."""
    parts = Path(filepath or "?").parts
    if "site-packages" in parts[:-1]:
        return parts[parts.index("site-packages") + 1].removesuffix(".libs")
    return "system"


def machine_info(bandwidth_gbps: dict | None = None) -> dict:
    """What the results were measured on, stored beside them in the JSON file."""
    import numba
    import scipy
    import torch

    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "llc_bytes": llc_bytes(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "numba": numba.__version__,
        "torch": torch.__version__,
        "bandwidth_gbps": bandwidth_gbps,
        "load_average_1_5_15min": os.getloadavg() if hasattr(os, "getloadavg") else None,
        # Environment variables that change which kernels BLAS and OpenMP pick.
        "env": {k: v for k, v in sorted(os.environ.items())
                if k.startswith(("OPENBLAS_", "OMP_", "MKL_", "NUMBA_", "GOTO", "KMP_"))},
    }
    info.update(thread_info())
    return info


def load_warning() -> str:
    """A warning when other processes keep the CPUs busy ('' when the machine looks quiet).

    Timings on a busy machine are noisy, and multi-threaded contenders suffer most: a parallel
    region waits for its slowest thread, and a thread that loses its core to another process waits
    a whole scheduler time slice (several ms). Scipy's single-threaded code barely notices.
    """
    try:
        load = os.getloadavg()[0]
    except OSError:  # pragma: no cover - not available on this platform
        return ""
    cores = os.cpu_count() or 1
    if load <= 0.25 * cores:
        return ""
    return (f"WARNING: load average {load:.1f} on {cores} cores before the start: other processes "
            "compete for the CPUs, so the times below are noisy (multi-threaded contenders suffer "
            "most); rerun on a quiet machine for numbers to quote.")


def measure_bandwidth(quick: bool = False) -> dict:
    """The machine's memory bandwidths in GB/s: ``{"read": ..., "copy": ...}``.

    ``read`` (all cores, bytes read) is the ceiling of kernels that mostly read, like SpMV and
    GEMV, and is the one the tables compare with; ``copy`` (one-core memcpy, bytes read + written)
    is recorded beside it.
    """
    repeat = 3 if quick else 5
    return {"read": memory_bandwidth(size_mb=256, repeat=4 * repeat, kind="read"),
            "copy": memory_bandwidth(size_mb=256, repeat=repeat, kind="copy")}


class Start(NamedTuple):
    """What :func:`start` records: the clock, the cache, the load and the bandwidths."""

    t_start: float  # time.perf_counter() at the start
    llc: int  # last-level cache in bytes
    busy: str  # load_warning() before the benchmark loads the machine ('' when quiet)
    load_before: tuple | None  # os.getloadavg() before the benchmark
    bandwidths: dict  # measure_bandwidth(quick): {"read": GB/s, "copy": GB/s}


def start(quick: bool = False) -> Start:
    """Start a memory-bound benchmark: the load is read *before* the bandwidth probe loads the
    machine, then the cache size and the bandwidths every table is compared with."""
    t_start = time.perf_counter()
    busy = load_warning()
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    return Start(t_start, llc_bytes(), busy, load_before, measure_bandwidth(quick))


# --------------------------------------------------------------------------------------------
# Inputs larger than the cache (the rotation itself: sparsecourse.utils.rotation_copies)
# --------------------------------------------------------------------------------------------

def cache_note(working_set: int, llc: int) -> str:
    """'' when one rotation is at least twice the LLC, else a short warning for the tables."""
    if working_set >= 2 * llc:
        return ""
    return "in LLC" if working_set <= llc else "~LLC"


# --------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------

def time_contender(
    fn: Callable,
    inputs: Sequence[tuple],
    *,
    budget_s: float,
    min_repeat: int = 5,
    max_repeat: int = 50,
    warmup: int = 2,
) -> Timing:
    """:func:`sparsecourse.utils.benchmark` with a time budget (the name the scripts use).

    ``warmup`` untimed calls, one probe call, then as many timed calls as take about
    ``budget_s`` (between ``min_repeat`` and ``max_repeat``), rotating through ``inputs``.
    """
    return benchmark(fn, inputs=inputs, warmup=warmup, repeat=min_repeat, budget_s=budget_s,
                     max_repeat=max_repeat)


def to_numpy(result) -> np.ndarray:
    """A contender's result as a NumPy array (torch tensors included)."""
    if hasattr(result, "detach"):
        result = result.detach().cpu().numpy()
    return np.asarray(result)


def check_agree(name: str, result, reference: np.ndarray, *, rtol: float) -> float:
    """Raise unless ``result`` matches ``reference``; return the relative max-norm error.

    The tolerance is relative to the largest entry of the reference (``rtol * max|ref|``), since
    contenders sum in different orders and entries near zero carry the rounding errors of the
    large terms that cancelled in them.
    """
    got = to_numpy(result)
    if got.shape != reference.shape:
        raise AssertionError(f"{name}: shape {got.shape}, expected {reference.shape}")
    scale = float(np.abs(reference).max()) if reference.size else 0.0
    err = float(np.abs(got.astype(np.float64) - reference).max()) if reference.size else 0.0
    if not err <= rtol * max(scale, np.finfo(np.float32).tiny):
        raise AssertionError(f"{name} disagrees with the reference: max error {err:.3g} "
                             f"for entries up to {scale:.3g} (rtol {rtol:g})")
    return err / scale if scale else 0.0


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------

def print_table(rows: Sequence[dict], columns: Sequence[tuple[str, str, str]],
                title: str = "") -> None:
    """Print ``rows`` (dicts) as an aligned text table.

    ``columns`` holds ``(header, key, format)`` triples, e.g. ``("time ms", "ms", ".3f")``; a
    missing or ``None`` value prints as ``-``, and text is left-aligned.
    """
    cells = [[h for h, _, _ in columns]]
    for row in rows:
        line = []
        for _, key, fmt in columns:
            value = row.get(key)
            line.append("-" if value is None else format(value, fmt))
        cells.append(line)
    widths = [max(len(r[j]) for r in cells) for j in range(len(columns))]
    numeric = [all(_is_number(row.get(key)) for row in rows) for _, key, _ in columns]
    if title:
        print(f"\n{title}")
    for i, line in enumerate(cells):
        text = "  ".join(c.rjust(w) if num else c.ljust(w)
                         for c, w, num in zip(line, widths, numeric, strict=True))
        print(text.rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))


def _is_number(value) -> bool:
    return value is None or isinstance(value, int | float | np.number)


def results_path(name: str, quick: bool) -> Path:
    """``benchmarks/results/<name>.json``, or ``<name>_quick.json`` for ``--quick``."""
    return RESULTS_DIR / f"{name}{'_quick' if quick else ''}.json"


def write_json(path: Path, payload: dict) -> Path:
    """Write ``payload`` as indented JSON, atomically (a ``.tmp`` file renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1, default=_json_default) + "\n")
    os.replace(tmp, path)
    return path


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


if __name__ == "__main__":  # `python benchmarks/_common.py`: describe this machine, time nothing
    print(json.dumps(machine_info(), indent=1))
