"""Tests of the observed data, its provenance, the builder and the loader."""
from __future__ import annotations

import csv
import hashlib
import io
import re
import shutil
from pathlib import Path
from typing import get_args

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.data.build import (
    FACTS_COLUMNS,
    SOURCE_REGISTRY,
    build_observed,
    main,
    observed_csv_bytes,
    write_observed,
)
from sim.data.observed import (
    OBSERVED_COLUMNS,
    SERIES_UNITS,
    SOURCE_COLUMNS,
    DataError,
    ObservedRow,
    Source,
    Status,
    default_observed,
    default_sources,
    load_observed,
    load_sources,
    parse_observed,
)

REPO = Path(__file__).resolve().parents[1]
#: The facts table ``model/data`` is built from, copied into the repository (see
#: tests/data/README.md); it holds no figure after 2022.
FACTS = REPO / "tests" / "data" / "observed_facts.csv"

SOURCES = [
    {"source_id": "unctad_dds", "publisher": "UNCTAD", "title": "DDS trade",
     "url": "https://unctadstat.unctad.org", "note": ""},
    {"source_id": "cnnic", "publisher": "CNNIC", "title": "Internet report",
     "url": "", "note": ""},
]
GOOD_ROWS = [
    {"series": "china_dds_exports_unctad", "year": "2015", "value": "911.04",
     "unit": "100M USD", "status": "quoted", "source_id": "unctad_dds", "note": ""},
    {"series": "china_dds_exports_unctad", "year": "2016", "value": "915.1",
     "unit": "100M USD", "status": "quoted", "source_id": "unctad_dds", "note": ""},
    {"series": "internet_penetration", "year": "2015", "value": "50.3",
     "unit": "percent", "status": "quoted", "source_id": "cnnic", "note": "year-end"},
]


def write_csv(path: Path, records: list[dict], columns=None) -> Path:
    columns = list(columns or records[0])
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
    return path


def write_tables(tmp_path: Path, rows: list[dict], sources=SOURCES) -> Path:
    write_csv(tmp_path / "sources.csv", sources, SOURCE_COLUMNS)
    return write_csv(tmp_path / "observed.csv", rows, OBSERVED_COLUMNS)


def with_change(index: int, **changes) -> list[dict]:
    rows = [dict(r) for r in GOOD_ROWS]
    rows[index].update(changes)
    return rows


def read_facts() -> dict[tuple[str, int], float]:
    with FACTS.open(newline="", encoding="utf-8") as fh:
        return {(r["series"], int(r["year"])): float(r["value"])
                for r in csv.DictReader(fh)}


# --- loader: good input ---------------------------------------------------------

def test_small_valid_tables_load(tmp_path):
    data = load_observed(write_tables(tmp_path, GOOD_ROWS))
    assert [(r.series, r.year, r.value) for r in data.rows] == [
        ("china_dds_exports_unctad", 2015, 911.04),
        ("china_dds_exports_unctad", 2016, 915.1),
        ("internet_penetration", 2015, 50.3)]
    assert [s.source_id for s in data.sources] == ["unctad_dds", "cnnic"]


def test_series_is_indexed_by_year_with_unit(tmp_path):
    rows = list(reversed(GOOD_ROWS))  # file order must not matter
    data = load_observed(write_tables(tmp_path, rows))
    got = data.series("china_dds_exports_unctad")
    expected = pd.Series([911.04, 915.1], index=pd.Index([2015, 2016], name="year"),
                         name="china_dds_exports_unctad")
    pd.testing.assert_series_equal(got, expected)
    assert got.attrs["unit"] == "100M USD"


def test_series_known_but_absent_is_empty(tmp_path):
    data = load_observed(write_tables(tmp_path, GOOD_ROWS))
    assert data.series("cloud_market_size").empty


def test_series_unknown_name_suggests(tmp_path):
    data = load_observed(write_tables(tmp_path, GOOD_ROWS))
    with pytest.raises(KeyError, match="did you mean 'internet_penetration'"):
        data.series("internet_penetraton")


