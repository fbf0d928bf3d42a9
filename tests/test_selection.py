"""Choosing the size of a mixture: ICL, and MixtureOfExpertsIC."""

import numpy as np
import pytest
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from mixexp import (
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsIC,
    MixtureOfExpertsRegressor,
)
from mixexp._parallel import cpu_limit
from mixexp._sklearn_checks import expected_failed_checks
from mixexp.datasets import make_moe_classification, make_moe_regression
from mixexp.selection import assignment_entropy


@pytest.fixture(scope="module")
def three_experts():
    return make_moe_regression(600, n_features=2, n_experts=3, random_state=0)


def test_icl_is_bic_plus_twice_the_assignment_entropy(three_experts):
    X, y = three_experts
    model = MixtureOfExpertsRegressor(3, random_state=0).fit(X, y)
    resp = model.responsibilities(X, y)
    entropy = -np.sum(resp * np.log(np.clip(resp, 1e-300, None)))
    assert model.icl(X, y) == pytest.approx(model.bic(X, y) + 2 * entropy, rel=1e-12)
    assert model.icl(X, y) > model.bic(X, y)
    one = MixtureOfExpertsRegressor(1).fit(X, y)
    assert one.icl(X, y) == pytest.approx(one.bic(X, y), rel=1e-12)  # a single expert: no entropy
    assert assignment_entropy(np.eye(3)) == 0.0
    assert assignment_entropy(np.full((4, 2), 0.5)) == pytest.approx(4 * np.log(2))


def test_selector_finds_the_true_number_of_experts(three_experts):
    X, y = three_experts
    selector = MixtureOfExpertsIC(MixtureOfExpertsRegressor(random_state=0), criterion="icl").fit(X, y)
    assert selector.best_params_ == {"n_experts": 3}
    table = selector.criteria_
    assert list(table["param_n_experts"]) == [1, 2, 3, 4, 5, 6]
    assert selector.best_index_ == int(np.argmin(table["icl"]))
    assert int(np.argmin(table["bic"])) == 2  # BIC agrees
    best = selector.best_estimator_
    assert best.n_experts == 3
    assert table["bic"][2] == pytest.approx(best.bic(X, y))
    assert table["icl"][2] == pytest.approx(best.icl(X, y))
    assert table["aic"][2] == pytest.approx(best.aic(X, y))
    np.testing.assert_array_equal(selector.predict(X), best.predict(X))
    assert selector.score(X, y) == best.score(X, y)


@pytest.mark.slow  # joblib worker processes
def test_parallel_grid_gives_the_same_fits(three_experts):
    X, y = three_experts
    grid = {"n_experts": [2, 3]}
    est = MixtureOfExpertsRegressor(init_params="kmeans", random_state=0)
    serial = MixtureOfExpertsIC(est, param_grid=grid).fit(X, y)
    parallel = MixtureOfExpertsIC(est, param_grid=grid, n_jobs=2).fit(X, y)
    np.testing.assert_array_equal(serial.criteria_["bic"], parallel.criteria_["bic"])


def _worker_threads(_):
    return cpu_limit()


