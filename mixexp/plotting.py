"""Plots of a fitted mixture (matplotlib, the ``plot`` extra: ``pip install "mixexp[plot]"``).

- :func:`plot_gate`: the gate's probabilities along one feature (the others at their
  medians), with the data's own gate probabilities; or, over two features, the expert the
  gate prefers, with the data;
- :func:`plot_experts`: every expert's prediction and the mixture's mean ± 2 standard
  deviations along one feature, over the data coloured by their most probable expert;
- :func:`plot_posterior`: a rootogram of the posterior probabilities of every expert
  (flexmix's ``plot`` of a fitted model): well separated experts give bars near 0 and 1;
- :func:`plot_coefficients`: estimates with their intervals, from ``summary`` (normal
  intervals) or :func:`mixexp.inference.bootstrap` (percentile intervals);
- :func:`plot_usage`: every expert's share of the data (top-1 load and mean gate
  probability) with the specialization metrics of :mod:`mixexp.metrics` in the title.

Each function takes ``ax=`` (None: a new figure) and returns the matplotlib Axes.
matplotlib is imported when a function is called, never by ``import mixexp``.
"""

import numpy as np
from scipy.stats import norm
from sklearn.base import is_classifier

from . import metrics

__all__ = ["plot_gate", "plot_experts", "plot_posterior", "plot_coefficients", "plot_usage"]


def _axes(ax):
    if ax is not None:
        return ax
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # the optional extra
        raise ImportError(
            'mixexp.plotting needs matplotlib, the "plot" extra: pip install "mixexp[plot]".'
        ) from exc
    return plt.subplots()[1]


def _colors(k):
    from matplotlib import colormaps

    cmap = colormaps["tab10" if k <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(k)]


def _names(model):
    names = getattr(model, "feature_names_in_", None)
    return [f"x{i}" for i in range(model.n_features_in_)] if names is None else [str(n) for n in names]


def _feature(model, feature):
    """The column index of ``feature`` (an index or a name)."""
    names = _names(model)
    if isinstance(feature, str):
        if feature not in names:
            raise ValueError(f"feature {feature!r} is not among the model's features {names}.")
        return names.index(feature)
    if not isinstance(feature, (int, np.integer)) or not 0 <= feature < len(names):
        raise ValueError(f"feature must be a feature name or an index in [0, {len(names)}), got {feature!r}.")
    return int(feature)


def _values(X):
    return np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64)


def _grid(X, columns, n_points):
    """Rows that sweep ``columns`` over the data's range (a mesh for two), the other
    features at their medians, in the type of ``X`` (a DataFrame keeps its columns)."""
    A = _values(X)
    axes = [np.linspace(np.nanmin(A[:, c]), np.nanmax(A[:, c]), n_points) for c in columns]
    mesh = np.meshgrid(*axes, indexing="xy")
    G = np.tile(np.nanmedian(A, axis=0), (mesh[0].size, 1))
    for c, m in zip(columns, mesh):
        G[:, c] = m.ravel()
    if hasattr(X, "columns"):  # a DataFrame: the model checks the names
        import pandas as pd

        G = pd.DataFrame(G, columns=X.columns)
    return G, mesh


