"""
Expert specialization
=====================

Four clusters, each with its own linear class boundary: no single logistic regression
separates them, but a mixture of four multinomial experts does, each expert owning
one cluster. The metrics of ``mixexp.metrics`` say how the gate shares the work out:
``expert_load`` (each expert's share of the rows it wins), ``expert_usage`` (the
entropy of the mean gate: 2 bits for four experts used evenly) and ``gate_entropy``
(how sure the gate is of each row, in bits).
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from mixexp import MixtureOfExpertsClassifier
from mixexp.metrics import expert_load, expert_usage, gate_entropy

warnings.simplefilter("ignore", ConvergenceWarning)
rs = np.random.RandomState(0)
centers = np.array([[-4.0, -4.0], [-4.0, 4.0], [4.0, -4.0], [4.0, 4.0]])
angles = np.deg2rad([45, 135, 135, 45])
X, y = [], []
for center, angle in zip(centers, angles):
    Z = rs.normal(scale=1.4, size=(150, 2))
    X.append(center + Z)
    y.append((Z @ [np.cos(angle), np.sin(angle)] > 0).astype(int))
X, y = np.vstack(X), np.concatenate(y)

single = MixtureOfExpertsClassifier(n_experts=1, random_state=0).fit(X, y)
moe = MixtureOfExpertsClassifier(n_experts=4, n_init=2, max_iter=100, random_state=0).fit(X, y)
print(f"accuracy: one expert {single.score(X, y):.3f}, four experts {moe.score(X, y):.3f}")
print("expert load:", np.round(expert_load(moe, X), 3))
print(f"expert usage H(E) {expert_usage(moe, X):.3f} bits (at most 2), "
      f"mean gate entropy {gate_entropy(moe, X):.3f} bits (uniform gate: 2)")

# %%
# Each expert's region and its own boundary
# -----------------------------------------

g0, g1 = np.meshgrid(np.linspace(-9, 9, 200), np.linspace(-9, 9, 200))
grid = np.column_stack([g0.ravel(), g1.ravel()])
gate = moe.predict_gate(grid)
colors = plt.cm.Set2(np.arange(4))[:, :3]

fig, axes = plt.subplots(1, 3, figsize=(14, 4.3), sharey=True)
for ax, model, title in [(axes[0], single, "one expert"), (axes[1], moe, "four experts")]:
    ax.imshow(model.predict_proba(grid)[:, 1].reshape(g0.shape), origin="lower",
              extent=(-9, 9, -9, 9), cmap="coolwarm", vmin=0, vmax=1, alpha=0.6)
    ax.set_title(f"{title}: P(class 1)")
axes[2].imshow((gate @ colors).reshape(*g0.shape, 3), origin="lower", extent=(-9, 9, -9, 9))
for k in range(4):  # expert k's own boundary, where its gate is above 0.5
    w = moe.expert_coef_[k, 1] - moe.expert_coef_[k, 0]
    b = moe.expert_intercept_[k, 1] - moe.expert_intercept_[k, 0]
    score = (grid @ w + b).reshape(g0.shape)
    axes[2].contour(g0, g1, np.where(gate[:, k].reshape(g0.shape) > 0.5, score, np.nan),
                    levels=[0], colors="k", linewidths=2)
axes[2].set_title("the gate's regions and each expert's boundary")
for ax in axes:
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm", s=5, edgecolors="k", linewidths=0.2)
fig.tight_layout()
