"""The subcommands of ``ser-keras``: each takes the parsed options, calls the library and prints.

`ser_keras.cli.main` builds the parser and runs one of these; errors are raised as
`SerError` and printed there as one line.
"""

from __future__ import annotations

import argparse
import math
import os
import sys

from ..errors import ParameterError, SerError
from ..layout import CV_FILE, REPORT_FILE
from ..training.arguments import (
    corpus_manifest,
    feature_configs,
    split_config,
    split_manifest,
    training_options,
)


def extract_from_args(args: argparse.Namespace):
    """Run (or hit the cache of) the extract stage for parsed arguments; returns an `ExtractResult`."""
    from ..extraction.extract import extract_features

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
        reused = f" ({result.n_reused} found in earlier feature sets)" if result.n_reused else ""
        done = f"extracted {result.n_items} rows{reused} in {result.seconds:.1f} s; {failed} file(s) failed"
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
    from ..training.cv import cross_validate
    from ..training.recipe import resolved_recipe, resolved_values
    from ..training.strategies import configure_devices
    from ..training.train import check_recipe

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
        summary = _read_json(path / CV_FILE)
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
    from ..extraction.extract import FeatureSet
    from ..training.gender import VARIANTS, train_gender_group
    from ..training.recipe import resolved_recipe, resolved_values
    from ..training.strategies import configure_devices
    from ..training.train import check_recipe, train

    options = training_options(args)
    if args.features_dir:
        fs = FeatureSet(args.features_dir)
        features = fs.features
    else:
        features = feature_configs(args)[0]
    resolved = check_recipe(options, features)  # before any extraction
    calibration = None
    if args.calibrate_from:
        from ..training.cv import cv_calibration

        calibration = cv_calibration(args.calibrate_from, model=resolved.model)
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
            calibration=calibration,
        )
        if not args.quiet:
            _print_scores(_read_json(runs[gender] / REPORT_FILE), f"{gender}: ")
        print(runs[gender], flush=True)
    if args.gender == "all":  # the group that `predict --gender auto` routes through
        group_dir = train_gender_group(fs, runs, out_dir=args.out, seed=args.seed)
        print(group_dir, flush=True)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..evaluation.evaluate import evaluate_into

    on_extracted = None if args.quiet else print_extraction_summary
    manifest = corpus_manifest(args) if args.corpus else None
    if args.shift:
        return _evaluate_shifts(args, manifest)
    from pathlib import Path

    from ..layout import fold_runs

    cv = (Path(args.run_dir) / CV_FILE).is_file()
    runs = fold_runs(args.run_dir) if cv else [Path(args.run_dir)]  # a cv folder: each fold on its own speakers
    if cv and not runs:
        raise ParameterError(f"{args.run_dir}: a cv folder without finished folds; rerun its cv to finish it")
    scores, folders = [], []
    for run in runs:
        out_dir = evaluate_into(
            run,
            manifest=manifest,
            corpora=args.corpus,
            cache_dir=args.cache_dir,
            jobs=args.jobs,
            progress=not args.quiet,
            on_extracted=on_extracted,
        )
        report = _read_json(out_dir / REPORT_FILE)
        if not args.quiet:
            _print_scores(report, f"{run.name}: " if cv else "")
        scores.append(report["unweighted_accuracy"])
        folders.append(out_dir)
    if cv and not args.quiet:
        import numpy as np

        print(f"mean UA over {len(scores)} folds {np.mean(scores):.3f} ± {np.std(scores):.3f}")
    print("\n".join(str(folder) for folder in folders))  # the result folders last, one per line
    return 0


def _read_json(path) -> dict:
    """A JSON file this command has just written (a report, a cv or robustness summary)."""
    import json

    return json.loads(path.read_text())


