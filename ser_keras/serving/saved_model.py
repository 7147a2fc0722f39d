"""SavedModel export with raw-waveform signatures: features computed inside the graph.

Every feature kind has a graph form (`ser_keras.features.graph` for ``stats`` / ``frames`` /
``mel``, `ser_keras.features.utterance_graph` for ``functionals`` / ``lld`` / ``fusion``):
the NumPy definitions in TensorFlow ops, with the NumPy path's own filter banks as constants.
`export_saved_model` writes these signatures (the first is ``serving_default``):

``serve_waveform`` (runs with ``--normalize global``)
    ``waveform``: float32 ``(batch, n_samples)`` mono audio at the model's sample rate,
    in ``[-1, 1]`` (divide ``int16`` PCM by 32768 first; `Predictor` does it for you).
    A batch holding a silent clip (peak below -80 dBFS) fails with ``InvalidArgumentError``
    (`SILENT_CLIP`), as `Predictor.predict` raises ``ParameterError``: neither answers silence;
    so does a clip with under 0.1 s of sound after trimming (`TOO_LITTLE_SOUND`, utterance kinds).
    The graph takes the training window (``offset`` / ``duration`` of the feature
    config; padded to ``duration`` for fixed-length features), computes the features
    and returns ``probabilities`` ``(batch, n_labels)``, ``label_index`` ``(batch,)``
    int64 and ``label`` ``(batch,)`` string.  Utterance kinds trim each clip on its own.
``serve_speaker`` (runs with ``--normalize speaker`` or ``corpus``)
    ``waveform`` as above, but the batch is **one speaker's** clips: their features are
    standardised together (`standardize_batch`) before the model, as in training.
``serve_features`` / ``serve_speaker_features``
    ``features`` ``(batch, *feature_shape)`` -> the same three outputs; the speaker
    variant standardises the batch as one speaker.
``serve``
    ``features`` (speaker-standardised already for speaker runs) -> ``probabilities``.
``serve_clip`` (global runs)
    One clip ``(1, n)``, no batch loop, and outputs that carry the contract (`CLIP_OUTPUTS`):
    what ``waveform.tflite`` is converted from (`ser_keras.serving.export`).
"""

from __future__ import annotations

import json
import os

import numpy as np

from ..extraction.normalize import transductive
from ..features.config import FeatureConfig
from ..signal.audio import SILENCE_PEAK

#: The error of a waveform signature given a silent clip (as `Predictor.predict` refuses one).
SILENT_CLIP = "silent clip: peak below -80 dBFS (ser_keras.signal.audio.SILENCE_PEAK); refused, as the Predictor does"
#: The error given a clip with less than `ser_keras.features.functionals.MIN_SOUND_SECONDS` of sound after trimming.
TOO_LITTLE_SOUND = "too little sound after trimming silence (under 0.1 s); refused, as the Predictor does"
#: The one-clip waveform signature of global runs, which ``waveform.tflite`` is converted from.
CLIP_SIGNATURE = "serve_clip"
#: The same with a fixed-length input, for runtimes that cannot resize an input (LiteRT.js): ``waveform``
#: ``(1, padded_length)`` zero-padded, and ``samples`` ``(1,)`` int32, how many of them are the clip.
PADDED_SIGNATURE = "serve_padded"
#: Its outputs: the answer, and what an app needs to know to feed it (no other file required).  Only
#: float32, int32 and uint8 tensors, which every LiteRT runtime reads (LiteRT.js has no strings).
CLIP_OUTPUTS = (
    "probabilities",  # (1, n_labels) float32
    "label_index",  # (1,) int32
    "sound_seconds",  # (1,) float32: sound after trimming silence (utterance kinds; else the clip's length)
    "distance",  # (1,) float32: how far the clip lies from the training features (0 for runs without typicality)
    "contract",  # (n_bytes,) uint8: UTF-8 JSON of `clip_contract` (labels, sample rate, input range, lengths)
)


