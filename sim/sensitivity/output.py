"""Write sensitivity indices: a long CSV and one chart per output."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from sim.io import atomic_write_bytes, atomic_write_text
from sim.sensitivity.run import IndicesOverTime

TOP = 8
"""Factors named in a chart's legend (the largest total index at any time)."""


def indices_csv(r: IndicesOverTime) -> str:
    """Return the indices as CSV, one row per output, time and factor.

    Columns: ``output, time, factor, first, first_conf, total, total_conf``
    (Sobol S1/ST; Morris mu*/sigma over the output's mean magnitude).
    """
    lines = ["output,time,factor,first,first_conf,total,total_conf"]
    for o, out in enumerate(r.outputs):
        for k, t in enumerate(r.times):
            for j, f in enumerate(r.factors):
                vals = (r.first[o, k, j], r.first_conf[o, k, j], r.total[o, k, j],
                        r.total_conf[o, k, j])
                cells = ",".join("" if not np.isfinite(v) else f"{v:.6g}" for v in vals)
                lines.append(f'"{out}",{t:g},"{f.name}",{cells}')
    return "\n".join(lines) + "\n"


def chart_png(r: IndicesOverTime, o: int) -> bytes:
    """Return a PNG of the total (Sobol ST, Morris sigma) and first-order index over time."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    # the legend names the factors that matter most (largest index at any time); the rest grey
    peak = np.nan_to_num(np.nanmax(np.where(np.isfinite(r.total[o]), r.total[o], -np.inf), axis=0)
                         if np.isfinite(r.total[o]).any() else np.zeros(len(r.factors)),
                         neginf=0.0)
    top = set(np.argsort(-peak)[:TOP].tolist())
    labels = ("first-order S1", "total ST") if r.method == "sobol" else \
        ("mu* / |mean|", "sigma / |mean|")
    for i, (arr, label) in enumerate(((r.first, labels[0]), (r.total, labels[1]))):
        ax = fig.add_subplot(1, 2, i + 1)
        for j, f in enumerate(r.factors):
            if j in top:
                ax.plot(r.times, arr[o, :, j], label=f.name, lw=1.5)
            else:
                ax.plot(r.times, arr[o, :, j], color="0.8", lw=0.7)
        ax.set_title(f"{r.outputs[o]}: {label}", fontsize=9)
        ax.set_xlabel("time")
        ax.grid(alpha=0.3)
    fig.legend(*fig.axes[-1].get_legend_handles_labels(), loc="outside right upper", fontsize=7,
               title=f"largest {min(TOP, len(r.factors))} (others grey)", title_fontsize=7)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    return buf.getvalue()


def write_outputs(r: IndicesOverTime, folder: Path, metadata: dict, charts: bool = True) -> list[Path]:
    """Write ``indices.csv``, ``metadata.json`` and one ``<output>.png`` per output."""
    folder = Path(folder)
    written = [atomic_write_text(folder / "indices.csv", indices_csv(r))]
    meta = dict(metadata, method=r.method, seed=r.seed, runs=r.n_runs, failed_members=r.failed,
                factors=[{"name": f.name, "low": f.low, "high": f.high, "log": f.log}
                         for f in r.factors], outputs=r.outputs)
    written.append(atomic_write_text(folder / "metadata.json",
                                     json.dumps(meta, indent=2, ensure_ascii=False) + "\n"))
    if charts:
        from sim.scenarios.names import slugify

        for o, out in enumerate(r.outputs):
            written.append(atomic_write_bytes(folder / f"{slugify(out) or 'output'}.png",
                                              chart_png(r, o)))
    return written
