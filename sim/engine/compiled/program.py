"""The compiled form of a model: value slots, dependencies and closures per back end."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Slot:
    """Metadata of one value slot.

    ``kind`` is one of constant, auxiliary, flow, stock, lookup (visible), or
    initial, hidden_stock, hidden_aux (internal).
    """

    name: str
    py_name: str
    kind: str
    units: str = ""
    doc: str = ""
    limits: tuple = (None, None)
    visible: bool = True


@dataclass
class BackendProgram:
    """Closures of one back end: init, runtime and rate functions by slot."""

    init_fn: dict[int, object] = field(default_factory=dict)
    run_fn: dict[int, object] = field(default_factory=dict)
    rate_fn: dict[int, object] = field(default_factory=dict)
    breakpoints: list[tuple[str, list]] = field(default_factory=list)  # (kind, values) per switch
    gates: list[list] = field(default_factory=list)  # per switch: values that cancel it at 0
    tables: list = field(default_factory=list)  # the tape back end's lookup tables (xs, ys)


@dataclass
class Program:
    """A compiled model: slots, dependencies and per-back-end closures."""

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
