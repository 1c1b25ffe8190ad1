"""Build ``model/data/observed.csv`` and ``sources.csv`` from the facts table.

Usage::

    python -m sim.data.build tests/data/observed_facts.csv model/data

The build is a pure function of the facts table (:func:`build_observed`); the
output is byte-identical on rerun. Rules:

- only years 2010-2022 are kept: later years are held out of the repository;
- each facts ``source`` text maps to a short stable ``source_id``
  (:data:`SOURCE_REGISTRY`); facts whose ``source`` is itself a derivation
  (:data:`DERIVATION_SOURCES`) point at the publication the derivation rests on
  and keep the derivation in their note;
- units are normalised to the model's vocabulary (:data:`UNIT_ALIASES`);
  values are never rescaled, and no exchange rate is applied;
- four derived series are added, each with its formula in the note
  (:data:`DERIVATIONS`).
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sim.data.observed import (
    FIRST_YEAR,
    LAST_YEAR,
    OBSERVED_COLUMNS,
    SERIES_UNITS,
    SOURCE_COLUMNS,
    DataError,
    HeldOutRow,
    ObservedRow,
    Source,
    decode,
    display_path,
    parse_held_out,
    parse_observed,
    parse_record,
    parse_sources,
    read_records,
)
from sim.suggest import did_you_mean

FACTS_COLUMNS = ("series", "year", "value", "unit", "status", "source", "url", "note")

BILLION_USD_IN_100M_USD = 10.0
"""1 billion USD = 10 × 100 million USD [100M USD / billion USD]."""
PERCENT_PER_FRACTION = 100.0
"""1 (fraction) = 100 percent [percent]."""
MONEY_DECIMALS = 4
"""Derived money values are rounded to 0.0001 [100M USD] (10k USD)."""
SHARE_DECIMALS = 8
"""Derived fractions are rounded to 1e-8 [dimensionless]."""
DIGITAL_ECONOMY_FIRST_YEAR = 2015
"""First year of ``digital_economy_size_usd`` (CAICT share starts 2015)."""

UNIT_ALIASES: dict[str, str] = {"10k standard racks": "10k racks"}
"""Facts unit text -> model unit, where they differ (a renaming, same scale)."""


@dataclass(frozen=True)
class SourceSpec:
    """Curated id, publisher and title of one facts ``source`` text."""

    source_id: str
    publisher: str
    title: str
    note: str = ""


_UNCTAD = ("UNCTAD digital economy database via World Bank Data360 "
           "(UNCTAD_DE_DIG_SERVTRADE_ANN_EXP / _IMP, current vintage), USD millions "
           "converted to 100M USD")
_NBS_RD = ("NBS Statistical Communique on R&D expenditure (spending / spending per "
           "FTE); matches NBS yearbook")

SOURCE_REGISTRY: dict[str, SourceSpec] = {
    _UNCTAD: SourceSpec(
        "unctad_dds", "UNCTAD (via World Bank Data360)",
        "Digital economy database: international trade in digitally-deliverable "
        "services, annual (UNCTAD_DE_DIG_SERVTRADE_ANN_EXP / _IMP, current vintage)",
        "USD millions converted to 100M USD in the facts table"),
    "MOFCOM, China Digital Trade Development Report 2020 (as reported by 21st Century "
    "Business Herald)": SourceSpec(
        "mofcom_dtr2020", "MOFCOM",
        "China Digital Trade Development Report 2020 (as reported by 21st Century "
        "Business Herald)"),
    "MOFCOM (Wang Dongtang, reported by Xinhua)": SourceSpec(
        "mofcom_wang_xinhua", "MOFCOM", "Wang Dongtang, reported by Xinhua"),
    "MOFCOM China Services Trade Development Report 2022 (Xinhua)": SourceSpec(
        "mofcom_str2022", "MOFCOM",
        "China Services Trade Development Report 2022 (reported by Xinhua)"),
    "MOFCOM via Xinhua 2017-09-30": SourceSpec(
        "mofcom_xinhua_20170930", "MOFCOM", "MOFCOM via Xinhua 2017-09-30"),
    "MOFCOM spokesperson Gao Feng": SourceSpec(
        "mofcom_gao_feng", "MOFCOM", "MOFCOM spokesperson Gao Feng"),
    "MOFCOM via CATIS": SourceSpec("mofcom_catis", "MOFCOM", "MOFCOM via CATIS"),
    "MOFCOM": SourceSpec("mofcom", "MOFCOM", "MOFCOM (no document named in the facts)"),
    "seed 001 (citing MOFCOM 2021)": SourceSpec(
        "seed001_mofcom", "seed document 001 (../seeds)",
        "seed 001, citing MOFCOM 2021"),
    "seed 001 (UNCTAD)": SourceSpec(
        "seed001_unctad", "seed document 001 (../seeds)", "seed 001, citing UNCTAD"),
    "seed 002 (Contemporary Economic Research 2024 no.3, citing MOFCOM)": SourceSpec(
        "seed002", "seed document 002 (../seeds)",
        "Contemporary Economic Research (2024), no. 3, citing MOFCOM"),
    "seed 002 (citing MOFCOM)": SourceSpec(
        "seed002", "seed document 002 (../seeds)",
        "Contemporary Economic Research (2024), no. 3, citing MOFCOM"),
    "CNNIC Statistical Report on Internet Development (year-end)": SourceSpec(
        "cnnic", "CNNIC", "Statistical Report on Internet Development (year-end)"),
    "MIIT annual communications bulletin": SourceSpec(
        "miit_comms", "MIIT", "Annual communications industry bulletin"),
    "MIIT": SourceSpec("miit", "MIIT", "MIIT (no document named in the facts)"),
    "MIIT / NBS": SourceSpec("miit_nbs", "MIIT / NBS",
                             "MIIT / NBS (no document named in the facts)"),
    "MIIT / CAICT": SourceSpec("miit_caict", "MIIT / CAICT",
                               "MIIT / CAICT (no document named in the facts)"),
    "CAICT cloud computing white papers": SourceSpec(
        "caict_cloud", "CAICT", "Cloud computing white papers"),
    "CAICT China Digital Economy white papers": SourceSpec(
        "caict_de", "CAICT", "China Digital Economy white papers"),
    _NBS_RD: SourceSpec(
        "nbs_rd", "NBS",
        "Statistical Communique on R&D expenditure; matches NBS yearbook",
        "FTE = spending / spending per FTE"),
    "MIIT software industry bulletin": SourceSpec(
        "miit_software", "MIIT", "Software industry bulletin"),
    "Ministry of Education headline (includes postgraduates)": SourceSpec(
        "moe", "Ministry of Education", "Headline graduate numbers",
        "includes postgraduates"),
    "NDRC/MOFCOM foreign investment negative list (version in force)": SourceSpec(
        "ndrc_mofcom_negative_list", "NDRC / MOFCOM",
        "Foreign investment negative list (national; version in force)"),
    "Free trade zone foreign investment negative list (version in force)": SourceSpec(
        "ftz_negative_list", "PRC government (issuer not named in the facts)",
        "Free trade zone foreign investment negative list (version in force)"),
    "World Bank WDI NY.GDP.MKTP.CD (accessed 2025-05-28)": SourceSpec(
        "wb_wdi", "World Bank",
        "World Development Indicators, NY.GDP.MKTP.CD (accessed 2025-05-28)"),
}
"""Facts ``source`` text -> curated source. Unknown texts are build errors."""

DERIVATION_SOURCES: dict[str, str] = {
    "MOFCOM 2020 value / 1.083 (2020 growth 8.3%)": "mofcom_dtr2020",
    "MOFCOM 2022 value / 1.034": "mofcom_wang_xinhua",
}
"""Facts ``source`` text that is a derivation -> id of the publication it uses."""


@dataclass(frozen=True)
class _Fact:
    line: int
    row: ObservedRow
    url: str


def _fact_source_id(text: str, where: str, line: int) -> str:
    if text in SOURCE_REGISTRY:
        return SOURCE_REGISTRY[text].source_id
    if text in DERIVATION_SOURCES:
        return DERIVATION_SOURCES[text]
    known = [*SOURCE_REGISTRY, *DERIVATION_SOURCES]
    raise DataError(f"{where}, line {line}, field 'source': unknown source '{text}'"
                    f"{did_you_mean(text, known, n=1)}; add it to "
                    "sim.data.build.SOURCE_REGISTRY with a short stable id")


def _fact_note(record: Mapping[str, str]) -> str:
    """Facts note; for derivation sources the derivation is appended."""
    note = record.get("note", "").strip()
    if record["source"] in DERIVATION_SOURCES:
        note = "; ".join(p for p in (note, record["source"]) if p)
    return note


def _fact_year(record: Mapping[str, str], where: str, line: int) -> int:
    text = record["year"].strip()
    if not text.isdigit():
        raise DataError(f"{where}, line {line}, field 'year': expected an integer "
                        f"year, got {record['year']!r}")
    return int(text)


def _fact(record: Mapping[str, str], where: str, line: int) -> _Fact:
    fields = {
        "series": record["series"],
        "year": record["year"],
        "value": record["value"],
        "unit": UNIT_ALIASES.get(record["unit"], record["unit"]),
        "status": record["status"],
        "source_id": _fact_source_id(record["source"], where, line),
        "note": _fact_note(record),
    }
    url = "" if record["source"] in DERIVATION_SOURCES else record["url"].strip()
    return _Fact(line, parse_record(ObservedRow, fields, where, line), url)


def _read_facts(facts_csv: Path) -> list[_Fact]:
    """Read the facts table, keeping years 2010-2022 (later ones: :func:`read_held_out`).

    Raises
    ------
    DataError
        Missing columns, unknown series, unit or source, bad value, duplicate
        (series, year).
    """
    where = display_path(facts_csv)
    records = read_records(decode(Path(facts_csv).read_bytes(), where), where,
                           FACTS_COLUMNS)
    facts: list[_Fact] = []
    seen: dict[tuple[str, int], int] = {}
    for line, record in records:
        year = _fact_year(record, where, line)
        if not FIRST_YEAR <= year <= LAST_YEAR:
            continue  # held out of the repository, or before its first year
        fact = _fact(record, where, line)
        key = (fact.row.series, fact.row.year)
        if key in seen:
            raise DataError(f"{where}, line {line}, field 'year': duplicate fact for "
                            f"series '{key[0]}', year {key[1]} (first on line "
                            f"{seen[key]})")
        seen[key] = line
        facts.append(fact)
    return facts


def _values(rows: Iterable[ObservedRow], series: str) -> dict[int, float]:
    return {r.year: r.value for r in rows if r.series == series}


def _combine(a: Mapping[int, float], b: Mapping[int, float],
             op: Callable[[float, float], float]) -> dict[int, float]:
    """Apply ``op`` year by year where both ``a`` and ``b`` have a value."""
    return {year: op(a[year], b[year]) for year in sorted(set(a) & set(b))}


def digital_economy_size(gdp: Mapping[int, float], share: Mapping[int, float]
                         ) -> dict[int, float]:
    """Digital economy size [100M USD] from GDP [billion USD] and share [percent].

    size = gdp × BILLION_USD_IN_100M_USD × share / PERCENT_PER_FRACTION, for years
    from :data:`DIGITAL_ECONOMY_FIRST_YEAR` where both inputs exist.
    """
    sized = _combine(gdp, share, lambda g, s: round(
        g * BILLION_USD_IN_100M_USD * s / PERCENT_PER_FRACTION, MONEY_DECIMALS))
    return {y: v for y, v in sized.items() if y >= DIGITAL_ECONOMY_FIRST_YEAR}


def world_share(china: Mapping[int, float], world: Mapping[int, float]
                ) -> dict[int, float]:
    """China's share of world exports [dimensionless, 0-1] (both in 100M USD)."""
    return _combine(china, world, lambda c, w: round(c / w, SHARE_DECIMALS))


