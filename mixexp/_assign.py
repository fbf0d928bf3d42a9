"""The weights of the M-step in EM's variants: classification EM and stochastic EM.

``algorithm="em"`` weighs every unit of the E-step (a row, or a group of grouped
rows) by its leaf posteriors: EM maximises the observed-data log-likelihood.  The
two variants of ``algorithm`` replace the posteriors, after the E-step of every
pass, by one leaf per unit:

``"cem"`` (classification EM; Celeux & Govaert 1992, flexmix's ``classify="CEM"``)
    each unit's leaf of largest posterior.  CEM maximises, over the parameters and
    the partition jointly, the classification log-likelihood
    ``sum_i w_i log(g_{z_i}(x_i) p_{z_i}(y_i | x_i))`` (minus the penalties): the
    E-step's partition maximises it for the parameters, the M-step for the
    partition, so it never decreases.  Its value at the parameters is the
    observed log-likelihood plus ``sum_i w_i log max_k post_ik``, which a pass
    reports in place of the observed one.
``"sem"`` (stochastic EM; Celeux & Diebolt 1985, flexmix's ``classify="SEM"``)
    one leaf per unit drawn from its posteriors.  SEM's iterates form a Markov
    chain that does not settle in the first local maximum EM meets; the
    estimator keeps the iterate of largest observed log-likelihood.  Every
    pass draws a seed from the fit's ``random_state`` and every chunk of rows
    its own generator from that seed and the chunk's first row, so the draws
    do not depend on the number of threads.
"""

import numpy as np


class Assignment:
    """One leaf per unit of the E-step in place of its posteriors (a pass's ``post``).

    ``hard_objective``: the pass reports the classification log-likelihood;
    ``stochastic``: the iterates do not increase an objective (EM keeps the best).
    """

    hard_objective = False
    stochastic = False

    def begin_pass(self):
        """Called once before every pass over the rows, on the calling thread."""

    def leaves(self, leaf_post, s):
        """The leaf of every unit ``(n_units,)`` from its posteriors ``(n_units, n_leaves)``,
        for the chunk of rows ``s``."""
        raise NotImplementedError

    def apply(self, node_post, loglik, leaf_to_subtree, n_inner, s):
        """Every node's weight of the units (one leaf's path each) and their log-likelihoods
        (classification log-likelihoods when ``hard_objective``)."""
        leaf_post = node_post[:, n_inner:]
        leaf = self.leaves(leaf_post, s)
        if self.hard_objective:
            loglik = loglik + np.log(leaf_post[np.arange(leaf.shape[0]), leaf])
        return leaf_to_subtree[leaf], loglik


class HardAssignment(Assignment):
    """Classification EM: each unit's leaf of largest posterior."""

    hard_objective = True

    def leaves(self, leaf_post, s):
        return leaf_post.argmax(axis=1)


class SampledAssignment(Assignment):
    """Stochastic EM: each unit's leaf drawn from its posteriors, seeded from ``rs``."""

    stochastic = True

    def __init__(self, rs):
        self._rs = rs
        self._seed = None

    def begin_pass(self):
        self._seed = int(self._rs.randint(np.iinfo(np.int32).max))

    def leaves(self, leaf_post, s):
        u = np.random.default_rng([self._seed, s.start]).random(leaf_post.shape[0])
        leaf = (np.cumsum(leaf_post, axis=1) < u[:, None]).sum(axis=1)
        return np.minimum(leaf, leaf_post.shape[1] - 1)  # a row sum rounded below u


def make_assignment(algorithm, rs):
    """The rule of ``algorithm`` (``"em"``: None, the posteriors themselves)."""
    if algorithm == "cem":
        return HardAssignment()
    if algorithm == "sem":
        return SampledAssignment(rs)
    return None
