"""TensorFlow-free inference: a run's model as a LiteRT flatbuffer (``RUN/model.tflite``).

`export_litert` converts the run's SavedModel ``serve`` signature (``features``
``(batch, *feature_shape)`` float32, already speaker-standardised for ``--normalize
speaker`` runs -> ``probabilities`` ``(batch, n_labels)``) with TensorFlow's LiteRT
converter, built-in operators only.  `LiteRTModel` runs it with the ``ai-edge-litert``
interpreter: importing this module, loading and running the model never import
TensorFlow, so a `ser_keras.predict.Predictor` on a run that has ``model.tflite``
starts without TensorFlow (the features are the NumPy ones it computes anyway).

The raw-waveform signature (features in the graph) is not converted here: the
`functionals` default has no graph form, and for the other kinds the NumPy features
feed the same model.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .errors import ParameterError

#: The LiteRT model beside a run's ``model.keras``.
LITERT_FILE = "model.tflite"
#: The SavedModel signature that is converted (feature arrays -> probabilities).
SIGNATURE = "serve"


def export_litert(run_dir: str | os.PathLike) -> Path:
    """Convert a run's SavedModel to ``RUN/model.tflite`` (written atomically) and return its path.

    Raises
    ------
    ParameterError
        The run has no ``saved_model/`` (scikit-learn runs other than ``logreg``), or the
        converter refuses it; the message names the folder.
    """
    import tensorflow as tf

    from .runs import read_sidecar

    run_dir = Path(run_dir)
    read_sidecar(run_dir)  # a run folder, not just any folder
    saved = run_dir / "saved_model"
    if not (saved / "saved_model.pb").is_file():
        raise ParameterError(f"{run_dir}: no saved_model/ to convert (only Keras and logreg runs export one)")
    try:
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved), signature_keys=[SIGNATURE])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        flatbuffer = converter.convert()
    except Exception as exc:  # noqa: BLE001 - the converter raises several kinds; all mean "cannot convert"
        raise ParameterError(f"{saved}: LiteRT conversion failed ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
    from .extract import atomic_write_bytes

    target = run_dir / LITERT_FILE
    atomic_write_bytes(target, flatbuffer)
    return target


class LiteRTModel:
    """A run's ``model.tflite`` behind the interpreter of ``ai-edge-litert`` (no TensorFlow).

    Parameters
    ----------
    path : path
        The ``.tflite`` file written by `export_litert`.
    num_threads : int
        Interpreter threads.
    """

    def __init__(self, path: str | os.PathLike, *, num_threads: int = 1):
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise ParameterError("running model.tflite needs the 'ai-edge-litert' package (pip install ai-edge-litert)") from None
        from .tflog import NOISE, filtered_native_stderr

        self.path = Path(path)
        try:  # the runtime announces its CPU delegate on file descriptor 2: drop that line, keep any other
            with filtered_native_stderr((*NOISE, "Created TensorFlow Lite XNNPACK delegate")):
                self._interpreter = Interpreter(model_path=str(self.path), num_threads=num_threads)
                self._interpreter.allocate_tensors()  # where the delegate is applied
                self._runner = self._interpreter.get_signature_runner(SIGNATURE)
        except (ValueError, RuntimeError) as exc:
            raise ParameterError(f"{self.path}: damaged LiteRT model ({str(exc).splitlines()[0]})") from None
        (self._input,) = self._runner.get_input_details()

    def probabilities(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities of feature rows.

        Parameters
        ----------
        X : np.ndarray [shape=(n, *feature_shape)]

        Returns
        -------
        probabilities : np.ndarray [shape=(n, n_labels), dtype=float32]
        """
        outputs = self._runner(**{self._input: np.ascontiguousarray(X, dtype=np.float32)})
        (probabilities,) = outputs.values()
        return np.asarray(probabilities)
