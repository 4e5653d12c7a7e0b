"""Sparse GEMV and the fused CATS MLP block against the masked dense product (numba and Triton)."""

import numpy as np
import pytest

from sparsecourse.kernels import (
    cats_mlp,
    cats_mlp_reference,
    input_major,
    sparse_gemv,
    sparse_gemv_reference,
    triton_available,
)

TOL = {np.float32: {"rtol": 1e-4, "atol": 1e-4}, np.float64: {"rtol": 1e-11, "atol": 1e-11}}


def _masked_dense(Wt, x, threshold):
    """The product written from scratch: zero the small inputs, then a dense BLAS product."""
    x_kept = x.copy()
    x_kept[np.abs(x) <= x.dtype.type(threshold)] = 0
    return Wt.T.astype(np.float64) @ x_kept.astype(np.float64)


def _silu(g):
    return g / (1 + np.exp(-g))


def _cats_dense(gate, up, down_t, x, threshold):
    g = gate.astype(np.float64) @ x
    h = _silu(g.astype(x.dtype)).astype(np.float64)
    h[np.abs(h) <= threshold] = 0
    return down_t.T.astype(np.float64) @ (h * (up.astype(np.float64) @ x))


def _close(got, want, dtype, scale=1.0):
    tol = TOL[np.dtype(dtype).type]
    np.testing.assert_allclose(got, want, rtol=tol["rtol"], atol=tol["atol"] * max(scale, 1.0))


# --------------------------------------------------------------------------------------------
# sparse_gemv
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1), (5, 3), (37, 129), (200, 4100), (1031, 17)])
@pytest.mark.parametrize("sparsity", [0.0, 0.3, 0.5, 0.9])
def test_sparse_gemv_matches_masked_dense(shape, sparsity, dtype):
    rng = np.random.default_rng(hash((shape, sparsity)) % 2**32)
    n_in, n_out = shape
    Wt = rng.standard_normal(shape).astype(dtype)
    x = rng.standard_normal(n_in).astype(dtype)
    threshold = float(np.quantile(np.abs(x), sparsity)) if sparsity else 0.0
    y = sparse_gemv(Wt, x, threshold)
    assert y.dtype == dtype and y.shape == (n_out,)
    scale = np.sqrt(n_in)
    _close(y, _masked_dense(Wt, x, threshold), dtype, scale)
    _close(sparse_gemv_reference(Wt, x, threshold), _masked_dense(Wt, x, threshold), dtype, scale)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_none_skipped_equals_dense_product(dtype):
    # threshold 0 skips only exact zeros; x has none, so this is the plain dense product
    rng = np.random.default_rng(1)
    Wt = rng.standard_normal((64, 50)).astype(dtype)
    x = rng.uniform(0.5, 1.0, 64).astype(dtype) * rng.choice([-1, 1], 64).astype(dtype)
    _close(sparse_gemv(Wt, x, 0.0), Wt.T.astype(np.float64) @ x.astype(np.float64), dtype, 8)


