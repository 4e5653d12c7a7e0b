"""A small MoE language model: the Chapter 5 Llama-style model with its MLPs replaced by
:class:`~sparsecourse.moe.MoELayer`, plus the helpers to save, load and inspect it.

``moe_lm(config, n_experts, k)`` builds a :class:`~sparsecourse.models.LlamaLM` whose every
``model.layers[i].mlp`` is a ``MoELayer(d_model, d_ff, n_experts, k)`` with SwiGLU experts of
the config's ``d_ff``: with ``k = 1`` each token uses as many MLP weights as the dense SwiGLU
model of the same config (plus a ``d_model x n_experts`` router), so "dense vs MoE at equal
active parameters" compares ``moe_lm(cfg, E, 1)`` with ``LlamaLM(cfg)``.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from ..models import LlamaLM, ModelConfig
from ..models.data import DATA_DIR
from .layer import MoELayer

__all__ = ["moe_lm", "moe_layers", "total_aux_loss", "save_moe_lm", "load_moe_lm",
           "MOE_DATA_DIR", "load_training_log", "expert_load", "router_inputs"]

MOE_DATA_DIR = DATA_DIR / "moe"


def moe_lm(config: ModelConfig, n_experts: int, k: int = 1, *, seed: int = 0,
           **layer_kwargs) -> LlamaLM:
    """A :class:`~sparsecourse.models.LlamaLM` with :class:`~sparsecourse.moe.MoELayer` MLPs.

    The experts are SwiGLU MLPs of width ``config.d_ff``; ``layer_kwargs`` go to every
    :class:`~sparsecourse.moe.MoELayer` (router, capacity, loss weights).

    Examples
    --------
    >>> cfg = ModelConfig(vocab_size=64, d_model=16, n_layers=2, n_heads=2, d_ff=32,
    ...                   activation="swiglu")
    >>> model = moe_lm(cfg, n_experts=4, k=1)
    >>> model(torch.zeros(1, 5, dtype=torch.long)).shape
    torch.Size([1, 5, 64])
    >>> len(moe_layers(model))
    2
    """
    if config.activation != "swiglu":
        raise ValueError(f"the experts are SwiGLU: config.activation must be 'swiglu', got "
                         f"{config.activation!r}")
    model = LlamaLM(config, seed=seed)
    scale = 1.0 / (2 * config.n_layers) ** 0.5
    for i, layer in enumerate(model.model.layers):
        layer.mlp = MoELayer(config.d_model, config.d_ff, n_experts, k, seed=seed + 100 * i,
                             down_scale=scale, **layer_kwargs)
    return model


def moe_layers(model: nn.Module) -> list[MoELayer]:
    """The :class:`~sparsecourse.moe.MoELayer` modules of ``model``, in order."""
    return [m for m in model.modules() if isinstance(m, MoELayer)]


def total_aux_loss(model: nn.Module) -> torch.Tensor:
    """Sum of the auxiliary losses of the last forward over the model's MoE layers."""
    layers = moe_layers(model)
    return sum((m.aux_loss for m in layers), torch.zeros(()))


def _layer_spec(model: nn.Module) -> dict:
    m = moe_layers(model)[0]
    return {"n_experts": m.n_experts, "k": m.k, "router": m.router,
            "capacity_factor": m.capacity_factor, "aux_loss_coef": m.aux_loss_coef,
            "z_loss_coef": m.z_loss_coef}


def save_moe_lm(model: LlamaLM, path: str | Path, metadata: dict | None = None) -> Path:
    """Save an MoE LM's weights (float16 safetensors) and its config + layer spec."""
    from safetensors.torch import save_file

    meta = dict(metadata or {})
    meta["config"] = model.config.to_dict()
    meta["moe"] = _layer_spec(model)
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()
             if not (model.config.tie_embeddings and k == "lm_head.weight")}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata={"json": json.dumps(meta)})
    return path


def load_moe_lm(name_or_path: str | Path) -> LlamaLM:
    """Load an MoE LM saved by :func:`save_moe_lm` (a path, or a name in ``data/moe/``).

    The record of the file is in ``model.metadata``.
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(name_or_path)
    if not path.suffix:
        path = MOE_DATA_DIR / f"{name_or_path}.safetensors"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found (train with python -m sparsecourse.moe.train)")
    with safe_open(str(path), "pt") as f:
        meta = json.loads(f.metadata()["json"])
    spec = meta["moe"]
    model = moe_lm(ModelConfig.from_dict(meta["config"]), spec["n_experts"], spec["k"],
                   router=spec["router"], capacity_factor=spec["capacity_factor"],
                   aux_loss_coef=spec["aux_loss_coef"], z_loss_coef=spec["z_loss_coef"])
    state = {k: v.float() for k, v in load_file(str(path)).items()}
    model.load_state_dict(state, strict=False)
    if model.config.tie_embeddings:
        model.lm_head.weight = model.model.embed_tokens.weight
    model.eval()
    model.metadata = meta
    return model


def load_training_log(path: str | Path | None = None) -> dict:
    """The loss curves and statistics written by ``python -m sparsecourse.moe.train``."""
    path = Path(path) if path is not None else MOE_DATA_DIR / "training_log.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found (train with python -m sparsecourse.moe.train)")
    return json.loads(path.read_text())


@contextmanager
def _evaluating(model: nn.Module):
    """Eval mode for the block, then the model's own mode again (even after an error)."""
    was = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was)


@torch.no_grad()
def expert_load(model: nn.Module, ids: torch.Tensor) -> list[torch.Tensor]:
    """Fraction of token-expert pairs each expert receives, per MoE layer, on batch ``ids``."""
    with _evaluating(model):
        model(ids)
    out = []
    for m in moe_layers(model):
        c = m.last_routing.tokens_per_expert().float()
        out.append(c / c.sum())
    return out


@torch.no_grad()
def router_inputs(model: nn.Module, ids: torch.Tensor) -> list[torch.Tensor]:
    """The input rows ``(n_tokens, d_model)`` of every MoE layer on batch ``ids``.

    Feed them to ``layer.gate`` to get router logits, then to any router of
    ``sparsecourse.moe`` to compare routers on the same tokens.
    """
    layers = moe_layers(model)
    seen: list[torch.Tensor] = []
    hooks = [m.register_forward_pre_hook(lambda mod, a: seen.append(a[0].reshape(
        -1, a[0].shape[-1]).detach())) for m in layers]
    try:
        with _evaluating(model):
            model(ids)
    finally:
        for h in hooks:
            h.remove()
    return seen
