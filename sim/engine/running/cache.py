"""What the runs of one program derive from it once: orders, tapes, templates, switches.

A :class:`ProgramCache` belongs to a :class:`~sim.engine.model.Model` and is
handed to each :class:`~sim.engine.running.evaluator.Evaluator`; the
program itself stays frozen. Entries are keyed by value (back end name,
set of time-series slots, mode, member-varying slots), never by ``id()``,
and built under a lock, so threads sharing a model (the app's worker and
its main thread) see each entry built once and complete.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sim.engine.compiled.program import Program
from sim.engine.running.orders import init_order, run_orders

T = TypeVar("T")


class ProgramCache:
    """The derived data of one program, built on first use.

    Parameters
    ----------
    program : Program
        The compiled model the entries are derived from.
    """

    def __init__(self, program: Program) -> None:
        self.program = program
        self._lock = threading.RLock()
        self._entries: dict[Hashable, Any] = {}

    def _get(self, key: Hashable, build: Callable[[], T]) -> T:
        """Return the entry ``key``, building it (once, under the lock) when missing."""
        try:
            return self._entries[key]  # a complete entry: dict reads are atomic
        except KeyError:
            pass
        with self._lock:
            if key not in self._entries:
                self._entries[key] = build()
            return self._entries[key]

    def run_orders(self, backend: str, series: frozenset,
                   continuous: bool) -> tuple[list[int], list[int]]:
        """Return :func:`~sim.engine.running.orders.run_orders` of this run shape."""
        return self._get(("run", backend, series, continuous),
                         lambda: run_orders(self.program, backend, series, continuous))

    def init_order(self, backend: str, series: frozenset) -> list[int]:
        """Return :func:`~sim.engine.running.orders.init_order` of this run shape."""
        return self._get(("init", backend, series),
                         lambda: init_order(self.program, backend, series))

    def tapes(self, backend: str, series: frozenset, continuous: bool,
              seeds: frozenset) -> Any:
        """Return the tapes of one run shape (:func:`sim.engine.tape.backend.build_tapes`).

        A run shape is the back end's orders, the time-series slots, the mode
        and the member-varying constants ``seeds``.
        """
        def build() -> Any:
            from sim.engine.tape.backend import build_tapes, varying_slots

            p = self.program
            run_order, rate_order = self.run_orders(backend, series, continuous)
            init = [x for x in self.init_order(backend, series) if x not in series]
            return build_tapes(p, run_order, rate_order, list(p.stock_slots), p.pipelines,
                               varying_slots(p, seeds), init)
        return self._get(("tapes", backend, series, continuous, seeds), build)

    def template(self, num: type) -> list:
        """Return a value list with every slot 0 and the constants at their values, as ``num``.

        The caller copies it (``list(template)``) before writing.
        """
        def build() -> list:
            t_ = [num(0.0)] * len(self.program.slots)
            for slot, val in self.program.default_constants.items():
                t_[slot] = num(val)
            return t_
        return self._get(("template", num.__name__), build)

    def switch_table(self) -> list:
        """Return :func:`~sim.engine.running.switches.switch_table` of the program."""
        from sim.engine.running.switches import switch_table

        return self._get(("switches",), lambda: switch_table(self.program))

    def memo(self, key: Hashable, build: Callable[[], T]) -> T:
        """Return the entry ``("memo", key)``, built once by ``build()``.

        For a model's own derived values (e.g. the names of a set of recorded slots).
        """
        return self._get(("memo", key), build)
