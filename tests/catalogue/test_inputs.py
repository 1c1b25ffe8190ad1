"""Catalogue of bad inputs: what a user can get wrong, and the exact answer they get.

Each case pins the whole outcome: the message (naming the file, the line, the
field or option, and what is accepted), the exit code on the command line, and
no traceback. The first sections are the cases of issue #16 ("Reliability"),
each of which failed before its fix; the last pins representative cases that
were already refused (their partial matches live in ``tests/test_bad_input.py``
and ``tests/test_scenarios.py``).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conformance import mdl_text

import sim
from sim.cli import main
from sim.scenarios import (
    Scenario,
    ScenarioError,
    load_scenarios,
    load_scenarios_text,
    read_scenario_file,
    resolve,
)

REPO = Path(__file__).resolve().parents[2]
LEVERS_FIXTURE = REPO / "tests" / "models" / "levers_fixture.mdl"
SCENARIO = "name: s\ndescription: d\n"
FIELDS = ", ".join(Scenario.model_fields)  # what a scenario accepts, in the schema's order

#: A decay model whose constants declare their ranges in the units field.
RANGED = """{UTF-8}
Amount = INTEG(- Outflow, Initial Amount)
\t~\tkg
\t~\t\t|
Outflow = Amount / Decay Time
\t~\tkg/Year
\t~\t\t|
Decay Time = 2
\t~\tYear [0.5, 10]
\t~\t\t|
Initial Amount = 100
\t~\tkg [0, ?]
\t~\t\t|
FINAL TIME = 2
\t~\tYear
\t~\t\t|
INITIAL TIME = 0
\t~\tYear
\t~\t\t|
SAVEPER = 1
\t~\tYear
\t~\t\t|
TIME STEP = 1
\t~\tYear
\t~\t\t|
"""


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    """Run ``sim ARGV`` in this process: (exit code, stdout, stderr); never a traceback."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


@pytest.fixture
def ranged(tmp_path) -> Path:
    path = tmp_path / "ranged.mdl"
    path.write_text(RANGED, encoding="utf-8")
    return path


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------ numbers in scenario YAML
@pytest.mark.parametrize(("written", "value"), [
    ("12e-1", 1.2), ("1.0e300", 1.0e300), ("1e5", 1.0e5), ("2E+3", 2000.0), ("-5e-1", -0.5),
], ids=["exponent-no-dot", "exponent-no-sign", "integer-mantissa", "capital-E", "negative"])
def test_a_number_in_exponent_notation_is_a_number(written, value):
    scenario, = load_scenarios_text(f"{SCENARIO}parameters:\n  X: {written}\n", "t.yaml")
    assert scenario.parameters == {"X": value}


def test_a_lever_value_in_exponent_notation_is_a_number():
    scenario, = load_scenarios_text(f"{SCENARIO}levers:\n  talent: {{value: 12e-1, start: 2026}}\n",
                                    "t.yaml")
    assert (scenario.levers["talent"].value, scenario.levers["talent"].start) == (1.2, 2026.0)


def test_leading_zeros_are_decimal_not_octal():
    scenario, = load_scenarios_text(f"{SCENARIO}horizon: 02030\n", "t.yaml")
    assert scenario.horizon == 2030  # YAML 1.1 read 02030 as octal: 1048


def test_an_integer_too_long_to_read_is_a_yaml_error():
    text = f"{SCENARIO}members: {'9' * 5000}\n"
    with pytest.raises(ScenarioError) as info:
        load_scenarios_text(text, "t.yaml")
    assert str(info.value) == ("t.yaml, line 3, column 10: invalid YAML: the integer starting "
                               "999999999999... has 5000 digits, too many to read")


