"""The EM engine: a tree of gates over experts, run over chunks of rows.

A flat mixture of experts is the tree of depth 1.  The engine owns the loop
and knows components only through their protocol (in the model's internal
coordinates, parameters as dicts of small arrays):

``gate``
    ``init_params(n_params)``, ``constant_stats(Xa, sw)``, ``scores(Xa, P)``
    (log term of every edge), ``stats(Xa, log_gate, node_weight, P)``,
    ``update(S, C, P, active, safe)``, ``penalty(P)``, ``n_free_params(P)``.
``experts``
    ``init_params(n_leaves, n_params, info)``, ``scores(Xa, target, P)``
    (per-leaf log-densities and a context for ``stats``),
    ``stats(Xa, target, W, P, ctx)``, ``update(S, P, active, safe)``,
    ``penalty(P)``, ``n_free_params(P)``.

A gate whose scores depend on the experts (``uses_experts = True``, the
attention gate) receives the experts' ``representation(Xa, P)`` of the rows,
``(n, n_leaves, r)``, as a last argument of ``scores`` and ``stats``; EM then
runs as ECM (see :meth:`EMEngine.run`).

A component whose sums include weighted Gram matrices of its design names
the tree's nodes whose weights they use (``gram_nodes(tree)``, a slice of
node indices) and takes them as ``stats(..., grams=...)``: when the gate and
the experts see the same features, the engine computes the Grams of both
from one product per chunk (:mod:`mixexp._shared_grams`).

``stats`` return dicts of row sums, additive over chunks (arrays are added,
lists concatenated).  One EM iteration is one pass: for every chunk, the
E-step (:func:`mixexp._numerics.estep.e_step`, as :meth:`EMEngine.e_step`'s)
and every component's ``stats``, summed in chunk order (so results do
not depend on the number of threads); then every ``update``.  An update may
take an extrapolated step (``extrapolated=True``); when the objective of the
next pass fell, the engine takes the safe steps from the same sums instead.

The E-step's unit is the row, or with grouped rows (panel data,
:class:`mixexp._groups.GroupedDesign`) the group: the design reduces a chunk's
leaf log-densities to its groups, the gate's design and weights are the
groups', and the design expands the groups' posteriors back to the rows
(``unit_logdens``, ``gate_rows``, ``node_weights``, ``to_rows``; the identities
for ungrouped rows).
"""

import functools
import time
import warnings
import weakref

import numpy as np

from ._assign import Assignment
from ._numerics import estep
from ._numerics.linalg import column_sums
from ._parallel import Runner
from ._shared_grams import SharedGrams

# A leaf or gate whose total weight falls below this fraction of the data's
# total weight keeps its parameters (the M-step would be singular for it);
# fit() then warns once with FrozenExpertWarning.
MIN_WEIGHT_FRACTION = 1e-10
#: Iterations in a row without gain that EM goes through with approximate
#: (estimator) experts before it returns its best iterate.  Stopping at the first
#: one ended MLP experts after a single refit (R² 0.88 where 5 gave 0.95).
NON_GAIN_PATIENCE = 5
#: EM stops, converged, once the gain of this many iterations in a row fell below
#: ``tol``.  One was not enough: an extrapolated gate step that overshoots gains
#: little, and the next step, its length learned from the overshoot, gains again.
#: A start fitted on a subsample hands EM on all the rows a step length learned
#: there, whose first step can overshoot so: 2 of 12 fits of 10**6 rows stopped
#: after one iteration, 0.02 nats per sample short
#: (benchmarks/results/convergence_rule.md, which also compares three in a row
#: and Aitken's rule).
SMALL_GAINS_TO_CONVERGE = 2
#: Stochastic EM stops, converged, once this many iterations in a row have not raised
#: the best observed objective by more than ``tol``; else it runs ``max_iter``
#: iterations.  Its chain moves by random draws, so a single iteration without gain
#: says little.
SEM_PATIENCE = 20


def converged(bounds, tol):
    """Whether EM has converged: the last :data:`SMALL_GAINS_TO_CONVERGE` gains in
    ``bounds`` (the start's objective, then that of every iteration that gained)
    are all below ``tol``."""
    k = SMALL_GAINS_TO_CONVERGE
    return len(bounds) > k and all(bounds[-i] - bounds[-i - 1] < tol for i in range(1, k + 1))


