"""Chen, Deng, Wu, Gu & Li (2022) on their cluster-patch data, with EM-trained mixtures.

Four models per setting and seed, as their Table 1: a single linear expert, a
single nonlinear expert, a mixture of linear experts and a mixture of
nonlinear experts; test accuracy and the dispatch entropy of the top-1
routing against the true clusters (nats, as the paper).

- Linear expert: their linear patch CNN sums filter responses over patches,
  so it is a linear model of the patch sum ``s(x) = sum_p x_p``; here the
  multinomial-logistic expert on ``s(x)`` (50 features).
- Nonlinear expert: their two-layer patch CNN with cubic activation,
  ``mixexp.experts.patch_cnn.PatchCNNClassifier`` (numpy, L-BFGS): 40
  filters per class for the single model, 8 per class for each of 8 experts,
  as their code.
- Gate: linear in ``s(x)``, as their router.  Mixtures have 8 experts, as
  their code.  EM fits them (dense soft routing), not their top-1 gradient
  training; the mixture of linear experts is fitted from k-means, from a
  random partition, from the best of 5 random partitions (``n_init=5``), and
  with the default ``short_em`` start.

Subsampled to keep the run within ~30 minutes on 2 shared cores:
``--n-train`` (default 4000; the paper: 16000) training and ``--n-test``
(default 4000; the paper: 16000) test samples, drawn together from one seed.  Also measures
top-k prediction (k = 1, 2, 8) of the nonlinear mixture of setting 1, seed 0.

    python benchmarks/chen2022.py                 # all four settings, 10 seeds
    python benchmarks/chen2022.py --settings 1 --seeds 2   # a quick look

Writes ``benchmarks/results/chen2022.md`` and ``chen2022.csv``; the small-sample run
(``--n-train 1000 --n-test 2000 --out benchmarks/results/chen2022_n1000.md``) is kept beside it.
"""

import argparse
import csv
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from mixexp import FrozenExpertWarning, MixtureOfExpertsClassifier
from mixexp.datasets import make_cluster_patches
from mixexp.experts.patch_cnn import PatchCNNClassifier
from mixexp.metrics import dispatch_entropy

RESULTS = Path(__file__).resolve().parent / "results"
N_EXPERTS = 8
PAPER = {  # Table 1 of Chen et al. (2022): test accuracy %, dispatch entropy
    1: {"single linear": 68.3, "single nonlinear": 79.6, "MoE linear": (93.0, 1.30), "MoE nonlinear": (99.46, 0.098)},
    2: {"single linear": 68.2, "single nonlinear": 77.4, "MoE linear": (89.5, 1.26), "MoE nonlinear": (98.1, 0.18)},
}


def patch_sum(X, n_patches=4):
    return X.reshape(X.shape[0], n_patches, -1).sum(axis=1)


def models(seed):
    """name -> (estimator, which input): 's' the patch sum, 'x' the patches, 'sx' both."""
    cnn = dict(n_patches=4, random_state=seed)
    linear = dict(n_experts=N_EXPERTS, random_state=seed, max_iter=300)
    return {
        "single linear": (MixtureOfExpertsClassifier(n_experts=1, random_state=seed), "s"),
        "single nonlinear": (PatchCNNClassifier(n_filters=40, max_iter=150, **cnn), "x"),
        "MoE linear (kmeans)": (MixtureOfExpertsClassifier(init_params="kmeans", **linear), "s"),
        "MoE linear (random)": (MixtureOfExpertsClassifier(init_params="random", **linear), "s"),
        "MoE linear (random, n_init=5)": (
            MixtureOfExpertsClassifier(init_params="random", n_init=5, **linear), "s"),
        "MoE linear (short_em)": (MixtureOfExpertsClassifier(init_params="short_em", **linear), "s"),
        "MoE nonlinear (kmeans)": (
            MixtureOfExpertsClassifier(
                n_experts=N_EXPERTS, init_params="kmeans", random_state=seed, max_iter=30,
                expert=PatchCNNClassifier(n_filters=8, max_iter=30, warm_start=True, **cnn),
                gate_features=np.arange(50), expert_features=np.arange(50, 250),
            ), "sx"),
    }


def inputs(kind, X):
    if kind == "s":
        return patch_sum(X)
    if kind == "x":
        return X / 10.0  # the paper's scale factor undone
    return np.hstack([patch_sum(X), X])


