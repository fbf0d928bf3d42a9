"""Starts and variance floors of censored and truncated fits: the start leaves censored rows
out (their stand-in values are no values), and the numerical M-step of censored rows keeps
the family's own bounds (``inference_bounds``), so no leaf degenerates to a variance of 0."""

import warnings

import numpy as np
import pytest
from test_censoring import two_regimes

from mixexp import MixtureOfExpertsRegressor
from mixexp._init import censored_start_design
from mixexp.experts import EXPERTS


def _quiet(fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit()


def _floor(model, y):
    """The noise variance floor in the units of y: ``reg_variance`` times the variance of y."""
    return model.reg_variance * np.var(y)


@pytest.mark.parametrize("seed", [0, 1])
def test_default_fit_of_two_censored_regimes_reaches_the_two_slope_optimum(seed):
    """30% of the rows right-censored at 1.5: a start that took them as exact put one expert
    on them (slope 0, variance at the floor) and EM stayed there; the reference optimum is EM
    from the two slopes' own rows (the sign of x y)."""
    X, y, y_upper = two_regimes()
    trunc = (-2.0, np.inf)
    est = MixtureOfExpertsRegressor(2, random_state=seed)
    model = _quiet(lambda: est.fit(X, y, y_upper=y_upper, truncation=trunc))
    labels = (X[:, 0] * y < 0).astype(np.intp)
    best = _quiet(lambda: MixtureOfExpertsRegressor(2, init_params=labels, tol=1e-8, max_iter=500)
                  .fit(X, y, y_upper=y_upper, truncation=trunc))
    assert model.noise_variance_.min() > 1e4 * _floor(model, y)
    assert best.noise_variance_.min() > 1e4 * _floor(model, y)
    assert model.lower_bound_ >= best.lower_bound_ - 1e-3
    assert np.sort(model.expert_coef_.ravel()) == pytest.approx(np.sort(best.expert_coef_.ravel()), abs=0.05)
    assert np.diff(model.lower_bounds_).min() >= -1e-10 * abs(model.lower_bound_)


def test_unpenalised_fit_that_collapses_onto_censored_rows_keeps_the_variance_floor():
    """One expert started on the censored rows alone, no penalty, truncation (the numerical
    M-step): the expert collapses onto them, its variance held at ``reg_variance`` times the
    variance of y (before: 6.5e-8, below the floor of 7.4e-7), with finite, non-decreasing
    bounds."""
    X, y, y_upper = two_regimes()
    trunc = (-2.0, np.inf)
    est = MixtureOfExpertsRegressor(2, alpha=0.0, gate_alpha=0.0, max_iter=40,
                                    init_params=np.isinf(y_upper).astype(np.intp))
    model = _quiet(lambda: est.fit(X, y, y_upper=y_upper, truncation=trunc))
    variances = model.noise_variance_
    assert variances.min() >= _floor(model, y) * (1 - 1e-9)
    assert variances.min() <= 1.01 * _floor(model, y)  # the fit does collapse onto the floor
    assert np.all(np.isfinite(model.lower_bounds_))
    assert np.diff(model.lower_bounds_).min() >= -1e-10 * abs(model.lower_bound_)
    assert np.all(np.isfinite(model.log_likelihood(X, y, y_upper=y_upper, truncation=trunc)))


@pytest.mark.parametrize("seed", range(4))
def test_unpenalised_censored_fits_never_go_below_the_floor(seed):
    X, y, y_upper = two_regimes()
    est = MixtureOfExpertsRegressor(2, alpha=0.0, gate_alpha=0.0, random_state=seed)
    model = _quiet(lambda: est.fit(X, y, y_upper=y_upper, truncation=(-2.0, np.inf)))
    assert model.noise_variance_.min() >= _floor(model, y) * (1 - 1e-9)
    assert np.all(np.isfinite(model.lower_bounds_))


_DISTRIBUTIONS = [name for name, cls in EXPERTS["regression"].items() if cls.has_distribution]


@pytest.mark.parametrize(
    "name, zero_inflation",
    [(name, False) for name in _DISTRIBUTIONS] + [(name, True) for name in _DISTRIBUTIONS if name != "zip"],
)
def test_inference_bounds_hold_the_families_own_fit(name, zero_inflation):
    """The bounds a family declares for the numerical M-step are those its own M-step keeps:
    its fitted vector lies within them, and they have the vector's shape."""
    rs = np.random.RandomState(0)
    X = rs.normal(size=(200, 1))
    y = rs.poisson(np.exp(1.0 + 0.5 * X[:, 0])).astype(float) + 1.0
    if zero_inflation:
        y[::4] = 0.0
    est = MixtureOfExpertsRegressor(2, expert=name, zero_inflation=zero_inflation, random_state=0,
                                    max_iter=20)
    model = _quiet(lambda: est.fit(X, y))
    experts, params = model._fitted.experts, model._fitted.params["experts"]
    theta = experts.inference_vector(params)
    lower, upper = experts.inference_bounds(params)
    assert lower.shape == upper.shape == theta.shape
    assert np.all(lower <= theta + 1e-9) and np.all(theta <= upper + 1e-9)
    assert np.all(lower < upper)


def test_start_leaves_censored_rows_out_unless_the_exact_rows_are_too_few():
    X, y, y_upper = two_regimes()
    model = _quiet(lambda: MixtureOfExpertsRegressor(2, random_state=0, max_iter=2)
                   .fit(X, y, y_upper=y_upper, truncation=(-2.0, np.inf)))
    censored = np.isinf(y_upper)
    # the fitted model's components on its own coordinates and a censored design
    state = model._fitted
    from mixexp._design import design_matrix
    from mixexp._engine import EMEngine

    target, _ = state.experts.prepare_target(y, np.ones(y.shape[0]))
    design = state.design(design_matrix(X, state.x_mean, state.x_scale), {"y": target, "censored": censored},
                          np.ones(y.shape[0]))
    design.censored = True
    flat = EMEngine(state.tree, state.gate, state.experts)
    start = censored_start_design(design, flat, state.info)
    np.testing.assert_array_equal(start.sw, np.where(censored, 0.0, 1.0))
    assert not start.censored
    few = censored.copy()
    few[np.flatnonzero(~censored)[5:]] = True  # 5 exact rows, fewer than the mixture's 8 free parameters
    design.target = {"y": target, "censored": few}
    np.testing.assert_array_equal(censored_start_design(design, flat, state.info).sw, np.ones(y.shape[0]))


def test_mostly_censored_rows_still_fit():
    """Too few exact rows to start on alone: every row at its stand-in, and a finite fit."""
    X, y, y_upper = two_regimes()
    y_upper = np.where(np.arange(y.shape[0]) % 60 == 0, y, np.inf)
    model = _quiet(lambda: MixtureOfExpertsRegressor(2, random_state=0).fit(X, y, y_upper=y_upper))
    assert np.all(np.isfinite(model.lower_bounds_))
    assert model.noise_variance_.min() >= _floor(model, y) * (1 - 1e-9)
