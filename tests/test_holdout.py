"""The held-out check: figures after 2022, supplied from outside, against the projection.

No figure after 2022 is stored in the repository; every held-out value here is
synthetic, made up inside the test (from the repository's 2022 figures or the
model's own projection) so the expected errors are known.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.calibration import stats
from sim.calibration.holdout import check_held_out
from sim.calibration.spec import load_spec
from sim.cli import main
from sim.data.build import DERIVATIONS, read_held_out
from sim.data.observed import DataError, HeldOutRow, load_observed

REPO = Path(__file__).resolve().parents[1]
FACTS = REPO / "tests" / "data" / "observed_facts.csv"  # the repository's facts: 2010-2022
SPEC = REPO / "model" / "calibration.yaml"
COLUMNS = ["series", "year", "value", "unit", "status", "source", "url", "note"]


def _facts_2022() -> dict[str, dict]:
    with FACTS.open(encoding="utf-8") as fh:
        return {r["series"]: r for r in csv.DictReader(fh) if r["year"] == "2022"}


def write_facts(path: Path, values: dict[tuple[str, int], float], extra: list[dict] = ()) -> Path:
    """Return a facts table with the 2022 row's unit/source/url for each (series, year) -> value."""
    base = _facts_2022()
    rows = [{**base[s], "year": str(y), "value": repr(v)} for (s, y), v in values.items()]
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows([*rows, *extra])
    return path


# -------------------------------------------------------------------- reading
def test_read_held_out_keeps_later_years_and_derives(tmp_path):
    base = _facts_2022()
    path = write_facts(tmp_path / "f.csv", {
        ("china_dds_exports_unctad", 2023): 2100.0, ("china_dds_imports_unctad", 2023): 1600.0,
        ("china_dds_exports_unctad", 2022): 1.0,  # the repository's year: skipped, not compared
    })
    rows = read_held_out(path)
    assert all(isinstance(r, HeldOutRow) and r.year == 2023 for r in rows)
    got = {r.series: r.value for r in rows}
    assert got["china_dds_exports_unctad"] == 2100.0
    assert got["china_dds_total_unctad"] == pytest.approx(3700.0)  # derived as in databuild
    assert got["china_dds_balance_unctad"] == pytest.approx(500.0)
    assert base  # the facts table has the 2022 rows the synthetic ones copy


def test_read_held_out_needs_a_later_year(tmp_path):
    with pytest.raises(DataError, match="no figure after 2022"):
        read_held_out(FACTS)  # the repository's table: all within 2010-2022


@pytest.mark.parametrize(("field", "value", "message"), [
    ("series", "china_dds_exprts_unctad", r"line 2, field 'series': unknown series "
                                          r"'china_dds_exprts_unctad'.*china_dds_exports_unctad"),
    ("value", "n/a", r"line 2, field 'value': expected a finite number"),
    ("unit", "USD", r"line 2, field 'unit': unit 'USD' is inconsistent"),
    ("year", "2023.5", r"line 2, field 'year': expected an integer year"),
])
def test_read_held_out_names_file_line_and_field(tmp_path, field, value, message):
    path = write_facts(tmp_path / "bad.csv", {("china_dds_exports_unctad", 2023): 2100.0})
    rows = list(csv.DictReader(path.read_text(encoding="utf-8").splitlines()))
    rows[0][field] = value
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    with pytest.raises(DataError, match=r"bad\.csv, " + message):
        read_held_out(path)


def test_read_held_out_names_the_line_of_a_bad_row_further_down(tmp_path):
    path = write_facts(tmp_path / "later.csv", {("china_dds_exports_unctad", 2023): 2100.0,
                                                ("china_dds_imports_unctad", 2023): 1600.0,
                                                ("china_dds_exports_unctad", 2024): 2300.0})
    text = path.read_text(encoding="utf-8").replace("2300.0", "lots")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=r"later\.csv, line 4, field 'value': expected a finite "
                                        r"number, got 'lots'"):
        read_held_out(path)


