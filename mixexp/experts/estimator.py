"""Any scikit-learn estimator as an expert: a gated mixture of arbitrary models.

Each leaf holds its own clone of a template estimator (one template for all
leaves, or one per leaf).  Its M-step refits it on all rows with
``sample_weight = posterior x sample weight``.  A regression expert's density
is Gaussian around its prediction, with a noise variance per expert and
target from its weighted residuals; a classification expert's density is its
``predict_proba`` of the observed class.

A weighted refit need not maximise the weighted log-likelihood (a tree, a
network or a penalised model maximises something else), so EM with such
experts is only approximately monotone: the engine goes on through at most
``NON_GAIN_PATIENCE`` (5) iterations in a row without gain and returns the best
iterate.  Penalised linear
models whose penalty is known (:class:`~sklearn.linear_model.Ridge`,
:class:`~sklearn.linear_model.LogisticRegression`, also as the last step of a
pipeline) count it in the objective, as the built-in linear experts do: their
refits are then exact M-steps of the penalised likelihood and EM is monotone
in it; a Ridge expert's noise variance is ``(RSS + alpha ||coef||^2) / weight``,
the exact M-step of its conjugate prior, so that ``expert=Ridge(alpha=a)`` is
``alpha=a`` with linear experts.  Without the penalty in the objective, EM
stopped where a refit traded likelihood for penalty, long before convergence.
Inputs are the
internally standardised features, without the column of ones; regression
targets are standardised too.  The row sums an estimator's M-step needs are
its rows and weights themselves.

An expert that has not received any responsibility yet (an empty cluster of
the initial partition) starts fitted to all rows with their sample weights, as
linear experts start from the marginal of ``y``; while it receives none, it
keeps that state (a frozen expert).  Otherwise the first refit would have no
estimator to predict with.
"""

import copy

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.utils import check_random_state, get_tags

from .._numerics.densities import gaussian_logdens
from .base import ExpertComponent
from .gaussian import LinearGaussianExperts
from .multinomial import MultinomialExperts
from .representation import estimator_representation
from .templates import final_step, fit_weighted, logistic_penalty, ridge_alpha, unset_seeds

_TINY = np.finfo(np.float64).tiny


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


