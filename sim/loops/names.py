"""Names a model card gives its loops: ``NAME.loops.yaml`` beside the model.

::

    schema: sim.loops/1
    loops:
      R1 learning by exporting: [Learning by Exporting, Export Capability]
      B3 obsolescence (capability): [Capability Obsolescence]

A loop takes the first name whose variables it all passes through; several loops
may share a name (a named loop with more than one path).
"""
from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sim.errors import SimError


class LoopNamesError(SimError):
    """A loop-name file that cannot be used; the message names the file and field."""


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_: str = Field(alias="schema", pattern=r"^sim\.loops/1$")
    loops: dict[str, list[str]] = Field(min_length=1)


def default_path(model_path: str | Path) -> Path:
    """Return ``NAME.loops.yaml`` beside ``model_path``."""
    p = Path(model_path)
    return p.with_name(p.stem + ".loops.yaml")


def load_loop_names(path: str | Path, model=None) -> dict[str, list[str]]:
    """Read a loop-name file; with ``model``, check every variable exists (Vensim names).

    Returns
    -------
    dict
        Name -> Vensim names (as the model spells them) the loop passes through.
    """
    from sim.yaml12 import read_user_yaml

    path = Path(path)
    data = read_user_yaml(path, LoopNamesError, "the loop names")
    try:
        spec = _File.model_validate(data)
    except ValidationError as exc:
        from sim.yaml12 import first_error

        err = first_error(exc)
        loc = ".".join("schema" if p == "schema_" else str(p) for p in err["loc"])
        msg = ("expected 'sim.loops/1'" if err["type"] == "string_pattern_mismatch"
               else "unknown key; accepted: schema, loops" if err["type"] == "extra_forbidden"
               else err["msg"])
        raise LoopNamesError(f"{path}, field '{loc or '(top level)'}': {msg}") from None
    out = {}
    for name, through in spec.loops.items():
        if not through:
            raise LoopNamesError(f"{path}, field 'loops.{name}': name at least one variable")
        if model is not None:
            from sim.errors import ParameterError
            try:
                through = [model.variables[model.py_name(v)].name for v in through]
            except ParameterError as exc:
                raise LoopNamesError(f"{path}, field 'loops.{name}': {exc}") from None
        out[name] = through
    return out
