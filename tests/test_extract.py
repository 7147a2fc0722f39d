import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ser_keras.cli.main import main
from ser_keras.extraction.extract import FeatureSet

from conftest import tone, write_wav


def _extract(capsys, *args):
    code = main(["extract", "--quiet", "--features", "stats", *args])  # the extract stage, on the seed features
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    return Path(out[-1])


@pytest.fixture
def small_corpus(tmp_path):
    """A CSV corpus of 6 speakers x 2 emotions x 2 files of tones (fast to extract)."""
    rows = ["path,emotion,speaker,gender"]
    rng = np.random.default_rng(0)
    for s in range(6):
        for e, emotion in enumerate(("angry", "sad")):
            for k in range(2):
                name = f"audio/s{s}_{emotion}_{k}.wav"
                write_wav(tmp_path / "corpus" / name, tone(sr=16000, seconds=3.2, freq=150 + 40 * e + 10 * s, rng=rng))
                rows.append(f"{name},{emotion},spk{s},{'male' if s % 2 else 'female'}")
    csv = tmp_path / "corpus" / "list.csv"
    csv.write_text("\n".join(rows) + "\n")
    return csv


def test_extract_writes_aligned_arrays_and_hits_the_cache(tmp_path, small_corpus, capsys):
    cache = tmp_path / "cache"
    path = _extract(capsys, "--corpus", f"csv={small_corpus}", "--cache-dir", str(cache), "--jobs", "1")
    fs = FeatureSet(path)
    manifest = fs.manifest
    for split in ("train", "val", "test"):
        X, y = fs.arrays(split)
        rows = manifest[manifest["split"] == split]
        assert X.shape == (len(rows), 162) and X.dtype == np.float32
        np.testing.assert_array_equal(y, rows["label"].to_numpy())
        assert [fs.labels[i] for i in y] == rows["emotion"].tolist()
    # 3 train speakers (each file, its speed view and its channel view), 1 val, 2 test speakers
    assert fs.config["counts"] == {"train": 36, "val": 4, "test": 8}
    views = manifest.loc[manifest["split"] == "train", "view"].value_counts().to_dict()
    assert views == {"orig": 12, "speed": 12, "channel": 12}
    stamp = {p.name: p.stat().st_mtime_ns for p in path.iterdir()}
    again = _extract(capsys, "--corpus", f"csv={small_corpus}", "--cache-dir", str(cache), "--jobs", "2")
    assert again == path  # --jobs is not part of the key
    assert {p.name: p.stat().st_mtime_ns for p in path.iterdir()} == stamp  # nothing rewritten
    assert sorted(p.name for p in cache.iterdir() if not p.name.startswith(".")) == [path.name]


def test_changes_give_a_new_fingerprint(tmp_path, small_corpus, capsys):
    base = ["--corpus", f"csv={small_corpus}", "--cache-dir", str(tmp_path / "c"), "--jobs", "1"]
    first = _extract(capsys, *base)
    assert _extract(capsys, *base, "--n-mfcc", "13") != first
    assert _extract(capsys, *base, "--seed", "5") != first
    one = sorted((small_corpus.parent / "audio").glob("*.wav"))[0]
    write_wav(one, tone(sr=16000, seconds=3.2, freq=333))  # same name, new content
    changed = _extract(capsys, *base)
    assert changed != first
    assert (
        not np.array_equal(np.load(changed / "X_train.npy"), np.load(first / "X_train.npy"))
        or not np.array_equal(np.load(changed / "X_test.npy"), np.load(first / "X_test.npy"))
        or not np.array_equal(np.load(changed / "X_val.npy"), np.load(first / "X_val.npy"))
    )


def test_a_kind_whose_columns_change_never_hits_an_old_cache(small_corpus, monkeypatch):
    """A feature kind that gains a block (same options, same package version) gets a new fingerprint."""
    from ser_keras.data.corpora import build_manifest
    from ser_keras.extraction.extract import fingerprint
    from ser_keras.features import functionals
    from ser_keras.features.config import FeatureConfig
    from ser_keras.signal.augment import AugmentConfig

    manifest = build_manifest([f"csv={small_corpus}"]).assign(split="train")
    config = FeatureConfig.for_kind("functionals")
    key = dict(features=config, augment=AugmentConfig(recipes=()), split={"method": "speaker"}, seed=0)
    before = fingerprint(manifest, **key)
    assert fingerprint(manifest, **key) == before
    names, count = functionals.feature_names, functionals.n_features
    monkeypatch.setattr(functionals, "feature_names", lambda c: [*names(c), "new_block"])
    monkeypatch.setattr(functionals, "n_features", lambda c: count(c) + 1)
    assert fingerprint(manifest, **key) != before


