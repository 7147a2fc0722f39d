import shutil
import struct
import warnings

import librosa
import numpy as np
import pytest
import soundfile as sf

from ser_keras import ParameterError, SerWarning
from ser_keras.signal.audio import edge_padding, fix_length, load, resample, to_mono, validate

from conftest import tone, write_wav


@pytest.mark.parametrize(
    "fmt,subtype",
    [
        ("WAV", "PCM_U8"),
        ("WAV", "PCM_16"),
        ("WAV", "PCM_24"),
        ("WAV", "PCM_32"),
        ("WAV", "FLOAT"),
        ("FLAC", "PCM_16"),
        ("OGG", "VORBIS"),
    ],
)
def test_load_reads_every_format_and_resamples(tmp_path, fmt, subtype):
    y = tone(sr=48000, seconds=0.5)
    path = tmp_path / f"x.{fmt.lower()}"
    sf.write(path, y, 48000, format=fmt, subtype=subtype)
    out = load(path, sr=16000)
    assert out.dtype == np.float32 and out.shape == (8000,)
    ref, _ = librosa.load(path, sr=16000)
    tol = 0.05 if subtype in ("PCM_U8", "VORBIS") else 1e-6
    reach = edge_padding(48000, 16000)[1]  # librosa resamples against zeros beyond the edges, load against their mean
    np.testing.assert_allclose(out[reach:-reach], ref[reach:-reach], atol=tol)


@pytest.mark.parametrize("orig_sr, target_sr", [(48000, 16000), (44100, 16000), (22050, 16000), (8000, 16000)])
def test_an_offset_resamples_to_the_same_offset_without_ringing_at_the_edges(orig_sr, target_sr):
    y = tone(sr=orig_sr, seconds=0.5) * np.float32(0.1)
    moved = resample(y + np.float32(0.01), orig_sr=orig_sr, target_sr=target_sr)
    np.testing.assert_allclose(moved - resample(y, orig_sr=orig_sr, target_sr=target_sr), 0.01, atol=1e-6)
    plain = librosa.resample(y + np.float32(0.01), orig_sr=orig_sr, target_sr=target_sr, res_type="soxr_hq")
    assert np.abs(plain[:5] - 0.01 - resample(y, orig_sr=orig_sr, target_sr=target_sr)[:5]).max() > 1e-3  # against 0


def test_load_downmixes_stereo_and_windows(tmp_path):
    left = tone(sr=16000, seconds=2.0, freq=200)
    right = tone(sr=16000, seconds=2.0, freq=300)
    path = write_wav(tmp_path / "st.wav", np.stack([left, right], axis=1), subtype="FLOAT")
    out = load(path, sr=16000, offset=0.5, duration=1.0)
    np.testing.assert_allclose(out, (left[8000:24000] + right[8000:24000]) / 2, atol=1e-6)


def test_load_skips_extra_riff_chunks(tmp_path):
    """Real RAVDESS files carry LIST/bext chunks before 'data'."""
    y = (tone(seconds=0.25) * 32767).astype("<i2")
    fmt = struct.pack("<HHIIHH", 1, 1, 16000, 32000, 2, 16)
    chunks = [b"fmt " + struct.pack("<I", len(fmt)) + fmt]
    info = b"INFOISFT" + struct.pack("<I", 6) + b"test\x00\x00"
    chunks.append(b"LIST" + struct.pack("<I", len(info)) + info)
    bext = b"\x00" * 602
    chunks.append(b"bext" + struct.pack("<I", len(bext)) + bext)
    chunks.append(b"data" + struct.pack("<I", y.nbytes) + y.tobytes())
    body = b"WAVE" + b"".join(chunks)
    path = tmp_path / "chunks.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    out = load(path, sr=16000)
    np.testing.assert_allclose(out, y / 32768.0, atol=1e-7)


def test_bad_inputs_name_the_file(tmp_path):
    missing = tmp_path / "missing.wav"
    with pytest.raises(ParameterError, match="missing.wav: not found"):
        load(missing, sr=16000)
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio")
    with pytest.raises(ParameterError, match="notes.wav: cannot read audio"):
        load(text, sr=16000)
    empty = write_wav(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32))
    with pytest.raises(ParameterError, match="empty.wav: empty audio"):
        load(empty, sr=16000)
    nan = tone(seconds=0.2)
    nan[100] = np.nan
    nan_path = write_wav(tmp_path / "nan.wav", nan, subtype="FLOAT")
    with pytest.raises(ParameterError, match="nan.wav: audio holds non-finite"):
        load(nan_path, sr=16000)
    short = write_wav(tmp_path / "short.wav", tone(seconds=0.1))
    with pytest.raises(ParameterError, match="short.wav: too short"):
        load(short, sr=16000, min_duration=0.5)
    with pytest.raises(ParameterError, match="short.wav: too short"):
        load(short, sr=16000, offset=0.6)
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes(write_wav(tmp_path / "full.wav", tone()).read_bytes()[:30])
    with pytest.raises(ParameterError, match="truncated.wav"):
        load(truncated, sr=16000)


