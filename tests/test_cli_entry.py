"""The command's entry points: ``sim --version`` and ``python -m sim``."""
from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from sim.cli import main

REPO = Path(__file__).resolve().parents[1]


def test_version_names_the_installed_package(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"sim {metadata.version('dds-sim')}\n"


def test_python_dash_m_sim_is_the_sim_command():
    out = subprocess.run([sys.executable, "-m", "sim", "--version"], capture_output=True,
                         text=True, timeout=60, cwd=REPO)
    assert out.returncode == 0 and out.stdout.startswith("sim ")
    bad = subprocess.run([sys.executable, "-m", "sim", "no-such-command"], capture_output=True,
                         text=True, timeout=60, cwd=REPO)
    assert bad.returncode == 2 and "invalid choice: 'no-such-command'" in bad.stderr
