"""Sparse GEMV for activation sparsity: skip the weight rows of inactive inputs (numba, CPU).

A matrix-vector product with a large weight matrix reads every weight once and does two flops per
weight: it is limited by memory bandwidth, not arithmetic. If an input entry ``x[i]`` is zero (or
small enough to be treated as zero), the weights it multiplies need not be read at all. For that to
save *memory traffic* the skipped weights must be contiguous: with the weight stored
**input-major**, ``Wt`` of shape ``(in_features, out_features)`` (the transpose of what
``torch.nn.Linear`` stores), the weights of input ``i`` are the contiguous row ``Wt[i]``, and
``y = Wt.T @ x`` is a sum of rows ``y = sum_i x[i] * Wt[i]`` over the *active* inputs only.

Each kernel has a readable NumPy reference beside it (:func:`sparse_gemv_reference`,
:func:`cats_mlp_reference`); the tests check that the two agree.

How the kernels are built. Each step was measured against the previous one; the ablation table
of ``benchmarks/activation.py`` times them all at 50% input sparsity, interleaved with NumPy's
dense product, and ``benchmarks/results/activation.json`` keeps the numbers quoted here (ranges
over the two Llama-7B shapes). They were measured on a busy shared 2-core machine (load average
10-14), where scheduling noise is large; treat differences under ~1.3x as unresolved.

* **Rows, not columns.** The straightforward kernel -- one output per ``prange`` iteration, a
  masked sum down a column of ``Wt`` -- reads the matrix across its rows, one float per cache
  line and row: 0.10-0.18x the speed of NumPy's dense product at 50% sparsity. Computing ``y``
  as a sum of contiguous rows (axpys) instead makes every read sequential.
* **Compaction first.** One serial pass over ``x`` (O(in_features), microseconds) collects the
  positions and values of the active inputs, so the main loop never tests a mask.
  With one row per pass, the row-axpy kernel was 0.91-0.96x NumPy dense and 0.88-0.94x with
  compaction: the mask test is not what limits it.
* **Several rows per pass.** The accumulator is updated with several active rows at once
  (``acc += a0*r0 + a1*r1 + ...``), which cuts its loads and stores several-fold and keeps more
  independent memory streams in flight; the loop over columns is contiguous and vectorises
  (AVX-512 here). Four rows per pass: 1.33-2.33x NumPy dense; eight (the shipped kernel):
  1.96-2.32x.
* **Split-K: whole rows per thread.** Splitting the *output columns* between threads (each thread
  walks every active row over its range of columns, in tiles whose accumulator sits in L1) cuts
  each row into short pieces, and the hardware prefetcher restarts on every piece. Splitting the
  *active rows* between threads instead (each thread reads whole rows, contiguous 16-44 KB runs,
  into a private full-length accumulator that sits in L2, and the few per-thread partial outputs
  are summed at the end) streams longer runs: 1.95-2.13x NumPy dense with four rows per pass
  (against 1.33-2.33x for the column split). In a single-thread CPU-time probe (no competing
  load) whole rows beat 2048-column tiles by 1.3-1.7x, and eight rows per pass beat four by
  1.07-1.14x.
* **CATS fused in one pass.** :func:`cats_mlp_kernel` splits the ``d_ff`` neurons between the
  threads; for each neuron it computes the gate's row dot product, the SiLU and the threshold
  test, and only for a surviving neuron reads its row of ``up`` (a dot product) and its row of
  ``down_t`` (added, eight rows per pass, into a thread-private ``d_model`` accumulator that fits
  in L1). The three matrices are each streamed once and no intermediate vector goes to memory.
  The dot products are compiled with ``reassoc`` so that they vectorise: the block ran 1.9x
  (nothing skipped) to 3.1x (50% skipped) faster in single-thread CPU time once they did.
"""

from __future__ import annotations

import math
import numbers
import warnings

import numba as nb
import numpy as np

