"""Discrete-time state: values held over a TIME STEP and updated once per step.

DELAY FIXED, SAMPLE IF TRUE and the RANDOM functions are not stocks: Vensim
keeps their value constant during a time step and moves it on once per step
(DELAY FIXED's ring buffer, SAMPLE IF TRUE's held sample, a new random draw).
The compiler gives each one a slot of kind ``discrete`` and a :class:`Discrete`
record; the fixed-step integrators update those slots between two steps
(:mod:`sim.engine.running.discrete`), so the Runge-Kutta stages of one step
all see the same value. Adaptive (SciPy) runs refuse a model holding one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: The kinds of discrete state (their Vensim names).
DiscreteKind = Literal["DELAY FIXED", "SAMPLE IF TRUE", "RANDOM"]


@dataclass(frozen=True)
class Discrete:
    """One discrete-time state of a program.

    Attributes
    ----------
    kind : str
        :data:`DiscreteKind`.
    construct : str
        The Vensim function it implements, for messages (``RANDOM NORMAL``).
    variable : str
        The model variable whose equation holds it.
    slot : int
        The slot holding its value during a step.
    reads : tuple of int
        Slots its once-per-step update reads (at the step's time): DELAY
        FIXED's input; SAMPLE IF TRUE's output (the value to hold).
    init_reads : tuple of int
        Slots its initial value reads: DELAY FIXED's delay time and initial
        value; SAMPLE IF TRUE's initial value.
    site : int
        RANDOM: the index of the call in the model (its own stream).
    seed : float or None
        RANDOM: the call's own seed argument (None or 0: the run's seed).
    """

    kind: DiscreteKind
    construct: str
    variable: str
    slot: int
    reads: tuple[int, ...] = ()
    init_reads: tuple[int, ...] = ()
    site: int = 0
    seed: float | None = None
