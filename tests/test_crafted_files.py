"""LiteRT files, contracts, labels, reports and M4A files made by someone else: none crashes the process,
reads another file, fills memory or puts markup on a page; each is refused in one line naming it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

from ser_keras.errors import ParameterError, SerWarning
from ser_keras.layout import PRETRAINED_RUN
from ser_keras.runs.litert import WaveformModel

from conftest import (
    edited_model,
    exp_for_softmax,
    nan_weights,
    one_error_line,
    output_tensor,
    shipped_contract,
    shown,
    tone,
    with_contract,
    write_wav,
)

HAS_FFMPEG = shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None
needs_ffmpeg = pytest.mark.skipif(not HAS_FFMPEG, reason="needs ffmpeg and ffprobe (.ci/run installs them)")


def crafted_run(tmp_path: Path, edit) -> Path:
    """A copy of the shipped run folder whose ``waveform.tflite`` is ``edited_model(edit)``."""
    run = tmp_path / "crafted"
    shutil.copytree(PRETRAINED_RUN, run)
    (run / "waveform.tflite").write_bytes(edited_model(edit))
    return run


@pytest.fixture(scope="module")
def speech_clip(tmp_path_factory) -> Path:
    """Two seconds of a voiced-like signal at 16 kHz."""
    return write_wav(tmp_path_factory.mktemp("clip") / "clip.wav", tone(seconds=2.0, freq=180.0))


# --- a LiteRT file is checked before an interpreter reads it ----------------------------------------


def test_a_signature_naming_a_missing_subgraph_is_one_line_not_a_crash(tmp_path, speech_clip):
    """The interpreter would read past its subgraph table (a segfault): run in a child to see its exit."""

    def past_the_end(model, subgraph, signature):
        signature.subgraphIndex = len(model.subgraphs) + 4

    run = crafted_run(tmp_path, past_the_end)
    done = subprocess.run(
        [sys.executable, "-m", "ser_keras", "predict", str(run), str(speech_clip)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, (done.returncode, done.stderr[-500:])
    (line,) = [line for line in done.stderr.splitlines() if "error" in line]
    assert "waveform.tflite: damaged LiteRT model (signature 0 names subgraph 7 of 3)" in line


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda m, g, s: setattr(s.outputs[0], "tensorIndex", len(g.tensors) + 9), "signature 0 names tensor"),
        (lambda m, g, s: g.operators[5].inputs.__setitem__(0, len(g.tensors)), "operator 5 input names tensor"),
        (lambda m, g, s: setattr(g.operators[3], "opcodeIndex", 10_000), "operator 3 names operator code 10000"),
        (lambda m, g, s: setattr(g.tensors[2], "buffer", 10**6), "tensor 2 names buffer 1000000"),
        (lambda m, g, s: g.outputs.__setitem__(0, 2**31 - 1), "subgraph 0 output names tensor"),
    ],
)
def test_every_index_a_litert_file_holds_is_checked_against_its_table(tmp_path, edit, words):
    path = tmp_path / "waveform.tflite"
    path.write_bytes(edited_model(edit))
    with pytest.raises(ParameterError, match="damaged LiteRT model") as caught:
        WaveformModel(path)
    assert words in str(caught.value) and str(path) in str(caught.value)


def test_random_indices_and_bytes_never_crash_the_loader(tmp_path):
    """Structure-aware fuzzing in a child process: a crash (a signal) fails; loading or one line passes."""
    script = textwrap.dedent(
        f"""
        import random, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_crafted_files import edited_model
        from ser_keras.errors import ParameterError
        from ser_keras.runs.litert import WaveformModel

        rng = random.Random(7)
        path = {str(tmp_path / "fuzzed.tflite")!r}
        outcomes = {{"loaded": 0, "refused": 0}}
        for trial in range(24):
            def edit(model, g, s, kind=trial % 6):
                far = rng.choice([1, 3, len(g.tensors) - 1, len(g.tensors), len(g.tensors) + 1, 2**31 - 1])
                if kind == 0:
                    s.subgraphIndex = rng.choice([1, 2, 3, 9])
                elif kind == 1:
                    rng.choice(s.inputs + s.outputs).tensorIndex = far
                elif kind == 2:
                    op = rng.choice(g.operators)
                    ends = op.inputs if rng.random() < 0.5 else op.outputs
                    ends[rng.randrange(len(ends))] = rng.choice([-2, far])
                elif kind == 3:
                    rng.choice(g.operators).opcodeIndex = rng.choice([len(model.operatorCodes), far])
                elif kind == 4:
                    rng.choice(g.tensors).buffer = rng.choice([len(model.buffers), far])
                else:
                    g.inputs[rng.randrange(len(g.inputs))] = rng.choice([-3, far])
            data = bytearray(edited_model(edit))
            if trial % 4 == 3:  # and a few bytes of the tables flipped
                for _ in range(8):
                    data[rng.randrange(8, 4096)] ^= 1 << rng.randrange(8)
            open(path, "wb").write(bytes(data))
            try:
                WaveformModel(path)
                outcomes["loaded"] += 1
            except ParameterError as error:
                assert str(error).startswith(path), error
                outcomes["refused"] += 1
        print(outcomes)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (done.returncode, done.stderr[-800:])
    outcomes = eval(done.stdout.strip().splitlines()[-1])  # noqa: S307 - our own child's dict of two counts
    assert outcomes["refused"] >= 12 and sum(outcomes.values()) == 24


