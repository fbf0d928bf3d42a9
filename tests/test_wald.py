"""wald_test: against the likelihood-ratio test of the same constraint, against the chi-square
computed by hand from summary's covariance, the "equal in every expert" rows, and errors."""

import numpy as np
import pytest
from scipy.stats import chi2

from mixexp import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from mixexp.datasets import make_moe_classification, make_moe_regression
from mixexp.inference import parameter_inference, wald_test

EXACT = dict(random_state=0, alpha=0.0, gate_alpha=0.0, tol=1e-10, max_iter=2000)


def _null_data(seed, n=1500):
    """Two linear experts in x0; x1 moves neither expert (it is noise for them)."""
    rs = np.random.RandomState(seed)
    X = rs.randn(n, 2)
    z = X[:, 0] + 0.3 * rs.randn(n) > 0
    y = np.where(z, 1 + 2 * X[:, 0], -1 - X[:, 0]) + 0.5 * rs.randn(n)
    return X, y


@pytest.mark.parametrize("seed", [0, 1])
def test_wald_matches_the_likelihood_ratio_of_the_same_constraint(seed):
    # "x1's coefficient is 0 in every expert" is the model with expert_features=[0]
    X, y = _null_data(seed)
    full = MixtureOfExpertsRegressor(2, **EXACT).fit(X, y)
    reduced = MixtureOfExpertsRegressor(2, expert_features=[0], **EXACT).fit(X, y)
    lr = 2.0 * (full.log_likelihood(X, y).sum() - reduced.log_likelihood(X, y).sum())
    test = wald_test(full, X, y, ["expert 0[x1] = 0", "expert 1[x1]"])
    assert test.df == 2
    assert lr > 0
    assert test.statistic == pytest.approx(lr, rel=0.05, abs=0.02)
    assert test.p_value == pytest.approx(chi2.sf(test.statistic, 2))


def test_wald_is_the_hand_computed_chi_square_on_summarys_covariance():
    X, y = make_moe_regression(400, n_features=3, n_experts=3, noise=0.3, random_state=1)
    model = MixtureOfExpertsRegressor(3, random_state=0).fit(X, y)
    inf = parameter_inference(model, X, y)
    keys = list(zip(inf.component, inf.parameter))
    j = [keys.index((f"expert {k}", "x2")) for k in range(3)]
    R = np.zeros((2, len(keys)))
    R[0, j[1]], R[0, j[0]] = 1.0, -1.0
    R[1, j[2]], R[1, j[0]] = 1.0, -1.0
    d = R @ inf.estimate
    expected = d @ np.linalg.solve(R @ inf.cov @ R.T, d)
    for hypothesis in ["equal[x2]", (R, 0.0),
                       ["expert 1[x2] - expert 0[x2] = 0", "expert 2[x2] = expert 0[x2]"]]:
        test = wald_test(model, X, y, hypothesis)
        assert test.df == 2
        assert test.statistic == pytest.approx(expected, rel=1e-9)
        assert test.p_value == pytest.approx(chi2.sf(expected, 2), rel=1e-9)
    # one coefficient against a constant is the square of summary's z shifted by it
    k = keys.index(("expert 1", "x0"))
    se = np.sqrt(inf.cov[k, k])
    test = wald_test(model, X, y, "2 * expert 1[x0] = 1.5")
    assert test.statistic == pytest.approx(((inf.estimate[k] - 0.75) / se) ** 2, rel=1e-9)
    # the sandwich covariance gives another statistic
    robust = wald_test(model, X, y, "equal[x2]", cov_type="sandwich")
    assert robust.statistic != pytest.approx(expected, rel=1e-6)


def test_equal_in_every_expert_takes_each_class_row_of_a_classifier():
    X, y = make_moe_classification(300, n_features=2, n_experts=2, n_classes=3, random_state=0)
    model = MixtureOfExpertsClassifier(2, random_state=0).fit(X, y)
    test = wald_test(model, X, y, "equal[x1]")
    assert test.df == 2  # class 1 vs 0 and class 2 vs 0, expert 1 against expert 0
    assert [e.split(" = ")[0] for e in test.equations] == [
        "-1 * expert 0: class 1 vs 0[x1] +1 * expert 1: class 1 vs 0[x1]",
        "-1 * expert 0: class 2 vs 0[x1] +1 * expert 1: class 2 vs 0[x1]",
    ]


def test_a_true_hypothesis_is_rarely_rejected_and_a_false_one_always():
    X, y = _null_data(3, n=800)
    model = MixtureOfExpertsRegressor(2, **EXACT).fit(X, y)
    assert wald_test(model, X, y, "equal[x1]").p_value > 0.01
    assert wald_test(model, X, y, "equal[x0]").p_value < 1e-10


@pytest.mark.parametrize("hypothesis, error, match", [
    ("expert 7[x0] = 0", ValueError, "no parameter expert 7"),
    ("expert 0[x0] = = 1", ValueError, "at most one"),
    ("expert 0[x0] ** 2", ValueError, "cannot read"),
    ("1 = 2", ValueError, "no parameter"),
    ("equal[x9]", ValueError, "equal"),
    ((np.ones((1, 3)), 0.0), ValueError, "columns"),
    (3.0, TypeError, "hypothesis must be"),
    ([], TypeError, "hypothesis must be"),
])
def test_bad_hypotheses_are_refused_in_words(hypothesis, error, match):
    X, y = make_moe_regression(200, n_features=2, n_experts=2, random_state=0)
    model = MixtureOfExpertsRegressor(2, random_state=0).fit(X, y)
    with pytest.raises(error, match=match):
        wald_test(model, X, y, hypothesis)
