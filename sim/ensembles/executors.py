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
import importlib.util
import logging
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