def balance(exports: Mapping[int, float], imports: Mapping[int, float]
            ) -> dict[int, float]:
    """Return exports minus imports [100M USD]; positive is a surplus."""
    return _combine(exports, imports, lambda x, m: round(x - m, MONEY_DECIMALS))


def total(exports: Mapping[int, float], imports: Mapping[int, float]
          ) -> dict[int, float]:
    """Return exports plus imports [100M USD]."""
    return _combine(exports, imports, lambda x, m: round(x + m, MONEY_DECIMALS))


@dataclass(frozen=True)
class Derivation:
    """A derived series: ``func(values of inputs[0], values of inputs[1])``."""

    series: str
    func: Callable[[Mapping[int, float], Mapping[int, float]], dict[int, float]]
    inputs: tuple[str, str]
    source_id: str
    note: str


DERIVATIONS: tuple[Derivation, ...] = (
    Derivation(
        "digital_economy_size_usd", digital_economy_size,
        ("china_gdp_usd", "digital_economy_share_gdp"), "caict_de",
        "derived: china_gdp_usd [billion USD] * 10 [100M USD per billion USD] * "
        "digital_economy_share_gdp [percent] / 100 [percent per fraction]; GDP from "
        "wb_wdi, share from caict_de; rounded to 4 decimals"),
    Derivation(
        "china_world_share_dds_exports", world_share,
        ("china_dds_exports_unctad", "world_dds_exports_unctad"), "unctad_dds",
        "derived: china_dds_exports_unctad / world_dds_exports_unctad (both 100M "
        "USD); a fraction 0-1, not percent; rounded to 8 decimals"),
    Derivation(
        "china_dds_balance_unctad", balance,
        ("china_dds_exports_unctad", "china_dds_imports_unctad"), "unctad_dds",
        "derived: china_dds_exports_unctad - china_dds_imports_unctad (100M USD); "
        "positive = surplus"),
    Derivation(
        "china_dds_total_unctad", total,
        ("china_dds_exports_unctad", "china_dds_imports_unctad"), "unctad_dds",
        "derived: china_dds_exports_unctad + china_dds_imports_unctad (100M USD)"),
)
"""The derived series; the source is the publication of the defining input."""


