"""Every file the program writes, and every input file it opens by name, goes through here.

* **Atomic writes.**  `atomic_write_bytes`, `atomic_write_text`, `atomic_write_json`,
  `write_csv` and `atomic_path` (for writers that want a path: ``savefig``, ``np.save``)
  write a hidden temporary file created exclusively in the target's own folder and
  then ``os.replace`` it onto the target.  A target that is a symlink is *replaced*
  by the new file, never written through, so a planted ``report.json -> ~/file`` link
  cannot redirect a write out of its folder.  On any failure the temporary file is
  removed and the earlier file, if any, is left as it was.
* **A full disk is one line.**  ``ENOSPC`` (or ``EDQUOT``) becomes `DiskFullError`:
  ``no space left on DEVICE while writing PATH``; `check_free_space` says the same
  before a large write that could not fail cleanly (memory-mapped arrays).
* **Inputs are regular files.**  `require_regular_file` refuses a FIFO, socket or
  device before it is opened, so nothing blocks forever on ``open``.
* **CSV cells are spreadsheet-safe.**  `write_csv` prefixes text cells that begin with
  ``=``, ``+``, ``-``, ``@``, a tab or a carriage return with ``'`` (OWASP's rule for
  CSV injection), so a file named ``=cmd|calc.wav`` is shown, not evaluated.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

from .errors import ParameterError, SerError

#: Errors that mean the file system is out of room (blocks or quota).
NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})
#: First characters a spreadsheet takes for a formula (OWASP, CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class DiskFullError(SerError):
    """The file system holding a path the program writes is full (one line, exit code 2)."""


class OutOfMemoryError(SerError):
    """The process ran out of memory (or of its address-space limit): one line, exit code 2."""


#: What libraries say when memory (or ``ulimit -v``) ran out while they mapped or allocated.
_NO_MEMORY_WORDS = ("cannot allocate memory", "failed to map segment", "could not find/load shared object")


def out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` (or an error it was raised from) means memory ran out, not bad input.

    A ``MemoryError``, ``ENOMEM``, or a shared library that could not be mapped (llvmlite under
    ``ulimit -v`` says it cannot be found) while the address space is limited.
    """
    import resource

    limited = resource.getrlimit(resource.RLIMIT_AS)[0] != resource.RLIM_INFINITY
    words = _NO_MEMORY_WORDS if limited else _NO_MEMORY_WORDS[:2]
    return any(
        isinstance(e, MemoryError)
        or (isinstance(e, OSError) and e.errno == errno.ENOMEM)
        or any(word in str(e).lower() for word in words)
        for e in error_chain(exc)
    )


def no_memory(doing: str) -> OutOfMemoryError:
    """The `OutOfMemoryError` for ``doing`` (``scoring clip.wav``), naming the address-space limit if one is set."""
    import resource

    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    where = (
        ""
        if limit == resource.RLIM_INFINITY
        else f"; this process may use at most {limit / 2**20:,.0f} MiB (ulimit -v)"
    )
    return OutOfMemoryError(f"out of memory while {doing}{where}")


def device_of(path: str | os.PathLike) -> str:
    """The mount point holding ``path`` (or its nearest existing parent), as named in `DiskFullError`."""
    current = Path(os.path.abspath(path))
    while not current.exists() and current != current.parent:
        current = current.parent
    while not os.path.ismount(current) and current != current.parent:
        current = current.parent
    return str(current)


def disk_full(path: str | os.PathLike) -> DiskFullError:
    """The `DiskFullError` for a write to ``path``."""
    return DiskFullError(f"no space left on {device_of(path)} while writing {path}")


