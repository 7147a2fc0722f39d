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

from ..data.emotions import CANONICAL_EMOTIONS
from ..errors import ParameterError
from ..layout import LITERT_FILE, WAVEFORM_FILE  # noqa: F401  (named here for apps that import this module)

#: The SavedModel signature that is converted (feature arrays -> probabilities).
SIGNATURE = "serve"
#: The waveform signature converted into ``waveform.tflite`` for ``--normalize global`` and ``speaker`` runs
#: (`ser_keras.serving.saved_model.export_saved_model`): one clip zero-padded to a fixed ``(1, length)`` with its
#: ``samples`` (every LiteRT runtime, LiteRT.js included, takes a fixed input), or one speaker's clips.
WAVEFORM_SIGNATURES = ("serve_padded", "serve_speaker")


#: The largest LiteRT file that is opened (the shipped ``waveform.tflite`` is a few MB).
MAX_LITERT_BYTES = 256 * 1024 * 1024
#: The largest ``contract`` output that is decoded (the shipped one is under 1 kB).
MAX_CONTRACT_BYTES = 64 * 1024
#: The longest fixed input of a waveform signature, in samples (10 minutes at 48 kHz).
MAX_WAVEFORM_SAMPLES = 600 * 48_000


def check_flatbuffer(path: Path) -> bytes:
    """The bytes of a LiteRT file whose indices all point inside it, read before any interpreter sees it.

    LiteRT's own verifier checks the flatbuffer's layout but not what its indices name:
    a signature whose subgraph or tensor index is past the end makes the interpreter
    read outside its tables (a crash, not an exception).  Every index an interpreter
    follows is checked here against the table it points into: each signature's
    subgraph and tensors, each subgraph's inputs, outputs and operators' tensors,
    operator codes and tensor buffers.

    Raises
    ------
    ParameterError
        Not a regular file, larger than `MAX_LITERT_BYTES`, not a LiteRT model, or an
        index out of range (naming it).
    """
    from ..files import require_regular_file

    path = require_regular_file(path, what="LiteRT model")
    size = path.stat().st_size
    if size > MAX_LITERT_BYTES:
        raise ParameterError(f"{path}: LiteRT model too large ({size} bytes; at most {MAX_LITERT_BYTES})")
    data = path.read_bytes()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ParameterError(f"{path}: not a LiteRT model (no TFL3 identifier)")
    try:
        problem = _index_problem(data)
    except Exception as exc:  # the reader met offsets outside the file: as damaged as an index out of range
        problem = f"unreadable tables ({type(exc).__name__})"
    if problem:
        raise ParameterError(f"{path}: damaged LiteRT model ({problem})")
    return data


