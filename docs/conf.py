"""Sphinx configuration of mixexp's documentation site.

Build (from the repository root, with the docs extra installed)::

    pip install ".[docs]"
    sphinx-build -W -b html docs docs/_build/html

The user guide is the Markdown pages docs/*.md as they are (read by myst-parser); the
API reference is generated from the docstrings (autosummary, numpydoc); the gallery
executes examples/*.py (sphinx-gallery).
"""

import os
import sys
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# document the checkout's mixexp, not another installed copy
sys.path.insert(0, str(ROOT))

import mixexp  # noqa: E402

project = "mixexp"
author = "the mixexp developers"
copyright = f"{time.gmtime().tm_year}, {author}"
version = release = mixexp.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "tools", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.json", "auto_examples/*.md5"]

# The Markdown pages are written to be read on the repository's web view too: their
# links to files outside docs/ (benchmarks/results/*.md, tests/*.py, the README) and
# their section anchors are plain relative links that Sphinx cannot resolve.
suppress_warnings = ["myst.xref_missing", "myst.header"]
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3

# autodoc / autosummary / numpydoc
autosummary_generate = True
autodoc_default_options = {"members": True}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False


def _skip_member(app, what, name, obj, skip, options):
    # scikit-learn's generated metadata-routing setters (set_fit_request, ...)
    if name == "get_metadata_routing" or name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def _flags_as_attributes(app, what, name, obj, options, lines):
    # The component base classes declare their flags in a "Flags (class attributes)"
    # section, which docs/tools/contract_page.py reads, and ExpertFamily in "Class
    # attributes"; numpydoc knows no such sections and would drop them, so the site shows
    # them as the class's Attributes.
    if any(line.strip() == "Attributes" for line in lines):
        return
    for i, line in enumerate(lines[:-1]):
        if line.strip() in ("Flags (class attributes)", "Class attributes") \
                and set(lines[i + 1].strip()) == {"-"}:
            indent = line[: len(line) - len(line.lstrip())]
            lines[i], lines[i + 1] = indent + "Attributes", indent + "----------"


# gallery
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "abort_on_example_error": True,
    "show_memory": False,
    "min_reported_time": 1,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    # "Examples using X" on each reference page
    "doc_module": ("mixexp",),
    "backreferences_dir": "generated/backreferences",
}
os.environ.setdefault("MPLBACKEND", "agg")

# HTML
html_theme = "pydata_sphinx_theme"
html_title = f"mixexp {release}"
html_static_path = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 6,
}
html_show_sourcelink = False

# The user guide's toctree is every docs/*.md page, in this order first, then any page
# not listed (in name order): a page added to docs/ joins the site without an edit here.
GUIDE_ORDER = [
    "usage", "model", "families", "risk", "multiresponse", "censoring", "panel", "missing",
    "algorithms", "inference", "specialization", "scale", "threads", "speed", "robustness",
    "deploy", "user_family", "contract", "api", "benchmarks", "notebooks", "tests", "layout",
]


def guide_pages():
    """The user guide's docnames: GUIDE_ORDER's pages that exist, then the others."""
    present = sorted(p.stem for p in DOCS.glob("*.md"))
    return [n for n in GUIDE_ORDER if n in present] + [n for n in present if n not in GUIDE_ORDER]


def _fill_guide(app, docname, source):
    if docname == "user_guide":
        entries = "\n".join(f"   {name}" for name in guide_pages())
        source[0] = source[0].replace("   .. GUIDE PAGES ..", entries)


def setup(app):
    app.connect("source-read", _fill_guide)
    app.connect("autodoc-skip-member", _skip_member)
    # before numpydoc's own handler (priority 500)
    app.connect("autodoc-process-docstring", _flags_as_attributes, priority=100)