class FrozenExpertWarning(UserWarning):
    """An expert received (almost) no responsibility and kept its parameters.

    Its total posterior weight fell to at most ``MIN_WEIGHT_FRACTION`` (1e-10)
    of the data's total weight, where its weighted fit would be singular; EM
    keeps its previous parameters (it is "frozen") and the log-likelihood stays
    finite.  It usually means there are more experts than the data support.
    """


def add_stats(a, b):
    """``a + b`` for stats dicts: arrays (added into ``a``) and numbers, lists concatenated."""
    if isinstance(a, dict):
        return {key: add_stats(a[key], b[key]) for key in a}
    if isinstance(a, np.ndarray):
        a += b
        return a
    return a + b


class NodeWeights:
    """Fixed node weights ``(n, n_nodes)`` (posteriors times sample weights) of every row,
    which :meth:`EMEngine.pass_stats` takes in place of an E-step; with grouped rows also
    the gate's, one row per group (``units``)."""

    def __init__(self, values, units=None):
        self.values = values
        self.units = units


class EMEngine:
    """E-step, statistics, updates and the EM loop for one tree of components.

    Parameters
    ----------
    tree : mixexp._tree.Tree
    gate : a gate component
    experts : an expert component
    runner : mixexp._parallel.Runner, optional
        Runs the chunks of a pass; serial by default.
    """

    def __init__(self, tree, gate, experts, runner=None):
        self.tree = tree
        self.gate = gate
        self.experts = experts
        self.runner = runner or Runner(1)
        self._leaf_to_subtree = tree.leaf_to_subtree
        self.frozen_leaves = set()  # leaves kept unchanged by some update of the last run
        self._shared_grams = SharedGrams(tree, gate, experts)
        self._constant = None  # (weak reference to a design, its constant sums)

    # -- parameters -------------------------------------------------------
    def zero_params(self, design, info):
        return {
            "gate": self.gate.init_params(design.gate_X.shape[1]),
            "experts": self.experts.init_params(self.tree.n_leaves, design.expert_X.shape[1], info),
        }

    def penalty(self, params, S=None):
        """The penalties at ``params``; with the sums ``S`` of a pass at ``params``, also a
        gate's data-dependent penalties (``gate.data_penalty``), which need all rows."""
        value = self.gate.penalty(params["gate"]) + self.experts.penalty(params["experts"])
        if S is not None and "gate" in S:
            value += self.gate.data_penalty(S["gate"])
        return value

    def n_free_params(self, params):
        return self.gate.n_free_params(params["gate"]) + self.experts.n_free_params(
            params["experts"]
        )

    # -- passes over the rows -------------------------------------------------
    def _map(self, func, design):
        return self.runner.map(func, design.chunks())

    def _sum(self, parts):
        # every part is a fresh dict of one chunk, so the first can hold the total
        total = None
        for part in parts:  # in chunk order
            total = part if total is None else add_stats(total, part)
        return total

    def constant_stats(self, design):
        """Row sums that do not depend on the parameters (e.g. the root gate's Gram).

        Summed once per design: the starts' fits and runs and the final run all use
        them (eleven passes of a default fit).  Callers must not modify them.
        """
        cached = self._constant
        if cached is not None and cached[0]() is design:
            return cached[1]
        C = self._sum(self._map(lambda s: self.gate.constant_stats(*design.gate_rows(s)), design))
        self._constant = (weakref.ref(design), C)
        return C

    def representation(self, Xe, params):
        """The experts' representations of the rows for a gate that uses them, else None."""
        return self.experts.representation(Xe, params["experts"]) if self.gate.uses_experts else None

    def gate_scores(self, Xg, Xe, params):
        """The gate's log terms of the rows, and the experts' representations when it uses them."""
        rep = self.representation(Xe, params)
        return self.gate.scores(Xg, params["gate"], rep), rep

    def _chunk_scores(self, params, Xg, Xe, target, experts=True):
        """The E-step's inputs on a chunk: the gate's log terms of the edges, the experts'
        representations (for a gate that uses them, else None), and with ``experts`` the
        leaves' log-densities and the experts' context for ``stats`` (else None, None)."""
        log_gate, rep = self.gate_scores(Xg, Xe, params)
        logdens, ctx = self.experts.scores(Xe, target, params["experts"]) if experts else (None, None)
        return log_gate, rep, logdens, ctx

    def _chunk_stats(self, params, design, s, post, parts):
        t = self.tree
        Xg, Xe, target, sw = design.rows(s)
        # with fixed posteriors, experts that do not move need no densities (fit_posteriors
        # keeps their part of the expected log-likelihood from an earlier pass)
        experts_scored = post is None or "experts" in parts
        log_gate, rep, logdens, ctx = self._chunk_scores(params, Xg, Xe, target, experts_scored)
        S = {}
        # the E-step's units are the rows, or the groups of grouped rows (the gate's rows:
        # gate_weight; the experts' are the rows: node_weight)
        phantom = None
        if post is None or isinstance(post, Assignment):
            node_post, loglik = estep.e_step(log_gate, design.unit_logdens(logdens, sw, s), t.branching)
            if post is not None:  # classification or stochastic EM: one leaf per unit
                node_post, loglik = post.apply(node_post, loglik, self._leaf_to_subtree, t.n_inner, s)
            log_kept = self.experts.truncation_log_prob(ctx)
            if log_kept is not None:  # truncation (refused with algorithm='cem' or 'sem')
                loglik, phantom = self._truncated(log_gate, log_kept, loglik)
                # the root's weight is no longer the sample weight: its Gram from this pass
                S["gate_constant"] = self.gate.constant_stats(Xg, sw * (1.0 + phantom[:, 0]))
                node_post = node_post + phantom
            S["loglik"] = float(design.gate_rows(s)[1] @ loglik)
            gate_weight, node_weight = design.node_weights(node_post, sw, s)
            if phantom is not None:  # the experts' weights of the rows, and of the phantoms
                node_weight = (node_post - phantom) * sw[:, None]
                phantom = phantom[:, t.n_inner :] * sw[:, None]
        else:
            if isinstance(post, NodeWeights):
                node_weight = post.values[s]
                gate_weight = node_weight if post.units is None else post.units[design.units(s)]
            else:
                node_weight = gate_weight = self._node_weight(post[s], sw)
            # the expected complete-data log-likelihood, which a fixed-posterior M-step
            # increases: the gate's and the experts' parts
            S["q_gate"] = estep.positive_weighted_sum(gate_weight[:, 1:], log_gate)
            if experts_scored:
                S["q_experts"] = estep.positive_weighted_sum(node_weight[:, t.n_inner :], logdens)
        S["mass"] = column_sums(node_weight)
        grams = self._shared_grams(design, Xg, node_weight, parts)
        if "gate" in parts:
            extra = () if rep is None else (rep,)
            S["gate"] = self.gate.stats(Xg, log_gate, gate_weight, params["gate"], *extra, **grams["gate"])
        if "experts" in parts:
            W = node_weight[:, t.n_inner :]
            extra = {} if phantom is None else {"phantom": phantom}
            S["experts"] = self.experts.stats(Xe, target, W, params["experts"], ctx, **grams["experts"], **extra)
        return S

    def _truncated(self, log_gate, log_kept, loglik):
        """Truncated rows (a response observed only inside its truncation interval): the
        log-likelihoods ``loglik`` less the log-probability ``log S`` that the mixture puts on
        the interval (``log_kept``: every leaf's, ``(n, n_leaves)``), and every node's expected
        weight of the phantom rows, ``(n, n_nodes)``.

        EM's complete data hold, for each observed row, the rows at the same x that fell
        outside its interval before it was observed (a geometric number, ``(1 - S) / S`` of
        them expected; their responses are censored to outside the interval): the gate
        learns from both, each leaf from its rows and from its phantoms' probability of
        falling outside (Dempster, Laird & Rubin 1977, sec. 4.7; LRMoE's truncation)."""
        branching = self.tree.branching
        log_s = estep.e_step(log_gate, log_kept, branching)[1]
        with np.errstate(divide="ignore", invalid="ignore"):
            log_out = np.where(log_kept > np.log(0.5), np.log(-np.expm1(log_kept)), np.log1p(-np.exp(log_kept)))
        out_post, log_1ms = estep.e_step(log_gate, log_out, branching)
        with np.errstate(invalid="ignore"):
            ratio = np.where(np.isneginf(log_1ms), 0.0, np.exp(log_1ms - log_s))
        out_post = np.nan_to_num(out_post, nan=0.0)
        return loglik - log_s, out_post * ratio[:, None]

    def _node_weight(self, post, sw):
        """Every node's weight ``(n, n_nodes)`` from leaf posteriors ``post`` (n, n_leaves), or a
        leaf per row (n,), times the sample weights ``sw``."""
        if post.ndim == 1:
            return self._leaf_to_subtree[post] * sw[:, None]
        return (post @ self._leaf_to_subtree) * sw[:, None]

    def _fixed_weights(self, post, design):
        """:class:`NodeWeights` of leaf posteriors ``post`` (n, n_leaves) or a leaf per row
        (n,); grouped rows: each group's posterior (:meth:`GroupedDesign.unit_posteriors`)."""
        if not design.grouped:
            return NodeWeights(self._node_weight(post, design.sw))
        units = self._node_weight(design.unit_posteriors(post, self.tree.n_leaves), design.gate_sw)
        return NodeWeights(units[design.row_unit] * design.sw[:, None], units)

    def pass_stats(self, params, design, post=None, parts=("gate", "experts")):
        """The row sums of the components in ``parts`` at ``params``: one pass over the rows.

        With ``post`` (n, n_leaves), a leaf per row (n,) or :class:`NodeWeights`, the
        E-step is replaced by these posteriors; with an :class:`~mixexp._assign.Assignment`,
        the E-step's posteriors are replaced by its leaf of every unit.
        """
        if isinstance(post, Assignment):
            post.begin_pass()
        return self._sum(
            self._map(lambda s: self._chunk_stats(params, design, s, post, parts), design)
        )

    def _chunk_posteriors(self, params, design, s, experts=True, loglik=None):
        """The leaf posteriors of the chunk ``s``'s units (rows, or groups) and their
        log-likelihoods (written into ``loglik`` when given)."""
        Xg, Xe, target, sw = design.rows(s)
        log_gate, _, logdens, ctx = self._chunk_scores(params, Xg, Xe, target, experts)
        unit_logdens = design.unit_logdens(logdens, sw, s)
        node_post, loglik = estep.e_step(log_gate, unit_logdens, self.tree.branching, loglik)
        log_kept = self.experts.truncation_log_prob(ctx) if experts else None
        if log_kept is not None:  # truncated rows: a row's posterior is that of its response alone
            loglik -= estep.e_step(log_gate, log_kept, self.tree.branching)[1]
        return node_post[:, self.tree.n_inner :], loglik

    def e_step(self, params, design, experts=True):
        """Leaf posteriors ``(n, n_leaves)`` of every row and the log-likelihood of every
        unit of the E-step: ``(n,)`` rows, or ``(n_groups,)`` groups of grouped rows
        (whose rows share their group's posteriors).

        With ``experts=False`` every expert's density is 1: the posteriors are
        the gate's path probabilities and the log-likelihood is the gate's log
        density of x (0 for a softmax gate).
        """
        leaf_post = np.empty((design.n_rows, self.tree.n_leaves))
        loglik = np.empty(design.n_units)

        def chunk(s):
            post, _ = self._chunk_posteriors(params, design, s, experts, loglik[design.units(s)])
            leaf_post[s] = design.to_rows(post, s)

        for _ in self._map(chunk, design):
            pass
        return leaf_post, loglik

    def owners(self, params, design):
        """The leaf of largest posterior of every row ``(n,)``, computed chunk by chunk (no
        ``(n, n_leaves)`` array)."""
        owner = np.empty(design.n_rows, dtype=np.intp)

        def chunk(s):
            post, _ = self._chunk_posteriors(params, design, s)
            owner[s] = design.to_rows(post.argmax(axis=1), s)

        for _ in self._map(chunk, design):
            pass
        return owner

    def total_weight(self, design):
        """The sum of the sample weights of the rows a pass covers."""
        return design.sw.sum()

    def objective(self, params, S, total_weight):
        """Mean per-sample penalised log-likelihood (internal coordinates)."""
        return (S["loglik"] - self.penalty(params, S)) / total_weight

    # -- updates ------------------------------------------------------------
    def update(self, S, C, params, total_weight, safe=False):
        """The M-step of every component whose sums are in ``S`` (constant sums: ``C``);
        the others keep their parameters."""
        active = S["mass"] > MIN_WEIGHT_FRACTION * total_weight
        leaves = active[self.tree.n_inner :]
        self.frozen_leaves.update(np.flatnonzero(~leaves).tolist())
        new, extrapolated = dict(params), False
        C = S.get("gate_constant", C)  # truncated rows: the root's weights of this pass
        if "gate" in S:
            new["gate"], extrapolated = self.gate.update(S["gate"], C, params["gate"], active, safe)
        if "experts" in S:
            new["experts"], extra = self.experts.update(S["experts"], params["experts"], leaves, safe)
            extrapolated |= extra
        return new, extrapolated

    def fit_posteriors(self, post, design, params, n_steps, tol=1e-10):
        """Parameters fitted to fixed leaf posteriors ``post`` (n, n_leaves), or a leaf
        per row (n,): up to ``n_steps`` M-steps.

        Each step increases the expected complete-data log-likelihood; they stop
        when its gain falls below ``tol`` relative to its size.  Components whose
        update is closed form are updated in the first step only.
        """
        total = self.total_weight(design)
        C = self.constant_stats(design)
        post = self._fixed_weights(post, design)  # once, not at every step
        S = self.pass_stats(params, design, post)
        # after the first step only the components that iterate need their sums; the
        # experts' part of Q stays that of the first step's update when they do not iterate
        components = {"gate": self.gate, "experts": self.experts}
        iterative = tuple(name for name, part in components.items() if not part.closed_form)
        q_experts = None

        def objective(params, S):
            return S["q_gate"] + S.get("q_experts", q_experts) - self.penalty(params, S)

        Q = objective(params, S)
        for step in range(n_steps):
            if step > 0 and not iterative:
                break
            # the first step's pass also scores the experts (their stats come along)
            parts = iterative if step > 0 or "experts" in iterative else iterative + ("experts",)
            new, extrapolated = self.update(S, C, params, total)
            S_new = self.pass_stats(new, design, post, parts)
            Q_new = objective(new, S_new)
            if extrapolated and not Q_new >= Q:
                new, _ = self.update(S, C, params, total, safe=True)
                S_new = self.pass_stats(new, design, post, parts)
                Q_new = objective(new, S_new)
            if step == 0 and "experts" not in iterative:
                # the experts keep these parameters from now on: their part of Q too
                q_experts = S_new["q_experts"]
                S_new = {key: value for key, value in S_new.items() if key != "experts"}
            gain = Q_new - Q
            params, S, Q = new, S_new, Q_new
            if step > 0 and not gain > tol * max(1.0, abs(Q)):
                break
        return params

    # -- iterations -----------------------------------------------------------
    def _step(self, S, C, params, design, total, parts, obj, rule=None):
        """Update the components in ``parts`` from ``S``; a pass at the result (its
        posteriors replaced by ``rule``'s leaves, :mod:`mixexp._assign`, when given).

        An extrapolated step whose objective fell below ``obj`` is replaced by
        the safe step from the same sums.
        """
        sums = {key: value for key, value in S.items() if key not in ("gate", "experts") or key in parts}
        new, extrapolated = self.update(sums, C, params, total)
        S_new = self.pass_stats(new, design, rule)
        obj_new = self.objective(new, S_new, total)
        if extrapolated and not obj_new >= obj:
            new, _ = self.update(sums, C, params, total, safe=True)
            S_new = self.pass_stats(new, design, rule)
            obj_new = self.objective(new, S_new, total)
        return new, S_new, obj_new

    def _em_step(self, params, S, obj, C, design, total, rule=None):
        """One EM iteration: every component's update from one pass's sums."""
        return self._step(S, C, params, design, total, ("gate", "experts"), obj, rule)

    def _ecm_step(self, params, S, obj, C, design, total, rule=None):
        """One ECM iteration for a gate that depends on the experts (two passes).

        The gate's step (experts fixed) is an EM step for the gate alone; the
        experts' step then maximises their part of the expected log-likelihood
        but also moves the gate's scores, so it is kept only if the objective
        did not decrease.  (The gate's step is checked too, as any step.)
        """
        mid, S_mid, obj_mid = self._step(S, C, params, design, total, ("gate",), obj, rule)
        if not obj_mid >= obj:  # only rounding can do this: keep the parameters
            mid, S_mid, obj_mid = params, S, obj
        new, S_new, obj_new = self._step(S_mid, C, mid, design, total, ("experts",), obj_mid, rule)
        if not obj_new >= obj_mid:
            return mid, S_mid, obj_mid
        return new, S_new, obj_new

    # -- the loop -------------------------------------------------------------
    def run(self, params, design, max_iter, tol, verbose=0, verbose_interval=10, rule=None):
        """EM from ``params``; classification or stochastic EM with ``rule``
        (:func:`mixexp._assign.make_assignment`).

        Returns
        -------
        params, lower_bounds (list, one per iteration), converged (bool), n_iter (int).

        With components whose updates are exact, the objective never decreases.
        A gate that uses the experts' representations runs ECM
        (:meth:`_ecm_step`, two passes per iteration), monotone by its checks.
        Otherwise (``exact`` False: refits that only approximate the M-step) EM
        goes on from an iteration that does not gain, for at most
        :data:`NON_GAIN_PATIENCE` such iterations in a row, and returns the best
        iterate; the bound recorded for an iteration without gain repeats the best.

        EM has converged (:func:`converged`) when the gains of the last
        :data:`SMALL_GAINS_TO_CONVERGE` iterations that gained were all below
        ``tol``: a single small gain does not stop it.

        Classification EM (``rule.hard_objective``) runs the same loop on the
        classification log-likelihood, which the bounds record.  Stochastic EM
        (``rule.stochastic``) moves to every iterate, records the best observed
        objective so far and returns the iterate that reached it (the start
        included); it stops at ``max_iter`` or, converged, after
        :data:`SEM_PATIENCE` iterations in a row that did not raise the best by
        more than ``tol``.
        """
        self.frozen_leaves = set()
        total = self.total_weight(design)
        exact = self.gate.exact and self.experts.exact
        C = self.constant_stats(design)
        S = self.pass_stats(params, design, rule)
        obj = self.objective(params, S, total)
        if not np.isfinite(obj):
            raise FloatingPointError("the log-likelihood of the initial parameters is not finite")
        lower_bounds = []
        done = False  # converged
        start = last = time.time()
        n_iter = 0
        step = self._ecm_step if self.gate.uses_experts else self._em_step
        if rule is not None:
            step = functools.partial(step, rule=rule)
        best, misses = (params, obj), 0
        gained = [obj]  # the start's objective, then that of every iteration that gained
        stochastic = rule is not None and rule.stochastic
        for n_iter in range(1, max_iter + 1):
            new, S_new, obj_new = step(params, S, obj, C, design, total)
            if not np.isfinite(obj_new):
                # keep the best parameters; a non-finite objective is not convergence
                lower_bounds.append(best[1])
                warnings.warn(
                    "EM stopped: the log-likelihood of the next parameters is not finite; "
                    "the last finite parameters are kept.",
                    RuntimeWarning,
                )
                break
            if stochastic:
                misses = 0 if obj_new > best[1] + tol else misses + 1
                if obj_new > best[1]:
                    best = (new, obj_new)
                params, S, obj = new, S_new, obj_new
                lower_bounds.append(best[1])
                if misses >= SEM_PATIENCE:
                    done = True
                    break
                continue
            if not exact and not obj_new > best[1]:
                # an approximate refit may lose a little and gain again after it
                misses += 1
                lower_bounds.append(best[1])
                if misses > NON_GAIN_PATIENCE:
                    done = True
                    break
                params, S, obj = new, S_new, obj_new
                continue
            change = obj_new - best[1]
            params, S, obj = new, S_new, obj_new
            best, misses = (params, obj), 0
            lower_bounds.append(obj)
            gained.append(obj)
            if verbose >= 2 and n_iter % verbose_interval == 0:
                now = time.time()
                print(
                    f"  Iteration {n_iter}\t time lapse {now - last:.5f}s\t"
                    f" lower bound {obj:.6f}\t change {change:.3e}"
                )
                last = now
            if converged(gained, tol):
                done = True
                break
        params, obj = best
        if verbose >= 1:
            state = "converged" if done else "did not converge"
            print(
                f"EM {state} after {n_iter} iterations ({time.time() - start:.3f}s),"
                f" lower bound {obj:.6f}"
            )
        return params, lower_bounds, done, n_iter
