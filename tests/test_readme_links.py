"""The README links to every user guide page (docs/*.md) by relative path, and the relative
links of the README and of the docs pages point at files that exist."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md"] + sorted(DOCS.glob("*.md"))


def _relative_links(text):
    """Targets of the Markdown links ``[...](target)`` that are paths, without their anchors."""
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    return [t.split("#")[0] for t in targets if not t.startswith(("http:", "https:", "#", "mailto:"))]


def test_readme_links_every_docs_page():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    documentation = text.split("\n## Documentation\n")[1].split("\n## ")[0]
    linked = set(_relative_links(documentation))
    missing = sorted(f"docs/{p.name}" for p in DOCS.glob("*.md") if f"docs/{p.name}" not in linked)
    assert not missing, f"README's Documentation does not link {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    broken = [t for t in _relative_links(page.read_text(encoding="utf-8"))
              if not (page.parent / t).exists()]
    assert not broken, f"{page.relative_to(ROOT)} links to missing files: {broken}"
