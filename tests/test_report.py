"""The calibration report, built from a quick calibration of the fixture.

Its numbers are the calibrated YAML's.
"""
import html
import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

import sim
from sim.calibration.results import read_calibrated
from sim.calibration.synthetic import synthetic_observed
from sim.cli import main
from sim.reporting.calibration_report import JSON_SECTIONS, build_report

FIXTURE = Path(__file__).parent / "models" / "calib_fixture.mdl"

SPEC = f"""
description: Fixture calibration for the report test.
notes: |
  A note for the reviewer.

  Decisions:
  - Fix the import adjustment time; its profile is flat.
  - Keep exports' U^S under 0.1,
    as the targets ask.

  Its last paragraph.
model: {FIXTURE.as_posix()}
data: data/observed.csv
seed: 3
parameters:
  Export Growth Rate: {{bounds: [0.05, 0.8], source: fixture card}}
  Export Capacity: {{bounds: [1500, 20000], scale: log, source: fixture card}}
  Import Ratio:
    bounds: [0.3, 1.5]
    source: fixture card
    prior: {{distribution: normal, mean: 0.8, sd: 0.2, source: invented for the test}}
targets:
  - {{series: china_dds_exports_unctad, variable: Digitally Deliverable Exports, role: primary}}
  - {{series: china_dds_imports_unctad, variable: Digitally Deliverable Imports, role: primary}}
cross_checks:
  - series: china_dds_total_mofcom
    variables: [Digitally Deliverable Exports, Digitally Deliverable Imports]
    note: synthetic stand-in for the MOFCOM totals
fixed:
  Import Adjustment Time: {{source: fixture card}}
sensitivity:
  method: sobol
  base_samples: 64
  levers:
    World Demand Growth Lever: {{range: [0.7, 1.3]}}
    Foreign Barrier Shock Size: {{range: [0.0, 0.5]}}
validity:
  extreme_conditions:
    - name: no demand growth
      description: the growth lever at 0 freezes exports at their 2015 level
      set: {{World Demand Growth Lever: 0}}
      expect:
        - {{variable: Digitally Deliverable Exports, check: below_baseline}}
        - {{variable: Digitally Deliverable Exports, check: at_most, value: 911.05}}
        - {{variable: Digitally Deliverable Imports, check: nonnegative}}
"""


class Cells(HTMLParser):
    """Collect numeric cells (data-key, data-value, text), the JSON block and sources."""

    def __init__(self):
        super().__init__()
        self.cells, self.json, self.srcs, self.links = [], None, [], []
        self._cell = self._script = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "td" and "data-key" in a:
            self._cell = [json.loads(a["data-key"]), json.loads(a["data-value"]), ""]
        if tag == "script" and a.get("id") == "calibration-data":
            self._script = []
        if tag == "img":
            self.srcs.append(a["src"])
        if tag in ("link", "a") and a.get("href"):
            self.links.append(a["href"])

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[2] += data
        if self._script is not None:
            self._script.append(data)

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.cells.append(tuple(self._cell))
            self._cell = None
        if tag == "script" and self._script is not None:
            self.json = json.loads("".join(self._script))
            self._script = None


def lookup(doc, key):
    for k in key:
        doc = doc[k]
    return doc


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    model = sim.load_model(FIXTURE)
    obs, src = synthetic_observed(
        model, {"Export Growth Rate": 0.3, "Export Capacity": 3500.0, "Import Ratio": 0.8},
        {"china_dds_exports_unctad": "Digitally Deliverable Exports",
         "china_dds_imports_unctad": "Digitally Deliverable Imports",
         "china_dds_total_mofcom": ["Digitally Deliverable Exports",
                                    "Digitally Deliverable Imports"]},
        range(2015, 2023), 0.03, np.random.default_rng(11))
    (root / "data").mkdir()
    (root / "data" / "observed.csv").write_text(obs)
    (root / "data" / "sources.csv").write_text(src)
    (root / "calibration.yaml").write_text(SPEC)
    assert main(["calibrate", "--spec", str(root / "calibration.yaml"), "--quick"]) == 0
    calibrated = root / "calibrated.yaml"
    out = root / "report" / "calibration.html"
    written = build_report(calibrated, out, markdown=True)
    assert written == [out, out.with_suffix(".md")]
    text = out.read_text(encoding="utf-8")
    parser = Cells()
    parser.feed(text)
    return read_calibrated(calibrated), text, parser, out


