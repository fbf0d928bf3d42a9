"""What a fitted mixture tells about data: its gates, the posterior of each
expert, the log-likelihood and the information criteria, the parameter table.

:class:`InspectionMixin` reads only the fitted state (``_fitted``, a
:class:`mixexp._fitted.FittedMixture`), never the estimator's current
parameters, through the prediction driver of :class:`mixexp._predict.PredictionMixin`
(``_design``, ``_e_step``, ``_routed_rows``), which the regressors' and
classifiers' predictions use as well.
"""

import numpy as np
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import _num_samples

from ._numerics.estep import tree_posteriors
from ._parallel import runner
from .gates import GATES
from ._information import parameter_inference, summary_table
from .selection import assignment_entropy


class InspectionMixin:
    """Inspection of a fitted mixture: gates, responsibilities, likelihoods, criteria, summary.

    Mixed into :class:`mixexp._base.BaseMixtureOfExperts`, left of
    :class:`mixexp._predict.PredictionMixin`, whose members it calls.
    """

    def predict_gate(self, X, *, groups=None, history=None):
        """Gate probability of each leaf expert (path products for a tree).

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
        gates : ndarray of shape (n_samples, n_experts)
            Rows sum to 1; with ``history``, a row of a group with history holds
            that group's posterior.
        """
        return self._routed_rows(X, lambda chunk: (chunk.gates,), routed=False, groups=groups, history=history)[0]

    def predict_node_gates(self, X):
        """Each inner node's gate probabilities over its children.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        gates : ndarray of shape (n_samples, n_inner_nodes, branching)
            Inner nodes in breadth-first order (a flat mixture has one, the root).
        """
        design, state = self._design(X)
        t = state.tree
        out = np.empty((design.n_rows, t.n_nodes))
        log_gate = state.engine().gate_scores(design.gate_X, design.expert_X, state.params)[0]
        zeros = np.zeros((design.n_rows, t.n_leaves))
        tree_posteriors(log_gate, zeros, t.branching, out, np.empty(design.n_rows), True)
        return out[:, 1:].reshape(design.n_rows, t.n_inner, t.branching)

    def responsibilities(self, X, y, exposure=None, *, groups=None, y_upper=None, truncation=None):
        """Posterior probability of each expert given ``(x, y)``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets.
        exposure : array-like of shape (n_samples,), default=None
            Positive exposures of the log-link families (``expert="poisson"``,
            ``"gamma"``, ``"zip"``, ``"negative_binomial"``): the mean is
            proportional to them.  None:
            every exposure is 1.
        groups : array-like of shape (n_samples,), default=None
            Group labels of grouped rows (panel data), as given to ``fit``: all
            rows of a group share one latent expert.  None: every row is its own group.
        y_upper : array-like of shape (n_samples,), default=None
            Upper ends of censored responses, as given to ``fit``: a row with
            ``y_upper > y`` is known only to lie in ``[y, y_upper]`` (``inf``:
            right-censored at ``y``); ``y_upper == y``: exact.  See ``docs/censoring.md``.
        truncation : tuple (lower, upper), default=None
            Scalars or arrays of shape (n_samples,): each row was observed only
            because its response fell in ``(lower, upper]``.

        Returns
        -------
        responsibilities : ndarray of shape (n_samples, n_experts)
            Rows sum to 1; with ``groups``, each row's is its group's posterior.
        """
        return self._e_step(X, y, exposure=exposure, groups=groups, y_upper=y_upper, truncation=truncation)[0][0]

    def log_likelihood(self, X, y, exposure=None, *, groups=None, y_upper=None, truncation=None):
        """``log p(y_i | x_i)`` of each sample (with ``groups``: of each group's rows) under
        the fitted model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets.
        exposure : array-like of shape (n_samples,), default=None
            Positive exposures of the log-link families (``expert="poisson"``,
            ``"gamma"``, ``"zip"``, ``"negative_binomial"``): the mean is
            proportional to them.  None:
            every exposure is 1.
        groups : array-like of shape (n_samples,), default=None
            Group labels of grouped rows (panel data), as given to ``fit``: all
            rows of a group share one latent expert.  None: every row is its own group.
        y_upper : array-like of shape (n_samples,), default=None
            Upper ends of censored responses, as given to ``fit``: a row with
            ``y_upper > y`` is known only to lie in ``[y, y_upper]`` (``inf``:
            right-censored at ``y``); ``y_upper == y``: exact.  See ``docs/censoring.md``.
        truncation : tuple (lower, upper), default=None
            Scalars or arrays of shape (n_samples,): each row was observed only
            because its response fell in ``(lower, upper]``.

        Returns
        -------
        log_likelihood : ndarray of shape (n_samples,), or (n_groups,) with ``groups``
            With ``groups``, ``log p(y_g | x_g)`` of every group, in ``np.unique(groups)``
            order.  A censored row's is the log-probability of its interval; a truncated
            row's is divided by the probability of its truncation interval.
        """
        (_, joint), design, state = self._e_step(
            X, y, exposure=exposure, groups=groups, y_upper=y_upper, truncation=truncation
        )
        if state.gate.models_x:  # the objective is log p(x, y): subtract log p(x)
            with runner(design.n_rows) as run:
                joint = joint - state.engine(run).e_step(state.params, design, experts=False)[1]
        shift = state.experts.loglik_shift(state.info)
        return joint + (shift * np.diff(design.starts) if design.grouped else shift)

    def _models_x(self):
        """Whether the model has a density of x: the fitted gate's, else the parameter's."""
        fitted = getattr(self, "_fitted", None)
        if fitted is not None:
            return fitted.gate.models_x
        gate = GATES.get(self.gate) if isinstance(self.gate, str) else None
        return gate is not None and gate.models_x

    @available_if(_models_x)
    def score_samples(self, X):
        """Log-density ``log p(x)`` of the inputs under the Gaussian gate's mixture.

        Inputs unlike the training inputs get low values: an outlier score.
        Only with ``gate="gaussian"``, which models ``x`` (after ``fit``: the
        fitted gate decides, whatever ``set_params`` changed since).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
            In the units of the raw features.
        """
        (_, log_px), _, state = self._e_step(X, experts=False)
        if not state.gate.models_x:
            raise ValueError(
                f"score_samples needs a model of x (gate='gaussian'); this model was "
                f"fitted with gate={state.gate_name!r}."
            )
        return log_px + state.gate.loglik_shift(state.coordinates("gate"))

    def _n_parameters(self):
        state = self._state()
        return state.engine().n_free_params(state.params)

    def _criterion_log_likelihood(self, X, y, exposure=None, groups=None, y_upper=None, truncation=None):
        """Per-row (with ``groups``: per-group) log-likelihood of the objective EM maximised:
        ``log p(y | x)``, plus ``log p(x)`` when the gate models ``x`` (``gate="gaussian"``;
        a group's gate features once), whose means and covariances the parameter count
        then includes."""
        if groups is not None:
            (_, joint), design, state = self._e_step(
                X, y, exposure=exposure, groups=groups, y_upper=y_upper, truncation=truncation
            )
            shift = state.experts.loglik_shift(state.info) * np.diff(design.starts)
            if state.gate.models_x:
                shift = shift + state.gate.loglik_shift(state.coordinates("gate"))
            return joint + shift
        ll = self.log_likelihood(X, y, exposure, y_upper=y_upper, truncation=truncation)
        if self._models_x():
            ll = ll + self.score_samples(X)
        return ll

    def bic(self, X, y, exposure=None, *, groups=None, y_upper=None, truncation=None):
        """Bayesian information criterion on ``(X, y)``; lower is better.

        ``-2 log L + k log n`` with ``k`` free parameters.  ``L`` is the
        likelihood EM maximised: of ``y`` given ``x``, or, with
        ``gate="gaussian"``, of ``(x, y)`` (the gate's model of ``x`` counts
        in ``k``), as :meth:`sklearn.mixture.GaussianMixture.bic`.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets.
        exposure : array-like of shape (n_samples,), default=None
            Positive exposures of the log-link families (``expert="poisson"``,
            ``"gamma"``, ``"zip"``, ``"negative_binomial"``): the mean is
            proportional to them.  None:
            every exposure is 1.
        groups : array-like of shape (n_samples,), default=None
            Group labels of grouped rows (panel data), as given to ``fit``; ``L``
            is then the product of the groups' likelihoods, and ``n`` stays the
            number of rows (as flexmix's ``BIC``).
        y_upper : array-like of shape (n_samples,), default=None
            Upper ends of censored responses, as given to ``fit``: a row with
            ``y_upper > y`` is known only to lie in ``[y, y_upper]`` (``inf``:
            right-censored at ``y``); ``y_upper == y``: exact.  See ``docs/censoring.md``.
        truncation : tuple (lower, upper), default=None
            Scalars or arrays of shape (n_samples,): each row was observed only
            because its response fell in ``(lower, upper]``.

        Returns
        -------
        bic : float
        """
        ll = self._criterion_log_likelihood(X, y, exposure, groups, y_upper, truncation)
        return float(-2.0 * ll.sum() + self._n_parameters() * np.log(_num_samples(X)))

    def aic(self, X, y, exposure=None, *, groups=None, y_upper=None, truncation=None):
        """Akaike information criterion on ``(X, y)``; lower is better.

        ``-2 log L + 2 k``, with ``L`` the likelihood EM maximised (see :meth:`bic`).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets.
        exposure : array-like of shape (n_samples,), default=None
            Positive exposures of the log-link families (``expert="poisson"``,
            ``"gamma"``, ``"zip"``, ``"negative_binomial"``): the mean is
            proportional to them.  None:
            every exposure is 1.
        groups : array-like of shape (n_samples,), default=None
            Group labels of grouped rows (panel data), as given to ``fit``: all
            rows of a group share one latent expert.  None: every row is its own group.
        y_upper : array-like of shape (n_samples,), default=None
            Upper ends of censored responses, as given to ``fit``: a row with
            ``y_upper > y`` is known only to lie in ``[y, y_upper]`` (``inf``:
            right-censored at ``y``); ``y_upper == y``: exact.  See ``docs/censoring.md``.
        truncation : tuple (lower, upper), default=None
            Scalars or arrays of shape (n_samples,): each row was observed only
            because its response fell in ``(lower, upper]``.

        Returns
        -------
        aic : float
        """
        ll = self._criterion_log_likelihood(X, y, exposure, groups, y_upper, truncation)
        return float(-2.0 * ll.sum() + 2.0 * self._n_parameters())

    def icl(self, X, y, exposure=None, *, groups=None, y_upper=None, truncation=None):
        """Integrated completed likelihood on ``(X, y)``; lower is better.

        BIC plus twice the entropy of the posterior assignment of samples to
        experts (Biernacki, Celeux & Govaert 2000): it also penalises experts
        that overlap, so it prefers fewer, well-separated experts.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets.
        exposure : array-like of shape (n_samples,), default=None
            Exposures of the log-link families (see ``fit``); None: all 1.
        groups : array-like of shape (n_samples,), default=None
            Group labels of grouped rows (panel data), as given to ``fit``; the
            entropy then counts each group's assignment once.
        y_upper : array-like of shape (n_samples,), default=None
            Upper ends of censored responses, as given to ``fit``: a row with
            ``y_upper > y`` is known only to lie in ``[y, y_upper]`` (``inf``:
            right-censored at ``y``); ``y_upper == y``: exact.  See ``docs/censoring.md``.
        truncation : tuple (lower, upper), default=None
            Scalars or arrays of shape (n_samples,): each row was observed only
            because its response fell in ``(lower, upper]``.

        Returns
        -------
        icl : float
        """
        resp = self.responsibilities(X, y, exposure, groups=groups, y_upper=y_upper, truncation=truncation)
        if groups is not None:  # a group's rows share its assignment: count it once
            resp = resp[np.unique(np.asarray(groups), return_index=True)[1]]
        bic = self.bic(X, y, exposure, groups=groups, y_upper=y_upper, truncation=truncation)
        return bic + 2.0 * assignment_entropy(resp)

    def summary(self, X, y, sample_weight=None, *, cov_type="observed", exposure=None, groups=None,
                y_upper=None, truncation=None):
        """Estimate, standard error, z and p-value of every gate and expert parameter.

        Standard errors come from the observed information of the
        log-likelihood on ``(X, y)`` (usually the training data) at the
        fitted parameters, in the units of the raw data.  Every softmax is
        reported relative to its first row (expert 0 of the gate, the first
        class of a multinomial expert), whose coefficients are fixed at 0 as
        in flexmix: only differences of rows are identified.  Gaussian
        experts' variances are reported as ``log_noise_variance``; each
        family and gate names its own parameters (``log_noise_scale`` and
        ``log_nu``, ``log_dispersion``, ``logit_zero_inflation``, the Gaussian
        gate's ``log_weight``, ``mean[x]``, ``log_variance[x]`` or
        ``log_chol``/``chol``).  With ``gate="gaussian"`` the likelihood is that
        of ``(x, y)``, which EM maximised.  ``gate="attention"`` and
        scikit-learn estimators as experts are refused (ValueError).  See
        :mod:`mixexp.inference` and ``docs/inference.md``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Frequency weights.
        cov_type : {"observed", "sandwich"}, default="observed"
            The inverse observed information, or the robust sandwich
            covariance.
        exposure : array-like of shape (n_samples,), default=None
            Positive exposures of the log-link families (``expert="poisson"``,
            ``"gamma"``, ``"zip"``), as given to ``fit``; None: every exposure is 1.
        groups : array-like of shape (n_samples,), default=None
            Group labels of a model fitted with ``groups``: the information is
            that of the grouped likelihood (one latent expert per group), whose
            independent units are the groups; ``cov_type="sandwich"`` is then
            robust to dependence within groups (cluster-robust).
        y_upper : array-like of shape (n_samples,), default=None
            Censored rows, as in ``fit`` (regressors): the information is that of
            the censored log-likelihood (the family's distribution and survival
            functions for a row with ``y_upper > y``).
        truncation : tuple (lower, upper), default=None
            Truncated rows, as in ``fit``: the information is that of the truncated
            log-likelihood (each row's divided by the mixture's probability of its
            interval).

        Returns
        -------
        table : pandas.DataFrame or numpy structured array
            Columns ``component``, ``parameter``, ``estimate``,
            ``std_error``, ``z``, ``p_value``; a DataFrame's ``attrs`` hold
            ``cov_type`` and ``n_nonzero`` (nonzero coefficients).

        Examples
        --------
        >>> from mixexp import MixtureOfExpertsRegressor
        >>> from mixexp.datasets import make_moe_regression
        >>> X, y = make_moe_regression(400, n_features=2, n_experts=2, random_state=0)
        >>> model = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
        >>> table = model.summary(X, y)
        >>> list(table.columns)
        ['component', 'parameter', 'estimate', 'std_error', 'z', 'p_value']
        """
        result = parameter_inference(
            self, X, y, sample_weight, cov_type, exposure,
            groups=groups, y_upper=y_upper, truncation=truncation,
        )
        return summary_table(result)
