"""The train stage: a feature set -> a run directory with a trained, evaluated, exported model.

Every Keras model is built and compiled inside ``strategy.scope()``:
``MirroredStrategy`` over the visible GPUs (the CPU when there are none; ``devices=N``
splits the CPU into N logical devices to exercise multi-replica training), or
``MultiWorkerMirroredStrategy`` from ``TF_CONFIG``.  The batch size is per replica.

Validation is the speaker-independent ``val`` split, never ``test``; the z-score
normalisation is fitted on the training rows only and lives inside the model.

A run directory holds ``model.keras`` (or ``model.skops`` for scikit-learn baselines),
``saved_model/`` (``model.export``), ``run.json`` (labels, feature config, split speakers,
seed, versions), ``history.csv``, ``logs/`` (TensorBoard), ``report.json``,
``confusion_matrix.png`` and ``curves.png``.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__
from .corpora import corpus_names
from .errors import ParameterError
from .provenance import library_versions
from .extract import FeatureSet
from .features import KINDS
from .files import atomic_write_json, write_csv
from .models import SKLEARN_MODELS, TRANSFER_MODELS, get_builder, is_pretrained, model_names
from .pipeline import SpecAugmentOptions
from .report import score, write_report
from .runs import (
    ESTIMATOR_FILE,
    GENDER_FILE,
    GROUP_FILE,
    RUN_FILE,
    Staged,
    feature_set_of,
    load_run,
    published_name,
    read_sidecar,
    run_name,
    save_estimator,
)

GENDERS = ("mixed", "male", "female")
#: Keras models whose first layers can log-compress raw power columns (`ser_keras.models.layers.LogCompress`).
LOG_POWER_MODELS = ("conv1d", "conv1d_avgpool", "cnn_lstm", "dnn")


@dataclass
class TrainOptions:
    """Training hyper-parameters.

    ``None`` means the model family's default (`resolve`): Adam 1e-3, batch 32,
    patience 10 for the seed projects' networks; SGD 0.01 (momentum 0.9), batch 16,
    patience 4 and on-the-fly SpecAugment for the transfer-learning backbones, as the
    project they come from used.

    Transfer learning is two-phase: the backbone is frozen for ``freeze_epochs``
    (default 5 with pretrained weights, 0 from scratch), then unfrozen (``unfreeze``:
    ``"all"`` or the number of final backbone layers) at ``lr * fine_tune_lr_factor``.
    """

    model: str | None = None
    normalize: str = "global"
    epochs: int = 50
    batch_size: int | None = None
    lr: float | None = None
    seed: int = 0
    class_weight: str | None = "balanced"
    C: float | None = None
    patience: int | None = None
    lr_patience: int = 4
    lr_factor: float = 0.5
    strategy: str = "mirrored"
    devices: int | None = None
    optimizer: str | None = None
    momentum: float = 0.9
    weights: str | None = None
    image_size: tuple[int, int] | None = None
    freeze_epochs: int | None = None
    unfreeze: str = "all"
    fine_tune_lr_factor: float = 0.1
    spec_augment: bool | None = None
    ensemble: int = 1
    log_power: bool = True
    group_balance: bool = True
    augment_options: SpecAugmentOptions = field(default_factory=SpecAugmentOptions)

    def resolve(self, model_name: str) -> TrainOptions:
        """A copy with every family default filled in."""
        transfer = model_name in TRANSFER_MODELS
        pretrained = is_pretrained(self.weights)
        defaults = {
            "batch_size": 16 if transfer else 32,
            "lr": 0.01 if transfer else 1e-3,
            "patience": 4 if transfer else 10,
            "optimizer": "sgd" if transfer else "adam",
            "freeze_epochs": 5 if transfer and pretrained else 0,
            "spec_augment": transfer,
        }
        resolved = replace(self, model=model_name, **{k: v for k, v in defaults.items() if getattr(self, k) is None})
        if resolved.optimizer not in ("adam", "sgd"):
            raise ParameterError(f"unknown optimizer {resolved.optimizer!r}; choose adam or sgd")
        if not transfer and (pretrained or resolved.freeze_epochs):
            raise ParameterError(f"--weights and --freeze-epochs apply to the transfer-learning models, not {model_name}")
        if resolved.ensemble > 1 and model_name in SKLEARN_MODELS:
            raise ParameterError(f"--ensemble averages Keras models; {model_name} is a scikit-learn model")
        if resolved.unfreeze != "all" and not str(resolved.unfreeze).isdigit():
            raise ParameterError(f"--unfreeze takes 'all' or a number of layers, got {resolved.unfreeze!r}")
        return resolved


def configure_devices(n_devices: int | None) -> None:
    """Split the (first) CPU into ``n_devices`` logical devices; must run before TensorFlow initialises."""
    import tensorflow as tf

    if not n_devices or n_devices < 2 or tf.config.list_physical_devices("GPU"):
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n_devices)
    except RuntimeError:
        if len(tf.config.list_logical_devices("CPU")) != n_devices:
            raise ParameterError(
                f"cannot split the CPU into {n_devices} devices: TensorFlow is already initialised in this process"
            ) from None


def make_strategy(kind: str = "mirrored", devices: int | None = None):
    """The ``tf.distribute`` strategy every model is built under."""
    import tensorflow as tf

    if kind == "multi-worker":
        if "TF_CONFIG" not in os.environ:
            raise ParameterError("--strategy multi-worker needs TF_CONFIG describing the cluster")
        return tf.distribute.MultiWorkerMirroredStrategy()
    if kind != "mirrored":
        raise ParameterError(f"unknown strategy {kind!r}; choose mirrored or multi-worker")
    configure_devices(devices)
    if tf.config.list_physical_devices("GPU"):
        return tf.distribute.MirroredStrategy()
    cpus = tf.config.list_logical_devices("CPU")
    return tf.distribute.MirroredStrategy([d.name for d in cpus])


def is_chief() -> bool:
    """False on non-chief workers of a multi-worker cluster (they write nothing that matters)."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = config.get("task", {})
    if not task or task.get("type") == "chief":
        return True
    has_chief = "chief" in config.get("cluster", {})
    return task.get("type") == "worker" and task.get("index", 0) == 0 and not has_chief


