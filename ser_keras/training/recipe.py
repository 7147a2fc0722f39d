"""Recipe files: ``--config FILE`` (YAML or TOML) and the ``recipe.yaml`` every run writes.

A recipe file is a mapping whose keys are a command's long options, with ``-`` or
``_`` (``epochs: 30``, ``augment: speed``, ``speed-rate: [0.85, 1.15]``,
``log-power: false``).  `expand_config` turns it into command-line words placed
before the user's own, so every value goes through the same argparse types and
checks as when typed, and an option given on the command line replaces the file's.

`resolved_recipe` is the other direction: the parsed options of a run as such a
mapping, written to ``RUN/recipe.yaml`` so that ``ser-keras train --config
RUN/recipe.yaml`` replays the run.

Examples
--------
A ``recipe.yaml``::

    corpus: [ravdess=../shared/data/ravdess]
    features: functionals
    augment: speed
    model: logreg
    normalize: speaker
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import ParameterError
from ..files import atomic_write_text, read_text
from ..layout import RECIPE_FILE

#: Options that are about this invocation, not the recipe: never written to recipe.yaml.
NOT_RECIPE = ("config", "recipe", "quiet", "func", "command", "jobs", "scheduler", "parser")
#: Where an invocation writes.  A recipe file says what to run, not where: these keys are honoured
#: only as relative paths inside the current folder, and never written to recipe.yaml.
OUTPUT_OPTIONS = ("out", "cache-dir")
#: The largest recipe file read (a recipe is a few dozen lines).
MAX_RECIPE_BYTES = 64 * 1024
#: The longest list a recipe value may hold.
MAX_LIST = 64


def _no_alias_loader():
    """PyYAML's SafeLoader without aliases: ``*name`` is refused, so no alias bomb can expand."""
    import yaml

    class NoAliasLoader(yaml.SafeLoader):
        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                mark = self.peek_event().start_mark
                raise yaml.YAMLError(f"line {mark.line + 1}: aliases (*name) are not allowed in a recipe file")
            return super().compose_node(parent, index)

    return NoAliasLoader


def read_config(path: str | os.PathLike) -> dict:
    """The mapping in a ``.yaml``/``.yml`` or ``.toml`` file.

    A recipe is untrusted input: YAML is read with the safe loader and without aliases
    (`_no_alias_loader`), the file may hold at most `MAX_RECIPE_BYTES`, and every value
    must be a scalar or a flat list of at most `MAX_LIST` scalars (`_check_value`).

    Raises
    ------
    ParameterError
        Missing, not a regular file, too large, unparsable, holding an alias, not a
        mapping, or another extension; naming the file.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".toml"):
        raise ParameterError(f"{path}: a recipe file is .yaml, .yml or .toml")
    text = read_text(path, what="recipe file", limit=MAX_RECIPE_BYTES)
    try:
        if suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        else:
            import yaml

            data = yaml.load(text, Loader=_no_alias_loader())  # noqa: S506 - a SafeLoader subclass
    except Exception as exc:  # noqa: BLE001 - yaml.YAMLError, tomllib.TOMLDecodeError
        raise ParameterError(f"{path}: not valid {suffix[1:].upper()} ({' '.join(str(exc).split())})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParameterError(f"{path}: a recipe file holds a mapping of option: value")
    for key, value in data.items():
        _check_value(path, key, value)
    return data


def _check_value(source: Path, key, value) -> None:
    """Refuse a recipe value that is not a scalar or a flat list of scalars, naming the key."""
    scalar = (str, int, float, bool, type(None))
    if not isinstance(key, str):
        raise ParameterError(f"{source}: option names are text, got {key!r}")
    if isinstance(value, scalar):
        return
    if isinstance(value, list):
        if len(value) > MAX_LIST:
            raise ParameterError(f"{source}: {key} holds {len(value)} values; at most {MAX_LIST}")
        if all(isinstance(v, scalar) for v in value):
            return
    raise ParameterError(f"{source}: {key} takes a value or a flat list of values, not {type(value).__name__} nesting")


def _inside_here(value) -> bool:
    """A relative path that stays inside the current folder."""
    path = Path(str(value))
    return not path.is_absolute() and ".." not in path.parts and not str(value).startswith("~")


def _option_actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Long option name without dashes (``speed-rate``) -> its action."""
    out = {}
    for action in parser._actions:  # argparse has no public accessor for a parser's actions
        for option in action.option_strings:
            if option.startswith("--") and not option.startswith("--no-"):
                out[option[2:]] = action
    return out


