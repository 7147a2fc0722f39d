"""Scores and figures of a run: UA, WA, macro-F1, per-class report, confusion matrix, curves.

Definitions, as used in SER papers:

- ``unweighted_accuracy`` (UA): the mean of per-class recalls (balanced accuracy); chance is 1 / n_classes.
- ``weighted_accuracy`` (WA): recall weighted by class frequency, i.e. the overall accuracy.
- ``macro_f1``: the unweighted mean of per-class F1.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..figures import pyplot, save_figure
from ..files import atomic_write_json
from ..layout import CONFUSION_FILE, CURVES_FILE, REPORT_FILE


def score(
    y_true: np.ndarray, y_pred: np.ndarray, labels: list[str], *, probabilities: np.ndarray | None = None
) -> dict:
    """The report dictionary of one evaluation.

    Parameters
    ----------
    y_true, y_pred : np.ndarray [shape=(n,), dtype=int]
        Class indices into ``labels``.
    labels : list of str
    probabilities : np.ndarray [shape=(n, len(labels))], optional
        The model's probabilities: the report then says how well they are calibrated
        (`ser_keras.evaluation.calibration.calibration_report`: ``calibration``).

    Returns
    -------
    report : dict
        ``accuracy``, ``unweighted_accuracy``, ``weighted_accuracy``, ``macro_f1``, ``labels``,
        ``confusion_matrix`` (rows = true), ``per_class`` and ``n_test``; with ``probabilities``,
        ``calibration`` (``ece``, ``brier``, ``risk_coverage``).
    """
    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        confusion_matrix,
        f1_score,
        precision_recall_fscore_support,
    )

    index = list(range(len(labels)))
    present = sorted(set(np.asarray(y_true).tolist()))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=index, zero_division=0)
    accuracy = float(accuracy_score(y_true, y_pred))
    report = {
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
    if probabilities is not None:
        from .calibration import calibration_report

        report["calibration"] = calibration_report(probabilities, y_true)
    return report


def calibration_figures(
    y_true: np.ndarray, probabilities: np.ndarray, uncalibrated: np.ndarray | None, calibration: dict
) -> dict:
    """What a report adds about the run's calibration: the test figures before scaling, and abstention.

    Parameters
    ----------
    y_true : np.ndarray [shape=(n,), dtype=int]
    probabilities : np.ndarray [shape=(n, k)]
        The run's probabilities (after its temperature, when it has one).
    uncalibrated : np.ndarray [shape=(n, k)] or None
        The same before the temperature.
    calibration : dict
        ``run.json``'s ``calibration``: ``temperature`` and ``min_confidence``.

    Returns
    -------
    figures : dict
        ``temperature``, ``calibration_before_scaling`` (``ece``, ``brier``; with ``uncalibrated``)
        and ``abstention`` (`ser_keras.evaluation.calibration.abstention_report`).
    """
    from .calibration import abstention_report, brier_score, expected_calibration_error

    figures = {
        "temperature": calibration.get("temperature"),
        "abstention": abstention_report(probabilities, y_true, min_confidence=calibration.get("min_confidence", 0.0)),
    }
    if uncalibrated is not None:
        figures["calibration_before_scaling"] = {
            "ece": expected_calibration_error(uncalibrated, y_true),
            "brier": brier_score(uncalibrated, y_true),
        }
    return figures


def write_report(
    report: dict,
    out_dir: str | os.PathLike,
    *,
    history: pd.DataFrame | None = None,
    title: str = "",
    kept_epoch: int | None = None,
) -> None:
    """Write ``report.json``, ``confusion_matrix.png`` and (with a history) ``curves.png``.

    ``title`` (the run, its model and corpus; the target corpus when cross-corpus) heads both figures;
    ``kept_epoch`` is the epoch whose weights the run kept (default: the lowest val_loss).
    """
    out_dir = Path(out_dir)
    atomic_write_json(out_dir / REPORT_FILE, report)
    plot_confusion(report, out_dir / CONFUSION_FILE, title=title)
    if history is not None and len(history):
        plot_curves(history, out_dir / CURVES_FILE, title=title, kept_epoch=kept_epoch)


def plot_confusion(report: dict, path: str | os.PathLike, *, title: str = "") -> None:
    """Seaborn heatmap of the row-normalised confusion matrix, annotated with counts."""
    plt, _ = pyplot()
    size = 1.0 + 0.8 * len(report["labels"])
    fig, ax = plt.subplots(figsize=(max(size + 1.5, 6.5), size + 0.4))
    confusion_heatmap(ax, report["confusion_matrix"], report["labels"], counts_shown=True)
    scores = f"UA {report['unweighted_accuracy']:.3f}  WA {report['weighted_accuracy']:.3f}  n={report['n_test']}"
    if title:  # a run's name is long: wrap the title to the figure's width instead of clipping it
        import textwrap

        title = textwrap.fill(title, width=int(fig.get_figwidth() * 12))
    ax.set_title(f"{title}\n{scores}" if title else scores, fontsize=9)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def confusion_heatmap(ax, confusion_matrix, labels: list[str], *, counts_shown: bool = False, colorbar: bool = True):
    """Draw a row-normalised confusion matrix on ``ax`` (seaborn), each cell annotated with its rate.

    Parameters
    ----------
    ax : matplotlib Axes
    confusion_matrix : array-like [shape=(n_labels, n_labels)]
        Counts, true labels in rows.
    labels : list of str
    counts_shown : bool
        Also write each cell's count under its rate.
    colorbar : bool
    """
    _, sns = pyplot()
    counts = np.asarray(confusion_matrix)
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    if counts_shown:
        annot, fmt = np.array([[f"{r:.2f}\n({c})" for r, c in zip(rr, cr)] for rr, cr in zip(rates, counts)]), ""
    else:
        annot, fmt = True, ".2f"
    sns.heatmap(
        rates,
        annot=annot,
        fmt=fmt,
        cmap="Blues",
        vmin=0,
        vmax=1,
        square=True,
        xticklabels=labels,
        yticklabels=labels,
        ax=ax,
        cbar=colorbar,
    )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")


def plot_curves(
    history: pd.DataFrame, path: str | os.PathLike, *, title: str = "", kept_epoch: int | None = None
) -> None:
    """Loss, accuracy and learning rate per epoch (train vs validation), the kept epoch marked.

    Only panels with data are drawn (an MLP's loss curve has no accuracy); with an
    ensemble the first member is drawn.  Epochs are numbered from 1, as in ``history.csv``
    and ``run.json``'s ``best_epoch``.
    """
    plt, _ = pyplot()
    if "member" in history:
        history = history[history["member"] == history["member"].iloc[0]]
    epochs = history["epoch"].to_numpy() if "epoch" in history else np.arange(1, len(history) + 1)
    panels = [key for key in ("loss", "accuracy") if key in history or f"val_{key}" in history]
    if "learning_rate" in history:
        panels.append("learning_rate")
    best = kept_epoch
    if best is None and "val_loss" in history:
        best = int(epochs[int(np.argmin(history["val_loss"].to_numpy()))])
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8), squeeze=False)
    for ax, key in zip(axes[0], panels):
        if key == "learning_rate":
            ax.plot(epochs, history[key], "-", color="C2", label="learning rate")
            ax.set_yscale("log")
        for prefix, style in (("", "-"), ("val_", "--")):
            if key != "learning_rate" and prefix + key in history:
                ax.plot(epochs, history[prefix + key], style, label=("validation " if prefix else "train ") + key)
        if best is not None:
            ax.axvline(best, color="C3", linestyle="-.", linewidth=1, label=f"kept epoch ({best})")
        if "phase" in history:  # two-phase fine-tuning: mark where the backbone was unfrozen
            phases = history["phase"].to_numpy()
            for change in np.flatnonzero(phases[1:] != phases[:-1]):
                ax.axvline(epochs[change] + 0.5, color="grey", linestyle=":", label="backbone unfrozen")
        ax.set_xlabel("epoch")
        ax.set_ylabel(key.replace("_", " "))
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
