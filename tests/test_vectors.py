"""Vensim's vector functions (:mod:`sim.engine.reading.vectors`) against PySD's.

VECTOR RANK, VECTOR SORT ORDER and VECTOR REORDER over the last subscript, with
values that change during the run (so the order changes), a direction that
changes during the run, and ties; VECTOR SELECT with a numerical action that
changes during the run (every action, over time). Each model runs on every back
end: the compiled tape (``kernel="jit"``), the scalar closures (``"python"``) and
the numpy closures (an ensemble), and each must equal PySD's functions
(``pysd.py_backend.functions``) applied to the engine's own inputs.

PySD sorts with numpy's default ``argsort``, which is not stable on machines
with a SIMD sort (equal values come out in any order); with ties, the
reference is PySD's functions with numpy's stable sort: in ascending order the
earlier element first, the descending order the ascending one reversed.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr
from conformance import mdl_text
from pysd.py_backend import functions as pysd_functions

import sim
from sim.engine import functions
from sim.engine.reading import vectors
from sim.engine.tape import kernel, opcodes

ROWS, COLS = ["r1", "r2", "r3", "r4"], ["d1", "d2", "d3", "d4", "d5", "d6"]
FINAL = 6


def _tabbed(values: np.ndarray) -> str:
    return "TABBED ARRAY(\n" + "\n".join("\t".join(f"{v:.17g}" for v in row)
                                           for row in values) + ")"


def _order_model(base: np.ndarray, slope: np.ndarray) -> str:
    """Return a model of every order function over v[Row, Dim] = base + slope * Time + bump * w."""
    weight = np.arange(len(ROWS) * len(COLS), dtype=float).reshape(len(ROWS), len(COLS)) % 3
    return mdl_text([
        f"Row: {', '.join(ROWS)}", f"SDim: (s1-s{len(COLS)})",
        f"Dim: {', '.join(COLS)} -> SDim",   # an equation over SDim reads v[..., Dim]
        f"base[Row, Dim] = {_tabbed(base)}", f"slope[Row, Dim] = {_tabbed(slope)}",
        f"w[Row, Dim] = {_tabbed(weight)}", "bump = 0",
        "v[Row, Dim] = base[Row, Dim] + slope[Row, Dim] * Time + bump * w[Row, Dim]",
        "direction = IF THEN ELSE(Time >= 3, 1, 0)",
        "rank up[Row, Dim] = VECTOR RANK(v[Row, Dim], 1)",
        "rank down[Row, Dim] = VECTOR RANK(v[Row, Dim], 0)",
        "rank dir[Row, Dim] = VECTOR RANK(v[Row, Dim], direction)",
        "order up[Row, SDim] = VECTOR SORT ORDER(v[Row, Dim], 1)",
        "order down[Row, Dim] = VECTOR SORT ORDER(v[Row, Dim], -1)",
        "order dir[Row, Dim] = VECTOR SORT ORDER(v[Row, Dim], direction)",
        "sorted up[Row, SDim] = VECTOR REORDER(v[Row, Dim], order up[Row, SDim])",
        "sorted down[Row, Dim] = VECTOR REORDER(v[Row, Dim], order down[Row, Dim])",
        # an expression, written to a transposed left-hand side: still over Dim (as PySD)
        "col rank[Dim, Row] = VECTOR RANK(v[Row, Dim] * 1, 1)",
    ], final=FINAL, step=1)


def _grid(res, name: str, rows=ROWS, cols=COLS, member: int = 0) -> np.ndarray:
    """Values of ``name[row, col]`` as an array (times, rows, cols)."""
    return np.stack([np.stack([res.values(f"{name}[{r},{c}]")[:, member] for c in cols], -1)
                     for r in rows], 1)


def _stable_argsort(self, *args, **kwargs):
    return xr.DataArray(np.argsort(self.values, axis=-1, kind="stable"), self.coords, self.dims)


def _pysd_orders(v: np.ndarray, direction: float) -> dict[str, np.ndarray]:
    """PySD's rank, sort order and reordered vector of ``v`` (rows, cols) along the columns."""
    arr = xr.DataArray(v, {"Row": ROWS, "Dim": COLS}, ["Row", "Dim"])
    order = pysd_functions.vector_sort_order(arr, direction)
    return {"rank": pysd_functions.vector_rank(arr, direction).values,
            "order": order.values,
            "sorted": pysd_functions.vector_reorder(arr, order).values}


