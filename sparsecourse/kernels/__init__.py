"""Fast kernels: numba on the CPU, Triton on the GPU.

The numba kernels are always available. Triton kernels are optional: they import lazily, so
``import sparsecourse`` works without triton and without a GPU. On a machine without a GPU the
Triton kernels still run (slowly) under the interpreter, ``TRITON_INTERPRET=1``, which is how their
correctness is tested.

Dtypes. The CSR kernels compute in float32 when the matrix values *and* the dense operand are
float32, and in float64 otherwise: integer inputs are converted to float64, float32 mixed with
float64 is promoted to float64 (like NumPy's promotion rules). Complex, boolean or object input
raises :class:`TypeError`. Other sparse formats (COO, CSC, ...) raise :class:`TypeError`: call
``A.tocsr()`` first.
"""

from __future__ import annotations

import functools
import time
import warnings

import numpy as np
import scipy.sparse as sp
from numba import get_num_threads

from .._validation import as_csr, as_float_array, result_float_dtype
from ._numba_csr import (  # noqa: F401
    axpy,
    axpy4,
    spmm_checked,
    spmm_checked_serial,
    spmm_kernel,
    spmm_kernel_serial,
    spmv_checked,
    spmv_checked_serial,
    spmv_kernel,
    spmv_kernel_long,
    spmv_kernel_long_serial,
    spmv_kernel_serial,
    spmv_long_checked,
    spmv_long_checked_serial,
)

# Sparse GEMV for activation sparsity (chapter 5): input-major weights, skipped inputs skip rows.
from ._numba_gemv import (  # noqa: E402, F401
    cats_mlp,
    cats_mlp_reference,
    compact_kernel,
    gemv_kernel,
    input_major,
    sparse_gemv,
    sparse_gemv_reference,
)

# N:M structured sparsity (chapter 7): masks, the 2:4 compressed format, GEMV/GEMM kernels.
from .nm import (  # noqa: E402, F401
    NMPacked,
    is_nm_sparse,
    nm_gemm,
    nm_gemv,
    nm_gemv_reference,
    nm_mask,
    nm_pack,
    nm_unpack,
)

# The compiled loops ``spmv_kernel``, ``spmm_kernel`` (with an optional bias),
# ``spmm_kernel_serial``, the inner loops ``axpy``/``axpy4`` and the GEMV loops ``compact_kernel``
# and ``gemv_kernel`` are public too, for the other
# chapters' kernels and the benchmarks; they are numba dispatchers, so they stay out of __all__
# (and of the API page, which documents functions).
__all__ = ["csr_spmv", "csr_spmm", "triton_available", "triton_csr_spmv",
           "input_major", "sparse_gemv", "sparse_gemv_reference", "cats_mlp",
           "cats_mlp_reference", "triton_sparse_gemv", "triton_cats_mlp",
           "NMPacked", "nm_mask", "is_nm_sparse", "nm_pack", "nm_unpack", "nm_gemv",
           "nm_gemm", "nm_gemv_reference"]


def csr_spmv(A, x, *, out: np.ndarray | None = None, check_finite: bool = True) -> np.ndarray:
    """Sparse matrix-vector product ``y = A @ x`` with a parallel numba kernel.

    Parameters
    ----------
    A : scipy.sparse.csr_array or scipy.sparse.csr_matrix, shape (m, n)
        The sparse matrix. Unsorted or duplicate column indices are fine (duplicates add up, as in
        scipy).
    x : array_like, shape (n,)
        Dense vector.
    out : ndarray, shape (m,), optional
        Preallocated output of the result dtype (avoids an allocation in a loop).
    check_finite : bool, default True
        Raise :class:`ValueError` if ``x`` or the stored values of ``A`` contain NaN or infinity.
        The check is nearly free: the kernel checks every entry of ``x`` and of the result in
        the same pass as the product (no temporary arrays), and ``A``'s stored values are
        checked only if the result is not finite (every stored value reaches some output
        entry, and NaN or infinity propagates). A non-finite result from finite input
        (overflow) gives a :class:`RuntimeWarning`. ``False`` skips all of this.

    Returns
    -------
    ndarray, shape (m,)
        float32 if ``A`` and ``x`` are both float32, float64 otherwise.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from sparsecourse.kernels import csr_spmv
    >>> A = sp.csr_array(np.array([[1.0, 0, 2], [0, 0, 0], [0, 3, 0]]))
    >>> csr_spmv(A, np.array([1.0, 1.0, 1.0]))
    array([3., 0., 3.])
    """
    if _ready(A, x, 1):  # already CSR and a contiguous vector of the same float dtype
        dtype = x.dtype
    else:
        A, x, dtype = _operands(A, x, "x")
    m = A.shape[0]
    if out is None:
        out = np.empty(m, dtype=dtype)
    elif not (isinstance(out, np.ndarray) and out.shape == (m,) and out.dtype == dtype
              and out.flags.c_contiguous):
        raise ValueError(f"out must be a C-contiguous {dtype} array of shape ({m},)")
    nnz = A.data.shape[0]
    serial = nnz + m < _serial_work()
    long_rows = nnz >= _LONG_ROWS * m  # vectorised with gathers (see _numba_csr)
    if check_finite:
        if long_rows:
            kernel = spmv_long_checked_serial if serial else spmv_long_checked
        else:
            kernel = spmv_checked_serial if serial else spmv_checked
        if kernel(A.indptr, A.indices, A.data, x, out) != 0.0:
            _name_culprit(A, x, "x", "csr_spmv")
    elif m:
        if long_rows:
            kernel = spmv_kernel_long_serial if serial else spmv_kernel_long
        else:
            kernel = spmv_kernel_serial if serial else spmv_kernel
        kernel(A.indptr, A.indices, A.data, x, out)
    return out


