"""Predicting which neurons will fire: a low-rank predictor and the previous-token baseline.

Skipping a neuron saves its weights only if we know it is inactive *before* computing it. Deja
Vu and ShadowLLM train a small network on the layer input to predict the active set; "ReLU² Wins"
calls how well this works the *predictivity* of an activation function. The simplest baseline
predicts that a token activates the same neurons as the token before it.

Scores are micro-averaged over all (token, neuron) pairs: ``recall = TP / (TP + FN)``
(active neurons the predictor found), ``precision = TP / (TP + FP)``.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = [
    "recall_precision",
    "previous_token_baseline",
    "ActivePredictor",
    "train_predictor",
    "predictivity",
]


def _as_bool(x, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype != torch.bool:
        raise TypeError(f"{name} must be a boolean tensor (True = active), got {x.dtype}")
    return x


def recall_precision(predicted: torch.Tensor, actual: torch.Tensor) -> dict[str, float]:
    """Recall and precision of a predicted active set, micro-averaged.

    Parameters
    ----------
    predicted, actual : bool tensors of the same shape
        ``True`` where a neuron is (predicted) active.

    Returns
    -------
    dict
        ``recall``, ``precision``, ``predicted_density`` (fraction predicted active, the
        compute the prediction keeps) and ``density`` (fraction truly active). Recall is 1
        (nothing to find) when no neuron is active; precision is 1 when none is predicted.

    Examples
    --------
    >>> pred = torch.tensor([[True, True, False, False]])
    >>> true = torch.tensor([[True, False, True, False]])
    >>> recall_precision(pred, true)["recall"], recall_precision(pred, true)["precision"]
    (0.5, 0.5)
    """
    p = _as_bool(predicted, "predicted")
    a = _as_bool(actual, "actual")
    if p.shape != a.shape:
        raise ValueError(f"predicted has shape {tuple(p.shape)} but actual has "
                         f"{tuple(a.shape)}")
    tp = int((p & a).sum())
    n_pred, n_true = int(p.sum()), int(a.sum())
    return {
        "recall": tp / n_true if n_true else 1.0,
        "precision": tp / n_pred if n_pred else 1.0,
        "predicted_density": n_pred / max(p.numel(), 1),
        "density": n_true / max(a.numel(), 1),
    }


def previous_token_baseline(active: torch.Tensor) -> dict[str, float]:
    """Predict token ``t``'s active set by token ``t - 1``'s, within each sequence.

    Parameters
    ----------
    active : bool tensor, shape (B, T, d_ff)
        Active neurons of every token of ``B`` sequences (``T >= 2``).

    Returns
    -------
    dict
        As :func:`recall_precision`, over tokens ``1..T-1`` of every sequence.

    Examples
    --------
    >>> act = torch.tensor([[[True, False], [True, False], [False, True]]])
    >>> previous_token_baseline(act)["recall"]
    0.5
    """
    a = _as_bool(active, "active")
    if a.dim() != 3 or a.shape[1] < 2:
        raise ValueError(f"active must have shape (B, T, d_ff) with T >= 2, got "
                         f"{tuple(a.shape)}")
    return recall_precision(a[:, :-1], a[:, 1:])


class ActivePredictor(nn.Module):
    """Low-rank MLP from a layer's input to logits of its neurons being active (Deja Vu style).

    ``logits = B relu(A x)`` with ``A`` of shape ``(rank, d_model)`` and ``B`` of shape
    ``(d_ff, rank)``: ``rank * (d_model + d_ff)`` parameters, a small fraction of the
    ``2-3 * d_model * d_ff`` of the MLP it serves.
    """

    def __init__(self, d_model: int, d_ff: int, rank: int = 32) -> None:
        super().__init__()
        for v, nm in ((d_model, "d_model"), (d_ff, "d_ff"), (rank, "rank")):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{nm} must be a positive int, got {v!r}")
        self.down = nn.Linear(d_model, rank)
        self.up = nn.Linear(rank, d_ff)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(torch.relu(self.down(x)))

    @torch.no_grad()
    def predict(self, x: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
        """Boolean predicted active set: ``sigmoid(logits) > threshold``."""
        if not (isinstance(threshold, (int, float)) and 0 < threshold < 1):
            raise ValueError(f"threshold must be in (0, 1), got {threshold!r}")
        return torch.sigmoid(self(x)) > threshold


def train_predictor(x: torch.Tensor, active: torch.Tensor, *, rank: int = 32,
                    epochs: int = 30, batch_size: int = 256, lr: float = 1e-2,
                    pos_weight: float = 1.0, seed: int = 0) -> ActivePredictor:
    """Fit an :class:`ActivePredictor` with binary cross-entropy (Adam).

    Parameters
    ----------
    x : float tensor, shape (N, d_model) or (B, T, d_model)
        Layer inputs.
    active : bool tensor, shape (N, d_ff) or (B, T, d_ff)
        The active set of each token (the labels).
    rank : int
        Width of the predictor's hidden layer.
    pos_weight : float
        Weight of the positive class in the loss; values above 1 trade precision for recall
        (Deja Vu favours recall: a missed active neuron costs accuracy).
    seed : int
        Seeds the initialisation and the shuffling.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(512, 8, generator=g); W = torch.randn(16, 8, generator=g)
    >>> active = x @ W.T > 0          # a linear rule: easy to learn
    >>> pred = train_predictor(x, active, rank=16, epochs=40)
    >>> recall_precision(pred.predict(x), active)["recall"] > 0.9
    True
    """
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError("x must be a floating-point torch.Tensor")
    a = _as_bool(active, "active")
    x2 = x.reshape(-1, x.shape[-1]).float()
    y = a.reshape(-1, a.shape[-1]).float()
    if x2.shape[0] != y.shape[0]:
        raise ValueError(f"x has {x2.shape[0]} tokens but active has {y.shape[0]}")
    if not torch.isfinite(x2).all():
        raise ValueError("x contains NaN or infinity")
    if not (isinstance(pos_weight, (int, float)) and pos_weight > 0):
        raise ValueError(f"pos_weight must be > 0, got {pos_weight!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ActivePredictor(x2.shape[1], y.shape[1], rank)
    mu, sd = x2.mean(0), x2.std(0).clamp_min(1e-6)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(float(pos_weight)))
    xs = (x2 - mu) / sd
    for _ in range(epochs):
        perm = torch.randperm(xs.shape[0], generator=gen)
        for i in range(0, xs.shape[0], batch_size):
            idx = perm[i : i + batch_size]
            opt.zero_grad()
            loss_fn(model(xs[idx]), y[idx]).backward()
            opt.step()
    # fold the standardisation into the first layer so that predict() takes raw inputs
    with torch.no_grad():
        w = model.down.weight / sd
        model.down.bias -= (w * mu).sum(1)
        model.down.weight.copy_(w)
    model.eval()
    return model


def predictivity(model: nn.Module, train_data, test_data, *, cett: float = 0.2,
                 rank: int = 32, epochs: int = 8, pos_weight: float = 1.0,
                 n_seqs: int = 32, seq_len: int = 128, seed: int = 0) -> dict[str, dict]:
    """How predictable the active sets of every MLP are ("ReLU² Wins"' predictivity).

    Active neurons follow the magnitude definition (:func:`~sparsecourse.activation.cett`
    thresholds at ``cett``, set on ``train_data``). For each layer a predictor is trained on
    ``train_data`` tokens and scored on ``test_data`` tokens, next to the previous-token
    baseline on ``test_data``.

    Returns
    -------
    dict
        ``{"predictor": {...}, "previous_token": {...}}``, each with ``recall``,
        ``precision``, ``predicted_density`` and ``density`` averaged over layers, and
        ``"per_layer"``: a list of ``(name, predictor scores, baseline scores)``.
    """
    from .measure import cett_threshold, collect_mlp_activations

    kw = {"n_seqs": n_seqs, "seq_len": seq_len}
    tr = collect_mlp_activations(model, train_data, inputs=True, seed=seed, **kw)
    te = collect_mlp_activations(model, test_data, inputs=True, seed=seed + 1, **kw)
    per_layer = []
    for i, (name, a) in enumerate(tr.items()):
        norms = a["w_down"].norm(dim=0)
        eps = cett_threshold(a["h"], a["w_down"], cett)
        act_tr = a["h"].abs() * norms > eps
        act_te = te[name]["h"].abs() * norms > eps
        pred = train_predictor(a["x"], act_tr, rank=rank, epochs=epochs,
                               pos_weight=pos_weight, seed=seed + i)
        scores = recall_precision(pred.predict(te[name]["x"]), act_te)
        per_layer.append((name, scores, previous_token_baseline(act_te)))
    keys = ("recall", "precision", "predicted_density", "density")
    mean = {
        which: {k: float(sum(row[j][k] for row in per_layer) / len(per_layer)) for k in keys}
        for j, which in ((1, "predictor"), (2, "previous_token"))
    }
    return {**mean, "per_layer": per_layer}
