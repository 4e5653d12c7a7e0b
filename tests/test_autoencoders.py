"""Sparse autoencoders (chapter 3): activations and allocations against loop references,
metrics, the AuxK loss on dead latents, training, bad input."""

import pytest
import torch

from sparsecourse.coding import (
    FeatureChoiceSAE,
    MutualChoiceSAE,
    ReLUSAE,
    TopKSAE,
    dead_latent_fraction,
    feature_choice_mask,
    l0_norm,
    mutual_choice_mask,
    normalized_mse,
    topk_activation,
    train_sae,
)


def pre(batch=16, h=40, seed=0):
    return torch.randn(batch, h, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("k", [1, 5, 40])
def test_topk_keeps_exactly_k(k):
    p = pre() + 10.0                        # all positive: exactly k survive the ReLU
    z = topk_activation(p, k)
    assert ((z != 0).sum(1) == k).all()
    for row, zr in zip(p, z, strict=True):
        kept = torch.sort(torch.topk(row, k).indices).values
        assert torch.equal(torch.nonzero(zr).flatten(), kept)
        assert torch.equal(zr[kept], row[kept])
    z = topk_activation(pre() - 0.5, k)     # negatives removed by the ReLU
    assert ((z != 0).sum(1) <= k).all() and (z >= 0).all()
    assert torch.equal((topk_activation(pre(), k, relu=False) != 0).sum(1),
                       torch.full((16,), k))


@pytest.mark.parametrize("k", [1, 3, 8])
def test_mutual_choice_total_and_reference(k):
    p = pre()
    mask = mutual_choice_mask(p, k)
    assert int(mask.sum()) == k * 16
    threshold = torch.sort(p.flatten(), descending=True).values[k * 16 - 1]
    assert torch.equal(mask, p >= threshold)
    assert int(mask.sum(1).max()) > k or int(mask.sum(1).min()) < k or k == 40  # varies per row


@pytest.mark.parametrize("k,batch,h", [(2, 16, 40), (5, 16, 40), (4, 20, 10), (1, 8, 8)])
def test_feature_choice_totals(k, batch, h):
    p = pre(batch, h)
    mask = feature_choice_mask(p, k)
    m = min(batch, -(-k * batch // h))
    assert (mask.sum(0) == m).all()
    assert int(mask.sum()) >= k * batch
    if (k * batch) % h == 0:
        assert int(mask.sum()) == k * batch
    for j in range(h):
        kept = torch.sort(torch.topk(p[:, j], m).indices).values
        assert torch.equal(torch.nonzero(mask[:, j]).flatten(), kept)


def test_metrics():
    x = torch.randn(50, 6)
    assert normalized_mse(x, x) == 0.0
    assert abs(normalized_mse(x, x.mean(0, keepdim=True).expand_as(x)) - 1) < 1e-6
    z = torch.zeros(4, 5)
    z[0, 1] = z[1, 1] = z[2, 3] = 1.0
    assert l0_norm(z) == 0.75
    assert dead_latent_fraction(z) == 0.6


@pytest.mark.parametrize("cls", [TopKSAE, FeatureChoiceSAE, MutualChoiceSAE])
def test_budget_of_each_sae(cls):
    sae = cls(8, 32, k=4)
    with torch.no_grad():
        _, z = sae(torch.randn(64, 8) + 3.0)
    assert l0_norm(z) <= 4 + 1e-9


def test_training_learns_a_planted_dictionary():
    g = torch.Generator().manual_seed(0)
    D = torch.randn(16, 48, generator=g)
    D /= D.norm(dim=0)
    codes = torch.zeros(3000, 48)
    idx = torch.stack([torch.randperm(48, generator=g)[:3] for _ in range(3000)])
    codes.scatter_(1, idx, torch.rand(3000, 3, generator=g) + 0.5)
    X = codes @ D.T
    results = {}
    for name, sae in [("topk", TopKSAE(16, 64, k=3, k_aux=8, dead_after=500)),
                      ("relu", ReLUSAE(16, 64, l1_coef=0.05))]:
        hist = train_sae(sae, X, n_steps=600, batch_size=128, lr=3e-3, seed=0)
        assert hist["mse"][-50:].mean() < hist["mse"][:50].mean() / 2
        with torch.no_grad():
            x_hat, z = sae(X)
        results[name] = (normalized_mse(X, x_hat), l0_norm(z))
        assert torch.allclose(sae.W_dec.norm(dim=0), torch.ones(64), atol=1e-5)
    assert results["topk"][0] < 0.25 and results["topk"][1] <= 3
    assert results["relu"][0] < 0.25


def test_auxk_loss_revives_dead_latents():
    torch.manual_seed(0)
    X = torch.randn(2000, 16, generator=torch.Generator().manual_seed(1))
    sae = TopKSAE(16, 64, k=2, k_aux=8, dead_after=64)
    with torch.no_grad():
        sae.b_enc[32:] = -3.0               # half the latents start dead
    sae.train()
    out = sae.loss(X[:128])
    out = sae.loss(X[128:256])
    assert float(out["aux"]) > 0           # dead latents detected and the AuxK term is active
    no_aux = TopKSAE(16, 64, k=2, dead_after=64)
    with torch.no_grad():
        no_aux.b_enc[32:] = -3.0
    train_sae(sae, X, n_steps=300, batch_size=128, lr=1e-2, init_bias=False)
    train_sae(no_aux, X, n_steps=300, batch_size=128, lr=1e-2, init_bias=False)
    with torch.no_grad():
        dead_aux = dead_latent_fraction(sae.encode(X))
        dead_no = dead_latent_fraction(no_aux.encode(X))
    assert dead_no >= 0.45 and dead_aux < dead_no


def test_seed_determinism():
    X = torch.randn(300, 8, generator=torch.Generator().manual_seed(0))
    outs = []
    for _ in range(2):
        sae = TopKSAE(8, 16, k=2, seed=3)
        train_sae(sae, X, n_steps=20, batch_size=32, seed=5)
        outs.append(sae.W_dec.detach().clone())
    assert torch.equal(outs[0], outs[1])


def test_bad_input():
    with pytest.raises(ValueError, match="k must be <= 32"):
        TopKSAE(8, 32, k=33)
    with pytest.raises(ValueError, match="k must be >= 1"):
        MutualChoiceSAE(8, 32, k=0)
    with pytest.raises(ValueError, match="k must be <="):
        topk_activation(torch.zeros(2, 3), 4)
    with pytest.raises(TypeError, match="k must be an integer"):
        feature_choice_mask(torch.zeros(2, 3), 1.5)
    with pytest.raises(ValueError, match="l1_coef"):
        ReLUSAE(8, 32, l1_coef=0.0)
    with pytest.raises(ValueError, match="8 columns"):
        TopKSAE(8, 32, k=2)(torch.zeros(4, 7))
    with pytest.raises(TypeError, match="torch.Tensor"):
        TopKSAE(8, 32, k=2)(torch.zeros(4, 8).numpy())
    with pytest.raises(ValueError, match="2-D"):
        l0_norm(torch.zeros(3))
    with pytest.raises(ValueError, match="zero variance"):
        normalized_mse(torch.ones(3, 2), torch.ones(3, 2))
    with pytest.raises(ValueError, match="lr"):
        train_sae(TopKSAE(8, 32, k=2), torch.randn(10, 8), lr=-1.0, batch_size=5)
    with pytest.raises(ValueError, match="batch_size"):
        train_sae(TopKSAE(8, 32, k=2), torch.randn(10, 8), batch_size=11)
    with pytest.raises(TypeError, match="sparse autoencoder"):
        train_sae(torch.nn.Linear(2, 2), torch.randn(10, 2))
