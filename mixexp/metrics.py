"""Specialization metrics: does the gate divide the task, and is every expert used?

Every function takes either a gate matrix ``G`` of shape (n_samples,
n_experts) whose rows sum to 1 (e.g. from ``predict_gate``), or a fitted
mixexp estimator and ``X`` (then ``G = model.predict_gate(X)``).  With
sample weights ``w_i`` (default 1) and ``W = sum_i w_i``:

``expert_usage``
    ``H(E) = -sum_k gbar_k log gbar_k`` with ``gbar = sum_i w_i g_i / W``, the
    entropy of the mean gate: ``log K`` when the experts get equal shares,
    0 when one expert takes everything (Krishnamurthy et al. 2023, "usage").
``gate_entropy``
    ``sum_i w_i H(g_i) / W``, the mean per-sample gate entropy: 0 when every
    sample goes to one expert with certainty, ``log K`` for a uniform gate
    (their "sample entropy").
``expert_class_mutual_information``
    ``I(E; Y) = H(E) + H(Y) - H(E, Y)`` of the joint ``p(k, c) = sum_i w_i
    g_ik [y_i = c] / W``: how much knowing the expert tells of the class.  It
    is at most ``min(H(E), H(Y))``; equal to ``H(E)`` when every class goes
    to one expert with certainty.
``dispatch_entropy``
    Chen et al. (2022): the entropy of a known grouping (their clusters)
    among the samples dispatched to each expert by the top-1 routing,
    weighted by the experts' shares, ``sum_k (n_k / n) H(group | top-1 = k)``
    (the conditional entropy of the group given the expert).  0 when every
    expert receives a single group.
``expert_load``
    ``f_k = sum_i w_i [argmax_j g_ij = k] / W``, the share of samples whose
    top-1 expert is ``k`` (Switch Transformer's ``f_i``).

Entropies are in bits by default (``base=2``); ``base=np.e`` gives nats, as
Chen et al. report the dispatch entropy.

Scorers for model selection with an exposure (``mixexp._scorers``):
``make_deviance_scorer`` (the deviance of the expected counts ``predict(X) *
exposure``) and ``make_log_likelihood_scorer`` (the mean
``log_likelihood(X, y, exposure=...)``), which take the exposure through
scikit-learn's metadata routing.
"""

import numpy as np
from sklearn.utils.validation import check_array, check_consistent_length

from ._scorers import make_deviance_scorer, make_log_likelihood_scorer

__all__ = [
    "expert_usage",
    "gate_entropy",
    "expert_class_mutual_information",
    "dispatch_entropy",
    "expert_load",
    "make_deviance_scorer",
    "make_log_likelihood_scorer",
]


def _gate_matrix(source, X):
    """The gate matrix from a matrix or from a fitted estimator and ``X``."""
    if hasattr(source, "predict_gate"):
        if X is None:
            raise ValueError("X is required when the first argument is a fitted estimator.")
        return source.predict_gate(X)
    if X is not None:
        raise ValueError("X is only used with a fitted estimator; pass the gate matrix alone.")
    G = check_array(source, dtype=np.float64, input_name="gate")
    if np.any(G < 0) or not np.allclose(G.sum(axis=1), 1.0, atol=1e-6):
        raise ValueError("gate must hold probabilities: non-negative rows that sum to 1.")
    return G


def _weights(sample_weight, n):
    if sample_weight is None:
        return np.ones(n)
    w = check_array(sample_weight, ensure_2d=False, dtype=np.float64, input_name="sample_weight")
    check_consistent_length(w, np.empty(n))
    if np.any(w < 0) or not w.sum() > 0:
        raise ValueError("sample_weight must be non-negative with a positive sum.")
    return w


def _entropy(p, base, axis=-1):
    """Entropy of distributions ``p`` along ``axis`` (0 log 0 = 0)."""
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p), 0.0)
    return -terms.sum(axis=axis) / np.log(base) + 0.0  # + 0.0: no -0.0


def _labels(y, n, name):
    y = check_array(y, ensure_2d=False, dtype=None, input_name=name)
    if y.ndim != 1:
        raise ValueError(f"{name} should be a 1d array, got shape {y.shape}.")
    check_consistent_length(y, np.empty(n))
    return np.unique(y, return_inverse=True)[1].ravel()


def expert_usage(gate, X=None, *, sample_weight=None, base=2.0):
    """Entropy of the mean gate, ``H(E)``: how evenly the experts are used.

    Parameters
    ----------
    gate : array-like of shape (n_samples, n_experts) or fitted estimator
        Gate probabilities, or a fitted mixexp estimator (then ``X`` is required).
    X : array-like of shape (n_samples, n_features), default=None
        Inputs, with a fitted estimator.
    sample_weight : array-like of shape (n_samples,), default=None
    base : float, default=2.0
        Base of the logarithm (2: bits).

    Returns
    -------
    usage : float
        Between 0 (one expert takes all) and ``log(n_experts)``.

    Examples
    --------
    >>> from mixexp.metrics import expert_usage
    >>> float(expert_usage([[1.0, 0.0], [0.0, 1.0]]))
    1.0
    """
    G = _gate_matrix(gate, X)
    w = _weights(sample_weight, G.shape[0])
    return float(_entropy(w @ G / w.sum(), base))


