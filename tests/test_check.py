"""`sim check`: structure, units, step and expectation checks on small models with known answers."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from sim.checks.expectations import ExpectationsError, check_expectations, load_expectations
from sim.checks.run import run_checks
from sim.checks.step import check_step
from sim.checks.structure import check_structure
from sim.cli import main
from sim.engine.model import load_model

REPO = Path(__file__).resolve().parents[1]

CONTROL = """
INITIAL TIME = 0
	~	Month
	~	|
FINAL TIME = 10
	~	Month
	~	|
TIME STEP = {dt}
	~	Month
	~	|
SAVEPER = 1
	~	Month
	~	|
"""

# S(t) = 100 exp(-t / tau): falls, stays positive, vanishes; tau = 2 months.
DECAY = """{{UTF-8}}
Stock = INTEG(-Outflow, 100)
	~	Widget
	~	|
Outflow = Stock / Residence Time
	~	Widget/Month
	~	|
Residence Time = {tau}
	~	Month
	~	|
""" + CONTROL


def write(tmp_path: Path, text: str, name: str = "m.mdl") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def decay(tmp_path: Path, dt: float = 0.0625, tau: float = 2) -> Path:
    return write(tmp_path, DECAY.format(dt=dt, tau=tau))


def by_name(outcomes):
    return {o.name: o for o in outcomes}


# ------------------------------------------------------------------ structure
def test_structure_passes_on_a_clean_model(tmp_path):
    assert all(o.passed for o in check_structure(load_model(decay(tmp_path))))


def test_structure_names_a_flowless_stock_an_unused_constant_and_a_unitless_one(tmp_path):
    text = """{UTF-8}
Stock = INTEG(0, 5)
	~	Widget
	~	|
Unused Rate = 3
	~	1/Month
	~	|
Bare = 2
	~	
	~	|
Shown = Stock * Bare
	~	Widget
	~	|
""" + CONTROL.format(dt=1)
    out = by_name(check_structure(load_model(write(tmp_path, text))))
    assert not out["every stock has a flow"].passed
    assert "Stock" in out["every stock has a flow"].detail
    assert not out["every constant and lookup is used"].passed
    assert "Unused Rate" in out["every constant and lookup is used"].detail
    assert "Bare" not in out["every constant and lookup is used"].detail
    assert not out["every constant has a unit"].passed
    assert "Bare" in out["every constant has a unit"].detail


def test_a_lookup_called_by_an_equation_is_used(tmp_path):
    text = """{UTF-8}
Table(
	[(0,0)-(10,10)],(0,1),(10,3))
	~	Widget/Month
	~	|
Stock = INTEG(Table(Time), 0)
	~	Widget
	~	|
""" + CONTROL.format(dt=1)
    out = by_name(check_structure(load_model(write(tmp_path, text))))
    assert out["every constant and lookup is used"].passed, out["every constant and lookup is used"]


# ----------------------------------------------------------------------- step
def test_step_check_passes_with_a_fine_step_and_fails_with_a_coarse_one(tmp_path):
    # Euler's relative error of exp(-t / tau) at t is about t dt / (2 tau^2); halving dt
    # changes the stock by half of that: 0.6 % at t = 10 for tau = 5, dt = 1/16; 10 % for dt = 1
    fine = check_step(load_model(decay(tmp_path, 0.0625, tau=5)))
    assert fine.passed, fine.detail
    coarse = check_step(load_model(decay(tmp_path, 1.0, tau=5)))
    assert not coarse.passed
    assert "Stock" in coarse.detail


# --------------------------------------------------------------- expectations
def spec(tmp_path: Path, body: str) -> Path:
    return write(tmp_path, "schema: sim.checks/1\nexpectations:\n" + body, "e.yaml")


@pytest.mark.parametrize("item, passed", [
    ("{variable: Stock, falls: true}", True),
    ("{variable: Stock, rises: true}", False),
    ("{variable: Stock, at_least: 0}", True),
    ("{variable: Stock, at_most: 50}", False),
    ("{variable: Residence Time, equals: 2}", True),
    ("{variable: Stock, equals: 100, during: [0, 0]}", True),
    ("{variable: Stock, vanishes_within: 10, fraction: 0.01}", True),   # exp(-5) = 0.7 %
    ("{variable: Stock, vanishes_within: 4, fraction: 0.01}", False),   # exp(-2) = 13.5 %
    ("{variable: Stock, vs_baseline: same}", True),
])
def test_each_test_on_the_baseline_decay(tmp_path, item, passed):
    model = load_model(decay(tmp_path))
    e = load_expectations(spec(tmp_path, f"  - name: t\n    expect:\n      - {item}\n"))
    (out,) = check_expectations(model, e)
    assert out.passed is passed, out.detail


def test_set_and_from_change_the_run_against_the_baseline(tmp_path):
    model = load_model(decay(tmp_path))
    e = load_expectations(spec(tmp_path, """  - name: slower drain from month 5
    set: {Residence Time: 4}
    from: 5
    expect:
      - {variable: Stock, vs_baseline: higher}
      - {variable: Stock, vs_baseline: same, during: [0, 5]}
      - {variable: Stock, vs_baseline: lower}
