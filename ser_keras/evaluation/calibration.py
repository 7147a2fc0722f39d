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


#: Probabilities are floored here before their logarithm (`scale_probabilities`), in NumPy and in the model.
PROBABILITY_FLOOR = 1e-30
#: The range a fitted temperature is searched in.
TEMPERATURE_RANGE = (0.05, 20.0)


def scale_probabilities(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """Temperature scaling of probabilities: ``softmax(log(p) / temperature)``.

    For a softmax output this equals dividing its logits by ``temperature`` (a softmax's
    logarithm differs from its logits by a constant per row); for an average of
    probabilities (the ``fusion`` model) it sharpens or flattens that average the same
    way.  The model's `ser_keras.models.layers.TemperatureScaling` is this function.

    Parameters
    ----------
    probabilities : np.ndarray [shape=(n, k)]
    temperature : float > 0
        Above 1 flattens (less confident), below 1 sharpens.

    Returns
    -------
    scaled : np.ndarray [shape=(n, k)]
        Rows summing to 1; the argmax of each row is unchanged.

    Examples
    --------
    >>> scale_probabilities(np.array([[0.8, 0.2]]), 2.0).round(3)
    array([[0.667, 0.333]])
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    z = np.log(np.maximum(np.asarray(probabilities, dtype=np.float64), PROBABILITY_FLOOR)) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(probabilities: np.ndarray, y_true: np.ndarray) -> float:
    """The temperature minimising the negative log-likelihood of held-out clips (Guo et al., 2017).

    Parameters
    ----------
    probabilities : np.ndarray [shape=(n, k)]
        The model's probabilities of clips it was not fitted on (the validation speakers).
    y_true : np.ndarray [shape=(n,), dtype=int]

    Returns
    -------
    temperature : float in `TEMPERATURE_RANGE`
    """
    from scipy.optimize import minimize_scalar

    P, y = _checked(probabilities, y_true)
    if not len(y):
        raise ValueError("no clips to fit a temperature on")
    log_p = np.log(np.maximum(P, PROBABILITY_FLOOR))

    def nll(log_t: float) -> float:
        z = log_p / np.exp(log_t)
        z -= z.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y]))

    low, high = np.log(TEMPERATURE_RANGE)
    result = minimize_scalar(nll, bounds=(low, high), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(result.x))


def choose_min_confidence(probabilities: np.ndarray, y_true: np.ndarray) -> float:
    """The confidence below which answering does more harm than good on held-out clips.

    Each answered clip scores +1 when right and -1 when wrong, an unanswered one 0; the
    threshold is the lowest confidence answered at the best total (so a model right more
    often than wrong at every confidence answers everything: the threshold is 0).

    Parameters
    ----------
    probabilities : np.ndarray [shape=(n, k)]
        Calibrated probabilities of the validation speakers.
    y_true : np.ndarray [shape=(n,), dtype=int]

    Returns
    -------
    min_confidence : float in [0, 1]
        Clips whose top probability is below it are answered "uncertain".

    Examples
    --------
    >>> P = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.55, 0.45]])
    >>> choose_min_confidence(P, np.array([0, 0, 1, 1]))
    0.8
    """
    P, y = _checked(probabilities, y_true)
    confidence = P.max(axis=1)
    order = np.argsort(-confidence, kind="stable")
    gain = np.cumsum(np.where(P.argmax(axis=1)[order] == y[order], 1, -1))
    if not len(y) or gain.max() <= 0:
        return 1.0 if len(y) else 0.0
    best = int(np.argmax(gain))  # first index at the best total: the fewest answers that reach it
    if best == len(y) - 1:
        return 0.0
    return float(confidence[order][best])


def scaling_figures(before: np.ndarray, after: np.ndarray, y_true: np.ndarray) -> dict:
    """ECE and Brier score of the same clips' probabilities before and after scaling.

    Returns
    -------
    figures : dict
        ``ece_before``, ``ece_after``, ``brier_before``, ``brier_after``.
    """
    return {
        "ece_before": expected_calibration_error(before, y_true),
        "ece_after": expected_calibration_error(after, y_true),
        "brier_before": brier_score(before, y_true),
        "brier_after": brier_score(after, y_true),
    }


def abstention_report(probabilities: np.ndarray, y_true: np.ndarray, *, min_confidence: float) -> dict:
    """How answering only clips at or above ``min_confidence`` fares: ``coverage`` and ``accuracy`` answered."""
    P, y = _checked(probabilities, y_true)
    answered = P.max(axis=1) >= min_confidence
    correct = P.argmax(axis=1) == y
    return {
        "min_confidence": float(min_confidence),
        "coverage": float(answered.mean()) if len(y) else 0.0,
        "accuracy_answered": float(correct[answered].mean()) if answered.any() else None,
        "accuracy_unanswered": float(correct[~answered].mean()) if (~answered).any() else None,
    }


def uncertain_report(
    probabilities: np.ndarray,
    y_true: np.ndarray,
    *,
    min_confidence: float,
    distance: np.ndarray | None = None,
    max_distance: float | None = None,
) -> dict:
    """Which answers a run turns into "uncertain", and whether they are the wrong ones.

    A clip is uncertain when its top probability is below ``min_confidence`` or its
    ``distance`` from the training features (`ser_keras.models.typicality`) exceeds ``max_distance``.

    Parameters
    ----------
    probabilities : np.ndarray [shape=(n, k)]
    y_true : np.ndarray [shape=(n,), dtype=int]
    min_confidence : float
    distance : np.ndarray [shape=(n,)], optional
    max_distance : float, optional

    Returns
    -------
    figures : dict
        ``share`` (of clips uncertain), ``share_far`` (of clips beyond ``max_distance``; None
        without a distance), ``wrong_flagged`` (of the wrong answers, the share made uncertain) and
        ``right_flagged`` (of the right ones).
    """
    P, y = _checked(probabilities, y_true)
    low = P.max(axis=1) < min_confidence
    far = None
    if distance is not None and max_distance is not None:
        far = np.asarray(distance, dtype=np.float64) > max_distance
        low = low | far
    wrong = P.argmax(axis=1) != y
    return {
        "share": float(low.mean()) if len(y) else 0.0,
        "share_far": None if far is None else float(far.mean()) if len(y) else 0.0,
        "wrong_flagged": float(low[wrong].mean()) if wrong.any() else None,
        "right_flagged": float(low[~wrong].mean()) if (~wrong).any() else None,
    }


def cross_fitted_calibration(probabilities: list[np.ndarray], y_true: list[np.ndarray]) -> dict:
    """Temperature scaling and abstention judged across folds: each fold scaled by what the others chose.

    For fold ``k`` the temperature (`fit_temperature`) and the abstention threshold
    (`choose_min_confidence`) are fitted on the held-out clips of every other fold, then
    applied to fold ``k``: its speakers never shape the scaling they are scored with.
    The recipe's own ``temperature`` and ``min_confidence`` are fitted on all folds.

    Parameters
    ----------
    probabilities : list of np.ndarray [shape=(n_k, k)]
        Each fold's probabilities of its own test clips (at least two folds).
    y_true : list of np.ndarray [shape=(n_k,), dtype=int]

    Returns
    -------
    calibration : dict
        ``temperature``, ``min_confidence``; ``folds`` (per fold: ``temperature``,
        ``ece_before``, ``ece_after``, ``brier_before``, ``brier_after`` and the
        `abstention_report` keys); ``mean`` and ``std`` of those over folds; ``pooled`` (ECE
        and Brier before and after of every fold's clips together) and ``risk_coverage`` of
        every fold's scaled probabilities pooled.
    """
    if len(probabilities) < 2 or len(probabilities) != len(y_true):
        raise ValueError("cross-fitted calibration needs the probabilities and labels of at least two folds")
    folds, scaled_all = [], []
    for k, (P, y) in enumerate(zip(probabilities, y_true)):
        P_rest = np.concatenate([p for i, p in enumerate(probabilities) if i != k])
        y_rest = np.concatenate([t for i, t in enumerate(y_true) if i != k])
        temperature = fit_temperature(P_rest, y_rest)
        min_confidence = choose_min_confidence(scale_probabilities(P_rest, temperature), y_rest)
        scaled = scale_probabilities(P, temperature)
        scaled_all.append(scaled)
        folds.append(
            {
                "temperature": temperature,
                **scaling_figures(P, scaled, y),
                **abstention_report(scaled, y, min_confidence=min_confidence),
            }
        )
    keys = ("ece_before", "ece_after", "brier_before", "brier_after", "coverage", "accuracy_answered")
    P_all, y_all, scaled_all = np.concatenate(probabilities), np.concatenate(y_true), np.concatenate(scaled_all)
    temperature = fit_temperature(P_all, y_all)
    values = {key: np.array([f[key] for f in folds if f[key] is not None], dtype=float) for key in keys}
    return {
        "temperature": temperature,
        "min_confidence": choose_min_confidence(scale_probabilities(P_all, temperature), y_all),
        "fitted_on": "every fold's held-out clips; each fold's figures use a temperature and threshold "
        "fitted on the other folds only",
        "ece_bins": ECE_BINS,
        "folds": folds,
        "mean": {key: float(v.mean()) for key, v in values.items() if len(v)},
        "std": {key: float(v.std(ddof=0)) for key, v in values.items() if len(v)},
        "pooled": scaling_figures(P_all, scaled_all, y_all),  # steadier than one fold's few hundred clips
        "risk_coverage": risk_coverage(scaled_all, y_all),
    }
