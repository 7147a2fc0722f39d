"""Predict and serve: the Predictor, ``ser-keras predict``, the raw-waveform SavedModel signature, the app."""

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ser_keras.cli.main import main
from ser_keras.errors import ParameterError, SerWarning
from ser_keras.evaluation.calibration import scale_probabilities
from ser_keras.features.registry import FeatureConfig, compute
from ser_keras.serving.predict import Predictor
from ser_keras.signal.audio import load
from ser_keras.signal.windows import segments

from conftest import shown


@pytest.fixture
def stats_run(demo_conv1d_run):
    """The session's conv1d run on the demo stats (`demo_conv1d_run`)."""
    return demo_conv1d_run


@pytest.fixture(scope="module")
def knn_group(demo_stats, tmp_path_factory):
    """A ``--gender all`` group of kNN runs (quick, no TensorFlow)."""
    out = tmp_path_factory.mktemp("group")
    args = [
        "train",
        "--quiet",
        "--features-dir",
        str(demo_stats.path),
        "--out",
        str(out),
        "--model",
        "knn",
        "--gender",
        "all",
    ]
    assert main(args) == 0
    return next(p for p in out.iterdir() if (p / "group.json").is_file())


def _demo_files(demo_stats, split="test"):
    manifest = demo_stats.manifest
    return manifest[manifest["split"] == split].reset_index(drop=True)


def test_segments_follow_the_training_window():
    config = FeatureConfig.for_kind("mel", sr=1000, duration=2.0)  # 2000-sample windows from 0 s
    y = np.arange(5200, dtype=np.float32)
    windows = segments(y, config=config)
    assert [w.shape[0] for w in windows] == [2000, 2000, 2000]  # 1200 left >= half a window: a third, padded
    np.testing.assert_array_equal(windows[1], y[2000:4000])
    assert windows[2][:400].sum() == 0 and windows[2][400:1600].tolist() == y[4000:5200].tolist()  # centred padding
    assert len(segments(y[:2900], config=config)) == 1  # 900 left < 1000: dropped
    stats = FeatureConfig.for_kind("stats", sr=1000)  # 0.6 s offset, 2.5 s windows, not padded
    first = segments(np.arange(2000, dtype=np.float32), config=stats)
    assert len(first) == 1 and first[0][0] == 600 and first[0].shape[0] == 1400


