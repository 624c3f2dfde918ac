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
