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
    supports_l1 = False
    l1_ratio = 0.0
    products_outputs = frozenset()
    mixture_outputs = frozenset()

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

    def leaf_params(self, params, leaves):
        """The parameters of the leaves ``leaves`` only (``per_leaf`` families)."""
        raise NotImplementedError(f"{type(self).__name__} does not evaluate leaves one by one")

    # -- the E-step's log-densities, row sums and the M-step ---------------------
    @abstractmethod
    def scores(self, Xa, target, params):
        """Every leaf's log-density of the rows, ``(n, n_leaves)``, and a context that
        :meth:`stats` takes (or None)."""

    def gram_nodes(self, tree):
        """The tree's nodes whose weighted Grams of the design :meth:`stats` sums (a slice;
        ``stats`` then takes them as ``grams=``), or None."""
        return None

    @abstractmethod
    def stats(self, Xa, target, W, params, ctx, **kwargs):
        """Row sums of a chunk with leaf weights ``W`` ``(n, n_leaves)``, additive over
        chunks (arrays added, lists concatenated)."""

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

    def mixture_from_products(self, output, products, gates, params, info, **row_arrays):
        """The gates' mixture of the leaves' ``output`` (one of ``mixture_outputs``) from the
        products, without forming each leaf's output."""
        raise NotImplementedError(f"{type(self).__name__} mixes no output from products")

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

    # -- the fitted model -------------------------------------------------------
    @abstractmethod
    def attributes(self, params, coords, info):
        """The estimator's fitted attributes of the experts, in the units of the data."""
