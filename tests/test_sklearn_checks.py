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
    # the other expert families, with fewer experts and iterations to keep the suite short;
    # count and severity families declare positive_only (scikit-learn's checks draw y > 0)
    *[
        MixtureOfExpertsRegressor(2, expert=family, max_iter=30, init_params="kmeans")
        for family in sorted(set(EXPERTS["regression"]) - {"linear"})
    ],
]


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_sklearn_compatible(estimator, check):
    check(estimator)
