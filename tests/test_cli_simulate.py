"""``sim simulate``: the CLI is a thin shell over the API and writes the same numbers."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conformance import mdl_text

import sim
from sim.cli import main

MODELS = Path(__file__).parent / "models"
FIXTURES = [pytest.param(MODELS / "decay.mdl", id="decay"), pytest.param(MODELS / "names.mdl", id="names-utf8")]


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, encoding="utf-8", index_col=0)


def expected_header(model: sim.Model) -> list[str]:
    return ["Time"] + [info.name for info in model.variables.values() if info.kind != "lookup"]


@pytest.mark.parametrize("mdl", FIXTURES)
@pytest.mark.parametrize("method", ["euler", "rk4", "scipy"])
def test_csv_equals_api(tmp_path, mdl, method):
    out = tmp_path / "run.csv"
    assert main(["simulate", str(mdl), "--method", method, "-o", str(out)]) == 0
    model = sim.load_model(mdl)
    api = model.simulate(method=method).to_frame()
    header = out.read_text(encoding="utf-8").splitlines()[0]
    df = read_csv(out)
    assert [df.index.name, *df.columns] == expected_header(model)
    assert header.split(",")[0] == "Time"
    assert list(df.columns) == list(api.columns)
    np.testing.assert_allclose(df.index.to_numpy(float), api.index.to_numpy(float), rtol=0, atol=1e-12)
    # the CSV holds 10 significant digits
    np.testing.assert_allclose(df.to_numpy(float), api.to_numpy(float), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("scipy_method", ["LSODA", "DOPRI5"])
def test_scipy_method_option(tmp_path, scipy_method):
    out = tmp_path / "run.csv"
    mdl = MODELS / "decay.mdl"
    assert main(["simulate", str(mdl), "--method", "scipy", "--scipy-method", scipy_method,
                 "-o", str(out)]) == 0
    api = sim.load_model(mdl).simulate(method="scipy", scipy_method=scipy_method).to_frame()
    np.testing.assert_allclose(read_csv(out).to_numpy(float), api.to_numpy(float), rtol=1e-9)


def test_set_overrides_a_constant(tmp_path):
    out = tmp_path / "run.csv"
    mdl = MODELS / "decay.mdl"
    code = main(["simulate", str(mdl), "--method", "euler", "--set", "Decay Time=4",
                 "--set", "initial_amount=50", "-o", str(out)])
    assert code == 0
    df = read_csv(out)
    api = sim.load_model(mdl).simulate({"Decay Time": 4.0, "Initial Amount": 50.0}, method="euler").to_frame()
    np.testing.assert_allclose(df.to_numpy(float), api.to_numpy(float), rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(df["Decay Time"].to_numpy(), np.full(len(df), 4.0))
    assert df["Amount"].iloc[0] == 50.0
    # and it really differs from the default run
    default = sim.load_model(mdl).simulate(method="euler")
    assert not np.allclose(df["Amount"].to_numpy(), default["Amount"])


def test_set_with_a_chinese_name(tmp_path):
    out = tmp_path / "run.csv"
    assert main(["simulate", str(MODELS / "names.mdl"), "--method", "euler", "--set", "基数=7", "-o", str(out)]) == 0
    df = read_csv(out)
    np.testing.assert_array_equal(df["基数"].to_numpy(), np.full(len(df), 7.0))
    # 出口 = 2 * 基数 * (1 + 0.1 * Time)
    np.testing.assert_allclose(df["出口"].to_numpy(), 14 * (1 + 0.1 * df.index.to_numpy()), rtol=1e-12)


def test_writes_to_stdout_without_output(capsys):
    assert main(["simulate", str(MODELS / "decay.mdl"), "--method", "euler"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("Time,Amount,")
    assert len(lines) == 1 + 21  # header + times 0, 0.5, ..., 10


def test_misspelt_name_exits_2_with_suggestion(capsys, tmp_path):
    out = tmp_path / "run.csv"
    code = main(["simulate", str(MODELS / "decay.mdl"), "--set", "Decay Tim=3", "-o", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    # sim.suggest's rule (case-insensitive, up to 3, best first): the closest name first
    assert re.search(r"no variable named 'Decay Tim'; did you mean 'Decay Time', 'FINAL TIME'\?",
                     err)
    assert not out.exists()


def test_unknown_method_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["simulate", str(MODELS / "decay.mdl"), "--method", "leapfrog"])
    assert info.value.code == 2
    assert "invalid choice: 'leapfrog'" in capsys.readouterr().err


def test_non_finite_run_exits_1_with_warning(capsys, tmp_path):
    mdl = tmp_path / "div.mdl"
    mdl.write_text(mdl_text(["divisor = 1", "Inflow = 1 / divisor", "Stock = INTEG(Inflow, 0)"]), encoding="utf-8")
    out = tmp_path / "run.csv"
    assert main(["simulate", str(mdl), "--method", "euler", "--set", "divisor=0", "-o", str(out)]) == 1
    # (member, time, variable, reason): the line every method prints for a failure
    assert "failed: member 0, time 0, 'Inflow': non-finite value" in capsys.readouterr().err
    assert out.exists()
