"""Synthetic data generators and offline loaders."""

import numpy as np
import pytest
import scipy.sparse as sp

from sparsecourse import datasets as ds


@pytest.mark.parametrize("distribution", ["gaussian", "rademacher", "uniform"])
def test_sparse_signal_has_exactly_s_nonzeros(distribution):
    x, support = ds.sparse_signal(50, 7, seed=3, distribution=distribution, return_support=True)
    assert x.shape == (50,) and np.count_nonzero(x) == 7
    np.testing.assert_array_equal(np.flatnonzero(x), support)
    if distribution == "rademacher":
        assert set(np.abs(x[support])) == {1.0}
    if distribution == "uniform":
        assert np.all(np.abs(x[support]) >= 0.5)


def test_sparse_signal_seeding():
    np.testing.assert_array_equal(ds.sparse_signal(30, 5, seed=1), ds.sparse_signal(30, 5, seed=1))
    assert not np.array_equal(ds.sparse_signal(30, 5, seed=1), ds.sparse_signal(30, 5, seed=2))
    rng = np.random.default_rng(0)
    a, b = ds.sparse_signal(30, 5, seed=rng), ds.sparse_signal(30, 5, seed=rng)
    assert not np.array_equal(a, b)  # a Generator advances


def test_sparse_signal_errors():
    with pytest.raises(ValueError, match="s must be <= 10"):
        ds.sparse_signal(10, 11)
    with pytest.raises(ValueError, match="distribution"):
        ds.sparse_signal(10, 2, distribution="cauchy")
    with pytest.raises(TypeError, match="seed"):
        ds.sparse_signal(10, 2, seed="abc")
    with pytest.raises(TypeError, match="n must be an integer"):
        ds.sparse_signal(10.0, 2)


def test_gaussian_matrix_normalizations():
    A = ds.gaussian_matrix(30, 60, seed=0)
    np.testing.assert_allclose(np.linalg.norm(A, axis=0), 1.0)
    B = ds.gaussian_matrix(4000, 3, seed=0, normalize="sqrt_m")
    np.testing.assert_allclose(np.linalg.norm(B, axis=0), 1.0, atol=0.05)
    C = ds.gaussian_matrix(2000, 2, seed=0, normalize=None)
    assert abs(C.std() - 1) < 0.05
    with pytest.raises(ValueError, match="normalize"):
        ds.gaussian_matrix(3, 3, normalize="rows")


def test_partial_fourier_rows_are_orthogonal_and_columns_unit_norm():
    F = ds.partial_fourier_matrix(16, 64, seed=0)
    np.testing.assert_allclose(F @ F.conj().T, np.eye(16) * 64 / 16, atol=1e-10)
    np.testing.assert_allclose(np.linalg.norm(F, axis=0), 1.0)
    R = ds.partial_fourier_matrix(16, 64, seed=0, real=True)
    assert R.shape == (32, 64) and R.dtype == np.float64
    np.testing.assert_allclose(np.linalg.norm(R, axis=0), 1.0)
    with pytest.raises(ValueError, match="m must be <= 64"):
        ds.partial_fourier_matrix(65, 64)


@pytest.mark.parametrize("density", [0.0, 0.001, 0.04, 0.3, 1.0])
def test_random_csr_is_canonical_with_the_right_density(density):
    A = ds.random_csr(400, 300, density, seed=0)
    assert isinstance(A, sp.csr_array) and A.dtype == np.float32
    assert A.indices.dtype == np.int32
    A.check_format(full_check=True)
    assert A.has_sorted_indices
    B = A.copy()
    B.sum_duplicates()
    assert B.nnz == A.nnz  # no duplicate entries
    expected = density * 400 * 300
    assert abs(A.nnz - expected) <= 5 * np.sqrt(expected + 1)


def test_random_csr_empty_rows_and_seeding():
    A = ds.random_csr(1000, 50, 0.5, seed=1, empty_rows=0.3)
    frac_empty = np.mean(np.diff(A.indptr) == 0)
    assert 0.25 < frac_empty < 0.35
    B = ds.random_csr(1000, 50, 0.5, seed=1, empty_rows=0.3)
    assert (A != B).nnz == 0
    assert ds.random_csr(0, 5, 0.5).shape == (0, 5)
    assert ds.random_csr(5, 0, 0.5).nnz == 0
    assert ds.random_csr(3, 3, 1.0, dtype=np.float64).dtype == np.float64


@pytest.mark.parametrize("density", [-0.1, 1.5, float("nan")])
def test_random_csr_rejects_bad_density(density):
    with pytest.raises(ValueError, match="density"):
        ds.random_csr(3, 3, density)


def test_offline_loaders():
    X, y = ds.load_digits()
    assert X.shape == (1797, 64) and X.max() <= 1.0 and set(np.unique(y)) == set(range(10))
    Xd, yd, names = ds.load_diabetes()
    assert Xd.shape == (442, 10) and len(names) == 10
    np.testing.assert_allclose(np.linalg.norm(Xd, axis=0), 1.0)
    assert abs(yd.mean()) < 1e-10
    img = ds.load_sample_image("china.jpg")
    assert img.shape == (427, 640) and 0 <= img.min() and img.max() <= 1
    assert ds.load_sample_image("flower.jpg", gray=False).shape == (427, 640, 3)
    with pytest.raises(ValueError, match="china.jpg"):
        ds.load_sample_image("cat.png")


def test_image_patches():
    img = ds.load_sample_image()
    P = ds.image_patches(img, 6, 200, seed=0)
    assert P.shape == (200, 36)
    np.testing.assert_allclose(P.mean(axis=1), 0, atol=1e-12)
    np.testing.assert_array_equal(P, ds.image_patches(img, 6, 200, seed=0))
    Q = ds.image_patches(img[:10, :10], 8, None, center=False)
    assert Q.shape == (9, 64)
    with pytest.raises(ValueError, match="patch_size"):
        ds.image_patches(img[:5, :5], 8)
    with pytest.raises(ValueError, match="2-D"):
        ds.image_patches(np.ones(10), 2)


def test_random_csr_rejects_non_float_dtype():
    with pytest.raises(TypeError, match="dtype"):
        ds.random_csr(3, 3, 0.5, dtype=np.int32)


def test_correlated_design_and_simulated_problem():
    X = ds.correlated_design(5000, 4, rho=0.8, seed=0)
    assert X.flags.f_contiguous
    C = np.corrcoef(X, rowvar=False)
    np.testing.assert_allclose(C[0, 1], 0.8, atol=0.03)
    np.testing.assert_allclose(C[0, 2], 0.64, atol=0.03)
    X2, y, w = ds.simulated_lasso_problem(200, 50, rho=0.6, density=0.2, snr=4.0, seed=1)
    assert np.count_nonzero(w) == 10
    noise = y - X2 @ w
    np.testing.assert_allclose(np.linalg.norm(X2 @ w) / np.linalg.norm(noise), 4.0)
    with pytest.raises(ValueError, match="rho"):
        ds.correlated_design(3, 3, rho=1.0)
    with pytest.raises(ValueError, match="snr"):
        ds.simulated_lasso_problem(3, 3, snr=0)
