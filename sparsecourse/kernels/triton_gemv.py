"""Sparse GEMV and the CATS MLP block as Triton kernels, in the split-K style of Deja Vu and TEAL.

The weight is input-major, ``Wt`` of shape ``(in_features, out_features)``, so the weights of
input ``i`` are the contiguous row ``Wt[i]``. The grid is two-dimensional: program ``(a, b)`` takes
a block of ``BLOCK_IN`` input rows and a block of ``BLOCK_OUT`` output columns. It loads its slice
of ``x``, marks the active inputs (``|x| > threshold``), loads the weight tile with the inactive
rows *masked off* -- a masked lane issues no memory request, so on a GPU the weights of skipped
inputs are not read -- reduces the tile over its rows in float32, and adds the partial sums into
``y`` with ``tl.atomic_add``. That is the "split-K" part: the reduction dimension (the inputs) is
cut into blocks handled by different programs, which gives a GEMV (a single output row on the
GPU's side) enough programs to fill the machine, at the price of zeroing ``y`` first and of
atomic additions whose order varies from run to run (results agree to float32 rounding, not
bit for bit).

The CATS block runs in two launches: ``cats_gate_up_kernel`` computes, for a block of neurons,
the dense gate product, ``h = silu(g)``, the threshold test, and the ``up`` dot products of the
surviving neurons only, and stores the coefficients ``h * (up @ x)`` (zero for a skipped neuron);
``sparse_gemv_kernel`` then adds the rows of ``down_t`` of the non-zero coefficients.

Importing this module imports triton. Set ``TRITON_INTERPRET=1`` *before* the import to run the
kernels on the CPU with the interpreter (each program runs in Python, a few ms each: test on small
shapes). Timings on a GPU: ``benchmarks/triton_gpu.py``.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch
import triton
import triton.language as tl

from .triton_csr import default_device, power_of_two

__all__ = ["sparse_gemv", "cats_mlp", "sparse_gemv_kernel", "cats_gate_up_kernel"]


@triton.jit
def sparse_gemv_kernel(wt_ptr, x_ptr, y_ptr, n_in, n_out, threshold,
                       BLOCK_IN: tl.constexpr, BLOCK_OUT: tl.constexpr):
    rows = tl.program_id(0) * BLOCK_IN + tl.arange(0, BLOCK_IN)
    cols = tl.program_id(1) * BLOCK_OUT + tl.arange(0, BLOCK_OUT)
    xv = tl.load(x_ptr + rows, mask=rows < n_in, other=0.0).to(tl.float32)
    active = tl.abs(xv) > threshold  # rows past n_in hold 0 and are never active
    ptrs = wt_ptr + rows.to(tl.int64)[:, None] * n_out + cols[None, :]
    w = tl.load(ptrs, mask=active[:, None] & (cols[None, :] < n_out), other=0.0)
    partial = tl.sum(w.to(tl.float32) * xv[:, None], axis=0)
    tl.atomic_add(y_ptr + cols, partial, mask=cols < n_out)


@triton.jit
def cats_gate_up_kernel(gate_ptr, up_ptr, x_ptr, coef_ptr, d_ff, d_model, threshold,
                        BLOCK_FF: tl.constexpr, BLOCK_MODEL: tl.constexpr):
    rows = tl.program_id(0) * BLOCK_FF + tl.arange(0, BLOCK_FF)
    row_ok = rows < d_ff
    base = rows.to(tl.int64)[:, None] * d_model
    g = tl.zeros([BLOCK_FF], dtype=tl.float32)
    for k0 in range(0, d_model, BLOCK_MODEL):  # dense: the gate decides who survives
        k = k0 + tl.arange(0, BLOCK_MODEL)
        xv = tl.load(x_ptr + k, mask=k < d_model, other=0.0).to(tl.float32)
        w = tl.load(gate_ptr + base + k[None, :], mask=row_ok[:, None] & (k[None, :] < d_model),
                    other=0.0)
        g += tl.sum(w.to(tl.float32) * xv[None, :], axis=1)
    h = g / (1.0 + tl.exp(-g))  # SiLU
    active = row_ok & (tl.abs(h) > threshold)
    u = tl.zeros([BLOCK_FF], dtype=tl.float32)
    for k0 in range(0, d_model, BLOCK_MODEL):  # sparse: rows of skipped neurons are masked off
        k = k0 + tl.arange(0, BLOCK_MODEL)
        xv = tl.load(x_ptr + k, mask=k < d_model, other=0.0).to(tl.float32)
        w = tl.load(up_ptr + base + k[None, :], mask=active[:, None] & (k[None, :] < d_model),
                    other=0.0)
        u += tl.sum(w.to(tl.float32) * xv[None, :], axis=1)
    tl.store(coef_ptr + rows, tl.where(active, h * u, 0.0), mask=row_ok)


def _tensor(a, name: str, ndim: int, device) -> torch.Tensor:
    """``a`` (NumPy or torch) as a contiguous float32 tensor on ``device``; dtype/shape checked."""
    if not isinstance(a, torch.Tensor):
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{name} must be a NumPy array or torch tensor, got {type(a).__name__}")
        if a.dtype.kind not in "f":
            raise TypeError(f"{name} must be a float array, got dtype {a.dtype}")
        a = torch.from_numpy(np.ascontiguousarray(a))
    elif not a.dtype.is_floating_point:
        raise TypeError(f"{name} must be a float tensor, got {a.dtype}")
    if a.dim() != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {tuple(a.shape)}")
    if ndim == 2 and not a.is_contiguous():
        raise ValueError(f"{name} must be contiguous (row-major): the kernel skips whole rows")
    return a.to(device=device, dtype=torch.float32).contiguous()


def _check_threshold(threshold) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise TypeError(f"threshold must be a real number, got {type(threshold).__name__}")
    t = float(threshold)
    if math.isnan(t) or t < 0:
        raise ValueError(f"threshold must be >= 0, got {t}")
    return float(np.float32(t)) if math.isfinite(t) else t


def _check_finite(x: torch.Tensor, name: str, check: bool) -> None:
    if check and not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinity")


def sparse_gemv(Wt, x, threshold: float, *, device=None, block_in: int = 64,
                block_out: int = 128, check_finite: bool = True) -> torch.Tensor:
    """``Wt.T @ where(|x| > threshold, x, 0)`` with the split-K Triton kernel (float32).

    Parameters
    ----------
    Wt : ndarray or torch.Tensor, shape (in_features, out_features)
        Input-major weight (see :func:`sparsecourse.kernels.input_major`), contiguous; converted
        to float32.
    x : ndarray or torch.Tensor, shape (in_features,)
    threshold : float
        ``>= 0``; inputs with ``|x| <= threshold`` (in float32) are skipped with their rows.
    device : torch.device or str, optional
        Default CUDA when available, otherwise CPU (needs ``TRITON_INTERPRET=1``).
    block_in, block_out : int
        Input rows and output columns per program; powers of two.
    check_finite : bool, default True
        Reject NaN or infinity in ``x`` (synchronises with the GPU; pass False in timed loops).

    Returns
    -------
    torch.Tensor, shape (out_features,), float32, on ``device``

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.kernels.triton_gemv import sparse_gemv  # doctest: +SKIP
    >>> Wt = np.arange(6.0, dtype=np.float32).reshape(3, 2)
    >>> sparse_gemv(Wt, np.array([1.0, 0.1, -2.0], np.float32), 0.5)  # doctest: +SKIP
    tensor([-8., -9.])
    """
    block_in = power_of_two(block_in, "block_in")
    block_out = power_of_two(block_out, "block_out")
    device = torch.device(device) if device is not None else default_device()
    t = _check_threshold(threshold)
    Wt = _tensor(Wt, "Wt", 2, device)
    x = _tensor(x, "x", 1, device)
    n_in, n_out = Wt.shape
    if x.shape[0] != n_in:
        raise ValueError(f"x has length {x.shape[0]} but Wt has {n_in} rows; Wt must be "
                         "input-major (in_features, out_features): convert an (out, in) weight "
                         "with input_major(W)")
    _check_finite(x, "x", check_finite)
    y = torch.zeros(n_out, device=device, dtype=torch.float32)
    if n_in and n_out:
        grid = (triton.cdiv(n_in, block_in), triton.cdiv(n_out, block_out))
        sparse_gemv_kernel[grid](Wt, x, y, n_in, n_out, t, BLOCK_IN=block_in, BLOCK_OUT=block_out)
    return y


def cats_mlp(gate, up, down_t, x, threshold: float, *, device=None, block_ff: int = 32,
             block_model: int = 128, check_finite: bool = True) -> torch.Tensor:
    """The CATS MLP block (see :func:`sparsecourse.kernels.cats_mlp`) in two Triton launches.

    Parameters
    ----------
    gate, up : ndarray or torch.Tensor, shape (d_ff, d_model)
        ``gate_proj.weight`` and ``up_proj.weight`` as stored.
    down_t : ndarray or torch.Tensor, shape (d_ff, d_model)
        ``input_major(down_proj.weight)``.
    x : ndarray or torch.Tensor, shape (d_model,)
    threshold : float
        ``>= 0``; neurons with ``|silu(gate @ x)| <= threshold`` are skipped.
    device, check_finite
        As in :func:`sparse_gemv`.
    block_ff, block_model : int
        Neurons per program and the chunk of ``d_model`` per step; powers of two. The down
        product uses ``block_ff`` input rows and ``block_model`` output columns per program.

    Returns
    -------
    torch.Tensor, shape (d_model,), float32, on ``device``

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.kernels.triton_gemv import cats_mlp  # doctest: +SKIP
    >>> gate = up = down_t = np.eye(2, dtype=np.float32)
    >>> cats_mlp(gate, up, down_t, np.array([2.0, -3.0], np.float32), 0.5)  # doctest: +SKIP
    tensor([3.5232, 0.0000])
    """
    block_ff = power_of_two(block_ff, "block_ff")
    block_model = power_of_two(block_model, "block_model")
    device = torch.device(device) if device is not None else default_device()
    t = _check_threshold(threshold)
    gate = _tensor(gate, "gate", 2, device)
    d_ff, d_model = gate.shape
    up = _tensor(up, "up", 2, device)
    down_t = _tensor(down_t, "down_t", 2, device)
    if tuple(up.shape) != (d_ff, d_model):
        raise ValueError(f"up must have gate's shape {(d_ff, d_model)}, got {tuple(up.shape)}")
    if tuple(down_t.shape) != (d_ff, d_model):
        raise ValueError(f"down_t must be input-major with shape {(d_ff, d_model)}, got "
                         f"{tuple(down_t.shape)}; make it with input_major(down_proj.weight)")
    x = _tensor(x, "x", 1, device)
    if x.shape[0] != d_model:
        raise ValueError(f"x must have length d_model = {d_model}, got {x.shape[0]}")
    _check_finite(x, "x", check_finite)
    y = torch.zeros(d_model, device=device, dtype=torch.float32)
    if d_ff and d_model:
        coef = torch.empty(d_ff, device=device, dtype=torch.float32)
        cats_gate_up_kernel[(triton.cdiv(d_ff, block_ff),)](
            gate, up, x, coef, d_ff, d_model, t, BLOCK_FF=block_ff, BLOCK_MODEL=block_model)
        grid = (triton.cdiv(d_ff, block_ff), triton.cdiv(d_model, block_model))
        sparse_gemv_kernel[grid](down_t, coef, y, d_ff, d_model, 0.0,
                                 BLOCK_IN=block_ff, BLOCK_OUT=block_model)
    return y
