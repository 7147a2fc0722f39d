"""Audio input: read a file, downmix, resample, window, pad or trim, validate.

`load` and `stream` are the functions that touch the file system; everything else takes
and returns NumPy arrays with keyword-only options.  Every failure raises
`ParameterError` with the file name and the problem, so callers can report the
file and carry on with the rest.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator

import numpy as np

from ..errors import ParameterError, SerWarning

#: What folder walks pick up: formats libsndfile (>= 1.1) reads.
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif")
#: Formats libsndfile does not read (what phones record, AAC in MP4): decoded by ffmpeg where it is installed.
FFMPEG_EXTENSIONS = (".m4a", ".aac", ".wma", ".mp4", ".webm", ".amr", ".3gp")
#: The most audio ffmpeg decodes from one file (seconds): what it writes is held in memory.
MAX_DECODE_SECONDS = 3 * 3600.0
#: Longer files are read block by block into the result (`load`): memory is the output, not also the file's samples.
WHOLE_READ_SECONDS = 600.0
#: Where ffmpeg is missing, what to install.
FFMPEG_HINT = "install ffmpeg to read it (Debian/Ubuntu: apt-get install ffmpeg; macOS: brew install ffmpeg)"

#: The highest sample rate accepted (Hz).
MAX_SAMPLE_RATE = 384_000
#: Peak amplitude below which a clip counts as silent (-80 dBFS).
SILENCE_PEAK = 1e-4
#: Peak amplitude above which a float clip is warned about (+6 dBFS: resampling a clipped clip overshoots less).
OVERLOAD_PEAK = 2.0

#: Before resampling, each edge of a clip is extended by the mean of its outermost `EDGE_SECONDS` for at least
#: `EDGE_PAD_SECONDS` (longer than soxr's filter), and the extension cut off after: a clip with a DC offset then
#: does not ring at its edges, as it would against zeros (and a 40 dB trim would keep the ringing as sound).
EDGE_SECONDS = 0.01
EDGE_PAD_SECONDS = 0.05

_LENGTH_MODES = ("centre", "center", "start", "random")


def load(
    path: str | os.PathLike,
    *,
    sr: int,
    offset: float = 0.0,
    duration: float | None = None,
    min_duration: float = 0.0,
    on_silence: str = "warn",
) -> np.ndarray:
    """Read an audio file as a mono float32 waveform at ``sr``.

    Only the requested window is read from disk.  Integer and float WAV, FLAC and
    Ogg are read through soundfile (libsndfile), which skips extra RIFF chunks
    such as ``LIST`` or ``bext``; multichannel audio is averaged to mono;
    resampling uses soxr at high quality, as ``librosa.load`` does.

    Parameters
    ----------
    path : str or os.PathLike
        The audio file.
    sr : int > 0
        Target sample rate in Hz.
    offset : float >= 0
        Start of the window in seconds.
    duration : float > 0 or None
        Length of the window in seconds; ``None`` reads to the end.
    min_duration : float >= 0
        Shortest acceptable waveform after windowing, in seconds.
    on_silence : {'warn', 'error'}
        What a silent clip does (see `validate`).

    Returns
    -------
    y : np.ndarray [shape=(n,), dtype=float32]
        The waveform, ``n <= duration * sr``.

    Raises
    ------
    ParameterError
        Unreadable, non-audio, empty, non-finite or too-short input, naming ``path``.
    """
    import soundfile as sf

    if offset < 0 or (duration is not None and duration <= 0):
        raise ParameterError(f"{path}: offset must be >= 0 and duration > 0 (got {offset}, {duration})")
    check_readable(path)
    if needs_ffmpeg(path):
        y = decode_with_ffmpeg(path, sr=sr, offset=offset, duration=duration)
        return validate(y, sr=sr, min_duration=min_duration, name=path, on_silence=on_silence)
    if offset == 0 and duration is None and (seconds := _header_seconds(path)) > WHOLE_READ_SECONDS:
        y = gather(stream(path, sr=sr, block_seconds=60.0), seconds * sr)  # not the file at its own rate too
        return validate(y, sr=sr, min_duration=min_duration, name=path, on_silence=on_silence)
    try:
        with sf.SoundFile(os.fspath(path)) as handle:
            native_sr = handle.samplerate
            if handle.frames == 0:
                raise ParameterError(f"{path}: empty audio (no samples)")
            warn_if_truncated(path, frames=handle.frames, sr=native_sr)
            start = int(round(offset * native_sr))
            if start > 0:
                if start >= handle.frames:
                    raise ParameterError(f"{path}: too short: {handle.frames / native_sr:.3f} s, offset is {offset} s")
                handle.seek(start)
            frames = -1 if duration is None else int(round(duration * native_sr))
            data = handle.read(frames=frames, dtype="float32", always_2d=True)
    except ParameterError:
        raise
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as exc:
        raise ParameterError(f"{path}: cannot read audio ({_one_line(exc)})") from None
    y = to_mono(data.T)
    y = resample(y, orig_sr=native_sr, target_sr=sr)
    return validate(y, sr=sr, min_duration=min_duration, name=path, on_silence=on_silence)


def _header_seconds(path: str | os.PathLike) -> float:
    """A libsndfile file's length from its header; 0 where it has none (`load` then says why)."""
    import soundfile as sf

    try:
        return float(sf.info(os.fspath(path)).duration)
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError):
        return 0.0


