"""Opcodes of the tape format shared by :mod:`sim.engine.tape.backend` (writer) and :mod:`sim.engine.tape.kernel` (reader).

Numbered from :data:`sim.engine.functions.INSTRUCTIONS`, group by group
(core, one operand, two operands, then the instructions with more operands or
a table), so the interpreter can test ranges: ``op <= LAST_UNARY`` and
``op <= LAST_BINARY``. The named constants below are what Numba compiles
into the kernel as literals.
"""
from __future__ import annotations

import hashlib

from sim.engine.functions import GROUPS, INSTRUCTIONS


def _number() -> dict[str, int]:
    ordered = [i for g in GROUPS for i in INSTRUCTIONS if i.group == g]
    return {i.opcode: k for k, i in enumerate(ordered)}


#: Opcode of every instruction, by its constant name (``"MIN"``).
OPCODES: dict[str, int] = _number()

#: Opcode by the name the tape recorder gives the instruction (``"minimum"``).
OPCODE_OF: dict[str, int] = {i.op: OPCODES[i.opcode] for i in INSTRUCTIONS}

#: Last opcode of the one-operand and two-operand groups.
LAST_UNARY = max(OPCODES[i.opcode] for i in INSTRUCTIONS if i.group == "unary")
LAST_BINARY = max(OPCODES[i.opcode] for i in INSTRUCTIONS if i.group == "binary")

#: A digest of the numbering; the kernel uses its disk cache only while it
#: was written for this numbering (``kernel.OPCODES_FINGERPRINT``).
FINGERPRINT = hashlib.sha256(repr(sorted(OPCODES.items())).encode()).hexdigest()[:16]

COPY, ADD, SUB, MUL, DIV = (OPCODES[k] for k in ("COPY", "ADD", "SUB", "MUL", "DIV"))
ABS, SQRT, EXP, LN, SIN, COS, TAN = (OPCODES[k] for k in ("ABS", "SQRT", "EXP", "LN", "SIN",
                                                          "COS", "TAN"))
ASIN, ACOS, ATAN, TRUNC, NOT = (OPCODES[k] for k in ("ASIN", "ACOS", "ATAN", "TRUNC", "NOT"))
SINH, COSH, TANH, QUANTUM = (OPCODES[k] for k in ("SINH", "COSH", "TANH", "QUANTUM"))
POW, MIN, MAX, LOG, MOD, ZIDZ = (OPCODES[k] for k in ("POW", "MIN", "MAX", "LOG", "MOD", "ZIDZ"))
EQ, NE, LT, LE, GT, GE, AND, OR = (OPCODES[k] for k in ("EQ", "NE", "LT", "LE", "GT", "GE", "AND",
                                                        "OR"))
XIDZ, WHERE, STEP, RAMP, RAMP_END = (OPCODES[k] for k in ("XIDZ", "WHERE", "STEP", "RAMP",
                                                          "RAMP_END"))
VSEL_START = OPCODES["VSEL_START"]
PULSE, PULSE_TRAIN, LOOKUP, VSEL = (OPCODES[k] for k in ("PULSE", "PULSE_TRAIN", "LOOKUP",
                                                         "VSEL"))
