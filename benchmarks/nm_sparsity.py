"""2:4 sparsity: our numba GEMV/GEMM against dense NumPy and torch, and SparseGPT's pruning time.

Part 1 -- the 2:4 product ``y = W @ x`` (batch 1) and ``Y = W @ X`` (batch 4 and 16) for the two
Llama-7B MLP shapes, 4096x11008 and 11008x4096 (``(out, in)``), float32. The contenders:

================  ==========================================================================
``ours``          ``nm_gemv(packed, x)`` / ``nm_gemm(packed, X)`` on the 2:4 packed format
                  (values + 2-bit indices, 2.125 bytes per input column instead of 4)
``numpy_dense``   ``W @ x`` with the dense (zero-filled) ``W`` (BLAS)
``torch_dense``   the same through ``torch.from_numpy`` (torch's BLAS)
================  ==========================================================================

Each weight is copied enough times that one rotation through the copies is at least twice the
last-level cache (``sparsecourse.utils.rotation_copies``), so repeats measure memory, not the
cache; results are checked against the dense product before timing; the median of repeats is
reported, with GB/s (the bytes each contender must read: packed values and metadata for ours,
the dense matrix for the others, plus the vectors) against the machine's measured read
bandwidth. The targets of the chapter: ours >= 1.6x NumPy dense at batch 1 (the byte bound is
4 / 2.125 = 1.88x) and faster than dense at batch 16.

Part 2 -- SparseGPT on one 4096x4096 layer calibrated on 128 sequences of 32 tokens (4096
tokens; the sequence length is short so the Gram matrix, 4096^2 x 4096 multiply-adds, stays a
few seconds on a laptop): the time to accumulate ``H = X X^T`` and the time of the solver at
50% unstructured and at 2:4, with the relative output error beside magnitude pruning's.

Part 3 (only where CUDA exists) -- the same 2:4 weights in float16 through
``torch.sparse.to_sparse_semi_structured`` against the dense float16 product on the GPU, at
batch 16, 64 and 256 (the sparse kernels need the batch to be a multiple of 8).

Run ``python benchmarks/nm_sparsity.py`` (a few minutes) or ``--quick`` (under a minute: one
shape, fewer repeats, a 1024x1024 SparseGPT layer). Results go to
``benchmarks/results/nm_sparsity.json`` (or ``nm_sparsity_quick.json``).
"""

from __future__ import annotations

import time

import numpy as np
import torch
from _common import (
    cache_note,
    check_agree,
    describe_threads,
    load_warning,
    machine_info,
    parse_args,
    print_table,
    results_path,
    rotation_copies,
    start,
    time_contender,
    write_json,
)

from sparsecourse.kernels import nm_gemm, nm_gemv, nm_mask, nm_pack
from sparsecourse.pruning import magnitude_mask, reconstruction_error, sparsegpt

DTYPE = np.float32
SEED = 0
RTOL = 1e-4
MAX_COPIES = 4
FULL = {"shapes": [(4096, 11008), (11008, 4096)], "batches": [1, 4, 16], "budget_s": 1.5,
        "sgpt_dim": 4096, "sgpt_seqs": 128, "sgpt_seq_len": 32}
QUICK = {"shapes": [(4096, 11008)], "batches": [1, 16], "budget_s": 0.4,
         "sgpt_dim": 1024, "sgpt_seqs": 32, "sgpt_seq_len": 32}


def nm_inputs(shape, n_copies, rng):
    """Copies of one random 2:4 weight, dense and packed, for the rotation."""
    W = rng.standard_normal(shape, dtype=DTYPE)
    W *= nm_mask(W, 2, 4)
    Ws = [W] + [W.copy() for _ in range(n_copies - 1)]
    return Ws, [nm_pack(w) for w in Ws]


