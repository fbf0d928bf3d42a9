"""Standard errors for every registered gate and expert family, flat and in a tree.

Driven by the registries :data:`mixexp.gates.GATES` and :data:`mixexp.experts.EXPERTS`:
a new component is checked as soon as it is registered.  For every combination
that supports inference, the observed information that the components' pieces
assemble (:func:`mixexp.inference.observed_information`) equals minus a
finite-difference Hessian of the total log-likelihood, computed through the
public estimator (``log_likelihood``, plus ``score_samples`` when the gate
models x: the likelihood EM maximised) with the parameters moved along the
inference vector; the sandwich runs; the combinations that do not support it
raise a ValueError that names the component.
"""

import warnings

import numpy as np
import pytest

from mixexp import (
    HierarchicalMixtureOfExpertsClassifier,
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsRegressor,
)
from mixexp.datasets import (
    make_moe_classification,
    make_moe_family,
    make_moe_regression,
)
from mixexp.experts import EXPERTS
from mixexp.gates import GATES
from mixexp.inference import Layout, observed_information

N = 200
ESTIMATORS = {
    ("regression", "flat"): lambda **kw: MixtureOfExpertsRegressor(2, **kw),
    ("regression", "tree"): lambda **kw: HierarchicalMixtureOfExpertsRegressor(2, branching=2, **kw),
    ("classification", "flat"): lambda **kw: MixtureOfExpertsClassifier(2, **kw),
    ("classification", "tree"): lambda **kw: HierarchicalMixtureOfExpertsClassifier(2, branching=2, **kw),
}
COMBOS = [
    (gate, task, expert, structure)
    for gate in GATES
    for task in EXPERTS
    for expert in EXPERTS[task]
    for structure in ("flat", "tree")
]


def _data(task, expert, seed=0):
    """``(X, y, exposure)``: the family's own generator where it has one."""
    if task == "classification":
        X, y = make_moe_classification(N, n_features=2, n_experts=2, n_classes=3, random_state=seed)
        return X, y, None
    exposure = np.random.RandomState(seed).uniform(0.5, 2.0, N)
    for extra in ({"exposure": exposure}, {}):  # with an exposure where the family takes one
        try:
            X, y = make_moe_family(expert, N, n_features=2, n_experts=2, random_state=seed, **extra)
        except (ValueError, TypeError):
            continue
        return X, y, extra.get("exposure")
    # a family without a generator of its own
    X, y = make_moe_regression(N, n_features=2, n_experts=2, noise=0.3, random_state=seed)
    return X, y, None


def _fit(gate, task, expert, structure):
    X, y, exposure = _data(task, expert)
    # trees: the gate and the experts on one feature each (fewer parameters to difference)
    columns = {} if structure == "flat" else {"gate_features": [0], "expert_features": [1]}
    model = ESTIMATORS[task, structure](
        gate=gate, expert=expert, random_state=0, max_iter=40, n_init=1, **columns
    )
    kwargs = {} if exposure is None else {"exposure": exposure}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y, **kwargs)
    return model, X, y, kwargs


def _supported(gate, task, expert):
    return GATES[gate].supports_inference and EXPERTS[task][expert].supports_inference


def _objective(model, X, y, sw, kwargs):
    """The weighted total log-likelihood EM maximised, through the public estimator."""
    ll = model.log_likelihood(X, y, **kwargs)
    if model._fitted.gate.models_x:
        ll = ll + model.score_samples(X)
    return float(sw @ ll)


@pytest.mark.parametrize("gate, task, expert, structure", COMBOS, ids=["-".join(c) for c in COMBOS])
def test_information_is_minus_the_hessian_of_the_log_likelihood(gate, task, expert, structure):
    if not _supported(gate, task, expert):
        pytest.skip("refused: see test_unsupported_components_are_refused_by_name")
    model, X, y, kwargs = _fit(gate, task, expert, structure)
    _check_information(model, X, y, kwargs)


def test_diagonal_gaussian_gate():
    """``covariance_type="diag"``: log variances in the inference vector."""
    X, y, _ = _data("regression", "linear")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MixtureOfExpertsRegressor(
            2, gate="gaussian", covariance_type="diag", random_state=0, max_iter=40, n_init=1
        ).fit(X, y)
    _check_information(model, X, y, {})
    table = model.summary(X, y).set_index(["component", "parameter"])["estimate"]
    np.testing.assert_allclose(table["gate: expert 1", "log_variance[x1]"], np.log(model.gate_covariances_[1, 1]))