def _index_problem(data: bytes) -> str | None:
    """The first index of a LiteRT flatbuffer that points outside its table, in words (None: all inside)."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(data, 0)
    n_subgraphs, n_buffers, n_codes = model.SubgraphsLength(), model.BuffersLength(), model.OperatorCodesLength()
    if n_subgraphs == 0:
        return "no subgraph"
    tensors = []
    for g in range(n_subgraphs):
        subgraph = model.Subgraphs(g)
        n_tensors = subgraph.TensorsLength()
        tensors.append(n_tensors)
        for t in range(n_tensors):
            if not 0 <= subgraph.Tensors(t).Buffer() < max(n_buffers, 1):
                return f"subgraph {g} tensor {t} names buffer {subgraph.Tensors(t).Buffer()} of {n_buffers}"
        ends = [("input", subgraph.InputsAsNumpy()), ("output", subgraph.OutputsAsNumpy())]
        for o in range(subgraph.OperatorsLength()):
            operator = subgraph.Operators(o)
            if not 0 <= operator.OpcodeIndex() < n_codes:
                return f"subgraph {g} operator {o} names operator code {operator.OpcodeIndex()} of {n_codes}"
            ends += [
                (f"operator {o} input", operator.InputsAsNumpy()),
                (f"operator {o} output", operator.OutputsAsNumpy()),
            ]
        for what, indices in ends:
            indices = np.asarray(indices, dtype=np.int64).ravel()  # 0 (no vector) when the field is absent
            if indices.size and (indices.min() < -1 or indices.max() >= n_tensors):
                return f"subgraph {g} {what} names tensor {int(indices.max())} of {n_tensors}"
    for s in range(model.SignatureDefsLength()):
        signature = model.SignatureDefs(s)
        g = signature.SubgraphIndex()
        if not 0 <= g < n_subgraphs:
            return f"signature {s} names subgraph {g} of {n_subgraphs}"
        ends = [signature.Inputs(i) for i in range(signature.InputsLength())]
        ends += [signature.Outputs(i) for i in range(signature.OutputsLength())]
        for end in ends:
            if not 0 <= end.TensorIndex() < tensors[g]:
                return f"signature {s} names tensor {end.TensorIndex()} of subgraph {g}'s {tensors[g]}"
    return None


def signature_runner(path: Path, signature: str, *, num_threads: int = 1, reference_kernels: bool = False):
    """The ``signature`` of a LiteRT file, run by ``ai-edge-litert`` (no TensorFlow).

    The file is read and its indices checked (`check_flatbuffer`) before the interpreter is
    built from those bytes.  ``reference_kernels``: LiteRT's built-in kernels without its
    default delegate (XNNPACK), whose kernels depend on the CPU's instruction set.

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

    content = check_flatbuffer(path)
    try:  # the runtime announces its CPU delegate on file descriptor 2: drop that line, keep any other
        with filtered_native_stderr((*NOISE, "Created TensorFlow Lite XNNPACK delegate")):
            kernels = {}
            if reference_kernels:
                from ai_edge_litert.interpreter import OpResolverType

                kernels["experimental_op_resolver_type"] = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
            interpreter = Interpreter(model_content=content, num_threads=num_threads, **kernels)
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
        inputs, outputs = self._runner.get_input_details(), self._runner.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ParameterError(f"{self.path}: damaged LiteRT model (expected one input and one output)")
        ((self._input, details),) = inputs.items()
        shape = tuple(int(n) for n in details["shape"][1:])
        if not shape or min(shape) < 1 or int(np.prod(shape)) > MAX_WAVEFORM_SAMPLES:
            raise ParameterError(f"{self.path}: damaged LiteRT model (feature input of shape {shape})")
        check_probabilities(self.probabilities(np.zeros((1, *shape), np.float32)), self.n_outputs, source=self.path)

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
    reference_kernels : bool
        Run LiteRT's reference kernels instead of its default delegate (`signature_runner`).
    """

    def __init__(self, path: str | os.PathLike, *, num_threads: int = 1, reference_kernels: bool = False):
        self.path = Path(path)
        self._runner = signature_runner(
            self.path, WAVEFORM_SIGNATURES[0], num_threads=num_threads, reference_kernels=reference_kernels
        )
        inputs, outputs = self._runner.get_input_details(), self._runner.get_output_details()
        expected = {"waveform": np.float32, "samples": np.int32}
        if set(inputs) != set(expected) or any(inputs[name]["dtype"] != dtype for name, dtype in expected.items()):
            found = ", ".join(f"{name} {np.dtype(d['dtype']).name}" for name, d in sorted(inputs.items()))
            raise ParameterError(
                f"{self.path}: damaged LiteRT model (inputs {found}; expected waveform float32, samples int32)"
            )
        shape = [int(n) for n in inputs["waveform"]["shape"]]
        if len(shape) != 2 or shape[0] != 1 or not 1 <= shape[1] <= MAX_WAVEFORM_SAMPLES:
            raise ParameterError(f"{self.path}: damaged LiteRT model (waveform input of shape {shape}, not [1, n])")
        self.length = shape[1]
        missing = {"probabilities", "sound_seconds", "contract"} - set(outputs)
        if missing:
            raise ParameterError(f"{self.path}: damaged LiteRT model (no {', '.join(sorted(missing))} output)")
        if int(np.prod(outputs["contract"]["shape"])) > MAX_CONTRACT_BYTES:
            raise ParameterError(f"{self.path}: damaged LiteRT model (contract over {MAX_CONTRACT_BYTES} bytes)")
        try:
            described = self._run(_probe_clip(self.length))
            text = bytes(np.asarray(described["contract"], dtype=np.uint8).ravel()).decode()
            contract = json.loads(text, parse_constant=_refuse_constant)
        except (ValueError, RuntimeError) as exc:
            raise ParameterError(f"{self.path}: damaged LiteRT model ({str(exc).splitlines()[0]})") from None
        self.contract = check_contract(contract, source=self.path)
        self.labels = list(self.contract["labels"])
        self.sr = int(self.contract["sample_rate"])
        self.shortest, self.longest = (float(s) for s in self.contract["seconds_range"])
        check_probabilities(described["probabilities"], len(self.labels), source=self.path)

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
            ``probabilities`` ``(n_labels,)`` float32, ``sound_seconds`` (float) and ``distance``
            (float >= 0: how far the clip lies from the training features; None for a file without it).
        """
        outputs = self._run(np.asarray(waveform, dtype=np.float32))
        probabilities = check_probabilities(outputs["probabilities"], len(self.labels), source=self.path)[0]
        distance = None
        if "distance" in outputs:
            found = np.asarray(outputs["distance"], dtype=np.float32).ravel()
            if found.size != 1 or not 0.0 <= found[0] < np.inf:  # NaN included
                raise ParameterError(
                    f"{self.path}: the model gave a distance of {found[:3]}, not one finite value >= 0"
                )
            distance = float(found[0])
        return {
            "probabilities": probabilities,
            "sound_seconds": float(outputs["sound_seconds"][0]),
            "distance": distance,
        }