# --- the contract is data: checked field by field ------------------------------------------------------

GOOD = shipped_contract()


def _contract(**changes) -> bytes:
    contract = {**GOOD, **changes}
    for key in [k for k, v in changes.items() if v is ...]:
        del contract[key]
    return json.dumps(contract).encode()


@pytest.mark.parametrize(
    "text, words",
    [
        (b"[1, 2, 3]", "not a JSON object"),
        (_contract(labels=...), "no labels"),
        (_contract(sample_rate=...), "no sample_rate"),
        (_contract(sample_rate="abc"), "sample_rate: unexpected value 'abc'"),
        (_contract(sample_rate=None), "sample_rate: unexpected value None"),
        (_contract(sample_rate=1e999).replace(b"Infinity", b"1e999"), "sample_rate: unexpected value inf"),
        (_contract(sample_rate=float("nan")), "holds NaN, not a number"),
        (_contract(seconds_range=[1.0]), "seconds_range: unexpected value [1.0]"),
        (_contract(seconds_range="0.5-30"), "seconds_range: unexpected value '0.5-30'"),
        (_contract(seconds_range=[30.0, 0.5]), "seconds_range: unexpected value [30.0, 0.5]"),
        (_contract(labels=["<img src=x onerror=alert(1)>", "sad"]), "labels: unexpected value"),
        (_contract(labels=["![b](http://host/beacon.png)"]), "labels: unexpected value"),
        (_contract(min_confidence=7), "min_confidence: unexpected value 7"),
        (b"\xff\xfe not UTF-8", "damaged LiteRT model"),
        (b'{"labels": ["sad"], "pad": "' + b"x" * 70_000 + b'"}', "contract over 65536 bytes"),
    ],
)
def test_a_malformed_contract_is_one_line_naming_the_file(tmp_path, text, words):
    path = tmp_path / "waveform.tflite"
    path.write_bytes(edited_model(with_contract(text)))
    with pytest.raises(ParameterError) as caught:
        WaveformModel(path)
    assert str(caught.value).startswith(str(path)) and words in str(caught.value), caught.value


def test_a_crafted_contract_through_the_command_line_is_exit_2(tmp_path, speech_clip, capsys):
    from ser_keras.cli.main import main

    run = crafted_run(tmp_path, with_contract(_contract(sample_rate="abc")))
    assert main(["predict", str(run), str(speech_clip)]) == 2
    one_error_line(capsys, "waveform.tflite: damaged contract (sample_rate: unexpected value 'abc')")


def test_a_one_dimensional_waveform_input_is_refused(tmp_path):
    def flatten(model, subgraph, signature):
        (index,) = [i.tensorIndex for i in signature.inputs if i.name == b"waveform"]
        tensor = subgraph.tensors[index]
        tensor.shape = np.array([int(np.prod(tensor.shape))], np.int32)
        tensor.shapeSignature = None

    path = tmp_path / "waveform.tflite"
    path.write_bytes(edited_model(flatten))
    with pytest.raises(ParameterError, match=r"damaged LiteRT model"):
        WaveformModel(path)


# --- a model's outputs are checked once at load and on every clip --------------------------------------


def _redirect(name: str, pick):
    """An edit that points the signature's ``name`` output at another tensor, chosen by ``pick``."""

    def edit(model, subgraph, signature):
        end = next(o for o in signature.outputs if o.name == name.encode())
        end.tensorIndex = pick(model, subgraph, signature)

    return edit


@pytest.mark.parametrize(
    "edit, words",
    [
        (_redirect("probabilities", lambda m, g, s: output_tensor(s, "sound_seconds")), "gives 1 values a clip for 8"),
        (exp_for_softmax, "outputs are not probabilities"),
        (nan_weights, "non-finite probabilities"),
    ],
)
def test_outputs_that_are_not_probabilities_are_refused_at_load(tmp_path, edit, words):
    path = tmp_path / "waveform.tflite"
    path.write_bytes(edited_model(edit))
    with pytest.raises(ParameterError, match="waveform.tflite: ") as caught:
        WaveformModel(path)
    assert words in str(caught.value)


