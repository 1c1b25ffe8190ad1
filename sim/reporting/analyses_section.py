"""The report's sections on the model's feedback loops and its checks (``sim loops``, ``sim check``).

Both are computed from the calibrated run, so a reviewer sees which loop drives
the projection and whether the model passes the checks its card states.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.reporting import figures_calibration as figs


@dataclass(frozen=True)
class AnalysesInputs:
    """What the two sections show: a loop analysis and the check outcomes."""

    loops: object  # sim.loops.scores.LoopAnalysis, or None
    loops_error: str
    checks: list  # list of sim.checks.outcome.CheckOutcome
    checks_error: str
    split: float  # the last observed year: means before and after it
    optimizations: tuple = ()  # (spec path, Problem, SearchResult, neutral Evaluation) or error


def compute_analyses(model, model_path, estimates: dict, split: float,
                     optimize_specs=(), calibrated=None) -> AnalysesInputs:
    """Run the loop analysis, every model check and the given optimisation specs.

    The loops are scored at the calibrated ``estimates``; ``optimize_specs`` are
    paths of optimisation specs, run from ``calibrated``.
    """
    from sim.checks.run import run_checks
    from sim.loops.names import default_path, load_loop_names
    from sim.loops.scores import analyse_loops

    loops, loops_err, checks, checks_err = None, "", [], ""
    try:
        names_file = default_path(model_path)
        names = load_loop_names(names_file, model) if names_file.exists() else None
        loops = analyse_loops(model, params=estimates, names=names)
    except Exception as exc:  # shown in the report; the rest still builds
        loops_err = f"{type(exc).__name__}: {exc}"
    try:
        checks = run_checks(model_path)
    except Exception as exc:  # shown in the report
        checks_err = f"{type(exc).__name__}: {exc}"
    optimizations = tuple(_optimize(path, model, calibrated) for path in optimize_specs)
    return AnalysesInputs(loops, loops_err, checks, checks_err, split, optimizations)


def _optimize(path, model, calibrated):
    from sim.optimize.evaluate import Problem
    from sim.optimize.search import run_search
    from sim.optimize.spec import load_spec

    try:
        problem = Problem(load_spec(path), path, model, calibrated)
        neutral = problem.evaluate(problem.neutral())
        return (path, problem, run_search(problem, progress=None), neutral)
    except Exception as exc:  # shown in the report; the rest still builds
        return (path, None, f"{type(exc).__name__}: {exc}", None)


def optimize_section(a: AnalysesInputs, section, table, num):
    """Return the "Cheapest robust lever mix" section: each shipped optimisation's answer."""
    if not a.optimizations:
        return None
    blocks: list = []
    for path, problem, result, neutral in a.optimizations:
        name = getattr(path, "name", str(path))
        if problem is None:
            blocks.append(f"{name}: not run: {result}")
            continue
        spec = problem.spec
        blocks.append(("h3", spec.name))
        blocks.append(f"{spec.description} (`sim optimize scenarios/optimize/{name}`; "
                      f"{problem.m} members, {problem.runs:,} member runs, seed "
                      f"{spec.search.seed}.) Without the searched levers the robust objective "
                      f"is {float(neutral.objective[0]):.4g}; the requirement is at least "
                      + (f"{spec.require.at_least:g}." if spec.require else "none."))
        levers = [lv[0] for lv in problem.levers]
        if result.best is None:
            c = result.closest
            blocks.append("No mix within the bounds meets the requirement; the highest robust "
                          f"objective reached was {c.objective:.4g} with "
                          + ", ".join(f"{k} = {c.x[j]:.3f}" for j, k in enumerate(levers)) + ".")
            continue
        b = result.best
        rows = [[k, num(float(b.x[j]), (), 4)] for j, k in enumerate(levers)]
        rows.append(["cost (lever units)", num(b.cost, (), 4)])
        rows.append(["robust objective", num(b.objective, (), 4)])
        blocks.append(table(["lever", "best value"], rows))
    return section("Cheapest robust lever mix", blocks, "optimize")


def loops_section(a: AnalysesInputs, section, table, num):
    """Return the "Feedback loop dominance" section (``section``/``table``/``num``: the report's types)."""
    if a.loops is None:
        return section("Feedback loop dominance", [f"Not computed: {a.loops_error}"], "loops")
    from sim.loops.output import label, loops_figure

    la = a.loops
    before, after = la.times <= a.split, la.times > a.split
    rows = []
    for k, lp in enumerate(la.loops):
        rows.append([label(k, lp.name), lp.polarity, num(float(np.max(np.abs(lp.relative))), (), 3),
                     num(float(np.mean(lp.relative[before])) if before.any() else np.nan, (), 3),
                     num(float(np.mean(lp.relative[after])) if after.any() else np.nan, (), 3),
                     " → ".join(lp.variables)])
    named = [lp for lp in la.loops if lp.name]
    text = (f"{len(la.loops)} feedback loops of the model"
            + ("" if la.complete else " (an independent loop set)")
            + ", scored over the calibrated run at every time step by the Loops That Matter "
              "method (Schoenberg, Davidsen & Eberlein 2020): a loop's relative score is its "
              "share of the change in the model's behaviour, + for reinforcing, - for balancing; "
              "the magnitudes add up to 1 at each time. "
            + f"{len({lp.name for lp in named})} loop names come from the model's loop file "
              "(NAME.loops.yaml beside the model). `sim loops` reproduces this; the app's "
              "'Feedback loops' tab shows it for any lever setting.")
    fig = loops_figure(la, "Relative loop scores, calibrated run")
    hdr = ["loop", "polarity", "largest |relative|", f"mean to {a.split:g}",
           f"mean after {a.split:g}", "variables"]
    return section("Feedback loop dominance", [text, ("img", figs.data_uri(fig), "loops"),
                                               table(hdr, rows)], "loops")


def checks_section(a: AnalysesInputs, section, table, model_name: str = "MODEL.mdl"):
    """Return the "Model checks" section: every outcome of ``sim check``."""
    if a.checks_error:
        return section("Model checks", [f"Not run: {a.checks_error}"], "checks")
    passed = sum(o.passed for o in a.checks)
    stem = model_name.rsplit(".", 1)[0]
    text = (f"`sim check {model_name}`: {passed} of {len(a.checks)} checks pass. "
            "Structure (every stock has a flow, every constant and lookup is used, every "
            "constant has a unit), units, the integration step (Euler at TIME STEP against "
            f"TIME STEP / 2) and the behaviour expected in {stem}.checks.yaml beside the model "
            "(if there is one), each run with the named inputs overridden.")
    rows = [[o.category, o.name, o.detail, "pass" if o.passed else "FAIL"] for o in a.checks]
    return section("Model checks", [text, table(["category", "check", "outcome", "result"],
                                                rows)], "checks")
