"""Speed of the working tree against an earlier revision, both measured in the same run.

A redesign must not slow the engine down. This script checks out ``--base`` (a git
revision, default the commit before the architecture redesign) into a temporary
folder and times the same workloads with each code base, alternating between them
round by round so both see the same machine load. Each workload runs in a fresh
subprocess whose ``PYTHONPATH`` points at one code base (Numba's compiled kernel
is cached per code base, so a first warm-up round is discarded).

Workloads (the project's model ``model/digital_trade.mdl``, 2015-2035):

- ``single scipy``: one RK45 run, median of many runs [ms];
- ``single euler``: one Euler run, median [ms];
- ``ensemble scipy``: 10,000 members varying three parameters, one run [s];
- ``ensemble euler``: the same with Euler [s];
- ``load``: ``sim.load_model`` (translate + compile), median [ms].

The result is the ratio new / base of the fastest time seen over all rounds (the
run least disturbed by other load: medians on these machines move by 10-30 % from
one minute to the next); a ratio above 1.05 is a slowdown of more than 5 %.

Usage::

    python benchmarks/bench_revisions.py                    # table
    python benchmarks/bench_revisions.py --base 66b3ef2 --rounds 5
    python benchmarks/bench_revisions.py --write-readme README.md
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import write_readme_block

REPO = Path(__file__).resolve().parents[1]
DEFAULT_BASE = "66b3ef2"  # main before the issue #15 redesign

# Runs inside a subprocess with PYTHONPATH set to one code base; prints JSON timings.
# Only the public API (sim.load_model, Model.simulate) is used, so it runs unchanged on
# both sides of a redesign.
WORKER = r"""
import json, sys, time
import numpy as np
import sim

path, repeats = sys.argv[1], int(sys.argv[2])

def best(fn, n):
    out = []
    for _ in range(n):
        t0 = time.perf_counter(); fn(); out.append(time.perf_counter() - t0)
    return min(out)

model = sim.load_model(path)
rng = np.random.default_rng(7)
varied = [(p, v) for p, v in model.constants.items()
          if v not in (0, 1) and 'year' not in p and 'time' not in p][:3]
params = {p: v * rng.uniform(0.9, 1.1, 10_000) for p, v in varied}
model.simulate(method="scipy"); model.simulate(method="euler")
small = {k: v[:2] for k, v in params.items()}
model.simulate(small, method="scipy"); model.simulate(small, method="euler")
out = {
    "single scipy [ms]": 1e3 * best(lambda: model.simulate(method="scipy"), repeats),
    "single euler [ms]": 1e3 * best(lambda: model.simulate(method="euler"), repeats),
    "ensemble scipy [s]": best(lambda: model.simulate(params, method="scipy"), 3),
    "ensemble euler [s]": best(lambda: model.simulate(params, method="euler"), 3),
    "load [ms]": 1e3 * best(lambda: sim.load_model(path), 5),
}
print(json.dumps(out))
"""


def checkout(base: str, folder: Path) -> Path:
    """Export revision ``base`` of this repository into ``folder`` (no .git needed)."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", base, "sim", "model"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def measure(code: Path, model: Path, repeats: int, timeout: float) -> dict[str, float]:
    """Time the workloads with the package found in ``code``, in a fresh process."""
    env = dict(os.environ, PYTHONPATH=str(code))
    done = subprocess.run([sys.executable, "-c", WORKER, str(model), str(repeats)], env=env,
                          cwd=code, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise SystemExit(f"benchmark worker failed in {code}:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", default=DEFAULT_BASE, help=f"git revision to compare with "
                    f"(default {DEFAULT_BASE})")
    ap.add_argument("--rounds", type=int, default=5, help="measured rounds per code base")
    ap.add_argument("--repeats", type=int, default=100, help="single runs per round (median)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per worker process")
    ap.add_argument("--write-readme", type=Path, metavar="README.md")
    args = ap.parse_args(argv)

    model = REPO / "model" / "digital_trade.mdl"
    with tempfile.TemporaryDirectory() as tmp:
        base = checkout(args.base, Path(tmp))
        sides = {"base": base, "new": REPO}
        runs: dict[str, list[dict[str, float]]] = {"base": [], "new": []}
        for code in sides.values():  # warm-up: Numba compiles and caches per code base
            measure(code, model, 3, args.timeout)
        for r in range(args.rounds):
            order = ("base", "new") if r % 2 == 0 else ("new", "base")
            for side in order:
                runs[side].append(measure(sides[side], model, args.repeats, args.timeout))
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    keys = list(runs["new"][0])
    lines = [f"Working tree against `{args.base}`, {args.rounds} alternating rounds, the "
             "fastest time of each workload (the least disturbed by other load on a noisy "
             "machine; `python benchmarks/bench_revisions.py`):", "",
             "| workload | base | new | new / base |", "| --- | ---: | ---: | ---: |"]
    worst = 0.0
    for k in keys:
        b = min(x[k] for x in runs["base"])
        n = min(x[k] for x in runs["new"])
        worst = max(worst, n / b)
        lines.append(f"| {k} | {b:.3g} | {n:.3g} | {n / b:.2f} |")
    lines += ["", f"Largest ratio {worst:.2f} (target: no workload above 1.05)."]
    block = "\n".join(lines)
    print(block)
    if args.write_readme:
        write_readme_block(args.write_readme, "revisions", block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
