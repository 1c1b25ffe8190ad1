"""User-interface strings in Chinese and English, and locale-aware number formats.

Every string the app shows comes from :data:`STRINGS` through :func:`t`, so a
missing translation is a test failure (``tests/test_app.py`` checks that both
languages have every key), not a silent fallback.
"""
from __future__ import annotations

import math
from typing import Literal

from sim.project import SHORT_NAMES, UNIT_NAMES, VARIABLE_NAMES

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")
LANG_NAMES: dict[str, str] = {"zh": "中文", "en": "English"}

STRINGS: dict[str, dict[str, str]] = {
    "title": {"zh": "中国数字可交付服务贸易：情景模拟",
              "en": "China's digitally deliverable services trade: what-if simulator"},
    "subtitle": {"zh": "系统动力学模型 · 拖动政策杠杆，图表即时重算（{start}–{end} 年）",
                 "en": "System-dynamics model · move a policy lever and the charts are "
                       "recomputed at once ({start}–{end})"},
    "language": {"zh": "语言 / Language", "en": "Language / 语言"},
    "scenario": {"zh": "情景", "en": "Scenario"},
    "scenario_help": {"zh": "载入 scenarios/ 目录中的情景文件", "en": "Load a file from scenarios/"},
    "scenario_loaded": {"zh": "已载入情景：{name}", "en": "Scenario loaded: {name}"},
    "scenario_dir_empty": {"zh": "scenarios/ 目录中尚无情景文件。",
                           "en": "No scenario files in scenarios/ yet."},
    "scenario_bad": {"zh": "情景文件无法载入：{msg}", "en": "The scenario could not be loaded: {msg}"},
    "reset": {"zh": "重置为基准", "en": "Reset to baseline"},
    "levers": {"zh": "政策杠杆", "en": "Policy levers"},
    "lever_value": {"zh": "{name}（{unit}）", "en": "{name} ({unit})"},
    "lever_start": {"zh": "起始年份", "en": "start year"},
    "lever_missing": {"zh": "模型中没有杠杆：{names}", "en": "The model has no lever: {names}"},
    "times_baseline": {"zh": "×基准", "en": "× baseline"},
    "band_toggle": {"zh": "显示校准不确定区间", "en": "Show calibrated uncertainty band"},
    "band_caption": {"zh": "阴影：{n} 组参数抽样（数据可识别参数的校准区间，拉丁超立方）的 5%–95% 分位区间；"
                           "下载的情景文件包含同样的集合设置",
                     "en": "Shaded: 5–95% range of {n} parameter draws (Latin hypercube) from the "
                           "calibrated intervals of the identified parameters; the downloaded "
                           "scenario carries the same ensemble settings"},
    "band_caption_own": {"zh": "阴影：该情景自身集合（{n} 个成员）的 5%–95% 分位区间",
                         "en": "Shaded: 5–95% range of the scenario's own ensemble ({n} members)"},
    "metrics_shown": {"zh": "以上数字：在{base}上的单次点运行（不抽样参数，{method}）于 {year} 年的值，"
                            "与 `sim run` 的集合中位数不同",
                      "en": "The numbers above: {year} values of one point run at {base} "
                            "(nothing sampled, {method}); `sim run` shows ensemble medians "
                            "instead"},
    "base_calibrated": {"zh": "校准估计值", "en": "the calibrated estimates"},
    "base_model": {"zh": "模型默认参数", "en": "the model's own values"},
    "band_unavailable": {"zh": "无不确定区间：{msg}", "en": "No uncertainty band: {msg}"},
    "band_failures": {"zh": "{k} 组抽样数值发散，已从区间中剔除",
                      "en": "{k} draws went non-finite and are left out of the band"},
    "calibrated_missing": {
        "zh": "未找到校准结果文件 {path}：模型使用其默认参数，不显示不确定区间和校准视图。",
        "en": "No calibration results at {path}: the model runs with its default parameters; "
              "the uncertainty band and the calibration view are unavailable."},
    "calibrated_bad": {"zh": "校准结果文件 {path} 无法读取：{msg}",
                       "en": "The calibration results {path} could not be read: {msg}"},
    "model_missing": {"zh": "未找到模型文件 {path}。", "en": "Model file not found: {path}."},
    "model_bad": {"zh": "模型无法载入：{msg}", "en": "The model could not be loaded: {msg}"},
    "observed_bad": {"zh": "观测数据无法载入：{msg}", "en": "Observed data could not be loaded: {msg}"},
    "sim_nonfinite": {"zh": "模拟在 {time} 年出现非有限值（{var}）。",
                      "en": "The simulation went non-finite in {time} ({var})."},
    "settings_bad": {"zh": "设置无效：{msg}", "en": "Invalid settings: {msg}"},
    "run_stopped": {"zh": "运行已停止（超出本应用每次运行的时间或内存预算）：{msg}",
                    "en": "The run was stopped (over the app's time or memory budget for one "
                          "run): {msg}"},
    "budget_bad": {"zh": "运行预算设置无效，已使用默认值：{msg}",
                   "en": "The run budget setting is invalid; the defaults are used: {msg}"},
    "tab_trade": {"zh": "贸易", "en": "Trade"},
    "tab_stocks": {"zh": "存量", "en": "Stocks"},
    "tab_structure": {"zh": "模型结构", "en": "Model structure"},
    "tab_calibration": {"zh": "校准", "en": "Calibration"},
    "tab_table": {"zh": "数据表", "en": "Table"},
    "tab_loops": {"zh": "反馈回路", "en": "Feedback loops"},
    "tab_sensitivity": {"zh": "敏感性", "en": "Sensitivity"},
    "sens_output": {"zh": "分析的输出", "en": "Output analysed"},
    "sens_run": {"zh": "运行敏感性分析", "en": "Run the sensitivity analysis"},
    "sens_hint": {"zh": "Sobol 全局敏感性（SALib）：模型中声明了取值范围的常数在其范围内抽样，"
                        "当前设置作为其余输入；共 {runs} 次运行，约需数秒。",
                  "en": "Sobol global sensitivity (SALib): the constants whose range the model "
                        "declares are sampled over it, the current settings hold the rest; "
                        "{runs} runs, a few seconds."},
    "sens_title": {"zh": "{output} 的总效应指数 ST（随时间）",
                   "en": "Total-order index ST of {output}, over time"},
    "sens_axis": {"zh": "总效应指数 ST", "en": "total-order index ST"},
    "sens_factor": {"zh": "因素", "en": "Factor"},
    "sens_total": {"zh": "ST（末年）", "en": "ST (final year)"},
    "sens_first": {"zh": "S1（末年）", "en": "S1 (final year)"},
    "checks_title": {"zh": "模型检验（sim check）：{passed}/{total} 项通过",
                     "en": "Model checks (sim check): {passed} of {total} pass"},
    "checks_bad": {"zh": "模型检验无法运行：{msg}", "en": "The model checks could not run: {msg}"},
    "checks_result": {"zh": "结果", "en": "Result"},
    "checks_category": {"zh": "类别", "en": "Category"},
    "checks_check": {"zh": "检验", "en": "Check"},
    "checks_detail": {"zh": "结果说明", "en": "Detail"},
    "loops_title": {"zh": "各反馈回路的相对得分（当前设置）",
                    "en": "Relative loop scores (current settings)"},
    "loops_axis": {"zh": "相对回路得分（+ 增强，- 调节）",
                   "en": "relative loop score (+ reinforcing, - balancing)"},
    "loops_caption": {"zh": "按 Loops That Matter 方法（Schoenberg、Davidsen 与 Eberlein，2020）计算："
                            "每个回路对模型行为变化的贡献，各时刻所有回路得分的绝对值之和为 1。"
                            "图中为最强的 {top} 个回路。",
                      "en": "Loops That Matter (Schoenberg, Davidsen & Eberlein 2020): each "
                            "loop's share of the change in the model's behaviour; at every time "
                            "the magnitudes add up to 1. The {top} strongest loops are drawn."},
    "loops_loop": {"zh": "回路", "en": "Loop"},
    "loops_polarity": {"zh": "极性", "en": "Polarity"},
    "loops_peak": {"zh": "最大 |相对得分|", "en": "Largest |relative score|"},
    "loops_mean": {"zh": "平均相对得分", "en": "Mean relative score"},
    "loops_variables": {"zh": "经过的变量", "en": "Variables"},
    "polarity_reinforcing": {"zh": "增强", "en": "reinforcing"},
    "polarity_balancing": {"zh": "调节", "en": "balancing"},
    "polarity_mixed": {"zh": "混合", "en": "mixed"},
    "polarity_inactive": {"zh": "不活跃", "en": "inactive"},
    "series_current": {"zh": "当前设置", "en": "Current settings"},
    "series_baseline": {"zh": "基准", "en": "Baseline"},
    "series_observed": {"zh": "观测值", "en": "Observed"},
    "series_model": {"zh": "模型（校准参数）", "en": "Model (calibrated)"},
    "year": {"zh": "年份", "en": "Year"},
    "value": {"zh": "数值", "en": "Value"},
    "delta_vs_baseline": {"zh": "较基准", "en": "vs baseline"},
    "observed_source": {"zh": "观测值：{src}（2015–2022）", "en": "Observed: {src} (2015–2022)"},
    "observed_proxy": {"zh": "观测代理指标：{series}", "en": "Observed proxy: {series}"},
    "diagram_caption": {"zh": "由模型方程自动生成：方框为存量，椭圆为流量，灰色为辅助变量，"
                              "绿色为政策杠杆。箭头表示方程中的依赖关系。",
                        "en": "Drawn from the model's equations: boxes are stocks, ellipses flows, "
                              "grey nodes auxiliaries, green nodes policy levers. Arrows are the "
                              "dependencies in the equations."},
    "diagram_constants": {"zh": "显示全部常数", "en": "Show all constants"},
    "diagram_stats": {"zh": "{stocks} 个存量，{flows} 个流量，{aux} 个辅助变量，{const} 个常数",
                      "en": "{stocks} stocks, {flows} flows, {aux} auxiliaries, {const} constants"},
    "calib_fit": {"zh": "各序列拟合（校准运行与观测值，2015–2022 年）",
                  "en": "Fit per series (the calibration's run vs observed, 2015–2022)"},
    "calib_params": {"zh": "参数表", "en": "Parameter table"},
    "calib_no_fit": {"zh": "校准文件中没有拟合统计。", "en": "The calibration file has no fit statistics."},
    "calib_meta": {"zh": "校准信息", "en": "Calibration metadata"},
    "col_parameter": {"zh": "参数", "en": "Parameter"},
    "col_estimate": {"zh": "估计值", "en": "Estimate"},
    "col_interval": {"zh": "区间", "en": "Interval"},
    "col_interval_bootstrap": {"zh": "自助法区间", "en": "Bootstrap interval"},
    "col_bounds": {"zh": "取值范围", "en": "Bounds"},
    "col_flag": {"zh": "标记", "en": "Flag"},
    "col_default": {"zh": "模型默认值", "en": "Model default"},
    "col_units": {"zh": "单位", "en": "Units"},
    "col_series": {"zh": "序列", "en": "Series"},
    "download_yaml": {"zh": "下载当前设置（情景 YAML）", "en": "Download settings (scenario YAML)"},
    "download_csv": {"zh": "下载结果（CSV）", "en": "Download results (CSV)"},
    "download_help": {"zh": "可直接用 `sim run 文件.yaml` 运行", "en": "Runs unchanged with `sim run FILE.yaml`"},
    "upload": {"zh": "上传情景 YAML", "en": "Upload a scenario YAML"},
    "upload_ok": {"zh": "已应用上传的情景：{name}", "en": "Applied the uploaded scenario: {name}"},
    "upload_several": {"zh": "文件含 {n} 个情景，已应用第一个：{name}",
                       "en": "The file holds {n} scenarios; the first was applied: {name}"},
    "download_bad": {"zh": "无法生成情景文件：{msg}", "en": "The scenario file cannot be written: {msg}"},
    "shock_year": {"zh": "冲击年份", "en": "shock year"},
    "band_nothing": {"zh": "校准结果中没有可抽样的已识别参数",
                     "en": "the calibration has no identified parameter to sample"},
    "upload_bad": {"zh": "上传的情景无效：{msg}", "en": "The uploaded scenario is invalid: {msg}"},
    "scenario_name": {"zh": "情景名称", "en": "Scenario name"},
    "scenario_description": {"zh": "情景说明", "en": "Scenario description"},
    "default_description": {"zh": "在情景模拟应用中设定", "en": "Set in the what-if app"},
    "table_caption": {"zh": "当前设置下的年度结果", "en": "Yearly results at the current settings"},
    "perf": {"zh": "重算用时 {ms} 毫秒", "en": "Recomputed in {ms} ms"},
    "none": {"zh": "无", "en": "none"},
    "marker_data_end": {"zh": "观测数据至 {year} 年", "en": "observed data end {year}"},
    "marker_lever": {"zh": "{names}（{year} 年起）", "en": "{names} from {year}"},
    "diff_title": {"zh": "{name}：与基准之差", "en": "{name}: difference from the baseline"},
    "unit_pp": {"zh": "百分点", "en": "percentage points"},
}

