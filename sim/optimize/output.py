"""Write an optimisation's results: the best mix as a scenario, history, front, summary."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from sim.io import atomic_write_bytes, atomic_write_text
from sim.optimize.evaluate import Problem
from sim.optimize.search import Candidate, SearchResult, non_dominated


def best_scenario_yaml(problem: Problem, best: Candidate, provenance: dict) -> str:
    """Return the best mix as a self-contained scenario file ``sim run`` and the app load.

    The optimised scenario is the searched scenario (every field written out) with
    the searched levers set to the best values from their start years.
    """
    from sim.scenarios import Scenario
    from sim.scenarios.serialize import scenario_to_yaml

    data = problem.scenario.model_dump(mode="python")
    levers = dict(data.get("levers") or {})
    params = dict(data.get("parameters") or {})
    for j, (key, value, start, r, _) in enumerate(problem.levers):
        level = round(float(best.x[j]), 6)
        when = None if r.start is None else (int(r.start) if float(r.start).is_integer()
                                             else r.start)
        if start is not None:
            levers[key] = {"value": level, "start": when}
        else:  # any other constant: a scenario parameter, for the whole run
            params[value] = level
    spec = problem.spec
    data.update(
        name=f"optimised: {spec.name}",
        levers=levers,
        parameters=params,
        description=(f"Found by `sim optimize` ({spec.name}): the {problem.scenario.name} "
                     f"scenario with the lever mix of lowest cost meeting the requirement "
                     f"(cost {best.cost:.4g}; robust objective {best.objective:.4g}). "
                     f"{spec.description}".strip()))
    scenario = Scenario.model_validate(data)
    return scenario_to_yaml(scenario, provenance=provenance)


def _csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return buf.getvalue()


def _row(problem: Problem, c: Candidate, **extra) -> dict:
    row = dict(extra)
    row |= {lv[0]: round(float(c.x[j]), 6) for j, lv in enumerate(problem.levers)}
    row |= {"cost": round(c.cost, 6), "objective": round(c.objective, 6),
            "feasible": c.feasible}
    return row


def front_png(rows: list[dict], title: str) -> bytes:
    """Return the Pareto front (robust objective against lever cost) as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot([r["cost"] for r in rows], [r["objective"] for r in rows], "o-")
    ax.set_xlabel("lever cost")
    ax.set_ylabel("robust objective")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    return buf.getvalue()


def summary_text(problem: Problem, result: SearchResult, fragment: str = "",
                 neutral=None) -> str:
    """Return a short Markdown account of the answer (or of why there is none).

    ``neutral`` is the evaluation of the mix with every searched lever neutral: the
    starting point the answer improves on.
    """
    spec = problem.spec
    q = spec.objective
    what = (f"{' + '.join(q.sum_of)} in {q.year:g}, "
            + ("gain over the reference" if q.measure == "gain" else "level")
            + f", {q.robustness.rule}" + (f" (q = {q.robustness.q:g})"
                                         if q.robustness.rule != "mean" else ""))
    lines = [f"# {spec.name}", "", spec.description, "", f"- objective: {what}",
             f"- goal: {spec.goal}" + (f", requirement: at least {spec.require.at_least:g}"
                                       if spec.require else ""),
             f"- ensemble: {problem.m} members of scenario '{problem.scenario.name}', "
             f"{problem.runs:,} member runs in all"]
    if neutral is not None:
        lines.append(f"- without the searched levers: robust objective "
                     f"{float(neutral.objective[0]):.4g} (median member "
                     f"{float(np.nanmedian(neutral.members[0])):.4g})")
    lines.append("")
    levers = [lv[0] for lv in problem.levers]
    if result.best is not None:
        b = result.best
        lines += ["## Answer", "", "| lever | value |", "| --- | ---: |"]
        lines += [f"| {k} | {b.x[j]:.4f} |" for j, k in enumerate(levers)]
        lines += ["", f"Cost {b.cost:.4g}; robust objective {b.objective:.4g}. The mix is in "
                  "`best.yaml`: `sim run best.yaml` runs it."]
    else:
        c = result.closest
        lines += ["## No mix within the bounds meets the requirement", ""]
        if c is not None:
            lines += [f"The highest robust objective reached was {c.objective:.4g} "
                      f"(cost {c.cost:.4g}) with " + ", ".join(
                          f"{k} = {c.x[j]:.3f}" for j, k in enumerate(levers)) + "."]
    if fragment:
        lines += ["", fragment]
    return "\n".join(lines) + "\n"


def write_results(folder: Path, problem: Problem, result: SearchResult, metadata: dict,
                  pareto: list | None = None, neutral=None) -> list[Path]:
    """Write best.yaml (if any), history.csv, candidates.csv, pareto.csv/png, summary.md, metadata.json."""
    folder = Path(folder)
    written = []
    if result.best is not None:
        written.append(atomic_write_text(folder / "best.yaml",
                                         best_scenario_yaml(problem, result.best, metadata)))
    written.append(atomic_write_text(folder / "history.csv", _csv(result.history)))
    written.append(atomic_write_text(folder / "candidates.csv", _csv(
        [_row(problem, c) for c in result.archive])))
    fragment = ""
    if pareto:
        rows = []
        for budget, res in pareto:
            best = max((c for c in res.archive if c.cost <= budget + 1e-12
                        and np.all(c.margins >= 0)), key=lambda c: c.objective, default=None)
            if best is not None:
                rows.append(_row(problem, best, budget=round(budget, 6)))
        front = non_dominated([c for _, r in pareto for c in r.archive] + result.archive)
        written.append(atomic_write_text(folder / "pareto.csv", _csv(rows)))
        written.append(atomic_write_text(folder / "pareto_archive.csv", _csv(
            [_row(problem, c) for c in front])))
        if rows:
            written.append(atomic_write_bytes(folder / "pareto.png",
                                              front_png(rows, problem.spec.name)))
        fragment = ("## Pareto front\n\n| budget | cost | objective |\n| ---: | ---: | ---: |\n"
                    + "\n".join(f"| {r['budget']:.3g} | {r['cost']:.3g} | {r['objective']:.4g} |"
                                for r in rows))
    written.append(atomic_write_text(folder / "summary.md",
                                     summary_text(problem, result, fragment, neutral)))
    written.append(atomic_write_text(folder / "metadata.json",
                                     json.dumps(metadata, indent=2, ensure_ascii=False) + "\n"))
    return written
