"""Unrolled networks vs ISTA/FISTA on the standard LISTA problem (chapter 3).

A is 250 x 500 Gaussian with unit-norm columns, x is Bernoulli(0.1) x N(0, 1), noiseless and
40 dB SNR. For each setting the script evaluates, on the same fresh test samples:

* ISTA and FISTA after 16 iterations (best lambda of a grid);
* the 16-layer networks stored in ``data/lista/`` by
  ``python -m sparsecourse.coding.train_unrolled``
  (tied LISTA, tied LISTA-CPSS, ALISTA) and HyperLISTA with its stored hyperparameters;
* the number of FISTA iterations needed to reach each network's 16-layer NMSE (the smallest over a
  grid of lambda, up to a maximum number of iterations), and the wall-clock time of that many
  FISTA iterations against one forward pass of the network (same batch, same process);
* at 40 dB SNR, two noise floors: least squares on the true support (an oracle) and the best
  LASSO solution over the lambda grid (FISTA run to the maximum number of iterations).

Targets of the issue: ALISTA/HyperLISTA at or below -40 dB noiseless and within 2 dB of the noise
floor at 40 dB SNR; FISTA needing at least 10x more iterations for the same NMSE.

Run ``python benchmarks/lista.py`` (a few minutes) or ``python benchmarks/lista.py --quick`` (under
a minute); results go to ``benchmarks/results/lista.json`` or ``lista_quick.json``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    RESULTS_DIR,
    load_warning,
    machine_info,
    parse_args,
    print_table,
    write_json,
)

from sparsecourse.coding import BernoulliGaussian, batch_fista, batch_ista, layer_nmse_db, nmse_db  # noqa: E402
from sparsecourse.coding.train_unrolled import load_pretrained  # noqa: E402
from sparsecourse.datasets import gaussian_matrix  # noqa: E402
from sparsecourse.utils import benchmark  # noqa: E402

QUICK = {"n_test": 50, "lams": [1e-2, 1e-3], "max_iter": 1000, "chunk": 50}
FULL = {"n_test": 100, "lams": [1e-2, 3e-3, 1e-3, 3e-4], "max_iter": 5000, "chunk": 50}
SETTINGS = {"noiseless": None, "snr40": 40.0}
MODELS = {"lista": "LISTA (tied)", "listacpss": "LISTA-CPSS (tied)", "alista": "ALISTA",
          "hyperlista": "HyperLISTA"}


def fista_nmse_path(y, x, A, lam, n_iter, chunk):
    """NMSE (dB) after each FISTA iteration on the batch, computed chunk by chunk of samples."""
    err = np.zeros(n_iter)
    for i in range(0, y.shape[0], chunk):
        _, its = batch_fista(y[i:i + chunk], A, lam, n_iter=n_iter, return_iterates=True)
        xi = x[i:i + chunk].double()
        err += np.array([float(((v.double() - xi) ** 2).sum()) for v in its])
        del its
    return 10 * np.log10(err / float((x.double() ** 2).sum()))


def oracle_floor(y, x, A):
    """NMSE (dB) of least squares on the true support of each sample."""
    A = A.double()
    err = 0.0
    for yi, xi in zip(y.double(), x.double(), strict=True):
        S = torch.nonzero(xi).flatten()
        sol = torch.linalg.lstsq(A[:, S], yi[:, None]).solution[:, 0]
        err += float(((sol - xi[S]) ** 2).sum())
    return 10 * np.log10(err / float((x.double() ** 2).sum()))


def median_time(fn, repeat=5):
    """Median of ``repeat`` calls after one warm-up call (:func:`sparsecourse.utils.benchmark`)."""
    return benchmark(fn, warmup=1, repeat=repeat).median


def main(argv=None) -> dict:
    args = parse_args(__doc__.split("\n")[0], argv)
    cfg = QUICK if args.quick else FULL
    torch.set_num_threads(2)
    warn = load_warning()
    if warn:
        print(warn)
    t_start = time.perf_counter()
    A_np = gaussian_matrix(250, 500, seed=0)
    rows, floors = [], {}
    for setting, snr in SETTINGS.items():
        dist = BernoulliGaussian(A_np, p=0.1, snr_db=snr)
        A = dist.A
        y, x = dist.sample(cfg["n_test"], seed=2024)
        paths = {lam: fista_nmse_path(y, x, A, lam, cfg["max_iter"], cfg["chunk"])
                 for lam in cfg["lams"]}
        per_iter = median_time(lambda y=y, A=A: batch_fista(y, A, 0.01, n_iter=100), repeat=3) / 100
        base = {}
        for name, solver in [("ISTA", batch_ista), ("FISTA", batch_fista)]:
            best = min(nmse_db(solver(y, A, lam, n_iter=16), x) for lam in (0.3, 0.1, 0.03, 0.01))
            base[name] = best
            rows.append({"setting": setting, "method": f"{name}, 16 iterations", "nmse": best})
        if snr is not None:
            floors[setting] = {"oracle_ls_db": oracle_floor(y, x, A),
                               "best_lasso_db": float(min(p[-1] for p in paths.values()))}
        for key, label in MODELS.items():
            net, meta = load_pretrained(key, setting, A_np)
            nmse = float(layer_nmse_db(net, y, x)[-1])
            hits = [int(np.argmax(p <= nmse)) + 1 for p in paths.values() if (p <= nmse).any()]
            need = min(hits) if hits else None
            with torch.no_grad():
                t_net = median_time(lambda net=net, y=y: net(y))
            row = {"setting": setting, "method": f"{label}, 16 layers", "nmse": nmse,
                   "fista_iters": need, "iter_ratio": None if need is None else need / 16,
                   "iter_ratio_lower_bound": cfg["max_iter"] / 16 if need is None else None,
                   "net_ms": 1e3 * t_net,
                   "fista_ms": None if need is None else 1e3 * per_iter * need}
            if need is not None:
                row["time_ratio"] = row["fista_ms"] / row["net_ms"]
            if snr is not None:
                row["above_oracle_floor_db"] = nmse - floors[setting]["oracle_ls_db"]
                row["above_lasso_floor_db"] = nmse - floors[setting]["best_lasso_db"]
            rows.append(row)
    cols = [("setting", "setting", "s"), ("method", "method", "s"), ("NMSE dB", "nmse", ".1f"),
            ("FISTA iters to match", "fista_iters", "d"), ("iters ratio", "iter_ratio", ".0f"),
            ("ratio >=", "iter_ratio_lower_bound", ".0f"), ("net ms", "net_ms", ".1f"),
            ("FISTA ms", "fista_ms", ".1f"), ("time ratio", "time_ratio", ".1f")]
    print_table(rows, cols, title=f"16-layer networks vs FISTA ({cfg['n_test']} test samples, "
                                  f"FISTA up to {cfg['max_iter']} iterations, "
                                  f"lambda in {cfg['lams']})")
    for s, f in floors.items():
        print(f"{s}: oracle least-squares floor {f['oracle_ls_db']:.1f} dB, best LASSO "
              f"(converged FISTA, best lambda) {f['best_lasso_db']:.1f} dB")
    targets = {}
    for r in rows:
        if r["method"].startswith(("ALISTA", "HyperLISTA")):
            name = r["method"].split(",")[0]
            if r["setting"] == "noiseless":
                targets[f"{name} noiseless <= -40 dB"] = r["nmse"] <= -40
            else:
                targets[f"{name} 40 dB within 2 dB of oracle floor"] = \
                    r["above_oracle_floor_db"] <= 2
                targets[f"{name} 40 dB within 2 dB of best-LASSO floor"] = \
                    r["above_lasso_floor_db"] <= 2
            targets[f"{name} {r['setting']}: FISTA >= 10x iterations"] = \
                r["fista_iters"] is None or r["fista_iters"] >= 160
    for k, v in targets.items():
        print(f"  target {k}: {'met' if v else 'NOT met'}")
    wall = time.perf_counter() - t_start
    payload = {"benchmark": "lista", "quick": args.quick, "wall_s": wall, "config": cfg,
               "rows": rows, "noise_floors": floors, "targets": targets,
               "machine": machine_info(), "load_warning": warn}
    name = "lista_quick" if args.quick else "lista"
    path = write_json(RESULTS_DIR / f"{name}.json", payload)
    print(f"wrote {path} ({wall:.0f} s)")
    return payload


if __name__ == "__main__":
    main()
