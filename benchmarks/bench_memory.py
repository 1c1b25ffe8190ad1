"""Peak memory of ``sim run`` against its estimate (:mod:`sim.scenarios.memory`).

Each case runs ``sim run`` in a subprocess (the real command: simulation,
summaries, every output file) and reads the child's peak resident memory
from ``os.wait4``; the estimate is :func:`sim.scenarios.memory.estimate_run`
of the same scenarios. ``--stages`` also runs the stages of one case inside
one process and prints the peak of each (``/proc/self/clear_refs`` resets
the peak between them): where the memory goes, to set the constants of
:mod:`sim.scenarios.memory`.

Keep the cases small (a few GB at most on a shared machine): the costs are
per row and per member, so small runs measure them.

Usage::

    python benchmarks/bench_memory.py [--members 2000 10000] [--stages 10000]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "model" / "digital_trade.mdl"
CALIBRATED = REPO / "model" / "calibrated.yaml"
SCENARIOS = REPO / "scenarios"


def peak_of(cmd: list[str], cwd: Path = REPO) -> tuple[int, int, float, str]:
    """(peak resident bytes, exit code, seconds, stderr tail) of a command run to its end."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        tail = err.read().decode("utf-8", "replace")[-600:]
    return usage.ru_maxrss * 1024, proc.returncode, time.perf_counter() - t0, tail


def sim_run_command(files: list[Path], out: Path, members: int, method: str = "scipy",
                    charts: bool = True) -> list[str]:
    cmd = [sys.executable, "-m", "sim.cli", "run", *map(str, files), "--out", str(out),
           "--members", str(members), "--method", method, "--no-progress",
           "--memory-limit", "64GiB", "--model", str(MODEL)]
    return cmd + ([] if charts else ["--no-charts"])


def estimate_for(files: list[Path], members: int, method: str = "scipy", charts: bool = True):
    """Return the estimate of ``sim run FILES --members N`` (every scenario it plans, a base run too)."""
    import sim
    from sim.ensembles.batch import plan_batch
    from sim.scenarios import read_scenario_file
    from sim.scenarios.memory import estimate_run, shape_of

    model = sim.load_model(MODEL)
    items = [s for f in files for s in read_scenario_file(f, allowed=files).scenarios]
    todo = plan_batch(items)[0]
    return estimate_run([shape_of(s, model, members=members) for s in todo], method=method,
                        charts=charts)


def cases(members: list[int]) -> list[tuple[str, list[Path], int, str, bool]]:
    one = [SCENARIOS / "00_baseline.yaml"]
    three = [SCENARIOS / "00_baseline.yaml", SCENARIOS / "01_infrastructure_push.yaml",
             SCENARIOS / "04_fragmentation.yaml"]
    out = [(f"baseline x {n:,}", one, n, "scipy", True) for n in members]
    out.append((f"3 scenarios x {members[-1] // 3:,}", three, members[-1] // 3, "scipy", True))
    out.append((f"baseline x {members[-1]:,}, euler, no charts", one, members[-1], "euler", False))
    return out


_STAGES = r'''
import re, sys, time
from pathlib import Path
def status(key):
    text = open("/proc/self/status").read()
    return int(re.search(key + r":\s+(\d+)", text).group(1)) * 1024
marks, t = [], [time.perf_counter()]
def mark(name):
    marks.append((name, status("VmHWM"), status("VmRSS"), time.perf_counter() - t[0]))
    open("/proc/self/clear_refs", "w").write("5"); t[0] = time.perf_counter()
import sim
from sim.ensembles.batch import run_batch, summary_table
from sim.reporting import scenario_output as so
from sim.scenarios import load_calibrated, read_scenario_file
members, files = int(sys.argv[1]), [Path(p) for p in sys.argv[2:]]
model = sim.load_model("{model}"); calibrated = load_calibrated("{calibrated}")
items = [s for f in files for s in read_scenario_file(f, allowed=files).scenarios]
history, _ = so.load_history(); mark("program")
batch = run_batch(items, model, calibrated, members=members, memory_limit=2**40); mark("simulation")
table = summary_table(batch); mark("summaries")
for run in batch.runs:
    tidy = run.tidy(); mark(f"{{run.name}}: tidy table")
    data = so._csv(tidy); mark("  results.csv"); del data
    data = so._parquet(tidy); mark("  results.parquet"); del data
    so._csv(run.percentiles()); so._csv(run.experiments()); mark("  percentiles, experiments")
    del tidy
    fig = so.comparison_figure(run, batch.baseline, history)
    for fmt in so.CHART_FORMATS:
        so._figure_bytes(fig, fmt)
    mark("  charts")
for name, hwm, rss, sec in marks:
    print(f"{{name:34s}} peak {{hwm / 2**20:7.0f}} MiB   after {{rss / 2**20:7.0f}} MiB   "
          f"{{sec:5.1f}} s")
'''


def stages(members: int, files: list[Path]) -> None:
    code = _STAGES.format(model=MODEL, calibrated=CALIBRATED)
    subprocess.run([sys.executable, "-c", code, str(members), *map(str, files)], cwd=REPO,
                   check=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, nargs="+", default=[2000, 10000, 30000])
    ap.add_argument("--stages", type=int, metavar="N", help="stage breakdown of baseline x N")
    args = ap.parse_args(argv)
    if args.stages:
        stages(args.stages, [SCENARIOS / "00_baseline.yaml"])
        return 0
    print("| case | measured peak | estimate | estimate / measured | time |\n"
          "| --- | ---: | ---: | ---: | ---: |")
    for label, files, members, method, charts in cases(sorted(args.members)):
        est = estimate_for(files, members, method, charts)
        with tempfile.TemporaryDirectory() as tmp:
            peak, rc, sec, err = peak_of(sim_run_command(files, Path(tmp) / "out", members, method,
                                                         charts))
        if rc != 0:
            print(f"{label}: sim run failed ({rc}): {err}", file=sys.stderr)
            continue
        print(f"| {label} | {peak / 2**20:,.0f} MiB | {est.total / 2**20:,.0f} MiB | "
              f"{est.total / peak:.2f} | {sec:.1f} s |")
        print(f"  ({est.describe()})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