# --------------------------------------------------------------------- --set ranges
@pytest.mark.parametrize(("item", "message"), [
    ("Decay Time=20", "--set 'Decay Time=20': 20 is outside the model's range [0.5, 10] for "
                      "'Decay Time'"),
    ("Decay Time=0.1", "--set 'Decay Time=0.1': 0.1 is outside the model's range [0.5, 10] for "
                       "'Decay Time'"),
    ("initial_amount=-1", "--set 'initial_amount=-1': -1 is outside the model's range [0, ?] "
                          "for 'Initial Amount'"),
], ids=["above-max", "below-min", "python-name-open-max"])
def test_set_outside_the_declared_range_is_refused(capsys, tmp_path, ranged, item, message):
    out = tmp_path / "run.csv"
    code, _, err = cli(capsys, "simulate", ranged, "--method", "euler", "--set", item, "-o", out)
    assert code == 2
    assert err == (f"error: {message}; pass --allow-out-of-range to run with such values "
                   "anyway\n")
    assert not out.exists()


def test_allow_out_of_range_runs_with_a_warning(capsys, tmp_path, ranged):
    out = tmp_path / "run.csv"
    code, _, err = cli(capsys, "simulate", ranged, "--method", "euler", "--set", "Decay Time=20",
                       "--allow-out-of-range", "-o", out)
    assert code == 0
    assert err == ("warning: --set 'Decay Time=20': 20 is outside the model's range [0.5, 10] "
                   "for 'Decay Time' (allowed by --allow-out-of-range)\n")
    assert pd.read_csv(out, index_col=0)["Decay Time"].tolist() == [20.0, 20.0, 20.0]


def test_set_and_scenarios_refuse_the_same_value_in_the_same_words(capsys, tmp_path):
    sentence = "40 is outside the model's range [0.25, 20] for 'Barrier Adjustment Time'"
    code, _, err = cli(capsys, "simulate", LEVERS_FIXTURE, "--method", "euler",
                       "--set", "Barrier Adjustment Time=40", "-o", tmp_path / "run.csv")
    assert (code, err) == (2, f"error: --set 'Barrier Adjustment Time=40': {sentence}; pass "
                              "--allow-out-of-range to run with such values anyway\n")
    scenario, = load_scenarios_text(f"{SCENARIO}base: model\nparameters:\n"
                                    "  Barrier Adjustment Time: 40\n", "t.yaml")
    with pytest.raises(ScenarioError) as info:
        resolve(scenario, sim.load_model(LEVERS_FIXTURE))
    assert str(info.value) == ("t.yaml, line 5, scenario 's', field "
                               f"parameters['Barrier Adjustment Time']: {sentence}")


def test_sim_run_allows_out_of_range_only_when_asked(capsys, tmp_path):
    """``sim run`` refuses a scenario value outside its range, as ``--set`` does.

    It runs it with ``--allow-out-of-range`` and a warning naming the value and
    the range.
    """
    sentence = "40 is outside the model's range [0.25, 20] for 'Barrier Adjustment Time'"
    path = write(tmp_path, "s.yaml", f"{SCENARIO}base: model\nparameters:\n"
                                      "  Barrier Adjustment Time: 40\n")
    argv = ["run", path, "--model", LEVERS_FIXTURE, "--no-calibration", "--method", "euler",
            "--no-progress", "--no-charts"]
    code, _, err = cli(capsys, *argv, "--out", tmp_path / "refused")
    assert code == 1 and f"FAILED: {path}, line 5, scenario 's', field " \
        f"parameters['Barrier Adjustment Time']: {sentence}" in err
    code, _, err = cli(capsys, *argv, "--out", tmp_path / "allowed", "--allow-out-of-range")
    assert code == 0
    assert f"{sentence}; run as asked (--allow-out-of-range)" in err
    assert (tmp_path / "allowed" / "s" / "summary.csv").is_file()


