"""Topology of a balanced gating tree, as small index arrays.

Nodes are numbered breadth-first: the root is 0, the children of inner node
``j`` are ``j * branching + 1 ... j * branching + branching`` and the leaves
are the last ``branching ** depth`` nodes.  A flat mixture of ``K`` experts is
the tree with ``depth=1, branching=K``.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tree:
    """A balanced tree with ``depth`` levels of ``branching`` children.

    Attributes
    ----------
    n_inner, n_leaves, n_nodes : int
    children : ndarray of shape (n_inner, branching)
        Node index of each inner node's children.
    parent : ndarray of shape (n_nodes,)
        Parent node of each node (-1 for the root).
    leaf_to_subtree : ndarray of shape (n_leaves, n_nodes)
        ``leaf_to_subtree[l, j] = 1`` when leaf ``l`` lies below (or is) node ``j``,
        so that ``leaf_posteriors @ leaf_to_subtree`` gives every node's posterior.
    """

    depth: int
    branching: int

    @property
    def n_leaves(self):
        return self.branching**self.depth

    @property
    def n_inner(self):
        if self.branching == 1:  # a single expert under a chain of trivial gates
            return self.depth
        return (self.branching**self.depth - 1) // (self.branching - 1)

    @property
    def n_nodes(self):
        return self.n_inner + self.n_leaves

    @property
    def children(self):
        b = self.branching
        return np.arange(self.n_inner)[:, None] * b + 1 + np.arange(b)[None, :]

    @property
    def parent(self):
        p = np.empty(self.n_nodes, dtype=np.int64)
        p[0] = -1
        p[1:] = (np.arange(1, self.n_nodes) - 1) // self.branching
        return p

    @property
    def leaf_to_subtree(self):
        m = np.zeros((self.n_leaves, self.n_nodes))
        parent = self.parent
        for leaf in range(self.n_leaves):
            node = self.n_inner + leaf
            while node >= 0:
                m[leaf, node] = 1.0
                node = parent[node]
        return m

    def node_posteriors(self, leaf_post):
        """Posterior of every node, ``(n_samples, n_nodes)``, from the leaves' ones."""
        return leaf_post @ self.leaf_to_subtree


def leaf_path_sums(tree, edge_values):
    """The sum of ``edge_values`` (one per edge, breadth-first) on every leaf's path,
    ``(n_leaves,)``; added edge by edge down the tree, so an infinite value on one path
    leaves the others finite (a product with 0/1 path matrices would give NaN)."""
    node_sums = np.zeros(edge_values.size + 1)
    for node in range(1, node_sums.size):
        node_sums[node] = node_sums[(node - 1) // tree.branching] + edge_values[node - 1]
    return node_sums[tree.n_inner :]
