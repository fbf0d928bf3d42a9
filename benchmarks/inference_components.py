"""Every component's standard errors against those of a finite-difference Hessian.

    PYTHONPATH=<checkout> python benchmarks/inference_components.py [--out benchmarks/results] [--n 500]

For every registered gate (:data:`mixexp.gates.GATES`) and expert family
(:data:`mixexp.experts.EXPERTS`), flat (K = 2) and in a tree (depth 2, branching 2),
a model is fitted to data of its family (``make_moe_family`` where the family has
a generator, else ``make_moe_regression`` / ``make_moe_classification``; n rows,
2 features, log-link families with an exposure), and its standard errors from
``parameter_inference`` (the components' analytic or central-difference pieces,
Louis's identity) are compared with those of minus a finite-difference Hessian of
the total log-likelihood through the public estimator (``log_likelihood``, plus
``score_samples`` when the gate models x), the parameters moved along the
components' inference vectors, both mapped to raw units by the same linear maps.
The table gives the largest relative difference over the parameters with a
standard error; combinations a component refuses are listed with its reason.
Writes ``<out>/inference_components.md``.
"""
import argparse
import os
import sys
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def fd_information(model, X, y, kwargs, sw=None, step=1e-4):
    """``(layout, theta, free, -H)``: minus the central-difference Hessian of the total
    log-likelihood EM maximised, over the free entries of the inference vector."""
    from mixexp.inference import Layout

    _, state = model._design(X, y, kwargs.get("exposure"))
    layout = Layout(state)
    params = state.params
    theta = layout.pack(params)
    free = np.flatnonzero(~layout.fixed())
    sw = np.ones(X.shape[0]) if sw is None else sw

    def objective(step):
        model._fitted.params = layout.unpack(theta + step, params)
        try:
            ll = model.log_likelihood(X, y, **kwargs)
            if state.gate.models_x:
                ll = ll + model.score_samples(X)
            return float(sw @ ll)
        finally:
            model._fitted.params = params

    h = step * np.maximum(1.0, np.abs(theta))
    f0 = objective(0.0)
    H = np.zeros((free.size, free.size))
    for a, j in enumerate(free):
        ej = np.zeros_like(theta)
        ej[j] = h[j]
        H[a, a] = (objective(ej) - 2 * f0 + objective(-ej)) / h[j] ** 2
        for b in range(a):
            k = free[b]
            ek = np.zeros_like(theta)
            ek[k] = h[k]
            mixed = objective(ej + ek) - objective(ej - ek) - objective(-ej + ek) + objective(-ej - ek)
            H[a, b] = H[b, a] = mixed / (4 * h[j] * h[k])
    return layout, theta, free, -H


def fd_std_errors(model, X, y, kwargs, fd=None, step=1e-4):
    """Raw-unit standard errors from :func:`fd_information` (NaN where held fixed)."""
    from mixexp._information import _invert

    layout, _, free, info = fd_information(model, X, y, kwargs, step=step) if fd is None else fd
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        names = [f"x{i}" for i in range(model.n_features_in_)]
    M = layout.labels(names).M
    Mf = M[:, free]
    cov = Mf @ _invert(info, "finite-difference information") @ Mf.T
    se = np.sqrt(np.diag(cov))
    held = np.abs(M[:, np.setdiff1d(np.arange(M.shape[1]), free)]).sum(axis=1) > 0
    se[held] = np.nan
    return se


def _data(task, expert, n, k, seed=0):
    from mixexp.datasets import (
        make_moe_classification,
        make_moe_family,
        make_moe_regression,
    )

    if task == "classification":
        X, y = make_moe_classification(n, n_features=2, n_experts=k, n_classes=3, random_state=seed)
        return X, y, {}
    try:
        exposure = np.random.RandomState(seed).uniform(0.5, 2.0, n)
        X, y = make_moe_family(expert, n, n_features=2, n_experts=k, exposure=exposure, random_state=seed)
        return X, y, {"exposure": exposure}
    except (ValueError, TypeError):
        X, y = make_moe_regression(n, n_features=2, n_experts=k, noise=0.3, random_state=seed)
        return X, y, {}