def is_silent(y: np.ndarray) -> bool:
    """Whether a waveform's peak is below `SILENCE_PEAK` (-80 dBFS); an empty one is silent."""
    return peak_amplitude(y) < SILENCE_PEAK


def peak_amplitude(y: np.ndarray) -> float:
    """``max |y|`` without a copy of ``y`` (a 3-hour waveform is 0.7 GB); 0 for an empty one, NaN if it holds one."""
    if y.size == 0:
        return 0.0
    return float(max(np.max(y), -np.min(y)))


def needs_ffmpeg(path: str | os.PathLike) -> bool:
    """Whether ``path`` is in a format only ffmpeg decodes here (`FFMPEG_EXTENSIONS`)."""
    return os.fspath(path).lower().endswith(FFMPEG_EXTENSIONS)


def ffmpeg_available() -> bool:
    """Whether an ``ffmpeg`` executable is on the PATH."""
    import shutil

    return shutil.which("ffmpeg") is not None


#: What ffmpeg is told to demux, by the file's first bytes (`ffmpeg_container`); nothing else is decoded.
FFMPEG_CONTAINERS = {
    "mov": "MP4/M4A/3GP",
    "matroska": "WebM/Matroska",
    "asf": "WMA/ASF",
    "amr": "AMR",
    "aac": "AAC (ADTS)",
}


def ffmpeg_container(path: str | os.PathLike) -> str:
    """The ffmpeg demuxer of a file, decided by its first bytes (one of `FFMPEG_CONTAINERS`).

    ffmpeg left to guess follows playlists (HLS) and concat lists, which read other files
    on the machine and can repeat one clip for hours; so the container is decided here
    and given to ffmpeg with ``-f``, and anything else is refused.

    Raises
    ------
    ParameterError
        The file starts like none of `FFMPEG_CONTAINERS` (a playlist or a list of files among them).
    """
    with open(path, "rb") as handle:
        head = handle.read(16)
    if head[4:8] == b"ftyp":
        return "mov"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"
    if head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
        return "asf"
    if head.startswith(b"#!AMR"):
        return "amr"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0):
        return "aac"
    shown = "a playlist or list of files" if head.lstrip().startswith((b"#", b"ffconcat", b"file")) else "unknown"
    raise ParameterError(
        f"{path}: not an audio container ffmpeg is allowed to read ({shown}; "
        f"expected {', '.join(FFMPEG_CONTAINERS.values())})"
    )


def _ffmpeg_input(path: str | os.PathLike) -> list[str]:
    """ffmpeg's input options for ``path``: its container forced, local files only."""
    return ["-protocol_whitelist", "file", "-f", ffmpeg_container(path), "-i", os.fspath(path)]


