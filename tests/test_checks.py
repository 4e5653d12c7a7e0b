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