def fit_normalization(X: np.ndarray, config) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance for the model's ``Normalization`` layer, from training rows only.

    Per feature for vectors ``(F,)`` and sequences ``(T, F)``; per mel band for images ``(M, T)``.
    """
    axes = (0, 2) if config.kind_spec.layout == "image" else tuple(range(X.ndim - 1))
    mean = X.mean(axis=axes, dtype=np.float64)
    variance = X.var(axis=axes, dtype=np.float64)
    return mean.astype(np.float32), np.maximum(variance, 1e-12).astype(np.float32)


def gender_rows(manifest: pd.DataFrame, gender: str) -> np.ndarray:
    """Boolean mask of the rows a gender variant trains and tests on."""
    if gender not in GENDERS:
        raise ParameterError(f"unknown gender {gender!r}; choose mixed, male, female or all")
    if gender == "mixed":
        return np.ones(len(manifest), dtype=bool)
    unknown = manifest.loc[manifest["gender"] == "unknown", "corpus"].unique()
    if len(unknown):
        raise ParameterError(f"--gender {gender} needs speaker genders, unknown for corpus {', '.join(unknown)}")
    return (manifest["gender"] == gender).to_numpy()


@dataclass
class Part:
    """One split of the data a run sees: ``X`` [shape=(n, *feature shape)], ``y`` [shape=(n,)] and its manifest rows."""

    X: np.ndarray
    y: np.ndarray
    rows: pd.DataFrame


def load_split(fs: FeatureSet, split: str, gender: str) -> Part:
    """One split of a feature set restricted to a gender variant, in memory."""
    manifest = fs.manifest
    part = manifest[manifest["split"] == split].reset_index(drop=True)
    mask = gender_rows(part, gender)
    X, y = fs.arrays(split)
    return Part(np.asarray(X[mask]), np.asarray(y[mask]), part[mask].reset_index(drop=True))


def normalize_parts(parts: dict[str, Part], normalize: str, config) -> dict[str, Part]:
    """Apply ``--normalize`` to every part: ``speaker`` standardises each speaker by its own rows
    (original views only; `ser_keras.normalize`), ``global`` leaves them for the model's z-score layer."""
    from .normalize import check_normalization, standardize_by_speaker

    if check_normalization(normalize) == "global":
        return parts
    out = {}
    for split, part in parts.items():
        original = (part.rows["view"] == "orig").to_numpy() if "view" in part.rows else None
        X = standardize_by_speaker(part.X, part.rows["speaker"].to_numpy(), reference=original,
                                   time_axis=config.kind_spec.time_axis)  # fmt: skip
        out[split] = Part(X, part.y, part.rows)
    return out


