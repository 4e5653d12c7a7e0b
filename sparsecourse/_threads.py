"""How many CPUs this process may really use, and thread pools sized to them.

A shared machine (Binder gives a fraction of a CPU, a classroom server runs many kernels) often
lets a process use fewer CPUs than ``os.cpu_count()`` reports: its *affinity* mask may hold only
some cores, and a cgroup CPU *quota* may cap it at, say, 1.5 CPUs' worth of time. torch and
numba each keep an OpenMP thread pool sized to the core count, and OpenMP threads busy-wait
("spin") between parallel regions. When fewer cores are free than threads, the spinning threads
take the cores from the threads with work: a torch cell measured here went from 3.4 s to 119 s
with one competing process on a 2-core machine.

:func:`configure_threads` (called by ``import sparsecourse``) therefore

* sizes the pools to :func:`available_cpus` (affinity and cgroup quota, v1 or v2), through
  ``OMP_NUM_THREADS`` / ``NUMBA_NUM_THREADS`` for libraries not loaded yet and
  ``torch.set_num_threads`` / ``numba.set_num_threads`` for those already loaded;
* asks OpenMP threads to sleep instead of spinning while they wait (``OMP_WAIT_POLICY=PASSIVE``;
  ``KMP_BLOCKTIME=0`` for Intel's runtime). The OpenMP runtimes read this when they load, so it
  only reaches torch and numba if ``sparsecourse`` is imported first, or if it is set in the
  environment (the Makefile and ``binder/start`` do);
* shortens OpenBLAS's busy-wait (``OPENBLAS_THREAD_TIMEOUT=16``: 2^16 cycles, tens of
  microseconds, instead of 2^28, about 0.1 s). After a multi-threaded NumPy product its idle
  threads spin that long, and a numba kernel started meanwhile shares its cores with them: a
  parallel pass over a 3000 x 5000 matrix took 8.4-9.0 ms for at least 0.1 s after a 400 x 400
  ``M @ M``, against 4.5 ms quiet. With the short wait it took 3.6-4.3 ms right after the
  product (3.8 ms quiet), and NumPy's own 128-512 square products and a 3000 x 5000
  ``A.T @ r`` were as fast as before. OpenBLAS reads the variable when NumPy loads, so it only
  takes effect if ``sparsecourse`` is imported before NumPy, or from the environment (the
  Makefile and ``binder/start`` set it). Where it comes too late, :func:`blas_threads` holds
  BLAS at one thread around a loop that alternates numba kernels with small BLAS products
  (Newton-HT and HTP do).

Sleeping has a price on a quiet machine: every parallel region must wake the threads that fell
asleep after the previous one, and on a virtual machine that can take tens of microseconds. Here
a 64 x 128 times 128 x 128 torch product took 146 us per call with sleeping threads and 18 us
when they first spun for about 0.1 ms (``GOMP_SPINCOUNT=10000``). That short spin is still not
the default, because of what it does beside a competing process: chapter 3b on two threads took
24.7 s quiet and 180 s beside one CPU-bound process with it, 39-49 s and 63-70 s without it
(one thread: 26 s and 25 s). Code made of many small products is best run on one thread
(``configure_threads(1)``, as chapters 3b and 4 do); set ``GOMP_SPINCOUNT`` yourself on a
machine you have to yourself.

Variables the user has set are never overridden; ``SPARSECOURSE_NUM_THREADS`` picks the count.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import sys
from pathlib import Path

__all__ = ["available_cpus", "blas_threads", "configure_threads"]

_CGROUP = Path("/sys/fs/cgroup")


def _own_cgroup_dirs() -> list[Path]:
    """The cgroup directories (v2 unified and v1 ``cpu`` controller) of this process and above."""
    dirs: list[Path] = []
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return dirs
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # v2
            base = _CGROUP
        elif "cpu" in controllers.split(","):  # v1 cpu controller, mounted alone or as cpu,cpuacct
            base = next((_CGROUP / m for m in ("cpu", "cpu,cpuacct", "cpuacct,cpu")
                         if (_CGROUP / m).is_dir()), None)
            if base is None:
                continue
        else:
            continue
        here = base / path.lstrip("/")
        while True:  # a parent's quota limits its children too
            dirs.append(here)
            if here == base:
                break
            here = here.parent
    return dirs


def _cgroup_cpu_quota() -> float | None:
    """CPUs' worth of time the cgroup quota allows (e.g. 1.5), or None when there is no quota."""
    quotas = []
    for d in _own_cgroup_dirs():
        try:
            if (d / "cpu.max").is_file():  # v2: "max 100000" or "150000 100000"
                quota, period = (d / "cpu.max").read_text().split()[:2]
                if quota != "max":
                    quotas.append(int(quota) / int(period))
            elif (d / "cpu.cfs_quota_us").is_file():  # v1: -1 means no quota
                quota = int((d / "cpu.cfs_quota_us").read_text())
                period = int((d / "cpu.cfs_period_us").read_text())
                if quota > 0 and period > 0:
                    quotas.append(quota / period)
        except (OSError, ValueError):
            continue
    return min(quotas) if quotas else None


