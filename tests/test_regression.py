"""Sparse regression: every solver against its reference, scikit-learn, or its optimality
conditions; the estimators against scikit-learn's estimator checks; bad input."""

import doctest
import importlib
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize, minimize_scalar
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso as SkLasso
from sklearn.linear_model import OrthogonalMatchingPursuit, orthogonal_mp
from sklearn.linear_model import lasso_path as sk_lasso_path
from sklearn.utils.estimator_checks import parametrize_with_checks

from sparsecourse import regression as rg
from sparsecourse.datasets import gaussian_matrix, simulated_lasso_problem, sparse_signal

SUBMODULES = ["sparsecourse.regression", "sparsecourse.regression.lasso",
              "sparsecourse.regression.greedy", "sparsecourse.regression.thresholding",
              "sparsecourse.regression.robust", "sparsecourse.regression._base",
              "sparsecourse.regression._kernels"]


def correlated_problem(n, p, rho=0.6, seed=0, density=0.1):
    """AR(1)-correlated Gaussian design (benchopt's simulated LASSO data) and a noisy target."""
    X, y, _ = simulated_lasso_problem(n, p, rho=rho, density=density, snr=3.0, seed=seed)
    return X, y


# ------------------------------------------------------------------------------------------
# LASSO
# ------------------------------------------------------------------------------------------

def test_soft_threshold_is_the_prox_of_the_l1_norm():
    x = np.linspace(-3, 3, 13)
    for tau in (0.0, 0.5, 2.0):
        z = rg.soft_threshold(x, tau)
        for xi, zi in zip(x, z, strict=True):
            best = minimize_scalar(lambda v, xi=xi, t=tau: 0.5 * (v - xi) ** 2 + t * abs(v)).x
            assert zi == pytest.approx(best, abs=1e-6)
    assert rg.soft_threshold(2.0, 0.5) == 1.5
    with pytest.raises(ValueError, match="tau"):
        rg.soft_threshold(1.0, -1.0)


@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("shape,frac", [((50, 200), 0.05), ((80, 30), 0.01), ((40, 300), 0.3),
                                        ((30, 60), 0.002)])
def test_lasso_matches_sklearn(shape, frac, fit_intercept):
    X, y = correlated_problem(*shape, seed=shape[1])
    y = y + 2.0
    alpha = frac * rg.alpha_max(X, y, fit_intercept=fit_intercept)
    ours = rg.Lasso(alpha=alpha, fit_intercept=fit_intercept, tol=1e-12).fit(X, y)
    sk = SkLasso(alpha=alpha, fit_intercept=fit_intercept, tol=1e-12, max_iter=10**6).fit(X, y)
    np.testing.assert_allclose(ours.coef_, sk.coef_, atol=1e-6)
    assert ours.intercept_ == pytest.approx(sk.intercept_, abs=1e-6)
    assert ours.dual_gap_ <= 1e-12 * (y - y.mean() * fit_intercept) @ y
    np.testing.assert_allclose(ours.predict(X), sk.predict(X), atol=1e-6)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(2, 25), p=st.integers(1, 40), frac=st.sampled_from([0.9, 0.3, 0.05, 0.01]),
       seed=st.integers(0, 2**16), weighted=st.booleans())
def test_fast_cd_equals_reference_cd(n, p, frac, seed, weighted):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    y = rng.standard_normal(n)
    weights = rng.uniform(0.5, 2.0, p) if weighted else None
    alpha = frac * rg.alpha_max(X, y, weights=weights)
    if alpha <= 0:
        return
    w_ref = rg.lasso_cd_reference(X, y, alpha, weights=weights, tol=1e-13, max_iter=100_000)
    w_fast, info = rg.lasso_cd(X, y, alpha, weights=weights, tol=1e-13, return_info=True)
    assert info["converged"]
    P = rg.lasso_objective
    assert P(X, y, w_fast, alpha, weights=weights) <= P(X, y, w_ref, alpha, weights=weights) \
        + 1e-12 * (y @ y)
    np.testing.assert_allclose(w_fast, w_ref, atol=1e-5 * max(1.0, np.abs(w_ref).max()))


