"""Options declared once: a dataclass field carries its flag, type, help and default.

`option` makes such a field; `add_options` adds a dataclass's fields to an argparse
parser (or group), and `from_args` builds the dataclass back from the parsed
namespace, so the command line, recipe files (whose keys are the long options) and the
Python API share one declaration.  The argparse types of the command line are here too.

Examples
--------
>>> from dataclasses import dataclass
>>> @dataclass
... class Fit:
...     epochs: int = option(50, type=EPOCHS, help="most epochs")
>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> add_options(parser, Fit)
>>> from_args(Fit, parser.parse_args(["--epochs", "3"]))
Fit(epochs=3)
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable

#: The key of an option's metadata in a dataclass field.
CLI = "cli"


def option(
    default=dataclasses.MISSING,
    *,
    help: str,
    type: Callable | None = None,
    choices: tuple | None = None,
    metavar: str | None = None,
    flag: str | None = None,
    switch: bool = False,
    group: str | None = None,
    default_factory=dataclasses.MISSING,
    cli_default=dataclasses.MISSING,
    default_help: Callable[[], str] | None = None,
    text: Callable | None = None,
):
    """A dataclass field that is also a command-line option.

    Parameters
    ----------
    default
        The field's default, which is also the option's.
    help : str
        One line; the help shows the default after it (unless it states it).
    type, choices, metavar
        As for ``argparse.add_argument``.
    flag : str, optional
        The long option (default ``--`` + the field name with ``-`` for ``_``).
    switch : bool
        A ``--name`` / ``--no-name`` pair (``argparse.BooleanOptionalAction``).
    group : str, optional
        The help section it is listed under.
    cli_default : optional
        The option's default when it differs from the field's: ``None`` for a value that
        something else resolves (a feature kind's own defaults).
    default_help : callable, optional
        ``() -> str``: the help's statement of the default, when ``cli_default`` is ``None``
        (built on first use, e.g. from the feature-kind registry).
    text : callable, optional
        ``value -> str``: the field's value as typed on the command line (and written in
        a recipe), when its type is not plain (``--augment``'s recipes).
    """
    metadata = {
        CLI: {
            "help": help,
            "type": type,
            "choices": choices,
            "metavar": metavar,
            "flag": flag,
            "switch": switch,
            "group": group,
            "cli_default": cli_default,
            "default_help": default_help,
            "text": text,
        }
    }
    return dataclasses.field(default=default, default_factory=default_factory, metadata=metadata)


def option_fields(cls) -> list[dataclasses.Field]:
    """The fields of a dataclass that are options."""
    return [f for f in dataclasses.fields(cls) if CLI in f.metadata]


def flag_of(field: dataclasses.Field) -> str:
    """The long option of a field."""
    return field.metadata[CLI]["flag"] or "--" + field.name.replace("_", "-")


def default_of(field: dataclasses.Field):
    """A field's default on the command line: its ``cli_default`` if it has one, else the field's own."""
    if field.metadata.get(CLI, {}).get("cli_default", dataclasses.MISSING) is not dataclasses.MISSING:
        return field.metadata[CLI]["cli_default"]
    return field_default(field)


def field_default(field: dataclasses.Field):
    """A field's own default (calling its factory)."""
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None if field.default is dataclasses.MISSING else field.default


def add_options(parser, cls, *, skip: tuple[str, ...] = (), groups: dict | None = None) -> None:
    """Add every option field of ``cls`` (but ``skip``) to ``parser``, under its help group."""
    groups = {} if groups is None else groups
    for field in option_fields(cls):
        if field.name in skip:
            continue
        meta = field.metadata[CLI]
        target = parser
        if meta["group"]:
            if meta["group"] not in groups:
                groups[meta["group"]] = parser.add_argument_group(meta["group"])
            target = groups[meta["group"]]
        help_text = meta["help"]
        if meta.get("default_help") is not None:
            help_text = f"{help_text} (default: {meta['default_help']()})"
        default = default_of(field)
        if meta["text"] is not None and default is not None:
            default = meta["text"](default)  # argparse converts a text default with the option's type
        kwargs = {"dest": field.name, "default": default, "help": help_text}
        if meta["switch"]:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs.update({k: meta[k] for k in ("type", "choices", "metavar") if meta[k] is not None})
        action = target.add_argument(flag_of(field), **kwargs)
        action.as_text = meta["text"]  # how a recipe writes the parsed value (`value_text`)


def value_text(action: argparse.Action, value):
    """A parsed option's value as a recipe writes it: through its field's ``text`` when it has one."""
    converter = getattr(action, "as_text", None)
    return converter(value) if converter is not None and value is not None else value


def from_args(cls, args: argparse.Namespace, **values):
    """``cls`` built from the option fields found in ``args``, then ``values``."""
    found = {f.name: getattr(args, f.name) for f in option_fields(cls) if hasattr(args, f.name)}
    return cls(**{**found, **values})


# --- argparse types of the command line ----------------------------------------------------


def number(kind, *, low, high, low_open=False):
    """An argparse ``type`` for an int or float in ``[low, high]`` (``low_open``: ``low`` itself excluded).

    Every numeric option has both bounds, so a value no run could use (``--epochs 1e20``, a
    negative seed) is refused when it is parsed, before any work.
    """

    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'an integer' if kind is int else 'a number'}, got {text!r}"
            ) from None
        if value != value or value in (float("inf"), float("-inf")):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        if value < low or (low_open and value == low):
            raise argparse.ArgumentTypeError(f"must be {'>' if low_open else '>='} {low}, got {text}")
        if value > high:
            raise argparse.ArgumentTypeError(f"must be <= {high}, got {text}")
        return value

    convert.__name__ = kind.__name__
    return convert


