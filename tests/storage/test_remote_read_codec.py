"""The hand-written remote read codec: round trips and the shapes Go's marshaller writes."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from promhub.model.labels import Labels
from promhub.model.matcher import Matcher
from promhub.storage.interface import SeriesBatch
from promhub.storage.remote_read import (
    ReadQuery,
    RemoteReadError,
    decode_read_request,
    decode_read_response,
    encode_read_request,
    encode_read_response,
)
from tests.ingest.prompb import ReadResponse


def batch(series: dict[Labels, list[tuple[int, float]]]) -> SeriesBatch:
    labels = sorted(series)
    counts = [len(series[ls]) for ls in labels]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    ts = np.array([t for ls in labels for t, _ in series[ls]], dtype=np.int64)
    vs = np.array([v for ls in labels for _, v in series[ls]], dtype=np.float64)
    return SeriesBatch(labels, offsets, ts, vs)


def test_response_round_trip_keeps_every_sample_exactly() -> None:
    a = Labels.from_dict({"__name__": "a", "x": "ü"})
    b = Labels.from_dict({"__name__": "b"})
    edge = [(-(2**62), 1.5), (-1, -0.0), (0, 0.0), (1, float("inf")), (2**40, 1e-300)]
    stale = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
    src = batch({a: edge, b: [(1_700_000_000_000, stale), (1_700_000_015_000, 2.0)]})
    (out,) = decode_read_response(encode_read_response([src]))
    assert out.labels == src.labels
    assert out.offsets.tolist() == src.offsets.tolist()
    assert out.timestamps.tolist() == src.timestamps.tolist()
    assert out.values.view(np.uint64).tolist() == src.values.view(np.uint64).tolist()


def _ld(field: int, payload: bytes) -> bytes:
    return bytes([field << 3 | 2, len(payload)]) + payload


def test_samples_without_default_fields_decode() -> None:
    # Go leaves out value 0.0 and timestamp 0; series may come unsorted.
    label = _ld(1, _ld(1, b"__name__") + _ld(2, b"z"))
    s_no_value = _ld(2, b"\x10\x80\x01")  # timestamp 128, no value
    s_no_ts = _ld(2, b"\x09" + struct.pack("<d", 3.0))  # value 3, timestamp 0
    ts_z = _ld(1, label + s_no_ts + s_no_value)
    label_a = _ld(1, _ld(1, b"__name__") + _ld(2, b"a"))
    ts_a = _ld(1, label_a + _ld(2, b"\x09" + struct.pack("<d", 1.0) + b"\x10\x05"))
    (out,) = decode_read_response(_ld(1, ts_z + ts_a))
    assert [ls.name for ls in out.labels] == ["a", "z"]
    assert out.timestamps.tolist() == [5, 0, 128]
    assert out.values.tolist() == [1.0, 3.0, 0.0]


def test_malformed_response_is_an_error() -> None:
    good = encode_read_response([batch({Labels.from_dict({"__name__": "a"}): [(1, 1.0)]})])
    with pytest.raises(RemoteReadError, match="malformed protobuf"):
        decode_read_response(good[:-3])


def test_request_round_trip() -> None:
    ms = [Matcher.new("=", "__name__", "up"), Matcher.new("!~", "job", "a|b")]
    q = ReadQuery(-5, 1_700_000_000_000, ms)
    queries, accepted = decode_read_request(encode_read_request([q, q]))
    assert accepted == [0]
    assert queries == [q, q]


STALE = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]


def test_large_answer_round_trips_past_the_receivers_limits() -> None:
    # 2.1M samples: more than remote_write's 2M-per-request default, which must not apply
    # to a query's answer. Series go on the wire out of order and come back sorted.
    n_series, n_samples = 2_100, 1_000
    rng = np.random.default_rng(7)
    labels = [
        Labels.from_dict({"__name__": "m", "i": f"{i:05d}", "ü": "ñ" * (i % 3)})
        for i in range(n_series)
    ]
    ts = np.tile(np.arange(n_samples, dtype=np.int64) * 15_000 - 3_000_000, n_series)
    vals = rng.standard_normal(n_series * n_samples)
    vals[::997] = STALE
    vals[1::1_009] = np.inf
    vals[2::1_013] = -np.inf
    vals[3::1_019] = np.nan
    vals[4::1_021] = 0.0
    shuffled = rng.permutation(n_series)
    offsets = np.arange(n_series + 1, dtype=np.int64) * n_samples
    idx = (shuffled[:, None] * n_samples + np.arange(n_samples)[None, :]).reshape(-1)
    src = SeriesBatch([labels[i] for i in shuffled.tolist()], offsets, ts[idx], vals[idx])

    (out,) = decode_read_response(encode_read_response([src]))

    order = sorted(range(n_series), key=labels.__getitem__)
    assert out.labels == [labels[i] for i in order]
    assert out.offsets.tolist() == offsets.tolist()
    want = (np.array(order)[:, None] * n_samples + np.arange(n_samples)[None, :]).reshape(-1)
    assert np.array_equal(out.timestamps, ts[want])
    # Bit for bit: the stale marker's NaN payload and -0.0/±Inf survive.
    assert np.array_equal(out.values.view(np.uint64), vals[want].view(np.uint64))


def test_results_stay_aligned_with_queries_and_empty_series_are_dropped() -> None:
    a = Labels.from_dict({"__name__": "a"})
    b = Labels.from_dict({"__name__": "b"})
    # Series with no samples (Prometheus sends those), first and between two others.
    e1, e2 = Labels.from_dict({"__name__": "e1"}), Labels.from_dict({"__name__": "e2"})
    mixed = SeriesBatch(
        [e1, a, e2, b],
        np.array([0, 0, 2, 2, 3], dtype=np.int64),
        np.array([-20, -10, 5], dtype=np.int64),
        np.array([1.0, 2.0, 3.0]),
    )
    empty = SeriesBatch([], np.zeros(1, dtype=np.int64), np.zeros(0, np.int64), np.zeros(0))
    first, middle, last = decode_read_response(encode_read_response([mixed, empty, mixed]))
    assert middle.labels == [] and middle.timestamps.tolist() == []
    for out in (first, last):
        assert out.labels == [a, b]
        assert out.offsets.tolist() == [0, 2, 3]
        assert out.timestamps.tolist() == [-20, -10, 5]
        assert out.values.tolist() == [1.0, 2.0, 3.0]
    assert decode_read_response(b"") == []


def test_native_histograms_are_skipped() -> None:
    label = _ld(1, _ld(1, b"__name__") + _ld(2, b"h"))
    histogram = _ld(4, b"\x08\x05")  # TimeSeries.histograms: opaque to a float reader
    only_histogram = _ld(1, label + histogram)
    label_f = _ld(1, _ld(1, b"__name__") + _ld(2, b"f"))
    both = _ld(1, label_f + histogram + _ld(2, b"\x09" + struct.pack("<d", 4.0) + b"\x10\x07"))
    (out,) = decode_read_response(_ld(1, only_histogram + both))
    assert out.labels == [Labels.from_dict({"__name__": "f"})]
    assert out.timestamps.tolist() == [7]
    assert out.values.tolist() == [4.0]


def test_duplicate_and_unsorted_samples_are_ordered_by_time() -> None:
    label = _ld(1, _ld(1, b"__name__") + _ld(2, b"x"))

    def sample(t: int, v: float) -> bytes:
        return _ld(2, b"\x09" + struct.pack("<d", v) + b"\x10" + bytes([t]))

    (out,) = decode_read_response(_ld(1, _ld(1, label + sample(9, 1.0) + sample(3, 2.0))))
    assert out.timestamps.tolist() == [3, 9]
    assert out.values.tolist() == [2.0, 1.0]


SAMPLE = _ld(2, b"\x10\x01")  # timestamp 1, value 0.0


@pytest.mark.parametrize(
    ("body", "what"),
    [
        # A Sample whose timestamp varint runs off the end of the Sample.
        (_ld(1, _ld(1, _ld(2, b"\x10\x80"))), "truncated varint"),
        # TimeSeries.samples sent as a varint instead of a message.
        (_ld(1, _ld(1, b"\x10\x01")), "wrong wire type"),
        # A label value that is not UTF-8.
        (_ld(1, _ld(1, _ld(1, _ld(1, b"a") + _ld(2, b"\xff")) + SAMPLE)), "not valid UTF-8"),
    ],
    ids=["truncated", "wire-type", "utf8"],
)
def test_malformed_query_result_names_the_problem(body: bytes, what: str) -> None:
    with pytest.raises(RemoteReadError, match=f"malformed protobuf: .*{what}.*query result 0"):
        decode_read_response(body)


def test_encoded_response_parses_with_protobuf() -> None:
    # Timestamps of one era (every varint 6 bytes) and of mixed lengths, and an empty
    # series first: what the protobuf library reads must be exactly what was encoded.
    empty = Labels.from_dict({"__name__": "empty"})
    a = Labels.from_dict({"__name__": "a", "zone": "é"})
    era = np.array([1_700_000_000_000, 1_700_000_015_000, 1_700_000_030_000], np.int64)
    mixed = np.array([-5, 0, 127, 128, 2**62], np.int64)
    batches = [
        SeriesBatch([empty, a], np.array([0, 0, 3]), era, np.array([1.0, STALE, -np.inf])),
        SeriesBatch([a], np.array([0, 5]), mixed, np.array([0.0, -0.0, 1e-300, np.inf, 2.5])),
    ]
    m = ReadResponse()
    m.ParseFromString(encode_read_response(batches))
    assert len(m.results) == 2
    for res, b in zip(m.results, batches, strict=True):
        got = [
            (
                Labels.from_pairs((lb.name, lb.value) for lb in s.labels),
                [(x.timestamp, struct.pack("<d", x.value)) for x in s.samples],
            )
            for s in res.timeseries
        ]
        offs = b.offsets.tolist()
        want = [
            (
                ls,
                [
                    (int(b.timestamps[j]), struct.pack("<d", float(b.values[j])))
                    for j in range(offs[i], offs[i + 1])
                ],
            )
            for i, ls in enumerate(b.labels)
        ]
        assert got == want


def test_labels_in_any_order_with_empty_values_are_normalised() -> None:
    def label(name: bytes, value: bytes) -> bytes:
        return _ld(1, _ld(1, name) + _ld(2, value))

    wire = label(b"zone", b"") + label(b"job", b"j") + label(b"__name__", b"m")
    (out,) = decode_read_response(_ld(1, _ld(1, wire + SAMPLE)))
    assert out.labels == [Labels.from_dict({"__name__": "m", "job": "j"})]
    assert list(out.labels[0]) == [("__name__", "m"), ("job", "j")]
