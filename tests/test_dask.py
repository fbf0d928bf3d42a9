"""Distributed EM on dask: the fit on a LocalCluster (2 worker processes) equals the in-memory fit."""

import copy
import subprocess
import sys

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import Ridge

from mixexp import (
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsRegressor,
)
from mixexp.datasets import make_moe_classification, make_moe_regression

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

pytestmark = [
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    # one pytest-xdist worker runs this module, so its tests share one LocalCluster
    pytest.mark.xdist_group("dask"),
]


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as c:
            yield c


CASES = [
    (MixtureOfExpertsRegressor(3), make_moe_regression, 3),
    (MixtureOfExpertsClassifier(3), make_moe_classification, 3),
    (HierarchicalMixtureOfExpertsRegressor(2, 2), make_moe_regression, 4),
]


def _data(make, n_experts, n=3000):
    X, y = make(n_samples=n, n_experts=n_experts, random_state=0)
    sw = np.random.RandomState(1).uniform(0.5, 2.0, size=n)
    return X, y, sw


def _assert_same_fit(a, b, tol=1e-8):
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=0, atol=tol)
    for name in ("x_mean_", "x_scale_", "gate_coef_", "gate_intercept_", "expert_coef_", "expert_intercept_"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=0, atol=tol, err_msg=name)
    if hasattr(a, "noise_variance_"):
        np.testing.assert_allclose(a.noise_variance_, b.noise_variance_, rtol=tol, err_msg="noise_variance_")


@pytest.mark.parametrize("model, make, n_experts", CASES, ids=["moe-reg", "moe-clf", "hme-reg"])
@pytest.mark.slow  # a 2-process LocalCluster, whose workers compile the kernels
def test_dask_fit_equals_in_memory_fit(client, model, make, n_experts):
    """Fewer rows than INIT_ROWS: the same start; 12 EM iterations over 5 blocks on 2 processes."""
    X, y, sw = _data(make, n_experts)
    model = clone(model).set_params(max_iter=12, tol=0.0, random_state=0)
    memory = clone(model).fit(X, y, sample_weight=sw)
    Xd, yd, swd = (da.from_array(a, chunks=700) for a in (X, y, sw))
    dask_fit = clone(model).fit(Xd, yd, sample_weight=swd)
    assert dask_fit.n_iter_ == memory.n_iter_ == 12
    _assert_same_fit(dask_fit, memory)
    np.testing.assert_allclose(dask_fit.log_likelihood(X, y), memory.log_likelihood(X, y), atol=1e-8)


@pytest.mark.slow  # the LocalCluster
def test_dask_fit_from_a_given_model(client):
    """warm_start: EM on the blocks continues a given model exactly as in memory."""
    X, y, sw = _data(make_moe_classification, 3)
    start = MixtureOfExpertsClassifier(3, max_iter=2, random_state=0).fit(X, y, sample_weight=sw)
    memory = copy.deepcopy(start).set_params(warm_start=True, max_iter=10, tol=0.0)
    memory.fit(X, y, sample_weight=sw)
    dask_fit = copy.deepcopy(start).set_params(warm_start=True, max_iter=10, tol=0.0)
    dask_fit.fit(da.from_array(X, chunks=1000), da.from_array(y, chunks=1000), sample_weight=sw)
    assert dask_fit.n_iter_ == memory.n_iter_ == 10
    _assert_same_fit(dask_fit, memory)


@pytest.mark.slow  # the LocalCluster
def test_dask_fit_starts_from_the_in_memory_start(client, monkeypatch):
    """More rows than INIT_ROWS and than the start's rows: the start draws the in-memory
    fit's rows from all rows (not from the sample), so the fit is the in-memory fit."""
    import mixexp.dask

    monkeypatch.setattr(mixexp.dask, "INIT_ROWS", 500)
    X, y, _ = _data(make_moe_regression, 3, n=4000)
    model = MixtureOfExpertsRegressor(3, random_state=0, max_iter=30)
    fitted = model.fit(da.from_array(X, chunks=1000), da.from_array(y, chunks=1000))
    assert np.min(np.diff(fitted.lower_bounds_)) >= -1e-10
    memory = clone(model).fit(X, y)
    assert fitted.n_iter_ == memory.n_iter_
    _assert_same_fit(fitted, memory)
    np.testing.assert_allclose(fitted.predict(X), memory.predict(X), rtol=0, atol=1e-8 * y.std())


START_CASES = {
    "kmeans": (MixtureOfExpertsRegressor(3, init_params="kmeans"), make_moe_regression, 3),
    "short-em-n-init-2": (MixtureOfExpertsRegressor(3, n_init=2), make_moe_regression, 3),
    "hme": (HierarchicalMixtureOfExpertsRegressor(2, 2, init_params="random"), make_moe_regression, 4),
    "classifier": (MixtureOfExpertsClassifier(3, init_params="kmeans"), make_moe_classification, 3),
}