def train(fs: FeatureSet, *, gender: str = "mixed", out_dir: str | os.PathLike = "models",
          options: TrainOptions | None = None, strategy=None, progress: bool = True,
          parts: dict[str, Part] | None = None, name: str | None = None, recipe: dict | None = None) -> Path:  # fmt: skip
    """Train one gender variant on a feature set, evaluate it on its test split, export it.

    Parameters
    ----------
    fs : FeatureSet
    gender : {'mixed', 'male', 'female'}
    out_dir : path
        Parent of the run folder, which is built hidden and published atomically (`ser_keras.runs`).
    options : TrainOptions
    parts : dict of Part, optional
        ``train`` / ``val`` / ``test`` data to use instead of the feature set's own splits
        (cross-validation folds); features as stored, before ``options.normalize``.
    name : str, optional
        The run folder's name (default: recipe and start time, `ser_keras.runs.run_name`).
    recipe : dict, optional
        The command-line recipe, written to ``recipe.yaml`` (`ser_keras.recipe`) so that
        ``ser-keras train --config RUN/recipe.yaml`` replays the run.

    Returns
    -------
    run_dir : Path
    """
    kind = fs.features.kind
    options = check_recipe(options or TrainOptions(), fs.features)
    model_name = options.model
    if parts is None:
        parts = {split: load_split(fs, split, gender) for split in ("train", "val", "test")}
    for split, part in parts.items():
        if len(part.X) == 0:
            raise ParameterError(f"the {split} split has no {gender} rows in {fs.path}")
    parts = normalize_parts(parts, options.normalize, fs.features)
    if not is_chief():
        import tempfile

        out_dir = tempfile.mkdtemp(prefix="ser-keras-worker-")
    with Staged(out_dir, name or run_name(kind, model_name, gender, options.normalize, f"seed{options.seed}")) as run:
        _train_into(run.staging, fs, model_name, gender, options, strategy, progress, parts)
        if recipe is not None:
            from .recipe import write_recipe

            write_recipe(recipe, run.staging)
    return run.path


def check_recipe(options: TrainOptions, config) -> TrainOptions:
    """The options resolved for the feature kind (`TrainOptions.resolve`), after checking that the
    model exists and takes these features; run before any extraction or training."""
    model_name = options.model or config.kind_spec.default_model
    if model_name not in model_names():
        raise ParameterError(f"unknown model {model_name!r}; valid models are: {', '.join(model_names())}")
    check_model_suits(model_name, config)
    return options.resolve(model_name)


def check_model_suits(model_name: str, config) -> None:
    """Refuse a model that cannot take the feature kind's arrays, naming both."""
    layout = config.kind_spec.layout
    suits = {"conv1d": ("vector",), "conv1d_avgpool": ("vector",), "dnn": ("vector",),
             "conv2d": ("image",), "conv2d_pool": ("image",), "cnn_lstm": ("sequence", "image", "vector")}  # fmt: skip
    if model_name in TRANSFER_MODELS:
        suits[model_name] = ("image",)
    allowed = suits.get(model_name)
    if allowed is not None and layout not in allowed:
        kinds = [k for k, spec in KINDS.items() if spec.layout in allowed]
        raise ParameterError(f"--model {model_name} does not take {config.kind} features; extract with --features {' or '.join(kinds)}")