def _route(component, base, method):
    """'analytic' when the component's class writes its own ``method``, else 'central differences'."""
    return "analytic" if getattr(type(component), method) is not getattr(base, method) else "central differences"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--n", type=int, default=500)
    args = ap.parse_args(argv)
    from mixexp import (
        HierarchicalMixtureOfExpertsClassifier,
        HierarchicalMixtureOfExpertsRegressor,
        MixtureOfExpertsClassifier,
        MixtureOfExpertsRegressor,
    )
    from mixexp.experts import EXPERTS, ExpertComponent
    from mixexp.gates import GATES, Gate
    from mixexp.inference import observed_information, parameter_inference

    makers = {
        ("regression", "flat"): lambda **kw: MixtureOfExpertsRegressor(2, **kw),
        ("regression", "tree"): lambda **kw: HierarchicalMixtureOfExpertsRegressor(2, branching=2, **kw),
        ("classification", "flat"): lambda **kw: MixtureOfExpertsClassifier(2, **kw),
        ("classification", "tree"): lambda **kw: HierarchicalMixtureOfExpertsClassifier(2, branching=2, **kw),
    }
    rows = []
    for gate in GATES:
        for task in EXPERTS:
            for expert in EXPERTS[task]:
                for structure in ("flat", "tree"):
                    X, y, kwargs = _data(task, expert, args.n, 2 if structure == "flat" else 4)
                    # maximum likelihood where it exists (the classifiers keep their ridge penalties)
                    penalties = {"alpha": 0.0, "gate_alpha": 0.0} if task == "regression" else {}
                    model = makers[task, structure](gate=gate, expert=expert, random_state=0, n_init=3,
                                                    max_iter=500, **penalties)
                    label = (gate, f"{task}: {expert}", structure)
                    try:
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            model.fit(X, y, **kwargs)
                    except ValueError as e:
                        rows.append(label + ("not fitted", "", "", "", "", str(e).split(". ")[0]))
                        continue
                    notes = []
                    try:
                        t0 = time.perf_counter()
                        with warnings.catch_warnings(record=True) as caught:
                            warnings.simplefilter("always", RuntimeWarning)
                            result = parameter_inference(model, X, y, cov_type="observed", **kwargs)
                            seconds = time.perf_counter() - t0
                            sandwich = parameter_inference(model, X, y, cov_type="sandwich", **kwargs)
                            fd = fd_information(model, X, y, kwargs)
                            fd_se = fd_std_errors(model, X, y, kwargs, fd)
                        if any("not positive definite" in str(w.message) for w in caught):
                            notes.append("information not positive definite (pseudo-inverse)")
                    except ValueError as e:
                        rows.append(label + ("refused", "", "", "", "", str(e).split(": ", 1)[1].split(" (mixexp")[0]))
                        continue
                    layout, _, free, fd_info = fd
                    design, state = model._design(X, y, kwargs.get("exposure"))
                    info = observed_information(layout, state.params, design)[0][np.ix_(free, free)]
                    info_rel = np.abs(info - fd_info).max() / np.abs(fd_info).max()
                    se = result.std_error
                    ok = np.isfinite(se)
                    rel = np.max(np.abs(se[ok] - fd_se[ok]) / fd_se[ok])
                    route = (f"gate {_route(state.gate, Gate, 'inference_edge_scores')}, experts "
                             f"{_route(state.experts, ExpertComponent, 'inference_scores')}")
                    ratio = sandwich.std_error[ok] / se[ok]
                    notes.append(f"sandwich/observed SE {np.nanmin(ratio):.2f}-{np.nanmax(ratio):.2f}")
                    if (~ok).any():
                        notes.append(f"{int((~ok).sum())} held fixed")
                    rows.append(label + (route, str(int(ok.sum())), f"{info_rel:.1e}", f"{rel:.1e}",
                                         f"{seconds:.2f}", "; ".join(notes)))
                    print(rows[-1], flush=True)
    header = ("| gate | family | structure | pieces | parameters with SE | information: max abs. diff. / max "
              "| SE: max rel. diff. | seconds | notes |")
    lines = [
        "# Standard errors of every component against a finite-difference Hessian", "",
        f"`python benchmarks/inference_components.py --n {args.n}`: every registered gate and expert family, flat "
        "(K = 2, data of 2 experts) and a tree (depth 2, branching 2, data of 4 experts), fitted with "
        f"`n_init=3, max_iter=500` (regression: `alpha=0, gate_alpha=0`) to n = {args.n} rows of data of the "
        "family (2 features; log-link families with an exposure). The reference is minus a central-difference "
        "Hessian of the public log-likelihood (plus `score_samples` for the Gaussian gate: the likelihood EM "
        "maximised) along the components' inference vectors (step 1e-4, relative). Information: the largest "
        "absolute difference between it and the observed information that `mixexp.inference` assembles from the "
        "components' pieces (Louis's identity), over the largest entry. SE: the largest relative difference of "
        "the standard errors in raw units (both mapped alike). Pieces: whether the gate's per-edge and the "
        "experts' per-leaf scores and Hessians are the component's own formulas or the base class's central "
        "differences of its log terms. Seconds: one `parameter_inference` (observed), shared machine under "
        "load.", "",
        header, "|---|---|---|---|---:|---:|---:|---:|---|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "inference_components.md"), "w") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
