"""The recipe's command-line options, declared for every command that takes them.

The corpus, split, feature, augmentation and training options are added to a parser
here (most generated from their dataclass fields, `ser_keras.options`), and the
namespace argparse returns is turned back into the library's objects
(`corpus_manifest`, `feature_configs`, `training_options` ...).  `ser_keras.cli.main` and
`ser_keras.training.recipe.Recipe` both build on it, so a recipe file and a command line are
read by one schema.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..options import JOBS, SEED, number

#: The recipes shipped with the package (``--recipe NAME``): the results page's recipes, one file each.
SHIPPED_RECIPES = Path(__file__).parents[1] / "recipes"


def shipped_recipes() -> list[str]:
    """The names ``--recipe`` takes: the shipped recipe files without ``.yaml``."""
    return sorted(path.stem for path in SHIPPED_RECIPES.glob("*.yaml"))


def recipe_path(name: str) -> str:
    """``--recipe NAME``: a shipped recipe's file, or ``NAME`` itself when it is a recipe file's path.

    Raises
    ------
    ParameterError
        Neither a shipped name nor an existing file (the message lists the shipped names).
    """
    if name in shipped_recipes():
        return str(SHIPPED_RECIPES / f"{name}.yaml")
    if Path(name).suffix.lower() in (".yaml", ".yml", ".toml") and Path(name).exists():
        return name
    from ..errors import ParameterError

    raise ParameterError(f"--recipe: {name!r} is neither a shipped recipe ({', '.join(shipped_recipes())}) nor a file")


def shifts_type(text: str) -> tuple[str, ...]:
    """``--shift``: `ser_keras.signal.shifts.parse_shifts`, its refusal as argparse's one-line error."""
    from ..errors import ParameterError
    from ..signal.shifts import parse_shifts

    try:
        return parse_shifts(text)
    except ParameterError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


shifts_type.__name__ = "shifts"


DEMO_NOTE = "With no --corpus, the embedded SYNTHETIC demo corpus is used (generated on first use; not real speech)."


def add_corpus_options(parser: argparse.ArgumentParser) -> None:
    """Options that choose the utterances: corpora, emotions, merges."""
    group = parser.add_argument_group("corpus")
    group.add_argument(
        "--corpus",
        action="append",
        metavar="NAME[=PATH]",
        help="corpus to read, repeatable: ravdess=DIR, cremad=DIR, tess=DIR, savee=DIR, emodb=DIR, "
        "csv=FILE (path,emotion[,speaker,gender]), folders=DIR (DIR/EMOTION/SPEAKER/clip.wav) or demo[=DIR] "
        "(default: demo). " + DEMO_NOTE,
    )
    group.add_argument(
        "--emotions",
        help="emotions to keep, e.g. angry,happy,neutral,sad, or shared: those every --corpus has (default: all)",
    )
    group.add_argument("--merge", action="append", metavar="SRC=DST", help="merge emotions, e.g. calm=neutral")
    group.add_argument("--ravdess-channel", choices=("speech", "song"), default="speech", help="RAVDESS vocal channel")
    group.add_argument(
        "--cremad-demographics",
        metavar="CSV",
        help="CREMA-D VideoDemographics.csv (default: look in the corpus folder)",
    )
    group.add_argument(
        "--cache-dir",
        default="features",
        type=out_dir_type(),
        help="feature cache folder; also holds the demo corpus (default: features)",
    )


def add_split_options(parser: argparse.ArgumentParser) -> None:
    """Options of the speaker-independent split: the fields of `SplitConfig`."""
    from ..data.splits import SplitConfig
    from ..options import add_options

    add_options(parser, SplitConfig)


def corpus_manifest(args: argparse.Namespace):
    """The manifest chosen by `add_corpus_options`."""
    from ..data.corpora import build_manifest

    return build_manifest(
        args.corpus,
        emotions=args.emotions,
        merge=args.merge,
        ravdess_channel=args.ravdess_channel,
        cremad_demographics=args.cremad_demographics,
        cache_dir=args.cache_dir,
    )


def split_config(args: argparse.Namespace):
    """The `SplitConfig` chosen by `add_split_options`."""
    from ..data.splits import SplitConfig
    from ..options import from_args

    return from_args(SplitConfig, args)


def split_manifest(args: argparse.Namespace):
    """The manifest with its ``split`` column, as chosen by `add_split_options`."""
    return split_config(args).apply(corpus_manifest(args))


def checked_type(check, **options):
    """An argparse ``type`` from a check of `ser_keras.runs.folders` (its message becomes argparse's)."""

    def convert(text: str):
        from ..errors import ParameterError

        try:
            return str(check(text, **options))
        except ParameterError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = check.__name__
    return convert


def out_dir_type():
    from ..runs.folders import check_out_dir

    return checked_type(check_out_dir, create=False)


def output_file_type(*suffixes: str):
    from ..runs.folders import check_output_file

    return checked_type(check_output_file, suffixes=suffixes)


