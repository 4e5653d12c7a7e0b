"""The Triton CSR SpMV, run on the CPU by the Triton interpreter (TRITON_INTERPRET=1).

Skipped cleanly where triton is not installed. Under the interpreter each program (one row) runs in
Python, so the matrices here have at most a few hundred rows.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from sparsecourse.datasets import random_csr
from sparsecourse.kernels import triton_available, triton_csr_spmv

pytest.importorskip("triton")
torch = pytest.importorskip("torch")

pytestmark = pytest.mark.skipif(not triton_available(), reason="needs a GPU or TRITON_INTERPRET=1")


@pytest.mark.parametrize("density", [0.0, 0.05, 0.5, 1.0])
@pytest.mark.parametrize("block", [8, 32])
def test_matches_scipy(density, block):
    rng = np.random.default_rng(0)
    A = random_csr(96, 70, density, seed=rng, dtype=np.float32, empty_rows=0.2)
    x = rng.standard_normal(70).astype(np.float32)
    y = triton_csr_spmv(A, x, block=block)
    assert isinstance(y, torch.Tensor) and y.dtype == torch.float32 and y.shape == (96,)
    np.testing.assert_allclose(y.cpu().numpy(), A @ x, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y.cpu().numpy(), A.toarray() @ x, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("rows", [2, 8])
@pytest.mark.parametrize("density", [0.0, 0.1, 1.0])
def test_rows_per_program_matches_scipy(rows, density):
    # 37 rows: the last program's tile sticks out past the matrix and must be masked
    rng = np.random.default_rng(3)
    A = random_csr(37, 50, density, seed=rng, dtype=np.float32, empty_rows=0.2)
    x = rng.standard_normal(50).astype(np.float32)
    y = triton_csr_spmv(A, x, block=16, rows_per_program=rows)
    np.testing.assert_allclose(y.numpy(), A @ x, rtol=1e-5, atol=1e-5)


def test_long_rows_cross_several_blocks():
    # 5 rows of 200 non-zeros each: the loop over BLOCK-sized chunks runs several times
    rng = np.random.default_rng(1)
    A = random_csr(5, 200, 1.0, seed=rng, dtype=np.float32)
    x = rng.standard_normal(200).astype(np.float32)
    np.testing.assert_allclose(triton_csr_spmv(A, x, block=16).numpy(), A @ x, rtol=1e-4)


def test_float64_and_int_inputs_are_converted_to_float32():
    A = sp.csr_matrix(np.array([[1, 0, 2], [0, 0, 0], [0, 3, 0]], dtype=np.int64))
    y = triton_csr_spmv(A, np.array([1.0, 2.0, 3.0]))
    assert y.dtype == torch.float32
    np.testing.assert_allclose(y.numpy(), [7.0, 0.0, 6.0])


def test_torch_sparse_csr_input():
    rng = np.random.default_rng(2)
    A = random_csr(30, 20, 0.2, seed=rng, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        At = torch.sparse_csr_tensor(
            torch.from_numpy(A.indptr), torch.from_numpy(A.indices), torch.from_numpy(A.data),
            size=A.shape, check_invariants=True,
        )
    x = torch.from_numpy(rng.standard_normal(20).astype(np.float32))
    np.testing.assert_allclose(triton_csr_spmv(At, x).numpy(), A @ x.numpy(), rtol=1e-5, atol=1e-6)


def test_bad_input():
    A = sp.csr_array(np.eye(4, dtype=np.float32))
    with pytest.raises(ValueError, match="length A.shape\\[1\\] = 4"):
        triton_csr_spmv(A, np.ones(3))
    with pytest.raises(ValueError, match="power of two"):
        triton_csr_spmv(A, np.ones(4), block=12)
    with pytest.raises(ValueError, match="rows_per_program"):
        triton_csr_spmv(A, np.ones(4), rows_per_program=3)
    with pytest.raises(ValueError, match="NaN"):
        triton_csr_spmv(A, np.array([1.0, np.nan, 0, 0]))
    with pytest.raises(TypeError, match="CSR"):
        triton_csr_spmv(sp.coo_array(A), np.ones(4))
    with pytest.raises(TypeError, match="sparse CSR tensor"):
        triton_csr_spmv(torch.eye(4), np.ones(4))
    with pytest.raises(ValueError, match="1-D"):
        triton_csr_spmv(A, torch.ones(4, 1))
