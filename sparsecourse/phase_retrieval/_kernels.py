"""Numba kernels for the loops of sparse phase retrieval that NumPy does wastefully.

* :func:`marginals` -- the support-estimation statistic :math:`M_j = \\frac1m \\sum_i y_i A_{ij}^2`
  of the sparse spectral initialisation. NumPy's ``y @ A**2`` first materialises ``A**2``, a
  second ``m x n`` array (120 MB at ``m = 3000, n = 5000``); the kernel makes one pass over
  ``A`` and allocates nothing but the result.
* :func:`gather_matvec` -- :math:`A_{:,T} v` for a small index set ``T`` without copying the
  ``m x |T|`` column block first (``A[:, T] @ v`` gathers, then multiplies).
* :func:`sum_squares` -- :math:`\\sum_{ij} A_{ij}^2` in float64, on all cores, which every
  solver needs to scale its steps: one read of ``A`` that also tells whether ``A`` is finite
  (the sum is then finite, unless it overflows). NumPy's ``np.isfinite(A).all()`` and
  ``np.einsum`` read ``A`` twice on one core and allocate a boolean copy.
* :func:`take_columns` -- ``A[:, T]`` when the columns of part of ``T`` were copied earlier
  (in the previous iteration): only the others are read from ``A``, on all threads.
* :func:`fused_pass` -- everything an iteration of Newton-HT or HTP needs from ``A``, in one
  pass over its rows: the full product ``g = A^T r(z)`` with ``z = A_S x_S`` from the columns
  ``A_S`` kept since the previous iteration, and the ``s x s`` Gram (Hessian) block on ``S``.
  NumPy reads ``A`` once for ``A^T r`` and gathers the columns ``S`` twice more; the iteration
  is memory-bound, so the reads are the cost.
* :func:`weighted_gram` -- the Hessian block ``A_T^T diag(w) A_T`` and ``A_T^T v`` on a new
  support ``T``, from the gathered columns (in cache): one read of them on all threads, the
  lower triangle only. NumPy scales a copy of ``A_T`` and multiplies the whole square.

The readable references are :func:`marginals_reference`, :func:`gather_matvec_reference`,
:func:`sum_squares_reference`, :func:`take_columns_reference`,
:func:`fused_pass_reference` and :func:`weighted_gram_reference`; the tests pin each kernel to
its reference.
"""

from __future__ import annotations

import numba as nb
import numpy as np

__all__ = ["marginals", "marginals_reference", "gather_matvec", "gather_matvec_reference",
           "sum_squares", "sum_squares_reference", "take_columns", "take_columns_reference",
           "fused_pass", "fused_pass_reference", "weighted_gram", "weighted_gram_reference"]

_FM = {"reassoc", "contract", "nsz"}


@nb.njit(cache=True, fastmath=_FM)
def _marginals_kernel(A, y):  # pragma: no cover - compiled
    m, n = A.shape
    out = np.zeros(n)
    for i in range(m):
        yi = y[i]
        for j in range(n):
            a = A[i, j]
            out[j] += yi * a * a
    for j in range(n):
        out[j] /= m
    return out


@nb.njit(cache=True, fastmath=_FM)
def _gather_matvec_kernel(A, T, v):  # pragma: no cover - compiled
    m = A.shape[0]
    out = np.zeros(m)
    k = T.shape[0]
    for i in range(m):
        acc = 0.0
        for t in range(k):
            acc += A[i, T[t]] * v[t]
        out[i] = acc
    return out


