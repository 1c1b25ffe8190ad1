"""Streamed ensembles: each chunk's members written to Parquet as it completes (issue #14).

An ensemble run with a :class:`PartitionWriter` as :meth:`sim.Model.simulate`'s
``sink`` keeps no member's values in memory: each chunk, as it completes, is
written to one file of a partitioned Parquet dataset::

    <folder>/part-00000.parquet    members 0 .. chunk_size - 1
    <folder>/part-00001.parquet    the next chunk, ...

One row per member: ``run_id`` (int64), then one float64 column per recorded
variable and saved time, named ``"<variable> @ <time>"`` (:func:`column_name`);
the saved times and variables are in each file's schema metadata. A file is
written under a temporary name and renamed, so a run stopped by an error or a
Ctrl-C leaves only whole files, each readable (:meth:`StreamedResult.open`).

:class:`StreamedResult` reads the dataset back one column at a time: the values
of one variable at one saved time over all N members (N doubles), which is all a
percentile, a mean or a member-by-member difference over the members needs. The
summaries of :mod:`sim.ensembles.batch` computed this way are the same numbers,
bit for bit, as from the whole ``(times, members)`` array in memory: the same
values in the same member order go to the same numpy reductions.
"""
from __future__ import annotations

import json
import os
import re
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sim.engine.results import Failure, SimulationResult
from sim.errors import SimError

PART_NAME = "part-{:05d}.parquet"
"""File of the chunk number ``i`` (its members in order)."""
_PART = re.compile(r"^part-(\d+)\.parquet$")
META_KEY = b"dds_sim"
"""Schema metadata key of each file: JSON with times, variables, start, stop."""
DEFAULT_STREAM_CHUNK = 50_000
"""Members per chunk of a streamed run when none is given [-]."""
CACHED_COLUMNS = 4
"""Columns (N doubles each) a :class:`StreamedResult` keeps after reading them."""
READ_BYTES = 64 * 2**20
"""Most bytes of columns :meth:`StreamedResult.rows` reads in one pass over the files:
as many saved times as fit, at least one (N doubles) [bytes]."""


class StreamError(SimError):
    """A streamed dataset is missing, unreadable or not one of this program's."""


def column_name(variable: str, time: float) -> str:
    """Return the column of ``variable`` at saved ``time`` [year]: ``"<variable> @ <time>"``."""
    return f"{variable} @ {float(time):.10g}"


def _require_pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow is a dependency of the project
        from sim.extras import MissingExtra
        raise MissingExtra("streamed ensembles need pyarrow: pip install pyarrow") from None
    return pa, pq


@dataclass(frozen=True)
class Part:
    """One file of the dataset: members ``start`` to ``stop - 1``."""

    start: int
    stop: int
    path: Path


class PartitionWriter:
    """A ``sink`` for :meth:`sim.Model.simulate`: each chunk becomes one Parquet file.

    Parameters
    ----------
    folder : path-like
        The dataset's folder (made if missing). Files of an earlier run in it
        are removed first, so the folder holds one run.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.iterdir():
            if _PART.match(old.name) or old.name.startswith(".part-"):
                old.unlink()
        self.parts: dict[int, Part] = {}
        self.times: np.ndarray | None = None
        self.variables: tuple[str, ...] = ()

    def __call__(self, chunk, res: SimulationResult) -> None:
        """Write ``chunk``'s members (``res``, shape times x chunk size) as one file."""
        pa, pq = _require_pyarrow()
        times = np.asarray(res.times, dtype=float)
        if self.times is None:
            self.times, self.variables = times, tuple(res.data)
        size = chunk.stop - chunk.start
        cols = {"run_id": pa.array(np.arange(chunk.start, chunk.stop, dtype=np.int64))}
        for var in self.variables:
            arr = np.asarray(res.data[var], dtype=float).reshape(len(times), -1)
            for k, t in enumerate(times):
                cols[column_name(var, t)] = pa.array(arr[k, :size])
        meta = {"times": times.tolist(), "variables": list(self.variables),
                "start": int(chunk.start), "stop": int(chunk.stop)}
        table = pa.table(cols).replace_schema_metadata({META_KEY: json.dumps(meta).encode()})
        path = self.folder / PART_NAME.format(chunk.index)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        pq.write_table(table, tmp, compression="snappy")
        os.replace(tmp, path)
        self.parts[chunk.start] = Part(int(chunk.start), int(chunk.stop), path)

    def result(self, run: SimulationResult) -> StreamedResult:
        """Return the dataset as a :class:`StreamedResult`, with ``run``'s failures and metadata.

        ``run`` is what :meth:`sim.Model.simulate` returned with this writer as its sink.
        """
        times = np.asarray(run.times if self.times is None else self.times, dtype=float)
        return StreamedResult(self.folder, times, self.variables, int(run.n_members),
                              tuple(self.parts[k] for k in sorted(self.parts)),
                              failures=list(run.failures), metadata=dict(run.metadata))


