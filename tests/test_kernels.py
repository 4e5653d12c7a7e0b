"""The numba CSR kernels against scipy.sparse and dense numpy."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsecourse.datasets import random_csr
from sparsecourse.kernels import csr_spmm, csr_spmv

RTOL = {np.float32: 1e-4, np.float64: 1e-12}


def _tol(dtype):
    return {"rtol": RTOL[np.dtype(dtype).type], "atol": RTOL[np.dtype(dtype).type]}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("density", [0.0, 0.01, 0.3, 1.0])
@pytest.mark.parametrize("shape", [(1, 1), (7, 13), (64, 50), (300, 200)])
def test_spmv_matches_scipy_and_dense(shape, density, dtype):
    rng = np.random.default_rng(0)
    A = random_csr(*shape, density, seed=rng, dtype=dtype, empty_rows=0.2)
    x = rng.standard_normal(shape[1]).astype(dtype)
    y = csr_spmv(A, x)
    assert y.dtype == dtype and y.shape == (shape[0],)
    np.testing.assert_allclose(y, A @ x, **_tol(dtype))
    np.testing.assert_allclose(y, A.toarray() @ x, **_tol(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("density", [0.0, 0.05, 1.0])
@pytest.mark.parametrize("width", [1, 3, 16])
def test_spmm_matches_scipy_and_dense(density, width, dtype):
    rng = np.random.default_rng(1)
    A = random_csr(40, 30, density, seed=rng, dtype=dtype, empty_rows=0.25)
    X = rng.standard_normal((30, width)).astype(dtype)
    Y = csr_spmm(A, X)
    assert Y.dtype == dtype and Y.shape == (40, width)
    np.testing.assert_allclose(Y, A @ X, **_tol(dtype))
    np.testing.assert_allclose(Y, A.toarray() @ X, **_tol(dtype))


@settings(max_examples=40, deadline=None)
@given(
    m=st.integers(0, 30),
    n=st.integers(1, 30),
    density=st.floats(0.0, 1.0),
    width=st.integers(0, 5),
    seed=st.integers(0, 2**16),
)
def test_random_shapes_property(m, n, density, width, seed):
    rng = np.random.default_rng(seed)
    A = random_csr(m, n, density, seed=rng, dtype=np.float64, empty_rows=0.3)
    x = rng.standard_normal(n)
    np.testing.assert_allclose(csr_spmv(A, x), A.toarray() @ x, rtol=1e-12, atol=1e-12)
    X = rng.standard_normal((n, width))
    np.testing.assert_allclose(csr_spmm(A, X), A.toarray() @ X, rtol=1e-12, atol=1e-12)


def test_csr_matrix_int64_indices_unsorted_and_duplicates():
    # csr_matrix (not csr_array), int64 indices, unsorted columns and a duplicate (which adds up)
    indptr = np.array([0, 3, 3, 5], dtype=np.int64)
    indices = np.array([2, 0, 2, 1, 0], dtype=np.int64)
    data = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    A = sp.csr_matrix((data, indices, indptr), shape=(3, 3))
    x = np.array([1.0, 10.0, 100.0])
    expected = np.array([2 + 100 + 300, 0, 40 + 5], dtype=float)
    np.testing.assert_array_equal(csr_spmv(A, x), expected)
    np.testing.assert_array_equal(csr_spmm(A, x[:, None])[:, 0], expected)


def test_dtype_rules():
    A32 = random_csr(5, 4, 0.5, seed=0, dtype=np.float32)
    x32 = np.ones(4, np.float32)
    assert csr_spmv(A32, x32).dtype == np.float32
    assert csr_spmv(A32, x32.astype(np.float64)).dtype == np.float64  # promoted
    assert csr_spmv(A32.astype(np.float64), x32).dtype == np.float64
    # integers are converted to float64
    Ai = sp.csr_array(np.array([[1, 0], [2, 3]], dtype=np.int32))
    y = csr_spmv(Ai, np.array([1, 1]))
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, [1.0, 5.0])
    assert csr_spmm(Ai, np.eye(2, dtype=np.int64)).dtype == np.float64


def test_non_contiguous_dense_operand():
    rng = np.random.default_rng(3)
    A = random_csr(20, 10, 0.3, seed=rng, dtype=np.float64)
    Xf = np.asfortranarray(rng.standard_normal((10, 4)))
    np.testing.assert_allclose(csr_spmm(A, Xf), A @ Xf, rtol=1e-12)
    x = rng.standard_normal(20)[::2]
    np.testing.assert_allclose(csr_spmv(A, x), A @ x, rtol=1e-12)


def test_out_argument_is_used():
    A = random_csr(6, 6, 0.5, seed=0, dtype=np.float64)
    x = np.ones(6)
    out = np.full(6, np.nan)
    y = csr_spmv(A, x, out=out)
    assert y is out
    np.testing.assert_allclose(out, A @ x)
    with pytest.raises(ValueError, match="out must be"):
        csr_spmv(A, x, out=np.empty(5))
    with pytest.raises(ValueError, match="out must be"):
        csr_spmv(A, x, out=np.empty(6, np.float32))
    OUT = np.empty((6, 2))
    assert csr_spmm(A, np.ones((6, 2)), out=OUT) is OUT
    with pytest.raises(ValueError, match="out must be"):
        csr_spmm(A, np.ones((6, 2)), out=np.empty((6, 3)))


@pytest.mark.parametrize("fn,operand", [(csr_spmv, np.ones(3)), (csr_spmm, np.ones((3, 2)))])
def test_bad_input_errors(fn, operand):
    A = sp.csr_array(np.eye(3))
    with pytest.raises(TypeError, match="scipy.sparse CSR"):
        fn(np.eye(3), operand)
    with pytest.raises(TypeError, match="CSR format"):
        fn(sp.coo_array(np.eye(3)), operand)
    with pytest.raises(TypeError, match="complex"):
        fn(sp.csr_array(np.eye(3) * 1j), operand)
    with pytest.raises(TypeError, match="complex"):
        fn(A, operand * 1j)
    with pytest.raises(ValueError, match="A.shape\\[1\\] = 3"):
        fn(A, operand[:2])
    with pytest.raises(TypeError, match="numeric"):
        fn(A, operand.astype(bool))
    bad = operand.copy()
    bad.flat[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fn(A, bad)
    A_nan = sp.csr_array(np.eye(3))
    A_nan.data[1] = np.inf
    with pytest.raises(ValueError, match="A contains NaN or infinity"):
        fn(A_nan, operand)
    # with the check off, NaN propagates like in scipy
    assert not np.isfinite(fn(A_nan, operand, check_finite=False)).all()


def test_wrong_ndim():
    A = sp.csr_array(np.eye(3))
    with pytest.raises(ValueError, match="1-D"):
        csr_spmv(A, np.ones((3, 1)))
    with pytest.raises(ValueError, match="2-D"):
        csr_spmm(A, np.ones(3))


def test_overflow_warns_instead_of_silent_inf():
    A = sp.csr_array(np.array([[3e38, 3e38]], dtype=np.float32))
    with pytest.warns(RuntimeWarning, match="overflowed"):
        y = csr_spmv(A, np.ones(2, np.float32))
    assert np.isinf(y[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        csr_spmv(A.astype(np.float64), np.ones(2))  # fine in float64


def test_empty_shapes():
    A = sp.csr_array((0, 4), dtype=np.float64)
    assert csr_spmv(A, np.ones(4)).shape == (0,)
    assert csr_spmm(A, np.ones((4, 2))).shape == (0, 2)
    B = sp.csr_array((3, 4), dtype=np.float64)
    np.testing.assert_array_equal(csr_spmm(B, np.ones((4, 0))), np.zeros((3, 0)))
    np.testing.assert_array_equal(csr_spmv(B, np.ones(4)), np.zeros(3))


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("width", [257, 700])
def test_spmm_crosses_row_chunks_and_column_tiles(width, index_dtype):
    # more than 256 rows (several parallel chunks) and more than 256 columns (several tiles)
    rng = np.random.default_rng(7)
    A = random_csr(600, 300, 0.05, seed=rng, dtype=np.float32, empty_rows=0.1)
    A = sp.csr_array((A.data, A.indices.astype(index_dtype), A.indptr.astype(index_dtype)),
                     shape=A.shape)
    X = rng.standard_normal((300, width)).astype(np.float32)
    np.testing.assert_allclose(csr_spmm(A, X), A @ X, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(5, 7), (3000, 2500)])  # one thread / the parallel kernel
def test_fused_finiteness_check_sees_every_entry(shape, dtype, monkeypatch):
    """The check runs inside the kernels: every entry of x / X is seen, also one that no stored
    value reaches (an empty column of A), in every slice of the parallel split; NaN in A's
    values is named; a finite product passes with or without the check."""
    from sparsecourse import kernels
    from sparsecourse.kernels import _SERIAL_WORK

    # the least threshold, whatever this machine's wake-up: the large case takes all threads
    monkeypatch.setattr(kernels, "_serial_work", lambda: _SERIAL_WORK)
    rng = np.random.default_rng(3)
    m, n = shape
    A = random_csr(m, n, 0.3 if m < 10 else 0.01, seed=rng, dtype=dtype)
    A = sp.csr_array(A[:, : n - 1] @ sp.eye_array(n - 1, n, dtype=dtype))  # column n-1 empty
    assert (A.nnz + m < _SERIAL_WORK) == (m < 10)
    x = rng.standard_normal(n).astype(dtype)
    X = rng.standard_normal((n, 16)).astype(dtype)
    np.testing.assert_allclose(csr_spmv(A, x), A @ x, **_tol(dtype))
    np.testing.assert_allclose(csr_spmm(A, X), A @ X, **_tol(dtype))
    for pos in (0, n // 3, n // 2, n - 1):  # n - 1: the empty column
        for bad_value in (np.nan, np.inf, -np.inf):
            xb = x.copy()
            xb[pos] = bad_value
            with pytest.raises(ValueError, match="x contains NaN or infinity"):
                csr_spmv(A, xb)
            Xb = X.copy()
            Xb[pos, 5] = bad_value
            with pytest.raises(ValueError, match="X contains NaN or infinity"):
                csr_spmm(A, Xb)
    A_bad = A.copy()
    A_bad.data[len(A_bad.data) // 2] = np.nan
    with pytest.raises(ValueError, match="A contains NaN or infinity"):
        csr_spmv(A_bad, x)
    with pytest.raises(ValueError, match="A contains NaN or infinity"):
        csr_spmm(A_bad, X)
    with pytest.raises(ValueError, match="bias"):
        csr_spmm(A, X, bias=np.full(m, np.nan, dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel", ["spmv_kernel_long", "spmv_kernel_long_serial",
                                    "spmv_long_checked", "spmv_long_checked_serial"])
def test_long_row_gather_kernel_matches_scipy(kernel, dtype):
    """The reassociated (vectorised) loop: rows of every length mod 16, empty rows included;
    the checked twins return 0.0 on finite input and NaN when x or A holds NaN or infinity."""
    from sparsecourse import kernels

    rng = np.random.default_rng(6)
    A = random_csr(1100, 700, 0.45, seed=rng, dtype=dtype, empty_rows=0.1)  # > 2 row chunks
    assert len(set(np.diff(A.indptr) % 16)) > 8 and (np.diff(A.indptr) == 0).any()
    x = rng.standard_normal(700).astype(dtype)
    y = np.full(1100, np.nan, dtype)
    fn = getattr(kernels, kernel)
    ret = fn(A.indptr, A.indices, A.data, x, y)
    np.testing.assert_allclose(y, A.astype(np.float64) @ x.astype(np.float64), **_tol(dtype))
    if "checked" in kernel:
        assert ret == 0.0
        for where in (0, 350, 699):  # NaN in x, in the first, a middle and the last slice
            xb = x.copy()
            xb[where] = np.nan
            assert np.isnan(fn(A.indptr, A.indices, A.data, xb, y))
        Ab = A.copy()
        Ab.data[-1] = np.inf
        assert np.isnan(fn(Ab.indptr, Ab.indices, Ab.data, x, y))


def test_long_rows_take_the_gather_kernel_on_all_cores(monkeypatch):
    """Large matrices with long rows go to the parallel gather kernel, with or without checks."""
    from sparsecourse import kernels

    calls = []
    for name in ("spmv_kernel_long", "spmv_long_checked"):
        real = getattr(kernels, name)
        monkeypatch.setattr(kernels, name,
                            lambda *a, name=name, real=real: calls.append(name) or real(*a))
    monkeypatch.setattr(kernels, "_serial_work", lambda: kernels._SERIAL_WORK)
    rng = np.random.default_rng(7)
    A = random_csr(200, 2000, 0.3, seed=rng)
    assert A.nnz + 200 >= kernels._SERIAL_WORK and A.nnz >= kernels._LONG_ROWS * 200
    x = rng.standard_normal(2000)
    for check in (True, False):
        np.testing.assert_allclose(csr_spmv(A, x, check_finite=check), A @ x, rtol=1e-12)
    assert calls == ["spmv_long_checked", "spmv_kernel_long"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_long_rows_checked_in_the_gather_kernel(dtype):
    """Rows of >= _LONG_ROWS stored values take the checked gather kernel: the same answers
    and the same errors as the short-row path."""
    from sparsecourse.kernels import _LONG_ROWS

    rng = np.random.default_rng(5)
    A = random_csr(40, 1000, 0.6, seed=rng, dtype=dtype)
    assert A.nnz >= _LONG_ROWS * A.shape[0]
    x = rng.standard_normal(1000).astype(dtype)
    np.testing.assert_allclose(csr_spmv(A, x), A @ x, **_tol(dtype))
    x[999] = np.nan
    with pytest.raises(ValueError, match="x contains NaN or infinity"):
        csr_spmv(A, x)
    A.data[7] = np.inf
    with pytest.raises(ValueError, match="A contains NaN or infinity"):
        csr_spmv(A, np.ones(1000, dtype))


# Every row width up to REG_BYTES (and just past it): the single-block widths, the widths that
# are sums of blocks, both 256-byte blocks, and the buffer loop beyond.
_REG_WIDTHS = {np.float32: [1, 2, 3, 4, 5, 7, 8, 12, 15, 16, 17, 20, 31, 32, 33, 63, 64, 65, 96,
                            127, 128, 129],
               np.float64: [1, 2, 3, 4, 5, 7, 8, 9, 16, 20, 31, 32, 33, 48, 63, 64, 65]}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("serial", [False, True])
def test_register_rows_match_the_buffer_loop_bit_for_bit(dtype, serial):
    """spmm_row (rows of X of <= REG_BYTES bytes in vector registers) adds in the same order as
    the buffer loop (axpy4 groups, then axpy): the two paths agree exactly. The buffer loop is
    reached with a column-strided view of the same X, which spmm_row does not take."""
    from sparsecourse.kernels import _numba_csr as K

    kernel = K.spmm_kernel_serial if serial else K.spmm_kernel
    rng = np.random.default_rng(11)
    # rows of 0 to ~40 stored values (every remainder mod 4), 300 rows: two parallel chunks
    A = random_csr(300, 50, 0.4, seed=rng, dtype=dtype, empty_rows=0.1)
    bias = rng.standard_normal(300).astype(dtype)
    for width in _REG_WIDTHS[dtype]:
        X = rng.standard_normal((50, width)).astype(dtype)
        wide = np.zeros((50, 2 * width), dtype)
        wide[:, ::2] = X
        assert not wide[:, ::2].flags.c_contiguous
        for b in (bias, np.empty(0, dtype)):
            Y = np.full((300, width), np.nan, dtype)
            Y_buf = np.full((300, width), np.nan, dtype)
            kernel(A.indptr, A.indices, A.data, X, b, Y)
            kernel(A.indptr, A.indices, A.data, wide[:, ::2], b, Y_buf)
            assert np.array_equal(Y, Y_buf), (width, np.abs(Y - Y_buf).max())
            ref = A @ X + (b[:, None] if b.size else 0)
            np.testing.assert_allclose(Y, ref, **_tol(dtype))


def test_register_rows_read_the_row_stride():
    """X and Y whose rows are contiguous but not adjacent (column slices of wider arrays) take
    the register path; the row strides come from the arrays, not from the width."""
    from sparsecourse.kernels import _numba_csr as K

    rng = np.random.default_rng(12)
    A = random_csr(70, 40, 0.3, seed=rng, dtype=np.float32)
    big_X = rng.standard_normal((40, 37)).astype(np.float32)
    big_Y = np.full((70, 29), 7.0, np.float32)
    X, Y = big_X[:, 3:19], big_Y[:, 5:21]  # 16 columns, row strides 37 and 29 items
    assert K._narrow(X, Y) and not X.flags.c_contiguous
    K.spmm_kernel(A.indptr, A.indices, A.data, X, np.empty(0, np.float32), Y)
    np.testing.assert_allclose(Y, A @ X, rtol=1e-5, atol=1e-5)
    assert (big_Y[:, :5] == 7).all() and (big_Y[:, 21:] == 7).all()  # nothing written outside


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_register_rows_checked_for_non_finite(dtype):
    """csr_spmm's fused check sees a NaN in X or an overflow in the output on the register path."""
    rng = np.random.default_rng(13)
    A = random_csr(600, 300, 0.05, seed=rng, dtype=dtype)
    X = rng.standard_normal((300, 16)).astype(dtype)
    np.testing.assert_allclose(csr_spmm(A, X), A @ X, **_tol(dtype))
    X[299, 15] = np.nan
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        csr_spmm(A, X)
    A.data[3] = np.inf
    with pytest.raises(ValueError, match="A contains NaN or infinity"):
        csr_spmm(A, np.ones((300, 16), dtype))


def test_serial_threshold_comes_from_the_measured_wake_up(monkeypatch):
    """One thread below the threshold, all above; the threshold is the least one on one thread
    and is kept within its bounds; products below and above it agree with scipy."""
    from sparsecourse import kernels

    assert kernels._serial_work_for(1) == kernels._SERIAL_WORK
    work = kernels._serial_work_for(2)
    assert kernels._SERIAL_WORK <= work <= kernels._SERIAL_WORK_MAX
    calls = []
    for name in ("spmv_checked", "spmv_checked_serial"):
        real = getattr(kernels, name)
        monkeypatch.setattr(kernels, name,
                            lambda *a, name=name, real=real: calls.append(name) or real(*a))
    monkeypatch.setattr(kernels, "_serial_work", lambda: 5000)
    rng = np.random.default_rng(11)
    for m, expected in ((400, "spmv_checked_serial"), (4000, "spmv_checked")):
        A = random_csr(m, 1000, 0.002, seed=rng)  # 2 stored values per row: short rows
        assert (A.nnz + m < 5000) == (expected == "spmv_checked_serial")
        x = rng.standard_normal(1000)
        np.testing.assert_allclose(csr_spmv(A, x), A @ x, rtol=1e-12)
        assert calls[-1] == expected
