"""Sparse coding and dictionary learning (chapter 3): the torch references against the
single-vector solvers of chapter 1 and scikit-learn, the numba path against the references,
the dictionary learners on planted dictionaries, the exercise checks, bad input."""

import doctest
import importlib
import warnings

import numpy as np
import pytest
import torch
from sklearn.utils.estimator_checks import parametrize_with_checks

from sparsecourse import checks
from sparsecourse import coding as cd
from sparsecourse import regression as rg
from sparsecourse.coding import sparse_coding as sc

SUBMODULES = ["sparsecourse.coding.sparse_coding", "sparsecourse.coding.dictionary",
              "sparsecourse.checks._coding"]


def problem(m=20, n=50, batch=6, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n)) / np.sqrt(m)
    Y = rng.standard_normal((batch, m))
    return A, Y


def exact_codes(Y, A, lam):
    """Chapter 1's coordinate descent, one row at a time (its alpha is lam / m)."""
    m = A.shape[0]
    return np.stack([rg.lasso_cd(A, y, lam / m, tol=1e-15, max_iter=100_000) for y in Y])


# ------------------------------------------------------------------------------------------
# torch references
# ------------------------------------------------------------------------------------------

def test_soft_threshold_matches_chapter_1():
    x = np.linspace(-3, 3, 25)
    for tau in (0.0, 0.4, 2.0):
        np.testing.assert_allclose(sc.soft_threshold(torch.from_numpy(x), tau).numpy(),
                                   rg.soft_threshold(x, tau))
    tau = torch.tensor([0.1, 1.0, 5.0])
    out = sc.soft_threshold(torch.tensor([[1.0, 1.0, 1.0]]), tau)
    assert torch.allclose(out, torch.tensor([[0.9, 0.0, 0.0]]))
    with pytest.raises(ValueError, match="tau"):
        sc.soft_threshold(torch.ones(2), -1.0)
    with pytest.raises(ValueError, match="tau"):
        sc.soft_threshold(torch.ones(2), torch.tensor([1.0, -1.0]))


@pytest.mark.parametrize("solver,n_iter,n",
                         [(sc.batch_fista, 10_000, 50), (sc.batch_ista, 5_000, 15)])
def test_ista_fista_reach_the_lasso_solution(solver, n_iter, n):
    A, Y = problem(n=n)
    lam = 0.3
    ref = exact_codes(Y, A, lam)
    codes = solver(torch.from_numpy(Y), torch.from_numpy(A), lam, n_iter=n_iter)
    assert codes.dtype == torch.float64 and codes.shape == (6, n)
    np.testing.assert_allclose(codes.numpy(), ref, atol=1e-7)
    # numpy input is converted
    np.testing.assert_allclose(solver(Y, A, lam, n_iter=n_iter).numpy(), ref, atol=1e-7)


def test_ista_matches_chapter_1_iterate_by_iterate():
    """Chapter 1's ISTA on one vector, with the same step, gives the same iterates."""
    A, Y = problem(batch=1)
    lam, m = 0.2, A.shape[0]
    L = np.linalg.norm(A, 2) ** 2
    for k in (1, 2, 7):
        ours = sc.batch_ista(Y[0], A, lam, n_iter=k).numpy()
        # chapter 1 scales the loss by 1/m: alpha = lam / m and step * m give the same update
        theirs = rg.ista(A, Y[0], lam / m, step=m / L, max_iter=k, tol=0.0)
        np.testing.assert_allclose(ours, theirs, atol=1e-12)


def test_fista_against_sklearn_lasso_lars():
    from sklearn.linear_model import LassoLars

    A, Y = problem(m=30, n=40, batch=3, seed=1)
    lam, m = 0.1, A.shape[0]
    codes = sc.batch_fista(Y, A, lam, n_iter=5000).numpy()
    for y, c in zip(Y, codes, strict=True):
        sk = LassoLars(alpha=lam / m, fit_intercept=False).fit(A, y)
        np.testing.assert_allclose(c, sk.coef_, atol=1e-7)


