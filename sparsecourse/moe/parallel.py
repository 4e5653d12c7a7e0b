"""Expert parallelism: the experts of one MoE layer sharded across processes, tokens exchanged
with ``torch.distributed.all_to_all_single``.

With ``W`` processes (ranks) and ``E`` experts, rank ``r`` holds experts ``r * E / W`` to
``(r + 1) * E / W - 1`` and a replica of the router. Each rank routes *its own* tokens, then:

1. sorts its token-expert pairs by expert (so also by the rank that owns the expert) and counts
   how many go to each rank and each expert;
2. exchanges the counts (a small ``all_to_all_single``), then the token rows themselves
   (``all_to_all_single`` with uneven splits: the *dispatch*);
3. orders the rows it received by local expert and runs its experts with the grouped GEMM;
4. sends the outputs back the way they came (the *combine*, a second ``all_to_all_single``) and
   adds them, gate-weighted, into its tokens' outputs with one scatter.

The exchange is an autograd function (:class:`AllToAll`): its backward is the reverse exchange
of the gradients, so the expert weights get the gradient of *every* rank's tokens. The router is
replicated: average (or sum) its gradient over ranks as data parallelism does.

Backends. On one machine without a GPU: ``gloo`` with several processes (gloo implements
``all_to_all_single`` on CPU tensors, uneven splits included; checked with torch 2.13). On GPUs:
``nccl``, one process per GPU, the same code; launch with ``torchrun``::

    # one machine, 8 GPUs
    torchrun --nproc_per_node=8 -m sparsecourse.moe.parallel --backend nccl --n-experts 64
    # two machines (run on each, with its --node_rank)
    torchrun --nnodes=2 --nproc_per_node=8 --node_rank=0 --rdzv_backend=c10d \\
        --rdzv_endpoint=HOST:29500 -m sparsecourse.moe.parallel --backend nccl

(``torchrun`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``PORT``; the script
pins rank ``LOCAL_RANK`` to ``cuda:LOCAL_RANK``.) On one CPU machine,
:func:`run_expert_parallel` spawns the processes itself on a free port.

Routing is per rank, so routers that look at the whole batch (expert choice) or capacity limits
(which count a rank's tokens only) give the single-process result only for the tokens of each
rank; dropless top-k and threshold routing give exactly the single-process layer.
"""

from __future__ import annotations

import argparse
import os
import socket
import tempfile
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from ._kernels import grouped_mm
from .layer import MoELayer, expert_offsets
from .routing import route

__all__ = ["AllToAll", "ExpertParallelMoE", "run_expert_parallel", "free_port"]


class AllToAll(torch.autograd.Function):
    """Differentiable ``all_to_all_single`` with uneven splits along dim 0.

    Forward: rank ``r`` sends rows ``in_splits[s]`` to rank ``s`` and receives
    ``out_splits[s]`` rows from it. Backward: the same exchange with the splits swapped.
    """

    @staticmethod
    def forward(ctx, x, out_splits, in_splits, group):
        """Exchange the rows of ``x``: ``in_splits[s]`` rows go to rank ``s``."""
        ctx.splits = (out_splits, in_splits, group)
        out = x.new_empty((sum(out_splits), *x.shape[1:]))
        dist.all_to_all_single(out, x.contiguous(), out_splits, in_splits, group=group)
        return out

    @staticmethod
    def backward(ctx, grad):
        """Send each gradient row back where its row came from (the splits swapped)."""
        out_splits, in_splits, group = ctx.splits
        gx = grad.new_empty((sum(in_splits), *grad.shape[1:]))
        dist.all_to_all_single(gx, grad.contiguous(), in_splits, out_splits, group=group)
        return gx, None, None, None


