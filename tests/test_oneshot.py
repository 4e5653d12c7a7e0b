"""One-shot pruning of language models: SparseGPT against a direct OBS reference, exact densities,
N:M patterns, DSnoT, SliceGPT's invariance, EvoPress, bad input and the docstring examples."""

import doctest
import importlib

import numpy as np
import pytest
import torch

from sparsecourse.models import LlamaLM, ModelConfig
from sparsecourse.pruning import oneshot as os1


def tiny_model(seed=0):
    cfg = ModelConfig(vocab_size=64, d_model=16, n_heads=2, n_layers=2, d_ff=24,
                      activation="swiglu", max_seq_len=32)
    return LlamaLM(cfg, seed=seed)


def calib(seed=0, n=6, T=16):
    return torch.randint(0, 64, (n, T), generator=torch.Generator().manual_seed(seed))


def layer(seed=0, out=6, n=12, tokens=40):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, tokens)) * rng.uniform(0.2, 3, size=(n, 1))
    return rng.normal(size=(out, n)), X @ X.T


@pytest.mark.parametrize("kw", [dict(density=0.5), dict(density=0.3), dict(nm=(2, 4)),
                                dict(nm=(1, 4))])
@pytest.mark.parametrize("seed", [0, 1])
def test_sparsegpt_one_block_equals_direct_obs_reference(kw, seed):
    W, H = layer(seed)
    got = os1.sparsegpt(W, H, blocksize=W.shape[1], damp=0.0, **kw)
    np.testing.assert_allclose(got, os1.obs_reference(W, H, **kw), atol=1e-10)


def test_sparsegpt_lazy_batches_equal_one_block_for_nm():
    # With N:M the mask of a column is chosen when it is reached, so blocks change nothing.
    W, H = layer(3, out=5, n=16)
    one = os1.sparsegpt(W, H, nm=(2, 4), blocksize=16, damp=0.0)
    np.testing.assert_allclose(os1.sparsegpt(W, H, nm=(2, 4), blocksize=4, damp=0.0), one,
                               atol=1e-10)


def test_sparsegpt_beats_magnitude_on_reconstruction_and_keeps_types():
    W, H = layer(2, out=20, n=32, tokens=100)
    for kw in (dict(density=0.5), dict(nm=(2, 4))):
        sg = os1.sparsegpt(W, H, **kw)
        mag = W * os1.magnitude_mask(W, **kw).numpy()
        assert os1.reconstruction_error(W, sg, H) < os1.reconstruction_error(W, mag, H)
    W32 = torch.from_numpy(W).float()
    out = os1.sparsegpt(W32, torch.from_numpy(H), density=0.5)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    out = os1.sparsegpt(W.astype(np.float32), H, density=0.5)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32


def groups_ok(W, n, m):
    g = (np.asarray(W) != 0).reshape(W.shape[0], -1, m).sum(-1)
    return bool((g == n).all())


@pytest.mark.parametrize("method", os1.METHODS)
def test_prune_model_reaches_density_exactly_and_nm_exactly(method):
    model = tiny_model()
    pm = os1.prune_model(model, method, density=0.3, calib=calib())
    for name, mod in os1.linear_layers(pm).items():
        assert int((mod.weight != 0).sum()) == round(mod.weight.numel() * 0.3), name
    assert os1.model_density(model) == 1.0  # the original is untouched
    pm = os1.prune_model(model, method, nm=(2, 4), calib=calib())
    for mod in os1.linear_layers(pm).values():
        assert groups_ok(mod.weight.detach().numpy(), 2, 4)


def test_prune_model_is_sequential_and_errors_are_reported():
    model = tiny_model()
    pm, err = os1.prune_model(model, "sparsegpt", density=0.5, calib=calib(), return_errors=True)
    assert set(err) == set(os1.linear_layers(model)) and all(0 < e < 1 for e in err.values())
    # Layer 1 was calibrated on the pruned layer 0: its H differs from the dense model's.
    dense = os1.collect_grams(model, calib())
    _, err2 = os1.prune_model(model, "wanda", density=0.5, calib=calib(), return_errors=True)
    k = "model.layers.1.self_attn.q_proj"
    W = os1.linear_layers(model)[k].weight.detach().double()
    Wp = os1.linear_layers(os1.prune_model(model, "wanda", density=0.5, calib=calib()))[k]
    assert abs(os1.reconstruction_error(W, Wp.weight.detach().double(), dense[k]["H"])
               - err2[k]) > 1e-6


