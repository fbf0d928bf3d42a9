"""Pictures of a comparison: score bar charts, and the gate partition beside CART's."""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .models import make_model, single_threaded
from .settings import MAIN_SCORE, Settings


def _figure(*args, **kwargs):
    """A matplotlib Figure without pyplot (no GUI backend, no global state)."""
    from matplotlib.figure import Figure

    return Figure(*args, **kwargs)


#: Bar colours of the score charts: the mixtures this library fits, and the rest.
_FAMILY_COLORS = {"MoE": "tab:blue", "HME": "tab:blue"}
_OTHER_COLOR = "0.6"


def plot_scores(result, dataset, path):
    """Bar chart of each model's score (mean ± std over folds) on one dataset.

    The bars start at 0 (R² of predicting the mean; accuracy of no correct
    answer) and the axis ends at 1, the best possible score, so bar lengths
    compare.  Mixtures of experts are blue, the other models grey, the best
    mean score is outlined and every bar carries its value.  Classification
    charts draw the accuracy of always predicting the majority class as a
    dashed line.

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
    ax.barh(y, means, xerr=stds, capsize=3,
            color=[_FAMILY_COLORS.get(r["model"], _OTHER_COLOR) for r in rows],
            edgecolor=["k" if r["best"] else "none" for r in rows], linewidth=2)
    ax.set_yticks(y, [r["model"] for r in rows])
    # R² has no lower bound: very bad models are cut off at -1, their value still printed
    low = max(min(0.0, float(np.min(means - stds))), -1.0)
    top = max(1.0, float(np.max(means + stds)))
    ax.set_xticks(np.round(np.arange(np.ceil(low * 5) / 5, top + 1e-9, 0.2), 1))
    ax.set_xlim(low - 0.02 if low < 0 else 0.0, top + 0.12)  # room for the value labels
    ax.axvline(0.0, color="k", lw=0.8)
    for yi, r, m, sd in zip(y, rows, means, stds):
        ax.annotate(f"{m:.3f}", (max(m + sd, 0.0), yi), xytext=(4, 0), textcoords="offset points",
                    va="center", fontsize=8, fontweight="bold" if r["best"] else "normal")
    handles = [Patch(color="tab:blue", label="mixture of experts (mixexp)"),
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
    ax.set_xlabel(f"{label}: mean ± std over {s.n_splits}-fold CV × {s.n_repeats} repeats "
                  f"({zero}{'; axis cut at −1' if low <= -1.0 else ''})")
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


def _training_score(model, data):
    """'training R² 0.791': the pictured models are fitted on every row, tested on none."""
    return f"training {MAIN_SCORE[data.task][1]} {model.score(data.X, data.y):.3f}"


def _expert_colors(k):
    from matplotlib import colormaps

    cmap = colormaps["tab10" if k <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(k)]


def plot_partition(data, path, moe_params=None, cart_params=None, settings=Settings()):
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
    if data.n_features == 1:
        fig = _plot_partition_1d(data, moe, cart)
    else:
        fig = _plot_partition_2d(data, moe, cart)
    fig.suptitle(f"{data.name}: soft gate partition (MoE) vs hard partition (CART), "
                 f"both fitted on all {data.n_samples} rows")
    fig.savefig(path, dpi=110)
    return fig, moe, cart


def _gate_and_experts(moe, X):
    Z = moe[:-1].transform(X)
    est = moe[-1]
    return est.predict_gate(Z), est.predict_experts(Z), est


def _plot_partition_1d(data, moe, cart):
    x = data.X[:, 0]
    grid = np.linspace(x.min(), x.max(), 400)[:, None]
    gate, experts, est = _gate_and_experts(moe, grid)
    k = gate.shape[1]
    colors = _expert_colors(k)
    leaves = cart.apply(grid)
    fig = _figure(figsize=(11, 6), layout="constrained")
    axes = fig.subplots(2, 2, sharex=True, sharey="row", height_ratios=[3, 1.2])
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
    axes[0, 0].set_title(f"{_mixture_title(est)}\n{_training_score(moe, data)}; "
                         + ("each expert's line, thick where its gate > 0.5" if reg
                            else "class probabilities"))
    axes[0, 1].set_title(f"CART, depth {cart.get_depth()}, {cart.get_n_leaves()} leaves\n"
                         f"{_training_score(cart, data)}")
    axes[0, 0].legend(loc="best", fontsize=8)
    for j in range(k):
        axes[1, 0].plot(grid[:, 0], gate[:, j], color=colors[j], lw=2, label=f"expert {j}")
    axes[1, 0].set_ylabel("gate g_k(x)")
    axes[1, 0].set_ylim(-0.05, 1.05)
    # CART's partition, a hard 0/1 membership of each leaf, in CART's red: the expert
    # colours would suggest that leaf j matches expert j
    for j, leaf in enumerate(np.unique(leaves)):
        axes[1, 1].fill_between(grid[:, 0], 0, (leaves == leaf).astype(float), step="mid",
                                color="tab:red", alpha=0.6 if j % 2 else 0.3)
        axes[1, 1].axvline(grid[leaves == leaf, 0].min(), color="0.3", lw=0.5)
    axes[1, 1].set_ylabel("leaf (0/1)")
    axes[1, 1].set_ylim(-0.05, 1.05)
    for ax in axes[1]:
        ax.set_xlabel(xname)
    return fig


def _plot_partition_2d(data, moe, cart):
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
    axes[0].set_title(f"{_mixture_title(est)}\ngate: the most probable expert (pale = uncertain)")

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
    leaves = cart.apply(grid).reshape(g0.shape)
    axes[2].contour(g0, g1, leaves, levels=np.unique(leaves)[:-1] + 0.5, colors="k",
                    linewidths=0.8)
    axes[1].set_title(f"MoE prediction\n{_training_score(moe, data)}")
    axes[2].set_title(f"CART: {cart.get_n_leaves()} leaves (lines), prediction\n"
                      f"{_training_score(cart, data)}")
    for ax in axes:
        ax.set_xlabel(data.feature_names[0])
    axes[0].set_ylabel(data.feature_names[1])
    return fig
