"""External data read at load (``sim.engine.reading.external``): GET XLS/DIRECT and data files.

* Values: constants (with subscripts and ``*`` transposition), lookups and
  data variables read from small CSV and xlsx files written here, in every
  back end (scalar closures, vector closures, the compiled tape kernel).
* Vensim's data interpolation keywords: interpolate, hold backward, look
  forward, raw; an empty cell of a series is left out.
* GET DIRECT SUBSCRIPT ranges, and data variables filled from data files.
* Errors name the model file, the variable, the data file and what was looked for.
* The data belongs to the model's identity: ``model_hash`` changes with a data
  file; a pickled model carries its data.
"""
from __future__ import annotations

import pickle
import shutil

import numpy as np
import pytest
from conformance import mdl_text

import sim
from sim.engine.functions import VENSIM_NA
from sim.engine.reading.external import data_table
from sim.engine.reading.translate import file_hash

openpyxl = pytest.importorskip("openpyxl")

TIMES = [0, 1, 2, 4]
SERIES = [10, 20, 40, 0]


def write_csv(folder, name="data.csv"):
    """Write a CSV with a time row (B1:E1), two series (rows 2, 3) and a 2x2 block of constants."""
    rows = [["", *TIMES], ["a", *SERIES], ["b", 1, 2, 3, 4], ["", ""], ["k", 5, 6], ["", 7, 8]]
    path = folder / name
    path.write_text("\n".join(",".join(str(c) for c in r) for r in rows) + "\n")
    return path


def write_xlsx(folder, name="data.xlsx", gap=False):
    """Write an xlsx: sheet 'data' with a time column A and a series in B, C; constants in 'k'."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "data"
    ws.append(["time", "x", "y"])
    for i, (t, v) in enumerate(zip(TIMES, SERIES, strict=True)):
        ws.append([t, None if (gap and i == 1) else v, 2 * v])
    k = wb.create_sheet("k")
    k.append([1.5, 2.5, 3.5])
    k.append([4.5, 5.5, 6.5])
    path = folder / name
    wb.save(path)
    return path


def run_all_backends(model):
    """Run ``model`` with Euler on every back end; return the scalar run's frame (checked equal)."""
    some = next(iter(model.constants))
    single = model.simulate(method="euler", kernel="python").to_frame()
    jit = model.simulate(method="euler", kernel="jit").to_frame()
    pair = {some: np.array([model.constants[some]] * 2)}
    for kernel in ("python", "jit"):
        ens = model.simulate(pair, method="euler", kernel=kernel)
        for col in single.columns:
            got = np.asarray(ens[col])
            got = got[:, 0] if got.ndim == 2 else got
            np.testing.assert_allclose(got, single[col].values, rtol=1e-12, atol=0,
                                       err_msg=f"{kernel} ensemble, {col}")
    for col in single.columns:
        np.testing.assert_allclose(jit[col].values, single[col].values, rtol=1e-12, atol=0,
                                   err_msg=f"jit, {col}")
    return single


def test_data_table_modes():
    t, y = np.array([0.0, 1.0, 3.0]), np.array([1.0, 5.0, 2.0])
    at = np.array([-1, 0, 0.5, 1, 2, 3, 4])
    for mode, want in (("interpolate", [1, 1, 3, 5, 3.5, 2, 2]),
                       ("hold_backward", [1, 1, 1, 5, 5, 2, 2]),
                       ("look_forward", [1, 1, 5, 5, 2, 2, 2])):
        xs, ys = data_table(t, y, mode)
        assert np.all(np.diff(xs) > 0), mode
        np.testing.assert_array_equal(np.interp(at, xs, ys), want, err_msg=mode)
    xs, ys = data_table(t, y, "raw")
    np.testing.assert_array_equal(np.interp([0, 1, 3], xs, ys), [1, 5, 2])
    assert np.interp(0.5, xs, ys) == VENSIM_NA and np.interp(2, xs, ys) == VENSIM_NA


def test_csv_constants_lookups_and_data(tmp_path):
    write_csv(tmp_path)
    model = tmp_path / "m.mdl"
    model.write_text(mdl_text([
        "R: r1, r2", "C: c1, c2",
        "k = GET DIRECT CONSTANTS('data.csv', ',', 'B5')",
        "kk[R, C] = GET DIRECT CONSTANTS('data.csv', ',', 'B5')",
        "kt[R, C] = GET DIRECT CONSTANTS('data.csv', ',', 'B5*')",
        "lk = GET DIRECT LOOKUPS('data.csv', ',', '1', 'B2')",
        "d := GET DIRECT DATA('data.csv', ',', '1', 'B2')",
        "looked = lk(Time * 2)",
        "seen = d",
        "stock = INTEG(d, 0)",
    ], final=4, step=0.5))
    m = sim.load_model(model)
    assert m.constants["k"] == 5
    frame = run_all_backends(m)
    assert frame["kk[r1,c1]"].iloc[0] == 5 and frame["kk[r1,c2]"].iloc[0] == 6
    assert frame["kk[r2,c1]"].iloc[0] == 7 and frame["kk[r2,c2]"].iloc[0] == 8
    assert frame["kt[r1,c2]"].iloc[0] == 7 and frame["kt[r2,c1]"].iloc[0] == 6
    t = frame.index.values
    np.testing.assert_allclose(frame["seen"].values, np.interp(t, TIMES, SERIES))
    np.testing.assert_allclose(frame["looked"].values, np.interp(2 * t, TIMES, SERIES))
    # Euler: the stock sums the data at each step times the step
    np.testing.assert_allclose(frame["stock"].values[1:],
                               np.cumsum(np.interp(t[:-1], TIMES, SERIES)) * 0.5)


