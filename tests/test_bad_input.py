"""Bad input never loses data: each case checks the exit code, the one-line message, and that nothing was lost."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from ser_keras.cli.main import main
from ser_keras.errors import ParameterError, SerWarning

from conftest import one_error_line, small_csv, tone, tree, write_wav

# --- data loss ----------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["manifest", "extract"])
def test_demo_corpus_never_deletes_a_folder_it_did_not_make(tmp_path, capsys, command):
    folder = tmp_path / "d"
    (folder / "keep").mkdir(parents=True)
    (folder / "keep" / "notes.txt").write_text("x")
    before = tree(folder)
    code = main([command, "--corpus", f"demo={folder}", "--cache-dir", str(tmp_path / "cache")])
    assert code == 2
    one_error_line(capsys, str(folder), "not a ser-keras demo corpus")
    assert tree(folder) == before


def test_demo_corpus_fills_an_empty_folder_replaces_only_its_own_and_refuses_a_file(tmp_path, monkeypatch):
    from ser_keras.data import demo

    def fake_generate(root, seed=demo.DEMO_SEED):  # the folder logic, without synthesising 352 files
        Path(root).mkdir(parents=True)
        (Path(root) / "03-01-01-01-01-01-01.wav").write_bytes(b"RIFF")
        (Path(root) / ".complete").write_text(demo.DEMO_VERSION)
        return Path(root)

    monkeypatch.setattr(demo, "generate_demo_corpus", fake_generate)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (demo.ensure_demo_corpus(empty) / ".complete").read_text() == demo.DEMO_VERSION
    old = tmp_path / "old"
    old.mkdir()
    (old / ".complete").write_text("0")  # a demo corpus of an older version: ours to replace
    (old / "stale.wav").write_bytes(b"old")
    assert sorted(p.name for p in demo.ensure_demo_corpus(old).iterdir()) == [".complete", "03-01-01-01-01-01-01.wav"]
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("mine")
    with pytest.raises(ParameterError, match="not a folder"):
        demo.ensure_demo_corpus(not_a_folder)
    assert not_a_folder.read_text() == "mine"
    assert not list(tmp_path.glob(".*.tmp"))  # no staging folder left behind


def test_rerun_never_replaces_a_finished_run(tmp_path, demo_stats, capsys):
    out = tmp_path / "models"
    args = ["train", "--quiet", "--features-dir", str(demo_stats.path), "--model", "knn", "--out", str(out)]
    assert main(args) == 0
    first = Path(capsys.readouterr().out.strip().splitlines()[-1])
    first_files = tree(first)
    assert main(args) == 0  # the same options again, within the same second
    second = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert second != first and second.parent == first.parent
    assert tree(first) == first_files
    assert json.loads((second / "run.json").read_text())["model"] == "knn"


@pytest.mark.parametrize(
    "bad", [["--epochs", "0"], ["--batch-size", "0"], ["--lr", "-1"], ["--devices", "0"], ["--patience", "-1"]]
)
def test_bad_training_options_fail_before_any_work_and_keep_runs(tmp_path, demo_stats, capsys, bad):
    out = tmp_path / "models"
    assert main(["train", "--quiet", "--features-dir", str(demo_stats.path), "--model", "knn", "--out", str(out)]) == 0
    capsys.readouterr()
    before = tree(out)
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--quiet", "--features-dir", str(demo_stats.path), "--out", str(out), *bad])
    assert exit_info.value.code == 2
    one_error_line(capsys, bad[0])
    assert tree(out) == before


@pytest.mark.parametrize("failure", [RuntimeError("boom"), KeyboardInterrupt()])
def test_a_failed_run_leaves_nothing_behind(tmp_path, failure):
    from ser_keras.runs.folders import Staged

    out = tmp_path / "models"
    with pytest.raises(type(failure)):
        with Staged(out, "stats-conv1d-mixed-seed0-20260101-000000") as run:
            (run.staging / "model.keras").write_bytes(b"half")
            raise failure
    assert list(out.iterdir()) == []
    assert run.path is None


def test_a_killed_run_is_never_listed_as_a_run(tmp_path):
    from ser_keras.runs.folders import Staged, find_runs, is_partial

    out = tmp_path / "models"
    run = Staged(out, "stats-knn-mixed-seed0-20260101-000000")
    run.__enter__()  # and never finished: what kill -9 leaves
    (run.staging / "run.json").write_text(json.dumps({"model": "knn"}))
    assert is_partial(run.staging)
    assert find_runs(out) == []


def test_publish_takes_a_new_name_when_the_old_one_is_taken(tmp_path):
    from ser_keras.runs.folders import Staged

    out = tmp_path / "models"
    names = []
    for _ in range(3):
        with Staged(out, "same-name") as run:
            (run.staging / "marker").write_text(str(len(names)))
        names.append(run.path.name)
    assert names == ["same-name", "same-name-2", "same-name-3"]
    assert [(out / n / "marker").read_text() for n in names] == ["0", "1", "2"]


# --- a damaged run folder is one line in predict and evaluate ---------------------------------


@pytest.fixture
def keras_run(demo_conv1d_run):
    """A run with a ``model.keras`` to damage (a copy of the session's conv1d run)."""
    return demo_conv1d_run


def _damage(run: Path, damage: str) -> tuple[Path, str]:
    """Damage a copy's file as a crash, a bad copy or a hand edit would; the file and words the error names."""
    if damage == "model missing":
        (run / "model.keras").unlink()
        return run, "no model file"
    if damage == "model truncated":
        model = run / "model.keras"
        model.write_bytes(model.read_bytes()[:200])
        return model, "damaged model file"
    sidecar = run / "run.json"
    if damage == "run.json truncated":
        sidecar.write_text(sidecar.read_text()[:50])
        return sidecar, "damaged run file"
    content = json.loads(sidecar.read_text())
    del content["labels"]
    sidecar.write_text(json.dumps(content))
    return sidecar, "incomplete run file (missing labels)"


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["model missing", "model truncated", "run.json truncated", "run.json incomplete"])
def test_a_damaged_run_is_one_line_in_predict_and_evaluate(keras_run, demo_stats, tmp_path, capsys, damage):
    import shutil

    run = tmp_path / keras_run.name
    shutil.copytree(keras_run, run)
    named, problem = _damage(run, damage)
    before = tree(run)
    clip = demo_stats.manifest["path"].iloc[0]
    for command in (["predict", str(run), str(clip)], ["evaluate", str(run)]):
        assert main(command) == 2, command
        one_error_line(capsys, str(named), problem)
    assert tree(run) == before


