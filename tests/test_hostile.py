"""Files handed to a user by someone else, and faults a user can fix: each class is one line, exit 2,
nothing run from the file, nothing written outside the run or output, nothing already there lost."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from ser_keras.cli.main import main

from conftest import one_error_line, shown, small_csv, tone, tree, write_wav


@contextlib.contextmanager
def _deadline(seconds: int = 30):
    """Fail the test, instead of hanging the suite, when the block blocks (a FIFO opened by mistake)."""

    def expired(signum, frame):
        raise TimeoutError(f"blocked for {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


class _Payload:
    """A harmless pickle payload: unpickling it creates a file (proof that code ran)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


# --- a run folder from someone else runs no code ----------------------------------------------------


def test_a_pickled_model_is_refused_and_never_unpickled(run_copy, clip, tmp_path, capsys):
    from ser_keras.serving.predict import Predictor

    marker = tmp_path / "pwned"
    (run_copy / "model.skops").unlink()
    (run_copy / "model.joblib").write_bytes(pickle.dumps(_Payload(marker)))
    before = tree(run_copy)
    for command in (["predict", str(run_copy), str(clip)], ["evaluate", str(run_copy)]):
        assert main(command) == 2, command
        one_error_line(capsys, str(run_copy / "model.joblib"), "a pickle", "does not load pickles")
    with pytest.raises(Exception, match="does not load pickles"):  # the app's first load goes through here
        Predictor.from_run(run_copy)
    assert not marker.exists() and tree(run_copy) == before


def test_a_group_with_a_pickled_gender_classifier_is_refused(run_copy, clip, tmp_path, capsys):
    marker = tmp_path / "pwned"
    group = run_copy.parent / "group"
    group.mkdir()
    (group / "gender.joblib").write_bytes(pickle.dumps(_Payload(marker)))
    features = json.loads((run_copy / "run.json").read_text())["features"]
    (group / "group.json").write_text(
        json.dumps(
            {
                "runs": {
                    "mixed": f"../{run_copy.name}",
                    "male": f"../{run_copy.name}",
                    "female": f"../{run_copy.name}",
                },
                "gender_classifier": "gender.joblib",
                "features": features,
            }
        )
    )
    assert main(["predict", str(group), str(clip), "--gender", "auto"]) == 2
    one_error_line(capsys, str(group / "gender.joblib"), "a pickle")
    assert not marker.exists()


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("gender_classifier", "../../outside.skops", "gender_classifier: expected a file name in the group folder"),
        ("runs", {"mixed": "/etc"}, "runs.mixed: expected ../RUN"),
    ],
)
def test_a_group_file_cannot_point_outside_its_folders(run_copy, clip, capsys, field, value, words):
    group = run_copy.parent / "group"
    group.mkdir()
    spec = {
        "runs": {"mixed": f"../{run_copy.name}"},
        "gender_classifier": "gender.skops",
        "features": json.loads((run_copy / "run.json").read_text())["features"],
        field: value,
    }
    (group / "group.json").write_text(json.dumps(spec))
    assert main(["predict", str(group), str(clip), "--gender", "auto"]) == 2
    one_error_line(capsys, str(group / "group.json"), words)


def test_a_skops_file_naming_an_untrusted_type_is_refused(run_copy, clip, tmp_path, capsys):
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    sio.dump(FunctionTransformer(func=os.system), run_copy / "model.skops")
    assert main(["predict", str(run_copy), str(clip)]) == 2
    one_error_line(capsys, str(run_copy / "model.skops"), "types ser-keras does not trust", "system")


def test_a_keras_model_with_a_lambda_layer_is_refused(run_copy, clip, tmp_path, capsys):
    import keras

    marker = tmp_path / "pwned"
    inputs = keras.Input(shape=(162,))
    payload = eval(f"lambda x: (__import__('pathlib').Path({str(marker)!r}).touch(), x)[1][:, :6]")  # no closure
    outputs = keras.layers.Lambda(payload)(inputs)
    keras.Model(inputs, outputs).save(run_copy / "model.keras")
    marker.unlink(missing_ok=True)  # building the model ran the lambda once, here, in the test
    (run_copy / "model.skops").unlink()
    shutil.rmtree(run_copy / "saved_model", ignore_errors=True)
    assert main(["predict", str(run_copy), str(clip)]) == 2
    one_error_line(capsys, str(run_copy / "model.keras"), "Lambda layer", "safe mode")
    assert not marker.exists()


