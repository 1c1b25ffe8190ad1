"""Run scenarios on a model and summarise them; pure (no printing, no files).

Each scenario is resolved (:func:`sim.scenarios.resolve`) and run as ONE
vectorised :meth:`sim.Model.simulate` call over all its ensemble members. A
scenario that is invalid or fails numerically becomes a :class:`RunFailure`
and the others still run. Summaries compare every scenario with a baseline:
the scenario named ``baseline`` or, when there is none, the base run of the
first scenario (its base, ensemble and seed without levers or parameter
changes). When both share the sampled parameters (same members, seed,
sampling and distributions) differences are taken member by member (common
random numbers); otherwise between all pairs of members (independent).
"""
from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from sim.engine.results import FailureKind, saved_index
from sim.engine.running.methods import DEFAULT_SCIPY_METHOD, Method, ScipyMethod
from sim.ensembles.streaming import DEFAULT_STREAM_CHUNK, PartitionWriter, StreamedResult
from sim.errors import SimError
from sim.scenarios import (
    DEFAULT_MEMORY_LIMIT,
    SUMMARY_OUTPUTS,
    Calibrated,
    ResolvedScenario,
    Scenario,
    ScenarioError,
    resolve,
)

BASELINE_NAME = "baseline"
SUMMARY_YEARS: tuple[int, ...] = (2025, 2030, 2035)
CAGR_START = 2022
"""Last observed year (UNCTAD, 2022): growth rates are compounded from it."""
PERCENTILES: tuple[float, ...] = (5, 25, 50, 75, 95)
_MAX_PAIRS = 2000  # members per side used for independent (all-pairs) differences


@dataclass(frozen=True)
class RunFailure:
    """A scenario that could not be run.

    Attributes
    ----------
    source : str
        File it came from.
    scenario : str or None
        Its name (None when the file itself could not be read).
    reason : str
    """

    source: str
    scenario: str | None
    reason: str


