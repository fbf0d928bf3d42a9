"""Tests of ``mixexp compare``: the CLI end to end on tiny settings, user CSVs, errors."""

import csv
import math
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import cross_val_score

import mixexp
from mixexp import compare
from mixexp.__main__ import main
from mixexp.datasets import make_moe_classification, make_moe_regression

# every CLI run: quick settings, in-process (no worker start-up), no progress bar
FAST = ["--quick", "--n-jobs", "1", "--no-progress"]


def _read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _write_csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


@pytest.fixture
def regression_csv(tmp_path):
    X, y = make_moe_regression(n_samples=90, n_features=2, n_experts=2, random_state=0)
    return _write_csv(tmp_path / "planes.csv", ["a", "b", "y"],
                      [[f"{a:.6f}", f"{b:.6f}", f"{t:.6f}"] for (a, b), t in zip(X, y)])


# --------------------------------------------------------------------------- #
# the CLI end to end
# --------------------------------------------------------------------------- #
@pytest.mark.slow  # mixexp compare end to end, plots included
def test_compare_bundled_dataset_writes_tables_and_plots(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["compare", *FAST, "--datasets", "mcycle", "--models", "moe", "cart", "linear",
                 "--folds", "2", "--out", str(out)])
    assert code == 0
    for name in ["results.csv", "folds.csv", "results.md", "scores_mcycle.png",
                 "partition_mcycle.png"]:
        assert (out / name).stat().st_size > 0, name

    rows = _read_csv(out / "results.csv")
    assert list(rows[0]) == compare.SUMMARY_COLUMNS
    assert [r["model"] for r in rows] == ["MoE", "CART", "Linear"]
    assert {r["dataset"] for r in rows} == {"mcycle"}
    assert all(r["metric"] == "r2" and r["n_splits"] == "2" and r["error"] == "" for r in rows)
    scores = [float(r["score_mean"]) for r in rows]
    assert all(math.isfinite(s) and s <= 1 for s in scores)
    assert all(math.isfinite(float(r["fit_seconds_mean"])) for r in rows)
    best = [r["model"] for r in rows if r["best"] == "True"]
    assert best == [rows[int(np.argmax(scores))]["model"]]
    assert rows[0]["chosen"].startswith("n_experts=")
    assert rows[1]["chosen"].startswith("max_depth=")
    assert int(rows[0]["convergence_warnings"]) >= 0

    folds = _read_csv(out / "folds.csv")
    assert len(folds) == 3 * 2
    stdout = capsys.readouterr().out
    assert "R² (mean ± std)" in stdout and " *" in stdout and "MoE" in stdout
    md = (out / "results.md").read_text(encoding="utf-8")
    assert "| mcycle |" in md and "**" in md


@pytest.mark.slow  # every model of mixexp compare, cross-validated
def test_every_model_sees_the_same_deterministic_folds(tmp_path):
    data = compare.bundled_datasets(["mcycle"])[0]
    settings = compare.QUICK_SETTINGS
    first = compare.run_comparison([data], ["linear", "moe"], settings, progress=False)
    again = compare.run_comparison([data], ["linear", "moe"], settings, progress=False)
    score = {(r["model"], r["split"]): r["score"] for r in first.folds}
    assert score == {(r["model"], r["split"]): r["score"] for r in again.folds}
    # the folds are make_splits(...): the linear model's fold scores can be reproduced
    expected = cross_val_score(LinearRegression(), data.X, data.y,
                               cv=compare.make_splits(data, settings))
    got = [score[("Linear", i)] for i in range(len(expected))]
    np.testing.assert_allclose(got, expected)


@pytest.mark.slow  # every model of mixexp compare, cross-validated
def test_user_csv_regression_all_models(tmp_path, regression_csv, capsys):
    out = tmp_path / "out"
    code = main(["compare", *FAST, "--csv", regression_csv, "--target", "y", "--out", str(out)])
    assert code == 0
    rows = _read_csv(out / "results.csv")
    assert [r["model"] for r in rows] == [compare.MODELS[m] for m in compare.models.DEFAULT_MODELS]
    assert {r["dataset"] for r in rows} == {"planes"}
    assert all(r["task"] == "regression" and math.isfinite(float(r["score_mean"])) for r in rows)
    assert (out / "partition_planes.png").exists()  # two features: the 2-D partition map
    assert "task regression" in capsys.readouterr().out