def test_frame_is_tidy(tmp_path):
    frame = load_observed(write_tables(tmp_path, GOOD_ROWS)).frame()
    assert list(frame.columns) == list(OBSERVED_COLUMNS)
    assert frame["year"].tolist() == [2015, 2016, 2015]
    np.testing.assert_array_equal(frame["value"].to_numpy(), [911.04, 915.1, 50.3])


def test_data_hash_is_sha256_of_both_files(tmp_path):
    path = write_tables(tmp_path, GOOD_ROWS)
    expected = hashlib.sha256(path.read_bytes()
                              + (tmp_path / "sources.csv").read_bytes()).hexdigest()
    assert load_observed(path).data_hash == expected


def test_data_hash_changes_with_sources(tmp_path):
    path = write_tables(tmp_path, GOOD_ROWS)
    before = load_observed(path).data_hash
    changed = [dict(SOURCES[0], title="DDS trade, revised"), SOURCES[1]]
    write_tables(tmp_path, GOOD_ROWS, changed)
    assert load_observed(path).data_hash != before


def test_explicit_sources_path(tmp_path):
    obs = write_tables(tmp_path, GOOD_ROWS)
    other = tmp_path / "elsewhere"
    other.mkdir()
    moved = shutil.move(tmp_path / "sources.csv", other / "refs.csv")
    assert len(load_observed(obs, sources_path=moved).sources) == 2


# --- loader: bad input ----------------------------------------------------------

BAD_ROWS = [
    pytest.param({"series": "china_dds_export_unctad"},
                 r"observed\.csv, line 3, field 'series': unknown series "
                 r"'china_dds_export_unctad'; did you mean 'china_dds_exports_unctad'\?",
                 id="unknown-series"),
    pytest.param({"unit": "100M RMB"},
                 r"line 3, field 'unit': unit '100M RMB' is inconsistent with series "
                 r"'china_dds_exports_unctad'; expected '100M USD'", id="unit-mismatch"),
    pytest.param({"year": "2023"},
                 r"line 3, field 'year': year 2023 outside 2010-2022; later years are "
                 r"held out of the repository", id="year-held-out"),
    pytest.param({"year": "2009"}, r"line 3, field 'year': year 2009 outside 2010-2022",
                 id="year-too-early"),
    pytest.param({"year": "2016.5"},
                 r"line 3, field 'year': expected an integer year, got '2016\.5'",
                 id="year-not-integer"),
    pytest.param({"value": "n/a"},
                 r"line 3, field 'value': expected a finite number, got 'n/a'",
                 id="value-text"),
    pytest.param({"value": ""}, r"line 3, field 'value': expected a finite number",
                 id="value-empty"),
    pytest.param({"value": "nan"}, r"line 3, field 'value': expected a finite number, "
                 r"got 'nan'", id="value-nan"),
    pytest.param({"value": "-inf"}, r"line 3, field 'value': expected a finite number",
                 id="value-inf"),
    pytest.param({"source_id": "unctad_dd"},
                 r"line 3, field 'source_id': unknown source_id 'unctad_dd'; did you "
                 r"mean 'unctad_dds'\? \(expected an id listed in sources\.csv\)",
                 id="unknown-source"),
    pytest.param({"source_id": ""}, r"line 3, field 'source_id': empty source_id",
                 id="empty-source"),
    pytest.param({"note": "two\nlines"},
                 r"line 3, field 'note': control character '\\n' in note",
                 id="multiline-note"),
    pytest.param({"status": "guessed"},
                 r"line 3, field 'status': .*'quoted', 'derived', 'seed' or "
                 r"'memory-unverified'; got 'guessed'", id="bad-status"),
]


@pytest.mark.parametrize(("change", "match"), BAD_ROWS)
def test_bad_row_is_rejected(tmp_path, change, match):
    path = write_tables(tmp_path, with_change(1, **change))
    with pytest.raises(DataError, match=match):
        load_observed(path)


def test_duplicate_series_year_is_rejected(tmp_path):
    path = write_tables(tmp_path, with_change(1, year="2015", value="1.0"))
    with pytest.raises(DataError, match=r"line 3, field 'year': duplicate row for "
                       r"series 'china_dds_exports_unctad', year 2015 \(first on line 2\)"):
        load_observed(path)


