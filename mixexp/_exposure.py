"""The exposure of the log-link expert families: a known offset ``log(exposure)``.

A count ``y`` observed over an exposure ``e`` (time at risk, policy years,
hours of observation) has mean ``e * exp(B x + b)``: the families that take
it (``uses_exposure``) get ``log(e)`` as part of their target.  Without
exposure, every exposure is 1 and predictions are per unit of exposure.
"""

import numpy as np
from sklearn.utils.validation import check_array, check_consistent_length, check_non_negative


def check_exposure(exposure, n_samples, experts):
    """``log(exposure)`` validated for ``experts``, or None when ``exposure`` is None.

    Raises
    ------
    ValueError
        When the family takes no exposure, or the exposure is not a finite,
        positive 1-D array of ``n_samples`` values.
    """
    if exposure is None:
        return None
    if not experts.uses_exposure:
        raise ValueError(
            "exposure is only accepted with the expert families that take an offset, expert='poisson', "
            "'gamma', 'zip' or 'negative_binomial'; this model's experts take none."
        )
    return np.log(exposure_array(exposure, n_samples))


def exposure_array(exposure, n_samples):
    """``exposure`` as a float64 array of ``n_samples`` finite positive values; ValueError otherwise."""
    exposure = check_array(exposure, ensure_2d=False, dtype=np.float64, input_name="exposure")
    if exposure.ndim != 1:
        raise ValueError(f"exposure should be a 1d array, got an array of shape {exposure.shape} instead.")
    check_consistent_length(exposure, np.empty(n_samples))
    check_non_negative(exposure, "exposure")
    if np.any(exposure == 0):
        raise ValueError("exposure must be positive: an exposure of 0 has no log-offset.")
    return exposure


def offset_kwargs(exposure, n_samples, experts):
    """``{"offset": log(exposure)}`` for a family's predictions, or ``{}`` without exposure."""
    offset = check_exposure(exposure, n_samples, experts)
    return {} if offset is None else {"offset": offset}
