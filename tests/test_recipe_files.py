"""Recipes as one type: `ser_keras.training.recipe.Recipe` (YAML, TOML, dict), ``--config`` and ``--recipe NAME``."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import yaml

from ser_keras.cli.main import main
from ser_keras.errors import ParameterError
from ser_keras.features.config import FeatureConfig
from ser_keras.signal.augment import AugmentConfig
from ser_keras.training.options import TrainOptions
from ser_keras.training.recipe import Recipe

FIXTURES = Path(__file__).parent / "fixtures"


def test_a_recipe_reads_through_the_command_line_schema_into_the_library_objects():
    recipe = Recipe.from_dict({"features": "lld", "model": "dnn", "epochs": 3, "augment": "noise,stretch+pitch"})
    assert recipe.features == FeatureConfig.for_kind("lld")
    assert recipe.augment == AugmentConfig(recipes=(("noise",), ("stretch", "pitch")))
    assert recipe.train == TrainOptions(model="dnn", epochs=3)
    assert recipe.split.split == "speaker" and recipe.gender == "mixed" and recipe.corpora == ["demo"]
    # nothing given: every default, the same as the command line's and the dataclasses'
    assert Recipe.from_dict({}).train == TrainOptions() and Recipe.from_dict({}).augment == AugmentConfig()


def test_a_recipe_round_trips_through_dict_yaml_and_toml():
    recipe = Recipe.from_dict({"model": "dnn", "speed-rate": [0.9, 1.1], "log_power": False, "corpus": ["demo"]})
    assert Recipe.from_dict(recipe.to_dict()) == recipe
    assert Recipe.from_dict(yaml.safe_load(recipe.to_yaml())) == recipe
    assert Recipe.from_dict(tomllib.loads(recipe.to_toml())) == recipe
    assert recipe.train.log_power is False and recipe.augment.speed_rate == (0.9, 1.1)
    sized = Recipe.from_dict({"model": "resnet50", "image-size": "64x64"})
    assert sized.to_dict()["image-size"] == "64x64" and Recipe.from_dict(sized.to_dict()).train.image_size == (64, 64)
    assert Recipe.from_dict({"image-size": [64, 48]}).train.image_size == (64, 48)  # a list, as older recipes wrote
    assert Recipe.from_dict({"model": "resnet50", "image-size": "none"}).train.image_size is None  # as extracted


def test_a_run_recipe_file_of_the_previous_release_loads_as_a_recipe():
    recipe = Recipe.from_file(FIXTURES / "old_recipe.yaml")
    written = yaml.safe_load((FIXTURES / "old_recipe.yaml").read_text())
    assert recipe.train.model == written["model"] and recipe.features.kind == written["features"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"epochs": 0}, "argument --epochs: must be >= 1, got 0"),
        ({"epoch": 3}, "'epoch' is not an option of ser-keras train"),
        ({"augment": "wobble"}, "unknown augmentation 'wobble'"),
        ({"folds": 3}, "'folds' is not an option of ser-keras train"),
    ],
)
def test_a_bad_recipe_value_is_one_error_naming_the_option(data, message):
    with pytest.raises(ParameterError, match="^recipe: ") as caught:
        Recipe.from_dict(data)
    assert message in str(caught.value)


def test_cv_recipes_take_folds_but_no_split():
    recipe = Recipe.from_dict({"folds": 5}, command="cv")
    assert recipe.values["folds"] == 5 and recipe.split is None


def test_every_shipped_recipe_is_a_valid_recipe_of_train_and_cv():
    from ser_keras.training.arguments import shipped_recipes

    names = shipped_recipes()
    assert {"default", "linear", "seed-conv1d", "deep", "fusion", "transfer-scratch"} <= set(names)
    for name in names:
        for command in ("train", "cv"):
            Recipe.from_file(Path(__file__).parents[1] / "ser_keras" / "recipes" / f"{name}.yaml", command=command)
    default, shipped = Recipe.from_dict({}), Recipe.from_file(_shipped("default"))  # the default recipe is the default
    assert default.train.resolve(default.features.kind_spec.default_model) == shipped.train.resolve("fusion")
    assert (default.features, default.augment) == (shipped.features, shipped.augment)
    # the default is the fusion recipe; the linear recipe is the kind default of the functionals
    assert Recipe.from_file(_shipped("fusion")).values == shipped.values
    linear = Recipe.from_file(_shipped("linear"))
    assert linear.train.resolve("logreg") == Recipe.from_dict({"features": "functionals"}).train.resolve("logreg")


def _shipped(name: str) -> Path:
    return Path(__file__).parents[1] / "ser_keras" / "recipes" / f"{name}.yaml"


def test_recipe_name_is_taken_like_config_and_the_command_line_wins(tmp_path, capsys):
    from ser_keras.training.arguments import recipe_parser
    from ser_keras.training.recipe import expand_config

    words = expand_config(recipe_parser("train"), "train", ["--recipe", "seed-conv1d", "--epochs", "2"])
    args = recipe_parser("train").parse_args(words)
    assert (args.features, args.model, args.recipes, args.log_power, args.epochs) == ("stats", "conv1d", (), False, 2)
    assert main(["train", "--recipe", "no-such-recipe"]) == 2
    assert "'no-such-recipe' is neither a shipped recipe (deep, default, fusion, " in capsys.readouterr().err


def test_a_command_passes_over_the_recipe_keys_it_does_not_use_but_not_typos(tmp_path, monkeypatch):
    from ser_keras.cli.main import build_parser
    from ser_keras.training.recipe import expand_config

    monkeypatch.chdir(tmp_path)
    extract = next(a for a in build_parser()._actions if hasattr(a, "choices") and a.choices)
    parser = extract.choices["extract"]
    words = expand_config(parser, "extract", ["--recipe", "linear"])  # model, C ...: train's, not extract's
    args = parser.parse_args(words)
    assert args.features == "functionals" and "--model" not in " ".join(words)
    (tmp_path / "typo.yaml").write_text("features: functionals\nmodle: logreg\n")
    with pytest.raises(ParameterError, match="'modle' is not an option of ser-keras extract"):
        expand_config(parser, "extract", ["--config", "typo.yaml"])
