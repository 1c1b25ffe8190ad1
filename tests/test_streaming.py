"""Streamed ensembles (issue #14): per-chunk Parquet files, summaries from them, flat memory."""
from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_batch import TWO  # the same two-scenario batch, in memory there

import sim
from sim.cli import main
from sim.engine.results import FailureKind
from sim.engine.running import chunks
from sim.ensembles.batch import run_batch, run_scenario, summary_table
from sim.ensembles.streaming import PartitionWriter, StreamedResult, StreamError, column_name
from sim.scenarios import load_scenarios_text
from sim.scenarios.memory import MemoryLimit, RunShape, check_run

TESTS = Path(__file__).parent
FIXTURE = TESTS / "models" / "levers_fixture.mdl"
DECAY = TESTS / "models" / "decay.mdl"
REPO = TESTS.parent



@pytest.fixture(scope="module")
def model():
    return sim.load_model(FIXTURE)


@pytest.fixture(scope="module")
def both(model, tmp_path_factory):
    """Run the same batch in memory and streamed, both in chunks of 7 members."""
    folder = tmp_path_factory.mktemp("stream")
    here = run_batch(load_scenarios_text(TWO, "two.yaml"), model, None, method="euler",
                     chunk_size=7)
    streamed = run_batch(load_scenarios_text(TWO, "two.yaml"), model, None, method="euler",
                         chunk_size=7, stream_dir=folder)
    return here, streamed, folder


def test_one_parquet_file_per_chunk(both):
    _, streamed, folder = both
    assert not streamed.failures and all(r.streamed for r in streamed.runs)
    for run in streamed.runs:
        files = sorted(p.name for p in (folder / run.slug / "members").iterdir())
        assert files == [f"part-{i:05d}.parquet" for i in range(6)]  # 40 members / 7
        first = pd.read_parquet(folder / run.slug / "members" / "part-00005.parquet")
        assert first["run_id"].tolist() == list(range(35, 40))
        assert column_name("Digitally Deliverable Exports", 2030) in first.columns


def test_summaries_from_partitions_equal_the_in_memory_ones_bit_for_bit(both):
    # Same chunking on both sides, so the same simulated bits; the streamed side
    # reads each column back and runs the same numpy reductions on it: bit-identical.
    here, streamed, _ = both
    pd.testing.assert_frame_equal(summary_table(here), summary_table(streamed), check_exact=True)
    for a, b in zip(here.runs, streamed.runs, strict=True):
        pd.testing.assert_frame_equal(a.percentiles(), b.percentiles(), check_exact=True)
        for var in a.variables:
            np.testing.assert_array_equal(a.values(var), b.result.values(var))
            np.testing.assert_array_equal(a.quantiles(var, (5, 50, 95)),
                                          b.quantiles(var, (5, 50, 95)))


def test_the_calibrated_band_streams_the_same_numbers(tmp_path):
    """``bands: calibrated``: the model error applied chunk by chunk is the whole run's."""
    from sim.scenarios import load_calibrated, resolve
    model = sim.load_model(REPO / "model" / "digital_trade.mdl")
    cal = load_calibrated(REPO / "model" / "calibrated.yaml")
    sc, = load_scenarios_text("name: b\ndescription: d\nmembers: 30\nseed: 5\n"
                              "bands: calibrated\ncalibration_uncertainty: none\n", "t.yaml")
    res = resolve(sc, model, cal)
    assert res.error_models
    here = run_scenario(res, model, method="euler", chunk_size=8)
    streamed = run_scenario(res, model, method="euler", chunk_size=8, stream_to=tmp_path / "m")
    assert streamed.streamed and len(list((tmp_path / "m").iterdir())) == 4
    for var in here.variables:
        np.testing.assert_array_equal(here.values(var), streamed.result.values(var))