def probe_with_ffmpeg(path: str | os.PathLike) -> float:
    """The seconds of audio in a file ffmpeg decodes (ffprobe), before any of it is decoded.

    Raises
    ------
    ParameterError
        ffmpeg is missing, the file is no allowed container (`ffmpeg_container`), or it
        holds no audio stream.
    """
    import json
    import shutil
    import subprocess

    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if shutil.which("ffprobe") is None:
        raise ParameterError(f"{path}: {suffix} is not a format soundfile reads; {FFMPEG_HINT}")
    command = ["ffprobe", "-v", "error", *_ffmpeg_input(path), "-show_entries", "stream=codec_type,duration"]
    command += ["-show_entries", "format=duration", "-of", "json"]
    try:
        done = subprocess.run(command, capture_output=True, check=False, timeout=60)
        found = json.loads(done.stdout or b"{}")
    except (OSError, subprocess.TimeoutExpired, ValueError) as exc:
        raise ParameterError(f"{path}: cannot read audio (ffprobe: {_one_line(exc)})") from None
    streams = [s for s in found.get("streams", []) if s.get("codec_type") == "audio"]
    if done.returncode != 0 and not streams:
        why = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ParameterError(f"{path}: cannot read audio (ffmpeg: {why[-1] if why else done.returncode})")
    if not streams:
        raise ParameterError(f"{path}: no audio stream")
    seconds = [streams[0].get("duration"), found.get("format", {}).get("duration")]
    for value in seconds:
        try:
            if np.isfinite(float(value)):
                return max(float(value), 0.0)
        except (TypeError, ValueError):
            continue
    return 0.0


def decode_with_ffmpeg(
    path: str | os.PathLike, *, sr: int, offset: float = 0.0, duration: float | None = None
) -> np.ndarray:
    """Decode a file libsndfile cannot read (M4A/AAC, WebM ...) with ffmpeg, as mono float32 at ``sr``.

    ffmpeg downmixes and resamples; at most `MAX_DECODE_SECONDS` are decoded, and a file
    whose probed length (`probe_with_ffmpeg`) is over that is refused before decoding.

    Returns
    -------
    y : np.ndarray [shape=(n,), dtype=float32]

    Raises
    ------
    ParameterError
        ffmpeg is not installed (the message says how to install it), or cannot decode the file.
    """
    seconds = probe_with_ffmpeg(path)
    if duration is None and seconds - offset > MAX_DECODE_SECONDS:
        raise ParameterError(
            f"{path}: {seconds / 3600:.1f} h of audio; at most {MAX_DECODE_SECONDS / 3600:g} h is read whole "
            "(score it by segments, or cut it)"
        )
    expected = (seconds - offset if duration is None else min(duration, seconds - offset)) * sr
    return gather(ffmpeg_blocks(path, sr=sr, offset=offset, duration=duration, block_seconds=60.0), expected)


