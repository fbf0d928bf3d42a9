"""docs/api.md's copy of ``mixexp compare --help`` is the parser's, as docs/tools/cli_help.py writes it."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "docs" / "tools" / "cli_help.py"


def _script():
    spec = importlib.util.spec_from_file_location("cli_help", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not SCRIPT.exists(), reason="run from a source checkout (docs/ is not installed)")
def test_api_page_shows_the_current_compare_help():
    module = _script()
    # argparse's line wrapping differs between Python versions: compare the words
    assert module.documented().split() == module.help_text().split(), (
        "docs/api.md's `mixexp compare --help` block is stale: python docs/tools/cli_help.py"
    )

