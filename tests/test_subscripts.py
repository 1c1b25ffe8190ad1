"""Subscripted models: every element a variable of its own (``sim.engine.reading.subscripts``).

* Parity: a model using ranges, subranges, constant lists and tables,
  per-element definitions, :EXCEPT:, stocks, SUM/PROD/VMIN/VMAX, references by
  element, by subrange and by a mapped range, subscripted lookups and SMOOTH gives PySD's own
  run of the same file, column for column (PySD names the columns as Vensim
  does: ``stock[north]``, ``mat[north,ict]``).
* Analytic: the elements of a subscripted stock grow by their own rates.
* Parameters, ensembles and the CLI address one element by its name.
* What stays outside the subset is refused at load, naming the file, the
  variable and the construct.
"""
from __future__ import annotations

import csv
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from conformance import mdl_text, pysd_run

import sim

MODEL = [
    "Region: north, south, east", "Sector: ict, finance", "Coastal: north, east",
    "Everywhere: Coastal, south",
    "base[Region] = 1, 2, 3", "mat[Region, Sector] = 1, 2; 3, 4; 5, 6",
    "growth[Region] = 0.1", "growth2[north] = 0.2", "growth2[south] = 0.3", "growth2[east] = 0.4",
    "stock[Region] = INTEG(growth[Region] * stock[Region] + growth2[Region], base[Region])",
    "total = SUM(stock[Region!])", "product = PROD(base[Region!])",
    "share[Region] = stock[Region] / total", "biggest = VMAX(stock[Region!])",
    "smallest = VMIN(stock[Region!] * mat[Region!, ict])",
    "byrow[Region] = SUM(mat[Region, Sector!])", "coastal total = SUM(stock[Coastal!])",
    "weighted = SUM(stock[Region!] * mat[Region!, Sector!])",
    "north only = stock[north] * 2", "coastal share[Coastal] = stock[Coastal] / coastal total",
    "from sub[Region] = coastal share[Coastal] * 0 + stock[Region]",
    "tab[Region]( (0,0),(10,5) )", "looked up[Region] = tab[Region](stock[Region])",
    "ex[Region] :EXCEPT: [north] = 5", "ex[north] = 7",
    "sm[Region] = SMOOTH(stock[Region], 2)", "ramped[Region] = base[Region] * RAMP(1, 1, 3)",
    "all[Everywhere] = base[Everywhere] + 1",
    "Mapped: m1, m2, m3 -> Region", "mx[Mapped] = 10, 20, 30",
    "from mapped[Region] = mx[Mapped] * stock[Region]",
]


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("subs") / "regions.mdl"
    # from sub[north] and from sub[east] use Coastal's element; south has none in Coastal
    eqs = [e for e in MODEL if not e.startswith("from sub")] + [
        "from sub[Coastal] = coastal share[Coastal] + stock[Coastal]", "from sub[south] = 0"]
    path.write_text(mdl_text(eqs, final=5, step=0.25), encoding="utf-8")
    return path


def test_equals_pysd_column_for_column(model_path, tmp_path):
    ours = sim.load_model(model_path).simulate(method="euler").to_frame()
    theirs = pysd_run(model_path, tmp_path)
    columns = [c for c in theirs.columns if c not in ("INITIAL TIME", "FINAL TIME", "TIME STEP",
                                                         "SAVEPER")]
    assert len(columns) >= 50 and sum("[" in c for c in columns) >= 40
    assert set(columns) <= set(ours.columns)
    for col in columns:
        np.testing.assert_allclose(ours[col].to_numpy(float), theirs[col].to_numpy(float),
                                   rtol=1e-10, atol=1e-12, err_msg=col)


