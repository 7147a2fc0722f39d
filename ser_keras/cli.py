"""The ``ser-keras`` command line: ``manifest``, ``extract``, ``train``, ``evaluate``, ``predict``, ``app``.

Each subcommand is a thin shell over the library: it parses options, calls one
function, and prints.  A `SerError` becomes one line on stderr and exit code 2;
warnings (skipped files, a leaky split) are printed as one line each.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import warnings
from collections.abc import Sequence

from . import __version__, tflog
from .arguments import (
    DEMO_NOTE,
    add_config_option,
    add_corpus_options,
    add_feature_options,
    add_recipe_options,
    add_split_options,
    corpus_manifest,
    feature_configs,
    output_file_type,
    split_config,
    split_manifest,
    subparser_class,
    training_options,
)
from .errors import SerError, SerWarning
from .layout import CV_FILE, REPORT_FILE
from .options import POSITIVE_FLOAT, number


def _format_warning(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as one line on stderr (whoever else listens to warnings)."""
    print(_format_warning(message, category, filename, lineno).rstrip("\n"), file=sys.stderr, flush=True)


def extract_from_args(args: argparse.Namespace):
    """Run (or hit the cache of) the extract stage for parsed arguments; returns an `ExtractResult`."""
    from .extract import extract_features

    features, augment = feature_configs(args)
    manifest = split_manifest(args)
    split = split_config(args).settings()
    result = extract_features(
        manifest,
        features=features,
        augment=augment,
        cache_dir=args.cache_dir,
        seed=args.seed,
        split_settings=split,
        corpora=args.corpus or ["demo"],
        jobs=args.jobs,
        scheduler=args.scheduler,
        strict=args.strict,
        progress=not args.quiet,
    )
    return result


def print_extraction_summary(result, *, file=None) -> None:
    """One line: rows extracted (or a cache hit) and how many files failed, with where they are listed.

    On stderr while it is progress (before training or scoring); on stdout as ``extract``'s summary."""
    listing = result.path / "errors.csv"
    if result.cache_hit:
        import pandas as pd

        failed = pd.read_csv(listing)["path"].nunique() if listing.is_file() else 0
        done = f"feature set found in the cache ({result.seconds:.2f} s); {failed} file(s) had failed"
    else:
        failed = len({e.split(" (", 1)[0] for e in result.errors})
        done = f"extracted {result.n_items} rows in {result.seconds:.1f} s; {failed} file(s) failed"
    print(
        done + (f", listed in {listing}" if failed else ""), file=file or sys.stderr
    )  # stderr at call time (redirectable)


def cmd_extract(args: argparse.Namespace) -> int:
    result = extract_from_args(args)
    if not args.quiet:
        print_extraction_summary(result, file=sys.stdout)
    print(result.path)
    return 0