def _train_into(run_dir: Path, fs, model_name, gender, options, strategy, progress, parts: dict[str, Part]):
    """Train, score and export into the (staging) folder ``run_dir``."""
    train_part, val_part, test_part = parts["train"], parts["val"], parts["test"]
    started = time.perf_counter()
    if model_name in SKLEARN_MODELS:
        probabilities, history, extra = _train_sklearn(model_name, train_part, val_part, test_part.X, options, run_dir,
                                                       config=fs.features, labels=fs.labels)  # fmt: skip
    else:
        probabilities, history, extra = _train_keras(
            model_name, fs, train_part.X, train_part.y, val_part.X, val_part.y, test_part.X, options, run_dir,
            strategy, progress,
        )  # fmt: skip
    seconds = time.perf_counter() - started
    report = score(test_part.y, probabilities.argmax(axis=1), fs.labels)
    report["test_speakers"] = sorted(test_part.rows["speaker"].unique())
    report["evaluated_on"] = "own test split"
    report["normalize"] = options.normalize
    if options.normalize == "speaker":
        report["note"] = ("speaker normalisation is transductive: each test speaker's features were standardised "
                          "by the statistics of that speaker's own test clips")  # fmt: skip
    title = (f"{published_name(run_dir)}: {model_name} on {corpus_names(fs.config.get('corpora'))} "
             f"({fs.features.kind}, {gender}, {options.normalize})")  # fmt: skip
    write_report(report, run_dir, history=history, title=title)
    sidecar = {
        "package_version": __version__,
        "library_versions": library_versions(("tensorflow", "keras", "numpy", "librosa", "scikit-learn")),
        "model": model_name,
        "gender": gender,
        "normalize": options.normalize,
        "labels": fs.labels,
        "features": fs.config["features"],
        "feature_set": str(fs.path.resolve()),
        "feature_set_relative": os.path.relpath(fs.path.resolve(), Path(run_dir).resolve()),
        "feature_fingerprint": fs.config["fingerprint"],
        "corpora": fs.config.get("corpora", []),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "augment": fs.config["augment"],
        "split": fs.config["split"],
        "speakers": {
            "train": sorted(train_part.rows["speaker"].unique()),
            "val": sorted(val_part.rows["speaker"].unique()),
            "test": report["test_speakers"],
        },
        "n": {split: int(len(part.y)) for split, part in parts.items()},
        "seed": options.seed,
        "options": asdict(options),
        "training_seconds": round(seconds, 2),
        **extra,
    }
    atomic_write_json(run_dir / RUN_FILE, sidecar)


