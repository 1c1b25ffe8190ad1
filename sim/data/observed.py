"""Observed data: the schema of ``model/data/`` and its validated loader.

``model/data/observed.csv`` holds one figure per row (long format: series,
year, value, unit, status, source_id, note); ``model/data/sources.csv`` holds
the publications the figures come from. Both are built from the shared facts
table by :mod:`sim.data.build`. Series that measure the same thing in different
ways (UNCTAD, MOFCOM, the seed-001 vintage) are separate series.

Only years 2010-2022 are accepted: 2015-2022 is the calibration window and
later years are held out of the repository.
"""
from __future__ import annotations

import csv
import hashlib
import io
import math
import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from sim.errors import SimError
from sim.paths import project_file
from sim.project import DATA_FOLDER, FIRST_OBSERVED_YEAR, LAST_OBSERVED_YEAR
from sim.suggest import did_you_mean


def default_observed() -> Path:
    """Return the project's ``model/data/observed.csv`` (see :func:`sim.paths.project_root`).

    Raises
    ------
    sim.paths.ProjectRootError
        No project folder.
    """
    return project_file(*DATA_FOLDER, "observed.csv")


def default_sources() -> Path:
    """Return the project's ``model/data/sources.csv`` (see :func:`default_observed`)."""
    return project_file(*DATA_FOLDER, "sources.csv")


FIRST_YEAR = FIRST_OBSERVED_YEAR
LAST_YEAR = LAST_OBSERVED_YEAR  # later years are held out of the repository (out-of-sample)

OBSERVED_COLUMNS = ("series", "year", "value", "unit", "status", "source_id", "note")
SOURCE_COLUMNS = ("source_id", "publisher", "title", "url", "note")
_OPTIONAL_COLUMNS = frozenset({"note"})

Status = Literal["quoted", "derived", "seed", "memory-unverified"]

SERIES_UNITS: dict[str, str] = {
    # Digitally deliverable services trade, UNCTAD (one consistent vintage)
    "china_dds_exports_unctad": "100M USD",
    "china_dds_imports_unctad": "100M USD",
    "china_dds_balance_unctad": "100M USD",
    "china_dds_total_unctad": "100M USD",
    "world_dds_exports_unctad": "100M USD",
    "world_dds_imports_unctad": "100M USD",
    "china_world_share_dds_exports": "dimensionless",
    # Digitally deliverable services trade, MOFCOM and seed vintages
    "china_dds_total_mofcom": "100M USD",
    "china_dds_balance_mofcom": "100M USD",
    "china_dds_exports_mofcom": "100M USD",
    "china_dds_imports_mofcom": "100M USD",
    "china_dds_total_seed001": "100M USD",
    # Services trade and outsourcing
    "china_services_trade_total": "100M USD",
    "china_services_exports": "100M USD",
    "china_services_imports": "100M USD",
    "china_offshore_outsourcing_exec": "100M USD",
    # Digital infrastructure proxies
    "internet_penetration": "percent",
    "5g_base_stations": "10k stations",
    "fixed_broadband_subscribers": "100M subscribers",
    "optical_cable_length": "10k km",
    "cloud_market_size": "100M RMB",
    "datacenter_racks": "10k racks",
    # Digital talent proxies
    "rd_personnel_fte": "10k person-years",
    "software_it_employees": "10k persons",
    "outsourcing_employees": "10k persons",
    "higher_ed_graduates": "10k persons",
    # Openness proxies
    "negative_list_items_national": "items",
    "negative_list_items_ftz": "items",
    "ftas_signed": "agreements",
    # Economy
    "china_gdp_usd": "billion USD",
    "digital_economy_share_gdp": "percent",
    "digital_economy_size_usd": "100M USD",
}
"""Every known series and its unit: the schema of ``observed.csv``."""


class DataError(SimError):
    """A data file does not match the schema.

    The message names the file, the 1-based line (the header is line 1), the
    field and what would be accepted.
    """


