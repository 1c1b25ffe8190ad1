"""Run the SDXorg conformance suite (``tests/sdxorg``) with the engine and with PySD.

Every ``.mdl`` model that sits beside a canonical output (``output.csv`` or
``output.tab``) is a case, identified by its path under ``tests/sdxorg``. The
engine loads it and simulates with Euler at the model's TIME STEP; PySD
translates a copy of its folder (PySD writes a ``.py`` beside the model) and
runs it at its SAVEPER, as PySD's own test runner does
(``pysd.tools.benchmarking.runner``; canonical times passed as PySD's
``return_timestamps`` are rounded to six digits and miss its grid, and they
override a TIME STEP or FINAL TIME the model changes). Both results are
compared with the canonical output by :func:`conformance.compare` (relative
1e-3, absolute floor near zero) at the canonical times, on the canonical
columns each one produces, and each run is classified:

``pass``
    Runs, and every compared column matches.
``refused``
    The engine raised :class:`sim.ModelError` or :class:`sim.ParameterError`
    (PySD: ``NotImplementedError``): the case is outside the supported subset.
``wrong``
    Runs, but a compared column differs, or no canonical column is produced.
``crash``
    Any other exception, or the run exceeded :data:`TIMEOUT` seconds.

Run as a script to rewrite the conformance report from a fresh run::

    PYTHONPATH=$PWD python tests/sdxorg_harness.py --write docs/conformance.md --readme README.md
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from conformance import compare, read_canonical

REPO = Path(__file__).resolve().parents[1]
#: The repository's copy of the SDXorg suite (see its README.md).
SUITE = REPO / "tests" / "sdxorg"
#: The conformance report the script writes and a test keeps up to date.
REPORT = REPO / "docs" / "conformance.md"
#: Most wall-clock seconds one run (engine or PySD) of one case may take [s].
TIMEOUT = 60.0
#: Tolerances of the comparison (as tests/test_conformance.py).
RTOL, ATOL = 1e-3, 1e-6

#: Seed of numpy's global generator for each PySD run: PySD's RANDOM functions
#: draw from it, and the report must be the same on every run.
PYSD_SEED = 0

STATUSES = ("pass", "refused", "wrong", "crash")

#: Data files a case reads that the model text does not name (PySD's
#: ``data_files``): the data variables of the model are filled from them.
DATA_FILES = {
    "tests/data_from_other_model/test_data_from_other_model.mdl": ["data.tab"],
}


#: Suffixes of the XMILE copies of the suite's models (lower case): each is a case of
#: its own, read by the engine's XMILE reader and by ``pysd.read_xmile``.
XMILE_SUFFIXES = (".xmile", ".stmx")


@dataclass(frozen=True)
class Case:
    """One conformance case: a model and its canonical output."""

    id: str
    model: Path
    canonical: Path

    @property
    def root(self) -> Path:
        """The suite's folder (``model`` is ``root / id``)."""
        return self.model.parents[len(Path(self.id).parts) - 1]

    @property
    def kind(self) -> str:
        """``"xmile"`` for an XMILE model (``.xmile``, ``.stmx``), else ``"mdl"``."""
        return "xmile" if self.model.suffix.lower() in XMILE_SUFFIXES else "mdl"


@dataclass
class Outcome:
    """How one implementation did on one case.

    Attributes
    ----------
    status : str
        One of :data:`STATUSES`.
    detail : str
        The error message (refused, crash) or the first differences (wrong);
        empty for a pass.
    construct : str
        The construct named by a refusal (``ModelError.construct``), else "".
    compared : int
        Canonical columns compared.
    missing : int
        Canonical columns the run did not produce (not compared).
    seconds : float
        Wall-clock time of the load and run [s].
    warnings : list of str
        Warnings issued during the load and run.
    """

    status: str
    detail: str = ""
    construct: str = ""
    compared: int = 0
    missing: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)


