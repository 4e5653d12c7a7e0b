"""MoEfication: split a trained dense MLP into experts by clustering its neurons' co-activation.

A dense MLP ``down(act(up(x)))`` with ``d_ff`` neurons is a sum over neurons; grouping the
neurons into ``E`` sets of ``d_ff / E`` and keeping only a few sets per token turns it into a
mixture of experts *without changing a weight*. Neurons that fire together should share an
expert, so that the few experts a token uses hold most of its active neurons. As in MoEfication
(Zhang et al., 2022) and the clustering-based expert construction studied in "LLaMA-MoE v2":

1. run calibration text through the model and record each neuron's activation on every token;
2. describe neuron ``i`` by its activity pattern over the tokens (1 where it is active) and
   cluster these patterns with *balanced* k-means (:func:`cluster_neurons`): every expert gets
   exactly ``d_ff / E`` neurons;
3. route each token to ``k`` experts: training-free with the *centroid router* (expert ``e``
   scores ``x . mean of its neurons' input weights``), or after a short fit of a linear router
   to the *oracle* choice (the experts with the largest activation norm), :func:`fit_routers`.

:class:`MoEfiedMLP` keeps the dense weights reordered into experts and computes, for clarity,
every expert and then masks the unchosen ones (the arithmetic of the sparse layer, not its
speed; the speed comes from the dispatch of :class:`~sparsecourse.moe.MoELayer`).
"""

from __future__ import annotations

import copy
import numbers

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["cluster_neurons", "MoEfiedMLP", "moefy", "fit_routers", "moefied_mlps",
           "set_experts_kept", "ROUTER_MODES"]

ROUTER_MODES = ("router", "oracle")


def cluster_neurons(h: torch.Tensor, n_experts: int, *, n_iter: int = 20, seed: int = 0,
                    active_threshold: float = 0.0) -> torch.Tensor:
    """Balanced k-means of neurons by co-activation; returns each neuron's expert ``(d_ff,)``.

    Parameters
    ----------
    h : torch.Tensor, shape (n_tokens, d_ff)
        Neuron activations on calibration tokens (the input of ``down_proj``).
    n_experts : int
        Number of clusters; must divide ``d_ff``.
    n_iter : int
        k-means iterations.
    seed : int
        Seed of the initial centres (random neurons).
    active_threshold : float
        A neuron counts as active on a token when ``|h| > active_threshold`` (use 0 for ReLU;
        for SwiGLU, whose activations are rarely exactly zero, a magnitude such as a quantile).

    Examples
    --------
    >>> h = torch.zeros(6, 4); h[:3, [0, 2]] = 1.0; h[3:, [1, 3]] = 1.0
    >>> labels = cluster_neurons(h, 2)
    >>> labels[0] == labels[2], labels[1] == labels[3], labels[0] != labels[1]
    (tensor(True), tensor(True), tensor(True))
    """
    if not isinstance(h, torch.Tensor) or h.dim() != 2:
        raise ValueError("h must be a 2-D tensor (n_tokens, d_ff)")
    d_ff = h.shape[1]
    if isinstance(n_experts, bool) or not isinstance(n_experts, numbers.Integral) or \
            n_experts < 1 or d_ff % n_experts:
        raise ValueError(f"n_experts must be a positive divisor of d_ff={d_ff}, got {n_experts!r}")
    if not torch.isfinite(h).all():
        raise ValueError("h contains NaN or infinity")
    size = d_ff // n_experts
    feats = (h.abs() > active_threshold).float().t()  # (d_ff, n_tokens) activity patterns
    feats = F.normalize(feats - feats.mean(1, keepdim=True), dim=1)
    gen = torch.Generator().manual_seed(seed)
    centres = feats[torch.randperm(d_ff, generator=gen)[:n_experts]].clone()
    labels = torch.zeros(d_ff, dtype=torch.long)
    for _ in range(n_iter):
        sim = feats @ centres.t()  # (d_ff, E), cosine similarity
        # balanced assignment: most similar (neuron, expert) pairs first, experts fill up
        order = torch.argsort(sim.reshape(-1), descending=True).tolist()
        free = [size] * n_experts
        lab = [-1] * d_ff
        for idx in order:
            i, e = divmod(idx, n_experts)
            if lab[i] < 0 and free[e] > 0:
                lab[i] = e
                free[e] -= 1
        labels = torch.tensor(lab)
        new = torch.stack([feats[labels == e].mean(0) for e in range(n_experts)])
        new = F.normalize(new, dim=1)
        if torch.allclose(new, centres):
            break
        centres = new
    return labels