def test_scenarios_stream_in_parallel_over_one_executor(model, both, tmp_path):
    """With an executor, the scenarios' chunks go to it together (``_in_parallel``)."""
    from concurrent.futures import ThreadPoolExecutor
    here, _, _ = both
    with ThreadPoolExecutor(2) as ex:
        par = run_batch(load_scenarios_text(TWO, "two.yaml"), model, None, method="euler",
                        chunk_size=7, stream_dir=tmp_path, executor=ex)
    assert [r.name for r in par.runs] == [r.name for r in here.runs]
    pd.testing.assert_frame_equal(summary_table(here), summary_table(par), check_exact=True)
    assert len(list((tmp_path / "talent-push" / "members").iterdir())) == 6


def _decay_params(model, n):
    rng = np.random.default_rng(1)
    name = next(c for c, v in model.constants.items() if v != 0 and c.lower() not in
                {"initial time", "final time", "time step", "saveper"})
    return {name: model.constants[name] * rng.uniform(0.8, 1.2, n)}


def _streamed_peak(model, n, folder) -> int:
    params = _decay_params(model, n)
    tracemalloc.start()
    try:
        writer = PartitionWriter(folder)
        res = model.simulate(params, method="euler", chunk_size=1000, sink=writer,
                             outputs=list(model.stocks)[:2])
        out = writer.result(res)
        for var in out.variables:          # what the summaries read: a few columns at a time
            for _, row in out.rows(var):
                np.nanpercentile(row, (5, 50, 95))
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_peak_memory_does_not_grow_with_the_members(tmp_path, monkeypatch):
    from sim.ensembles import streaming
    monkeypatch.setattr(streaming, "READ_BYTES", 1)  # one saved time (N doubles) per pass
    model = sim.load_model(DECAY)
    _streamed_peak(model, 1000, tmp_path / "warm")
    small = _streamed_peak(model, 2000, tmp_path / "a")
    large = _streamed_peak(model, 8000, tmp_path / "b")
    whole = model.simulate(_decay_params(model, 8000), method="euler", chunk_size=1000,
                           outputs=list(model.stocks)[:2])
    held = sum(np.asarray(v).nbytes for v in whole.data.values())
    # 4x the members: the peak stays within a small factor (only N-double columns grow),
    # and well below holding the whole ensemble
    assert large < 1.5 * small, (small, large)
    assert large < held, (large, held)


def test_a_failing_chunk_leaves_the_others_readable_and_is_reported(model, tmp_path):
    params = _decay_params(model, 30)

    def task(ref, chunk, kwargs):
        if chunk.index == 1:
            raise RuntimeError("worker lost")
        return chunks.run_chunk(ref, chunk, kwargs)

    writer = PartitionWriter(tmp_path)
    kw = {"method": "euler", "kernel": "python"}
    res = chunks.run_chunks(chunks.ModelRef(model), chunks.split(params, 30, 10), 30, kw,
                            None, {}, task=task, sink=writer)
    bad = sorted({f.member for f in res.failures if f.kind is FailureKind.CHUNK_ERROR})
    assert bad == list(range(10, 20))
    again = StreamedResult.open(tmp_path)
    assert again.missing_members().tolist() == list(range(10, 20))
    row = again.row(again.variables[0], len(again.times) - 1)
    assert np.isnan(row[10:20]).all() and np.isfinite(row[:10]).all() and \
        np.isfinite(row[20:]).all()


