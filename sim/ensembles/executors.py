"""Executors for chunked ensembles: a local Dask cluster, or an existing Dask scheduler.

:func:`dask_executor` yields a :class:`concurrent.futures.Executor` (a Dask client's
``get_executor()``) that :meth:`sim.Model.simulate` and
:func:`sim.ensembles.batch.run_batch` run chunks on. Dask is the optional extra
``[dask]`` (``dask[distributed]``). On leaving the ``with`` block, by an error or a
Ctrl-C included, the client and a cluster started here are closed, each in a
bounded time.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import importlib.util
import logging
import sys
from collections.abc import Iterator
from concurrent.futures import Executor

from sim.errors import SimError
from sim.extras import MissingExtra

CONNECT_TIMEOUT = 30.0
"""Most time to start a local cluster or reach a scheduler [s]."""
CLOSE_TIMEOUT = 10.0
"""Most time to close the client and a cluster started here [s]."""
TRIM_KEY = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"
"""Dask's setting of the workers' malloc trim threshold, unset for the clusters started here."""


#: glibc's ``mallopt`` parameters (malloc.h) and the values set in workers we did not start.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
WORKER_MMAP_THRESHOLD = 32 * 2**20
"""Arrays below this size [bytes] come from the heap, not a fresh mapping."""
WORKER_TRIM_THRESHOLD = 256 * 2**20
"""Free heap top kept before it is returned to the system [bytes]."""


def tune_malloc() -> bool:
    """Give this process glibc malloc thresholds fit for a chunk's temporary arrays.

    Dask starts its workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which also
    pins glibc's mmap threshold at 128 KiB: every temporary array of a chunk is
    then mapped and unmapped (measured 4x slower on the project's model). For
    clusters started here the variable is unset before the workers start; a
    running scheduler's workers get these thresholds through ``mallopt`` instead
    (``Client.run``). Returns False (and changes nothing) off glibc.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, WORKER_MMAP_THRESHOLD)
                and mallopt(M_TRIM_THRESHOLD, WORKER_TRIM_THRESHOLD))


class ExecutorError(SimError):
    """A Dask cluster could not be started or its scheduler reached."""


def require_dask(what: str) -> None:
    """Raise :class:`~sim.extras.MissingExtra` unless ``dask.distributed`` is installed."""
    try:
        found = importlib.util.find_spec("distributed") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise MissingExtra(f"{what} needs Dask's distributed scheduler, which is not installed: "
                           "pip install -e '.[dask]' (or pip install 'dds-sim[dask]')")


@contextlib.contextmanager
def dask_executor(workers: int | None = None, scheduler: str | None = None, *,
                  timeout: float = CONNECT_TIMEOUT) -> Iterator[Executor]:
    """Yield the executor of a local Dask cluster of ``workers`` processes, or of ``scheduler``.

    Parameters
    ----------
    workers : int, optional
        Start a ``distributed.LocalCluster`` of this many worker processes, one
        thread each (the engine's numpy work is single-threaded per chunk).
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``); its workers
        need this package installed. Give ``workers`` or ``scheduler``, not both.
    timeout : float
        Most time to start the cluster or connect [s].

    Raises
    ------
    MissingExtra
        Dask's distributed scheduler is not installed.
    ExecutorError
        ``workers`` is not a positive whole number, both or neither were given,
        or the cluster did not start / the scheduler was not reached in time.
    """
    if (workers is None) == (scheduler is None):
        raise ExecutorError("give the number of local workers or a scheduler's address "
                            "(--workers N or --scheduler ADDRESS), not both")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise ExecutorError(f"workers must be a positive whole number, got {workers!r}")
    require_dask("--workers/--scheduler" if workers is None else f"{workers} local workers")
    import dask
    from distributed import Client, LocalCluster

    cluster = None
    client = None
    try:
        try:
            if scheduler is not None:
                client = Client(scheduler, timeout=timeout, set_as_default=False)
                client.run(tune_malloc)  # its workers were started with Dask's malloc setting
            else:
                # Dask sets MALLOC_TRIM_THRESHOLD_=65536 in its workers, which keeps glibc's
                # mmap threshold at 128 KiB: every temporary array of a chunk is then mapped
                # and unmapped, measured 4x slower on the project's model (50,000 members).
                with dask.config.set({TRIM_KEY: None}):
                    cluster = LocalCluster(n_workers=workers, threads_per_worker=1,
                                           processes=True, dashboard_address=":0",
                                           silence_logs=logging.ERROR)
                client = Client(cluster, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            where = f"the Dask scheduler at {scheduler}" if scheduler else \
                f"a local Dask cluster of {workers} workers"
            raise ExecutorError(f"could not reach {where} within {timeout:g} s: "
                                f"{type(exc).__name__}: {exc}") from None
        yield client.get_executor()
    finally:
        _close(client, cluster)


def _close(client, cluster) -> None:
    """Close ``client`` and ``cluster`` (each if not None) in a bounded time; never raise."""
    for thing in (client, cluster):
        if thing is None:
            continue
        with contextlib.suppress(Exception):
            thing.close(timeout=CLOSE_TIMEOUT)