def test_elements_follow_their_own_equations(model_path):
    model = sim.load_model(model_path)
    res = model.simulate(method="scipy", rtol=1e-10, atol=1e-12)
    t = res.times
    for region, base, g2 in (("north", 1, 0.2), ("south", 2, 0.3), ("east", 3, 0.4)):
        # y' = 0.1 y + g2: y = (base + 10 g2) e^(0.1 t) - 10 g2
        want = (base + 10 * g2) * np.exp(0.1 * t) - 10 * g2
        np.testing.assert_allclose(res[f"stock[{region}]"], want, rtol=1e-8)
    stocks = np.column_stack([res[f"stock[{r}]"] for r in ("north", "south", "east")])
    np.testing.assert_allclose(res["total"], stocks.sum(axis=1), rtol=1e-14)
    np.testing.assert_allclose(res["biggest"], stocks.max(axis=1), rtol=0)
    np.testing.assert_allclose(res["smallest"], (stocks * [1, 3, 5]).min(axis=1), rtol=0)
    np.testing.assert_allclose(res["weighted"], stocks @ [3, 7, 11], rtol=1e-14)
    np.testing.assert_allclose(res["coastal total"], stocks[:, [0, 2]].sum(axis=1), rtol=1e-14)
    assert res["product"][0] == 6.0
    assert [res[f"byrow[{r}]"][0] for r in ("north", "south", "east")] == [3, 7, 11]
    assert [res[f"ex[{r}]"][0] for r in ("north", "south", "east")] == [7, 5, 5]
    assert [res[f"all[{r}]"][0] for r in ("north", "south", "east")] == [2, 3, 4]
    # Mapped: m1, m2, m3 -> Region: from mapped[east] reads mx[m3], element by element
    np.testing.assert_allclose(res["from mapped[east]"], 30 * res["stock[east]"], rtol=1e-14)


def test_names_and_metadata_of_elements(model_path):
    model = sim.load_model(model_path)
    assert model.py_name("stock[north]") == "stock_north"
    assert model.py_name("mat[east,finance]") == "mat_east_finance"
    assert model.variables["stock_north"].kind == "stock"
    assert model.variables["mat_east_finance"].kind == "constant"
    assert model.constants["mat_east_finance"] == 6.0
    assert model.variables["tab_south"].kind == "lookup"


def test_parameters_address_one_element(model_path):
    model = sim.load_model(model_path)
    base = model.simulate(method="euler")
    moved = model.simulate({"growth[south]": 0.2}, method="euler")
    assert np.array_equal(moved["stock[north]"], base["stock[north]"])
    assert moved["stock[south]"][-1] > base["stock[south]"][-1]
    ens = model.simulate({"growth_south": np.array([0.1, 0.2])}, method="euler")
    np.testing.assert_allclose(ens["stock[south]"][:, 1], moved["stock[south]"], rtol=1e-12)
    np.testing.assert_allclose(ens["stock[south]"][:, 0], base["stock[south]"], rtol=1e-12)


def test_cli_sets_and_writes_elements(model_path, tmp_path, capsys):
    from sim.cli import main

    out = tmp_path / "out.csv"
    assert main(["simulate", str(model_path), "--method", "euler", "--set", "growth[north]=0.3",
                 "-o", str(out)]) == 0
    with out.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert "stock[north]" in rows[0] and "mat[north,ict]" in rows[0]
    res = sim.load_model(model_path).simulate({"growth[north]": 0.3}, method="euler")
    got = float(rows[-1][rows[0].index("stock[north]")])
    assert got == pytest.approx(res["stock[north]"][-1], rel=1e-9)


