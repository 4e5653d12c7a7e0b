"""Sparse coding and dictionary learning: ours against scikit-learn, at equal objective.

1. **Batch sparse coding.** 10,000 centred 8x8 patches of ``china.jpg`` (scaled to unit
   variance) over a 256-atom dictionary learned by scikit-learn's
   ``MiniBatchDictionaryLearning`` on *other* patches of the same image, LASSO with scikit-learn's
   default ``alpha = 1``. Contenders: :func:`sparsecourse.coding.sparse_encode` (numba LASSO path
   with Cholesky updates, one thread, and two threads) against
   :func:`sklearn.decomposition.sparse_encode` with ``lasso_cd`` and ``lasso_lars``, the issue's
   "fastest LASSO algorithm" being the faster of the two. The mean objective
   ``0.5 ||x - c D||^2 + alpha ||c||_1`` of every contender is printed beside its time: ours must
   be at or below scikit-learn's (LARS is exact; ``lasso_cd`` stops on its default tolerance).
2. **Dictionary learning, time to objective.** scikit-learn's ``MiniBatchDictionaryLearning``
   (256 atoms, ``alpha = 1``, batch 256, one pass over the patches) sets the target: the LASSO
   objective of its dictionary on the training patches, with exact codes. Ours
   (:func:`sparsecourse.coding.learn_dictionary`, online, same batch size) runs 1, 2, ... passes
   until its dictionary reaches that objective, and the time of the first one that does is
   reported.
3. **Code density sweep.** Speed-up over scikit-learn's ``sparse_encode(algorithm="lasso_cd")``
   as the codes get denser: the penalty ``alpha`` is set (by bisection on our codes) so that the
   mean number of non-zeros per code is about 5, 10, 20, 30, 45, 60 (8x8 patches) or 5, 10, 20,
   32, 48, 64 (12x12 patches), on two dictionaries per patch size: one learned by
   scikit-learn's ``MiniBatchDictionaryLearning`` on patches of ``china.jpg`` and one of
   normalised random (centred) patches of ``flower.jpg``; 256 atoms for 8x8, 512 for 12x12.
   Ours and scikit-learn alternate in each repeat (interleaved, same process), the median of
   each is compared, and the non-zeros per code and the relative objective difference
   (ours - scikit-learn, negative: ours is lower) are printed beside each ratio. The load
   average is printed before and after: the machine may be shared.

BLAS is limited to one thread for everyone (the per-signal problems are tiny; scikit-learn's
``sparse_encode`` solves them one after the other in a Python loop), so ``ours (1 thread)`` vs
scikit-learn is one core against one core. Median of repeats after warm-up (numba compilation
excluded). Results go to ``benchmarks/results/coding.json`` (``coding_quick.json`` with
``--quick``).
"""

from __future__ import annotations

import os
import time
import warnings

import numpy as np
from _common import (
    describe_threads,
    load_warning,
    machine_info,
    parse_args,
    print_table,
    results_path,
    thread_info,
    write_json,
)
from threadpoolctl import threadpool_limits

from sparsecourse.coding import learn_dictionary, sparse_coding_objective, sparse_encode
from sparsecourse.datasets import image_patches, load_sample_image
from sparsecourse.utils import benchmark

SWEEP_TARGETS = {8: (5, 10, 20, 30, 45, 60), 12: (5, 10, 20, 32, 48, 64)}
SWEEP_ATOMS = {8: 256, 12: 512}


def _loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:  # pragma: no cover - not available on this platform
        return None


def _alpha_for_nnz(P, D, target, lo=1e-4, hi=None, n_steps=14):
    """The penalty whose codes have about ``target`` non-zeros each (bisection in log alpha)."""
    if hi is None:
        hi = float(np.abs(P @ D.T).max())
    for _ in range(n_steps):
        mid = np.sqrt(lo * hi)
        nnz = np.count_nonzero(sparse_encode(P, D, alpha=mid)) / len(P)
        if nnz > target:
            lo = mid
        else:
            hi = mid
    return float(np.sqrt(lo * hi))


def sweep_dictionaries(patch: int, n_train: int) -> dict:
    """A learned and a random-patch dictionary for one patch size (rows are unit-norm atoms)."""
    from sklearn.decomposition import MiniBatchDictionaryLearning

    china = load_sample_image("china.jpg")
    P_train = image_patches(china, patch, n_train, seed=1)
    scale = P_train.std()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        learned = MiniBatchDictionaryLearning(n_components=SWEEP_ATOMS[patch], alpha=1.0,
                                              batch_size=256, max_iter=1,
                                              random_state=0).fit(P_train / scale).components_
    rand = image_patches(load_sample_image("flower.jpg"), patch, SWEEP_ATOMS[patch], seed=3)
    norms = np.linalg.norm(rand, axis=1, keepdims=True)
    rand = rand / np.where(norms > 0, norms, 1.0)
    return {"learned": learned, "random patches": rand}, scale


