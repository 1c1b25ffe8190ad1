"""The compiled form of a model: value slots, dependencies and closures per back end."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np

SlotKind = Literal["constant", "auxiliary", "flow", "stock", "lookup",
                   "initial", "hidden_stock", "hidden_aux", "pipeline", "discrete", "internal"]
"""What a value slot holds.

Visible (a variable of the model):

- ``constant``: a number, or an equation of constants only (folded at compile time);
- ``auxiliary``: an equation evaluated at every time;
- ``flow``: an auxiliary that some stock's INTEG adds or subtracts;
- ``stock``: a level, integrated from its flows (INTEG);
- ``lookup``: a lookup table, called like a function (not recorded).

Hidden (made by the compiler):

- ``initial``: the value of an INITIAL(...) call, fixed at the initial time;
- ``hidden_stock``: a level of a stateful function (SMOOTH, DELAY, TREND, ...);
- ``hidden_aux``: an auxiliary of a stateful function (its input, output, ...);
- ``pipeline``: a stage of DELAY N's pipeline of past delay times, shifted once
  per fixed step (in continuous time a copy of the current delay time);
- ``discrete``: a value held over a time step and updated once per step by the
  fixed-step integrators (DELAY FIXED, SAMPLE IF TRUE, a RANDOM draw; see
  :mod:`sim.engine.compiled.discrete`);
- ``internal``: the engine's own values, the time functions' tolerance and
  TIME STEP as seen by the equations; no variable depends on them by name.
"""

#: every :data:`SlotKind`
SLOT_KINDS: tuple[SlotKind, ...] = get_args(SlotKind)


@dataclass
class Slot:
    """Metadata of one value slot.

    ``kind`` is a :data:`SlotKind`; the compiler may change it while it
    classifies the equations (an auxiliary a stock uses becomes a flow).
    """

    name: str
    py_name: str
    kind: SlotKind
    units: str = ""
    doc: str = ""
    limits: tuple = (None, None)
    visible: bool = True

    def __post_init__(self) -> None:
        if self.kind not in SLOT_KINDS:
            raise ValueError(f"slot '{self.name}': kind {self.kind!r} is not one of "
                             f"{', '.join(SLOT_KINDS)}")


@dataclass
class BackendProgram:
    """Closures of one back end: init, runtime and rate functions by slot."""

    init_fn: dict[int, Any] = field(default_factory=dict)  # a closure, or a folded constant
    run_fn: dict[int, Callable[..., Any]] = field(default_factory=dict)
    rate_fn: dict[int, Callable[..., Any]] = field(default_factory=dict)
    breakpoints: list[tuple[str, list]] = field(default_factory=list)  # (kind, values) per switch
    gates: list[list] = field(default_factory=list)  # per switch: values that cancel it at 0
    tables: list = field(default_factory=list)  # the tape back end's lookup tables (xs, ys)


@dataclass(frozen=True, eq=False)
class Program:
    """A compiled model: slots, dependencies and per-back-end closures.

    Frozen: what a run derives from it (evaluation orders, tapes, switch
    tables) lives in a :class:`~sim.engine.running.cache.ProgramCache`, not on
    the program. Compared by identity (``eq=False``), as its closures are.
    """

    path: str
    slots: list[Slot]
    slot_of: dict[str, int]
    lookups: dict[str, tuple[np.ndarray, np.ndarray]]
    default_constants: dict[int, float]
    init_deps: dict[int, frozenset]
    run_deps: dict[int, frozenset]
    rate_deps: dict[int, frozenset]
    uses_time: set[int]
    stock_slots: list[int]
    backends: dict[str, BackendProgram]
    breakpoint_deps: list[frozenset]
    tol_slot: int
    dt_slot: int
    pipelines: list = field(default_factory=list)
    stock_flows: dict = field(default_factory=dict)
    breakpoint_gates: list = field(default_factory=list)  # per breakpoint: deps of each gate value
    lookup_uses: dict = field(default_factory=dict)  # slot -> frozenset of lookup slots it calls
    discrete: list = field(default_factory=list)  # Discrete records (compiled.discrete)
    #: Vensim functions of the model that only the closures compute (no tape): a run
    #: of such a model evaluates with kernel "python"
    python_only: tuple = ()
