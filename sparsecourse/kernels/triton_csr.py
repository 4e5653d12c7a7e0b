"""CSR sparse matrix-vector product as a Triton kernel.

Read it as a lesson in the style of the Triton tutorials: the kernel, its launcher, and (in
``tests/test_triton.py``) a correctness check against torch. One *program* (a GPU thread block)
computes one output row: it walks the row's stored values ``BLOCK`` at a time, gathers the matching
entries of ``x``, multiplies, and reduces. Accumulation is always float32.

A row of a 1%-dense matrix holds a few dozen values, too few to keep a program's lanes busy, and a
launch of one program per row pays the scheduling cost once per row. The second kernel,
``csr_spmv_rows_kernel``, gives each program ``ROWS`` consecutive rows as a ``ROWS x BLOCK`` tile
and loops over the longest row of the group; ``csr_spmv(..., rows_per_program=R)`` selects it.

Importing this module imports triton. Set ``TRITON_INTERPRET=1`` *before* the import to run the
kernel on the CPU with the interpreter (each program runs in Python, about 2 ms each: test on a few
hundred rows, not millions).
"""

from __future__ import annotations

import numpy as np
import torch
import triton
import triton.language as tl

from .._validation import as_csr, as_float_array

__all__ = [
    "csr_spmv",
    "csr_spmv_kernel",
    "csr_spmv_rows_kernel",
    # input conversion shared by every Triton launcher of the package
    "default_device",
    "power_of_two",
    "csr_to_device",
    "dense_to_device",
]