def _evaluate_shifts(args: argparse.Namespace, manifest) -> int:

    from ..evaluation.robustness import evaluate_shifts
    from ..layout import ROBUSTNESS_FILE

    out_dir = evaluate_shifts(
        args.run_dir,
        args.shift,
        manifest=manifest,
        corpora=args.corpus,
        cache_dir=args.cache_dir,
        seed=args.shift_seed,
        jobs=args.jobs,
        progress=not args.quiet,
    )
    if not args.quiet:
        record = _read_json(out_dir / ROBUSTNESS_FILE)
        for row in record["rows"]:
            spread = f" ± {row['unweighted_accuracy_std']:.3f}" if "unweighted_accuracy_std" in row else ""
            print(
                f"{row['shift']:<12} UA {row['unweighted_accuracy']:.3f}{spread}  WA {row['weighted_accuracy']:.3f}  "
                f"macro-F1 {row['macro_f1']:.3f}  n={row['n_test']}  {row['description']}"
            )
        print(f"mean UA over the shifts {record['mean_ua_over_shifts']:.3f}")
    print(out_dir)
    return 0


def _print_scores(report: dict, prefix: str = "") -> None:
    """A run's one-line summary of its report on stdout (the result path follows it as the last line)."""
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


#: A printed cell longer than this is cut (its whole text is in ``--output``).
MAX_CELL = 120
#: ``ser-keras predict`` exit codes: every file scored / some files failed / none scored (or bad input).
PREDICT_EXIT_ALL, PREDICT_EXIT_SOME, PREDICT_EXIT_NONE = 0, 1, 2


def cmd_predict(args: argparse.Namespace) -> int:

    from ..serving.predict import Predictor

    run, args.inputs = split_run(args.inputs)
    if run is None:
        if args.gender != "mixed":
            raise ParameterError("--gender chooses a model of a --gender all group; name the group's folder first")
        predictor = Predictor.pretrained(min_confidence=args.min_confidence)
    else:
        predictor = Predictor.from_run(run, gender=args.gender, min_confidence=args.min_confidence)
    if not args.inputs:
        raise ParameterError(f"{run}: a run folder, and no audio file or folder after it")
    if args.segments and args.whole:
        raise ParameterError("--whole gives one answer per file; --segments, one per segment: choose one")
    if args.segments:
        rows, columns = _records(_predict_segments(predictor, args, args.inputs))
    else:
        if args.timeline or args.window or args.hop:
            raise ParameterError("--timeline, --window and --hop go with --segments")
        rows, columns = _predict_whole_or_long(predictor, args)
    if not rows:
        raise SerError("no audio files found in " + ", ".join(args.inputs))
    if args.output:
        import pandas as pd

        from ..files import atomic_write_text, write_csv

        table = pd.DataFrame(rows, columns=columns)
        if args.output.lower().endswith(".json"):
            atomic_write_text(args.output, _json_records(table) + "\n")  # paths as given, "/" unescaped
        else:
            write_csv(table, args.output)
        if not args.quiet:
            print(f"wrote {len(table)} row(s) to {args.output}", file=sys.stderr)
        print(args.output)
    else:
        print_predictions(rows, predictor.labels)
    failed = len({row["path"] for row in rows if not _missing(row.get("error"))})
    total = len({row["path"] for row in rows})
    if failed:
        where = "see the error column" if args.output else "listed below the table"
        print(f"{failed} of {total} file(s) could not be scored ({where})", file=sys.stderr)
    return PREDICT_EXIT_ALL if failed == 0 else PREDICT_EXIT_SOME if failed < total else PREDICT_EXIT_NONE


def split_run(inputs: list[str]) -> tuple[str | None, list[str]]:
    """``predict``'s arguments as ``(run folder or None, audio paths)``: the first is a run when it is a
    folder with a ``run.json`` or ``group.json`` entry."""
    from pathlib import Path

    from ..layout import GROUP_FILE, RUN_FILE

    first = Path(inputs[0])
    # exists, not is_file: a run.json that is a FIFO or a dangling link is the run's problem, reported as such
    if first.is_dir() and any(os.path.lexists(first / name) for name in (RUN_FILE, GROUP_FILE)):
        return inputs[0], inputs[1:]
    return None, inputs


