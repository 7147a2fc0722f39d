"""Audio in, emotion out: the graph form of ``functionals`` / ``lld`` / ``fusion`` equals the extraction, and a
fusion run's waveform SavedModel, ``waveform.tflite`` and Predictor answer alike, without feature code."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ser_keras.features.registry import FeatureConfig, compute
from ser_keras.runs.folders import load_typicality
from ser_keras.signal.audio import load

from conftest import RAVDESS_DIR

#: A graph column may differ from the extraction's by this fraction of the column's range over the clips.
COLUMN_TOLERANCE = 1e-4


def _demo_clips(demo_root: Path, n: int) -> list[Path]:
    return sorted(demo_root.glob("Actor_*/*.wav"))[:: 352 // n][:n]


def _ravdess_clips(n: int) -> list[Path]:
    return sorted(RAVDESS_DIR.glob("Actor_*/*.wav"))[:: 960 // n][:n]


def _graph_features(waveforms: list[np.ndarray], config: FeatureConfig) -> np.ndarray:
    import tensorflow as tf

    from ser_keras.features.utterance_graph import kind_features

    one = tf.function(lambda y: kind_features(y, config), input_signature=[tf.TensorSpec([None], tf.float32)])
    return np.stack([one(tf.constant(y))[0].numpy() for y in waveforms])


def assert_columns_equal(graph: np.ndarray, extracted: np.ndarray, sample: np.ndarray, names: list[str]) -> None:
    """Every column of ``graph`` within `COLUMN_TOLERANCE` of ``extracted``, relative to the column's range over
    ``sample`` (the extraction of a wider sample of the same corpus: the range a model's scaler sees)."""
    graph, extracted, sample = (a.reshape(len(a), -1) for a in (graph, extracted, sample))
    span = np.maximum(sample.max(axis=0) - sample.min(axis=0), 1e-3)  # a constant column: 1e-7 absolute
    error = (np.abs(graph - extracted) / span).max(axis=0)
    worst = np.argsort(error)[::-1][:3]
    assert error.max() <= COLUMN_TOLERANCE, [(names[j], float(error[j])) for j in worst]


def _check_kind(kind: str, clips: list[Path], **options) -> None:
    """The graph form of every third clip against the extraction, ranges over all of ``clips``."""
    config = FeatureConfig.for_kind(kind, **options)
    waveforms = [load(path, sr=config.sr) for path in clips]
    extracted = compute(waveforms, config=config)
    names = config.feature_names()
    if kind == "lld":
        names = [f"frame{t}_{name}" for t in range(config.sequence_frames) for name in names]
    graph = _graph_features(waveforms[::3], config)
    assert_columns_equal(graph, extracted[::3], extracted, names)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["functionals", "lld", "fusion"])
def test_graph_form_equals_the_extraction_on_demo_clips(kind, demo_root):
    _check_kind(kind, _demo_clips(demo_root, 72), **({"sequence_frames": 64} if kind != "functionals" else {}))


@pytest.mark.slow
@pytest.mark.shared_data
@pytest.mark.parametrize("kind", ["functionals", "lld", "fusion"])
def test_graph_form_equals_the_extraction_on_real_speech(kind):
    _check_kind(kind, _ravdess_clips(72))


def test_graph_form_of_edge_lengths_is_finite_and_names_too_little_sound():
    """The shortest clip the models take, one of fewer than nine frames after trimming, and a blip whose sound is
    under 0.1 s: finite features, and ``sound_seconds`` says how much sound there was."""
    import tensorflow as tf

    from ser_keras.features.utterance_graph import kind_features

    config = FeatureConfig.for_kind("functionals")
    rng = np.random.default_rng(0)
    t = np.arange(int(0.25 * config.sr)) / config.sr
    voice = (0.3 * np.sin(2 * np.pi * 180 * t) + 0.01 * rng.normal(size=t.size)).astype(np.float32)
    blip = np.concatenate([np.zeros(4000), voice[:300], np.zeros(4000)]).astype(np.float32)
    x, seconds = kind_features(tf.constant(voice), config)
    assert np.isfinite(x.numpy()).all() and float(seconds) == pytest.approx(0.25, abs=0.02)
    extracted = compute([voice], config=config)[0]
    assert (np.abs(x.numpy() - extracted) <= 1e-3 * (1 + np.abs(extracted))).all()
    x, seconds = kind_features(tf.constant(blip), config)
    assert np.isfinite(x.numpy()).all() and float(seconds) < 0.1


