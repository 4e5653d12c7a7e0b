"""MoEfication: clustering recovers planted co-activation groups, all experts kept is the dense
MLP exactly, the fitted router agrees with the oracle more than before, bad input."""

import pytest

torch = pytest.importorskip("torch")

from sparsecourse.models import LlamaLM, ModelConfig  # noqa: E402
from sparsecourse.moe.moefication import (  # noqa: E402
    MoEfiedMLP,
    cluster_neurons,
    fit_routers,
    moefied_mlps,
    moefy,
    set_experts_kept,
)


def _model(act="relu"):
    return LlamaLM(ModelConfig(vocab_size=64, d_model=16, n_layers=2, n_heads=2, d_ff=32,
                               activation=act, max_seq_len=32), seed=1)


def test_cluster_recovers_planted_groups():
    g = torch.Generator().manual_seed(0)
    groups = torch.randperm(24, generator=g) % 4  # 4 groups of 6 neurons that fire together
    on = torch.rand(300, 4, generator=g) < 0.3
    h = on[:, groups].float() * torch.rand(300, 24, generator=g)
    labels = cluster_neurons(h, 4, seed=1)
    assert torch.bincount(labels).tolist() == [6] * 4
    for e in range(4):  # each cluster is one planted group
        assert groups[labels == e].unique().numel() == 1


@pytest.mark.parametrize("act", ["relu", "swiglu"])
def test_all_experts_kept_is_dense(act):
    model = _model(act)
    ids = torch.randint(0, 64, (4, 32), generator=torch.Generator().manual_seed(0))
    moe = moefy(model, 4, ids, k=4)
    assert len(moefied_mlps(moe)) == 2
    assert torch.allclose(moe(ids), model(ids), atol=1e-5)
    set_experts_kept(moe, 4, "oracle")
    assert torch.allclose(moe(ids), model(ids), atol=1e-5)
    set_experts_kept(moe, 1)
    assert not torch.allclose(moe(ids), model(ids), atol=1e-3)


def test_fit_routers_moves_towards_oracle():
    model = _model()
    ids = torch.randint(0, 64, (8, 32), generator=torch.Generator().manual_seed(0))
    moe = moefy(model, 8, ids, k=2)
    mlp = moefied_mlps(moe)[0][1]
    seen = []
    hook = mlp.register_forward_pre_hook(lambda m, a: seen.append(a[0].detach()))
    with torch.no_grad():
        moe(ids)
    hook.remove()
    x = seen[0].reshape(-1, 16)  # the MLP's real inputs

    def agreement():
        with torch.no_grad():
            h = mlp.expert_activations(x)
            oracle = mlp.contribution_norms(h).argmax(-1)
            return float((mlp.router(x).argmax(-1) == oracle).float().mean())

    before = agreement()
    fit_routers(moe, ids, k_target=1, steps=300, lr=3e-2)
    assert agreement() > before


def test_bad_input():
    with pytest.raises(ValueError, match="divisor"):
        cluster_neurons(torch.rand(10, 30), 4)
    model = _model()
    with pytest.raises(ValueError, match="same number"):
        MoEfiedMLP(model.model.layers[0].mlp, torch.tensor([0] * 20 + [1] * 12))
    m = MoEfiedMLP(model.model.layers[0].mlp, torch.arange(32) % 4)
    with pytest.raises(ValueError, match="k must lie"):
        m.k = 5
    with pytest.raises(ValueError, match="mode"):
        set_experts_kept(model, 1, "best")
    with pytest.raises(ValueError, match="moefy first"):
        fit_routers(model, torch.randint(0, 64, (2, 32)))
    with pytest.raises(ValueError, match="method"):
        moefy(model, 4, torch.randint(0, 64, (2, 32)), method="kmeans")
