"""Grouped rows (panel data, ``groups=``): all rows of a group share one latent leaf."""

import warnings

import numpy as np
import pytest
from scipy.special import log_softmax, logsumexp
from scipy.stats import norm
from sklearn.base import is_regressor
from sklearn.metrics import adjusted_rand_score

import reference as ref
from mixexp import (
    HierarchicalMixtureOfExpertsClassifier,
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsRegressor,
)
from mixexp._design import Design, design_matrix, weighted_location_scale
from mixexp._engine import EMEngine
from mixexp._groups import GroupedDesign, group_starts
from mixexp._tree import Tree
from mixexp.experts.gaussian import LinearGaussianExperts
from mixexp.experts.multinomial import MultinomialExperts
from mixexp.gates.softmax import SoftmaxGate

EXACT = 3000  # bound steps that make a softmax M-step exact to rounding


def panel(n_groups=200, rows=5, seed=0, classify=False):
    """A panel: a group-level feature ``c`` (column 1) drives the class of each group, whose
    rows follow one of two opposite slopes in ``x`` (column 0)."""
    rs = np.random.RandomState(seed)
    c = rs.normal(size=n_groups)
    z = (c + 0.8 * rs.normal(size=n_groups) > 0).astype(int)
    g = np.repeat(np.arange(n_groups), rows)
    x = rs.normal(size=n_groups * rows)
    X = np.column_stack([x, c[g]])
    slope = np.array([1.0, -1.0])[z[g]]
    y = slope * x + 0.7 * rs.normal(size=x.shape[0])
    if classify:
        y = (y > 0).astype(int)
    return X, y, g, z


