"""Names people use for the project's series, levers and statistics.

One mapping for every place a reader meets them: the calibration report, the
held-out check, the scenario charts and the app. Series ids
(``china_dds_exports_unctad``) stay the keys of data files and of
``calibrated.yaml``; a reader sees "China's DDS exports, UNCTAD". DDS is
digitally deliverable services (UNCTAD's term).
"""
from __future__ import annotations

from typing import Literal

from sim.project import LEVER_NAMES, SERIES_NAMES

Lang = Literal["en", "zh"]


THEIL_PARTS: dict[str, str] = {"theil_um": "M", "theil_us": "S", "theil_uc": "C"}
"""Statistic key of ``calibrated.yaml`` -> the letter of Theil's inequality proportion.

U_M (bias), U_S (unequal variation) and U_C (unequal covariation) split the
mean squared error (Sterman 1984, "Appropriate summary statistics for
evaluating the historical fit of system dynamics models"); they are set as
subscripts by :func:`sim.reporting.report_text.theil`.
"""


def _check(lang: str) -> None:
    if lang not in ("en", "zh"):
        raise ValueError(f"lang '{lang}' is not one of en, zh")


def series_name(series: str, lang: Lang = "en") -> str:
    """Return the name of a series id, e.g. ``"China's DDS exports, UNCTAD"``.

    Parameters
    ----------
    series : str
        A series id; one not in :data:`SERIES_NAMES` is returned as is (a
        user's own series stays recognisable).
    lang : {"en", "zh"}

    Raises
    ------
    ValueError
        ``lang`` is not a supported language.
    """
    _check(lang)
    entry = SERIES_NAMES.get(series)
    return entry[lang] if entry else series


def lever_name(short: str, lang: Lang = "en") -> str:
    """Return the name of a lever (its short name when unknown)."""
    _check(lang)
    entry = LEVER_NAMES.get(short)
    return entry[lang] if entry else short
