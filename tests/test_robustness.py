"""The robustness benchmark: each shift does what its table says, seeded; ``evaluate --shift`` scores a run
and a cv folder without touching their files; the channel augmentations are drawn from the rng."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ser_keras.evaluation.evaluate
import ser_keras.runs.folders
from ser_keras import ParameterError
from ser_keras.cli.main import main
from ser_keras.runs.folders import load_run
from ser_keras.signal.augment import CHANNEL_STEPS, AugmentConfig, apply_recipe, parse_recipes
from ser_keras.signal.channel import codec_round_trip, colored_noise, room_impulse_response
from ser_keras.signal.shifts import SHIFTS, apply_shift, parse_shifts

from conftest import one_error_line, tone, tree

SR = 16000


def _db(a, b) -> float:
    return 10 * np.log10(np.mean(np.square(a, dtype=np.float64)) / np.mean(np.square(b, dtype=np.float64)))


def _band_power(y, low, high, sr=SR) -> float:
    spectrum = np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(y.size, 1 / sr)
    return float(spectrum[(f >= low) & (f < high)].sum())


def _sine(freq, seconds=1.0, amp=0.3):
    t = np.arange(int(SR * seconds)) / SR
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_every_shift_keeps_length_and_is_seeded():
    y = tone(sr=SR, seconds=1.5, rng=np.random.default_rng(1))
    for name in SHIFTS:
        a = apply_shift(y, name, sr=SR, rng=np.random.default_rng(7))
        b = apply_shift(y, name, sr=SR, rng=np.random.default_rng(7))
        assert a.shape == y.shape and a.dtype == np.float32 and np.isfinite(a).all(), name
        np.testing.assert_array_equal(a, b, err_msg=name)
        assert not np.allclose(a, y, atol=1e-4), name
    noisy = [apply_shift(y, "white-10db", sr=SR, rng=np.random.default_rng(s)) for s in (1, 2)]
    assert not np.array_equal(*noisy)


def test_noise_shifts_hit_their_snr_and_pink_has_equal_power_per_octave():
    y = tone(sr=SR, seconds=4.0)
    for name, snr in (("white-20db", 20), ("white-10db", 10), ("white-0db", 0), ("pink-10db", 10), ("pink-0db", 0)):
        noisy = apply_shift(y, name, sr=SR, rng=np.random.default_rng(0))
        assert abs(_db(y, noisy - y) - snr) < 0.3, name
    white = colored_noise(SR * 8, rng=np.random.default_rng(0), color="white")
    pink = colored_noise(SR * 8, rng=np.random.default_rng(0), color="pink")
    # white: twice the bandwidth, twice the power (+3 dB per octave); pink: the same power in every octave
    assert abs(10 * np.log10(_band_power(white, 2000, 4000) / _band_power(white, 500, 1000)) - 6.02) < 0.5
    assert abs(10 * np.log10(_band_power(pink, 2000, 4000) / _band_power(pink, 500, 1000))) < 0.5
    with pytest.raises(ParameterError, match="white or pink"):
        colored_noise(10, rng=np.random.default_rng(0), color="brown")


def test_the_room_decays_60_db_in_its_rt60_and_keeps_the_level():
    rir = room_impulse_response(sr=SR, rt60=0.5, rng=np.random.default_rng(0))
    assert rir[0] == 1.0 and rir.size == SR // 2
    early, late = rir[int(0.01 * SR) : int(0.06 * SR)], rir[int(0.26 * SR) : int(0.31 * SR)]
    assert abs(_db(late, early) + 30.0) < 3.0  # a quarter of a second later: 30 dB down
    y = tone(sr=SR, seconds=2.0)
    for name in ("reverb-0.3s", "reverb-0.8s"):
        wet = apply_shift(y, name, sr=SR, rng=np.random.default_rng(0))
        assert abs(_db(wet, y)) < 0.01
    # a longer room rings longer: a burst leaves more energy behind it
    burst = np.zeros(SR, np.float32)
    burst[: SR // 10] = np.random.default_rng(0).standard_normal(SR // 10)
    tails = [
        _db(
            apply_shift(burst, name, sr=SR, rng=np.random.default_rng(0))[int(0.3 * SR) : int(0.4 * SR)],
            burst[: SR // 10],
        )
        for name in ("reverb-0.3s", "reverb-0.8s")
    ]
    assert tails[0] < -30 < tails[1] + 10 and tails[1] > tails[0] + 15


def test_telephone_keeps_the_voice_band_only():
    kept = {f: _db(apply_shift(_sine(f), "telephone", sr=SR, rng=None), _sine(f)) for f in (100, 1000, 3000, 5000)}
    assert abs(kept[1000]) < 1.0 and abs(kept[3000]) < 1.5
    assert kept[100] < -10 and kept[5000] < -40


def test_codecs_round_trip_in_time_and_lose_detail():
    y = tone(sr=SR, seconds=2.0, rng=np.random.default_rng(0))
    for name in ("mp3-low", "opus-low"):
        decoded = apply_shift(y, name, sr=SR, rng=None)
        assert np.corrcoef(y, decoded)[0, 1] > 0.95, name  # aligned: MP3's decoder delay removed
        assert 8 < _db(y, decoded - y) < 40, name  # but not transparent
    finer = codec_round_trip(y, sr=SR, codec="mp3", compression=0.5)
    assert _db(y, finer - y) > _db(y, apply_shift(y, "mp3-low", sr=SR, rng=None) - y)
    odd_rate = codec_round_trip(tone(sr=22050, seconds=1.0), sr=22050, codec="opus", compression=0.9)
    assert odd_rate.shape == (22050,)
    with pytest.raises(ParameterError, match="mp3 or opus"):
        codec_round_trip(y, sr=SR, codec="aac", compression=0.5)


def test_level_and_microphone_shifts():
    y = tone(sr=SR, seconds=1.0)
    np.testing.assert_allclose(apply_shift(y, "quiet", sr=SR, rng=None), y * 0.1, rtol=1e-6)
    loud = apply_shift(y, "loud", sr=SR, rng=None)
    assert np.max(np.abs(loud)) == 1.0 and np.mean(np.abs(loud) == 1.0) > 0.1
    two_tones = _sine(500) + _sine(4000)
    up = apply_shift(two_tones, "tilt-up", sr=SR, rng=None)
    down = apply_shift(two_tones, "tilt-down", sr=SR, rng=None)
    before = 10 * np.log10(_band_power(two_tones, 3900, 4100) / _band_power(two_tones, 450, 550))
    for shifted, tilt in ((up, 4.0), (down, -4.0)):
        after = 10 * np.log10(_band_power(shifted, 3900, 4100) / _band_power(shifted, 450, 550))
        assert abs(after - before - 3 * tilt) < 0.2  # three octaves apart
        assert abs(_db(shifted, two_tones)) < 0.01


def test_parse_shifts():
    assert parse_shifts("white-10db, telephone") == ("white-10db", "telephone")
    assert parse_shifts("all") == tuple(SHIFTS) and parse_shifts("quiet,all")[0] == "quiet"
    with pytest.raises(ParameterError, match="unknown shift 'hiss'"):
        parse_shifts("hiss")


def test_channel_augmentations_are_drawn_from_the_rng():
    assert parse_recipes("channel,reverb+codec") == (("channel",), ("reverb", "codec"))
    y = tone(sr=SR, seconds=1.0, rng=np.random.default_rng(0))
    config = AugmentConfig()
    for step in (*CHANNEL_STEPS, "channel"):
        a = apply_recipe(y, (step,), sr=SR, rng=np.random.default_rng(3), config=config)
        b = apply_recipe(y, (step,), sr=SR, rng=np.random.default_rng(3), config=config)
        np.testing.assert_array_equal(a, b, err_msg=step)
        assert a.shape == y.shape and not np.allclose(a, y, atol=1e-4), step
    # channel picks one of the six per file: across files every one of them comes up
    picked = set()
    for seed in range(40):
        out = apply_recipe(y, ("channel",), sr=SR, rng=np.random.default_rng(seed), config=config)
        for step in CHANNEL_STEPS:
            if np.array_equal(out, apply_recipe(y, (step,), sr=SR, rng=_after_pick(seed), config=config)):
                picked.add(step)
    assert picked == set(CHANNEL_STEPS)


def _after_pick(seed):
    rng = np.random.default_rng(seed)
    rng.integers(len(CHANNEL_STEPS))
    return rng


@pytest.fixture
def conv1d_copy(demo_conv1d_run, tmp_path) -> Path:
    """A copy of the session's conv1d run, to be written into."""
    return Path(shutil.copytree(demo_conv1d_run, tmp_path / "runs" / demo_conv1d_run.name))


