"""Fonts of the figures: Latin text in DejaVu Sans, Chinese text in a CJK font.

Matplotlib (>= 3.6) falls back glyph by glyph along ``font.family``; with only
its own DejaVu Sans, a scenario named in Chinese comes out as empty boxes.
:func:`figure_fonts` puts the installed CJK fonts behind DejaVu Sans. The
README's install commands add Debian's ``fonts-noto-cjk`` (Noto Sans CJK);
the other families listed are found when a machine has them instead.
"""
from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from functools import lru_cache

CJK_FAMILIES: tuple[str, ...] = (
    "Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans CJK TC", "Noto Sans SC",
    "Source Han Sans SC", "Source Han Sans CN", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei",
    "Droid Sans Fallback", "SimHei", "Microsoft YaHei", "PingFang SC", "Heiti SC",
)
"""CJK font families in order of preference (Simplified Chinese forms first)."""

LATIN_FAMILY = "DejaVu Sans"
"""Matplotlib's bundled font: always present, so the figures look the same everywhere."""

_CJK_FILE_HINTS = ("notosanscjk", "sourcehansans", "wqy", "droidsansfallback", "simhei",
                   "msyh", "pingfang")


def _installed() -> set[str]:
    from matplotlib import font_manager
    return {f.name for f in font_manager.fontManager.ttflist}


@lru_cache(maxsize=1)
def cjk_families() -> tuple[str, ...]:
    """Return the CJK families of :data:`CJK_FAMILIES` matplotlib can use here (maybe none).

    Matplotlib caches its font list on first use; a font installed later is not
    in it. When none is listed, the system's font files are searched once and
    any CJK ones added to the running font manager (not to the cache on disk).
    """
    names = _installed()
    found = tuple(f for f in CJK_FAMILIES if f in names)
    if found:
        return found
    from matplotlib import font_manager
    for path in font_manager.findSystemFonts():
        flat = path.lower().replace("-", "").replace("_", "")
        if any(h in flat for h in _CJK_FILE_HINTS):
            with contextlib.suppress(Exception):  # an unreadable file: skip it
                font_manager.fontManager.addfont(path)
    names = _installed()
    return tuple(f for f in CJK_FAMILIES if f in names)


def font_rc() -> dict[str, object]:
    """RcParams that make figures draw Chinese: DejaVu Sans, then the CJK fallbacks."""
    return {"font.family": [LATIN_FAMILY, *cjk_families()], "axes.unicode_minus": True}


@contextlib.contextmanager
def figure_fonts() -> Iterator[None]:
    """Context in which figures are built (and saved) with :func:`font_rc`.

    A text's font is fixed when the text is made, so build the figure inside.
    Without a CJK font, missing glyphs still draw as boxes; matplotlib's warning
    for each is silenced here (one per glyph and save, it would drown the
    output) and :func:`cjk_families` tells whether the fonts are there.
    """
    import matplotlib
    with matplotlib.rc_context(font_rc()), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font",
                                category=UserWarning)
        yield