# ----------------------------------------------------------------- model files
NOT_TEXT = [
    pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a text file (byte 8 is NUL); "
                 "expected a Vensim .mdl text file", id="binary-with-nul"),
    pytest.param(b"{UTF-8}\nx = 1 \xff\n\t~\t\n\t~\t\t|\n", "not a text file: byte 14 (0xff) is "
                 "not valid UTF-8, declared as UTF-8; expected a Vensim .mdl text file",
                 id="invalid-utf8"),
    pytest.param(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "not a text file: byte 0 (0xd0) is not "
                 "valid UTF-8, read as UTF-8 (no encoding declared); expected a Vensim .mdl text "
                 "file", id="no-encoding-not-utf8"),
    pytest.param(b"{NOPE-1}\nx = 1\n\t~\t\n\t~\t\t|\n", "the first line declares the encoding "
                 "{NOPE-1}, which is not a known text encoding (a Vensim model starts with "
                 "{UTF-8})", id="unknown-encoding"),
]


@pytest.mark.parametrize(("content", "message"), NOT_TEXT)
def test_a_model_that_is_not_text_is_named_as_such(capsys, tmp_path, content, message):
    path = tmp_path / "model.mdl"
    path.write_bytes(content)
    code, out, err = cli(capsys, "simulate", path)
    assert (code, out, err) == (2, "", f"error: {path}: {message}\n")


def test_a_binary_model_in_a_real_process_exits_2_without_a_traceback(tmp_path):
    path = tmp_path / "model.mdl"
    path.write_bytes(bytes(range(256)) * 8)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "sim.cli", "simulate", str(path)],
                          capture_output=True, text=True, timeout=300, env=env, cwd=REPO)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.splitlines()[-1] == (f"error: {path}: not a text file (byte 0 is NUL); "
                                            "expected a Vensim .mdl text file")
    assert "Traceback" not in done.stderr


SYNTAX = [
    pytest.param(["Room Temperature = 70", "Cooling = (Room Temperature - * 3"], 6, 31, "Cooling",
                 "syntax error near '* 3'", id="operator"),
    pytest.param(["x = (1 + "], 2, 9, "x", "syntax error: the equation ends early",
                 id="unbalanced-parenthesis"),
    pytest.param(["tab(\n\t[(0,0)-(1,1)],(0,0),(1,x))"], 3, 25, "tab", "syntax error near 'x))'",
                 id="lookup-point"),
    pytest.param(["基数 = 3", "出口 = 基数 ** * 2"], 6, 9, "出口", "syntax error near '** * 2'",
                 id="chinese-name"),
    pytest.param(["a = 1", "b = 2\n\t~\tkg [0, abc]\n\t~\t\t|\n\ny = 2"], 6, 1, "b",
                 "ValueError: could not convert string to float: ' abc'", id="range-in-units"),
]


@pytest.mark.parametrize(("equations", "line", "column", "variable", "problem"), SYNTAX)
def test_a_syntax_error_names_the_line_and_the_variable(tmp_path, equations, line, column,
                                                        variable, problem):
    path = tmp_path / "bad.mdl"
    path.write_text(mdl_text(equations), encoding="utf-8")
    with pytest.raises(sim.ModelError) as info:
        sim.load_model(path)
    assert str(info.value) == (f"{path}: cannot be parsed as a Vensim model: line {line}, "
                               f"column {column}, variable '{variable}': {problem}")
    assert info.value.variable == variable


def test_a_syntax_error_on_the_command_line(capsys, tmp_path):
    path = tmp_path / "bad.mdl"
    path.write_bytes(mdl_text(["growth = 2", "x = growth *\n\t(1 +\n\t* 3)"]).replace(
        "\n", "\r\n").encode("utf-8"))  # CRLF line ends count as one line each
    code, out, err = cli(capsys, "simulate", path)
    assert (code, out, err) == (2, "", f"error: {path}: cannot be parsed as a Vensim model: line "
                                       "6, column 12, variable 'x': syntax error near "
                                       "'* (1 + * 3)'\n")


# ------------------------------------------------------------------------ -o
@pytest.mark.parametrize("how", ["folder", "folder-with-slash", "new-folder-with-slash",
                                 "under-a-file", "empty"])
