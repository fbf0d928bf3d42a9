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