def test_every_numeric_cell_is_the_yaml_value(report):
    doc, _, parser, _ = report
    assert len(parser.cells) > 100
    keys = {c[0][0] for c in parser.cells}
    assert {"parameters", "statistics", "out_of_sample", "targets", "cross_checks",
            "correlation", "fit"} <= keys
    for key, value, _ in parser.cells:
        assert same(value, lookup(doc, key)), key


def test_cell_text_shows_the_value(report):
    _, _, parser, _ = report
    for key, value, text in parser.cells:
        if isinstance(value, float) and math.isfinite(value) and value != 0:
            shown = float(text.strip())
            assert shown == pytest.approx(value, rel=5e-3, abs=1e-12), key


def test_json_block_equals_the_yaml(report):
    doc, _, parser, _ = report
    assert set(parser.json) == {k for k in JSON_SECTIONS if k in doc}
    for k in parser.json:
        assert same(parser.json[k], doc[k]), k


def test_self_contained(report):
    _, text, parser, _ = report
    assert len(parser.srcs) >= 6
    assert all(s.startswith("data:image/png;base64,") for s in parser.srcs)
    assert all(h.startswith("#") for h in parser.links)
    assert "<link" not in text and "src=\"http" not in text


@pytest.mark.parametrize("heading", [
    "Targets the calibration is held to", "Data used", "Calibration set-up",
    "Fit to the targets", "Cross-check against MOFCOM totals", "Parameters",
    "Projection and its 90% band", "Ex-ante forecasts: skill and band coverage",
    "Structural hypotheses for China's share",
    "China's world share: growth decomposition and history",
    "Global sensitivity", "Validity tests", "Feedback loop dominance", "Model checks",
    "Reproducibility"])
def test_sections_present(report, heading):
    _, text, _, _ = report
    assert f">{html.escape(heading)}</h2>" in text


def test_contents_a_reviewer_needs(report):
    doc, text, _, out = report
    assert "cross-check only (not fitted)" in text
    assert "Sobol indices" in text and "World Demand Growth Lever" in text
    assert re.search(r"no demand growth.*?pass", text, re.S)
    validity = text[text.index(">Validity tests</h2>"):]
    validity = validity[:validity.index("<h2", 1)]
    assert "Integration error" in validity and "FAIL" not in validity
    checks = text[text.index(">Model checks</h2>"):]
    checks = checks[:checks.index("<h2", 1)]
    # the fixture declares Last Observed Year and never uses it: sim check says so
    assert re.search(r"used by no equation: Last Observed Year</td><td>FAIL", checks)
    assert "4 of 5 checks pass" in checks
    assert "run with --quick" in text  # warned: a smoke run
    assert doc["provenance"]["model"]["hash"] in text
    assert doc["provenance"]["data"]["hash"] in text
    assert doc["provenance"]["command"] in text
    assert "A note for the reviewer." in text
    md = out.with_suffix(".md").read_text(encoding="utf-8")
    assert "## Fit to the targets" in md and "| China's DDS exports, UNCTAD |" in md


def _visible(text: str) -> str:
    """Return the page without the machine-readable parts (data-key attributes, the JSON block)."""
    text = re.sub(r'<script type="application/json".*?</script>', "", text, flags=re.S)
    return re.sub(r'data-key="[^"]*"', "", text)


def test_series_are_named_as_people_name_them(report):
    _, text, _, out = report
    shown = _visible(text)
    # from the summary to the projection: targets, data, set-up, fit, cross-check, parameters
    end = shown.index("<h2", shown.index('<h2 id="projection"') + 1)
    shown = shown[:end]
    for name in ("China&#x27;s DDS exports, UNCTAD", "China&#x27;s DDS imports, UNCTAD",
                 "China&#x27;s DDS trade, exports + imports, MOFCOM"):
        assert name in shown
    # the id appears once, in the data table's id column, and nowhere else
    assert shown.count(">china_dds_exports_unctad<") == 1
    assert "china_dds_exports_unctad:" not in shown and "vs china_dds" not in shown
    md = out.with_suffix(".md").read_text(encoding="utf-8")
    assert "- China's DDS exports, UNCTAD: MAPE" in md  # the summary