def derive_rows(rows: Sequence[ObservedRow]) -> list[ObservedRow]:
    """Return the derived series computed from ``rows`` (status ``derived``)."""
    out = []
    for d in DERIVATIONS:
        a, b = (_values(rows, name) for name in d.inputs)
        out.extend(ObservedRow(series=d.series, year=year, value=value,
                               unit=SERIES_UNITS[d.series], status="derived",
                               source_id=d.source_id, note=d.note)
                   for year, value in d.func(a, b).items())
    return out


def read_held_out(facts_csv: Path | str) -> list[HeldOutRow]:
    """Return the figures after 2022 of a facts table, with the derived series, for an out-of-sample check.

    The columns of ``observed_facts.csv``; series, units and derivations as in
    :func:`build_observed`, while ``status``, ``source``, ``url`` and ``note``
    are the user's free text and may be left out (:func:`sim.data.observed.parse_held_out`).
    The file is read, never copied; rows of 2010-2022 are skipped (the
    repository has them). A derived series is added where the file does not
    give it (status ``derived``, source the derivation's publication id).

    Raises
    ------
    DataError
        The facts do not fit the schema (naming file, line and field), or hold
        no year after 2022.
    """
    facts_csv = Path(facts_csv)
    where = display_path(facts_csv)
    try:
        data = facts_csv.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{where}: file not found") from None
    rows = parse_held_out(data, where, UNIT_ALIASES)
    if not rows:
        raise DataError(f"{where}: no figure after {LAST_YEAR}; an out-of-sample check needs "
                        "the years the repository holds out")
    given = {(r.series, r.year) for r in rows}
    derived = [HeldOutRow(series=d.series, year=year, value=value,
                          unit=SERIES_UNITS[d.series], status="derived", source=d.source_id,
                          note=d.note)
               for d in DERIVATIONS
               for year, value in d.func(*(_values(rows, name) for name in d.inputs)).items()
               if (d.series, year) not in given]
    return sorted([*rows, *derived], key=lambda r: (r.series, r.year))


