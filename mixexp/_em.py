"""The EM engine for a tree of softmax gates over experts.

A flat mixture of experts is the tree of depth 1.  Everything here works on
plain arrays in the model's internal coordinates: ``Xa`` is the (standardised)
design with a trailing column of ones, ``target`` is whatever the experts
consume, ``sw`` are sample weights.  Parameters are a dict
``{"gate": (n_inner * branching, p), "experts": {...}}``.
"""

import time

import numpy as np

from ._kernels import tree_posteriors
from ._linalg import matmul_rows, weighted_grams
from .gates.softmax import bound_factor, softmax_mstep

# A leaf or gate whose total weight falls below this fraction of the data's
# total weight keeps its parameters (the M-step would be singular for it);
# fit() then warns once with FrozenExpertWarning.
MIN_WEIGHT_FRACTION = 1e-10


class EMEngine:
    """E-step, M-step and the EM loop for one tree and one kind of expert.

    Parameters
    ----------
    tree : mixexp._tree.Tree
    experts : GaussianExperts or MultinomialExperts
    gate_alpha : float, L2 penalty on gate coefficients (not intercepts).
    gate_steps : int, bound steps per gate M-step in each EM iteration.
    init_steps : int, bound steps per softmax M-step at initialisation.
    mstep_tol : float, relative gain below which a gate M-step stops early.
    """

    def __init__(self, tree, experts, gate_alpha, gate_steps=1, init_steps=10, mstep_tol=1e-12):
        self.tree = tree
        self.experts = experts
        self.gate_alpha = gate_alpha
        self.gate_steps = gate_steps
        self.init_steps = init_steps
        self.mstep_tol = mstep_tol
        self._root_factor = None
        self._gate_scale = np.ones(tree.n_inner)  # step lengths that worked, per gate
        self.frozen_leaves = set()  # leaves kept unchanged by some M-step of the last run

    # -- parameters -------------------------------------------------------
    def zero_params(self, n_outputs, n_params):
        t = self.tree
        return {
            "gate": np.zeros((t.n_inner * t.branching, n_params)),
            "experts": self.experts.init_params(t.n_leaves, n_outputs, n_params),
        }

    def penalty(self, params):
        gate_pen = 0.5 * self.gate_alpha * np.sum(params["gate"][:, :-1] ** 2)
        return gate_pen + self.experts.penalty(params["experts"])

    # -- E-step -----------------------------------------------------------
    def e_step(self, params, Xa, target):
        """Leaf posteriors ``(n, n_leaves)`` and ``log p(y_i | x_i)`` ``(n,)``."""
        n = Xa.shape[0]
        gate_logits = matmul_rows(Xa, params["gate"].T)
        leaf_logdens = self.experts.logdens(Xa, target, params["experts"])
        leaf_post = np.empty((n, self.tree.n_leaves))
        loglik = np.empty(n)
        tree_posteriors(gate_logits, leaf_logdens, self.tree.branching, leaf_post, loglik)
        return leaf_post, loglik

    def objective(self, params, loglik, sw):
        """Mean per-sample penalised log-likelihood (internal coordinates)."""
        return (sw @ loglik - self.penalty(params)) / sw.sum()

    # -- M-step -----------------------------------------------------------
    def m_step(self, params, Xa, target, sw, leaf_post, n_steps=None):
        """New parameters from leaf posteriors; never decreases the penalised objective."""
        t = self.tree
        b = t.branching
        n_steps = n_steps or self.gate_steps
        min_weight = MIN_WEIGHT_FRACTION * sw.sum()
        weighted = leaf_post * sw[:, None]
        nodes = t.node_posteriors(weighted) if t.depth > 1 else None
        gate = params["gate"].copy()
        children = t.children
        if self._root_factor is None:
            self._root_factor = bound_factor(Xa, sw, self.gate_alpha)
        if t.n_inner > 1 and b > 1:
            # the bounds of all gates below the root from one pass over the rows
            grams = weighted_grams(Xa, nodes[:, 1 : t.n_inner])
        for j in range(t.n_inner):
            rows = slice(j * b, (j + 1) * b)
            if j == 0:
                w = sw
                factor = self._root_factor
            else:
                w = nodes[:, j]
                if w.sum() <= min_weight:
                    continue
                factor = bound_factor(Xa, w, self.gate_alpha, gram=grams[j - 1])
            U = weighted if t.depth == 1 else nodes[:, children[j]]
            if b > 1:
                gate[rows], _, self._gate_scale[j] = softmax_mstep(
                    Xa, U, gate[rows], self.gate_alpha, n_steps, w=w, factor=factor,
                    tol=self.mstep_tol, scale=self._gate_scale[j],
                )
        refit = weighted.sum(axis=0) > min_weight
        self.frozen_leaves.update(np.flatnonzero(~refit).tolist())
        experts = self.experts.mstep(
            Xa, target, weighted, params["experts"], np.flatnonzero(refit), n_steps=n_steps
        )
        return {"gate": gate, "experts": experts}

    def init_from_posteriors(self, leaf_post, Xa, target, sw, n_outputs, params=None):
        """Parameters fitted to given leaf posteriors, starting from ``params`` or zeros."""
        if params is None:
            params = self.zero_params(n_outputs, Xa.shape[1])
        return self.m_step(params, Xa, target, sw, leaf_post, n_steps=self.init_steps)

    # -- the loop ---------------------------------------------------------
    def run(self, params, Xa, target, sw, max_iter, tol, verbose=0, verbose_interval=10):
        """EM from ``params``.

        Returns
        -------
        params, lower_bounds (list of float, one per iteration), converged (bool),
        n_iter (int), leaf_post and loglik of the final parameters.
        """
        self.frozen_leaves = set()
        leaf_post, loglik = self.e_step(params, Xa, target)
        lower_bound = self.objective(params, loglik, sw)
        lower_bounds = []
        converged = False
        start = last = time.time()
        n_iter = 0
        for n_iter in range(1, max_iter + 1):
            params = self.m_step(params, Xa, target, sw, leaf_post)
            leaf_post, loglik = self.e_step(params, Xa, target)
            new_bound = self.objective(params, loglik, sw)
            change = new_bound - lower_bound
            lower_bound = new_bound
            lower_bounds.append(new_bound)
            if verbose >= 2 and n_iter % verbose_interval == 0:
                now = time.time()
                print(
                    f"  Iteration {n_iter}\t time lapse {now - last:.5f}s\t"
                    f" lower bound {new_bound:.6f}\t change {change:.3e}"
                )
                last = now
            if change < tol:
                converged = True
                break
        if verbose >= 1:
            state = "converged" if converged else "did not converge"
            print(
                f"EM {state} after {n_iter} iterations ({time.time() - start:.3f}s),"
                f" lower bound {lower_bound:.6f}"
            )
        return params, lower_bounds, converged, n_iter, leaf_post, loglik


class FrozenExpertWarning(UserWarning):
    """An expert received (almost) no responsibility and kept its parameters.

    Its total posterior weight fell to at most ``MIN_WEIGHT_FRACTION`` (1e-10)
    of the data's total weight, where its weighted fit would be singular; EM
    keeps its previous parameters (it is "frozen") and the log-likelihood stays
    finite.  It usually means there are more experts than the data support.
    """