def display_path(path: Path | str) -> str:
    """Return ``path`` relative to the working directory when it lies below it."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _custom(field: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(field, message)


def _single_line(v: str, field: str) -> str:
    """Reject control characters (line breaks, tabs): each record is one line."""
    bad = next((c for c in v if unicodedata.category(c) == "Cc"), None)
    if bad is not None:
        raise _custom(field, f"control character {bad!r} in {field}; expected "
                      "single-line text without tabs or line breaks")
    return v


def _known_series(v: str) -> str:
    if v not in SERIES_UNITS:
        raise _custom("series", f"unknown series '{v}'{did_you_mean(v, SERIES_UNITS, n=1)}"
                      " (known series are the keys of sim.data.observed.SERIES_UNITS)")
    return v


def _finite_value(v: Any) -> float:
    try:
        value = float(v)
    except (TypeError, ValueError):
        raise _custom("value", f"expected a finite number, got {v!r}") from None
    if isinstance(v, bool) or not math.isfinite(value):
        raise _custom("value", f"expected a finite number, got {v!r}")
    return value


def _registered_unit(v: str, series: str | None) -> str:
    """``v`` when it is the unit of ``series`` (None: the series failed its own check)."""
    if series is not None and SERIES_UNITS[series] != v:
        raise _custom("unit", f"unit '{v}' is inconsistent with series '{series}'; "
                      f"expected '{SERIES_UNITS[series]}'")
    return v


class _Figure(BaseModel):
    """What every figure is checked for: a known series, a year, a finite value in its unit.

    Subclasses state the years they accept in :meth:`_check_year`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    series: str
    year: int
    value: float
    unit: str

    @field_validator("series")
    @classmethod
    def _known_series(cls, v: str) -> str:
        return _known_series(v)

    @field_validator("year", mode="before")
    @classmethod
    def _year_in_range(cls, v: Any) -> int:
        year = _as_int(v)
        if year is None:
            raise _custom("year", f"expected an integer year, got {v!r}")
        cls._check_year(year)
        return year

    @classmethod
    def _check_year(cls, year: int) -> None:
        raise NotImplementedError

    @field_validator("value", mode="before")
    @classmethod
    def _finite_value(cls, v: Any) -> float:
        return _finite_value(v)

    @field_validator("unit")
    @classmethod
    def _registered_unit(cls, v: str, info: Any) -> str:
        return _registered_unit(v, info.data.get("series"))


class ObservedRow(_Figure):
    """One observed figure.

    Parameters
    ----------
    series : str
        A key of :data:`SERIES_UNITS`.
    year : int
        Calendar year, 2010-2022.
    value : float
        The figure, finite, in ``unit``.
    unit : str
        Must equal ``SERIES_UNITS[series]``.
    status : {'quoted', 'derived', 'seed', 'memory-unverified'}
        How the figure was obtained.
    source_id : str
        Key of a row of ``sources.csv``.
    note : str
        Single-line free text; for derived rows, the formula.
    """

    status: Status
    source_id: str
    note: str = ""

    @classmethod
    def _check_year(cls, year: int) -> None:
        if not FIRST_YEAR <= year <= LAST_YEAR:
            raise _custom("year", f"year {year} outside {FIRST_YEAR}-{LAST_YEAR}; later "
                          "years are held out of the repository (calibration window "
                          "2015-2022)")

    @field_validator("source_id")
    @classmethod
    def _nonempty_source(cls, v: str) -> str:
        if not v.strip():
            raise _custom("source_id", "empty source_id; expected an id from sources.csv")
        return v

    @field_validator("note")
    @classmethod
    def _note_single_line(cls, v: str) -> str:
        return _single_line(v, "note")


HELD_OUT_COLUMNS = ("series", "year", "value", "unit", "status", "source", "url", "note")
"""Columns of a held-out facts table: those of ``observed_facts.csv``."""
HELD_OUT_OPTIONAL = frozenset({"status", "source", "url", "note"})
"""Columns a held-out facts table may leave out: free text about each figure."""


class HeldOutRow(_Figure):
    """An observed figure after the calibration window, for an out-of-sample check.

    Read from a facts table supplied from outside the repository (see
    :func:`parse_held_out` and :func:`sim.data.build.read_held_out`); never
    stored in it. What the check computes with is validated as in
    :class:`ObservedRow` (series, year, value, unit); what describes the figure
    (status, source, url, note) is the user's free text: their sources are in
    no registry of the code.

    Parameters
    ----------
    series : str
        A key of :data:`SERIES_UNITS`.
    year : int
        Calendar year after :data:`LAST_YEAR`.
    value : float
        The figure, finite, in ``unit``.
    unit : str
        Must equal ``SERIES_UNITS[series]``.
    status, source, url, note : str
        Free text (empty when the column is left out); ``status`` 'derived'
        marks a figure computed from others (:data:`sim.data.build.DERIVATIONS`).
    """

    status: str = ""
    source: str = ""
    url: str = ""
    note: str = ""

    @classmethod
    def _check_year(cls, year: int) -> None:
        if year <= LAST_YEAR:
            raise _custom("year", f"year {year} is not held out; expected a year after "
                          f"{LAST_YEAR}")

    @field_validator("status", "source", "url", "note", mode="before")
    @classmethod
    def _free_text(cls, v: Any, info: Any) -> str:
        if not isinstance(v, str):
            raise _custom(info.field_name, f"expected text, got {v!r}")
        return " ".join(v.split())  # one line: line breaks inside quotes become spaces


