"""The component contract battery: every registered gate and expert family, the same checks.

The cases come from the registries (:data:`mixexp.gates.GATES`,
:data:`mixexp.experts.EXPERTS`), as scikit-learn's loss tests run every loss: a
new gate or family is checked here by registering it.  Each case is fitted
through the public estimators, flat and as a tree, and checked for (scikit-learn
estimators as experts too: a network, a tree and gradient boosting):

- the declared contract: every flag the engine reads has a value of its kind;
- monotone EM (``lower_bounds_`` never decrease) for exact components;
- invariance to the chunking of the rows (the engine sums chunks in order);
- pickling, ``clone`` and ``set_params`` after ``fit`` (predictions unchanged);
- a clear ``ValueError`` for a combination the components refuse (a gate that
  uses the experts' representations with a family that gives none).

The one-iteration plain-numpy references of every family are in
tests/test_families.py and tests/test_em.py, whose family lists are the registry's.
"""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from mixexp import (
    HierarchicalMixtureOfExpertsClassifier,
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsRegressor,
)
from mixexp._design import Design
from mixexp._fitted import FittedMixture
from mixexp.datasets import make_moe_classification, make_moe_family, make_moe_regression
from mixexp.experts import EXPERTS, ExpertComponent, ExpertFamily
from mixexp.experts.estimator import EstimatorExperts
from mixexp.experts.family import UserFamilyExperts
from mixexp.gates import GATES, Gate

ESTIMATORS = {
    ("regression", "flat"): lambda **kw: MixtureOfExpertsRegressor(2, **kw),
    ("regression", "tree"): lambda **kw: HierarchicalMixtureOfExpertsRegressor(2, 2, **kw),
    ("classification", "flat"): lambda **kw: MixtureOfExpertsClassifier(2, **kw),
    ("classification", "tree"): lambda **kw: HierarchicalMixtureOfExpertsClassifier(2, 2, **kw),
}

class NormalExperts(ExpertFamily):
    """A user's family as a user writes it: y ~ N(x b_k + c_k, s_k^2), exact weighted
    least squares.  (tests/test_user_family.py has Laplace experts, whose IRLS M-step
    amplifies rounding too much for the chunking check.)"""

    def init_params(self, X, y, weights):
        return self.m_step(X, y, weights, None)

    def log_density(self, X, y, params):
        r = y[:, None] - np.column_stack([X, np.ones(len(X))]) @ params["coef"].T
        return -0.5 * np.log(2 * np.pi * params["var"]) - r**2 / (2 * params["var"])

    def m_step(self, X, y, weights, params):
        A = np.column_stack([X, np.ones(len(X))])
        coef = np.stack([np.linalg.solve(A.T @ (w[:, None] * A), A.T @ (w * y)) for w in weights.T])
        var = np.sum(weights * (y[:, None] - A @ coef.T) ** 2, axis=0) / weights.sum(axis=0)
        return {"coef": coef, "var": np.maximum(var, 1e-12)}

    def predict_mean(self, X, params):
        return np.column_stack([X, np.ones(len(X))]) @ params["coef"].T

    def n_free_params(self, params):
        return params["coef"].size + params["var"].size


# a user's own family runs the battery too
USER_FAMILIES = {"user-normal": NormalExperts}
# and scikit-learn estimators as experts: a network, a tree, boosting (small, for time)
ESTIMATOR_EXPERTS = {
    ("regression", "mlp"): MLPRegressor(hidden_layer_sizes=(8,), max_iter=20),
    ("regression", "tree"): DecisionTreeRegressor(max_depth=3),
    ("regression", "gbm"): GradientBoostingRegressor(n_estimators=10, max_depth=2),
    ("classification", "mlp"): MLPClassifier(hidden_layer_sizes=(8,), max_iter=20),
    ("classification", "tree"): DecisionTreeClassifier(max_depth=3),
    ("classification", "gbm"): GradientBoostingClassifier(n_estimators=10, max_depth=2),
}
FAMILIES = {
    **{(task, name): cls for task in EXPERTS for name, cls in EXPERTS[task].items()},
    **{("regression", name): UserFamilyExperts for name in USER_FAMILIES},
    **{case: EstimatorExperts for case in ESTIMATOR_EXPERTS},
}
CASES = [
    (task, family, gate, shape)
    for task, family in FAMILIES
    for gate in GATES
    # estimator experts: flat only, for time (their refits are the same in a tree)
    for shape in (("flat",) if (task, family) in ESTIMATOR_EXPERTS else ("flat", "tree"))
]
# a tree's splits turn the last-bit differences of posteriors computed chunk by chunk into
# different fits: the chunking check holds for smooth experts only
CHUNKING_CASES = [c for c in CASES if c[:2] not in ESTIMATOR_EXPERTS or c[1] == "mlp"]


def _ids(case):
    return "-".join(case)


def _data(task, family, n=240, seed=0):
    if task == "classification":
        return make_moe_classification(n, 3, 2, n_classes=3, random_state=seed)
    if family == "linear" or family in USER_FAMILIES or (task, family) in ESTIMATOR_EXPERTS:
        return make_moe_regression(n, 3, 2, random_state=seed)
    return make_moe_family(family, n, n_features=3, n_experts=2, random_state=seed)


