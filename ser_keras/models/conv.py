"""Convolutional and recurrent builders for ``stats``, ``frames`` and ``mel`` features.

Input shapes: ``stats`` ``(n_features,)``, ``frames`` ``(n_frames, n_features)``,
``mel`` ``(n_mels, n_frames)``.  Each builder returns an uncompiled ``keras.Model``
whose output is ``(None, num_classes)`` softmax probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Batch-norm moving-average momentum.  Keras's 0.99 needs hundreds of steps before the
#: inference statistics match training; a few hundred clips give ~20 steps an epoch, so with
#: 0.99 the model's inference mode is still far off after several epochs: validation then
#: predicts one class while its loss rises from the first epoch (what conv2d on mel did).
BN_MOMENTUM = 0.9


def _input(input_shape: Sequence[int], normalization, *, axis: int = -1, log_columns: tuple[int, int] | None = None):
    """The named input, the `LogCompress` of ``log_columns`` (raw power columns), the
    train-fitted z-score layer ``normalize`` and, when ``normalization`` is ``(mean, variance,
    low, high)``, the `ser_keras.models.layers.Bounded` clip of its output, each when given."""
    import keras

    inputs = keras.Input(shape=tuple(input_shape), name="features")
    x = inputs
    if log_columns is not None:
        from .layers import LogCompress

        x = LogCompress(*log_columns, name="log_power")(x)
    if normalization is not None:
        mean, variance, *bounds = (np.asarray(v, dtype=np.float32) for v in normalization)
        x = keras.layers.Normalization(axis=axis, mean=mean, variance=variance, name="normalize")(x)
        if bounds:  # (low, high): the training range of each standardised feature, with a margin
            from .layers import Bounded

            x = Bounded(*bounds, axis=axis, name="bounded")(x)
    return inputs, x


def _as_sequence(x, input_shape):
    """``(F,)`` -> ``(F, 1)`` so a vector is convolved like a 1-D signal (as the seed projects do)."""
    import keras

    if len(input_shape) == 1:
        return keras.layers.Reshape((input_shape[0], 1), name="as_sequence")(x)
    return x


def build_conv1d(
    input_shape, num_classes, *, normalization=None, log_columns=None, dropout: float = 0.2, name: str = "conv1d"
):
    """The 162-feature seed network: Conv1D/MaxPool1D blocks, dropout, flatten, dense softmax.

    Conv1D(256, 5) -> Conv1D(256, 5) -> Conv1D(128, 5) -> Dropout -> Conv1D(64, 3), each
    followed by MaxPooling1D(pool 3, stride 2); then Flatten -> Dense(32) -> Dropout -> softmax.
    """
    import keras
    from keras import layers

    inputs, x = _input(input_shape, normalization, log_columns=log_columns)
    x = _as_sequence(x, input_shape)
    for i, (filters, kernel) in enumerate(((256, 5), (256, 5), (128, 5), (64, 3)), start=1):
        x = layers.Conv1D(filters, kernel, padding="same", activation="relu", name=f"conv{i}")(x)
        x = layers.MaxPooling1D(pool_size=3, strides=2, padding="same", name=f"pool{i}")(x)
        if i == 3:
            x = layers.Dropout(dropout, name="dropout_conv")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(32, activation="relu", name="dense")(x)
    x = layers.Dropout(dropout + 0.1, name="dropout_dense")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="emotion")(x)
    return keras.Model(inputs, outputs, name=name)


def build_conv1d_avgpool(
    input_shape, num_classes, *, normalization=None, log_columns=None, name: str = "conv1d_avgpool"
):
    """The mixed/male/female seed network.

    Conv1D(256,6)→AvgPool(4,2)→Conv1D(128,6)→AvgPool(4,2)→Conv1D(128,6)→AvgPool(4,2)→Dropout(.2)
    →Conv1D(64,6)→MaxPool(4,2)→Flatten→Dense(32)→Dropout(.3)→Dense softmax.
    """
    import keras
    from keras import layers

    inputs, x = _input(input_shape, normalization, log_columns=log_columns)
    x = _as_sequence(x, input_shape)
    for i, filters in enumerate((256, 128, 128), start=1):
        x = layers.Conv1D(filters, 6, padding="same", activation="relu", name=f"conv{i}")(x)
        x = layers.AveragePooling1D(pool_size=4, strides=2, padding="same", name=f"avgpool{i}")(x)
    x = layers.Dropout(0.2, name="dropout_conv")(x)
    x = layers.Conv1D(64, 6, padding="same", activation="relu", name="conv4")(x)
    x = layers.MaxPooling1D(pool_size=4, strides=2, padding="same", name="maxpool4")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(32, activation="relu", name="dense")(x)
    x = layers.Dropout(0.3, name="dropout_dense")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="emotion")(x)
    return keras.Model(inputs, outputs, name=name)


def build_conv2d(
    input_shape,
    num_classes,
    *,
    normalization=None,
    filters: Sequence[int] = (32, 64, 128),
    dropout: float = 0.3,
    name: str = "conv2d",
):
    """A compact CNN on a log-mel image ``(n_mels, n_frames)``.

    Blocks of Conv2D(3x3) -> BatchNorm -> ReLU -> MaxPool(2x2), then global average
    pooling, dropout and a softmax.  Normalisation is per mel band.
    """
    import keras
    from keras import layers

    inputs, x = _input(input_shape, normalization, axis=1)
    x = layers.Reshape((*input_shape, 1), name="add_channel")(x)
    for i, n in enumerate(filters, start=1):
        x = layers.Conv2D(n, 3, padding="same", use_bias=False, name=f"block{i}_conv")(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"block{i}_bn")(x)
        x = layers.Activation("relu", name=f"block{i}_relu")(x)
        x = layers.MaxPooling2D(2, padding="same", name=f"block{i}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="emotion")(x)
    return keras.Model(inputs, outputs, name=name)


def build_conv2d_pool(
    input_shape,
    num_classes,
    *,
    normalization=None,
    filters: Sequence[int] = (32, 64, 128, 128),
    dropout: float = 0.4,
    l2: float = 1e-4,
    name: str = "conv2d_pool",
):
    """A CNN for log-mel images of unseen speakers: per-utterance normalisation, statistics pooling.

    ``(n_mels, n_frames)`` -> `UtteranceNormalization` (each clip's per-band mean and its
    level removed) -> blocks of Conv2D(3x3) -> BatchNorm -> ReLU -> MaxPool(2x2) -> frequency
    averaged -> `StatisticsPooling` (mean and std over time) -> Dropout -> Dense softmax.
    The train-split z-score (``normalization``) is not used: the per-utterance
    normalisation replaces it, so a loud or quiet recording looks like any other.
    """
    import keras
    from keras import layers

    from .layers import StatisticsPooling, UtteranceNormalization

    inputs = keras.Input(shape=tuple(input_shape), name="features")
    x = UtteranceNormalization(name="utterance_norm")(inputs)
    x = layers.Reshape((*input_shape, 1), name="add_channel")(x)
    for i, n in enumerate(filters, start=1):
        x = layers.Conv2D(
            n, 3, padding="same", use_bias=False, kernel_regularizer=keras.regularizers.L2(l2), name=f"block{i}_conv"
        )(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"block{i}_bn")(x)
        x = layers.Activation("relu", name=f"block{i}_relu")(x)
        x = layers.MaxPooling2D(2, padding="same", name=f"block{i}_pool")(x)
    _, bands, frames, channels = x.shape
    x = layers.AveragePooling2D((bands, 1), name="mean_over_frequency")(x)
    x = layers.Reshape((frames, channels), name="time_major")(x)  # (batch, T', C)
    x = StatisticsPooling(name="stats_pool")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="emotion")(x)
    return keras.Model(inputs, outputs, name=name)


def build_cnn_lstm(
    input_shape,
    num_classes,
    *,
    normalization=None,
    log_columns=None,
    mel_input: bool = False,
    units: int = 64,
    dropout: float = 0.3,
    name: str = "cnn_lstm",
):
    """Conv1D front end over time, then a bidirectional LSTM.

    ``frames`` ``(T, F)`` are used as they are; with ``mel_input`` a log-mel image
    ``(M, T)`` is transposed to ``(T, M)``; a ``stats`` vector is treated as a length-F sequence.
    """
    import keras
    from keras import layers

    inputs, x = _input(input_shape, normalization, axis=1 if mel_input else -1, log_columns=log_columns)
    if mel_input:
        x = layers.Permute((2, 1), name="time_major")(x)
    x = _as_sequence(x, input_shape)
    for i, filters in enumerate((64, 128), start=1):
        x = layers.Conv1D(filters, 5, padding="same", activation="relu", name=f"conv{i}")(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"bn{i}")(x)
        x = layers.MaxPooling1D(2, padding="same", name=f"pool{i}")(x)
    x = layers.Bidirectional(layers.LSTM(units, name="lstm"), name="bilstm")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="emotion")(x)
    return keras.Model(inputs, outputs, name=name)
