"""The group store, the protobuf decoder and the ``pushgateway:`` config, in process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from promhub.config.loader import load_config_text
from promhub.config.model import ConfigError
from promhub.ingest.persistence import Journal, load_groups, save_groups
from promhub.ingest.pushgateway import GroupStore, PushError, PushLimits
from promhub.model.protobuf_exposition import ProtobufError, decode_delimited
from tests.ingest.metrics_proto import CONTENT_TYPE, MetricFamily, delimited, sample_families


def series(store: GroupStore, job: str) -> dict[str, float]:
    g = store.get((("job", job),))
    assert g is not None
    out = {}
    for f in g.families.values():
        for i, v in zip(f.idx.tolist(), f.values.tolist(), strict=True):
            out[str(g.table[i])] = v
    return out


def test_post_replaces_same_named_families_put_replaces_all() -> None:
    s = GroupStore()
    s.push({"job": "j"}, b"a 1\nb 2\n", "", replace=True, now=100)
    s.push({"job": "j"}, b'a{x="1"} 3\n', "", replace=False, now=200)
    got = series(s, "j")
    assert got['a{job="j", x="1"}'] == 3 and 'a{job="j"}' not in got and got['b{job="j"}'] == 2
    assert got['push_time_seconds{job="j"}'] == 200
    s.push({"job": "j"}, b"c 1\n", "", replace=True, now=300)
    assert set(series(s, "j")) == {
        'c{job="j"}',
        'push_time_seconds{job="j"}',
        'push_failure_time_seconds{job="j"}',
    }


def test_repeated_pushes_reuse_the_series_table() -> None:
    s = GroupStore()
    body = b"".join(b'm{i="%d"} %d\n' % (i, i) for i in range(100))
    for k in range(5):
        s.push({"job": "j"}, body, "", replace=True, now=k)
    g = s.get((("job", "j"),))
    assert g is not None and len(g.table) == 102  # 100 series + the two push gauges


def test_malformed_protobuf_names_the_message() -> None:
    good = delimited(*sample_families())
    with pytest.raises(ProtobufError, match="MetricFamily message 5"):
        decode_delimited(good + b"\x09\x0a\x03abc")
    with pytest.raises(ProtobufError, match="truncated varint"):
        decode_delimited(b"\x80")
    s = GroupStore()
    with pytest.raises(PushError, match="protobuf parsing error"):
        s.push({"job": "j"}, good[:-3], CONTENT_TYPE, replace=True)
    assert len(s) == 0


def test_protobuf_timestamps_and_bad_names_are_rejected() -> None:
    f = MetricFamily(name="with_ts", type=1)
    m = f.metric.add()
    m.gauge.value = 1
    m.timestamp_ms = 5
    s = GroupStore()
    with pytest.raises(PushError, match="must not have timestamps"):
        s.push({"job": "j"}, delimited(f), CONTENT_TYPE, replace=True, now=10)
    g = s.get((("job", "j"),))
    assert g is not None and g.failure_time == 10 and g.push_time == 0
    bad = MetricFamily(name="bad-name", type=1)
    bad.metric.add().gauge.value = 1
    with pytest.raises(PushError, match="invalid metric name"):
        s.push({"job": "j"}, delimited(bad), CONTENT_TYPE, replace=True)


def test_limits() -> None:
    s = GroupStore(PushLimits(series=3, body_bytes=100))
    with pytest.raises(PushError, match="4 series, more than the limit of 3"):
        s.push({"job": "j"}, b"a 1\nb 1\nc 1\nd 1\n", "", replace=True)
    with pytest.raises(PushError, match="exceeds the limit of 100 bytes"):
        s.push({"job": "j"}, b"#" * 101, "", replace=True)
    assert len(s) == 0


def test_ttl_expiry_and_persistence_round_trip(tmp_path: Path) -> None:
    s = GroupStore()
    s.push({"job": "short"}, b"a 1\n", "", replace=True, ttl=10, now=1000)
    s.push({"job": "long", "x": ""}, b"b NaN\nc -Inf\n", "", replace=True, now=1000)
    save_groups(s, tmp_path)
    restored = GroupStore()
    assert load_groups(restored, tmp_path) == (2, 1)
    assert series(restored, "short") == series(s, "short")
    g = restored.get((("job", "long"), ("x", "")))
    assert g is not None
    vals = {
        g.table[i].name: v
        for f in g.families.values()
        for i, v in zip(f.idx, f.values, strict=True)
    }
    assert np.isnan(vals["b"]) and vals["c"] == -np.inf
    assert restored.expire(now=1009) == []
    assert restored.expire(now=1011) == [(("job", "short"),)]
    assert restored.get((("job", "long"), ("x", ""))) is not None


def test_corrupt_persistence_file_is_set_aside(tmp_path: Path) -> None:
    (tmp_path / "groups.json").write_text("{not json")
    s = GroupStore()
    assert load_groups(s, tmp_path) == (0, 1)
    assert (tmp_path / "groups.json.corrupt").exists()


def test_journal_replays_changes_after_the_snapshot_and_ignores_a_torn_tail(
    tmp_path: Path,
) -> None:
    s = GroupStore()
    journal = Journal(tmp_path, 1)
    s.journal = journal
    s.push({"job": "a"}, b"x 1\n", "", replace=True, now=10)
    save_groups(s, tmp_path, journal)  # snapshot, continue in journal.2
    s.push({"job": "a"}, b"y 2\n", "", replace=False, now=20)
    s.push({"job": "b"}, b"z 3\n", "", replace=True, now=20)
    s.delete({"job": "b"})
    with pytest.raises(PushError):
        s.push({"job": "c"}, b"t 1 5\n", "", replace=True, now=30)  # records a failure
    s.push({"job": "d"}, b"w 4\n", "", replace=True, now=40)
    journal.close()
    assert not (tmp_path / "journal.1").exists()
    path = tmp_path / "journal.2"
    path.write_bytes(path.read_bytes()[:-3])  # the last push was torn by a crash
    restored = GroupStore()
    assert load_groups(restored, tmp_path) == (2, 3)
    assert series(restored, "a") == series(s, "a")
    c = restored.get((("job", "c"),))
    assert c is not None and c.failure_time == 30
    assert restored.get((("job", "b"),)) is None and restored.get((("job", "d"),)) is None


def test_pushgateway_config_section() -> None:
    cfg = load_config_text("pushgateway:\n  default_ttl: 1h\n  series_limit: 10\n")
    assert cfg.pushgateway.default_ttl == 3600 and cfg.pushgateway.series_limit == 10
    with pytest.raises(ConfigError, match=r"p\.yml:3: field pushgateway\.default_ttl"):
        load_config_text("global: {}\npushgateway:\n  default_ttl: soon\n", "p.yml")
    with pytest.raises(ConfigError, match=r"p\.yml:2: field pushgateway\.ttl: not found"):
        load_config_text("pushgateway:\n  ttl: 1h\n", "p.yml")
