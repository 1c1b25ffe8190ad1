"""Running a program: the evaluator and the integrators."""
