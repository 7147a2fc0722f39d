"""Several corpora in one run: speakers qualified by corpus, labels cut to the emotions they share."""

from __future__ import annotations

import json
from pathlib import Path

from ser_keras.cli.main import main
from ser_keras.data.corpora import build_manifest

from conftest import small_csv


def test_shared_emotions_and_qualified_speakers(demo_root, tmp_path):
    listing = small_csv(tmp_path / "mine")
    manifest = build_manifest([f"demo={demo_root}", f"csv={listing}"], emotions="shared")
    assert sorted(manifest["emotion"].unique()) == ["angry", "sad"]
    assert set(manifest["corpus"]) == {"demo", "csv"}
    by_corpus = manifest.groupby("corpus")["speaker"].agg(set)
    assert by_corpus["demo"].isdisjoint(by_corpus["csv"])  # "s0" of one corpus is not "01" of the other
    assert all(speaker.startswith(f"{corpus}:") for corpus, speaker in zip(manifest["corpus"], manifest["speaker"]))
    everything = build_manifest([f"demo={demo_root}", f"csv={listing}"])
    assert len(set(everything["emotion"])) > 2


def test_train_and_cv_on_two_corpora(demo_root, demo_cache, tmp_path, capsys):
    listing = small_csv(tmp_path / "mine")
    corpora = ["--corpus", f"demo={demo_root}", "--corpus", f"csv={listing}", "--emotions", "shared"]
    common = [*corpora, "--features", "stats", "--augment", "none", "--model", "knn", "--cache-dir", str(demo_cache)]
    assert main(["train", "--quiet", *common, "--out", str(tmp_path / "runs")]) == 0
    run_dir = Path(capsys.readouterr().out.strip().splitlines()[-1])
    sidecar = json.loads((run_dir / "run.json").read_text())
    assert sorted(sidecar["labels"]) == ["angry", "sad"]
    assert sorted(sidecar["corpora"]) == sorted([f"demo={demo_root}", f"csv={listing}"])
    speakers = sidecar["speakers"]
    assert {s.split(":")[0] for s in speakers["train"]} == {"demo", "csv"}
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        assert set(speakers[a]).isdisjoint(speakers[b])
    assert main(["cv", "--quiet", *common, "--folds", "3", "--out", str(tmp_path / "cv")]) == 0
    cv = json.loads((Path(capsys.readouterr().out.strip().splitlines()[-1]) / "cv.json").read_text())
    tested = [set(fold["test_speakers"]) for fold in cv["folds"]]
    assert len(cv["folds"]) == 3 and set.union(*tested) >= {f"csv:s{i}" for i in range(4)}
    assert all(a.isdisjoint(b) for i, a in enumerate(tested) for b in tested[i + 1 :])
