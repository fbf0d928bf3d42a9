"""Online EM: running row statistics, blended batch by batch (Cappé & Moulines 2009).

EM's M-step needs only sums over rows.  Online EM keeps them as running
averages per unit of sample weight: for the ``t``-th batch, with step size
``gamma_t = (learning_offset + t) ** -learning_decay`` (``gamma_1 = 1``),

    S <- (1 - gamma_t) S + gamma_t S_batch / w_batch,

where ``S_batch`` are the components' ``stats`` of the batch (its E-step at
the current parameters) and ``w_batch`` its total weight.  The M-step is the
components' own ``update``, from the running sums scaled to the total weight
seen so far, ``n_seen * S``: the penalties then weigh against the data as in
a batch fit of all the rows seen.  With ``decay`` in (0.5, 1] the steps
satisfy Robbins-Monro's conditions.

Closed-form components (Gaussian experts, the Gaussian gate) are exactly
Cappé & Moulines's algorithm.  Components whose M-step is one bound step
from a gradient and a Gram matrix (the softmax gate, multinomial experts)
take the bound's step (``t = 1``) from the running gradient and the running
Gram matrix.  The running gradient averages gradients taken at the recent
parameters, so the step carries momentum: in the bound's metric it is the
heavy-ball method with learning rate ``gamma_t`` and momentum
``1 - gamma_t``, which is stable for any step size in (0, 1] and moves, on
average, by whole bound steps.  The longer steps that batch EM learns
across iterations are not taken: batch EM checks its objective after each
one and falls back to the bound's step, a check a stream does not allow.

Estimator experts learn by their own ``partial_fit`` on each batch, with the
posteriors as sample weights (``partial_update`` of the expert family).
"""

from dataclasses import dataclass

from ._engine import MIN_WEIGHT_FRACTION

#: fitted attributes that describe a run of ``fit``, removed by ``partial_fit``
FIT_ATTRIBUTES = ("lower_bound_", "lower_bounds_", "converged_", "n_iter_")
#: fitted attributes set by ``partial_fit``, removed by ``fit``
ONLINE_ATTRIBUTES = ("n_batch_iter_", "n_samples_seen_", "batch_log_likelihood_")


def step_size(t, offset, decay):
    """``gamma_t`` of the ``t``-th batch (``t >= 1``): 1 for the first, then ``(offset + t) ** -decay``."""
    return 1.0 if t <= 1 else float((offset + t) ** -decay)


def scaled(S, factor):
    """A copy of the stats ``S`` times ``factor`` (dicts of arrays and numbers)."""
    if isinstance(S, dict):
        return {key: scaled(value, factor) for key, value in S.items()}
    return S * factor


def blend(old, new, gamma):
    """``(1 - gamma) old + gamma new`` for stats dicts of arrays and numbers."""
    if isinstance(old, dict):
        return {key: blend(old[key], new[key], gamma) for key in old}
    return (1.0 - gamma) * old + gamma * new


@dataclass
class RunningStats:
    """The state of online EM between batches.

    S, C : running ``stats`` and constant stats, per unit of sample weight.
    n_seen : total sample weight of the batches seen.
    n_steps : number of batches seen.
    """

    S: dict
    C: dict
    n_seen: float
    n_steps: int


def online_step(engine, params, design, running, decay, offset):
    """One batch of online EM: its E-step and stats, blended in, then the M-step.

    Parameters
    ----------
    engine : mixexp._engine.EMEngine
    params : the current parameters (internal coordinates).
    design : mixexp._design.Design of the batch.
    running : RunningStats or None (the first batch: the running sums start
        from it, and the step is one EM iteration on it with bound steps).
    decay, offset : float, ``learning_decay`` and ``learning_offset``.

    Returns
    -------
    params, running : the new parameters and running sums.
    loglik : float, the batch's mean log-likelihood at the parameters it met
        (internal units; a progressive-validation estimate).
    """
    experts = engine.experts
    incremental = experts.incremental  # estimator experts learn by partial_fit
    w = design.sw.sum()
    batch = engine.pass_stats(params, design)
    rows = batch.pop("experts") if incremental else None
    per_weight = scaled(batch, 1.0 / w)
    C_batch = scaled(engine.constant_stats(design), 1.0 / w)
    if running is None:
        running = RunningStats(per_weight, C_batch, float(w), 1)
    else:
        t = running.n_steps + 1
        gamma = step_size(t, offset, decay)
        running = RunningStats(
            blend(running.S, per_weight, gamma), blend(running.C, C_batch, gamma),
            running.n_seen + float(w), t,
        )
    n = running.n_seen
    new, _ = engine.update(scaled(running.S, n), scaled(running.C, n), params, n, safe=True)
    if incremental:
        leaf_weight = batch["mass"][engine.tree.n_inner :]
        active = leaf_weight > MIN_WEIGHT_FRACTION * w
        gamma = step_size(running.n_steps, offset, decay)
        new["experts"] = experts.partial_update(rows, params["experts"], active, gamma)
    return new, running, batch["loglik"] / w
