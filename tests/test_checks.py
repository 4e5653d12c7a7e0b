"""The exercise checkers accept right answers and explain wrong ones."""

import numpy as np
import scipy.sparse as sp

from sparsecourse import checks


def good_spmv(indptr, indices, data, x):
    y = np.zeros(len(indptr) - 1)
    for i in range(len(y)):
        for p in range(indptr[i], indptr[i + 1]):
            y[i] += data[p] * x[indices[p]]
    return y


def test_check_spmv_accepts_a_correct_answer():
    r = checks.check_spmv(good_spmv)
    assert r and r.passed and repr(r).startswith("PASS")
    assert "PASS" in r._repr_html_()


def test_check_spmv_explains_wrong_answers():
    def off_by_one(indptr, indices, data, x):  # forgets the last stored value of each row
        y = np.zeros(len(indptr) - 1)
        for i in range(len(y)):
            for p in range(indptr[i], indptr[i + 1] - 1):
                y[i] += data[p] * x[indices[p]]
        return y

    r = checks.check_spmv(off_by_one)
    assert not r and "rows" in r.message and repr(r).startswith("FAIL")

    r = checks.check_spmv(lambda indptr, indices, data, x: np.zeros(len(indptr)))
    assert not r and "shape" in r.message

    def crashes(indptr, indices, data, x):
        raise NotImplementedError("todo")

    r = checks.check_spmv(crashes)
    assert not r and "NotImplementedError" in r.message
    assert not checks.check_spmv("not a function")


def test_check_dense_to_csr():
    def good(M):
        A = sp.csr_array(M)
        return A.indptr, A.indices, A.data

    assert checks.check_dense_to_csr(good)

    def keeps_zeros(M):
        A = sp.csr_array(M)
        B = sp.csr_array(M + 0.0)
        return A.indptr, A.indices, np.append(B.data, 0.0)

    r = checks.check_dense_to_csr(keeps_zeros)
    assert not r and "data" in r.message

    def indptr_without_leading_zero(M):
        A = sp.csr_array(M)
        return A.indptr[1:], A.indices, A.data

    r = checks.check_dense_to_csr(indptr_without_leading_zero)
    assert not r and "indptr" in r.message and "Hint" in r.message
    assert not checks.check_dense_to_csr(lambda M: None)


def test_check_crossover_density():
    assert checks.check_crossover_density(0.5)
    assert checks.check_crossover_density(8 / 12, value_bytes=8, index_bytes=4)
    r = checks.check_crossover_density(50)
    assert not r and "fraction" in r.message
    r = checks.check_crossover_density(1 / 8)
    assert not r and "bytes" in r.message
    assert not checks.check_crossover_density(0.3)
    assert not checks.check_crossover_density("half")


def test_check_close():
    assert checks.check_close(np.array([1.0, 2.0]), [1.0, 2.0 + 1e-9])
    assert not checks.check_close([1.0, 2.0], [1.0, 2.5])
    assert "shape" in checks.check_close([1.0], [1.0, 2.0]).message
    assert "NaN" in checks.check_close([np.nan], [1.0]).message
    assert not checks.check_close("abc", 1.0)


# --- chapter 1: sparse regression ------------------------------------------------------------

def test_check_soft_threshold():
    def good(x, tau):
        return np.sign(x) * np.maximum(np.abs(x) - tau, 0.0)

    r = checks.check_soft_threshold(good)
    assert r and repr(r).startswith("PASS")

    r = checks.check_soft_threshold(lambda x, tau: np.where(np.abs(x) > tau, x, 0.0))
    assert not r and "hard" in r.message

    r = checks.check_soft_threshold(lambda x, tau: x - tau * np.sign(x))
    assert not r and "exactly 0" in r.message

    r = checks.check_soft_threshold(lambda x, tau: np.maximum(np.abs(x) - tau, 0.0))
    assert not r and "sign" in r.message

    def scalar_only(x, tau):  # fails on arrays with per-entry thresholds
        return float(np.sign(x) * max(abs(x) - tau, 0.0))

    r = checks.check_soft_threshold(scalar_only)
    assert not r and "raised" in r.message

    r = checks.check_soft_threshold(lambda x, tau: np.zeros(3))
    assert not r and "shape" in r.message
    assert not checks.check_soft_threshold(lambda x, tau: np.full(np.shape(x), np.nan))
    assert not checks.check_soft_threshold(42)


