"""Tests of sparsecourse.models: the small Llama-style LM, its corpus, tokenizer and weights."""

import math

import pytest
import torch
import torch.nn.functional as F

from sparsecourse.models import (
    ACTIVATIONS,
    LlamaLM,
    ModelConfig,
    apply_rotary,
    calibration_batches,
    corpus_checksum,
    evaluate_perplexity,
    list_pretrained,
    load_corpus,
    load_model,
    load_pretrained,
    load_tokenizer,
    read_metadata,
    rotary_tables,
    save_model,
)
from sparsecourse.models import train as train_mod
from sparsecourse.models.io import MODELS_DIR

TINY = dict(vocab_size=2048, d_model=32, n_layers=2, n_heads=4, d_ff=48, max_seq_len=32)


def tiny(activation="relu", seed=0, **kw):
    return LlamaLM(ModelConfig(**{**TINY, "activation": activation, **kw}), seed=seed)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_shapes_and_naming(activation):
    model = tiny(activation)
    logits = model(torch.randint(0, 2048, (3, 17)))
    assert logits.shape == (3, 17, 2048) and logits.dtype == torch.float32
    layer = model.model.layers[1]
    for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
        lin = getattr(layer.self_attn, name)
        assert isinstance(lin, torch.nn.Linear) and lin.bias is None
    mlp = layer.mlp
    assert hasattr(mlp, "gate_proj") == (activation == "swiglu")
    assert mlp.up_proj.weight.shape == (48, 32) and mlp.down_proj.weight.shape == (32, 48)
    # lm_head is tied to the embedding
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_causality(activation):
    model = tiny(activation)
    gen = torch.Generator().manual_seed(1)
    x = torch.randint(0, 2048, (2, 20), generator=gen)
    y = x.clone()
    y[:, 12] = (y[:, 12] + 7) % 2048
    with torch.no_grad():
        a, b = model(x), model(y)
    torch.testing.assert_close(a[:, :12], b[:, :12])
    assert (a[:, 12:] - b[:, 12:]).abs().amax(dim=-1).min() > 1e-4  # later positions all see it


def test_rotary_matches_complex_reference_and_is_relative():
    head_dim, T = 8, 40
    cos, sin = rotary_tables(head_dim, T, theta=100.0)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, T, head_dim, generator=gen, dtype=torch.float32)
    # Reference: channel pair (i, i + d/2) as a complex number, multiplied by exp(i m theta_i).
    half = head_dim // 2
    z = torch.complex(x[..., :half].double(), x[..., half:].double())
    freqs = 100.0 ** (-torch.arange(half, dtype=torch.float64) * 2 / head_dim)
    z = z * torch.polar(torch.ones(T, half, dtype=torch.float64),
                        torch.arange(T, dtype=torch.float64)[:, None] * freqs)
    ref = torch.cat([z.real, z.imag], dim=-1).float()
    torch.testing.assert_close(apply_rotary(x, cos, sin), ref, atol=1e-5, rtol=1e-5)
    # The score of a rotated query at m and key at n depends on m - n only.
    q, k = torch.randn(head_dim, generator=gen), torch.randn(head_dim, generator=gen)
    Q = apply_rotary(q.expand(T, head_dim), cos, sin)
    K = apply_rotary(k.expand(T, head_dim), cos, sin)
    scores = Q @ K.T
    for shift in (1, 5, 17):
        torch.testing.assert_close(scores[3 + shift, 1 + shift], scores[3, 1], atol=1e-4, rtol=0)
    assert not torch.allclose(scores[3, 1], scores[3, 2], atol=1e-3)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_mlp_formula_and_act_fn_replacement(activation):
    mlp = tiny(activation).model.layers[0].mlp
    x = torch.randn(4, 32, generator=torch.Generator().manual_seed(2))
    act = {"swiglu": F.silu, "relu": F.relu, "relu2": lambda t: F.relu(t) ** 2,
           "gelu": F.gelu}[activation]
    with torch.no_grad():
        if activation == "swiglu":
            h = act(x @ mlp.gate_proj.weight.T) * (x @ mlp.up_proj.weight.T)
            ref = h @ mlp.down_proj.weight.T
        else:
            ref = act(x @ mlp.up_proj.weight.T) @ mlp.down_proj.weight.T
        torch.testing.assert_close(mlp(x), ref, atol=1e-6, rtol=1e-5)
        calls = []
        handle = mlp.act_fn.register_forward_hook(lambda m, i, o: calls.append(o.shape))
        mlp(x)
        handle.remove()
        assert calls == [(4, 48)]
        dense = mlp(x)

        class ZeroSmall(torch.nn.Module):  # a CATS-like replacement: zero small activations
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, h):
                h = self.inner(h)
                return torch.where(h.abs() > h.abs().quantile(0.9), h, torch.zeros_like(h))

        mlp.act_fn = ZeroSmall(mlp.act_fn)
        sparse = mlp(x)
        changed = (sparse - dense).abs().amax() / dense.abs().amax()
    assert changed > 0.05  # the replacement is used: 90% of the neurons were zeroed