@pytest.mark.parametrize("column", [c for c in OBSERVED_COLUMNS if c != "note"])
def test_missing_column_is_rejected(tmp_path, column):
    columns = [c for c in OBSERVED_COLUMNS if c != column]
    rows = [{k: v for k, v in r.items() if k != column} for r in GOOD_ROWS]
    write_tables(tmp_path, GOOD_ROWS)
    path = write_csv(tmp_path / "observed.csv", rows, columns)
    with pytest.raises(DataError, match=rf"observed\.csv, line 1, field '{column}': "
                       rf"missing column\(s\) '{column}'; expected columns series,year"):
        load_observed(path)


def test_note_column_is_optional(tmp_path):
    write_tables(tmp_path, GOOD_ROWS)
    rows = [{k: v for k, v in r.items() if k != "note"} for r in GOOD_ROWS]
    path = write_csv(tmp_path / "observed.csv", rows, OBSERVED_COLUMNS[:-1])
    assert [r.note for r in load_observed(path).rows] == ["", "", ""]


def test_unknown_column_is_rejected(tmp_path):
    write_tables(tmp_path, GOOD_ROWS)
    rows = [dict(r, comment="x") for r in GOOD_ROWS]
    path = write_csv(tmp_path / "observed.csv", rows, [*OBSERVED_COLUMNS, "comment"])
    with pytest.raises(DataError, match=r"line 1, field 'comment': unknown column"):
        load_observed(path)


def test_wrong_field_count_is_rejected(tmp_path):
    path = write_tables(tmp_path, GOOD_ROWS)
    path.write_text(path.read_text() + "internet_penetration,2016,53.2,percent\n")
    with pytest.raises(DataError, match=r"line 5: 4 fields, expected 7"):
        load_observed(path)


def test_empty_file_is_rejected(tmp_path):
    path = write_tables(tmp_path, GOOD_ROWS)
    path.write_text("")
    with pytest.raises(DataError, match=r"observed\.csv, line 1: empty file"):
        load_observed(path)


def test_missing_file_is_rejected(tmp_path):
    write_tables(tmp_path, GOOD_ROWS)
    with pytest.raises(DataError, match=r"nothere\.csv: file not found"):
        load_observed(tmp_path / "nothere.csv")


def test_non_utf8_is_rejected(tmp_path):
    path = write_tables(tmp_path, GOOD_ROWS)
    path.write_bytes(path.read_bytes().replace(b"year-end", b"year\xff"))
    with pytest.raises(DataError, match=r"observed\.csv: not UTF-8 text"):
        load_observed(path)


@pytest.mark.parametrize(("change", "match"), [
    pytest.param({"source_id": "Bad Id"}, r"line 3, field 'source_id': invalid id",
                 id="bad-id"),
    pytest.param({"title": " "}, r"line 3, field 'title': empty title", id="no-title"),
    pytest.param({"url": "www.cnnic.cn"}, r"line 3, field 'url': invalid url",
                 id="bad-url"),
])
def test_bad_source_is_rejected(tmp_path, change, match):
    path = write_tables(tmp_path, GOOD_ROWS, [SOURCES[0], dict(SOURCES[1], **change)])
    with pytest.raises(DataError, match=r"sources\.csv, " + match):
        load_observed(path)


def test_duplicate_source_id_is_rejected(tmp_path):
    write_tables(tmp_path, GOOD_ROWS, [dict(SOURCES[0], source_id="cnnic"), SOURCES[1]])
    with pytest.raises(DataError, match=r"sources\.csv, line 3, field 'source_id': "
                       r"duplicate id 'cnnic' \(first on line 2\)"):
        load_sources(tmp_path / "sources.csv")


def test_missing_source_column_is_rejected(tmp_path):
    path = write_csv(tmp_path / "sources.csv",
                     [{k: v for k, v in s.items() if k != "publisher"} for s in SOURCES])
    with pytest.raises(DataError, match=r"line 1, field 'publisher': missing column"):
        load_sources(path)


def test_row_model_validates_on_construction():
    with pytest.raises(ValueError, match="later years are held out"):
        ObservedRow(series="china_gdp_usd", year=2023, value=1.0, unit="billion USD",
                    status="quoted", source_id="wb_wdi")


# --- property-based: round trip and corruption ----------------------------------

