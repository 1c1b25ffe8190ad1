"""Figures of the calibration report, as embeddable PNG data URIs.

Each function takes plain arrays and returns a :class:`matplotlib.figure.Figure`
built without pyplot (no global state); :func:`data_uri` renders one to a
``data:image/png;base64,...`` string for a self-contained HTML file.
"""
from __future__ import annotations

import base64
import io

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

OBS = dict(color="black", marker="o", linestyle="none", markersize=4, zorder=5)
MODEL = "#1f5fa8"
BAND = "#9cc3ea"
TREND = "#888888"
NAIVE = "#c0504d"
DPI = 96


def data_uri(fig: Figure) -> str:
    """PNG of ``fig`` as a base64 data URI."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight",
                metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _style_panel(ax, p: dict) -> None:
    """Title, unit label, ticks, grid and legend of one fit or projection panel."""
    ax.set_title(p["title"], fontsize=9)
    ax.set_ylabel(p["unit"], fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, loc="upper left")


def _panel_grid(n: int, width: float = 5.2, height: float = 3.3, cols: int = 2):
    cols = min(n, cols)
    rows = -(-n // cols)
    fig = Figure(figsize=(width * cols, height * rows))
    return fig, [fig.add_subplot(rows, cols, i + 1) for i in range(n)]


def fit_chart(panels: list[dict]) -> Figure:
    """Simulated (line, with an uncertainty band) against observed (points), one panel each.

    Each panel: title, unit, years, observed, times, simulated, band (2, T) or None,
    trend or None.
    """
    fig, axes = _panel_grid(len(panels))
    for ax, p in zip(axes, panels, strict=True):
        if p.get("band") is not None:
            ax.fill_between(p["times"], p["band"][0], p["band"][1], color=BAND, alpha=0.6,
                            lw=0, label="95% band (bootstrap parameter sets)")
        ax.plot(p["times"], p["simulated"], color=MODEL, lw=2, label="model, calibrated")
        if p.get("trend") is not None:
            ax.plot(p["years"], p["trend"], color=TREND, lw=1, ls="--",
                    label="log-linear trend")
        ax.plot(p["years"], p["observed"], label="observed", **OBS)
        _style_panel(ax, p)
    fig.tight_layout()
    return fig


def projection_chart(panels: list[dict], last_observed: float) -> Figure:
    """Calibrated runs to the final time with the parameter band, observed points beside."""
    fig, axes = _panel_grid(len(panels))
    for ax, p in zip(axes, panels, strict=True):
        if p.get("band") is not None:
            ax.fill_between(p["times"], p["band"][0], p["band"][1], color=BAND, alpha=0.6,
                            lw=0, label="95% band (bootstrap parameter sets)")
            ax.plot(p["times"], p["median"], color=MODEL, lw=1, ls=":",
                    label="band median")
        ax.plot(p["times"], p["simulated"], color=MODEL, lw=2, label="model, calibrated")
        if p.get("default") is not None:
            ax.plot(p["times"], p["default"], color=TREND, lw=1, ls="--",
                    label="model, its own default values")
        ax.plot(p["years"], p["observed"], label="observed", **OBS)
        ax.axvline(last_observed, color="#999999", lw=0.8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        _style_panel(ax, p)
    fig.tight_layout()
    return fig


def cross_check_chart(title: str, years, observed, sim_times, simulated, unit: str,
                      band=None, other=None, other_label: str = "") -> Figure:
    """Model total against a series of a different vintage/definition."""
    fig = Figure(figsize=(6.0, 3.4))
    ax = fig.add_subplot()
    if band is not None:
        ax.fill_between(sim_times, band[0], band[1], color=BAND, alpha=0.6, lw=0,
                        label="95% band (bootstrap parameter sets)")
    ax.plot(sim_times, simulated, color=MODEL, lw=2, label="model exports + imports")
    if other is not None:
        ax.plot(other[0], other[1], color=TREND, marker="s", ms=3, lw=1,
                label=other_label)
    ax.plot(years, observed, label="MOFCOM total (different vintage/definition)",
            **{**OBS, "marker": "D"})
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(unit)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    return fig


def profile_chart(profiles: list[dict], threshold: float) -> Figure:
    """Δχ² profiles, one panel per parameter, with both 95% intervals."""
    k = len(profiles)
    cols = min(k, 3)
    rows = -(-k // cols)
    fig = Figure(figsize=(3.3 * cols, 2.6 * rows))
    for i, p in enumerate(profiles):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.plot(p["theta"], p["delta"], color=MODEL, marker=".", ms=3, lw=1.2)
        ax.axhline(threshold, color=NAIVE, lw=1, ls="--", label=f"χ² threshold {threshold}")
        lo, hi = p["interval_bootstrap"]
        if np.isfinite(lo) and np.isfinite(hi):
            ax.axvspan(lo, hi, color=BAND, alpha=0.4, lw=0, label="bootstrap 95%")
        ax.axvline(p["estimate"], color="black", lw=1)
        ax.set_ylim(-0.5, max(4 * threshold, 1.0))
        ax.set_title(p["name"], fontsize=8)
        ax.set_xlabel(f"{p['flag']}", fontsize=7)
        ax.tick_params(labelsize=7)
        if i == 0:
            ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def oos_chart(panels: list[dict]) -> Figure:
    """Forecasts after an origin (model, log-linear trend, naive growth), one panel per series.

    Each panel: title, unit, fit_years, fit_observed, years, observed, model, trend, naive.
    """
    fig, axes = _panel_grid(len(panels), width=4.6, height=3.0)
    for ax, p in zip(axes, panels, strict=True):
        ax.plot(p["fit_years"], p["fit_observed"], label="observed (fitted years)",
                **{**OBS, "markerfacecolor": "white"})
        ax.plot(p["years"], p["observed"], label="observed (held out)", **OBS)
        ax.plot(p["years"], p["model"], color=MODEL, marker="^", lw=2, label="model forecast")
        ax.plot(p["years"], p["trend"], color=TREND, marker="s", lw=1, ls="--",
                label="log-linear trend")
        ax.plot(p["years"], p["naive"], color=NAIVE, marker="v", lw=1, ls=":",
                label="naive growth")
        _style_panel(ax, p)
    fig.tight_layout()
    return fig


def sensitivity_chart(names: list[str], years: list[float], first, total, method: str,
                      output: str) -> Figure:
    """Indices over time: first-order and total (Sobol) or μ* and σ (Morris)."""
    first, total = np.asarray(first), np.asarray(total)
    fig = Figure(figsize=(9.0, 3.6))
    labels = ("first-order S1", "total ST") if method == "sobol" else (
        "μ* / mean output", "σ / mean output")
    order = np.argsort(-total[-1]) if np.all(np.isfinite(total[-1])) else np.arange(len(names))
    cmap = colormaps["tab20"]
    for p, (arr, lab) in enumerate(zip((first, total), labels, strict=True)):
        ax = fig.add_subplot(1, 2, p + 1)
        for c, j in enumerate(order):
            ax.plot(years, arr[:, j], marker="os^vD"[c % 5], lw=1.5, color=cmap(c % 20),
                    label=names[j])
        ax.set_title(f"{lab} of {output}", fontsize=9)
        ax.set_xticks(years)
        ax.grid(alpha=0.3)
        if p == 1:
            ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig


def correlation_chart(names: list[str], matrix) -> Figure:
    """Heat map of the parameter correlation matrix."""
    m = np.asarray(matrix, dtype=float)
    k = len(names)
    fig = Figure(figsize=(1.1 * k + 2.5, 0.9 * k + 1.5))
    ax = fig.add_subplot()
    im = ax.imshow(np.nan_to_num(m), vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(k), names, rotation=40, ha="right", fontsize=7)
    ax.set_yticks(range(k), names, fontsize=7)
    for i in range(k):
        for j in range(k):
            txt = "–" if not np.isfinite(m[i, j]) else f"{m[i, j]:.2f}"
            ax.text(j, i, txt, ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    return fig
