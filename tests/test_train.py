import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ser_keras import ParameterError
from ser_keras.cli.main import main
from ser_keras.models import KERAS_MODELS, get_builder

SHAPES = {
    "conv1d": (162,),
    "conv1d_avgpool": (162,),
    "conv2d": (128, 40),
    "conv2d_pool": (128, 40),
    "cnn_lstm": (50, 162),
    "dnn": (2606,),
    "tdnn": (64, 170),
    "attention_lstm": (64, 170),
}
TRANSFER_SHAPE = (40, 48)  # small mel images keep the ImageNet backbones quick


@pytest.mark.parametrize("name", sorted(name for name, build in KERAS_MODELS.items() if build is not None))
def test_every_builder_gives_class_probabilities(name):
    import keras

    from ser_keras.models import TRANSFER_MODELS

    if name in TRANSFER_MODELS:
        shape, normalization = TRANSFER_SHAPE, (0.5, 0.1)
    else:
        shape = SHAPES[name]
        n = shape[0] if name.startswith("conv2d") else shape[-1]
        normalization = (np.zeros(n), np.ones(n))
    model = get_builder(name)(shape, 5, normalization=normalization)
    assert model.output_shape == (None, 5)
    names = [layer.name for layer in model.layers]
    assert len(names) == len(set(names)) and names[-1] == "emotion"
    assert ("utterance_norm" if name == "conv2d_pool" else "normalize") in names  # how each model normalises
    probs = model(np.random.default_rng(0).normal(size=(2, *shape)).astype("float32"))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(probs).sum(axis=1), 1.0, rtol=1e-5)


def test_unknown_model_lists_the_valid_ones():
    with pytest.raises(
        ParameterError,
        match="valid models are: conv1d, conv1d_avgpool, conv2d, conv2d_pool, cnn_lstm, dnn, tdnn, attention_lstm, "
        "fusion, densenet121, .*, "
        "resnext50_32x4d, mlp, knn, logreg, svm",
    ):
        get_builder("transformer")


def _train(demo_stats, tmp_path, *extra):
    args = ["train", "--quiet", "--features-dir", str(demo_stats.path), "--out", str(tmp_path), *extra]
    assert main(args) == 0


@pytest.mark.slow
def test_end_to_end_demo_beats_chance_and_exports(demo_stats, demo_conv1d_run, tmp_path, capsys):
    import tensorflow as tf

    from ser_keras.runs.folders import load_run

    run_dir = demo_conv1d_run  # the session's conv1d run (8 epochs, seed 0): read here, never changed
    report = json.loads((run_dir / "report.json").read_text())
    assert report["unweighted_accuracy"] > 2.0 * report["chance_ua"], report  # speaker-independent
    assert set(report["test_speakers"]).isdisjoint(json.loads((run_dir / "run.json").read_text())["speakers"]["train"])
    for key in ("accuracy", "weighted_accuracy", "macro_f1", "labels", "confusion_matrix", "per_class", "n_test"):
        assert key in report
    assert np.asarray(report["confusion_matrix"]).sum() == report["n_test"]
    for name in ("model.keras", "history.csv", "confusion_matrix.png", "curves.png"):
        assert (run_dir / name).stat().st_size > 0
    assert list((run_dir / "logs").rglob("*tfevents*"))
    # The SavedModel alone gives the Keras model's probabilities on raw feature arrays.
    sidecar, model = load_run(run_dir)
    assert sidecar["labels"] == demo_stats.labels and sidecar["seed"] == 0 and sidecar["replicas"] == 1
    X_test, _ = demo_stats.arrays("test")
    X = np.asarray(X_test[:16])
    loaded = tf.saved_model.load(str(run_dir / "saved_model"))  # keep a reference: its variables live on it
    served = loaded.serve(tf.constant(X)).numpy()
    np.testing.assert_allclose(served, model.predict(X, verbose=0), rtol=1e-5, atol=1e-6)
    # Normalisation inside the model was fitted on the training rows only (after the in-model log of the mel block).
    from ser_keras.models.layers import log_compress

    X_train, _ = demo_stats.arrays("train")
    norm = model.get_layer("normalize")
    expected_mean = log_compress(np.asarray(X_train), 34, 162).mean(axis=0)
    np.testing.assert_allclose(np.ravel(norm.mean), expected_mean, rtol=1e-4, atol=1e-5)
    # Same seed, same data: same metrics.
    _train(demo_stats, tmp_path / "b", "--epochs", "8", "--seed", "0")
    again = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert json.loads((again / "report.json").read_text())["confusion_matrix"] == report["confusion_matrix"]
    assert (
        pd.read_csv(again / "history.csv")["val_loss"].tolist()
        == pd.read_csv(run_dir / "history.csv")["val_loss"].tolist()
    )
    # evaluate re-scores the run on its own test split to the same figures.
    assert main(["evaluate", str(again), "--quiet"]) == 0
    assert (
        json.loads((again / "eval-test" / "report.json").read_text())["confusion_matrix"] == report["confusion_matrix"]
    )


