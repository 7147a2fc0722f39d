"""The ``ser-keras`` command line: ``manifest``, ``extract``, ``train``, ``evaluate``, ``predict``, ``app``.

Each subcommand is a thin shell over the library: this module parses options, its
command (`commands`) calls one function and prints.  A `SerError` becomes one line on stderr and exit code 2;
warnings (skipped files, a leaky split) are printed as one line each.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence

from .. import __version__, tflog
from ..errors import SerError, SerWarning
from ..options import JOBS, SEED, number
from ..signal.shifts import SHIFTS
from ..training.arguments import (
    DEMO_NOTE,
    add_config_option,
    add_corpus_options,
    add_feature_options,
    add_recipe_options,
    add_split_options,
    output_file_type,
    shifts_type,
    subparser_class,
)
from .commands import (
    RUNS_SORT_KEYS,
    cmd_app,
    cmd_cv,
    cmd_evaluate,
    cmd_export,
    cmd_extract,
    cmd_manifest,
    cmd_predict,
    cmd_runs,
    cmd_train,
)


def _format_warning(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as one line on stderr (whoever else listens to warnings)."""
    print(_format_warning(message, category, filename, lineno).rstrip("\n"), file=sys.stderr, flush=True)


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
    p.add_argument(
        "--calibrate-from",
        metavar="CV_DIR",
        help="scale the probabilities by the temperature, and answer 'uncertain' below the threshold, that a "
        "cv of this recipe fitted on its folds' held-out speakers (for runs whose validation speakers train, "
        "as the default recipe's do; others fit both on their validation speakers)",
    )
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
        help="predict the emotion of audio files with a trained run, or the shipped model",
        description="Predict with RUN_DIR (or a --gender all group; without one, the model shipped with "
        "the package) on files and folders; features are the ones the run was trained on. One row per "
        "file (paths as given); unusable files get an error, "
        "the rest go on. Exit code: 0 every file scored, 1 some could not be scored, 2 none (or bad input).",
    )
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="[RUN_DIR] FILE_OR_DIR",
        help="a run folder (or --gender all group) first, then audio files and folders; without a run "
        "folder the model shipped with the package answers",
    )
    p.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        type=output_file_type(".csv", ".json"),
        help="write results.csv or results.json instead of a table",
    )
    p.add_argument(
        "--min-confidence",
        type=number(float, low=0, high=1),
        metavar="P",
        help="answer 'uncertain' when the top probability is below P (default: the run's threshold, "
        "chosen on held-out speakers; 0 always answers)",
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
    p.add_argument(
        "--segments",
        nargs="?",
        const="energy",
        choices=("energy", "fixed"),
        help="a timeline of each file: one row per speech segment found by energy (40 dB below "
        "the loudest frame, gaps under 0.3 s joined, parts of at most 4 s), or per fixed window with "
        "--segments fixed (default: one row per file, and speech segments for a file over 10 s)",
    )
    p.add_argument(
        "--whole",
        action="store_true",
        help="one answer per file however long it is (default: a file over 10 s is scored by speech "
        "segments, since one answer mixes its parts)",
    )
    p.add_argument(
        "--window",
        type=number(float, low=0.1, high=600),
        metavar="S",
        help="--segments fixed: window length (default: the model's)",
    )
    p.add_argument(
        "--hop",
        type=number(float, low=0.01, high=600),
        metavar="S",
        help="--segments fixed: hop (default: half the window)",
    )
    p.add_argument(
        "--timeline",
        metavar="PNG",
        type=output_file_type(".png"),
        help="with --segments and one file: draw its probabilities over time into PNG",
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
    p.add_argument(
        "--models",
        help="folder of run directories to choose from, opened first (default: the model shipped with the "
        "package first, then the runs under models/)",
    )
    p.add_argument("--port", type=number(int, low=1, high=65535), default=8501, help="port (default: 8501)")
    p.add_argument(
        "--address",
        default="127.0.0.1",
        help="interface to listen on (default: 127.0.0.1, this machine only; 0.0.0.0 for every interface)",
    )
    p.add_argument(
        "--max-mb",
        type=number(float, low=0, high=2048, low_open=True),
        default=20,
        help="upload size limit in MB (default 20)",
    )
    p.set_defaults(func=cmd_app)

    p = sub.add_parser(
        "evaluate",
        help="re-score a run on its test split or on another corpus",
        description="Re-score RUN_DIR on its own test split, or with --corpus on another corpus "
        "(cross-corpus: only the emotions both share). Writes report.json and confusion_matrix.png into "
        "a new folder RUN_DIR/eval-test/ (or eval-<corpus>/; -2, -3 ... when taken): the run's own files "
        "are never rewritten. The last line printed is that folder. RUN_DIR may be a cv folder: each fold "
        "is re-scored (on its held-out speakers), the mean UA printed, and each fold's folder listed last.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR|CV_DIR")
    add_corpus_options(p)
    p.add_argument(
        "--shift",
        type=shifts_type,
        metavar="SHIFTS",
        help="the robustness benchmark: score the clips clean and through each of these comma-separated "
        f"recording shifts ({', '.join(SHIFTS)}) or all, into RUN_DIR/robustness/; RUN_DIR may be a cv "
        "folder, each fold scored on its held-out speakers (default: no shift)",
    )
    p.add_argument("--shift-seed", type=SEED, default=0, help="seed of the shifts' noise and rooms (default: 0)")
    p.add_argument(
        "--jobs",
        "-j",
        type=JOBS,
        default=-1,
        help="worker processes for feature extraction (default: -1, one per core)",
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
    p.add_argument(
        "--rebuild",
        action="store_true",
        help="write saved_model/ again from the run's model first, with this version's graph form (runs trained "
        "by this version only; the weights are unchanged)",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="print only the exported file (and errors)")
    p.set_defaults(func=cmd_export)
    return parser


def _with_config(parser: argparse.ArgumentParser, words: list[str]) -> list[str]:
    """``words`` with a command's ``--config FILE`` expanded into options (`training.recipe.expand_config`)."""
    from ..training.recipe import expand_config

    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    for i, word in enumerate(words):
        if word in commands:
            return words[: i + 1] + expand_config(commands[word], word, words[i + 1 :])
    return words


#: Exit codes: done; ``predict`` scored only some files; bad input or a fault the user can fix
#: (one line on stderr); an internal error (a bug: one line, and the traceback in a file).
EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
#: Exit codes of an interrupted command: Ctrl-C (SIGINT) and SIGTERM, as a shell reports them.
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so that it cleans up as on Ctrl-C (`terminate_as_interrupt`)."""


def terminate_as_interrupt(signum, frame) -> None:
    """A SIGTERM handler: stop as Ctrl-C does (staging folders and temporaries removed, resumable)."""
    raise Terminated()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (`EXIT_OK`, `EXIT_PARTIAL`, `EXIT_USAGE`, `EXIT_INTERNAL`)."""
    import signal
    import threading

    tflog.install()  # TensorFlow's C++ start-up lines stay off stderr
    previous_term = None
    if threading.current_thread() is threading.main_thread():
        previous_term = signal.signal(signal.SIGTERM, terminate_as_interrupt)
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
    except KeyboardInterrupt as exc:
        how = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        print(f"{command}: {how}; rerun the same command to resume", file=sys.stderr)
        return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the edge: a fault the user can fix is one line, a bug too
        from ..files import disk_full, is_disk_full, no_memory, out_of_memory
        from .extras import missing_extra

        if (line := missing_extra(exc, command=command.removeprefix("ser-keras").strip())) is not None:
            print(f"{command}: error: {line}", file=sys.stderr)
            return EXIT_USAGE
        if out_of_memory(exc):
            print(f"{command}: error: {no_memory(f'running {command}')}", file=sys.stderr)
            return EXIT_USAGE
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
        if previous_term is not None:
            signal.signal(signal.SIGTERM, previous_term)


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