class CaseTimeout(BaseException):
    """A run exceeded its time bound (a BaseException, so no ``except Exception`` eats it)."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`CaseTimeout` in the block after ``seconds`` of wall-clock time [s].

    Uses ``SIGALRM``, so it bounds Python code only (a compiled loop finishes
    first) and works in the main thread only; elsewhere it does not bound.
    """
    def _raise(signum, frame):
        raise CaseTimeout(f"timeout after {seconds:g} s")

    try:
        previous = signal.signal(signal.SIGALRM, _raise)
    except ValueError:  # not the main thread
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def find_cases(root: Path = SUITE) -> list[Case]:
    """Every ``.mdl``, ``.xmile`` or ``.stmx`` (any case) beside an ``output.csv``/``output.tab``.

    Parameters
    ----------
    root : Path
        Folder of the suite.

    Returns
    -------
    list of Case
        Sorted by id (the model's path relative to ``root``).
    """
    cases = []
    for folder in sorted({p.parent for p in root.rglob("*") if p.is_file()}):
        outputs = [folder / n for n in ("output.csv", "output.tab") if (folder / n).is_file()]
        if not outputs:
            continue
        for mdl in sorted(p for p in folder.iterdir()
                          if p.suffix.lower() in (".mdl",) + XMILE_SUFFIXES):
            cases.append(Case(mdl.relative_to(root).as_posix(), mdl, outputs[0]))
    return cases


def read_output(path: Path) -> pd.DataFrame:
    """:func:`conformance.read_canonical`, for a file in UTF-8 or else Latin-1.

    Vensim writes its outputs in the machine's code page: one canonical file of
    the suite (``tests/unicode_characters``) is Latin-1.
    """
    try:
        return read_canonical(path)
    except UnicodeDecodeError:
        text = path.read_bytes().decode("latin-1")
    with tempfile.TemporaryDirectory(prefix="sdxorg-canon-") as tmp:
        utf8 = Path(tmp) / path.name
        utf8.write_text(text, encoding="utf-8")
        return read_canonical(utf8)


def _xmile_key(name: str) -> str:
    """Return an XMILE name's key: in XMILE an underscore and a space are the same character."""
    return " ".join(str(name).strip('"').lower().replace("_", " ").split())


def _judge(frame: pd.DataFrame, canon: pd.DataFrame,
           xmile: bool = False) -> tuple[str, str, int, int]:
    """Compare a run with the canonical output on the columns it produced.

    With ``xmile``, a column is matched whatever its names write as underscores
    or spaces (``var_min`` is ``var min``, XMILE 1.0 section 3.2.2).
    """
    if xmile:
        canonical = {_xmile_key(c): c for c in canon.columns[1:]}
        frame = frame.rename(columns={c: canonical[_xmile_key(c)] for c in frame.columns
                                      if _xmile_key(c) in canonical})
    produced = {str(c).strip('"').lower() for c in frame.columns}
    columns = [c for c in canon.columns[1:] if c.strip('"').lower() in produced]
    missing = len(canon.columns) - 1 - len(columns)
    if not columns:
        return "wrong", "no canonical column produced", 0, missing
    problems = compare(frame, canon, rtol=RTOL, atol=ATOL, columns=columns)
    if problems:
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        return "wrong", "; ".join(problems[:3]) + more, len(columns), missing
    return "pass", "", len(columns), missing


def _one_line(exc: BaseException, root: Path) -> str:
    """Return the exception on one line, its paths relative to the suite's ``root``."""
    text = " ".join(str(exc).split()).replace(f"{root}{os.sep}", "")
    return f"{type(exc).__name__}: {text}"[:300]


def run_engine(case: Case, timeout: float = TIMEOUT) -> Outcome:
    """Load and simulate ``case`` with the engine (Euler at the model's TIME STEP).

    Parameters
    ----------
    case : Case
        The case.
    timeout : float
        Most wall-clock time of the load and run [s].

    Returns
    -------
    Outcome
        ``refused`` on ModelError/ParameterError, ``crash`` on any other
        exception or a run that reports failures, else ``pass``/``wrong``.
    """
    import sim

    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with time_limit(timeout):
                data = [case.model.parent / f for f in DATA_FILES.get(case.id, [])]
                model = sim.load_model(case.model, data_files=data) if data else \
                    sim.load_model(case.model)
                result = model.simulate(method="euler")
        except (sim.ModelError, sim.ParameterError) as exc:
            outcome = Outcome("refused", _one_line(exc, case.root), getattr(exc, "construct", None) or "")
        except (Exception, CaseTimeout) as exc:
            outcome = Outcome("crash", _one_line(exc, case.root))
        else:
            status, detail, compared, missing = _judge(result.to_frame(),
                                                       read_output(case.canonical),
                                                       case.kind == "xmile")
            if not result.success:
                failure = result.failures[0]
                note = f"run failed at t={failure.time} ({failure.variable}: {failure.reason})"
                detail = f"{note}; {detail}" if detail else note
            outcome = Outcome(status, detail, "", compared, missing)
    outcome.seconds = time.perf_counter() - start
    outcome.warnings = sorted({" ".join(str(w.message).split())[:200] for w in caught})
    return outcome


