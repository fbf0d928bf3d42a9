"""Checks of scikit-learn's suite that mixexp's estimators are expected to fail, and why."""

_WEIGHT_EQUIVALENCE = (
    "EM is started from k-means++ seeding or random responsibilities, which draw rows: "
    "integer weights and repeated rows start EM from different points and reach different "
    "local optima. From the same initial responsibilities EM itself treats weights exactly "
    "as repetitions (tests/test_em.py::test_sample_weight_equals_repetition)."
)


_INTEGER_COUNTS = (
    "expert='negative_binomial' is a distribution of counts and refuses a y that is not "
    "integer with a ValueError; scikit-learn's check draws fractional targets (positive_only "
    "makes them positive, not whole)."
)
# the checks that fit a regressor on scikit-learn's fractional targets
_FRACTIONAL_TARGET_CHECKS = (
    "check_n_features_in_after_fitting", "check_fit_idempotent", "check_fit_check_is_fitted",
    "check_n_features_in", "check_regressors_train", "check_regressor_data_not_an_array",
    "check_regressors_no_decision_function",
)


def expected_failed_checks(estimator):
    """``{check_name: reason}`` for ``parametrize_with_checks(expected_failed_checks=...)``."""
    expected = {
        "check_sample_weight_equivalence_on_dense_data": _WEIGHT_EQUIVALENCE,
        "check_sample_weight_equivalence_on_sparse_data": _WEIGHT_EQUIVALENCE,
    }
    if getattr(estimator, "expert", None) == "negative_binomial":
        expected.update(dict.fromkeys(_FRACTIONAL_TARGET_CHECKS, _INTEGER_COUNTS))
    return expected