def test_iterates_x0_step_and_monotone_ista():
    A, Y = problem()
    lam = 0.3
    codes, its = sc.batch_ista(Y, A, lam, n_iter=30, return_iterates=True)
    assert len(its) == 30 and torch.equal(its[-1], codes)
    obj = [sc.sparse_coding_objective(Y, A.T, x, lam) for x in its]
    assert all(b <= a + 1e-12 for a, b in zip(obj, obj[1:], strict=False))  # ISTA descends
    # restarting from iterate 10 for 20 more iterations = 30 iterations
    again = sc.batch_ista(Y, A, lam, n_iter=20, x0=its[9])
    assert torch.allclose(again, codes)
    # FISTA's iterates beat ISTA's after enough iterations
    _, fits = sc.batch_fista(Y, A, lam, n_iter=30, return_iterates=True)
    assert len(fits) == 30
    assert sc.sparse_coding_objective(Y, A.T, fits[-1], lam) < obj[-1]
    # a smaller step is slower
    slow = sc.batch_ista(Y, A, lam, n_iter=30, step=0.1 / np.linalg.norm(A, 2) ** 2)
    assert sc.sparse_coding_objective(Y, A.T, slow, lam) > obj[-1]
    # n_iter=0 returns the start
    assert torch.equal(sc.batch_fista(Y, A, lam, n_iter=0), torch.zeros(6, 50, dtype=torch.float64))


def test_float32_and_single_signal():
    A, Y = problem()
    Y32 = torch.from_numpy(Y).float()
    out = sc.batch_fista(Y32, A, 0.3, n_iter=200)
    assert out.dtype == torch.float32
    single = sc.batch_fista(Y32[2], A, 0.3, n_iter=200)
    assert single.shape == (50,)
    assert torch.allclose(single, out[2], atol=1e-5)


def test_ista_is_differentiable():
    A, Y = problem()
    At = torch.from_numpy(A).requires_grad_(True)
    codes = sc.batch_ista(torch.from_numpy(Y), At, 0.3, n_iter=5)
    codes.sum().backward()
    assert At.grad is not None and torch.isfinite(At.grad).all()


def test_reference_bad_input():
    A, Y = problem()
    with pytest.raises(ValueError, match="shape mismatch"):
        sc.batch_ista(Y, A.T, 0.1)
    with pytest.raises(ValueError, match="lam"):
        sc.batch_fista(Y, A, 0.0)
    with pytest.raises(ValueError, match="lam"):
        sc.batch_ista(Y, A, -1.0)
    with pytest.raises(TypeError, match="lam"):
        sc.batch_ista(Y, A, "0.1")
    with pytest.raises(ValueError, match="step"):
        sc.batch_ista(Y, A, 0.1, step=0.0)
    with pytest.raises(ValueError, match="step"):
        sc.batch_fista(Y, A, 0.1, step=-1.0)
    with pytest.raises(ValueError, match="n_iter"):
        sc.batch_ista(Y, A, 0.1, n_iter=-1)
    with pytest.raises(TypeError, match="n_iter"):
        sc.batch_ista(Y, A, 0.1, n_iter=2.5)
    with pytest.raises(ValueError, match="x0"):
        sc.batch_ista(Y, A, 0.1, x0=np.zeros((6, 49)))
    with pytest.raises(ValueError, match="A must be a 2-D"):
        sc.batch_ista(Y, A[0], 0.1)
    with pytest.raises(ValueError, match="Y must have shape"):
        sc.batch_ista(Y[None], A, 0.1)
    bad = Y.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="Y contains NaN"):
        sc.batch_ista(bad, A, 0.1)
    with pytest.raises(TypeError, match="Y"):
        sc.batch_ista(torch.ones(3, 20, dtype=torch.complex64), A, 0.1)


