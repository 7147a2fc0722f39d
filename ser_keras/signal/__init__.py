"""Signal processing on waveforms: reading audio, augmentation, recording conditions, spectral primitives.

Pure array code (NumPy in, NumPy out, keyword-only options, an explicit ``rng``) but for
`audio.load` and `audio.stream`, the only functions here that touch the file system.

- `audio`: read a file (libsndfile, or ffmpeg for M4A/AAC), downmix, resample, pad or trim, validate.
- `augment`: training-time augmentation (noise, speed, pitch, channel views) and `AugmentConfig`.
- `channel`: recording conditions (noise at an SNR, a room, a telephone line, a codec, level, tilt).
- `shifts`: the robustness benchmark's fixed, documented settings of `channel`.
- `quality`: per-clip input checks (band-limited, clipped, quiet, noisy, short, no speech).
- `spectral`: windows, filter banks, framing and the power spectrogram every feature kind shares.
- `windows`: the windows a model scores, cut like the training clips.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "audio": [
            "load",
            "needs_ffmpeg",
            "ffmpeg_available",
            "decode_with_ffmpeg",
            "warn_if_truncated",
            "check_readable",
            "stream",
            "pcm_to_float",
            "to_mono",
            "resample",
            "validate",
            "fix_length",
        ],
        "augment": [
            "recipes_text",
            "AugmentConfig",
            "parse_recipes",
            "add_noise",
            "time_stretch",
            "pitch_shift",
            "stretch_and_shift",
            "change_speed",
            "time_shift",
            "apply_recipe",
            "channel_step",
            "spec_augment",
        ],
        "channel": [
            "colored_noise",
            "add_noise_at_snr",
            "room_impulse_response",
            "reverberate",
            "telephone",
            "codec_round_trip",
            "change_gain",
            "spectral_tilt",
        ],
        "shifts": ["Shift", "parse_shifts", "apply_shift"],
        "quality": ["measure", "input_warnings"],
        "spectral": [
            "filter_cache_dir",
            "hann_window",
            "mel_basis",
            "chroma_basis",
            "dct_basis",
            "frame_signal",
            "power_spectrum",
            "zero_crossing_rate",
            "power_to_db",
        ],
        "windows": ["segments", "stream_windows"],
    },
)
