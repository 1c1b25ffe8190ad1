"""Issue #16, reliability: a results folder is one whole run; no silent wrong answers.

One reader of calibrated.yaml; reproducible calibration files; the same
numbers everywhere.

Every test runs the command-line entry point (``sim.cli.main``) on the small fixture
models, and states the exact outcome: exit code, message, and the files left behind.
"""
from __future__ import annotations

import json
import math
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import sim
import sim.commands.run as run_command
import sim.reporting.scenario_output as scenario_output
from sim.calibration.results import HEADER, SIGNIFICANT_DIGITS, dump, estimates, read_calibrated
from sim.calibration.synthetic import synthetic_observed
from sim.cli import main
from sim.reporting.rundir import MANIFEST, lock_path, verify_manifest
from sim.scenarios import load_calibrated

MODELS = Path(__file__).resolve().parents[1] / "models"
FIXTURE = MODELS / "levers_fixture.mdl"
EXPORTS = "Digitally Deliverable Exports"

BASELINE = """\
name: baseline
description: reference run
base: model
members: 6
seed: 3
uncertainty:
  Capability Growth Rate: {dist: uniform, low: 0.03, high: 0.05}
"""
PUSH = BASELINE.replace("name: baseline", "name: Talent Push").replace(
    "description: reference run", "description: more talent") + \
    "levers:\n  talent: {value: 1.8, start: 2022}\n"
OTHER = BASELINE.replace("name: baseline", "name: Other").replace(
    "description: reference run", "description: another scenario") + \
    "levers:\n  talent: {value: 1.2, start: 2024}\n"


# ------------------------------------------------------------------ helpers
@pytest.fixture
def scen(tmp_path) -> Path:
    d = tmp_path / "scen"
    d.mkdir()
    (d / "a_baseline.yaml").write_text(BASELINE, encoding="utf-8")
    (d / "b_push.yaml").write_text(PUSH, encoding="utf-8")
    return d


