"""A user's own expert family: :class:`ExpertFamily`, and the component that runs it.

A user subclasses :class:`ExpertFamily` with five methods on the expert's own
columns of X as given (after a pipeline, float64, ``expert_features``
applied) and on y as given (1-D for one target), and passes an instance as
``expert=`` to any regressor, flat or hierarchical::

    class Laplace(ExpertFamily):
        def init_params(self, X, y, weights): ...       # any dict of arrays
        def log_density(self, X, y, params): ...        # (n_samples, n_experts)
        def m_step(self, X, y, weights, params): ...     # must not decrease sum(weights * log_density)
        def predict_mean(self, X, params): ...          # (n_samples, n_experts)
        def n_free_params(self, params): ...            # int

``weights`` is ``(n_samples, n_experts)``: each row's posterior for each
expert times its sample weight.  The fitted parameters (the dict ``m_step``
returned) are the estimator's ``experts_params_``.  docs/user_family.md walks
through a family end to end.

:class:`UserFamilyExperts` is the :class:`~mixexp.experts.ExpertComponent`
that the engine runs for such a family.  It is a family of rows
(``needs_all_rows``): a pass's statistics are the rows themselves, and its
update calls the user's ``m_step`` on all of them.  The engine works on the
internal design ``[(x - mean) / scale, 1]``; the component turns it back into
the user's columns with the coordinates that ``fit`` gives it
(:meth:`UserFamilyExperts.set_coordinates`): ``X = design[:, :-1] * scale +
mean`` (equal to the columns given up to rounding).  Targets stay as given:
the log-likelihood is in the units of y.

Monotonicity: EM never decreases the log-likelihood when every M-step does
not decrease its part of the expected complete-data log-likelihood, here
``sum(weights * log_density)``.  After every ``m_step`` the component compares
that sum before and after; a step that lowers it beyond rounding is refused
(the experts keep their parameters for that iteration, so ``lower_bounds_``
still never decreases) and :class:`ExpertFamilyWarning`, naming the family,
is given once per fit.
"""

import copy
import warnings
from abc import ABC, abstractmethod

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import check_array, check_consistent_length, column_or_1d

from .base import ExpertComponent

#: A step whose weighted log-likelihood falls by more than this fraction of
#: ``sum(weights * (|log_density| + 1))`` (far above the rounding of the sums) is refused.
DECREASE_RTOL = 1e-10


class ExpertFamilyWarning(UserWarning):
    """A user's :class:`ExpertFamily` broke its contract during a fit (its ``m_step``
    decreased ``sum(weights * log_density)``); the message names the family and what
    was done about it.  Given at most once per fit."""