class Source(BaseModel):
    """One publication the observed figures come from.

    Parameters
    ----------
    source_id : str
        Short stable id, lower case letters, digits and underscores.
    publisher, title : str
        Non-empty.
    url : str
        Empty or an ``http(s)://`` address.
    note : str
        Free text (indicator codes, access notes, conversions).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    source_id: str
    publisher: str
    title: str
    url: str = ""
    note: str = ""

    @field_validator("source_id")
    @classmethod
    def _id_form(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", v):
            raise _custom("source_id", f"invalid id {v!r}; expected lower-case ascii "
                          "letters, digits and '_', starting with a letter")
        return v

    @field_validator("publisher", "title")
    @classmethod
    def _nonempty(cls, v: str, info: Any) -> str:
        if not v.strip():
            raise _custom(info.field_name, f"empty {info.field_name}; expected text")
        return v

    @field_validator("publisher", "title", "url", "note")
    @classmethod
    def _text_single_line(cls, v: str, info: Any) -> str:
        return _single_line(v, info.field_name)

    @field_validator("url")
    @classmethod
    def _url_form(cls, v: str) -> str:
        if v and not v.startswith(("http://", "https://")):
            raise _custom("url", f"invalid url {v!r}; expected '' or http(s)://...")
        return v


def _as_int(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, str) and v.strip().lstrip("+-").isdigit():
        return int(v.strip())
    return None


def _error_from_validation(err: ValidationError, where: str, line: int) -> DataError:
    first = err.errors()[0]
    field = first["loc"][0] if first["loc"] else "?"
    message = first["msg"]
    if first["type"] != field:  # pydantic's own messages do not echo the input
        message += f"; got {first.get('input')!r}"
    return DataError(f"{where}, line {line}, field '{field}': {message}")


def parse_record(model: type[BaseModel], record: Mapping[str, Any], where: str,
                 line: int) -> Any:
    """Validate one CSV record into ``model``, raising :class:`DataError`.

    Parameters
    ----------
    model : type
        :class:`ObservedRow` or :class:`Source`.
    record : mapping
        Field name to raw value.
    where : str
        File name for messages.
    line : int
        1-based line of the record in the file (header is line 1).
    """
    try:
        return model.model_validate(dict(record))
    except ValidationError as err:
        raise _error_from_validation(err, where, line) from None


def read_records(text: str, where: str, columns: Sequence[str],
                 optional: Collection[str] = _OPTIONAL_COLUMNS
                 ) -> list[tuple[int, dict[str, str]]]:
    """Parse CSV text into records after checking its header.

    Parameters
    ----------
    text : str
        The whole CSV file.
    where : str
        File name for messages.
    columns : sequence of str
        The accepted columns.
    optional : collection of str
        Those a file may leave out (default: ``note``).

    Returns
    -------
    list of (int, dict)
        1-based line where each record starts (header is line 1), and the
        record as column name to raw text. Blank lines are skipped.

    Raises
    ------
    DataError
        Empty file, missing, unknown or duplicate columns, wrong field count.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise DataError(f"{where}, line 1: empty file; expected a header "
                        f"{','.join(columns)}")
    _check_header(header, where, columns, optional)
    records = []
    line = reader.line_num + 1
    for fields in reader:
        if fields:
            records.append((line, _to_record(fields, header, where, line)))
        line = reader.line_num + 1
    return records


def _check_header(header: list[str], where: str, columns: Sequence[str],
                  optional: Collection[str] = _OPTIONAL_COLUMNS) -> None:
    required = [c for c in columns if c not in optional]
    missing = [c for c in required if c not in header]
    unknown = [c for c in header if c not in columns]
    if missing:
        found = f" (found unknown {', '.join(map(repr, unknown))})" if unknown else ""
        raise DataError(f"{where}, line 1, field {missing[0]!r}: missing column(s) "
                        f"{', '.join(map(repr, missing))}{found}; expected columns "
                        f"{','.join(columns)}")
    if unknown:
        raise DataError(f"{where}, line 1, field {unknown[0]!r}: unknown column"
                        f"{did_you_mean(unknown[0], columns, n=1)}; expected columns "
                        f"{','.join(columns)}")
    if len(set(header)) != len(header):
        raise DataError(f"{where}, line 1: duplicate column names in {header}")