def run_pysd(case: Case, timeout: float = TIMEOUT) -> Outcome:
    """Translate and run ``case`` with PySD, in a temporary copy of its folder.

    Parameters
    ----------
    case : Case
        The case.
    timeout : float
        Most wall-clock time of the translation and run [s].

    Returns
    -------
    Outcome
        ``refused`` on NotImplementedError, ``crash`` on any other exception,
        else ``pass``/``wrong``.
    """
    import pysd

    start = time.perf_counter()
    canon = read_output(case.canonical)
    with (tempfile.TemporaryDirectory(prefix="sdxorg-pysd-") as tmp,
          warnings.catch_warnings(record=True) as caught):
        warnings.simplefilter("always")
        folder = Path(tmp) / Path(case.id).parent
        shutil.copytree(case.model.parent, folder)
        data = [str(folder / f) for f in DATA_FILES.get(case.id, [])] or None
        state = np.random.get_state()
        np.random.seed(PYSD_SEED)
        try:
            with time_limit(timeout):
                read = pysd.read_xmile if case.kind == "xmile" else pysd.read_vensim
                model = read(str(folder / case.model.name), data_files=data)
                frame = model.run(progress=False)
        except NotImplementedError as exc:
            outcome = Outcome("refused", _one_line(exc, Path(tmp)))
        except (Exception, CaseTimeout) as exc:
            outcome = Outcome("crash", _one_line(exc, Path(tmp)))
        else:
            status, detail, compared, missing = _judge(frame, canon, case.kind == "xmile")
            outcome = Outcome(status, detail, "", compared, missing)
        finally:
            np.random.set_state(state)
    outcome.seconds = time.perf_counter() - start
    outcome.warnings = sorted({" ".join(str(w.message).split())[:200] for w in caught})
    return outcome


def run_case(case: Case, timeout: float = TIMEOUT) -> tuple[Outcome, Outcome]:
    """Return the engine's and PySD's outcomes on ``case``."""
    return run_engine(case, timeout), run_pysd(case, timeout)


_LONG_FLOAT = re.compile(r"-?\d+\.\d{7,}(?:e[-+]?\d+)?")


def _cell(text: str) -> str:
    """Return ``text`` for a Markdown table cell: short, one line, floats to 6 digits.

    Six significant digits keep the report the same on platforms whose last
    digits differ (and are what the canonical files print).
    """
    text = text.split("; supported:")[0]
    text = _LONG_FLOAT.sub(lambda m: f"{float(m.group()):.6g}", text)
    return text.replace("|", "\\|").replace("\n", " ")