def test_lasso_objective():
    A, Y = problem()
    C = np.zeros((6, 50))
    assert sc.sparse_coding_objective(Y, A.T, C, 1.0, reduce="sum") \
        == pytest.approx(0.5 * (Y**2).sum())
    per = sc.sparse_coding_objective(Y, A.T, C, 1.0, reduce="none")
    assert per.shape == (6,)
    assert sc.sparse_coding_objective(Y, A.T, C, 1.0) == pytest.approx(per.mean())
    with pytest.raises(ValueError, match="codes must have shape"):
        sc.sparse_coding_objective(Y, A.T, C[:, :3], 1.0)
    with pytest.raises(ValueError, match="shape mismatch"):
        sc.sparse_coding_objective(Y, A, C, 1.0)
    with pytest.raises(ValueError, match="reduce"):
        sc.sparse_coding_objective(Y, A.T, C, 1.0, reduce="max")


# ------------------------------------------------------------------------------------------
# numba path
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("k,p,lam", [(30, 16, 0.5), (30, 16, 0.05), (120, 40, 0.2),
                                     (100, 20, 1.0), (10, 30, 0.3)])
def test_sparse_encode_cd_reaches_the_optimum(k, p, lam):
    """Same objective as scikit-learn's exact LARS solver (and the same codes), row by row,
    including atoms > features with dense solutions (singular support Gram matrices)."""
    from sklearn.decomposition import sparse_encode as sk_encode

    rng = np.random.default_rng(k + p)
    D = rng.standard_normal((k, p))
    X = rng.standard_normal((40, p))
    C = cd.sparse_encode(X, D, lam)
    S = sk_encode(X, D, algorithm="lasso_lars", alpha=lam)
    ours = cd.sparse_coding_objective(X, D, C, lam, reduce="none")
    theirs = cd.sparse_coding_objective(X, D, S, lam, reduce="none")
    assert np.all(ours <= theirs + 1e-10 * (1 + theirs))
    # the torch reference, run long, agrees (where the solution is unique: k <= p here)
    if k <= p:
        F = sc.batch_fista(X, D.T, lam, n_iter=5000).numpy()
        np.testing.assert_allclose(C, F, atol=1e-6)


def test_sparse_encode_warm_start_threads_and_fista():
    rng = np.random.default_rng(0)
    D = rng.standard_normal((50, 20))
    X = rng.standard_normal((30, 20))
    C = cd.sparse_encode(X, D, 0.3)
    np.testing.assert_allclose(cd.sparse_encode(X, D, 0.3, init=C), C, atol=1e-12)
    np.testing.assert_allclose(cd.sparse_encode(X, D, 0.3, n_threads=2), C, atol=1e-12)
    Co = cd.sparse_encode(X, D, algorithm="omp", n_nonzero_coefs=4)
    np.testing.assert_allclose(cd.sparse_encode(X, D, algorithm="omp", n_nonzero_coefs=4,
                                                n_threads=2), Co, atol=1e-12)
    F = cd.sparse_encode(X, D, 0.3, algorithm="fista", max_iter=5000)
    assert abs(cd.sparse_coding_objective(X, D, F, 0.3)
               - cd.sparse_coding_objective(X, D, C, 0.3)) < 1e-8
    assert cd.sparse_encode(np.zeros((0, 20)), D, 0.3).shape == (0, 50)
    # above lam_max every code is zero
    big = 1.01 * np.abs(X @ D.T).max()
    assert not cd.sparse_encode(X, D, big).any()


@pytest.mark.parametrize("k,p,lam", [(60, 12, 0.05), (40, 16, 0.3)])
def test_sparse_encode_duplicate_atoms_and_warm_starts(k, p, lam):
    """Duplicate atoms make the support's Gram matrix exactly singular: the path, the
    working-set solver from a warm start and the cold start all reach LARS's objective."""
    from sklearn.decomposition import sparse_encode as sk_encode

    rng = np.random.default_rng(k)
    D = rng.standard_normal((k, p))
    D[1::7] = D[0::7][: len(D[1::7])]  # duplicates
    X = rng.standard_normal((30, p))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LARS warns about the degenerate (duplicate) atoms
        S = sk_encode(X, D, algorithm="lasso_lars", alpha=lam)
    ref = cd.sparse_coding_objective(X, D, S, lam, reduce="none")
    cold = cd.sparse_encode(X, D, lam)
    warm = cd.sparse_encode(X, D, lam, init=cd.sparse_encode(X, D, 3 * lam))
    for C in (cold, warm):
        ours = cd.sparse_coding_objective(X, D, C, lam, reduce="none")
        assert np.all(ours <= ref + 1e-9 * (1 + ref))


