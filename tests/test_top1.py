"""Hard-routed prediction (``top_k=1``): each row's most probable expert alone, each expert
evaluated once on the rows routed to it.

The reference is the masked route that ``top_k=1`` took before (still the route of
``top_k > 1``): every expert's output on the chunk, masked by
:func:`mixexp._routing.route`, mixed with the renormalised gates.  The hard route
must give the same predictions (up to the rounding of a GEMM on fewer columns) for
every gate and built-in family, flat and hierarchical, with exposures, and for
estimator experts and a user's family, which take other branches.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.tree import DecisionTreeRegressor

import mixexp._predict as predict_module
from mixexp import (
    HierarchicalMixtureOfExpertsClassifier,
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsRegressor,
)
from mixexp._classifier import TINY_PROBA, _mixture_proba
from mixexp._exposure import offset_kwargs
from mixexp._predict import LinearMaps, RoutedRows
from mixexp._regressor import _mixture_moments
from mixexp._routing import route
from mixexp.datasets import make_moe_classification, make_moe_family, make_moe_regression
from mixexp.experts import EXPERTS, ExpertFamily
from mixexp.gates import GATES

RTOL = 1e-10


def _fit(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


def _masked_top1_chunk(model, X, exposure=None):
    """The whole of ``X`` as one chunk on the masked route with one expert per row."""
    X, state = model._validated(X)
    kwargs = offset_kwargs(exposure, X.shape[0], state.experts)
    chunk = RoutedRows(state, X, None, kwargs, LinearMaps(state))
    chunk.gates, chunk.mask = route(chunk.gates, 1)
    return chunk, state


class NormalExperts(ExpertFamily):
    """A user's family (not ``per_leaf``): y ~ N(x b_k + c_k, s_k^2)."""

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
        return {"coef": coef, "var": np.maximum((weights * r**2).sum(0) / weights.sum(0), 1e-6)}

    def predict_mean(self, X, params):
        return np.column_stack([X, np.ones(len(X))]) @ params["coef"].T

    def predict_variance(self, X, params):
        return np.broadcast_to(params["var"], (X.shape[0], params["var"].shape[0]))

    def n_free_params(self, params):
        return params["coef"].size + params["var"].size


REGRESSION = {
    **{f"gate={g}": (lambda g=g: MixtureOfExpertsRegressor(4, gate=g), "linear") for g in GATES},
    **{f"expert={e}": (lambda e=e: MixtureOfExpertsRegressor(3, expert=e), e) for e in EXPERTS["regression"]},
    "hme": (lambda: HierarchicalMixtureOfExpertsRegressor(2, 2), "linear"),
    "hme-gaussian-gate-2-targets": (
        lambda: HierarchicalMixtureOfExpertsRegressor(2, 2, gate="gaussian"), "2d"
    ),
    "estimator-experts": (
        lambda: MixtureOfExpertsRegressor(3, expert=DecisionTreeRegressor(max_depth=3)), "linear"
    ),
    "user-family": (lambda: MixtureOfExpertsRegressor(3, expert=NormalExperts()), "linear"),
}


def _regression_data(kind):
    if kind == "linear":
        return make_moe_regression(n_samples=400, n_features=3, n_experts=3, random_state=0)
    if kind == "2d":
        X, y = make_moe_regression(n_samples=400, n_features=3, n_experts=3, random_state=0)
        return X, np.column_stack([y, -2 * y + X[:, 0]])
    return make_moe_family(kind, n_samples=400, n_features=3, n_experts=3, random_state=0)


