"""``ser-keras runs``: one row per run, cv folder and ``--gender all`` group, with its recipe and scores.

A folder being built is listed as ``partial``, a damaged one as ``broken`` with the
reason, and the other rows still show (`list_runs`); `runs_table` formats them.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from ..data.corpora import corpus_names
from ..errors import ParameterError
from ..layout import CV_FILE, GROUP_FILE, REPORT_FILE, RUN_FILE, is_fold_run
from .folders import _is_int, _is_number, _short, is_partial, read_json, read_sidecar

#: Columns of `list_runs`, in order.
LISTING_COLUMNS = (
    "run",
    "type",
    "corpus",
    "features",
    "augment",
    "model",
    "gender",
    "normalize",
    "seed",
    "epochs",
    "ua",
    "ua_std",
    "wa",
    "macro_f1",
    "n_test",
    "date",
    "problem",
)


def list_runs(models_dir: str | os.PathLike) -> list[dict]:
    """One row per folder directly under ``models_dir``: runs, cv folders, ``--gender all`` groups.

    A folder that is not a readable run is listed too, with ``type`` ``partial`` (an
    unfinished or killed build) or ``broken`` and the reason in ``problem``; other
    folders (not ours) are left out.  Rows are the keys of `LISTING_COLUMNS`; scores of a
    cv folder are the mean over folds (``ua_std`` their standard deviation).
    """
    root = Path(models_dir)
    rows = []
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        if not path.is_dir():
            continue
        row = dict.fromkeys(LISTING_COLUMNS)
        row.update(run=path.name, date=time.strftime("%Y-%m-%d %H:%M", time.localtime(path.stat().st_mtime)))
        if is_partial(path):
            done = sorted(p.parent.name for p in path.glob("fold-*/report.json") if is_fold_run(p.parent.name))
            problem = (
                f"an unfinished cv ({', '.join(done)} done): rerun the same command to resume"
                if done
                else "being built, or left by a killed run"
            )
            rows.append({**row, "type": "partial", "problem": problem})
            continue
        if path.name.startswith("."):
            continue
        try:
            if (path / CV_FILE).is_file():
                row.update(_cv_row(path))
            elif (path / GROUP_FILE).is_file():
                row.update(_group_row(path))
            elif (path / RUN_FILE).is_file():
                row.update(_run_row(path))
            else:
                continue
        except (ParameterError, KeyError, TypeError, ValueError, AttributeError) as exc:
            row.update(type="broken", problem=str(exc) if isinstance(exc, ParameterError) else f"damaged ({exc!r})")
        rows.append(row)
    return rows


def _recipe_columns(sidecar: dict) -> dict:
    corpora = sidecar.get("corpora") or []
    return {
        "corpus": corpus_names(corpora, default="") or None,
        "features": sidecar["features"]["kind"],
        "augment": ",".join((sidecar.get("augment") or {}).get("recipes", [])) or "none",
        "model": sidecar["model"],
        "gender": sidecar["gender"],
        "normalize": sidecar.get("normalize", "global"),
        "seed": sidecar.get("seed"),
    }


def _score(data: dict, key: str, source: Path) -> float:
    """``data[key]`` as a score in [0, 1]; anything else makes the folder broken, naming the file and key."""
    value = data.get(key) if isinstance(data, dict) else None
    if not _is_number(value) or not 0 <= value <= 1:
        raise ParameterError(f"{source}: {key} is {_short(value)}, not a score")
    return float(value)


def _scores(report: dict, source: Path) -> dict:
    n_test = report.get("n_test")
    if n_test is not None and not (_is_int(n_test) and n_test >= 0):
        raise ParameterError(f"{source}: n_test is {_short(n_test)}, not a count")
    return {
        key: _score(report, name, source)
        for key, name in (("ua", "unweighted_accuracy"), ("wa", "weighted_accuracy"), ("macro_f1", "macro_f1"))
    } | {"n_test": n_test}


def _run_row(path: Path) -> dict:
    sidecar = read_sidecar(path)
    report = read_json(path / REPORT_FILE, what="report")
    return {
        "type": "run",
        **_recipe_columns(sidecar),
        "epochs": sidecar.get("epochs_run"),
        **_scores(report, path / REPORT_FILE),
        "date": sidecar.get("created", "")[:16].replace("T", " ") or None,
    }


def _cv_row(path: Path) -> dict:
    summary = read_json(path / CV_FILE, what="cross-validation")
    recipe = summary["recipe"]
    mean = summary["mean"]
    return {
        "type": f"cv{recipe['folds']}",
        "corpus": corpus_names(recipe.get("corpora"), default="") or None,
        "features": recipe["features"]["kind"],
        "augment": ",".join((recipe.get("augment") or {}).get("recipes", [])) or "none",
        "model": recipe["model"],
        "gender": recipe["gender"],
        "normalize": recipe["options"].get("normalize", "global"),
        "seed": recipe["options"].get("seed"),
        **_scores(mean, path / CV_FILE),
        "ua_std": _score(summary["std"], "unweighted_accuracy", path / CV_FILE),
        "n_test": sum(int(fold["n_test"]) for fold in summary["folds"]),
    }


def _group_row(path: Path) -> dict:
    group = read_json(path / GROUP_FILE, what="run group")
    mixed = path / group["runs"]["mixed"] if "mixed" in group["runs"] else path / next(iter(group["runs"].values()))
    row = _run_row(mixed)
    members = ", ".join(sorted(group["runs"]))
    return {**row, "type": "group", "gender": members}


def runs_table(rows: list[dict], *, sort: str = "date", format: str = "table") -> str:
    """The rows of `list_runs` as ``ser-keras runs`` prints them: a table, CSV (spreadsheet-safe) or JSON.

    ``sort``: ``date`` (newest first), ``ua``, ``wa``, ``macro_f1`` (best first) or ``run`` (by name).
    """
    import json

    import pandas as pd

    table = pd.DataFrame(rows, columns=list(LISTING_COLUMNS))
    table = table.sort_values(sort, ascending=sort == "run", na_position="last", kind="stable").reset_index(drop=True)
    if format == "json":
        records = table.astype(object).where(table.notna(), None).to_dict("records")
        return json.dumps(records, indent=2, default=lambda v: v.item() if hasattr(v, "item") else str(v))
    if format == "csv":
        from ..files import csv_safe

        return csv_safe(table).to_csv(index=False, float_format="%.4f").rstrip("\n")
    shown = table.copy()
    for column in ("ua", "wa", "macro_f1"):
        shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:.3f}")
    has_std = shown["ua_std"].notna()
    shown.loc[has_std, "ua"] = shown.loc[has_std, "ua"] + " ± " + table.loc[has_std, "ua_std"].map("{:.3f}".format)
    shown = shown.drop(columns=["ua_std"])
    for column in ("seed", "epochs", "n_test"):
        shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else str(int(v)))
    if shown["problem"].isna().all():
        shown = shown.drop(columns=["problem"])
    shown = shown.fillna("").astype(str)
    for column in ("run", "type", "corpus", "features", "augment", "model", "gender", "normalize", "problem"):
        if column in shown:  # text left-aligned, numbers right-aligned
            shown[column] = shown[column].str.ljust(max(shown[column].str.len().max(), len(column)))
    return shown.to_string(index=False, justify="left")