def cmd_cv(args: argparse.Namespace) -> int:
    from .cv import cross_validate
    from .recipe import resolved_recipe, resolved_values
    from .strategies import configure_devices
    from .train import check_recipe

    features, augment = feature_configs(args)
    resolved = check_recipe(training_options(args), features)  # before any extraction
    if args.devices:
        configure_devices(args.devices)
    path = cross_validate(
        corpus_manifest(args),
        features=features,
        augment=augment,
        options=training_options(args),
        folds=args.folds,
        seed=args.seed,
        gender=args.gender,
        cache_dir=args.cache_dir,
        out_dir=args.out,
        corpora=args.corpus or ["demo"],
        jobs=args.jobs,
        scheduler=args.scheduler,
        progress=not args.quiet,
        recipe=resolved_recipe(args.parser, args, resolved=resolved_values(features=features, options=resolved)),
    )
    if not args.quiet:
        import json

        summary = json.loads((path / CV_FILE).read_text())
        mean, std = summary["mean"], summary["std"]
        print(
            f"{len(summary['folds'])}-fold speaker CV: "
            f"UA {mean['unweighted_accuracy']:.3f} ± {std['unweighted_accuracy']:.3f}  "
            f"WA {mean['weighted_accuracy']:.3f} ± {std['weighted_accuracy']:.3f}  "
            f"macro-F1 {mean['macro_f1']:.3f} ± {std['macro_f1']:.3f}  (chance UA {summary['chance_ua']:.3f})"
        )
    print(path)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .extract import FeatureSet
    from .gender import VARIANTS, train_gender_group
    from .recipe import resolved_recipe, resolved_values
    from .strategies import configure_devices
    from .train import check_recipe, train

    options = training_options(args)
    if args.features_dir:
        fs = FeatureSet(args.features_dir)
        features = fs.features
    else:
        features = feature_configs(args)[0]
    resolved = check_recipe(options, features)  # before any extraction
    recipe = resolved_recipe(args.parser, args, resolved=resolved_values(features=features, options=resolved))
    if args.devices:
        configure_devices(args.devices)  # before anything initialises TensorFlow
    if not args.features_dir:
        result = extract_from_args(args)
        if not args.quiet:
            print_extraction_summary(result)
        fs = FeatureSet(result.path)
    genders = VARIANTS if args.gender == "all" else (args.gender,)
    runs = {}
    for gender in genders:
        runs[gender] = train(
            fs,
            gender=gender,
            out_dir=args.out,
            options=options,
            progress=not args.quiet,
            recipe=recipe,
        )
        if not args.quiet:
            _print_scores(runs[gender] / REPORT_FILE, f"{gender}: ")
        print(runs[gender], flush=True)
    if args.gender == "all":  # the group that `predict --gender auto` routes through
        group_dir = train_gender_group(fs, runs, out_dir=args.out, seed=args.seed)
        print(group_dir, flush=True)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluate import evaluate_into

    on_extracted = None if args.quiet else print_extraction_summary
    manifest = corpus_manifest(args) if args.corpus else None
    out_dir = evaluate_into(
        args.run_dir,
        manifest=manifest,
        corpora=args.corpus,
        cache_dir=args.cache_dir,
        jobs=args.jobs,
        progress=not args.quiet,
        on_extracted=on_extracted,
    )
    if not args.quiet:
        _print_scores(out_dir / REPORT_FILE)
    print(out_dir)
    return 0


def _print_scores(report_path, prefix: str = "") -> None:
    """A run's one-line summary on stdout (the result path follows it as the last line)."""
    import json

    report = json.loads(report_path.read_text())
    print(
        f"{prefix}UA {report['unweighted_accuracy']:.3f} (chance {report['chance_ua']:.3f})  "
        f"WA {report['weighted_accuracy']:.3f}  macro-F1 {report['macro_f1']:.3f}  "
        f"n={report['n_test']}  test speakers {', '.join(report['test_speakers'])}"
    )


def _json_records(table) -> str:
    """A DataFrame as a JSON list of row objects: NaN as null, full float precision, ``/`` unescaped.

    (pandas' ``to_json`` escapes ``/`` and rounds floats.)"""
    import json

    records = table.astype(object).where(table.notna(), None).to_dict("records")
    return json.dumps(records, indent=2, default=lambda v: v.item() if hasattr(v, "item") else str(v))


#: ``ser-keras predict`` exit codes: every file scored / some files failed / none scored (or bad input).
PREDICT_EXIT_ALL, PREDICT_EXIT_SOME, PREDICT_EXIT_NONE = 0, 1, 2


def cmd_predict(args: argparse.Namespace) -> int:

    from .predict import Predictor

    predictor = Predictor.from_run(args.run_dir, gender=args.gender)
    speakers = read_speaker_table(args.speakers) if args.speakers else None
    table = predictor.predict_files(args.inputs, speakers=speakers)
    if table.empty:
        raise SerError("no audio files found in " + ", ".join(args.inputs))
    if args.output:
        from .files import atomic_write_text, write_csv

        if args.output.lower().endswith(".json"):
            atomic_write_text(args.output, _json_records(table) + "\n")  # paths as given, "/" unescaped
        else:
            write_csv(table, args.output)
        if not args.quiet:
            print(f"wrote {len(table)} row(s) to {args.output}", file=sys.stderr)
        print(args.output)
    else:
        import pandas as pd

        with pd.option_context("display.max_rows", None, "display.width", 200, "display.max_colwidth", 60):
            shown = table.copy()
            for label in predictor.labels:
                shown[label] = shown[label].map(lambda v: "" if pd.isna(v) else f"{v:.3f}")
            print(shown.fillna("").to_string(index=False))
    failed = int(table["error"].notna().sum())
    if failed:
        print(f"{failed} of {len(table)} file(s) could not be scored (see the error column)", file=sys.stderr)
    return PREDICT_EXIT_ALL if failed == 0 else PREDICT_EXIT_SOME if failed < len(table) else PREDICT_EXIT_NONE


