"""SavedModel export with a raw-waveform signature: features computed inside the graph.

`ser_keras.features.graph.waveform_features` is `features.compute` written in TensorFlow ops: ``tf.signal``
framing and real FFT, and the very filter banks the NumPy path uses (librosa's mel and
chroma filters, the orthonormal DCT-II, the periodic Hann window) embedded as constants.
`export_saved_model` writes these signatures (the first is ``serving_default``):

``serve_waveform`` (runs with ``--normalize global``, kinds with a graph form)
    ``waveform``: float32 ``(batch, n_samples)`` mono audio at the model's sample rate,
    in ``[-1, 1]`` (divide ``int16`` PCM by 32768 first; `Predictor` does it for you).
    A batch holding a silent clip (peak below -80 dBFS) fails with ``InvalidArgumentError``
    (`SILENT_CLIP`), as `Predictor.predict` raises ``ParameterError``: neither answers silence.
    The graph takes the training window (``offset`` / ``duration`` of the feature
    config; padded to ``duration`` for fixed-length features), computes the features
    and returns ``probabilities`` ``(batch, n_labels)``, ``label_index`` ``(batch,)``
    int64 and ``label`` ``(batch,)`` string.
``serve_speaker`` (runs with ``--normalize speaker``, kinds with a graph form)
    ``waveform`` as above, but the batch is **one speaker's** clips: their features are
    standardised together (`standardize_batch`) before the model, as in training.
``serve_features`` / ``serve_speaker_features``
    ``features`` ``(batch, *feature_shape)`` -> the same three outputs; the speaker
    variant standardises the batch as one speaker.  For a kind without a graph form
    (``functionals``: trimming, YIN and percentiles have no faithful TensorFlow form
    here) these are the only inputs, and so ``serving_default``.
``serve``
    ``features`` (speaker-standardised already for speaker runs) -> ``probabilities``.
"""

from __future__ import annotations

import os

from ..extraction.normalize import transductive
from ..features.registry import FeatureConfig
from ..signal.audio import SILENCE_PEAK

#: The error of a waveform signature given a silent clip (as `Predictor.predict` refuses one).
SILENT_CLIP = "silent clip: peak below -80 dBFS (ser_keras.signal.audio.SILENCE_PEAK); refused, as the Predictor does"


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
    y = waveform[:, start:]
    if config.duration is not None:
        y = y[:, : config.n_samples]
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
    model, path: str | os.PathLike, *, config: FeatureConfig, labels: list[str], normalize: str = "global"
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
    """
    import keras
    import tensorflow as tf

    label_names = tf.constant(labels)
    graph = config.kind_spec.graph
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
        X = graph(window_waveform(waveform, config), config)
        return named(model(standardize_batch(X, config) if speaker else X, training=False))

    archive = keras.export.ExportArchive()
    archive.track(model)
    waveform_spec = [tf.TensorSpec((None, None), tf.float32, name="waveform")]
    feature_spec = [tf.TensorSpec((None, *config.output_shape()), tf.float32, name="features")]
    if graph is not None:  # kinds without a faithful graph form (functionals) serve feature arrays only
        archive.add_endpoint(
            "serve_speaker" if speaker else "serve_waveform", on_waveform, input_signature=waveform_spec
        )
    archive.add_endpoint(
        "serve_speaker_features" if speaker else "serve_features", on_named_features, input_signature=feature_spec
    )
    archive.add_endpoint("serve", on_features, input_signature=feature_spec)
    archive.write_out(str(path), verbose=False)