from ._numba_csr import axpy

__all__ = [
    "input_major",
    "sparse_gemv",
    "sparse_gemv_reference",
    "cats_mlp",
    "cats_mlp_reference",
]

_u = np.uint64  # unsigned positions: no negative-index ("wraparound") check in numba
_TILE = 65536  # output columns per accumulator tile in gemv_kernel (256 KB, in L2)
_REASSOC = {"reassoc", "contract", "nsz", "arcp"}  # lets LLVM vectorise dot products; keeps NaN/inf


# --------------------------------------------------------------------------------------------
# References: the math as it reads
# --------------------------------------------------------------------------------------------

def sparse_gemv_reference(Wt: np.ndarray, x: np.ndarray, threshold: float) -> np.ndarray:
    """``Wt.T @ where(|x| > threshold, x, 0)`` written the way the formula reads (NumPy).

    The threshold is compared in ``x``'s dtype (an input with ``|x[i]| == threshold`` is skipped).

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.kernels import sparse_gemv_reference
    >>> Wt = np.arange(6.0).reshape(3, 2)     # 3 inputs, 2 outputs
    >>> sparse_gemv_reference(Wt, np.array([1.0, 0.1, -2.0]), 0.5)
    array([-8., -9.])
    """
    t = np.asarray(threshold, dtype=x.dtype)
    x_kept = np.where(np.abs(x) > t, x, 0)
    return Wt.T @ x_kept


def cats_mlp_reference(gate: np.ndarray, up: np.ndarray, down_t: np.ndarray, x: np.ndarray,
                       threshold: float) -> np.ndarray:
    """The CATS MLP block written the way the paper's equations read (NumPy).

    ``h = silu(gate @ x)``, entries with ``|h| <= threshold`` set to zero, then
    ``down_t.T @ (h * (up @ x))``.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.kernels import cats_mlp_reference
    >>> gate = up = down_t = np.eye(2)
    >>> cats_mlp_reference(gate, up, down_t, np.array([2.0, -3.0]), 0.5).round(3)
    array([3.523, 0.   ])
    """
    t = np.asarray(threshold, dtype=x.dtype)
    g = gate @ x
    h = g / (1 + np.exp(-g))  # SiLU
    h = np.where(np.abs(h) > t, h, 0)
    return down_t.T @ (h * (up @ x))


# --------------------------------------------------------------------------------------------
# Kernels
# --------------------------------------------------------------------------------------------

@nb.njit(cache=True, nogil=True)
def compact_kernel(x, threshold, idx, val):  # pragma: no cover - compiled
    """Write the positions and values of ``|x| > threshold`` to idx/val; return their count."""
    k = 0
    for i in range(x.shape[0]):
        v = x[i]
        if abs(v) > threshold:
            idx[k] = i
            val[k] = v
            k += 1
    return k


@nb.njit(fastmath=False, inline="always", nogil=True)
def _axpy8(acc, a0, r0, a1, r1, a2, r2, a3, r3, a4, r4, a5, r5, a6, r6, a7, r7,
           w):  # pragma: no cover - compiled
    """acc[:w] += a0 * r0[:w] + ... + a7 * r7[:w]: one pass over acc for eight rows."""
    for j in range(w):
        acc[j] += (((a0 * r0[j] + a1 * r1[j]) + (a2 * r2[j] + a3 * r3[j]))
                   + ((a4 * r4[j] + a5 * r5[j]) + (a6 * r6[j] + a7 * r7[j])))