#: Range copies, mappings onto overlapping ranges, ranges and elements used as values,
#: ELMCOUNT, TABBED ARRAY and VECTOR SELECT (every numerical action).
MODEL2 = [
    "DimA: a1, a2, a3", "DimB <-> DimA", "Sub: a3, a1", "DimC: c1, c2",
    "AGE: infant, child, teen, old", "OLDER: child, teen, old",
    "YOUNGER: infant, child, teen -> OLDER",
    "flow[AGE] = 10, 20, 30, 40",
    "pop[infant] = INTEG(5 - flow[infant], 100)",
    "pop[OLDER] = INTEG(flow[YOUNGER] - flow[OLDER], 100)",
    "diag[DimA, DimB] = IF THEN ELSE(DimA = DimB, 1, 0)",
    "pos[DimA] = DimA * 10 + Time",
    "val[Sub] = Sub", "is a2[DimA] = IF THEN ELSE(DimA = a2, 1, 0)",
    "n = ELMCOUNT(DimA) + ELMCOUNT(Sub)",
    "tab[DimA, DimC] = TABBED ARRAY(\n1\t2\n3\t4\n5\t6)",
    "sel[DimA] = 0, 1, 2", "zero[DimA] = 0",
] + [f"vs{k} = VECTOR SELECT(sel[DimA!], pos[DimA!], -1, {k}, 0)" for k in range(11)] + [
    "none = VECTOR SELECT(zero[DimA!], pos[DimA!], -1, 3, 0)",
    "rows[DimC] = VECTOR SELECT(sel[DimA!], tab[DimA!, DimC], -1, 0, 0)",
]


def test_copies_mappings_values_and_vector_select_equal_pysd(tmp_path):
    import pysd

    path = tmp_path / "more.mdl"
    path.write_text(mdl_text(MODEL2, final=2, step=1), encoding="utf-8")
    ours = sim.load_model(path).simulate(method="euler").to_frame()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = pysd.read_vensim(str(path)).run()
    assert len(theirs.columns) >= 50
    for col in theirs.columns:
        np.testing.assert_allclose(ours[col].to_numpy(float), theirs[col].to_numpy(float),
                                   rtol=1e-12, atol=1e-12, err_msg=col)
    last = ours.iloc[-1]
    # YOUNGER -> OLDER pairs infant with child, child with teen, teen with old
    assert last["pop[teen]"] == 100 + 2 * (20 - 30)
    assert last["diag[a2,a2]"] == 1 and last["diag[a2,a3]"] == 0   # DimB copies DimA
    assert (last["val[a3]"], last["val[a1]"], last["n"]) == (3, 1, 5)  # positions in DimA
    assert last["tab[a3,c1]"] == 5
    # sel = 0, 1, 2 and pos = 12, 22, 32 at t=2: a1 is not selected
    assert (last["vs0"], last["vs2"], last["vs8"], last["vs10"]) == (86, 22, 22, 27)


def test_mapping_in_an_explicit_order(tmp_path):
    # PySD's own reading of "-> (DimB: b3, b1, b2)" adds DimB's elements to DimA
    path = tmp_path / "explicit.mdl"
    path.write_text(mdl_text(["DimB: b1, b2, b3", "DimC: c1, c2, c3",
                              "DimA: a1, a2, a3 -> (DimB: b3, b1, b2), DimC",
                              "x[DimA] = 1, 2, 3", "y[DimB] = x[DimA]", "z[DimC] = x[DimA]"],
                             final=1, step=1), encoding="utf-8")
    res = sim.load_model(path).simulate(method="euler")
    assert [res[f"y[b{i}]"][0] for i in (1, 2, 3)] == [2, 3, 1]
    assert [res[f"z[c{i}]"][0] for i in (1, 2, 3)] == [1, 2, 3]
    assert "x[b1]" not in res.to_frame().columns


