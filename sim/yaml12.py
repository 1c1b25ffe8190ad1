"""YAML as a user writes it: PyYAML's safe loader with YAML 1.2 numbers.

Numbers follow YAML 1.2 (the core schema) instead of PyYAML's YAML 1.1: ``12e-1``,
``1e5`` and ``1.0e300`` are floats (YAML 1.1 reads an exponent without a dot or
without a sign as text), ``010`` is ten (not octal eight) and ``1:30`` is text
(not sexagesimal ninety). A quoted scalar stays a string. A leaf module: every
layer that reads a user's YAML (scenarios, calibration specs, checks, factor
files, optimisation specs, loop names) imports it.
"""
from __future__ import annotations

import re

import yaml

_FLOAT_TAG = "tag:yaml.org,2002:float"
_INT_TAG = "tag:yaml.org,2002:int"
# YAML 1.2 core schema, with YAML 1.1's "_" digit separators kept
_FLOAT = re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)?
                        |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
                        |[-+]?\.(?:inf|Inf|INF)
                        |\.(?:nan|NaN|NAN))$""", re.X)
_INT = re.compile(r"""^(?:[-+]?0b[01][01_]*
                      |[-+]?0o[0-7][0-7_]*
                      |[-+]?0x[0-9a-fA-F][0-9a-fA-F_]*
                      |[-+]?[0-9][0-9_]*)$""", re.X)


class SafeNumbersLoader(yaml.SafeLoader):
    """:class:`yaml.SafeLoader` whose plain-scalar numbers follow YAML 1.2.

    Use it wherever the project reads YAML a user writes
    (``yaml.load(text, Loader=SafeNumbersLoader)``): no tags beyond the safe
    ones, and a number is a number in any ordinary notation.
    """


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    """Decimal (leading zeros included), ``0x`` hex, ``0o`` octal or ``0b`` binary."""
    text = str(loader.construct_scalar(node)).replace("_", "")
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    base = {"0b": 2, "0o": 8, "0x": 16}.get(digits[:2].lower(), 10)
    try:
        return sign * int(digits if base == 10 else digits[2:], base)
    except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
        raise yaml.constructor.ConstructorError(
            None, None, f"the integer starting {text[:12]}... has {len(digits)} digits, too "
            "many to read", node.start_mark) from None


# the same resolvers as SafeLoader's (bool, null, timestamp, ...), with YAML 1.2 numbers
SafeNumbersLoader.yaml_implicit_resolvers = {
    first: [(tag, {_FLOAT_TAG: _FLOAT, _INT_TAG: _INT}.get(tag, regexp))
            for tag, regexp in resolvers]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
SafeNumbersLoader.add_constructor(_INT_TAG, _construct_int)




MAX_USER_YAML_BYTES = 2**20
"""Largest YAML file a user gives a command [bytes]."""


def read_user_yaml(path, error: type[Exception], what: str,
                   max_bytes: int = MAX_USER_YAML_BYTES) -> dict:
    """Read a user's YAML file that must hold a mapping; errors name the file.

    Parameters
    ----------
    path : path-like
    error : exception class
        Raised (with the file named) for a file that cannot be read, is too large,
        is not YAML or does not hold a mapping.
    what : str
        What the file is, for messages ("the optimisation spec").
    max_bytes : int
        Largest file accepted [bytes].
    """
    from pathlib import Path

    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise error(f"{path}: cannot read {what} ({exc.strerror})") from None
    if len(raw) > max_bytes:
        raise error(f"{path}: {what} is larger than {max_bytes} bytes")
    try:
        data = yaml.load(raw.decode("utf-8"), Loader=SafeNumbersLoader)  # noqa: S506
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise error(f"{path}: invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise error(f"{path}: {what} must be a mapping (keys and values)")
    return data


def first_error(exc) -> dict:
    """Return the validation error to report from a pydantic ``ValidationError``.

    An unknown key explains a missing one next to it, so it is reported first.
    """
    errors = exc.errors()
    return next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
