"""Numba's on-disk cache, filled by one process at a time.

librosa compiles its numba kernels (``yin``'s parabolic interpolation, ``localmax``, ...) on first
use and caches them beside its sources.  Two processes compiling the same gufunc at once can write a
mismatched pair of cache files, and every later process that loads the pair crashes (SIGSEGV; numba
issue 10128) until the files are deleted.  `first_use` makes each process's first run of a code path
wait for a lock shared by every process of this user on the machine, so one process compiles and
writes while the others wait and then load what it wrote.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Hashable, Iterator
from pathlib import Path

_done: set[Hashable] = set()
_state = threading.local()


def lock_path() -> Path:
    """The lock file: in ``NUMBA_CACHE_DIR`` when that is set, else in the temporary folder."""
    folder = os.environ.get("NUMBA_CACHE_DIR") or tempfile.gettempdir()
    user = os.getuid() if hasattr(os, "getuid") else "user"
    return Path(folder) / f"ser-keras-numba-{user}.lock"


@contextlib.contextmanager
def first_use(key: Hashable) -> Iterator[None]:
    """Hold the machine-wide lock for the block the first time this process runs ``key``.

    Later blocks with the same ``key``, and blocks nested in a held one, run without it.  The key is
    marked done only when its block finishes without an exception.

    Parameters
    ----------
    key : hashable
        Names the code path, e.g. ``("features", "functionals")``.
    """
    if key in _done or getattr(_state, "holding", False):
        yield
        return
    from .feature_cache import locked

    _state.holding = True
    try:
        path = lock_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        with locked(path):
            yield
        _done.add(key)
    finally:
        _state.holding = False
