"""Sparse phase retrieval: models, initialisation, solvers, kernels and exercise checks."""

import doctest
import importlib

import numpy as np
import pytest

from sparsecourse import checks
from sparsecourse.phase_retrieval import (
    SOLVERS,
    SPARSE_SOLVERS,
    CodedDiffraction,
    _kernels,
    copram,
    error_reduction,
    gaussian_phase_retrieval,
    hard_threshold,
    htp,
    intensities,
    newton_ht,
    relative_error,
    sparse_spectral_init,
    sparta,
    spectral_init,
    thwf,
    wirtinger_flow,
)

MODULES = ["sparsecourse.phase_retrieval.models", "sparsecourse.phase_retrieval.init",
           "sparsecourse.phase_retrieval.solvers", "sparsecourse.phase_retrieval._kernels",
           "sparsecourse.checks._phase_retrieval"]


@pytest.fixture(scope="module")
def easy():
    """An easy sparse instance (m close to n, few non-zeros)."""
    return gaussian_phase_retrieval(800, 1000, 5, seed=0)


# -------------------------------------------------------------------------------- models

def test_relative_error_is_sign_invariant_and_relative():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(20)
    e = rng.standard_normal(20)
    assert relative_error(-x, x) == 0.0 == relative_error(x, x)
    assert relative_error(x + 0.01 * e, x) == pytest.approx(relative_error(-x - 0.01 * e, x))
    assert relative_error(3 * x + 0.03 * e, 3 * x) == pytest.approx(
        relative_error(x + 0.01 * e, x))
    assert relative_error(np.zeros(20), x) == pytest.approx(1.0)


def test_gaussian_model_is_planted_and_deterministic():
    A, x, y = gaussian_phase_retrieval(60, 100, 4, seed=3)
    A2, x2, y2 = gaussian_phase_retrieval(60, 100, 4, seed=3)
    assert np.array_equal(A, A2) and np.array_equal(x, x2) and np.array_equal(y, y2)
    assert np.count_nonzero(x) == 4 and np.linalg.norm(x) == pytest.approx(1.0)
    np.testing.assert_allclose(y, (A @ x) ** 2)
    np.testing.assert_allclose(intensities(A, -x), y)
    _, _, yn = gaussian_phase_retrieval(60, 100, 4, seed=3, noise=0.1)
    assert (yn >= 0).all() and not np.allclose(yn, y)


@pytest.mark.parametrize("shape", [16, (6, 5)])
def test_coded_diffraction_matches_its_explicit_matrix(shape):
    op = CodedDiffraction(shape, n_masks=3, seed=1)
    M = op.todense()
    m, n = op.shape
    rng = np.random.default_rng(2)
    x, r = rng.standard_normal(n), rng.standard_normal(m) + 1j * rng.standard_normal(m)
    np.testing.assert_allclose(op.matvec(x), M @ x, atol=1e-12)
    np.testing.assert_allclose(op.rmatvec(r), np.real(M.conj().T @ r), atol=1e-12)
    np.testing.assert_allclose(M.conj().T @ M, 3 * np.eye(n), atol=1e-12)  # tight frame
    assert op.fro2 == pytest.approx(np.sum(np.abs(M) ** 2))
    np.testing.assert_allclose(intensities(op, x), np.abs(M @ x) ** 2, atol=1e-12)


# -------------------------------------------------------------------------------- kernels

def test_numba_kernels_match_their_references():
    rng = np.random.default_rng(4)
    for m, n in [(1, 1), (7, 13), (50, 300)]:
        A, y = rng.standard_normal((m, n)), rng.random(m)
        np.testing.assert_allclose(_kernels.marginals(A, y), _kernels.marginals_reference(A, y),
                                   rtol=1e-12, atol=1e-14)
        T = np.sort(rng.choice(n, size=min(n, 5), replace=False))
        v = rng.standard_normal(T.size)
        np.testing.assert_allclose(_kernels.gather_matvec(A, T, v),
                                   _kernels.gather_matvec_reference(A, T, v), atol=1e-12)


# ------------------------------------------------------------------------------ init

def test_sparse_spectral_init_finds_the_support_of_an_easy_instance():
    A, x, y = gaussian_phase_retrieval(2000, 500, 3, seed=1, distribution="uniform")
    x0 = sparse_spectral_init(A, y, 3)
    assert set(np.flatnonzero(x0)) == set(np.flatnonzero(x))
    assert relative_error(x0, x) < 0.3
    x0t = sparse_spectral_init(A, y, 3, truncate=1 / 6)
    assert np.count_nonzero(x0t) == 3 and relative_error(x0t, x) < 0.5


