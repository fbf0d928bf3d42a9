"""What a component gives inference: its parameters' labels in raw units, and the
central differences of its log terms that stand in for analytic derivatives.

:mod:`mixexp.inference` assembles the observed information from the components'
pieces (:meth:`mixexp.gates.Gate.inference_edge_scores`,
:meth:`mixexp.experts.ExpertComponent.inference_scores` and their Hessians).  A
component that writes no derivatives of its own inherits the central differences
here, of its own ``scores`` with respect to its inference vector.
"""

from dataclasses import dataclass, field

import numpy as np
import scipy.linalg

#: relative step of the central differences, in internal coordinates (parameters
#: of order 1): a second difference of a difference (the Hessians) then has a
#: rounding error of about eps / h^2 = 2e-8 of the log terms and a truncation
#: error of order h^2 = 1e-8
FD_STEP = 1e-4


def fd_steps(theta):
    """Central-difference steps for the entries ``theta`` (0 where ``theta`` is not finite)."""
    theta = np.asarray(theta, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        h = FD_STEP * np.maximum(1.0, np.abs(theta))
    return np.where(np.isfinite(theta), h, 0.0)


@dataclass
class Labels:
    """Names of a component's inference vector and its map to the units of the data.

    The parameters in raw units are ``M @ theta + offset`` (the delta method is then
    exact: the map is linear).

    Attributes
    ----------
    component, parameter : lists of str, one per entry.
    M : ndarray (P, P)
    offset : ndarray (P,)
    coefficient : ndarray of bool (P,), entries that count as coefficients in
        ``n_nonzero`` (not intercepts, variances, weights, ...).
    """

    component: list = field(default_factory=list)
    parameter: list = field(default_factory=list)
    M: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    offset: np.ndarray = field(default_factory=lambda: np.zeros(0))
    coefficient: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    @property
    def size(self):
        return len(self.parameter)

    @classmethod
    def concat(cls, parts):
        """The labels of consecutive blocks of a vector (a block-diagonal map)."""
        parts = list(parts)
        if not parts:
            return cls()
        return cls(
            [c for p in parts for c in p.component],
            [c for p in parts for c in p.parameter],
            scipy.linalg.block_diag(*[p.M for p in parts]) if parts else np.zeros((0, 0)),
            np.concatenate([p.offset for p in parts]),
            np.concatenate([p.coefficient for p in parts]),
        )

    def unique(self):
        """The labels with each ``(component, parameter)`` once (its first row): a parameter
        shared by every expert is labelled alike in each (``"every expert"``)."""
        seen = set()
        keys = zip(self.component, self.parameter)
        keep = np.array([not (key in seen or seen.add(key)) for key in keys], dtype=bool)
        if keep.all():
            return self
        return Labels(
            [c for c, k in zip(self.component, keep) if k],
            [p for p, k in zip(self.parameter, keep) if k],
            self.M[keep], self.offset[keep], self.coefficient[keep],
        )


def feature_names(coords, names):
    """The names of a component's raw features: ``names`` of its columns."""
    cols = np.arange(coords.n_features) if coords.columns is None else coords.columns
    return [str(names[c]) for c in cols]


def row_map(coords, y_scale=1.0):
    """Linear map of one internal row ``[w_std, w_1]`` to raw ``[intercept, coef...]``."""
    p = coords.scale.shape[0] + 1
    M = np.zeros((p, p))
    M[0, :-1] = -coords.mean / coords.scale
    M[0, -1] = 1.0
    M[1:, :-1] = np.diag(1.0 / coords.scale)
    return M * y_scale


def coefficient_row(component, coords, names, y_scale=1.0, intercept_offset=0.0):
    """Labels of one internal coefficient row ``[w_std, w_1]`` (raw: intercept first), whose
    raw row is ``y_scale`` times the row on the raw features, the intercept shifted by
    ``intercept_offset``."""
    p = coords.scale.shape[0] + 1
    offset = np.zeros(p)
    offset[0] = intercept_offset
    coefficient = np.ones(p, dtype=bool)
    coefficient[0] = False
    return Labels(
        [component] * p, ["(intercept)", *feature_names(coords, names)], row_map(coords, y_scale),
        offset, coefficient,
    )


def scalar(component, parameter, scale=1.0, offset=0.0, coefficient=False):
    """Labels of one entry whose raw value is ``scale * theta + offset``."""
    return Labels(
        [component], [parameter], np.array([[scale]]), np.array([offset]), np.array([coefficient])
    )


def disjoint_groups(touch, free):
    """Entries that central differences may perturb together: greedy groups of the free
    entries whose sets of touched columns (``touch``, bool ``(P, m)``) do not overlap."""
    groups, used = [], []
    for k in np.flatnonzero(free):
        for group, cols in zip(groups, used):
            if not np.any(cols & touch[k]):
                group.append(k)
                cols |= touch[k]
                break
        else:
            groups.append([k])
            used.append(touch[k].copy())
    return [np.array(g) for g in groups]


def softmax_hessian(probs, weight, X):
    """The weighted Hessian sum of a softmax's log-probabilities relative to its first row.

    ``d2 log p_c / d theta2 = -(diag(q) - q q^T) (x) x x^T`` (``q``: the probabilities of
    rows 1..), the same for every ``c``; summed with the weights ``weight`` ``(n,)``.
    probs : (n, k); X : (n, p).  Returns ``((k-1) p, (k-1) p)``, row-major in (row, feature).
    """
    from ._numerics.linalg import weighted_grams

    n, k = probs.shape
    q = probs[:, 1:]
    m = k - 1
    W = np.empty((n, m * m))
    for c in range(m):
        for d in range(m):
            W[:, c * m + d] = weight * (q[:, c] * (c == d) - q[:, c] * q[:, d])
    grams = weighted_grams(X, W).reshape(m, m, X.shape[1], X.shape[1])
    return -grams.transpose(0, 2, 1, 3).reshape(m * X.shape[1], m * X.shape[1])


def softmax_scores(probs, X, observed):
    """``d log p_c / d theta`` of a softmax relative to its first row, ``(n, (k-1) p)``, for
    the row ``observed`` ``(n,)`` of each sample: ``(e_c - q) (x) x``."""
    e = -probs[:, 1:]
    hit = observed > 0
    e[hit, observed[hit] - 1] += 1.0
    return (e[:, :, None] * X[:, None, :]).reshape(X.shape[0], -1)


def relative_rows_vector(coef):
    """Rows 1.. of each softmax block ``coef`` ``(blocks, k, p)`` minus row 0, flattened."""
    return (coef[:, 1:] - coef[:, :1]).ravel()


def unused_features(coef):
    """Features no row of a softmax block uses (a sparse fit's zeros), bool ``(blocks, k - 1, p)``:
    their differences are 0 and held there; intercepts are never held."""
    unused = np.all(coef == 0, axis=1)
    unused[:, -1] = False
    return np.repeat(unused[:, None, :], coef.shape[1] - 1, axis=1)