def plot_gate(model, X, *, features=0, n_points=200, ax=None):
    """The gate's probabilities along one feature, or its preferred expert over two.

    One feature: the gate probability of every expert along the feature, the other
    features at their medians (lines), and every row's own gate probabilities (points).
    Two features: the expert with the largest gate probability over a grid of the two
    (the others at their medians, filled regions) and the rows coloured by theirs.

    Parameters
    ----------
    model : fitted mixexp estimator
    X : array-like of shape (n_samples, n_features)
        The data to draw, and the range of the sweep.
    features : int, str or pair of them, default=0
        One feature (an index or a name), or two.
    n_points : int, default=200
        Points of the sweep (per feature).
    ax : matplotlib Axes, default=None
        Where to draw; None: a new figure.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from mixexp import MixtureOfExpertsRegressor
    >>> from mixexp.datasets import make_moe_regression
    >>> from mixexp.plotting import plot_gate
    >>> X, y = make_moe_regression(200, n_features=2, n_experts=2, random_state=0)
    >>> model = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    >>> ax = plot_gate(model, X, features=0)
    >>> len(ax.lines)
    2
    """
    pair = isinstance(features, (tuple, list))
    columns = [_feature(model, f) for f in (features if pair else [features])]
    if pair and len(columns) != 2:
        raise ValueError(f"features must be one feature or two, got {len(columns)}.")
    ax = _axes(ax)
    names = _names(model)
    gate = model.predict_gate(X)
    k = gate.shape[1]
    colors = _colors(k)
    A = _values(X)
    grid, mesh = _grid(X, columns, n_points if not pair else min(n_points, 100))
    G = model.predict_gate(grid)
    if not pair:
        x = mesh[0].ravel()
        for e in range(k):
            ax.plot(x, G[:, e], color=colors[e], label=f"expert {e}")
            ax.scatter(A[:, columns[0]], gate[:, e], color=colors[e], s=8, alpha=0.3)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(names[columns[0]])
        ax.set_ylabel("gate probability")
    else:
        from matplotlib.colors import ListedColormap

        best = G.argmax(axis=1).reshape(mesh[0].shape)
        cmap = ListedColormap(colors)
        ax.contourf(mesh[0], mesh[1], best, levels=np.arange(k + 1) - 0.5, cmap=cmap, alpha=0.25)
        top = gate.argmax(axis=1)
        for e in range(k):
            rows = top == e
            ax.scatter(A[rows, columns[0]], A[rows, columns[1]], color=colors[e], s=10, label=f"expert {e}")
        ax.set_xlabel(names[columns[0]])
        ax.set_ylabel(names[columns[1]])
    ax.legend(loc="best")
    ax.set_title("gate")
    return ax


def plot_experts(model, X, y, *, feature=0, n_points=200, ax=None):
    """Every expert's prediction and the mixture's mean ± 2 standard deviations along a feature.

    The other features are held at their medians; the rows are drawn coloured by the
    expert with the largest posterior probability (``responsibilities``).

    Parameters
    ----------
    model : fitted mixexp regressor with one target
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    feature : int or str, default=0
        The feature along which to draw (an index or a name).
    n_points : int, default=200
        Points of the sweep.
    ax : matplotlib Axes, default=None
        Where to draw; None: a new figure.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from mixexp import MixtureOfExpertsRegressor
    >>> from mixexp.datasets import make_moe_regression
    >>> from mixexp.plotting import plot_experts
    >>> X, y = make_moe_regression(200, n_features=1, n_experts=2, random_state=0)
    >>> model = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    >>> ax = plot_experts(model, X, y)
    >>> len(ax.lines)  # two experts and the mixture mean
    3
    """
    if is_classifier(model):
        raise ValueError("plot_experts draws a regressor's experts; for a classifier see plot_gate.")
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"plot_experts draws one target; y has shape {y.shape}.")
    column = _feature(model, feature)
    ax = _axes(ax)
    post = model.responsibilities(X, y)
    k = post.shape[1]
    colors = _colors(k)
    A = _values(X)
    grid, mesh = _grid(X, [column], n_points)
    x = mesh[0].ravel()
    experts = model.predict_experts(grid)
    mean, std = model.predict(grid, return_std=True)
    top = post.argmax(axis=1)
    for e in range(k):
        rows = top == e
        ax.scatter(A[rows, column], y[rows], color=colors[e], s=8, alpha=0.5)
        ax.plot(x, experts[:, e], color=colors[e], linestyle="--", label=f"expert {e}")
    ax.plot(x, mean, color="black", label="mixture mean")
    ax.fill_between(x, mean - 2 * std, mean + 2 * std, color="grey", alpha=0.2, label="mean ± 2 sd")
    ax.set_xlabel(_names(model)[column])
    ax.set_ylabel("y")
    ax.legend(loc="best")
    ax.set_title("experts")
    return ax


