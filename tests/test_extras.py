"""The install's extras: every module an extra brings is known to `ser_keras.cli.extras`, and a command that
meets a missing one names the extra in one line (exit 2)."""

from __future__ import annotations

import configparser
import importlib.metadata
import re
import sys
from pathlib import Path

from ser_keras.cli.extras import EXTRA_MODULES, missing_extra
from ser_keras.cli.main import main

from conftest import one_error_line

SETUP_CFG = Path(__file__).resolve().parents[1] / "setup.cfg"


def _setup_cfg() -> configparser.ConfigParser:
    config = configparser.ConfigParser()
    config.read(SETUP_CFG)
    return config


def _extras() -> dict[str, list[str]]:
    extras = _setup_cfg()["options.extras_require"]
    return {
        name: [re.split(r"[<>=!\[ ]", line.strip())[0] for line in extras[name].split("\n") if line.strip()]
        for name in extras
    }


def test_every_distribution_of_an_extra_maps_to_its_modules():
    # the modules each installed distribution provides, from its own metadata
    provided = {}
    for module, distributions in importlib.metadata.packages_distributions().items():
        for distribution in distributions:
            provided.setdefault(distribution.lower().replace("_", "-"), set()).add(module)
    for extra, modules in EXTRA_MODULES.items():
        for distribution in _extras()[extra]:
            mine = {m for m in provided[distribution.lower()] if not m.startswith("_")}
            assert mine & set(modules), f"[{extra}] {distribution} provides {mine}, none in EXTRA_MODULES"
    required = _setup_cfg()["options"]["install_requires"]
    assert "tensorflow" not in required and "librosa" not in required and "ai-edge-litert" in required


def test_a_missing_module_names_its_extra():
    assert missing_extra(ModuleNotFoundError("No module named 'scipy'", name="scipy"), command="train") == (
        "needs the 'train' extra (no module named 'scipy'): pip install 'ser-keras[train]'"
    )
    # the command's own extra first when several bring the module
    assert "'app' extra" in missing_extra(ModuleNotFoundError(name="matplotlib.pyplot"), command="app")
    assert "'train' extra" in missing_extra(ModuleNotFoundError(name="matplotlib"), command="evaluate")
    assert missing_extra(ModuleNotFoundError(name="left_pad")) is None
    assert missing_extra(ValueError("scipy")) is None


def test_the_command_line_says_which_extra_a_command_needs(monkeypatch, capsys):
    import ser_keras.cli.main as cli

    parser = cli.build_parser()
    train = next(a for a in parser._actions if a.dest == "command").choices["train"]
    train.set_defaults(func=_needs_scipy)
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    for name in ("scipy", "scipy.signal"):  # as in a plain install
        monkeypatch.setitem(sys.modules, name, None)
    assert main(["train"]) == 2
    one_error_line(
        capsys,
        "ser-keras train: error: needs the 'train' extra (no module named 'scipy'): pip install 'ser-keras[train]'",
    )


def _needs_scipy(args):
    import scipy.signal  # noqa: F401 - what a training command imports first

    return 0


def test_the_page_names_its_extra_before_starting_a_server(monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "streamlit" else real(name, *a))
    assert main(["app"]) == 2
    one_error_line(
        capsys,
        "ser-keras app: error: needs the 'app' extra (no module named 'streamlit'): pip install 'ser-keras[app]'",
    )
