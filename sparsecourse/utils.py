"""Seeding, timing and the machine's memory bandwidth: the one timing module of the book.

Every speed claim in the book is a *ratio measured side by side in one process*: callables on
the same input, after warm-up (so JIT compilation is excluded), median of repeats. The parts:

* :func:`benchmark` -- one callable: warm-up, then repeats (a fixed number, or as many as fit in
  a time budget), rotating through copies of its input;
* :func:`interleaved` and :func:`compare` -- several callables timed in *rounds*, one block of
  calls of each per round in a rotating order, so that a change of machine load hits them alike;
* :func:`rotation` and :func:`rotation_copies` -- enough copies of an input that a repeat does not
  find the previous repeat's data in the last-level cache (:func:`llc_bytes`);
* :func:`memory_bandwidth` -- the ceiling of memory-bound kernels (``stream_read`` is its
  read probe), and :func:`crossover_density`, where a sparse kernel starts to beat a dense one.

The scripts in ``benchmarks/`` and the notebooks time with these functions and nothing else.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numba as nb
import numpy as np

from ._validation import check_int

__all__ = [
    "set_seed",
    "Timing",
    "benchmark",
    "interleaved",
    "compare",
    "llc_bytes",
    "rotation_copies",
    "rotation",
    "memory_bandwidth",
    "crossover_density",
]
# ``stream_read`` (the read-bandwidth probe) is a numba dispatcher: public, but not in __all__.


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
    result : object
        What the last timed call returned (to check it, or to report an objective beside the
        time).
    block : int
        Calls per block (see :func:`interleaved`): ``times`` holds consecutive blocks.
    """

    times: list[float] = field(default_factory=list)
    label: str = ""
    result: object = field(default=None, repr=False, compare=False)
    block: int = 1

    @property
    def median(self) -> float:
        """Median of the repeat times, in seconds."""
        return float(np.median(self.times))

    @property
    def spread(self) -> float:
        """Interquartile range of the repeat times, in seconds."""
        q1, q3 = np.percentile(self.times, [25, 75])
        return float(q3 - q1)

    @property
    def best_block(self) -> float:
        """The smallest of the block medians, in seconds (the quietest moment of the run).

        With one call per block this is the fastest call.
        """
        b = max(1, self.block)
        return float(min(np.median(self.times[i:i + b]) for i in range(0, len(self.times), b)))

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
    budget_s: float | None = None,
    max_repeat: int = 50,
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
        Timed calls; report :attr:`Timing.median`. With ``budget_s``, the least number of them.
    inputs : sequence of tuples, optional
        Argument tuples to *rotate* through, one per call (see :func:`rotation`). Give several
        copies of an input whose total size exceeds the last-level cache so that repeats measure
        memory, not the cache.
    label : str
        Name stored in the result.
    budget_s : float, optional
        Fit the number of timed calls to a time budget: one more untimed call measures a call,
        and as many calls as take about ``budget_s`` seconds are timed, between ``repeat`` and
        ``max_repeat``. The timed calls continue the rotation where the warm-up stopped.
    max_repeat : int, default 50
        Upper bound on the timed calls with ``budget_s``.

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
    >>> 3 <= len(benchmark(np.sort, np.arange(10), repeat=3, budget_s=1e-3).times) <= 50
    True
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
    result = None
    for i in range(warmup):
        result = fn(*inputs[i % n_in], **kwargs)
        _sync(result)
    start = warmup
    if budget_s is not None:
        max_repeat = check_int(max_repeat, "max_repeat", minimum=repeat)
        t0 = time.perf_counter()
        _sync(fn(*inputs[start % n_in], **kwargs))
        probe = time.perf_counter() - t0
        start += 1
        repeat = int(np.clip(budget_s / max(probe, 1e-9), repeat, max_repeat))
    times = []
    for i in range(repeat):
        a = inputs[(start + i) % n_in]
        t0 = time.perf_counter()
        result = fn(*a, **kwargs)
        _sync(result)
        times.append(time.perf_counter() - t0)
    return Timing(times=times, label=label or getattr(fn, "__name__", "fn"), result=result)


