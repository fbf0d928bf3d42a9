"""The regressors' guard against extrapolation (``clip_experts``) and their default penalties."""

import numpy as np
import pytest

from mixexp import HierarchicalMixtureOfExpertsRegressor, MixtureOfExpertsRegressor
from mixexp._regressor import expert_bounds


def _few_rows_many_features(seed):
    """A small-data case like a Boston fold: 200 rows, 22 features of which 20 skewed
    nuisance columns, so each of 4 experts has ~50 effective rows for 22 coefficients;
    and a test row far out in the nuisance columns, whose true mean (1.0) is inside the
    training targets' range."""
    rng = np.random.default_rng(seed)
    n, p = 200, 22
    X = rng.standard_normal((n, p))
    X[:, 2:] = rng.lognormal(0.0, 1.0, (n, p - 2))
    y = np.where(X[:, 0] > 0, 2 * X[:, 1], -X[:, 1]) + rng.standard_normal(n)
    x_far = np.zeros((1, p))
    x_far[0, :2] = [1.0, 0.5]
    x_far[0, 2:] = 1.5 * X[:, 2:].max(axis=0)
    return X, y, x_far


# seeds where the unguarded, nearly unpenalised HME does blow up (of seeds 1-8: 1, 6, 7, 8 with the
# tree start of six arrangements; 2 no longer does: 8.4, inside the targets' range widened by their span)
@pytest.mark.parametrize("seed", [1, 6])
def test_default_hme_does_not_blow_up_on_an_extrapolating_row(seed):
    X, y, x_far = _few_rows_many_features(seed)
    span = np.ptp(y)
    # the failure: without the guard and (nearly) without the penalty, an expert fitted on
    # few rows predicts far outside the training targets
    raw = HierarchicalMixtureOfExpertsRegressor(depth=2, alpha=1e-6, clip_experts=False, random_state=0)
    far = raw.fit(X, y).predict(x_far)[0]
    assert not y.min() - span <= far <= y.max() + span
    # the defaults stay within the training targets' range there
    for model in (HierarchicalMixtureOfExpertsRegressor(depth=2, random_state=0),
                  MixtureOfExpertsRegressor(n_experts=4, random_state=0)):
        pred = model.fit(X, y).predict(x_far)[0]
        assert y.min() <= pred <= y.max()
    # as does the unpenalised model with the guard alone
    guarded = raw.set_params(clip_experts=True).predict(x_far)[0]
    assert y.min() <= guarded <= y.max()


def test_clip_experts_changes_predictions_only():
    X, y, x_far = _few_rows_many_features(2)
    Xt = np.vstack([X[:20], x_far, 2 * x_far])
    model = HierarchicalMixtureOfExpertsRegressor(depth=2, alpha=1e-6, random_state=0).fit(X, y)
    ll = model.log_likelihood(X[:50], y[:50])
    low, high = expert_bounds(model._fitted)
    # each expert's range: the targets of the training rows whose largest posterior is its own
    owner = model.responsibilities(X, y).argmax(axis=1)
    for leaf in range(4):
        rows = y[owner == leaf]
        expected = (rows.min(), rows.max()) if rows.size else (y.min(), y.max())
        np.testing.assert_allclose([low[leaf, 0], high[leaf, 0]], expected, rtol=1e-12, atol=1e-12)
    experts = model.predict_experts(Xt)
    assert np.all((experts >= low[:, 0] - 1e-12) & (experts <= high[:, 0] + 1e-12))
    mean, std = model.predict(Xt, return_std=True)
    np.testing.assert_allclose(mean, np.sum(model.predict_gate(Xt) * experts, axis=1), rtol=1e-10, atol=1e-10)
    assert np.all(np.isfinite(std)) and np.all(std > 0)
    # read when predicting: the same fitted model without the guard
    model.set_params(clip_experts=False)
    unclipped = model.predict_experts(Xt)
    assert np.abs(unclipped).max() > np.abs(experts).max()
    np.testing.assert_array_equal(unclipped[:20].clip(low[:, 0], high[:, 0]), experts[:20])
    # the model's density does not change
    np.testing.assert_array_equal(model.log_likelihood(X[:50], y[:50]), ll)


def test_ranges_ignore_zero_weight_rows_and_grow_with_batches():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 3))
    y = X @ [1.0, -1.0, 0.5] + 0.1 * rng.standard_normal(300)
    sw = np.ones(300)
    y_out = y.copy()
    y_out[0] = 100.0  # a row of zero weight: outside every range
    sw[0] = 0.0
    model = MixtureOfExpertsRegressor(2, random_state=0).fit(X, y_out, sample_weight=sw)
    low, high = expert_bounds(model._fitted)
    assert high.max() == pytest.approx(y[1:].max())
    # online EM: the union of the ranges of the batches seen
    online = MixtureOfExpertsRegressor(2, random_state=0)
    online.partial_fit(X[:150], y[:150])
    first = online._fitted.target_range.copy()  # internal units, NaN: an expert without rows
    online.partial_fit(X[150:], y[150:] + 10.0)
    second = online._fitted.target_range
    assert np.all((second[0] <= first[0]) | np.isnan(first[0]))
    assert np.all((second[1] >= first[1]) | np.isnan(first[1]))
    low2, high2 = expert_bounds(online._fitted)
    assert high2.max() == pytest.approx((y[150:] + 10.0).max())
    assert low2.min() == pytest.approx(y[:150].min())


def test_multi_target_and_log_link_families():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((200, 2))
    Y = np.column_stack([X[:, 0], 10 * X[:, 1]]) + 0.1 * rng.standard_normal((200, 2))
    model = MixtureOfExpertsRegressor(2, random_state=0).fit(X, Y)
    low, high = expert_bounds(model._fitted)
    assert low.shape == high.shape == (2, 2)
    pred = model.predict(10 * X[:5])
    assert np.all((pred >= Y.min(axis=0)) & (pred <= Y.max(axis=0)))
    # counts: the log-link families, whose means scale with an exposure, are not clipped
    counts = rng.poisson(np.exp(0.5 * X[:, 0]))
    poisson = MixtureOfExpertsRegressor(2, expert="poisson", random_state=0).fit(X, counts)
    assert expert_bounds(poisson._fitted) is None
    assert np.all(np.isfinite(poisson.predict(X[:5])))


def test_default_penalties():
    for cls in (MixtureOfExpertsRegressor, HierarchicalMixtureOfExpertsRegressor):
        params = cls().get_params()
        assert params["alpha"] == 1.0 and params["gate_alpha"] == 0.1 and params["clip_experts"] is True
