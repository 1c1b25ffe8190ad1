"""Text of the calibration report beyond plain strings: sub-scripted symbols and the notes.

- :class:`Rich`: a run of text with sub-scripted parts (Theil's U_M, U_S,
  U_C), rendered as HTML ``U<sub>M</sub>`` (also what a Markdown renderer
  shows) or as plain ``U_M``. Every part is escaped; no markup comes from data.
- :func:`notes_blocks`: the calibrator's notes as report blocks. A plain
  string (paragraphs, ``- `` bullets) or a list of decisions, each a string
  or a ``{decision, evidence}`` mapping, becomes a short list of decisions
  with their evidence.
"""
from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sim.reporting.labels import THEIL_PARTS


@dataclass(frozen=True)
class Sub:
    """``base`` with ``sub`` set as a subscript (U with M: U_M)."""

    base: str
    sub: str


@dataclass(frozen=True)
class Rich:
    """Text with sub-scripted parts.

    Attributes
    ----------
    parts : tuple of (str or Sub)
    """

    parts: tuple

    def html(self) -> str:
        """HTML: text escaped, subscripts as ``<sub>``."""
        return "".join(html.escape(p) if isinstance(p, str) else
                       f"{html.escape(p.base)}<sub>{html.escape(p.sub)}</sub>" for p in self.parts)

    def markdown(self) -> str:
        """Markdown: the same ``<sub>`` inline HTML (GitHub and Pandoc render it)."""
        return "".join(p.replace("|", "\\|") if isinstance(p, str) else
                       f"{p.base}<sub>{p.sub}</sub>" for p in self.parts)

    def plain(self) -> str:
        """Plain text: ``U_M``."""
        return "".join(p if isinstance(p, str) else f"{p.base}_{p.sub}" for p in self.parts)

    def __str__(self) -> str:
        return self.plain()


def theil(key: str) -> Rich:
    """Theil's inequality proportion of a statistic key: ``theil_um`` -> U_M."""
    return Rich((Sub("U", THEIL_PARTS[key]),))


def rich(*parts: str | Sub | Rich) -> Rich:
    """Join text, subscripts and rich runs into one :class:`Rich`."""
    out: tuple = ()
    for p in parts:
        out += p.parts if isinstance(p, Rich) else (p,)
    return Rich(out)


_THEIL_TEXT = re.compile(r"\bU[\^_]([MSC])\b")


def symbols(text: str) -> str | Rich:
    """``text`` with Theil's ``U^M``/``U_M`` (S, C) set as subscripts; as is when it has none."""
    parts: list = []
    at = 0
    for m in _THEIL_TEXT.finditer(text):
        parts += [text[at:m.start()], Sub("U", m.group(1))]
        at = m.end()
    if not parts:
        return text
    parts.append(text[at:])
    return Rich(tuple(p for p in parts if p != ""))


def html_of(x: str | Rich) -> str:
    """HTML of a plain string (escaped) or a :class:`Rich`."""
    return x.html() if isinstance(x, Rich) else html.escape(str(x))


def markdown_of(x: str | Rich) -> str:
    """Markdown of a plain string (as is) or a :class:`Rich`."""
    return x.markdown() if isinstance(x, Rich) else str(x)


# ------------------------------------------------------------------- notes
@dataclass(frozen=True)
class Decision:
    """One decision of the calibrator and the evidence for it (maybe empty)."""

    decision: str
    evidence: str = ""


def _decision(item: object, where: int) -> Decision:
    if isinstance(item, str):
        return Decision(" ".join(item.split()))
    if isinstance(item, Mapping):
        unknown = set(item) - {"decision", "evidence"}
        if "decision" not in item or unknown:
            raise ValueError(f"notes item {where}: expected {{decision, evidence}}, got keys "
                             f"{', '.join(map(str, item))}")
        return Decision(" ".join(str(item["decision"]).split()),
                        " ".join(str(item.get("evidence") or "").split()))
    raise ValueError(f"notes item {where}: expected text or {{decision, evidence}}, got "
                     f"{type(item).__name__}")


def _text_blocks(text: str) -> list:
    """Paragraphs; runs of ``- `` lines (with indented continuations) as lists; U^M typeset."""
    blocks: list = []
    for para in text.strip().split("\n\n"):
        lead: list[str] = []
        items: list[str] = []
        for line in para.splitlines():
            if line.lstrip().startswith(("- ", "* ")):
                if lead:
                    blocks.append(" ".join(lead))
                    lead = []
                items.append(line.lstrip()[2:].strip())
            elif items and line[:1].isspace():
                items[-1] += " " + line.strip()
            else:
                if items:
                    blocks.append(("list", items))
                    items = []
                if line.strip():
                    lead.append(line.strip())
        if lead:
            blocks.append(" ".join(lead))
        if items:
            blocks.append(("list", items))
    return [symbols(b) if isinstance(b, str) else (b[0], [symbols(i) for i in b[1]])
            for b in blocks if b]


def notes_blocks(notes: str | Sequence[object] | None) -> list:
    """Return the calibrator's notes as report blocks.

    Parameters
    ----------
    notes : str, sequence or None
        ``calibration.yaml``'s ``notes:``. A string: paragraphs separated by a
        blank line, ``- `` lines becoming a bullet list. A list: one decision
        per item, a string or ``{decision: ..., evidence: ...}``.

    Returns
    -------
    list
        Blocks of :mod:`sim.reporting.calibration_report`: strings,
        ``("list", items)`` and ``("decisions", [Decision, ...])``.

    Raises
    ------
    ValueError
        A list item that is neither text nor a ``{decision, evidence}`` mapping.
    """
    if notes is None:
        return []
    if isinstance(notes, str):
        return _text_blocks(notes) if notes.strip() else []
    items = [_decision(item, i + 1) for i, item in enumerate(notes)]
    return [("decisions", items)] if items else []


def decisions_html(items: Sequence[Decision]) -> str:
    """``<ul>`` of decisions, each in bold with its evidence after it."""
    rows = []
    for d in items:
        ev = f'<br><span class="evidence">Evidence: {html_of(symbols(d.evidence))}</span>' \
            if d.evidence else ""
        rows.append(f"<li><strong>{html_of(symbols(d.decision))}</strong>{ev}</li>")
    return '<ul class="decisions">' + "".join(rows) + "</ul>"


def decisions_markdown(items: Sequence[Decision]) -> str:
    """Bullets: ``- **decision** — evidence``."""
    return "\n".join(f"- **{markdown_of(symbols(d.decision))}**"
                     + (f" — evidence: {markdown_of(symbols(d.evidence))}" if d.evidence else "")
                     for d in items)