@pytest.mark.parametrize("k,p,lam", [(30, 16, 0.05), (120, 40, 0.2), (60, 12, 0.05)])
def test_path_and_working_set_solver_each_reach_the_optimum(k, p, lam):
    """The two compiled solvers behind sparse_encode, each on its own: the LASSO path from
    zero (with its Cholesky updates) and the working-set solver from a warm start (the
    fallback where the path stops early) both reach LARS's objective."""
    from sklearn.decomposition import sparse_encode as sk_encode

    from sparsecourse.coding import _kernels as kern

    rng = np.random.default_rng(k + p)
    D = rng.standard_normal((k, p))
    X = rng.standard_normal((20, p))
    G, B, xx = D @ D.T, X @ D.T, np.einsum("ij,ij->i", X, X)
    ref = cd.sparse_coding_objective(X, D, sk_encode(X, D, algorithm="lasso_lars", alpha=lam),
                                     lam, reduce="none")
    warm = cd.sparse_encode(X, D, 2 * lam)
    path, ws = np.zeros((20, k)), warm.copy()
    ints = [np.empty(k, dtype=np.int64) for _ in range(3)]
    vecs = [np.empty(k) for _ in range(8)]
    mats = [np.empty((k, k)) for _ in range(2)]
    for r in range(20):
        work, act, pos = ints
        viol, cs, gs, rhs, d, g, sg, a = vecs
        Gs, M = mats
        kern._homotopy(G, B[r], lam, path[r], g, act, pos, sg, M, cs, a, 8 * k + 64)
        kern._gradient(G, B[r], ws[r], g)
        kern._cd_one(G, B[r], xx[r], lam, ws[r], g, 1e-12 * xx[r], 1000, work, viol, Gs, cs,
                     gs, M, rhs, d, act)
    for C in (path, ws):
        ours = cd.sparse_coding_objective(X, D, C, lam, reduce="none")
        assert np.all(ours <= ref + 1e-8 * (1 + ref))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_sparse_encode_speaks_sklearn():
    """scikit-learn's names (alpha=, algorithm="lasso_cd"/"lasso_lars") give the same codes as
    ours; float32 in gives float32 out, as in scikit-learn; mixed precision gives float64."""
    from sklearn.decomposition import sparse_encode as sk_encode

    rng = np.random.default_rng(3)
    D = rng.standard_normal((40, 16))
    X = rng.standard_normal((25, 16))
    C = cd.sparse_encode(X, D, 0.4)
    for algorithm in ("lasso_cd", "lasso_lars"):
        np.testing.assert_array_equal(cd.sparse_encode(X, D, alpha=0.4, algorithm=algorithm), C)
    X32, D32 = X.astype(np.float32), D.astype(np.float32)
    for algorithm in ("cd", "lasso_cd", "fista", "omp"):
        kw = {"n_nonzero_coefs": 3} if algorithm == "omp" else {"alpha": 0.4}
        C32 = cd.sparse_encode(X32, D32, algorithm=algorithm, **kw)
        assert C32.dtype == np.float32, algorithm
        assert cd.sparse_encode(X32, D, algorithm=algorithm, **kw).dtype == np.float64
        sk_algorithm = "lasso_cd" if algorithm in ("cd", "fista") else algorithm
        assert sk_encode(X32, D32, algorithm=sk_algorithm, **kw).dtype == C32.dtype
    C32 = cd.sparse_encode(X32, D32, alpha=0.4, algorithm="lasso_cd")
    np.testing.assert_allclose(C32, C, atol=1e-5)
    # equal or better objective than scikit-learn's float32 lasso_cd on the same float32 input
    S32 = sk_encode(X32, D32, algorithm="lasso_cd", alpha=0.4)
    assert (cd.sparse_coding_objective(X32, D32, C32, 0.4)
            <= cd.sparse_coding_objective(X32, D32, S32, 0.4) + 1e-6)
    assert cd.sparse_encode(np.zeros((0, 16), np.float32), D32, 0.4).dtype == np.float32