def test_evaluate_never_writes_through_a_link_or_rewrites_the_run(run_copy, tmp_path, capsys):
    victim = tmp_path / "somefile"
    victim.write_text("precious")
    (run_copy / "report.json").unlink()
    (run_copy / "report.json").symlink_to(victim)
    (run_copy / "eval-test").symlink_to(tmp_path, target_is_directory=True)  # a planted folder link too
    before = tree(run_copy)
    assert main(["evaluate", "--quiet", str(run_copy)]) == 0
    out = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert out == run_copy / "eval-test-2" and (out / "report.json").is_file() and not out.is_symlink()
    assert victim.read_text() == "precious" and (run_copy / "report.json").is_symlink()
    assert not (tmp_path / "report.json").exists() and not (tmp_path / "confusion_matrix.png").exists()
    after = tree(run_copy)
    assert {k: v for k, v in after.items() if not k.startswith("eval-test-2")} == before


# --- run.json is checked once, at load ------------------------------------------------------------


def test_run_json_says_each_thing_once(logreg_run):
    sidecar = json.loads((logreg_run / "run.json").read_text())
    assert {"model", "seed", "normalize"} <= set(sidecar) and not {"model", "seed", "normalize"} & set(
        sidecar["options"]
    )


def _edit(sidecar: dict, edit: str) -> None:
    if edit == "sr":
        sidecar["features"]["sr"] = 1_000_000_000
    elif edit == "labels short":
        sidecar["labels"] = sidecar["labels"][:-1]
    elif edit == "unknown key":
        sidecar["run_this"] = "rm -rf /"
    elif edit == "string number":
        sidecar["features"]["n_mels"] = "128"
    elif edit == "duplicate label":
        sidecar["labels"][1] = sidecar["labels"][0]
    elif edit == "normalize":
        sidecar["normalize"] = "bogus"


@pytest.mark.parametrize(
    "edit, words",
    [
        ("sr", "features.sr: must lie in [1000, 384000]"),
        ("labels short", "labels has 5 names"),
        ("unknown key", "unknown field 'run_this'"),
        ("string number", "features.n_mels: expected int, got '128'"),
        ("duplicate label", "listed twice"),
        ("normalize", "normalize: unexpected value 'bogus'"),
    ],
)
def test_a_tampered_run_json_is_one_line_naming_the_field(run_copy, clip, capsys, edit, words):
    sidecar = json.loads((run_copy / "run.json").read_text())
    _edit(sidecar, edit)
    (run_copy / "run.json").write_text(json.dumps(sidecar))
    before = tree(run_copy)
    for command in (["predict", str(run_copy), str(clip)], ["evaluate", str(run_copy)]):
        assert main(command) == 2, command
        one_error_line(capsys, "run.json", words)
    assert tree(run_copy) == before


# --- recipes ------------------------------------------------------------------------------------------


BOMB = "\n".join(
    ["a: &a [x, x, x, x, x, x, x, x, x]"]
    + [f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]" for p, c in zip("abcdefgh", "bcdefghi")]
    + ["emotions: *i"]
)


@pytest.mark.parametrize(
    "text, words",
    [
        (BOMB, "aliases (*name) are not allowed"),
        ("emotions: {nested: {deep: [sad]}}", "emotions takes a value or a flat list of values"),
        ("merge: [" + ", ".join(["calm=neutral"] * 65) + "]", "merge holds 65 values; at most 64"),
        ("# " + "x" * 70_000, "too large"),
    ],
)
def test_a_hostile_recipe_is_refused_before_it_expands(tmp_path, capsys, text, words):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(text)
    assert main(["extract", "--config", str(recipe), "--cache-dir", str(tmp_path / "c")]) == 2
    one_error_line(capsys, str(recipe), words)
    assert not (tmp_path / "c").exists()


def test_a_recipe_cannot_choose_where_this_command_writes(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    corpus = small_csv(tmp_path)
    elsewhere = tmp_path / "someone-elses" / "cache"
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"cache-dir: {elsewhere}\nfeatures: stats\naugment: none\ncorpus: [csv={corpus}]\n")
    assert main(["extract", "--quiet", "--config", str(recipe), "--jobs", "1"]) == 0
    captured = capsys.readouterr()
    assert f"cache-dir: {elsewhere} is outside the current folder" in captured.err and "ignored" in captured.err
    assert not elsewhere.parent.exists()
    assert Path(captured.out.strip()).parent == Path("features")  # the default, in the current folder


