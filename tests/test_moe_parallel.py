"""Expert parallelism: 2 gloo processes on the CPU give the single-process layer's outputs and
gradients (all_to_all_single dispatch and combine, autograd through both)."""

import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")

from sparsecourse.moe import MoELayer  # noqa: E402
from sparsecourse.moe.parallel import run_expert_parallel  # noqa: E402

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason="needs torch.distributed with gloo")


def test_two_ranks_match_single_process():
    cfg = dict(d_model=12, d_ff=16, n_experts=6, k=2, seed=4)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(14, 12, generator=g)
    w = torch.randn(14, 12, generator=g)
    res = run_expert_parallel(cfg, x, w, world_size=2)
    layer = MoELayer(**cfg)
    xx = x.clone().requires_grad_()
    y = layer(xx)
    (y * w).sum().backward()
    assert res["expert_ranges"] == [(0, 3), (3, 6)]
    assert torch.allclose(res["y"], y.detach(), atol=1e-6)
    assert torch.allclose(res["x_grad"], xx.grad, atol=1e-6)
    assert torch.allclose(res["router_grad"], layer.gate.weight.grad, atol=1e-6)
    ex = layer.experts
    for name, p in (("w_gate_grad", ex.w_gate), ("w_up_grad", ex.w_up),
                    ("w_down_grad", ex.w_down)):
        assert torch.allclose(res[name], p.grad, atol=1e-6)


def test_bad_input():
    with pytest.raises(ValueError, match="divisible"):
        run_expert_parallel(dict(d_model=4, d_ff=4, n_experts=2, k=1), torch.randn(5, 4))
    with pytest.raises(RuntimeError, match="init_process_group"):
        from sparsecourse.moe.parallel import ExpertParallelMoE

        ExpertParallelMoE(MoELayer(4, 4, 2, 1))