def marginals_reference(A: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``(1/m) sum_i y_i A_ij^2`` written as the math reads.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.phase_retrieval._kernels import marginals_reference
    >>> marginals_reference(np.array([[1.0, 2.0], [3.0, 0.0]]), np.array([1.0, 2.0])).tolist()
    [9.5, 2.0]
    """
    return (y @ A**2) / A.shape[0]


def marginals(A: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Numba version of :func:`marginals_reference` (one pass over ``A``, no temporary).

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.phase_retrieval._kernels import marginals
    >>> marginals(np.array([[1.0, 2.0], [3.0, 0.0]]), np.array([1.0, 2.0])).tolist()
    [9.5, 2.0]
    """
    A = np.ascontiguousarray(A, dtype=np.float64)
    return _marginals_kernel(A, np.ascontiguousarray(y, dtype=np.float64))


def gather_matvec_reference(A: np.ndarray, T: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``A[:, T] @ v``.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.phase_retrieval._kernels import gather_matvec_reference
    >>> A = np.arange(6.0).reshape(2, 3)
    >>> gather_matvec_reference(A, np.array([2, 0]), np.array([1.0, 1.0])).tolist()
    [2.0, 8.0]
    """
    return A[:, T] @ v


def gather_matvec(A: np.ndarray, T: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Numba version of :func:`gather_matvec_reference` (no column copy).

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.phase_retrieval._kernels import gather_matvec
    >>> A = np.arange(6.0).reshape(2, 3)
    >>> gather_matvec(A, np.array([2, 0]), np.array([1.0, 1.0])).tolist()
    [2.0, 8.0]
    """
    if A.dtype not in (np.float32, np.float64) or not A.flags.c_contiguous:
        A = np.ascontiguousarray(A, dtype=np.float64)  # float32 is read as it is
    return _gather_matvec_kernel(A, np.ascontiguousarray(T, dtype=np.int64),
                                 np.ascontiguousarray(v, dtype=np.float64))


@nb.njit(cache=True, fastmath=_FM, nogil=True)
def _sum_squares_slice(a, lo, hi):  # pragma: no cover - compiled
    total = 0.0
    for i in range(lo, hi):
        v = np.float64(a[i])
        total += v * v
    return total


@nb.njit(parallel=True, cache=True, nogil=True)
def _sum_squares_kernel(a, n_chunks):  # pragma: no cover - compiled
    # a serial, vectorised sum per chunk (a prange reduction over the entries stays scalar)
    total = 0.0
    for ch in nb.prange(n_chunks):
        total += _sum_squares_slice(a, ch * a.shape[0] // n_chunks,
                                    (ch + 1) * a.shape[0] // n_chunks)
    return total


def sum_squares_reference(A: np.ndarray) -> float:
    """``sum(A**2)`` in float64.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.phase_retrieval._kernels import sum_squares_reference
    >>> sum_squares_reference(np.array([[1.0, 2.0], [0.0, -2.0]]))
    9.0
    """
    return float(np.einsum("ij,ij->", A, A, dtype=np.float64))


def sum_squares(A: np.ndarray) -> float:
    """:func:`sum_squares_reference` in one parallel pass over a C-contiguous ``A``.

    NaN or infinity in ``A`` makes the result non-finite (the flags let the compiler reorder
    the sum, not assume finite values).

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.phase_retrieval._kernels import sum_squares
    >>> sum_squares(np.array([[1.0, 2.0], [0.0, -2.0]]))
    9.0
    """
    if A.dtype not in (np.float32, np.float64) or not A.flags.c_contiguous:
        A = np.ascontiguousarray(A, dtype=np.float64)
    return float(_sum_squares_kernel(A.reshape(-1), 4 * nb.get_num_threads()))


@nb.njit(parallel=True, cache=True, nogil=True)
def _take_columns_kernel(A, kept, pos, cols):  # pragma: no cover - compiled
    m = A.shape[0]
    p = cols.shape[0]
    out = np.empty((m, p))
    for i in nb.prange(m):
        for t in range(p):
            out[i, t] = kept[i, pos[t]] if pos[t] >= 0 else A[i, cols[t]]
    return out


def _positions(kept_cols, cols):
    """Where each of ``cols`` sits in the sorted ``kept_cols`` (-1: not there)."""
    pos = np.full(cols.shape, -1, dtype=np.int64)
    if kept_cols.size:
        where = np.minimum(np.searchsorted(kept_cols, cols), kept_cols.size - 1)
        hit = kept_cols[where] == cols
        pos[hit] = where[hit]
    return pos


def take_columns_reference(A, cols, kept, kept_cols):
    """``A[:, cols]`` as float64, where ``kept = A[:, kept_cols]`` is a copy made earlier.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.phase_retrieval._kernels import take_columns_reference
    >>> A = np.arange(6.0).reshape(2, 3)
    >>> take_columns_reference(A, np.array([0, 2]), A[:, [2]], np.array([2])).tolist()
    [[0.0, 2.0], [3.0, 5.0]]
    """
    return np.asarray(A)[:, cols].astype(np.float64)


def take_columns(A, cols, kept, kept_cols):
    """:func:`take_columns_reference` reading from ``A`` only the columns not in ``kept_cols``.

    An iteration of Newton-HT or HTP needs the columns of its new support ``T``; the fused pass
    has just copied those of the old support (``kept``), so only the entering columns come from
    ``A``. Each such entry is a cache line of its own, and consecutive rows are
    ``A.shape[1]`` entries apart (a page or more), so the gather is bound by memory latency:
    the rows are split over numba's threads, which keeps more misses in flight than NumPy's
    single-threaded fancy indexing (2-3x faster for 10-30 columns of a 3000 x 5000 matrix).
    ``kept_cols`` must be sorted. When ``cols`` is ``kept_cols`` (the support did not change),
    ``kept`` itself is returned, not a copy (a copy took 0.16-0.37 ms at ``s = 10-90``,
    ``m = 3000``; whole solves gained less than the benchmark's run-to-run spread).

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.phase_retrieval._kernels import take_columns
    >>> A = np.arange(6.0).reshape(2, 3)
    >>> take_columns(A, np.array([0, 2]), A[:, [2]], np.array([2])).tolist()
    [[0.0, 2.0], [3.0, 5.0]]
    """
    cols = np.ascontiguousarray(cols, dtype=np.int64)
    kept_cols = np.asarray(kept_cols, dtype=np.int64)
    if (np.array_equal(cols, kept_cols) and isinstance(kept, np.ndarray)
            and kept.dtype == np.float64 and kept.flags.c_contiguous
            and kept.shape == (A.shape[0], cols.size)):
        return kept
    pos = _positions(kept_cols, cols)
    if A.dtype not in (np.float32, np.float64) or not A.flags.c_contiguous:
        A = np.ascontiguousarray(A, dtype=np.float64)
    kept = np.ascontiguousarray(kept, dtype=np.float64).reshape(A.shape[0], kept_cols.size)
    return _take_columns_kernel(A, kept, pos, cols)


# --------------------------------------------------------------------------------------------
# The fused iteration pass of Newton-HT and HTP (one read of A per iteration)
# --------------------------------------------------------------------------------------------

#: rows handled together in the fused pass: the accumulator ``g`` (n doubles) and the Gram
#: block are read and written once per block of rows instead of once per row (8 rows: 5-13%
#: faster passes than 4 at n = 5000, m = 3000, s = 50-90, both dtypes; a tie at s = 10)
_ROW_BLOCK = 8


@nb.njit(cache=True, fastmath=_FM, nogil=True)
def _fused_rows(A, AS, xS, b, y, mode, gram, lo, hi, z, g, H, c):  # pragma: no cover
    """Rows ``lo:hi`` of the fused pass: fill ``z``, accumulate ``g``, ``H``, ``c``."""
    n = A.shape[1]
    k = AS.shape[1]
    B = _ROW_BLOCK
    aS = np.empty((B, k))
    wa = np.empty((B, k))
    r = np.empty(B)
    w = np.empty(B)
    v = np.empty(B)
    for i0 in range(lo, hi, B):
        nb_rows = min(B, hi - i0)
        for q in range(nb_rows):
            i = i0 + q
            zi = 0.0
            for t in range(k):  # the kept columns: contiguous, no read of A
                zi += AS[i, t] * xS[t]
            z[i] = zi
            sb = b[i] if zi >= 0 else -b[i]  # b_i sign(z_i)
            # Newton-HT: amplitude residual, Hessian weight, intensity gradient; HTP: residual
            # of the linearised problem, Gram matrix, its right-hand side
            r[q] = zi - sb if mode == 0 else sb - zi
            if gram:
                w[q] = 3.0 * zi * zi - y[i] if mode == 0 else 1.0
                v[q] = (zi * zi - y[i]) * zi if mode == 0 else sb
                for t in range(k):
                    aS[q, t] = AS[i, t]
        if nb_rows == B:
            a0, a1, a2, a3 = A[i0], A[i0 + 1], A[i0 + 2], A[i0 + 3]
            a4, a5, a6, a7 = A[i0 + 4], A[i0 + 5], A[i0 + 6], A[i0 + 7]
            r0, r1, r2, r3, r4, r5, r6, r7 = r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]
            for j in range(n):
                g[j] += (((r0 * a0[j] + r1 * a1[j]) + (r2 * a2[j] + r3 * a3[j]))
                         + ((r4 * a4[j] + r5 * a5[j]) + (r6 * a6[j] + r7 * a7[j])))
        else:
            for q in range(nb_rows):
                rq = r[q]
                aq = A[i0 + q]
                for j in range(n):
                    g[j] += rq * aq[j]
        if gram:
            _gram_rows(aS, w, v, nb_rows, wa, H, c)


@nb.njit(cache=True, fastmath=_FM, nogil=True)
def _gram_rows(aS, w, v, nb_rows, wa, H, c):  # pragma: no cover - compiled
    """Add the first ``nb_rows`` rows of ``aS`` (``B x k``) to ``H += aS^T diag(w) aS``
    (lower triangle) and ``c += aS^T v``; ``wa`` is scratch, a short block is zero-padded."""
    k = aS.shape[1]
    for q in range(nb_rows):
        wq, vq = w[q], v[q]
        for t in range(k):
            c[t] += vq * aS[q, t]
            wa[q, t] = wq * aS[q, t]
    for q in range(nb_rows, _ROW_BLOCK):
        for t in range(k):
            wa[q, t] = 0.0
            aS[q, t] = 0.0
    b0, b1, b2, b3, b4, b5, b6, b7 = aS[0], aS[1], aS[2], aS[3], aS[4], aS[5], aS[6], aS[7]
    for t in range(k):
        w0, w1, w2, w3 = wa[0, t], wa[1, t], wa[2, t], wa[3, t]
        w4, w5, w6, w7 = wa[4, t], wa[5, t], wa[6, t], wa[7, t]
        Ht = H[t]
        for u in range(t + 1):
            Ht[u] += (((w0 * b0[u] + w1 * b1[u]) + (w2 * b2[u] + w3 * b3[u]))
                      + ((w4 * b4[u] + w5 * b5[u]) + (w6 * b6[u] + w7 * b7[u])))


@nb.njit(parallel=True, cache=True, fastmath=_FM, nogil=True)
def _fused_pass_kernel(A, AS, xS, b, y, mode, gram, per, z, G, Hs, cs):  # pragma: no cover
    # nothing but the parallel loop: numba turns an array expression in a parallel function
    # (np.zeros, g += G[ch], ...) into a parallel loop of its own, and each one wakes the
    # sleeping thread pool (about 70 us on a 2-core VM: 0.4 ms a pass when the allocations and
    # the sums of the chunks were written here)
    m = A.shape[0]
    for ch in nb.prange(G.shape[0]):
        lo = min(m, ch * per)
        hi = min(m, lo + per)
        _fused_rows(A, AS, xS, b, y, mode, gram, lo, hi, z, G[ch], Hs[ch], cs[ch])


@nb.njit(cache=True, nogil=True)
def _sum_chunks(G, Hs, cs):  # pragma: no cover - compiled
    """Sum the chunks' partial ``g``, ``H`` (lower triangle, then mirrored) and ``c``."""
    g = G[0].copy()
    H = Hs[0].copy()
    c = cs[0].copy()
    for ch in range(1, G.shape[0]):
        g += G[ch]
        H += Hs[ch]
        c += cs[ch]
    for t in range(H.shape[0]):
        for u in range(t):
            H[u, t] = H[t, u]
    return g, H, c


def _chunking(m, n_threads):
    """Rows per chunk, a multiple of the row block, and the number of chunks (one a thread)."""
    n_chunks = max(1, min(nb.get_num_threads() if n_threads is None else int(n_threads), m))
    per = -(-m // n_chunks)
    return -(-per // _ROW_BLOCK) * _ROW_BLOCK, n_chunks


def fused_pass_reference(A, AS, xS, b, y, mode, gram=True):
    """What :func:`fused_pass` computes, in NumPy (several passes over ``A``).

    ``AS = A[:, S]`` holds the columns of the support ``S`` of the iterate (kept from the
    previous iteration). With ``z = AS @ xS`` and ``p = sign(z)`` (``+1`` at 0):

    * ``mode=0`` (Newton-HT): ``g = A^T (z - b p)``, ``H = A_S^T diag(3 z^2 - y) A_S``,
      ``c = A_S^T ((z^2 - y) z)`` (all without the ``1/m``);
    * ``mode=1`` (HTP): ``g = A^T (b p - z)``, ``H = A_S^T A_S``, ``c = A_S^T (b p)``.

    Returns ``(z, g, H, c)``; ``H`` and ``c`` are empty when ``gram`` is False.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.phase_retrieval._kernels import fused_pass_reference
    >>> A = np.array([[1.0, 2.0], [0.0, -1.0]])
    >>> z, g, H, c = fused_pass_reference(A, A[:, [1]], np.array([1.0]), np.array([1.0, 2.0]),
    ...                                   np.array([1.0, 4.0]), 1)
    >>> z.tolist(), g.tolist(), H.tolist(), c.tolist()
    ([2.0, -1.0], [-1.0, -1.0], [[5.0]], [4.0])
    """
    AS = np.asarray(AS, dtype=np.float64)
    z = AS @ np.asarray(xS, dtype=np.float64)
    sb = np.where(z >= 0, b, -b)
    if mode == 0:
        r, w, v = z - sb, 3.0 * z * z - y, (z * z - y) * z
    else:
        r, w, v = sb - z, np.ones_like(z), sb
    g = np.asarray(A).T.astype(np.float64) @ r
    if not gram:
        return z, g, np.zeros((0, 0)), np.zeros(0)
    return z, g, (AS * w[:, None]).T @ AS, AS.T @ v


def fused_pass(A, AS, xS, b, y, mode, gram=True, n_threads=None):
    """One pass over the rows of a C-contiguous ``A`` that computes :func:`fused_pass_reference`.

    ``z`` comes from the kept columns ``AS`` (``m x s``, contiguous), not from ``A``: reading
    ``A[i, S]`` inside the pass costs a cache miss per entry, ahead of the row's stream, and
    made the pass 1.35x (``s = 10``) to 2x (``s = 90``, float32) one read of ``A``. Each row of
    ``A`` is then read once, and added to ``g`` with weight ``r_i``. ``A`` may be float32 (half
    the bytes); all sums are in float64. Rows are split into ``n_threads`` chunks (default:
    numba's thread count), one per thread, each a multiple of the row block.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.phase_retrieval._kernels import fused_pass
    >>> A = np.array([[1.0, 2.0], [0.0, -1.0]])
    >>> z, g, H, c = fused_pass(A, A[:, [1]], np.array([1.0]), np.array([1.0, 2.0]),
    ...                         np.array([1.0, 4.0]), 1)
    >>> z.tolist(), g.tolist(), H.tolist(), c.tolist()
    ([2.0, -1.0], [-1.0, -1.0], [[5.0]], [4.0])
    """
    if A.dtype not in (np.float32, np.float64) or not A.flags.c_contiguous:
        A = np.ascontiguousarray(A, dtype=np.float64)
    m, n = A.shape
    AS = np.ascontiguousarray(AS, dtype=np.float64).reshape(m, -1)
    per, n_chunks = _chunking(m, n_threads)
    k = AS.shape[1] if gram else 0
    z = np.empty(m)
    G, Hs, cs = np.zeros((n_chunks, n)), np.zeros((n_chunks, k, k)), np.zeros((n_chunks, k))
    _fused_pass_kernel(A, AS, np.ascontiguousarray(xS, dtype=np.float64),
                       np.ascontiguousarray(b, dtype=np.float64),
                       np.ascontiguousarray(y, dtype=np.float64), int(mode), bool(gram), per,
                       z, G, Hs, cs)
    return (z, *_sum_chunks(G, Hs, cs))


# --------------------------------------------------------------------------------------------
# The Hessian block on a new support, from its gathered columns
# --------------------------------------------------------------------------------------------

@nb.njit(cache=True, fastmath=_FM, nogil=True)
def _weighted_gram_rows(AT, w, v, lo, hi, H, c):  # pragma: no cover - compiled
    """Rows ``lo:hi`` of ``AT`` into ``H`` (lower triangle) and ``c``, a row block at a time."""
    k = AT.shape[1]
    B = _ROW_BLOCK
    wa = np.empty((B, k))
    for i0 in range(lo, hi, B):
        nb_rows = min(B, hi - i0)
        if nb_rows == B:  # a view: _gram_rows writes into its block only to pad a short one
            _gram_rows(AT[i0:i0 + B], w[i0:i0 + B], v[i0:i0 + B], B, wa, H, c)
        else:
            aS = np.zeros((B, k))
            aS[:nb_rows] = AT[i0:hi]
            _gram_rows(aS, w[i0:hi], v[i0:hi], nb_rows, wa, H, c)


@nb.njit(parallel=True, cache=True, fastmath=_FM, nogil=True)
def _weighted_gram_kernel(AT, w, v, per, Hs, cs):  # pragma: no cover - compiled
    m = AT.shape[0]
    for ch in nb.prange(Hs.shape[0]):
        lo = min(m, ch * per)
        hi = min(m, lo + per)
        _weighted_gram_rows(AT, w, v, lo, hi, Hs[ch], cs[ch])


def weighted_gram_reference(AT, w, v):
    """``(AT^T diag(w) AT, AT^T v)``: the Hessian block of Newton-HT on the columns ``AT``.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.phase_retrieval._kernels import weighted_gram_reference
    >>> AT = np.array([[1.0, 2.0], [0.0, -1.0]])
    >>> H, c = weighted_gram_reference(AT, np.array([1.0, 3.0]), np.array([1.0, 1.0]))
    >>> H.tolist(), c.tolist()
    ([[1.0, 2.0], [2.0, 7.0]], [1.0, 1.0])
    """
    AT = np.asarray(AT, dtype=np.float64)
    return (AT * np.asarray(w)[:, None]).T @ AT, AT.T @ v


def weighted_gram(AT, w, v, n_threads=None):
    """:func:`weighted_gram_reference` in one read of ``AT`` (``m x k``), on all threads.

    The rows are split into one chunk per thread; each chunk adds its rows, eight at a time,
    into the lower triangle of its own ``k x k`` block (half the multiply-adds of the full
    product, and no scaled copy of ``AT``), and the blocks are summed and mirrored.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.phase_retrieval._kernels import weighted_gram
    >>> AT = np.array([[1.0, 2.0], [0.0, -1.0]])
    >>> H, c = weighted_gram(AT, np.array([1.0, 3.0]), np.array([1.0, 1.0]))
    >>> H.tolist(), c.tolist()
    ([[1.0, 2.0], [2.0, 7.0]], [1.0, 1.0])
    """
    AT = np.ascontiguousarray(AT, dtype=np.float64)
    m, k = AT.shape
    per, n_chunks = _chunking(m, n_threads)
    Hs, cs = np.zeros((n_chunks, k, k)), np.zeros((n_chunks, k))
    _weighted_gram_kernel(AT, np.ascontiguousarray(w, dtype=np.float64),
                          np.ascontiguousarray(v, dtype=np.float64), per, Hs, cs)
    _, H, c = _sum_chunks(np.zeros((n_chunks, 0)), Hs, cs)
    return H, c
