"""Scenario schema, loader and resolution (sim.scenarios)."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sim
import sim.scenarios as scen
from sim.calibration.results import SCHEMA as CALIBRATED_SCHEMA
from sim.calibration.results import write_calibrated as write_document
from sim.scenarios import (
    LEVERS,
    MAIN_OUTPUTS,
    ScenarioError,
    load_calibrated,
    load_scenarios,
    load_scenarios_text,
    read_scenario_text,
    resolve,
    scenario_to_yaml,
)

REPO = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).parent / "models" / "levers_fixture.mdl"
REAL_MODEL = REPO / "model" / "digital_trade.mdl"
SHIPPED = sorted((REPO / "scenarios").glob("*.yaml"))

MINIMAL = "name: s\ndescription: d\n"
ENSEMBLE = ("name: s\ndescription: d\nmembers: 8\nseed: 0\n"
            "uncertainty:\n  Capability Growth Rate: {dist: uniform, low: 0.03, high: 0.05}\n")


@pytest.fixture(scope="module")
def model():
    return sim.load_model(FIXTURE)


def one(text: str, source: str = "test.yaml"):
    out = load_scenarios_text(text, source)
    assert len(out) == 1
    return out[0]


def write_calibrated(path: Path, params: dict, model_hash: str | None = None) -> Path:
    """Return a calibrated.yaml in the writer's layout (hashes under ``provenance``)."""
    prov = {"data": {"path": "data/observed.csv", "hash": "abc"}}
    if model_hash is not None:
        prov["model"] = {"path": "model.mdl", "hash": model_hash}
    return write_document(path, {"schema": CALIBRATED_SCHEMA, "parameters": params,
                                 "statistics": {}, "provenance": prov})


# ------------------------------------------------------------------ the schema
def test_minimal_scenario_gets_documented_defaults():
    s = one(MINIMAL)
    assert (s.base, s.horizon, s.members, s.sampling, s.seed) == \
        ("calibrated", 2035, 1, "latin_hypercube", None)
    assert s.outputs == list(MAIN_OUTPUTS)
    assert s.levers == {} and s.parameters == {} and s.uncertainty == {}
    assert s.source == "test.yaml" and s.slug == "s"


def test_vensim_lever_names_are_stored_as_short_names():
    s = one(MINIMAL + "levers:\n  Talent Training Lever: {value: 1.2, start: 2026}\n"
            "  foreign barrier shock size: {value: 0.1, start: 2025}\n")
    assert list(s.levers) == ["talent", "barrier_shock"]
    assert (s.levers["talent"].value, s.levers["talent"].start) == (1.2, 2026.0)


@pytest.mark.parametrize("text, fragments", [
    (MINIMAL + "members: -3\n", ["test.yaml, line 3", "scenario 's'", "field members",
                                 "greater than or equal to 1"]),
    (MINIMAL + "members: ten\n", ["line 3", "field members", "valid integer"]),
    (MINIMAL + "members: 2.0\n", ["field members", "valid integer"]),
    (MINIMAL + "horizon: 2101\n", ["field horizon", "less than or equal to 2100"]),
    (MINIMAL + "horizon: 2015\n", ["field horizon", "greater than 2015"]),
    (MINIMAL + "horizon: '2030'\n", ["field horizon", "valid integer"]),
    (MINIMAL + "base: calibratd\n", ["field base", "'calibrated' or 'model'"]),
    (MINIMAL + "sampling: sobol\n", ["field sampling", "'latin_hypercube' or 'monte_carlo'"]),
    (MINIMAL + "seed: -1\n", ["field seed", "greater than or equal to 0"]),
    (MINIMAL + "colour: red\n", ["line 3", "field colour", "unknown key", "accepted keys: name"]),
    ("name: s\n", ["field description", "required field is missing"]),
    ("name: s\ndescription: '   '\n", ["field description", "must not be blank"]),
    ("name: '***'\ndescription: d\n", ["field name", "letter or digit"]),
    (MINIMAL + "members: 5\nuncertainty: {Capability Growth Rate: {dist: uniform, low: 0, "
               "high: 1}}\n", ["field seed", "seed is required when members > 1"]),
    (MINIMAL + "members: 5\nseed: 1\n", ["nothing is uncertain"]),
    (MINIMAL + "levers:\n  talnt: {value: 1.2, start: 2026}\n",
     ["line 4", "field levers", "unknown lever 'talnt'", "did you mean 'talent'"]),
    (MINIMAL + "levers:\n  talent: {value: 1.2, strt: 2026}\n",
     ["line 4", "field levers.talent.strt", "unknown key", "{value, start}"]),
    (MINIMAL + "levers:\n  talent: {value: high, start: 2026}\n",
     ["field levers.talent.value", "valid number"]),
    (MINIMAL + "levers:\n  talent: 1.2\n", ["field levers.talent", "a lever setting is a mapping"]),
    (MINIMAL + "levers:\n  talent: {ramp: {value: 1.2, start: 2030, end: 2026}}\n",
     ["field levers.talent.ramp", "must be after its start"]),
    (MINIMAL + "levers:\n  talent: {table: {}}\n", ["field levers.talent.table", "at least 1"]),
    (MINIMAL + "levers:\n  barrier_shock: {step: {value: 0.1, start: 2025}}\n",
     ["field levers", "dated shock"]),
    (MINIMAL + "levers:\n  talent: {value: 1, start: 2026}\n  Talent Training Lever: "
               "{value: 1, start: 2026}\n", ["lever 'talent' is given twice"]),
    (MINIMAL + "parameters:\n  Talent Lever Start Year: 2027\n",
     ["field parameters", "belongs to the policy lever 'talent'"]),
    (MINIMAL + "parameters:\n  Capability Growth Rate: .nan\n",
     ["field parameters['Capability Growth Rate']", "finite number"]),
    (MINIMAL + "uncertainty:\n  X: {dist: unifrm, low: 0, high: 1}\n",
     ["line 4", "field uncertainty.X", "does not match", "{dist: uniform, low, high}"]),
    (MINIMAL + "uncertainty:\n  X: {dist: uniform, low: 2, high: 1}\n",
     ["field uncertainty.X", "low < high"]),
    (MINIMAL + "uncertainty:\n  X: {dist: uniform, low: 0, high: 1, mode: 0.5}\n",
     ["field uncertainty.X.mode", "unknown key"]),
    (MINIMAL + "uncertainty:\n  Talent Lever Start Year: {dist: uniform, low: 2020, high: 2030}\n",
     ["field uncertainty", "start year"]),
    (MINIMAL + "levers:\n  talent: {table: {2020: 1, 2030: 1.4}}\nmembers: 4\nseed: 1\n"
               "uncertainty:\n  talent: {dist: uniform, low: 1, high: 2}\n",
     ["a {value, start}, step or ramp lever can be sampled (its level), a table cannot"]),
    (MINIMAL + "outputs: []\n", ["field outputs", "at least 1"]),
    (MINIMAL + "outputs: [Openness, openness]\n", ["listed twice"]),
], ids=lambda v: v if isinstance(v, str) and len(v) < 30 else None)
def test_invalid_scenarios_name_file_line_field_and_what_is_accepted(text, fragments):
    with pytest.raises(ScenarioError) as info:
        load_scenarios_text(text, "test.yaml")
    for frag in fragments:
        assert frag in str(info.value), str(info.value)