def _to_record(fields: list[str], header: list[str], where: str, line: int
               ) -> dict[str, str]:
    if len(fields) != len(header):
        raise DataError(f"{where}, line {line}: {len(fields)} fields, expected "
                        f"{len(header)} ({','.join(header)})")
    return dict(zip(header, fields, strict=True))


def decode(data: bytes, where: str) -> str:
    """Decode UTF-8 ``data``, raising :class:`DataError` naming ``where``."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{where}: not UTF-8 text ({err.reason} at byte {err.start})"
                        ) from None


def _read_bytes(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise DataError(f"{display_path(path)}: file not found") from None


def parse_sources(data: bytes, where: str) -> tuple[Source, ...]:
    """Validate the bytes of a sources table.

    Parameters
    ----------
    data : bytes
        UTF-8 CSV with columns :data:`SOURCE_COLUMNS`.
    where : str
        File name for messages.

    Returns
    -------
    tuple of Source
        In file order.
    """
    sources: list[Source] = []
    seen: dict[str, int] = {}
    for line, record in read_records(decode(data, where), where, SOURCE_COLUMNS):
        source = parse_record(Source, record, where, line)
        if source.source_id in seen:
            raise DataError(f"{where}, line {line}, field 'source_id': duplicate id "
                            f"'{source.source_id}' (first on line "
                            f"{seen[source.source_id]}); ids must be unique")
        seen[source.source_id] = line
        sources.append(source)
    return tuple(sources)


def parse_observed(data: bytes, where: str, source_ids: Iterable[str]
                   ) -> tuple[ObservedRow, ...]:
    """Validate the bytes of an observed table against the schema and sources.

    Parameters
    ----------
    data : bytes
        UTF-8 CSV with columns :data:`OBSERVED_COLUMNS`.
    where : str
        File name for messages.
    source_ids : iterable of str
        The ids every row's ``source_id`` must be one of.

    Returns
    -------
    tuple of ObservedRow
        In file order.
    """
    known = frozenset(source_ids)
    rows: list[ObservedRow] = []
    seen: dict[tuple[str, int], int] = {}
    for line, record in read_records(decode(data, where), where, OBSERVED_COLUMNS):
        row = parse_record(ObservedRow, record, where, line)
        _check_source(row, known, where, line)
        key = (row.series, row.year)
        if key in seen:
            raise DataError(f"{where}, line {line}, field 'year': duplicate row for "
                            f"series '{row.series}', year {row.year} (first on line "
                            f"{seen[key]}); each (series, year) appears once")
        seen[key] = line
        rows.append(row)
    return tuple(rows)


def _check_source(row: ObservedRow, known: frozenset[str], where: str, line: int
                  ) -> None:
    if row.source_id not in known:
        raise DataError(f"{where}, line {line}, field 'source_id': unknown source_id "
                        f"'{row.source_id}'{did_you_mean(row.source_id, known, n=1)} (expected "
                        "an id listed in sources.csv)")


def parse_held_out(data: bytes, where: str, unit_aliases: Mapping[str, str] | None = None
                   ) -> list[HeldOutRow]:
    """Validate the figures after :data:`LAST_YEAR` of a facts table.

    Parameters
    ----------
    data : bytes
        UTF-8 CSV with columns :data:`HELD_OUT_COLUMNS`; those of
        :data:`HELD_OUT_OPTIONAL` may be left out.
    where : str
        File name for messages.
    unit_aliases : mapping, optional
        Unit text -> unit of :data:`SERIES_UNITS` where they differ only in
        name (:data:`sim.data.build.UNIT_ALIASES`).

    Returns
    -------
    list of HeldOutRow
        In file order; rows of :data:`LAST_YEAR` and before are skipped (the
        repository holds them).

    Raises
    ------
    DataError
        Naming the file, the line and the field: a missing or unknown column,
        an unknown series, a unit that is not the series', a value that is not
        a finite number, a year that is not an integer, the same (series,
        year) twice.
    """
    aliases = unit_aliases or {}
    rows: list[HeldOutRow] = []
    seen: dict[tuple[str, int], int] = {}
    records = read_records(decode(data, where), where, HELD_OUT_COLUMNS, HELD_OUT_OPTIONAL)
    for line, record in records:
        year = _as_int(record["year"])
        if year is None:
            raise DataError(f"{where}, line {line}, field 'year': expected an integer year, "
                            f"got {record['year']!r}")
        if year <= LAST_YEAR:
            continue  # the repository's own years
        fields = {**record, "unit": aliases.get(record["unit"], record["unit"])}
        row = parse_record(HeldOutRow, fields, where, line)
        key = (row.series, row.year)
        if key in seen:
            raise DataError(f"{where}, line {line}, field 'year': duplicate fact for series "
                            f"'{key[0]}', year {key[1]} (first on line {seen[key]})")
        seen[key] = line
        rows.append(row)
    return rows


@dataclass(frozen=True)
class ObservedData:
    """Validated observed figures with their sources.

    Attributes
    ----------
    rows : tuple of ObservedRow
        In file order.
    sources : tuple of Source
        In file order.
    data_hash : str
        Hex sha256 of the observed file's bytes followed by the sources file's.
    """

    rows: tuple[ObservedRow, ...]
    sources: tuple[Source, ...]
    data_hash: str

    def series(self, name: str) -> pd.Series:
        """Return one series indexed by year (ascending).

        Parameters
        ----------
        name : str
            A key of :data:`SERIES_UNITS`.

        Returns
        -------
        pandas.Series
            Float values [in the series' unit, also in ``.attrs['unit']``];
            empty when the series is known but has no rows.

        Raises
        ------
        KeyError
            ``name`` is not a known series.
        """
        if name not in SERIES_UNITS:
            raise KeyError(f"unknown series '{name}'{did_you_mean(name, SERIES_UNITS, n=1)}")
        picked = sorted((r.year, r.value) for r in self.rows if r.series == name)
        index = pd.Index([y for y, _ in picked], name="year", dtype="int64")
        out = pd.Series([v for _, v in picked], index=index, name=name, dtype="float64")
        out.attrs["unit"] = SERIES_UNITS[name]
        return out

    def frame(self) -> pd.DataFrame:
        """Return all rows as a tidy DataFrame with columns :data:`OBSERVED_COLUMNS`."""
        frame = pd.DataFrame([r.model_dump() for r in self.rows],
                             columns=list(OBSERVED_COLUMNS))
        return frame.astype({"year": "int64", "value": "float64"})

    def source(self, source_id: str) -> Source:
        """Return the source with id ``source_id`` (KeyError if absent)."""
        for s in self.sources:
            if s.source_id == source_id:
                return s
        raise KeyError(f"unknown source_id '{source_id}'"
                       f"{did_you_mean(source_id, [s.source_id for s in self.sources], n=1)}")


def load_sources(path: Path | str | None = None) -> tuple[Source, ...]:
    """Read and validate a sources table.

    Parameters
    ----------
    path : path-like, optional
        CSV with columns :data:`SOURCE_COLUMNS`; default :func:`default_sources`.

    Raises
    ------
    DataError
        Missing file or columns, invalid or duplicate ids, empty titles.
    """
    path = default_sources() if path is None else path
    return parse_sources(_read_bytes(Path(path)), display_path(path))


def load_observed(path: Path | str | None = None,
                  sources_path: Path | str | None = None) -> ObservedData:
    """Read and validate the observed table and its sources.

    Parameters
    ----------
    path : path-like, optional
        ``observed.csv`` (columns :data:`OBSERVED_COLUMNS`); default
        :func:`default_observed`.
    sources_path : path-like, optional
        ``sources.csv``; default: ``sources.csv`` beside ``path``.

    Returns
    -------
    ObservedData

    Raises
    ------
    DataError
        Unknown series, unit not the registered one, duplicate (series, year),
        year outside 2010-2022, non-numeric or non-finite value, unknown
        source_id, missing columns, and any error in the sources table.
    """
    path = default_observed() if path is None else Path(path)
    sources_path = path.with_name("sources.csv") if sources_path is None else Path(
        sources_path)
    source_bytes = _read_bytes(sources_path)
    sources = parse_sources(source_bytes, display_path(sources_path))
    observed_bytes = _read_bytes(path)
    rows = parse_observed(observed_bytes, display_path(path),
                          [s.source_id for s in sources])
    digest = hashlib.sha256(observed_bytes + source_bytes).hexdigest()
    return ObservedData(rows=rows, sources=sources, data_hash=digest)
