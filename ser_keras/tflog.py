"""Keep TensorFlow's native start-up log lines off stderr.

TensorFlow's C++ runtime writes to file descriptor 2 directly, before and outside
Python's ``logging``: the absl preamble (``All log messages before absl::InitializeLog()
is called ...``, printed once per shared library), ``cudart_stub`` / ``cuInit`` lines on a
machine without a GPU, and grappler's ``NodeDef mentions attribute ...`` lines.
``TF_CPP_MIN_LOG_LEVEL`` silences only some of them.

`install` (called by the command line) sets ``TF_CPP_MIN_LOG_LEVEL=3`` unless the user
set it, and arranges that the **first** ``import tensorflow`` -- wherever it happens,
and only if it happens (extracting features never imports TensorFlow) -- runs with
file descriptor 2 captured; captured lines matching `NOISE` are dropped, anything
else is written back to stderr, so a real error is never lost.  Set
``TF_CPP_MIN_LOG_LEVEL=0`` to see everything.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import os
import sys
import tempfile
from collections.abc import Iterator

#: Substrings of the native lines that are dropped.
NOISE = (
    "All log messages before absl::InitializeLog() is called",
    "cudart_stub.cc",
    "cuda_platform.cc",
    "cuInit",
    "Unable to register cuDNN",
    "Unable to register cuFFT",
    "Unable to register cuBLAS",
    "computation placer already registered",
    "TF-TRT Warning",
    "oneDNN custom operations are on",
    "This TensorFlow binary is optimized to use available CPU instructions",
    "use_unbounded_threadpool",
)


@contextlib.contextmanager
def filtered_native_stderr(noise: tuple[str, ...] = NOISE) -> Iterator[None]:
    """Capture file descriptor 2 for the block; write back every captured line not matching ``noise``."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 (a detached process): nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [
                line
                for line in captured.read().decode("utf-8", "replace").splitlines(keepends=True)
                if not any(n in line for n in noise)
            ]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Wraps the loading of the top-level ``tensorflow`` module in `filtered_native_stderr`."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return None
        loader = spec.loader
        exec_module = loader.exec_module

        def quietly(module):
            with filtered_native_stderr():
                exec_module(module)
                module.config.list_physical_devices("GPU")  # the cuInit probe happens here, inside the capture

        loader.exec_module = quietly
        return spec


def install() -> None:
    """Quiet TensorFlow's native start-up lines in this process (idempotent; nothing when already imported)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules or any(isinstance(f, _QuietTensorFlowFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _QuietTensorFlowFinder())
