"""How a pass is cut and run: balanced chunks, the runner's threads, constant sums summed
once, and the batched PSD solves of the experts' M-step."""

import threading

import numpy as np
import pytest

from mixexp import MixtureOfExpertsRegressor
from mixexp._design import Design, design_matrix, weighted_location_scale
from mixexp._engine import EMEngine
from mixexp._numerics.linalg import solve_psd, solve_psd_stack
from mixexp._parallel import Runner, balanced_chunk_slices
from mixexp._tree import Tree
from mixexp.datasets import make_moe_regression
from mixexp.experts import make_experts
from mixexp.gates import make_gate


@pytest.mark.parametrize("chunk_rows", [1, 2, 7, 4096])
def test_balanced_chunks_cover_the_rows_evenly(chunk_rows):
    for n in [0, 1, 2, 3, 6, 7, 9, 50, 4095, 4096, 4097, 8192, 8193, 10_000, 12_289, 66_000]:
        chunks = balanced_chunk_slices(n, chunk_rows)
        sizes = [s.stop - s.start for s in chunks]
        assert [s.start for s in chunks] == [0, *(s.stop for s in chunks[:-1])][: len(chunks)]
        assert sum(sizes) == n and (n == 0 or chunks[-1].stop == n)
        assert len(chunks) == -(-n // chunk_rows) or len(chunks) == -(-n // chunk_rows) - 1
        assert len(chunks) <= 1 or len(chunks) % 2 == 0
        if n:
            assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1
            assert max(sizes) <= -(-3 * chunk_rows // 2)  # 1.5 chunk_rows, rounded up
    assert [s.stop - s.start for s in balanced_chunk_slices(10_000, 4096)] == [5000, 5000]


@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_runner_yields_in_chunk_order_and_uses_the_calling_thread(n_threads):
    caller = threading.get_ident()
    runner = Runner(n_threads)
    try:
        out = list(runner.map(lambda c: (c, threading.get_ident()), range(11)))
    finally:
        runner.close()
    assert [c for c, _ in out] == list(range(11))
    on_caller = [c for c, ident in out if ident == caller]
    assert on_caller == list(range(0, 11, n_threads))


def test_solve_psd_stack_equals_solve_psd_per_matrix():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(4, 50, 6))
    A = np.einsum("kni,knj->kij", Z, Z)
    B = rng.normal(size=(4, 6, 2))
    expected = np.stack([solve_psd(a, b) for a, b in zip(A, B)])
    np.testing.assert_allclose(solve_psd_stack(A, B), expected, rtol=1e-10, atol=1e-12)
    # one singular matrix (a repeated column): every system goes through solve_psd
    Z[2, :, 5] = Z[2, :, 4]
    A = np.einsum("kni,knj->kij", Z, Z)
    B[2] = A[2] @ rng.normal(size=(6, 2))  # in the range of A[2]
    expected = np.stack([solve_psd(a, b) for a, b in zip(A, B)])
    got = solve_psd_stack(A, B)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(A[2] @ got[2], B[2], rtol=1e-7, atol=1e-7)


def _engine_and_design(n=300, K=3):
    X, y = make_moe_regression(n, n_features=4, n_experts=K, noise=0.2, random_state=0)
    sw = np.ones(n)
    params = MixtureOfExpertsRegressor(n_experts=K).get_params()
    tree = Tree(1, K)
    engine = EMEngine(tree, make_gate(tree, params), make_experts("regression", K, params))
    mean, scale = weighted_location_scale(X, sw)
    target, _ = engine.experts.prepare_target(y, sw)
    return engine, Design(design_matrix(X, mean, scale), target, sw, chunk_rows=64)


def test_constant_stats_are_summed_once_per_design():
    engine, design = _engine_and_design()
    C = engine.constant_stats(design)
    assert engine.constant_stats(design) is C
    Xa = design.Xa
    np.testing.assert_allclose(C["root_gram"], Xa.T @ Xa, rtol=1e-12, atol=1e-10)
    half = design.subset(np.arange(0, design.n_rows, 2))
    C_half = engine.constant_stats(half)
    assert C_half is not C
    np.testing.assert_allclose(C_half["root_gram"], half.Xa.T @ half.Xa, rtol=1e-12, atol=1e-10)
    assert engine.constant_stats(half) is C_half


def test_start_rows_grow_with_the_free_parameters():
    from mixexp._init import START_MAX_ROWS, START_MIN_ROWS, START_ROWS_PER_PARAM, start_rows

    assert start_rows(500, 10) == 500  # few rows: all of them
    assert start_rows(10**6, 10) == START_MIN_ROWS
    assert start_rows(10**6, 1000) == START_ROWS_PER_PARAM * 1000
    assert start_rows(10**7, 10**5) == START_MAX_ROWS
    assert start_rows(20_000, 1000) == 20_000


@pytest.mark.parametrize("kind", ["linear", "ridge", "hme"])
def test_the_start_works_on_a_subsample_and_em_on_all_rows(monkeypatch, kind):
    """5000 rows, a mixture with few parameters: the start (k-means, short runs, a tree's
    flat mixture) sees START_MIN_ROWS rows drawn at random, the final EM all of them."""
    from sklearn.linear_model import Ridge

    from mixexp import HierarchicalMixtureOfExpertsRegressor
    from mixexp._init import START_MIN_ROWS

    X, y = make_moe_regression(5000, n_features=2, n_experts=2, noise=0.3, random_state=0)
    seen = []
    run = EMEngine.run

    def recording_run(self, params, design, *args, **kwargs):
        seen.append(design.n_rows)
        return run(self, params, design, *args, **kwargs)

    monkeypatch.setattr(EMEngine, "run", recording_run)
    if kind == "hme":
        model = HierarchicalMixtureOfExpertsRegressor(depth=2, branching=2, random_state=0)
    else:
        model = MixtureOfExpertsRegressor(2, expert=Ridge(alpha=1e-6) if kind == "ridge" else "linear", random_state=0)
    model.fit(X, y)
    assert seen[-1] == 5000 and set(seen[:-1]) == {START_MIN_ROWS}
    assert model.score(X, y) > 0.8


def test_the_start_skips_rows_of_zero_weight():
    """6000 rows of which 20 carry weight: the start works on those 20 (a subsample of all
    rows could hold none of them), and the fit is the fit of the 20 rows alone."""
    X, y = make_moe_regression(6000, n_features=2, n_experts=2, noise=0.3, random_state=0)
    sw = np.zeros(6000)
    sw[::300] = 1.0
    kw = dict(n_experts=2, random_state=0, tol=1e-8)
    weighted = MixtureOfExpertsRegressor(**kw).fit(X, y, sample_weight=sw)
    alone = MixtureOfExpertsRegressor(**kw).fit(X[::300], y[::300])
    np.testing.assert_allclose(weighted.predict(X), alone.predict(X), rtol=0, atol=1e-6)
    assert weighted.lower_bound_ == pytest.approx(alone.lower_bound_, abs=1e-8)


def test_fewer_weighted_rows_than_experts_still_start():
    """One row of two carries weight: k-means on the weighted rows gets fewer rows than
    clusters and gives each row its own (the other experts start empty and stay frozen)."""
    import warnings

    from mixexp import FrozenExpertWarning

    X, y = np.array([[1.76], [0.40]]), np.array([2.24, -2.87])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FrozenExpertWarning)
        model = MixtureOfExpertsRegressor(2, init_params="kmeans", random_state=0).fit(X, y, sample_weight=[0.0, 1.2])
    assert np.all(np.isfinite(model.predict(X)))