def check_lang(lang: str) -> Lang:
    """Return ``lang`` if it is a supported language code, else raise ``ValueError``."""
    if lang not in LANGS:
        raise ValueError(f"lang '{lang}' is not one of {', '.join(LANGS)}")
    return lang  # type: ignore[return-value]


def t(key: str, lang: str, **fields) -> str:
    """Return the UI string ``key`` in ``lang``, with ``fields`` substituted.

    Raises
    ------
    KeyError
        Unknown key (a typo in the app, caught by the tests).
    """
    text = STRINGS[key][check_lang(lang)]
    return text.format(**fields) if fields else text


def var_label(name: str, lang: str) -> str:
    """Display name of a model variable (its Vensim name when not translated)."""
    entry = VARIABLE_NAMES.get(name)
    return entry[check_lang(lang)] if entry else name


def short_label(name: str, lang: str) -> str:
    """Short display name for headline metrics (the full name when none is defined)."""
    entry = SHORT_NAMES.get(name)
    return entry[check_lang(lang)] if entry else var_label(name, lang)


def unit_label(units: str, lang: str) -> str:
    """Display name of a units string from the model (as is when not translated)."""
    key = (units or "").strip()
    entry = UNIT_NAMES.get(key)
    if entry:
        return entry[check_lang(lang)]
    return key or t("none", lang)


