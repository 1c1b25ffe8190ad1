"""How much memory an ensemble's output needs, and the default limit."""
from __future__ import annotations


DEFAULT_MEMORY_LIMIT = 4 * 2**30
"""Largest ensemble output accepted by :func:`resolve` [bytes] (4 GiB)."""


def estimate_bytes(members: int, n_recorded: int, n_stocks: int, n_times: int) -> int:
    """Memory the ensemble's output needs: members x (recorded + stocks) x times x 8 [bytes]."""
    return int(members) * (int(n_recorded) + int(n_stocks)) * int(n_times) * 8


def _fmt_bytes(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"  # pragma: no cover
