"""Tests of the quick inner-search starts of ``mixexp compare`` (issue 31, items 4 and 6)."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import mixexp._base
from mixexp import HierarchicalMixtureOfExpertsRegressor, MixtureOfExpertsRegressor, _init, compare
from mixexp.compare.search import QUICK_START, PenaltyPathSearchCV, QuickStartGridSearchCV, quick_starts
from mixexp.datasets import make_moe_regression


def test_quick_starts_sets_the_start_constants_and_restores_them_even_on_error():
    before = {name: getattr(_init, name) for name in QUICK_START}
    assert before != QUICK_START
    with pytest.raises(RuntimeError, match="inside"):
        with quick_starts():
            assert {name: getattr(_init, name) for name in QUICK_START} == QUICK_START
            raise RuntimeError("inside")
    assert {name: getattr(_init, name) for name in QUICK_START} == before


def _spy_starts(monkeypatch):
    """Record the tree arrangements every fit's start sees, the start's kind and the rows."""
    seen = []
    original = mixexp._base.initial_params

    def spy(engine, flat, design, info, rs, kind, *args, **kwargs):
        seen.append((_init.TREE_ARRANGEMENTS, kind if isinstance(kind, str) else "array", design.n_rows))
        return original(engine, flat, design, info, rs, kind, *args, **kwargs)

    monkeypatch.setattr(mixexp._base, "initial_params", spy)
    return seen


def test_inner_fits_start_quickly_and_the_refit_keeps_the_default_start(monkeypatch):
    X, y = make_moe_regression(n_samples=150, n_features=2, n_experts=2, random_state=3)
    seen = _spy_starts(monkeypatch)
    pipe = Pipeline([("scale", StandardScaler()),
                     ("hme", HierarchicalMixtureOfExpertsRegressor(max_iter=30, random_state=0))])
    grid = {"hme__depth": [1, 2], "hme__alpha": [0.1, 1.0]}
    cv = KFold(3, shuffle=True, random_state=0)
    search = QuickStartGridSearchCV(pipe, grid, scoring="r2", cv=cv).fit(X, y)
    quick = (QUICK_START["TREE_ARRANGEMENTS"], "short_em", 100)
    assert seen[:-1] == [quick] * (3 * 4)  # 3 inner folds x 4 points, on the folds' 100 rows
    assert seen[-1] == (_init.TREE_ARRANGEMENTS, "short_em", 150)  # the refit
    assert _init.TREE_ARRANGEMENTS != QUICK_START["TREE_ARRANGEMENTS"]
    # the same search as GridSearchCV's, with the quick starts in the inner fits
    seen.clear()
    with quick_starts():
        plain = GridSearchCV(pipe, grid, scoring="r2", cv=cv, refit=False).fit(X, y)
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], plain.cv_results_["mean_test_score"])
    assert search.best_params_ == plain.best_params_
    assert search.best_estimator_[-1].depth == search.best_params_["hme__depth"]


def test_quick_start_search_refuses_worker_processes():
    X, y = make_moe_regression(n_samples=60, n_features=2, n_experts=2, random_state=0)
    pipe = Pipeline([("scale", StandardScaler()),
                     ("hme", HierarchicalMixtureOfExpertsRegressor(max_iter=5, random_state=0))])
    search = QuickStartGridSearchCV(pipe, {"hme__depth": [1]}, cv=2, n_jobs=2)
    with pytest.raises(ValueError, match="n_jobs must be None or 1, got 2"):
        search.fit(X, y)
    assert not hasattr(search, "best_estimator_")


def test_compare_starts_the_mixtures_inner_fits_quickly_by_default():
    default = compare.Settings()
    assert default.inner_starts == "quick" and default.penalty_path == ("moe-quad",)
    for name in ("moe", "hme"):
        assert type(compare.make_model(name, "regression", default)) is QuickStartGridSearchCV
    for task in ("regression", "classification"):
        assert type(compare.make_model("moe-quad", task, default, n_features=3)) is PenaltyPathSearchCV
    assert type(compare.make_model("cart", "regression", default)) is GridSearchCV
    full = compare.settings_with(default, inner_starts="default", penalty_path=())
    assert type(compare.make_model("hme", "regression", full)) is GridSearchCV
    assert type(compare.make_model("moe-quad", "regression", full, n_features=3)) is GridSearchCV
    with pytest.raises(ValueError, match="inner_starts must be one of"):
        compare.settings_with(default, inner_starts="fast")
    with pytest.raises(ValueError, match="penalty_path names mixtures only .* got 'cart'"):
        compare.make_model("moe", "regression", compare.settings_with(default, penalty_path=("cart",)))


def _recording_path_search(monkeypatch, X, y, grid, cv):
    seen = _spy_starts(monkeypatch)
    pipe = Pipeline([("scale", StandardScaler()),
                     ("moe", MixtureOfExpertsRegressor(max_iter=40, random_state=0))])
    return seen, pipe, PenaltyPathSearchCV(pipe, grid, scoring="r2", cv=cv).fit(X, y)


def test_penalty_path_starts_each_size_from_scratch_and_continues_up_the_penalties(monkeypatch):
    X, y = make_moe_regression(n_samples=120, n_features=2, n_experts=2, random_state=4)
    cv = KFold(2, shuffle=True, random_state=0)
    grid = {"moe__n_experts": [3, 2], "moe__alpha": [0.1, 10.0, 1.0]}
    seen, pipe, search = _recording_path_search(monkeypatch, X, y, grid, cv)
    # per fold one start per size (no split responsibilities), the other penalties warm;
    # then one refit from scratch with the default start on all rows
    assert [s[1:] for s in seen] == [("short_em", 60)] * 4 + [("short_em", 120)]
    assert [(p["moe__n_experts"], p["moe__alpha"]) for p in search.cv_results_["params"]] == [
        (2, 0.1), (2, 1.0), (2, 10.0), (3, 0.1), (3, 1.0), (3, 10.0)]
    best = search.best_params_
    refit = clone(pipe).set_params(**best).fit(X, y)
    np.testing.assert_allclose(search.best_estimator_.predict(X), refit.predict(X))
    assert search.best_estimator_[-1].warm_start is False
    # a warm point is the previous penalty's fit continued: doing it by hand gives its score
    fold_scores = []
    for tr, te in cv.split(X):
        a = clone(pipe).set_params(moe__n_experts=2, moe__alpha=0.1).fit(X[tr], y[tr])
        fold_scores.append(a.set_params(moe__alpha=1.0, moe__warm_start=True).fit(X[tr], y[tr]).score(X[te], y[te]))
    assert search.cv_results_["mean_test_score"][1] == pytest.approx(np.mean(fold_scores), rel=1e-10)
