"""The README's figures that the code decides: the options and models of ``mixexp compare``
it names exist, and neither it nor the pages its long sections moved to (docs/tests.md, ...)
state counts of tests (they go stale with every test added)."""

import re
from pathlib import Path

import pytest

from mixexp.__main__ import build_parser
from mixexp.compare import MODELS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
# the README's former sections: Use, The model, Components, Threads, Sparse input, Notebooks,
# Speed, Layout, Tests and the measured comparisons beside `mixexp compare`
MOVED = ["usage", "model", "threads", "notebooks", "speed", "layout", "tests", "benchmarks"]


def _compare_options():
    parser = build_parser()
    compare = parser.parse_args(["compare"]).subparser
    return {flag for p in (parser, compare) for a in p._actions for flag in a.option_strings}


def test_readme_models_are_the_comparisons():
    listed = re.findall(r"`--models ([a-z\- ]+)`", README)
    assert listed, "the README no longer lists --models"
    for names in listed:
        assert names.split() == list(MODELS)


def test_readme_options_exist():
    named = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", README.split("## The main job")[1].split("\n#")[0]))
    assert {"--models", "--quick", "--csv"} <= named
    assert named <= _compare_options(), named - _compare_options()


@pytest.mark.parametrize("page", ["README.md"] + [f"docs/{name}.md" for name in MOVED])
def test_readme_states_no_test_counts(page):
    text = (ROOT / page).read_text(encoding="utf-8")
    counts = re.findall(r"\b\d[\d,]*\s+(?:tests?\b(?! folds?)|passed|skipped|xpassed|expected failures)", text)
    assert not counts, f"{page} states test counts, which go stale: {counts}"


def _markdown_rows(text):
    return [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in text.splitlines() if line.startswith("| ") and "---" not in line]


def test_readme_compare_table_is_the_recorded_run():
    """The README's table is benchmarks/results/compare_default.md's scores, cell for cell
    (best in bold in both), so the two cannot drift apart when one is re-measured."""
    recorded = {}
    for row in _markdown_rows((ROOT / "benchmarks/results/compare_default.md").read_text("utf-8")):
        if len(row) >= 4 and row[0] != "dataset" and "±" in row[3]:
            recorded[row[0], row[2]] = row[3]
    assert recorded, "no score rows in benchmarks/results/compare_default.md"
    section = README.split("## The main job")[1].split("\n## ")[0]
    rows = _markdown_rows(section)
    header = next(r for r in rows if r[0] == "dataset")
    body = [r for r in rows if r[0] != "dataset"]
    assert header[1:] == [name for name in header[1:] if any(m == name for _, m in recorded)]
    assert len(body) == len({d for d, _ in recorded}), "the README's table misses a dataset"
    for row in body:
        dataset = re.split(r"[ ,]", row[0])[0]
        for model, cell in zip(header[1:], row[1:]):
            if cell == "–":  # a model that runs on some data sets only (MoE-spline: one feature)
                assert (dataset, model) not in recorded, (dataset, model, recorded[dataset, model])
                continue
            assert cell == recorded[dataset, model], (dataset, model, cell, recorded.get((dataset, model)))


def test_readme_speed_table_is_the_recorded_run():
    """The README's speed table is the targets table of benchmarks/results/speed.md (its target,
    measured and met? columns), row for row and cell for cell: `benchmarks/speed.py --readme`
    copies it, and a re-measured file without a new copy fails here."""
    recorded = (ROOT / "benchmarks/results/speed.md").read_text("utf-8").split("## Targets\n")[1]
    recorded = [row[:3] for row in _markdown_rows(recorded.split("\n## ")[0])]
    assert recorded[0] == ["target", "measured", "met?"] and len(recorded) > 1
    section = README.split("## Speed\n")[1].split("\n## ")[0]
    assert _markdown_rows(section) == recorded
