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


def test_user_csv_regression_all_models(tmp_path, regression_csv, capsys):
    out = tmp_path / "out"
    code = main(["compare", *FAST, "--csv", regression_csv, "--target", "y", "--out", str(out)])
    assert code == 0
    rows = _read_csv(out / "results.csv")
    assert [r["model"] for r in rows] == list(compare.MODELS.values())
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
            model = compare.make_model(name, task, n_samples=200)
            assert hasattr(model, "fit") and hasattr(model, "predict")
    # tiny data: grids drop numbers of experts that would leave experts ~empty
    search = compare.make_model("moe", "regression", n_samples=40)
    assert search.param_grid == {"moe__n_experts": [2]}
    with pytest.raises(ValueError, match="unknown model 'svm'"):
        compare.make_model("svm", "regression")


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
