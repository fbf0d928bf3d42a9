"""
Censored and truncated losses
=============================

Losses below a deductible are never reported (truncation) and losses above a policy
limit are paid at the limit (right censoring). ``fit(X, y, y_upper=..., truncation=...)``
fits the ground-up law: ``y_upper=inf`` marks a row known only to exceed ``y``, and
``truncation=(lower, upper)`` divides each row's likelihood by the probability of the
interval it was observed in. Fitting the same rows as exact values is biased.
"""

import matplotlib.pyplot as plt
import numpy as np

from mixexp import MixtureOfExpertsRegressor

rs = np.random.RandomState(0)
x = rs.normal(size=2000)
loss = np.exp(1.0 + 0.5 * x + 0.8 * rs.normal(size=2000))  # ground-up log-normal losses
d, u = 2.0, 15.0  # deductible, policy limit
seen = loss > d
X, y = x[seen, None], np.minimum(loss[seen], u)
y_upper = np.where(loss[seen] >= u, np.inf, y)
print(f"{seen.mean():.0%} of the losses reported, {np.isinf(y_upper).mean():.0%} of those at the limit")

params = dict(expert="lognormal", alpha=0.0, max_iter=300, tol=1e-8)
censored = MixtureOfExpertsRegressor(1, **params).fit(X, y, y_upper=y_upper, truncation=(d, np.inf))
naive = MixtureOfExpertsRegressor(1, **params).fit(X, y)
for name, m in [("censored and truncated fit", censored), ("rows as exact values", naive)]:
    print(f"{name:27s} intercept {m.expert_intercept_[0, 0]:.3f}  slope {m.expert_coef_[0, 0, 0]:.3f}"
          f"  sigma {m.noise_scale_.ravel()[0]:.3f}")
print("truth                       intercept 1.000  slope 0.500  sigma 0.800")

# %%
# The ground-up median and 90% quantile
# -------------------------------------
# ``predict_quantile`` of the censored fit follows the ground-up law, below the
# deductible and above the limit too.

grid = np.linspace(-2.5, 2.5, 100)[:, None]
fig, ax = plt.subplots(figsize=(7, 4.5))
ax.scatter(x, loss, s=3, color="0.75", label="all ground-up losses (unseen)")
ax.scatter(X[:, 0], y, s=3, color="0.3", label="reported, capped at the limit")
for m, color, name in [(censored, "tab:blue", "censored fit"), (naive, "tab:red", "naive fit")]:
    for q, style in [(0.5, "-"), (0.9, "--")]:
        ax.plot(grid[:, 0], m.predict_quantile(grid, q), style, color=color, label=f"{name}, q={q}")
for v in (d, u):
    ax.axhline(v, color="k", lw=0.6)
ax.plot(grid[:, 0], np.exp(1.0 + 0.5 * grid[:, 0]), "k:", label="true median")
ax.set(yscale="log", xlabel="x", ylabel="loss", ylim=(0.3, 200))
ax.legend(fontsize=7, ncol=2)
fig.tight_layout()