@triton.jit
def csr_spmv_kernel(indptr_ptr, indices_ptr, data_ptr, x_ptr, y_ptr, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    start = tl.load(indptr_ptr + row)
    end = tl.load(indptr_ptr + row + 1)
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    for off in range(start, end, BLOCK):
        p = off + tl.arange(0, BLOCK)
        mask = p < end
        cols = tl.load(indices_ptr + p, mask=mask, other=0)
        vals = tl.load(data_ptr + p, mask=mask, other=0.0)
        xv = tl.load(x_ptr + cols, mask=mask, other=0.0)
        acc += vals.to(tl.float32) * xv.to(tl.float32)
    tl.store(y_ptr + row, tl.sum(acc, axis=0))


@triton.jit
def csr_spmv_rows_kernel(indptr_ptr, indices_ptr, data_ptr, x_ptr, y_ptr, m,
                         ROWS: tl.constexpr, BLOCK: tl.constexpr):
    rows = tl.program_id(0) * ROWS + tl.arange(0, ROWS)
    row_ok = rows < m
    start = tl.load(indptr_ptr + rows, mask=row_ok, other=0)
    end = tl.load(indptr_ptr + rows + 1, mask=row_ok, other=0)
    longest = tl.max(end - start, axis=0)
    acc = tl.zeros([ROWS, BLOCK], dtype=tl.float32)
    for off in range(0, longest, BLOCK):
        p = start[:, None] + off + tl.arange(0, BLOCK)[None, :]
        mask = p < end[:, None]
        cols = tl.load(indices_ptr + p, mask=mask, other=0)
        vals = tl.load(data_ptr + p, mask=mask, other=0.0)
        xv = tl.load(x_ptr + cols, mask=mask, other=0.0)
        acc += vals.to(tl.float32) * xv.to(tl.float32)
    tl.store(y_ptr + rows, tl.sum(acc, axis=1), mask=row_ok)


def default_device() -> torch.device:
    """CUDA when a GPU is visible, otherwise the CPU (where Triton needs ``TRITON_INTERPRET=1``)."""
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def power_of_two(value: int, name: str) -> int:
    """``value`` if it is a power of two (a block size), else a ValueError naming ``name``.

    Examples
    --------
    >>> from sparsecourse.kernels.triton_csr import power_of_two  # doctest: +SKIP
    >>> power_of_two(32, "block")  # doctest: +SKIP
    32
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or value & (value - 1):
        raise ValueError(f"{name} must be a power of two, got {value!r}")
    return value


def csr_to_device(A, name: str, device: torch.device):
    """The CSR arrays of ``A`` on ``device`` as the kernels take them: ``(indptr, indices, data,
    shape)``.

    ``A`` is a scipy CSR array/matrix, a torch sparse CSR tensor (already on the device: no
    copy), or a tuple ``(indptr, indices, data, shape)`` of tensors. Indices become int32 and
    values float32 (the kernels' only signature).
    """
    if isinstance(A, tuple):
        indptr, indices, data, shape = A
    elif isinstance(A, torch.Tensor):
        if A.layout != torch.sparse_csr:
            raise TypeError(f"{name} must be a sparse CSR tensor, got layout {A.layout}")
        indptr, indices, data, shape = A.crow_indices(), A.col_indices(), A.values(), A.shape
    else:
        A = as_csr(A, name)
        indptr = torch.from_numpy(np.asarray(A.indptr))
        indices = torch.from_numpy(np.asarray(A.indices))
        data = torch.from_numpy(np.asarray(A.data))
        shape = A.shape
    return (indptr.to(device=device, dtype=torch.int32).contiguous(),
            indices.to(device=device, dtype=torch.int32).contiguous(),
            data.to(device=device, dtype=torch.float32).contiguous(),
            tuple(shape))


def dense_to_device(x, name: str, ndim: int, device: torch.device, *,
                    check_finite: bool = True) -> torch.Tensor:
    """A real ``ndim``-D array or tensor as a contiguous float32 tensor on ``device``.

    A tensor holding NaN or infinity raises :class:`ValueError` when ``check_finite`` (the check
    synchronizes with the GPU); array-likes are checked by ``as_float_array`` of
    ``sparsecourse._validation``.
    """
    if isinstance(x, torch.Tensor):
        if torch.is_complex(x) or x.dtype == torch.bool or not x.is_floating_point():
            raise TypeError(f"{name} must be a real floating-point tensor, got {x.dtype}")
        if x.dim() != ndim:
            raise ValueError(f"{name} must be {ndim}-D, got shape {tuple(x.shape)}")
        if check_finite and not torch.isfinite(x).all():
            raise ValueError(f"{name} contains NaN or infinity")
    else:
        x = torch.from_numpy(as_float_array(x, name, ndim=ndim))
    return x.to(device=device, dtype=torch.float32).contiguous()


def csr_spmv(A, x, *, device=None, block: int = 32, rows_per_program: int = 1,
             check_finite: bool = True) -> torch.Tensor:
    """``y = A @ x`` with the Triton kernel, returned as a float32 torch tensor.

    Parameters
    ----------
    A : scipy.sparse.csr_array, scipy.sparse.csr_matrix or torch sparse CSR tensor, shape (m, n)
        Values are converted to float32 and indices to int32 (the kernel's only signature).
    x : array_like or torch.Tensor, shape (n,)
    device : torch.device or str, optional
        Where to run; default CUDA when available, otherwise CPU (which needs
        ``TRITON_INTERPRET=1``).
    block : int, default 32
        Stored values processed per step; a power of two.
    rows_per_program : int, default 1
        Rows per program; a power of two. 1 runs ``csr_spmv_kernel`` (one row per program), more
        runs ``csr_spmv_rows_kernel`` (a ``rows_per_program x block`` tile per program), which
        suits short rows.
    check_finite : bool, default True
        Reject a tensor ``x`` holding NaN or infinity. The check synchronizes with the GPU; pass
        False in a timed loop over inputs already known to be finite.

    Returns
    -------
    torch.Tensor, shape (m,), float32, on ``device``

    Examples
    --------
    >>> import os; os.environ.setdefault("TRITON_INTERPRET", "1")  # doctest: +SKIP
    >>> import numpy as np, scipy.sparse as sp
    >>> from sparsecourse.kernels.triton_csr import csr_spmv  # doctest: +SKIP
    >>> csr_spmv(sp.csr_array(np.eye(3)), np.arange(3.0))  # doctest: +SKIP
    tensor([0., 1., 2.])
    """
    block = power_of_two(block, "block")
    rows_per_program = power_of_two(rows_per_program, "rows_per_program")
    device = torch.device(device) if device is not None else default_device()
    indptr, indices, data, (m, n) = csr_to_device(A, "A", device)
    x = dense_to_device(x, "x", 1, device, check_finite=check_finite)
    if x.shape[0] != n:
        raise ValueError(f"x must have length A.shape[1] = {n}, got shape {tuple(x.shape)}")
    y = torch.empty(m, device=device, dtype=torch.float32)
    if m and rows_per_program == 1:
        csr_spmv_kernel[(m,)](indptr, indices, data, x, y, BLOCK=block)
    elif m:
        grid = (triton.cdiv(m, rows_per_program),)
        csr_spmv_rows_kernel[grid](indptr, indices, data, x, y, m,
                                   ROWS=rows_per_program, BLOCK=block)
    return y

