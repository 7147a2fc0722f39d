"""numba's cache is filled by one process at a time: `first_use` and the extract workers' warm-up."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from ser_keras.extraction import jit_cache

HOLD_SECONDS = 1.5


def _hold_lock(tmp_path, *, seconds: float) -> tuple[subprocess.Popen, object]:
    """Another process holding the machine-wide lock for ``seconds``; returns it and the file it writes its release
    time to."""
    released = tmp_path / "released"
    held = tmp_path / "held"
    code = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from ser_keras.extraction.feature_cache import locked
        with locked(Path({str(jit_cache.lock_path())!r})):
            Path({str(held)!r}).touch()
            time.sleep({seconds})
            Path({str(released)!r}).write_text(repr(time.time()))
        """
    )
    holder = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 60
    while not held.exists():
        assert holder.poll() is None, "the lock holder exited early"
        assert time.monotonic() < deadline, "the lock holder never took the lock"
        time.sleep(0.02)
    return holder, released


@pytest.fixture
def fresh_process_state(monkeypatch):
    """This process as if it had run no code path yet.

    The lock stays the machine-wide one: a test that compiles librosa's kernels (the warm-up) under a
    private lock would race the other test processes compiling them, and corrupt numba's cache for all.
    """
    monkeypatch.setattr(jit_cache, "_done", set())


def test_the_first_use_of_a_key_waits_for_another_process_holding_the_lock(tmp_path, fresh_process_state):
    holder, released = _hold_lock(tmp_path, seconds=HOLD_SECONDS)
    with jit_cache.first_use(("features", "functionals")):
        entered = time.time()
    holder.wait(timeout=60)
    assert entered >= float(released.read_text())


def test_a_key_done_once_and_a_nested_block_never_wait(tmp_path, fresh_process_state):
    with jit_cache.first_use("a"):
        with jit_cache.first_use("b"):  # nested: runs inside the held lock instead of deadlocking
            pass
    holder, released = _hold_lock(tmp_path, seconds=HOLD_SECONDS)
    with jit_cache.first_use("a"):
        entered = time.time()
        assert not released.exists()
    holder.wait(timeout=60)
    assert entered < float(released.read_text())
    assert "b" not in jit_cache._done  # it ran under a's lock, not its own: its own first use is still to come


def test_a_failed_first_use_is_not_marked_done(fresh_process_state):
    with pytest.raises(RuntimeError), jit_cache.first_use("c"):
        raise RuntimeError("compile failed")
    assert "c" not in jit_cache._done


def test_an_extract_worker_warms_up_under_the_lock_before_its_first_chunk(tmp_path, fresh_process_state):
    from ser_keras.extraction.chunks import extract_chunk
    from ser_keras.features.config import FeatureConfig
    from ser_keras.signal.augment import AugmentConfig

    holder, released = _hold_lock(tmp_path, seconds=HOLD_SECONDS)
    ok, X, errors = extract_chunk(
        [], features=FeatureConfig(kind="functionals"), augment=AugmentConfig(recipes=(("speed",),)), seed=0
    )
    finished = time.time()
    holder.wait(timeout=60)
    assert finished >= float(released.read_text())
    assert len(ok) == 0 and len(X) == 0 and errors == []
    assert ("extract", "functionals", (("speed",),), None) in jit_cache._done


def test_the_lock_file_lives_beside_numbas_cache_when_that_is_moved(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert jit_cache.lock_path().parent == tmp_path