@pytest.mark.parametrize("text, match", [
    ("name: s\n  description: [", r"test.yaml, line 2, column \d+: invalid YAML"),
    ("name: s\ndescription: d\nname: t\n",
     r"line 3: duplicate key 'name' \(first given at line 1\)"),
    ("", "the file is empty"),
    ("- name: s\n", "line 1: expected a mapping"),
    ("name: s\ndescription: d\nextends: base\n",
     "'extends' of a file holding one scenario names another file"),
    ("scenarios: []\n", "non-empty list"),
    ("scenarios:\n  - 3\n", "entry 1 of 'scenarios' must be a mapping"),
    ("scenarios:\n  - {name: a, description: d}\nmembers: 3\n",
     "unknown top-level key 'members' next to 'scenarios:'"),
    ("a: &a [1, 2]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
     "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
     "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
     "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n", "more than 200000 nodes"),
    ("name: !!python/object/apply:os.system ['echo unsafe']\ndescription: d\n",
     "invalid YAML.*could not determine a constructor"),
], ids=["yaml-syntax", "duplicate-key", "empty", "list", "extends-single", "empty-list",
        "entry-type", "wrapper-key", "alias-bomb", "no-python-tags"])
def test_file_level_errors(text, match):
    with pytest.raises(ScenarioError, match=match):
        load_scenarios_text(text, "test.yaml")