def print_predictions(rows: list[dict], labels: list[str], *, file=None) -> None:
    """``predict``'s rows as a terminal table: what matters, then the files that could not be scored.

    The table shows ``path``, a segment's ``start`` and ``end``, ``emotion``, ``confidence`` (its
    probability), ``best guess`` where a row is ``uncertain``, and ``speaker`` and ``warning`` where
    any row has one; every probability is in ``--output``.  The errors follow, one line each, so one
    long message does not widen every row.  Plain Python (columns right-aligned, cells cut at
    `MAX_CELL` characters): a cold ``predict`` imports no pandas to print.
    """
    from ..serving.predict import UNCERTAIN

    def text(value, form="{}"):
        return "" if _missing(value) else form.format(value)

    scored = [row for row in rows if _missing(row.get("error"))]
    if scored:
        shown = {"path": [text(row["path"]) for row in scored]}
        for column in ("start", "end"):
            if column in scored[0]:
                shown[column] = [text(row[column], "{:.2f}") for row in scored]
        shown["emotion"] = [text(row["emotion"]) or "-" for row in scored]
        probabilities = [[row.get(label) for label in labels if not _missing(row.get(label))] for row in scored]
        shown["confidence"] = [f"{max(p):.3f}" if p else "" for p in probabilities]
        unsure = [row["emotion"] == UNCERTAIN for row in scored]
        if "best_guess" in scored[0] and any(unsure):  # below the run's min_confidence: what it would have said
            shown["best guess"] = [text(row["best_guess"]) if u else "" for row, u in zip(scored, unsure)]
        for column in ("speaker", "warning"):
            if any(not _missing(row.get(column)) for row in scored):
                shown[column] = [text(row.get(column)) for row in scored]
        cells = {
            name: [v if len(v) <= MAX_CELL else v[: MAX_CELL - 3] + "..." for v in values]
            for name, values in shown.items()
        }
        widths = {name: max(len(name), *map(len, values)) for name, values in cells.items()}
        print(" ".join(name.rjust(widths[name]) for name in cells), file=file)
        for i in range(len(scored)):
            print(" ".join(values[i].rjust(widths[name]) for name, values in cells.items()), file=file)
    failed = [row for row in rows if not _missing(row.get("error"))]
    if failed:
        print(f"could not be scored ({len({row['path'] for row in failed})}):", file=file)
        for row in failed:
            print(f"  {row['error']}", file=file)


def _missing(value) -> bool:
    """A table cell with nothing in it: None, or a float NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _records(table) -> tuple[list[dict], list[str]]:
    """A DataFrame's rows as dicts (None for NaN) and its columns."""
    return table.astype(object).where(table.notna(), None).to_dict("records"), list(table.columns)


def _predict_whole_or_long(predictor, args: argparse.Namespace) -> tuple[list[dict], list[str]]:
    """``predict`` without ``--segments``: one row per file, except that a file longer than
    `ser_keras.signal.quality.LONG_SECONDS` gets one row per speech segment (unless ``--whole``, or with a
    run that scores a speaker's or a corpus's files together); rows keep the order of the files. Rows as dicts
    and the columns: without a long file, nothing here imports pandas."""
    from ..extraction.normalize import transductive
    from ..serving.predict import _seconds, expand_paths
    from ..signal.quality import LONG_SECONDS

    speakers = read_speaker_table(args.speakers) if args.speakers else None
    files = expand_paths(args.inputs)
    long = set()
    if not args.whole and not transductive(predictor.normalize):
        long = {path for path in files if _seconds(path) > LONG_SECONDS}
    if not long:
        return predictor.predict_records(files, speakers=speakers)
    whole, columns = predictor.predict_records([path for path in files if path not in long], speakers=speakers)
    parts, _ = _records(_predict_segments(predictor, args, [path for path in files if path in long], mode="energy"))
    order = {str(path): i for i, path in enumerate(files)}
    columns = [columns[0], "start", "end", *columns[1:]]  # the whole files' columns, a segment's span after the path
    rows = sorted(whole + parts, key=lambda row: order[str(row["path"])])  # stable: a file's segments in order
    return [{c: row.get(c) for c in columns} for row in rows], columns


