"""Results and models in the ecosystem: xarray, a short repr, pickling across processes."""
from __future__ import annotations

import multiprocessing
import pickle
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import sim

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "model" / "digital_trade.mdl"


@pytest.fixture(scope="module")
def model():
    return sim.load_model(MODEL)


def test_to_xarray_has_time_member_units_and_metadata(model, tmp_path):
    xr = pytest.importorskip("xarray")
    res = model.simulate({"Trade Adjustment Time": np.linspace(0.4, 0.6, 5)}, method="euler",
                         outputs=["Digitally Deliverable Exports", "China World Share"])
    ds = res.to_xarray()
    assert dict(ds.sizes) == {"time": 21, "member": 5}
    exports = ds["Digitally Deliverable Exports"]
    np.testing.assert_array_equal(exports.values, res.values("Digitally Deliverable Exports"))
    assert exports.attrs["units"] == "100M USD" and "UNCTAD" in exports.attrs["description"]
    assert ds.attrs["model_hash"] == model.model_hash and ds.attrs["method"] == "euler"
    ds.to_netcdf(tmp_path / "r.nc")
    back = xr.open_dataset(tmp_path / "r.nc")
    np.testing.assert_array_equal(back["China World Share"].values, ds["China World Share"].values)
    single = model.simulate(method="euler", outputs=["Openness"]).to_xarray()
    assert dict(single.sizes) == {"time": 21, "member": 1}


def test_repr_is_a_few_lines_whatever_the_ensemble(model):
    res = model.simulate({"Trade Adjustment Time": np.full(500, 0.5)}, method="euler")
    text = repr(res)
    assert len(text) < 300 and text.count("\n") == 0
    assert "500 members" in text and "141 variables" in text and "2015..2035" in text


def _run(m, value):
    return m.simulate({"Trade Adjustment Time": value}, method="scipy")["Digitally Deliverable Exports"]


def test_a_model_pickles_as_its_text_and_runs_in_a_spawned_process(model, tmp_path):
    blob = pickle.dumps(model)
    assert len(blob) < 200_000                        # the text, not compiled closures
    copy = pickle.loads(blob)
    np.testing.assert_array_equal(_run(copy, 0.5), _run(model, 0.5))
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        remote = list(pool.map(_run, [model, model], [0.45, 0.55]))
    np.testing.assert_array_equal(remote[0], _run(model, 0.45))
    np.testing.assert_array_equal(remote[1], _run(model, 0.55))


def test_a_pickled_model_survives_its_file_moving(tmp_path):
    path = tmp_path / "m.mdl"
    shutil.copy(MODEL, path)
    m = sim.load_model(path)
    blob = pickle.dumps(m)
    path.unlink()
    back = pickle.loads(blob)
    assert back.path == path and back.model_hash == m.model_hash
    np.testing.assert_array_equal(back.simulate(method="euler")["Openness"],
                                  m.simulate(method="euler")["Openness"])


def test_sim_run_writes_the_formats_asked_for(tmp_path):
    xr = pytest.importorskip("xarray")
    import pandas as pd

    from sim.cli import main

    out = tmp_path / "res"
    assert main(["run", str(REPO / "scenarios" / "00_baseline.yaml"), "--out", str(out),
                 "--members", "12", "--method", "euler", "--no-charts", "--no-progress",
                 "--format", "netcdf", "--format", "csv"]) == 0
    files = {p.name for p in (out / "baseline").iterdir()}
    assert {"results.nc", "results.csv"} <= files and "results.parquet" not in files
    ds = xr.open_dataset(out / "baseline" / "results.nc")
    assert dict(ds.sizes)["member"] == 12 and ds.attrs["scenario"] == "baseline"
    tidy = pd.read_csv(out / "baseline" / "results.csv")
    rows = tidy[(tidy["variable"] == "Digitally Deliverable Exports") & (tidy["time"] == 2035)]
    np.testing.assert_allclose(np.sort(rows["value"].to_numpy()),
                               np.sort(ds["Digitally Deliverable Exports"].sel(time=2035).values),
                               rtol=1e-9)