def test_yaml_error_uses_the_problem_mark(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: s\ndescription: d\nlevers:\n  talent: {value: 1, start: 2026\n",
                    encoding="utf-8")
    with pytest.raises(ScenarioError, match=re.escape(str(path)) + r", line \d+, column \d+"):
        load_scenarios(path)


# --------------------------------------------------------- several scenarios
MULTI = """\
scenarios:
  - name: baseline
    description: the base
    members: 10
    seed: 4
    levers:
      talent: {value: 1.2, start: 2026}
      infrastructure: {step: {value: 1.1, start: 2027}}
    parameters:
      Infrastructure Life: 10
      Capability Decay Rate: 0.03
    uncertainty:
      Capability Growth Rate: {dist: uniform, low: 0.03, high: 0.05}
      Base Share: {dist: triangular, low: 0.03, mode: 0.0367, high: 0.04}
  - name: child
    extends: baseline
    description: changes only
    levers:
      talent: {value: 1.5}
      infrastructure: {value: 1.3, start: 2026}
    parameters:
      Capability Decay Rate: null
    uncertainty:
      Capability Growth Rate: {dist: truncated_normal, mean: 0.04, sd: 0.01, low: 0.02, high: 0.06}
  - name: grandchild
    extends: child
    description: one more
    members: 20
"""


def test_extends_deep_merges_and_null_removes():
    base, child, grand = load_scenarios_text(MULTI, "multi.yaml")
    assert child.levers["talent"].value == 1.5 and child.levers["talent"].start == 2026.0
    assert type(child.levers["infrastructure"]).__name__ == "ConstantLever"  # form changed
    assert child.parameters == {"Infrastructure Life": 10.0}
    assert child.uncertainty["Capability Growth Rate"].dist == "truncated_normal"
    assert child.uncertainty["Base Share"] == base.uncertainty["Base Share"]
    assert (child.members, child.seed, child.description) == (10, 4, "changes only")
    assert grand.members == 20 and grand.levers == child.levers
    assert grand.description == "one more"


def test_name_and_description_are_not_inherited():
    text = "scenarios:\n  - {name: a, description: d}\n  - {name: b, extends: a}\n"
    with pytest.raises(ScenarioError, match="scenario 'b', field description: required"):
        load_scenarios_text(text, "x.yaml")


@pytest.mark.parametrize("text, match", [
    ("scenarios:\n  - {name: a, description: d, extends: b}\n"
     "  - {name: b, description: d, extends: a}\n", "'extends' forms a cycle: a -> b -> a"),
    ("scenarios:\n  - {name: baseline, description: d}\n"
     "  - {name: b, description: d, extends: baselin}\n",
     "line 3, scenario 'b', field extends: no scenario named 'baselin' in this file; did you "
     "mean 'baseline'"),
    ("scenarios:\n  - {name: a, description: d}\n  - {name: a, description: e}\n",
     "line 3, scenario 'a': the name is already used by entry 1"),
], ids=["cycle", "unknown-parent", "duplicate-name"])
def test_extends_errors(text, match):
    with pytest.raises(ScenarioError, match=re.escape(match)):
        load_scenarios_text(text, "x.yaml")


# ------------------------------------------------------- extends across files
def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_extends_another_file(tmp_path):
    # the shipped pattern: one file per scenario, each extending the baseline's file
    _write(tmp_path, "00_base.yaml", "name: baseline\ndescription: the base\nmembers: 10\n"
           "seed: 4\nuncertainty:\n  Base Share: {dist: uniform, low: 0.03, high: 0.04}\n")
    _write(tmp_path, "sub/01.yaml", "name: push\ndescription: more\nextends: ../00_base.yaml\n"
           "levers:\n  talent: {value: 1.5, start: 2026}\n")
    _write(tmp_path, "sub/02.yaml", "scenarios:\n  - name: late\n    description: later\n"
           "    extends: 01.yaml\n    levers: {talent: {start: 2030}}\n"
           "  - name: named\n    description: by name\n    extends: multi.yaml#second\n")
    _write(tmp_path, "sub/multi.yaml", "scenarios:\n  - {name: first, description: a, members: 3,"
           " calibration_uncertainty: identified}\n"
           "  - {name: second, description: b, extends: first, seed: 9}\n")
    base, = load_scenarios(tmp_path / "00_base.yaml")
    # sub/ extends ../00_base.yaml, outside sub/: the scenario folder tree is given
    push, = load_scenarios(tmp_path / "sub/01.yaml", root=tmp_path)
    late, named = load_scenarios(tmp_path / "sub/02.yaml", root=tmp_path)
    assert (push.members, push.seed, push.uncertainty) == (base.members, base.seed, base.uncertainty)
    assert push.levers["talent"].value == 1.5 and push.description == "more"
    assert (late.levers["talent"].value, late.levers["talent"].start) == (1.5, 2030.0)
    assert late.members == 10 and late.name == "late"
    assert (named.members, named.seed, named.description) == (3, 9, "by name")
    # the merged scenario stands alone: written out, it needs none of the files
    again, = load_scenarios_text(scenario_to_yaml(late), "again.yaml")
    assert again == late


@pytest.mark.parametrize("files, match", [
    ({"a.yaml": "name: a\ndescription: d\nextends: missing.yaml\n"},
     r"a.yaml, line 3, scenario 'a', field extends: no scenario file 'missing.yaml'"),
    ({"a.yaml": "name: a\ndescription: d\nextends: m.yaml\n",
      "m.yaml": "scenarios:\n  - {name: x, description: d}\n  - {name: y, description: d}\n"},
     r"'m.yaml' holds 2 scenarios; name one as m.yaml#name \(x, y\)"),
    ({"a.yaml": "name: a\ndescription: d\nextends: m.yaml#baselin\n",
      "m.yaml": "scenarios:\n  - {name: baseline, description: d}\n"},
     r"no scenario named 'baselin' in 'm.yaml'; did you mean 'baseline'"),
    ({"a.yaml": "name: a\ndescription: d\nextends: b.yaml\n",
      "b.yaml": "name: b\ndescription: d\nextends: a.yaml\n"},
     r"'extends' forms a cycle across files \(file#entry\): a.yaml#1 -> b.yaml#1 -> a.yaml#1"),
    ({"a.yaml": "name: a\ndescription: d\nextends: b.yaml\n",
      "b.yaml": "name: b\ndescription: d\nmembers: [\n"},
     r"a.yaml, line 3, scenario 'a', field extends: 'b.yaml' cannot be read: .*invalid YAML"),
], ids=["missing-file", "ambiguous", "unknown-name", "cycle", "broken-parent"])
def test_extends_another_file_errors(tmp_path, files, match):
    for name, text in files.items():
        _write(tmp_path, name, text)
    with pytest.raises(ScenarioError, match=match):
        load_scenarios(tmp_path / "a.yaml")


def test_uploaded_text_cannot_extend_a_file():
    with pytest.raises(ScenarioError, match="names another file; that works for scenario files "
                                            "on disk only"):
        load_scenarios_text("name: a\ndescription: d\nextends: 00_baseline.yaml\n", "up.yaml")


def test_one_invalid_entry_does_not_hide_the_others():
    text = ("scenarios:\n  - {name: good, description: d}\n"
            "  - {name: bad, description: d, members: -1}\n  - {name: also good, description: d}\n")
    loaded = read_scenario_text(text, "x.yaml")
    assert [s.name for s in loaded.scenarios] == ["good", "also good"]
    assert len(loaded.errors) == 1 and "scenario 'bad', field members" in str(loaded.errors[0])


# -------------------------------------------------------------- round trips
def test_round_trip_through_yaml_keeps_every_field():
    for s in load_scenarios_text(MULTI, "multi.yaml"):
        text = scenario_to_yaml(s)
        assert "extends" not in text
        back = one(text)
        assert back == s
        assert back.model_dump() == s.model_dump()


def test_provenance_wrapper_is_accepted_and_ignored():
    s = load_scenarios_text(MULTI, "m.yaml")[1]
    text = scenario_to_yaml(s, provenance={"model_hash": "abc", "seed": np.int64(4),
                                           "tuple": (1, 2)})
    loaded = read_scenario_text(text, "r.yaml")
    assert loaded.scenarios == [s] and loaded.provenance["seed"] == 4


def test_calibration_shorthand_round_trips():
    s = one(MINIMAL + "uncertainty:\n  Capability Growth Rate: calibration\n")
    assert s.uncertainty["Capability Growth Rate"].dist == "calibration"
    assert one(scenario_to_yaml(s)) == s


# ------------------------------------------------------- property-based tests
NAMES = st.text(alphabet=st.sampled_from(list("abcxyz 019-_数字贸易")), min_size=1,
                max_size=20).filter(lambda s: scen.slugify(s) and s.strip() == s)
FINITE = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
YEAR = st.integers(min_value=2015, max_value=2040)


@st.composite
def lever_setting(draw, shock: bool):
    form = "constant" if shock else draw(st.sampled_from(["constant", "step", "ramp", "table"]))
    value = draw(FINITE)
    start = draw(YEAR)
    if form == "constant":
        return {"value": value, "start": start}
    if form == "step":
        return {"step": {"value": value, "start": start}}
    if form == "ramp":
        return {"ramp": {"value": value, "start": start, "end": start + draw(st.integers(1, 10))}}
    return {"table": draw(st.dictionaries(YEAR, FINITE, min_size=1, max_size=4))}


@st.composite
def distribution(draw):
    kind = draw(st.sampled_from(["uniform", "triangular", "truncated_normal", "lognormal",
                                 "truncated_lognormal", "calibration"]))
    lo = draw(st.floats(-100, 100))
    width = draw(st.floats(0.01, 100))
    if kind == "uniform":
        return {"dist": kind, "low": lo, "high": lo + width}
    if kind == "triangular":
        return {"dist": kind, "low": lo, "mode": lo + width * draw(st.floats(0, 1)),
                "high": lo + width}
    if kind == "truncated_normal":
        return {"dist": kind, "mean": lo + width / 2, "sd": width / 4, "low": lo,
                "high": lo + width}
    if kind == "lognormal":
        return {"dist": kind, "mean_log": draw(st.floats(-5, 5)),
                "sd_log": draw(st.floats(0.01, 2))}
    if kind == "truncated_lognormal":
        low = draw(st.floats(0.1, 10))
        return {"dist": kind, "mean_log": float(np.log(low * 2)), "sd_log": 1.0, "low": low,
                "high": low * 4}
    return draw(st.sampled_from(["calibration", {"dist": "calibration"}]))


@st.composite
def valid_scenario(draw):
    levers = {}
    for short in draw(st.lists(st.sampled_from(list(LEVERS)), unique=True, max_size=4)):
        key = draw(st.sampled_from([short, LEVERS[short].value]))
        levers[key] = draw(lever_setting(LEVERS[short].shock))
    uncertainty = draw(st.dictionaries(st.sampled_from(["Capability Growth Rate", "Base Share",
                                                        "Infrastructure Life"]),
                                       distribution(), max_size=3))
    members = draw(st.integers(1, 5000)) if uncertainty else 1
    doc = {"name": draw(NAMES), "description": draw(NAMES),
           "base": draw(st.sampled_from(["calibrated", "model"])),
           "horizon": draw(st.integers(2016, 2100)), "members": members,
           "sampling": draw(st.sampled_from(["latin_hypercube", "monte_carlo"])),
           "levers": levers,
           "parameters": draw(st.dictionaries(st.sampled_from(["Infrastructure Life",
                                                               "Tightening Rate"]), FINITE,
                                              max_size=2)),
           "uncertainty": uncertainty,
           "outputs": draw(st.lists(st.sampled_from(MAIN_OUTPUTS), min_size=1, unique=True))}
    if members > 1 or draw(st.booleans()):
        doc["seed"] = draw(st.integers(0, 2**32))
    return doc


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_scenario())
def test_generated_valid_scenarios_load_and_round_trip(doc):
    s = one(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))
    assert s.name == doc["name"] and s.members == doc["members"]
    assert one(scenario_to_yaml(s)) == s