def fmt_number(x: float | None, lang: str, digits: int = 1) -> str:
    """Format a number with thousands separators and ``digits`` decimals.

    Both locales use ``,`` for thousands and ``.`` for decimals (the
    convention of Chinese statistical yearbooks too); a non-finite value is
    shown as an em dash.
    """
    check_lang(lang)
    if x is None or not math.isfinite(float(x)):
        return "—"
    return f"{float(x):,.{digits}f}"


def fmt_value(x: float | None, units: str, lang: str, digits: int = 1) -> str:
    """Format a value with its unit: ``2,070.1 亿美元`` / ``2,070.1 100M USD``.

    A dimensionless share (units ``Dmnl``/``dimensionless`` and ``|x| < 1``
    expected) is formatted by :func:`fmt_share` instead by the caller.
    """
    num = fmt_number(x, lang, digits)
    if num == "—":
        return num
    unit = unit_label(units, lang)
    if unit in ("无量纲", "dimensionless", t("none", lang)):
        return num
    return f"{num} {unit}"


def fmt_share(x: float | None, lang: str, digits: int = 2) -> str:
    """Format a fraction as a percentage: 0.0507 -> ``5.07%``."""
    check_lang(lang)
    if x is None or not math.isfinite(float(x)):
        return "—"
    return f"{100 * float(x):.{digits}f}%"


def fmt_delta(x: float | None, lang: str, digits: int = 1, percent: bool = False) -> str:
    """Signed difference for st.metric deltas: ``+123.4`` or ``-0.12 pp``."""
    check_lang(lang)
    if x is None or not math.isfinite(float(x)):
        return ""
    if percent:
        pp = "个百分点" if lang == "zh" else " pp"
        return f"{100 * float(x):+.{digits}f}{pp}"
    return f"{float(x):+,.{digits}f}"