def gate_entropy(gate, X=None, *, sample_weight=None, base=2.0):
    """Mean per-sample entropy of the gate: how sure the gate is of each sample's expert.

    Parameters
    ----------
    gate : array-like of shape (n_samples, n_experts) or fitted estimator
        Gate probabilities, or a fitted mixexp estimator (then ``X`` is required).
    X : array-like of shape (n_samples, n_features), default=None
        Inputs, with a fitted estimator.
    sample_weight : array-like of shape (n_samples,), default=None
    base : float, default=2.0
        Base of the logarithm (2: bits).

    Returns
    -------
    entropy : float
        Between 0 (every sample routed with certainty) and ``log(n_experts)``.

    Examples
    --------
    >>> from mixexp.metrics import gate_entropy
    >>> float(gate_entropy([[0.5, 0.5], [1.0, 0.0]]))
    0.5
    """
    G = _gate_matrix(gate, X)
    w = _weights(sample_weight, G.shape[0])
    return float(w @ _entropy(G, base) / w.sum())


def expert_class_mutual_information(gate, X=None, y=None, *, sample_weight=None, base=2.0):
    """Mutual information ``I(E; Y)`` between the routed expert and the class.

    Parameters
    ----------
    gate : array-like of shape (n_samples, n_experts) or fitted estimator
        Gate probabilities, or a fitted mixexp estimator (then ``X`` is required).
    X : array-like of shape (n_samples, n_features), default=None
        Inputs, with a fitted estimator.
    y : array-like of shape (n_samples,)
        Class labels (any hashable values).
    sample_weight : array-like of shape (n_samples,), default=None
    base : float, default=2.0
        Base of the logarithm (2: bits).

    Returns
    -------
    mutual_information : float
        ``H(E) + H(Y) - H(E, Y)`` of the soft joint ``p(k, c)``.

    Examples
    --------
    >>> from mixexp.metrics import expert_class_mutual_information
    >>> G = [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]
    >>> float(expert_class_mutual_information(G, y=[0, 0, 1, 1]))
    1.0
    """
    if y is None:
        raise ValueError("y (the class labels) is required.")
    G = _gate_matrix(gate, X)
    w = _weights(sample_weight, G.shape[0])
    labels = _labels(y, G.shape[0], "y")
    joint = np.zeros((G.shape[1], labels.max() + 1))
    np.add.at(joint.T, labels, w[:, None] * G)
    joint /= joint.sum()
    h_e = _entropy(joint.sum(axis=1), base)
    h_y = _entropy(joint.sum(axis=0), base)
    return float(max(h_e + h_y - _entropy(joint.ravel(), base), 0.0))


def dispatch_entropy(gate, X=None, groups=None, *, sample_weight=None, base=2.0):
    """Entropy of a known grouping within each expert's top-1 dispatch (Chen et al. 2022).

    Parameters
    ----------
    gate : array-like of shape (n_samples, n_experts) or fitted estimator
        Gate probabilities, or a fitted mixexp estimator (then ``X`` is required).
    X : array-like of shape (n_samples, n_features), default=None
        Inputs, with a fitted estimator.
    groups : array-like of shape (n_samples,)
        The grouping to compare with (e.g. the true clusters).
    sample_weight : array-like of shape (n_samples,), default=None
    base : float, default=2.0
        Base of the logarithm (2: bits; ``np.e``: nats, as Chen et al.).

    Returns
    -------
    entropy : float
        ``sum_k (n_k / n) H(group | top-1 expert = k)``; 0 when each expert
        receives a single group, ``log(n_groups)`` at most.

    Examples
    --------
    >>> from mixexp.metrics import dispatch_entropy
    >>> G = [[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.1, 0.9]]
    >>> float(dispatch_entropy(G, groups=[0, 0, 1, 0]))
    0.5
    """
    if groups is None:
        raise ValueError("groups (e.g. the true clusters) is required.")
    G = _gate_matrix(gate, X)
    w = _weights(sample_weight, G.shape[0])
    labels = _labels(groups, G.shape[0], "groups")
    counts = np.zeros((G.shape[1], labels.max() + 1))
    np.add.at(counts, (np.argmax(G, axis=1), labels), w)
    share = counts.sum(axis=1)
    used = share > 0
    within = _entropy(counts[used] / share[used, None], base)
    return float(share[used] @ within / share.sum())


def expert_load(gate, X=None, *, sample_weight=None):
    """Share of the samples whose most probable expert is each expert (top-1 load).

    Parameters
    ----------
    gate : array-like of shape (n_samples, n_experts) or fitted estimator
        Gate probabilities, or a fitted mixexp estimator (then ``X`` is required).
    X : array-like of shape (n_samples, n_features), default=None
        Inputs, with a fitted estimator.
    sample_weight : array-like of shape (n_samples,), default=None

    Returns
    -------
    load : ndarray of shape (n_experts,)
        Sums to 1.

    Examples
    --------
    >>> from mixexp.metrics import expert_load
    >>> expert_load([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]]).tolist()
    [0.75, 0.25]
    """
    G = _gate_matrix(gate, X)
    w = _weights(sample_weight, G.shape[0])
    load = np.bincount(np.argmax(G, axis=1), weights=w, minlength=G.shape[1])
    return load / w.sum()