class ExpertParallelMoE(nn.Module):
    """One rank's part of an expert-parallel :class:`~sparsecourse.moe.MoELayer`.

    Parameters
    ----------
    layer : MoELayer
        The full layer (the same weights on every rank, e.g. built with the same seed); this
        rank keeps a copy of the router and of its own experts only.
    group : torch.distributed.ProcessGroup, optional
        The ranks sharing the experts (default: the world).

    Attributes
    ----------
    expert_range : range
        The global indices of the experts this rank holds.
    """

    def __init__(self, layer: MoELayer, group=None) -> None:
        super().__init__()
        if not isinstance(layer, MoELayer):
            raise TypeError(f"layer must be a MoELayer, got {type(layer).__name__}")
        if not dist.is_initialized():
            raise RuntimeError("call torch.distributed.init_process_group first")
        self.group = group
        self.rank, self.world = dist.get_rank(group), dist.get_world_size(group)
        if layer.n_experts % self.world:
            raise ValueError(f"n_experts ({layer.n_experts}) must be divisible by the number of "
                             f"ranks ({self.world})")
        self.n_experts, self.d_model = layer.n_experts, layer.d_model
        self.n_local = layer.n_experts // self.world
        lo = self.rank * self.n_local
        self.expert_range = range(lo, lo + self.n_local)
        self.router_kwargs = dict(k=layer.k, capacity_factor=layer.capacity_factor,
                                  threshold=layer.threshold, normalize=layer.normalize_gates)
        self.router = layer.router
        self.gate = nn.Linear(layer.d_model, layer.n_experts, bias=False)
        self.gate.weight = nn.Parameter(layer.gate.weight.detach().clone())
        ex = layer.experts
        self.w_gate = nn.Parameter(ex.w_gate[lo : lo + self.n_local].detach().clone())
        self.w_up = nn.Parameter(ex.w_up[lo : lo + self.n_local].detach().clone())
        self.w_down = nn.Parameter(ex.w_down[lo : lo + self.n_local].detach().clone())

    def _exchange_counts(self, counts: torch.Tensor) -> torch.Tensor:
        """``counts[s, e]`` (rows this rank sends to local expert ``e`` of rank ``s``) to
        ``recv[s, e]`` (rows rank ``s`` sends to this rank's local expert ``e``)."""
        recv = torch.empty_like(counts)
        dist.all_to_all_single(recv, counts.contiguous(), group=self.group)
        return recv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """This rank's tokens ``(..., d_model)`` through the sharded layer."""
        if x.shape[-1] != self.d_model:
            raise ValueError(f"x must have shape (..., {self.d_model}), got {tuple(x.shape)}")
        flat = x.reshape(-1, self.d_model)
        r = route(self.gate(flat), self.router, **self.router_kwargs)
        order = torch.argsort(r.expert, stable=True)
        tok = r.token[order]
        # 1. counts per (destination rank, local expert), exchanged
        counts = torch.bincount(r.expert, minlength=self.n_experts).view(self.world, self.n_local)
        recv = self._exchange_counts(counts)
        send_splits = counts.sum(1).tolist()
        recv_splits = recv.sum(1).tolist()
        # 2. dispatch: rows sorted by expert are already grouped by destination rank
        xr = AllToAll.apply(flat[tok], recv_splits, send_splits, self.group)
        # 3. local experts on the received rows, ordered by local expert
        local_e = torch.repeat_interleave(
            torch.arange(self.n_local).repeat(self.world), recv.reshape(-1))
        order2 = torch.argsort(local_e, stable=True)
        off = expert_offsets(local_e, self.n_local)
        xs = xr[order2]
        h = F.silu(grouped_mm(xs, self.w_gate, off)) * grouped_mm(xs, self.w_up, off)
        ys = grouped_mm(h, self.w_down, off)
        y = torch.empty_like(ys).index_copy(0, order2, ys)  # back to the received order
        # 4. combine: send the outputs back, weight them, one scatter
        yb = AllToAll.apply(y, send_splits, recv_splits, self.group)
        out = torch.zeros_like(flat).index_add(0, tok, yb * r.gate[order, None])
        return out.reshape(x.shape)


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, cfg: dict, x: torch.Tensor, w: torch.Tensor,
            out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world)
    try:
        layer = MoELayer(**cfg)
        ep = ExpertParallelMoE(layer)
        xs = x.chunk(world)[rank].clone().requires_grad_()
        y = ep(xs)
        (y * w.chunk(world)[rank]).sum().backward()
        router_grad = ep.gate.weight.grad.clone()
        dist.all_reduce(router_grad)  # the replicated router: sum its gradient over ranks
        torch.save({"y": y.detach(), "x_grad": xs.grad, "router_grad": router_grad,
                    "expert_range": (ep.expert_range.start, ep.expert_range.stop),
                    "w_grads": [p.grad for p in (ep.w_gate, ep.w_up, ep.w_down)]},
                   Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def run_expert_parallel(cfg: dict, x: torch.Tensor, weight: torch.Tensor | None = None, *,
                        world_size: int = 2) -> dict:
    """Run a layer sharded over ``world_size`` gloo processes on this machine (CPU).

    Every rank builds ``MoELayer(**cfg)`` (same seed, so the same weights), keeps its experts,
    takes its equal share of the rows of ``x`` ``(n, d_model)``, and back-propagates
    ``sum(y * weight)``. Returns the gathered outputs and gradients, in the single-process
    layout: ``y`` and ``x_grad`` ``(n, d_model)``, ``router_grad`` and the experts' weight
    gradients ``w_gate_grad``, ``w_up_grad``, ``w_down_grad`` (concatenated over ranks).

    Examples
    --------
    >>> cfg = dict(d_model=8, d_ff=16, n_experts=4, k=2)
    >>> res = run_expert_parallel(cfg, torch.randn(6, 8))  # doctest: +SKIP
    >>> res["y"].shape  # doctest: +SKIP
    torch.Size([6, 8])
    """
    import torch.multiprocessing as mp

    if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"world_size must be a positive int, got {world_size!r}")
    if x.dim() != 2 or x.shape[0] % world_size:
        raise ValueError(f"x must be 2-D with a number of rows divisible by world_size, got "
                         f"{tuple(x.shape)}")
    weight = torch.ones_like(x) if weight is None else weight
    with tempfile.TemporaryDirectory() as d:
        mp.spawn(_worker, args=(world_size, free_port(), cfg, x, weight, d), nprocs=world_size)
        parts = [torch.load(Path(d) / f"rank{r}.pt", weights_only=True)
                 for r in range(world_size)]
    res = {"y": torch.cat([p["y"] for p in parts]),
           "x_grad": torch.cat([p["x_grad"] for p in parts]),
           "router_grad": parts[0]["router_grad"],
           "expert_ranges": [tuple(p["expert_range"]) for p in parts]}
    for i, name in enumerate(("w_gate_grad", "w_up_grad", "w_down_grad")):
        res[name] = torch.cat([p["w_grads"][i] for p in parts])
    return res


def main(argv=None) -> None:
    """``torchrun`` entry point: check the sharded layer against the full one on every rank."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", default="gloo", choices=["gloo", "nccl"])
    p.add_argument("--n-experts", type=int, default=8)
    p.add_argument("--k", type=int, default=2)
    p.add_argument("--tokens", type=int, default=512, help="tokens per rank")
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--d-ff", type=int, default=128)
    args = p.parse_args(argv)
    dist.init_process_group(args.backend)
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device("cpu")
    if args.backend == "nccl":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    layer = MoELayer(args.d_model, args.d_ff, args.n_experts, args.k).to(device)
    ep = ExpertParallelMoE(layer).to(device)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(world * args.tokens, args.d_model, generator=gen).to(device)
    y = ep(x.chunk(world)[rank])
    ref = layer(x).chunk(world)[rank]
    err = (y - ref).abs().max().item()
    print(f"rank {rank}/{world} ({args.backend}): experts {ep.expert_range.start}-"
          f"{ep.expert_range.stop - 1}, max |y - y_single| = {err:.2e}", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
