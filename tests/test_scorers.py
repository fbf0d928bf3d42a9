"""Scorers with an exposure (mixexp.metrics.make_deviance_scorer, make_log_likelihood_scorer):
hand-computed deviances and log-likelihoods of the counts, through cross_val_score and
GridSearchCV with metadata routing, and MixtureOfExpertsIC fitted with an exposure."""

import pickle
import warnings

import numpy as np
import pytest
import sklearn
from scipy.special import gammaln, logsumexp
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mixexp import MixtureOfExpertsClassifier, MixtureOfExpertsIC, MixtureOfExpertsRegressor
from mixexp.datasets import make_moe_family, make_moe_regression
from mixexp.metrics import make_deviance_scorer, make_log_likelihood_scorer

N = 240
EXPOSURE = np.random.RandomState(3).uniform(0.5, 4.0, size=N)
CV = KFold(3, shuffle=True, random_state=0)


def _data(family="poisson"):
    return make_moe_family(family, N, n_features=2, n_experts=2, exposure=EXPOSURE, random_state=3)


def _model(family="poisson", n_experts=2):
    return MixtureOfExpertsRegressor(n_experts, expert=family, max_iter=25, random_state=0)


def _fit(model, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning of the short runs
        return model.fit(*args, **kwargs)


def _tweedie_deviance(y, mu, power, w):
    """Mean unit deviance, written out per power (McCullagh & Nelder)."""
    if power == 1:
        terms = 2 * (np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0) / mu), 0.0) - (y - mu))
    elif power == 2:
        terms = 2 * (np.log(mu / y) + y / mu - 1)
    else:
        p = power
        terms = 2 * (y ** (2 - p) / ((1 - p) * (2 - p)) - y * mu ** (1 - p) / (1 - p) + mu ** (2 - p) / (2 - p))
    w = np.broadcast_to(w, terms.shape)
    return np.sum(w * terms) / np.sum(w)


def _poisson_mixture_loglik(model, X, y, exposure):
    """log sum_k g_k(x) Poisson(y; exposure mu_k(x)), from the gate and the experts' means."""
    log_gate = np.log(model.predict_gate(X))
    mu = model.predict_experts(X, exposure=exposure)
    log_pk = y[:, None] * np.log(mu) - mu - gammaln(y + 1)[:, None]
    return logsumexp(log_gate + log_pk, axis=1)


@pytest.mark.parametrize("family, power", [("poisson", 1), ("poisson", 1.5), ("gamma", 2)])
def test_deviance_scorer_is_the_deviance_of_the_expected_counts(family, power):
    X, y = _data(family)
    model = _fit(_model(family), X, y, exposure=EXPOSURE)
    w = np.random.RandomState(1).uniform(0.5, 2.0, size=N)
    mu = model.predict(X, exposure=EXPOSURE)  # the model's own exposure route, not rate * exposure
    scorer = make_deviance_scorer(power)
    assert scorer(model, X, y, exposure=EXPOSURE) == pytest.approx(-_tweedie_deviance(y, mu, power, 1.0), rel=1e-10)
    assert scorer(model, X, y, sample_weight=w, exposure=EXPOSURE) == pytest.approx(
        -_tweedie_deviance(y, mu, power, w), rel=1e-10
    )


def test_log_likelihood_scorer_is_the_mixture_log_likelihood_of_the_counts():
    X, y = _data()
    model = _fit(_model(), X, y, exposure=EXPOSURE)
    by_hand = _poisson_mixture_loglik(model, X, y, EXPOSURE)
    np.testing.assert_allclose(model.log_likelihood(X, y, exposure=EXPOSURE), by_hand, rtol=1e-10)
    w = np.random.RandomState(2).uniform(0.5, 2.0, size=N)
    scorer = make_log_likelihood_scorer()
    assert scorer(model, X, y, exposure=EXPOSURE) == pytest.approx(by_hand.mean(), rel=1e-10)
    assert scorer(model, X, y, sample_weight=w, exposure=EXPOSURE) == pytest.approx(
        np.sum(w * by_hand) / w.sum(), rel=1e-10
    )
    # without exposure (a model fitted without it): the plain log-likelihood, any family
    plain = make_log_likelihood_scorer(exposure=False)
    assert plain(model, X, y) == pytest.approx(model.log_likelihood(X, y).mean(), rel=1e-12)


def test_cross_val_score_with_routing_scores_the_counts():
    X, y = _data()
    with sklearn.config_context(enable_metadata_routing=True):
        model = _model().set_fit_request(exposure=True)
        pipe = make_pipeline(StandardScaler(), model)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wrong = cross_val_score(pipe, X, y, cv=CV, params={"exposure": EXPOSURE},
                                    scoring="neg_mean_poisson_deviance")
            deviance = cross_val_score(pipe, X, y, cv=CV, params={"exposure": EXPOSURE},
                                       scoring=make_deviance_scorer(), error_score="raise")
            loglik = cross_val_score(pipe, X, y, cv=CV, params={"exposure": EXPOSURE},
                                     scoring=make_log_likelihood_scorer(), error_score="raise")
    for fold, (train, test) in enumerate(CV.split(X)):
        fitted = _fit(make_pipeline(StandardScaler(), _model()), X[train], y[train],
                      mixtureofexpertsregressor__exposure=EXPOSURE[train])
        rate = fitted.predict(X[test])
        counts = rate * EXPOSURE[test]
        assert deviance[fold] == pytest.approx(-_tweedie_deviance(y[test], counts, 1, 1.0), rel=1e-8)
        # scikit-learn's scorer compared the rates with the counts: the silent error
        assert wrong[fold] == pytest.approx(-_tweedie_deviance(y[test], rate, 1, 1.0), rel=1e-8)
        assert wrong[fold] < 2 * deviance[fold]
        Xt = fitted[0].transform(X[test])
        by_hand = _poisson_mixture_loglik(fitted[-1], Xt, y[test], EXPOSURE[test]).mean()
        assert loglik[fold] == pytest.approx(by_hand, rel=1e-8)