def test_silent_input_warns_but_loads(tmp_path):
    path = write_wav(tmp_path / "silent.wav", np.zeros(16000, dtype=np.float32))
    with pytest.warns(SerWarning, match="silent.wav: audio is silent"):
        out = load(path, sr=16000)
    assert out.shape == (16000,)


def test_validate_rejects_wrong_shapes():
    with pytest.raises(ParameterError, match="1-D floating-point"):
        validate(np.zeros((2, 10), dtype=np.float32), sr=16000)
    with pytest.raises(ParameterError, match="1-D floating-point"):
        validate(np.zeros(10, dtype=np.int16), sr=16000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert validate(tone(seconds=0.1), sr=16000).dtype == np.float32


def test_to_mono_averages_channels():
    y = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    np.testing.assert_array_equal(to_mono(y), [2.0, 3.0])


def test_fix_length_modes():
    y = np.arange(10, dtype=np.float32)
    np.testing.assert_array_equal(fix_length(y, size=4, mode="start"), [0, 1, 2, 3])
    np.testing.assert_array_equal(fix_length(y, size=4, mode="centre"), [3, 4, 5, 6])
    padded = fix_length(y, size=14, mode="centre")
    assert padded.shape == (14,) and padded[:2].sum() == 0 and padded[-2:].sum() == 0
    np.testing.assert_array_equal(padded[2:12], y)
    a = fix_length(y, size=4, mode="random", rng=np.random.default_rng(1))
    b = fix_length(y, size=4, mode="random", rng=np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    assert np.all(np.diff(a) == 1)
    with pytest.raises(ParameterError, match="explicit rng"):
        fix_length(y, size=4, mode="random")
    with pytest.raises(ParameterError, match="unknown length mode"):
        fix_length(y, size=4, mode="middle")


def test_a_wav_whose_header_promises_more_than_it_holds_is_read_with_a_warning(tmp_path):
    from ser_keras.signal.audio import stream

    path = tmp_path / "liar.wav"
    sf.write(path, tone(sr=16000, seconds=1.0), 16000, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    at = data.find(b"data")
    declared = 16000 * 2 * 3600 * 10  # ten hours
    data[at + 4 : at + 8] = struct.pack("<I", declared)
    data[4:8] = struct.pack("<I", declared + 36)
    path.write_bytes(data)
    with pytest.warns(SerWarning, match=r"liar.wav: its header promises 36000.0 s of audio but the file holds 1.0 s"):
        y = load(path, sr=16000)
    assert y.shape == (16000,)
    with pytest.warns(SerWarning, match="header promises 36000.0 s"):
        assert sum(len(block) for block in stream(path, sr=16000)) == 16000
    honest = tmp_path / "honest.wav"
    sf.write(honest, tone(sr=16000, seconds=1.0), 16000, subtype="PCM_16")
    with warnings.catch_warnings():
        warnings.simplefilter("error", SerWarning)
        load(honest, sr=16000)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed (.ci/run installs it)")
def test_m4a_is_read_through_ffmpeg_like_the_wav_it_was_made_from(tmp_path):
    import subprocess

    y = tone(sr=16000, seconds=2.0)
    wav = write_wav(tmp_path / "clip.wav", y)
    m4a = tmp_path / "clip.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(wav), "-c:a", "aac", "-b:a", "128k", str(m4a)], check=True)
    decoded = load(m4a, sr=16000)
    assert abs(decoded.shape[0] - y.shape[0]) < 0.1 * 16000  # AAC pads a frame or two
    rms = lambda x: float(np.sqrt(np.mean(np.square(x))))  # noqa: E731
    assert rms(decoded) == pytest.approx(rms(y), rel=0.1)
    spectrum = np.abs(np.fft.rfft(decoded))
    assert np.fft.rfftfreq(decoded.shape[0], 1 / 16000)[spectrum.argmax()] == pytest.approx(220, abs=2)
    from ser_keras.data.corpora import audio_files

    assert m4a in audio_files(tmp_path)


def test_without_ffmpeg_an_m4a_says_what_to_install(tmp_path, monkeypatch):
    from ser_keras.data.corpora import audio_files

    path = tmp_path / "voice.m4a"
    path.write_bytes(b"\x00\x00\x00\x20ftypM4A ")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ParameterError, match=r"voice.m4a: .m4a is not a format soundfile reads; install ffmpeg"):
        load(path, sr=16000)
    with pytest.warns(SerWarning, match="apt-get install ffmpeg"):
        assert audio_files(tmp_path) == []
