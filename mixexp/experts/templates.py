"""The user's estimators as expert templates: checking them, fitting them with weights.

EM refits every expert with its posterior weights, so a template must take
``sample_weight`` in ``fit`` (a pipeline: in its last step, also under
scikit-learn's metadata routing).  :class:`~sklearn.linear_model.Ridge` and
:class:`~sklearn.linear_model.LogisticRegression` templates (also as the last
step of a pipeline) have a known penalty, which
:class:`mixexp.experts.estimator.EstimatorExperts` counts in EM's objective.
"""

import inspect
import numbers

import numpy as np
from sklearn import get_config
from sklearn.base import is_classifier, is_regressor
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import has_fit_parameter


def _weight_route(estimator):
    """How ``fit`` of ``estimator`` takes sample weights: a keyword name, or None."""
    if has_fit_parameter(estimator, "sample_weight"):
        return "sample_weight"
    if isinstance(estimator, Pipeline):
        name, last = estimator.steps[-1]
        if last != "passthrough" and has_fit_parameter(last, "sample_weight"):
            return f"{name}__sample_weight"
    return None


def final_step(estimator):
    """The estimator itself, or the last step of a pipeline (the one given the weights)."""
    return estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator


def ridge_alpha(estimator):
    """``alpha`` of a :class:`~sklearn.linear_model.Ridge` expert (or a pipeline ending
    in one), whose refit minimises ``sum_i w_i r_i^2 + alpha ||coef||^2``; else None."""
    from sklearn.linear_model import Ridge  # here: 60 ms of ``import mixexp`` otherwise

    final = final_step(estimator)
    return np.asarray(final.alpha, dtype=np.float64) if type(final) is Ridge else None


def logistic_penalty(estimator):
    """``(strength, l1_ratio)`` of a :class:`~sklearn.linear_model.LogisticRegression`
    expert (or a pipeline ending in one), whose refit maximises the weighted
    log-likelihood minus ``strength * (l1_ratio |coef|_1 + (1 - l1_ratio) / 2 ||coef||^2)``
    (intercepts not penalised); None when the refit maximises something else (class
    weights, liblinear's penalised intercept) or another estimator."""
    from sklearn.linear_model import LogisticRegression  # here, as in ridge_alpha

    final = final_step(estimator)
    if type(final) is not LogisticRegression or final.class_weight is not None:
        return None
    if final.solver == "liblinear":
        return None
    penalty, l1_ratio = final.penalty, final.l1_ratio
    if penalty == "deprecated":  # scikit-learn >= 1.8: C and l1_ratio say it all
        ratio = 0.0 if l1_ratio is None else float(l1_ratio)
    elif penalty in ("l2", "l1"):
        ratio = 0.0 if penalty == "l2" else 1.0
    elif penalty == "elasticnet":
        ratio = float(l1_ratio)
    else:  # None or "none"
        return 0.0, 0.0
    if not np.isfinite(final.C):
        return 0.0, 0.0
    return 1.0 / final.C, ratio


def _routing_enabled():
    return bool(get_config().get("enable_metadata_routing", False))


def _fit_request(estimator):
    """The ``sample_weight`` request of ``estimator.fit`` under metadata routing (None: unset)."""
    return estimator.get_metadata_routing().fit.requests.get("sample_weight")


def _routed_pipeline(pipeline):
    """A pipeline whose weights reach its last step under metadata routing, as without it.

    Unset requests become: the last step requests ``sample_weight``, the other steps
    do not; requests the user set are kept.  ``pipeline`` is a fresh clone.
    """
    *head, (_, last) = pipeline.steps
    if _fit_request(last) is None:
        last.set_fit_request(sample_weight=True)
    for _, step in head:
        if step not in (None, "passthrough") and has_fit_parameter(step, "sample_weight"):
            if _fit_request(step) is None:
                step.set_fit_request(sample_weight=False)
    return pipeline


def fit_weighted(estimator, X, y, w):
    """``estimator.fit`` with sample weights ``w`` (to the last step of a pipeline)."""
    if isinstance(estimator, Pipeline) and _routing_enabled():
        _routed_pipeline(estimator).fit(X, y, sample_weight=w)
    else:
        estimator.fit(X, y, **{_weight_route(estimator): w})


def check_expert_estimators(expert, task, n_leaves):
    """Validated list of ``n_leaves`` template estimators from ``expert``."""
    templates = list(expert) if isinstance(expert, (list, tuple)) else [expert] * n_leaves
    if len(templates) != n_leaves:
        raise ValueError(
            f"expert is a list of {len(templates)} estimators, but the model has "
            f"{n_leaves} experts; give one estimator per expert, or a single one."
        )
    wanted, kind = (is_regressor, "regressor") if task == "regression" else (is_classifier, "classifier")
    for est in templates:
        if not hasattr(est, "fit") or isinstance(est, (str, numbers.Number)):
            raise TypeError(f"expert must be 'linear' or scikit-learn estimators, got {est!r}.")
        if not wanted(est):
            raise ValueError(f"expert {est!r} is not a {kind}, as this model's experts must be.")
        if task == "classification" and not hasattr(est, "predict_proba"):
            raise ValueError(
                f"expert {est!r} has no predict_proba; a classification expert's density is "
                "its probability of the observed class (e.g. SVC(probability=True), "
                "SGDClassifier(loss='log_loss'))."
            )
        if _weight_route(est) is None:
            raise ValueError(
                f"expert {est!r} does not accept sample_weight in fit; EM refits each expert "
                "with its posterior weights, so an expert must take them."
            )
        if isinstance(est, Pipeline) and _routing_enabled() and _fit_request(est.steps[-1][1]) is False:
            raise ValueError(
                f"the last step of expert {est!r} does not request sample_weight "
                "(set_fit_request(sample_weight=False)); EM refits each expert with its "
                "posterior weights, so its last step must take them."
            )
    return templates


def unset_seeds(estimator):
    """Names of the (nested) ``random_state`` parameters of ``estimator`` left at None."""
    return [
        name
        for name, value in estimator.get_params(deep=True).items()
        if (name == "random_state" or name.endswith("__random_state")) and value is None
    ]


def check_incremental(expert):
    """A ValueError unless every estimator of ``expert`` learns incrementally with weights.

    Online EM (``partial_fit`` of the mixture) updates each expert with its
    own ``partial_fit(X, y, sample_weight=...)``.
    """
    templates = list(expert) if isinstance(expert, (list, tuple)) else [expert]
    for est in templates:
        method = getattr(est, "partial_fit", None)
        if method is None or "sample_weight" not in inspect.signature(method).parameters:
            raise ValueError(
                f"partial_fit needs experts that learn incrementally: expert {est!r} has no "
                "partial_fit taking sample_weight. Use expert='linear' or an estimator such "
                "as SGDRegressor, SGDClassifier or MLPRegressor."
            )
