"""The robustness benchmark: a run's test clips scored through each recording shift (`ser_keras.signal.shifts`).

``ser-keras evaluate RUN --shift all`` extracts the run's test clips through every shift with the
run's own feature config (each shifted set cached and fingerprinted like any other), scores them as
``evaluate`` does, and writes ``RUN/robustness/``: ``robustness.json`` (every row and the settings),
``robustness.csv``, ``robustness.png`` (UA per shift) and ``MODEL_CARD.md`` (the run's card with the
robustness table at its end). Given a cv folder it scores every fold's
run on its held-out speakers and writes the mean and std over the folds into ``CV/robustness/``.
The run's own files are never rewritten.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.corpora import MANIFEST_COLUMNS
from ..errors import ParameterError
from ..layout import CV_FILE, ROBUSTNESS_DIR, ROBUSTNESS_FILE, ROBUSTNESS_PLOT, ROBUSTNESS_TABLE, fold_runs
from ..signal.shifts import SHIFT_VERSION, SHIFTS, parse_shifts

METRICS = ("unweighted_accuracy", "weighted_accuracy", "macro_f1")
#: What each row also says of the run's confidence: its ECE and what it turns into "uncertain".
CONFIDENCE = ("ece", "uncertain_share", "uncertain_share_far", "uncertain_wrong_flagged", "uncertain_right_flagged")


def tested_clips(run_dir: str | os.PathLike) -> pd.DataFrame:
    """The clips a run was tested on, as manifest rows: its test split, or a cv fold's held-out speakers.

    Returns
    -------
    manifest : pd.DataFrame
        `ser_keras.data.corpora.MANIFEST_COLUMNS` and ``split = 'test'``, one row per clip (original views).
    """
    from ..extraction.extract import FeatureSet
    from ..extraction.parts import gender_rows
    from ..runs.folders import feature_set_of, read_sidecar

    sidecar = read_sidecar(run_dir)
    fs = FeatureSet(feature_set_of(run_dir, sidecar))
    rows = fs.manifest
    if fs.config.get("split", {}).get("method", "").startswith("cv"):
        keep = (rows["view"] == "orig") & rows["speaker"].isin(sidecar["speakers"]["test"])
    else:
        keep = rows["split"] == "test"
    rows = rows[keep.to_numpy() & gender_rows(rows, sidecar["gender"])]
    return rows[list(MANIFEST_COLUMNS)].assign(split="test").reset_index(drop=True)


def shift_table(
    run_dir: str | os.PathLike,
    shifts: Sequence[str],
    *,
    manifest: pd.DataFrame | None = None,
    cache_dir: str | os.PathLike = "features",
    seed: int = 0,
    jobs: int = -1,
    progress: bool = True,
) -> pd.DataFrame:
    """Score one run clean and through each shift.

    Parameters
    ----------
    run_dir : path
    shifts : sequence of str
        `ser_keras.signal.shifts.SHIFTS` names.
    manifest : pd.DataFrame, optional
        Clips of another corpus to score instead of the run's test clips (every emotion the run
        does not know is left out, as in cross-corpus ``evaluate``).
    cache_dir : path
        Where the shifted feature sets are cached.
    seed : int
        Draws each clip's noise and room.
    jobs : int
        Extraction workers.
    progress : bool

    Returns
    -------
    table : pd.DataFrame
        One row per condition (``clean`` first): ``shift``, ``family``, ``description``, the
        three metrics, ``ece``, what the run makes uncertain (``uncertain_share``, ``uncertain_share_far``,
        ``uncertain_wrong_flagged``, ``uncertain_right_flagged``: `ser_keras.evaluation.calibration.uncertain_report`),
        ``n_test`` and ``ua_drop`` (clean UA minus this UA).
    """
    from ..extraction.extract import FeatureSet, extract_features
    from ..features.config import FeatureConfig
    from ..runs.folders import load_run
    from .evaluate import evaluate_run

    loaded = load_run(run_dir)
    sidecar = loaded[0]
    features = FeatureConfig.from_dict(sidecar["features"])
    clips = tested_clips(run_dir) if manifest is None else manifest.assign(split="test").reset_index(drop=True)
    rows = []
    for name in ("clean", *parse_shifts(list(shifts))):
        result = extract_features(
            clips,
            features=features,
            cache_dir=cache_dir,
            seed=seed,
            split_settings={"method": "robustness: every clip is test data"},
            jobs=jobs,
            progress=progress,
            shift=None if name == "clean" else name,
        )
        report = evaluate_run(run_dir, FeatureSet(result.path), loaded=loaded)
        shift = SHIFTS.get(name)
        rows.append(
            {
                "shift": name,
                "family": shift.family if shift else "",
                "description": shift.description if shift else "as recorded",
                **{key: report[key] for key in METRICS},
                "ece": report.get("calibration", {}).get("ece"),
                **{f"uncertain_{key}": value for key, value in report["uncertain"].items()},
                "n_test": report["n_test"],
            }
        )
    table = pd.DataFrame(rows)
    table["ua_drop"] = table["unweighted_accuracy"].iloc[0] - table["unweighted_accuracy"]
    return table


def evaluate_shifts(
    path: str | os.PathLike,
    shifts: Sequence[str],
    *,
    manifest: pd.DataFrame | None = None,
    corpora: list[str] | None = None,
    cache_dir: str | os.PathLike = "features",
    seed: int = 0,
    jobs: int = -1,
    progress: bool = True,
) -> Path:
    """Write the robustness table of a run, or of every fold of a cv folder, into ``PATH/robustness/``.

    Parameters
    ----------
    path : path
        A run folder, or a cv folder (``cv.json`` in it): each ``fold-k`` run is scored on its
        held-out speakers and the folder gets the mean and std over the folds.
    shifts, manifest, cache_dir, seed, jobs, progress
        As `shift_table`.
    corpora : list of str
        The ``--corpus`` specs of ``manifest``, recorded.

    Returns
    -------
    out_dir : Path
        The folder with ``robustness.json``, ``robustness.csv`` and ``robustness.png``; built hidden
        and renamed into place (``robustness-2`` ... when taken).
    """
    from ..files import atomic_write_json, write_csv
    from ..runs.folders import Staged
    from ..runs.model_card import write_model_card

    path = Path(path)
    names = parse_shifts(list(shifts))
    settings = dict(manifest=manifest, cache_dir=cache_dir, seed=seed, jobs=jobs, progress=progress)
    if (path / CV_FILE).is_file():
        folds = fold_runs(path)
        if not folds:
            raise ParameterError(f"{path}: a cv folder without fold runs")
        per_fold = []
        for number, fold in enumerate(folds, 1):
            per_fold.append(shift_table(fold, names, **settings).assign(fold=number))
            if progress:
                print(f"robustness: fold {number}/{len(folds)} done", file=sys.stderr)
        table = summarise_folds(pd.concat(per_fold, ignore_index=True))
        detail = pd.concat(per_fold, ignore_index=True)
    else:
        table = shift_table(path, names, **settings)
        detail = None
    record = {
        "of": str(path),
        "shifts": list(names),
        "shift_version": SHIFT_VERSION,
        "seed": seed,
        "corpora": corpora or [],
        "clips": "the run's own test clips" if manifest is None else "the given corpora",
        "mean_ua_over_shifts": float(table["unweighted_accuracy"].iloc[1:].mean()),
        "rows": _records(table),
    }
    if detail is not None:
        record["folds"] = _records(detail)
    with Staged(path, ROBUSTNESS_DIR) as staged:
        atomic_write_json(staged.staging / ROBUSTNESS_FILE, record)
        write_csv(table, staged.staging / ROBUSTNESS_TABLE)
        plot_robustness({path.name: table}, staged.staging / ROBUSTNESS_PLOT)
        write_model_card(path, into=staged.staging, robustness=record)  # the card, with this table at its end
    return staged.path


def summarise_folds(per_fold: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over folds of per-fold `shift_table` rows (a ``fold`` column): one row per shift,
    in the first fold's order, ``*_std`` columns beside the means, ``n_test`` summed."""
    order = list(dict.fromkeys(per_fold["shift"]))
    grouped = per_fold.groupby("shift", sort=False)
    table = grouped[["family", "description"]].first()
    for key in (*METRICS, "ua_drop"):
        table[key] = grouped[key].mean()
        table[f"{key}_std"] = grouped[key].std(ddof=0)
    for key in CONFIDENCE:  # None where a fold has no such figure (no wrong answers; no typicality)
        if key in per_fold:
            table[key] = pd.to_numeric(per_fold[key], errors="coerce").groupby(per_fold["shift"], sort=False).mean()
    table["n_test"] = grouped["n_test"].sum()
    return table.loc[order].reset_index()