def test_spectral_init_improves_with_measurements():
    errs = []
    for m in (200, 4000):
        A, x, y = gaussian_phase_retrieval(m, 40, 40, seed=2)
        errs.append(relative_error(spectral_init(A, y, seed=0), x))
    assert errs[1] < errs[0] and errs[1] < 0.35


# ------------------------------------------------------------------------------ solvers

@pytest.mark.parametrize("name", sorted(SPARSE_SOLVERS))
@pytest.mark.parametrize("seed", [0, 1])
def test_sparse_solvers_recover_planted_signals(name, seed):
    A, x, y = gaussian_phase_retrieval(800, 1000, 5, seed=seed)
    res = SPARSE_SOLVERS[name](A, y, 5, x_true=x, target_error=1e-8)
    assert res.converged and res.history["rel_error"][-1] <= 1e-8
    assert np.count_nonzero(res.x) <= 5 or name == "thwf"
    assert len(res.history["seconds"]) == res.n_iter + 1
    assert np.all(np.diff(res.history["seconds"]) >= 0)


@pytest.mark.parametrize("name", ["error_reduction", "wirtinger_flow", "amplitude_flow"])
def test_classical_solvers_recover_dense_signals(name):
    A, x, y = gaussian_phase_retrieval(600, 30, 30, seed=5)
    res = SOLVERS[name](A, y, None, x_true=x, target_error=1e-8, max_iter=3000)
    assert res.converged and relative_error(res.x, x) <= 1e-8


@pytest.mark.parametrize("name", sorted(SPARSE_SOLVERS))
def test_sign_ambiguity_either_sign_is_a_solution(name, easy):
    A, x, y = easy
    res = SPARSE_SOLVERS[name](A, y, 5, tol=1e-13, max_iter=3000)
    d_plus, d_minus = np.linalg.norm(res.x - x), np.linalg.norm(res.x + x)
    assert min(d_plus, d_minus) < 1e-6
    # the same data comes from -x: the solver cannot (and need not) tell them apart
    res_neg = SPARSE_SOLVERS[name](A, intensities(A, -x), 5, tol=1e-13, max_iter=3000)
    np.testing.assert_allclose(res_neg.x, res.x)
    assert relative_error(res.x, -x) < 1e-6


def test_solvers_are_deterministic_and_stop_on_step_tolerance(easy):
    A, x, y = easy
    r1 = newton_ht(A, y, 5, seed=3)
    r2 = newton_ht(A, y, 5, seed=3)
    assert np.array_equal(r1.x, r2.x) and r1.converged and r1.history["step"][-1] <= 1e-10
    assert "rel_error" not in r1.history and r1.time_to(1e-6) == np.inf


def test_newton_ht_converges_quadratically_first_order_linearly(easy):
    A, x, y = easy
    x0 = sparse_spectral_init(A, y, 5)
    nt = newton_ht(A, y, 5, x0=x0, x_true=x, target_error=1e-14)
    sp = sparta(A, y, 5, x0=x0, x_true=x, target_error=1e-10)
    e_nt = np.array(nt.history["rel_error"])
    # quadratic: once in the local regime, log e_{k+1} / log e_k is about 2
    k = np.flatnonzero((e_nt < 1e-2) & (e_nt > 1e-12))
    assert k.size >= 2
    orders = np.log(e_nt[k[1:]]) / np.log(e_nt[k[:-1]])
    assert np.all(orders[: k.size - 1] > 1.6)
    # the error ratio e_{k+1}/e_k collapses for Newton, stays constant for SPARTA
    e_sp = np.array(sp.history["rel_error"])
    tail = e_sp[(e_sp < 1e-3) & (e_sp > 1e-10)]
    ratios = tail[1:] / tail[:-1]
    assert ratios.size >= 3 and 0.05 < np.median(ratios) < 1
    assert np.std(np.log(ratios)) < 0.5  # linear: a (roughly) constant contraction factor
    assert e_nt[k[-1] + 1] / e_nt[k[-1]] < 0.1 * np.median(ratios)
    assert nt.iters_to(1e-10) < sp.iters_to(1e-10)


def test_thwf_converges_linearly(easy):
    A, x, y = easy
    res = thwf(A, y, 5, x_true=x, target_error=1e-10)
    e = np.array(res.history["rel_error"])
    tail = e[(e < 1e-3) & (e > 1e-10)]
    assert res.converged and tail.size > 5
    assert np.median(tail[1:] / tail[:-1]) > 0.3


def test_copram_inner_iterations_and_htp_least_squares(easy):
    A, x, y = easy
    for inner in (1, 3):
        assert copram(A, y, 5, inner_iter=inner, x_true=x, target_error=1e-10).converged
    res = htp(A, y, 5, tol=1e-14)
    np.testing.assert_allclose(np.abs(A @ res.x) ** 2, y, rtol=1e-8)


