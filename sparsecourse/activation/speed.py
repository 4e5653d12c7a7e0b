"""Timing the sparse GEMV and the CATS MLP block against dense NumPy and torch (for the book).

The kernels themselves are :func:`sparsecourse.kernels.sparse_gemv` and
:func:`sparsecourse.kernels.cats_mlp`; this module only times them the way GUIDE.md asks: side
by side in one process (:func:`sparsecourse.utils.compare`, interleaved, after warm-up, median
of repeats), on weights larger than the last-level cache, with the bytes each contender must
read turned into GB/s and compared with the machine's read bandwidth. Each repeat uses a new
random input vector (rotating over ``n_inputs`` of them), so at high sparsity the rows the
sparse kernel reads change from call to call instead of staying in the cache.
"""

from __future__ import annotations

import numpy as np
import torch

from ..utils import benchmark, compare

__all__ = ["gemv_speed", "cats_block_speed"]


def _inputs(n: int, k: int, sparsity: float, rng: np.random.Generator, dtype):
    out = []
    for _ in range(k):
        x = rng.standard_normal(n).astype(dtype)
        t = float(np.quantile(np.abs(x), sparsity)) if sparsity > 0 else 0.0
        out.append((x, t))
    return out


def gemv_speed(n_in: int, n_out: int, sparsities=(0.0, 0.4, 0.5, 0.7, 0.9), *,
               bandwidth: float | None = None, repeat: int = 7, n_inputs: int = 8,
               seed: int = 0) -> list[dict]:
    """Time ``sparse_gemv`` against dense ``W @ x`` (NumPy) and ``torch.mv`` at each sparsity.

    Parameters
    ----------
    n_in, n_out : int
        The layer's shape (``nn.Linear(n_in, n_out)``); float32 weights, ``4 n_in n_out``
        bytes (keep it above the last-level cache).
    sparsities : sequence of float in [0, 1)
        Input sparsities; the threshold is the matching quantile of ``|x|``.
    bandwidth : float, optional
        Read bandwidth in GB/s (:func:`sparsecourse.utils.memory_bandwidth` with
        ``kind="read"``) for the ``bound_ms`` column.
    repeat, n_inputs, seed
        Timed repeats, number of rotating input vectors, seed of the weights and inputs.

    Returns
    -------
    list of dict
        One row per sparsity: ``sparsity``, ``ours_ms``, ``numpy_ms``, ``torch_ms``,
        ``speedup_numpy`` (numpy / ours), ``speedup_torch``, ``ours_gbs`` and ``numpy_gbs``
        (weight bytes each must read, per second), ``bound_ms`` (ours at full bandwidth)
        and ``ideal`` (``1 / (1 - s)``).
    """
    from ..kernels import input_major, sparse_gemv

    rng = np.random.default_rng(seed)
    W = rng.standard_normal((n_out, n_in), dtype=np.float32)
    Wt = input_major(W)
    Wtorch = torch.from_numpy(W)
    rows = []
    nbytes = W.nbytes
    for s in sparsities:
        xs = _inputs(n_in, n_inputs, s, rng, np.float32)
        r = compare(lambda x, t: sparse_gemv(Wt, x, t), lambda x, t: W @ x, repeat=repeat,
                    inputs=xs)
        tt = benchmark(lambda x, t: torch.mv(Wtorch, torch.from_numpy(x)), repeat=repeat,
                       inputs=xs)
        ours, dense = r["fn"].median, r["baseline"].median
        kept = float(np.mean([(np.abs(x) > t).mean() for x, t in xs]))
        rows.append({
            "sparsity": s, "ours_ms": 1e3 * ours, "numpy_ms": 1e3 * dense,
            "torch_ms": 1e3 * tt.median, "speedup_numpy": dense / ours,
            "speedup_torch": tt.median / ours,
            "ours_gbs": kept * nbytes / ours / 1e9, "numpy_gbs": nbytes / dense / 1e9,
            "bound_ms": (1e3 * kept * nbytes / bandwidth / 1e9) if bandwidth else np.nan,
            "ideal": 1 / (1 - s),
        })
    return rows


def cats_block_speed(d_model: int = 4096, d_ff: int = 11008, sparsities=(0.5,), *,
                     repeat: int = 7, n_inputs: int = 8, seed: int = 0) -> list[dict]:
    """Time the fused CATS MLP block against the dense SwiGLU block in NumPy and torch.

    The dense block is ``down @ (silu(gate @ x) * (up @ x))`` (NumPy: ``down_t.T @ ...``, the
    same memory); CATS skips the rows of ``up`` and ``down_t`` whose ``|silu(gate @ x)|`` is
    at most the threshold, chosen per input as the quantile of that magnitude.

    Returns
    -------
    list of dict
        Per sparsity: ``sparsity`` (reached), ``cats_ms``, ``numpy_ms``, ``torch_ms``,
        ``speedup_numpy``, ``speedup_torch`` and ``ideal`` (``3 / (3 - 2 s)``).
    """
    from ..kernels import cats_mlp

    rng = np.random.default_rng(seed)
    scale = np.float32(1 / np.sqrt(d_model))
    gate = rng.standard_normal((d_ff, d_model), dtype=np.float32) * scale
    up = rng.standard_normal((d_ff, d_model), dtype=np.float32) * scale
    down_t = rng.standard_normal((d_ff, d_model), dtype=np.float32) * scale
    tg, tu, td = (torch.from_numpy(a) for a in (gate, up, down_t))

    def silu(v):
        return v / (1 + np.exp(-v))

    def dense_np(x, t):
        return down_t.T @ (silu(gate @ x) * (up @ x))

    def dense_torch(x, t):
        xt = torch.from_numpy(x)
        return td.T @ (torch.nn.functional.silu(tg @ xt) * (tu @ xt))

    rows = []
    for s in sparsities:
        xs = []
        for _ in range(n_inputs):
            x = rng.standard_normal(d_model).astype(np.float32)
            a = np.abs(silu(gate @ x))
            xs.append((x, float(np.quantile(a, s)) if s > 0 else 0.0))
        r = compare(lambda x, t: cats_mlp(gate, up, down_t, x, t), dense_np, repeat=repeat,
                    inputs=xs)
        tt = benchmark(dense_torch, repeat=repeat, inputs=xs)
        reached = float(np.mean([(np.abs(silu(gate @ x)) <= t).mean() for x, t in xs]))
        ours, dense = r["fn"].median, r["baseline"].median
        rows.append({"sparsity": reached, "cats_ms": 1e3 * ours, "numpy_ms": 1e3 * dense,
                     "torch_ms": 1e3 * tt.median, "speedup_numpy": dense / ours,
                     "speedup_torch": tt.median / ours, "ideal": 3 / (3 - 2 * reached)})
    return rows