def _plain_table(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_read_held_out_takes_a_users_own_sources_as_free_text(tmp_path):
    """source, url, status and note are the user's words: no registry, no url form required."""
    path = _plain_table(tmp_path / "mine.csv", COLUMNS, [
        ["china_dds_exports_unctad", "2023", "2100", "100M USD", "my estimate",
         "Ministry bulletin, 2024-03, table 4 (中文版)", "printed copy, library shelf 12",
         'note with a comma, "quotes" and\na line break'],
        ["china_dds_imports_unctad", "2023", "1600", "100M USD", "", "", "", ""],
    ])
    rows = {r.series: r for r in read_held_out(path)}
    ex = rows["china_dds_exports_unctad"]
    assert (ex.status, ex.source, ex.url) == (
        "my estimate", "Ministry bulletin, 2024-03, table 4 (中文版)",
        "printed copy, library shelf 12")
    assert ex.note == 'note with a comma, "quotes" and a line break'  # one line
    assert rows["china_dds_imports_unctad"].source == ""
    assert rows["china_dds_total_unctad"].status == "derived"


@pytest.mark.parametrize("left_out", [("note",), ("url", "note"), ("status", "source", "url", "note")],
                         ids=["no note", "no url or note", "only the required columns"])
def test_read_held_out_accepts_missing_optional_columns(tmp_path, left_out):
    header = [c for c in COLUMNS if c not in left_out]
    full = {"series": "china_dds_exports_unctad", "year": "2023", "value": "2100",
            "unit": "100M USD", "status": "quoted", "source": "UNCTAD", "url": "", "note": ""}
    path = _plain_table(tmp_path / "short.csv", header, [[full[c] for c in header]])
    (row,) = read_held_out(path)
    assert (row.series, row.year, row.value) == ("china_dds_exports_unctad", 2023, 2100.0)
    assert all(getattr(row, c) == "" for c in left_out)


@pytest.mark.parametrize(("header", "message"), [
    (["series", "year", "unit", "source"], r"line 1, field 'value': missing column\(s\) 'value'"),
    (["series", "year", "value", "unit", "sauce"], r"line 1, field 'sauce': unknown column; did "
                                                   r"you mean 'source'\?"),
], ids=["missing value column", "misspelt optional column"])
def test_read_held_out_names_a_bad_header(tmp_path, header, message):
    path = _plain_table(tmp_path / "head.csv", header, [["x"] * len(header)])
    with pytest.raises(DataError, match=r"head\.csv, " + message):
        read_held_out(path)


def test_read_held_out_refuses_duplicates(tmp_path):
    path = write_facts(tmp_path / "dup.csv", {("china_dds_exports_unctad", 2023): 1.0})
    row = next(csv.DictReader(path.read_text(encoding="utf-8").splitlines()))
    with path.open("a", encoding="utf-8", newline="") as fh:
        csv.DictWriter(fh, fieldnames=COLUMNS).writerow(row)
    with pytest.raises(DataError, match="line 3, field 'year': duplicate fact"):
        read_held_out(path)


# ---------------------------------------------------------------- computation
def _row(series, year, value, status="quoted"):
    from sim.data.observed import SERIES_UNITS
    return HeldOutRow(series=series, year=year, value=value, unit=SERIES_UNITS[series],
                      status=status, source="a user's source")


def test_check_against_a_known_ensemble():
    spec, observed = load_spec(SPEC), load_observed(REPO / "model" / "data" / "observed.csv")
    members = np.arange(1.0, 102.0)  # median 51, 5th 6, 95th 96

    def values_at(variables, year):
        if year > 2035:
            return None
        # cross-checks sum their variables: each contributes the members once
        return members * (year - 2022) * len(variables)

    rows = [_row("china_dds_exports_unctad", 2023, 60.0),
            _row("china_dds_exports_unctad", 2024, 200.0),
            _row("internet_penetration", 2023, 51.0 * 100.0),  # percent: target scale 100
            _row("china_dds_imports_unctad", 2040, 1.0),       # after the projection
            _row("china_dds_balance_unctad", 2023, 1.0, "derived")]  # measured by nothing
    check = check_held_out(rows, spec, observed, values_at)
    pts = {(p.series, p.year): p for p in check.points}
    p = pts[("china_dds_exports_unctad", 2023)]
    assert (p.median, p.low, p.high) == (51.0, 6.0, 96.0)
    assert p.error_pct == pytest.approx(100 * (51 - 60) / 60) and p.inside
    q = pts[("china_dds_exports_unctad", 2024)]
    assert q.median == 102.0 and not q.inside  # band 12-192
    assert pts[("internet_penetration", 2023)].error_pct == pytest.approx(0.0)
    score = next(s for s in check.scores if s.series == "china_dds_exports_unctad")
    assert score.n == 2 and score.inside == 1
    assert score.mape["model"] == pytest.approx((abs(51 - 60) / 60 + abs(102 - 200) / 200) * 50)
    # the benchmarks use the window's figures only
    s = observed.series("china_dds_exports_unctad")
    s = s[(s.index >= 2015) & (s.index <= 2022)]
    trend = stats.loglinear_values(stats.loglinear_trend(s.index, s.to_numpy()), [2023, 2024])
    naive = stats.naive_growth_forecast(s.index, s.to_numpy(), [2023, 2024])
    np.testing.assert_allclose([p.trend, q.trend], trend)
    np.testing.assert_allclose([p.naive, q.naive], naive)
    # share persistence: China's 2022 world share times world demand grown at the rule's drift
    w = observed.series("world_dds_exports_unctad")
    share = s.loc[2022] / w.loc[2022]
    drift = np.log(w.loc[2022] / w.loc[2015]) / 7  # the trailing seven-year mean log growth
    np.testing.assert_allclose([p.persistence, q.persistence],
                               share * w.loc[2022] * np.exp(drift * np.array([1, 2])))
    assert np.isnan(pts[("internet_penetration", 2023)].persistence)  # no driver
    assert [str(k) for k in check.skipped] == [
        "china_dds_imports_unctad 2040: after the projection's last year"]
    assert [s.series for s in check.scores] == ["china_dds_exports_unctad", "internet_penetration"]


def test_band_coverage_counts_the_figures_inside_the_band():
    """Members 1..101 at every year: band [6, 96]; 3 of the 5 figures lie inside it."""
    spec, observed = load_spec(SPEC), load_observed(REPO / "model" / "data" / "observed.csv")
    members = np.arange(1.0, 102.0)

    def values_at(variables, year):
        return members * len(variables)

    rows = [_row("china_dds_exports_unctad", 2023, 6.0),     # on the lower edge: inside
            _row("china_dds_exports_unctad", 2024, 50.0),    # inside
            _row("china_dds_exports_unctad", 2025, 97.0),    # above
            _row("china_dds_imports_unctad", 2023, 96.0),    # on the upper edge: inside
            _row("china_dds_imports_unctad", 2024, 5.5)]     # below
    check = check_held_out(rows, spec, observed, values_at)
    assert (check.inside, check.n) == (3, 5)
    assert check.coverage_pct == pytest.approx(60.0)
    by = {s.series: s for s in check.scores}
    assert (by["china_dds_exports_unctad"].inside, by["china_dds_exports_unctad"].n) == (2, 3)
    assert by["china_dds_imports_unctad"].coverage_pct == pytest.approx(50.0)

    from sim.reporting.holdout_report import (
        ALL_SERIES,
        coverage_lines,
        holdout_markdown,
        scores_frame,
    )
    frame = scores_frame(check).set_index("series")
    assert frame.loc[ALL_SERIES, ["n", "inside"]].tolist() == [5, 3]
    assert frame.loc[ALL_SERIES, "coverage_pct"] == pytest.approx(60.0)
    assert frame.loc["china_dds_exports_unctad", "coverage_pct"] == pytest.approx(200 / 3)
    assert (frame["nominal_coverage_pct"] == 90.0).all()
    lines = coverage_lines(check)
    assert lines[0].startswith("band coverage: 3 of 5 (60 %)") and "a 90 % band" in lines[0]
    assert "  China's DDS exports, UNCTAD: 2 of 3 (67 %)" in lines
    md = holdout_markdown(check, {})
    assert "**Band coverage: 3 of 5 (60 %)**" in md
    assert "| China's DDS imports, UNCTAD | primary | 2 | 1 of 2 (50 %) |" in md
    assert "china_dds_exports_unctad" not in md  # people's names, not ids


# ------------------------------------------------------------------------ CLI
@pytest.fixture(scope="module")
def projection_median():
    """Return the baseline projection's median exports at 2023-2024 with 20 members (what the CLI runs)."""
    import sim
    from sim.ensembles.batch import run_scenario
    from sim.scenarios import load_calibrated, read_scenario_file, resolve

    model = sim.load_model(REPO / "model" / "digital_trade.mdl")
    sc = read_scenario_file(REPO / "scenarios" / "00_baseline.yaml").scenarios[0]
    run = run_scenario(resolve(sc, model, load_calibrated(REPO / "model" / "calibrated.yaml"),
                               members=20), model, "scipy")
    return {y: float(np.median(run.at("Digitally Deliverable Exports", y))) for y in (2023, 2024)}


def _cli(tmp_path, facts, *extra):
    return main(["holdout", str(facts), "--members", "20",
                 "--spec", str(SPEC), "--scenario", str(REPO / "scenarios" / "00_baseline.yaml"),
                 "--calibrated", str(REPO / "model" / "calibrated.yaml"), *extra])


def test_cli_writes_the_check_outside_the_repository(tmp_path, projection_median, capsys):
    # figures 10 % above the projection's median: the model's error is -1/11 each year
    facts = write_facts(tmp_path / "later.csv", {
        ("china_dds_exports_unctad", y): 1.1 * m for y, m in projection_median.items()})
    out = tmp_path / "report" / "check.csv"
    assert _cli(tmp_path, facts, "--out", str(out)) == 0
    import pandas as pd
    table = pd.read_csv(out)
    assert list(table["year"]) == [2023, 2024]
    assert set(table["name"]) == {"China's DDS exports, UNCTAD"}
    np.testing.assert_allclose(table["error_pct"], 100 * (1 / 1.1 - 1), rtol=1e-9)
    scores = pd.read_csv(out.with_name("check.scores.csv")).set_index("series")
    inside = int(table["inside_band"].sum())
    assert scores.loc["all series", ["n", "inside"]].tolist() == [2, inside]
    assert scores.loc["all series", "coverage_pct"] == pytest.approx(50.0 * inside)
    err = capsys.readouterr().err
    assert f"band coverage: {inside} of 2 (" in err and "check.scores.csv" in err
    assert _cli(tmp_path, facts) == 0  # Markdown on standard output
    text = capsys.readouterr().out
    assert f"| China's DDS exports, UNCTAD | primary | 2 | {inside} of 2 (" in text
    assert "| 9.1 |" in text  # MAPE of the model: 1/11
    assert "sha256" in text and "seed 20250201" in text


def test_cli_refuses_an_output_inside_the_repository(tmp_path, capsys):
    facts = write_facts(tmp_path / "later.csv", {("china_dds_exports_unctad", 2023): 2100.0})
    inside = REPO / "results" / "holdout.md"
    assert _cli(tmp_path, facts, "--out", str(inside)) == 2
    err = capsys.readouterr().err
    assert "inside the repository" in err and "data after 2022 stays out" in err
    assert not inside.exists()


def test_cli_refuses_figures_inside_the_repository(tmp_path, capsys):
    assert _cli(tmp_path, REPO / "model" / "data" / "observed.csv") == 2
    assert "held-out figures are inside the repository" in capsys.readouterr().err


def test_cli_names_a_missing_file(tmp_path, capsys):
    assert _cli(tmp_path, tmp_path / "nope.csv") == 2
    assert "nope.csv: no such file" in capsys.readouterr().err


# --------------------------------------------------------------- property-based
_SERIES_2022 = sorted(_facts_2022())


@settings(max_examples=40)
@given(st.dictionaries(
    st.tuples(st.sampled_from(_SERIES_2022), st.integers(2010, 2060)),
    st.floats(1e-3, 1e6, allow_nan=False, allow_infinity=False), min_size=1, max_size=12))
def test_read_held_out_returns_exactly_the_later_figures(tmp_path_factory, figures):
    later = {k: v for k, v in figures.items() if k[1] > 2022}
    path = write_facts(tmp_path_factory.mktemp("facts") / "f.csv", figures)
    if not later:
        with pytest.raises(DataError, match="no figure after 2022"):
            read_held_out(path)
        return
    rows = read_held_out(path)
    got = {(r.series, r.year): r.value for r in rows}
    assert len(got) == len(rows)  # one row per (series, year)
    # every figure given is there, never replaced by a derivation; the rest are derivations
    assert {k: got[k] for k in later} == pytest.approx(later)
    assert {s for s, _ in set(got) - set(later)} <= {d.series for d in DERIVATIONS}
    assert all(r.year > 2022 for r in rows)
