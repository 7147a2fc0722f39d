"""Corpus parsers: a folder of recordings -> a manifest DataFrame, one row per utterance.

Every parser returns the columns of `MANIFEST_COLUMNS` (plus corpus extras such as
``intensity`` or ``statement``).  ``speaker`` is qualified by the corpus
(``ravdess:07``) so that corpora never collide, and every emotion code is mapped
onto `ser_keras.data.emotions.CANONICAL_EMOTIONS` through an explicit table.  A file
whose name does not parse, or whose emotion code is not in the table, is skipped
with a `SerWarning` naming it; nothing is relabelled silently.
"""

from __future__ import annotations

import contextvars
import functools
import os
import re
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import pandas as pd

from ..errors import ParameterError, SerWarning
from ..signal.audio import AUDIO_EXTENSIONS, FFMPEG_EXTENSIONS, FFMPEG_HINT, ffmpeg_available
from .emotions import CANONICAL_EMOTIONS, parse_emotion_list, parse_merges
from .manifest import drop_duplicate_files

MANIFEST_COLUMNS = ["path", "corpus", "speaker", "gender", "emotion"]
GENDERS = ("male", "female", "unknown")

# --- per-corpus label tables ------------------------------------------------------------

RAVDESS_EMOTIONS = {
    "01": "neutral",
    "02": "calm",
    "03": "happy",
    "04": "sad",
    "05": "angry",
    "06": "fear",
    "07": "disgust",
    "08": "surprise",
}
RAVDESS_CHANNELS = {"speech": "01", "song": "02"}
RAVDESS_INTENSITY = {"01": "normal", "02": "strong"}
CREMAD_EMOTIONS = {"ANG": "angry", "DIS": "disgust", "FEA": "fear", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}
CREMAD_LEVELS = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified"}
TESS_EMOTIONS = {
    "angry": "angry",
    "disgust": "disgust",
    "fear": "fear",
    "happy": "happy",
    "neutral": "neutral",
    "ps": "surprise",
    "sad": "sad",
}
SAVEE_EMOTIONS = {
    "a": "angry",
    "d": "disgust",
    "f": "fear",
    "h": "happy",
    "n": "neutral",
    "sa": "sad",
    "su": "surprise",
}
SAVEE_SPEAKERS = ("DC", "JE", "JK", "KL")
EMODB_EMOTIONS = {"W": "angry", "L": "boredom", "E": "disgust", "A": "fear", "F": "happy", "T": "sad", "N": "neutral"}
EMODB_GENDERS = {
    "03": "male",
    "10": "male",
    "11": "male",
    "12": "male",
    "15": "male",
    "08": "female",
    "09": "female",
    "13": "female",
    "14": "female",
    "16": "female",
}

_RAVDESS_NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")
_CREMAD_NAME = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$")
_TESS_NAME = re.compile(r"^(OAF|YAF)_(.+)_([a-z]+)$", re.IGNORECASE)
_SAVEE_CODE = re.compile(r"^([a-z]{1,2})(\d\d)$")
_EMODB_NAME = re.compile(r"^(\d\d)([a-z]\d\d)([A-Z])([a-z])$")

# --- helpers ----------------------------------------------------------------------------


