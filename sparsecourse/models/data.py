"""Corpus, tokenizer, batches and held-out perplexity for the small language model.

The corpus is the King James Bible (Debian's ``bible-kjv-text``, public domain), stored in
``data/corpus/`` as gzipped plain text with a train/validation split (every 20th chapter held
out). The tokenizer is a byte-level BPE with 2048 tokens trained on the train split with
Hugging Face ``tokenizers`` and stored as ``data/corpus/tokenizer.json``. Nothing is downloaded.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import math
import os
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.nn.functional as F

# The repository's data/ folder; SPARSECOURSE_DATA points elsewhere (e.g. a clone on Colab).
DATA_DIR = Path(os.environ.get("SPARSECOURSE_DATA", Path(__file__).resolve().parents[2] / "data"))
CORPUS_DIR = DATA_DIR / "corpus"
SPLITS = ("train", "validation")
TOKENIZER_FILE = "tokenizer.json"
EOS = "<|endoftext|>"


class Tokenizer:
    """Thin wrapper of a Hugging Face ``tokenizers.Tokenizer`` (byte-level BPE).

    Parameters
    ----------
    backend : tokenizers.Tokenizer
        The wrapped tokenizer.

    Examples
    --------
    >>> tok = load_tokenizer()
    >>> ids = tok.encode("In the beginning God created the heaven and the earth.")
    >>> tok.decode(ids)
    'In the beginning God created the heaven and the earth.'
    >>> tok.vocab_size
    2048
    """

    def __init__(self, backend) -> None:
        self.backend = backend

    @property
    def vocab_size(self) -> int:
        """Number of token ids, special tokens included."""
        return self.backend.get_vocab_size(with_added_tokens=True)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        return self.backend.encode(text).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Token ids of several texts (encoded in parallel by the Rust backend)."""
        return [e.ids for e in self.backend.encode_batch(list(texts))]

    def decode(self, ids) -> str:
        """Text of a sequence of token ids (list, 1-D tensor or array)."""
        ids = [int(i) for i in (ids.tolist() if hasattr(ids, "tolist") else ids)]
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"ids must lie in [0, {self.vocab_size}), got {bad[:5]}")
        return self.backend.decode(ids, skip_special_tokens=False)

    def token_strings(self) -> list[str]:
        """Readable text of every token id (for plots and tables)."""
        return [self.backend.decode([i]) for i in range(self.vocab_size)]


def _read_text(split: str, corpus_dir: Path) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    path = Path(corpus_dir) / f"kjv_{split}.txt.gz"
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found; set SPARSECOURSE_DATA to the repository's data/ folder"
        )
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return f.read()


@functools.lru_cache(maxsize=4)
def _text_cached(split: str, corpus_dir: str) -> str:
    return _read_text(split, Path(corpus_dir))


def train_tokenizer(text: str, vocab_size: int = 2048):
    """Train a byte-level BPE tokenizer on ``text`` (returns a ``tokenizers.Tokenizer``).

    How ``data/corpus/tokenizer.json`` was made: ``train_tokenizer(load_corpus("train",
    tokens=False)).save("data/corpus/tokenizer.json")``. Byte-level means every string can be
    encoded (256 byte tokens), merges then build up frequent words.

    Examples
    --------
    >>> tok = train_tokenizer("the cat sat on the mat " * 50, vocab_size=300)
    >>> tok.decode(tok.encode("the hat").ids)
    'the hat'
    """
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, pre_tokenizers, trainers

    if not isinstance(vocab_size, int) or vocab_size < 257:
        raise ValueError(f"vocab_size must be an int >= 257, got {vocab_size!r}")
    tok = HFTokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[EOS],
        show_progress=False,
    )
    tok.train_from_iterator(text.splitlines(), trainer=trainer)
    return tok


@functools.lru_cache(maxsize=2)
def _tokenizer_cached(path: str) -> Tokenizer:
    from tokenizers import Tokenizer as HFTokenizer

    return Tokenizer(HFTokenizer.from_file(path))


