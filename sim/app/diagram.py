"""The model's stock-and-flow structure as Graphviz DOT, built from the model itself.

Nodes and edges come from ``model.variables`` (kind, depends_on), so the
diagram cannot drift from the equations: a new stock or flow appears at the
next load. Streamlit renders DOT in the browser (no system Graphviz).
"""
from __future__ import annotations

from dataclasses import dataclass

from sim.app.i18n import var_label

STYLE = {
    "stock": 'shape=box, style="filled,bold", fillcolor="#dbe9f6", color="#1f4e79", fontsize=13',
    "flow": 'shape=ellipse, style=filled, fillcolor="#fde9d9", color="#c0504d", fontsize=11',
    "auxiliary": 'shape=plaintext, fontcolor="#555555", fontsize=10',
    "constant": 'shape=plaintext, fontcolor="#999999", fontsize=9',
    "lever": 'shape=note, style=filled, fillcolor="#e2f0d9", color="#548235", fontsize=11',
    "lookup": 'shape=plaintext, fontcolor="#999999", fontsize=9',
}


@dataclass(frozen=True)
class DiagramStats:
    stocks: int
    flows: int
    auxiliaries: int
    constants: int


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _wrap(label: str, width: int = 18) -> str:
    """Break a long English label at spaces (Chinese labels are short)."""
    words, lines, cur = label.split(" "), [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}" if cur else w
    lines.append(cur)
    return "\n".join(lines)


def stats(model) -> DiagramStats:
    kinds = [v.kind for v in model.variables.values()]
    return DiagramStats(kinds.count("stock"), kinds.count("flow"), kinds.count("auxiliary"),
                        kinds.count("constant"))


def to_dot(model, lang: str, levers: set[str] | frozenset[str] = frozenset(), *,
           show_constants: bool = False) -> str:
    """Graphviz DOT of the model's stock-and-flow structure.

    Parameters
    ----------
    model : sim.Model
    lang : {"zh", "en"}
        Language of the labels (Vensim names where no translation exists).
    levers : set of str
        Vensim names of the policy-lever constants, always drawn (green).
    show_constants : bool
        Also draw every other constant (many; off by default).

    Returns
    -------
    str
        ``digraph`` text: stocks (boxes), flows (ellipses, bold edges into or
        out of their stock), auxiliaries, levers, and the dependency arrows.
    """
    variables = model.variables
    ctrl = {"initial_time", "final_time", "time_step", "saveper", "time"}

    def kind(py: str) -> str:
        v = variables[py]
        if v.kind == "constant" and v.name in levers:
            return "lever"
        return v.kind

    def shown(py: str) -> bool:
        if py in ctrl or py not in variables:
            return False
        k = kind(py)
        return show_constants or k not in ("constant", "lookup")

    lines = ["digraph model {", "  rankdir=LR;", "  newrank=true;",
             '  graph [fontname="Noto Sans CJK SC, Microsoft YaHei, Helvetica, Arial", '
             'bgcolor="transparent", nodesep=0.25, ranksep=0.5];',
             '  node [fontname="Noto Sans CJK SC, Microsoft YaHei, Helvetica, Arial"];',
             '  edge [color="#888888", arrowsize=0.6];']
    nodes = [py for py in variables if shown(py)]
    for py in nodes:
        label = _wrap(var_label(variables[py].name, lang))
        lines.append(f"  {_quote(py)} [label={_quote(label)}, {STYLE[kind(py)]}];")
    stocks = [py for py in nodes if variables[py].kind == "stock"]
    if stocks:
        lines.append("  { rank=same; " + " ".join(_quote(s) for s in stocks) + " }")
    for py in nodes:
        v = variables[py]
        for dep in v.depends_on:
            if not shown(dep) or dep == py:
                continue
            if v.kind == "stock" and dep in v.outflows:
                # a draining flow: material leaves the stock through it
                lines.append(f"  {_quote(py)} -> {_quote(dep)} [color=\"#c0504d\", penwidth=2.2, "
                             "arrowhead=normal];")
            elif v.kind == "stock" and variables[dep].kind == "flow":
                lines.append(f"  {_quote(dep)} -> {_quote(py)} [color=\"#c0504d\", penwidth=2.2, "
                             "arrowhead=normal];")
            elif variables[dep].kind == "stock" and v.kind == "flow" and py in \
                    variables[dep].depends_on:
                # A stock's own outflow depends on the stock: draw it once, as the flow edge.
                lines.append(f"  {_quote(dep)} -> {_quote(py)} [style=dotted];")
            else:
                lines.append(f"  {_quote(dep)} -> {_quote(py)};")
    lines.append("}")
    return "\n".join(lines)
