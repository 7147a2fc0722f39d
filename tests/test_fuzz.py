"""No option value, on the command line or in a recipe file, ends in a traceback (exit 3).

Hypothesis draws values for every option from its declared type (numbers at and past their
bounds, non-finite ones, text where a number goes ...).  ``train``, ``cv`` and ``extract`` are
run up to the work itself (which is replaced by a marker), so every check that comes before the
work is exercised; ``predict`` runs whole on a scikit-learn run."""

from __future__ import annotations

import argparse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ser_keras.cli.main import build_parser, main

#: Values Hypothesis draws for an option, whatever its type.
ANY_VALUE = st.one_of(
    st.integers(min_value=-(10**25), max_value=10**25).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["0", "-1", "1e-9", "1e26", "nan", "inf", "", "none", "1,2", "-3.0,3.0", "all", "x" * 300]),
    st.text(max_size=12),
)
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


def _valued_options(parser: argparse.ArgumentParser, *, skip=()) -> list[str]:
    """The long options of ``parser`` that take a value (not switches, not where output goes)."""
    names = []
    for action in parser._actions:
        if not action.option_strings or action.nargs == 0 or isinstance(action, argparse.BooleanOptionalAction):
            continue
        flag = next((o for o in action.option_strings if o.startswith("--")), None)
        if flag and flag[2:] not in skip:
            names.append(flag)
    return names


def test_every_numeric_option_has_both_bounds():
    """A number type without a ceiling (``type=int``) would let ``--epochs 1e20`` through to the work."""
    unbounded = []
    for command, parser in _commands().items():
        for action in parser._actions:
            convert = action.type
            if getattr(convert, "__name__", None) not in ("int", "float"):
                continue
            for text in ("99999999999999999999", "-99999999999999999999"):
                try:
                    convert(text)
                except argparse.ArgumentTypeError:
                    continue
                unbounded.append(f"{command} {action.option_strings[0]} {text}")
    assert unbounded == []


def _run(words: list[str]) -> int:
    try:
        return main(words)
    except SystemExit as exited:  # argparse's refusal, or the marker standing in for the work
        return int(exited.code or 0)


class _Reached(SystemExit):
    """Raised where the work would start: every check before it passed."""


@pytest.fixture
def no_work(monkeypatch):
    from ser_keras.extraction import extract
    from ser_keras.training import cv

    def reached(*args, **kwargs):
        raise _Reached(0)

    monkeypatch.setattr(extract, "extract_features", reached)
    monkeypatch.setattr(cv, "cross_validate", reached)


OUTPUTS = ("out", "cache-dir", "config", "recipe", "features-dir", "scheduler", "output", "plot", "timeline")


@pytest.mark.parametrize("command", ["train", "cv", "extract"])
def test_no_option_value_of_a_recipe_command_is_a_traceback(command, no_work, demo_root, tmp_path, capsys):
    options = _valued_options(_commands()[command], skip=OUTPUTS + ("corpus", "cremad-demographics"))

    @FUZZ
    @given(st.dictionaries(st.sampled_from(options), ANY_VALUE, min_size=1, max_size=3))
    def check(chosen):
        words = [command, "--quiet", "--corpus", f"demo={demo_root}", "--cache-dir", str(tmp_path / "f")]
        if command != "extract":
            words += ["--out", str(tmp_path / "m")]
        for flag, value in chosen.items():
            words.append(f"{flag}={value}")
        code = _run(words)
        captured = capsys.readouterr()
        assert code in (0, 2), (words, captured.err[-500:])
        assert "internal error" not in captured.err and "Traceback" not in captured.err

    check()


def test_no_option_value_of_predict_is_a_traceback(logreg_run, clip, tmp_path, capsys):
    options = ["--window", "--hop", "--gender", "--segments"]

    @FUZZ
    @given(st.dictionaries(st.sampled_from(options), ANY_VALUE, max_size=3), st.sampled_from(["fixed", "energy"]))
    def check(chosen, mode):
        words = ["predict", str(logreg_run), str(clip), "--segments", mode]
        for flag, value in chosen.items():
            words.append(f"{flag}={value}")
        code = _run(words)
        captured = capsys.readouterr()
        assert code in (0, 1, 2), (words, captured.err[-500:])
        assert "internal error" not in captured.err

    check()


def test_no_evaluate_or_runs_option_value_is_a_traceback(logreg_run, tmp_path, capsys):
    @FUZZ
    @given(ANY_VALUE, ANY_VALUE, st.sampled_from(["table", "csv", "json"]))
    def check(seed, jobs, form):
        code = _run(["evaluate", str(tmp_path / "absent"), "--shift=quiet", f"--shift-seed={seed}", f"--jobs={jobs}"])
        assert code == 2
        assert _run(["runs", "--out", str(tmp_path), f"--sort={seed}", f"--format={form}"]) in (0, 2)
        assert "internal error" not in capsys.readouterr().err

    check()


#: Recipe values as YAML and TOML hold them: scalars and flat lists.
RECIPE_VALUE = st.one_of(
    st.integers(min_value=-(10**26), max_value=10**26),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=12),
    st.lists(st.one_of(st.integers(-(10**6), 10**6), st.floats(), st.text(max_size=6)), max_size=4),
)


@pytest.mark.parametrize("command", ["train", "cv"])
def test_no_recipe_file_value_is_a_traceback(command, no_work, demo_root, tmp_path, capsys):
    import yaml

    from ser_keras.training.recipe import recipe_options

    names = sorted(recipe_options() - {"out", "cache-dir", "corpus", "cremad-demographics", "features-dir"})

    @FUZZ
    @given(st.dictionaries(st.sampled_from(names), RECIPE_VALUE, min_size=1, max_size=4))
    def check(recipe):
        path = tmp_path / "recipe.yaml"
        path.write_text(yaml.safe_dump(recipe))
        words = [command, "--quiet", "--config", str(path), "--corpus", f"demo={demo_root}"]
        code = _run([*words, "--out", str(tmp_path / "m"), "--cache-dir", str(tmp_path / "f")])
        captured = capsys.readouterr()
        assert code in (0, 2), (recipe, captured.err[-500:])
        assert "internal error" not in captured.err

    check()