def test_log_likelihood_scorer_without_exposure_takes_a_two_column_y():
    X, Y = make_moe_regression(200, n_features=2, n_experts=2, n_targets=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = cross_val_score(MixtureOfExpertsRegressor(2, max_iter=20, random_state=0), X, Y, cv=CV,
                                 scoring=make_log_likelihood_scorer(exposure=False), error_score="raise")
    train, test = next(CV.split(X))
    fitted = _fit(MixtureOfExpertsRegressor(2, max_iter=20, random_state=0), X[train], Y[train])
    assert scores[0] == pytest.approx(fitted.log_likelihood(X[test], Y[test]).mean(), rel=1e-10)


def test_grid_search_with_routing_ranks_by_the_scorer():
    X, y = _data()
    grid = {"n_experts": [1, 2]}
    with sklearn.config_context(enable_metadata_routing=True):
        scorer = make_log_likelihood_scorer().set_score_request(sample_weight=False)
        search = GridSearchCV(_model().set_fit_request(exposure=True), grid, cv=CV, scoring=scorer)
        _fit(search, X, y, exposure=EXPOSURE)
    for i, k in enumerate(grid["n_experts"]):
        scores = []
        for train, test in CV.split(X):
            fitted = _fit(_model(n_experts=k), X[train], y[train], exposure=EXPOSURE[train])
            scores.append(fitted.log_likelihood(X[test], y[test], exposure=EXPOSURE[test]).mean())
        assert search.cv_results_["mean_test_score"][i] == pytest.approx(np.mean(scores), rel=1e-8)
    assert search.best_params_ == {"n_experts": int(np.argmax(search.cv_results_["mean_test_score"])) + 1}


def test_missing_exposure_is_a_clear_error():
    X, y = _data()
    model = _fit(_model(), X, y, exposure=EXPOSURE)
    for scorer in (make_deviance_scorer(), make_log_likelihood_scorer()):
        with pytest.raises(ValueError, match="needs the exposure.*enable_metadata_routing"):
            scorer(model, X, y)
    # without routing cross_val_score hands params to fit only: the scorer says so
    with pytest.raises(ValueError, match="params reach fit only"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cross_val_score(_model(), X, y, cv=CV, params={"exposure": EXPOSURE},
                            scoring=make_deviance_scorer(), error_score="raise")
    with pytest.raises(ValueError, match="exposure must be positive"):
        make_deviance_scorer()(model, X, y, exposure=np.zeros(N))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        make_deviance_scorer()(model, X, y, exposure=EXPOSURE[:-1])
    with pytest.raises(RuntimeError, match="enable_metadata_routing"):
        make_deviance_scorer().set_score_request(exposure=True)
    # the scorers travel to joblib's worker processes
    scorer = pickle.loads(pickle.dumps(make_deviance_scorer(1.5)))
    assert scorer(model, X, y, exposure=EXPOSURE) == make_deviance_scorer(1.5)(model, X, y, exposure=EXPOSURE)
    with pytest.raises(TypeError, match="log_likelihood"):
        make_log_likelihood_scorer()(LinearRegression().fit(X, y), X, y, exposure=EXPOSURE)
    with pytest.raises(ValueError, match="power"):
        make_deviance_scorer(0.5)
    with pytest.raises(TypeError, match="power"):
        make_deviance_scorer("poisson")


def test_information_criterion_selection_takes_the_exposure():
    X, y = _data()
    selector = _fit(MixtureOfExpertsIC(_model(), param_grid={"n_experts": [1, 2]}), X, y, exposure=EXPOSURE)
    for i, k in enumerate([1, 2]):
        fitted = _fit(_model(n_experts=k), X, y, exposure=EXPOSURE)
        assert selector.criteria_["bic"][i] == pytest.approx(fitted.bic(X, y, exposure=EXPOSURE), rel=1e-10)
    best = selector.best_estimator_
    np.testing.assert_allclose(selector.log_likelihood(X, y, exposure=EXPOSURE),
                               best.log_likelihood(X, y, exposure=EXPOSURE))
    # in a pipeline, with routing, scored by the log-likelihood of the counts
    with sklearn.config_context(enable_metadata_routing=True):
        ic = MixtureOfExpertsIC(_model(), param_grid={"n_experts": [1, 2]}).set_fit_request(exposure=True)
        pipe = _fit(make_pipeline(StandardScaler(), ic), X, y, exposure=EXPOSURE)
    expected = _poisson_mixture_loglik(pipe[-1].best_estimator_, pipe[0].transform(X), y, EXPOSURE).mean()
    assert make_log_likelihood_scorer()(pipe, X, y, exposure=EXPOSURE) == pytest.approx(expected, rel=1e-10)
    with pytest.raises(ValueError, match="No setting of param_grid could be fitted: exposure is only accepted"):
        MixtureOfExpertsIC(MixtureOfExpertsRegressor(), param_grid={"n_experts": [1]}).fit(X, y, exposure=EXPOSURE)
    Xc, yc = X, (y > np.median(y)).astype(int)
    with pytest.raises(ValueError, match="not classifiers"):
        MixtureOfExpertsIC(MixtureOfExpertsClassifier(), param_grid={"n_experts": [1]}).fit(
            Xc, yc, exposure=EXPOSURE)
