"""gate_features and expert_features: which columns the gate and the experts see."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning

from mixexp import HierarchicalMixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from mixexp.datasets import make_moe_classification, make_moe_regression


def _fit(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


def test_empty_gate_features_give_constant_mixing_weights():
    X, y = make_moe_regression(n_samples=400, n_features=3, n_experts=2, random_state=0)
    model = _fit(MixtureOfExpertsRegressor(n_experts=2, gate_features=[], random_state=0), X, y)
    gates = model.predict_gate(X)
    np.testing.assert_allclose(gates, np.broadcast_to(gates[0], gates.shape), rtol=1e-12)
    assert np.all(model.gate_coef_ == 0.0)
    # the gate's free parameters: one weight per expert less one
    full = _fit(MixtureOfExpertsRegressor(n_experts=2, random_state=0), X, y)
    assert full._n_parameters() - model._n_parameters() == 3


def test_gate_and_experts_see_their_columns():
    X, y = make_moe_regression(n_samples=400, n_features=4, n_experts=2, random_state=1)
    model = _fit(
        MixtureOfExpertsRegressor(n_experts=2, gate_features=[0, 1], expert_features=[True, False, True, True],
                                  random_state=0),
        X, y,
    )
    assert model.gate_coef_.shape == (2, 4) and np.all(model.gate_coef_[:, 2:] == 0.0)
    assert model.expert_coef_.shape == (2, 1, 4) and np.all(model.expert_coef_[:, :, 1] == 0.0)
    # a mask and the indices it selects are the same model
    model2 = _fit(MixtureOfExpertsRegressor(n_experts=2, gate_features=[0, 1], expert_features=[0, 2, 3],
                                            random_state=0), X, y)
    np.testing.assert_allclose(model.predict(X), model2.predict(X), rtol=1e-12)
    # column 1 feeds the gate only; column 2 the experts only
    gates = model.predict_gate(X)
    Xg = X.copy()
    Xg[:, 2] += 5.0
    np.testing.assert_allclose(model.predict_gate(Xg), gates, rtol=1e-12)
    Xe = X.copy()
    Xe[:, 1] += 5.0
    np.testing.assert_allclose(model.predict_experts(Xe), model.predict_experts(X), rtol=1e-12)


def test_names_with_a_dataframe_and_in_a_tree():
    X, y = make_moe_classification(n_samples=300, n_features=3, random_state=0)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    model = _fit(
        HierarchicalMixtureOfExpertsClassifier(depth=2, gate_features=["a"], expert_features=["b", "c"],
                                               random_state=0),
        frame, y,
    )
    assert np.all(model.gate_coef_[..., 1:] == 0.0) and np.all(model.expert_coef_[..., 0] == 0.0)
    assert model.score(frame, y) > 0.5


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"gate_features": [5]}, ValueError, "out of range"),
        ({"expert_features": [True, False]}, ValueError, "one entry per feature"),
        ({"gate_features": ["a"]}, ValueError, "no column names"),
        ({"gate_features": [0.5]}, TypeError, "integers, booleans or column names"),
        ({"gate": "gaussian", "gate_features": []}, ValueError, "at least one gate feature"),
    ],
)
def test_bad_selections_are_clear_errors(params, error, match):
    X, y = make_moe_regression(n_samples=100, n_features=3, random_state=0)
    model = MixtureOfExpertsRegressor(n_experts=2, **params)
    with pytest.raises(error, match=match):
        model.fit(X, y)
    assert not hasattr(model, "converged_")
