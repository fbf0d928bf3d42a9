"""A user's own expert family (:class:`mixexp.experts.ExpertFamily`) through the public API.

The family here is Laplace experts with a linear location, ``y ~ Laplace(x b_k +
c_k, s_k)``, written as a user would in a few lines: its ``m_step`` takes a few
iteratively reweighted least-squares steps for the locations (each a
majorise-minimise step of the weighted absolute error) and then the exact
scales, so it never decreases the weighted log-likelihood.  Data come from a known
2-expert Laplace mixture; a one-expert fit is compared with a direct weighted
maximum-likelihood fit by scipy.optimize.
"""

import copy
import pickle
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import minimize
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

from mixexp import (
    ExpertFamilyWarning,
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsRegressor,
)
from mixexp._sklearn_checks import expected_failed_checks
from mixexp.experts import ExpertFamily, check_summable
from mixexp.experts.family import UserFamilyExperts

DOC = Path(__file__).resolve().parents[1] / "docs" / "user_family.md"


def _ones(X):
    return np.column_stack([X, np.ones(X.shape[0])])


class Laplace(ExpertFamily):
    """y ~ Laplace(x b_k + c_k, s_k): IRLS (majorise-minimise) steps, then the exact scales."""

    def init_params(self, X, y, weights):
        zero = {"coef": np.zeros((weights.shape[1], X.shape[1] + 1)), "scale": np.ones(weights.shape[1])}
        return self.m_step(X, y, weights, zero)

    def log_density(self, X, y, params):
        r = np.abs(y[:, None] - _ones(X) @ params["coef"].T)
        return -np.log(2 * params["scale"]) - r / params["scale"]

    def m_step(self, X, y, weights, params):
        A, coef = _ones(X), params["coef"]
        r = np.abs(y[:, None] - A @ coef.T)
        for _ in range(5):  # each step kept only where it lowers the weighted absolute error
            u = weights / np.maximum(r, 1e-10)
            new = np.stack([np.linalg.lstsq(A.T @ (uk[:, None] * A), A.T @ (uk * y), rcond=None)[0] for uk in u.T])
            r_new = np.abs(y[:, None] - A @ new.T)
            better = (weights * r_new).sum(0) <= (weights * r).sum(0)
            coef, r = np.where(better[:, None], new, coef), np.where(better, r_new, r)
        scale = np.maximum((weights * r).sum(0) / np.maximum(weights.sum(0), 1e-300), 1e-10)
        return {"coef": coef, "scale": scale}

    def predict_mean(self, X, params):
        return _ones(X) @ params["coef"].T

    def n_free_params(self, params):
        return params["coef"].size + params["scale"].size


class LaplaceWithVariance(Laplace):
    """The same family with the optional predict_variance and sample."""

    def predict_variance(self, X, params):
        return np.broadcast_to(2 * params["scale"] ** 2, (X.shape[0], params["scale"].shape[0]))

    def sample(self, X, params, rng):
        return rng.laplace(self.predict_mean(X, params), params["scale"])


class BadLaplace(Laplace):
    """An m_step that breaks the contract: it triples the scales it found."""

    def m_step(self, X, y, weights, params):
        new = super().m_step(X, y, weights, params)
        return {**new, "scale": 3.0 * new["scale"]}


# -- data from a known 2-expert Laplace mixture --------------------------------------
TRUE_COEF = np.array([[-1.0, -1.0], [2.0, 1.0]])  # (slope, intercept) per expert
TRUE_SCALE = np.array([1.0, 0.5])


def laplace_moe(n, seed, x_scale=1.0, x_shift=0.0):
    """``x ~ U(-3, 3)`` (then ``x * x_scale + x_shift``); expert 1 with probability
    ``sigmoid(2 x)``; ``y = slope x + intercept + Laplace(0, scale)`` of the expert."""
    rs = np.random.RandomState(seed)
    x = rs.uniform(-3, 3, n)
    second = rs.uniform(size=n) < 1 / (1 + np.exp(-2 * x))
    k = second.astype(int)
    y = TRUE_COEF[k, 0] * x + TRUE_COEF[k, 1] + rs.laplace(0.0, TRUE_SCALE[k])
    return (x * x_scale + x_shift)[:, None], y


