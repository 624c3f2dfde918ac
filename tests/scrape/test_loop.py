"""What a scrape stores: samples, synthetic series, staleness, limits and failures."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from promhub.config.model import BasicAuth, HTTPClientConfig, RelabelConfig
from promhub.model.labels import Labels
from promhub.model.value import is_stale


def lbl(**kw: str) -> Labels:
    return Labels.from_dict(kw)


def test_samples_stored_with_job_and_instance_and_synthetic_series(scrape: Any) -> None:
    async def scenario(h: Any) -> None:
        e = await h.exporter(
            "# TYPE requests_total counter\n# HELP requests_total Requests.\n"
            'requests_total{path="/"} 7\ntemperature 21.5\n'
        )
        await h.start(h.config(h.job("app")), {"app": [e.address]})
        await h.scrapes(e.address, 2)
        got = h.select(job="app")
        key = lbl(__name__="requests_total", path="/", job="app", instance=e.address)
        assert {v for _, v in got[key]} == {7.0}
        assert lbl(__name__="temperature", job="app", instance=e.address) in got
        first = {ls.name: samples[0][1] for ls, samples in got.items()}
        assert first["up"] == 1
        assert first["scrape_samples_scraped"] == 2
        assert first["scrape_samples_post_metric_relabeling"] == 2
        assert first["scrape_series_added"] == 2
        assert first["scrape_duration_seconds"] > 0
        # Later scrapes find their series in the cache: nothing new is added.
        assert got[lbl(__name__="scrape_series_added", job="app", instance=e.address)][1][1] == 0
        # All samples of one scrape share its timestamp.
        assert len({s[0][0] for s in got.values()}) == 1
        t = h.target(e.address)
        assert t["health"] == "up" and t["lastError"] == ""
        assert t["scrapeUrl"] == f"http://{e.address}/metrics"
        assert t["scrapeInterval"] == "100ms"
        meta = {m.target.get("instance"): m.metadata for m in h.manager.metadata()}
        assert meta[e.address]["requests_total"].type == "counter"
        assert meta[e.address]["requests_total"].help == "Requests."

    scrape(scenario)


def test_request_headers_and_params(scrape: Any) -> None:
    async def scenario(h: Any) -> None:
        e = await h.exporter("x 1\n")
        cfg = h.job("app", params={"module": ["http_2xx"], "debug": ["1"]}, metrics_path="/probe")
        await h.start(h.config(cfg), {"app": [e.address]})
        await h.scrapes(e.address)
        req = e.requests[0]
        assert req.path == "/probe"
        assert dict(req.query) == {"module": "http_2xx", "debug": "1"}
        assert "text/plain" in req.headers["Accept"]
        assert "openmetrics" in req.headers["Accept"]
        assert req.headers["User-Agent"].startswith("promhub/")
        assert req.headers["X-Prometheus-Scrape-Timeout-Seconds"] == "0.1"
        assert req.headers["Accept-Encoding"] == "gzip"
        assert h.target(e.address)["scrapeUrl"] == (
            f"http://{e.address}/probe?debug=1&module=http_2xx"
        )

    scrape(scenario)


def test_relabel_configs_and_metric_relabel_configs(scrape: Any) -> None:
    async def scenario(h: Any) -> None:
        keep = await h.exporter('a_total{secret="s",mode="x"} 1\nnoise_bytes 5\nb 2\n')
        dropped = await h.exporter("a_total 1\n")
        cfg = h.job(
            "app",
            relabel_configs=[
                RelabelConfig(
                    source_labels=["__address__"],
                    regex=dropped.address.replace(".", r"\."),
                    action="drop",
                ),
                RelabelConfig(target_label="env", replacement="prod"),
            ],
            metric_relabel_configs=[
                RelabelConfig(source_labels=["__name__"], regex="noise_.*", action="drop"),
                RelabelConfig(regex="secret", action="labeldrop"),
            ],
        )
        await h.start(h.config(cfg), {"app": [keep.address, dropped.address]})
        await h.scrapes(keep.address)
        got = h.select(job="app", env="prod")
        names = {ls.name for ls in got}
        assert "noise_bytes" not in names and {"a_total", "b", "up"} <= names
        a = lbl(__name__="a_total", mode="x", job="app", env="prod", instance=keep.address)
        assert a in got
        target = {"job": "app", "env": "prod", "instance": keep.address}
        post = got[lbl(**target, __name__="scrape_samples_post_metric_relabeling")]
        scraped = got[lbl(**target, __name__="scrape_samples_scraped")]
        assert post[0][1] == 2 and scraped[0][1] == 3
        targets = h.manager.targets()
        assert [t["labels"]["instance"] for t in targets["activeTargets"]] == [keep.address]
        assert [d["discoveredLabels"]["__address__"] for d in targets["droppedTargets"]] == [
            dropped.address
        ]
        assert targets["droppedTargets"][0]["discoveredLabels"]["job"] == "app"
        assert not dropped.requests

    scrape(scenario)


def test_honor_labels_false_renames_conflicts_true_keeps_them(scrape: Any) -> None:
    async def scenario(h: Any) -> None:
        body = 'm{job="other",instance="elsewhere",exported_job="x"} 1\n'
        e1 = await h.exporter(body)
        e2 = await h.exporter(body)
        cfg = h.config(h.job("plain"), h.job("honor", honor_labels=True))
        await h.start(cfg, {"plain": [e1.address], "honor": [e2.address]})
        await h.scrapes(e1.address)
        await h.until(lambda: h.select(__name__="m", job="other"))
        plain = list(h.select(__name__="m", job="plain"))
        assert plain == [
            lbl(
                __name__="m",
                job="plain",
                instance=e1.address,
                # As Prometheus: `job` (shortest) is renamed first, and since
                # `exported_job` is taken, it becomes `exported_exported_job`.
                exported_job="x",
                exported_exported_job="other",
                exported_instance="elsewhere",
            )
        ]
        honored = list(h.select(__name__="m", job="other"))
        assert honored == [lbl(__name__="m", job="other", instance="elsewhere", exported_job="x")]

    scrape(scenario)


def test_sample_limit_fails_whole_scrape(scrape: Any) -> None:
    async def scenario(h: Any) -> None:
        e = await h.exporter("a 1\nb 2\nc 3\ndropme 4\n")
        cfg = h.job(
            "app",
            sample_limit=2,
            metric_relabel_configs=[
                RelabelConfig(source_labels=["__name__"], regex="dropme", action="drop")
            ],
        )
        await h.start(h.config(cfg), {"app": [e.address]})
        await h.scrapes(e.address, 2)
        assert set(h.ups(e.address)) == {0.0}
        assert h.select(__name__="a") == {}
        assert h.target(e.address)["lastError"] == "sample limit exceeded"
        assert h.target(e.address)["health"] == "down"
        assert h.metric("prometheus_target_scrapes_exceeded_sample_limit_total") >= 2
        # Raising the limit to what survives relabeling lets it through.
        cfg.sample_limit = 3
        h.manager.apply_config(h.config(h.job("app", **{**_fields(cfg), "sample_limit": 3})))
        await h.until(lambda: h.select(__name__="a"))
        assert h.target(e.address)["health"] == "up"

    scrape(scenario)


def _fields(cfg: Any) -> dict[str, Any]:
    return {f: getattr(cfg, f) for f in cfg.__slots__ if f != "job_name"}


def test_label_limits_fail_the_scrape(scrape: Any) -> None:
    async def scenario(h: Any) -> None:
        e1 = await h.exporter('m{a="1",b="2",c="3"} 1\n')
        e2 = await h.exporter('m{a="' + "v" * 40 + '"} 1\n')
        cfg = h.config(h.job("many", label_limit=4), h.job("long", label_value_length_limit=32))
        await h.start(cfg, {"many": [e1.address], "long": [e2.address]})
        await h.scrapes(e1.address)
        await h.scrapes(e2.address)
        # __name__, a, b, c, job, instance = 6 labels.
        assert "label_limit exceeded" in h.target(e1.address)["lastError"]
        assert "label_value_length_limit exceeded" in h.target(e2.address)["lastError"]
        assert h.select(__name__="m") == {}
        assert h.metric("prometheus_target_scrape_pool_exceeded_label_limits_total") >= 2

    scrape(scenario)


def test_malformed_body_stores_nothing_and_reports_the_line(scrape: Any) -> None:
    async def scenario(h: Any) -> None:
        e = await h.exporter('good_metric 1\nbroken{a="b" 1\nlater 3\n')
        await h.start(h.config(h.job("app")), {"app": [e.address]})
        await h.scrapes(e.address)
        t = h.target(e.address)
        assert t["health"] == "down"
        assert "line 2" in t["lastError"]
        assert h.ups(e.address)[0] == 0
        assert h.select(__name__="good_metric") == {}
        assert h.select(__name__="later") == {}
        samples = h.select(__name__="scrape_samples_scraped", instance=e.address)
        assert next(iter(samples.values()))[0][1] == 0
        # The target recovers as soon as it serves a valid body.
        e.body = "good_metric 1\n"
        await h.until(lambda: h.select(__name__="good_metric"))
        await h.until(lambda: h.target(e.address)["health"] == "up")

    scrape(scenario)


def test_vanished_series_get_staleness_markers(scrape: Any) -> None:
    async def scenario(h: Any) -> None:
        e = await h.exporter("stays 1\ngoes 2\nexplicit 3 1000\n")
        await h.start(h.config(h.job("app")), {"app": [e.address]})
        await h.scrapes(e.address, 2)
        e.body = "stays 1\n"
        await h.until(lambda: len(h.select(__name__="goes")[_one(h, "goes")]) >= 3)
        goes = h.select(__name__="goes")[_one(h, "goes")]
        assert [v for _, v in goes[:-1]] == [2.0] * (len(goes) - 1)
        assert is_stale(goes[-1][1])
        # The marker sits at the timestamp of the first scrape without the series.
        stays = h.select(__name__="stays")[_one(h, "stays")]
        assert goes[-1][0] in {ts for ts, _ in stays}
        # Exactly one marker: later scrapes do not repeat it.
        await h.scrapes(e.address, len(h.ups(e.address)) + 2)
        assert sum(is_stale(v) for _, v in h.select(__name__="goes")[_one(h, "goes")]) == 1
        # A series with its own timestamp is not marked stale (as in Prometheus).
        explicit = h.select(__name__="explicit")[_one(h, "explicit")]
        assert explicit == [(1000, 3.0)]

    scrape(scenario)


def _one(h: Any, name: str) -> Labels:
    (ls,) = h.select(__name__=name)
    return ls  # type: ignore[no-any-return]


def test_failed_scrape_marks_everything_stale(scrape: Any) -> None:
    async def scenario(h: Any) -> None:
        e = await h.exporter("m 1\n")
        await h.start(h.config(h.job("app")), {"app": [e.address]})
        await h.scrapes(e.address)
        e.status = 500
        await h.until(lambda: h.target(e.address)["health"] == "down")
        assert h.target(e.address)["lastError"] == (
            "server returned HTTP status 500 Internal Server Error"
        )
        await h.until(lambda: is_stale(h.select(__name__="m")[_one(h, "m")][-1][1]))
        assert h.ups(e.address)[-1] == 0

    scrape(scenario)


def test_removed_target_and_removed_job_get_staleness_markers(scrape: Any) -> None:
    async def scenario(h: Any) -> None:
        a = await h.exporter("m 1\n")
        b = await h.exporter("m 2\n")
        c = await h.exporter("n 3\n")
        cfg = h.config(h.job("app"), h.job("other"))
        await h.start(cfg, {"app": [a.address, b.address], "other": [c.address]})
        for e in (a, b, c):
            await h.scrapes(e.address)
        # Discovery drops b: its series and its `up` end with a marker.
        h.manager.update_targets({"app": [_group(a.address)]})
        await h.until(lambda: len(h.manager.targets()["activeTargets"]) == 2)
        for name in ("m", "up", "scrape_duration_seconds"):
            series = h.select(__name__=name, instance=b.address)
            assert is_stale(next(iter(series.values()))[-1][1]), name
        # The config drops the job "other": same for its target.
        h.manager.apply_config(h.config(h.job("app")))
        await h.until(lambda: len(h.manager.targets()["activeTargets"]) == 1)
        n = next(iter(h.select(__name__="n").values()))
        assert is_stale(n[-1][1])
        assert is_stale(h.select(__name__="up", instance=c.address)[_up(c)][-1][1])
        # a is untouched.
        assert not math.isnan(h.select(__name__="m", instance=a.address)[_m(a)][-1][1])

    scrape(scenario)


def _group(address: str) -> Any:
    from promhub.discovery.targetgroup import TargetGroup

    return TargetGroup("0", ({"__address__": address},), {})


def _up(e: Any) -> Labels:
    return lbl(__name__="up", job="other", instance=e.address)


def _m(e: Any) -> Labels:
    return lbl(__name__="m", job="app", instance=e.address)


def test_gzip_body(scrape: Any) -> None:
    async def scenario(h: Any) -> None:
        body = "".join(f'big_metric{{i="{i}"}} {i}\n' for i in range(500))
        e = await h.exporter(body, gzip=True)
        await h.start(h.config(h.job("app")), {"app": [e.address]})
        await h.scrapes(e.address)
        assert "gzip" in e.requests[0].headers["Accept-Encoding"]
        assert len(h.select(__name__="big_metric")) == 500

    scrape(scenario)


def test_basic_auth_from_password_file(scrape: Any, tmp_path: Any) -> None:
    async def scenario(h: Any) -> None:
        e = await h.exporter("secret_metric 1\n", basic_auth=("alice", "s3cret"))
        pw = tmp_path / "pw"
        pw.write_text("s3cret\n")
        http = HTTPClientConfig(basic_auth=BasicAuth(username="alice", password_file=str(pw)))
        wrong = HTTPClientConfig(basic_auth=BasicAuth(username="alice", password="nope"))
        e2 = await h.exporter("secret_metric 1\n", basic_auth=("alice", "s3cret"))
        cfg = h.config(h.job("ok", http=http), h.job("bad", http=wrong))
        await h.start(cfg, {"ok": [e.address], "bad": [e2.address]})
        await h.scrapes(e.address)
        await h.scrapes(e2.address)
        assert h.target(e.address)["health"] == "up"
        assert h.select(__name__="secret_metric", job="ok")
        assert "401" in h.target(e2.address)["lastError"]

    scrape(scenario)


def test_body_size_limit(scrape: Any) -> None:
    async def scenario(h: Any) -> None:
        body = "".join(f"metric_{i} {i}\n" for i in range(2000))
        e = await h.exporter(body, gzip=True)
        cfg = h.job("app", body_size_limit=len(body) - 1)
        await h.start(h.config(cfg), {"app": [e.address]})
        await h.scrapes(e.address)
        assert "body size limit exceeded" in h.target(e.address)["lastError"]
        assert h.ups(e.address)[0] == 0
        assert h.select(__name__="metric_1") == {}
        assert h.metric("prometheus_target_scrapes_exceeded_body_size_limit_total") >= 1

    scrape(scenario)


def test_target_limit_fails_the_pool(scrape: Any) -> None:
    async def scenario(h: Any) -> None:
        es = [await h.exporter("m 1\n") for _ in range(3)]
        cfg = h.job("app", target_limit=2)
        await h.start(h.config(cfg), {"app": [e.address for e in es]})
        for e in es:
            await h.scrapes(e.address)
            assert h.target(e.address)["lastError"] == (
                "target_limit exceeded (number of targets: 3, limit: 2)"
            )
        assert h.select(__name__="m") == {}
        assert not any(e.requests for e in es)
        assert h.metric("prometheus_target_scrape_pool_exceeded_target_limit_total") >= 1

    scrape(scenario)


def test_unreachable_target_is_down(scrape: Any) -> None:
    async def scenario(h: Any) -> None:
        e = await h.exporter("m 1\n")
        address = e.address
        await e.close()
        await h.start(h.config(h.job("app")), {"app": [address]})
        await h.scrapes(address)
        t = h.target(address)
        assert t["health"] == "down" and address in t["lastError"]
        assert h.metric("prometheus_target_scrape_pool_targets", scrape_job="app") == 1

    scrape(scenario)


def test_protocols_headers_fallback_and_extra_metrics(scrape: Any, tmp_path: Any) -> None:
    async def scenario(h: Any) -> None:
        # OpenMetrics served without a Content-Type: only the fallback makes it parse
        # (a text parser rejects a timestamp in float seconds).
        now = int(time.time())
        body = f"# TYPE om_total counter\nom_total 1.0 {now}.5\n# EOF\n"
        e = await h.exporter(body, content_type="")
        token = tmp_path / "token"
        token.write_text("from-file\n")
        http = HTTPClientConfig(http_headers={"X-Tenant": {"values": ["a"], "files": [str(token)]}})
        cfg = h.job(
            "app",
            http=http,
            scrape_protocols=["PrometheusText0.0.4", "OpenMetricsText1.0.0"],
            fallback_scrape_protocol="OpenMetricsText1.0.0",
            extra_scrape_metrics=True,
            sample_limit=50,
        )
        await h.start(h.config(cfg), {"app": [e.address]})
        await h.scrapes(e.address)
        req = e.requests[0]
        assert req.headers["Accept"] == (
            "text/plain;version=0.0.4;q=0.6,"
            "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,*/*;q=0.4"
        )
        assert req.headers.getall("X-Tenant") == ["a", "from-file"]
        assert next(iter(h.select(__name__="om_total").values())) == [(now * 1000 + 500, 1.0)]
        got = {ls.name: s[0][1] for ls, s in h.select(instance=e.address).items()}
        assert got["scrape_timeout_seconds"] == 0.1
        assert got["scrape_sample_limit"] == 50
        assert got["scrape_body_size_bytes"] == len(e.body)

    scrape(scenario)


def test_keep_dropped_targets_bounds_the_list_not_the_count(scrape: Any) -> None:
    async def scenario(h: Any) -> None:
        cfg = h.job(
            "app",
            keep_dropped_targets=2,
            relabel_configs=[RelabelConfig(source_labels=["__address__"], regex="gone.*",
                                           action="drop")],
        )  # fmt: skip
        await h.start(h.config(cfg), {"app": [f"gone{i}:1" for i in range(5)]})
        await h.until(lambda: h.manager.targets()["droppedTargetCounts"].get("app") == 5)
        assert len(h.manager.targets()["droppedTargets"]) == 2

    scrape(scenario)


def test_series_garbage_collected_by_the_head_is_stored_again(scrape: Any) -> None:
    """The loop caches storage refs; when the TSDB drops an idle series the cached ref
    dies, and the next scrape that has the series again must still store it."""
    from prometheus_client import CollectorRegistry

    from promhub.scrape.client import ScrapeClient
    from promhub.scrape.loop import ScrapeLoop
    from promhub.scrape.metrics import ScrapeMetrics
    from promhub.scrape.target import targets_from_groups
    from promhub.tsdb.head import Head

    async def scenario(h: Any) -> None:
        e = await h.exporter("a 1\nb 2\n")
        head = Head()
        cfg = h.job("app")
        (t,) = targets_from_groups(cfg, [_group(e.address)]).targets
        lp = ScrapeLoop(t, cfg, ScrapeClient(cfg), head, ScrapeMetrics(CollectorRegistry()),
                        seed=0)  # fmt: skip
        await lp.scrape()
        e.body = "a 1\n"
        await lp.scrape()
        # Everything so far moves out of the head: b, now without samples, is collected.
        snap = head.begin_truncate(2**62)
        with head.lock:
            removed = head.truncate(snap, head.prepare_truncate(snap, 2**62))
        assert lbl(__name__="b", job="app", instance=e.address) in removed
        head.min_valid_time = 0
        e.body = "a 1\nb 3\n"
        await lp.scrape()
        assert t.health.value == "up", t.last_error
        ref = head.ref(lbl(__name__="b", job="app", instance=e.address))
        cols = head.snapshot().collect(np.array([ref], dtype=np.int64), 0, 2**62)
        assert cols.series(0)[1].tolist() == [3.0]
        await lp.stop(staleness=False)

    scrape(scenario)


def test_bearer_credentials_file_and_oauth2_client_credentials(scrape: Any, tmp_path: Any) -> None:
    from aiohttp import web

    from promhub.config.model import Authorization, OAuth2

    async def scenario(h: Any) -> None:
        tokens_issued: list[dict[str, str]] = []

        async def token(request: web.Request) -> web.Response:
            form = dict(await request.post())
            tokens_issued.append({**form, "auth": request.headers.get("Authorization", "")})
            return web.json_response({"access_token": "tok-1", "token_type": "bearer",
                                      "expires_in": 3600})  # fmt: skip

        async def metrics(request: web.Request) -> web.Response:
            if request.headers.get("Authorization") not in ("Bearer tok-1", "Bearer file-tok"):
                return web.Response(status=403)
            return web.Response(text="protected 1\n")

        app = web.Application()
        app.router.add_post("/token", token)
        app.router.add_get("/metrics", metrics)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        address = f"127.0.0.1:{runner.addresses[0][1]}"
        creds = tmp_path / "creds"
        creds.write_text("file-tok\n")
        oauth = OAuth2(client_id="id", client_secret="sec", scopes=["read", "write"],
                       token_url=f"http://{address}/token")  # fmt: skip
        cfg = h.config(
            h.job("oauth", http=HTTPClientConfig(oauth2=oauth)),
            h.job("bearer", http=HTTPClientConfig(
                authorization=Authorization(credentials_file=str(creds)))),
        )  # fmt: skip
        try:
            await h.start(cfg, {"oauth": [address], "bearer": [address]})
            await h.until(lambda: len(h.select(__name__="protected")) == 2)
            await h.until(lambda: len(h.select(__name__="up", job="oauth")) == 1)
            await h.until(
                lambda: len(next(iter(h.select(job="oauth", __name__="up").values()))) >= 3
            )
            # One token serves many scrapes.
            assert len(tokens_issued) == 1
            assert tokens_issued[0]["grant_type"] == "client_credentials"
            assert tokens_issued[0]["scope"] == "read write"
            assert tokens_issued[0]["auth"].startswith("Basic ")
        finally:
            await h.stop()
            await runner.cleanup()

    scrape(scenario)


def test_honor_timestamps_and_track_timestamps_staleness(scrape: Any) -> None:
    async def scenario(h: Any) -> None:
        body = "explicit 3 1000\n"
        ignore = await h.exporter(body)
        track = await h.exporter(body)
        cfg = h.config(
            h.job("ignore", honor_timestamps=False),
            h.job("track", track_timestamps_staleness=True),
        )
        await h.start(cfg, {"ignore": [ignore.address], "track": [track.address]})
        await h.scrapes(ignore.address, 2)
        await h.scrapes(track.address)
        # honor_timestamps: false stamps the sample with the scrape time instead.
        (samples,) = h.select(__name__="explicit", job="ignore").values()
        ups = next(iter(h.select(__name__="up", job="ignore").values()))
        assert [ts for ts, _ in samples][:2] == [ts for ts, _ in ups][:2]
        # track_timestamps_staleness: a vanished explicit-timestamp series gets a marker.
        track.body = "other 1\n"
        await h.until(lambda: is_stale(
            next(iter(h.select(__name__="explicit", job="track").values()))[-1][1]))  # fmt: skip

    scrape(scenario)