def _split_url(text: str) -> tuple[str, str]:
    """Split a facts url field into the address and the words after it."""
    head, _, rest = text.partition(" ")
    if head.startswith(("http://", "https://")):
        return head, rest.strip()
    return "", text


def _source(spec: SourceSpec, urls: set[str], where: str) -> Source:
    if len(urls) > 1:
        raise DataError(f"{where}: source '{spec.source_id}' has several urls "
                        f"{sorted(urls)}; expected one per source")
    url, url_note = _split_url(next(iter(urls), ""))
    note = "; ".join(p for p in (spec.note, url_note) if p)
    return Source(source_id=spec.source_id, publisher=spec.publisher,
                  title=spec.title, url=url, note=note)


def _sources(facts: Sequence[_Fact], where: str) -> list[Source]:
    specs = {s.source_id: s for s in SOURCE_REGISTRY.values()}
    urls: dict[str, set[str]] = {}
    for fact in facts:
        bucket = urls.setdefault(fact.row.source_id, set())
        if fact.url:
            bucket.add(fact.url)
    return [_source(specs[sid], urls[sid], where) for sid in sorted(urls)]


def build_observed(facts_csv: Path) -> tuple[list[ObservedRow], list[Source]]:
    """Build the observed rows and their sources from the facts table.

    Parameters
    ----------
    facts_csv : Path
        ``observed_facts.csv`` (columns :data:`FACTS_COLUMNS`).

    Returns
    -------
    rows : list of ObservedRow
        Facts of 2010-2022 plus the derived series, sorted by (series, year).
    sources : list of Source
        One per source referenced by a row, sorted by id.

    Raises
    ------
    DataError
        The facts do not fit the schema (see :func:`_read_facts`).
    """
    facts = _read_facts(Path(facts_csv))
    rows = [f.row for f in facts]
    rows = sorted([*rows, *derive_rows(rows)], key=lambda r: (r.series, r.year))
    sources = _sources(facts, display_path(facts_csv))
    parse_observed(observed_csv_bytes(rows), "built observed table",
                   [s.source_id for s in sources])
    return rows, sources


