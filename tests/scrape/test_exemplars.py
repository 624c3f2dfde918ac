"""Scrape loops store the exemplars of successful scrapes, under the stored series' labels."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry

from promhub.config.model import RelabelConfig
from promhub.model.labels import Labels
from promhub.model.matcher import Matcher
from promhub.scrape.manager import ScrapeManager
from promhub.tsdb.exemplars import ExemplarSeries, ExemplarStorage
from tests.scrape.conftest import Harness

OM = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def body(*exemplars: str, tail: str = "") -> str:
    lines = ["# TYPE jobs counter"]
    for i, ex in enumerate(exemplars):
        lines.append(f'jobs_total{{queue="q{i}"}} {i + 1}' + (f" # {ex}" if ex else ""))
    return "\n".join(lines) + "\n" + tail + "# EOF\n"


def everything(store: ExemplarStorage) -> list[ExemplarSeries]:
    return store.select(-(2**62), 2**62, [[Matcher.new("=~", "__name__", ".+")]])


def with_store(h: Harness, size: int = 100) -> ExemplarStorage:
    store = ExemplarStorage(size)
    h.manager = ScrapeManager(h.db, registry=CollectorRegistry(), exemplars=store)
    return store


def test_exemplars_stored_once_with_series_labels_and_scrape_time(scrape: Any) -> None:
    async def scenario(h: Harness) -> None:
        store = with_store(h)
        e = await h.exporter(
            body('{trace_id="a"} 1', '{trace_id="b"} 2 1700000000.5'), content_type=OM
        )
        await h.start(h.config(h.job("app")), {"app": [e.address]})
        await h.scrapes(e.address, 3)
        got = everything(store)
        assert [s.series_labels for s in got] == [
            Labels.from_dict(
                {"__name__": "jobs_total", "instance": e.address, "job": "app", "queue": q}
            )
            for q in ("q0", "q1")
        ]
        # The same exemplar re-exposed by every scrape is stored once.
        assert [len(s.labels) for s in got] == [1, 1]
        assert got[0].labels[0] == Labels.from_dict({"trace_id": "a"})
        # Without its own timestamp an exemplar gets its scrape's: the first one's.
        first_up = min(t for samples in h.select(__name__="up").values() for t, _ in samples)
        assert got[0].timestamps.tolist() == [first_up]
        assert got[1].timestamps.tolist() == [1_700_000_000_500]
        assert got[1].values.tolist() == [2.0]

    scrape(scenario)


def test_failed_scrapes_store_no_exemplars(scrape: Any) -> None:
    async def scenario(h: Harness) -> None:
        store = with_store(h)
        e = await h.exporter(
            body('{trace_id="x"} 1 1700000000', tail="bad line here\n"), content_type=OM
        )
        cfg = h.job("app", sample_limit=3)
        await h.start(h.config(cfg), {"app": [e.address]})
        await h.scrapes(e.address, 2)
        assert h.ups(e.address)[-1] == 0.0
        assert everything(store) == []
        # Over the sample limit: the scrape fails, and its exemplars with it.
        e.body = body(*[f'{{trace_id="t{i}"}} 1 1700000000' for i in range(4)])
        n = len(h.ups(e.address))
        await h.scrapes(e.address, n + 2)
        assert h.ups(e.address)[-1] == 0.0
        assert everything(store) == []
        e.body = body('{trace_id="ok"} 1 1700000001')
        await h.until(lambda: len(everything(store)) == 1)
        assert everything(store)[0].labels == [Labels.from_dict({"trace_id": "ok"})]

    scrape(scenario)


def test_exemplars_of_dropped_series_are_dropped_too(scrape: Any) -> None:
    async def scenario(h: Harness) -> None:
        store = with_store(h)
        e = await h.exporter(
            body('{trace_id="a"} 1 1700000000', '{trace_id="b"} 1 1700000000'), content_type=OM
        )
        drop = RelabelConfig(source_labels=["queue"], regex="q0", action="drop")
        await h.start(h.config(h.job("app", metric_relabel_configs=[drop])), {"app": [e.address]})
        await h.scrapes(e.address, 2)
        got = everything(store)
        assert [s.series_labels.get("queue") for s in got] == ["q1"]

    scrape(scenario)


def test_without_exemplars_or_storage_nothing_changes(scrape: Any) -> None:
    async def scenario(h: Harness) -> None:
        store = with_store(h, size=0)
        e = await h.exporter(body('{trace_id="a"} 1'), content_type=OM)
        await h.start(h.config(h.job("app")), {"app": [e.address]})
        await h.scrapes(e.address, 2)
        assert h.ups(e.address)[-1] == 1.0
        assert everything(store) == [] and len(store) == 0

    scrape(scenario)
