"""Any scikit-learn estimator as an expert: a gated mixture of arbitrary models.

Each leaf holds its own clone of a template estimator (one template for all
leaves, or one per leaf).  Its M-step refits it on all rows with
``sample_weight = posterior x sample weight``.  A regression expert's density
is Gaussian around its prediction, with a noise variance per expert and
target from its weighted residuals; a classification expert's density is its
``predict_proba`` of the observed class.

A weighted refit need not maximise the weighted log-likelihood (a tree, a
network or a penalised model maximises something else), so EM with such
experts is only approximately monotone: the engine keeps the best iterate
and stops at the first iteration that does not gain.  Inputs are the
internally standardised features, without the column of ones; regression
targets are standardised too.  The row sums an estimator's M-step needs are
its rows and weights themselves.
"""

import copy
import inspect
import numbers

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.pipeline import Pipeline
from sklearn.utils import get_tags
from sklearn.utils.validation import has_fit_parameter

from .._kernels import gaussian_logdens
from .gaussian import LinearGaussianExperts
from .multinomial import MultinomialExperts

_TINY = np.finfo(np.float64).tiny


def _weight_route(estimator):
    """How ``fit`` of ``estimator`` takes sample weights: a keyword name, or None."""
    if has_fit_parameter(estimator, "sample_weight"):
        return "sample_weight"
    if isinstance(estimator, Pipeline):
        name, last = estimator.steps[-1]
        if last != "passthrough" and has_fit_parameter(last, "sample_weight"):
            return f"{name}__sample_weight"
    return None


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
        if _weight_route(est) is None:
            raise ValueError(
                f"expert {est!r} does not accept sample_weight in fit; EM refits each expert "
                "with its posterior weights, so an expert must take them."
            )
    return templates


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


def _stacked(rows):
    """The rows ``[(Xa, target, W), ...]`` of the stats, stacked into one ``(Xa, target, W)``."""
    if len(rows) == 1:
        return rows[0]
    stack = sp.vstack if sp.issparse(rows[0][0]) else np.vstack
    return (
        stack([r[0] for r in rows]),
        np.concatenate([r[1] for r in rows]),
        np.vstack([r[2] for r in rows]),
    )