def test_evaluate_shift_scores_the_test_clips_and_leaves_the_run_alone(conv1d_copy, tmp_path, capsys, monkeypatch):
    before = tree(conv1d_copy)
    loads = []

    def counted_load_run(run_dir, **options):
        loads.append(Path(run_dir))
        return load_run(run_dir, **options)

    for module in (
        ser_keras.runs.folders,
        ser_keras.evaluation.evaluate,
    ):  # one model for every condition: one trace of predict
        monkeypatch.setattr(module, "load_run", counted_load_run)
    cache = tmp_path / "features"
    args = ["evaluate", str(conv1d_copy), "--shift", "white-0db,quiet", "--cache-dir", str(cache), "--jobs", "1"]
    assert main(args) == 0
    printed = capsys.readouterr().out.splitlines()
    out = Path(printed[-1])
    assert out == conv1d_copy / "robustness" and printed[0].startswith("clean ")
    record = json.loads((out / "robustness.json").read_text())
    rows = {row["shift"]: row for row in record["rows"]}
    assert list(rows) == ["clean", "white-0db", "quiet"] and record["seed"] == 0
    assert loads == [conv1d_copy]
    # clean, re-extracted from the audio, scores exactly what the run reported at training
    report = json.loads((conv1d_copy / "report.json").read_text())
    assert rows["clean"]["unweighted_accuracy"] == report["unweighted_accuracy"]
    assert {row["n_test"] for row in rows.values()} == {report["n_test"]}
    assert rows["white-0db"]["ua_drop"] == pytest.approx(
        rows["clean"]["unweighted_accuracy"] - rows["white-0db"]["unweighted_accuracy"]
    )
    assert record["mean_ua_over_shifts"] == pytest.approx(
        np.mean([rows[n]["unweighted_accuracy"] for n in ("white-0db", "quiet")])
    )
    table = pd.read_csv(out / "robustness.csv")
    assert table["shift"].tolist() == list(rows) and (out / "robustness.png").stat().st_size > 0
    card = (out / "MODEL_CARD.md").read_text()
    assert card.startswith((conv1d_copy / "MODEL_CARD.md").read_text()) and "## Robustness" in card
    assert f"| white-0db | white noise, 0 dB SNR | {rows['white-0db']['unweighted_accuracy']:.3f} |" in card
    # the shifted sets are the test clips changed as asked, and the same seed draws the same noise again
    sets = {json.loads((p / "config.json").read_text())["shift"]: p for p in cache.glob("stats-*")}
    assert set(sets) == {None, "white-0db", "quiet"}
    clean_X, noisy_X = (np.load(sets[k] / "X_test.npy") for k in (None, "white-0db"))
    assert clean_X.shape == noisy_X.shape and not np.allclose(clean_X, noisy_X)
    assert main([*args[:-4], "--cache-dir", str(tmp_path / "again"), "--jobs", "1", "--quiet"]) == 0
    again = json.loads((conv1d_copy / "robustness-2" / "robustness.json").read_text())
    assert again["rows"] == record["rows"]
    after = tree(conv1d_copy)
    assert {k: v for k, v in after.items() if not k.startswith("robustness")} == before


