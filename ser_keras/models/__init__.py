"""The model registry: one `ModelSpec` per ``--model NAME``.

A spec says everything the rest of the package needs to know about a model: its
backend (Keras or scikit-learn), the feature layouts it takes, whether it
log-compresses raw power columns, its family's training defaults, how it is built,
and one line of help.  Training, `ser_keras.training.options.TrainOptions.resolve`, the
suitability check and the command line's help all read it, so adding a model is one
spec here and one builder.

Keras builders (``build(input_shape, num_classes, **options)``) return an uncompiled
``keras.Model`` with every layer named; the z-score fitted on the training split
(``normalization=(mean, variance)``) is its first layer, so an exported model takes raw
feature arrays.  Keras is imported only when a builder runs.

Examples
--------
>>> MODELS["conv1d"].layouts
('vector',)
>>> MODELS["logreg"].backend
'sklearn'
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import ParameterError
from .baselines import knn, logistic_regression, mlp, svm
from .conv import build_cnn_lstm, build_conv1d, build_conv1d_avgpool, build_conv2d, build_conv2d_pool
from .dense import build_dnn
from .frame import build_attention_lstm, build_tdnn
from .transfer import TRANSFER_MODELS, build_transfer, is_pretrained

#: Training defaults every family starts from (a spec's own `ModelSpec.defaults` override them): no
#: decay, the plateau schedule, the restored best val_loss epoch, hard labels, 50 epochs at most.
CLASSIC_DEFAULTS = {
    "epochs": 50,
    "weight_decay": 0.0,
    "schedule": "plateau",
    "select": "val_loss",
    "label_smoothing": 0.0,
}
#: Training defaults of the seed projects' networks (and of the scikit-learn MLP's learning rate).
SEED_DEFAULTS = {
    "optimizer": "adam",
    "lr": 1e-3,
    "batch_size": 32,
    "patience": 10,
    "spec_augment": False,
    **CLASSIC_DEFAULTS,
}
#: Training defaults of the transfer-learning backbones, as the project they come from used.
TRANSFER_DEFAULTS = {
    "optimizer": "sgd",
    "lr": 0.01,
    "batch_size": 16,
    "patience": 4,
    "spec_augment": True,
    **CLASSIC_DEFAULTS,
}
#: What changes for a transfer backbone trained from random weights (``--weights none``): Adam, as
#: SGD 0.01 barely moves 25 million random weights in the few hundred steps a small corpus gives.
TRANSFER_SCRATCH_DEFAULTS = {"optimizer": "adam", "lr": 1e-3}
#: Training defaults of the frame-level networks, chosen by speaker cross-validation (docs/results.md): AdamW
#: with a cosine schedule run to its end, label smoothing, frame masks.
FRAME_DEFAULTS = {
    "epochs": 30,
    "optimizer": "adamw",
    "lr": 2e-3,
    "batch_size": 32,
    "patience": 0,
    "spec_augment": True,
    "weight_decay": 0.01,
    "schedule": "cosine",
    "select": "last",
    "label_smoothing": 0.1,
}
#: Every feature layout (`ser_keras.features.registry.FeatureKind.layout`).
ALL_LAYOUTS = ("vector", "sequence", "image")


@dataclass(frozen=True)
class ModelSpec:
    """One model of ``--model``.

    Parameters
    ----------
    name : str
        The ``--model`` name.
    backend : {'keras', 'sklearn'}
    layouts : tuple of str
        Feature layouts it takes (``vector``, ``sequence``, ``image``).
    help : str
        One line for the command line's help.
    build : callable, optional
        Keras: ``build(input_shape, num_classes, **options) -> keras.Model``.
    estimator : callable, optional
        scikit-learn: ``estimator(options) -> estimator`` (options: a resolved `TrainOptions`).
    family : {'seed', 'frame', 'fusion', 'transfer', 'baseline'}
        ``transfer``: an ImageNet backbone, trained in two phases with pretrained weights;
        ``frame``: a frame-level network, whose builder takes training-only frame masks;
        ``fusion``: fitted in parts (`ser_keras.training.fit_fusion`), no builder of its own.
    log_power : bool
        Its first layers can log-compress a raw mel-power block (``--log-power``).
    group_balance : bool
        It weighs each descriptor family equally under its L2 penalty (``--group-balance``).
    keras_equivalent : bool
        Its fitted estimator has an equal Keras model (`ser_keras.models.baselines.logistic_to_keras`),
        so its runs export a SavedModel and a LiteRT file.
    defaults : dict
        Training defaults of its family (`SEED_DEFAULTS`, `TRANSFER_DEFAULTS`).
    """

    name: str
    backend: str
    layouts: tuple[str, ...]
    help: str
    build: Callable | None = None
    estimator: Callable | None = None
    family: str = "seed"
    log_power: bool = False
    group_balance: bool = False
    keras_equivalent: bool = False
    defaults: dict = field(default_factory=lambda: dict(SEED_DEFAULTS))

    @property
    def is_keras(self) -> bool:
        return self.backend == "keras"

    @property
    def is_transfer(self) -> bool:
        return self.family == "transfer"

    @property
    def is_frame(self) -> bool:
        return self.family == "frame"


def _transfer(name: str) -> ModelSpec:
    return ModelSpec(
        name,
        "keras",
        ("image",),
        "an ImageNet CNN backbone on mel images (transfer learning)",
        build=functools.partial(build_transfer, backbone=name),
        family="transfer",
        defaults=dict(TRANSFER_DEFAULTS),
    )


_SPECS = (
    ModelSpec(
        "conv1d", "keras", ("vector",), "the seed projects' Conv1D on the 162 stats", build_conv1d, log_power=True
    ),
    ModelSpec(
        "conv1d_avgpool",
        "keras",
        ("vector",),
        "the seed projects' mixed/male/female Conv1D with average pooling",
        build_conv1d_avgpool,
        log_power=True,
    ),
    ModelSpec("conv2d", "keras", ("image",), "a compact CNN on log-mel images", build_conv2d),
    ModelSpec(
        "conv2d_pool",
        "keras",
        ("image",),
        "a mel CNN with per-utterance normalisation and statistics pooling",
        build_conv2d_pool,
    ),
    ModelSpec(
        "cnn_lstm",
        "keras",
        ALL_LAYOUTS,
        "a Conv1D front end over time, then a bidirectional LSTM",
        build_cnn_lstm,
        log_power=True,
    ),
    ModelSpec("dnn", "keras", ("vector",), "an MLP regularised for few speakers", build_dnn, log_power=True),
    ModelSpec(
        "tdnn",
        "keras",
        ("sequence",),
        "a TDNN / ECAPA-style Conv1D over frames: dilated SE blocks, attentive statistics pooling",
        build_tdnn,
        family="frame",
        log_power=True,
        defaults=dict(FRAME_DEFAULTS),
    ),
    ModelSpec(
        "attention_lstm",
        "keras",
        ("sequence",),
        "a bidirectional LSTM over frames with attentive statistics pooling",
        build_attention_lstm,
        family="frame",
        log_power=True,
        defaults=dict(FRAME_DEFAULTS),
    ),
    ModelSpec(
        "fusion",
        "keras",
        ("fused",),
        "logreg on the functionals and tdnn on the frames of the same clip, probabilities averaged, one model",
        family="fusion",
        defaults=dict(FRAME_DEFAULTS),
    ),
    *(_transfer(name) for name in TRANSFER_MODELS),
    ModelSpec(
        "mlp",
        "sklearn",
        ALL_LAYOUTS,
        "scikit-learn MLP (256, 128)",
        estimator=mlp,
        family="baseline",
    ),
    ModelSpec(
        "knn",
        "sklearn",
        ALL_LAYOUTS,
        "scikit-learn 5-nearest neighbours",
        estimator=knn,
        family="baseline",
    ),
    ModelSpec(
        "logreg",
        "sklearn",
        ALL_LAYOUTS,
        "multinomial logistic regression, exported as its equal Keras model",
        estimator=logistic_regression,
        family="baseline",
        group_balance=True,
        keras_equivalent=True,
    ),
    ModelSpec(
        "svm",
        "sklearn",
        ALL_LAYOUTS,
        "scikit-learn RBF SVM with Platt probabilities",
        estimator=svm,
        family="baseline",
    ),
)
#: ``--model`` name -> its spec, in the order the help lists them.
MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in _SPECS}
#: The Keras models' builders (a view of `MODELS`).
KERAS_MODELS: dict[str, Callable] = {name: spec.build for name, spec in MODELS.items() if spec.is_keras}
#: The scikit-learn baselines (a view of `MODELS`).
SKLEARN_MODELS = tuple(name for name, spec in MODELS.items() if not spec.is_keras)

__all__ = ["MODELS", "ModelSpec", "KERAS_MODELS", "SKLEARN_MODELS", "TRANSFER_MODELS", "is_pretrained"]


def model_names() -> list[str]:
    """Every ``--model`` name."""
    return list(MODELS)


def get_spec(name: str) -> ModelSpec:
    """The spec of ``--model name``; an unknown name is answered with the valid ones."""
    if name not in MODELS:
        raise ParameterError(f"unknown model {name!r}; valid models are: {', '.join(model_names())}")
    return MODELS[name]


def get_builder(name: str) -> Callable:
    """The Keras builder called ``name``; unknown names are answered with the valid ones."""
    spec = get_spec(name)
    if not spec.is_keras:
        raise ParameterError(f"{name} is a scikit-learn model, not a Keras builder")
    return spec.build


def models_help() -> str:
    """The ``--model`` help: each model and its line."""
    return "; ".join(f"{name}: {spec.help}" for name, spec in MODELS.items())
