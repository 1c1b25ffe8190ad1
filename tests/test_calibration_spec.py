"""The calibration specification: strict schema, errors that name the field."""
import copy
from pathlib import Path

import pytest
import yaml

import sim
from sim.calibration.spec import SpecError, check_against_model, load_spec, parse_spec

FIXTURE = Path(__file__).parent / "models" / "calib_fixture.mdl"

VALID = {
    "description": "fixture",
    "model": str(FIXTURE),
    "seed": 0,
    "parameters": {
        "Export Growth Rate": {"bounds": [0.05, 0.8], "source": "fixture"},
        "Export Capacity": {"bounds": [1500, 20000], "scale": "log", "source": "fixture",
                            "prior": {"distribution": "lognormal", "mean": 4000, "sd": 0.3,
                                      "source": "made up"}},
    },
    "targets": [{"series": "china_dds_exports_unctad",
                 "variable": "Digitally Deliverable Exports", "role": "primary"}],
    "cross_checks": [{"series": "china_dds_total_mofcom",
                      "variables": ["Digitally Deliverable Exports",
                                    "Digitally Deliverable Imports"],
                      "note": "MOFCOM"}],
    "fixed": {"Import Adjustment Time": {"value": 1.5, "source": "fixture"}},
}


def changed(path: list, value):
    data = copy.deepcopy(VALID)
    node = data
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


@pytest.fixture(scope="module")
def model():
    return sim.load_model(FIXTURE)


def test_valid_spec_loads_with_defaults():
    spec = parse_spec(VALID)
    assert spec.error_model == "log"
    assert spec.window == (2015, 2022)
    assert spec.out_of_sample.origins == [2016, 2017, 2018, 2019, 2020, 2021]
    assert spec.parameters["Export Capacity"].prior.interval()[0] < 4000


@pytest.mark.parametrize("series", ["china_dds_total_mofcom", "china_dds_exports_mofcom",
                                    "china_dds_total_seed001"])
def test_mofcom_series_refused_as_target(series):
    data = changed(["targets", 0, "series"], series)
    with pytest.raises(SpecError, match=r"field 'targets\.0\.series'.*cross-check only"):
        parse_spec(data, "calibration.yaml")


@pytest.mark.parametrize("path,value,match", [
    (["parameters", "Export Growth Rate", "bonds"], [0, 1],
     r"field 'parameters\.Export Growth Rate\.bonds': unknown field"),
    (["parameters", "Export Growth Rate", "bounds"], [0.8, 0.05],
     r"field 'parameters\.Export Growth Rate': .*low < high"),
    (["seed"], KeyError, r"field 'seed': required field is missing"),
    (["error_model"], "absolute", r"field 'error_model': .*'log' or 'relative'.*'absolute'"),
    (["targets", 0, "weight"], -1.0, r"field 'targets\.0\.weight'"),
    (["targets", 0, "series"], "china_dds_exprts_unctad",
     r"unknown series .*did you mean 'china_dds_exports_unctad'"),
    (["targets", 0, "role"], "main", r"field 'targets\.0\.role'"),
    (["window"], [2022, 2015], r"window must be"),
    (["parameters", "Export Growth Rate", "prior"], {"distribution": "normal", "mean": 0.2,
                                                     "source": "x"},
     r"field 'parameters\.Export Growth Rate\.prior': a normal prior needs 'mean' and 'sd'"),
    (["sensitivity"], {"base_samples": 100}, r"field 'sensitivity\.base_samples': .*power of 2"),
    (["out_of_sample"], {"origins": [2022]}, r"origin 2022"),
    (["polish"], 100, r"polish \(100\) must not exceed starts"),
], ids=["unknown-field", "bounds-order", "missing", "literal", "weight", "typo", "role",
        "window", "prior", "sobol-n", "origin", "polish"])
def test_bad_spec_names_the_field(path, value, match):
    with pytest.raises(SpecError, match=match) as err:
        parse_spec(changed(path, value), "model/calibration.yaml")
    assert str(err.value).startswith("model/calibration.yaml, field '")


def test_load_spec_names_the_file(tmp_path):
    p = tmp_path / "calibration.yaml"
    p.write_text(yaml.safe_dump(changed(["starts"], 0)))
    with pytest.raises(SpecError, match=r"calibration\.yaml, field 'starts'"):
        load_spec(p)
    p.write_text("a: [1,\n")
    with pytest.raises(SpecError, match="not valid UTF-8 YAML"):
        load_spec(p)
    with pytest.raises(SpecError, match="not found"):
        load_spec(tmp_path / "missing.yaml")


def test_model_checks_name_the_field(model):
    check_against_model(parse_spec(VALID), model)
    bad = parse_spec(changed(["parameters", "Export Growth Rat"], {"bounds": [0, 1],
                                                                   "source": "x"}))
    with pytest.raises(SpecError, match=r"field 'parameters\.Export Growth Rat'.*did you mean"):
        check_against_model(bad, model)
    flow = parse_spec(changed(["parameters", "Export Growth"], {"bounds": [0, 1],
                                                                "source": "x"}))
    with pytest.raises(SpecError, match=r"'Export Growth' is a flow, not a constant"):
        check_against_model(flow, model)
    wrong = parse_spec(changed(["fixed", "Import Adjustment Time", "value"], 2.0))
    with pytest.raises(SpecError, match=r"field 'fixed\.Import Adjustment Time\.value'.*1\.5"):
        check_against_model(wrong, model)


def test_a_persistence_driver_must_be_a_projected_input():
    data = copy.deepcopy(VALID)
    data["projection"] = {"inputs": [{"constant": "Export Growth Rate",
                                      "series": "world_dds_exports_unctad",
                                      "terms": [{"series": "world_dds_exports_unctad"}],
                                      "source": "test"}]}
    data["out_of_sample"] = {"drivers": {"china_dds_exports_unctad": "china_gdp_usd"}}
    with pytest.raises(SpecError, match=r"out_of_sample\.drivers\.china_dds_exports_unctad: "
                                        r"'china_gdp_usd' is not the series of a projection "
                                        r"input; accepted: \['world_dds_exports_unctad'\]"):
        parse_spec(data, "calibration.yaml")