def train_gender_group(fs: FeatureSet, runs: dict[str, Path], *, out_dir: str | os.PathLike = "models",
                       seed: int = 0) -> Path:  # fmt: skip
    """Group the runs of ``--gender all`` with a gender classifier that routes clips among them.

    The classifier (standardised time-averaged features -> logistic regression) is fitted
    on the train split and scored on the test split's speakers.

    Returns
    -------
    group_dir : Path
        Holds ``group.json`` (the three runs, relative), ``gender.skops`` and ``gender_report.json``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from .predict import gender_inputs

    def gendered(split):
        part = fs.manifest[fs.manifest["split"] == split].reset_index(drop=True)
        gender_rows(part, "male")  # refuses corpora of unknown gender
        X_all, _ = fs.arrays(split)
        keep = part["gender"].isin(["male", "female"]).to_numpy()
        return gender_inputs(np.asarray(X_all)[keep], fs.features), part.loc[keep, "gender"].to_numpy()

    X_train, g_train = gendered("train")
    X_test, g_test = gendered("test")
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.1, random_state=seed))
    classifier.fit(X_train, g_train)
    sidecar = read_sidecar(runs["mixed"])
    name = run_name(fs.features.kind, sidecar["model"], "all", f"seed{seed}")
    with Staged(out_dir, name) as group:
        save_estimator(classifier, group.staging / GENDER_FILE)
        report = {"balanced_accuracy": float(balanced_accuracy_score(g_test, classifier.predict(X_test))),
                  "n_test": int(len(g_test)), "classes": [str(c) for c in classifier.classes_]}  # fmt: skip
        atomic_write_json(group.staging / "gender_report.json", report)
        group_file = {
            # relative to the published group folder, a child of out_dir like the staging folder
            "runs": {name: os.path.join("..", os.path.relpath(run, group.out_dir)) for name, run in runs.items()},
            "gender_classifier": GENDER_FILE,
            "features": fs.config["features"],
            "gender_balanced_accuracy": report["balanced_accuracy"],
        }
        atomic_write_json(group.staging / GROUP_FILE, group_file)
    return group.path


def _train_keras(model_name, fs, X_train, y_train, X_val, y_val, X_test, options, run_dir, strategy, progress):
    import keras
    import tensorflow as tf

    from .pipeline import make_datasets
    from .serving import export_saved_model

    keras.utils.set_random_seed(options.seed)
    tf.config.experimental.enable_op_determinism()
    strategy = strategy or make_strategy(options.strategy, options.devices)
    multi_worker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
    replicas = strategy.num_replicas_in_sync
    global_batch = options.batch_size * replicas
    transfer = model_name in TRANSFER_MODELS
    if transfer:
        from .models.transfer import image_normalization

        build_options = {"normalization": image_normalization(X_train), "weights": options.weights,
                         "image_size": options.image_size}  # fmt: skip
    else:
        build_options = {}
        X_fit = X_train
        power_columns = fs.features.kind_spec.power_columns
        if power_columns is not None and options.log_power and model_name in LOG_POWER_MODELS:
            from .models.layers import log_compress

            build_options["log_columns"] = power_columns(fs.features)
            X_fit = log_compress(X_train, *build_options["log_columns"])
        build_options["normalization"] = fit_normalization(X_fit, fs.features)
    if model_name == "cnn_lstm":
        build_options["mel_input"] = fs.features.kind_spec.layout == "image"
    augment = options.augment_options if options.spec_augment and fs.features.kind_spec.layout == "image" else None
    class_weight = _class_weights(y_train, len(fs.labels)) if options.class_weight == "balanced" else None
    members, histories = [], []
    for member in range(options.ensemble):
        seed = options.seed + member
        keras.utils.set_random_seed(seed)
        with strategy.scope():
            model = get_builder(model_name)(X_train.shape[1:], len(fs.labels), **build_options)
        train_ds, val_ds = make_datasets(X_train, y_train, X_val, y_val, batch_size=global_batch, seed=seed,
                                         augment=augment, shard=replicas > 1 or multi_worker)  # fmt: skip
        logs = run_dir / "logs" if options.ensemble == 1 else run_dir / "logs" / f"member-{member + 1}"
        history = _fit_member(model, model_name, strategy, multi_worker, train_ds, val_ds, X_train, y_train, options,
                              class_weight, logs, progress)  # fmt: skip
        history.insert(0, "epoch", np.arange(1, len(history) + 1))  # 1-based, as run.json's best_epoch and curves.png
        if options.ensemble > 1:
            history.insert(0, "member", member + 1)
        members.append(model)
        histories.append(history)
    history = pd.concat(histories, ignore_index=True)
    write_csv(history, run_dir / "history.csv")  # per member and phase
    missing = {"val_loss", "loss"} - set(history.columns)
    if missing:  # every callback must have monitored a key that exists
        raise RuntimeError(f"training history lacks {missing}")
    if options.ensemble > 1:
        with strategy.scope():
            model = average_models(members, name=f"{model_name}_ensemble{options.ensemble}")
    model.save(run_dir / "model.keras")
    export_saved_model(model, run_dir / "saved_model", config=fs.features, labels=fs.labels, normalize=options.normalize)
    probabilities = model.predict(X_test, batch_size=256, verbose=0)
    extra = {
        "strategy": type(strategy).__name__,
        "replicas": int(replicas),
        "global_batch_size": int(global_batch),
        "epochs_run": int(len(history)),
        "best_epoch": int(histories[0]["epoch"][histories[0]["val_loss"].idxmin()]),
        "ensemble": {"members": options.ensemble, "seeds": [options.seed + m for m in range(options.ensemble)],
                     "combination": "mean of the members' probabilities"} if options.ensemble > 1 else None,
        "mean_epoch_seconds": round(float(history["epoch_seconds"].mean()), 2),
        "log_power_columns": build_options.get("log_columns"),
        "normalization": (
            "per-image min-max to [0, 1], then a z-score fitted on the train split, inside the model"
            if transfer else "z-score per feature (per mel band for mel), fitted on the train split, inside the model"
        ),  # fmt: skip
    }
    if augment is not None:
        extra["train_augmentation"] = {"spec_augment": asdict(augment)}
    return probabilities, history, extra


def _fit_member(model, model_name, strategy, multi_worker, train_ds, val_ds, X_train, y_train, options, class_weight,
                logs: Path, progress: bool) -> pd.DataFrame:  # fmt: skip
    """Compile and fit one model through its phases (frozen backbone, then fine-tuning); its history."""
    import keras

    transfer = model_name in TRANSFER_MODELS
    # (name, last epoch, learning rate, backbone trainable) per phase: frozen backbone first, then fine-tuning
    phases = [("train", options.epochs, options.lr, None)]
    if transfer and options.freeze_epochs:
        frozen_epochs = min(options.freeze_epochs, options.epochs)
        phases = [("frozen", frozen_epochs, options.lr, False),
                  ("fine-tune", options.epochs, options.lr * options.fine_tune_lr_factor, True)]  # fmt: skip
    histories, epoch = [], 0
    for name, until_epoch, lr, backbone_trainable in phases:
        if epoch >= until_epoch:
            continue
        with strategy.scope():
            if backbone_trainable is not None:
                _set_backbone_trainable(model.get_layer("backbone"), backbone_trainable, options.unfreeze)
            model.compile(optimizer=_optimizer(options, lr), loss="sparse_categorical_crossentropy",
                          metrics=["accuracy"])  # fmt: skip  (categorical cross-entropy on integer labels)
        if multi_worker:
            _prepare_multi_worker(model, strategy, X_train[:1], y_train[:1])
        callbacks = [
            _epoch_timer(),
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=options.patience, restore_best_weights=True),
            keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=options.lr_factor,
                                              patience=options.lr_patience, min_lr=1e-6),  # fmt: skip
            keras.callbacks.TensorBoard(log_dir=str(logs), write_graph=False, profile_batch=0),
        ]
        fit = model.fit(train_ds, validation_data=val_ds, epochs=until_epoch, initial_epoch=epoch, callbacks=callbacks,
                        class_weight=class_weight, verbose=2 if progress else 0)  # fmt: skip
        part = pd.DataFrame(fit.history)
        part["phase"] = name
        histories.append(part)
        epoch += len(part)
    return pd.concat(histories, ignore_index=True)


def average_models(members: list, *, name: str = "ensemble"):
    """One Keras model whose output is the mean of ``members``' probabilities (same input shape).

    Saved, reloaded and exported as one model: one ``model.keras``, one SavedModel.
    """
    import keras

    inputs = keras.Input(shape=members[0].input_shape[1:], name="features")
    for i, member in enumerate(members, start=1):
        member.name = f"member_{i}"  # unique names inside the ensemble
    outputs = keras.layers.Average(name="emotion")([member(inputs) for member in members])
    return keras.Model(inputs, outputs, name=name)


def _epoch_timer():
    """A callback that adds ``epoch_seconds`` (wall time of the epoch, validation included) to the logs."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            if logs is not None:
                logs["epoch_seconds"] = time.perf_counter() - self.started

    return EpochTimer()