@pytest.mark.parametrize("mode,values", [
    ("", np.interp(np.arange(0, 5.5, 0.5), TIMES, SERIES)),
    (":INTERPOLATE:", np.interp(np.arange(0, 5.5, 0.5), TIMES, SERIES)),
    (":HOLD BACKWARD:", [10, 10, 20, 20, 40, 40, 40, 40, 0, 0, 0]),
    (":LOOK FORWARD:", [10, 20, 20, 40, 40, 0, 0, 0, 0, 0, 0]),
])
def test_xlsx_data_interpolation_keywords(tmp_path, mode, values):
    write_xlsx(tmp_path)
    model = tmp_path / "m.mdl"
    model.write_text(mdl_text([f"d{mode}:= GET XLS DATA('data.xlsx', 'data', 'A', 'B2')",
                               "out = d"], final=5, step=0.5))
    frame = run_all_backends(sim.load_model(model))
    np.testing.assert_allclose(frame["out"].values, values)


def test_raw_data_is_na_between_points(tmp_path):
    write_xlsx(tmp_path)
    model = tmp_path / "m.mdl"
    model.write_text(mdl_text(["d:RAW::= GET XLS DATA('data.xlsx', 'data', 'A', 'B2')",
                               "out = d"], final=4, step=0.5))
    frame = sim.load_model(model).simulate(method="euler").to_frame()
    got = dict(zip(frame.index.values, frame["out"].values, strict=True))
    assert [got[t] for t in TIMES] == SERIES
    assert got[0.5] == VENSIM_NA and got[3.0] == VENSIM_NA


def test_empty_cell_of_a_series_is_left_out(tmp_path):
    write_xlsx(tmp_path, gap=True)   # the value at time 1 is missing
    model = tmp_path / "m.mdl"
    model.write_text(mdl_text([
        "hb:HOLD BACKWARD::= GET XLS DATA('data.xlsx', 'data', 'A', 'B2')",
        "lin := GET XLS DATA('data.xlsx', 'data', 'A', 'B2')",
        "lk = GET XLS LOOKUPS('data.xlsx', 'data', 'A', 'B2')", "looked = lk(Time)",
        "a = hb", "b = lin"], final=2, step=1))
    frame = sim.load_model(model).simulate(method="euler").to_frame()
    assert list(frame["a"]) == [10, 10, 40]                  # holds over the gap
    assert list(frame["b"]) == [10, 25, 40]                  # interpolates over it
    assert list(frame["looked"]) == [10, 25, 40]


def test_xlsx_subscripted_lookups_and_data(tmp_path):
    write_xlsx(tmp_path)
    model = tmp_path / "m.mdl"
    model.write_text(mdl_text([
        "S: x, y",
        "lk[S] = GET XLS LOOKUPS('data.xlsx', 'data', 'A', 'B2')",
        "d[S] := GET XLS DATA('data.xlsx', 'data', 'A', 'B2')",
        "k[S] = GET XLS CONSTANTS('data.xlsx', 'k', 'A2')",
        "call[S] = lk[S](Time) + d[S] + k[S]"], final=4, step=1))
    frame = run_all_backends(sim.load_model(model))
    t = frame.index.values
    series = np.interp(t, TIMES, SERIES)
    np.testing.assert_allclose(frame["call[x]"].values, 2 * series + 4.5)
    np.testing.assert_allclose(frame["call[y]"].values, 4 * series + 5.5)