def interleaved(
    contenders: Mapping[str, Callable | tuple[Callable, Sequence[tuple]]],
    *,
    rounds: int | None = None,
    block: int = 1,
    warmup: int = 1,
    budget_s: float | None = None,
    min_rounds: int = 3,
    max_rounds: int = 1000,
    slow_s: float | None = None,
    settle_s: float = 0.0,
) -> dict[str, Timing]:
    """Time several callables in rounds: one block of calls of each per round, order rotating.

    Interleaving makes a change of machine load (another process waking up) hit every
    contender alike, so their *ratios* stay meaningful on a shared machine.

    Parameters
    ----------
    contenders : dict
        ``{name: fn}`` (called without arguments) or ``{name: (fn, inputs)}`` with a list of
        argument tuples that each contender rotates through (see :func:`rotation`).
    rounds : int, optional
        Number of rounds. Default: as many as fit in ``budget_s`` (estimated from the warm-up
        calls), between ``min_rounds`` and ``max_rounds``; ``min_rounds`` without a budget.
    block : int, default 1
        Timed calls of a contender per round (:attr:`Timing.best_block` is the smallest block
        median: blocks of short calls sample the machine's quiet moments).
    warmup : int, default 1
        Untimed calls of each contender first (numba compiles, thread pools wake up).
    budget_s : float, optional
        Seconds that all timed calls together should take.
    min_rounds, max_rounds : int
        Bounds on the number of rounds chosen from ``budget_s``.
    slow_s : float, optional
        A contender whose (last) warm-up call took longer than this is not called again: that
        call is its one timing. (For minutes-long fits; with ``warmup=1`` the first call is then
        both the warm-up and the timing.)
    settle_s : float, default 0
        Sleep before each block, so that the previous library's worker threads go idle.

    Returns
    -------
    dict of str to Timing
        In the order of ``contenders``; :attr:`Timing.result` holds each one's last result.

    Examples
    --------
    >>> import time
    >>> from sparsecourse.utils import interleaved
    >>> t = interleaved({"fast": lambda: time.sleep(0.001), "slow": lambda: time.sleep(0.01)},
    ...                 rounds=3)
    >>> len(t["fast"].times), t["fast"].median < t["slow"].median
    (3, True)
    """
    if not contenders:
        raise ValueError("contenders must hold at least one callable")
    warmup = check_int(warmup, "warmup", minimum=0)
    block = check_int(block, "block", minimum=1)
    min_rounds = check_int(min_rounds, "min_rounds", minimum=1)
    max_rounds = check_int(max_rounds, "max_rounds", minimum=min_rounds)
    fns, ins = {}, {}
    for name, c in contenders.items():
        fn, inputs = (c if isinstance(c, tuple) else (c, [()]))
        if not callable(fn):
            raise TypeError(f"contender {name!r} must be callable, got {type(fn).__name__}")
        inputs = list(inputs)
        if not inputs:
            raise ValueError(f"contender {name!r}: inputs must hold at least one argument tuple")
        fns[name], ins[name] = fn, inputs
    calls = dict.fromkeys(fns, 0)
    timings = {name: Timing(label=name, block=block) for name in fns}

    def call(name):
        a = ins[name][calls[name] % len(ins[name])]
        calls[name] += 1
        t0 = time.perf_counter()
        result = fns[name](*a)
        _sync(result)
        dt = time.perf_counter() - t0
        timings[name].result = result
        return dt

    first = {}
    for name in fns:
        if settle_s and warmup:
            time.sleep(settle_s)
        for _ in range(warmup):
            first[name] = call(name)
    slow = [n for n in fns if slow_s is not None and first.get(n, 0.0) > slow_s]
    for name in slow:
        timings[name].times.append(first[name])
        timings[name].block = 1
    fast = [n for n in fns if n not in slow]
    if rounds is None:
        rounds = min_rounds
        if budget_s is not None and fast:
            per_round = block * sum(first.get(n, 0.0) for n in fast)
            rounds = int(np.clip(budget_s / max(per_round, 1e-9), min_rounds, max_rounds))
    rounds = check_int(rounds, "rounds", minimum=0)
    for r in range(rounds if fast else 0):
        k = r % len(fast)
        for name in fast[k:] + fast[:k]:
            if settle_s:
                time.sleep(settle_s)
            timings[name].times.extend(call(name) for _ in range(block))
    return timings


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

    The two are *interleaved* (one call of each per repeat, see :func:`interleaved`) so that a
    change in machine load affects both alike.

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
    repeat = check_int(repeat, "repeat", minimum=1)
    for f, nm in ((fn, "fn"), (baseline, "baseline")):
        if not callable(f):
            raise TypeError(f"{nm} must be callable, got {type(f).__name__}")
    inputs = list(inputs) if inputs is not None else [args]
    if not inputs:
        raise ValueError("inputs must hold at least one argument tuple")
    if kwargs:
        fn, baseline = _bind(fn, kwargs), _bind(baseline, kwargs)
    t = interleaved({"fn": (fn, inputs), "baseline": (baseline, inputs)}, rounds=repeat,
                    warmup=warmup)
    a_t, b_t = t["fn"], t["baseline"]
    a_t.label = getattr(fn, "__name__", "fn")
    b_t.label = getattr(baseline, "__name__", "baseline")
    return {"fn": a_t, "baseline": b_t, "speedup": b_t.median / a_t.median}


