"""Checks of scikit-learn's suite that mixexp's estimators are expected to fail, and why."""

_WEIGHT_EQUIVALENCE = (
    "EM is started from k-means++ seeding or random responsibilities, which draw rows: "
    "integer weights and repeated rows start EM from different points and reach different "
    "local optima. From the same initial responsibilities EM itself treats weights exactly "
    "as repetitions (tests/test_em.py::test_sample_weight_equals_repetition)."
)


def expected_failed_checks(estimator):
    """``{check_name: reason}`` for ``parametrize_with_checks(expected_failed_checks=...)``."""
    return {
        "check_sample_weight_equivalence_on_dense_data": _WEIGHT_EQUIVALENCE,
        "check_sample_weight_equivalence_on_sparse_data": _WEIGHT_EQUIVALENCE,
    }