def test_the_augmentation_seed_is_part_of_the_cache_key(small_corpus):
    """Same files, split and options, another seed: other augmented views, so another feature set; without
    augmentation the seed draws nothing and the set is shared."""
    from ser_keras.data.corpora import build_manifest
    from ser_keras.extraction.extract import fingerprint
    from ser_keras.features.config import FeatureConfig
    from ser_keras.signal.augment import AugmentConfig

    manifest = build_manifest([f"csv={small_corpus}"]).assign(split="train")
    config, split = FeatureConfig.for_kind("stats"), {"method": "cv: every file extracted, folds chosen at training"}
    speed = dict(features=config, augment=AugmentConfig(), split=split)
    assert fingerprint(manifest, **speed, seed=0) != fingerprint(manifest, **speed, seed=1)
    plain = dict(features=config, augment=AugmentConfig(recipes=()), split=split)
    assert fingerprint(manifest, **plain, seed=0) == fingerprint(manifest, **plain, seed=1)


def test_augmentation_is_train_only_and_seeded(tmp_path, small_corpus, capsys):
    args = ["--corpus", f"csv={small_corpus}", "--augment", "noise,stretch+pitch", "--jobs", "1"]
    a = _extract(capsys, *args, "--cache-dir", str(tmp_path / "a"))
    b = _extract(capsys, *args, "--cache-dir", str(tmp_path / "b"))
    manifest = FeatureSet(a).manifest
    train = manifest[manifest["split"] == "train"]
    assert train["view"].value_counts().to_dict() == {"orig": 12, "noise": 12, "stretch+pitch": 12}
    assert set(manifest.loc[manifest["split"] != "train", "view"]) == {"orig"}
    assert train.groupby("path")["speaker"].count().eq(3).all()
    for name in ("X_train.npy", "X_val.npy", "X_test.npy", "y_train.npy"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    X = np.load(a / "X_train.npy")
    orig, noisy = X[train["view"].to_numpy() == "orig"], X[train["view"].to_numpy() == "noise"]
    assert not np.allclose(orig, noisy)
    plain = _extract(capsys, "--corpus", f"csv={small_corpus}", "--jobs", "1", "--cache-dir", str(tmp_path / "p"))
    for split in ("val", "test"):  # the same files, never augmented
        assert (plain / f"X_{split}.npy").read_bytes() == (a / f"X_{split}.npy").read_bytes()


def test_mel_and_frames_sets(tmp_path, small_corpus, capsys):
    for kind, shape in (("mel", (128, 157)), ("frames", (108, 162))):
        path = _extract(
            capsys,
            "--corpus",
            f"csv={small_corpus}",
            "--features",
            kind,
            "--jobs",
            "1",
            "--cache-dir",
            str(tmp_path / "c"),
        )
        X, _ = FeatureSet(path).arrays("train")
        assert path.name.startswith(kind + "-") and X.shape[1:] == shape and np.isfinite(X).all()


def test_bad_files_are_reported_and_skipped(tmp_path, small_corpus, capsys):
    audio = small_corpus.parent / "audio"
    write_wav(audio / "empty.wav", np.zeros(0, np.float32))
    write_wav(audio / "silent.wav", np.zeros(16000 * 3, np.float32))
    write_wav(audio / "short.wav", tone(sr=16000, seconds=0.7))  # ends before offset 0.6 + 0.25 s minimum
    (audio / "text.wav").write_text("not audio at all")
    truncated = audio / "truncated.wav"
    truncated.write_bytes((audio / "s0_sad_0.wav").read_bytes()[:40])
    bad = ["empty", "silent", "short", "text", "truncated", "missing"]
    lines = small_corpus.read_text() + "".join(f"audio/{b}.wav,sad,spk{i % 6},female\n" for i, b in enumerate(bad))
    small_corpus.write_text(lines)
    args = [
        "--features",
        "stats",
        "--augment",
        "none",
        "--corpus",
        f"csv={small_corpus}",
        "--cache-dir",
        str(tmp_path / "c"),
        "--jobs",
        "1",
    ]
    code = main(["extract", *args])
    captured = capsys.readouterr()
    assert code == 0
    # a listed file that does not exist is found up front, before any extraction: one warning line
    assert (
        "1 of 30 listed file(s) cannot be read, first line 31: audio/missing.wav (audio file not found)" in captured.err
    )
    summary, last = captured.out.strip().splitlines()[-2:]  # the summary on stdout, the path last
    assert "5 file(s) failed" in summary
    path = Path(last)
    errors = pd.read_csv(path / "errors.csv")
    reasons = dict(zip(errors["path"].map(lambda p: Path(p).stem), errors["reason"]))
    assert set(reasons) == set(bad) - {"missing"}
    assert "empty audio" in reasons["empty"] and "silent" in reasons["silent"] and "too short" in reasons["short"]
    assert "cannot read audio" in reasons["text"]
    assert all(str(audio) in r or "missing" in r for r in errors["path"])
    assert len(FeatureSet(path).manifest) == 24  # every good file kept
    assert main(["extract", "--quiet", "--strict", *args[:-2], "--cache-dir", str(tmp_path / "strict")]) == 2
    assert "failed with --strict" in capsys.readouterr().err


def test_nothing_extractable_exits_2(tmp_path, capsys):
    csv = tmp_path / "list.csv"
    for s in range(3):
        (tmp_path / f"bad{s}.wav").write_text(f"junk {s}")  # three different non-audio files
    csv.write_text("path,emotion,speaker\n" + "".join(f"bad{s}.wav,sad,s{s}\n" for s in range(3)))
    assert (
        main(["extract", "--quiet", "--corpus", f"csv={csv}", "--cache-dir", str(tmp_path / "c"), "--jobs", "1"]) == 2
    )
    assert "no file could be extracted" in capsys.readouterr().err


def _cli(*args, cwd):
    code = "import sys; from ser_keras.cli.main import main; sys.exit(main(sys.argv[1:]))"
    return [sys.executable, "-c", code, "extract", "--quiet", "--features", "stats", *args]


@pytest.mark.slow
def test_resume_after_sigkill_is_byte_identical(tmp_path, demo_root):
    args = ["--corpus", f"demo={demo_root}", "--augment", "stretch", "--jobs", "1"]
    victim = subprocess.Popen(_cli(*args, "--cache-dir", str(tmp_path / "killed"), cwd=tmp_path))
    deadline = time.time() + 120
    chunks = []
    while time.time() < deadline and victim.poll() is None:
        chunks = list((tmp_path / "killed").glob(".*.partial/chunks/chunk_*.npz"))
        if len(chunks) >= 3:
            break
        time.sleep(0.02)
    assert victim.poll() is None, "extraction finished before it could be killed"
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert not list((tmp_path / "killed").glob("stats-*")), "no finished set may exist after the kill"
    done_before = {p.name for p in (tmp_path / "killed").glob(".*.partial/chunks/chunk_*.npz")}
    assert len(done_before) >= 3
    subprocess.run(_cli(*args, "--cache-dir", str(tmp_path / "killed"), cwd=tmp_path), check=True, timeout=300)
    subprocess.run(_cli(*args, "--cache-dir", str(tmp_path / "clean"), cwd=tmp_path), check=True, timeout=300)
    (resumed,) = (tmp_path / "killed").glob("stats-*")
    (clean,) = (tmp_path / "clean").glob("stats-*")
    assert resumed.name == clean.name
    for name in ("X_train.npy", "y_train.npy", "X_val.npy", "X_test.npy", "manifest.csv"):
        assert (resumed / name).read_bytes() == (clean / name).read_bytes(), name


@pytest.mark.slow
def test_concurrent_extracts_do_not_corrupt_the_cache(tmp_path, small_corpus):
    args = ["--corpus", f"csv={small_corpus}", "--augment", "noise", "--jobs", "1", "--cache-dir", str(tmp_path / "c")]
    procs = [subprocess.Popen(_cli(*args, cwd=tmp_path), stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300)[0].strip().splitlines()[-1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0] and outs[0] == outs[1]
    fs = FeatureSet(outs[0])
    assert fs.arrays("train")[0].shape == (24, 162)
    assert not list((tmp_path / "c").glob(".*.partial"))


@pytest.mark.slow
def test_extract_never_imports_tensorflow(tmp_path, small_corpus):
    code = (
        "import sys; from ser_keras.cli.main import main; "
        f"rc = main(['extract', '--quiet', '--jobs', '1', '--corpus', 'csv={small_corpus}', "
        f"'--cache-dir', '{tmp_path}']); "
        "assert rc == 0; assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


def test_config_json_describes_the_set(tmp_path, small_corpus, capsys):
    path = _extract(
        capsys, "--corpus", f"csv={small_corpus}", "--augment", "speed", "--jobs", "1", "--cache-dir", str(tmp_path)
    )
    config = json.loads((path / "config.json").read_text())
    assert config["features"]["kind"] == "stats" and config["augment"]["recipes"] == ["speed"]
    assert config["labels"] == ["sad", "angry"] and config["split"]["method"] == "speaker"
    assert len(config["feature_names"]) == 162 and config["fingerprint"] in path.name
    assert "librosa" in config["library_versions"]


@pytest.mark.slow
def test_a_dask_cluster_gives_the_arrays_of_local_workers(tmp_path, demo_root, demo_stats, capsys):
    """``--scheduler ADDRESS``: a distributed.LocalCluster on 127.0.0.1 (2 workers) writes, byte for byte,
    the feature set that ``--jobs 2`` wrote (the demo_stats fixture), under the same fingerprint."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        path = _extract(
            capsys,
            "--augment",
            "none",
            "--corpus",
            f"demo={demo_root}",
            "--cache-dir",
            str(tmp_path / "c"),
            "--scheduler",
            cluster.scheduler_address,
        )
    assert path.name == demo_stats.path.name
    assert len(demo_stats.manifest) > 2 * 48  # several chunks, so most ran on the cluster
    for name in ("X_train.npy", "X_val.npy", "X_test.npy", "y_train.npy", "manifest.csv", "errors.csv"):
        if (demo_stats.path / name).is_file():
            assert (path / name).read_bytes() == (demo_stats.path / name).read_bytes(), name


def test_a_scheduler_that_does_not_answer_is_one_line(tmp_path, small_corpus, capsys):
    import socket

    with socket.socket() as probe:  # a free port on 127.0.0.1, with nothing listening once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = main(
        [
            "extract",
            "--quiet",
            "--features",
            "stats",
            "--corpus",
            f"csv={small_corpus}",
            "--cache-dir",
            str(tmp_path / "c"),
            "--scheduler",
            f"tcp://127.0.0.1:{port}",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and f"--scheduler tcp://127.0.0.1:{port}: no Dask scheduler answers" in err[0], (
        err
    )


def test_a_chunk_computes_on_one_blas_thread_whatever_its_process_allows(tmp_path, monkeypatch):
    """Another BLAS thread count sums in another order; pinned to one, a row does not depend on --jobs."""
    from threadpoolctl import threadpool_info, threadpool_limits

    import ser_keras.extraction.chunks as chunks
    from ser_keras.features.config import FeatureConfig
    from ser_keras.signal.augment import AugmentConfig

    def blas_threads() -> set[int]:
        return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}

    seen, real_compute = [], chunks.compute

    def spy(signals, *, config):
        seen.append(blas_threads())
        return real_compute(signals, config=config)

    monkeypatch.setattr(chunks, "compute", spy)
    item = {"path": str(write_wav(tmp_path / "a.wav", tone(seconds=3.0))), "source": 0, "view_index": 0}
    with threadpool_limits(limits=2, user_api="blas"):
        assert blas_threads() == {2}  # what this process would use
        ok, X, _ = chunks.extract_chunk(
            [item], features=FeatureConfig.for_kind("functionals"), augment=AugmentConfig(recipes=()), seed=0
        )
        assert blas_threads() == {2}  # given back after the chunk
    assert ok.tolist() == [0] and seen and all(threads == {1} for threads in seen)


def test_jobs_one_and_two_give_the_same_arrays(tmp_path, small_corpus, capsys):
    from threadpoolctl import threadpool_limits

    args = ["--corpus", f"csv={small_corpus}", "--features", "functionals", "--augment", "none"]
    with threadpool_limits(limits=2, user_api="blas"):  # the parent computes --jobs 1 itself
        alone = _extract(capsys, *args, "--jobs", "1", "--cache-dir", str(tmp_path / "one"))
    workers = _extract(capsys, *args, "--jobs", "2", "--cache-dir", str(tmp_path / "two"))
    for split in ("train", "val", "test"):
        assert (alone / f"X_{split}.npy").read_bytes() == (workers / f"X_{split}.npy").read_bytes()
