"""Living with runs: ``ser-keras runs``, recipe files (``--config``, ``recipe.yaml``), moving folders."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from ser_keras.cli.main import main

pytestmark = pytest.mark.slow  # trains Keras models end to end


def _last_line(capsys) -> Path:
    return Path(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def models(tmp_path_factory, demo_root):
    """A models folder with a run, a --gender all group, a cv folder, a partial and a broken folder."""
    from ser_keras.runs.folders import Staged

    root = tmp_path_factory.mktemp("listing")
    out, cache = root / "models", root / "features"
    common = [
        "--quiet",
        "--corpus",
        f"demo={demo_root}",
        "--cache-dir",
        str(cache),
        "--features",
        "stats",
        "--augment",
        "none",
        "--out",
        str(out),
    ]
    assert main(["train", *common, "--model", "knn"]) == 0
    assert main(["train", *common, "--model", "logreg", "--gender", "all"]) == 0
    assert main(["cv", *common, "--model", "knn", "--folds", "2"]) == 0
    Staged(out, "stats-knn-mixed-global-seed0-20260101-000000").__enter__()  # a killed build
    broken = out / "stats-knn-mixed-global-seed0-20260101-000001"
    broken.mkdir()
    (broken / "run.json").write_text('{"model": "knn", "gen')  # truncated
    return out


def test_runs_lists_every_kind_of_folder_with_recipe_and_scores(models, capsys):
    assert main(["runs", "--out", str(models), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by_type = {}
    for row in rows:
        by_type.setdefault(row["type"], []).append(row)
    assert sorted(by_type) == ["broken", "cv2", "group", "partial", "run"]
    assert len(by_type["run"]) == 4  # the knn run and the group's three logreg runs
    knn = next(r for r in by_type["run"] if r["model"] == "knn")
    report = json.loads((models / knn["run"] / "report.json").read_text())
    assert knn["ua"] == report["unweighted_accuracy"] and knn["n_test"] == report["n_test"]
    assert (knn["corpus"], knn["features"], knn["augment"], knn["gender"], knn["normalize"], knn["seed"]) == (
        "demo",
        "stats",
        "none",
        "mixed",
        "global",
        0,
    )
    cv = by_type["cv2"][0]
    summary = json.loads((models / cv["run"] / "cv.json").read_text())
    assert cv["ua"] == summary["mean"]["unweighted_accuracy"] and cv["ua_std"] == summary["std"]["unweighted_accuracy"]
    assert by_type["group"][0]["gender"] == "female, male, mixed"
    assert "damaged run file" in by_type["broken"][0]["problem"]
    assert by_type["partial"][0]["run"].startswith(".stats-knn")


def test_runs_sorts_and_writes_csv_and_a_table(models, capsys):
    assert main(["runs", "--out", str(models), "--sort", "ua", "--format", "csv"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    scored = table["ua"].dropna().tolist()
    assert scored == sorted(scored, reverse=True) and len(scored) == 6
    assert table["ua"].isna().sum() == 2  # partial and broken last
    assert main(["runs", "--out", str(models)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["run", "type", "corpus", "features"] and len(lines) == 1 + len(table)
    assert any("±" in line and line.split()[1] == "cv2" for line in lines)


def test_a_run_replays_from_its_recipe_exactly_and_options_override_it(tmp_path, demo_root, capsys):
    out = tmp_path / "models"
    first_args = [
        "train",
        "--quiet",
        "--corpus",
        f"demo={demo_root}",
        "--cache-dir",
        str(tmp_path / "features"),
        "--features",
        "stats",
        "--model",
        "logreg",
        "--out",
        str(out),
    ]
    assert main(first_args) == 0
    first = _last_line(capsys)
    recipe = first / "recipe.yaml"
    where = ["--out", str(out), "--cache-dir", str(tmp_path / "features")]  # a recipe does not say where to write
    assert "out:" not in recipe.read_text() and "cache-dir:" not in recipe.read_text()
    assert main(["train", "--quiet", "--config", str(recipe), *where]) == 0
    again = _last_line(capsys)
    assert again != first and again.parent == out
    assert json.loads((again / "report.json").read_text()) == json.loads((first / "report.json").read_text())
    assert recipe.read_text() == (again / "recipe.yaml").read_text()
    assert main(["train", "--quiet", "--config", str(recipe), "--model", "knn", *where]) == 0  # the command line wins
    assert json.loads((_last_line(capsys) / "run.json").read_text())["model"] == "knn"
    toml = tmp_path / "recipe.toml"
    toml.write_text(
        f'corpus = ["demo={demo_root}"]\nfeatures = "stats"\nmodel = "knn"\naugment = "none"\nspeed_rate = [0.9, 1.1]\n'
    )
    assert main(["train", "--quiet", "--config", str(toml), *where]) == 0
    sidecar = json.loads((_last_line(capsys) / "run.json").read_text())
    assert (
        sidecar["model"] == "knn"
        and sidecar["augment"]["recipes"] == []
        and sidecar["augment"]["speed_rate"] == [0.9, 1.1]
    )


@pytest.mark.parametrize(
    "content, message",
    [
        ("epochs: 3\nbogus: 1\n", "'bogus' is not an option of ser-keras train"),
        ("epochs: [1, 2\n", "not valid YAML"),
        ("- epochs\n", "a recipe file holds a mapping"),
        ("log-power: maybe\n", "log-power takes true or false"),
    ],
)
def test_a_bad_recipe_file_is_one_line_naming_it(tmp_path, capsys, content, message):
    path = tmp_path / "recipe.yaml"
    path.write_text(content)
    assert main(["train", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0] and message in err[0], err


def test_a_value_from_a_recipe_is_checked_like_a_typed_one(tmp_path, capsys):
    path = tmp_path / "recipe.yaml"
    path.write_text("epochs: 0\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--config", str(path)])
    assert exit_info.value.code == 2 and "--epochs" in capsys.readouterr().err


def test_moving_features_and_models_together_keeps_evaluate_working(tmp_path, demo_root, capsys):
    home = tmp_path / "project"
    args = [
        "train",
        "--quiet",
        "--corpus",
        f"demo={demo_root}",
        "--cache-dir",
        str(home / "features"),
        "--features",
        "stats",
        "--augment",
        "none",
        "--model",
        "knn",
        "--out",
        str(home / "models"),
    ]
    assert main(args) == 0
    run = _last_line(capsys)
    report = json.loads((run / "report.json").read_text())
    moved = tmp_path / "elsewhere"
    shutil.move(home, moved)
    moved_run = moved / "models" / run.name
    assert main(["evaluate", "--quiet", str(moved_run)]) == 0
    assert (
        json.loads((moved_run / "eval-test" / "report.json").read_text())["unweighted_accuracy"]
        == report["unweighted_accuracy"]
    )
    shutil.rmtree(moved / "features")
    assert main(["evaluate", str(moved_run)]) == 2
    assert "its feature set is gone" in capsys.readouterr().err


def test_a_recipe_written_by_the_previous_release_replays_to_its_report(tmp_path, demo_root, capsys):
    """tests/fixtures/old_recipe.yaml is what the previous release wrote (with `out`, `cache-dir` and
    `model: null`-style family defaults); it replays to the report that release scored."""
    fixtures = Path(__file__).parent / "fixtures"
    where = ["--corpus", f"demo={demo_root}", "--out", str(tmp_path / "m"), "--cache-dir", str(tmp_path / "c")]
    assert main(["train", "--quiet", "--config", str(fixtures / "old_recipe.yaml"), *where]) == 0
    captured = capsys.readouterr()
    assert "is outside the current folder" in captured.err  # its absolute out/cache-dir are not followed
    run = Path(captured.out.strip().splitlines()[-1])
    assert run.parent == tmp_path / "m" and len(list((tmp_path / "c").glob("stats-*"))) == 1
    report = json.loads((run / "report.json").read_text())
    expected = json.loads((fixtures / "old_recipe_report.json").read_text())
    assert {key: report[key] for key in expected} == expected
    written = (run / "recipe.yaml").read_text()  # and what it writes now records resolved values
    assert "sr: 22050" in written and "lr: 0.001" in written and "batch-size: 32" in written and "out:" not in written


def test_train_from_python_writes_a_recipe_that_replays(demo_stats, tmp_path, capsys):
    from ser_keras.training.train import TrainOptions, train

    run = train(demo_stats, options=TrainOptions(model="logreg"), out_dir=tmp_path / "m", progress=False)
    recipe = run / "recipe.yaml"
    assert "model: logreg" in recipe.read_text() and "features: stats" in recipe.read_text()
    where = ["--out", str(tmp_path / "again"), "--cache-dir", str(tmp_path / "c")]
    assert main(["train", "--quiet", "--config", str(recipe), *where]) == 0
    again = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert json.loads((again / "report.json").read_text()) == json.loads((run / "report.json").read_text())
