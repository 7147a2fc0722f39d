"""A run folder's life: its name, its build in a hidden staging folder, its atomic publish, its load.

Train, cross-validation, evaluate, predict and the app all go through this module, so a
run folder means one thing everywhere:

* **Names are unique.**  `run_name` joins the recipe (features, model, gender, seed) with
  the time it started; `publish` adds ``-2``, ``-3`` ... when that name is taken, so no
  run ever replaces another, whatever ``--out`` or the options.
* **A run is built out of sight.**  `Staged` creates ``<out>/.<name>.partial-<id>/``,
  lets the caller write into it, and on success renames it to ``<out>/<name>`` in one
  ``os.rename``.  A failure or Ctrl-C removes the staging folder (it is ours); a
  ``kill -9`` leaves only a hidden ``.partial-`` folder, which is never taken for a run.
* **Loading checks what it reads.**  `load_run` refuses a folder without a readable,
  complete ``run.json`` or with a missing or unreadable model, naming the file.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path

from .corpora import corpus_names
from .errors import ParameterError

RUN_FILE = "run.json"
#: A ``--gender all`` training writes this file into its group folder.
GROUP_FILE = "group.json"
#: ``ser-keras cv`` writes this file into its folder.
CV_FILE = "cv.json"
#: Keys every ``run.json`` has; a file without them is a damaged run.
RUN_KEYS = ("model", "gender", "labels", "features")
PARTIAL_MARK = ".partial-"


def run_name(*parts: object, started: float | None = None) -> str:
    """``part1-part2-...-YYYYmmdd-HHMMSS``: the recipe and the local start time.

    Examples
    --------
    >>> run_name("stats", "conv1d", "mixed", "seed0", started=0)[:26]
    'stats-conv1d-mixed-seed0-1'
    """
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() if started is None else started))
    return "-".join([*(str(p) for p in parts), stamp])


def check_out_dir(out_dir: str | os.PathLike, *, create: bool = True) -> Path:
    """``out_dir`` as a folder runs can be written into (created if missing and ``create``).

    Called where the option is parsed, so a bad ``--out`` fails before any work.

    Raises
    ------
    ParameterError
        It (or a parent) is a file, or the folder (or the existing parent that would
        hold it) is not writable.
    """
    out = Path(out_dir)
    existing = next((p for p in (out, *out.parents) if p.exists()), Path("."))
    if not existing.is_dir():
        raise ParameterError(f"{out}: cannot hold runs, {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ParameterError(f"{out}: permission denied ({existing} is not writable)")
    if create:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ParameterError(f"{out}: cannot create the output folder ({exc.strerror or exc})") from None
    return out


def check_output_file(path: str | os.PathLike, *, suffixes: tuple[str, ...]) -> Path:
    """An output file path whose folder exists and is writable and whose extension is known.

    Raises
    ------
    ParameterError
        Unknown extension, missing folder, a folder that is a file, or no write permission.
    """
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise ParameterError(f"{path}: unknown output type {path.suffix or '(none)'!r}; use {' or '.join(suffixes)}")
    parent = path.parent
    if path.is_dir():
        raise ParameterError(f"{path}: is a folder, not a file")
    if not parent.exists():
        raise ParameterError(f"{path}: folder {parent} not found")
    if not parent.is_dir():
        raise ParameterError(f"{path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ParameterError(f"{path}: permission denied")
    return path


class Staged:
    """A run folder under construction.

    Examples
    --------
    >>> with Staged("models", run_name("stats", "conv1d", "mixed", "seed0")) as run:  # doctest: +SKIP
    ...     (run.staging / "run.json").write_text("{}")
    >>> run.path  # doctest: +SKIP
    PosixPath('models/stats-conv1d-mixed-seed0-20261121-101500')
    """

    def __init__(self, out_dir: str | os.PathLike, name: str):
        self.out_dir = check_out_dir(out_dir)
        self.name = name
        self.staging = self.out_dir / f".{name}{PARTIAL_MARK}{uuid.uuid4().hex[:8]}"
        self.path: Path | None = None

    def __enter__(self) -> Staged:
        self.staging.mkdir()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            shutil.rmtree(self.staging, ignore_errors=True)  # ours alone: nothing published is touched
            return
        self.path = publish(self.staging, self.out_dir, self.name)


def publish(staging: Path, out_dir: Path, name: str) -> Path:
    """Rename ``staging`` to ``out_dir/name`` (or ``name-2``, ``name-3`` ... when taken); never overwrites."""
    for attempt in range(1, 1000):
        final = out_dir / (name if attempt == 1 else f"{name}-{attempt}")
        if final.exists() or final.is_symlink():
            continue
        try:
            os.rename(staging, final)  # atomic; fails on a non-empty folder that appeared meanwhile
        except OSError:
            if final.exists():
                continue
            raise
        return final
    raise ParameterError(f"{out_dir}: could not find a free name for run {name}")


def published_name(path: str | os.PathLike) -> str:
    """The name a folder has (or will have once `Staged` publishes it): ``.NAME.partial-ID`` -> ``NAME``."""
    name = Path(path).name
    if name.startswith(".") and PARTIAL_MARK in name:
        return name[1:].rsplit(PARTIAL_MARK, 1)[0].rstrip(".")
    return name


def is_partial(path: Path) -> bool:
    """A staging folder of an unfinished (or killed) run."""
    return path.name.startswith(".") and PARTIAL_MARK in path.name


def find_runs(models_dir: str | os.PathLike) -> list[Path]:
    """Published run folders (and ``--gender all`` groups) under ``models_dir``, newest first.

    Hidden folders, staging folders of unfinished runs among them, are never listed.
    """
    root = Path(models_dir)
    if not root.is_dir():
        return []
    found = {p.parent for name in (RUN_FILE, GROUP_FILE) for p in root.rglob(name)}
    visible = [p for p in found if not any(part.startswith(".") for part in p.relative_to(root).parts)]
    return sorted(visible, key=lambda p: p.stat().st_mtime, reverse=True)


def read_json(path: Path, *, what: str) -> dict:
    """A JSON object from ``path``; a missing, unreadable or truncated file is a `ParameterError` naming it."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ParameterError(f"{path}: not found (not a {what}?)") from None
    except PermissionError:
        raise ParameterError(f"{path}: permission denied") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParameterError(f"{path}: damaged {what} file ({exc})") from None
    if not isinstance(data, dict):
        raise ParameterError(f"{path}: damaged {what} file (not a JSON object)")
    return data


