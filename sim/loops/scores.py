"""Link, loop and relative loop scores over a run (Loops That Matter).

For a link ``x -> z`` over one time step (Schoenberg, Davidsen & Eberlein 2020):

    LS(x -> z) = |Δ_x z / Δz| · sign(Δ_x z / Δx)

where ``Δz`` is z's change over the step and ``Δ_x z`` the change z would have made
had only x changed (z's equation evaluated with x at its new value and every other
input, time included, at its old one). For a stock, z is its net flow, so a flow
into the stock scores ``|Δi / Δnet|`` and a flow out ``-|Δo / Δnet|``: the
dimensionless form of the method's flow-to-stock link score. A loop's score is the
product of its links' scores; its relative score divides by the sum of the
magnitudes of all loops' scores (or of the loops through a chosen variable), so
the relative scores of the loops considered add up to 1 in magnitude, positive for
a reinforcing and negative for a balancing effect.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.loops.graph import Graph, build_graph, find_loops


@dataclass(frozen=True)
class Loop:
    """One feedback loop and its scores.

    Attributes
    ----------
    variables : tuple of str
        Vensim names in causal order (the last feeds the first).
    score : ndarray (K,)
        Loop score on each step (the product of its link scores).
    relative : ndarray (K,)
        Relative loop score on each step, in [-1, 1].
    name : str
        A name from the model's loop file, or ``''``.
    """

    variables: tuple
    score: np.ndarray
    relative: np.ndarray
    name: str = ""

    @property
    def polarity(self) -> str:
        """``reinforcing``, ``balancing`` or ``mixed``, from the sign of the loop score."""
        s = np.sign(self.score[np.isfinite(self.score) & (self.score != 0)])
        if not s.size:
            return "inactive"
        return "reinforcing" if np.all(s > 0) else "balancing" if np.all(s < 0) else "mixed"


@dataclass(frozen=True)
class LoopAnalysis:
    """Loop dominance over a run.

    Attributes
    ----------
    times : ndarray (K,)
        End of each step [model time unit].
    loops : list of Loop
    complete : bool
        False when the loops are an independent loop set (too many to list all).
    variable : str or None
        The variable the relative scores are restricted to (loops through it).
    """

    times: np.ndarray
    loops: list
    complete: bool
    variable: str | None


class _Trajectories:
    """All slot values of a run at every step, in the evaluator's value-list form."""

    def __init__(self, model, params: dict | None, final_time: float | None) -> None:
        p = model.program
        c = model.controls
        res = model.simulate(params, method="euler", saveper=c.time_step, final_time=final_time)
        self.times = np.asarray(res.times, float)
        n = len(self.times)
        self.values: list = []
        for slot in p.slots:
            if slot.py_name in res.py_names:
                self.values.append(np.asarray(res[slot.py_name], float).reshape(n))
            elif slot.py_name in model.constants:
                self.values.append(np.full(n, float(model.constants[slot.py_name])))
            else:
                self.values.append(np.full(n, np.nan))
        self.values[p.tol_slot] = np.full(n, c.time_step / 2)
        self.values[p.dt_slot] = np.full(n, c.time_step)
        if params:
            for key, val in params.items():
                py = model.py_name(key)
                if np.ndim(val) == 0 and py in p.slot_of:
                    self.values[p.slot_of[py]] = np.full(n, float(val))
        if res.failures:
            raise ValueError(f"the run failed: {res.failures[0]}")

    def at(self, rows: slice) -> list:
        return [v[rows] for v in self.values]


def _equation(program, graph: Graph, z: int):
    vector = program.backends["vector"]
    fn = vector.rate_fn[z] if z in graph.stocks else vector.run_fn[z]
    return fn if callable(fn) else (lambda v, t, c=fn: c)


def link_scores(model, graph: Graph, traj: _Trajectories) -> dict[tuple[int, int], np.ndarray]:
    """Return the score of every link of ``graph`` on every step of ``traj``."""
    p = model.program
    prev, cur = traj.at(slice(0, -1)), traj.at(slice(1, None))
    t0, t1 = traj.times[:-1], traj.times[1:]
    out = {}
    targets = sorted({z for _, z in graph.edges})
    with np.errstate(all="ignore"):
        for z in targets:
            f = _equation(p, graph, z)
            z0 = np.broadcast_to(np.asarray(f(prev, t0), float), t0.shape)
            z1 = np.broadcast_to(np.asarray(f(cur, t1), float), t1.shape)
            dz = z1 - z0
            for x in (e[0] for e in graph.edges if e[1] == z):
                moved = list(prev)
                moved[x] = cur[x]
                dxz = np.broadcast_to(np.asarray(f(moved, t0), float), t0.shape) - z0
                dx = cur[x] - prev[x]
                score = np.abs(dxz / dz) * np.sign(dxz / dx)
                out[(x, z)] = np.where((dz == 0) | (dx == 0) | ~np.isfinite(score), 0.0, score)
    return out


def analyse_loops(model, *, params: dict | None = None, final_time: float | None = None,
                  variable: str | None = None, names: dict | None = None,
                  max_loops: int | None = None) -> LoopAnalysis:
    """Find the loops of ``model`` and score them over one Euler run.

    Parameters
    ----------
    model : sim.Model
    params : dict, optional
        Constants set for the run (as :meth:`sim.Model.simulate`).
    final_time : float, optional
    variable : str, optional
        Keep the loops through this variable; relative scores among them.
    names : dict, optional
        Loop name -> set of Vensim names a loop must pass through to take the name
        (:func:`sim.loops.names.load_loop_names`); first match wins.
    max_loops : int, optional
        Above this many loops an independent loop set is used (default ``MAX_LOOPS``).

    Returns
    -------
    LoopAnalysis
        Loops sorted by their largest relative score, strongest first.
    """
    from sim.loops.graph import MAX_LOOPS

    p = model.program
    hidden = [s.name for s in p.slots if not s.visible and s.kind not in ("internal", "initial")]
    if hidden:
        from sim.errors import ModelError
        raise ModelError(p.path, "loop analysis: the model has internal stocks or variables "
                         f"(SMOOTH, DELAY, ...: {', '.join(hidden[:3])}); their links are not "
                         "scored yet", construct="loops")
    graph = build_graph(p)
    cycles, complete = find_loops(graph, max_loops or MAX_LOOPS)
    if variable is not None:
        target = p.slot_of[model.py_name(variable)]
        cycles = [c for c in cycles if target in c]
    traj = _Trajectories(model, params, final_time)
    links = link_scores(model, graph, traj)
    k = len(traj.times) - 1
    scores = []
    for c in cycles:
        s = np.ones(k)
        for x, z in zip(c, c[1:] + c[:1], strict=True):
            s = s * links[(x, z)]
        scores.append(s)
    total = np.sum(np.abs(scores), axis=0) if scores else np.zeros(k)
    loops = []
    for c, s in zip(cycles, scores, strict=True):
        with np.errstate(all="ignore"):
            rel = np.where(total > 0, s / total, 0.0)
        vars_ = tuple(graph.names[i] for i in c)
        loops.append(Loop(vars_, s, rel, _name(vars_, names)))
    loops.sort(key=lambda lp: -float(np.max(np.abs(lp.relative))) if lp.relative.size else 0.0)
    return LoopAnalysis(traj.times[1:], loops, complete, variable)


def _name(variables: tuple, names: dict | None) -> str:
    if not names:
        return ""
    have = set(variables)
    return next((n for n, through in names.items() if set(through) <= have), "")