class EstimatorExperts:
    """scikit-learn estimators as the leaf experts.

    Parameters
    ----------
    templates : list of estimators, one per leaf (cloned before fitting).
    task : {"regression", "classification"}
    reg_variance : float
        Lower bound on every regression expert's noise variance, relative to
        each target's variance.
    """

    exact = False  # a weighted refit only approximates the M-step
    closed_form = True

    def __init__(self, templates, task, reg_variance=1e-6):
        self.templates = templates
        self.task = task
        self.reg_variance = reg_variance
        self._targets = LinearGaussianExperts(0.0, reg_variance) if task == "regression" else MultinomialExperts(0.0)

    # -- targets: as the linear family of the same task ----------------------
    def prepare_target(self, y, sw):
        return self._targets.prepare_target(y, sw)

    def check_target(self, y, n_samples, info):
        return self._targets.check_target(y, n_samples, info)

    def kmeans_features(self, target):
        return self._targets.kmeans_features(target)

    def loglik_shift(self, info):
        return self._targets.loglik_shift(info)

    # -- the component --------------------------------------------------------
    def init_params(self, n_leaves, n_params, info):
        params = {"estimators": [None] * n_leaves}
        if self.task == "regression":
            params["var"] = np.ones((n_leaves, info["n_outputs"]))
        else:
            params["n_classes"] = info["n_outputs"]
        return params

    def check_input(self, Xa):
        if sp.issparse(Xa):
            for est in self.templates:
                if not get_tags(est).input_tags.sparse:
                    raise TypeError(
                        f"expert {est!r} does not accept sparse X; convert X to a dense array "
                        "or choose an expert that takes sparse input."
                    )

    @staticmethod
    def _inputs(Xa):
        return Xa[:, :-1]

    def _predictions(self, Xa, params):
        """Regression: each leaf's mean ``(n, n_leaves, n_targets)``; classification: log-probabilities."""
        X = self._inputs(Xa)
        out = []
        for est in params["estimators"]:
            if self.task == "regression":
                out.append(np.asarray(est.predict(X), dtype=np.float64).reshape(X.shape[0], -1))
            else:
                proba = np.zeros((X.shape[0], params["n_classes"]))
                proba[:, est.classes_.astype(np.int64)] = est.predict_proba(X)
                out.append(np.log(np.maximum(proba, _TINY)))
        return np.stack(out, axis=1)

    def scores(self, Xa, target, params):
        n_leaves = len(params["estimators"])
        if params["estimators"][0] is None:  # not fitted yet: every density is 1
            return np.zeros((Xa.shape[0], n_leaves)), None
        pred = self._predictions(Xa, params)
        if self.task == "classification":
            return pred[np.arange(Xa.shape[0]), :, target], None
        out = np.empty((Xa.shape[0], n_leaves))
        gaussian_logdens(pred.reshape(Xa.shape[0], -1), target, params["var"], out)
        return out, None

    def stats(self, Xa, target, W, params, ctx):
        return {"rows": [(Xa, target, W)]}

    def _refit(self, S, params, active, learn, gamma=1.0):
        """Each active leaf's estimator from ``learn(leaf, X, y, w)``, with its posterior
        weights ``w``; a regression expert's noise variance moves a fraction ``gamma`` of
        the way to its weighted residual variance."""
        Xa, target, W = _stacked(S["rows"])
        X = self._inputs(Xa)
        y = target[:, 0] if self.task == "regression" and target.shape[1] == 1 else target
        estimators = list(params["estimators"])
        new = {**params, "estimators": estimators}
        if self.task == "regression":
            new["var"] = params["var"].copy()
        for leaf in np.flatnonzero(active):
            w = W[:, leaf]
            est = learn(leaf, X, y, w)
            estimators[leaf] = est
            if self.task == "regression":
                resid = target - np.asarray(est.predict(X), dtype=np.float64).reshape(target.shape)
                var = (1.0 - gamma) * params["var"][leaf] + gamma * (w @ resid**2 / w.sum())
                new["var"][leaf] = np.maximum(var, self.reg_variance)
        return new

    def update(self, S, params, active, safe=False):
        """Refit the experts whose ``active`` flag is set, with their posterior weights."""

        def refit(leaf, X, y, w):
            est = clone(self.templates[leaf])
            return est.fit(X, y, **{_weight_route(est): w})

        return self._refit(S, params, active, refit), False

    def partial_update(self, S, params, active, gamma):
        """Online EM's step: each active expert's ``partial_fit`` on one batch.

        The batch's rows (``S``, its stats) are weighted by the leaf's
        posteriors; a regression expert's noise variance moves a fraction
        ``gamma`` of the way to the batch's weighted residual variance.
        The experts' own learning rates set how far they move.
        """

        def learn(leaf, X, y, w):
            est = copy.deepcopy(params["estimators"][leaf])  # the previous model stays as it was
            est.partial_fit(X, y, sample_weight=w)
            return est

        return self._refit(S, params, active, learn, gamma)

    def penalty(self, params):
        return 0.0

    def n_free_params(self, params):
        """Coefficients of linear-model experts and the noise variances; others have no count."""
        count = params["var"].size if "var" in params else 0
        for est in params["estimators"]:
            final = est.steps[-1][1] if isinstance(est, Pipeline) else est
            if not hasattr(final, "coef_"):
                raise ValueError(
                    f"the number of free parameters of expert {est!r} is unknown (it has no "
                    "coef_), so bic and aic are not defined for this model."
                )
            count += np.size(final.coef_) + np.size(getattr(final, "intercept_", 0))
        return count

    # -- fitted attributes and predictions --------------------------------------
    def attributes(self, params, coords, info):
        attrs = {"experts_": list(params["estimators"])}
        if self.task == "regression":
            attrs["noise_variance_"] = params["var"] * info["scale"] ** 2
        else:
            attrs["classes_"] = info["classes"]
        return attrs

    def moments(self, Xa, params, info):
        """Each leaf's predictive mean and variance in the units of y, ``(n, n_leaves, n_targets)``."""
        means = self._predictions(Xa, params)
        var = np.broadcast_to(params["var"] * info["scale"] ** 2, means.shape)
        return means * info["scale"] + info["mean"], var

    # Gaussian noise around each expert's mean, as for linear experts
    sample = LinearGaussianExperts.sample

    def leaf_log_proba(self, Xa, params, info):
        """Each leaf's class log-probabilities, ``(n, n_leaves, n_classes)``."""
        return self._predictions(Xa, params)