def read_speaker_table(path: str) -> dict[str, str]:
    """``--speakers FILE.csv`` -> ``{path: speaker}``; its ``path`` column holds paths as given to predict,
    or relative to the CSV."""
    from pathlib import Path

    import pandas as pd

    from .errors import ParameterError
    from .files import csv_unescape, require_regular_file

    require_regular_file(path, what="speaker table")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False).map(csv_unescape)
    except (OSError, ValueError) as exc:
        raise ParameterError(f"{path}: cannot read the speaker table ({exc})") from None
    if not {"path", "speaker"} <= set(table.columns):
        raise ParameterError(f"{path}: the speaker table needs columns path,speaker")
    base = Path(path).parent
    mapping = {}
    for file, speaker in zip(table["path"], table["speaker"]):
        mapping[file] = speaker
        mapping[str(base / file)] = speaker
    return mapping


RUNS_SORT_KEYS = ("date", "ua", "wa", "macro_f1", "run")


def cmd_export(args: argparse.Namespace) -> int:
    from .export import check_litert, export_litert

    target = export_litert(args.run_dir)
    if not args.quiet:  # a check that the file runs and answers as the run's model does, on its test rows
        gap, n_rows, what = check_litert(args.run_dir, target)
        print(
            f"LiteRT model {target.stat().st_size / 1e6:.2f} MB; largest probability difference to the run's model "
            f"on {n_rows} {what}: {gap:.1e}"
        )
    print(target)
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from .listing import list_runs, runs_table

    rows = list_runs(args.out)
    if not rows:
        print(f"no runs under {args.out}/ (train one: ser-keras train)", file=sys.stderr)
        return 0
    print(runs_table(rows, sort=args.sort, format=args.format))
    return 0


def cmd_app(args: argparse.Namespace) -> int:
    from pathlib import Path

    script = Path(__file__).with_name("app.py")
    env = dict(
        os.environ, SER_KERAS_MODELS=args.models, SER_KERAS_RUN=args.run_dir or "", SER_KERAS_MAX_MB=str(args.max_mb)
    )
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(script),
        "--server.headless",
        "true",
        "--server.address",
        args.address,
        "--server.port",
        str(args.port),
        "--server.maxUploadSize",
        str(math.ceil(args.max_mb)),  # Streamlit refuses bigger uploads itself
        "--browser.gatherUsageStats",
        "false",
    ]
    print(f"serving on http://{args.address}:{args.port}", file=sys.stderr, flush=True)
    os.execve(sys.executable, command, env)  # become the server: signals reach Streamlit itself
    return 0


def cmd_manifest(args: argparse.Namespace) -> int:
    from .manifest import plot_counts, summarize

    manifest = split_manifest(args) if args.with_split else corpus_manifest(args)
    if args.output:
        from .files import write_csv

        write_csv(manifest, args.output)
    if args.plot:
        plot_counts(manifest, args.plot)
    if not (args.quiet and args.output):  # with --quiet --output, only the file is printed
        print(summarize(manifest))
        if args.with_split:
            for part in ("train", "val", "test"):
                speakers = sorted(manifest.loc[manifest["split"] == part, "speaker"].unique())
                print(f"{part}: {int((manifest['split'] == part).sum())} files, speakers {', '.join(speakers)}")
    if args.output:
        print(args.output)
    return 0