@pytest.mark.slow
def test_a_plateau_really_lowers_the_learning_rate(demo_stats, tmp_path):

    from ser_keras.training.train import TrainOptions, train

    # Adam at 3.0, far too high: val_loss bounces by orders of magnitude, so epochs without improvement come;
    # where is chaotic, so each seed's history is checked against the rule and one of them must stall
    lowered = False
    for seed in range(4):
        options = TrainOptions(model="conv1d", epochs=8, lr=3.0, patience=100, lr_patience=1, seed=seed)
        run_dir = train(demo_stats, out_dir=tmp_path / str(seed), options=options, progress=False)
        history = pd.read_csv(run_dir / "history.csv")
        loss, rate = history["val_loss"].to_numpy(), history["learning_rate"].to_numpy()
        best = np.minimum.accumulate(loss)
        stalled = loss[1:-1] >= best[:-2] - 1e-4  # epochs 2..n-1 that did not improve on the best before them
        np.testing.assert_array_equal(rate[2:] < rate[1:-1], stalled)  # lr_patience 1: lowered right after each
        lowered = lowered or bool(stalled.any())
        if lowered:
            break
    assert lowered


def test_gender_variants_and_sklearn_baseline(demo_stats, tmp_path, capsys):
    _train(demo_stats, tmp_path, "--model", "knn", "--gender", "all")
    *runs, group = [Path(p) for p in capsys.readouterr().out.strip().splitlines()]
    assert [r.name.split("-")[2] for r in runs] == ["mixed", "male", "female"]
    group_json = json.loads((group / "group.json").read_text())
    assert {name: (group / rel).resolve() for name, rel in group_json["runs"].items()} == {
        name: run.resolve() for name, run in zip(("mixed", "male", "female"), runs)
    }
    assert (
        json.loads((group / "gender_report.json").read_text())["balanced_accuracy"] > 0.8
    )  # demo voices differ by gender
    manifest = demo_stats.manifest
    gender_of = dict(zip(manifest["speaker"], manifest["gender"]))
    for run in runs[1:]:
        sidecar = json.loads((run / "run.json").read_text())
        speakers = sum(sidecar["speakers"].values(), [])
        assert {gender_of[s] for s in speakers} == {sidecar["gender"]}
        assert (run / "model.skops").is_file() and (run / "report.json").is_file()