@nb.njit(parallel=True, cache=True, nogil=True)
def gemv_kernel(Wt, idx, val, nnz, partial, y):  # pragma: no cover - compiled
    """y = sum_k val[k] * Wt[idx[k]] over the first nnz active rows; y is overwritten.

    Split-K: part ``p`` (one per thread) adds its share of the active rows, whole rows at a
    time, eight per pass, into its own accumulator ``partial[p]`` (in tiles of ``_TILE``
    columns for very wide outputs); the parts are summed into ``y`` at the end. ``partial``
    may be ``y[None, :]`` (a single part).
    """
    n_parts = partial.shape[0]
    n_out = Wt.shape[1]
    for p in nb.prange(n_parts):
        k0 = p * nnz // n_parts
        k1 = (p + 1) * nnz // n_parts
        k8 = k1 - (k1 - k0) % 8
        for j0 in range(0, n_out, _TILE):
            w = min(_TILE, n_out - j0)
            j1 = j0 + w
            acc = partial[p, j0:j1]
            for j in range(w):
                acc[j] = 0
            for k in range(k0, k8, 8):
                _axpy8(acc,
                       val[k], Wt[_u(idx[k]), j0:j1], val[k + 1], Wt[_u(idx[k + 1]), j0:j1],
                       val[k + 2], Wt[_u(idx[k + 2]), j0:j1], val[k + 3], Wt[_u(idx[k + 3]), j0:j1],
                       val[k + 4], Wt[_u(idx[k + 4]), j0:j1], val[k + 5], Wt[_u(idx[k + 5]), j0:j1],
                       val[k + 6], Wt[_u(idx[k + 6]), j0:j1], val[k + 7], Wt[_u(idx[k + 7]), j0:j1],
                       w)
            for k in range(k8, k1):
                axpy(acc, val[k], Wt[_u(idx[k]), j0:j1], 0, w)
    if n_parts > 1:
        for j in range(n_out):
            s = partial[0, j]
            for p in range(1, n_parts):
                s += partial[p, j]
            y[j] = s


@nb.njit(fastmath=_REASSOC, nogil=True)
def _dot(a, b):  # pragma: no cover - compiled
    """sum(a * b), reassociated so that LLVM vectorises it.

    Not ``inline="always"``: numba's own inlining would compile the loop with the *caller's*
    fastmath flags, and without ``reassoc`` the sum stays one scalar chain.
    """
    s = a.dtype.type(0)
    for j in range(a.shape[0]):
        s += a[j] * b[j]
    return s


@nb.njit(parallel=True, cache=True, nogil=True)
def cats_mlp_kernel(gate, up, down_t, x, threshold, partial):  # pragma: no cover - compiled
    """Fused CATS block; thread p writes its share of the output into partial[p].

    Nothing but the parallel loop: numba runs an array expression of a parallel function
    (``np.zeros``, ``.sum()``) as a parallel loop of its own, and each one wakes the sleeping
    thread pool. A count of the active neurons, allocated and summed here, took a call at
    ``d_model = 512``, ``d_ff = 1536`` from 183 to 332 us on a 2-core VM.
    """
    d_ff = gate.shape[0]
    n_threads = partial.shape[0]
    one = x.dtype.type(1)
    for p in nb.prange(n_threads):
        r0 = p * d_ff // n_threads
        r1 = (p + 1) * d_ff // n_threads
        acc = partial[p]
        w = acc.shape[0]
        for j in range(w):
            acc[j] = 0
        rows = np.empty(8, dtype=np.int64)
        coef = np.empty(8, dtype=x.dtype)
        q = 0
        for i in range(r0, r1):
            g = _dot(gate[i], x)
            h = g / (one + np.exp(-g))
            if abs(h) > threshold:
                rows[q] = i
                coef[q] = h * _dot(up[i], x)
                q += 1
                if q == 8:
                    _axpy8(acc, coef[0], down_t[_u(rows[0])], coef[1], down_t[_u(rows[1])],
                           coef[2], down_t[_u(rows[2])], coef[3], down_t[_u(rows[3])],
                           coef[4], down_t[_u(rows[4])], coef[5], down_t[_u(rows[5])],
                           coef[6], down_t[_u(rows[6])], coef[7], down_t[_u(rows[7])], w)
                    q = 0
        for k in range(q):
            axpy(acc, coef[k], down_t[_u(rows[k])], 0, w)