def error_chain(exc: BaseException | None) -> Iterator[BaseException]:
    """``exc`` and the errors it was raised from (``__cause__``, else ``__context__``), innermost last."""
    while exc is not None:
        yield exc
        exc = exc.__cause__ or exc.__context__


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or an error it was raised from) is a full file system."""
    return any(
        (isinstance(e, OSError) and e.errno in NO_SPACE)
        or "No space left on device" in str(e)  # TensorFlow's own errors
        or "Disk quota exceeded" in str(e)
        for e in error_chain(exc)
    )


def check_free_space(folder: str | os.PathLike, needed: int, *, writing: str | os.PathLike) -> None:
    """Refuse a write of ``needed`` bytes into ``folder`` when its file system has less free.

    Raises
    ------
    DiskFullError
        Fewer than ``needed`` bytes (plus 1 MiB of margin) are free.
    """
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return  # cannot tell: the write itself will say
    if free < needed + (1 << 20):
        raise DiskFullError(
            f"no space left on {device_of(folder)} while writing {writing} "
            f"(needs {needed / 1e6:.1f} MB, {free / 1e6:.1f} MB free)",
        )


def _temporary(path: Path) -> Path:
    # the real suffix last, so writers that infer a format from it (savefig) still can
    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp{path.suffix}")


#: The names `atomic_path` gives its temporaries.
TEMPORARY_NAME = re.compile(r"^\..+\.\d+-[0-9a-f]{8}\.tmp(\.[^.]*)?$")


def remove_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporaries a killed writer left below ``folder`` (`TEMPORARY_NAME`); returns them.

    A temporary is never a result: a folder is published (or resumed) without them.
    """
    found = [p for p in Path(folder).rglob(".*") if p.is_file() and TEMPORARY_NAME.match(p.name)]
    for path in found:
        with contextlib.suppress(OSError):
            path.unlink()
    return found


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; on success it replaces ``path`` in one rename.

    The temporary file is created exclusively (``O_EXCL``: an existing file or link of
    that name is never followed).  On failure it is removed and ``path`` is untouched.

    Raises
    ------
    DiskFullError
        The file system is full.

    Examples
    --------
    >>> with atomic_path("plot.png") as tmp:  # doctest: +SKIP
    ...     fig.savefig(tmp)
    """
    path = Path(path)
    tmp = _temporary(path)
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        yield tmp
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, DiskFullError):
            raise
        if is_disk_full(exc):
            raise disk_full(path) from None
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (`atomic_path`); returns ``path``."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, data, *, indent: int = 2) -> Path:
    """Write ``data`` as JSON to ``path`` atomically."""
    return atomic_write_text(path, json.dumps(data, indent=indent) + "\n")


def csv_safe(table):
    """A copy of a DataFrame whose text cells a spreadsheet cannot take for a formula.

    Text cells beginning with one of `FORMULA_START` get a leading ``'``; numbers are
    left as they are.
    """
    from pandas.api.types import is_object_dtype, is_string_dtype

    out = table.copy()
    for column in out.columns:
        if is_object_dtype(out[column]) or is_string_dtype(out[column]):
            out[column] = out[column].map(
                lambda v: "'" + v if isinstance(v, str) and v.startswith(FORMULA_START) else v
            )
    return out


def csv_unescape(value: str) -> str:
    """Undo `csv_safe` on one cell read back (``'=x`` -> ``=x``)."""
    if value.startswith("'") and value[1:].startswith(FORMULA_START):
        return value[1:]
    return value


def write_csv(table, path: str | os.PathLike, **to_csv) -> Path:
    """``table.to_csv(path, index=False)`` atomically, with spreadsheet-safe text cells (`csv_safe`)."""
    to_csv.setdefault("index", False)
    return atomic_write_text(path, csv_safe(table).to_csv(**to_csv))


def require_regular_file(path: str | os.PathLike, *, what: str = "file") -> Path:
    """``path`` if it is a regular file (or a link to one), else a one-line `ParameterError`.

    Checked with ``stat`` before anything opens the file: opening a FIFO blocks until a
    writer appears, and a device or socket is never an input.
    """
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ParameterError(f"{path}: {what} not found") from None
    except PermissionError:
        raise ParameterError(f"{path}: permission denied") from None
    except OSError as exc:
        raise ParameterError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    if stat.S_ISDIR(mode):
        article = "an" if what[:1] in "aeiou" else "a"
        raise ParameterError(f"{path}: is a folder, not {article} {what}")
    if not stat.S_ISREG(mode):
        kind = "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
        raise ParameterError(f"{path}: is {kind}, not a regular {what}; refused (it could block forever)")
    return path


def read_text(path: str | os.PathLike, *, what: str = "file", limit: int | None = None) -> str:
    """The UTF-8 text of a regular file, at most ``limit`` bytes (`require_regular_file` first).

    Raises
    ------
    ParameterError
        Not a regular file, unreadable, not UTF-8, or larger than ``limit``.
    """
    path = require_regular_file(path, what=what)
    if limit is not None and path.stat().st_size > limit:
        raise ParameterError(f"{path}: {what} too large ({path.stat().st_size} bytes; at most {limit})")
    try:
        return path.read_text(encoding="utf-8")
    except PermissionError:
        raise ParameterError(f"{path}: permission denied") from None
    except UnicodeDecodeError:
        raise ParameterError(f"{path}: damaged {what} (not UTF-8 text)") from None
    except OSError as exc:
        raise ParameterError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
