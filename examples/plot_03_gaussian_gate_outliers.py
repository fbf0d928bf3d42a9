"""
The Gaussian gate's outlier score
=================================

``gate="gaussian"`` is the localized gate of Xu, Jordan & Hinton (1995): each expert
owns a Gaussian region of the inputs, and the gate is the posterior of those regions.
It is a model of ``x`` as well as of ``y`` given ``x``, so ``score_samples`` gives the
log-density of new inputs: inputs unlike the training inputs score low, where any
mixture's prediction is an extrapolation.
"""

import matplotlib.pyplot as plt
import numpy as np

from mixexp import MixtureOfExpertsRegressor
from mixexp.datasets import make_gaussian_gated_regression

X, y = make_gaussian_gated_regression(600, n_features=2, n_experts=3, noise=0.2, random_state=1)
model = MixtureOfExpertsRegressor(n_experts=3, gate="gaussian", random_state=0).fit(X, y)
print(f"R² {model.score(X, y):.3f}; mixing weights {np.round(model.gate_weights_, 2)}")

# %%
# The log-density of the inputs
# -----------------------------
# A threshold at the 1% quantile of the training scores flags new inputs as outliers.

threshold = np.quantile(model.score_samples(X), 0.01)
rs = np.random.RandomState(0)
new = rs.uniform(X.min(0) - 3, X.max(0) + 3, size=(300, 2))
flagged = model.score_samples(new) < threshold
print(f"{flagged.mean():.0%} of 300 uniform new inputs flagged")

g0, g1 = np.meshgrid(np.linspace(X[:, 0].min() - 3, X[:, 0].max() + 3, 200),
                     np.linspace(X[:, 1].min() - 3, X[:, 1].max() + 3, 200))
density = model.score_samples(np.column_stack([g0.ravel(), g1.ravel()])).reshape(g0.shape)

fig, ax = plt.subplots(figsize=(6.5, 5))
im = ax.contourf(g0, g1, np.maximum(density, threshold - 10), levels=20, cmap="viridis")
ax.contour(g0, g1, density, levels=[threshold], colors="w", linewidths=2)
fig.colorbar(im, ax=ax, label="log p(x)")
ax.scatter(X[:, 0], X[:, 1], s=4, color="k", label="training inputs")
ax.scatter(new[flagged, 0], new[flagged, 1], s=14, marker="x", color="tab:red",
           label="new inputs flagged (below the 1% quantile)")
ax.set(xlabel="x0", ylabel="x1", title="Gaussian gate: log-density of the inputs")
ax.legend(fontsize=8, loc="lower right")
fig.tight_layout()
