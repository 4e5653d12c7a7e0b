"""Truly sparse layers (Chapter 4b): the CSR kernels against dense masked autograd and NumPy.

The kernels must reproduce, on random inputs, what a dense network with a 0/1 mask computes with
torch autograd: the forward values and all three gradients (input, weight on the pattern, bias).
"""

import doctest
import importlib
import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from sparsecourse.checks import check_sddmm, check_sparse_forward, check_sparse_input_grad
from sparsecourse.datasets import random_csr
from sparsecourse.sparse_nn import (
    SparseLinear,
    SparseMLP,
    SparseSGD,
    csc_structure,
    erdos_renyi_densities,
    sddmm,
    sddmm_reference,
    set_update,
    set_update_reference,
    sparse_linear_forward,
    sparse_linear_forward_reference,
    sparse_linear_input_grad,
    sparse_linear_input_grad_reference,
)

TOL = {np.float32: {"rtol": 1e-4, "atol": 1e-5}, np.float64: {"rtol": 1e-11, "atol": 1e-12}}


# --------------------------------------------------------------------------------------------
# numba kernels vs the NumPy references vs dense
# --------------------------------------------------------------------------------------------

@pytest.fixture(params=["serial", "parallel"])
def threading(request, monkeypatch):
    """Run a test with the serial kernels, then with the parallel ones (threshold set to 0)."""
    import sparsecourse.sparse_nn._kernels as k

    if request.param == "parallel":
        monkeypatch.setattr(k, "PARALLEL_MIN_WORK", 0)
        monkeypatch.setattr(k, "PARALLEL_MIN_SIZE", 0)
    else:
        monkeypatch.setattr(k, "PARALLEL_MIN_WORK", 2**62)
        monkeypatch.setattr(k, "PARALLEL_MIN_SIZE", 2**62)
    return request.param


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("density", [0.0, 0.03, 0.3, 1.0])
@pytest.mark.parametrize("shape,batch", [((1, 1), 1), ((17, 23), 5), ((64, 50), 100),
                                         ((40, 130), 3)])
def test_kernels_match_reference_and_dense(shape, batch, density, dtype, threading):
    rng = np.random.default_rng(0)
    W = random_csr(*shape, density, seed=rng, dtype=dtype, empty_rows=0.2)
    X = rng.standard_normal((batch, shape[1])).astype(dtype)
    dY = rng.standard_normal((batch, shape[0])).astype(dtype)
    b = rng.standard_normal(shape[0]).astype(dtype)
    D = W.toarray()
    Y = sparse_linear_forward(W, X, b)
    assert Y.dtype == dtype and Y.shape == (batch, shape[0])
    np.testing.assert_allclose(Y, sparse_linear_forward_reference(W, X, b), **TOL[dtype])
    np.testing.assert_allclose(Y, X @ D.T + b, **TOL[dtype])
    dX = sparse_linear_input_grad(W, dY)
    np.testing.assert_allclose(dX, sparse_linear_input_grad_reference(W, dY), **TOL[dtype])
    np.testing.assert_allclose(dX, dY @ D, **TOL[dtype])
    g, gb = sddmm(W, dY, X, return_bias_grad=True)
    rows = np.repeat(np.arange(shape[0]), np.diff(W.indptr))
    np.testing.assert_allclose(g, sddmm_reference(W, dY, X), **TOL[dtype])
    np.testing.assert_allclose(g, (dY.T @ X)[rows, W.indices], **TOL[dtype])
    np.testing.assert_allclose(gb, dY.sum(0), **TOL[dtype])



