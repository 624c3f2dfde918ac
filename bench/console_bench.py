"""The web console in a real browser: how long the overview and a 50-series chart take.

A fresh ``promhub serve --web.enable-remote-write-receiver`` (empty scrape config) gets a
fleet of ``--instances`` synthetic node_exporter-like instances (``tests/web/fleet.py``:
``up``, CPU, memory, filesystem, network, load; 12 series each) with one hour of history at
a 15 s step, pushed with remote_write. Debian's headless chromium (Playwright) then
measures, ``--runs`` times each (medians reported):

(a) overview first render: a new browser context (cold module cache) opens ``/``; the page's
    performance marks give the time from navigation start until the table rows are on
    screen and until every sparkline of the first page (50 instances × 5 metrics) is drawn.
(b) page switch: a click on "Next" until the next 50 rows and their sparklines are drawn
    (measured inside the page, from the click).
(c) 50 series × 1 h at 15 s step (241 points each): ``/api/v1/query_range`` through
    ``lib/api.js`` and ``lib/chart.js``'s ``timeSeriesChart`` (uPlot) in the console page,
    from the request to the first painted frame.
(d) the same 50 × 241 query as a shared Explore link, in a new browser context (cold
    cache): from navigation start until the graph's legend lists all 50 series.
(e) the built-in "Host overview" dashboard for one instance over the last hour, in a new
    browser context: from navigation start until every panel of its open rows is drawn.

It also times, from Python, the server side of the overview's queries: the instant queries
of the table (over every instance) and the range queries of one page's sparklines.

    python bench/console_bench.py                      # 500 instances, 5 runs
    python bench/console_bench.py --instances 100 --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.conftest import PromhubProcess  # noqa: E402
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.web.fleet import fleet_series, push  # noqa: E402

READY = '.ov-body[data-sparklines="ready"]'

#: Page switch, measured in the page: click "Next", wait for the sparklines to be drawn.
PAGE_SWITCH_JS = """async () => {
  const body = document.querySelector('.ov-body');
  const t0 = performance.now();
  document.querySelector('.ov-next').click();
  const rows = performance.now() - t0;  // rows render synchronously from the cached data
  while (body.dataset.sparklines !== 'ready') await new Promise(r => setTimeout(r, 2));
  return { rows, sparklines: performance.now() - t0 };
}"""

#: 50 series × 1 h at 15 s through the console's own modules, to the first painted frame.
CHART_JS = """async (expr) => {
  const api = await import('/static/lib/api.js');
  const chart = await import('/static/lib/chart.js');
  const end = Math.floor(Date.now() / 1000), start = end - 3600, step = 15;
  const el = document.createElement('div');
  el.style.width = '1200px';
  document.querySelector('#page').prepend(el);
  const t0 = performance.now();
  const data = await api.queryRange(expr, start, end, step);
  const t1 = performance.now();
  const c = chart.timeSeriesChart(el, { result: data.result, start, end, step, height: 300 });
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const t2 = performance.now();
  const out = { series: data.result.length, points: data.result[0].values.length,
                fetch: t1 - t0, render: t2 - t1, total: t2 - t0,
                canvases: el.querySelectorAll('canvas').length };
  c.destroy(); el.remove();
  return out;
}"""


EXPLORE_LINK = "/explore?" + urllib.parse.urlencode(
    {
        "g0.expr": 'node_load1{instance=~"host-0[0-4][0-9]:9100"}',
        "g0.tab": "graph",
        "g0.range_input": "1h",
        "g0.step_input": "15",
    }
)
DASHBOARD_LINK = (
    "/dashboards/promhub-host-overview?from=now-1h&to=now&var-job=node&var-instance=host-004:9100"
)
#: Resolves with the time since navigation start once every panel box is drawn.
DASHBOARD_DRAWN_JS = """() => {
  const boxes = document.querySelectorAll('.dash-panel');
  const done = document.querySelectorAll('.dash-panel.dash-ready');
  return boxes.length > 0 && done.length === boxes.length ? performance.now() : false;
}"""
#: Resolves with the time since navigation start once the legend names all 50 series.
EXPLORE_DRAWN_JS = """() => {
  const n = document.querySelectorAll('.u-legend .u-series').length;
  return n >= 51 ? performance.now() : false;  // + the time row
}"""


def marks(page: Any) -> dict[str, float]:
    got = page.evaluate(
        "Object.fromEntries(performance.getEntriesByType('mark').map(m => [m.name, m.startTime]))"
    )
    return {k: float(v) for k, v in got.items()}


def server_time(url: str, path: str, params: dict[str, Any], runs: int) -> list[float]:
    """Wall ms of ``runs`` POSTs to the API, one at a time (loopback, so ~server time)."""
    body = urllib.parse.urlencode(params).encode()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        with urllib.request.urlopen(url + path, data=body) as r:
            assert json.load(r)["status"] == "success"
        times.append((time.perf_counter() - t) * 1000)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--instances", type=int, default=500)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="console-bench-") as tmp:
        cfg = Path(tmp) / "prometheus.yml"
        cfg.write_text("scrape_configs: []\n")
        srv = PromhubProcess(Path(tmp) / "data", cfg, "--web.enable-remote-write-receiver")
        try:
            srv.wait_ready()
            t = time.perf_counter()
            series = fleet_series(args.instances, time.time(), history=3600, step=15, info=True)
            samples = push(srv.url, series)
            print(
                f"pushed {len(series)} series, {samples} samples in "
                f"{time.perf_counter() - t:.1f} s",
                file=sys.stderr,
            )
            load0 = os.getloadavg()[0]
            results, exprs = measure(srv.url, args.runs, sync_playwright)
            print(
                f"1-min load average: {load0:.1f} before, {os.getloadavg()[0]:.1f} after "
                f"({os.cpu_count()} CPUs)",
                file=sys.stderr,
            )
        finally:
            srv.stop()
    report(args, results, exprs)


def measure(url: str, runs: int, sync_playwright: Any) -> tuple[dict[str, list[float]], list[str]]:
    res: dict[str, list[float]] = {}

    def add(k: str, v: float) -> None:
        res.setdefault(k, []).append(v)

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        # One warm-up visit (the server's first queries touch every series once).
        warm = b.new_context(viewport={"width": 1366, "height": 900})
        wp = warm.new_page()
        wp.goto(url + "/")
        wp.wait_for_selector(READY, timeout=60_000)
        queries = wp.evaluate(
            """async () => {
              const d = await import('/static/pages/overview/data.js');
              const inst = [...document.querySelectorAll('tr.ov-row')].map(r => r.dataset.instance);
              const m = [d.instanceMatcher(inst)];
              return { instant: d.instantQueries([]),
                       range: d.METRICS.map(x => ({ key: x.key, expr: x.expr(m) })) };
            }"""
        )
        warm.close()
        for _ in range(runs):
            ctx = b.new_context(viewport={"width": 1366, "height": 900})
            page = ctx.new_page()
            page.goto(url + "/")
            page.wait_for_selector(READY, timeout=60_000)
            m = marks(page)
            assert page.locator("tr.ov-row").count() == 50
            assert page.locator(".ov-spark canvas").count() >= 50 * 4
            add("overview: rows visible", m["overview:rows"])
            add("overview: rows + sparklines", m["overview:sparklines"])
            add("overview: instant queries (client)", m["overview:data"] - m["overview:load"])
            sw = page.evaluate(PAGE_SWITCH_JS)
            add("page switch: rows", sw["rows"])
            add("page switch: rows + sparklines", sw["sparklines"])
            ch = page.evaluate(CHART_JS, 'node_load1{instance=~"host-0[0-4][0-9]:9100"}')
            assert ch["series"] == 50 and ch["points"] == 241 and ch["canvases"] >= 1, ch
            add("chart 50×241: query_range", ch["fetch"])
            add("chart 50×241: uPlot render", ch["render"])
            add("chart 50×241: total", ch["total"])
            ctx.close()
            ctx = b.new_context(viewport={"width": 1366, "height": 900})
            page = ctx.new_page()
            page.goto(url + EXPLORE_LINK)
            drawn = page.wait_for_function(EXPLORE_DRAWN_JS, timeout=60_000).json_value()
            add("explore link 50×241: page load to graph drawn", float(drawn))
            ctx.close()
            ctx = b.new_context(viewport={"width": 1366, "height": 900})
            page = ctx.new_page()
            page.goto(url + DASHBOARD_LINK)
            drawn = page.wait_for_function(DASHBOARD_DRAWN_JS, timeout=60_000).json_value()
            failed = page.locator(".dash-failed").count()
            assert failed == 0, f"{failed} dashboard panels failed"
            add("host dashboard: page load to every panel drawn", float(drawn))
            ctx.close()
        b.close()
    for q in queries["instant"]:
        res[f"server: instant `{q['key']}`"] = server_time(
            url, "/api/v1/query", {"query": q["expr"]}, runs
        )
    end = time.time()
    for q in queries["range"]:
        params = {"query": q["expr"], "start": end - 3600, "end": end, "step": 60}
        res[f"server: range `{q['key']}` (50 instances)"] = server_time(
            url, "/api/v1/query_range", params, runs
        )
    return res, [str(q["expr"]) for q in queries["instant"]]


def report(args: argparse.Namespace, res: dict[str, list[float]], exprs: list[str]) -> None:
    print(f"\n{args.instances} instances, {args.runs} runs, medians (min – max), ms\n")
    print("| measurement | median ms | min – max |")
    print("|---|---:|---:|")
    for k, v in res.items():
        print(f"| {k} | {statistics.median(v):.0f} | {min(v):.0f} – {max(v):.0f} |")
    instant = [statistics.median(v) for k, v in res.items() if k.startswith("server: instant")]
    ranged = [statistics.median(v) for k, v in res.items() if k.startswith("server: range")]
    print(
        f"\nserver total: {sum(instant):.0f} ms instant ({len(instant)} queries), "
        f"{sum(ranged):.0f} ms range ({len(ranged)} queries)"
    )
    print("\ninstant queries:\n" + "\n".join(f"    {e}" for e in exprs))


if __name__ == "__main__":
    main()
