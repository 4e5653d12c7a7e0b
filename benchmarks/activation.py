"""Activation sparsity: sparse GEMV and the CATS MLP block against dense NumPy and torch.

Chapter 5 asks how much of the theoretical speed-up of activation sparsity a CPU kernel delivers
at Llama-7B shapes. Two experiments, float32, batch 1 (one token: a matrix-vector product):

1. **GEMV** ``y = W @ where(|x| > t, x, 0)`` at ``(in, out) = (4096, 11008)`` (the up/gate
   projections) and ``(11008, 4096)`` (the down projection), at input sparsity 0%, 40%, 50%,
   70% and 90% (the threshold ``t`` is the matching quantile of ``|x|``). Contenders:

   ================  =========================================================================
   ``ours``          ``sparse_gemv(Wt, x, t)`` with the input-major ``Wt = input_major(W)``
                     (input checks included): reads only the rows of active inputs
   ``numpy_W``       ``W @ x`` with ``W`` of shape (out, in), C-contiguous: what a user holding
                     an ``nn.Linear`` weight writes (BLAS sgemv, dense)
   ``numpy_WtT``     ``Wt.T @ x`` on the input-major copy (BLAS transposed sgemv, dense)
   ``torch``         ``torch.mv(W, x)`` on the same memory (torch's own BLAS, dense)
   ================  =========================================================================

   "numpy dense" in the tables is the faster of ``numpy_W`` and ``numpy_WtT`` in that case.
   Masking ``x`` does not help a dense product, so the dense contenders do the full work.

2. **The CATS MLP block** at ``d_model = 4096``, ``d_ff = 11008`` and neuron sparsity 40%, 50%
   and 70% (plus 0%, the fused kernel with nothing skipped): ``cats_mlp(gate, up, down_t, x, t)``
   against the dense SwiGLU block ``down @ (silu(gate @ x) * (up @ x))`` in NumPy and in torch.

The method (GUIDE.md, section 5; helpers in ``_common.py`` and :mod:`sparsecourse.utils`):

* **Correct before fast**: every contender is checked against a float64 masked dense product.
* **Larger than the cache**: the weights are rotated over copies so that one round of the bytes
  a contender reads is at least twice the 32 MB last-level cache (at 90% sparsity the sparse
  kernel reads 18 MB per call, so it needs four copies). Every contender rotates over the same
  copies.
* **Side by side**: ours and each contender are timed *interleaved*, one call each per repeat
  (:func:`sparsecourse.utils.compare`), after warm-up; the ratio is the contender's median over
  ours. The whole set of cases is measured in several **rounds** (3 in the full run); the table
  shows the median over rounds and the spread (lowest-highest ratio over rounds).
* **Against the physical limit**: GB/s counts the bytes a contender *must* read (dense: every
  weight; ours: the rows of active inputs; CATS: all of ``gate``, the surviving rows of ``up``
  and ``down_t``), compared with the machine's read bandwidth (a 256 MB array summed on all
  cores). The *ideal* ratio is ``1 / (1 - s)`` for the GEMV and ``3 / (3 - 2 s)`` for the CATS
  block, whose gate product stays dense.

Caveat: where ``OPENBLAS_CORETYPE`` is set in the environment (it is on some machines of this
project, to work around old OpenBLAS builds), NumPy's OpenBLAS runs older kernels; the kernel
it actually ran is printed (threadpoolctl) and stored. For numbers to quote, unset it for this
command only: ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/activation.py``.

Run ``python benchmarks/activation.py`` (about 3 minutes) or ``--quick`` (under a minute);
results go to ``benchmarks/results/activation.json`` or ``activation_quick.json``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numba as nb
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
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

from sparsecourse.kernels import axpy, axpy4, cats_mlp, input_major, sparse_gemv  # noqa: E402  # noqa: E402
from sparsecourse.kernels._numba_gemv import compact_kernel, gemv_kernel  # noqa: E402
from sparsecourse.utils import compare  # noqa: E402

FULL = {
    "shapes": [(4096, 11008), (11008, 4096)],  # (in_features, out_features)
    "sparsities": [0.0, 0.4, 0.5, 0.7, 0.9],
    "cats_sparsities": [0.0, 0.4, 0.5, 0.7],
    "repeat": 15,  # interleaved calls of each pair per round
    "rounds": 3,
    "ablation": 0.5,  # sparsity of the ablation table (kernel variants); None: skip it
}
QUICK = {
    "shapes": [(4096, 11008)],
    "sparsities": [0.0, 0.5, 0.9],
    "cats_sparsities": [0.5],
    "repeat": 7,
    "rounds": 1,
    "ablation": None,
}
D_MODEL, D_FF = 4096, 11008
DTYPE = np.float32
RTOL = 1e-4
WARMUP = 2
MAX_COPIES = 8
SEED = 0
TARGETS = {("gemv", 0.5): 1.8, ("gemv", 0.4): 1.5, ("cats", 0.5): 1.35}  # from the issue


def random_weight(rng, shape) -> np.ndarray:
    return (rng.standard_normal(shape, dtype=DTYPE) / np.float32(np.sqrt(shape[-1])))


# --------------------------------------------------------------------------------------------
# GEMV
# --------------------------------------------------------------------------------------------

def gemv_contenders():
    """name -> function of one input tuple ``(W, Wt, W_torch, x, x_torch, t)``."""
    return {
        "numpy_W": lambda W, Wt, Wg, x, xg, t: W @ x,
        "numpy_WtT": lambda W, Wt, Wg, x, xg, t: Wt.T @ x,
        "torch": lambda W, Wt, Wg, x, xg, t: torch.mv(Wg, xg),
    }


def ours_gemv(W, Wt, Wg, x, xg, t):
    return sparse_gemv(Wt, x, t)


def gemv_inputs(shape, n_copies, rng):
    """Copies of one random weight in both layouts (and as torch views) for the rotation."""
    n_in, n_out = shape
    W = random_weight(rng, (n_out, n_in))
    Ws = [W] + [W.copy() for _ in range(n_copies - 1)]
    Wts = [input_major(w) for w in Ws]
    return Ws, Wts


def gemv_case(Ws, Wts, x, sparsity, *, cfg, llc):
    """Check, then time ours against each dense contender at one sparsity; one record."""
    n_out, n_in = Ws[0].shape
    t = float(np.quantile(np.abs(x), sparsity)) if sparsity else 0.0
    kept = np.abs(x) > np.float32(t)
    actual = 1.0 - kept.mean()
    ours_bytes = int(kept.sum()) * n_out * 4 + (n_in + n_out) * 4
    dense_bytes = n_in * n_out * 4 + (n_in + n_out) * 4
    n = min(len(Ws), max(2, rotation_copies(ours_bytes, llc, cap=MAX_COPIES)))
    xg = torch.from_numpy(x)
    inputs = [(Ws[k], Wts[k], torch.from_numpy(Ws[k]), x, xg, t) for k in range(n)]
    reference = Ws[0].astype(np.float64) @ np.where(kept, x, 0).astype(np.float64)
    check_agree(f"ours at {shape_name((n_in, n_out))}, s={sparsity}", ours_gemv(*inputs[0]),
                reference, rtol=RTOL)
    dense_ref = Ws[0].astype(np.float64) @ x.astype(np.float64)
    rec = {"in": n_in, "out": n_out, "sparsity": sparsity, "actual_sparsity": actual,
           "threshold": t, "copies": n, "ours_bytes": ours_bytes, "dense_bytes": dense_bytes,
           "ideal": 1.0 / (1.0 - actual) if actual < 1 else None, "pairs": {}}
    for name, fn in gemv_contenders().items():
        check_agree(f"{name} at {shape_name((n_in, n_out))}", fn(*inputs[0]), dense_ref,
                    rtol=RTOL)
        r = compare(ours_gemv, fn, inputs=inputs, warmup=WARMUP, repeat=cfg["repeat"])
        rec["pairs"][name] = {"ours_s": r["fn"].times, "other_s": r["baseline"].times,
                              "speedup": r["speedup"]}
    return rec


def shape_name(shape) -> str:
    return f"{shape[0]}x{shape[1]}"


# --------------------------------------------------------------------------------------------
# Ablation: what each design choice of gemv_kernel buys (the module docstring quotes it)
# --------------------------------------------------------------------------------------------

_u = np.uint64
_ABL_TILE = 2048  # column tile of the column-split variants (8 KB accumulator, in L1)


@nb.njit(parallel=True, nogil=True)
def naive_kernel(Wt, x, t, y):  # pragma: no cover - compiled
    """The straightforward kernel: one output per iteration, a masked sum down a column."""
    n_in, n_out = Wt.shape
    for j in nb.prange(n_out):
        s = y.dtype.type(0)
        for i in range(n_in):
            if abs(x[i]) > t:
                s += x[i] * Wt[i, j]
        y[j] = s


@nb.njit(parallel=True, nogil=True)
def colsplit_mask_kernel(Wt, x, t, y, n_threads):  # pragma: no cover - compiled
    """Rows as axpys (skipped rows not read), but the mask tested in the loop, one row a pass."""
    n_in, n_out = Wt.shape
    for p in nb.prange(n_threads):
        c0, c1 = p * n_out // n_threads, (p + 1) * n_out // n_threads
        acc = np.empty(_ABL_TILE, dtype=y.dtype)
        for j0 in range(c0, c1, _ABL_TILE):
            w = min(_ABL_TILE, c1 - j0)
            acc[:w] = 0
            for i in range(n_in):
                if abs(x[i]) > t:
                    axpy(acc, x[i], Wt[i, j0:j0 + w], 0, w)
            y[j0:j0 + w] = acc[:w]


@nb.njit(parallel=True, nogil=True)
def colsplit_kernel(Wt, idx, val, nnz, y, n_threads, rows4):  # pragma: no cover - compiled
    """Compacted active rows; columns split between threads; 1 or 4 rows per pass."""
    n_out = Wt.shape[1]
    nnz4 = nnz - nnz % 4 if rows4 else 0
    for p in nb.prange(n_threads):
        c0, c1 = p * n_out // n_threads, (p + 1) * n_out // n_threads
        acc = np.empty(_ABL_TILE, dtype=y.dtype)
        for j0 in range(c0, c1, _ABL_TILE):
            w = min(_ABL_TILE, c1 - j0)
            acc[:w] = 0
            for k in range(0, nnz4, 4):
                axpy4(acc, val[k], Wt[_u(idx[k]), j0:j0 + w],
                       val[k + 1], Wt[_u(idx[k + 1]), j0:j0 + w],
                       val[k + 2], Wt[_u(idx[k + 2]), j0:j0 + w],
                       val[k + 3], Wt[_u(idx[k + 3]), j0:j0 + w], 0, w)
            for k in range(nnz4, nnz):
                axpy(acc, val[k], Wt[_u(idx[k]), j0:j0 + w], 0, w)
            y[j0:j0 + w] = acc[:w]


@nb.njit(parallel=True, nogil=True)
def splitk4_kernel(Wt, idx, val, nnz, partial, y):  # pragma: no cover - compiled
    """Split-K (whole rows per thread, private accumulators), four rows per pass."""
    n_parts, n_out = partial.shape
    for p in nb.prange(n_parts):
        k0, k1 = p * nnz // n_parts, (p + 1) * nnz // n_parts
        k4 = k1 - (k1 - k0) % 4
        acc = partial[p]
        for j in range(n_out):
            acc[j] = 0
        for k in range(k0, k4, 4):
            axpy4(acc, val[k], Wt[_u(idx[k])], val[k + 1], Wt[_u(idx[k + 1])],
                   val[k + 2], Wt[_u(idx[k + 2])], val[k + 3], Wt[_u(idx[k + 3])], 0, n_out)
        for k in range(k4, k1):
            axpy(acc, val[k], Wt[_u(idx[k])], 0, n_out)
    for j in range(n_out):  # a plain loop: an array expression here would be a parallel region
        s = partial[0, j]
        for p in range(1, n_parts):
            s += partial[p, j]
        y[j] = s


def ablation_variants(n_in, n_out, x, t):
    """name -> function of one GEMV input tuple, from the straightforward kernel to ours."""
    nt = nb.get_num_threads()
    idx, val = np.empty(n_in, np.int64), np.empty(n_in, DTYPE)
    nnz = compact_kernel(x, np.float32(t), idx, val)
    y = np.empty(n_out, DTYPE)
    partial = np.empty((nt, n_out), DTYPE)

    def splitk(W, Wt, *_):
        gemv_kernel(Wt, idx, val, nnz, partial, y)
        return y

    return {
        "1 naive: prange over outputs, masked column sums": lambda W, Wt, *_: (
            naive_kernel(Wt, x, np.float32(t), y), y)[1],
        "2 row axpys, columns split, mask tested per row": lambda W, Wt, *_: (
            colsplit_mask_kernel(Wt, x, np.float32(t), y, nt), y)[1],
        "3 + active rows compacted first": lambda W, Wt, *_: (
            colsplit_kernel(Wt, idx, val, nnz, y, nt, False), y)[1],
        "4 + four rows per pass": lambda W, Wt, *_: (
            colsplit_kernel(Wt, idx, val, nnz, y, nt, True), y)[1],
        "5 split-K: whole rows per thread, private accumulators": lambda W, Wt, *_: (
            splitk4_kernel(Wt, idx, val, nnz, partial, y), y)[1],
        "6 + eight rows per pass (ours, gemv_kernel)": splitk,
    }


def ablation(Ws, Wts, x, sparsity, *, cfg, llc, dense_name):
    """Time each variant interleaved with the faster NumPy dense product at one sparsity."""
    n_out, n_in = Ws[0].shape
    t = float(np.quantile(np.abs(x), sparsity))
    kept = np.abs(x) > np.float32(t)
    n = min(len(Ws), max(2, rotation_copies(int(kept.sum()) * n_out * 4, llc, cap=MAX_COPIES)))
    xg = torch.from_numpy(x)
    inputs = [(Ws[k], Wts[k], torch.from_numpy(Ws[k]), x, xg, t) for k in range(n)]
    reference = Ws[0].astype(np.float64) @ np.where(kept, x, 0).astype(np.float64)
    dense = gemv_contenders()[dense_name]
    rows = []
    for name, fn in ablation_variants(n_in, n_out, x, t).items():
        check_agree(name, fn(*inputs[0]).copy(), reference, rtol=RTOL)
        r = compare(fn, dense, inputs=inputs, warmup=WARMUP, repeat=cfg["repeat"])
        rows.append({"in": n_in, "out": n_out, "sparsity": sparsity, "variant": name,
                     "ms": r["fn"].median * 1e3, "dense_ms": r["baseline"].median * 1e3,
                     "x_numpy": r["speedup"]})
    return rows


# --------------------------------------------------------------------------------------------
# CATS MLP block
# --------------------------------------------------------------------------------------------

def silu_np(g):
    return g / (1 + np.exp(-g))


def cats_contenders():
    """name -> function of one input tuple (natural weights, down_t, torch views, x, t)."""
    def numpy_block(gate, up, down, down_t, gg, ug, dg, x, xg, t):
        return down @ (silu_np(gate @ x) * (up @ x))

    def torch_block(gate, up, down, down_t, gg, ug, dg, x, xg, t):
        return torch.mv(dg, F.silu(torch.mv(gg, xg)) * torch.mv(ug, xg))

    return {"numpy_dense": numpy_block, "torch_dense": torch_block}


def ours_cats(gate, up, down, down_t, gg, ug, dg, x, xg, t):
    return cats_mlp(gate, up, down_t, x, t)


def cats_inputs(n_copies, rng):
    gate = random_weight(rng, (D_FF, D_MODEL))
    up = random_weight(rng, (D_FF, D_MODEL))
    down = random_weight(rng, (D_MODEL, D_FF))
    sets = []
    for k in range(n_copies):
        g, u, d = (gate, up, down) if k == 0 else (gate.copy(), up.copy(), down.copy())
        sets.append((g, u, d, input_major(d)))
    return sets


def cats_case(sets, x, sparsity, *, cfg, llc):
    gate, up, down, down_t = sets[0]
    h = silu_np(gate.astype(np.float64) @ x.astype(np.float64))
    t = float(np.quantile(np.abs(h), sparsity)) if sparsity else 0.0
    kept = np.abs(h) > t
    actual = 1.0 - kept.mean()
    w = D_FF * D_MODEL * 4
    ours_bytes = w + 2 * int(kept.sum()) * D_MODEL * 4
    dense_bytes = 3 * w
    n = min(len(sets), max(2, rotation_copies(ours_bytes, llc, cap=MAX_COPIES)))
    xg = torch.from_numpy(x)
    inputs = [(*s, *(torch.from_numpy(a) for a in s[:3]), x, xg, t) for s in sets[:n]]
    coef = np.where(kept, h, 0) * (up.astype(np.float64) @ x)
    reference = down.astype(np.float64) @ coef
    check_agree(f"cats_mlp at s={sparsity}", ours_cats(*inputs[0]), reference, rtol=RTOL)
    dense_ref = down.astype(np.float64) @ (h * (up.astype(np.float64) @ x))
    rec = {"d_model": D_MODEL, "d_ff": D_FF, "sparsity": sparsity, "actual_sparsity": actual,
           "threshold": t, "copies": n, "ours_bytes": ours_bytes, "dense_bytes": dense_bytes,
           "ideal": 3.0 / (3.0 - 2.0 * actual), "pairs": {}}
    for name, fn in cats_contenders().items():
        check_agree(f"{name} SwiGLU block", fn(*inputs[0]), dense_ref, rtol=RTOL)
        r = compare(ours_cats, fn, inputs=inputs, warmup=WARMUP, repeat=cfg["repeat"])
        rec["pairs"][name] = {"ours_s": r["fn"].times, "other_s": r["baseline"].times,
                              "speedup": r["speedup"]}
    return rec


# --------------------------------------------------------------------------------------------
# Summaries
# --------------------------------------------------------------------------------------------

def summarise(rounds: list[list[dict]], bandwidth: float, dense_names: list[str]) -> list[dict]:
    """One row per case: medians over all rounds' timings, ratio spread over rounds."""
    rows = []
    for case_rounds in zip(*rounds, strict=True):
        first = case_rounds[0]
        row = {k: first[k] for k in first if k not in ("pairs",)}
        ours_all = [t for rec in case_rounds for p in rec["pairs"].values() for t in p["ours_s"]]
        row["ours_ms"] = 1e3 * float(np.median(ours_all))
        row["ours_gbps"] = first["ours_bytes"] / (row["ours_ms"] * 1e-3) / 1e9
        row["ours_pct_bw"] = 100 * row["ours_gbps"] / bandwidth
        for name in first["pairs"]:
            other = [t for rec in case_rounds for t in rec["pairs"][name]["other_s"]]
            ms = 1e3 * float(np.median(other))
            ratios = [rec["pairs"][name]["speedup"] for rec in case_rounds]
            row[f"{name}_ms"] = ms
            row[f"{name}_gbps"] = first["dense_bytes"] / (ms * 1e-3) / 1e9
            row[f"{name}_pct_bw"] = 100 * row[f"{name}_gbps"] / bandwidth
            row[f"x_{name}"] = float(np.median(ratios))
            row[f"x_{name}_min"] = float(min(ratios))
            row[f"x_{name}_max"] = float(max(ratios))
        # "numpy dense": the faster NumPy layout in this case (by its median time)
        best = min(dense_names, key=lambda nm: row[f"{nm}_ms"])
        row["numpy_best"] = best
        for key in ("ms", "gbps", "pct_bw"):
            row[f"numpy_{key}"] = row[f"{best}_{key}"]
        for key in ("", "_min", "_max"):
            row[f"x_numpy{key}"] = row[f"x_{best}{key}"]
        row["x_numpy_spread"] = f"{row['x_numpy_min']:.2f}-{row['x_numpy_max']:.2f}"
        rows.append(row)
    return rows