@pytest.mark.slow
def test_predictor_scores_files_like_the_model_and_averages_long_clips(stats_run, demo_stats):
    predictor = Predictor.from_run(stats_run)
    rows = _demo_files(demo_stats)
    path = rows.loc[0, "path"]
    result = predictor.predict_file(path)
    assert set(result["probabilities"]) == set(demo_stats.labels) == set(predictor.labels)
    assert result["n_windows"] == 1 and result["gender_model"] == "mixed"
    # the same as the Keras model on features computed from the same window
    y = load(path, sr=predictor.sr)
    part = predictor.models["mixed"]
    X = compute(segments(y, config=part.features), config=part.features)
    expected = part.model.predict(X, verbose=0)[0]
    np.testing.assert_allclose([result["probabilities"][k] for k in predictor.labels], expected, rtol=1e-5, atol=1e-6)
    # ... and close to the extract stage's cached row of that file (which read the window from disk)
    X_test, _ = demo_stats.arrays("test")
    cached = part.model.predict(np.asarray(X_test[:1]), verbose=0)[0]
    # (resampling the window alone vs inside the whole file differs at the edges; the model's log-compressed
    # mel block sees that in the quietest bins, hence probabilities within 0.06 rather than exactly equal;
    # compared before the run's temperature, which sharpens or flattens any difference)
    temperature = part.sidecar["calibration"]["temperature"] or 1.0
    np.testing.assert_allclose(
        *(scale_probabilities(p[None], 1 / temperature)[0] for p in (expected, cached)), atol=0.06
    )
    # a long clip: windows averaged
    long = np.concatenate([load(p, sr=predictor.sr) for p in rows["path"][:3]])
    result = predictor.predict(long, predictor.sr)
    windows = segments(long, config=part.features)
    assert result["n_windows"] == len(windows) >= 2
    mean = part.model.predict(compute(windows, config=part.features), verbose=0).mean(axis=0)
    np.testing.assert_allclose([result["probabilities"][k] for k in predictor.labels], mean, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_predict_cli_reports_bad_files_per_row(stats_run, demo_stats, tmp_path, capsys, monkeypatch):
    import shutil

    folder = tmp_path / "clips"
    folder.mkdir()
    for path in _demo_files(demo_stats)["path"][:2]:
        shutil.copy(path, folder / Path(path).name)
    (folder / "notes.wav").write_text("this is not audio")
    (folder / "empty.wav").write_bytes(b"")
    out = tmp_path / "results.csv"
    monkeypatch.chdir(tmp_path)
    assert main(["predict", str(stats_run), "clips", "--output", str(out)]) == 1  # some files could not be scored
    captured = capsys.readouterr()
    assert captured.out.strip() == str(out) and f"wrote 4 row(s) to {out}" in captured.err
    assert "2 of 4 file(s) could not be scored" in captured.err
    table = pd.read_csv(out)
    assert sorted(table["path"]) == ["clips/" + p.name for p in sorted(folder.iterdir())]  # paths as given
    assert set(table["gender_model"].dropna()) == {"mixed"} and "model" not in table.columns
    assert len(table) == 4 and list(table.columns[:2]) == ["path", "emotion"]
    bad = table[table["path"].str.contains("notes|empty")]
    assert bad["emotion"].isna().all() and bad["error"].notna().all()
    assert all(Path(p).name in e for p, e in zip(bad["path"], bad["error"]))  # errors name the file
    good = table[table["error"].isna()]
    assert len(good) == 2 and good["emotion"].isin([*demo_stats.labels, "uncertain"]).all()
    assert good["best_guess"].isin(demo_stats.labels).all()
    np.testing.assert_allclose(good[demo_stats.labels].sum(axis=1), 1.0, rtol=1e-5)
    assert main(["predict", str(stats_run), str(folder)]) == 1  # a table on stdout
    lines = capsys.readouterr().out.strip().splitlines()
    # the two scored files with their confidence, then the two errors apart: no row padded by an error
    assert lines[0].split()[:3] == ["path", "emotion", "confidence"] and lines[3] == "could not be scored (2):"
    assert len(lines) == 6 and max(len(line) for line in lines[:3]) < len(str(folder)) + 60
    assert any("notes.wav" in line and "cannot read audio" in line for line in lines[4:])
    assert main(["predict", str(stats_run), str(folder / "notes.wav"), "--output", str(tmp_path / "r.json")]) == 2
    assert json.loads((tmp_path / "r.json").read_text())[0]["error"]
    capsys.readouterr()
    good_files = [str(p) for p in sorted(folder.glob("03-*.wav"))]
    assert main(["predict", "--quiet", str(stats_run), *good_files, "-o", "all.json"]) == 0  # every file scored
    assert capsys.readouterr().out.strip() == "all.json"
    text = (tmp_path / "all.json").read_text()
    assert "\\/" not in text and [r["path"] for r in json.loads(text)] == good_files
    assert (
        main(["predict", str(stats_run), good_files[0], "--gender", "auto"]) == 2
    )  # a single run has no gender models
    assert "needs a --gender all run group" in capsys.readouterr().err


@pytest.mark.slow
def test_below_the_threshold_the_answer_is_uncertain_and_the_best_guess_stays(stats_run, demo_stats, tmp_path, capsys):
    files = [str(p) for p in _demo_files(demo_stats)["path"][:3]]
    with pytest.warns(SerWarning, match="synthetic demo corpus"):  # a demo run says its answers mean nothing
        own = Predictor.from_run(stats_run)
    calibration = json.loads((stats_run / "run.json").read_text())["calibration"]
    assert own.min_confidence == calibration["min_confidence"]
    with pytest.warns(SerWarning):
        answers, never = (
            Predictor.from_run(stats_run, min_confidence=0.0),
            Predictor.from_run(stats_run, min_confidence=1.0),
        )
    for path in files:
        sure, unsure = answers.predict_file(path), never.predict_file(path)
        assert sure["emotion"] == sure["best_guess"] == unsure["best_guess"] != unsure["emotion"] == "uncertain"
        assert sure["probabilities"] == unsure["probabilities"] and sure["confidence"] == max(
            sure["probabilities"].values()
        )
    with pytest.raises(ParameterError, match="between 0 and 1"):
        Predictor.from_run(stats_run, min_confidence=1.5)
    out = tmp_path / "r.csv"
    assert main(["predict", "--quiet", str(stats_run), *files, "--min-confidence", "1", "-o", str(out)]) == 0
    table = pd.read_csv(out)
    assert (table["emotion"] == "uncertain").all() and table["best_guess"].isin(demo_stats.labels).all()
    capsys.readouterr()
    assert main(["predict", str(stats_run), *files, "--min-confidence", "1"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0].split() == ["path", "emotion", "confidence", "best", "guess"]
    assert "synthetic demo corpus" in captured.err
    with pytest.raises(SystemExit):
        main(["predict", str(stats_run), *files, "--min-confidence", "2"])
    assert "--min-confidence" in capsys.readouterr().err


def test_gender_auto_routes_to_the_gender_model(knn_group, demo_stats):
    predictor = Predictor.from_run(knn_group, gender="auto")
    assert set(predictor.models) == {"mixed", "male", "female"}
    rows = _demo_files(demo_stats)
    routed = [predictor.predict_file(p)["gender_model"] for p in rows["path"]]
    agreement = np.mean([r == g for r, g in zip(routed, rows["gender"])])
    assert agreement > 0.8, agreement  # demo voices differ in pitch by gender
    only_female = Predictor.from_run(knn_group, gender="female")
    assert only_female.models["mixed"].sidecar["gender"] == "female"


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["stats", "frames", "mel"])
def test_waveform_signature_matches_the_feature_path(kind, demo_root, tmp_path):
    """The SavedModel alone (TensorFlow only) gives the librosa-feature path's features and probabilities."""
    import tensorflow as tf

    from ser_keras.data.demo import ensure_demo_corpus  # noqa: F401  (the corpus comes from the demo_root fixture)
    from ser_keras.extraction.parts import fit_normalization
    from ser_keras.features.graph import waveform_features
    from ser_keras.models import get_builder
    from ser_keras.serving.saved_model import export_saved_model, window_waveform

    config = FeatureConfig.for_kind(kind)
    files = sorted(Path(demo_root).rglob("*.wav"))[:4]
    waveforms = [load(f, sr=config.sr) for f in files]
    length = min(len(w) for w in waveforms)
    batch = np.stack([w[:length] for w in waveforms])
    X = compute([segments(w, config=config)[0] for w in batch], config=config)
    # features in the graph equal the NumPy/librosa path, block by block
    X_graph = waveform_features(window_waveform(tf.constant(batch), config), config).numpy()
    assert X_graph.shape == X.shape
    scale = np.abs(X).max(axis=tuple(range(X.ndim - 1)), keepdims=True) if kind != "mel" else np.abs(X).max()
    worst = float((np.abs(X_graph - X) / (scale + 1e-6)).max())  # relative to each feature's range
    assert worst < 1e-4, worst
    # a model exported with both signatures
    labels = ["neutral", "happy", "sad", "angry"]
    model = get_builder(config.kind_spec.default_model)(
        X.shape[1:], len(labels), normalization=fit_normalization(X, config)
    )
    path = tmp_path / "saved_model"
    export_saved_model(model, path, config=config, labels=labels)
    loaded = tf.saved_model.load(str(path))
    served = loaded.signatures["serving_default"](waveform=tf.constant(batch))
    expected = model.predict(X, verbose=0)
    np.testing.assert_allclose(served["probabilities"].numpy(), expected, rtol=1e-4, atol=1e-5)
    assert [s.decode() for s in served["label"].numpy()] == [labels[i] for i in expected.argmax(axis=1)]
    np.testing.assert_allclose(loaded.serve(tf.constant(X)).numpy(), expected, rtol=1e-5, atol=1e-6)
    # one contract with the Predictor: silence gets no answer
    silent = batch.copy()
    silent[1] *= 1e-5
    with pytest.raises(tf.errors.InvalidArgumentError, match="silent clip"):
        loaded.signatures["serving_default"](waveform=tf.constant(silent))


def test_predictor_scales_integer_pcm_and_refuses_silence(knn_group, demo_stats):
    predictor = Predictor.from_run(knn_group)
    y = load(_demo_files(demo_stats)["path"][0], sr=predictor.sr)
    pcm = np.round(y * 32767).astype(np.int16)
    as_float = predictor.predict(pcm.astype(np.float32) / 32768, predictor.sr)
    assert predictor.predict(pcm, predictor.sr) == as_float  # int16 is scaled by its full scale, not used raw
    stereo = np.stack([pcm, pcm], axis=1)  # (n, channels)
    assert predictor.predict(stereo, predictor.sr)["emotion"] == as_float["emotion"]
    with pytest.raises(ParameterError, match="<waveform>: audio is silent"):
        predictor.predict(y * 1e-5, predictor.sr)
    with pytest.raises(ParameterError, match="complex"):
        predictor.predict(y.astype(np.complex64), predictor.sr)


def _wav_bytes(path) -> bytes:
    return Path(path).read_bytes()


def test_streamlit_page_predicts_uploads_and_explains_bad_ones(knn_group, demo_stats, monkeypatch):
    from streamlit.testing.v1 import AppTest

    import ser_keras.serving.app

    monkeypatch.setenv("SER_KERAS_MODELS", str(knn_group.parent))
    monkeypatch.setenv("SER_KERAS_RUN", str(knn_group))
    monkeypatch.setenv("SER_KERAS_MAX_MB", "1")
    app = AppTest.from_file(ser_keras.serving.app.__file__, default_timeout=120)
    app.run()
    assert not app.exception
    assert "Upload or record" in shown(app.info[0])
    path = _demo_files(demo_stats)["path"][0]
    expected = Predictor.from_run(knn_group, gender="auto").predict_file(path)["emotion"]
    app.file_uploader[0].upload("clip.wav", _wav_bytes(path), "audio/wav")
    app.run()
    assert not app.exception and not app.error
    assert shown(app.subheader[0]).startswith(f"Predicted emotion: {expected} (")
    assert any("synthetic demo corpus" in shown(w) for w in app.warning)  # a demo run says so on the page
    # beside the picker, what the model scored on unseen speakers (a group: its mixed model's report)
    group = json.loads((knn_group / "group.json").read_text())
    report = json.loads(((knn_group / group["runs"]["mixed"]).resolve() / "report.json").read_text())
    tested = next(shown(c) for c in app.caption if shown(c).startswith("Tested"))
    assert f"UA {report['unweighted_accuracy']:.3f}" in tested and f"on {report['n_test']} clips" in tested
    # the emotions from the most to the least probable
    ranked = next(shown(c) for c in app.caption if shown(c).startswith("By probability: "))
    values = [float(item.rsplit(" ", 1)[1]) for item in ranked.removeprefix("By probability: ").split(", ")]
    assert values == sorted(values, reverse=True) and ranked.split(" ")[2] == expected
    assert not any(shown(h).startswith("A long recording") for h in app.subheader)  # a short clip: one answer
    # a long recording is answered by its timeline (one answer would mix its parts): the segments and
    # emotions predict --segments gives, and no answer for the whole
    import soundfile as sf

    clips = [sf.read(p, dtype="float32")[0] for p in _demo_files(demo_stats)["path"][:4]]
    gap = np.zeros(16000, np.float32)
    long = np.concatenate([part for clip in clips for part in (gap, clip)])
    buffer = io.BytesIO()
    sf.write(buffer, long, 16000, format="WAV", subtype="PCM_16")
    app.file_uploader[0].set_value(("long.wav", buffer.getvalue(), "audio/wav"))
    app.run()
    headings = [shown(h) for h in app.subheader]
    assert not app.exception and not app.error and len(headings) == 1
    assert headings[0] == f"A long recording ({len(long) / 16000:.1f} s): one answer per speech segment"
    routed = Predictor.from_run(knn_group, gender="auto")
    decoded = ser_keras.serving.app.decode_upload(buffer.getvalue(), "long.wav", sr=routed.sr, max_bytes=10**6)
    expected = routed.predict_segments(decoded, sr=routed.sr)
    timeline = next(shown(c) for c in app.caption if shown(c).startswith("Timeline: "))
    assert timeline.startswith(f"Timeline: {len(expected)} speech segments: ") and len(expected) == 4
    assert [item.rsplit(" ", 1)[1] for item in timeline.split(": ", 2)[2].split(", ")] == expected["emotion"].tolist()
    for content, message in (
        (b"", "clip.wav: the file is empty"),
        (b"not audio at all", "clip.wav: "),
        (b"\0" * 1_100_000, "over the 1 MB limit"),
    ):
        app.file_uploader[0].set_value(("clip.wav", content, "audio/wav"))
        app.run()
        assert not app.exception and message in shown(app.error[0]) and not app.subheader


def test_streamlit_page_without_models_says_how_to_get_one(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    import ser_keras.layout
    import ser_keras.serving.app

    monkeypatch.setenv("SER_KERAS_MODELS", str(tmp_path))
    monkeypatch.delenv("SER_KERAS_RUN", raising=False)
    app = AppTest.from_file(ser_keras.serving.app.__file__, default_timeout=60)
    app.run()  # no run in the folder: the shipped model is there
    assert not app.error and app.selectbox[0].options == ["shipped: trained on RAVDESS (weights CC BY-NC-SA 4.0)"]
    assert not app.warning  # a model trained on speech: no demo warning
    # a telephone-band upload is answered, with the reason to doubt the answer beside it
    import soundfile as sf

    from ser_keras.signal.shifts import apply_shift

    y, sr = sf.read(ser_keras.layout.PRETRAINED_RUN / "conformance" / "voice_angry.wav", dtype="float32")
    buffer = io.BytesIO()
    sf.write(buffer, apply_shift(y, "telephone", sr=sr, rng=np.random.default_rng(0)), sr, format="WAV")
    app.file_uploader[0].upload("phone.wav", buffer.getvalue(), "audio/wav")
    app.run()
    assert not app.exception and not app.error
    assert any("band-limited" in shown(w) for w in app.warning), [shown(w) for w in app.warning]
    assert shown(app.subheader[0]).startswith(("Predicted emotion: ", "Not sure"))
    monkeypatch.setattr(ser_keras.layout, "PRETRAINED_RUN", tmp_path / "not-installed")
    app = AppTest.from_file(ser_keras.serving.app.__file__, default_timeout=60)
    app.run()
    assert "ser-keras train" in shown(app.error[0])


@pytest.mark.parametrize("damage", ["model", "gender_classifier"])
def test_streamlit_page_names_a_damaged_run_instead_of_crashing(knn_group, tmp_path, monkeypatch, damage):
    import shutil

    from streamlit.testing.v1 import AppTest

    import ser_keras.serving.app

    shutil.copytree(knn_group.parent, tmp_path / "models")  # the group and the runs it points to
    group = tmp_path / "models" / knn_group.name
    spec = json.loads((group / "group.json").read_text())
    target = group / spec["runs"]["mixed"] / "model.skops" if damage == "model" else group / spec["gender_classifier"]
    target.write_bytes(target.read_bytes()[:100])  # truncated
    monkeypatch.setenv("SER_KERAS_MODELS", str(group.parent))
    monkeypatch.setenv("SER_KERAS_RUN", str(group))
    app = AppTest.from_file(ser_keras.serving.app.__file__, default_timeout=120)
    app.run()
    assert not app.exception
    assert len(app.error) == 1 and str(target.name) in shown(app.error[0]) and str(group) in shown(app.error[0])


def test_app_listens_on_localhost_and_gives_streamlit_the_upload_limit(monkeypatch):
    import os

    calls = []
    monkeypatch.setattr(os, "execve", lambda exe, command, env: calls.append((command, env)))
    assert main(["app", "--max-mb", "2.5"]) == 0
    command, env = calls[-1]
    options = dict(zip(command[5::2], command[6::2]))
    assert options["--server.address"] == "127.0.0.1"
    assert options["--server.maxUploadSize"] == "3" and env["SER_KERAS_MAX_MB"] == "2.5"
    assert main(["app", "--address", "0.0.0.0", "--port", "9000"]) == 0
    options = dict(zip(calls[-1][0][5::2], calls[-1][0][6::2]))
    assert options["--server.address"] == "0.0.0.0" and options["--server.port"] == "9000"


@pytest.mark.parametrize("kind", ["stats", "mel", "functionals"])
def test_stream_windows_equal_segments_whatever_the_blocks(kind):
    from ser_keras.signal.windows import MAX_WINDOW_SECONDS, stream_windows

    config = FeatureConfig.for_kind(
        kind, sr=1000, **({"f0_min": 60.0, "f0_max": 400.0} if kind == "functionals" else {})
    )
    rng = np.random.default_rng(0)
    lengths = [300, 2400, 2500 + 1100, 7 * 2500 + 1300, int(2.5 * MAX_WINDOW_SECONDS * 1000)]
    for n in lengths:
        y = rng.standard_normal(n).astype(np.float32)
        try:
            expected = segments(y, config=config)
        except ParameterError as error:  # too short for one frame: the stream says the same
            with pytest.raises(ParameterError, match=str(error).split(" (")[0]):
                list(stream_windows(np.split(y, [100, 200]), config=config))
            continue
        for _ in range(3):
            cuts = np.sort(rng.choice(np.arange(1, n), size=min(6, n - 1), replace=False))
            got = list(stream_windows(np.split(y, cuts), config=config))
            assert len(got) == len(expected), (kind, n)
            for a, b in zip(got, expected):
                np.testing.assert_array_equal(a, b)
    if kind == "functionals":  # no fixed window: whole up to MAX_WINDOW_SECONDS, then windows of it
        long = segments(np.ones(int(2.5 * MAX_WINDOW_SECONDS * 1000), np.float32), config=config)
        assert [w.shape[0] for w in long] == [int(MAX_WINDOW_SECONDS * 1000)] * 2 + [int(MAX_WINDOW_SECONDS * 500)]


def test_audio_stream_equals_loading_the_whole_file(tmp_path):
    from ser_keras.signal.audio import stream

    rng = np.random.default_rng(1)
    y = (0.1 * rng.standard_normal((48000 * 5, 2))).astype(np.float32)
    path = tmp_path / "long.wav"
    import soundfile as sf

    sf.write(path, y, 48000, subtype="FLOAT")
    whole = load(path, sr=16000)
    blocks = list(stream(path, sr=16000, block_seconds=0.7))
    assert len(blocks) > 5
    np.testing.assert_allclose(np.concatenate(blocks), whole, atol=1e-6)


@pytest.mark.slow
def test_long_files_are_scored_in_blocks_with_the_same_result(stats_run, demo_stats, tmp_path, monkeypatch):
    import soundfile as sf

    import ser_keras.serving.predict as predict

    predictor = Predictor.from_run(stats_run)
    clips = [load(p, sr=48000) for p in _demo_files(demo_stats)["path"][:6]]
    path = tmp_path / "long.wav"
    sf.write(path, np.concatenate(clips), 48000, subtype="FLOAT")
    whole = predictor.predict(load(path, sr=predictor.sr), predictor.sr)
    calls = []
    real_stream = predict.stream
    monkeypatch.setattr(predict, "stream", lambda *a, **k: calls.append(k) or real_stream(*a, **k))
    monkeypatch.setattr(predict, "STREAM_SECONDS", 4.0)  # a "long" file, read 2 s at a time
    monkeypatch.setattr(predict, "WINDOW_BATCH", 2)
    streamed = predictor.predict_file(path)
    assert calls and calls[0]["block_seconds"] == 2.0
    assert streamed["n_windows"] == whole["n_windows"] >= 4 and streamed["emotion"] == whole["emotion"]
    np.testing.assert_allclose(
        [streamed["probabilities"][k] for k in predictor.labels],
        [whole["probabilities"][k] for k in predictor.labels],
        atol=1e-5,
    )
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000 * 10, np.float32), 16000)
    with pytest.raises(ParameterError, match="silent.wav: audio is silent"):
        predictor.predict_file(silent)


