"""A conformance kit for ports of ``waveform.tflite``: reference clips and the answers the model gives them.

`write_conformance_kit` puts ``RUN/conformance/``: a few synthetic clips (the demo
corpus's voice synthesiser, one per demo emotion and one at the shortest length the model
takes; licence-free), written as float32 WAV at the model's sample rate so their samples
are exact, and ``expected.json``: the input contract and, per clip, the probabilities
``waveform.tflite`` gives it.  An app that runs the file on those samples should find the
same probabilities within ``tolerance`` (`check_conformance` is that check in Python).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import ParameterError

#: The folder of the kit inside a run.
CONFORMANCE_DIR = "conformance"
#: Its manifest.
EXPECTED_FILE = "expected.json"
#: How far a port's probabilities may be from the expected ones.
TOLERANCE = 1e-4
#: Seed of the reference clips' synthesis.
KIT_SEED = 20260


#: Voices beyond the demo emotions, each pushing one block of the features to where rounding matters most:
#: a breathy voice (HNR, voicing decisions), a high-pitched one (YIN's short lags, formants above harmonics) and
#: one 40 dB below full scale (trimming and level thresholds).
EXTRA_VOICES = {"breathy": {"breath": 0.6, "jitter": 0.02}, "high": {"f0": 380.0, "formant_scale": 1.25}, "quiet": {}}
#: The peak of ``voice_quiet.wav`` (-40 dBFS).
QUIET_PEAK = 0.01


def reference_clips(*, sr: int, shortest: float) -> dict[str, np.ndarray]:
    """Synthetic reference clips at ``sr``: one per demo emotion, the `EXTRA_VOICES`, and one ``shortest`` s long.

    Returns
    -------
    clips : dict of str -> np.ndarray [shape=(n,), dtype=float32]
        Named ``voice_<emotion>.wav``, ``voice_<extra>.wav`` and ``short.wav``; peaks below 1.
    """
    import dataclasses

    from ..data.demo import DEMO_EMOTIONS, speaker_traits, synthesize, utterance_voice

    clips = {}
    for i, emotion in enumerate(DEMO_EMOTIONS):
        rng = np.random.default_rng([KIT_SEED, i])
        voice = utterance_voice(emotion, strong=True, traits=speaker_traits(1 + i % 2, seed=KIT_SEED), rng=rng)
        clips[f"voice_{emotion}.wav"] = synthesize(voice, "01", rng=rng, sr=sr)
    for j, (name, changes) in enumerate(EXTRA_VOICES.items()):
        rng = np.random.default_rng([KIT_SEED, 100 + j])
        voice = utterance_voice("neutral", strong=False, traits=speaker_traits(2, seed=KIT_SEED), rng=rng)
        y = synthesize(dataclasses.replace(voice, **changes), "02", rng=rng, sr=sr)
        if name == "quiet":
            y = (y * (QUIET_PEAK / np.max(np.abs(y)))).astype(np.float32)
        clips[f"voice_{name}.wav"] = y
    long_one = clips[f"voice_{next(iter(DEMO_EMOTIONS))}.wav"]
    start = int(np.argmax(np.abs(long_one)))  # centred on the loudest sample: sound, not silence
    n = max(int(round(shortest * sr)), 1)
    begin = int(np.clip(start - n // 2, 0, max(len(long_one) - n, 0)))
    clips["short.wav"] = long_one[begin : begin + n].copy()
    return clips


def write_conformance_kit(run_dir: str | os.PathLike) -> Path:
    """Write ``RUN/conformance/`` for a run's ``waveform.tflite`` and return the manifest's path."""
    import soundfile as sf

    from ..files import atomic_path, atomic_write_json
    from ..layout import WAVEFORM_FILE
    from ..runs.litert import WaveformModel

    run_dir = Path(run_dir)
    model = WaveformModel(run_dir / WAVEFORM_FILE)
    folder = run_dir / CONFORMANCE_DIR
    folder.mkdir(exist_ok=True)
    entries = []
    for name, y in reference_clips(sr=model.sr, shortest=max(model.shortest, 0.3)).items():
        with atomic_path(folder / name) as target:
            sf.write(target, y, model.sr, subtype="FLOAT", format="WAV")
        outputs = model(y)
        entries.append(
            {
                "file": name,
                "samples": int(len(y)),
                "label": model.labels[int(np.argmax(outputs["probabilities"]))],
                "probabilities": [round(float(p), 7) for p in outputs["probabilities"]],
                "sound_seconds": round(outputs["sound_seconds"], 6),
            }
        )
    manifest = {
        "model": WAVEFORM_FILE,
        "contract": model.contract,
        "outputs": ["probabilities", "label_index", "sound_seconds", "contract"],
        "tolerance": TOLERANCE,
        "clips": entries,
    }
    return atomic_write_json(folder / EXPECTED_FILE, manifest)


def check_conformance(
    run_dir: str | os.PathLike, model_file: str | os.PathLike | None = None, *, reference_kernels: bool = False
) -> float:
    """The largest probability difference between a ``waveform.tflite`` and the kit's expected answers.

    ``reference_kernels``: run LiteRT's reference kernels instead of its default delegate.

    Raises
    ------
    ParameterError
        The run has no kit, or a clip of the kit is not what the manifest says.
    """
    import soundfile as sf

    from ..layout import WAVEFORM_FILE
    from ..runs.folders import read_json
    from ..runs.litert import WaveformModel

    folder = Path(run_dir) / CONFORMANCE_DIR
    manifest = read_json(folder / EXPECTED_FILE, what="conformance manifest")
    model = WaveformModel(model_file or Path(run_dir) / WAVEFORM_FILE, reference_kernels=reference_kernels)
    gap = 0.0
    for entry in manifest["clips"]:
        y, sr = sf.read(folder / entry["file"], dtype="float32")
        if sr != model.sr or len(y) != entry["samples"]:
            raise ParameterError(f"{folder / entry['file']}: not the clip the manifest describes")
        gap = max(gap, float(np.abs(model(y)["probabilities"] - np.asarray(entry["probabilities"])).max()))
    return gap
