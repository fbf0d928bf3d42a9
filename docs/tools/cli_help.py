"""Write the ``mixexp compare --help`` text into docs/api.md from the parser itself.

    python docs/tools/cli_help.py          # rewrite the block in docs/api.md
    python docs/tools/cli_help.py --check  # exit 1 if the block is stale

The block is the fenced code block that follows the line ending in
"`mixexp compare --help`:" in docs/api.md. tests/test_docs_cli_help.py checks that it
equals :func:`help_text`, so the page cannot drift from the command line.
"""

import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "api.md"
#: the line before the block, and the block itself
BLOCK = re.compile(r"(`mixexp compare --help`:\n\n```\n)(.*?)(```\n)", re.S)
#: argparse wraps to the terminal's width; the page is written at this one
COLUMNS = 100


def help_text():
    """``mixexp compare --help`` as argparse prints it at :data:`COLUMNS` columns."""
    sys.path.insert(0, str(ROOT))
    from mixexp.__main__ import build_parser

    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(COLUMNS)
    try:
        # the compare subcommand's parser (it sets itself as the ``subparser`` default)
        return build_parser().parse_args(["compare"]).subparser.format_help()
    finally:
        if before is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = before


def documented(text=None):
    """The help text docs/api.md shows."""
    match = BLOCK.search(PAGE.read_text() if text is None else text)
    if match is None:
        raise ValueError(f"{PAGE}: no fenced block after \"`mixexp compare --help`:\"")
    return match.group(2)


def rewrite():
    text = PAGE.read_text()
    documented(text)
    PAGE.write_text(BLOCK.sub(lambda m: m.group(1) + help_text() + m.group(3), text, count=1))


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        sys.exit(0 if documented() == help_text() else 1)
    rewrite()
