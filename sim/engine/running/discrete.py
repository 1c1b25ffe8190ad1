"""The discrete-time state of one run: DELAY FIXED's ring buffers, SAMPLE IF TRUE, RANDOM draws.

A :class:`DiscreteRun` belongs to one :class:`~sim.engine.running.evaluator.Evaluator`.
The fixed-step integrators call :meth:`DiscreteRun.step` once per time step,
after the step's derivative has been evaluated at its time ``t`` (so the
values it reads are those of ``t``), and :meth:`DiscreteRun.commit` after the
stocks have advanced: the slots then hold their values of ``t + dt``, constant
over the whole step (the Runge-Kutta stages of a step see one value).

Random draws
------------
Each RANDOM call site draws, at each time step, one uniform number per
ensemble member from a counter-based generator: a 128-bit key per (seed,
call site, member), made by :class:`numpy.random.SeedSequence` with
``spawn_key=(site, member)``, mixed with the step's number (SplitMix64's
finaliser). So a member's stream depends only on the seed, the call site,
its own (global) member index and the step: not on how many members run
together, how they are chunked, or how many other calls draw. The seed is the
call's own seed argument when it is given and not 0, else the run's
(``Model.simulate(seed=...)``).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from sim.engine.compiled.discrete import Discrete
from sim.engine.functions import SMALL_VENSIM

_MASK = (1 << 64) - 1
_TWO53 = float(2 ** -53)


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser on uint64 arrays (wrapping arithmetic)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def member_keys(entropy: int, site: int, members: np.ndarray) -> np.ndarray:
    """Return the (N, 2) uint64 keys of a call site's streams, one row per member.

    Parameters
    ----------
    entropy : int
        The seed (a non-negative integer).
    site : int
        The call site's index in the model.
    members : ndarray of int (N,)
        The members' global indices.
    """
    out = np.empty((len(members), 2), dtype=np.uint64)
    cache: dict[int, np.ndarray] = {}
    for j, m in enumerate(members.tolist()):
        if m not in cache:
            cache[m] = np.random.SeedSequence(entropy, spawn_key=(site, m)).generate_state(
                2, np.uint64)
        out[j] = cache[m]
    return out


def uniform(keys: np.ndarray, step: int) -> np.ndarray:
    """Return the uniform draws in [0, 1) of step ``step`` for ``keys`` (N, 2), one per member."""
    with np.errstate(over="ignore"):
        counter = _mix(keys[:, 1] ^ np.uint64(step & _MASK))
        z = _mix(keys[:, 0] + counter * np.uint64(0x9E3779B97F4A7C15))
    return (z >> np.uint64(11)).astype(np.float64) * _TWO53


def seed_entropy(seed: float | int) -> int:
    """Return a seed as SeedSequence entropy (a non-negative integer)."""
    return int(seed) & _MASK


class DiscreteRun:
    """The discrete state of one run.

    Parameters
    ----------
    records : sequence of Discrete
        The program's discrete states.
    n : int
        Members of the run [-].
    seed : int
        The run's seed (the RANDOM calls that give none of their own).
    members : ndarray of int (n,) or None
        The members' global indices (a chunk of an ensemble); default 0..n-1.
    """

    def __init__(self, records: Sequence[Discrete], n: int, seed: int,
                 members: np.ndarray | None = None) -> None:
        self.records = list(records)
        self.by_slot = {r.slot: r for r in self.records}
        self.n = n
        self.members = np.arange(n) if members is None else np.asarray(members, dtype=np.int64)
        if self.members.shape != (n,):
            raise ValueError(f"members: {self.members.shape[0]} indices for {n} members")
        self.seed = seed
        self.step_index = 0
        self._ar = np.arange(n)
        self._keys: dict[int, np.ndarray] = {}
        self._rings: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._pending: dict[int, np.ndarray] = {}

    def _column(self, x) -> np.ndarray:
        return np.array(np.broadcast_to(np.asarray(x, dtype=float), (self.n,)))

    def initial(self, slot: int, read: Callable[[int], object], dt: float) -> np.ndarray:
        """Return the initial value (n,) of the discrete slot ``slot``; start its state.

        ``read(slot)`` returns a slot's initial value; ``dt`` is TIME STEP.
        """
        r = self.by_slot[slot]
        if r.kind == "RANDOM":
            entropy = seed_entropy(r.seed) if r.seed else seed_entropy(self.seed)
            self._keys[slot] = member_keys(entropy, r.site, self.members)
            return uniform(self._keys[slot], 0)
        if r.kind == "DELAY FIXED":
            delay, init = (self._column(read(s)) for s in r.init_reads)
            order = np.round(np.maximum(delay / dt, 1.0) + SMALL_VENSIM).astype(np.int64)
            ring = np.repeat(init[None, :], int(order.max()), axis=0)
            self._rings[slot] = (ring, np.zeros(self.n, dtype=np.int64), order)
            return init
        return self._column(read(r.init_reads[0]))  # SAMPLE IF TRUE: the initial value

    def step(self, read: Callable[[int], object]) -> None:
        """Compute every slot's value of the next step from the values of this one (``read``)."""
        for r in self.records:
            if r.kind == "RANDOM":
                self._pending[r.slot] = uniform(self._keys[r.slot], self.step_index + 1)
            elif r.kind == "DELAY FIXED":
                ring, ptr, order = self._rings[r.slot]
                ring[ptr, self._ar] = self._column(read(r.reads[0]))
                ptr[:] = (ptr + 1) % order
                self._pending[r.slot] = ring[ptr, self._ar].copy()
            else:
                self._pending[r.slot] = self._column(read(r.reads[0]))

    def commit(self, write: Callable[[int, np.ndarray], None]) -> None:
        """Write the values computed by :meth:`step` (``write(slot, values)``): the step is done."""
        for slot, value in self._pending.items():
            write(slot, value)
        self._pending.clear()
        self.step_index += 1
