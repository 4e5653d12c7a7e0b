"""Numba CPU kernels for CSR products (compiled on first call, cached on disk).

The loops are written the way the textbook formula reads: for each row ``i``,
``y[i] = sum_{p = indptr[i]}^{indptr[i+1]-1} data[p] * x[indices[p]]``. ``prange`` spreads the
rows over the CPU cores; each row is written by exactly one thread, so no synchronisation is needed.
Accumulation is in float64 for float64 input and in float32 for float32 input.

What makes these loops fast (measured in ``benchmarks/spmv.py``):

* **Unsigned positions.** Numba treats a negative *signed* index as "count from the end", so
  ``x[indices[p]]`` with int32/int64 indices costs a test and a conditional move on every access.
  CSR positions are never negative, so the loops cast them to ``np.uint64`` (``_u``), which
  removes that check (1.4-2.4x faster SpMV on its own, single thread).
* **Several accumulators.** A single running sum is one long chain of dependent additions, each
  waiting for the previous one. SpMV keeps four partial sums (entries ``p, p+1, p+2, p+3``) and adds
  them at the end, so the additions overlap (up to 1.6x on long rows); SpMM adds four stored
  values' rows of ``X`` per pass over its output row. This changes the order of the floating-point
  additions, so results may differ from scipy in the last bits (well within float32/float64
  rounding), like any BLAS.
* **Gathers for long rows.** ``spmv_kernel`` does not ask numba for ``fastmath``: allowed to
  reorder the additions, LLVM vectorises the loop with gather instructions (16 float32 or 8
  float64 entries of ``x`` per instruction), which costs more than it saves on short rows (an
  older AMD EPYC measured 2x slower). On long rows it pays: ``spmv_kernel_long`` is the one-sum
  loop with reassociation allowed, and :func:`csr_spmv` uses it from ``_LONG_ROWS`` stored
  values per row on. Where that starts depends on the processor's gathers: on an AMD EPYC with
  AVX-512, from 256 (there 1.0-1.3x faster than the four scalar chains at densities 0.05-1 of
  an 8192 x 8192 matrix, the same speed as torch.sparse's MKL kernel); on an Intel Xeon, from
  16 (float32 / float64, the checked kernels: 1.03 / 1.05x at 16 stored values per row,
  1.26 / 1.02x at 40, 1.36 / 1.27x at 81, 1.50 / 1.29x at 163, 1.46 / 1.29x at 409; at 8,
  0.91x in float32).
* **The output row in registers** in SpMM, for a dense operand whose rows are at most 512 bytes
  (128 float32 / 64 float64 columns): :func:`~sparsecourse.kernels._simd.spmm_row` holds row
  ``i`` of ``Y`` in AVX-512 (or narrower) vector registers while it adds ``a_ik X[k, :]`` for the
  row's stored values, and writes it once. Numba's own loop cannot do this (see that module: LLVM
  fears the buffer overlaps ``X``); on 16-column float32 products it was 1.9-2.4x faster.
* **A local row buffer** in SpMM for wider ``X``: the output row is accumulated in a small
  buffer that stays in the L1 cache (one per chunk of rows) and is written to ``Y`` once, in
  tiles of ``_SPMM_TILE`` columns so that the buffer stays small. Here each stored value reads
  a whole row of ``X`` in one go, where the register path would need several passes.

The SpMM kernel takes an optional bias (an empty array for none): the forward product of a
sparse linear layer (chapter 4, :mod:`sparsecourse.sparse_nn`) is this kernel, ``Y^T = W X^T +
b``, on feature-major activations. ``spmm_kernel_serial`` is the same loop on one thread, for
products too small to pay for waking the thread pool; :func:`axpy` and :func:`axpy4` are the
inner loops, shared with the other kernels of that chapter.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from .._jit import serial_twin
from .._linalg import FASTMATH as _FM  # reorder sums, fuse multiply-adds
from ._simd import REG_BYTES, spmm_row

_u = np.uint64  # cast CSR positions to unsigned: no negative-index ("wraparound") check
_SPMM_TILE = 256  # columns of X per pass in spmm_kernel (1 KB of float32)
_SPMM_CHUNK = 256  # rows per parallel task in spmm_kernel (each allocates one row buffer)


@nb.njit(parallel=True, cache=True, fastmath=False, nogil=True)
def spmv_kernel(indptr, indices, data, x, y):  # pragma: no cover - compiled
    """y = A @ x for A given by its CSR arrays; y is overwritten."""
    n_rows = indptr.shape[0] - 1
    zero = y.dtype.type(0)
    for i in nb.prange(n_rows):
        start = _u(indptr[i])
        end = max(start, _u(indptr[i + 1]))
        mid = end - ((end - start) & _u(3))  # the first (end - start) // 4 * 4 entries
        a0 = zero
        a1 = zero
        a2 = zero
        a3 = zero
        for p in range(start, mid, _u(4)):
            a0 += data[p] * x[_u(indices[p])]
            a1 += data[p + _u(1)] * x[_u(indices[p + _u(1)])]
            a2 += data[p + _u(2)] * x[_u(indices[p + _u(2)])]
            a3 += data[p + _u(3)] * x[_u(indices[p + _u(3)])]
        for p in range(mid, end):  # the last 0-3 entries
            a0 += data[p] * x[_u(indices[p])]
        y[i] = (a0 + a1) + (a2 + a3)


#: ``spmv_kernel`` on one thread, for products too small to pay for waking the thread pool.
spmv_kernel_serial = serial_twin(spmv_kernel, fastmath=False, nogil=True)


@nb.njit(fastmath=_FM, nogil=True)
def _row_sum_long(indptr, indices, data, x, i):  # pragma: no cover - compiled
    """Row ``i`` of ``A @ x`` as one running sum: reassociation lets LLVM vectorise it (gathers).

    Its own function (not inlined by numba), so that the fastmath flags stay on these
    instructions when a caller compiled without them (the checked kernel below) uses it.
    """
    start = _u(indptr[i])
    end = max(start, _u(indptr[i + 1]))
    acc = x.dtype.type(0)
    for p in range(start, end):
        acc += data[p] * x[_u(indices[p])]
    return acc


def _spmv_long_py(indptr, indices, data, x, y):  # pragma: no cover - compiled
    """``y = A @ x``, one running sum per row (:func:`_row_sum_long`)."""
    n_rows = indptr.shape[0] - 1
    for i in nb.prange(n_rows):
        y[i] = _row_sum_long(indptr, indices, data, x, i)


#: ``y = A @ x`` for rows of hundreds of stored values or more, on all cores ...
spmv_kernel_long = nb.njit(parallel=True, cache=True, fastmath=_FM, nogil=True)(_spmv_long_py)
#: ... and on one thread.
spmv_kernel_long_serial = serial_twin(_spmv_long_py, fastmath=_FM, nogil=True)


@nb.njit(fastmath=False, inline="always", nogil=True)
def axpy(buf, a, xr, j0, w):  # pragma: no cover - compiled
    """buf[:w] += a * xr[j0:j0 + w]"""
    for j in range(w):
        buf[j] += a * xr[j0 + j]


@nb.njit(fastmath=False, inline="always", nogil=True)
def axpy4(buf, a0, x0, a1, x1, a2, x2, a3, x3, j0, w):  # pragma: no cover - compiled
    """buf[:w] += a0 * x0[j0:j0 + w] + ... + a3 * x3[j0:j0 + w]: one pass over buf for four."""
    for j in range(w):
        q = j0 + j
        buf[j] += (a0 * x0[q] + a1 * x1[q]) + (a2 * x2[q] + a3 * x3[q])


def _spmm_py(indptr, indices, data, X, bias, Y):  # pragma: no cover - compiled
    """Y = A @ X + bias[:, None] for A in CSR and a dense X with contiguous rows; Y is overwritten.

    ``bias`` may have length 0 (no bias). For each stored a_ik, the row X[k, :] is read
    contiguously and added into row i of the output. Rows of ``X`` of at most ``REG_BYTES``
    bytes go to :func:`~sparsecourse.kernels._simd.spmm_row`, which keeps the output row in
    vector registers; wider ones to the buffer loop below, whose inner loop is a vectorisable
    axpy over the columns of X. The rows are split into chunks of ``_SPMM_CHUNK`` so that the
    row buffer is allocated once per chunk, not per row.
    """
    n_rows = indptr.shape[0] - 1
    n_cols = X.shape[1]
    with_bias = bias.shape[0] > 0
    zero = Y.dtype.type(0)
    n_chunks = (n_rows + _SPMM_CHUNK - 1) // _SPMM_CHUNK
    narrow = _narrow(X, Y)
    for c in nb.prange(n_chunks):
        r0 = c * _SPMM_CHUNK
        r1 = min(n_rows, r0 + _SPMM_CHUNK)
        if narrow:
            for i in range(r0, r1):
                start = _u(indptr[i])
                spmm_row(Y, X, indices, data, None, i, start, max(start, _u(indptr[i + 1])),
                         bias[i] if with_bias else zero)
        else:
            buf = np.empty(min(n_cols, _SPMM_TILE), dtype=Y.dtype)
            for j0 in range(0, n_cols, _SPMM_TILE):
                w = _u(min(n_cols - j0, _SPMM_TILE))
                for i in range(r0, r1):
                    _buffer_row(indptr, indices, data, X, bias[i] if with_bias else zero,
                                Y[i], buf, i, _u(j0), w)


@nb.njit(fastmath=False, inline="always", nogil=True)
def _narrow(X, Y):  # pragma: no cover - compiled
    """True if the rows of X fit spmm_row's registers and X's and Y's rows are contiguous."""
    return (0 < X.shape[1] * X.itemsize <= REG_BYTES and X.strides[1] == X.itemsize
            and Y.strides[1] == Y.itemsize)