def clip_contract(
    config: FeatureConfig, labels: list[str], *, min_confidence: float = 0.0, max_distance: float | None = None
) -> dict:
    """What ``waveform.tflite`` expects and answers, as its ``contract`` output holds it.

    ``min_confidence``: below this top probability the run answers "uncertain" (0: always answers).
    ``max_distance``: above this ``distance`` output it answers "uncertain" too, the clip being unlike
    the speech it was trained on (`ser_keras.models.typicality`; None: no such check, and no field).
    """
    from ..features.functionals import MIN_SOUND_SECONDS
    from ..features.utterance_graph import UTTERANCE_KINDS

    return {
        "signature": PADDED_SIGNATURE,
        "inputs": {"waveform": ["float32", [1, padded_length(config)]], "samples": ["int32", [1]]},
        "channels": 1,
        "sample_rate": config.sr,
        "input_range": [-1.0, 1.0],
        "seconds_range": [config.min_duration, longest_window(config)],
        "silence_peak": SILENCE_PEAK,
        "min_sound_seconds": MIN_SOUND_SECONDS if config.kind in UTTERANCE_KINDS else 0.0,
        "labels": list(labels),
        "min_confidence": float(min_confidence),
    } | ({} if max_distance is None else {"max_distance": float(max_distance)})


def padded_length(config: FeatureConfig) -> int:
    """The input length of `PADDED_SIGNATURE`: the ``offset`` and `longest_window` in samples."""
    return int(round((config.offset + longest_window(config)) * config.sr))


def longest_window(config: FeatureConfig) -> float:
    """Seconds of audio one call of a waveform signature scores: the training window, or `MAX_WINDOW_SECONDS`."""
    from ..signal.windows import MAX_WINDOW_SECONDS

    return float(config.duration) if config.duration is not None else MAX_WINDOW_SECONDS


