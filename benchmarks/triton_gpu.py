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
    result = {"machine": info, "spmv": spmv, "sparse_forward": fwd}
    path = results_path("triton_gpu", args.quick)
    out = os.environ.get("OUT")
    if out:  # on the device machine: hand the file back through $OUT
        path = Path(out) / path.name
    write_json(path, result)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