def test_joblib_workers_limit_mixexps_threads():
    """Each of joblib's n_jobs worker processes gets cores // n_jobs threads for its fit."""
    import os

    n_jobs = 2
    limits = Parallel(n_jobs=n_jobs)(delayed(_worker_threads)(i) for i in range(n_jobs))
    assert max(limits) <= max(1, len(os.sched_getaffinity(0)) // n_jobs)


def test_selector_in_a_pipeline_with_a_classifier():
    X, y = make_moe_classification(300, n_features=3, n_experts=2, random_state=0)
    pipe = make_pipeline(
        StandardScaler(),
        MixtureOfExpertsIC(MixtureOfExpertsClassifier(random_state=0), param_grid={"n_experts": [1, 2]}),
    ).fit(X, y)
    selector = pipe[-1]
    np.testing.assert_array_equal(selector.classes_, [0, 1, 2])
    proba = pipe.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert pipe.score(X, y) == selector.best_estimator_.score(StandardScaler().fit_transform(X), y)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_tree_default_grid_is_the_depth(three_experts):
    X, y = three_experts
    selector = MixtureOfExpertsIC(HierarchicalMixtureOfExpertsRegressor(random_state=0, max_iter=30))
    selector.fit(X[:200], y[:200])
    assert list(selector.criteria_["param_depth"]) == [1, 2, 3]
    assert selector.best_estimator_.depth == selector.best_params_["depth"]


def test_selector_errors_and_settings_that_cannot_be_fitted(three_experts):
    X, y = three_experts
    with pytest.raises(ValueError, match="log_likelihood"):
        MixtureOfExpertsIC(LinearRegression()).fit(X, y)
    with pytest.raises(ValueError, match="criterion"):
        MixtureOfExpertsIC(MixtureOfExpertsRegressor(), criterion="mdl").fit(X, y)
    # more experts than samples: that setting fails, is recorded, and the others go on
    selector = MixtureOfExpertsIC(MixtureOfExpertsRegressor(random_state=0), param_grid={"n_experts": [1, 9]})
    selector.fit(X[:5], y[:5])
    assert selector.best_params_ == {"n_experts": 1}
    assert "n_samples=5" in selector.criteria_["error"][1] and np.isnan(selector.criteria_["bic"][1])
    with pytest.raises(ValueError, match="No setting"):
        MixtureOfExpertsIC(MixtureOfExpertsRegressor(), param_grid={"n_experts": [9]}).fit(X[:5], y[:5])
    unfitted = clone(selector)
    assert not hasattr(unfitted, "best_estimator_")


@parametrize_with_checks(
    [MixtureOfExpertsIC(
        MixtureOfExpertsClassifier(max_iter=10, init_params="kmeans", random_state=0),
        param_grid={"n_experts": [1, 2]},
    )],
    expected_failed_checks=expected_failed_checks,
)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_selector_is_a_scikit_learn_estimator(estimator, check):
    check(estimator)


def test_criteria_of_a_gaussian_gate_use_the_joint_likelihood():
    # EM maximised log p(x, y) and the count includes the gate's means and covariances
    from mixexp.datasets import make_gaussian_gated_regression

    X, y = make_gaussian_gated_regression(n_samples=300, n_experts=2, random_state=0)[:2]
    model = MixtureOfExpertsRegressor(2, gate="gaussian", random_state=0).fit(X, y)
    joint = model.log_likelihood(X, y) + model.score_samples(X)
    k = model._n_parameters()
    assert model.bic(X, y) == pytest.approx(-2 * joint.sum() + k * np.log(300), rel=1e-12)
    assert model.aic(X, y) == pytest.approx(-2 * joint.sum() + 2 * k, rel=1e-12)
    # a softmax gate models y given x only
    softmax = MixtureOfExpertsRegressor(2, random_state=0).fit(X, y)
    k = softmax._n_parameters()
    expected = -2 * softmax.log_likelihood(X, y).sum() + k * np.log(300)
    assert softmax.bic(X, y) == pytest.approx(expected, rel=1e-12)


def test_an_array_start_falls_back_to_the_named_start():
    """An array ``init_params`` is a start for one number of experts: the sizes of the grid
    start from ``"short_em"`` instead (with a warning), unless the grid sets ``init_params``."""
    import warnings

    X, y = make_moe_regression(200, n_features=1, n_experts=2, random_state=0)
    resp = np.random.default_rng(0).dirichlet([1.0, 1.0], size=200)
    est = MixtureOfExpertsRegressor(2, init_params=resp, random_state=0)
    with pytest.warns(UserWarning, match="init_params='short_em'"):
        ic = MixtureOfExpertsIC(est, param_grid={"n_experts": [1, 2, 3]}).fit(X, y)
    assert np.all(np.isfinite(ic.criteria_["bic"]))
    assert est.init_params is resp
    named = clone(est).set_params(n_experts=3, init_params="short_em").fit(X, y)
    assert ic.criteria_["bic"][2] == pytest.approx(named.bic(X, y), rel=1e-12)
    grid = [{"n_experts": [2], "init_params": [resp]}, {"n_experts": [3], "init_params": ["kmeans"]}]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        given = MixtureOfExpertsIC(est, param_grid=grid).fit(X, y)
    assert not [w for w in caught if "init_params is an array" in str(w.message)]
    own = clone(est).fit(X, y)
    assert given.criteria_["bic"][0] == pytest.approx(own.bic(X, y), rel=1e-12)