#: A seed: what NumPy, TensorFlow and Keras all take (``keras.utils.set_random_seed`` needs < 2**32).
SEED = number(int, low=0, high=2**32 - 1)
#: Worker processes: -1 (or 0) for one per core.
JOBS = number(int, low=-1, high=256)
#: Epochs, and epoch counts such as patience.
EPOCHS = number(int, low=1, high=10_000)


def float_pair(*, low: float, high: float):
    """An argparse ``type`` for ``LOW,HIGH`` within ``[low, high]``."""

    def convert(text: str) -> tuple[float, float]:
        try:
            first, second = (float(v) for v in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected LOW,HIGH, got {text!r}") from None
        if first > second:
            raise argparse.ArgumentTypeError(f"LOW must not exceed HIGH in {text!r}")
        if not (low <= first and second <= high):
            raise argparse.ArgumentTypeError(f"both values must lie in [{low:g}, {high:g}], got {text!r}")
        return first, second

    convert.__name__ = "range"
    return convert


def image_size_text(size: tuple[int, int] | None) -> str:
    """``(64, 64)`` -> ``"64x64"``, as ``--image-size`` is typed (``None`` -> ``"none"``)."""
    return "none" if size is None else f"{size[0]}x{size[1]}"


def image_size(text: str) -> tuple[int, int] | None:
    """An argparse ``type`` for ``HxW`` (at least 32x32, what the backbones take), or ``none``."""
    if text.strip().lower() == "none":  # the images as extracted, e.g. to override a recipe's size
        return None
    try:  # HxW, or H,W as a recipe file's [H, W] list arrives
        height, width = (int(v) for v in text.lower().replace(",", "x").split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW, e.g. 224x224, got {text!r}") from None
    if height < 32 or width < 32:
        raise argparse.ArgumentTypeError(f"the backbones need at least 32x32, got {text!r}")
    if height > 1024 or width > 1024:
        raise argparse.ArgumentTypeError(f"at most 1024x1024, got {text!r}")
    return height, width