def run_one(setting, seed, n_train, n_test, keep=None):
    X, y, params = make_cluster_patches(setting, n_train + n_test, random_state=seed, return_params=True)
    cluster = params["cluster"][n_train:]
    rows = []
    for name, (model, kind) in models(seed).items():
        Z = inputs(kind, X)
        start = time.perf_counter()
        model.fit(Z[:n_train], y[:n_train])
        seconds = time.perf_counter() - start
        Zte = Z[n_train:]
        entropy = (dispatch_entropy(model, Zte, cluster, base=np.e)
                   if name.startswith("MoE") else float("nan"))
        rows.append({
            "setting": setting, "seed": seed, "model": name,
            "accuracy": 100.0 * model.score(Zte, y[n_train:]), "dispatch_entropy": entropy,
            "n_iter": getattr(model, "n_iter_", ""), "fit_seconds": seconds,
        })
        if keep is not None and name == keep:
            keep = (model, Zte, y[n_train:])
    return rows, keep


def top_k_table(model, X, y, repeats=3):
    lines = []
    for k in [1, 2, N_EXPERTS]:
        model.set_params(top_k=k)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            pred = model.predict(X)
            times.append(time.perf_counter() - start)
        lines.append((k, 100.0 * np.mean(pred == y), min(times)))
    model.set_params(top_k=None)
    return lines


def summary(rows):
    out = {}
    for r in rows:
        out.setdefault((r["setting"], r["model"]), []).append(r)
    return out


def write_markdown(rows, top_k, args, path):
    table = summary(rows)
    settings = sorted({r["setting"] for r in rows})
    names = list(dict.fromkeys(r["model"] for r in rows))
    seeds = sorted({r["seed"] for r in rows})
    lines = [
        "# Chen et al. (2022) cluster-patch data, mixtures fitted by EM",
        "",
        f"Command: `python benchmarks/chen2022.py --settings {' '.join(map(str, args.settings))} "
        f"--seeds {args.seeds} --n-train {args.n_train} --n-test {args.n_test}`",
        "",
        f"{len(seeds)} seeds; {args.n_train} training and {args.n_test} test samples per seed "
        "(the paper: 16000 and 16000, subsampled here for time).  Accuracy: test accuracy % (mean ± sd "
        "over seeds); entropy: dispatch entropy of the top-1 routing against the true clusters on the "
        f"test set, nats (0: each expert gets one cluster; log 4 = 1.386 at most).  {N_EXPERTS} experts. "
        "Fit times measured under load on 2 shared cores.",
        "",
        "| setting | model | accuracy % | entropy | paper accuracy % | paper entropy | fit s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in settings:
        for name in names:
            rs = table.get((s, name))
            if not rs:
                continue
            acc = np.array([r["accuracy"] for r in rs])
            ent = np.array([r["dispatch_entropy"] for r in rs])
            key = name.split(" (")[0]
            paper = PAPER.get(s, {}).get(key, "")
            p_acc, p_ent = (paper if isinstance(paper, tuple) else (paper, ""))
            if "(" in name and "kmeans" not in name:
                p_acc, p_ent = "", ""
            ent_s = "" if np.all(np.isnan(ent)) else f"{ent.mean():.3f} ± {ent.std():.3f}"
            lines.append(
                f"| {s} | {name} | {acc.mean():.2f} ± {acc.std():.2f} | {ent_s} | {p_acc} | {p_ent} | "
                f"{np.mean([r['fit_seconds'] for r in rs]):.1f} |"
            )
    if top_k:
        lines += [
            "",
            "## Top-k prediction (setting 1, seed 0, mixture of nonlinear experts)",
            "",
            "Each test sample is sent to its k most probable experts only; each patch-CNN expert "
            "is evaluated on its routed rows.  Predict time: best of 3, under load.",
            "",
            "| k | accuracy % | predict s |",
            "| --- | --- | --- |",
        ]
        lines += [f"| {k} | {acc:.2f} | {sec:.3f} |" for k, acc, sec in top_k]
    path.write_text("\n".join(lines) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--settings", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--n-train", type=int, default=4000)
    parser.add_argument("--n-test", type=int, default=4000)
    parser.add_argument("--out", type=Path, default=RESULTS / "chen2022.md")
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    warnings.simplefilter("ignore", FrozenExpertWarning)
    rows, top_k = [], None
    csv_path = args.out.with_suffix(".csv")
    for setting in args.settings:
        for seed in range(args.seeds):
            keep = "MoE nonlinear (kmeans)" if (setting == 1 and seed == 0) else None
            new, kept = run_one(setting, seed, args.n_train, args.n_test, keep)
            if keep is not None:
                top_k = top_k_table(*kept)
            rows += new
            for r in new:
                print(f"setting {r['setting']} seed {r['seed']} {r['model']:32s} "
                      f"acc {r['accuracy']:6.2f} entropy {r['dispatch_entropy']:.3f} "
                      f"({r['fit_seconds']:.1f}s)", flush=True)
            with open(csv_path, "w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
            write_markdown(rows, top_k, args, args.out)
    print(f"wrote {args.out} and {csv_path}")


if __name__ == "__main__":
    main()
