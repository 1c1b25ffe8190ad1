"""Chunked ensembles at scale (issue #14): 10^6 members, time and peak memory; 2 workers vs 1.

Three cases on the same ensemble of ``model/digital_trade.mdl`` (Euler, a few
outputs, chunks of ``--chunk-size`` members), each in a fresh child process:

- ``here``: chunks one after another in the process (``simulate(chunk_size=...)``);
  its peak resident memory is the process's (``resource.getrusage``);
- ``dask1`` / ``dask2``: a ``distributed.LocalCluster`` of 1 and 2 worker processes
  (one thread each) running the chunks (``simulate(executor=client.get_executor())``);
  the cluster's start and a warm-up (each worker compiles the model once) are not
  timed. Peaks: the client process's and each worker's.

The ratio dask1 / dask2 is the speed-up of a second worker (target >= 1.7x on
this 2-core machine; another job sharing the cores lowers it, so the load
average is printed). Every case's result is hashed: the three must be the same
bytes.

``--stream`` measures streaming instead (:mod:`sim.ensembles.streaming`), each
case in a fresh process, chunks one after another in it: every chunk's members
written to ``part-NNNNN.parquet`` as it completes, then the percentiles
(5/25/50/75/95) and mean of every output at every saved time read back from the
files one column at a time, as ``sim run --stream`` does. Cases ``stream-euler``
and ``stream-scipy`` at ``--members``, and ``stream-euler`` at
``--stream-members`` (10^7 by default; 0 skips it). Targets: under 60 s and
2 GiB peak resident memory at 10^6 members; 10^7 completes under 2 GiB.

Usage::

    python benchmarks/bench_scaleout.py [--members 1000000] [--chunk-size 100000]
                                        [--write-readme README.md]
    python benchmarks/bench_scaleout.py --stream [--members 1000000]
                                        [--stream-members 10000000] [--write-readme README.md]
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

MODEL = REPO / "model" / "digital_trade.mdl"
OUTPUTS = ["Digitally Deliverable Exports", "China World Share", "Digital Economy Size"]
VARIED = 5  # constants varied per member, each by a factor from U(0.8, 1.2)
TARGET_RATIO = 1.7
TARGET_SECONDS = 60.0
TARGET_PEAK = 2 * 2**30
STREAM_CASES = ("stream-euler", "stream-scipy")
#: the same streamed on a LocalCluster of 2 workers (the client writes the files)
STREAM_CLUSTER_CASES = ("stream-euler-2w", "stream-scipy-2w")


def ensemble(model, members: int, seed: int = 0) -> dict:
    """Return ``VARIED`` non-zero constants of ``model``, each one value per member.

    Dates and durations are left alone (varying a base year by 20% is not an
    ensemble anyone runs, and a per-member date is a per-member switch time,
    which splits an adaptive SciPy run into one segment per member).
    """
    controls = {"initial_time", "final_time", "time_step", "saveper"}
    names = [c for c, v in model.constants.items() if v != 0 and c not in controls
             and "year" not in c and "time" not in c
             and model.variables[c].units.strip().lower() not in {"year", "years"}][:VARIED]
    rng = np.random.default_rng(seed)
    return {c: model.constants[c] * rng.uniform(0.8, 1.2, members) for c in names}


def digest(res) -> str:
    """sha256 of a result's arrays (names and bytes)."""
    h = hashlib.sha256()
    for name, arr in res.data.items():
        h.update(name.encode())
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:16]


def _peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def stream_case(name: str, members: int, chunk_size: int) -> dict:
    """Stream ``members`` to Parquet files and summarise them from the files; its figures."""
    import sim
    from sim.ensembles.streaming import PartitionWriter

    method = name.split("-")[1]
    model = sim.load_model(MODEL)
    kw = {"method": method, "outputs": OUTPUTS, "chunk_size": chunk_size}
    if method == "scipy":  # a chunk of SciPy takes minutes: no 60 s bound per chunk
        kw["time_limit"] = float("inf")
    out: dict = {"case": name, "members": members}
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-stream-"))
        if name.endswith("-2w"):
            from sim.ensembles.executors import dask_executor
            kw["executor"] = stack.enter_context(dask_executor(workers=2))
        model.simulate(ensemble(model, 100), sink=PartitionWriter(Path(tmp, "warm")),
                       **{**kw, "chunk_size": 50})  # warm-up
        params = ensemble(model, members)
        t0, c0 = time.perf_counter(), time.process_time()
        writer = PartitionWriter(Path(tmp, "members"))
        res = model.simulate(params, sink=writer, **kw)
        t1 = time.perf_counter()
        if "executor" in kw:
            out["worker_peaks"] = sorted(kw["executor"]._client.run(_peak).values())
        data = writer.result(res)
        h = hashlib.sha256()
        for var in OUTPUTS:
            for _, row in data.rows(var):
                with np.errstate(all="ignore"):
                    h.update(np.nanpercentile(row, (5, 25, 50, 75, 95)).tobytes())
                    h.update(np.float64(np.nanmean(row)).tobytes())
        t2, c2 = time.perf_counter(), time.process_time()
        out["bytes_on_disk"] = sum(p.path.stat().st_size for p in data.parts)
        out["files"] = len(data.parts)
    out.update(seconds=t2 - t0, cpu_seconds=c2 - c0, simulate_seconds=t1 - t0, summary_seconds=t2 - t1,
               peak=_peak(), digest=h.hexdigest()[:16], failed=len(res.failures),
               shape=[len(data.times), members, len(OUTPUTS)])
    return out


