"""Train the full-size unrolled networks of Chapter 3 and save their weights to ``data/lista/``.

The standard LISTA experiment (Chen et al., 2018; Liu et al., 2019) uses a 250 x 500 Gaussian
dictionary with unit-norm columns, codes with Bernoulli(0.1) x N(0, 1) entries, 16 layers, and
two settings: noiseless and 40 dB SNR. Training LISTA and LISTA-CPSS layer by layer at that size
takes longer than a notebook may run on a laptop CPU, so the notebook trains smaller networks live
and loads these weights for the full-size comparison. Run::

    python -m sparsecourse.coding.train_unrolled                 # all models, both settings
    python -m sparsecourse.coding.train_unrolled --device cuda   # the same on a GPU
    python -m sparsecourse.coding.train_unrolled --m 25 --n 50 --layers 3 --steps 5 --out /tmp/x

One file ``<model>_<setting>.safetensors`` is written per model and setting; its metadata records
the problem (m, n, seed of A, a checksum of A, p, SNR), the training budget and the test NMSE per
layer measured right after training, in float32 and after the cast to the stored dtype. LISTA and
LISTA-CPSS are stored with weights tied across layers (Gregor & LeCun's original LISTA; the
"TiLISTA" form of LISTA-CPSS) in float16, to keep the files at a few hundred kB each; the untied
variants are trained live in the notebook at reduced size.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ..datasets import gaussian_matrix
from .unrolled import (
    ALISTA,
    LISTA,
    LISTACPSS,
    BernoulliGaussian,
    HyperLISTA,
    layer_nmse_db,
    train_layerwise,
    tune_hyperlista,
)

__all__: list[str] = []

SETTINGS = {"noiseless": None, "snr40": 40.0}
MODELS = ("lista", "listacpss", "alista", "hyperlista")
# The repository's data/ folder; SPARSECOURSE_DATA points elsewhere (e.g. a clone on Colab, where
# the package is pip-installed without the data files).
DEFAULT_OUT = Path(os.environ.get("SPARSECOURSE_DATA",
                                  Path(__file__).resolve().parents[2] / "data")) / "lista"


def a_checksum(A: np.ndarray) -> str:
    """A short fingerprint of the dictionary, stored with the weights and checked on load.

    Two sums, ``sum(A)`` and ``sum(A * A[::-1])``, in float64, written with 11 significant
    digits. :func:`check_dictionary` compares them with a tolerance that covers the rounding of
    ``A`` to a narrower float type, so the same dictionary passes in float64, float32 or float16.
    """
    return f"{float(np.sum(A)):.10e}|{float(np.sum(A * A[::-1])):.10e}"


def _checksum_tolerances(A: np.ndarray) -> tuple[float, float]:
    """How far each checksum term can move when ``A``'s entries are rounded to its dtype.

    Rounding one entry to a float type with unit roundoff ``u`` moves it by at most ``u |a|``:
    the first sum moves by at most ``u sum|A|``, the second by ``(2u + u^2) sum|A * A[::-1]|``.
    A factor 4 on top covers the float64 summation itself.
    """
    u = float(np.finfo(A.dtype).eps) / 2 if A.dtype.kind == "f" else 0.0
    u = max(u, float(np.finfo(np.float64).eps))
    A64 = A.astype(np.float64)
    return (4 * u * float(np.abs(A64).sum()),
            4 * (2 * u + u * u) * float(np.abs(A64 * A64[::-1]).sum()))


def check_dictionary(A, meta: dict, name: str = "the stored network") -> np.ndarray:
    """Check that ``A`` is the dictionary a stored network was trained for; return it as float64.

    ``A`` may be a NumPy array or a torch tensor (also the network's own float32 ``net.A``),
    in float64 or float32: the checksum of :func:`a_checksum` is compared at the precision of
    ``A``'s dtype and of the stored string, not bit for bit (float16 passes too, with a check
    only as fine as float16). The error says what
    differs: the shape, or which checksum term and by how much.
    """
    if hasattr(A, "detach") and hasattr(A, "cpu"):  # torch tensor
        A = A.detach().cpu().numpy()
    A = np.asarray(A)
    if A.dtype.kind not in "fiu":
        raise TypeError(f"A must be a real float array, got dtype {A.dtype}")
    want = (int(meta["m"]), int(meta["n"]))
    if A.shape != want:
        raise ValueError(f"{name} was trained for another dictionary A: A has shape {A.shape}, "
                         f"the stored one (m, n) = {want}")
    A = A if A.dtype.kind == "f" else A.astype(np.float64)
    stored = [float(v) for v in meta["A_checksum"].split("|")]
    ours = [float(np.sum(A, dtype=np.float64)),
            float(np.sum(A.astype(np.float64) * A[::-1].astype(np.float64)))]
    tols = _checksum_tolerances(A)
    for what, s, o, t in zip(("sum(A)", "sum(A * A[::-1])"), stored, ours, tols, strict=True):
        t = t + 1e-10 * abs(s)  # the stored string keeps 11 significant digits
        if not abs(o - s) <= t:
            raise ValueError(
                f"{name} was trained for another dictionary A: {what} = {o:.10e} for this A "
                f"({A.dtype}), {s:.10e} for the stored one (difference {abs(o - s):.3e}, "
                f"allowed {t:.1e} at {A.dtype} precision); build A with "
                f"gaussian_matrix({want[0]}, {want[1]}, seed={meta.get('seed', 0)})")
    return A.astype(np.float64)


def build(model: str, A, layers: int):
    """The untrained module of the stored form (tied LISTA / LISTA-CPSS)."""
    if model == "lista":
        return LISTA(A, n_layers=layers, lam=0.1, tied=True)
    if model == "listacpss":
        return LISTACPSS(A, n_layers=layers, lam=0.1, tied=True)
    if model == "alista":
        return ALISTA(A, n_layers=layers)
    if model == "hyperlista":
        return HyperLISTA(A, n_layers=layers)
    raise ValueError(f"model must be one of {MODELS}, got {model!r}")


HYPER_GRIDS = {"c1_grid": np.geomspace(5e-3, 0.3, 13), "c2_grid": np.linspace(0.0, 0.2, 9),
               "c3_grid": np.linspace(0.0, 90.0, 10)}


def train_one(model: str, setting: str, *, m: int, n: int, layers: int, seed: int, steps: int,
              batch: int, lr: float, device: str, out: Path, dtype: str = "float16",
              n_test: int = 1000) -> dict:
    """Train (or tune) one model in one setting, save it and return its metadata."""
    t0 = time.perf_counter()
    A = gaussian_matrix(m, n, seed=seed)
    dist = BernoulliGaussian(A, p=0.1, snr_db=SETTINGS[setting])
    net = build(model, A, layers)
    y_test, x_test = dist.sample(n_test, seed=seed + 1000)
    if model == "hyperlista":
        y_tune, x_tune = dist.sample(min(n_test, 500), seed=seed + 2000)
        res = tune_hyperlista(net, y_tune, x_tune, n_rounds=2, **HYPER_GRIDS)
        tensors = {"c": torch.tensor([res["c1"], res["c2"], res["c3"]], dtype=torch.float64)}
    else:
        net.to(device)

        def sampler(b, g):
            y, x = dist.sample(b, generator=g)
            return y.to(device), x.to(device)

        train_layerwise(net, sampler, n_steps=steps, batch_size=batch, lr=lr, seed=seed)
        net.cpu()
        tensors = {k: v.detach().contiguous() for k, v in net.named_parameters()}
    nmse32 = layer_nmse_db(net, y_test, x_test)
    store = {k: (v.to(getattr(torch, dtype)) if v.dtype == torch.float32 else v)
             for k, v in tensors.items()}
    if model != "hyperlista":
        load_into(net, {k: v.float() for k, v in store.items()})
    nmse_stored = layer_nmse_db(net, y_test, x_test)
    meta = {"model": model, "setting": setting, "m": m, "n": n, "layers": layers, "seed": seed,
            "A_checksum": a_checksum(A), "p": 0.1, "snr_db": SETTINGS[setting],
            "steps_per_stage": steps, "batch": batch, "lr": lr, "device": device,
            "dtype": dtype, "seconds": round(time.perf_counter() - t0, 1),
            "test_nmse_db_float32": [round(float(v), 3) for v in nmse32],
            "test_nmse_db_stored": [round(float(v), 3) for v in nmse_stored]}
    out.mkdir(parents=True, exist_ok=True)
    save_file(store, str(out / f"{model}_{setting}.safetensors"),
              metadata={"json": json.dumps(meta)})
    return meta


def load_into(net: torch.nn.Module, tensors: dict) -> torch.nn.Module:
    """Copy stored tensors into a module built by :func:`build`."""
    if isinstance(net, HyperLISTA):
        net.set_hyperparameters(*[float(v) for v in tensors["c"]])
        return net
    params = dict(net.named_parameters())
    if set(params) != set(tensors):
        raise ValueError(f"stored tensors {sorted(tensors)} do not match {sorted(params)}")
    with torch.no_grad():
        for k, v in tensors.items():
            params[k].copy_(v.float())
    return net


def load_pretrained(model: str, setting: str, A, *, path: str | Path | None = None):
    """Load a stored unrolled network (Chapter 3's full-size LISTA experiment) for dictionary ``A``.

    Parameters
    ----------
    model : {"lista", "listacpss", "alista", "hyperlista"}
    setting : {"noiseless", "snr40"}
    A : array-like or torch.Tensor of shape (m, n)
        The dictionary the network was trained for (atoms as columns), in any float dtype:
        it is checked against the checksum stored with the weights at the precision of its
        dtype (float32 ``A``, for instance the network's own ``net.A``, passes).
    path : str or Path, optional
        Folder with the ``<model>_<setting>.safetensors`` files; ``data/lista/`` of the
        repository by default (or ``$SPARSECOURSE_DATA/lista``).

    Returns
    -------
    (module, metadata) : the network with its weights, and the dictionary stored beside them
        (problem size, training budget, test NMSE per layer).

    Raises
    ------
    ValueError
        If ``A`` is not the dictionary of the stored network; the message says what differs.

    Examples
    --------
    >>> from sparsecourse.coding import load_pretrained
    >>> from sparsecourse.datasets import gaussian_matrix
    >>> A = gaussian_matrix(250, 500, seed=0)
    >>> net, meta = load_pretrained("alista", "noiseless", A)
    >>> net2, _ = load_pretrained("alista", "noiseless", net.A)  # float32: passes too
    >>> meta["m"], meta["n"], meta["layers"]
    (250, 500, 16)
    """
    from safetensors import safe_open

    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    if setting not in SETTINGS:
        raise ValueError(f"setting must be one of {tuple(SETTINGS)}, got {setting!r}")
    path = Path(path) if path is not None else DEFAULT_OUT
    file = path / f"{model}_{setting}.safetensors"
    with safe_open(str(file), framework="pt") as f:
        meta = json.loads(f.metadata()["json"])
    A = check_dictionary(A, meta, file.name)
    net = build(model, A, meta["layers"])
    return load_into(net, load_file(str(file))), meta


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--m", type=int, default=250)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--layers", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=300, help="Adam steps per training stage")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--dtype", default="float16", choices=["float16", "float32"])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--n-test", type=int, default=1000)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    metas = []
    for setting in args.settings:
        for model in args.models:
            meta = train_one(model, setting, m=args.m, n=args.n, layers=args.layers,
                             seed=args.seed, steps=args.steps, batch=args.batch, lr=args.lr,
                             device=args.device, out=args.out, dtype=args.dtype,
                             n_test=args.n_test)
            last = meta["test_nmse_db_stored"][-1]
            print(f"{model:11s} {setting:9s} {meta['seconds']:7.1f} s   last-layer NMSE "
                  f"{last:7.2f} dB (float32 {meta['test_nmse_db_float32'][-1]:7.2f})",
                  flush=True)
            metas.append(meta)
    if not all(math.isfinite(v) for meta in metas for v in meta["test_nmse_db_stored"]):
        raise SystemExit("a trained network diverged (non-finite NMSE)")
    return metas


if __name__ == "__main__":
    main()