#: Below this much work (stored values plus rows, times the width for SpMM), the products run
#: on one thread: waking the thread pool costs more than it saves (benchmarks/spmv.py,
#: "per-call overhead"). This is the least; :func:`_serial_work` raises it where waking the
#: pool is slow.
_SERIAL_WORK = 32_768
_SERIAL_WORK_MAX = 1 << 20


def _serial_work() -> int:
    """:func:`_serial_work_for` numba's current thread count (measured once per count)."""
    return _serial_work_for(get_num_threads())


@functools.lru_cache(maxsize=8)
def _serial_work_for(threads: int) -> int:
    """The work below which a product runs on one thread, from the pool's measured wake-up.

    With ``P`` threads a product of work ``W`` takes ``c W`` on one thread and ``t_wake +
    c W / P`` on all, so one thread is faster below ``W = t_wake / (c (1 - 1 / P))``. The
    serial kernel's cost per unit of work is about ``c = 0.5`` ns at 40 or more stored values
    per row (an Intel Xeon VM, SpMV of an 8192 x 8192 matrix); short rows cost more per unit,
    and SpMM less, which only moves their true crossover further up. ``t_wake``, measured
    here as the median of 9 calls of the parallel kernel on a 1 x 1 matrix, is about 75 us on
    that VM, where the threads sleep between calls (``OMP_WAIT_POLICY=PASSIVE``): there one
    thread stayed faster up to about 300,000 units (float32 SpMV 231 against 233 us at
    density 0.005, 136 against 149 us at 0.001). The result is kept within
    [``_SERIAL_WORK``, ``_SERIAL_WORK_MAX``].
    """
    if threads < 2:
        return _SERIAL_WORK
    one = np.ones(1)
    indptr, indices = np.array([0, 1], dtype=np.int32), np.zeros(1, dtype=np.int32)
    out = np.empty(1)
    spmv_checked(indptr, indices, one, one, out)  # compiled, threads started
    times = []
    for _ in range(9):
        t0 = time.perf_counter()
        spmv_checked(indptr, indices, one, one, out)
        times.append(time.perf_counter() - t0)
    wake_ns = 1e9 * float(np.median(times))
    work = wake_ns / (0.5 * (1 - 1 / threads))
    return int(min(max(_SERIAL_WORK, work), _SERIAL_WORK_MAX))