def test_theil_proportions_are_subscripts(report):
    _, text, _, out = report
    for part in "MSC":
        assert f"<th>U<sub>{part}</sub></th>" in text
    assert "U^M" not in _visible(text) and "U^S" not in _visible(text)
    md = out.with_suffix(".md").read_text(encoding="utf-8")
    assert "| U<sub>M</sub> | U<sub>S</sub> | U<sub>C</sub> |" in md
    assert "U^" not in md


def test_calibrators_notes_render_as_decisions(report):
    _, text, _, out = report
    assert "Calibrator&#x27;s decisions and their evidence</h3>" in text
    assert ("<ul><li>Fix the import adjustment time; its profile is flat.</li><li>Keep "
            "exports&#x27; U<sub>S</sub> under 0.1, as the targets ask.</li></ul>") in text
    assert "<p>Its last paragraph.</p>" in text
    md = out.with_suffix(".md").read_text(encoding="utf-8")
    assert "- Keep exports' U<sub>S</sub> under 0.1, as the targets ask." in md


def test_notes_as_a_list_of_decisions():
    from sim.reporting.calibration_report import _block_html, _block_md
    from sim.reporting.report_text import notes_blocks
    blocks = notes_blocks([
        {"decision": "Fix Learning by Exporting Share at 0.3",
         "evidence": "flat profile, on its bound; correlation 0.98 with the share elasticity"},
        "Keep MOFCOM totals as a cross-check only"])
    html_ = "".join(_block_html(b) for b in blocks)
    assert html_ == (
        '<ul class="decisions"><li><strong>Fix Learning by Exporting Share at 0.3</strong><br>'
        '<span class="evidence">Evidence: flat profile, on its bound; correlation 0.98 with '
        'the share elasticity</span></li><li><strong>Keep MOFCOM totals as a cross-check '
        'only</strong></li></ul>')
    assert _block_md(blocks[0]).splitlines() == [
        "- **Fix Learning by Exporting Share at 0.3** — evidence: flat profile, on its bound; "
        "correlation 0.98 with the share elasticity",
        "- **Keep MOFCOM totals as a cross-check only**"]
    with pytest.raises(ValueError, match=r"notes item 1: expected \{decision, evidence\}"):
        notes_blocks([{"because": "x"}])
    assert notes_blocks("") == [] and notes_blocks(None) == []


def test_report_figures_keep_legends_off_the_data():
    from sim.reporting import figures_calibration as figs
    years = np.arange(2015, 2023)
    times = np.arange(2015.0, 2036.0)
    panel = {"title": "China's DDS exports, UNCTAD", "unit": "100M USD", "years": years,
             "observed": np.linspace(900, 2100, 8), "times": times,
             "simulated": np.linspace(900, 12000, times.size),
             "default": np.linspace(900, 8000, times.size),
             "band": np.vstack([np.linspace(800, 9000, times.size),
                                np.linspace(1000, 15000, times.size)]),
             "median": np.linspace(900, 12000, times.size)}
    fig = figs.projection_chart([panel, panel], 2022.0)
    (legend,) = fig.legends
    assert all(ax.get_legend() is None for ax in fig.axes)
    assert min(t.get_fontsize() for t in legend.get_texts()) >= 8
    assert "end of observed data, 2022" in [t.get_text() for t in legend.get_texts()]
    ax = fig.axes[0]
    assert 2035 in [round(t) for t in ax.get_xticks()]
    assert any(list(ln.get_xdata()) == [2022.0, 2022.0] for ln in ax.get_lines())
    fig.canvas.draw() if fig.canvas else None
    assert figs.data_uri(fig).startswith("data:image/png;base64,")
    assert ax.yaxis.get_major_formatter()(12000.0) == "12,000"


def test_cli_report(report, tmp_path):
    _, _, _, out = report
    calibrated = out.parent.parent / "calibrated.yaml"
    target = tmp_path / "r.html"
    assert main(["report", "--calibrated", str(calibrated), "--out", str(target)]) == 0
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_a_rebuilt_report_is_byte_for_byte_the_same(report):
    """No date or timing in the report: the same calibration rebuilds the same bytes."""
    _, text, _, out = report
    md = out.with_suffix(".md").read_bytes()
    build_report(out.parent.parent / "calibrated.yaml", out, markdown=True)
    assert out.read_text(encoding="utf-8") == text
    assert out.with_suffix(".md").read_bytes() == md