@pytest.mark.parametrize("case", sorted(START_CASES))
def test_dask_start_draws_the_in_memory_start_rows(case, monkeypatch):
    """Issue 30, item 5: 4000 rows, some of zero weight, of which the start works on 3000
    (``mixexp._init.start_rows``) and the dask sample holds 500: the dask fit draws the
    start's rows over all rows from the same random state (an instance, which both fits
    consume alike; each of ``n_init`` starts draws anew), so it is the in-memory fit."""
    import dask

    import mixexp.dask

    monkeypatch.setattr(mixexp.dask, "INIT_ROWS", 500)
    model, make, n_experts = START_CASES[case]
    X, y, sw = _data(make, n_experts, n=4000)
    sw[::7] = 0.0
    model = clone(model).set_params(max_iter=8, tol=0.0)
    memory = clone(model).set_params(random_state=np.random.RandomState(0)).fit(X, y, sample_weight=sw)
    with dask.config.set(scheduler="synchronous"):
        Xd, yd, swd = (da.from_array(a, chunks=900) for a in (X, y, sw))
        fitted = clone(model).set_params(random_state=np.random.RandomState(0)).fit(Xd, yd, sample_weight=swd)
    assert fitted.n_iter_ == memory.n_iter_ == 8
    _assert_same_fit(fitted, memory)
    if isinstance(memory, MixtureOfExpertsClassifier):
        np.testing.assert_allclose(fitted.predict_proba(X), memory.predict_proba(X), rtol=0, atol=1e-8)
    else:  # prediction clips to the targets' range of all rows, as in memory
        np.testing.assert_allclose(fitted._fitted.target_range, memory._fitted.target_range, rtol=1e-12)
        np.testing.assert_allclose(fitted.predict(X), memory.predict(X), rtol=0, atol=1e-8 * y.std())


