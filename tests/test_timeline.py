"""Long recordings as a timeline: energy segments where the speech is, fixed windows, one prediction
each (the same as the clip alone), the CLI's rows and PNG, and its refusals."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from ser_keras import ParameterError
from ser_keras.cli.main import main
from ser_keras.serving.predict import Predictor
from ser_keras.serving.timeline import fixed_segments, predict_timeline, speech_segments

from conftest import one_error_line, tone

SR = 16000


def _recording(bursts, seconds):
    """Tone bursts ``(start, end)`` in seconds over silence."""
    y = np.zeros(int(seconds * SR), np.float32)
    for start, end in bursts:
        piece = tone(sr=SR, seconds=end - start)
        y[int(start * SR) : int(start * SR) + piece.size] = piece
    return y


def test_speech_segments_follow_the_energy_join_short_gaps_drop_blips_and_cut_long_turns():
    y = _recording([(0.5, 1.5), (3.0, 4.0), (5.0, 5.2), (6.0, 7.0), (7.1, 8.0), (9.0, 18.5)], 20.0)
    spans = speech_segments(y, sr=SR) / SR
    expected = [(0.5, 1.5), (3.0, 4.0), (6.0, 8.0), (9.0, 12.17), (12.17, 15.33), (15.33, 18.5)]
    assert spans.shape == (len(expected), 2)
    np.testing.assert_allclose(spans, expected, atol=0.1)  # frames of 2048 samples (0.128 s) every 512
    assert (np.diff(spans, axis=1) <= 4.0 + 1e-9).all()
    with pytest.raises(ParameterError, match="max_seconds"):
        speech_segments(y, sr=SR, min_duration=2.0, max_seconds=1.0)


def test_fixed_segments():
    spans = fixed_segments(10 * SR, sr=SR, window=2.0, hop=1.0) / SR
    assert spans[0].tolist() == [0, 2] and spans[-1].tolist() == [8, 10] and len(spans) == 9
    assert (fixed_segments(int(10.5 * SR), sr=SR, window=2.0, hop=1.0)[-1] / SR).tolist() == [9, 10.5]
    assert fixed_segments(SR, sr=SR, window=2.0, hop=1.0).tolist() == [[0, SR]]  # shorter than one window
    with pytest.raises(ParameterError, match="> 0"):
        fixed_segments(SR, sr=SR, window=0, hop=1)


@pytest.fixture(scope="module")
def clips(demo_stats):
    """Six demo test clips, cut to 3.2 s each."""
    paths = demo_stats.manifest.query("split == 'test'")["path"].iloc[:6]
    return [sf.read(p, dtype="float32")[0][: int(3.2 * SR)] for p in paths]


def test_each_fixed_segment_scores_as_the_clip_alone(demo_conv1d_run, clips):
    predictor = Predictor.from_run(demo_conv1d_run)
    table = predictor.predict_segments(np.concatenate(clips), sr=SR, mode="fixed", window=3.2, hop=3.2)
    assert table["start"].tolist() == pytest.approx([3.2 * i for i in range(6)])
    for row, clip in zip(table.itertuples(), clips):
        alone = predictor.predict(clip, SR)
        assert row.emotion == alone["emotion"]
        assert [getattr(row, label) for label in predictor.labels] == pytest.approx(
            [alone["probabilities"][label] for label in predictor.labels], abs=1e-5
        )


def test_predict_segments_cli_rows_and_timeline(demo_conv1d_run, clips, tmp_path, capsys):
    gap = np.zeros(SR, np.float32)
    recording = tmp_path / "long.wav"
    sf.write(recording, np.concatenate([part for clip in clips for part in (gap, clip)]), SR)
    out, png = tmp_path / "timeline.csv", tmp_path / "timeline.png"
    args = ["predict", str(demo_conv1d_run), str(recording), "--segments", "-o", str(out), "--timeline", str(png)]
    assert main(args) == 0
    table = pd.read_csv(out)
    labels = Predictor.from_run(demo_conv1d_run).labels
    assert list(table.columns[:4]) == ["path", "start", "end", "emotion"] and set(labels) <= set(table.columns)
    assert len(table) == 6 and table["error"].isna().all()
    # the speech starts where each clip was put (the demo clips open with a little silence of their own)
    starts = np.array([1.0 + 4.2 * i for i in range(6)])
    assert ((table["start"].to_numpy() - starts >= -0.05) & (table["start"].to_numpy() - starts < 0.6)).all()
    np.testing.assert_allclose(table[labels].sum(axis=1), 1.0, atol=1e-4)
    answered = (table["emotion"] != "uncertain").to_numpy()  # the others: below the run's min_confidence
    assert (table["emotion"][answered] == table[labels].idxmax(axis=1)[answered]).all()
    min_confidence = json.loads((demo_conv1d_run / "run.json").read_text())["calibration"]["min_confidence"]
    assert (table[labels].max(axis=1)[~answered] < min_confidence).all()
    assert png.stat().st_size > 10_000
    capsys.readouterr()
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(3 * SR, np.float32), SR)
    assert main(["predict", str(demo_conv1d_run), str(recording), str(silent), "--segments", "fixed"]) == 1
    captured = capsys.readouterr()
    assert "silent" in captured.out and "1 of 2 file(s) could not be scored" in captured.err


def test_a_long_file_is_scored_by_segments_unless_whole_is_asked(demo_conv1d_run, clips, tmp_path, capsys):
    from ser_keras.signal.quality import LONG_SECONDS

    gap = np.zeros(SR, np.float32)
    recording, short = tmp_path / "long.wav", tmp_path / "short.wav"
    sf.write(recording, np.concatenate([part for clip in clips for part in (gap, clip)]), SR)
    sf.write(short, clips[0], SR)
    assert sf.info(recording).duration > LONG_SECONDS > sf.info(short).duration
    out = tmp_path / "rows.csv"
    assert main(["predict", str(demo_conv1d_run), str(short), str(recording), "-o", str(out)]) == 0
    table = pd.read_csv(out)
    # the short file first, whole (no start or end); then the long one's six segments, as --segments gives
    assert table["path"].tolist() == [str(short)] + [str(recording)] * 6
    assert np.isnan(table["start"].iloc[0]) and table["start"].iloc[1:].notna().all()
    main(["predict", str(demo_conv1d_run), str(recording), "--segments", "-o", str(tmp_path / "segments.csv")])
    segments = pd.read_csv(tmp_path / "segments.csv")
    pd.testing.assert_frame_equal(
        table.iloc[1:][["start", "end", "emotion"]].reset_index(drop=True), segments[["start", "end", "emotion"]]
    )
    # --whole: one answer, and a warning that it mixes the recording's parts
    assert main(["predict", str(demo_conv1d_run), str(recording), "--whole", "-o", str(out)]) == 0
    whole = pd.read_csv(out)
    assert len(whole) == 1 and "start" not in whole and "long: over 10 s" in whole["warning"].iloc[0]
    capsys.readouterr()
    assert main(["predict", str(demo_conv1d_run), str(recording), "--whole", "--segments"]) == 2
    one_error_line(capsys, "--whole gives one answer per file; --segments, one per segment: choose one")


def test_segment_options_are_refused_where_they_do_not_apply(demo_conv1d_run, tmp_path, capsys):
    a, b = (tmp_path / f"{n}.wav" for n in "ab")
    for path in (a, b):
        sf.write(path, tone(sr=SR, seconds=2.0), SR)
    assert main(["predict", str(demo_conv1d_run), str(a), "--timeline", str(tmp_path / "t.png")]) == 2
    one_error_line(capsys, "--timeline, --window and --hop go with --segments")
    assert (
        main(["predict", str(demo_conv1d_run), str(a), str(b), "--segments", "--timeline", str(tmp_path / "t.png")])
        == 2
    )
    one_error_line(capsys, "--timeline draws one recording; 2 files were given")
    assert not (tmp_path / "t.png").exists()


def test_a_speaker_normalised_run_scores_the_segments_together():
    class SpeakerRun:  # the Predictor's interface, recording what it is asked
        normalize, labels = "speaker", ["angry", "sad"]
        models = {"mixed": type("Part", (), {"features": type("F", (), {"min_duration": 0.25, "duration": None})})}

        def predict_speaker(self, pieces, *, sr):
            self.asked = [len(p) for p in pieces]
            return [{"emotion": "sad", "probabilities": {"angry": 0.2, "sad": 0.8}, "warning": None} for _ in pieces]

    run = SpeakerRun()
    table = predict_timeline(run, _recording([(0.5, 1.5), (3.0, 4.0)], 5.0), SR)
    assert len(run.asked) == 2 and len(table) == 2 and (table["emotion"] == "sad").all()


def test_a_quiet_speaker_beside_a_loud_one_is_found_above_the_noise_floor():
    """Frames are speech within 40 dB of the loudest, or well above the recording's own noise floor."""
    rng = np.random.default_rng(0)
    y = _recording([(0.5, 2.0)], 6.0) + rng.normal(0, 1e-4, 6 * SR).astype(np.float32)  # noise at -80 dBFS
    quiet = tone(sr=SR, seconds=1.5) * 10 ** (-45 / 20)  # 45 dB below the loud one: under the 40 dB rule
    y[int(3.5 * SR) : int(3.5 * SR) + quiet.size] += quiet
    spans = speech_segments(y, sr=SR) / SR
    np.testing.assert_allclose(spans, [(0.5, 2.0), (3.5, 5.0)], atol=0.15)
    assert len(speech_segments(rng.normal(0, 1e-4, 3 * SR).astype(np.float32), sr=SR)) == 0  # noise alone