@pytest.mark.parametrize("k", [10, 40])
def test_sparse_encode_zero_penalty_is_least_squares(k):
    """alpha = 0 is accepted, as in scikit-learn: least-squares codes, at least as good a fit as
    scikit-learn's; the same codes as its exact LARS where they are unique (k <= p)."""
    from sklearn.decomposition import sparse_encode as sk_encode

    rng = np.random.default_rng(k)
    D = rng.standard_normal((k, 20))
    X = rng.standard_normal((6, 20))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn warns that alpha=0 converges badly
        S_cd = sk_encode(X, D, algorithm="lasso_cd", alpha=0.0)
        S_lars = sk_encode(X, D, algorithm="lasso_lars", alpha=0.0)
    for algorithm in ("cd", "lasso_cd", "fista"):
        C = cd.sparse_encode(X, D, alpha=0.0, algorithm=algorithm)
        ours = cd.sparse_coding_objective(X, D, C, 0.0, reduce="none")
        for S in (S_cd, S_lars):
            assert np.all(ours <= cd.sparse_coding_objective(X, D, S, 0.0, reduce="none") + 1e-9)
    if k <= 20:
        np.testing.assert_allclose(cd.sparse_encode(X, D, 0.0), S_lars, atol=1e-8)
    else:
        np.testing.assert_allclose(cd.sparse_encode(X, D, 0.0) @ D, X, atol=1e-10)
    C32 = cd.sparse_encode(X.astype(np.float32), D.astype(np.float32), alpha=0)
    assert C32.dtype == np.float32


@pytest.mark.parametrize("k_nz", [1, 3, 8])
def test_batch_omp_matches_chapter_1_omp(k_nz):
    rng = np.random.default_rng(k_nz)
    D = rng.standard_normal((60, 20))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    X = rng.standard_normal((25, 20))
    C = cd.sparse_encode(X, D, algorithm="omp", n_nonzero_coefs=k_nz)
    ref = np.stack([rg.omp(D.T, x, k_nz) for x in X])
    np.testing.assert_allclose(C, ref, atol=1e-10)
    # the residual tolerance stops early
    tol = 0.5 * np.min(np.sum(X**2, axis=1))
    Ct = cd.sparse_encode(X, D, algorithm="omp", n_nonzero_coefs=20, tol=tol)
    assert np.all(np.sum((X - Ct @ D) ** 2, axis=1) <= tol + 1e-9)
    assert (Ct != 0).sum(axis=1).max() < 20


def test_sparse_encode_bad_input():
    rng = np.random.default_rng(0)
    D = rng.standard_normal((10, 5))
    X = rng.standard_normal((4, 5))
    with pytest.raises(ValueError, match="shape mismatch"):
        cd.sparse_encode(X, D.T, 0.1)
    with pytest.raises(ValueError, match="lam"):
        cd.sparse_encode(X, D, -0.1)
    with pytest.raises(ValueError, match="alpha"):
        cd.sparse_encode(X, D, alpha=-0.1)
    with pytest.raises(ValueError, match="not both"):
        cd.sparse_encode(X, D, 0.1, alpha=0.1)
    with pytest.raises(ValueError, match="alpha is not used"):
        cd.sparse_encode(X, D, alpha=0.1, algorithm="omp")
    with pytest.raises(ValueError, match=r"lam \(or alpha\) is required"):
        cd.sparse_encode(X, D)
    with pytest.raises(ValueError, match="n_nonzero_coefs"):
        cd.sparse_encode(X, D, algorithm="omp", n_nonzero_coefs=11)
    with pytest.raises(ValueError, match="n_nonzero_coefs"):
        cd.sparse_encode(X, D, algorithm="omp", n_nonzero_coefs=0)
    with pytest.raises(ValueError, match="lam is not used"):
        cd.sparse_encode(X, D, 0.1, algorithm="omp", n_nonzero_coefs=2)
    with pytest.raises(ValueError, match="algorithm"):
        cd.sparse_encode(X, D, 0.1, algorithm="lars")
    with pytest.raises(ValueError, match="init"):
        cd.sparse_encode(X, D, 0.1, init=np.zeros((4, 9)))
    with pytest.raises(ValueError, match="X must be 2-D"):
        cd.sparse_encode(X[0], D, 0.1)
    bad = X.copy()
    bad[1, 1] = np.inf
    with pytest.raises(ValueError, match="X contains NaN"):
        cd.sparse_encode(bad, D, 0.1)