def window_waveform(waveform, config: FeatureConfig):
    """The training window of a batch of waveforms, in TensorFlow ops.

    ``offset`` seconds are skipped (when the clip is long enough to keep
    ``min_duration`` after them), at most ``duration`` seconds kept, and for
    fixed-length features the result zero-padded (centred) to ``config.n_samples``.

    Parameters
    ----------
    waveform : tf.Tensor [shape=(batch, n), dtype=float32]

    Returns
    -------
    window : tf.Tensor [shape=(batch, m)]
    """
    import tensorflow as tf

    n = tf.shape(waveform)[1]
    start = int(round(config.offset * config.sr))
    keep_after_offset = int(round(config.min_duration * config.sr))
    start = tf.where(n - start >= keep_after_offset, start, 0)
    kept = n - start if config.duration is None else tf.minimum(n - start, config.n_samples)
    y = tf.slice(waveform, [0, start], [-1, kept])  # tf.slice: LiteRT copies a dynamic slice at once
    if config.fixed_length:
        missing = tf.maximum(config.n_samples - tf.shape(y)[1], 0)
        y = tf.pad(y, [[0, 0], [missing // 2, missing - missing // 2]])
    return y


def standardize_batch(X, config: FeatureConfig):
    """`ser_keras.extraction.normalize.standardize_by_speaker` of one speaker's batch, in TensorFlow ops.

    Parameters
    ----------
    X : tf.Tensor [shape=(n, *feature_shape)]
        Every example is the same speaker's.

    Returns
    -------
    Z : tf.Tensor [shape=X.shape]
        Standardised by the batch's mean and standard deviation per feature (pooled over
        time for sequences and images), the standard deviation floored at 1e-6.
    """
    import tensorflow as tf

    time_axis = config.kind_spec.time_axis
    axes = [0] if time_axis is None else [0, 1 + time_axis]
    mean, variance = tf.nn.moments(X, axes=axes, keepdims=True)
    return (X - mean) / tf.maximum(tf.sqrt(variance), 1e-6)


def export_saved_model(
    model,
    path: str | os.PathLike,
    *,
    config: FeatureConfig,
    labels: list[str],
    normalize: str = "global",
    min_confidence: float = 0.0,
    typicality=None,
    max_distance: float | None = None,
) -> None:
    """Write ``model`` as a SavedModel with the signatures of the module docstring.

    The first endpoint is ``serving_default``:

    ``normalize='global'``
        ``serve_waveform`` (kinds with a graph form) or ``serve_features``, then ``serve``.
    ``normalize='speaker'``
        ``serve_speaker`` (``waveform`` ``(n, samples)``: a batch of **one speaker's**
        clips, standardised together; kinds with a graph form), ``serve_speaker_features``
        (``features`` ``(n, *shape)`` of one speaker), then ``serve`` (features already
        speaker-standardised).

    Every endpoint but ``serve`` returns ``probabilities``, ``label_index`` and ``label``.
    ``min_confidence`` and ``max_distance`` (the run's abstention thresholds) travel in the ``contract``;
    ``typicality`` (`ser_keras.models.typicality.Typicality`) gives the clip endpoints' ``distance``.
    """
    import keras
    import tensorflow as tf

    from ..features.functionals import MIN_SOUND_SECONDS
    from ..features.utterance_graph import UTTERANCE_KINDS, kind_features
    from ..models.typicality import distance_graph

    label_names = tf.constant(labels)
    contract = clip_contract(config, labels, min_confidence=min_confidence, max_distance=max_distance)
    contract = json.dumps(contract).encode()
    graph = config.kind_spec.graph
    utterance = config.kind in UTTERANCE_KINDS
    speaker = transductive(normalize)  # a speaker's (or a corpus's) clips are standardised together

    def named(probabilities):
        index = tf.argmax(probabilities, axis=-1)
        return {"probabilities": probabilities, "label_index": index, "label": tf.gather(label_names, index)}

    def on_features(features):
        return model(features, training=False)

    def on_named_features(features):
        return named(model(standardize_batch(features, config) if speaker else features, training=False))

    def on_waveform(waveform):
        peak = tf.reduce_max(tf.abs(waveform), axis=1)
        tf.debugging.assert_greater_equal(peak, tf.constant(SILENCE_PEAK, tf.float32), message=SILENT_CLIP)
        window = window_waveform(waveform, config)
        if utterance:  # trimmed clip by clip, once; too little sound is refused, as the Predictor does
            X, seconds = tf.map_fn(
                lambda y: kind_features(y, config),
                window,
                fn_output_signature=(tf.TensorSpec(config.output_shape(), tf.float32), tf.float32),
            )
            tf.debugging.assert_greater_equal(seconds, float(MIN_SOUND_SECONDS), message=TOO_LITTLE_SOUND)
        else:
            X = graph(window, config)
        return named(model(standardize_batch(X, config) if speaker else X, training=False))

    def on_clip(waveform):
        """One clip, no batch loop: the signature ``waveform.tflite`` is made of (`CLIP_OUTPUTS`)."""
        window = window_waveform(waveform, config)
        if utterance:
            x, seconds = kind_features(tf.reshape(window, [-1]), config)  # one clip
            X = x[None]
        else:
            X, seconds = graph(window, config), tf.cast(tf.shape(waveform)[1], tf.float32) / config.sr
        probabilities = model(X, training=False)
        distance = tf.zeros([1]) if typicality is None else distance_graph(typicality, tf.reshape(X, [1, -1]))
        return {
            "probabilities": probabilities,
            "label_index": tf.cast(tf.argmax(probabilities, axis=-1), tf.int32),
            "sound_seconds": tf.reshape(seconds, [1]),
            "distance": tf.reshape(distance, [1]),
            "contract": tf.constant(np.frombuffer(contract, dtype=np.uint8)),
        }

    def on_padded(waveform, samples):
        """`on_clip` of the first ``samples`` of a fixed-length input (runtimes without dynamic input shapes)."""
        return on_clip(tf.slice(waveform, [0, 0], [1, tf.clip_by_value(samples[0], 1, padded_length(config))]))

    archive = keras.export.ExportArchive()
    archive.track(model)
    waveform_spec = [tf.TensorSpec((None, None), tf.float32, name="waveform")]
    feature_spec = [tf.TensorSpec((None, *config.output_shape()), tf.float32, name="features")]
    if graph is not None:
        archive.add_endpoint(
            "serve_speaker" if speaker else "serve_waveform", on_waveform, input_signature=waveform_spec
        )
    archive.add_endpoint(
        "serve_speaker_features" if speaker else "serve_features", on_named_features, input_signature=feature_spec
    )
    archive.add_endpoint("serve", on_features, input_signature=feature_spec)
    if graph is not None and not speaker:
        archive.add_endpoint(
            CLIP_SIGNATURE, on_clip, input_signature=[tf.TensorSpec((1, None), tf.float32, name="waveform")]
        )
        padded_spec = [
            tf.TensorSpec((1, padded_length(config)), tf.float32, name="waveform"),
            tf.TensorSpec((1,), tf.int32, name="samples"),
        ]
        archive.add_endpoint(PADDED_SIGNATURE, on_padded, input_signature=padded_spec)
    archive.write_out(str(path), verbose=False)