@pytest.mark.parametrize("case", list(REGRESSION))
def test_top1_regression_equals_the_masked_route(case):
    make, kind = REGRESSION[case]
    X, y = _regression_data(kind)
    model = _fit(make().set_params(max_iter=15, random_state=0), X, y)
    exposure = None
    if model._fitted.experts.uses_exposure:
        exposure = np.random.default_rng(1).uniform(0.5, 2.0, X.shape[0])
    chunk, state = _masked_top1_chunk(model, X, exposure)
    moments = _mixture_moments(chunk, True, model._bounds(state))
    ref_mean, ref_std = (model._squeeze(a, state) for a in moments)
    model.set_params(top_k=1)
    mean, std = model.predict(X, return_std=True, exposure=exposure)
    assert mean.shape == ref_mean.shape
    np.testing.assert_allclose(mean, ref_mean, rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(std, ref_std, rtol=RTOL, atol=1e-12)
    # and each row's own expert, as predict_experts and predict_gate give them
    own = np.argmax(model.predict_gate(X), axis=1)
    experts = model.predict_experts(X, exposure=exposure)
    np.testing.assert_allclose(mean, experts[np.arange(X.shape[0]), own], rtol=RTOL, atol=1e-12)


@pytest.mark.parametrize(
    "make",
    [
        lambda: MixtureOfExpertsClassifier(4),
        lambda: HierarchicalMixtureOfExpertsClassifier(2, 2, gate="gaussian"),
    ],
    ids=["flat", "hme-gaussian-gate"],
)
def test_top1_classifier_equals_the_masked_route(make):
    X, y = make_moe_classification(n_samples=400, n_features=3, n_experts=3, n_classes=3, random_state=0)
    model = _fit(make().set_params(max_iter=15, random_state=0), X, y)
    # far rows: class probabilities below TINY_PROBA, summed again in log space
    X = np.vstack([X, 300.0 * X[:100]])
    assert np.min(model.predict_proba(X)) < TINY_PROBA
    chunk, _ = _masked_top1_chunk(model, X)
    ref_proba, ref_log = _mixture_proba(chunk, log=True)
    model.set_params(top_k=1)
    np.testing.assert_allclose(model.predict_proba(X), ref_proba, rtol=RTOL, atol=1e-14)
    log_proba = model.predict_log_proba(X)
    assert np.all(np.isfinite(log_proba)) and np.min(log_proba) < np.log(TINY_PROBA)
    np.testing.assert_allclose(log_proba, ref_log, rtol=RTOL, atol=1e-12)  # logs of probabilities near 1
    own = np.argmax(model.predict_gate(X), axis=1)
    np.testing.assert_allclose(
        model.predict_proba(X), model.predict_experts(X)[np.arange(X.shape[0]), own], rtol=RTOL, atol=1e-14
    )


def test_top1_evaluates_each_expert_on_its_rows_only(monkeypatch):
    """Linear experts: the dense route multiplies every row by every expert's coefficients;
    the hard route multiplies each row by its own expert's only (one column per target)."""
    X, y = make_moe_regression(n_samples=400, n_features=3, n_experts=3, random_state=0)
    model = _fit(MixtureOfExpertsRegressor(6, max_iter=15, random_state=0), X, y)
    n_leaves = model._fitted.tree.n_leaves
    calls = []
    for name in ("affine_rows", "own_affine_rows"):
        def spy(rows, coef, *args, real=getattr(predict_module, name), name=name):
            calls.append((name, rows.shape[0], coef.shape[1] if name == "affine_rows" else coef.shape[:2]))
            return real(rows, coef, *args)

        monkeypatch.setattr(predict_module, name, spy)
    model.predict(X)
    gate = ("affine_rows", X.shape[0], n_leaves - 1)  # the gate's relative logits
    assert calls == [gate, ("affine_rows", X.shape[0], n_leaves)]  # every expert on every row
    calls.clear()
    model.set_params(top_k=1).predict(X)
    assert calls == [gate, ("own_affine_rows", X.shape[0], (n_leaves, 1))]  # one expert per row


def test_top1_sparse_rows_equal_the_masked_route():
    """A model fitted on sparse X keeps the rows sparse: the hard route groups them by expert."""
    X, y = make_moe_regression(n_samples=400, n_features=6, n_experts=3, random_state=0)
    X = sp.csr_matrix(np.where(np.abs(X) < 0.7, 0.0, X))
    model = _fit(MixtureOfExpertsRegressor(4, max_iter=15, random_state=0), X, y)
    chunk, state = _masked_top1_chunk(model, X)
    ref = model._squeeze(_mixture_moments(chunk, False, model._bounds(state))[0], state)
    np.testing.assert_allclose(model.set_params(top_k=1).predict(X), ref, rtol=RTOL, atol=1e-12)


def test_top1_rows_do_not_depend_on_the_chunk():
    X, y = make_moe_regression(n_samples=400, n_features=3, n_experts=3, random_state=0)
    model = _fit(MixtureOfExpertsRegressor(4, top_k=1, max_iter=15, random_state=0), X, y)
    whole = model.predict(X)
    parts = np.concatenate([model.predict(X[:7]), model.predict(X[7:])])
    np.testing.assert_allclose(whole, parts, rtol=RTOL)


def test_default_hard_output_from_products_is_the_families():
    """The base class's default (each leaf's rows through ``output_from_products``), which a
    new family inherits, gives what the linear families' own vectorised versions give."""
    from mixexp.experts import ExpertComponent

    X, y = make_moe_regression(n_samples=300, n_features=3, n_experts=3, random_state=0)
    Xc, yc = make_moe_classification(
        n_samples=300, n_features=3, n_experts=3, n_classes=3, random_state=0
    )
    for model, data in ((MixtureOfExpertsRegressor(4, expert="student_t"), (X, y)),
                        (MixtureOfExpertsClassifier(4), (Xc, yc))):
        state = _fit(model.set_params(max_iter=10, random_state=0), *data)._fitted
        experts, params, info = state.experts, state.params["experts"], state.info
        output = sorted(experts.products_outputs)[0]
        leaf = np.random.default_rng(0).integers(0, 4, size=50)
        leaf[:4] = np.arange(4)
        products = np.random.default_rng(1).normal(size=(50, experts.linear_rows(params, info).shape[0] // 4))
        own = experts.hard_output_from_products(output, products, leaf, params, info)
        default = ExpertComponent.hard_output_from_products(experts, output, products, leaf, params, info)
        as_tuple = lambda out: out if isinstance(out, tuple) else (out,)  # noqa: E731
        for a, b in zip(as_tuple(own), as_tuple(default)):
            assert a.shape == b.shape == (50, 1, a.shape[2])
            np.testing.assert_allclose(a, b, rtol=1e-13)
