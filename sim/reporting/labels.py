"""Names people use for the project's series, levers and statistics.

One mapping for every place a reader meets them: the calibration report, the
held-out check, the scenario charts and the app. Series ids
(``china_dds_exports_unctad``) stay the keys of data files and of
``calibrated.yaml``; a reader sees "China's DDS exports, UNCTAD". DDS is
digitally deliverable services (UNCTAD's term).
"""
from __future__ import annotations

from typing import Literal

Lang = Literal["en", "zh"]

SERIES_NAMES: dict[str, dict[str, str]] = {
    "china_dds_exports_unctad": {"en": "China's DDS exports, UNCTAD",
                                 "zh": "中国数字可交付服务出口（UNCTAD）"},
    "china_dds_imports_unctad": {"en": "China's DDS imports, UNCTAD",
                                 "zh": "中国数字可交付服务进口（UNCTAD）"},
    "china_dds_balance_unctad": {"en": "China's DDS trade balance, UNCTAD",
                                 "zh": "中国数字可交付服务贸易差额（UNCTAD）"},
    "china_dds_total_unctad": {"en": "China's DDS trade, exports + imports, UNCTAD",
                               "zh": "中国数字可交付服务进出口总额（UNCTAD）"},
    "world_dds_exports_unctad": {"en": "World DDS exports, UNCTAD",
                                 "zh": "世界数字可交付服务出口（UNCTAD）"},
    "world_dds_imports_unctad": {"en": "World DDS imports, UNCTAD",
                                 "zh": "世界数字可交付服务进口（UNCTAD）"},
    "china_world_share_dds_exports": {"en": "China's share of world DDS exports, UNCTAD",
                                      "zh": "中国占世界数字可交付服务出口份额（UNCTAD）"},
    "china_dds_total_mofcom": {"en": "China's DDS trade, exports + imports, MOFCOM",
                               "zh": "中国数字可交付服务进出口总额（商务部）"},
    "china_dds_balance_mofcom": {"en": "China's DDS trade balance, MOFCOM",
                                 "zh": "中国数字可交付服务贸易差额（商务部）"},
    "china_dds_exports_mofcom": {"en": "China's DDS exports, MOFCOM",
                                 "zh": "中国数字可交付服务出口（商务部）"},
    "china_dds_imports_mofcom": {"en": "China's DDS imports, MOFCOM",
                                 "zh": "中国数字可交付服务进口（商务部）"},
    "china_dds_total_seed001": {"en": "China's DDS trade, exports + imports, seed document 001",
                                "zh": "中国数字可交付服务进出口总额（种子文献 001）"},
    "china_services_trade_total": {"en": "China's services trade, exports + imports",
                                   "zh": "中国服务贸易进出口总额"},
    "china_services_exports": {"en": "China's services exports", "zh": "中国服务出口"},
    "china_services_imports": {"en": "China's services imports", "zh": "中国服务进口"},
    "china_offshore_outsourcing_exec": {"en": "China's offshore service outsourcing, executed",
                                        "zh": "中国离岸服务外包执行额"},
    "internet_penetration": {"en": "Internet penetration, CNNIC", "zh": "互联网普及率（CNNIC）"},
    "5g_base_stations": {"en": "5G base stations, MIIT", "zh": "5G 基站数（工信部）"},
    "fixed_broadband_subscribers": {"en": "Fixed broadband subscribers, MIIT",
                                    "zh": "固定宽带用户数（工信部）"},
    "optical_cable_length": {"en": "Optical cable length, MIIT / NBS",
                             "zh": "光缆线路长度（工信部 / 国家统计局）"},
    "cloud_market_size": {"en": "Cloud computing market, CAICT", "zh": "云计算市场规模（中国信通院）"},
    "datacenter_racks": {"en": "Data-centre racks, MIIT / CAICT",
                         "zh": "数据中心机架数（工信部 / 中国信通院）"},
    "rd_personnel_fte": {"en": "R&D personnel, full-time equivalent, NBS",
                         "zh": "研发人员全时当量（国家统计局）"},
    "software_it_employees": {"en": "Software and IT services employees, MIIT",
                              "zh": "软件和信息技术服务业从业人员（工信部）"},
    "outsourcing_employees": {"en": "Service outsourcing employees, MOFCOM",
                              "zh": "服务外包从业人员（商务部）"},
    "higher_ed_graduates": {"en": "Higher-education graduates, Ministry of Education",
                            "zh": "高校毕业生（教育部）"},
    "negative_list_items_national": {"en": "Foreign investment negative list items, national",
                                     "zh": "外商投资负面清单条目（全国）"},
    "negative_list_items_ftz": {"en": "Foreign investment negative list items, free trade zones",
                                "zh": "外商投资负面清单条目（自贸试验区）"},
    "ftas_signed": {"en": "Free trade agreements signed, MOFCOM", "zh": "已签自由贸易协定（商务部）"},
    "china_gdp_usd": {"en": "China's GDP, World Bank", "zh": "中国 GDP（世界银行）"},
    "digital_economy_share_gdp": {"en": "Digital economy share of GDP, CAICT",
                                  "zh": "数字经济占 GDP 比重（中国信通院）"},
    "digital_economy_size_usd": {"en": "Digital economy size (GDP × CAICT share)",
                                 "zh": "数字经济规模（GDP × 信通院比重）"},
}
"""Series id (a key of :data:`sim.data.observed.SERIES_UNITS`) -> its name, by language."""

LEVER_NAMES: dict[str, dict[str, str]] = {
    "infrastructure": {"en": "infrastructure investment", "zh": "基础设施投资"},
    "talent": {"en": "talent training", "zh": "人才培养"},
    "reform": {"en": "reform pace", "zh": "改革开放步伐"},
    "data_flow": {"en": "data-flow tightening", "zh": "数据流动收紧"},
    "innovation": {"en": "innovation protection", "zh": "创新与知识产权保护"},
    "world_demand": {"en": "world demand growth", "zh": "世界需求增长"},
    "barrier_shock": {"en": "foreign barrier shock", "zh": "外国壁垒冲击"},
}
"""Lever short name (a key of :data:`sim.scenarios.levers.LEVERS`) -> its name."""

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
