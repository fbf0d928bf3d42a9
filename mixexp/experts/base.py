"""The contract every expert component fulfils: :class:`ExpertComponent`.

An expert component holds all the leaf experts of a model (one family) and
answers the engine (:mod:`mixexp._engine`), prediction (:mod:`mixexp._predict`)
and inference in the model's internal coordinates: the design ``[x_std, 1]``
of the expert's columns, the target as :meth:`ExpertComponent.prepare_target`
made it, parameters as dicts of small arrays with the leaves first.  Every
member that the engine, prediction or inference calls is declared here with
its default; none of them probes a family for what it has.

The registry :data:`mixexp.experts.EXPERTS` lists the families by task and
by the name the estimators' ``expert`` parameter takes; the contract battery
(``tests/test_contract.py``) runs every registered family through the same
checks.  A user's own family subclasses the simpler public
:class:`mixexp.experts.ExpertFamily` instead.
"""

from abc import ABC, abstractmethod

import numpy as np

from .._design import take_rows
from .._inference_parts import fd_steps
from .._routing import by_leaf


class ExpertComponent(ABC):
    """Base class of the expert components: every method and flag, with its default.

    Flags (class attributes)
    ------------------------
    exact : bool, default=True
        Every ``update`` never decreases the penalised objective (EM is monotone);
        False for refits that only approximate the M-step (estimator experts):
        EM then keeps its best iterate.
    closed_form : bool, default=True
        One ``update`` is the whole M-step for given posteriors.
    needs_all_rows : bool, default=False
        ``stats`` are the rows themselves (an M-step iterated on them), not sums
        that can run or be distributed: online EM and the dask fit refuse it.
    incremental : bool, default=False
        ``partial_update`` learns from one batch's rows (estimator experts with
        ``partial_fit``); otherwise online EM updates from running sums.
    uses_exposure : bool, default=False
        The family takes an exposure (a log-offset in its target).
    multi_output : bool, default=True
        The family models several targets at once.
    positive_only : bool, default=False
        The family's targets are positive (scikit-learn's target tags).
    per_leaf : bool, default=False
        ``leaf_params`` cuts the parameters to some leaves, so routed prediction
        evaluates each leaf on its rows only.
    gives_representation : bool, default=False
        :meth:`representation` gives each leaf's view of the rows, which a gate that
        ``uses_experts`` (attention) needs.
    has_distribution : bool, default=False
        The family gives each leaf's distribution function, survival function,
        quantiles and limited means (:meth:`log_cdf`, :meth:`log_sf`,
        :meth:`leaf_quantile`, :meth:`leaf_limited_mean`): censored and truncated
        responses and the risk measures need them.
    discrete : bool, default=False
        The responses are integers (counts): :meth:`scores` are log-probabilities of a
        mass function, ``log_cdf(y)`` is ``log P(Y <= floor(y))`` and :meth:`leaf_quantile`
        gives integers.  Zero inflation adds its point mass to the family's own
        probability of 0 (a continuous family has none), and the risk measures search
        quantiles among the integers.
    standardises_target : bool, default=False
        The internal target is ``(y - info["mean"]) / info["scale"]`` (regression families
        with a location): prediction's ``clip_experts`` bounds come from it.
    supports_l1 : bool, default=False
        The family takes an elastic-net penalty (``l1_ratio > 0``).
    l1_ratio : float, default=0.0
        Elastic-net mixing of the coefficient penalty (0: ridge or none).
    products_outputs : frozenset, default=frozenset()
        The outputs (``"moments"``, ``"leaf_proba"``, ...) the family computes from
        the products ``design @ linear_rows(params, info).T`` (:meth:`output_from_products`).
    mixture_outputs : frozenset, default=frozenset()
        The outputs whose gate mixture the family computes from those products without
        forming each leaf's output (:meth:`mixture_from_products`).
    gives_variances : bool, default=True
        :meth:`moments` gives the leaves' variances; False (a user's family without
        ``predict_variance``): they are NaN, and ``predict(return_std=True)`` refuses.
    supports_inference : bool, default=False
        The family gives standard errors (:mod:`mixexp.inference`): it implements
        :meth:`inference_vector`, :meth:`from_inference_vector` and
        :meth:`inference_labels`; the derivatives of its log-densities then come from
        central differences of :meth:`scores` unless it writes its own.
    takes_missing : bool, default=False
        Linear-Gaussian leaves (``coef`` and ``var`` parameters, ``grams``, ``xty`` and
        ``yty`` sums): with a gate that ``takes_missing``, EM marginalises NaN in X
        (:mod:`mixexp._missing`).
    validates_target : bool, default=False
        :meth:`prepare_target` takes ``y`` as the user gave it (a pandas DataFrame keeps
        its column names) and validates it itself, NaN included (a missing response of a
        multi-response model, :class:`mixexp.experts.multiresponse.MultiResponseExperts`);
        otherwise the estimator validates ``y`` first and refuses NaN.
    vector_per_leaf : bool, default=True
        The rows of :meth:`inference_vector` are the leaves' (leaf k's entries touch only
        column k of :meth:`scores`), so the numerical M-step of censored and truncated rows
        (:class:`mixexp.experts.censored.CensoredExperts`) fits each leaf apart; False: one
        row holding every leaf's parameters (a user's ``ExpertFamily``), fitted jointly.
    constrained : bool, default=False
        :meth:`set_constraints` gave the family coefficients shared by every expert or
        one noise variance for all (``shared_features``, ``tied_variance``): fits whose
        M-step is not the family's own (censored rows, missing values) refuse it.
    imputes_censored : bool, default=False
        :meth:`censored_stats` gives the family's own row sums of censored rows (their
        expected values given their intervals, under each leaf), so that the M-step of
        censored rows is the family's exact one (EM on the complete data); otherwise
        :class:`mixexp.experts.censored.CensoredExperts` maximises the censored
        likelihood numerically.
    gives_interval_scores : bool, default=False
        :meth:`interval_scores` and :meth:`interval_hessian` give the first and second
        derivatives of the log-probabilities of censored rows' intervals (for standard
        errors); otherwise central differences.
    """

    exact = True
    closed_form = True
    needs_all_rows = False
    incremental = False
    uses_exposure = False
    multi_output = True
    positive_only = False
    per_leaf = False
    gives_representation = False
    has_distribution = False
    discrete = False
    standardises_target = False
    supports_l1 = False
    l1_ratio = 0.0
    products_outputs = frozenset()
    mixture_outputs = frozenset()
    gives_variances = True
    supports_inference = False
    takes_missing = False
    validates_target = False
    vector_per_leaf = True
    constrained = False
    imputes_censored = False
    gives_interval_scores = False

    #: the ``expert=`` name, for messages
    name = None

    @classmethod
    def from_params(cls, params):
        """The family from the estimator's parameters ``params`` (a dict of ``get_params``)."""
        raise NotImplementedError

    # -- targets ------------------------------------------------------------
    @abstractmethod
    def prepare_target(self, y, sw):
        """The internal target of ``fit``'s ``y`` and the target information ``info``
        (a dict: ``n_outputs``, ``ndim``, scales, classes) that undoes it."""

    @abstractmethod
    def check_target(self, y, n_samples, info):
        """The internal target of new ``y`` (``log_likelihood``, ``score``, ...) after
        validation against ``info``; a ValueError in words."""

    def offset_target(self, target, log_exposure):
        """The target with a known log-offset (the exposure) of every row (``uses_exposure``
        families)."""
        raise NotImplementedError(f"{type(self).__name__} takes no exposure")

    @abstractmethod
    def kmeans_features(self, target):
        """Columns of the target that a k-means start clusters with the design, ``(n, m)``."""

    def loglik_shift(self, info):
        """What turns the internal log-likelihood into the units of y."""
        return 0.0

    # -- parameters -----------------------------------------------------------
    @abstractmethod
    def init_params(self, n_leaves, n_params, info):
        """Starting parameters of ``n_leaves`` experts on a design of ``n_params`` columns."""

    def check_input(self, Xa):
        """A TypeError or ValueError, in words, for a design the family cannot take."""

    def set_coordinates(self, coords):
        """The coordinates of the family's design (a :class:`mixexp._design.Coordinates`:
        the mean and scale of its columns), given by ``fit`` before any call that takes a
        design.  Families that work in the internal coordinates ignore them; a user's
        family (:class:`mixexp.experts.family.UserFamilyExperts`) turns the design back
        into the user's columns with them."""

    def set_constraints(self, shared, tied_variance):
        """Constrain the experts: the coefficients of the design's columns ``shared`` (int
        array, positions in the design) equal in every expert, and (``tied_variance``) one
        noise variance or dispersion for all experts (``shared_features``,
        ``tied_variance``).  By default a ValueError, in words, unless there is nothing to
        constrain: a family that can constrain its M-step overrides this."""
        if len(shared) or tied_variance:
            raise ValueError(
                f"shared_features and tied_variance are implemented for expert='linear' and "
                f"'lognormal' (shared coefficients by one weighted least squares, one pooled noise "
                f"variance; 'gamma' takes tied_variance), not for expert={self.name!r}; use "
                f"shared_features=None and tied_variance=False."
            )

    def leaf_params(self, params, leaves):
        """The parameters of the leaves ``leaves`` only (``per_leaf`` families): by default
        every parameter array cut along its first axis, which families whose arrays all
        have the leaves first keep."""
        return {key: value[leaves] for key, value in params.items()}

    # -- the E-step's log-densities, row sums and the M-step ---------------------
    @abstractmethod
    def scores(self, Xa, target, params):
        """Every leaf's log-density of the rows, ``(n, n_leaves)``, and a context that
        :meth:`stats` takes (or None)."""

    def truncation_log_prob(self, ctx):
        """Every leaf's log-probability of each row's truncation interval, ``(n, n_leaves)``,
        from the context of :meth:`scores`, or None (rows not truncated).  The E-step then
        divides each row's likelihood by the mixture's probability of its interval, and
        :meth:`stats` takes the expected weights of the rows truncated away as
        ``phantom=`` ``(n, n_leaves)`` (censored responses:
        :class:`mixexp.experts.censored.CensoredExperts`)."""
        return None

    def gram_nodes(self, tree):
        """The tree's nodes whose weighted Grams of the design :meth:`stats` sums (a slice;
        ``stats`` then takes them as ``grams=``), or None."""
        return None

    @abstractmethod
    def stats(self, Xa, target, W, params, ctx, **kwargs):
        """Row sums of a chunk with leaf weights ``W`` ``(n, n_leaves)``, additive over
        chunks (arrays added, lists concatenated)."""

    def censored_stats(self, Xa, target, W, params, rows, lo, hi, log_p, info):
        """The row sums of :meth:`stats` with the rows ``rows`` censored to ``(lo, hi]`` (units
        of y; ``log_p`` ``(len(rows), n_leaves)``: each leaf's log-probability of them): the
        expected sums given the intervals under each leaf (``imputes_censored`` families)."""
        raise NotImplementedError(f"{type(self).__name__} does not impute censored rows")

    def interval_scores(self, Xa, lo, hi, log_p, params, info):
        """``d log P_k(lo < Y <= hi) / d theta_k`` of every row and leaf, ``(n, n_leaves,
        p_leaf)`` (``log_p``: those log-probabilities; ``gives_interval_scores`` families)."""
        raise NotImplementedError(f"{type(self).__name__} gives no analytic interval scores")

    def interval_hessian(self, Xa, lo, hi, log_p, params, info, W):
        """``sum_i W_ik d2 log P_k(lo_i < Y <= hi_i) / d theta_k2`` of every leaf, ``(n_leaves,
        p_leaf, p_leaf)`` (``gives_interval_scores`` families)."""
        raise NotImplementedError(f"{type(self).__name__} gives no analytic interval scores")

    @abstractmethod
    def update(self, S, params, active, safe=False):
        """The M-step of the leaves whose ``active`` flag is set; ``(params, extrapolated)``."""

    def partial_update(self, S, params, active, gamma):
        """Online EM's step from one batch's ``stats`` (``incremental`` families)."""
        raise NotImplementedError(f"{type(self).__name__} learns from running sums, not batches")

    # -- the objective ------------------------------------------------------------
    def penalty(self, params):
        """The penalty on the parameters (subtracted from the log-likelihood)."""
        return 0.0

    @abstractmethod
    def n_free_params(self, params):
        """The number of free parameters (for information criteria)."""

    # -- what other components and prediction use ------------------------------------
    def representation(self, Xa, params):
        """Each leaf's view of the rows for an attention gate, ``(n, n_leaves, r)``
        (``gives_representation`` families)."""
        raise NotImplementedError(f"{type(self).__name__} gives no representation")

    def linear_rows(self, params, info):
        """Coefficient rows whose products with the design start the family's predictions
        (see ``products_outputs``), or None for a family not linear in the design."""
        return None

    def output_from_products(self, output, products, params, info, **row_arrays):
        """The leaves' ``output`` (one of ``products_outputs``) from the products
        ``design @ linear_rows(params, info).T``."""
        raise NotImplementedError(f"{type(self).__name__} computes no output from products")

    def hard_output_from_products(self, output, products, leaf, params, info, **row_arrays):
        """Each row's own leaf's ``output`` (one of ``products_outputs``), ``(n, 1, ...)``, for
        hard routing (``top_k=1``; ``per_leaf`` families): ``leaf`` ``(n,)`` is each row's leaf
        and ``products`` ``(n, m)`` its products with ``linear_rows(leaf_params(params,
        [leaf[i]]), info)``.  By default :meth:`output_from_products` of each leaf's rows."""
        return by_leaf(leaf, lambda k, rows: self.output_from_products(
            output, products[rows], self.leaf_params(params, [k]), info, **take_rows(row_arrays, rows)
        ))

    def mixture_from_products(self, output, products, gates, params, info, **row_arrays):
        """The gates' mixture of the leaves' ``output`` (one of ``mixture_outputs``) from the
        products, without forming each leaf's output."""
        raise NotImplementedError(f"{type(self).__name__} mixes no output from products")

    def export_parts(self, params, info):
        """What an exported graph (:mod:`mixexp.onnx`) needs to compute the leaves' outputs
        from the internal design ``[x_std, 1]``, or None for a family it cannot express:
        ``{"kind": "moments", "rows": (n_leaves * n_targets, n_params), "variance": (n_leaves,
        n_targets)}`` (means ``design @ rows.T`` in the units of y, leaf-major, and variances
        that do not depend on x) or ``{"kind": "class_softmax", "coef": (n_leaves, n_classes,
        n_params)}`` (each leaf's class probabilities ``softmax(coef[k] @ design)``)."""
        return None

    def output_method(self, output):
        """The method ``(Xa, params, info, **row_arrays) -> (n, n_leaves, ...)`` that gives the
        leaves' ``output``: ``"moments"`` (regression: means and variances in the units of y),
        ``"leaf_log_proba"`` or ``"leaf_proba"`` (classification)."""
        methods = {"moments": self.moments, "leaf_log_proba": self.leaf_log_proba, "leaf_proba": self.leaf_proba}
        if output not in methods:
            raise ValueError(f"unknown expert output {output!r}; one of {sorted(methods)}")
        return methods[output]

    # -- predictions ----------------------------------------------------------------
    def moments(self, Xa, params, info, **row_arrays):
        """Each leaf's predictive mean and variance in the units of y, ``(n, n_leaves, n_targets)``
        each (regression families)."""
        raise NotImplementedError(f"{type(self).__name__} gives no moments")

    def leaf_log_proba(self, Xa, params, info):
        """Each leaf's class log-probabilities, ``(n, n_leaves, n_classes)`` (classification)."""
        raise NotImplementedError(f"{type(self).__name__} gives no class probabilities")

    def leaf_proba(self, Xa, params, info):
        """Each leaf's class probabilities, ``(n, n_leaves, n_classes)``: by default the
        exponential of :meth:`leaf_log_proba`."""
        return np.exp(self.leaf_log_proba(Xa, params, info))

    def sample(self, Xa, params, info, leaf, rs, **row_arrays):
        """Draws ``(n, n_draws, n_targets)`` from the leaves ``leaf`` ``(n, n_draws)``."""
        raise NotImplementedError(f"{type(self).__name__} cannot sample")

    # -- distributions (``has_distribution`` families, one target, units of y) ------------
    def log_cdf(self, Xa, y, params, info, **row_arrays):
        """``log P(Y <= y)`` of every leaf, ``(n, n_leaves)``, for ``y`` ``(n,)`` in the units
        of y (counts: ``P(Y <= floor(y))``)."""
        raise NotImplementedError(f"{type(self).__name__} gives no distribution function")

    def log_sf(self, Xa, y, params, info, **row_arrays):
        """``log P(Y > y)`` of every leaf, ``(n, n_leaves)``, for ``y`` ``(n,)`` in the units of y."""
        raise NotImplementedError(f"{type(self).__name__} gives no survival function")

    def leaf_quantile(self, Xa, q, params, info, **row_arrays):
        """Every leaf's quantile at level ``q`` ``(n,)`` in (0, 1), ``(n, n_leaves)``, in the
        units of y (counts: the smallest integer whose CDF reaches ``q``)."""
        raise NotImplementedError(f"{type(self).__name__} gives no quantiles")

    def leaf_limited_mean(self, Xa, limit, params, info, **row_arrays):
        """Every leaf's limited expected value ``E[min(Y, limit)]`` for ``limit`` ``(n,)``,
        ``(n, n_leaves)``, in the units of y."""
        raise NotImplementedError(f"{type(self).__name__} gives no limited means")

    def leaf_stop_loss(self, Xa, limit, params, info, **row_arrays):
        """Every leaf's stop-loss ``E[(Y - limit)+]`` for ``limit`` ``(n,)``, ``(n, n_leaves)``,
        in the units of y (``inf`` where the mean is).  By default the mean less the limited
        mean; a family whose tail makes that difference cancel computes it directly."""
        mean = self.moments(Xa, params, info, **row_arrays)[0][:, :, 0]
        limited = self.leaf_limited_mean(Xa, limit, params, info, **row_arrays)
        with np.errstate(invalid="ignore"):
            return np.where(np.isinf(mean), mean, np.maximum(mean - limited, 0.0))

    # -- the fitted model -------------------------------------------------------
    @abstractmethod
    def attributes(self, params, coords, info):
        """The estimator's fitted attributes of the experts, in the units of the data."""

    # -- inference (mixexp.inference) ------------------------------------------------
    # Leaf k's parameters touch only leaf k's log-density f_ik (column k of ``scores``):
    # the inference vector is leaf-major, ``(n_leaves, p_leaf)``, and the observed
    # information needs, per leaf, the score of f_ik and its weighted Hessian sum.
    def check_inference(self):
        """A ValueError, in words, when this family gives no standard errors."""
        if not self.supports_inference:
            raise ValueError(
                f"summary() and parameter_inference() cannot give standard errors for expert="
                f"{self.name!r}: the family declares no inference vector (supports_inference=False)."
            )

    def inference_vector(self, params):
        """Every leaf's free parameters, ``(n_leaves, p_leaf)``, in an identified
        parameterisation (log variances, log dispersions, softmax rows relative to the first)."""
        raise NotImplementedError(f"{type(self).__name__} declares no inference vector")

    def from_inference_vector(self, theta, params):
        """The parameters ``params`` with the free ones set from ``theta`` ``(n_leaves, p_leaf)``."""
        raise NotImplementedError(f"{type(self).__name__} declares no inference vector")

    def inference_fixed(self, params):
        """Entries of ``theta`` held at their values, bool ``(n_leaves, p_leaf)`` (a sparse fit's
        zeros, a parameter on a bound): they get no standard error."""
        return np.zeros(self.inference_vector(params).shape, dtype=bool)

    def inference_labels(self, params, coords, info, feature_names):
        """The :class:`mixexp._inference_parts.Labels` of ``theta.ravel()`` (leaf-major): names,
        and the linear map to the units of the data (``coords``: the experts' features)."""
        raise NotImplementedError(f"{type(self).__name__} declares no inference vector")

    def inference_ties(self, params):
        """Which entries of ``theta`` are one free parameter, int ``(n_leaves, p_leaf)``: entries
        with the same number are equal by the model's constraints (:meth:`set_constraints`),
        and the information of the constrained model is that of ``theta`` reduced to them.
        By default every entry its own number (leaf-major)."""
        shape = self.inference_vector(params).shape
        return np.arange(int(np.prod(shape))).reshape(shape)

    def inference_scores(self, Xa, target, params):
        """``d f_ik / d theta_k`` of every row and leaf, ``(n, n_leaves, p_leaf)``: by default
        central differences of :meth:`scores`, entry ``j`` of every leaf perturbed at once
        (0 for the entries :meth:`inference_fixed` holds)."""
        return self._fd_scores(lambda p: self.scores(Xa, target, p)[0], Xa.shape[0], params)

    def inference_hessian(self, Xa, target, params, W):
        """``sum_i W_ik d2 f_ik / d theta_k2`` of every leaf, ``(n_leaves, p_leaf, p_leaf)``
        (``W``: posteriors times sample weights, ``(n, n_leaves)``); by default central
        differences of :meth:`inference_scores`."""
        return self._fd_hessian(lambda p: self.inference_scores(Xa, target, p), W, params)

    def inference_truncation_scores(self, Xa, target, params):
        """``d log P_k(interval_i) / d theta_k`` of every row and leaf, ``(n, n_leaves,
        p_leaf)``: the derivatives of :meth:`truncation_log_prob`'s log-probabilities, which
        the observed information of truncated rows needs (their likelihood is divided by
        the mixture's probability of their interval).  Only families whose
        :meth:`truncation_log_prob` gives them are asked."""
        raise NotImplementedError(f"{type(self).__name__} gives no truncation probabilities")

    def inference_truncation_hessian(self, Xa, target, params, W):
        """``sum_i W_ik d2 log P_k(interval_i) / d theta_k2`` of every leaf, ``(n_leaves,
        p_leaf, p_leaf)``; see :meth:`inference_truncation_scores`."""
        raise NotImplementedError(f"{type(self).__name__} gives no truncation probabilities")

    def _fd_scores(self, values, n, params):
        """Central differences ``(n, n_leaves, p_leaf)`` of ``values(params)`` ``(n, n_leaves)``,
        entry ``j`` of every leaf perturbed at once."""
        theta = self.inference_vector(params)
        out = np.zeros((n,) + theta.shape)
        for j, free, h, plus, minus in self._fd_points(theta, params):
            d = values(plus) - values(minus)
            out[:, free, j] = d[:, free] / (2.0 * h[free])
        return out

    def _fd_hessian(self, scores, W, params):
        """``sum_i W_ik`` times the central differences of ``scores(params)`` ``(n, n_leaves,
        p_leaf)``, symmetrised: ``(n_leaves, p_leaf, p_leaf)``."""
        theta = self.inference_vector(params)
        H = np.zeros(theta.shape + theta.shape[1:])
        for j, free, h, plus, minus in self._fd_points(theta, params):
            dS = scores(plus) - scores(minus)
            H[free, :, j] = np.einsum("nl,nlp->lp", W[:, free], dS[:, free]) / (2.0 * h[free, None])
        return 0.5 * (H + H.transpose(0, 2, 1))

    def _fd_points(self, theta, params):
        """``(j, free leaves, steps, params + steps, params - steps)``: entry ``j`` of every
        leaf where it is free."""
        fixed = self.inference_fixed(params)
        for j in range(theta.shape[1]):
            free = ~fixed[:, j]
            if not np.any(free):
                continue
            h = np.where(free, fd_steps(theta[:, j]), 0.0)
            plus, minus = theta.copy(), theta.copy()
            plus[:, j] += h
            minus[:, j] -= h
            yield j, free, h, self.from_inference_vector(plus, params), self.from_inference_vector(minus, params)
