"""Tests of sparsecourse.activation: measurement, CATS/TEAL/CHESS/top-k, predictor, PPL-p%."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from sparsecourse.activation import (
    CATS,
    CHESS,
    TEAL,
    TopK,
    activation_sparsity,
    cett,
    cett_threshold,
    collect_mlp_activations,
    find_blocks,
    find_mlps,
    magnitude_mask,
    magnitude_sparsity,
    mask_activations,
    mask_linear_inputs,
    ppl_p_sparsity,
    previous_token_baseline,
    recall_precision,
    train_predictor,
)
from sparsecourse.models import LlamaLM, ModelConfig, load_corpus

VOCAB = 2048


def _model(activation="swiglu", seed=0, d_ff=96, n_layers=2):
    cfg = ModelConfig(vocab_size=VOCAB, d_model=32, n_layers=n_layers, n_heads=4, d_ff=d_ff,
                      max_seq_len=64, activation=activation)
    return LlamaLM(cfg, seed=seed).eval()


def _hf_llama(seed=0):
    transformers = pytest.importorskip(
        "transformers", reason="transformers is optional (pip install sparsecourse[hf])")
    cfg = transformers.LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64,
                                   num_hidden_layers=2, num_attention_heads=4,
                                   num_key_value_heads=4, max_position_embeddings=64)
    torch.manual_seed(seed)
    return transformers.LlamaForCausalLM(cfg).eval()


def _logits(model, ids):
    out = model(ids)
    return out.logits if hasattr(out, "logits") else out


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # tiny matrices: a second thread only adds synchronisation (and stalls on a busy machine)
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def text():
    return {"train": load_corpus("train")[:40_000], "val": load_corpus("validation")[:20_000]}


def _held_out(text, n=8, T=64):
    g = torch.Generator().manual_seed(123)
    starts = torch.randint(0, text["val"].numel() - T, (n,), generator=g)
    return text["val"][starts[:, None] + torch.arange(T)]


# --- reaching the requested sparsity on held-out text --------------------------------------


@pytest.mark.parametrize("make", [_model, _hf_llama], ids=["ours", "transformers"])
@pytest.mark.parametrize("target", [0.4, 0.7])
def test_cats_reaches_target_on_held_out_text(text, make, target):
    model = make()
    cats = CATS(target, n_seqs=16, seq_len=64, seed=0).calibrate(model, text["train"])
    with torch.no_grad(), cats.apply(model) as h:
        _logits(model, _held_out(text))
        reached = h.sparsity()
    assert abs(reached - target) <= 0.02, reached


@pytest.mark.parametrize("make", [_model, _hf_llama], ids=["ours", "transformers"])
@pytest.mark.parametrize("greedy", [True, False])
def test_teal_reaches_model_wide_target(text, make, greedy):
    model = make()
    teal = TEAL(0.5, greedy=greedy, n_seqs=16, seq_len=64, seed=0).calibrate(
        model, text["train"])
    with torch.no_grad(), teal.apply(model) as h:
        _logits(model, _held_out(text))
        reached = h.sparsity()
        per_site = h.sparsity(per_site=True)
    assert abs(reached - 0.5) <= 0.02, reached
    assert len(per_site) == 2 * 7  # q k v o gate up down in each of the two blocks
    if greedy:  # the allocation is not uniform: some projection is sparser than another
        alloc = teal.allocation()[0]
        assert max(alloc.values()) - min(alloc.values()) > 0.05, alloc


def test_chess_reaches_target_and_is_channel_wise(text):
    model = _model()
    chess = CHESS(0.5, attention=True, n_seqs=16, seq_len=64).calibrate(model, text["train"])
    mlp_t, lin_t = chess.thresholds()
    assert all(t.shape == (96,) and t.std() > 0 for t in mlp_t.values())
    assert sorted(k.rsplit(".", 1)[1] for k in lin_t) == ["o_proj", "o_proj", "q_proj",
                                                          "q_proj"]
    with torch.no_grad(), chess.apply(model) as h:
        model(_held_out(text))
        fr = h.sparsity(per_site=True)
    for name in ("model.layers.0.mlp", "model.layers.1.mlp"):
        assert abs(fr[name] - 0.5) <= 0.02, fr
    for name in lin_t:
        assert abs(fr[name] - 0.5) <= 0.03, fr


def test_topk_keeps_k_per_token():
    model = _model("gelu", d_ff=40)
    ids = torch.randint(0, VOCAB, (2, 16), generator=torch.Generator().manual_seed(1))
    acts = []
    with TopK(0.75).apply(model):
        hooks = [m.down_proj.register_forward_pre_hook(lambda m, a: acts.append(a[0]))
                 for _, m in find_mlps(model)]
        model(ids)
    for h in hooks:
        h.remove()
    for a in acts:
        assert ((a != 0).sum(-1) == 10).all()


# --- thresholding is masking; removal restores the model -----------------------------------


def test_cats_equals_hand_masked_mlp(text):
    model = _model()
    cats = CATS(0.5, n_seqs=8, seq_len=64).calibrate(model, text["train"])
    mlp = model.model.layers[1].mlp
    t = cats.thresholds()["model.layers.1.mlp"]
    x = torch.randn(3, 5, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a = nn.functional.silu(mlp.gate_proj(x))
        expected = mlp.down_proj(torch.where(a.abs() > t, a, 0.0) * mlp.up_proj(x))
        with cats.apply(model):
            got = mlp(x)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    assert (a.abs() <= t).float().mean() > 0.3  # the mask did remove something


def test_teal_hook_equals_masked_linear(text):
    model = _model()
    teal = TEAL(0.5, greedy=False, n_seqs=8, seq_len=64).calibrate(model, text["train"])
    name = "model.layers.0.mlp.down_proj"
    t = teal.thresholds()[name]
    lin = dict(model.named_modules())[name]
    x = torch.randn(4, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad(), teal.apply(model):
        got = lin(x)
    expected = nn.functional.linear(torch.where(x.abs() > t, x, 0.0), lin.weight)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


@pytest.mark.parametrize("make", [_model, _hf_llama], ids=["ours", "transformers"])
def test_removal_restores_outputs_exactly(text, make):
    model = make()
    ids = _held_out(text, n=2, T=32)
    with torch.no_grad():
        dense = _logits(model, ids).clone()
    acts = [m.act_fn for _, m in find_mlps(model)]
    methods = [CATS(0.6, n_seqs=8, seq_len=32), TEAL(0.5, n_seqs=8, seq_len=32),
               CHESS(0.5, n_seqs=8, seq_len=32), TopK(0.5)]
    for method in methods:
        method.calibrate(model, text["train"])
        with torch.no_grad():
            with method.apply(model):
                sparse = _logits(model, ids)
            assert not torch.equal(sparse, dense), type(method).__name__
            assert torch.equal(_logits(model, ids), dense), type(method).__name__
        handle = method.apply(model)
        handle.remove()
        handle.remove()  # idempotent
        assert [m.act_fn for _, m in find_mlps(model)] == acts
        assert not any(m._forward_pre_hooks or m._forward_hooks for m in model.modules())


def test_zero_sparsity_changes_nothing(text):
    model = _model("relu")
    ids = _held_out(text, n=2, T=32)
    dense = model(ids)
    for method in (CATS(0.0, n_seqs=4, seq_len=32), TEAL(0.0, greedy=False, n_seqs=4,
                                                           seq_len=32)):
        method.calibrate(model, text["train"])
        with method.apply(model):
            torch.testing.assert_close(model(ids), dense, rtol=0, atol=0)


def test_calibration_is_deterministic(text):
    model = _model()
    a = CATS(0.5, seed=3, n_seqs=8, seq_len=32).calibrate(model, text["train"]).thresholds()
    b = CATS(0.5, seed=3, n_seqs=8, seq_len=32).calibrate(model, text["train"]).thresholds()
    c = CATS(0.5, seed=4, n_seqs=8, seq_len=32).calibrate(model, text["train"]).thresholds()
    assert a == b and a != c


# --- measuring -----------------------------------------------------------------------------


def test_relu_exact_zero_sparsity_matches_direct_count(text):
    model = _model("relu")
    ids = _held_out(text, n=4, T=32)
    rep = activation_sparsity(model, ids)
    # layer 1's MLP input is the residual stream after layer 1's attention:
    x1 = model.model.layers[0](model.model.embed_tokens(ids))
    lay = model.model.layers[1]
    x1 = x1 + lay.self_attn(lay.input_layernorm(x1))
    h = lay.mlp.act_fn(lay.mlp.up_proj(lay.post_attention_layernorm(x1)))
    assert rep.per_layer[1] == pytest.approx(float((h == 0).float().mean()), abs=1e-7)
    assert rep.per_token.shape == (2, 4 * 32)
    assert rep.per_token.mean(1) == pytest.approx(rep.per_layer)


def test_cett_on_planted_layer():
    h = torch.tensor([[4.0, 0.0, 0.3, -0.4]])
    w = torch.eye(4)
    assert cett(h, w, 0.0) == 0.0
    assert cett(h, w, 0.35) == pytest.approx(0.3 / math.sqrt(16 + 0.09 + 0.16))
    assert cett(h, w, 0.5) == pytest.approx(0.5 / math.sqrt(16.25))
    assert cett(h, w, 10.0) == pytest.approx(1.0)
    w2 = torch.diag(torch.tensor([1.0, 1.0, 10.0, 1.0]))  # neuron 2's column is 10x longer
    assert cett(h, w2, 0.5) == pytest.approx(0.4 / math.sqrt(16 + 9 + 0.16))
    g = torch.Generator().manual_seed(0)
    hh, ww = torch.randn(200, 64, generator=g), torch.randn(16, 64, generator=g)
    eps = cett_threshold(hh, ww, 0.2)
    assert cett(hh, ww, eps) == pytest.approx(0.2, abs=0.01)


def test_magnitude_sparsity_and_mask_agree(text):
    model = _model("swiglu")
    ids = _held_out(text, n=4, T=32)
    rep = magnitude_sparsity(model, ids, cett=0.2)
    assert 0.05 < rep.mean < 0.95
    eps = dict(zip(rep.names, rep.thresholds.tolist(), strict=True))
    with torch.no_grad(), magnitude_mask(model, eps) as h:
        model(ids)
    # layer 0 sees the same input as in the dense pass: the same neurons are dropped
    fr0 = h.sparsity(per_site=True)["model.layers.0.mlp.down_proj"]
    assert fr0 == pytest.approx(rep.per_layer[0], abs=1e-6)
    assert h.sparsity() == pytest.approx(rep.mean, abs=0.02)  # later layers' inputs moved
    # with cett=0 nothing is dropped in a SwiGLU model (no exact zeros)
    assert magnitude_sparsity(model, ids, cett=0.0).mean == 0.0


def test_ppl_p_sparsity_on_toy_curve():
    s = [0.0, 0.1, 0.3, 0.5, 0.7]
    ppl = [20.0, 20.0, 20.1, 20.4, 22.0]  # 1% = 20.2: crossed between 0.3 and 0.5
    assert ppl_p_sparsity(s, ppl, p=1.0) == pytest.approx(0.3 + 0.2 * (0.1 / 0.3))
    assert ppl_p_sparsity(s, ppl, p=5.0) == pytest.approx(0.5 + 0.2 * (0.6 / 1.6))
    assert ppl_p_sparsity(s[::-1], ppl[::-1], p=1.0) == pytest.approx(0.3 + 0.2 / 3)
    with pytest.warns(RuntimeWarning, match="never rises"):
        assert ppl_p_sparsity(s, ppl, p=50.0) == 0.7


def test_ppl_p_with_dense_reference():
    s, ppl = [0.2, 0.4, 0.6], [10.05, 10.15, 10.5]
    # dense 10.0: 1% = 10.1, crossed between 0.2 and 0.4 at half way
    assert ppl_p_sparsity(s, ppl, p=1.0, dense_ppl=10.0) == pytest.approx(0.3)


# --- predictivity --------------------------------------------------------------------------


def test_recall_precision_planted():
    actual = torch.zeros(10, 20, dtype=torch.bool)
    actual[:, :5] = True                     # 50 active
    pred = torch.zeros_like(actual)
    pred[:, 2:8] = True                      # 60 predicted, 30 of them right
    r = recall_precision(pred, actual)
    assert r["recall"] == pytest.approx(30 / 50)
    assert r["precision"] == pytest.approx(30 / 60)
    assert r["density"] == pytest.approx(0.25) and r["predicted_density"] == pytest.approx(0.3)


def test_previous_token_baseline_planted():
    a = torch.zeros(1, 4, 6, dtype=torch.bool)
    a[0, 0, [0, 1]] = True
    a[0, 1, [0, 1, 2]] = True   # 2 of 3 predicted by token 0, no false positives
    a[0, 2, [3]] = True         # 0 of 1, 3 false positives
    a[0, 3, [3, 4]] = True      # 1 of 2, 0 false positives
    r = previous_token_baseline(a)
    assert r["recall"] == pytest.approx(3 / 6)
    assert r["precision"] == pytest.approx(3 / 6)


def test_predictor_beats_chance_on_a_real_layer(text):
    model = _model("relu")
    acts = collect_mlp_activations(model, text["train"], inputs=True, n_seqs=32, seq_len=64)
    a = acts["model.layers.1.mlp"]
    active = a["h"] > 0
    x_tr, x_te = a["x"][:24], a["x"][24:]
    y_tr, y_te = active[:24], active[24:]
    pred = train_predictor(x_tr, y_tr, rank=32, epochs=20, seed=0)
    r = recall_precision(pred.predict(x_te), y_te)
    density = float(y_te.float().mean())
    assert r["recall"] > 0.8 and r["precision"] > density + 0.2, (r, density)


# --- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, float("nan")])
def test_bad_sparsity(bad):
    for cls in (CATS, TEAL, CHESS, TopK):
        with pytest.raises(ValueError, match="sparsity"):
            cls(bad)
    with pytest.raises(TypeError, match="sparsity"):
        CATS("half")


def test_bad_thresholds_and_models(text):
    model = _model()
    with pytest.raises(ValueError, match="threshold.*>= 0"):
        mask_activations(model, -1.0)
    with pytest.raises(ValueError, match="finite"):
        mask_activations(model, float("nan"))
    with pytest.raises(ValueError, match="unknown MLPs"):
        mask_activations(model, {"nope": 0.1})
    with pytest.raises(ValueError, match="nn.Linear"):
        mask_linear_inputs(model, {"model.layers.0.mlp": 0.1})
    with pytest.raises(ValueError, match="shape"):
        mask_linear_inputs(model, {"model.layers.0.mlp.down_proj": torch.ones(3)})
    assert not any(m._forward_pre_hooks for m in model.modules())  # failed apply left nothing
    with pytest.raises(ValueError, match="Llama-style MLP naming"):
        TopK(0.5).apply(nn.Sequential(nn.Linear(4, 4), nn.ReLU()))
    with pytest.raises(TypeError, match="model"):
        find_mlps("not a model")
    with pytest.raises(RuntimeError, match="calibrate"):
        CATS(0.5).apply(model)
    cats = CATS(0.5, n_seqs=4, seq_len=32).calibrate(model, text["train"])
    with pytest.raises(ValueError, match="another model"):
        cats.apply(_model(seed=1))
    with pytest.raises(TypeError, match="integer token ids"):
        CATS(0.5).calibrate(model, torch.randn(100))
    with pytest.raises(ValueError, match="max_sparsity"):
        TEAL(0.5, max_sparsity=0.3)
    teal = TEAL(0.3, n_seqs=4, seq_len=32).calibrate(model, text["train"])
    with pytest.raises(ValueError, match="max_sparsity"):
        teal.apply(model, sparsity=0.6)
    with pytest.raises(ValueError, match="p must be"):
        ppl_p_sparsity([0, 1], [1, 2], p=-1)
    with pytest.raises(ValueError, match="same length"):
        ppl_p_sparsity([0, 1], [1, 2, 3])
    with pytest.raises(TypeError, match="boolean"):
        recall_precision(torch.ones(3), torch.ones(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="shape"):
        recall_precision(torch.ones(3, dtype=torch.bool), torch.ones(4, dtype=torch.bool))
    with pytest.raises(ValueError, match="eps"):
        cett(torch.ones(2, 4), torch.ones(3, 4), -1.0)


def test_blocks_of_both_model_kinds():
    for make in (_model, _hf_llama):
        blocks = find_blocks(make())
        assert [sorted(b["linears"]) for b in blocks] == [
            sorted(["q", "k", "v", "o", "gate", "up", "down"])] * 2


# --- exercise checks and doctests ----------------------------------------------------------


def test_checks_accept_right_and_reject_wrong_answers():
    from sparsecourse import checks
    from sparsecourse.activation import cett as ref_cett

    assert checks.check_laplace_threshold(lambda s, b: -b * math.log(1 - s))
    assert not checks.check_laplace_threshold(lambda s, b: b * math.log(2) * s / 0.5)
    assert checks.check_cats_block_speedup(lambda s: 3 / (3 - 2 * s))
    wrong = checks.check_cats_block_speedup(lambda s: 1 / (1 - s))
    assert not wrong and "gate product" in wrong.message
    assert checks.check_cett(ref_cett)
    assert not checks.check_cett(lambda h, w, e: ref_cett(h, w, e / 2))
    assert not checks.check_cett(lambda h, w, e: 1 / 0)
    prev = checks.check_previous_token_recall(
        lambda a: previous_token_baseline(a)["recall"])
    assert prev
    # flattening across sequences pairs the last token of one with the first of the next
    flat = checks.check_previous_token_recall(
        lambda a: recall_precision(a.reshape(-1, a.shape[-1])[:-1],
                                   a.reshape(-1, a.shape[-1])[1:])["recall"])
    assert not flat


@pytest.mark.parametrize("name", ["sparsecourse.activation._core",
                                  "sparsecourse.activation.measure",
                                  "sparsecourse.activation.methods",
                                  "sparsecourse.activation.predictor",
                                  "sparsecourse.checks._activation"])
def test_doctests(name):
    import doctest
    import importlib

    module = importlib.import_module(name)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(optionflags=flags)
    for fname in module.__all__:
        for test in finder.find(getattr(module, fname), fname, globs=dict(vars(module))):
            runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0 and result.attempted > 0


# --- book helpers ------------------------------------------------------------------------


def test_sparsity_sweep_and_predictivity(text):
    from sparsecourse.activation import predictivity, sparsity_sweep

    model = _model("gelu", d_ff=40).requires_grad_(False)
    ids = _held_out(text, n=2, T=32)
    dense = float(nn.functional.cross_entropy(model(ids)[:, :-1].reshape(-1, VOCAB),
                                              ids[:, 1:].reshape(-1)))

    def evaluate(m):
        return float(nn.functional.cross_entropy(m(ids)[:, :-1].reshape(-1, VOCAB),
                                                 ids[:, 1:].reshape(-1)))

    rows = sparsity_sweep(model, {"top-k": TopK(0.5)}, [0.0, 0.75], evaluate)
    assert [r["reached"] for r in rows] == [0.0, 0.75]   # 10 of 40 kept per token
    assert rows[0]["ppl"] == pytest.approx(dense) and rows[1]["ppl"] != rows[0]["ppl"]
    p = predictivity(_model("relu"), text["train"], text["val"], epochs=2, n_seqs=8,
                     seq_len=32)
    name, pred_scores, prev_scores = p["per_layer"][0]
    tr = collect_mlp_activations(_model("relu"), text["train"], n_seqs=8, seq_len=32, seed=0)
    te = collect_mlp_activations(_model("relu"), text["val"], n_seqs=8, seq_len=32, seed=1)
    eps = cett_threshold(tr[name]["h"], tr[name]["w_down"], 0.2)   # set on the training text
    active = te[name]["h"].abs() * te[name]["w_down"].norm(dim=0) > eps
    assert prev_scores == previous_token_baseline(active)
    assert 0 < p["predictor"]["recall"] <= 1


def test_speed_helpers_small_shapes():
    from sparsecourse.activation.speed import cats_block_speed, gemv_speed

    rows = gemv_speed(64, 96, (0.0, 0.5), repeat=2, n_inputs=2)
    assert [r["ideal"] for r in rows] == [1.0, 2.0]
    for r in rows:
        assert r["speedup_numpy"] == pytest.approx(r["numpy_ms"] / r["ours_ms"])
    b = cats_block_speed(16, 64, (0.5,), repeat=2, n_inputs=2)[0]
    assert abs(b["sparsity"] - 0.5) < 0.05 and b["ideal"] == pytest.approx(
        3 / (3 - 2 * b["sparsity"]))
