"""Model registry: ``--model NAME`` -> a builder ``build(input_shape, num_classes, **options)``.

Keras builders return an uncompiled ``keras.Model`` with every layer named; the
z-score normalisation fitted on the training split (``normalization=(mean,
variance)``) is the model's first layer, so an exported model takes raw feature
arrays.  The transfer-learning family (`TRANSFER_MODELS`, ImageNet CNN backbones on
``mel`` images) is in `transfer`.  ``mlp``, ``knn``, ``logreg`` and ``svm`` are scikit-learn baselines (`SKLEARN_MODELS`);
``dnn`` is the regularised Keras MLP for utterance vectors.
Keras is imported only when a builder runs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from ..errors import ParameterError
from .conv import build_cnn_lstm, build_conv1d, build_conv1d_avgpool, build_conv2d, build_conv2d_pool
from .dense import build_dnn
from .transfer import TRANSFER_MODELS, build_transfer, is_pretrained

KERAS_MODELS: dict[str, Callable] = {
    "conv1d": build_conv1d,
    "conv1d_avgpool": build_conv1d_avgpool,
    "conv2d": build_conv2d,
    "conv2d_pool": build_conv2d_pool,
    "cnn_lstm": build_cnn_lstm,
    "dnn": build_dnn,
    **{name: functools.partial(build_transfer, backbone=name) for name in TRANSFER_MODELS},
}
SKLEARN_MODELS = ("mlp", "knn", "logreg", "svm")


def model_names() -> list[str]:
    return [*KERAS_MODELS, *SKLEARN_MODELS]


def get_builder(name: str) -> Callable:
    """The Keras builder called ``name``; unknown names are answered with the valid ones."""
    if name not in KERAS_MODELS:
        raise ParameterError(f"unknown model {name!r}; valid models are: {', '.join(model_names())}")
    return KERAS_MODELS[name]