def _optimizer(options: TrainOptions, lr: float):
    import keras

    if options.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, momentum=options.momentum)
    return keras.optimizers.Adam(learning_rate=lr)


def _set_backbone_trainable(backbone, trainable: bool, unfreeze: str) -> None:
    """Freeze the backbone, or unfreeze all of it / its last ``unfreeze`` layers."""
    backbone.trainable = trainable
    if trainable and unfreeze != "all":
        n_last = int(unfreeze)
        for layer in backbone.layers[: len(backbone.layers) - n_last]:
            layer.trainable = False


def _prepare_multi_worker(model, strategy, x_sample: np.ndarray, y_sample: np.ndarray) -> None:
    """Work around two Keras 3 defects with ``MultiWorkerMirroredStrategy`` (keras-team/keras#20585).

    1. ``fit``/``evaluate`` build the model from a first batch averaged with ``strategy.reduce``,
       which refuses the nested ``(x, y)`` batch: every variable is built here from a one-row host
       batch instead, and the model is told there is nothing left to build.
    2. Logged metrics are averaged over workers with ``reduce(MEAN, axis=0)``, which fails on
       scalars: each step's metrics get a leading replica axis of length 1, so the same call
       averages them over replicas.

    Training itself (the distributed dataset, gradients, all-reduce) is Keras's own.
    """
    import keras

    with strategy.scope():
        model._symbolic_build(data_batch=(x_sample, y_sample))
        model.optimizer.build(model.trainable_variables)
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
    if getattr(model, "_ser_keras_replica_axis", False):
        return
    model._ser_keras_replica_axis = True

    def with_replica_axis(step):
        def wrapped(data):
            return {name: keras.ops.expand_dims(value, 0) for name, value in step(data).items()}

        return wrapped

    model.train_step = with_replica_axis(model.train_step)
    model.test_step = with_replica_axis(model.test_step)


