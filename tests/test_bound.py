"""The learned length of the softmax bound steps (mixexp._numerics.bound)."""

import numpy as np

from mixexp._numerics.bound import _MAX_GROWTH, MAX_SCALE, blocks_update, init_step_state


def _block(seed=0, k=3, p=4):
    rs = np.random.RandomState(seed)
    A = rs.randn(50, p)
    gram = (A.T @ A)[None]
    grad = rs.randn(1, k, p)
    return np.zeros((1, k, p)), grad, gram


def _state_after_long_step(grad, scale, curvature):
    """The state after a step of ``scale`` bound lengths along ``-grad``, whose slope at its
    end (from ``grad``) is ``1 - curvature`` times the slope at its start."""
    state = init_step_state(1, *grad.shape[1:])
    state["scale"][0] = scale
    state["step"][0] = -grad[0]
    slope1 = float(np.sum(grad * grad))
    state["slope"][0] = slope1 / (1.0 - curvature)
    return state


def test_a_rejected_length_is_capped_not_restarted_from_one():
    coef, grad, gram = _block()
    # the secant asks for far more than 4x the last length 64: the step takes 4x
    state = _state_after_long_step(grad, 64.0, curvature=0.01)
    _, tried, extrapolated = blocks_update(coef, grad, gram, 0.0, state, [0])
    assert extrapolated and tried["scale"][0] == _MAX_GROWTH * 64.0
    # the engine rejected it: the safe step is the bound's own, and remembers half of it
    safe, after, extrapolated = blocks_update(coef, grad, gram, 0.0, state, [0], safe=True)
    assert not extrapolated and after["scale"][0] == 1.0
    assert after["limit"][0] == _MAX_GROWTH * 64.0 / 2.0
    delta = -np.linalg.solve(0.5 * gram[0] + 1e-300, grad[0].T).T
    np.testing.assert_allclose(safe[0], delta, rtol=1e-6)
    # the next pass: its secant along the unit step asks for 100 lengths; the step takes
    # them at once (before, the growth from 1 stopped at 4), never beyond the cap
    nearly_flat = 0.99 * grad
    _, nxt, extrapolated = blocks_update(safe, nearly_flat, gram, 0.0, after, [0])
    assert extrapolated
    np.testing.assert_allclose(nxt["scale"][0], 100.0, rtol=1e-6)
    _, capped, _ = blocks_update(safe, 0.999 * grad, gram, 0.0, after, [0])  # asks for 1000
    assert capped["scale"][0] == after["limit"][0]
    # the cap loosens with every step taken
    assert capped["limit"][0] > after["limit"][0]


def test_without_a_rejection_growth_is_limited_per_step():
    coef, grad, gram = _block(1)
    state = _state_after_long_step(grad, 1.0, curvature=0.0)
    lengths = []
    for _ in range(7):
        coef, state, _ = blocks_update(coef, grad, gram, 0.0, state, [0])
        lengths.append(state["scale"][0])
        # keep the slope along the last step as it was: no curvature seen
        state["step"][0] = -grad[0] * state["scale"][0]
        state["slope"][0] = float(np.sum(grad * grad)) * state["scale"][0]
    assert lengths == [min(MAX_SCALE, _MAX_GROWTH ** (i + 1)) for i in range(7)]
    assert np.all(state["limit"] == 0.0)


def test_a_safe_step_after_a_safe_length_sets_no_cap():
    coef, grad, gram = _block(2)
    state = _state_after_long_step(grad, 1.0, curvature=0.9)  # secant: about 1.1 lengths
    _, after, _ = blocks_update(coef, grad, gram, 0.0, state, [0], safe=True)
    assert after["scale"][0] == 1.0 and after["limit"][0] == 0.0
