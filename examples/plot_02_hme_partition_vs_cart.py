"""
The HME's soft partition against CART's hard one
================================================

A hierarchical mixture of experts (Jordan & Jacobs 1994) is a tree like CART, but its
splits are soft: each inner node is a logistic gate over any direction of the inputs,
and each leaf is a model, not a constant. Here both classify Peterson & Barney's
vowels from their first two formants with four leaves.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier

from mixexp import HierarchicalMixtureOfExpertsClassifier
from mixexp.datasets import load_peterson_barney

data = load_peterson_barney(return_X_y=False)
X = data.data[:, 1:3]  # F1, F2 (Hz)
y = data.target
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)  # a short run: max_iter=40
    hme = HierarchicalMixtureOfExpertsClassifier(depth=2, branching=2, max_iter=40, random_state=0)
    hme.fit(X_train, y_train)
cart = DecisionTreeClassifier(max_leaf_nodes=4, random_state=0).fit(X_train, y_train)
print(f"test accuracy, 4 leaves each: HME {hme.score(X_test, y_test):.3f}, "
      f"CART {cart.score(X_test, y_test):.3f}")

# %%
# The partitions
# --------------
# ``predict_gate`` gives each row's probability of each leaf; colours blended by those
# probabilities show the HME's soft regions. ``predict_node_gates`` gives each inner
# node's gate: the root's 0.5 contour is its split. CART's leaves are rectangles.

f1, f2 = np.meshgrid(np.linspace(150, 1350, 200), np.linspace(500, 4000, 200))
grid = np.column_stack([f1.ravel(), f2.ravel()])
leaf_colors = plt.cm.Set2(np.arange(4))[:, :3]
soft = (hme.predict_gate(grid) @ leaf_colors).reshape(*f1.shape, 3)
root = hme.predict_node_gates(grid)[:, 0, 0].reshape(f1.shape)
cart_leaf = cart.apply(grid)
hard = leaf_colors[np.searchsorted(np.unique(cart_leaf), cart_leaf)].reshape(*f1.shape, 3)

fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
extent = (f1.min(), f1.max(), f2.min(), f2.max())
axes[0].imshow(soft, origin="lower", extent=extent, aspect="auto")
axes[0].contour(f1, f2, root, levels=[0.1, 0.5, 0.9], colors="k", linewidths=[0.6, 1.5, 0.6])
axes[0].set_title("HME: soft leaves, root gate at 0.1, 0.5, 0.9")
axes[1].imshow(hard, origin="lower", extent=extent, aspect="auto")
axes[1].set_title("CART: four axis-aligned leaves")
for ax in axes:
    ax.scatter(X_train[:, 0], X_train[:, 1], c=y_train, cmap="tab10", s=5, edgecolors="none")
    ax.set_xlabel("F1 (Hz)")
axes[0].set_ylabel("F2 (Hz)")
fig.tight_layout()