def gemm_case(Ws, Ps, batch, *, cfg, llc, bw, rng):
    out, n_in = Ws[0].shape
    X = rng.standard_normal((n_in, batch), dtype=DTYPE)
    x = X[:, 0].copy()
    Xt, xt = torch.from_numpy(X), torch.from_numpy(x)
    Wts = [torch.from_numpy(w) for w in Ws]
    if batch == 1:
        ours = (lambda p, w, wt: nm_gemv(p, x)), "nm_gemv"
        npd = lambda p, w, wt: w @ x  # noqa: E731
        thd = lambda p, w, wt: wt @ xt  # noqa: E731
        ref = Ws[0].astype(np.float64) @ x
    else:
        ours = (lambda p, w, wt: nm_gemm(p, X)), "nm_gemm"
        npd = lambda p, w, wt: w @ X  # noqa: E731
        thd = lambda p, w, wt: wt @ Xt  # noqa: E731
        ref = Ws[0].astype(np.float64) @ X
    contenders = {"ours": ours[0], "numpy_dense": npd, "torch_dense": thd}
    vec_bytes = (n_in + out) * batch * 4
    nbytes = {"ours": Ps[0].nbytes + vec_bytes, "numpy_dense": Ws[0].nbytes + vec_bytes,
              "torch_dense": Ws[0].nbytes + vec_bytes}
    inputs = list(zip(Ps, Ws, Wts, strict=True))
    row = {"shape": f"{out}x{n_in}", "batch": batch, "kernel": ours[1],
           "copies": len(Ws), "cache": cache_note(len(Ws) * Ps[0].nbytes, llc)}
    for name, fn in contenders.items():
        check_agree(name, fn(*inputs[0]), ref, rtol=RTOL)
        t = time_contender(fn, inputs, budget_s=cfg["budget_s"]).median
        row[f"{name}_ms"] = 1e3 * t
        row[f"{name}_gbs"] = nbytes[name] / t / 1e9
    row["vs_numpy"] = row["numpy_dense_ms"] / row["ours_ms"]
    row["vs_torch"] = row["torch_dense_ms"] / row["ours_ms"]
    row["ours_pct_bw"] = 100 * row["ours_gbs"] / bw
    row["byte_bound"] = Ws[0].nbytes / Ps[0].nbytes
    return row


