"""N:M structured sparsity: masks, the compressed format sparse tensor cores read, and CPU kernels.

An N:M sparse matrix keeps at most ``n`` non-zeros in every group of ``m`` consecutive entries of
a row (groups run along the *input* dimension of a ``(out, in)`` weight). With 2:4, half the
values are stored, and each kept value carries the position it came from inside its group: a
2-bit index, four of which fit in one byte. That is the layout NVIDIA's sparse tensor cores read
(values plus 2-bit metadata), and it is what :func:`nm_pack` produces:

* ``values``: ``(out, in · n / m)``, the kept values of each row in order;
* ``meta``: ``(out, ceil(in · n / m / 4))`` ``uint8``, the in-group positions, 2 bits each
  (4 bits each for ``m`` up to 16), the first value in the lowest bits.

Bytes read by a product ``W x`` in float32: dense ``4 · in`` per row; 2:4 ``2 · in`` of values
plus ``in / 8`` of metadata, ``2.125 · in``: at best ``4 / 2.125 ≈ 1.88×`` faster, because a
matrix-vector product is limited by memory bandwidth.

The kernels. :func:`nm_gemv` gives each thread blocks of four rows (``prange``) and walks them
side by side, one metadata byte (two groups, four values) at a time: the byte's four 2-bit
indices are decoded with shifts and masks and the four products ``v · x[col]`` are summed as a
tree into the row's sum. The four rows gather from the same cache lines of ``x`` and keep four
independent sums in flight. :func:`nm_gemm` (``X`` of shape ``(in, batch)``) takes the same
blocks of four rows and adds ``v · X[col, :]`` into a fresh accumulator, a loop over the batch
that LLVM vectorises (a fresh array aliases nothing; with the output written in place, or a
compile-time batch width, the assembly showed scalar FMAs only). Unsigned positions spare
numba's negative-index checks. The references (:func:`nm_unpack` then a dense product) are
beside them and the tests pin the two together.

What was measured (single-thread CPU time, so that the shared machine's load matters less;
AMD EPYC with AVX-512, float32, both Llama-7B shapes, weights rotated past the cache; ratios are
NumPy dense time over ours):

* GEMV, one row at a time: 0.63-1.10x; blocks of four rows (shipped): 1.03-1.09x.
* GEMV, vectorised by LLVM with the index picked by selects among the group's candidates
  (``x`` deinterleaved into eight unit-stride arrays): 0.82-0.87x, with the indices decoded in
  float32 lanes instead of numba's int64: 0.84-1.00x. Written as gathers, LLVM emitted
  ``vgatherdps``: slower still.
* GEMM batch 16: fresh accumulator with signed indices 0.45-0.54x; unsigned (shipped)
  0.59-0.76x.

So on this CPU the kernels are bound by instructions (index decoding, one load of ``x`` per
value), not by the bytes they read: single-threaded, they do not reach the 1.88x byte bound.
With all cores a dense product saturates memory bandwidth while ours still has spare bandwidth;
``benchmarks/nm_sparsity.py`` measures the multi-threaded ratios, which are the result to quote.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numba as nb
import numpy as np

__all__ = ["NMPacked", "nm_mask", "nm_pack", "nm_unpack", "nm_gemv", "nm_gemm",
           "nm_gemv_reference", "is_nm_sparse"]

_FLOATS = (np.float32, np.float64)


@dataclass(frozen=True)
class NMPacked:
    """An N:M sparse ``(out, in)`` matrix in compressed form (see the module docstring).

    Attributes
    ----------
    values : ndarray (out, in · n / m), float32 or float64
    meta : ndarray (out, ceil(in · n / m / per_byte)), uint8
        In-group positions, ``bits`` bits each, ``8 // bits`` per byte, lowest bits first.
    shape : (out, in)
    n, m : int
    """

    values: np.ndarray
    meta: np.ndarray
    shape: tuple[int, int]
    n: int
    m: int

    @property
    def bits(self) -> int:
        """Bits per index: 2 for ``m ≤ 4``, 4 for ``m ≤ 16``."""
        return _bits(self.m)

    @property
    def nbytes(self) -> int:
        """Bytes of values plus metadata (what a product reads)."""
        return self.values.nbytes + self.meta.nbytes


def _bits(m: int) -> int:
    return 2 if m <= 4 else 4


def _check_nm(n, m, n_in=None):
    for v, name in ((n, "n"), (m, "m")):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise TypeError(f"{name} must be an int, got {type(v).__name__}")
    n, m = int(n), int(m)
    if not 0 < n < m:
        raise ValueError(f"need 0 < n < m (keep n of every m), got n={n}, m={m}")
    if m > 16:
        raise ValueError(f"m must be at most 16 (4-bit indices), got {m}")
    if n_in is not None and n_in % m:
        raise ValueError(f"W's input dimension {n_in} (shape[1]) is not divisible by m = {m}")
    return n, m


def _check_W(W, name="W"):
    if not isinstance(W, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(W).__name__}")
    if W.dtype not in _FLOATS:
        raise TypeError(f"{name} must be float32 or float64, got {W.dtype}")
    if W.ndim != 2:
        raise ValueError(f"{name} must be 2-D (out, in), got shape {W.shape}")
    if not np.isfinite(W).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return W


def nm_mask(W, n: int, m: int) -> np.ndarray:
    """Boolean mask keeping the ``n`` largest ``|W|`` of every ``m`` consecutive inputs.

    Ties go to the earlier position. Groups run along axis 1 (the input dimension).

    Examples
    --------
    >>> nm_mask(np.array([[0.1, -3.0, 2.0, 0.5]]), 2, 4).astype(int)
    array([[0, 1, 1, 0]])
    """
    W = _check_W(np.asarray(W) if not isinstance(W, np.ndarray) else W)
    n, m = _check_nm(n, m, W.shape[1])
    out, k = W.shape
    g = np.abs(W).reshape(out, k // m, m)
    order = np.argsort(-g, axis=2, kind="stable")[..., :n]
    mask = np.zeros(g.shape, dtype=bool)
    np.put_along_axis(mask, order, True, axis=2)
    return mask.reshape(out, k)


def is_nm_sparse(W, n: int, m: int) -> bool:
    """Whether every group of ``m`` consecutive inputs of ``W`` holds at most ``n`` non-zeros.

    Examples
    --------
    >>> is_nm_sparse(np.array([[1.0, 0, 0, 2, 0, 0, 3, 0]]), 2, 4)
    True
    """
    W = np.asarray(W)
    n, m = _check_nm(n, m, W.shape[1])
    return bool(((W != 0).reshape(W.shape[0], -1, m).sum(-1) <= n).all())


def nm_pack(W, n: int = 2, m: int = 4) -> NMPacked:
    """Compress an N:M sparse ``(out, in)`` matrix into values and packed indices.

    A group with fewer than ``n`` non-zeros stores explicit zeros (at its first free positions),
    as the hardware format does.

    Examples
    --------
    >>> W = np.array([[0, 1.5, 0, -2.0, 3.0, 0, 0, 4.0]], dtype=np.float32)
    >>> p = nm_pack(W)
    >>> p.values, p.meta, bin(int(p.meta[0, 0]))
    (array([[ 1.5, -2. ,  3. ,  4. ]], dtype=float32), array([[205]], dtype=uint8), '0b11001101')
    >>> np.array_equal(nm_unpack(p), W)
    True
    """
    W = _check_W(W)
    n, m = _check_nm(n, m, W.shape[1])
    out, k = W.shape
    groups = W.reshape(out, k // m, m)
    nz = groups != 0
    if (nz.sum(-1) > n).any():
        r, g = np.argwhere(nz.sum(-1) > n)[0]
        raise ValueError(f"W is not {n}:{m} sparse: row {r}, inputs {g * m}..{g * m + m - 1} "
                         f"hold {int(nz[r, g].sum())} non-zeros; apply nm_mask first")
    # positions: non-zeros first (in order), then the first zeros as padding
    key = np.where(nz, 0, 1) * m + np.arange(m)
    idx = np.sort(np.argsort(key, axis=2, kind="stable")[..., :n], axis=2)
    values = np.take_along_axis(groups, idx, axis=2).reshape(out, -1)
    bits = _bits(m)
    per = 8 // bits
    flat = idx.reshape(out, -1).astype(np.uint8)
    nv = flat.shape[1]
    pad = (-nv) % per
    if pad:
        flat = np.concatenate([flat, np.zeros((out, pad), np.uint8)], axis=1)
    flat = flat.reshape(out, -1, per)
    meta = np.zeros(flat.shape[:2], dtype=np.uint8)
    for s in range(per):
        meta |= (flat[..., s] << (bits * s)).astype(np.uint8)
    return NMPacked(np.ascontiguousarray(values), meta, (out, k), n, m)


def _check_packed(p):
    if not isinstance(p, NMPacked):
        raise TypeError(f"packed must be an NMPacked (from nm_pack), got {type(p).__name__}")
    return p


def nm_unpack(packed: NMPacked) -> np.ndarray:
    """The dense ``(out, in)`` matrix of a packed N:M matrix (the reference for the kernels).

    Examples
    --------
    >>> W = np.array([[0, 1.0, 2.0, 0]])
    >>> np.array_equal(nm_unpack(nm_pack(W)), W)
    True
    """
    p = _check_packed(packed)
    out, k = p.shape
    bits, per = p.bits, 8 // p.bits
    nv = p.values.shape[1]
    shifts = (bits * np.arange(per)).astype(np.uint8)
    idx = ((p.meta[..., None] >> shifts) & ((1 << bits) - 1)).reshape(out, -1)[:, :nv]
    cols = (np.arange(nv) // p.n) * p.m + idx
    W = np.zeros((out, k), dtype=p.values.dtype)
    np.put_along_axis(W, cols.astype(np.int64), p.values, axis=1)
    return W


def nm_gemv_reference(packed: NMPacked, x) -> np.ndarray:
    """``W @ x`` by unpacking to dense first (slow; the reference).

    Examples
    --------
    >>> p = nm_pack(np.array([[0, 1.0, 2.0, 0]]))
    >>> nm_gemv_reference(p, np.array([1.0, 2.0, 3.0, 4.0]))
    array([8.])
    """
    return nm_unpack(packed) @ np.asarray(x)


# --------------------------------------------------------------------------------------------
# Kernels
# --------------------------------------------------------------------------------------------

_ROWS = 4  # rows per block in the GEMM: they share the rows of X they gather from
_FM = {"reassoc", "contract", "nsz", "arcp"}  # vectorised sums; keeps NaN/inf semantics


_u = np.uint64  # unsigned positions: no negative-index ("wraparound") check in numba


@nb.njit(inline="always", nogil=True, fastmath={"contract"})
def _dot_byte(v, byte, k, x, base):  # pragma: no cover - compiled
    """The four products of one metadata byte of a 2:4 row (two groups of four inputs)."""
    three = _u(3)
    four = _u(4)
    return ((v[k] * x[base + (byte & three)]
             + v[k + _u(1)] * x[base + ((byte >> _u(2)) & three)])
            + (v[k + _u(2)] * x[base + four + ((byte >> four) & three)]
               + v[k + _u(3)] * x[base + four + (byte >> _u(6))]))


@nb.njit(parallel=True, cache=True, nogil=True, fastmath={"contract"})
def _gemv_24(values, meta, x, y):  # pragma: no cover - compiled
    """2:4 GEMV: each thread takes blocks of four rows, walked side by side byte by byte.

    The four rows gather from the same cache lines of ``x`` (which, at 44 KB for 11008
    inputs, does not fit in L1) and give four independent sums in flight.
    """
    out = values.shape[0]
    nb_ = meta.shape[1]
    n_blocks = out // _ROWS
    for blk in nb.prange(n_blocks + 1):
        r0 = blk * _ROWS
        if blk < n_blocks:
            v0, v1, v2, v3 = values[r0], values[r0 + 1], values[r0 + 2], values[r0 + 3]
            m0, m1, m2, m3 = meta[r0], meta[r0 + 1], meta[r0 + 2], meta[r0 + 3]
            s0 = y.dtype.type(0)
            s1 = y.dtype.type(0)
            s2 = y.dtype.type(0)
            s3 = y.dtype.type(0)
            for b in range(nb_):
                base = _u(8 * b)
                k = _u(4 * b)
                s0 += _dot_byte(v0, _u(m0[b]), k, x, base)
                s1 += _dot_byte(v1, _u(m1[b]), k, x, base)
                s2 += _dot_byte(v2, _u(m2[b]), k, x, base)
                s3 += _dot_byte(v3, _u(m3[b]), k, x, base)
            y[r0], y[r0 + 1], y[r0 + 2], y[r0 + 3] = s0, s1, s2, s3
        else:
            for r in range(r0, out):
                s = y.dtype.type(0)
                for b in range(nb_):
                    s += _dot_byte(values[r], _u(meta[r, b]), _u(4 * b), x, _u(8 * b))
                y[r] = s


@nb.njit(parallel=True, cache=True, nogil=True)
def _gemv_generic(values, meta, n, m, bits, x, y):  # pragma: no cover - compiled
    out, nv = values.shape
    per = 8 // bits
    mask = (1 << bits) - 1
    for r in nb.prange(out):
        s = x.dtype.type(0)
        for k in range(nv):
            idx = (meta[r, k // per] >> (bits * (k % per))) & mask
            s += values[r, k] * x[(k // n) * m + idx]
        y[r] = s


@nb.njit(parallel=True, cache=True, nogil=True, fastmath=_FM)
def _gemm_24(values, meta, X, Y):  # pragma: no cover - compiled
    """2:4 GEMM: blocks of ``_ROWS`` rows, ``v · X[col, :]`` added into a fresh accumulator.

    The rows of a block gather from the same few rows of ``X`` (eight per metadata byte), which
    then sit in L1 instead of coming from L2 once per row. The accumulator is a fresh array, so
    LLVM knows it aliases neither ``X`` nor the values and vectorises the loop over the batch;
    writing into ``Y`` directly (possible aliasing) or a compile-time batch width left it scalar
    (checked in the assembly: no packed FMAs).
    """
    out = values.shape[0]
    nb_ = meta.shape[1]
    batch = X.shape[1]
    n_blocks = (out + _ROWS - 1) // _ROWS
    bu = _u(batch)
    for blk in nb.prange(n_blocks):
        r0 = blk * _ROWS
        nr = min(r0 + _ROWS, out) - r0
        Xf = X.ravel()
        acc = np.zeros(_ROWS * batch, dtype=Y.dtype)  # fresh: aliases nothing
        for b in range(nb_):
            base = _u(8 * b)
            k = _u(4 * b)
            for rr in range(nr):
                r = _u(r0 + rr)
                byte = _u(meta[r, _u(b)])
                a0, a1 = values[r, k], values[r, k + _u(1)]
                a2, a3 = values[r, k + _u(2)], values[r, k + _u(3)]
                q0 = (base + (byte & _u(3))) * bu
                q1 = (base + ((byte >> _u(2)) & _u(3))) * bu
                q2 = (base + _u(4) + ((byte >> _u(4)) & _u(3))) * bu
                q3 = (base + _u(4) + (byte >> _u(6))) * bu
                o = _u(rr) * bu
                for j in range(batch):
                    ju = _u(j)
                    acc[o + ju] += ((a0 * Xf[q0 + ju] + a1 * Xf[q1 + ju])
                                    + (a2 * Xf[q2 + ju] + a3 * Xf[q3 + ju]))
        for rr in range(nr):
            for j in range(batch):
                Y[r0 + rr, j] = acc[rr * batch + j]


@nb.njit(parallel=True, cache=True, nogil=True)
def _gemm_generic(values, meta, n, m, bits, X, Y):  # pragma: no cover - compiled
    out, nv = values.shape
    per = 8 // bits
    mask = (1 << bits) - 1
    batch = X.shape[1]
    for r in nb.prange(out):
        for j in range(batch):
            Y[r, j] = 0
        for k in range(nv):
            idx = (meta[r, k // per] >> (bits * (k % per))) & mask
            a = values[r, k]
            c = (k // n) * m + idx
            for j in range(batch):
                Y[r, j] += a * X[c, j]


def _operand(p, x, ndim, name):
    if not isinstance(x, np.ndarray):
        x = np.asarray(x)
    if x.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be real-valued, got {x.dtype}")
    x = np.ascontiguousarray(x, dtype=p.values.dtype)
    if x.ndim != ndim or x.shape[0] != p.shape[1]:
        want = f"({p.shape[1]},)" if ndim == 1 else f"({p.shape[1]}, batch)"
        raise ValueError(f"{name} must have shape {want}, got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return x


def nm_gemv(packed: NMPacked, x, *, out: np.ndarray | None = None) -> np.ndarray:
    """``y = W @ x`` for a packed N:M matrix (numba, parallel over rows).

    ``x`` is converted to the values' dtype. 2:4 has a specialised kernel (four values per
    metadata byte); other N:M patterns use a generic one.

    Examples
    --------
    >>> W = np.array([[0, 1.0, 2.0, 0, 0, 0, 3.0, 1.0]], dtype=np.float32)
    >>> nm_gemv(nm_pack(W), np.arange(8.0))
    array([30.], dtype=float32)
    """
    p = _check_packed(packed)
    x = _operand(p, x, 1, "x")
    if out is None:
        out = np.empty(p.shape[0], dtype=p.values.dtype)
    elif not (isinstance(out, np.ndarray) and out.shape == (p.shape[0],)
              and out.dtype == p.values.dtype and out.flags.c_contiguous):
        raise ValueError(f"out must be a C-contiguous {p.values.dtype} array of shape "
                         f"({p.shape[0]},)")
    if p.n == 2 and p.m == 4 and p.shape[1] % 8 == 0:
        _gemv_24(p.values, p.meta, x, out)
    else:
        _gemv_generic(p.values, p.meta, p.n, p.m, p.bits, x, out)
    return out


def nm_gemm(packed: NMPacked, X) -> np.ndarray:
    """``Y = W @ X`` for a packed N:M matrix and a dense ``X`` of shape ``(in, batch)``.

    Examples
    --------
    >>> W = np.array([[0, 1.0, 2.0, 0, 0, 0, 3.0, 1.0]])
    >>> nm_gemm(nm_pack(W), np.ones((8, 2)))
    array([[7., 7.]])
    """
    p = _check_packed(packed)
    X = _operand(p, X, 2, "X")
    Y = np.empty((p.shape[0], X.shape[1]), dtype=p.values.dtype)
    if p.n == 2 and p.m == 4 and p.shape[1] % 8 == 0:
        _gemm_24(p.values, p.meta, X, Y)
    else:
        _gemm_generic(p.values, p.meta, p.n, p.m, p.bits, X, Y)
    return Y
