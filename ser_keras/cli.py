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


def _float_pair(text: str) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH, got {text!r}") from None
    if low > high:
        raise argparse.ArgumentTypeError(f"LOW must not exceed HIGH in {text!r}")
    return low, high


def add_feature_options(parser: argparse.ArgumentParser) -> None:
    """Options of the feature set: representation, its parameters, augmentation, run-time."""
    group = parser.add_argument_group("features")
    group.add_argument("--features", choices=("stats", "frames", "mel"), default="stats",
                       help="stats: 162 time-averaged values (ZCR, chroma, MFCC, RMS, mel); frames: the same per frame; "
                       "mel: log-mel image (default: stats)")  # fmt: skip
    group.add_argument("--sr", type=int, help="sample rate (default 22050; 16000 for mel)")
    group.add_argument("--offset", type=float, help="window start in s (default 0.6; 0 for mel)")
    group.add_argument("--duration", type=float, help="window length in s (default 2.5; 5 for mel)")
    group.add_argument("--n-mfcc", type=int, help="MFCCs (default 20)")
    group.add_argument("--n-mels", type=int, help="mel bands (default 128)")
    group.add_argument("--n-fft", type=int, help="FFT size (default 2048)")
    group.add_argument("--hop-length", type=int, help="hop in samples (default 512)")
    aug = parser.add_argument_group("augmentation (training split only; one extra view per recipe)")
    aug.add_argument("--augment", default="", metavar="RECIPES",
                     help="comma-separated recipes of noise, stretch, pitch, speed, shift; join steps with + "
                     "(e.g. noise,stretch+pitch gives each training file 3 rows)")  # fmt: skip
    aug.add_argument("--snr-db", type=_float_pair, default=(10.0, 30.0), metavar="LOW,HIGH", help="noise SNR range (dB)")
    aug.add_argument("--stretch-rate", type=_float_pair, default=(0.8, 1.25), metavar="LOW,HIGH", help="time-stretch rates")
    aug.add_argument("--pitch-semitones", type=_float_pair, default=(-3.0, 3.0), metavar="LOW,HIGH", help="pitch shift range")
    aug.add_argument("--speed-rate", type=_float_pair, default=(0.9, 1.1), metavar="LOW,HIGH", help="speed change range")
    aug.add_argument("--shift-fraction", type=float, default=0.2, help="max circular shift as a fraction of length")
    run = parser.add_argument_group("run")
    run.add_argument("--jobs", "-j", type=int, default=-1, help="worker processes (default: all cores)")
    run.add_argument("--quiet", "-q", action="store_true", help="no progress bar or summary")
    run.add_argument("--strict", action="store_true", help="fail if any file cannot be used")


def feature_configs(args: argparse.Namespace):
    """The `FeatureConfig` and `AugmentConfig` chosen on the command line."""
    from .augment import AugmentConfig, parse_recipes
    from .features import FeatureConfig

    features = FeatureConfig.for_kind(
        args.features, sr=args.sr, offset=args.offset, duration=args.duration, n_mfcc=args.n_mfcc,
        n_mels=args.n_mels, n_fft=args.n_fft, hop_length=args.hop_length,
    )  # fmt: skip
    augment = AugmentConfig(
        recipes=parse_recipes(args.augment), snr_db=args.snr_db, stretch_rate=args.stretch_rate,
        pitch_semitones=args.pitch_semitones, speed_rate=args.speed_rate, shift_fraction=args.shift_fraction,
    )  # fmt: skip
    return features, augment


def extract_from_args(args: argparse.Namespace):
    """Run (or hit the cache of) the extract stage for parsed arguments; returns an `ExtractResult`."""
    from .extract import extract_features

    features, augment = feature_configs(args)
    manifest = split_manifest(args)
    split = {
        "method": args.split, "val_fraction": args.val_fraction, "test_fraction": args.test_fraction,
        "seed": args.seed, "val_speakers": args.val_speakers, "test_speakers": args.test_speakers,
    }  # fmt: skip
    result = extract_features(
        manifest, features=features, augment=augment, cache_dir=args.cache_dir, seed=args.seed,
        split_settings=split, corpora=args.corpus or ["demo"], jobs=args.jobs, strict=args.strict,
        progress=not args.quiet,
    )  # fmt: skip
    if not args.quiet:
        if result.cache_hit:
            print(f"feature set found in the cache ({result.seconds:.2f} s)", file=sys.stderr)
        else:
            failed = len({e.split(" (", 1)[0] for e in result.errors})
            print(
                f"extracted {result.n_items} rows in {result.seconds:.1f} s; "
                f"{failed} file(s) failed" + (f", listed in {result.path / 'errors.csv'}" if failed else ""),
                file=sys.stderr,
            )
    return result


def cmd_extract(args: argparse.Namespace) -> int:
    result = extract_from_args(args)
    print(result.path)
    return 0


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

    p = sub.add_parser("extract", help="extract features into the cache (prints the feature-set folder)",
                       description="Parse, split by speaker, augment the training split, extract features and cache "
                       "them as .npy under --cache-dir. The last line printed is the feature-set folder. " + DEMO_NOTE)  # fmt: skip
    add_corpus_options(p)
    add_split_options(p)
    add_feature_options(p)
    p.set_defaults(func=cmd_extract)
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
