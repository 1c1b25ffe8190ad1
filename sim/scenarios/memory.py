"""How much memory a run needs at its peak, how much there is, and the refusal when it does not fit.

A ``sim run`` holds, at its peak: the program itself (interpreter, numpy,
SciPy, pandas, pyarrow and the compiled model); the ensemble results of every
scenario run so far (``members x saved times x recorded variables`` doubles,
kept until all are written); what the simulation of the largest scenario left
behind (its working arrays: the allocator keeps them, measured); and, while
one scenario's files are written, its tidy table (one row per member, saved
time and variable), the CSV text built from it twice (the text and its UTF-8
bytes) or the Parquet buffers, whichever is larger. :func:`estimate_run` adds
these up from counts (:class:`RunShape`), with the per-row and per-member
costs measured on small runs by ``benchmarks/bench_memory.py`` and checked
against measured peaks in ``tests/catalogue/test_memory.py`` (within a
factor of 1.5). :func:`check_run` refuses before any work what does not fit
under :func:`memory_limit`: the smaller of a cap (``sim run --memory-limit``)
and the memory the system has available.

:func:`estimate_bytes` is the size of one ensemble's output arrays alone
(:func:`sim.scenarios.resolve` checks it as it samples).

A streamed run (``sim run --stream``, :mod:`sim.ensembles.streaming`) holds no
ensemble: :func:`estimate_streamed` counts the program, the sampled
parameters, a few columns over all members and the chunks in flight, and
:func:`check_run` uses it when given the chunk size (``stream_chunk``).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from sim.scenarios.errors import ScenarioError

DEFAULT_MEMORY_LIMIT = 4 * 2**30
"""Default cap on a run's estimated peak [bytes] (4 GiB; ``sim run --memory-limit``)."""

MiB = 2**20

# ------------------------------------------------------------------ measured costs
# Measured by benchmarks/bench_memory.py (peak resident memory of `sim run` in a
# subprocess, and of each stage with /proc/self/clear_refs) on x86_64 Linux,
# Python 3.11, numpy 2.4, pandas 3.1, pyarrow 26, SciPy 1.17. Rerun it after
# changing how results are held or written: tests/catalogue/test_memory.py fails
# when the estimate drifts beyond a factor of 1.5 of a measured peak.
PROCESS_BYTES = 260 * MiB
"""``sim run`` before its first scenario: interpreter, libraries, model [bytes]."""
JIT_BYTES = 90 * MiB
"""The compiled tape interpreter (Numba, LLVM) once a run of at most
:data:`sim.engine.model.JIT_MAX_MEMBERS` members has used it [bytes]."""
CHART_BYTES = 40 * MiB
"""Matplotlib and one scenario's figure rendered to PNG and SVG [bytes]."""
SIM_DOUBLES = {"euler": (1.0, 1.0), "rk4": (1.0, 1.5), "scipy": (6.5, 19.0)}
"""Working arrays of the simulation, per member and model quantity [doubles]:
(inputs the same for every member, inputs drawn as a series per member, i.e.
``bands: calibrated``). Most stay resident after the run (the allocator keeps
them); SciPy's solvers restart at every switch and point of a drawn series."""
IMPLICIT_DOUBLES = 30.0
"""BDF and Radau: their finite-difference Jacobian over the whole ensemble, per
(stocks x members)^2 [doubles] (29 measured at 200 and 400 members)."""
IMPLICIT_METHODS = ("BDF", "Radau")
TIDY_ROW_BYTES = 26
"""A row of the tidy table: run_id, time and value (int64, float64, float64)
and two one-byte category codes (scenario, variable) [bytes]."""
VALUE_CHARS = 11.0
"""A value in the CSV (``%.10g``), on average [characters]."""
CSV_COPIES = 2.0
"""The CSV is built whole: the text, then its UTF-8 bytes beside it."""
PARQUET_ROW_BYTES = 60
"""Arrow table and compressed buffers of one tidy row, at their largest [bytes]."""
RETAINED = 0.4
"""Part of the simulation's working arrays still resident while the files are
written (freed, but kept by the allocator in pieces the tables cannot reuse)."""
MEMBER_ROW_BYTES = 600
"""experiments.csv: a member's row as a frame and as CSV text [bytes]."""


