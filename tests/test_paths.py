"""The project folder is found by one rule (sim.paths), wherever a command runs from."""
from __future__ import annotations

from pathlib import Path

import pytest

from sim.paths import (
    MARKER,
    ROOT_ENV,
    ProjectRootError,
    default_file,
    find_project_root,
    installation_root,
    optional_project_file,
    project_file,
    project_root,
)

REPO = Path(__file__).resolve().parents[1]


def make_project(folder: Path) -> Path:
    (folder / MARKER).parent.mkdir(parents=True)
    (folder / MARKER).write_text("{UTF-8}\n", encoding="utf-8")
    return folder


def test_the_root_is_the_nearest_folder_holding_the_model(tmp_path, monkeypatch):
    monkeypatch.delenv(ROOT_ENV, raising=False)
    root = make_project(tmp_path / "proj")
    deep = root / "scenarios" / "sub"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert project_root() == root.resolve()
    assert project_file("model", "calibrated.yaml") == root.resolve() / "model" / "calibrated.yaml"
    monkeypatch.chdir(root)
    assert project_file("model", "calibrated.yaml") == Path("model/calibrated.yaml")
    assert default_file(None, "scenarios") == "scenarios"
    assert default_file("x.mdl", "model", "digital_trade.mdl") == "x.mdl"


def test_the_environment_variable_wins_and_must_name_a_project(tmp_path, monkeypatch):
    root = make_project(tmp_path / "proj")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(ROOT_ENV, str(root))
    assert project_root() == root.resolve()
    monkeypatch.setenv(ROOT_ENV, str(tmp_path))
    with pytest.raises(ProjectRootError, match=f"{ROOT_ENV}=.*not a project folder"):
        project_root()


def test_outside_any_project_the_error_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.delenv(ROOT_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert find_project_root() is None and optional_project_file("model") is None
    with pytest.raises(ProjectRootError, match=f"no project folder at or above .*set {ROOT_ENV}"):
        project_root()
    with pytest.raises(ProjectRootError, match="no project folder"):
        default_file(None, "model", "digital_trade.mdl")


def test_the_installation_is_this_checkout():
    assert installation_root() == REPO


def test_sim_app_outside_a_project_serves_the_installations_app(tmp_path, monkeypatch):
    from sim.commands.app import APP_FILE, app_folder
    monkeypatch.delenv(ROOT_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert app_folder() / APP_FILE == REPO / "app.py"


def test_sim_run_outside_a_project_needs_the_model_named(tmp_path, monkeypatch, capsys):
    from sim.cli import main
    monkeypatch.delenv(ROOT_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text("name: s\ndescription: d\n", encoding="utf-8")
    assert main(["run", "s.yaml", "--no-progress"]) == 2
    assert "error: no project folder at or above" in capsys.readouterr().err
