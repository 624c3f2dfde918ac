"""Target labels, relabeling, dedup and scheduling phase, as Prometheus computes them."""

from __future__ import annotations

import pytest

from promhub.config.model import RelabelConfig, ScrapeConfig
from promhub.discovery.targetgroup import TargetGroup
from promhub.model.labels import Labels
from promhub.scrape.target import (
    format_duration,
    offset_seed,
    parse_duration,
    targets_from_groups,
)


def group(*targets: dict[str, str], **labels: str) -> TargetGroup:
    return TargetGroup("g", targets, labels)


def test_defaults_become_labels_and_instance_defaults_to_address() -> None:
    cfg = ScrapeConfig(
        job_name="node", scrape_interval=15, scrape_timeout=10, params={"x": ["1", "2"]}
    )
    ts = targets_from_groups(cfg, [group({"__address__": "h:9100", "__meta_x": "m"}, env="prod")])
    (t,) = ts.targets
    assert t.labels == Labels.from_dict({"job": "node", "instance": "h:9100", "env": "prod"})
    assert t.discovered.to_dict() == {
        "__address__": "h:9100",
        "__meta_x": "m",
        "__metrics_path__": "/metrics",
        "__param_x": "1",
        "__scheme__": "http",
        "__scrape_interval__": "15s",
        "__scrape_timeout__": "10s",
        "env": "prod",
        "job": "node",
    }
    assert t.url == "http://h:9100/metrics?x=1&x=2"
    assert (t.interval, t.timeout) == (15, 10)


def test_relabeling_can_rewrite_everything_the_url_is_built_from() -> None:
    cfg = ScrapeConfig(
        job_name="blackbox",
        scrape_interval=60,
        scrape_timeout=10,
        params={"module": ["http_2xx"]},
        relabel_configs=[
            RelabelConfig(source_labels=["__address__"], target_label="__param_target"),
            RelabelConfig(source_labels=["__param_target"], target_label="instance"),
            RelabelConfig(target_label="__address__", replacement="bb:9115"),
            RelabelConfig(target_label="__scheme__", replacement="https"),
            RelabelConfig(target_label="__metrics_path__", replacement="/probe"),
            RelabelConfig(target_label="__scrape_interval__", replacement="30s"),
        ],
    )
    (t,) = targets_from_groups(cfg, [group({"__address__": "example.org"})]).targets
    assert t.url == "https://bb:9115/probe?module=http_2xx&target=example.org"
    assert t.labels.to_dict() == {"instance": "example.org", "job": "blackbox"}
    assert t.interval == 30


def test_dropped_invalid_and_duplicate_targets() -> None:
    cfg = ScrapeConfig(
        job_name="j",
        scrape_interval=10,
        scrape_timeout=5,
        relabel_configs=[
            RelabelConfig(source_labels=["drop"], regex="yes", action="drop"),
            RelabelConfig(
                source_labels=["noaddr"], regex="yes", target_label="__address__", replacement=""
            ),
        ],
    )
    ts = targets_from_groups(
        cfg,
        [
            group({"__address__": "a:1"}, {"__address__": "a:1"}, {"__address__": "b:1"}),
            group({"__address__": "c:1", "drop": "yes"}),
            group({"__address__": "d:1", "noaddr": "yes"}),
        ],
    )
    assert [t.labels.get("instance") for t in ts.targets] == ["a:1", "b:1"]
    assert [d.get("__address__") for d in ts.dropped] == ["c:1", "d:1"]
    assert len(ts.errors) == 1 and "no address" in ts.errors[0]


def test_timeout_longer_than_interval_is_refused() -> None:
    cfg = ScrapeConfig(
        job_name="j",
        scrape_interval=10,
        scrape_timeout=5,
        relabel_configs=[RelabelConfig(target_label="__scrape_timeout__", replacement="1m")],
    )
    ts = targets_from_groups(cfg, [group({"__address__": "a:1"})])
    assert ts.targets == [] and "greater than scrape interval" in ts.errors[0]


def test_target_phase_is_stable_and_evenly_spaced() -> None:
    cfg = ScrapeConfig(job_name="j", scrape_interval=15, scrape_timeout=10)
    targets = targets_from_groups(
        cfg, [group(*({"__address__": f"h{i}:1"} for i in range(200)))]
    ).targets
    seed = offset_seed("host", {})
    now = 1_700_000_000.0
    for t in targets[:5]:
        off = t.offset(seed, now)
        assert 0 <= off < 15
        # The slot is the same phase of every interval: one interval later, same wait.
        assert t.offset(seed, now + 15) == pytest.approx(off)
        assert t.offset(seed, now + 1) == pytest.approx((off - 1) % 15)
    # Targets spread over the interval instead of bunching up at its start.
    phases = sorted(t.offset(seed, now) for t in targets)
    assert phases[0] < 1.5 and phases[-1] > 13.5
    # Another server (other seed) scrapes the same targets at other phases.
    other = offset_seed("other-host", {})
    assert [t.offset(other, now) for t in targets[:5]] != [t.offset(seed, now) for t in targets[:5]]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(15, "15s"), (60, "1m"), (90, "1m30s"), (0.2, "200ms"), (3600, "1h"), (86400 * 8, "1w1d")],
)
def test_durations_print_and_parse_as_prometheus(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds


def test_bad_duration_is_an_error() -> None:
    with pytest.raises(ValueError, match="not a valid duration"):
        parse_duration("10 seconds")
