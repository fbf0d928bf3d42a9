"""Hypothesis profiles for the property-based tests (tests/test_robustness.py).

``ci`` (the default) runs 60 derandomized examples per estimator; the whole of
``tests/test_robustness.py`` then takes 15-55 s on two shared cores (budget: a
minute and a half).  ``long`` (500 random examples per estimator, about a
minute more) is for a thorough run before a release:

    HYPOTHESIS_PROFILE=long python -m pytest tests/test_robustness.py

add ``--hypothesis-show-statistics`` to see how many examples ran and how they
ended (see docs/robustness.md).  ``dev`` prints every example, for debugging a
failure.
"""

import os

from hypothesis import HealthCheck, Verbosity, settings

_COMMON = dict(
    deadline=None,  # fits have no useful time limit: numba compiles on first use
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,  # a failure prints a @reproduce_failure blob
)

settings.register_profile("ci", max_examples=60, derandomize=True, **_COMMON)
settings.register_profile("long", max_examples=500, **_COMMON)
settings.register_profile("dev", max_examples=20, verbosity=Verbosity.verbose, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