def plot_robustness(tables: dict[str, pd.DataFrame], path: str | os.PathLike, *, title: str = "") -> None:
    """UA per condition, one line per run (with the std over folds as error bars when there is one).

    Parameters
    ----------
    tables : dict of str to pd.DataFrame
        A label per run and its table (`shift_table` or `summarise_folds`); conditions on the x axis
        in the first table's order.
    path : path
        The PNG, written atomically.
    """
    from ..figures import pyplot, save_figure

    plt, _ = pyplot()
    order = list(next(iter(tables.values()))["shift"])
    fig, ax = plt.subplots(figsize=(max(6.0, 0.55 * len(order) + 2.5), 4.0))
    x = np.arange(len(order))
    for label, table in tables.items():
        table = table.set_index("shift").reindex(order)
        error = table["unweighted_accuracy_std"] if "unweighted_accuracy_std" in table else None
        ax.errorbar(x, table["unweighted_accuracy"], yerr=error, marker="o", capsize=3, label=label)
    ax.set_xticks(x, order, rotation=45, ha="right")
    ax.set_ylabel("UA")
    ax.set_ylim(0, 1)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(title or "UA under each recording shift", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)


def read_robustness(path: str | os.PathLike) -> dict | None:
    """The newest ``robustness*/robustness.json`` of a run or cv folder, or None."""
    found = sorted(Path(path).glob(f"{ROBUSTNESS_DIR}*/{ROBUSTNESS_FILE}"), key=lambda p: p.stat().st_mtime)
    return json.loads(found[-1].read_text()) if found else None


def _records(table: pd.DataFrame) -> list[dict]:
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()} for row in table.to_dict("records")]