def test_unknown_gender_is_refused(tmp_path, capsys):
    from conftest import tone, write_wav

    rows = ["path,emotion,speaker"]
    for s in range(4):
        for emotion in ("angry", "sad"):
            write_wav(
                tmp_path / f"{s}{emotion}.wav", tone(sr=16000, seconds=3.2, freq=120 + 30 * s + 11 * (emotion == "sad"))
            )
            rows.append(f"{s}{emotion}.wav,{emotion},s{s}")
    (tmp_path / "list.csv").write_text("\n".join(rows) + "\n")
    code = main(
        [
            "train",
            "--quiet",
            "--corpus",
            f"csv={tmp_path / 'list.csv'}",
            "--cache-dir",
            str(tmp_path / "c"),
            "--gender",
            "male",
            "--model",
            "knn",
            "--features",
            "stats",
            "--out",
            str(tmp_path / "m"),
            "--jobs",
            "1",
        ]
    )
    assert code == 2 and "needs speaker genders" in capsys.readouterr().err


def test_cross_corpus_evaluate_scores_shared_emotions(demo_stats, tmp_path, demo_root, capsys):
    _train(demo_stats, tmp_path, "--model", "knn")
    run_dir = Path(capsys.readouterr().out.strip().splitlines()[-1])
    code = main(
        [
            "evaluate",
            str(run_dir),
            "--quiet",
            "--corpus",
            f"demo={demo_root}",
            "--emotions",
            "angry,sad,calm",
            "--cache-dir",
            str(tmp_path / "c"),
            "--jobs",
            "1",
        ]
    )
    assert code == 0
    report = json.loads((run_dir / "eval-demo" / "report.json").read_text())
    assert report["labels"] == ["sad", "angry"] and report["shared_emotions"] == ["sad", "angry"]
    assert report["n_test"] == 128 and "cross-corpus" in report["note"]


def _run_python(code, env=None, timeout=600):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env)


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus(demo_stats, tmp_path):
    code = (
        "import sys; from ser_keras.cli.main import main; "
        f"sys.exit(main(['train', '--quiet', '--features-dir', r'{demo_stats.path}', '--out', r'{tmp_path}', "
        "'--devices', '2', '--epochs', '2', '--batch-size', '16']))"
    )
    proc = _run_python(code)
    assert proc.returncode == 0, proc.stderr[-2000:]
    sidecar = json.loads((Path(proc.stdout.strip().splitlines()[-1]) / "run.json").read_text())
    assert sidecar["strategy"] == "MirroredStrategy" and sidecar["replicas"] == 2 and sidecar["global_batch_size"] == 32