def _csv_bytes(header: Sequence[str], records: Iterable[Sequence[str]]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(records)
    return buffer.getvalue().encode("utf-8")


def observed_csv_bytes(rows: Iterable[ObservedRow]) -> bytes:
    """Serialise rows in the given order; values as shortest round-trip floats."""
    return _csv_bytes(OBSERVED_COLUMNS, (
        (r.series, str(r.year), repr(r.value), r.unit, r.status, r.source_id, r.note)
        for r in rows))


def sources_csv_bytes(sources: Iterable[Source]) -> bytes:
    """Serialise sources in the given order."""
    return _csv_bytes(SOURCE_COLUMNS, (
        (s.source_id, s.publisher, s.title, s.url, s.note) for s in sources))


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_observed(rows: Sequence[ObservedRow], sources: Sequence[Source],
                   out_dir: Path) -> tuple[Path, Path]:
    """Write ``observed.csv`` and ``sources.csv`` into ``out_dir``.

    The tables are validated together first (duplicates, unknown source ids),
    so nothing invalid is written; each file is replaced atomically.

    Returns
    -------
    (Path, Path)
        The observed and sources files.
    """
    out_dir = Path(out_dir)
    observed, listed = observed_csv_bytes(rows), sources_csv_bytes(sources)
    ids = [s.source_id for s in parse_sources(listed, "sources to write")]
    parse_observed(observed, "rows to write", ids)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = out_dir / "observed.csv", out_dir / "sources.csv"
    _write_atomic(paths[1], listed)
    _write_atomic(paths[0], observed)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m sim.data.build FACTS_CSV OUT_DIR``."""
    parser = argparse.ArgumentParser(prog="python -m sim.data.build",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("facts_csv", type=Path, help="the facts table, e.g. tests/data/observed_facts.csv")
    parser.add_argument("out_dir", type=Path, help="directory for the two CSVs")
    args = parser.parse_args(argv)
    try:
        rows, sources = build_observed(args.facts_csv)
        observed_path, sources_path = write_observed(rows, sources, args.out_dir)
    except (DataError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    n_series = len({r.series for r in rows})
    print(f"wrote {len(rows)} rows ({n_series} series) to {observed_path} and "
          f"{len(sources)} sources to {sources_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
