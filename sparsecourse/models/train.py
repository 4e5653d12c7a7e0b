"""Train the small Llama-style language model on the King James Bible corpus.

Examples
--------
The committed models were made on the book's 2-core CPU build machine (shared with other jobs,
one torch thread per run), e.g.::

    python -m sparsecourse.models.train --activation relu --d-ff 512 --steps 300 --bf16 \\
        --threads 1 --out data/models/relu.safetensors --checkpoints 0,10,30,75,150

(``--activation swiglu --d-ff 344`` for the gated model, whose three projections then hold as
many weights as the two of a non-gated ``d_ff=512`` model; ``--device cuda`` on a GPU.)

AdamW with linear warm-up and a cosine decay, random windows of the train split (seeded),
validation loss on the held-out split. Torch uses as many threads as the CPUs this process
may run on (``len(os.sched_getaffinity(0))``) unless ``--threads`` says otherwise.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from .data import corpus_checksum, evaluate_perplexity, load_corpus
from .io import CHECKPOINT_DIR, save_model
from .model import ACTIVATIONS, LlamaLM, ModelConfig


def available_cpus() -> int:
    """Number of CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def lr_at(step: int, *, lr: float, warmup: int, total: int, min_ratio: float = 0.1) -> float:
    """Learning rate at ``step``: linear warm-up, then cosine decay to ``min_ratio * lr``.

    Examples
    --------
    >>> lr_at(0, lr=1.0, warmup=10, total=100), lr_at(100, lr=1.0, warmup=10, total=100)
    (0.1, 0.1)
    """
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return lr * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def parse_steps(text: str) -> list[int]:
    """``"0,50,100"`` to ``[0, 50, 100]`` (empty string: no checkpoints)."""
    if not text.strip():
        return []
    try:
        steps = sorted({int(s) for s in text.split(",")})
    except ValueError:
        raise ValueError(f"--checkpoints must be comma-separated integers, got {text!r}") from None
    if steps and steps[0] < 0:
        raise ValueError("--checkpoints must be non-negative")
    return steps