def _given(action: argparse.Action, words: Sequence[str]) -> bool:
    """Whether ``action`` appears among the command-line ``words`` (any spelling, ``--opt=value`` too)."""
    spellings = set(action.option_strings)
    return any(word in spellings or word.split("=", 1)[0] in spellings for word in words if word.startswith("-"))


def _words(option: str, action: argparse.Action, value, source: Path) -> list[str]:
    flag = f"--{option}"
    if value is None:
        return []
    if isinstance(action, argparse.BooleanOptionalAction):
        if not isinstance(value, bool):
            raise ParameterError(f"{source}: {option} takes true or false, got {value!r}")
        return [flag if value else f"--no-{option}"]
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        if not isinstance(value, bool):
            raise ParameterError(f"{source}: {option} takes true or false, got {value!r}")
        return [flag] if value == isinstance(action, argparse._StoreTrueAction) else []
    if isinstance(action, argparse._AppendAction):
        values = value if isinstance(value, list) else [value]
        return [f"{flag}={v}" for v in values]
    if action.nargs in ("+", "*") or (isinstance(action.nargs, int) and action.nargs > 1):
        values = value if isinstance(value, list) else [value]
        return [flag, *(str(v) for v in values)]
    # --opt=value: a value such as -3.0,3.0 is never taken for an option
    if isinstance(value, list):  # a LOW,HIGH pair or a comma-separated list
        return [f"{flag}={','.join(str(v) for v in value)}"]
    if isinstance(value, bool):
        return [f"{flag}={str(value).lower()}"]
    return [f"{flag}={value}"]


def recipe_options() -> set[str]:
    """The long options (without dashes) a recipe file may hold: those of ``train`` and ``cv``."""
    from .arguments import RECIPE_COMMANDS, recipe_parser

    return {option for command in RECIPE_COMMANDS for option in _option_actions(recipe_parser(command))}


def expand_config(parser: argparse.ArgumentParser, command: str, words: Sequence[str]) -> list[str]:
    """The words of one command with its ``--config FILE`` replaced by the file's options.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The command's own parser (a subparser).
    command : str
        Its name, for messages.
    words : sequence of str
        The command line after the command's name.

    Returns
    -------
    words : list of str
        The file's options first, then the user's words without ``--config``; options the
        user gave are not taken from the file.

    Raises
    ------
    ParameterError
        A key that is an option of no recipe command (a recipe's keys that this command does
        not use, such as ``model`` for ``extract``, are passed over), or a value of the wrong shape.
    """
    from .arguments import recipe_path

    words = list(words)
    files, rest, i = [], [], 0
    while i < len(words):
        word = words[i]
        if word in ("--config", "--recipe") and i + 1 < len(words):
            files.append(words[i + 1] if word == "--config" else recipe_path(words[i + 1]))
            i += 2
            continue
        if word.startswith("--config="):
            files.append(word.split("=", 1)[1])
        elif word.startswith("--recipe="):
            files.append(recipe_path(word.split("=", 1)[1]))
        else:
            rest.append(word)
        i += 1
    if not files:
        return words
    actions = _option_actions(parser)
    prefix: list[str] = []
    for file in files:
        for key, value in read_config(file).items():
            option = str(key).replace("_", "-")
            action = actions.get(option)
            if option not in NOT_RECIPE and action is None and option in recipe_options():
                continue  # a recipe option another command uses (extract --recipe linear: its model)
            if action is None or option in NOT_RECIPE:
                raise ParameterError(f"{file}: {key!r} is not an option of ser-keras {command}")
            if option in OUTPUT_OPTIONS and value is not None and not _inside_here(value):
                import warnings

                from ..errors import SerWarning

                warnings.warn(
                    f"{file}: {option}: {value} is outside the current folder; a recipe file does not choose "
                    f"where this command writes, so it is ignored (give --{option} on the command line)",
                    SerWarning,
                    stacklevel=2,
                )
                continue
            if not _given(action, rest):
                prefix += _words(option, action, value, Path(file))
    return prefix + rest


