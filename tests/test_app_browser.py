"""The what-if app end to end: ``streamlit run app.py`` in headless Chromium.

Starts the app as a subprocess on 127.0.0.1 (a free port), opens it with
Playwright in Debian's Chromium (``/usr/bin/chromium``; CI installs it with
``apt-get install -y chromium``), moves the infrastructure lever with the
keyboard and checks that the displayed 2035 exports change to the library's
value. It measures the slider-to-chart time: from the key press until the
displayed value changes (the lines and numbers of the same run), the median of
several moves; and, separately, until the run has finished (the uncertainty
band drawn too). With ``DDS_WRITE_README=1`` the figures are written into
README.md between ``<!-- bench:app:start -->`` and ``<!-- bench:app:end -->``;
otherwise they are printed. The assertion on time is generous (CI machines are
noisy); the README records the measured number.
"""
from __future__ import annotations

import datetime as _dt
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
README = ROOT / "README.md"
START, END = "<!-- bench:app:start -->", "<!-- bench:app:end -->"
MOVES = 7
BOUND_MS = 3000  # generous on purpose: a loaded CI machine; the README keeps the real figure
TARGET_MS = 300

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="/usr/bin/chromium is absent (CI installs it: apt-get install -y "
                              "chromium)"),
    pytest.mark.skipif(not (ROOT / "model" / "digital_trade.mdl").exists(),
                       reason="model/digital_trade.mdl not in the repository yet"),
]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"streamlit did not answer at {url} within {timeout:.0f} s")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Return the app served on 127.0.0.1; the subprocess is always terminated."""
    port = free_port()
    log = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DDS_")}
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1",
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        if os.environ.get("CI"):
            sys.stderr.write(log.read_text(encoding="utf-8")[-4000:])


@pytest.fixture(scope="module")
def page(server, tmp_path_factory):
    sync_api = pytest.importorskip("playwright.sync_api")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1500, "height": 1100})
        try:
            ctx.set_default_timeout(60_000)
            pg = ctx.new_page()
            pg.add_init_script(PAINT_JS)
            pg.goto(server, wait_until="domcontentloaded")
            pg.wait_for_selector('[data-testid="stMetricValue"]', timeout=90_000)
            wait_idle(pg)
            yield pg
        finally:
            ctx.close()


# Vega draws the charts as SVG (a redraw rewrites the marks) or, with another renderer, into a
# canvas (no trace in the DOM): either way, a chart change stamps the time of the last chart paint.
PAINT_JS = """(() => {
  window.__ddsPaint = null;
  const CHART = '[data-testid="stVegaLiteChart"]';
  const stamp = () => { window.__ddsPaint = performance.now(); };
  const inChart = (node) => {
    // only the drawing itself: the SVG marks or the canvas, not the container's styling
    const el = node && (node.nodeType === 1 ? node : node.parentElement);
    const drawing = el && el.closest && el.closest('svg, canvas');
    return !!(drawing && drawing.closest(CHART));
  };
  const proto = CanvasRenderingContext2D.prototype;
  for (const name of ['clearRect', 'fillRect', 'fill', 'stroke', 'fillText']) {
    const orig = proto[name];
    proto[name] = function (...args) {
      if (inChart(this.canvas)) stamp();
      return orig.apply(this, args);
    };
  }
  const watch = () => new MutationObserver((records) => {
    if (records.some((r) => inChart(r.target))) stamp();
  }).observe(document.documentElement, {subtree: true, childList: true, attributes: true,
                                        characterData: true});
  if (document.documentElement) watch(); else document.addEventListener('DOMContentLoaded', watch);
})();"""
METRIC_JS = """() => {
  const el = document.querySelector('[data-testid="stMetricValue"]');
  return el ? el.innerText.trim() : null;
}"""
PERF_JS = """() => {
  const els = [...document.querySelectorAll('[data-testid="stCaptionContainer"]')];
  const el = els.find(e => /Recomputed in|重算用时/.test(e.innerText));
  return el ? el.innerText.trim() : null;
}"""
# Record in page time when the first metric's text and the run-time caption change.
WATCH_JS = """(args) => {
  window.__dds = {t0: null, metric: null, done: null};
  const old = args.old, oldPerf = args.oldPerf;
  const check = () => {
    const w = window.__dds;
    if (w.t0 === null) return;
    const m = document.querySelector('[data-testid="stMetricValue"]');
    if (w.metric === null && m && m.innerText.trim() !== old) w.metric = performance.now();
    const caps = [...document.querySelectorAll('[data-testid="stCaptionContainer"]')];
    const p = caps.find(e => /Recomputed in|重算用时/.test(e.innerText));
    if (w.done === null && p && p.innerText.trim() !== oldPerf && w.metric !== null)
      w.done = performance.now();
  };
  if (window.__ddsObserver) window.__ddsObserver.disconnect();
  window.__ddsObserver = new MutationObserver(check);
  window.__ddsObserver.observe(document.body, {subtree: true, childList: true,
                                               characterData: true});
  window.__ddsCheck = check;
}"""


def wait_idle(pg, quiet_ms: int = 1500, timeout: float = 60.0) -> None:
    """Wait until the page has not changed for ``quiet_ms`` (the run and the band are done)."""
    pg.evaluate("""() => {
      window.__ddsLast = performance.now();
      if (window.__ddsIdle) window.__ddsIdle.disconnect();
      window.__ddsIdle = new MutationObserver(() => { window.__ddsLast = performance.now(); });
      window.__ddsIdle.observe(document.body, {subtree: true, childList: true, characterData: true,
                                              attributes: true});
    }""")
    pg.wait_for_function(f"() => performance.now() - window.__ddsLast > {quiet_ms}",
                         timeout=timeout * 1000, polling=100)


def number(text: str) -> float:
    return float(re.sub(r"[^0-9.\-]", "", text))


def infra_thumb(pg):
    from sim.app.i18n import t, var_label
    label = t("lever_value", "zh", name=var_label("Infrastructure Investment Lever", "zh"),
              unit=t("times_baseline", "zh"))
    return pg.locator(f'input[type="range"][aria-label="{label}"]')


def move_and_time(pg, thumb, key: str) -> tuple[float, float | None, float | None, str]:
    """Press ``key`` on the slider.

    Returns
    -------
    (ms to the value change, ms to the end of the run, ms to the last chart paint, value)
    """
    old, old_perf = pg.evaluate(METRIC_JS), pg.evaluate(PERF_JS)
    pg.evaluate(WATCH_JS, {"old": old, "oldPerf": old_perf})
    thumb.focus()
    pg.evaluate("() => { window.__dds.t0 = performance.now(); }")
    pg.keyboard.press(key)
    pg.wait_for_function("() => window.__dds.metric !== null", timeout=60_000, polling="raf")
    try:
        pg.wait_for_function("() => window.__dds.done !== null", timeout=30_000, polling="raf")
    except Exception:  # the caption happened to read the same; keep the first figure
        pass
    w = pg.evaluate("() => window.__dds")
    wait_idle(pg)
    done = None if w["done"] is None else w["done"] - w["t0"]
    painted = pg.evaluate("() => window.__ddsPaint")
    paint = painted - w["t0"] if painted is not None and painted > w["t0"] else None
    return w["metric"] - w["t0"], done, paint, pg.evaluate(METRIC_JS)


def library_exports(infra_value: float) -> float:
    import sim
    from sim import scenarios as sc
    model = sim.load_model(ROOT / "model" / "digital_trade.mdl")
    text = ("name: t\ndescription: t\nlevers:\n"
            f"  infrastructure: {{value: {infra_value}, start: 2026}}\n")
    scenario = sc.load_scenarios_text(text, "test")[0]
    resolved = sc.resolve(scenario, model, sc.load_calibrated(ROOT / "model" / "calibrated.yaml"),
                          members=1)
    res = model.simulate(method="scipy", **resolved.simulate_kwargs())
    return float(res.at("Digitally Deliverable Exports", 2035))


def write_readme(text: str) -> None:
    body = README.read_text(encoding="utf-8")
    if START not in body or END not in body:
        raise AssertionError(f"README.md lacks the markers {START} ... {END}")
    head, rest = body.split(START, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{START}\n{text}\n{END}{tail}", encoding="utf-8")


def test_keyboard_moves_the_lever_and_the_display_follows(page):
    from sim.app.i18n import fmt_number
    thumb = infra_thumb(page)
    assert float(thumb.input_value()) == 1.0
    step = float(thumb.get_attribute("step"))
    before = page.evaluate(METRIC_JS)
    first = move_and_time(page, thumb, "ArrowRight")
    after = first[3]
    assert after != before
    assert float(thumb.input_value()) == pytest.approx(1.0 + step)
    assert after == fmt_number(library_exports(round(1.0 + step, 10)), "zh")
    assert number(after) > number(before)  # more infrastructure, more exports
    shots = os.environ.get("DDS_APP_SCREENSHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(shots) / "app_zh.png"), full_page=True)

    # every move to a new value: nothing cached, the point run and the band are computed
    moves = [first] + [move_and_time(page, thumb, "ArrowRight") for _ in range(MOVES - 1)]
    assert float(thumb.input_value()) == pytest.approx(1.0 + step * MOVES)
    metric = [m[0] for m in moves]
    done = [m[1] for m in moves if m[1] is not None]
    paint = [m[2] for m in moves]
    assert all(p is not None for p in paint), f"a move did not redraw the charts: {paint}"
    median = statistics.median(paint)
    median_metric = statistics.median(metric)
    median_done = statistics.median(done) if done else float("nan")
    from sim.app.state import BAND_MEMBERS
    band = (f"the {BAND_MEMBERS}-member uncertainty band included"
            if (ROOT / "model" / "calibrated.yaml").exists() else "no calibrated.yaml: no band")
    text = (f"What-if app, slider-to-chart time: **{median:.0f} ms** (median of {len(paint)} "
            "keyboard moves of a lever to new values in headless Chromium, from the key press "
            f"until the last chart has been repainted, {band}); the 2035 numbers change after "
            f"{median_metric:.0f} ms and the page is complete after {median_done:.0f} ms. "
            f"Target < {TARGET_MS} ms. Measured {_dt.date.today().isoformat()} on "
            f"{os.cpu_count()} CPUs by `DDS_WRITE_README=1 python -m pytest tests/test_app_browser.py`.")
    print("\n" + text + f"\nto chart paint (ms): {[round(x) for x in paint]}; to numbers (ms): "
          f"{[round(x) for x in metric]}; to page complete (ms): {[round(x) for x in done]}")
    if os.environ.get("DDS_WRITE_README") == "1":
        write_readme(text)
    assert median < BOUND_MS


def test_language_switch_in_the_browser(page):
    page.get_by_text("English", exact=True).click()
    page.wait_for_function("() => document.querySelector('h1') && "
                           "document.querySelector('h1').innerText.includes('what-if')")
    wait_idle(page)
    label = page.locator('[data-testid="stMetricLabel"]').first.inner_text()
    assert "100M USD" in label
    shots = os.environ.get("DDS_APP_SCREENSHOTS")
    if shots:
        page.screenshot(path=str(Path(shots) / "app_en.png"), full_page=True)
    page.get_by_text("中文", exact=True).click()
    page.wait_for_function("() => document.querySelector('h1').innerText.includes('情景模拟')")
