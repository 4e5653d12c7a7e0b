"""Training-free activation sparsity: CATS, TEAL, CHESS and plain top-k.

Each method zeroes small activations at inference time, on any model with Hugging Face Llama
naming (our ``sparsecourse.models.LlamaLM`` or ``transformers``' ``LlamaForCausalLM``):

- :class:`CATS` (Lee et al.): one threshold per MLP on ``|act_fn(gate_proj(x))|``, set to the
  ``sparsity``-quantile of that magnitude on calibration text. A zeroed neuron skips a row of
  ``up_proj`` and a column of ``down_proj``.
- :class:`TEAL` (Liu et al.): a magnitude threshold on the *input* of every linear layer (q, k,
  v, o, gate, up, down), from the calibrated distribution of that input; the per-layer
  sparsities inside each block are allocated greedily so that the block output changes least,
  under a model-wide target.
- :class:`CHESS` (He et al.): channel-wise thresholds for the MLP (a neuron's importance is
  ``|act| * E|up|``) and selective sparsification of the attention (inputs of ``q_proj`` and
  ``o_proj`` only; keys and values stay dense).
- :class:`TopK`: keep the ``k`` largest ``|act|`` of each token in each MLP.

Every method returns a :class:`~sparsecourse.activation.SparsityHandle` from ``apply``: use it
as a context manager or call ``remove()``; removal restores the model exactly. Calibration is
deterministic given ``seed``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ._core import (
    SparsityHandle,
    ValueSample,
    _Counter,
    as_batches,
    check_sparsity,
    check_threshold,
    find_blocks,
    find_mlps,
    is_gated,
    run_model,
    sorted_quantile,
)

__all__ = [
    "MaskedActivation",
    "mask_activations",
    "mask_linear_inputs",
    "TopK",
    "CATS",
    "CHESS",
    "TEAL",
    "sparsity_sweep",
]


class MaskedActivation(nn.Module):
    """``act_fn`` followed by a magnitude mask: ``a = act(z)``, then ``a * (|a| > t)``.

    Parameters
    ----------
    act : nn.Module
        The wrapped activation (kept as ``self.act``; restored on removal).
    threshold : float or tensor, optional
        Scalar, or one threshold per channel (last dimension). Values with ``|a| <= t`` are
        zeroed.
    k : int, optional
        Instead of a threshold, keep the ``k`` largest ``|a|`` of each row (top-k).
    """

    def __init__(self, act: nn.Module, threshold=None, k: int | None = None,
                 counter: _Counter | None = None) -> None:
        super().__init__()
        if (threshold is None) == (k is None):
            raise ValueError("give exactly one of threshold and k")
        self.act = act
        self.k = k
        self.register_buffer("threshold", None if threshold is None
                             else check_threshold(threshold), persistent=False)
        self.counter = counter

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        a = self.act(z)
        if self.k is not None:
            idx = a.abs().topk(min(self.k, a.shape[-1]), dim=-1).indices
            keep = torch.zeros_like(a, dtype=torch.bool).scatter_(-1, idx, True)
        else:
            keep = a.abs() > self.threshold.to(a.dtype)
        if self.counter is not None:
            self.counter.zeros += int(keep.numel() - keep.sum())
            self.counter.total += keep.numel()
        return torch.where(keep, a, torch.zeros((), dtype=a.dtype, device=a.device))


def _neuron_weight(mlp: nn.Module) -> int:
    """Weights whose reads zero neurons can skip: up_proj (when gated) and down_proj."""
    n = mlp.down_proj.weight.numel()
    return 2 * n if is_gated(mlp) else n


def _wrap_act(handle: SparsityHandle, name: str, mlp: nn.Module, **kw) -> None:
    original = mlp.act_fn
    counter = _Counter(_neuron_weight(mlp))
    mlp.act_fn = MaskedActivation(original, counter=counter, **kw)

    def undo(mlp=mlp, original=original):
        mlp.act_fn = original

    handle._add(undo, name, counter)


def _hook_input(handle: SparsityHandle, name: str, linear: nn.Linear, threshold) -> None:
    t = check_threshold(threshold, f"threshold of {name}")
    if t.dim() > 0 and t.shape != (linear.in_features,):
        raise ValueError(f"threshold of {name} must be a scalar or have shape "
                         f"({linear.in_features},), got {tuple(t.shape)}")
    counter = _Counter(linear.weight.numel())

    def hook(module, args, t=t, counter=counter):
        x = args[0]
        keep = x.abs() > t.to(device=x.device, dtype=x.dtype)
        counter.zeros += int(keep.numel() - keep.sum())
        counter.total += keep.numel()
        return (torch.where(keep, x, torch.zeros((), dtype=x.dtype, device=x.device)),
                *args[1:])

    h = linear.register_forward_pre_hook(hook)
    handle._add(h.remove, name, counter)


def mask_activations(model: nn.Module, thresholds) -> SparsityHandle:
    """Zero ``|act_fn(.)| <= t`` in every Llama-style MLP of ``model``.

    Parameters
    ----------
    model : nn.Module
    thresholds : float, tensor or dict
        One threshold for every MLP, or ``{mlp_name: threshold}`` (names as in
        :func:`find_mlps`); a tensor of shape ``(d_ff,)`` gives channel-wise thresholds.

    Returns
    -------
    SparsityHandle

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.models import LlamaLM, ModelConfig
    >>> model = LlamaLM(ModelConfig(vocab_size=64, d_model=16, n_layers=1, n_heads=2,
    ...                             d_ff=32, activation="swiglu"))
    >>> ids = torch.randint(0, 64, (2, 8), generator=torch.Generator().manual_seed(0))
    >>> dense = model(ids)
    >>> with mask_activations(model, 1e9) as h:   # every neuron zeroed: the MLP adds nothing
    ...     _ = model(ids)
    >>> h.sparsity(), torch.equal(model(ids), dense)   # removed on leaving the block
    (1.0, True)
    """
    mlps = find_mlps(model)
    handle = SparsityHandle()
    names = {n for n, _ in mlps}
    if isinstance(thresholds, dict):
        unknown = set(thresholds) - names
        if unknown:
            raise ValueError(f"thresholds names unknown MLPs {sorted(unknown)}; "
                             f"the model has {sorted(names)}")
    try:
        for name, mlp in mlps:
            t = thresholds.get(name) if isinstance(thresholds, dict) else thresholds
            if t is None:
                continue
            _wrap_act(handle, name, mlp, threshold=check_threshold(t, f"threshold of {name}"))
    except Exception:
        handle.remove()
        raise
    return handle


def mask_linear_inputs(model: nn.Module, thresholds: dict) -> SparsityHandle:
    """Zero the inputs ``|x| <= t`` of the named ``nn.Linear`` layers (TEAL's mechanism).

    Parameters
    ----------
    thresholds : dict
        ``{module_name: threshold}``, a scalar or a per-input-feature tensor.

    Returns
    -------
    SparsityHandle
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(thresholds, dict):
        raise TypeError(f"thresholds must be a dict name -> threshold, got "
                        f"{type(thresholds).__name__}")
    modules = dict(model.named_modules())
    handle = SparsityHandle()
    try:
        for name, t in thresholds.items():
            lin = modules.get(name)
            if not isinstance(lin, nn.Linear):
                raise ValueError(f"thresholds key {name!r} is not an nn.Linear of the model")
            _hook_input(handle, name, lin, t)
    except Exception:
        handle.remove()
        raise
    return handle


class _Method:
    """Common parameters: the target ``sparsity`` and how calibration text is drawn."""

    def __init__(self, sparsity: float = 0.5, *, n_seqs: int = 16, seq_len: int = 128,
                 seed: int = 0) -> None:
        self.sparsity = check_sparsity(sparsity)
        self.n_seqs, self.seq_len, self.seed = n_seqs, seq_len, seed
        self._model_id: int | None = None

    def _batches(self, data):
        return as_batches(data, n_seqs=self.n_seqs, seq_len=self.seq_len,
                          batch_size=max(1, min(self.n_seqs, 8)), seed=self.seed)

    def _target(self, sparsity):
        return self.sparsity if sparsity is None else check_sparsity(sparsity)

    def _check_calibrated(self, model):
        if self._model_id is None:
            raise RuntimeError(f"{type(self).__name__} is not calibrated: call "
                               ".calibrate(model, data) first")
        if id(model) != self._model_id:
            raise ValueError(f"{type(self).__name__} was calibrated on another model")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(sparsity={self.sparsity})"


class TopK(_Method):
    """Keep the ``round((1 - sparsity) * d_ff)`` largest ``|act|`` of every token in every MLP.

    Needs no calibration (``calibrate`` is a no-op kept for a uniform interface).

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.models import LlamaLM, ModelConfig
    >>> model = LlamaLM(ModelConfig(vocab_size=64, d_model=16, n_layers=2, n_heads=2,
    ...                             d_ff=40, activation="gelu"))
    >>> with TopK(0.75).apply(model) as h:
    ...     _ = model(torch.zeros(1, 4, dtype=torch.long))
    >>> h.sparsity()
    0.75
    """

    def calibrate(self, model: nn.Module, data=None) -> TopK:
        find_mlps(model)
        self._model_id = id(model)
        return self

    def apply(self, model: nn.Module, sparsity: float | None = None) -> SparsityHandle:
        s = self._target(sparsity)
        handle = SparsityHandle()
        for name, mlp in find_mlps(model):
            d_ff = mlp.down_proj.in_features
            _wrap_act(handle, name, mlp, k=max(0, round((1 - s) * d_ff)))
        return handle


class CATS(_Method):
    """CATS: per-MLP threshold on ``|act_fn(gate_proj(x))|`` at the target sparsity.

    The threshold of each MLP is the ``sparsity``-quantile of the magnitude of its activation
    output on calibration text (for a non-gated MLP, of ``|act_fn(up_proj(x))|``).

    Parameters
    ----------
    sparsity : float in [0, 1)
        Target fraction of zeroed neurons in every MLP.
    n_seqs, seq_len : int
        Calibration windows drawn from a 1-D token stream (ignored for ready batches).
    seed : int
        Seeds the windows and the subsample used for the quantile.

    Attributes
    ----------
    samples_ : dict
        MLP name to the calibrated sample of ``|act|``; thresholds for any sparsity come
        from it, so one calibration serves a whole sweep (``apply(model, sparsity=s)``).

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.models import LlamaLM, ModelConfig
    >>> model = LlamaLM(ModelConfig(vocab_size=64, d_model=16, n_layers=2, n_heads=2,
    ...                             d_ff=32, activation="swiglu"))
    >>> ids = torch.randint(0, 64, (4000,), generator=torch.Generator().manual_seed(0))
    >>> cats = CATS(0.5, seq_len=32).calibrate(model, ids)
    >>> with cats.apply(model) as h:
    ...     _ = model(ids[:512].view(4, 128))
    >>> abs(h.sparsity() - 0.5) < 0.05
    True
    """

    def calibrate(self, model: nn.Module, data) -> CATS:
        mlps = find_mlps(model)
        batches = self._batches(data)
        self.samples_ = {n: ValueSample(self.seed + i) for i, (n, _) in enumerate(mlps)}
        hooks = [mlp.act_fn.register_forward_hook(
            lambda m, a, out, s=self.samples_[n]: s.add(out.abs())) for n, mlp in mlps]
        try:
            run_model(model, batches)
        finally:
            for h in hooks:
                h.remove()
        self._model_id = id(model)
        return self

    def thresholds(self, sparsity: float | None = None) -> dict[str, float]:
        """``{mlp_name: threshold}`` for ``sparsity`` (default: the target)."""
        s = self._target(sparsity)
        return {n: v.quantile(s) for n, v in self.samples_.items()}

    def apply(self, model: nn.Module, sparsity: float | None = None) -> SparsityHandle:
        """Wrap every MLP's ``act_fn`` with its threshold; returns the handle."""
        self._check_calibrated(model)
        return mask_activations(model, self.thresholds(sparsity))


class CHESS(_Method):
    """CHESS: channel-wise MLP thresholds and selective attention sparsification.

    MLP: the importance of neuron ``i`` for a token is ``|act_i| * E|up_i|`` (the mean
    magnitude of ``up_proj``'s output in channel ``i`` on calibration text; for a non-gated
    MLP, the norm of column ``i`` of ``down_proj``). One threshold ``tau`` per MLP is the
    ``sparsity``-quantile of the importance; neuron ``i`` is zeroed when
    ``|act_i| <= tau / E|up_i|``, a per-channel threshold on the activation.

    Attention (``attention=True``, CHESS's selective sparsification): the inputs of
    ``q_proj`` and ``o_proj`` are thresholded at their ``sparsity``-quantile; ``k_proj`` and
    ``v_proj`` stay dense (their outputs are cached for every later token).

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.models import LlamaLM, ModelConfig
    >>> model = LlamaLM(ModelConfig(vocab_size=64, d_model=16, n_layers=2, n_heads=2,
    ...                             d_ff=32, activation="swiglu"))
    >>> ids = torch.randint(0, 64, (4000,), generator=torch.Generator().manual_seed(0))
    >>> chess = CHESS(0.5, attention=False, seq_len=32).calibrate(model, ids)
    >>> with chess.apply(model) as h:
    ...     _ = model(ids[:512].view(4, 128))
    >>> abs(h.sparsity() - 0.5) < 0.05
    True
    """

    def __init__(self, sparsity: float = 0.5, *, attention: bool = True, n_seqs: int = 16,
                 seq_len: int = 128, seed: int = 0) -> None:
        super().__init__(sparsity, n_seqs=n_seqs, seq_len=seq_len, seed=seed)
        self.attention = bool(attention)

    def calibrate(self, model: nn.Module, data) -> CHESS:
        blocks = find_blocks(model)
        mlp_names = [n for n, _ in find_mlps(model)]
        names = {id(m): n for n, m in model.named_modules()}
        self.acts_: dict[str, ValueSample] = {}
        self.scale_: dict[str, torch.Tensor] = {}
        self.inputs_: dict[str, ValueSample] = {}
        sums: dict[str, list] = {}
        hooks = []
        for i, (b, n) in enumerate(zip(blocks, mlp_names, strict=True)):
            mlp = b["mlp"]
            self.acts_[n] = ValueSample(self.seed + i)
            hooks.append(mlp.act_fn.register_forward_hook(
                lambda m, a, out, s=self.acts_[n]: s.add(out.abs())))
            if is_gated(mlp):
                sums[n] = [0.0, 0]

                def up_hook(m, a, out, acc=sums[n]):
                    o = out.detach().abs().reshape(-1, out.shape[-1])
                    acc[0] = acc[0] + o.sum(0).cpu()
                    acc[1] += o.shape[0]

                hooks.append(mlp.up_proj.register_forward_hook(up_hook))
            else:
                self.scale_[n] = mlp.down_proj.weight.detach().norm(dim=0).cpu()
            if self.attention and b["attn"] is not None:
                for key in ("q", "o"):
                    lin = b["linears"][key]
                    ln = names[id(lin)]
                    self.inputs_[ln] = ValueSample(self.seed + 1000 * (i + 1) + ord(key))
                    hooks.append(lin.register_forward_pre_hook(
                        lambda m, a, s=self.inputs_[ln]: s.add(a[0].abs())))
        try:
            run_model(model, self._batches(data))
        finally:
            for h in hooks:
                h.remove()
        for n, (total, count) in sums.items():
            self.scale_[n] = total / max(count, 1)
        self._imp_sorted = {}
        for n, s in self.acts_.items():
            scale = self.scale_[n].clamp_min(1e-12)
            self._imp_sorted[n] = torch.sort((s.rows * scale).reshape(-1)).values
        self._model_id = id(model)
        return self

    def thresholds(self, sparsity: float | None = None) -> tuple[dict, dict]:
        """``(mlp_thresholds, linear_input_thresholds)`` for ``sparsity``: per-channel
        tensors for the MLPs, scalars for the attention inputs."""
        s = self._target(sparsity)
        mlp = {}
        for n, imp in self._imp_sorted.items():
            tau = sorted_quantile(imp, s)
            mlp[n] = tau / self.scale_[n].clamp_min(1e-12)
        lin = {n: v.quantile(s) for n, v in self.inputs_.items()}
        return mlp, lin

    def apply(self, model: nn.Module, sparsity: float | None = None) -> SparsityHandle:
        self._check_calibrated(model)
        mlp_t, lin_t = self.thresholds(sparsity)
        handle = mask_activations(model, mlp_t)
        if lin_t:
            extra = mask_linear_inputs(model, lin_t)
            handle._undo.extend(extra._undo)
            handle.sites.update(extra.sites)
        return handle


_ORDER = ("q", "k", "v", "o", "gate", "up", "down")


class TEAL(_Method):
    """TEAL: magnitude thresholds on the input of every linear layer of every block.

    Calibration records the distribution of ``|x|`` at the input of each of ``q/k/v/o`` and
    ``gate/up/down`` (thresholds for any sparsity are quantiles of it). With ``greedy=True``
    it then runs the paper's block-wise greedy allocation: starting from zero, each step
    raises the sparsity of the one projection whose increase changes the block output least
    (mean L2 error over calibration tokens), each step removing the same number of weights,
    until the block's weight-weighted sparsity reaches ``max_sparsity``. That sparsity is
    counted on the calibration tokens with every threshold in place, because a projection
    fed by sparsified ones (``o`` after ``q/k/v``, ``down`` after ``gate/up``) sees smaller
    inputs than in the dense model and zeroes more of them than its own quantile says.
    ``apply`` then uses, in every block, the recorded allocation at the target (interpolated
    between the two greedy steps around it), so the model-wide sparsity (zeros weighted by
    the weights they skip) meets the target.
    With ``greedy=False`` every projection gets the target sparsity (TEAL's uniform baseline).

    Parameters
    ----------
    sparsity : float in [0, 1)
        Model-wide target.
    greedy : bool
        Greedy per-layer allocation (default) or uniform.
    max_sparsity : float, optional
        Run the greedy search up to this block sparsity (default: ``sparsity``); a later
        ``apply(model, sparsity=s)`` needs ``s <= max_sparsity``.
    step : float
        Sparsity increase of the smallest projection per greedy step; a larger projection
        steps by ``step * smallest_size / its_size``, so that every step skips the same
        number of weights (as in the paper's code).
    n_greedy_seqs : int
        Calibration sequences whose block outputs the greedy search compares.

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.models import LlamaLM, ModelConfig
    >>> model = LlamaLM(ModelConfig(vocab_size=64, d_model=16, n_layers=2, n_heads=2,
    ...                             d_ff=32, activation="swiglu"))
    >>> ids = torch.randint(0, 64, (4000,), generator=torch.Generator().manual_seed(0))
    >>> teal = TEAL(0.4, seq_len=32).calibrate(model, ids)
    >>> with teal.apply(model) as h:
    ...     _ = model(ids[:512].view(4, 128))
    >>> abs(h.sparsity() - 0.4) < 0.05
    True
    """

    def __init__(self, sparsity: float = 0.5, *, greedy: bool = True,
                 max_sparsity: float | None = None, step: float = 0.05,
                 n_greedy_seqs: int = 4, n_seqs: int = 16, seq_len: int = 128,
                 seed: int = 0) -> None:
        super().__init__(sparsity, n_seqs=n_seqs, seq_len=seq_len, seed=seed)
        self.greedy = bool(greedy)
        self.max_sparsity = (self.sparsity if max_sparsity is None
                             else check_sparsity(max_sparsity, "max_sparsity"))
        if self.max_sparsity < self.sparsity:
            raise ValueError(f"max_sparsity ({self.max_sparsity}) must be >= sparsity "
                             f"({self.sparsity})")
        if not (isinstance(step, (int, float)) and 0 < step <= 0.5):
            raise ValueError(f"step must be in (0, 0.5], got {step!r}")
        self.step = float(step)
        if isinstance(n_greedy_seqs, bool) or not isinstance(n_greedy_seqs, int) \
                or n_greedy_seqs < 1:
            raise ValueError(f"n_greedy_seqs must be a positive int, got {n_greedy_seqs!r}")
        self.n_greedy_seqs = n_greedy_seqs

    def calibrate(self, model: nn.Module, data) -> TEAL:
        blocks = find_blocks(model)
        names = {id(m): n for n, m in model.named_modules()}
        self.blocks_ = []  # per block: {"name", "linears": {key: module name}, "sizes"}
        self.inputs_: dict[str, ValueSample] = {}
        hooks = []
        for i, b in enumerate(blocks):
            lin_names = {k: names[id(m)] for k, m in b["linears"].items()}
            self.blocks_.append({"name": b["name"], "linears": lin_names,
                                 "sizes": {k: m.weight.numel() for k, m in
                                           b["linears"].items()}})
            for j, (k, m) in enumerate(b["linears"].items()):
                s = self.inputs_[lin_names[k]] = ValueSample(self.seed + 97 * i + j)
                hooks.append(m.register_forward_pre_hook(lambda mod, a, s=s: s.add(a[0].abs())))
        batches = self._batches(data)
        try:
            run_model(model, batches)
        finally:
            for h in hooks:
                h.remove()
        self._model_id = id(model)
        if self.greedy:
            greedy_ids = torch.cat(batches)[: self.n_greedy_seqs]
            for b, info in zip(blocks, self.blocks_, strict=True):
                info["path"] = self._greedy_block(model, b, info, greedy_ids)
        return self

    # -- greedy allocation -------------------------------------------------------------
    def _capture_block_input(self, model, block, ids):
        store = {}

        def pre(mod, args, kwargs):
            kw = dict(kwargs)
            for key, val in kw.items():
                # a KV cache (``past_key_values`` in transformers <= 5.23, ``cache`` in
                # 5.24) would grow with every trial forward of the greedy search, so that
                # later trials attend to stale keys and values: run the block without one
                if key in ("past_key_values", "past_key_value", "cache", "layer_past") \
                        or type(val).__name__.endswith("Cache"):
                    kw[key] = None
            if "use_cache" in kw:
                kw["use_cache"] = False
            store["args"], store["kwargs"] = args, kw
            raise _Stop

        h = block.register_forward_pre_hook(pre, with_kwargs=True)
        try:
            with torch.no_grad():
                model.eval()
                model(ids.to(next(model.parameters()).device))
        except _Stop:
            pass
        finally:
            h.remove()
        return store["args"], store["kwargs"]

    def _greedy_block(self, model, b, info, ids):
        args, kwargs = self._capture_block_input(model, b["block"], ids)

        def block_out():
            with torch.no_grad():
                out = b["block"](*args, **kwargs)
            return out[0] if isinstance(out, tuple) else out

        dense = block_out()
        keys = list(info["linears"])
        sizes = info["sizes"]
        total = sum(sizes.values())
        samples = {k: self.inputs_[info["linears"][k]].sorted for k in keys}
        cur = dict.fromkeys(keys, 0.0)
        smallest = min(sizes.values())
        delta = {k: self.step * smallest / sizes[k] for k in keys}

        def error(spars):
            # the block's output error and the block sparsity actually reached: a
            # projection fed by sparsified ones (o after q/k/v, down after gate/up) sees
            # smaller inputs than in the dense calibration, so more of them fall below
            # its threshold; counting the zeros (as ``apply`` does) keeps the path honest
            thr = {info["linears"][k]: sorted_quantile(samples[k], spars[k]) for k in keys}
            h = mask_linear_inputs(model, thr)
            try:
                out = block_out()
            finally:
                h.remove()
            zeros = sum(h.sites[info["linears"][k]].zeros / max(
                h.sites[info["linears"][k]].total, 1) * sizes[k] for k in keys)
            return float((out - dense).norm(dim=-1).mean()), zeros / total

        path = [(0.0, dict(cur))]
        eff = 0.0
        while eff < self.max_sparsity - 1e-9:
            best, best_err, best_eff = None, math.inf, 0.0
            for k in keys:
                if cur[k] >= 0.999:
                    continue
                trial = dict(cur)
                trial[k] = min(0.999, cur[k] + delta[k])
                err, reached = error(trial)
                if err < best_err:
                    best, best_err, best_eff = k, err, reached
            if best is None:
                break
            cur[best] = min(0.999, cur[best] + delta[best])
            eff = max(best_eff, path[-1][0])  # keep the path monotone for interpolation
            path.append((eff, dict(cur)))
        return path

    def allocation(self, sparsity: float | None = None) -> list[dict[str, float]]:
        """Per block, ``{projection: sparsity}`` used for the model-wide target."""
        s = self._target(sparsity)
        if self._model_id is None:
            raise RuntimeError("TEAL is not calibrated: call .calibrate(model, data) first")
        out = []
        for info in self.blocks_:
            if not self.greedy:
                out.append(dict.fromkeys(info["linears"], s))
                continue
            if s > self.max_sparsity + 1e-9:
                raise ValueError(f"sparsity {s} is above max_sparsity={self.max_sparsity} "
                                 "used in the greedy calibration")
            out.append(_interpolate(info["path"], s))
        return out

    def thresholds(self, sparsity: float | None = None) -> dict[str, float]:
        """``{linear_name: input threshold}`` for the model-wide ``sparsity``."""
        out = {}
        for info, alloc in zip(self.blocks_, self.allocation(sparsity), strict=True):
            for k, name in info["linears"].items():
                out[name] = self.inputs_[name].quantile(alloc[k])
        return out

    def apply(self, model: nn.Module, sparsity: float | None = None) -> SparsityHandle:
        self._check_calibrated(model)
        return mask_linear_inputs(model, self.thresholds(sparsity))


def _interpolate(path: list, s: float) -> dict[str, float]:
    """Allocation at block sparsity ``s``, linear between the two greedy steps around it
    (block sparsity is linear in the per-projection sparsities, so this hits ``s``)."""
    for (e0, a0), (e1, a1) in zip(path, path[1:], strict=False):
        if e0 <= s <= e1:
            w = 0.0 if e1 == e0 else (s - e0) / (e1 - e0)
            return {k: a0[k] + w * (a1[k] - a0[k]) for k in a0}
    return dict(path[-1][1])


class _Stop(Exception):
    """Raised by a hook to stop a forward pass once a block's input is captured."""



def sparsity_sweep(model: nn.Module, methods: dict, sparsities, evaluate) -> list[dict]:
    """Perplexity against sparsity for several calibrated methods.

    Parameters
    ----------
    methods : dict
        ``{label: method}`` with calibrated :class:`CATS`, :class:`TEAL`, :class:`CHESS` or
        :class:`TopK` objects (each applied with ``apply(model, sparsity=s)``).
    sparsities : sequence of float in [0, 1)
    evaluate : callable
        ``evaluate(model) -> perplexity`` on held-out text.

    Returns
    -------
    list of dict
        ``{"method", "target", "reached", "ppl"}`` per method and sparsity; ``reached`` is the
        sparsity measured while ``evaluate`` ran (zeros weighted by the weights they skip).
    """
    rows = []
    for label, method in methods.items():
        for s in sparsities:
            with method.apply(model, sparsity=s) as h:
                ppl = float(evaluate(model))
                rows.append({"method": label, "target": float(s), "reached": h.sparsity(),
                             "ppl": ppl})
    return rows
