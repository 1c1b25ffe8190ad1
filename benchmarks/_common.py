"""What the benchmark scripts share: timing and writing their block into the README."""
from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from sim.io import atomic_write_text


def timings(fn: Callable[[], object], repeats: int) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls of ``fn``."""
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def median_time(fn: Callable[[], object], repeats: int) -> float:
    """Median wall-clock seconds of ``repeats`` calls of ``fn``."""
    return statistics.median(timings(fn, repeats))


def best_time(fn: Callable[[], object], repeats: int) -> float:
    """Fastest of ``repeats`` calls of ``fn`` [s] (the least disturbed by other load)."""
    return min(timings(fn, repeats))


def markers(section: str) -> tuple[str, str]:
    """Return the README markers of a benchmark section, e.g. ``engine``."""
    return f"<!-- bench:{section}:start -->", f"<!-- bench:{section}:end -->"


def write_readme_block(path: Path, section: str, block: str) -> None:
    """Replace the text between the section's markers in ``path`` (atomically)."""
    start, end = markers(section)
    text = Path(path).read_text(encoding="utf-8")
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if len(pattern.findall(text)) != 1:
        raise SystemExit(f"{path}: expected exactly one '{start}' ... '{end}' block")
    atomic_write_text(path, pattern.sub(lambda _: f"{start}\n{block}\n{end}", text))