def _bind(f: Callable, kwargs: dict) -> Callable:
    def bound(*a):
        return f(*a, **kwargs)

    bound.__name__ = getattr(f, "__name__", "fn")
    return bound


def llc_bytes(default: int = 32 * 2**20) -> int:
    """Size of the last-level cache in bytes, read from sysfs (Linux); ``default`` elsewhere.

    Examples
    --------
    >>> from sparsecourse.utils import llc_bytes
    >>> llc_bytes() > 0
    True
    """
    base = Path("/sys/devices/system/cpu/cpu0/cache")
    best = 0
    for index in base.glob("index*"):
        try:
            if (index / "type").read_text().strip() == "Instruction":
                continue
            text = (index / "size").read_text().strip()
        except OSError:
            continue
        unit = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:], 1)
        best = max(best, int(text.rstrip("KMG")) * unit)
    return best or default


def rotation_copies(bytes_per_copy: int, llc: int | None = None, *, factor: float = 2.0,
                    cap: int = 16) -> int:
    """How many copies of an input to rotate through so that one round exceeds ``factor * llc``.

    Timing the same small input again and again measures the cache, not memory: the second call
    finds everything the first one loaded. With ``n`` copies used in turn, ``n - 1`` other copies
    pass through the cache between two uses of one copy. ``llc`` defaults to :func:`llc_bytes`;
    ``cap`` bounds the count for tiny inputs (callers report the cases where the round still
    fits in the cache).

    Examples
    --------
    >>> from sparsecourse.utils import rotation_copies
    >>> rotation_copies(10 * 2**20, llc=32 * 2**20)
    7
    """
    if bytes_per_copy <= 0:
        return 1
    llc = llc_bytes() if llc is None else llc
    return int(min(cap, max(1, math.ceil(factor * llc / bytes_per_copy))))


def rotation(args: tuple, nbytes: int, *, working_set: float | None = None, cap: int = 16,
             copy: Sequence[int] = (0,)) -> list[tuple]:
    """Argument tuples to rotate through (``inputs=`` of :func:`benchmark`), past the cache.

    The first tuple is ``args`` itself; the others copy (``.copy()``) the arguments at the
    positions ``copy`` and share the rest. There are enough of them that one pass moves at least
    ``working_set`` bytes (default twice the last-level cache, :func:`llc_bytes`), ``nbytes``
    being what one call reads, and at most ``cap``.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.utils import rotation
    >>> A, x = np.ones((512, 512)), np.ones(512)
    >>> inputs = rotation((A, x), A.nbytes, working_set=8e6)
    >>> len(inputs), inputs[1][1] is x, inputs[1][0] is A
    (4, True, False)
    """
    cap = check_int(cap, "cap", minimum=1)
    target = 2.0 * llc_bytes() if working_set is None else float(working_set)
    n = rotation_copies(int(nbytes), llc=int(target), factor=1.0, cap=cap)
    out = [tuple(args)]
    for _ in range(n - 1):
        out.append(tuple(a.copy() if i in copy else a for i, a in enumerate(args)))
    return out


def crossover_density(densities, t_sparse, t_dense) -> float:
    """The density below which a sparse kernel beats a dense one, from measured times.

    ``t_dense`` is one time or one per density. The ratio ``t_sparse / t_dense`` is
    interpolated in log-log coordinates between the last density where sparse wins (ratio < 1)
    and the first where it loses; NaN when sparse wins nowhere in the range, or everywhere, or
    does not win at the lowest density.

    Examples
    --------
    >>> from sparsecourse.utils import crossover_density
    >>> round(crossover_density([0.01, 0.1, 1.0], [0.1, 0.5, 2.0], 1.0), 3)
    0.316
    """
    d = np.asarray(densities, dtype=float)
    order = np.argsort(d)
    d = d[order]
    ratio = np.asarray(t_sparse, dtype=float) / np.asarray(t_dense, dtype=float)
    r = np.broadcast_to(ratio, d.shape)[order]  # r < 1: sparse is faster
    if r[0] >= 1 or (r < 1).all():
        return float("nan")
    i = int(np.argmax(r >= 1))  # first density where sparse loses
    ld, lr = np.log(d[i - 1:i + 1]), np.log(r[i - 1:i + 1])
    return float(np.exp(ld[0] - lr[0] * (ld[1] - ld[0]) / (lr[1] - lr[0])))


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
