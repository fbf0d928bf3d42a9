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


def plot_scores(result, dataset, path):
    """Bar chart of each model's score (mean ± std over folds) on one dataset.

    Parameters
    ----------
    result : ComparisonResult
    dataset : str
    path : str or path-like
        Where to save the PNG.  Requires matplotlib.
    """
    rows = [r for r in result.summary if r["dataset"] == dataset and not r["error"]]
    if not rows:
        return
    label = MAIN_SCORE[rows[0]["task"]][1]
    fig = _figure(figsize=(6.4, 0.45 * len(rows) + 1.4), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(rows))[::-1]
    colors = ["tab:orange" if r["best"] else
              ("tab:blue" if r["model"] in ("MoE", "HME") else "tab:gray") for r in rows]
    ax.barh(y, [r["score_mean"] for r in rows], xerr=[r["score_std"] for r in rows],
            color=colors, capsize=3)
    ax.set_yticks(y, [r["model"] for r in rows])
    lo = min(r["score_mean"] - r["score_std"] for r in rows)
    hi = max(r["score_mean"] + r["score_std"] for r in rows)
    ax.set_xlim(max(min(lo - 0.1 * (hi - lo), hi - 0.5), -1.0) if lo < hi else lo - 0.1,
                min(hi + 0.05 * (hi - lo) + 1e-3, 1.0 + 1e-3))
    for yi, r in zip(y, rows):
        ax.annotate(f"{r['score_mean']:.3f}", (ax.get_xlim()[0], yi), xytext=(3, 0),
                    textcoords="offset points", va="center", fontsize=8, color="white")
    s = result.settings
    ax.set_xlabel(f"{label} ({s.n_splits}-fold × {s.n_repeats}, mean ± std; orange = best)")
    ax.set_title(f"{dataset} ({rows[0]['n_samples']} × {rows[0]['n_features']})")
    fig.savefig(path, dpi=110)


def _fit_pair(data, moe_params, cart_params, settings):
    """The MoE pipeline and CART, fitted on all of ``data`` with the CV-chosen settings."""
    moe = make_model("moe", data.task, settings).estimator.set_params(
        **(moe_params or {"moe__n_experts": 4}))
    cart = make_model("cart", data.task, settings).estimator.set_params(
        **(cart_params or {"max_depth": 4}))
    with warnings.catch_warnings(), single_threaded():
        warnings.simplefilter("ignore", ConvergenceWarning)
        moe.fit(data.X, data.y)
        cart.fit(data.X, data.y)
    return moe, cart


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
        ``max_depth=4`` by default.
    settings : Settings, default=Settings()

    Raises
    ------
    ValueError
        If ``data`` has more than two features.
    """
    if data.n_features not in (1, 2):
        raise ValueError(f"plot_partition needs 1 or 2 features, {data.name} has {data.n_features}")
    moe, cart = _fit_pair(data, moe_params, cart_params, settings)
    if data.n_features == 1:
        fig = _plot_partition_1d(data, moe, cart)
    else:
        fig = _plot_partition_2d(data, moe, cart)
    fig.savefig(path, dpi=110)


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
    axes = fig.subplots(2, 2, sharex=True, height_ratios=[3, 1.2])
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
            axes[0, 0].plot(grid[:, 0], proba[:, c], color=ccolors[c], label=f"P({est.classes_[c]})")
            axes[0, 1].step(grid[:, 0], cproba[:, c], where="mid", color=ccolors[c])
        axes[0, 0].set_ylabel("class probability")
    axes[0, 0].set_title(f"MoE, {k} experts: each expert's line (thick where its gate > 0.5)"
                         if reg else f"MoE, {k} experts: class probabilities")
    axes[0, 1].set_title(f"CART, depth {cart.get_depth()}, {cart.get_n_leaves()} leaves")
    axes[0, 0].legend(loc="best", fontsize=8)
    for j in range(k):
        axes[1, 0].plot(grid[:, 0], gate[:, j], color=colors[j], lw=2, label=f"expert {j}")
    axes[1, 0].set_ylabel("gate g_k(x)")
    axes[1, 0].set_ylim(-0.05, 1.05)
    # CART's partition: a hard 0/1 membership of each leaf
    uniq = np.unique(leaves)
    lcolors = _expert_colors(len(uniq))
    for j, leaf in enumerate(uniq):
        axes[1, 1].fill_between(grid[:, 0], 0, (leaves == leaf).astype(float), step="mid",
                                color=lcolors[j], alpha=0.6)
        axes[1, 1].axvline(grid[leaves == leaf, 0].min(), color="0.3", lw=0.5)
    axes[1, 1].set_ylabel("leaf (0/1)")
    axes[1, 1].set_ylim(-0.05, 1.05)
    for ax in axes[1]:
        ax.set_xlabel(xname)
    fig.suptitle(f"{data.name}: soft gate partition (MoE) vs hard partition (CART)")
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
    axes[0].set_title(f"MoE gate: most probable of {k} experts (pale = uncertain)")

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
    axes[1].set_title("MoE prediction")
    axes[2].set_title(f"CART: {cart.get_n_leaves()} leaves (lines), prediction")
    for ax in axes:
        ax.set_xlabel(data.feature_names[0])
    axes[0].set_ylabel(data.feature_names[1])
    fig.suptitle(f"{data.name}: soft gate partition (MoE) vs hard partition (CART)")
    return fig