def test_coded_diffraction_recovery_with_the_fft_operator():
    rng = np.random.default_rng(0)
    img = np.zeros((16, 16))
    idx = rng.choice(256, size=12, replace=False)
    img.flat[idx] = rng.uniform(0.5, 1.0, size=12)
    op = CodedDiffraction(img.shape, n_masks=6, seed=1)
    y = intensities(op, img.ravel())
    er = error_reduction(op, y, 12, x_true=img.ravel(), target_error=1e-8, max_iter=1000,
                         seed=0)
    nt = newton_ht(op, y, 12, x_true=img.ravel(), target_error=1e-10, seed=0)
    assert er.converged and nt.converged
    assert nt.n_iter < er.n_iter
    # the matrix-free Newton direction equals the dense one on the explicit complex matrix
    M = op.todense()
    x0 = img.ravel() + 0.01 * rng.standard_normal(256) * (img.ravel() != 0)
    from sparsecourse.phase_retrieval import _op as opmod
    from sparsecourse.phase_retrieval.solvers import _newton_direction_matrix_free
    T = np.flatnonzero(img.ravel())
    d = _newton_direction_matrix_free(opmod.Operator(op), x0, op.matvec(x0), y, T,
                                      np.array([], dtype=int), 100)
    z = M @ x0
    MT = M[:, T]
    H = np.real(MT.conj().T @ ((2 * np.abs(z) ** 2 - y)[:, None] * MT)
                + MT.conj().T @ ((z**2)[:, None] * MT.conj())) / M.shape[0]
    g = np.real(MT.conj().T @ ((np.abs(z) ** 2 - y) * z)) / M.shape[0]
    np.testing.assert_allclose(d, np.linalg.solve(H, -g), rtol=1e-6, atol=1e-10)


def test_hard_threshold():
    np.testing.assert_array_equal(hard_threshold([1.0, -5.0, 2.0], 1), [0.0, -5.0, 0.0])
    np.testing.assert_array_equal(hard_threshold([1.0, 2.0], 0), [0.0, 0.0])
    with pytest.raises(ValueError, match="k must"):
        hard_threshold([1.0, 2.0], 3)
    # the same function as chapter 1's (one home for hard thresholding)
    assert hard_threshold is __import__("sparsecourse").regression.hard_threshold


# ------------------------------------------------------------------------------ bad input

@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_bad_input_is_rejected_with_a_clear_error(name):
    fn = SOLVERS[name]
    A, x, y = gaussian_phase_retrieval(30, 20, 3, seed=0)
    with pytest.raises(ValueError, match="s must be <= n"):
        fn(A, y, 21)
    with pytest.raises(ValueError, match="non-negative"):
        fn(A, y - 10.0, 3)
    with pytest.raises(ValueError, match="one intensity per row"):
        fn(A, y[:-1], 3)
    with pytest.raises(ValueError, match="x0 must have length"):
        fn(A, y, 3, x0=np.ones(19))
    with pytest.raises(ValueError, match="x_true must have length"):
        fn(A, y, 3, x_true=np.ones(19))
    with pytest.raises(ValueError, match="max_iter"):
        fn(A, y, 3, max_iter=0)
    with pytest.raises(TypeError, match="s must be an integer"):
        fn(A, y, 2.5)
    with pytest.raises(ValueError, match="NaN"):
        fn(np.full((30, 20), np.nan), y, 3)
    with pytest.raises(TypeError, match="A must be"):
        fn("not a matrix", y, 3)
    with pytest.raises(ValueError, match="all zeros"):
        fn(A, np.zeros(30), 3)


def test_sparse_solvers_require_s_and_init_rejects_bad_options():
    A, x, y = gaussian_phase_retrieval(30, 20, 3, seed=0)
    for fn in (sparta, copram, htp, newton_ht):
        with pytest.raises(TypeError, match="s .* is required"):
            fn(A, y, None)
    with pytest.raises(ValueError, match="method"):
        sparse_spectral_init(A, y, 3, method="magic")
    with pytest.raises(ValueError, match="dense"):
        sparse_spectral_init(CodedDiffraction(8, 2), np.ones(16), 2)
    with pytest.raises(ValueError, match="truncate"):
        sparse_spectral_init(A, y, 3, truncate=1.5)
    with pytest.raises(ValueError, match="x_hat has shape"):
        relative_error(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="zero vector"):
        relative_error(np.ones(3), np.zeros(3))
    with pytest.raises(ValueError, match="n_masks"):
        CodedDiffraction(8, 0)


# ------------------------------------------------------------------------------ checks

def test_check_relative_error():
    def good(xh, x):
        return min(np.linalg.norm(xh - x), np.linalg.norm(xh + x)) / np.linalg.norm(x)

    def no_sign(xh, x):
        return np.linalg.norm(xh - x) / np.linalg.norm(x)

    assert checks.check_relative_error(good)
    r = checks.check_relative_error(no_sign)
    assert not r and "sign" in r.message
    assert not checks.check_relative_error(lambda a, b: 1 / 0)
    assert not checks.check_relative_error(42)


