"""The same data gives the same model, whatever holds it (issue 30, item 5).

A dense array, a CSR matrix and a pandas DataFrame of the same numbers give one
optimum: sparse columns are scaled by the same standard deviations as dense ones
but not centred, and the unpenalised intercepts absorb the centring, so every
penalised coefficient, the start and each EM step are the dense fit's up to
rounding.  Before, sparse columns were scaled by their root mean square: the
penalties differed and the fits ended at optima 0.016 apart at ``tol=1e-8``.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from mixexp import (
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsRegressor,
)
from mixexp.datasets import make_moe_classification, make_moe_regression


def _sparse_data(task, n=600, seed=0):
    if task == "classification":
        X, y = make_moe_classification(n, 4, 2, n_classes=3, random_state=seed)
    else:
        X, y = make_moe_regression(n, 4, 2, random_state=seed)
    rng = np.random.default_rng(seed)
    # half the entries zero, and columns far from mean 0: centring matters
    X = np.where(rng.uniform(size=X.shape) < 0.5, X + 3.0, 0.0)
    return X, y


MODELS = {
    "moe-regressor": ("regression", lambda **kw: MixtureOfExpertsRegressor(3, **kw)),
    "hme-regressor": ("regression", lambda **kw: HierarchicalMixtureOfExpertsRegressor(2, 2, **kw)),
    "moe-classifier": ("classification", lambda **kw: MixtureOfExpertsClassifier(3, **kw)),
}


def _outputs(model, X):
    return model.predict_proba(X) if hasattr(model, "predict_proba") else model.predict(X)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_dense_sparse_and_dataframe_give_one_model(name):
    """At the default tolerance: the same EM path (iterations, lower bounds to 1e-8) and
    the same predictions to 1e-6 of their scale."""
    task, make = MODELS[name]
    X, y = _sparse_data(task)
    kinds = {
        "dense": X,
        "csr": sp.csr_matrix(X),
        "dataframe": pd.DataFrame(X, columns=[f"x{j}" for j in range(X.shape[1])]),
    }
    fits = {kind: make(random_state=0).fit(data, y) for kind, data in kinds.items()}
    dense = fits["dense"]
    reference = _outputs(dense, X)
    scale = np.abs(reference).max()
    for kind in ("csr", "dataframe"):
        model = fits[kind]
        assert model.n_iter_ == dense.n_iter_, kind
        # 1e-8: a learned softmax step can be hundreds of bound steps long and scales the
        # rounding differences of the sums with it (3.4e-9 measured on the HME regressor)
        np.testing.assert_allclose(model.lower_bounds_, dense.lower_bounds_, rtol=1e-8, err_msg=kind)
        np.testing.assert_allclose(_outputs(model, X), reference, rtol=0, atol=1e-6 * scale, err_msg=kind)
        np.testing.assert_allclose(model.gate_coef_, dense.gate_coef_, rtol=1e-6, atol=1e-6, err_msg=kind)
        np.testing.assert_allclose(model.expert_coef_, dense.expert_coef_, rtol=1e-6, atol=1e-6, err_msg=kind)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_dense_and_sparse_reach_one_optimum(name):
    """600 iterations without a stop, near the optimum: one objective to 1e-7 (the root
    mean square scaling of sparse columns ended 0.016 apart in predictions).  Rounding
    differences of the start grow along EM's slow directions (the paths are not the
    same to 1e-9 after 600 iterations, where EM still moves: up to 1.2e-4 in a classifier's
    probabilities, against 0.016 before).  At 300 iterations the classifier's objectives were
    still 1.5e-5 apart since the softmax steps remember rejected lengths (2.2e-8 at 600)."""
    task, make = MODELS[name]
    X, y = _sparse_data(task)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = make(random_state=0, tol=0.0, max_iter=600).fit(X, y)
        sparse = make(random_state=0, tol=0.0, max_iter=600).fit(sp.csr_matrix(X), y)
    np.testing.assert_allclose(sparse.lower_bound_, dense.lower_bound_, rtol=1e-7)
    reference = _outputs(dense, X)
    np.testing.assert_allclose(_outputs(sparse, X), reference, rtol=0, atol=1e-3 * np.abs(reference).max())


@pytest.mark.parametrize("name", sorted(MODELS))
def test_partial_fit_over_one_pass_gives_one_model_for_every_input_kind(name):
    """Online EM over three batches (the first fitted as ``fit`` does, then two online
    steps) from a dense array, a CSR matrix and a DataFrame: one model, predictions to
    1e-6 of their scale (measured: 4e-9 for CSR, 4e-13 for the DataFrame)."""
    task, make = MODELS[name]
    X, y = _sparse_data(task)
    kw = {"classes": np.unique(y)} if task == "classification" else {}
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(X.shape[1])])
    batches = np.array_split(np.arange(X.shape[0]), 3)
    kinds = {
        "dense": lambda rows: X[rows],
        "csr": lambda rows: sp.csr_matrix(X[rows]),
        "dataframe": lambda rows: frame.iloc[rows],
    }
    outputs = {}
    for kind, batch in kinds.items():
        model = make(random_state=0)
        for rows in batches:
            model.partial_fit(batch(rows), y[rows], **kw)
        assert model.n_batch_iter_ == 3
        outputs[kind] = _outputs(model, batch(np.arange(X.shape[0])))
    scale = np.abs(outputs["dense"]).max()
    for kind in ("csr", "dataframe"):
        np.testing.assert_allclose(outputs[kind], outputs["dense"], rtol=0, atol=1e-6 * scale, err_msg=kind)
