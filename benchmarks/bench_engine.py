"""Engine benchmarks against PySD, both measured in the same run.

Three measures, each reported with PySD's figure on the same ``.mdl`` as the
reference (machines are noisy; the ratio is the result, not the seconds):

(a) ensemble throughput: one vectorised run of N members (default 10,000),
    ``euler`` and ``scipy``, in member-runs per second, against PySD's runs per
    second (a handful of ``model.run(params=...)`` calls, timed and
    extrapolated); plus the peak memory of the ensemble (tracemalloc);
(b) one ``scipy`` run of a 20-year model (``model/digital_trade.mdl`` if
    present, else the teacup sample over 20 time units): median of many runs,
    in ms, against PySD's single run; the same run through the Python
    closures instead of the compiled tape; with LSODA and DOPRI5; and how
    much of the RK45 run is SciPy's own stepping;
(c) load + compile of a generated 50-variable model (a chain of stocks and
    flows, written to a temporary folder) against PySD's ``read_vensim``.

Usage::

    python benchmarks/bench_engine.py                       # print the table
    python benchmarks/bench_engine.py --write-readme README.md

``--write-readme`` replaces the block between ``<!-- bench:engine:start -->``
and ``<!-- bench:engine:end -->`` in the given file and changes nothing else.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import platform
import shutil
import sys
import tempfile
import time
import tracemalloc
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _common import median_time, write_readme_block  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "tests" / "sdxorg" / "samples"  # the suite's copy in the repository
DIGITAL_TRADE = REPO / "model" / "digital_trade.mdl"
CONTROLS = {"initial_time", "final_time", "time_step", "saveper"}


@dataclass
class Row:
    """One line of the results table."""

    measure: str
    model: str
    ours: str
    reference: str
    ratio: str
    target: str
    met: bool | None = None


def _quiet():
    """Silence PySD's warnings and progress output."""
    stack = contextlib.ExitStack()
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    return stack


def pysd_model(path: Path, workdir: Path):
    """PySD model of ``path``, translated in ``workdir`` (PySD writes a .py next to the .mdl)."""
    import pysd

    folder = Path(tempfile.mkdtemp(dir=workdir))
    copy = folder / path.name
    shutil.copy(path, copy)
    with _quiet():
        return pysd.read_vensim(str(copy))


TIME_UNITS = {"year", "years", "month", "months", "day", "days", "week", "weeks", "minute", "minutes",
              "hour", "hours", "second", "seconds"}


def varied_constant(model) -> tuple[str, float]:
    """Vensim name and default of the constant the ensembles vary.

    The first non-zero constant that is neither a control variable nor a date
    or a duration (varying a base year by 20% is not an ensemble anyone runs).
    """
    candidates = [(py, v) for py, v in model.constants.items() if py not in CONTROLS and v != 0]
    for py, value in candidates:
        info = model.variables[py]
        if info.units.strip().lower() not in TIME_UNITS and "year" not in py and "time" not in py:
            return info.name, value
    if candidates:
        return model.variables[candidates[0][0]].name, candidates[0][1]
    raise SystemExit(f"{model.path}: no non-zero constant to vary")


def save_period(model) -> float:
    """Save once per time unit when the model saves more often (memory of 10k members)."""
    c = model.controls
    if c.saveper < 1.0 <= (c.final_time - c.initial_time) and abs(1.0 / c.time_step - round(1.0 / c.time_step)) < 1e-9:
        return 1.0
    return c.saveper




