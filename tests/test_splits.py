import pandas as pd
import pytest

from ser_keras import ParameterError, SerWarning
from ser_keras.data.splits import assign_split, speaker_folds, split_speakers


def _manifest(n_male=4, n_female=4, per_speaker=5):
    rows = []
    for i in range(n_male + n_female):
        for j in range(per_speaker):
            rows.append(
                {
                    "path": f"{i}_{j}.wav",
                    "speaker": f"c:{i:02d}",
                    "gender": "male" if i < n_male else "female",
                    "emotion": ["angry", "sad"][j % 2],
                }
            )
    return pd.DataFrame(rows)


@pytest.mark.parametrize("seed", range(6))
def test_no_speaker_in_two_parts_and_both_genders_everywhere(seed):
    manifest = _manifest(5, 6)
    split = split_speakers(manifest, seed=seed)
    assert manifest.assign(split=split).groupby("speaker")["split"].nunique().max() == 1
    for part in ("train", "val", "test"):
        assert set(manifest.loc[split == part, "gender"]) == {"male", "female"}


def test_split_is_seeded():
    manifest = _manifest(10, 10)
    a = split_speakers(manifest, seed=3)
    assert a.equals(split_speakers(manifest, seed=3))
    assert any(not split_speakers(manifest, seed=s).equals(a) for s in range(4, 10))


def test_fractions_and_minimums():
    manifest = _manifest(10, 10)
    split = (
        manifest.assign(split=split_speakers(manifest, val_fraction=0.1, test_fraction=0.2))
        .groupby("split")["speaker"]
        .nunique()
    )
    assert split.to_dict() == {"test": 4, "train": 14, "val": 2}
    tiny = _manifest(3, 0)
    parts = split_speakers(tiny).groupby(tiny["speaker"]).first()
    assert sorted(parts) == ["test", "train", "val"]
    with pytest.raises(ParameterError, match="at least 3 speakers"):
        split_speakers(_manifest(1, 1))


def test_explicit_speakers():
    manifest = _manifest()
    split = split_speakers(manifest, test_speakers="00,c:05", val_speakers=["1"])
    by_speaker = split.groupby(manifest["speaker"]).first()
    assert by_speaker["c:00"] == "test" and by_speaker["c:05"] == "test" and by_speaker["c:01"] == "val"
    assert (by_speaker == "test").sum() == 2 and (by_speaker == "val").sum() == 1
    with pytest.raises(ParameterError, match="not in the manifest"):
        split_speakers(manifest, test_speakers="42")
    with pytest.raises(ParameterError, match="both in val and test"):
        split_speakers(manifest, test_speakers="01", val_speakers="01")


def test_random_split_warns_about_leakage():
    manifest = _manifest()
    with pytest.warns(SerWarning, match="speaker"):
        out = assign_split(manifest, method="random", seed=1)
    assert out["split"].value_counts().to_dict() == {"train": 28, "test": 8, "val": 4}
    assert out.groupby("speaker")["split"].nunique().max() > 1  # it does leak: that is the point


def test_speaker_folds_keep_speakers_together():
    manifest = _manifest(4, 4)
    fold = speaker_folds(manifest, n_folds=4)
    assert set(fold) == {0, 1, 2, 3}
    assert pd.Series(fold).groupby(manifest["speaker"]).nunique().max() == 1
    with pytest.raises(ParameterError, match="--folds"):
        speaker_folds(manifest, n_folds=9)


def test_a_run_on_few_speakers_says_its_figures_say_little():
    from ser_keras import SerWarning
    from ser_keras.training.train import warn_few_speakers

    with pytest.warns(SerWarning, match="1 training and 1 test speaker"):
        warn_few_speakers({"train": 1, "val": 1, "test": 1})
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", SerWarning)
        warn_few_speakers({"train": 12, "val": 2, "test": 2})