def test_output_must_name_a_file(capsys, tmp_path, ranged, how):
    existing = tmp_path / "results"
    existing.mkdir()
    output, message = {
        "folder": (str(existing), f"-o {existing}: is a folder; expected a CSV file name, e.g. "
                                  f"-o {existing / 'run.csv'}"),
        "folder-with-slash": (f"{existing}/", f"-o {existing}/: is a folder; expected a CSV file "
                                              f"name, e.g. -o {existing / 'run.csv'}"),
        "new-folder-with-slash": (f"{tmp_path}/new/", f"-o {tmp_path}/new/: is a folder; "
                                                      "expected a CSV file name, e.g. "
                                                      f"-o {tmp_path / 'new' / 'run.csv'}"),
        "under-a-file": (f"{ranged}/run.csv", f"-o {ranged}/run.csv: {ranged} is a file, not a "
                                              "folder"),
        "empty": ("", "-o '': expected a CSV file name, e.g. -o run.csv (or leave -o out to "
                      "write to standard output)"),
    }[how]
    before = sorted(tmp_path.rglob("*"))
    code, out, err = cli(capsys, "simulate", ranged, "--method", "euler", "-o", output)
    assert (code, out, err) == (2, "", f"error: {message}\n")
    assert sorted(tmp_path.rglob("*")) == before  # nothing written


# ------------------------------------------------------------------------ extends
def test_extends_outside_the_folder_is_refused_before_reading(tmp_path):
    write(tmp_path, "common/base.yaml", f"{SCENARIO}members: 1\n")
    child = write(tmp_path, "mine/a.yaml", "name: a\ndescription: d\nextends: ../common/base.yaml\n")
    with pytest.raises(ScenarioError) as info:
        load_scenarios(child)
    assert str(info.value) == (f"{child}, line 3, scenario 'a', field extends: "
                               f"'../common/base.yaml' is outside the scenario folder "
                               f"{child.parent}; 'extends' reads scenario files in that folder "
                               "and its subfolders, or a file named on the command line")


def test_extends_reads_a_file_named_on_the_command_line(tmp_path):
    base = write(tmp_path, "common/base.yaml", f"{SCENARIO}horizon: 2040\n")
    child = write(tmp_path, "mine/a.yaml", "name: a\ndescription: d\nextends: ../common/base.yaml\n")
    scenario, = load_scenarios(child, allowed=[base])
    assert (scenario.name, scenario.horizon) == ("a", 2040)


@pytest.mark.parametrize("reference", ["/etc/passwd.yaml", "../../../../etc/x.yaml",
                                       "link.yaml"], ids=["absolute", "dot-dot", "symlink-out"])
def test_extends_cannot_leave_the_folder(tmp_path, reference):
    outside = write(tmp_path, "elsewhere/base.yaml", f"{SCENARIO}horizon: 2040\n")
    child = write(tmp_path, "mine/a.yaml", f"name: a\ndescription: d\nextends: {reference}\n")
    (tmp_path / "mine" / "link.yaml").symlink_to(outside)
    with pytest.raises(ScenarioError) as info:
        load_scenarios(child)
    assert str(info.value).startswith(f"{child}, line 3, scenario 'a', field extends: "
                                      f"'{reference}' is outside the scenario folder "
                                      f"{child.parent}; ")


SECRET = "password: hunter2\napi_token: abc123\n"


@pytest.mark.parametrize(("target", "problem"), [
    (SECRET, "its top level has keys that are not scenario fields"),
    (f"name: x\ndescription: d\n{SECRET}", "its top level has keys that are not scenario fields"),
    ("scenarios:\n  - {name: x, description: d, password: hunter2}\n",
     "entry 1 of its 'scenarios' has keys that are not scenario fields"),
    ("- password\n- hunter2\n", "its top level is not a mapping"),
], ids=["foreign-mapping", "scenario-with-foreign-keys", "foreign-list-entry", "list"])
def test_extends_of_a_file_that_is_not_a_scenario_shows_none_of_its_keys(tmp_path, target,
                                                                          problem):
    write(tmp_path, "other.yaml", target)
    child = write(tmp_path, "a.yaml", "name: a\ndescription: d\nextends: other.yaml\n")
    with pytest.raises(ScenarioError) as info:
        load_scenarios(child)
    assert str(info.value) == (
        f"{child}, line 3, scenario 'a', field extends: 'other.yaml' is not a scenario file "
        f"({problem}; accepted: {FIELDS}, extends, or 'scenarios:' with a list of them); its "
        "content is not shown")
    assert "password" not in str(info.value) and "hunter2" not in str(info.value)