def test_dask_fit_errors():
    X, y, _ = _data(make_moe_regression, 2, n=400)
    Xd, yd = da.from_array(X, chunks=100), da.from_array(y, chunks=100)
    model = MixtureOfExpertsRegressor(2, random_state=0)
    with pytest.raises(ValueError, match="expert='linear'"):
        clone(model).set_params(expert=Ridge()).fit(Xd, yd)
    bad = X.copy()
    bad[5, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        clone(model).fit(da.from_array(bad, chunks=100), yd)
    with pytest.raises(ValueError, match="rows"):
        clone(model).fit(Xd, yd[:-1])
    assert not hasattr(model, "n_features_in_")


def test_import_mixexp_does_not_import_dask():
    code = "import sys, mixexp; mixexp.MixtureOfExpertsRegressor(); assert 'dask' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow  # a LocalCluster of its own, one of whose workers dies
def test_dask_fit_survives_the_loss_of_a_worker(monkeypatch):
    """Issue 30, item 4: a worker process killed during an EM pass; its nanny restarts it,
    dask recomputes the lost blocks, and the fit equals the in-memory fit."""
    import os
    import threading

    import mixexp.dask

    X, y, sw = _data(make_moe_regression, 3)
    model = MixtureOfExpertsRegressor(3, max_iter=12, tol=0.0, random_state=0)
    memory = clone(model).fit(X, y, sample_weight=sw)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as c:
        original, calls, killed = mixexp.dask.DaskRows.map_sum, [], []

        def kill_one_worker():
            victim = sorted(c.scheduler_info()["workers"])[0]
            try:
                c.run(os._exit, 1, workers=[victim])
            except Exception:  # the worker dies before it answers
                pass
            killed.append(victim)

        def map_sum(self, *args, **kwargs):
            calls.append(1)
            if len(calls) == 6:  # mid-fit: the kill lands while the pass runs
                threading.Timer(0.05, kill_one_worker).start()
            return original(self, *args, **kwargs)

        monkeypatch.setattr(mixexp.dask.DaskRows, "map_sum", map_sum)
        Xd, yd, swd = (da.from_array(a, chunks=300) for a in (X, y, sw))
        faulted = clone(model).fit(Xd, yd, sample_weight=swd)
        assert killed and killed[0] not in c.scheduler_info()["workers"]  # that process died
    assert faulted.n_iter_ == memory.n_iter_ == 12
    _assert_same_fit(faulted, memory)


# -- grouped rows (panel data): blocks of whole groups ---------------------------------


def _panel(n_groups=120, rows=5, seed=1):
    rs = np.random.RandomState(seed)
    c = rs.normal(size=n_groups)
    z = (c + 0.8 * rs.normal(size=n_groups) > 0).astype(int)
    g = np.repeat(np.arange(n_groups), rows)
    x = rs.normal(size=g.shape[0])
    y = np.array([1.0, -1.0])[z[g]] * x + 0.7 * rs.normal(size=g.shape[0])
    return np.column_stack([x, c[g]]), y, g


def test_grouped_dask_fit_equals_the_in_memory_fit():
    import dask

    X, y, g = _panel()
    sw = np.random.RandomState(2).uniform(0.5, 2.0, y.shape[0])
    # a k-means start: the default start of so few rows runs its best starts to convergence,
    # after which 15 iterations at tol=0 stop wherever a gain rounds to zero, which differs
    # with the order of the sums; the path to compare is EM's, from one start
    kw = dict(gate_features=[1], random_state=0, max_iter=15, tol=0.0, init_params="kmeans")
    memory = MixtureOfExpertsRegressor(2, **kw).fit(X, y, sw, groups=g)
    # blocks of 250 rows hold whole groups of 5; blocks of 333 rows cut groups, which are
    # consecutive: the fit cuts the blocks anew at the groups' first rows
    shuffled = np.concatenate([np.random.RandomState(b).permutation(np.arange(b, b + 200))
                               for b in (0, 200, 400)])
    with dask.config.set(scheduler="synchronous"):
        for rows, chunk, labels in ((shuffled, 200, g), (np.arange(600), 333, da.from_array(g, chunks=100))):
            Xd, yd = da.from_array(X[rows], chunks=(chunk, 2)), da.from_array(y[rows], chunks=chunk)
            labels = labels[rows] if isinstance(labels, np.ndarray) else labels
            fitted = MixtureOfExpertsRegressor(2, **kw).fit(Xd, yd, sw[rows], groups=labels)
            _assert_same_fit(fitted, memory, tol=1e-10)


def test_grouped_dask_fit_from_a_sample_of_whole_groups(monkeypatch):
    import dask

    import mixexp.dask as mdask

    monkeypatch.setattr(mdask, "INIT_ROWS", 300)  # the start: whole groups, about 300 rows
    X, y, g = _panel(300, 4)
    est = MixtureOfExpertsRegressor(2, gate_features=[1], random_state=0, max_iter=30)
    with dask.config.set(scheduler="synchronous"):
        est.fit(da.from_array(X, chunks=(400, 2)), da.from_array(y, chunks=400), groups=g)
    assert np.all(np.diff(est.lower_bounds_) >= -1e-12)  # EM on all blocks never decreases
    # the last bound is the penalised grouped log-likelihood of all rows, per row
    state = est._fitted
    penalised = est.log_likelihood(X, y, groups=g).sum() - state.engine().penalty(state.params)
    assert est.lower_bound_ == pytest.approx(penalised / y.shape[0], abs=1e-10)


def test_grouped_dask_fit_refuses_groups_it_cannot_cut():
    import dask

    X, y, g = _panel(60, 5)
    perm = np.random.RandomState(0).permutation(y.shape[0])
    est = MixtureOfExpertsRegressor(2, gate_features=[1], random_state=0, max_iter=5)
    with dask.config.set(scheduler="synchronous"):
        est.fit(X, y, groups=g)
        before = dict(est.__dict__)
        Xd, yd = da.from_array(X, chunks=(100, 2)), da.from_array(y, chunks=100)
        with pytest.raises(ValueError, match="Sort the rows by group"):
            est.fit(Xd[perm], yd[perm], groups=g[perm])
        with pytest.raises(ValueError, match="groups has 299 rows"):
            est.fit(Xd, yd, groups=g[:-1])
        with pytest.raises(ValueError, match="vary within a group"):
            est.set_params(gate_features=[0]).fit(Xd, yd, groups=g)
    assert est.__dict__.keys() == before.keys() and est._fitted is before["_fitted"]
def test_prediction_takes_dask_arrays():
    """docs/api.md: prediction brings a dask X into memory (numpy results, equal to numpy X's),
    and map_blocks predicts block by block; the synchronous scheduler, no cluster."""
    import dask

    X, y = make_moe_regression(n_samples=400, n_features=3, n_experts=2, random_state=0)
    Xc, yc = make_moe_classification(n_samples=400, n_features=3, n_experts=2, n_classes=3, random_state=0)
    reg = MixtureOfExpertsRegressor(2, max_iter=20, random_state=0).fit(X, y)
    clf = MixtureOfExpertsClassifier(2, max_iter=20, random_state=0).fit(Xc, yc)
    Xd, Xcd = da.from_array(X, chunks=(150, 3)), da.from_array(Xc, chunks=(150, 3))
    with dask.config.set(scheduler="synchronous"):
        for got, want in [
            (reg.predict(Xd), reg.predict(X)),
            (reg.predict(Xd, return_std=True)[1], reg.predict(X, return_std=True)[1]),
            (reg.predict_gate(Xd), reg.predict_gate(X)),
            (clf.predict_proba(Xcd), clf.predict_proba(Xc)),
        ]:
            assert isinstance(got, np.ndarray)
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        blocks = Xd.map_blocks(reg.predict, drop_axis=1, dtype=np.float64).compute()
    np.testing.assert_allclose(blocks, reg.predict(X), rtol=1e-12, atol=1e-12)
