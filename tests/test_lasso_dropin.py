"""``regression.Lasso`` as a drop-in for ``sklearn.linear_model.Lasso``: every option that
scikit-learn has (positive, sample_weight, precompute, selection/random_state, copy_X, float32,
sparse X, multi-output y, alpha=0) against scikit-learn on the same input, and the function
API (``lasso_cd``, ``lasso_path``, ``alpha_max``, ``lasso_cd_reference``) with the same
options. scikit-learn's own tests run against our estimator in test_sklearn_lasso_peer.py."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso as SkLasso
from sklearn.linear_model import LinearRegression
from sklearn.linear_model import lasso_path as sk_lasso_path

from sparsecourse import regression as rg
from sparsecourse.datasets import simulated_lasso_problem
from sparsecourse.regression._kernels import gram_design

TIGHT = {"tol": 1e-12}
SK_TIGHT = {"tol": 1e-12, "max_iter": 10**6}
ATOL = 1e-6  # coefficients of order 1; both solvers stop on the same duality gap


def problem(n=60, p=40, seed=0, shift=2.0):
    X, y, _ = simulated_lasso_problem(n, p, rho=0.5, density=0.2, snr=3.0, seed=seed)
    return X, y + shift


def alpha_at(X, y, frac=0.05, **kw):
    return frac * rg.alpha_max(X, y, fit_intercept=True, **kw)


def fit_both(X, y, sample_weight=None, **params):
    ours = rg.Lasso(**params, **TIGHT).fit(X, y, sample_weight=sample_weight)
    sk = SkLasso(**params, **SK_TIGHT).fit(X, y, sample_weight=sample_weight)
    return ours, sk


def assert_same(ours, sk, atol=ATOL):
    assert np.shape(ours.coef_) == np.shape(sk.coef_)
    assert_allclose(ours.coef_, sk.coef_, atol=atol)
    assert_allclose(ours.intercept_, sk.intercept_, atol=atol)


# ------------------------------------------------------------------------------------------
# positive
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("shape", [(60, 40), (30, 120)])
def test_positive_matches_sklearn(fit_intercept, shape):
    X, y = problem(*shape, seed=shape[1])
    alpha = alpha_at(X, y, 0.02, positive=True)
    ours, sk = fit_both(X, y, alpha=alpha, fit_intercept=fit_intercept, positive=True)
    assert np.all(ours.coef_ >= 0) and np.any(ours.coef_ > 0)
    assert_same(ours, sk)
    unconstrained = rg.Lasso(alpha=alpha, fit_intercept=fit_intercept).fit(X, y)
    assert np.any(unconstrained.coef_ < 0)  # the constraint matters on this problem


def test_positive_function_api_reference_and_gap():
    X, y = problem(40, 60, seed=3, shift=0.0)
    alpha = 0.02 * rg.alpha_max(X, y, positive=True)
    fast = rg.lasso_cd(X, y, alpha, positive=True, tol=1e-14)
    ref = rg.lasso_cd_reference(X, y, alpha, positive=True, tol=1e-12, max_iter=100_000)
    sk = SkLasso(alpha=alpha, fit_intercept=False, positive=True, **SK_TIGHT).fit(X, y)
    assert_allclose(fast, sk.coef_, atol=ATOL)
    assert_allclose(ref, fast, atol=1e-5)
    assert rg.lasso_dual_gap(X, y, fast, alpha, positive=True) < 1e-10
    # the unconstrained gap at the positive solution is not small: the two problems differ
    assert rg.lasso_dual_gap(X, y, fast, alpha) > 1e-6
    with pytest.raises(ValueError, match="coef must be >= 0"):
        rg.lasso_dual_gap(X, y, -np.ones(60), alpha, positive=True)


def test_positive_alpha_max_and_path():
    X, y = problem(40, 30, seed=4, shift=0.0)
    a = rg.alpha_max(X, y, positive=True)
    assert a < rg.alpha_max(X, y)
    assert np.all(rg.lasso_cd(X, y, a * 1.0001, positive=True) == 0)
    assert np.any(rg.lasso_cd(X, y, a * 0.9, positive=True) > 0)
    alphas, coefs, _ = rg.lasso_path(X, y, alphas=8, positive=True, tol=1e-12)
    sk_alphas, sk_coefs, _ = sk_lasso_path(X, y, alphas=alphas, positive=True, tol=1e-12,
                                           max_iter=10**6)
    assert np.all(coefs >= 0)
    assert_allclose(coefs, sk_coefs, atol=ATOL)


# ------------------------------------------------------------------------------------------
# sample_weight
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fit_intercept", [False, True])
def test_sample_weight_matches_sklearn(fit_intercept):
    X, y = problem(50, 30, seed=5)
    sw = np.random.default_rng(0).uniform(0.1, 3.0, size=50)
    sw[:5] = 0.0
    alpha = alpha_at(X, y, 0.03)
    ours, sk = fit_both(X, y, sample_weight=sw, alpha=alpha, fit_intercept=fit_intercept)
    assert_same(ours, sk)
    # integer weights are repeated rows
    reps = np.random.default_rng(1).integers(1, 4, size=50)
    dup = rg.Lasso(alpha=alpha, fit_intercept=fit_intercept, **TIGHT).fit(
        np.repeat(X, reps, axis=0), np.repeat(y, reps))
    wtd = rg.Lasso(alpha=alpha, fit_intercept=fit_intercept, **TIGHT).fit(
        X, y, sample_weight=reps)
    assert_same(wtd, dup)


def test_sample_weight_scalar_and_bad_values():
    X, y = problem(30, 10, seed=6)
    base = rg.Lasso(alpha=0.1).fit(X, y)
    assert_allclose(rg.Lasso(alpha=0.1).fit(X, y, sample_weight=3.0).coef_, base.coef_)
    with pytest.raises(ValueError, match="sample_weight must be >= 0"):
        rg.Lasso().fit(X, y, sample_weight=-np.ones(30))
    with pytest.raises(ValueError, match="one entry per sample"):
        rg.Lasso().fit(X, y, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="all weights zero"):
        rg.Lasso().fit(X, y, sample_weight=np.zeros(30))


# ------------------------------------------------------------------------------------------
# precompute (the Gram path)
# ------------------------------------------------------------------------------------------

def test_gram_design_gives_the_same_objective():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((80, 12))
    y = rng.standard_normal(80)
    Lt, y_red = gram_design(X.T @ X, X.T @ y)
    const = y @ y - y_red @ y_red
    for _ in range(3):
        w = rng.standard_normal(12)
        r = y - X @ w
        r_red = y_red - Lt.T @ w
        assert r @ r == pytest.approx(r_red @ r_red + const, rel=1e-10)
    assert gram_design(np.ones((3, 3)), np.ones(3)) is None  # singular: plain path


@pytest.mark.parametrize("precompute", [True, "auto"])
@pytest.mark.parametrize("fit_intercept", [False, True])
def test_precompute_matches_sklearn(precompute, fit_intercept):
    # ('auto', our extension: the Gram path when n > p, as scikit-learn's ElasticNetCV)
    X, y = problem(200, 20, seed=8)
    alpha = alpha_at(X, y, 0.01)
    ours = rg.Lasso(alpha=alpha, fit_intercept=fit_intercept, precompute=precompute,
                    **TIGHT).fit(X, y)
    sk = SkLasso(alpha=alpha, fit_intercept=fit_intercept, precompute=True,
                 **SK_TIGHT).fit(X, y)
    assert_same(ours, sk)
    plain = rg.Lasso(alpha=alpha, fit_intercept=fit_intercept, **TIGHT).fit(X, y)
    assert_allclose(ours.coef_, plain.coef_, atol=ATOL)


def test_precompute_given_gram_and_its_checks():
    X, y = problem(100, 15, seed=9)
    Xc = X - X.mean(axis=0)
    G = Xc.T @ Xc
    ours = rg.Lasso(alpha=0.05, precompute=G, **TIGHT).fit(Xc, y)
    sk = SkLasso(alpha=0.05, precompute=G, **SK_TIGHT).fit(Xc, y)
    assert_same(ours, sk)
    with pytest.warns(UserWarning, match="recomputing Gram matrix"):
        rg.Lasso(alpha=0.05, precompute=G).fit(X + 1.0, y)
    with pytest.raises(ValueError, match="did not pass validation"):
        rg.Lasso(alpha=0.05, precompute=G + 10.0).fit(Xc, y)
    with pytest.raises(ValueError, match="shape"):
        rg.Lasso(precompute=np.eye(3)).fit(Xc, y)
    with pytest.raises(ValueError, match="precompute"):
        rg.Lasso(precompute="always").fit(Xc, y)
    # more features than samples: the Gram matrix is singular, the plain path runs
    Xw, yw = problem(20, 60, seed=10)
    assert_allclose(rg.Lasso(alpha=0.1, precompute=True, **TIGHT).fit(Xw, yw).coef_,
                    rg.Lasso(alpha=0.1, **TIGHT).fit(Xw, yw).coef_, atol=ATOL)


# ------------------------------------------------------------------------------------------
# selection, random_state, copy_X
# ------------------------------------------------------------------------------------------

def test_random_selection_converges_to_the_same_solution():
    X, y = problem(50, 80, seed=11)
    alpha = alpha_at(X, y, 0.03)
    cyc = rg.Lasso(alpha=alpha, **TIGHT).fit(X, y)
    rnd = rg.Lasso(alpha=alpha, selection="random", random_state=0, **TIGHT).fit(X, y)
    sk = SkLasso(alpha=alpha, selection="random", random_state=0, **SK_TIGHT).fit(X, y)
    assert_same(rnd, cyc)
    assert_same(rnd, sk)
    again = rg.Lasso(alpha=alpha, selection="random", random_state=0, **TIGHT).fit(X, y)
    assert np.array_equal(again.coef_, rnd.coef_)  # same seed, same result
    w = rg.lasso_cd(X - X.mean(0), y - y.mean(), alpha, selection="random", random_state=3,
                    tol=1e-12)
    assert_allclose(w, cyc.coef_, atol=ATOL)
    with pytest.raises(ValueError, match="selection"):
        rg.Lasso(selection="greedy").fit(X, y)
    with pytest.raises(ValueError, match="selection"):
        rg.lasso_cd(X, y, 0.1, selection="greedy")


@pytest.mark.parametrize("sample_weight", [None, "random"])
def test_copy_X(sample_weight):
    X, y = problem(40, 20, seed=12)
    X = np.asfortranarray(X)
    sw = None if sample_weight is None else np.random.default_rng(0).uniform(0.5, 2, 40)
    X0 = X.copy()
    ref = rg.Lasso(alpha=0.05).fit(X, y, sample_weight=sw)
    assert np.array_equal(X, X0)  # copy_X=True (default): X untouched
    inplace = rg.Lasso(alpha=0.05, copy_X=False).fit(X, y, sample_weight=sw)
    assert_allclose(inplace.coef_, ref.coef_, atol=1e-12)
    assert not np.array_equal(X, X0)  # copy_X=False: X was centred in place, as sklearn


# ------------------------------------------------------------------------------------------
# float32, sparse X, multi-output y, alpha = 0
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fit_intercept", [False, True])
def test_float32_is_preserved(fit_intercept):
    X, y = problem(60, 30, seed=13)
    X32, y32 = X.astype(np.float32), y.astype(np.float32)
    alpha = alpha_at(X, y, 0.05)
    ours = rg.Lasso(alpha=alpha, fit_intercept=fit_intercept, tol=1e-10).fit(X32, y32)
    with warnings.catch_warnings():  # scikit-learn's float32 arithmetic stalls above 1e-10
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = SkLasso(alpha=alpha, fit_intercept=fit_intercept, tol=1e-10,
                     max_iter=10**5).fit(X32, y32)
    ours64 = rg.Lasso(alpha=alpha, fit_intercept=fit_intercept, **TIGHT).fit(X, y)
    assert ours.coef_.dtype == np.float32 == sk.coef_.dtype
    assert np.asarray(ours.intercept_).dtype == np.float32
    assert ours.predict(X32).dtype == np.float32
    assert_allclose(ours.coef_, sk.coef_, atol=1e-4)
    assert_allclose(ours.coef_, ours64.coef_, atol=1e-4)
    w32 = rg.lasso_cd(X32, y32, alpha, tol=1e-12)
    w64 = rg.lasso_cd(X32.astype(np.float64), y32, alpha, tol=1e-12)
    assert_allclose(w32, w64, atol=1e-8)  # float32 read as is, float64 arithmetic


@pytest.mark.parametrize("container", [sp.csc_array, sp.csr_matrix])
@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_sparse_X_matches_dense_and_sklearn(container, fit_intercept, weighted):
    rng = np.random.default_rng(14)
    X = rng.standard_normal((60, 80)) * (rng.random((60, 80)) < 0.2) + 0.0
    y = X[:, :5] @ np.arange(1.0, 6.0) + 0.1 * rng.standard_normal(60) + 1.0
    sw = rng.uniform(0.2, 2.0, 60) if weighted else None
    alpha = alpha_at(X, y, 0.05)
    Xs = container(X)
    ours = rg.Lasso(alpha=alpha, fit_intercept=fit_intercept, **TIGHT).fit(Xs, y, sw)
    dense = rg.Lasso(alpha=alpha, fit_intercept=fit_intercept, **TIGHT).fit(X, y, sw)
    sk = SkLasso(alpha=alpha, fit_intercept=fit_intercept, **SK_TIGHT).fit(Xs, y, sw)
    assert_same(ours, dense)
    assert_same(ours, sk)
    assert_allclose(ours.predict(Xs), dense.predict(X), atol=1e-8)
    assert sp.issparse(ours.sparse_coef_)


def test_sparse_X_function_api():
    rng = np.random.default_rng(15)
    X = sp.random_array((50, 200), density=0.1, rng=rng, format="csc")
    y = X @ np.r_[np.ones(5), np.zeros(195)] + 0.01 * rng.standard_normal(50)
    Xd = X.toarray()
    alpha = 0.05 * rg.alpha_max(Xd, y)
    assert_allclose(rg.lasso_cd(X, y, alpha, tol=1e-12), rg.lasso_cd(Xd, y, alpha, tol=1e-12),
                    atol=1e-9)
    _, c_sparse, _ = rg.lasso_path(X, y, alphas=5, tol=1e-12)
    _, c_dense, _ = rg.lasso_path(Xd, y, alphas=5, tol=1e-12)
    assert_allclose(c_sparse, c_dense, atol=1e-9)
    bad = X.copy()
    bad.data[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        rg.lasso_cd(bad, y, alpha)
    with pytest.raises(ValueError, match="inconsistent"):
        rg.lasso_cd(X, y[:10], alpha)


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_multi_output_y(fit_intercept):
    X, y = problem(50, 30, seed=16)
    Y = np.c_[y, -0.5 * y + 1.0, X[:, 3]]
    alpha = alpha_at(X, y, 0.05)
    ours, sk = fit_both(X, Y, alpha=alpha, fit_intercept=fit_intercept)
    assert ours.coef_.shape == (3, 30) and ours.intercept_.shape == (3,)
    assert len(ours.n_iter_) == 3 and ours.dual_gap_.shape == (3,)
    assert_same(ours, sk)
    for k in range(3):
        single = rg.Lasso(alpha=alpha, fit_intercept=fit_intercept, **TIGHT).fit(X, Y[:, k])
        assert_allclose(ours.coef_[k], single.coef_, atol=1e-9)
    assert ours.predict(X).shape == (50, 3)
    one = rg.Lasso(alpha=alpha).fit(X, y[:, None])  # a single column: 1-D coef_, as sklearn
    assert one.coef_.shape == (30,) and one.intercept_.shape == (1,)
    assert one.predict(X).shape == (50,)
    warm = rg.Lasso(alpha=alpha, fit_intercept=fit_intercept, warm_start=True, **TIGHT)
    warm.fit(X, Y)
    warm.fit(X, Y)
    assert_allclose(warm.coef_, ours.coef_, atol=ATOL)


def test_alpha_zero_warns_and_fits_least_squares():
    X, y = problem(60, 10, seed=17)
    with pytest.warns(UserWarning, match="With alpha=0"):
        ours = rg.Lasso(alpha=0).fit(X, y)
    ols = LinearRegression().fit(X, y)
    assert_allclose(ours.coef_, ols.coef_, atol=1e-10)
    assert ours.intercept_ == pytest.approx(ols.intercept_)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = SkLasso(alpha=0, tol=1e-12, max_iter=10**5).fit(X, y)
        pos = rg.Lasso(alpha=0, positive=True).fit(X, y)
        sparse = rg.Lasso(alpha=0).fit(sp.csc_array(X), y)
    assert_allclose(ours.coef_, sk.coef_, atol=1e-6)
    assert np.all(pos.coef_ >= 0)
    assert_allclose(sparse.coef_, ours.coef_, atol=1e-10)


def test_convergence_warning_uses_sklearn_words():
    X, y = problem(40, 100, seed=18)
    with pytest.warns(ConvergenceWarning, match="Objective did not converge. You might want "
                                                "to increase the number of iterations"):
        rg.Lasso(alpha=1e-6, tol=1e-14, max_iter=1, max_epochs=1).fit(X, y)


def test_params_are_sklearns():
    ours = set(rg.Lasso().get_params())
    theirs = set(SkLasso().get_params())
    assert theirs <= ours, theirs - ours
    assert ours - theirs == {"weights", "max_epochs"}


def test_inputs_are_never_modified_with_copy_X():
    pd = pytest.importorskip("pandas")
    X, y = problem(40, 6, seed=19)
    for X_in in (np.ascontiguousarray(X), np.asfortranarray(X), X.tolist(),
                 pd.DataFrame(X)):
        before = np.array(X_in, dtype=float, copy=True)
        rg.Lasso(alpha=0.01).fit(X_in, y, sample_weight=np.linspace(0.5, 2, 40))
        assert np.array_equal(np.asarray(X_in, dtype=float), before)


@pytest.mark.parametrize("positive", [False, True])
@pytest.mark.parametrize("precompute", [False, True])
@pytest.mark.parametrize("sparse", [False, True])
def test_options_combined_match_sklearn(positive, precompute, sparse):
    X, y = problem(80, 25, seed=20)
    Y = np.c_[y, X[:, 2] - X[:, 7]]
    sw = np.random.default_rng(2).uniform(0.2, 2.0, 80)
    Xin = sp.csc_matrix(X) if sparse else X
    alpha = alpha_at(X, y, 0.03)
    params = dict(alpha=alpha, positive=positive, precompute=precompute)
    ours = rg.Lasso(**params, **TIGHT).fit(Xin, Y, sample_weight=sw)
    sk = SkLasso(**params, **SK_TIGHT).fit(Xin, Y, sample_weight=sw)
    assert_same(ours, sk)