def _check_information(model, X, y, kwargs):
    design, state = model._design(X, y, kwargs.get("exposure"))
    sw = np.random.RandomState(1).uniform(0.5, 1.5, N)
    design.sw = sw
    layout = Layout(state)
    params = state.params
    theta = layout.pack(params)
    free = np.flatnonzero(~layout.fixed())
    info, meat, score, _ = observed_information(layout, params, design)

    def objective(step):
        model._fitted.params = layout.unpack(theta + step, params)
        try:
            return _objective(model, X, y, sw, kwargs)
        finally:
            model._fitted.params = params

    h = 1e-4 * np.maximum(1.0, np.abs(theta))
    f0 = objective(0.0)
    hessian = np.zeros((free.size, free.size))
    gradient = np.zeros(free.size)
    for a, j in enumerate(free):
        ej = np.zeros_like(theta)
        ej[j] = h[j]
        fp, fm = objective(ej), objective(-ej)
        gradient[a] = (fp - fm) / (2 * h[j])
        hessian[a, a] = (fp - 2 * f0 + fm) / h[j] ** 2
        for b in range(a):
            k = free[b]
            ek = np.zeros_like(theta)
            ek[k] = h[k]
            mixed = objective(ej + ek) - objective(ej - ek) - objective(-ej + ek) + objective(-ej - ek)
            hessian[a, b] = hessian[b, a] = mixed / (4 * h[j] * h[k])
    sub = info[np.ix_(free, free)]
    scale = np.abs(sub).max()
    np.testing.assert_allclose(score[free], gradient, atol=1e-5 * scale)
    np.testing.assert_allclose(sub, -hessian, atol=2e-5 * scale)
    # the summary table: finite standard errors for the free parameters, observed and sandwich
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # short fits may leave an indefinite information
        for cov_type in ("observed", "sandwich"):
            table = model.summary(X, y, sample_weight=sw, cov_type=cov_type, **kwargs)
            assert len(table) == theta.size
            assert table["std_error"].notna().sum() == free.size
    assert np.all(np.isfinite(meat))


@pytest.mark.parametrize("gate, task, expert", sorted({c[:3] for c in COMBOS}))
def test_unsupported_components_are_refused_by_name(gate, task, expert):
    if _supported(gate, task, expert):
        pytest.skip("supported")
    try:
        model, X, y, kwargs = _fit(gate, task, expert, "flat")
    except ValueError as e:  # e.g. an attention gate over a family without representations
        pytest.skip(f"cannot be fitted: {e}")
    named = gate if not GATES[gate].supports_inference else expert
    with pytest.raises(ValueError, match=f"cannot give standard errors for .*{named}"):
        model.summary(X, y, **kwargs)


def test_raw_estimates_match_the_fitted_attributes_of_every_family():
    """The summary's estimates in raw units are the fitted attributes (a check of the
    components' maps to raw units), for every registered regression family and both
    supporting gates."""
    for gate in [g for g in GATES if GATES[g].supports_inference]:
        for expert, family in EXPERTS["regression"].items():
            if not family.supports_inference:
                continue
            model, X, y, kwargs = _fit(gate, "regression", expert, "flat")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                table = model.summary(X, y, **kwargs)
            est = table.set_index(["component", "parameter"])["estimate"]
            for k in range(2):
                np.testing.assert_allclose(est[f"expert {k}"][["x0", "x1"]], model.expert_coef_[k, 0], rtol=1e-8)
                np.testing.assert_allclose(
                    est[f"expert {k}", "(intercept)"], model.expert_intercept_[k, 0], rtol=1e-8, atol=1e-12
                )
            extra = set(est.index.get_level_values(1)) - {"(intercept)", "x0", "x1"}
            if "log_noise_variance" in extra:
                np.testing.assert_allclose(est["expert 0", "log_noise_variance"], np.log(model.noise_variance_[0, 0]))
            if "log_noise_scale" in extra:
                np.testing.assert_allclose(est["expert 0", "log_noise_scale"], np.log(model.noise_scale_[0, 0]))
                np.testing.assert_allclose(est["expert 0", "log_nu"], np.log(model.nu_[0, 0]))
            if "log_sigma" in extra:
                np.testing.assert_allclose(est["expert 0", "log_sigma"], np.log(model.noise_scale_[0, 0]))
            if "log_dispersion" in extra:
                np.testing.assert_allclose(est["expert 0", "log_dispersion"], np.log(model.dispersion_[0]))
            if "logit_zero_inflation" in extra:
                pi = model.zero_inflation_[0]
                np.testing.assert_allclose(est["expert 0", "logit_zero_inflation"], np.log(pi / (1 - pi)))
            if gate == "gaussian":
                np.testing.assert_allclose(est["gate: expert 1", "mean[x0]"], model.gate_means_[1, 0])
                L = np.linalg.cholesky(model.gate_covariances_[1])
                np.testing.assert_allclose(est["gate: expert 1", "log_chol[x1,x1]"], np.log(L[1, 1]))
                np.testing.assert_allclose(est["gate: expert 1", "chol[x1,x0]"], L[1, 0])
                w = model.gate_weights_
                np.testing.assert_allclose(est["gate: expert 1 vs 0", "log_weight"], np.log(w[1] / w[0]))