@pytest.mark.parametrize("switch", ["screening", "dual_extrapolation", "anderson", "refine"])
def test_each_acceleration_can_be_switched_off(switch):
    X, y = correlated_problem(60, 300, seed=1)
    alpha = rg.alpha_max(X, y) / 50
    ref = rg.lasso_cd(X, y, alpha, tol=1e-12)
    w, info = rg.lasso_cd(X, y, alpha, tol=1e-12, return_info=True, **{switch: False})
    assert info["converged"]
    np.testing.assert_allclose(w, ref, atol=1e-7)


def test_weighted_lasso_is_a_lasso_on_rescaled_columns():
    X, y = correlated_problem(40, 80, seed=2)
    om = np.random.default_rng(0).uniform(0.5, 3.0, 80)
    alpha = rg.alpha_max(X, y, weights=om) / 20
    w = rg.lasso_cd(X, y, alpha, weights=om, tol=1e-13)
    v = SkLasso(alpha=alpha, fit_intercept=False, tol=1e-13, max_iter=10**6).fit(X / om, y).coef_
    np.testing.assert_allclose(w, v / om, atol=1e-7)
    reg = rg.Lasso(alpha=alpha, weights=om, fit_intercept=False, tol=1e-13).fit(X, y)
    np.testing.assert_allclose(reg.coef_, w, atol=1e-8)


def test_ista_and_fista_reach_the_lasso_solution():
    X, y = correlated_problem(40, 60, seed=3)
    alpha = rg.alpha_max(X, y) / 10
    w_star = rg.lasso_cd(X, y, alpha, tol=1e-14)
    w_i, info_i = rg.ista(X, y, alpha, tol=1e-9, max_iter=100_000, return_info=True)
    w_f, info_f = rg.fista(X, y, alpha, tol=1e-9, max_iter=100_000, return_info=True)
    w_n, info_n = rg.fista(X, y, alpha, tol=1e-9, max_iter=100_000, restart=False,
                           return_info=True)
    for w, info in ((w_i, info_i), (w_f, info_f), (w_n, info_n)):
        assert info["converged"]
        np.testing.assert_allclose(w, w_star, atol=1e-3)
        obj = np.array(info["objective"])
        assert obj[-1] <= obj[0]
    assert np.all(np.diff(info_i["objective"]) <= 1e-12)  # ISTA is a descent method
    assert info_f["n_iter"] < info_i["n_iter"] and info_f["restarts"] > 0


def test_dual_gap_bounds_the_suboptimality():
    X, y = correlated_problem(30, 50, seed=4)
    alpha = rg.alpha_max(X, y) / 5
    w_star = rg.lasso_cd(X, y, alpha, tol=1e-14)
    P_star = rg.lasso_objective(X, y, w_star, alpha)
    rng = np.random.default_rng(0)
    for _ in range(5):
        w = w_star + 0.1 * rng.standard_normal(50)
        gap = rg.lasso_dual_gap(X, y, w, alpha)
        assert gap >= rg.lasso_objective(X, y, w, alpha) - P_star - 1e-12
    assert rg.lasso_dual_gap(X, y, w_star, alpha) < 1e-12


def test_alpha_max_zeroes_the_solution():
    X, y = correlated_problem(30, 50, seed=5)
    y = y + 5
    for fi in (False, True):
        a = rg.alpha_max(X, y, fit_intercept=fi)
        assert np.all(rg.Lasso(alpha=a * 1.0001, fit_intercept=fi).fit(X, y).coef_ == 0)
        assert np.any(rg.Lasso(alpha=a * 0.9, fit_intercept=fi).fit(X, y).coef_ != 0)


def test_lasso_path_matches_sklearn():
    X, y = correlated_problem(50, 100, seed=6)
    alphas, coefs, gaps = rg.lasso_path(X, y, alphas=30, eps=1e-2, tol=1e-12)
    sk_alphas, sk_coefs, _ = sk_lasso_path(X, y, alphas=30, eps=1e-2, tol=1e-12,
                                           max_iter=10**6)
    np.testing.assert_allclose(alphas, sk_alphas, rtol=1e-12)
    np.testing.assert_allclose(coefs, sk_coefs, atol=1e-6)
    assert np.all(gaps >= 0) and coefs.shape == (100, 30)
    grid = [0.5, 0.05, 0.2]  # given explicitly: sorted in decreasing order
    a2, c2, _ = rg.lasso_path(X, y, alphas=grid, tol=1e-12)
    np.testing.assert_allclose(a2, sorted(grid, reverse=True))
    for i, a in enumerate(a2):
        np.testing.assert_allclose(c2[:, i], rg.lasso_cd(X, y, a, tol=1e-12), atol=1e-6)