def gather(blocks: Iterator[np.ndarray], expected: float) -> np.ndarray:
    """Consecutive blocks as one array, written into one allocation of about ``expected`` samples.

    Peak memory is the result and one block, not the blocks and their concatenation.

    Returns
    -------
    y : np.ndarray [shape=(n,), dtype=float32]
    """
    out = np.empty(max(int(expected) + 1, 1), dtype=np.float32)
    n = 0
    for block in blocks:
        if n + len(block) > len(out):  # the header or probe said less than there is
            out = np.concatenate([out[:n], np.empty(max(len(block), len(out) // 4), np.float32)])
        out[n : n + len(block)] = block
        n += len(block)
    return out[:n].copy() if n < len(out) * 0.9 else out[:n]


def ffmpeg_blocks(
    path: str | os.PathLike,
    *,
    sr: int,
    block_seconds: float,
    offset: float = 0.0,
    duration: float | None = None,
) -> Iterator[np.ndarray]:
    """What ffmpeg decodes of a file, as consecutive mono float32 blocks at ``sr``, read as ffmpeg writes them.

    At most `MAX_DECODE_SECONDS` (or ``duration``) are decoded; memory stays at one block.
    A file that ffmpeg decodes with errors is scored as far as it decodes, with a
    `SerWarning` naming the first error.

    Yields
    ------
    block : np.ndarray [shape=(m,), dtype=float32]
        Non-empty.

    Raises
    ------
    ParameterError
        ffmpeg is missing, the container is not allowed, or nothing could be decoded.
    """
    import shutil
    import subprocess
    import tempfile

    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if shutil.which("ffmpeg") is None:
        raise ParameterError(f"{path}: {suffix} is not a format soundfile reads; {FFMPEG_HINT}")
    seconds = MAX_DECODE_SECONDS if duration is None else min(duration, MAX_DECODE_SECONDS)
    command = ["ffmpeg", "-nostdin", "-v", "error", "-ss", f"{offset:.6f}", "-t", f"{seconds:.6f}"]
    command += [*_ffmpeg_input(path), "-map", "0:a:0", "-vn", "-sn", "-dn", "-ac", "1", "-ar", str(sr)]
    command += ["-f", "f32le", "-"]
    size = max(1, int(block_seconds * sr)) * 4
    with tempfile.TemporaryFile() as errors:  # a file, not a pipe: ffmpeg never blocks on what it says
        try:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors)
        except OSError as exc:
            raise ParameterError(f"{path}: cannot decode audio with ffmpeg ({_one_line(exc)})") from None
        decoded = 0
        try:
            while True:
                data = process.stdout.read(size)
                usable = len(data) // 4 * 4
                if usable:
                    decoded += usable
                    yield np.frombuffer(data[:usable], dtype="<f4").astype(np.float32)
                if len(data) < size:
                    break
        finally:
            process.stdout.close()
            if process.poll() is None:
                process.kill()
            process.wait()
        errors.seek(0)
        said = errors.read(64 * 1024).decode("utf-8", "replace").strip().splitlines()
    if process.returncode != 0 and decoded == 0:
        raise ParameterError(f"{path}: cannot read audio (ffmpeg: {said[-1] if said else process.returncode})")
    if decoded == 0:
        raise ParameterError(f"{path}: empty audio (no samples)")
    if said:
        warnings.warn(f"{path}: decoded with errors ({said[0][:200]}); scored as far as it decodes", SerWarning, 2)


def duration(path: str | os.PathLike) -> float:
    """Seconds of audio in a file, from its header (libsndfile) or ffprobe, without decoding it.

    Raises
    ------
    ParameterError
        The file cannot be read as audio.
    """
    import soundfile as sf

    check_readable(path)
    if needs_ffmpeg(path):
        return probe_with_ffmpeg(path)
    try:
        return float(sf.info(os.fspath(path)).duration)
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as exc:
        raise ParameterError(f"{path}: cannot read audio ({_one_line(exc)})") from None


def warn_if_truncated(path: str | os.PathLike, *, frames: int, sr: int) -> None:
    """Warn (`SerWarning`) when a WAV file's header promises more audio than the file holds.

    libsndfile reads what is there and says nothing; the data chunk's own length is read
    with the standard library's `wave` (PCM WAV; other files are not checked).
    """
    import wave

    if not os.fspath(path).lower().endswith(".wav"):
        return
    try:
        with wave.open(os.fspath(path), "rb") as header:
            declared = header.getnframes()
    except (wave.Error, EOFError, OSError, ValueError):
        return
    if declared > frames * 1.01 + sr // 10:
        warnings.warn(
            f"{path}: its header promises {declared / sr:.1f} s of audio but the file holds {frames / sr:.1f} s "
            "(truncated?); only that is scored",
            SerWarning,
            stacklevel=3,
        )


def check_readable(path: str | os.PathLike) -> None:
    """Refuse, with a `ParameterError` naming ``path``, what cannot be read as an audio file:
    missing, a folder, not a regular file (a FIFO would block ``open`` forever), or unreadable."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ParameterError(f"{path}: not found") from None
    except OSError as exc:
        raise ParameterError(f"{path}: cannot read audio ({exc.strerror or exc})") from None
    if stat.S_ISDIR(mode):
        raise ParameterError(f"{path}: is a folder, not an audio file")
    if not stat.S_ISREG(mode):  # a FIFO, socket or device: opening it could block forever
        raise ParameterError(f"{path}: not a regular file (a FIFO, socket or device); refused")
    if not os.access(path, os.R_OK):
        raise ParameterError(f"{path}: permission denied")


def stream(path: str | os.PathLike, *, sr: int, block_seconds: float = 30.0) -> Iterator[np.ndarray]:
    """An audio file as consecutive mono float32 blocks at ``sr``, read and resampled piece by piece.

    Memory stays at a few blocks whatever the file's length; the concatenated blocks
    equal `load` of the whole file (soxr's streaming resampler at the same quality).

    Parameters
    ----------
    path : str or os.PathLike
    sr : int > 0
        Target sample rate in Hz.
    block_seconds : float > 0
        Audio read per step, in seconds of the file.

    Yields
    ------
    block : np.ndarray [shape=(m,), dtype=float32]
        Non-empty; not validated (the caller checks silence and finiteness over the whole).

    Raises
    ------
    ParameterError
        Unreadable, non-audio or empty file, naming ``path``.
    """
    import soundfile as sf

    check_readable(path)
    if needs_ffmpeg(path):
        probe_with_ffmpeg(path)  # the container and its audio stream, before anything is decoded
        yield from ffmpeg_blocks(path, sr=sr, block_seconds=block_seconds)
        return
    try:
        handle = sf.SoundFile(os.fspath(path))
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as exc:
        raise ParameterError(f"{path}: cannot read audio ({_one_line(exc)})") from None
    with handle:
        warn_if_truncated(path, frames=handle.frames, sr=handle.samplerate)
        if handle.frames == 0:
            raise ParameterError(f"{path}: empty audio (no samples)")
        size = max(1, int(block_seconds * handle.samplerate))
        blocks = _read_blocks(handle, size, path)
        if handle.samplerate == sr:
            yield from (y for y, _ in blocks if y.size)
        else:
            yield from _resample_blocks(blocks, orig_sr=handle.samplerate, target_sr=sr)


def _read_blocks(handle, size: int, path) -> Iterator[tuple[np.ndarray, bool]]:
    """Mono blocks of ``size`` frames of an open soundfile, each with whether it is the last."""
    import soundfile as sf

    while True:
        try:
            data = handle.read(frames=size, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as exc:
            raise ParameterError(f"{path}: cannot read audio ({_one_line(exc)})") from None
        last = data.shape[0] < size
        yield to_mono(data.T), last
        if last:
            return


def _resample_blocks(blocks, *, orig_sr: int, target_sr: int) -> Iterator[np.ndarray]:
    """`resample` of the concatenated blocks, block by block (soxr's streaming resampler): the first and
    the last edge are extended as `resample` extends them and the extension is cut off again."""
    import soxr

    resampler = soxr.ResampleStream(orig_sr, target_sr, 1, dtype="float32", quality="soxr_hq")
    pad_in, pad_out = edge_padding(orig_sr, target_sr)
    to_drop, tail, n_in, n_out = pad_out, np.zeros(0, np.float32), 0, 0
    for y, last in blocks:
        pieces = []
        if n_in == 0 and y.size:
            pieces.append(np.full(pad_in, edge_values(y, sr=orig_sr)[0], np.float32))
        pieces.append(y)
        n_in += y.size
        tail = np.concatenate([tail, y])[-_edge_length(orig_sr) :]  # what the last edge's mean reads
        if last and n_in:
            pieces.append(np.full(pad_in, edge_values(tail, sr=orig_sr)[1], np.float32))
        out = resampler.resample_chunk(np.concatenate(pieces), last=last)
        drop = min(to_drop, out.size)
        out, to_drop = out[drop:], to_drop - drop
        if last:
            out = out[: max(0, int(np.ceil(n_in * target_sr / orig_sr)) - n_out)]
        n_out += out.size
        if out.size:
            yield out


def pcm_to_float(y: np.ndarray) -> np.ndarray:
    """Integer PCM samples as float32 in ``[-1, 1)``, scaled by the type's full scale; floats unchanged.

    ``int16`` is divided by 2**15, ``int32`` by 2**31, ``uint8`` (offset binary) centred on
    128 and divided by 2**7 -- what soundfile returns for the same file read as float.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (n, channels)]

    Returns
    -------
    y_float : np.ndarray [shape=y.shape, dtype=float32 (float64 stays float64)]

    Raises
    ------
    ParameterError
        Neither integer nor floating point (e.g. complex, bool, object).
    """
    y = np.asarray(y)
    if np.issubdtype(y.dtype, np.floating):
        return y
    if np.issubdtype(y.dtype, np.unsignedinteger):
        half = 2.0 ** (8 * y.dtype.itemsize - 1)
        return ((y.astype(np.float64) - half) / half).astype(np.float32)
    if np.issubdtype(y.dtype, np.signedinteger):
        return (y / 2.0 ** (8 * y.dtype.itemsize - 1)).astype(np.float32)
    raise ParameterError(f"expected integer PCM or floating-point audio, got {y.dtype}")


def to_mono(y: np.ndarray) -> np.ndarray:
    """Average channels: ``(n_channels, n)`` or ``(n,)`` -> ``(n,)`` float32."""
    y = np.asarray(y, dtype=np.float32)
    if y.ndim == 1:
        return y
    if y.ndim != 2:
        raise ParameterError(f"expected a waveform of shape (n,) or (channels, n), got {y.shape}")
    return y.mean(axis=0, dtype=np.float32) if y.shape[0] > 1 else y[0]


def resample(y: np.ndarray, *, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample a mono waveform with soxr at ``soxr_hq``, the quality ``librosa.load`` uses.

    Each edge is extended by its own mean first (`EDGE_SECONDS`, `edge_padding`), so an offset
    does not ring at the edges.  Returns ``y`` itself when the rates already match.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
    orig_sr, target_sr : int > 0

    Returns
    -------
    y_hat : np.ndarray [shape=(ceil(n * target_sr / orig_sr),), dtype=float32]
    """
    if orig_sr == target_sr or y.size == 0:
        return y
    import soxr

    pad_in, pad_out = edge_padding(orig_sr, target_sr)
    first, last = edge_values(y, sr=orig_sr)
    padded = np.concatenate([np.full(pad_in, first, np.float32), y, np.full(pad_in, last, np.float32)])
    y_hat = soxr.resample(padded, orig_sr, target_sr, quality="soxr_hq").astype(np.float32, copy=False)
    n_samples = int(np.ceil(y.shape[-1] * target_sr / orig_sr))  # librosa's output length
    return fix_length(y_hat[pad_out:], size=n_samples, mode="start")


def edge_padding(orig_sr: int, target_sr: int) -> tuple[int, int]:
    """How many samples `resample` adds at each edge (at least `EDGE_PAD_SECONDS`), and what they
    become at ``target_sr``: a whole number of samples at both rates, so the cut is exact."""
    import math

    common = math.gcd(orig_sr, target_sr)
    step_in, step_out = orig_sr // common, target_sr // common
    steps = max(1, math.ceil(EDGE_PAD_SECONDS * orig_sr / step_in))
    return steps * step_in, steps * step_out


def edge_values(y: np.ndarray, *, sr: int) -> tuple[float, float]:
    """The means of the first and of the last `EDGE_SECONDS` of ``y`` (all of it when shorter)."""
    n = _edge_length(sr)
    return float(np.mean(y[:n], dtype=np.float64)), float(np.mean(y[-n:], dtype=np.float64))


def _edge_length(sr: int) -> int:
    """`EDGE_SECONDS` in samples at ``sr`` (at least one)."""
    return max(1, int(round(EDGE_SECONDS * sr)))


def validate(
    y: np.ndarray,
    *,
    sr: int,
    min_duration: float = 0.0,
    name: str | os.PathLike = "<waveform>",
    on_silence: str = "warn",
) -> np.ndarray:
    """The one validation gate for waveforms (librosa's ``util.valid_audio``, plus length and silence).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        A mono waveform.
    sr : int
        Its sample rate, to express ``min_duration`` in samples.
    min_duration : float
        Shortest acceptable length in seconds.
    name : str
        The file (or other origin) named in errors and warnings.
    on_silence : {'warn', 'error'}
        A clip whose peak is below `SILENCE_PEAK` warns and is kept, or raises.

    Returns
    -------
    y : np.ndarray [shape=(n,), dtype=float32]

    Raises
    ------
    ParameterError
        If ``sr`` is not a whole number of Hz up to `MAX_SAMPLE_RATE`, ``y`` is not 1-D floating
        point, is empty, holds NaN or inf, is shorter than
        ``min_duration``, or is silent with ``on_silence='error'``.

    Warns
    -----
    SerWarning
        If the peak amplitude is below `SILENCE_PEAK` and ``on_silence='warn'`` (the clip is
        kept), or above `OVERLOAD_PEAK` (float audio far beyond full scale; kept as it is).
    """
    if isinstance(sr, bool) or not isinstance(sr, (int, float, np.number)) or not 1 <= sr <= MAX_SAMPLE_RATE:
        raise ParameterError(f"{name}: sample rate must be from 1 to {MAX_SAMPLE_RATE} Hz, got {sr!r}")
    if not float(sr).is_integer():
        raise ParameterError(f"{name}: sample rate must be a whole number of Hz, got {sr!r}")
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.floating):
        raise ParameterError(f"{name}: expected a 1-D floating-point waveform, got {y.dtype} {y.shape}")
    if y.size == 0:
        raise ParameterError(f"{name}: empty audio (no samples)")
    if not np.isfinite(peak_amplitude(y)):  # NaN and inf reach the extremes; no array of flags is made
        raise ParameterError(f"{name}: audio holds non-finite samples (NaN or inf)")
    if y.size < int(np.ceil(min_duration * sr)):
        raise ParameterError(f"{name}: too short: {y.size / sr:.3f} s, need at least {min_duration} s")
    if is_silent(y):
        if on_silence == "error":
            raise ParameterError(f"{name}: audio is silent (peak below -80 dBFS)")
        warnings.warn(f"{name}: audio is silent (peak below -80 dBFS)", SerWarning, stacklevel=2)
    peak = peak_amplitude(y)
    if peak > OVERLOAD_PEAK:
        warnings.warn(
            f"{name}: peak {peak:.3g} is {20 * np.log10(peak):.0f} dB above full scale (float audio should lie "
            "in [-1, 1]); scored as it is",
            SerWarning,
            stacklevel=2,
        )
    return y.astype(np.float32, copy=False)


def fix_length(
    y: np.ndarray,
    *,
    size: int,
    mode: str = "centre",
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Pad with zeros or trim a waveform to exactly ``size`` samples.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
    size : int > 0
        Output length in samples.
    mode : {'centre', 'start', 'random'}
        Where the kept (or padded) signal sits: in the middle, at the start, or at an
        offset drawn from ``rng``.
    rng : np.random.Generator
        Required for ``mode='random'``.

    Returns
    -------
    y_fixed : np.ndarray [shape=(size,)]
    """
    if mode not in _LENGTH_MODES:
        raise ParameterError(f"unknown length mode {mode!r}; choose centre, start or random")
    if mode == "random" and rng is None:
        raise ParameterError("mode='random' needs an explicit rng")
    n = y.shape[-1]
    if n == size:
        return y
    excess = abs(n - size)
    if mode == "start":
        first = 0
    elif mode == "random":
        first = int(rng.integers(0, excess + 1))
    else:
        first = excess // 2
    if n > size:
        return y[first : first + size]
    out = np.zeros(size, dtype=y.dtype)
    out[first : first + n] = y
    return out


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
