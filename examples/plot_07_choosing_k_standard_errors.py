"""
Choosing the number of experts, with standard errors
====================================================

``MixtureOfExpertsIC`` fits a mixture for each size and keeps the one of lowest BIC,
ICL or AIC. On mcycle BIC takes 5 experts, one of which fits a handful of identical
readings before the impact with almost no noise: a parameter the data barely identify.
ICL, which adds the entropy of the responsibilities and so penalises overlapping
experts, takes 3. ``summary(X, y)`` then gives each parameter's standard error from the
observed information (Louis 1982), and ``mixexp.plotting.plot_coefficients`` draws
their confidence intervals.
"""

import warnings

import matplotlib.pyplot as plt
import pandas as pd

from mixexp import MixtureOfExpertsIC, MixtureOfExpertsRegressor
from mixexp.datasets import load_dataset
from mixexp.plotting import plot_coefficients

X, y = load_dataset("mcycle", as_frame=True)
selector = MixtureOfExpertsIC(MixtureOfExpertsRegressor(n_init=5, max_iter=300, random_state=0),
                              param_grid={"n_experts": [1, 2, 3, 4, 5, 6]}, criterion="icl")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # large sizes may freeze an expert or stop at max_iter
    selector.fit(X, y)
table = pd.DataFrame(selector.criteria_).set_index("param_n_experts")[["bic", "icl", "aic"]]
print("ICL chooses", selector.best_params_, "; BIC would choose", table["bic"].idxmin())
print(table.round(1))

fig, ax = plt.subplots(figsize=(6, 3.5))
for name, style in [("bic", "o-"), ("icl", "s--"), ("aic", "^:")]:
    ax.plot(table.index, table[name], style, label=name.upper())
ax.set(xlabel="number of experts", ylabel="criterion (lower is better)",
       title="mcycle: information criteria")
ax.legend()
fig.tight_layout()

# %%
# Standard errors of the chosen model
# -----------------------------------

model = selector.best_estimator_
summary = model.summary(X, y)
print(summary.round(3).to_string(index=False))

fig, ax = plt.subplots(figsize=(6, 3.5))
plot_coefficients(summary, parameters=["times"], ax=ax)
ax.set_title("each expert's slope (g per ms), 95% intervals")
fig.tight_layout()
