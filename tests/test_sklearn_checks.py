"""scikit-learn's estimator checks on every estimator."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from mixexp import (
    HierarchicalMixtureOfExpertsClassifier,
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsRegressor,
)
from mixexp._sklearn_checks import expected_failed_checks
from mixexp.experts import EXPERTS

ESTIMATORS = [
    MixtureOfExpertsRegressor(),
    MixtureOfExpertsClassifier(),
    HierarchicalMixtureOfExpertsRegressor(),
    HierarchicalMixtureOfExpertsClassifier(),
    # the model that takes NaN in X (input_tags.allow_nan): the checks for NaN-capable estimators
    MixtureOfExpertsRegressor(2, gate="gaussian", max_iter=30, init_params="kmeans"),
    # the other expert families, with fewer experts and iterations to keep the suite short;
    # count and severity families declare positive_only (scikit-learn's checks draw y > 0)
    *[
        MixtureOfExpertsRegressor(2, expert=family, max_iter=30, init_params="kmeans")
        for family in sorted(set(EXPERTS["regression"]) - {"linear"})
    ],
]

# the longest checks (each refits the estimator on many sparse formats): the slow tier
SLOW_CHECKS = ("check_estimator_sparse_matrix", "check_estimator_sparse_array")


def _with_slow_checks(parametrize):
    """``parametrize_with_checks``'s decorator with the SLOW_CHECKS marked slow (same ids)."""
    argnames, params = parametrize.mark.args
    marked = []
    for param in params:
        values, marks, id_ = (param.values, list(param.marks), param.id) if hasattr(param, "marks") \
            else (tuple(param), [], None)
        if getattr(values[1], "func", values[1]).__name__ in SLOW_CHECKS:
            marks.append(pytest.mark.slow)
        marked.append(pytest.param(*values, marks=marks, id=id_))
    return pytest.mark.parametrize(argnames, marked, **parametrize.mark.kwargs)


@_with_slow_checks(parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks))
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_sklearn_compatible(estimator, check):
    check(estimator)
