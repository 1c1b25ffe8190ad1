"""Reading scenario files and texts: every entry validated, all problems collected."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sim.scenarios.errors import ScenarioError
from sim.scenarios.merge import file_reference, merge_entry
from sim.scenarios.messages import validation_error
from sim.scenarios.parse import MAX_TEXT_BYTES, parse_yaml
from sim.scenarios.schema import FIELD_ORDER, Scenario
from sim.suggest import did_you_mean


@dataclass
class ScenarioFile:
    """What a file held: the valid scenarios and one error per invalid entry.

    Attributes
    ----------
    source : str
        File name (or label of an uploaded text).
    scenarios : list of Scenario
        Valid scenarios, in file order, fully merged (no ``extends``).
    errors : list of ScenarioError
    """

    source: str
    scenarios: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    provenance: dict | None = None


_WRAPPER_KEYS = ("scenarios", "provenance")
_ENTRY_KEYS = frozenset(FIELD_ORDER) | {"extends"}


def read_scenario_text(text: str, source: str = "upload", folder: Path | None = None,
                       _visiting: tuple = (), *, root: str | Path | None = None,
                       allowed: Iterable[str | Path] = ()) -> ScenarioFile:
    """Parse and validate scenario text, keeping going past invalid entries.

    Parameters
    ----------
    text : str
        YAML text.
    source : str
        Label used in messages (the file name).
    folder : Path, optional
        The folder of the file the text comes from: ``extends: other.yaml`` or
        ``extends: other.yaml#name`` is read from there. Without it (uploaded
        text) such a reference is an error.
    root : path-like, optional
        The scenario folder tree ``extends`` may read from (default: ``folder``):
        a file outside it is refused, before it is opened, unless in ``allowed``.
    allowed : iterable of path-like
        Files ``extends`` may read wherever they are (those named on the
        command line).

    Returns
    -------
    ScenarioFile
        File-level problems (invalid YAML, wrong top-level shape) are one error
        and no scenarios. A file ``extends`` reads must itself be a scenario
        file; when it is not, the error does not show its keys.
    """
    out = ScenarioFile(source)
    try:
        data, lines = parse_yaml(text, source)
        _refuse_foreign(data, source)
        entries, out.provenance = _entries(data, lines, source)
    except ScenarioError as exc:
        out.errors.append(exc)
        return out
    if folder is not None:
        tree = Path(folder if root is None else root).resolve()
        allowed = frozenset(Path(a).resolve() for a in allowed)
    by_name: dict[str, int] = {}
    for i, entry in enumerate(entries):
        name = entry.get("name")
        if isinstance(name, str) and name.strip():
            key = name.strip()
            if key in by_name:
                line = lines.get(("scenarios", i, "name"))
                out.errors.append(ScenarioError(
                    f"{source}" + (f", line {line}" if line else "") + f", scenario '{key}': "
                    f"the name is already used by entry {by_name[key] + 1}; names must be unique"))
                continue
            by_name[key] = i
    wrapped = isinstance(data, Mapping) and "scenarios" in data
    for i, entry in enumerate(entries):
        name = entry.get("name")
        label = name.strip() if isinstance(name, str) and name.strip() else f"#{i + 1}"
        if by_name.get(label, i) != i:
            continue  # duplicate name, reported above
        try:
            outside = None if folder is None else \
                _outside(folder, _visiting + ((str(Path(source).resolve()), i),), tree, allowed)
            merged, chain = merge_entry(i, entries, by_name, lines, source, wrapped, outside)
            try:
                scenario = Scenario.model_validate(merged)
            except ValidationError as exc:
                raise validation_error(exc, source, label, chain) from None
            scenario._source = source
            scenario._lines = chain[0]
            out.scenarios.append(scenario)
        except ScenarioError as exc:
            out.errors.append(exc)
    return out


def _entries(data: Any, lines: dict, source: str) -> tuple[list[dict], dict | None]:
    if not isinstance(data, Mapping):
        raise ScenarioError(f"{source}, line 1: expected a mapping (a scenario with name, "
                            f"description, ...) or 'scenarios:' with a list; got "
                            f"{type(data).__name__}")
    provenance = data.get("provenance")
    if provenance is not None and not isinstance(provenance, Mapping):
        raise ScenarioError(f"{source}, line {lines.get(('provenance',), '?')}: 'provenance' "
                            "must be a mapping")
    if "scenarios" in data:
        extra = [k for k in data if k not in _WRAPPER_KEYS]
        if extra:
            raise ScenarioError(f"{source}, line {lines.get((extra[0],), '?')}: unknown top-level "
                                f"key {extra[0]!r} next to 'scenarios:' (accepted: "
                                f"{', '.join(_WRAPPER_KEYS)}; scenario fields go inside the list "
                                "entries)")
        items = data["scenarios"]
        if not isinstance(items, list) or not items:
            raise ScenarioError(f"{source}, line {lines.get(('scenarios',), '?')}: 'scenarios' "
                                "must be a non-empty list of scenario mappings")
        for i, item in enumerate(items):
            if not isinstance(item, Mapping):
                raise ScenarioError(f"{source}, line {lines.get(('scenarios', i), '?')}: entry "
                                    f"{i + 1} of 'scenarios' must be a mapping, got "
                                    f"{type(item).__name__}")
        return [dict(x) for x in items], provenance
    entry = {k: v for k, v in data.items() if k != "provenance"}
    if "extends" in entry and file_reference(entry["extends"]) is None:
        raise ScenarioError(f"{source}, line {lines.get(('extends',), '?')}: 'extends' of a file "
                            "holding one scenario names another file (other.yaml or "
                            "other.yaml#name); a name alone works inside a 'scenarios:' list "
                            "(another entry of the same file)")
    return [entry], provenance


def _refuse_foreign(data: Any, source: str) -> None:
    """Refuse, without naming its keys, a mapping none of whose top-level keys is a scenario's."""
    if isinstance(data, Mapping) and data and \
            not any(k in _ENTRY_KEYS or k in _WRAPPER_KEYS for k in data):
        raise ScenarioError(f"{source}, line 1: not a scenario file: none of its top-level keys "
                            f"is a scenario field (accepted: {', '.join(FIELD_ORDER)}, or "
                            "'scenarios:' with a list of them)")


