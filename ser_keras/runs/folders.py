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
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..data.emotions import CANONICAL_EMOTIONS
from ..errors import ParameterError, SerError
from ..files import disk_full, is_disk_full, read_text, remove_temporaries
from ..layout import (
    ESTIMATOR_FILE,
    GROUP_FILE,
    KERAS_MODEL_FILE,
    LITERT_FILE,
    PICKLE_FILES,
    RUN_FILE,
    TYPICALITY_FILE,
)
from .model_files import PICKLE_REFUSAL, load_estimator, load_keras_model

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

    def __init__(
        self,
        out_dir: str | os.PathLike,
        name: str,
        *,
        resume: Path | None = None,
        keep: Callable[[], bool] | None = None,
    ):
        """``resume``: an earlier staging folder of ours to carry on in; ``keep``: asked on failure,
        True keeps the staging folder for a later ``resume`` (else it is removed)."""
        self.out_dir = check_out_dir(out_dir)
        self.name = name
        self.staging = resume or self.out_dir / f".{name}{PARTIAL_MARK}{uuid.uuid4().hex[:8]}"
        self.resumed = resume is not None
        self.keep = keep
        self.path: Path | None = None

    def __enter__(self) -> Staged:
        if not self.resumed:
            self.staging.mkdir()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            if self.keep is None or not self.keep():
                shutil.rmtree(self.staging, ignore_errors=True)  # ours alone: nothing published is touched
            if isinstance(exc, Exception) and not isinstance(exc, SerError) and is_disk_full(exc):
                raise disk_full(self.out_dir / self.name) from None  # TensorFlow's and h5py's errors name no file
            return
        self.path = publish(self.staging, self.out_dir, self.name)


def publish(staging: Path, out_dir: Path, name: str) -> Path:
    """Rename ``staging`` to ``out_dir/name`` (or ``name-2``, ``name-3`` ... when taken); never overwrites.

    Temporaries that a killed writer left in it (a resumed run's) are removed first.
    """
    remove_temporaries(staging)
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


#: The largest JSON file of a run folder that is read (``run.json`` and ``report.json`` are a few kB).
MAX_JSON_BYTES = 16 * 1024 * 1024


def read_json(path: Path, *, what: str) -> dict:
    """A JSON object from ``path``; a missing, unreadable, non-regular or truncated file is a
    `ParameterError` naming it (a FIFO is refused before it is opened)."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise ParameterError(f"{path}: not found (not a {what}?)")
    text = read_text(path, what=f"{what} file", limit=MAX_JSON_BYTES)
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ParameterError(f"{path}: damaged {what} file ({exc})") from None
    if not isinstance(data, dict):
        raise ParameterError(f"{path}: damaged {what} file (not a JSON object)")
    return data


def read_sidecar(run_dir: str | os.PathLike) -> dict:
    """The checked ``run.json`` of a run folder (`validate_sidecar`)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ParameterError(f"{run_dir}: run folder not found")
    sidecar = read_json(run_dir / RUN_FILE, what="run")
    missing = [key for key in RUN_KEYS if key not in sidecar]
    if missing:
        raise ParameterError(f"{run_dir / RUN_FILE}: incomplete run file (missing {', '.join(missing)})")
    try:
        validate_sidecar(sidecar)
    except ParameterError as exc:
        raise ParameterError(f"{run_dir / RUN_FILE}: {exc}") from None
    return sidecar