def render(results: dict[str, tuple[Outcome, Outcome]]) -> str:
    """Return the conformance report (Markdown) of a whole-suite run.

    Only the classification and messages go in, never timings, so the same
    engine and PySD give the same bytes.

    Parameters
    ----------
    results : dict
        Case id -> (engine outcome, PySD outcome), for every case.

    Returns
    -------
    str
        The text of ``docs/conformance.md``.
    """
    engine = {s: sorted(c for c, (e, _) in results.items() if e.status == s) for s in STATUSES}
    mdl = {c: r for c, r in results.items() if not is_xmile_id(c)}
    xmile = {c: r for c, r in results.items() if is_xmile_id(c)}
    lines = [
        "# Conformance: the SDXorg test-models suite",
        "",
        "Generated by `PYTHONPATH=$PWD python tests/sdxorg_harness.py --write "
        "docs/conformance.md`; `tests/test_sdxorg.py` fails when this file differs "
        "from a fresh run. Do not edit by hand.",
        "",
        f"The suite (`tests/sdxorg`, see its README) has **{len(mdl)}** Vensim (`.mdl`) cases "
        f"and **{len(xmile)}** XMILE (`.xmile`, `.stmx`) cases: each model beside a canonical "
        "output. The engine runs each with Euler at "
        "the model's TIME STEP; PySD runs the same case in the same test run. A run "
        "*passes* when every canonical column it produces matches (relative 1e-3, "
        "absolute floor near zero, `tests/conformance.py`).",
        "",
        "## Vensim (`.mdl`) cases",
        "",
        *_summary(mdl),
        "- *refused*: the engine raised ModelError/ParameterError (PySD: "
        "NotImplementedError), the construct is outside the supported subset. "
        "*wrong*: runs, numbers differ from Vensim's. *crash*: any other error.",
        f"- PySD {pysd_version()}; PySD runs each case at its SAVEPER, as its own test "
        "runner does, and both runs are compared at the canonical times.",
        "",
        "## XMILE (`.xmile`, `.stmx`) cases",
        "",
        "The XMILE copies of the same models (Stella's `.stmx`, hand-written or exported "
        "`.xmile`), compared with the same canonical output (Vensim's run, or the folder's "
        "only run). The engine reads them through PySD's XMILE translator "
        "(`sim/engine/reading/xmile.py`); PySD runs them with `pysd.read_xmile`.",
        "",
        *_summary(xmile),
        "",
        "## Refused by the engine",
        "",
        "By the construct the refusal names (`ModelError.construct`):",
        "",
        "| construct | Vensim cases | of which PySD passes | XMILE cases | of which PySD passes |",
        "|:--|--:|--:|--:|--:|",
    ]
    for construct, ids in _refusals_by_construct(results):
        counts = []
        for group in ([c for c in ids if not is_xmile_id(c)], [c for c in ids if is_xmile_id(c)]):
            counts += [len(group), sum(results[c][1].status == "pass" for c in group)]
        lines.append(f"| {_cell(construct) or '-'} | " + " | ".join(map(str, counts)) + " |")
    lines += [
        "",
        "| case | construct | message | PySD |",
        "|:--|:--|:--|:--|",
    ]
    for cid in engine["refused"]:
        e, p = results[cid]
        lines.append(f"| `{cid}` | {_cell(e.construct) or '-'} | {_cell(e.detail)} | {p.status} |")
    lines += ["", "## Wrong or crashing in the engine", "",
              "| case | engine | detail | PySD |", "|:--|:--|:--|:--|"]
    for cid in sorted(engine["wrong"] + engine["crash"]):
        e, p = results[cid]
        lines.append(f"| `{cid}` | {e.status} | {_cell(e.detail)} | {p.status} |")
    lines += ["", "## Not passed by PySD", "", "| case | PySD | detail |", "|:--|:--|:--|"]
    for cid in sorted(c for c, (_, p) in results.items() if p.status != "pass"):
        p = results[cid][1]
        lines.append(f"| `{cid}` | {p.status} | {_cell(p.detail)} |")
    lines += ["", "## Every case", "",
              "Columns: the canonical columns compared / not produced by the run.", "",
              "| case | engine | columns | PySD | columns |", "|:--|:--|--:|:--|--:|"]
    for cid in sorted(results):
        e, p = results[cid]
        lines.append(f"| `{cid}` | {e.status} | {e.compared}/{e.missing} "
                     f"| {p.status} | {p.compared}/{p.missing} |")
    return "\n".join(lines) + "\n"


def _refusals_by_construct(results: dict[str, tuple[Outcome, Outcome]]
                           ) -> list[tuple[str, list[str]]]:
    """Return the engine's refused cases grouped by construct, most cases first."""
    by_construct: dict[str, list[str]] = {}
    for cid in sorted(c for c, (e, _) in results.items() if e.status == "refused"):
        by_construct.setdefault(results[cid][0].construct, []).append(cid)
    return sorted(by_construct.items(), key=lambda kv: (-len(kv[1]), kv[0]))


README_START = "<!-- conformance:start -->"
README_END = "<!-- conformance:end -->"


