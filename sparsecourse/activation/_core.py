"""Shared plumbing: finding Llama-style MLPs and attention blocks, calibration data, quantiles,
and the handle that removes a sparsification cleanly.

Everything here works on *any* ``torch.nn.Module`` that uses Hugging Face Llama naming: our
``sparsecourse.models.LlamaLM`` and ``transformers``' ``LlamaForCausalLM`` alike. An MLP is a
module with ``up_proj``, ``down_proj`` (``nn.Linear``) and an ``act_fn`` module, plus
``gate_proj`` when it is gated (SwiGLU); an attention block has ``q_proj``, ``k_proj``,
``v_proj`` and ``o_proj``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import torch
from torch import nn

__all__ = [
    "find_mlps",
    "find_blocks",
    "is_gated",
    "as_batches",
    "SparsityHandle",
]

_MLP_ATTRS = ("up_proj", "down_proj", "act_fn")
_ATTN_ATTRS = ("q_proj", "k_proj", "v_proj", "o_proj")
_MAX_SAMPLES = 2_000_000  # values kept per site to estimate a quantile


def _check_model(model) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return model


def _is_mlp(m: nn.Module) -> bool:
    return (all(isinstance(getattr(m, a, None), nn.Module) for a in _MLP_ATTRS)
            and isinstance(m.up_proj, nn.Linear) and isinstance(m.down_proj, nn.Linear))


def _is_attention(m: nn.Module) -> bool:
    return all(isinstance(getattr(m, a, None), nn.Linear) for a in _ATTN_ATTRS)


def is_gated(mlp: nn.Module) -> bool:
    """True when ``mlp`` has a ``gate_proj`` (SwiGLU-style: ``act(gate(x)) * up(x)``)."""
    return isinstance(getattr(mlp, "gate_proj", None), nn.Linear)


def find_mlps(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """All Llama-style MLP modules of ``model`` as ``(name, module)``, in forward order.

    Raises
    ------
    ValueError
        If ``model`` contains no module with ``up_proj``, ``down_proj`` and ``act_fn``.

    Examples
    --------
    >>> from sparsecourse.models import LlamaLM, ModelConfig
    >>> model = LlamaLM(ModelConfig(vocab_size=64, d_model=16, n_layers=2, n_heads=2, d_ff=32))
    >>> [name for name, _ in find_mlps(model)]
    ['model.layers.0.mlp', 'model.layers.1.mlp']
    """
    _check_model(model)
    found = [(n, m) for n, m in model.named_modules() if _is_mlp(m)]
    if not found:
        raise ValueError(
            "model has no module with Llama-style MLP naming (nn.Linear up_proj and down_proj "
            f"and an act_fn module; gate_proj when gated); got a {type(model).__name__}"
        )
    return found


def find_blocks(model: nn.Module) -> list[dict]:
    """The transformer blocks: for each MLP, its parent module and that parent's attention.

    Returns a list of dicts with keys ``name``, ``block`` (the module whose output TEAL
    compares; the MLP itself when it has no parent), ``mlp``, ``attn`` (``None`` when the
    block has no Llama-style attention) and ``linears`` (``{"q": q_proj, ..., "down":
    down_proj}``, short names without the ``_proj`` suffix).
    """
    mlps = find_mlps(model)
    modules = dict(model.named_modules())
    blocks = []
    for name, mlp in mlps:
        if name == "":  # the model is itself an MLP
            block_name, block = name, mlp
        else:
            block_name = name.rpartition(".")[0]
            block = modules[block_name]
        attns = [m for m in block.children() if _is_attention(m)] if block is not mlp else []
        attn = attns[0] if attns else None
        linears: dict[str, nn.Linear] = {}
        if attn is not None:
            for a in _ATTN_ATTRS:
                linears[a[0]] = getattr(attn, a)
        if is_gated(mlp):
            linears["gate"] = mlp.gate_proj
        linears["up"] = mlp.up_proj
        linears["down"] = mlp.down_proj
        blocks.append({"name": block_name, "block": block, "mlp": mlp, "attn": attn,
                       "linears": linears})
    return blocks


def check_sparsity(value, name: str = "sparsity") -> float:
    """A target sparsity must be a real number in ``[0, 1)``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number in [0, 1), got {type(value).__name__}")
    value = float(value)
    if not (0.0 <= value < 1.0):  # also rejects NaN
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    return value