def available_cpus() -> int:
    """The number of CPUs this process may really use: affinity mask and cgroup CPU quota.

    ``SPARSECOURSE_NUM_THREADS``, if set to a positive integer, takes precedence.

    Returns
    -------
    int
        At least 1. A quota of 1.5 CPUs gives 1: a second thread would be throttled.

    Examples
    --------
    >>> from sparsecourse import available_cpus
    >>> 1 <= available_cpus() <= (__import__("os").cpu_count() or 1)
    True
    """
    override = os.environ.get("SPARSECOURSE_NUM_THREADS", "")
    if override.isdigit() and int(override) > 0:
        return int(override)
    if hasattr(os, "sched_getaffinity"):
        n = len(os.sched_getaffinity(0))
    else:  # pragma: no cover - macOS, Windows
        n = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    if quota is not None:
        n = min(n, math.floor(quota))
    return max(1, n)


def configure_threads(n: int | None = None) -> int:
    """Size torch's and numba's thread pools to ``n`` CPUs and make waiting threads sleep.

    Called once by ``import sparsecourse``; call it again with an explicit ``n`` to change the
    count (for instance ``configure_threads(1)`` for tiny problems, where one thread is fastest).
    Environment variables the user has set are left alone.

    Parameters
    ----------
    n : int, optional
        Threads per pool. Default: :func:`available_cpus`.

    Returns
    -------
    int
        The thread count used.

    Examples
    --------
    >>> from sparsecourse import available_cpus, configure_threads
    >>> configure_threads() == available_cpus()
    True
    """
    if n is None:
        n = available_cpus()
    elif isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be a positive int or None, got {type(n).__name__}")
    elif n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    # Read when each library loads; harmless for libraries already loaded.
    for var, value in (("OMP_NUM_THREADS", str(n)), ("OMP_WAIT_POLICY", "PASSIVE"),
                       ("KMP_BLOCKTIME", "0"), ("OPENBLAS_THREAD_TIMEOUT", "16")):
        os.environ.setdefault(var, value)
    if "numba" not in sys.modules:
        os.environ.setdefault("NUMBA_NUM_THREADS", str(n))
    numba = sys.modules.get("numba")
    if numba is not None and hasattr(numba, "set_num_threads"):
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "set_num_threads"):
        torch.set_num_threads(n)
    return n


@functools.lru_cache(maxsize=1)
def _blas_controller():
    """threadpoolctl's view of the BLAS libraries loaded (built once: about 1 ms; a library
    loaded after the first call is not seen)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(user_api="blas")


@contextlib.contextmanager
def blas_threads(n: int = 1):
    """Hold the BLAS libraries (NumPy's and SciPy's OpenBLAS, MKL) at ``n`` threads inside
    the block; the counts they had are restored on exit. Entering costs about 15 us.

    For loops that alternate numba's parallel kernels with small BLAS products: OpenBLAS's
    threads busy-wait after a call, and on a machine with as many cores as threads the
    waiting thread takes a core from the numba kernel that runs next. Newton-HT's iterations
    (a parallel pass over ``A``, then an ``s x s`` Newton system) took 7.3-9.2 ms at
    ``n = 5000, m = 3000, s = 50`` with two BLAS threads on 2 cores and 4.1-5.8 ms with one.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse._threads import blas_threads
    >>> with blas_threads(1):
    ...     float(np.ones(3) @ np.ones(3))
    3.0
    """
    with _blas_controller().limit(limits=n):
        yield