@st.composite
def corrupted(draw):
    doc = draw(valid_scenario())
    kind = draw(st.sampled_from(["unknown-top", "unknown-lever-key", "wrong-type",
                                 "negative-members", "unknown-dist-key"]))
    if kind == "unknown-top":
        key = draw(st.sampled_from(["member", "seeds", "horizn", "notes"]))
        doc[key] = 1
        return doc, key
    if kind == "unknown-lever-key":
        doc["levers"] = {"talent": {"value": 1.0, "start": 2026, "typo": 1}}
        return doc, "levers.talent.typo"
    if kind == "unknown-dist-key":
        doc["uncertainty"] = {"X": {"dist": "uniform", "low": 0, "high": 1, "sd": 1}}
        doc.setdefault("seed", 1)
        return doc, "uncertainty.X.sd"
    if kind == "negative-members":
        doc["members"] = draw(st.integers(-1000, 0))
        return doc, "members"
    field, value = draw(st.sampled_from([("members", "many"), ("horizon", "2035"),
                                         ("seed", 1.5), ("base", 3), ("levers", [1, 2]),
                                         ("parameters", {"Infrastructure Life": "long"}),
                                         ("outputs", "Openness"), ("description", 42)]))
    doc[field] = value
    if field == "seed":
        doc["members"] = 1
    return doc, {"parameters": "parameters['Infrastructure Life']"}.get(field, field)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corrupted())