def test_fixed_windows_are_bounded_and_a_hop_of_no_samples_is_refused():
    with pytest.raises(
        ParameterError, match=r"makes 359,951 windows; at most 10,000 \(use a --hop of at least 0.36 s\)"
    ):
        fixed_segments(3600 * SR, sr=SR, window=0.5, hop=0.01)
    with pytest.raises(ParameterError, match="at least one sample"):
        fixed_segments(SR, sr=SR, window=0.5, hop=1e-9)
    assert len(fixed_segments(3600 * SR, sr=SR, window=3.0, hop=0.5)) == 7195


def test_a_silent_window_is_a_row_saying_so_and_the_others_are_scored(logreg_run):
    predictor = Predictor.from_run(logreg_run)
    y = np.concatenate([tone(sr=SR, seconds=3.0), np.zeros(3 * SR, np.float32), tone(sr=SR, seconds=3.0)])
    table = predictor.predict_segments(y, sr=SR, mode="fixed", window=3.0, hop=3.0)
    assert table["emotion"].isna().tolist() == [False, True, False]
    assert "silent" in table["warning"][1] and table.loc[1, predictor.labels].isna().all()
    np.testing.assert_allclose(table.loc[[0, 2], predictor.labels].sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize(
    "audio, options, words",
    [
        (None, [], "not found"),
        (np.zeros(60 * SR, np.float32), [], "silent"),
        (tone(sr=SR, seconds=0.01), [], "too short"),
        (tone(sr=SR, seconds=0.3), ["--segments", "fixed", "--window", "0.5"], "no segment of at least 0.5 s"),
    ],
    ids=["missing", "a minute of silence", "0.01 s", "shorter than the window"],
)
def test_a_file_with_no_segment_to_score_is_a_row_with_its_error(logreg_run, tmp_path, capsys, audio, options, words):
    path = tmp_path / "clip.wav"
    if audio is not None:
        sf.write(path, audio, SR)
    segments = options or ["--segments"]
    assert main(["predict", str(logreg_run), str(path), *segments, "-o", str(tmp_path / "t.csv")]) == 2
    table = pd.read_csv(tmp_path / "t.csv")
    assert len(table) == 1 and words in table["error"][0] and str(path) in table["error"][0]
    assert main(["predict", str(logreg_run), str(path), *segments]) == 2  # the terminal table too
    captured = capsys.readouterr()
    assert "could not be scored (1):" in captured.out and words in captured.out and "Traceback" not in captured.err


def test_an_hour_at_a_hop_of_ten_milliseconds_is_refused_from_the_header(logreg_run, tmp_path, capsys):
    path = tmp_path / "hour.wav"
    rng = np.random.default_rng(0)
    sf.write(path, (rng.normal(0, 300, 3600 * 8000)).astype(np.int16), 8000, subtype="PCM_16")
    args = ["predict", str(logreg_run), str(path), "--segments", "fixed", "--window", "0.5", "--hop", "0.01"]
    assert main(args) == 2
    out = capsys.readouterr().out
    assert str(path) in out and "windows; at most 10,000 (use a --hop of at least 0.36 s)" in out
    with pytest.raises(SystemExit) as exited:
        main([*args[:-1], "1e-9"])
    assert exited.value.code == 2
    one_error_line(capsys, "--hop", "must be >= 0.01")


def test_the_timeline_figure_breaks_lines_at_gaps_names_its_axes_and_keeps_the_legend_off_the_data():
    from ser_keras.serving.timeline import owned_spans, timeline_figure

    labels = ["angry", "sad"]
    rows = [(0.0, 3.0, "angry", 0.9), (1.5, 4.5, "angry", 0.8), (4.5, 7.5, None, np.nan), (7.5, 10.5, "sad", 0.3)]
    table = pd.DataFrame([{"start": a, "end": b, "emotion": e, "angry": p, "sad": 1 - p} for a, b, e, p in rows])
    spans = owned_spans(table)
    assert (spans[1:, 0] >= spans[:-1, 1] - 1e-9).all() and spans[0].tolist() == [0.0, 2.25]  # overlaps halved
    fig = timeline_figure(table, labels, duration=12.0)
    top, bands = fig.axes
    assert top.get_ylabel() == "probability" and bands.get_xlabel() == "time (s)" and bands.get_ylabel() == "emotion"
    x = top.lines[0].get_xdata()
    assert np.isnan(x).sum() == 1 and np.count_nonzero(~np.isnan(x)) == 3  # broken across the unscored window
    fig.canvas.draw()
    legend = top.get_legend().get_window_extent()
    assert legend.x0 >= top.get_window_extent().x1  # beside the plot, not over it
    assert [t.get_text() for t in bands.texts] == ["angry", "sad"]  # one label per change: no collisions
    from ser_keras.serving.timeline import emotion_colours

    assert top.lines[0].get_color() == emotion_colours(labels)["angry"]
