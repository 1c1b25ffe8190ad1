"""`sim sensitivity`: Sobol and Morris indices over time for any model, against known answers."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sim.calibration.sensitivity import Factor
from sim.cli import main
from sim.engine.model import load_model
from sim.sensitivity.factors import SensitivityError, declared_factors, load_factor_file
from sim.sensitivity.output import indices_csv
from sim.sensitivity.run import sensitivity_over_time

# Out = A * Time + B with A, B ~ U(0, 1) independent: Var(A t) = t^2 / 12 and Var(B) = 1 / 12,
# so S1_A = ST_A = t^2 / (t^2 + 1) and S1_B = ST_B = 1 / (t^2 + 1) at every time t.
LINEAR = """{UTF-8}
Out = A * Time + B
	~	Widget
	~	|
Stock = INTEG(Out, 0)
	~	Widget*Month
	~	|
A = 0.5
	~	Widget/Month [0, 1]
	~	|
B = 0.5
	~	Widget [0, 1]
	~	|
Fixed = 3
	~	Widget
	~	|
INITIAL TIME = 0
	~	Month
	~	|
FINAL TIME = 3
	~	Month
	~	|
TIME STEP = 0.25
	~	Month
	~	|
SAVEPER = 1
	~	Month
	~	|
"""


@pytest.fixture
def linear(tmp_path) -> Path:
    path = tmp_path / "linear.mdl"
    path.write_text(LINEAR, encoding="utf-8")
    return path


def test_sobol_indices_over_time_match_the_analytic_shares(linear):
    model = load_model(linear)
    factors = declared_factors(model)
    assert [f.name for f in factors] == ["A", "B"]          # 'Fixed' declares no range
    r = sensitivity_over_time(model, factors, ["Out"], samples=1024, seed=3, progress=None)
    np.testing.assert_array_equal(r.times, [0, 1, 2, 3])
    for k, t in enumerate(r.times):
        share_a = t**2 / (t**2 + 1)
        np.testing.assert_allclose(r.first[0, k], [share_a, 1 - share_a], atol=0.06)
        np.testing.assert_allclose(r.total[0, k], [share_a, 1 - share_a], atol=0.06)


def test_morris_ranks_the_factors_the_same_way(linear):
    model = load_model(linear)
    r = sensitivity_over_time(model, declared_factors(model), ["Out"], method="morris", seed=3,
                              progress=None)
    assert r.method == "morris"
    k = 3  # t = 3: A's effect (3 per unit) is three times B's (1 per unit)
    assert r.first[0, k, 0] == pytest.approx(3 * r.first[0, k, 1], rel=1e-6)


def test_same_seed_same_numbers_other_seed_other_numbers(linear):
    model = load_model(linear)
    f = declared_factors(model)
    one = indices_csv(sensitivity_over_time(model, f, ["Out"], samples=64, seed=5, progress=None))
    two = indices_csv(sensitivity_over_time(model, f, ["Out"], samples=64, seed=5, progress=None))
    other = indices_csv(sensitivity_over_time(model, f, ["Out"], samples=64, seed=6,
                                              progress=None))
    assert one == two and one != other


def test_an_output_that_does_not_vary_has_no_indices(linear):
    model = load_model(linear)
    r = sensitivity_over_time(model, [Factor("A", 0, 1, False, "parameter")], ["Stock"],
                              samples=64, progress=None)
    assert np.all(np.isnan(r.total[0, 0]))                  # Stock(0) = 0 in every run
    assert np.all(np.isfinite(r.total[0, 1:]))


def test_the_command_writes_csv_metadata_and_a_chart(linear, tmp_path, capsys):
    out = tmp_path / "out"
    factors = tmp_path / "f.yaml"
    factors.write_text("schema: sim.sensitivity/1\nfactors:\n  A: {low: 0, high: 1}\n"
                       "  Fixed: {low: 1, high: 10, log: true}\noutputs: [Out]\n")
    assert main(["sensitivity", str(linear), "--factors", str(factors), "--samples", "64",
                 "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["indices.csv", "metadata.json", "out.png"]
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["seed"] == 1 and meta["runs"] == 64 * 4 and len(meta["model_hash"]) == 64
    assert [f["name"] for f in meta["factors"]] == ["A", "Fixed"]
    assert (out / "indices.csv").read_text().startswith("output,time,factor,first,")
    assert "sensitivity: sobol, 2 factors, 256 runs" in capsys.readouterr().err


@pytest.mark.parametrize("text, words", [
    ("schema: sim.sensitivity/2\nfactors: {A: {low: 0, high: 1}}\n",
     "field 'schema': expected 'sim.sensitivity/1'"),
    ("schema: sim.sensitivity/1\nfactors: {A: {low: 1, high: 0}}\n",
     "field 'factors.A': low (1) must be below high (0)"),
    ("schema: sim.sensitivity/1\nfactors: {A: {low: 0, hi: 1}}\n",
     "field 'factors.A.hi': unknown key; accepted: low, high, log"),
    ("schema: sim.sensitivity/1\nfactors: {A: {low: 0, high: 1, log: true}}\n",
     "a log range needs low > 0"),
])
def test_bad_factor_files_name_file_and_field(tmp_path, text, words):
    path = tmp_path / "f.yaml"
    path.write_text(text)
    with pytest.raises(SensitivityError) as err:
        load_factor_file(path)
    assert "f.yaml" in str(err.value) and words in str(err.value)


def test_bad_command_input_exits_2(linear, tmp_path, capsys):
    assert main(["sensitivity", str(linear), "--samples", "100", "--out", str(tmp_path)]) == 2
    assert "power of 2" in capsys.readouterr().err
    assert main(["sensitivity", str(linear), "--output", "Outt", "--out", str(tmp_path)]) == 2
    assert "did you mean 'Out'" in capsys.readouterr().err
    factors = tmp_path / "f.yaml"
    factors.write_text("schema: sim.sensitivity/1\nfactors: {Out: {low: 0, high: 1}}\n")
    assert main(["sensitivity", str(linear), "--factors", str(factors), "--out",
                 str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "f.yaml, field 'factors.Out': 'Out' is not a constant (flow)" in err
