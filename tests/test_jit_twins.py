"""No two numba builds with different compile options share one disk-cache slot.

numba keys its on-disk cache on the function's qualified name, argument types and bytecode, not
on ``parallel=`` (numba issue #6845): a serial and a parallel build of one Python function would
load each other's machine code. sparsecourse/_jit.py's ``serial_twin`` renames the serial copy;
these tests check every cached dispatcher of the package, and that the twin is a serial
build of the same code that gives the same result.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections import defaultdict

import numba as nb
import numpy as np
import pytest
import scipy.sparse as sp

import sparsecourse
from sparsecourse._jit import serial_twin


def _cached_dispatchers():
    found = {}
    for info in pkgutil.walk_packages(sparsecourse.__path__, "sparsecourse."):
        if "triton" in info.name:
            continue  # optional dependency; no numba there
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if isinstance(obj, nb.core.registry.CPUDispatcher) and obj._cache is not None \
                    and type(obj._cache).__name__ != "NullCache":
                found[f"{info.name}.{name}"] = obj
    return found


def test_every_cached_build_has_its_own_cache_files():
    dispatchers = _cached_dispatchers()
    by_path = defaultdict(dict)
    for name, disp in dispatchers.items():
        by_path[disp._cache._cache_file._index_path][id(disp)] = (name, disp)
    # the known pairs are all there (a rename would otherwise make this test vacuous)
    for pair in ("sparsecourse.kernels._numba_csr.spmv_kernel",
                 "sparsecourse.kernels._numba_csr.spmv_kernel_serial",
                 "sparsecourse.coding._kernels.cd_batch_serial",
                 "sparsecourse.sparse_nn._kernels.sddmm_kernel_serial"):
        assert pair in dispatchers, pair
    shared = {path: sorted(name for name, _ in group.values())
              for path, group in by_path.items()
              if len({bool(d.targetoptions.get("parallel")) for _, d in group.values()}) > 1}
    assert not shared, f"parallel and serial builds share a cache slot: {shared}"


def test_serial_twin_is_serial_and_agrees():
    from sparsecourse.kernels._numba_csr import spmv_kernel, spmv_kernel_serial

    assert spmv_kernel.targetoptions.get("parallel")
    assert not spmv_kernel_serial.targetoptions.get("parallel")
    assert spmv_kernel_serial.py_func.__code__ is spmv_kernel.py_func.__code__
    A = sp.random_array((300, 200), density=0.05, format="csr", random_state=0)
    x = np.random.default_rng(0).standard_normal(200)
    y1, y2 = np.empty(300), np.empty(300)
    spmv_kernel(A.indptr, A.indices, A.data, x, y1)
    spmv_kernel_serial(A.indptr, A.indices, A.data, x, y2)
    np.testing.assert_array_equal(y1, y2)  # same loop, same order of additions per row
    np.testing.assert_allclose(y1, A @ x, rtol=1e-12)


def test_serial_twin_refuses_parallel():
    with pytest.raises(ValueError, match="serial"):
        serial_twin(lambda x: x, parallel=True)
