"""Frame-level networks for time sequences ``(T, F)`` (the ``lld`` kind, or ``frames``).

`build_tdnn` is the Conv1D network of modern speech work, small enough for two CPU cores:
a strided Conv1D front end, residual blocks of dilated Conv1D with squeeze-excitation
(ECAPA-TDNN, Desplanques et al. 2020, without its Res2Net split), the blocks' outputs
aggregated, then attentive statistics pooling over time and a small classifier.
`build_attention_lstm` is the recurrent counterpart: a bidirectional LSTM over a
strided Conv1D front end, pooled the same way.

Both start with the z-score fitted on the training split, then training-only
`ser_keras.models.layers.FrameMasks` (SpecAugment over frames and descriptor columns),
and end with ``(None, num_classes)`` softmax probabilities.
"""

from __future__ import annotations

from .conv import BN_MOMENTUM, _input


def _front(input_shape, normalization, masks, channels: int, stride: int, log_columns=None):
    """Input, z-score, masks and the strided Conv1D front end: ``(T, F)`` -> ``(T / stride, channels)``."""
    from keras import layers

    from .layers import FrameMasks

    inputs, x = _input(input_shape, normalization, log_columns=log_columns)
    if masks is not None:
        x = FrameMasks(**masks, name="frame_masks")(x)
    x = layers.Conv1D(channels, 5, strides=stride, padding="same", use_bias=False, name="front_conv")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="front_bn")(x)
    return inputs, layers.ReLU(name="front_relu")(x)


def _head(x, num_classes: int, dropout: float, units: int):
    from keras import layers

    from .layers import AttentiveStatisticsPooling

    x = AttentiveStatisticsPooling(name="attentive_pooling")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="pooled_bn")(x)
    x = layers.Dropout(dropout, name="pooled_dropout")(x)
    x = layers.Dense(units, activation="relu", name="embedding")(x)
    x = layers.Dropout(dropout, name="embedding_dropout")(x)
    return layers.Dense(num_classes, activation="softmax", name="emotion")(x)


def build_tdnn(
    input_shape,
    num_classes,
    *,
    normalization=None,
    log_columns=None,
    masks: dict | None = None,
    channels: int = 96,
    stride: int = 2,
    dilations: tuple[int, ...] = (2, 3, 4),
    dropout: float = 0.3,
    units: int = 128,
    name: str = "tdnn",
):
    """A TDNN / ECAPA-style Conv1D network over frames with attentive statistics pooling.

    ``features (T, F)`` -> z-score -> frame masks (training) -> Conv1D(``channels``, 5,
    stride ``stride``) -> per dilation d: [Conv1D(k 3, dilation d) -> BN -> ReLU ->
    Conv1D(k 1) -> BN -> squeeze-excitation] + residual -> concatenation of the blocks ->
    Conv1D(2 ``channels``, 1) -> attentive statistics pooling -> BN -> Dropout ->
    Dense(``units``) -> Dropout -> softmax.  About 330k parameters for 170 descriptors.
    """
    import keras
    from keras import layers

    inputs, x = _front(input_shape, normalization, masks, channels, stride, log_columns)
    blocks = []
    for i, dilation in enumerate(dilations, start=1):
        h = layers.Conv1D(channels, 3, dilation_rate=dilation, padding="same", use_bias=False, name=f"block{i}_conv")(x)
        h = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"block{i}_bn")(h)
        h = layers.ReLU(name=f"block{i}_relu")(h)
        h = layers.Conv1D(channels, 1, use_bias=False, name=f"block{i}_mix")(h)
        h = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"block{i}_mix_bn")(h)
        squeeze = layers.GlobalAveragePooling1D(name=f"block{i}_squeeze")(h)
        squeeze = layers.Dense(max(channels // 8, 8), activation="relu", name=f"block{i}_se1")(squeeze)
        squeeze = layers.Dense(channels, activation="sigmoid", name=f"block{i}_se2")(squeeze)
        h = layers.Multiply(name=f"block{i}_excite")([h, layers.Reshape((1, channels), name=f"block{i}_se")(squeeze)])
        x = layers.ReLU(name=f"block{i}_out")(layers.Add(name=f"block{i}_residual")([x, h]))
        blocks.append(x)
    x = layers.Concatenate(name="aggregate")(blocks)
    x = layers.Conv1D(2 * channels, 1, activation="relu", name="aggregate_conv")(x)
    return keras.Model(inputs, _head(x, num_classes, dropout, units), name=name)


def build_attention_lstm(
    input_shape,
    num_classes,
    *,
    normalization=None,
    log_columns=None,
    masks: dict | None = None,
    channels: int = 96,
    stride: int = 2,
    units: int = 64,
    dropout: float = 0.3,
    name: str = "attention_lstm",
):
    """A bidirectional LSTM over a strided Conv1D front end, with attentive statistics pooling.

    ``features (T, F)`` -> z-score -> frame masks (training) -> Conv1D(``channels``, 5,
    stride ``stride``) -> BiLSTM(``units``, whole sequence) -> attentive statistics pooling
    -> BN -> Dropout -> Dense(128) -> Dropout -> softmax.
    """
    import keras
    from keras import layers

    inputs, x = _front(input_shape, normalization, masks, channels, stride, log_columns)
    x = layers.Bidirectional(layers.LSTM(units, return_sequences=True), name="bilstm")(x)
    return keras.Model(inputs, _head(x, num_classes, dropout, 128), name=name)
