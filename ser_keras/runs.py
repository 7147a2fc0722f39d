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


def load_run(run_dir: str | os.PathLike) -> tuple[dict, object]:
    """``(sidecar, model)`` of a run folder (a Keras model or a scikit-learn pipeline).

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
    if not keras_path.is_file():
        raise ParameterError(f"{run_dir}: no model file (model.keras or model.joblib); the run is incomplete")
    import keras

    from .models import layers  # noqa: F401  (registers the custom layers saved models use)

    try:
        return sidecar, keras.models.load_model(keras_path)
    except Exception as exc:  # noqa: BLE001 - a truncated zip, a missing layer: all mean a damaged file
        raise ParameterError(f"{keras_path}: damaged model file ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