@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch", [1, 3, 16, 20, 64, 100])
def test_input_grad_register_rows_match_the_axpy_loop(batch, dtype, threading):
    """A batch of <= REG_BYTES bytes takes the register path (chapter 0's spmm_row on the
    weights in CSC order); it adds in the axpy loop's order, so both give the same bits. The
    axpy loop is reached with a column-strided view of the same dY^T."""
    from sparsecourse.kernels._numba_csr import _narrow
    from sparsecourse.kernels._simd import REG_BYTES
    from sparsecourse.sparse_nn._kernels import csc_structure, input_grad_kernel

    rng = np.random.default_rng(3)
    W = random_csr(90, 70, 0.2, seed=rng, dtype=dtype, empty_rows=0.1)
    colptr, rowidx, perm = csc_structure(W.indptr, W.indices, 70)
    dYT = rng.standard_normal((90, batch)).astype(dtype)
    wide = np.zeros((90, 2 * batch), dtype)
    wide[:, ::2] = dYT
    dXT = np.full((70, batch), np.nan, dtype)
    dXT_axpy = np.full((70, batch), np.nan, dtype)
    # float64 x 100 (800 bytes) is past REG_BYTES: the axpy loop on both sides
    assert _narrow(dYT, dXT) == (batch * dYT.itemsize <= REG_BYTES)
    assert not _narrow(wide[:, ::2], dXT_axpy)
    input_grad_kernel(colptr, rowidx, perm, W.data, dYT, dXT)
    input_grad_kernel(colptr, rowidx, perm, W.data, wide[:, ::2], dXT_axpy)
    assert np.array_equal(dXT, dXT_axpy)
    np.testing.assert_allclose(dXT, W.toarray().T @ dYT, **TOL[dtype])

def test_unsorted_csr_is_sorted_before_the_kernels():
    W = sp.csr_array((np.array([1.0, 2.0, 3.0]), np.array([2, 0, 1]), np.array([0, 2, 3])),
                     shape=(2, 3))
    X = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(sparse_linear_forward(W, X), X @ W.toarray().T)


def test_csc_structure_lists_each_column():
    W = random_csr(30, 20, 0.2, seed=3)
    colptr, rowidx, perm = csc_structure(W.indptr, W.indices, 20)
    C = W.tocsc()
    C.sort_indices()
    np.testing.assert_array_equal(colptr, C.indptr)
    np.testing.assert_array_equal(rowidx, C.indices)
    np.testing.assert_array_equal(W.data[perm], C.data)


# --------------------------------------------------------------------------------------------
# The autograd Function against dense masked autograd
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 2e-4)])
@pytest.mark.parametrize("bias", [True, False])
def test_sparse_mlp_matches_dense_masked_autograd(dtype, tol, bias, threading):
    torch.manual_seed(0)
    net = SparseMLP([37, 29, 23, 7], density=[0.2, 0.5, 0.9], bias=bias, seed=1, dtype=dtype)
    dense = net.to_masked_dense()
    x = torch.randn(11, 37, dtype=dtype)
    target = torch.randint(0, 7, (11,))
    xs, xd = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_s, out_d = net(xs), dense(xd)
    torch.testing.assert_close(out_s, out_d, rtol=tol, atol=tol)
    torch.nn.functional.cross_entropy(out_s, target).backward()
    torch.nn.functional.cross_entropy(out_d, target).backward()
    torch.testing.assert_close(xs.grad, xd.grad, rtol=tol, atol=tol)      # dX
    for k, layer in enumerate(net.layers):
        lin = dense[2 * k]
        pattern_grad = lin.weight.grad[layer.rows(), layer.indices.long()]
        torch.testing.assert_close(layer.values.grad, pattern_grad, rtol=tol, atol=tol)  # dW
        if bias:
            torch.testing.assert_close(layer.bias.grad, lin.bias.grad, rtol=tol, atol=tol)


def test_sparse_linear_gradcheck():
    layer = SparseLinear(9, 6, density=0.4, seed=0, dtype=torch.float64)
    x = torch.randn(4, 9, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, v, b: layer(x), (x, layer.values, layer.bias))