# ------------------------------------------------------------------ (a) ensembles
def bench_ensemble(path: Path, n: int, pysd_runs: int, workdir: Path, rng: np.random.Generator) -> list[Row]:
    import sim

    model = sim.load_model(path)
    name, default = varied_constant(model)
    values = default * rng.uniform(0.8, 1.2, n)
    sp = save_period(model)
    rows = []

    pm = pysd_model(path, workdir)
    with _quiet():
        pm.run(params={name: float(values[0])}, saveper=sp)  # warm-up
        t0 = time.perf_counter()
        for v in values[1:pysd_runs + 1]:
            pm.run(params={name: float(v)}, saveper=sp)
        pysd_per_run = (time.perf_counter() - t0) / pysd_runs
    pysd_rate = 1.0 / pysd_per_run

    for method in ("euler", "scipy"):
        model.simulate({name: values[:2]}, method=method, saveper=sp)  # warm-up
        t0 = time.perf_counter()
        res = model.simulate({name: values}, method=method, saveper=sp)
        elapsed = time.perf_counter() - t0
        if res.failures:
            print(f"warning: {len(res.failures)} members failed in the {method} ensemble", file=sys.stderr)
        rate = n / elapsed
        ratio = rate / pysd_rate
        rows.append(Row(f"(a) ensemble of {n:,} ({method}), runs/s, varying '{name}'", path.name,
                        f"{rate:,.0f} ({elapsed:.2f} s)", f"{pysd_rate:,.1f} ({pysd_per_run * 1e3:.0f} ms/run)",
                        f"{ratio:,.0f}x", ">= 200x (aim 1000x)", ratio >= 200))
        del res

    tracemalloc.start()
    res = model.simulate({name: values}, method="euler", saveper=sp)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    out_mb = sum(a.nbytes for a in res.data.values()) / 2 ** 20
    rows.append(Row(f"(a) peak memory, ensemble of {n:,} (euler)", path.name, f"{peak / 2 ** 20:,.0f} MB",
                    f"results alone: {out_mb:,.0f} MB", "", "", None))
    return rows


# ----------------------------------------------------------- (b) one scipy run
def bench_single(path: Path, final_time: float | None, repeats: int, pysd_repeats: int,
                 workdir: Path, variants: bool = True) -> list[Row]:
    """Time one default scipy run (RK45, the compiled tape).

    With ``variants`` also the same run with the closures, with LSODA and with DOPRI5.
    """
    import sim

    model = sim.load_model(path)
    horizon = (final_time or model.controls.final_time) - model.controls.initial_time

    def timed(**kw) -> float:
        model.simulate(method="scipy", final_time=final_time, **kw)  # warm-up (and JIT cache load)
        return median_time(lambda: model.simulate(method="scipy", final_time=final_time, **kw), repeats)

    ours = timed()
    pm = pysd_model(path, workdir)
    with _quiet():
        pm.run(final_time=final_time)
        theirs = median_time(lambda: pm.run(final_time=final_time), pysd_repeats)
    first = Row(f"(b) one scipy run (RK45, rtol=atol=1e-6), {horizon:g} time units, median of "
                f"{repeats}", path.name, f"{ours * 1e3:.2f} ms", f"{theirs * 1e3:.1f} ms (PySD run)",
                f"{theirs / ours:,.0f}x faster", "< 5 ms", ours < 5e-3)
    if not variants:
        return [first]
    closures = timed(kernel="python")
    lsoda = timed(scipy_method="LSODA")
    dopri5 = timed(scipy_method="DOPRI5")
    return [
        first,
        Row("(b) the same run, derivatives by the Python closures (kernel='python')", path.name,
            f"{closures * 1e3:.2f} ms", "", f"tape {closures / ours:.1f}x faster", "", None),
        Row("(b) the same run with scipy_method='LSODA' (solve_ivp's LSODA)", path.name,
            f"{lsoda * 1e3:.2f} ms", "", f"{theirs / lsoda:,.0f}x faster", "< 5 ms", lsoda < 5e-3),
        Row("(b) the same run with scipy_method='DOPRI5' (SciPy's compiled Dormand-Prince, "
            "scipy.integrate.ode)", path.name, f"{dopri5 * 1e3:.2f} ms", "",
            f"{theirs / dopri5:,.0f}x faster", "< 5 ms", dopri5 < 5e-3),
    ]


