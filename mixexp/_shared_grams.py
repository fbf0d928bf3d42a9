"""Weighted Grams that the gate and the experts both sum, formed once per chunk.

A component whose row sums include weighted Gram matrices of its design names
the tree's nodes whose weights they use (``gram_nodes(tree)``, a slice of node
indices, or None) and takes them as ``stats(..., grams=...)``.  When the gate and
the experts see the same design and their nodes form one contiguous block, the
rows' outer products are built once for both (an HME's inner gates and its
leaves; a Gaussian gate and Gaussian experts).
"""

from ._numerics.linalg import weighted_grams


class SharedGrams:
    """The Grams the gate and the experts of one engine share.

    Parameters
    ----------
    tree : mixexp._tree.Tree
    gate, experts : the engine's components.
    """

    def __init__(self, tree, gate, experts):
        self.nodes = None  # (gate's node slice, experts' node slice) when shared
        gate_nodes, expert_nodes = gate.gram_nodes(tree), experts.gram_nodes(tree)
        if gate_nodes is None or expert_nodes is None or gate_nodes.start >= gate_nodes.stop:
            return
        if gate_nodes.stop < expert_nodes.start or expert_nodes.stop < gate_nodes.start:
            return  # not one contiguous block of weights
        self.nodes = gate_nodes, expert_nodes

    def __call__(self, design, X, node_weight, parts):
        """The keyword ``grams`` of the gate's and the experts' ``stats`` on the chunk
        ``X`` with node weights ``node_weight``: all from one product, each its own
        array; empty keywords when nothing is shared."""
        grams = {"gate": {}, "experts": {}}
        if self.nodes is None or design.gate_X is not design.expert_X or len(parts) < 2:
            return grams
        gate_nodes, expert_nodes = self.nodes
        first = min(gate_nodes.start, expert_nodes.start)
        G = weighted_grams(X, node_weight[:, first : max(gate_nodes.stop, expert_nodes.stop)])
        gate_G = G[gate_nodes.start - first : gate_nodes.stop - first]
        overlap = gate_nodes.start < expert_nodes.stop and expert_nodes.start < gate_nodes.stop
        grams["gate"]["grams"] = gate_G.copy() if overlap else gate_G  # sums are added in place
        grams["experts"]["grams"] = G[expert_nodes.start - first : expert_nodes.stop - first]
        return grams
