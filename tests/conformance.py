"""Helpers to read the canonical outputs of the SDXorg conformance models."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    return Path(os.environ.get("DDS_SHARED_DIR", REPO.parent / "shared"))


def models_dir() -> Path:
    """Folder of conformance models: $SD_TEST_MODELS or ../shared/sd-test-models."""
    return Path(os.environ.get("SD_TEST_MODELS", shared_dir() / "sd-test-models"))


def find_cases(root: Path) -> list[tuple[str, Path, Path]]:
    """(id, model, canonical output) for every folder with one .mdl and an output file."""
    cases = []
    for out in sorted(list(root.rglob("output.csv")) + list(root.rglob("output.tab"))):
        mdls = sorted(out.parent.glob("*.mdl"))
        for mdl in mdls:
            cases.append((f"{out.parent.relative_to(root)}/{mdl.name}", mdl, out))
    return cases


def read_canonical(path: Path) -> pd.DataFrame:
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


def compare(sim_df: pd.DataFrame, canon: pd.DataFrame, rtol=1e-3, atol=1e-6) -> list[str]:
    """Column-wise comparison at the canonical times; return the mismatches."""
    problems = []
    times = canon["Time"].to_numpy(float)
    idx = [int(np.argmin(np.abs(sim_df.index.to_numpy() - t))) for t in times]
    for col in canon.columns[1:]:
        key = col.strip('"')
        if key not in sim_df.columns:
            matches = [c for c in sim_df.columns if c.strip('"').lower() == key.lower()]
            if not matches:
                problems.append(f"column '{col}' not produced")
                continue
            key = matches[0]
        expected = pd.to_numeric(canon[col], errors="coerce").to_numpy(float)
        got = sim_df[key].to_numpy(float)[idx]
        ok = np.isnan(expected) | np.isclose(got, expected, rtol=rtol,
                                             atol=max(atol, 1e-6 * np.nanmax(np.abs(expected) + 1e-300)))
        if not ok.all():
            k = int(np.argmax(~ok))
            problems.append(f"{col}: t={times[k]} got {got[k]} expected {expected[k]}")
    return problems