# --- output paths are checked before any work ----------------------------------------------


def test_predict_output_in_a_missing_folder_fails_before_scoring(tmp_path, capsys):
    target = tmp_path / "missing" / "res.csv"
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", str(tmp_path / "no-run"), str(tmp_path), "-o", str(target)])
    assert exit_info.value.code == 2
    one_error_line(capsys, str(target), "not found")


def test_predict_output_with_an_unknown_extension_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["predict", str(tmp_path), str(tmp_path), "-o", str(tmp_path / "res.txt")])
    one_error_line(capsys, "res.txt", "unknown output type")


def test_manifest_outputs_are_checked_before_the_corpus_is_read(tmp_path, capsys):
    cache = tmp_path / "cache"
    for option in ("-o", "--plot"):
        target = tmp_path / "missing" / ("m.csv" if option == "-o" else "counts.png")
        with pytest.raises(SystemExit):
            main(["manifest", "--cache-dir", str(cache), option, str(target)])
        one_error_line(capsys, str(target))
    assert not cache.exists()  # the demo corpus was not even generated


def test_out_and_cache_dir_under_a_file_are_refused(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("keep")
    for option in ("--out", "--cache-dir"):
        with pytest.raises(SystemExit):
            main(["train", option, str(blocker / "sub")])
        one_error_line(capsys, str(blocker), "is a file")
    assert blocker.read_text() == "keep"


# --- a CSV manifest that lists a file twice ---------------------------------------------------


def _csv_corpus(tmp_path: Path, rows: list[tuple[str, str, str]]) -> Path:
    for name, _, _ in rows:
        if not (tmp_path / name).exists():
            write_wav(tmp_path / name, tone(seconds=1.0, freq=float(ord(name.lstrip("./")[0]) * 2)))
    manifest = tmp_path / "m.csv"
    pd.DataFrame(rows, columns=["path", "emotion", "speaker"]).to_csv(manifest, index=False)
    return manifest


def test_csv_identical_duplicates_are_kept_once_with_a_warning(tmp_path):
    from ser_keras.data.corpora import parse_csv

    manifest = _csv_corpus(tmp_path, [("a.wav", "sad", "s1"), ("b.wav", "angry", "s1"), ("./a.wav", "sad", "s1")])
    with pytest.warns(SerWarning, match=r"line 2, line 4 name the same file"):
        frame = parse_csv(manifest)
    assert sorted(Path(p).name for p in frame["path"]) == ["a.wav", "b.wav"]


@pytest.mark.parametrize("second", [("a.wav", "angry", "s1"), ("a.wav", "sad", "s2")])
def test_csv_conflicting_duplicates_are_an_error_naming_the_rows(tmp_path, capsys, second):
    manifest = _csv_corpus(tmp_path, [("a.wav", "sad", "s1"), ("b.wav", "happy", "s2"), second])
    assert main(["manifest", "--corpus", f"csv={manifest}"]) == 2
    one_error_line(capsys, str(manifest), "line 2, line 4", "the same file")


def test_csv_copies_of_one_recording_under_two_speakers_are_an_error(tmp_path, capsys):
    manifest = _csv_corpus(tmp_path, [("a.wav", "sad", "s1"), ("b.wav", "happy", "s2")])
    (tmp_path / "copy.wav").write_bytes((tmp_path / "a.wav").read_bytes())
    table = pd.read_csv(manifest)
    table.loc[len(table)] = ["copy.wav", "sad", "s3"]
    table.to_csv(manifest, index=False)
    assert main(["manifest", "--corpus", f"csv={manifest}"]) == 2
    one_error_line(capsys, "line 2, line 4", "identical audio")


@pytest.mark.parametrize(("features", "model"), [("mel", "conv1d"), ("stats", "conv2d")])
def test_a_model_that_cannot_take_the_features_fails_before_extraction(tmp_path, capsys, features, model):
    cache = tmp_path / "cache"
    code = main(
        ["train", "--features", features, "--model", model, "--cache-dir", str(cache), "--out", str(tmp_path / "m")]
    )
    assert code == 2
    one_error_line(capsys, f"--model {model} does not take {features} features")
    assert not cache.exists()  # nothing was extracted, not even the demo corpus


# --- a damaged cache is never a hit, and a damaged chunk is redone ------------------------------


def test_a_truncated_cached_array_is_not_a_hit(tmp_path, capsys):
    args = [
        "extract",
        "--quiet",
        "--features",
        "stats",
        "--corpus",
        f"csv={small_csv(tmp_path)}",
        "--cache-dir",
        str(tmp_path / "c"),
        "--jobs",
        "1",
    ]
    assert main(args) == 0
    path = Path(capsys.readouterr().out.strip().splitlines()[-1])
    good = (path / "X_train.npy").read_bytes()
    (path / "X_train.npy").write_bytes(good[:-100])
    from ser_keras.extraction.extract import FeatureSet

    with pytest.raises(ParameterError, match="X_train.npy: damaged cached array"):
        FeatureSet(path)
    assert main(args) == 0  # extracted again, not taken as a hit
    assert Path(capsys.readouterr().out.strip().splitlines()[-1]) == path
    assert (path / "X_train.npy").read_bytes() == good


def test_a_zero_byte_chunk_in_a_half_done_cache_is_redone(tmp_path, capsys):
    from ser_keras.extraction.feature_cache import chunk_ok

    chunk = tmp_path / "chunk_000000.npz"
    chunk.write_bytes(b"")
    assert not chunk_ok(chunk) and not chunk.exists()  # discarded, so the next run extracts it again
    import numpy as np

    np.savez(chunk, ok=np.arange(2), X=np.zeros((2, 3)), errors=np.asarray([], dtype=str))
    assert chunk_ok(chunk)


def test_a_cache_dir_that_cannot_be_written_is_one_line(tmp_path, capsys, monkeypatch):
    import ser_keras.extraction.chunks as chunks

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(chunks, "atomic_write_bytes", disk_full)
    args = [
        "extract",
        "--quiet",
        "--features",
        "stats",
        "--corpus",
        f"csv={small_csv(tmp_path)}",
        "--cache-dir",
        str(tmp_path / "c"),
        "--jobs",
        "1",
    ]
    assert main(args) == 2
    from ser_keras.files import device_of

    one_error_line(capsys, f"no space left on {device_of(tmp_path)} while writing {tmp_path / 'c'}", "rerun to resume")
    assert not [p for p in (tmp_path / "c").iterdir() if not p.name.startswith(".")]  # no set published


def test_a_non_finite_feature_row_is_reported_not_written(tmp_path, monkeypatch):
    import numpy as np

    import ser_keras.extraction.chunks as chunks
    from ser_keras.features.config import FeatureConfig
    from ser_keras.signal.augment import AugmentConfig

    real_compute = chunks.compute

    def poisoned(signals, *, config):
        X = real_compute(signals, config=config)
        X[0, 3] = np.nan
        return X

    monkeypatch.setattr(chunks, "compute", poisoned)
    paths = [write_wav(tmp_path / f"{i}.wav", tone(seconds=3.0, freq=150.0 + 30 * i)) for i in range(2)]
    items = [{"path": str(p), "source": i, "view_index": 0} for i, p in enumerate(paths)]
    ok, X, errors = chunks.extract_chunk(
        items, features=FeatureConfig.for_kind("stats"), augment=AugmentConfig(recipes=()), seed=0
    )
    assert ok.tolist() == [1] and np.isfinite(X).all()
    assert len(errors) == 1 and errors[0].startswith("0\t") and "0.wav: non-finite feature values" in errors[0]


# --- quiet failures: every skip is named ------------------------------------------------------


def _ravdess_wav(folder: Path, emotion: str = "05", actor: int = 1) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return write_wav(
        folder / f"03-01-{emotion}-01-01-01-{actor:02d}.wav", tone(seconds=1.0, freq=180.0 + 10 * int(emotion))
    )


def test_symlinked_speaker_folders_are_followed_once(tmp_path):
    from ser_keras.data.corpora import parse_ravdess

    shared = tmp_path / "shared" / "Actor_01"
    _ravdess_wav(shared, "05")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "Actor_01").symlink_to(shared, target_is_directory=True)  # a shared corpus, linked in
    (corpus / "again").symlink_to(corpus, target_is_directory=True)  # a cycle
    with pytest.warns(SerWarning, match="again: a link to a folder already walked"):
        manifest = parse_ravdess(corpus)
    assert manifest["path"].tolist() == [str(corpus / "Actor_01" / "03-01-05-01-01-01-01.wav")]
    assert manifest["emotion"].tolist() == ["angry"]