# ------------------------------------------------------------------------------------------
# dictionary learning
# ------------------------------------------------------------------------------------------

def planted(n=1500, p=16, k=24, s=3, noise=0.0, seed=0):
    """Signals that are exactly s-sparse combinations of a random unit-norm dictionary."""
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((k, p))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    C = np.zeros((n, k))
    for i in range(n):
        idx = rng.choice(k, s, replace=False)
        C[i, idx] = rng.choice([-1, 1], s) * rng.uniform(0.5, 1.5, s)
    return C @ D + noise * rng.standard_normal((n, p)), D


def recovered(D_true, D, thr=0.99):
    """Fraction of the planted atoms matched by a learned atom with |cosine| >= thr."""
    return float(np.mean(np.max(np.abs(D_true @ D.T), axis=1) >= thr))


def test_ksvd_recovers_a_planted_dictionary():
    X, D_true = planted()
    D, hist = cd.learn_dictionary(X, 24, method="ksvd", n_nonzero_coefs=3, n_iter=25, seed=0,
                                  return_history=True)
    assert recovered(D_true, D) >= 0.8
    assert hist[-1] < 0.25 * hist[0]
    assert np.allclose(np.linalg.norm(D, axis=1), 1)


def test_mod_recovers_a_planted_dictionary():
    X, D_true = planted()
    D = cd.learn_dictionary(X, 24, method="mod", n_nonzero_coefs=3, n_iter=25, seed=0)
    assert recovered(D_true, D) >= 0.8


def test_online_and_mod_lasso_decrease_the_objective():
    X, _ = planted(noise=0.05, n=800)
    for method in ("online", "mod"):
        D, hist = cd.learn_dictionary(X, 24, method=method, lam=0.1, n_iter=4, seed=0,
                                      return_history=True)
        assert hist[-1] < 0.9 * hist[0], method
        assert np.all(np.linalg.norm(D, axis=1) <= 1 + 1e-12)


def test_ksvd_update_never_increases_the_error_and_keeps_supports():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((300, 10))
    D = cd.init_dictionary(X, 20, seed=0)
    C = cd.sparse_encode(X, D, algorithm="omp", n_nonzero_coefs=3)
    D2, C2 = cd.ksvd_update(X, D, C)
    assert np.linalg.norm(X - C2 @ D2) <= np.linalg.norm(X - C @ D) + 1e-12
    assert np.array_equal(C2 != 0, C != 0) or np.all((C2 != 0) <= (C != 0))
    used = np.any(C != 0, axis=0)
    assert np.allclose(np.linalg.norm(D2[used], axis=1), 1)


def test_mod_update_is_least_squares():
    rng = np.random.default_rng(2)
    C = rng.standard_normal((50, 4))
    X = rng.standard_normal((50, 7))
    D = cd.mod_update(X, C)
    raw = np.linalg.solve(C.T @ C, C.T @ X)
    np.testing.assert_allclose(D, raw / np.linalg.norm(raw, axis=1, keepdims=True))
    with pytest.raises(ValueError, match="shape mismatch"):
        cd.mod_update(X, C[:10])


