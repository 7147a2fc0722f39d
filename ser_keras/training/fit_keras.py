"""Fitting a Keras model: built and compiled inside a ``tf.distribute`` strategy, early-stopped on
the validation speakers (or, with ``--select last``, trained on train + val for its epochs).

The batch size is per replica.  Transfer-learning backbones train in two phases
(frozen, then fine-tuned at ``lr * fine_tune_lr_factor``).  ``--ensemble N`` trains N
seeds and averages them into one model (`average_models`).
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from ..extraction.parts import BOUND_MARGIN, fit_bounds, fit_normalization
from ..files import write_csv
from ..layout import HISTORY_FILE, LOGS_DIR
from ..models import get_spec
from .strategies import make_strategy, prepare_multi_worker


def fit_keras(model_name, fs, X_train, y_train, X_val, y_val, options, run_dir, strategy, progress):
    """Train a Keras model (`train_keras`); the model, its history, what ``run.json`` records, and its
    probabilities ``(n_val, n_labels)`` of the validation speakers (None when they were training data)."""
    model, history, extra = train_keras(
        model_name, fs.features, fs.labels, X_train, y_train, X_val, y_val, options, run_dir, strategy, progress
    )
    held_out = options.select != "last"
    return model, history, extra, model.predict(X_val, batch_size=256, verbose=0) if held_out else None


def train_keras(model_name, config, labels, X_train, y_train, X_val, y_val, options, run_dir, strategy, progress):
    """Build, compile and fit a Keras model inside a ``tf.distribute`` strategy; write ``history.csv``.

    Parameters
    ----------
    model_name : str
    config : FeatureConfig
        The kind of ``X_train`` (its layout, power columns, normalisation axes).
    labels : list of str
    X_train, y_train, X_val, y_val : np.ndarray
    options : TrainOptions
        Resolved.
    run_dir : Path
        Receives ``history.csv`` and the TensorBoard logs.

    Returns
    -------
    model : keras.Model
        The kept weights (`TrainOptions.select`); an ensemble's members averaged.
    history : pd.DataFrame
    extra : dict
        What ``run.json`` records of the fit.
    """
    import keras
    import tensorflow as tf

    from .pipeline import make_datasets

    keras.utils.set_random_seed(options.seed)
    tf.config.experimental.enable_op_determinism()
    held_out = options.select != "last"
    if not held_out:  # nothing is chosen on the validation speakers, so they are training data too
        X_train, y_train = np.concatenate([X_train, X_val]), np.concatenate([y_train, y_val])
    strategy = strategy or make_strategy(options.strategy, options.devices)
    multi_worker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
    replicas = strategy.num_replicas_in_sync
    global_batch = options.batch_size * replicas
    transfer = get_spec(model_name).is_transfer
    if transfer:
        from ..models.transfer import image_normalization

        build_options = {
            "normalization": image_normalization(X_train),
            "weights": options.weights,
            "image_size": options.image_size,
        }
    else:
        build_options = {}
        X_fit = X_train
        power_columns = config.kind_spec.power_columns
        if power_columns is not None and options.log_power and get_spec(model_name).log_power:
            from ..models.layers import log_compress

            build_options["log_columns"] = power_columns(config)
            X_fit = log_compress(X_train, *build_options["log_columns"])
        mean, variance = fit_normalization(X_fit, config)
        build_options["normalization"] = (mean, variance, *fit_bounds(X_fit, mean, variance, config))
    if model_name == "cnn_lstm":
        build_options["mel_input"] = config.kind_spec.layout == "image"
    spec = get_spec(model_name)
    augment = options.augment_options if options.spec_augment and config.kind_spec.layout == "image" else None
    if spec.is_frame and options.spec_augment:
        build_options["masks"] = frame_masks(options.augment_options, seed=options.seed)
    one_hot = options.label_smoothing > 0 or options.mixup > 0  # both need soft targets
    steps_per_epoch = -(-len(y_train) // global_batch)
    class_weight = _class_weights(y_train, len(labels)) if options.class_weight == "balanced" else None
    members, histories = [], []
    for member in range(options.ensemble):
        seed = options.seed + member
        keras.utils.set_random_seed(seed)
        with strategy.scope():
            model = get_spec(model_name).build(X_train.shape[1:], len(labels), **build_options)
        train_ds, val_ds = make_datasets(
            X_train,
            y_train,
            X_val,
            y_val,
            batch_size=global_batch,
            seed=seed,
            augment=augment,
            shard=replicas > 1 or multi_worker,
            n_classes=len(labels) if one_hot else None,
            mixup=options.mixup,
        )
        logs = run_dir / LOGS_DIR if options.ensemble == 1 else run_dir / LOGS_DIR / f"member-{member + 1}"
        history = _fit_member(
            model,
            model_name,
            strategy,
            multi_worker,
            train_ds,
            val_ds,
            X_train,
            y_train,
            options,
            class_weight,
            logs,
            progress,
            validation=(X_val, y_val),
            steps_per_epoch=steps_per_epoch,
            one_hot=one_hot,
        )
        history.insert(0, "epoch", np.arange(1, len(history) + 1))  # 1-based, as run.json's best_epoch and curves.png
        if options.ensemble > 1:
            history.insert(0, "member", member + 1)
        members.append(model)
        histories.append(history)
    history = pd.concat(histories, ignore_index=True)
    write_csv(history, run_dir / HISTORY_FILE)  # per member and phase
    missing = ({"val_loss", "loss"} if held_out else {"loss"}) - set(history.columns)
    if missing:  # every callback must have monitored a key that exists
        raise RuntimeError(f"training history lacks {missing}")
    if options.ensemble > 1:
        with strategy.scope():
            model = average_models(members, name=f"{model_name}_ensemble{options.ensemble}")
    extra = {
        "strategy": type(strategy).__name__,
        "replicas": int(replicas),
        "global_batch_size": int(global_batch),
        "epochs_run": int(len(history)),
        "best_epoch": _kept_epoch(histories[0], options),
        "ensemble": {
            "members": options.ensemble,
            "seeds": [options.seed + m for m in range(options.ensemble)],
            "combination": "mean of the members' probabilities",
        }
        if options.ensemble > 1
        else None,
        "mean_epoch_seconds": round(float(history["epoch_seconds"].mean()), 2),
        "log_power_columns": build_options.get("log_columns"),
        "normalization": (
            "per-image min-max to [0, 1], then a z-score fitted on the training rows, inside the model"
            if transfer
            else "z-score per feature (per mel band for mel), fitted on the training rows, then clipped to their range "
            f"widened by {BOUND_MARGIN:g} sd, inside the model"
        ),
        "fitted_on": "train" if held_out else "train + val (--select last: no epoch is chosen on val)",
    }
    if augment is not None:
        extra["train_augmentation"] = {"spec_augment": asdict(augment)}
    if "masks" in build_options:
        extra["train_augmentation"] = {"frame_masks": build_options["masks"]}
    if options.mixup:
        extra.setdefault("train_augmentation", {})["mixup"] = options.mixup
    return model, history, extra


def _fit_member(
    model,
    model_name,
    strategy,
    multi_worker,
    train_ds,
    val_ds,
    X_train,
    y_train,
    options,
    class_weight,
    logs: Path,
    progress: bool,
    *,
    validation,
    steps_per_epoch: int,
    one_hot: bool,
) -> pd.DataFrame:
    """Compile and fit one model through its phases (frozen backbone, then fine-tuning); its history.

    Callbacks, in order: the epoch timer, the validation speakers' UA (``val_ua``, when
    ``--select val_ua``), early stopping / best-epoch restore on the selected key, the
    plateau schedule (``--schedule plateau``), TensorBoard.
    """
    import keras

    transfer = get_spec(model_name).is_transfer
    # (name, last epoch, learning rate, backbone trainable) per phase: frozen backbone first, then fine-tuning
    phases = [("train", options.epochs, options.lr, None)]
    if transfer and options.freeze_epochs:
        frozen_epochs = min(options.freeze_epochs, options.epochs)
        phases = [
            ("frozen", frozen_epochs, options.lr, False),
            ("fine-tune", options.epochs, options.lr * options.fine_tune_lr_factor, True),
        ]
    histories, epoch = [], 0
    for name, until_epoch, lr, backbone_trainable in phases:
        if epoch >= until_epoch:
            continue
        if options.schedule == "cosine":
            steps = steps_per_epoch * (until_epoch - epoch)
            lr = keras.optimizers.schedules.CosineDecay(
                0.1 * lr, decay_steps=steps - steps // 10, warmup_target=lr, warmup_steps=steps // 10
            )
        with strategy.scope():
            if backbone_trainable is not None:
                _set_backbone_trainable(model.get_layer("backbone"), backbone_trainable, options.unfreeze)
            loss = (
                keras.losses.CategoricalCrossentropy(label_smoothing=options.label_smoothing)
                if one_hot
                else "sparse_categorical_crossentropy"  # categorical cross-entropy on integer labels
            )
            model.compile(optimizer=_optimizer(options, lr), loss=loss, metrics=["accuracy"])
        if multi_worker:
            prepare_multi_worker(model, strategy, X_train[:1], y_train[:1])
        callbacks = [_epoch_timer()]
        if options.select == "val_ua":
            callbacks.append(_validation_ua(*validation))
        if options.select != "last":
            monitor, mode = ("val_ua", "max") if options.select == "val_ua" else ("val_loss", "min")
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor=monitor,
                    mode=mode,
                    patience=options.patience or until_epoch,
                    restore_best_weights=True,
                    start_from_epoch=0,
                )
            )
        if options.schedule == "plateau":
            callbacks.append(
                keras.callbacks.ReduceLROnPlateau(
                    monitor="val_loss", factor=options.lr_factor, patience=options.lr_patience, min_lr=1e-6
                )
            )
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(logs), write_graph=False, profile_batch=0))
        fit = model.fit(
            train_ds,
            validation_data=val_ds if options.select != "last" else None,
            epochs=until_epoch,
            initial_epoch=epoch,
            callbacks=callbacks,
            class_weight=class_weight,
            verbose=2 if progress else 0,
        )
        part = pd.DataFrame(fit.history)
        part["phase"] = name
        histories.append(part)
        epoch += len(part)
    return pd.concat(histories, ignore_index=True)


def frame_masks(augment_options, *, seed: int) -> dict:
    """`ser_keras.models.layers.FrameMasks` options from ``--spec-augment``'s masks (frequency masks: columns)."""
    return {
        "time_masks": augment_options.time_masks,
        "time_width": augment_options.time_width,
        "feature_masks": augment_options.freq_masks,
        "feature_width": augment_options.freq_width,
        "seed": seed,
    }