def audio_files(root: str | os.PathLike) -> list[Path]:
    """Every audio file below ``root`` (any case of extension), sorted for determinism.

    Symlinked folders are followed, each real folder once (a link cycle or a second
    link to the same folder is not walked twice).  What the walk cannot use is named
    in one `SerWarning` each: an unreadable folder, a broken link, and a file in an
    audio format that soundfile does not read (`FFMPEG_EXTENSIONS`) when ffmpeg is not installed.
    Other files (text, images, ...) are ignored.

    Raises
    ------
    ParameterError
        ``root`` is not a folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise ParameterError(f"{root}: corpus folder not found")
    found: list[Path] = []
    walked: set[tuple[int, int]] = set()

    def unreadable(error: OSError) -> None:
        _skip(Path(error.filename), f"folder not readable ({error.strerror.lower() if error.strerror else error})")

    for folder, subfolders, names in os.walk(root, followlinks=True, onerror=unreadable):
        info = os.stat(folder)
        if (info.st_dev, info.st_ino) in walked:
            _skip(Path(folder), "a link to a folder already walked")
            subfolders.clear()
            continue
        walked.add((info.st_dev, info.st_ino))
        subfolders.sort()
        for name in names:
            path = Path(folder) / name
            suffix = path.suffix.lower()
            if suffix in AUDIO_EXTENSIONS:
                if path.is_file():
                    found.append(path)
                else:
                    _skip(path, "a broken link" if path.is_symlink() else "not a regular file")
            elif suffix in FFMPEG_EXTENSIONS:
                if ffmpeg_available() and path.is_file():
                    found.append(path)
                else:
                    _skip(path, f"{suffix} is not a format soundfile reads; {FFMPEG_HINT}")
    return sorted(found)


#: The files a corpus parser passes over, collected while it runs (`folds_skips`).
_SKIPPED: contextvars.ContextVar[list | None] = contextvars.ContextVar("skipped", default=None)
#: A parser that skips more files than this says so in one folded warning, not one line per file.
SKIPS_SHOWN = 3


def _skip(path: Path, why: str) -> None:
    skipped = _SKIPPED.get()
    if skipped is None:
        warnings.warn(f"{path}: {why}; skipped", SerWarning, stacklevel=3)
    else:
        skipped.append((path, why))


def folds_skips(parse: Callable[..., pd.DataFrame]) -> Callable[..., pd.DataFrame]:
    """A corpus parser whose skipped files are told in one warning once there are more than `SKIPS_SHOWN`.

    The folded warning counts them and names the first few, with their reasons; a folder of
    100,000 badly named files is one line, as a CSV manifest's missing files are.
    """

    @functools.wraps(parse)
    def parse_folding(root, *args, **kwargs):
        token = _SKIPPED.set([])
        try:
            frame = parse(root, *args, **kwargs)
        finally:
            skipped = _SKIPPED.get()
            _SKIPPED.reset(token)
        if len(skipped) <= SKIPS_SHOWN:
            for path, why in skipped:
                warnings.warn(f"{path}: {why}; skipped", SerWarning, stacklevel=2)
        else:
            first = "; ".join(f"{path} ({why})" for path, why in skipped[:SKIPS_SHOWN])
            warnings.warn(f"{root}: {len(skipped):,} file(s) skipped, first {first}", SerWarning, stacklevel=2)
        return frame

    return parse_folding


def _frame(rows: list[dict], corpus: str) -> pd.DataFrame:
    if not rows:
        warnings.warn(f"{corpus}: no usable files found", SerWarning, stacklevel=3)
        return pd.DataFrame(columns=MANIFEST_COLUMNS)
    frame = pd.DataFrame(rows)
    extras = [c for c in frame.columns if c not in MANIFEST_COLUMNS]
    return frame[MANIFEST_COLUMNS + extras]


def _row(path: Path, corpus: str, speaker: str, gender: str, emotion: str, **extras) -> dict:
    return {
        "path": str(path),
        "corpus": corpus,
        "speaker": f"{corpus}:{speaker}",
        "gender": gender,
        "emotion": emotion,
        **extras,
    }


# --- parsers ----------------------------------------------------------------------------


@folds_skips
def parse_ravdess(root: str | os.PathLike, *, vocal_channel: str = "speech", corpus: str = "ravdess") -> pd.DataFrame:
    """RAVDESS: ``MM-VV-EE-II-SS-RR-AA.wav`` (modality, vocal channel, emotion, intensity,
    statement, repetition, actor).

    Only audio-only files (modality 03) of the chosen vocal channel (``speech`` = 01,
    ``song`` = 02) are kept; odd actors are male, even actors female.
    """
    if vocal_channel not in RAVDESS_CHANNELS:
        raise ParameterError(f"vocal_channel must be 'speech' or 'song', got {vocal_channel!r}")
    channel = RAVDESS_CHANNELS[vocal_channel]
    rows = []
    for path in audio_files(root):
        match = _RAVDESS_NAME.match(path.stem)
        if not match:
            _skip(path, "name is not MM-VV-EE-II-SS-RR-AA")
            continue
        modality, vc, code, intensity, statement, repetition, actor = match.groups()
        if modality != "03" or vc != channel:
            continue  # video or the other vocal channel: not an error
        if code not in RAVDESS_EMOTIONS:
            _skip(path, f"unknown RAVDESS emotion code {code!r}")
            continue
        rows.append(
            _row(
                path,
                corpus,
                actor,
                "male" if int(actor) % 2 else "female",
                RAVDESS_EMOTIONS[code],
                intensity=RAVDESS_INTENSITY.get(intensity, intensity),
                statement=statement,
                repetition=repetition,
            )
        )
    return _frame(rows, corpus)


@folds_skips
def parse_cremad(root: str | os.PathLike, *, demographics: str | os.PathLike | None = None) -> pd.DataFrame:
    """CREMA-D: ``1001_DFA_ANG_XX.wav`` (actor, sentence, emotion, level).

    Sex comes from ``VideoDemographics.csv``, looked for in ``root`` (and its parent)
    unless given; without it gender is ``unknown`` (one warning).
    """
    root = Path(root)
    table = _cremad_genders(root, demographics)
    rows = []
    for path in audio_files(root):
        match = _CREMAD_NAME.match(path.stem)
        if not match:
            _skip(path, "name is not ACTOR_SENTENCE_EMOTION_LEVEL")
            continue
        actor, sentence, code, level = match.groups()
        if code not in CREMAD_EMOTIONS:
            _skip(path, f"unknown CREMA-D emotion code {code!r}")
            continue
        rows.append(
            _row(
                path,
                "cremad",
                actor,
                table.get(actor, "unknown"),
                CREMAD_EMOTIONS[code],
                statement=sentence,
                intensity=CREMAD_LEVELS.get(level, level),
            )
        )
    return _frame(rows, "cremad")


def _cremad_genders(root: Path, demographics: str | os.PathLike | None) -> dict[str, str]:
    if demographics is None:
        candidates = [root / "VideoDemographics.csv", root.parent / "VideoDemographics.csv"]
        demographics = next((c for c in candidates if c.is_file()), None)
    if demographics is None:
        warnings.warn(
            f"{root}: no VideoDemographics.csv found (pass --cremad-demographics); gender is 'unknown'",
            SerWarning,
            stacklevel=3,
        )
        return {}
    try:
        table = pd.read_csv(demographics, dtype=str)
        sexes = table.set_index(table["ActorID"].str.strip())["Sex"].str.strip().str.lower()
    except (OSError, KeyError, ValueError, pd.errors.ParserError) as exc:
        raise ParameterError(f"{demographics}: not a CREMA-D demographics table ({exc})") from None
    return {actor: sex if sex in ("male", "female") else "unknown" for actor, sex in sexes.items()}


@folds_skips
def parse_tess(root: str | os.PathLike) -> pd.DataFrame:
    """TESS: ``OAF_back_angry.wav`` / ``YAF_…`` (speaker, word, emotion); both speakers female."""
    rows = []
    for path in audio_files(root):
        match = _TESS_NAME.match(path.stem)
        if not match:
            _skip(path, "name is not OAF_word_emotion or YAF_word_emotion")
            continue
        speaker, word, code = match.groups()
        code = code.lower()
        if code not in TESS_EMOTIONS:
            _skip(path, f"unknown TESS emotion code {code!r}")
            continue
        rows.append(_row(path, "tess", speaker.upper(), "female", TESS_EMOTIONS[code], statement=word.lower()))
    return _frame(rows, "tess")


@folds_skips
def parse_folders(root: str | os.PathLike) -> pd.DataFrame:
    """Your own corpus as folders: ``ROOT/EMOTION/SPEAKER/clip.wav``, or ``ROOT/EMOTION/clip.wav``.

    Each folder below ``root`` is named by a canonical emotion (``angry``, ``neutral`` ...; a
    folder named otherwise is skipped with a warning).  A subfolder of it names the speaker; a
    file directly in an emotion folder is its own speaker (one warning: splits cannot then keep
    a speaker's files together).  Gender is ``unknown``.

    Examples
    --------
    >>> parse_folders("my_corpus")  # doctest: +SKIP
    """
    root = Path(root)
    rows, alone = [], 0
    for path in audio_files(root):
        parts = path.relative_to(root).parts
        emotion = parts[0].strip().lower()
        if len(parts) < 2 or emotion not in CANONICAL_EMOTIONS:
            _skip(path, f"not in a folder named by an emotion ({', '.join(CANONICAL_EMOTIONS)})")
            continue
        if len(parts) == 2:
            alone += 1
            speaker = f"file{alone:06d}"
        else:
            speaker = "/".join(parts[1:-1])
        rows.append(_row(path, "folders", speaker, "unknown", emotion))
    if alone:
        warnings.warn(
            f"{root}: {alone} file(s) lie directly in an emotion folder, each its own speaker; put each "
            "speaker's files in a subfolder (EMOTION/SPEAKER/clip.wav) so that splits keep them together",
            SerWarning,
            stacklevel=2,
        )
    return _frame(rows, "folders")


@folds_skips
def parse_savee(root: str | os.PathLike) -> pd.DataFrame:
    """SAVEE: ``DC_a01.wav`` or ``DC/a01.wav``; speakers DC, JE, JK, KL, all male."""
    rows = []
    for path in audio_files(root):
        stem = path.stem
        if "_" in stem:
            speaker, code = stem.split("_", 1)
        else:
            speaker, code = path.parent.name, stem
        speaker = speaker.upper()
        match = _SAVEE_CODE.match(code)
        if speaker not in SAVEE_SPEAKERS or not match:
            _skip(path, "name is not SPEAKER_xNN or SPEAKER/xNN")
            continue
        letters, number = match.groups()
        if letters not in SAVEE_EMOTIONS:
            _skip(path, f"unknown SAVEE emotion code {letters!r}")
            continue
        rows.append(_row(path, "savee", speaker, "male", SAVEE_EMOTIONS[letters], statement=number))
    return _frame(rows, "savee")


@folds_skips
def parse_emodb(root: str | os.PathLike) -> pd.DataFrame:
    """EMO-DB: ``03a01Fa.wav`` (speaker, text, emotion letter, version); sex from the corpus's speaker table."""
    rows = []
    for path in audio_files(root):
        match = _EMODB_NAME.match(path.stem)
        if not match:
            _skip(path, "name is not SSTTTEV (e.g. 03a01Fa)")
            continue
        speaker, text, code, version = match.groups()
        if code not in EMODB_EMOTIONS:
            _skip(path, f"unknown EMO-DB emotion code {code!r}")
            continue
        if speaker not in EMODB_GENDERS:
            _skip(path, f"unknown EMO-DB speaker {speaker!r}")
            continue
        rows.append(_row(path, "emodb", speaker, EMODB_GENDERS[speaker], EMODB_EMOTIONS[code], statement=text))
    return _frame(rows, "emodb")


#: Virtual file systems: what lies under them is never a recording.
SYSTEM_FOLDERS = (Path("/proc"), Path("/sys"), Path("/dev"))


def _not_audio(path: Path) -> str | None:
    """Why a manifest's (resolved) path cannot be an audio file to read, or None."""
    from ..files import require_regular_file

    if any(path == folder or folder in path.parents for folder in SYSTEM_FOLDERS):
        return "a system file, not a recording"
    suffix = path.suffix.lower()
    if suffix in FFMPEG_EXTENSIONS and not ffmpeg_available():
        return f"{suffix} is not a format soundfile reads; {FFMPEG_HINT}"
    if suffix not in AUDIO_EXTENSIONS + FFMPEG_EXTENSIONS:
        return f"not an audio file (expected {', '.join(AUDIO_EXTENSIONS)})"
    try:
        require_regular_file(path, what="audio file")
    except ParameterError as exc:
        return str(exc).rsplit(": ", 1)[-1]
    return "empty" if path.stat().st_size == 0 else None


@folds_skips
def parse_csv(manifest: str | os.PathLike) -> pd.DataFrame:
    """A user manifest with columns ``path,emotion[,speaker,gender]``; paths are relative to the CSV.

    Emotions must be canonical names.  Without a ``speaker`` column every file is
    its own speaker (a warning: speaker independence cannot be guaranteed).  Gender is
    ``male``/``female`` (or ``m``/``f``); any other value is ``unknown``, with one warning
    that counts the rows.  Every listed file is checked up front: rows whose file is
    missing, not a regular non-empty file, not an audio file by its extension, or under
    ``/proc``, ``/sys`` or ``/dev`` are skipped with one warning giving their count and
    the first few; if none is left, the manifest is refused.  Cells escaped against
    spreadsheet formulas (``'=...``, `ser_keras.files.csv_safe`) are read unescaped.

    Raises
    ------
    ParameterError
        Unreadable, a required column missing, or no listed file exists.
    """
    from ..files import csv_unescape, require_regular_file

    manifest = require_regular_file(manifest, what="CSV manifest")
    try:
        table = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise ParameterError(f"{manifest}: cannot read the CSV manifest ({exc})") from None
    missing = {"path", "emotion"} - set(table.columns)
    if missing:
        raise ParameterError(f"{manifest}: missing column(s) {', '.join(sorted(missing))}")
    if "speaker" not in table.columns:
        warnings.warn(
            f"{manifest}: no 'speaker' column; each file is its own speaker, so splits cannot keep a "
            "speaker's files together",
            SerWarning,
            stacklevel=2,
        )
    table = table.map(csv_unescape)
    rows, absent, odd_genders = [], [], []
    for i, record in enumerate(table.to_dict("records")):
        path = (manifest.parent / record["path"]).resolve()
        emotion = record["emotion"].strip().lower()
        if emotion not in CANONICAL_EMOTIONS:
            _skip(path, f"unknown emotion {emotion!r} on line {i + 2} of {manifest}")
            continue
        problem = _not_audio(path)
        if problem is not None:
            absent.append((i + 2, record["path"], problem))
            continue
        given = record.get("gender", "").strip().lower()
        gender = {"m": "male", "f": "female", "": "unknown"}.get(given, given)
        if gender not in GENDERS:
            odd_genders.append((i + 2, given))
            gender = "unknown"
        speaker = record.get("speaker", "").strip() or f"file{i:06d}"
        rows.append(_row(path, "csv", speaker, gender, emotion, line=i + 2))
    if absent:
        first = "; ".join(f"line {line}: {name} ({why})" for line, name, why in absent[:3])
        message = f"{manifest}: {len(absent)} of {len(table)} listed file(s) cannot be read, first {first}"
        if not rows:
            raise ParameterError(message)
        warnings.warn(message + "; those rows are skipped", SerWarning, stacklevel=2)
    if odd_genders:
        values = ", ".join(sorted({repr(v) for _, v in odd_genders})[:5])
        warnings.warn(
            f"{manifest}: {len(odd_genders)} row(s) have a gender other than male/female ({values}, first on "
            f"line {odd_genders[0][0]}); they are counted as unknown",
            SerWarning,
            stacklevel=2,
        )
    frame = drop_duplicate_files(_frame(rows, "csv"), source=manifest)
    return frame.drop(columns="line", errors="ignore")


def parse_demo(root: str | os.PathLike | None = None, *, cache_dir: str | os.PathLike = "features") -> pd.DataFrame:
    """The embedded synthetic corpus (`ser_keras.data.demo`), generated into ``root`` on first use.

    Names follow RAVDESS; the corpus is ``demo`` and speakers are ``demo:01`` … ``demo:08``.
    """
    from .demo import ensure_demo_corpus

    root = ensure_demo_corpus(root if root is not None else Path(cache_dir) / "demo_corpus")
    return parse_ravdess(root, corpus="demo")


#: Parser for each ``--corpus NAME``; the ones that need a PATH say so.
PARSERS: dict[str, Callable[..., pd.DataFrame]] = {
    "ravdess": parse_ravdess,
    "cremad": parse_cremad,
    "tess": parse_tess,
    "savee": parse_savee,
    "emodb": parse_emodb,
    "csv": parse_csv,
    "folders": parse_folders,
    "demo": parse_demo,
}
_ALIASES = {"crema-d": "cremad", "crema_d": "cremad", "emo-db": "emodb", "emo_db": "emodb"}


def parse_corpus_spec(spec: str) -> tuple[str, str | None]:
    """``"ravdess=/data/RAVDESS"`` -> ``("ravdess", "/data/RAVDESS")``; ``"demo"`` -> ``("demo", None)``."""
    name, _, path = spec.partition("=")
    name = _ALIASES.get(name.strip().lower(), name.strip().lower())
    if name not in PARSERS:
        raise ParameterError(f"unknown corpus {name!r}; valid corpora are: {', '.join(PARSERS)}")
    path = path.strip() or None
    if path is None and name != "demo":
        raise ParameterError(f"corpus {name!r} needs a path: --corpus {name}=PATH")
    return name, path


def corpus_names(specs: Iterable[str] | None, *, default: str = "demo") -> str:
    """The corpus names of ``--corpus`` specs, without paths, for titles and listings.

    Examples
    --------
    >>> corpus_names(["ravdess=/data/RAVDESS", "csv=mine.csv"])
    'ravdess+csv'
    >>> corpus_names([])
    'demo'
    """
    return "+".join(corpus_list(specs, default=default))


def corpus_list(specs: Iterable[str] | None, *, default: str = "demo") -> list[str]:
    """The corpus name of each ``--corpus`` spec, without its path; ``[default]`` for none.

    Examples
    --------
    >>> corpus_list(["ravdess=/data/RAVDESS", "csv=mine.csv"])
    ['ravdess', 'csv']
    """
    return [str(spec).split("=", 1)[0] for spec in specs or []] or [default]


def build_manifest(
    specs: Sequence[str] | None = None,
    *,
    emotions: str | Iterable[str] | None = None,
    merge: Iterable[str] | dict[str, str] | None = None,
    ravdess_channel: str = "speech",
    cremad_demographics: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike = "features",
) -> pd.DataFrame:
    """Parse and combine corpora, merge emotions, keep the chosen ones.

    Parameters
    ----------
    specs : list of str
        ``NAME[=PATH]`` for each corpus; none means the demo corpus.
    emotions : str or list of str
        Emotions to keep (after merging), e.g. ``"angry,happy,neutral,sad"``; ``"shared"`` keeps
        those every corpus has (multi-corpus training); none keeps all.
    merge : list of str
        Merges applied first, e.g. ``["calm=neutral"]``.

    Returns
    -------
    manifest : pd.DataFrame
        `MANIFEST_COLUMNS` plus extras, with a fresh ``RangeIndex``.
    """
    merges = parse_merges(merge)
    shared = isinstance(emotions, str) and emotions.strip().lower() == "shared"
    keep = None if shared else parse_emotion_list(emotions)
    frames = []
    for spec in specs or ["demo"]:
        name, path = parse_corpus_spec(spec)
        if name == "ravdess":
            frames.append(parse_ravdess(path, vocal_channel=ravdess_channel))
        elif name == "cremad":
            frames.append(parse_cremad(path, demographics=cremad_demographics))
        elif name == "demo":
            frames.append(parse_demo(path, cache_dir=cache_dir))
        else:
            frames.append(PARSERS[name](path))
    manifest = pd.concat([f for f in frames if len(f)] or frames[:1], ignore_index=True)
    if manifest.empty:
        raise ParameterError("no usable audio files in " + ", ".join(specs or ["demo"]))
    if merges:
        manifest["emotion"] = manifest["emotion"].replace(merges)
    if shared:
        per_corpus = [set(part["emotion"]) for _, part in manifest.groupby("corpus")]
        keep = tuple(sorted(set.intersection(*per_corpus)))
        if not keep:
            raise ParameterError("--emotions shared: the corpora have no emotion in common")
    if keep is not None:
        absent = sorted(set(keep) - set(manifest["emotion"]))
        if absent:
            warnings.warn(f"emotion(s) not in the corpus: {', '.join(absent)}", SerWarning, stacklevel=2)
        manifest = manifest[manifest["emotion"].isin(keep)].reset_index(drop=True)
        if manifest.empty:
            raise ParameterError(f"no files left after keeping emotions {', '.join(keep)}")
    return manifest