def render_readme(results: dict[str, tuple[Outcome, Outcome]]) -> str:
    """Return the README's conformance block: both counts and every refusal by construct.

    Parameters
    ----------
    results : dict
        Case id -> (engine outcome, PySD outcome), for every case.

    Returns
    -------
    str
        The lines between :data:`README_START` and :data:`README_END`.
    """
    lines = ["| cases | engine passes | PySD passes | PySD passes, engine not | engine passes, PySD not |",
             "|:--|--:|--:|--:|--:|"]
    for label, xm in (("Vensim `.mdl`", False), ("XMILE `.xmile`/`.stmx`", True)):
        group = [r for c, r in results.items() if is_xmile_id(c) == xm]
        lines.append(f"| {label}: {len(group)} | {sum(e.status == 'pass' for e, _ in group)} "
                     f"| {sum(p.status == 'pass' for _, p in group)} "
                     f"| {sum(p.status == 'pass' and e.status != 'pass' for e, p in group)} "
                     f"| {sum(e.status == 'pass' and p.status != 'pass' for e, p in group)} |")
    lines += ["", "Every case the engine refuses, with the construct its error names and the reason "
              "(one line per case: `docs/conformance.md`):", "",
              "| construct | cases | of which PySD passes | example message |", "|:--|--:|--:|:--|"]
    for construct, ids in _refusals_by_construct(results):
        passes = sum(results[c][1].status == "pass" for c in ids)
        lines.append(f"| {_cell(construct) or '-'} | {len(ids)} | {passes} "
                     f"| {_cell(results[ids[0]][0].detail)} |")
    wrong = sorted(c for c, (e, _) in results.items() if e.status in ("wrong", "crash"))
    lines += ["", f"Runs whose numbers differ from the canonical output ({len(wrong)}, each a "
              "strict expected failure with its reason in `tests/test_sdxorg.py`): "
              + (", ".join(f"`{c}`" for c in wrong) or "none") + "."]
    return "\n".join(lines) + "\n"


def replace_block(text: str, block: str) -> str:
    """Return ``text`` with the lines between the README markers replaced by ``block``."""
    start, end = text.index(README_START) + len(README_START), text.index(README_END)
    return text[:start] + "\n" + block + text[end:]


def is_xmile_id(cid: str) -> bool:
    """Return True for the id of an XMILE case (its suffix is one of :data:`XMILE_SUFFIXES`)."""
    return Path(cid).suffix.lower() in XMILE_SUFFIXES


def _summary(results: dict[str, tuple[Outcome, Outcome]]) -> list[str]:
    """Return the report's table of counts and its two lines of totals, for some cases."""
    engine = {s: sum(e.status == s for e, _ in results.values()) for s in STATUSES}
    pysd_ = {s: sum(p.status == s for _, p in results.values()) for s in STATUSES}
    pysd_only = sum(p.status == "pass" and e.status != "pass" for e, p in results.values())
    better = sum(e.status == "pass" and p.status != "pass" for e, p in results.values())
    n = len(results)
    return [
        "| | pass | refused | wrong | crash |",
        "|:--|--:|--:|--:|--:|",
        "| engine | " + " | ".join(str(engine[s]) for s in STATUSES) + " |",
        "| PySD | " + " | ".join(str(pysd_[s]) for s in STATUSES) + " |",
        "",
        f"- Engine passes: **{engine['pass']} of {n}**; PySD passes: **{pysd_['pass']} of {n}**.",
        f"- PySD passes but the engine does not: {pysd_only}; the engine passes but "
        f"PySD does not: {better}.",
    ]


def pysd_version() -> str:
    """Return the installed PySD's version (the report's PySD figures depend on it)."""
    from importlib.metadata import version

    return version("pysd")


def run_suite(cases: list[Case], timeout: float = TIMEOUT,
              log=None) -> dict[str, tuple[Outcome, Outcome]]:
    """Return :func:`run_case` of every case, by id; ``log(line)`` is called per case."""
    results = {}
    for case in cases:
        results[case.id] = run_case(case, timeout)
        if log is not None:
            e, p = results[case.id]
            log(f"{case.id}: engine {e.status} ({e.seconds:.1f} s), "
                f"PySD {p.status} ({p.seconds:.1f} s)")
    return results


def main(argv: list[str] | None = None) -> int:
    """Run the suite and print, or write, the conformance report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", type=Path, metavar="PATH",
                        help="write the report there (else print it)")
    parser.add_argument("--readme", type=Path, metavar="README",
                        help="also replace the conformance block of this README")
    parser.add_argument("--timeout", type=float, default=TIMEOUT,
                        help="most seconds per run [s] (default %(default)s)")
    args = parser.parse_args(argv)
    if not args.timeout > 0:
        parser.error(f"--timeout must be positive, got {args.timeout}")
    start = time.perf_counter()
    results = run_suite(find_cases(), args.timeout,
                        log=lambda line: print(line, file=sys.stderr, flush=True))
    text = render(results)
    print(f"{len(results)} cases in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    if args.write is None:
        sys.stdout.write(text)
    else:
        args.write.write_text(text, encoding="utf-8")
    if args.readme is not None:
        readme = args.readme.read_text(encoding="utf-8")
        args.readme.write_text(replace_block(readme, render_readme(results)), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