def _kept_epoch(history: pd.DataFrame, options) -> int:
    """The 1-based epoch whose weights the run keeps (`TrainOptions.select`)."""
    if options.select == "last":
        return int(history["epoch"].iloc[-1])
    if options.select == "val_ua":
        return int(history["epoch"][history["val_ua"].idxmax()])
    return int(history["epoch"][history["val_loss"].idxmin()])


def _validation_ua(X_val: np.ndarray, y_val: np.ndarray):
    """A callback adding ``val_ua`` (balanced accuracy on the validation speakers) to each epoch's logs."""
    import keras
    from sklearn.metrics import balanced_accuracy_score

    class ValidationUA(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if logs is not None:
                predicted = self.model.predict(X_val, batch_size=256, verbose=0).argmax(axis=1)
                logs["val_ua"] = float(balanced_accuracy_score(y_val, predicted))

    return ValidationUA()


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
    """A callback that adds ``epoch_seconds`` (wall time of the epoch, validation included) and, under a
    schedule, the ``learning_rate`` at the epoch's end to the logs."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            if logs is not None:
                logs["epoch_seconds"] = time.perf_counter() - self.started
                if "learning_rate" not in logs:  # a schedule's current rate (Keras logs only a constant one)
                    logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    return EpochTimer()


def _optimizer(options, lr: float):
    import keras

    if options.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, momentum=options.momentum)
    if options.optimizer == "adamw":
        return keras.optimizers.AdamW(learning_rate=lr, weight_decay=options.weight_decay)
    return keras.optimizers.Adam(learning_rate=lr)


def _set_backbone_trainable(backbone, trainable: bool, unfreeze: str) -> None:
    """Freeze the backbone, or unfreeze all of it / its last ``unfreeze`` layers."""
    backbone.trainable = trainable
    if trainable and unfreeze != "all":
        n_last = int(unfreeze)
        for layer in backbone.layers[: len(backbone.layers) - n_last]:
            layer.trainable = False


def _class_weights(y: np.ndarray, n_classes: int) -> dict[int, float]:
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(y)
    weights = compute_class_weight("balanced", classes=present, y=y)
    return {int(c): float(w) for c, w in zip(present, weights)}