def estimate_bytes(members: int, n_recorded: int, n_stocks: int, n_times: int) -> int:
    """Memory the ensemble's output needs: members x (recorded + stocks) x times x 8 [bytes]."""
    return int(members) * (int(n_recorded) + int(n_stocks)) * int(n_times) * 8


def format_bytes(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"  # pragma: no cover


# ------------------------------------------------------------------ the estimate
@dataclass(frozen=True)
class RunShape:
    """The counts one scenario's run is made of.

    Attributes
    ----------
    name : str
        Scenario name (written on every CSV row).
    members : int
    n_times : int
        Saved times.
    outputs : tuple of str
        Variables recorded (Vensim names; written on every CSV row).
    n_stocks : int
    n_quantities : int
        Every quantity of the model (one working array each).
    drawn_series : bool
        Some input is a time series drawn per member (``bands: calibrated``).
    source : str
        File the scenario came from (for messages).
    n_sampled : int
        Parameters sampled per member (one array of ``members`` doubles each).
    """

    name: str
    members: int
    n_times: int
    outputs: tuple
    n_stocks: int
    n_quantities: int
    drawn_series: bool = False
    source: str = ""
    n_sampled: int = 0

    @property
    def rows(self) -> int:
        """Rows of the tidy table (member x saved time x variable)."""
        return self.members * self.n_times * len(self.outputs)

    def ensemble_bytes(self) -> int:
        """Return the recorded results [bytes]."""
        return self.rows * 8

    def simulation_bytes(self, method: str, scipy_method: str = "RK45") -> int:
        """Return what the simulation leaves resident besides its results [bytes]."""
        per = SIM_DOUBLES.get(method, SIM_DOUBLES["scipy"])[int(self.drawn_series and
                                                               self.members > 1)]
        out = per * self.members * self.n_quantities * 8
        if method == "scipy" and scipy_method in IMPLICIT_METHODS and self.members > 1:
            out += IMPLICIT_DOUBLES * float(self.n_stocks * self.members) ** 2 * 8
        return int(out)

    def csv_row_chars(self) -> float:
        """Mean characters of a row of results.csv: run_id,scenario,time,variable,value."""
        digits = _mean_digits(self.members)
        names = sum(len(_csv_field(v)) for v in self.outputs) / max(len(self.outputs), 1)
        return digits + len(_csv_field(self.name)) + 4 + names + VALUE_CHARS + 5

    def write_bytes(self) -> int:
        """Return the cost of writing this scenario's files: tidy table + CSV text or Parquet [bytes]."""
        chars = self.csv_row_chars()
        text = [self.name, *self.outputs]
        width = _str_width(text)     # bytes per character of the whole text as a Python str
        utf8 = max(len(s.encode("utf-8")) / max(len(s), 1) for s in text)
        csv = self.rows * chars * (width + utf8 * (CSV_COPIES - 1))
        parquet = self.rows * PARQUET_ROW_BYTES
        return int(self.rows * TIDY_ROW_BYTES + max(csv, parquet) +
                   self.members * MEMBER_ROW_BYTES)


def _mean_digits(n: int) -> float:
    """Mean number of decimal digits of 0, 1, ..., n - 1."""
    total, lo, d = 0, 0, 1
    while lo < n:
        hi = min(n, 10 ** d)
        total += (hi - lo) * d
        lo, d = hi, d + 1
    return total / max(n, 1)


def _csv_field(text: str) -> str:
    if any(c in text for c in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _str_width(texts: Sequence[str]) -> int:
    """Bytes per character CPython stores a str with, for text holding ``texts``."""
    top = max((ord(c) for s in texts for c in s), default=0)
    return 1 if top < 256 else 2 if top < 65536 else 4


@dataclass(frozen=True)
class MemoryEstimate:
    """A run's estimated peak, and what holds memory then.

    Attributes
    ----------
    total : int
        The estimated peak [bytes].
    parts : tuple of (str, int)
        What holds memory and how much [bytes]; they are not all held at once
        (see :func:`estimate_run`).
    """

    total: int
    parts: tuple

    def describe(self) -> str:
        """``program 260.0 MiB, ensemble results 1.2 GiB, ...`` (parts that hold anything)."""
        return ", ".join(f"{what} {format_bytes(b)}" for what, b in self.parts if b > 0)


def estimate_run(shapes: Sequence[RunShape], *, method: str = "scipy",
                 scipy_method: str = "RK45", write: bool = True, charts: bool = True,
                 base: int = PROCESS_BYTES) -> MemoryEstimate:
    """Return the peak of running ``shapes`` one after the other and then writing them.

    The program and every ensemble's results are held throughout; on top,
    the larger of the largest simulation's working arrays (while it runs)
    and the largest scenario's tables and files (while they are written)
    plus the part of those working arrays the allocator kept
    (:data:`RETAINED`).

    Parameters
    ----------
    shapes : sequence of RunShape
        The scenarios of one run (all kept until written).
    method, scipy_method : str
        As :meth:`sim.Model.simulate`.
    write : bool
        Whether the tables and files are written (``sim run``: yes; the app: no).
    charts : bool
        Whether the charts are drawn.
    base : int
        The program before the first scenario [bytes].

    Returns
    -------
    MemoryEstimate
    """
    from sim.engine.model import JIT_MAX_MEMBERS
    shapes = list(shapes)
    program = base + (JIT_BYTES if any(s.members <= JIT_MAX_MEMBERS for s in shapes) else 0)
    results = sum(s.ensemble_bytes() for s in shapes)
    sim = max((s.simulation_bytes(method, scipy_method) for s in shapes), default=0)
    files = max((s.write_bytes() for s in shapes), default=0) if write else 0
    chart = CHART_BYTES if charts and shapes else 0
    parts = (("program", program), ("ensemble results", results),
             ("simulation working arrays", sim),
             ("tidy table and CSV/Parquet text of the largest scenario", files),
             ("charts", chart))
    total = program + results + max(sim, files + chart + int(RETAINED * sim))
    return MemoryEstimate(int(total), parts)


STREAM_COLUMNS = 8
"""A streamed run's columns of N doubles at once: the cached ones
(:data:`sim.ensembles.streaming.CACHED_COLUMNS`), a difference, the finite
values and the percentile's partitioned copy."""
STREAM_CHUNK_COPIES = 3.0
"""A streamed chunk's results: the arrays, the Arrow table, the Parquet buffers."""


def estimate_streamed(shapes: Sequence[RunShape], chunk_size: int, *, method: str = "scipy",
                      scipy_method: str = "RK45", charts: bool = True, in_flight: int = 1,
                      base: int = PROCESS_BYTES) -> MemoryEstimate:
    """Return the peak of streaming ``shapes`` (``sim run --stream``) in chunks of ``chunk_size``.

    No ensemble's values are held: the program; every scenario's sampled
    parameters (``members x n_sampled`` doubles, the simulation's inputs);
    :data:`STREAM_COLUMNS` columns of the largest ensemble (the summaries
    read one saved time of one variable, over all members, at a time); and
    ``in_flight`` chunks' working arrays and results. Only the columns and
    the sampled parameters grow with the members.

    Parameters
    ----------
    shapes : sequence of RunShape
    chunk_size : int
        Members per chunk [-].
    in_flight : int
        Chunks held at once (1 here; twice the workers with an executor).

    Returns
    -------
    MemoryEstimate
    """
    shapes = list(shapes)
    program = base
    samples = sum(s.members * max(s.n_sampled, 1) * 8 for s in shapes)
    top = max((s.members for s in shapes), default=0)
    columns = STREAM_COLUMNS * top * 8 * (1 + (len(shapes) > 1))
    chunk = max((replace(s, members=min(s.members, int(chunk_size))).simulation_bytes(
        method, scipy_method) + int(STREAM_CHUNK_COPIES * min(s.members, int(chunk_size))
                                    * s.n_times * len(s.outputs) * 8)
                 for s in shapes), default=0) * max(int(in_flight), 1)
    chart = CHART_BYTES if charts and shapes else 0
    parts = (("program", program), ("sampled parameters", samples),
             ("columns over all members", columns), ("chunks in flight", chunk),
             ("charts", chart))
    return MemoryEstimate(int(program + samples + columns + chunk + chart), parts)


def fitting_members(fits: Callable[[int], bool], upper: int) -> int:
    """Return the largest member count in [1, upper) for which ``fits`` holds (0 if none)."""
    lo, hi = 0, int(upper)   # fits(lo) holds (or lo = 0), fits(hi) does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if mid >= 1 and fits(mid):
            lo = mid
        else:
            hi = mid
    return lo


# ------------------------------------------------------------------ how much there is
def available_bytes(meminfo: str | Path = "/proc/meminfo") -> int | None:
    """Memory the system can give without swapping (``MemAvailable``, and a cgroup's limit) [bytes].

    None when neither is known (not Linux).
    """
    found: list[int] = []
    try:
        for line in Path(meminfo).read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
                break
    except (OSError, ValueError, IndexError):
        pass
    for limit, usage in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                         ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                          "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            room = int(Path(limit).read_text().strip()) - int(Path(usage).read_text().strip())
        except (OSError, ValueError):
            continue
        if room < 2**60:
            found.append(max(room, 0))
    return min(found) if found else None


def resident_bytes(pid: int | str = "self") -> int | None:
    """Resident memory of a process (``VmRSS``) [bytes]; None when unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


@dataclass(frozen=True)
class MemoryLimit:
    """The most a run may take, and why that much.

    Attributes
    ----------
    bytes : int
    cap : int
        The cap asked for (``--memory-limit``).
    available : int or None
        What the system has available, plus what this process already holds.
    """

    bytes: int
    cap: int
    available: int | None

    def describe(self, cap_name: str) -> str:
        """Return ``the limit of 4.0 GiB (--memory-limit)`` or the memory available, whichever binds."""
        if self.available is not None and self.available < self.cap:
            return (f"the limit of {format_bytes(self.bytes)}, the memory available now "
                    f"(below {cap_name} {format_bytes(self.cap)})")
        return f"the limit of {format_bytes(self.bytes)} ({cap_name})"


def memory_limit(cap: int = DEFAULT_MEMORY_LIMIT, *, held: int | None = None,
                 available: int | None = None) -> MemoryLimit:
    """Return the smaller of ``cap`` and the memory available to this process.

    Parameters
    ----------
    cap : int
        [bytes]
    held : int, optional
        What this process holds already (counted in the estimate's program
        part) [bytes]; default its resident memory now.
    available : int, optional
        Default :func:`available_bytes`.
    """
    available = available_bytes() if available is None else available
    if available is not None:
        held = (resident_bytes() or 0) if held is None else held
        available += held
    limit = int(cap) if available is None else min(int(cap), int(available))
    return MemoryLimit(limit, int(cap), available)


# ------------------------------------------------------------------ shapes and the check
def shape_of(scenario, model, *, members: int | None = None) -> RunShape:
    """Return the counts of ``scenario``'s run on ``model``, before resolving anything.

    Outputs are matched by name as :func:`sim.scenarios.resolve` does (a name
    the model lacks counts nothing: resolving reports it).
    """
    from sim.scenarios.levers import SUMMARY_OUTPUTS
    from sim.scenarios.namer import Namer
    namer = Namer(model)
    outputs: list[str] = []
    for name in list(scenario.outputs) + list(SUMMARY_OUTPUTS):
        vensim = namer.variable(name)
        if vensim is not None and vensim not in outputs:
            outputs.append(vensim)
    return RunShape(name=scenario.name, members=int(members or scenario.members),
                    n_times=_n_times(model, float(scenario.horizon)), outputs=tuple(outputs),
                    n_stocks=len(model.stocks), n_quantities=len(model.program.slots),
                    drawn_series=getattr(scenario, "bands", "none") != "none",
                    source=str(scenario.source),
                    n_sampled=len(getattr(scenario, "uncertainty", None) or {}) + 8)


def _n_times(model, final: float) -> int:
    ctl = model.controls
    t0 = float(ctl.initial_time)
    saveper = float(ctl.saveper) if ctl.saveper > 0 else float(ctl.time_step)
    if not final > t0 or not saveper > 0:
        return 1
    return int(math.floor((final - t0) / saveper + 1e-9)) + 1


@dataclass(frozen=True)
class MemoryCheck:
    """The outcome of :func:`check_run`.

    Attributes
    ----------
    estimate : MemoryEstimate
        Of the scenarios that fit one by one, together.
    limit : MemoryLimit
    refused : dict
        Scenario name -> message, for each scenario that alone does not fit.
    """

    estimate: MemoryEstimate
    limit: MemoryLimit
    refused: dict


def check_run(shapes: Sequence[RunShape], *, cap: int = DEFAULT_MEMORY_LIMIT,
              method: str = "scipy", scipy_method: str = "RK45", charts: bool = True,
              members_option: str = "--members", cap_name: str = "--memory-limit",
              limit: MemoryLimit | None = None,
              stream_chunk: int | None = None) -> MemoryCheck:
    """Check a whole ``sim run`` before any work.

    With ``stream_chunk`` (``sim run --stream``), the peak of streaming the
    members in chunks of that size (:func:`estimate_streamed`), which hardly
    grows with the members; else of holding every ensemble (:func:`estimate_run`).

    A scenario that alone does not fit is refused (``refused``: the run
    goes on without it and reports it failed); when the others do not fit
    together, the whole run is refused.

    Returns
    -------
    MemoryCheck

    Raises
    ------
    ScenarioError
        The scenarios that fit one by one do not fit together: the estimate,
        the limit and what to change.
    """
    limit = memory_limit(cap) if limit is None else limit
    kw = {"method": method, "scipy_method": scipy_method, "charts": charts}

    def estimate(group: Sequence[RunShape]) -> MemoryEstimate:
        if stream_chunk is None:
            return estimate_run(group, **kw)
        return estimate_streamed(group, stream_chunk, **kw)

    refused: dict[str, str] = {}
    kept: list[RunShape] = []
    for shape in shapes:
        est = estimate([shape])
        if est.total <= limit.bytes:
            kept.append(shape)
            continue
        most = fitting_members(lambda m, shape=shape: estimate(
            [replace(shape, members=m)]).total <= limit.bytes, shape.members)
        where = (f"{shape.source}, " if shape.source else "") + f"scenario '{shape.name}'"
        refused[shape.name] = (
            f"{where}: {shape.members:,} member(s) need about {format_bytes(est.total)} at the "
            f"run's peak ({est.describe()}), more than {limit.describe(cap_name)}; "
            + _advice(most, members_option, cap_name, limit, stream_chunk))
    est = estimate(kept)
    if kept and est.total > limit.bytes:
        top = max(s.members for s in kept)
        most = fitting_members(lambda m: estimate(
            [replace(s, members=min(s.members, m)) for s in kept]).total <= limit.bytes, top)
        raise ScenarioError(
            f"the {len(kept)} scenarios of this run ({sum(s.members for s in kept):,} members in "
            f"all) need about {format_bytes(est.total)} at the run's peak ({est.describe()}), "
            f"more than {limit.describe(cap_name)}; nothing was run. Run fewer scenarios at "
            "once, or " + _advice(most, members_option, cap_name, limit, stream_chunk))
    return MemoryCheck(est, limit, refused)


def _advice(most: int, members_option: str, cap_name: str, limit: MemoryLimit,
            stream_chunk: int | None = None) -> str:
    fewer = (f"lower the members to at most {most:,} (members: in the file, or {members_option})"
             if most >= 1 else "even one member does not fit")
    more = (f", or raise {cap_name}" if limit.available is None or limit.cap < limit.available
            else ", or free memory")
    how = ("; or stream the members to disk as they are computed (sim run --stream, whose "
           "memory hardly grows with the members)" if stream_chunk is None else
           f"; or stream in smaller chunks (--chunk-size, now {stream_chunk:,})")
    return (f"{fewer}, record fewer outputs (outputs: in the file, or sim run --outputs)"
            f"{more}{how}")
