"""A small, deterministic training loop for MLPs on the digits data.

Enough to run lottery-ticket experiments in seconds: :func:`digits_data` splits scikit-learn's
bundled digits into train/validation/test tensors, :func:`lenet_300_100` builds the MLP of
Frankle & Carbin's MNIST experiments (here 64-300-100-10), :func:`train` trains it with Adam on
mini-batches and records the validation loss, so that the *early-stopping iteration* (the step of
minimum validation loss) and the test accuracy there can be reported, as in the lottery ticket
paper.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._validation import check_fraction, check_int, check_positive
from .masks import clone_model, get_state

__all__ = ["DigitsData", "digits_data", "lenet_300_100", "evaluate", "TrainResult", "train"]


@dataclass
class DigitsData:
    """Train, validation and test tensors (float32 inputs in [0, 1], int64 labels)."""

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_val: torch.Tensor
    y_val: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor


def digits_data(*, val_size: float = 0.2, test_size: float = 0.25, seed: int = 0) -> DigitsData:
    """Stratified split of scikit-learn's digits (1797 images of 8x8 pixels) into tensors.

    Examples
    --------
    >>> from sparsecourse.pruning import digits_data
    >>> d = digits_data()
    >>> tuple(d.X_train.shape), tuple(d.X_val.shape), tuple(d.X_test.shape)
    ((988, 64), (359, 64), (450, 64))
    """
    from sklearn.model_selection import train_test_split

    from ..datasets import load_digits

    val_size = check_fraction(val_size, "val_size", closed="neither")
    test_size = check_fraction(test_size, "test_size", closed="neither")
    if val_size + test_size >= 1:
        raise ValueError(f"val_size + test_size must be < 1, got {val_size + test_size}")
    X, y = load_digits()
    X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=test_size,
                                                      random_state=seed, stratify=y)
    X_tr, X_val, y_tr, y_val = train_test_split(
        X_rest, y_rest, test_size=round(val_size * len(y)), random_state=seed, stratify=y_rest)
    t = torch.from_numpy
    return DigitsData(t(X_tr), t(y_tr), t(X_val), t(y_val), t(X_test), t(y_test))


def lenet_300_100(sizes: Sequence[int] = (64, 300, 100, 10), *, seed: int = 0) -> nn.Sequential:
    """A LeNet-300-100-style MLP: Linear-ReLU-...-Linear, PyTorch's default initialisation.

    The global random generator is not touched: the weights depend on ``seed`` only.

    Examples
    --------
    >>> from sparsecourse.pruning import lenet_300_100
    >>> net = lenet_300_100(seed=0)
    >>> net
    Sequential(
      (0): Linear(in_features=64, out_features=300, bias=True)
      (1): ReLU()
      (2): Linear(in_features=300, out_features=100, bias=True)
      (3): ReLU()
      (4): Linear(in_features=100, out_features=10, bias=True)
    )
    >>> sum(p.numel() for n, p in net.named_parameters() if n.endswith("weight"))
    50200
    """
    sizes = [check_int(s, "sizes", minimum=1) for s in sizes]
    if len(sizes) < 2:
        raise ValueError(f"sizes must have at least 2 entries (input, output), got {sizes}")
    seed = check_int(seed, "seed", minimum=0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
        return nn.Sequential(*layers)


@torch.no_grad()
def evaluate(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Mean cross-entropy loss and accuracy of a classifier.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from sparsecourse.pruning import evaluate
    >>> net = nn.Linear(2, 2)
    >>> loss, acc = evaluate(net, torch.zeros(4, 2), torch.tensor([0, 1, 0, 1]))
    >>> acc
    0.5
    """
    was_training = model.training
    model.eval()
    out = model(X)
    model.train(was_training)
    return float(F.cross_entropy(out, y)), float((out.argmax(1) == y).float().mean())


@dataclass
class TrainResult:
    """What :func:`train` records.

    ``steps``, ``val_loss``, ``val_acc`` and ``test_acc`` are evaluated every ``eval_every``
    steps (step 0 included). ``early_stop_step`` is the step of minimum validation loss and
    ``early_stop_test_acc`` the test accuracy there; ``saved_state`` is the
    :func:`~sparsecourse.pruning.get_state` at step ``save_at`` (for rewinding).
    """

    steps: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    saved_state: dict | None = None

    @property
    def early_stop_index(self) -> int:
        return int(np.argmin(self.val_loss))

    @property
    def early_stop_step(self) -> int:
        return self.steps[self.early_stop_index]

    @property
    def early_stop_test_acc(self) -> float:
        return self.test_acc[self.early_stop_index]

    @property
    def final_test_acc(self) -> float:
        return self.test_acc[-1]


