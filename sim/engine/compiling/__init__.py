"""Compiling the abstract model into a program: compiler, closures, back ends."""
