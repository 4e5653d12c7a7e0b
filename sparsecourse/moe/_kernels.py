"""Grouped GEMM: one matrix product per expert on that expert's contiguous slice of rows.

After the tokens are sorted by expert, expert ``g`` owns rows ``offsets[g]:offsets[g + 1]`` of
the permuted input ``x`` and multiplies them by its own weight ``w[g]``::

    out[offsets[g]:offsets[g + 1]] = x[offsets[g]:offsets[g + 1]] @ w[g]     for every g

That is the whole kernel ("grouped GEMM", the core of MegaBlocks' dropless MoE). Three versions:

* :func:`grouped_mm_reference` -- a Python loop of ``torch.mm`` on slices (views, no copy), with
  autograd through :class:`GroupedMM` (one graph node for all experts, not one per expert);
* :func:`grouped_mm_numba` -- the same loop compiled by numba, experts spread over threads
  (``prange``), each slice multiplied by BLAS (``np.dot`` inside numba calls the BLAS that
  scipy ships). On a CPU it buys little over the torch loop: torch's per-call overhead is a few
  microseconds and the work is in the BLAS either way. It shows that the operation *is* a
  batch of independent GEMMs of different heights;
* ``sparsecourse.moe.triton_grouped`` -- a Triton kernel that runs all experts' tiles in *one*
  launch, which is what matters on a GPU, where a launch per expert costs more than a small
  GEMM.
"""

from __future__ import annotations

import numba
import numpy as np
import torch

__all__ = ["grouped_mm_reference", "grouped_mm_numba", "grouped_mm_numba_kernel", "GroupedMM",
           "grouped_mm", "check_grouped"]


def check_grouped(x: torch.Tensor, w: torch.Tensor, offsets) -> list[int]:
    """Validate a grouped GEMM's arguments; return the offsets as a Python list."""
    if not isinstance(x, torch.Tensor) or not isinstance(w, torch.Tensor):
        raise TypeError("x and w must be torch tensors")
    if x.dim() != 2 or w.dim() != 3:
        raise ValueError(f"x must be 2-D and w 3-D, got {tuple(x.shape)} and {tuple(w.shape)}")
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"x has {x.shape[1]} columns but w[g] has {w.shape[1]} rows")
    off = [int(o) for o in (offsets.tolist() if hasattr(offsets, "tolist") else offsets)]
    if len(off) != w.shape[0] + 1 or off[0] != 0 or off[-1] != x.shape[0]:
        raise ValueError(f"offsets must have n_groups + 1 = {w.shape[0] + 1} entries from 0 to "
                         f"{x.shape[0]}, got {off[:3]}...{off[-2:]} ({len(off)} entries)")
    if any(b < a for a, b in zip(off[:-1], off[1:], strict=True)):
        raise ValueError("offsets must be non-decreasing")
    return off


def grouped_mm_reference(x: torch.Tensor, w: torch.Tensor, offsets) -> torch.Tensor:
    """``out[o[g]:o[g+1]] = x[o[g]:o[g+1]] @ w[g]`` by a loop of ``torch.mm`` (differentiable).

    Examples
    --------
    >>> x, w = torch.randn(5, 3), torch.randn(2, 3, 4)
    >>> out = grouped_mm_reference(x, w, [0, 2, 5])
    >>> torch.allclose(out[2:], x[2:] @ w[1])
    True
    """
    off = check_grouped(x, w, offsets)
    pieces = zip(off[:-1], off[1:], strict=True)
    return torch.cat([x[a:b] @ w[g] for g, (a, b) in enumerate(pieces)])


@numba.njit(parallel=True, cache=True)
def grouped_mm_numba_kernel(x, w, offsets, out):  # pragma: no cover - compiled
    for g in numba.prange(w.shape[0]):
        a, b = offsets[g], offsets[g + 1]
        if b > a:
            out[a:b] = np.dot(x[a:b], w[g])


def grouped_mm_numba(x, w, offsets) -> np.ndarray:
    """Grouped GEMM by the numba kernel (float32 or float64 NumPy arrays or CPU tensors).

    Examples
    --------
    >>> x, w = np.ones((5, 3), np.float32), np.ones((2, 3, 4), np.float32)
    >>> grouped_mm_numba(x, w, [0, 2, 5])[0].tolist()
    [3.0, 3.0, 3.0, 3.0]
    """
    xt = torch.as_tensor(x)
    wt = torch.as_tensor(w)
    off = check_grouped(xt, wt, offsets)
    xa = np.ascontiguousarray(xt.detach().cpu().numpy())
    wa = np.ascontiguousarray(wt.detach().cpu().numpy().astype(xa.dtype, copy=False))
    if xa.dtype not in (np.float32, np.float64):
        raise TypeError(f"x must be float32 or float64, got {xa.dtype}")
    out = np.zeros((xa.shape[0], wa.shape[2]), dtype=xa.dtype)
    grouped_mm_numba_kernel(xa, wa, np.asarray(off, dtype=np.int64), out)
    return out


class GroupedMM(torch.autograd.Function):
    """Autograd of the grouped GEMM: one node for all groups.

    Backward: ``dx[slice g] = dout[slice g] @ w[g].T`` (itself a grouped GEMM with the
    transposed weights) and ``dw[g] = x[slice g].T @ dout[slice g]``.
    """

    @staticmethod
    def forward(ctx, x, w, offsets, backend):
        off = offsets
        ctx.save_for_backward(x, w)
        ctx.off = off
        if backend == "numba" and x.device.type == "cpu":
            return torch.from_numpy(grouped_mm_numba(x, w, off)).to(x.dtype)
        if backend == "triton":
            from .triton_grouped import triton_grouped_mm

            return triton_grouped_mm(x, w, off)
        out = x.new_empty(x.shape[0], w.shape[2])
        for g, (a, b) in enumerate(zip(off[:-1], off[1:], strict=True)):
            if b > a:
                torch.mm(x[a:b], w[g], out=out[a:b])
        return out

    @staticmethod
    def backward(ctx, dout):
        x, w = ctx.saved_tensors
        off = ctx.off
        dx = torch.empty_like(x) if ctx.needs_input_grad[0] else None
        dw = torch.zeros_like(w) if ctx.needs_input_grad[1] else None
        dout = dout.contiguous()
        for g, (a, b) in enumerate(zip(off[:-1], off[1:], strict=True)):
            if b == a:
                continue
            if dx is not None:
                torch.mm(dout[a:b], w[g].t(), out=dx[a:b])
            if dw is not None:
                torch.mm(x[a:b].t(), dout[a:b], out=dw[g])
        return dx, dw, None, None


def grouped_mm(x: torch.Tensor, w: torch.Tensor, offsets, *, backend: str = "torch"
               ) -> torch.Tensor:
    """Differentiable grouped GEMM; ``backend`` in ``{"torch", "numba", "triton"}`` (forward only
    differs; the backward is the torch loop).

    Examples
    --------
    >>> x, w = torch.randn(5, 3), torch.randn(2, 3, 4)
    >>> torch.allclose(grouped_mm(x, w, [0, 2, 5]), grouped_mm_reference(x, w, [0, 2, 5]))
    True
    """
    if backend not in ("torch", "numba", "triton"):
        raise ValueError(f"backend must be 'torch', 'numba' or 'triton', got {backend!r}")
    off = check_grouped(x, w, offsets)
    return GroupedMM.apply(x.contiguous(), w, off, backend)
