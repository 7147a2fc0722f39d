"""Serializable preprocessing layers that travel inside exported models.

Registered under the ``ser_keras`` package name so ``keras.saving.load_model`` finds
them once this module is imported (`ser_keras.runs.folders.load_run` does that).
"""

from __future__ import annotations

import keras
from keras import ops

#: ImageNet channel standard deviations (RGB) of the torchvision / Keras "torch" convention.
IMAGENET_STD = (0.229, 0.224, 0.225)
#: How each backbone expects its input (``keras.applications.<family>.preprocess_input``).
BACKBONE_CONVENTION = {
    "densenet121": "torch",
    "densenet169": "torch",
    "densenet201": "torch",
    "densenet161": "torch",
    "resnet50": "caffe",
    "resnext50_32x4d": "torch",
}


@keras.saving.register_keras_serializable(package="ser_keras")
class Bounded(keras.layers.Layer):
    """Clip standardised features to the bounds fitted on the training rows (`ser_keras.extraction.parts.fit_bounds`).

    One column far outside anything the model was trained on (a feature a runtime computed
    wrongly, a recording unlike the corpus) then moves the answer no more than the most
    extreme training value of that column does.

    Parameters
    ----------
    low, high : list of float
        Per feature, ``(n_features,)``.
    axis : int
        The axis of the input the features lie along (as ``keras.layers.Normalization``'s).
    """

    def __init__(self, low, high, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        self.low, self.high, self.axis = [float(v) for v in low], [float(v) for v in high], int(axis)

    def call(self, inputs):
        shape = [1] * len(inputs.shape)
        shape[self.axis] = len(self.low)
        low = ops.reshape(ops.convert_to_tensor(self.low, dtype=inputs.dtype), shape)
        high = ops.reshape(ops.convert_to_tensor(self.high, dtype=inputs.dtype), shape)
        return ops.minimum(ops.maximum(inputs, low), high)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "low": self.low, "high": self.high, "axis": self.axis}


@keras.saving.register_keras_serializable(package="ser_keras")
class MinMaxScale(keras.layers.Layer):
    """Scale each example to ``[0, 1]`` by its own minimum and maximum.

    Input and output shape ``(batch, ...)``; a constant example maps to zeros.
    """

    def call(self, inputs):
        axes = tuple(range(1, len(inputs.shape)))
        low = ops.min(inputs, axis=axes, keepdims=True)
        high = ops.max(inputs, axis=axes, keepdims=True)
        return ops.divide_no_nan(inputs - low, high - low)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="ser_keras")
class ImageNetConvention(keras.layers.Layer):
    """Map a z-scored one-channel image ``(batch, H, W, 1)`` to a backbone's 3-channel input.

    The single channel is repeated to three.  ``torch`` backbones (DenseNet, ResNeXt)
    expect per-channel z-scores, which the input already is.  ``caffe`` backbones
    (Keras ResNet50) expect BGR pixels on the 0-255 scale minus the ImageNet mean, i.e.
    zero-mean channels with a standard deviation of ``255 * std``: the z-scores are
    scaled to that.
    """

    def __init__(self, convention: str = "torch", **kwargs):
        super().__init__(**kwargs)
        if convention not in ("torch", "caffe"):
            raise ValueError(f"unknown convention {convention!r}")
        self.convention = convention

    def call(self, inputs):
        x = ops.concatenate([inputs, inputs, inputs], axis=-1)
        if self.convention == "caffe":
            scale = ops.convert_to_tensor([255.0 * s for s in reversed(IMAGENET_STD)], dtype=x.dtype)
            x = x * scale
        return x

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 3)

    def get_config(self):
        return {**super().get_config(), "convention": self.convention}


@keras.saving.register_keras_serializable(package="ser_keras")
class LogCompress(keras.layers.Layer):
    """``log10(x + 1e-10)`` on the last axis's columns ``start:stop``; the others pass through.

    The mel block of ``stats`` / ``frames`` holds raw power means spanning ten decades; on
    that scale a z-score is dominated by a few loud clips.  Compressed inside the model, the
    exported model still takes the raw feature arrays.  Input and output ``(batch, ..., F)``.
    """

    def __init__(self, start: int, stop: int, **kwargs):
        super().__init__(**kwargs)
        self.start, self.stop = int(start), int(stop)

    def call(self, inputs):
        head, block, tail = inputs[..., : self.start], inputs[..., self.start : self.stop], inputs[..., self.stop :]
        return ops.concatenate([head, ops.log10(ops.maximum(block, 0.0) + 1e-10), tail], axis=-1)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "start": self.start, "stop": self.stop}


