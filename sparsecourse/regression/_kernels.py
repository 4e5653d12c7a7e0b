"""Numba kernels behind the fast solvers of :mod:`sparsecourse.regression`.

These are the *fast* versions; the readable references live in :mod:`.lasso`, :mod:`.greedy`
and :mod:`.thresholding`, and the tests pin one to the other.

The LASSO kernel works on the *unscaled* problem

.. math::

    \\min_\\beta \\; P(\\beta) = \\tfrac12 \\|y - X\\beta\\|_2^2 + \\sum_j \\lambda_j |\\beta_j|,
    \\qquad \\lambda_j = n\\,\\alpha\\,\\omega_j ,

(scikit-learn's objective multiplied by ``n``), whose dual is

.. math::

    \\max_\\theta \\; D(\\theta) = \\langle y, \\theta\\rangle - \\tfrac12 \\|\\theta\\|_2^2
    \\quad \\text{s.t.} \\quad |x_j^\\top \\theta| \\le \\lambda_j \\;\\; \\forall j .

Any residual ``r = y - X beta`` becomes a dual feasible point after rescaling,
``theta = r / max(1, max_j |x_j^T r| / lambda_j)``, so every iterate comes with a duality gap
``P(beta) - D(theta) >= P(beta) - P(beta*)``: a certificate of its own accuracy.

Five ideas make the solver fast (the first four from Massias, Gramfort & Salmon, *Celer*, ICML
2018, and Bertrand & Massias, *Anderson acceleration of coordinate descent*, AISTATS 2021):

1. **Working sets.** Coordinate descent runs on a small set of features (those most likely
   to be non-zero, ranked by their distance to the dual constraint), and the set doubles with the
   support until the *full* problem's duality gap is small enough.
2. **Gap-safe screening.** The dual is 1-strongly concave, so ``||theta - theta*|| <=
   sqrt(2 gap)``: a feature with ``lambda_j - |x_j^T theta| > ||x_j|| sqrt(2 gap)`` is zero at the
   optimum and is discarded for good.
3. **Dual extrapolation.** The residuals of successive epochs converge like a linear
   recurrence; an Anderson-type combination of the last ``K`` of them gives a much better dual
   point than the last residual, hence a much smaller (still valid) gap, hence earlier stopping.
4. **Primal Anderson acceleration** of the coordinate-descent iterates inside the working set,
   accepted only when it lowers the objective.
5. **Support refinement.** Coordinate descent finds the support and signs of the solution long
   before it has converged to a tight tolerance, and crawls when ``X_S`` is ill-conditioned
   (support size close to ``n``). Once the support and signs stop changing, the optimality
   conditions on the support, linear equations, are solved exactly by feature-sign search
   (Lee, Battle, Raina & Ng, NIPS 2006); the step is accepted only if it lowers the objective
   and is tried only once coordinate descent has spent as much work as it costs.

The same kernel serves scikit-learn's options: ``positive`` (the constraint ``beta >= 0``
makes the dual constraint one-sided, ``x_j^T theta <= lambda_j``; coordinate updates are
clipped at 0, and screening, the dual scaling, Anderson steps and the refinement all respect
it), random coordinate order (``selection='random'``: the working set is shuffled every epoch
by numba's generator, seeded from ``random_state``), a sparse design (CSC arrays plus a
rank-one centring term, read through :func:`_col_dot` and its siblings; see there) and float32
input (read as is, float64 arithmetic). ``precompute`` needs no kernel of its own:
:func:`gram_design` turns the Gram matrix into an equivalent problem with ``p`` rows.

All loops are compiled (``cache=True``), single-threaded (no BLAS call inside: a multi-threaded
BLAS call stalls when another process holds a core), and the LASSO kernel works on ``Xt = X.T``
stored C-contiguous, so that column ``j`` of ``X`` is the contiguous row ``Xt[j]``. The OMP
kernel (:func:`omp_kernel`) is at the end of the file.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numba import types
from numba.extending import overload

from .._linalg import FASTMATH as _FM  # reassociation vectorises the dot products
from .._linalg import cholesky_solve_inplace, dot, solve_spd

# ------------------------------------------------------------------------------------------
# Column access: a dense ``Xt`` (features as rows) or a sparse design
# ------------------------------------------------------------------------------------------
# Every kernel below reads the design only through these four functions, so that one source
# serves two layouts, chosen by numba from the argument's type:
#
# * dense: ``Xt``, a 2-D array whose row ``j`` is column ``j`` of ``X`` (float64 or float32;
#   the arithmetic is float64 either way);
# * sparse: the tuple ``(data, indices, indptr, offset, u)``: the CSC arrays of ``X`` and a
#   rank-one correction, column ``j`` being ``X[:, j] - offset[j] * u``. That is how a sparse
#   ``X`` is centred for the intercept without densifying it (``u`` is all ones, or
#   ``sqrt(sample_weight)`` with sample weights), as scikit-learn does. Every vector ``v``
#   the solver takes products with is a residual ``y - X beta`` or an affine combination of
#   residuals, and every column and the centred ``y`` are orthogonal to ``u``; so
#   ``u^T v = 0`` and ``x_j^T v`` is the sparse product alone: ``O(nnz_j)``, not ``O(n)``
#   (scikit-learn uses the same invariant, its constant ``R_sum``). :func:`lasso_ws` checks
#   that ``y`` is orthogonal to ``u`` when there is an offset. Only a changed coefficient
#   costs ``O(n)``, in :func:`_col_axpy`.


def _col_dot(X, j, v):  # pragma: no cover - compiled through the overload below
    """x_j^T v."""
    raise NotImplementedError


def _col_axpy(X, j, a, v):  # pragma: no cover - compiled through the overload below
    """v += a * x_j."""
    raise NotImplementedError


def _col_copy(X, j, out):  # pragma: no cover - compiled through the overload below
    """out[:] = x_j (dense)."""
    raise NotImplementedError


def _n_cols(X):  # pragma: no cover - compiled through the overload below
    """The number of features."""
    raise NotImplementedError


@overload(_col_dot, jit_options={"fastmath": _FM})
def _ol_col_dot(X, j, v):  # pragma: no cover - compiled
    if isinstance(X, types.Array):
        def dense(X, j, v):
            s = 0.0
            for i in range(v.shape[0]):
                s += X[j, i] * v[i]
            return s
        return dense

    def sparse(X, j, v):  # v is orthogonal to u (see above): the offset term is zero
        data, indices, indptr = X[0], X[1], X[2]
        s = 0.0
        for k in range(indptr[j], indptr[j + 1]):
            s += data[k] * v[indices[k]]
        return s
    return sparse


@overload(_col_axpy, jit_options={"fastmath": _FM})
def _ol_col_axpy(X, j, a, v):  # pragma: no cover - compiled
    if isinstance(X, types.Array):
        def dense(X, j, a, v):
            for i in range(v.shape[0]):
                v[i] += a * X[j, i]
        return dense

    def sparse(X, j, a, v):
        data, indices, indptr, offset, u = X
        for k in range(indptr[j], indptr[j + 1]):
            v[indices[k]] += a * data[k]
        if offset[j] != 0.0:
            c = a * offset[j]
            for i in range(v.shape[0]):
                v[i] -= c * u[i]
    return sparse


@overload(_col_copy)
def _ol_col_copy(X, j, out):  # pragma: no cover - compiled
    if isinstance(X, types.Array):
        def dense(X, j, out):
            for i in range(out.shape[0]):
                out[i] = X[j, i]
        return dense

    def sparse(X, j, out):
        data, indices, indptr, offset, u = X
        for i in range(out.shape[0]):
            out[i] = -offset[j] * u[i]
        for k in range(indptr[j], indptr[j + 1]):
            out[indices[k]] += data[k]
    return sparse


@overload(_n_cols)
def _ol_n_cols(X):  # pragma: no cover - compiled
    if isinstance(X, types.Array):
        return lambda X: X.shape[0]
    return lambda X: X[2].shape[0] - 1


@nb.njit(cache=True)
def _anderson_weights(H, m):  # pragma: no cover - compiled
    """Weights c (summing to 1) minimising ||sum_k c_k (h_{k+1} - h_k)|| over the rows of H.

    ``H`` holds ``m + 1`` stored iterates as rows; returns ``(c, ok)`` with ``len(c) == m``,
    to be applied to the rows ``H[1:]``.
    """
    d = H.shape[1]
    U = np.empty((m, d))
    for k in range(m):
        for i in range(d):
            U[k, i] = H[k + 1, i] - H[k, i]
    C = np.empty((m, m))
    for a in range(m):
        for b in range(a, m):
            s = 0.0
            for i in range(d):
                s += U[a, i] * U[b, i]
            C[a, b] = s
            C[b, a] = s
    z, ok = solve_spd(C, np.ones(m))
    if not ok:
        return z, False
    tot = z.sum()
    if tot == 0.0 or not np.isfinite(tot):
        return z, False
    return z / tot, True


@nb.njit(cache=True, fastmath=_FM)
def _dual_value(y, theta, scale):  # pragma: no cover - compiled
    """D(scale * theta) = scale <y, theta> - scale^2 ||theta||^2 / 2."""
    return scale * dot(y, theta) - 0.5 * scale * scale * dot(theta, theta)


@nb.njit(cache=True, fastmath=_FM)
def _gram_rows(A):  # pragma: no cover - compiled
    """A @ A.T for a C-contiguous A, single-threaded.

    (A multi-threaded BLAS call is faster on an idle machine but can stall for milliseconds
    when another process holds a core; the kernels stay on one thread.)
    """
    m = A.shape[0]
    G = np.empty((m, m))
    for a in range(m):
        for b in range(a, m):
            v = dot(A[a], A[b])
            G[a, b] = v
            G[b, a] = v
    return G


@nb.njit(cache=True, fastmath=_FM)
def _line_objective(x, d, lam_S, rr, ru, uu, t):  # pragma: no cover - compiled
    """0.5 ||r - t u||^2 + sum_j lam_j |x_j + t d_j|, from rr = r.r, ru = r.u, uu = u.u."""
    f = 0.5 * (rr - 2.0 * t * ru + t * t * uu)
    for a in range(x.shape[0]):
        f += lam_S[a] * abs(x[a] + t * d[a])
    return f


@nb.njit(cache=True, fastmath=_FM)
def _feature_sign_refine(Xt, y, lam, beta, r, S, max_steps, positive):  # pragma: no cover
    """Solve the LASSO restricted to the support ``S`` exactly, from the current ``beta``.

    This is the *feature-sign search* of Lee, Battle, Raina & Ng (NIPS 2006), started from the
    support and signs that coordinate descent has settled on. On a support ``S`` with signs
    ``s`` the LASSO solution satisfies the linear equations ``X_S^T (y - X_S b) = lambda_S * s``;
    one step solves them and moves from ``beta_S`` towards their solution, stopping at the best
    of the points where a coefficient changes sign (which then leaves the support). When ``S``
    has more features than there are samples, the step instead follows the direction of the null
    space of ``X_S`` that decreases the penalty: the fit does not change, the l1 norm goes down,
    and a coefficient reaches zero.

    With ``positive`` no step goes past the first point where a coefficient reaches zero (the
    constraint ``beta >= 0``; the objective restricted to that segment is the quadratic of the
    current signs, so the best point is the Newton point or the segment's end).

    ``beta`` and ``r`` are updated in place; every accepted step lowers the objective. Returns
    True when the equations were solved with consistent signs: the problem restricted to ``S``
    is then solved, and coordinate descent checks the features outside ``S`` next.
    """
    n = y.shape[0]
    m0 = S.shape[0]
    XS = np.empty((m0, n))
    for a in range(m0):
        _col_copy(Xt, S[a], XS[a])
    G0 = _gram_rows(XS)
    c0 = np.empty(m0)
    for a in range(m0):
        c0[a] = dot(XS[a], y)
    act = np.arange(m0)  # positions (in S) of the features still in the support
    m = m0
    u = np.empty(n)
    for _ in range(max_steps):
        if m == 0:
            return True
        x = np.empty(m)
        sg = np.empty(m)
        lam_S = np.empty(m)
        for a in range(m):
            x[a] = beta[S[act[a]]]
            sg[a] = 1.0 if x[a] > 0.0 else -1.0
            lam_S[a] = lam[S[act[a]]]
        d = np.empty(m)
        newton = False
        if m <= n:
            G = np.empty((m, m))
            rhs = np.empty(m)
            for a in range(m):
                for b in range(m):
                    G[a, b] = G0[act[a], act[b]]
                rhs[a] = c0[act[a]] - lam_S[a] * sg[a]
            z, newton = solve_spd(G, rhs)
            if newton:
                for a in range(m):
                    d[a] = z[a] - x[a]
        if not newton:
            if m <= n:
                return False  # singular X_S with few columns: leave it to coordinate descent
            # null-space step: d = -(I - X_S^T (X_S X_S^T)^-1 X_S) lam*s
            XA = np.empty((m, n))
            ls = np.empty(m)
            for a in range(m):
                XA[a] = XS[act[a]]
                ls[a] = lam_S[a] * sg[a]
            XAt = np.ascontiguousarray(XA.T)
            H = _gram_rows(XAt)
            v = np.zeros(n)
            for a in range(m):
                for i in range(n):
                    v[i] += ls[a] * XA[a, i]
            w, ok = solve_spd(H, v)
            if not ok:
                return False
            for a in range(m):
                d[a] = dot(XA[a], w) - ls[a]
        # u = X_S d; the objective along beta_S + t d is a piecewise quadratic in t
        u[:] = 0.0
        for a in range(m):
            da = d[a]
            if da != 0.0:
                for i in range(n):
                    u[i] += da * XS[act[a], i]
        rr = dot(r, r)
        ru = dot(r, u)
        uu = dot(u, u)
        t_hi = 1.0 if newton else np.inf
        if positive:  # stay feasible: stop at the first coefficient that reaches zero
            for a in range(m):
                if x[a] * d[a] < 0.0:
                    t_hi = min(t_hi, -x[a] / d[a])
            newton = newton and t_hi == 1.0
        best_t = t_hi
        best_f = _line_objective(x, d, lam_S, rr, ru, uu, 1.0) if newton else np.inf
        for a in range(m):  # breakpoints where a coefficient reaches zero
            if x[a] * d[a] < 0.0:
                ta = -x[a] / d[a]
                if ta < t_hi or (positive and ta == t_hi):
                    fa = _line_objective(x, d, lam_S, rr, ru, uu, ta)
                    if fa < best_f or (not newton and ta < best_t):
                        best_f = fa
                        best_t = ta
        f0 = _line_objective(x, d, lam_S, rr, ru, uu, 0.0)
        if not (best_f < f0) or not np.isfinite(best_t):
            return False
        for a in range(m):
            xa = x[a] + best_t * d[a]
            if x[a] * d[a] < 0.0 and -x[a] / d[a] == best_t:
                xa = 0.0  # the coefficient that reached zero leaves the support
            beta[S[act[a]]] = xa
        for i in range(n):
            r[i] -= best_t * u[i]
        if newton and best_t == 1.0:
            return True
        k = 0
        for a in range(m):
            if beta[S[act[a]]] != 0.0:
                act[k] = act[a]
                k += 1
        m = k
    return False


# ------------------------------------------------------------------------------------------
# The working-set solver, in named steps (the shape of skglm's solver)
# ------------------------------------------------------------------------------------------

@nb.njit(cache=True, fastmath=_FM)
def _residual(Xt, y, beta, r):  # pragma: no cover - compiled
    """r = y - X beta, recomputed from scratch (removes the drift of many rank-one updates)."""
    r[:] = y
    for j in range(_n_cols(Xt)):
        if beta[j] != 0.0:
            _col_axpy(Xt, j, -beta[j], r)


@nb.njit(cache=True, fastmath=_FM)
def _dual_scale(Xt, v, lam, feats, n_feats, xtv, positive):  # pragma: no cover - compiled
    """``xtv[k] = x_j^T v`` for ``j = feats[k]``; returns the ``s`` that makes ``s v`` dual
    feasible for those features, ``s = 1 / max(1, max_k |x_j^T v| / lambda_j)``. With
    ``positive`` (``beta >= 0``) the dual constraint is one-sided, ``x_j^T theta <= lambda_j``,
    and ``|x_j^T v|`` becomes ``x_j^T v``."""
    dnorm = 0.0
    for k in range(n_feats):
        j = feats[k]
        xtv[k] = _col_dot(Xt, j, v)
        a = (xtv[k] if positive else abs(xtv[k])) / lam[j]
        if a > dnorm:
            dnorm = a
    return 1.0 / max(1.0, dnorm)


@nb.njit(cache=True, fastmath=_FM)
def _keep_better_dual(y, v, scale, best, theta):  # pragma: no cover - compiled
    """``theta = scale v`` if that dual point beats the value ``best``; the better value."""
    d = _dual_value(y, v, scale)
    if d > best:
        for i in range(v.shape[0]):
            theta[i] = scale * v[i]
        return d
    return best


@nb.njit(cache=True, fastmath=_FM)
def _primal_value(r, beta, lam, feats, n_feats):  # pragma: no cover - compiled
    """P = ||r||^2 / 2 + sum_k lambda_j |beta_j| over ``j = feats[k]`` (the others are zero)."""
    f = 0.5 * dot(r, r)
    for k in range(n_feats):
        j = feats[k]
        f += lam[j] * abs(beta[j])
    return f


@nb.njit(cache=True, fastmath=_FM)
def _combine(H, c, K, out):  # pragma: no cover - compiled
    """out = sum_k c_k H[k + 1] over the last ``K`` rows of ``H``."""
    out[:] = 0.0
    for k in range(K):
        ck = c[k]
        for i in range(out.shape[0]):
            out[i] += ck * H[k + 1, i]


@nb.njit(cache=True, fastmath=_FM)
def _extrapolate(H, K, out):  # pragma: no cover - compiled
    """Anderson extrapolation of the ``K + 1`` iterates stored as rows of ``H`` into ``out``.

    Returns False (and leaves ``out`` alone) when the weights do not exist.
    """
    c, ok = _anderson_weights(H, K)
    if ok:
        _combine(H, c, K, out)
    return ok


@nb.njit(cache=True, fastmath=_FM)
def _push(H, n_stored, v, K):  # pragma: no cover - compiled
    """Append ``v`` to the history ``H`` of at most ``K + 1`` rows (oldest dropped); new count."""
    if n_stored <= K:
        H[n_stored] = v
        return n_stored + 1
    for k in range(K):
        H[k] = H[k + 1]
    H[K] = v
    return n_stored


@nb.njit(cache=True, fastmath=_FM)
def _screen_and_rank(Xt, lam, norms, beta, r, screened, feats, n_feats, xt_theta, radius,
                     screening, prios, positive):  # pragma: no cover - compiled
    """Gap-safe screening and working-set priorities from the dual point ``theta``.

    ``xt_theta[k] = x_j^T theta`` for ``j = feats[k]``, the features not screened yet. A feature
    whose distance to its dual constraint, ``(lambda_j - |x_j^T theta|) / ||x_j||``, exceeds
    ``radius = sqrt(2 gap)`` is zero at the optimum: it is screened for good (when
    ``screening``), and its coefficient, if any, is removed from ``beta`` and ``r``. The others
    get that distance as priority (smaller first), the support ``-1`` (always in). With
    ``positive`` the distance is ``(lambda_j - x_j^T theta) / ||x_j||`` (one-sided constraint).
    Returns ``(newly screened, support size)``.
    """
    for j in range(prios.shape[0]):
        if screened[j]:
            prios[j] = np.inf
    n_new = 0
    nnz = 0
    for k in range(n_feats):
        j = feats[k]
        d = (lam[j] - (xt_theta[k] if positive else abs(xt_theta[k]))) / norms[j]
        if screening and d > radius:
            screened[j] = True
            n_new += 1
            prios[j] = np.inf
            if beta[j] != 0.0:
                _col_axpy(Xt, j, beta[j], r)
                beta[j] = 0.0
        elif beta[j] != 0.0:
            prios[j] = -1.0
            nnz += 1
        else:
            prios[j] = d
    return n_new, nnz


@nb.njit(cache=True, fastmath=_FM)
def _cd_epoch(Xt, r, beta, lam, norms2, ws, ws_size, positive, order,
              shuffle):  # pragma: no cover - compiled
    """One epoch of coordinate descent over the working set, in place on beta and r.

    Cyclic (``ws`` in order) unless ``shuffle``: then the working set is visited in a fresh
    random order (numba's generator, seeded by the caller), ``order`` being scratch space of
    at least ``ws_size`` entries. With ``positive`` each update is projected on ``beta_j >= 0``.
    """
    idx = ws
    if shuffle:
        for k in range(ws_size):
            order[k] = ws[k]
        for k in range(ws_size - 1, 0, -1):  # Fisher-Yates
            i = np.random.randint(0, k + 1)  # noqa: NPY002 - numba's seeded generator
            order[k], order[i] = order[i], order[k]
        idx = order
    for k in range(ws_size):
        j = idx[k]
        old = beta[j]
        z = old + _col_dot(Xt, j, r) / norms2[j]
        thr = lam[j] / norms2[j]
        if z > thr:
            new = z - thr
        elif z < -thr and not positive:
            new = z + thr
        else:
            new = 0.0
        if new != old:
            _col_axpy(Xt, j, old - new, r)
            beta[j] = new


@nb.njit(cache=True, fastmath=_FM)
def _anderson_step(beta, r, lam, ws, ws_size, B_hist, RB_hist, K, coef, res,
                   positive):  # pragma: no cover
    """Primal Anderson acceleration: replace the working-set iterate by the combination of the
    last ``K`` stored ones (rows ``1..K`` of ``B_hist``, residuals in ``RB_hist``) if that lowers
    the objective. The combined residual is the same combination of the stored residuals, since
    the weights sum to 1. ``coef`` and ``res`` are scratch buffers. With ``positive`` a
    combination with a negative coefficient is infeasible and rejected."""
    c, ok = _anderson_weights(B_hist[:, :ws_size], K)
    if not ok:
        return
    _combine(B_hist[:, :ws_size], c, K, coef[:ws_size])
    if positive:
        for k in range(ws_size):
            if coef[k] < 0.0:
                return
    _combine(RB_hist, c, K, res)
    p_acc = 0.5 * dot(res, res)
    p_cur = 0.5 * dot(r, r)
    for k in range(ws_size):
        j = ws[k]
        p_acc += lam[j] * abs(coef[k])
        p_cur += lam[j] * abs(beta[j])
    if p_acc < p_cur:
        for k in range(ws_size):
            beta[ws[k]] = coef[k]
        r[:] = res


@nb.njit(cache=True)
def _support_settled(beta, ws, ws_size, S_prev, sgn_prev, n_prev):  # pragma: no cover
    """Support and signs of the working-set iterate, stored in ``S_prev``/``sgn_prev``; returns
    ``(size, same)``, ``same`` when they equal the previous ones (``n_prev`` entries)."""
    m = 0
    same = True
    for k in range(ws_size):
        j = ws[k]
        if beta[j] != 0.0:
            sg = 1.0 if beta[j] > 0.0 else -1.0
            if m >= n_prev or S_prev[m] != j or sgn_prev[m] != sg:
                same = False
            S_prev[m] = j
            sgn_prev[m] = sg
            m += 1
    return m, same and m == n_prev and m > 0


@nb.njit(cache=True)
def _refine_cost(m, n):  # pragma: no cover - compiled
    """Multiply-adds of one refinement on a support of ``m`` features: Gram matrix and Cholesky
    factorisation, plus one null-space step (an ``n x n`` system) per coefficient above ``n``."""
    cost = 0.5 * m * m * n + m * m * m / 3.0
    if m > n:
        cost += (m - n) * (0.5 * n * n * m + n * n * n / 3.0)
    return cost


@nb.njit(cache=True, fastmath=_FM)
def lasso_ws_kernel(Xt, y, lam, beta, norms2, tol, max_iter, max_epochs, p0, screening,
                    dual_extrapolation, anderson, refine, K, gap_freq, positive, shuffle,
                    seed):  # pragma: no cover
    """Working-set coordinate descent for the (weighted) LASSO, in place on ``beta``.

    Call it through :func:`lasso_ws`, which passes the options by name. Arguments: ``Xt``
    ``(p, n)`` C-contiguous, the transpose of ``X`` (or a sparse design, see :func:`_col_dot`);
    ``lam`` the thresholds ``lambda_j > 0`` of
    the unscaled problem; ``beta`` the warm start, overwritten; ``norms2`` the squared column
    norms; ``tol`` the absolute tolerance on the unscaled duality gap; ``max_iter`` the outer
    iterations (working sets), ``max_epochs`` the epochs per inner solve, ``p0`` the first
    working-set size; ``screening``, ``dual_extrapolation``, ``anderson``, ``refine`` switch the
    accelerations; ``K`` the iterates used by both extrapolations; ``gap_freq`` the epochs
    between two inner gap evaluations; ``positive`` constrains ``beta >= 0``; ``shuffle``
    visits the working set in random order every epoch, from numba's generator seeded with
    ``seed``. Returns ``(gap, outer iterations, epochs)``.
    """
    p = _n_cols(Xt)
    n = y.shape[0]
    if shuffle:
        np.random.seed(seed)  # noqa: NPY002 - seeds numba's generator, not NumPy's
    order = np.empty(p, dtype=np.int64)
    r = np.empty(n)
    screened = np.zeros(p, dtype=np.bool_)
    n_screened = 0
    norms = np.sqrt(norms2)
    for j in range(p):
        if norms2[j] == 0.0:  # an all-zero column never enters the model
            screened[j] = True
            n_screened += 1
            beta[j] = 0.0

    feats = np.empty(p, dtype=np.int64)  # the features not screened yet
    xtv = np.empty(p)  # x_j^T v for the dual point v being scaled
    xt_theta = np.empty(p)  # x_j^T theta for the best dual point, j = feats[k]
    prios = np.empty(p)
    theta_in = np.zeros(n)  # the inner solver's best dual point
    have_theta_in = False
    R_hist = np.empty((K + 1, n))  # residuals every gap_freq epochs (dual extrapolation)
    theta_acc = np.empty(n)
    B_hist = np.empty((K + 1, p))  # working-set coefficients every epoch (primal Anderson)
    RB_hist = np.empty((K + 1, n))  # and the matching residuals
    coef = np.empty(p)
    S_prev = np.empty(p, dtype=np.int64)
    sgn_prev = np.empty(p)

    gap = np.inf
    n_epochs = 0
    t = 0
    for t in range(max_iter):
        # ---- duality gap of the full problem ----------------------------------------------
        # dual point: the rescaled residual, or the inner solver's (extrapolated) dual point if
        # that one is better; screening and priorities use the chosen point.
        _residual(Xt, y, beta, r)
        n_feats = 0
        for j in range(p):
            if not screened[j]:
                feats[n_feats] = j
                n_feats += 1
        scale = _dual_scale(Xt, r, lam, feats, n_feats, xtv, positive)
        best_dual = _dual_value(y, r, scale)
        for k in range(n_feats):
            xt_theta[k] = scale * xtv[k]
        if have_theta_in:
            scale = _dual_scale(Xt, theta_in, lam, feats, n_feats, xtv, positive)
            d_obj = _dual_value(y, theta_in, scale)
            if d_obj > best_dual:
                best_dual = d_obj
                for k in range(n_feats):
                    xt_theta[k] = scale * xtv[k]
        gap = _primal_value(r, beta, lam, feats, n_feats) - best_dual
        if gap <= tol:
            break

        # ---- screening, priorities, the working set ---------------------------------------
        n_new, nnz = _screen_and_rank(Xt, lam, norms, beta, r, screened, feats, n_feats,
                                      xt_theta, np.sqrt(2.0 * max(gap, 0.0)), screening, prios,
                                      positive)
        n_screened += n_new
        n_left = p - n_screened
        if n_left == 0:
            continue
        ws_size = min(max(p0, nnz if t == 0 else 2 * nnz), n_left)
        if ws_size == p:
            ws = np.arange(p)
        else:
            ws = np.sort(np.argsort(prios)[:ws_size])

        # ---- inner solver: coordinate descent on the working set --------------------------
        tol_in = 0.3 * gap
        best_dual_in = -np.inf
        n_r = 0  # residuals stored for the dual extrapolation
        n_b = 0  # iterates stored for the primal Anderson acceleration
        n_prev = -1  # support size at the previous check (refinement)
        work_cd = 0.0  # multiply-adds of coordinate descent since the last refinement
        refined = False  # already refined on the current support and signs
        for epoch in range(max_epochs):
            if epoch > 0 and epoch % gap_freq == 0:
                if refine:  # once coordinate descent has settled on a support and signs
                    m, same = _support_settled(beta, ws, ws_size, S_prev, sgn_prev, n_prev)
                    n_prev = m
                    if not same:
                        refined = False
                    elif not refined and work_cd >= _refine_cost(m, n):
                        work_cd = 0.0
                        refined = True  # once per support and sign pattern
                        _feature_sign_refine(Xt, y, lam, beta, r, S_prev[:m].copy(), 2 * m + 10,
                                             positive)
                scale = _dual_scale(Xt, r, lam, ws, ws_size, xtv, positive)
                best_dual_in = _keep_better_dual(y, r, scale, best_dual_in, theta_in)
                if dual_extrapolation:
                    n_r = _push(R_hist, n_r, r, K)
                    if n_r == K + 1 and _extrapolate(R_hist, K, theta_acc):
                        scale = _dual_scale(Xt, theta_acc, lam, ws, ws_size, xtv, positive)
                        best_dual_in = _keep_better_dual(y, theta_acc, scale, best_dual_in,
                                                         theta_in)
                have_theta_in = have_theta_in or best_dual_in > -np.inf
                if _primal_value(r, beta, lam, ws, ws_size) - best_dual_in < tol_in:
                    break

            _cd_epoch(Xt, r, beta, lam, norms2, ws, ws_size, positive, order, shuffle)
            n_epochs += 1
            work_cd += ws_size * n

            if anderson:
                for k in range(ws_size):
                    B_hist[n_b, k] = beta[ws[k]]
                RB_hist[n_b] = r
                n_b += 1
                if n_b == K + 1:
                    n_b = 0
                    _anderson_step(beta, r, lam, ws, ws_size, B_hist, RB_hist, K, coef,
                                   theta_acc, positive)
    return gap, t + 1, n_epochs


def transposed(X: np.ndarray) -> np.ndarray:
    """``X.T`` as a C-contiguous array: free for a Fortran-ordered ``X``, a copy otherwise."""
    return X.T if X.flags.f_contiguous else np.ascontiguousarray(X.T)


def sparse_design(X, offset=None, u=None) -> tuple:
    """The sparse design the kernel reads: column ``j`` is ``X[:, j] - offset[j] * u``.

    ``X`` is a scipy.sparse matrix or array (converted to CSC with float64 values and int64
    indices if it is not already); ``offset`` the column means to subtract (zeros by default,
    no centring), ``u`` the vector they multiply (ones by default; ``sqrt(sample_weight)``
    when the rows were scaled by it). Nothing of size ``n x p`` is ever formed.
    """
    import scipy.sparse as sp

    X = sp.csc_array(X)
    n, p = X.shape
    if not X.has_canonical_format:
        X = X.copy()
        X.sum_duplicates()
    offset = np.zeros(p) if offset is None else np.ascontiguousarray(offset, dtype=np.float64)
    u = np.ones(n) if u is None else np.ascontiguousarray(u, dtype=np.float64)
    return (np.ascontiguousarray(X.data, dtype=np.float64),
            np.ascontiguousarray(X.indices, dtype=np.int64),
            np.ascontiguousarray(X.indptr, dtype=np.int64), offset, u)


def design_norms2(Xt) -> np.ndarray:
    """Squared column norms ``||x_j||^2`` (float64) of a dense ``Xt`` or a sparse design."""
    if isinstance(Xt, tuple):
        data, indices, indptr, offset, u = Xt
        p = indptr.shape[0] - 1
        col = np.repeat(np.arange(p), np.diff(indptr))
        s2 = np.bincount(col, weights=data * data, minlength=p)
        su = np.bincount(col, weights=data * u[indices], minlength=p)
        # ||s_j - o_j u||^2 = ||s_j||^2 - 2 o_j s_j.u + o_j^2 ||u||^2 (>= 0 up to rounding)
        return np.maximum(s2 - 2.0 * offset * su + offset * offset * float(u @ u), 0.0)
    return np.einsum("ij,ij->i", Xt, Xt, dtype=np.float64)


def design_xtv(Xt, v: np.ndarray) -> np.ndarray:
    """``X^T v`` (float64) for a dense ``Xt`` or a sparse design, vectorised."""
    if isinstance(Xt, tuple):
        data, indices, indptr, offset, u = Xt
        p = indptr.shape[0] - 1
        col = np.repeat(np.arange(p), np.diff(indptr))
        return np.bincount(col, weights=data * v[indices], minlength=p) - offset * float(u @ v)
    return np.asarray(Xt @ v, dtype=np.float64)


def gram_design(G: np.ndarray, q: np.ndarray):
    """The same LASSO with ``p`` rows instead of ``n``, from the Gram matrix (``precompute``).

    With ``G = X^T X = L L^T`` (Cholesky) and ``q = X^T y``,
    ``||y - X w||^2 = ||L^{-1} q - L^T w||^2 + (||y||^2 - ||L^{-1} q||^2)``: the design
    ``L^T`` and target ``L^{-1} q`` give the same objective up to a constant, hence the same
    solution, and coordinate descent on them costs ``O(p)`` per update instead of ``O(n)``.
    Returns ``(Xt, y)`` for :func:`lasso_ws` (``Xt = L``, C-contiguous), or ``None`` when ``G``
    is not positive definite (collinear features, ``p > n``): then the plain path is used.
    """
    from scipy.linalg import LinAlgError, cholesky, solve_triangular

    try:
        L = cholesky(G, lower=True, check_finite=False)
    except LinAlgError:
        return None
    d = np.abs(np.diag(L))
    if d.size == 0 or d.min() <= 1e-7 * d.max():  # numerically singular: lose no accuracy
        return None
    return np.ascontiguousarray(L), solve_triangular(L, q, lower=True, check_finite=False)


def lasso_ws(Xt, y, alpha: float, weights, beta, *, tol: float, max_iter: int = 100,
             max_epochs: int = 50_000, p0: int = 10, screening: bool = True,
             dual_extrapolation: bool = True, anderson: bool = True, refine: bool = True,
             norms2=None, n_extrapolate: int = 5, gap_freq: int = 10, positive: bool = False,
             shuffle: bool = False, seed: int = 0, n_samples: int | None = None,
             y_norm2: float | None = None) -> dict:
    """The fast LASSO solver on validated input (scikit-learn's ``alpha`` and scaling).

    ``Xt`` is ``X.T`` C-contiguous (see :func:`transposed`; float64 or float32) or a sparse
    design (:func:`sparse_design`), ``weights`` the penalty weights, ``beta`` the warm start
    (float64), updated in place; ``tol`` is relative, as in
    :func:`sparsecourse.regression.lasso_cd`; ``positive`` constrains ``beta >= 0``;
    ``shuffle`` visits coordinates in random order (seeded by ``seed``). ``n_samples`` and
    ``y_norm2`` (``n`` and ``||y||^2`` of the original problem) are given when ``Xt, y`` is the
    reduced problem of :func:`gram_design`. Returns ``n_iter``, ``n_epochs``, ``gap`` (of the
    scaled problem) and ``converged``.
    """
    n = y.shape[0] if n_samples is None else n_samples
    if isinstance(Xt, tuple) and np.any(Xt[3] != 0.0):
        u = Xt[4]
        if abs(float(u @ y)) > 1e-9 * float(np.linalg.norm(u) * np.linalg.norm(y)) + 1e-300:
            raise ValueError("a centred sparse design needs y orthogonal to u (centre y)")
    if norms2 is None:
        norms2 = design_norms2(Xt)
    lam = (n * alpha) * weights
    # unscaled problem: gap_unscaled <= tol * ||y||^2
    tol_abs = tol * (float(y @ y) if y_norm2 is None else y_norm2)
    gap, n_iter, n_epochs = lasso_ws_kernel(
        Xt, y, lam, beta, norms2, tol_abs, max_iter, max_epochs, p0, screening,
        dual_extrapolation, anderson, refine, n_extrapolate, gap_freq, bool(positive),
        bool(shuffle), int(seed))
    return {"n_iter": int(n_iter), "n_epochs": int(n_epochs), "gap": max(float(gap), 0.0) / n,
            "converged": bool(gap <= tol_abs)}


@nb.njit(cache=True, fastmath=_FM)
def omp_kernel(X, X32t, y, k_max, tol_sq, coef_bound, abs_bound):  # pragma: no cover
    """Orthogonal matching pursuit with an incremental Cholesky factor, all compiled.

    ``X`` is the float64 design (any layout); ``X32t`` its float32 transpose (C-contiguous),
    or an empty array to compute the correlations in float64. With ``X32t`` the correlations
    are screened in float32: ``|c32_j - c_j| <= coef_bound[j] * ||r|| + abs_bound * (1 + ||r||)``,
    and every index that could be the maximum is recomputed in float64 (exact argmax).
    ``tol_sq < 0`` means "stop after ``k_max`` atoms" only.

    Returns ``(support, gamma, k, status)``: status 0 = done, 1 = no correlation left,
    2 = the next column is (numerically) in the span of the selected ones.
    """
    n, p = X.shape
    XT = X.T  # column j of X is row j of XT, in any memory layout
    eps = np.finfo(np.float64).eps
    use32 = X32t.shape[0] == p
    L = np.zeros((k_max, k_max))
    XS = np.empty((k_max, n))  # selected columns, as rows
    Xty = np.empty(k_max)
    support = np.empty(k_max, dtype=np.int64)
    selected = np.zeros(p, dtype=np.bool_)
    gamma = np.zeros(k_max)
    r = y.copy()
    ynorm = np.sqrt(dot(y, y))
    c32 = np.empty(p)
    r32 = np.empty(n, dtype=np.float32)
    v = np.empty(k_max)
    k = 0
    status = 0
    while k < k_max:
        # ---- selection: j = argmax |x_j^T r| over unselected j --------------------------
        j = -1
        cj = -1.0
        if use32:
            rnorm = np.sqrt(dot(r, r))
            for i in range(n):
                r32[i] = np.float32(r[i])
            best_lower = -np.inf
            for jj in range(p):
                if selected[jj]:
                    c32[jj] = -np.inf
                    continue
                s = np.float32(0.0)
                for i in range(n):
                    s += X32t[jj, i] * r32[i]
                c32[jj] = abs(s)
                lower = c32[jj] - (coef_bound[jj] * rnorm + abs_bound * (1.0 + rnorm))
                if lower > best_lower:
                    best_lower = lower
            if not np.isfinite(best_lower):
                use32 = False  # overflow in float32: fall back to float64 for good
            else:
                for jj in range(p):  # candidates in increasing order: ties go to the first
                    if c32[jj] + coef_bound[jj] * rnorm + abs_bound * (1.0 + rnorm) \
                            >= best_lower:
                        cc = abs(_col_dot(XT, jj, r))
                        if cc > cj:
                            cj = cc
                            j = jj
        if not use32:
            for jj in range(p):
                if not selected[jj]:
                    cc = abs(_col_dot(XT, jj, r))
                    if cc > cj:
                        cj = cc
                        j = jj
        if j < 0:
            status = 1
            break
        nj2 = 0.0
        for i in range(n):
            nj2 += X[i, j] * X[i, j]
        if cj <= eps * np.sqrt(nj2) * ynorm:
            status = 1
            break
        # ---- Cholesky update: L v = X_S^T x_j, new diagonal sqrt(||x_j||^2 - ||v||^2) ---
        for a in range(k):
            s = 0.0
            for i in range(n):
                s += XS[a, i] * X[i, j]
            for b in range(a):
                s -= L[a, b] * v[b]
            v[a] = s / L[a, a]
        d2 = nj2 - dot(v[:k], v[:k])
        if k > 0 and d2 <= eps * nj2 * k:
            status = 2
            break
        for b in range(k):
            L[k, b] = v[b]
        L[k, k] = np.sqrt(d2)
        for i in range(n):
            XS[k, i] = X[i, j]
        Xty[k] = dot(XS[k], y)
        support[k] = j
        selected[j] = True
        k += 1
        # ---- refit: L L^T gamma = X_S^T y; residual r = y - X_S gamma --------------------
        gamma[:k] = Xty[:k]
        cholesky_solve_inplace(L, gamma, k)
        for i in range(n):
            r[i] = y[i]
        for a in range(k):
            _col_axpy(XS, a, -gamma[a], r)
        if tol_sq >= 0.0 and dot(r, r) <= tol_sq:
            break
    return support[:k].copy(), gamma[:k].copy(), k, status
