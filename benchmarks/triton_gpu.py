"""Triton kernels on a GPU: correctness against torch, then time against cuBLAS and cuSPARSE.

    python benchmarks/triton_gpu.py [--quick]

Needs a CUDA GPU; without one it says so and exits 0 (CI machines have none: the kernels'
correctness is tested on the CPU under ``TRITON_INTERPRET=1`` in ``tests/``). On a GPU it

1. measures the device-to-device copy bandwidth (bytes read + written), the physical limit of a
   memory-bound kernel;
2. checks every Triton kernel against torch on the benchmark's own inputs;
3. times CSR SpMV (``sparsecourse.kernels.triton_csr``: one row per program and a tile of rows per
   program) against dense ``torch.mv`` (cuBLAS) and ``torch.sparse`` CSR (cuSPARSE), with the
   achieved GB/s;
4. times the truly sparse layer's forward product (``sparsecourse.sparse_nn``'s Triton kernel, when
   present) against torch dense-with-mask and ``torch.sparse`` at Nerva's layer sizes.
5. times the activation-sparsity kernels of ``sparsecourse.kernels.triton_gemv`` (chapter 5): the
   split-K sparse GEMV at Llama-7B shapes (4096 x 11008 and 11008 x 4096) and input sparsity 0-90%
   against dense ``torch.mv`` (cuBLAS) on the masked input, and the CATS MLP block against the
   dense SwiGLU block in torch, with GB/s of the bytes each must read.

Times are medians of CUDA-event timings from ``triton.testing.do_bench``, which clears the L2
cache before each repeat. Results go to ``benchmarks/results/triton_gpu.json`` (or ``$OUT`` when
set, which is how the device machine hands files back).
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from _common import parse_args, print_table, results_path, write_json  # noqa: E402

warnings.filterwarnings("ignore", message=".*Sparse CSR tensor support is in beta.*")


def copy_bandwidth(nbytes: int = 2**30) -> float:
    """Device-to-device copy bandwidth in GB/s, counting bytes read and written."""
    from triton.testing import do_bench

    a = torch.empty(nbytes // 4, dtype=torch.float32, device="cuda")
    b = torch.empty_like(a)
    ms = do_bench(lambda: b.copy_(a), warmup=25, rep=200, return_mode="median")
    return 2 * nbytes / (ms * 1e-3) / 1e9


def random_csr_gpu(m: int, n: int, density: float, seed: int = 0) -> torch.Tensor:
    """A random m x n CSR matrix on the GPU with int32 indices and float32 values."""
    g = torch.Generator(device="cuda").manual_seed(seed)
    nnz_per_row = max(1, round(density * n))
    # distinct columns per row: the first k of a random permutation, drawn 2048 rows at a time
    cols = torch.cat([
        torch.rand(min(2048, m - r), n, device="cuda", generator=g).argsort(dim=1)[:, :nnz_per_row]
        for r in range(0, m, 2048)
    ]).sort(dim=1).values
    crow = torch.arange(0, m * nnz_per_row + 1, nnz_per_row, device="cuda", dtype=torch.int32)
    vals = torch.randn(m * nnz_per_row, device="cuda", generator=g)
    return torch.sparse_csr_tensor(crow, cols.reshape(-1).to(torch.int32), vals, size=(m, n),
                                   check_invariants=False)


def time_contenders(contenders: dict, reference: torch.Tensor, what: str) -> dict:
    """Check each contender against ``reference``, then time it (median ms, L2 cleared)."""
    from triton.testing import do_bench

    times = {}
    for name, fn in contenders.items():
        y = fn()
        err = (y - reference).abs().max().item() / max(1.0, reference.abs().max().item())
        assert err < 1e-4, f"{name} disagrees with dense torch on {what}: {err:.2e}"
        times[name] = do_bench(fn, warmup=25, rep=100, return_mode="median")
    return times


def spmv_case(n: int, density: float, x: torch.Tensor) -> dict:
    from sparsecourse.kernels.triton_csr import csr_spmv

    A = random_csr_gpu(n, n, density, seed=1)
    nnz = A.values().numel()
    dense = A.to_dense()
    contenders = {
        "torch dense mv (cuBLAS)": lambda: torch.mv(dense, x),
        "torch.sparse CSR (cuSPARSE)": lambda: A @ x,
        "triton 1 row/program": lambda: csr_spmv(A, x, block=32, check_finite=False),
    }
    for r, b in [(4, 32), (16, 16), (64, 8)]:
        contenders[f"triton {r} rows x {b}"] = (
            lambda r=r, b=b: csr_spmv(A, x, block=b, rows_per_program=r, check_finite=False))
    times = time_contenders(contenders, dense @ x, f"SpMV at density {density}")
    sparse_bytes = nnz * 8 + (n + 1) * 4 + 2 * n * 4
    dense_bytes = n * n * 4 + 2 * n * 4
    best_ms, best = min((t, k) for k, t in times.items() if k.startswith("triton"))
    row = {"n": n, "density": density, "nnz": nnz}
    row.update({f"{k} ms": t for k, t in times.items()})
    row["best triton"] = best
    row["best triton GB/s"] = sparse_bytes / (best_ms * 1e-3) / 1e9
    row["dense GB/s"] = dense_bytes / (times["torch dense mv (cuBLAS)"] * 1e-3) / 1e9
    row["cuSPARSE / best triton"] = times["torch.sparse CSR (cuSPARSE)"] / best_ms
    row["dense / best triton"] = times["torch dense mv (cuBLAS)"] / best_ms
    return row


def bench_spmv(quick: bool) -> list[dict]:
    n = 8192 if quick else 16384
    densities = [1.0, 0.1, 0.01] if quick else [1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001]
    x = torch.randn(n, device="cuda")
    rows = []
    for d in densities:
        rows.append(spmv_case(n, d, x))
        torch.cuda.empty_cache()
    return rows


def forward_case(fwd, fan_out: int, fan_in: int, density: float, batch: int) -> dict:
    W = random_csr_gpu(fan_out, fan_in, density, seed=2)
    Wd = W.to_dense()
    mask = (Wd != 0).to(Wd.dtype)
    X = torch.randn(batch, fan_in, device="cuda")
    contenders = {
        "torch dense-with-mask": lambda: X @ (Wd * mask).T,
        "torch.sparse CSR": lambda: (W @ X.T).T,
        "triton sparse forward": lambda: fwd(W, X, check_finite=False),
    }
    t = time_contenders(contenders, X @ Wd.T, f"the {fan_in}->{fan_out} layer at {density}")
    row = {"layer": f"{fan_in}->{fan_out}", "batch": batch, "density": density}
    row.update({f"{k} ms": v for k, v in t.items()})
    ours = t["triton sparse forward"]
    row["dense-with-mask / triton"] = t["torch dense-with-mask"] / ours
    row["torch.sparse / triton"] = t["torch.sparse CSR"] / ours
    return row


def bench_sparse_forward(quick: bool) -> list[dict]:
    """The truly sparse layer's Triton forward, if sparse_nn provides one (see its module)."""
    try:
        from sparsecourse.sparse_nn import triton_forward as tf
    except ImportError as exc:  # the module is optional: report, do not fail
        print(f"sparse_nn Triton forward not available: {exc}")
        return []
    fwd = tf.sparse_linear_forward  # (W, X, bias=None, ...): W may be a torch CSR tensor
    return [forward_case(fwd, fan_out, fan_in, d, 100)
            for d in ([0.1, 0.01] if quick else [0.1, 0.05, 0.01, 0.001])
            for fan_out, fan_in in [(1024, 3072), (512, 1024)]]


