"""Scores and figures of a run: UA, WA, macro-F1, per-class report, confusion matrix, curves.

Definitions, as used in SER papers:

- ``unweighted_accuracy`` (UA): the mean of per-class recalls (balanced accuracy); chance is 1 / n_classes.
- ``weighted_accuracy`` (WA): recall weighted by class frequency, i.e. the overall accuracy.
- ``macro_f1``: the unweighted mean of per-class F1.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd


def score(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str]) -> dict:
    """The report dictionary of one evaluation.

    Parameters
    ----------
    y_true, y_pred : np.ndarray [shape=(n,), dtype=int]
        Class indices into ``labels``.
    labels : list of str

    Returns
    -------
    report : dict
        ``accuracy``, ``unweighted_accuracy``, ``weighted_accuracy``, ``macro_f1``, ``labels``,
        ``confusion_matrix`` (rows = true), ``per_class`` and ``n_test``.
    """
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score
    from sklearn.metrics import precision_recall_fscore_support

    index = list(range(len(labels)))
    present = sorted(set(np.asarray(y_true).tolist()))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=index, zero_division=0
    )
    accuracy = float(accuracy_score(y_true, y_pred))
    return {
        "accuracy": accuracy,
        "unweighted_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "weighted_accuracy": accuracy,
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "chance_ua": 1.0 / max(len(present), 1),
        "labels": list(labels),
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=index).tolist(),
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(labels, precision, recall, f1, support)
        },
        "n_test": int(len(y_true)),
    }


def write_report(report: dict, out_dir: str | os.PathLike, *, history: pd.DataFrame | None = None) -> None:
    """Write ``report.json``, ``confusion_matrix.png`` and (with a history) ``curves.png``."""
    out_dir = Path(out_dir)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2))
    plot_confusion(report, out_dir / "confusion_matrix.png")
    if history is not None and len(history):
        plot_curves(history, out_dir / "curves.png")


def plot_confusion(report: dict, path: str | os.PathLike) -> None:
    """Seaborn heatmap of the row-normalised confusion matrix, annotated with counts."""
    plt, sns = _pyplot()
    counts = np.asarray(report["confusion_matrix"])
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    annot = np.array([[f"{r:.2f}\n({c})" for r, c in zip(rr, cr)] for rr, cr in zip(rates, counts)])
    size = 1.0 + 0.8 * len(report["labels"])
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    sns.heatmap(rates, annot=annot, fmt="", cmap="Blues", vmin=0, vmax=1, square=True,
                xticklabels=report["labels"], yticklabels=report["labels"], ax=ax)  # fmt: skip
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"UA {report['unweighted_accuracy']:.3f}  WA {report['weighted_accuracy']:.3f}  n={report['n_test']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_curves(history: pd.DataFrame, path: str | os.PathLike) -> None:
    """Loss and accuracy per epoch, train vs validation."""
    plt, _ = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    epochs = np.arange(1, len(history) + 1)
    for ax, key in zip(axes, ("loss", "accuracy")):
        for prefix, style in (("", "-"), ("val_", "--")):
            if prefix + key in history:
                ax.plot(epochs, history[prefix + key], style, label=("validation " if prefix else "train ") + key)
        if "phase" in history:  # two-phase fine-tuning: mark where the backbone was unfrozen
            changes = np.flatnonzero(history["phase"].to_numpy()[1:] != history["phase"].to_numpy()[:-1])
            for change in changes:
                ax.axvline(change + 1.5, color="grey", linestyle=":", label="backbone unfrozen")
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    return plt, sns
