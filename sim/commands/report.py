"""``sim report``: the reviewer's calibration report (one self-contained HTML file)."""
from __future__ import annotations

import argparse
import sys
import time

from sim.data.observed import display_path
from sim.paths import default_file
from sim.project import CALIBRATED_FILE, REPORT_FILE


def register(sub) -> None:
    p = sub.add_parser(
        "report", help="build the calibration report (self-contained HTML)",
        description="Read calibrated.yaml, run the model for the uncertainty bands, the "
                    "global sensitivity and the validity tests, and write one HTML file "
                    "with every figure embedded.")
    p.add_argument("--calibrated", default=None,
                   help="calibration result (default: model/calibrated.yaml of the project "
                        "folder)")
    p.add_argument("--out", default=None,
                   help="HTML file to write (default: report/calibration.html of the project "
                        "folder)")
    p.add_argument("--markdown", action="store_true",
                   help="also write the Markdown version (same name, .md)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sim.extras import require
    require("matplotlib", "sim report's figures")
    from sim.reporting.calibration_report import build_report

    t0 = time.perf_counter()
    written = build_report(default_file(args.calibrated, *CALIBRATED_FILE),
                           default_file(args.out, *REPORT_FILE),
                           markdown=args.markdown)
    print(f"wrote {', '.join(display_path(p) for p in written)} in "
          f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0
