"""scikit-learn's own Lasso tests, run against ``sparsecourse.regression.Lasso``.

``sparsecourse.regression.Lasso`` is documented as a drop-in for
:class:`sklearn.linear_model.Lasso`. This module holds it to that: it imports the tests of the
*installed* scikit-learn (``sklearn/linear_model/tests/test_coordinate_descent.py`` and
``test_sparse_coordinate_descent.py``), replaces the name ``Lasso`` in them by our estimator,
and runs every test that exercises ``Lasso`` itself. Tests of other estimators (``ElasticNet``,
``LassoCV`` on its own, the multi-task models), of ``lasso_path``/``enet_path`` and of
scikit-learn's private Cython solvers cannot apply; each is listed below with the reason.

The peer modules are loaded from the installed scikit-learn (they ship with its wheel); if they
are missing (a stripped install) the tests skip.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn

from sparsecourse.regression import Lasso

_TESTS = Path(sklearn.__file__).parent / "linear_model" / "tests"


def _load(name: str):
    path = _TESTS / f"{name}.py"
    if not path.exists():  # pragma: no cover - a scikit-learn without its tests
        return None
    spec = importlib.util.spec_from_file_location(f"_sklearn_peer_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CD = _load("test_coordinate_descent")
SPARSE_CD = _load("test_sparse_coordinate_descent")


@pytest.fixture
def peer(monkeypatch):
    """The scikit-learn test module with ``Lasso`` replaced by ours (undone after the test)."""
    if CD is None:  # pragma: no cover
        pytest.skip("scikit-learn's test_coordinate_descent.py is not installed")
    monkeypatch.setattr(CD, "Lasso", Lasso)
    return CD


@pytest.fixture
def sparse_peer(monkeypatch):
    if SPARSE_CD is None:  # pragma: no cover
        pytest.skip("scikit-learn's test_sparse_coordinate_descent.py is not installed")
    monkeypatch.setattr(SPARSE_CD, "Lasso", Lasso)
    return SPARSE_CD


# ------------------------------------------------------------------------------------------
# test_coordinate_descent.py: the tests that exercise Lasso
# ------------------------------------------------------------------------------------------

def test_lasso_zero(peer):
    peer.test_lasso_zero()


def test_lasso_toy(peer):
    peer.test_lasso_toy()


def test_lasso_dual_gap(peer):
    peer.test_lasso_dual_gap()


@pytest.mark.filterwarnings("ignore:.*with no regularization.*:UserWarning")
def test_lasso_alpha_warning(peer):
    peer.test_lasso_alpha_warning()


def test_lasso_positive_constraint(peer):
    peer.test_lasso_positive_constraint()


def test_lasso_readonly_data(peer):
    peer.test_lasso_readonly_data()


def test_lasso_non_float_y(peer):
    peer.test_lasso_non_float_y(Lasso)


def test_coef_shape_not_zero(peer):
    peer.test_coef_shape_not_zero()


@pytest.mark.parametrize("kwargs", [{"precompute": True}, {"precompute": False}])
def test_enet_coordinate_descent_raises_convergence(peer, kwargs):
    peer.test_enet_coordinate_descent_raises_convergence(Lasso, kwargs)


@pytest.mark.parametrize("precompute, inner_precompute",
                         [(True, True), ("auto", False), (False, False)])
def test_lassoCV_does_not_set_precompute(peer, monkeypatch, precompute, inner_precompute):
    # LassoCV refits its best alpha with the module's ``Lasso``: here a subclass of ours
    peer.test_lassoCV_does_not_set_precompute(monkeypatch, precompute, inner_precompute)


def test_sample_weight_invariance(peer):
    peer.test_sample_weight_invariance(Lasso(alpha=1.0))


APPLICABLE = {
    "test_lasso_zero", "test_lasso_toy", "test_lasso_dual_gap", "test_lasso_alpha_warning",
    "test_lasso_positive_constraint", "test_lasso_readonly_data", "test_lasso_non_float_y",
    "test_coef_shape_not_zero", "test_enet_coordinate_descent_raises_convergence",
    "test_lassoCV_does_not_set_precompute", "test_sample_weight_invariance",
}

_PRIVATE = "tests scikit-learn's private helpers / Cython solvers, not the estimator"
_ENET = "ElasticNet only (its l1_ratio defaults to 0.5: not a LASSO problem)"
_MULTI = "MultiTaskLasso / MultiTaskElasticNet (a group-LASSO penalty, another estimator)"
_CV = "LassoCV / ElasticNetCV on their own: they call sklearn's lasso_path, not Lasso"
_PATH = "sklearn.linear_model.lasso_path / enet_path (functions, not the estimator)"

NOT_APPLICABLE = {
    "test_set_order_dense": _PRIVATE,
    "test_set_order_sparse": _PRIVATE,
    "test_cython_solver_equivalence": _PRIVATE,
    "test_enet_nonfinite_params": _ENET + "; ours rejects overflowing input up front",
    "test_enet_toy": _ENET,
    "test_lasso_cv": _CV,
    "test_lasso_cv_with_some_model_selection": _CV,
    "test_lasso_cv_positive_constraint": _CV,
    "test_lassocv_alphas_validation": _CV,
    "test_lasso_path_return_models_vs_new_return_gives_same_coefficients": _PATH,
    "test_enet_path": _CV + " (ElasticNetCV, MultiTaskElasticNetCV)",
    "test_warm_start": _ENET,
    "test_enet_positive_constraint": _ENET,
    "test_enet_cv_positive_constraint": _CV,
    "test_uniform_targets": _CV,
    "test_multi_task_lasso_vs_skglm": _MULTI,
    "test_multi_task_lasso_and_enet": _MULTI,
    "test_multi_task_lasso_readonly_data": _MULTI,
    "test_enet_multitarget": _ENET + " (multi-output y: see test_regression.py for ours)",
    "test_multioutput_enetcv_error": _CV,
    "test_multitask_enet_and_lasso_cv": _MULTI,
    "test_1d_multioutput_enet_and_multitask_enet_cv": _CV,
    "test_1d_multioutput_lasso_and_multitask_lasso_cv": _CV,
    "test_sparse_input_dtype_enet_and_lassocv": _CV,
    "test_elasticnet_precompute_incorrect_gram": _ENET,
    "test_elasticnet_precompute_gram_weighted_samples": _ENET,
    "test_elasticnet_precompute_gram": _ENET,
    "test_warm_start_convergence": _ENET + "; it also counts epochs in n_iter_",
    "test_warm_start_convergence_with_regularizer_decrement": _ENET,
    "test_random_descent": _ENET + " (selection='random' of ours: test_regression.py)",
    "test_sparse_dense_descent_paths": _PATH,
    "test_enet_path_positive": _PATH,
    "test_path_unknown_parameter": _PATH,
    "test_check_input_false": _ENET + "; check_input=False skips validation (not offered)",
    "test_enet_copy_X_True": _ENET + " (copy_X of ours: test_regression.py)",
    "test_enet_copy_X_False_check_input_False": _ENET + "; check_input=False not offered",
    "test_overridden_gram_matrix": _ENET,
    "test_enet_float_precision": _ENET + " (float32 of ours: test_regression.py)",
    "test_enet_l1_ratio": _CV,
    "test_warm_start_multitask_lasso": _MULTI,
    "test_convergence_warnings": _MULTI,
    "test_sparse_input_convergence_warning": _CV,
    "test_multi_task_lasso_cv_dtype": _MULTI,
    "test_enet_sample_weight_consistency": _ENET + " (sample_weight of ours: "
                                           "test_regression.py)",
    "test_enet_cv_sample_weight_correctness": _CV,
    "test_enet_cv_grid_search": _CV,
    "test_enet_cv_sample_weight_consistency": _CV,
    "test_enet_alpha_max": _CV + " and ElasticNet",
    "test_linear_models_cv_fit_with_loky": _CV,
    "test_enet_sample_weight_does_not_overwrite_sample_weight": _ENET,
    "test_enet_ridge_consistency": _ENET,
    "test_enet_ols_consistency": _ENET,
    "test_cv_estimators_reject_params_with_no_routing_enabled": _CV,
    "test_enet_path_check_input_false": _PATH,
    "test_path_function_deprecated_n_alphas": _PATH,
}


def test_every_peer_test_is_classified():
    """A scikit-learn release that adds a Lasso test shows up here (classify it above)."""
    if CD is None:  # pragma: no cover
        pytest.skip("scikit-learn's test_coordinate_descent.py is not installed")
    names = {n for n in vars(CD) if n.startswith("test_") and callable(getattr(CD, n))}
    assert APPLICABLE <= names, f"renamed in scikit-learn: {sorted(APPLICABLE - names)}"
    unclassified = names - APPLICABLE - set(NOT_APPLICABLE)
    if unclassified and sklearn.__version__ != "1.9.1":
        pytest.skip(f"scikit-learn {sklearn.__version__} has unclassified tests: "
                    f"{sorted(unclassified)}")
    assert not unclassified, sorted(unclassified)
    assert all(reason for reason in NOT_APPLICABLE.values())
    assert np.all([n.startswith("test_") for n in NOT_APPLICABLE])


# ------------------------------------------------------------------------------------------
# test_sparse_coordinate_descent.py: the tests that exercise Lasso on scipy.sparse X
# ------------------------------------------------------------------------------------------

CSC = [sp.csc_matrix, sp.csc_array]


@pytest.mark.parametrize("csc_container", CSC)
def test_sparse_lasso_zero(sparse_peer, csc_container):
    sparse_peer.test_lasso_zero(csc_container)


@pytest.mark.parametrize("csc_container", CSC)
def test_sparse_lasso_not_as_toy_dataset(sparse_peer, csc_container):
    sparse_peer.test_sparse_lasso_not_as_toy_dataset(csc_container)


@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("n_samples, n_features", [(24, 6), (6, 24)])
@pytest.mark.parametrize("with_sample_weight", [True, False])
@pytest.mark.parametrize("csc_container", CSC)
def test_sparse_dense_equality(sparse_peer, fit_intercept, n_samples, n_features,
                               with_sample_weight, csc_container):
    sparse_peer.test_sparse_dense_equality(Lasso, fit_intercept, 0.5, n_samples, n_features,
                                           with_sample_weight, csc_container)


@pytest.mark.parametrize("csc_container", CSC)
def test_sparse_enet_coordinate_descent(sparse_peer, csc_container):
    sparse_peer.test_sparse_enet_coordinate_descent(csc_container)


SPARSE_APPLICABLE = {"test_lasso_zero", "test_sparse_lasso_not_as_toy_dataset",
                     "test_sparse_dense_equality", "test_sparse_enet_coordinate_descent"}

SPARSE_NOT_APPLICABLE = {
    "test_sparse_coef": _ENET + " (the sparse_coef_ property)",
    "test_enet_toy_list_input": _ENET,
    "test_enet_toy_explicit_sparse_input": _ENET,
    "test_sparse_enet_not_as_toy_dataset": _ENET,
    "test_enet_multitarget": _ENET,
    "test_path_parameters": _CV,
    "test_same_output_sparse_dense_lasso_and_enet_cv": _CV,
    "test_same_multiple_output_sparse_dense": _MULTI,
    "test_sparse_read_only_buffer": _ENET,
}


def test_every_sparse_peer_test_is_classified():
    if SPARSE_CD is None:  # pragma: no cover
        pytest.skip("scikit-learn's test_sparse_coordinate_descent.py is not installed")
    names = {n for n in vars(SPARSE_CD) if n.startswith("test_")
             and callable(getattr(SPARSE_CD, n))}
    assert SPARSE_APPLICABLE <= names, sorted(SPARSE_APPLICABLE - names)
    unclassified = names - SPARSE_APPLICABLE - set(SPARSE_NOT_APPLICABLE)
    if unclassified and sklearn.__version__ != "1.9.1":
        pytest.skip(f"unclassified tests in scikit-learn {sklearn.__version__}: "
                    f"{sorted(unclassified)}")
    assert not unclassified, sorted(unclassified)