def test_extends_of_a_file_with_a_duplicate_key_does_not_name_the_key(tmp_path):
    write(tmp_path, "other.yaml", "password: one\npassword: two\n")
    child = write(tmp_path, "a.yaml", "name: a\ndescription: d\nextends: other.yaml\n")
    with pytest.raises(ScenarioError) as info:
        load_scenarios(child)
    assert str(info.value) == (f"{child}, line 3, scenario 'a', field extends: 'other.yaml' "
                               f"cannot be read: {tmp_path / 'other.yaml'}, line 2: duplicate key "
                               "(first given at line 1)")


def test_a_file_that_is_not_a_scenario_is_refused_without_its_keys(tmp_path):
    path = write(tmp_path, "settings.yaml", SECRET)
    loaded = read_scenario_file(path)
    assert loaded.scenarios == []
    assert [str(e) for e in loaded.errors] == [
        f"{path}, line 1: not a scenario file: none of its top-level keys is a scenario field "
        f"(accepted: {FIELDS}, or 'scenarios:' with a list of them)"]


# ------------------------------------------------------- already refused, pinned exactly
BOMB = ("a: &a [1, 2]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
        "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
        "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
        "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n")


@pytest.mark.parametrize(("text", "message"), [
    ("name: s\n  description: [",
     "t.yaml, line 2, column 14: invalid YAML: mapping values are not allowed here"),
    (f"{SCENARIO}levers:\n  talnt: {{value: 1.2, start: 2026}}\n",
     "t.yaml, line 4, scenario 's', field levers: unknown lever 'talnt'; did you mean "
     "'talent'? (levers: infrastructure, talent, reform, data_flow, innovation, world_demand, "
     "barrier_shock)"),
    ("name: !!python/object/apply:os.system ['echo unsafe']\ndescription: d\n",
     "t.yaml, line 1, column 7: invalid YAML: could not determine a constructor for the tag "
     "'tag:yaml.org,2002:python/object/apply:os.system'"),
    (BOMB, "t.yaml: the YAML expands to more than 200000 nodes (aliases?); refusing it"),
    (f"{SCENARIO}parameters:\n  X: '12e-1'\n",
     "t.yaml, line 4, scenario 's', field parameters.X: Input should be a valid number"),
    ("name: s\ndescription: " + "x" * 2**20 + "\n",
     "t.yaml: scenario text is larger than 1048576 bytes"),
], ids=["malformed-yaml", "unknown-lever", "python-tag", "alias-bomb", "quoted-number",
        "oversized"])
def test_scenario_text_already_refused(text, message):
    with pytest.raises(ScenarioError) as info:
        load_scenarios_text(text, "t.yaml")
    assert str(info.value) == message


@pytest.mark.parametrize(("item", "message"), [
    ("Decay Time=slow", "--set 'Decay Time=slow': value 'slow' is not a number"),
    ("Decay Time", "--set 'Decay Time': expected NAME=VALUE, e.g. --set \"Room Temperature=65\""),
], ids=["not-a-number", "no-equals"])
def test_bad_set_value_already_refused(capsys, tmp_path, ranged, item, message):
    out = tmp_path / "run.csv"
    code, stdout, err = cli(capsys, "simulate", ranged, "--set", item, "-o", out)
    assert (code, stdout, err) == (2, "", f"error: {message}\n")
    assert not out.exists()
