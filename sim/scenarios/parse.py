"""Safe YAML parsing that indexes the line of every key and refuses duplicates and alias bombs.

Numbers follow YAML 1.2 (the core schema) instead of PyYAML's YAML 1.1: ``12e-1``,
``1e5`` and ``1.0e300`` are floats (YAML 1.1 reads an exponent without a dot or
without a sign as text), ``010`` is ten (not octal eight) and ``1:30`` is text
(not sexagesimal ninety). A quoted scalar stays a string.
"""
from __future__ import annotations

import re
from typing import Any

import yaml

from sim.scenarios.errors import ScenarioError

MAX_TEXT_BYTES = 2**20
"""Largest scenario text accepted [bytes]."""

_MAX_YAML_NODES = 200_000  # aliases expanded; guards against alias bombs

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


def _yaml_error(source: str, exc: yaml.YAMLError) -> ScenarioError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    where = f"{source}, line {mark.line + 1}, column {mark.column + 1}" if mark else source
    text = f"{context}, {problem}" if context else problem
    return ScenarioError(f"{where}: invalid YAML: {text}")


def parse_yaml(text: str, source: str, names: bool = True) -> tuple[Any, dict]:
    """Safe-load ``text``; also return {path tuple: line} and refuse duplicate keys.

    ``names=False`` keeps the keys out of the messages (a file not yet known to
    be a scenario file).
    """
    if len(text.encode("utf-8", "replace")) > MAX_TEXT_BYTES:
        raise ScenarioError(f"{source}: scenario text is larger than {MAX_TEXT_BYTES} bytes")
    loader = SafeNumbersLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ScenarioError(f"{source}: the file is empty; expected a scenario mapping "
                                "(name, description, ...) or a 'scenarios:' list")
        lines: dict = {}
        _index_nodes(loader, node, (), lines, source, [0], set(), names)
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise _yaml_error(source, exc) from None
    finally:
        loader.dispose()
    return data, lines


def _index_nodes(loader, node, path, lines, source, count, active, names=True) -> None:
    count[0] += 1
    if count[0] > _MAX_YAML_NODES:
        raise ScenarioError(f"{source}: the YAML expands to more than {_MAX_YAML_NODES} nodes "
                            "(aliases?); refusing it")
    lines.setdefault(path, node.start_mark.line + 1)
    if id(node) in active:  # recursive alias
        raise ScenarioError(f"{source}, line {node.start_mark.line + 1}: recursive YAML alias")
    if isinstance(node, yaml.MappingNode):
        active = active | {id(node)}
        seen: dict = {}
        for knode, vnode in node.value:
            if not isinstance(knode, yaml.ScalarNode):
                raise ScenarioError(f"{source}, line {knode.start_mark.line + 1}: mapping keys "
                                    "must be plain names or numbers")
            key = loader.construct_object(knode)
            if key in seen:
                raise ScenarioError(f"{source}, line {knode.start_mark.line + 1}: duplicate key "
                                    + (f"{key!r} " if names else "") +
                                    f"(first given at line {seen[key]})")
            seen[key] = knode.start_mark.line + 1
            _index_nodes(loader, vnode, path + (key,), lines, source, count, active, names)
    elif isinstance(node, yaml.SequenceNode):
        active = active | {id(node)}
        for i, item in enumerate(node.value):
            _index_nodes(loader, item, path + (i,), lines, source, count, active, names)