def load_tokenizer(corpus_dir: str | Path | None = None) -> Tokenizer:
    """The corpus's byte-level BPE tokenizer (from ``data/corpus/tokenizer.json``).

    Examples
    --------
    >>> load_tokenizer().encode("Let there be light")[:3] == load_tokenizer().encode("Let")[:1] + \
        load_tokenizer().encode(" there be light")[:2]
    True
    """
    path = Path(corpus_dir if corpus_dir is not None else CORPUS_DIR) / TOKENIZER_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} not found")
    return _tokenizer_cached(str(path))


@functools.lru_cache(maxsize=4)
def _tokens_cached(split: str, corpus_dir: str) -> torch.Tensor:
    text = _text_cached(split, corpus_dir)
    tok = load_tokenizer(corpus_dir)
    # Encode chapter by chapter (parallel in the Rust backend), join with blank lines.
    # (in chunks, so the backend's per-token offsets never all sit in memory at once).
    blocks = text.split("\n\n")
    sep = tok.encode("\n\n")
    parts: list[torch.Tensor] = []
    for lo in range(0, len(blocks), 64):
        ids: list[int] = []
        for i, block_ids in enumerate(tok.encode_batch(blocks[lo : lo + 64]), start=lo):
            if i:
                ids.extend(sep)
            ids.extend(block_ids)
        parts.append(torch.tensor(ids, dtype=torch.long))
    return torch.cat(parts)


def load_corpus(
    split: str = "train", *, tokens: bool = True, corpus_dir: str | Path | None = None
) -> torch.Tensor | str:
    """The King James Bible corpus: token ids (1-D ``torch.long``) or the raw text.

    Parameters
    ----------
    split : {"train", "validation"}
        The validation split holds every 20th chapter (59 of 1189), spread over all books.
    tokens : bool
        Return token ids (default) or the text.
    corpus_dir : path, optional
        Folder with ``kjv_*.txt.gz`` and ``tokenizer.json`` (default ``data/corpus``).

    Examples
    --------
    >>> ids = load_corpus("validation")
    >>> ids.dtype, ids.ndim
    (torch.int64, 1)
    >>> load_corpus("validation", tokens=False)[:10]
    'Genesis 11'
    """
    if not isinstance(tokens, bool):
        raise TypeError(f"tokens must be a bool, got {type(tokens).__name__}")
    d = str(Path(corpus_dir if corpus_dir is not None else CORPUS_DIR).resolve())
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if not tokens:
        return _text_cached(split, d)
    return _tokens_cached(split, d).clone()


def corpus_checksum(corpus_dir: str | Path | None = None) -> str:
    """SHA-256 (first 16 hex digits) of both splits' text and the tokenizer file.

    A trained model's token ids mean something only with this text and this tokenizer, so
    model files record this checksum and :func:`~sparsecourse.models.load_model` checks it.

    Examples
    --------
    >>> len(corpus_checksum())
    16
    """
    d = Path(corpus_dir if corpus_dir is not None else CORPUS_DIR).resolve()
    h = hashlib.sha256()
    for split in SPLITS:
        h.update(_text_cached(split, str(d)).encode("utf-8"))
        h.update(b"\0")
    h.update((d / TOKENIZER_FILE).read_bytes())
    return h.hexdigest()[:16]


