"""benchmarks/speed.py's report: benchmarks/results/speed.md is the rendering of its JSON, its one
targets table states every target of issues 16 (still valid) and 30, an unmet target links a
profile that exists, and ``--combine`` keeps each families/observations row's own baseline."""

import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


@pytest.fixture(scope="module")
def speed():
    spec = importlib.util.spec_from_file_location("speed", ROOT / "benchmarks" / "speed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def recorded():
    return json.loads((RESULTS / "speed.json").read_text("utf-8"))


def test_speed_md_is_the_rendering_of_its_json(speed, recorded):
    assert (RESULTS / "speed.md").read_text("utf-8") == speed.render(recorded)


def test_every_target_is_in_the_table(speed, recorded):
    labels = [row[0] for row in speed.targets_table(recorded)]

    def count(pattern):
        return sum(bool(re.search(pattern, label)) for label in labels)

    for target in ("EM iteration ≤ 5× flop limit", "peak memory growth during fit < 3× X", "full fit < 60 s"):
        assert count(re.escape(target)) == 4, target
    assert count(r"predict(_proba)? ≤ 1\.3× its arithmetic floor") == 3
    assert count(r"predict ≤ 1\.5× its arithmetic floor \(regressor, gaussian gate") == 1
    assert count(r"classifier's default fit ≤ 2× the regressor's \(n=10\^6, d=20, K=16\)") == 1
    assert count(r"≥ 100× flexmix's whole fit, log-likelihood at least flexmix's: \(a\) .*n=8000") == 1
    assert count(r"≥ 100× flexmix's whole fit.*\(b\) `stepFlexmix\(nrep = 5\)`, n=10\^[45]") == 2
    for name in ("log-normal", "Weibull", "negative binomial"):
        assert count(rf"EM iteration of {name} ≤ 2× linear \(Gaussian\)'s \(n=10\^6") == 1, name
    assert count(r"EM iteration of (groups|20% right-censored).* ≤ 1\.5× linear.*\(n=10\^6") == 2
    assert count(r"peak memory of a fit ≤ 2× X, every family and observation type \(n=10\^6") == 1
    for target in ("plain-numpy EM", "first-start compile", "no compile", "2 threads beat 1"):
        assert count(target) == 1, target
    assert not count("GEMM pass X @ B"), "issue 16's retired prediction target"


def test_unmet_targets_link_an_existing_profile(speed, recorded):
    rows = speed.targets_table(recorded)
    assert any(met == "**no**" for _, _, met, _ in rows)
    for label, _, met, link in rows:
        if met == "yes":
            assert link == "", label
        else:
            target = re.fullmatch(r"\[([\w.]+)\]\(([\w.]+)\)", link)
            assert target and target[1] == target[2] and (RESULTS / target[2]).is_file(), (label, link)


def _families_run(path, date, rows):
    """A results JSON with a families/observations part whose rows have these (median, ratio)."""
    part = dict(n=10**6, d=10, K=4, x_bytes=8e7, load=1.0,
                rows={name: dict(median=m, ratio=[r] if r else [], median_ratio=r, peak=8e7)
                      for name, (m, r) in rows.items()})
    path.write_text(json.dumps(dict(date=date, commit="c0ffee", N=10**6, families_obs=part)))
    return str(path)


def test_combine_keeps_each_row_with_its_own_runs_baseline(speed, tmp_path):
    a = _families_run(tmp_path / "a.json", "A", {"linear": (0.3, None), "lognormal": (0.33, 1.1)})
    b = _families_run(tmp_path / "b.json", "B", {"linear": (0.1, None), "weibull": (0.5, 5.0)})
    res = speed.combine([a, b])
    rows = res["families_obs"]["rows"]
    assert set(rows) == {"linear", "lognormal", "weibull"} and rows["linear"]["median"] == 0.1
    measured = {row[0]: row[1] for row in speed.families_obs_targets(res["families_obs"])}
    assert measured["EM iteration of log-normal ≤ 2× linear (Gaussian)'s (n=10^6, d=10, K=4)"].startswith(
        "330 ms vs 300 ms: 1.10×")
    assert measured["EM iteration of Weibull ≤ 2× linear (Gaussian)'s (n=10^6, d=10, K=4)"].startswith(
        "500 ms vs 100 ms: 5.00×")
    sources = res["sources"]["families_obs"]
    assert [(s["date"], s["rows"]) for s in sources] == [("A", ["lognormal"]), ("B", ["linear", "weibull"])]
