"""Loop dominance results as a table, a CSV and a chart."""
from __future__ import annotations

import io

import numpy as np

from sim.loops.scores import LoopAnalysis

TOP = 8
"""Loops drawn in colour in the chart (largest relative score); the rest grey."""


def label(k: int, name: str = "") -> str:
    """Return ``L<k+1>`` plus the loop's name, if it has one."""
    return f"L{k + 1}" + (f" {name}" if name else "")


def loops_table(a: LoopAnalysis, top: int | None = None) -> str:
    """Return a text table: loop, polarity, largest and mean relative score, variables."""
    rows = [("loop", "polarity", "max |rel|", "mean rel", "variables")]
    for k, lp in enumerate(a.loops[:top] if top else a.loops):
        rows.append((label(k, lp.name), lp.polarity, f"{float(np.max(np.abs(lp.relative))):.3f}",
                     f"{float(np.mean(lp.relative)):+.3f}", " -> ".join(lp.variables)))
    w = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(r[i].ljust(w[i]) for i in range(4)) + "  " + r[4] for r in rows]
    note = "" if a.complete else "\n(an independent loop set: the model has too many loops to list)"
    scope = f" through {a.variable}" if a.variable else ""
    return (f"{len(a.loops)} feedback loops{scope}; relative loop scores over "
            f"{a.times[0]:g}-{a.times[-1]:g} (Loops That Matter)\n" + "\n".join(lines) + note)


def loops_csv(a: LoopAnalysis) -> str:
    """Return a long CSV: ``loop, name, polarity, time, score, relative`` and the variables."""
    lines = ["loop,name,polarity,time,score,relative,variables"]
    for k, lp in enumerate(a.loops):
        chain = " -> ".join(lp.variables).replace('"', "'")
        for t, s, r in zip(a.times, lp.score, lp.relative, strict=True):
            lines.append(f'L{k + 1},"{lp.name}",{lp.polarity},{t:g},{s:.6g},{r:.6g},"{chain}"')
    return "\n".join(lines) + "\n"


def loops_figure(a: LoopAnalysis, title: str = ""):
    """Return a matplotlib Figure of the relative loop scores over time (strongest in colour)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.5, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for k, lp in enumerate(a.loops):
        if k < TOP:
            ax.plot(a.times, lp.relative, lw=1.5, label=label(k, lp.name))
        else:
            ax.plot(a.times, lp.relative, color="0.8", lw=0.7)
    ax.axhline(0, color="0.4", lw=0.6)
    ax.set_ylim(-1.05, 1.05)
    ax.set_ylabel("relative loop score (+ reinforcing, - balancing)")
    ax.set_xlabel("time")
    ax.set_title(title or "Loop dominance", fontsize=9)
    ax.grid(alpha=0.3)
    fig.legend(loc="outside right upper", fontsize=7)
    return fig


def loops_png(a: LoopAnalysis, title: str = "") -> bytes:
    """Return :func:`loops_figure` as PNG bytes."""
    fig = loops_figure(a, title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    return buf.getvalue()
