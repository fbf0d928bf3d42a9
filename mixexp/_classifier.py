"""What every mixexp classifier shares: labels and the mixture's class probabilities."""

import numpy as np
from scipy.special import logsumexp
from sklearn.base import ClassifierMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

from ._base import BaseMixtureOfExperts
from ._partial_fit import PartialFitMixin


# Below this the probability-space sum of the mixture may have lost terms that
# underflowed (to subnormals or 0): such rows are summed again in log space.
TINY_PROBA = 1e-250


def _mixture_proba(chunk, log):
    """The mixture's class probabilities ``(n, n_classes)`` of the rows of ``chunk`` (a
    :class:`~mixexp._predict.RoutedRows`), as a tuple, with ``log`` followed by their logs.

    Summed in probability space; rows where a class's probability is below
    :data:`TINY_PROBA` are summed in log space (``logsumexp``), where nothing underflows.
    """
    proba = chunk.mixture("leaf_proba")
    with np.errstate(divide="ignore"):
        log_proba = np.log(proba) if log else None
        if proba.min() >= TINY_PROBA:  # the usual chunk: one reduction, not one per row
            tiny = np.empty(0, dtype=np.intp)
        else:
            tiny = np.flatnonzero(~(proba.min(axis=1) >= TINY_PROBA))  # NaN too
        if tiny.size:
            log_gate = np.log(chunk.gates[tiny])
            exact = logsumexp(log_gate[:, :, None] + chunk.leaves("leaf_log_proba", tiny), axis=1)
            proba[tiny] = np.exp(exact)
            if log:
                log_proba[tiny] = exact
    return (proba, log_proba) if log else (proba,)


