"""
Insurance: claim frequency and severity
=======================================

A motor portfolio with two latent kinds of drivers. The gate sees the policyholder
(age, urban), the experts the vehicle (age, power): a Poisson mixture with each
policy's years at risk as ``exposure`` models the number of claims, and a Gamma
mixture the size of each claim. Their product is the pure premium.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning

from mixexp import MixtureOfExpertsRegressor

warnings.simplefilter("ignore", ConvergenceWarning)
rs = np.random.RandomState(0)
n = 3000
policies = pd.DataFrame({
    "driver_age": rs.uniform(18, 80, n),
    "urban": (rs.uniform(size=n) < 0.4).astype(float),
    "vehicle_age": rs.uniform(0, 15, n),
    "power": rs.uniform(0.5, 2.0, n),
})
exposure = rs.uniform(0.1, 1.0, n)  # years insured
p_risky = 1 / (1 + np.exp(-(1.5 - 0.08 * (policies.driver_age - 18) + 1.2 * policies.urban)))
risky = rs.uniform(size=n) < p_risky
rate = np.where(risky, np.exp(-1.0 + 0.04 * policies.vehicle_age + 0.5 * policies.power),
                np.exp(-2.6 + 0.01 * policies.vehicle_age + 0.2 * policies.power))
claims = rs.poisson(exposure * rate).astype(float)

gate_cols, expert_cols = ["driver_age", "urban"], ["vehicle_age", "power"]
freq = MixtureOfExpertsRegressor(2, expert="poisson", gate_features=gate_cols,
                                 expert_features=expert_cols, max_iter=100, random_state=0)
freq.fit(policies, claims, exposure=exposure)
print("Poisson experts' intercepts (log claims per year):", np.round(freq.expert_intercept_[:, 0], 2))

# %%
# Severity
# --------
# One row per claim, a Gamma mixture on the same features.

rows = np.repeat(np.arange(n), claims.astype(int))
claim_rows = policies.iloc[rows].reset_index(drop=True)
mean_size = np.where(risky[rows], np.exp(8.0 + 0.4 * claim_rows.power),
                     np.exp(7.0 - 0.03 * claim_rows.vehicle_age))
shape = np.where(risky[rows], 2.0, 4.0)
size = rs.gamma(shape, mean_size / shape)
sev = MixtureOfExpertsRegressor(2, expert="gamma", gate_features=gate_cols,
                                expert_features=expert_cols, max_iter=100, random_state=0)
sev.fit(claim_rows, size)
print(f"{len(size)} claims; Gamma experts' dispersions {np.round(sev.dispersion_, 3)}")

# %%
# The risky class by age, and the pure premium
# --------------------------------------------

risky_expert = int(np.argmax(freq.expert_intercept_[:, 0] + freq.expert_coef_[:, 0, 3]))
ages = np.linspace(18, 80, 100)
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for urban, style in [(0.0, "-"), (1.0, "--")]:
    grid = pd.DataFrame({"driver_age": ages, "urban": urban, "vehicle_age": 5.0, "power": 1.0})
    axes[0].plot(ages, freq.predict_gate(grid)[:, risky_expert], "C0" + style,
                 label=f"fitted, {'urban' if urban else 'rural'}")
    axes[0].plot(ages, 1 / (1 + np.exp(-(1.5 - 0.08 * (ages - 18) + 1.2 * urban))), "k" + style,
                 lw=1, label=f"truth, {'urban' if urban else 'rural'}")
axes[0].set(xlabel="driver age", ylabel="P(risky class)", title="frequency model's gate")
axes[0].legend(fontsize=8)

premium = freq.predict(policies) * sev.predict(policies)
truth = (p_risky * np.exp(-1.0 + 0.04 * policies.vehicle_age + 0.5 * policies.power)
         * np.exp(8.0 + 0.4 * policies.power)
         + (1 - p_risky) * np.exp(-2.6 + 0.01 * policies.vehicle_age + 0.2 * policies.power)
         * np.exp(7.0 - 0.03 * policies.vehicle_age))
axes[1].loglog(truth, premium, ".", ms=2, alpha=0.4)
lim = [truth.min() * 0.8, truth.max() * 1.2]
axes[1].plot(lim, lim, "k", lw=1)
axes[1].set(xlabel="true pure premium per year", ylabel="fitted", title="frequency × severity")
fig.tight_layout()
print(f"median absolute relative error of the premium: {np.median(np.abs(premium / truth - 1)):.1%}")
