"""The contract every gate component fulfils: :class:`Gate`.

A gate sits at every inner node of the model's tree and gives each edge a
log term; the engine (:mod:`mixexp._engine`) owns the EM loop and reaches
the gate only through the members declared here, in the model's internal
coordinates (the design ``[x_std, 1]``, parameters as dicts of small arrays).
Members with a default need not be written by a gate that has nothing to
say; the abstract ones must be.  The engine, prediction and inference call
these members; none of them probes a gate for what it has.

The registry :data:`mixexp.gates.GATES` lists the gates by the name the
estimators' ``gate`` parameter takes; the contract battery
(``tests/test_contract.py``) runs every registered gate through the same
checks.
"""

from abc import ABC, abstractmethod

import numpy as np

from .._inference_parts import disjoint_groups, fd_steps
from .._numerics.estep import e_step


class Gate(ABC):
    """Base class of the gate components: every method and flag, with its default.

    Flags (class attributes)
    ------------------------
    exact : bool, default=True
        Every ``update`` never decreases the penalised objective (EM is monotone).
    closed_form : bool, default=False
        One ``update`` is the whole M-step for given posteriors (no gain from
        iterating it with the posteriors fixed).
    models_x : bool, default=False
        The objective includes ``log p(x)`` (a generative gate): log-likelihoods
        are of ``(x, y)``, not of ``y`` given ``x``.
    uses_experts : bool, default=False
        ``scores`` and ``stats`` take the experts' ``representation`` of the rows
        as a last argument; EM then runs as ECM.
    accepts_sparse : bool, default=True
        The gate takes a sparse design.
    needs_features : bool, default=False
        The gate needs at least one feature (``gate_features=[]`` is refused).
    takes_usage_penalties : bool, default=False
        ``balance_alpha`` and ``specialization_alpha`` apply to this gate.
    l1_ratio : float, default=0.0
        Elastic-net mixing of the coefficient penalty (0: ridge or none).
    supports_inference : bool, default=False
        The gate gives standard errors (:mod:`mixexp.inference`): it implements
        :meth:`inference_vector`, :meth:`from_inference_vector` and
        :meth:`inference_labels`; the derivatives of its log terms then come from
        central differences of :meth:`scores` unless it writes its own.
    takes_missing : bool, default=False
        The gate is a Gaussian over the features, which with experts that also
        ``takes_missing`` makes one joint Gaussian of ``(x, y)`` per leaf: EM then
        marginalises NaN in X (:mod:`mixexp._missing`).
    """

    exact = True
    closed_form = False
    models_x = False
    uses_experts = False
    accepts_sparse = True
    needs_features = False
    takes_usage_penalties = False
    l1_ratio = 0.0
    supports_inference = False
    takes_missing = False

    #: the ``gate=`` name, for messages
    name = None

    def __init__(self, tree):
        self.tree = tree

    @classmethod
    def from_params(cls, tree, params):
        """The gate for ``tree`` from the estimator's parameters ``params`` (a dict of
        ``get_params``); a ValueError, in words, for a combination this gate cannot fit."""
        raise NotImplementedError

    @classmethod
    def check_params(cls, params):
        """A ValueError, in words, when the estimator's parameters ask of this gate what it
        cannot do (a penalty it does not take, no feature where it needs one)."""
        usage = params.get("balance_alpha", 0.0) > 0 or params.get("specialization_alpha", 0.0) > 0
        if usage and not cls.takes_usage_penalties:
            raise ValueError(
                "balance_alpha and specialization_alpha penalise a softmax or attention gate; "
                f"with gate={cls.name!r} they must be 0."
            )

    @classmethod
    def check_columns(cls, columns):
        """A ValueError when the gate's columns (``None``: all) cannot serve it."""
        if cls.needs_features and columns is not None and len(columns) == 0:
            raise ValueError(
                f"gate={cls.name!r} needs at least one gate feature; gate_features=[] (constant "
                "mixing weights) goes with gate='softmax'."
            )

    # -- parameters ----------------------------------------------------------
    @abstractmethod
    def init_params(self, n_params):
        """Starting parameters for a design of ``n_params`` columns (intercept included)."""

    def check_input(self, Xa):
        """A TypeError or ValueError, in words, for a design the gate cannot take."""

    # -- the E-step's log terms ----------------------------------------------
    @abstractmethod
    def scores(self, Xa, params, rep=None):
        """Log term of every edge, ``(n, n_inner * branching)``, node-major.

        ``rep`` is the experts' representation of the rows (``uses_experts``)."""

    def leaf_probabilities(self, Xa, params, rep=None):
        """The gate's probability of every leaf, ``(n, n_leaves)``: by default the E-step's
        posteriors when every expert's density is 1 (the products of the edge
        probabilities along each leaf's path)."""
        t = self.tree
        return e_step(self.scores(Xa, params, rep), None, t.branching)[0][:, t.n_inner :]

    def linear_rows(self, params):
        """Coefficient rows whose products with the design are the gate's logits relative to
        each node's first child, or None for a gate that is not linear in the design.

        A gate that returns rows also implements :meth:`leaf_probabilities_from_logits`."""
        return None

    def leaf_probabilities_from_logits(self, logits):
        """:meth:`leaf_probabilities` from ``design @ linear_rows(params).T``."""
        raise NotImplementedError(f"{type(self).__name__} is not linear in the design")

    def top_leaf_from_logits(self, logits):
        """Each row's most probable leaf, ``(n,)``, from ``design @ linear_rows(params).T``
        (hard routing, ``top_k=1``): by default the argmax of
        :meth:`leaf_probabilities_from_logits`."""
        return np.argmax(self.leaf_probabilities_from_logits(logits), axis=1)

    # -- row sums and the M-step -----------------------------------------------
    def constant_stats(self, Xa, sw):
        """Row sums that do not depend on the parameters (summed once per design)."""
        return {}

    def gram_nodes(self, tree):
        """The tree's nodes whose weighted Grams of the design :meth:`stats` sums (a slice
        of node indices; ``stats`` then takes them as ``grams=``), or None."""
        return None

    @abstractmethod
    def stats(self, Xa, log_gate, node_weight, params, *args, **kwargs):
        """Row sums of a chunk, additive over chunks (arrays added, lists concatenated)."""

    @abstractmethod
    def update(self, S, C, params, active, safe=False):
        """The M-step from the sums ``S`` and constant sums ``C`` of the nodes whose
        ``active`` flag is set; returns ``(params, extrapolated)``.  With ``safe``, no
        extrapolated step."""

    # -- the objective ------------------------------------------------------------
    def penalty(self, params):
        """The penalty on the parameters (subtracted from the log-likelihood)."""
        return 0.0

    def data_penalty(self, S):
        """A penalty that needs all rows: from the gate sums ``S`` of a pass."""
        return 0.0

    def loglik_shift(self, coords):
        """What turns the internal log-likelihood into the units of the data (a gate that
        models x changes the units of x)."""
        return 0.0

    @abstractmethod
    def n_free_params(self, params):
        """The number of free parameters (for information criteria)."""

    # -- the fitted model -------------------------------------------------------
    @abstractmethod
    def attributes(self, params, coords, flat):
        """The estimator's fitted attributes of the gate, in the units of the data."""

    # -- inference (mixexp.inference) ------------------------------------------------
    # The observed information is assembled from per-edge pieces: the log term g_ie of
    # every row i and edge e (``scores``) as a function of the gate's inference vector
    # theta (its free parameters, identified, in internal coordinates).
    def check_inference(self):
        """A ValueError, in words, when this gate gives no standard errors."""
        if not self.supports_inference:
            raise ValueError(
                f"summary() and parameter_inference() cannot give standard errors for gate="
                f"{self.name!r}: the gate declares no inference vector (supports_inference=False)."
            )

    def inference_vector(self, params):
        """The gate's free parameters as a flat vector ``theta`` ``(P,)``, in an identified
        parameterisation (e.g. each softmax's rows relative to its first)."""
        raise NotImplementedError(f"{type(self).__name__} declares no inference vector")

    def from_inference_vector(self, theta, params):
        """The parameters ``params`` with the free ones set from ``theta``."""
        raise NotImplementedError(f"{type(self).__name__} declares no inference vector")

    def inference_fixed(self, params):
        """Entries of ``theta`` held at their values, bool ``(P,)`` (a sparse fit's zeros, a
        parameter on the boundary of its space): they get no standard error."""
        return np.zeros(self.inference_vector(params).shape[0], dtype=bool)

    def inference_labels(self, params, coords, feature_names):
        """The :class:`mixexp._inference_parts.Labels` of ``theta``: names, and the linear map
        to the units of the data (``coords``: the gate's features)."""
        raise NotImplementedError(f"{type(self).__name__} declares no inference vector")

    def relabel(self, params, node_map):
        """The parameters of the same model with its tree relabelled, for the bootstrap's label
        matching (:func:`mixexp.inference.bootstrap`): new node ``j`` is old node ``node_map[j]``,
        an automorphism of the tree (the children of inner nodes permuted, subtrees moving with
        them).  Edge ``e`` leads to node ``e + 1``, so new edge ``e`` is old edge
        ``node_map[e + 1] - 1``.  Only what :meth:`inference_vector` reads need be relabelled."""
        raise NotImplementedError(
            f"gate={self.name!r} cannot relabel its experts (the bootstrap's label matching)"
        )

    def inference_edges(self, params):
        """Which edges' log terms each entry of ``theta`` can change, bool ``(P, n_edges)``:
        central differences perturb entries with disjoint edges together.  By default all."""
        t = self.tree
        return np.ones((self.inference_vector(params).shape[0], t.n_inner * t.branching), dtype=bool)

    def inference_edge_scores(self, Xa, params):
        """``d g_ie / d theta``, ``(n, n_edges, P)``: by default central differences of
        :meth:`scores` (0 for the entries :meth:`inference_fixed` holds)."""
        theta = self.inference_vector(params)
        touch = self.inference_edges(params)
        out = np.zeros((Xa.shape[0], touch.shape[1], theta.shape[0]))
        for group, h, plus, minus in self._fd_points(theta, params, touch):
            d = self.scores(Xa, plus) - self.scores(Xa, minus)
            for k, hk in zip(group, h):
                out[:, touch[k], k] = d[:, touch[k]] / (2.0 * hk)
        return out

    def inference_hessian(self, Xa, params, node_weight):
        """``sum_i sum_e w_ie d2 g_ie / d theta2``, ``(P, P)``, with ``w_ie`` the weight of the
        node edge ``e`` leads to (``node_weight``, ``(n, n_nodes)``: posteriors times sample
        weights).  By default central differences of :meth:`inference_edge_scores`."""
        theta = self.inference_vector(params)
        touch = self.inference_edges(params)
        W = node_weight[:, 1:]
        H = np.zeros((theta.shape[0], theta.shape[0]))
        for group, h, plus, minus in self._fd_points(theta, params, touch):
            dS = self.inference_edge_scores(Xa, plus) - self.inference_edge_scores(Xa, minus)
            for k, hk in zip(group, h):
                H[:, k] = np.einsum("ne,nep->p", W[:, touch[k]], dS[:, touch[k]]) / (2.0 * hk)
        return 0.5 * (H + H.T)

    def _fd_points(self, theta, params, touch):
        """``(group, steps, params + steps, params - steps)`` of the central differences."""
        free = ~self.inference_fixed(params)
        for group in disjoint_groups(touch, free):
            h = fd_steps(theta[group])
            plus, minus = theta.copy(), theta.copy()
            plus[group] += h
            minus[group] -= h
            yield group, h, self.from_inference_vector(plus, params), self.from_inference_vector(minus, params)
