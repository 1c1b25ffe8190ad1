"""Simulation results: arrays by variable, with metadata and tidy tables."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import pandas as pd

#: ``Failure.variable`` of a failure that is the solver's, not one variable's
SOLVER = "solver"
#: ``Failure.reason`` of a variable that went non-finite (inf or NaN)
NON_FINITE = "non-finite value"
#: how far a requested time may be from a saved time and still be it [model time unit]
AT_TOLERANCE = 1e-6
#: the columns of every long (tidy) result table; a scenario's adds ``scenario`` after run_id
TIDY_COLUMNS = ("run_id", "time", "variable", "value")


def saved_index(times: np.ndarray, time: float) -> int | None:
    """Return the index of the saved time ``time`` (within :data:`AT_TOLERANCE`), or None.

    The one rule of every ``at(time)``: a time that was not saved has no value
    (NaN), it is neither rounded to the nearest saved time nor interpolated.
    """
    k = np.flatnonzero(np.abs(np.asarray(times, dtype=float) - float(time)) <= AT_TOLERANCE)
    return int(k[0]) if k.size else None


def tidy_frame(times: np.ndarray, data: dict[str, np.ndarray], n_members: int) -> pd.DataFrame:
    """Return the long table of (T, N) arrays by variable: :data:`TIDY_COLUMNS`.

    Rows run variable by variable (in ``data`` order), then time, then member;
    ``variable`` is categorical (its categories sorted), built column by column:
    a string column per variable, concatenated, took four times the table's
    size at its peak (50,000 members: 1.2 GB for a 300 MB table).
    """
    t, n = len(times), n_members
    names = list(data)
    block, rows = t * n, len(names) * t * n
    value = np.empty(rows, dtype=float)
    for k, name in enumerate(names):
        value[k * block:(k + 1) * block] = data[name].reshape(-1)
    cats = pd.Index(sorted(set(names)), dtype="str")  # as astype("category") orders them
    codes = cats.get_indexer(names).astype(np.int8 if len(cats) < 128 else np.int32)
    return pd.DataFrame({
        "run_id": np.tile(np.arange(n, dtype=np.int64), t * len(names)),
        "time": np.tile(np.repeat(np.asarray(times, dtype=float), n), len(names)),
        "variable": pd.Categorical.from_codes(np.repeat(codes, block), categories=cats),
        "value": value,
    }, copy=False)


class FailureKind(StrEnum):
    """Why a member failed (``Failure.kind``); the message is ``Failure.reason``.

    A ``str`` enum, so a failure sent as JSON (the app's worker) comes back
    equal. Every kind but :attr:`NON_FINITE` is a solver's failure.
    """

    #: a variable went non-finite (inf or NaN)
    NON_FINITE = "non_finite"
    #: the step size collapsed to nothing (the solver's check or the engine's)
    STEP_COLLAPSE = "collapse"
    #: the run's step budget (``max_steps``) was reached
    STEP_LIMIT = "max_steps"
    #: the run's wall-clock budget (``time_limit``) was reached
    TIME_LIMIT = "time_limit"
    #: the solver raised an exception (e.g. BDF's LU of a non-finite Jacobian)
    SOLVER_ERROR = "error"
    #: any other failure the solver reports
    SOLVER_FAILED = "failed"
    #: the chunk of an ensemble this member ran in raised (a worker died, an error in
    #: it, ...; ``reason`` names the exception); the other chunks completed
    CHUNK_ERROR = "chunk"

    @property
    def of_solver(self) -> bool:
        """Whether the solver stopped (every kind but :attr:`NON_FINITE`)."""
        return self is not FailureKind.NON_FINITE

    @property
    def is_bound(self) -> bool:
        """Whether a bound of the run was reached (no member is to blame)."""
        return self in (FailureKind.STEP_LIMIT, FailureKind.TIME_LIMIT)


@dataclass(frozen=True)
class Failure:
    """A member that failed at ``time`` and was masked (NaN) from then on.

    Every method reports a failure the same way: (member, time, variable or
    ``'solver'``, reason).

    Attributes
    ----------
    member : int
        Ensemble member (0 for a single run); -1 for every member still running
        (the solver of the whole ensemble stopped).
    time : float
        Model time of the failure [model time unit].
    variable : str
        Vensim name of the variable that went non-finite (or the stock the
        solver failed on), or ``'solver'`` when no variable is to blame.
    reason : str
        ``'non-finite value'``, or what stopped the solver: ``'step size
        collapsed: ...'``, ``'step limit reached: ...'``, ``'time limit
        reached: ...'``, ``'raised ValueError: ...'`` (an exception of the
        solver), ``'failed: ...'`` (another failure it reports).
    kind : FailureKind
        Why, as data: test this, not ``reason`` or ``variable``
        (``FailureKind.NON_FINITE`` by default, as ``reason``).
    """

    member: int
    time: float
    variable: str
    reason: str = NON_FINITE
    kind: FailureKind = FailureKind.NON_FINITE

    def __post_init__(self) -> None:
        # a kind sent as text (JSON) comes back as the enum; an unknown one is refused
        object.__setattr__(self, "kind", FailureKind(self.kind))

    @property
    def of_solver(self) -> bool:
        """Whether no variable is to blame: the solver of this member (or all) stopped."""
        return self.variable == SOLVER

    def __str__(self) -> str:
        who = "every member" if self.member < 0 else f"member {self.member}"
        what = SOLVER if self.of_solver else f"'{self.variable}'"
        return f"{who}, time {self.time:.10g}, {what}: {self.reason}"


@dataclass
class SimulationResult:
    """Output of :meth:`sim.Model.simulate`.

    Attributes
    ----------
    times : ndarray (T,)
        Saved times [model time unit].
    data : dict
        Vensim name -> ndarray (T, N).
    n_members : int
        Ensemble size N (1 for a single run).
    metadata : dict
        model_hash, method, tolerances, package version, parameters, ...
    failures : list of Failure
        Members masked to NaN after going non-finite or making the solver fail.
    py_names : dict
        Python-safe name -> Vensim name of each recorded variable.
    attrs : dict
        Vensim name -> {"units": ..., "description": ...} of each recorded variable.
    """

    times: np.ndarray
    data: dict
    n_members: int
    metadata: dict
    failures: list = field(default_factory=list)
    py_names: dict = field(default_factory=dict)
    attrs: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        t = np.asarray(self.times, dtype=float)
        span = f"{t[0]:g}..{t[-1]:g} ({len(t)} saved)" if len(t) else "none saved"
        names = list(self.data)
        shown = ", ".join(names[:4]) + (f", ... (+{len(names) - 4})" if len(names) > 4 else "")
        method = self.metadata.get("method", "?")
        if self.metadata.get("scipy_method"):
            method += f" ({self.metadata['scipy_method']})"
        failed = len({f.member for f in self.failures})
        return (f"SimulationResult({self.n_members} member{'s' * (self.n_members != 1)}, "
                f"{len(names)} variables [{shown}], times {span}, method {method}, "
                f"{failed} failed)")

    @property
    def success(self) -> bool:
        """Whether no member failed."""
        return not self.failures

    @property
    def variables(self) -> list[str]:
        """Return the recorded variables' Vensim names."""
        return list(self.data)

    def _key(self, name: str) -> str:
        if name in self.data:
            return name
        if name in self.py_names:
            return self.py_names[name]
        raise KeyError(f"'{name}' was not recorded; recorded: {', '.join(list(self.data)[:12])}"
                       f"{' ...' if len(self.data) > 12 else ''}")

    def __getitem__(self, name: str) -> np.ndarray:
        arr = self.data[self._key(name)]
        return arr[:, 0] if self.n_members == 1 else arr

    def values(self, name: str) -> np.ndarray:
        """Values of ``name`` as a (T, N) array, also for a single run (N = 1)."""
        return self.data[self._key(name)]

    def __contains__(self, name: str) -> bool:
        try:
            self._key(name)
            return True
        except KeyError:
            return False

    def at(self, name: str, time: float) -> np.ndarray | float:
        """Return the value(s) of ``name`` at the saved time ``time`` [model time unit].

        A float for one run, else an array (N,). NaN when ``time`` was not
        saved (:func:`saved_index`: within :data:`AT_TOLERANCE` of a saved time).
        """
        k = saved_index(self.times, time)
        if k is None:
            return float("nan") if self.n_members == 1 else np.full(self.n_members, np.nan)
        return self[name][k]

    def tidy(self) -> pd.DataFrame:
        """Return the long table: run_id (the member), time, variable, value (:func:`tidy_frame`)."""
        return tidy_frame(self.times, self.data, self.n_members)

    def to_xarray(self):
        """Return the result as an :class:`xarray.Dataset`.

        Dimensions ``time`` [model time unit] and ``member`` (0..N-1, also for a
        single run); one data variable per recorded variable (Vensim names), with
        ``units`` and ``description`` attributes; the run's metadata (model hash,
        method, tolerances, version, ...) as the dataset's attributes, JSON-safe,
        and the failures as ``failures`` (one line each), so the dataset writes to
        netCDF or Zarr as it is.
        """
        import json

        import xarray as xr

        members = np.arange(self.n_members)
        data_vars = {}
        for name, arr in self.data.items():
            attrs = {k: str(v) for k, v in self.attrs.get(name, {}).items()}
            data_vars[name] = (("time", "member"), np.asarray(arr, dtype=float), attrs)
        meta = {k: (v if isinstance(v, (int, float, str)) and not isinstance(v, bool)
                    else json.dumps(v, default=str)) for k, v in self.metadata.items()
                if v is not None}
        meta["failures"] = "\n".join(str(f) for f in self.failures)
        return xr.Dataset(data_vars, coords={"time": np.asarray(self.times, dtype=float),
                                             "member": members}, attrs=meta)

    def to_frame(self) -> pd.DataFrame:
        """Return a table of the result.

        One run: index ``time``, one column per variable (Vensim names), as
        Vensim writes a run. Ensemble: the long table of :meth:`tidy`.
        """
        if self.n_members == 1:
            df = pd.DataFrame({k: v[:, 0] for k, v in self.data.items()}, index=self.times)
            df.index.name = "time"
            return df
        return self.tidy()