def _sorted(params):
    """The experts in the order of their slopes (the labels of a fit are arbitrary)."""
    order = np.argsort(params["coef"][:, 0])
    return params["coef"][order], params["scale"][order]


def _monotone(bounds):
    assert np.all(np.diff(bounds) >= -1e-10 * np.abs(bounds[:-1]).max())


@pytest.fixture(scope="module")
def data():
    return laplace_moe(3000, seed=0)


@pytest.fixture(scope="module")
def flat(data):
    X, y = data
    return MixtureOfExpertsRegressor(2, expert=Laplace(), random_state=0).fit(X, y)


# -- fitting ------------------------------------------------------------------------------
def test_flat_recovers_the_laplace_mixture(flat):
    coef, scale = _sorted(flat.experts_params_)
    np.testing.assert_allclose(coef, TRUE_COEF, atol=0.1)
    np.testing.assert_allclose(scale, TRUE_SCALE, rtol=0.1)
    _monotone(flat.lower_bounds_)
    # the gate's logit difference is 2 x
    assert np.ptp(flat.gate_coef_[:, 0]) == pytest.approx(2.0, rel=0.2)


def test_family_sees_the_users_columns():
    """Features far from standard (x * 1000 + 5000): the fitted coefficients are in the
    units of x as given, as the family computed them on its own columns."""
    X, y = laplace_moe(3000, seed=0, x_scale=1000.0, x_shift=5000.0)
    model = MixtureOfExpertsRegressor(2, expert=Laplace(), random_state=0).fit(X, y)
    coef, scale = _sorted(model.experts_params_)
    np.testing.assert_allclose(coef[:, 0] * 1000.0, TRUE_COEF[:, 0], atol=0.1)
    np.testing.assert_allclose(coef[:, 1] + 5.0 * coef[:, 0] * 1000.0, TRUE_COEF[:, 1], atol=0.1)
    np.testing.assert_allclose(scale, TRUE_SCALE, rtol=0.1)


def test_expert_features_select_the_familys_columns(data):
    X, y = data
    rs = np.random.RandomState(1)
    X2 = np.column_stack([rs.normal(size=X.shape[0]), X])  # noise, then x
    model = MixtureOfExpertsRegressor(2, expert=Laplace(), expert_features=[1], random_state=0).fit(X2, y)
    assert model.experts_params_["coef"].shape == (2, 2)  # one column and the intercept
    coef, _ = _sorted(model.experts_params_)
    np.testing.assert_allclose(coef, TRUE_COEF, atol=0.1)


def test_hme_fits_monotone(data, flat):
    X, y = data
    model = HierarchicalMixtureOfExpertsRegressor(depth=2, branching=2, expert=Laplace(), random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    _monotone(model.lower_bounds_)
    assert model.experts_params_["coef"].shape == (4, 2)
    assert model.lower_bound_ >= flat.lower_bound_ - 0.01


def test_gaussian_gate_and_top_k(data):
    X, y = data
    model = MixtureOfExpertsRegressor(2, gate="gaussian", expert=Laplace(), random_state=0).fit(X, y)
    _monotone(model.lower_bounds_)
    coef, scale = _sorted(model.experts_params_)
    np.testing.assert_allclose(coef, TRUE_COEF, atol=0.15)
    routed = model.set_params(top_k=1).predict(X[:50])
    experts = model.predict_experts(X[:50])
    best = np.argmax(model.predict_gate(X[:50]), axis=1)
    np.testing.assert_allclose(routed, experts[np.arange(50), best], rtol=1e-12)


def test_one_expert_is_the_weighted_mle():
    """One expert: EM's fit is the weighted maximum-likelihood Laplace regression, which
    scipy.optimize finds directly (Nelder-Mead on (slope, intercept, log scale))."""
    X, y = laplace_moe(500, seed=3)
    w = np.random.RandomState(4).uniform(0.2, 2.0, y.shape[0])
    model = MixtureOfExpertsRegressor(1, expert=Laplace(), tol=1e-12, max_iter=1000).fit(X, y, sample_weight=w)
    fitted = float(w @ model.log_likelihood(X, y))

    def nll(theta):
        slope, intercept, log_s = theta
        return -float(w @ (-np.log(2) - log_s - np.abs(y - slope * X[:, 0] - intercept) / np.exp(log_s)))

    start = np.append(np.polyfit(X[:, 0], y, 1), 0.0)
    best = minimize(nll, start, method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000})
    assert abs(fitted - (-best.fun)) < 1e-4, (fitted, -best.fun)
    np.testing.assert_allclose(model.experts_params_["coef"][0], best.x[:2], atol=1e-3)


