"""Figures of the calibration report, as embeddable PNG data URIs.

Each function takes plain arrays and returns a :class:`matplotlib.figure.Figure`
built without pyplot (no global state); :func:`data_uri` renders one to a
``data:image/png;base64,...`` string for a self-contained HTML file.

Legible at print size: text of at least 8 points on figures about as wide as
the page, and the legend of a multi-panel figure below the panels
(:func:`figure_legend`), not over the data. Time axes tick the last year (the
horizon) and mark the end of the observed data.
"""
from __future__ import annotations

import base64
import io

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from sim.reporting.timeaxis import year_ticks

OBS = dict(color="black", marker="o", linestyle="none", markersize=4, zorder=5)
MODEL = "#1f5fa8"
BAND = "#9cc3ea"
TREND = "#888888"
NAIVE = "#c0504d"
DPI = 96
FONT = {"title": 10, "label": 9, "tick": 8, "legend": 9}
"""Font sizes [pt]: at :data:`DPI` and the figures' widths, legible when printed."""
DATA_END_STYLE = dict(color="#666666", lw=1.0, ls="--")


def data_uri(fig: Figure) -> str:
    """PNG of ``fig`` as a base64 data URI."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight",
                metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _style_panel(ax, p: dict) -> None:
    """Title, unit label, ticks and grid of one fit or projection panel (legend: the figure's)."""
    ax.set_title(p["title"], fontsize=FONT["title"], loc="left")
    ax.set_ylabel(p["unit"], fontsize=FONT["label"])
    ax.tick_params(labelsize=FONT["tick"])
    ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
    ax.grid(alpha=0.3)


def _thousands(x: float, _pos=None) -> str:
    """Tick label with a thousands separator (12,000); small values as they are (0.05)."""
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.10g}"


def _year_axis(ax, first: float, last: float) -> None:
    """Whole-year ticks from ``first`` to ``last``, the last one (the horizon) among them."""
    ax.set_xlim(first - 0.3, last + 0.3)
    ax.set_xticks(year_ticks(first, last))


def figure_legend(fig: Figure, ncol: int = 3) -> None:
    """One legend for all panels, below them: each label once, in drawing order."""
    seen: dict = {}
    for ax in fig.axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(lab, h)
    if seen:
        fig.legend(list(seen.values()), list(seen), loc="outside lower center",
                   ncol=min(ncol, len(seen)), fontsize=FONT["legend"], frameon=False)


def _figure(figsize: tuple[float, float]) -> Figure:
    """Return a figure with constrained layout: room for a legend outside the panels.

    Build figures inside :func:`sim.reporting.fonts.figure_fonts` for names in
    Chinese (:func:`sim.reporting.calibration_report.build_report` does).
    """
    return Figure(figsize=figsize, layout="constrained")