@dataclass(frozen=True)
class ScenarioRun:
    """The ensemble result of one scenario.

    Attributes
    ----------
    resolved : ResolvedScenario
    result : sim.SimulationResult
    method : str
        Integration method used.
    warnings : tuple of str
        Members masked after going non-finite, and resolution notes.
    """

    resolved: ResolvedScenario
    result: object
    method: str
    warnings: tuple = ()

    @property
    def scenario(self) -> Scenario:
        return self.resolved.scenario

    @property
    def name(self) -> str:
        return self.scenario.name

    @property
    def slug(self) -> str:
        return self.scenario.slug

    @property
    def members(self) -> int:
        return int(self.result.n_members)

    @property
    def times(self) -> np.ndarray:
        """Saved times [year]."""
        return self.result.times

    @property
    def variables(self) -> list[str]:
        return list(self.result.data)

    @property
    def streamed(self) -> bool:
        """Whether the members' values are on disk (:mod:`sim.ensembles.streaming`), not here."""
        return isinstance(self.result, StreamedResult)

    def row(self, variable: str, k: int) -> np.ndarray:
        """Values of ``variable`` at the ``k``-th saved time over members, shape (members,)."""
        if isinstance(self.result, StreamedResult):
            return self.result.row(variable, k)
        return self.values(variable)[k]

    def quantiles(self, variable: str, probs: Sequence[float]) -> np.ndarray:
        """Percentiles ``probs`` of ``variable`` over members at each saved time, (len(probs), T).

        In memory, over the whole array; streamed, one saved time at a time
        (the same numbers: each time's percentiles are over that time's members).
        """
        if not isinstance(self.result, StreamedResult):
            return _nanpercentile(self.values(variable), probs, axis=1)
        rows = [_nanpercentile(row, probs) for _, row in self.result.rows(variable)]
        return np.asarray(rows, dtype=float).reshape(len(self.times), len(probs)).T

    @property
    def failed_members(self) -> tuple[int, ...]:
        return tuple(sorted({f.member for f in self.result.failures if f.member >= 0}))

    def values(self, variable: str) -> np.ndarray:
        """Values of ``variable``, shape (times, members) [its units]."""
        return self.result.values(variable)

    def at(self, variable: str, year: float) -> np.ndarray:
        """Return the values at ``year`` over members, shape (members,) [its units].

        NaN if ``year`` was not saved: the rule of :meth:`sim.SimulationResult.at`
        (:func:`sim.engine.results.saved_index`).
        """
        k = saved_index(self.times, year)
        if k is None:
            return np.full(self.members, np.nan)
        return self.row(variable, k)

    def tidy(self) -> pd.DataFrame:
        """Return the long table: run_id (the member), scenario, time [year], variable, value.

        :meth:`sim.SimulationResult.tidy` with the scenario's name (categorical)
        after run_id.
        """
        out = self.result.tidy()
        out.insert(1, "scenario", pd.Categorical.from_codes(
            np.zeros(len(out), dtype=np.int8), categories=pd.Index([self.name], dtype="str")))
        return out

    def experiments(self) -> pd.DataFrame:
        """One row per member: run_id, scenario, seed, sampling and the sampled values."""
        sc = self.scenario
        out = pd.DataFrame({"run_id": np.arange(self.members, dtype=np.int64),
                            "scenario": sc.name,
                            "seed": sc.seed if self.members > 1 else None,
                            "sampling": sc.sampling if self.members > 1 else None})
        for name, arr in self.resolved.samples.items():
            out[name] = arr
        out["failed"] = out["run_id"].isin(self.failed_members)
        return out

    def percentiles(self, probs: Sequence[float] = PERCENTILES) -> pd.DataFrame:
        """Wide table: time, then '<variable> p<q>' and '<variable> mean' columns."""
        cols: dict[str, np.ndarray] = {"time": self.times}
        for name in self.variables:
            if isinstance(self.result, StreamedResult):  # a saved time at a time: same numbers
                q_rows, means = [], []
                for _, r in self.result.rows(name):
                    q_rows.append(_nanpercentile(r, probs))
                    means.append(_nanmean(r))
                qs = np.asarray(q_rows, dtype=float).reshape(len(self.times), len(probs)).T
                mean = np.asarray(means, dtype=float)
            else:
                arr = self.values(name)
                qs = _nanpercentile(arr, probs, axis=1)
                mean = _nanmean(arr, axis=1)
            for q, row in zip(probs, qs, strict=True):
                cols[f"{name} p{q:g}"] = row
            cols[f"{name} mean"] = mean
        return pd.DataFrame(cols)


@dataclass
class BatchResult:
    """Runs, failures and the baseline the runs are compared with.

    Attributes
    ----------
    runs : list of ScenarioRun
        In input order; includes the baseline.
    failures : list of RunFailure
    baseline : ScenarioRun or None
    baseline_of : str or None
        When no scenario was named ``baseline``: the scenario whose base run
        was made (and named ``baseline``) to compare with.
    """

    runs: list = field(default_factory=list)
    failures: list = field(default_factory=list)
    baseline: ScenarioRun | None = None
    baseline_of: str | None = None

    @property
    def ok(self) -> bool:
        return not self.failures


