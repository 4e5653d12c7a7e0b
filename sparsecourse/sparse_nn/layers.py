"""Truly sparse layers: weights stored only as CSR non-zeros, multiplied by the numba kernels.

:class:`SparseLinear` keeps its weight as three arrays, the CSR row pointers, the column indices
and the stored values (an ``nn.Parameter`` of length ``nnz``). No dense weight and no mask exist
anywhere: the forward product, the input gradient and the weight gradient (an SDDMM restricted
to the stored entries) are the kernels of :mod:`sparsecourse.sparse_nn._kernels`, wrapped in a
:class:`torch.autograd.Function` so that the layer composes with the rest of torch (activations,
losses, ``loss.backward()``).

Activations inside :class:`SparseMLP` travel **feature-major**, ``(features, batch)``: the input
is transposed once, every layer reads and writes rows of length ``batch``, and the logits are
transposed back at the end. :class:`SparseLinear` on its own takes and returns the usual
batch-major ``(batch, features)`` tensors.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from .._validation import check_fraction, check_int, get_rng
from ..pruning.scores import erk_densities
from ._kernels import csc_structure, forward_kernel, input_grad_kernel, sddmm_kernel

__all__ = ["SparseLinear", "SparseMLP", "erdos_renyi_densities"]

_DTYPES = (torch.float32, torch.float64)


def _check_dtype(dtype) -> torch.dtype:
    if dtype not in _DTYPES:
        raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    return dtype


# Below this many positions (64 MB of int64), or when at least half of them are kept, the
# pattern is one ``Generator.choice`` over all positions (memory ~ positions <= 2 nnz).
_SMALL_POPULATION = 2**23
# Otherwise positions are drawn in blocks of whole rows of about this many positions.
_BLOCK_POSITIONS = 2**22


def _check_fits(nnz: int, density: float, itemsize: int) -> None:
    """Refuse a layer whose construction would not fit in the memory available now."""
    need = nnz * (4 + 4 + itemsize)  # sampling keys (uint32), column index (int32), value
    try:
        with open("/proc/meminfo") as f:
            info = dict(line.split(":", 1) for line in f)
        available = int(info["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):  # not Linux: no check
        return
    if need > available:
        raise MemoryError(
            f"density={density} gives nnz={nnz:,} stored weights; building this layer needs "
            f"about {need / 2**30:.1f} GiB but only {available / 2**30:.1f} GiB are available: "
            "lower density or the layer size")


def _csr_from_sorted_keys(keys: np.ndarray, n_out: int, n_in: int):
    indptr = np.searchsorted(keys, np.arange(n_out + 1, dtype=np.int64) * n_in)
    return indptr.astype(np.int64), (keys % n_in).astype(np.int32)


def _random_pattern(n_out: int, n_in: int, nnz: int, rng: np.random.Generator):
    """CSR row pointers and sorted column indices of ``nnz`` uniformly random positions.

    Every ``nnz``-subset of the ``n_out * n_in`` positions is equally likely. A small or dense
    layer takes ``Generator.choice`` over all positions. For a sparse pattern in a large layer
    that would permute every position (18.6 GiB for 50,000 x 50,000 at 5 %), so instead: draw
    ``m`` positions with replacement, block of rows by block of rows (the number falling in
    each block is multinomial, so this is exactly ``m`` i.i.d. uniform draws), keep the
    distinct ones, and drop a uniformly random surplus to leave exactly ``nnz``. Every step is
    symmetric in the positions, hence the uniform subset; the memory is about 8 bytes per
    non-zero besides the layer's own arrays.
    """
    total = n_out * n_in
    if total <= _SMALL_POPULATION or 2 * nnz >= total:
        return _csr_from_sorted_keys(np.sort(rng.choice(total, size=nnz, replace=False)),
                                     n_out, n_in)
    rows_per_block = max(1, _BLOCK_POSITIONS // n_in)
    starts = np.arange(0, n_out, rows_per_block)
    pops = np.minimum(rows_per_block, n_out - starts) * n_in
    # draws whose expected number of distinct positions exceeds nnz by ~6 standard deviations
    m = int(math.ceil(-total * math.log1p(-nnz / total) + 6 * math.sqrt(nnz) + 64))
    while True:
        per_block = rng.multinomial(m, pops / total)
        blocks = []
        for pop, k in zip(pops, per_block, strict=True):
            b = rng.integers(0, pop, size=k, dtype=np.int64)
            b.sort()
            blocks.append(b[np.concatenate(([True], b[1:] != b[:-1]))].astype(np.uint32))
        distinct = np.array([b.size for b in blocks])
        if distinct.sum() >= nnz:  # else (vanishingly rare) draw again: still symmetric
            break
    drops = rng.multivariate_hypergeometric(distinct, int(distinct.sum()) - nnz)
    indptr = np.zeros(n_out + 1, dtype=np.int64)
    cols = np.empty(nnz, dtype=np.int32)
    at = 0
    for r0, b, d in zip(starts, blocks, drops, strict=True):
        if d:
            keep = np.ones(b.size, dtype=bool)
            keep[rng.choice(b.size, size=d, replace=False)] = False
            b = b[keep]
        rows = b // n_in  # block-local row of each kept position (sorted)
        n_rows = min(rows_per_block, n_out - r0)
        indptr[r0 + 1:r0 + n_rows + 1] = np.bincount(rows, minlength=n_rows)
        cols[at:at + b.size] = b % n_in
        at += b.size
    np.cumsum(indptr, out=indptr)
    return indptr, cols


def erdos_renyi_densities(sizes: Sequence[int], density: float) -> list[float]:
    """Layer densities of the Erdos-Renyi rule of SET, for an MLP with overall ``density``.

    Layer ``l`` (``n_in x n_out``) gets density ``eps (n_in + n_out) / (n_in n_out)``, with one
    ``eps`` chosen so that the whole network keeps the fraction ``density`` of its weights; small
    layers (the output layer) stay denser than wide ones. A layer that would exceed density 1 is
    made dense and ``eps`` is recomputed for the others (Mocanu et al., 2018; Evci et al., 2020).
    This is :func:`sparsecourse.pruning.erk_densities` for the weights of an MLP.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, input first: ``[64, 256, 10]`` is a 64-256-10 MLP.
    density : float in (0, 1]
        Fraction of all weights kept.

    Returns
    -------
    list of float, one density per layer

    Examples
    --------
    >>> from sparsecourse.sparse_nn import erdos_renyi_densities
    >>> [round(d, 4) for d in erdos_renyi_densities([64, 1024, 512, 10], 0.01)]
    [0.0314, 0.0055, 0.1928]
    """
    sizes = [check_int(s, "sizes", minimum=1) for s in sizes]
    if len(sizes) < 2:
        raise ValueError(f"sizes needs at least an input and an output width, got {sizes}")
    shapes = {str(k): (b, a) for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True))}
    return [min(1.0, d) for d in erk_densities(shapes, density).values()]


class _SparseLinearFunction(torch.autograd.Function):
    """``Y^T = W X^T + b`` on feature-major tensors, with the three numba kernels.

    Inputs: ``xT`` (in, batch), ``values`` (nnz,), ``bias`` (out,) or None, and the layer (for
    its pattern). Gradients are computed only for the inputs that need them: the input gradient
    of the first layer (whose input is the data) is skipped.
    """

    @staticmethod
    def forward(ctx, xT, values, bias, layer):
        yT = torch.empty((layer.out_features, xT.shape[1]), dtype=xT.dtype)
        b = layer._zero_bias if bias is None else bias.detach().numpy()
        forward_kernel(layer._indptr_np, layer._indices_np, values.detach().numpy(),
                       xT.detach().numpy(), b, yT.numpy())
        ctx.save_for_backward(xT, values)
        ctx.layer = layer
        ctx.has_bias = bias is not None
        return yT

    @staticmethod
    def backward(ctx, gT):
        xT, values = ctx.saved_tensors
        layer = ctx.layer
        gT = gT.contiguous()
        g_np = gT.numpy()
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        dxT = dvalues = dbias = None
        if need_x:
            dxT = torch.empty_like(xT)
            colptr, rowidx, perm = layer._csc()
            input_grad_kernel(colptr, rowidx, perm, values.detach().numpy(), g_np, dxT.numpy())
        if need_w or (need_b and ctx.has_bias):
            dvalues = torch.empty_like(values)
            dbias = torch.empty(layer.out_features if ctx.has_bias else 0, dtype=gT.dtype)
            sddmm_kernel(layer._indptr_np, layer._indices_np, g_np, xT.detach().numpy(),
                         dvalues.detach().numpy(), dbias.numpy())
            if not need_w:
                dvalues = None
            if not (need_b and ctx.has_bias):
                dbias = None
        return dxT, dvalues, dbias, None


class SparseLinear(nn.Module):
    """A linear layer ``y = x W^T + b`` whose weight lives only as CSR non-zeros.

    Parameters
    ----------
    in_features, out_features : int
        Sizes of the input and the output.
    density : float in (0, 1]
        Fraction of the ``out_features x in_features`` weights that exist; exactly
        ``max(1, round(density * out_features * in_features))`` positions are drawn uniformly
        at random without replacement.
    bias : bool, default True
    seed : int, numpy.random.Generator or None
        Draws the sparsity pattern and the initial values.
    dtype : torch.float32 or torch.float64, default torch.float32

    Attributes
    ----------
    values : nn.Parameter, shape (nnz,)
        The stored weights, row by row (CSR order).
    bias : nn.Parameter, shape (out_features,) or None
    indptr : buffer, int64, shape (out_features + 1,)
    indices : buffer, int32, shape (nnz,)
        Column of each stored weight, sorted within each row.

    Notes
    -----
    The values are drawn from ``U(-bound, bound)`` with ``bound = sqrt(6 / fan_in)``, He's
    uniform initialisation for ReLU networks, where ``fan_in = density * in_features`` is the
    *expected* number of inputs of a neuron: a sparse neuron sums fewer terms, so its weights are
    larger than a dense neuron's. The bias starts at zero. The layer runs on the CPU (numba);
    see :mod:`sparsecourse.sparse_nn.triton_forward` for a GPU forward kernel.

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.sparse_nn import SparseLinear
    >>> layer = SparseLinear(100, 20, density=0.1, seed=0)
    >>> layer.nnz, layer.values.shape
    (200, torch.Size([200]))
    >>> x = torch.randn(8, 100)
    >>> y = layer(x)
    >>> torch.allclose(y, x @ layer.to_dense().T + layer.bias, atol=1e-5)
    True
    """

    def __init__(self, in_features: int, out_features: int, density: float, *, bias: bool = True,
                 seed=None, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.in_features = check_int(in_features, "in_features", minimum=1)
        self.out_features = check_int(out_features, "out_features", minimum=1)
        density = check_fraction(density, "density", closed="right")
        dtype = _check_dtype(dtype)
        rng = get_rng(seed)
        total = self.in_features * self.out_features
        nnz = min(total, max(1, round(density * total)))
        _check_fits(nnz, density, torch.empty(0, dtype=dtype).element_size())
        indptr, indices = _random_pattern(self.out_features, self.in_features, nnz, rng)
        bound = math.sqrt(6.0 / max(1.0, density * self.in_features))
        values = np.empty(nnz, dtype=torch.empty(0, dtype=dtype).numpy().dtype)
        step = 1 << 24  # chunks: the same draws as one call, without a float64 copy of all
        for start in range(0, nnz, step):
            stop = min(nnz, start + step)
            values[start:stop] = rng.uniform(-bound, bound, size=stop - start)
        self.init_bound = bound
        self.register_buffer("indptr", torch.from_numpy(indptr))
        self.register_buffer("indices", torch.from_numpy(indices))
        self.values = nn.Parameter(torch.from_numpy(values).to(dtype))
        self.bias = nn.Parameter(torch.zeros(self.out_features, dtype=dtype)) if bias else None
        self._pattern_changed()

    # -- construction from existing weights -----------------------------------------------------
    @classmethod
    def from_dense(cls, weight, bias=None, mask=None) -> SparseLinear:
        """A layer holding the entries of ``weight`` where ``mask`` is true (default: non-zeros).

        Parameters
        ----------
        weight : torch.Tensor or ndarray, shape (out_features, in_features), float32/float64
        bias : torch.Tensor or ndarray, shape (out_features,), optional
        mask : bool tensor or array of the same shape, optional
            Which entries to store; default ``weight != 0``. At least one entry.

        Examples
        --------
        >>> import torch
        >>> from sparsecourse.sparse_nn import SparseLinear
        >>> w = torch.tensor([[1.0, 0.0, 2.0], [0.0, 0.0, 3.0]])
        >>> SparseLinear.from_dense(w).indices.tolist()
        [0, 2, 2]
        """
        w = torch.as_tensor(weight).detach().cpu()
        if w.dim() != 2:
            raise ValueError("weight must be 2-D (out_features, in_features), "
                             f"got {tuple(w.shape)}")
        _check_dtype(w.dtype)
        m = (w != 0) if mask is None else torch.as_tensor(mask).detach().cpu()
        if m.shape != w.shape:
            raise ValueError(f"mask must have the shape of weight {tuple(w.shape)}, "
                             f"got {tuple(m.shape)}")
        m = m.bool()
        if not m.any():
            raise ValueError("mask (or weight) selects no entry: a layer needs at least one weight")
        if bias is not None:
            bias = torch.as_tensor(bias).detach().cpu().to(w.dtype)
            if bias.shape != (w.shape[0],):
                raise ValueError(f"bias must have shape ({w.shape[0]},), got {tuple(bias.shape)}")
        A = sp.csr_array(m.numpy().astype(np.int8))
        A.sort_indices()
        layer = cls.__new__(cls)
        nn.Module.__init__(layer)
        layer.out_features, layer.in_features = w.shape
        layer.init_bound = float("nan")
        layer.register_buffer("indptr", torch.from_numpy(A.indptr.astype(np.int64)))
        layer.register_buffer("indices", torch.from_numpy(A.indices.astype(np.int32)))
        rows = np.repeat(np.arange(w.shape[0]), np.diff(A.indptr))
        layer.values = nn.Parameter(w[torch.from_numpy(rows), layer.indices.long()].clone())
        layer.bias = None if bias is None else nn.Parameter(bias.clone())
        layer._pattern_changed()
        return layer

    # -- pattern bookkeeping ----------------------------------------------------------------------
    def _pattern_changed(self) -> None:
        """Refresh the NumPy views and drop the cached CSC structure (after a topology update)."""
        self._indptr_np = self.indptr.numpy()
        self._indices_np = self.indices.numpy()
        self._zero_bias = np.zeros(self.out_features, dtype=self.values.detach().numpy().dtype)
        self._csc_cache = None

    def _csc(self):
        if self._csc_cache is None:
            self._csc_cache = csc_structure(self._indptr_np, self._indices_np, self.in_features)
        return self._csc_cache

    def _apply(self, fn, *args, **kwargs):  # .to(), .double(), ...: keep the NumPy views in sync
        out = super()._apply(fn, *args, **kwargs)
        self._pattern_changed()
        return out

    @property
    def nnz(self) -> int:
        """Number of stored weights."""
        return int(self.indices.shape[0])

    @property
    def density(self) -> float:
        """Fraction of the ``out x in`` positions that are stored."""
        return self.nnz / (self.in_features * self.out_features)

    def rows(self) -> torch.Tensor:
        """Row (output neuron) of each stored weight, in CSR order (int64)."""
        return torch.repeat_interleave(torch.arange(self.out_features),
                                       torch.diff(self.indptr))

    def to_scipy(self) -> sp.csr_array:
        """The weight as a :class:`scipy.sparse.csr_array` (a copy of the values)."""
        return sp.csr_array((self.values.detach().numpy().copy(), self._indices_np.copy(),
                             self._indptr_np.copy()), shape=(self.out_features, self.in_features))

    def to_dense(self) -> torch.Tensor:
        """The weight as a dense ``(out_features, in_features)`` tensor (for checks and plots)."""
        return torch.from_numpy(self.to_scipy().toarray())

    def mask(self) -> torch.Tensor:
        """Boolean ``(out_features, in_features)`` mask of the stored positions."""
        m = torch.zeros(self.out_features, self.in_features, dtype=torch.bool)
        m[self.rows(), self.indices.long()] = True
        return m

    # -- products -------------------------------------------------------------------------------
    def _check_input(self, x, name: str = "x") -> None:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if x.device.type != "cpu":
            raise ValueError(f"{name} must be on the CPU (numba kernels), got device {x.device}")
        if x.dtype != self.values.dtype:
            raise TypeError(f"{name} must have the layer's dtype {self.values.dtype}, "
                            f"got {x.dtype}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x W^T + b`` for ``x`` of shape ``(batch, in_features)``."""
        self._check_input(x)
        if x.dim() != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"x must have shape (batch, {self.in_features}), "
                             f"got {tuple(x.shape)}")
        return self.forward_feature_major(x.t().contiguous()).t()

    def forward_feature_major(self, xT: torch.Tensor) -> torch.Tensor:
        """``W x^T + b`` for ``xT`` of shape ``(in_features, batch)``; returns ``(out, batch)``.

        Examples
        --------
        >>> import torch
        >>> from sparsecourse.sparse_nn import SparseLinear
        >>> layer = SparseLinear(6, 4, density=0.5, seed=0)
        >>> layer.forward_feature_major(torch.ones(6, 3)).shape
        torch.Size([4, 3])
        """
        self._check_input(xT, "xT")
        if xT.dim() != 2 or xT.shape[0] != self.in_features:
            raise ValueError(f"xT must have shape ({self.in_features}, batch), "
                             f"got {tuple(xT.shape)}")
        return _SparseLinearFunction.apply(xT.contiguous(), self.values, self.bias, self)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"nnz={self.nnz}, density={self.density:.4g}, bias={self.bias is not None}")