def test_csv_outputs_escape_formula_cells_and_read_back(run_copy, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    formula = write_wav(tmp_path / "=cmd|calc.wav", tone(seconds=3.0))
    out = tmp_path / "results.csv"
    assert main(["predict", "--quiet", str(run_copy), formula.name, "-o", str(out)]) == 0
    assert pd.read_csv(out)["path"].iloc[0] == "'=cmd|calc.wav"  # shown by a spreadsheet, not evaluated
    from ser_keras.data.corpora import parse_csv
    from ser_keras.files import write_csv

    manifest = tmp_path / "m.csv"  # a manifest escaped as ser-keras writes CSV reads back to the same values
    write_csv(
        pd.DataFrame({"path": [formula.name], "emotion": ["sad"], "speaker": ["=1+1"], "gender": ["female"]}), manifest
    )
    assert "'=cmd|calc.wav,sad,'=1+1" in manifest.read_text()
    again = parse_csv(manifest)
    assert again["speaker"].iloc[0] == "csv:=1+1" and Path(again["path"].iloc[0]) == formula


# --- data loss ------------------------------------------------------------------------------------------


def test_the_atomic_writer_leaves_the_old_file_and_no_temporary_on_a_full_disk(tmp_path, monkeypatch):
    import errno

    from ser_keras import files

    target = tmp_path / "results.csv"
    target.write_text("earlier results\n")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full)
    with pytest.raises(files.DiskFullError, match=f"no space left on .* while writing {target}"):
        files.atomic_write_text(target, "new results\n" * 1000)
    assert target.read_text() == "earlier results\n" and sorted(p.name for p in tmp_path.iterdir()) == ["results.csv"]