# -- contract: the monotonicity check ------------------------------------------------------
def test_bad_m_step_warns_once_and_em_stays_monotone(data):
    X, y = data
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = MixtureOfExpertsRegressor(2, expert=BadLaplace(), n_init=2, random_state=0).fit(X, y)
    ours = [w for w in caught if issubclass(w.category, ExpertFamilyWarning)]
    assert len(ours) == 1
    assert "BadLaplace.m_step" in str(ours[0].message)
    _monotone(model.lower_bounds_)
    # a good family gives no such warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExpertFamilyWarning)
        MixtureOfExpertsRegressor(2, expert=Laplace(), random_state=0).fit(X[:500], y[:500])


def test_inactive_experts_keep_their_parameters():
    """The update of an expert whose flag is off keeps its per-expert entries."""
    X, y = laplace_moe(200, seed=5)
    comp = UserFamilyExperts(Laplace(), 2)

    class Coords:
        mean, scale = np.zeros(1), np.ones(1)

    comp.set_coordinates(Coords)
    Xa = _ones(X)
    W = np.column_stack([np.ones(200), np.zeros(200)])
    old = {"coef": np.array([[0.0, 0.0], [7.0, 7.0]]), "scale": np.array([1.0, 3.0])}
    logdens = comp.scores(Xa, y, {"family": old})[0]
    new = comp.update({"rows": [(Xa, y, W, logdens)]}, {"family": old}, np.array([True, False]))[0]["family"]
    np.testing.assert_array_equal(new["coef"][1], old["coef"][1])
    assert new["scale"][1] == 3.0
    assert not np.array_equal(new["coef"][0], old["coef"][0])


# -- predictions --------------------------------------------------------------------------------
def test_predict_is_the_gates_mixture_of_the_means(data, flat):
    X, y = data
    mean = flat.predict(X[:50])
    gates = flat.predict_gate(X[:50])
    experts = flat.predict_experts(X[:50])
    np.testing.assert_allclose(mean, np.sum(gates * experts, axis=1), rtol=1e-12)
    np.testing.assert_allclose(experts, Laplace().predict_mean(X[:50], flat.experts_params_), rtol=1e-12)


def test_return_std_needs_predict_variance(data, flat):
    X, y = data
    with pytest.raises(NotImplementedError, match="predict_variance"):
        flat.predict(X[:5], return_std=True)
    with pytest.raises(NotImplementedError, match=r"Laplace\.sample"):
        flat.sample_y(X[:5])
    model = MixtureOfExpertsRegressor(2, expert=LaplaceWithVariance(), random_state=0).fit(X, y)
    mean, std = model.predict(X[:50], return_std=True)
    gates, mu = model.predict_gate(X[:50]), model.predict_experts(X[:50])
    var = 2 * model.experts_params_["scale"] ** 2
    expected = np.sqrt(np.sum(gates * (var + (mu - mean[:, None]) ** 2), axis=1))
    np.testing.assert_allclose(std, expected, rtol=1e-10)
    draws = model.sample_y(X[:3], n_samples=4000, random_state=0)
    assert draws.shape == (3, 4000)
    np.testing.assert_allclose(draws.mean(axis=1), mean[:3], atol=0.15)


