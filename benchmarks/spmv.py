"""SpMV and SpMM: our numba CSR kernels against scipy.sparse, dense NumPy and torch.

``y = A @ x`` (SpMV) and ``Y = A @ X`` (SpMM, ``X`` with a few columns) for a square float32
and float64 matrix ``A`` whose density goes from 1 (every entry stored) down to 0.001, and the
per-call overhead on tiny matrices. The contenders are
what a user could pick instead of :mod:`sparsecourse.kernels`:

==================  ========================================================================
``ours``            ``csr_spmv(A, x)`` / ``csr_spmm(A, X)`` with their defaults (input checks
                    included): what a user of the package gets
``ours_kernel``     the numba kernel alone, ``spmv_kernel(indptr, indices, data, x, out)``
                    (``spmv_kernel_long`` from ``_LONG_ROWS`` stored values per row, as in
                    ``csr_spmv``)
                    with a preallocated ``out``: the gap to ``ours`` is the cost of validation
``scipy``           ``A @ x`` with ``A`` a ``scipy.sparse.csr_array`` (single-threaded C++)
``numpy_dense``     ``D @ x`` with the dense ``D = A.toarray()`` (BLAS sgemv/sgemm)
``torch_dense``     ``D_t @ x_t`` with ``D_t = torch.from_numpy(D)`` (torch's own BLAS)
``torch_sparse``    ``A_t @ x_t`` with ``A_t = torch.sparse_csr_tensor(...)``
==================  ========================================================================

How to time honestly -- the method, step by step:

1. **Same input for everyone.** All contenders read the same arrays (torch tensors share memory
   with the NumPy arrays through ``torch.from_numpy``), in float32 and then in float64, with the
   threads each library uses by default (printed at the top: on this 2-core machine, 2 each).
2. **Correct before fast.** Each contender's result is compared with scipy's before it is timed;
   a contender that disagrees stops the benchmark. One that cannot run is reported, not hidden.
3. **Warm-up excluded.** Two untimed calls come first: numba compiles (or loads its cache), thread
   pools wake up, memory pages are touched. (After editing a kernel, run the script twice: we have
   seen numba code loaded from its disk cache run at a different speed than the same code freshly
   compiled in the process.)
4. **Larger than the cache.** Timing one small input in a loop measures the cache: from the second
   call on, the data is already there. Each input is therefore *copied* and the calls rotate
   through the copies, so that a round of copies is at least twice the last-level cache (LLC). The
   number of copies is capped at ``MAX_COPIES``; the sparsest cases still fit in the LLC and are
   marked ``in LLC`` (they show in-cache speed, which is also what an iterative solver on such a
   small matrix would see).
5. **Median of interleaved repeats**: the contenders take turns, one call each per round (order
   rotating), as many rounds as fit in a small time budget (at least 5), so that a change of
   load on a shared machine hits all of them alike; the JSON file keeps every repeat.
6. **Ratios, not absolute times.** Absolute times change from machine to machine; the ratio of two
   contenders timed side by side in one process is what carries over. ``speed-up vs X`` is X's
   time divided by ours: above 1, ours is faster. Against torch.sparse (the target) the ratio is
   also taken round by round and its quartiles are printed: on this virtual machine the speed of
   the CPUs drifts by up to 2x over tens of seconds (dense numpy's time, which does not depend
   on the density, varied that much within one run), and a per-round ratio cancels the drift.
7. **Against the physical limit.** SpMV reads every stored value once: it is limited by memory
   bandwidth, not by arithmetic. The *bytes* of a case are the least that any implementation must
   move -- for CSR the values, column indices and row pointers plus ``x`` and ``y``; for dense the
   full matrix plus ``x`` and ``y`` -- and bytes / time is compared with the read bandwidth of the
   machine (``sparsecourse.utils.memory_bandwidth(kind="read")``: a 256 MB array summed on all
   cores), the ceiling of a kernel that mostly reads; the one-core ``memcpy`` bandwidth is
   recorded too. A kernel far below the ceiling is limited by something else (latency,
   arithmetic, overheads). SpMM reuses each row of ``X`` many times, so its
   percentage mainly says how far it is from being memory-bound.
8. **A quiet machine.** Other processes steal cores, and multi-threaded contenders suffer most: a
   parallel loop waits for its slowest thread, and a thread that lost its core waits a scheduler
   time slice (several ms). The script prints a warning when the load average says the machine was
   busy, and stores the load in the JSON file.

**Per-call overhead.** On tiny matrices (4 x 4 with 8 stored values, 64 x 64 with 5%, 512 x 512
with 1%) the product itself takes nanoseconds and what is timed is the cost of a call: argument
checks, allocation of the result, dispatch, thread-pool wake-up. Calls are timed in blocks of
200 (interleaved) and the time per call is printed beside the raw numba kernel's.

**Back to back.** The tables above interleave single calls of six libraries, so each call
starts with its thread pool asleep and the caches full of another library's data. A solver's
loop calls one library again and again instead; the section "Back to back" times ours and
torch.sparse that way (each runs a whole rotation of copies in turn, order alternating) and
prints torch.sparse's time / ours per pair of turns. The two regimes can disagree: ours wakes
the thread pool less often (smaller products run on one thread), which wins the interleaved
calls; a warm stream favours whoever is faster per call.

The output also names the *crossover density*: the highest tested density at which ours beats
the dense BLAS product. CSR moves 8 bytes per stored entry (4 for the value, 4 for its column),
dense moves 4 bytes per entry, so at equal bandwidth CSR wins below density 0.5; in practice the
sparse kernel reaches a lower bandwidth and the crossover is lower.

Caveat about this machine: OpenBLAS (NumPy's BLAS) is pinned by ``OPENBLAS_CORETYPE`` to its
Haswell kernels (a workaround for old OpenBLAS builds on new AMD CPUs), which may slow
``numpy_dense``; the values are recorded in the JSON file and not changed here.

Run ``python benchmarks/spmv.py`` (a few minutes) or ``python benchmarks/spmv.py --quick`` (under a
minute); results go to ``benchmarks/results/spmv.json`` or ``spmv_quick.json``.
"""