@pytest.mark.parametrize(("equations", "message", "variable", "construct"), [
    (["DimA: a1, a2", "x[DimA] = 1, 2", "y = VECTOR SELECT(x[DimA!], x[DimA!], 0, 0, 1)"],
     "only error action 0", "y", "VECTOR SELECT"),
    (["DimA: a1, a2", "x[DimA] = 1, 2", "y = VECTOR SELECT(x[DimA!], x[DimA!], 0, 11, 0)"],
     "must be a whole number from 0 to 10", "y", "VECTOR SELECT"),
    (["DimA: a1, a2", "x[DimA] = 1, 2", "y = ELMCOUNT(x[DimA])"],
     "ELMCOUNT takes one argument, the name of a subscript range", "y", "ELMCOUNT"),
    (["DimB: b1, b2", "DimA: a1, a2 -> (DimB: b2, b9)", "x[DimA] = 1"],
     "unknown subscript 'b9'", "DimA", "subscripts"),
    (["DimA: a1, a2", "y = DimA"],
     "the range 'dima' is used as a value, but the equation has no subscript in range dima",
     "y", "subscripts"),

    (["Region: north, south -> Other", "Other: a, b, c", "x[Region] = 1"],
     "subscript mapping Region -> Other: Region has 2 elements, Other 3", "Region",
     "subscript mapping"),
    (["Region: north, south -> Other", "Other: a, b", "x[Other] = 1", "y[Region] = x[Other]"],
     "the equation has no subscript in range Other", "y[north]", "subscripts"),
    (["Region: north, south", "x[Region] = 1", "y = x * 2"],
     "'x' has 1 subscript.s.: refer to it as x", "y", "subscripts"),
    (["Region: north, south", "x[Region] = 1", "y = x[Region!] * 2"],
     "a range with '!' is only allowed inside SUM, PROD, VMIN, VMAX", "y", "subscripts"),
    (["Region: north, south", "x[Region] = 1", "x[north] = 2"],
     r"x\[north\] is defined twice", "x", "subscripts"),
    (["Region: north, south", "x[Region] = 1", "y = x[west]"],
     "unknown subscript 'west'", "y", "subscripts"),
    (["Region: north, south", "x[Region] = 1", "y[Region] = x[Region, Region]"],
     "gives 2 subscript.s.; the variable has 1", "y[north]", "subscripts"),
    (["Region: north, south", "x[Region] :EXCEPT: [south] = 1", "y = x[south]"],
     r"'x\[south\]' is not defined", "y", "subscripts"),
    (["Region: north, south", "Sector: a, b", "x[Region] = 1", "y[Sector] = x[Region]"],
     "the equation has no subscript in range Region", "y[a]", "subscripts"),
    (["Region: north, south", "x[Region] = 1, 2, 3"],
     r"a list of values shaped \(3,\) does not match the subscripts \[Region\] \(2,\)",
     "x[north]", "subscripts"),
    (["Region: north, south", "x[Region] = 1", "y = SUM(x[north])"],
     "SUM needs a range marked with '!'", "y", "SUM"),
])
def test_outside_the_subset_is_refused(tmp_path, equations, message, variable, construct):
    path = tmp_path / "bad.mdl"
    path.write_text(mdl_text(equations), encoding="utf-8")
    with pytest.raises(sim.ModelError, match=rf"^{re.escape(str(path))}.*({message})") as info:
        sim.load_model(path)
    assert info.value.path == str(path)
    assert info.value.variable == variable
    assert info.value.construct == construct


def test_quoted_names_with_subscripts(tmp_path):
    path = tmp_path / "quoted.mdl"
    path.write_text(mdl_text(['Region: north, south', '"my stock"[Region] = INTEG(1, 1)',
                              'total = SUM("my stock"[Region!])'], final=2, step=1),
                    encoding="utf-8")
    model = sim.load_model(path)
    assert model.py_name('"my stock"[south]') == "my_stock_south"
    res = model.simulate(method="euler")
    np.testing.assert_array_equal(res["total"], [2.0, 4.0, 6.0])
    np.testing.assert_array_equal(res["my_stock_north"], [1.0, 2.0, 3.0])


def test_a_copy_ignores_pysds_shared_mapping_list(tmp_path):
    # PySD makes every copy (DimB <-> DimA) with one shared default list of mappings, which
    # its builder appends to: after PySD built another model, the list names its ranges
    from pysd.translators.vensim.vensim_element import SubscriptRange

    shared = SubscriptRange.__init__.__defaults__[0]
    saved = list(shared)
    shared.append("Elsewhere")
    try:
        path = tmp_path / "copy.mdl"
        path.write_text(mdl_text(["DimA: a1, a2", "DimB <-> DimA", "x[DimA] = 1, 2",
                                  "y[DimB] = x[DimB] * 10"], final=1, step=1), encoding="utf-8")
        res = sim.load_model(path).simulate(method="euler")
    finally:
        shared[:] = saved
    assert (res["y[a1]"][0], res["y[a2]"][0]) == (10, 20)
