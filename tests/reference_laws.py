"""Each regression family's law as a frozen ``scipy.stats`` distribution, and a true
two-expert model of each (tests/test_risk.py, tests/test_zero_inflation.py).

Independent of mixexp's code: the references the risk measures and the zero-inflated
families are checked against.
"""

import numpy as np
from scipy import stats

#: each family's two true experts: the linear predictor (the mean, or the log of the mean,
#: median or scale) at x, and the other parameters of each
TRUE = {
    "linear": ((-2.0, 1.0), (2.0, -0.5), {"sd": (0.5, 1.0)}),
    "student_t": ((-2.0, 1.0), (2.0, -0.5), {"sd": (0.5, 1.0), "nu": (3.0, 8.0)}),
    "gamma": ((0.5, 0.3), (2.0, -0.2), {"shape": (2.0, 5.0)}),
    "poisson": ((0.5, 0.3), (2.5, -0.2), {}),
    "zip": ((0.5, 0.3), (2.5, -0.2), {"pi": (0.3, 0.1)}),
    "negative_binomial": ((0.5, 0.3), (2.5, -0.2), {"theta": (2.0, 10.0)}),
    "lognormal": ((0.5, 0.3), (2.0, -0.2), {"sigma": (0.6, 0.3)}),
    "weibull": ((0.5, 0.3), (2.0, -0.2), {"k": (1.5, 4.0)}),
    "inverse_gaussian": ((0.5, 0.3), (2.0, -0.2), {"phi": (0.5, 0.05)}),
    "burr": ((0.5, 0.3), (2.0, -0.2), {"alpha": (2.0, 3.0), "gamma": (3.0, 5.0)}),
}


class ZeroInflated:
    """A scipy law with a point mass ``pi`` at 0 (scipy has no zero-inflated laws)."""

    def __init__(self, base, pi):
        self.base, self.pi = base, pi

    def cdf(self, y):
        return self.pi * (np.asarray(y) >= 0) + (1 - self.pi) * self.base.cdf(y)

    def sf(self, y):
        return self.pi * (np.asarray(y) < 0) + (1 - self.pi) * self.base.sf(y)

    def pmf(self, k):
        return self.pi * (np.asarray(k) == 0) + (1 - self.pi) * self.base.pmf(k)

    def ppf(self, q):
        return 0.0 if q <= self.pi else self.base.ppf((q - self.pi) / (1 - self.pi))

    def mean(self):
        return (1 - self.pi) * self.base.mean()

    def var(self):
        m = self.base.mean()
        return (1 - self.pi) * (self.base.var() + m * m) - self.mean() ** 2

    def rvs(self, random_state):
        draws = self.base.rvs(random_state=random_state)
        return np.where(random_state.uniform(size=np.shape(draws)) < self.pi, 0.0, draws)


def law(family, eta, p):
    """The scipy law of one expert of ``family`` at the linear predictor ``eta`` with the
    parameters ``p`` (scalars, or arrays of one value per row)."""
    if family == "linear":
        return stats.norm(eta, p["sd"])
    if family == "student_t":
        return stats.t(p["nu"], eta, p["sd"])
    mean = np.exp(eta)
    if family == "gamma":
        return stats.gamma(p["shape"], scale=mean / p["shape"])
    if family == "poisson":
        return stats.poisson(mean)
    if family == "zip":
        return ZeroInflated(stats.poisson(mean), p["pi"])
    if family == "negative_binomial":
        return stats.nbinom(p["theta"], p["theta"] / (p["theta"] + mean))
    if family == "lognormal":
        return stats.lognorm(p["sigma"], scale=mean)
    if family == "weibull":
        return stats.weibull_min(p["k"], scale=mean)
    if family == "inverse_gaussian":  # IG(mean m, shape 1 / phi)
        return stats.invgauss(mean * p["phi"], scale=1.0 / p["phi"])
    return stats.burr12(p["gamma"], p["alpha"], scale=mean)