PROP_SOURCES = [Source(source_id="src_a", publisher="P", title="T"),
                Source(source_id="src_b", publisher="Q", title="U", url="https://x.org")]
_notes = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
                 max_size=20)


@st.composite
def valid_rows(draw, min_size=0):
    specs = draw(st.lists(
        st.tuples(st.sampled_from(sorted(SERIES_UNITS)), st.integers(2010, 2022)),
        min_size=min_size, max_size=12, unique=True))
    return [ObservedRow(series=s, year=y, unit=SERIES_UNITS[s],
                        value=draw(st.floats(allow_nan=False, allow_infinity=False)),
                        status=draw(st.sampled_from(get_args(Status))),
                        source_id=draw(st.sampled_from(["src_a", "src_b"])),
                        note=draw(_notes))
            for s, y in specs]


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(rows=valid_rows())
def test_loader_round_trips_valid_rows(tmp_path_factory, rows):
    out = tmp_path_factory.mktemp("roundtrip")
    write_observed(rows, PROP_SOURCES, out)
    data = load_observed(out / "observed.csv")
    assert data.rows == tuple(rows)
    assert data.sources == tuple(PROP_SOURCES)


def _other_unit(series: str):
    return st.sampled_from(sorted(set(SERIES_UNITS.values()) - {SERIES_UNITS[series]}))


CORRUPTIONS = {
    "series": lambda row: st.from_regex(r"[a-z0-9_]{1,30}", fullmatch=True).filter(
        lambda s: s not in SERIES_UNITS),
    "year": lambda row: st.one_of(st.integers(max_value=2009).map(str),
                                  st.integers(min_value=2023).map(str),
                                  st.sampled_from(["", "twenty", "2015.5", "2e3"])),
    "value": lambda row: st.sampled_from(["", "nan", "NaN", "inf", "-inf", "1e999",
                                          "abc", "1,5", "0x10"]),
    "unit": lambda row: _other_unit(row.series),
    # line breaks would split the CSV row itself (reported as a field-count error)
    "status": lambda row: st.text(st.characters(blacklist_characters="\r\n",
                                                blacklist_categories=("Cs",)),
                                  max_size=12).filter(lambda s: s not in get_args(Status)),
    "source_id": lambda row: st.from_regex(r"[a-z_]{0,12}", fullmatch=True).filter(
        lambda s: s not in {"src_a", "src_b"}),
}


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_loader_rejects_a_corrupted_field(data):
    rows = data.draw(valid_rows(min_size=1))
    index = data.draw(st.integers(0, len(rows) - 1), label="index")
    field = data.draw(st.sampled_from(sorted(CORRUPTIONS)), label="field")
    bad = data.draw(CORRUPTIONS[field](rows[index]), label="bad value")
    records = [[r.series, str(r.year), repr(r.value), r.unit, r.status, r.source_id,
                r.note] for r in rows]
    records[index][OBSERVED_COLUMNS.index(field)] = bad
    text = _to_csv([list(OBSERVED_COLUMNS), *records])
    with pytest.raises(DataError, match=rf"^bad\.csv, line {index + 2}, field '{field}'"):
        parse_observed(text.encode("utf-8"), "bad.csv", ["src_a", "src_b"])


def _to_csv(records: list[list[str]]) -> str:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\n").writerows(records)
    return buffer.getvalue()


# --- the committed data ---------------------------------------------------------

@pytest.fixture(scope="module")
def committed():
    return load_observed(default_observed(), default_sources())


def test_committed_data_loads_with_every_registered_series(committed):
    assert {r.series for r in committed.rows} == set(SERIES_UNITS)


def test_every_committed_source_is_used(committed):
    assert {s.source_id for s in committed.sources} == {r.source_id for r in committed.rows}


def test_no_year_after_2022_is_committed(committed):
    years = committed.frame()["year"]
    assert years.max() <= 2022
    assert years.min() >= 2010


@pytest.mark.parametrize("name", ["observed.csv", "sources.csv", "README.md"])
def test_no_later_year_token_in_data_dir(name):
    text = (default_observed().parent / name).read_text(encoding="utf-8")
    late = re.findall(r"(?:^|[,;\t ])(20(?:2[3-9]|[3-9]\d))(?=[,;\t ]|$)", text, re.M)
    assert late == []


