"""The ``ser-keras`` command line: ``manifest``, ``extract``, ``train``, ``evaluate``.

Each subcommand is a thin shell over the library: it parses options, calls one
function, and prints.  A `SerError` becomes one line on stderr and exit code 2;
warnings (skipped files, a leaky split) are printed as one line each.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

from . import __version__
from .errors import SerError

DEMO_NOTE = "With no --corpus, the embedded SYNTHETIC demo corpus is used (generated on first use; not real speech)."


def _format_warning(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"


def add_corpus_options(parser: argparse.ArgumentParser) -> None:
    """Options that choose the utterances: corpora, emotions, merges."""
    group = parser.add_argument_group("corpus")
    group.add_argument(
        "--corpus", action="append", metavar="NAME[=PATH]",
        help="corpus to read, repeatable: ravdess=DIR, cremad=DIR, tess=DIR, savee=DIR, emodb=DIR, "
        "csv=FILE (path,emotion[,speaker,gender]) or demo[=DIR]. " + DEMO_NOTE,
    )  # fmt: skip
    group.add_argument("--emotions", help="emotions to keep, e.g. angry,happy,neutral,sad (default: all)")
    group.add_argument("--merge", action="append", metavar="SRC=DST", help="merge emotions, e.g. calm=neutral")
    group.add_argument("--ravdess-channel", choices=("speech", "song"), default="speech", help="RAVDESS vocal channel")
    group.add_argument("--cremad-demographics", metavar="CSV", help="CREMA-D VideoDemographics.csv (default: look in the corpus folder)")
    group.add_argument("--cache-dir", default="features", help="feature cache folder; also holds the demo corpus (default: features)")


def add_split_options(parser: argparse.ArgumentParser) -> None:
    """Options of the speaker-independent split."""
    group = parser.add_argument_group("split (by speaker, before any augmentation)")
    group.add_argument("--split", choices=("speaker", "random"), default="speaker",
                       help="speaker: speaker-independent (default); random: file-level, leaks speakers, for comparison only")  # fmt: skip
    group.add_argument("--val-fraction", type=float, default=0.1, help="share of each gender's speakers for validation")
    group.add_argument("--test-fraction", type=float, default=0.2, help="share of each gender's speakers for test")
    group.add_argument("--val-speakers", help="comma-separated validation speakers (e.g. ravdess:05 or 05)")
    group.add_argument("--test-speakers", help="comma-separated test speakers")
    group.add_argument("--seed", type=int, default=0, help="seed of the split, augmentation and training (default 0)")


def corpus_manifest(args: argparse.Namespace):
    """The manifest chosen by `add_corpus_options`."""
    from .corpora import build_manifest

    return build_manifest(
        args.corpus, emotions=args.emotions, merge=args.merge, ravdess_channel=args.ravdess_channel,
        cremad_demographics=args.cremad_demographics, cache_dir=args.cache_dir,
    )  # fmt: skip


def split_manifest(args: argparse.Namespace):
    """The manifest with its ``split`` column, as chosen by `add_split_options`."""
    from .splits import assign_split

    return assign_split(
        corpus_manifest(args), method=args.split, val_fraction=args.val_fraction,
        test_fraction=args.test_fraction, seed=args.seed, val_speakers=args.val_speakers,
        test_speakers=args.test_speakers,
    )  # fmt: skip


def cmd_manifest(args: argparse.Namespace) -> int:
    from .corpora import plot_counts, summarize

    manifest = split_manifest(args) if args.with_split else corpus_manifest(args)
    if args.output:
        manifest.to_csv(args.output, index=False)
    print(summarize(manifest))
    if args.with_split:
        for part in ("train", "val", "test"):
            speakers = sorted(manifest.loc[manifest["split"] == part, "speaker"].unique())
            print(f"{part}: {int((manifest['split'] == part).sum())} files, speakers {', '.join(speakers)}")
    if args.plot:
        plot_counts(manifest, args.plot)
    if args.output:
        print(args.output)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ser-keras",
        description="Speech emotion recognition with speaker-independent evaluation. " + DEMO_NOTE,
    )
    parser.add_argument("--version", action="version", version=f"ser-keras {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("manifest", help="parse corpora into a manifest CSV and print a summary",
                       description="Parse corpora into one manifest (path, corpus, speaker, gender, emotion, ...). " + DEMO_NOTE)  # fmt: skip
    add_corpus_options(p)
    add_split_options(p)
    p.add_argument("--with-split", action="store_true", help="add the speaker-independent split column")
    p.add_argument("--output", "-o", metavar="CSV", help="write the manifest here")
    p.add_argument("--plot", metavar="PNG", help="save the class-distribution bar chart here")
    p.set_defaults(func=cmd_manifest)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 failed run, 2 bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    previous = warnings.formatwarning
    warnings.formatwarning = _format_warning
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            return int(args.func(args) or 0)
    except SerError as exc:
        print(f"ser-keras {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ser-keras {args.command}: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    finally:
        warnings.formatwarning = previous