def test_ctrl_c_leaves_the_finished_partitions_whole(model, tmp_path):
    params = _decay_params(model, 50)

    def task(ref, chunk, kwargs):
        if chunk.index == 3:
            raise KeyboardInterrupt
        return chunks.run_chunk(ref, chunk, kwargs)

    writer = PartitionWriter(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        chunks.run_chunks(chunks.ModelRef(model), chunks.split(params, 50, 10), 50,
                          {"method": "euler", "kernel": "python"}, None, {}, task=task,
                          sink=writer)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    got = StreamedResult.open(tmp_path)
    assert got.n_members == 30 and got.missing_members().size == 0
    with pytest.raises(StreamError, match="no part-"):
        StreamedResult.open(tmp_path / "nothing")


def _write(tmp_path) -> Path:
    d = tmp_path / "scen"
    d.mkdir()
    (d / "two.yaml").write_text(TWO, encoding="utf-8")
    return d


def _run(tmp_path, out, *extra) -> int:
    return main(["run", str(_write(tmp_path) if not (tmp_path / "scen").exists()
                            else tmp_path / "scen"), "--out", str(tmp_path / out), "--model",
                 str(FIXTURE), "--no-calibration", "--method", "euler", "--no-progress",
                 "--no-charts", *extra])


def test_sim_run_stream_writes_members_and_the_same_summary(tmp_path, capsys):
    assert _run(tmp_path, "mem", "--chunk-size", "9") == 0
    assert _run(tmp_path, "str", "--chunk-size", "9", "--stream") == 0
    mem, st = tmp_path / "mem", tmp_path / "str"
    assert (mem / "summary.csv").read_bytes() == (st / "summary.csv").read_bytes()
    assert (mem / "baseline" / "percentiles.csv").read_bytes() == \
        (st / "baseline" / "percentiles.csv").read_bytes()
    parts = sorted((st / "baseline" / "members").iterdir())
    assert [p.name for p in parts] == [f"part-{i:05d}.parquet" for i in range(5)]
    assert not (st / "baseline" / "results.csv").exists()
    tidy = pd.read_parquet(mem / "baseline" / "results.parquet")
    wide = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    at = tidy[(tidy.variable == "Digitally Deliverable Exports") & (tidy.time == 2030)]
    np.testing.assert_array_equal(at["value"].to_numpy(),
                                  wide[column_name("Digitally Deliverable Exports", 2030)].to_numpy())
    assert "--stream" in (st / "baseline" / "scenario.resolved.yaml").read_text()


def test_sim_run_outputs_adds_a_variable_and_a_bad_name_is_refused(tmp_path, capsys):
    assert _run(tmp_path, "o", "--outputs", "+Talent Effect", "--format", "parquet") == 0
    tidy = pd.read_parquet(tmp_path / "o" / "baseline" / "results.parquet")
    assert "Talent Effect" in set(tidy["variable"])
    assert "Digitally Deliverable Exports" in set(tidy["variable"])  # summaries' outputs kept
    capsys.readouterr()
    assert _run(tmp_path, "bad", "--outputs", "Talent Efect") == 2
    err = capsys.readouterr().err
    assert "--outputs" in err and "'Talent Efect'" in err and "did you mean" in err
    assert "Talent Effect" in err and not (tmp_path / "bad").exists()


def test_sim_run_format_zarr_round_trips(tmp_path):
    xr = pytest.importorskip("xarray")
    pytest.importorskip("zarr")
    assert _run(tmp_path, "z", "--format", "zarr", "--format", "parquet") == 0
    ds = xr.open_zarr(tmp_path / "z" / "baseline" / "results.zarr", consolidated=False)
    assert ds.attrs["scenario"] == "baseline"
    tidy = pd.read_parquet(tmp_path / "z" / "baseline" / "results.parquet")
    for var in ("Digitally Deliverable Exports", "Digital Trade Balance"):
        at = tidy[(tidy.variable == var)].sort_values(["time", "run_id"])
        np.testing.assert_array_equal(ds[var].values.ravel(), at["value"].to_numpy())


def test_stream_refuses_formats_that_need_every_member(tmp_path, capsys):
    assert _run(tmp_path, "x", "--stream", "--format", "netcdf") == 2
    assert "--stream" in capsys.readouterr().err


def test_the_memory_check_lets_a_streamed_run_through_and_says_how():
    shape = RunShape(name="big", members=10**7, n_times=26, outputs=("a", "b", "c"),
                     n_stocks=20, n_quantities=150, n_sampled=5)
    limit = MemoryLimit(2 * 2**30, 2 * 2**30, None)
    held = check_run([shape], method="euler", charts=False, limit=limit)
    assert "big" in held.refused and "--stream" in held.refused["big"]
    streamed = check_run([shape], method="euler", charts=False, limit=limit,
                         stream_chunk=50_000)
    assert not streamed.refused and streamed.estimate.total < 2 * 2**30
    small = check_run([shape], method="euler", charts=False, limit=limit, stream_chunk=10**7)
    assert "--chunk-size" in small.refused["big"]
