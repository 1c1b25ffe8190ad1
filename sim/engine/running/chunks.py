"""Chunked ensembles: split the members, run the chunks on an executor, reassemble.

:meth:`sim.Model.simulate` with ``executor=`` or ``chunk_size=`` comes here. The
members are split into consecutive chunks; each chunk is one ordinary vectorised
``simulate`` call (:func:`run_chunk`), run on any :class:`concurrent.futures.Executor`
(a spawn-method process pool, ``dask.distributed.Client.get_executor()``, ...) or,
without one, one after another in this process. The results are written into one
:class:`~sim.engine.results.SimulationResult` in member order as the chunks finish,
so at most ``in_flight`` chunks' results are held besides the assembled arrays.

Bit-for-bit identity: every chunk runs the same evaluator whatever its size. The
numpy closures (``kernel="python"``, what ``"auto"`` means here) give the same
numbers for any number of members above one, and the single-member path evaluates
differently (Python floats), so a one-member chunk runs as two copies of its member
and keeps the first. Euler and RK4 are member-independent, so the chunking, the
worker count and the executor do not change a bit. SciPy's vectorised solver shares
one step-size control among the members it integrates together: its results depend
on ``chunk_size`` (deterministic for a given one), which is why it must be given.
"""
from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from sim.engine.results import SOLVER, Failure, FailureKind, SimulationResult
from sim.errors import ParameterError

#: how long one wait for a finished chunk lasts before looking again [s]; a Ctrl-C
#: is seen between two waits at the latest
POLL_SECONDS = 0.5

_MODELS: dict[tuple[str, str], Any] = {}  # (path, model hash) -> Model, one per process
_MODELS_LOCK = threading.Lock()


class ModelRef:
    """A model as a chunk task carries it: itself here, its text across processes.

    Pickled, it is the model's file path, hash and text (the :class:`~sim.Model`'s
    own state); unpickled, the model is compiled once per process and reused by
    the process's later chunks.
    """

    def __init__(self, model: Any) -> None:
        self.model = model

    def __getstate__(self) -> dict:
        """Return the model's pickled state, its class and its identity."""
        m = self.model
        return {"cls": type(m), "state": m.__getstate__(),
                "key": (str(m.path), m.model_hash)}

    def __setstate__(self, state: dict) -> None:
        """Take the model of this process's cache, compiling it on first use."""
        key = tuple(state["key"])
        with _MODELS_LOCK:
            model = _MODELS.get(key)
            if model is None:
                cls = state["cls"]
                model = cls.__new__(cls)
                model.__setstate__(state["state"])
                _MODELS[key] = model
        self.model = model


@dataclasses.dataclass(frozen=True)
class Chunk:
    """Members ``start`` to ``stop - 1`` of an ensemble, and their parameters."""

    start: int
    stop: int
    params: dict
    index: int = 0
    """Position of the chunk in the ensemble (0, 1, ...)."""

    @property
    def size(self) -> int:
        """Number of members [-]."""
        return self.stop - self.start


