"""
Quickstart: the motorcycle crash data
=====================================

The ``mcycle`` data (Silverman 1985) are head accelerations of a crash-test dummy
against time after impact: a curve that a single line cannot follow and whose noise
changes along it. A mixture of linear experts fits it piece by piece, with a smooth
softmax gate between the pieces and one noise level per expert.
"""

import matplotlib.pyplot as plt
import numpy as np

from mixexp import MixtureOfExpertsRegressor
from mixexp.datasets import load_mcycle

X, y = load_mcycle()  # X: time (ms), y: head acceleration (g)
model = MixtureOfExpertsRegressor(n_experts=4, n_init=2, random_state=0).fit(X, y)
print(f"R² on the data: {model.score(X, y):.3f}, EM iterations: {model.n_iter_}")

# %%
# The gate and the experts
# ------------------------
# ``predict_gate`` gives each expert's weight at each time, ``predict_experts`` each
# expert's own line, and ``predict(..., return_std=True)`` the mixture's mean and
# standard deviation.

grid = np.linspace(X.min(), X.max(), 300)[:, None]
gate = model.predict_gate(grid)
experts = model.predict_experts(grid)
mean, std = model.predict(grid, return_std=True)

fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True, height_ratios=[3, 1])
top.scatter(X[:, 0], y, s=10, color="0.4", label="data")
for k in range(model.n_experts):
    used = gate[:, k] > 0.2
    top.plot(grid[used, 0], experts[used, k], lw=1.5, label=f"expert {k}")
top.plot(grid[:, 0], mean, color="k", lw=2, label="mixture mean")
top.fill_between(grid[:, 0], mean - 2 * std, mean + 2 * std, color="0.85", label="± 2 std")
top.set(ylabel="acceleration (g)", ylim=(-200, 120))
top.legend(fontsize=8, ncol=2)
bottom.stackplot(grid[:, 0], gate.T)
bottom.set(xlabel="time after impact (ms)", ylabel="gate")
fig.tight_layout()

# %%
# The noise of each expert
# ------------------------
# Each expert has its own noise variance: small before the impact, large after it.

for k in range(model.n_experts):
    print(f"expert {k}: slope {model.expert_coef_[k, 0, 0]:7.2f} g/ms, "
          f"noise std {np.sqrt(model.noise_variance_[k, 0]):5.1f} g")
