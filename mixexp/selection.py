"""Choosing the number of experts: ICL and a selector over a grid of sizes."""

import numpy as np


def assignment_entropy(resp):
    """Entropy ``-sum_i sum_k r_ik log r_ik`` of posterior assignments ``resp`` (n, K)."""
    resp = np.asarray(resp, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(resp > 0, resp * np.log(resp), 0.0)
    return float(-terms.sum())