def _free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_multi_worker_strategy_with_two_local_workers(demo_stats, tmp_path):
    """Two worker processes on 127.0.0.1 train one model in sync: same weights, same metrics."""
    cluster = {"worker": [f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"]}
    workers = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        code = (
            "import sys; from ser_keras.cli.main import main; "
            f"sys.exit(main(['train', '--quiet', '--features-dir', r'{demo_stats.path}', "
            f"'--out', r'{tmp_path / str(index)}', "
            "'--strategy', 'multi-worker', '--epochs', '3', '--batch-size', '16']))"
        )
        workers.append(
            subprocess.Popen(
                [sys.executable, "-c", code], env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        )
    outputs = [worker.communicate(timeout=600) for worker in workers]
    for worker, (_, err) in zip(workers, outputs):
        assert worker.returncode == 0, err[-3000:]
    runs = [Path(out.strip().splitlines()[-1]) for out, _ in outputs]
    # the chief (worker 0) writes where it was told; the other worker writes to a scratch folder
    assert runs[0].parent == tmp_path / "0" and not (tmp_path / "1").exists()
    sidecar = json.loads((runs[0] / "run.json").read_text())
    assert sidecar["replicas"] == 2 and sidecar["global_batch_size"] == 32 and sidecar["epochs_run"] == 3
    histories = [pd.read_csv(run / "history.csv").drop(columns=["epoch_seconds", "phase"]) for run in runs]
    assert list(histories[0].columns) == list(histories[1].columns) and len(histories[0]) == 3
    np.testing.assert_allclose(histories[0].to_numpy(), histories[1].to_numpy(), rtol=1e-6)
    assert np.isfinite(histories[0]["val_loss"]).all()
    from ser_keras.runs.model_files import load_keras_model  # the package's layers registered, as a user's load

    weights = [load_keras_model(run / "model.keras").get_weights() for run in runs]
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_a_long_run_title_is_wrapped_inside_the_confusion_figure(tmp_path, monkeypatch):
    """A run's name is long: its title must stay inside the figure, not be clipped at the edges."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ser_keras.evaluation.report import plot_confusion

    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    labels = ["neutral", "happy", "sad"]
    report = {
        "confusion_matrix": [[3, 1, 0], [0, 4, 1], [1, 0, 5]],
        "labels": labels,
        "unweighted_accuracy": 0.8,
        "weighted_accuracy": 0.8,
        "n_test": 15,
    }
    title = (
        "functionals-logreg-mixed-global-seed0-20261127-132935: logreg on ravdess+cremad (functionals, mixed, global)"
    )
    plot_confusion(report, tmp_path / "cm.png", title=title)
    fig = figures[0]
    fig.canvas.draw()
    box = fig.axes[0].title.get_window_extent(fig.canvas.get_renderer())
    assert box.x0 >= 0 and box.x1 <= fig.bbox.width
    assert fig.axes[0].title.get_text().replace("\n", " ").startswith(title)
    monkeypatch.undo()
    plt.close(fig)


def test_a_new_model_is_one_spec(demo_stats, tmp_path, monkeypatch):
    """Registering one `ModelSpec` is all a new model needs: the suitability check, the family
    defaults, training and the CLI's help read it."""
    import keras

    import ser_keras.models as models
    from ser_keras.features.config import FeatureConfig
    from ser_keras.models import ModelSpec
    from ser_keras.training.train import TrainOptions, check_recipe, train

    def build_linear(input_shape, num_classes, *, normalization=None, log_columns=None):
        inputs = keras.Input(shape=input_shape, name="features")
        x = keras.layers.Normalization(mean=normalization[0], variance=normalization[1], name="normalize")(inputs)
        return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax", name="emotion")(x))

    spec = ModelSpec(
        "linear",
        "keras",
        ("vector",),
        "a linear softmax",
        build_linear,
        defaults={"optimizer": "adam", "lr": 0.01, "batch_size": 8, "patience": 2, "spec_augment": False},
    )
    monkeypatch.setitem(models.MODELS, "linear", spec)
    resolved = check_recipe(TrainOptions(model="linear"), demo_stats.features)
    assert (resolved.lr, resolved.batch_size, resolved.patience) == (0.01, 8, 2)
    with pytest.raises(ParameterError, match="--model linear does not take mel features; extract with --features"):
        check_recipe(TrainOptions(model="linear"), FeatureConfig.for_kind("mel"))
    assert "linear: a linear softmax" in models.models_help()
    run = train(demo_stats, options=TrainOptions(model="linear", epochs=2), out_dir=tmp_path, progress=False)
    sidecar = json.loads((run / "run.json").read_text())
    assert sidecar["model"] == "linear" and sidecar["global_batch_size"] == 8


def test_a_scikit_learn_run_never_imports_tensorflow(demo_stats, tmp_path):
    """Training (and predicting with) a baseline, from the command line or Python, needs no TensorFlow."""
    import subprocess
    import sys

    code = (
        "import sys, warnings, ser_keras as sk\n"
        f"run = sk.train({str(demo_stats.path)!r}, options=sk.TrainOptions(model='logreg'), "
        f"out_dir={str(tmp_path)!r})\n"
        "clip = sk.FeatureSet(run.sidecar['feature_set']).manifest['path'].iloc[0]\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    answer = run.predict(clip)\n"
        "print(answer['emotion'] in run.predictor.labels, "
        "any('synthetic demo corpus' in str(w.message) for w in caught), "
        "'tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    # A demo run warns that its answers on speech mean nothing; nothing imports TensorFlow.
    assert done.stdout.split() == ["True", "True", "False", "False"], done.stdout
    assert done.stderr.strip() == "", done.stderr[-2000:]  # no TensorFlow start-up lines either