# --- a fusion run, exported ----------------------------------------------------------------------------


def _feature_path_probabilities(run: Path, waveforms: list[np.ndarray]) -> np.ndarray:
    """Probabilities by the NumPy extraction and the run's Keras model: the path training scored."""
    from ser_keras.runs.folders import load_run

    sidecar, model = load_run(run)
    X = compute(waveforms, config=FeatureConfig.from_dict(sidecar["features"]))
    return np.asarray(model.predict(X, verbose=0))


@pytest.mark.slow
def test_waveform_savedmodel_litert_and_predictor_equal_the_feature_path(fusion_run, demo_root):
    import tensorflow as tf

    from ser_keras.runs.litert import WaveformModel
    from ser_keras.serving.predict import Predictor

    sidecar = json.loads((fusion_run / "run.json").read_text())
    clips = _demo_clips(demo_root, 6) + (_ravdess_clips(3) if RAVDESS_DIR.is_dir() else [])
    waveforms = [load(path, sr=sidecar["features"]["sr"]) for path in clips]
    expected = _feature_path_probabilities(fusion_run, waveforms)

    serving = tf.saved_model.load(str(fusion_run / "saved_model")).signatures["serving_default"]
    lite = WaveformModel(fusion_run / "waveform.tflite")
    predictor = Predictor.from_run(fusion_run)
    assert predictor.models["mixed"].waveform_model is not None
    config = FeatureConfig.from_dict(sidecar["features"])
    distances = load_typicality(fusion_run, config).distance(compute(waveforms, config=config))
    for y, want, path, distance in zip(waveforms, expected, clips, distances):
        served = serving(waveform=tf.constant(y[None]))
        np.testing.assert_allclose(served["probabilities"].numpy()[0], want, atol=1e-4, err_msg=str(path))
        assert served["label"].numpy()[0].decode() == sidecar["labels"][int(np.argmax(want))]
        np.testing.assert_allclose(lite(y)["probabilities"], want, atol=1e-4, err_msg=str(path))
        assert lite(y)["distance"] == pytest.approx(distance, rel=1e-4)  # the graph's typicality is the NumPy one
        answer = predictor.predict_file(path)
        assert answer["distance"] == pytest.approx(distance, rel=1e-3)
        np.testing.assert_allclose([answer["probabilities"][label] for label in sidecar["labels"]], want, atol=1e-4)