def case(name: str, members: int, chunk_size: int) -> dict:
    """Run one case here (in a child process); return its figures."""
    import sim

    if name in STREAM_CASES + STREAM_CLUSTER_CASES:
        return stream_case(name, members, chunk_size)
    model = sim.load_model(MODEL)
    params = ensemble(model, members)
    kw = {"method": "euler", "outputs": OUTPUTS, "chunk_size": chunk_size}
    out: dict = {"case": name}
    if name == "here":
        model.simulate(ensemble(model, 100), **{**kw, "chunk_size": 50})  # warm-up
        t0 = time.perf_counter()
        res = model.simulate(params, **kw)
        out["seconds"] = time.perf_counter() - t0
    else:
        from sim.ensembles.executors import dask_executor
        with dask_executor(workers=int(name[-1])) as ex:
            model.simulate(ensemble(model, 200), executor=ex, **{**kw, "chunk_size": 50})
            t0 = time.perf_counter()
            res = model.simulate(params, executor=ex, **kw)
            out["seconds"] = time.perf_counter() - t0
            out["worker_peaks"] = sorted(ex._client.run(_peak).values())
    out["peak"] = _peak()
    out["digest"] = digest(res)
    out["failed"] = len(res.failures)
    out["shape"] = [len(res.times), res.n_members, len(res.data)]
    return out


