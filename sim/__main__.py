"""``python -m sim``: the same as the ``sim`` command."""
from __future__ import annotations

import sys

from sim.cli import main

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
