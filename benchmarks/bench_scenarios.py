"""Benchmark of scenario ensembles on the project model.

Cases (targets from the scenario-layer issue):

1. one scenario (``scenarios/00_baseline.yaml``) with 10,000 members to 2035
   -- target < 2 s;
2. every shipped scenario (``scenarios/*.yaml``) with 1,000 members each --
   target < 10 s.

Times cover resolution (sampling) and the one vectorised simulation per
scenario, not file writing. Each case is reported in seconds and as a
speed-up against references measured in the same run, since these machines
are noisy: the time of ONE single run of this engine x N (what a Python loop
over members would cost), and PySD's single-run time x N (extrapolated).

Usage::

    python benchmarks/bench_scenarios.py [--method scipy euler] [--write-readme README.md]
"""
from __future__ import annotations

import os

# One BLAS thread: SciPy's RK step does small dot products over the whole ensemble state,
# where OpenBLAS threads only contend (set the variable yourself to measure otherwise).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

from _common import best_time, write_readme_block  # noqa: E402

REPO = Path(__file__).resolve().parents[1]




def _pysd_single(model_path: Path, repeat: int) -> float | None:
    """PySD's time for one run of the model (translated in a temporary folder)."""
    try:
        import warnings

        import pysd
    except ImportError:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / model_path.name
        shutil.copy(model_path, copy)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = pysd.read_vensim(str(copy))
                return best_time(lambda: m.run(progress=False), repeat)
        except Exception as exc:  # PySD may not support every construct; the row says so
            print(f"PySD reference unavailable: {type(exc).__name__}: {exc}", file=sys.stderr)
            return None


def measure(model_path: Path, scenario_dir: Path, methods: list[str], members_one: int,
            members_all: int, repeat: int) -> list[dict]:
    import sim
    from sim.ensembles.batch import run_scenario
    from sim.scenarios import load_calibrated, load_scenarios, resolve

    model = sim.load_model(model_path)
    calibrated = load_calibrated(model_path.parent / "calibrated.yaml")
    files = sorted(p for p in scenario_dir.iterdir() if p.suffix in (".yaml", ".yml"))
    scenarios = [s for f in files for s in load_scenarios(f)]
    base = next((s for s in scenarios if s.name == "baseline"), scenarios[0])
    pysd_single = _pysd_single(model_path, repeat)
    rows = []
    for method in methods:
        def single(method: str = method) -> None:
            run_scenario(resolve(base, model, calibrated, members=1), model, method)

        single()  # warm caches
        t_single = best_time(single, max(repeat, 5))

        def one(method: str = method) -> None:
            run_scenario(resolve(base, model, calibrated, members=members_one), model, method)

        def every(method: str = method) -> None:
            for s in scenarios:
                run_scenario(resolve(s, model, calibrated, members=members_all), model, method)

        t_one = best_time(one, repeat)
        t_all = best_time(every, repeat)
        for case, t, n, target in (
                (f"1 scenario x {members_one:,} members", t_one, members_one, 2.0),
                (f"{len(scenarios)} scenarios x {members_all:,} members", t_all,
                 members_all * len(scenarios), 10.0)):
            rows.append({"case": case, "method": method, "seconds": t, "target": target,
                         "loop_ref": t_single * n,
                         "pysd_ref": None if pysd_single is None else pysd_single * n})
    return rows


def table(rows: list[dict], model_path: Path) -> str:
    lines = ["| case | method | time [s] | target | vs. loop of single runs | vs. PySD x N |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]
    for r in rows:
        ok = "met" if r["seconds"] < r["target"] else "missed"
        pysd = "n/a" if r["pysd_ref"] is None else \
            f"{r['pysd_ref'] / r['seconds']:,.0f}x faster ({r['pysd_ref']:,.0f} s)"
        lines.append(f"| {r['case']} | {r['method']} | {r['seconds']:.2f} | "
                     f"< {r['target']:g} s ({ok}) | "
                     f"{r['loop_ref'] / r['seconds']:,.0f}x faster ({r['loop_ref']:,.1f} s) | "
                     f"{pysd} |")
    lines.append("")
    shown = model_path.relative_to(REPO) if model_path.is_relative_to(REPO) else model_path
    lines.append(f"`{shown}`"
                 " to 2035, resolution + one vectorised simulation per scenario (no file "
                 "writing); best of repeats; OPENBLAS_NUM_THREADS="
                 f"{os.environ.get('OPENBLAS_NUM_THREADS')}, {os.cpu_count()} CPUs. References "
                 "measured in the same run: one single run x N, and PySD's single run x N "
                 "(extrapolated). "
                 "`python benchmarks/bench_scenarios.py --write-readme README.md`")
    return "\n".join(lines)




def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, default=REPO / "model" / "digital_trade.mdl")
    ap.add_argument("--scenarios", type=Path, default=REPO / "scenarios")
    ap.add_argument("--method", nargs="+", default=["scipy", "euler"],
                    choices=["scipy", "euler", "rk4"])
    ap.add_argument("--members-one", type=int, default=10_000)
    ap.add_argument("--members-all", type=int, default=1_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--write-readme", type=Path, metavar="README")
    args = ap.parse_args(argv)
    rows = measure(args.model, args.scenarios, args.method, args.members_one, args.members_all,
                   args.repeat)
    text = table(rows, args.model)
    print(text)
    if args.write_readme:
        write_readme_block(args.write_readme, "scenarios", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