def test_check_sparse_spectral_init():
    def learner(A, y, s):
        m = A.shape[0]
        S = np.argsort(-(y @ A**2))[:s]
        w, V = np.linalg.eigh((A[:, S] * y[:, None]).T @ A[:, S] / m)
        x = np.zeros(A.shape[1])
        x[S] = V[:, -1] * np.sqrt(y.mean())
        return x

    def unit_norm(A, y, s):
        x = learner(A, y, s)
        return x / np.linalg.norm(x)

    def wrong_support(A, y, s):
        x = learner(A, y, s)
        return np.roll(x, 1)

    assert checks.check_sparse_spectral_init(learner)
    assert "sqrt(mean(y))" in checks.check_sparse_spectral_init(unit_norm).message
    assert "support" in checks.check_sparse_spectral_init(wrong_support).message


def test_check_newton_ht_step():
    def learner(A, y, x, s):
        m = A.shape[0]
        z = A @ x
        g_amp = A.T @ (z - np.sqrt(y) * np.sign(z)) / m
        T = np.argsort(-np.abs(x - 0.95 * g_amp))[:s]
        R = np.setdiff1d(np.flatnonzero(x), T)
        w = 3 * z**2 - y
        H = (A[:, T] * w[:, None]).T @ A[:, T] / m
        rhs = -A[:, T].T @ ((z**2 - y) * z) / m + A[:, T].T @ (w * (A[:, R] @ x[R])) / m
        out = np.zeros_like(x)
        out[T] = x[T] + np.linalg.solve(H, rhs)
        return out

    def forgets_dropped(A, y, x, s):
        m = A.shape[0]
        z = A @ x
        g_amp = A.T @ (z - np.sqrt(y) * np.sign(z)) / m
        T = np.argsort(-np.abs(x - 0.95 * g_amp))[:s]
        w = 3 * z**2 - y
        H = (A[:, T] * w[:, None]).T @ A[:, T] / m
        out = np.zeros_like(x)
        out[T] = x[T] + np.linalg.solve(H, -A[:, T].T @ ((z**2 - y) * z) / m)
        return out

    assert checks.check_newton_ht_step(learner)
    r = checks.check_newton_ht_step(forgets_dropped)
    assert not r and "dropped" in r.message


# ------------------------------------------------------------------------------ docs

@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(module, optionflags=flags)
    assert result.failed == 0
    # the checks are re-homed to sparsecourse.checks, which testmod skips: run them directly
    runner = doctest.DocTestRunner(optionflags=flags)
    for attr in module.__all__:
        for test in doctest.DocTestFinder().find(getattr(module, attr), attr):
            runner.run(test)
    assert runner.failures == 0 and result.attempted + runner.tries > 0


def test_public_functions_have_docstrings_with_examples():
    import sparsecourse.phase_retrieval as pr

    for attr in pr.__all__:
        obj = getattr(pr, attr)
        if callable(obj) and not isinstance(obj, type) and not isinstance(obj, dict):
            assert obj.__doc__ and "Examples" in obj.__doc__, attr


def test_divergence_warns_and_returns_the_last_finite_iterate(easy):
    A, x, y = easy
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning, match="diverged"):
        res = wirtinger_flow(A, y, 5, step=50.0, max_iter=500, x_true=x)
    assert not res.converged and np.isfinite(res.x).all()
    assert res.history["rel_error"][-1] == np.inf


def test_truncated_power_init_works_for_coded_diffraction():
    g = np.random.default_rng(3)
    img = np.zeros((32, 32))
    img.flat[g.choice(1024, size=30, replace=False)] = g.uniform(0.3, 1.0, size=30)
    op = CodedDiffraction(img.shape, n_masks=3, seed=4)
    y = intensities(op, img.ravel())
    x0 = sparse_spectral_init(op, y, 30, method="truncated_power", seed=0)
    assert np.count_nonzero(x0) == 30 and relative_error(x0, img.ravel()) < 0.5
    with pytest.raises(ValueError, match="n_starts"):
        sparse_spectral_init(op, y, 30, method="truncated_power", n_starts=0)


def test_sparse_error_reduction_with_fewer_measurements_than_unknowns():
    A, x, y = gaussian_phase_retrieval(300, 1000, 5, seed=1)
    res = error_reduction(A, y, 5, x_true=x, target_error=1e-8, max_iter=2000)
    assert res.converged and np.count_nonzero(res.x) == 5
    # with m < n the update is the projection onto {z : A z = b * sign(A x)}, then H_s
    assert relative_error(res.x, x) <= 1e-8