def run_child(name: str, members: int, chunk_size: int) -> dict:
    """Run a case in a fresh process (its own peak memory); return its figures."""
    cmd = [sys.executable, __file__, "--case", name, "--members", str(members),
           "--chunk-size", str(chunk_size)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OPENBLAS_NUM_THREADS": "1",
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"case {name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


def table(rows: dict, members: int, chunk_size: int, load: tuple) -> str:
    here, one, two = rows["here"], rows["dask1"], rows["dask2"]
    ratio = one["seconds"] / two["seconds"]
    same = len({r["digest"] for r in rows.values()}) == 1
    lines = [
        "| case | time [s] | peak resident memory | members/s |",
        "| --- | ---: | ---: | ---: |",
        f"| in one process, chunks one after another | {here['seconds']:.1f} | "
        f"{_mib(here['peak'])} | {members / here['seconds']:,.0f} |",
        f"| LocalCluster, 1 worker | {one['seconds']:.1f} | client {_mib(one['peak'])}, worker "
        f"{_mib(max(one['worker_peaks']))} | {members / one['seconds']:,.0f} |",
        f"| LocalCluster, 2 workers | {two['seconds']:.1f} | client {_mib(two['peak'])}, workers "
        f"{' + '.join(_mib(p) for p in two['worker_peaks'])} | {members / two['seconds']:,.0f} |",
        "",
        f"2 workers against 1 (same run): **{ratio:.2f}x** (target >= {TARGET_RATIO}x: "
        f"{'met' if ratio >= TARGET_RATIO else 'not met'}). The three results are "
        f"{'the same bytes' if same else 'NOT the same bytes'} (sha256 {here['digest']}).",
        "",
        f"{members:,} members of `model/digital_trade.mdl` (Euler, {VARIED} constants varied, "
        f"{len(OUTPUTS)} outputs x {here['shape'][0]} saved years kept), chunks of "
        f"{chunk_size:,}; each case in a fresh process, a warm-up not timed. Load average "
        f"before the run {load[0]:.2f} on {os.cpu_count()} CPUs (another job on the cores "
        f"lowers the ratio). Measured {datetime.now(UTC):%Y-%m-%d} on {platform.machine()}, "
        f"Python {platform.python_version()}, numpy {np.__version__}. "
        f"`python benchmarks/bench_scaleout.py --write-readme README.md`",
    ]
    return "\n".join(lines)


def stream_table(rows: list[dict], chunk_size: int, load: tuple) -> str:
    """Return the README block of the streaming cases."""
    lines = ["| case | members | time [s] (simulate + write, summaries) | CPU time [s] | "
             "peak resident memory | members/s | on disk |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['members']:,} | {r['seconds']:.1f} ({r['simulate_seconds']:.1f}"
            f" + {r['summary_seconds']:.1f}) | {r.get('cpu_seconds', float('nan')):.1f} | "
            f"{_mib(r['peak'])}"
            + (f" (workers {' + '.join(_mib(p) for p in r['worker_peaks'])})"
               if r.get("worker_peaks") else "") + " | "
            f"{r['members'] / r['seconds']:,.0f} | {_mib(r['bytes_on_disk'])} in {r['files']} "
            "files |")
    ok = [r for r in rows if r["members"] <= 1_000_000]
    met = all(r["seconds"] < TARGET_SECONDS and max(r["peak"], *r.get("worker_peaks", [0]))
              < TARGET_PEAK for r in ok)
    big = [r for r in rows if r["members"] > 1_000_000]
    lines += [
        "",
        f"Targets at 10^6 members (under {TARGET_SECONDS:.0f} s and {_mib(TARGET_PEAK)}): "
        f"{'met' if met else 'NOT met'}" + ("" if not big else
                                            f"; 10^7 under {_mib(TARGET_PEAK)}: "
                                            f"{'met' if all(r['peak'] < TARGET_PEAK for r in big) else 'NOT met'}")
        + ".",
        "",
        f"Streamed (`simulate(sink=PartitionWriter(...))`, as `sim run --stream`): "
        f"`model/digital_trade.mdl`, {VARIED} constants varied, {len(OUTPUTS)} outputs x "
        f"{rows[0]['shape'][0]} saved years written, chunks of {chunk_size:,} one after "
        "another in one process (`-2w`: on a LocalCluster of 2 workers, the client writing "
        "the files; peaks per process); then the 5/25/50/75/95th percentiles and the mean of every "
        "output at every saved year read back from the files one column at a time. Each case "
        f"in a fresh process, a warm-up not timed. Load average before the run {load[0]:.2f} "
        f"on {os.cpu_count()} CPUs. Measured {datetime.now(UTC):%Y-%m-%d} on "
        f"{platform.machine()}, Python {platform.python_version()}, numpy {np.__version__}. "
        f"`python benchmarks/bench_scaleout.py --stream --cases {','.join(r['case'] for r in rows)} "
        f"--chunk-size {chunk_size} --write-readme README.md`",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=1_000_000)
    ap.add_argument("--chunk-size", type=int, default=100_000)
    ap.add_argument("--case", choices=["here", "dask1", "dask2", *STREAM_CASES,
                                       *STREAM_CLUSTER_CASES],
                    help=argparse.SUPPRESS)
    ap.add_argument("--write-readme", metavar="README", default=None)
    ap.add_argument("--stream", action="store_true",
                    help="measure streaming (Euler and SciPy at --members, Euler at "
                         "--stream-members)")
    ap.add_argument("--stream-members", type=int, default=10_000_000)
    ap.add_argument("--cases", default=None,
                    help="streaming cases to run, e.g. stream-euler (default: both)")
    args = ap.parse_args(argv)
    if args.case:
        print(json.dumps(case(args.case, args.members, args.chunk_size)))
        return 0
    load = os.getloadavg()
    if args.stream:
        todo = [(c, args.members) for c in (args.cases.split(",") if args.cases else
                                            STREAM_CASES)]
        if args.stream_members:
            todo.append(("stream-euler", args.stream_members))
        done = []
        for name, n in todo:
            done.append(run_child(name, n, args.chunk_size))
            print(json.dumps(done[-1]), file=sys.stderr)
        block = stream_table(done, args.chunk_size, load)
        print(block)
        if args.write_readme:
            from _common import write_readme_block
            write_readme_block(Path(args.write_readme), "scaleout-stream", block)
        return 0
    rows = {}
    for name in ("here", "dask1", "dask2"):
        rows[name] = run_child(name, args.members, args.chunk_size)
        print(json.dumps(rows[name]), file=sys.stderr)
    block = table(rows, args.members, args.chunk_size, load)
    print(block)
    if args.write_readme:
        from _common import write_readme_block
        write_readme_block(Path(args.write_readme), "scaleout", block)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