def train(
    config: ModelConfig,
    *,
    steps: int,
    batch_size: int = 16,
    lr: float = 3e-3,
    warmup: int | None = None,
    weight_decay: float = 0.1,
    seed: int = 0,
    device: str = "cpu",
    out: str | Path | None = None,
    checkpoints: list[int] = (),
    eval_seqs: int = 64,
    dtype: str = "float16",
    log_every: int = 25,
    progress: bool = True,
    print_log: bool = False,
    autocast: str | None = None,
) -> tuple[LlamaLM, dict]:
    """Train a :class:`LlamaLM` on the corpus; optionally save it and checkpoints.

    Parameters
    ----------
    config : ModelConfig
        Architecture; sequences are ``config.max_seq_len`` tokens long.
    steps : int
        Optimiser steps (each sees ``batch_size * max_seq_len`` tokens).
    checkpoints : list of int
        Steps after which to save a checkpoint (``0`` = the initialisation) next to ``out``,
        in ``checkpoints/<name>_stepNNNNN.safetensors`` (the last step is ``out`` itself).
    progress, print_log : bool
        Show a tqdm bar; print the running loss every ``log_every`` steps.
    autocast : {None, "bfloat16"}
        Run the training forward/backward under ``torch.autocast`` in bfloat16 (weights and
        optimiser stay float32; evaluation is always float32). About 1.5x faster on a CPU
        with AVX-512 BF16.

    Returns
    -------
    model, metadata : LlamaLM, dict
        The trained model (eval mode) and its metadata record (also written to ``out``).

    Examples
    --------
    >>> cfg = ModelConfig(d_model=32, n_heads=2, n_layers=1, d_ff=64, max_seq_len=32)
    >>> model, meta = train(cfg, steps=5, batch_size=4, eval_seqs=4, progress=False)
    >>> meta["steps"], meta["tokens_seen"]
    (5, 640)
    """
    from tqdm.auto import tqdm

    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    checkpoints = sorted(set(checkpoints))
    if checkpoints and (checkpoints[0] < 0 or checkpoints[-1] > steps):
        raise ValueError(f"checkpoints must lie in [0, steps={steps}], got {checkpoints}")
    if autocast not in (None, "bfloat16"):
        raise ValueError(f"autocast must be None or 'bfloat16', got {autocast!r}")
    if checkpoints and out is None:
        raise ValueError("checkpoints need an output path out")
    warmup = max(1, steps // 20) if warmup is None else warmup
    seq_len = config.max_seq_len
    t_start = time.perf_counter()
    train_ids, val_ids = load_corpus("train"), load_corpus("validation")
    checksum = corpus_checksum()
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = LlamaLM(config, seed=seed).to(device)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0}],
        lr=lr, betas=(0.9, 0.95),
    )
    out = Path(out) if out is not None else None
    base = {
        "seed": seed, "batch_size": batch_size, "seq_len": seq_len, "lr": lr,
        "warmup": warmup, "weight_decay": weight_decay, "schedule": "linear warm-up + cosine",
        "total_steps": steps, "device": str(device), "threads": torch.get_num_threads(),
        "machine": f"{platform.machine()}, {available_cpus()} CPUs available",
        "torch": torch.__version__, "n_params": model.num_parameters(),
        "autocast": autocast or "none",
    }

    def record(step: int, train_loss: float | None) -> dict:
        val_loss = evaluate_perplexity(
            model, val_ids, seq_len=seq_len, n_seqs=eval_seqs, return_loss=True
        )
        return {
            **base, "steps": step, "tokens_seen": step * batch_size * seq_len,
            "train_loss": train_loss, "val_loss": val_loss, "val_ppl": math.exp(val_loss),
            "eval_seqs": eval_seqs, "wall_time_s": round(time.perf_counter() - t_start, 1),
        }

    def save_checkpoint(step: int, train_loss: float | None) -> None:
        path = out.parent / CHECKPOINT_DIR / f"{out.stem}_step{step:05d}.safetensors"
        save_model(model, path, record(step, train_loss), dtype=dtype, checksum=checksum)

    if 0 in checkpoints:
        save_checkpoint(0, None)
    offsets = torch.arange(seq_len + 1)
    history: list[tuple[int, float]] = []
    running = None
    model.train()
    bar = tqdm(range(1, steps + 1), disable=not progress, desc=config.activation, mininterval=5)
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = lr_at(step - 1, lr=lr, warmup=warmup, total=steps)
        starts = torch.randint(0, train_ids.numel() - seq_len, (batch_size,), generator=gen)
        win = train_ids[starts[:, None] + offsets].to(device)
        with torch.autocast(
            torch.device(device).type, dtype=torch.bfloat16, enabled=autocast is not None
        ):
            logits = model(win[:, :-1])
        loss = F.cross_entropy(
            logits.float().reshape(-1, logits.shape[-1]), win[:, 1:].reshape(-1)
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        value = float(loss.detach())
        running = value if running is None else 0.95 * running + 0.05 * value
        if step % log_every == 0 or step == steps:
            history.append((step, round(running, 4)))
            bar.set_postfix(loss=f"{running:.3f}")
            if print_log:
                print(f"step {step} loss {running:.4f}", flush=True)
        if step in checkpoints and step != steps:
            save_checkpoint(step, running)
            model.train()
    model.eval()
    meta = record(steps, running)
    meta["train_loss_history"] = history
    if out is not None:  # (the final step's checkpoint is the main file itself)
        save_model(model, out, meta, dtype=dtype, checksum=checksum)
    model.metadata = meta
    return model, meta


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--activation", default="relu", choices=ACTIVATIONS)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--n-layers", type=int, default=4)
    p.add_argument("--n-heads", type=int, default=4)
    p.add_argument("--d-ff", type=int, default=None,
                   help="MLP width (default 512, or 344 for the gated swiglu)")
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--warmup", type=int, default=None)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads (default: the CPUs available to this process)")
    p.add_argument("--out", type=Path, default=None, help="output .safetensors file")
    p.add_argument("--checkpoints", default="", help="comma-separated steps, e.g. 0,50,100")
    p.add_argument("--eval-seqs", type=int, default=64)
    p.add_argument("--log-every", type=int, default=25, help="steps between loss records")
    p.add_argument("--dtype", default="float16", choices=["float16", "bfloat16", "float32"])
    p.add_argument("--bf16", action="store_true",
                   help="train under bfloat16 autocast (evaluation stays float32)")
    p.add_argument("--no-progress", action="store_true", help="print log lines instead of tqdm")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads or available_cpus())
    d_ff = args.d_ff if args.d_ff is not None else (344 if args.activation == "swiglu" else 512)
    config = ModelConfig(
        d_model=args.d_model, n_layers=args.n_layers, n_heads=args.n_heads, d_ff=d_ff,
        max_seq_len=args.seq_len, activation=args.activation,
    )
    _, meta = train(
        config, steps=args.steps, batch_size=args.batch_size, lr=args.lr, warmup=args.warmup,
        weight_decay=args.weight_decay, seed=args.seed, device=args.device, out=args.out,
        checkpoints=parse_steps(args.checkpoints), eval_seqs=args.eval_seqs, dtype=args.dtype,
        log_every=args.log_every, progress=not args.no_progress, print_log=args.no_progress,
        autocast="bfloat16" if args.bf16 else None,
    )
    print(
        f"{config.activation} d_ff={d_ff}: {meta['n_params']:,} parameters, {args.steps} steps, "
        f"val loss {meta['val_loss']:.4f} (ppl {meta['val_ppl']:.2f}), "
        f"{meta['wall_time_s']:.0f} s" + (f" -> {args.out}" if args.out else "")
    )
    return meta


if __name__ == "__main__":
    main()
