"""The feature cache's files: checksummed arrays, checkpointed chunks and the folder lock.

A finished feature set records each array's size and SHA-256 in ``config.json`` and is
trusted only while they match (`verified`); an unfinished one keeps a ``chunk_*.npz``
per `ser_keras.extraction.chunks.CHUNK_SIZE` items, each redone when it does not load whole
(`chunk_ok`).  Only one process builds a feature set at a time (`locked`).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np

from ..data.manifest import file_sha256


def array_digest(path: Path) -> dict:
    """Size and SHA-256 of a cached array file, recorded in ``config.json`` and checked on every hit."""
    return {"bytes": path.stat().st_size, "sha256": file_sha256(path)}


def verified(folder: Path) -> bool:
    """A finished feature set whose arrays are the ones its ``config.json`` recorded (size and checksum)."""
    try:
        config = json.loads((folder / "config.json").read_text())
        expected = config["arrays"]
        return all(array_digest(folder / name) == record for name, record in expected.items()) and len(expected) == 6
    except (OSError, ValueError, KeyError, TypeError):
        return False


def chunk_ok(path: Path) -> bool:
    """A checkpointed chunk that loads completely (a zero-byte or truncated one is redone)."""
    if not path.is_file():
        return False
    try:
        with np.load(path) as chunk:
            chunk["ok"], chunk["X"], chunk["errors"]
        return True
    except Exception:  # noqa: BLE001 - any failure to read means: extract this chunk again
        path.unlink(missing_ok=True)
        return False


def chunk_name(index: int) -> str:
    return f"chunk_{index:06d}.npz"


@contextlib.contextmanager
def locked(path: Path):
    """An exclusive advisory lock (``flock``) held for the block; a no-op where flock is missing."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