@nb.njit(fastmath=False, inline="always", nogil=True)
def _buffer_row(indptr, indices, data, X, b0, yr, buf, i, uj0, w):  # pragma: no cover - compiled
    """yr[j0:j0 + w] = b0 + (A @ X)[i, j0:j0 + w], accumulated in buf (in L1) and copied once."""
    for j in range(w):
        buf[j] = b0
    start = _u(indptr[i])
    end = max(start, _u(indptr[i + 1]))
    mid = end - ((end - start) & _u(3))
    for p in range(start, mid, _u(4)):
        axpy4(buf, data[p], X[_u(indices[p])],
              data[p + _u(1)], X[_u(indices[p + _u(1)])],
              data[p + _u(2)], X[_u(indices[p + _u(2)])],
              data[p + _u(3)], X[_u(indices[p + _u(3)])], uj0, w)
    for p in range(mid, end):
        axpy(buf, data[p], X[_u(indices[p])], uj0, w)
    for j in range(w):
        yr[uj0 + j] = buf[j]


#: ``Y = A @ X + bias``: the loop above on all cores (``prange`` over chunks of rows) ...
spmm_kernel = nb.njit(parallel=True, cache=True, fastmath=False, nogil=True)(_spmm_py)
#: ... and the same loop on one thread, for products too small to pay for a parallel region.
spmm_kernel_serial = serial_twin(_spmm_py, fastmath=False, nogil=True)


