"""``partial_fit``: online EM on an estimator, one batch of rows at a time.

:class:`PartialFitMixin` holds the estimator's side: which experts allow
it, the first batch (fitted as ``fit`` does, or a warm start), the fitted
state and attributes after each batch.  The algorithm itself, running sums
blended batch by batch, is :func:`mixexp._online.online_step`.
"""

from dataclasses import replace

from sklearn.utils.metaestimators import available_if

from ._fitted import FitSources
from sklearn.utils.validation import _num_samples

from ._groups import check_groups, check_new_groups
from ._online import FIT_ATTRIBUTES, online_step
from ._parallel import runner
from .experts import check_incremental, check_summable


class PartialFitMixin:
    """Online EM (``partial_fit``) for the estimators whose experts allow it.

    Mixed into :class:`mixexp._base.BaseMixtureOfExperts`, left of
    ``BaseEstimator``; uses its ``_fit``, ``_atomic``, ``_design``, ``_sample_weight``
    and ``_set_fitted``.
    Classifiers override ``partial_fit`` (for ``classes``) under the same
    ``available_if(PartialFitMixin._can_partial_fit)``.
    """

    def _can_partial_fit(self):
        """Whether online EM can serve the experts: running sums, or estimators that
        learn incrementally with sample weights (``partial_fit`` exists only then)."""
        try:
            self._check_partial_fit()
        except (ValueError, TypeError) as exc:
            # what available_if reports when partial_fit is asked for
            raise AttributeError(str(exc)) from exc
        return True

    def _check_partial_fit(self):
        """A ValueError or TypeError, in words, where online EM cannot serve the experts."""
        check_summable(self._task, self.expert, "partial_fit (online EM)")
        if not isinstance(self.expert, str):
            check_incremental(self.expert)

    @available_if(_can_partial_fit)
    def partial_fit(self, X, y, sample_weight=None, *, groups=None):
        """Update the mixture with one batch of rows: a step of online EM.

        Each call runs the E-step on the batch, blends its row sums into
        running sums with step size ``(learning_offset + t) ** -learning_decay``
        for the ``t``-th batch, and takes the M-step from the running sums
        (Cappé & Moulines 2009; see ``mixexp._online``).  The first call fits
        the batch as :meth:`fit` does (``init_params``, ``n_init``,
        ``max_iter``) unless ``warm_start`` is True and the estimator is
        fitted, in which case it continues that model; either way its step is
        one EM iteration on the batch.  The internal standardisation of ``X``
        (and of regression targets) comes from that first batch or model and
        stays fixed, so the first batch should be representative of the
        stream's scale; nothing has to be scaled beforehand.  A later
        :meth:`fit` starts anew.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The batch's inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            The batch's targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the batch's rows.
        groups : array-like of shape (n_samples,), default=None
            Group labels of the batch's rows (panel data, as in :meth:`fit`): each
            group is taken whole, its rows sharing one latent expert. A group's
            rows must all be in one batch: a label seen in an earlier batch (since
            the last :meth:`fit`) raises ``ValueError``, and the model is unchanged.

        Returns
        -------
        self : object
            The updated estimator.

        Examples
        --------
        >>> import numpy as np
        >>> from mixexp import MixtureOfExpertsRegressor
        >>> rs = np.random.RandomState(0)
        >>> X = rs.normal(size=(400, 1))
        >>> y = np.where(X[:, 0] > 0, 2 * X[:, 0], -X[:, 0]) + 0.1 * rs.normal(size=400)
        >>> model = MixtureOfExpertsRegressor(2, random_state=0)
        >>> for batch in np.array_split(np.arange(400), 4):
        ...     model = model.partial_fit(X[batch], y[batch])
        >>> model.n_batch_iter_
        4
        """
        return self._atomic(self._partial_fit, X, y, sample_weight, None, groups)

    def _first_batch_info(self, classes):
        """What gives the target information of a first ``partial_fit`` (classifiers:
        ``classes``): a callable of the expert family, or None (the batch)."""
        return None

    def _partial_fit(self, X, y, sample_weight, classes, groups=None):
        self._validate_params()
        self._check_partial_fit()
        running = getattr(self, "_online", None)
        first = running is None and not (self.warm_start and getattr(self, "_fitted", None) is not None)
        seen = None if first else getattr(self, "_seen_groups", None)
        if groups is not None:
            seen = check_new_groups(check_groups(groups, _num_samples(X))[1], seen)
        if first:
            info = self._first_batch_info(classes)
            self._fit(X, y, sample_weight, sources=FitSources(info=info), groups=groups)
        elif classes is not None:
            self._check_classes(classes)
        design, state = self._design(X, y, groups=groups)
        sw = self._sample_weight(sample_weight, design.Xa)
        design.sw = sw if design.order is None else sw[design.order]
        state.experts.check_input(design.expert_X)
        with runner(design.n_rows) as run:
            params, running, loglik = online_step(
                state.engine(run), state.params, design, running, self.learning_decay, self.learning_offset
            )
        state = replace(state, params=params)
        state.target_range = self._target_range(state, design, previous=state.target_range)
        self._set_fitted(state, state.public_attributes(self._is_flat), drop=FIT_ATTRIBUTES)
        self._online = running
        self._seen_groups = seen  # the groups of the batches since the last fit
        self.n_batch_iter_ = running.n_steps
        self.n_samples_seen_ = running.n_seen
        self.batch_log_likelihood_ = float(loglik + state.loglik_shift())
        return self