def _plain(value):
    """A value as YAML writes it plainly: tuples as lists, paths as text."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def resolved_values(*, features=None, options=None) -> dict:
    """What the options left at ``None`` resolved to, by long option name.

    Parameters
    ----------
    features : FeatureConfig, optional
        Its kind's defaults, filled in (``sr``, ``n-mels`` ...).
    options : TrainOptions, optional
        Resolved for the model (`ser_keras.training.options.TrainOptions.resolve`): ``model``,
        ``batch-size``, ``lr``, ``optimizer``, ``patience`` ...
    """
    from ..options import flag_of, option_fields
    from .options import TrainOptions
    from .pipeline import SpecAugmentOptions

    out = {}
    if features is not None:
        from ..features.config import FeatureConfig

        out["features"] = features.kind
        out.update({flag_of(f)[2:]: getattr(features, f.name) for f in option_fields(FeatureConfig)})
    if options is not None:
        for values, cls in ((options, TrainOptions), (options.augment_options, SpecAugmentOptions)):
            out.update({flag_of(f)[2:]: _plain(getattr(values, f.name)) for f in option_fields(cls)})
    return out


def _augment_values(augment: dict | None) -> dict:
    """A feature set's augmentation record (`ser_keras.signal.augment.AugmentConfig.to_dict`) as recipe options."""
    augment = augment or {}
    out = {"augment": ",".join(augment.get("recipes", [])) or "none"}
    from ..options import flag_of, option_fields
    from ..signal.augment import AugmentConfig

    for field in option_fields(AugmentConfig):
        if field.name != "recipes" and field.name in augment:
            out[flag_of(field)[2:]] = _plain(augment[field.name])
    return out


def recipe_of(fs, options, *, gender: str) -> dict:
    """The recipe of a run trained from Python on a feature set: what ``train --config`` replays.

    The corpora, feature config, augmentation and split are read from the feature set's
    ``config.json``; the training options are ``options`` (resolved).  Corpus filters
    (``--emotions``, ``--merge``) are not recorded in a feature set and so not here.
    """
    split = fs.config.get("split") or {}
    recipe = {
        "corpus": list(fs.config.get("corpora") or ["demo"]),
        **resolved_values(features=fs.features),
        **_augment_values(fs.config.get("augment")),
    }
    if split.get("method") in ("speaker", "random"):
        recipe["split"] = split["method"]
        for key in ("val_fraction", "test_fraction", "val_speakers", "test_speakers"):
            recipe[key.replace("_", "-")] = split.get(key)
    recipe["seed"] = options.seed
    recipe["gender"] = gender
    recipe.update(resolved_values(options=options))
    return recipe


def cv_recipe_of(*, features, augment: dict, options, folds: int, seed: int, gender: str, corpora) -> dict:
    """The recipe of a cross-validation run from Python: what ``cv --config`` replays.

    ``augment`` is the feature set's record (`ser_keras.signal.augment.AugmentConfig.to_dict`).
    Corpus filters (``--emotions``, ``--merge``) are not known here and so not recorded.
    """
    recipe = {"corpus": list(corpora or ["demo"]), **resolved_values(features=features), **_augment_values(augment)}
    recipe.update(folds=folds, seed=seed, gender=gender)
    recipe.update(resolved_values(options=options))
    return recipe


def resolved_recipe(parser: argparse.ArgumentParser, args: argparse.Namespace, *, resolved: dict | None = None) -> dict:
    """Every recipe option of a parsed command as a ``recipe.yaml`` mapping (long option names).

    Values are plain YAML scalars and lists.  An option left at ``None`` (the model
    family's or the feature kind's default) is recorded as what it resolved to, from
    ``resolved`` (`resolved_values`), so that a later default never changes what an old
    recipe replays; ``null`` remains only where nothing resolves it (``--weights`` ...).
    """
    from ..options import value_text

    resolved = resolved or {}
    recipe = {}
    for option, action in _option_actions(parser).items():
        if option in NOT_RECIPE or option in OUTPUT_OPTIONS or action.dest in NOT_RECIPE or action.dest == "help":
            continue
        value = _plain(value_text(action, getattr(args, action.dest, None)))
        if action.dest == "corpus" and value is None:
            value = ["demo"]  # what no --corpus means, written out
        if value is None and resolved.get(option) is not None:
            value = resolved[option]
        recipe[option] = value
    return recipe


def write_recipe(recipe: dict, folder: str | os.PathLike) -> Path:
    """Write ``recipe`` to ``folder/recipe.yaml`` (keys in the parser's order)."""
    import yaml

    path = Path(folder) / RECIPE_FILE
    header = "# ser-keras train --config recipe.yaml replays this run (command-line options override it)\n"
    atomic_write_text(path, header + yaml.safe_dump(recipe, sort_keys=False, default_flow_style=None))
    return path