def test_online_update_minimises_the_surrogate_per_atom():
    rng = np.random.default_rng(3)
    C = rng.standard_normal((40, 5))
    X = rng.standard_normal((40, 6)) * 0.1
    A, B = C.T @ C, C.T @ X
    D0 = cd.normalize_atoms(rng.standard_normal((5, 6)))

    def surrogate(D):
        return 0.5 * np.trace(D.T @ A @ D) - np.trace(D.T @ B)

    D1 = cd.online_dictionary_update(D0, A, B)
    assert surrogate(D1) <= surrogate(D0)
    assert np.all(np.linalg.norm(D1, axis=1) <= 1 + 1e-12)
    with pytest.raises(ValueError, match="A must have shape"):
        cd.online_dictionary_update(D0, A[:3], B)


def test_dictionary_learning_estimator():
    from sklearn.base import clone

    X, _ = planted(n=400)
    est = cd.DictionaryLearning(n_components=24, alpha=0.05, max_iter=3, random_state=0)
    codes = est.fit_transform(X)
    assert codes.shape == (400, 24) and est.components_.shape == (24, 16)
    assert est.history_[-1] < est.history_[0]
    np.testing.assert_allclose(est.inverse_transform(codes), codes @ est.components_)
    again = clone(est).fit(X)
    np.testing.assert_allclose(again.components_, est.components_)  # deterministic
    ks = cd.DictionaryLearning(n_components=24, method="ksvd", alpha=None, n_nonzero_coefs=3,
                               max_iter=3, random_state=0).fit(X)
    assert ((ks.transform(X) != 0).sum(axis=1) <= 3).all()
    with pytest.raises(ValueError, match="features"):
        est.transform(X[:, :5])


@parametrize_with_checks([cd.DictionaryLearning(),
                          cd.DictionaryLearning(n_components=5, max_iter=2, random_state=0)])
def test_dictionary_learning_passes_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_dictionary_learning_defaults_and_more_atoms_than_samples():
    X = np.random.default_rng(3).standard_normal((12, 7))
    est = cd.DictionaryLearning(random_state=0).fit(X)
    assert est.components_.shape == (7, 7)  # n_components=None means n_features
    wide = cd.DictionaryLearning(n_components=40, max_iter=2, random_state=0).fit(X)
    assert wide.components_.shape == (40, 7)
    assert np.all(np.isfinite(wide.components_))
    codes = wide.transform(X)
    # the overcomplete fit explains the data at least as well as a zero code
    assert np.linalg.norm(X - codes @ wide.components_) < np.linalg.norm(X)
    with pytest.raises(ValueError, match="n_components"):
        cd.DictionaryLearning(n_components=0).fit(X)


def test_learn_dictionary_bad_input():
    X, _ = planted(n=100)
    with pytest.raises(ValueError, match="exactly one"):
        cd.learn_dictionary(X, 8, lam=0.1, n_nonzero_coefs=2)
    with pytest.raises(ValueError, match="exactly one"):
        cd.learn_dictionary(X, 8)
    with pytest.raises(ValueError, match="ksvd"):
        cd.learn_dictionary(X, 8, method="ksvd", lam=0.1)
    with pytest.raises(ValueError, match="online"):
        cd.learn_dictionary(X, 8, method="online", n_nonzero_coefs=2)
    with pytest.raises(ValueError, match="method"):
        cd.learn_dictionary(X, 8, method="svd", lam=0.1)
    with pytest.raises(ValueError, match="n_nonzero_coefs"):
        cd.learn_dictionary(X, 8, method="ksvd", n_nonzero_coefs=9)
    with pytest.raises(ValueError, match="lam"):
        cd.learn_dictionary(X, 8, lam=-1.0)
    with pytest.raises(ValueError, match="init"):
        cd.learn_dictionary(X, 8, lam=0.1, init=np.ones((8, 3)))
    with pytest.raises(ValueError, match="n_atoms"):
        cd.init_dictionary(X, 101)


