"""TensorFlow-free inference: a run's model as a LiteRT flatbuffer (``RUN/model.tflite``).

`ser_keras.serving.export.export_litert` converts the run's SavedModel ``serve`` signature (``features``
``(batch, *feature_shape)`` float32, already speaker-standardised for ``--normalize
speaker`` runs -> ``probabilities`` ``(batch, n_labels)``) with TensorFlow's LiteRT
converter, built-in operators only.  `LiteRTModel` runs it with the ``ai-edge-litert``
interpreter: importing this module, loading and running the model never import
TensorFlow, so a `ser_keras.serving.predict.Predictor` on a run that has ``model.tflite``
starts without TensorFlow (the features are the NumPy ones it computes anyway).

For kinds with a graph form (``stats``, ``frames``, ``mel``) the raw-waveform signature
is converted too, into ``RUN/waveform.tflite`` (features computed in the graph; equal to
the SavedModel's ``serving_default`` within 1e-4, tested), for apps that hold audio and
no Python feature code.  It does not refuse a silent clip: LiteRT drops the SavedModel's
assertion, so check the peak first (`ser_keras.signal.audio.SILENCE_PEAK`).  ``functionals``
has no graph form, so its runs get ``model.tflite`` only.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import ParameterError
from ..layout import LITERT_FILE, WAVEFORM_FILE  # noqa: F401  (named here for apps that import this module)

#: The SavedModel signature that is converted (feature arrays -> probabilities).
SIGNATURE = "serve"
#: Its signature for ``--normalize global`` and ``speaker`` runs (`ser_keras.serving.saved_model.export_saved_model`).
WAVEFORM_SIGNATURES = ("serve_waveform", "serve_speaker")


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
            raise ParameterError(
                "running model.tflite needs the 'ai-edge-litert' package (pip install ai-edge-litert)"
            ) from None
        from ..tflog import NOISE, filtered_native_stderr

        self.path = Path(path)
        try:  # the runtime announces its CPU delegate on file descriptor 2: drop that line, keep any other
            with filtered_native_stderr((*NOISE, "Created TensorFlow Lite XNNPACK delegate")):
                self._interpreter = Interpreter(model_path=str(self.path), num_threads=num_threads)
                self._interpreter.allocate_tensors()  # where the delegate is applied
                self._runner = self._interpreter.get_signature_runner(SIGNATURE)
        except (ValueError, RuntimeError) as exc:
            raise ParameterError(f"{self.path}: damaged LiteRT model ({str(exc).splitlines()[0]})") from None
        (self._input,) = self._runner.get_input_details()

    @property
    def n_outputs(self) -> int:
        """Probabilities per row (the number of labels the model was exported with)."""
        (details,) = self._runner.get_output_details().values()
        return int(details["shape"][-1])

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