class SparseMLP(nn.Module):
    """A ReLU MLP of :class:`SparseLinear` layers (logits out, no final activation).

    Parameters
    ----------
    sizes : sequence of int
        Widths, input first: ``[3072, 1024, 512, 10]`` is Nerva's CIFAR-10 network.
    density : float in (0, 1] or sequence of floats
        One density for every layer, or one per layer (e.g. from
        :func:`erdos_renyi_densities`).
    bias : bool, default True
    seed : int, numpy.random.Generator or None
    dtype : torch.float32 or torch.float64

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.sparse_nn import SparseMLP
    >>> net = SparseMLP([64, 32, 10], density=0.2, seed=0)
    >>> net(torch.randn(5, 64)).shape
    torch.Size([5, 10])
    >>> [layer.nnz for layer in net.layers]
    [410, 64]
    """

    def __init__(self, sizes: Sequence[int], density, *, bias: bool = True, seed=None,
                 dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        sizes = [check_int(s, "sizes", minimum=1) for s in sizes]
        if len(sizes) < 2:
            raise ValueError(f"sizes needs at least an input and an output width, got {sizes}")
        n_layers = len(sizes) - 1
        if isinstance(density, Sequence) or (isinstance(density, np.ndarray) and density.ndim):
            densities = list(density)
            if len(densities) != n_layers:
                raise ValueError(f"density must be one number or {n_layers} numbers (one per "
                                 f"layer), got {len(densities)}")
        else:
            densities = [density] * n_layers
        rng = get_rng(seed)
        self.sizes = sizes
        self.layers = nn.ModuleList(
            SparseLinear(a, b, d, bias=bias, seed=rng, dtype=dtype)
            for a, b, d in zip(sizes[:-1], sizes[1:], densities, strict=True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape ``(batch, sizes[-1])`` for ``x`` of shape ``(batch, sizes[0])``."""
        first = self.layers[0]
        first._check_input(x)
        if x.dim() != 2 or x.shape[1] != self.sizes[0]:
            raise ValueError(f"x must have shape (batch, {self.sizes[0]}), got {tuple(x.shape)}")
        h = x.t().contiguous()  # feature-major from here on
        for k, layer in enumerate(self.layers):
            h = _SparseLinearFunction.apply(h, layer.values, layer.bias, layer)
            if k < len(self.layers) - 1:
                h = torch.relu(h)
        return h.t()

    @property
    def nnz(self) -> int:
        """Stored weights in all layers."""
        return sum(layer.nnz for layer in self.layers)

    @property
    def density(self) -> float:
        """Fraction of the dense network's weights that are stored."""
        total = sum(a * b for a, b in zip(self.sizes[:-1], self.sizes[1:], strict=True))
        return self.nnz / total

    def to_masked_dense(self) -> nn.Sequential:
        """A dense ``nn.Sequential`` with the same weights (zeros off the pattern).

        The masks are returned on each ``nn.Linear`` as the attribute ``mask`` (what a
        dense-with-mask training loop multiplies by).

        Examples
        --------
        >>> import torch
        >>> from sparsecourse.sparse_nn import SparseMLP
        >>> net = SparseMLP([8, 6, 3], density=0.5, seed=0)
        >>> dense = net.to_masked_dense()
        >>> x = torch.randn(4, 8)
        >>> torch.allclose(net(x), dense(x), atol=1e-5)
        True
        """
        mods: list[nn.Module] = []
        for k, layer in enumerate(self.layers):
            lin = nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None,
                            dtype=layer.values.dtype)
            with torch.no_grad():
                lin.weight.copy_(layer.to_dense())
                if layer.bias is not None:
                    lin.bias.copy_(layer.bias)
            lin.mask = layer.mask()
            mods.append(lin)
            if k < len(self.layers) - 1:
                mods.append(nn.ReLU())
        return nn.Sequential(*mods)
