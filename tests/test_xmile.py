"""XMILE input (``.xmile``, ``.stmx``): read through PySD's XMILE translator, run by the engine.

Small hand-written models, each compared with PySD's own run of the same file
(``pysd.read_xmile``) or with a value worked out by hand; broken files must be
a :class:`sim.ModelError` naming the file (and the variable or construct).
"""
from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from sim.cli import main
from sim.engine.reading.xmile import _number, is_xmile

NS = "http://docs.oasis-open.org/xmile/ns/XMILE/v1.0"


def xmile(variables: str, *, stop: float = 10, dt: float = 0.5, dims: str = "",
          extra: str = "", ns: str = NS) -> str:
    """Return the text of an XMILE model holding ``variables`` (XML of <variables>)."""
    return f"""<?xml version="1.0" encoding="utf-8"?>
<xmile version="1.0" xmlns="{ns}" xmlns:isee="http://iseesystems.com/XMILE">
  <header><vendor>tests</vendor><product version="1.0">hand written</product></header>
  <sim_specs method="Euler" time_units="Months">
    <start>0</start><stop>{stop}</stop><dt>{dt}</dt>
  </sim_specs>
  {dims}
  {extra}
  <model>
    <variables>
{variables}
    </variables>
  </model>
</xmile>
"""


#: stocks, flows, auxiliaries, a graphical function (named and inline), units
SHOP = """
      <stock name="Inventory">
        <eqn>100</eqn>
        <inflow>Production</inflow>
        <outflow>Shipments</outflow>
        <units>widgets</units>
      </stock>
      <stock name="Backlog">
        <eqn>Initial_Backlog</eqn>
        <inflow>Orders</inflow>
        <outflow>Shipments</outflow>
        <units>widgets</units>
      </stock>
      <flow name="Production">
        <eqn>Inventory_Gap / Adjustment_Time + Shipments</eqn>
        <units>widgets/Months</units>
      </flow>
      <flow name="Shipments">
        <eqn>Backlog / Delivery_Delay * Availability(Inventory / Target_Inventory)</eqn>
        <units>widgets/Months</units>
      </flow>
      <flow name="Orders">
        <eqn>20 + STEP(10, 3)</eqn>
        <units>widgets/Months</units>
      </flow>
      <aux name="Inventory Gap"><eqn>Target_Inventory - Inventory</eqn></aux>
      <aux name="Target Inventory"><eqn>120</eqn></aux>
      <aux name="Adjustment Time"><eqn>4</eqn></aux>
      <aux name="Delivery Delay"><eqn>2</eqn></aux>
      <aux name="Initial Backlog"><eqn>Delivery_Delay * 20</eqn></aux>
      <gf name="Availability">
        <xscale min="0" max="2"/>
        <ypts>0, 0.6, 0.9, 1, 1</ypts>
      </gf>
      <aux name="Seasonality">
        <eqn>TIME</eqn>
        <gf>
          <xpts>0, 5, 10</xpts>
          <ypts>1, 1.5, 0.5</ypts>
        </gf>
      </aux>
"""