def _quiet_fit(est, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(*args, **kwargs)


# -- one EM iteration against plain numpy --------------------------------------------


def _grouped_setup(kind, depth, b, seed=0):
    rs = np.random.RandomState(seed)
    n_groups = 40
    sizes = rs.randint(1, 6, size=n_groups)
    g = np.repeat(np.arange(n_groups), sizes)
    n = g.shape[0]
    X = np.column_stack([rs.normal(size=n_groups)[g] * 3 + 1, rs.normal(size=n), rs.normal(size=n) * 10])
    sw = rs.uniform(0.2, 2.0, size=n)
    if kind == "gaussian":
        y = np.where(X[:, 0] > 1, X[:, 1], -X[:, 2] / 5) + rs.normal(size=n)
        experts = LinearGaussianExperts(1e-1, 1e-3)
    else:
        y = (X[:, 1] * np.sign(X[:, 0] - 1) + 0.5 * rs.normal(size=n) > 0).astype(int)
        y[::7] = 2
        experts = MultinomialExperts(1e-1)
    tree = Tree(depth, b)
    engine = EMEngine(tree, SoftmaxGate(tree, 1e-2), experts)
    x_mean, x_scale = weighted_location_scale(X, sw)
    target, info = experts.prepare_target(y, sw)
    # chunks of about 50 rows: several chunks, each of whole groups
    design = GroupedDesign(
        design_matrix(X, x_mean, x_scale), target, sw, group_starts(g), chunk_rows=50, gate_columns=[0]
    )
    return engine, design, info, g, (target if kind == "gaussian" else target.astype(int))


def _ref_grouped_e_step(Xg, Xa, target, sw, g, gates, experts, depth, b, kind):
    """Group posteriors and log-likelihoods: each leaf's weighted log-densities summed over
    the group's rows, then the gate's log path probabilities at the group's features."""
    rows = ref.logdens(Xa, target, experts, kind) * sw[:, None]
    sums = np.zeros((Xg.shape[0], rows.shape[1]))
    np.add.at(sums, g, rows)
    joint = ref.log_path_gates(Xg, gates, depth, b) + sums
    loglik = logsumexp(joint, axis=1)
    return np.exp(joint - loglik[:, None]), loglik


def _node_targets(post, depth, b):
    below = ref.leaves_below(depth, b)
    return {node: post[:, leaves].sum(axis=1) for node, leaves in below.items()}


def _ref_grouped_m_step(Xg, Xa, target, sw, g, post, depth, b, gates=None, experts=None, kind="gaussian"):
    """The gates fitted to the group posteriors (weight 1 per group), the experts to the rows
    (posterior of the row's group times its weight); exact, or one bound step from
    ``gates``/``experts`` (the safe step of one mixexp iteration)."""
    node = _node_targets(post, depth, b)
    new_gates = []
    for j in range(ref.n_inner(depth, b)):
        U = np.column_stack([node[j * b + 1 + c] for c in range(b)])
        exact = gates is None
        new_gates.append(ref.softmax_exact(Xg, U, 1e-2) if exact else ref.bound_step(Xg, U, gates[j], 1e-2))
    new_experts = []
    for leaf in range(b**depth):
        w = sw * post[g, leaf]
        if kind == "gaussian":
            new_experts.append(ref.gaussian_exact(Xa, target, w, 1e-1, 1e-3))
        else:
            onehot = np.eye(3)[target] * w[:, None]
            if experts is None:
                new_experts.append(ref.softmax_exact(Xa, onehot, 1e-1))
            else:
                new_experts.append(ref.bound_step(Xa, onehot, experts[leaf], 1e-1))
    return new_gates, new_experts


def _assert_params(params, gates, experts, kind):
    def centred(W):
        return W - W.mean(axis=0)

    for j, W in enumerate(gates):
        np.testing.assert_allclose(centred(params["gate"]["coef"][j]), centred(W), atol=1e-8)
    for leaf, e in enumerate(experts):
        if kind == "gaussian":
            np.testing.assert_allclose(params["experts"]["coef"][leaf], e[0], atol=1e-8)
            np.testing.assert_allclose(params["experts"]["var"][leaf], e[1], rtol=1e-8)
        else:
            np.testing.assert_allclose(centred(params["experts"]["coef"][leaf]), centred(e), atol=1e-8)


@pytest.mark.parametrize("kind, depth, b", [("gaussian", 1, 3), ("gaussian", 2, 2), ("multinomial", 1, 2)])
def test_grouped_one_iteration_matches_reference(kind, depth, b):
    engine, design, info, g, target = _grouped_setup(kind, depth, b)
    assert len(design.chunks()) > 1
    Xa, sw = design.Xa, design.sw
    Xg = Xa[design.starts[:-1]][:, [0, -1]]
    post0 = np.random.RandomState(1).dirichlet(np.ones(b**depth), size=design.n_units)

    params = engine.fit_posteriors(post0[g], design, engine.zero_params(design, info), EXACT, tol=-np.inf)
    gates, experts = _ref_grouped_m_step(Xg, Xa, target, sw, g, post0, depth, b, kind=kind)
    _assert_params(params, gates, experts, kind)

    post1, loglik1 = engine.e_step(params, design)
    ref_post1, ref_loglik1 = _ref_grouped_e_step(Xg, Xa, target, sw, g, gates, experts, depth, b, kind)
    assert loglik1.shape == (design.n_units,)
    np.testing.assert_allclose(post1, ref_post1[g], atol=1e-8)
    np.testing.assert_allclose(loglik1, ref_loglik1, rtol=1e-9, atol=1e-8)

    S = engine.pass_stats(params, design)
    params2, _ = engine.update(S, engine.constant_stats(design), params, sw.sum(), safe=True)
    gates2, experts2 = _ref_grouped_m_step(Xg, Xa, target, sw, g, ref_post1, depth, b, gates, experts, kind)
    _assert_params(params2, gates2, experts2, kind)

    obj = engine.objective(params2, engine.pass_stats(params2, design), sw.sum())
    ll2 = _ref_grouped_e_step(Xg, Xa, target, sw, g, gates2, experts2, depth, b, kind)[1]
    kind_pen = "gaussian" if kind == "gaussian" else "multinomial"
    ref_obj = (ll2.sum() - ref.penalty(gates2, experts2, 1e-2, 1e-1, kind_pen)) / sw.sum()
    assert abs(obj - ref_obj) < 1e-8


# -- EM's invariants with groups ------------------------------------------------------


@pytest.mark.parametrize(
    "make, gate",
    [
        (lambda **kw: MixtureOfExpertsRegressor(2, **kw), "softmax"),
        (lambda **kw: MixtureOfExpertsRegressor(3, **kw), "gaussian"),
        (lambda **kw: HierarchicalMixtureOfExpertsRegressor(2, 2, **kw), "softmax"),
        (lambda **kw: HierarchicalMixtureOfExpertsRegressor(2, 2, **kw), "gaussian"),
        (lambda **kw: MixtureOfExpertsClassifier(2, **kw), "softmax"),
        (lambda **kw: HierarchicalMixtureOfExpertsClassifier(2, 2, **kw), "softmax"),
    ],
)
def test_grouped_em_never_decreases(make, gate):
    est = make(gate=gate, gate_features=[1], random_state=0, tol=0, max_iter=60)
    X, y, g, _ = panel(80, 4, classify=est._task == "classification")
    sw = np.random.RandomState(3).uniform(0.5, 2.0, size=y.shape[0])
    _quiet_fit(est, X, y, sample_weight=sw, groups=g)
    bounds = est.lower_bounds_
    assert bounds.shape[0] > 5
    assert np.all(np.diff(bounds) >= -1e-10 * np.abs(bounds[:-1]))


def test_row_order_does_not_matter():
    X, y, g, _ = panel(60, 4)
    perm = np.random.RandomState(5).permutation(y.shape[0])
    kw = dict(gate_features=[1], random_state=0)
    a = _quiet_fit(MixtureOfExpertsRegressor(2, **kw), X, y, groups=g)
    b = _quiet_fit(MixtureOfExpertsRegressor(2, **kw), X[perm], y[perm], groups=g[perm])
    np.testing.assert_array_equal(a.lower_bounds_, b.lower_bounds_)
    np.testing.assert_array_equal(a.expert_coef_, b.expert_coef_)
    Xp, yp, gp = X[perm], y[perm], g[perm]
    np.testing.assert_allclose(a.log_likelihood(X, y, groups=g), b.log_likelihood(Xp, yp, groups=gp))
    resp = a.responsibilities(X, y, groups=g)
    np.testing.assert_allclose(resp[perm], a.responsibilities(Xp, yp, groups=gp))


@pytest.mark.parametrize("depth", [1, 2])
def test_single_row_groups_equal_the_ungrouped_fit(depth):
    X, y, _, _ = panel(100, 3)
    est = MixtureOfExpertsRegressor(4) if depth == 1 else HierarchicalMixtureOfExpertsRegressor(2, 2)
    est.set_params(random_state=0, max_iter=50)
    a = _quiet_fit(est, X, y)
    b = _quiet_fit(type(est)(**est.get_params()), X, y, groups=np.arange(y.shape[0]))
    # the same iterations; only the order of the Grams' sums may differ (shared products)
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(a.expert_coef_, b.expert_coef_, rtol=1e-7, atol=1e-9)
    singles = np.arange(y.shape[0])
    np.testing.assert_allclose(a.log_likelihood(X, y), b.log_likelihood(X, y, groups=singles), rtol=1e-8)


# -- what the fitted model says about groups ------------------------------------------


def test_log_likelihood_and_responsibilities_per_group():
    X, y, g, _ = panel(50, 4)
    labels = np.array([f"policy-{i:03d}" for i in g])[::-1]  # string labels, rows reversed
    X, y = X[::-1], y[::-1]
    est = _quiet_fit(MixtureOfExpertsRegressor(2, gate_features=[1], random_state=0), X, y, groups=labels)
    ll = est.log_likelihood(X, y, groups=labels)
    resp = est.responsibilities(X, y, groups=labels)
    # by hand from the public attributes: log sum_k gate_k(x_g) prod_i N(y_i; mu_k(x_i), s_k)
    gate = est.predict_gate(X)
    logdens = norm.logpdf(y[:, None], est.predict_experts(X), np.sqrt(est.noise_variance_[:, 0]))
    uniq, first, codes = np.unique(labels, return_index=True, return_inverse=True)
    sums = np.zeros((uniq.shape[0], 2))
    np.add.at(sums, codes, logdens)
    joint = np.log(gate[first]) + sums
    np.testing.assert_allclose(ll, logsumexp(joint, axis=1), rtol=1e-9)
    np.testing.assert_allclose(resp, np.exp(joint - logsumexp(joint, axis=1)[:, None])[codes], atol=1e-9)
    k = est._n_parameters()
    assert est.bic(X, y, groups=labels) == pytest.approx(-2 * ll.sum() + k * np.log(y.shape[0]))
    assert est.aic(X, y, groups=labels) == pytest.approx(-2 * ll.sum() + 2 * k)
    assert est.icl(X, y, groups=labels) >= est.bic(X, y, groups=labels)


def test_recovery_of_group_classes_and_the_cost_of_ignoring_groups():
    X, y, g, z = panel(200, 5, seed=1)
    first = np.unique(g, return_index=True)[1]
    kw = dict(gate_features=[1], random_state=0)
    grouped = _quiet_fit(MixtureOfExpertsRegressor(2, **kw), X, y, groups=g)
    rows = _quiet_fit(MixtureOfExpertsRegressor(2, **kw), X, y)
    ari_grouped = adjusted_rand_score(z, grouped.responsibilities(X, y, groups=g)[first].argmax(axis=1))
    # fitted row by row, a group's class is the most probable leaf of its rows' summed log-posteriors
    log_resp = np.log(np.clip(rows.responsibilities(X, y), 1e-300, None))
    votes = np.zeros((first.shape[0], 2))
    np.add.at(votes, g, log_resp)
    ari_rows = adjusted_rand_score(z, votes.argmax(axis=1))
    per_row = adjusted_rand_score(z[g], rows.responsibilities(X, y).argmax(axis=1))
    assert ari_grouped > 0.9
    assert ari_grouped > ari_rows + 0.05
    assert ari_grouped > per_row + 0.3


# -- experience rating -----------------------------------------------------------------


def test_history_weights_a_group_by_its_posterior():
    X, y, g, _ = panel(100, 5, seed=2)
    est = _quiet_fit(MixtureOfExpertsRegressor(2, gate_features=[1], random_state=0), X, y, groups=g)
    past = g < 50
    history = (X[past], y[past], g[past])
    post = est.responsibilities(*history[:2], groups=history[2])
    weights = est.predict_gate(X, groups=g, history=history)
    np.testing.assert_allclose(weights[past], post, atol=1e-12)
    np.testing.assert_allclose(weights[~past], est.predict_gate(X[~past]), atol=1e-12)
    mean = est.predict(X, groups=g, history=history)
    np.testing.assert_allclose(mean, np.sum(weights * est.predict_experts(X), axis=1), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(mean[~past], est.predict(X[~past]), atol=1e-12)
    assert np.mean((mean - y)[past] ** 2) < 0.5 * np.mean((est.predict(X) - y)[past] ** 2)
    assert est.score(X, y, groups=g, history=history) > est.score(X, y)
    draws = est.sample_y(X, n_samples=3, random_state=0, groups=g, history=history)
    assert draws.shape == (y.shape[0], 3)


def test_hard_routing_with_history_takes_the_posterior_leaf():
    """``top_k=1`` with ``history``: each row goes to the largest of its group's posterior
    (where the group has history), not of the gate."""
    X, y, g, _ = panel(100, 5, seed=2)
    est = _quiet_fit(MixtureOfExpertsRegressor(2, gate_features=[1], random_state=0), X, y, groups=g)
    past = g < 50
    history = (X[past], y[past], g[past])
    leaf = est.predict_gate(X, groups=g, history=history).argmax(axis=1)
    expected = est.predict_experts(X)[np.arange(X.shape[0]), leaf]
    est.set_params(top_k=1)
    np.testing.assert_allclose(est.predict(X, groups=g, history=history), expected, rtol=1e-10, atol=1e-12)
    gate_leaf = est.predict_gate(X).argmax(axis=1)
    assert np.any(leaf[past] != gate_leaf[past])  # the history changes some rows' expert


def test_classifier_history():
    X, y, g, _ = panel(100, 5, seed=3, classify=True)
    est = _quiet_fit(MixtureOfExpertsClassifier(2, gate_features=[1], random_state=0), X, y, groups=g)
    past = g < 50
    history = (X[past], y[past], g[past])
    weights = est.predict_gate(X, groups=g, history=history)
    leaf = est.predict_experts(X)
    proba = est.predict_proba(X, groups=g, history=history)
    np.testing.assert_allclose(proba, np.einsum("nk,nkc->nc", weights, leaf), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(proba[~past], est.predict_proba(X[~past]), atol=1e-12)
    np.testing.assert_allclose(
        np.exp(est.predict_log_proba(X, groups=g, history=history)), proba, rtol=1e-9, atol=1e-12
    )
    assert est.score(X, y, groups=g, history=history) > est.score(X, y)


# -- bad input -------------------------------------------------------------------------


def test_bad_groups_raise_and_leave_the_model_unchanged():
    X, y, g, _ = panel(40, 3)
    est = _quiet_fit(MixtureOfExpertsRegressor(2, gate_features=[1], random_state=0), X, y, groups=g)
    before = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in est.__dict__.items()}
    with pytest.raises(ValueError, match="groups has 119 labels but X has 120 rows"):
        est.fit(X, y, groups=g[:-1])
    with pytest.raises(ValueError, match="gate features 0 vary within a group"):
        est.set_params(gate_features=None).fit(X, y, groups=g)
    est.set_params(gate_features=[1])
    with pytest.raises(ValueError, match="1d array"):
        est.fit(X, y, groups=np.column_stack([g, g]))
    with pytest.raises(ValueError, match="groups holds 1 groups"):
        est.fit(X, y, groups=np.zeros(y.shape[0]))
    for key, value in before.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(est.__dict__[key], value)
    assert est._fitted is before["_fitted"]
    with pytest.raises(ValueError, match="groups has"):
        est.log_likelihood(X, y, groups=g[:-1])
    with pytest.raises(ValueError, match="history needs groups"):
        est.predict(X, history=(X, y, g))
    with pytest.raises(ValueError, match="history should be a tuple"):
        est.predict(X, groups=g, history=X)
    with pytest.raises(ValueError, match="representations"):
        MixtureOfExpertsRegressor(2, gate="attention", gate_features=[1]).fit(X, y, groups=g)
    with pytest.raises(ValueError, match="groups has 119 labels"):
        est.partial_fit(X, y, groups=g[:-1])
    with pytest.raises(ValueError, match="groups has 119 labels"):
        est.summary(X, y, groups=g[:-1])
    assert est._fitted is before["_fitted"]


def test_gate_without_features():
    X, y, g, z = panel(100, 5, seed=4)
    est = _quiet_fit(MixtureOfExpertsRegressor(2, gate_features=[], random_state=0), X, y, groups=g)
    first = np.unique(g, return_index=True)[1]
    assert adjusted_rand_score(z, est.responsibilities(X, y, groups=g)[first].argmax(axis=1)) > 0.8
    np.testing.assert_allclose(est.gate_coef_, 0.0)
    # a gate without features gives every row the same probabilities
    assert np.ptp(est.predict_gate(X), axis=0).max() < 1e-12


def test_softmax_reference_helpers_agree():
    # guards the test's own reference: log_path_gates at depth 1 is a log-softmax
    Xg = np.random.RandomState(0).normal(size=(5, 2))
    W = np.random.RandomState(1).normal(size=(3, 2))
    np.testing.assert_allclose(ref.log_path_gates(Xg, [W], 1, 3), log_softmax(Xg @ W.T, axis=1))


def test_panel_page_example_runs():
    """docs/panel.md's example runs as written, and experience rating helps as it says."""
    import re
    from pathlib import Path

    page = Path(__file__).resolve().parents[1] / "docs" / "panel.md"
    if not page.exists():
        pytest.skip("run from a source checkout (docs/ is not installed)")
    blocks = re.findall(r"^```python\n(.*?)^```", page.read_text(encoding="utf-8"), flags=re.S | re.M)
    assert len(blocks) == 1
    namespace = {"__name__": "__panel__"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(compile(blocks[0], "docs/panel.md", "exec"), namespace)
    rated, a_priori, truth = namespace["rated"], namespace["a_priori"], namespace["truth"]
    assert namespace["per_policy"].shape == (400,)
    assert np.mean((rated - truth) ** 2) < 0.7 * np.mean((a_priori - truth) ** 2)


def test_a_group_of_zero_weight_counts_for_nothing():
    X, y, g, _ = panel(40, 3)
    sw = np.ones(y.shape[0])
    sw[g == 7] = 0.0
    kw = dict(gate_features=[1], random_state=0, max_iter=30)
    weighted = _quiet_fit(MixtureOfExpertsRegressor(2, **kw), X, y, sample_weight=sw, groups=g)
    dropped = _quiet_fit(MixtureOfExpertsRegressor(2, **kw), X[g != 7], y[g != 7], groups=g[g != 7])
    np.testing.assert_allclose(weighted.lower_bounds_, dropped.lower_bounds_, rtol=1e-9)
    np.testing.assert_allclose(weighted.gate_coef_, dropped.gate_coef_, rtol=1e-7, atol=1e-9)


def test_grouped_fit_does_not_depend_on_the_chunking(monkeypatch):
    from mixexp._fitted import FittedMixture

    X, y, g, _ = panel(60, 5)
    kw = dict(gate_features=[1], random_state=0, max_iter=10, tol=0.0)
    whole = _quiet_fit(HierarchicalMixtureOfExpertsRegressor(2, 2, **kw), X, y, groups=g)
    sizes = []

    def small_chunks(self, Xa, target, sw, starts=None):
        if starts is None:  # prediction's rows
            return Design(Xa, target, sw, gate_columns=self.gate_columns, expert_columns=self.expert_columns)
        design = GroupedDesign(
            Xa, target, sw, starts, chunk_rows=37, gate_columns=self.gate_columns,
            expert_columns=self.expert_columns,
        )
        sizes.append(len(design.chunks()))
        return design

    monkeypatch.setattr(FittedMixture, "design", small_chunks)
    chunked = _quiet_fit(HierarchicalMixtureOfExpertsRegressor(2, 2, **kw), X, y, groups=g)
    assert max(sizes) > 4
    np.testing.assert_allclose(chunked.lower_bounds_, whole.lower_bounds_, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(chunked.predict(X), whole.predict(X), rtol=1e-6, atol=1e-8)


def test_risk_measures_with_history_use_the_groups_posterior():
    """The risk measures with ``history``: the mixture of the experts' laws weighted by
    each group's posterior (rows with history) or the gate (the others), as ``predict``."""
    from scipy import stats

    X, y, g, _ = panel(100, 5, seed=2)
    est = _quiet_fit(MixtureOfExpertsRegressor(2, gate_features=[1], random_state=0, clip_experts=False),
                     X, y, groups=g)
    past = g < 50
    history = (X[past], y[past], g[past])
    weights = est.predict_gate(X, groups=g, history=history)
    means = est.predict_experts(X)
    sd = np.sqrt(est.noise_variance_[:, 0])
    by_hand = np.sum(weights * stats.norm.cdf(y[:, None], means, sd), axis=1)
    np.testing.assert_allclose(est.predict_cdf(X, y, groups=g, history=history), by_hand, rtol=1e-9, atol=1e-12)
    q = est.predict_quantile(X, 0.8, groups=g, history=history)
    np.testing.assert_allclose(est.predict_cdf(X, q, groups=g, history=history), 0.8, rtol=1e-8)
    np.testing.assert_allclose(est.predict_cdf(X[~past], q[~past]), 0.8, rtol=1e-8)
    assert np.all(np.isfinite(est.predict_cte(X, 0.9, groups=g, history=history)))
    limited = est.predict_limited_mean(X, 1e6, groups=g, history=history)
    np.testing.assert_allclose(limited, est.predict(X, groups=g, history=history), rtol=1e-8)


# -- standard errors of a grouped fit ---------------------------------------------------


@pytest.mark.parametrize("gate", ["softmax", "gaussian"])
def test_grouped_information_is_minus_the_finite_difference_hessian(gate):
    from mixexp.inference import Layout, observed_information

    X, y, g, _ = panel(30, 4, seed=2)
    est = MixtureOfExpertsRegressor(2, gate=gate, gate_features=[1], random_state=0, max_iter=30)
    est = _quiet_fit(est, X, y, groups=g)
    design, state = est._design(X, y, groups=g)
    sw = np.random.RandomState(1).uniform(0.5, 1.5, X.shape[0])
    sw[g == 3] = 0.0  # a group of zero weight counts for nothing
    design.sw = sw[design.order]
    layout = Layout(state)
    theta = layout.pack(state.params)
    info, _, score, loglik = observed_information(layout, state.params, design)
    # the log-likelihood is the grouped one: one latent leaf per group
    logdens = state.experts.scores(design.expert_X, design.target, state.params["experts"])[0]
    log_gate = state.gate.scores(design.gate_X, state.params["gate"])
    unit = np.add.reduceat(logdens * design.sw[:, None], design.starts[:-1], axis=0)
    expected = logsumexp(log_gate + unit, axis=1)
    assert loglik == pytest.approx(expected[np.unique(g) != 3].sum(), rel=1e-12)
    h = 1e-5
    hessian, gradient = np.empty_like(info), np.empty_like(score)
    for k in range(theta.size):
        e = np.zeros_like(theta)
        e[k] = h
        plus = observed_information(layout, layout.unpack(theta + e, state.params), design)
        minus = observed_information(layout, layout.unpack(theta - e, state.params), design)
        hessian[:, k] = (plus[2] - minus[2]) / (2 * h)
        gradient[k] = (plus[3] - minus[3]) / (2 * h)
    np.testing.assert_allclose(score, gradient, atol=1e-5 * np.abs(gradient).max())
    np.testing.assert_allclose(info, -hessian, atol=1e-6 * np.abs(info).max())


def test_grouped_summary():
    """summary with groups: single-row groups give the ungrouped table; a panel's standard
    errors come from its groups (the same rows as independent give other ones)."""
    X, y, g, _ = panel(40, 1, seed=3)
    est = _quiet_fit(MixtureOfExpertsRegressor(2, gate_features=[1], random_state=0), X, y)
    plain = est.summary(X, y)
    singles = est.summary(X, y, groups=np.arange(y.shape[0])[::-1])
    np.testing.assert_allclose(singles["std_error"], plain["std_error"], rtol=1e-8)
    for cov_type in ("observed", "sandwich"):
        np.testing.assert_allclose(
            est.summary(X, y, cov_type=cov_type, groups=np.arange(y.shape[0]))["std_error"],
            est.summary(X, y, cov_type=cov_type)["std_error"], rtol=1e-8,
        )
    X, y, g, _ = panel(60, 5, seed=3)
    est = _quiet_fit(MixtureOfExpertsRegressor(2, gate_features=[1], random_state=0), X, y, groups=g)
    perm = np.random.RandomState(0).permutation(y.shape[0])
    table = est.summary(X, y, groups=g)
    np.testing.assert_allclose(table["std_error"], est.summary(X[perm], y[perm], groups=g[perm])["std_error"])
    assert np.all(np.isfinite(table["std_error"])) and np.all(table["std_error"] > 0)
    # the groups' information is not the rows': the gate sees 60 groups, not 300 rows
    rows = est.summary(X, y)
    gate = table["component"].str.startswith("gate").to_numpy()
    assert np.all(table["std_error"][gate].to_numpy() > 1.3 * rows["std_error"][gate].to_numpy())
    # sample weights in the order of X
    sw = np.random.RandomState(1).uniform(0.5, 2.0, y.shape[0])
    np.testing.assert_allclose(
        est.summary(X, y, sw, groups=g)["std_error"],
        est.summary(X[perm], y[perm], sw[perm], groups=g[perm])["std_error"], rtol=1e-10,
    )


# -- online EM with groups ---------------------------------------------------------------


def _batches(g, n_batches, seed=0):
    """Row indices of ``n_batches`` batches of whole groups, the groups shuffled."""
    labels = np.random.RandomState(seed).permutation(np.unique(g))
    return [np.flatnonzero(np.isin(g, part)) for part in np.array_split(labels, n_batches)]


def test_partial_fit_with_groups_takes_whole_groups():
    X, y, g, z = panel(400, 5, seed=5)
    kw = dict(gate_features=[1], random_state=0, learning_offset=1.0)
    grouped, rows = MixtureOfExpertsRegressor(2, **kw), MixtureOfExpertsRegressor(2, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for epoch in range(2):
            for rows_of_batch in _batches(g, 5, seed=epoch):
                labels = np.char.add(f"{epoch}:", g[rows_of_batch].astype(str))
                grouped.partial_fit(X[rows_of_batch], y[rows_of_batch], groups=labels)
                rows.partial_fit(X[rows_of_batch], y[rows_of_batch])
    assert grouped.n_batch_iter_ == 10 and grouped.n_samples_seen_ == 2 * y.shape[0]
    first = np.unique(g, return_index=True)[1]
    ari = adjusted_rand_score(z, grouped.responsibilities(X, y, groups=g)[first].argmax(axis=1))
    assert ari > 0.9
    # the stream fitted as groups explains the groups better than the same stream as rows
    assert grouped.log_likelihood(X, y, groups=g).sum() > rows.log_likelihood(X, y, groups=g).sum()


def test_partial_fit_with_groups_does_not_depend_on_the_order_of_a_batch():
    X, y, g, _ = panel(120, 4, seed=6)
    batches = _batches(g, 3)
    models = []
    for seed in (None, 1):
        est = MixtureOfExpertsRegressor(2, gate_features=[1], random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for b in batches:
                b = b if seed is None else np.random.RandomState(seed).permutation(b)
                est.partial_fit(X[b], y[b], groups=g[b])
        models.append(est)
    np.testing.assert_allclose(models[0].expert_coef_, models[1].expert_coef_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(models[0].gate_coef_, models[1].gate_coef_, rtol=1e-8, atol=1e-10)


def test_partial_fit_step_with_groups_does_not_decrease_the_grouped_likelihood():
    """A single batch: online EM's first step is one EM iteration of the grouped likelihood
    after the fit, which it cannot decrease."""
    X, y, g, _ = panel(80, 5, seed=7)
    for est in (
        MixtureOfExpertsRegressor(2, gate_features=[1], random_state=0, max_iter=3),
        HierarchicalMixtureOfExpertsClassifier(2, 2, gate_features=[1], random_state=0, max_iter=3),
    ):
        target = y if is_regressor(est) else (y > 0).astype(int)
        extra = {} if is_regressor(est) else {"classes": [0, 1]}
        fitted = _quiet_fit(type(est)(**est.get_params()), X, target, groups=g)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.partial_fit(X, target, groups=g, **extra)
        # the same start as the fit (same parameters, same data)
        before = fitted.log_likelihood(X, target, groups=g).sum()
        after = est.log_likelihood(X, target, groups=g).sum()
        assert after >= before - 1e-9 * abs(before)
        assert after > before  # EM after 3 iterations still gains


def test_partial_fit_refuses_a_group_of_an_earlier_batch():
    X, y, g, _ = panel(60, 4, seed=8)
    a, b = _batches(g, 2)
    est = MixtureOfExpertsRegressor(2, gate_features=[1], random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.partial_fit(X[a], y[a], groups=g[a])
        before = dict(est.__dict__)
        split = np.r_[b, a[:3]]  # one group of the first batch again
        with pytest.raises(ValueError, match="were in an earlier batch of partial_fit"):
            est.partial_fit(X[split], y[split], groups=g[split])
        assert est.__dict__ == before
        with pytest.raises(ValueError, match="labels of one kind"):
            est.partial_fit(X[b], y[b], groups=g[b].astype(str))
        with pytest.raises(ValueError, match="vary within a group"):
            est.partial_fit(X[b], y[b], groups=np.zeros(b.shape[0]))
        assert est.__dict__ == before
        est.partial_fit(X[b], y[b], groups=g[b])
        assert est.n_batch_iter_ == 2
        # fit starts anew: the same groups are new to its stream
        est.fit(X[b], y[b], groups=g[b])
        est.partial_fit(X[a], y[a], groups=g[a])
        assert est.n_batch_iter_ == 1