def _good_sweep(X, y, w, alpha):
    n = len(y)
    w = np.array(w, dtype=float)
    r = y - X @ w
    for j in range(X.shape[1]):
        nj = X[:, j] @ X[:, j]
        if nj == 0:
            continue
        new = np.sign(w[j] + X[:, j] @ r / nj) * max(abs(w[j] + X[:, j] @ r / nj)
                                                     - n * alpha / nj, 0.0)
        r -= (new - w[j]) * X[:, j]
        w[j] = new
    return w


def test_check_cd_sweep():
    r = checks.check_cd_sweep(_good_sweep)
    assert r and repr(r).startswith("PASS")

    def jacobi(X, y, w, alpha):  # uses the residual of the start of the sweep throughout
        n = len(y)
        w = np.array(w, dtype=float)
        r = y - X @ w
        new = w.copy()
        for j in range(X.shape[1]):
            nj = X[:, j] @ X[:, j]
            if nj == 0:
                continue
            v = w[j] + X[:, j] @ r / nj
            new[j] = np.sign(v) * max(abs(v) - n * alpha / nj, 0.0)
        return new

    r = checks.check_cd_sweep(jacobi)
    assert not r and "after each coordinate" in r.message

    def no_n(X, y, w, alpha):  # forgets the 1/n of scikit-learn's objective
        return _good_sweep(X, y, w, alpha / len(y))

    r = checks.check_cd_sweep(no_n)
    assert not r and "1/(2n)" in r.message

    def divides_by_zero(X, y, w, alpha):
        with np.errstate(divide="ignore", invalid="ignore"):
            n = len(y)
            w = np.array(w, dtype=float)
            r = y - X @ w
            for j in range(X.shape[1]):
                nj = X[:, j] @ X[:, j]
                v = w[j] + X[:, j] @ r / nj
                new = np.sign(v) * max(abs(v) - n * alpha / nj, 0.0)
                r -= (new - w[j]) * X[:, j]
                w[j] = new
            return w

    r = checks.check_cd_sweep(divides_by_zero)
    assert not r and "zeros" in r.message

    r = checks.check_cd_sweep(lambda X, y, w, alpha: w[:-1])
    assert not r and "shape" in r.message
    assert not checks.check_cd_sweep(lambda X, y, w, alpha: "w")
    assert not checks.check_cd_sweep(None)


def _good_omp_step(X, y, support):
    support = list(support)
    r = y.copy()
    if support:
        r = y - X[:, support] @ np.linalg.lstsq(X[:, support], y, rcond=None)[0]
    c = np.abs(X.T @ r)
    c[support] = -1
    S = support + [int(np.argmax(c))]
    coef = np.zeros(X.shape[1])
    coef[S] = np.linalg.lstsq(X[:, S], y, rcond=None)[0]
    return S[-1], coef


def test_check_omp_step():
    r = checks.check_omp_step(_good_omp_step)
    assert r and repr(r).startswith("PASS")

    def signed(X, y, support):  # argmax of the signed correlation
        support = list(support)
        r = y if not support else y - X[:, support] @ np.linalg.lstsq(
            X[:, support], y, rcond=None)[0]
        c = X.T @ r
        c[support] = -np.inf
        S = support + [int(np.argmax(c))]
        coef = np.zeros(X.shape[1])
        coef[S] = np.linalg.lstsq(X[:, S], y, rcond=None)[0]
        return S[-1], coef

    r = checks.check_omp_step(signed)
    assert not r and "absolute" in r.message

    def matching_pursuit(X, y, support):  # fits only the new coefficient
        support = list(support)
        j, _ = _good_omp_step(X, y, support)
        coef = np.zeros(X.shape[1])
        if support:
            _, prev = _good_omp_step(X, y, support[:-1])
            coef = prev
        coef = coef.copy()
        coef[j] = X[:, j] @ (y - X @ coef) / (X[:, j] @ X[:, j])
        return j, coef

    r = checks.check_omp_step(matching_pursuit)
    assert not r and "least squares" in r.message

    def correlates_with_y(X, y, support):
        c = np.abs(X.T @ y)
        c[list(support)] = -1
        S = list(support) + [int(np.argmax(c))]
        coef = np.zeros(X.shape[1])
        coef[S] = np.linalg.lstsq(X[:, S], y, rcond=None)[0]
        return S[-1], coef

    r = checks.check_omp_step(correlates_with_y)
    assert not r and "residual" in r.message

    r = checks.check_omp_step(lambda X, y, support: 3)
    assert not r and "(j, coef)" in r.message
    r = checks.check_omp_step(lambda X, y, support: (_good_omp_step(X, y, support)[0],
                                                     np.zeros(2)))
    assert not r and "shape" in r.message
    assert not checks.check_omp_step("omp")