def train(model: nn.Module, data: DigitsData, *, epochs: int = 20, batch_size: int = 128,
          lr: float = 1e-2, seed: int = 0, eval_every: int | None = None,
          save_at: int | None = None,
          callback: Callable[[int, nn.Module], None] | None = None,
          test_every_eval: bool = True) -> TrainResult:
    """Train a classifier with Adam and cross-entropy on mini-batches, in place.

    Pruned weights (see :func:`~sparsecourse.pruning.apply_masks`) stay pruned: the forward
    pass multiplies by the mask, so their gradient is zero and they do not affect the output.

    Parameters
    ----------
    model : nn.Module
    data : DigitsData
    epochs, batch_size : int
    lr : float
        Adam's learning rate. Frankle & Carbin train LeNet-300-100 on MNIST for 50k steps at
        1.2e-3; the defaults (20 epochs of 8 steps at 1e-2) train the 988 digits in a
        fraction of a second, sparse networks included.
    seed : int
        Seeds the order of the mini-batches (not the initialisation).
    eval_every : int, optional
        Evaluate every this many steps; default once per epoch.
    save_at : int, optional
        Save the model's state at this step (0 is before training) in ``saved_state``.
    callback : callable, optional
        ``callback(step, model)`` after every optimizer step (``step`` counts from 1), e.g. to
        update masks during training.
    test_every_eval : bool
        Evaluate the test accuracy at every evaluation (the default). ``False`` evaluates it
        only where :class:`~sparsecourse.pruning.TrainResult` reports it: at the
        early-stopping step (on a copy of the model taken whenever the validation loss
        reaches a new minimum) and at the last step; the other entries of ``test_acc`` are
        NaN. The reported accuracies are the same (the test set is evaluated on the same
        weights), and a digits training takes about 10% less time, which an experiment of a
        few hundred trainings feels.

    Examples
    --------
    >>> from sparsecourse.pruning import digits_data, lenet_300_100, train
    >>> data = digits_data()
    >>> res = train(lenet_300_100(seed=0), data, epochs=3, seed=0)
    >>> res.final_test_acc > 0.85, res.steps[:3]
    (True, [0, 8, 16])
    >>> lazy = train(lenet_300_100(seed=0), data, epochs=3, seed=0, test_every_eval=False)
    >>> (lazy.early_stop_test_acc, lazy.final_test_acc) == (res.early_stop_test_acc,
    ...                                                      res.final_test_acc)
    True
    """
    epochs = check_int(epochs, "epochs", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    lr = check_positive(lr, "lr")
    seed = check_int(seed, "seed", minimum=0)
    n = data.X_train.shape[0]
    per_epoch = -(-n // batch_size)
    eval_every = per_epoch if eval_every is None else check_int(eval_every, "eval_every",
                                                                minimum=1)
    total = epochs * per_epoch
    if save_at is not None:
        save_at = check_int(save_at, "save_at", minimum=0, maximum=total)
    if not isinstance(test_every_eval, (bool, np.bool_)):
        raise TypeError(f"test_every_eval must be a bool, got {type(test_every_eval).__name__}")
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    gen = torch.Generator().manual_seed(seed)
    res = TrainResult()
    best = {}   # lazy test evaluation: the model at the first minimum of the validation loss

    def record(step):
        vl, va = evaluate(model, data.X_val, data.y_val)
        res.steps.append(step)
        res.val_loss.append(vl)
        res.val_acc.append(va)
        if test_every_eval:
            res.test_acc.append(evaluate(model, data.X_test, data.y_test)[1])
            return
        res.test_acc.append(float("nan"))
        # np.argmin picks the first minimum, or the first NaN: keep the model there
        if not best or (not np.isnan(best["loss"]) and (np.isnan(vl) or vl < best["loss"])):
            best.update(loss=vl, index=len(res.val_loss) - 1, model=clone_model(model))

    record(0)
    if save_at == 0:
        res.saved_state = get_state(model)
    step = 0
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, batch_size):
            idx = perm[i:i + batch_size]
            loss = F.cross_entropy(model(data.X_train[idx]), data.y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if save_at == step:
                res.saved_state = get_state(model)
            if callback is not None:
                callback(step, model)
            if step % eval_every == 0:
                record(step)
    if res.steps[-1] != step:
        record(step)
    if not test_every_eval:
        res.test_acc[-1] = evaluate(model, data.X_test, data.y_test)[1]
        if best["index"] != len(res.test_acc) - 1:
            res.test_acc[best["index"]] = evaluate(best["model"], data.X_test, data.y_test)[1]
        assert best["index"] == res.early_stop_index
    return res