def _panel_grid(n: int, width: float = 5.2, height: float = 3.3, cols: int = 2):
    cols = min(n, cols)
    rows = -(-n // cols)
    fig = _figure((width * cols, height * rows + 0.6))
    return fig, [fig.add_subplot(rows, cols, i + 1) for i in range(n)]


def fit_chart(panels: list[dict]) -> Figure:
    """Plot simulated (line, with an uncertainty band) against observed (points), one panel each.

    Each panel: title, unit, years, observed, times, simulated, band (2, T) or None,
    trend or None.
    """
    fig, axes = _panel_grid(len(panels))
    for ax, p in zip(axes, panels, strict=True):
        if p.get("band") is not None:
            ax.fill_between(p["times"], p["band"][0], p["band"][1], color=BAND, alpha=0.6,
                            lw=0, label="90% band (bootstrap parameter sets)")
        ax.plot(p["times"], p["simulated"], color=MODEL, lw=2, label="model, calibrated")
        if p.get("trend") is not None:
            ax.plot(p["years"], p["trend"], color=TREND, lw=1, ls="--",
                    label="log-linear trend")
        ax.plot(p["years"], p["observed"], label="observed", **OBS)
        _style_panel(ax, p)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    figure_legend(fig, ncol=4)
    return fig


def projection_chart(panels: list[dict], last_observed: float) -> Figure:
    """Calibrated runs to the final time with the band, observed points beside.

    The end of the observed data is marked; the final year is a tick.
    """
    fig, axes = _panel_grid(len(panels))
    for ax, p in zip(axes, panels, strict=True):
        if p.get("band") is not None:
            ax.fill_between(p["times"], p["band"][0], p["band"][1], color=BAND, alpha=0.6,
                            lw=0, label="90% band (parameters, inputs, model error)")
            ax.plot(p["times"], p["median"], color=MODEL, lw=1, ls=":",
                    label="band median")
        ax.plot(p["times"], p["simulated"], color=MODEL, lw=2, label="model, calibrated")
        if p.get("default") is not None:
            ax.plot(p["times"], p["default"], color=TREND, lw=1, ls="--",
                    label="model, its own default values")
        ax.plot(p["years"], p["observed"], label="observed", **OBS)
        ax.axvline(last_observed, label=f"end of observed data, {last_observed:g}",
                   **DATA_END_STYLE)
        _year_axis(ax, float(np.min(p["times"])), float(np.max(p["times"])))
        _style_panel(ax, p)
    figure_legend(fig)
    return fig


def cross_check_chart(title: str, years, observed, sim_times, simulated, unit: str,
                      band=None, other=None, other_label: str = "",
                      observed_label: str = "MOFCOM total (different vintage/definition)"
                      ) -> Figure:
    """Model total against a series of a different vintage/definition."""
    fig = _figure((7.0, 4.2))
    ax = fig.add_subplot()
    if band is not None:
        ax.fill_between(sim_times, band[0], band[1], color=BAND, alpha=0.6, lw=0,
                        label="90% band (bootstrap parameter sets)")
    ax.plot(sim_times, simulated, color=MODEL, lw=2, label="model exports + imports")
    if other is not None:
        ax.plot(other[0], other[1], color=TREND, marker="s", ms=3, lw=1,
                label=other_label)
    ax.plot(years, observed, label=observed_label, **{**OBS, "marker": "D"})
    ax.set_title(title, fontsize=FONT["title"], loc="left")
    ax.set_ylabel(unit, fontsize=FONT["label"])
    ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
    ax.tick_params(labelsize=FONT["tick"])
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    figure_legend(fig, ncol=2)
    return fig


def profile_chart(profiles: list[dict], threshold: float) -> Figure:
    """Δχ² profiles, one panel per parameter, with both 95% intervals."""
    k = len(profiles)
    cols = min(k, 3)
    rows = -(-k // cols)
    fig = _figure((3.6 * cols, 2.9 * rows + 0.5))
    for i, p in enumerate(profiles):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.plot(p["theta"], p["delta"], color=MODEL, marker=".", ms=3, lw=1.2)
        ax.axhline(threshold, color=NAIVE, lw=1, ls="--", label=f"χ² threshold {threshold}")
        lo, hi = p["interval_bootstrap"]
        if np.isfinite(lo) and np.isfinite(hi):
            ax.axvspan(lo, hi, color=BAND, alpha=0.4, lw=0, label="bootstrap 95%")
        ax.axvline(p["estimate"], color="black", lw=1, label="estimate")
        ax.set_ylim(-0.5, max(4 * threshold, 1.0))
        ax.set_title(p["name"], fontsize=FONT["tick"] + 1)
        ax.set_xlabel(f"{p['flag']}", fontsize=FONT["tick"])
        ax.set_ylabel("Δχ²", fontsize=FONT["tick"])
        ax.tick_params(labelsize=FONT["tick"])
    figure_legend(fig)
    return fig


def sensitivity_chart(names: list[str], years: list[float], first, total, method: str,
                      output: str) -> Figure:
    """Plot indices over time: first-order and total (Sobol) or μ* and σ (Morris)."""
    first, total = np.asarray(first), np.asarray(total)
    fig = _figure((10.0, 4.2))
    labels = ("first-order S1", "total ST") if method == "sobol" else (
        "μ* / mean output", "σ / mean output")
    order = np.argsort(-total[-1]) if np.all(np.isfinite(total[-1])) else np.arange(len(names))
    cmap = colormaps["tab20"]
    for p, (arr, lab) in enumerate(zip((first, total), labels, strict=True)):
        ax = fig.add_subplot(1, 2, p + 1)
        for c, j in enumerate(order):
            ax.plot(years, arr[:, j], marker="os^vD"[c % 5], lw=1.5, color=cmap(c % 20),
                    label=names[j])
        ax.set_title(f"{lab} of {output}", fontsize=FONT["title"], loc="left")
        ax.set_xticks(years)
        ax.tick_params(labelsize=FONT["tick"])
        ax.grid(alpha=0.3)
    figure_legend(fig, ncol=3)
    return fig


def correlation_chart(names: list[str], matrix) -> Figure:
    """Heat map of the parameter correlation matrix."""
    m = np.asarray(matrix, dtype=float)
    k = len(names)
    fig = _figure((1.3 * k + 3.0, 1.0 * k + 1.8))
    ax = fig.add_subplot()
    im = ax.imshow(np.nan_to_num(m), vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(k), names, rotation=40, ha="right", fontsize=FONT["tick"])
    ax.set_yticks(range(k), names, fontsize=FONT["tick"])
    for i in range(k):
        for j in range(k):
            txt = "–" if not np.isfinite(m[i, j]) else f"{m[i, j]:.2f}"
            ax.text(j, i, txt, ha="center", va="center", fontsize=FONT["tick"])
    fig.colorbar(im, ax=ax, shrink=0.8)
    return fig