def _cpu_vendor() -> str:
    """``vendor_id`` of the first processor in /proc/cpuinfo ("" where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("vendor_id"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


#: From this many stored values per row on, csr_spmv sums each row with gathers
#: (spmv_kernel_long / spmv_long_checked) instead of four scalar chains. Measured side by side
#: on 8192 x 8192 matrices: an Intel Xeon's gathers win from about 16 per row, an AMD EPYC's
#: only from about 256 (see _numba_csr); other processors keep the AMD value.
_LONG_ROWS = 16 if _cpu_vendor() == "GenuineIntel" else 256
_CSR_TYPES = (sp.csr_array, sp.csr_matrix)
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _ready(A, B, ndim: int) -> bool:
    """Whether the operands can go to the kernel as they are (the common case, checked cheaply).

    ``A`` a scipy CSR array/matrix (exact type, 2-D), ``B`` a C-contiguous ndarray of ``ndim``
    dimensions whose dtype is ``A``'s, float32 or float64, with matching inner dimension.
    Anything else takes the general path (:func:`_operands`), which converts or raises.
    """
    return (type(A) in _CSR_TYPES and type(B) is np.ndarray and B.ndim == ndim
            and B.dtype in _FLOATS and A.data.dtype == B.dtype and A.ndim == 2
            and B.shape[0] == A.shape[1] and B.flags.c_contiguous)


def _name_culprit(A, B, name: str, fn: str) -> None:
    """The fused check saw a non-finite value: raise naming the input, or warn on overflow."""
    if not np.isfinite(B).all():
        raise ValueError(f"{name} contains NaN or infinity")
    as_csr(A, "A", dtype=A.dtype, check_finite=True)  # raises ValueError naming A
    warnings.warn(f"{fn}: the result overflowed to infinity or NaN although A and the dense "
                  "operand are finite; use float64 input", RuntimeWarning, stacklevel=3)


def _operands(A, B, name: str):
    """``A`` in CSR and the dense operand ``B`` (``x`` or ``X``), both in the result dtype.

    Finiteness is not checked here: the kernels check it in the same pass as the product.
    """
    A = as_csr(A, "A", check_finite=False)
    B = as_float_array(B, name, ndim=1 if name == "x" else 2, check_finite=False)
    k = A.shape[1]
    if B.shape[0] != k:
        need = f"length A.shape[1] = {k}" if B.ndim == 1 else f"A.shape[1] = {k} rows"
        raise ValueError(f"{name} must have {need}, got shape {B.shape}")
    dtype = result_float_dtype(A.dtype, B.dtype, name=f"A and {name}")
    A = as_csr(A, "A", dtype=dtype, check_finite=False)
    return A, as_float_array(B, name, dtype=dtype, check_finite=False), dtype


def csr_spmm(A, X, bias=None, *, out: np.ndarray | None = None,
             check_finite: bool = True) -> np.ndarray:
    """Sparse matrix times dense matrix ``Y = A @ X (+ bias[:, None])``, a parallel numba kernel.

    Parameters
    ----------
    A : scipy.sparse.csr_array or scipy.sparse.csr_matrix, shape (m, k)
    X : array_like, shape (k, n)
        Dense matrix; copied to C order if it is not (the kernel streams its rows).
    bias : array_like, shape (m,), optional
        Added to every column of the product (row ``i`` of ``Y`` starts at ``bias[i]``).
    out : ndarray, shape (m, n), optional
        Preallocated C-contiguous output of the result dtype.
    check_finite : bool, default True
        Raise :class:`ValueError` on NaN or infinity in ``X``, ``bias`` or ``A``'s stored values
        (checked as in :func:`csr_spmv`: ``X`` and the result in the kernel's pass, ``A`` only
        if the result is not finite).

    Returns
    -------
    ndarray, shape (m, n)

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from sparsecourse.kernels import csr_spmm
    >>> A = sp.csr_array(np.array([[1.0, 0], [0, 2.0]]))
    >>> csr_spmm(A, np.ones((2, 3)))
    array([[1., 1., 1.],
           [2., 2., 2.]])
    >>> csr_spmm(A, np.ones((2, 1)), bias=np.array([10.0, 20.0]))
    array([[11.],
           [22.]])
    """
    if _ready(A, X, 2):
        dtype = X.dtype
    else:
        A, X, dtype = _operands(A, X, "X")
    m = A.shape[0]
    if bias is None:
        b = _NO_BIAS[dtype]
    else:
        b = as_float_array(bias, "bias", ndim=1, dtype=dtype, check_finite=check_finite)
        if b.shape != (m,):
            raise ValueError(f"bias must have shape ({m},), got {b.shape}")
    shape = (m, X.shape[1])
    if out is None:
        out = np.empty(shape, dtype=dtype)
    elif not (isinstance(out, np.ndarray) and out.shape == shape and out.dtype == dtype
              and out.flags.c_contiguous):
        raise ValueError(f"out must be a C-contiguous {dtype} array of shape {shape}")
    if check_finite:
        serial = (A.data.shape[0] + m) * max(shape[1], 1) < _serial_work()
        kernel = spmm_checked_serial if serial else spmm_checked
        if kernel(A.indptr, A.indices, A.data, X, b, out) != 0.0:
            _name_culprit(A, X, "X", "csr_spmm")
    elif m and shape[1]:
        serial = (A.data.shape[0] + m) * shape[1] < _serial_work()
        (spmm_kernel_serial if serial else spmm_kernel)(A.indptr, A.indices, A.data, X, b, out)
    elif m:
        out[:] = b[:, None] if b.size else 0
    return out


_NO_BIAS = {dt: np.empty(0, dtype=dt) for dt in _FLOATS}


def triton_available(*, require_gpu: bool = False) -> bool:
    """Whether the Triton kernels can run here.

    True when triton imports and either a CUDA GPU is visible or the interpreter is switched on
    with the environment variable ``TRITON_INTERPRET=1`` (CPU, slow, for testing).

    Parameters
    ----------
    require_gpu : bool, default False
        Only return True when a GPU is present (for timings, which mean nothing in the
        interpreter).

    Examples
    --------
    >>> from sparsecourse.kernels import triton_available
    >>> isinstance(triton_available(), bool)
    True
    """
    import importlib.util
    import os

    if importlib.util.find_spec("triton") is None:
        return False
    try:
        import torch
    except ImportError:  # pragma: no cover
        return False
    gpu = torch.cuda.is_available()
    if require_gpu:
        return gpu
    return gpu or os.environ.get("TRITON_INTERPRET", "0") == "1"


def triton_csr_spmv(A, x, **kwargs):
    """CSR SpMV as a Triton kernel; see :func:`sparsecourse.kernels.triton_csr.csr_spmv`.

    Imported lazily so that this module does not need triton. Needs a CUDA GPU, or
    ``TRITON_INTERPRET=1`` set before triton is first imported (CPU, slow: for testing).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from sparsecourse.kernels import triton_available, triton_csr_spmv
    >>> A, x = sp.csr_array(np.eye(3, dtype=np.float32)), np.arange(3.0)
    >>> if triton_available():
    ...     assert triton_csr_spmv(A, x).tolist() == [0.0, 1.0, 2.0]
    """
    try:
        from .triton_csr import csr_spmv as _spmv
    except ModuleNotFoundError as err:
        raise _missing_triton(err, "triton_csr_spmv") from err

    return _spmv(A, x, **kwargs)


def triton_sparse_gemv(Wt, x, threshold, **kwargs):
    """Split-K Triton sparse GEMV; see :func:`sparsecourse.kernels.triton_gemv.sparse_gemv`.

    Imported lazily (this module does not need triton). Needs a CUDA GPU, or
    ``TRITON_INTERPRET=1`` set before triton is first imported (CPU, slow: for testing).

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.kernels import triton_available, triton_sparse_gemv
    >>> Wt, x = np.eye(3, dtype=np.float32), np.array([1.0, 0.1, -2.0], np.float32)
    >>> if triton_available():
    ...     assert triton_sparse_gemv(Wt, x, 0.5).tolist() == [1.0, 0.0, -2.0]
    """
    try:
        from .triton_gemv import sparse_gemv as _gemv
    except ModuleNotFoundError as err:
        raise _missing_triton(err, "triton_sparse_gemv") from err

    return _gemv(Wt, x, threshold, **kwargs)


def triton_cats_mlp(gate, up, down_t, x, threshold, **kwargs):
    """The CATS MLP block in Triton; see :func:`sparsecourse.kernels.triton_gemv.cats_mlp`.

    Imported lazily, like :func:`triton_sparse_gemv`.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.kernels import triton_available, triton_cats_mlp
    >>> gate = up = down_t = np.eye(2, dtype=np.float32)
    >>> if triton_available():
    ...     y = triton_cats_mlp(gate, up, down_t, np.array([2.0, -3.0], np.float32), 0.5)
    ...     assert abs(y[0].item() - 3.5232) < 1e-3 and y[1].item() == 0.0
    """
    try:
        from .triton_gemv import cats_mlp as _cats
    except ModuleNotFoundError as err:
        raise _missing_triton(err, "triton_cats_mlp") from err

    return _cats(gate, up, down_t, x, threshold, **kwargs)


def _missing_triton(err: ModuleNotFoundError, what: str) -> Exception:
    """The error to raise when a Triton entry point is called without triton installed."""
    if err.name != "triton":
        return err
    return ImportError(
        f"{what} needs the optional dependency triton, which is not installed: "
        "pip install 'sparsecourse[gpu]' (Linux x86_64; runs on a CUDA GPU, or on the CPU "
        "with TRITON_INTERPRET=1 for testing). Everything else in sparsecourse works without it."
    )
