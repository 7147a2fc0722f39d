import librosa
import numpy as np
import pytest

from ser_keras import ParameterError
from ser_keras.features.registry import FeatureConfig, compute
from ser_keras.features.seed_features import frame_features, reference_frame_features
from ser_keras.signal.spectral import zero_crossing_rate


def _signals(sr, seconds, n=3, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    out = []
    for i in range(n):
        f0 = 110 * (i + 1) * (1 + 0.1 * np.sin(2 * np.pi * 3 * t))
        y = 0.3 * np.sin(2 * np.pi * np.cumsum(f0) / sr) + rng.normal(0, 0.02, t.size)
        y[: sr // 10] = 0.0  # exact zeros exercise the ZCR threshold and dB floor
        out.append(y.astype(np.float32))
    return out


BLOCKS = {
    "zcr": slice(0, 1),
    "chroma": slice(1, 13),
    "mfcc": slice(13, 33),
    "rms": slice(33, 34),
    "mel": slice(34, 162),
}


@pytest.mark.parametrize("block", BLOCKS)
def test_each_feature_equals_librosa(block):
    config = FeatureConfig.for_kind("frames")
    signals = _signals(config.sr, config.duration)
    fast = frame_features(np.stack(signals), config=config)
    for y, got in zip(signals, fast):
        ref = reference_frame_features(y, config=config)
        assert got.shape == ref.shape == (108, 162)
        sl = BLOCKS[block]
        scale = np.abs(ref[:, sl]).max()
        np.testing.assert_allclose(got[:, sl], ref[:, sl], rtol=1e-4, atol=1e-5 * scale + 1e-7)


def test_reference_is_the_plain_librosa_calls():
    """The reference itself: the seed projects' calls, feature by feature."""
    config = FeatureConfig.for_kind("stats")
    y = _signals(config.sr, 1.0, n=1)[0]
    ref = reference_frame_features(y, config=config)
    np.testing.assert_array_equal(ref[:, 0], librosa.feature.zero_crossing_rate(y)[0])
    np.testing.assert_allclose(ref[:, 13:33].T, librosa.feature.mfcc(y=y, sr=config.sr), rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(ref[:, 33], librosa.feature.rms(y=y)[0])
    np.testing.assert_array_equal(ref[:, 34:].T, librosa.feature.melspectrogram(y=y, sr=config.sr))
    chroma = librosa.feature.chroma_stft(S=np.abs(librosa.stft(y)), sr=config.sr, tuning=0.0)
    np.testing.assert_array_equal(ref[:, 1:13].T, chroma)


def test_stats_are_time_means_and_batching_matches_single():
    config = FeatureConfig.for_kind("stats")
    signals = _signals(config.sr, 2.5) + _signals(config.sr, 1.7, n=2, seed=1)  # two lengths in one call
    X = compute(signals, config=config)
    assert X.shape == (5, 162) and X.dtype == np.float32
    for y, row in zip(signals, X):
        single = frame_features(y[None], config=config)[0].mean(axis=0)
        np.testing.assert_allclose(row, single, rtol=1e-5, atol=1e-6)
        ref = reference_frame_features(y, config=config).mean(axis=0)
        np.testing.assert_allclose(row, ref, rtol=1e-4, atol=2e-3)


def test_mel_image_equals_librosa():
    config = FeatureConfig.for_kind("mel")
    assert (config.sr, config.n_samples, config.output_shape()) == (16000, 80000, (128, 157))
    signals = _signals(16000, 5.0, n=2)
    X = compute(signals, config=config)
    for y, got in zip(signals, X):
        ref = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=16000, n_fft=2048, hop_length=512, n_mels=128))
        np.testing.assert_allclose(got, ref, atol=2e-3)


def test_zcr_counts_threshold_like_librosa():
    y = np.array([[0.5, -0.5, 1e-12, -1e-12, 0.3, 0.0, -0.2, 0.4] * 40], dtype=np.float32)
    np.testing.assert_array_equal(
        zero_crossing_rate(y, frame_length=16, hop_length=4),
        librosa.feature.zero_crossing_rate(y[0], frame_length=16, hop_length=4),
    )


def test_config_validation_and_shapes():
    assert FeatureConfig.for_kind("stats").n_features == 162
    assert FeatureConfig.for_kind("stats", n_mfcc=40).n_features == 182
    assert FeatureConfig.for_kind("frames").output_shape() == (108, 162)
    with pytest.raises(ParameterError, match="unknown feature kind"):
        FeatureConfig.for_kind("wavelets")
    with pytest.raises(ParameterError, match="n_mfcc cannot exceed"):
        FeatureConfig.for_kind("stats", n_mfcc=200)
    config = FeatureConfig.for_kind("mel")
    with pytest.raises(ParameterError, match="need signals of 80000"):
        compute([np.zeros(100, np.float32)], config=config)
    assert FeatureConfig.from_dict(config.to_dict()) == config


def test_filter_banks_are_built_once_and_kept_on_disk(tmp_path, monkeypatch):
    """The on-disk cache equals librosa, is written atomically, rebuilt when damaged, and optional."""
    from ser_keras.signal import spectral as features

    monkeypatch.setenv(features.CACHE_DIR_VARIABLE, str(tmp_path))
    features.mel_basis.cache_clear()
    expected = librosa.filters.mel(sr=16000, n_fft=512, n_mels=40).astype(np.float32)
    np.testing.assert_array_equal(features.mel_basis(sr=16000, n_fft=512, n_mels=40), expected)
    (cached,) = (tmp_path / "filters").glob("mel-*.npy")
    assert not list((tmp_path / "filters").glob(".*"))  # no temporary file left beside it
    np.testing.assert_array_equal(np.load(cached), expected)
    np.save(cached, np.ones((3, 3), np.float32))  # another shape (a stale or foreign file): rebuilt, rewritten
    features.mel_basis.cache_clear()
    np.testing.assert_array_equal(features.mel_basis(sr=16000, n_fft=512, n_mels=40), expected)
    np.testing.assert_array_equal(np.load(cached), expected)
    cached.write_bytes(b"\x93NUMPY truncated")  # damaged: rebuilt
    features.mel_basis.cache_clear()
    np.testing.assert_array_equal(features.mel_basis(sr=16000, n_fft=512, n_mels=40), expected)
    monkeypatch.setenv(features.CACHE_DIR_VARIABLE, str(cached))  # a cache that cannot be written: built, not kept
    features.chroma_basis.cache_clear()
    chroma = features.chroma_basis(sr=16000, n_fft=512, n_chroma=12, tuning=0.0)
    np.testing.assert_array_equal(
        chroma, librosa.filters.chroma(sr=16000, n_fft=512, n_chroma=12, tuning=0.0).astype(np.float32)
    )
    assert not chroma.flags.writeable
    features.mel_basis.cache_clear()
    features.chroma_basis.cache_clear()
