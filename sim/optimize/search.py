"""The search: SciPy's differential evolution, one vectorised ensemble per generation.

``min_cost`` minimises the lever cost subject to the robust objective reaching
``require`` and every constraint holding; ``max_objective`` maximises the robust
objective within ``budget``. Constraints follow Deb's feasibility rule folded into
one number: any feasible candidate beats any infeasible one, and infeasible ones
are ranked by their normalised violation. The Pareto mode solves
``max_objective`` at several budgets (the epsilon-constraint method).
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import differential_evolution
from scipy.stats import qmc

from sim.optimize.evaluate import Problem


@dataclass
class Candidate:
    """One evaluated lever mix."""

    x: np.ndarray
    cost: float
    objective: float
    margins: np.ndarray
    feasible: bool


@dataclass
class SearchResult:
    """The outcome of one search.

    Attributes
    ----------
    best : Candidate or None
        The answer (None: no candidate met the requirement and constraints).
    history : list of dict
        Per generation: ``generation``, ``best_cost``, ``best_objective``,
        ``feasible`` (candidates meeting everything), ``runs`` (members so far).
    archive : list of Candidate
        Every candidate evaluated.
    closest : Candidate or None
        When nothing is feasible: the candidate with the highest objective among
        those meeting the constraints (what the bounds allow at best).
    """

    best: Candidate | None
    history: list = field(default_factory=list)
    archive: list = field(default_factory=list)
    closest: Candidate | None = None


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def bounds(problem: Problem) -> list[tuple[float, float]]:
    """Return each searched lever's ``(low, high)``."""
    return [(lv[3].low, lv[3].high) for lv in problem.levers]


def max_cost(problem: Problem) -> float:
    """Return the largest lever cost inside the bounds."""
    return float(sum(r.cost * max(abs(r.low - neutral), abs(r.high - neutral))
                     for _, _, _, r, neutral in problem.levers))


def set_regret_reference(problem: Problem, seed: int, n: int = 16) -> None:
    """Evaluate a Latin-hypercube set of ``n`` mixes; keep the best value per member."""
    lo, hi = np.array(bounds(problem)).T
    x = qmc.scale(qmc.LatinHypercube(d=len(lo), seed=seed).random(n), lo, hi)
    ev = problem.evaluate(x)
    problem.best_per_member = np.nanmax(ev.members, axis=0)


def run_search(problem: Problem, *, goal: str | None = None, budget: float | None = None,
               progress: Callable[[str], None] | None = _say, label: str = "") -> SearchResult:
    """Search the levers of ``problem`` for its goal.

    Parameters
    ----------
    problem : Problem
    goal : {'min_cost', 'max_objective'}, optional
        Default: the spec's.
    budget : float, optional
        ``max_objective``: the largest lever cost allowed (default: the spec's, else none).
    progress : callable, optional
        Called with one line per generation.
    label : str
        Prefix of the progress lines.

    Returns
    -------
    SearchResult
    """
    spec = problem.spec
    goal = goal or spec.goal
    budget = spec.budget if budget is None else budget
    say = progress or (lambda _text: None)
    if spec.objective.robustness.rule == "regret" and problem.best_per_member is None:
        set_regret_reference(problem, spec.search.seed)
    top = max_cost(problem)
    scale: dict[str, np.ndarray] = {}
    result = SearchResult(best=None)
    generation = [0]

    def violation(ev, cost) -> np.ndarray:
        parts = [np.maximum(-ev.constraints, 0.0)]
        if goal == "min_cost":
            parts.append(np.maximum(spec.require.at_least - ev.objective, 0.0)[:, None])
        elif budget is not None:
            parts.append(np.maximum(cost - budget, 0.0)[:, None])
        v = np.column_stack(parts) if parts else np.zeros((len(cost), 0))
        if "v" not in scale:  # normalise each part by its spread in the first generation
            spread = np.nanstd(np.column_stack([ev.constraints,
                                                ev.objective[:, None], cost[:, None]]), axis=0)
            scale["v"] = np.maximum(np.append(spread[: ev.constraints.shape[1]],
                                              spread[-2] if goal == "min_cost" else spread[-1]),
                                    1e-12)
        v = v / scale["v"][None, : v.shape[1]]
        v[~np.isfinite(v)] = 1e6
        return v.sum(axis=1)

    def f(xt: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(xt.T)
        ev = problem.evaluate(x)
        cost = ev.cost
        viol = violation(ev, cost)
        feasible = viol <= 0
        for i in range(len(x)):
            result.archive.append(Candidate(x[i].copy(), float(cost[i]), float(ev.objective[i]),
                                            ev.constraints[i].copy(), bool(feasible[i])))
        good = -ev.objective if goal == "max_objective" else cost
        worst = top + 1.0 if goal == "min_cost" else -np.nanmin(ev.objective) + 1.0
        out = np.where(feasible, good, abs(worst) + 1.0 + viol)
        out[~np.isfinite(out)] = 1e12
        feas = [c for c in result.archive if c.feasible]
        best = (min(feas, key=lambda c: c.cost if goal == "min_cost" else -c.objective)
                if feas else None)
        result.history.append({
            "generation": generation[0], "feasible": int(feasible.sum()),
            "best_cost": best.cost if best else float("nan"),
            "best_objective": best.objective if best else float("nan"),
            "runs": problem.runs})
        say(f"{label}generation {generation[0]}: {len(x)} mixes x {problem.m} members; "
            + (f"best so far cost {best.cost:.4g}, objective {best.objective:.4g}" if best else
               "no mix meets the requirement yet"))
        generation[0] += 1
        return out

    differential_evolution(
        f, bounds(problem), seed=spec.search.seed, maxiter=spec.search.generations,
        popsize=spec.search.population, tol=spec.search.tolerance, init="latinhypercube",
        polish=False, vectorized=True, updating="deferred", mutation=(0.5, 1.0),
        recombination=0.7)
    feas = [c for c in result.archive if c.feasible]
    if feas:
        result.best = min(feas, key=lambda c: (c.cost, -c.objective) if goal == "min_cost"
                          else (-c.objective, c.cost))
    else:
        ok = [c for c in result.archive if np.all(c.margins >= 0)] or result.archive
        result.closest = max(ok, key=lambda c: c.objective)
    return result


def pareto_front(problem: Problem, points: int,
                 progress: Callable[[str], None] | None = _say) -> list[tuple[float, SearchResult]]:
    """Solve ``max_objective`` at ``points`` budgets from 0 to the largest cost.

    Returns
    -------
    list of (budget, SearchResult)
    """
    top = max_cost(problem)
    out = []
    for i, b in enumerate(np.linspace(0.0, top, points)):
        out.append((float(b), run_search(problem, goal="max_objective", budget=float(b),
                                         progress=progress,
                                         label=f"pareto {i + 1}/{points} (budget {b:.3g}): ")))
    return out


def non_dominated(cands: list[Candidate]) -> list[Candidate]:
    """Return the candidates no other beats on both cost (lower) and objective (higher)."""
    ok = sorted((c for c in cands if np.all(c.margins >= 0) and np.isfinite(c.objective)),
                key=lambda c: (c.cost, -c.objective))
    front, best = [], -np.inf
    for c in ok:
        if c.objective > best:
            front.append(c)
            best = c.objective
    return front
