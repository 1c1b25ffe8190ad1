"""``extends``: an entry merged over its parent chain (deep merge, ``null`` deletes a key)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sim.scenarios.errors import ScenarioError
from sim.scenarios.levers import lever_key
from sim.scenarios.schema import lever_form
from sim.suggest import did_you_mean


def _form_of(path: tuple, value: Any) -> str | None:
    if len(path) == 2 and path[0] == "levers":
        return lever_form(value)
    if len(path) == 2 and path[0] == "uncertainty" and isinstance(value, Mapping):
        return str(value.get("dist"))
    return None


def _deep_merge(base: Any, over: Any, path: tuple = ()) -> Any:
    """``over`` merged into ``base`` (new objects); None in ``over`` deletes the key."""
    if not (isinstance(base, Mapping) and isinstance(over, Mapping)):
        return over
    if _form_of(path, base) != _form_of(path, over):
        return dict(over)  # a lever or distribution changing form replaces the whole entry
    out = dict(base)
    for key, value in over.items():
        if value is None:
            out.pop(key, None)
        elif key in out:
            out[key] = _deep_merge(out[key], value, path + (key,))
        else:
            out[key] = value
    return out


def _strip_nulls(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {k: _strip_nulls(v) for k, v in obj.items() if v is not None}
    return obj


def file_reference(parent: Any) -> tuple[str, str | None] | None:
    """``(file, scenario name or None)`` when ``extends`` names another file, else None.

    ``extends: 00_baseline.yaml`` (a file holding one scenario) or
    ``extends: 00_baseline.yaml#baseline`` (one scenario of a file), relative to
    the extending file's folder. Anything else names an entry of the same file.
    """
    if not isinstance(parent, str):
        return None
    ref, _, name = parent.strip().partition("#")
    if not ref.lower().endswith((".yaml", ".yml")):
        return None
    return ref.strip(), (name.strip() or None)


def merge_entry(i: int, entries: list[dict], by_name: dict, lines: dict, source: str,
                 wrapped: bool, outside=None) -> tuple[dict, list[dict]]:
    """Entry ``i`` merged over its ``extends`` chain; also the line maps, child first.

    ``outside(reference, scenario name, line)``, when given, returns the merged
    mapping of a scenario in another file (``extends: other.yaml#name``); the
    chain then continues there. Without it such a reference is an error.
    """
    def entry_lines(j: int) -> dict:
        prefix = ("scenarios", j) if wrapped else ()
        n = len(prefix)
        out = {k[n:]: v for k, v in lines.items() if k[:n] == prefix}
        for k in list(out):  # lever names are stored canonically; index those too
            if len(k) >= 2 and k[0] == "levers" and isinstance(k[1], str) and lever_key(k[1]):
                out.setdefault(("levers", lever_key(k[1])) + k[2:], out[k])
        return out

    chain, order, j, ref = [], [], i, None
    while True:
        if j in order:
            names = " -> ".join(str(entries[k].get("name")) for k in order + [j])
            raise ScenarioError(f"{source}, scenario '{entries[i].get('name')}': 'extends' forms "
                                f"a cycle: {names}")
        order.append(j)
        chain.append(entry_lines(j))
        parent = entries[j].get("extends")
        if parent is None:
            break
        ref = file_reference(parent)
        if ref is not None:
            line = lines.get(("scenarios", j, "extends") if wrapped else ("extends",))
            where = f"{source}" + (f", line {line}" if line else "") + \
                f", scenario '{entries[j].get('name')}', field extends"
            if outside is None:
                raise ScenarioError(f"{where}: {parent!r} names another file; that works for "
                                    "scenario files on disk only (not uploaded text)")
            base = outside(ref, where)
            break
        if not isinstance(parent, str) or parent.strip() not in by_name:
            line = lines.get(("scenarios", j, "extends"))
            raise ScenarioError(f"{source}" + (f", line {line}" if line else "") +
                                f", scenario '{entries[j].get('name')}', field extends: no "
                                f"scenario named {parent!r} in this file"
                                f"{did_you_mean(str(parent), list(by_name))}")
        j = by_name[parent.strip()]
    merged: dict = {}
    if ref is not None:
        merged = {k: v for k, v in base.items() if k not in ("name", "description")}
    for k in reversed(order):
        body = {key: v for key, v in entries[k].items()
                if key not in ("extends", "name", "description")}
        merged = _deep_merge(merged, body) if merged else _strip_nulls(body)
    for key in ("name", "description"):
        if key in entries[i]:
            merged[key] = entries[i][key]
    return merged, chain
