"""What every mixexp regressor shares: targets, the predictive mixture, sampling."""

from numbers import Real

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.utils import check_random_state, get_tags
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_consistent_length, validate_data

from ._base import BaseMixtureOfExperts
from ._design import standardize
from ._exposure import offset_kwargs
from ._missing import MissingValuesError, predict_moments
from ._numerics.mixing import mix, mix_clipped
from ._predict import history_weights
from ._risk import RiskMixin
from ._routing import route
from .experts import target_family, target_tags


def target_range(state, design, previous=None):
    """The range of the training targets of the rows each leaf owns, for :func:`expert_bounds`.

    A leaf owns the rows whose largest posterior (at the fitted parameters) is
    its own; rows of zero weight count for none.  Returns ``(2, n_leaves + 1,
    n_targets)`` in internal target units: the lowest and highest target of
    each leaf's rows (NaN for a leaf that owns none), then of all rows.  With
    ``previous`` (online EM: the range of the batches before), the union of
    both.  None for families whose internal target is not the standardised y
    (``standardises_target``: the log-link families, whose means scale with an exposure;
    a user's family).
    """
    if not state.experts.standardises_target:
        return None
    # one leaf index per row (rows of zero weight: none), not an (n, n_leaves) array
    owner = state.engine().owners(state.params, design)
    owner[design.sw <= 0] = -1
    Y = np.asarray(design.target, dtype=np.float64).reshape(design.n_rows, -1)
    n_leaves = state.tree.n_leaves
    out = np.full((2, n_leaves + 1, Y.shape[1]), np.nan)
    for leaf in np.unique(owner[owner >= 0]):
        rows = Y[owner == leaf]
        out[0, leaf], out[1, leaf] = rows.min(axis=0), rows.max(axis=0)
    if (owner >= 0).any():
        kept = Y[owner >= 0]
        out[0, -1], out[1, -1] = kept.min(axis=0), kept.max(axis=0)
    if previous is not None:
        out[0], out[1] = np.fmin(out[0], previous[0]), np.fmax(out[1], previous[1])
    return out


def expert_bounds(state):
    """``(low, high)``, each ``(n_leaves, n_targets)`` in the units of y: the range of the
    training targets of the rows each expert owns (all rows' for an expert that owns
    none), to which prediction clips the experts' means; None when there is none."""
    ranges = state.target_range
    if ranges is None:
        return None
    info = state.info
    low, high = (np.where(np.isnan(r[:-1]), r[-1], r[:-1]) * info["scale"] + info["mean"] for r in ranges)
    return low, high


def _mixture_moments(chunk, return_std, bounds=None):
    """The mixture's mean of the rows of ``chunk`` (a :class:`~mixexp._predict.RoutedRows`),
    ``(n, n_targets)``, and with ``return_std`` its standard deviation, as a tuple.
    With ``bounds`` (:func:`expert_bounds`) each expert's mean is clipped to them first."""
    means, var = chunk.leaves("moments")
    gates = chunk.gates
    if bounds is not None:
        low, high = chunk.leaf_values(bounds[0]), chunk.leaf_values(bounds[1])
        if not return_std and low.shape == means.shape[1:]:
            # the mean alone: clip and mix in one pass (with finite means the variances
            # do not enter it, whatever they are)
            mean, finite = mix_clipped(gates, means, low, high)
            if finite:
                return (mean,)
        means = np.clip(means, low, high)
    if not (np.isfinite(means).all() and np.isfinite(var).all()):
        return _heavy_tailed_moments(gates, means, var, return_std)
    mean = mix(gates, means)
    if not return_std:
        return (mean,)
    # law of total variance, around the mixture mean (no cancellation)
    spread = np.einsum("nk,nkt->nt", gates, var + (means - mean[:, None, :]) ** 2)
    return mean, np.sqrt(spread)


def _heavy_tailed_moments(gates, means, var, return_std):
    """:func:`_mixture_moments` when some leaf has no mean or variance (``inf``: a tail too
    heavy, e.g. Burr experts with ``shape * shape2 <= 1``, Student-t with ``nu <= 2``): the
    mixture's moment is infinite where such a leaf has a positive gate, else the finite
    leaves' mixture."""
    used = gates[:, :, None] > 0
    no_mean = np.any(used & ~np.isfinite(means), axis=1)
    means = np.where(used, means, 0.0)
    mean = np.einsum("nk,nkt->nt", gates, np.where(np.isfinite(means), means, 0.0))
    mean[no_mean] = np.inf
    if not return_std:
        return (mean,)
    no_var = no_mean | np.any(used & ~np.isfinite(var), axis=1)
    centred = np.where(np.isfinite(means), means - np.where(no_mean, 0.0, mean)[:, None, :], 0.0)
    spread = np.einsum("nk,nkt->nt", gates, np.where(used & np.isfinite(var), var, 0.0) + centred**2)
    spread[no_var] = np.inf
    return mean, np.sqrt(spread)