def _check_orders(res, member: int = 0) -> None:
    v = _grid(res, "v", member=member)
    scols = [f"s{i + 1}" for i in range(len(COLS))]
    for k, t in enumerate(res.times):
        up, down = _pysd_orders(v[k], 1), _pysd_orders(v[k], 0)
        now = up if t >= 3 else down
        want = {"rank up": up["rank"], "rank down": down["rank"], "rank dir": now["rank"],
                "order down": down["order"], "order dir": now["order"],
                "sorted down": down["sorted"]}
        for name, expected in want.items():
            np.testing.assert_array_equal(_grid(res, name, member=member)[k], expected,
                                          err_msg=f"{name} at t={t}")
        np.testing.assert_array_equal(_grid(res, "order up", cols=scols, member=member)[k],
                                      up["order"], err_msg=f"order up at t={t}")
        np.testing.assert_array_equal(_grid(res, "sorted up", cols=scols, member=member)[k],
                                      up["sorted"], err_msg=f"sorted up at t={t}")
        np.testing.assert_array_equal(
            _grid(res, "col rank", rows=COLS, cols=ROWS, member=member)[k], up["rank"].T,
            err_msg=f"col rank at t={t}")


def _runs(path):
    model = sim.load_model(path)
    for kern in ("jit", "python"):
        yield model.simulate(method="euler", kernel=kern), 0
    ensemble = model.simulate({"bump": np.array([0.0, 0.7, 5.0])}, method="euler",
                              kernel="python")
    for member in range(3):
        yield ensemble, member


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_orders_equal_pysd_on_random_vectors(tmp_path, seed):
    rng = np.random.default_rng(seed)
    base = rng.normal(0, 10, (len(ROWS), len(COLS)))
    slope = rng.normal(0, 5, (len(ROWS), len(COLS)))   # the order changes during the run
    path = tmp_path / "orders.mdl"
    path.write_text(_order_model(base, slope), encoding="utf-8")
    for res, member in _runs(path):
        _check_orders(res, member)


def test_orders_equal_a_pysd_run_of_the_same_model(tmp_path):
    import pysd

    rng = np.random.default_rng(7)
    path = tmp_path / "orders.mdl"   # PySD reads a TABBED ARRAY's numbers to 8 digits
    path.write_text(_order_model(rng.normal(0, 10, (len(ROWS), len(COLS))).round(4),
                                 rng.normal(0, 5, (len(ROWS), len(COLS))).round(4)),
                    encoding="utf-8")
    ours = sim.load_model(path).simulate(method="euler").to_frame()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = pysd.read_vensim(str(path)).run()
    columns = [c for c in theirs.columns if c.split("[")[0] in (
        "rank up", "rank down", "rank dir", "order up", "order down", "order dir", "sorted up",
        "sorted down", "col rank")]
    assert len(columns) == 9 * len(ROWS) * len(COLS)
    for col in columns:
        np.testing.assert_allclose(ours[col].to_numpy(float), theirs[col].to_numpy(float),
                                   rtol=1e-12, err_msg=col)


@pytest.mark.parametrize("seed", [3, 4])
def test_orders_with_ties_equal_pysd_with_a_stable_sort(tmp_path, monkeypatch, seed):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 3, (len(ROWS), len(COLS))).astype(float)
    slope = rng.integers(-1, 2, (len(ROWS), len(COLS))).astype(float)
    path = tmp_path / "ties.mdl"
    path.write_text(_order_model(base, slope), encoding="utf-8")
    monkeypatch.setattr(xr.DataArray, "argsort", _stable_argsort)
    for res, member in _runs(path):
        v = _grid(res, "v", member=member)
        assert any(len(set(row)) < len(row) for row in v.reshape(-1, len(COLS)))  # ties
        _check_orders(res, member)


def test_ties_keep_the_position_order_ascending_and_reverse_it_descending(tmp_path):
    path = tmp_path / "tie.mdl"
    path.write_text(mdl_text(["Dim: a, b, c, d", "x[Dim] = 5, 1, 5, 1",
                              "up[Dim] = VECTOR SORT ORDER(x[Dim], 1)",
                              "down[Dim] = VECTOR SORT ORDER(x[Dim], 0)",
                              "rank[Dim] = VECTOR RANK(x[Dim], 1)"], final=1, step=1),
                    encoding="utf-8")
    res = sim.load_model(path).simulate(method="euler")
    assert [res[f"up[{e}]"][0] for e in "abcd"] == [1, 3, 0, 2]
    assert [res[f"down[{e}]"][0] for e in "abcd"] == [2, 0, 3, 1]
    assert [res[f"rank[{e}]"][0] for e in "abcd"] == [3, 1, 4, 2]