def test_first_layer_skips_the_input_gradient(monkeypatch):
    import sparsecourse.sparse_nn.layers as layers_mod

    calls = []
    real = layers_mod.input_grad_kernel
    monkeypatch.setattr(layers_mod, "input_grad_kernel",
                        lambda *a: (calls.append(1), real(*a))[1])
    net = SparseMLP([10, 8, 3], density=0.5, seed=0)
    net(torch.randn(5, 10)).sum().backward()
    assert len(calls) == 1  # only the second layer needs dX


def test_baselines_compute_the_same_network():
    from sparsecourse.sparse_nn.baselines import MaskedDenseMLP, TorchSparseMLP

    net = SparseMLP([12, 9, 4], density=0.3, seed=2, dtype=torch.float64)
    x = torch.randn(5, 12, dtype=torch.float64)
    for other in (MaskedDenseMLP(net), TorchSparseMLP(net)):
        torch.testing.assert_close(other(x), net(x))
    with pytest.raises(TypeError, match="SparseMLP"):
        MaskedDenseMLP(torch.nn.Linear(2, 2))


def test_from_dense_roundtrip_and_no_grad_inference():
    w = torch.randn(5, 7)
    mask = torch.rand(5, 7) < 0.4
    layer = SparseLinear.from_dense(w, torch.ones(5), mask=mask)
    torch.testing.assert_close(layer.to_dense(), w * mask)
    assert torch.equal(layer.mask(), mask)
    with torch.no_grad():
        y = layer(torch.ones(2, 7))
    torch.testing.assert_close(y, torch.ones(2, 7) @ (w * mask).T + 1)


def test_density_and_seed():
    a = SparseLinear(300, 200, density=0.05, seed=4)
    b = SparseLinear(300, 200, density=0.05, seed=4)
    assert a.nnz == 3000 and abs(a.density - 0.05) < 1e-12
    assert torch.equal(a.indices, b.indices) and torch.equal(a.values, b.values)
    # indices sorted within each row, no duplicates
    A = a.to_scipy()
    assert A.has_canonical_format
    assert SparseLinear(3, 2, density=1.0, seed=0).nnz == 6


def test_blockwise_pattern_sampler_is_uniform_and_canonical(monkeypatch):
    """The large-layer sampler, forced onto a small layer: every position equally likely."""
    from sparsecourse.sparse_nn import layers

    monkeypatch.setattr(layers, "_SMALL_POPULATION", 0)
    monkeypatch.setattr(layers, "_BLOCK_POSITIONS", 10)  # blocks of 2 rows of 5
    n_out, n_in, nnz, trials = 7, 5, 6, 6000
    rng = np.random.default_rng(0)
    counts = np.zeros((n_out, n_in))
    pair = 0  # how often positions (0, 0) and (6, 4), in different blocks, are both kept
    for _ in range(trials):
        indptr, cols = layers._random_pattern(n_out, n_in, nnz, rng)
        A = sp.csr_array((np.ones(nnz), cols, indptr), shape=(n_out, n_in))
        assert A.nnz == nnz and A.has_canonical_format
        dense = A.toarray()
        counts += dense
        pair += dense[0, 0] * dense[6, 4]
    p = nnz / (n_out * n_in)
    sd = np.sqrt(trials * p * (1 - p))
    assert np.all(np.abs(counts - trials * p) < 4.5 * sd), counts  # marginals: nnz / 35 each
    p_pair = nnz * (nnz - 1) / (35 * 34)  # both of two given positions kept
    assert abs(pair - trials * p_pair) < 4.5 * np.sqrt(trials * p_pair)