@pytest.fixture
def tiny_disk(tmp_path):
    """A 2 MB tmpfs mounted on a folder (needs mount rights, as root in CI has)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()})")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(mount: Path, leave: int = 0) -> None:
    free = shutil.disk_usage(mount).free - leave
    with open(mount / "filler", "wb") as handle:
        with contextlib.suppress(OSError):
            handle.write(b"\0" * max(free, 0))


def test_a_full_disk_is_one_line_and_loses_nothing(run_copy, clip, tiny_disk, capsys, demo_stats):
    results = tiny_disk / "results.csv"
    results.write_text("earlier results\n")
    _fill(tiny_disk)
    assert main(["predict", "--quiet", str(run_copy), str(clip), "-o", str(results)]) == 2
    one_error_line(capsys, f"no space left on {tiny_disk} while writing {results}")
    assert results.read_text() == "earlier results\n"
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["filler", "results.csv"]
    (tiny_disk / "filler").unlink()
    _fill(tiny_disk, leave=200_000)  # room for a little, not for a run
    assert (
        main(
            [
                "train",
                "--quiet",
                "--features-dir",
                str(demo_stats.path),
                "--model",
                "conv1d",
                "--epochs",
                "1",
                "--out",
                str(tiny_disk / "models"),
            ]
        )
        == 2
    )
    one_error_line(capsys, f"no space left on {tiny_disk}")
    assert list((tiny_disk / "models").iterdir()) == []  # the staging folder is gone


def test_extract_checks_free_space_before_memory_mapping(tmp_path, capsys, monkeypatch):
    import collections

    from ser_keras import files

    corpus = small_csv(tmp_path)
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(files.shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))
    args = [
        "extract",
        "--quiet",
        "--features",
        "stats",
        "--augment",
        "none",
        "--corpus",
        f"csv={corpus}",
        "--cache-dir",
        str(tmp_path / "c"),
        "--jobs",
        "1",
    ]
    assert main(args) == 2
    one_error_line(capsys, "no space left on", "X_train.npy", "rerun to resume")
    assert not [p for p in (tmp_path / "c").iterdir() if not p.name.startswith(".")]  # nothing published
    assert list((tmp_path / "c").glob(".*.partial/chunks/*.npz"))  # the finished chunks are kept
    monkeypatch.undo()
    assert main(args) == 0  # and the rerun finishes the set


def test_the_demo_corpus_on_a_full_disk_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    import collections

    from ser_keras import files

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(files.shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 5000, 5000))
    assert main(["manifest", "--cache-dir", str(tmp_path / "c")]) == 2
    one_error_line(capsys, "no space left on", str(tmp_path / "c" / "demo_corpus"))
    assert list((tmp_path / "c").iterdir()) == []


def test_a_damaged_report_is_listed_as_broken_and_the_others_still_show(logreg_run, tmp_path, capsys):
    for name in ("good", "bad"):
        shutil.copytree(logreg_run, tmp_path / name)
    report = json.loads((tmp_path / "bad" / "report.json").read_text())
    report["unweighted_accuracy"] = "very good"
    (tmp_path / "bad" / "report.json").write_text(json.dumps(report))
    assert main(["runs", "--out", str(tmp_path), "--format", "csv"]) == 0
    table = pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out))
    rows = table.set_index("run")
    assert rows.loc["good", "type"] == "run" and rows.loc["good", "ua"] > 0
    assert (
        rows.loc["bad", "type"] == "broken"
        and "unweighted_accuracy is 'very good', not a score" in rows.loc["bad", "problem"]
    )
    assert main(["runs", "--out", str(tmp_path)]) == 0  # the table format too
    assert "broken" in capsys.readouterr().out


def test_an_internal_error_has_its_own_exit_code_and_a_traceback_file(monkeypatch, capsys):
    import ser_keras.cli.main as cli

    def bug(args):
        raise KeyError("a bug")

    monkeypatch.setattr(cli, "cmd_runs", bug)
    assert main(["runs"]) == cli.EXIT_INTERNAL == 3
    line = one_error_line(capsys, "ser-keras runs: internal error: KeyError: 'a bug'", "full traceback in ")
    trace = Path(line.split("full traceback in ", 1)[1].split(";", 1)[0])
    assert "KeyError: 'a bug'" in trace.read_text() and "bug" in trace.read_text()
    trace.unlink()


def test_cv_resumes_from_its_finished_folds(demo_stats, demo_root, demo_cache, tmp_path, capsys, monkeypatch):
    import ser_keras.training.cv as cv

    real_train, calls, dying = cv.train, [], [True]

    def train_then_die(*args, **kwargs):
        calls.append(kwargs["name"])
        if dying[0] and len(calls) == 2:
            raise KeyboardInterrupt  # as a Ctrl-C (or kill -9) after fold 1
        return real_train(*args, **kwargs)

    args = [
        "cv",
        "--quiet",
        "--corpus",
        f"demo={demo_root}",
        "--features",
        "stats",
        "--augment",
        "none",
        "--model",
        "logreg",
        "--folds",
        "3",
        "--cache-dir",
        str(demo_cache),
        "--out",
        str(tmp_path / "m"),
        "--jobs",
        "2",
    ]
    monkeypatch.setattr(cv, "train", train_then_die)
    assert main(args) == 130
    (partial,) = (tmp_path / "m").iterdir()
    assert partial.name.startswith(".cv-") and (partial / "fold-1" / "report.json").is_file()
    fold_1 = tree(partial / "fold-1")
    assert main(["runs", "--out", str(tmp_path / "m")]) == 0
    assert "an unfinished cv (fold-1 done): rerun the same command to resume" in capsys.readouterr().out
    calls.clear()
    dying[0] = False
    assert main(args) == 0
    captured = capsys.readouterr()
    assert f"resuming the unfinished cv in {partial}: fold 1 already done" in captured.err
    assert calls == ["fold-2", "fold-3"]  # fold 1 is not trained again
    (published,) = (tmp_path / "m").iterdir()  # the superseded partial folder is gone
    assert Path(captured.out.strip().splitlines()[-1]) == published and not published.name.startswith(".")
    assert tree(published / "fold-1") == fold_1
    summary = json.loads((published / "cv.json").read_text())
    assert len(summary["folds"]) == 3 and not (published / "cv-resume.json").exists()
    other = [*args[:-4], "--out", str(tmp_path / "m"), "--jobs", "2", "--seed", "1"]
    assert main(other) == 0 and "resuming" not in capsys.readouterr().err  # another recipe starts afresh


# --- nothing blocks -----------------------------------------------------------------------------------------


def test_a_fifo_given_as_any_input_is_refused_not_waited_on(run_copy, clip, tmp_path, capsys):
    fifo = tmp_path / "fifo.wav"
    os.mkfifo(fifo)
    with _deadline():
        assert main(["predict", str(run_copy), str(fifo)]) == 2  # none scored
        assert "not a regular file" in capsys.readouterr().out
        config = tmp_path / "recipe.yaml"
        os.mkfifo(config)
        assert main(["extract", "--config", str(config)]) == 2
        one_error_line(capsys, str(config), "is a FIFO, not a regular recipe file")
        speakers = tmp_path / "speakers.csv"
        os.mkfifo(speakers)
        assert main(["predict", str(run_copy), str(clip), "--speakers", str(speakers)]) == 2
        one_error_line(capsys, str(speakers), "is a FIFO")
        manifest = tmp_path / "list.csv"
        pd.DataFrame({"path": [fifo.name, clip.name], "emotion": ["sad", "sad"]}).to_csv(manifest, index=False)
        shutil.copy(clip, tmp_path / clip.name)
        assert main(["manifest", "--corpus", f"csv={manifest}"]) == 0
        assert "1 of 2 listed file(s) cannot be read, first line 2: fifo.wav" in capsys.readouterr().err
        (run_copy / "run.json").unlink()
        os.mkfifo(run_copy / "run.json")
        assert main(["predict", str(run_copy), str(clip)]) == 2
        one_error_line(capsys, str(run_copy / "run.json"), "is a FIFO")


# --- quiet nonsense ---------------------------------------------------------------------------------------------


def test_odd_genders_overloaded_audio_and_missing_files_are_said(run_copy, tmp_path, capsys):
    corpus = small_csv(tmp_path)
    table = pd.read_csv(corpus)
    table.loc[:2, "gender"] = "robot"
    table.to_csv(corpus, index=False)
    assert main(["manifest", "--corpus", f"csv={corpus}"]) == 0
    assert "3 row(s) have a gender other than male/female ('robot', first on line 2)" in capsys.readouterr().err
    loud = write_wav(tmp_path / "loud.wav", 50 * tone(seconds=3.0), subtype="FLOAT")
    assert main(["predict", str(run_copy), str(loud)]) == 0
    assert "loud.wav: peak" in capsys.readouterr().err
    missing = tmp_path / "missing.csv"
    pd.DataFrame({"path": [f"gone/{i}.wav" for i in range(50_000)], "emotion": "sad"}).to_csv(missing, index=False)
    assert main(["extract", "--corpus", f"csv={missing}", "--cache-dir", str(tmp_path / "c")]) == 2
    one_error_line(capsys, "50000 of 50000 listed file(s) cannot be read, first line 2: gone/0.wav")
    assert not (tmp_path / "c").exists() or not list((tmp_path / "c").iterdir())  # no partial cache


def test_a_payload_reaching_the_streamlit_page_first_load_is_refused(run_copy, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    import ser_keras.serving.app

    marker = tmp_path / "pwned"
    (run_copy / "model.skops").unlink()
    (run_copy / "model.joblib").write_bytes(pickle.dumps(_Payload(marker)))
    monkeypatch.setenv("SER_KERAS_MODELS", str(run_copy.parent))
    monkeypatch.setenv("SER_KERAS_RUN", "")
    app = AppTest.from_file(ser_keras.serving.app.__file__, default_timeout=120)
    app.run()
    assert not app.exception and not marker.exists()
    assert any("does not load pickles" in shown(e) for e in app.error)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))


def test_sigterm_stops_like_ctrl_c_one_line_nothing_half_written(monkeypatch, tmp_path, capsys):
    """SIGTERM mid-write: the temporary is removed, the command says so in one line, exit 143."""
    from ser_keras.cli import main as cli
    from ser_keras.files import atomic_path

    target = tmp_path / "cv.png"

    def terminated_while_writing(args):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"")
            os.kill(os.getpid(), signal.SIGTERM)
        return 0

    monkeypatch.setattr(cli, "cmd_runs", terminated_while_writing)
    assert main(["runs", "--out", str(tmp_path)]) == 143
    assert capsys.readouterr().err.splitlines() == [
        "ser-keras runs: terminated (SIGTERM); rerun the same command to resume"
    ]
    assert list(tmp_path.iterdir()) == [] and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_a_resumed_folder_is_published_without_a_killed_writers_temporaries(tmp_path):
    from ser_keras.files import _temporary
    from ser_keras.runs.folders import publish

    staging = tmp_path / ".cv.partial-1234abcd"
    (staging / "fold-1").mkdir(parents=True)
    (staging / "fold-1" / "report.json").write_text("{}")
    left = _temporary(staging / "cv.png")
    left.write_bytes(b"")  # what kill -9 leaves mid-savefig
    final = publish(staging, tmp_path, "cv")
    assert sorted(p.name for p in final.rglob("*")) == ["fold-1", "report.json"]


@pytest.mark.parametrize(
    "failure",
    [
        MemoryError(),
        OSError("Could not find/load shared object file 'libllvmlite.so' from resource location"),
    ],
    ids=["MemoryError", "llvmlite under ulimit -v"],
)
def test_memory_running_out_is_said_not_blamed_on_the_input(run_copy, clip, monkeypatch, capsys, failure):
    import resource

    from ser_keras.serving.predict import Predictor

    def no_room(self, path):
        raise failure

    monkeypatch.setattr(Predictor, "predict_file", no_room)
    monkeypatch.setattr(resource, "getrlimit", lambda which: (2_000_000 * 1024, resource.RLIM_INFINITY))
    assert main(["predict", str(run_copy), str(clip), str(clip)]) == 2
    line = one_error_line(capsys, f"out of memory while scoring {clip}", "at most 1,953 MiB (ulimit -v)")
    assert "could not be scored" not in capsys.readouterr().out  # not a per-file verdict
    assert line.startswith("ser-keras predict: error:")
