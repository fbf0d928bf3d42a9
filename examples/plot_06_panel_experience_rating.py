"""
Panel data and experience rating
================================

Each policy is observed for several years and belongs to one latent class for all of
them: ``fit(..., groups=policy)`` gives each group one expert, whose likelihood is the
product over its rows. ``predict(..., groups=, history=)`` then rates next year from
each policy's own claims (the posterior of its class given its history), as
credibility theory does, instead of from the gate alone.
"""

import matplotlib.pyplot as plt
import numpy as np

from mixexp import MixtureOfExpertsRegressor

rs = np.random.RandomState(0)
n_policies, n_years = 400, 5
policy = np.repeat(np.arange(n_policies), n_years)
year = np.tile(np.arange(n_years), n_policies)
age = rs.uniform(18, 80, n_policies)[policy]  # constant within a policy: the gate's feature
risky = rs.uniform(size=n_policies) < 1 / (1 + np.exp((age[::n_years] - 35) / 8))
mileage = rs.uniform(0.5, 2.0, policy.shape[0])  # changes every year: the experts' feature
exposure = rs.uniform(0.5, 1.0, policy.shape[0])
rate = np.where(risky[policy], 0.6, 0.1) * mileage
claims = rs.poisson(exposure * rate)
X = np.column_stack([age, mileage])

past, new = year < n_years - 1, year == n_years - 1
model = MixtureOfExpertsRegressor(2, expert="poisson", gate_features=[0], expert_features=[1],
                                  random_state=0)
model.fit(X[past], claims[past], exposure=exposure[past], groups=policy[past])

history = (X[past], claims[past], policy[past], exposure[past])
rated = model.predict(X[new], exposure=exposure[new], groups=policy[new], history=history)
a_priori = model.predict(X[new], exposure=exposure[new])
truth = exposure[new] * rate[new]
print(f"mean squared error of next year's expected claims: with the history "
      f"{np.mean((rated - truth) ** 2):.4f}, from the gate alone {np.mean((a_priori - truth) ** 2):.4f}")

# %%
# The weight of the risky class, before and after the history
# -----------------------------------------------------------
# ``predict_gate`` with ``history=`` gives the posterior weights themselves.

high = int(np.argmax(model.expert_intercept_[:, 0]))
prior = model.predict_gate(X[new])[:, high]
posterior = model.predict_gate(X[new], groups=policy[new], history=history)[:, high]
past_claims = np.bincount(policy[past], weights=claims[past], minlength=n_policies)

fig, axes = plt.subplots(1, 2, figsize=(11, 4))
sc = axes[0].scatter(prior, posterior, c=past_claims, cmap="viridis", s=10)
fig.colorbar(sc, ax=axes[0], label="claims in the four past years")
axes[0].plot([0, 1], [0, 1], "k", lw=0.8)
axes[0].set(xlabel="gate (age only)", ylabel="posterior given the history",
            title="weight of the high-rate expert")
axes[1].scatter(truth, a_priori, s=8, alpha=0.6, label="gate alone")
axes[1].scatter(truth, rated, s=8, alpha=0.6, label="with the history")
axes[1].plot([0, truth.max()], [0, truth.max()], "k", lw=0.8)
axes[1].set(xlabel="true expected claims, year 5", ylabel="predicted", title="experience rating")
axes[1].legend()
fig.tight_layout()