# --- labels and reports never reach a page as markup ---------------------------------------------------


@pytest.mark.parametrize("label", ["<img src=x onerror=alert(1)>", "![b](http://host/beacon.png)", "[site](http://x)"])
def test_a_run_json_label_that_is_no_emotion_is_refused(tmp_path, speech_clip, capsys, label):
    from ser_keras.cli.main import main

    run = tmp_path / "run"
    shutil.copytree(PRETRAINED_RUN, run)
    sidecar = json.loads((run / "run.json").read_text())
    sidecar["labels"][0] = label
    (run / "run.json").write_text(json.dumps(sidecar))
    assert main(["predict", str(run), str(speech_clip)]) == 2
    one_error_line(capsys, "run.json: labels: expected names among neutral, calm")


def test_page_text_is_escaped_so_markdown_renders_it_as_written():
    from markdown_it import MarkdownIt

    from ser_keras.serving.app import plain

    hostile = "![b](http://host/beacon.png) [link](http://x) <img src=x> :red[alarm] `code` *bold* & http://a.b"
    html = MarkdownIt("commonmark").render(plain(hostile))
    assert "<img" not in html and "<a " not in html and "<code>" not in html and "<em>" not in html
    assert "[b](http://host/beacon.png)" in html.replace("&quot;", '"')  # shown, as text
    assert plain("0.627 (chance 0.125)") != "0.627 (chance 0.125)"  # every dot and bracket escaped


def test_a_report_with_wrong_types_still_shows_the_page(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    import ser_keras.serving.app

    run = tmp_path / "models" / "run"
    shutil.copytree(PRETRAINED_RUN, run)
    report = json.loads((run / "report.json").read_text())
    report["unweighted_accuracy"] = "n/a"
    (run / "report.json").write_text(json.dumps(report))
    monkeypatch.setenv("SER_KERAS_MODELS", str(run.parent))
    monkeypatch.setenv("SER_KERAS_RUN", str(run))
    app = AppTest.from_file(ser_keras.serving.app.__file__, default_timeout=120)
    app.run()
    assert not app.exception
    assert any("damaged" in shown(c) and "unweighted" in shown(c) for c in app.caption)
    assert app.get("file_uploader")  # the uploader is there: the model still scores


def test_a_sample_rate_that_is_no_rate_is_one_line():
    from ser_keras.serving.predict import Predictor

    predictor = Predictor.pretrained()
    for sr in (0, -16000, float("nan"), 16000.5, "16k"):
        with pytest.raises(ParameterError, match="sample rate must be"):
            predictor.predict(tone(seconds=1.0), sr=sr)


# --- ffmpeg decodes containers it was told, in blocks, and nothing else --------------------------------


def _m4a(tmp_path: Path, source: Path, name: str = "clip.m4a", *options: str) -> Path:
    out = tmp_path / name
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(source), "-c:a", "aac", *options, str(out)], check=True)
    return out


@needs_ffmpeg
@pytest.mark.parametrize(
    "text",
    [
        "#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXTINF:3,\n{target}\n#EXT-X-ENDLIST\n",
        "ffconcat version 1.0\n" + "file '{target}'\n" * 50,
        "file '{target}'\n",
    ],
)
def test_a_playlist_or_file_list_named_m4a_is_refused_before_ffmpeg_reads_it(tmp_path, speech_clip, text, capsys):
    from ser_keras.cli.main import main

    target = _m4a(tmp_path, speech_clip, "target.m4a")
    crafted = tmp_path / "x.m4a"
    crafted.write_text(text.format(target=target))
    assert main(["predict", str(crafted)]) == 2  # no file could be scored: its row says why
    said = capsys.readouterr()
    assert "x.m4a: not an audio container ffmpeg is allowed to read (a playlist or list of files" in said.out
    assert "1 of 1 file(s) could not be scored" in said.err


@needs_ffmpeg
def test_a_video_without_audio_says_so(tmp_path):
    from ser_keras.signal.audio import load

    video = tmp_path / "silent.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=black:s=32x32:d=1", "-c:v", "mpeg4", str(video)],
        check=True,
    )
    with pytest.raises(ParameterError, match=r"silent.mp4: no audio stream$"):
        load(video, sr=16000)


@needs_ffmpeg
def test_a_half_decodable_m4a_is_scored_with_a_warning(tmp_path, speech_clip):
    from ser_keras.signal.audio import load

    whole = _m4a(tmp_path, speech_clip, "whole.m4a", "-movflags", "faststart")
    half = tmp_path / "half.m4a"
    half.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * 0.7)])
    with pytest.warns(SerWarning, match="half.m4a: decoded with errors"):
        y = load(half, sr=16000)
    assert 0.5 * 16000 < len(y) < 2.0 * 16000