def bench_scipy_share(path: Path, final_time: float | None, repeats: int) -> Row:
    """How much of the default RK45 run is spent inside SciPy's solver classes.

    The run is timed whole, and the time spent in the engine's own parts
    inside it (the right-hand side calls, recording the saved times) is
    subtracted, each measured in the same runs; what remains is SciPy's
    Python stepping plus the engine's set-up. No step is left out or added.
    """
    import sim
    import sim.engine.model as sm
    from sim.engine.running.evaluator import Evaluator

    model = sim.load_model(path)
    acc = {"run": 0.0, "engine": 0.0, "calls": 0}
    clock = time.perf_counter
    real_piecewise, real_segment_rates = sm.scipy_piecewise, Evaluator.segment_rates

    def timed(fn):
        def wrapped(*a):
            t0 = clock()
            out = fn(*a)
            acc["engine"] += clock() - t0
            acc["calls"] += 1
            return out
        return wrapped

    def piecewise(problem):
        many = timed(problem.sample_many) if problem.sample_many else None
        t0 = clock()
        out = real_piecewise(dataclasses.replace(problem, sample_many=many))
        acc["run"] += clock() - t0
        return out

    def segment_rates(self, lo, hi):
        return timed(real_segment_rates(self, lo, hi))

    sm.scipy_piecewise, Evaluator.segment_rates = piecewise, segment_rates
    try:
        model.simulate(method="scipy", final_time=final_time)
        acc.update(run=0.0, engine=0.0, calls=0)
        total = 0.0
        for _ in range(repeats):
            t0 = clock()
            model.simulate(method="scipy", final_time=final_time)
            total += clock() - t0
    finally:
        sm.scipy_piecewise, Evaluator.segment_rates = real_piecewise, real_segment_rates
    share = (acc["run"] - acc["engine"]) / total
    return Row(f"(b) where the RK45 run's time goes: SciPy's solver classes {share:.0%}; the "
               f"engine's derivatives ({acc['calls'] / repeats:.0f} calls), saving and set-up "
               f"{1 - share:.0%} (timers inside the run)", path.name, "", "", "", "", None)


# ------------------------------------------------------- (c) load + compile
def chain_model(n_stages: int) -> str:
    """Return a chain of stocks as .mdl text: Inflow -> Stock 1 -> Flow 1 -> Stock 2 -> ... (2 n_stages + 2 variables)."""
    eqs = ["Inflow = 10 * (1 + 0.1 * SIN(Time))", "Residence Time = 2"]
    for k in range(1, n_stages + 1):
        src = "Inflow" if k == 1 else f"Flow {k - 1}"
        eqs.append(f"Stock {k} = INTEG({src} - Flow {k}, 1)")
        eqs.append(f"Flow {k} = Stock {k} / Residence Time")
    controls = {"INITIAL TIME": 0, "FINAL TIME": 20, "TIME STEP": 0.0625, "SAVEPER": 1}
    eqs += [f"{k} = {v}" for k, v in controls.items()]
    return "{UTF-8}\n" + "\n".join(f"{e}\n\t~\t\n\t~\t\t|\n" for e in eqs)