def sparsegpt_case(cfg, rng):
    d, n_seq, T = cfg["sgpt_dim"], cfg["sgpt_seqs"], cfg["sgpt_seq_len"]
    # correlated inputs of different scales, like a normalised residual stream
    mix = rng.standard_normal((d, d // 8), dtype=DTYPE) / np.sqrt(d // 8)
    scales = rng.uniform(0.2, 2.0, size=(d, 1)).astype(DTYPE)
    W = torch.from_numpy(rng.standard_normal((d, d), dtype=DTYPE) / np.sqrt(d))
    H = torch.zeros(d, d, dtype=torch.float64)
    t0 = time.perf_counter()
    for _ in range(n_seq):  # one calibration sequence at a time, as hooks would see it
        Xs = scales * (mix @ rng.standard_normal((d // 8, T), dtype=DTYPE)
                       + 0.3 * rng.standard_normal((d, T), dtype=DTYPE))
        Xs = torch.from_numpy(Xs).double()
        H += Xs @ Xs.T
    t_h = time.perf_counter() - t0
    row = {"layer": f"{d}x{d}", "calibration": f"{n_seq} seqs x {T} tokens", "H_s": t_h}
    for label, kw in (("50%", {"density": 0.5}), ("2:4", {"nm": (2, 4)})):
        t0 = time.perf_counter()
        Wp = sparsegpt(W, H, **kw)
        row[f"sparsegpt_{label}_s"] = time.perf_counter() - t0
        row[f"err_{label}"] = reconstruction_error(W.double(), Wp.double(), H)
        mag = W * magnitude_mask(W, **kw).to(W.dtype)
        row[f"magnitude_err_{label}"] = reconstruction_error(W.double(), mag.double(), H)
    return row


def gpu_part(rng) -> list[dict]:
    """torch's semi-structured (2:4) sparse matmul against dense, float16, on a CUDA GPU."""
    if not torch.cuda.is_available():
        return []
    rows = []
    try:
        from torch.sparse import to_sparse_semi_structured
    except ImportError as err:  # pragma: no cover - old torch
        return [{"error": f"to_sparse_semi_structured unavailable: {err}"}]
    for out, n_in in FULL["shapes"]:
        W = torch.from_numpy(rng.standard_normal((out, n_in), dtype=DTYPE))
        W = (W * torch.from_numpy(nm_mask(W.numpy(), 2, 4))).half().cuda()
        try:
            Ws = to_sparse_semi_structured(W)
        except Exception as err:  # noqa: BLE001 - report, do not hide
            rows.append({"shape": f"{out}x{n_in}", "error": repr(err)})
            continue
        for batch in (16, 64, 256):
            X = torch.randn(n_in, batch, device="cuda", dtype=torch.float16)
            ref = W @ X
            got = Ws @ X
            err = float((got - ref).abs().max() / ref.abs().max())
            times = {}
            for name, fn in (("dense", lambda X=X, A=W: A @ X),
                             ("semi_structured", lambda X=X, A=Ws: A @ X)):
                for _ in range(5):
                    fn()
                torch.cuda.synchronize()
                start, end = torch.cuda.Event(True), torch.cuda.Event(True)
                start.record()
                for _ in range(50):
                    fn()
                end.record()
                torch.cuda.synchronize()
                times[name] = start.elapsed_time(end) / 50
            rows.append({"shape": f"{out}x{n_in}", "batch": batch, "rel_err": err,
                         "dense_ms": times["dense"], "sparse_ms": times["semi_structured"],
                         "speedup": times["dense"] / times["semi_structured"],
                         "device": torch.cuda.get_device_name()})
    return rows


def main(argv=None):
    args = parse_args(__doc__.splitlines()[0], argv)
    cfg = QUICK if args.quick else FULL
    t_start, llc, busy, load_before, bandwidths = start(args.quick)
    bw = bandwidths["read"]
    print(f"N:M sparsity benchmark{' (--quick)' if args.quick else ''}: 2:4, float32")
    print(f"read bandwidth {bw:.1f} GB/s (all cores), copy {bandwidths['copy']:.1f} GB/s; "
          f"LLC {llc / 2**20:.0f} MiB; load average before {load_before[0]:.2f}", flush=True)
    if busy:
        print(busy, flush=True)
    rng = np.random.default_rng(SEED)
    rows = []
    for shape in cfg["shapes"]:
        packed_bytes = int(shape[0] * shape[1] * 2.125)
        n = min(MAX_COPIES, max(2, rotation_copies(packed_bytes, llc, cap=MAX_COPIES)))
        Ws, Ps = nm_inputs(shape, n, rng)
        for batch in cfg["batches"]:
            rows.append(gemm_case(Ws, Ps, batch, cfg=cfg, llc=llc, bw=bw, rng=rng))
            print(f"  {rows[-1]['shape']} batch {batch}: {rows[-1]['vs_numpy']:.2f}x numpy",
                  flush=True)
        del Ws, Ps
    info = machine_info(bandwidths)
    print(f"threads: {describe_threads(info)}")
    print_table(rows, [
        ("shape", "shape", "s"), ("batch", "batch", "d"), ("ours ms", "ours_ms", ".2f"),
        ("numpy ms", "numpy_dense_ms", ".2f"), ("torch ms", "torch_dense_ms", ".2f"),
        ("vs numpy", "vs_numpy", ".2f"), ("vs torch", "vs_torch", ".2f"),
        ("ours GB/s", "ours_gbs", ".1f"), ("numpy GB/s", "numpy_dense_gbs", ".1f"),
        ("ours % read bw", "ours_pct_bw", ".0f"), ("byte bound", "byte_bound", ".2f"),
        ("note", "cache", "s"),
    ], title="2:4 product, speed-up = dense time / ours (above 1: ours faster)")
    sg = sparsegpt_case(cfg, rng)
    print_table([sg], [
        ("layer", "layer", "s"), ("calibration", "calibration", "s"), ("H s", "H_s", ".2f"),
        ("SparseGPT 50% s", "sparsegpt_50%_s", ".2f"), ("SparseGPT 2:4 s", "sparsegpt_2:4_s",
                                                         ".2f"),
        ("err 50%", "err_50%", ".3f"), ("magnitude err 50%", "magnitude_err_50%", ".3f"),
        ("err 2:4", "err_2:4", ".3f"), ("magnitude err 2:4", "magnitude_err_2:4", ".3f"),
    ], title="SparseGPT on one layer (relative output error ||WX - W'X|| / ||WX||)")
    gpu = gpu_part(rng)
    if gpu:
        print_table(gpu, [("shape", "shape", "s"), ("batch", "batch", "d"),
                          ("dense ms", "dense_ms", ".3f"), ("2:4 ms", "sparse_ms", ".3f"),
                          ("speed-up", "speedup", ".2f"), ("rel err", "rel_err", ".1e")],
                    title="GPU: torch.sparse.to_sparse_semi_structured, float16")
    else:
        print("\nGPU part skipped: no CUDA device")
    b1 = [r["vs_numpy"] for r in rows if r["batch"] == 1]
    b16 = [r["vs_numpy"] for r in rows if r["batch"] == 16]
    targets = {"gemv_vs_numpy_min": min(b1), "gemv_target": 1.6,
               "gemv_met": min(b1) >= 1.6, "batch16_vs_numpy_min": min(b16) if b16 else None,
               "batch16_met": bool(b16) and min(b16) > 1.0}
    print(f"\ntargets: batch-1 GEMV {min(b1):.2f}x numpy (target >= 1.6: "
          f"{'met' if targets['gemv_met'] else 'NOT met'}); batch 16 "
          f"{targets['batch16_vs_numpy_min']:.2f}x (target > 1: "
          f"{'met' if targets['batch16_met'] else 'NOT met'})")
    if busy or load_warning():
        print(f"  {busy or load_warning()}")
    wall = time.perf_counter() - t_start
    payload = {"benchmark": "nm_sparsity", "quick": args.quick, "wall_s": wall,
               "settings": {**cfg, "dtype": np.dtype(DTYPE).name, "rtol": RTOL,
                            "max_copies": MAX_COPIES, "seed": SEED},
               "machine": info, "targets": targets, "products": rows, "sparsegpt": sg,
               "gpu": gpu}
    path = write_json(results_path("nm_sparsity", args.quick), payload)
    print(f"\nwrote {path} ({wall:.0f} s in all)")


if __name__ == "__main__":
    main()
