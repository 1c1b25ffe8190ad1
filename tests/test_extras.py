"""Optional extras: the engine runs without Streamlit, matplotlib and SALib.

Commands that need one say which extra to install, before doing any work.
"""
from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BLOCK = ("import sys\n"
         "for m in ('matplotlib', 'SALib', 'streamlit'):\n"
         "    sys.modules[m] = None  # as if not installed\n"
         "from sim.cli import main\n"
         "sys.exit(main(sys.argv[1:]))\n")


def sim_without_extras(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, check=False)


def test_the_engine_installs_without_the_extras():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    base = {d.split(">")[0].split("<")[0].split("=")[0].strip().lower()
            for d in project["dependencies"]}
    assert not base & {"streamlit", "matplotlib", "salib", "ema-workbench"}
    extras = project["optional-dependencies"]
    assert any(d.startswith("matplotlib") for d in extras["report"])
    assert any(d.startswith("streamlit") for d in extras["app"])
    assert "dds-sim[report,app,ema]" in extras["test"]


def test_simulate_and_check_run_without_the_extras(tmp_path):
    model = REPO / "model" / "digital_trade.mdl"
    done = sim_without_extras("simulate", str(model), "--method", "euler", "-o",
                              str(tmp_path / "out.csv"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out.csv").read_text().startswith("Time,")
    done = sim_without_extras("check", str(model), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("args, extra", [
    (["run", "scenarios/00_baseline.yaml", "--out", "{tmp}/results"], "report"),
    (["report"], "report"),
    (["calibrate", "--out", "{tmp}/c.yaml"], "report"),
    (["sensitivity", "model/digital_trade.mdl", "--out", "{tmp}/s"], "report"),
    (["app", "--headless"], "app"),
])
def test_a_command_needing_an_extra_names_it_and_writes_nothing(tmp_path, args, extra):
    done = sim_without_extras(*[a.format(tmp=tmp_path) for a in args], cwd=REPO)
    assert done.returncode == 2, done.stderr
    assert f"pip install -e '.[{extra}]'" in done.stderr
    assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []
