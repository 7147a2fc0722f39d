"""A regularised feed-forward network for utterance-level vectors (``functionals``, ``stats``).

Input shape ``(n_features,)``; output ``(None, num_classes)`` softmax probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence

from .conv import BN_MOMENTUM, _input


def build_dnn(
    input_shape,
    num_classes,
    *,
    normalization=None,
    log_columns=None,
    units: Sequence[int] = (256, 128),
    input_dropout: float = 0.2,
    dropout: float = 0.5,
    noise: float = 0.1,
    l2: float = 1e-3,
    name: str = "dnn",
):
    """An MLP regularised for few speakers: input noise and dropout, L2, batch norm, dropout.

    ``features`` -> z-score (train split) -> GaussianNoise(``noise``) -> Dropout(``input_dropout``)
    -> [Dense(u) -> BatchNorm -> ReLU -> Dropout(``dropout``)] per ``units`` -> Dense softmax.
    With hundreds of correlated functionals and a dozen training speakers, the noise and
    input dropout keep it from leaning on any one speaker-specific column.
    """
    import keras
    from keras import layers

    inputs, x = _input(input_shape, normalization, log_columns=log_columns)
    if len(input_shape) > 1:
        x = layers.Flatten(name="flatten")(x)
    x = layers.GaussianNoise(noise, name="input_noise")(x)
    x = layers.Dropout(input_dropout, name="input_dropout")(x)
    for i, n in enumerate(units, start=1):
        x = layers.Dense(n, use_bias=False, kernel_regularizer=keras.regularizers.L2(l2), name=f"dense{i}")(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"bn{i}")(x)
        x = layers.Activation("relu", name=f"relu{i}")(x)
        x = layers.Dropout(dropout, name=f"dropout{i}")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="emotion")(x)
    return keras.Model(inputs, outputs, name=name)
