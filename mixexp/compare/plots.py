"""Pictures of a comparison: score bar charts, and the gate partition beside CART's."""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .models import MIXTURES, MODELS, make_model, single_threaded
from .settings import MAIN_SCORE, Settings


def _figure(*args, **kwargs):
    """A matplotlib Figure without pyplot (no GUI backend, no global state)."""
    from matplotlib.figure import Figure

    return Figure(*args, **kwargs)


#: Bar colours of the score charts: the mixtures this library fits are shades of one
#: blue, so that a winning MoE-quad reads as a mixture as plainly as MoE does; the other
#: models are grey.
_MIXTURE_SHADES = ("#1f77b4", "#0b3c6e", "#6baed6", "#2c5f8a", "#9ecae1")
_MIXTURE_LEGEND_COLOR = _MIXTURE_SHADES[0]
_OTHER_COLOR = "0.6"


def model_color(model):
    """Bar colour of a model in the score charts, by its display name.

    Parameters
    ----------
    model : str
        A value of :data:`~mixexp.compare.MODELS` (``"MoE"``, ``"HistGB"``, ...).

    Returns
    -------
    str
        A shade of blue for the mixtures of experts (:data:`~mixexp.compare.MIXTURES`),
        grey for the other models.

    Examples
    --------
    >>> from mixexp.compare.plots import model_color
    >>> model_color("MoE-quad"), model_color("CART")
    ('#6baed6', '0.6')
    """
    mixtures = [MODELS[key] for key in MIXTURES]
    if model in mixtures:
        return _MIXTURE_SHADES[mixtures.index(model) % len(_MIXTURE_SHADES)]
    return _OTHER_COLOR


def _seconds(t):
    """'0.42 s', '3.1 s', '57 s': a fit time short enough to sit beside a score."""
    if np.isnan(t):
        return ""
    if t < 0.005:
        return "<0.01 s"
    return f"{t:.2f} s" if t < 1 else f"{t:.1f} s" if t < 10 else f"{t:.0f} s"


