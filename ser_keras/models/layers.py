"""Serializable preprocessing layers that travel inside exported models.

Registered under the ``ser_keras`` package name so ``keras.saving.load_model`` finds
them once this module is imported (`ser_keras.runs.load_run` does that).
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
