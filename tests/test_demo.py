import hashlib

import librosa
import numpy as np
import soundfile as sf

from ser_keras.data.corpora import parse_demo
from ser_keras.data.demo import DEMO_SR, generate_demo_corpus


def _digest(root):
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.wav")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def test_demo_corpus_is_deterministic(tmp_path, demo_root):
    again = generate_demo_corpus(tmp_path / "again")
    assert _digest(again) == _digest(demo_root)


def test_demo_corpus_layout(demo_root):
    manifest = parse_demo(demo_root)
    assert len(manifest) == 352
    assert manifest.groupby("gender")["speaker"].nunique().to_dict() == {"female": 4, "male": 4}
    assert sorted(manifest["emotion"].unique()) == ["angry", "disgust", "fear", "happy", "neutral", "sad"]
    info = sf.info(manifest["path"][0])
    assert info.samplerate == DEMO_SR and 3.2 < info.duration < 4.5
    assert "SYNTHETIC" in (demo_root / "README.txt").read_text()


def _f0_and_rms(path):
    y, sr = sf.read(path, dtype="float32")
    f0 = librosa.yin(y, fmin=60, fmax=500, sr=sr, frame_length=1024)
    rms = librosa.feature.rms(y=y)[0]
    voiced = rms > 0.3 * rms.max()
    return float(np.median(f0[: voiced.size][voiced[: f0.size]])), float(np.sqrt(np.mean(y**2)))


def test_demo_prosody_differs_by_gender_and_emotion(demo_root):
    """Acted-speech cues: male voices lower, angry louder and higher than sad."""
    manifest = parse_demo(demo_root)
    strong = manifest[(manifest["intensity"] == "strong") & (manifest["repetition"] == "01")]
    stats = {}
    for (gender, emotion), group in strong.groupby(["gender", "emotion"]):
        values = np.array([_f0_and_rms(p) for p in group["path"]])
        stats[gender, emotion] = values.mean(axis=0)
    for emotion in ("neutral", "angry", "sad"):
        key = emotion
        if emotion == "neutral":
            continue
        assert stats["male", key][0] < stats["female", key][0] * 0.75
    for gender in ("male", "female"):
        assert stats[gender, "angry"][1] > 2 * stats[gender, "sad"][1]  # energy
        assert stats[gender, "angry"][0] > stats[gender, "sad"][0] * 1.1  # pitch level
