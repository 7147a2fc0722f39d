"""A cross-validation's summary: mean ± std over folds, per-class recall, the summed confusion matrix, its plot."""

from __future__ import annotations

import os

import numpy as np

#: The fold metrics a cv summarises.
METRICS = ("unweighted_accuracy", "weighted_accuracy", "macro_f1")


def summarize_folds(reports: list[dict], *, labels: list[str]) -> dict:
    """Per-fold and mean/std metrics, per-class recall and the summed confusion matrix of fold reports."""
    out = {"folds": [], "mean": {}, "std": {}}
    for report in reports:
        out["folds"].append(
            {**{m: report[m] for m in METRICS}, "n_test": report["n_test"], "test_speakers": report["test_speakers"]}
        )
    for metric in METRICS:
        values = np.array([f[metric] for f in out["folds"]])
        out["mean"][metric] = float(values.mean())
        out["std"][metric] = float(values.std(ddof=0))
    recall = {name: [r["per_class"][name]["recall"] for r in reports if name in r["per_class"]] for name in labels}
    out["per_class_recall"] = {
        name: {"mean": float(np.mean(v)), "std": float(np.std(v))} for name, v in recall.items() if v
    }
    out["labels"] = labels
    out["confusion_matrix"] = np.sum([r["confusion_matrix"] for r in reports], axis=0).tolist()
    out["chance_ua"] = reports[0]["chance_ua"]
    if all("calibration" in r for r in reports):  # how well the probabilities mean what they say, fold by fold
        for key in ("ece", "brier"):
            values = np.array([r["calibration"][key] for r in reports])
            out["mean"][key], out["std"][key] = float(values.mean()), float(values.std(ddof=0))
            for fold, value in zip(out["folds"], values):
                fold[key] = float(value)
    return out


def plot_cv(summary: dict, path: str | os.PathLike, *, title: str = "") -> None:
    """Per-fold UA / WA / macro-F1 bars with each mean as a line, beside the summed confusion matrix."""
    from ..figures import pyplot, save_figure
    from .report import confusion_heatmap

    plt, _ = pyplot()
    fig, (bars, heat) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [1, 1.2]})
    n = len(summary["folds"])
    width = 0.8 / len(METRICS)
    for i, (metric, label) in enumerate(zip(METRICS, ("UA", "WA", "macro-F1"))):
        values = [f[metric] for f in summary["folds"]]
        x = np.arange(n) + (i - 1) * width
        colour = f"C{i}"
        bars.bar(
            x,
            values,
            width,
            color=colour,
            label=f"{label} {summary['mean'][metric]:.3f} ± {summary['std'][metric]:.3f}",
        )
        bars.axhline(summary["mean"][metric], color=colour, linestyle="--", linewidth=1)
    bars.axhline(summary["chance_ua"], color="grey", linestyle=":", label=f"chance UA {summary['chance_ua']:.3f}")
    bars.set_xticks(np.arange(n), [f"fold {k + 1}" for k in range(n)])
    bars.set_ylim(0, 1)
    bars.set_ylabel("score on the fold's unseen speakers")
    bars.legend(loc="upper left", fontsize=8)
    confusion_heatmap(heat, summary["confusion_matrix"], summary["labels"], colorbar=False)
    heat.set_title(f"summed over {n} folds (row-normalised)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