def log_compress(X, start: int, stop: int):
    """`LogCompress` in NumPy (for fitting the z-score that follows it on the training rows)."""
    import numpy as np

    X = np.array(X, dtype=np.float32, copy=True)
    X[..., start:stop] = np.log10(np.maximum(X[..., start:stop], 0.0) + 1e-10)
    return X


@keras.saving.register_keras_serializable(package="ser_keras")
class UtteranceNormalization(keras.layers.Layer):
    """Remove each utterance's level and channel: per-band mean over time, then the utterance's std.

    Input and output ``(batch, n_mels, n_frames)`` log-mel images (dB).  Subtracting each
    band's mean over the clip (cepstral mean normalisation in the mel domain) removes a
    recording's gain and spectral colouring; dividing by the clip's standard deviation
    removes its dynamic range scale.  Within-clip contrasts (how loud, high and varied a
    stretch of speech is relative to the rest) are kept.  This is what lets a CNN trained on
    some speakers' recordings work on another speaker's, whose level differs.
    """

    def call(self, inputs):
        centred = inputs - ops.mean(inputs, axis=2, keepdims=True)
        std = ops.sqrt(ops.mean(ops.square(centred), axis=(1, 2), keepdims=True))
        return centred / ops.maximum(std, 1e-3)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="ser_keras")
class StatisticsPooling(keras.layers.Layer):
    """Mean and standard deviation over time: ``(batch, T, C)`` -> ``(batch, 2 C)``."""

    def call(self, inputs):
        mean = ops.mean(inputs, axis=1)
        std = ops.sqrt(ops.maximum(ops.mean(ops.square(inputs - mean[:, None, :]), axis=1), 1e-6))
        return ops.concatenate([mean, std], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 2 * input_shape[2])


@keras.saving.register_keras_serializable(package="ser_keras")
class AttentiveStatisticsPooling(keras.layers.Layer):
    """Attention-weighted mean and standard deviation over time (Okabe et al. 2018, as in ECAPA-TDNN).

    Each channel gets its own softmax weights over the frames from a small tanh network,
    so the frames that carry the emotion count more than pauses or steady vowels.
    Input ``(batch, T, C)``, output ``(batch, 2 C)``.
    """

    def __init__(self, hidden: int = 64, **kwargs):
        super().__init__(**kwargs)
        self.hidden = int(hidden)

    def build(self, input_shape):
        self.attention = keras.layers.Dense(self.hidden, activation="tanh", name="attention")
        self.attention.build(input_shape)
        self.scores = keras.layers.Dense(input_shape[-1], name="scores")
        self.scores.build((*input_shape[:-1], self.hidden))

    def call(self, inputs):
        weights = ops.softmax(self.scores(self.attention(inputs)), axis=1)
        mean = ops.sum(weights * inputs, axis=1)
        variance = ops.sum(weights * ops.square(inputs), axis=1) - ops.square(mean)
        return ops.concatenate([mean, ops.sqrt(ops.maximum(variance, 1e-6))], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 2 * input_shape[2])

    def get_config(self):
        return {**super().get_config(), "hidden": self.hidden}