def _refuse_constant(name: str):
    raise ValueError(f"the contract holds {name}, not a number")


def _probe_clip(length: int) -> np.ndarray:
    """A second of a voiced-like test signal (harmonics of 150 Hz at a speech level), the most ``length`` holds."""
    t = np.arange(min(length, 16_000)) / 16_000.0
    return (0.1 * np.sin(2 * np.pi * 150.0 * np.outer(t, np.arange(1, 6))).sum(axis=1) / 5).astype(np.float32)


def check_probabilities(probabilities, n_labels: int, *, source: Path) -> np.ndarray:
    """A model's ``probabilities`` output as ``(n, n_labels)`` float32, refused unless each row is a distribution.

    Raises
    ------
    ParameterError
        Not ``n_labels`` values a row, not finite, outside ``[0, 1]`` or not summing to one
        (within 1e-3), naming ``source``.
    """
    p = np.asarray(probabilities, dtype=np.float32)
    if p.ndim != 2 or p.shape[1] != n_labels:
        raise ParameterError(
            f"{source}: the model gives {p.shape[-1] if p.ndim else 1} values a clip for {n_labels} labels"
        )
    if not np.isfinite(p).all():
        raise ParameterError(f"{source}: the model gave non-finite probabilities (NaN or inf)")
    if p.min() < -1e-6 or p.max() > 1 + 1e-6 or np.abs(p.sum(axis=1) - 1.0).max() > 1e-3:
        raise ParameterError(f"{source}: the model's outputs are not probabilities (each row in [0, 1], summing to 1)")
    return p


def _finite(value, low: float, high: float) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and low <= value <= high


#: Each field of a ``waveform.tflite`` contract that is read, with its check (`check_contract`).
CONTRACT_FIELDS = {
    "sample_rate": lambda v: isinstance(v, int) and not isinstance(v, bool) and 1000 <= v <= 384_000,
    "seconds_range": lambda v: (
        isinstance(v, list) and len(v) == 2 and all(_finite(s, 0.0, 86_400.0) for s in v) and v[0] <= v[1]
    ),
    "labels": lambda v: (
        isinstance(v, list)
        and 1 <= len(v) <= len(CANONICAL_EMOTIONS)
        and all(isinstance(label, str) and label in CANONICAL_EMOTIONS for label in v)
        and len(set(v)) == len(v)
    ),
    "min_confidence": lambda v: _finite(v, 0.0, 1.0),
    "max_distance": lambda v: _finite(v, 0.0, 1e6),
    "silence_peak": lambda v: _finite(v, 0.0, 1.0),
    "min_sound_seconds": lambda v: _finite(v, 0.0, 86_400.0),
}
#: Contract fields an older file may lack.
OPTIONAL_CONTRACT_FIELDS = ("min_confidence", "max_distance", "silence_peak", "min_sound_seconds")


def check_contract(contract, *, source: Path) -> dict:
    """A ``waveform.tflite`` contract, refused in one line naming ``source`` unless every field it reads is sound.

    Labels must be canonical emotion names (`ser_keras.data.emotions.CANONICAL_EMOTIONS`),
    so no label can carry markup into a page; numbers must be finite and in range.
    """
    if not isinstance(contract, dict):
        raise ParameterError(f"{source}: damaged contract (not a JSON object)")
    for field, check in CONTRACT_FIELDS.items():
        if field not in contract:
            if field in OPTIONAL_CONTRACT_FIELDS:
                continue
            raise ParameterError(f"{source}: damaged contract (no {field})")
        if not check(contract[field]):
            shown = repr(contract[field])
            raise ParameterError(f"{source}: damaged contract ({field}: unexpected value {shown[:60]})")
    return contract