class MixtureClassifierBase(ClassifierMixin, BaseMixtureOfExperts):
    """Classification experts over the classes seen in ``fit``."""

    _task = "classification"

    def _validate_xy(self, X, y, finite=True):
        X, y = validate_data(
            self, X, y, accept_sparse=["csr", "csc"], dtype=[np.float64, np.float32],
            ensure_all_finite=finite,
        )
        check_classification_targets(y)
        if np.unique(y).shape[0] < 2:
            raise ValueError(
                "Classifier can't train when only one class is present: "
                f"y has 1 class ({np.unique(y)[0]!r})."
            )
        return X, y

    @available_if(PartialFitMixin._can_partial_fit)
    def partial_fit(self, X, y, sample_weight=None, classes=None, *, groups=None):
        """Update the mixture with one batch of rows: a step of online EM.

        Each call runs the E-step on the batch, blends its row sums into
        running sums with step size ``(learning_offset + t) ** -learning_decay``
        for the ``t``-th batch, and takes the M-step from the running sums
        (Cappé & Moulines 2009; see ``mixexp._online``).  The first call fits
        the batch as :meth:`fit` does unless ``warm_start`` is True and the
        estimator is fitted, in which case it continues that model; either
        way its step is one EM iteration on the batch.  The internal
        standardisation of ``X`` comes from that first batch or model and
        stays fixed.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The batch's inputs.
        y : array-like of shape (n_samples,)
            The batch's labels, all among ``classes``.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the batch's rows.
        classes : array-like of shape (n_classes,), default=None
            Every class the stream holds.  Required on the first call (a
            fitted estimator's ``classes_`` stand in for it); later calls
            may omit it or must repeat it.
        groups : array-like of shape (n_samples,), default=None
            Group labels of the batch's rows (panel data, as in :meth:`fit`): each
            group is taken whole, its rows sharing one latent expert. A group's
            rows must all be in one batch: a label seen in an earlier batch (since
            the last :meth:`fit`) raises ``ValueError``, and the model is unchanged.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._atomic(self._partial_fit, X, y, sample_weight, classes, groups)

    def _first_batch_info(self, classes):
        if classes is None:
            fitted = getattr(self, "_fitted", None)
            if fitted is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            return lambda experts: fitted.info
        classes = np.unique(np.asarray(classes))
        if classes.shape[0] < 2:
            raise ValueError(f"classes must hold at least 2 classes, got {classes!r}.")
        return lambda experts: experts.prepare_target(classes, np.ones(classes.shape[0]))[1]

    def _check_classes(self, classes):
        fitted = self._state().info["classes"]
        if not np.array_equal(np.unique(np.asarray(classes)), fitted):
            raise ValueError(
                f"classes={classes!r} is not the same as the model's classes {fitted!r}; "
                "partial_fit cannot add classes. Fit anew to change them."
            )

    def predict_log_proba(self, X, *, groups=None, history=None):
        """Log of :meth:`predict_proba`, accurate for probabilities far below 1e-308.

        With ``top_k`` set, the mixture of each sample's ``top_k`` most
        probable experts, their gates renormalised.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.
        groups : array-like of shape (n_samples,), default=None
            Group labels of the rows (panel data); used with ``history``.
        history : tuple (X_h, y_h, groups_h) or (X_h, y_h, groups_h, exposure_h), default=None
            Past rows of some groups (experience rating): a row whose group has
            history is weighted by that group's posterior over the experts given
            its history (the gate at the group's features times the likelihood
            of its past rows) instead of the gate; other rows by the gate.  See
            ``docs/panel.md``.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``.
        """
        return self._routed_rows(
            X, lambda chunk: _mixture_proba(chunk, log=True), groups=groups, history=history
        )[1]

    def predict_proba(self, X, *, groups=None, history=None):
        """Class probabilities of the mixture, ``sum_k g_k(x) p_k(c | x)``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.
        groups : array-like of shape (n_samples,), default=None
            Group labels of the rows (panel data); used with ``history``.
        history : tuple (X_h, y_h, groups_h) or (X_h, y_h, groups_h, exposure_h), default=None
            Past rows of some groups (experience rating): a row whose group has
            history is weighted by that group's posterior over the experts given
            its history (the gate at the group's features times the likelihood
            of its past rows) instead of the gate; other rows by the gate.  See
            ``docs/panel.md``.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Rows sum to 1; columns follow ``classes_``.
        """
        return self._routed_rows(
            X, lambda chunk: _mixture_proba(chunk, log=False), groups=groups, history=history
        )[0]

    def predict(self, X, *, groups=None, history=None):
        """Most probable class under the mixture.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.
        groups : array-like of shape (n_samples,), default=None
            Group labels of the rows (panel data); used with ``history``.
        history : tuple (X_h, y_h, groups_h) or (X_h, y_h, groups_h, exposure_h), default=None
            Past rows of some groups (experience rating): a row whose group has
            history is weighted by that group's posterior over the experts given
            its history (the gate at the group's features times the likelihood
            of its past rows) instead of the gate; other rows by the gate.  See
            ``docs/panel.md``.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        log_proba = self.predict_log_proba(X, groups=groups, history=history)
        return self._state().info["classes"][np.argmax(log_proba, axis=1)]

    def score(self, X, y, sample_weight=None, *, groups=None, history=None):
        """Accuracy of :meth:`predict` on ``(X, y)``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,)
            True labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows.
        groups : array-like of shape (n_samples,), default=None
            Group labels of the rows (panel data); used with ``history``.
        history : tuple (X_h, y_h, groups_h) or (X_h, y_h, groups_h, exposure_h), default=None
            Past rows of some groups (experience rating): a row whose group has
            history is weighted by that group's posterior over the experts given
            its history (the gate at the group's features times the likelihood
            of its past rows) instead of the gate; other rows by the gate.  See
            ``docs/panel.md``.

        Returns
        -------
        score : float
            Accuracy of ``predict(X, groups=groups, history=history)``.
        """
        from sklearn.metrics import accuracy_score

        return accuracy_score(y, self.predict(X, groups=groups, history=history), sample_weight=sample_weight)

    def predict_experts(self, X):
        """Each expert's own class probabilities.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_experts, n_classes)
        """
        design, state = self._design(X)
        return np.exp(state.experts.leaf_log_proba(design.expert_X, state.params["experts"], state.info))