class ExpertFamily(ABC):
    """Base class of a user's own expert family, passed as ``expert=<instance>``.

    Subclass it with the five abstract methods; the optional ones have defaults
    that raise :class:`NotImplementedError` naming what needs them.  Every
    method sees the experts' own columns ``X`` of the data as given (float64,
    after a pipeline's transforms, ``expert_features`` applied; a CSR matrix
    for sparse input when ``accepts_sparse`` is True) and ``y`` as given
    (1-D for one target, ``(n_samples, n_targets)`` for a family with
    ``multi_output = True``).  ``params`` is whatever dict the family returns
    from :meth:`init_params` and :meth:`m_step` (the fitted one is the
    estimator's ``experts_params_``).

    Parameter arrays whose first axis has length ``n_experts`` are taken to be
    per expert: an expert that receives (almost) no weight in an iteration
    (at most 1e-10 of the total) keeps its entries there, whatever ``m_step``
    returned for it (:class:`~mixexp.FrozenExpertWarning`).  Other values are
    shared by the experts.

    User families are regression experts (the regressors take them; the
    classifiers refuse them).  They have no penalty (``alpha``,
    ``reg_variance`` and ``l1_ratio`` do not apply) unless the family puts
    one in its own ``m_step`` and ``log_density``.  They fit in memory only
    (no ``partial_fit``, no dask fit), with a softmax or Gaussian gate (the
    attention gate needs representations that a user family does not give).

    Class attributes
    ----------------
    multi_output : bool, default=False
        The family models several targets: ``y`` of shape ``(n_samples, n_targets)``
        reaches it as such and its means are ``(n_samples, n_experts, n_targets)``.
        False: ``y`` is 1-D (a column vector is flattened, with a warning).
    positive_only : bool, default=False
        The targets must be positive (``fit`` refuses ``y <= 0``); scikit-learn's
        checks then draw positive targets.
    accepts_sparse : bool, default=False
        ``X`` may arrive as a scipy CSR matrix (sparse input); False: sparse
        input is refused with a TypeError.

    Examples
    --------
    Log-normal experts, ``log y ~ N(x b_k + c_k, sd_k^2)``, whose M-step is a weighted
    least-squares fit of ``log y``: docs/user_family.md walks through them end to end;
    tests/test_user_family.py has Laplace experts fitted by reweighted least squares.
    """

    multi_output = False
    positive_only = False
    accepts_sparse = False

    @abstractmethod
    def init_params(self, X, y, weights):
        """Starting parameters from the start's responsibilities ``weights``
        ``(n_samples, n_experts)`` (a k-means or random partition of the rows, or the
        posteriors of short EM runs): any dict of arrays."""

    @abstractmethod
    def log_density(self, X, y, params):
        """Every expert's ``log p_k(y_i | x_i)``, ``(n_samples, n_experts)``."""

    @abstractmethod
    def m_step(self, X, y, weights, params):
        """New parameters (a dict) that do not decrease ``sum(weights * log_density)``
        from ``params`` (a copy: it may be modified in place)."""

    @abstractmethod
    def predict_mean(self, X, params):
        """Every expert's mean of y, ``(n_samples, n_experts)`` (``multi_output``:
        ``(n_samples, n_experts, n_targets)``)."""

    @abstractmethod
    def n_free_params(self, params):
        """The number of free parameters of all the experts (for ``bic`` and ``aic``)."""

    def predict_variance(self, X, params):
        """Every expert's variance of y, shaped as :meth:`predict_mean`; optional:
        ``predict(X, return_std=True)`` needs it."""
        raise NotImplementedError(
            f"{type(self).__name__}.predict_variance(X, params) is not implemented; "
            "predict(X, return_std=True) needs it."
        )

    def sample(self, X, params, rng):
        """One draw of y from every expert at every row, shaped as :meth:`predict_mean`;
        ``rng`` is a :class:`numpy.random.RandomState`.  Optional: ``sample_y`` needs it."""
        raise NotImplementedError(
            f"{type(self).__name__}.sample(X, params, rng) is not implemented; sample_y needs it."
        )

    def log_cdf(self, X, y, params):
        """Every expert's ``log P_k(Y <= y_i | x_i)``, ``(n_samples, n_experts)``.  Optional,
        with :meth:`log_sf`: censored (``y_upper=``) and truncated (``truncation=``) rows
        need both.  The experts are then fitted to such rows by a numerical M-step over
        every floating-point entry of ``params`` (L-BFGS; a step that does not gain is
        refused), so every such entry must be a free, unconstrained parameter (e.g. a log
        scale rather than a scale)."""
        raise NotImplementedError(
            f"{type(self).__name__}.log_cdf(X, y, params) is not implemented; censored and "
            "truncated rows need it."
        )

    def log_sf(self, X, y, params):
        """Every expert's ``log P_k(Y > y_i | x_i)``, ``(n_samples, n_experts)``; optional,
        see :meth:`log_cdf`."""
        raise NotImplementedError(
            f"{type(self).__name__}.log_sf(X, y, params) is not implemented; censored and "
            "truncated rows need it."
        )

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


def _overrides(family, method):
    """Whether ``family``'s class implements the optional ``method`` itself."""
    return getattr(type(family), method) is not getattr(ExpertFamily, method)


def _stacked(rows):
    """The rows ``[(Xa, y, W, logdens), ...]`` of the stats, stacked into one tuple."""
    if len(rows) == 1:
        return rows[0]
    designs = [r[0] for r in rows]
    logdens = None if rows[0][3] is None else np.vstack([r[3] for r in rows])
    return (
        sp.vstack(designs, format="csr") if sp.issparse(designs[0]) else np.vstack(designs),
        np.concatenate([r[1] for r in rows]),
        np.vstack([r[2] for r in rows]),
        logdens,
    )


def _weighted_sum(W, logdens):
    """``sum(W * logdens)`` over the entries of positive weight, and its scale
    ``sum(W * (|logdens| + 1))`` over the finite ones."""
    used = W > 0
    with np.errstate(invalid="ignore", over="ignore"):
        total = float(np.sum(W[used] * logdens[used]))
        finite = used & np.isfinite(logdens)
        scale = float(np.sum(W[finite] * (np.abs(logdens[finite]) + 1.0)))
    return total, scale