from __future__ import annotations

import operator
import os
import time
import warnings

import numpy as np
import torch
from _common import (
    cache_note,
    check_agree,
    describe_threads,
    machine_info,
    parse_args,
    print_table,
    results_path,
    rotation_copies,
    start,
    write_json,
)

from sparsecourse.datasets import random_csr
from sparsecourse.kernels import (
    _LONG_ROWS,
    csr_spmm,
    csr_spmv,
    spmm_kernel,
    spmv_kernel,
    spmv_kernel_long,
)
from sparsecourse.utils import interleaved

FULL = {
    "n": 8192,  # dense matrix: 256 MB in float32, 8x the 32 MB LLC
    "densities": (1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001),
    "widths": (16, 64),  # columns of X in SpMM
    "budget_s": 0.25,  # timed seconds per contender and case (before the min/max repeat bounds)
    "stream_s": 1.5,  # seconds per case of back-to-back calls (ours against torch.sparse)
}
QUICK = {
    "n": 4096,  # dense matrix: 64 MB, still 2x the LLC
    "densities": (1.0, 0.2, 0.05, 0.01, 0.001),
    "widths": (16,),
    "budget_s": 0.08,
    "stream_s": 0.4,
}
DTYPES = (np.float32, np.float64)
RTOL = {np.float32: 1e-4, np.float64: 1e-10}  # agreement, relative to the largest entry
TINY = ((4, 8 / 16), (64, 0.05), (512, 0.01))  # per-call overhead: (n, density)
TINY_BLOCK = 200  # calls per timed block for the tiny matrices
MAX_COPIES = 16  # rotation: at most this many copies of each input
MIN_REPEAT, MAX_REPEAT, WARMUP = 5, 50, 2
SEED = 0