def build_parser() -> argparse.ArgumentParser:

    parser = argparse.ArgumentParser(
        prog="ser-keras",
        description="Speech emotion recognition with speaker-independent evaluation. " + DEMO_NOTE,
    )
    parser.add_argument("--version", action="version", version=f"ser-keras {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=subparser_class())
    sub.required = True

    p = sub.add_parser(
        "manifest",
        help="parse corpora into a manifest CSV and print a summary",
        description="Parse corpora into one manifest (path, corpus, speaker, gender, emotion, ...). " + DEMO_NOTE,
    )
    add_corpus_options(p)
    add_split_options(p)
    p.add_argument("--with-split", action="store_true", help="add the speaker-independent split column")
    p.add_argument("--output", "-o", metavar="CSV", type=output_file_type(".csv"), help="write the manifest here")
    p.add_argument(
        "--plot",
        metavar="PNG",
        type=output_file_type(".png", ".pdf", ".svg"),
        help="save the class-distribution bar chart here",
    )
    p.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        help="with --output: print only the manifest file (and errors); without it the summary is the result",
    )
    p.set_defaults(func=cmd_manifest)

    p = sub.add_parser(
        "extract",
        help="extract features into the cache (prints the feature-set folder)",
        description="Parse, split by speaker, augment the training split, extract features and cache "
        "them as .npy under --cache-dir. The last line printed is the feature-set folder. " + DEMO_NOTE,
    )
    add_corpus_options(p)
    add_split_options(p)
    add_feature_options(p)
    add_config_option(p)
    p.set_defaults(func=cmd_extract, parser=p)

    p = sub.add_parser(
        "train",
        help="train, evaluate on the test split and export a model (prints the run folder)",
        description="Train a model on a cached feature set (extracting it on a miss), speaker-independent: "
        "validation is the val split, the report is on the test split. Builds and compiles the model inside "
        "a tf.distribute strategy. The last line printed is the run folder. " + DEMO_NOTE,
    )
    add_recipe_options(p, "train")
    add_config_option(p)
    p.set_defaults(func=cmd_train, parser=p)

    p = sub.add_parser(
        "cv",
        help="speaker k-fold cross-validation of a recipe (prints the cv folder)",
        description="Cross-validate a recipe over speaker folds (seeded, gender-balanced): fold i tests "
        "on its speakers, the other speakers are split again by speaker into train and val (early "
        "stopping). Features are extracted once. Writes one run per fold, cv.json (mean ± std of UA, WA, "
        "macro-F1, per-class recall, summed confusion matrix) and cv.png. The last line printed is "
        "the cv folder. " + DEMO_NOTE,
    )
    add_recipe_options(p, "cv")
    add_config_option(p)
    p.set_defaults(func=cmd_cv, parser=p)

    p = sub.add_parser(
        "predict",
        help="predict the emotion of audio files with a trained run",
        description="Predict with RUN_DIR (or a --gender all group) on files and folders; features are "
        "the ones the run was trained on. One row per file (paths as given); unusable files get an error, "
        "the rest go on. Exit code: 0 every file scored, 1 some could not be scored, 2 none (or bad input).",
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("inputs", nargs="+", metavar="FILE_OR_DIR")
    p.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        type=output_file_type(".csv", ".json"),
        help="write results.csv or results.json instead of a table",
    )
    p.add_argument(
        "--gender",
        choices=("mixed", "male", "female", "auto"),
        default="mixed",
        help="with a --gender all group: which model answers; auto routes by the gender classifier",
    )
    p.add_argument(
        "--speakers",
        metavar="CSV",
        help="with a --normalize speaker run: path,speaker table of who "
        "speaks in each file (default: a file's parent folder is its speaker); a speaker with fewer "
        "than 5 clips gets a warning",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="with -o: print only the output file (and errors)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser(
        "runs",
        help="list runs, cv folders and gender groups with their recipe and scores",
        description="One row per folder under --out: run, cv (mean ± std over folds) and --gender all "
        "groups, with corpus, features, model, gender, normalisation, seed, epochs, UA/WA/macro-F1, "
        "test size and date.  Unfinished (partial) and damaged (broken) folders are listed as such.",
    )
    p.add_argument("--out", default="models", help="folder of runs (default: models)")
    p.add_argument(
        "--sort",
        choices=RUNS_SORT_KEYS,
        default="date",
        help="order: date (newest first; default), ua, wa, macro_f1 (best first) or run (by name)",
    )
    p.add_argument("--format", choices=("table", "csv", "json"), default="table", help="output format (default: table)")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser(
        "app",
        help="the Streamlit page: upload or record speech, see the predicted emotion",
        description="Serve the Streamlit page (upload or record a clip, see the emotion, its probabilities, "
        "waveform and mel spectrogram) with the runs under --models. Listens on 127.0.0.1 unless "
        "--address says otherwise.",
    )
    p.add_argument(
        "run_dir", metavar="RUN_DIR", nargs="?", help="run to open first (default: the newest under --models)"
    )
    p.add_argument("--models", default="models", help="folder of run directories to choose from (default: models)")
    p.add_argument("--port", type=number(int, low=1, high=65535), default=8501, help="port (default: 8501)")
    p.add_argument(
        "--address",
        default="127.0.0.1",
        help="interface to listen on (default: 127.0.0.1, this machine only; 0.0.0.0 for every interface)",
    )
    p.add_argument("--max-mb", type=POSITIVE_FLOAT, default=20, help="upload size limit in MB (default 20)")
    p.set_defaults(func=cmd_app)

    p = sub.add_parser(
        "evaluate",
        help="re-score a run on its test split or on another corpus",
        description="Re-score RUN_DIR on its own test split, or with --corpus on another corpus "
        "(cross-corpus: only the emotions both share). Writes report.json and confusion_matrix.png into "
        "a new folder RUN_DIR/eval-test/ (or eval-<corpus>/; -2, -3 ... when taken): the run's own files "
        "are never rewritten. The last line printed is that folder.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    add_corpus_options(p)
    p.add_argument(
        "--jobs", "-j", type=int, default=-1, help="worker processes for feature extraction (default: -1, one per core)"
    )
    p.add_argument("--quiet", "-q", action="store_true", help="print only the result folder (and errors)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "export",
        help="export a run's model for serving without TensorFlow (prints the file)",
        description="Convert RUN_DIR's SavedModel (feature arrays -> probabilities) to RUN_DIR/model.tflite, "
        "run by the ai-edge-litert interpreter. predict, the Predictor and the app then use it and never "
        "import TensorFlow (scikit-learn runs need no export: they never import it). Every run already "
        "has saved_model/ from train.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--format", choices=("litert",), default="litert", help="export format (default: litert)")
    p.add_argument("--quiet", "-q", action="store_true", help="print only the exported file (and errors)")
    p.set_defaults(func=cmd_export)
    return parser


def _with_config(parser: argparse.ArgumentParser, words: list[str]) -> list[str]:
    """``words`` with a command's ``--config FILE`` expanded into options (`ser_keras.recipe.expand_config`)."""
    from .recipe import expand_config

    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    for i, word in enumerate(words):
        if word in commands:
            return words[: i + 1] + expand_config(commands[word], word, words[i + 1 :])
    return words


#: Exit codes: done; ``predict`` scored only some files; bad input or a fault the user can fix
#: (one line on stderr); an internal error (a bug: one line, and the traceback in a file).
EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (`EXIT_OK`, `EXIT_PARTIAL`, `EXIT_USAGE`, `EXIT_INTERNAL`)."""
    tflog.install()  # TensorFlow's C++ start-up lines stay off stderr
    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    previous = warnings.formatwarning
    warnings.formatwarning = _format_warning
    command = "ser-keras"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # library chatter; ours are SerWarnings
            warnings.simplefilter("default", SerWarning)
            warnings.showwarning = _show_warning  # restored by catch_warnings
            try:
                words = _with_config(parser, words)
            except SerError as exc:
                print(f"ser-keras: error: {exc}", file=sys.stderr)
                return EXIT_USAGE
            args = parser.parse_args(words)
            command = f"ser-keras {args.command}"
            return int(args.func(args) or 0)
    except SerError as exc:
        print(f"{command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{command}: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the edge: a fault the user can fix is one line, a bug too
        from .files import disk_full, is_disk_full

        if is_disk_full(exc):
            print(f"{command}: error: {disk_full(getattr(exc, 'filename', None) or os.getcwd())}", file=sys.stderr)
            return EXIT_USAGE
        if isinstance(exc, OSError) and exc.errno is not None:  # permission, read-only file system ...
            where = f"{exc.filename}: " if exc.filename else ""
            print(f"{command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
            return EXIT_USAGE
        print(
            f"{command}: internal error: {type(exc).__name__}: {' '.join(str(exc).split())[:300]} "
            f"(full traceback in {_save_traceback(exc)}; please report it)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    finally:
        warnings.formatwarning = previous


def _save_traceback(exc: BaseException) -> str:
    """Write ``exc``'s traceback to a new file in the temporary folder; returns its path."""
    import tempfile
    import traceback

    try:
        handle, path = tempfile.mkstemp(prefix="ser-keras-traceback-", suffix=".txt")
        with os.fdopen(handle, "w") as out:
            out.write(f"ser-keras {__version__}\n")
            traceback.print_exception(exc, file=out)
        return path
    except OSError:
        return "(none: the temporary folder is not writable)"