@nb.njit(cache=True, nogil=True)
def _sum_rows(partial, y):  # pragma: no cover - compiled
    """y = partial.sum(axis=0), without a temporary."""
    for j in range(y.shape[0]):
        y[j] = partial[0, j]
    for p in range(1, partial.shape[0]):
        for j in range(y.shape[0]):
            y[j] += partial[p, j]


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------

def _as_array(a, name: str) -> np.ndarray:
    """A NumPy view of ``a`` (torch CPU tensors are viewed without a copy); dtype checked."""
    if hasattr(a, "detach") and hasattr(a, "numpy"):  # torch tensor
        if a.device.type != "cpu":
            raise ValueError(f"{name} must be on the CPU, got a tensor on {a.device}")
        a = a.detach().numpy()
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array (or torch CPU tensor), got "
                        f"{type(a).__name__}")
    if a.dtype.kind == "c":
        raise TypeError(f"{name} must be real-valued float32 or float64, got complex {a.dtype}")
    if a.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name} must be float32 or float64, got dtype {a.dtype}; convert it "
                        f"with {name}.astype(np.float32)")
    return a


def _weight(a, name: str, hint: str) -> np.ndarray:
    a = _as_array(a, name)
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {a.shape}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (the kernel streams its rows), got strides "
                         f"{a.strides} for shape {a.shape}; {hint}")
    return a


