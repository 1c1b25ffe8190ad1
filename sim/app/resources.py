"""What the app reads: calibration results and scenario files, and where from.

Each loader returns a value or raises :class:`sim.SimError` with a message the
app shows as it is; the app wraps them in Streamlit caches. Paths default to
the project folder's files (:mod:`sim.paths`) and can be redirected with
environment variables (used by the tests): ``DDS_MODEL``, ``DDS_CALIBRATED``,
``DDS_SCENARIOS`` (a directory).
"""
from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sim import scenarios as sc
from sim.errors import SimError
from sim.paths import find_project_root, project_root
from sim.project import CALIBRATED_FILE, MODEL_FILE, SCENARIOS_FOLDER


@dataclass(frozen=True)
class AppPaths:
    """Files the app reads, and the project folder they are shown relative to.

    Attributes
    ----------
    model, calibrated, scenarios : Path
        The model, its calibration, and the folder of scenario files.
    root : Path or None
        The project folder (None when every file is named by a variable and
        there is no project folder).
    """

    model: Path
    calibrated: Path
    scenarios: Path
    root: Path | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AppPaths:
        """Return the files named by ``DDS_*`` variables, the project's otherwise.

        Raises
        ------
        sim.paths.ProjectRootError
            A file is not named by a variable and there is no project folder.
        """
        env = os.environ if env is None else env
        named = {"model": env.get("DDS_MODEL"), "calibrated": env.get("DDS_CALIBRATED"),
                 "scenarios": env.get("DDS_SCENARIOS")}
        if all(named.values()):
            return cls(**{k: Path(v) for k, v in named.items()}, root=find_project_root(env=env))
        root = project_root(env=env)
        default = {"model": root.joinpath(*MODEL_FILE),
                   "calibrated": root.joinpath(*CALIBRATED_FILE),
                   "scenarios": root.joinpath(*SCENARIOS_FOLDER)}
        return cls(**{k: Path(v) if v else default[k] for k, v in named.items()}, root=root)

    def display(self, path: Path | str) -> str:
        """Return ``path`` relative to the project folder when inside it."""
        return display(path, self.root)


def display(path: Path | str, root: Path | None = None) -> str:
    """Return ``path`` relative to ``root`` (default: the project folder) when inside it."""
    root = find_project_root() if root is None else root
    if root is None:
        return str(path)
    try:
        return str(Path(path).resolve().relative_to(root))
    except ValueError:
        return str(path)


# ---------------------------------------------------------- calibration
@dataclass(frozen=True)
class CalibrationView:
    """The parts of ``calibrated.yaml`` the calibration tab shows.

    Attributes
    ----------
    parameters : dict
        Vensim name -> entry (estimate, interval, interval_bootstrap, bounds, flag, ...).
    statistics : dict
        series -> fit statistics (variable, role, r2, mape, Theil, ..., trend).
    fitted : dict
        series -> {years, observed, simulated, trend}.
    meta : dict
        description, fit summary, targets, provenance.
    """

    parameters: dict
    statistics: dict
    fitted: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)


def _mapping(doc: Mapping, key: str, where: str) -> dict:
    value = doc.get(key) or {}
    if not isinstance(value, Mapping):
        raise SimError(f"{where}, field '{key}': expected a mapping")
    return dict(value)


def load_calibration_view(path: Path) -> CalibrationView:
    """Read ``calibrated.yaml`` for display (:meth:`sim.calibration.results.Calibrated.read`).

    Raises
    ------
    FileNotFoundError
        No file.
    SimError
        Invalid YAML, wrong schema, missing sections.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(str(path))
    from sim.calibration.results import read_calibrated
    doc = read_calibrated(path)
    where = display(path)
    meta = {k: doc[k] for k in ("description", "fit", "targets", "provenance") if k in doc}
    return CalibrationView(parameters=_mapping(doc, "parameters", where),
                           statistics=_mapping(doc, "statistics", where),
                           fitted=_mapping(doc, "fitted", where), meta=meta)


def interval_text(iv) -> str:
    """``[0.036, 0.042]`` for a pair (open ends as ±∞), empty for none."""
    if not isinstance(iv, (list, tuple)) or len(iv) != 2:
        return ""

    def f(x, sign):
        if x is None or (isinstance(x, float) and not math.isfinite(x)):
            return f"{sign}∞"
        return f"{float(x):.4g}"
    return f"[{f(iv[0], '−')}, {f(iv[1], '')}]"


# ------------------------------------------------------------ scenarios
@dataclass(frozen=True)
class ScenarioChoice:
    """One entry of the scenario picker: a scenario of a file in ``scenarios/``."""

    file: str
    name: str

    @property
    def key(self) -> str:
        return f"{self.file}::{self.name}"


def list_scenario_files(directory: Path) -> list[Path]:
    """Return the scenario files in ``directory`` (``*.yaml``, ``*.yml``), sorted by name."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def scenario_choices(directory: Path) -> tuple[list[ScenarioChoice], list[str]]:
    """Every scenario of every file, and the errors of files that do not load."""
    choices, errors = [], []
    for path in list_scenario_files(directory):
        loaded = sc.read_scenario_file(path)
        errors += [str(e) for e in loaded.errors]
        choices += [ScenarioChoice(path.name, s.name) for s in loaded.scenarios]
    return choices, errors


def load_choice(directory: Path, choice_key: str) -> sc.Scenario:
    """Return the scenario a picker key names.

    Raises
    ------
    SimError
        The file or the scenario is gone or invalid.
    """
    file, _, name = choice_key.partition("::")
    path = Path(directory) / file
    for s in sc.load_scenarios(path):
        if s.name == name:
            return s
    raise sc.ScenarioError(f"{display(path)}: no scenario named '{name}'")