def test_readme_documents_every_series():
    readme = (default_observed().parent / "README.md").read_text(encoding="utf-8")
    assert [s for s in SERIES_UNITS if f"`{s}`" not in readme] == []


def test_vintages_stay_separate_series(committed):
    assert committed.series("china_dds_total_mofcom")[2015] == 2000.0
    assert committed.series("china_dds_total_seed001")[2015] == 1794.0
    assert committed.series("china_dds_total_unctad")[2015] == pytest.approx(1740.89)


def test_rmb_series_stays_in_rmb(committed):
    cloud = committed.series("cloud_market_size")
    assert cloud.attrs["unit"] == "100M RMB"
    assert cloud[2022] == 4550.0


@pytest.mark.parametrize(("series", "year", "expected"), [
    ("china_world_share_dds_exports", 2015, 911.04 / 24820.5),
    ("china_world_share_dds_exports", 2022, 2070.07 / 40839.6),
    ("digital_economy_size_usd", 2015, 11061.57 * 10 * 27.5 / 100),
    ("digital_economy_size_usd", 2022, 17881.78 * 10 * 41.5 / 100),
    ("china_dds_balance_unctad", 2022, 2070.07 - 1571.58),
    ("china_dds_total_unctad", 2015, 911.04 + 829.85),
])
def test_derived_values_from_known_figures(committed, series, year, expected):
    row = next(r for r in committed.rows if (r.series, r.year) == (series, year))
    assert row.value == pytest.approx(expected, rel=0, abs=DERIVED[series][2])
    assert row.status == "derived"
    assert "derived:" in row.note


# inputs, formula, and absolute tolerance = half the documented rounding step
DERIVED = {
    "china_world_share_dds_exports": (
        ("china_dds_exports_unctad", "world_dds_exports_unctad"), lambda a, b: a / b,
        0.5e-8),
    "china_dds_balance_unctad": (
        ("china_dds_exports_unctad", "china_dds_imports_unctad"), lambda a, b: a - b,
        0.5e-4),
    "china_dds_total_unctad": (
        ("china_dds_exports_unctad", "china_dds_imports_unctad"), lambda a, b: a + b,
        0.5e-4),
    "digital_economy_size_usd": (
        ("china_gdp_usd", "digital_economy_share_gdp"), lambda g, s: g * 10 * s / 100,
        0.5e-4),
}


@pytest.mark.parametrize("series", sorted(DERIVED))
def test_derived_series_match_raw_facts(committed, series):
    (a, b), op, atol = DERIVED[series]
    facts = read_facts()
    years = sorted({y for s, y in facts if s == a} & {y for s, y in facts if s == b})
    expected = np.array([op(facts[a, y], facts[b, y]) for y in years])
    got = committed.series(series)
    assert got.index.tolist() == years
    np.testing.assert_allclose(got.to_numpy(), expected, rtol=0, atol=atol)


def test_digital_economy_size_covers_2015_to_2022(committed):
    assert committed.series("digital_economy_size_usd").index.tolist() == list(
        range(2015, 2023))


# --- the builder ----------------------------------------------------------------

def test_committed_csvs_equal_a_fresh_build(tmp_path):
    rows, sources = build_observed(FACTS)
    write_observed(rows, sources, tmp_path)
    assert (tmp_path / "observed.csv").read_bytes() == default_observed().read_bytes()
    assert (tmp_path / "sources.csv").read_bytes() == default_sources().read_bytes()