def test_lasso_estimator_warm_start_and_convergence_warning():
    X, y = correlated_problem(40, 200, seed=7)
    alpha = rg.alpha_max(X, y, fit_intercept=True) / 100
    reg = rg.Lasso(alpha=alpha, tol=1e-10, warm_start=True).fit(X, y)
    first = reg.n_iter_
    reg.fit(X, y)
    assert reg.n_iter_ <= first
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        rg.Lasso(alpha=alpha, tol=1e-14, max_iter=1, max_epochs=1).fit(X, y)


def test_fast_lasso_reaches_tight_tolerance_on_an_ill_conditioned_problem():
    # n = 60 samples, support of about n at alpha_max / 1000: coordinate descent alone
    # crawls; the support refinement finishes the job.
    X, y = correlated_problem(60, 600, seed=8, density=0.2)
    alpha = rg.alpha_max(X, y) / 1000
    w, info = rg.lasso_cd(X, y, alpha, tol=1e-10, return_info=True)
    assert info["converged"] and info["n_epochs"] < 50_000
    sk = SkLasso(alpha=alpha, fit_intercept=False, tol=1e-12, max_iter=10**6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk.fit(X, y)
    assert rg.lasso_objective(X, y, w, alpha) <= rg.lasso_objective(X, y, sk.coef_, alpha) \
        + 1e-9 * (y @ y) / 60


# ------------------------------------------------------------------------------------------
# OMP and the loss-based family
# ------------------------------------------------------------------------------------------

def test_omp_matches_sklearn_on_random_problems():
    rng = np.random.default_rng(0)
    for _ in range(60):
        n, p = int(rng.integers(5, 50)), int(rng.integers(2, 100))
        X = rng.standard_normal((n, p))
        y = rng.standard_normal(n)
        k = int(rng.integers(1, min(n, p) + 1))
        tol = float(rng.uniform(0.05, 0.9) * (y @ y))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for kwargs in ({"n_nonzero_coefs": k}, {"tol": tol}):
                ref = orthogonal_mp(X, y, **kwargs)
                for fn in (rg.omp, rg.omp_reference):
                    got = fn(X, y, **kwargs)
                    np.testing.assert_array_equal(np.flatnonzero(got), np.flatnonzero(ref))
                    np.testing.assert_allclose(got, ref, atol=1e-9)


@pytest.mark.parametrize("design", ["gaussian", "correlated", "near_ties"])
def test_omp_float32_screening_keeps_the_exact_selection(design):
    # large enough for omp to screen the correlations in float32
    if design == "correlated":
        X, y = correlated_problem(200, 1500, rho=0.9, seed=13)
    else:
        X = gaussian_matrix(200, 1500, seed=13)
        if design == "near_ties":  # pairs of columns equal up to 1e-9: float32 cannot split them
            X[:, 750:] = X[:, :750] * (1 + 1e-9)
        y = X[:, :40] @ np.linspace(1, 2, 40) + np.random.default_rng(0).standard_normal(200)
    for kwargs in ({"n_nonzero_coefs": 60}, {"tol": 0.01 * float(y @ y)}):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ref = orthogonal_mp(X, y, **kwargs)
            got = rg.omp(X, y, **kwargs)
        np.testing.assert_array_equal(np.flatnonzero(got), np.flatnonzero(ref))
        np.testing.assert_allclose(got, ref, atol=1e-9 * np.abs(ref).max())


def test_omp_is_scale_invariant_beyond_float32_range():
    rng = np.random.default_rng(14)
    X = rng.standard_normal((100, 1000))
    y = rng.standard_normal(100)
    base = rg.omp(X, y, 20)
    for scale in (1e-40, 1e39):  # below and above what float32 can hold
        np.testing.assert_allclose(rg.omp(X * scale, y, 20) * scale, base, atol=1e-12)


@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("kwargs", [{"n_nonzero_coefs": 7}, {"tol": 5.0}, {}])
def test_omp_estimator_matches_sklearn(kwargs, fit_intercept):
    X = gaussian_matrix(60, 150, seed=1)
    y = X @ sparse_signal(150, 6, seed=2) + 0.1 * np.random.default_rng(0).standard_normal(60)
    ours = rg.OMP(fit_intercept=fit_intercept, **kwargs).fit(X, y + 3)
    sk = OrthogonalMatchingPursuit(fit_intercept=fit_intercept, **kwargs).fit(X, y + 3)
    np.testing.assert_allclose(ours.coef_, sk.coef_, atol=1e-10)
    assert ours.intercept_ == pytest.approx(sk.intercept_, abs=1e-10)
    assert ours.n_iter_ == np.count_nonzero(sk.coef_)


def test_omp_info_and_early_stop():
    X = gaussian_matrix(20, 50, seed=0)
    w = sparse_signal(50, 3, seed=0)
    with pytest.warns(RuntimeWarning, match="stopped early"):  # nothing left after 3 atoms
        coef, info = rg.omp(X, X @ w, 10, return_info=True)
    assert set(info["support"]) == set(np.flatnonzero(w))
    coef, info = rg.omp(X, X @ w, tol=1e-20, return_info=True)  # exact fit after 3 atoms
    assert info["n_iter"] == 3 and np.allclose(coef, w)
    with pytest.warns(RuntimeWarning, match="early"):
        rg.omp(X, np.zeros(20), 3)


def _brute_force_gain(X, y, z, j, loss, penalty, lam, om):
    def G(v):
        r = y - X @ v
        fit = {"lasso": r @ r, "sqrt_lasso": np.linalg.norm(r), "lad_lasso": np.abs(r).sum()}
        pen = np.sum(om * np.abs(v)) if penalty == "l1" else np.sum(om[v != 0] ** 2)
        return fit[loss] + lam * pen

    def line(t):
        v = z.copy()
        v[j] += t
        return G(v)

    ts = np.linspace(-5, 5, 2001)
    t0 = ts[np.argmin([line(t) for t in ts])]
    res = minimize_scalar(line, bracket=(t0 - 0.01, t0 + 0.01), tol=1e-12)
    return G(z) - min(res.fun, line(0.0), line(t0))


@pytest.mark.parametrize("loss", ["lasso", "sqrt_lasso", "lad_lasso"])
@pytest.mark.parametrize("penalty", ["l1", "l0"])
def test_loss_omp_gains_have_the_closed_forms(loss, penalty):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((12, 6))
    y = rng.standard_normal(12)
    om = rng.uniform(0.5, 1.5, 6)
    z = np.zeros(6)
    z[1] = 0.3  # index 1 is in the support
    for lam in (0.0, 0.3, 2.0):
        gains = rg.loss_omp_gains(X, y, z, loss=loss, penalty=penalty, lam=lam, weights=om)
        assert gains[1] == -np.inf
        for j in (0, 2, 3, 4, 5):
            if penalty == "l1":
                expected = _brute_force_gain(X, y, z, j, loss, "l1", lam, om)
            else:  # best fit reduction of a move t != 0, which pays lam * omega_j^2
                expected = _brute_force_gain(X, y, z, j, loss, "l1", 0.0, om) - lam * om[j] ** 2
            assert gains[j] == pytest.approx(expected, abs=1e-6), (j, lam)


def test_loss_omp_with_lam_zero_is_omp_on_normalised_columns():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((30, 60)) * rng.uniform(0.5, 2, 60)
    y = rng.standard_normal(30)
    Xn = X / np.linalg.norm(X, axis=0)
    ref = orthogonal_mp(Xn, y, n_nonzero_coefs=8)
    z, info = rg.loss_omp(X, y, loss="lasso", lam=0.0, n_nonzero_coefs=8, return_info=True)
    np.testing.assert_array_equal(np.sort(info["support"]), np.flatnonzero(ref))
    np.testing.assert_allclose(z * np.linalg.norm(X, axis=0), ref, atol=1e-9)


@pytest.mark.parametrize("loss", ["lasso", "sqrt_lasso", "lad_lasso"])
@pytest.mark.parametrize("penalty", ["l1", "l0"])
def test_loss_omp_recovers_a_planted_support_and_stops_by_itself(loss, penalty):
    X = gaussian_matrix(100, 150, seed=3)
    w = 2 * sparse_signal(150, 5, seed=4, distribution="rademacher")
    y = X @ w + 0.01 * np.random.default_rng(5).standard_normal(100)
    # l0: lam is a threshold on the gain; l1: on a correlation (relative to ||r|| for the
    # SR-LASSO, which is what makes its lam independent of the noise level)
    lam = {("lasso", "l0"): 0.01, ("lasso", "l1"): 0.2, ("sqrt_lasso", "l0"): 0.01,
           ("sqrt_lasso", "l1"): 0.4, ("lad_lasso", "l0"): 0.05,
           ("lad_lasso", "l1"): 3.5}[loss, penalty]
    z, info = rg.loss_omp(X, y, loss=loss, penalty=penalty, lam=lam, return_info=True)
    assert sorted(info["support"].tolist()) == np.flatnonzero(w).tolist()
    np.testing.assert_allclose(z, w, atol=0.05)
    if penalty == "l0":  # the refit never increases an l0 loss (the l1 norm may grow)
        assert np.all(np.diff(info["loss"]) < 0)


def test_lad_omp_tolerates_corrupted_measurements_where_omp_does_not():
    X = gaussian_matrix(60, 150, seed=6)
    w = sparse_signal(150, 4, seed=7, distribution="uniform")
    y = X @ w
    y[[3, 17, 40]] += [8.0, -6.0, 7.0]
    z = rg.loss_omp(X, y, loss="lad_lasso", penalty="l0", lam=0.05)
    np.testing.assert_allclose(z, w, atol=1e-8)
    plain = rg.omp(X, y, 4)
    assert np.abs(plain - w).max() > 0.1


def test_loss_omp_weights_express_prior_knowledge():
    X = gaussian_matrix(25, 80, seed=8)
    w = sparse_signal(80, 6, seed=9)
    y = X @ w
    om = np.ones(80)
    om[np.flatnonzero(w)] = 0.2  # a good prior on the support
    z = rg.loss_omp(X, y, loss="lasso", penalty="l1", lam=1.0, weights=om, n_nonzero_coefs=6)
    np.testing.assert_allclose(z, w, atol=1e-8)


# ------------------------------------------------------------------------------------------
# Hard thresholding
# ------------------------------------------------------------------------------------------

def test_hard_threshold():
    x = np.array([0.5, -3.0, 1.0, 2.0, -2.0])
    np.testing.assert_array_equal(rg.hard_threshold(x, 2), [0, -3, 0, 2, 0])
    np.testing.assert_array_equal(rg.hard_threshold(x, 0), np.zeros(5))
    np.testing.assert_array_equal(rg.hard_threshold(x, 5), x)
    with pytest.raises(ValueError, match="k must be <= 5"):
        rg.hard_threshold(x, 6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_iht_niht_htp_recover_a_planted_vector(seed):
    X = gaussian_matrix(100, 256, seed=seed)
    w = sparse_signal(256, 8, seed=seed + 10)
    y = X @ w
    np.testing.assert_allclose(rg.niht(X, y, 8, max_iter=2000), w, atol=1e-6)
    np.testing.assert_allclose(rg.htp(X, y, 8), w, atol=1e-8)
    Xs = gaussian_matrix(100, 256, seed=seed, normalize="sqrt_m")
    w5 = sparse_signal(256, 5, seed=seed + 10, distribution="uniform")
    np.testing.assert_allclose(rg.iht(Xs, Xs @ w5, 5, step=1.0, max_iter=5000), w5, atol=1e-6)
    _, info = rg.iht(X, y, 8, max_iter=50, return_info=True)  # default step 1/||X||^2
    assert np.all(np.diff(info["objective"]) <= 1e-12)


def test_iht_with_too_large_a_step_warns_instead_of_returning_garbage():
    X = gaussian_matrix(50, 200, seed=0, normalize="sqrt_m")
    w = sparse_signal(200, 20, seed=1)
    with pytest.warns(ConvergenceWarning, match="diverged"):
        coef = rg.iht(X, X @ w, 20, step=3.0, max_iter=2000)
    assert np.all(np.isfinite(coef))


@pytest.mark.parametrize("variant", ["niht", "iht", "htp"])
def test_iht_estimator(variant):
    X = gaussian_matrix(100, 200, seed=3, normalize="sqrt_m")
    w = sparse_signal(200, 6, seed=4)
    step = 1.0 if variant == "iht" else None
    reg = rg.IHT(6, variant=variant, step=step, max_iter=5000).fit(X, X @ w + 1.5)
    np.testing.assert_allclose(reg.coef_, w, atol=1e-5)
    assert reg.intercept_ == pytest.approx(1.5, abs=1e-5)


# ------------------------------------------------------------------------------------------
# Square-root LASSO and LAD-LASSO
# ------------------------------------------------------------------------------------------

def test_sqrt_lasso_satisfies_its_optimality_conditions():
    X, y = correlated_problem(50, 120, seed=9)
    n = 50
    alpha = 0.5 * np.max(np.abs(X.T @ y)) / (np.sqrt(n) * np.linalg.norm(y))
    w, info = rg.sqrt_lasso(X, y, alpha, tol=1e-10, return_info=True)
    assert info["converged"]
    r = y - X @ w
    g = X.T @ r / (np.sqrt(n) * np.linalg.norm(r))  # gradient of the data term, negated
    on = w != 0
    np.testing.assert_allclose(g[on], alpha * np.sign(w[on]), atol=1e-7)
    assert np.all(np.abs(g[~on]) <= alpha + 1e-7)
    assert info["sigma"] == pytest.approx(np.linalg.norm(r) / np.sqrt(n))


def test_sqrt_lasso_matches_a_generic_solver_on_a_tiny_problem():
    rng = np.random.default_rng(10)
    X = rng.standard_normal((15, 4))
    y = X @ [1.0, 0.0, -2.0, 0.0] + 0.3 * rng.standard_normal(15)
    alpha = 0.2
    w = rg.sqrt_lasso(X, y, alpha, tol=1e-10)
    f = lambda v: rg.sqrt_lasso_objective(X, y, v, alpha)  # noqa: E731
    best = minimize(f, np.zeros(4), method="Powell", options={"xtol": 1e-10, "ftol": 1e-14})
    assert f(w) <= best.fun + 1e-9
    reg = rg.SqrtLasso(alpha=alpha).fit(X, y + 4)
    assert reg.intercept_ == pytest.approx(np.mean(y + 4 - X @ reg.coef_))


def test_sqrt_lasso_alpha_does_not_depend_on_the_noise_level():
    X = gaussian_matrix(100, 300, seed=0, normalize=None)
    w = 2 * sparse_signal(300, 5, seed=1, distribution="rademacher")
    alpha = np.sqrt(2 * np.log(300) / 100)
    rng = np.random.default_rng(0)
    for sigma in (0.05, 0.5, 1.0):
        coef = rg.sqrt_lasso(X, X @ w + sigma * rng.standard_normal(100), alpha)
        assert np.flatnonzero(coef).tolist() == np.flatnonzero(w).tolist()


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_lad_lasso_beats_a_generic_solver_and_resists_outliers(fit_intercept):
    rng = np.random.default_rng(11)
    X = rng.standard_normal((20, 3))
    y = X @ [1.5, 0.0, -1.0] + 0.1 * rng.standard_normal(20) + 2.0 * fit_intercept
    y[:2] += 30.0
    alpha = 0.05
    w, info = rg.lad_lasso(X, y, alpha, fit_intercept=fit_intercept, return_info=True)
    b = info["intercept"]

    def f(v):
        return rg.lad_lasso_objective(X, y, v[:3], alpha, intercept=v[3] if fit_intercept else 0)

    x0 = np.zeros(4 if fit_intercept else 3)
    best = minimize(f, x0, method="Powell", options={"xtol": 1e-10, "ftol": 1e-14})
    ours = np.append(w, b) if fit_intercept else w
    assert f(ours) <= best.fun + 1e-9
    assert info["objective"] == pytest.approx(f(ours))
    np.testing.assert_allclose(w, [1.5, 0.0, -1.0], atol=0.15)
    reg = rg.LADLasso(alpha=alpha, fit_intercept=fit_intercept).fit(X, y)
    np.testing.assert_allclose(reg.coef_, w)


# ------------------------------------------------------------------------------------------
# Estimators and bad input
# ------------------------------------------------------------------------------------------

@parametrize_with_checks([rg.Lasso(), rg.OMP(), rg.IHT(), rg.SqrtLasso(), rg.LADLasso()])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _X_y():
    rng = np.random.default_rng(0)
    return rng.standard_normal((10, 4)), rng.standard_normal(10)


SOLVERS = {
    "lasso_cd": lambda X, y: rg.lasso_cd(X, y, 0.1),
    "lasso_cd_reference": lambda X, y: rg.lasso_cd_reference(X, y, 0.1),
    "ista": lambda X, y: rg.ista(X, y, 0.1),
    "fista": lambda X, y: rg.fista(X, y, 0.1),
    "lasso_path": lambda X, y: rg.lasso_path(X, y, alphas=3),
    "omp": lambda X, y: rg.omp(X, y, 2),
    "omp_reference": lambda X, y: rg.omp_reference(X, y, 2),
    "loss_omp": lambda X, y: rg.loss_omp(X, y, lam=0.1),
    "iht": lambda X, y: rg.iht(X, y, 2),
    "niht": lambda X, y: rg.niht(X, y, 2),
    "htp": lambda X, y: rg.htp(X, y, 2),
    "sqrt_lasso": lambda X, y: rg.sqrt_lasso(X, y, 0.1),
    "lad_lasso": lambda X, y: rg.lad_lasso(X, y, 0.1),
}


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_solvers_reject_bad_input(name):
    solve = SOLVERS[name]
    X, y = _X_y()
    solve(X, y)  # valid input works
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        solve(X, y[:-1])
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        solve(X_nan, y)
    y_inf = y.copy()
    y_inf[3] = np.inf
    with pytest.raises(ValueError, match="y contains NaN or infinity"):
        solve(X, y_inf)
    with pytest.raises(ValueError, match="X must be 2-D"):
        solve(X[:, 0], y)
    with pytest.raises(ValueError, match="X must have at least 1 sample"):
        solve(np.zeros((0, 4)), np.zeros(0))
    with pytest.raises(ValueError, match="X must have at least 1 sample"):
        solve(np.zeros((10, 0)), y)
    with pytest.raises(TypeError, match="X must"):
        solve(X.astype(complex), y)


def test_functions_accept_bool_and_object_arrays_like_the_estimator():
    rng = np.random.default_rng(5)
    Xb = rng.random((40, 6)) < 0.5
    y = rng.standard_normal(40)
    ref = rg.lasso_cd(Xb.astype(float), y, 0.05)
    assert np.allclose(rg.lasso_cd(Xb, y, 0.05), ref)
    assert np.allclose(rg.lasso_cd(Xb.astype(object), y.astype(object), 0.05), ref)
    est = rg.Lasso(alpha=0.05, fit_intercept=False).fit(Xb, y)
    assert np.allclose(est.coef_, ref, atol=1e-8)
    with pytest.raises(TypeError, match="X must be numeric"):
        rg.lasso_cd(np.array([["a", 1.0]] * 3, dtype=object), np.ones(3), 0.1)


@pytest.mark.parametrize("alpha", [-1.0, 0.0, np.inf, np.nan])
def test_lasso_family_rejects_bad_alpha(alpha):
    X, y = _X_y()
    for fn in (rg.lasso_cd, rg.lasso_cd_reference, rg.ista, rg.fista, rg.sqrt_lasso,
               rg.lad_lasso):
        with pytest.raises(ValueError, match="alpha must be > 0"):
            fn(X, y, alpha)
    with pytest.raises(ValueError, match="alpha must be > 0"):
        rg.lasso_objective(X, y, np.zeros(4), alpha)
    for Est in (rg.SqrtLasso, rg.LADLasso):
        with pytest.raises(ValueError, match="alpha must be > 0"):
            Est(alpha=alpha).fit(X, y)
    if alpha == 0:  # Lasso takes alpha = 0 as scikit-learn does: it warns and fits
        with pytest.warns(UserWarning, match="With alpha=0"):
            rg.Lasso(alpha=alpha).fit(X, y)
    else:
        with pytest.raises(ValueError, match="alpha must be >= 0"):
            rg.Lasso(alpha=alpha).fit(X, y)
    with pytest.raises(TypeError, match="alpha must be a real number"):
        rg.lasso_cd(X, y, "0.1")


def test_bad_sparsity_levels_weights_and_options():
    X, y = _X_y()
    for fn in (rg.omp, rg.omp_reference, rg.iht, rg.niht, rg.htp):
        with pytest.raises(ValueError, match="n_nonzero_coefs must be <= n_features = 4"):
            fn(X, y, 5)
        with pytest.raises(ValueError, match="n_nonzero_coefs must be >= 1"):
            fn(X, y, 0)
    with pytest.raises(ValueError, match="n_nonzero_coefs must be <= n_features"):
        rg.OMP(n_nonzero_coefs=5).fit(X, y)
    with pytest.raises(ValueError, match="n_nonzero_coefs must be <= n_features"):
        rg.IHT(n_nonzero_coefs=5).fit(X, y)
    with pytest.raises(ValueError, match="n_nonzero_coefs must be <= n_features"):
        rg.loss_omp(X, y, n_nonzero_coefs=5)
    with pytest.raises(ValueError, match="weights must have one entry per feature"):
        rg.lasso_cd(X, y, 0.1, weights=np.ones(3))
    with pytest.raises(ValueError, match="weights must be > 0"):
        rg.lasso_cd(X, y, 0.1, weights=[1.0, 0.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="weights must have one entry per feature"):
        rg.Lasso(weights=np.ones(3)).fit(X, y)
    with pytest.raises(ValueError, match="coef_init must have length n_features = 4"):
        rg.lasso_cd(X, y, 0.1, coef_init=np.zeros(5))
    with pytest.raises(ValueError, match="tol must be >= 0"):
        rg.lasso_cd(X, y, 0.1, tol=-1.0)
    with pytest.raises(ValueError, match="tol must be >= 0"):
        rg.omp(X, y, tol=-1.0)
    with pytest.raises(ValueError, match="max_iter must be >= 1"):
        rg.lasso_cd(X, y, 0.1, max_iter=0)
    with pytest.raises(ValueError, match="loss must be one of"):
        rg.loss_omp(X, y, loss="huber")
    with pytest.raises(ValueError, match="penalty must be one of"):
        rg.loss_omp_gains(X, y, np.zeros(4), penalty="l2")
    with pytest.raises(ValueError, match="lam must be >= 0"):
        rg.loss_omp(X, y, lam=-1.0)
    with pytest.raises(ValueError, match="variant must be"):
        rg.IHT(variant="cosamp").fit(X, y)
    with pytest.raises(ValueError, match="step must be > 0"):
        rg.iht(X, y, 2, step=-1.0)
    with pytest.raises(ValueError, match="alphas must be"):
        rg.lasso_path(X, y, alphas=[0.1, -0.1])
    with pytest.raises(ValueError, match="kappa"):
        rg.niht(X, y, 2, kappa=1.0)


def test_fortran_and_c_ordered_inputs_give_the_same_answer():
    X, y = correlated_problem(30, 70, seed=12)
    alpha = rg.alpha_max(X, y) / 20
    a = rg.lasso_cd(np.asfortranarray(X), y, alpha, tol=1e-12)
    b = rg.lasso_cd(np.ascontiguousarray(X), y, alpha, tol=1e-12)
    np.testing.assert_allclose(a, b, atol=1e-10)
    np.testing.assert_allclose(rg.omp(np.asfortranarray(X), y, 5), rg.omp(X, y, 5))
    ints = rg.lasso_cd(np.round(X * 10).astype(int), y, alpha * 10)  # integer X is accepted
    assert ints.dtype == np.float64


# ------------------------------------------------------------------------------------------
# Documentation
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", SUBMODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_public_api_is_documented_with_examples():
    for attr in rg.__all__:
        obj = getattr(rg, attr)
        assert obj.__doc__ and "Examples" in obj.__doc__, attr
