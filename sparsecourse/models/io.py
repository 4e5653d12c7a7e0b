"""Save and load :class:`~sparsecourse.models.LlamaLM` weights as safetensors with metadata.

A file holds the weights (float16 by default; the tied ``lm_head`` is stored once) and, under
the safetensors metadata key ``"json"``, a record with the model config, the corpus checksum,
the training steps, the validation loss and perplexity, tokens seen, seed and wall time.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import torch

from .data import DATA_DIR, corpus_checksum
from .model import LlamaLM, ModelConfig

MODELS_DIR = DATA_DIR / "models"
CHECKPOINT_DIR = "checkpoints"
_CKPT = re.compile(r"^(?P<name>.+)_step(?P<step>\d+)\.safetensors$")
_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


def save_model(
    model: LlamaLM,
    path: str | Path,
    metadata: dict | None = None,
    *,
    dtype: str = "float16",
    checksum: str | None = None,
) -> Path:
    """Write ``model``'s weights and a metadata record to a ``.safetensors`` file.

    Parameters
    ----------
    model : LlamaLM
        The model to save.
    path : path
        Output file (parent folders are created).
    metadata : dict, optional
        Extra JSON-serialisable entries (steps, validation loss, ...). ``config`` and
        ``corpus_checksum`` are always written.
    dtype : {"float16", "bfloat16", "float32"}
        Storage type of the weights.
    checksum : str, optional
        Corpus checksum to record (default :func:`corpus_checksum` of ``data/corpus``).

    Examples
    --------
    >>> import tempfile
    >>> from sparsecourse.models import ModelConfig
    >>> model = LlamaLM(ModelConfig(d_model=32, n_heads=2, n_layers=1, d_ff=64))
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = save_model(model, Path(d) / "m.safetensors", {"steps": 0})
    ...     load_model(p).config == model.config
    True
    """
    from safetensors.torch import save_file

    if not isinstance(model, LlamaLM):
        raise TypeError(f"model must be a LlamaLM, got {type(model).__name__}")
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
    meta = dict(metadata or {})
    meta["config"] = model.config.to_dict()
    meta["corpus_checksum"] = checksum if checksum is not None else corpus_checksum()
    meta["dtype"] = dtype
    state = {
        k: v.detach().to("cpu", _DTYPES[dtype]).contiguous()
        for k, v in model.state_dict().items()
        if not (model.config.tie_embeddings and k == "lm_head.weight")
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")  # write, then rename: readers never see half a file
    save_file(state, str(tmp), metadata={"json": json.dumps(meta)})
    os.replace(tmp, path)
    return path


def read_metadata(path: str | Path) -> dict:
    """The metadata record of a model file (no weights are loaded).

    Examples
    --------
    >>> read_metadata(MODELS_DIR / "relu.safetensors")["config"]["activation"]
    'relu'
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found")
    with safe_open(str(path), framework="pt") as f:
        raw = (f.metadata() or {}).get("json")
    if raw is None:
        raise ValueError(f"{path} has no 'json' metadata record; it was not written by save_model")
    return json.loads(raw)


def load_model(
    path: str | Path, *, check_checksum: bool = True, device: str | torch.device = "cpu"
) -> LlamaLM:
    """Load a model written by :func:`save_model` (float32, eval mode).

    Parameters
    ----------
    path : path
        The ``.safetensors`` file.
    check_checksum : bool
        Compare the file's corpus checksum with :func:`corpus_checksum` and raise
        ``ValueError`` on a mismatch (the token ids would mean other text).
    device : str or torch.device
        Where to put the weights.

    The returned model carries the record as ``model.metadata``.
    """
    from safetensors.torch import load_file

    meta = read_metadata(path)
    if check_checksum:
        expected = corpus_checksum()
        if meta.get("corpus_checksum") != expected:
            raise ValueError(
                f"{Path(path).name} was trained on a corpus/tokenizer with checksum "
                f"{meta.get('corpus_checksum')!r}, but data/corpus has checksum {expected!r}; "
                "retrain it with python -m sparsecourse.models.train, or pass check_checksum=False"
            )
    config = ModelConfig.from_dict(meta["config"])
    model = LlamaLM(config)
    state = {k: v.float() for k, v in load_file(str(path)).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not (config.tie_embeddings and k == "lm_head.weight")]
    if missing or unexpected:
        raise ValueError(f"{path}: missing weights {missing}, unexpected weights {unexpected}")
    model.metadata = meta
    return model.to(device).eval()


def _checkpoint_path(name: str, step: int, models_dir: Path) -> Path:
    return models_dir / CHECKPOINT_DIR / f"{name}_step{step:05d}.safetensors"


def list_pretrained(models_dir: str | Path | None = None) -> dict[str, list[int]]:
    """Names of the stored models and the training steps at which weights are stored.

    The steps are those of the checkpoints in ``data/models/checkpoints/`` plus the final
    step (the main file ``data/models/<name>.safetensors``), so ``load_pretrained(name,
    step=s)`` works for every listed ``s``.

    Examples
    --------
    >>> models = list_pretrained()
    >>> {"swiglu", "relu", "relu2", "gelu"} <= set(models)
    True
    """
    d = Path(models_dir) if models_dir is not None else MODELS_DIR
    out: dict[str, set[int]] = {
        p.stem: {int(read_metadata(p)["steps"])} for p in sorted(d.glob("*.safetensors"))
    }
    for p in sorted((d / CHECKPOINT_DIR).glob("*.safetensors")):
        m = _CKPT.match(p.name)
        if m:
            out.setdefault(m["name"], set()).add(int(m["step"]))
    return {k: sorted(v) for k, v in sorted(out.items())}


def load_pretrained(
    name: str,
    step: int | None = None,
    *,
    models_dir: str | Path | None = None,
    device: str | torch.device = "cpu",
) -> LlamaLM:
    """A trained model from ``data/models/`` (float32, eval mode, corpus checksum checked).

    Parameters
    ----------
    name : str
        ``"swiglu"``, ``"relu"``, ``"relu2"``, ``"gelu"``, or a sweep model such as
        ``"relu_ff1024"``; see :func:`list_pretrained`.
    step : int, optional
        A checkpoint along training (default: the final weights); one of
        ``list_pretrained()[name]``.

    Examples
    --------
    >>> model = load_pretrained("swiglu")
    >>> model.config.activation, model.training
    ('swiglu', False)
    """
    d = Path(models_dir) if models_dir is not None else MODELS_DIR
    available = list_pretrained(d)
    if not isinstance(name, str) or name not in available:
        raise ValueError(f"name must be one of {sorted(available)}, got {name!r}")
    path = d / f"{name}.safetensors"
    if step is None:
        if not path.exists():
            raise ValueError(f"{name!r} has checkpoints only; pass step= one of {available[name]}")
    else:
        if isinstance(step, bool) or not isinstance(step, int) or step not in available[name]:
            raise ValueError(f"step for {name!r} must be one of {available[name]}, got {step!r}")
        if _checkpoint_path(name, step, d).exists():
            path = _checkpoint_path(name, step, d)
    return load_model(path, device=device)