def test_main_is_deterministic(tmp_path, capsys):
    assert main([str(FACTS), str(tmp_path / "a")]) == 0
    assert main([str(FACTS), str(tmp_path / "a")]) == 0
    assert main([str(FACTS), str(tmp_path / "b")]) == 0
    for name in ("observed.csv", "sources.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert "wrote" in capsys.readouterr().out


def test_repository_facts_hold_nothing_after_2022():
    # data after 2022 stays out of the repository (README, data policy)
    with FACTS.open(newline="", encoding="utf-8") as fh:
        years = {int(r["year"]) for r in csv.DictReader(fh)}
    assert min(years) == 2010 and max(years) == 2022


def test_every_fact_in_window_is_kept_unchanged(committed):
    facts = read_facts()
    in_window = {k: v for k, v in facts.items() if 2010 <= k[1] <= 2022}
    committed_values = {(r.series, r.year): r.value for r in committed.rows}
    assert {k: committed_values.get(k) for k in in_window} == in_window
    added = {s for s, _ in set(committed_values) - set(in_window)}
    assert added == set(DERIVED)


FACT = {"series": "china_dds_exports_unctad", "year": "2015", "value": "911.04",
        "unit": "100M USD", "status": "quoted",
        "source": next(iter(SOURCE_REGISTRY)), "url": "https://unctadstat.unctad.org",
        "note": ""}


def _facts(tmp_path: Path, *changes: dict) -> Path:
    return write_csv(tmp_path / "facts.csv", [dict(FACT, **c) for c in changes],
                     FACTS_COLUMNS)


def test_build_drops_years_outside_window(tmp_path):
    rows, _ = build_observed(_facts(tmp_path, {}, {"year": "2023"}, {"year": "2009"}))
    assert [(r.series, r.year) for r in rows] == [("china_dds_exports_unctad", 2015)]


def test_build_rejects_unknown_fact_source(tmp_path):
    path = _facts(tmp_path, {}, {"year": "2016", "source": "Some new yearbook"})
    with pytest.raises(DataError, match=r"facts\.csv, line 3, field 'source': unknown "
                       r"source 'Some new yearbook'.*SOURCE_REGISTRY"):
        build_observed(path)


def test_build_rejects_unit_not_in_registry(tmp_path):
    path = _facts(tmp_path, {"unit": "million USD"})
    with pytest.raises(DataError, match=r"facts\.csv, line 2, field 'unit'"):
        build_observed(path)


def test_build_rejects_duplicate_fact(tmp_path):
    with pytest.raises(DataError, match=r"line 3, field 'year': duplicate fact"):
        build_observed(_facts(tmp_path, {}, {"value": "1.0"}))


def test_build_maps_derivation_source_to_its_publication(tmp_path):
    path = _facts(tmp_path, {
        "series": "china_dds_total_mofcom", "year": "2019", "value": "2721.7",
        "status": "derived", "source": "MOFCOM 2020 value / 1.083 (2020 growth 8.3%)",
        "url": "", "note": "derived, not published"}, {
        "series": "china_dds_total_mofcom", "year": "2020", "value": "2947.6",
        "source": "MOFCOM, China Digital Trade Development Report 2020 (as reported by "
                  "21st Century Business Herald)", "url": "http://example.org/r"})
    rows, sources = build_observed(path)
    assert [r.source_id for r in rows] == ["mofcom_dtr2020", "mofcom_dtr2020"]
    assert rows[0].note == ("derived, not published; MOFCOM 2020 value / 1.083 "
                            "(2020 growth 8.3%)")
    assert [(s.source_id, s.url) for s in sources] == [
        ("mofcom_dtr2020", "http://example.org/r")]


def test_build_normalises_rack_unit(tmp_path):
    path = _facts(tmp_path, {"series": "datacenter_racks", "year": "2019",
                             "value": "265.8", "unit": "10k standard racks",
                             "source": "MIIT / CAICT", "url": ""})
    rows, _ = build_observed(path)
    assert rows[0].unit == "10k racks"


def test_write_refuses_rows_with_unlisted_source(tmp_path):
    row = ObservedRow(series="china_gdp_usd", year=2015, value=11061.57,
                      unit="billion USD", status="quoted", source_id="wb_wdi")
    with pytest.raises(DataError, match=r"field 'source_id': unknown source_id 'wb_wdi'"):
        write_observed([row], PROP_SOURCES, tmp_path)
    assert not (tmp_path / "observed.csv").exists()


def test_serialised_values_round_trip_exactly():
    row = ObservedRow(series="china_gdp_usd", year=2015, value=0.1 + 0.2,
                      unit="billion USD", status="quoted", source_id="src_a")
    parsed = parse_observed(observed_csv_bytes([row]), "x.csv", ["src_a"])
    assert parsed[0].value == 0.1 + 0.2
