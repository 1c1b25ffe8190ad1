"""The compiled form of a model: the program and its slots."""
