"""Train the chapter's tiny MoE and dense language models on the CPU and store their curves.

Usage (what made ``data/moe/``; see ``data/README.md``)::

    python -m sparsecourse.moe.train --out data/moe

Every run has the same recipe and budget: the Chapter 5 corpus and tokenizer, a Llama-style
model with d_model 64, 2 layers, 2 heads, context 128, SwiGLU MLPs of width 128 (dense) or
SwiGLU *experts* of width 128 with top-1 routing (so every run has the same active MLP
parameters per token), AdamW (lr 3e-3, warm-up, cosine decay), batches of 16 windows, seed 0,
the same number of steps. The runs:

* ``dense`` -- the dense SwiGLU model;
* ``moe_e{4,8,16}`` -- top-1 MoE with 4, 8, 16 experts, Switch load-balancing loss 0.01 and
  z-loss 1e-3 (the "total experts at fixed active parameters" sweep);
* ``moe_e8_noaux`` -- 8 experts without the auxiliary losses.

The log (``training_log.json``) holds each run's training-loss curve, validation loss, the
parameter counts, the expert load per layer on validation text, and the wall time; the weights
of ``moe_e8`` and ``moe_e8_noaux`` are saved (float16) for the notebook's routing figures.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ..models import LlamaLM, ModelConfig, evaluate_perplexity, load_corpus
from ..models.train import available_cpus, lr_at
from .lm import MOE_DATA_DIR, expert_load, moe_layers, moe_lm, save_moe_lm, total_aux_loss

__all__ = ["RUNS", "tiny_config", "train_lm", "main"]

RUNS = {
    "dense": None,
    "moe_e4": dict(n_experts=4),
    "moe_e8": dict(n_experts=8),
    "moe_e16": dict(n_experts=16),
    "moe_e8_noaux": dict(n_experts=8, aux_loss_coef=0.0, z_loss_coef=0.0),
}
SAVED = ("moe_e8", "moe_e8_noaux")


def tiny_config() -> ModelConfig:
    """The tiny configuration of the chapter's language models."""
    return ModelConfig(d_model=64, n_layers=2, n_heads=2, d_ff=128, max_seq_len=128,
                       activation="swiglu")


def train_lm(model: LlamaLM, *, steps: int, batch_size: int = 16, lr: float = 3e-3,
             seed: int = 0, log_every: int = 10) -> dict:
    """Train ``model`` (dense or MoE) on random windows of the train split; return the log."""
    cfg = model.config
    train_ids = load_corpus("train")
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.1)
    offsets = torch.arange(cfg.max_seq_len + 1)
    warmup = max(1, steps // 20)
    history, running = [], None
    t0 = time.perf_counter()
    model.train()
    for step in range(1, steps + 1):
        for group in opt.param_groups:
            group["lr"] = lr_at(step - 1, lr=lr, warmup=warmup, total=steps)
        starts = torch.randint(0, train_ids.numel() - cfg.max_seq_len - 1, (batch_size,),
                               generator=gen)
        win = train_ids[starts[:, None] + offsets]
        logits = model(win[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), win[:, 1:].reshape(-1))
        total = loss + total_aux_loss(model)
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        value = float(loss.detach())
        running = value if running is None else 0.9 * running + 0.1 * value
        if step % log_every == 0 or step == steps:
            history.append((step, round(running, 4)))
    model.eval()
    return {"train_loss": history, "train_time_s": round(time.perf_counter() - t0, 1)}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=MOE_DATA_DIR)
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--runs", default=",".join(RUNS), help="comma-separated subset of RUNS")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads or available_cpus())
    cfg = tiny_config()
    val = load_corpus("validation")
    load_ids = val[: 64 * cfg.max_seq_len].reshape(64, cfg.max_seq_len)
    log = {"config": cfg.to_dict(), "steps": args.steps, "batch_size": args.batch_size,
           "machine": f"{platform.machine()}, {available_cpus()} CPUs, "
                      f"{torch.get_num_threads()} torch threads",
           "torch": torch.__version__, "runs": {}}
    for name in args.runs.split(","):
        spec = RUNS[name]
        model = LlamaLM(cfg) if spec is None else moe_lm(cfg, k=1, **spec)
        rec = train_lm(model, steps=args.steps, batch_size=args.batch_size)
        rec["val_loss"] = round(evaluate_perplexity(model, val, seq_len=cfg.max_seq_len,
                                                    n_seqs=64, return_loss=True), 4)
        rec["val_ppl"] = round(math.exp(rec["val_loss"]), 2)
        mlp_total = sum(p.numel() for n, p in model.named_parameters() if ".mlp." in n)
        active = mlp_total if spec is None else sum(
            m.num_parameters(active=True) for m in moe_layers(model))  # router + k experts
        rec.update(n_experts=0 if spec is None else spec["n_experts"],
                   total_params=sum(p.numel() for p in model.parameters()),
                   mlp_params=mlp_total, mlp_active_params=int(active))
        if spec is not None:
            rec["expert_load"] = [[round(v, 4) for v in t.tolist()]
                                  for t in expert_load(model, load_ids)]
            if name in SAVED:
                save_moe_lm(model, args.out / f"{name}.safetensors",
                            {"run": name, "val_loss": rec["val_loss"], "steps": args.steps})
        log["runs"][name] = rec
        print(f"{name}: val loss {rec['val_loss']:.4f}, {rec['train_time_s']:.0f} s", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "training_log.json").write_text(json.dumps(log, indent=1))
    return log


if __name__ == "__main__":
    main()