def test_predictive_sparse_decomposition_learns_to_predict():
    X, _ = planted(n=256, noise=0.02)
    psd = cd.PredictiveSparseDecomposition(16, 24, lam=0.1, seed=0)
    Xt = torch.from_numpy(X).float()
    with torch.no_grad():
        before = float(((psd(Xt) - psd.optimal_codes(Xt)) ** 2).sum(1).mean())
    hist = psd.fit(X, n_epochs=6, batch_size=64, n_code_iter=30)
    with torch.no_grad():
        after = float(((psd(Xt) - psd.optimal_codes(Xt)) ** 2).sum(1).mean())
    assert hist[-1] < hist[0]
    assert after < 0.5 * before
    assert torch.allclose(psd.dictionary.norm(dim=1), torch.ones(24), atol=1e-5)
    with pytest.raises(ValueError, match="features"):
        psd(torch.ones(3, 5))
    with pytest.raises(ValueError, match="lam"):
        cd.PredictiveSparseDecomposition(16, 24, lam=0.0)


def test_psnr():
    ref = np.linspace(0, 1, 50)
    assert cd.psnr(ref, ref) == np.inf
    assert cd.psnr(ref, ref + 0.1) == pytest.approx(20.0)
    with pytest.raises(ValueError, match="shape mismatch"):
        cd.psnr(ref, ref[:10])


# ------------------------------------------------------------------------------------------
# exercise checks
# ------------------------------------------------------------------------------------------

def test_check_ista_step():
    def good(X, Y, A, lam, t):
        V = X - t * (X @ A.T - Y) @ A
        return np.sign(V) * np.maximum(np.abs(V) - t * lam, 0)

    def no_threshold(X, Y, A, lam, t):
        return X - t * (X @ A.T - Y) @ A

    def wrong_threshold(X, Y, A, lam, t):
        V = X - t * (X @ A.T - Y) @ A
        return np.sign(V) * np.maximum(np.abs(V) - lam, 0)

    def torch_answer(X, Y, A, lam, t):
        return sc.batch_ista(Y, A, lam, n_iter=1, step=t, x0=X) if lam > 0 else good(X, Y, A, 0, t)

    assert checks.check_ista_step(good)
    assert checks.check_ista_step(torch_answer)
    r = checks.check_ista_step(no_threshold)
    assert not r and "soft-threshold" in r.message
    r = checks.check_ista_step(wrong_threshold)
    assert not r and "step * lam" in r.message
    assert not checks.check_ista_step(lambda *a: 1 / 0)
    assert not checks.check_ista_step(42)


def test_check_mod_update():
    def good(X, C):
        D = np.linalg.lstsq(C, X, rcond=None)[0]
        return D / np.linalg.norm(D, axis=1, keepdims=True)

    assert checks.check_mod_update(good)
    r = checks.check_mod_update(lambda X, C: np.linalg.lstsq(C, X, rcond=None)[0])
    assert not r and "unit norm" in r.message
    assert not checks.check_mod_update(lambda X, C: good(X, C).T)


def test_check_psnr():
    assert checks.check_psnr(lambda a, b: 10 * np.log10(1 / np.mean((a - b) ** 2)))
    r = checks.check_psnr(lambda a, b: 20 * np.log10(1 / np.mean((a - b) ** 2)))
    assert not r and "MSE" in r.message
    assert not checks.check_psnr(lambda a, b: np.mean((a - b) ** 2))


# ------------------------------------------------------------------------------------------
# doctests
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", SUBMODULES)
def test_doctests(name):
    module = importlib.import_module(name)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    if name.startswith("sparsecourse.checks"):
        # sparsecourse.checks re-homes its functions (__module__), which hides them from
        # testmod: run their docstrings one by one
        finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(optionflags=flags)
        for fname in module.__all__:
            for test in finder.find(getattr(module, fname), fname, globs={}):
                runner.run(test)
        result = runner.summarize(verbose=False)
    else:
        result = doctest.testmod(module, optionflags=flags)
    assert result.failed == 0 and result.attempted > 0