# --------------------------------------------------------------------------------------------
# The same products with the finiteness check fused in (what csr_spmv / csr_spmm call)
# --------------------------------------------------------------------------------------------
#
# Checking with NumPy, ``np.isfinite(x).all()`` before and ``np.isfinite(y).all()`` after, costs
# two temporary boolean arrays, two more passes and four Python-level calls: 18-36% of a call at
# density <= 0.005, where the product itself is a few tens of microseconds. Here each parallel
# task also checks its share of the dense operand and the outputs it wrote, in the same pass:
# ``v - v`` is 0 for a finite ``v`` and NaN for NaN or infinity, so one running sum of such
# differences is 0 exactly when everything it saw is finite. The kernels return that sum
# (0.0: all finite; NaN: something was not) and the caller names the culprit.

_CHECK_CHUNK = 512  # rows of A per parallel task in spmv_checked


def _finite_sum(v, lo, hi):  # pragma: no cover - compiled
    """0.0 if v[lo:hi] is all finite, NaN otherwise (four independent chains)."""
    zero = v.dtype.type(0)
    s0 = zero
    s1 = zero
    s2 = zero
    s3 = zero
    mid = hi - ((hi - lo) & 3)
    for i in range(lo, mid, 4):
        s0 += v[i] - v[i]
        s1 += v[i + 1] - v[i + 1]
        s2 += v[i + 2] - v[i + 2]
        s3 += v[i + 3] - v[i + 3]
    for i in range(mid, hi):
        s0 += v[i] - v[i]
    return (s0 + s1) + (s2 + s3)


_finite_sum_nb = nb.njit(fastmath=False, inline="always", nogil=True)(_finite_sum)


