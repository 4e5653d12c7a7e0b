"""Numba kernels behind :func:`sparsecourse.coding.sparse_encode` (the fast CPU path).

These are the *fast* versions; the readable references (ISTA, FISTA in torch) live in
:mod:`.sparse_coding`, and the tests pin one to the other.

Everything here works in scikit-learn's layout and only through the Gram matrix
``G = D D^T`` (n_atoms x n_atoms) and the correlations ``B = X D^T`` (n_samples x n_atoms):
for a signal x with b = D x the objective is, up to the constant ``||x||^2 / 2``,
``F(c) = 0.5 c^T G c - b^T c + lam ||c||_1``, and the gradient of its smooth part is
``g = G c - b``. Both are computed once with two BLAS products; after that the cost of a
signal does not depend on its length.

What each signal costs, and why the path comes first (measured in ``benchmarks/coding.py``):
the working-set solver alone (:func:`_cd_one`) refactorised the support's Gram matrix at every
feature-sign step, O(s^3) for s non-zeros, and on coherent dictionaries (image patches) took
about s such steps, each moving one code to zero: its cost grew like s^3.3 and it fell behind
scikit-learn's coordinate descent at ~60 non-zeros per 8x8 patch. The path
(:func:`_homotopy`) takes about one step per atom that joins or leaves, with the Cholesky factor
updated in O(s^2) and one O(n_atoms s) pass over the Gram rows of the support per step.

The small Cholesky factorisations and solves come from :mod:`sparsecourse._linalg`, shared
with the solvers of :mod:`sparsecourse.regression`.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from .._jit import serial_twin
from .._linalg import FASTMATH as _FM
from .._linalg import cholesky_inplace, cholesky_solve_inplace

__all__ = ["cd_batch", "cd_batch_serial", "omp_batch", "omp_batch_serial"]

_CHUNK = 64  # signals per parallel task in cd_batch (each task allocates its work arrays once)


@nb.njit(cache=True, fastmath=_FM)
def _gap(c, g, b, xx, lam):
    """Duality gap of one signal from the code c and the gradient g = G c - b (O(n_atoms)).

    With r = x - D^T c: ||r||^2 = xx - 2 b.c + c.G c = xx - b.c + c.g, D r = -g, and the dual
    point theta = s r with s = min(1, lam / max|g|) is feasible (|D theta| <= lam).
    """
    bc = 0.0
    cg = 0.0
    l1 = 0.0
    gmax = 0.0
    for j in range(c.shape[0]):
        bc += b[j] * c[j]
        cg += c[j] * g[j]
        l1 += abs(c[j])
        gmax = max(gmax, abs(g[j]))
    rr = max(xx - bc + cg, 0.0)
    xr = xx - bc
    s = 1.0 if gmax <= lam else lam / gmax
    primal = 0.5 * rr + lam * l1
    dual = s * xr - 0.5 * s * s * rr
    return primal - dual


@nb.njit(cache=True, fastmath=_FM)
def _gradient(G, b, c, g):
    """``g = G c - b``, reading only the rows of ``G`` of the non-zero codes."""
    k = b.shape[0]
    for i in range(k):
        g[i] = -b[i]
    for j in range(k):
        if c[j] != 0.0:
            row = G[j]
            cj = c[j]
            for i in range(k):
                g[i] += cj * row[i]


@nb.njit(cache=True, fastmath=_FM)
def _primal(c, g, b, xx, lam):
    """The objective ``0.5 ||x - D^T c||^2 + lam ||c||_1`` from ``c`` and ``g = G c - b``."""
    bc = 0.0
    cg = 0.0
    l1 = 0.0
    for j in range(c.shape[0]):
        bc += b[j] * c[j]
        cg += c[j] * g[j]
        l1 += abs(c[j])
    return 0.5 * max(xx - bc + cg, 0.0) + lam * l1


@nb.njit(cache=True, fastmath=_FM)
def _null_direction(Gs, cs, act, a, M, z, d):
    """A direction ``d`` in the null space of ``Gs_AA`` along which ``sum sign(c) d < 0``.

    Row-by-row Cholesky of ``Gs_AA`` stops at the first (numerically) dependent atom ``p``;
    ``Gs_{:p,:p} z = Gs_{:p,p}`` then gives ``d = e_p - z``: ``D_A^T d = D_p - D_{:p}^T z = 0``.
    """
    p = -1
    for j in range(a):
        gj = Gs[act[j]]
        for k in range(j):
            v = gj[act[k]]
            for m in range(k):
                v -= M[j, m] * M[k, m]
            M[j, k] = v / M[k, k]
        dd = gj[act[j]]
        for k in range(j):
            dd -= M[j, k] * M[j, k]
        if dd <= 1e-9 * gj[act[j]]:
            p = j
            break
        M[j, j] = np.sqrt(dd)
    if p < 0:
        return False
    for i in range(p - 1, -1, -1):  # L^T z = L^{-1} Gs_{:p,p}, the row M[p, :p]
        v = M[p, i]
        for k in range(i + 1, p):
            v -= M[k, i] * z[k]
        z[i] = v / M[i, i]
    dmax = 1.0
    for i in range(p):
        dmax = max(dmax, abs(z[i]))
    slope = 0.0
    for i in range(a):
        d[i] = -z[i] if i < p else (1.0 if i == p else 0.0)
        if abs(d[i]) <= 1e-12 * dmax:
            d[i] = 0.0  # rounding noise, not a direction: it would give a breakpoint at t ~ 1e18
        slope += d[i] * (1.0 if cs[act[i]] > 0 else -1.0)
    if slope == 0.0:
        return False
    if slope > 0.0:
        for i in range(a):
            d[i] = -d[i]
    return True


@nb.njit(cache=True, fastmath=_FM)
def _solve_restricted(Gs, lam, cs, gs, M, rhs, d, act):
    """Solve ``min 0.5 c.Gs c - bs.c + lam ||c||_1`` over a few atoms, from ``cs``.

    ``Gs`` is the (s, s) Gram matrix of the atoms in the working set and ``gs = Gs cs - bs``;
    both ``cs`` and ``gs`` are updated in place. A few cheap coordinate-descent sweeps (O(s^2)
    each) find the signs, then *feature-sign* steps (Lee, Battle, Raina & Ng, 2006) finish the
    job exactly: on the atoms A with non-zero codes and signs sigma the optimum solves
    ``Gs_AA c_A = bs_A - lam sigma``; a step moves towards that solution and stops at the best
    of the points where a code changes sign (that atom then leaves A). Every step lowers the
    objective. Returns True if the restricted problem was solved (KKT conditions hold).
    """
    s = cs.shape[0]
    for _ in range(10):
        max_d = 0.0
        max_c = 0.0
        for j in range(s):
            old = cs[j]
            z = old - gs[j] / Gs[j, j]
            t = lam / Gs[j, j]
            new = z - t if z > t else (z + t if z < -t else 0.0)
            if new != old:
                dj = new - old
                cs[j] = new
                for i in range(s):
                    gs[i] += dj * Gs[j, i]
                max_d = max(max_d, abs(dj))
            max_c = max(max_c, abs(new))
        if max_d <= 1e-2 * max_c:
            break
    for _ in range(s + 2):
        # KKT on the working set: |g_j| <= lam where c_j = 0, g_j = -lam sign(c_j) elsewhere
        a = 0
        viol = 0.0
        for j in range(s):
            if cs[j] != 0.0:
                act[a] = j
                a += 1
                sg = 1.0 if cs[j] > 0 else -1.0
                viol = max(viol, abs(gs[j] + lam * sg))
            else:
                viol = max(viol, abs(gs[j]) - lam)
        if viol <= 1e-13 * (lam + 1.0):
            return True
        if a == 0:
            return False
        # Newton system on A: Gs_AA z = bs_A - lam sigma, with bs = Gs cs - gs
        for p in range(a):
            v = 0.0
            for q in range(a):
                M[p, q] = Gs[act[p], act[q]]
            for q in range(s):
                v += Gs[act[p], q] * cs[q]
            sg = 1.0 if cs[act[p]] > 0 else -1.0
            rhs[p] = v - gs[act[p]] - lam * sg
        newton = cholesky_inplace(M, a, 1e-9)
        if newton:
            cholesky_solve_inplace(M, rhs, a)
            for p in range(a):
                d[p] = rhs[p] - cs[act[p]]
        else:
            # Gs_AA singular (more codes than the atoms' rank): step along its null space.
            # The fit does not change, the l1 norm goes down until a code reaches zero.
            if not _null_direction(Gs, cs, act, a, M, rhs, d):
                return False
        # objective along c_A + t d, minus its value at t = 0
        gd = 0.0
        dGd = 0.0
        pen0 = 0.0
        pen1 = 0.0
        for p in range(a):
            x = cs[act[p]]
            gd += gs[act[p]] * d[p]
            pen0 += abs(x)
            pen1 += abs(x + d[p])
            for q in range(a):
                dGd += d[p] * Gs[act[p], act[q]] * d[q]
        t_hi = 1.0 if newton else np.inf
        best_t = 1.0 if newton else -1.0
        best_f = gd + 0.5 * dGd + lam * (pen1 - pen0) if newton else np.inf
        for p in range(a):  # breakpoints where a code reaches zero
            x = cs[act[p]]
            if x * d[p] < 0.0:
                t = -x / d[p]
                if t < t_hi:
                    pen = 0.0
                    for q in range(a):
                        pen += abs(cs[act[q]] + t * d[q])
                    f = t * gd + 0.5 * t * t * dGd + lam * (pen - pen0)
                    if f < best_f:
                        best_f = f
                        best_t = t
        if best_t < 0.0 or not (best_f < 0.0):
            return False
        for p in range(a):
            j = act[p]
            x = cs[j]
            new = x + best_t * d[p]
            if best_t < 1.0 and x * d[p] < 0.0 and -x / d[p] == best_t:
                new = 0.0  # the code that reached zero leaves A
            dj = new - x
            if dj != 0.0:
                cs[j] = new
                for i in range(s):
                    gs[i] += dj * Gs[j, i]
        if best_t == 1.0:
            # the restricted optimum on A: a zero code in the working set may now violate
            # its KKT condition; one sweep lets it back in before the next Newton step
            for j in range(s):
                if cs[j] == 0.0 and abs(gs[j]) > lam:
                    old = cs[j]
                    z = old - gs[j] / Gs[j, j]
                    t = lam / Gs[j, j]
                    new = z - t if z > t else (z + t if z < -t else 0.0)
                    dj = new - old
                    cs[j] = new
                    for i in range(s):
                        gs[i] += dj * Gs[j, i]
    return False


@nb.njit(cache=True, fastmath=_FM)
def _chol_solve_rows(L, z, n):
    """Solve ``L L^T x = z[:n]`` in place, reading ``L`` by rows only.

    Like :func:`sparsecourse._linalg.cholesky_solve_inplace`, but the backward sweep is written
    column-oriented (``x_i = z_i / L_ii``, then ``z_q -= L_iq x_i`` for ``q < i``), so it reads
    row ``i`` of ``L`` instead of column ``i``: with ``L`` stored in an ``n_atoms``-wide array a
    column is ``n`` cache lines, a row one or a few (measured: half the time of a path step).
    """
    for i in range(n):
        v = z[i]
        row = L[i]
        for q in range(i):
            v -= row[q] * z[q]
        z[i] = v / row[i]
    for i in range(n - 1, -1, -1):
        row = L[i]
        zi = z[i] / row[i]
        z[i] = zi
        for q in range(i):
            z[q] -= row[q] * zi


@nb.njit(cache=True, fastmath=_FM)
def _homotopy(G, b, lam, c, corr, act, pos, sgn, L, w, a, max_steps):
    """The LASSO path of one signal from ``lam_max`` down to ``lam`` (homotopy / LARS-LASSO).

    Osborne, Presnell & Turlach (2000), Efron et al. (2004), here on the Gram matrix. Along
    the path the active atoms ``A`` keep ``corr_A = lam' sign(c_A)`` with ``corr = b - G c``,
    so as the penalty ``lam'`` decreases the codes move along ``w = G_AA^{-1} sign(c_A)``
    and every correlation along ``a = G_{:A} w``. A step goes to the next event: an inactive
    atom's ``|corr_j|`` reaches ``lam'`` (it joins), an active code reaches zero (it leaves),
    or ``lam'`` reaches ``lam``. The Cholesky factor ``L`` of ``G_AA`` is *updated* at each
    event, a new row when an atom joins (O(|A|^2)) and Givens rotations when one leaves
    (O(|A|^2)), never refactorised; a step then costs O(n_atoms |A|) for the correlations.
    At the end the codes are recomputed from the factor, ``c_A = G_AA^{-1} (b_A - lam s_A)``
    (removing the drift of the path).

    ``c`` must be zero on entry. Returns the number of active atoms, or -1 when the path
    could not be followed (an atom numerically in the span of the active ones, too many steps,
    signs that disagree at the end): the caller then finishes from ``c``, which is the exact
    solution for some larger penalty.
    """
    k = b.shape[0]
    for j in range(k):
        pos[j] = -1
        corr[j] = b[j]
    j0 = 0
    lam_cur = 0.0
    for j in range(k):
        if abs(corr[j]) > lam_cur:
            lam_cur = abs(corr[j])
            j0 = j
    if lam_cur <= lam:
        return 0
    if not G[j0, j0] > 0.0:
        return -1
    n = 1
    act[0] = j0
    pos[j0] = 0
    sgn[0] = 1.0 if corr[j0] > 0 else -1.0
    L[0, 0] = np.sqrt(G[j0, j0])
    dropped = -1
    for step in range(max_steps):
        # direction of the codes, and of the correlations: corr = b - G c, a = G_{:A} w
        for p in range(n):
            w[p] = sgn[p]
        _chol_solve_rows(L, w, n)
        for j in range(k):
            a[j] = 0.0
        if step % 8 == 7:  # every 8 steps, corr afresh (no drift): one more pass over G_{:A}
            for j in range(k):
                corr[j] = b[j]
            for p in range(n):
                row = G[act[p]]
                wp = w[p]
                cp = c[act[p]]
                for j in range(k):
                    a[j] += wp * row[j]
                    corr[j] -= cp * row[j]
        else:  # four Gram rows per pass over a: a quarter of the loads and stores of a
            p = 0
            while p + 4 <= n:
                r0 = G[act[p]]
                r1 = G[act[p + 1]]
                r2 = G[act[p + 2]]
                r3 = G[act[p + 3]]
                w0 = w[p]
                w1 = w[p + 1]
                w2 = w[p + 2]
                w3 = w[p + 3]
                for j in range(k):
                    a[j] += (w0 * r0[j] + w1 * r1[j]) + (w2 * r2[j] + w3 * r3[j])
                p += 4
            while p < n:
                row = G[act[p]]
                wp = w[p]
                for j in range(k):
                    a[j] += wp * row[j]
                p += 1
        # the next event
        gamma = lam_cur - lam
        event = 0
        who = -1
        for j in range(k):
            if pos[j] != -1 or j == dropped:
                continue
            cj = corr[j]
            aj = a[j]
            # t = num / den with den > 0 beats gamma iff num < gamma * den: divide only then
            num = lam_cur - cj
            den = 1.0 - aj
            if den > 0.0 and 0.0 <= num < gamma * den:
                gamma = num / den
                event = 1
                who = j
            num = lam_cur + cj
            den = 1.0 + aj
            if den > 0.0 and 0.0 <= num < gamma * den:
                gamma = num / den
                event = 1
                who = j
        for p in range(n):
            cp = c[act[p]]
            if cp * w[p] < 0.0:
                t = -cp / w[p]
                if t < gamma:
                    gamma = t
                    event = 2
                    who = p
        for p in range(n):
            c[act[p]] += gamma * w[p]
        for j in range(k):
            corr[j] -= gamma * a[j]
        lam_cur -= gamma
        dropped = -1
        if event == 0:
            break
        if event == 2:  # atom act[who] leaves: delete row `who` of L, restore the triangle
            j = act[who]
            c[j] = 0.0
            pos[j] = -1
            dropped = j
            for i in range(who, n - 1):
                act[i] = act[i + 1]
                sgn[i] = sgn[i + 1]
                pos[act[i]] = i
                for q in range(i + 2):
                    L[i, q] = L[i + 1, q]
            n -= 1
            for q in range(who, n):  # rows q.. have one entry right of the diagonal
                x = L[q, q]
                y = L[q, q + 1]
                r = np.sqrt(x * x + y * y)
                cq = x / r
                sq = y / r
                L[q, q] = r
                L[q, q + 1] = 0.0
                for i in range(q + 1, n):
                    x = L[i, q]
                    y = L[i, q + 1]
                    L[i, q] = cq * x + sq * y
                    L[i, q + 1] = -sq * x + cq * y
            if n == 0:
                return -4
        else:  # atom `who` joins: one new row of L
            row = G[who]
            dd = row[who]
            for p in range(n):
                v = row[act[p]]
                for q in range(p):
                    v -= L[p, q] * L[n, q]
                v /= L[p, p]
                L[n, p] = v
                dd -= v * v
            if not dd > 1e-10 * row[who]:
                # (numerically) in the span of the active atoms, e.g. a duplicate atom: leave
                # it out of this path; the caller's duality gap check catches any violation
                pos[who] = -2
                continue
            L[n, n] = np.sqrt(dd)
            act[n] = who
            pos[who] = n
            sgn[n] = 1.0 if corr[who] > 0 else -1.0
            n += 1
    else:
        return -3
    # polish: the exact solution for these signs, c_A = G_AA^{-1} (b_A - lam s_A)
    for p in range(n):
        w[p] = b[act[p]] - lam * sgn[p]
    _chol_solve_rows(L, w, n)
    for p in range(n):
        if w[p] * sgn[p] <= 0.0:
            return -5
    for p in range(n):
        c[act[p]] = w[p]
    return n


@nb.njit(cache=True, fastmath=_FM)
def _cd_one(G, b, xx, lam, c, g, tol_abs, max_iter, work, viol, Gs, cs, gs, M, rhs, d, act):
    """Working-set solver for one signal; ``c`` and ``g = G c - b`` are updated in place.

    Each epoch builds a working set, the current support plus the atoms that violate their
    optimality condition ``|g_j| <= lam`` the most (as many as the support has, at least 8),
    solves the problem restricted to it exactly on its small Gram matrix
    (:func:`_solve_restricted`), refreshes the gradient of every atom (O(s n_atoms)) and checks
    the duality gap. Atoms outside the working set are never touched by the inner solver,
    so an epoch costs O(s^2) per sweep instead of O(s n_atoms). Returns the epochs used.
    """
    k = c.shape[0]
    for epoch in range(max_iter):
        if _gap(c, g, b, xx, lam) <= tol_abs:
            return epoch
        s = 0
        n_viol = 0
        for j in range(k):
            if c[j] != 0.0:
                work[s] = j
                s += 1
            elif abs(g[j]) > lam:
                act[n_viol] = j
                viol[n_viol] = abs(g[j])
                n_viol += 1
        # add the largest violators (partial selection sort: q is small)
        q = min(n_viol, max(8, s))
        for a in range(q):
            best = a
            for t in range(a + 1, n_viol):
                if viol[t] > viol[best]:
                    best = t
            viol[a], viol[best] = viol[best], viol[a]
            act[a], act[best] = act[best], act[a]
            work[s] = act[a]
            s += 1
        for p in range(s):
            row = G[work[p]]
            for t in range(s):
                Gs[p, t] = row[work[t]]
            cs[p] = c[work[p]]
            gs[p] = g[work[p]]
        _solve_restricted(Gs[:s, :s], lam, cs[:s], gs[:s], M, rhs, d, act)
        for i in range(k):
            g[i] = -b[i]
        for p in range(s):
            c[work[p]] = cs[p]
            if cs[p] != 0.0:
                row = G[work[p]]
                v = cs[p]
                for i in range(k):
                    g[i] += v * row[i]
    return max_iter


@nb.njit(cache=True, fastmath=_FM, parallel=True)
def cd_batch(G, B, xx, lam, C, tol, max_iter):
    """Sparse codes for every row of ``B = X D^T``; ``C``: warm starts in, codes out.

    Each signal first follows the LASSO path from zero (:func:`_homotopy`); where that ends
    with a duality gap above ``tol * ||x||^2`` (it stopped early, or rounding drifted), the
    working-set solver (:func:`_cd_one`) finishes from the better of the path's end point and
    the warm start, and a result worse than its start is never kept. Returns the epochs of the
    working-set solver per signal (0 where the path alone reached the tolerance).
    """
    n, k = B.shape
    n_epochs = np.empty(n, dtype=np.int64)
    n_chunks = (n + _CHUNK - 1) // _CHUNK
    for ch in nb.prange(n_chunks):
        # work arrays once per chunk of signals, not per signal (Gs and M are k x k)
        work = np.empty(k, dtype=np.int64)
        act = np.empty(k, dtype=np.int64)
        viol = np.empty(k)
        Gs = np.empty((k, k))
        M = np.empty((k, k))
        cs = np.empty(k)
        gs = np.empty(k)
        rhs = np.empty(k)
        d = np.empty(k)
        g = np.empty(k)
        c0 = np.empty(k)
        for r in range(ch * _CHUNK, min(n, (ch + 1) * _CHUNK)):
            b = B[r]
            c = C[r]
            tol_abs = tol * max(xx[r], 1e-300)
            warm = False
            for j in range(k):
                c0[j] = c[j]
                if c[j] != 0.0:
                    warm = True
                c[j] = 0.0
            # follow the LASSO path from zero down to lam (work: positions, viol: signs)
            _homotopy(G, b, lam, c, g, act, work, viol, M, cs, gs, 8 * k + 64)
            _gradient(G, b, c, g)
            if _gap(c, g, b, xx[r], lam) <= tol_abs:
                n_epochs[r] = 0
                continue
            # the path stopped early (or drifted): finish with the working-set solver, from
            # the better of its end point (the solution for a larger penalty) and the warm start
            f = _primal(c, g, b, xx[r], lam)
            if warm:
                _gradient(G, b, c0, rhs)
                if _primal(c0, rhs, b, xx[r], lam) < f:
                    for j in range(k):
                        c[j] = c0[j]
                        g[j] = rhs[j]
                    f = _primal(c, g, b, xx[r], lam)
            for j in range(k):
                c0[j] = c[j]
            n_epochs[r] = _cd_one(G, b, xx[r], lam, c, g, tol_abs, max_iter, work, viol, Gs,
                                  cs, gs, M, rhs, d, act)
            _gradient(G, b, c, g)
            if not _primal(c, g, b, xx[r], lam) <= f:  # never return a worse point
                for j in range(k):
                    c[j] = c0[j]
    return n_epochs


@nb.njit(cache=True, fastmath=_FM, parallel=True)
def omp_batch(G, B, xx, n_nonzero, tol, C):
    """Batch-OMP (Rubinstein, Zibulevsky & Elad, 2008): OMP through the Gram matrix.

    The correlations with the residual are alpha = b - G[:, S] gamma and the least-squares
    coefficients gamma solve G_SS gamma = b_S with a Cholesky factor grown by one row per atom.
    Stops after ``n_nonzero`` atoms, or once ||r||^2 = xx - b_S . gamma <= tol (if tol >= 0).
    """
    n, k = B.shape
    for r in nb.prange(n):
        b = B[r]
        L = np.zeros((n_nonzero, n_nonzero))
        S = np.empty(n_nonzero, dtype=np.int64)
        gamma = np.zeros(n_nonzero)
        alpha = b.copy()
        chosen = np.zeros(k, dtype=np.bool_)
        s = 0
        err = xx[r]
        while s < n_nonzero and (tol < 0 or err > tol):
            best = -1
            bv = 0.0
            for j in range(k):
                if not chosen[j] and abs(alpha[j]) > bv:
                    bv = abs(alpha[j])
                    best = j
            if best < 0 or bv <= 1e-14 * np.sqrt(max(xx[r], 1e-300)):
                break
            # grow the Cholesky factor of G_SS by one row
            for p in range(s):
                v = G[S[p], best]
                for q in range(p):
                    v -= L[p, q] * L[s, q]
                L[s, p] = v / L[p, p]
            d = G[best, best]
            for q in range(s):
                d -= L[s, q] * L[s, q]
            if d <= 1e-12 * G[best, best]:
                break  # the atom is (numerically) in the span of the chosen ones
            L[s, s] = np.sqrt(d)
            S[s] = best
            chosen[best] = True
            s += 1
            # gamma = (L L^T)^{-1} b_S
            for p in range(s):
                gamma[p] = b[S[p]]
            cholesky_solve_inplace(L, gamma, s)
            # alpha = b - G[:, S] gamma, err = ||x||^2 - b_S . gamma
            for j in range(k):
                alpha[j] = b[j]
            err = xx[r]
            for p in range(s):
                gp = gamma[p]
                row = G[S[p]]
                for j in range(k):
                    alpha[j] -= row[j] * gp
                err -= b[S[p]] * gp
        for p in range(s):
            C[r, S[p]] = gamma[p]


# the same loops compiled without a thread pool (prange is then a plain range), each with its
# own disk cache (sparsecourse/_jit.py)
cd_batch_serial = serial_twin(cd_batch, fastmath=_FM)
omp_batch_serial = serial_twin(omp_batch, fastmath=_FM)