def add_feature_options(parser: argparse.ArgumentParser) -> None:
    """Options of the feature set: representation, its parameters, augmentation, run-time."""
    from ..features.registry import DEFAULT_KIND, FEATURE_GROUP, KINDS, FeatureConfig
    from ..options import add_options
    from ..signal.augment import AugmentConfig

    group = parser.add_argument_group(FEATURE_GROUP)
    group.add_argument(
        "--features",
        choices=tuple(KINDS),
        default=DEFAULT_KIND,
        help="; ".join(f"{name}: {kind.description}" for name, kind in KINDS.items()) + f" (default: {DEFAULT_KIND})",
    )
    groups = {FEATURE_GROUP: group}
    add_options(parser, FeatureConfig, groups=groups)
    add_options(parser, AugmentConfig, groups=groups)
    run = parser.add_argument_group("run")
    run.add_argument("--jobs", "-j", type=JOBS, default=-1, help="worker processes (default: all cores)")
    cluster = run.add_mutually_exclusive_group()
    cluster.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="extract on the Dask cluster whose scheduler is at ADDRESS "
        "(tcp://HOST:8786; its workers need ser-keras and the audio at the same paths) (default: local workers)",
    )
    cluster.add_argument(
        "--dask",
        dest="scheduler",
        action="store_const",
        const="local",
        help="extract on a local Dask cluster of --jobs workers on 127.0.0.1",
    )
    run.add_argument("--quiet", "-q", action="store_true", help="no progress bar or summary")
    run.add_argument("--strict", action="store_true", help="fail if any file cannot be used")


def feature_configs(args: argparse.Namespace):
    """The `FeatureConfig` and `AugmentConfig` chosen on the command line."""
    from ..features.config import FeatureConfig
    from ..options import from_args, option_fields
    from ..signal.augment import AugmentConfig

    features = FeatureConfig.for_kind(
        args.features, **{field.name: getattr(args, field.name) for field in option_fields(FeatureConfig)}
    )
    augment = from_args(AugmentConfig, args)
    return features, augment


def training_options(args: argparse.Namespace):
    """The `TrainOptions` chosen by `add_training_options` (``--seed`` is the split's, shared)."""
    from ..options import from_args
    from .options import TrainOptions
    from .pipeline import SpecAugmentOptions

    return from_args(TrainOptions, args, seed=args.seed, augment_options=from_args(SpecAugmentOptions, args))


def add_training_options(parser: argparse.ArgumentParser, *, all_genders: str) -> None:
    """Options of the recipe: the fields of `TrainOptions` and `SpecAugmentOptions`, the gender, the output.

    ``all_genders`` says what ``--gender all`` does in this command.
    """
    from ..options import add_options
    from .options import TRAINING, TrainOptions
    from .pipeline import SpecAugmentOptions

    groups = {TRAINING: parser.add_argument_group(TRAINING)}
    groups[TRAINING].add_argument(
        "--gender",
        choices=("mixed", "male", "female", "all"),
        default="mixed",
        help="train on all speakers (mixed) or one gender; all: " + all_genders,
    )
    add_options(parser, TrainOptions, groups=groups)
    add_options(parser, SpecAugmentOptions, groups=groups)
    groups[TRAINING].add_argument("--out", default="models", type=out_dir_type(), help="parent folder of run folders")


def subparser_class():
    """ArgumentParser whose help shows defaults (`HelpFormatter`)."""

    class Parser(argparse.ArgumentParser):
        def __init__(self, *args, **kwargs):
            kwargs.setdefault("formatter_class", HelpFormatter)
            super().__init__(*args, **kwargs)

        def error(self, message: str):
            """One line, not the whole usage block: the problem and where help is."""
            self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    return Parser


class HelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, unless the help already states it."""

    def _get_help_string(self, action: argparse.Action) -> str:  # noqa: D102
        text = action.help or ""
        default = action.default
        if "default" in text.lower() or default is argparse.SUPPRESS or not action.option_strings:
            return text
        if action.nargs == 0:  # a flag
            return f"{text} (default: off)"
        if default is None:
            return f"{text} (default: none)"
        if isinstance(default, (tuple, list)):
            return f"{text} (default: {','.join(str(v) for v in default)})"
        return f"{text} (default: %(default)s)"


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """``--config FILE`` / ``--recipe NAME``: a recipe file whose options come before the command line's."""
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="take options from a YAML or TOML recipe file (keys are the long "
        "options; options on the command line win); a run's recipe.yaml replays it",
    )
    parser.add_argument(
        "--recipe",
        metavar="NAME",
        help="take options from a shipped recipe (the results page's: "
        + ", ".join(shipped_recipes())
        + ") or a recipe file, as --config (default: none)",
    )


#: The commands that take a whole recipe.
RECIPE_COMMANDS = ("train", "cv")


def add_recipe_options(parser: argparse.ArgumentParser, command: str) -> None:
    """Every recipe option of ``train`` or ``cv``: corpus, split (train), features, augmentation, training."""
    if command not in RECIPE_COMMANDS:
        raise ValueError(f"{command!r} takes no recipe; one of {RECIPE_COMMANDS}")
    add_corpus_options(parser)
    if command == "train":
        add_split_options(parser)
    add_feature_options(parser)
    if command == "train":
        parser.add_argument("--features-dir", metavar="DIR", help="train on this feature-set folder (skips extraction)")
        add_training_options(
            parser, all_genders="the three variants one after another, and a gender classifier that routes between them"
        )
    else:
        parser.add_argument("--folds", type=number(int, low=2, high=100), default=4, help="speaker folds (default 4)")
        parser.add_argument(
            "--seed", type=SEED, default=0, help="seed of the folds, augmentation and training (default 0)"
        )
        add_training_options(
            parser,
            all_genders="in each fold the three variants, and the male and female models routed by a gender "
            "classifier scored beside the mixed one on the same test clips",
        )


def recipe_parser(command: str) -> argparse.ArgumentParser:
    """A parser of ``command``'s recipe options alone (`ser_keras.training.recipe.Recipe.from_dict` reads it)."""
    from ..errors import ParameterError

    class RaisingParser(subparser_class()):
        def error(self, message: str):
            raise ParameterError(message)

    parser = RaisingParser(prog=f"ser-keras {command}")
    add_recipe_options(parser, command)
    return parser