def test_a_folder_walk_names_what_it_skips_and_reads_mp3(tmp_path, monkeypatch):
    import os

    import soundfile as sf

    from ser_keras.data.corpora import audio_files
    from ser_keras.signal.audio import load

    root = tmp_path / "clips"
    _ravdess_wav(root / "Actor_01", "03")
    sf.write(root / "Actor_01" / "03-01-04-01-01-01-01.mp3", tone(seconds=1.0), 16000, format="MP3")
    (root / "Actor_01" / "03-01-05-01-01-01-01.m4a").write_bytes(b"\x00" * 64)
    (root / "Actor_01" / "notes.txt").write_text("ignored: not audio")
    (root / "Actor_01" / "gone.wav").symlink_to(tmp_path / "missing.wav")
    locked = root / "Actor_02"
    _ravdess_wav(locked, "06", actor=2)
    real_scandir = os.scandir

    def scandir(path="."):  # a folder this user cannot read (chmod does not stop root, so simulate it)
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setenv("PATH", str(tmp_path / "no-ffmpeg"))  # where ffmpeg is installed, an .m4a is read
    with pytest.warns(SerWarning) as caught:
        found = audio_files(root)
    messages = sorted(str(w.message) for w in caught)
    assert [p.name for p in found] == ["03-01-03-01-01-01-01.wav", "03-01-04-01-01-01-01.mp3"]
    assert any("Actor_02: folder not readable (permission denied)" in m for m in messages), messages
    assert any(
        "03-01-05-01-01-01-01.m4a: .m4a is not a format soundfile reads; install ffmpeg" in m for m in messages
    ), messages
    assert any("gone.wav: a broken link" in m for m in messages), messages
    assert not any("notes.txt" in m for m in messages)
    assert load(found[1], sr=16000).shape[0] > 15000  # the walked .mp3 is readable