def test_threshold_zero_skips_exact_zeros_only():
    Wt = np.arange(12.0).reshape(4, 3)
    x = np.array([0.0, 1e-300, -0.0, 2.0])  # a tiny value is kept, both zeros are skipped
    np.testing.assert_array_equal(sparse_gemv(Wt, x, 0.0), 1e-300 * Wt[1] + 2.0 * Wt[3])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_all_skipped_gives_zeros_and_reads_no_row(dtype):
    rng = np.random.default_rng(2)
    Wt = rng.standard_normal((40, 30)).astype(dtype)
    x = rng.uniform(-1, 1, 40).astype(dtype)
    Wt[:] = np.nan  # never read: every input is skipped
    y = sparse_gemv(Wt, x, 1.0)
    np.testing.assert_array_equal(y, np.zeros(30, dtype))
    y = sparse_gemv(Wt, np.zeros(40, dtype), 0.0)
    np.testing.assert_array_equal(y, np.zeros(30, dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_skipped_rows_are_never_read(dtype):
    # NaN in the rows of skipped inputs cannot reach the result if those rows are not read
    rng = np.random.default_rng(3)
    Wt = rng.standard_normal((101, 70)).astype(dtype)
    x = rng.standard_normal(101).astype(dtype)
    small = np.abs(x) <= 0.7
    Wt_nan = Wt.copy()
    Wt_nan[small] = np.nan
    y = sparse_gemv(Wt_nan, x, 0.7)
    _close(y, _masked_dense(Wt, x, 0.7), dtype, 10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ties_at_the_threshold_are_skipped(dtype):
    rng = np.random.default_rng(4)
    Wt = rng.standard_normal((9, 6)).astype(dtype)
    x = np.array([0.5, -0.5, 0.25, 1.0, -1.0, 0.5, 2.0, 0.0, -0.75], dtype=dtype)
    y = sparse_gemv(Wt, x, 0.5)  # |x| == 0.5 (three entries) is skipped
    keep = np.array([3, 4, 6, 8])
    _close(y, Wt[keep].T.astype(np.float64) @ x[keep].astype(np.float64), dtype, 3)
    # a threshold equal to a float32 entry that is not a round decimal: still a tie
    x32 = rng.standard_normal(50).astype(np.float32)
    Wt32 = rng.standard_normal((50, 5)).astype(np.float32)
    t = float(np.abs(x32[7]))
    y = sparse_gemv(Wt32, x32, t)
    kept = np.abs(x32) > np.abs(x32[7])
    assert not kept[7]
    _close(y, Wt32[kept].T.astype(np.float64) @ x32[kept].astype(np.float64), np.float32, 7)


def test_threshold_compared_in_the_dtype_of_x():
    # 0.1 is not a float32: float32(0.1) is 0.1000000015; x equal to it is a tie in float32
    Wt = np.ones((2, 1), np.float32)
    x = np.array([0.1, 0.2], np.float32)
    np.testing.assert_allclose(sparse_gemv(Wt, x, 0.1), [np.float32(0.2)])
    np.testing.assert_allclose(sparse_gemv_reference(Wt, x, 0.1), [np.float32(0.2)])


def test_input_major_round_trip_and_torch_input():
    torch = pytest.importorskip("torch")
    lin = torch.nn.Linear(12, 7, bias=False)
    Wt = input_major(lin.weight)
    assert Wt.shape == (12, 7) and Wt.flags.c_contiguous and Wt.dtype == np.float32
    x = torch.randn(12)
    y = sparse_gemv(Wt, x, 0.0)
    np.testing.assert_allclose(y, lin(x).detach().numpy(), rtol=1e-5, atol=1e-6)
    assert input_major(np.ones((3, 2))).shape == (2, 3)


# --------------------------------------------------------------------------------------------
# cats_mlp
# --------------------------------------------------------------------------------------------

def _mlp(rng, d_ff, d_model, dtype):
    gate, up, down_t = (rng.standard_normal((3, d_ff, d_model)) / np.sqrt(d_model)).astype(dtype)
    x = rng.standard_normal(d_model).astype(dtype)
    return gate, up, down_t, x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (130, 33), (515, 96)])
@pytest.mark.parametrize("sparsity", [0.0, 0.4, 0.7, 1.0])
def test_cats_mlp_matches_masked_dense(shape, sparsity, dtype):
    rng = np.random.default_rng(hash((shape, sparsity, 7)) % 2**32)
    gate, up, down_t, x = _mlp(rng, *shape, dtype)
    h = np.abs(_silu(gate.astype(np.float64) @ x))
    # thresholds halfway between two sorted |h| values: no near-tie decided by rounding
    hs = np.sort(np.concatenate([[0.0], h, [2 * h.max() + 1]]))
    k = int(round(sparsity * len(h)))
    threshold = float((hs[k] + hs[k + 1]) / 2) if sparsity else 0.0
    y = cats_mlp(gate, up, down_t, x, threshold)
    assert y.dtype == dtype and y.shape == (shape[1],)
    want = _cats_dense(gate, up, down_t, x, threshold)
    _close(y, want, dtype, 4)
    _close(cats_mlp_reference(gate, up, down_t, x, threshold), want, dtype, 4)
    if sparsity == 1.0:
        np.testing.assert_array_equal(y, 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cats_mlp_skips_up_and_down_rows_of_inactive_neurons(dtype):
    rng = np.random.default_rng(5)
    gate, up, down_t, x = _mlp(rng, 200, 40, dtype)
    gate[::3] = 0  # silu(0) = 0: a tie at threshold 0, so these neurons are skipped
    want = _cats_dense(gate, up, down_t, x, 0.0)
    up[::3] = np.nan
    down_t[::3] = np.nan
    _close(cats_mlp(gate, up, down_t, x, 0.0), want, dtype, 4)


def test_cats_mlp_agrees_with_torch_swiglu_at_threshold_zero():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    d_model, d_ff = 24, 64
    g, u = torch.nn.Linear(d_model, d_ff, bias=False), torch.nn.Linear(d_model, d_ff, bias=False)
    d = torch.nn.Linear(d_ff, d_model, bias=False)
    x = torch.randn(d_model)
    with torch.no_grad():
        want = d(torch.nn.functional.silu(g(x)) * u(x)).numpy()
    y = cats_mlp(g.weight, u.weight, input_major(d.weight), x, 0.0)
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------

def test_sparse_gemv_bad_input():
    Wt = np.ones((4, 3), np.float32)
    x = np.ones(4, np.float32)
    for t in (-0.1, float("nan")):
        with pytest.raises(ValueError, match="threshold"):
            sparse_gemv(Wt, x, t)
    for t in ("0.1", None, True, 1j):
        with pytest.raises(TypeError, match="threshold"):
            sparse_gemv(Wt, x, t)
    with pytest.raises(ValueError, match=r"input_major"):  # the (out, in) weight passed
        sparse_gemv(np.ones((3, 4), np.float32), x, 0.1)
    with pytest.raises(ValueError, match=r"x has length 5"):
        sparse_gemv(Wt, np.ones(5, np.float32), 0.1)
    with pytest.raises(ValueError, match=r"Wt must be C-contiguous.*input_major"):
        sparse_gemv(np.ones((3, 4), np.float32).T, x, 0.1)
    with pytest.raises(ValueError, match="Wt must be 2-D"):
        sparse_gemv(np.ones(4, np.float32), x, 0.1)
    with pytest.raises(ValueError, match="x must be 1-D"):
        sparse_gemv(Wt, np.ones((4, 1), np.float32), 0.1)
    with pytest.raises(TypeError, match="Wt must be float32 or float64"):
        sparse_gemv(np.ones((4, 3), np.int64), x, 0.1)
    with pytest.raises(TypeError, match="x must be real-valued"):
        sparse_gemv(Wt, np.ones(4, np.complex64), 0.1)
    with pytest.raises(TypeError, match="x has dtype float64 but the weights are float32"):
        sparse_gemv(Wt, np.ones(4), 0.1)
    with pytest.raises(TypeError, match="Wt must be a NumPy array"):
        sparse_gemv(Wt.tolist(), x, 0.1)
    for bad in (np.nan, np.inf):
        with pytest.raises(ValueError, match="x contains NaN or infinity"):
            sparse_gemv(Wt, np.array([1, bad, 0, 0], np.float32), 0.1)
    W_nan = Wt.copy()
    W_nan[2, 1] = np.nan
    with pytest.raises(ValueError, match="Wt contains NaN"):  # row 2 is active
        sparse_gemv(W_nan, x, 0.1)
    with pytest.raises(TypeError, match="W must be float32 or float64"):
        input_major(np.ones((2, 2), bool))
    with pytest.raises(ValueError, match="W must be 2-D"):
        input_major(np.ones(3))


def test_sparse_gemv_overflow_warns():
    Wt = np.full((2, 1), 3e38, np.float32)
    with pytest.warns(RuntimeWarning, match="overflowed"):
        sparse_gemv(Wt, np.ones(2, np.float32), 0.0)


def test_cats_mlp_bad_input():
    rng = np.random.default_rng(6)
    gate, up, down_t, x = _mlp(rng, 8, 5, np.float32)
    with pytest.raises(ValueError, match="threshold"):
        cats_mlp(gate, up, down_t, x, -1.0)
    with pytest.raises(ValueError, match="threshold"):
        cats_mlp(gate, up, down_t, x, float("nan"))
    with pytest.raises(ValueError, match=r"down_proj.weight.*input_major"):
        cats_mlp(gate, up, np.ascontiguousarray(down_t.T), x, 0.1)
    with pytest.raises(ValueError, match="down_t must be C-contiguous"):
        cats_mlp(gate, up, down_t.T.copy().T, x, 0.1)
    with pytest.raises(ValueError, match="up must have gate's shape"):
        cats_mlp(gate, up[:7], down_t, x, 0.1)
    with pytest.raises(ValueError, match="x must have length 5"):
        cats_mlp(gate, up, down_t, x[:4], 0.1)
    with pytest.raises(TypeError, match="up has dtype float64 but gate has float32"):
        cats_mlp(gate, up.astype(np.float64), down_t, x, 0.1)
    with pytest.raises(TypeError, match="x has dtype float64"):
        cats_mlp(gate, up, down_t, x.astype(np.float64), 0.1)
    with pytest.raises(TypeError, match="gate must be float32 or float64"):
        cats_mlp(gate.astype(np.int32), up, down_t, x, 0.1)
    with pytest.raises(TypeError, match="down_t must be real-valued"):
        cats_mlp(gate, up, down_t.astype(np.complex64), x, 0.1)
    with pytest.raises(ValueError, match="x contains NaN"):
        cats_mlp(gate, up, down_t, np.full(5, np.nan, np.float32), 0.1)
    bad = up.copy()
    bad[:] = np.inf
    with pytest.raises(ValueError, match="up contains NaN or infinity"):
        cats_mlp(gate, bad, down_t, x, 0.0)


# --------------------------------------------------------------------------------------------
# Triton (interpreter on the CPU; small grids: each program runs in Python)
# --------------------------------------------------------------------------------------------

triton_only = pytest.mark.skipif(
    not triton_available(), reason="needs triton with a GPU or TRITON_INTERPRET=1")


@triton_only
@pytest.mark.parametrize("sparsity", [0.0, 0.5, 1.0])
def test_triton_sparse_gemv_matches_masked_dense(sparsity):
    from sparsecourse.kernels import triton_sparse_gemv

    rng = np.random.default_rng(8)
    Wt = rng.standard_normal((70, 45)).astype(np.float32)
    x = rng.standard_normal(70).astype(np.float32)
    x[3] = 0.5
    threshold = 0.5 if sparsity == 0.5 else (0.0 if sparsity == 0.0 else 1e9)
    y = triton_sparse_gemv(Wt, x, threshold, block_in=16, block_out=32)
    np.testing.assert_allclose(y.cpu().numpy(), _masked_dense(Wt, x, threshold),
                               rtol=1e-4, atol=1e-4)


@triton_only
def test_triton_cats_mlp_matches_masked_dense():
    from sparsecourse.kernels import triton_cats_mlp

    rng = np.random.default_rng(9)
    gate, up, down_t, x = _mlp(rng, 40, 24, np.float32)
    gate[::4] = 0  # ties at threshold 0
    h = np.abs(_silu(gate.astype(np.float64) @ x))
    threshold = float(np.sort(h)[20] + np.sort(h)[21]) / 2
    y = triton_cats_mlp(gate, up, down_t, x, threshold, block_ff=16, block_model=16)
    np.testing.assert_allclose(y.cpu().numpy(), _cats_dense(gate, up, down_t, x, threshold),
                               rtol=1e-4, atol=1e-4)
    y0 = triton_cats_mlp(gate, up, down_t, x, 0.0, block_ff=16, block_model=16)
    np.testing.assert_allclose(y0.cpu().numpy(), _cats_dense(gate, up, down_t, x, 0.0),
                               rtol=1e-4, atol=1e-4)


@triton_only
def test_triton_bad_input():
    from sparsecourse.kernels import triton_cats_mlp, triton_sparse_gemv

    Wt, x = np.ones((4, 3), np.float32), np.ones(4, np.float32)
    with pytest.raises(ValueError, match="threshold"):
        triton_sparse_gemv(Wt, x, -1.0)
    with pytest.raises(ValueError, match="input_major"):
        triton_sparse_gemv(Wt.T.copy(), x, 0.1)
    with pytest.raises(TypeError, match="Wt must be a float"):
        triton_sparse_gemv(Wt.astype(np.int32), x, 0.1)
    with pytest.raises(ValueError, match="block_in must be a power of two"):
        triton_sparse_gemv(Wt, x, 0.1, block_in=3)
    with pytest.raises(ValueError, match="x contains NaN"):
        triton_sparse_gemv(Wt, np.full(4, np.nan, np.float32), 0.1)
    with pytest.raises(ValueError, match="input_major"):
        triton_cats_mlp(Wt, Wt, Wt.T.copy(), np.ones(3, np.float32), 0.1)
