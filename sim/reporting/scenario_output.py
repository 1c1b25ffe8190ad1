"""Files and charts of a scenario batch (``sim run``); every write is atomic.

Per scenario, in ``OUT/<scenario-slug>/``:

- ``results.csv`` / ``results.parquet``: tidy values (run_id, scenario, time,
  variable, value) of every member; ``results.nc`` (netCDF) / ``results.zarr``
  (a Zarr store): an xarray Dataset, time x member, with units;
- or, for a streamed run (``sim run --stream``), ``members/part-NNNNN.parquet``:
  one file per chunk of members, written as the chunk completed
  (:mod:`sim.ensembles.streaming`), instead of the above;
- ``percentiles.csv``: wide table, one row per saved time, the 5/25/50/75/95th
  percentiles and the mean of every recorded variable;
- ``experiments.csv``: one row per member with the sampled parameter values;
- ``summary.csv``: levels, growth rates and differences from the baseline;
- ``comparison.png`` / ``comparison.svg``: the scenario against the baseline
  and the observed history (UNCTAD, 2015-2022), with its paired difference
  from the baseline (:mod:`sim.reporting.figures_scenario`);
- ``scenario.resolved.yaml``: the scenario as run, plus ``provenance`` (hashes
  of the model, data and calibration, seed, sampling, version, command line,
  time) -- ``sim run`` reruns it unchanged.

In ``OUT/``: ``summary.csv`` (all scenarios), ``summary.txt`` (the printed
table) and, when some scenario failed, ``failures.csv``.
"""
from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from sim.ensembles.batch import BatchResult, ScenarioRun, format_summary, summarize
from sim.io import atomic_write_bytes, atomic_write_text
from sim.paths import find_project_root
from sim.project import DATA_FOLDER, observed_series
from sim.reporting.figures_scenario import comparison_figure
from sim.reporting.fonts import figure_fonts
from sim.scenarios import scenario_to_yaml

OBSERVED_SERIES: dict[str, str] = observed_series()
"""Observed series (``model/data/observed.csv``) drawn beside each output: those of
:data:`sim.project.OBSERVED_FOR` that measure the output itself."""

CHART_FORMATS: tuple[str, ...] = ("png", "svg")


def file_sha256(path: str | Path) -> str | None:
    """sha256 of a file's bytes, or None when it does not exist."""
    path = Path(path)
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def load_history(path: str | Path | None = None) -> tuple[dict[str, pd.Series], str | None]:
    """Observed series for the charts and the data hash.

    Parameters
    ----------
    path : path-like, optional
        ``observed.csv``; default ``model/data/observed.csv`` of the project
        (:mod:`sim.paths`; no history when there is no project folder).

    Returns
    -------
    history : dict
        Vensim output name -> Series indexed by year (only those present).
    data_hash : str or None
        :attr:`sim.data.observed.ObservedData.data_hash`, or the file's sha256 when it
        does not validate; None when there is no file.
    """
    from sim.data import observed as sdata
    if path is None:
        root = find_project_root()
        if root is None:
            return {}, None
        path = root.joinpath(*DATA_FOLDER, "observed.csv")
    path = Path(path)
    if not path.is_file():
        return {}, None
    try:
        observed = sdata.load_observed(path)
    except sdata.DataError:
        frame = pd.read_csv(path)
        out = {}
        for var, series in OBSERVED_SERIES.items():
            sub = frame[frame["series"] == series]
            if len(sub):
                out[var] = pd.Series(sub["value"].to_numpy(float), index=sub["year"].to_numpy(int))
        return out, file_sha256(path)
    out = {}
    for var, series in OBSERVED_SERIES.items():
        s = observed.series(series)
        if len(s):
            out[var] = s
    return out, observed.data_hash


def _csv(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False, float_format="%.10g").encode("utf-8")


def _netcdf(run: ScenarioRun) -> bytes:
    """Return the run's values as netCDF bytes (an xarray Dataset, time x member)."""
    import os
    import tempfile

    ds = run.result.to_xarray()
    ds.attrs["scenario"] = run.name
    fd, tmp = tempfile.mkstemp(suffix=".nc")
    os.close(fd)
    try:
        ds.to_netcdf(tmp)
        with open(tmp, "rb") as fh:
            return fh.read()
    finally:
        os.unlink(tmp)