def _spmv_checked_py(indptr, indices, data, x, y):  # pragma: no cover - compiled
    """``y = A @ x`` like :func:`spmv_kernel`; returns 0.0 if ``x`` and ``y`` are finite, else NaN.

    Rows go in chunks of ``_CHECK_CHUNK`` per task; task ``c`` also checks the ``c``-th slice of
    ``x`` (the slices cover ``x`` once) and the outputs it wrote.
    """
    n_rows = indptr.shape[0] - 1
    n_x = x.shape[0]
    zero = y.dtype.type(0)
    n_chunks = max(1, (n_rows + _CHECK_CHUNK - 1) // _CHECK_CHUNK)
    bad = 0.0
    for c in nb.prange(n_chunks):
        r0 = c * _CHECK_CHUNK
        r1 = min(n_rows, r0 + _CHECK_CHUNK)
        chk = _finite_sum_nb(x, c * n_x // n_chunks, (c + 1) * n_x // n_chunks)
        for i in range(r0, r1):
            start = _u(indptr[i])
            end = max(start, _u(indptr[i + 1]))
            mid = end - ((end - start) & _u(3))
            a0 = zero
            a1 = zero
            a2 = zero
            a3 = zero
            for p in range(start, mid, _u(4)):
                a0 += data[p] * x[_u(indices[p])]
                a1 += data[p + _u(1)] * x[_u(indices[p + _u(1)])]
                a2 += data[p + _u(2)] * x[_u(indices[p + _u(2)])]
                a3 += data[p + _u(3)] * x[_u(indices[p + _u(3)])]
            for p in range(mid, end):
                a0 += data[p] * x[_u(indices[p])]
            v = (a0 + a1) + (a2 + a3)
            y[i] = v
            chk += v - v
        bad += chk
    return bad


#: ``y = A @ x`` with the finiteness of ``x`` and ``y`` checked in the same pass, on all cores ...
spmv_checked = nb.njit(parallel=True, cache=True, fastmath=False, nogil=True)(_spmv_checked_py)
#: ... and on one thread, for products too small to pay for waking the thread pool.
spmv_checked_serial = serial_twin(_spmv_checked_py, fastmath=False, nogil=True)


def _spmv_long_checked_py(indptr, indices, data, x, y):  # pragma: no cover - compiled
    """:func:`_spmv_checked_py` with the rows summed by :func:`_row_sum_long` (gathers).

    The checks stay in this function, compiled without fastmath: ``v - v`` must stay NaN for a
    non-finite ``v``, which a compiler allowed to assume finite values would fold to 0.
    """
    n_rows = indptr.shape[0] - 1
    n_x = x.shape[0]
    n_chunks = max(1, (n_rows + _CHECK_CHUNK - 1) // _CHECK_CHUNK)
    bad = 0.0
    for c in nb.prange(n_chunks):
        chk = _finite_sum_nb(x, c * n_x // n_chunks, (c + 1) * n_x // n_chunks)
        for i in range(c * _CHECK_CHUNK, min(n_rows, (c + 1) * _CHECK_CHUNK)):
            v = _row_sum_long(indptr, indices, data, x, i)
            y[i] = v
            chk += v - v
        bad += chk
    return bad


#: ``spmv_kernel_long`` with the same fused checks as ``spmv_checked``, on all cores ...
spmv_long_checked = nb.njit(parallel=True, cache=True, fastmath=False,
                            nogil=True)(_spmv_long_checked_py)
#: ... and on one thread.
spmv_long_checked_serial = serial_twin(_spmv_long_checked_py, fastmath=False, nogil=True)


def _spmm_checked_py(indptr, indices, data, X, bias, Y):  # pragma: no cover - compiled
    """``Y = A @ X + bias`` like ``spmm_kernel``; returns 0.0 if ``X`` and ``Y`` are finite.

    Task ``c`` (a chunk of ``_SPMM_CHUNK`` rows of ``A``) checks the ``c``-th slice of the rows
    of ``X`` and every output it wrote. ``bias`` is checked by the caller.
    """
    n_rows = indptr.shape[0] - 1
    n_cols = X.shape[1]
    k = X.shape[0]
    with_bias = bias.shape[0] > 0
    zero = Y.dtype.type(0)
    n_chunks = max(1, (n_rows + _SPMM_CHUNK - 1) // _SPMM_CHUNK)
    narrow = _narrow(X, Y)
    bad = 0.0
    for c in nb.prange(n_chunks):
        r0 = c * _SPMM_CHUNK
        r1 = min(n_rows, r0 + _SPMM_CHUNK)
        chk = zero
        for q in range(c * k // n_chunks, (c + 1) * k // n_chunks):
            chk += _finite_sum_nb(X[q], 0, n_cols)
        if narrow:
            for i in range(r0, r1):
                start = _u(indptr[i])
                spmm_row(Y, X, indices, data, None, i, start, max(start, _u(indptr[i + 1])),
                         bias[i] if with_bias else zero)
                chk += _finite_sum_nb(Y[i], 0, n_cols)  # still in L1
        else:
            buf = np.empty(min(n_cols, _SPMM_TILE), dtype=Y.dtype)
            for j0 in range(0, n_cols, _SPMM_TILE):
                wi = min(n_cols - j0, _SPMM_TILE)
                for i in range(r0, r1):
                    _buffer_row(indptr, indices, data, X, bias[i] if with_bias else zero,
                                Y[i], buf, i, _u(j0), _u(wi))
                    chk += _finite_sum_nb(buf, 0, wi)  # still in L1
        bad += chk
    return bad


#: ``Y = A @ X + bias`` with the finiteness of ``X`` and ``Y`` checked in the same pass ...
spmm_checked = nb.njit(parallel=True, cache=True, fastmath=False, nogil=True)(_spmm_checked_py)
#: ... and on one thread.
spmm_checked_serial = serial_twin(_spmm_checked_py, fastmath=False, nogil=True)