def test_reorder_outside_the_vector_is_na(tmp_path):
    path = tmp_path / "reorder.mdl"
    path.write_text(mdl_text(["Dim: a, b, c", "x[Dim] = 10, 20, 30", "idx[Dim] = 2, -1, 0.5",
                              "y[Dim] = VECTOR REORDER(x[Dim], idx[Dim])"], final=1, step=1),
                    encoding="utf-8")
    res = sim.load_model(path).simulate(method="euler")
    assert res["y[a]"][0] == 30
    assert res["y[b]"][0] == functions.VENSIM_NA and res["y[c]"][0] == functions.VENSIM_NA


# ------------------------------------------------------------ VECTOR SELECT
SEL = [[0, 1, 2, 0], [1, 1, 0, -2], [0, 0, 0, 0]]
X = [[3, -2, 0.5, 7], [2, 4, 1.5, -1], [1, 2, 3, 4]]


def _select_model(action: str) -> str:
    return mdl_text([
        "Row: r1, r2, r3", "Dim: d1, d2, d3, d4",
        f"sel[Row, Dim] = {_tabbed(np.array(SEL))}",
        f"x[Row, Dim] = {_tabbed(np.array(X))}", "bump = 0",
        "xv[Row, Dim] = x[Row, Dim] + bump",
        f"action = {action}",
        "picked[Row] = VECTOR SELECT(sel[Row, Dim!], xv[Row, Dim!], -99, action, 0)",
        "whole = VECTOR SELECT(sel[Row!, Dim!], xv[Row!, Dim!], -99, action, 0)",
    ], final=10, step=1)


def _pysd_select(sel, x, dims, action) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = pysd_functions.vector_select(sel, x, dims, -99.0, action, 0)
    return np.asarray(out, dtype=float)


@pytest.mark.parametrize("action", ["Time", "10 - Time"])
def test_vector_select_with_a_changing_action_equals_pysd(tmp_path, action):
    path = tmp_path / "select.mdl"
    path.write_text(_select_model(action), encoding="utf-8")
    model = sim.load_model(path)
    runs = [(model.simulate(method="euler", kernel=k), 0, 0.0) for k in ("jit", "python")]
    bumps = np.array([0.0, 1.5])
    ensemble = model.simulate({"bump": bumps}, method="euler", kernel="python")
    runs += [(ensemble, m, bumps[m]) for m in range(2)]
    sel = xr.DataArray(np.array(SEL, float), {"Row": ["r1", "r2", "r3"]}, ["Row", "Dim"])
    for res, member, bump in runs:
        x = xr.DataArray(np.array(X, float) + bump, sel.coords, sel.dims)
        for k in range(len(res.times)):
            a = float(res.values("action")[k, member])
            rows = [res.values(f"picked[{r}]")[k, member] for r in ("r1", "r2", "r3")]
            np.testing.assert_allclose(rows, _pysd_select(sel, x, ["Dim"], a), rtol=1e-12,
                                       err_msg=f"picked, action {a}")
            np.testing.assert_allclose(res.values("whole")[k, member],
                                       _pysd_select(sel, x, ["Row", "Dim"], a), rtol=1e-12,
                                       err_msg=f"whole, action {a}")


def test_vector_select_action_outside_0_to_10_fails_the_run(tmp_path):
    path = tmp_path / "select.mdl"
    path.write_text(_select_model("Time + 8"), encoding="utf-8")
    res = sim.load_model(path).simulate(method="euler")
    assert res.at("whole", 2) == pytest.approx(float(_pysd_select(
        xr.DataArray(np.array(SEL, float), dims=["Row", "Dim"]),
        xr.DataArray(np.array(X, float), dims=["Row", "Dim"]), ["Row", "Dim"], 10)))
    assert res.at("picked[r3]", 2) == -99  # nothing selected: the missing value
    # action 11 at t=3 is NaN: the run fails there, naming a variable, not silently
    assert not res.success and res.failures[0].time == 3
    assert res.failures[0].variable in ("whole", "picked[r1]", "picked[r2]")


