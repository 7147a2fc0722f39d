"""Long recordings as a timeline: energy segments where the speech is, fixed windows, one prediction
each (the same as the clip alone), the CLI's rows and PNG, and its refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from ser_keras import ParameterError
from ser_keras.cli import main
from ser_keras.predict import Predictor
from ser_keras.timeline import fixed_segments, predict_timeline, speech_segments

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
    assert (table["emotion"] == table[labels].idxmax(axis=1)).all()
    assert png.stat().st_size > 10_000
    capsys.readouterr()
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(3 * SR, np.float32), SR)
    assert main(["predict", str(demo_conv1d_run), str(recording), str(silent), "--segments", "fixed"]) == 1
    captured = capsys.readouterr()
    assert "silent" in captured.out and "1 of 2 file(s) could not be scored" in captured.err


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