def plot_scores(result, dataset, path):
    """Bar chart of each model's score (mean ± std over folds) on one dataset.

    The bars start at 0 (R² of predicting the mean; accuracy of no correct
    answer) and the axis ends at 1, the best possible score, so bar lengths
    compare.  Mixtures of experts (MoE, HME, MoE-quad, MoE-spline) are shades of blue,
    the other models grey (:func:`model_color`), the best mean score is
    outlined and every bar carries its value and its mean fit time per outer
    fold (inner search included).  Classification charts draw the accuracy of
    always predicting the majority class as a dashed line.

    Parameters
    ----------
    result : ComparisonResult
    dataset : str
    path : str or path-like
        Where to save the PNG.  Requires matplotlib.

    Returns
    -------
    matplotlib.figure.Figure or None
        The saved figure; None, and nothing saved, when no model has a score
        on ``dataset``.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    rows = [r for r in result.summary if r["dataset"] == dataset and not r["error"]]
    if not rows:
        return None
    task = rows[0]["task"]
    label = MAIN_SCORE[task][1]
    means = np.array([r["score_mean"] for r in rows])
    stds = np.array([r["score_std"] for r in rows])
    fig = _figure(figsize=(6.4, 0.45 * len(rows) + 1.9), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(rows))[::-1]
    ax.barh(y, means, xerr=stds, capsize=3, color=[model_color(r["model"]) for r in rows],
            edgecolor=["k" if r["best"] else "none" for r in rows], linewidth=2)
    ax.set_yticks(y, [r["model"] for r in rows])
    # R² has no lower bound: very bad models are cut off at -1, their value still printed
    low = max(min(0.0, float(np.min(means - stds))), -1.0)
    top = max(1.0, float(np.max(means + stds)))
    ax.set_xticks(np.round(np.arange(np.ceil(low * 5) / 5, top + 1e-9, 0.2), 1))
    ax.set_xlim(low - 0.02 if low < 0 else 0.0, top + 0.3)  # room for score and time
    ax.axvline(0.0, color="k", lw=0.8)
    for yi, r, m, sd in zip(y, rows, means, stds):
        fit = _seconds(r["fit_seconds_mean"])
        ax.annotate(f"{m:.3f}" + (f" · {fit}" if fit else ""), (max(m + sd, 0.0), yi),
                    xytext=(4, 0), textcoords="offset points", va="center", fontsize=8,
                    fontweight="bold" if r["best"] else "normal")
    handles = [Patch(color=_MIXTURE_LEGEND_COLOR, label="mixture of experts (mixexp)"),
               Patch(color=_OTHER_COLOR, label="other model"),
               Patch(facecolor="none", edgecolor="k", linewidth=2, label="best mean score")]
    if task == "classification":
        data = next(d for d in result.datasets if d.name == dataset)
        majority = np.unique(data.y, return_counts=True)[1].max() / len(data.y)
        ax.axvline(majority, color="k", ls="--", lw=1)
        handles.append(Line2D([], [], color="k", ls="--", lw=1,
                              label=f"majority class ({majority:.3f})"))
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2,
              fontsize=8, frameon=False)
    s = result.settings
    zero = "0 = predicting the mean" if task == "regression" else "bars start at 0"
    ax.set_xlabel(f"test {label}: mean ± std over {s.n_splits}-fold CV × {s.n_repeats} repeats "
                  f"({zero}{'; axis cut at −1' if low <= -1.0 else ''})\n"
                  "beside each bar: its score · mean fit time per fold, inner search included",
                  fontsize=9)
    fig.suptitle(f"{dataset} ({rows[0]['n_samples']} × {rows[0]['n_features']})")
    fig.savefig(path, dpi=110)
    return fig


#: EM cap and tolerance of the pictured mixture.  Cross-validation keeps
#: ``Settings.max_iter`` and ``tol`` loose to stay fast; a picture of a fit stopped
#: half-way would misrepresent the model (on mcycle, 8 experts stopped by tol=1e-3
#: reach a training R² of 0.75, run to tol=1e-6 0.77).  There they converge, two
#: gains below 1e-6 in a row, after 2598 iterations (4 s).
_PICTURE_MAX_ITER = 5000
_PICTURE_TOL = 1e-6


def _fit_pair(data, moe_params, cart_params, settings):
    """The MoE pipeline and CART, fitted on all of ``data`` with the CV-chosen settings."""
    moe = make_model("moe", data.task, settings).estimator.set_params(
        **(moe_params or {"moe__n_experts": 4}))
    moe.set_params(moe__max_iter=max(settings.max_iter, _PICTURE_MAX_ITER),
                   moe__tol=min(settings.tol, _PICTURE_TOL))
    cart = make_model("cart", data.task, settings).estimator.set_params(
        **(cart_params or {"max_depth": 4}))
    with warnings.catch_warnings(), single_threaded():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the title says it instead
        moe.fit(data.X, data.y)
        cart.fit(data.X, data.y)
    return moe, cart


def _mixture_title(est):
    """'MoE, K=8 experts, EM converged in 76 iterations' (or that it did not)."""
    if est.converged_:
        em = f"EM converged in {est.n_iter_} iterations (tol={est.tol:g})"
    else:
        em = f"EM NOT converged (stopped at max_iter={est.max_iter})"
    return f"MoE, K={est.n_experts} experts, {em}"


def _score_line(model, data, test=None, sep="; "):
    """The title line of a pictured model's score.

    With ``test`` (the cross-validated mean and std of the table) the test score
    leads and the training score of the pictured fit follows, named as such; without
    it only the training score, said plainly: the pictured models are fitted on every
    row and tested on none.
    """
    label = MAIN_SCORE[data.task][1]
    train = f"training {label} {model.score(data.X, data.y):.3f}"
    if test is None:
        return f"{train} (fitted on all rows; no test score)"
    mean, std = test
    return f"CV test {label} {mean:.3f} ± {std:.3f}{sep}{train} of this fit"


def _expert_colors(k):
    from matplotlib import colormaps

    cmap = colormaps["tab10" if k <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(k)]


def plot_partition(data, path, moe_params=None, cart_params=None, settings=Settings(),
                   test_scores=None):
    """The mixture's soft gate partition and experts beside CART's hard partition.

    For one feature: the data, each expert's fit, the mixture's mean ± 2 std
    (regression) or class probabilities (classification), and below them the
    gate probabilities against x; beside it CART's step function and its
    leaves.  For two features: maps of the gate (the most probable expert,
    shaded by its probability), the mixture's prediction and CART's leaves.

    Parameters
    ----------
    data : Dataset
        With one or two features.
    path : str or path-like
        Where to save the PNG.  Requires matplotlib.
    moe_params, cart_params : dict, default=None
        Parameters of the ``make_model("moe")`` pipeline and of the CART tree
        (e.g. the ones cross-validation chose); ``n_experts=4`` and
        ``max_depth=4`` by default.  The mixture is fitted with at least
        2000 EM iterations and a tolerance of at most 1e-6, so that it
        converges; the figure's title says whether it did.
    settings : Settings, default=Settings()
    test_scores : dict, default=None
        Cross-validated test scores ``{"MoE": (mean, std), "CART": (mean, std)}``
        (those of the comparison's table), shown in the panel titles before the
        training score of the pictured all-rows fit.  A model without one is
        titled with its training score only, labelled "training".

    Returns
    -------
    figure : matplotlib.figure.Figure
        The saved figure.
    moe : Pipeline
        The pictured mixture (scaler, then the estimator, whose
        ``converged_`` and ``n_iter_`` tell how EM ended).
    cart : DecisionTreeRegressor or DecisionTreeClassifier
        The pictured tree.

    Raises
    ------
    ValueError
        If ``data`` has more than two features.
    """
    if data.n_features not in (1, 2):
        raise ValueError(
            f"plot_partition needs 1 or 2 features, {data.name} has {data.n_features}")
    moe, cart = _fit_pair(data, moe_params, cart_params, settings)
    test_scores = test_scores or {}
    sep = "; " if data.n_features == 1 else "\n"  # the 2-D panels are narrow
    titles = (_score_line(moe, data, test_scores.get("MoE"), sep),
              _score_line(cart, data, test_scores.get("CART"), sep))
    if data.n_features == 1:
        fig = _plot_partition_1d(data, moe, cart, titles)
    else:
        fig = _plot_partition_2d(data, moe, cart, titles)
    fig.suptitle(f"{data.name}: soft gate partition (MoE) vs hard partition (CART), "
                 f"both fitted on all {data.n_samples} rows")
    fig.savefig(path, dpi=110)
    return fig, moe, cart


def _gate_and_experts(moe, X):
    Z = moe[:-1].transform(X)
    est = moe[-1]
    return est.predict_gate(Z), est.predict_experts(Z), est


def _plot_partition_1d(data, moe, cart, titles):
    x = data.X[:, 0]
    grid = np.linspace(x.min(), x.max(), 400)[:, None]
    gate, experts, est = _gate_and_experts(moe, grid)
    k = gate.shape[1]
    colors = _expert_colors(k)
    leaves = cart.apply(grid)
    fig = _figure(figsize=(11, 6), layout="constrained")
    axes = fig.subplots(2, 2, sharex=True, height_ratios=[3, 1.2])
    axes[0, 1].sharey(axes[0, 0])  # not the bottom row: the leaf strip has no y scale
    axes[0, 1].tick_params(labelleft=False)
    xname = data.feature_names[0]
    reg = data.task == "regression"
    for ax in axes[0]:
        if reg:
            ax.scatter(x, data.y, s=10, color="0.4", alpha=0.7, label="data")
    if reg:
        mean, std = moe.predict(grid, return_std=True)
        for j in range(k):
            on = gate[:, j] > 0.05
            ax = axes[0, 0]
            ax.plot(grid[:, 0], np.where(on, experts[:, j], np.nan), color=colors[j], lw=1.2,
                    ls="--")
            ax.plot(grid[:, 0], np.where(gate[:, j] > 0.5, experts[:, j], np.nan),
                    color=colors[j], lw=2.5)
        axes[0, 0].plot(grid[:, 0], mean, color="k", lw=1.5, label="mixture mean")
        axes[0, 0].fill_between(grid[:, 0], mean - 2 * std, mean + 2 * std, color="k",
                                alpha=0.12, label="± 2 std")
        axes[0, 1].step(grid[:, 0], cart.predict(grid), where="mid", color="tab:red", lw=2,
                        label="CART")
        axes[0, 0].set_ylabel(f"target ({data.name})")
    else:
        proba = moe.predict_proba(grid)
        cproba = cart.predict_proba(grid)
        ccolors = _expert_colors(proba.shape[1])
        for c in range(proba.shape[1]):
            axes[0, 0].plot(grid[:, 0], proba[:, c], color=ccolors[c],
                            label=f"P({est.classes_[c]})")
            axes[0, 1].step(grid[:, 0], cproba[:, c], where="mid", color=ccolors[c])
        axes[0, 0].set_ylabel("class probability")
    axes[0, 0].set_title(f"{_mixture_title(est)}\n{titles[0]}\n"
                         + ("each expert's line, thick where its gate > 0.5" if reg
                            else "class probabilities"), fontsize=10)
    axes[0, 1].set_title(f"CART, depth {cart.get_depth()}, {cart.get_n_leaves()} leaves\n"
                         f"{titles[1]}\n"
                         + ("its prediction, one step per leaf" if reg
                            else "class probabilities, one step per leaf"), fontsize=10)
    axes[0, 0].legend(loc="best", fontsize=8)
    for j in range(k):
        axes[1, 0].plot(grid[:, 0], gate[:, j], color=colors[j], lw=2, label=f"expert {j}")
    axes[1, 0].set_ylabel("gate g_k(x)")
    axes[1, 0].set_ylim(-0.05, 1.05)
    _leaf_strip(axes[1, 1], grid[:, 0], leaves, cart.apply(data.X), reg, cart, grid)
    for ax in axes[1]:
        ax.set_xlabel(xname)
    return fig


def _leaf_strip(ax, x, leaves, data_leaves, reg, cart, grid):
    """CART's hard partition of one feature: each leaf an interval, in order along x.

    Neighbouring intervals alternate two shades of CART's red (the expert colours would
    suggest that leaf j matches expert j); an interval wide enough for it is labelled
    with its prediction (regression) and, below, its number of training rows.
    """
    starts = np.flatnonzero(np.r_[True, leaves[1:] != leaves[:-1]])
    ends = np.r_[starts[1:], len(x)] - 1
    span = x[-1] - x[0]
    pred = cart.predict(grid)
    rows = dict(zip(*np.unique(data_leaves, return_counts=True)))
    for i, (a, b) in enumerate(zip(starts, ends)):
        left = x[a] if a == 0 else (x[a - 1] + x[a]) / 2
        right = x[b] if b == len(x) - 1 else (x[b] + x[b + 1]) / 2
        ax.axvspan(left, right, color="tab:red", alpha=0.55 if i % 2 else 0.25, lw=0)
        if right - left > 0.07 * span:
            mid = (left + right) / 2
            if reg:
                ax.text(mid, 0.62, f"{pred[a]:.3g}", ha="center", va="center", fontsize=7)
            ax.text(mid, 0.3, f"n={rows.get(leaves[a], 0)}", ha="center", va="center",
                    fontsize=7, color="0.2")
    ax.set_yticks([])
    ax.set_ylim(0, 1)
    ax.set_ylabel("CART leaves\n" + ("prediction, rows" if reg else "rows"))


def _plot_partition_2d(data, moe, cart, titles):
    from matplotlib.colors import ListedColormap

    x0, x1 = data.X[:, 0], data.X[:, 1]
    pad0, pad1 = 0.05 * np.ptp(x0), 0.05 * np.ptp(x1)
    g0, g1 = np.meshgrid(np.linspace(x0.min() - pad0, x0.max() + pad0, 200),
                         np.linspace(x1.min() - pad1, x1.max() + pad1, 200))
    grid = np.column_stack([g0.ravel(), g1.ravel()])
    gate, _, est = _gate_and_experts(moe, grid)
    k = gate.shape[1]
    reg = data.task == "regression"
    fig = _figure(figsize=(15, 4.8), layout="constrained")
    axes = fig.subplots(1, 3, sharex=True, sharey=True)
    colors = _expert_colors(k)
    rgb = np.array(colors)[gate.argmax(1), :3]
    strength = gate.max(1)[:, None]
    img = (strength * rgb + (1 - strength) * 1.0).reshape(200, 200, 3)
    extent = (g0.min(), g0.max(), g1.min(), g1.max())
    axes[0].imshow(img, origin="lower", extent=extent, aspect="auto")
    axes[0].contour(g0, g1, gate.max(1).reshape(g0.shape), levels=[0.5, 0.9], colors="k",
                    linewidths=0.5)
    axes[0].set_title(f"{_mixture_title(est)}\ngate: the most probable expert (pale = uncertain)",
                      fontsize=10)

    if reg:
        vmin, vmax = np.percentile(data.y, [1, 99])
        levels = np.linspace(vmin, vmax, 21)
        for ax, model in ((axes[1], moe), (axes[2], cart)):
            cs = ax.contourf(g0, g1, model.predict(grid).reshape(g0.shape), levels=levels,
                             cmap="viridis", extend="both")
        fig.colorbar(cs, ax=axes[2], label="prediction")
        for ax in axes:
            ax.scatter(x0, x1, c=data.y, s=8, cmap="viridis", vmin=vmin, vmax=vmax,
                       edgecolors="k", linewidths=0.2)
    else:
        classes = est.classes_
        ccmap = ListedColormap(_expert_colors(len(classes)))
        codes = np.searchsorted(classes, data.y)
        for ax, model in ((axes[1], moe), (axes[2], cart)):
            pred = np.searchsorted(classes, model.predict(grid)).reshape(g0.shape)
            ax.imshow(pred, origin="lower", extent=extent, aspect="auto", cmap=ccmap,
                      vmin=-0.5, vmax=len(classes) - 0.5, alpha=0.35, interpolation="nearest")
        for ax in axes:
            ax.scatter(x0, x1, c=codes, s=8, cmap=ccmap, vmin=-0.5, vmax=len(classes) - 0.5,
                       edgecolors="k", linewidths=0.2)
    # leaf borders where neighbouring grid cells fall in different leaves (a contour of
    # the leaf ids would also draw lines between leaves that merely have distant ids)
    leaves = cart.apply(grid).reshape(g0.shape)
    border = np.zeros(leaves.shape, dtype=bool)
    border[:, 1:] |= leaves[:, 1:] != leaves[:, :-1]
    border[1:, :] |= leaves[1:, :] != leaves[:-1, :]
    axes[2].imshow(np.ma.masked_where(~border, border.astype(float)), origin="lower",
                   extent=extent, aspect="auto", cmap="gray_r", vmin=0, vmax=1,
                   interpolation="nearest")
    axes[1].set_title(f"MoE prediction\n{titles[0]}", fontsize=10)
    axes[2].set_title(f"CART: {cart.get_n_leaves()} leaves (lines), prediction\n{titles[1]}",
                      fontsize=10)
    for ax in axes:
        ax.set_xlabel(data.feature_names[0])
    axes[0].set_ylabel(data.feature_names[1])
    return fig