class EstimatorExperts(ExpertComponent):
    """scikit-learn estimators as the leaf experts.

    Parameters
    ----------
    templates : list of estimators, one per leaf (cloned before fitting).
    task : {"regression", "classification"}
    reg_variance : float
        Lower bound on every regression expert's noise variance, relative to
        each target's variance.
    random_state : None, int or RandomState
        The model's ``random_state``.  Unless None, every leaf's clone gets a
        seed of its own in each ``random_state`` parameter the template left
        at None (the same seed at every refit): fits are reproducible, and
        successive refits of a leaf differ only by their weights.
    """

    exact = False  # a weighted refit only approximates the M-step
    incremental = True  # online EM: each expert's partial_fit on the batch
    per_leaf = True
    gives_representation = True

    @property
    def standardises_target(self):
        return self.task == "regression"

    def __init__(self, templates, task, reg_variance=1e-6, random_state=None):
        self.templates = templates
        self.task = task
        self.reg_variance = reg_variance
        self.seeds = [{} for _ in templates]
        if random_state is not None and any(unset_seeds(t) for t in templates):
            rs = check_random_state(random_state)
            for leaf, template in enumerate(templates):
                self.seeds[leaf] = {
                    name: int(rs.randint(np.iinfo(np.int32).max)) for name in unset_seeds(template)
                }
        self._targets = LinearGaussianExperts(0.0, reg_variance) if task == "regression" else MultinomialExperts(0.0)

    def check_inference(self):
        """Refused: an estimator has no parameter vector whose likelihood the mixture knows."""
        names = ", ".join(sorted({type(t).__name__ for t in self.templates}))
        raise ValueError(
            f"summary() and parameter_inference() cannot give standard errors for scikit-learn "
            f"estimators as experts ({names}): the mixture sees their predictions, not a parameter "
            "vector whose likelihood it could differentiate, and a weighted refit need not maximise "
            "the likelihood. Use a built-in family (expert='linear', 'student_t', 'poisson', "
            "'gamma', 'zip') for standard errors."
        )

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
        # an inactive leaf keeps its estimator; one never fitted (e.g. an empty k-means
        # cluster at the start) is fitted to all rows with their sample weights instead
        sw = W.sum(axis=1)
        fit = [leaf for leaf in range(W.shape[1]) if active[leaf] or estimators[leaf] is None]
        for leaf in fit:
            w = W[:, leaf] if active[leaf] else sw
            Xl, yl, tl, wl = self._weighted_rows(X, y, target, w)
            est = learn(leaf, Xl, yl, wl)
            estimators[leaf] = est
            if self.task == "regression":
                resid = tl - np.asarray(est.predict(Xl), dtype=np.float64).reshape(tl.shape)
                rss = wl @ resid**2
                alpha = ridge_alpha(est)
                if alpha is not None:  # the exact M-step of the ridge prior alpha / (2 var)
                    rss = rss + alpha * self._sq_coef(est, target.shape[1])
                var = (1.0 - gamma) * params["var"][leaf] + gamma * (rss / wl.sum())
                new["var"][leaf] = np.maximum(var, self.reg_variance)
        return new

    def _weighted_rows(self, X, y, target, w):
        """The rows ``(X, y, target, w)`` a leaf with weights ``w`` is fitted on: those of
        positive weight.  A row of weight 0 changes no weighted fit, but a mini-batch of
        such rows stops an MLP (its weights sum to 0), and fitting on them costs time.

        A classification leaf whose weighted rows hold one class only keeps all rows, the
        others at a weight ``1e-8`` times the largest: most classifiers refuse one class
        (or, as gradient boosting, drop the classes of weight 0), and the fit is then that
        of the leaf's weights to within that factor.
        """
        positive = w > 0
        if self.task == "classification" and np.unique(y[positive]).size < 2 <= np.unique(y).size:
            return X, y, target, np.maximum(w, 1e-8 * w.max())
        if positive.all():
            return X, y, target, w
        rows = np.flatnonzero(positive)
        return X[rows], y[rows], target[rows], w[rows]

    def _fresh(self, leaf):
        """An unfitted clone of leaf ``leaf``'s template, with its seed."""
        return clone(self.templates[leaf]).set_params(**self.seeds[leaf])

    def update(self, S, params, active, safe=False):
        """Refit the experts whose ``active`` flag is set, with their posterior weights."""

        def refit(leaf, X, y, w):
            previous = params["estimators"][leaf]
            if previous is not None and self.templates[leaf].get_params().get("warm_start") is True:
                est = copy.deepcopy(previous)  # warm_start=True: continue from the last M-step
            else:
                est = self._fresh(leaf)
            fit_weighted(est, X, y, w)
            return est

        return self._refit(S, params, active, refit), False

    def partial_update(self, S, params, active, gamma):
        """Online EM's step: each active expert's ``partial_fit`` on one batch.

        The batch's rows (``S``, its stats) are weighted by the leaf's
        posteriors; a regression expert's noise variance moves a fraction
        ``gamma`` of the way to the batch's weighted residual variance.
        The experts' own learning rates set how far they move.
        """

        def learn(leaf, X, y, w):
            previous = params["estimators"][leaf]
            # the previous model stays as it was
            est = self._fresh(leaf) if previous is None else copy.deepcopy(previous)
            est.partial_fit(X, y, sample_weight=w)
            return est

        return self._refit(S, params, active, learn, gamma)

    @staticmethod
    def _sq_coef(est, n_outputs):
        """``||coef||^2`` of a linear expert for each output, ``(n_outputs,)``."""
        coef = np.asarray(final_step(est).coef_, dtype=np.float64).reshape(n_outputs, -1)
        return np.sum(coef**2, axis=1)

    def penalty(self, params):
        """The penalties of the experts whose refits are penalised fits of known form.

        A :class:`~sklearn.linear_model.Ridge` expert's refit maximises the weighted
        log-likelihood minus ``alpha ||coef||^2 / (2 var)`` (with the noise variance
        from residuals and penalty, as linear experts); a
        :class:`~sklearn.linear_model.LogisticRegression` expert's, minus its penalty
        ``(1 / C) (l1_ratio |coef|_1 + (1 - l1_ratio) / 2 ||coef||^2)``.  Counting these
        makes EM with such experts monotone in the penalised objective, as with
        the built-in experts, instead of stopping early where the refit trades
        likelihood for penalty.  Other estimators count 0.
        """
        total = 0.0
        for leaf, est in enumerate(params["estimators"]):
            if est is None:
                continue
            alpha = ridge_alpha(est)
            if alpha is not None:
                var = params["var"][leaf]
                total += 0.5 * float(np.sum(alpha * self._sq_coef(est, var.shape[0]) / var))
                continue
            logistic = logistic_penalty(est)
            if logistic is not None:
                strength, ratio = logistic
                coef = np.asarray(final_step(est).coef_, dtype=np.float64)
                l1, l2 = np.sum(np.abs(coef)), np.sum(coef**2)
                total += strength * (ratio * l1 + 0.5 * (1.0 - ratio) * l2)
        return total

    def n_free_params(self, params):
        """Coefficients of linear-model experts and the noise variances; others have no count.

        A classifier with one row of coefficients per class (a softmax over ``K > 2``
        classes) has ``K - 1`` free rows, as the built-in multinomial experts count.
        """
        count = params["var"].size if "var" in params else 0
        for est in params["estimators"]:
            final = final_step(est)
            if not hasattr(final, "coef_"):
                raise ValueError(
                    f"the number of free parameters of expert {est!r} is unknown (it has no "
                    "coef_), so bic and aic are not defined for this model."
                )
            coef = np.atleast_2d(final.coef_)
            fitted_intercept = getattr(final, "fit_intercept", True) and hasattr(final, "intercept_")
            n = coef.size + (np.size(final.intercept_) if fitted_intercept else 0)
            if self.task == "classification" and coef.shape[0] == params["n_classes"] > 2:
                n -= n // coef.shape[0]  # softmax rows are defined up to a common shift
            count += n
        return count

    def representation(self, Xa, params):
        """Each leaf's representation of the rows for an attention gate, ``(n, n_leaves, r)``
        (see :mod:`mixexp.experts.representation`); before the first fit, zeros."""
        n_leaves = len(params["estimators"])
        if params["estimators"][0] is None:
            return np.zeros((Xa.shape[0], n_leaves, 1))
        X = self._inputs(Xa)
        reps = [estimator_representation(est, X, self.task, params.get("n_classes")) for est in params["estimators"]]
        if len({r.shape[1] for r in reps}) > 1:
            raise ValueError(
                "gate='attention' compares the experts' representations, which must have one size; "
                f"these experts give sizes {sorted({r.shape[1] for r in reps})}."
            )
        return np.stack(reps, axis=1)

    def leaf_params(self, params, leaves):
        """The estimators (and variances) of the leaves ``leaves`` only (for top-k prediction)."""
        new = {**params, "estimators": [params["estimators"][leaf] for leaf in leaves]}
        if "var" in params:
            new["var"] = params["var"][leaves]
        return new

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