def _predict_segments(predictor, args: argparse.Namespace, inputs, *, mode: str | None = None):
    """``predict --segments``: the timeline rows of every file (a ``path`` column first), and ``--timeline``."""
    import pandas as pd

    from ..serving.predict import expand_paths
    from ..serving.timeline import plot_timeline

    mode = mode or args.segments
    files = expand_paths(inputs)
    if args.timeline and len(files) != 1:
        raise ParameterError(f"--timeline draws one recording; {len(files)} files were given")
    options = {"window": args.window, "hop": args.hop} if mode == "fixed" else {}
    tables = []
    for path in files:  # a file that cannot be scored is one row with its error; the others go on
        try:
            tables.append(predictor.predict_segments(path, mode=mode, **options).assign(path=str(path)))
        except ParameterError as exc:
            tables.append(pd.DataFrame([{"path": str(path), "error": str(exc)}]))
    columns = ["path", "start", "end", "emotion", *predictor.labels, "warning", "error"]
    table = pd.concat(tables, ignore_index=True).reindex(columns=columns) if tables else pd.DataFrame(columns=columns)
    if args.timeline and table["error"].isna().all():
        import soundfile as sf

        duration = float(sf.info(str(files[0])).duration)
        plot_timeline(table, predictor.labels, args.timeline, duration=duration, title=f"{files[0]}: emotion over time")
    return table


def read_speaker_table(path: str) -> dict[str, str]:
    """``--speakers FILE.csv`` -> ``{path: speaker}``; its ``path`` column holds paths as given to predict,
    or relative to the CSV."""
    from pathlib import Path

    import pandas as pd

    from ..files import csv_unescape, require_regular_file

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
    from ..serving.export import check_litert, export_litert

    target = export_litert(args.run_dir, rebuild=args.rebuild)
    if not args.quiet:  # a check that the file runs and answers as the run's model does, on its test rows
        gap, n_rows, what = check_litert(args.run_dir, target)
        print(
            f"LiteRT model {target.stat().st_size / 1e6:.2f} MB; largest probability difference to the run's model "
            f"on {n_rows} {what}: {gap:.1e}"
        )
    print(target)
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from ..runs.listing import list_runs, runs_table

    rows = list_runs(args.out)
    if not rows:
        print(f"no runs under {args.out}/ (train one: ser-keras train)", file=sys.stderr)
        return 0
    print(runs_table(rows, sort=args.sort, format=args.format))
    return 0


def cmd_app(args: argparse.Namespace) -> int:
    from importlib.util import find_spec
    from pathlib import Path

    from .extras import EXTRA_MODULES

    for module in EXTRA_MODULES["app"]:  # the server is another process: say what it lacks before it starts
        if find_spec(module) is None:
            raise ModuleNotFoundError(f"No module named '{module}'", name=module)
    script = Path(find_spec("ser_keras.serving.app").origin)  # the page's file, found without running it
    env = dict(os.environ, SER_KERAS_RUN=args.run_dir or "", SER_KERAS_MAX_MB=str(args.max_mb))
    env.pop("SER_KERAS_MODELS", None)
    if args.models is not None:  # without --models the page opens on the shipped model, then ./models' runs
        env["SER_KERAS_MODELS"] = args.models
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
        "--client.toolbarMode",
        "viewer",  # no Deploy button, rerun or cache menu for the people the page is served to
    ]
    print(f"serving on http://{args.address}:{args.port}", file=sys.stderr, flush=True)
    os.execve(sys.executable, command, env)  # become the server: signals reach Streamlit itself
    return 0


def cmd_manifest(args: argparse.Namespace) -> int:
    from ..data.manifest import plot_counts, summarize

    manifest = split_manifest(args) if args.with_split else corpus_manifest(args)
    if args.output:
        from ..files import write_csv

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