def test_save_load_round_trip_and_checksum(tmp_path):
    model = tiny("swiglu", seed=3)
    x = torch.randint(0, 2048, (2, 10))
    p32 = save_model(model, tmp_path / "m32.safetensors", {"steps": 7}, dtype="float32")
    loaded = load_model(p32)
    assert loaded.config == model.config and loaded.metadata["steps"] == 7
    assert loaded.metadata["corpus_checksum"] == corpus_checksum()
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), atol=0, rtol=0)
    p16 = save_model(model, tmp_path / "m16.safetensors")
    assert p16.stat().st_size < 0.6 * p32.stat().st_size
    with torch.no_grad():
        torch.testing.assert_close(load_model(p16)(x), model(x), atol=2e-3, rtol=1e-2)
    bad = save_model(model, tmp_path / "bad.safetensors", checksum="0123456789abcdef")
    with pytest.raises(ValueError, match="checksum"):
        load_model(bad)
    assert load_model(bad, check_checksum=False).config == model.config
    with pytest.raises(TypeError, match="model"):
        save_model(torch.nn.Linear(2, 2), tmp_path / "x.safetensors")
    with pytest.raises(ValueError, match="dtype"):
        save_model(model, tmp_path / "x.safetensors", dtype="int8")


def test_bad_input():
    with pytest.raises(ValueError, match="activation"):
        ModelConfig(activation="tanh")
    with pytest.raises(ValueError, match="n_heads"):
        ModelConfig(d_model=130, n_heads=4)
    with pytest.raises(TypeError, match="d_ff"):
        ModelConfig(d_ff=512.0)
    with pytest.raises(ValueError, match="n_layers"):
        ModelConfig(n_layers=0)
    with pytest.raises(TypeError, match="config"):
        LlamaLM({"d_model": 32})
    model = tiny()
    with pytest.raises(ValueError, match="sequence length"):
        model(torch.zeros(1, 33, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[0, 2048\)"):
        model(torch.tensor([[1, 2048]]))
    with pytest.raises(ValueError, match=r"\[0, 2048\)"):
        model(torch.tensor([[-1, 3]]))
    with pytest.raises(TypeError, match="integer"):
        model(torch.zeros(1, 4))
    val = load_corpus("validation")
    with pytest.raises(TypeError, match="ids"):
        evaluate_perplexity(model, val.float(), seq_len=16)
    with pytest.raises(ValueError, match="n_seqs"):
        evaluate_perplexity(model, val, seq_len=16, n_seqs=0)
    with pytest.raises(ValueError, match="seq_len"):
        list(calibration_batches(val[:10], seq_len=16))
    with pytest.raises(ValueError, match="split"):
        load_corpus("test")
    with pytest.raises(ValueError, match="name"):
        load_pretrained("tanh")
    with pytest.raises(ValueError, match="step"):
        load_pretrained("relu", step=123456)
    with pytest.raises(ValueError, match="ids"):
        load_tokenizer().decode([5000])


def test_corpus_split_and_tokenizer():
    train_text = load_corpus("train", tokens=False)
    val_text = load_corpus("validation", tokens=False)
    train_heads = {b.split("\n", 1)[0] for b in train_text.split("\n\n")}
    val_heads = [b.split("\n", 1)[0] for b in val_text.split("\n\n")]
    assert len(train_heads) + len(val_heads) == 1189 and not train_heads & set(val_heads)
    assert len({h.rsplit(" ", 1)[0] for h in val_heads}) >= 30  # spread over many books
    tok = load_tokenizer()
    assert tok.vocab_size == 2048
    assert tok.decode(tok.encode(val_text[:5000])) == val_text[:5000]
    ids = load_corpus("validation")
    assert ids.dtype == torch.long and 0 <= int(ids.min()) and int(ids.max()) < 2048
    assert 3.0 < len(val_text) / len(ids) < 5.0  # BPE compresses: several bytes per token


def test_evaluate_perplexity_matches_direct_computation():
    model = tiny("gelu", seed=5)
    ids = load_corpus("validation")[:2000]
    ppl = evaluate_perplexity(model, ids, seq_len=32, n_seqs=5, batch_size=2)
    starts = torch.linspace(0, 2000 - 33, 5).round().long()
    losses = []
    with torch.no_grad():
        for s in starts:
            w = ids[s : s + 33]
            losses.append(F.cross_entropy(model(w[None, :-1])[0], w[1:]))
    assert ppl == pytest.approx(math.exp(torch.stack(losses).mean().item()), rel=1e-5)
    assert evaluate_perplexity(model, ids, seq_len=32, n_seqs=5, batch_size=2) == ppl
    assert evaluate_perplexity(model, ids, seq_len=32, n_seqs=5) == pytest.approx(ppl, rel=1e-5)


def test_calibration_batches_seeded():
    ids = load_corpus("validation")
    a = list(calibration_batches(ids, n_seqs=10, seq_len=16, batch_size=4, seed=1))
    b = list(calibration_batches(ids, n_seqs=10, seq_len=16, batch_size=4, seed=1))
    c = list(calibration_batches(ids, n_seqs=10, seq_len=16, batch_size=4, seed=2))
    assert [x.shape for x in a] == [(4, 16), (4, 16), (2, 16)]
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(a, c, strict=True))


def test_training_script_loss_falls(tmp_path):
    out = tmp_path / "tiny.safetensors"
    meta = train_mod.main([
        "--d-model", "32", "--n-layers", "1", "--n-heads", "2", "--d-ff", "64",
        "--seq-len", "32", "--batch-size", "8", "--steps", "40", "--lr", "1e-2",
        "--eval-seqs", "16", "--threads", "1", "--out", str(out), "--checkpoints", "0,20",
        "--no-progress", "--log-every", "1",
    ])
    history = [loss for _, loss in meta["train_loss_history"]]
    assert len(history) == 40 and history[-1] < history[0] - 1.0
    start = read_metadata(tmp_path / "checkpoints" / "tiny_step00000.safetensors")
    assert meta["val_loss"] < start["val_loss"] - 0.5  # held-out loss falls too
    assert list_pretrained(tmp_path) == {"tiny": [0, 20, 40]}
    model = load_pretrained("tiny", models_dir=tmp_path)
    assert load_pretrained("tiny", step=40, models_dir=tmp_path).metadata == model.metadata
    assert model.metadata["tokens_seen"] == 40 * 8 * 32
    assert evaluate_perplexity(model, load_corpus("validation"), seq_len=32, n_seqs=16) == \
        pytest.approx(meta["val_ppl"], rel=1e-2)  # float16 storage changes it only slightly


@pytest.mark.parametrize("name", sorted(list_pretrained()))
def test_pretrained_models_beat_uniform(name):
    model = load_pretrained(name)
    val = load_corpus("validation")
    ppl = evaluate_perplexity(model, val, n_seqs=model.metadata["eval_seqs"], seq_len=256)
    uniform = model.config.vocab_size  # perplexity of a uniform guess
    assert ppl < uniform / 10, (name, ppl)
    # The recorded value is reproduced (same windows; float16 storage changes it slightly).
    assert ppl == pytest.approx(model.metadata["val_ppl"], rel=0.02)


def test_main_models_are_committed_and_comparable():
    models = list_pretrained()
    assert {"swiglu", "relu", "relu2", "gelu"} <= set(models)
    metas = {n: read_metadata(MODELS_DIR / f"{n}.safetensors")
             for n in ("swiglu", "relu", "relu2", "gelu")}
    tokens = {m["tokens_seen"] for m in metas.values()}
    assert len(tokens) == 1  # same token budget
    mlp_params = {n: m["config"]["d_ff"] * m["config"]["d_model"] * (3 if n == "swiglu" else 2)
                  for n, m in metas.items()}
    assert max(mlp_params.values()) / min(mlp_params.values()) < 1.02  # matched MLP size
    for n in ("relu", "swiglu"):
        losses = [load_pretrained(n, step=s).metadata["val_loss"] for s in models[n]]
        assert losses[-1] == metas[n]["val_loss"]
        assert losses[-1] < losses[0]
