"""docs/reference.rst (the site's API reference) lists every public name of every public module."""

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "reference.rst"
MODULES = ["mixexp", "mixexp.inference", "mixexp.metrics", "mixexp.plotting", "mixexp.onnx",
           "mixexp.datasets", "mixexp.gates", "mixexp.experts"]


def documented():
    """Names the page documents: autosummary entries, autodata targets, ``literal`` mentions."""
    text = REFERENCE.read_text()
    entries = re.findall(r"^   ([A-Za-z_][\w.]*)$", text, flags=re.M)
    data = re.findall(r"^\.\. autodata:: (\w+)", text, flags=re.M)
    literals = re.findall(r"``[\w.]*?(\w+)``", text)
    return {name.rsplit(".", 1)[-1] for name in entries + data + literals}


@pytest.mark.skipif(not REFERENCE.exists(), reason="run from a source checkout (docs/ is not installed)")
@pytest.mark.parametrize("module", MODULES)
def test_reference_lists_every_public_name(module):
    missing = sorted(set(importlib.import_module(module).__all__) - documented())
    assert not missing, f"docs/reference.rst does not list {module}'s {missing}"