# ---------------------------------------------------- the registry primitives
def _run_kernel(op: str, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = rows.shape[1]
    code = np.zeros((1, 10), dtype=np.int64)
    code[0, 0] = opcodes.OPCODE_OF[op]
    code[0, 1] = n
    code[0, 2:2 + n] = np.arange(n)
    empty, toff = np.zeros(1), np.zeros(2, dtype=np.int64)
    reg = np.zeros((n + 1, len(rows)))
    reg[:n] = rows.T
    kernel.execute(code, reg, empty, empty, toff, -1)
    one = []
    for row in rows:
        r = np.zeros(n + 1)
        r[:n] = row
        kernel.execute1(code, r, empty, empty, toff)
        one.append(r[n])
    return reg[n], np.array(one)


def test_select_primitives_agree_on_every_back_end():
    actions = [float(a) for a in range(11)] + [-1.0, 11.0, 2.5, -0.5, np.nan]
    rows = np.array([[acc, sel, x, a] for a in actions for acc in (0.5, -2.0, np.inf)
                     for sel in (0.0, 1.0, 0.5, -2.0) for x in (3.0, -1.5, 0.0)])
    for op, args in (("vector_select_step", rows), ("vector_select_start", rows[:, 3:])):
        fn = functions.FUNCTIONS[op]
        with np.errstate(all="ignore"):
            want = np.array([float(fn.vector(*(np.float64(v) for v in row))) for row in args])
            whole = fn.vector(*(args[:, i] for i in range(args.shape[1])))
        np.testing.assert_array_equal(whole, want, err_msg=op)
        for row, w in zip(args, want, strict=True):
            try:
                got = fn.scalar(*(float(v) for v in row))
            except (ValueError, ZeroDivisionError, OverflowError):
                continue  # the scalar back end hands these to the vector one
            np.testing.assert_array_equal(got, w, err_msg=f"{op}{tuple(row)}")
        for got in _run_kernel(op, args):
            np.testing.assert_array_equal(got, want, err_msg=op)


def test_select_step_folds_as_documented():
    step, start = functions.FUNCTIONS["vector_select_step"].scalar, \
        functions.FUNCTIONS["vector_select_start"].scalar
    terms = [(2.0, 3.0), (0.0, 100.0), (0.5, 4.0)]
    expected = {0: 8.0, 1: 12.0, 2: 2.0, 3: 6.0, 4: 8.0, 5: 18.0, 6: 7.0, 7: 12.0, 8: 3.0,
                9: 4.0, 10: 7.0}   # 4 and 10 before the division by the count
    for action, want in expected.items():
        acc = start(float(action))
        for sel, x in terms:
            acc = step(acc, sel, x, float(action))
        assert acc == want, action
    assert np.isnan(start(11.0)) and step(1.0, 1.0, 2.0, 11.0) == 1.0


# ------------------------------------------------------------------ refusals
@pytest.mark.parametrize(("equations", "message", "construct"), [
    (["Dim: a, b", "x[Dim] = 1, 2", "y[Dim] = VECTOR RANK(x[a], 1)"],
     "last subscript is a subscript range", "VECTOR RANK"),
    (["Dim: a, b", "x[Dim] = 1, 2", "y[Dim] = VECTOR RANK(x[Dim])"],
     "takes 2 arguments", "VECTOR RANK"),
    (["Dim: a, b", "Other: c, d", "x[Dim] = 1, 2", "y[Other] = VECTOR SORT ORDER(x[Dim], 1)"],
     "has no subscript in Dim", "VECTOR SORT ORDER"),
    (["Dim: a, b", "x[Dim] = 1, 2", "y = VECTOR REORDER(x[Dim], 0)"],
     "has no subscript in Dim", "VECTOR REORDER"),
    ([f"Dim: (e1-e{vectors.MAX_SORTED + 1})", "x[Dim] = 1",
      "y[Dim] = VECTOR SORT ORDER(x[Dim], 1)"],
     f"at most {vectors.MAX_SORTED}", "VECTOR SORT ORDER"),
    (["Dim: (e1-e15)", "Big: (f1-f15)", "x[Dim, Big] = 1",
      "y = VECTOR SELECT(x[Dim!, Big!], x[Dim!, Big!], 0, Time, 0)"],
     f"at most {vectors.MAX_SELECTED}", "VECTOR SELECT"),
    (["Dim: a, b", "x[Dim] = 1, 2", "y = VECTOR SELECT(x[Dim!], x[Dim!], 0, 2.5, 0)"],
     "whole number from 0 to 10", "VECTOR SELECT"),
])
def test_outside_the_subset_is_refused_by_name(tmp_path, equations, message, construct):
    path = tmp_path / "bad.mdl"
    path.write_text(mdl_text(equations, final=1, step=1), encoding="utf-8")
    with pytest.raises(sim.ModelError, match=message) as info:
        sim.load_model(path)
    assert info.value.construct == construct
