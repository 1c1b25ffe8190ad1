"""The import rules of docs/architecture.md: each layer imports only the layers above it.

Every ``import``/``from ... import`` of a ``sim`` module, lazy ones inside functions
included, is read from the source and checked against the table below (the same
table as docs/architecture.md).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

SIM = Path(__file__).resolve().parents[1] / "sim"

LEAVES = {"errors", "suggest", "io", "yaml12", "extras"}
ENGINE = {"engine", "engine.functions", "engine.reading", "engine.compiled", "engine.compiling",
          "engine.tape", "engine.running", "engine.model", "engine.inputs", "engine.results"}
BASE = LEAVES | {"project", "paths"}
ANALYSES = {"checks", "sensitivity", "loops", "optimize", "ema"}

ALLOWED: dict[str, set[str]] = {
    "errors": set(), "suggest": set(), "io": set(), "yaml12": set(), "extras": {"errors"},
    "project": set(), "paths": {"sim", "project", "errors"},
    "engine": set(),
    "engine.functions": set(),
    "engine.reading": LEAVES | {"engine.functions"},
    "engine.compiled": LEAVES,
    "engine.compiling": LEAVES | {"engine.functions", "engine.reading", "engine.compiled",
                                  "engine.tape"},
    "engine.tape": LEAVES | {"engine.functions", "engine.compiled", "engine.compiling"},
    "engine.running": LEAVES | {"engine.compiled", "engine.tape", "engine.results",
                                "engine.functions"},
    "engine.inputs": LEAVES, "engine.results": LEAVES,
    "engine.model": LEAVES | ENGINE,
    "data": BASE,
    "ensembles.sampling": BASE,
    "ensembles.executors": BASE,
    "ensembles.streaming": BASE | ENGINE,
    "calibration": BASE | ENGINE | {"data", "ensembles.sampling"},
    "scenarios": BASE | ENGINE | {"data", "ensembles.sampling", "calibration"},
    "ensembles.batch": BASE | ENGINE | {"data", "ensembles.sampling", "calibration", "scenarios",
                                        "ensembles.streaming"},
    **{a: BASE | ENGINE | ANALYSES | {"data", "ensembles.sampling", "calibration", "scenarios",
                                      "ensembles.batch", "ensembles.streaming"} for a in ANALYSES},
    "reporting": BASE | ENGINE | ANALYSES | {"data", "ensembles.sampling", "calibration",
                                             "scenarios", "ensembles.batch",
                                             "ensembles.streaming"},
    "app": BASE | ENGINE | ANALYSES | {"data", "ensembles.sampling", "calibration", "scenarios",
                                       "ensembles.batch", "ensembles.streaming", "reporting",
                                       "sim"},
    "ensembles": set(),
    "commands": set(),  # the commands may use every layer (not checked)
    "cli": {"errors"},
    "__main__": {"cli"},
    "sim": set(),
}


def layer(module: str) -> str:
    """Return the layer of a ``sim`` module (``sim.engine.running.cache`` -> ``engine.running``)."""
    parts = module.split(".")
    if len(parts) == 1:
        return "sim"
    if parts[1] == "engine":
        if len(parts) == 2:
            return "engine"
        sub = parts[2]
        return f"engine.{sub}"
    if parts[1] == "ensembles" and len(parts) > 2:
        return f"ensembles.{parts[2]}"
    return parts[1]


def module_of(path: Path) -> str:
    parts = list(path.relative_to(SIM.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """Return the ``sim`` modules ``path`` imports (``from sim.x import y`` -> ``sim.x.y``)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "sim"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] == "sim":
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


def _target(module: str) -> str:
    """Return the layer of an imported name: a module, or a name inside one."""
    candidate = module
    while candidate:
        path = SIM.parent / (candidate.replace(".", "/") + ".py")
        package = SIM.parent / candidate.replace(".", "/") / "__init__.py"
        if path.exists() or package.exists():
            return layer(candidate)
        candidate = candidate.rpartition(".")[0]
    return layer(module)


FILES = sorted(p for p in SIM.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_layer_is_in_the_table():
    assert {layer(module_of(p)) for p in FILES} - set(ALLOWED) == set()


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(SIM.parent)) for p in FILES])
def test_imports_follow_the_layers(path):
    own = layer(module_of(path))
    if own == "commands":  # the commands may use every layer
        return
    bad = sorted({f"{m} ({_target(m)})" for m in imported(path)
                  if _target(m) != own and _target(m) not in ALLOWED[own]})
    assert not bad, f"{path.relative_to(SIM.parent)} ({own}) imports {', '.join(bad)}"


def test_the_checker_sees_lazy_imports_and_flags_an_upward_one(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("def f():\n    from sim.scenarios import resolve\n    import sim.reporting.rundir\n")
    found = imported(src)
    assert found == {"sim.scenarios.resolve", "sim.reporting.rundir"}
    assert {_target(m) for m in found} == {"scenarios", "reporting"}
    assert not {_target(m) for m in found} <= ALLOWED["engine.model"]
