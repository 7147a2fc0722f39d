import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from ser_keras.cli.main import build_parser, main

SUBCOMMANDS = ["manifest", "extract", "train", "cv", "evaluate", "predict", "runs", "app", "export"]


def test_help_for_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "SYNTHETIC demo corpus" in out
    for name in SUBCOMMANDS:
        assert name in out
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0
        assert "usage: ser-keras " + name in capsys.readouterr().out


def test_every_registered_subcommand_is_listed():
    parser = build_parser()
    actions = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    assert sorted(actions[0].choices) == sorted(SUBCOMMANDS)


def test_errors_are_one_line_and_exit_2(capsys, tmp_path):
    code = main(["manifest", "--corpus", f"tess={tmp_path / 'missing'}"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().count("\n") == 0 and "corpus folder not found" in err and "Traceback" not in err


def test_manifest_command_writes_csv_and_plot(tmp_path, demo_root, capsys):
    out_csv, out_png = tmp_path / "m.csv", tmp_path / "counts.png"
    code = main(
        [
            "manifest",
            "--corpus",
            f"demo={demo_root}",
            "--with-split",
            "--emotions",
            "angry,sad",
            "--output",
            str(out_csv),
            "--plot",
            str(out_png),
        ]
    )
    assert code == 0
    frame = pd.read_csv(out_csv, dtype=str)
    assert {"path", "corpus", "speaker", "gender", "emotion", "split"} <= set(frame.columns)
    assert set(frame["emotion"]) == {"angry", "sad"} and len(frame) == 128
    assert frame.groupby("speaker")["split"].nunique().max() == 1
    assert out_png.stat().st_size > 5000
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(out_csv)
    assert main(["manifest", "--corpus", f"demo={demo_root}", "--output", str(out_csv), "--quiet"]) == 0
    assert capsys.readouterr().out.strip().splitlines() == [str(out_csv)]
    assert len(pd.read_csv(out_csv)) == 352


def test_python_dash_m_entry_point():
    proc = subprocess.run([sys.executable, "-m", "ser_keras", "--version"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("ser-keras ")


def test_quiet_prints_only_the_path_and_otherwise_a_summary_precedes_it(tmp_path, demo_root, demo_stats, capsys):
    """Every command's stdout: without --quiet one summary line, then the result path as the last line."""
    cache = demo_stats.path.parent  # the fixture's cache: extract is a hit
    extract = [
        "extract",
        "--features",
        "stats",
        "--augment",
        "none",
        "--corpus",
        f"demo={demo_root}",
        "--cache-dir",
        str(cache),
    ]
    train = ["train", "--features-dir", str(demo_stats.path), "--model", "knn", "--out", str(tmp_path / "m")]

    def stdout_of(args):
        assert main(args) == 0, args
        captured = capsys.readouterr()
        return captured.out.strip().splitlines(), captured.err

    lines, _ = stdout_of([*extract, "--quiet"])
    assert lines == [str(demo_stats.path)]
    lines, _ = stdout_of(extract)
    assert lines[-1] == str(demo_stats.path) and len(lines) == 2 and "feature set found in the cache" in lines[0]
    lines, err = stdout_of([*train, "--quiet"])
    assert len(lines) == 1 and (tmp_path / "m" / lines[0]).parent.is_dir() and err == ""
    run = lines[0]
    lines, _ = stdout_of(train)
    assert len(lines) == 2 and lines[0].startswith("mixed: UA ") and "macro-F1" in lines[0] and "n=" in lines[0]
    lines, err = stdout_of(["evaluate", run, "--quiet"])
    assert lines == [str(Path(run) / "eval-test")] and err == ""  # a new folder: the run's own files stay as they are
    lines, _ = stdout_of(["evaluate", run])
    assert lines[-1] == str(Path(run) / "eval-test-2") and len(lines) == 2 and lines[0].startswith("UA ")


def test_a_bad_option_value_is_one_line_naming_it_and_where_help_is():
    done = subprocess.run(
        [sys.executable, "-m", "ser_keras", "train", "--epochs", "0"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        "ser-keras train: error: argument --epochs: must be >= 1, got 0 (see ser-keras train --help)"
    ]


def test_every_option_states_its_default_in_its_help():
    import argparse

    from ser_keras.training.arguments import HelpFormatter as _HelpFormatter

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    missing = []
    for name, command in commands.items():
        formatter = _HelpFormatter(name)
        for action in command._actions:
            if action.option_strings and not isinstance(action, argparse._HelpAction):
                if "default" not in formatter._get_help_string(action).lower():
                    missing.append(f"{name} {action.option_strings[0]}")
    assert missing == []


@pytest.mark.parametrize("command", ["train", "cv"])
def test_every_training_option_field_has_exactly_one_flag_with_its_default(command):
    import argparse

    from ser_keras.data.splits import SplitConfig
    from ser_keras.features.registry import DEFAULT_KIND, FeatureConfig
    from ser_keras.options import default_of, flag_of, option_fields
    from ser_keras.signal.augment import AugmentConfig
    from ser_keras.training.options import TrainOptions
    from ser_keras.training.pipeline import SpecAugmentOptions

    parser = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    classes = (TrainOptions, SpecAugmentOptions, FeatureConfig, AugmentConfig)
    for cls in (*classes, *((SplitConfig,) if command == "train" else ())):
        for field in option_fields(cls):
            actions = [a for a in parser._actions if a.dest == field.name]
            assert len(actions) == 1, field.name
            default = default_of(field)
            if field.metadata["cli"]["text"] is not None and default is not None:
                default = field.metadata["cli"]["text"](default)  # as typed: argparse converts it
            assert actions[0].option_strings[0] == flag_of(field) and actions[0].default == default
    args = parser.parse_args([])  # and no flag at all gives the dataclass's own defaults
    from ser_keras.training.arguments import feature_configs, training_options

    assert training_options(args) == TrainOptions()
    # feature options left unset are the default kind's own; augmentation is the dataclass's default
    assert feature_configs(args) == (FeatureConfig.for_kind(DEFAULT_KIND), AugmentConfig())
    assert all(default_of(field) is None for field in option_fields(FeatureConfig))


def test_one_version_number_the_citation_and_the_changelog_agree():
    import re

    from ser_keras import __version__

    root = Path(__file__).resolve().parents[1]
    assert re.search(r"^version: (\S+)$", (root / "CITATION.cff").read_text(), re.M).group(1) == __version__
    assert re.search(r"^## (\S+)$", (root / "CHANGELOG.md").read_text(), re.M).group(1) == __version__
    assert "MIT License" in (root / "LICENSE").read_text()
