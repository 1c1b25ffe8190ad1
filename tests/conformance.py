"""Test helpers for the SDXorg conformance models and small .mdl models.

Find the models, compare with their canonical outputs, and write small models.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]

#: Vensim's control variables (their columns depend on TIME STEP overrides).
CONTROL_COLUMNS = frozenset({"INITIAL TIME", "FINAL TIME", "TIME STEP", "SAVEPER"})


#: The SDXorg test-models suite copied into the repository (MIT, see its LICENSE).
MODELS_DIR = REPO / "tests" / "sdxorg"

#: The core set: the first 26 public cases (the suite's original core, the cases
#: the engine was first built against). The tests of this module's users (kernel,
#: parity, breakpoints, the model API) run these; ``tests/test_sdxorg.py`` runs
#: the whole suite.
CORE_CASES = frozenset({
    "samples/SIR/SIR.mdl", "samples/teacup/teacup.mdl", "samples/teacup/teacup_mdl.mdl",
    "tests/abs/test_abs.mdl", "tests/arithmetics/test_arithmetics.mdl",
    "tests/builtin_max/builtin_max.mdl", "tests/builtin_min/builtin_min.mdl",
    "tests/constant_expressions/test_constant_expressions.mdl",
    "tests/control_vars/test_control_vars.mdl", "tests/delays/test_delays.mdl",
    "tests/exp/test_exp.mdl", "tests/if_stmt/if_stmt.mdl",
    "tests/initial_function/test_initial.mdl", "tests/input_functions/test_inputs.mdl",
    "tests/line_breaks/test_line_breaks.mdl", "tests/ln/test_ln.mdl",
    "tests/logicals/test_logicals.mdl", "tests/lookups/test_lookups.mdl",
    "tests/number_handling/test_number_handling.mdl", "tests/parentheses/test_parens.mdl",
    "tests/power/power.mdl", "tests/smooth/test_smooth.mdl", "tests/sqrt/test_sqrt.mdl",
    "tests/time/test_time.mdl", "tests/trig/test_trig.mdl",
    "tests/with_lookup/test_with_lookup.mdl", "tests/xidz_zidz/xidz_zidz.mdl",
})


def models_dir() -> Path:
    """Folder of conformance models: ``tests/sdxorg``, or ``$SD_TEST_MODELS``."""
    return Path(os.environ.get("SD_TEST_MODELS") or MODELS_DIR)


def find_cases(root: Path) -> list[tuple[str, Path, Path]]:
    """(id, model, canonical output) for every core case (:data:`CORE_CASES`) under ``root``."""
    cases = []
    for out in sorted(list(root.rglob("output.csv")) + list(root.rglob("output.tab"))):
        for mdl in sorted(out.parent.glob("*.mdl")):
            cid = f"{out.parent.relative_to(root).as_posix()}/{mdl.name}"
            if cid in CORE_CASES:
                cases.append((cid, mdl, out))
    return cases


def supported_cases(root: Path) -> list[tuple[str, Path, Path]]:
    """Return the core cases the engine must run and match: all of them.

    The wider suite's refusals are pinned, by construct, in ``tests/test_sdxorg.py``.
    """
    return find_cases(root)


def read_canonical(path: Path) -> pd.DataFrame:
    """Read ``output.csv``/``output.tab`` into a frame whose first column is ``Time``."""
    sep = "\t" if path.suffix == ".tab" else ","
    df = pd.read_csv(path, sep=sep, encoding="utf-8-sig")
    df.columns = [str(c).strip() for c in df.columns]
    first = df.columns[0]
    if first.lower() != "time":
        # some Vensim exports are transposed: one row per variable
        df = df.set_index(first).T.reset_index().rename(columns={"index": "Time"})
    df = df.rename(columns={df.columns[0]: "Time"})
    df["Time"] = pd.to_numeric(df["Time"], errors="coerce")
    return df


_SKETCH = re.compile(r"\\\\\\---///")
# a subscript range definition ("Region: north, south") or a subscripted name
# ("pop[Region]"); a lookup range "[(0,0)-(1,1)]" starts with "(" and is not one
_SUBSCRIPT = re.compile(r"^[^\n~|=]*[^\s:~|]\s*:(?![=:A-Z])|\w\s*\[\s*[^\s(\[\d.\-]", re.MULTILINE)


def model_text(mdl: Path) -> str:
    """Return the equations part of a .mdl (everything before the sketch)."""
    text = Path(mdl).read_text(encoding="utf-8", errors="replace")
    return _SKETCH.split(text, maxsplit=1)[0]


def uses_subscripts(mdl: Path, canonical: Path | None = None) -> bool:
    """Return True when the model uses subscripts: from its text, or from ``name[sub]`` columns.

    Independent of the engine: this decides which conformance cases the engine
    must refuse rather than run.
    """
    if canonical is not None and any("[" in c for c in read_canonical(canonical).columns):
        return True
    text = model_text(mdl)
    # drop the comment and units fields (between '~' marks) and keywords like :AND:
    eqs = "\n".join(part.split("~", 1)[0] for part in text.split("|"))
    eqs = re.sub(r":(AND|OR|NOT|NA|MACRO|END OF MACRO|INTERPOLATE|RAW|HOLD BACKWARD|LOOK FORWARD):",
                 " ", eqs, flags=re.IGNORECASE)
    return bool(_SUBSCRIPT.search(eqs))


def _column_key(col: str, produced) -> str | None:
    key = col.strip('"')
    if col in produced:
        return col
    if key in produced:
        return key
    matches = [c for c in produced if c.strip('"').lower() == key.lower()]
    return matches[0] if matches else None


def compare(sim_df: pd.DataFrame, canon: pd.DataFrame, rtol: float = 1e-3, atol: float = 1e-6,
            columns=None, exclude=()) -> list[str]:
    """Compare a simulation with a canonical output at the canonical times.

    Parameters
    ----------
    sim_df : DataFrame
        Index time, one column per variable (``SimulationResult.to_frame()``).
    canon : DataFrame
        From :func:`read_canonical`.
    rtol : float
        Relative tolerance.
    atol : float
        Absolute floor; the floor actually used for a column is the larger of
        ``atol`` and ``1e-6`` times the column's largest magnitude (values near
        zero in a column of large values).
    columns : iterable of str, optional
        Only these canonical columns (default: all).
    exclude : iterable of str
        Canonical columns to leave out.

    Returns
    -------
    list of str
        One message per problem: a canonical time the simulation did not save,
        a column it did not produce, or the first mismatch of a column. Empty
        when everything agrees.
    """
    problems = []
    times = canon["Time"].to_numpy(float)
    sim_times = sim_df.index.to_numpy(float)
    idx = []
    for t in times:
        k = int(np.argmin(np.abs(sim_times - t)))
        # canonical files print about six significant digits (10.03125 -> 10.0312)
        if abs(sim_times[k] - t) > 1e-5 * max(1.0, abs(t)):
            problems.append(f"time {t} not saved by the simulation")
        idx.append(k)
    if problems:
        return problems[:5] + ([f"... {len(problems) - 5} more times missing"] if len(problems) > 5 else [])
    wanted = [c for c in canon.columns[1:] if (columns is None or c in columns) and c not in exclude]
    if not wanted:
        return ["no canonical column to compare"]
    for col in wanted:
        key = _column_key(col, sim_df.columns)
        if key is None:
            problems.append(f"column '{col}' not produced")
            continue
        expected = pd.to_numeric(canon[col], errors="coerce").to_numpy(float)
        if np.isnan(expected).all():
            problems.append(f"column '{col}': canonical output has no numbers")
            continue
        got = sim_df[key].to_numpy(float)[idx]
        floor = max(atol, 1e-6 * float(np.nanmax(np.abs(expected))))
        # a blank canonical cell (transposed exports give constants once) is not compared
        ok = np.isnan(expected) | np.isclose(got, expected, rtol=rtol, atol=floor)
        if not ok.all():
            k = int(np.argmax(~ok))
            problems.append(f"{col}: t={times[k]} got {got[k]} expected {expected[k]} "
                            f"({int((~ok).sum())} of {ok.size} times differ)")
    return problems


def mdl_text(equations: list[str], initial: float | str = 0, final: float | str = 4,
             step: float | str = 0.5, saveper: float | str | None = None) -> str:
    """Return a complete .mdl text from equations ("name = expr" or a lookup definition).

    The control variables are appended (SAVEPER defaults to TIME STEP); each
    may be a number or a Vensim expression.
    """
    blocks = ["{UTF-8}"]
    for eq in equations:
        blocks.append(f"{eq}\n\t~\t\n\t~\t\t|\n")
    controls = {"FINAL TIME": final, "INITIAL TIME": initial, "TIME STEP": step,
                "SAVEPER": step if saveper is None else saveper}
    for name, value in controls.items():
        blocks.append(f"{name} = {value}\n\t~\t\n\t~\t\t|\n")
    return "\n".join(blocks) + "\n"


def pysd_run(model_path: Path, folder: Path) -> pd.DataFrame:
    """Run ``model_path`` with PySD from a copy in ``folder`` (PySD writes its .py beside it)."""
    import shutil
    import warnings

    import pysd

    copy = folder / model_path.name
    shutil.copy(model_path, copy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pysd.read_vensim(str(copy)).run()