def density_sweep(quick: bool) -> list[dict]:
    """Speed-up over scikit-learn's lasso_cd at code densities from ~5 to ~64 non-zeros."""
    from sklearn.decomposition import sparse_encode as sk_encode

    n_code = 60 if quick else 300
    repeat = 1 if quick else 3
    rows = []
    for patch in (8, 12):
        dicts, scale = sweep_dictionaries(patch, 2_000 if quick else 6_000)
        P = image_patches(load_sample_image("china.jpg"), patch, n_code, seed=2) / scale
        targets = SWEEP_TARGETS[patch][::2] if quick else SWEEP_TARGETS[patch]
        for name, D in dicts.items():
            sparse_encode(P[:4], D, 1.0)  # compile or load the cache
            for target in targets:
                alpha = _alpha_for_nnz(P[: min(n_code, 100)], D, target)
                t_ours, t_sk = [], []
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # lasso_cd's "did not converge"
                    for _ in range(repeat):  # interleaved: ours, scikit-learn, ours, ...
                        t0 = time.perf_counter()
                        C = sparse_encode(P, D, alpha=alpha, algorithm="lasso_cd")
                        t_ours.append(time.perf_counter() - t0)
                        t0 = time.perf_counter()
                        S = sk_encode(P, D, algorithm="lasso_cd", alpha=alpha)
                        t_sk.append(time.perf_counter() - t0)
                f_ours = sparse_coding_objective(P, D, C, alpha)
                f_sk = sparse_coding_objective(P, D, S, alpha)
                rows.append({
                    "patch": f"{patch}x{patch}", "dictionary": name, "n_atoms": D.shape[0],
                    "alpha": alpha, "target_nnz": target,
                    "nnz_per_code": np.count_nonzero(C) / len(C),
                    "sklearn_nnz_per_code": np.count_nonzero(S) / len(S),
                    "ours_us_per_code": 1e6 * float(np.median(t_ours)) / n_code,
                    "sklearn_us_per_code": 1e6 * float(np.median(t_sk)) / n_code,
                    "speedup": float(np.median(t_sk) / np.median(t_ours)),
                    "objective_rel_diff": (f_ours - f_sk) / abs(f_sk),
                    "times_ours_s": t_ours, "times_sklearn_s": t_sk,
                })
                r = rows[-1]
                print(f"  {r['patch']} {name:14s} alpha {alpha:.3g}: {r['nnz_per_code']:5.1f} "
                      f"nnz/code, {r['speedup']:5.1f}x", flush=True)
    return rows


