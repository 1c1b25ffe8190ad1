"""Opcodes of the tape format shared by :mod:`sim.engine.tape.backend` (writer) and :mod:`sim.engine.tape.kernel` (reader).

Grouped so the interpreter can test ranges: one operand 5-16, two operands
17-30, then the instructions with more operands or a table.
"""
COPY, ADD, SUB, MUL, DIV = 0, 1, 2, 3, 4
ABS, SQRT, EXP, LN, SIN, COS, TAN, ASIN, ACOS, ATAN, TRUNC, NOT = 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
POW, MIN, MAX, LOG, MOD, ZIDZ = 17, 18, 19, 20, 21, 22
EQ, NE, LT, LE, GT, GE, AND, OR = 23, 24, 25, 26, 27, 28, 29, 30
XIDZ, WHERE, STEP, RAMP, RAMP_END, PULSE, PULSE_TRAIN, LOOKUP = 31, 32, 33, 34, 35, 36, 37, 38
