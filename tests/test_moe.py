"""Mixture of experts: routers and losses against hand-computed values, the three dispatch modes
against each other (outputs and gradients), the grouped GEMM kernels against torch, bad input."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sparsecourse.moe import (  # noqa: E402
    MoELayer,
    Routing,
    apply_capacity,
    expert_choice_routing,
    expert_offsets,
    grouped_mm,
    grouped_mm_numba,
    grouped_mm_reference,
    load_balancing_loss,
    router_z_loss,
    switch_routing,
    threshold_routing,
    topk_routing,
)

P = torch.tensor([[0.8, 0.2], [0.6, 0.4], [0.3, 0.7], [0.9, 0.1]])
SHIFT = torch.tensor([1.0, 2.0, 0.0, -1.0])  # logsumexp of row i is SHIFT[i]


def test_losses_match_hand_computed_values():
    logits = P.log() + SHIFT[:, None]
    r = topk_routing(logits, 1, normalize=False)
    assert r.expert.tolist() == [0, 0, 1, 0]
    # f = (3/4, 1/4), mean probabilities (0.65, 0.35): 2 * (0.75*0.65 + 0.25*0.35) = 1.15
    assert float(load_balancing_loss(r)) == pytest.approx(1.15, abs=1e-6)
    # logsumexp per row is the shift: mean(1, 4, 0, 1) = 1.5
    assert float(router_z_loss(logits)) == pytest.approx(1.5, abs=1e-5)
    # everything on one expert with probability 1: the loss is n_experts
    one = topk_routing(torch.tensor([[50.0, 0.0, 0.0]] * 5), 1)
    assert float(load_balancing_loss(one)) == pytest.approx(3.0, abs=1e-6)


def test_load_balancing_gradient_only_through_probs():
    logits = (P.log() + SHIFT[:, None]).requires_grad_()
    load_balancing_loss(topk_routing(logits, 1)).backward()
    # d/dlogits of E * sum_i f_i * mean_t p_ti; by hand with f = (0.75, 0.25)
    p = P
    f = torch.tensor([0.75, 0.25])
    g = 2 * f / 4  # dL/dp_ti
    expected = p * (g - (p * g).sum(1, keepdim=True))
    assert torch.allclose(logits.grad, expected, atol=1e-6)


def test_topk_gates_and_capacity_by_hand():
    r = topk_routing(P.log(), 2)
    assert r.token.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert r.expert.tolist() == [0, 1, 0, 1, 1, 0, 0, 1]
    assert torch.allclose(r.gate, torch.tensor([0.8, 0.2, 0.6, 0.4, 0.7, 0.3, 0.9, 0.1]))
    # capacity 3: first choices go first (token order): expert 0 gets tokens 0, 1, 3 as first
    # choices, expert 1 gets token 2 first, then second choices 0, 1 -> token 3's and token
    # 2's second choices are dropped
    c = apply_capacity(r, 3)
    kept = sorted(zip(c.token.tolist(), c.expert.tolist(), strict=True))
    assert kept == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 1), (3, 0)]
    assert c.n_dropped == 2


def test_switch_drops_past_capacity():
    logits = torch.tensor([[2.0, 0.0, 0.0]] * 5 + [[0.0, 2.0, 0.0]])
    r = switch_routing(logits, capacity_factor=1.0)  # capacity ceil(6/3) = 2
    assert r.n_dropped == 3 and r.tokens_per_expert().tolist() == [2, 1, 0]
    assert r.token.tolist() == [0, 1, 5]
    assert switch_routing(logits, None).n_dropped == 0


def test_expert_choice_balances_and_threshold_k():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(40, 4, generator=g) * 3
    r = expert_choice_routing(logits, capacity_factor=1.0, k=2)
    assert r.tokens_per_expert().tolist() == [20] * 4
    # each expert took its 20 most probable tokens
    probs = torch.softmax(logits, -1)
    for e in range(4):
        chosen = set(r.token[r.expert == e].tolist())
        assert chosen == set(probs[:, e].topk(20).indices.tolist())
    t = threshold_routing(torch.log(torch.tensor([[0.95, 0.03, 0.02], [0.5, 0.3, 0.2],
                                                  [0.6, 0.35, 0.05]])), 0.9)
    assert t.experts_per_token().tolist() == [1, 3, 2]
    assert torch.allclose(t.gate[t.token == 2], torch.tensor([0.6, 0.35]) / 0.95)
    assert threshold_routing(torch.zeros(2, 8), 0.9, max_k=2).experts_per_token().tolist() == [2, 2]


def _run(layer, x, dispatch):
    layer.dispatch = dispatch
    layer.zero_grad()
    xx = x.clone().requires_grad_()
    y = layer(xx)
    w = torch.linspace(-1, 1, y.numel()).reshape(y.shape)
    ((y * w).sum() + layer.aux_loss).backward()
    grads = [xx.grad] + [p.grad.clone() for p in layer.parameters()]
    return y.detach(), grads


@pytest.mark.parametrize("router,k,cf", [("topk", 2, None), ("topk", 2, 1.0), ("switch", 1, 1.25),
                                         ("expert_choice", 2, 1.0), ("threshold", 3, None),
                                         ("topk", 1, None)])
@pytest.mark.parametrize("n_tokens", [3, 37])
def test_dispatch_modes_agree(router, k, cf, n_tokens):
    layer = MoELayer(12, 20, 6, k, router=router, capacity_factor=cf, seed=1)
    x = torch.randn(n_tokens, 12, generator=torch.Generator().manual_seed(2))
    if n_tokens == 3:  # positive inputs, experts 4 and 5 with negative router weights
        x = x.abs()
        with torch.no_grad():
            layer.gate.weight[4:] = -1.0
    ref_y, ref_g = _run(layer, x, "dense")
    if n_tokens == 3 and router != "expert_choice":  # (expert choice fills every expert)
        assert (layer.last_routing.tokens_per_expert() == 0).any()  # experts with no token
    for d in ("loop", "grouped"):
        y, g = _run(layer, x, d)
        assert torch.allclose(y, ref_y, atol=1e-6)
        for a, b in zip(ref_g, g, strict=True):
            assert torch.allclose(a, b, atol=1e-6)


def test_dense_equals_readable_formula():
    layer = MoELayer(8, 16, 4, 2, seed=3)
    x = torch.randn(5, 8)
    y = layer(x)
    probs = torch.softmax(x @ layer.gate.weight.T, -1)
    top1 = MoELayer(8, 16, 4, 1, seed=3)
    y1 = top1(x)
    for t in range(5):  # k = 1: the gate is the raw probability (Switch)
        e = int(probs[t].argmax())
        assert torch.allclose(y1[t], probs[t, e] * top1.experts.expert(e, x[t]), atol=1e-6)
    top = probs.topk(2, -1)
    for t in range(5):
        w = top.values[t] / top.values[t].sum()
        expect = sum(w[j] * layer.experts.expert(int(top.indices[t, j]), x[t]) for j in range(2))
        assert torch.allclose(y[t], expect, atol=1e-6)


def test_numba_backend_and_grouped_mm():
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(23, 6, generator=g), torch.randn(4, 6, 5, generator=g)
    off = [0, 0, 10, 10, 23]  # two empty groups
    ref = torch.cat([x[:10] @ w[1], x[10:] @ w[3]])
    assert torch.allclose(grouped_mm_reference(x, w, off), ref, atol=1e-5)
    np.testing.assert_allclose(grouped_mm_numba(x, w, off), ref.numpy(), atol=1e-5)
    xd, wd = x.double(), w.double()
    ref64 = torch.cat([xd[:10] @ wd[1], xd[10:] @ wd[3]])
    np.testing.assert_allclose(grouped_mm_numba(xd, wd, off), ref64.numpy(), atol=1e-10)
    xx, ww = x.clone().requires_grad_(), w.clone().requires_grad_()
    grouped_mm(xx, ww, off, backend="numba").sum().backward()
    x2, w2 = x.clone().requires_grad_(), w.clone().requires_grad_()
    grouped_mm_reference(x2, w2, off).sum().backward()
    assert torch.allclose(xx.grad, x2.grad) and torch.allclose(ww.grad, w2.grad)
    assert expert_offsets(torch.tensor([3, 1, 1]), 4).tolist() == [0, 0, 2, 2, 3]
    layer = MoELayer(8, 16, 4, 2, grouped_backend="numba")
    x = torch.randn(9, 8)
    y = layer(x)
    layer.dispatch = "loop"
    assert torch.allclose(layer(x), y, atol=1e-6)


def test_num_parameters_and_shapes():
    layer = MoELayer(8, 16, 4, 2)
    assert layer.num_parameters() == sum(p.numel() for p in layer.parameters())
    assert layer.num_parameters(active=True) == 4 * 8 + 2 * 3 * 8 * 16
    assert layer(torch.randn(8)).shape == (8,)
    assert layer(torch.randn(2, 3, 4, 8)).shape == (2, 3, 4, 8)


def test_bad_input():
    with pytest.raises(ValueError, match="k must lie"):
        MoELayer(8, 16, 4, 5)
    with pytest.raises(ValueError, match="k must lie"):
        MoELayer(8, 16, 4, 0)
    with pytest.raises(ValueError, match="capacity_factor"):
        MoELayer(8, 16, 4, 1, capacity_factor=0.0)
    with pytest.raises(ValueError, match="capacity_factor"):
        switch_routing(torch.zeros(3, 2), capacity_factor=-1.0)
    with pytest.raises(ValueError, match="router must be"):
        MoELayer(8, 16, 4, 1, router="hash")
    with pytest.raises(ValueError, match="k must be 1"):
        MoELayer(8, 16, 4, 2, router="switch")
    with pytest.raises(ValueError, match="dispatch must be"):
        MoELayer(8, 16, 4, 1, dispatch="scatter")
    layer = MoELayer(8, 16, 4, 1)
    with pytest.raises(ValueError, match="dispatch must be"):
        layer.dispatch = "sparse"
    with pytest.raises(ValueError, match="d_model=8"):
        layer(torch.randn(3, 7))
    with pytest.raises(ValueError, match="NaN"):
        layer(torch.tensor([[math.nan] * 8]))
    with pytest.raises(ValueError, match="NaN"):
        topk_routing(torch.tensor([[0.0, math.nan]]), 1)
    with pytest.raises(TypeError, match="k must be an int"):
        topk_routing(torch.zeros(2, 3), 1.5)
    with pytest.raises(ValueError, match="threshold"):
        threshold_routing(torch.zeros(2, 3), 0.0)
    with pytest.raises(ValueError, match="columns"):
        grouped_mm(torch.zeros(3, 4), torch.zeros(2, 5, 6), [0, 1, 3])
    with pytest.raises(ValueError, match="offsets"):
        grouped_mm(torch.zeros(3, 4), torch.zeros(2, 4, 6), [0, 1, 2])
    with pytest.raises(ValueError, match="backend"):
        grouped_mm(torch.zeros(3, 4), torch.zeros(2, 4, 6), [0, 1, 3], backend="cuda")


def test_triton_grouped_mm_interpreter():
    pytest.importorskip("triton")
    from sparsecourse.kernels import triton_available

    if not triton_available():
        pytest.skip("needs a GPU or TRITON_INTERPRET=1")
    from sparsecourse.moe.triton_grouped import tile_schedule, triton_grouped_mm

    assert tile_schedule([0, 3, 3, 40], 16) == ([0, 2, 2, 2], [0, 3, 19, 35])
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(41, 20, generator=g), torch.randn(4, 20, 36, generator=g)
    off = [0, 17, 17, 18, 41]  # an empty expert, a one-row expert, tiles past a slice's end
    out = triton_grouped_mm(x, w, off)
    assert torch.allclose(out, grouped_mm_reference(x, w, off), atol=1e-4)
    layer = MoELayer(16, 32, 4, 2, grouped_backend="triton")
    xx = torch.randn(6, 16, generator=g)
    y = layer(xx)
    layer.grouped_backend = "torch"
    assert torch.allclose(layer(xx), y, atol=1e-4)
    with pytest.raises(ValueError, match="block_m"):
        triton_grouped_mm(x, w, off, block_m=8)


def test_checks_accept_right_and_reject_wrong():
    from sparsecourse.checks import (
        check_balance_loss_range,
        check_expert_offsets,
        check_load_balancing_loss,
        check_tokens_dropped,
    )

    def lb(probs, expert):  # through the package: a Routing of the given top-1 choices
        n = len(expert)
        return load_balancing_loss(Routing(torch.arange(n), expert, torch.ones(n), probs))

    assert check_load_balancing_loss(lb)
    assert not check_load_balancing_loss(lambda p, e: p.mean(0).square().sum())
    assert check_balance_loss_range(lambda E: (1, E))
    assert not check_balance_loss_range(lambda E: (1 / E, 1))
    assert check_expert_offsets(expert_offsets)
    assert not check_expert_offsets(lambda e, n: torch.bincount(e, minlength=n).cumsum(0))

    def dropped(expert, n_experts, cf):
        cap = math.ceil(cf * len(expert) / n_experts)
        r = switch_routing(torch.nn.functional.one_hot(torch.tensor(expert), n_experts) * 9.0,
                           capacity_factor=cf)
        assert r.n_dropped == sum(max(0, expert.count(i) - cap) for i in range(n_experts))
        return r.n_dropped

    assert check_tokens_dropped(dropped)
    assert not check_tokens_dropped(lambda e, n, cf: 0)


def test_moe_lm_save_load(tmp_path):
    from sparsecourse.models import ModelConfig
    from sparsecourse.moe.lm import load_moe_lm, moe_layers, moe_lm, save_moe_lm, total_aux_loss

    cfg = ModelConfig(vocab_size=2048, d_model=16, n_layers=2, n_heads=2, d_ff=32,
                      activation="swiglu", max_seq_len=16)
    model = moe_lm(cfg, 4, 1)
    ids = torch.randint(0, 2048, (2, 16))
    y = model(ids)
    assert total_aux_loss(model) > 0 and len(moe_layers(model)) == 2
    path = save_moe_lm(model, tmp_path / "m.safetensors", {"run": "t"})
    loaded = load_moe_lm(path)
    assert loaded.metadata["run"] == "t"
    assert torch.allclose(loaded(ids), y, atol=2e-2)
    with pytest.raises(ValueError, match="swiglu"):
        moe_lm(ModelConfig(vocab_size=64, d_model=16, n_layers=1, n_heads=2, d_ff=32), 4)
