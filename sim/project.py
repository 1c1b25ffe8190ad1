"""What belongs to this one model: its files, years, levers, outputs and their names.

The generic layers (data, scenarios, calibration, reporting, app) take these
as arguments or import them from here; nothing else in ``sim`` spells a
report year, a lever or a series name of the project. Pure data: importing
this module loads nothing else.

The figures come from the model card (``model/README.md``): the observed data
run 2010-2022 (later years are held out of the repository), the calibration
window is 2015-2022, and projections are read at 2025, 2030 and 2035.
"""
from __future__ import annotations

from dataclasses import dataclass

# ----------------------------------------------------------------- files
MODEL_FILE = ("model", "digital_trade.mdl")
"""The model, relative to the project folder (its presence marks the folder, :mod:`sim.paths`)."""
CALIBRATION_SPEC_FILE = ("model", "calibration.yaml")
"""The calibration specification, relative to the project folder."""
CALIBRATED_FILE = ("model", "calibrated.yaml")
"""The calibration result, relative to the project folder."""
DATA_FOLDER = ("model", "data")
"""The observed tables (``observed.csv``, ``sources.csv``), relative to the project folder."""
SCENARIOS_FOLDER = ("scenarios",)
"""The shipped scenario files, relative to the project folder."""
BASELINE_SCENARIO_FILE = ("scenarios", "00_baseline.yaml")
"""The baseline scenario (``sim holdout`` checks its projection)."""
REPORT_FILE = ("report", "calibration.html")
"""The reviewer report ``sim report`` writes, relative to the project folder."""

# ----------------------------------------------------------------- years [year]
FIRST_OBSERVED_YEAR = 2010
"""First year of the observed data."""
LAST_OBSERVED_YEAR = 2022
"""Last year of the observed data; later years are held out of the repository."""
CALIBRATION_WINDOW = (2015, LAST_OBSERVED_YEAR)
"""Years the calibration fits."""
EXANTE_ORIGINS = (2016, 2017, 2018, 2019, 2020, 2021)
"""Origins of the rolling ex-ante forecasts (each refitted on data up to it)."""
REPORT_YEARS = (2025, 2030, 2035)
"""Years a projection is read at (tables, bands, the README's scenario table)."""
HORIZON = REPORT_YEARS[-1]
"""Default final year of a scenario."""
GROWTH_START_YEAR = LAST_OBSERVED_YEAR
"""Growth rates of a projection are measured from this year (CAGR 2022-2035)."""
SHARE_PACE_STARTS = (2010, 2017)
"""First years of the two historical paces of China's world share (each to the last
observed year)."""

# ----------------------------------------------------------------- levers and outputs


@dataclass(frozen=True)
class Lever:
    """A policy lever of the model: a value constant and its start-year constant.

    Attributes
    ----------
    short : str
        Name used in scenario files.
    value : str
        Vensim name of the lever constant (1 = baseline; 0 = no shock for the shock).
    start : str
        Vensim name of its start-year constant [year].
    shock : bool
        A dated one-off event (size + year): only the ``{value, start}`` form.
    """

    short: str
    value: str
    start: str
    shock: bool = False


LEVERS: dict[str, Lever] = {lv.short: lv for lv in (
    Lever("infrastructure", "Infrastructure Investment Lever", "Infrastructure Lever Start Year"),
    Lever("talent", "Talent Training Lever", "Talent Lever Start Year"),
    Lever("reform", "Reform Pace Lever", "Reform Lever Start Year"),
    Lever("data_flow", "Data Flow Tightening Lever", "Data Flow Lever Start Year"),
    Lever("innovation", "Innovation Protection Lever", "Innovation Lever Start Year"),
    Lever("world_demand", "World Demand Growth Lever", "World Demand Lever Start Year"),
    Lever("barrier_shock", "Foreign Barrier Shock Size", "Foreign Barrier Shock Year",
          shock=True),
)}
"""The model's levers by short name."""

EXPORTS = "Digitally Deliverable Exports"
"""The export stock [100M USD]."""
IMPORTS = "Digitally Deliverable Imports"
"""The import stock [100M USD]."""
SHARE = "China World Share"
"""China's share of world DDS exports [dmnl]."""
WORLD_EXPORTS = "World DDS Exports"
"""World DDS exports, the demand China's share applies to [100M USD]."""