REG_VARIANCE_CONSTRAINT = {
    "reg_variance": [Interval(Real, 0, None, closed="neither")],
    "clip_experts": ["boolean"],
}
ZERO_INFLATION_CONSTRAINT = {"zero_inflation": ["boolean"]}
SHARED_CONSTRAINTS = {"shared_features": [None, "array-like"], "tied_variance": ["boolean"]}


class MixtureRegressorBase(RiskMixin, RegressorMixin, BaseMixtureOfExperts):
    """Regression experts; targets standardised internally by the expert family."""

    _task = "regression"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        multi_output, positive_only = target_tags(self._task, self.expert)
        # 2-D y goes to every expert: estimator experts must take it; a point mass at 0
        # is of one response
        tags.target_tags.multi_output = multi_output and not self.zero_inflation and all(
            get_tags(e).target_tags.multi_output for e in self._expert_templates()
        )
        tags.target_tags.positive_only = positive_only
        tags.target_tags.single_output = True
        return tags

    def fit(self, X, y, sample_weight=None, exposure=None, *, groups=None, y_upper=None, truncation=None):
        """Fit the mixture by EM.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training inputs.  Sparse input is kept sparse (scaled, not centred)
            with a softmax gate.  NaN (missing values) is marginalised by EM with
            ``gate="gaussian"`` and ``expert="linear"`` (``docs/missing.md``); other
            models refuse it.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets: counts for ``expert="poisson"``, ``"zip"`` and
            ``"negative_binomial"`` (whole numbers only), positive amounts for
            ``"gamma"``, ``"lognormal"``, ``"weibull"``, ``"inverse_gaussian"``
            and ``"burr"`` (these families model a single target).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; the log-likelihood is weighted by them.
        exposure : array-like of shape (n_samples,), default=None
            Positive exposures (time at risk, hours of observation) of the
            log-link families ``"poisson"``, ``"gamma"``, ``"zip"`` and
            ``"negative_binomial"``: each expert's mean is ``exposure *
            exp(B x + b)``, an offset ``log(exposure)``.  None: every exposure is 1.  With scikit-learn's
            metadata routing enabled, a :class:`~sklearn.pipeline.Pipeline`
            passes it on after ``set_fit_request(exposure=True)``.
        groups : array-like of shape (n_samples,), default=None
            Group labels (panel data: a policyholder, a patient, a firm): all
            rows of a group share one latent expert.  Each expert's
            log-densities of a group's rows (times their weights) are summed
            before the gate, which sees each group once, through its features:
            ``gate_features`` must be constant within every group.  See
            ``docs/panel.md``.  None: every row is its own group.
        y_upper : array-like of shape (n_samples,), default=None
            Upper ends of censored responses: a row with ``y_upper > y`` is
            known only to lie in ``[y, y_upper]`` (``inf``: right-censored at
            ``y``; counts: the integers of that interval); ``y_upper == y``:
            exact.  Its likelihood is the probability of its interval (the
            family's distribution function), and EM's M-step for the experts
            is then numerical.  Families with a distribution function only;
            no ``exposure``, one response.  See ``docs/censoring.md``.
        truncation : tuple (lower, upper), default=None
            Scalars or arrays of shape (n_samples,): each row was observed only
            because its response fell in ``(lower, upper]`` (a deductible, a
            reporting limit); its likelihood is divided by that interval's
            probability.  The fitted model, and ``predict``, describe the
            ground-up (untruncated, uncensored) response.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit_or_restore(X, y, sample_weight, exposure, groups, y_upper, truncation)

    def _target_range(self, state, design, previous=None):
        return target_range(state, design, previous)

    def _bounds(self, state):
        """The clipping bounds of the experts' means at prediction, or None (``clip_experts``)."""
        return expert_bounds(state) if getattr(self, "clip_experts", True) else None

    def _validate_xy(self, X, y, finite=True):
        if target_family(self._task, self.expert).validates_target:
            # y as given: the family validates it (column names, NaN of missing responses)
            X = validate_data(
                self, X, accept_sparse=["csr", "csc"], dtype=[np.float64, np.float32], ensure_all_finite=finite
            )
            check_consistent_length(X, y)
            return X, y
        # NaN in y (missing responses, mixexp._missing) is let through with NaN in X: hidden
        # from validate_data, which checks y as if complete, and put back
        holes = None
        if finite == "allow-nan":
            Y = np.asarray(y)
            if Y.dtype.kind == "f" and np.isnan(Y).any():
                holes = np.isnan(Y)
                y = np.where(holes, 0.0, Y)
        # 2-D y only when every expert takes it (estimator experts: their tags)
        X, y = validate_data(
            self, X, y, multi_output=get_tags(self).target_tags.multi_output, y_numeric=True,
            accept_sparse=["csr", "csc"], dtype=[np.float64, np.float32],
            ensure_all_finite=finite,
        )
        if holes is not None:
            y = np.where(holes.reshape(y.shape), np.nan, y)
        return X, y

    @staticmethod
    def _squeeze(a, state):
        return a[..., 0] if state.info["ndim"] == 1 else a

    def predict(self, X, return_std=False, exposure=None, *, groups=None, history=None):
        """Predictive mean of the mixture, optionally with its standard deviation.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.  With ``gate="gaussian"`` and ``expert="linear"``, rows with NaN
            are predicted from their observed features, ``sum_k p(k | x_obs)
            E_k[y | x_obs]`` (``docs/missing.md``).
        return_std : bool, default=False
            Also return the standard deviation of the predictive mixture
            ``sum_k g_k(x) p_k(y | x)``.  For ``expert="student_t"`` it is
            infinite where an expert with ``nu_ <= 2`` has weight.  With
            ``top_k`` set, the mixture of each sample's ``top_k`` most probable
            experts, gates renormalised.
        exposure : array-like of shape (n_samples,), default=None
            Exposures of the log-link families (``"poisson"``, ``"gamma"``,
            ``"zip"``, ``"negative_binomial"``); None: predictions per unit of
            exposure.
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
        y_mean : ndarray of shape (n_samples,) or (n_samples, n_targets)
            The mixture's mean, ``sum_k g_k(x) mu_k(x)``.
        y_std : ndarray of the same shape
            Only when ``return_std`` is True.
        """
        state = self._state()
        if return_std and not state.experts.gives_variances:
            raise NotImplementedError(
                f"predict(X, return_std=True) needs every expert's variance, which expert="
                f"{state.experts.name} does not give: implement its predict_variance(X, params)."
            )
        bounds = self._bounds(state)
        try:
            out = self._routed_rows(
                X, lambda chunk: _mixture_moments(chunk, return_std, bounds), exposure,
                groups=groups, history=history,
            )
        except MissingValuesError:
            if not state.takes_missing or history is not None or exposure is not None:
                raise
            out = self._predict_missing(X, return_std, bounds)
        return tuple(self._squeeze(a, state) for a in out) if return_std else self._squeeze(out[0], state)

    def _predict_missing(self, X, return_std, bounds):
        """:meth:`predict` of X with NaN (a model fitted with NaN): rows with NaN mix each
        expert's ``E_k[y | x_obs]`` by the gate's ``p(k | x_obs)`` (:mod:`mixexp._missing`);
        complete rows take the usual path."""
        X, state = self._validated(X, finite="allow-nan")
        incomplete = np.isnan(X).any(axis=1)
        info = state.info
        Z = standardize(X[incomplete], state.x_mean, state.x_scale)
        params = state.params
        gates, means, var = predict_moments(Z, params["gate"], params["experts"], state.gate.covariance_type)
        gates = route(gates, self._top_k(state))[0]
        means = means * info["scale"] + info["mean"]
        var = var * info["scale"] ** 2
        if bounds is not None:
            means = np.clip(means, bounds[0], bounds[1])
        parts = [np.einsum("nk,nkt->nt", gates, means)]
        if return_std:
            spread = var + (means - parts[0][:, None, :]) ** 2
            parts.append(np.sqrt(np.einsum("nk,nkt->nt", gates, spread)))
        out = tuple(np.empty((X.shape[0], info["n_outputs"])) for _ in parts)
        for whole, part in zip(out, parts):
            whole[incomplete] = part
        if not incomplete.all():
            def reduce(chunk):
                return _mixture_moments(chunk, return_std, bounds)

            complete = self._routed_rows(X[~incomplete], reduce)
            for whole, part in zip(out, complete):
                whole[~incomplete] = part
        return out

    def score(self, X, y, sample_weight=None, *, groups=None, history=None, y_upper=None, truncation=None):
        """Coefficient of determination R² of :meth:`predict` on ``(X, y)``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            True targets.
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
        y_upper : array-like of shape (n_samples,), default=None
            Upper ends of censored responses (see ``fit``).  R² needs exact
            responses: a censored row (``y_upper > y``) raises ``ValueError``.
        truncation : tuple (lower, upper), default=None
            Truncation of the rows (see ``fit``).  R² compares the ground-up
            prediction with the responses: truncated rows raise ``ValueError``.

        Returns
        -------
        score : float
            R² of ``predict(X, groups=groups, history=history)``; with several
            responses (``expert={column: family}``) the mean of the columns' R², each
            over the rows where its response is not NaN.
        """
        from sklearn.metrics import r2_score

        if truncation is not None or (
            y_upper is not None and np.any(np.asarray(y_upper, dtype=np.float64) != np.ravel(y))
        ):
            raise ValueError(
                "score() is the R² of exact responses and the ground-up prediction; censored "
                "(y_upper > y) or truncated rows have no such residual: compare models by "
                "log_likelihood(X, y, y_upper=..., truncation=...) instead."
            )

        prediction = self.predict(X, groups=groups, history=history)
        if not self._state().experts.validates_target:
            return r2_score(y, prediction, sample_weight=sample_weight)
        # several responses, a NaN where one does not exist: each column's R² on its rows
        Y = np.asarray(y, dtype=np.float64)
        sw = np.ones(Y.shape[0]) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        seen = ~np.isnan(Y)
        return float(np.mean([
            r2_score(Y[seen[:, j], j], prediction[seen[:, j], j], sample_weight=sw[seen[:, j]])
            for j in range(Y.shape[1])
        ]))

    def predict_experts(self, X, exposure=None):
        """Each expert's own prediction (its mean).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.
        exposure : array-like of shape (n_samples,), default=None
            Exposures of the log-link families (``"poisson"``, ``"gamma"``,
            ``"zip"``, ``"negative_binomial"``); None: predictions per unit of
            exposure.

        Returns
        -------
        means : ndarray of shape (n_samples, n_experts) or (n_samples, n_experts, n_targets)
        """
        design, state = self._design(X)
        offset = offset_kwargs(exposure, design.n_rows, state.experts)
        mean = state.experts.moments(design.expert_X, state.params["experts"], state.info, **offset)[0]
        bounds = self._bounds(state)
        if bounds is not None:
            mean = np.clip(mean, bounds[0], bounds[1])
        return self._squeeze(mean, state)

    def sample_y(self, X, n_samples=1, random_state=None, exposure=None, *, groups=None, history=None):
        """Draw samples from the predictive mixture at ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples_X, n_features)
            Inputs.
        n_samples : int, default=1
            Draws per input.
        random_state : int, RandomState instance or None, default=None
            Seed of the draws.
        exposure : array-like of shape (n_samples,), default=None
            Exposures of the log-link families (``"poisson"``, ``"gamma"``,
            ``"zip"``, ``"negative_binomial"``); None: predictions per unit of
            exposure.
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
        y_samples : ndarray of shape (n_samples_X, n_samples) or (n_samples_X, n_targets, n_samples)
        """
        rs = check_random_state(random_state)
        (gates, _), design, state = self._e_step(X, experts=False)
        gates = history_weights(gates, self._history_posterior(X, groups, history))
        gates = route(gates, self._top_k(state))[0]  # draws from the routed mixture
        cum = np.cumsum(gates, axis=1)
        u = rs.uniform(size=(design.n_rows, n_samples)) * cum[:, -1:]
        leaf = np.minimum((u[:, :, None] > cum[:, None, :]).sum(axis=2), gates.shape[1] - 1)
        offset = offset_kwargs(exposure, design.n_rows, state.experts)
        draws = state.experts.sample(design.expert_X, state.params["experts"], state.info, leaf, rs, **offset)
        draws = np.transpose(draws, (0, 2, 1))  # (n, T, n_samples)
        return draws[:, 0, :] if state.info["ndim"] == 1 else draws