def test_get_direct_subscript(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.title = "s"
    wb.active.append(["north", "south", "east"])
    wb.active.append([1, 2, 3])
    wb.save(tmp_path / "s.xlsx")
    model = tmp_path / "m.mdl"
    model.write_text(mdl_text([
        "Region: GET DIRECT SUBSCRIPT('s.xlsx', 's', 'A1', 'C1', '')",
        "v[Region] = GET DIRECT CONSTANTS('s.xlsx', 's', 'A2')",
        "total = v[north] + 10 * v[east]"], final=1, step=1))
    m = sim.load_model(model)
    frame = m.simulate(method="euler").to_frame()
    assert frame["total"].iloc[0] == 31 and frame["v[south]"].iloc[0] == 2
    assert (tmp_path / "s.xlsx").resolve() in m.data_files


def test_data_variable_from_data_files(tmp_path):
    (tmp_path / "run.tab").write_text("Time\tx\tv[a]\tv[b]\n0\t1\t2\t3\n2\t5\t6\t7\n")
    model = tmp_path / "m.mdl"
    model.write_text(mdl_text(["R: a, b", "x:HOLD BACKWARD:", "v[R]:INTERPOLATE:", "out[R] = x + v[R]"],
                              final=2, step=1))
    with pytest.raises(sim.ModelError) as err:
        sim.load_model(model)
    assert err.value.construct == "data variable" and "data_files" in str(err.value)
    m = sim.load_model(model, data_files=[tmp_path / "run.tab"])
    frame = m.simulate(method="euler").to_frame()
    assert list(frame["out[a]"]) == [3, 5, 11] and list(frame["out[b]"]) == [4, 6, 12]
    blob = pickle.dumps(m)
    (tmp_path / "run.tab").write_text("Time\tx\tv[a]\tv[b]\n0\t0\t0\t0\n")  # changed since
    back = pickle.loads(blob)
    assert back.model_hash == m.model_hash
    assert list(back.simulate(method="euler").to_frame()["out[a]"]) == [3, 5, 11]
    assert sim.load_model(model, data_files=[tmp_path / "run.tab"]).model_hash != m.model_hash


@pytest.mark.parametrize("call,expect", [
    ("GET XLS CONSTANTS('nope.xlsx', 'k', 'A1')", "nope.xlsx' not found"),
    ("GET XLS CONSTANTS('data.xlsx', 'nosheet', 'A1')", "nosheet"),
    ("GET XLS CONSTANTS('data.xlsx', 'k', 'no_such_range')", "no_such_range"),
    ("GET XLS LOOKUPS('data.xlsx', 'data', 'A', 'Z99')", "Z99"),
    ("GET XLS DATA('data.xlsx', 'data', 'A', 'B2')", None),
])
def test_bad_reference_names_model_variable_file_and_target(tmp_path, call, expect):
    write_xlsx(tmp_path)
    model = tmp_path / "m.mdl"
    eq = f"v := {call}" if "DATA" in call else f"v = {call}"
    model.write_text(mdl_text([eq, "w = 1"], final=1, step=1))
    if expect is None:  # a good reference, for contrast
        sim.load_model(model)
        return
    with pytest.raises(sim.ModelError) as err:
        sim.load_model(model)
    text = str(err.value)
    assert str(model) in text and err.value.variable == "v", text
    assert "data.xlsx" in text or "nope.xlsx" in text, text
    assert expect in text, text
    assert err.value.construct.startswith("GET XLS/DIRECT"), err.value.construct


def test_empty_constant_cell_is_an_error(tmp_path):
    write_xlsx(tmp_path)
    model = tmp_path / "m.mdl"
    model.write_text(mdl_text(["v = GET XLS CONSTANTS('data.xlsx', 'k', 'F9')"], final=1, step=1))
    with pytest.raises(sim.ModelError, match="F9"):
        sim.load_model(model)


def test_model_hash_follows_the_data_files(tmp_path):
    write_xlsx(tmp_path)
    model = tmp_path / "m.mdl"
    model.write_text(mdl_text(["k = GET XLS CONSTANTS('data.xlsx', 'k', 'A1')"], final=1, step=1))
    first = sim.load_model(model)
    assert first.model_hash != file_hash(model)
    assert sim.load_model(model).model_hash == first.model_hash   # same files, same identity
    wb = openpyxl.load_workbook(tmp_path / "data.xlsx")
    wb["k"]["A1"] = 99.0
    wb.save(tmp_path / "data.xlsx")
    second = sim.load_model(model)
    assert second.constants["k"] == 99 and second.model_hash != first.model_hash
    plain = tmp_path / "plain.mdl"
    plain.write_text(mdl_text(["k = 1"], final=1, step=1))
    assert sim.load_model(plain).model_hash == file_hash(plain)  # no data: the text's hash


def test_pickled_model_carries_its_data(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    write_xlsx(home)
    model = home / "m.mdl"
    model.write_text(mdl_text(["k = GET XLS CONSTANTS('data.xlsx', 'k', 'B1')",
                               "d := GET XLS DATA('data.xlsx', 'data', 'A', 'B2')", "out = d * k"],
                              final=2, step=1))
    m = sim.load_model(model)
    blob = pickle.dumps(m)
    shutil.rmtree(home)                       # the files are gone: the pickle has them
    back = pickle.loads(blob)
    assert back.model_hash == m.model_hash and back.constants["k"] == 2.5
    assert list(back.simulate(method="euler").to_frame()["out"]) == [25, 50, 100]
