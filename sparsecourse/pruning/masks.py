"""Pruning masks that interoperate with :mod:`torch.nn.utils.prune`, and save/load them.

A *mask* is a boolean tensor with the shape of a weight: ``True`` keeps the weight, ``False``
removes it. The masks of a model are a ``dict`` that maps a weight's name, ``"<module>.weight"``
as in :meth:`torch.nn.Module.named_parameters` of the *unpruned* model, to its mask.

Masks are applied with PyTorch's own pruning machinery: :class:`MaskPruning` is a
:class:`torch.nn.utils.prune.BasePruningMethod` whose mask is given, so a pruned module has the
usual ``weight_orig`` parameter, ``weight_mask`` buffer and forward pre-hook, and
:func:`torch.nn.utils.prune.remove` makes the pruning permanent.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping

import torch
from torch import nn
from torch.nn.utils import prune

__all__ = [
    "MaskPruning",
    "prunable_weights",
    "apply_masks",
    "get_masks",
    "effective_weights",
    "remove_masks",
    "get_state",
    "set_state",
    "save_masks",
    "load_masks",
    "density",
    "layer_densities",
    "is_nested",
    "check_masks",
    "clone_model",
]

_PRUNABLE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


class MaskPruning(prune.BasePruningMethod):
    """Unstructured pruning with a given mask, a custom :mod:`torch.nn.utils.prune` method.

    Parameters
    ----------
    mask : torch.Tensor
        Boolean (or 0/1) tensor with the shape of the parameter to prune.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from sparsecourse.pruning import MaskPruning
    >>> layer = nn.Linear(3, 2)
    >>> mask = torch.tensor([[True, False, True], [False, False, True]])
    >>> _ = MaskPruning.apply(layer, "weight", mask=mask)
    >>> bool((layer.weight == layer.weight_orig * mask).all()), int(layer.weight_mask.sum())
    (True, 3)
    """

    PRUNING_TYPE = "unstructured"

    def __init__(self, mask: torch.Tensor):
        self.mask = mask

    def compute_mask(self, t: torch.Tensor, default_mask: torch.Tensor) -> torch.Tensor:
        if tuple(self.mask.shape) != tuple(t.shape):
            raise ValueError(f"mask has shape {tuple(self.mask.shape)}, but the weight it prunes "
                             f"has shape {tuple(t.shape)}")
        return default_mask * self.mask.to(dtype=default_mask.dtype, device=default_mask.device)

    @classmethod
    def apply(cls, module: nn.Module, name: str, mask: torch.Tensor):
        """Prune ``module.<name>`` with ``mask`` (the weight keeps its entries where it is true)."""
        return super().apply(module, name, mask=mask)


def prunable_weights(model: nn.Module) -> dict[str, tuple[nn.Module, str]]:
    """The weights that pruning acts on: those of every Linear and Conv layer (not the biases).

    Returns
    -------
    dict
        ``"<module path>.weight"`` -> ``(module, "weight")``, in the order of
        :meth:`torch.nn.Module.named_modules`.

    Raises
    ------
    TypeError
        If ``model`` is not a :class:`torch.nn.Module`.
    ValueError
        If the model has no Linear or Conv layer.

    Examples
    --------
    >>> from torch import nn
    >>> from sparsecourse.pruning import prunable_weights
    >>> list(prunable_weights(nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))))
    ['0.weight', '2.weight']
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    out = {}
    for path, module in model.named_modules():
        if isinstance(module, _PRUNABLE):
            out[f"{path}.weight" if path else "weight"] = (module, "weight")
    if not out:
        raise ValueError(f"model ({type(model).__name__}) has no prunable parameters: pruning "
                         "acts on the weights of nn.Linear and nn.Conv1d/2d/3d layers")
    return out


def _raw_weight(module: nn.Module, pname: str) -> torch.Tensor:
    """The trainable tensor: ``weight_orig`` if the module is pruned, else ``weight``."""
    orig = getattr(module, pname + "_orig", None)
    return orig if orig is not None else getattr(module, pname)