# --- TensorFlow-free inference: ser-keras export --format litert --------------------------------


@pytest.mark.slow
def test_litert_export_equals_the_keras_model_and_predicts_without_tensorflow(stats_run, demo_stats, tmp_path, capsys):
    import shutil
    import subprocess
    import sys

    from ser_keras.runs.folders import load_run
    from ser_keras.runs.inference import predict_probabilities
    from ser_keras.runs.litert import LITERT_FILE, LiteRTModel

    run = tmp_path / stats_run.name
    shutil.copytree(stats_run, run)
    assert main(["export", str(run)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1] == str(run / LITERT_FILE) and "largest probability difference" in out[0]
    X, _ = demo_stats.arrays("test")
    _, keras_model = load_run(run)
    lite = LiteRTModel(run / LITERT_FILE)
    np.testing.assert_allclose(lite.probabilities(X[:1]), predict_probabilities(keras_model, X[:1]), atol=1e-4)
    np.testing.assert_allclose(
        lite.probabilities(X), predict_probabilities(keras_model, X), atol=1e-4
    )  # any batch size
    clips = _demo_files(demo_stats)["path"].iloc[:4].tolist()
    keras_predictor, with_lite = Predictor.from_run(stats_run), Predictor.from_run(run)
    with_keras = [keras_predictor.predict_file(clip) for clip in clips]
    assert isinstance(with_lite.models["mixed"].model, LiteRTModel)
    for a, b in zip(with_keras, [with_lite.predict_file(clip) for clip in clips]):
        assert a["emotion"] == b["emotion"]
        np.testing.assert_allclose(list(a["probabilities"].values()), list(b["probabilities"].values()), atol=1e-4)
    sr = keras_predictor.sr  # a long clip: several windows, the last one shorter
    long_clip = np.concatenate([load(clip, sr=sr) for clip in clips] + [load(clips[0], sr=sr)[: sr // 2 + sr]])
    a, b = keras_predictor.predict(long_clip, sr), with_lite.predict(long_clip, sr)
    assert a["n_windows"] == b["n_windows"] > 1
    np.testing.assert_allclose(list(a["probabilities"].values()), list(b["probabilities"].values()), atol=1e-4)
    # a fresh process finds the filter banks in the cache this one filled: no TensorFlow, Keras, librosa, scipy.signal
    script = (
        "import sys; from ser_keras.serving.predict import Predictor; "
        f"r = Predictor.from_run({str(run)!r}).predict_file({clips[0]!r}); "
        "print(r['emotion'], *(name in sys.modules for name in ('tensorflow', 'keras', 'librosa', 'scipy.signal')))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == [with_keras[0]["emotion"], "False", "False", "False", "False"]


@pytest.mark.slow
def test_litert_waveform_model_equals_the_savedmodel_signature(stats_run, demo_stats, tmp_path, capsys):
    """``waveform.tflite``: raw audio in, features in the graph, probabilities equal the SavedModel's."""
    import shutil

    import tensorflow as tf

    from ser_keras.runs.litert import WAVEFORM_FILE, WaveformModel

    run = tmp_path / stats_run.name
    shutil.copytree(stats_run, run)
    assert main(["export", "--quiet", str(run)]) == 0
    lite = WaveformModel(run / WAVEFORM_FILE)
    serving = tf.saved_model.load(str(run / "saved_model")).signatures["serving_default"]
    sr = json.loads((run / "run.json").read_text())["features"]["sr"]
    for clip in _demo_files(demo_stats)["path"].iloc[:3]:
        waveform = load(clip, sr=sr).astype(np.float32)
        answer, graph = lite(waveform)["probabilities"], serving(waveform=tf.constant(waveform[None]))
        np.testing.assert_allclose(answer, graph["probabilities"].numpy()[0], atol=1e-4)
        assert lite.labels[int(np.argmax(answer))] == graph["label"].numpy()[0].decode()


def test_export_of_a_run_without_a_saved_model_is_one_line(knn_group, capsys):
    import json as json_

    run = knn_group / json_.loads((knn_group / "group.json").read_text())["runs"]["mixed"]
    assert main(["export", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(run) in err[0] and "no saved_model/" in err[0], err
    assert main(["export", "--rebuild", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(run) in err[0] and "no Keras model" in err[0], err
