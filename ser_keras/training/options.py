"""`TrainOptions`: the training options of a recipe, each declared once with its flag and help.

The command line's training options are generated from these fields
(`ser_keras.options.add_options`).  ``None`` means the model family's default
(`TrainOptions.resolve`, from `ser_keras.models.ModelSpec.defaults`).  This module is
light (no TensorFlow, no pandas), so building the command line stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..errors import ParameterError
from ..features.registry import KINDS
from ..models import (
    CLASSIC_DEFAULTS,
    TRANSFER_MODELS,
    TRANSFER_SCRATCH_DEFAULTS,
    get_spec,
    is_pretrained,
    models_help,
)
from ..options import EPOCHS, image_size, image_size_text, number, option
from .pipeline import SpecAugmentOptions

TRAINING = "training"
TRANSFER = "transfer learning (--features mel --model " + "|".join(TRANSFER_MODELS) + ")"
_MODEL_HELP = (
    models_help()
    + ". Default: the feature kind's ("
    + ", ".join(f"{kind}: {spec.default_model}" for kind, spec in KINDS.items())
    + ")"
)


@dataclass
class TrainOptions:
    """Training hyper-parameters.

    ``None`` means the model family's default (`resolve`): Adam 1e-3, batch 32,
    patience 10 for the seed projects' networks; SGD 0.01 (momentum 0.9), batch 16,
    patience 4 and on-the-fly SpecAugment for the transfer-learning backbones, as the
    project they come from used; AdamW 2e-3 (weight decay 0.01) on a cosine schedule run to
    its end, label smoothing 0.1 and frame masks for the frame-level networks (``tdnn``,
    ``attention_lstm``), chosen by speaker cross-validation.

    Transfer learning is two-phase: the backbone is frozen for ``freeze_epochs``
    (default 5 with pretrained weights, 0 from scratch), then unfrozen (``unfreeze``:
    ``"all"`` or the number of final backbone layers) at ``lr * fine_tune_lr_factor``.

    ``seed`` is the command line's ``--seed`` (shared with the split); ``C``,
    ``lr_patience`` and ``lr_factor`` are set from Python only.
    """

    model: str | None = option(None, metavar="NAME", help=_MODEL_HELP, group=TRAINING)
    normalize: str = option(
        "global",
        choices=("global", "speaker", "corpus"),
        group=TRAINING,
        help="global: z-score with train-split statistics (serves one clip from anyone); speaker: first "
        "standardise each speaker by its own clips (transductive: needs several clips of a test speaker); "
        "corpus: each corpus, and at test time the clips scored together, by their own statistics "
        "(transductive: for recordings of unknown speakers from one place) (default: global)",
    )
    epochs: int | None = option(
        None,
        type=EPOCHS,
        group=TRAINING,
        help="most epochs of a Keras model (early stopping may end sooner; default 50, 30 for the frame-level "
        "networks and fusion)",
    )
    batch_size: int | None = option(
        None,
        type=number(int, low=1, high=8192),
        group=TRAINING,
        help="per replica; the global batch is this x replicas (default 32; 16 for transfer learning)",
    )
    lr: float | None = option(
        None,
        type=number(float, low=0, high=10, low_open=True),
        group=TRAINING,
        help="learning rate (default 1e-3 Adam; 0.01 SGD for transfer learning from pretrained weights, 1e-3 Adam "
        "from scratch; 2e-3 AdamW for the frame-level networks)",
    )
    seed: int = 0
    class_weight: str | None = option(
        "balanced",
        choices=("balanced", "none"),
        group=TRAINING,
        help="balanced: weight classes inversely to their frequency in train; none: equal weights",
    )
    C: float | None = None
    patience: int | None = option(
        None,
        type=number(int, low=0, high=10_000),
        group=TRAINING,
        help="early stopping after this many epochs without a better --select value, best weights restored; "
        "0 runs every epoch (default 10; 4 for transfer learning; 0 for the frame-level networks)",
    )
    lr_patience: int = 4
    lr_factor: float = 0.5
    strategy: str = option(
        "mirrored",
        choices=("mirrored", "multi-worker"),
        group=TRAINING,
        help="mirrored: one machine; multi-worker: MultiWorkerMirroredStrategy from TF_CONFIG",
    )
    devices: int | None = option(
        None,
        type=number(int, low=1, high=64),
        group=TRAINING,
        help="on a CPU-only machine, split the CPU into N logical devices",
    )
    optimizer: str | None = option(
        None,
        choices=("adam", "adamw", "sgd"),
        group=TRAINING,
        help="default adam; sgd for transfer learning from pretrained weights; adamw for the frame-level networks",
    )
    weight_decay: float | None = option(
        None,
        type=number(float, low=0, high=1),
        group=TRAINING,
        help="AdamW's decoupled weight decay (default 0.01 for the frame-level networks; unused by adam and sgd)",
    )
    schedule: str | None = option(
        None,
        choices=("plateau", "cosine"),
        group=TRAINING,
        help="plateau: halve the learning rate when val_loss stalls; cosine: a linear warm-up over the first "
        "tenth of the steps, then a cosine decay to zero at --epochs (default plateau; cosine for the "
        "frame-level networks)",
    )
    select: str | None = option(
        None,
        choices=("val_loss", "val_ua", "last"),
        group=TRAINING,
        help="which epoch's weights the run keeps: val_loss / val_ua: the best on the validation speakers "
        "(early stopping after --patience epochs without one); last: the final epoch, and as nothing is chosen "
        "on them the validation speakers train too (default val_loss; last for the frame-level networks)",
    )
    label_smoothing: float | None = option(
        None,
        type=number(float, low=0, high=0.5),
        group=TRAINING,
        help="label smoothing of the cross-entropy (default 0; 0.1 for the frame-level networks)",
    )
    mixup: float = option(
        0.0,
        type=number(float, low=0, high=100),
        group=TRAINING,
        help="mixup of training pairs, the Beta(a, a) parameter a; 0 turns it off",
    )
    momentum: float = option(0.9, type=number(float, low=0, high=1), group=TRAINING, help="SGD momentum")
    weights: str | None = option(
        None,
        group=TRANSFER,
        help="backbone weights: imagenet (Keras's, where published; needs network), "
        "none (default) or PATH to a .weights.h5 of the backbone",
    )
    image_size: tuple[int, int] | None = option(
        None,
        type=image_size,
        text=image_size_text,
        metavar="HxW",
        group=TRANSFER,
        help="resize mel images first, e.g. 224x224, or none (the images as extracted)",
    )
    freeze_epochs: int | None = option(
        None,
        type=number(int, low=0, high=10_000),
        group=TRANSFER,
        help="epochs with the backbone frozen before fine-tuning (default 5 with pretrained weights, 0 from scratch)",
    )
    unfreeze: str = option("all", group=TRANSFER, help="fine-tune all backbone layers or the last N")
    fine_tune_lr_factor: float = option(
        0.1, type=number(float, low=0, high=10, low_open=True), group=TRANSFER, help="fine-tuning lr = lr x this"
    )
    spec_augment: bool | None = option(
        None,
        switch=True,
        group=TRANSFER,
        help="on-the-fly time shift + SpecAugment of mel training batches; for the frame-level networks, "
        "masks of frames and columns in training (default: on for transfer learning and frame-level networks)",
    )
    ensemble: int = option(
        1,
        type=number(int, low=1, high=32),
        metavar="N",
        group=TRAINING,
        help="train N members (seeds seed..seed+N-1) and average their probabilities in one model, "
        "one SavedModel, one report (Keras models)",
    )
    log_power: bool = option(
        True,
        switch=True,
        group=TRAINING,
        help="log-compress the raw mel power block of stats/frames inside the model, before its z-score "
        "(default: on; --no-log-power is the seed projects' raw scale)",
    )
    group_balance: bool = option(
        True,
        switch=True,
        group=TRAINING,
        help="logreg on functionals: weigh each descriptor family equally under the L2 penalty "
        "(default: on; --no-group-balance weighs every column equally)",
    )
    augment_options: SpecAugmentOptions = field(default_factory=SpecAugmentOptions)

    def resolve(self, model_name: str) -> TrainOptions:
        """A copy with every family default filled in (`ser_keras.models.ModelSpec.defaults`)."""
        spec = get_spec(model_name)
        transfer = spec.is_transfer
        pretrained = is_pretrained(self.weights)
        defaults = {**CLASSIC_DEFAULTS, **spec.defaults, "freeze_epochs": 5 if transfer and pretrained else 0}
        if transfer and not pretrained:
            defaults.update(TRANSFER_SCRATCH_DEFAULTS)
        resolved = replace(self, model=model_name, **{k: v for k, v in defaults.items() if getattr(self, k) is None})
        if resolved.optimizer not in ("adam", "adamw", "sgd"):
            raise ParameterError(f"unknown optimizer {resolved.optimizer!r}; choose adam, adamw or sgd")
        if not transfer and (pretrained or resolved.freeze_epochs):
            raise ParameterError(
                f"--weights and --freeze-epochs apply to the transfer-learning models, not {model_name}"
            )
        if resolved.ensemble > 1 and not spec.is_keras:
            raise ParameterError(f"--ensemble averages Keras models; {model_name} is a scikit-learn model")
        if resolved.unfreeze != "all" and not str(resolved.unfreeze).isdigit():
            raise ParameterError(f"--unfreeze takes 'all' or a number of layers, got {resolved.unfreeze!r}")
        return resolved