@pytest.mark.slow
def test_waveform_litert_file_carries_its_contract_and_refuses_too_little_sound(fusion_run, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    from ser_keras.errors import ParameterError
    from ser_keras.serving.predict import Predictor

    sidecar = json.loads((fusion_run / "run.json").read_text())
    runner = Interpreter(model_path=str(fusion_run / "waveform.tflite")).get_signature_runner("serve_padded")
    t = np.arange(16000) / 16000
    padded = np.zeros((1, 30 * 16000), np.float32)  # a fixed input: every runtime takes it, LiteRT.js included
    padded[0, :16000] = 0.3 * np.sin(2 * np.pi * 200 * t)
    out = runner(waveform=padded, samples=np.array([16000], np.int32))
    assert {name: value.dtype for name, value in out.items()} == {
        "probabilities": np.float32,
        "label_index": np.int32,
        "sound_seconds": np.float32,
        "distance": np.float32,
        "contract": np.uint8,
    }  # what every LiteRT runtime reads: LiteRT.js has no string tensors
    contract = json.loads(bytes(out["contract"]).decode())
    assert contract["labels"] == sidecar["labels"] and contract["sample_rate"] == 16000
    assert contract["input_range"] == [-1.0, 1.0] and contract["seconds_range"] == [0.25, 30.0]
    assert contract["signature"] == "serve_padded" and contract["min_sound_seconds"] == 0.1
    assert contract["max_distance"] == sidecar["calibration"]["max_distance"] > 0
    assert contract["inputs"] == {"waveform": ["float32", [1, 480000]], "samples": ["int32", [1]]}
    assert out["probabilities"].shape == (1, 3) and out["label_index"][0] == np.argmax(out["probabilities"][0])

    blip = np.zeros(16000, np.float32)
    blip[8000:8300] = 0.3 * np.sin(2 * np.pi * 200 * t[:300])
    path = tmp_path / "blip.wav"
    sf.write(path, blip, 16000, subtype="FLOAT")
    with pytest.raises(ParameterError, match=r"too short for fusion \(0\.0\d\d s after trimming silence\)"):
        Predictor.from_run(fusion_run).predict_file(path)


@pytest.mark.slow
def test_export_writes_a_conformance_kit_a_port_can_check_against(fusion_run):
    from ser_keras.serving.conformance import check_conformance

    kit = fusion_run / "conformance"
    manifest = json.loads((kit / "expected.json").read_text())
    assert manifest["contract"]["sample_rate"] == 16000 and manifest["contract"]["inputs"]["waveform"][0] == "float32"
    names = {entry["file"] for entry in manifest["clips"]}
    assert {"voice_breathy.wav", "voice_high.wav", "voice_quiet.wav", "short.wav"} <= names and len(names) == 10
    assert manifest["tolerance"] == 1e-4
    for entry in manifest["clips"]:
        y, sr = sf.read(kit / entry["file"], dtype="float32")
        assert sr == 16000 and len(y) == entry["samples"] and np.abs(y).max() < 1.0
        assert abs(sum(entry["probabilities"]) - 1.0) < 1e-4
    assert check_conformance(fusion_run) <= 1e-6  # the file answers its own kit
    assert check_conformance(fusion_run, reference_kernels=True) <= manifest["tolerance"]  # on both kernel sets
    assert {entry["label"] for entry in manifest["clips"]} <= set(manifest["contract"]["labels"])


def test_export_rebuild_writes_the_savedmodel_again_and_refuses_another_versions_run(fusion_run, tmp_path, capsys):
    """``export --rebuild`` (the fixture's export): the SavedModel is made after the model, with nothing left beside
    it; the waveform file it gives equals the feature path (the tests above and ``test_runtimes``). A run trained
    by another version is refused in one line, its files untouched."""
    import shutil

    from ser_keras.cli.main import main

    saved = fusion_run / "saved_model" / "saved_model.pb"
    assert saved.stat().st_mtime_ns > (fusion_run / "model.keras").stat().st_mtime_ns
    assert [p.name for p in fusion_run.iterdir() if p.name.startswith(".")] == []  # no staging folder left
    run = tmp_path / fusion_run.name
    shutil.copytree(fusion_run, run)
    sidecar = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**sidecar, "package_version": "0.1.0"}))
    before = sorted((p.name, p.stat().st_mtime_ns) for p in run.rglob("*"))
    assert main(["export", "--rebuild", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(run) in err[0] and "trained by ser-keras 0.1.0" in err[0], err
    assert sorted((p.name, p.stat().st_mtime_ns) for p in run.rglob("*")) == before


@pytest.mark.slow
def test_predicting_with_an_exported_run_imports_no_feature_code_and_no_tensorflow(fusion_run, demo_root):
    clip = _demo_clips(demo_root, 1)[0]
    script = (
        "import sys; from ser_keras.serving.predict import Predictor; "
        f"r = Predictor.from_run({str(fusion_run)!r}).predict_file({str(clip)!r}); "
        "print(r['emotion'], *sorted(m for m in ('librosa', 'scipy', 'numba', 'sklearn', 'tensorflow', 'keras') "
        "if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    sidecar = json.loads((fusion_run / "run.json").read_text())
    assert done.stdout.split()[0] in sidecar["labels"] and done.stdout.split()[1:] == []


@pytest.mark.slow
def test_readme_serving_example_runs_on_an_exported_fusion_run(fusion_run, tmp_path, monkeypatch, capsys):
    import re
    import shutil

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Serve it in an app", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    shutil.copytree(fusion_run, tmp_path / "models" / fusion_run.name)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    lite_line, saved_line = capsys.readouterr().out.strip().splitlines()[-2:]
    labels = json.loads((fusion_run / "run.json").read_text())["labels"]
    assert lite_line.split()[0] in labels and saved_line == lite_line.split()[0]


# --- the graph form's building blocks -------------------------------------------------------------------


@pytest.mark.parametrize("n_samples, fft_length", [(1024, 2048), (1024, 1024), (1000, 2048), (400, 512), (400, 800)])
def test_four_step_dft_equals_numpy_rfft(n_samples, fft_length):
    import tensorflow as tf

    from ser_keras.features.utterance_graph import real_dft

    x = np.random.default_rng(n_samples).normal(size=(6, n_samples)).astype(np.float32)
    real, imaginary = (part.numpy() for part in real_dft(tf.constant(x), fft_length))
    want = np.fft.rfft(x.astype(np.float64), n=fft_length)
    assert real.shape == imaginary.shape == want.shape
    scale = np.abs(want).max()
    assert np.abs(real - want.real).max() <= 1e-6 * scale and np.abs(imaginary - want.imag).max() <= 1e-6 * scale


def test_doubled_spectra_give_the_bare_and_the_hann_windowed_power():
    """The windowed spectrum from the bare one by three taps equals an FFT of the windowed frames (speech-like
    frames: a decaying harmonic tone in noise), relative to each frame's peak power."""
    import tensorflow as tf

    from ser_keras.features.utterance_graph import doubled_spectra
    from ser_keras.signal.spectral import hann_window

    rng = np.random.default_rng(1)
    n = np.arange(1024)
    frames = np.stack(
        [
            sum(np.sin(2 * np.pi * f * h * n / 16000) / h for h in range(1, 12)) + 0.01 * rng.normal(size=1024)
            for f in (110, 190, 240)
        ]
    ).astype(np.float32)
    bare, windowed = (p.numpy() for p in doubled_spectra(tf.constant(frames)))
    want_bare = np.abs(np.fft.rfft(frames.astype(np.float64), n=2048)) ** 2
    want_windowed = np.abs(np.fft.rfft(frames * hann_window(1024).astype(np.float64), n=2048)) ** 2
    for got, want in ((bare, want_bare), (windowed, want_windowed)):
        assert (np.abs(got - want).max(axis=1) <= 1e-5 * want.max(axis=1)).all()


def test_framing_and_trimming_energies_from_hop_blocks_equal_tf_signal_frame():
    import tensorflow as tf

    from ser_keras.features.utterance_graph import frame, frame_mean_squares

    y = np.random.default_rng(2).normal(size=5000).astype(np.float32)
    for frame_length, hop in ((1024, 256), (1000, 300)):  # a hop that divides the frame, and one that does not
        want = tf.signal.frame(y, frame_length, hop).numpy()
        np.testing.assert_array_equal(frame(tf.constant(y), frame_length, hop).numpy(), want)
        np.testing.assert_allclose(
            frame_mean_squares(tf.constant(y), frame_length, hop).numpy(), (want**2).mean(axis=1), rtol=1e-5
        )


def test_missing_voice_values_take_their_column_median_as_in_numpy():
    import tensorflow as tf

    from ser_keras.features import voice

    rng = np.random.default_rng(3)
    for t in (1, 2, 7, 40):
        rows = rng.normal(size=(t, 6))
        rows[rng.random((t, 6)) < 0.4] = np.nan
        rows[:, 2] = np.nan  # a column with nothing present: 0
        missing = np.isnan(rows)
        got = voice.fill_missing_graph(tf.constant(np.where(missing, 1e3, rows), tf.float32), tf.constant(missing))
        got = got.numpy()
        np.testing.assert_allclose(got, voice._fill_missing(rows.T).T, atol=1e-6)


def test_lpc_autocorrelation_of_the_graph_is_float64s_within_rounding_on_a_voice_tilted_to_low_frequencies():
    """Voiced speech is dominated by its low frequencies, so neighbouring samples are close: the graph's
    pre-emphasis must not subtract rounded products ten times its result's size (``x[m] - 0.97 x[m - 1]`` was
    off by 4e-7 of ``r(0)`` in the median frame here), or LPC's formants move."""
    import scipy.fft
    import tensorflow as tf

    from ser_keras.features import voice
    from ser_keras.signal.spectral import frame_signal, hann_window

    sr, n_fft, order = 16000, 1024, 18
    rng = np.random.default_rng(0)
    phase = 2 * np.pi * np.cumsum(110 * (1 + 0.05 * np.sin(2 * np.pi * 3 * np.arange(sr) / sr))) / sr
    y = 0.3 * sum(np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k**2 for k in range(1, 60))  # -12 dB/octave
    frames = frame_signal(y.astype(np.float32)[None], n_fft=n_fft, hop_length=256, pad_mode="constant")[0]
    window = hann_window(n_fft).astype(np.float64)
    freqs = np.linspace(0.0, sr / 2, n_fft + 1)
    emphasis = np.abs(1.0 - voice.PRE_EMPHASIS * np.exp(-1j * np.pi * freqs / (sr / 2))) ** 2
    power = np.abs(scipy.fft.rfft(frames * window, n=2 * n_fft, axis=-1)) ** 2
    want = scipy.fft.irfft(power * emphasis, axis=-1)[:, : order + 1]  # the definition: the NumPy path's
    got = voice.lag_products_graph(voice.pre_emphasised_graph(tf.constant(frames), window), order=order).numpy()
    error = np.abs(got - want) / want[:, :1]
    assert np.median(error) < 1e-7 and error.max() < 4e-7, (np.median(error), error.max())


def test_contour_means_equal_the_extraction():
    import tensorflow as tf

    from ser_keras.features import summaries

    rng = np.random.default_rng(4)
    for t in (5, 9, 120):
        log_mel, mfcc = rng.normal(size=(t, 8)), rng.normal(size=(t, 3))
        log_rms, semitones = rng.normal(size=t), rng.normal(size=t)
        voiced = rng.random(t) < 0.5
        voiced[: t // 4 + 1] = False  # a part without a voiced frame takes the fallback pitch
        want = summaries.contour(log_mel.T, mfcc.T, log_rms, semitones, voiced, fallback_f0=3.5)
        got = summaries.contour_graph(
            *(tf.constant(a, tf.float32) for a in (log_mel, mfcc, log_rms, semitones)),
            tf.constant(voiced),
            fallback_f0=tf.constant(3.5),
        ).numpy()
        np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.slow
@pytest.mark.shared_data
def test_a_speaker_runs_waveform_litert_file_equals_the_predictor_on_a_real_speaker(tmp_path, demo_functionals):
    """A ``--normalize speaker`` run of an utterance kind: its ``waveform.tflite`` (``serve_speaker``: one
    speaker's clips in one batch, standardised together) answers as `Predictor.predict_speaker` on one RAVDESS
    actor's clips."""
    from ser_keras.runs.litert import signature_runner
    from ser_keras.serving.export import export_litert
    from ser_keras.serving.predict import Predictor
    from ser_keras.training.train import TrainOptions, train

    run = train(
        demo_functionals,
        out_dir=tmp_path,
        options=TrainOptions(model="dnn", normalize="speaker", epochs=2),
        progress=False,
    )
    export_litert(run)
    predictor = Predictor.from_run(run)
    waveforms = [load(path, sr=predictor.sr) for path in sorted((RAVDESS_DIR / "Actor_05").glob("*.wav"))[::6][:10]]
    n = min(len(w) for w in waveforms)  # one batch: the clips cut to one length
    waveforms = [w[:n] for w in waveforms]
    expected = predictor.predict_speaker(waveforms, sr=predictor.sr)
    want = np.array([[answer["probabilities"][label] for label in predictor.labels] for answer in expected])
    served = signature_runner(run / "waveform.tflite", "serve_speaker")(waveform=np.stack(waveforms))
    np.testing.assert_allclose(served["probabilities"], want, atol=1e-4)
    assert [label.decode() for label in served["label"]] == [answer["best_guess"] for answer in expected]