def logistic_to_keras(pipeline, *, n_labels: int):
    """The Keras model equal to a fitted ``StandardScaler [-> column weights] -> LogisticRegression`` pipeline.

    Multinomial logistic regression is a z-score followed by a softmax of an affine map, so
    the Keras model is `Normalization` (the scaler's mean and variance) -> `Dense` softmax
    (the coefficients, times the `group_weights` when the pipeline has them, and the
    intercepts), with zero-probability columns for labels the fit never saw.  Its
    probabilities equal ``pipeline.predict_proba`` to float32 precision.

    Returns
    -------
    model : keras.Model, input ``(n_features,)``, output ``(None, n_labels)``
    """
    import keras

    scaler, clf = pipeline[0], pipeline[-1]
    n_features = scaler.mean_.shape[0]
    weights = pipeline[1].kw_args["weights"] if len(pipeline) == 3 else np.ones(n_features)  # `group_weights`
    kernel = np.zeros((n_features, n_labels), dtype=np.float32)
    bias = np.full(n_labels, -1e9, dtype=np.float32)  # absent labels: probability 0
    kernel[:, clf.classes_] = (clf.coef_ * weights).T
    bias[clf.classes_] = clf.intercept_
    inputs = keras.Input(shape=(n_features,), name="features")
    x = keras.layers.Normalization(mean=scaler.mean_.astype(np.float32), variance=np.square(scaler.scale_).astype(np.float32),
                                   name="normalize")(inputs)  # fmt: skip
    dense = keras.layers.Dense(n_labels, activation="softmax", name="emotion")
    outputs = dense(x)
    dense.set_weights([kernel, bias])
    return keras.Model(inputs, outputs, name="logreg")


def group_weights(config) -> np.ndarray | None:
    """Column weights that give each descriptor family of a kind the same total weight, or None.

    After the z-score, column ``j`` of a family of ``n_g`` columns is multiplied by
    ``n_g ** -0.5`` (then all by one constant, so their root mean square is 1): under
    logistic regression's L2 penalty every family then has the same prior variance,
    instead of the largest (the 640 log-mel statistics of ``functionals``) dominating.
    Chosen by speaker cross-validation (README).

    Returns
    -------
    weights : np.ndarray [shape=(n_features,), dtype=float64] or None
        None for kinds without column groups (`ser_keras.features.FeatureKind.column_groups`).
    """
    if config.kind_spec.column_groups is None:
        return None
    groups = np.asarray(config.kind_spec.column_groups(config))
    _, index, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    weights = sizes[index] ** -0.5
    return weights / np.sqrt(np.mean(weights**2))