CONTENDERS = ("ours", "ours_kernel", "scipy", "numpy_dense", "torch_dense", "torch_sparse")
OTHERS = ("scipy", "numpy_dense", "torch_dense", "torch_sparse")  # what "ours" is compared with


# --------------------------------------------------------------------------------------------
# The contenders. Each takes one argument tuple from a rotation list.
# --------------------------------------------------------------------------------------------

def spmv_kernel_only(indptr, indices, data, x, y):
    """The parallel kernel csr_spmv picks for this matrix, without checks or allocation."""
    long_rows = data.shape[0] >= _LONG_ROWS * (indptr.shape[0] - 1)
    (spmv_kernel_long if long_rows else spmv_kernel)(indptr, indices, data, x, y)
    return y


NO_BIAS = {dt: np.empty(0, dt) for dt in DTYPES}


def spmm_kernel_only(indptr, indices, data, X, Y):
    spmm_kernel(indptr, indices, data, X, NO_BIAS[X.dtype.type], Y)
    return Y


def torch_csr(A) -> torch.Tensor:
    """A torch sparse CSR tensor sharing its three arrays with the scipy matrix ``A``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta state"
        return torch.sparse_csr_tensor(
            torch.from_numpy(A.indptr), torch.from_numpy(A.indices), torch.from_numpy(A.data),
            size=A.shape, check_invariants=False,
        )


def contender_inputs(op, As, Ds, rhs, outs):
    """``{name: (function, list of argument tuples, storage format)}`` for one case.

    ``As``: copies of the CSR matrix, ``Ds``: copies of its dense form, ``rhs``: copies of ``x``
    (or ``X``), ``outs``: preallocated outputs for the kernel-only timing. Lists may have different
    lengths: each contender rotates through as many copies as its own working set needs.
    """
    ours, kernel = (csr_spmv, spmv_kernel_only) if op == "spmv" else (csr_spmm, spmm_kernel_only)
    matmul = operator.matmul  # A @ x, the same call for scipy, NumPy and torch

    def rot(k, *lists):  # the k-th tuple of a rotation over lists of different lengths
        return tuple(lst[k % len(lst)] for lst in lists)

    n_sparse, n_dense = len(As), len(Ds)
    rhs_t = [torch.from_numpy(v) for v in rhs]
    As_t = [torch_csr(A) for A in As]
    Ds_t = [torch.from_numpy(D) for D in Ds]
    return {
        "ours": (ours, [rot(k, As, rhs) for k in range(n_sparse)], "csr"),
        "ours_kernel": (kernel, [(As[k].indptr, As[k].indices, As[k].data, rhs[k], outs[k])
                                 for k in range(n_sparse)], "csr"),
        "scipy": (matmul, [rot(k, As, rhs) for k in range(n_sparse)], "csr"),
        "numpy_dense": (matmul, [rot(k, Ds, rhs) for k in range(n_dense)], "dense"),
        "torch_dense": (matmul, [rot(k, Ds_t, rhs_t) for k in range(n_dense)], "dense"),
        "torch_sparse": (matmul, [rot(k, As_t, rhs_t) for k in range(n_sparse)], "csr"),
    }


# --------------------------------------------------------------------------------------------
# One case: a matrix, an operation (SpMV or SpMM of a given width), all contenders.
# --------------------------------------------------------------------------------------------

def run_case(op, A, D, width, *, budget_s, llc, bandwidth, rng):
    """Check, then time every contender on ``A @ x`` (width None) or ``A @ X``; return records."""
    n_rows, n_cols = A.shape
    rhs_shape = (n_cols,) if width is None else (n_cols, width)
    out_shape = (n_rows,) if width is None else (n_rows, width)
    dtype = A.dtype.type
    rhs0 = rng.standard_normal(rhs_shape, dtype=dtype)
    vec_bytes = rhs0.nbytes + int(np.prod(out_shape)) * np.dtype(dtype).itemsize
    csr_bytes = A.data.nbytes + A.indices.nbytes + A.indptr.nbytes + vec_bytes
    dense_bytes = D.nbytes + vec_bytes

    # Rotation: enough copies that one round exceeds 2x the LLC (A is copied by the caller).
    n_sparse = rotation_copies(csr_bytes, llc, cap=MAX_COPIES)
    n_dense = rotation_copies(dense_bytes, llc, cap=MAX_COPIES)
    As = [A] + [A.copy() for _ in range(n_sparse - 1)]
    Ds = [D] + [D.copy() for _ in range(n_dense - 1)]
    rhs = [rhs0] + [rhs0.copy() for _ in range(max(n_sparse, n_dense) - 1)]
    outs = [np.empty(out_shape, dtype) for _ in range(n_sparse)]
    contenders = contender_inputs(op, As, Ds, rhs, outs)
    rotation = {"csr": (n_sparse, n_sparse * csr_bytes, csr_bytes),
                "dense": (n_dense, n_dense * dense_bytes, dense_bytes)}

    # Correct before fast: everyone must agree with scipy on the first copy.
    reference = np.asarray(A @ rhs0)
    records, unavailable, errors = {}, {}, {}
    for name in CONTENDERS:
        fn, inputs, fmt = contenders[name]
        try:
            result = fn(*inputs[0])
        except (RuntimeError, NotImplementedError, TypeError) as exc:  # e.g. torch lacks a kernel
            unavailable[name] = f"{type(exc).__name__}: {exc}"
            continue
        errors[name] = check_agree(f"{op} {name} (nnz {A.nnz})", result, reference,
                                   rtol=RTOL[dtype])
    # Interleaved: one call of each contender per round, so load changes hit all alike.
    timings = interleaved({name: contenders[name][:2] for name in errors},
                          budget_s=budget_s * len(errors), min_rounds=MIN_REPEAT,
                          max_rounds=MAX_REPEAT, warmup=WARMUP)
    for name, rel_err in errors.items():
        fmt = contenders[name][2]
        timing = timings[name]
        copies, working_set, nbytes = rotation[fmt]
        gbps = nbytes / timing.median / 1e9
        records[name] = {
            "op": op, "dtype": np.dtype(dtype).name, "n_rows": n_rows, "n_cols": n_cols,
            "width": width,
            "nnz": int(A.nnz), "contender": name, "format": fmt,
            "median_s": timing.median, "min_s": min(timing.times), "times_s": timing.times,
            "repeat": len(timing.times),
            "gbytes": nbytes / 1e9, "gbps": gbps, "pct_of_bandwidth": 100 * gbps / bandwidth,
            "copies": copies, "working_set_bytes": working_set,
            "cache_note": cache_note(working_set, llc),  # '' when the rotation beats the cache
            "rel_error_vs_scipy": rel_err,
        }
    for name, rec in records.items():  # speed-up of this contender over each of the others
        for other, orec in records.items():
            if other != name:
                rec[f"speedup_vs_{other}"] = orec["median_s"] / rec["median_s"]
    if "ours" in timings and "torch_sparse" in timings:
        records["ours"]["paired_vs_torch_sparse"] = paired_ratios(timings["torch_sparse"].times,
                                                                  timings["ours"].times)
    del As, Ds, contenders
    return records, unavailable


def paired_ratios(theirs, ours):
    """Quartiles of their time / our time, taken round by round (both timed in each round).

    A slow spell of the machine (another process, the host taking the CPU) lasts several rounds
    and changes both times of a round alike, so the per-round ratio is steadier than the ratio of
    two medians. ``q25 > 1``: ours is faster in three rounds out of four; ``q75 < 1``: slower.
    """
    r = np.asarray(theirs) / np.asarray(ours)
    q25, q50, q75 = np.percentile(r, [25, 50, 75])
    return {"median": float(q50), "q25": float(q25), "q75": float(q75), "rounds": len(r)}


def back_to_back(A, width, llc, seconds, rng):
    """torch.sparse's time / ours when each runs a stream of calls, as a solver's loop does.

    The main tables interleave single calls of six contenders, so every call starts with the
    thread pool asleep and the caches holding another library's data. Here ours and
    torch.sparse each run one whole rotation of copies back to back, taking turns (order
    alternating), for ``seconds``; the ratio is taken per pair of turns.
    """
    dtype = A.dtype.type
    n_copies = rotation_copies(A.data.nbytes + A.indices.nbytes + A.indptr.nbytes, llc,
                               cap=MAX_COPIES)
    As = [A] + [A.copy() for _ in range(n_copies - 1)]
    shape = (A.shape[1],) if width is None else (A.shape[1], width)
    rhs = [rng.standard_normal(shape, dtype=dtype) for _ in range(n_copies)]
    As_t, rhs_t = [torch_csr(B) for B in As], [torch.from_numpy(v) for v in rhs]
    ours = csr_spmv if width is None else csr_spmm

    def stream(name):
        t0 = time.perf_counter()
        for k in range(n_copies):
            (ours(As[k], rhs[k]) if name == "ours" else As_t[k] @ rhs_t[k])
        return (time.perf_counter() - t0) / n_copies

    for name in ("ours", "torch_sparse"):
        stream(name)  # warm-up
    times = {"ours": [], "torch_sparse": []}
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times["ours"]) < MIN_REPEAT:
        order = ("ours", "torch_sparse") if len(times["ours"]) % 2 else ("torch_sparse", "ours")
        for name in order:
            times[name].append(stream(name))
    return {"copies": n_copies, **paired_ratios(times["torch_sparse"], times["ours"])}


def paired_verdict(p):
    if p["q25"] > 1:
        return "faster"
    if p["q75"] < 1:
        return "SLOWER"
    return "tie (quartiles straddle 1)"


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------

SHORT = {"scipy": "scipy", "numpy_dense": "numpy", "torch_dense": "torch",
         "torch_sparse": "t.sparse"}


def table_rows(cases, llc):
    """One printable row per case: times in ms, speed-ups of ours, bandwidth, cache note."""
    rows = []
    for case in cases:
        recs = case["records"]
        ours = recs.get("ours")
        row = {"density": case["density"], "width": case["width"], "nnz": case["nnz"]}
        for name in CONTENDERS:
            row[name] = recs[name]["median_s"] * 1e3 if name in recs else None
        for other in OTHERS:
            row[f"x_{other}"] = ours.get(f"speedup_vs_{other}") if ours else None
        kern = recs.get("ours_kernel")
        if ours and kern:
            row["check_pct"] = 100 * (ours["median_s"] - kern["median_s"]) / ours["median_s"]
        for name, key in (("ours", "ours"), ("ours_kernel", "kern"), ("numpy_dense", "dense")):
            if name in recs:
                row[f"{key}_gbps"] = recs[name]["gbps"]
                row[f"{key}_pct"] = recs[name]["pct_of_bandwidth"]
        if ours:
            row["copies"] = f"{ours['copies']}x{ours['gbytes'] * 1e3:.3g}"
            row["note"] = cache_note(ours["working_set_bytes"], llc)
        rows.append(row)
    return rows


def print_tables(title, rows, spmm):
    first = [("density", "density", "g")] + ([("width", "width", "d")] if spmm else [])
    times = first + [("nnz", "nnz", ",d"), ("copies x MB", "copies", "s"),
                     ("ours", "ours", ".3f"), ("kernel", "ours_kernel", ".3f")]
    times += [(SHORT[o], o, ".3f") for o in OTHERS] + [("note", "note", "s")]
    print_table(rows, times, title=f"{title}: median time in ms")
    ratios = first + [(f"vs {SHORT[o]}", f"x_{o}", ".2f") for o in OTHERS]
    ratios += [("check %", "check_pct", ".0f"),
               ("ours GB/s", "ours_gbps", ".1f"), ("%bw", "ours_pct", ".0f"),
               ("kernel GB/s", "kern_gbps", ".1f"), ("%bw", "kern_pct", ".0f"),
               ("numpy GB/s", "dense_gbps", ".1f"), ("%bw", "dense_pct", ".0f"),
               ("note", "note", "s")]
    print_table(rows, ratios, title=f"{title}: speed-up of ours (their time / ours; > 1: ours is "
                                     "faster), achieved bandwidth (% of read bandwidth)")


def crossover(cases, contender="ours"):
    """Highest tested density at which ``contender`` beats dense NumPy, with the next one up.

    ``losses_below`` lists the lower densities where it does *not* win: with a sound kernel and a
    quiet machine that list is empty (sparse work only shrinks as the density drops).
    """
    timed = [c for c in cases if contender in c["records"] and "numpy_dense" in c["records"]]
    wins = {c["density"]: c["records"][contender]["median_s"]
            < c["records"]["numpy_dense"]["median_s"] for c in timed}
    best = max((d for d, won in wins.items() if won), default=None)
    if best is None:
        return {"density": None, "next_tested": None, "losses_below": []}
    higher = sorted(d for d in wins if d > best)
    return {"density": best, "next_tested": higher[0] if higher else None,
            "losses_below": sorted((d for d, won in wins.items() if d < best and not won),
                                   reverse=True)}


def describe_crossover(label, cx):
    if cx["density"] is None:
        return f"{label}: slower than dense numpy at every tested density"
    if cx["next_tested"] is None:
        text = f"{label}: faster than dense numpy at every tested density (up to {cx['density']:g})"
    else:
        text = (f"{label}: beats dense numpy up to density {cx['density']:g} "
                f"(slower at the next tested density, {cx['next_tested']:g})")
    if cx["losses_below"]:
        text += (" -- but not at " + ", ".join(f"{d:g}" for d in cx["losses_below"])
                 + ": noisy timings?")
    return text


# --------------------------------------------------------------------------------------------

def tiny_overhead(rng) -> list[dict]:
    """Microseconds per SpMV call on tiny matrices: the cost of a call, not of the product."""
    rows = []
    for dtype in DTYPES:
        for n, density in TINY:
            A = random_csr(n, n, density, seed=rng, dtype=dtype)
            x = rng.standard_normal(n).astype(dtype)
            y = np.empty(n, dtype)
            At, xt = torch_csr(A), torch.from_numpy(x)
            contenders = {
                "ours": lambda A=A, x=x: csr_spmv(A, x),
                "ours_nocheck": lambda A=A, x=x: csr_spmv(A, x, check_finite=False),
                "ours_kernel": lambda A=A, x=x, y=y: spmv_kernel_only(A.indptr, A.indices,
                                                                      A.data, x, y),
                "scipy": lambda A=A, x=x: A @ x,
                "torch_sparse": lambda At=At, xt=xt: At @ xt,
            }
            t = interleaved(contenders, rounds=15, block=TINY_BLOCK, warmup=3)
            row = {"dtype": np.dtype(dtype).name, "n": n, "nnz": int(A.nnz)}
            row.update({k: v.median * 1e6 for k, v in t.items()})
            rows.append(row)
    return rows


def main(argv=None):
    args = parse_args(__doc__.splitlines()[0], argv)
    cfg = QUICK if args.quick else FULL
    t_start, llc, busy, load_before, bandwidths = start(args.quick)
    bandwidth = bandwidths["read"]  # SpMV/SpMM and GEMV mostly read: that is their ceiling
    n = cfg["n"]
    print(f"SpMV/SpMM benchmark{' (--quick)' if args.quick else ''}: {n} x {n} float32 and "
          "float64, "
          f"densities {', '.join(f'{d:g}' for d in cfg['densities'])}; SpMM widths "
          f"{', '.join(map(str, cfg['widths']))}")
    print(f"read bandwidth {bandwidths['read']:.1f} GB/s (all cores; the tables' 100%), copy "
          f"bandwidth {bandwidths['copy']:.1f} GB/s (one-core memcpy)")
    print(f"last-level cache {llc / 2**20:.0f} MiB; each input rotated over up to {MAX_COPIES} "
          "copies to exceed 2x the LLC", flush=True)
    if busy:
        print(busy, flush=True)

    rng = np.random.default_rng(SEED)
    spmv_cases, spmm_cases, unavailable, streams = [], [], {}, []
    for dtype in DTYPES:
        for density in cfg["densities"]:
            t0 = time.perf_counter()
            A = random_csr(n, n, density, seed=rng, dtype=dtype)
            D = A.toarray()
            t_gen = time.perf_counter() - t0
            for width in (None, *cfg["widths"]):
                op = "spmv" if width is None else "spmm"
                records, missing = run_case(op, A, D, width, budget_s=cfg["budget_s"], llc=llc,
                                            bandwidth=bandwidth, rng=rng)
                for rec in records.values():
                    rec["density"] = density
                for name, why in missing.items():
                    unavailable.setdefault(f"{op}/{name}", why)
                case = {"dtype": np.dtype(dtype).name, "density": density, "width": width,
                        "nnz": int(A.nnz), "records": records}
                (spmv_cases if width is None else spmm_cases).append(case)
                streams.append({"dtype": np.dtype(dtype).name, "op": op, "width": width,
                                "density": density,
                                **back_to_back(A, width, llc, cfg["stream_s"], rng)})
            print(f"  {np.dtype(dtype).name} density {density:g}: nnz {A.nnz:,}, generated in "
                  f"{t_gen:.1f} s, measured in {time.perf_counter() - t0 - t_gen:.1f} s",
                  flush=True)
            del A, D
    overhead = tiny_overhead(rng)

    info = machine_info(bandwidths)  # after the runs: numba's threading layer is known now
    info["load_average_before"] = load_before
    info["load_average_after"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(f"threads: {describe_threads(info)}")
    cross, vs_torch = {}, []
    for dtype in DTYPES:
        name = np.dtype(dtype).name
        v_cases = [c for c in spmv_cases if c["dtype"] == name]
        m_cases = [c for c in spmm_cases if c["dtype"] == name]
        print_tables(f"SpMV y = A @ x, {n} x {n}, {name}", table_rows(v_cases, llc), spmm=False)
        print_tables(f"SpMM Y = A @ X, {n} x {n} times {n} x width, {name}",
                     table_rows(m_cases, llc), spmm=True)
        cross[f"spmv_{name}"] = crossover(v_cases)
        cross[f"spmv_kernel_{name}"] = crossover(v_cases, "ours_kernel")
        for width in cfg["widths"]:
            cross[f"spmm_width_{width}_{name}"] = crossover(
                [c for c in m_cases if c["width"] == width])
        for label, cases in [("SpMV", v_cases)] + [
                (f"SpMM width {w}", [c for c in m_cases if c["width"] == w])
                for w in cfg["widths"]]:
            paired = [(c["records"]["ours"]["paired_vs_torch_sparse"], c["density"])
                      for c in cases if "paired_vs_torch_sparse" in c["records"].get("ours", {})]
            if paired:
                worst = min(paired, key=lambda pd: pd[0]["median"])
                vs_torch.append({
                    "dtype": name, "op": label, "min_ratio": worst[0]["median"],
                    "at_density": worst[1], "all_at_least_1": worst[0]["median"] >= 1.0,
                    "per_density": [{"density": d, **p, "verdict": paired_verdict(p)}
                                    for p, d in paired]})
    print("\nCrossover density (highest tested density where ours is faster than dense numpy):")
    for key, cx in cross.items():
        print("  " + describe_crossover(key, cx))
    print("\ncsr_spmv / csr_spmm against torch.sparse CSR (target: >= 1 at every density); "
          "torch.sparse's time / ours, round by round: median [quartiles] per density")
    for r in vs_torch:
        print(f"  {r['dtype']} {r['op']}: smallest median speed-up {r['min_ratio']:.2f}x "
              f"(at density {r['at_density']:g}) -> "
              f"{'at least as fast everywhere' if r['all_at_least_1'] else 'SLOWER somewhere'}")
        print("    " + "; ".join(
            f"{p['density']:g}: {p['median']:.2f} [{p['q25']:.2f}, {p['q75']:.2f}]"
            + ("" if p["verdict"] == "faster" else f" {p['verdict']}") for p in r["per_density"]))
    print("\nBack to back (each library runs a stream of calls, as in a solver's loop): "
          "torch.sparse's time / ours, median [quartiles] per density")
    for key in sorted({(r["dtype"], r["op"], r["width"] or 0) for r in streams}):
        rows = [r for r in streams if (r["dtype"], r["op"], r["width"] or 0) == key]
        label = "SpMV" if key[1] == "spmv" else f"SpMM width {key[2]}"
        print(f"  {key[0]} {label}: smallest median {min(r['median'] for r in rows):.2f}x")
        print("    " + "; ".join(
            f"{r['density']:g}: {r['median']:.2f} [{r['q25']:.2f}, {r['q75']:.2f}]"
            + ("" if paired_verdict(r) == "faster" else f" {paired_verdict(r)}") for r in rows))
    print_table(overhead, [("dtype", "dtype", "s"), ("n", "n", "d"), ("nnz", "nnz", "d"),
                           ("ours us", "ours", ".2f"), ("kernel us", "ours_kernel", ".2f"),
                           ("no check us", "ours_nocheck", ".2f"), ("scipy us", "scipy", ".2f"),
                           ("t.sparse us", "torch_sparse", ".2f")],
                title="Per-call overhead: SpMV on tiny matrices, microseconds per call "
                      f"(blocks of {TINY_BLOCK} calls, interleaved)")

    print("\nNotes:")
    print("  kernel = the numba kernel with a preallocated output; check % = share of ours' time "
          "spent outside it (input validation, allocation).")
    print("  'in LLC' / '~LLC': even with the copies, one round of the inputs fits in (or is "
          "about) the last-level cache, so that case shows in-cache speed.")
    print("  GB/s counts the least bytes each format must move (CSR: values + indices + row "
          "pointers + vectors; dense: matrix + vectors), as % of the read bandwidth.")
    openblas = {k: v for k, v in info["env"].items() if k == "OPENBLAS_CORETYPE"}
    if openblas:
        arch = sorted({p["architecture"] for p in info["threadpools"] if p.get("architecture")})
        print(f"  {' '.join(f'{k}={v}' for k, v in openblas.items())} is set: NumPy's OpenBLAS "
              f"runs its {'/'.join(arch) or 'pinned'} kernels, which may slow numpy_dense on "
              "this CPU.")
    for key, why in unavailable.items():
        print(f"  {key} not timed: {why}")
    if busy:
        print(f"  {busy}")

    wall = time.perf_counter() - t_start
    payload = {
        "benchmark": "spmv", "quick": args.quick, "wall_s": wall,
        "settings": {**cfg, "dtypes": [np.dtype(d).name for d in DTYPES],
                     "rtol": {np.dtype(k).name: v for k, v in RTOL.items()},
                     "max_copies": MAX_COPIES,
                     "rotation_target_bytes": 2 * llc, "min_repeat": MIN_REPEAT,
                     "max_repeat": MAX_REPEAT, "warmup": WARMUP, "seed": SEED},
        "machine": info,
        "crossover_density": cross,
        "vs_torch_sparse": vs_torch,
        "per_call_overhead_us": overhead,
        "back_to_back_vs_torch_sparse": streams,
        "unavailable": unavailable,
        "records": [rec for case in spmv_cases + spmm_cases for rec in case["records"].values()],
    }
    path = write_json(results_path("spmv", args.quick), payload)
    print(f"\nwrote {path} ({wall:.0f} s in all)")


if __name__ == "__main__":
    main()
