"""Grouped rows (panel data): every row of a group belongs to the same latent leaf.

A group's unit of the E-step is the group, not the row: each leaf's
log-densities of the group's rows, times their sample weights, are summed
before the gate's log terms are added, and the gate sees the group once,
through its features (which must be constant within the group) with weight 1:

    log L = sum_g log sum_k g_k(x_g) exp(sum_{i in g} w_i log p_k(y_i | x_i)).

The rows of a fit are put in a canonical order (by group, then by the rows'
values) before anything else, so the fit does not depend on the order in which
the rows were given, and a chunk of rows always holds whole groups
(:meth:`GroupedDesign.chunks`).  Memory stays that of the ungrouped fit: the
per-row arrays of a chunk are reduced to its groups (``np.add.reduceat``) and
expanded back chunk by chunk; nothing of size ``(n_samples, n_leaves)`` is kept.
"""

import numpy as np
import scipy.sparse as sp

from ._design import Design, take_rows
from ._parallel import CHUNK_ROWS, balanced_chunk_slices


def check_groups(groups, n_samples):
    """The integer code of every row's group (codes follow ``np.unique(groups)``) and the
    labels; a ValueError for labels that are not a 1-D array of ``n_samples`` values."""
    labels = np.asarray(groups)
    if labels.ndim != 1:
        raise ValueError(f"groups should be a 1d array, got an array of shape {labels.shape} instead.")
    if labels.shape[0] != n_samples:
        raise ValueError(
            f"groups has {labels.shape[0]} labels but X has {n_samples} rows; give one group "
            "label per row."
        )
    if labels.dtype.kind == "f" and not np.all(np.isfinite(labels)):
        raise ValueError("groups contains NaN or infinity; every row needs a group label.")
    if labels.dtype.kind == "O":
        labels = labels.astype(str) if any(isinstance(v, str) for v in labels) else labels
    unique, codes = np.unique(labels, return_inverse=True)
    return codes.ravel(), unique


def check_new_groups(labels, seen):
    """A ValueError when some of a batch's group ``labels`` (unique) are among the labels of
    earlier batches ``seen`` (unique, or None): online EM takes each group whole, in one
    batch; else the labels seen once this batch is taken."""
    if seen is None:
        return labels
    numeric = "biuf"
    if (labels.dtype.kind in numeric) != (seen.dtype.kind in numeric):
        raise ValueError(
            f"groups of this batch are labels of dtype {labels.dtype}, those of the earlier "
            f"batches of dtype {seen.dtype}; give every batch labels of one kind."
        )
    again = labels[np.isin(labels, seen)]
    if again.size:
        shown = ", ".join(repr(v) for v in again[:5].tolist())
        more = f" and {again.size - 5} more" if again.size > 5 else ""
        raise ValueError(
            f"groups {shown}{more} were in an earlier batch of partial_fit. Online EM takes each "
            "group whole, in one batch: a group is one draw of its latent expert, and its rows "
            "split over batches would count as several groups. Put all rows of a group in one "
            "batch; to pass over the same groups again (another epoch), give them new labels "
            "(e.g. f'{epoch}:{label}'), or refit with fit(X, y, groups=...)."
        )
    return np.union1d(seen, labels)


def canonical_order(codes, X, y, sw):
    """A row order that depends only on the rows, not on the order they were given in: by
    group, then by the rows' values (weight, target, features; a sparse X's features do
    not enter, so rows of a group that differ only in them keep their given order)."""
    keys = [sw]
    Y = np.asarray(y)
    if Y.dtype.kind in "fiub":
        keys += list(np.asarray(Y, dtype=np.float64).reshape(Y.shape[0], -1).T)
    else:
        keys.append(np.unique(Y, return_inverse=True)[1].ravel())
    if not sp.issparse(X):
        keys += list(np.asarray(X).T)
    return np.lexsort(keys[::-1] + [codes])


def check_gate_constant(X, codes, gate_columns, names):
    """A ValueError naming the gate's features that vary within a group (the gate sees a
    group once, through its features)."""
    columns = np.arange(X.shape[1]) if gate_columns is None else np.asarray(gate_columns, dtype=np.intp)
    if columns.size == 0:
        return
    G = X[:, columns]
    G = G.toarray() if sp.issparse(G) else np.asarray(G)
    order = np.argsort(codes, kind="stable")
    G, sorted_codes = G[order], codes[order]
    first = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    reference = G[first][np.repeat(np.arange(first.size), np.diff(np.r_[first, G.shape[0]]))]
    varying = columns[np.any(G != reference, axis=0)]
    if varying.size:
        shown = [str(names[j]) if names is not None else str(j) for j in varying]
        raise ValueError(
            "The gate sees each group once, so its features must be constant within every group; "
            f"the gate features {', '.join(shown)} vary within a group. Choose gate_features among "
            "the features that are constant within groups (gate_features=[] for a gate without "
            "features), or average them per group."
        )


def group_starts(sorted_codes):
    """The first row of every group and the number of rows, ``(n_groups + 1,)``, of codes in
    sorted order."""
    if sorted_codes.shape[0] == 0:
        return np.zeros(1, dtype=np.intp)
    return np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1], True]).astype(np.intp)


