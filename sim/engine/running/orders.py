"""Evaluation orders of a :class:`~sim.engine.compiled.program.Program` (pure functions).

What they return depends only on the program, the back end, the set of
constants replaced by time series and the mode (fixed-step or continuous);
:class:`~sim.engine.running.cache.ProgramCache` keeps them per run shape.
"""
from __future__ import annotations

from collections.abc import Mapping
from graphlib import CycleError, TopologicalSorter

from sim.engine.compiled.program import Program
from sim.errors import ModelError


def toposort(nodes: set[int], deps: Mapping[int, frozenset], program: Program,
             what: str) -> list[int]:
    """Return ``nodes`` so that each comes after the nodes it depends on.

    Raises
    ------
    ModelError
        An algebraic loop; the message names its variables, ``what`` says
        which equations ("initial values", "auxiliary equations").
    """
    ts: TopologicalSorter[int] = TopologicalSorter()
    for n in sorted(nodes):
        ts.add(n, *sorted(d for d in deps.get(n, ()) if d in nodes and d != n))
    try:
        return list(ts.static_order())
    except CycleError as exc:
        cycle = [program.slots[i].name for i in exc.args[1]]
        raise ModelError(program.path, f"{what}: circular definition (algebraic loop) "
                         f"through {' -> '.join(cycle)}", variable=cycle[0]) from exc


def pipe_sources(program: Program) -> dict[int, int]:
    """Return DELAY N pipeline slot -> the delay-time slot it copies in continuous time."""
    return {p_: it for it, pipes in program.pipelines for p_ in pipes}


def run_orders(program: Program, backend: str, series: frozenset,
               continuous: bool = False) -> tuple[list[int], list[int]]:
    """Return the run order of the time-dependent auxiliaries, and the part the rates need.

    In continuous time (``continuous``) the DELAY N pipeline slots are
    auxiliaries too, copies of their delay time placed after it, so every
    evaluation is a function of the time and the stocks alone.
    """
    bp = program.backends[backend]
    pipes = pipe_sources(program) if continuous else {}
    run_nodes = set(bp.run_fn) | set(series) | set(pipes)
    held = {d.slot for d in program.discrete}  # discrete state: changes once per step
    dynamic = set(program.stock_slots) | set(series) | held | (program.uses_time & run_nodes)
    deps: Mapping[int, frozenset] = program.run_deps
    if pipes:
        deps = {**deps, **{p_: frozenset({it}) for p_, it in pipes.items()}}
    order = toposort(run_nodes, deps, program, "auxiliary equations")
    for s in order:
        if s in dynamic or any(d in dynamic for d in deps.get(s, ())):
            dynamic.add(s)
    run_order = [s for s in order if s in dynamic and s not in series]
    # the auxiliaries the stocks' rates need (others are computed only when saved)
    need: set[int] = set()
    todo = [d for s in program.stock_slots for d in program.rate_deps.get(s, ())]
    todo += [r for d in program.discrete for r in d.reads]  # read by the once-per-step update
    while todo:
        s = todo.pop()
        if s not in need:
            need.add(s)
            todo += list(deps.get(s, ()))
    return run_order, [s for s in run_order if s in need]


def init_order(program: Program, backend: str, series: frozenset) -> list[int]:
    """Return the order of the initial-value equations; time-series overrides are inputs."""
    init_nodes = set(program.backends[backend].init_fn) | set(series)
    deps: Mapping[int, frozenset] = program.init_deps
    if series:
        deps = {**deps, **{s: frozenset() for s in series}}
    return toposort(init_nodes, deps, program, "initial values")
