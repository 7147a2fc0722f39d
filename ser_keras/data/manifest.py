"""Manifest-wide checks and views: duplicate files, file fingerprints and hashes, the summary and its plot."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..errors import ParameterError, SerWarning
from .emotions import ordered_labels


def drop_duplicate_files(manifest: pd.DataFrame, *, source: str | os.PathLike) -> pd.DataFrame:
    """Find rows that name the same file (by resolved path) or the same audio (by content).

    Content is compared cheaply: only files of equal size are hashed (SHA-256).  Rows
    that agree on emotion, speaker and gender are duplicates kept once, with a warning;
    rows that disagree would put one utterance under two labels or speakers (in train
    and test at once), so they are an error naming the rows.

    Parameters
    ----------
    manifest : pd.DataFrame
        Manifest rows; a ``line`` column (the CSV line) is used to name them.
    source : path
        Named in messages.

    Returns
    -------
    manifest : pd.DataFrame
        Without the repeated rows, re-indexed.

    Raises
    ------
    ParameterError
        Duplicates with conflicting emotion, speaker or gender.
    """
    if manifest.empty:
        return manifest
    real = [os.path.realpath(p) for p in manifest["path"]]
    sizes = {path: _size_or_none(path) for path in dict.fromkeys(real)}
    size_counts = pd.Series([v for v in sizes.values() if v is not None]).value_counts()
    key_of = {
        path: ("sha256:" + file_sha256(path)) if size is not None and size_counts[size] > 1 else path
        for path, size in sizes.items()
    }
    keys = pd.Series([key_of[path] for path in real], index=manifest.index)
    drop = []
    where = (lambda i: f"line {manifest.at[i, 'line']}") if "line" in manifest.columns else (lambda i: f"row {i}")
    for _, group in manifest.groupby(keys, sort=False):
        if len(group) < 2:
            continue
        labels = group[["emotion", "speaker", "gender"]].drop_duplicates()
        rows = ", ".join(where(i) for i in group.index)
        what = (
            "the same file" if len({real[manifest.index.get_loc(i)] for i in group.index}) == 1 else "identical audio"
        )
        if len(labels) > 1:
            raise ParameterError(
                f"{source}: {rows} name {what} ({group['path'].iloc[0]}) with different "
                "emotion/speaker/gender; one utterance cannot have two labels or sit in two splits"
            )
        warnings.warn(f"{source}: {rows} name {what} ({group['path'].iloc[0]}); kept once", SerWarning, stacklevel=3)
        drop.extend(group.index[1:])
    return manifest.drop(index=drop).reset_index(drop=True)


def _size_or_none(path: str) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB blocks."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def summarize(manifest: pd.DataFrame) -> str:
    """A plain-text summary: files per emotion x gender, and speakers per gender."""
    labels = ordered_labels(manifest["emotion"])
    files = pd.crosstab(manifest["emotion"], manifest["gender"], margins=True, margins_name="total")
    files = files.reindex([*labels, "total"])
    speakers = manifest.groupby("gender")["speaker"].nunique()
    lines = [
        f"{len(manifest)} files, {manifest['speaker'].nunique()} speakers, "
        f"{len(labels)} emotions, corpora: {', '.join(sorted(manifest['corpus'].unique()))}",
        "",
        "files per emotion x gender:",
        files.to_string(),
        "",
        "speakers per gender: " + ", ".join(f"{g} {n}" for g, n in speakers.items()),
    ]
    return "\n".join(lines)


def plot_counts(manifest: pd.DataFrame, path: str | os.PathLike) -> None:
    """Save the class-distribution bar chart (files per emotion, split by gender)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    order = ordered_labels(manifest["emotion"])
    corpora = ", ".join(sorted(manifest["corpus"].astype(str).unique())) if "corpus" in manifest else "corpus"
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(order)) + 1.6, 4.0))
    sns.countplot(data=manifest, x="emotion", hue="gender", order=order, ax=ax)
    ax.set_title(f"{corpora}: files per emotion ({len(manifest)} files, {manifest['speaker'].nunique()} speakers)")
    ax.set_xlabel("emotion")
    ax.set_ylabel("files")
    ax.legend(
        title="gender", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False
    )  # beside the bars, never on them
    fig.tight_layout()
    from ..figures import save_figure

    save_figure(fig, path, dpi=120)


def file_fingerprints(paths: Iterable[str]) -> np.ndarray:
    """``(size, mtime_ns)`` for each file, for cache keys; missing files give ``(-1, -1)``."""
    out = []
    for p in paths:
        try:
            st = os.stat(p)
            out.append((st.st_size, st.st_mtime_ns))
        except OSError:
            out.append((-1, -1))
    return np.asarray(out, dtype=np.int64).reshape(-1, 2)