def plot_posterior(model, X, y, *, bins=10, eps=1e-4, ax=None):
    """A rootogram of the posterior probabilities of every expert (as flexmix's).

    For every expert, a histogram of the rows' posterior probabilities of belonging to
    it (``responsibilities``) on ``bins`` equal bins of [0, 1], the bars' heights the
    square roots of the counts; probabilities below ``eps`` are left out, as in flexmix
    (they would dwarf the rest).  Well separated experts put their mass near 0 and 1.

    Parameters
    ----------
    model : fitted mixexp estimator
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
    bins : int, default=10
    eps : float, default=1e-4
    ax : matplotlib Axes, default=None
        Where to draw; None: a new figure.

    Returns
    -------
    ax : matplotlib Axes
        ``bins`` bars per expert, side by side within each bin.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from mixexp import MixtureOfExpertsRegressor
    >>> from mixexp.datasets import make_moe_regression
    >>> from mixexp.plotting import plot_posterior
    >>> X, y = make_moe_regression(200, n_features=2, n_experts=2, random_state=0)
    >>> model = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    >>> len(plot_posterior(model, X, y, bins=5).patches)
    10
    """
    if not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}.")
    ax = _axes(ax)
    post = model.responsibilities(X, y)
    k = post.shape[1]
    colors = _colors(k)
    edges = np.linspace(0.0, 1.0, bins + 1)
    width = 1.0 / bins / (k + 1)
    for e in range(k):
        p = post[:, e]
        counts = np.histogram(p[p >= eps], bins=edges)[0]
        ax.bar(edges[:-1] + (e + 0.5) * width, np.sqrt(counts), width=width, align="edge",
               color=colors[e], label=f"expert {e}")
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel("posterior probability")
    ax.set_ylabel("sqrt(count)")
    ax.legend(loc="best")
    ax.set_title("rootogram of posterior probabilities")
    return ax


def _intervals(source, confidence_level):
    """``(labels, estimate, low, high)`` from a summary table or a BootstrapResult."""
    from .inference import BootstrapResult

    if isinstance(source, BootstrapResult):
        low, high = source.interval(confidence_level)
        return (list(zip(source.component, source.parameter)), np.asarray(source.estimate), low, high)
    try:
        component, parameter = list(source["component"]), list(source["parameter"])
        estimate = np.asarray(source["estimate"], dtype=np.float64)
        se = np.asarray(source["std_error"], dtype=np.float64)
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise TypeError(
            "plot_coefficients takes the table of summary() or the result of "
            f"mixexp.inference.bootstrap, got {type(source).__name__}."
        ) from exc
    z = norm.ppf(0.5 + confidence_level / 2.0)
    return list(zip(component, parameter)), estimate, estimate - z * se, estimate + z * se


