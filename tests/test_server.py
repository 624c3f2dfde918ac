"""The server end to end: a real `promhub serve` process scraping real targets."""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

from tests.conftest import http_post, run_promhub, wait_for
from tests.targets import MetricsTarget


def _config(path: Path, targets: list[str], interval: str = "200ms", extra: str = "") -> Path:
    path.write_text(
        f"""
global:
  scrape_interval: {interval}
  scrape_timeout: {interval}
scrape_configs:
  - job_name: app
    static_configs:
      - targets: {json.dumps(targets)}
{extra}"""
    )
    return path


def _active(p) -> list[dict]:  # type: ignore[no-untyped-def]
    status, body = p.get("/api/v1/targets")
    assert status == 200
    return json.loads(body)["data"]["activeTargets"]  # type: ignore[no-any-return]


def _dump(data_dir: Path, match: str) -> list[tuple[str, float, int]]:
    r = run_promhub("tsdb", "dump", str(data_dir), "--match", match)
    assert r.returncode == 0, r.stderr
    out = []
    for line in r.stdout.splitlines():
        labels, value, ts = line.rsplit(" ", 2)
        out.append((labels, float(value), int(ts)))
    return out


def test_default_config_scrapes_itself_and_the_host(promhub_factory, tmp_path: Path) -> None:
    p = promhub_factory(tmp_path / "data")
    p.wait_ready()
    assert p.get("/-/healthy")[0] == 200
    # Default interval is 15 s: both built-in jobs are scraped within one interval.
    targets = wait_for(
        lambda: (
            [t for t in _active(p) if t["health"] == "up"]
            if len([t for t in _active(p) if t["health"] == "up"]) == 2
            else None
        ),
        timeout=40,
    )
    assert sorted(t["labels"]["job"] for t in targets) == ["node", "prometheus"]
    status, metrics = p.get("/metrics")
    assert status == 200
    for name in (
        "prometheus_tsdb_head_series",
        "prometheus_tsdb_head_samples_appended_total",
        "prometheus_target_interval_length_seconds",
        "prometheus_config_last_reload_successful",
    ):
        assert name in metrics, name
    status, host = p.get("/host/metrics")
    assert status == 200 and "node_cpu_seconds_total" in host
    p.stop()
    rows = _dump(tmp_path / "data", '{__name__=~"up|node_load1"}')
    names = {re.search(r'__name__="(\w+)"', r[0]).group(1) for r in rows}  # type: ignore[union-attr]
    assert names == {"up", "node_load1"}


def test_targets_api_reports_parse_error_with_line(promhub_factory, tmp_path: Path) -> None:
    good = MetricsTarget(lambda n: f"requests_total {n}\n")
    bad = MetricsTarget(lambda n: 'ok_metric 1\nbroken_metric{a="b" 1\n')
    try:
        cfg = _config(tmp_path / "promhub.yml", [good.address, bad.address])
        p = promhub_factory(tmp_path / "data", cfg)
        p.wait_ready()

        def both_scraped() -> list[dict] | None:
            ts = _active(p)
            return ts if all(t["health"] != "unknown" for t in ts) and len(ts) == 2 else None

        ts = {t["labels"]["instance"]: t for t in wait_for(both_scraped)}
        assert ts[good.address]["health"] == "up"
        assert ts[bad.address]["health"] == "down"
        assert "line 2" in ts[bad.address]["lastError"]
        p.stop()
        rows = _dump(tmp_path / "data", '{job="app"}')
        # Nothing of the bad scrapes was stored, but `up` = 0 was.
        assert not [r for r in rows if '"ok_metric"' in r[0]]
        ups = {r[0]: r[1] for r in rows if r[0].startswith('{__name__="up"')}
        assert ups[f'{{__name__="up", instance="{bad.address}", job="app"}}'] == 0
        assert ups[f'{{__name__="up", instance="{good.address}", job="app"}}'] == 1
    finally:
        good.close()
        bad.close()


def test_bad_config_refused_at_start_with_line(tmp_path: Path) -> None:
    cfg = tmp_path / "promhub.yml"
    cfg.write_text(
        "global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: x\n    bogus: 1\n"
    )
    r = run_promhub(
        "serve",
        f"--config.file={cfg}",
        f"--storage.tsdb.path={tmp_path}/d",
        "--web.listen-address=127.0.0.1:0",
    )
    assert r.returncode != 0
    assert "promhub.yml:5" in r.stderr and "bogus" in r.stderr


def test_reload_keeps_old_config_on_error_and_applies_good_one(
    promhub_factory, tmp_path: Path
) -> None:
    a = MetricsTarget(lambda n: f"a_total {n}\n")
    b = MetricsTarget(lambda n: f"b_total {n}\n")
    try:
        cfg = _config(tmp_path / "promhub.yml", [a.address])
        p = promhub_factory(tmp_path / "data", cfg, "--web.enable-lifecycle")
        p.wait_ready()
        wait_for(lambda: [t for t in _active(p) if t["health"] == "up"])
        cfg.write_text(cfg.read_text() + "  - job_name: app2\n    scrape_interval: nope\n")
        status, body = http_post(p.url + "/-/reload")
        assert status == 500 and "scrape_interval" in body
        assert [t["labels"]["instance"] for t in _active(p)] == [a.address]
        _config(cfg, [a.address, b.address])
        p.proc.send_signal(signal.SIGHUP)  # the other way to reload
        wait_for(lambda: len(_active(p)) == 2)
        status, metrics = p.get("/metrics")
        assert "prometheus_config_last_reload_successful 1.0" in metrics
    finally:
        a.close()
        b.close()


def test_reload_endpoint_needs_lifecycle_flag(promhub_factory, tmp_path: Path) -> None:
    p = promhub_factory(tmp_path / "data", _config(tmp_path / "p.yml", []))
    p.wait_ready()
    assert http_post(p.url + "/-/reload")[0] == 403


def test_unusable_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    r = run_promhub(
        "serve",
        f"--storage.tsdb.path={not_a_dir}",
        "--web.listen-address=127.0.0.1:0",
        f"--config.file={_config(tmp_path / 'p.yml', [])}",
    )
    assert r.returncode != 0
    assert str(not_a_dir) in r.stderr