def gemv_case(n_in: int, n_out: int, sparsity: float, device="cuda") -> dict:
    """Triton split-K sparse GEMV against ``torch.mv`` at one shape and input sparsity."""
    from sparsecourse.kernels.triton_gemv import sparse_gemv

    g = torch.Generator(device=device).manual_seed(3)
    W = torch.randn(n_out, n_in, device=device, generator=g) / n_in**0.5  # nn.Linear layout
    Wt = W.T.contiguous()  # input-major, what the sparse kernel reads
    x = torch.randn(n_in, device=device, generator=g)
    t = torch.quantile(x.abs().cpu(), sparsity).item() if sparsity else 0.0
    xm = torch.where(x.abs() > t, x, 0.0)
    n_active = int((xm != 0).sum())
    contenders = {"torch.mv dense (cuBLAS)": lambda: torch.mv(W, xm)}
    for bi, bo in [(64, 128), (32, 256), (128, 64)]:
        contenders[f"triton {bi}x{bo}"] = (
            lambda bi=bi, bo=bo: sparse_gemv(Wt, x, t, device=device, block_in=bi,
                                             block_out=bo, check_finite=False))
    times = time_contenders(contenders, torch.mv(W, xm), f"GEMV {n_in}x{n_out} at {sparsity}")
    best_ms, best = min((v, k) for k, v in times.items() if k.startswith("triton"))
    dense_ms = times["torch.mv dense (cuBLAS)"]
    row = {"in x out": f"{n_in}x{n_out}", "sparsity": sparsity,
           "active": n_active / n_in}
    row.update({f"{k} ms": v for k, v in times.items()})
    row["best triton"] = best
    row["best triton GB/s"] = n_active * n_out * 4 / (best_ms * 1e-3) / 1e9
    row["dense GB/s"] = n_in * n_out * 4 / (dense_ms * 1e-3) / 1e9
    row["dense / best triton"] = dense_ms / best_ms
    row["ideal"] = n_in / max(n_active, 1)
    return row


