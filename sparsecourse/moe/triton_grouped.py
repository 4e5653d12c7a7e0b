"""Grouped GEMM as one Triton launch: every expert's row tiles in a single grid.

The rows of ``x`` are sorted by expert; expert ``g`` owns rows ``offsets[g]:offsets[g + 1]``.
The host cuts each expert's slice into tiles of ``BLOCK_M`` rows and writes a *schedule*: for
tile ``t``, its expert ``tile_group[t]`` and first row ``tile_row[t]``. Program ``(t, j)`` loads
its expert's end row, multiplies its ``BLOCK_M`` rows of ``x`` (rows past the expert's end are
masked) by the ``j``-th ``BLOCK_N`` columns of ``w[g]``, looping over the reduction dimension in
``BLOCK_K`` steps with ``tl.dot``, and stores the tile. One launch for all experts instead of
one per expert: on a GPU with 64 experts that removes 63 launches per product, which costs
more than a small GEMM. An expert with no tokens has no tiles.

Importing this module imports triton; set ``TRITON_INTERPRET=1`` before the import to run on a
CPU (slow, each program in Python: test small shapes).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ..kernels.triton_csr import power_of_two
from ._kernels import check_grouped

__all__ = ["triton_grouped_mm", "grouped_mm_kernel", "tile_schedule"]


@triton.jit
def grouped_mm_kernel(x_ptr, w_ptr, out_ptr, tile_group_ptr, tile_row_ptr, offsets_ptr,
                      K, N, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    t = tl.program_id(0)
    g = tl.load(tile_group_ptr + t)
    row0 = tl.load(tile_row_ptr + t)
    row_end = tl.load(offsets_ptr + g + 1)
    rows = row0 + tl.arange(0, BLOCK_M)
    cols = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    row_ok = rows < row_end
    col_ok = cols < N
    w_base = w_ptr + g.to(tl.int64) * K * N
    acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        ks = k0 + tl.arange(0, BLOCK_K)
        k_ok = ks < K
        a = tl.load(x_ptr + rows.to(tl.int64)[:, None] * K + ks[None, :],
                    mask=row_ok[:, None] & k_ok[None, :], other=0.0)
        b = tl.load(w_base + ks.to(tl.int64)[:, None] * N + cols[None, :],
                    mask=k_ok[:, None] & col_ok[None, :], other=0.0)
        acc += tl.dot(a, b)
    tl.store(out_ptr + rows.to(tl.int64)[:, None] * N + cols[None, :], acc,
             mask=row_ok[:, None] & col_ok[None, :])


def tile_schedule(offsets: list[int], block_m: int) -> tuple[list[int], list[int]]:
    """Expert and first row of every ``block_m``-row tile of every expert's slice.

    Examples
    --------
    >>> tile_schedule([0, 3, 3, 40], 16)
    ([0, 2, 2, 2], [0, 3, 19, 35])
    """
    groups, rows = [], []
    for g, (a, b) in enumerate(zip(offsets[:-1], offsets[1:], strict=True)):
        for r in range(a, b, block_m):
            groups.append(g)
            rows.append(r)
    return groups, rows


def triton_grouped_mm(x: torch.Tensor, w: torch.Tensor, offsets, *, block_m: int = 16,
                      block_n: int = 32, block_k: int = 16) -> torch.Tensor:
    """``out[o[g]:o[g+1]] = x[o[g]:o[g+1]] @ w[g]`` in one Triton launch (float32 accumulate).

    Parameters
    ----------
    x : torch.Tensor, shape (n_rows, K)
        Rows sorted by group; on the GPU (or the CPU under ``TRITON_INTERPRET=1``).
    w : torch.Tensor, shape (n_groups, K, N)
    offsets : sequence of int, length n_groups + 1
    block_m, block_n, block_k : int
        Tile sizes (powers of two, at least 16 for ``tl.dot``).
    """
    off = check_grouped(x, w, offsets)
    for name, b in (("block_m", block_m), ("block_n", block_n), ("block_k", block_k)):
        power_of_two(b, name)
        if b < 16:
            raise ValueError(f"{name} must be >= 16 (tl.dot), got {b}")
    K, N = w.shape[1], w.shape[2]
    x = x.contiguous()
    w = w.to(x.dtype).contiguous()
    out = torch.zeros(x.shape[0], N, device=x.device, dtype=torch.float32)
    groups, rows = tile_schedule(off, block_m)
    if not groups:
        return out.to(x.dtype)
    tg = torch.tensor(groups, dtype=torch.int32, device=x.device)
    tr = torch.tensor(rows, dtype=torch.int32, device=x.device)
    to = torch.tensor(off, dtype=torch.int32, device=x.device)
    grid = (len(groups), triton.cdiv(N, block_n))
    grouped_mm_kernel[grid](x, w, out, tg, tr, to, K, N,
                            BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_K=block_k)
    return out.to(x.dtype)