def check_masks(masks: Mapping[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Validate masks against a model and return them as boolean tensors.

    Raises
    ------
    TypeError
        If ``masks`` is not a mapping of tensors.
    ValueError
        If a name is not a prunable weight of ``model`` or a mask's shape differs from its
        weight's.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from sparsecourse.pruning import check_masks
    >>> check_masks({"weight": torch.ones(2, 3)}, nn.Linear(3, 2))["weight"].dtype
    torch.bool
    """
    if not isinstance(masks, Mapping):
        raise TypeError(f"masks must be a dict name -> tensor, got {type(masks).__name__}")
    weights = prunable_weights(model)
    out = {}
    for name, mask in masks.items():
        if name not in weights:
            raise ValueError(f"masks has a mask for {name!r}, which is not a prunable weight of "
                             f"the model; expected names from {list(weights)}")
        if not isinstance(mask, torch.Tensor):
            raise TypeError(f"masks[{name!r}] must be a torch.Tensor, got {type(mask).__name__}")
        module, pname = weights[name]
        shape = tuple(_raw_weight(module, pname).shape)
        if tuple(mask.shape) != shape:
            raise ValueError(f"masks[{name!r}] has shape {tuple(mask.shape)}, but the weight "
                             f"{name} has shape {shape}")
        if mask.dtype != torch.bool:
            if not bool(((mask == 0) | (mask == 1)).all()):
                raise ValueError(f"masks[{name!r}] must be boolean or contain only 0 and 1")
            mask = mask != 0
        out[name] = mask
    return out


def apply_masks(model: nn.Module, masks: Mapping[str, torch.Tensor]) -> nn.Module:
    """Prune ``model`` in place with the given masks (through :mod:`torch.nn.utils.prune`).

    A weight that is not pruned yet gets :class:`MaskPruning`; a weight that is already pruned
    gets its ``weight_mask`` buffer replaced (so masks can grow again, as in dynamic sparse
    training). Weights without an entry in ``masks`` are left alone.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from sparsecourse.pruning import apply_masks, density, get_masks
    >>> net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    >>> _ = apply_masks(net, {"0.weight": torch.arange(12).reshape(3, 4) % 3 == 0})
    >>> round(density(get_masks(net)), 4)   # 4 of 12 weights kept in layer 0, all 6 in layer 2
    0.5556
    """
    masks = check_masks(masks, model)
    weights = prunable_weights(model)
    for name, mask in masks.items():
        module, pname = weights[name]
        buf = getattr(module, pname + "_mask", None)
        if buf is not None:
            with torch.no_grad():
                buf.copy_(mask.to(dtype=buf.dtype, device=buf.device))
                setattr(module, pname, getattr(module, pname + "_orig") * buf)
        else:
            MaskPruning.apply(module, pname, mask)
    return model


def get_masks(model: nn.Module) -> dict[str, torch.Tensor]:
    """The current boolean masks of every prunable weight (all ``True`` where not pruned).

    Examples
    --------
    >>> from torch import nn
    >>> from sparsecourse.pruning import get_masks
    >>> {k: v.shape for k, v in get_masks(nn.Linear(3, 2)).items()}
    {'weight': torch.Size([2, 3])}
    """
    out = {}
    for name, (module, pname) in prunable_weights(model).items():
        buf = getattr(module, pname + "_mask", None)
        raw = _raw_weight(module, pname)
        if buf is not None:
            out[name] = buf != 0
        else:
            out[name] = torch.ones_like(raw, dtype=torch.bool)
    return out


def effective_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """The weights the forward pass uses, ``weight_orig * weight_mask``, detached.

    (``module.weight`` of a pruned module is only refreshed at the next forward pass; this
    function computes it from the current ``weight_orig``.)

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from sparsecourse.pruning import apply_masks, effective_weights
    >>> layer = apply_masks(nn.Linear(2, 1), {"weight": torch.tensor([[True, False]])})
    >>> bool(effective_weights(layer)["weight"][0, 1] == 0)
    True
    """
    out = {}
    for name, (module, pname) in prunable_weights(model).items():
        w = _raw_weight(module, pname).detach()
        buf = getattr(module, pname + "_mask", None)
        out[name] = w * buf if buf is not None else w.clone()
    return out


def remove_masks(model: nn.Module) -> nn.Module:
    """Make the pruning permanent with :func:`torch.nn.utils.prune.remove` on every pruned weight.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from sparsecourse.pruning import apply_masks, remove_masks
    >>> layer = apply_masks(nn.Linear(2, 1), {"weight": torch.tensor([[True, False]])})
    >>> layer = remove_masks(layer)
    >>> bool(layer.weight[0, 1] == 0), hasattr(layer, "weight_mask")
    (True, False)
    """
    for module, pname in prunable_weights(model).values():
        if hasattr(module, pname + "_mask"):
            prune.remove(module, pname)
    return model


def get_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of every parameter, with pruned weights stored under their unpruned names.

    ``weight_orig`` of a pruned module is saved as ``weight`` (the masks are *not* part of the
    state), so a state taken before pruning can be restored into the pruned model:
    that is *rewinding*.

    Examples
    --------
    >>> from torch import nn
    >>> from sparsecourse.pruning import get_state
    >>> sorted(get_state(nn.Linear(2, 1)))
    ['bias', 'weight']
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return {k.removesuffix("_orig"): v.detach().clone() for k, v in model.named_parameters()}


def set_state(model: nn.Module, state: Mapping[str, torch.Tensor]) -> nn.Module:
    """Copy a state from :func:`get_state` into ``model``, in place (masks are kept).

    Raises
    ------
    ValueError
        If a parameter is missing from ``state`` or has another shape.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from sparsecourse.pruning import get_state, set_state
    >>> a, b = nn.Linear(2, 1), nn.Linear(2, 1)
    >>> _ = set_state(b, get_state(a))
    >>> bool(torch.equal(a.weight, b.weight))
    True
    """
    with torch.no_grad():
        for k, p in model.named_parameters():
            key = k.removesuffix("_orig")
            if key not in state:
                raise ValueError(f"state has no entry for parameter {key!r}")
            if tuple(state[key].shape) != tuple(p.shape):
                raise ValueError(f"state[{key!r}] has shape {tuple(state[key].shape)}, expected "
                                 f"{tuple(p.shape)}")
            p.copy_(state[key])
    for module, pname in prunable_weights(model).values():  # refresh module.weight
        buf = getattr(module, pname + "_mask", None)
        if buf is not None:
            setattr(module, pname, getattr(module, pname + "_orig") * buf)
    return model


def save_masks(masks: Mapping[str, torch.Tensor], path: str | os.PathLike,
               metadata: Mapping[str, str] | None = None) -> None:
    """Save masks to a ``.safetensors`` file as boolean tensors (lossless, no pickle).

    Examples
    --------
    >>> import os, tempfile, torch
    >>> from sparsecourse.pruning import load_masks, save_masks
    >>> path = os.path.join(tempfile.mkdtemp(), "masks.safetensors")
    >>> save_masks({"0.weight": torch.tensor([[True, False]])}, path)
    >>> load_masks(path)
    {'0.weight': tensor([[ True, False]])}
    """
    from safetensors.torch import save_file

    if not isinstance(masks, Mapping):
        raise TypeError(f"masks must be a dict name -> tensor, got {type(masks).__name__}")
    tensors = {}
    for k, m in masks.items():
        if not isinstance(m, torch.Tensor):
            raise TypeError(f"masks[{k!r}] must be a torch.Tensor, got {type(m).__name__}")
        if m.dtype != torch.bool:
            raise TypeError(f"masks[{k!r}] must be a boolean tensor, got dtype {m.dtype}: a "
                            "mask is not a score; keep the entries you want with e.g. "
                            "`scores > threshold` before saving")
        tensors[k] = m.contiguous().cpu()
    save_file(tensors, os.fspath(path), metadata=dict(metadata) if metadata else None)


def load_masks(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Load masks saved by :func:`save_masks` (boolean tensors on the CPU).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        ``path`` is a directory, or not a readable safetensors file (empty, truncated,
        corrupted), or a safetensors file whose tensors are not boolean (e.g. weights or
        scores): the message names the file.

    Examples
    --------
    See :func:`save_masks`.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no mask file at {path!r}")
    if os.path.isdir(path):
        raise ValueError(f"{path!r} is a directory, not a mask file (.safetensors)")
    try:
        tensors = load_file(path)
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"{path!r} is not a readable mask file (a .safetensors file written by "
                         f"save_masks); the safetensors library says: {err}") from None
    not_bool = sorted(k for k, v in tensors.items() if v.dtype != torch.bool)
    if not_bool:
        raise ValueError(f"{path!r} is not a mask file: tensor(s) {not_bool[:3]} have dtype "
                         f"{tensors[not_bool[0]].dtype}, masks are boolean (weights or scores "
                         "are not masks)")
    return tensors


def density(masks: Mapping[str, torch.Tensor]) -> float:
    """Fraction of weights kept over all masks (``1 - sparsity``).

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.pruning import density
    >>> density({"a": torch.tensor([True, False]), "b": torch.tensor([True, True])})
    0.75
    """
    total = sum(m.numel() for m in masks.values())
    if total == 0:
        raise ValueError("masks must contain at least one weight")
    return sum(int(m.count_nonzero()) for m in masks.values()) / total


def layer_densities(masks: Mapping[str, torch.Tensor]) -> dict[str, float]:
    """Fraction of weights kept in each mask.

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.pruning import layer_densities
    >>> layer_densities({"a": torch.tensor([True, False]), "b": torch.tensor([True, True])})
    {'a': 0.5, 'b': 1.0}
    """
    return {k: int(m.count_nonzero()) / m.numel() for k, m in masks.items()}


def is_nested(inner: Mapping[str, torch.Tensor], outer: Mapping[str, torch.Tensor]) -> bool:
    """Whether every weight kept by ``inner`` is also kept by ``outer`` (same names and shapes).

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.pruning import is_nested
    >>> a, b = {"w": torch.tensor([True, False])}, {"w": torch.tensor([True, True])}
    >>> is_nested(a, b), is_nested(b, a)
    (True, False)
    """
    if set(inner) != set(outer):
        raise ValueError(f"inner and outer must mask the same weights, got {sorted(inner)} and "
                         f"{sorted(outer)}")
    for k in inner:
        if inner[k].shape != outer[k].shape:
            raise ValueError(f"inner[{k!r}] and outer[{k!r}] have different shapes")
        if bool((inner[k].bool() & ~outer[k].bool()).any()):
            return False
    return True


def clone_model(model: nn.Module) -> nn.Module:
    """A deep copy of a model, pruned or not (``copy.deepcopy`` fails on pruned modules).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from sparsecourse.pruning import apply_masks, clone_model, get_masks
    >>> layer = apply_masks(nn.Linear(2, 1), {"weight": torch.tensor([[True, False]])})
    >>> twin = clone_model(layer)
    >>> bool(torch.equal(get_masks(twin)["weight"], get_masks(layer)["weight"]))
    True
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    computed = {}
    for module, pname in prunable_weights(model).values():
        if hasattr(module, pname + "_orig") and pname in module.__dict__:
            computed[(module, pname)] = module.__dict__.pop(pname)   # a non-leaf tensor
    try:
        twin = copy.deepcopy(model)
    finally:
        for (module, pname), w in computed.items():
            setattr(module, pname, w)
    for module, pname in prunable_weights(twin).values():
        if hasattr(module, pname + "_orig"):
            w = getattr(module, pname + "_orig") * getattr(module, pname + "_mask")
            setattr(module, pname, w)
    return twin
