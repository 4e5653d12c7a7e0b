"""Helpers the chapters import instead of defining them: basis pursuit, the oracle NMSE floor,
the orientation of a dictionary atom."""

import numpy as np
import pytest
import torch

from sparsecourse.coding import (
    BernoulliGaussian,
    nmse_db,
    oracle_nmse_db,
    orientation_concentration,
)
from sparsecourse.datasets import gaussian_matrix, sparse_signal
from sparsecourse.regression import basis_pursuit


@pytest.mark.parametrize("weighted", [False, True])
def test_basis_pursuit_lasso_limit_equals_the_linear_program(weighted):
    A = gaussian_matrix(40, 100, seed=3)
    x = sparse_signal(100, 6, seed=4)
    w = np.random.default_rng(0).uniform(0.5, 2, 100) if weighted else None
    z_lp = basis_pursuit(A, A @ x, weights=w, method="linprog")
    z_cd = basis_pursuit(A, A @ x, weights=w)
    assert np.allclose(A @ z_lp, A @ x, atol=1e-8)
    assert np.allclose(z_cd, z_lp, atol=1e-4)
    # above the transition, the solution is not x but still minimises the weighted l1 norm
    x_dense = sparse_signal(100, 30, seed=5)
    z = basis_pursuit(A, A @ x_dense, weights=w, method="linprog")
    ww = np.ones(100) if w is None else w
    assert np.allclose(A @ z, A @ x_dense, atol=1e-8)
    assert ww @ np.abs(z) <= ww @ np.abs(x_dense) + 1e-8


def test_basis_pursuit_bad_input():
    A = gaussian_matrix(5, 10, seed=0)
    with pytest.raises(ValueError, match="method"):
        basis_pursuit(A, np.ones(5), method="simplex")
    with pytest.raises(ValueError, match="entries"):
        basis_pursuit(A, np.ones(4))
    with pytest.raises(ValueError, match="positive"):
        basis_pursuit(A, np.ones(5), weights=-np.ones(10), method="linprog")


def test_oracle_floor_is_least_squares_on_the_support_and_below_a_guess():
    A = gaussian_matrix(30, 60, seed=1)
    y, x = BernoulliGaussian(A, p=0.1, snr_db=20).sample(40, seed=2)
    floor = oracle_nmse_db(A, y, x)
    # one sample by hand
    S = np.flatnonzero(x[0].numpy())
    sol = np.linalg.lstsq(A[:, S], y[0].double().numpy(), rcond=None)[0]
    x0 = np.zeros(60)
    x0[S] = sol
    one = oracle_nmse_db(A, y[:1], x[:1])
    assert one == pytest.approx(nmse_db(torch.tensor(x0)[None], x[:1]), abs=1e-9)
    assert floor < nmse_db(torch.zeros_like(x) + 1e-3, x)       # far better than a guess
    with pytest.raises(ValueError, match="shape"):
        oracle_nmse_db(A[:, :50], y, x)


def test_orientation_concentration_separates_gratings_from_noise():
    t = np.arange(8)
    for kx, ky in ((2, 0), (0, 2), (2, 2), (1, 3)):          # whole periods on the patch
        g = np.cos(2 * np.pi * (kx * t[None, :] + ky * t[:, None]) / 8).ravel()
        assert orientation_concentration(g) > 0.9
    noise = np.random.default_rng(0).standard_normal((200, 64))
    mean = np.mean([orientation_concentration(v) for v in noise])
    assert 0.25 < mean < 0.5          # a 45-degree wedge: a quarter plus the best-of-16 bias
    with pytest.raises(ValueError, match="square"):
        orientation_concentration(np.ones(10))
    with pytest.raises(ValueError, match="energy"):
        orientation_concentration(np.ones(64))
