"""Safe YAML parsing that indexes the line of every key and refuses duplicates and alias bombs.

Numbers follow YAML 1.2 (:class:`sim.yaml12.SafeNumbersLoader`).
"""
from __future__ import annotations

from typing import Any

import yaml

from sim.scenarios.errors import ScenarioError
from sim.yaml12 import SafeNumbersLoader

MAX_TEXT_BYTES = 2**20
"""Largest scenario text accepted [bytes]."""

_MAX_YAML_NODES = 200_000  # aliases expanded; guards against alias bombs

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