class UserFamilyExperts(ExpertComponent):
    """The engine's component for a user's :class:`ExpertFamily` (see the module's doc).

    Parameters
    ----------
    family : ExpertFamily
        Deep-copied: the fitted model does not change when the user's instance does.
    n_leaves : int
        The number of experts.

    Its parameters are ``{"family": dict}`` (None before the start's
    responsibilities have been seen: every density is then 1).
    """

    needs_all_rows = True  # the user's m_step takes the rows
    per_leaf = False
    vector_per_leaf = False

    def __init__(self, family, n_leaves):
        self.family = copy.deepcopy(family)
        self.n_leaves = n_leaves
        self.name = type(family).__name__
        self.multi_output = bool(family.multi_output)
        self.positive_only = bool(family.positive_only)
        self.gives_variances = _overrides(family, "predict_variance")
        self.has_distribution = _overrides(family, "log_cdf") and _overrides(family, "log_sf")
        self.coords = None
        self._warned = False  # ExpertFamilyWarning: once per fit (a fit builds its component)

    # -- the user's columns -------------------------------------------------------
    def set_coordinates(self, coords):
        self.coords = coords

    def _user_X(self, Xa):
        """The user's columns from the internal design ``[(x - mean) / scale, 1]``."""
        Z = Xa[:, :-1]
        if sp.issparse(Z):  # sparse designs are scaled, never centred
            return sp.csr_matrix(Z @ sp.diags(self.coords.scale))
        return Z * self.coords.scale + self.coords.mean

    # -- targets --------------------------------------------------------------------
    def _validated(self, y, warn):
        y = np.asarray(y, dtype=np.float64)
        if y.ndim == 2 and not self.multi_output:
            if y.shape[1] != 1:
                raise ValueError(
                    f"expert={self.name} models a single target (multi_output = False); "
                    f"y has shape {y.shape}."
                )
            y = column_or_1d(y, warn=warn)
        if self.positive_only and np.any(y <= 0):
            raise ValueError(
                f"Some value(s) of y are not positive, which expert={self.name} "
                "(positive_only = True) does not allow."
            )
        return y

    def prepare_target(self, y, sw):
        """y as given (float64), and its number of dimensions and targets."""
        y = self._validated(y, warn=True)
        return y, {"ndim": y.ndim, "n_outputs": 1 if y.ndim == 1 else y.shape[1]}

    def check_target(self, y, n_samples, info):
        y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
        check_consistent_length(y, np.empty(n_samples))
        y = self._validated(y, warn=False)
        n_outputs = 1 if y.ndim == 1 else y.shape[1]
        if n_outputs != info["n_outputs"]:
            raise ValueError(
                f"y has {n_outputs} targets, but the model was fitted with {info['n_outputs']}."
            )
        return y.reshape(-1, n_outputs) if info["ndim"] == 2 else y.reshape(-1)

    def kmeans_features(self, target):
        Y = target.reshape(target.shape[0], -1)
        sd = Y.std(axis=0)
        return (Y - Y.mean(axis=0)) / np.where(sd > 0, sd, 1.0)

    # -- the component ----------------------------------------------------------------
    def init_params(self, n_leaves, n_params, info):
        return {"family": None}  # from the start's responsibilities, at the first update

    def check_input(self, Xa):
        if sp.issparse(Xa) and not self.family.accepts_sparse:
            raise TypeError(
                f"expert={self.name} does not accept sparse X (accepts_sparse = False); "
                "convert X to a dense array."
            )

    def _checked(self, values, what, X, per_target=False):
        """The user's ``what`` as float64 ``(n, n_leaves)``, or ``(n, n_leaves, n_targets)``
        for the outputs of a ``multi_output`` family (``per_target``)."""
        out = np.asarray(values, dtype=np.float64)
        three = per_target and self.multi_output
        if out.ndim != (3 if three else 2) or out.shape[:2] != (X.shape[0], self.n_leaves):
            wanted = (X.shape[0], self.n_leaves) + (("n_targets",) if three else ())
            raise ValueError(
                f"{self.name}.{what} returned an array of shape {out.shape}; expected "
                f"{'(n_samples, n_experts, n_targets)' if three else '(n_samples, n_experts)'} "
                f"= {wanted}."
            )
        return out

    def _log_density(self, X, y, params):
        out = self._checked(self.family.log_density(X, y, params), "log_density", X)
        if np.isnan(out).any():
            raise ValueError(f"{self.name}.log_density returned NaN.")
        return out

    def _params(self, params, what):
        if not isinstance(params, dict):
            raise TypeError(f"{self.name}.{what} must return a dict of parameters, got {type(params).__name__}.")
        return params

    def scores(self, Xa, target, params):
        if params["family"] is None:  # before the start's responsibilities: every density is 1
            return np.zeros((Xa.shape[0], self.n_leaves)), None
        logdens = self._log_density(self._user_X(Xa), target, params["family"])
        return logdens, logdens  # the stats keep them: the M-step's check starts from them

    def representation(self, Xa, params):
        raise ValueError(
            f"gate='attention' needs the experts' representations, which expert={self.name} "
            "(an ExpertFamily) does not give; use gate='softmax' or 'gaussian'."
        )

    def stats(self, Xa, target, W, params, ctx):
        return {"rows": [(Xa, target, W, ctx)]}

    def _keep_inactive(self, new, old, active):
        """``new`` with the per-expert entries of the inactive leaves taken from ``old``."""
        if active.all():
            return new
        kept = dict(new)
        for key, value in new.items():
            before = old.get(key)
            if (
                isinstance(value, np.ndarray) and value.ndim >= 1 and value.shape[0] == self.n_leaves
                and isinstance(before, np.ndarray) and before.shape == value.shape
            ):
                value = value.copy()
                value[~active] = before[~active]
                kept[key] = value
        return kept

    def update(self, S, params, active, safe=False):
        """The user's ``m_step`` on all rows; a step that lowers ``sum(weights *
        log_density)`` beyond rounding is refused (see the module's doc)."""
        Xa, y, W, logdens = _stacked(S["rows"])
        X = self._user_X(Xa)
        old = params["family"]
        if old is None:
            # the start: experts without rows (an empty cluster) start from all rows
            start = W.copy()
            start[:, ~active] = W.sum(axis=1)[:, None]
            old = self._params(self.family.init_params(X, y, start), "init_params")
            logdens = self._log_density(X, y, old)
        new = self._params(self.family.m_step(X, y, W, copy.deepcopy(old)), "m_step")
        new = self._keep_inactive(new, old, active)
        q_old, scale = _weighted_sum(W, logdens)
        q_new = _weighted_sum(W, self._log_density(X, y, new))[0]
        if not q_new >= q_old - DECREASE_RTOL * scale:
            if not self._warned:
                self._warned = True
                warnings.warn(
                    f"{self.name}.m_step decreased its weighted log-likelihood sum(weights * "
                    f"log_density) from {q_old:.10g} to {q_new:.10g}; the step was refused (the "
                    "experts kept their parameters), so EM stays monotone. An ExpertFamily's m_step "
                    "must not decrease it. (Given once per fit.)",
                    ExpertFamilyWarning,
                    stacklevel=2,
                )
            new = old
        return {"family": new}, False

    # -- censored and truncated rows (CensoredExperts): the user's distribution functions,
    # and every float entry of the parameters as one vector for the numerical M-step
    def log_cdf(self, Xa, y, params, info, **row_arrays):
        X = self._user_X(Xa)
        return self._checked(self.family.log_cdf(X, y, params["family"]), "log_cdf", X)

    def log_sf(self, Xa, y, params, info, **row_arrays):
        X = self._user_X(Xa)
        return self._checked(self.family.log_sf(X, y, params["family"]), "log_sf", X)

    @staticmethod
    def _float_keys(family_params):
        return [key for key in sorted(family_params) if np.asarray(family_params[key]).dtype.kind == "f"]

    def inference_vector(self, params):
        """Every floating-point entry of the family's parameters, ``(1, P)`` (the experts'
        parameters do not split by leaf: ``vector_per_leaf`` is False)."""
        p = params["family"]
        return np.concatenate([np.ravel(p[key]) for key in self._float_keys(p)])[None, :]

    def from_inference_vector(self, theta, params):
        p, theta, at = dict(params["family"]), np.ravel(theta), 0
        for key in self._float_keys(p):
            shape = np.shape(p[key])
            size = int(np.prod(shape))
            p[key] = theta[at : at + size].reshape(shape)
            at += size
        return {"family": p}

    def n_free_params(self, params):
        if params["family"] is None:
            raise ValueError(f"the number of free parameters of {self.name} is known once fitted")
        return int(self.family.n_free_params(params["family"]))

    # -- the fitted model and predictions --------------------------------------------------
    def attributes(self, params, coords, info):
        return {"experts_params_": copy.deepcopy(params["family"])}

    def _per_target(self, values, what, X):
        out = self._checked(values, what, X, per_target=True)
        return out if self.multi_output else out[:, :, None]

    def moments(self, Xa, params, info):
        """Each leaf's mean and variance, ``(n, n_leaves, n_targets)``; the variances are
        NaN for a family without ``predict_variance`` (``gives_variances`` False)."""
        X, p = self._user_X(Xa), params["family"]
        mean = self._per_target(self.family.predict_mean(X, p), "predict_mean", X)
        if not self.gives_variances:
            return mean, np.full(mean.shape, np.nan)
        return mean, self._per_target(self.family.predict_variance(X, p), "predict_variance", X)

    def sample(self, Xa, params, info, leaf, rs):
        """Draws ``(n, n_draws, n_targets)`` from the leaves ``leaf`` (n, n_draws): one call of
        the user's ``sample`` per draw."""
        X, p = self._user_X(Xa), params["family"]
        draws = []
        for d in range(leaf.shape[1]):
            every = self._per_target(self.family.sample(X, p, rs), "sample", X)
            draws.append(np.take_along_axis(every, leaf[:, d, None, None], axis=1)[:, 0])
        return np.stack(draws, axis=1)
