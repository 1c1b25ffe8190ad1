"""Dimensional consistency: ``sim.engine.reading.units.check_units`` on the project model and on small cases."""
from __future__ import annotations

from pathlib import Path

import pytest

from sim.engine.reading.units import UnitIssue, check_units, parse_units
from sim.errors import ModelError

MODEL = Path(__file__).resolve().parents[1] / "model" / "digital_trade.mdl"

CONTROL = """
INITIAL TIME = 2015 ~ Year ~ start |
FINAL TIME = 2020 ~ Year ~ end |
TIME STEP = 0.25 ~ Year ~ step |
SAVEPER = 1 ~ Year ~ saving |
"""


def write_model(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "case.mdl"
    path.write_text("{UTF-8}\n" + body + CONTROL, encoding="utf-8")
    return path


def test_project_model_is_dimensionally_consistent():
    issues = check_units(MODEL)
    assert issues == [], "\n".join(str(i) for i in issues)


def test_adding_money_to_years_is_reported_with_the_variable(tmp_path):
    path = write_model(tmp_path, """
Exports = 911.04 ~ 100M USD ~ money |
Horizon = 20 ~ Year ~ time |
Bad Sum = Exports + Horizon ~ 100M USD ~ money plus years |
Good Sum = Exports + 1 ~ 100M USD ~ a number adopts the unit of the other operand |
""")
    issues = check_units(path)
    assert [i.variable for i in issues] == ["Bad Sum"]
    issue = issues[0]
    assert isinstance(issue, UnitIssue)
    assert issue.declared == "100M USD"
    assert "100M USD" in issue.message and "Year" in issue.message
    assert "Bad Sum" in str(issue)


CASES = {
    # id: (equations, variables expected to be reported)
    "flow_not_per_time": ("""
Stock = INTEG(Inflow, 0) ~ 100M USD ~ s |
Inflow = 5 ~ 100M USD ~ should be 100M USD/Year |
""", ["Stock"]),
    "flow_per_time_ok": ("""
Stock = INTEG(Inflow - Stock / Life, 0) ~ 100M USD ~ s |
Inflow = 5 ~ 100M USD/Year ~ f |
Life = 10 ~ Year ~ l |
""", []),
    "initial_value_wrong_unit": ("""
Stock = INTEG(0, Start) ~ 10k FTE ~ s |
Start = 3 ~ 100M USD ~ wrong unit |
""", ["Stock"]),
    "scale_mismatch": ("""
Big = 1 ~ 100M USD ~ b |
Small = 1 ~ USD ~ s |
Mixed = Big + Small ~ USD ~ scale differs by 1e8 |
""", ["Mixed"]),
    "declared_differs": ("""
Rate = 0.1 ~ 1/Year ~ r |
Level = 3 ~ 100M USD ~ l |
Flow = Rate * Level ~ 100M USD ~ should be 100M USD/Year |
""", ["Flow"]),
    "exp_of_dimensional": ("""
Span = 3 ~ Year ~ s |
Growth = EXP(Span) ~ Dmnl ~ needs a dimensionless argument |
Fine = EXP(Span / Span) ~ Dmnl ~ ok |
""", ["Growth"]),
    "dimensionless_lookup_of_time": ("""
Effect( [(0,0)-(10,1)],(0,0),(10,1)) ~ Dmnl ~ normalised table |
Used = Effect(Time) ~ Dmnl ~ Time is not dimensionless |
""", ["Used"]),
    "declared_lookup_of_time": ("""
Series( [(2015,0)-(2020,10)],(2015,1),(2020,2)) ~ 100M USD ~ table of Time |
Value = Series(Time) * 2 ~ 100M USD ~ ok |
""", []),
    "step_needs_time": ("""
Height = 2 ~ Dmnl ~ h |
Size = 1 ~ 100M USD ~ s |
Ok = 1 + STEP(Height - 1, 2016) ~ Dmnl ~ number adopts Year |
Bad = STEP(Height, Size) ~ Dmnl ~ start is money |
""", ["Bad"]),
    "power_with_variable_exponent": ("""
Level = 3 ~ 100M USD ~ l |
Ref = 2 ~ 100M USD ~ r |
Elasticity = 0.5 ~ Dmnl ~ e |
Ok = (Level / Ref) ^ Elasticity ~ Dmnl ~ dimensionless base |
Bad = Level ^ Elasticity ~ Dmnl ~ dimensional base |
Square = Level ^ 2 ~ 100M USD*100M USD ~ numeric exponent keeps units |
""", ["Bad"]),
    "if_then_else_branches": ("""
Money = 1 ~ 100M USD ~ m |
Span = 1 ~ Year ~ s |
Choice = IF THEN ELSE(Time > 2016, Money, Span) ~ 100M USD ~ branches differ |
Compare = IF THEN ELSE(Money > 2, 1, 0) ~ Dmnl ~ ok |
""", ["Choice"]),
    "smooth_and_delay": ("""
Input = 1 ~ 10k FTE/Year ~ i |
Lag = 2 ~ Year ~ l |
Smoothed = SMOOTH(Input, Lag) ~ 10k FTE/Year ~ ok |
Delayed = DELAY3(Input, Input) ~ 10k FTE/Year ~ delay time is not a time |
""", ["Delayed"]),
    "composite_units": ("""
Coefficient = 0.02 ~ 10k FTE/(100M USD*Year) ~ c |
Exports = 900 ~ 100M USD ~ e |
Attraction = Coefficient * Exports ~ 10k FTE/Year ~ ok |
Graduates = 800 ~ 10k persons/Year ~ g |
Fraction = 0.06 ~ 10k FTE/10k persons ~ f |
Entry = Graduates * Fraction ~ 10k FTE/Year ~ ok |
Ratio = XIDZ(Exports, Exports, 1) + ZIDZ(Attraction, Entry) + MIN(1, MAX(0, 1)) ~ Dmnl ~ ok |
""", []),
    "missing_units": ("""
Naked = 3 ~  ~ no unit |
""", ["Naked"]),
    "plural_equivalents": ("""
Span = 3 ~ Years ~ plural |
Total = Span + TIME STEP ~ Year ~ Years and Year are the same unit |
""", []),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_small_models(tmp_path, case):
    body, expected = CASES[case]
    issues = check_units(write_model(tmp_path, body))
    assert [i.variable for i in issues] == expected, [str(i) for i in issues]


@pytest.mark.parametrize("text, other", [
    ("100M USD", "USD"),
    ("10k FTE/(100M USD*Year)", "FTE/USD/Year"),
    ("1/Year", "Year^-1"),
    ("Dmnl", "1"),
], ids=["scaled", "composite", "inverse", "dimensionless"])
def test_parse_units_dimensions(text, other):
    assert parse_units(text).dimensionality == parse_units(other).dimensionality


def test_parse_units_keeps_scale():
    q = parse_units("100M USD/USD")
    assert q.to_base_units().magnitude == pytest.approx(1e8)


@pytest.mark.parametrize("text", ["100M USD/", "(Year", "Year^x", "*Year"],
                         ids=["trailing-op", "open-paren", "symbolic-exponent", "leading-op"])
def test_parse_units_rejects_malformed(text):
    with pytest.raises(ValueError, match="unit"):
        parse_units(text)


def test_missing_file_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="no such model file"):
        check_units(tmp_path / "absent.mdl")


def test_issue_names_declared_and_inferred_units(tmp_path):
    path = write_model(tmp_path, """
Rate = 0.1 ~ 1/Year ~ r |
Level = 3 ~ 100M USD ~ l |
Flow = Rate * Level ~ 100M USD ~ should be 100M USD/Year |
""")
    (issue,) = check_units(path)
    assert (issue.variable, issue.declared, issue.inferred) == ("Flow", "100M USD", "100M USD/Year")