def test_corrupted_scenarios_raise_with_the_field_path(case):
    doc, path = case
    with pytest.raises(ScenarioError) as info:
        load_scenarios_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), "c.yaml")
    assert f"field {path}" in str(info.value), str(info.value)
    assert "c.yaml" in str(info.value)


# ---------------------------------------------------------------- resolution
def test_constant_lever_sets_the_lever_and_its_start_year(model):
    r = resolve(one(MINIMAL + "base: model\nlevers:\n  talent: {value: 1.5, start: 2027}\n"),
                model)
    assert r.params == {"Talent Training Lever": 1.5, "Talent Lever Start Year": 2027.0}
    assert r.members == 1 and r.samples == {} and r.base_used == "model" and r.notes == ()
    assert r.final_time == 2035.0
    assert set(scen.SUMMARY_OUTPUTS) <= set(r.outputs)


@pytest.mark.parametrize("setting, cls", [
    ("{step: {value: 1.5, start: 2026}}", sim.Step),
    ("{ramp: {value: 1.5, start: 2026, end: 2030}}", sim.Ramp),
    ("{table: {2030: 1.5, 2026: 1.0}}", sim.Table),
], ids=["step", "ramp", "table"])
def test_time_series_levers_switch_the_models_own_start_on(model, setting, cls):
    r = resolve(one(MINIMAL + "base: model\nlevers:\n  talent: " + setting + "\n"), model)
    series = r.params["Talent Training Lever"]
    assert isinstance(series, cls)
    assert r.params["Talent Lever Start Year"] == model.controls.initial_time
    if cls is not sim.Table:
        assert series.before == 1.0  # the base value of the lever
    else:
        assert list(series.points) == [2026.0, 2030.0]


def test_step_lever_equals_lever_with_start_year(model):
    """Both forms of "1.5 from 2026" give the same trajectory (Euler, same switch time)."""
    a = resolve(one(MINIMAL + "base: model\nlevers: {talent: {value: 1.5, start: 2026}}\n"), model)
    b = resolve(one(MINIMAL + "base: model\nlevers: {talent: {step: {value: 1.5, start: 2026}}}\n"),
                model)
    ra = model.simulate(method="euler", **a.simulate_kwargs())
    rb = model.simulate(method="euler", **b.simulate_kwargs())
    np.testing.assert_allclose(ra["Digital Talent"], rb["Digital Talent"], rtol=1e-12)
    base = model.simulate(method="euler", final_time=2035)
    assert ra.at("Digital Talent", 2035) > base.at("Digital Talent", 2035)


@pytest.mark.parametrize("extra, fragments", [
    ("parameters:\n  Capability Growt Rate: 0.1\n",
     ["test.yaml, line 4, scenario 's', field parameters['Capability Growt Rate']",
      "no constant 'Capability Growt Rate'", "did you mean 'Capability Growth Rate'"]),
    ("parameters:\n  Export Change: 1\n", ["'Export Change' is a flow", "only constants"]),
    ("parameters:\n  TIME STEP: 1\n", ["time control", "horizon"]),
    ("parameters:\n  Infrastructure Life: 80\n",
     ["field parameters['Infrastructure Life']", "80 is outside the model's range [1, 50]"]),
    ("levers:\n  talent: {value: 5, start: 2026}\n",
     ["line 4", "field levers.talent.value", "outside the model's range [0.5, 3]",
      "'Talent Training Lever'"]),
    ("levers:\n  talent: {value: 1, start: 2200}\n",
     ["field levers.talent.start", "[2015, 2100]"]),
    ("levers:\n  talent: {table: {2020: 1, 2030: 9}}\n", ["field levers.talent.table[2030]"]),
    ("levers:\n  talent: {ramp: {value: 0.1, start: 2026, end: 2030}}\n",
     ["field levers.talent.ramp.value"]),
    ("outputs: [Exprts]\n", ["field outputs[0]", "no variable 'Exprts'"]),
    ("uncertainty:\n  Capability Growth Rate: calibration\n",
     ["'calibration' needs calibrated.yaml"]),
    ("members: 5\nseed: 1\nuncertainty:\n  Capability Growth Rate: {dist: uniform, low: 0.4, "
     "high: 0.9}\n", ["field uncertainty['Capability Growth Rate']",
                      "sampled values of 'Capability Growth Rate' fall outside", "[0, 0.5]"]),
    ("uncertainty:\n  Nonexistent Thing: {dist: uniform, low: 0, high: 1}\n",
     ["field uncertainty['Nonexistent Thing']", "no constant"]),
], ids=["unknown-parameter", "not-constant", "control", "param-range", "lever-range",
        "start-range", "table-range", "ramp-range", "unknown-output", "calibration-absent",
        "sampled-range", "unknown-uncertain"])