"""))
    higher, same, lower = check_expectations(model, e)
    assert higher.passed and same.passed
    assert not lower.passed


@pytest.mark.parametrize("body, field, words", [
    ("  - name: a\n    expect:\n      - {variable: Stock, falls: true, rises: true}\n",
     "expectations[0].expect[0]", "exactly one test"),
    ("  - name: a\n    expect:\n      - {variable: Stock, shrinks: true}\n",
     "expectations[0].expect[0].shrinks", "unknown key; accepted: variable"),
    ("  - name: a\n    when: {x: 1}\n    expect:\n      - {variable: Stock, falls: true}\n",
     "expectations[0].when", "unknown key; accepted: name, why, set, from, expect"),
    ("  - name: a\n    expect:\n      - {variable: Stock, vs_baseline: smaller}\n",
     "expectations[0].expect[0].vs_baseline", "'lower', 'higher' or 'same'"),
    ("  - name: a\n    expect: []\n", "expectations[0].expect", "at least 1"),
])
def test_bad_expectations_name_the_file_and_field(tmp_path, body, field, words):
    with pytest.raises(ExpectationsError) as err:
        load_expectations(spec(tmp_path, body))
    assert "e.yaml" in str(err.value) and f"field '{field}'" in str(err.value)
    assert words in str(err.value)


def test_unknown_variable_and_non_constant_input_are_named(tmp_path):
    model = load_model(decay(tmp_path))
    e = load_expectations(spec(tmp_path, "  - name: a\n    expect:\n"
                                         "      - {variable: Stok, falls: true}\n"))
    with pytest.raises(ExpectationsError, match=r"no variable 'Stok'; did you mean 'Stock'"):
        check_expectations(model, e, "e.yaml")
    e = load_expectations(spec(tmp_path, "  - name: a\n    set: {Outflow: 0}\n    expect:\n"
                                         "      - {variable: Stock, falls: true}\n"))
    with pytest.raises(ExpectationsError, match=r"expectations\[0\]\.set.*not a constant"):
        check_expectations(model, e, "e.yaml")


# --------------------------------------------------------------------- command
def test_the_projects_model_passes_every_check(capsys):
    assert main(["check", str(REPO / "model" / "digital_trade.mdl"), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["passed"] is True
    categories = {c["category"] for c in doc["checks"]}
    assert categories == {"structure", "units", "step", "expectations"}
    assert sum(c["category"] == "expectations" for c in doc["checks"]) >= 10


def test_a_failing_check_exits_1_and_the_table_says_which(tmp_path, capsys):
    path = decay(tmp_path, 1.0)
    assert main(["check", str(path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "halving TIME STEP" in out and "1 failed" in out


def test_bad_input_exits_2_with_the_message(tmp_path, capsys):
    path = decay(tmp_path)
    bad = write(tmp_path, "schema: sim.checks/2\nexpectations: []\n", "bad.yaml")
    assert main(["check", str(path), "--expectations", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml, field 'schema'" in err
    assert main(["check", str(path), "--expectations", str(tmp_path / "none.yaml")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_expectations_beside_the_model_are_found(tmp_path):
    path = decay(tmp_path)
    write(tmp_path, "schema: sim.checks/1\nexpectations:\n  - name: drains\n    expect:\n"
                    "      - {variable: Stock, falls: true}\n", "m.checks.yaml")
    names = [o.name for o in run_checks(path)]
    assert "drains: Stock falls" in names
