"""Seeding, timing and the machine's memory bandwidth.

Every speed claim in the book is a *ratio measured side by side in one process*: two callables on
the same input, after warm-up (so JIT compilation is excluded), median of repeats. Memory-bound
kernels are also compared with the machine's copy bandwidth, the physical limit they cannot beat.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numba as nb
import numpy as np

from ._validation import check_int

__all__ = [
    "set_seed",
    "Timing",
    "benchmark",
    "compare",
    "memory_bandwidth",
]


def set_seed(seed: int) -> None:
    """Seed Python's, NumPy's legacy and PyTorch's global random generators.

    Library functions in :mod:`sparsecourse` take an explicit ``seed`` instead of relying on global
    state; this helper is for the reader's own notebook code.

    Parameters
    ----------
    seed : int
        A non-negative integer.

    Examples
    --------
    >>> from sparsecourse.utils import set_seed
    >>> set_seed(0)
    >>> import numpy as np; a = np.random.rand(); set_seed(0); a == np.random.rand()
    True
    """
    seed = check_int(seed, "seed", minimum=0, maximum=2**32 - 1)
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - seeding the legacy global generator on purpose
    os.environ["PYTHONHASHSEED"] = str(seed)
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency, but stay importable
        return
    torch.manual_seed(seed)


@dataclass
class Timing:
    """Result of :func:`benchmark`: all repeat times in seconds and their median.

    Attributes
    ----------
    times : list of float
        Wall-clock seconds of each timed repeat (warm-up runs excluded).
    label : str
        A name for tables and plots.
    """

    times: list[float] = field(default_factory=list)
    label: str = ""

    @property
    def median(self) -> float:
        """Median of the repeat times, in seconds."""
        return float(np.median(self.times))

    @property
    def spread(self) -> float:
        """Interquartile range of the repeat times, in seconds."""
        q1, q3 = np.percentile(self.times, [25, 75])
        return float(q3 - q1)

    def __repr__(self) -> str:
        return f"Timing({self.label!r}, median={self.median * 1e3:.3f} ms, n={len(self.times)})"


def _sync(result) -> None:
    """Wait for asynchronous (CUDA) work so that the timer sees it finish."""
    if hasattr(result, "is_cuda") and getattr(result, "is_cuda", False):  # torch tensor on GPU
        import torch

        torch.cuda.synchronize()


def benchmark(
    fn: Callable,
    *args,
    warmup: int = 2,
    repeat: int = 7,
    inputs: Sequence[tuple] | None = None,
    label: str = "",
    **kwargs,
) -> Timing:
    """Time ``fn(*args, **kwargs)``: ``warmup`` untimed calls, then ``repeat`` timed calls.

    Parameters
    ----------
    fn : callable
        The function to time.
    *args, **kwargs
        Passed to ``fn`` on every call (ignored for the arguments when ``inputs`` is given).
    warmup : int, default 2
        Untimed calls first: numba/Triton compile and caches warm here.
    repeat : int, default 7
        Timed calls; report :attr:`Timing.median`.
    inputs : sequence of tuples, optional
        Argument tuples to *rotate* through, one per call. Give several copies of an input whose
        total size exceeds the last-level cache so that repeats measure memory, not the cache.
    label : str
        Name stored in the result.

    Returns
    -------
    Timing

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.utils import benchmark
    >>> t = benchmark(np.sort, np.arange(1000)[::-1], repeat=3)
    >>> len(t.times), t.median > 0
    (3, True)
    """
    warmup = check_int(warmup, "warmup", minimum=0)
    repeat = check_int(repeat, "repeat", minimum=1)
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    if inputs is not None:
        inputs = list(inputs)
        if not inputs:
            raise ValueError("inputs must hold at least one argument tuple")
    else:
        inputs = [args]
    n_in = len(inputs)
    for i in range(warmup):
        _sync(fn(*inputs[i % n_in], **kwargs))
    times = []
    for i in range(repeat):
        a = inputs[(warmup + i) % n_in]
        t0 = time.perf_counter()
        _sync(fn(*a, **kwargs))
        times.append(time.perf_counter() - t0)
    return Timing(times=times, label=label or getattr(fn, "__name__", "fn"))


def compare(
    fn: Callable,
    baseline: Callable,
    *args,
    warmup: int = 2,
    repeat: int = 7,
    inputs: Sequence[tuple] | None = None,
    **kwargs,
) -> dict:
    """Time two callables side by side on the same input and return the speed-up of ``fn``.

    The two are *interleaved* (one call of each per repeat) so that a change in machine load
    affects both alike.

    Returns
    -------
    dict
        ``{"fn": Timing, "baseline": Timing, "speedup": baseline_median / fn_median}``; a
        speed-up above 1 means ``fn`` is faster.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.utils import compare
    >>> x = np.random.default_rng(0).random(10_000)
    >>> r = compare(np.sum, lambda v: sum(v.tolist()), x, repeat=3)
    >>> r["speedup"] > 1
    True
    """
    warmup = check_int(warmup, "warmup", minimum=0)
    repeat = check_int(repeat, "repeat", minimum=1)
    for f, nm in ((fn, "fn"), (baseline, "baseline")):
        if not callable(f):
            raise TypeError(f"{nm} must be callable, got {type(f).__name__}")
    inputs = list(inputs) if inputs is not None else [args]
    if not inputs:
        raise ValueError("inputs must hold at least one argument tuple")
    n_in = len(inputs)
    for i in range(warmup):
        _sync(fn(*inputs[i % n_in], **kwargs))
        _sync(baseline(*inputs[i % n_in], **kwargs))
    ta, tb = [], []
    for i in range(repeat):
        a = inputs[(warmup + i) % n_in]
        t0 = time.perf_counter()
        _sync(fn(*a, **kwargs))
        t1 = time.perf_counter()
        _sync(baseline(*a, **kwargs))
        t2 = time.perf_counter()
        ta.append(t1 - t0)
        tb.append(t2 - t1)
    a_t = Timing(ta, getattr(fn, "__name__", "fn"))
    b_t = Timing(tb, getattr(baseline, "__name__", "baseline"))
    return {"fn": a_t, "baseline": b_t, "speedup": b_t.median / a_t.median}


def memory_bandwidth(size_mb: float = 256.0, repeat: int = 5, *, kind: str = "copy") -> float:
    """Measure the machine's memory bandwidth in GB/s (10^9 bytes per second).

    Two measurements, because kernels differ in what they do with memory:

    - ``kind="copy"``: copy a ``size_mb`` buffer into another with :func:`numpy.copyto` (the C
      library's ``memcpy``, one core, streaming stores on large buffers) and count the bytes read
      plus the bytes written (2 x size), like STREAM's *copy*.
    - ``kind="read"``: sum a ``size_mb`` float32 buffer on all cores (a numba ``prange``
      reduction) and count the bytes read. This is the ceiling of kernels that mostly *read*, such
      as a matrix-vector product, which only reads its matrix.

    The buffer should be several times the last-level cache (typically 8-64 MB) so that memory,
    not cache, is measured. The best of ``repeat`` runs is returned: it is the closest to what the
    hardware can do.

    Parameters
    ----------
    size_mb : float, default 256
        Size of each buffer in MB (10^6 bytes); at least 1.
    repeat : int, default 5
        Timed runs.
    kind : {"copy", "read"}, default "copy"

    Returns
    -------
    float
        Bandwidth in GB/s.

    Examples
    --------
    >>> from sparsecourse.utils import memory_bandwidth
    >>> memory_bandwidth(size_mb=8, repeat=2) > 0
    True
    >>> memory_bandwidth(size_mb=8, repeat=2, kind="read") > 0
    True
    """
    if not np.isfinite(size_mb) or size_mb < 1:
        raise ValueError(f"size_mb must be a number >= 1, got {size_mb}")
    repeat = check_int(repeat, "repeat", minimum=1)
    if kind == "copy":
        src = np.ones(int(size_mb * 1e6) // 8, dtype=np.float64)
        dst = np.empty_like(src)

        def run():
            np.copyto(dst, src)

        nbytes = 2 * src.nbytes
    elif kind == "read":
        src = np.ones(int(size_mb * 1e6) // 4, dtype=np.float32)

        def run():
            stream_read(src)

        nbytes = src.nbytes
    else:
        raise ValueError(f"kind must be 'copy' or 'read', got {kind!r}")
    run()  # compile, and touch the pages once
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t0)
    return nbytes / best / 1e9


@nb.njit(parallel=True, cache=True, fastmath=True, nogil=True)
def stream_read(a):  # pragma: no cover - compiled
    """Sum an array on all cores: reads every byte once and writes nothing (a read-bandwidth probe).

    ``fastmath`` lets the compiler vectorise the reduction; the sum itself is not used.
    """
    s = a.dtype.type(0)
    for i in nb.prange(a.size):
        s += a[i]
    return s