@keras.saving.register_keras_serializable(package="ser_keras")
class FrameMasks(keras.layers.Layer):
    """SpecAugment for frame sequences, in training only: zero random bands of frames and of features.

    Placed after the z-score, so a masked value is the training mean.  ``time_masks``
    masks of up to ``time_width`` consecutive frames and ``feature_masks`` of up to
    ``feature_width`` consecutive columns, drawn per example and step.  At inference it
    is the identity, so exported models are deterministic.  Input and output ``(batch, T, F)``.
    """

    def __init__(self, time_masks=2, time_width=20, feature_masks=2, feature_width=15, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.time_masks, self.time_width = int(time_masks), int(time_width)
        self.feature_masks, self.feature_width = int(feature_masks), int(feature_width)
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)

    def _keep(self, batch, size: int, count: int, max_width: int):
        """``(batch, size)``: 1 outside ``count`` random bands of width ``0 .. max_width``, 0 inside."""
        positions = ops.arange(size)[None, :]
        keep = ops.ones((batch, size))
        for _ in range(count):
            width = keras.random.randint((batch, 1), 0, min(max_width, size) + 1, seed=self.generator)
            start = ops.floor(
                keras.random.uniform((batch, 1), seed=self.generator) * ops.cast(size - width + 1, "float32")
            )
            start = ops.cast(start, "int32")
            inside = ops.logical_and(positions >= start, positions < start + width)
            keep = keep * (1.0 - ops.cast(inside, "float32"))
        return keep

    def call(self, inputs, training=None):
        if not training:
            return inputs
        batch = ops.shape(inputs)[0]
        keep_time = self._keep(batch, inputs.shape[1], self.time_masks, self.time_width)
        keep_features = self._keep(batch, inputs.shape[2], self.feature_masks, self.feature_width)
        return inputs * ops.cast(keep_time[:, :, None] * keep_features[:, None, :], inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "time_masks": self.time_masks,
            "time_width": self.time_width,
            "feature_masks": self.feature_masks,
            "feature_width": self.feature_width,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package="ser_keras")
class Columns(keras.layers.Layer):
    """Columns ``start:stop`` of the last axis (``stop`` None: to the end), optionally reshaped per example.

    Input ``(batch, F)``; output ``(batch, stop - start)`` or ``(batch, *shape)``.
    """

    def __init__(self, start: int, stop: int | None = None, shape=None, **kwargs):
        super().__init__(**kwargs)
        self.start, self.stop = int(start), None if stop is None else int(stop)
        self.shape = None if shape is None else tuple(int(v) for v in shape)

    def call(self, inputs):
        x = inputs[..., self.start : self.stop]
        return x if self.shape is None else ops.reshape(x, (-1, *self.shape))

    def compute_output_shape(self, input_shape):
        if self.shape is not None:
            return (input_shape[0], *self.shape)
        stop = input_shape[-1] if self.stop is None else self.stop
        return (*input_shape[:-1], stop - self.start)

    def get_config(self):
        return {**super().get_config(), "start": self.start, "stop": self.stop, "shape": self.shape}


@keras.saving.register_keras_serializable(package="ser_keras")
class WeightedAverage(keras.layers.Layer):
    """``(1 - weight) * a + weight * b`` of two probability tensors of one shape."""

    def __init__(self, weight: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        self.weight = float(weight)

    def call(self, inputs):
        first, second = inputs
        return (1.0 - self.weight) * first + self.weight * second

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "weight": self.weight}


@keras.saving.register_keras_serializable(package="ser_keras")
class TemperatureScaling(keras.layers.Layer):
    """Calibrated probabilities: ``softmax(log(max(p, floor)) / temperature)`` of probabilities ``(batch, k)``.

    The same formula as `ser_keras.evaluation.calibration.scale_probabilities`, which fits
    and checks it in NumPy; the argmax of each row is unchanged.
    """

    def __init__(self, temperature: float = 1.0, floor: float = 1e-30, **kwargs):
        super().__init__(**kwargs)
        self.temperature, self.floor = float(temperature), float(floor)

    def call(self, inputs):
        return ops.softmax(ops.log(ops.maximum(inputs, self.floor)) / self.temperature, axis=-1)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature, "floor": self.floor}


def with_temperature(model, temperature: float, *, floor: float):
    """``model`` followed by `TemperatureScaling`: one Keras model with the same input, calibrated output.

    Parameters
    ----------
    model : keras.Model
        ``(None, *feature shape)`` -> probabilities ``(None, k)``.
    temperature : float > 0
    floor : float
        Probabilities are floored here before their logarithm
        (`ser_keras.evaluation.calibration.PROBABILITY_FLOOR`).

    Returns
    -------
    calibrated : keras.Model
        ``model``'s layers (by their names) and one more, ``calibration``: its probabilities
        are ``model``'s scaled by ``temperature``.
    """
    outputs = TemperatureScaling(temperature, floor=floor, name="calibration")(model.outputs[0])
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs  # the structure the model was built with
    return keras.Model(inputs, outputs, name=model.name)