def main(argv=None):
    args = parse_args(__doc__.splitlines()[0], argv)
    cfg = QUICK if args.quick else FULL
    t_start, llc, busy, load_before, bandwidths = start(args.quick)
    bw = bandwidths["read"]
    print(f"Activation-sparsity benchmark{' (--quick)' if args.quick else ''}: float32, batch 1")
    print(f"read bandwidth {bw:.1f} GB/s (all cores; the tables' 100%), copy bandwidth "
          f"{bandwidths['copy']:.1f} GB/s (one-core memcpy); last-level cache "
          f"{llc / 2**20:.0f} MiB; load average before {load_before[0]:.2f}", flush=True)
    if busy:
        print(busy, flush=True)

    rng = np.random.default_rng(SEED)
    gemv_rounds = [[] for _ in range(cfg["rounds"])]
    cats_rounds = [[] for _ in range(cfg["rounds"])]
    max_s = max(cfg["sparsities"])
    ablation_rows = []
    for shape in cfg["shapes"]:
        t0 = time.perf_counter()
        n_in, n_out = shape
        need = rotation_copies(int((1 - max_s) * n_in) * n_out * 4, llc, cap=MAX_COPIES)
        Ws, Wts = gemv_inputs(shape, max(2, need), rng)
        x = rng.standard_normal(n_in, dtype=DTYPE)
        for r in range(cfg["rounds"]):
            for s in cfg["sparsities"]:
                gemv_rounds[r].append(gemv_case(Ws, Wts, x, s, cfg=cfg, llc=llc))
        if cfg["ablation"] is not None:
            best = min(("numpy_W", "numpy_WtT"), key=lambda nm: np.median(
                [t for rec in gemv_rounds[0] if rec["in"] == n_in
                 for t in rec["pairs"][nm]["other_s"]]))
            ablation_rows += ablation(Ws, Wts, x, cfg["ablation"], cfg=cfg, llc=llc,
                                      dense_name=best)
        print(f"  GEMV {shape_name(shape)}: {len(Ws)} copies, "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
        del Ws, Wts

    t0 = time.perf_counter()
    w = D_FF * D_MODEL * 4
    max_cs = max(cfg["cats_sparsities"])
    sets = cats_inputs(max(2, rotation_copies(int(w * (3 - 2 * max_cs)), llc, cap=MAX_COPIES)),
                       rng)
    x = rng.standard_normal(D_MODEL, dtype=DTYPE)
    for r in range(cfg["rounds"]):
        for s in cfg["cats_sparsities"]:
            cats_rounds[r].append(cats_case(sets, x, s, cfg=cfg, llc=llc))
    print(f"  CATS block: {len(sets)} copies, {time.perf_counter() - t0:.0f} s", flush=True)
    del sets

    load_after = os.getloadavg()
    info = machine_info(bandwidths)
    info["load_average_before"] = load_before
    info["load_average_after"] = load_after
    print(f"threads: {describe_threads(info)}")
    gemv_rows = summarise(gemv_rounds, bw, ["numpy_W", "numpy_WtT"])
    cats_rows = summarise(cats_rounds, bw, ["numpy_dense"])

    print_table(gemv_rows, [
        ("in x out", "in", "d"), ("", "out", "d"), ("sparsity", "actual_sparsity", ".2f"),
        ("ours ms", "ours_ms", ".2f"), ("numpy ms", "numpy_ms", ".2f"),
        ("numpy layout", "numpy_best", "s"), ("W@x ms", "numpy_W_ms", ".2f"),
        ("Wt.T@x ms", "numpy_WtT_ms", ".2f"), ("torch ms", "torch_ms", ".2f"),
    ], title=f"GEMV y = W @ mask(x), float32: median time in ms over {cfg['rounds']} round(s)")
    print_table(gemv_rows, [
        ("in x out", "in", "d"), ("", "out", "d"), ("sparsity", "actual_sparsity", ".2f"),
        ("x numpy", "x_numpy", ".2f"), ("spread", "x_numpy_spread", "s"),
        ("x torch", "x_torch", ".2f"), ("ideal", "ideal", ".2f"),
        ("ours GB/s", "ours_gbps", ".1f"), ("%bw", "ours_pct_bw", ".0f"),
        ("numpy GB/s", "numpy_gbps", ".1f"), ("%bw", "numpy_pct_bw", ".0f"),
        ("torch GB/s", "torch_gbps", ".1f"), ("%bw", "torch_pct_bw", ".0f"),
    ], title="GEMV speed-up of ours (their time / ours, > 1: ours faster; spread = lowest-"
             "highest over rounds), ideal 1/(1-s), GB/s of the bytes each must read")
    print_table(cats_rows, [
        ("sparsity", "actual_sparsity", ".2f"), ("ours ms", "ours_ms", ".2f"),
        ("numpy ms", "numpy_dense_ms", ".2f"), ("torch ms", "torch_dense_ms", ".2f"),
        ("x numpy", "x_numpy", ".2f"), ("spread", "x_numpy_spread", "s"),
        ("x torch", "x_torch_dense", ".2f"), ("ideal", "ideal", ".2f"),
        ("ours GB/s", "ours_gbps", ".1f"), ("%bw", "ours_pct_bw", ".0f"),
        ("numpy GB/s", "numpy_gbps", ".1f"), ("%bw", "numpy_pct_bw", ".0f"),
        ("torch GB/s", "torch_dense_gbps", ".1f"), ("%bw", "torch_dense_pct_bw", ".0f"),
    ], title=f"CATS MLP block (d_model {D_MODEL}, d_ff {D_FF}) vs the dense SwiGLU block: "
             "ideal 3/(3-2s)")

    if ablation_rows:
        print_table(ablation_rows, [
            ("in", "in", "d"), ("out", "out", "d"), ("variant", "variant", "s"),
            ("ms", "ms", ".2f"), ("numpy ms", "dense_ms", ".2f"), ("x numpy", "x_numpy", ".2f"),
        ], title=f"Ablation at {cfg['ablation']:.0%} sparsity: each design step of sparse_gemv's "
                 "kernel (kernel alone, interleaved with the faster NumPy dense layout)")

    targets = []
    for (kind, s), goal in TARGETS.items():
        rows = [r for r in (gemv_rows if kind == "gemv" else cats_rows) if r["sparsity"] == s]
        for r in rows:
            where = f"{r['in']}x{r['out']}" if kind == "gemv" else "CATS block"
            targets.append({"what": f"{where} at {s:.0%}", "target": goal,
                            "measured": r["x_numpy"], "lowest_round": r["x_numpy_min"],
                            "met": r["x_numpy"] >= goal})
    if targets:
        print("\nTargets (speed-up over numpy dense, median over rounds):")
        for t in targets:
            print(f"  {t['what']}: {t['measured']:.2f}x (lowest round {t['lowest_round']:.2f}x), "
                  f"target {t['target']:.2f}x: {'met' if t['met'] else 'NOT met'}")
    print(f"\nload average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min); "
          f"{'quick run' if args.quick else 'full run'}")
    openblas = {k: v for k, v in info["env"].items() if k.startswith("OPENBLAS_")}
    if openblas:
        print(f"  {' '.join(f'{k}={v}' for k, v in openblas.items())} is set: NumPy's "
              "OpenBLAS runs the kernels named above, which may slow numpy dense")
    if busy:
        print(f"  {busy}")

    wall = time.perf_counter() - t_start
    payload = {
        "benchmark": "activation", "quick": args.quick, "wall_s": wall,
        "settings": {**{k: v for k, v in cfg.items()}, "dtype": np.dtype(DTYPE).name,
                     "d_model": D_MODEL, "d_ff": D_FF, "rtol": RTOL, "warmup": WARMUP,
                     "max_copies": MAX_COPIES, "seed": SEED},
        "machine": info,
        "targets": targets,
        "gemv": gemv_rows, "cats": cats_rows, "ablation": ablation_rows,
        "rounds": {"gemv": gemv_rounds, "cats": cats_rounds},
    }
    path = write_json(results_path("activation", args.quick), payload)
    print(f"\nwrote {path} ({wall:.0f} s in all)")


if __name__ == "__main__":
    main()