def plot_coefficients(source, *, parameters=None, components=None, confidence_level=0.95, ax=None):
    """Estimates with their intervals, one row per parameter.

    Parameters
    ----------
    source : summary table or BootstrapResult
        ``model.summary(X, y)`` (intervals ``estimate ± z * std_error``) or
        :func:`mixexp.inference.bootstrap`'s result (percentile intervals).
    parameters : list of str, default=None
        Parameter names to draw (``"x0"``, ``"(intercept)"``, ...); None: all.
    components : list of str, default=None
        Components to draw (``"expert 0"``, ``"gate: expert 1 vs 0"``, ...); None: all.
    confidence_level : float, default=0.95
    ax : matplotlib Axes, default=None
        Where to draw; None: a new figure.

    Returns
    -------
    ax : matplotlib Axes
        One horizontal segment per interval (a ``LineCollection``) and a point per estimate;
        the y tick labels are ``component[parameter]``; a vertical line marks 0.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from mixexp import MixtureOfExpertsRegressor
    >>> from mixexp.datasets import make_moe_regression
    >>> from mixexp.plotting import plot_coefficients
    >>> X, y = make_moe_regression(200, n_features=2, n_experts=2, random_state=0)
    >>> model = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    >>> ax = plot_coefficients(model.summary(X, y), parameters=["x0", "x1"])
    >>> [t.get_text() for t in ax.get_yticklabels()][:2]
    ['gate: expert 1 vs 0[x0]', 'gate: expert 1 vs 0[x1]']
    """
    if not 0.0 < confidence_level < 1.0:
        raise ValueError(f"confidence_level must be in (0, 1), got {confidence_level!r}.")
    labels, estimate, low, high = _intervals(source, confidence_level)
    keep = np.array([
        (parameters is None or p in parameters) and (components is None or c in components)
        for c, p in labels
    ], dtype=bool)
    if not keep.any():
        raise ValueError("no parameter matches parameters= and components=.")
    ax = _axes(ax)
    rows = np.flatnonzero(keep)
    pos = np.arange(rows.size)[::-1]
    est = estimate[rows]
    # lines, not error bars: a percentile interval need not hold the estimate
    ax.hlines(pos, low[rows], high[rows], color="black")
    ax.plot(est, pos, "o", color="black")
    ax.axvline(0.0, color="grey", linewidth=0.8)
    ax.set_yticks(pos)
    ax.set_yticklabels([f"{labels[j][0]}[{labels[j][1]}]" for j in rows])
    ax.set_xlabel(f"estimate with {100 * confidence_level:g}% interval")
    return ax


def plot_usage(model, X, y=None, *, ax=None):
    """Every expert's share of the data, with the specialization metrics.

    Two bars per expert: its top-1 load (:func:`mixexp.metrics.expert_load`, the share
    of rows whose most probable expert it is) and its mean gate probability; the title
    gives the usage ``H(E)`` (:func:`mixexp.metrics.expert_usage`, at most
    ``log2 K`` bits) and the mean gate entropy (:func:`mixexp.metrics.gate_entropy`),
    and, for a classifier given ``y``, the expert-class mutual information
    (:func:`mixexp.metrics.expert_class_mutual_information`).

    Parameters
    ----------
    model : fitted mixexp estimator
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,), default=None
        Class labels (classifiers), for the mutual information.
    ax : matplotlib Axes, default=None
        Where to draw; None: a new figure.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from mixexp import MixtureOfExpertsRegressor
    >>> from mixexp.datasets import make_moe_regression
    >>> from mixexp.plotting import plot_usage
    >>> X, y = make_moe_regression(200, n_features=2, n_experts=3, random_state=0)
    >>> model = MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X, y)
    >>> len(plot_usage(model, X).patches)
    6
    """
    ax = _axes(ax)
    G = model.predict_gate(X)
    k = G.shape[1]
    load = metrics.expert_load(G)
    mean_gate = G.mean(axis=0)
    x = np.arange(k)
    ax.bar(x - 0.2, load, width=0.4, label="top-1 load")
    ax.bar(x + 0.2, mean_gate, width=0.4, label="mean gate probability")
    ax.set_xticks(x)
    ax.set_xticklabels([f"expert {e}" for e in range(k)])
    ax.set_ylabel("share of the data")
    title = (f"usage H(E) = {metrics.expert_usage(G):.2f} of {np.log2(k):.2f} bits, "
             f"gate entropy {metrics.gate_entropy(G):.2f} bits")
    if y is not None and is_classifier(model):
        title += f", I(E; Y) = {metrics.expert_class_mutual_information(G, y=y):.2f} bits"
    ax.set_title(title)
    ax.legend(loc="best")
    return ax
