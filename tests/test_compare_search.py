"""Tests of the warm-started inner search of ``mixexp compare`` (mixexp.compare.search)."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import mixexp._base
from mixexp import HierarchicalMixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from mixexp import compare
from mixexp.compare.search import WarmPathSearchCV, split_responsibilities
from mixexp.datasets import make_moe_classification, make_moe_regression


def test_split_responsibilities_splits_the_heaviest_columns_along_the_inputs():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(60, 3))
    resp = rng.dirichlet([1.0, 3.0, 1.0], size=60)
    out = split_responsibilities(resp, Z, 4)
    assert out.shape == (60, 4)
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    h = int(np.argmax(resp.sum(axis=0)))
    # the heaviest column became two adjacent columns, the others are unchanged
    np.testing.assert_allclose(out[:, h] + out[:, h + 1], resp[:, h])
    np.testing.assert_allclose(np.delete(out, [h, h + 1], axis=1), np.delete(resp, h, axis=1))
    # each child holds the rows on one side of a hyperplane: the two never share a row,
    # and both get some
    assert np.all((out[:, h] == 0) | (out[:, h + 1] == 0))
    assert out[:, h].sum() > 0 and out[:, h + 1].sum() > 0
    np.testing.assert_allclose(split_responsibilities(resp, Z, 6).sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="cannot split 3 columns into 7"):
        split_responsibilities(resp, Z, 7)


def test_one_point_search_scores_as_cross_val_score():
    X, y = make_moe_regression(n_samples=150, n_features=2, n_experts=2, random_state=1)
    pipe = Pipeline([("scale", StandardScaler()),
                     ("moe", MixtureOfExpertsRegressor(n_experts=2, max_iter=50, random_state=0))])
    cv = KFold(3, shuffle=True, random_state=0)
    search = WarmPathSearchCV(pipe, {"moe__n_experts": [2], "moe__alpha": [1.0]}, "r2", cv).fit(X, y)
    expected = cross_val_score(pipe.set_params(moe__alpha=1.0), X, y, cv=cv, scoring="r2")
    assert search.best_score_ == pytest.approx(expected.mean(), rel=1e-10)
    assert search.best_params_ == {"moe__n_experts": 2, "moe__alpha": 1.0}


class _RecordRows(TransformerMixin, BaseEstimator):
    """Identity that records which rows (by their first value) each fit saw."""

    seen = []

    def fit(self, X, y=None):
        _RecordRows.seen.append(frozenset(np.round(X[:, 0], 12)))
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        return X


def test_one_multistart_per_fold_and_no_fit_sees_its_validation_rows(monkeypatch):
    X, y = make_moe_regression(n_samples=160, n_features=2, n_experts=2, random_state=2)
    starts = []
    original = mixexp._base.initial_params

    def counting(engine, flat, design, info, rs, kind, *args, **kwargs):
        starts.append("array" if not isinstance(kind, str) else kind)
        return original(engine, flat, design, info, rs, kind, *args, **kwargs)

    monkeypatch.setattr(mixexp._base, "initial_params", counting)
    _RecordRows.seen = []
    pipe = Pipeline([("rows", _RecordRows()),
                     ("moe", MixtureOfExpertsRegressor(max_iter=40, random_state=0))])
    cv = KFold(2, shuffle=True, random_state=0)
    search = WarmPathSearchCV(pipe, {"moe__n_experts": [2, 4, 1], "moe__alpha": [0.1, 1.0]},
                              "r2", cv).fit(X, y)
    # 2 folds x 6 points + the refit; a multi-start only for the first point of each fold,
    # the sizes 2 and 4 from the smaller size's split responsibilities, the rest warm
    assert starts == ["short_em", "array", "array"] * 2
    assert [p["moe__n_experts"] for p in search.cv_results_["params"]] == [1, 1, 2, 2, 4, 4]
    assert [p["moe__alpha"] for p in search.cv_results_["params"]] == [1.0, 0.1] * 3
    fitted_rows = _RecordRows.seen
    assert len(fitted_rows) == 2 * 6 + 1
    everything = frozenset(np.round(X[:, 0], 12))
    folds = [(frozenset(np.round(X[tr, 0], 12)), frozenset(np.round(X[te, 0], 12)))
             for tr, te in cv.split(X)]
    for rows in fitted_rows[:-1]:
        assert any(rows == train for train, _ in folds)  # a fold's training rows, no others
    assert fitted_rows[-1] == everything  # the refit on all rows
    assert search.best_estimator_[-1].warm_start is False
    assert search.best_estimator_[-1].init_params == "short_em"
    best = search.best_params_
    assert search.best_score_ == pytest.approx(
        search.cv_results_["mean_test_score"][search.cv_results_["params"].index(best)])


def test_tree_depth_path_for_a_classifier():
    X, y = make_moe_classification(n_samples=200, n_features=2, n_classes=2, random_state=0)
    pipe = Pipeline([("scale", StandardScaler()),
                     ("hme", HierarchicalMixtureOfExpertsClassifier(max_iter=30, random_state=0))])
    search = WarmPathSearchCV(pipe, {"hme__depth": [1, 2]}, scoring="accuracy", cv=2).fit(X, y)
    assert search.best_params_["hme__depth"] in (1, 2)
    assert list(search.classes_) == [0, 1]
    proba = search.predict_proba(X)
    assert proba.shape == (200, 2) and search.score(X, y) > 0.5


def test_compare_uses_the_warm_search_for_mixtures_only_when_told():
    grid = compare.Settings()
    warm = compare.settings_with(grid, search="warm")
    assert isinstance(compare.make_model("moe", "regression", warm), WarmPathSearchCV)
    assert isinstance(compare.make_model("hme", "classification", warm), WarmPathSearchCV)
    assert isinstance(compare.make_model("moe-quad", "regression", warm, n_features=3),
                      WarmPathSearchCV)
    assert type(compare.make_model("cart", "regression", warm)).__name__ == "GridSearchCV"
    assert type(compare.make_model("moe", "regression", compare.settings_with(grid, inner_starts="default"))
                ).__name__ == "GridSearchCV"
    # cross_validate's log-loss scorer asks the unfitted wrapper for predict_proba
    assert hasattr(compare.CountConvergenceWarnings(
        compare.make_model("moe", "classification", warm)), "predict_proba")
    with pytest.raises(ValueError, match="search must be one of"):
        compare.settings_with(warm, search="bic")
