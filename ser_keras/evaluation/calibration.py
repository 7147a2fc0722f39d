"""Whether a probability means what it says: calibration error, Brier score, and accuracy by coverage.

Definitions, as in the calibration literature (Guo et al., 2017; Naeini et al., 2015):

- ``ece``: expected calibration error over `ECE_BINS` equal-width bins of the top probability
  (the confidence): the bins' gaps between accuracy and mean confidence, weighted by their share
  of the clips.  0 is perfectly calibrated.
- ``brier``: the mean over clips of the squared distance between the probability vector and the
  one-hot truth (the multi-class Brier score; 0 is perfect, 2 the worst).
- ``risk_coverage``: answering only the most confident clips, the accuracy on the answered ones
  at each of `COVERAGES`, and the confidence threshold that answers that share.
"""

from __future__ import annotations

import numpy as np

#: Bins of the expected calibration error.
ECE_BINS = 15
#: Shares of the clips answered in the risk-coverage table, most confident first.
COVERAGES = (1.0, 0.9, 0.8, 0.7, 0.5)


def _checked(probabilities: np.ndarray, y_true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    P = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(y_true, dtype=np.int64)
    if P.ndim != 2 or y.shape != (P.shape[0],) or (len(y) and (y.min() < 0 or y.max() >= P.shape[1])):
        raise ValueError(f"expected probabilities (n, k) and class indices (n,) below k, got {P.shape} and {y.shape}")
    return P, y


def expected_calibration_error(probabilities: np.ndarray, y_true: np.ndarray, *, n_bins: int = ECE_BINS) -> float:
    """The expected calibration error of the top probability, over ``n_bins`` equal-width bins.

    Parameters
    ----------
    probabilities : np.ndarray [shape=(n, k)]
        Rows summing to 1.
    y_true : np.ndarray [shape=(n,), dtype=int]
        Class indices.
    n_bins : int > 0

    Returns
    -------
    ece : float in [0, 1]

    Examples
    --------
    >>> expected_calibration_error(np.array([[0.9, 0.1], [0.9, 0.1]]), np.array([0, 1]))
    0.4
    """
    P, y = _checked(probabilities, y_true)
    if not len(y):
        return 0.0
    confidence = P.max(axis=1)
    correct = P.argmax(axis=1) == y
    bins = np.minimum((confidence * n_bins).astype(np.int64), n_bins - 1)  # [0, 1/n), ..., [(n-1)/n, 1]
    ece = 0.0
    for b in np.unique(bins):
        member = bins == b
        ece += member.mean() * abs(correct[member].mean() - confidence[member].mean())
    return float(round(ece, 12))


def brier_score(probabilities: np.ndarray, y_true: np.ndarray) -> float:
    """The multi-class Brier score: mean squared distance of each probability vector from the one-hot truth.

    Parameters
    ----------
    probabilities : np.ndarray [shape=(n, k)]
    y_true : np.ndarray [shape=(n,), dtype=int]

    Returns
    -------
    brier : float in [0, 2]

    Examples
    --------
    >>> brier_score(np.array([[1.0, 0.0], [0.5, 0.5]]), np.array([0, 1]))
    0.25
    """
    P, y = _checked(probabilities, y_true)
    if not len(y):
        return 0.0
    onehot = np.zeros_like(P)
    onehot[np.arange(len(y)), y] = 1.0
    return float(np.mean(np.sum((P - onehot) ** 2, axis=1)))


def risk_coverage(probabilities: np.ndarray, y_true: np.ndarray, *, coverages=COVERAGES) -> list[dict]:
    """Accuracy on the most confident clips, at each share of the clips answered.

    Parameters
    ----------
    probabilities : np.ndarray [shape=(n, k)]
    y_true : np.ndarray [shape=(n,), dtype=int]
    coverages : sequence of float in (0, 1]

    Returns
    -------
    table : list of dict
        ``coverage``, ``n_answered``, ``accuracy`` (of the answered clips) and ``threshold``
        (the lowest confidence answered), one per coverage.
    """
    P, y = _checked(probabilities, y_true)
    confidence = P.max(axis=1)
    order = np.argsort(-confidence, kind="stable")
    correct = (P.argmax(axis=1) == y)[order]
    table = []
    for coverage in coverages:
        n = max(1, int(round(coverage * len(y)))) if len(y) else 0
        table.append(
            {
                "coverage": float(coverage),
                "n_answered": n,
                "accuracy": float(correct[:n].mean()) if n else 0.0,
                "threshold": float(confidence[order][n - 1]) if n else 1.0,
            }
        )
    return table


def calibration_report(probabilities: np.ndarray, y_true: np.ndarray) -> dict:
    """``{"ece", "brier", "ece_bins", "risk_coverage"}`` of one evaluation, as ``report.json`` holds them."""
    return {
        "ece": expected_calibration_error(probabilities, y_true),
        "brier": brier_score(probabilities, y_true),
        "ece_bins": ECE_BINS,
        "risk_coverage": risk_coverage(probabilities, y_true),
    }