# -- scikit-learn: pipeline, grid search, clone, pickle, set_params, checks -------------------------
def test_pipeline_gridsearch_clone_pickle(data):
    X, y = data
    X, y = X[:600], y[:600]
    family = Laplace()
    pipe = make_pipeline(StandardScaler(), MixtureOfExpertsRegressor(expert=family, random_state=0))
    search = GridSearchCV(pipe, {"mixtureofexpertsregressor__n_experts": [1, 2]}, cv=3).fit(X, y)
    assert search.best_params_ == {"mixtureofexpertsregressor__n_experts": 2}
    best = search.best_estimator_
    assert best[-1].expert is not family  # a clone: a copy of the family, as scikit-learn makes
    again = pickle.loads(pickle.dumps(best))
    np.testing.assert_array_equal(again.predict(X), best.predict(X))
    model = MixtureOfExpertsRegressor(2, expert=family, random_state=0)
    assert type(clone(model).expert) is Laplace
    assert repr(model) == "MixtureOfExpertsRegressor(expert=Laplace(), n_experts=2, random_state=0)"
    # set_params after fit: the fitted model keeps its own copy of the family
    model.fit(X, y)
    before = model.predict(X)
    model.set_params(expert=BadLaplace(), n_experts=3)
    np.testing.assert_array_equal(model.predict(X), before)


def test_check_estimator():
    model = MixtureOfExpertsRegressor(2, expert=LaplaceWithVariance(), max_iter=30, init_params="kmeans")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check_estimator(model, expected_failed_checks=expected_failed_checks(model))


# -- several targets, sparse input -----------------------------------------------------------------
class GaussianBlobs(ExpertFamily):
    """Several targets: y ~ N(m_k, diag(v_k)), the same for every x (an exact M-step)."""

    multi_output = True
    accepts_sparse = True

    def init_params(self, X, y, weights):
        return self.m_step(X, y, weights, {})

    def log_density(self, X, y, params):
        m, v = params["mean"], params["var"]  # (K, T)
        return -0.5 * np.sum(np.log(2 * np.pi * v) + (y[:, None, :] - m) ** 2 / v, axis=2)

    def m_step(self, X, y, weights, params):
        total = np.maximum(weights.sum(0), 1e-300)[:, None]
        mean = weights.T @ y / total
        var = np.maximum(weights.T @ y**2 / total - mean**2, 1e-9)
        return {"mean": mean, "var": var}

    def predict_mean(self, X, params):
        return np.broadcast_to(params["mean"], (X.shape[0],) + params["mean"].shape)

    def predict_variance(self, X, params):
        return np.broadcast_to(params["var"], (X.shape[0],) + params["var"].shape)

    def n_free_params(self, params):
        return params["mean"].size + params["var"].size


def test_several_targets_and_sparse_input():
    import scipy.sparse as sp

    rs = np.random.RandomState(0)
    X = rs.normal(size=(600, 2))
    centres = np.array([[0.0, 5.0], [5.0, 0.0]])
    k = (X[:, 0] > 0).astype(int)
    Y = centres[k] + 0.3 * rs.normal(size=(600, 2))
    model = MixtureOfExpertsRegressor(2, expert=GaussianBlobs(), random_state=0).fit(X, Y)
    _monotone(model.lower_bounds_)
    np.testing.assert_allclose(model.experts_params_["mean"][np.argsort(model.experts_params_["mean"][:, 0])],
                               centres, atol=0.1)
    mean, std = model.predict(X[:5], return_std=True)
    assert mean.shape == std.shape == (5, 2)
    assert model.predict_experts(X[:5]).shape == (5, 2, 2)
    sparse = MixtureOfExpertsRegressor(2, expert=GaussianBlobs(), random_state=0).fit(sp.csr_matrix(X), Y)
    np.testing.assert_allclose(sparse.predict(sp.csr_matrix(X[:5])), sparse.predict(X[:5]))