def sim_run(out: Path, *paths, extra=()) -> int:
    return main(["run", *map(str, paths), "--out", str(out), "--model", str(FIXTURE),
                 "--no-calibration", "--method", "euler", "--no-progress", "--no-charts",
                 *extra])


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` with its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def beside(folder: Path) -> list[str]:
    """Names beside ``folder`` that a run leaves (lock, staging, swapped-out folders)."""
    return sorted(p.name for p in folder.parent.iterdir() if p.name.startswith(f".{folder.name}."))


def scenario_folders(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.is_dir()}


# ------------------------------------------------------------------ A: one whole run
def test_same_command_twice_replaces_the_folder_with_a_matching_manifest(tmp_path, scen,
                                                                         capsys):
    out = tmp_path / "out"
    assert sim_run(out, scen) == 0
    assert sim_run(out, scen) == 0
    err = capsys.readouterr().err
    assert f"results written to {out}/ (2 scenario(s), 0 failed), replacing the previous run " \
           "of the same command" in err
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    assert [s["folder"] for s in manifest["scenarios"]] == ["baseline", "talent-push"]
    assert set(manifest["files"]) == {"summary.csv", "summary.txt"}
    assert verify_manifest(out) == []
    assert beside(out) == []


def test_another_run_is_refused_and_the_first_run_stays_byte_identical(tmp_path, scen, capsys):
    out = tmp_path / "out"
    assert sim_run(out, scen) == 0
    before = snapshot(out)
    (tmp_path / "my.yaml").write_text(OTHER, encoding="utf-8")
    capsys.readouterr()
    assert sim_run(out, tmp_path / "my.yaml") == 2
    err = capsys.readouterr().err
    assert f"error: {out}: holds the results of another run (sim run {scen} --out {out} " in err
    assert "refusing to mix or replace them. Give --overwrite to replace that folder as a " \
           "whole, or choose another --out" in err
    assert snapshot(out) == before
    assert beside(out) == []


def test_overwrite_replaces_the_folder_wholly_with_no_leftover_scenario(tmp_path, scen, capsys):
    out = tmp_path / "out"
    assert sim_run(out, scen) == 0
    (tmp_path / "my.yaml").write_text(OTHER, encoding="utf-8")
    assert sim_run(out, tmp_path / "my.yaml", extra=["--overwrite"]) == 0
    assert "replacing the previous run (--overwrite)" in capsys.readouterr().err
    assert scenario_folders(out) == {"baseline", "other"}  # talent-push/ is gone
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary.scenario) == {"baseline", "Other"}
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    assert {s["folder"] for s in manifest["scenarios"]} == {"baseline", "other"}
    assert verify_manifest(out) == []
    assert beside(out) == []


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]], ids=["plain", "overwrite"])
def test_a_folder_of_other_files_is_always_refused(tmp_path, scen, capsys, overwrite):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    assert sim_run(out, scen, extra=overwrite) == 2
    err = capsys.readouterr().err
    assert f"error: {out}: is not empty and is not a results folder of `sim run` (no " \
           "manifest.json; it holds 'notes.txt'); refusing to write into it or replace it, " \
           "even with --overwrite" in err
    assert snapshot(out) == {"notes.txt": b"mine"}
    assert beside(out) == []


def test_a_file_added_to_a_results_folder_blocks_its_replacement(tmp_path, scen, capsys):
    out = tmp_path / "out"
    assert sim_run(out, scen) == 0
    (out / "talent-push" / "my-notes.md").write_text("mine", encoding="utf-8")
    before = snapshot(out)
    assert sim_run(out, scen, extra=["--overwrite"]) == 2
    assert f"{out}: holds 'talent-push/my-notes.md', which its manifest.json does not list" in \
        capsys.readouterr().err
    assert snapshot(out) == before


def test_a_results_folder_from_before_manifests_needs_overwrite(tmp_path, scen, capsys):
    out = tmp_path / "out"
    (out / "old-scenario").mkdir(parents=True)
    (out / "old-scenario" / "scenario.resolved.yaml").write_text("old", encoding="utf-8")
    (out / "summary.csv").write_text("old", encoding="utf-8")
    before = snapshot(out)
    assert sim_run(out, scen) == 2
    assert f"error: {out}: holds the results of an earlier `sim run` (written before " \
           "manifests); refusing to mix or replace them" in capsys.readouterr().err
    assert snapshot(out) == before
    assert sim_run(out, scen, extra=["--overwrite"]) == 0
    assert scenario_folders(out) == {"baseline", "talent-push"}
    assert verify_manifest(out) == []


def test_keyboard_interrupt_while_writing_leaves_the_previous_run_intact(
        tmp_path, scen, monkeypatch):
    out = tmp_path / "out"
    assert sim_run(out, scen) == 0
    before = snapshot(out)
    real = scenario_output.write_scenario
    calls = []

    def interrupted(run, out_dir, **kw):
        calls.append(Path(out_dir))
        if len(calls) == 2:  # the first scenario is written, the second is not
            raise KeyboardInterrupt
        return real(run, out_dir, **kw)

    monkeypatch.setattr(scenario_output, "write_scenario", interrupted)
    try:
        rc = sim_run(out, scen, extra=["--members", "3", "--overwrite"])
    except KeyboardInterrupt:  # when the command line does not turn it into an exit code
        rc = 130
    assert rc == 130
    assert len(calls) == 2 and calls[0] != out  # written elsewhere: a staging folder
    assert snapshot(out) == before
    assert beside(out) == []  # staging folder and lock removed


def test_a_killed_run_leaves_the_previous_run_intact(tmp_path, scen):
    """SIGTERM while the second run computes: exit 143, the first run as it was."""
    import signal
    import time

    out = tmp_path / "out"
    assert sim_run(out, scen) == 0
    before = snapshot(out)
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim.cli", "run", str(scen), "--out", str(out), "--model",
         str(FIXTURE), "--no-calibration", "--method", "euler", "--no-progress",
         "--members", "3000", "--overwrite"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not any(n.startswith(".out.staging-") for n in beside(out)):
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 143
    finally:
        proc.kill()
        proc.wait()
    assert snapshot(out) == before
    assert beside(out) == []


def test_a_partly_failing_rerun_keeps_the_previous_run(tmp_path, scen, capsys):
    out = tmp_path / "out"
    assert sim_run(out, scen) == 0
    before = snapshot(out)
    (scen / "b_push.yaml").write_text(PUSH.replace("members: 6", "members: -2"),
                                      encoding="utf-8")
    capsys.readouterr()
    assert sim_run(out, scen) == 1
    err = capsys.readouterr().err
    assert "b_push.yaml, line 4, scenario 'Talent Push', field members" in err
    assert f"nothing written: {out}/ keeps the previous run (sim run {scen} --out {out} " in err
    assert "because 1 scenario(s) failed; fix them and rerun, or give --overwrite to replace " \
           "it with this partial run" in err
    assert snapshot(out) == before
    assert beside(out) == []


def test_a_second_concurrent_run_on_the_folder_is_refused(tmp_path, scen, monkeypatch, capsys):
    out = tmp_path / "out"
    real = run_command.run_batch
    inner: list[int] = []

    def run_batch_and_try_a_second_run(*args, **kw):
        inner.append(sim_run(out, scen))  # while the first run holds the folder
        return real(*args, **kw)

    monkeypatch.setattr(run_command, "run_batch", run_batch_and_try_a_second_run)
    assert sim_run(out, scen) == 0
    err = capsys.readouterr().err
    assert inner == [2]
    assert f"error: {out}: another `sim run` is writing this results folder (process " \
           f"{os.getpid()} on {socket.gethostname()}, started " in err
    assert f"If no such process runs, delete the lock file {lock_path(out)}" in err
    assert verify_manifest(out) == [] and beside(out) == []


def test_a_live_lock_is_respected_and_a_stale_one_taken_over(tmp_path, scen, capsys):
    out = tmp_path / "out"
    lock = lock_path(out)
    live = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": "then"})
    lock.write_text(live, encoding="utf-8")
    assert sim_run(out, scen) == 2
    assert "another `sim run` is writing this results folder" in capsys.readouterr().err
    assert lock.read_text(encoding="utf-8") == live and not out.exists()
    # the same lock and a staging folder left by a process that has exited
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True).stdout)
    lock.write_text(json.dumps({"pid": dead, "host": socket.gethostname(), "started": "then"}),
                    encoding="utf-8")
    left = tmp_path / f".out.staging-{dead}-x1"
    left.mkdir()
    (left / "summary.csv").write_text("half", encoding="utf-8")
    assert sim_run(out, scen) == 0
    assert beside(out) == []  # stale lock and staging folder gone, own lock released
    assert verify_manifest(out) == []


def test_summary_lists_exactly_the_scenario_folders_beside_it(tmp_path, scen):
    out = tmp_path / "out"
    assert sim_run(out, scen) == 0
    (tmp_path / "my.yaml").write_text(OTHER, encoding="utf-8")
    assert sim_run(out, scen / "b_push.yaml", tmp_path / "my.yaml", extra=["--overwrite"]) == 0
    summary = pd.read_csv(out / "summary.csv")
    slugs = {"baseline": "baseline", "Talent Push": "talent-push", "Other": "other"}
    assert {slugs[s] for s in summary.scenario} == scenario_folders(out)
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    assert {s["folder"] for s in manifest["scenarios"]} == scenario_folders(out)


# ------------------------------------------------------------------ B: no silent wrong answers
def test_an_explicit_calibrated_file_that_does_not_exist_is_an_error(tmp_path, scen, capsys):
    (tmp_path / "calibrated.yaml").write_text("schema: sim.calibrated/1\n", encoding="utf-8")
    typo = tmp_path / "calibrated.yml"
    out = tmp_path / "out"
    rc = main(["run", str(scen), "--out", str(out), "--model", str(FIXTURE), "--calibrated",
               str(typo), "--method", "euler", "--no-progress", "--no-charts"])
    assert rc == 2
    assert capsys.readouterr().err == (
        f"error: --calibrated {typo}: no such file, so nothing was run (a calibration asked "
        f"for by name must exist). Did you mean {tmp_path / 'calibrated.yaml'}?\n")
    assert not out.exists() and beside(out) == []


def test_without_the_default_calibration_the_run_warns_and_records_it(tmp_path, scen, capsys,
                                                                      monkeypatch):
    monkeypatch.chdir(tmp_path)  # no model/calibrated.yaml here
    (scen / "a_baseline.yaml").write_text(BASELINE.replace("base: model", "base: calibrated"),
                                          encoding="utf-8")
    assert main(["run", str(scen / "a_baseline.yaml"), "--out", "out", "--model", str(FIXTURE),
                 "--method", "euler", "--no-progress", "--no-charts"]) == 0
    assert "warning: base: calibrated was asked for but no calibrated.yaml was found; the " \
           "model's own parameter values were used" in capsys.readouterr().err
    assert main(["run", str(scen / "a_baseline.yaml"), "--out", "out2", "--model", str(FIXTURE),
                 "--no-calibration", "--method", "euler", "--no-progress", "--no-charts"]) == 0
    prov = [yaml.safe_load((tmp_path / d / "baseline" / "scenario.resolved.yaml")
                           .read_text(encoding="utf-8"))["provenance"] for d in ("out", "out2")]
    assert (prov[0]["calibrated"], prov[1]["calibrated"]) == (None, None)
    assert "--no-calibration" in prov[1]["command_line"]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "out" / "baseline" / "results.csv"),
                                  pd.read_csv(tmp_path / "out2" / "baseline" / "results.csv"))


# ------------------------------------------------------------------ C, D: calibrated.yaml
SPEC = f"""
description: Levers fixture calibrated to synthetic data (reliability tests).
model: levers.mdl
data: data/observed.csv
seed: 5
starts: 8
polish: 1
bootstrap: 10
profile_points: 5
parameters:
  Base Share: {{bounds: [0.01, 0.1], source: test}}
  Capability Growth Rate: {{bounds: [0.0, 0.2], source: test}}
targets:
  - {{series: china_dds_exports_unctad, variable: {EXPORTS}, role: primary}}
  - {{series: china_dds_imports_unctad, variable: Digitally Deliverable Imports, role: primary}}
out_of_sample: {{origins: [2020]}}
"""


LAST_OBSERVED = "Last Observed Year=\n\t2022\n\t~\tYear\n\t~\tinputs rule\n\t|\n\n"
"""The constant a calibration specification's projection rule needs (the fixture has none)."""


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory) -> Path:
    """Return a workspace calibrated twice by the same `sim calibrate --quick` command.

    Same seed: first.yaml is the first result, a.yaml the second, from another
    process with another string hash seed (as on another machine: no set or
    hash order may reach the file).
    """
    root = tmp_path_factory.mktemp("calibration")
    text = FIXTURE.read_text(encoding="utf-8")
    control = "********************************************************\n\t.Control"
    assert text.count(control) == 1
    (root / "levers.mdl").write_text(text.replace(control, LAST_OBSERVED + control),
                                     encoding="utf-8")
    model = sim.load_model(root / "levers.mdl")
    obs, src = synthetic_observed(
        model, {"Base Share": 0.036, "Capability Growth Rate": 0.045},
        {"china_dds_exports_unctad": EXPORTS,
         "china_dds_imports_unctad": "Digitally Deliverable Imports"},
        range(2015, 2023), 0.02, np.random.default_rng(1))
    (root / "data").mkdir()
    (root / "data" / "observed.csv").write_text(obs, encoding="utf-8")
    (root / "data" / "sources.csv").write_text(src, encoding="utf-8")
    (root / "calibration.yaml").write_text(SPEC, encoding="utf-8")
    command = ["calibrate", "--spec", str(root / "calibration.yaml"), "--out",
               str(root / "a.yaml"), "--quick"]
    assert main(command) == 0
    (root / "first.yaml").write_bytes((root / "a.yaml").read_bytes())
    subprocess.run([sys.executable, "-m", "sim.cli", *command], check=True, cwd=os.getcwd(),
                   env={**os.environ, "PYTHONHASHSEED": "20250101"}, capture_output=True)
    return root


def test_the_scenario_reader_finds_the_hashes_the_writer_wrote(calibrated):
    model = sim.load_model(calibrated / "levers.mdl")
    cal = load_calibrated(calibrated / "a.yaml")
    doc = read_calibrated(calibrated / "a.yaml")
    assert cal.model_hash == model.model_hash == doc["provenance"]["model"]["hash"]
    assert cal.data_hash == doc["provenance"]["data"]["hash"] and len(cal.data_hash) == 64
    assert {n: p.estimate for n, p in cal.parameters.items()} == estimates(doc)


CALIBRATED_BASELINE = "name: baseline\ndescription: from the calibrated estimates\n"


def test_sim_run_records_the_calibrated_model_hash(calibrated, tmp_path, capsys):
    out = tmp_path / "out"
    (tmp_path / "baseline.yaml").write_text(CALIBRATED_BASELINE, encoding="utf-8")
    assert main(["run", str(tmp_path / "baseline.yaml"), "--out", str(out), "--model",
                 str(calibrated / "levers.mdl"), "--calibrated", str(calibrated / "a.yaml"),
                 "--method", "euler", "--no-progress", "--no-charts"]) == 0
    prov = yaml.safe_load((out / "baseline" / "scenario.resolved.yaml")
                          .read_text(encoding="utf-8"))["provenance"]
    assert prov["calibrated_model_hash"] == sim.load_model(calibrated / "levers.mdl").model_hash
    assert prov["calibrated_data_hash"] == read_calibrated(
        calibrated / "a.yaml")["provenance"]["data"]["hash"]
    assert "another version of the model" not in capsys.readouterr().err


def test_a_calibration_of_another_model_version_is_warned_about(calibrated, tmp_path, capsys):
    other = tmp_path / "levers_v2.mdl"
    text = (calibrated / "levers.mdl").read_text(encoding="utf-8")
    assert "World Growth Rate=\n\t0.081" in text
    other.write_text(text.replace("World Growth Rate=\n\t0.081", "World Growth Rate=\n\t0.082"),
                     encoding="utf-8")
    (tmp_path / "baseline.yaml").write_text(CALIBRATED_BASELINE, encoding="utf-8")
    assert main(["run", str(tmp_path / "baseline.yaml"), "--out", str(tmp_path / "out"),
                 "--model", str(other), "--calibrated", str(calibrated / "a.yaml"),
                 "--method", "euler", "--no-progress", "--no-charts"]) == 0
    v1, v2 = (sim.load_model(m).model_hash for m in (calibrated / "levers.mdl", other))
    assert f"warning: {calibrated / 'a.yaml'} was calibrated on another version of the model " \
           f"(model_hash {v1[:12]}..., this model {v2[:12]}...)" in capsys.readouterr().err


def test_calibrated_file_is_written_read_back_and_written_again_identically(calibrated):
    raw = (calibrated / "a.yaml").read_text(encoding="utf-8")
    assert raw.startswith(HEADER)
    assert f"rounded to {SIGNIFICANT_DIGITS} significant digits" in HEADER
    assert dump(read_calibrated(calibrated / "a.yaml")) == raw

    def floats(x):
        if isinstance(x, dict):
            return [f for v in x.values() for f in floats(v)]
        if isinstance(x, list):
            return [f for v in x for f in floats(v)]
        return [x] if isinstance(x, float) and math.isfinite(x) else []

    values = floats(read_calibrated(calibrated / "a.yaml"))
    assert len(values) > 100
    assert all(float(f"{x:.{SIGNIFICANT_DIGITS}g}") == x for x in values)


def test_two_quick_calibrations_with_one_seed_write_identical_bytes(calibrated):
    a, b = ((calibrated / n).read_bytes() for n in ("first.yaml", "a.yaml"))
    assert a == b
    text = a.decode("utf-8")
    assert not re.search(r"^\s*(date|nfev|model_evaluations):", text, re.MULTILINE)


# ------------------------------------------------------------------ E: the same numbers
def test_each_place_says_what_its_2035_number_is_and_point_runs_agree(calibrated, tmp_path,
                                                                      capsys, monkeypatch):
    from sim.app import i18n
    from sim.app import state as S
    from sim.reporting.calibration_report import compute, load_inputs

    model = sim.load_model(calibrated / "levers.mdl")
    cal_path = calibrated / "a.yaml"
    cal = load_calibrated(cal_path)
    # sim run, one member: a point run from the calibrated estimates, scipy (RK45)
    (tmp_path / "baseline.yaml").write_text(CALIBRATED_BASELINE, encoding="utf-8")
    out = tmp_path / "out"
    assert main(["run", str(tmp_path / "baseline.yaml"), "--out", str(out), "--model",
                 str(calibrated / "levers.mdl"), "--calibrated", str(cal_path), "--members", "1",
                 "--no-progress", "--no-charts"]) == 0
    printed = capsys.readouterr().out
    assert "medians over each scenario's ensemble: 1 member (a point run, nothing sampled) " \
           "from the calibrated estimates, scipy (RK45)" in printed
    summary = pd.read_csv(out / "summary.csv", dtype={"period": str})
    row = summary[(summary.variable == EXPORTS) & (summary.measure == "value") &
                  (summary.period == "2035")].iloc[0]
    assert row["ensemble"] == ("1 member (a point run, nothing sampled) from the calibrated "
                               "estimates, scipy (RK45)")
    # the app: the same point run (scipy RK45), and it says so beside its numbers
    scenario = S.validate_doc(S.baseline_doc(model))
    app_run, _ = S.simulate_scenario(scenario, model, cal, members=1, outputs=[EXPORTS])
    assert S.METHOD_LABEL == "scipy (RK45)"
    assert float(app_run.at(EXPORTS, 2035)) == pytest.approx(row["median"], rel=1e-9)
    assert i18n.t("metrics_shown", "en", year=2035, method=S.METHOD_LABEL,
                  base=i18n.t("base_calibrated", "en")).startswith(
        "The numbers above: 2035 values of one point run at the calibrated estimates")
    # the report's point run at the calibrated estimates, with the report's method: the
    # app's point run under that method is the same number
    inp = load_inputs(cal_path)
    report_point = compute(inp, sobol_samples=8).central[EXPORTS][-1]
    monkeypatch.setattr(S, "METHOD", inp.spec.method)
    same_method, _ = S.simulate_scenario(scenario, model, cal, members=1, outputs=[EXPORTS])
    assert float(same_method.at(EXPORTS, 2035)) == pytest.approx(report_point, rel=1e-9)
