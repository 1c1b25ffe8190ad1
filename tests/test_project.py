"""The project's own facts live in sim.project, and the layers use that one copy."""
from __future__ import annotations

from sim import project
from sim.data.observed import SERIES_UNITS


def test_every_observed_series_of_an_output_is_a_known_series():
    assert {s for s, _ in project.OBSERVED_FOR.values()} <= set(SERIES_UNITS)


def test_charts_and_app_draw_the_same_observed_series():
    from sim.app.state import OBSERVED_FOR
    from sim.reporting.scenario_output import OBSERVED_SERIES
    assert OBSERVED_FOR is project.OBSERVED_FOR
    assert OBSERVED_SERIES == {v: s for v, (s, same) in project.OBSERVED_FOR.items() if same}
    assert "Digital Talent" not in OBSERVED_SERIES  # a proxy: drawn by the app only
    assert project.observed_series(proxies=True)["Digital Talent"] == "rd_personnel_fte"


def test_years_hang_together():
    assert project.CALIBRATION_WINDOW[1] == project.LAST_OBSERVED_YEAR
    assert all(o < project.LAST_OBSERVED_YEAR for o in project.EXANTE_ORIGINS)
    assert min(project.REPORT_YEARS) > project.LAST_OBSERVED_YEAR
    assert project.HORIZON == max(project.REPORT_YEARS)


def test_levers_and_names_are_the_projects():
    from sim.app.i18n import VARIABLE_NAMES
    from sim.reporting.labels import LEVER_NAMES
    from sim.scenarios import LEVERS
    assert LEVERS is project.LEVERS and set(LEVER_NAMES) == set(LEVERS)
    assert VARIABLE_NAMES is project.VARIABLE_NAMES
    assert {lv.value for lv in LEVERS.values()} <= set(VARIABLE_NAMES)


def test_importing_the_project_module_loads_nothing_else():
    import subprocess
    import sys
    code = ("import sys; import sim.project; "
            "print(sorted(m for m in sys.modules if m.startswith(('sim.', 'numpy', 'pandas'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['sim.project']"