def check_chunking(n: int, method: str, executor: object, chunk_size: int | None) -> int:
    """Return the chunk size of an ``n``-member run, validated.

    Raises
    ------
    ParameterError
        ``chunk_size`` is not a positive integer; ``executor`` is not a
        :class:`concurrent.futures.Executor`-like object (no ``submit``); or
        ``method="scipy"`` with an executor but no ``chunk_size``.
    """
    if chunk_size is not None and (isinstance(chunk_size, bool)
                                   or not isinstance(chunk_size, (int, np.integer))
                                   or chunk_size < 1):
        raise ParameterError(f"chunk_size must be a positive whole number of members, "
                             f"got {chunk_size!r}")
    if executor is not None and not callable(getattr(executor, "submit", None)):
        raise ParameterError(f"executor must be a concurrent.futures.Executor (an object with "
                             f"submit()), such as a ProcessPoolExecutor or a Dask client's "
                             f"get_executor(); got {type(executor).__name__}")
    if method == "scipy" and chunk_size is None and executor is not None:
        raise ParameterError(
            "method='scipy' with an executor needs chunk_size=: SciPy's solver shares one "
            "step-size control among the members it integrates together, so its numbers depend "
            "on the chunk size (deterministic for a given one); give chunk_size, or use "
            "method='euler' or 'rk4', whose numbers do not depend on the chunking")
    if chunk_size is None:
        workers = getattr(executor, "_max_workers", None) or os.cpu_count() or 1
        chunk_size = max(1, -(-n // (4 * int(workers))))
    return int(min(int(chunk_size), max(n, 1)))


def split(params: dict | None, n: int, chunk_size: int) -> Iterator[Chunk]:
    """Yield the chunks of an ``n``-member ensemble, in member order.

    A per-member value (a 1-D array of ``n`` values, or a :class:`sim.Step` /
    :class:`sim.Ramp` / :class:`sim.Table` whose levels are) is sliced; anything else is passed to
    every chunk as it is. A one-member chunk carries its member twice (see the
    module's docstring); :func:`run_chunk` keeps the first.
    """
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        idx = np.arange(start, stop)
        if idx.size == 1 and n > 1:
            idx = np.repeat(idx, 2)
        yield Chunk(start, stop, {k: _take(v, idx, n) for k, v in (params or {}).items()},
                    start // chunk_size)


def _take(value: Any, idx: np.ndarray, n: int) -> Any:
    """Return the members ``idx`` of a per-member ``value``; other values unchanged."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _take(getattr(value, f.name), idx, n)
                   for f in dataclasses.fields(value)}
        changes = {k: v for k, v in changes.items() if v is not getattr(value, k)}
        return dataclasses.replace(value, **changes) if changes else value
    if isinstance(value, dict):  # a Table's points: {time: value or per-member values}
        taken = {k: _take(v, idx, n) for k, v in value.items()}
        return taken if any(taken[k] is not v for k, v in value.items()) else value
    if isinstance(value, (list, tuple, np.ndarray)) and not type(value).__module__.startswith(
            "pandas"):
        arr = np.asarray(value, dtype=float)
        if arr.ndim == 1 and arr.size == n and n > 1:
            return arr[idx]
    return value


def run_chunk(ref: ModelRef, chunk: Chunk, kwargs: dict) -> SimulationResult:
    """Run one chunk (in a worker): ``simulate`` on its members, the first ``size`` kept.

    The chunk's members keep their global indices (``members=``), so their random
    streams are those of the whole ensemble; ``kwargs["members"]`` is its size.
    """
    kwargs = dict(kwargs)
    total = kwargs.pop("members", None)
    idx = np.arange(chunk.start, chunk.stop)
    if idx.size == 1 and total is not None and total > 1:
        idx = np.repeat(idx, 2)  # as split() does
    res = ref.model.simulate(chunk.params, members=idx, **kwargs)
    if res.n_members == chunk.size:
        return res
    data = {k: np.ascontiguousarray(np.asarray(v)[:, :chunk.size]) for k, v in res.data.items()}
    failures = [f for f in res.failures if f.member < chunk.size]
    return dataclasses.replace(res, data=data, failures=failures, n_members=chunk.size)


Sink = Callable[[Chunk, SimulationResult], None]
"""Takes each chunk's result as it completes (e.g. writes it to a file): streaming."""


class _Assembly:
    """The whole ensemble's arrays, filled chunk by chunk; or, with a sink, no arrays at all."""

    def __init__(self, n: int, sink: Sink | None = None) -> None:
        self.n = n
        self.sink = sink
        self.data: dict[str, np.ndarray] | None = None
        self.template: SimulationResult | None = None
        self.failures: list[Failure] = []
        self.failed_chunks: list[tuple[Chunk, BaseException]] = []
        self.notes: list[str] = []

    def add(self, chunk: Chunk, res: SimulationResult) -> None:
        if self.sink is not None:
            self.sink(chunk, res)  # raising here stops the run (a disk full is not one chunk's)
            if self.template is None:
                self.template = dataclasses.replace(res, data={})
                self.data = {}
        elif self.data is None:
            self.template = res
            self.data = {k: np.full((len(res.times), self.n), np.nan) for k in res.data}
        if self.sink is None and self.data is not None:
            for k, v in res.data.items():
                self.data[k][:, chunk.start:chunk.stop] = np.asarray(v).reshape(
                    len(res.times), -1)
        for f in res.failures:
            if f.member >= 0:
                self.failures.append(dataclasses.replace(f, member=f.member + chunk.start))
            else:  # the chunk's solver stopped: every member of it still running failed
                done = {g.member for g in res.failures if g.member >= 0}
                self.failures += [dataclasses.replace(f, member=chunk.start + m)
                                  for m in range(chunk.size) if m not in done]
        self.notes += [x for x in res.metadata.get("notes", ()) if x not in self.notes]

    def fail(self, chunk: Chunk, exc: BaseException) -> None:
        self.failed_chunks.append((chunk, exc))

    def result(self, meta: dict) -> SimulationResult:
        if self.template is None or self.data is None:
            chunk, exc = self.failed_chunks[0]
            raise ChunkError(f"every chunk of the ensemble failed; the first (members "
                             f"{chunk.start}-{chunk.stop - 1}) raised "
                             f"{type(exc).__name__}: {exc}") from exc
        t = self.template
        for chunk, exc in self.failed_chunks:
            reason = (f"its chunk (members {chunk.start}-{chunk.stop - 1}) raised "
                      f"{type(exc).__name__}: {exc}")
            self.failures += [Failure(m, float(t.times[0]), SOLVER, reason,
                                      FailureKind.CHUNK_ERROR)
                              for m in range(chunk.start, chunk.stop)]
        self.failures.sort(key=lambda f: (f.member, f.time))
        metadata = {**t.metadata, **meta, "n_members": self.n, "notes": self.notes}
        return SimulationResult(times=t.times, data=self.data, n_members=self.n,
                                metadata=metadata, failures=self.failures,
                                py_names=t.py_names, attrs=t.attrs)


class ChunkError(RuntimeError):
    """Every chunk of a chunked ensemble raised: there is no member to report."""


def run_chunks(ref: ModelRef, chunks: Iterator[Chunk], n: int, kwargs: dict,
               executor: cf.Executor | None, meta: dict, in_flight: int | None = None,
               task: Callable = run_chunk, sink: Sink | None = None) -> SimulationResult:
    """Run ``chunks`` (on ``executor``, else here one by one); return one result.

    With a ``sink``, each chunk's result is handed to it as the chunk completes
    (in completion order) and not kept: the result returned then has no data
    (``data == {}``), only the times, failures and metadata. Memory then does not
    grow with the members (streaming, :mod:`sim.ensembles.streaming`).

    At most ``in_flight`` chunks are submitted and not yet collected (default:
    twice the executor's workers, at least 4), which bounds the memory the
    results in transit take. A chunk that raises an :class:`Exception` makes its
    members :class:`~sim.engine.results.Failure` of kind ``CHUNK_ERROR``; the other
    chunks complete. On a ``KeyboardInterrupt`` (or any ``BaseException``) every
    chunk not yet started is cancelled before it propagates.

    Raises
    ------
    ChunkError
        Every chunk raised.
    """
    out = _Assembly(n, sink)
    if executor is None:
        for chunk in chunks:
            try:
                res = task(ref, chunk, kwargs)
            except Exception as exc:  # noqa: BLE001 - reported as the chunk's members' failure
                out.fail(chunk, exc)
            else:
                out.add(chunk, res)
        return out.result(meta)
    if in_flight is None:
        workers = getattr(executor, "_max_workers", None) or os.cpu_count() or 1
        in_flight = max(4, 2 * int(workers))
    pending: dict[cf.Future, Chunk] = {}
    try:
        for chunk in chunks:
            while len(pending) >= in_flight:
                _collect(pending, out)
            pending[executor.submit(task, ref, chunk, kwargs)] = chunk
        while pending:
            _collect(pending, out)
    except BaseException:
        for fut in pending:
            fut.cancel()
        raise
    return out.result(meta)


def _collect(pending: dict[cf.Future, Chunk], out: _Assembly) -> None:
    """Wait (in short, interruptible waits) for a chunk to finish; take every finished one."""
    done: set = set()
    while not done:
        done, _ = cf.wait(list(pending), timeout=POLL_SECONDS,
                          return_when=cf.FIRST_COMPLETED)
    for fut in done:
        chunk = pending.pop(fut)
        try:
            res = fut.result()
        except Exception as exc:  # noqa: BLE001 - a worker's error, or a lost worker
            out.fail(chunk, exc)
        else:
            out.add(chunk, res)
