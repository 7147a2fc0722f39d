"""TensorFlow-free inference: a run's model as a LiteRT flatbuffer (``RUN/model.tflite``).

`ser_keras.serving.export.export_litert` converts the run's SavedModel ``serve`` signature (``features``
``(batch, *feature_shape)`` float32, already speaker-standardised for ``--normalize
speaker`` runs -> ``probabilities`` ``(batch, n_labels)``) with TensorFlow's LiteRT
converter, built-in operators only.  `LiteRTModel` runs it with the ``ai-edge-litert``
interpreter: importing this module, loading and running the model never import
TensorFlow, so a `ser_keras.serving.predict.Predictor` on a run that has ``model.tflite``
starts without TensorFlow (the features are the NumPy ones it computes anyway).

Every Keras run of a global normalisation also gets ``RUN/waveform.tflite``, converted from the
SavedModel's ``serve_padded`` signature: one clip of audio in (zero-padded to a fixed length, with
its length), the features computed in the graph, the probabilities and the input contract out
(`WaveformModel`; equal to the
SavedModel's ``serving_default`` and to the NumPy feature path within 1e-4, tested).  A
`ser_keras.serving.predict.Predictor` on such a run runs it and imports no feature code.  LiteRT
drops the SavedModel's assertions: check the peak (`ser_keras.signal.audio.SILENCE_PEAK`) and
the output ``sound_seconds`` yourself.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..errors import ParameterError
from ..layout import LITERT_FILE, WAVEFORM_FILE  # noqa: F401  (named here for apps that import this module)

#: The SavedModel signature that is converted (feature arrays -> probabilities).
SIGNATURE = "serve"
#: The waveform signature converted into ``waveform.tflite`` for ``--normalize global`` and ``speaker`` runs
#: (`ser_keras.serving.saved_model.export_saved_model`): one clip zero-padded to a fixed ``(1, length)`` with its
#: ``samples`` (every LiteRT runtime, LiteRT.js included, takes a fixed input), or one speaker's clips.
WAVEFORM_SIGNATURES = ("serve_padded", "serve_speaker")


def signature_runner(path: Path, signature: str, *, num_threads: int = 1):
    """The ``signature`` of a LiteRT file, run by ``ai-edge-litert`` (no TensorFlow).

    Raises
    ------
    ParameterError
        The runtime is not installed, or the file is not a model with that signature.
    """
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise ParameterError(
            f"running {path.name} needs the 'ai-edge-litert' package (pip install ai-edge-litert)"
        ) from None
    from ..tflog import NOISE, filtered_native_stderr

    try:  # the runtime announces its CPU delegate on file descriptor 2: drop that line, keep any other
        with filtered_native_stderr((*NOISE, "Created TensorFlow Lite XNNPACK delegate")):
            interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
            interpreter.allocate_tensors()  # where the delegate is applied
            return interpreter.get_signature_runner(signature)
    except (ValueError, RuntimeError) as exc:
        raise ParameterError(f"{path}: damaged LiteRT model ({str(exc).splitlines()[0]})") from None


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
        self.path = Path(path)
        self._runner = signature_runner(self.path, SIGNATURE, num_threads=num_threads)
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


class WaveformModel:
    """A run's ``waveform.tflite``: one clip of audio in, its emotion out, no feature code and no TensorFlow.

    The file holds everything an app needs: its ``contract`` output is UTF-8 JSON of the labels,
    the sample rate, the input range and the clip lengths it scores
    (`ser_keras.serving.saved_model.CLIP_OUTPUTS`), read here into `contract`.

    Parameters
    ----------
    path : path
        ``RUN/waveform.tflite`` of a global run (signature ``serve_padded``).
    num_threads : int
        Interpreter threads.
    """

    def __init__(self, path: str | os.PathLike, *, num_threads: int = 1):
        self.path = Path(path)
        self._runner = signature_runner(self.path, WAVEFORM_SIGNATURES[0], num_threads=num_threads)
        try:
            (details,) = [d for name, d in self._runner.get_input_details().items() if name == "waveform"]
            self.length = int(details["shape"][1])
            described = self._run(np.zeros(4096, np.float32))
            self.contract = json.loads(bytes(np.asarray(described["contract"], dtype=np.uint8)).decode())
        except (ValueError, RuntimeError, KeyError) as exc:
            raise ParameterError(f"{self.path}: damaged LiteRT model ({str(exc).splitlines()[0]})") from None
        self.labels = list(self.contract["labels"])
        self.sr = int(self.contract["sample_rate"])
        self.shortest, self.longest = (float(s) for s in self.contract["seconds_range"])

    def _run(self, waveform: np.ndarray) -> dict:
        """The signature on ``waveform`` zero-padded to `length` (longer clips: their first `length` samples)."""
        padded = np.zeros((1, self.length), np.float32)
        n = min(len(waveform), self.length)
        padded[0, :n] = waveform[:n]
        return self._runner(waveform=padded, samples=np.array([n], np.int32))

    def __call__(self, waveform: np.ndarray) -> dict:
        """The outputs for one clip.

        Parameters
        ----------
        waveform : np.ndarray [shape=(n,), dtype=float32]
            Mono, at `sr`, in ``[-1, 1]``.

        Returns
        -------
        outputs : dict
            ``probabilities`` ``(n_labels,)`` float32 and ``sound_seconds`` (float).
        """
        outputs = self._run(np.asarray(waveform, dtype=np.float32))
        probabilities = np.asarray(outputs["probabilities"][0])
        return {"probabilities": probabilities, "sound_seconds": float(outputs["sound_seconds"][0])}
