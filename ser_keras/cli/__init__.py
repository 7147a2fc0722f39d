"""The ``ser-keras`` command line: it parses, calls the library and prints.

- `main`: the parser of every subcommand and `main`, where a `SerError` becomes one line and an exit code.
- `commands`: one function per subcommand, each calling one library function and printing its result.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "commands": [
            "extract_from_args",
            "print_extraction_summary",
            "cmd_extract",
            "cmd_cv",
            "cmd_train",
            "cmd_evaluate",
            "cmd_predict",
            "print_predictions",
            "read_speaker_table",
            "cmd_export",
            "cmd_runs",
            "cmd_app",
            "cmd_manifest",
        ],
        "main": ["build_parser", "Terminated", "terminate_as_interrupt"],
    },
)
