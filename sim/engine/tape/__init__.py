"""The tape back end: opcodes, the emitter and the Numba kernel that executes them."""
