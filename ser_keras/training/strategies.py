"""The ``tf.distribute`` strategies every Keras model is built and compiled under.

``MirroredStrategy`` over the visible GPUs (the CPU when there are none; ``devices=N``
splits the CPU into N logical devices to exercise multi-replica training), or
``MultiWorkerMirroredStrategy`` from ``TF_CONFIG``.  TensorFlow is imported only here,
when a strategy is made.
"""

from __future__ import annotations

import json
import os

import numpy as np

from ..errors import ParameterError


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


def prepare_multi_worker(model, strategy, x_sample: np.ndarray, y_sample: np.ndarray) -> None:
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
