"""Sparse coding and dictionary learning: ours against scikit-learn, at equal objective.

1. **Batch sparse coding.** 10,000 centred 8x8 patches of ``china.jpg`` (scaled to unit
   variance) over a 256-atom dictionary learned by scikit-learn's
   ``MiniBatchDictionaryLearning`` on *other* patches of the same image, LASSO with scikit-learn's
   default ``alpha = 1``. Contenders: :func:`sparsecourse.coding.sparse_encode` (numba working-set
   coordinate descent, one thread, and two threads) against
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

BLAS is limited to one thread for everyone (the per-signal problems are tiny; scikit-learn's
``sparse_encode`` solves them one after the other in a Python loop), so ``ours (1 thread)`` vs
scikit-learn is one core against one core. Median of repeats after warm-up (numba compilation
excluded). Results go to ``benchmarks/results/coding.json`` (``coding_quick.json`` with
``--quick``).
"""

from __future__ import annotations

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

    payload = {
        "benchmark": "coding", "quick": quick, "machine": machine_info(),
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