def check_threshold(value, name: str = "threshold") -> torch.Tensor:
    """A threshold: a non-negative finite number or tensor of them (returned as float32)."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number or a tensor, got bool")
    if isinstance(value, numbers.Real):
        t = torch.tensor(float(value))
    elif isinstance(value, torch.Tensor):
        if value.is_complex() or value.dtype == torch.bool:
            raise TypeError(f"{name} must be real-valued, got {value.dtype}")
        t = value.detach().float()
    else:
        raise TypeError(f"{name} must be a number or a torch.Tensor, got {type(value).__name__}")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} must be finite, got NaN or infinity")
    if (t < 0).any():
        raise ValueError(f"{name} must be >= 0, got a negative value")
    return t


def as_batches(data, *, n_seqs: int = 16, seq_len: int = 128, batch_size: int = 8,
               seed: int = 0) -> list[torch.Tensor]:
    """Turn calibration/evaluation ``data`` into a list of ``(B, T)`` token batches.

    ``data`` may be a 1-D LongTensor of token ids (then ``n_seqs`` random windows of
    ``seq_len`` tokens are cut from it with ``seed``, like
    ``sparsecourse.models.calibration_batches``), a 2-D ``(B, T)`` LongTensor, or an
    iterable of 2-D LongTensors (used as they are).

    Examples
    --------
    >>> ids = torch.arange(1000)
    >>> [b.shape for b in as_batches(ids, n_seqs=5, seq_len=16, batch_size=2)]
    [torch.Size([2, 16]), torch.Size([2, 16]), torch.Size([1, 16])]
    >>> torch.equal(as_batches(ids, seed=3)[0], as_batches(ids, seed=3)[0])
    True
    """
    for v, nm in ((n_seqs, "n_seqs"), (seq_len, "seq_len"), (batch_size, "batch_size")):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{nm} must be a positive int, got {v!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if isinstance(data, torch.Tensor):
        if data.is_floating_point() or data.is_complex() or data.dtype == torch.bool:
            raise TypeError(f"data must hold integer token ids, got dtype {data.dtype}")
        if data.dim() == 1:
            if data.numel() < seq_len:
                raise ValueError(f"data has {data.numel()} tokens, fewer than seq_len={seq_len}")
            gen = torch.Generator().manual_seed(seed)
            starts = torch.randint(0, data.numel() - seq_len + 1, (n_seqs,), generator=gen)
            win = data[starts[:, None] + torch.arange(seq_len)].long()
            return list(win.split(batch_size))
        if data.dim() == 2:
            return [data.long()]
        raise ValueError(f"data must be 1-D token ids or a 2-D batch, got shape "
                         f"{tuple(data.shape)}")
    if isinstance(data, Iterable) and not isinstance(data, (str, bytes)):
        out = []
        for b in data:
            out.extend(as_batches(b, n_seqs=n_seqs, seq_len=seq_len, batch_size=batch_size,
                                  seed=seed) if isinstance(b, torch.Tensor) and b.dim() == 2
                       else _bad_batch(b))
        if not out:
            raise ValueError("data is empty: give at least one (B, T) batch of token ids")
        return out
    raise TypeError(f"data must be a LongTensor of token ids or an iterable of (B, T) batches, "
                    f"got {type(data).__name__}")


def _bad_batch(b):
    raise TypeError("each batch in data must be a 2-D torch.Tensor of token ids, got "
                    f"{type(b).__name__}" + (f" of shape {tuple(b.shape)}"
                                             if isinstance(b, torch.Tensor) else ""))


@torch.no_grad()
def run_model(model: nn.Module, batches: list[torch.Tensor]) -> None:
    """Forward every batch through ``model`` (eval mode, no grad), outputs discarded."""
    was = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        for b in batches:
            model(b.to(device))
    finally:
        model.train(was)


class ValueSample:
    """A seeded, bounded sample of the rows (tokens) of a stream of activations.

    ``add`` takes tensors of shape ``(..., C)``; rows are kept whole so that channel-wise
    statistics stay possible. Once ``max_values`` values are stored, each new chunk is
    subsampled (with the seeded generator) so that the total stays bounded.
    """

    def __init__(self, seed: int = 0, max_values: int = _MAX_SAMPLES) -> None:
        self.gen = torch.Generator().manual_seed(seed)
        self.max_values = max_values
        self.parts: list[torch.Tensor] = []
        self.stored = 0
        self._sorted: torch.Tensor | None = None

    def add(self, values: torch.Tensor) -> None:
        v = values.detach().float().cpu()
        v = v.reshape(-1, v.shape[-1]) if v.dim() > 1 else v.reshape(-1, 1)
        budget = max(1, (self.max_values // 16) // v.shape[1])  # rows per chunk
        if v.shape[0] > budget:
            v = v[torch.randperm(v.shape[0], generator=self.gen)[:budget]]
        if self.stored + v.numel() > self.max_values:
            return
        self.parts.append(v)
        self.stored += v.numel()
        self._sorted = None

    @property
    def rows(self) -> torch.Tensor:
        """The stored rows, shape ``(n_rows, C)``."""
        return torch.cat(self.parts)

    @property
    def sorted(self) -> torch.Tensor:
        if self._sorted is None:
            self._sorted = torch.sort(self.rows.reshape(-1)).values
        return self._sorted

    def quantile(self, q: float) -> float:
        """Smallest stored value ``t`` with at least a fraction ``q`` of the sample ``<= t``
        (``0`` for ``q = 0``, so that thresholding at ``t`` changes nothing)."""
        return sorted_quantile(self.sorted, q)


def sorted_quantile(s: torch.Tensor, q: float) -> float:
    """``q``-quantile of an ascending 1-D tensor, as in :meth:`ValueSample.quantile`."""
    if q <= 0 or s.numel() == 0:
        return 0.0
    k = min(s.numel() - 1, max(0, math.ceil(q * s.numel()) - 1))
    return float(s[k])


class SparsityHandle:
    """What a sparsification method returns: undo it with :meth:`remove` or a ``with`` block.

    While applied, every masked site counts how many values it zeroed, so
    :meth:`sparsity` reports the sparsity actually reached on the text run through the model
    (reset the counters with :meth:`reset_stats`).

    Attributes
    ----------
    sites : dict
        Site name (e.g. ``"model.layers.0.mlp"`` or ``"model.layers.0.self_attn.q_proj"``) to
        its counter object, which has ``zeros``, ``total`` and ``weight`` (the number of
        weights the site's zeros can skip: a fraction ``f`` of zeros skips ``f * weight``
        weight reads).
    """

    def __init__(self) -> None:
        self._undo: list = []
        self.sites: dict[str, _Counter] = {}
        self.removed = False

    def _add(self, undo, name: str, counter: _Counter) -> None:
        self._undo.append(undo)
        self.sites[name] = counter

    def remove(self) -> None:
        """Restore the model exactly as it was (idempotent)."""
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()
        self.removed = True

    def __enter__(self) -> SparsityHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()

    def reset_stats(self) -> None:
        """Zero the counters of every site."""
        for c in self.sites.values():
            c.zeros = 0
            c.total = 0

    def sparsity(self, per_site: bool = False):
        """Fraction of values zeroed since the last reset.

        Parameters
        ----------
        per_site : bool
            Return ``{site: fraction}`` instead of the overall number.

        Returns
        -------
        float or dict
            Overall: each site's fraction weighted by the number of weights its zeros can
            skip, i.e. the fraction of weight reads saved (TEAL's *model-wide* sparsity; for
            CATS, whose sites all have the same size, the plain mean over layers).
        """
        fr = {n: (c.zeros / c.total if c.total else float("nan")) for n, c in self.sites.items()}
        if per_site:
            return fr
        w = sum(c.weight for c in self.sites.values())
        return sum(fr[n] * c.weight for n, c in self.sites.items()) / w if w else float("nan")


class _Counter:
    __slots__ = ("zeros", "total", "weight")

    def __init__(self, weight: int) -> None:
        self.zeros = 0
        self.total = 0
        self.weight = weight