def bench_compile(n_vars: int, repeats: int, workdir: Path) -> Row:
    import pysd

    import sim

    path = workdir / "chain.mdl"
    path.write_text(chain_model((n_vars - 2) // 2), encoding="utf-8")
    model = sim.load_model(path)
    assert len(model.variables) - 4 == n_vars, len(model.variables)
    ours = median_time(lambda: sim.load_model(path), repeats)

    def pysd_load():
        folder = Path(tempfile.mkdtemp(dir=workdir))
        copy = folder / path.name
        shutil.copy(path, copy)
        with _quiet():
            pysd.read_vensim(str(copy))
    theirs = median_time(pysd_load, repeats)
    return Row(f"(c) load + compile, generated {n_vars}-variable model", path.name, f"{ours:.2f} s",
               f"{theirs:.2f} s (read_vensim)", f"{theirs / ours:.1f}x faster", "< 2 s", ours < 2.0)


_FIRST_RUN = """
import sys, time
import sim
model = sim.load_model(sys.argv[1])
t0 = time.perf_counter()
model.simulate()
print(time.perf_counter() - t0)
"""


def bench_first_run(path: Path, workdir: Path) -> Row:
    """First simulate() of a new process: the compiled kernel loaded from Numba's disk cache, or compiled.

    Two fresh interpreters: one with an empty cache folder (``NUMBA_CACHE_DIR``,
    the compile paid once per installation) and one reusing it.
    """
    import os
    import subprocess

    env = dict(os.environ, NUMBA_CACHE_DIR=str(workdir / "numba-cache"))

    def once() -> float:
        out = subprocess.run([sys.executable, "-c", _FIRST_RUN, str(path)], env=env, check=True,
                             capture_output=True, text=True).stdout
        return float(out.strip().splitlines()[-1])

    cold = once()
    warm = min(once() for _ in range(3))
    return Row("(c) first simulate() in a new process: kernel from the disk cache (cold: compiled)",
               path.name, f"{warm:.2f} s (cold {cold:.1f} s)", "", "", "", None)


# ---------------------------------------------------------------------- report
def table(rows: list[Row]) -> str:
    lines = ["| measure | model | dds-sim | PySD (same run) | ratio | target | met |",
             "| --- | --- | ---: | ---: | ---: | --- | --- |"]
    for r in rows:
        met = "" if r.met is None else ("yes" if r.met else "**no**")
        lines.append(f"| {r.measure} | `{r.model}` | {r.ours} | {r.reference} | {r.ratio} | {r.target} | {met} |")
    return "\n".join(lines)


def environment(args) -> str:
    import pysd
    import scipy

    import sim

    return (f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()} ({platform.system()}, "
            f"{__import__('os').cpu_count()} CPUs), Python {platform.python_version()}, numpy {np.__version__}, "
            f"scipy {scipy.__version__}, PySD {pysd.__version__}, dds-sim {sim.engine.model.package_version()}. "
            f"PySD's ensemble rate is extrapolated from {args.pysd_runs} timed `model.run(params=...)` calls "
            f"(one per member value) after a warm-up; ensembles vary the constant named in the table by a "
            f"factor from U(0.8, 1.2) and save once per time unit in both engines. "
            f"Reproduce: `python benchmarks/bench_engine.py`.")




def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--members", type=int, default=10_000, help="ensemble size N (default 10,000)")
    ap.add_argument("--pysd-runs", type=int, default=5, help="timed PySD runs to extrapolate from")
    ap.add_argument("--repeats", type=int, default=200, help="single scipy runs (median)")
    ap.add_argument("--compile-repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=20240501)
    ap.add_argument("--write-readme", type=Path, metavar="README.md",
                    help="replace the bench:engine block of this file with the results")
    args = ap.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    sample = max((SAMPLES / "SIR" / "SIR.mdl", SAMPLES / "teacup" / "teacup.mdl"),
                 key=lambda p: p.stat().st_size if p.exists() else -1)
    ensemble_models = [p for p in (sample, DIGITAL_TRADE) if p.exists()]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for path in ensemble_models:
            print(f"(a) ensemble: {path.name} ...", file=sys.stderr)
            rows += bench_ensemble(path, args.members, args.pysd_runs, work, rng)
        print("(b) single scipy run ...", file=sys.stderr)
        rows += bench_single(sample, 20.0, args.repeats, 5, work, variants=False)
        if DIGITAL_TRADE.exists():
            rows += bench_single(DIGITAL_TRADE, None, args.repeats, 5, work)
            rows.append(bench_scipy_share(DIGITAL_TRADE, None, args.repeats))
        else:
            rows += bench_single(SAMPLES / "teacup" / "teacup.mdl", 20.0, args.repeats, 5, work)
        print("(c) load + compile ...", file=sys.stderr)
        rows.append(bench_compile(50, args.compile_repeats, work))
        rows.append(bench_first_run(DIGITAL_TRADE if DIGITAL_TRADE.exists() else sample, work))
    block = table(rows) + "\n\n" + environment(args)
    print(block)
    if args.write_readme:
        write_readme_block(args.write_readme, "engine", block)
        print(f"wrote {args.write_readme}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
