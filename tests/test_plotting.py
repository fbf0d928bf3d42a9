"""mixexp.plotting renders headless (Agg) and draws what it says: lines, bars, labels."""

import sys

import numpy as np
import pytest

from mixexp import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from mixexp.datasets import make_moe_classification, make_moe_regression

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402

from mixexp import plotting  # noqa: E402
from mixexp.inference import bootstrap  # noqa: E402


@pytest.fixture(scope="module")
def fitted():
    X, y = make_moe_regression(200, n_features=2, n_experts=3, noise=0.2, random_state=0)
    return MixtureOfExpertsRegressor(3, random_state=0).fit(X, y), X, y


def _ax():
    return Figure().subplots()


def _render(ax):
    ax.figure.canvas.draw()  # Agg renders it; an error in the artists shows here


def test_plot_gate_along_one_feature_and_over_two(fitted):
    model, X, y = fitted
    ax = _ax()
    assert plotting.plot_gate(model, X, features=1, n_points=50, ax=ax) is ax
    _render(ax)
    assert len(ax.lines) == 3
    # the sweep's gate probabilities sum to 1 at every point
    np.testing.assert_allclose(sum(line.get_ydata() for line in ax.lines), 1.0)
    assert len(ax.collections) == 3  # the rows' own gate probabilities, one set per expert
    assert ax.get_xlabel() == "x1" and ax.get_ylabel() == "gate probability"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["expert 0", "expert 1", "expert 2"]
    ax = plotting.plot_gate(model, X, features=(0, 1), ax=_ax())
    _render(ax)
    assert ax.get_xlabel() == "x0" and ax.get_ylabel() == "x1"
    points = sum(len(c.get_offsets()) for c in ax.collections if hasattr(c, "get_offsets"))
    assert points >= X.shape[0]


def test_plot_gate_takes_feature_names_of_a_dataframe(fitted):
    pd = pytest.importorskip("pandas")
    _, X, y = fitted
    Xf = pd.DataFrame(X, columns=["age", "dose"])
    model = MixtureOfExpertsRegressor(3, random_state=0).fit(Xf, y)
    ax = plotting.plot_gate(model, Xf, features="dose", n_points=20, ax=_ax())
    assert ax.get_xlabel() == "dose"
    with pytest.raises(ValueError, match="not among"):
        plotting.plot_gate(model, Xf, features="weight", ax=_ax())


def test_plot_experts_draws_each_expert_and_the_mixture(fitted):
    model, X, y = fitted
    ax = plotting.plot_experts(model, X, y, feature=0, n_points=40, ax=_ax())
    _render(ax)
    assert len(ax.lines) == 4  # three experts and the mixture mean
    np.testing.assert_allclose(ax.lines[-1].get_ydata(), model.predict(
        np.column_stack([np.linspace(X[:, 0].min(), X[:, 0].max(), 40), np.full(40, np.median(X[:, 1]))])
    ))
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["expert 0", "expert 1", "expert 2", "mixture mean", "mean ± 2 sd"]
    with pytest.raises(ValueError, match="one target"):
        plotting.plot_experts(model, X, np.column_stack([y, y]), ax=_ax())


def test_plot_posterior_is_a_rootogram(fitted):
    model, X, y = fitted
    ax = plotting.plot_posterior(model, X, y, bins=8, ax=_ax())
    _render(ax)
    assert len(ax.patches) == 3 * 8
    post = model.responsibilities(X, y)
    heights = np.array([p.get_height() for p in ax.patches]).reshape(3, 8)
    np.testing.assert_allclose(heights**2, [np.histogram(p[p >= 1e-4], bins=8, range=(0, 1))[0]
                                            for p in post.T])
    assert ax.get_ylabel() == "sqrt(count)"
    with pytest.raises(ValueError, match="bins"):
        plotting.plot_posterior(model, X, y, bins=0, ax=_ax())


def test_plot_coefficients_from_summary_and_from_bootstrap(fitted):
    model, X, y = fitted
    table = model.summary(X, y)
    ax = plotting.plot_coefficients(table, parameters=["x1"], ax=_ax())
    _render(ax)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [f"{c}[x1]" for c in table["component"][table["parameter"] == "x1"]]
    x1 = table[table["parameter"] == "x1"]
    np.testing.assert_allclose(ax.lines[0].get_xdata(), x1["estimate"])
    (segments,) = ax.collections
    ends = np.array([[s[0][0], s[1][0]] for s in segments.get_segments()])
    np.testing.assert_allclose(ends[:, 1] - ends[:, 0], 2 * 1.959964 * x1["std_error"], rtol=1e-5)
    np.testing.assert_allclose(ends.mean(axis=1), x1["estimate"])
    result = bootstrap(model, X, y, n_resamples=5, random_state=0)
    ax = plotting.plot_coefficients(result, components=["expert 0"], ax=_ax())
    _render(ax)
    ends = np.array([[s[0][0], s[1][0]] for s in ax.collections[0].get_segments()])
    mine = np.array(result.component) == "expert 0"
    np.testing.assert_allclose(ends, np.column_stack([result.ci_low, result.ci_high])[mine])
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "expert 0[(intercept)]", "expert 0[x0]", "expert 0[x1]", "expert 0[log_noise_variance]"
    ]
    with pytest.raises(ValueError, match="no parameter"):
        plotting.plot_coefficients(table, parameters=["x7"], ax=_ax())
    with pytest.raises(TypeError, match="summary"):
        plotting.plot_coefficients(np.zeros(3), ax=_ax())


def test_plot_usage_shows_the_loads_and_the_metrics():
    X, y = make_moe_classification(300, n_features=2, n_experts=2, n_classes=3, random_state=0)
    model = MixtureOfExpertsClassifier(2, random_state=0).fit(X, y)
    ax = plotting.plot_usage(model, X, y, ax=_ax())
    _render(ax)
    assert len(ax.patches) == 4
    loads = [p.get_height() for p in ax.patches[:2]]
    np.testing.assert_allclose(loads, np.bincount(model.predict_gate(X).argmax(axis=1), minlength=2) / 300)
    assert "usage H(E)" in ax.get_title() and "I(E; Y)" in ax.get_title()


def test_without_ax_a_new_figure_is_made(fitted):
    import matplotlib.pyplot as plt

    model, X, y = fitted
    ax = plotting.plot_usage(model, X)
    assert ax.figure is not None and len(ax.patches) == 6
    plt.close(ax.figure)


def test_without_matplotlib_the_error_names_the_extra(fitted, monkeypatch):
    model, X, y = fitted
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r'mixexp\[plot\]'):
        plotting.plot_usage(model, X)


DOCS = __import__("pathlib").Path(__file__).resolve().parents[1] / "docs" / "inference.md"


@pytest.mark.slow
@pytest.mark.skipif(not DOCS.exists(), reason="run from a source checkout (docs/ is not installed)")
def test_the_docs_example_of_reading_a_fitted_model_runs(tmp_path, monkeypatch):
    import re
    import warnings

    pytest.importorskip("pandas")
    blocks = re.findall(r"^```python\n(.*?)^```", DOCS.read_text(encoding="utf-8"), flags=re.S | re.M)
    (code,) = [b for b in blocks if "bootstrap_lrt(" in b and "plot_usage(" in b]
    # fewer replicates than the page's, the same code
    code = code.replace("n_resamples=200", "n_resamples=5").replace("n_resamples=49", "n_resamples=2")
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(compile(code, "docs/inference.md example", "exec"), {"__name__": "__docs__"})
    assert (tmp_path / "npreg_after_the_fit.png").stat().st_size > 10_000