def test_users_columns_from_the_design():
    """The component turns the internal design back into the columns as given (sparse:
    a CSR matrix of them), up to rounding."""
    import scipy.sparse as sp

    from mixexp._design import Coordinates, design_matrix, weighted_location_scale

    rs = np.random.RandomState(0)
    X = rs.normal(size=(50, 3)) * [1.0, 1e3, 1e-3] + [0.0, 1e4, -5.0]
    comp = UserFamilyExperts(GaussianBlobs(), 2)
    mean, scale = weighted_location_scale(X, np.ones(50))
    comp.set_coordinates(Coordinates(mean, scale, np.array([1, 2])))
    Xa = design_matrix(X, mean, scale)[:, [1, 2, 3]]
    np.testing.assert_allclose(comp._user_X(Xa), X[:, 1:], rtol=1e-14)
    S = sp.csr_matrix(np.where(rs.uniform(size=X.shape) < 0.5, X, 0.0))
    mean, scale = weighted_location_scale(S, np.ones(50), center=False)
    comp.set_coordinates(Coordinates(mean, scale))
    back = comp._user_X(design_matrix(S, mean, scale))
    assert sp.isspmatrix_csr(back) or isinstance(back, sp.csr_array)
    np.testing.assert_allclose(back.toarray(), S.toarray(), rtol=1e-14)


# -- what user families do not do ------------------------------------------------------------------
def test_refusals(data):
    X, y = data
    with pytest.raises(ValueError, match="regression targets"):
        MixtureOfExpertsClassifier(2, expert=Laplace()).fit(X, y > 0)
    with pytest.raises(ValueError, match="l1_ratio"):
        MixtureOfExpertsRegressor(2, expert=Laplace(), l1_ratio=0.5).fit(X, y)
    model = MixtureOfExpertsRegressor(2, expert=Laplace())
    assert not hasattr(model, "partial_fit")
    with pytest.raises(ValueError, match="a dask fit cannot serve it"):
        check_summable("regression", Laplace(), "a dask fit")
    with pytest.raises(ValueError, match="1d array"):  # multi_output = False
        model.fit(X, np.column_stack([y, y]))
    with pytest.raises(TypeError, match="n_free_params"):
        type("Incomplete", (ExpertFamily,), {})()

    class WrongShape(Laplace):
        def log_density(self, X, y, params):
            return super().log_density(X, y, params)[:, 0]

    with pytest.raises(ValueError, match=r"WrongShape\.log_density returned an array of shape"):
        MixtureOfExpertsRegressor(2, expert=WrongShape()).fit(X, y)


# -- the docs page -------------------------------------------------------------------------------------
def test_docs_page_runs():
    blocks = re.findall(r"^```python\n(.*?)^```", DOC.read_text(encoding="utf-8"), flags=re.S | re.M)
    assert blocks
    namespace = {"__name__": "__user_family_doc__"}
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExpertFamilyWarning)
        for block in blocks:
            exec(compile(block, str(DOC), "exec"), namespace)


# -- a user's family on censored and truncated rows ---------------------------------------


class CensoredGaussian(ExpertFamily):
    """y ~ N(x b_k + c_k, exp(log_sd_k)^2), with its distribution functions: censored and
    truncated rows then fit (every float entry of params is free: a log scale)."""

    def init_params(self, X, y, weights):
        zero = {"coef": np.zeros((weights.shape[1], X.shape[1] + 1)), "log_sd": np.zeros(weights.shape[1])}
        return self.m_step(X, y, weights, zero)

    def _z(self, X, y, params):
        return (y[:, None] - _ones(X) @ params["coef"].T) / np.exp(params["log_sd"])

    def log_density(self, X, y, params):
        from scipy.stats import norm

        return norm.logpdf(self._z(X, y, params)) - params["log_sd"]

    def m_step(self, X, y, weights, params):
        A = _ones(X)
        root = np.sqrt(weights)
        coef = np.stack([np.linalg.lstsq(A * r[:, None], y * r, rcond=None)[0] for r in root.T])
        r2 = (y[:, None] - A @ coef.T) ** 2
        var = (weights * r2).sum(0) / np.maximum(weights.sum(0), 1e-300)
        return {"coef": coef, "log_sd": 0.5 * np.log(np.maximum(var, 1e-12))}

    def predict_mean(self, X, params):
        return _ones(X) @ params["coef"].T

    def n_free_params(self, params):
        return params["coef"].size + params["log_sd"].size

    def log_cdf(self, X, y, params):
        from scipy.stats import norm

        return norm.logcdf(self._z(X, y, params))

    def log_sf(self, X, y, params):
        from scipy.stats import norm

        return norm.logsf(self._z(X, y, params))


