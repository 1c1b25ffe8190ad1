"""The stock-flow-auxiliary graph of a compiled model and its feedback loops."""
from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

#: Above this many elementary cycles the analysis switches to an independent loop set.
MAX_LOOPS = 2000


@dataclass(frozen=True)
class Graph:
    """Causal links between the dynamic variables of a model.

    Attributes
    ----------
    nodes : tuple of int
        Slots of the stocks, flows and auxiliaries that change over time.
    edges : tuple of (int, int)
        ``(x, z)``: z's equation reads x (for a stock, its net-flow equation does).
    names : dict
        Slot -> Vensim name.
    stocks : frozenset of int
    """

    nodes: tuple
    edges: tuple
    names: dict
    stocks: frozenset


def build_graph(program) -> Graph:
    """Return the graph of ``program`` (a compiled :class:`~sim.engine.compiled.program.Program`).

    Constants, lookups and internal slots carry no feedback and are left out.
    """
    vector = program.backends["vector"]
    stocks = frozenset(program.stock_slots)
    dynamic = set(vector.run_fn) | set(stocks)
    dynamic = {s for s in dynamic if program.slots[s].kind not in ("constant", "lookup", "internal")}
    edges = set()
    for z in dynamic:
        deps = program.rate_deps.get(z, ()) if z in stocks else program.run_deps.get(z, ())
        edges |= {(x, z) for x in deps if x in dynamic and x != z}
    names = {s: program.slots[s].name for s in dynamic}
    return Graph(tuple(sorted(dynamic)), tuple(sorted(edges)), names, stocks)


def find_loops(graph: Graph, max_loops: int = MAX_LOOPS) -> tuple[list[tuple[int, ...]], bool]:
    """Return the feedback loops of ``graph`` and whether the set is complete.

    Every elementary cycle when there are at most ``max_loops``; otherwise an
    independent loop set: for each link, the shortest loop through it, kept when it
    adds a link no kept loop has (Oliva 2004's shortest independent loop set idea),
    so every link on a loop is covered. Each loop starts at its smallest slot.

    Returns
    -------
    loops : list of tuple of int
        Slots in causal order (the last one feeds the first).
    complete : bool
        False when the independent set was used.
    """
    g = nx.DiGraph()
    g.add_nodes_from(graph.nodes)
    g.add_edges_from(graph.edges)
    loops = []
    for cycle in nx.simple_cycles(g):
        loops.append(_canonical(cycle))
        if len(loops) > max_loops:
            break
    else:
        return sorted(set(loops), key=lambda c: (len(c), c)), True
    kept, covered = [], set()
    candidates = []
    for x, z in graph.edges:
        try:
            path = nx.shortest_path(g, z, x)
        except nx.NetworkXNoPath:
            continue
        candidates.append(_canonical(path))
    for c in sorted(set(candidates), key=lambda c: (len(c), c)):
        links = set(zip(c, c[1:] + c[:1], strict=True))
        if links - covered:
            kept.append(c)
            covered |= links
    return kept, False


def _canonical(cycle: list[int]) -> tuple[int, ...]:
    k = cycle.index(min(cycle))
    return tuple(cycle[k:] + cycle[:k])
