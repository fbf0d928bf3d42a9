"""Command line: ``python -m mixexp`` (the ``compare`` command is being built)."""

import sys


def main(argv=None):
    """Fit a mixture of experts on simulated data and print what it learned."""
    from mixexp import MixtureOfExpertsRegressor
    from mixexp.datasets import make_moe_regression

    X, y, params = make_moe_regression(
        n_samples=2000, n_features=3, n_experts=3, random_state=0, return_params=True
    )
    model = MixtureOfExpertsRegressor(n_experts=3, n_init=3, random_state=0).fit(X, y)
    print(f"EM: {model.n_iter_} iterations, mean log-likelihood {model.lower_bound_:.4f}")
    print(f"R^2 on the training data: {model.score(X, y):.4f}")
    print("fitted expert intercepts:", model.expert_intercept_.ravel().round(3))
    print("true expert intercepts:  ", params["expert_intercept"].ravel().round(3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