def _censored_rows(n=300, seed=0, limit=2.5):
    rs = np.random.RandomState(seed)
    X = rs.normal(size=(n, 2))
    y_true = X @ [1.0, -0.5] + 2.0 + rs.normal(size=n)
    y = np.minimum(y_true, limit)
    return X, y, np.where(y_true > limit, np.inf, y)


def test_a_user_family_with_distribution_functions_takes_censored_rows():
    from scipy import stats

    X, y, y_upper = _censored_rows()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MixtureOfExpertsRegressor(1, expert=CensoredGaussian(), gate_alpha=0.0, tol=1e-12,
                                          random_state=0)
        model.fit(X, y, y_upper=y_upper)
    cens = np.isinf(y_upper)

    def nll(theta):
        mu, s = X @ theta[:2] + theta[2], np.exp(theta[3])
        exact = stats.norm.logpdf(y[~cens], mu[~cens], s).sum()
        return -(exact + stats.norm.logsf(y[cens], mu[cens], s).sum())

    best = minimize(nll, np.zeros(4), method="BFGS", options={"gtol": 1e-9})
    p = model.experts_params_
    np.testing.assert_allclose(p["coef"][0], best.x[[0, 1, 2]], atol=1e-4)
    np.testing.assert_allclose(p["log_sd"][0], best.x[3], atol=1e-4)
    assert model.log_likelihood(X, y, y_upper=y_upper).sum() == pytest.approx(-best.fun, abs=1e-6)
    assert np.diff(model.lower_bounds_).min() >= -1e-10 * abs(model.lower_bound_)


def test_a_user_family_fits_censored_and_truncated_rows_monotonically():
    rs = np.random.RandomState(1)
    X = rs.normal(size=(400, 1))
    z = rs.uniform(size=400) < 1.0 / (1.0 + np.exp(-2.0 * X[:, 0]))
    y_true = np.where(z, 1.5 * X[:, 0], -1.5 * X[:, 0]) + 0.5 * rs.normal(size=400)
    follow_up = rs.uniform(0.5, 4.0, size=400)  # right-censored at random times
    keep = y_true > -2.0  # and observed only above -2
    X, y_true, follow_up = X[keep], y_true[keep], follow_up[keep]
    y = np.minimum(y_true, follow_up)
    y_upper = np.where(y_true > follow_up, np.inf, y)
    kw = dict(y_upper=y_upper, truncation=(-2.0, np.inf))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        user = MixtureOfExpertsRegressor(2, expert=CensoredGaussian(), random_state=0, max_iter=30)
        user.fit(X, y, **kw)
        builtin = MixtureOfExpertsRegressor(2, random_state=0, max_iter=30, alpha=0.0).fit(X, y, **kw)
    assert np.diff(user.lower_bounds_).min() >= -1e-10 * abs(user.lower_bound_)
    # the same model as the built-in linear experts: the same fit, to EM's tolerance
    ll = user.log_likelihood(X, y, **kw).sum()
    assert ll == pytest.approx(builtin.log_likelihood(X, y, **kw).sum(), abs=1e-4)
    np.testing.assert_allclose(user.experts_params_["coef"][:, 0], builtin.expert_coef_[:, 0, 0], atol=1e-3)
    log_sd = np.log(builtin.noise_variance_[:, 0]) / 2
    np.testing.assert_allclose(user.experts_params_["log_sd"], log_sd, atol=1e-3)
    # a family without distribution functions refuses censored rows, and the model is unchanged
    before = copy.deepcopy(user.experts_params_)
    with pytest.raises(ValueError, match="ExpertFamily with log_cdf and log_sf"):
        MixtureOfExpertsRegressor(2, expert=Laplace()).fit(X, y, y_upper=y_upper)
    with pytest.raises(ValueError, match="y_upper should be >= y"):
        user.fit(X, y, y_upper=y - 1.0)
    np.testing.assert_array_equal(user.experts_params_["coef"], before["coef"])