def test_evaluate_on_another_corpus_prints_the_failed_files_summary(tmp_path, demo_stats, capsys):
    out = tmp_path / "models"
    assert main(["train", "--quiet", "--features-dir", str(demo_stats.path), "--model", "knn", "--out", str(out)]) == 0
    run = Path(capsys.readouterr().out.strip().splitlines()[-1])
    other = tmp_path / "other"
    for emotion in ("01", "05", "04"):
        _ravdess_wav(other / "Actor_03", emotion, actor=3)
    (other / "Actor_03" / "03-01-03-01-01-01-03.wav").write_bytes(b"RIFF0000WAVE")  # corrupt
    code = main(["evaluate", str(run), "--corpus", f"ravdess={other}", "--cache-dir", str(tmp_path / "cache")])
    assert code == 0
    captured = capsys.readouterr()
    summary = [line for line in captured.err.splitlines() if "file(s) failed" in line]
    assert len(summary) == 1 and "1 file(s) failed, listed in" in summary[0] and "errors.csv" in summary[0], (
        captured.err
    )
    assert captured.out.strip().splitlines()[-1] == str(run / "eval-ravdess")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads child processes from Linux /proc")
def test_a_killed_extract_leaves_no_worker_running(tmp_path, demo_root):
    import os
    import signal
    import subprocess
    import sys
    import time

    def children(pid: int) -> set[int]:
        kids: set[int] = set()
        for listing in Path(f"/proc/{pid}/task").glob("*/children"):
            try:
                kids |= {int(k) for k in listing.read_text().split()}
            except OSError:
                pass
        return kids

    def running(pid: int) -> bool:
        try:
            return "zombie" not in Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return False

    cache = tmp_path / "cache"
    extract = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ser_keras",
            "extract",
            "--quiet",
            "--corpus",
            f"demo={demo_root}",
            "--features",
            "functionals",
            "--augment",
            "speed,noise",
            "--jobs",
            "2",
            "--cache-dir",
            str(cache),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(cache.rglob("chunk_*.npz"))) < 3:  # the workers' chunks too
        time.sleep(0.1)
    workers = children(extract.pid)
    assert len(workers) >= 2, "the extract never started its workers"
    os.kill(extract.pid, signal.SIGKILL)
    extract.wait()
    deadline = time.monotonic() + 10  # loky alone keeps them for minutes
    while time.monotonic() < deadline and any(running(w) for w in workers):
        time.sleep(0.1)
    assert not [w for w in workers if running(w)]
    assert not (cache.exists() and [p for p in cache.iterdir() if not p.name.startswith(".")])  # nothing published


def test_native_stderr_filter_drops_only_the_known_noise(capfd):
    import os

    from ser_keras.tflog import filtered_native_stderr

    with filtered_native_stderr():
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
        os.write(2, b"E0000 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR (303)\n")
        os.write(2, b"a real problem\n")
    assert capfd.readouterr().err == "a real problem\n"


@pytest.mark.slow
def test_importing_tensorflow_after_install_prints_nothing():
    import subprocess
    import sys

    script = (
        "from ser_keras import tflog; tflog.install(); import keras, tensorflow as tf; "
        "keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])(tf.zeros((1, 3))); print('done')"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0 and done.stdout == "done\n"
    assert done.stderr == "", done.stderr
