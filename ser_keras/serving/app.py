"""The Streamlit page: upload or record speech, see the predicted emotion.

Run it with ``ser-keras app [RUN_DIR]`` (or ``streamlit run ser_keras/serving/app.py``).
An upload longer than `ser_keras.signal.quality.LONG_SECONDS` is answered by its timeline, one prediction per
speech segment (`ser_keras.serving.timeline`): one answer would mix its parts.
Settings come from the environment so the page runs the same under ``streamlit run``
and ``streamlit.testing``: ``SER_KERAS_MODELS`` (folder of run directories, listed before
the shipped model; unset: the shipped model first, then ``models``), ``SER_KERAS_RUN`` (run
to open first) and ``SER_KERAS_MAX_MB`` (upload limit, default 20; also Streamlit's own
upload limit, so a bigger file is refused before it is received).  ``ser-keras app``
listens on 127.0.0.1 (this machine) unless ``--address`` says otherwise.  Uploads are
decoded from a temporary folder that is removed straight after; models are loaded once
per process (``st.cache_resource``).
A run that cannot be loaded is named in an error on the page, never a traceback.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from ser_keras.errors import SerError
from ser_keras.layout import GROUP_FILE, PRETRAINED_RUN, REPORT_FILE, RUN_FILE
from ser_keras.runs.folders import find_runs, read_json
from ser_keras.signal.quality import LONG_SECONDS

UPLOAD_TYPES = ["wav", "flac", "ogg", "mp3", "m4a"]


def decode_upload(data: bytes, name: str, *, sr: int, max_bytes: int) -> np.ndarray:
    """Validate and decode uploaded audio bytes into a mono waveform at ``sr``.

    Raises
    ------
    SerError
        Empty, over ``max_bytes``, not audio or silent: the message names the file and
        the problem (`Predictor.predict` checks the length against the model's window).
    """
    from ser_keras.signal.audio import load

    if not data:
        raise SerError(f"{name}: the file is empty")
    if len(data) > max_bytes:
        raise SerError(f"{name}: {len(data) / 1e6:.1f} MB is over the {max_bytes / 1e6:.0f} MB limit")
    suffix = Path(name).suffix.lower() or ".wav"
    with tempfile.TemporaryDirectory(prefix="ser-keras-upload-") as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(data)
        try:
            return load(path, sr=sr, on_silence="error")  # length is checked by the Predictor, per model
        except SerError as error:
            raise SerError(str(error).replace(str(path), name)) from None


def tested_text(run: Path) -> str:
    """What the run scored on its unseen test speakers (``report.json``), for the model picker.

    A ``--gender all`` group says so and quotes its mixed run's figures.
    """
    report_path = run / REPORT_FILE
    what = ""
    if (run / GROUP_FILE).is_file():
        group = read_json(run / GROUP_FILE, what="group")
        report_path = (run / group["runs"]["mixed"]).resolve() / REPORT_FILE
        what = " (its mixed model)"
    try:
        report = read_json(report_path, what="report")
        sidecar = read_json(report_path.parent / RUN_FILE, what="run")
    except (OSError, ValueError, KeyError, SerError):
        return "Not tested: this run has no test report."
    from ser_keras.data.corpora import corpus_names

    wrong = [key for key in REPORT_FIGURES if not _is_figure(report.get(key))]
    if wrong or not isinstance(report.get("test_speakers"), list):
        return f"Not tested: its test report is damaged ({', '.join(wrong) or 'test_speakers'})."
    corpora = corpus_names(sidecar.get("corpora"))
    return (
        f"Tested{what} on {report['n_test']:g} clips of {len(report['test_speakers'])} unseen speakers ({corpora}): "
        f"UA {report['unweighted_accuracy']:.3f}, WA {report['weighted_accuracy']:.3f}, "
        f"macro-F1 {report['macro_f1']:.3f} (chance UA {report['chance_ua']:.3f})"
    )


#: The figures of ``report.json`` the model picker quotes.
REPORT_FIGURES = ("n_test", "unweighted_accuracy", "weighted_accuracy", "macro_f1", "chance_ua")


def _is_figure(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


#: Characters that Markdown (and Streamlit's ``:color[...]`` and ``:icon:`` directives) give a meaning.
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:&/])")


def plain(text: str) -> str:
    """``text`` with every Markdown character escaped: shown as written, never as a link, image or markup.

    Streamlit renders captions, errors and warnings as Markdown; whatever a file or a model
    puts on the page goes through this.
    """
    return _MARKDOWN.sub(r"\\\1", str(text))


def run_title(run: Path) -> str:
    """The model picker's name of a run: its folder, or what the shipped model is."""
    if Path(run).resolve() == PRETRAINED_RUN.resolve():
        return "shipped: trained on RAVDESS (weights CC BY-NC-SA 4.0)"
    return Path(run).name


def ranked_text(probabilities: dict[str, float]) -> str:
    """The emotions from the most to the least probable, e.g. ``angry 0.61, sad 0.20, ...``."""
    ranked = sorted(probabilities.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{name} {value:.2f}" for name, value in ranked)


def timeline_text(table) -> str:
    """The segments of a timeline in words: ``Timeline: 3 speech segments: 0.5-3.0 s neutral, ...``."""
    spans = ", ".join(f"{row.start:.1f}-{row.end:.1f} s {row.emotion or 'not scored'}" for row in table.itertuples())
    return f"Timeline: {len(table)} speech segment{'s' if len(table) != 1 else ''}: {spans}"


def main() -> None:
    import pandas as pd
    import streamlit as st

    from ser_keras.serving.predict import UNCERTAIN, Predictor

    @st.cache_resource(show_spinner="Loading the model…")
    def load_predictor(run_dir: str) -> Predictor:
        group = (Path(run_dir) / GROUP_FILE).is_file()  # a --gender all group routes each clip by gender
        return Predictor.from_run(run_dir, gender="auto" if group else "mixed")

    st.set_page_config(page_title="ser-keras: speech emotion", layout="centered")
    st.title("Speech emotion recognition")
    models_dir = os.environ.get("SER_KERAS_MODELS")
    max_bytes = int(float(os.environ.get("SER_KERAS_MAX_MB", "20")) * 1e6)
    runs = find_runs(models_dir or "models")
    if (PRETRAINED_RUN / RUN_FILE).is_file():  # the shipped model: first unless a folder of runs was asked for
        runs = runs + [PRETRAINED_RUN] if models_dir else [PRETRAINED_RUN] + runs
    first = os.environ.get("SER_KERAS_RUN")
    if first:
        runs = [Path(first)] + [r for r in runs if r.resolve() != Path(first).resolve()]
    if not runs:
        st.error(plain(f"No trained model under {models_dir or 'models'}/. Train one first: ser-keras train"))
        return
    run = st.selectbox("Model", runs, format_func=run_title)
    st.caption(plain(tested_text(Path(run))))
    try:
        predictor = load_predictor(str(run))
    except Exception as error:  # a corrupted or foreign folder: say which, never a traceback on the page
        message = " ".join(str(error).split())
        st.error(
            plain(
                message
                if isinstance(error, SerError)
                else f"{run}: cannot load this run ({type(error).__name__}: {message})"
            )
        )
        return
    if predictor.demo_warning:
        st.warning(plain(predictor.demo_warning))
    st.caption(plain("Emotions: " + ", ".join(predictor.labels)))
    source = st.radio("Audio", ["Upload a file", "Record"], horizontal=True)
    if source == "Upload a file":
        audio = st.file_uploader(
            f"A speech clip ({', '.join(UPLOAD_TYPES)}; at most {max_bytes / 1e6:g} MB)",
            type=UPLOAD_TYPES,
            max_upload_size=max(1, math.ceil(max_bytes / 1e6)),
        )
    else:
        audio = st.audio_input("Record a clip")
    if audio is None:
        st.info("Upload or record a clip to see its emotion.")
        return
    data = audio.getvalue()
    name = getattr(audio, "name", None) or "recording.wav"
    try:
        y = decode_upload(data, name, sr=predictor.sr, max_bytes=max_bytes)
        if len(y) > LONG_SECONDS * predictor.sr:  # one answer would mix its parts: a timeline answers
            show_timeline(st, predictor, y, data)
            return
        result = predictor.predict(y, predictor.sr, name=name)
    except SerError as error:
        st.error(plain(str(error)))
        return
    st.audio(data)
    if result["emotion"] == UNCERTAIN:
        st.subheader("Not sure")
        st.caption(
            plain(
                f"Best guess {result['best_guess']} at {result['confidence']:.2f}, below this model's threshold "
                f"of {predictor.min_confidence:.2f} (chosen on speakers it never met)"
            )
        )
    else:
        st.subheader(plain(f"Predicted emotion: {result['emotion']} ({result['confidence']:.2f})"))
    for problem in result.get("input_warnings", []):
        st.warning(plain(f"This clip is unlike the speech the model was trained on: {problem}"))
    probabilities = pd.DataFrame({"probability": result["probabilities"]})
    st.bar_chart(probabilities, horizontal=True, sort="-probability")  # the most probable on top
    st.caption(plain("By probability: " + ranked_text(result["probabilities"])))
    detail = f"{result['n_windows']} window(s) averaged"
    if result["gender_model"] != "mixed":
        detail += f"; routed to the {result['gender_model']} model"
    st.caption(plain(detail))
    st.pyplot(_waveform_and_mel(y, predictor.sr))


def show_timeline(st, predictor, y: np.ndarray, data: bytes) -> None:
    """A long recording's answer: its speech segments, each scored, in words and as a figure.

    Raises
    ------
    SerError
        No speech segment could be scored.
    """
    from ser_keras.serving.timeline import timeline_figure

    table = predictor.predict_segments(y, sr=predictor.sr)
    seconds = len(y) / predictor.sr
    st.audio(data)
    st.subheader(plain(f"A long recording ({seconds:.1f} s): one answer per speech segment"))
    st.caption(plain(timeline_text(table)))
    st.pyplot(timeline_figure(table, predictor.labels, duration=seconds))
    st.pyplot(_waveform_and_mel(y, predictor.sr))


def _waveform_and_mel(y: np.ndarray, sr: int):
    """A figure with the waveform and its log-mel spectrogram."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ser_keras.features.config import FeatureConfig
    from ser_keras.features.seed_features import log_mel_spectrogram

    config = FeatureConfig.for_kind("mel", sr=sr, duration=max(len(y) / sr, 0.1))
    image = log_mel_spectrogram(y[None, :], config=config)[0]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
    top.plot(np.arange(len(y)) / sr, y, linewidth=0.5)
    top.set_ylabel("amplitude")
    bottom.imshow(image, origin="lower", aspect="auto", extent=(0, len(y) / sr, 0, image.shape[0]), cmap="magma")
    bottom.set_ylabel("mel band")
    bottom.set_xlabel("time (s)")
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    main()
