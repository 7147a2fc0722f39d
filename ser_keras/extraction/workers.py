"""Where extraction runs: local worker processes that exit with their parent, or a Dask cluster."""

from __future__ import annotations

import contextlib
import os
import threading
import time

from ..errors import ParameterError


@contextlib.contextmanager
def dask_client(scheduler: str, *, workers: int = 2):
    """A `distributed.Client` of the cluster at ``scheduler``, or of a new local cluster (``"local"``).

    The local cluster has ``workers`` single-threaded worker processes listening on
    127.0.0.1 only, and no dashboard; it is closed on exit.

    Raises
    ------
    ParameterError
        ``distributed`` is not installed, or no scheduler answers at the address.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ParameterError(
            "--scheduler/--dask need the 'distributed' package (pip install 'ser-keras[dask]')"
        ) from None
    if scheduler == "local":
        with (
            LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    try:
        _refuse_early(scheduler)
        client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise ParameterError(f"--scheduler {scheduler}: no Dask scheduler answers there ({exc})") from None
    with client:
        yield client


def _refuse_early(scheduler: str) -> None:
    """Raise `ConnectionRefusedError` at once when nothing listens at a ``tcp://`` scheduler address.

    `distributed.Client` retries a refused connection until its timeout; a port with no
    process behind it answers a plain connect with a refusal straight away.  Other
    schemes, and hosts that do not answer at all, are left to the client.
    """
    import socket

    from distributed.comm.addressing import parse_address, parse_host_port

    scheme, location = parse_address(scheduler)
    if scheme != "tcp":
        return
    host, port = parse_host_port(location)
    try:
        with socket.create_connection((host, port), timeout=2):
            pass
    except ConnectionRefusedError:
        raise ConnectionRefusedError(f"connection refused at {host}:{port}") from None
    except OSError:  # unreachable or slow: the client's own timeout and message decide
        return


_WATCHED_PARENT: int | None = None


def exit_with_parent(parent: int, *, poll_seconds: float = 0.5) -> None:
    """In a worker process: exit as soon as ``parent`` is gone (a killed extract leaves no worker behind).

    The workers' initializer.  loky keeps idle workers for minutes and notices a dead
    parent only late; a daemon thread polling the parent pid ends this worker within
    ``poll_seconds``, busy or idle.  Started once per worker.
    """
    global _WATCHED_PARENT
    if _WATCHED_PARENT == parent:
        return
    _WATCHED_PARENT = parent

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_seconds)
        os._exit(1)

    threading.Thread(target=watch, name="ser-keras-parent-watch", daemon=True).start()
