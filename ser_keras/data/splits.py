"""Speaker-independent train / val / test splits, made on the manifest before any augmentation.

Speakers, not files, are assigned to parts, so no speaker's voice is on both sides
of an evaluation.  Assignment is seeded and stratified by gender: where the corpus
has both genders, every part gets speakers of both (as far as the speaker counts
allow).  ``split_random`` exists only to reproduce old, leaky results.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ParameterError, SerWarning
from ..options import SEED, number, option

if TYPE_CHECKING:
    import pandas as pd

SPLITS = ("train", "val", "test")


def split_speakers(
    manifest: pd.DataFrame,
    *,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    seed: int = 0,
    val_speakers: Iterable[str] | None = None,
    test_speakers: Iterable[str] | None = None,
) -> pd.Series:
    """Assign every row to ``train``, ``val`` or ``test`` by its speaker.

    Parameters
    ----------
    manifest : pd.DataFrame
        Needs ``speaker`` and ``gender`` columns.
    val_fraction, test_fraction : float in [0, 1)
        Share of each gender's speakers for val and test; at least one speaker each
        overall, and always at least one training speaker per gender.
    seed : int
        Seeds the speaker shuffle.
    val_speakers, test_speakers : iterable of str
        Explicit speakers (``ravdess:07``, or ``07`` when only one corpus is loaded);
        when given, they replace the random choice for that part.

    Returns
    -------
    split : pd.Series [shape=(len(manifest),)]
        ``'train'``, ``'val'`` or ``'test'``, aligned with ``manifest.index``.
    """
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ParameterError("val and test fractions must be in [0, 1) and sum to less than 1")
    speakers = manifest.groupby("speaker", sort=True)["gender"].first()
    needed = 2 + (test_fraction > 0 or bool(test_speakers))  # one speaker to train, one per held-out part
    if len(speakers) < needed:
        raise ParameterError(
            f"a speaker-independent split needs at least {needed} speakers, the manifest has {len(speakers)}"
        )
    fixed_test = _resolve_speakers(test_speakers, speakers.index)
    fixed_val = _resolve_speakers(val_speakers, speakers.index)
    overlap = (fixed_test or set()) & (fixed_val or set())
    if overlap:
        raise ParameterError(f"speaker(s) both in val and test: {', '.join(sorted(overlap))}")

    rng = np.random.default_rng(seed)
    assignment: dict[str, str] = {s: "val" for s in fixed_val or ()} | {s: "test" for s in fixed_test or ()}
    for gender in sorted(speakers.unique()):
        pool = [s for s in speakers.index[speakers == gender] if s not in assignment]
        pool = [pool[i] for i in rng.permutation(len(pool))]
        n = len(pool) + sum(1 for s, g in speakers.items() if g == gender and s in assignment)
        for part, fraction, fixed in (("test", test_fraction, fixed_test), ("val", val_fraction, fixed_val)):
            if fixed is not None:
                continue
            want = int(round(fraction * n)) if fraction > 0 else 0
            if fraction > 0 and want == 0 and len(pool) >= 3:
                want = 1  # both genders in every part where there are enough speakers
            take = min(want, max(len(pool) - 1, 0))
            for s in pool[:take]:
                assignment[s] = part
            pool = pool[take:]
    for part, fraction in (("test", test_fraction), ("val", val_fraction)):
        if fraction > 0 and part not in assignment.values():
            # a small corpus: take one speaker from the largest training group
            train = [s for s in speakers.index if s not in assignment]
            if len(train) < 2:
                raise ParameterError(f"too few speakers for a non-empty {part} split")
            assignment[train[int(rng.integers(len(train)))]] = part
    split = manifest["speaker"].map(lambda s: assignment.get(s, "train"))
    return split.rename("split")


def split_random(
    manifest: pd.DataFrame, *, val_fraction: float = 0.1, test_fraction: float = 0.2, seed: int = 0
) -> pd.Series:
    """File-level random split, for comparison with published random-split results only.

    Warns: the same speaker lands in train and test, which inflates accuracy.
    """
    warnings.warn(
        "--split random puts the same speakers in train and test; its accuracy is inflated by speaker "
        "leakage and is not a speaker-independent result",
        SerWarning,
        stacklevel=2,
    )
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(manifest))
    n_test = int(round(test_fraction * len(manifest)))
    n_val = int(round(val_fraction * len(manifest)))
    parts = np.full(len(manifest), "train", dtype=object)
    parts[order[:n_test]] = "test"
    parts[order[n_test : n_test + n_val]] = "val"
    import pandas as pd

    return pd.Series(parts, index=manifest.index, name="split")


def speaker_folds(manifest: pd.DataFrame, *, n_folds: int = 4, seed: int = 0) -> np.ndarray:
    """Cross-validation folds by speaker, seeded and balanced by gender.

    Each gender's speakers are shuffled (``seed``) and dealt round-robin into the folds,
    continuing where the previous gender stopped, so every fold gets as even a share of
    each gender (and of speakers overall) as the counts allow.

    Parameters
    ----------
    manifest : pd.DataFrame
        Needs ``speaker`` and ``gender`` columns.
    n_folds : int
        Between 2 and the number of speakers, leaving each fold at least two other speakers (one to train,
        one to validate): `fold_counts`.
    seed : int

    Returns
    -------
    fold : np.ndarray [shape=(len(manifest),), dtype=int]
        The fold in which each row is held out; a speaker's rows share one fold.
    """
    speakers = manifest.groupby("speaker", sort=True)["gender"].first()
    allowed = fold_counts(len(speakers))
    if not allowed:
        raise ParameterError(
            f"cross-validation needs at least 3 speakers (each fold holds one out and trains and validates on "
            f"two others), the manifest has {len(speakers)}"
        )
    if n_folds not in allowed:
        choices = f"{allowed[0]} to {allowed[-1]}" if len(allowed) > 1 else str(allowed[0])
        raise ParameterError(
            f"--folds {n_folds}: with {len(speakers)} speakers each fold must leave two to train and validate on; "
            f"choose {choices}"
        )
    rng = np.random.default_rng(seed)
    fold_of: dict[str, int] = {}
    position = 0
    for gender in sorted(speakers.unique()):
        group = list(speakers.index[speakers == gender])
        for i in rng.permutation(len(group)):
            fold_of[group[i]] = position % n_folds
            position += 1
    return manifest["speaker"].map(fold_of).to_numpy(dtype=np.int64)


def fold_counts(n_speakers: int) -> list[int]:
    """The fold counts a cv of ``n_speakers`` can use: at least 2, at most one speaker a fold, and every fold
    leaving two speakers or more (one to train, one to validate).

    >>> fold_counts(3), fold_counts(5), fold_counts(2)
    ([3], [2, 3, 4, 5], [])
    """
    import math

    return [k for k in range(2, n_speakers + 1) if n_speakers - math.ceil(n_speakers / k) >= 2]


def assign_split(
    manifest: pd.DataFrame,
    *,
    method: str = "speaker",
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    seed: int = 0,
    val_speakers: Iterable[str] | None = None,
    test_speakers: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Return a copy of ``manifest`` with a ``split`` column (``method`` is ``speaker`` or ``random``)."""
    if method == "speaker":
        split = split_speakers(
            manifest,
            val_fraction=val_fraction,
            test_fraction=test_fraction,
            seed=seed,
            val_speakers=val_speakers,
            test_speakers=test_speakers,
        )
    elif method == "random":
        if val_speakers or test_speakers:
            raise ParameterError("--val-speakers/--test-speakers need --split speaker")
        split = split_random(manifest, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    else:
        raise ParameterError(f"unknown split method {method!r}; choose speaker or random")
    out = manifest.copy()
    out["split"] = split.to_numpy()
    return out


def split_speaker_lists(manifest: pd.DataFrame) -> dict[str, list[str]]:
    """The sorted speakers of each part, e.g. for a run's sidecar."""
    return {part: sorted(manifest.loc[manifest["split"] == part, "speaker"].unique()) for part in SPLITS}


def _resolve_speakers(names: Iterable[str] | None, known: pd.Index) -> set[str] | None:
    if names is None:
        return None
    if isinstance(names, str):
        names = names.split(",")
    resolved = set()
    for name in (n.strip() for n in names):
        if not name:
            continue
        if name in known:
            resolved.add(name)
            continue
        matches = [k for k in known if k.split(":", 1)[1] == name or k.split(":", 1)[1].lstrip("0") == name.lstrip("0")]
        if len(matches) != 1:
            raise ParameterError(
                f"speaker {name!r} is {'ambiguous' if matches else 'not in the manifest'}; "
                f"speakers are: {', '.join(known)}"
            )
        resolved.add(matches[0])
    return resolved or None


#: The help section of the split options.
SPLIT_GROUP = "split (by speaker, before any augmentation)"


@dataclass(frozen=True)
class SplitConfig:
    """How the manifest is split into train / val / test, each field a command-line option.

    Examples
    --------
    >>> SplitConfig(test_fraction=0.25).settings()["test_fraction"]
    0.25
    """

    split: str = option(
        "speaker",
        choices=("speaker", "random"),
        group=SPLIT_GROUP,
        help="speaker: speaker-independent; random: file-level, leaks speakers, for comparison only",
    )
    val_fraction: float = option(
        0.1,
        type=number(float, low=0, high=0.9),
        group=SPLIT_GROUP,
        help="share of each gender's speakers for validation, rounded, at least one when a gender has 3+ speakers",
    )
    test_fraction: float = option(
        0.2,
        type=number(float, low=0, high=0.9),
        group=SPLIT_GROUP,
        help="share of each gender's speakers for test, rounded, at least one when a gender has 3+ speakers",
    )
    val_speakers: str | None = option(
        None, group=SPLIT_GROUP, help="comma-separated validation speakers (e.g. ravdess:05 or 05)"
    )
    test_speakers: str | None = option(None, group=SPLIT_GROUP, help="comma-separated test speakers")
    seed: int = option(0, type=SEED, group=SPLIT_GROUP, help="seed of the split, augmentation and training")

    def settings(self) -> dict:
        """The split as recorded (and fingerprinted) in a feature set's ``config.json``."""
        return {
            "method": self.split,
            "val_fraction": self.val_fraction,
            "test_fraction": self.test_fraction,
            "seed": self.seed,
            "val_speakers": self.val_speakers,
            "test_speakers": self.test_speakers,
        }

    def apply(self, manifest: pd.DataFrame) -> pd.DataFrame:
        """``manifest`` with its ``split`` column (`assign_split`)."""
        return assign_split(
            manifest,
            method=self.split,
            val_fraction=self.val_fraction,
            test_fraction=self.test_fraction,
            seed=self.seed,
            val_speakers=self.val_speakers,
            test_speakers=self.test_speakers,
        )
