"""The screened-quadratic features of ``moe-quad`` beyond 16 features."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures
from sklearn.utils.estimator_checks import parametrize_with_checks

from mixexp import MixtureOfExpertsRegressor, compare
from mixexp.compare.quadratic import ScreenedQuadraticFeatures


def _three_of_thirty(task, n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 30)) * rng.uniform(0.1, 10, size=30)  # unequal scales
    Z = X / X.std(axis=0)
    signal = 2 * Z[:, 3] - 1.5 * Z[:, 14] + Z[:, 27] + Z[:, 3] * Z[:, 14]
    if task == "regression":
        return X, signal + 0.3 * rng.normal(size=n)
    return X, np.digitize(signal, [-1.0, 1.0])  # three classes


@pytest.mark.parametrize("task", compare.TASKS)
def test_keeps_the_three_features_that_carry_the_signal(task):
    X, y = _three_of_thirty(task)
    screen = ScreenedQuadraticFeatures(3, task=task).fit(X, y)
    np.testing.assert_array_equal(screen.screened_features_, [3, 14, 27])
    assert screen.importances_.shape == (30,)
    noise = np.delete(screen.importances_, [3, 14, 27])
    assert screen.importances_[[3, 14, 27]].min() > 3 * noise.max()
    Xt = screen.transform(X)
    assert Xt.shape == (300, 30 + 6) and screen.n_output_features_ == 36
    np.testing.assert_array_equal(Xt[:, :30], X)
    np.testing.assert_allclose(Xt[:, 30:], np.column_stack(
        [X[:, 3] ** 2, X[:, 3] * X[:, 14], X[:, 3] * X[:, 27], X[:, 14] ** 2, X[:, 14] * X[:, 27],
         X[:, 27] ** 2]))


def test_equals_every_quadratic_term_when_all_features_are_screened():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 5))
    y = X @ rng.normal(size=5)
    for n_screened in (5, 9):
        screen = ScreenedQuadraticFeatures(n_screened).fit(X, y)
        assert screen.n_screened_ == 5
        np.testing.assert_array_equal(screen.transform(X),
                                      PolynomialFeatures(2, include_bias=False).fit_transform(X))
        np.testing.assert_array_equal(
            screen.get_feature_names_out(),
            PolynomialFeatures(2, include_bias=False).fit(X).get_feature_names_out())


def test_a_fold_screens_on_its_own_rows_only():
    # the first half's y follows x0 and x1, the second half's (more strongly) x5 and x6:
    # all rows screen {5, 6}, a fold training on the first half must screen {0, 1}
    rng = np.random.default_rng(2)
    X = rng.normal(size=(400, 20))
    y = np.r_[X[:200, 0] + X[:200, 1], 4 * (X[200:, 5] - X[200:, 6])] + 0.1 * rng.normal(size=400)
    first, second = np.arange(200), np.arange(200, 400)
    np.testing.assert_array_equal(ScreenedQuadraticFeatures(2).fit(X, y).screened_features_, [5, 6])
    pipe = make_pipeline(ScreenedQuadraticFeatures(2), MixtureOfExpertsRegressor(
        2, gate_features=list(range(20)), max_iter=5, random_state=0))
    y_before = y.copy()
    folds = cross_validate(pipe, X, y, cv=[(first, second), (second, first)], return_estimator=True)
    np.testing.assert_array_equal(y, y_before)
    for fitted, rows, kept in zip(folds["estimator"], (first, second), ([0, 1], [5, 6])):
        screen = fitted[0]
        np.testing.assert_array_equal(screen.screened_features_, kept)
        # exactly the transformer fitted on the fold's training rows alone
        alone = ScreenedQuadraticFeatures(2).fit(X[rows], y[rows])
        np.testing.assert_array_equal(screen.importances_, alone.importances_)


def test_moe_quad_beyond_16_features_screens_and_survives_clone_and_pickle():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 20))
    # two regimes split on x0: quadratic in x1 (with a linear part, which the screen sees) or linear
    y = np.where(X[:, 0] > 0, X[:, 1] + X[:, 1] ** 2, -X[:, 2]) + 0.1 * rng.normal(size=400)
    settings = compare.Settings(moe_experts=(2,), alphas=(1.0,), quad_alphas=(1.0,), inner_splits=2,
                                max_iter=30)
    search = compare.make_model("moe-quad", "regression", settings, 400, 20)
    quad = search.estimator.named_steps["quad"]
    assert isinstance(quad, ScreenedQuadraticFeatures)
    assert quad.get_params() == {"n_screened": compare.models.QUAD_SCREENED, "task": "regression",
                                 "alpha": 1.0}
    classifier = compare.make_model("moe-quad", "classification", settings, 400, 20)
    assert classifier.estimator.named_steps["quad"].task == "classification"
    # up to 16 features: every quadratic term, as before
    small = compare.make_model("moe-quad", "regression", settings, 400, 16)
    assert isinstance(small.estimator.named_steps["quad"], PolynomialFeatures)

    X_before, y_before = X.copy(), y.copy()
    model = search.fit(X[:300], y[:300])
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(y, y_before)
    assert {0, 1, 2} <= set(model.best_estimator_.named_steps["quad"].screened_features_)
    moe = model.best_estimator_[-1]
    n_quad = compare.models.QUAD_SCREENED * (compare.models.QUAD_SCREENED + 1) // 2
    assert moe.expert_coef_.shape[-1] == 20 + n_quad
    assert np.all(moe.gate_coef_[:, 20:] == 0) and np.any(moe.expert_coef_[..., 20:] != 0)
    linear = compare.make_model("moe", "regression", settings, 400, 20).fit(X[:300], y[:300])
    assert model.score(X[300:], y[300:]) > 0.9 > linear.score(X[300:], y[300:])
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict(X[300:]), model.predict(X[300:]))
    fresh = clone(search)
    assert not hasattr(fresh, "best_estimator_")
    assert fresh.estimator.named_steps["quad"].get_params() == quad.get_params()


def test_feature_names_with_a_dataframe():
    X, y = _three_of_thirty("regression", n=100)
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(30)])
    screen = ScreenedQuadraticFeatures(2).fit(frame, y)
    np.testing.assert_array_equal(screen.feature_names_in_, frame.columns)
    assert screen.get_feature_names_out()[-3:].tolist() == ["f3^2", "f3 f14", "f14^2"]


def test_bad_input_raises_and_a_failed_fit_keeps_the_previous_one():
    X, y = _three_of_thirty("classification", n=60)
    with pytest.raises(ValueError, match="n_screened"):
        ScreenedQuadraticFeatures(0).fit(X, y)
    with pytest.raises(ValueError, match="task"):
        ScreenedQuadraticFeatures(task="ranking").fit(X, y)
    with pytest.raises(ValueError, match="alpha"):
        ScreenedQuadraticFeatures(alpha=0.0).fit(X, y)
    with pytest.raises(NotFittedError):
        ScreenedQuadraticFeatures().transform(X)
    screen = ScreenedQuadraticFeatures(3, task="classification").fit(X, y)
    kept = screen.screened_features_.copy()
    with pytest.raises(ValueError, match="at least 2 classes"):
        screen.fit(X[:, :10], np.zeros(60, dtype=int))
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        screen.fit(bad, y)
    np.testing.assert_array_equal(screen.screened_features_, kept)
    assert screen.n_features_in_ == 30
    with pytest.raises(ValueError, match="30 features"):
        screen.transform(X[:, :10])


@parametrize_with_checks([ScreenedQuadraticFeatures(2)])
def test_scikit_learn_checks(estimator, check):
    check(estimator)
