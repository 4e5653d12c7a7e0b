"""Checks for Chapter 3 (unrolled networks: LISTA, ALISTA, HyperLISTA) and sparse autoencoders."""

from __future__ import annotations

import numpy as np

from ._core import CheckResult, fail, ok

__all__ = ["check_lista_layer", "check_alista_weight", "check_topk", "check_nmse_db"]


def _call(fn, *args):
    try:
        return fn(*args), None
    except Exception as exc:  # noqa: BLE001 - a learner's function may raise anything
        return None, fail(f"your function raised {type(exc).__name__}: {exc}")


def _as_tensor(out, name):
    import torch  # imported here: `import sparsecourse` must not load torch

    try:
        return torch.as_tensor(np.asarray(out.detach() if hasattr(out, "detach") else out,
                                          dtype=np.float64)), None
    except (TypeError, ValueError):
        return None, fail(f"{name} should be a tensor or an array, got {type(out).__name__}")


def _compare(out, expected, what, atol=1e-6):
    import torch  # imported here: `import sparsecourse` must not load torch

    got, err = _as_tensor(out, what)
    if err is not None:
        return err
    if tuple(got.shape) != tuple(expected.shape):
        return fail(f"{what}: shape {tuple(got.shape)}, expected {tuple(expected.shape)}")
    if not torch.isfinite(got).all():
        return fail(f"{what} contains NaN or infinity")
    diff = float((got - expected.double()).abs().max())
    if diff > atol:
        return fail(f"{what} differs from the reference (max abs. error {diff:.3g})")
    return None


def check_lista_layer(fn) -> CheckResult:
    """Check ``fn(x, y, W1, W2, theta)``: one LISTA layer :math:`\\eta_\\theta(W_1 y + W_2 x)`.

    Rows are samples: ``x`` is ``(batch, n)``, ``y`` is ``(batch, m)``, and the weights are stored
    transposed, ``W1`` of shape ``(m, n)`` and ``W2`` of shape ``(n, n)``, so that the layer reads
    ``soft(y @ W1 + x @ W2, theta)``. Tested on random inputs, with ``theta`` a scalar and a
    threshold of 0.

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.checks import check_lista_layer
    >>> def layer(x, y, W1, W2, theta):
    ...     v = y @ W1 + x @ W2
    ...     return torch.sign(v) * torch.relu(v.abs() - theta)
    >>> bool(check_lista_layer(layer))
    True
    """
    import torch  # imported here: `import sparsecourse` must not load torch

    g = torch.Generator().manual_seed(0)
    for batch, m, n, theta in [(4, 5, 8, 0.3), (1, 3, 3, 0.0), (6, 10, 20, 1.0)]:
        x = torch.randn(batch, n, generator=g, dtype=torch.float64)
        y = torch.randn(batch, m, generator=g, dtype=torch.float64)
        W1 = torch.randn(m, n, generator=g, dtype=torch.float64)
        W2 = torch.randn(n, n, generator=g, dtype=torch.float64)
        v = y @ W1 + x @ W2
        expected = torch.sign(v) * torch.relu(v.abs() - theta)
        out, err = _call(fn, x, y, W1, W2, theta)
        if err is not None:
            return err
        err = _compare(out, expected, f"output for batch={batch}, m={m}, n={n}, theta={theta}")
        if err is not None:
            return err
    return ok("Correct! Your LISTA layer matches the reference on all test inputs.")


def check_alista_weight(fn) -> CheckResult:
    """Check ``fn(A)`` returns ALISTA's analytic weight (minimum Frobenius norm of W^T A with a
    unit diagonal).

    Examples
    --------
    >>> from sparsecourse.checks import check_alista_weight
    >>> from sparsecourse.coding import alista_weight
    >>> bool(check_alista_weight(alista_weight))
    True
    """
    import torch  # imported here: `import sparsecourse` must not load torch

    from ..coding.unrolled import alista_weight
    from ..datasets import gaussian_matrix

    for m, n, seed in [(10, 20, 0), (15, 40, 1)]:
        A = gaussian_matrix(m, n, seed=seed)
        out, err = _call(fn, A)
        if err is not None:
            return err
        W, err = _as_tensor(out, "W")
        if err is not None:
            return err
        if tuple(W.shape) != (m, n):
            return fail(f"W has shape {tuple(W.shape)}, expected {(m, n)} (the shape of A)")
        M = W.T @ torch.as_tensor(A)
        if float((torch.diag(M) - 1).abs().max()) > 1e-4:
            return fail("the constraint diag(W^T A) = 1 does not hold")
        ref = alista_weight(A).double()
        ours = float(torch.linalg.norm(M))
        best = float(torch.linalg.norm(ref.T @ torch.as_tensor(A)))
        if ours > best * (1 + 1e-4):
            return fail(f"||W^T A||_F = {ours:.4f} is larger than the minimum {best:.4f}")
    return ok("Correct! Your W satisfies diag(W^T A) = 1 and minimises ||W^T A||_F.")


def check_topk(fn) -> CheckResult:
    """Check ``fn(pre, k)``: keep the k largest entries of each row, zero the rest, then ReLU.

    Examples
    --------
    >>> import torch
    >>> from sparsecourse.checks import check_topk
    >>> def topk(pre, k):
    ...     vals, idx = pre.topk(k, dim=1)
    ...     return torch.zeros_like(pre).scatter(1, idx, vals).relu()
    >>> bool(check_topk(topk))
    True
    """
    import torch  # imported here: `import sparsecourse` must not load torch

    from ..coding.autoencoders import topk_activation

    g = torch.Generator().manual_seed(1)
    cases = [(torch.randn(5, 12, generator=g, dtype=torch.float64), 3),
             (torch.randn(2, 6, generator=g, dtype=torch.float64) - 2.0, 4),   # mostly negative
             (torch.randn(3, 4, generator=g, dtype=torch.float64), 4)]        # k = width
    for pre, k in cases:
        out, err = _call(fn, pre.clone(), k)
        if err is not None:
            return err
        err = _compare(out, topk_activation(pre, k), f"output for shape {tuple(pre.shape)}, "
                       f"k={k}")
        if err is not None:
            return err
    return ok("Correct! Your TopK activation matches the reference, negatives included.")


def check_nmse_db(fn) -> CheckResult:
    """Check ``fn(x_hat, x)``: the NMSE in dB of a batch, ``10 log10(sum |x_hat-x|^2 / sum |x|^2)``.

    Examples
    --------
    >>> from sparsecourse.checks import check_nmse_db
    >>> from sparsecourse.coding import nmse_db
    >>> bool(check_nmse_db(nmse_db))
    True
    """
    import torch  # imported here: `import sparsecourse` must not load torch

    from ..coding.unrolled import nmse_db

    g = torch.Generator().manual_seed(2)
    for shape, scale in [((8, 20), 0.1), ((1, 5), 1e-3), ((16, 4), 2.0)]:
        x = torch.randn(*shape, generator=g, dtype=torch.float64)
        x_hat = x + scale * torch.randn(*shape, generator=g, dtype=torch.float64)
        out, err = _call(fn, x_hat, x)
        if err is not None:
            return err
        try:
            val = float(out)
        except (TypeError, ValueError):
            return fail(f"the NMSE should be a number, got {type(out).__name__}")
        exp = nmse_db(x_hat, x)
        if not np.isclose(val, exp, atol=1e-6):
            hint = " (did you average per sample instead of over the batch?)" \
                if abs(val - exp) < 3 else ""
            return fail(f"got {val:.4f} dB for shape {shape}, expected {exp:.4f} dB{hint}")
    return ok("Correct! Your NMSE in dB matches the reference.")
