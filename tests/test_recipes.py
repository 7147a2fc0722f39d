"""The accuracy work: functionals, speaker normalisation, speaker folds, cross-validation, new models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ser_keras.cli.main import main
from ser_keras.errors import ParameterError
from ser_keras.features.registry import KINDS, FeatureConfig, compute


def _voice(sr: int, seconds: float, *, f0: float = 140.0, seed: int = 0, lead: float = 0.3) -> np.ndarray:
    """A gliding harmonic 'vowel' with silence before and after (to be trimmed) and a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    pitch = f0 * (1 + 0.15 * np.sin(2 * np.pi * 2.5 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / sr
    y = sum(0.4 / k * np.sin(k * phase) for k in range(1, 8)) + rng.normal(0, 0.003, t.size)
    silence = np.zeros(int(sr * lead))
    return np.concatenate([silence, y, silence]).astype(np.float32)


# --- functionals ----------------------------------------------------------------------------


def test_functionals_descriptors_equal_librosa():
    from ser_keras.features.functionals import descriptor_names, low_level_descriptors, reference_lld, trim

    config = FeatureConfig.for_kind("functionals")
    y = trim(_voice(config.sr, 1.2), config=config)
    fast, f0, voiced = low_level_descriptors(y, config=config)
    ref = reference_lld(y, config=config)
    assert fast.shape == ref.shape == (len(descriptor_names(config)), 1 + len(y) // config.hop_length)
    scale = np.abs(ref).max(axis=1, keepdims=True) + 1e-6  # each descriptor's own range
    worst = np.abs(fast - ref) / scale
    assert worst.max() < 2e-3, descriptor_names(config)[int(worst.max(axis=1).argmax())]
    # the pitch track finds the glide's mean F0 on the voiced frames
    assert voiced.mean() > 0.8
    assert abs(np.median(f0[voiced]) - 140.0) < 10.0


def test_functionals_vector_names_trimming_and_statistics():
    from ser_keras.features.summaries import STATISTICS, summarize

    config = FeatureConfig.for_kind("functionals")
    assert config.duration is None and config.trim_db == 40.0 and not config.fixed_length
    names = config.feature_names()
    assert config.output_shape() == (len(names),) == (2606,)
    loud = _voice(config.sr, 1.0, seed=1)
    X = compute(
        [loud, _voice(config.sr, 1.5, f0=220.0, seed=2), np.concatenate([loud, np.zeros(config.sr)])], config=config
    )
    assert X.shape == (3, 2606) and X.dtype == np.float32 and np.isfinite(X).all()
    duration = names.index("duration")
    assert X[0, duration] == pytest.approx(1.0, abs=0.1)  # silence trimmed off both ends
    np.testing.assert_allclose(X[2], X[0], rtol=1e-4, atol=1e-4)  # trailing silence changes nothing
    f0_median = names.index("f0_semitones_p50")
    assert X[1, f0_median] - X[0, f0_median] == pytest.approx(12 * np.log2(220 / 140), abs=1.0)
    rows = np.random.default_rng(0).normal(size=(3, 500))
    summary = summarize(rows)
    assert summary.shape == (3, len(STATISTICS))
    np.testing.assert_allclose(summary[:, 0], rows.mean(axis=1))
    np.testing.assert_allclose(summary[:, 4], np.median(rows, axis=1))
    import scipy.stats

    np.testing.assert_allclose(summary[:, 8], scipy.stats.skew(rows, axis=1), rtol=1e-6)
    np.testing.assert_allclose(summary[:, 9], scipy.stats.kurtosis(rows, axis=1), rtol=1e-6)
    assert np.isfinite(summarize(np.ones((2, 10)))).all()  # no variation: skew and kurtosis 0, not NaN


def _vowel(
    sr: int, seconds: float, *, f0: float, formants: tuple[float, ...], noise: float = 0.0, seed: int = 0
) -> np.ndarray:
    """A pulse train at ``f0`` through two-pole resonators at ``formants`` (80 Hz bandwidth), plus white noise
    at ``noise`` times the voice's RMS."""
    import scipy.signal

    y = np.zeros(int(sr * seconds))
    y[:: int(round(sr / f0))] = 1.0
    for frequency in formants:
        radius = np.exp(-np.pi * 80.0 / sr)
        y = scipy.signal.lfilter([1.0], [1.0, -2 * radius * np.cos(2 * np.pi * frequency / sr), radius**2], y)
    y = scipy.signal.lfilter([1.0, -1.0], [1.0], y)  # lip radiation
    y = 0.3 * y / np.abs(y).max()
    y = y + noise * np.sqrt(np.mean(y**2)) * np.random.default_rng(seed).normal(size=y.size)
    return y.astype(np.float32)


def test_voice_descriptors_measure_formants_harmonicity_and_spectral_balance():
    """The ``voice`` block recovers a synthetic vowel's formants, ranks harmonic above noisy voice, and gives
    the alpha ratio and Hammarberg index of two tones the dB ratio of their amplitudes."""
    from ser_keras.features.voice import VOICE_ROWS, voice_descriptors

    config = FeatureConfig.for_kind("functionals")
    sr, hop = config.sr, config.hop_length

    def describe(y, f0):
        n_frames = 1 + len(y) // hop
        inner = np.zeros(n_frames, dtype=bool)
        inner[4:-4] = True  # away from the zero padding at the ends
        return voice_descriptors(y, np.full(n_frames, f0), inner, config=config)

    clean = describe(_vowel(sr, 1.0, f0=120.0, formants=(700.0, 1220.0, 2600.0)), 120.0)
    assert clean.shape == (len(VOICE_ROWS), 1 + sr // hop - 8) and np.isfinite(clean).all()
    for row, expected in zip(clean[1:4], (700.0, 1220.0, 2600.0)):
        assert np.exp(np.median(row)) == pytest.approx(expected, rel=0.08)
    noisy = describe(_vowel(sr, 1.0, f0=120.0, formants=(700.0, 1220.0, 2600.0), noise=1.0), 120.0)
    assert np.median(clean[0]) > 15.0 and np.median(noisy[0]) < np.median(clean[0]) - 10.0
    noise_only = describe(0.1 * np.random.default_rng(1).normal(size=sr).astype(np.float32), 120.0)
    assert np.median(noise_only[0]) < 0.0

    t = np.arange(sr) / sr
    tones = (np.sin(2 * np.pi * 500 * t) + 0.1 * np.sin(2 * np.pi * 3000 * t)).astype(np.float32)
    alpha_ratio, hammarberg = describe(tones, 120.0)[4:6]
    np.testing.assert_allclose(alpha_ratio, 20.0, atol=0.2)  # 50-1000 Hz over 1-5 kHz energy
    np.testing.assert_allclose(hammarberg, 20.0, atol=0.5)  # strongest bin below 2 kHz over 2-5 kHz, peak-sampled


def test_functionals_refuse_what_is_too_short_after_trimming():
    config = FeatureConfig.for_kind("functionals")
    blip = _voice(config.sr, 0.04, lead=0.5)
    with pytest.raises(ParameterError, match="too short for functionals"):
        compute([blip], config=config)


def test_every_kind_is_one_registry_entry():
    for name, kind in KINDS.items():
        config = FeatureConfig.for_kind(name)
        assert config.kind_spec is kind
        assert (kind.compute_batch is None) != (kind.compute_one is None)
        assert kind.layout in ("vector", "sequence", "image", "fused")
        names = config.feature_names()
        assert names is None or len(names) == config.output_shape()[-1]
    assert all(KINDS[kind].graph is not None for kind in KINDS)  # every kind serves audio in


@pytest.mark.parametrize(("features", "model"), [("mel", "conv1d"), ("stats", "conv2d"), ("functionals", "conv2d")])
def test_a_model_that_cannot_take_the_features_is_refused(tmp_path, capsys, features, model):
    from ser_keras.training.train import check_model_suits

    with pytest.raises(ParameterError, match=f"--model {model} does not take {features} features"):
        check_model_suits(model, FeatureConfig.for_kind(features))


# --- speaker normalisation and folds -----------------------------------------------------------


def test_standardize_by_speaker_uses_each_speakers_own_reference_rows():
    from ser_keras.extraction.normalize import standardize_by_speaker

    rng = np.random.default_rng(0)
    speakers = np.repeat(["a", "b"], 50)
    X = (
        rng.normal(size=(100, 4)) * np.where(speakers == "a", 1.0, 5.0)[:, None]
        + np.where(speakers == "a", 0, 30)[:, None]
    )
    Z = standardize_by_speaker(X, speakers)
    for s in ("a", "b"):
        np.testing.assert_allclose(Z[speakers == s].mean(axis=0), 0, atol=1e-5)
        np.testing.assert_allclose(Z[speakers == s].std(axis=0), 1, atol=1e-5)
    reference = np.arange(100) % 2 == 0  # e.g. original views only
    Z_ref = standardize_by_speaker(X, speakers, reference=reference)
    for s in ("a", "b"):
        rows = (speakers == s) & reference
        np.testing.assert_allclose(Z_ref[rows].mean(axis=0), 0, atol=1e-5)
    images = rng.normal(size=(6, 3, 20)) + np.arange(3)[None, :, None] * 10  # (n, mels, time)
    Z_img = standardize_by_speaker(images, np.zeros(6), time_axis=1)
    np.testing.assert_allclose(Z_img.mean(axis=(0, 2)), 0, atol=1e-5)  # per mel band, pooled over time


def test_speaker_folds_are_seeded_and_gender_balanced():
    from ser_keras.data.splits import speaker_folds, split_speakers

    speakers = [f"c:{i:02d}" for i in range(16)]
    manifest = pd.DataFrame({"speaker": np.repeat(speakers, 3), "gender": np.repeat(["male", "female"] * 8, 3)})
    fold = speaker_folds(manifest, n_folds=4, seed=3)
    per_speaker = manifest.assign(fold=fold).groupby("speaker")["fold"].nunique()
    assert (per_speaker == 1).all()  # a speaker's rows share one fold
    counts = manifest.assign(fold=fold).drop_duplicates("speaker").groupby(["fold", "gender"]).size()
    assert set(counts) == {2}  # 2 male + 2 female speakers in every fold
    assert (speaker_folds(manifest, n_folds=4, seed=3) == fold).all()
    assert not (speaker_folds(manifest, n_folds=4, seed=4) == fold).all()
    with pytest.raises(ParameterError, match="--folds 17: with 16 speakers each fold must leave two .* choose 2 to 16"):
        speaker_folds(manifest, n_folds=17)
    # three speakers: only three folds leave each fold a speaker to train and one to validate, and they run
    three = manifest[manifest["speaker"].isin(speakers[:3])]
    with pytest.raises(ParameterError, match="--folds 2: with 3 speakers .* choose 3$"):
        speaker_folds(three, n_folds=2)
    fold = speaker_folds(three, n_folds=3)
    for k in range(3):
        rest = three[fold != k]
        inner = split_speakers(rest, val_fraction=0.1, test_fraction=0.0)
        assert set(inner) == {"train", "val"}  # the cv's inner split of two speakers
    with pytest.raises(ParameterError, match="needs at least 3 speakers .* the manifest has 2"):
        speaker_folds(manifest[manifest["speaker"].isin(speakers[:2])], n_folds=2)


# --- cross-validation ----------------------------------------------------------------------------


@pytest.mark.slow
def test_cv_on_the_demo_corpus_keeps_every_fold_speaker_independent(tmp_path, demo_root, capsys):
    code = main(
        [
            "cv",
            "--corpus",
            f"demo={demo_root}",
            "--features",
            "stats",
            "--model",
            "logreg",
            "--folds",
            "4",
            "--augment",
            "noise",
            "--cache-dir",
            str(tmp_path / "c"),
            "--out",
            str(tmp_path / "m"),
            "--jobs",
            "2",
        ]
    )
    assert code == 0
    out, err = capsys.readouterr()
    cv_dir = Path(out.strip().splitlines()[-1])
    assert [line.startswith(f"fold {k}/4") for k, line in enumerate(err.strip().splitlines()[:4], start=1)] == [
        True
    ] * 4
    summary = json.loads((cv_dir / "cv.json").read_text())
    assert len(summary["folds"]) == 4 and (cv_dir / "cv.png").stat().st_size > 0
    uas = [f["unweighted_accuracy"] for f in summary["folds"]]
    assert summary["mean"]["unweighted_accuracy"] == pytest.approx(np.mean(uas))
    assert summary["std"]["unweighted_accuracy"] == pytest.approx(np.std(uas))
    assert summary["mean"]["unweighted_accuracy"] > 1.5 * summary["chance_ua"]
    tested = [s for f in summary["folds"] for s in f["test_speakers"]]
    assert sorted(tested) == sorted(set(tested)) and len(tested) == 8  # every speaker tested exactly once
    assert np.sum(summary["confusion_matrix"]) == sum(f["n_test"] for f in summary["folds"]) == 352
    for k in range(1, 5):
        run = json.loads((cv_dir / f"fold-{k}" / "run.json").read_text())
        train, val, test = (set(run["speakers"][p]) for p in ("train", "val", "test"))
        assert not (train & test) and not (val & test) and not (train & val) and len(val) >= 1
        rows = pd.read_csv(Path(run["feature_set"]) / "manifest.csv", dtype={"speaker": str})
        assert run["n"]["test"] == ((rows["view"] == "orig") & rows["speaker"].isin(test)).sum()  # originals only
        assert run["n"]["train"] == rows["speaker"].isin(train).sum()  # augmented views of train speakers only
    assert summary["recipe"]["model"] == "logreg" and summary["recipe"]["augment"]["recipes"] == ["noise"]
    assert len(list((tmp_path / "c").glob("stats-*"))) == 1  # features extracted once for every fold
    # a fold is a run like any other: evaluate re-scores it on its own held-out speakers
    fold_report = json.loads((cv_dir / "fold-2" / "report.json").read_text())
    assert main(["evaluate", str(cv_dir / "fold-2"), "--quiet"]) == 0
    again = json.loads((cv_dir / "fold-2" / "eval-test" / "report.json").read_text())
    assert again["confusion_matrix"] == fold_report["confusion_matrix"]
    assert again["test_speakers"] == fold_report["test_speakers"]


@pytest.mark.slow
def test_cv_with_a_keras_model_and_speaker_normalisation(tmp_path, demo_functionals, demo_root, capsys):
    from ser_keras.data.corpora import build_manifest
    from ser_keras.training.cv import cross_validate
    from ser_keras.training.train import TrainOptions

    manifest = build_manifest([f"demo={demo_root}"])
    cv_dir = cross_validate(
        manifest,
        features=FeatureConfig.for_kind("functionals"),
        folds=2,
        options=TrainOptions(model="dnn", normalize="speaker", epochs=3),
        cache_dir=tmp_path,
        out_dir=tmp_path / "m",
        progress=False,
    )
    summary = json.loads((cv_dir / "cv.json").read_text())
    assert len(summary["folds"]) == 2 and "transductive" in summary["note"]
    report = json.loads((cv_dir / "fold-1" / "report.json").read_text())
    assert report["normalize"] == "speaker" and "transductive" in report["note"]
    assert (cv_dir / "fold-1" / "saved_model").is_dir()
    recipe = (cv_dir / "recipe.yaml").read_text()  # from Python too, a cv folder holds its recipe
    for line in ("folds: 2", "model: dnn", "normalize: speaker", "epochs: 3", "features: functionals", "sr: 16000"):
        assert line in recipe.splitlines(), line
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_code:  # every key is a cv option: only the bad --folds is refused
        main(["cv", "--config", str(cv_dir / "recipe.yaml"), "--folds", "1"])
    assert exit_code.value.code == 2 and "argument --folds: must be >= 2" in capsys.readouterr().err


# --- new models, speaker-normalised serving ---------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("model", ["logreg", "svm", "dnn"])
def test_new_models_train_on_functionals_and_beat_chance(tmp_path, demo_functionals, capsys, model):
    args = ["train", "--quiet", "--features-dir", str(demo_functionals.path), "--model", model, "--out", str(tmp_path)]
    assert main(args + ["--epochs", "15"]) == 0
    run = Path(capsys.readouterr().out.strip().splitlines()[-1])
    report = json.loads((run / "report.json").read_text())
    assert report["unweighted_accuracy"] > 1.5 * report["chance_ua"], report
    sidecar = json.loads((run / "run.json").read_text())
    assert sidecar["model"] == model and sidecar["normalize"] == "global"
    if model != "dnn":
        assert sidecar["fitted_on"] == "train + val"
    if model == "logreg":  # export makes the equal Keras model's SavedModel (training never imports TensorFlow)
        import tensorflow as tf

        from ser_keras.runs.folders import load_run

        assert not (run / "saved_model").exists()
        assert main(["export", "--quiet", str(run)]) == 0
        assert (run / "model.tflite").is_file() and not list(run.glob(".saved_model*"))

        _, pipeline = load_run(run)
        X, _ = demo_functionals.arrays("test")
        X = np.asarray(X[:20])
        served = tf.saved_model.load(str(run / "saved_model")).signatures["serve_features"](features=tf.constant(X))
        np.testing.assert_allclose(served["probabilities"].numpy(), pipeline.predict_proba(X), rtol=1e-4, atol=1e-5)


def test_default_recipe_is_fusion_and_linear_is_functionals_logreg():
    from ser_keras.cli.main import build_parser

    args = build_parser().parse_args(["train"])
    assert args.features == "fusion" and args.model is None and args.normalize == "global"
    assert FeatureConfig.for_kind(args.features).kind_spec.default_model == "fusion"
    assert FeatureConfig.for_kind("functionals").kind_spec.default_model == "logreg"


@pytest.mark.slow
def test_speaker_signature_equals_the_predictor_on_one_speakers_clips(
    tmp_path, demo_functionals, demo_stats, demo_root
):
    import tensorflow as tf

    from ser_keras.serving.predict import Predictor
    from ser_keras.training.train import TrainOptions, train

    clips = sorted((Path(demo_root) / "Actor_03").glob("*.wav"))[:8]
    for fs, model in ((demo_functionals, "dnn"), (demo_stats, "conv1d")):
        run = train(
            fs, out_dir=tmp_path, options=TrainOptions(model=model, normalize="speaker", epochs=2), progress=False
        )
        predictor = Predictor.from_run(run)
        with pytest.raises(ParameterError, match="normalises by speaker"):
            predictor.predict_file(clips[0])
        loaded = tf.saved_model.load(str(run / "saved_model"))
        part = predictor.models["mixed"]
        from ser_keras.signal.audio import load

        waveforms = [load(c, sr=predictor.sr) for c in clips]
        if fs is demo_stats:  # the waveform signature: clips cut to one length, one window each
            n = min(len(w) for w in waveforms)
            waveforms = [w[:n] for w in waveforms]
            served = loaded.signatures["serving_default"](waveform=tf.constant(np.stack(waveforms)))
        else:  # the speaker's feature arrays
            X = np.concatenate([part.windows(w) for w in waveforms])
            served = loaded.signatures["serve_speaker_features"](features=tf.constant(X))
        expected = predictor.predict_speaker(waveforms, sr=predictor.sr)
        probabilities = np.array([[r["probabilities"][label] for label in predictor.labels] for r in expected])
        np.testing.assert_allclose(served["probabilities"].numpy(), probabilities, rtol=1e-3, atol=1e-4)
        assert [s.decode() for s in served["label"].numpy()] == [r["best_guess"] for r in expected]


def test_predict_groups_a_speaker_runs_files_by_folder_and_warns_on_few_clips(
    tmp_path, demo_functionals, demo_root, capsys
):
    import shutil

    from ser_keras.training.train import TrainOptions, train

    run = train(
        demo_functionals,
        out_dir=tmp_path / "m",
        options=TrainOptions(model="logreg", normalize="speaker"),
        progress=False,
    )
    for actor, n in (("Actor_03", 6), ("Actor_06", 2)):
        folder = tmp_path / "in" / actor
        folder.mkdir(parents=True)
        for clip in sorted((Path(demo_root) / actor).glob("*.wav"))[:n]:
            shutil.copy(clip, folder)
    (tmp_path / "in" / "Actor_03" / "broken.wav").write_bytes(b"not audio")
    out = tmp_path / "res.csv"
    assert main(["predict", str(run), str(tmp_path / "in"), "-o", str(out)]) == 1  # a broken file: some not scored
    table = pd.read_csv(out)
    assert len(table) == 9 and table["speaker"].nunique() == 2
    broken = table[table["path"].str.endswith("broken.wav")]
    assert broken["error"].notna().all() and broken["emotion"].isna().all()
    scored = table[table["error"].isna()]
    assert scored["emotion"].notna().all()
    few = scored[scored["speaker"].str.endswith("Actor_06")]
    assert few["warning"].str.contains("at least 5").all()
    assert scored[scored["speaker"].str.endswith("Actor_03")]["warning"].isna().all()
    # --speakers overrides the folders: all eight clips as one speaker, no warning
    table_csv = tmp_path / "speakers.csv"
    pd.DataFrame({"path": scored["path"], "speaker": "x"}).to_csv(table_csv, index=False)
    out2 = tmp_path / "res2.csv"
    assert main(["predict", str(run), *scored["path"], "--speakers", str(table_csv), "-o", str(out2)]) == 0
    grouped = pd.read_csv(out2)
    assert set(grouped["speaker"]) == {"x"} and grouped["warning"].isna().all()


@pytest.mark.slow
def test_ensemble_is_one_model_one_savedmodel_one_report(tmp_path, demo_functionals):
    import tensorflow as tf

    from ser_keras.runs.folders import load_run
    from ser_keras.training.train import TrainOptions, train

    run = train(
        demo_functionals, out_dir=tmp_path, options=TrainOptions(model="dnn", ensemble=3, epochs=3), progress=False
    )
    sidecar, model = load_run(run)
    assert sidecar["ensemble"]["members"] == 3 and sidecar["ensemble"]["seeds"] == [0, 1, 2]
    members = [layer for layer in model.layers if layer.name.startswith("member_")]
    assert len(members) == 3
    X, _ = demo_functionals.arrays("test")
    X = np.asarray(X[:12])
    from ser_keras.evaluation.calibration import scale_probabilities

    # the members' mean, scaled by the temperature fitted on the validation speakers
    mean = scale_probabilities(
        np.mean([m.predict(X, verbose=0) for m in members], axis=0), sidecar["calibration"]["temperature"]
    )
    np.testing.assert_allclose(model.predict(X, verbose=0), mean, rtol=1e-4, atol=1e-5)
    assert not np.allclose(members[0].predict(X, verbose=0), members[1].predict(X, verbose=0))  # different seeds
    served = tf.saved_model.load(str(run / "saved_model")).signatures["serve_features"](features=tf.constant(X))
    np.testing.assert_allclose(served["probabilities"].numpy(), mean, rtol=1e-4, atol=1e-5)
    history = pd.read_csv(run / "history.csv")
    assert sorted(history["member"].unique()) == [1, 2, 3]
    report = json.loads((run / "report.json").read_text())
    assert report["n_test"] == len(demo_functionals.arrays("test")[1])


def test_conv2d_pool_ignores_a_recordings_level(tmp_path):
    from ser_keras.models import get_builder

    rng = np.random.default_rng(0)
    images = rng.normal(-40, 10, size=(4, 32, 40)).astype(np.float32)
    model = get_builder("conv2d_pool")((32, 40), 5)
    louder = model.predict(images + 25.0, verbose=0)  # the same clips recorded 25 dB hotter
    np.testing.assert_allclose(model.predict(images, verbose=0), louder, rtol=1e-4, atol=1e-5)
    model.save(tmp_path / "m.keras")
    import keras

    from ser_keras.models import layers  # noqa: F401

    reloaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(reloaded.predict(images, verbose=0), model.predict(images, verbose=0), rtol=1e-5)


@pytest.mark.slow
def test_stats_models_log_compress_the_mel_power_block_inside(tmp_path, demo_stats):
    import keras

    from ser_keras.models.layers import LogCompress, log_compress
    from ser_keras.runs.folders import load_run
    from ser_keras.training.train import TrainOptions, train

    run = train(demo_stats, out_dir=tmp_path, options=TrainOptions(model="conv1d", epochs=1), progress=False)
    sidecar, model = load_run(run)
    assert sidecar["log_power_columns"] == [34, 162]
    layer = model.get_layer("log_power")
    assert isinstance(layer, LogCompress)
    X_train, _ = demo_stats.arrays("train")
    compressed = log_compress(np.asarray(X_train), 34, 162)
    np.testing.assert_allclose(
        np.ravel(model.get_layer("normalize").mean), compressed.mean(axis=0), rtol=1e-3, atol=1e-4
    )
    X = np.asarray(X_train[:4])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(X)), log_compress(X, 34, 162), rtol=1e-5, atol=1e-5)
    raw = train(
        demo_stats, out_dir=tmp_path, options=TrainOptions(model="conv1d", epochs=1, log_power=False), progress=False
    )
    assert "log_power" not in [layer.name for layer in load_run(raw)[1].layers]


def test_predict_speaker_on_a_global_run_scores_each_clip_alone(tmp_path, demo_functionals, demo_root):
    from ser_keras.serving.predict import Predictor
    from ser_keras.training.train import TrainOptions, train

    run = train(demo_functionals, out_dir=tmp_path, options=TrainOptions(model="logreg"), progress=False)
    predictor = Predictor.from_run(run)
    clips = sorted((Path(demo_root) / "Actor_05").glob("*.wav"))[:3]
    together = predictor.predict_speaker(clips)
    alone = [predictor.predict_file(c) for c in clips]
    assert [r["probabilities"] for r in together] == [r["probabilities"] for r in alone]
    assert all(r["warning"] is None for r in together)


def test_group_balance_gives_each_descriptor_family_the_same_weight(tmp_path, demo_functionals):
    """Each family's squared weights sum to the same total; logreg uses them unless --no-group-balance;
    the exported Keras model folds them in and still equals the pipeline."""
    from ser_keras.features.config import FeatureConfig
    from ser_keras.features.functionals import feature_names
    from ser_keras.models.baselines import logistic_to_keras
    from ser_keras.runs.folders import load_run
    from ser_keras.training.fit_sklearn import group_weights
    from ser_keras.training.train import TrainOptions, train

    config = FeatureConfig.for_kind("functionals")
    groups = np.asarray(config.kind_spec.column_groups(config))
    weights = group_weights(config)
    assert groups.shape == weights.shape == (len(feature_names(config)),)
    assert {"logmel", "mfcc", "f0", "voice", "contour", "spectral_energy"} <= set(groups)
    assert groups[feature_names(config).index("voiced_fraction")] == "spectral_energy"
    totals = [np.sum(weights[groups == g] ** 2) for g in np.unique(groups)]
    np.testing.assert_allclose(totals, totals[0])
    np.testing.assert_allclose(np.mean(weights**2), 1.0)
    assert group_weights(FeatureConfig.for_kind("stats")) is None  # kinds without families: no weights

    balanced = load_run(
        train(demo_functionals, out_dir=tmp_path, options=TrainOptions(model="logreg"), progress=False)
    )[1]
    plain = load_run(
        train(
            demo_functionals,
            out_dir=tmp_path,
            progress=False,
            options=TrainOptions(model="logreg", group_balance=False),
        )
    )[1]
    assert len(balanced) == 3 and len(plain) == 2
    np.testing.assert_array_equal(balanced[1].kw_args["weights"], weights)
    X = np.asarray(demo_functionals.arrays("test")[0][:20])
    assert not np.allclose(balanced.predict_proba(X), plain.predict_proba(X))
    for pipeline in (balanced, plain):
        keras_model = logistic_to_keras(pipeline, n_labels=len(demo_functionals.labels))
        np.testing.assert_allclose(
            keras_model.predict(X, verbose=0)[:, pipeline.classes_], pipeline.predict_proba(X), rtol=1e-4, atol=1e-5
        )