MAIN_OUTPUTS: tuple[str, ...] = (
    EXPORTS, IMPORTS, "Digital Trade Balance",
    "Digital Trade Total", SHARE, "Export Growth Rate", "Import Growth Rate",
    "Digital Infrastructure", "Digital Talent", "Openness", "Foreign Barriers", "Export Capability",
)
"""Default outputs: trade flows [100M USD], share [dmnl], growth rates [1/year], stocks."""

SUMMARY_OUTPUTS: tuple[str, ...] = MAIN_OUTPUTS[:3]
"""Always recorded: exports, imports and balance feed the summary table."""

TRADE_UNIT = "100M USD"
"""Unit of the trade flows and of the observed trade series."""

OBSERVED_FOR: dict[str, tuple[str, bool]] = {
    EXPORTS: ("china_dds_exports_unctad", True),
    IMPORTS: ("china_dds_imports_unctad", True),
    "Digital Trade Balance": ("china_dds_balance_unctad", True),
    "Digital Trade Total": ("china_dds_total_unctad", True),
    SHARE: ("china_world_share_dds_exports", True),
    "Digital Talent": ("rd_personnel_fte", False),
}
"""Model output -> the observed series (``model/data/observed.csv``) drawn beside it, and
whether it measures the same quantity (False: a proxy in the same unit)."""


def observed_series(proxies: bool = False) -> dict[str, str]:
    """Return model output -> observed series of :data:`OBSERVED_FOR`.

    Parameters
    ----------
    proxies : bool, default False
        Include the series that only stand in for an output.
    """
    return {v: s for v, (s, same) in OBSERVED_FOR.items() if same or proxies}


# ----------------------------------------------------------------- names people read
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

SHORT_NAMES: dict[str, dict[str, str]] = {
    "Digitally Deliverable Exports": {"zh": "出口", "en": "Exports"},
    "Digitally Deliverable Imports": {"zh": "进口", "en": "Imports"},
    "Digital Trade Balance": {"zh": "贸易差额", "en": "Balance"},
    "China World Share": {"zh": "世界份额", "en": "World share"},
}
"""Model output -> its short name for headline metrics, by language."""

VARIABLE_NAMES: dict[str, dict[str, str]] = {
    "Digitally Deliverable Exports": {"zh": "数字可交付服务出口", "en": "Digitally deliverable exports"},
    "Digitally Deliverable Imports": {"zh": "数字可交付服务进口", "en": "Digitally deliverable imports"},
    "Digital Trade Balance": {"zh": "数字贸易差额", "en": "Digital trade balance"},
    "China World Share": {"zh": "中国占世界份额", "en": "China's world share"},
    "Digital Infrastructure": {"zh": "数字基础设施", "en": "Digital infrastructure"},
    "Digital Talent": {"zh": "数字人才", "en": "Digital talent"},
    "Openness": {"zh": "开放度", "en": "Openness"},
    "Foreign Barriers": {"zh": "外国壁垒", "en": "Foreign barriers"},
    "Export Capability": {"zh": "出口能力", "en": "Export capability"},
    "Internet Penetration": {"zh": "互联网普及率", "en": "Internet penetration"},
    "Infrastructure Investment Lever": {"zh": "基础设施投资", "en": "Infrastructure investment"},
    "Talent Training Lever": {"zh": "人才培养", "en": "Talent training"},
    "Reform Pace Lever": {"zh": "改革开放步伐", "en": "Reform pace"},
    "Data Flow Tightening Lever": {"zh": "数据流动收紧", "en": "Data-flow tightening"},
    "Innovation Protection Lever": {"zh": "创新与知识产权保护", "en": "Innovation protection"},
    "World Demand Growth Lever": {"zh": "世界需求增长", "en": "World demand growth"},
    "Foreign Barrier Shock Size": {"zh": "外国壁垒冲击幅度", "en": "Foreign barrier shock size"},
}
"""Model variable (Vensim name) -> its display name, by language."""

UNIT_NAMES: dict[str, dict[str, str]] = {
    "100M USD": {"zh": "亿美元", "en": "100M USD"},
    "10k FTE": {"zh": "万人年", "en": "10k FTE"},
    "10k person-years": {"zh": "万人年", "en": "10k person-years"},
    "percent": {"zh": "%", "en": "%"},
    "Dmnl": {"zh": "无量纲", "en": "dimensionless"},
    "dimensionless": {"zh": "无量纲", "en": "dimensionless"},
    "Year": {"zh": "年", "en": "year"},
    "year": {"zh": "年", "en": "year"},
}
"""A model unit -> its display name, by language."""