def _refused(family_cls, gate_cls):
    return gate_cls.uses_experts and not family_cls.gives_representation


def _model(case, **kw):
    task, family, gate, shape = case
    if (task, family) in ESTIMATOR_EXPERTS:
        expert = clone(ESTIMATOR_EXPERTS[task, family])
        # for time: one start, a few iterations
        kw = {**kw, "init_params": "kmeans", "max_iter": min(kw.get("max_iter", 100), 8)}
    else:
        expert = USER_FAMILIES[family]() if family in USER_FAMILIES else family
    return ESTIMATORS[task, shape](gate=gate, expert=expert, random_state=0, **kw)


def _fit(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


def _predictions(model, X):
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)
    return model.predict(X)


def _supported(case):
    task, family, gate, _ = case
    if _refused(FAMILIES[task, family], GATES[gate]):
        pytest.skip("refused combination: tested by test_refused_combinations_raise")


# -- the declared contract -----------------------------------------------------
@pytest.mark.parametrize("name", sorted(GATES))
def test_gate_declares_the_contract(name):
    cls = GATES[name]
    assert issubclass(cls, Gate) and cls.name == name
    for flag in ("exact", "closed_form", "models_x", "uses_experts", "accepts_sparse",
                 "needs_features", "takes_usage_penalties"):
        assert isinstance(getattr(cls, flag), bool), flag
    assert not getattr(cls, "__abstractmethods__", None)


@pytest.mark.parametrize("task, name", [(t, n) for t in EXPERTS for n in EXPERTS[t]])
def test_family_declares_the_contract(task, name):
    cls = EXPERTS[task][name]
    assert issubclass(cls, ExpertComponent) and cls.name == name
    for flag in ("exact", "closed_form", "needs_all_rows", "incremental", "uses_exposure",
                 "multi_output", "positive_only", "per_leaf", "gives_representation", "supports_l1"):
        assert isinstance(getattr(cls, flag), bool), flag
    assert cls.mixture_outputs <= cls.products_outputs
    assert not getattr(cls, "__abstractmethods__", None)


@pytest.mark.parametrize("case", [c for c in CASES if c[3] == "flat"], ids=_ids)
def test_refused_combinations_raise(case):
    task, family, gate, _ = case
    X, y = _data(task, family)
    model = _model(case, max_iter=3)
    if not _refused(FAMILIES[task, family], GATES[gate]):
        _fit(model, X, y)
        return
    with pytest.raises(ValueError, match="representations"):
        model.fit(X, y)
    assert not hasattr(model, "n_iter_")


# -- EM ------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_lower_bounds_never_decrease(case):
    _supported(case)
    task, family, gate, _ = case
    X, y = _data(task, family)
    model = _fit(_model(case, max_iter=40, tol=0.0), X, y)
    bounds = model.lower_bounds_
    assert np.all(np.isfinite(bounds))
    if GATES[gate].exact and FAMILIES[task, family].exact:
        assert np.all(np.diff(bounds) >= -1e-9 * max(1.0, np.abs(bounds).max())), np.diff(bounds).min()


@pytest.mark.parametrize("case", CHUNKING_CASES, ids=_ids)
def test_fit_does_not_depend_on_the_chunking(case, monkeypatch):
    _supported(case)
    task, family, gate, _ = case
    X, y = _data(task, family, n=300)
    whole = _fit(_model(case, max_iter=5, tol=0.0), X, y)

    def small_chunks(self, Xa, target, sw, starts=None):
        assert starts is None  # ungrouped rows here (grouped ones: tests/test_groups.py)
        return Design(Xa, target, sw, chunk_rows=37, gate_columns=self.gate_columns,
                      expert_columns=self.expert_columns)

    monkeypatch.setattr(FittedMixture, "design", small_chunks)
    chunked = _fit(_model(case, max_iter=5, tol=0.0), X, y)
    # tol=0: a fit at its optimum within rounding may stop an iteration earlier or later
    n = min(len(chunked.lower_bounds_), len(whole.lower_bounds_))
    np.testing.assert_allclose(chunked.lower_bounds_[:n], whole.lower_bounds_[:n], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(chunked.lower_bound_, whole.lower_bound_, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(_predictions(chunked, X), _predictions(whole, X), rtol=1e-6, atol=1e-8)


# -- the fitted model ------------------------------------------------------------
@pytest.mark.parametrize("case", [c for c in CASES if c[3] == "flat"], ids=_ids)
def test_pickle_clone_and_set_params_after_fit(case):
    _supported(case)
    task, family, gate, _ = case
    X, y = _data(task, family)
    model = _fit(_model(case, max_iter=20), X, y)
    before = _predictions(model, X)
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(_predictions(again, X), before)
    fresh = clone(model)
    assert not hasattr(fresh, "n_iter_")
    assert fresh.get_params().keys() == model.get_params().keys()
    model.set_params(alpha=10.0, gate_alpha=10.0, max_iter=1, n_init=3)
    if family in USER_FAMILIES:
        model.expert.__dict__["changed_after_fit"] = True  # the fitted model keeps its own copy
    np.testing.assert_array_equal(_predictions(model, X), before)