def read_sidecar(run_dir: str | os.PathLike) -> dict:
    """The checked ``run.json`` of a run folder."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ParameterError(f"{run_dir}: run folder not found")
    sidecar = read_json(run_dir / RUN_FILE, what="run")
    missing = [key for key in RUN_KEYS if key not in sidecar]
    if missing:
        raise ParameterError(f"{run_dir / RUN_FILE}: incomplete run file (missing {', '.join(missing)})")
    return sidecar


def load_joblib(path: str | os.PathLike) -> object:
    """A scikit-learn model saved with joblib (a run's model, a group's gender classifier).

    Raises
    ------
    ParameterError
        Missing or damaged (truncated, not a pickle), naming the file.
    """
    import joblib

    if not Path(path).is_file():
        raise ParameterError(f"{path}: model file not found")
    try:
        return joblib.load(path)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a damaged file
        raise ParameterError(f"{path}: damaged model file ({type(exc).__name__}: {exc})") from None


def load_run(run_dir: str | os.PathLike, *, litert: bool = False) -> tuple[dict, object]:
    """``(sidecar, model)`` of a run folder (a Keras model or a scikit-learn pipeline).

    With ``litert``, a Keras run that has a ``model.tflite`` (``ser-keras export``) is
    loaded as a `ser_keras.litert.LiteRTModel` instead, without importing TensorFlow.

    Raises
    ------
    ParameterError
        No or a damaged ``run.json``, or a missing or unreadable model file; the message names the file.
    """
    run_dir = Path(run_dir)
    sidecar = read_sidecar(run_dir)
    joblib_path, keras_path = run_dir / "model.joblib", run_dir / "model.keras"
    if joblib_path.is_file():
        return sidecar, load_joblib(joblib_path)
    from .litert import LITERT_FILE, LiteRTModel

    if litert and (run_dir / LITERT_FILE).is_file():
        return sidecar, LiteRTModel(run_dir / LITERT_FILE)
    if not keras_path.is_file():
        raise ParameterError(f"{run_dir}: no model file (model.keras or model.joblib); the run is incomplete")
    import keras

    from .models import layers  # noqa: F401  (registers the custom layers saved models use)

    try:
        return sidecar, keras.models.load_model(keras_path)
    except Exception as exc:  # noqa: BLE001 - a truncated zip, a missing layer: all mean a damaged file
        raise ParameterError(f"{keras_path}: damaged model file ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None


def feature_set_of(run_dir: str | os.PathLike, sidecar: dict) -> Path:
    """The feature set a run was trained on: beside the run as recorded (``features/`` and ``models/``
    moved together), else at the absolute path it had.

    Raises
    ------
    ParameterError
        Neither exists; the message names both.
    """
    relative = sidecar.get("feature_set_relative")
    if relative is not None and (Path(run_dir) / relative).is_dir():
        return Path(run_dir) / relative
    if Path(sidecar["feature_set"]).is_dir():
        return Path(sidecar["feature_set"])
    where = f"{Path(run_dir) / relative} or " if relative else ""
    raise ParameterError(f"{Path(run_dir) / RUN_FILE}: its feature set is gone ({where}{sidecar['feature_set']}); "
                         "extract it again with the run's options")  # fmt: skip


#: Columns of `list_runs`, in order.
LISTING_COLUMNS = ("run", "type", "corpus", "features", "augment", "model", "gender", "normalize", "seed", "epochs",
                   "ua", "ua_std", "wa", "macro_f1", "n_test", "date", "problem")  # fmt: skip


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
            rows.append({**row, "type": "partial", "problem": "being built, or left by a killed run"})
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
        except (ParameterError, KeyError, TypeError, ValueError) as exc:
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


def _scores(report: dict) -> dict:
    return {"ua": report["unweighted_accuracy"], "wa": report["weighted_accuracy"], "macro_f1": report["macro_f1"],
            "n_test": report.get("n_test")}  # fmt: skip


def _run_row(path: Path) -> dict:
    sidecar = read_sidecar(path)
    report = read_json(path / "report.json", what="report")
    return {"type": "run", **_recipe_columns(sidecar), "epochs": sidecar.get("epochs_run"), **_scores(report),
            "date": sidecar.get("created", "")[:16].replace("T", " ") or None}  # fmt: skip


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
        "ua": mean["unweighted_accuracy"],
        "ua_std": summary["std"]["unweighted_accuracy"],
        "wa": mean["weighted_accuracy"],
        "macro_f1": mean["macro_f1"],
        "n_test": sum(fold["n_test"] for fold in summary["folds"]),
    }


def _group_row(path: Path) -> dict:
    group = read_json(path / GROUP_FILE, what="run group")
    mixed = path / group["runs"]["mixed"] if "mixed" in group["runs"] else path / next(iter(group["runs"].values()))
    row = _run_row(mixed)
    members = ", ".join(sorted(group["runs"]))
    return {**row, "type": "group", "gender": members}
