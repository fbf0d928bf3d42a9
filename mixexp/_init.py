"""Initial responsibilities for EM.

``"kmeans"``: k-means (k-means++ seeding) on the standardised inputs and
targets gives hard responsibilities.  ``"random"``: ``n_leaves`` rows drawn
at random are the centres of a partition of the same space, each row going
to its nearest centre (scikit-learn's ``"random_from_data"``): the experts
start on distinct regions, so EM does not start at, and stop in, the
symmetric point where every expert is the same (as random soft
responsibilities do).

Trees deeper than one level are hard to start well: EM through a randomly or
k-means-started tree often stops in a poor optimum whose top split cuts
across the data's structure.  A tree therefore starts from a *flat* mixture
with as many experts as it has leaves, fitted by EM; its experts are then
arranged into the tree top-down, choosing at each inner node the balanced
grouping of experts that a linear softmax gate separates best.
"""

import itertools
import math
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import pairwise_distances_argmin

from ._parallel import openmp_threads
from ._softmax import soft_label_objective

# at most this many candidate groupings are compared at one inner node;
# beyond it, experts are grouped along the main axis of their centroids
MAX_GROUPINGS = 300
_GROUPING_STEPS = 30


def start_features(Xa, extra):
    """The space starts partition: standardised inputs beside the experts' target features."""
    X = Xa[:, :-1]
    if sp.issparse(X):
        return sp.hstack([X, sp.csr_matrix(extra)], format="csr")
    return np.hstack([X, extra])


def kmeans_labels(F, sw, n_clusters, rs, n_threads=1):
    """k-means labels; fewer distinct points than clusters leaves some empty."""
    km = KMeans(n_clusters=n_clusters, n_init=1, random_state=rs.randint(np.iinfo(np.int32).max))
    with warnings.catch_warnings(), openmp_threads(n_threads):
        warnings.simplefilter("ignore", ConvergenceWarning)
        return km.fit(F, sample_weight=sw).labels_


def random_partition_labels(F, sw, n_clusters, rs):
    """Nearest of ``n_clusters`` distinct rows drawn at random (weighted by ``sw``)."""
    p = sw / sw.sum()
    n_candidates = np.count_nonzero(p)
    centres = rs.choice(F.shape[0], size=min(n_clusters, n_candidates), replace=False, p=p)
    labels = pairwise_distances_argmin(F, F[centres])
    # a centre's own row goes to that centre, so every drawn centre holds a row
    labels[centres] = np.arange(centres.shape[0])
    return labels


def hard_responsibilities(labels, n_leaves):
    resp = np.zeros((labels.shape[0], n_leaves))
    resp[np.arange(labels.shape[0]), labels] = 1.0
    return resp


def _balanced_groupings(members, n_groups):
    """All partitions of ``members`` into ``n_groups`` unordered groups of equal size."""
    if n_groups == 1:
        yield [list(members)]
        return
    size = len(members) // n_groups
    first, rest = members[0], members[1:]
    for others in itertools.combinations(rest, size - 1):
        group = [first, *others]
        remaining = [m for m in rest if m not in others]
        for tail in _balanced_groupings(remaining, n_groups - 1):
            yield [group, *tail]


def _n_groupings(n_members, n_groups):
    size = n_members // n_groups
    return math.factorial(n_members) // (math.factorial(size) ** n_groups * math.factorial(n_groups))


def _axis_grouping(members, X, W, n_groups):
    """Experts ordered along the main axis of their centroids, cut into equal chunks."""
    centroids = np.array([np.asarray(W[:, m] @ X).ravel() / max(W[:, m].sum(), 1e-300) for m in members])
    centered = centroids - centroids.mean(axis=0)
    axis = np.linalg.svd(centered, full_matrices=False)[2][0]
    order = [members[i] for i in np.argsort(centered @ axis)]
    size = len(members) // n_groups
    return [order[g * size:(g + 1) * size] for g in range(n_groups)]


def arrange_leaves(leaf_post, Xa, sw, depth, branching, gate_alpha):
    """Order flat experts as the leaves of a tree (breadth-first leaf order).

    Parameters
    ----------
    leaf_post : (n, branching ** depth) posteriors of a flat mixture's experts.

    Returns
    -------
    order : list of expert indices; ``leaf_post[:, order]`` are the tree's leaves.
    """
    W = leaf_post * sw[:, None]

    def separability(groups):
        U = np.column_stack([W[:, g].sum(axis=1) for g in groups])
        keep = U.sum(axis=1) > 0
        return soft_label_objective(Xa[keep], U[keep], gate_alpha, _GROUPING_STEPS)

    def arrange(members):
        if len(members) == branching:
            return list(members)
        if _n_groupings(len(members), branching) <= MAX_GROUPINGS:
            groups = max(_balanced_groupings(members, branching), key=separability)
        else:
            groups = _axis_grouping(members, Xa[:, :-1], W, branching)
        return [leaf for g in groups for leaf in arrange(g)]

    # depth-first arrangement gives the leaves left to right, which for a
    # balanced tree is the breadth-first order of the last level
    return arrange(list(range(branching**depth)))