class MoEfiedMLP(nn.Module):
    """A dense Llama-style MLP regrouped into ``n_experts`` experts with a router.

    Parameters
    ----------
    mlp : nn.Module
        A Hugging Face style MLP (``up_proj``, ``down_proj``, ``act_fn``, optional
        ``gate_proj``).
    labels : torch.LongTensor, shape (d_ff,)
        Expert of each neuron (equal sizes), e.g. from :func:`cluster_neurons`.
    k : int
        Experts kept per token (``k = n_experts`` is the dense MLP exactly).

    Attributes
    ----------
    mode : {"router", "oracle"}
        ``"router"``: the top-``k`` experts by the linear router (initialised as the
        training-free centroid router); ``"oracle"``: the ``k`` experts whose contribution to
        the output, ``||h_e @ W_down_e||``, is largest on this token (a reference, not a
        router: it needs all experts computed first).
    """

    def __init__(self, mlp: nn.Module, labels: torch.Tensor, k: int = 1) -> None:
        super().__init__()
        labels = torch.as_tensor(labels, dtype=torch.long)
        self.n_experts = int(labels.max()) + 1
        d_ff = mlp.down_proj.weight.shape[1]
        if labels.shape != (d_ff,):
            raise ValueError(f"labels must have shape ({d_ff},), got {tuple(labels.shape)}")
        counts = torch.bincount(labels, minlength=self.n_experts)
        if (counts != counts[0]).any():
            raise ValueError("every expert must hold the same number of neurons")
        self.size = int(counts[0])
        perm = torch.argsort(labels, stable=True)
        self.register_buffer("perm", perm)
        self.gated = hasattr(mlp, "gate_proj")
        self.act_fn = copy.deepcopy(mlp.act_fn)
        d_model = mlp.up_proj.weight.shape[1]
        E, m = self.n_experts, self.size

        def experts_in(w):  # (d_ff, d_model) -> (E, d_model, m)
            return nn.Parameter(w.detach()[perm].reshape(E, m, d_model).transpose(1, 2).clone())

        self.w_up = experts_in(mlp.up_proj.weight)
        if self.gated:
            self.w_gate = experts_in(mlp.gate_proj.weight)
        self.w_down = nn.Parameter(
            mlp.down_proj.weight.detach()[:, perm].t().reshape(E, m, d_model).clone())
        self.router = nn.Linear(d_model, E, bias=False)
        with torch.no_grad():  # centroid router: mean input weight of each expert's neurons
            key = self.w_gate if self.gated else self.w_up
            self.router.weight.copy_(key.mean(2))
        self.k = k
        self.mode = "router"

    @property
    def k(self) -> int:
        return self._k

    @k.setter
    def k(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or \
                not 1 <= value <= self.n_experts:
            raise ValueError(f"k must lie in [1, n_experts={self.n_experts}], got {value!r}")
        self._k = int(value)

    def expert_activations(self, x: torch.Tensor) -> torch.Tensor:
        """Every expert's neuron activations ``(..., E, m)`` (the dense computation)."""
        up = torch.einsum("...d,edm->...em", x, self.w_up)
        if self.gated:
            return self.act_fn(torch.einsum("...d,edm->...em", x, self.w_gate)) * up
        return self.act_fn(up)

    def contribution_norms(self, h: torch.Tensor) -> torch.Tensor:
        """Norm of each expert's contribution to the output, ``||h_e @ W_down_e||``."""
        return torch.einsum("...em,emd->...ed", h, self.w_down).norm(dim=-1)

    def scores(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        """Routing scores ``(..., E)`` of the current ``mode``."""
        if self.mode == "oracle":
            h = self.expert_activations(x) if h is None else h
            return self.contribution_norms(h)
        if self.mode == "router":
            return self.router(x)
        raise ValueError(f"mode must be one of {ROUTER_MODES}, got {self.mode!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.expert_activations(x)
        keep = self.scores(x, h).topk(self.k, dim=-1).indices
        mask = torch.zeros(h.shape[:-1], dtype=h.dtype, device=h.device).scatter(-1, keep, 1.0)
        return torch.einsum("...em,emd->...d", h * mask[..., None], self.w_down)


def _parent(model: nn.Module, name: str) -> tuple[nn.Module, str]:
    parent, _, attr = name.rpartition(".")
    return model.get_submodule(parent) if parent else model, attr


def moefied_mlps(model: nn.Module) -> list[tuple[str, MoEfiedMLP]]:
    """The :class:`MoEfiedMLP` modules of ``model`` with their names."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, MoEfiedMLP)]


def moefy(model: nn.Module, n_experts: int, data, *, k: int = 1, n_seqs: int = 16,
          seq_len: int = 128, seed: int = 0, active_quantile: float | None = None,
          method: str = "cluster") -> nn.Module:
    """A copy of ``model`` with every MLP split into ``n_experts`` co-activation clusters.

    Parameters
    ----------
    model : nn.Module
        A Llama-style model (e.g. :func:`sparsecourse.models.load_pretrained`).
    n_experts : int
        Experts per MLP (must divide ``d_ff``).
    data : LongTensor
        Calibration token ids (1-D stream or ``(B, T)`` batches), as in
        :func:`sparsecourse.activation.collect_mlp_activations`.
    k : int
        Experts kept per token at first (change with :func:`set_experts_kept`).
    active_quantile : float, optional
        For non-ReLU MLPs: a neuron is "active" when ``|h|`` exceeds this quantile of the
        layer's ``|h|`` (default: 0.5 for gated MLPs, exact zeros otherwise).

    Examples
    --------
    >>> from sparsecourse.models import LlamaLM, ModelConfig
    >>> model = LlamaLM(ModelConfig(vocab_size=64, d_model=16, n_layers=1, n_heads=2, d_ff=32))
    >>> ids = torch.randint(0, 64, (4, 16))
    >>> moe = moefy(model, 4, ids, k=4)   # all experts kept: the dense model
    >>> torch.allclose(moe(ids), model(ids), atol=1e-5)
    True
    """
    from ..activation import collect_mlp_activations

    if method not in ("cluster", "random"):
        raise ValueError(f"method must be 'cluster' or 'random', got {method!r}")
    acts = collect_mlp_activations(model, data, n_seqs=n_seqs, seq_len=seq_len, seed=seed)
    new = copy.deepcopy(model)
    for name, rec in acts.items():
        mlp = new.get_submodule(name)
        h = rec["h"].reshape(-1, rec["h"].shape[-1])
        q = active_quantile if active_quantile is not None else (
            0.5 if hasattr(mlp, "gate_proj") else None)
        thr = 0.0 if q is None else float(torch.quantile(h.abs().flatten()[:1_000_000], q))
        if method == "random":
            if h.shape[1] % n_experts:
                raise ValueError(f"n_experts must divide d_ff={h.shape[1]}, got {n_experts}")
            gen = torch.Generator().manual_seed(seed)
            labels = torch.randperm(h.shape[1], generator=gen) % n_experts
        else:
            labels = cluster_neurons(h, n_experts, seed=seed, active_threshold=thr)
        parent, attr = _parent(new, name)
        setattr(parent, attr, MoEfiedMLP(mlp, labels, k=min(k, n_experts)))
    return new


def set_experts_kept(model: nn.Module, k: int, mode: str | None = None) -> None:
    """Set ``k`` (and optionally the routing ``mode``) of every :class:`MoEfiedMLP`."""
    if mode is not None and mode not in ROUTER_MODES:
        raise ValueError(f"mode must be one of {ROUTER_MODES}, got {mode!r}")
    for _, m in moefied_mlps(model):
        m.k = k
        if mode is not None:
            m.mode = mode


def fit_routers(model: nn.Module, data, *, k_target: int | None = None, steps: int = 200,
                lr: float = 1e-2, n_seqs: int = 16, seq_len: int = 128, seed: int = 0) -> list:
    """Fit each :class:`MoEfiedMLP`'s linear router to the oracle's choice (a few Adam steps).

    The targets are the ``k_target`` experts with the largest contribution norm on each
    calibration token (multi-label, binary cross-entropy); only the routers change.
    Returns the final loss of each router.
    """
    from ..activation import as_batches

    mlps = moefied_mlps(model)
    if not mlps:
        raise ValueError("model has no MoEfiedMLP: call moefy first")
    batches = as_batches(data, n_seqs=n_seqs, seq_len=seq_len, seed=seed)
    inputs: dict[str, list] = {n: [] for n, _ in mlps}
    hooks = [m.register_forward_pre_hook(lambda mod, a, s=inputs[n]: s.append(a[0].detach()))
             for n, m in mlps]
    try:
        was = model.training
        model.eval()
        with torch.no_grad():
            for b in batches:
                model(b)
        model.train(was)
    finally:
        for hk in hooks:
            hk.remove()
    losses = []
    torch.manual_seed(seed)
    for name, m in mlps:
        x = torch.cat([t.reshape(-1, t.shape[-1]) for t in inputs[name]])
        kt = k_target or max(1, m.n_experts // 4)
        with torch.no_grad():
            top = m.contribution_norms(m.expert_activations(x)).topk(kt, dim=-1).indices
            target = torch.zeros(x.shape[0], m.n_experts).scatter(1, top, 1.0)
        opt = torch.optim.Adam(m.router.parameters(), lr=lr)
        for _ in range(steps):
            loss = F.binary_cross_entropy_with_logits(m.router(x), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
        losses.append(float(loss.detach()))
    return losses