def bench_gemv(quick: bool, device="cuda", shapes=None) -> list[dict]:
    shapes = shapes or ([(4096, 11008)] if quick else [(4096, 11008), (11008, 4096)])
    sparsities = [0.0, 0.5, 0.9] if quick else [0.0, 0.4, 0.5, 0.7, 0.9]
    return [gemv_case(n_in, n_out, s, device) for n_in, n_out in shapes for s in sparsities]


def cats_case(d_model: int, d_ff: int, sparsity: float, device="cuda") -> dict:
    """Triton CATS MLP block against the dense SwiGLU block in torch."""
    import torch.nn.functional as F

    from sparsecourse.kernels.triton_gemv import cats_mlp

    g = torch.Generator(device=device).manual_seed(4)
    gate, up = (torch.randn(2, d_ff, d_model, device=device, generator=g) / d_model**0.5)
    down = torch.randn(d_model, d_ff, device=device, generator=g) / d_ff**0.5
    down_t = down.T.contiguous()
    x = torch.randn(d_model, device=device, generator=g)
    h = F.silu(torch.mv(gate, x))
    t = torch.quantile(h.abs().cpu(), sparsity).item() if sparsity else 0.0
    kept = h.abs() > t
    reference = torch.mv(down, torch.where(kept, h, 0.0) * torch.mv(up, x))
    contenders = {
        # the dense block on the thresholded h: same work as the plain dense block
        "torch dense SwiGLU": lambda: torch.mv(
            down, torch.where(F.silu(torch.mv(gate, x)).abs() > t, F.silu(torch.mv(gate, x)),
                              0.0) * torch.mv(up, x)),
    }
    for bf, bm in [(32, 128), (16, 256)]:
        contenders[f"triton cats {bf}x{bm}"] = (
            lambda bf=bf, bm=bm: cats_mlp(gate, up, down_t, x, t, device=device, block_ff=bf,
                                          block_model=bm, check_finite=False))
    times = time_contenders(contenders, reference, f"CATS block at {sparsity}")
    best_ms, best = min((v, k) for k, v in times.items() if k.startswith("triton"))
    n_kept = int(kept.sum())
    row = {"d_model": d_model, "d_ff": d_ff, "sparsity": sparsity, "active": n_kept / d_ff}
    row.update({f"{k} ms": v for k, v in times.items()})
    row["best triton"] = best
    row["best triton GB/s"] = (d_ff + 2 * n_kept) * d_model * 4 / (best_ms * 1e-3) / 1e9
    row["dense / best triton"] = times["torch dense SwiGLU"] / best_ms
    row["ideal"] = 3 * d_ff / (d_ff + 2 * n_kept)
    return row


def bench_cats(quick: bool, device="cuda", d_model=4096, d_ff=11008) -> list[dict]:
    sparsities = [0.5] if quick else [0.0, 0.4, 0.5, 0.7]
    return [cats_case(d_model, d_ff, s, device) for s in sparsities]


def show(title: str, rows: list[dict]) -> None:
    """Print result rows with every key as a column."""
    columns = [(k, k, ".4g" if isinstance(v, float) else "") for k, v in rows[0].items()]
    print_table(rows, columns, title)


def main() -> int:
    args = parse_args(__doc__.splitlines()[0])
    if not torch.cuda.is_available():
        print("no CUDA GPU: nothing to time (Triton correctness is tested on the CPU in tests/)")
        return 0
    import triton

    info = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__,
            "triton": triton.__version__, "quick": args.quick}
    info["copy_bandwidth_gbps"] = copy_bandwidth()
    print(f"{info['gpu']}: device copy bandwidth {info['copy_bandwidth_gbps']:.0f} GB/s "
          f"(read + write)")
    spmv = bench_spmv(args.quick)
    show("CSR SpMV on the GPU (ms, median; L2 cleared between repeats)", spmv)
    fwd = bench_sparse_forward(args.quick)
    if fwd:
        show("Sparse layer forward, batch 100 (ms, median)", fwd)
    gemv = bench_gemv(args.quick)
    show("Sparse GEMV (split-K Triton) vs torch.mv on the masked input (ms, median)", gemv)
    cats = bench_cats(args.quick)
    show("CATS MLP block (Triton) vs the dense SwiGLU block in torch (ms, median)", cats)
    result = {"machine": info, "spmv": spmv, "sparse_forward": fwd, "sparse_gemv": gemv,
              "cats_mlp": cats}
    path = results_path("triton_gpu", args.quick)
    out = os.environ.get("OUT")
    if out:  # on the device machine: hand the file back through $OUT
        path = Path(out) / path.name
    write_json(path, result)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