def test_user_csv_classification_with_string_labels(tmp_path):
    X, y = make_moe_classification(n_samples=80, n_features=3, n_experts=2, n_classes=2,
                                   random_state=1)
    path = _write_csv(tmp_path / "labels.csv", ["f0", "f1", "f2", "kind"],
                      [[*map(str, x), ["cat", "dog"][c]] for x, c in zip(X, y)])
    out = tmp_path / "out"
    code = main(["compare", *FAST, "--csv", path, "--target", "kind", "--models", "moe", "linear",
                 "--no-plots", "--out", str(out)])
    assert code == 0
    rows = _read_csv(out / "results.csv")
    assert all(r["task"] == "classification" and r["metric"] == "accuracy" for r in rows)
    assert all(0 <= float(r["score_mean"]) <= 1 for r in rows)
    assert all(math.isfinite(float(r["log_loss_mean"])) for r in rows)
    assert not list(out.glob("*.png"))


@pytest.mark.parametrize(
    "content, target, message",
    [
        ("a,b,y\n1,x,3\n2,3,4\n", "y", "non-numeric: 'b'"),
        ("a,b,y\n1,,3\n2,3,4\n", "y", "column 'b' has missing values (line 2)"),
        ("a,b,y\n1,2,3\n2,3,4\n", "price", "no column named 'price'; columns are: a, b, y"),
        ("a,b,y\n1,2,3\n2,3\n", "y", "line 3 has 2 cells"),
        ("a,b,y\n", "y", "at least one data row"),
    ],
)
def test_user_csv_errors(tmp_path, capsys, content, target, message):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SystemExit) as exc:
        main(["compare", *FAST, "--csv", str(path), "--target", target,
              "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--csv", "no/such/file.csv", "--target", "y"], "CSV file not found: no/such/file.csv"),
        (["--csv", "x.csv"], "--csv needs --target"),
        (["--target", "y"], "--target needs --csv"),
        (["--datasets", "mcycle,nope"], "unknown dataset 'nope'; bundled datasets: "),
        (["--models", "moe", "forest"], "unknown model 'forest'; models: moe, hme"),
        (["--folds", "1"], "must be >= 2"),
        (["--n-jobs", "0"], "--n-jobs must not be 0"),
    ],
)
def test_usage_errors(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exc:
        main(["compare", *args, "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "usage: mixexp compare" in err


def test_class_too_small_for_the_folds(tmp_path, capsys):
    rows = [[i, "a" if i < 9 else "b"] for i in range(10)]
    path = _write_csv(tmp_path / "rare.csv", ["x", "y"], rows)
    with pytest.raises(SystemExit):
        main(["compare", *FAST, "--csv", path, "--target", "y", "--folds", "3"])
    assert "class 'b' has only 1 rows, fewer than the 3" in capsys.readouterr().err


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "compare" in capsys.readouterr().err


def test_python_m_mixexp_compare_help():
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(mixexp.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, "-m", "mixexp", "compare", "--help"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "usage: mixexp compare" in proc.stdout and "--csv FILE" in proc.stdout


# --------------------------------------------------------------------------- #
# optional dependencies: without matplotlib or tqdm
# --------------------------------------------------------------------------- #
def test_without_matplotlib_tables_are_written_and_plots_explained(tmp_path, capsys,
                                                                   monkeypatch):
    monkeypatch.setattr(compare.report, "_have_matplotlib", lambda: False)
    out = tmp_path / "out"
    assert main(["compare", *FAST, "--datasets", "mcycle", "--models", "linear",
                 "--out", str(out)]) == 0
    assert (out / "results.csv").exists() and (out / "results.md").exists()
    assert not list(out.glob("*.png"))
    assert 'pip install "mixexp[compare]"' in capsys.readouterr().out


def test_progress_lines_without_tqdm(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    assert main(["compare", "--quick", "--n-jobs", "1", "--datasets", "mcycle", "--models",
                 "linear", "cart", "--no-plots", "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "[compare] (1/2) mcycle / Linear ..." in err
    assert "[compare] (2/2) mcycle           CART" in err


# --------------------------------------------------------------------------- #
# pictures
# --------------------------------------------------------------------------- #
def _scored(dataset, task, scores, seconds=None):
    """A ComparisonResult holding only summary rows: {model: (mean, std)}, best marked;
    fit times {model: seconds}, 1.5 s by default."""
    data = compare.bundled_datasets([dataset])[0]
    top = max(mean for mean, _ in scores.values())
    seconds = seconds or {}
    summary = [{"dataset": dataset, "task": task, "model": model, "score_mean": mean,
                "score_std": std, "best": mean == top, "error": "",
                "fit_seconds_mean": seconds.get(model, 1.5),
                "n_samples": data.n_samples, "n_features": data.n_features}
               for model, (mean, std) in scores.items()]
    return compare.ComparisonResult(summary, [], [data], compare.Settings())


@pytest.mark.parametrize("task, dataset", [("regression", "mcycle"),
                                           ("classification", "vowel")])
def test_score_chart_bars_start_at_zero_with_legend_and_every_value(tmp_path, task, dataset):
    pytest.importorskip("matplotlib")
    scores = {"MoE": (0.81, 0.03), "HME": (0.84, 0.02), "CART": (0.62, 0.04),
              "Linear": (0.04, 0.06), "HistGB": (0.92, 0.01)}
    fig = compare.plot_scores(_scored(dataset, task, scores), dataset, tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 0
    ax = fig.axes[0]
    bars = ax.patches
    assert len(bars) == len(scores) and all(bar.get_x() == 0 for bar in bars)
    low, high = ax.get_xlim()
    # 0 is the baseline: the axis starts there (or just left of it for an error bar)
    assert -0.05 <= low <= 0 and high >= 1
    assert [t.get_text() for t in ax.texts] == [f"{m:.3f} · 1.5 s" for m, _ in scores.values()]
    colors = {bar.get_facecolor() for bar in bars}
    assert len(colors) == 3  # two shades of the mixtures' blue, one grey for the others
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "mixture of experts (mixexp)" in legend and "best mean score" in legend
    assert any(t.startswith("majority class") for t in legend) == (task == "classification")


def _hsv(color):
    from matplotlib.colors import rgb_to_hsv, to_rgb

    return rgb_to_hsv(to_rgb(color))


def test_score_chart_colours_every_mixture_as_one_family_and_times_every_bar(tmp_path):
    pytest.importorskip("matplotlib")  # the charts are Figures without pyplot: no display needed
    scores = {"MoE": (0.80, 0.02), "HME": (0.79, 0.02), "MoE-quad": (0.90, 0.01),
              "CART": (0.70, 0.03), "Stacking": (0.85, 0.02), "Linear": (0.30, 0.05),
              "HistGB": (0.88, 0.01)}
    seconds = {"MoE": 12.34, "HME": 0.456, "MoE-quad": 123.4, "CART": 0.02, "Stacking": 2.5,
               "Linear": 0.001, "HistGB": 3.21}
    fig = compare.plot_scores(_scored("mcycle", "regression", scores, seconds), "mcycle",
                              tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 0
    ax = fig.axes[0]
    bars = dict(zip([t.get_text() for t in ax.get_yticklabels()], ax.patches))
    assert list(bars) == list(scores)
    blue = _hsv("tab:blue")[0]
    for model, bar in bars.items():
        hue, saturation, _ = _hsv(bar.get_facecolor()[:3])
        if model in ("MoE", "HME", "MoE-quad"):  # the winner MoE-quad among them
            assert saturation > 0.3 and abs(hue - blue) < 0.05, model
        else:
            assert saturation == 0, model
    mixture_colors = {bars[m].get_facecolor() for m in ("MoE", "HME", "MoE-quad")}
    assert len(mixture_colors) == 3  # one family, each mixture still told apart
    assert bars["MoE-quad"].get_linewidth() > 0 and bars["MoE-quad"].get_edgecolor()[:3] == (0, 0, 0)
    labels = [t.get_text() for t in ax.texts]
    assert labels == ["0.800 · 12 s", "0.790 · 0.46 s", "0.900 · 123 s", "0.700 · 0.02 s",
                      "0.850 · 2.5 s", "0.300 · <0.01 s", "0.880 · 3.2 s"]
    assert "test R²" in ax.get_xlabel() and "fit time" in ax.get_xlabel()


def test_score_chart_cuts_a_hopeless_r2_at_minus_one_but_prints_it(tmp_path):
    pytest.importorskip("matplotlib")
    result = _scored("mcycle", "regression", {"MoE": (0.7, 0.1), "Linear": (-3.5, 2.0)})
    ax = compare.plot_scores(result, "mcycle", tmp_path / "s.png").axes[0]
    assert ax.get_xlim()[0] == pytest.approx(-1.02)
    assert "-3.500 · 1.5 s" in [t.get_text() for t in ax.texts]
    assert "axis cut at −1" in ax.get_xlabel()


def test_partition_picture_is_a_converged_fit_on_a_shared_y_axis(tmp_path):
    pytest.importorskip("matplotlib")
    data = compare.bundled_datasets(["mcycle"])[0]
    # the comparison's own EM cap (30 iterations here) is too small to converge
    # the penalties of this picture's reference fit (the regressors' defaults before
    # alpha=1, gate_alpha=0.1, which smooth 8 experts on mcycle's one feature to R² 0.54)
    fig, moe, cart = compare.plot_partition(
        data, tmp_path / "p.png", {"moe__n_experts": 8, "moe__alpha": 1e-6, "moe__gate_alpha": 1e-3},
        {"max_depth": 3}, compare.QUICK_SETTINGS, {"CART": (0.612, 0.05)})
    assert (tmp_path / "p.png").stat().st_size > 0
    est = moe[-1]
    assert est.converged_ and est.n_experts == 8 and est.n_iter_ > 30
    # stopped early (max_iter=50) this mixture reached 0.705 and missed the curve
    assert moe.score(data.X, data.y) > 0.75
    mixture_ax, tree_ax = fig.axes[:2]
    assert mixture_ax.get_ylim() == tree_ax.get_ylim()
    assert mixture_ax.get_ylim()[0] <= data.y.min() and mixture_ax.get_ylim()[1] >= data.y.max()
    assert "K=8" in mixture_ax.get_title() and "converged in" in mixture_ax.get_title()
    assert cart.get_depth() == 3
    # a test score where the comparison has one, else the training score said plainly
    train = f"training R² {moe.score(data.X, data.y):.3f}"
    assert f"{train} (fitted on all rows; no test score)" in mixture_ax.get_title()
    assert "CV test R² 0.612 ± 0.050" in tree_ax.get_title()
    assert f"training R² {cart.score(data.X, data.y):.3f} of this fit" in tree_ax.get_title()
    # CART's leaves as intervals in order along x: one span per leaf, neighbours told apart
    strip = fig.axes[3]
    spans = [p for p in strip.patches]
    assert len(spans) == cart.get_n_leaves()
    shades = [p.get_alpha() for p in spans]
    assert all(a != b for a, b in zip(shades, shades[1:]))
    assert sum(int(t.get_text()[2:]) for t in strip.texts if t.get_text().startswith("n=")) \
        <= data.n_samples


def test_report_draws_the_partition_with_the_most_chosen_number_of_experts(tmp_path,
                                                                         monkeypatch):
    data = compare.bundled_datasets(["mcycle"])[0]
    result = compare.run_comparison([data], ["moe", "cart"], compare.QUICK_SETTINGS,
                                    progress=False)
    drawn = {}
    monkeypatch.setattr(compare.report, "plot_partition",
                        lambda data, path, moe_params, cart_params, settings, test_scores:
                        drawn.update(moe=moe_params, cart=cart_params, test=test_scores))
    compare.write_report(result, tmp_path)
    chosen = {r["model"]: r["chosen"] for r in result.summary}
    k = drawn["moe"]["moe__n_experts"]
    assert chosen["MoE"].startswith(f"n_experts={k}×")  # the most frequent choice comes first
    assert chosen["CART"].startswith(f"max_depth={drawn['cart']['max_depth']}×")
    # the titles get the table's cross-validated test scores
    tested = {r["model"]: (r["score_mean"], r["score_std"]) for r in result.summary}
    assert drawn["test"] == tested


# --------------------------------------------------------------------------- #
# pieces
# --------------------------------------------------------------------------- #
class _Warns(RegressorMixin, BaseEstimator):
    def fit(self, X, y):
        warnings.warn("stopped early", ConvergenceWarning)
        warnings.warn("stopped early", ConvergenceWarning)
        warnings.warn("something else", UserWarning)
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(len(X), self.mean_)


def test_count_convergence_warnings():
    model = compare.CountConvergenceWarnings(_Warns())
    with pytest.warns(UserWarning, match="something else"):
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)  # would fail if leaked
            model.fit(np.zeros((4, 1)), np.arange(4.0))
    assert model.n_convergence_warnings_ == 2
    np.testing.assert_allclose(model.predict(np.zeros((2, 1))), 1.5)


def test_models_are_valid_for_both_tasks():
    for task in compare.TASKS:
        for name in compare.MODELS:
            model = compare.make_model(name, task, n_samples=200, n_features=3)
            assert hasattr(model, "fit") and hasattr(model, "predict")
    # tiny data: grids drop numbers of experts that would leave experts ~empty
    search = compare.make_model("moe", "regression", n_samples=40)
    assert search.param_grid == {"moe__n_experts": [2], "moe__alpha": [0.1, 1.0]}
    # the regression mixtures tune their expert penalty; the classifiers keep theirs
    hme = compare.make_model("hme", "regression", compare.Settings(alphas=(1.0, 3.0)), n_samples=400)
    assert hme.param_grid == {"hme__depth": [1, 2, 3], "hme__alpha": [1.0, 3.0]}
    assert "moe__alpha" not in compare.make_model("moe", "classification", n_samples=400).param_grid
    with pytest.raises(ValueError, match="unknown model 'svm'"):
        compare.make_model("svm", "regression")
    with pytest.raises(ValueError, match="needs n_features"):
        compare.make_model("moe-quad", "regression")
    # beyond 16 features the quadratic experts take the screened features' terms only
    wide = compare.make_model("moe-quad", "regression", n_features=17).estimator
    assert isinstance(wide.named_steps["quad"], compare.quadratic.ScreenedQuadraticFeatures)


def test_quadratic_experts_see_squares_and_the_gate_does_not():
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(400, 2))
    # two regimes split on x0, each quadratic in x1
    y = np.where(X[:, 0] > 0, X[:, 1] ** 2, -(X[:, 1] ** 2) + 1.0) + 0.05 * rng.normal(size=400)
    settings = compare.Settings(moe_experts=(2,), quad_alphas=(0.1,), inner_splits=2)
    quad = compare.make_model("moe-quad", "regression", settings, 400, 2).fit(X, y)
    moe = quad.best_estimator_[-1]
    assert moe.gate_features == [0, 1]
    # the experts use x0, x1 and the three quadratic terms; the gate only x0, x1
    assert np.all(moe.gate_coef_[:, 2:] == 0) and np.any(moe.expert_coef_[..., 2:] != 0)
    linear = compare.make_model("moe", "regression", settings, 400).fit(X, y)
    assert quad.score(X, y) > 0.95 > linear.score(X, y)


def test_spline_model_is_built_for_any_number_of_features():
    settings = compare.Settings(spline_alphas=(0.3, 3.0))
    search = compare.make_model("moe-spline", "classification", settings, n_samples=400, n_features=40)
    assert search.param_grid == {"moe__n_experts": [2, 4, 8], "moe__alpha": [0.3, 3.0]}
    pipe = search.estimator
    assert [name for name, _ in pipe.steps] == ["scale", "spline", "moe"]
    per_feature = compare.models.SPLINE_KNOTS + compare.models.SPLINE_DEGREE - 2
    assert pipe[-1].gate_features == list(range(40))
    assert pipe[-1].expert_features == list(range(40, 40 * (1 + per_feature)))
    X = np.random.default_rng(0).normal(size=(50, 40))
    assert pipe[:-1].fit_transform(X).shape == (50, 40 * (1 + per_feature))
    with pytest.raises(ValueError, match="needs n_features"):
        compare.make_model("moe-spline", "regression")
    with pytest.raises(ValueError, match="spline_alphas must not be empty"):
        compare.Settings(spline_alphas=())


@pytest.mark.parametrize("task", compare.TASKS)
def test_spline_model_fits_and_predicts_beyond_16_features(task):
    # the spline experts take 20 features in their pipeline
    rng = np.random.default_rng(1)
    X = rng.normal(size=(240, 20))
    signal = np.abs(X[:, 0]) - X[:, 1] ** 2 + X[:, 2]
    y = signal + 0.1 * rng.normal(size=240) if task == "regression" else (signal > -0.5).astype(int)
    settings = compare.Settings(moe_experts=(2,), spline_alphas=(1.0,), inner_splits=2, max_iter=30)
    model = compare.make_model("moe-spline", task, settings, 240, 20)
    X_before = X.copy()
    model.fit(X[:160], y[:160])
    np.testing.assert_array_equal(X, X_before)
    pred = model.predict(X[160:])
    assert pred.shape == (80,) and np.all(np.isfinite(pred))
    if task == "classification":
        proba = model.predict_proba(X[160:])
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        assert model.score(X[160:], y[160:]) > 0.8
    else:
        assert model.score(X[160:], y[160:]) > 0.5
    coef = model.best_estimator_[-1].expert_coef_
    # x (20 columns) is the gate's only; the experts use the 60 basis columns
    assert coef.shape[-1] == 80 and np.all(coef[..., :20] == 0) and np.any(coef[..., 20:] != 0)


def test_spline_experts_beat_linear_experts_on_an_additive_curve():
    rng = np.random.default_rng(2)
    X = rng.uniform(-2, 2, size=(600, 3))
    y = np.sin(2 * X[:, 0]) + X[:, 1] ** 2 + 0.1 * rng.normal(size=600)
    settings = compare.Settings(moe_experts=(2,), alphas=(0.1,), spline_alphas=(0.1,), inner_splits=2)
    train, test = slice(0, 400), slice(400, None)
    spline = compare.make_model("moe-spline", "regression", settings, 400, 3).fit(X[train], y[train])
    linear = compare.make_model("moe", "regression", settings, 400).fit(X[train], y[train])
    moe = spline.best_estimator_[-1]
    # the gate sees x only (3 columns), the experts the 9 basis columns only
    assert np.all(moe.gate_coef_[:, 3:] == 0) and np.any(moe.gate_coef_[:, :3] != 0)
    assert np.all(moe.expert_coef_[..., :3] == 0) and np.any(moe.expert_coef_[..., 3:] != 0)
    assert spline.score(X[test], y[test]) > 0.9
    assert spline.score(X[test], y[test]) > linear.score(X[test], y[test]) + 0.1


def test_read_csv_dataset_infers_the_task(tmp_path):
    rows = [[i / 7, i % 3] for i in range(30)]
    path = _write_csv(tmp_path / "c.csv", ["x", "label"], rows)
    data = compare.read_csv_dataset(path, "label")
    assert data.task == "classification" and data.X.shape == (30, 1)
    assert "3 integer values" in data.note
    assert compare.read_csv_dataset(path, "label", task="regression").task == "regression"
    data = compare.read_csv_dataset(path, "x")  # 30 distinct fractions
    assert data.task == "regression" and data.feature_names == ["label"]


def test_subsampling_is_stratified_and_reported():
    data = compare.make_dataset("big", np.arange(300.0)[:, None], np.arange(300) % 3,
                                "classification", max_samples=60)
    assert data.X.shape == (60, 1) and data.n_samples_total == 300 and data.subsampled
    assert np.bincount(data.y).tolist() == [20, 20, 20]
    assert data.note == "a random 60 of 300 rows"


def test_log_loss_tolerates_probabilities_rounded_above_one():
    # exp(log p) can give 1.0000000000000002, which sklearn's log_loss rejects
    proba = np.array([[1.0000000000000002, 0.0], [0.25, 0.75]])
    expected = pytest.approx(-np.log(0.75) / 2, rel=1e-6)
    assert compare.run._clipped_log_loss([0, 1], proba) == expected


def test_lasso_gate_points_only_for_regression_with_many_features():
    grid = compare.make_model("moe", "regression", n_samples=2000, n_features=32).param_grid
    assert grid[0]["moe__l1_ratio"] == [0.0] and grid[0]["moe__gate_alpha"] == [0.1]
    assert grid[1]["moe__l1_ratio"] == [1.0] and grid[1]["moe__gate_alpha"] == [10.0]
    assert grid[1]["moe__n_experts"] == grid[0]["moe__n_experts"] == [2, 4, 8]
    hme = compare.make_model("hme", "regression", n_samples=2000, n_features=17).param_grid
    assert hme[1]["hme__l1_ratio"] == [1.0]
    for model in [compare.make_model("moe", "regression", n_samples=2000, n_features=16),
                  compare.make_model("moe", "classification", n_samples=2000, n_features=32),
                  compare.make_model("moe", "regression", compare.Settings(search="warm"), 2000, 32),
                  compare.make_model("moe", "regression", compare.Settings(sparse_gate_alphas=()),
                                     2000, 32)]:
        assert isinstance(model.param_grid, dict) and "moe__l1_ratio" not in model.param_grid


def test_classification_moe_grid_also_tries_one_expert():
    grid = compare.make_model("moe", "classification", n_samples=2000).param_grid
    assert grid == {"moe__n_experts": [1, 2, 4, 8]}
    off = compare.Settings(classifier_one_expert=False)
    assert compare.make_model("moe", "classification", off, 2000).param_grid == {"moe__n_experts": [2, 4, 8]}
    given = compare.Settings(moe_experts=(4, 1))
    assert compare.make_model("moe", "classification", given, 2000).param_grid == {"moe__n_experts": [1, 4]}
    assert compare.make_model("moe", "regression", n_samples=2000).param_grid["moe__n_experts"] == [2, 4, 8]
    with pytest.raises(TypeError, match="classifier_one_expert must be a bool"):
        compare.Settings(classifier_one_expert="yes")


def test_one_expert_wins_the_inner_search_on_linear_classes():
    # one linear boundary and noisy labels: more experts only fit the noise
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6))
    y = (X @ np.linspace(1, -1, 6) + 1.5 * rng.logistic(size=300) > 0).astype(int)
    settings = compare.Settings(moe_experts=(4,), inner_splits=3, max_iter=50)
    search = compare.make_model("moe", "classification", settings, 300).fit(X, y)
    assert search.best_params_ == {"moe__n_experts": 1}
    moe = search.best_estimator_[-1]
    assert moe.n_experts == 1
    np.testing.assert_allclose(moe.predict_proba(search.best_estimator_[0].transform(X)).sum(axis=1), 1.0)


def test_spline_model_on_one_feature_gets_the_finer_cubic_basis():
    models = compare.models
    n_basis = models.SPLINE_KNOTS_ONE_FEATURE + models.SPLINE_DEGREE_ONE_FEATURE - 2
    pipe = compare.make_model("moe-spline", "regression", n_samples=133, n_features=1).estimator
    assert pipe[-1].gate_features == [0] and pipe[-1].expert_features == list(range(1, 1 + n_basis))
    basis = dict(pipe.named_steps["spline"].transformer_list)["spline"]
    assert (basis.n_knots, basis.degree) == (models.SPLINE_KNOTS_ONE_FEATURE, models.SPLINE_DEGREE_ONE_FEATURE)
    two = compare.make_model("moe-spline", "regression", n_samples=133, n_features=2).estimator
    assert dict(two.named_steps["spline"].transformer_list)["spline"].n_knots == models.SPLINE_KNOTS
    # a curve that swings twice: the finer basis follows it, the 3-knot quadratic one cannot
    rng = np.random.default_rng(3)
    x = np.sort(rng.uniform(0, 1, 300))[:, None]
    y = np.sin(4 * np.pi * x[:, 0]) + 0.2 * rng.normal(size=300)
    settings = compare.Settings(moe_experts=(2,), spline_alphas=(0.1,), inner_splits=2, max_iter=50)
    fine = compare.make_model("moe-spline", "regression", settings, 300, 1).fit(x[::2], y[::2])
    coarse = compare.make_model("moe-spline", "regression", settings, 300, 2)
    coarse.fit(np.hstack([x, 0 * x])[::2], y[::2])
    assert fine.score(x[1::2], y[1::2]) > 0.85 > coarse.score(np.hstack([x, 0 * x])[1::2], y[1::2])


def test_default_models_add_the_spline_mixture_on_one_feature(monkeypatch):
    from mixexp.compare import run as run_module

    assert compare.models.default_models(1) == [*compare.models.DEFAULT_MODELS, "moe-spline"]
    assert compare.models.default_models(2) == list(compare.models.DEFAULT_MODELS)
    # the same rule, on cheap models: what runs by default is decided per dataset
    monkeypatch.setattr(run_module, "default_models", lambda d: ["linear", "cart"] if d == 1 else ["linear"])
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    one = compare.make_dataset("one", X[:, :1], X[:, 0] + rng.normal(size=60), "regression")
    two = compare.make_dataset("two", X, X[:, 1] + rng.normal(size=60), "regression")
    settings = compare.Settings(n_splits=2, n_repeats=1, cart_depths=(2,))
    result = compare.run_comparison([one, two], None, settings, n_jobs=1, progress=False)
    assert [(r["dataset"], r["model"]) for r in result.summary] == [
        ("one", "Linear"), ("one", "CART"), ("two", "Linear")]
    named = compare.run_comparison([one, two], ["linear"], settings, n_jobs=1, progress=False)
    assert [r["dataset"] for r in named.summary] == ["one", "two"]