def test_evaluate_shift_on_a_cv_folder_gives_mean_and_std_over_folds(demo_root, demo_cache, tmp_path, capsys):
    args = ["cv", "--quiet", "--corpus", f"demo={demo_root}", "--features", "stats", "--augment", "none"]
    assert main([*args, "--model", "knn", "--folds", "2", "--cache-dir", str(demo_cache), "--out", str(tmp_path)]) == 0
    cv_dir = Path(capsys.readouterr().out.strip().splitlines()[-1])
    cv = json.loads((cv_dir / "cv.json").read_text())
    shift_args = ["evaluate", str(cv_dir), "--shift", "telephone", "--cache-dir", str(tmp_path / "f")]
    assert main([*shift_args, "--quiet"]) == 0
    record = json.loads((cv_dir / "robustness" / "robustness.json").read_text())
    assert [row["shift"] for row in record["rows"]] == ["clean", "telephone"]
    folds = pd.DataFrame(record["folds"])
    assert sorted(folds["fold"].unique()) == [1, 2] and len(folds) == 4
    clean = folds[folds["shift"] == "clean"].sort_values("fold")["unweighted_accuracy"].tolist()
    assert clean == [fold["unweighted_accuracy"] for fold in cv["folds"]]  # each fold on its held-out speakers
    assert record["rows"][0]["unweighted_accuracy"] == pytest.approx(np.mean(clean))
    assert record["rows"][0]["unweighted_accuracy_std"] == pytest.approx(np.std(clean))
    assert "mean ± std over the cv folds" in (cv_dir / "robustness" / "MODEL_CARD.md").read_text()
    capsys.readouterr()
    assert main(["evaluate", str(cv_dir), "--cache-dir", str(tmp_path / "f")]) == 0  # no shift: fold by fold
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-2:] == [str(cv_dir / "fold-1" / "eval-test"), str(cv_dir / "fold-2" / "eval-test")]
    again = [json.loads((cv_dir / f"fold-{k}" / "eval-test" / "report.json").read_text()) for k in (1, 2)]
    assert [r["unweighted_accuracy"] for r in again] == pytest.approx(clean)
    assert f"mean UA over 2 folds {np.mean(clean):.3f} ± {np.std(clean):.3f}" in lines


def test_a_bad_shift_is_one_line(conv1d_copy, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", str(conv1d_copy), "--shift", "hiss"])
    assert exit_info.value.code == 2
    line = one_error_line(capsys, "argument --shift: unknown shift 'hiss'", "(see ser-keras evaluate --help)")
    assert line.startswith("ser-keras evaluate: error:")
    assert not (conv1d_copy / "robustness").exists()
