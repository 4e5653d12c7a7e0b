"""The small Llama-style language model shared by Chapters 5-7 (needs torch).

A decoder-only transformer with Hugging Face Llama module names (:class:`LlamaLM`), trained
on the King James Bible (archaic English, public domain) with a 2048-token byte-level BPE
tokenizer. Corpus, tokenizer and trained weights ship in ``data/``; nothing is downloaded.

Examples
--------
>>> from sparsecourse.models import load_pretrained, load_corpus, evaluate_perplexity
>>> model = load_pretrained("relu")
>>> ppl = evaluate_perplexity(model, load_corpus("validation"), n_seqs=8)
>>> ppl < 2048 / 10     # far better than a uniform guess over the vocabulary
True
"""

from .data import (
    Tokenizer,
    calibration_batches,
    corpus_checksum,
    evaluate_perplexity,
    load_corpus,
    load_tokenizer,
    train_tokenizer,
)
from .io import list_pretrained, load_model, load_pretrained, read_metadata, save_model
from .model import (
    ACTIVATIONS,
    MLP,
    Attention,
    DecoderLayer,
    LlamaLM,
    LlamaModel,
    ModelConfig,
    ReLUSquared,
    RMSNorm,
    apply_rotary,
    make_activation,
    rotary_tables,
)

__all__ = [
    "ACTIVATIONS", "MLP", "Attention", "DecoderLayer", "LlamaLM", "LlamaModel", "ModelConfig",
    "ReLUSquared", "RMSNorm", "Tokenizer", "apply_rotary", "calibration_batches",
    "corpus_checksum", "evaluate_perplexity", "list_pretrained", "load_corpus", "load_model",
    "load_pretrained", "load_tokenizer", "make_activation", "read_metadata", "rotary_tables",
    "save_model", "train_tokenizer",
]  # fmt: skip