@dataclass
class StreamedResult:
    """An ensemble's values in a partitioned Parquet dataset, read one column at a time.

    Attributes
    ----------
    folder : Path
    times : ndarray
        Saved times [year].
    variables : tuple of str
        Recorded variables (Vensim names).
    n_members : int
    parts : tuple of Part
        The files, in member order; members of a chunk that failed have none.
    failures : list of Failure
    metadata : dict
    """

    folder: Path
    times: np.ndarray
    variables: tuple
    n_members: int
    parts: tuple
    failures: list = field(default_factory=list)
    metadata: dict = field(default_factory=dict)
    _cache: OrderedDict = field(default_factory=OrderedDict, repr=False)

    @classmethod
    def open(cls, folder: str | Path) -> StreamedResult:
        """Read a dataset written by :class:`PartitionWriter` (whole files only).

        The members of files that are absent (a chunk that failed, or a run
        stopped before it) are reported by :meth:`missing_members`.

        Raises
        ------
        StreamError
            No ``part-*.parquet`` file in ``folder``, or a file without this
            program's metadata.
        """
        _, pq = _require_pyarrow()
        folder = Path(folder)
        files = sorted(p for p in folder.glob("part-*.parquet") if _PART.match(p.name))
        if not files:
            raise StreamError(f"{folder}: no part-*.parquet files (a streamed ensemble's "
                              "members folder)")
        parts, times, variables, n = [], None, (), 0
        for path in files:
            raw = (pq.read_schema(path).metadata or {}).get(META_KEY)
            if raw is None:
                raise StreamError(f"{path}: not written by dds-sim's streaming (no "
                                  f"'{META_KEY.decode()}' metadata)")
            meta = json.loads(raw)
            times, variables = np.asarray(meta["times"], float), tuple(meta["variables"])
            parts.append(Part(int(meta["start"]), int(meta["stop"]), path))
            n = max(n, int(meta["stop"]))
        parts.sort(key=lambda p: p.start)
        assert times is not None
        return cls(folder, times, variables, n, tuple(parts))

    def __contains__(self, name: str) -> bool:
        return name in self.variables

    @property
    def data(self) -> dict:
        """Variable -> None: the names only (the values stay on disk; use :meth:`row`)."""
        return dict.fromkeys(self.variables)

    def missing_members(self) -> np.ndarray:
        """Members with no file (their chunk failed or never ran), in order."""
        have = np.zeros(self.n_members, dtype=bool)
        for p in self.parts:
            have[p.start:p.stop] = True
        return np.flatnonzero(~have)

    def row(self, variable: str, k: int) -> np.ndarray:
        """Return ``variable`` at the ``k``-th saved time over all members, shape (N,).

        Members without a file are NaN. N doubles are read; the last
        :data:`CACHED_COLUMNS` columns read are kept.

        Raises
        ------
        KeyError
            ``variable`` was not recorded.
        """
        if variable not in self.variables:
            raise KeyError(f"'{variable}' was not recorded; recorded: "
                           f"{', '.join(self.variables)}")
        name = column_name(variable, self.times[k])
        got = self._cache.get(name)
        if got is None:
            got = self._read(name)
            self._cache[name] = got
            while len(self._cache) > CACHED_COLUMNS:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(name)
        return got

    def _read(self, name: str) -> np.ndarray:
        out = self._read_many([name])[0]
        out.flags.writeable = False
        return out

    def _read_many(self, names: Sequence[str]) -> np.ndarray:
        """Return the columns ``names`` over all members, shape (len(names), N); one pass."""
        _, pq = _require_pyarrow()
        out = np.full((len(names), self.n_members), np.nan)
        for p in self.parts:
            table = pq.read_table(p.path, columns=list(names))
            for i, name in enumerate(names):
                out[i, p.start:p.stop] = table.column(name).to_numpy()
        return out

    def rows(self, variable: str) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(k, row(variable, k))`` for every saved time, reading several per pass.

        As many saved times as fit in :data:`READ_BYTES` (at least one) are read
        in one pass over the files; only those are held.
        """
        if variable not in self.variables:
            self.row(variable, 0)  # raises the KeyError naming the recorded variables
        per = max(1, READ_BYTES // max(8 * self.n_members, 1))
        for first in range(0, len(self.times), per):
            ks = range(first, min(first + per, len(self.times)))
            block = self._read_many([column_name(variable, self.times[k]) for k in ks])
            for i, k in enumerate(ks):
                yield k, block[i]

    def values(self, variable: str) -> np.ndarray:
        """Return all of ``variable``, shape (times, members): times x N doubles in memory."""
        out = np.empty((len(self.times), self.n_members))
        for k, row in self.rows(variable):
            out[k] = row
        return out

    def read_members(self, columns: Sequence[str] | None = None):
        """Return the whole dataset (or ``columns`` of it) as one pandas DataFrame."""
        _, pq = _require_pyarrow()
        import pyarrow as pa
        tables = [pq.read_table(p.path, columns=None if columns is None else
                                ["run_id", *columns]) for p in self.parts]
        return pa.concat_tables(tables).to_pandas()


def failed_members(failures: Sequence[Failure]) -> list[int]:
    """Members (>= 0) that failed, sorted."""
    return sorted({f.member for f in failures if f.member >= 0})
