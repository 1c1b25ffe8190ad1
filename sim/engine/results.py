"""Simulation results: arrays by variable, with metadata and tidy tables."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: ``Failure.variable`` of a failure that is the solver's, not one variable's
SOLVER = "solver"
#: ``Failure.reason`` of a variable that went non-finite (inf or NaN)
NON_FINITE = "non-finite value"


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
    """

    member: int
    time: float
    variable: str
    reason: str = NON_FINITE

    def __str__(self) -> str:
        who = "every member" if self.member < 0 else f"member {self.member}"
        what = SOLVER if self.variable == SOLVER else f"'{self.variable}'"
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
    """

    times: np.ndarray
    data: dict
    n_members: int
    metadata: dict
    failures: list = field(default_factory=list)
    py_names: dict = field(default_factory=dict)

    @property
    def success(self) -> bool:
        return not self.failures

    @property
    def variables(self) -> list[str]:
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
        """Value(s) of ``name`` at the saved time nearest ``time``."""
        k = int(np.argmin(np.abs(self.times - time)))
        return self[name][k]

    def to_frame(self) -> pd.DataFrame:
        """Tidy table.

        One run: index ``time``, one column per variable (Vensim names).
        Ensemble: long format with columns member, time, variable, value.
        """
        if self.n_members == 1:
            df = pd.DataFrame({k: v[:, 0] for k, v in self.data.items()}, index=self.times)
            df.index.name = "time"
            return df
        T, N = len(self.times), self.n_members
        frames = []
        for name, arr in self.data.items():
            frames.append(pd.DataFrame({
                "member": np.tile(np.arange(N), T),
                "time": np.repeat(self.times, N),
                "variable": name,
                "value": arr.reshape(-1),
            }))
        return pd.concat(frames, ignore_index=True)