@needs_ffmpeg
def test_ffmpeg_output_streams_in_blocks_and_long_files_are_refused_before_decoding(tmp_path, monkeypatch):
    import ser_keras.signal.audio as audio

    source = write_wav(tmp_path / "long.wav", tone(seconds=5.0, freq=200.0))
    clip = _m4a(tmp_path, source)
    assert 4.9 < audio.duration(clip) < 5.2
    blocks = list(audio.stream(clip, sr=16000, block_seconds=1.0))
    assert len(blocks) >= 5 and max(len(b) for b in blocks) <= 16000
    assert np.allclose(np.concatenate(blocks), audio.load(clip, sr=16000), atol=1e-6)
    monkeypatch.setattr(audio, "MAX_DECODE_SECONDS", 2.0)
    with pytest.raises(ParameterError, match=r"long.m4a|clip.m4a: 0.0 h of audio; at most"):
        audio.load(clip, sr=16000)


def test_frame_energies_equal_librosas_without_its_copies():
    import librosa

    from ser_keras.serving.timeline import frame_rms

    rng = np.random.default_rng(0)
    for n in (1, 511, 512, 2047, 5000, 70_001):
        y = rng.normal(0, 0.1, n).astype(np.float32)
        expected = librosa.feature.rms(y=y, frame_length=2048, hop_length=512)[0]
        np.testing.assert_allclose(frame_rms(y, frame_length=2048, hop_length=512, block=4096), expected, atol=1e-6)


def test_non_finite_probabilities_from_any_model_are_an_error_not_an_answer():
    from ser_keras.serving.predict import Predictor

    predictor = Predictor.pretrained()
    for bad in (np.full(8, np.nan), np.r_[np.inf, np.zeros(7)]):
        with pytest.raises(ParameterError, match="the model gave non-finite probabilities"):
            predictor._result(bad, "mixed", 1)


def test_random_contracts_are_accepted_or_one_line_never_an_exception():
    """Contract fuzzing: each field given values of every JSON type and edge, checked without building a model."""
    from ser_keras.runs.litert import check_contract

    rng = np.random.default_rng(11)
    values = [
        None,
        True,
        0,
        -1,
        3,
        16000,
        1e308,
        -0.0,
        0.5,
        "",
        "16000",
        "sad",
        [],
        [0.5],
        [0.5, 30.0],
        [30, 0.5],
        ["sad", "sad"],
        ["neutral", "angry"],
        ["<b>x</b>"],
        {},
        {"a": 1},
        [[1, 2]],
        list(range(20)),
    ]
    path = Path("fuzzed/waveform.tflite")
    for _ in range(400):
        contract = dict(shipped_contract())
        for field in rng.choice(list(contract), size=int(rng.integers(1, 4)), replace=False):
            if rng.random() < 0.2:
                del contract[field]
            else:
                contract[field] = values[int(rng.integers(len(values)))]
        try:
            checked = check_contract(contract, source=path)
        except ParameterError as error:
            assert str(error).startswith(str(path)) and "\n" not in str(error)
            continue
        assert set(checked["labels"]) <= set(shipped_contract()["labels"]) | {"boredom"}
        assert 1000 <= checked["sample_rate"] <= 384_000


@needs_ffmpeg
def test_random_bytes_named_like_ffmpeg_formats_are_read_or_refused_in_one_line(tmp_path, speech_clip):
    """ffmpeg input fuzzing: real containers with flipped bytes, truncated, or garbage behind a real header."""
    from ser_keras.signal.audio import load

    rng = np.random.default_rng(5)
    real = _m4a(tmp_path, speech_clip, "real.m4a", "-movflags", "faststart").read_bytes()
    heads = [real[:32], b"\x1a\x45\xdf\xa3" + bytes(12), b"#!AMR\n", b"\xff\xf1\x50\x80", b"ID3\x04\x00", b"\x00" * 16]
    for trial in range(30):
        kind = trial % 3
        if kind == 0:
            data = bytearray(real)
            for _ in range(20):
                data[int(rng.integers(len(data)))] ^= 1 << int(rng.integers(8))
        elif kind == 1:
            data = real[: int(rng.integers(16, len(real)))]
        else:
            data = heads[int(rng.integers(len(heads)))] + rng.bytes(int(rng.integers(0, 4000)))
        path = tmp_path / f"fuzzed{trial}.{('m4a', 'webm', 'aac')[trial % 3]}"
        path.write_bytes(bytes(data))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SerWarning)
                y = load(path, sr=16000)
        except ParameterError as error:
            assert str(error).startswith(str(path)) and "\n" not in str(error), error
            continue
        assert y.dtype == np.float32 and np.isfinite(y).all()