def test_a_large_sparse_layer_builds_in_memory_proportional_to_its_nonzeros():
    """50,000 x 50,000 at 5 %: 125 million weights (1 GB stored) under an 8 GiB address cap.

    Permuting every position (the old sampler) asked for 18.6 GiB here.
    """
    code = (
        "import resource, time\n"
        "resource.setrlimit(resource.RLIMIT_AS, (8 * 2**30, 8 * 2**30))\n"
        "from sparsecourse.sparse_nn import SparseLinear\n"
        "layer = SparseLinear(50_000, 50_000, 0.05, seed=0)\n"
        "ip = layer.indptr.numpy()\n"
        "assert layer.nnz == 125_000_000 and ip[-1] == layer.nnz and (ip[1:] >= ip[:-1]).all()\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    peak_gib = int(out.stdout.split()[-1]) / 2**20
    assert peak_gib < 4.0, peak_gib


def test_a_layer_that_cannot_fit_gets_a_clear_error():
    with pytest.raises(MemoryError, match=r"density=0.5 gives nnz=5,000,000,000,000"):
        SparseLinear(10_000_000, 1_000_000, 0.5)


def test_erdos_renyi_densities_keep_the_budget():
    sizes = [64, 1024, 512, 10]
    d = erdos_renyi_densities(sizes, 0.01)
    n = [a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    assert abs(sum(di * ni for di, ni in zip(d, n, strict=True)) / sum(n) - 0.01) < 1e-12
    assert d[2] > d[0] > d[1]  # the small output layer stays densest
    d = erdos_renyi_densities([4, 4, 100], 0.9)   # a layer capped at density 1
    assert d[0] == 1.0 and max(d) <= 1.0


# --------------------------------------------------------------------------------------------
# Optimizer and SET
# --------------------------------------------------------------------------------------------

def test_sparse_sgd_matches_torch_sgd(threading):
    torch.manual_seed(0)
    p1 = torch.nn.Parameter(torch.randn(50))
    p2 = torch.nn.Parameter(p1.detach().clone())
    ours = SparseSGD([p1], lr=0.1, momentum=0.9, weight_decay=1e-3, dampening=0.1)
    ref = torch.optim.SGD([p2], lr=0.1, momentum=0.9, weight_decay=1e-3, dampening=0.1)
    for _ in range(5):
        g = torch.randn(50)
        p1.grad, p2.grad = g.clone(), g.clone()
        ours.step()
        ref.step()
    torch.testing.assert_close(p1, p2)


def test_training_with_kernels_equals_dense_masked_training():
    X = torch.randn(64, 20, dtype=torch.float64)
    y = torch.randint(0, 3, (64,))
    net = SparseMLP([20, 16, 3], density=0.3, seed=0, dtype=torch.float64)
    dense = net.to_masked_dense()
    opt_s = SparseSGD(net.parameters(), lr=0.05, momentum=0.9)
    opt_d = torch.optim.SGD(dense.parameters(), lr=0.05, momentum=0.9)
    for _ in range(10):
        for model, opt in ((net, opt_s), (dense, opt_d)):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(X), y).backward()
            opt.step()
        with torch.no_grad():
            for m in dense:
                if hasattr(m, "mask"):
                    m.weight.mul_(m.mask)
    for k, layer in enumerate(net.layers):
        torch.testing.assert_close(layer.to_dense(), dense[2 * k].weight.detach())


@pytest.mark.parametrize("density,drop_fraction", [(0.05, 0.3), (0.5, 0.5), (0.9, 0.3), (1.0, 0.2)])
def test_set_keeps_density_and_never_duplicates(density, drop_fraction):
    layer = SparseLinear(30, 40, density=density, seed=0)
    opt = SparseSGD(layer.parameters(), lr=0.1)
    layer(torch.randn(4, 30)).sum().backward()
    opt.step()
    nnz = layer.nnz
    for seed in range(5):
        before = layer.to_dense()
        keep_min = layer.values.detach().abs().sort().values[round(drop_fraction * nnz)]
        res = set_update(layer, drop_fraction, seed=seed, optimizer=opt)
        A = layer.to_scipy()
        assert layer.nnz == nnz == A.nnz
        assert res["dropped"] == res["grown"] == round(drop_fraction * nnz)
        assert A.has_canonical_format                               # sorted, no duplicates
        keys = layer.rows() * 30 + layer.indices.long()
        assert torch.unique(keys).numel() == nnz
        assert torch.all(torch.diff(keys) > 0)
        # surviving weights keep their values; the strongest ones all survive
        after = layer.to_dense()
        kept = (before != 0) & (after != 0)
        torch.testing.assert_close(after[kept], before[kept])
        assert torch.all(after[before.abs() > keep_min] != 0)
        assert opt.state[layer.values]["momentum_buffer"].shape == (nnz,)
    layer(torch.randn(4, 30)).sum().backward()  # the layer still works after the updates


def test_set_remaps_momentum_with_the_weights():
    layer = SparseLinear(10, 20, density=0.2, seed=1)
    opt = SparseSGD(layer.parameters(), lr=0.1, momentum=0.9)
    layer(torch.randn(3, 10)).sum().backward()
    opt.step()
    keys = (layer.rows() * 10 + layer.indices.long()).tolist()
    buf = dict(zip(keys, opt.state[layer.values]["momentum_buffer"].tolist(), strict=True))
    old = dict(zip(keys, layer.values.detach().tolist(), strict=True))
    set_update(layer, 0.5, seed=0, optimizer=opt, init="random")
    new_buf = opt.state[layer.values]["momentum_buffer"]
    survivors = 0
    for k, key in enumerate((layer.rows() * 10 + layer.indices.long()).tolist()):
        if key in old and layer.values[k].item() == old[key]:  # kept by SET: same position, value
            assert new_buf[k].item() == pytest.approx(buf[key])
            survivors += 1
        else:  # grown: starts without momentum
            assert new_buf[k].item() == 0
    assert survivors == len(old) - round(0.5 * len(old))


def test_set_reference_agrees_on_count_and_drop():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((12, 9)) * (rng.random((12, 9)) < 0.3)
    m = set_update_reference(w, 0.25, seed=1)
    nz = np.flatnonzero(w)
    k = round(0.25 * nz.size)
    assert m.sum() == nz.size
    strongest = nz[np.argsort(np.abs(w.ravel()[nz]))[k:]]
    assert m.ravel()[strongest].all()


def test_sparse_mlp_learns_digits():
    from sparsecourse.datasets import load_digits

    X, y = load_digits()
    X, y = torch.from_numpy(X), torch.from_numpy(y)
    net = SparseMLP([64, 128, 10], density=0.2, seed=0)
    opt = SparseSGD(net.parameters(), lr=0.05, momentum=0.9)
    for _epoch in range(15):
        for i in range(0, 1500, 100):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(X[i:i + 100]), y[i:i + 100]).backward()
            opt.step()
    acc = (net(X[1500:]).argmax(1) == y[1500:]).float().mean().item()
    assert acc > 0.85


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------

