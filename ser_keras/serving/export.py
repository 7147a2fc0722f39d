"""``ser-keras export``: a run's SavedModel as LiteRT files, and the check that they answer as the run does.

The run's SavedModel ``serve`` signature (feature arrays -> probabilities) becomes
``RUN/model.tflite``; its waveform signature becomes ``RUN/waveform.tflite`` (raw audio in),
with a conformance kit for ports (`ser_keras.serving.conformance`) beside it for global runs.
All are written atomically beside the run's model; nothing the run already holds is changed.
See `ser_keras.runs.litert` for running them without TensorFlow.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import ParameterError
from ..extraction.normalize import transductive
from ..layout import LITERT_FILE, SAVED_MODEL_DIR, WAVEFORM_FILE
from ..runs.litert import SIGNATURE, WAVEFORM_SIGNATURES, LiteRTModel

#: Rows the export check compares at most.
CHECK_ROWS = 64


def export_litert(run_dir: str | os.PathLike, *, rebuild: bool = False) -> Path:
    """Convert a run's SavedModel to ``RUN/model.tflite`` (written atomically) and return its path.

    Every run of a kind with a graph form (all kinds) also gets ``RUN/waveform.tflite``:
    ``serve_padded`` for global runs (one clip in, zero-padded to a fixed length, and its
    length; the probabilities and the input contract out) and ``RUN/conformance/``, or
    ``serve_speaker`` for speaker runs.

    With ``rebuild``, ``RUN/saved_model/`` is first written again from the run's model with this
    version's graph form (`write_saved_model`): a run trained by this version of ser-keras gets the
    graph of the version installed, its weights unchanged.

    Raises
    ------
    ParameterError
        The run has no ``saved_model/`` (scikit-learn runs other than ``logreg``, whose
        SavedModel is made here first), or the converter refuses it; with ``rebuild``, the
        run was trained by another version (its features may be defined otherwise) or has no
        Keras model; the message names the folder.
    """
    from ..features.config import FeatureConfig
    from ..files import atomic_write_bytes
    from ..runs.folders import read_sidecar

    run_dir = Path(run_dir)
    sidecar = read_sidecar(run_dir)
    saved = run_dir / SAVED_MODEL_DIR
    if rebuild:
        if sidecar.get("package_version") != __version__:
            raise ParameterError(
                f"{run_dir}: trained by ser-keras {sidecar.get('package_version', '?')}, not {__version__}: its "
                "features may be defined otherwise than this version's graph computes them (export without --rebuild)"
            )
        write_saved_model(run_dir, sidecar)
    elif not (saved / "saved_model.pb").is_file() and _has_keras_equivalent(sidecar):
        write_saved_model(run_dir, sidecar)
    if not (saved / "saved_model.pb").is_file():
        raise ParameterError(f"{run_dir}: no saved_model/ to convert (only Keras and logreg runs export one)")
    if FeatureConfig.from_dict(sidecar["features"]).kind_spec.graph is not None:  # the run has a waveform signature
        waveform = WAVEFORM_SIGNATURES[transductive(sidecar.get("normalize"))]
        atomic_write_bytes(run_dir / WAVEFORM_FILE, _convert(saved, waveform))
        if not transductive(sidecar.get("normalize")):
            from .conformance import write_conformance_kit

            write_conformance_kit(run_dir)
    target = run_dir / LITERT_FILE
    atomic_write_bytes(target, _convert(saved, SIGNATURE))
    return target


def _has_keras_equivalent(sidecar: dict) -> bool:
    from ..features.config import FeatureConfig
    from ..models import get_spec

    layout = FeatureConfig.from_dict(sidecar["features"]).kind_spec.layout
    return get_spec(sidecar["model"]).keras_equivalent and layout == "vector"


def write_saved_model(run_dir: Path, sidecar: dict) -> Path:
    """Write ``RUN/saved_model/`` from the run's model, with its thresholds, labels and typicality.

    A Keras run's ``model.keras`` (its calibration inside), or for a scikit-learn run with an equal
    Keras model (``logreg``, whose training never imports TensorFlow) that model
    (`ser_keras.models.baselines.logistic_to_keras`).  Built in a staging folder inside the run and
    renamed into place over the old one.

    Raises
    ------
    ParameterError
        A scikit-learn run without an equal Keras model.
    """
    import shutil
    import uuid

    from ..features.config import FeatureConfig
    from ..models import get_spec
    from ..models.baselines import logistic_to_keras
    from ..runs.folders import load_run, load_typicality
    from .saved_model import export_saved_model

    keras_run = get_spec(sidecar["model"]).backend == "keras"
    if not keras_run and not _has_keras_equivalent(sidecar):
        raise ParameterError(f"{run_dir}: a {sidecar['model']} run has no Keras model to export")
    _, model = load_run(run_dir)
    if not keras_run:
        model = logistic_to_keras(model, n_labels=len(sidecar["labels"]))
    config = FeatureConfig.from_dict(sidecar["features"])
    calibration = sidecar.get("calibration") or {}
    staging = run_dir / f".{SAVED_MODEL_DIR}.{uuid.uuid4().hex[:8]}.partial"
    old = run_dir / f".{SAVED_MODEL_DIR}.{uuid.uuid4().hex[:8]}.old"
    try:
        export_saved_model(
            model,
            staging,
            config=config,
            labels=sidecar["labels"],
            normalize=sidecar.get("normalize", "global"),
            min_confidence=calibration.get("min_confidence", 0.0),
            typicality=load_typicality(run_dir, config),
            max_distance=calibration.get("max_distance"),
        )
        if (run_dir / SAVED_MODEL_DIR).exists():
            os.rename(run_dir / SAVED_MODEL_DIR, old)
        os.rename(staging, run_dir / SAVED_MODEL_DIR)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return run_dir / SAVED_MODEL_DIR


def _convert(saved: Path, signature: str) -> bytes:
    """One SavedModel signature as a LiteRT flatbuffer (built-in operators only)."""
    import tensorflow as tf

    try:
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved), signature_keys=[signature])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        return converter.convert()
    except Exception as exc:  # noqa: BLE001 - the converter raises several kinds; all mean "cannot convert"
        raise ParameterError(
            f"{saved}: LiteRT conversion of {signature} failed ({type(exc).__name__}: {str(exc).splitlines()[0]})"
        ) from None


def check_litert(run_dir: str | os.PathLike, target: str | os.PathLike) -> tuple[float, int, str]:
    """The largest probability difference between ``target`` (a LiteRT file) and the run's own model.

    Compared on up to `CHECK_ROWS` of the run's test rows, or, when its feature set is gone
    (or it is a cv fold, which has no test split), on zero rows of the input's shape.

    Returns
    -------
    gap : float
    n_rows : int
    what : str
        ``"test clips"`` or ``"zero rows"``.
    """
    from ..extraction.extract import FeatureSet
    from ..features.config import FeatureConfig
    from ..runs.folders import feature_set_of, load_run
    from ..runs.inference import predict_probabilities

    sidecar, model = load_run(run_dir)
    try:
        X = np.asarray(FeatureSet(feature_set_of(run_dir, sidecar)).arrays("test")[0][:CHECK_ROWS])
        what = "test clips"
    except ParameterError:  # the feature set is gone
        X = np.zeros((0,))
    if not len(X):
        X, what = np.zeros((2, *FeatureConfig.from_dict(sidecar["features"]).output_shape()), np.float32), "zero rows"
    gap = float(np.abs(LiteRTModel(target).probabilities(X) - predict_probabilities(model, X)).max())
    return gap, len(X), what
