"""Each parallel numba kernel runs one parallel region per call.

numba turns an array expression inside a ``parallel=True`` function (``np.zeros``, ``a += b``,
``.sum()``, ``.copy()``) into a parallel loop of its own, beside the ``prange`` loop. Every such
loop wakes the thread pool, which sleeps between regions (``OMP_WAIT_POLICY=PASSIVE``, set by
``import sparsecourse``): about 70 us on a 2-core VM. Two kernels had paid that for
allocations and sums written beside their loop (the fused pass of phase retrieval, 0.4 ms a
pass; the CATS block, 442 against 248 us a call at ``d_model = 512``). Here each kernel's
Python function is compiled afresh (the disk cache keeps no diagnostics) and its parallel
loops are counted.
"""

import numba as nb
import numpy as np
import pytest
import scipy.sparse as sp

from sparsecourse.coding import _kernels as coding_kernels
from sparsecourse.kernels import _numba_csr as csr
from sparsecourse.kernels import _numba_gemv as gemv
from sparsecourse.phase_retrieval import _kernels as pr_kernels
from sparsecourse.sparse_nn import _kernels as snn
from sparsecourse.utils import stream_read


def _parallel_loops(kernel, *args):
    """Top-level parallel loops of ``kernel`` compiled for ``args``: numba's loops, less those
    it fused into another one or nested inside another one (a nested loop runs serially)."""
    fresh = nb.njit(parallel=True)(kernel.py_func)
    fresh(*args)
    diag = fresh.get_metadata(fresh.signatures[0])["parfor_diagnostics"]
    merged = {i for d in (diag.fusion_info, diag.nested_fusion_info) for v in d.values()
              for i in v}
    return len({p.id for p in diag.initial_parfors} - merged)


def _csr():
    A = sp.random_array((40, 30), density=0.3, format="csr", random_state=0)
    return A.indptr, A.indices, A.data


def _cases():
    rng = np.random.default_rng(0)
    indptr, indices, data = _csr()
    x, y = rng.standard_normal(30), np.empty(40)
    X, Y = rng.standard_normal((30, 5)), np.empty((40, 5))
    m, n, k = 24, 10, 3
    A = rng.standard_normal((m, n))
    S = np.array([1, 4, 7])
    d_ff, d_model = 16, 8
    D = rng.standard_normal((6, 12))
    B = rng.standard_normal((5, 12)) @ D.T
    yield "csr spmv_kernel", csr.spmv_kernel, (indptr, indices, data, x, y)
    yield "csr spmv_kernel_long", csr.spmv_kernel_long, (indptr, indices, data, x, y)
    yield "csr spmv_checked", csr.spmv_checked, (indptr, indices, data, x, y)
    yield "csr spmv_long_checked", csr.spmv_long_checked, (indptr, indices, data, x, y)
    yield "csr spmm_kernel", csr.spmm_kernel, (indptr, indices, data, X, np.zeros(0), Y)
    yield "csr spmm_checked", csr.spmm_checked, (indptr, indices, data, X, np.zeros(0), Y)
    Wt = rng.standard_normal((d_ff, d_model))
    yield "gemv_kernel", gemv.gemv_kernel, (Wt, np.arange(4), np.ones(4), 4,
                                            np.zeros((2, d_model)), np.empty(d_model))
    yield "cats_mlp_kernel", gemv.cats_mlp_kernel, (Wt, Wt, Wt, np.ones(d_model), 0.1,
                                                    np.zeros((2, d_model)))
    yield "stream_read", stream_read, (np.ones(1000, dtype=np.float32),)
    yield "sum_squares", pr_kernels._sum_squares_kernel, (A.reshape(-1), 4)
    yield "take_columns", pr_kernels._take_columns_kernel, (A, A[:, S].copy(),
                                                           np.array([0, -1]), np.array([1, 2]))
    yield "fused_pass", pr_kernels._fused_pass_kernel, (
        A, A[:, S].copy(), np.ones(k), np.ones(m), np.ones(m), 0, True, 16, np.empty(m),
        np.zeros((2, n)), np.zeros((2, k, k)), np.zeros((2, k)))
    yield "cd_batch", coding_kernels.cd_batch, (D @ D.T, B, np.ones(5), 0.1, np.zeros((5, 6)),
                                                 1e-6, 50)
    yield "omp_batch", coding_kernels.omp_batch, (D @ D.T, B, np.ones(5), 2, 1e-6,
                                                   np.zeros((5, 6)))
    dYT, XT = rng.standard_normal((40, 4)), rng.standard_normal((30, 4))
    yield "sddmm", snn.sddmm_kernel_parallel, (indptr, indices, dYT, XT, np.empty(data.size),
                                               np.empty(40))
    w = rng.standard_normal(50)
    yield "sgd_momentum", snn.sgd_momentum_kernel_parallel, (w, w.copy(), np.zeros(50), 0.1, 0.9,
                                                             0.0, 0.0, False)


@pytest.mark.parametrize("kernel,args", [pytest.param(k, a, id=n) for n, k, a in _cases()])
def test_one_parallel_region_per_call(kernel, args):
    assert _parallel_loops(kernel, *args) == 1


def test_the_count_sees_an_allocation_beside_the_loop():
    # the check above can fail: the pattern the two kernels had is counted as three loops
    def kernel(a, out):  # per-chunk sums allocated, then added, beside the parallel loop
        partial = np.zeros((2, a.shape[0]))
        for p in nb.prange(2):
            for j in range(a.shape[0]):
                partial[p, j] = a[j] * p
        out[:] = partial[0] + partial[1]

    assert _parallel_loops(nb.njit(kernel), np.ones(4), np.empty(4)) == 3


def test_input_grad_runs_one_of_its_two_loops():
    # two prange loops in exclusive branches (a vector-register path and a plain one): each
    # call takes one branch, so one region runs
    colptr, rowidx, perm = snn.csc_structure(*_csr()[:2], 30)
    data = _csr()[2]
    dYT = np.ones((40, 4))
    assert _parallel_loops(snn.input_grad_kernel_parallel, colptr, rowidx, perm, data, dYT,
                           np.empty((30, 4))) == 2
