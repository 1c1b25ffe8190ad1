"""The what-if app's redraw, server side: where the time of one slider move goes.

Prints, for ``model/digital_trade.mdl`` and ``model/calibrated.yaml``, the
median time of each step of a redraw at a new lever value (nothing cached):
the point run, the 200-member band ensemble, the chart data, and one whole
script run under ``streamlit.testing.v1.AppTest``. The browser figure (key
press to the last chart repaint, band included, in headless Chromium) is measured by
``tests/test_app_browser.py``, which also writes the README's ``bench:app``
block; this script only prints.

    python benchmarks/bench_app.py [--repeats 9]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import timings  # noqa: E402

import sim  # noqa: E402
from sim import scenarios as sc  # noqa: E402
from sim.app import charts as C  # noqa: E402
from sim.app import state as S  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=9)
    args = p.parse_args(argv)
    model = sim.load_model(ROOT / "model" / "digital_trade.mdl")
    calibrated = sc.load_calibrated(ROOT / "model" / "calibrated.yaml")
    specs = S.lever_specs(model)[0]
    infra = next(s for s in specs if s.short == "infrastructure")
    values = iter(1.0 + 0.01 * k for k in range(1, 10_000))
    outputs = list(S.TRADE_OUTPUTS + S.STOCK_OUTPUTS)

    def scenario(band: bool):
        settings = S.baseline_settings(specs)
        settings[infra.value.name] = next(values)
        return S.validate_doc(S.scenario_doc(settings, specs, model, name="b", description="b",
                                             band=band))

    point = timings(lambda: S.simulate_scenario(scenario(False), model, calibrated),
                    args.repeats)
    band = timings(lambda: S.simulate_scenario(scenario(True), model, calibrated, members=None,
                                               outputs=outputs), args.repeats)
    res, _ = S.simulate_scenario(scenario(False), model, calibrated)
    frames = timings(lambda: [C.line_spec(n, "", C.series_frame(n, res.times, res[n], res[n],
                                                                None, None, "en"), "en")
                              for n in S.TRADE_OUTPUTS], args.repeats)

    from streamlit.testing.v1 import AppTest
    os.environ.pop("DDS_MODEL", None)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    runs = []
    for _ in range(args.repeats):
        at.slider(key=infra.value.key).set_value(round(next(values), 2))
        t0 = time.perf_counter()
        at.run()
        runs.append(time.perf_counter() - t0)
    rows = [("point run (scipy, 1 member)", point), (f"band ensemble ({S.BAND_MEMBERS} members)", band),
            ("chart data and specs (4 charts)", frames), ("whole script run (AppTest)", runs)]
    print("| step of one redraw | median [ms] | min [ms] |\n| --- | --- | --- |")
    for label, ts in rows:
        print(f"| {label} | {1000 * statistics.median(ts):.1f} | {1000 * min(ts):.1f} |")
    print(f"\n{time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, repeats {args.repeats}, "
          f"sim {sim.engine.model.package_version()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