def _is_text(value) -> bool:
    return isinstance(value, str)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _text_list(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _optional(check):
    return lambda value: value is None or check(value)


#: Every key a ``run.json`` may hold, with the check of its value.  Keys not listed are refused.
SIDECAR_FIELDS = {
    "package_version": _is_text,
    "library_versions": lambda v: isinstance(v, dict),
    "model": _is_text,
    "gender": lambda v: v in ("mixed", "male", "female"),
    "normalize": lambda v: v in ("global", "speaker", "corpus"),
    "labels": _text_list,
    "features": lambda v: isinstance(v, dict),
    "feature_set": _is_text,
    "feature_set_relative": _optional(_is_text),
    "feature_fingerprint": _optional(_is_text),
    "corpora": _text_list,
    "created": _is_text,
    "augment": _optional(lambda v: isinstance(v, dict)),
    "split": _optional(lambda v: isinstance(v, dict)),
    "speakers": lambda v: isinstance(v, dict) and all(_text_list(s) for s in v.values()),
    "n": lambda v: isinstance(v, dict) and all(_is_int(c) and c >= 0 for c in v.values()),
    "seed": _is_int,
    "options": lambda v: isinstance(v, dict),
    "training_seconds": _is_number,
    "strategy": _optional(_is_text),
    "replicas": _is_int,
    "global_batch_size": _is_int,
    "epochs_run": _is_int,
    "best_epoch": _is_int,
    "ensemble": _optional(lambda v: isinstance(v, dict)),
    "mean_epoch_seconds": _is_number,
    "log_power_columns": _optional(lambda v: isinstance(v, list)),
    "normalization": _is_text,
    "fitted_on": _is_text,
    "train_augmentation": lambda v: isinstance(v, dict),
    "fusion": lambda v: isinstance(v, dict),
    "input_range": lambda v: isinstance(v, dict) and _is_number(v.get("shortest_sound_seconds")),
    "calibration": lambda v: (
        isinstance(v, dict)
        and _optional(lambda t: _is_number(t) and t > 0)(v.get("temperature"))
        and _is_number(v.get("min_confidence", 0.0))
        and 0 <= v.get("min_confidence", 0.0) <= 1
    ),
}


def validate_sidecar(sidecar: dict) -> None:
    """Check a ``run.json`` once, at load: known keys, the type of each, and a coherent whole.

    Raises
    ------
    ParameterError
        The first problem, naming the field (``labels``, ``features.sr``, ``normalize`` ...).
    """
    from ..features.config import FeatureConfig
    from ..models import model_names

    for key, value in sidecar.items():
        check = SIDECAR_FIELDS.get(key)
        if check is None:
            raise ParameterError(f"unknown field {key!r}")
        if not check(value):
            raise ParameterError(f"{key}: unexpected value {_short(value)}")
    if sidecar["model"] not in model_names():
        raise ParameterError(f"model: unknown model {sidecar['model']!r}")
    labels = sidecar["labels"]
    if not labels or any(label not in CANONICAL_EMOTIONS for label in labels):  # nothing else reaches a page
        raise ParameterError(f"labels: expected names among {', '.join(CANONICAL_EMOTIONS)}, got {_short(labels)}")
    duplicated = sorted({label for label in labels if labels.count(label) > 1})
    if duplicated:
        raise ParameterError(f"labels: {', '.join(duplicated)} listed twice")
    FeatureConfig.from_dict(sidecar["features"])
    options = sidecar.get("options", {})
    for key in ("model", "seed", "normalize"):  # repeated inside options: they must agree
        if key in options and key in sidecar and options[key] != sidecar[key]:
            raise ParameterError(f"options.{key}: {options[key]!r} differs from {key} {sidecar[key]!r}")


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_model_outputs(sidecar: dict, model, *, source: Path) -> None:
    """Refuse a model (from the file ``source``) whose number of outputs differs from ``run.json``'s labels."""
    where = source.parent / RUN_FILE
    n_labels = len(sidecar["labels"])
    outputs = None
    if hasattr(model, "output_shape") and not hasattr(model, "predict_proba"):
        shape = model.output_shape
        outputs = shape[-1] if isinstance(shape, tuple) else None
    elif hasattr(model, "n_outputs"):
        outputs = model.n_outputs
    elif hasattr(model, "classes_"):
        classes = model.classes_
        if len(classes) and int(max(classes)) >= n_labels:
            raise ParameterError(
                f"{where}: labels has {n_labels} names, but {source.name} predicts class {int(max(classes))}"
            )
        return
    if outputs is not None and outputs != n_labels:
        raise ParameterError(f"{where}: labels has {n_labels} names, but {source.name} gives {outputs} probabilities")


def refuse_pickle(run_dir: Path) -> None:
    """Refuse a run folder whose model is a pickle (which runs code when loaded), naming it."""
    for name in PICKLE_FILES:
        if (run_dir / name).exists():
            raise ParameterError(f"{run_dir / name}: {PICKLE_REFUSAL}")


def n_features_of(config, *, time_averaged: bool = False) -> int:
    """Columns of a flattened feature row of ``config`` (or of its time average, as the gender classifier takes)."""
    shape = list(config.output_shape())
    axis = config.kind_spec.time_axis
    if time_averaged and axis is not None:
        del shape[axis]
    return int(np.prod(shape))


def load_typicality(run_dir: str | os.PathLike, features):
    """A run's ``typicality.npz`` (`ser_keras.models.typicality.Typicality`), checked against its ``features``
    (a `ser_keras.features.config.FeatureConfig`); None when the run has none or its kind has no utterance features.

    Raises
    ------
    ParameterError
        The file is too large, damaged or does not fit the run (`ser_keras.models.typicality.Typicality.load`).
    """
    from ..models.typicality import Typicality, utterance_columns

    path, n_columns = Path(run_dir) / TYPICALITY_FILE, utterance_columns(features)
    if n_columns is None or not path.is_file():
        return None
    return Typicality.load(path, n_columns=n_columns)


def load_run(run_dir: str | os.PathLike, *, litert: bool = False) -> tuple[dict, object]:
    """``(sidecar, model)`` of a run folder (a Keras model or a scikit-learn pipeline).

    With ``litert``, a run that has a ``model.tflite`` (``ser-keras export``) is loaded as a
    `ser_keras.runs.litert.LiteRTModel` instead, without importing TensorFlow.  Nothing in a
    run folder is unpickled: scikit-learn models are skops files (`load_estimator`), Keras
    models load in safe mode (`load_keras_model`), and the number of the model's outputs
    must match ``run.json``'s labels.

    Raises
    ------
    ParameterError
        No or a damaged ``run.json``, a missing, unreadable, untrusted or mismatched model
        file, or a pickle; the message names the file.
    """
    run_dir = Path(run_dir)
    sidecar = read_sidecar(run_dir)
    from ..features.config import FeatureConfig
    from .litert import LiteRTModel

    estimator_path, keras_path, litert_path = (
        run_dir / ESTIMATOR_FILE,
        run_dir / KERAS_MODEL_FILE,
        run_dir / LITERT_FILE,
    )
    if litert and litert_path.is_file():
        model, source = LiteRTModel(litert_path), litert_path
    elif estimator_path.exists():
        model = load_estimator(
            estimator_path,
            model=sidecar["model"],
            n_features=n_features_of(FeatureConfig.from_dict(sidecar["features"])),
            n_labels=len(sidecar["labels"]),
            n_rows=sum(sidecar.get("n", {}).values()),
        )
        source = estimator_path
    elif keras_path.exists():
        model, source = load_keras_model(keras_path), keras_path
    else:
        refuse_pickle(run_dir)
        raise ParameterError(f"{run_dir}: no model file (model.keras or {ESTIMATOR_FILE}); the run is incomplete")
    check_model_outputs(sidecar, model, source=source)
    return sidecar, model


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
    raise ParameterError(
        f"{Path(run_dir) / RUN_FILE}: its feature set is gone ({where}{sidecar['feature_set']}); "
        "extract it again with the run's options"
    )
