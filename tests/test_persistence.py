"""Safe persistence with skops.io (docs/deploy.md): every estimator kind round-trips, and
the only types a skops file asks the loader to trust are mixexp's own (expert estimators
add what skops asks for them alone, a user's own expert family its own class)."""

import warnings

import numpy as np
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.tree import DecisionTreeRegressor

from mixexp import (
    HierarchicalMixtureOfExpertsClassifier,
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsIC,
    MixtureOfExpertsRegressor,
)
from mixexp.datasets import make_moe_classification, make_moe_family, make_moe_regression
from mixexp.experts import EXPERTS, ExpertFamily
from mixexp.gates import GATES

sio = pytest.importorskip("skops.io")


class NormalExperts(ExpertFamily):
    """A user's family: y ~ N(x b_k + c_k, s_k^2) by weighted least squares."""

    def init_params(self, X, y, weights):
        return self.m_step(X, y, weights, None)

    def log_density(self, X, y, params):
        r = y[:, None] - np.column_stack([X, np.ones(len(X))]) @ params["coef"].T
        return -0.5 * np.log(2 * np.pi * params["var"]) - r**2 / (2 * params["var"])

    def m_step(self, X, y, weights, params):
        A = np.column_stack([X, np.ones(len(X))])
        coef = np.stack([
            np.linalg.lstsq(A * np.sqrt(w)[:, None], y * np.sqrt(w), rcond=None)[0] for w in weights.T
        ])
        r = y[:, None] - A @ coef.T
        var = np.maximum((weights * r**2).sum(0) / weights.sum(0), 1e-6)
        return {"coef": coef, "var": var}

    def predict_mean(self, X, params):
        return np.column_stack([X, np.ones(len(X))]) @ params["coef"].T

    def n_free_params(self, params):
        return params["coef"].size + params["var"].size


def _regression():
    return make_moe_regression(n_samples=240, n_features=3, n_experts=2, random_state=0)


def _family_data(family):
    X, y = make_moe_family(family, n_samples=240, n_features=2, n_experts=2, random_state=0)
    return X, y


CASES = {
    **{f"gate={g}": (lambda g=g: MixtureOfExpertsRegressor(2, gate=g), _regression) for g in GATES},
    **{
        f"expert={e}": (lambda e=e: MixtureOfExpertsRegressor(2, expert=e), lambda e=e: _family_data(e))
        for e in EXPERTS["regression"] if e != "linear"
    },
    "hme-regressor": (lambda: HierarchicalMixtureOfExpertsRegressor(2, 2), _regression),
    "classifier": (
        lambda: MixtureOfExpertsClassifier(2),
        lambda: make_moe_classification(
            n_samples=240, n_features=3, n_experts=2, n_classes=3, random_state=0
        ),
    ),
    "hme-classifier-gaussian-gate": (
        lambda: HierarchicalMixtureOfExpertsClassifier(2, 2, gate="gaussian"),
        lambda: make_moe_classification(n_samples=240, n_features=3, n_experts=2, random_state=1),
    ),
    "estimator-experts": (
        lambda: MixtureOfExpertsRegressor(2, expert=DecisionTreeRegressor(max_depth=2, random_state=0)),
        _regression,
    ),
    "information-criterion": (
        lambda: MixtureOfExpertsIC(MixtureOfExpertsRegressor(max_iter=5), param_grid={"n_experts": [1, 2]}),
        _regression,
    ),
}


def _fit(make, data):
    X, y = data()
    model = make()
    if "max_iter" in model.get_params():
        model.set_params(max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y), X


def _predictions(model, X):
    out = [model.predict(X)]
    if hasattr(model, "predict_proba"):
        out.append(model.predict_proba(X))
    return out


def _estimator_experts_own(model, X):
    """What skops asks to trust for the expert estimators alone, fitted on their own (a
    fitted ``DecisionTreeRegressor`` holds ``sklearn.tree._tree.Tree``): [] for the
    built-in families."""
    expert = model.get_params().get("expert")
    if not isinstance(expert, BaseEstimator):
        return []
    alone = clone(expert).fit(X, model.predict(X))
    return sio.get_untrusted_types(data=sio.dumps(alone))


@pytest.mark.parametrize("case", list(CASES))
def test_skops_round_trip_trusts_only_mixexp_types(case, tmp_path):
    model, X = _fit(*CASES[case])
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    untrusted = sio.get_untrusted_types(file=path)
    assert untrusted, "mixexp's own types are not on skops' default trusted list"
    foreign = [name for name in untrusted if not name.startswith("mixexp.")]
    assert foreign == _estimator_experts_own(model, X), untrusted
    with pytest.raises(sio.exceptions.UntrustedTypesFoundException):
        sio.load(path)
    loaded = sio.load(path, trusted=untrusted)
    assert type(loaded) is type(model)
    for before, after in zip(_predictions(model, X), _predictions(loaded, X)):
        np.testing.assert_array_equal(before, after)


def test_skops_user_family_is_the_one_foreign_untrusted_type():
    X, y = _regression()
    model = MixtureOfExpertsRegressor(2, expert=NormalExperts(), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    data = sio.dumps(model)
    untrusted = sio.get_untrusted_types(data=data)
    foreign = [name for name in untrusted if not name.startswith("mixexp.")]
    assert foreign == [f"{__name__}.NormalExperts"]
    loaded = sio.loads(data, trusted=untrusted)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))