class GroupedDesign(Design):
    """A :class:`~mixexp._design.Design` whose rows are sorted by group, with the gate's
    design of the groups (one row per group, weight 1).

    Parameters
    ----------
    Xa, target, sw, chunk_rows, gate_columns, expert_columns : as :class:`Design`, rows
        sorted by group.
    starts : ndarray of shape (n_groups + 1,)
        The first row of every group, then ``n_rows``.

    Attributes
    ----------
    gate_X : the gate's design of the groups (its rows at each group's first row).
    gate_sw : ndarray of shape (n_groups,)
        The groups' weights in the gate: 1, or 0 for a group whose rows all have weight 0.
    expert_X : the experts' design of the rows.
    """

    grouped = True

    def __init__(self, Xa, target, sw, starts, chunk_rows=CHUNK_ROWS, gate_columns=None, expert_columns=None):
        super().__init__(Xa, target, sw, chunk_rows, gate_columns, expert_columns)
        self.starts = starts
        self.gate_X = self.gate_X[starts[:-1]]
        self._gate_sw_of, self._gate_sw = None, None
        self.row_unit = np.repeat(np.arange(starts.shape[0] - 1), np.diff(starts))

    @property
    def gate_sw(self):
        # a group counts once in the gate, unless all its rows have weight 0; computed
        # anew when the rows' weights are replaced (summary's, partial_fit's)
        if self._gate_sw_of is not self.sw:
            starts, positive = self.starts, []
            if starts.shape[0] > 1:
                positive = np.add.reduceat((self.sw > 0).astype(np.intp), starts[:-1])
            self._gate_sw, self._gate_sw_of = (np.asarray(positive) > 0).astype(np.float64), self.sw
        return self._gate_sw

    @property
    def n_units(self):
        return self.starts.shape[0] - 1

    def chunks(self):
        """The balanced chunks of rows (:func:`balanced_chunk_slices`), each bound moved to the
        next group's first row: whole groups per chunk."""
        bounds = [s.stop for s in balanced_chunk_slices(self.n_rows, self.chunk_rows)[:-1]]
        cuts = np.unique(self.starts[np.searchsorted(self.starts, bounds)])
        edges = [0, *[int(c) for c in cuts if 0 < c < self.n_rows], self.n_rows]
        return [slice(a, b) for a, b in zip(edges[:-1], edges[1:])] if self.n_rows else []

    def units(self, s):
        """The slice of groups whose rows are the chunk ``s`` (whole groups)."""
        if s.stop <= s.start:
            return slice(0, 0)
        return slice(int(self.row_unit[s.start]), int(self.row_unit[s.stop - 1]) + 1)

    def rows(self, s):
        """``(gate_X, expert_X, target, sw)``: the gate's design of the chunk's groups, the
        rest of its rows."""
        return self.gate_X[self.units(s)], self.expert_X[s], take_rows(self.target, s), self.sw[s]

    def gate_rows(self, s):
        u = self.units(s)
        return self.gate_X[u], self.gate_sw[u]

    def unit_logdens(self, logdens, sw, s):
        """Each group's sum of its rows' leaf log-densities times their weights (rows of zero
        weight add nothing, even at a log-density of -inf)."""
        if logdens is None:
            return None
        weighted = logdens * sw[:, None]
        weighted[sw == 0] = 0.0
        u = self.units(s)
        local = self.starts[u.start : u.stop] - s.start
        return np.add.reduceat(weighted, local, axis=0)

    def to_rows(self, values, s):
        """Per-group ``values`` of the chunk ``s``'s groups, repeated for each of its rows."""
        return values[self.row_unit[s] - self.row_unit[s.start]]

    def node_weights(self, node_post, sw, s):
        return node_post, self.to_rows(node_post, s) * sw[:, None]

    def unit_posteriors(self, post, n_leaves):
        """Group posteriors from row posteriors ``(n, n_leaves)`` (their weighted mean) or a
        leaf per row ``(n,)`` (the group's leaf of largest weight)."""
        w = self.sw if self.sw.sum() > 0 else np.ones(self.n_rows)
        if post.ndim == 1:
            onehot = np.zeros((self.n_rows, n_leaves))
            onehot[np.arange(self.n_rows), post] = 1.0
            counts = np.add.reduceat(onehot * w[:, None] + 1e-12 * onehot, self.starts[:-1], axis=0)
            out = np.zeros_like(counts)
            out[np.arange(counts.shape[0]), counts.argmax(axis=1)] = 1.0
            return out
        total = np.add.reduceat(post * w[:, None], self.starts[:-1], axis=0)
        mass = total.sum(axis=1, keepdims=True)
        equal = np.add.reduceat(post, self.starts[:-1], axis=0) / np.diff(self.starts)[:, None]
        return np.where(mass > 0, total / np.where(mass > 0, mass, 1.0), equal)

    def subset(self, rows):
        """The design of the whole groups that hold the rows ``rows``."""
        keep = np.unique(self.row_unit[rows])
        index = np.flatnonzero(np.isin(self.row_unit, keep))
        starts = np.r_[0, np.cumsum(np.diff(self.starts)[keep])].astype(np.intp)
        return GroupedDesign(
            self.Xa[index], take_rows(self.target, index), self.sw[index], starts, self.chunk_rows,
            self.gate_columns, self.expert_columns,
        )

    def start_subset(self, rs, size):
        """The design of whole groups drawn at random until they hold about ``size`` rows of
        positive weight (all groups when they hold fewer)."""
        positive = np.add.reduceat((self.sw > 0).astype(np.intp), self.starts[:-1])
        candidates = np.flatnonzero(positive > 0)
        if positive.sum() <= size:
            return self if candidates.size == self.n_units else self.subset(self.starts[candidates])
        order = rs.permutation(candidates)
        n_groups = int(np.searchsorted(np.cumsum(positive[order]), size)) + 1
        return self.subset(self.starts[np.sort(order[:n_groups])])
