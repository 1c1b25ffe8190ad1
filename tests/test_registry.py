"""The registry of Vensim functions (:mod:`sim.engine.functions`) and every layer built from it.

* Every registered function exists in every back end: the scalar and vector
  closure primitives, the tape recorder, the kernel (an instruction per
  opcode, checked by running it against the numpy primitive), the compiler's
  closure builders and the units checker's rules.
* Every function PySD's translator knows that is not registered is refused at
  load, naming it.
"""
from __future__ import annotations

import inspect
import operator
import re
import typing
from pathlib import Path

import numpy as np
import pytest
from conformance import mdl_text
from pysd.builders.python.python_functions import functionspace

import sim
from sim.engine import functions
from sim.engine.compiling.backends import SCALAR, VECTOR, BackendKind
from sim.engine.compiling.compiler import Compiler
from sim.engine.functions import FUNCTIONS, INSTRUCTIONS, OPERATOR_PRIMITIVES, vensim_name
from sim.engine.reading.translate import KNOWN_VENSIM_FUNCTIONS, SUPPORTED_CALLS
from sim.engine.reading.units import UNIT_RULES
from sim.engine.tape import kernel, opcodes
from sim.engine.tape.backend import TapeBackend

REGISTERED = [pytest.param(f, id=ref) for ref, f in FUNCTIONS.items()]


# ------------------------------------------------------------- the registry
def test_registry_keys_are_pysd_names():
    assert all(ref == f.ref for ref, f in FUNCTIONS.items())
    assert all(f.arity and f.emits for f in FUNCTIONS.values())


def test_translator_accepts_exactly_the_registered_functions():
    assert frozenset(FUNCTIONS) == SUPPORTED_CALLS


def test_every_form_and_unit_rule_is_a_declared_one():
    forms = set(typing.get_args(functions.Form))
    rules = set(typing.get_args(functions.UnitRule))
    switches = set(typing.get_args(functions.SwitchKind)) | {None}
    for f in FUNCTIONS.values():
        assert f.form in forms, f.ref
        assert f.units in rules, f.ref
        assert f.switch in switches, f.ref


# -------------------------------------------------------------- back ends
@pytest.mark.parametrize("fn", REGISTERED)
@pytest.mark.parametrize("backend", [SCALAR, VECTOR, TapeBackend()], ids=lambda b: str(b.name))
def test_registered_function_has_a_primitive_in_every_closure_back_end(fn, backend):
    assert callable(getattr(backend, fn.primitive, None)), \
        f"{fn.vensim}: back end {backend.name} has no primitive {fn.primitive!r}"


@pytest.mark.parametrize("op", OPERATOR_PRIMITIVES)
@pytest.mark.parametrize("backend", [SCALAR, VECTOR, TapeBackend()], ids=lambda b: str(b.name))
def test_operator_primitive_in_every_closure_back_end(op, backend):
    assert callable(getattr(backend, op, None))


@pytest.mark.parametrize("fn", REGISTERED)
def test_registered_implementations_are_the_back_ends_primitives(fn):
    if fn.form == "if_then_else":  # the back ends' where
        assert fn.vector is None and fn.scalar is None
        return
    assert getattr(VECTOR, fn.primitive) is fn.vector
    assert getattr(SCALAR, fn.primitive) is fn.scalar


@pytest.mark.parametrize("fn", [p for p in REGISTERED if p.values[0].scalar is not None])
def test_scalar_implementation_equals_vector(fn):
    n = len([p for p in inspect.signature(fn.vector).parameters.values()
             if p.default is inspect.Parameter.empty])
    for row in _INPUTS:
        with np.errstate(all="ignore"):
            want = float(fn.vector(*(np.float64(x) for x in row[:n])))
        got = fn.scalar(*(float(x) for x in row[:n]))
        assert isinstance(got, float | int), fn.ref
        np.testing.assert_allclose(got, want, rtol=1e-13, err_msg=f"{fn.ref}{tuple(row[:n])}")


def test_tape_back_end_refuses_an_unknown_primitive():
    with pytest.raises(AttributeError, match="no primitive 'gamma_ln'"):
        TapeBackend().gamma_ln  # noqa: B018


def test_backend_kinds_are_the_program_keys():
    assert [str(k) for k in BackendKind] == ["vector", "scalar", "tape"]
    assert {SCALAR.name, VECTOR.name, TapeBackend.name} == set(BackendKind)
    assert BackendKind.TAPE == "tape" and hash(BackendKind.TAPE) == hash("tape")


@pytest.mark.parametrize("fn", REGISTERED)
def test_registered_function_has_a_compiler_builder(fn):
    if fn.form != "plain":
        builders = Compiler("x.mdl", []).builders()
        assert fn.form in builders, f"{fn.vensim}: the compiler has no builder for form {fn.form!r}"


def test_every_non_plain_form_has_a_compiler_builder():
    assert set(Compiler("x.mdl", []).builders()) == set(typing.get_args(functions.Form)) - {"plain"}


@pytest.mark.parametrize("fn", REGISTERED)
def test_registered_function_has_a_unit_rule(fn):
    assert fn.units in UNIT_RULES, f"{fn.vensim}: the units checker has no rule {fn.units!r}"


def test_every_unit_rule_is_implemented():
    assert set(UNIT_RULES) == set(typing.get_args(functions.UnitRule))


