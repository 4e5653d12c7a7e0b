"""Unrolled networks (chapter 3): LISTA at initialisation is ISTA, ALISTA's weight is optimal,
HyperLISTA reduces to ALISTA, training helps, the full-size training script runs, the exercise
checks, bad input and the doctests."""

import doctest
import importlib

import numpy as np
import pytest
import torch

from sparsecourse.checks import (
    check_alista_weight,
    check_lista_layer,
    check_nmse_db,
    check_topk,
)
from sparsecourse.coding import (
    ALISTA,
    LISTA,
    LISTACPSS,
    BernoulliGaussian,
    HyperLISTA,
    alista_weight,
    batch_fista,
    batch_ista,
    generalized_coherence,
    layer_nmse_db,
    nmse_db,
    soft_threshold_ss,
    train_layerwise,
    tune_hyperlista,
)
from sparsecourse.datasets import gaussian_matrix

MODULES = ["sparsecourse.coding.unrolled", "sparsecourse.coding.autoencoders",
           "sparsecourse.checks._lista"]


@pytest.fixture
def small():
    A = gaussian_matrix(30, 60, seed=3)
    y, x = BernoulliGaussian(A, p=0.1).sample(40, seed=4)
    return A, y, x


@pytest.mark.parametrize("tied", [False, True])
def test_lista_at_init_equals_ista_layer_by_layer(small, tied):
    A, y, _ = small
    lam = 0.05
    net = LISTA(A, n_layers=6, lam=lam, tied=tied)
    with torch.no_grad():
        xs = net(y, return_all=True)
    _, its = batch_ista(y, torch.tensor(A, dtype=torch.float32), lam, n_iter=6,
                        return_iterates=True)
    for a, b in zip(xs, its, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_lista_cp_at_init_equals_ista(small):
    A, y, _ = small
    net = LISTACPSS(A, n_layers=5, lam=0.05, support_selection=False)
    with torch.no_grad():
        xs = net(y, return_all=True)
    _, its = batch_ista(y, torch.tensor(A, dtype=torch.float32), 0.05, n_iter=5,
                        return_iterates=True)
    for a, b in zip(xs, its, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_alista_weight_defining_property():
    A = gaussian_matrix(40, 80, seed=0)
    W = alista_weight(A).double()
    At = torch.tensor(A)
    M = W.T @ At
    torch.testing.assert_close(torch.diag(M), torch.ones(80, dtype=torch.float64), atol=1e-5,
                               rtol=0)
    assert generalized_coherence(W, A) < generalized_coherence(A, A)
    # optimality: KKT of min w^T G w s.t. a_i^T w = 1 is G w_i parallel to a_i ...
    G = At @ At.T
    GW = G @ W
    coef = (GW * At).sum(0) / (At * At).sum(0)
    torch.testing.assert_close(GW, At * coef, atol=1e-4, rtol=1e-4)
    # ... and no feasible perturbation lowers the objective
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        D = torch.randn(40, 80, generator=g, dtype=torch.float64)
        D -= At * (D * At).sum(0) / (At * At).sum(0)          # keeps diag(W^T A) = 1
        assert torch.linalg.norm((W + 1e-2 * D).T @ At) > torch.linalg.norm(M)


def test_hyperlista_without_momentum_and_ss_is_alista(small):
    A, y, _ = small
    hyper = HyperLISTA(A, n_layers=6, c1=0.3, c2=0.0, c3=0.0)
    with torch.no_grad():
        xs = hyper(y, return_all=True)
    thetas = hyper.last_info["theta"]
    alista = ALISTA(A, n_layers=6, support_selection=False)
    x = torch.zeros(y.shape[0], 60)
    for k in range(6):
        with torch.no_grad():
            x = alista.step(x, y, 1.0, thetas[k])
        torch.testing.assert_close(x, xs[k], atol=1e-5, rtol=1e-5)
    assert all(float(b.abs().max()) == 0 for b in hyper.last_info["beta"])


def test_hyperlista_momentum_and_ss_change_the_output(small):
    A, y, _ = small
    base = HyperLISTA(A, n_layers=6, c1=0.3)(y)
    assert not torch.allclose(base, HyperLISTA(A, n_layers=6, c1=0.3, c2=0.05)(y))
    assert not torch.allclose(base, HyperLISTA(A, n_layers=6, c1=0.3, c3=5.0)(y))


def test_soft_threshold_ss_reference():
    g = torch.Generator().manual_seed(0)
    v = torch.randn(7, 30, generator=g)
    out = soft_threshold_ss(v, 0.5, 4)
    for row, o in zip(v, out, strict=True):
        order = torch.argsort(row.abs(), descending=True)
        for rank, i in enumerate(order.tolist()):
            if rank < 4 and abs(row[i]) > 0.5:
                assert o[i] == row[i]
            else:
                assert o[i] == torch.sign(row[i]) * max(abs(row[i]) - 0.5, 0)
    counts = torch.tensor([0, 1, 2, 3, 4, 5, 30])
    out = soft_threshold_ss(v, 0.5, counts)
    for r in range(7):
        torch.testing.assert_close(out[r], soft_threshold_ss(v[r:r + 1], 0.5,
                                                             int(counts[r]))[0])


def test_training_improves_alista_and_listacpss(small):
    A, _, _ = small
    dist = BernoulliGaussian(A, p=0.1)
    y, x = dist.sample(500, seed=11)
    for net, lr in [(ALISTA(A, n_layers=4), 1e-2), (LISTACPSS(A, n_layers=4), 1e-3)]:
        before = layer_nmse_db(net, y, x)
        losses = train_layerwise(net, lambda b, g: dist.sample(b, generator=g), n_steps=40,
                                 lr=lr, seed=0)
        after = layer_nmse_db(net, y, x)
        assert len(losses) == 4
        assert after[-1] < before[-1] - 1.0


def test_tuned_hyperlista_beats_16_fista_iterations():
    A = gaussian_matrix(50, 100, seed=1)
    dist = BernoulliGaussian(A, p=0.05)
    y, x = dist.sample(200, seed=0)
    yt, xt = dist.sample(200, seed=1)
    net = HyperLISTA(A, n_layers=16)
    res = tune_hyperlista(net, y, x, c1_grid=np.geomspace(0.01, 1, 8),
                          c2_grid=[0.0, 0.02, 0.05], c3_grid=[0.0, 10.0, 20.0], n_rounds=1)
    assert res["n_evals"] == 1 + 8 + 3 + 3
    best_fista = min(nmse_db(batch_fista(yt, dist.A, lam, n_iter=16), xt)
                     for lam in (0.01, 0.05, 0.2))
    assert nmse_db(net(yt), xt) < best_fista - 10


def test_nmse_and_layer_nmse():
    x = torch.randn(5, 10)
    assert abs(nmse_db(x * 1.01, x) + 40) < 1e-3
    A = gaussian_matrix(10, 20, seed=0)
    y, x = BernoulliGaussian(A, p=0.2).sample(10, seed=0)
    assert layer_nmse_db(LISTA(A, n_layers=3), y, x).shape == (3,)


def test_bernoulli_gaussian_snr():
    A = gaussian_matrix(50, 100, seed=0)
    dist = BernoulliGaussian(A, p=0.1, snr_db=20)
    y, x = dist.sample(4000, seed=0)
    clean = x @ dist.A.T
    snr = 10 * np.log10(float((clean**2).sum() / ((y - clean) ** 2).sum()))
    assert abs(snr - 20) < 0.5
    y2, x2 = dist.sample(4000, seed=0)
    assert torch.equal(y, y2) and torch.equal(x, x2)


def test_train_unrolled_script_small(tmp_path):
    from sparsecourse.coding import train_unrolled as tu

    metas = tu.main(["--m", "12", "--n", "24", "--layers", "2", "--steps", "3", "--batch", "16",
                     "--n-test", "50", "--out", str(tmp_path)])
    assert len(metas) == 8
    A = gaussian_matrix(12, 24, seed=0)
    for meta in metas:
        net, stored = tu.load_pretrained(meta["model"], meta["setting"], A, path=tmp_path)
        y, x = BernoulliGaussian(A, p=0.1, snr_db=stored["snr_db"]).sample(50, seed=1000)
        np.testing.assert_allclose(layer_nmse_db(net, y, x), stored["test_nmse_db_stored"],
                                   atol=1e-2)
    with pytest.raises(ValueError, match="another dictionary"):
        tu.load_pretrained("alista", "noiseless", gaussian_matrix(12, 24, seed=1), path=tmp_path)


def test_load_pretrained_accepts_any_float_dtype_and_says_what_differs():
    """The stored full-size networks load for the standard dictionary in float64, float32
    (NumPy or torch, including the network's own ``net.A``); another dictionary is refused with
    a message that names what differs. The loader is exported from ``sparsecourse.coding``."""
    from sparsecourse.coding import load_pretrained
    from sparsecourse.coding import train_unrolled as tu

    assert load_pretrained is tu.load_pretrained
    A = gaussian_matrix(250, 500, seed=0)
    net, meta = load_pretrained("lista", "noiseless", A)
    y = torch.as_tensor(A[:, :3].T.copy(), dtype=torch.float32)
    for A_other in (A.astype(np.float32), torch.from_numpy(A).float(), net.A):
        net2, _ = load_pretrained("lista", "noiseless", A_other)
        torch.testing.assert_close(net2(y), net(y))
    with pytest.raises(ValueError, match=r"sum\(A\) = .* for this A \(float64\)"):
        load_pretrained("lista", "noiseless", gaussian_matrix(250, 500, seed=1))
    A_moved = A.astype(np.float32)
    A_moved[0, 0] += 0.01  # one entry moved by far more than float32 rounding
    with pytest.raises(ValueError, match=r"for this A \(float32\)"):
        load_pretrained("lista", "noiseless", A_moved)
    with pytest.raises(ValueError, match=r"shape \(250, 499\).*\(250, 500\)"):
        load_pretrained("lista", "noiseless", A[:, :499])
    with pytest.raises(ValueError, match="model must be one of"):
        load_pretrained("fista", "noiseless", A)


# ------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------

def test_bad_input(small):
    A, y, _ = small
    with pytest.raises(ValueError, match="lam"):
        LISTA(A, lam=0.0)
    with pytest.raises(ValueError, match="lam"):
        LISTACPSS(A, lam=-1.0)
    with pytest.raises(ValueError, match="n_layers"):
        ALISTA(A, n_layers=0)
    with pytest.raises(ValueError, match="y must have shape"):
        LISTA(A, n_layers=2)(torch.zeros(3, 31))
    with pytest.raises(ValueError, match="A must be 2-D"):
        LISTA(np.zeros(5))
    with pytest.raises(ValueError, match="W must have the shape"):
        ALISTA(A, W=np.zeros((30, 59)))
    with pytest.raises(ValueError, match="full row rank"):
        alista_weight(np.ones((3, 6)))
    with pytest.raises(ValueError, match="c1"):
        HyperLISTA(A, c1=0.0)
    with pytest.raises(ValueError, match="c2"):
        HyperLISTA(A, c2=-1.0)
    with pytest.raises(ValueError, match="count"):
        soft_threshold_ss(torch.zeros(2, 5), 0.1, 6)
    with pytest.raises(ValueError, match="lr"):
        train_layerwise(ALISTA(A, n_layers=2), lambda b, g: (y, y), lr=0.0)
    with pytest.raises(TypeError, match="HyperLISTA"):
        train_layerwise(HyperLISTA(A, n_layers=2), lambda b, g: (y, y))
    with pytest.raises(TypeError, match="HyperLISTA"):
        tune_hyperlista(ALISTA(A), y, y)
    with pytest.raises(ValueError, match="c1_grid"):
        tune_hyperlista(HyperLISTA(A, n_layers=2), y, y, c1_grid=[0.0, 1.0])
    with pytest.raises(ValueError, match="p must"):
        BernoulliGaussian(A, p=0.0)
    with pytest.raises(ValueError, match="shape"):
        nmse_db(torch.zeros(2, 3), torch.ones(3, 2))
    with pytest.raises(ValueError, match="all zeros"):
        nmse_db(torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="n_layers"):
        LISTA(A, n_layers=2)(y, n_layers=3)


# ------------------------------------------------------------------------------------------
# exercise checks
# ------------------------------------------------------------------------------------------

def test_checks_accept_right_and_reject_wrong_answers():
    def layer(x, y, W1, W2, theta):
        v = y @ W1 + x @ W2
        return torch.sign(v) * torch.relu(v.abs() - theta)

    def layer_wrong(x, y, W1, W2, theta):   # forgets the threshold
        return y @ W1 + x @ W2

    assert check_lista_layer(layer)
    assert not check_lista_layer(layer_wrong)
    assert not check_lista_layer(lambda *a: 1 / 0)
    assert check_alista_weight(alista_weight)
    assert not check_alista_weight(lambda A: A / (A * A).sum(0))        # feasible, not optimal
    assert not check_alista_weight(lambda A: np.linalg.pinv(A).T)       # not unit diagonal

    def topk(pre, k):
        vals, idx = pre.topk(k, dim=1)
        return torch.zeros_like(pre).scatter(1, idx, vals).relu()

    def topk_no_relu(pre, k):
        vals, idx = pre.topk(k, dim=1)
        return torch.zeros_like(pre).scatter(1, idx, vals)

    assert check_topk(topk)
    assert not check_topk(topk_no_relu)
    assert check_nmse_db(nmse_db)
    per_sample = check_nmse_db(lambda xh, x: float(
        10 * torch.log10((((xh - x) ** 2).sum(1) / (x**2).sum(1)).mean())))
    assert not per_sample


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    for attr in module.__all__:
        obj = getattr(module, attr)
        assert obj.__doc__ and "Examples" in obj.__doc__, f"{name}.{attr}"