@dataclass(frozen=True)
class Recipe:
    """A whole recipe of ``train`` or ``cv``: corpora, features, augmentation, split and training.

    One mapping of long option names to values (what ``recipe.yaml`` and ``--config``
    hold), read through the command's own option schema (`ser_keras.training.arguments`), so a
    value is checked exactly as if typed; the library's objects are views of it.

    Examples
    --------
    >>> recipe = Recipe.from_dict({"features": "functionals", "model": "dnn", "epochs": 3, "augment": "none"})
    >>> recipe.train.model, recipe.train.epochs, recipe.augment.recipes, recipe.features.kind
    ('dnn', 3, (), 'functionals')
    >>> Recipe.from_dict(recipe.to_dict()) == recipe
    True
    """

    command: str
    values: dict

    @classmethod
    def from_dict(cls, data: dict, *, command: str = "train", source: str = "recipe") -> Recipe:
        """A recipe from a mapping of option names (``-`` or ``_``) to values; unset options take their defaults.

        Raises
        ------
        ParameterError
            A key that is not a recipe option of ``command``, or a value its option refuses
            (one line naming ``source`` and the option).
        """
        from .arguments import recipe_parser

        parser = recipe_parser(command)
        actions = _option_actions(parser)
        words = []
        for key, value in data.items():
            option = str(key).replace("_", "-")
            if option in OUTPUT_OPTIONS:
                continue  # where to write is the invocation's, not the recipe's
            action = actions.get(option)
            if action is None or option in NOT_RECIPE:
                raise ParameterError(f"{source}: {key!r} is not an option of ser-keras {command}")
            _check_value(Path(source), option, value)
            words += _words(option, action, value, Path(source))
        try:
            args = parser.parse_args(words)
        except ParameterError as exc:
            raise ParameterError(f"{source}: {exc}") from None
        return cls(command, _recipe_values(parser, args))

    @classmethod
    def from_file(cls, path: str | os.PathLike, *, command: str = "train") -> Recipe:
        """A recipe from a YAML or TOML file (`read_config`: safe loader, no aliases, size and shape limits)."""
        return cls.from_dict(read_config(path), command=command, source=str(path))

    def to_dict(self) -> dict:
        """The mapping ``recipe.yaml`` holds: every recipe option by long name, plain YAML values."""
        return dict(self.values)

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None)

    def to_toml(self) -> str:
        """TOML text of the recipe; options without a value (``null``) are left out, as TOML has none."""
        import json

        def value(v):
            if isinstance(v, bool):
                return str(v).lower()
            if isinstance(v, list):
                return "[" + ", ".join(value(item) for item in v) + "]"
            return json.dumps(v)  # a JSON string or number is a TOML one

        return "".join(f"{key} = {value(v)}\n" for key, v in self.to_dict().items() if v is not None)

    def write(self, folder: str | os.PathLike) -> Path:
        """``folder/recipe.yaml`` (atomic), which ``--config`` replays."""
        return write_recipe(self.to_dict(), folder)

    def namespace(self) -> argparse.Namespace:
        """The parsed options, as the command line's helpers (`ser_keras.training.arguments`) take them."""
        from .arguments import recipe_parser

        parser = recipe_parser(self.command)
        actions = _option_actions(parser)
        words = []
        for option, value in self.values.items():
            words += _words(option, actions[option], value, Path("recipe"))
        return parser.parse_args(words)

    @property
    def corpora(self) -> list[str]:
        return list(self.values.get("corpus") or ["demo"])

    @property
    def features(self):
        """The `ser_keras.features.registry.FeatureConfig`."""
        from .arguments import feature_configs

        return feature_configs(self.namespace())[0]

    @property
    def augment(self):
        """The `ser_keras.signal.augment.AugmentConfig`."""
        from .arguments import feature_configs

        return feature_configs(self.namespace())[1]

    @property
    def split(self):
        """The `ser_keras.data.splits.SplitConfig` (``train``; ``cv`` deals folds instead)."""
        from .arguments import split_config

        return split_config(self.namespace()) if self.command == "train" else None

    @property
    def train(self):
        """The `ser_keras.training.options.TrainOptions`."""
        from .arguments import training_options

        return training_options(self.namespace())

    @property
    def gender(self) -> str:
        return self.values["gender"]


def _recipe_values(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict:
    """Every recipe option of a parsed command by long name (`resolved_recipe` without resolving)."""
    return resolved_recipe(parser, args)