def main(argv=None) -> dict:
    args = parse_args(__doc__.splitlines()[0], argv)
    quick = args.quick
    n_code = 2_000 if quick else 10_000
    n_train = 4_000 if quick else 10_000
    alpha = 1.0
    warn = load_warning()
    if warn:
        print(warn)
    threadpool_limits(limits=1)
    print("threads:", describe_threads(thread_info()))

    china = load_sample_image("china.jpg")
    P_train = image_patches(china, 8, n_train, seed=1)
    scale = P_train.std()
    P_train /= scale
    P_code = image_patches(china, 8, n_code, seed=2) / scale

    from sklearn.decomposition import MiniBatchDictionaryLearning
    from sklearn.decomposition import sparse_encode as sk_encode

    # --- the scikit-learn dictionary (also the dictionary-learning target) ----------------
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = benchmark(MiniBatchDictionaryLearning(n_components=256, alpha=alpha,
                                                    batch_size=256, max_iter=1,
                                                    random_state=0).fit,
                        P_train, warmup=0, repeat=1)  # one fit, timed once
        sk_dl, t_sk_dl = fit.result, fit.median
    D = sk_dl.components_

    # --- 1. batch sparse coding -----------------------------------------------------------
    contenders = {
        "ours (1 thread)": lambda: sparse_encode(P_code, D, alpha, n_threads=1),
        "ours (2 threads)": lambda: sparse_encode(P_code, D, alpha, n_threads=2),
        "sklearn lasso_cd": lambda: sk_encode(P_code, D, algorithm="lasso_cd", alpha=alpha),
        "sklearn lasso_lars": lambda: sk_encode(P_code, D, algorithm="lasso_lars", alpha=alpha),
    }
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lasso_cd's "did not converge" on a few patches
        for name, fn in contenders.items():
            codes = fn()  # warm-up (numba compilation or cache load), and the result
            repeat = 5 if name.startswith("ours") else 1 if quick else 2
            timing = benchmark(fn, warmup=0, repeat=repeat).median  # warmed up above
            rows.append({"contender": name, "time_s": timing,
                         "objective": sparse_coding_objective(P_code, D, codes, alpha),
                         "nnz_per_patch": np.count_nonzero(codes) / len(codes)})
    by = {r["contender"]: r for r in rows}
    sk_best = min(("sklearn lasso_cd", "sklearn lasso_lars"), key=lambda k: by[k]["time_s"])
    for r in rows:
        r["speedup_vs_sklearn_best"] = by[sk_best]["time_s"] / r["time_s"]
        r["objective_minus_sklearn_best"] = r["objective"] - by[sk_best]["objective"]
    print(f"\nBatch sparse coding: {n_code} patches of 8x8, 256 atoms, alpha = {alpha} "
          f"(fastest scikit-learn: {sk_best})")
    print_table(rows, [("contender", "contender", "s"), ("time (s)", "time_s", ".4f"),
                       ("mean objective", "objective", ".10f"),
                       ("obj - sklearn", "objective_minus_sklearn_best", ".2e"),
                       ("nnz/patch", "nnz_per_patch", ".1f"),
                       ("speed-up", "speedup_vs_sklearn_best", ".1f")])
    equal = by["ours (1 thread)"]["objective"] <= by[sk_best]["objective"] * (1 + 1e-12)
    ratio = by["ours (1 thread)"]["speedup_vs_sklearn_best"]
    print(f"-> ours (1 thread) vs {sk_best}: {ratio:.1f}x faster, objective "
          f"{'<=' if equal else '>'} scikit-learn's (target: >= 3x at equal objective)")

    # --- 2. dictionary learning: time to reach scikit-learn's objective -------------------
    def dl_objective(Dl):
        return sparse_coding_objective(P_train, Dl, sparse_encode(P_train, Dl, alpha), alpha)

    target = dl_objective(D)
    dl_rows = [{"method": "sklearn MiniBatchDictionaryLearning (1 pass)", "passes": 1,
                "time_s": t_sk_dl, "objective": target}]
    reached = None
    learn_dictionary(P_train[:512], 256, method="online", lam=alpha, n_iter=1, seed=0)  # warm-up
    for passes in (1, 2, 3):
        fit = benchmark(learn_dictionary, P_train, 256, method="online", lam=alpha,
                        n_iter=passes, batch_size=256, seed=0, warmup=0, repeat=1)
        D_ours, t_ours = fit.result, fit.median
        obj = dl_objective(D_ours)
        dl_rows.append({"method": f"ours online ({passes} pass{'es' if passes > 1 else ''})",
                        "passes": passes, "time_s": t_ours, "objective": obj})
        if obj <= target:
            reached = dl_rows[-1]
            break
    for r in dl_rows:
        r["speedup_vs_sklearn"] = t_sk_dl / r["time_s"]
    print(f"\nDictionary learning on {n_train} patches, 256 atoms: objective of each dictionary "
          "(exact codes)")
    print_table(dl_rows, [("method", "method", "s"), ("time (s)", "time_s", ".2f"),
                          ("objective", "objective", ".5f"),
                          ("speed-up", "speedup_vs_sklearn", ".2f")])
    if reached is None:
        print("-> ours did not reach scikit-learn's objective within 3 passes")
    else:
        print(f"-> ours reaches scikit-learn's objective in {reached['passes']} pass(es): "
              f"{reached['speedup_vs_sklearn']:.2f}x the speed")

    # --- 3. code density sweep --------------------------------------------------------------
    load_before = _loadavg()
    print(f"\nCode density sweep: ours vs scikit-learn lasso_cd, one thread each "
          f"(load average before: {load_before})", flush=True)
    sweep = density_sweep(quick)
    load_after = _loadavg()
    print_table(sweep, [("patch", "patch", "s"), ("dictionary", "dictionary", "s"),
                        ("atoms", "n_atoms", "d"), ("alpha", "alpha", ".3g"),
                        ("nnz/code", "nnz_per_code", ".1f"),
                        ("sk nnz/code", "sklearn_nnz_per_code", ".1f"),
                        ("ours us/code", "ours_us_per_code", ".0f"),
                        ("sklearn us/code", "sklearn_us_per_code", ".0f"),
                        ("speed-up", "speedup", ".1f"),
                        ("obj rel diff", "objective_rel_diff", ".1e")],
                title="Speed-up over sklearn sparse_encode(algorithm='lasso_cd') by code density")
    worst = min(sweep, key=lambda r: r["speedup"])
    lower = all(r["objective_rel_diff"] <= 1e-12 for r in sweep)
    print(f"-> smallest speed-up {worst['speedup']:.1f}x ({worst['patch']}, {worst['dictionary']}, "
          f"{worst['nnz_per_code']:.1f} nnz/code); ours' objective "
          f"{'<=' if lower else 'NOT always <='} scikit-learn's at every point "
          f"(target: >= 3x at every density); load average before {load_before}, "
          f"after {load_after}")

    payload = {
        "benchmark": "coding", "quick": quick, "machine": machine_info(),
        "density_sweep": {"rows": sweep, "min_speedup": worst["speedup"],
                          "ours_objective_never_higher": bool(lower),
                          "load_average_before": load_before, "load_average_after": load_after},
        "threads": thread_info(), "load_warning": warn,
        "sparse_coding": {"n_patches": n_code, "n_atoms": 256, "alpha": alpha,
                          "sklearn_fastest": sk_best, "rows": rows,
                          "ours_equal_objective": bool(equal), "speedup": ratio},
        "dictionary_learning": {"n_patches": n_train, "target_objective": target,
                                "rows": dl_rows,
                                "speedup_to_target": None if reached is None
                                else reached["speedup_vs_sklearn"]},
    }
    path = write_json(results_path("coding", quick), payload)
    print(f"\nwrote {path}")
    return payload


if __name__ == "__main__":
    main()