def test_dsnot_keeps_counts_and_never_increases_the_error():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(24, 200)) + rng.normal(size=(24, 1))  # non-zero means
    W = rng.normal(size=(10, 24))
    H, mu = X @ X.T, X.mean(1)
    for nm, Wp in ((None, W * os1.wanda_mask(W, H, density=0.4).numpy()),
                   ((2, 4), W * os1.wanda_mask(W, H, nm=(2, 4)).numpy())):
        out = os1.dsnot(W, Wp, H, mu, nm=nm)
        assert ((out != 0).sum(1) == (Wp != 0).sum(1)).all()
        assert os1.reconstruction_error(W, out, H) <= os1.reconstruction_error(W, Wp, H) + 1e-12
        if nm:
            assert groups_ok(out, *nm)
    assert os1.reconstruction_error(W, out, H) < os1.reconstruction_error(W, Wp, H)


def test_slicegpt_zero_fraction_is_the_same_function_and_slicing_shrinks():
    model, ids = tiny_model(), calib()
    with torch.no_grad():
        ref = model(ids)
        torch.testing.assert_close(os1.slicegpt(model, 0.0, calib=ids)(ids), ref,
                                   atol=1e-4, rtol=1e-4)
        s = os1.slicegpt(model, 0.25, calib=ids)
        assert s.layers[0].self_attn.q_proj.weight.shape == (16, 12)
        assert s(ids).shape == ref.shape


def test_evopress_keeps_the_total_and_never_gets_worse():
    model, ids = tiny_model(), calib()
    pm, dens, hist = os1.evopress(model, 0.5, ids, generations=3, offspring=3, seed=0)
    assert all(b <= a for a, b in zip(hist, hist[1:], strict=False))
    lin = os1.linear_layers(model)
    kept = sum(dens[k] * lin[k].weight.numel() for k in lin)
    assert abs(kept / sum(m.weight.numel() for m in lin.values()) - 0.5) < 1e-9
    assert abs(os1.model_density(pm) - 0.5) < 0.01


def test_bad_input():
    W, H = layer()
    for d in (0, -0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="density"):
            os1.sparsegpt(W, H, density=d)
    with pytest.raises(ValueError, match="exactly one"):
        os1.sparsegpt(W, H)
    with pytest.raises(ValueError, match="exactly one"):
        os1.sparsegpt(W, H, density=0.5, nm=(2, 4))
    with pytest.raises(ValueError, match="0 < n < m"):
        os1.sparsegpt(W, H, nm=(4, 4))
    with pytest.raises(ValueError, match="not divisible by m"):
        os1.sparsegpt(W[:, :10], H[:10, :10], nm=(2, 4))
    Wn = W.copy()
    Wn[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        os1.sparsegpt(Wn, H, density=0.5)
    with pytest.raises(ValueError, match="shape"):
        os1.sparsegpt(W, H[:5, :5], density=0.5)
    with pytest.raises(TypeError):
        os1.sparsegpt(W.tolist(), H, density=0.5)
    with pytest.raises(ValueError, match="method"):
        os1.prune_model(tiny_model(), "random", density=0.5)
    with pytest.raises(ValueError, match="fraction"):
        os1.slicegpt(tiny_model(), 1.0)
    model = tiny_model()
    with torch.no_grad():
        model.model.layers[0].mlp.up_proj.weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        os1.prune_model(model, "magnitude", density=0.5)


def test_singular_h_warns_and_is_dampened():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 4))  # rank 4 < 12: H singular
    W = rng.normal(size=(3, 12))
    with pytest.warns(RuntimeWarning, match="not positive definite"):
        out = os1.sparsegpt(W, X @ X.T, density=0.5, damp=0.0)
    assert np.isfinite(out).all() and (out != 0).sum() == 18


def test_doctests():
    mod = importlib.import_module("sparsecourse.pruning.oneshot")
    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0


def test_exercise_checks_accept_right_and_reject_wrong_answers():
    from sparsecourse.checks import check_nm_mask, check_obs_update
    from sparsecourse.kernels import nm_mask

    def obs(w, H, j):
        Hinv = np.linalg.inv(H)
        return w - w[j] / Hinv[j, j] * Hinv[:, j]

    def zero_only(w, H, j):  # magnitude-style: no repair
        w = w.copy()
        w[j] = 0
        return w

    assert check_obs_update(obs)
    assert not check_obs_update(zero_only)
    assert "raised" in repr(check_obs_update(lambda w, H, j: 1 / 0))
    assert check_nm_mask(nm_mask)
    assert not check_nm_mask(lambda W, n, m: np.abs(W) > 0)
    assert not check_nm_mask(lambda W, n, m: nm_mask(-np.abs(W) + 10, n, m))