# ----------------------------------------------------------------- kernel
def test_opcodes_are_numbered_from_the_registry():
    numbers = [opcodes.OPCODES[i.opcode] for i in INSTRUCTIONS]
    assert sorted(numbers) == list(range(len(INSTRUCTIONS)))
    for i in INSTRUCTIONS:
        assert getattr(opcodes, i.opcode) == opcodes.OPCODES[i.opcode], i.opcode
        assert opcodes.OPCODE_OF[i.op] == opcodes.OPCODES[i.opcode]
    unary = {opcodes.OPCODES[i.opcode] for i in INSTRUCTIONS if i.group == "unary"}
    binary = {opcodes.OPCODES[i.opcode] for i in INSTRUCTIONS if i.group == "binary"}
    core = {opcodes.OPCODES[i.opcode] for i in INSTRUCTIONS if i.group == "core"}
    # the kernel tests ranges: core < unary <= LAST_UNARY < binary <= LAST_BINARY < wide
    assert max(core) < min(unary) and max(unary) == opcodes.LAST_UNARY
    assert opcodes.LAST_UNARY < min(binary) and max(binary) == opcodes.LAST_BINARY


def test_kernel_cache_fingerprint_is_current():
    assert kernel.OPCODES_FINGERPRINT == opcodes.FINGERPRINT, (
        "the opcode numbering changed: set OPCODES_FINGERPRINT in sim/engine/tape/kernel.py to "
        f"{opcodes.FINGERPRINT!r} (the kernel skips its disk cache until then)")


@pytest.mark.parametrize("fn", REGISTERED)
def test_registered_function_has_kernel_instructions(fn):
    source = inspect.getsource(kernel)
    for op in fn.emits:
        name = functions.INSTRUCTION_OF[op].opcode
        assert re.search(rf"\bop == {name}\b", source), f"{fn.vensim}: no kernel branch for {name}"


_CMP = {"eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le,
        "gt": operator.gt, "ge": operator.ge}
_CORE = {"copy": lambda a: a, "add": operator.add, "sub": operator.sub, "mul": operator.mul,
         "div": operator.truediv}


def _reference(op: str):
    """Return the numpy meaning of instruction ``op`` (what the kernel must compute)."""
    if op in _CORE:
        return _CORE[op]
    if op in _CMP:
        return lambda a, b: VECTOR.cmp(_CMP[op], a, b)
    if op == "ramp_end":
        return VECTOR.ramp
    if op == "lookup":
        return lambda x: np.interp(x, [0.0, 1.0, 2.0], [5.0, 7.0, 4.0])
    return getattr(VECTOR, op)


#: operand values: each instruction reads its first ``operands`` of a row
_INPUTS = np.array([[0.5, 0.3, 0.7, 0.2, 0.6, 0.4, 2.5],
                    [0.8, 0.25, 0.6, 1.0, 0.5, 0.3, 3.0],
                    [0.9, 0.1, 0.0, 0.0, 1.0, 0.5, 2.0]])


@pytest.mark.parametrize("ins", [pytest.param(i, id=i.op) for i in INSTRUCTIONS])
def test_kernel_instruction_equals_numpy(ins):
    """Each instruction, run by both interpreters, equals its numpy primitive (not the nan fallback)."""
    n = ins.operands
    rows = n + 1  # inputs, then the output
    code = np.zeros((1, 10), dtype=np.int64)
    code[0, 0] = opcodes.OPCODES[ins.opcode]
    code[0, 1] = n
    code[0, 2:2 + n] = np.arange(n)
    tx, ty = np.array([0.0, 1.0, 2.0]), np.array([5.0, 7.0, 4.0])
    toff = np.array([0, 3], dtype=np.int64)
    if ins.op == "lookup":
        code[0, 3] = 0  # table id
    reg = np.zeros((rows, len(_INPUTS)))
    reg[:n] = _INPUTS[:, :n].T
    with np.errstate(all="ignore"):
        want = np.array([float(_reference(ins.op)(*row[:n])) for row in _INPUTS])
    assert np.all(np.isfinite(want)), f"pick finite test inputs for {ins.op}"
    kernel.execute(code, reg, tx, ty, toff, -1)
    np.testing.assert_allclose(reg[n], want, rtol=1e-13, err_msg=ins.op)
    for j, row in enumerate(_INPUTS):
        r = np.zeros(rows)
        r[:n] = row[:n]
        kernel.execute1(code, r, tx, ty, toff)
        np.testing.assert_allclose(r[n], want[j], rtol=1e-13, err_msg=ins.op)


def test_unknown_opcode_gives_nan_not_another_instruction():
    code = np.zeros((1, 10), dtype=np.int64)
    code[0, 0] = len(INSTRUCTIONS)  # one past the last opcode
    code[0, 1] = 7
    reg = np.ones((8, 2))
    kernel.execute(code, reg, np.zeros(1), np.zeros(1), np.zeros(2, dtype=np.int64), -1)
    assert np.isnan(reg[7]).all()


# ---------------------------------------------------------------- refusals
UNREGISTERED = sorted(vensim_name(f) for f in functionspace
                      if f not in FUNCTIONS and not f.startswith("X") and not f.endswith("_xmile"))


def test_pysd_functions_are_all_known():
    assert set(UNREGISTERED) <= KNOWN_VENSIM_FUNCTIONS
    assert "RANDOM UNIFORM" in UNREGISTERED  # the list is PySD's, not empty


@pytest.mark.parametrize("name", UNREGISTERED)
def test_unregistered_pysd_function_is_refused_by_name(tmp_path: Path, name):
    path = tmp_path / "m.mdl"
    path.write_text(mdl_text([f"x = {name}(1)"]), encoding="utf-8")
    with pytest.raises(sim.ModelError, match=rf"variable 'x': (function )?{re.escape(name)}\b") as info:
        sim.load_model(path)
    assert info.value.construct == name
