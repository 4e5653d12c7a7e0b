"""N:M sparsity: masks, the packed 2:4 format, the numba GEMV/GEMM against the dense product,
N:M training from scratch, bad input and the docstring examples."""

import doctest
import importlib

import numpy as np
import pytest

from sparsecourse.kernels import nm as K
from sparsecourse.kernels import nm_gemm, nm_gemv, nm_mask, nm_pack, nm_unpack


def sparse(out, n_in, n=2, m=4, dtype=np.float32, seed=0):
    W = np.random.default_rng(seed).standard_normal((out, n_in)).astype(dtype)
    return W * nm_mask(W, n, m)


@pytest.mark.parametrize("n,m", [(2, 4), (1, 4), (3, 4), (1, 2), (2, 8), (4, 16)])
def test_mask_has_exactly_n_per_group_and_keeps_the_largest(n, m):
    W = np.random.default_rng(1).standard_normal((7, 4 * m))
    M = nm_mask(W, n, m)
    assert (M.reshape(7, -1, m).sum(-1) == n).all()
    g = np.abs(W).reshape(7, -1, m)
    kept_min = np.where(M.reshape(g.shape), g, np.inf).min(-1)
    dropped_max = np.where(~M.reshape(g.shape), g, -np.inf).max(-1)
    assert (kept_min >= dropped_max).all()


@pytest.mark.parametrize("n,m", [(2, 4), (1, 4), (2, 8), (1, 2), (4, 16)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pack_unpack_round_trip_and_products_match_dense(n, m, dtype):
    W = sparse(37, 64, n, m, dtype)
    W[0, :m] = 0  # a group with fewer non-zeros than n: padded with explicit zeros
    p = nm_pack(W, n, m)
    assert p.values.shape == (37, 64 * n // m) and p.meta.dtype == np.uint8
    np.testing.assert_array_equal(nm_unpack(p), W)
    rng = np.random.default_rng(2)
    x = rng.standard_normal(64).astype(dtype)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(nm_gemv(p, x), W @ x, rtol=tol, atol=tol)
    for batch in (1, 3, 4, 16):
        X = rng.standard_normal((64, batch)).astype(dtype)
        np.testing.assert_allclose(nm_gemm(p, X), W @ X, rtol=tol, atol=tol)


def test_24_metadata_is_two_bits_per_value_and_bytes_are_about_half():
    W = sparse(16, 256)
    p = nm_pack(W)
    assert p.meta.shape == (16, 256 // 8)
    assert p.nbytes == 16 * (128 * 4 + 32)
    assert W.nbytes / p.nbytes == pytest.approx(4 / 2.125)


def test_odd_row_counts_use_the_tail_path():
    W = sparse(13, 48, seed=3)  # 13 rows: not a multiple of the 4-row blocks
    x = np.arange(48, dtype=np.float32)
    np.testing.assert_allclose(nm_gemv(nm_pack(W), x), W @ x, rtol=1e-5)
    np.testing.assert_allclose(nm_gemm(nm_pack(W), np.ones((48, 5), np.float32)),
                               W @ np.ones((48, 5), np.float32), rtol=1e-5)


def test_bad_input():
    W = sparse(4, 16)
    with pytest.raises(ValueError, match="0 < n < m"):
        nm_mask(W, 4, 4)
    with pytest.raises(ValueError, match="not divisible by m"):
        nm_mask(np.ones((2, 10)), 2, 4)
    with pytest.raises(ValueError, match="not 2:4 sparse"):
        nm_pack(np.ones((2, 8)))
    with pytest.raises(TypeError, match="float32 or float64"):
        nm_pack(np.ones((2, 8), dtype=np.int64))
    bad = W.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        nm_pack(bad)
    p = nm_pack(W)
    with pytest.raises(ValueError, match="shape"):
        nm_gemv(p, np.ones(8))
    with pytest.raises(ValueError, match="NaN"):
        nm_gemv(p, np.full(16, np.nan))
    with pytest.raises(TypeError, match="NMPacked"):
        nm_gemv(W, np.ones(16))
    with pytest.raises(ValueError, match="shape"):
        nm_gemm(p, np.ones(16))


def test_nm_training_keeps_the_pattern_and_learns():
    from sparsecourse.pruning import digits_data, train_nm

    data = digits_data()
    for recipe in ("sr-ste", "step", "pgf"):
        res = train_nm(data, recipe=recipe, epochs=4, seed=0)
        assert res.test_acc > 0.8, recipe
        for lin in (mod for mod in res.model if hasattr(mod, "weight")):
            W = lin.weight.detach().numpy()
            assert ((W != 0).reshape(W.shape[0], -1, 4).sum(-1) <= 2).all()
    res = train_nm(data, pattern="unstructured", epochs=2)
    assert res.density == 0.5
    with pytest.raises(ValueError, match="recipe"):
        train_nm(data, recipe="adam")


@pytest.mark.parametrize("name", ["sparsecourse.kernels.nm", "sparsecourse.pruning.nm_training"])
def test_doctests(name):
    res = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert res.failed == 0


def test_kernels_exported():
    assert K.nm_gemv is nm_gemv