def _nanpercentile(arr: np.ndarray, probs, axis=None) -> np.ndarray:
    """np.nanpercentile without the warning for all-NaN slices (they give NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanpercentile(np.asarray(arr, dtype=float), probs, axis=axis)


def _nanmean(arr: np.ndarray, axis=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(arr, axis=axis)


def base_run_of(scenario: Scenario) -> Scenario:
    """Return the base run of ``scenario``: same base, ensemble and seed, no levers or parameters.

    Returns
    -------
    Scenario
        Named ``baseline``.
    """
    data = scenario.model_dump()
    data.update(name=BASELINE_NAME, levers={}, parameters={},
                description=f"Base run of scenario '{scenario.name}': its base "
                            f"({scenario.base}), ensemble and seed without levers or parameter "
                            "changes (made because no scenario is named 'baseline').")
    out = Scenario.model_validate(data)
    out._source = scenario.source
    return out


def _apply_model_error(res, resolved: ResolvedScenario) -> None:
    """Multiply the error-model variables by their AR(1) model error (``bands: calibrated``).

    Seeded by the scenario's seed alone, so every scenario of one ensemble gets
    the same error paths and paired differences stay paired.
    """
    factors = model_error_factors(resolved, res.times, res.n_members)
    for vensim, factor in factors.items():
        if vensim in res.data:
            res.data[vensim] = np.asarray(res.data[vensim], dtype=float) * factor


def model_error_factors(resolved: ResolvedScenario, times: np.ndarray,
                        members: int) -> dict[str, np.ndarray]:
    """Return the model-error factor of each error-model variable, ``(T, members)``.

    The factors :func:`run_scenario` multiplies outputs by (``bands: calibrated``);
    empty without error models or for a single member. Seeded by the scenario's seed
    alone, so other runs of the same ensemble (an optimiser's candidates) can
    apply the very same error paths.
    """
    if not resolved.error_models or members < 2:
        return {}
    draws = model_error_draws(resolved, times, members)
    out = {}
    for vensim in sorted(resolved.error_models):
        out[vensim] = np.ones((len(times), members))
        if vensim in draws:
            after, rows, eps = draws[vensim]
            out[vensim][after] = 1.0 * np.exp(eps[rows])
    return out


def model_error_draws(resolved: ResolvedScenario, times: np.ndarray,
                      members: int) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Return each error-model variable's AR(1) draws (:func:`sim.calibration.bands.error_draws`).

    Seeded by the scenario's seed alone (see :func:`model_error_factors`); only
    the variables whose values change (a saved time after the last observed
    year, two members or more).
    """
    from sim.calibration import bands as cb
    out = {}
    for k, (vensim, em) in enumerate(sorted(resolved.error_models.items())):
        rng = np.random.default_rng([(resolved.scenario.seed or 0) + 104729, k])
        draws = cb.error_draws(np.asarray(times, float), members, em, resolved.band_last_year,
                               rng)
        if draws is not None:
            out[vensim] = draws
    return out


class _ModelErrorSink:
    """A streaming sink that applies the model error to each chunk before passing it on.

    The error paths (``horizon x members`` doubles per error-model variable,
    :func:`model_error_draws`, drawn on the first chunk) are kept; each
    chunk's values are multiplied by its members' factors, so the streamed values
    are those of :func:`_apply_model_error` on the whole ensemble, bit for bit.
    """

    def __init__(self, resolved: ResolvedScenario, members: int, sink: Callable) -> None:
        self.resolved, self.members, self.sink = resolved, int(members), sink
        self.paths: dict | None = None

    def __call__(self, chunk, res) -> None:
        if self.paths is None:
            self.paths = model_error_draws(self.resolved, res.times, self.members)
        data = dict(res.data)
        for vensim, (after, rows, eps) in self.paths.items():
            if vensim in data:
                factor = np.ones((len(res.times), chunk.stop - chunk.start))
                factor[after] = 1.0 * np.exp(eps[rows][:, chunk.start:chunk.stop])
                data[vensim] = np.asarray(data[vensim], dtype=float) * factor
        self.sink(chunk, replace(res, data=data))


def run_scenario(resolved: ResolvedScenario, model, method: Method = "scipy",
                 scipy_method: ScipyMethod = DEFAULT_SCIPY_METHOD, *, max_steps: int | None = None,
                 time_limit: float | None = None, executor: Executor | None = None,
                 chunk_size: int | None = None, stream_to=None) -> ScenarioRun:
    """Run a resolved scenario: one vectorised simulation over all members.

    Parameters
    ----------
    resolved : ResolvedScenario
    model : sim.Model
    method : {"scipy", "euler", "rk4"}
    scipy_method : str
        The SciPy solver when ``method == "scipy"`` (see :meth:`sim.Model.simulate`).
    max_steps, time_limit : optional
        Bounds of the SciPy run [steps], [s] (default: :meth:`sim.Model.simulate`'s).
    executor, chunk_size : optional
        Run the ensemble in chunks of ``chunk_size`` members on ``executor``
        (see :meth:`sim.Model.simulate`); default: one vectorised call here.
    stream_to : path-like, optional
        Stream the members: each chunk (``chunk_size``, default
        :data:`~sim.ensembles.streaming.DEFAULT_STREAM_CHUNK`) is written to
        ``stream_to/part-NNNNN.parquet`` as it completes and not kept; the
        run's result is then a :class:`~sim.ensembles.streaming.StreamedResult`.

    Returns
    -------
    ScenarioRun

    Raises
    ------
    ScenarioError
        The solver failed, or every member went non-finite.
    """
    sc = resolved.scenario
    kw = {"scipy_method": scipy_method} if method == "scipy" else {}
    kw |= {k: v for k, v in (("max_steps", max_steps), ("time_limit", time_limit))
           if v is not None}
    kw |= {k: v for k, v in (("executor", executor), ("chunk_size", chunk_size))
           if v is not None}
    where = f"{sc.source}, scenario '{sc.name}'"
    writer = None
    if stream_to is not None:
        writer = PartitionWriter(stream_to)
        sink = (_ModelErrorSink(resolved, resolved.members, writer) if resolved.error_models
                else writer)
        kw |= {"sink": sink, "chunk_size": chunk_size or DEFAULT_STREAM_CHUNK}
    res = model.simulate(method=method, **kw, **resolved.simulate_kwargs())
    if writer is None:
        _apply_model_error(res, resolved)
    solver = [f for f in res.failures if f.member < 0]
    if solver:
        raise ScenarioError(f"{where}: numerical failure at t = {solver[0].time:g}: "
                            f"solver: {solver[0].reason}; try --method euler or rk4, or check the "
                            "parameter ranges")
    bad = sorted({f.member for f in res.failures})
    first = {}
    for f in res.failures:
        first.setdefault(f.member, f)
    if bad and len(bad) >= res.n_members:
        f = min(res.failures, key=lambda x: x.time)
        what = (f"'{f.variable}' became non-finite" if f.kind is FailureKind.NON_FINITE else
                f"the solver: {f.reason}" if f.of_solver else f"'{f.variable}': {f.reason}")
        raise ScenarioError(f"{where}: numerical failure at t = {f.time:g}: {what}" +
                            (" (every member failed)" if res.n_members > 1 else ""))
    warnings = list(resolved.notes)
    if bad:
        eg = ", ".join(f"member {m} ('{first[m].variable}' at t = {first[m].time:g})"
                       for m in bad[:3])
        warnings.append(f"{len(bad)} of {res.n_members} members became non-finite and were "
                        f"left out of the statistics: {eg}{' ...' if len(bad) > 3 else ''}")
    label = f"scipy ({scipy_method})" if method == "scipy" and scipy_method != "RK45" else method
    result = res if writer is None else writer.result(res)
    return ScenarioRun(resolved=resolved, result=result, method=label, warnings=tuple(warnings))


def plan_batch(items: Sequence[Scenario | RunFailure]
               ) -> tuple[list[Scenario], list[RunFailure], str | None]:
    """Return what :func:`run_batch` will run.

    Returns
    -------
    todo : list of Scenario
        Unique names in input order; a base run named ``baseline`` first when
        no scenario has that name.
    failures : list of RunFailure
        The passed-through failures and the duplicate names.
    baseline_of : str or None
        Name of the scenario whose base run was added, if one was.
    """
    failures = [s for s in items if isinstance(s, RunFailure)]
    seen: dict[str, str] = {}
    todo: list[Scenario] = []
    for sc in (s for s in items if isinstance(s, Scenario)):
        if sc.slug in seen:
            failures.append(RunFailure(sc.source, sc.name, (
                f"{sc.source}, scenario '{sc.name}': the name is already used by a scenario in "
                f"{seen[sc.slug]} (output folders are named after scenarios; names must be "
                "unique within a run)")))
            continue
        seen[sc.slug] = sc.source
        todo.append(sc)
    baseline_of = None
    if todo and BASELINE_NAME not in seen:
        baseline_of = todo[0].name
        todo.insert(0, base_run_of(todo[0]))
    return todo, failures, baseline_of


def run_batch(items: Sequence[Scenario | RunFailure], model, calibrated: Calibrated | None, *,
              method: Method = "scipy", scipy_method: ScipyMethod = DEFAULT_SCIPY_METHOD,
              members: int | None = None,
              memory_limit: int = DEFAULT_MEMORY_LIMIT,
              progress: Callable[[str], None] | None = None,
              max_steps: int | None = None, time_limit: float | None = None,
              allow_out_of_range: bool = False, executor: Executor | None = None,
              chunk_size: int | None = None, stream_dir=None) -> BatchResult:
    """Run scenarios one after another (each one vectorised call), or over an executor.

    Parameters
    ----------
    items : sequence
        Scenarios to run; :class:`RunFailure` entries (e.g. files that did
        not load) are passed through to ``failures``.
    model : sim.Model
    calibrated : Calibrated or None
    method : {"scipy", "euler", "rk4"}
    scipy_method : str
        The SciPy solver of ``method="scipy"`` (default RK45).
    members : int, optional
        Override every scenario's ensemble size.
    memory_limit : int
        [bytes], see :func:`sim.scenarios.resolve`.
    progress : callable, optional
        Called with the scenario name after each run (e.g. to advance a bar).
    max_steps, time_limit : optional
        Bounds of each scenario's SciPy run (see :func:`run_scenario`).
    executor : concurrent.futures.Executor, optional
        Each scenario's ensemble runs in chunks on it (:meth:`sim.Model.simulate`),
        and up to :data:`PARALLEL_SCENARIOS` scenarios at once over it; the
        results are the same as one after another (in input order).
    chunk_size : int, optional
        Members per chunk (needed with ``method="scipy"`` and an executor).
    stream_dir : path-like, optional
        Stream every scenario's members to ``stream_dir/<scenario>/members/``
        (:func:`run_scenario`'s ``stream_to``); ``memory_limit`` then applies to
        the streamed run's peak, checked by the caller
        (:func:`sim.scenarios.memory.check_run`), not to the whole ensemble.

    Returns
    -------
    BatchResult
    """
    todo, failures, baseline_of = plan_batch(items)
    out = BatchResult(failures=list(failures), baseline_of=baseline_of)

    def one(sc: Scenario) -> ScenarioRun | RunFailure:
        try:
            limit = memory_limit if stream_dir is None else sys.maxsize
            resolved = resolve(sc, model, calibrated, members=members, memory_limit=limit,
                               allow_out_of_range=allow_out_of_range)
            to = None if stream_dir is None else Path(stream_dir) / sc.slug / "members"
            return run_scenario(resolved, model, method, scipy_method, max_steps=max_steps,
                                time_limit=time_limit, executor=executor, chunk_size=chunk_size,
                                stream_to=to)
        except (SimError, ArithmeticError, ValueError, np.linalg.LinAlgError) as exc:
            reason = str(exc)
            if not isinstance(exc, SimError):
                reason = f"{sc.source}, scenario '{sc.name}': {type(exc).__name__}: {exc}"
            return RunFailure(sc.source, sc.name, reason)

    if executor is None or len(todo) < 2:
        done = ((sc, one(sc)) for sc in todo)
    else:
        done = _in_parallel(one, todo)
    for sc, got in done:
        if isinstance(got, RunFailure):
            out.failures.append(got)
        else:
            out.runs.append(got)
            if sc.slug == BASELINE_NAME:
                out.baseline = got
        if progress is not None:
            progress(sc.name)
    return out


PARALLEL_SCENARIOS = 4
"""Most scenarios whose chunks are submitted to one executor at the same time."""


def _in_parallel(one: Callable, todo: list[Scenario]):
    """Yield (scenario, ``one(scenario)``) in input order, running up to 4 at once.

    Each scenario's thread here only submits its chunks to the shared executor and
    assembles them. On an error or Ctrl-C the scenarios not yet started are cancelled.
    """
    pool = ThreadPoolExecutor(min(PARALLEL_SCENARIOS, len(todo)), thread_name_prefix="scenario")
    try:
        futures = [pool.submit(one, sc) for sc in todo]
        for sc, fut in zip(todo, futures, strict=True):
            yield sc, fut.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


# ------------------------------------------------------------------ summaries
def paired(run: ScenarioRun, base: ScenarioRun) -> bool:
    """Return whether ``run`` and ``base`` share their sampled parameters.

    Same members and values: their differences are then taken member by member.
    """
    a, b = run.resolved.samples, base.resolved.samples
    if run.members != base.members or set(a) != set(b):
        return False
    return all(np.array_equal(a[k], b[k]) for k in a)


def _stats(x: np.ndarray) -> dict:
    x = np.asarray(x, dtype=float).ravel()
    finite = x[np.isfinite(x)]
    p5, p50, p95 = _nanpercentile(x, (5, 50, 95))
    return {"p5": p5, "median": p50, "p95": p95,
            "mean": float(finite.mean()) if finite.size else np.nan, "n": int(finite.size)}


def _difference(x: np.ndarray, y: np.ndarray, paired: bool) -> np.ndarray:
    if paired:
        return x - y
    return (x[:_MAX_PAIRS, None] - y[None, :_MAX_PAIRS]).ravel()


def cagr(start: np.ndarray, end: np.ndarray, years: float) -> np.ndarray:
    """Compound annual growth rate (end/start)^(1/years) - 1 [1/year]; NaN unless both > 0."""
    start, end = np.asarray(start, float), np.asarray(end, float)
    with np.errstate(all="ignore"):
        g = (end / start) ** (1.0 / years) - 1.0
    return np.where((start > 0) & (end > 0), g, np.nan)


def ensemble_definition(run: ScenarioRun) -> str:
    """Return what the numbers of a run are: its members, sampling, seed, base and method.

    E.g. ``500 members (latin_hypercube, seed 20250201) from the calibrated
    estimates, scipy (RK45)``; one member is a point run (nothing sampled).
    """
    sc = run.scenario
    who = (f"{run.members} members ({sc.sampling}, seed {sc.seed})" if run.members > 1
           else "1 member (a point run, nothing sampled)")
    base = ("the calibrated estimates" if run.resolved.base_used == "calibrated"
            else "the model's own values")
    method = "scipy (RK45)" if run.method == "scipy" else run.method
    return f"{who} from {base}, {method}"


def summarize(run: ScenarioRun, baseline: ScenarioRun | None, *,
              years: Sequence[int] = SUMMARY_YEARS, cagr_start: int = CAGR_START,
              variables: Sequence[str] = SUMMARY_OUTPUTS) -> pd.DataFrame:
    """Summary statistics of one run.

    Parameters
    ----------
    run : ScenarioRun
    baseline : ScenarioRun or None
        Differences are NaN without one.
    years : sequence of int
        Years reported [year]; years not simulated give NaN.
    cagr_start : int
        First year of the growth rates, compounded to the last of ``years``
        within the horizon.
    variables : sequence of str
        Vensim names; the balance gets no growth rate (it changes sign).

    Returns
    -------
    DataFrame
        Columns scenario, variable, measure ("value", "cagr", "difference"),
        period ("2030" or "2022-2035"), p5, median, p95, mean, n (finite
        members), comparison ("paired", "independent" or "" ), baseline,
        ensemble (:func:`ensemble_definition`: what the statistics are over).
        Values in the variable's units; cagr in [1/year].
    """
    rows = []
    in_horizon = [y for y in years if np.isclose(run.times, y, atol=1e-6).any()]
    same = baseline is not None and (baseline is run or paired(run, baseline))
    comparison = "" if baseline is None else ("paired" if same else "independent")
    bname = "" if baseline is None else baseline.name
    for var in variables:
        for y in years:
            x = run.at(var, y)
            rows.append({"variable": var, "measure": "value", "period": str(y), **_stats(x),
                         "comparison": "", "baseline": ""})
        if in_horizon and "balance" not in var.lower():
            end = in_horizon[-1]
            g = cagr(run.at(var, cagr_start), run.at(var, end), end - cagr_start)
            rows.append({"variable": var, "measure": "cagr", "period": f"{cagr_start}-{end}",
                         **_stats(g), "comparison": "", "baseline": ""})
        for y in years:
            if baseline is None:
                d = np.full(1, np.nan)
            else:
                d = _difference(run.at(var, y), baseline.at(var, y), same)
            rows.append({"variable": var, "measure": "difference", "period": str(y), **_stats(d),
                         "comparison": comparison, "baseline": bname})
    out = pd.DataFrame(rows)
    out.insert(0, "scenario", run.name)
    out["ensemble"] = ensemble_definition(run)
    return out


def summary_table(batch: BatchResult, **kwargs) -> pd.DataFrame:
    """:func:`summarize` for every run of a batch, stacked."""
    frames = [summarize(r, batch.baseline, **kwargs) for r in batch.runs]
    if not frames:
        return pd.DataFrame(columns=["scenario", "variable", "measure", "period", "p5", "median",
                                     "p95", "mean", "n", "comparison", "baseline", "ensemble"])
    return pd.concat(frames, ignore_index=True)


# ----------------------------------------------------------------- formatting
_LABELS = {"Digitally Deliverable Exports": "exports", "Digitally Deliverable Imports": "imports",
           "Digital Trade Balance": "balance"}


def _num(x: float) -> str:
    return "–" if not np.isfinite(x) else f"{x:,.0f}"


def _signed(x: float) -> str:
    if not np.isfinite(x):
        return "–"
    return "0" if round(x) == 0 else f"{x:+,.0f}"


def format_summary(table: pd.DataFrame, *, years: Sequence[int] = SUMMARY_YEARS,
                   diff_years: Sequence[int] | None = None) -> str:
    """Plain-text table of :func:`summary_table` output (one row per scenario and variable).

    Columns: the median in each of ``years``; the median growth rate; and the
    difference from the baseline in ``diff_years`` as median [5%, 95%].
    """
    diff_years = list(years[-2:] if diff_years is None else diff_years)
    if table.empty:
        return "(no scenario ran)"
    cagr_periods = table.loc[table.measure == "cagr", "period"].unique()
    cagr_label = f"CAGR {cagr_periods[0]}" if len(cagr_periods) == 1 else "CAGR"
    header = ["scenario", "variable"] + [str(y) for y in years] + [cagr_label] + \
        [f"Δ{y} vs baseline [5%, 95%]" for y in diff_years]
    rows = []
    idx = table.set_index(["scenario", "variable", "measure", "period"])
    for (scen, var), _ in table.groupby(["scenario", "variable"], sort=False):
        row = [scen, _LABELS.get(var, var)]
        for y in years:
            row.append(_num(idx.loc[(scen, var, "value", str(y)), "median"]))
        c = table[(table.scenario == scen) & (table.variable == var) & (table.measure == "cagr")]
        row.append("–" if c.empty or not np.isfinite(c["median"].iloc[0])
                   else f"{100 * c['median'].iloc[0]:.1f}%")
        for y in diff_years:
            r = idx.loc[(scen, var, "difference", str(y))]
            if not np.isfinite(r["median"]):
                row.append("–")
            elif r["p5"] == r["p95"]:
                row.append(_signed(r["median"]))
            else:
                row.append(f"{_signed(r['median'])} [{_signed(r['p5'])}, {_signed(r['p95'])}]")
        rows.append(row)
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    lines = []
    for k, r in enumerate([header] + rows):
        cells = [str(c).ljust(w) if i < 2 else str(c).rjust(w)
                 for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    comps = set(table.loc[table.measure == "difference", "comparison"]) - {""}
    base = set(table.loc[table.measure == "difference", "baseline"]) - {""}
    defs = (table.drop_duplicates("scenario").set_index("scenario")["ensemble"]
            if "ensemble" in table else pd.Series(dtype=str))
    if defs.nunique() == 1:
        over = f"medians over each scenario's ensemble: {defs.iloc[0]}"
    elif len(defs):
        over = "medians over each scenario's ensemble (" + "; ".join(
            f"{name}: {d}" for name, d in defs.items()) + ")"
    else:
        over = "medians over ensemble members"
    notes = [f"Values: 100M USD, {over}. "
             f"{cagr_label}: median over members of each member's compound annual growth "
             f"rate from {CAGR_START} (the last observed year).",
             f"Δ: scenario − baseline ('{', '.join(sorted(base)) or 'none'}'), median "
             f"[5th, 95th percentile] over members ({', '.join(sorted(comps)) or 'n/a'} "
             "differences)."]
    return "\n".join(lines + [""] + notes)
