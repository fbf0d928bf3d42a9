"""The ``python`` blocks of the README and docs/usage.md run as written, and docs/api.md matches the code.

Every fenced block of README.md and docs/usage.md (the README's former "Use" section)
marked ```` ```python ```` is executed in a fresh namespace, in a temporary working
directory (blocks that use dask are skipped when dask is absent; it is in the ``test``
extra); a block both pages print runs once.  docs/api.md must name every
public name of ``mixexp.__all__``, ``mixexp.metrics.__all__`` and
``mixexp.datasets.__all__``, print every public class's constructor signature
exactly as ``inspect.signature`` gives it, and print the signature of every
public method and function, so that the reference cannot drift from the code.
"""

import inspect
import re
import warnings
from pathlib import Path

import pytest

import mixexp
import mixexp.datasets
import mixexp.metrics
import mixexp.plotting

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
USAGE = ROOT / "docs" / "usage.md"
API = ROOT / "docs" / "api.md"

# public methods whose signatures docs/api.md prints (scikit-learn's own
# get_params/set_params/set_*_request are not repeated there)
METHODS = [
    "fit", "partial_fit", "predict", "predict_proba", "predict_log_proba", "predict_gate",
    "predict_node_gates", "predict_experts", "responsibilities", "log_likelihood",
    "score_samples", "score", "bic", "aic", "icl", "summary", "sample_y",
    "predict_cdf", "predict_quantile", "predict_cte", "predict_limited_mean",
]


def python_blocks(text):
    """The contents of the fenced ```python blocks of a Markdown text."""
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


PAGES = {"README.md": README, "docs/usage.md": USAGE}
PAGE_BLOCKS = {name: python_blocks(path.read_text(encoding="utf-8")) for name, path in PAGES.items()}


def _unique_blocks():
    """(label, code) of every block of the pages, each distinct code once."""
    seen, blocks = set(), []
    for name, codes in PAGE_BLOCKS.items():
        for index, code in enumerate(codes):
            if code not in seen:
                seen.add(code)
                blocks.append((f"{name} python block {index}", code))
    return blocks


BLOCKS = _unique_blocks()


def test_readme_has_python_blocks():
    # the README keeps one example; the others moved to docs/usage.md
    assert len(PAGE_BLOCKS["README.md"]) >= 1
    assert len(PAGE_BLOCKS["docs/usage.md"]) >= 5


@pytest.mark.parametrize("label, code", BLOCKS, ids=[label for label, _ in BLOCKS])
def test_readme_block_runs(label, code, tmp_path, monkeypatch):
    if re.search(r"^\s*(import|from) (dask|distributed)\b", code, flags=re.M):
        pytest.importorskip("dask.array")
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. ConvergenceWarning of a short example
        exec(compile(code, label, "exec"), {"__name__": "__readme__"})


def _api_text():
    return API.read_text(encoding="utf-8")


def _normalise(sig):
    """A signature without line breaks and alignment: one space after each comma."""
    sig = re.sub(r"\s+", " ", sig.strip())
    sig = re.sub(r"\(\s+", "(", sig)
    sig = re.sub(r",?\s*\)$", ")", sig)
    return sig


def _public_classes():
    return [
        getattr(mixexp, name) for name in mixexp.__all__
        if isinstance(getattr(mixexp, name), type) and not issubclass(getattr(mixexp, name), Warning)
    ]


@pytest.mark.parametrize(
    "module", [mixexp, mixexp.metrics, mixexp.datasets, mixexp.plotting], ids=lambda m: m.__name__
)
def test_api_names_every_public_name(module):
    text = _api_text()
    missing = [name for name in module.__all__ if f"`{name}" not in text and f"{name}(" not in text]
    assert not missing, f"docs/api.md does not mention {missing}"


@pytest.mark.parametrize("cls", _public_classes(), ids=lambda c: c.__name__)
def test_api_constructor_signature(cls):
    """The constructor printed in docs/api.md is the code's, defaults included."""
    text = _api_text()
    printed = [
        _normalise(m.group(0)[len(cls.__name__):])
        for m in re.finditer(rf"(?<![\w.]){cls.__name__}\([^()]*\)", text)
        if "=" in m.group(0) or "estimator" in m.group(0)
    ]
    expected = _normalise(str(inspect.signature(cls)))
    assert printed, f"docs/api.md prints no signature of {cls.__name__}"
    assert expected in printed, f"{cls.__name__}{expected} not in docs/api.md (found {printed})"


def _method_signature(cls, name):
    sig = inspect.signature(getattr(cls, name))
    params = [p for p in sig.parameters.values() if p.name != "self"]
    return f"{name}{sig.replace(parameters=params)}"


@pytest.mark.parametrize("cls", _public_classes(), ids=lambda c: c.__name__)
def test_api_method_signatures(cls):
    text = re.sub(r"\s+", " ", _api_text())
    missing = [
        _method_signature(cls, name) for name in METHODS
        if hasattr(cls, name) and _method_signature(cls, name) not in text
    ]
    assert not missing, f"docs/api.md does not print {cls.__name__}'s {missing}"


@pytest.mark.parametrize(
    "module", [mixexp.metrics, mixexp.datasets, mixexp.plotting], ids=lambda m: m.__name__
)
def test_api_function_signatures(module):
    text = re.sub(r"\s+", " ", _api_text())
    missing = [
        f"{name}{inspect.signature(getattr(module, name))}" for name in module.__all__
        if f"{name}{inspect.signature(getattr(module, name))}" not in text
    ]
    assert not missing, f"docs/api.md does not print {missing}"