def _vector(x, n: int, dtype: np.dtype, name: str, what: str) -> np.ndarray:
    x = _as_array(x, name)
    if x.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {x.shape}")
    if x.dtype != dtype:
        raise TypeError(f"{name} has dtype {x.dtype} but the weights are {dtype}: cast one of "
                        "them so that all share a dtype (float32 or float64)")
    if x.shape[0] != n:
        raise ValueError(f"{name} must have length {n} ({what}), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return np.ascontiguousarray(x)


def _threshold(threshold, dtype: np.dtype) -> np.generic:
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise TypeError(f"threshold must be a real number, got {type(threshold).__name__} "
                        f"{threshold!r}")
    t = float(threshold)
    if math.isnan(t) or t < 0:
        raise ValueError(f"threshold must be >= 0 (|x| <= threshold is skipped), got {t}")
    return dtype.type(t)


def _n_threads(work: int) -> int:
    return max(1, min(nb.get_num_threads(), work))


# --------------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------------

def input_major(W) -> np.ndarray:
    """The input-major copy ``Wt`` (C-contiguous, shape ``(in, out)``) of a weight ``W`` (out, in).

    ``torch.nn.Linear`` stores its weight as ``(out_features, in_features)``: the weights of one
    *input* are a strided column. :func:`sparse_gemv` needs them as contiguous rows, so that a
    skipped input is a skipped block of memory. Convert once, when the model is loaded.

    Parameters
    ----------
    W : ndarray or torch CPU tensor, shape (out_features, in_features), float32 or float64

    Returns
    -------
    ndarray, shape (in_features, out_features), C-contiguous, same dtype

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.kernels import input_major
    >>> input_major(np.arange(6.0).reshape(2, 3))
    array([[0., 3.],
           [1., 4.],
           [2., 5.]])
    """
    W = _as_array(W, "W")
    if W.ndim != 2:
        raise ValueError(f"W must be 2-D (out_features, in_features), got shape {W.shape}")
    return np.ascontiguousarray(W.T)


def sparse_gemv(Wt, x, threshold: float) -> np.ndarray:
    """``Wt.T @ where(|x| > threshold, x, 0)``, reading only the rows of ``Wt`` of active inputs.

    A GEMV is limited by the bytes of weights it reads. With the weight stored input-major, the
    weights of input ``i`` are the contiguous row ``Wt[i]``; inputs with ``|x[i]| <= threshold``
    are skipped, and so are their rows: at input sparsity ``s`` the kernel reads a fraction
    ``1 - s`` of the weights, which bounds its speed-up over a dense GEMV by ``1 / (1 - s)``.

    Parameters
    ----------
    Wt : ndarray or torch CPU tensor, shape (in_features, out_features)
        The weight, input-major and C-contiguous, float32 or float64 (make it from an
        ``nn.Linear`` weight with :func:`input_major`).
    x : ndarray or torch CPU tensor, shape (in_features,)
        The input, same dtype as ``Wt``, finite.
    threshold : float
        ``>= 0``. Inputs with ``|x[i]| <= threshold`` are treated as zero (compared in ``x``'s
        dtype); ``0`` skips exact zeros only.

    Returns
    -------
    ndarray, shape (out_features,), dtype of ``Wt``
        Accumulated in that dtype, in an order that differs from BLAS (agreement to rounding).

    Raises
    ------
    ValueError
        On a negative or NaN threshold, non-finite ``x``, mismatched shapes (passing the
        ``(out, in)`` weight instead of ``Wt`` usually lands here: convert it with
        :func:`input_major`), a non-contiguous ``Wt``, or NaN/infinity in a row of an active
        input.
    TypeError
        On integer, complex or mixed dtypes.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.kernels import sparse_gemv
    >>> Wt = np.arange(6.0).reshape(3, 2)     # 3 inputs, 2 outputs
    >>> sparse_gemv(Wt, np.array([1.0, 0.1, -2.0]), threshold=0.5)   # input 1 is skipped
    array([-8., -9.])
    """
    hint = "convert an (out, in) weight once with Wt = input_major(W)"
    Wt = _weight(Wt, "Wt", hint)
    n_in, n_out = Wt.shape
    x = _as_array(np.asarray(x) if isinstance(x, list | tuple) else x, "x")
    if x.ndim == 1 and x.shape[0] != n_in:
        turned = " (it matches Wt.shape[1]: was the (out, in) weight passed?)" if (
            x.shape[0] == n_out) else ""
        raise ValueError(f"x has length {x.shape[0]} but Wt has {n_in} rows{turned}; Wt must be "
                         f"input-major, shape (in_features, out_features): {hint}")
    x = _vector(x, n_in, Wt.dtype, "x", "Wt.shape[0], the number of inputs")
    t = _threshold(threshold, Wt.dtype)
    idx = np.empty(n_in, dtype=np.int64)
    val = np.empty(n_in, dtype=Wt.dtype)
    nnz = compact_kernel(x, t, idx, val)
    y = np.empty(n_out, dtype=Wt.dtype)
    if n_out == 0:
        return y
    if nnz == 0:
        y[:] = 0
        return y
    n_parts = _n_threads(nnz // 8 + 1)  # a part per thread, at least 8 rows each
    partial = y[None, :] if n_parts == 1 else np.empty((n_parts, n_out), dtype=Wt.dtype)
    gemv_kernel(Wt, idx, val, nnz, partial, y)
    if not np.isfinite(y).all():
        _blame(Wt[idx[:nnz]], "Wt", "sparse_gemv")
    return y


def cats_mlp(gate, up, down_t, x, threshold: float) -> np.ndarray:
    """The CATS MLP block: ``down_t.T @ (h * (up @ x))`` with ``h = silu(gate @ x)`` thresholded.

    CATS (Lee et al., 2024) keeps a SwiGLU MLP's neuron ``i`` only where
    ``|silu(gate[i] @ x)| > threshold``. The gate product stays dense (it decides which neurons
    survive), but a skipped neuron skips its row of ``up`` and its row of ``down_t``: at neuron
    sparsity ``s`` the block reads ``1 + 2 (1 - s)`` matrices' worth of weights instead of 3, a
    speed-up bound of ``3 / (3 - 2 s)`` (1.5x at 50%). The kernel fuses everything into one pass
    over the three matrices (see the module notes).

    Parameters
    ----------
    gate, up : ndarray or torch CPU tensor, shape (d_ff, d_model)
        ``gate_proj.weight`` and ``up_proj.weight`` as ``nn.Linear`` stores them, C-contiguous.
    down_t : ndarray or torch CPU tensor, shape (d_ff, d_model)
        ``down_proj.weight`` (shape ``(d_model, d_ff)``) made input-major:
        ``input_major(down_proj.weight)``.
    x : ndarray or torch CPU tensor, shape (d_model,)
        The MLP's input (after the RMSNorm), finite, same dtype as the weights.
    threshold : float
        ``>= 0``; neurons with ``|silu(gate @ x)| <= threshold`` are skipped.

    Returns
    -------
    ndarray, shape (d_model,), dtype of the weights

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.kernels import cats_mlp, cats_mlp_reference
    >>> rng = np.random.default_rng(0)
    >>> gate, up, down_t = rng.standard_normal((3, 16, 8))
    >>> x = rng.standard_normal(8)
    >>> np.allclose(cats_mlp(gate, up, down_t, x, 0.3),
    ...             cats_mlp_reference(gate, up, down_t, x, 0.3))
    True
    """
    gate = _weight(gate, "gate", "pass gate_proj.weight as stored, shape (d_ff, d_model)")
    d_ff, d_model = gate.shape
    up = _weight(up, "up", "pass up_proj.weight as stored, shape (d_ff, d_model)")
    down_t = _weight(down_t, "down_t", "make it with down_t = input_major(down_proj.weight)")
    for name, w in (("up", up), ("down_t", down_t)):
        if w.dtype != gate.dtype:
            raise TypeError(f"{name} has dtype {w.dtype} but gate has {gate.dtype}: all weights "
                            "must share one dtype")
    if up.shape != (d_ff, d_model):
        raise ValueError(f"up must have gate's shape {(d_ff, d_model)} (d_ff, d_model), got "
                         f"{up.shape}")
    if down_t.shape != (d_ff, d_model):
        extra = ""
        if down_t.shape == (d_model, d_ff):
            extra = (" -- it looks like down_proj.weight (d_model, d_ff) was passed; convert it "
                     "with down_t = input_major(down_proj.weight)")
        raise ValueError(f"down_t must be input-major with shape {(d_ff, d_model)} "
                         f"(d_ff, d_model), got {down_t.shape}{extra}")
    x = _as_array(np.asarray(x) if isinstance(x, list | tuple) else x, "x")
    x = _vector(x, d_model, gate.dtype, "x", "gate.shape[1], d_model")
    t = _threshold(threshold, gate.dtype)
    y = np.empty(d_model, dtype=gate.dtype)
    if d_model == 0 or d_ff == 0:
        y[:] = 0
        return y
    n_threads = _n_threads(d_ff // 16 + 1)
    partial = np.empty((n_threads, d_model), dtype=gate.dtype)
    cats_mlp_kernel(gate, up, down_t, x, t, partial)
    _sum_rows(partial, y)
    if not np.isfinite(y).all():
        for name, w in (("gate", gate), ("up", up), ("down_t", down_t)):
            if not np.isfinite(w).all():
                raise ValueError(f"{name} contains NaN or infinity")
        warnings.warn("cats_mlp: the result overflowed to infinity or NaN although the inputs "
                      "are finite; use float64", RuntimeWarning, stacklevel=2)
    return y


def _blame(rows: np.ndarray, name: str, fn: str) -> None:
    """Raise naming ``name`` if the active rows hold NaN/inf, else warn of an overflow."""
    if not np.isfinite(rows).all():
        raise ValueError(f"{name} contains NaN or infinity in a row of an active input")
    warnings.warn(f"{fn}: the result overflowed to infinity or NaN although the inputs are "
                  "finite; use float64", RuntimeWarning, stacklevel=3)
