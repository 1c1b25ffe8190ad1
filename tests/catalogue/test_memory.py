"""Issue #16, reliability: memory is estimated from everything a run holds.

The estimate (:mod:`sim.scenarios.memory`) covers the whole ``sim run``:
simulation, ensemble results, summaries, the tidy table and every file. It is
checked against the peak resident memory of real ``sim run`` subprocesses
(within a factor of 1.5), and what does not fit is refused before any work,
with the estimate, the limit and what to change.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from sim.cli import main
from sim.ensembles.batch import ScenarioRun, run_batch
from sim.scenarios import load_scenarios_text, read_scenario_file
from sim.scenarios import memory as M

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "model" / "digital_trade.mdl"
FIXTURE = ROOT / "tests" / "models" / "levers_fixture.mdl"
SCENARIOS = ROOT / "scenarios"

SMALL = """\
name: {name}
description: an ensemble on the fixture model
base: model
members: {members}
seed: 3
uncertainty:
  Capability Growth Rate: {{dist: uniform, low: 0.03, high: 0.05}}
"""


def fixture_run(tmp_path: Path, *texts: str, extra=()) -> int:
    paths = []
    for i, text in enumerate(texts):
        path = tmp_path / f"s{i}.yaml"
        path.write_text(text, encoding="utf-8")
        paths.append(str(path))
    return main(["run", *paths, "--out", str(tmp_path / "out"), "--model", str(FIXTURE),
                 "--no-calibration", "--method", "euler", "--no-progress", "--no-charts", *extra])


@pytest.fixture
def no_simulation(monkeypatch):
    """Any simulation fails the test: a refusal must come before any work."""
    def boom(*args, **kwargs):
        raise AssertionError("a simulation ran")
    monkeypatch.setattr(sim.Model, "simulate", boom)


# ------------------------------------------------------------------ measured peaks
def _peak(cmd: list[str]) -> subprocess.Popen:
    err = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err,
                            env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    proc.err_file = err
    return proc


CASES = {
    # one scenario, SciPy, the calibrated band (series drawn per member), no charts
    "baseline-4000-scipy": ([SCENARIOS / "00_baseline.yaml"], 4000, ["--no-charts"]),
    # two scenarios held together, Euler, charts
    "two-2500-euler": ([SCENARIOS / "00_baseline.yaml", SCENARIOS / "01_infrastructure_push.yaml"],
                       2500, ["--method", "euler"]),
}


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """Peak resident memory of ``sim run`` for each case (run side by side) [bytes]."""
    if not MODEL.exists():
        pytest.skip("the project's model is not in the repository")
    procs = {}
    for key, (files, members, extra) in CASES.items():
        out = tmp_path_factory.mktemp(key) / "out"
        cmd = [sys.executable, "-m", "sim.cli", "run", *map(str, files), "--out", str(out),
               "--members", str(members), "--no-progress", "--memory-limit", "16GiB", *extra]
        procs[key] = _peak(cmd)
    peaks = {}
    for key, proc in procs.items():
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        proc.err_file.seek(0)
        err = proc.err_file.read().decode("utf-8", "replace")
        assert proc.returncode == 0, f"{key}: sim run failed: {err[-2000:]}"
        peaks[key] = usage.ru_maxrss * 1024
    return peaks


@pytest.mark.slow
@pytest.mark.parametrize("key", list(CASES), ids=list(CASES))
def test_estimate_is_within_a_factor_1_5_of_the_measured_peak(measured, key):
    files, members, extra = CASES[key]
    model = sim.load_model(MODEL)
    items = [s for f in files for s in read_scenario_file(f, allowed=files).scenarios]
    method = "euler" if "euler" in extra else "scipy"
    est = M.estimate_run([M.shape_of(s, model, members=members) for s in items], method=method,
                         charts="--no-charts" not in extra)
    ratio = est.total / measured[key]
    assert 1 / 1.5 <= ratio <= 1.5, (f"estimate {est.total / 2**20:.0f} MiB ({est.describe()}), "
                                      f"measured {measured[key] / 2**20:.0f} MiB")
    # and the ensemble arrays alone, what the old guard counted, are a small part of it
    assert sum(s.ensemble_bytes() for s in
               (M.shape_of(x, model, members=members) for x in items)) < 0.1 * measured[key]


# ------------------------------------------------------------------ refusals
def test_a_scenario_too_large_alone_is_refused_before_any_work(tmp_path, capsys, no_simulation):
    rc = fixture_run(tmp_path, SMALL.format(name="baseline", members=1_000_000))
    err = capsys.readouterr().err
    assert rc == 1
    sc = load_scenarios_text(SMALL.format(name="baseline", members=1_000_000), "s.yaml")[0]
    shape = M.shape_of(sc, sim.load_model(FIXTURE))
    est = M.estimate_run([shape], method="euler", charts=False)
    assert est.total > 30 * 2**30
    most = M.fitting_members(lambda m: M.estimate_run(
        [M.shape_of(sc, sim.load_model(FIXTURE), members=m)], method="euler",
        charts=False).total <= 4 * 2**30, 1_000_000)
    assert 50_000 < most < 200_000
    assert (f"FAILED: {tmp_path / 's0.yaml'}, scenario 'baseline': 1,000,000 member(s) need "
            f"about {M.format_bytes(est.total)} at the run's peak ({est.describe()}), more than the "
            f"limit of 4.0 GiB (--memory-limit); lower the members to at most {most:,} (members: "
            "in the file, or --members), record fewer outputs (outputs: in the file, or sim run "
            "--outputs), or raise --memory-limit; or stream the members to disk as they are "
            "computed (sim run --stream, whose memory hardly grows with the members)\n") in err
    assert est.describe().startswith("program 260.0 MiB, ensemble results 1.9 GiB, simulation "
                                     "working arrays ")


def test_the_largest_member_count_offered_fits_and_one_more_does_not(tmp_path):
    model = sim.load_model(FIXTURE)
    sc = load_scenarios_text(SMALL.format(name="baseline", members=1_000_000), "s.yaml")[0]
    shape = M.shape_of(sc, model)
    limit = M.MemoryLimit(4 * 2**30, 4 * 2**30, None)
    check = M.check_run([shape], limit=limit, method="euler", charts=False)
    most = int(re.search(r"at most ([\d,]+)", check.refused["baseline"]).group(1).replace(",", ""))

    def total(m):
        return M.estimate_run([M.shape_of(sc, model, members=m)], method="euler",
                              charts=False).total
    assert total(most) <= limit.bytes < total(most + 1)


def test_scenarios_that_fit_alone_but_not_together_refuse_the_whole_run(tmp_path, capsys,
                                                                       no_simulation):
    model = sim.load_model(FIXTURE)
    texts = [SMALL.format(name=n, members=200_000) for n in ("baseline", "other")]
    shapes = [M.shape_of(load_scenarios_text(t, "s.yaml")[0], model) for t in texts]
    alone = M.estimate_run(shapes[:1], method="euler", charts=False).total
    both = M.estimate_run(shapes, method="euler", charts=False).total
    assert both > alone
    limit = (alone + both) // 2
    rc = fixture_run(tmp_path, *texts, extra=["--memory-limit", str(limit)])
    err = capsys.readouterr().err
    assert rc == 2
    assert re.search(r"^error: the 2 scenarios of this run \(400,000 members in all\) need about "
                     r"[\d.]+ [MG]iB at the run's peak \(.*\), more than the limit of [\d.]+ [MG]iB "
                     r"\(--memory-limit\); nothing was run\. Run fewer scenarios at once, or lower "
                     r"the members to at most [\d,]+ ", err, re.MULTILINE), err
    assert not (tmp_path / "out").exists()


def test_a_run_that_fits_runs(tmp_path, capsys):
    assert fixture_run(tmp_path, SMALL.format(name="baseline", members=50)) == 0
    assert (tmp_path / "out" / "baseline" / "results.csv").is_file()


def test_the_limit_is_the_memory_available_when_that_is_less(tmp_path):
    info = tmp_path / "meminfo"
    info.write_text("MemTotal:       24000000 kB\nMemAvailable:    1048576 kB\n", encoding="utf-8")
    available = M.available_bytes(info)
    assert available == 2**30 or (available is not None and available < 2**30)  # a cgroup may bind
    limit = M.memory_limit(4 * 2**30, held=2**28, available=2**30)
    assert (limit.bytes, limit.cap, limit.available) == (2**30 + 2**28, 4 * 2**30, 2**30 + 2**28)
    assert limit.describe("--memory-limit") == (
        "the limit of 1.2 GiB, the memory available now (below --memory-limit 4.0 GiB)")
    model = sim.load_model(FIXTURE)
    sc = load_scenarios_text(SMALL.format(name="baseline", members=1_000_000), "s.yaml")[0]
    check = M.check_run([M.shape_of(sc, model)], limit=limit, method="euler")
    assert check.refused["baseline"].endswith(
        "record fewer outputs (outputs: in the file, or sim run --outputs), or free memory; or "
        "stream the members to disk as they are computed (sim run --stream, whose memory hardly "
        "grows with the members)")


def test_implicit_solvers_count_their_dense_jacobian():
    shape = M.RunShape("s", 1000, 21, ("a",) * 12, 9, 146)
    rk45, bdf = shape.simulation_bytes("scipy", "RK45"), shape.simulation_bytes("scipy", "BDF")
    assert bdf - rk45 == int(M.IMPLICIT_DOUBLES * (9 * 1000) ** 2 * 8)  # 19 GB at 1,000 members
    assert M.estimate_run([shape], scipy_method="BDF").total > 16 * 2**30


def test_csv_text_counts_each_character_as_stored():
    ascii_ = M.RunShape("baseline", 1000, 21, ("Exports",), 9, 146)
    chinese = M.RunShape("基准", 1000, 21, ("出口",), 9, 146)
    # 'baseline' + 'Exports': 15 characters, against 4; but Chinese text takes 2 bytes a
    # character in a Python str and 3 in UTF-8, against 1 and 1
    assert ascii_.csv_row_chars() - chinese.csv_row_chars() == 11
    assert M._mean_digits(1000) == pytest.approx((10 + 90 * 2 + 900 * 3) / 1000)
    assert chinese.write_bytes() > ascii_.write_bytes() * 1.2


# ------------------------------------------------------------------ the tidy table
def _tidy_as_before(run: ScenarioRun) -> pd.DataFrame:
    """Return the tidy table as it was built before (a string column per variable, concatenated)."""
    t, n = len(run.times), run.members
    frames = [pd.DataFrame({"run_id": np.tile(np.arange(n, dtype=np.int64), t),
                            "time": np.repeat(run.times, n), "variable": name,
                            "value": run.values(name).reshape(-1)}) for name in run.variables]
    out = pd.concat(frames, ignore_index=True)
    out.insert(1, "scenario", run.name)
    out["scenario"] = out["scenario"].astype("category")
    out["variable"] = out["variable"].astype("category")
    return out


@pytest.mark.parametrize("members", [1, 7], ids=["point", "ensemble"])
def test_tidy_table_is_unchanged_and_built_without_copies(members):
    model = sim.load_model(FIXTURE)
    text = SMALL.format(name="数字 push", members=members) + \
        "outputs: [Digital Talent, Digitally Deliverable Exports]\n"
    batch = run_batch(load_scenarios_text(text, "s.yaml"), model, None, method="euler")
    assert not batch.failures, batch.failures
    for run in batch.runs:
        new, old = run.tidy(), _tidy_as_before(run)
        pd.testing.assert_frame_equal(new, old)
        assert new["variable"].cat.codes.dtype == np.int8