def _not_a_scenario(data: Any) -> str | None:
    """Why ``data`` is not a scenario file, in words that show none of its keys; else None."""
    def entry_problem(entry: Any) -> str | None:
        if not isinstance(entry, Mapping):
            return "is not a mapping"
        if not all(isinstance(k, str) and k in _ENTRY_KEYS for k in entry):
            return "has keys that are not scenario fields"
        if not {"name", "description"} <= set(entry):
            return "has no name or no description"
        return None

    if not isinstance(data, Mapping):
        return "its top level is not a mapping"
    if "scenarios" not in data:
        problem = entry_problem({k: v for k, v in data.items() if k != "provenance"})
        return None if problem is None else f"its top level {problem}"
    if not all(k in _WRAPPER_KEYS for k in data):
        return "it has top-level keys other than scenarios and provenance"
    items = data["scenarios"]
    if not isinstance(items, list) or not items:
        return "its 'scenarios' is not a non-empty list"
    for i, item in enumerate(items):
        problem = entry_problem(item)
        if problem is not None:
            return f"entry {i + 1} of its 'scenarios' {problem}"
    return None


def _read_parent(rel: str, target: Path, where: str) -> tuple[Any, dict, list[dict]]:
    """Parse the file an ``extends`` names; refuse it, keys unshown, if not a scenario file."""
    try:
        if target.stat().st_size > MAX_TEXT_BYTES:
            raise ScenarioError(f"larger than {MAX_TEXT_BYTES} bytes")
        data, lines = parse_yaml(target.read_text(encoding="utf-8-sig"), str(target),
                                  names=False)
    except (ScenarioError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{where}: {rel!r} cannot be read: {exc}") from None
    except OSError as exc:
        raise ScenarioError(f"{where}: {rel!r} cannot be read: {exc.strerror}") from None
    problem = _not_a_scenario(data)
    if problem is not None:
        raise ScenarioError(f"{where}: {rel!r} is not a scenario file ({problem}; accepted: "
                            f"{', '.join(FIELD_ORDER)}, extends, or 'scenarios:' with a list "
                            "of them); its content is not shown")
    try:
        entries, _ = _entries(data, lines, str(target))
    except ScenarioError as exc:
        raise ScenarioError(f"{where}: {rel!r} cannot be read: {exc}") from None
    return data, lines, entries


def _outside(folder: Path, visiting: tuple, tree: Path, allowed: frozenset):
    """``outside(reference, where)`` for :func:`merge_entry`: a scenario of another file, merged.

    Only files under ``tree`` (resolved, symbolic links followed) or in
    ``allowed`` are read; any other is refused before it is opened.
    """
    def outside(ref: tuple[str, str | None], where: str) -> dict:
        rel, name = ref
        target = (folder / rel).resolve()
        if target not in allowed and not target.is_relative_to(tree):
            raise ScenarioError(f"{where}: {rel!r} is outside the scenario folder {tree}; "
                                "'extends' reads scenario files in that folder and its "
                                "subfolders, or a file named on the command line")
        if not target.is_file():
            raise ScenarioError(f"{where}: no scenario file {rel!r} (looked for {target})")
        data, lines, entries = _read_parent(rel, target, where)
        names = [str(e.get("name", "")).strip() for e in entries]
        if name is None:
            if len(entries) != 1:
                raise ScenarioError(f"{where}: {rel!r} holds {len(entries)} scenarios; name one "
                                    f"as {rel}#name ({', '.join(names)})")
            index = 0
        elif name in names:
            index = names.index(name)
        else:
            raise ScenarioError(f"{where}: no scenario named {name!r} in {rel!r}"
                                f"{did_you_mean(name, names)}")
        key = (str(target), index)
        if key in visiting:
            trail = " -> ".join(f"{Path(f).name}#{k + 1}" for f, k in visiting + (key,))
            raise ScenarioError(f"{where}: 'extends' forms a cycle across files (file#entry): "
                                f"{trail}")
        wrapped = isinstance(data, Mapping) and "scenarios" in data
        by_name = {n: k for k, n in enumerate(names) if n}
        try:
            merged, _ = merge_entry(index, entries, by_name, lines, str(target), wrapped,
                                     _outside(target.parent, visiting + (key,), tree, allowed))
        except ScenarioError as exc:
            if "cycle across files" in str(exc):
                raise
            raise ScenarioError(f"{where}: {rel!r}: {exc}") from None
        return merged
    return outside


def read_scenario_file(path: str | Path, *, root: str | Path | None = None,
                       allowed: Iterable[str | Path] = ()) -> ScenarioFile:
    """:func:`read_scenario_text` on a file (UTF-8).

    Parameters
    ----------
    path : path-like
    root : path-like, optional
        The folder tree ``extends`` may read (default: the file's folder).
    allowed : iterable of path-like
        Other files ``extends`` may read (those named on the command line).

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    """
    path = Path(path)
    with path.open("rb") as fh:
        data = fh.read(MAX_TEXT_BYTES + 4)  # a larger file is refused by the parser
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        out = ScenarioFile(str(path))
        if exc.start >= MAX_TEXT_BYTES:
            out.errors.append(ScenarioError(f"{path}: scenario text is larger than "
                                            f"{MAX_TEXT_BYTES} bytes"))
        else:
            out.errors.append(ScenarioError(f"{path}: not UTF-8 text (byte {exc.start})"))
        return out
    return read_scenario_text(text, str(path), path.parent, root=root, allowed=allowed)


def _raise_errors(loaded: ScenarioFile) -> list[Scenario]:
    if loaded.errors:
        raise ScenarioError("\n".join(str(e) for e in loaded.errors))
    return loaded.scenarios


def load_scenarios(path: str | Path, *, root: str | Path | None = None,
                   allowed: Iterable[str | Path] = ()) -> list[Scenario]:
    """Load every scenario of a file (``root``, ``allowed``: :func:`read_scenario_file`).

    Raises
    ------
    ScenarioError
        Any entry is invalid (all problems in one message).
    """
    return _raise_errors(read_scenario_file(path, root=root, allowed=allowed))


def load_scenarios_text(text: str, source: str = "upload") -> list[Scenario]:
    """Load every scenario of a YAML text (e.g. uploaded in the app).

    Raises
    ------
    ScenarioError
        Any entry is invalid (all problems in one message).
    """
    return _raise_errors(read_scenario_text(text, source))