def test_resolution_errors_name_the_field_and_suggest(model, extra, fragments):
    s = one(MINIMAL + extra)
    with pytest.raises(ScenarioError) as info:
        resolve(s, model)
    for frag in fragments:
        assert frag in str(info.value), str(info.value)


def test_lever_missing_from_model_is_reported(tmp_path):
    text = FIXTURE.read_text(encoding="utf-8").replace("Talent Training Lever", "Talent Lvr")
    path = tmp_path / "m.mdl"
    path.write_text(text, encoding="utf-8")
    m = sim.load_model(path)
    with pytest.raises(ScenarioError, match=r"field levers.talent: the model m.mdl has no "
                                            r"constant 'Talent Training Lever'"):
        resolve(one(MINIMAL + "levers: {talent: {value: 1.2, start: 2026}}\n"), m)


def test_too_large_ensemble_is_refused_before_sampling(model, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("sampled before the memory check")
    monkeypatch.setattr(scen.resolution, "sample", boom)
    s = one(ENSEMBLE.replace("members: 8", "members: 1000000000"))
    with pytest.raises(ScenarioError, match=r"field members: an ensemble of 1000000000 members x "
                                            r"\(12 recorded \+ 8 stock variables\) x 21 saved "
                                            r"times x 8 bytes needs 3.1 TiB, more than the limit "
                                            r"of 4.0 GiB"):
        resolve(s, model)


def test_memory_limit_is_configurable(model):
    s = one(ENSEMBLE)
    need = scen.estimate_bytes(8, 12, 8, 21)
    assert resolve(s, model, memory_limit=need).estimated_bytes == need
    with pytest.raises(ScenarioError, match="more than the limit of 1.0 KiB"):
        resolve(s, model, memory_limit=1024)


def test_ensemble_params_are_arrays_of_members(model):
    r = resolve(one(ENSEMBLE), model)
    arr = r.params["Capability Growth Rate"]
    assert arr.shape == (8,) and r.members == 8
    assert np.all((arr >= 0.03) & (arr <= 0.05))
    np.testing.assert_array_equal(r.samples["Capability Growth Rate"], arr)


def test_lever_value_can_be_sampled_with_its_start_year(model):
    s = one(MINIMAL + "members: 8\nseed: 0\n"
            "levers:\n  world_demand: {value: 1.0, start: 2024}\n"
            "uncertainty:\n  world_demand: {dist: uniform, low: 0.8, high: 1.2}\n")
    r = resolve(s, model)
    assert r.params["World Demand Lever Start Year"] == 2024.0
    assert r.params["World Demand Growth Lever"].shape == (8,)


@pytest.mark.parametrize("form", ["{step: {value: 1.2, start: 2026}}",
                                  "{ramp: {value: 1.2, start: 2026, end: 2029}}"])
def test_step_and_ramp_levers_sample_their_level(model, form):
    # the times stay as written; each member reaches its own sampled level
    s = one(MINIMAL + f"members: 6\nseed: 3\nlevers:\n  talent: {form}\n"
            "uncertainty:\n  talent: {dist: uniform, low: 1.1, high: 1.6}\n")
    r = resolve(s, model)
    lever = r.params["Talent Training Lever"]
    levels = r.samples["Talent Training Lever"]
    assert levels.shape == (6,) and np.all((levels >= 1.1) & (levels <= 1.6))
    np.testing.assert_array_equal(lever.value, levels)
    assert lever.start == 2026.0 and lever.before == float(model.constants["talent_training_lever"])
    res = model.simulate(r.params, method="euler", final_time=2035)
    path = res["Talent Training Lever"]
    np.testing.assert_array_equal(path[res.times <= 2025], 1.0)
    np.testing.assert_allclose(path[-1], levels, rtol=0)
    prov = r.provenance()["time_series"]["Talent Training Lever"]
    assert next(iter(prov.values()))["value"] == "sampled: see distributions"


def test_members_one_uses_point_values_and_says_so(model):
    s = one(MINIMAL + "uncertainty:\n  Capability Growth Rate: {dist: uniform, low: 0.03, "
            "high: 0.05}\n")
    r = resolve(s, model)
    assert r.samples == {} and "Capability Growth Rate" not in r.params
    assert any("members = 1" in n for n in r.notes)


def test_members_override_is_validated(model):
    s = one(MINIMAL + "uncertainty:\n  Capability Growth Rate: {dist: uniform, low: 0.03, "
            "high: 0.05}\n")
    with pytest.raises(ScenarioError, match="field seed: seed is required when members > 1"):
        resolve(s, model, members=10)
    r = resolve(one(ENSEMBLE), model, members=3)
    assert r.members == 3 and r.scenario.members == 3


def test_calibrated_base_applies_estimates(model, tmp_path):
    cal = load_calibrated(write_calibrated(tmp_path / "calibrated.yaml", {
        "Capability Growth Rate": {"estimate": 0.045, "interval": [0.04, 0.05],
                                   "bounds": [0.0, 0.5], "flag": "identified"},
        "Base Share": {"estimate": 0.035, "interval": [0.03, 0.04], "flag": "not identified"},
    }, model_hash=model.model_hash))
    r = resolve(one(MINIMAL + "parameters: {Base Share: 0.036}\n"), model, cal)
    assert r.base_used == "calibrated" and r.notes == ()
    assert r.params["Capability Growth Rate"] == 0.045
    assert r.params["Base Share"] == 0.036  # the scenario overrides the estimate
    r_model = resolve(one(MINIMAL + "base: model\n"), model, cal)
    assert r_model.params == {}


def test_absent_calibration_falls_back_to_model_values_and_says_so(model, tmp_path):
    assert load_calibrated(tmp_path / "nope.yaml") is None
    r = resolve(one(MINIMAL), model, None)
    assert r.base_used == "model"
    assert any("no calibrated.yaml was found" in n for n in r.notes)


def test_calibration_for_another_model_is_noted(model, tmp_path):
    cal = load_calibrated(write_calibrated(tmp_path / "c.yaml", {
        "Base Share": {"estimate": 0.035}}, model_hash="0" * 64))
    assert any("another version of the model" in n for n in resolve(one(MINIMAL), model, cal).notes)


def test_calibration_file_errors(model, tmp_path):
    bad = write_calibrated(tmp_path / "c.yaml", {"Base Shar": {"estimate": 0.035}})
    with pytest.raises(ScenarioError, match=r"parameter 'Base Shar' is not a constant.*did you "
                                            r"mean 'Base Share'"):
        resolve(one(MINIMAL), model, load_calibrated(bad))
    write_calibrated(bad, {"Base Share": {"estimate": "high"}})
    with pytest.raises(ScenarioError, match="'estimate' must be a finite number"):
        load_calibrated(bad)
    bad.write_text("parameters:\n  Base Share: {estimate: 0.035}\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="c.yaml, field 'schema': expected 'sim.calibrated/1'"):
        load_calibrated(bad)


def test_calibration_distribution_is_a_truncated_normal_on_the_interval(model, tmp_path):
    cal = load_calibrated(write_calibrated(tmp_path / "c.yaml", {
        "Capability Growth Rate": {"estimate": 0.045, "interval": [0.035, 0.055],
                                   "bounds": [0.01, 0.2], "flag": "identified"},
        "Base Share": {"estimate": 0.035, "interval": [0.03, 0.04], "flag": "weakly identified"},
        "Capability Decay Rate": {"estimate": 0.02, "interval": [0.0, 0.1],
                                  "flag": "not identified"},
        "Infrastructure Life": {"estimate": 12.0, "flag": "identified"},
    }))
    s = one(ENSEMBLE.replace("{dist: uniform, low: 0.03, high: 0.05}", "calibration"))
    d = resolve(s, model, cal).distributions["Capability Growth Rate"]
    assert (d.mean, d.low, d.high) == (0.045, 0.01, 0.2)
    assert d.sd == pytest.approx(0.02 / (2 * 1.959963984540054))
    # identified + weakly identified with an interval; the scenario's own distribution wins
    s2 = one(ENSEMBLE + "calibration_uncertainty: identified\n")
    with pytest.raises(ScenarioError, match="'Infrastructure Life' has no usable interval"):
        resolve(s2, model, cal)
    s3 = one(ENSEMBLE + "parameters: {Infrastructure Life: 12}\n"
             "calibration_uncertainty: identified\n")
    r3 = resolve(s3, model, cal)
    assert set(r3.distributions) == {"Capability Growth Rate", "Base Share"}
    assert r3.distributions["Capability Growth Rate"].dist == "uniform"
    r_all = resolve(one(ENSEMBLE + "parameters: {Infrastructure Life: 12}\n"
                        "calibration_uncertainty: all\n"), model, cal)
    assert "Capability Decay Rate" in r_all.distributions
    cal_log = load_calibrated(write_calibrated(tmp_path / "log.yaml", {
        "Capability Growth Rate": {"estimate": 0.04, "interval": [0.02, 0.08],
                                   "bounds": [0.01, 0.2], "scale": "log"}}))
    d_log = resolve(s, model, cal_log).distributions["Capability Growth Rate"]
    assert d_log.dist == "truncated_lognormal" and d_log.mean_log == pytest.approx(np.log(0.04))
    assert d_log.sd_log == pytest.approx(np.log(4) / (2 * 1.959963984540054))
    assert (d_log.low, d_log.high) == (0.01, 0.2)
    with pytest.raises(ScenarioError, match="'Talent Training Lever' is not in .*c.yaml"):
        resolve(one(MINIMAL + "members: 4\nseed: 0\nuncertainty: {talent: calibration}\n"),
                model, cal)


def test_nothing_left_to_sample_runs_one_member_and_says_so(model):
    s = one(MINIMAL + "members: 50\nseed: 0\ncalibration_uncertainty: all\n")
    r = resolve(s, model, None)
    assert r.members == 1 and any("nothing was left to sample" in n for n in r.notes)


def test_provenance_lists_what_was_set(model):
    r = resolve(one(ENSEMBLE + "levers:\n  talent: {ramp: {value: 1.2, start: 2026, end: 2030}}\n"
                    "  reform: {value: 1.3, start: 2027}\n"), model)
    p = r.provenance()
    assert p["constants"] == {"Talent Lever Start Year": 2015.0, "Reform Pace Lever": 1.3,
                              "Reform Lever Start Year": 2027.0}
    assert p["time_series"]["Talent Training Lever"]["ramp"]["end"] == 2030.0
    assert p["distributions"]["Capability Growth Rate"]["dist"] == "uniform"
    yaml.safe_dump(p)  # YAML-safe


# ------------------------------------------------------ the shipped scenarios
def test_shipped_scenarios_load_and_cite_their_seed():
    assert len(SHIPPED) >= 6
    names = []
    for path in SHIPPED:
        for s in load_scenarios(path):
            names.append(s.name)
            if s.name != "baseline":
                assert re.search(r"shared/seeds/00\d_[0-9a-f]+\.txt", s.description), s.name
                assert re.search(r"[\u4e00-\u9fff]", s.description), s.name  # quotes the seed
            assert s.members >= 200 and s.seed is not None
    for required in ("baseline", "digital infrastructure push", "talent first",
                     "high-level opening", "fragmentation", "coordinated strategy"):
        assert required in names


def _seed_folder(root: Path, tamper: bool = False) -> Path:
    """Write seed documents made of the shipped scenarios' own quotes.

    The real seeds, which hold figures after 2022, stay outside the repository;
    a reviewer checks them with ``python -m sim.scenarios.quotes SEEDS_DIR``.
    ``tamper``: a character is inserted in the middle of every quote.
    """
    seeds = root / "seeds"
    seeds.mkdir(parents=True)
    texts: dict[str, str] = {}
    for path in SHIPPED:
        for s in load_scenarios(path):
            for c in re.findall(r"shared/seeds/(00\d_[0-9a-f]+\.txt)", s.description):
                texts.setdefault(c, "前言。\n")
                for q in re.findall(r'"([^"]*[\u4e00-\u9fff][^"]*)"', s.description):
                    for part in q.split("……"):
                        if tamper:
                            part = part[:len(part) // 2] + "改" + part[len(part) // 2:]
                        texts[c] = texts.get(c, "前言。\n") + part + "。其他内容。\n"
    assert texts
    for name, text in texts.items():
        (seeds / name).write_text(text, encoding="utf-8")
    return seeds


def test_quote_checker_accepts_verbatim_quotes_and_names_a_changed_one(tmp_path):
    from sim.scenarios.quotes import check_quotes, main
    assert check_quotes(SHIPPED, _seed_folder(tmp_path / "ok")) == []
    bad = check_quotes(SHIPPED, _seed_folder(tmp_path / "bad", tamper=True))
    assert bad and all("quote not found in" in p for p in bad)
    empty = tmp_path / "empty"
    empty.mkdir(parents=True)
    missing = check_quotes(SHIPPED, empty)
    assert any("not found in" in p and "cites" in p for p in missing)
    assert main([str(tmp_path / "nowhere")]) == 2
    assert main([str(_seed_folder(tmp_path / "cli")), *map(str, SHIPPED)]) == 0


def test_shipped_scenarios_share_one_ensemble_for_paired_differences():
    keys = {(s.members, s.seed, s.sampling, repr(s.uncertainty), s.calibration_uncertainty,
             s.horizon) for p in SHIPPED for s in load_scenarios(p)}
    assert len(keys) == 1


def test_readme_example_is_a_valid_scenario():
    text = (REPO / "scenarios" / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)
    assert len(blocks) >= 2
    for block in blocks:
        assert load_scenarios_text(block, "README.md")


@pytest.mark.skipif(not REAL_MODEL.exists(), reason="model/digital_trade.mdl not written yet")
def test_shipped_scenarios_resolve_on_the_real_model(tmp_path):
    m = sim.load_model(REAL_MODEL)
    cal_path = REPO / "model" / "calibrated.yaml"
    cal = load_calibrated(cal_path)
    for path in SHIPPED:
        for s in load_scenarios(path):
            r = resolve(s, m, cal)
            assert r.members == s.members
            for lever in s.levers:
                assert LEVERS[lever].value in r.params
    readme = (REPO / "scenarios" / "README.md").read_text(encoding="utf-8")
    example = load_scenarios_text(re.findall(r"```yaml\n(.*?)```", readme, re.DOTALL)[0])[0]
    fake = load_calibrated(write_calibrated(tmp_path / "c.yaml", {
        "Share Elasticity to Capability": {"estimate": 1.0, "interval": [0.8, 1.2],
                                           "bounds": [0.3, 3.0], "flag": "identified"}}))
    assert resolve(example, m, fake).members == 500