def write(tmp_path: Path, text: str, name: str = "model.xmile") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def pysd_run(path: Path) -> pd.DataFrame:
    """PySD's run of an XMILE file, in a copy (PySD writes a .py beside the model)."""
    import pysd

    folder = path.parent / "pysd-copy"
    folder.mkdir()
    copy = folder / path.name
    shutil.copy(path, copy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pysd.read_xmile(str(copy)).run(progress=False)


def assert_same_as_pysd(path: Path, columns: list[str]) -> pd.DataFrame:
    ours = sim.load_model(path).simulate(method="euler").to_frame()
    theirs = pysd_run(path)
    theirs.columns = [c.replace("_", " ") for c in theirs.columns]
    for column in columns:
        assert column in ours.columns, (column, list(ours.columns))
        np.testing.assert_allclose(ours[column].to_numpy(),
                                   theirs.loc[ours.index, column].to_numpy(),
                                   rtol=1e-9, atol=1e-9, err_msg=column)
    return ours


def test_a_stock_and_flow_model_runs_as_in_pysd(tmp_path):
    path = write(tmp_path, xmile(SHOP))
    ours = assert_same_as_pysd(path, ["Inventory", "Backlog", "Production", "Shipments",
                                      "Orders", "Inventory Gap", "Seasonality"])
    # and the numbers are the model's: the backlog starts at Delivery Delay * 20
    assert ours["Backlog"].iloc[0] == 40.0
    assert ours["Seasonality"].loc[2.5] == pytest.approx(1.25)  # inline gf at TIME = 2.5
    assert ours["Orders"].loc[3.0] == 30.0 and ours["Orders"].loc[2.5] == 20.0


def test_the_model_object_reads_xmile(tmp_path):
    path = write(tmp_path, xmile(SHOP), "shop.stmx")
    model = sim.load_model(path)
    assert is_xmile(path) and model.path == path
    assert model.variables["inventory"].kind == "stock"
    assert model.variables["inventory"].inflows == ("production",)
    assert model.variables["inventory"].outflows == ("shipments",)
    # a constant can be overridden by its XMILE name or its Python name
    a = model.simulate({"Adjustment Time": 8}, method="euler").to_frame()
    b = model.simulate({"adjustment_time": 8}, method="euler").to_frame()
    pd.testing.assert_frame_equal(a, b)
    assert a["Production"].iloc[0] != model.simulate(method="euler").to_frame()["Production"].iloc[0]


def test_cli_simulate_reads_xmile(tmp_path):
    path = write(tmp_path, xmile(SHOP))
    out = tmp_path / "run.csv"
    assert main(["simulate", str(path), "--method", "euler", "-o", str(out)]) == 0
    frame = pd.read_csv(out, index_col=0)
    api = sim.load_model(path).simulate(method="euler").to_frame()
    np.testing.assert_allclose(frame["Inventory"].to_numpy(), api["Inventory"].to_numpy())


def test_cli_check_does_not_fail_on_xmile_units(tmp_path, capsys):
    # 'widgets/Months' and friends are XMILE units: not checked, and not a failure
    path = write(tmp_path, xmile(SHOP))
    main(["check", str(path)])
    out = capsys.readouterr().out
    assert "units not checked (XMILE model)" in out
    from sim.checks.run import run_checks
    units = [o for o in run_checks(path) if o.category == "units"]
    assert len(units) == 1 and units[0].passed
    from sim.engine.reading.units import check_units
    with pytest.raises(sim.ModelError, match="units are not checked for XMILE models") as info:
        check_units(path)
    assert info.value.construct == "XMILE units"


def test_builtins_dt_starttime_stoptime_and_pi(tmp_path):
    path = write(tmp_path, xmile("""
      <aux name="step size"><eqn>DT</eqn></aux>
      <aux name="span"><eqn>STOPTIME - STARTTIME</eqn></aux>
      <aux name="half turn"><eqn>PI()</eqn></aux>
      <aux name="ramped"><eqn>RAMP(2, 4)</eqn></aux>
    """, stop=8, dt=0.25))
    frame = sim.load_model(path).simulate(method="euler").to_frame()
    assert (frame["step size"] == 0.25).all() and (frame["span"] == 8).all()
    assert (frame["half turn"] == np.pi).all()
    # RAMP(slope, start): no end
    assert frame["ramped"].loc[4.0] == 0 and frame["ramped"].loc[8.0] == pytest.approx(8.0)


def test_lookup_calls_a_graphical_function(tmp_path):
    # XMILE's LOOKUP(table, x), of a <gf> and of an auxiliary with its own gf (Stella)
    path = write(tmp_path, xmile("""
      <gf name="g"><xscale min="0" max="4"/><ypts>0, 10, 20, 30, 40</ypts></gf>
      <aux name="shaped"><eqn>0</eqn>
        <gf><xpts>0, 2, 4</xpts><ypts>5, 7, 1</ypts></gf>
      </aux>
      <aux name="via gf"><eqn>LOOKUP(g, TIME)</eqn></aux>
      <aux name="via aux"><eqn>LOOKUP(shaped, TIME)</eqn></aux>
    """, stop=4, dt=1))
    frame = sim.load_model(path).simulate(method="euler").to_frame()
    assert list(frame["via gf"]) == [0, 10, 20, 30, 40]
    assert list(frame["via aux"]) == [5, 6, 7, 4, 1]
    assert (frame["shaped"] == 5).all()  # the auxiliary itself is gf(0)


def test_a_minus_before_a_power_is_applied_after_it(tmp_path):
    # XMILE: the exponent binds tighter than a unary minus; parentheses keep their meaning
    path = write(tmp_path, xmile("""
      <aux name="a"><eqn>-3^2</eqn></aux>
      <aux name="b"><eqn>(-3)^2</eqn></aux>
      <aux name="c"><eqn>2^-1</eqn></aux>
      <aux name="d"><eqn>30^ - 30^-1.2</eqn></aux>
    """, stop=1, dt=1))
    frame = sim.load_model(path).simulate(method="euler").to_frame()
    assert frame["a"].iloc[0] == -9 and frame["b"].iloc[0] == 9 and frame["c"].iloc[0] == 0.5
    assert frame["d"].iloc[0] == pytest.approx(30 ** -(30 ** -1.2))


def test_non_negative_stock_is_cut_at_zero_as_in_pysd(tmp_path):
    path = write(tmp_path, xmile("""
      <stock name="Tank">
        <eqn>10</eqn>
        <outflow>Drain</outflow>
        <non_negative/>
      </stock>
      <stock name="Free Tank">
        <eqn>10</eqn>
        <outflow>Drain</outflow>
      </stock>
      <flow name="Drain"><eqn>3</eqn></flow>
    """, stop=6, dt=1))
    frame = assert_same_as_pysd(path, ["Tank", "Free Tank"])
    assert list(frame["Tank"]) == [10, 7, 4, 1, 0, 0, 0]
    assert list(frame["Free Tank"]) == [10, 7, 4, 1, -2, -5, -8]
    # the limit is the stock's own: the flow (an output) is still the model's
    assert (frame["Drain"] == 3).all()
    assert sim.load_model(path).variables["tank"].outflows == ("drain",)


def test_arrays_apply_to_all_and_one_argument_max(tmp_path):
    dims = """<dimensions><dim name="Region"><elem name="north"/><elem name="south"/></dim>
              </dimensions>"""
    path = write(tmp_path, xmile("""
      <stock name="Population">
        <dimensions><dim name="Region"/></dimensions>
        <eqn>Start</eqn>
        <inflow>Births</inflow>
      </stock>
      <flow name="Births">
        <dimensions><dim name="Region"/></dimensions>
        <eqn>Population * Rate[Region]</eqn>
      </flow>
      <aux name="Start">
        <dimensions><dim name="Region"/></dimensions>
        <element subscript="north"><eqn>100</eqn></element>
        <element subscript="south"><eqn>50</eqn></element>
      </aux>
      <aux name="Rate">
        <dimensions><dim name="Region"/></dimensions>
        <eqn>0.1, 0.3</eqn>
      </aux>
      <aux name="Largest"><eqn>MAX(Population[Region])</eqn></aux>
      <aux name="Smallest"><eqn>MIN(Population)</eqn></aux>
    """, stop=4, dt=1, dims=dims))
    frame = sim.load_model(path).simulate(method="euler").to_frame()
    assert list(frame["Population[north]"]) == pytest.approx([100 * 1.1 ** k for k in range(5)])
    assert list(frame["Population[south]"]) == pytest.approx([50 * 1.3 ** k for k in range(5)])
    both = frame[["Population[north]", "Population[south]"]]
    np.testing.assert_allclose(frame["Largest"], both.max(axis=1))
    np.testing.assert_allclose(frame["Smallest"], both.min(axis=1))


def test_one_argument_max_over_the_equations_own_dimension_is_refused(tmp_path):
    dims = '<dimensions><dim name="D"><elem name="a"/><elem name="b"/></dim></dimensions>'
    path = write(tmp_path, xmile("""
      <aux name="x"><dimensions><dim name="D"/></dimensions><eqn>1, 2</eqn></aux>
      <aux name="y"><dimensions><dim name="D"/></dimensions><eqn>MAX(x[D])</eqn></aux>
    """, dims=dims))
    with pytest.raises(sim.ModelError, match="one-argument MAX over the equation's own") as info:
        sim.load_model(path)
    assert info.value.variable == "y" and info.value.construct == "MAX"


def test_underscores_in_names_are_spaces(tmp_path):
    path = write(tmp_path, xmile("""
      <aux name="room_temperature"><eqn>70</eqn></aux>
      <aux name="double_it"><eqn>2 * "room temperature"</eqn></aux>
    """))
    frame = sim.load_model(path).simulate(method="euler").to_frame()
    assert {"room temperature", "double it"} <= set(frame.columns)
    assert (frame["double it"] == 140).all()


def test_draft_xmile_of_stella_10_is_read(tmp_path):
    # variables directly in <model>, no <variables>: PySD alone would read none
    text = xmile("", ns="http://www.systemdynamics.org/XMILE").replace(
        "<variables>\n\n    </variables>",
        '<stock name="level"><eqn>1</eqn><inflow>growth</inflow></stock>'
        '<flow name="growth"><eqn>level * 0.5</eqn></flow>')
    path = write(tmp_path, text, "draft.stmx")
    frame = sim.load_model(path).simulate(method="euler").to_frame()
    assert frame["level"].iloc[-1] == pytest.approx(1.25 ** 20)


# ----------------------------------------------------------------- bad input
def test_a_broken_xml_file_names_the_file_and_the_line(tmp_path):
    text = xmile('<aux name="a"><eqn>1</eqn>')  # <aux> never closed
    path = write(tmp_path, text)
    with pytest.raises(sim.ModelError, match=r"not a well-formed XML file at line \d+") as info:
        sim.load_model(path)
    assert str(info.value).startswith(f"{path}: ") and info.value.construct == "XML"


@pytest.mark.parametrize("text, message", [
    ("", "not a well-formed XML file"),
    ("not xml at all", "not a well-formed XML file"),
    ("<model/>", "not an XMILE model: the root element is <model> without a default namespace"),
    (f'<xmile xmlns="{NS}"><model/></xmile>', "has no <sim_specs>"),
], ids=["empty", "text", "other-root", "no-sim-specs"])
def test_a_file_that_is_not_xmile_is_refused(tmp_path, text, message):
    path = write(tmp_path, text, "m.stmx")
    with pytest.raises(sim.ModelError, match=message) as info:
        sim.load_model(path)
    assert str(info.value).startswith(f"{path}: ") and info.value.construct


def test_an_equation_pysd_cannot_parse_names_the_variable(tmp_path):
    path = write(tmp_path, xmile('<aux name="broken"><eqn>1 +* 2</eqn></aux>'))
    with pytest.raises(sim.ModelError, match=r"cannot be parsed as an XMILE equation '1 \+\* 2'"
                       ) as info:
        sim.load_model(path)
    assert info.value.variable == "broken" and info.value.construct == "equation"
    assert str(info.value).startswith(f"{path}, variable 'broken': ")


def test_modules_and_macros_are_refused_by_name(tmp_path):
    path = write(tmp_path, xmile('<module name="hares"/><aux name="a"><eqn>1</eqn></aux>'))
    with pytest.raises(sim.ModelError, match=r"XMILE modules are not supported \(found: hares\)"
                       ) as info:
        sim.load_model(path)
    assert info.value.construct == "module"
    path = write(tmp_path, xmile('<aux name="a"><eqn>1</eqn></aux>',
                                 extra='<macro name="twice"><eqn>2*x</eqn></macro>'), "m2.xmile")
    with pytest.raises(sim.ModelError, match=r"XMILE macros are not supported \(found: twice\)"
                       ) as info:
        sim.load_model(path)
    assert info.value.construct == "macro"


def test_xmile_pulse_and_unsupported_functions_are_refused_by_name(tmp_path):
    path = write(tmp_path, xmile('<aux name="p"><eqn>PULSE(1, 2)</eqn></aux>'))
    with pytest.raises(sim.ModelError, match="the XMILE PULSE function is not supported") as info:
        sim.load_model(path)
    assert info.value.construct == "PULSE" and info.value.variable == "p"
    path = write(tmp_path, xmile('<aux name="d"><eqn>NPV(TIME, 0.1)</eqn></aux>'), "d.xmile")
    with pytest.raises(sim.ModelError, match="NPV") as info:
        sim.load_model(path)
    assert info.value.variable == "d"


def test_xmile_delay_is_vensims_delay_fixed(tmp_path):
    # XMILE's DELAY(input, delay) is a fixed (pipeline) delay: TIME 2 units late,
    # its initial value (the input's at the start) before that
    path = write(tmp_path, xmile('<aux name="d"><eqn>DELAY(TIME, 2)</eqn></aux>'), "d.xmile")
    res = sim.load_model(path).simulate(method="euler")
    d = res.to_frame()["d"]
    assert d.loc[10.0] == pytest.approx(8.0) and d.loc[1.0] == pytest.approx(0.0)


def test_missing_xmile_file(tmp_path):
    path = tmp_path / "nowhere.xmile"
    with pytest.raises(sim.ModelError, match="no such model file"):
        sim.load_model(path)


def test_entities_are_not_expanded(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("42", encoding="utf-8")
    text = xmile('<aux name="a"><eqn>&xxe;</eqn></aux>').replace(
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE xmile [<!ENTITY xxe SYSTEM '
        f'"file://{secret}">]>')
    path = write(tmp_path, text)
    # the file's contents never become the equation: refused (or, at most, an empty equation)
    with pytest.raises(sim.ModelError) as info:
        sim.load_model(path)
    assert "42" not in str(info.value)


def test_numbers_are_read_without_eval():
    assert _number("12") == 12 and isinstance(_number("12"), int)
    assert _number("+1.5e3") == 1500.0 and _number(".5") == 0.5 and _number("007") == 7
    with pytest.raises(ValueError):
        _number("__import__('os')")


def test_vensim_models_still_go_to_the_vensim_translator(tmp_path):
    mdl = tmp_path / "m.mdl"
    mdl.write_text("{UTF-8}\nx = -30^2\n~~|\nINITIAL TIME = 0\n~~|\nFINAL TIME = 1\n~~|\n"
                   "TIME STEP = 1\n~~|\nSAVEPER = 1\n~~|\n", encoding="utf-8")
    assert not is_xmile(mdl)
    assert sim.load_model(mdl).simulate(method="euler").to_frame()["x"].iloc[0] == -900
