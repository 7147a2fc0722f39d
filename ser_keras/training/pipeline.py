"""``tf.data`` input pipelines for training, with on-the-fly augmentation of mel images.

Only the train split is ever augmented: `make_datasets` maps `augment_mel` over the
training examples (after shuffling, before batching) and leaves validation untouched;
test data never goes through a dataset at all.  Randomness comes from
``tf.data.Dataset.random(seed)``, so a seed gives the same batches on every run and
new draws every epoch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..options import number, option

#: The help section of these options.
SPEC_AUGMENT = "SpecAugment of mel training batches and frame masks of the frame-level networks (--spec-augment)"


@dataclass(frozen=True)
class SpecAugmentOptions:
    """On-the-fly augmentation of ``(n_mels, n_frames)`` images.

    ``time_shift``: roll along time by up to this fraction of the frames (wrapping).
    ``freq_masks`` / ``time_masks``: number of SpecAugment masks; ``freq_width`` /
    ``time_width``: maximum mask width in bins / frames (each drawn from ``0 .. max``).
    Masked cells take the image's mean.
    """

    time_shift: float = option(
        0.1, type=number(float, low=0, high=1), group=SPEC_AUGMENT, help="max roll along time, fraction of frames"
    )
    freq_masks: int = option(
        2, type=number(int, low=0, high=100), group=SPEC_AUGMENT, help="SpecAugment frequency masks"
    )
    freq_width: int = option(
        15, type=number(int, low=0, high=10_000), group=SPEC_AUGMENT, help="max frequency-mask width in mel bins"
    )
    time_masks: int = option(2, type=number(int, low=0, high=100), group=SPEC_AUGMENT, help="SpecAugment time masks")
    time_width: int = option(
        20, type=number(int, low=0, high=10_000), group=SPEC_AUGMENT, help="max time-mask width in frames"
    )


def augment_mel(image, seed, options: SpecAugmentOptions):
    """Time shift and SpecAugment masks of one image, as TensorFlow ops.

    Parameters
    ----------
    image : tf.Tensor [shape=(n_mels, n_frames), dtype=float32]
    seed : tf.Tensor [shape=(2,), dtype=int64]
        Stateless seed: equal seeds give equal outputs.
    options : SpecAugmentOptions

    Returns
    -------
    augmented : tf.Tensor [shape=(n_mels, n_frames)]
    """
    import tensorflow as tf

    n_mels, n_frames = image.shape
    seeds = tf.random.experimental.stateless_split(seed, num=1 + 2 * (options.freq_masks + options.time_masks))
    limit = int(options.time_shift * n_frames)
    if limit > 0:
        shift = tf.random.stateless_uniform([], seeds[0], minval=-limit, maxval=limit + 1, dtype=tf.int32)
        image = tf.roll(image, shift, axis=1)
    fill = tf.reduce_mean(image)
    draw = 1
    for count, max_width, size, axis in (
        (options.freq_masks, options.freq_width, n_mels, 0),
        (options.time_masks, options.time_width, n_frames, 1),
    ):
        positions = tf.range(size)
        for _ in range(count):
            width = tf.random.stateless_uniform([], seeds[draw], 0, min(max_width, size) + 1, dtype=tf.int32)
            start = tf.random.stateless_uniform([], seeds[draw + 1], 0, size - width + 1, dtype=tf.int32)
            draw += 2
            inside = (positions >= start) & (positions < start + width)
            inside = inside[:, None] if axis == 0 else inside[None, :]
            image = tf.where(inside, fill, image)
    return image


def make_datasets(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    *,
    batch_size: int,
    seed: int,
    augment: SpecAugmentOptions | None = None,
    shard: bool = False,
    n_classes: int | None = None,
    mixup: float = 0.0,
):
    """Shuffled, (optionally) augmented training batches and plain validation batches.

    Parameters
    ----------
    X_train, X_val : np.ndarray [shape=(n, ...)]
    y_train, y_val : np.ndarray [shape=(n,)]
    batch_size : int
        The global batch size.
    seed : int
        Seeds the shuffle and the augmentation draws.
    augment : SpecAugmentOptions or None
        Augment training images (``(n_mels, n_frames)`` examples only).
    shard : bool
        Shard by data (not by file) across replicas/workers.
    n_classes : int, optional
        One-hot labels ``(n, n_classes)`` instead of integers (for label smoothing and mixup).
    mixup : float
        Mix each training batch with a shuffled copy of itself (mixup, Zhang et al. 2018):
        ``lam x_i + (1 - lam) x_j`` and the same of their one-hot labels, ``lam`` drawn per
        example from Beta(``mixup``, ``mixup``); 0 for none.  Needs ``n_classes``.

    Returns
    -------
    train_ds, val_ds : tf.data.Dataset
    """
    import tensorflow as tf

    train_ds = tf.data.Dataset.from_tensor_slices((X_train, y_train)).shuffle(
        len(y_train), seed=seed, reshuffle_each_iteration=True
    )
    if augment is not None:
        draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)

        def apply(example, draw):
            x, y = example
            return augment_mel(x, tf.stack([draw, tf.constant(seed, tf.int64)]), augment), y

        train_ds = tf.data.Dataset.zip((train_ds, draws)).map(apply, num_parallel_calls=tf.data.AUTOTUNE)
    val_ds = tf.data.Dataset.from_tensor_slices((X_val, y_val))
    if n_classes is not None:

        def encode(x, y):
            return x, tf.one_hot(y, n_classes)

        train_ds, val_ds = train_ds.map(encode), val_ds.map(encode)
    train_ds = train_ds.batch(batch_size)
    if mixup > 0:
        if n_classes is None:
            raise ValueError("mixup needs one-hot labels (n_classes)")
        draws = tf.data.Dataset.random(seed=seed + 1, rerandomize_each_iteration=True)
        train_ds = tf.data.Dataset.zip((train_ds, draws)).map(
            lambda batch, draw: mix_batch(*batch, tf.stack([draw, tf.constant(seed, tf.int64)]), alpha=mixup)
        )
    train_ds = train_ds.prefetch(tf.data.AUTOTUNE)
    val_ds = val_ds.batch(batch_size)
    if shard:
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        train_ds, val_ds = train_ds.with_options(options), val_ds.with_options(options)
    return train_ds, val_ds


def mix_batch(x, y, seed, *, alpha: float):
    """Mixup of one batch with a shuffled copy of itself, as TensorFlow ops.

    Parameters
    ----------
    x : tf.Tensor [shape=(batch, ...)]
    y : tf.Tensor [shape=(batch, n_classes)]
        One-hot (or soft) labels.
    seed : tf.Tensor [shape=(2,), dtype=int64]
        Stateless seed: equal seeds give equal outputs.
    alpha : float > 0
        ``lam`` ~ Beta(alpha, alpha) per example.

    Returns
    -------
    x, y : tf.Tensor
        Same shapes; each row a convex combination of two rows, labels alike.
    """
    import tensorflow as tf

    seeds = tf.random.experimental.stateless_split(seed, num=3)
    n = tf.shape(x)[0]
    first = tf.random.stateless_gamma([n], seeds[0], alpha=alpha)
    second = tf.random.stateless_gamma([n], seeds[1], alpha=alpha)
    lam = first / (first + second)
    partner = tf.argsort(tf.random.stateless_uniform([n], seeds[2]))
    lam_x = tf.reshape(lam, tf.concat([[n], tf.ones([tf.rank(x) - 1], tf.int32)], axis=0))
    mixed_x = lam_x * x + (1.0 - lam_x) * tf.gather(x, partner)
    mixed_y = lam[:, None] * y + (1.0 - lam[:, None]) * tf.gather(y, partner)
    return mixed_x, mixed_y
