"""``sim run``: files, folders, outputs, exit codes, reproducibility."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from sim.cli import main
from sim.scenarios import load_scenarios, load_scenarios_text, scenario_to_yaml

FIXTURE = Path(__file__).parent / "models" / "levers_fixture.mdl"

BASELINE = """\
name: baseline
description: reference run
base: model
members: 12
seed: 3
uncertainty:
  Capability Growth Rate: {dist: uniform, low: 0.03, high: 0.05}
"""
PUSH = BASELINE.replace("name: baseline", "name: Talent Push").replace(
    "description: reference run", "description: more talent") + \
    "levers:\n  talent: {value: 1.8, start: 2022}\n"


def sim_run(tmp_path: Path, *paths, extra=()) -> int:
    return main(["run", *map(str, paths), "--out", str(tmp_path / "out"), "--model",
                 str(FIXTURE), "--no-calibration", "--method", "euler", "--no-progress", *extra])


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "scen"
    d.mkdir()
    (d / "a_baseline.yaml").write_text(BASELINE, encoding="utf-8")
    (d / "b_push.yml").write_text(PUSH, encoding="utf-8")
    (d / "notes.txt").write_text("not a scenario", encoding="utf-8")
    return d


def test_folder_run_writes_everything_and_prints_the_summary(tmp_path, folder, capsys):
    assert sim_run(tmp_path, folder, extra=["--no-charts"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["scenario", "variable", "2025", "2030", "2035"]
    assert any(ln.startswith("Talent Push") and "exports" in ln and "[+" in ln for ln in lines)
    assert "CAGR 2022-2035" in out and "Traceback" not in err
    assert "(2 scenario(s), 0 failed)" in err
    root = tmp_path / "out"
    for slug in ("baseline", "talent-push"):
        d = root / slug
        for name in ("results.csv", "results.parquet", "percentiles.csv", "experiments.csv",
                     "summary.csv", "scenario.resolved.yaml"):
            assert (d / name).is_file(), name
        assert not (d / "comparison.png").exists()  # --no-charts
    tidy = pd.read_csv(root / "talent-push" / "results.csv")
    assert list(tidy.columns) == ["run_id", "scenario", "time", "variable", "value"]
    assert tidy.run_id.nunique() == 12 and set(tidy.scenario) == {"Talent Push"}
    pq = pd.read_parquet(root / "talent-push" / "results.parquet")
    pd.testing.assert_series_equal(pq["value"], tidy["value"], check_exact=False, rtol=1e-9)
    summary = pd.read_csv(root / "summary.csv")
    assert set(summary.scenario) == {"baseline", "Talent Push"}
    assert (root / "summary.txt").read_text(encoding="utf-8").startswith("scenario")
    assert not (root / "failures.csv").exists()


def test_charts_and_resolved_metadata(tmp_path, folder):
    assert sim_run(tmp_path, folder / "b_push.yml", folder / "a_baseline.yaml") == 0
    d = tmp_path / "out" / "talent-push"
    assert (d / "comparison.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (d / "comparison.svg").read_bytes()[:400]
    doc = yaml.safe_load((d / "scenario.resolved.yaml").read_text(encoding="utf-8"))
    prov = doc["provenance"]
    for key in ("model_hash", "data_hash", "calibrated_hash", "seed", "sampling",
                "package_version", "command_line", "timestamp", "method"):
        assert key in prov, key
    assert prov["seed"] == 3 and prov["sampling"] == "latin_hypercube"
    assert prov["command_line"].startswith("sim run ") and "--method euler" in prov["command_line"]
    assert prov["base_used"] == "model" and prov["constants"]["Talent Training Lever"] == 1.8


def test_scipy_method_option_reaches_the_runs_and_the_provenance(tmp_path, folder):
    base = ["run", str(folder / "a_baseline.yaml"), "--model", str(FIXTURE), "--no-calibration",
            "--method", "scipy", "--no-progress", "--no-charts"]
    assert main([*base, "--out", str(tmp_path / "rk45")]) == 0
    assert main([*base, "--out", str(tmp_path / "dopri5"), "--scipy-method", "DOPRI5"]) == 0
    doc = yaml.safe_load((tmp_path / "dopri5" / "baseline" / "scenario.resolved.yaml")
                         .read_text(encoding="utf-8"))
    assert doc["provenance"]["method"] == "scipy (DOPRI5)"
    assert "--scipy-method DOPRI5" in doc["provenance"]["command_line"]
    a, b = (pd.read_csv(tmp_path / d / "baseline" / "results.csv") for d in ("rk45", "dopri5"))
    assert not a["value"].equals(b["value"])  # another solver ran ...
    pd.testing.assert_series_equal(a["value"], b["value"], rtol=1e-4)  # ... to the same answer


def test_resolved_scenario_reruns_to_identical_results(tmp_path, folder):
    assert sim_run(tmp_path, folder, extra=["--no-charts"]) == 0
    first = pd.read_csv(tmp_path / "out" / "talent-push" / "results.csv")
    resolved = tmp_path / "out" / "talent-push" / "scenario.resolved.yaml"
    rerun = tmp_path / "rerun"
    assert main(["run", str(resolved), "--out", str(rerun), "--model", str(FIXTURE),
                 "--no-calibration", "--method", "euler", "--no-progress", "--no-charts"]) == 0
    again = pd.read_csv(rerun / "talent-push" / "results.csv")
    pd.testing.assert_frame_equal(first, again)


def test_scenario_saved_by_the_app_runs_unchanged(tmp_path, capsys):
    """The app saves with scenario_to_yaml and reads uploads with load_scenarios_text."""
    uploaded = load_scenarios_text(PUSH, source="upload")[0]
    saved = tmp_path / "from_app.yaml"
    saved.write_text(scenario_to_yaml(uploaded), encoding="utf-8")
    assert load_scenarios(saved) == [uploaded]
    assert sim_run(tmp_path, saved, extra=["--no-charts"]) == 0
    assert (tmp_path / "out" / "talent-push" / "results.parquet").is_file()
    # the app's own document shape: Vensim lever names, integer years
    app_doc = {"name": "app scenario", "description": "from the sliders", "base": "calibrated",
               "horizon": 2035, "levers": {"Talent Training Lever": {"value": 1.3, "start": 2026},
                                           "Foreign Barrier Shock Size": {"value": 0.1,
                                                                          "start": 2025}}}
    app_file = tmp_path / "app.yaml"
    app_file.write_text(yaml.safe_dump(app_doc, allow_unicode=True, sort_keys=False),
                        encoding="utf-8")
    assert sim_run(tmp_path, app_file, extra=["--no-charts", "--overwrite"]) == 0  # another run
    assert (tmp_path / "out" / "app-scenario" / "summary.csv").is_file()
    assert "no calibrated.yaml was found; the model's own parameter values were used" in \
        capsys.readouterr().err


def test_failed_scenarios_are_reported_and_the_rest_written(tmp_path, folder, capsys):
    (folder / "c_bad.yaml").write_text(BASELINE.replace("name: baseline", "name: bad")
                                       .replace("members: 12", "members: -2"), encoding="utf-8")
    (folder / "d_broken.yaml").write_text("name: [unclosed\n", encoding="utf-8")
    (folder / "e_numeric.yaml").write_text("name: blowup\ndescription: d\nbase: model\n"
                                           "parameters: {Test Blowup Rate: 100}\n",
                                           encoding="utf-8")
    assert sim_run(tmp_path, folder, extra=["--no-charts"]) == 1
    out, err = capsys.readouterr()
    assert "c_bad.yaml, line 4, scenario 'bad', field members" in err
    assert "d_broken.yaml, line 2" in err and "invalid YAML" in err
    assert "e_numeric.yaml, scenario 'blowup': numerical failure" in err
    assert "Talent Push" in out
    assert (tmp_path / "out" / "talent-push" / "results.csv").is_file()
    fails = pd.read_csv(tmp_path / "out" / "failures.csv")
    assert len(fails) == 3


def test_members_override_and_no_baseline(tmp_path, folder, capsys):
    assert sim_run(tmp_path, folder / "b_push.yml", extra=["--members", "5", "--no-charts"]) == 0
    err = capsys.readouterr().err
    assert "no scenario is named 'baseline'" in err and "'Talent Push'" in err
    doc = yaml.safe_load((tmp_path / "out" / "talent-push" / "scenario.resolved.yaml")
                         .read_text(encoding="utf-8"))
    assert doc["scenarios"][0]["members"] == 5 and "--members 5" in doc["provenance"][
        "command_line"]
    assert (tmp_path / "out" / "baseline" / "results.csv").is_file()


def test_too_large_ensemble_fails_that_scenario(tmp_path, folder, capsys):
    rc = sim_run(tmp_path, folder, extra=["--memory-limit", "10KiB", "--no-charts"])
    assert rc == 1
    assert "more than the limit of 10.0 KiB" in capsys.readouterr().err


def test_progress_bar_goes_to_stderr(tmp_path, folder, capsys):
    rc = main(["run", str(folder), "--out", str(tmp_path / "o"), "--model", str(FIXTURE),
               "--no-calibration", "--method", "euler", "--no-charts"])
    out, err = capsys.readouterr()
    assert rc == 0 and "run + write" in err and "run + write" not in out


@pytest.mark.parametrize("argv_tail, message", [
    (["missing.yaml"], "no such file or folder"),
    (["EMPTY"], "no *.yaml scenario files"),
    (["OK", "--model", "nope.mdl"], ""),
], ids=["missing-path", "empty-folder", "missing-model"])
def test_usage_errors_exit_2(tmp_path, folder, capsys, argv_tail, message):
    (tmp_path / "EMPTY").mkdir()
    tail = [str(tmp_path / "EMPTY") if a == "EMPTY" else str(folder) if a == "OK" else
            str(tmp_path / a) if a.endswith(".yaml") else a for a in argv_tail]
    argv = ["run", *tail, "--out", str(tmp_path / "o"), "--no-progress"]
    if "--model" not in argv:
        argv += ["--model", str(FIXTURE)]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_unwritable_output_is_a_usage_error(tmp_path, folder, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    assert main(["run", str(folder), "--out", str(blocker), "--model", str(FIXTURE),
                 "--method", "euler", "--no-progress", "--no-charts"]) == 2
    assert "cannot write the results" in capsys.readouterr().err


@pytest.mark.parametrize("option", [["--method", "heun"], ["--members", "0"],
                                    ["--members", "x"], ["--memory-limit", "lots"]],
                         ids=["method", "members-zero", "members-text", "memory-limit"])
def test_bad_options_exit_2(tmp_path, folder, option):
    with pytest.raises(SystemExit) as info:
        main(["run", str(folder), *option])
    assert info.value.code == 2


def test_a_calibration_of_another_model_is_warned_and_its_hash_recorded(tmp_path, capsys):
    """Check `sim run` warns of a calibration of another model and records its hash.

    The file comes from the writer; the hashes live under ``provenance``.
    """
    import hashlib

    from sim.calibration.results import SCHEMA, Calibrated, write_calibrated
    other = "0" * 64
    path = write_calibrated(tmp_path / "calibrated.yaml", {
        "schema": SCHEMA, "parameters": {"Capability Growth Rate": {"estimate": 0.04}},
        "statistics": {}, "provenance": {"model": {"path": "m.mdl", "hash": other},
                                         "data": {"path": "d.csv", "hash": "d" * 64}}})
    cal = Calibrated.read(path)
    assert (cal.model_hash, cal.data_hash) == (other, "d" * 64)
    assert cal.file_hash == hashlib.sha256(path.read_bytes()).hexdigest()
    assert cal.parameters["Capability Growth Rate"].estimate == 0.04
    (tmp_path / "b.yaml").write_text("name: b\ndescription: calibrated\n", encoding="utf-8")
    assert main(["run", str(tmp_path / "b.yaml"), "--out", str(tmp_path / "out"), "--model",
                 str(FIXTURE), "--calibrated", str(path), "--method", "euler", "--no-progress",
                 "--no-charts"]) == 0
    assert "was calibrated on another version of the model" in capsys.readouterr().err
    prov = yaml.safe_load((tmp_path / "out" / "b" / "scenario.resolved.yaml")
                          .read_text(encoding="utf-8"))["provenance"]
    assert prov["calibrated_model_hash"] == other and prov["calibrated_data_hash"] == "d" * 64
    assert prov["calibrated_hash"] == cal.file_hash
