"""Sparse Evolutionary Training (SET): drop the weakest weights, regrow as many at random.

After each epoch, SET removes the fraction ``drop_fraction`` (the paper's ``zeta``) of a layer's
stored weights with the smallest magnitude and adds the same number of new connections at
positions drawn uniformly at random among the empty ones (Mocanu et al., 2018). The number of
weights, and so the cost of every product, stays constant, while the topology adapts to the data.
Here the update works directly on the CSR arrays of a
:class:`~sparsecourse.sparse_nn.SparseLinear`: no dense matrix is formed (only a boolean occupancy
vector when the free positions are enumerated).
"""

from __future__ import annotations

import numpy as np
import torch

from .._validation import check_fraction, get_rng
from .layers import SparseLinear, SparseMLP

__all__ = ["set_update", "set_update_reference"]


def _draw_free(n_total: int, taken: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` distinct positions in ``range(n_total)`` not in the sorted array ``taken``."""
    n_free = n_total - taken.size
    if k > n_free:
        raise ValueError(f"cannot grow {k} weights: only {n_free} free positions")
    if k == 0:
        return np.empty(0, dtype=np.int64)
    if n_free >= 2 * k and taken.size <= n_total // 2:
        # rejection sampling: cheap when the layer is sparse (the usual case)
        chosen = np.empty(0, dtype=np.int64)
        while chosen.size < k:
            cand = rng.integers(0, n_total, size=2 * (k - chosen.size) + 16)
            cand = cand[~np.isin(cand, taken, assume_unique=False)]
            chosen = np.union1d(chosen, cand)  # sorted, distinct
        return rng.permutation(chosen)[:k]
    free = np.ones(n_total, dtype=bool)
    free[taken] = False
    return rng.choice(np.flatnonzero(free), size=k, replace=False)


def set_update(layer, drop_fraction: float = 0.3, *, seed=None, optimizer=None,
               init: str = "zero") -> dict:
    """One SET topology update of a sparse layer (or of every layer of a sparse MLP), in place.

    Parameters
    ----------
    layer : SparseLinear or SparseMLP
    drop_fraction : float in [0, 1], default 0.3
        Fraction of each layer's stored weights to drop (smallest ``|w|``) and regrow, the
        paper's ``zeta``: ``round(drop_fraction * nnz)`` weights. (The same name as in
        :func:`sparsecourse.pruning.set_update`, which updates the masks of a dense model and
        drops ``floor(drop_fraction * n_active)``.)
    seed : int, numpy.random.Generator or None
        Draws the regrown positions (and their values with ``init="random"``).
    optimizer : SparseSGD, optional
        Its momentum buffers are reordered to follow the weights; new weights get zero momentum.
    init : {"zero", "random"}, default "zero"
        Value of a regrown weight: zero (it then grows from its gradient, as in RigL) or drawn
        from the layer's initial distribution ``U(-bound, bound)`` as in the SET paper.

    Returns
    -------
    dict
        ``{"dropped": int, "grown": int, "nnz": int}`` summed over the layers.

    Examples
    --------
    >>> from sparsecourse.sparse_nn import SparseLinear, set_update
    >>> layer = SparseLinear(50, 40, density=0.1, seed=0)
    >>> set_update(layer, 0.3, seed=1)
    {'dropped': 60, 'grown': 60, 'nnz': 200}
    """
    drop_fraction = check_fraction(drop_fraction, "drop_fraction")
    if init not in ("zero", "random"):
        raise ValueError(f"init must be 'zero' or 'random', got {init!r}")
    rng = get_rng(seed)
    if isinstance(layer, SparseMLP):
        out = {"dropped": 0, "grown": 0, "nnz": 0}
        for sub in layer.layers:
            res = set_update(sub, drop_fraction, seed=rng, optimizer=optimizer, init=init)
            out = {key: out[key] + res[key] for key in out}
        return out
    if not isinstance(layer, SparseLinear):
        raise TypeError(f"layer must be a SparseLinear or SparseMLP, got {type(layer).__name__}")
    n_out, n_in = layer.out_features, layer.in_features
    values = layer.values.detach().numpy()
    nnz = values.size
    k = int(round(drop_fraction * nnz))  # then n_out * n_in - nnz + k >= k positions are free
    rows = layer.rows().numpy()
    keys = rows * n_in + layer._indices_np.astype(np.int64)  # sorted: CSR order
    # drop the k smallest magnitudes (ties broken by position: deterministic)
    order = np.argsort(np.abs(values), kind="stable")
    keep = np.sort(order[k:])
    kept_keys = keys[keep]
    new_keys = _draw_free(n_out * n_in, kept_keys, k, rng)
    if init == "random":
        bound = layer.init_bound if np.isfinite(layer.init_bound) else float(np.abs(values).max())
        new_vals = rng.uniform(-bound, bound, size=k).astype(values.dtype)
    else:
        new_vals = np.zeros(k, dtype=values.dtype)
    all_keys = np.concatenate([kept_keys, new_keys])
    source = np.concatenate([keep, np.full(k, -1, dtype=np.int64)])
    all_vals = np.concatenate([values[keep], new_vals])
    perm = np.argsort(all_keys, kind="stable")
    all_keys, source, all_vals = all_keys[perm], source[perm], all_vals[perm]
    new_rows, new_cols = np.divmod(all_keys, n_in)
    indptr = np.zeros(n_out + 1, dtype=np.int64)
    np.cumsum(np.bincount(new_rows, minlength=n_out), out=indptr[1:])
    with torch.no_grad():
        layer.values.copy_(torch.from_numpy(all_vals))
        layer.indices.copy_(torch.from_numpy(new_cols.astype(np.int32)))
        layer.indptr.copy_(torch.from_numpy(indptr))
    layer._pattern_changed()
    if optimizer is not None:
        optimizer.remap(layer.values, source)
    return {"dropped": k, "grown": k, "nnz": nnz}


def set_update_reference(weight: np.ndarray, drop_fraction: float, *, seed=None) -> np.ndarray:
    """SET on a dense matrix whose zeros are the missing connections (for teaching and tests).

    Zero the ``round(drop_fraction * nnz)`` non-zeros of smallest magnitude, then mark as many
    random empty positions as grown (value ``0`` cannot mark them, so the returned *mask* carries
    the new topology). Returns the boolean mask of the new pattern.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsecourse.sparse_nn import set_update_reference
    >>> w = np.array([[0.1, 0.0, -2.0], [0.0, 3.0, 0.0]])
    >>> m = set_update_reference(w, 1 / 3, seed=0)
    >>> int(m.sum()), bool(m[0, 0])   # same count; the smallest |w| (0.1) was dropped
    (3, False)
    """
    drop_fraction = check_fraction(drop_fraction, "drop_fraction")
    rng = get_rng(seed)
    w = np.asarray(weight)
    flat = w.ravel()
    stored = np.flatnonzero(flat)
    k = int(round(drop_fraction * stored.size))
    weakest = stored[np.argsort(np.abs(flat[stored]), kind="stable")[:k]]
    mask = flat != 0
    mask[weakest] = False
    mask[rng.choice(np.flatnonzero(~mask), size=k, replace=False)] = True
    return mask.reshape(w.shape)