def test_bad_input():
    W = random_csr(4, 3, 0.5, seed=0)
    with pytest.raises(ValueError, match="density"):
        SparseLinear(3, 4, density=0.0)
    with pytest.raises(ValueError, match="density"):
        SparseLinear(3, 4, density=1.5)
    with pytest.raises(TypeError, match="dtype"):
        SparseLinear(3, 4, density=0.5, dtype=torch.float16)
    with pytest.raises(ValueError, match="in_features"):
        SparseLinear(0, 4, density=0.5)
    layer = SparseLinear(3, 4, density=0.5, seed=0)
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 3\)"):
        layer(torch.ones(2, 5))
    with pytest.raises(TypeError, match="dtype"):
        layer(torch.ones(2, 3, dtype=torch.float64))
    with pytest.raises(TypeError, match="torch.Tensor"):
        layer(np.ones((2, 3)))
    with pytest.raises(ValueError, match="one number or 2 numbers"):
        SparseMLP([3, 4, 2], density=[0.5])
    with pytest.raises(ValueError, match="X must have W.shape\\[1\\] = 3"):
        sparse_linear_forward(W, np.ones((2, 4)))
    with pytest.raises(ValueError, match="b must have shape"):
        sparse_linear_forward(W, np.ones((2, 3)), np.ones(2))
    with pytest.raises(ValueError, match="dY must have W.shape\\[0\\] = 4"):
        sparse_linear_input_grad(W, np.ones((2, 3)))
    with pytest.raises(ValueError, match="same batch size"):
        sddmm(W, np.ones((2, 4)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="NaN"):
        sparse_linear_forward(W, np.full((1, 3), np.nan))
    with pytest.raises(TypeError, match="complex"):
        sddmm(W, np.ones((2, 4), complex), np.ones((2, 3)))
    with pytest.raises(TypeError, match="CSR"):
        sparse_linear_forward(W.tocoo(), np.ones((2, 3)))
    with pytest.raises(ValueError, match="mask must have the shape"):
        SparseLinear.from_dense(torch.ones(2, 3), mask=torch.ones(3, 2))
    with pytest.raises(ValueError, match="no entry"):
        SparseLinear.from_dense(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="drop_fraction"):
        set_update(layer, 1.5)
    with pytest.raises(ValueError, match="init"):
        set_update(layer, 0.1, init="ones")
    with pytest.raises(TypeError, match="SparseLinear or SparseMLP"):
        set_update(torch.nn.Linear(2, 2), 0.1)
    with pytest.raises(ValueError, match="lr"):
        SparseSGD(layer.parameters(), lr=0.0)
    with pytest.raises(ValueError, match="momentum"):
        SparseSGD(layer.parameters(), lr=0.1, momentum=1.0)
    with pytest.raises(ValueError, match="density"):
        erdos_renyi_densities([3, 4], 0.0)


# --------------------------------------------------------------------------------------------
# Checks for the exercises
# --------------------------------------------------------------------------------------------

def _forward(indptr, indices, data, X, b):
    Y = np.tile(b, (X.shape[0], 1))
    for i in range(len(indptr) - 1):
        for p in range(indptr[i], indptr[i + 1]):
            Y[:, i] += data[p] * X[:, indices[p]]
    return Y


def _input_grad(indptr, indices, data, dY, n_in):
    dX = np.zeros((dY.shape[0], n_in))
    for i in range(len(indptr) - 1):
        for p in range(indptr[i], indptr[i + 1]):
            dX[:, indices[p]] += data[p] * dY[:, i]
    return dX


def _sddmm(indptr, indices, dY, X):
    g = np.zeros(len(indices))
    for i in range(len(indptr) - 1):
        for p in range(indptr[i], indptr[i + 1]):
            g[p] = dY[:, i] @ X[:, indices[p]]
    return g


def test_checks_pass_correct_and_fail_wrong_answers():
    assert check_sparse_forward(_forward)
    assert check_sparse_input_grad(_input_grad)
    assert check_sddmm(_sddmm)
    no_bias = check_sparse_forward(lambda ip, ix, d, X, b: _forward(ip, ix, d, X, 0 * b))
    assert not no_bias and "bias" in no_bias.message
    transposed = check_sddmm(lambda ip, ix, dY, X: _sddmm(ip, ix, dY, X) * 2)
    assert not transposed
    assert not check_sparse_input_grad(lambda *a: np.zeros(3))
    assert "raised" in check_sddmm(lambda *a: 1 / 0).message
    assert not check_sddmm("not a function")
    assert not check_sparse_forward(lambda *a: np.full((1, 3), np.nan))


# --------------------------------------------------------------------------------------------
# Triton forward under the interpreter (small grids: each program runs in Python)
# --------------------------------------------------------------------------------------------

def _triton():
    pytest.importorskip("triton")
    from sparsecourse.kernels import triton_available

    if not triton_available():
        pytest.skip("needs a GPU or TRITON_INTERPRET=1")
    from sparsecourse.sparse_nn import triton_sparse_linear_forward

    return triton_sparse_linear_forward


def test_triton_forward_takes_a_torch_csr_tensor():
    fwd = _triton()
    rng = np.random.default_rng(3)
    W = random_csr(20, 30, 0.2, seed=rng, dtype=np.float32)
    Wt = torch.sparse_csr_tensor(torch.from_numpy(W.indptr), torch.from_numpy(W.indices),
                                 torch.from_numpy(W.data), size=W.shape, check_invariants=True)
    X = torch.from_numpy(rng.standard_normal((6, 30)).astype(np.float32))
    np.testing.assert_allclose(fwd(Wt, X, check_finite=False).numpy(), X.numpy() @ W.toarray().T,
                               rtol=1e-4, atol=1e-5)
    with pytest.raises(TypeError, match="sparse CSR tensor"):
        fwd(torch.eye(3), torch.ones(2, 3))


@pytest.mark.parametrize("density,batch,block_p,block_b", [(0.1, 5, 16, 32), (0.5, 40, 8, 16),
                                                           (0.0, 3, 16, 32)])
def test_triton_forward_matches_numba(density, batch, block_p, block_b):
    fwd = _triton()
    rng = np.random.default_rng(0)
    W = random_csr(24, 50, density, seed=rng, dtype=np.float32, empty_rows=0.2)
    X = rng.standard_normal((batch, 50)).astype(np.float32)
    b = rng.standard_normal(24).astype(np.float32)
    Y = fwd(W, X, b, block_p=block_p, block_b=block_b)
    assert isinstance(Y, torch.Tensor) and Y.shape == (batch, 24) and Y.dtype == torch.float32
    np.testing.assert_allclose(Y.cpu().numpy(), sparse_linear_forward(W, X, b), rtol=1e-4,
                               atol=1e-5)
    np.testing.assert_allclose(Y.cpu().numpy(), X @ W.toarray().T + b, rtol=1e-4, atol=1e-5)


def test_triton_forward_takes_a_layer_and_checks_input():
    fwd = _triton()
    layer = SparseLinear(30, 12, density=0.3, seed=0)
    with torch.no_grad():
        layer.bias.fill_(0.5)
    x = torch.randn(6, 30)
    torch.testing.assert_close(fwd(layer, x).cpu(), layer(x).detach(), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="columns"):
        fwd(layer, torch.randn(6, 29))
    with pytest.raises(ValueError, match="power of two"):
        fwd(layer, x, block_b=12)
    with pytest.raises(ValueError, match="bias must have shape"):
        fwd(layer, x, np.ones(3))


def test_import_works_without_triton():
    code = ("import sys; sys.modules['triton'] = None\n"
            "import sparsecourse.sparse_nn as s, torch\n"
            "print(s.SparseMLP([4, 3, 2], 0.5, seed=0)(torch.ones(1, 4)).shape)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "torch.Size([1, 2])" in out.stdout


# --------------------------------------------------------------------------------------------
# Docstring examples
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["sparsecourse.sparse_nn", "sparsecourse.sparse_nn._kernels",
                                  "sparsecourse.sparse_nn.layers", "sparsecourse.sparse_nn.ops",
                                  "sparsecourse.sparse_nn.optim", "sparsecourse.sparse_nn.set",
                                  "sparsecourse.sparse_nn.baselines",
                                  "sparsecourse.checks._sparse_nn", "sparsecourse.checks"])
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
        result = doctest.testmod(module, optionflags=flags)
    assert result.failed == 0
    if name != "sparsecourse.checks._sparse_nn":
        assert result.attempted > 0


def test_public_functions_have_examples():
    import sparsecourse.checks._sparse_nn as checks_mod
    import sparsecourse.sparse_nn as mod

    for module in (mod, checks_mod):
        for attr in module.__all__:
            obj = getattr(module, attr)
            assert obj.__doc__ and "Examples" in obj.__doc__, attr