def scale_columns(X: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``X * weights`` (a pipeline step of `group_weights`; a module-level function, so it pickles)."""
    return X * weights


def _train_sklearn(model_name, train_part: Part, val_part: Part, X_test, options, run_dir, *, config, labels):
    """Fit a scikit-learn baseline (standardised inputs) on train + val: they have no early
    stopping to spend the validation speakers on."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler
    from sklearn.svm import SVC

    balanced = "balanced" if options.class_weight == "balanced" else None
    if model_name == "mlp":
        clf = MLPClassifier(hidden_layer_sizes=(256, 128), alpha=1e-3, learning_rate_init=options.lr,
                            max_iter=max(options.epochs, 50), early_stopping=False, random_state=options.seed)  # fmt: skip
    elif model_name == "logreg":
        clf = LogisticRegression(C=options.C if options.C is not None else 0.003, max_iter=3000, class_weight=balanced)
    elif model_name == "svm":
        clf = SVC(C=options.C if options.C is not None else 3.0, probability=True, class_weight=balanced,
                  random_state=options.seed)  # fmt: skip
    else:
        clf = KNeighborsClassifier(n_neighbors=5)
    weights = group_weights(config) if model_name == "logreg" and options.group_balance else None
    steps = [StandardScaler()] + ([FunctionTransformer(scale_columns, kw_args={"weights": weights})] if weights is not None else [])
    pipeline = make_pipeline(*steps, clf)
    X = np.concatenate([train_part.X, val_part.X])
    pipeline.fit(X.reshape(len(X), -1), np.concatenate([train_part.y, val_part.y]))
    save_estimator(pipeline, run_dir / ESTIMATOR_FILE)
    probabilities = _sklearn_probabilities(pipeline, X_test)
    if model_name == "logreg" and config.kind_spec.layout == "vector":  # a linear softmax: the same model in Keras, so it exports a SavedModel too
        from .serving import export_saved_model

        export_saved_model(logistic_to_keras(pipeline, n_labels=len(labels)), run_dir / "saved_model", config=config,
                           labels=labels, normalize=options.normalize)  # fmt: skip
    history = None  # linear models, SVM and kNN have no epochs: no history, no curves
    if hasattr(pipeline[-1], "loss_curve_"):
        curve = pipeline[-1].loss_curve_
        history = pd.DataFrame({"epoch": np.arange(1, len(curve) + 1), "loss": curve})
        write_csv(history, run_dir / "history.csv")
    return probabilities, history, {"strategy": None, "fitted_on": "train + val",
                                    "normalization": "StandardScaler fitted on the train + val splits"}  # fmt: skip


def _sklearn_probabilities(pipeline, X: np.ndarray) -> np.ndarray:
    """Probabilities over every label index (classes absent from training get 0)."""
    proba = pipeline.predict_proba(X.reshape(len(X), -1))
    classes = pipeline.classes_
    out = np.zeros((len(X), int(classes.max()) + 1 if len(classes) else 0), dtype=np.float32)
    out[:, classes] = proba
    return out


def _class_weights(y: np.ndarray, n_classes: int) -> dict[int, float]:
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(y)
    weights = compute_class_weight("balanced", classes=present, y=y)
    return {int(c): float(w) for c, w in zip(present, weights)}


def predict_probabilities(model, X: np.ndarray) -> np.ndarray:
    """Class probabilities ``(n, n_labels)`` from a scikit-learn pipeline, a Keras model or a `LiteRTModel`."""
    from .litert import LiteRTModel

    if hasattr(model, "predict_proba"):
        return _sklearn_probabilities(model, X)
    if isinstance(model, LiteRTModel):
        return model.probabilities(X)
    if len(X) <= 64:  # a direct call skips predict()'s per-call dataset machinery (a few clips at serving time)
        import keras

        return keras.ops.convert_to_numpy(model(np.asarray(X, dtype=np.float32), training=False))
    return model.predict(X, batch_size=256, verbose=0)


def _speaker_rows(fs: FeatureSet, speakers: list[str], gender: str) -> Part:
    """The original (non-augmented) rows of ``speakers`` in a cross-validation feature set."""
    rows = fs.manifest
    X, y = fs.arrays("train")
    mask = gender_rows(rows, gender) & (rows["view"] == "orig").to_numpy() & rows["speaker"].isin(speakers).to_numpy()
    return Part(np.asarray(X[mask]), np.asarray(y[mask]), rows[mask].reset_index(drop=True))


def evaluate_run(run_dir: str | os.PathLike, fs: FeatureSet | None = None, *, split: str = "test") -> dict:
    """Re-score a run on its own test split, or on another feature set (cross-corpus).

    Cross-corpus, only the emotions both label sets share are scored: rows of other
    emotions are dropped and the model's choice is restricted to the shared ones;
    the report says which.
    """
    run_dir = Path(run_dir)
    sidecar, model = load_run(run_dir)
    own = fs is None
    fs = fs or FeatureSet(feature_set_of(run_dir, sidecar))
    if fs.config["features"] != sidecar["features"]:
        raise ParameterError(f"{fs.path}: its feature config differs from the one {run_dir} was trained on")
    if own and fs.config.get("split", {}).get("method", "").startswith("cv"):
        part = _speaker_rows(fs, sidecar["speakers"]["test"], sidecar["gender"])  # a cv fold: its held-out speakers
    else:
        part = load_split(fs, split, sidecar["gender"])
    X, y, rows = part.X, part.y, part.rows
    if sidecar.get("normalize", "global") == "speaker":  # transductive: each speaker by its own clips here
        from .normalize import standardize_by_speaker

        X = standardize_by_speaker(X, rows["speaker"].to_numpy(), time_axis=fs.features.kind_spec.time_axis)
    model_labels = sidecar["labels"]
    shared = [name for name in model_labels if name in fs.labels]
    if not shared:
        raise ParameterError(f"no emotion in common between the run ({model_labels}) and the data ({fs.labels})")
    data_to_model = {fs.labels.index(name): model_labels.index(name) for name in shared}
    keep = np.isin(y, list(data_to_model))
    X, rows = X[keep], rows[keep].reset_index(drop=True)
    y_model = np.array([data_to_model[int(v)] for v in y[keep]], dtype=np.int64)
    probabilities = predict_probabilities(model, X)
    shared_index = [model_labels.index(name) for name in shared]
    restricted = probabilities[:, shared_index]
    y_pred = np.asarray(shared_index)[restricted.argmax(axis=1)]
    # re-index onto the shared labels so the report is square
    position = {m: i for i, m in enumerate(shared_index)}
    report = score(np.array([position[v] for v in y_model]), np.array([position[v] for v in y_pred]), shared)
    report["test_speakers"] = sorted(rows["speaker"].unique())
    report["evaluated_on"] = "own test split" if own else f"feature set {fs.path} ({', '.join(fs.config['corpora'])})"
    report["shared_emotions"] = shared
    if not own:
        report["note"] = "cross-corpus: only the emotions both the model and the data have are scored"
    return report