def _zarr(run: ScenarioRun, path: Path) -> list[Path]:
    """Write the run's values as a Zarr store at ``path`` (an xarray Dataset); its files."""
    import shutil

    ds = run.result.to_xarray()
    ds.attrs["scenario"] = run.name
    tmp = path.with_name(f".{path.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    ds.to_zarr(tmp, mode="w", consolidated=False)
    shutil.rmtree(path, ignore_errors=True)
    tmp.rename(path)
    return sorted(p for p in path.rglob("*") if p.is_file())


def _parquet(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def run_provenance(run: ScenarioRun, common: Mapping) -> dict:
    """Provenance of one run: ``common`` (hashes, version, command, time) plus its own."""
    sc = run.scenario
    out = dict(common)
    out.update({
        "source": sc.source,
        "seed": sc.seed,
        "sampling": sc.sampling if run.members > 1 else None,
        "members_run": run.members,
        "method": run.method,
        "failed_members": list(run.failed_members),
        "warnings": list(run.warnings),
    })
    out.update({k: v for k, v in run.resolved.provenance().items() if k != "notes"})
    return out


def _figure_bytes(fig, fmt: str) -> bytes:
    import matplotlib

    buf = io.BytesIO()
    # a fixed salt for the SVG's element ids: the same run writes the same bytes
    with figure_fonts(), matplotlib.rc_context({"svg.hashsalt": "dds-sim"}):
        fig.savefig(buf, format=fmt, dpi=120, metadata={"Date": None} if fmt == "svg" else None)
    return buf.getvalue()


def write_scenario(run: ScenarioRun, out_dir: str | Path, *, baseline: ScenarioRun | None,
                   provenance: Mapping, history: Mapping[str, pd.Series] | None = None,
                   summary: pd.DataFrame | None = None, charts: bool = True,
                   formats: tuple[str, ...] = ("csv", "parquet")) -> list[Path]:
    """Write one scenario's files into ``out_dir / run.slug``.

    ``formats`` of the member-by-member values: ``csv`` and ``parquet`` (the tidy
    table), ``netcdf`` (``results.nc``) and ``zarr`` (``results.zarr``), both
    :meth:`sim.SimulationResult.to_xarray` with the scenario's name as an
    attribute. A streamed run's members are in ``members/`` already: no format
    is written for it.

    Returns
    -------
    list of Path
        The files written.
    """
    folder = Path(out_dir) / run.slug
    summary = summarize(run, baseline) if summary is None else summary
    written: list[Path] = []
    if run.streamed:  # the members are in folder/members/ already, one file per chunk
        written += [p.path for p in run.result.parts]
    elif "csv" in formats or "parquet" in formats:
        tidy = run.tidy()
        if "csv" in formats:
            written.append(atomic_write_bytes(folder / "results.csv", _csv(tidy)))
        if "parquet" in formats:
            written.append(atomic_write_bytes(folder / "results.parquet", _parquet(tidy)))
    if "netcdf" in formats and not run.streamed:
        written.append(atomic_write_bytes(folder / "results.nc", _netcdf(run)))
    if "zarr" in formats and not run.streamed:
        written += _zarr(run, folder / "results.zarr")
    written += [
        atomic_write_bytes(folder / "percentiles.csv", _csv(run.percentiles())),
        atomic_write_bytes(folder / "experiments.csv", _csv(run.experiments())),
        atomic_write_bytes(folder / "summary.csv", _csv(summary)),
        atomic_write_text(folder / "scenario.resolved.yaml", _resolved_yaml(run, provenance)),
    ]
    if charts:
        fig = comparison_figure(run, baseline, history)
        for fmt in CHART_FORMATS:
            written.append(atomic_write_bytes(folder / f"comparison.{fmt}",
                                              _figure_bytes(fig, fmt)))
    return written


def _resolved_yaml(run: ScenarioRun, provenance: Mapping) -> str:
    head = ("# Scenario as run by `sim run`, with its provenance. Rerun it with:\n"
            f"#   sim run {run.slug}/scenario.resolved.yaml\n")
    return head + scenario_to_yaml(run.scenario, provenance=run_provenance(run, provenance))


def write_batch(batch: BatchResult, out_dir: str | Path, *, provenance: Mapping,
                summary: pd.DataFrame, history: Mapping[str, pd.Series] | None = None,
                charts: bool = True, on_written=None,
                formats: tuple[str, ...] = ("csv", "parquet")) -> list[Path]:
    """Write every run of a batch, the combined summary and the failures.

    Parameters
    ----------
    batch : BatchResult
    out_dir : path-like
    provenance : mapping
        Shared provenance (model, data and calibration hashes, version,
        command line, timestamp).
    summary : DataFrame
        :func:`sim.ensembles.batch.summary_table` of the batch.
    history : mapping, optional
        Observed series from :func:`load_history`.
    charts : bool
    on_written : callable, optional
        Called with each scenario name once its files are written.

    Returns
    -------
    list of Path
    """
    out_dir = Path(out_dir)
    written: list[Path] = []
    for run in batch.runs:
        part = summary[summary["scenario"] == run.name]
        written += write_scenario(run, out_dir, baseline=batch.baseline, provenance=provenance,
                                  history=history, summary=part, charts=charts, formats=formats)
        if on_written is not None:
            on_written(run.name)
    written.append(atomic_write_bytes(out_dir / "summary.csv", _csv(summary)))
    written.append(atomic_write_text(out_dir / "summary.txt", format_summary(summary) + "\n"))
    if charts:
        from sim.reporting.share_output import write_share
        written += write_share(batch, out_dir, history, _figure_bytes, CHART_FORMATS)
    fail = out_dir / "failures.csv"
    if batch.failures:
        frame = pd.DataFrame([{"source": f.source, "scenario": f.scenario, "reason": f.reason}
                              for f in batch.failures])
        written.append(atomic_write_bytes(fail, _csv(frame)))
    elif fail.exists():
        fail.unlink()  # from an earlier run of the same folder; it would mislead
    return written