def _check_ids(ids, seq_len: int, name: str = "ids") -> torch.Tensor:
    if not isinstance(ids, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of token ids, got {type(ids).__name__}")
    if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor, got {ids.dtype}")
    if ids.dim() != 1:
        raise ValueError(f"{name} must be 1-D, got shape {tuple(ids.shape)}")
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 1:
        raise ValueError(f"seq_len must be a positive int, got {seq_len!r}")
    if ids.numel() < seq_len + 1:
        raise ValueError(
            f"{name} has {ids.numel()} tokens; need at least seq_len + 1 = {seq_len + 1}"
        )
    return ids.long()


def _check_count(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def eval_windows(n_tokens: int, seq_len: int, n_seqs: int | None) -> torch.Tensor:
    """Start positions of ``n_seqs`` evenly spaced windows of ``seq_len + 1`` tokens.

    ``n_seqs=None`` gives all non-overlapping windows. Deterministic (no randomness).

    Examples
    --------
    >>> eval_windows(1000, 99, 3).tolist()
    [0, 450, 900]
    """
    last = n_tokens - seq_len - 1
    if n_seqs is None:
        return torch.arange(0, last + 1, seq_len)
    return torch.linspace(0, last, n_seqs).round().long()


@torch.no_grad()
def evaluate_perplexity(
    model: torch.nn.Module,
    ids: torch.Tensor,
    *,
    seq_len: int = 256,
    n_seqs: int | None = 64,
    batch_size: int = 16,
    return_loss: bool = False,
) -> float:
    """Held-out perplexity ``exp(mean cross-entropy)`` on deterministic windows of ``ids``.

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``(B, T)`` token ids to ``(B, T, vocab)`` logits (e.g. :class:`LlamaLM`).
    ids : torch.Tensor
        1-D token ids, e.g. ``load_corpus("validation")``.
    seq_len : int
        Window length; every token of a window after the first is predicted.
    n_seqs : int or None
        Number of evenly spaced windows (``None``: all non-overlapping windows).
    batch_size : int
        Windows per forward pass.
    return_loss : bool
        Return the mean cross-entropy in nats instead of its exponential.

    Examples
    --------
    >>> from sparsecourse.models import LlamaLM, ModelConfig
    >>> model = LlamaLM(ModelConfig(d_model=32, n_heads=2, n_layers=1, d_ff=64))
    >>> ppl = evaluate_perplexity(model, load_corpus("validation"), n_seqs=4, seq_len=64)
    >>> 1500 < ppl < 2600   # an untrained model is close to uniform over 2048 tokens
    True
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    ids = _check_ids(ids, seq_len)
    if n_seqs is not None:
        _check_count(n_seqs, "n_seqs")
    _check_count(batch_size, "batch_size")
    device = next(model.parameters()).device
    starts = eval_windows(ids.numel(), seq_len, n_seqs)
    offsets = torch.arange(seq_len + 1)
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        for i in range(0, len(starts), batch_size):
            win = ids[starts[i : i + batch_size, None] + offsets].to(device)
            logits = model(win[:, :-1])
            loss = F.cross_entropy(
                logits.float().reshape(-1, logits.shape[-1]), win[:, 1:].reshape(-1),
                reduction="sum",
            )
            total += float(loss)
            count += win[:, 1:].numel()
    finally:
        model.train(was_training)
    mean = total / count
    return mean if return_loss else math.exp(mean)


def calibration_batches(
    ids: torch.Tensor,
    *,
    n_seqs: int = 128,
    seq_len: int = 256,
    batch_size: int = 16,
    seed: int | torch.Generator = 0,
) -> Iterator[torch.Tensor]:
    """Random windows of ``ids`` as ``(batch_size, seq_len)`` batches (the last may be smaller).

    For calibrating thresholds (CATS, TEAL) or pruning (SparseGPT) on text the model did not
    see in evaluation. The same ``seed`` gives the same windows.

    Examples
    --------
    >>> ids = load_corpus("train")
    >>> [b.shape for b in calibration_batches(ids, n_seqs=5, seq_len=32, batch_size=2)]
    [torch.Size([2, 32]), torch.Size([2, 32]), torch.Size([1, 32])]
    """
    ids = _check_ids(ids, seq_len)
    _check_count(n_seqs, "n_seqs")
    _check_count(batch_size, "batch_size")
    if isinstance(seed, torch.Generator):
        gen = seed
    elif isinstance(seed, int) and not isinstance(seed, bool):
        gen = torch.Generator().manual_seed(seed)
    else:
        raise TypeError(f"seed must be an int or torch.Generator, got {type(seed).__name__}")
    starts = torch.randint(0, ids.numel() - seq_len + 1, (n_seqs,), generator=gen)
    offsets = torch.arange(seq_len)
    for i in range(0, n_seqs, batch_size):
        yield ids[starts[i : i + batch_size, None] + offsets]
