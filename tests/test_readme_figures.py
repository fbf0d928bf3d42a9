"""The README's figures that the code decides: the options and models of ``mixexp compare``
it names exist, and it states no counts of tests (they go stale with every test added)."""

import re
from pathlib import Path

from mixexp.__main__ import build_parser
from mixexp.compare import MODELS

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


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


def test_readme_states_no_test_counts():
    counts = re.findall(r"\b\d[\d,]*\s+(?:tests?\b(?! folds?)|passed|skipped|xpassed|expected failures)", README)
    assert not counts, f"the README states test counts, which go stale: {counts}"
