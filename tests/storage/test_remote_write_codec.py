"""The hand-written WriteRequest encoder, checked by the protobuf library's own parser."""

from __future__ import annotations

import math
import struct

import numpy as np

from promhub.model.labels import Labels
from promhub.storage.remote.codec import (
    compress,
    decode_write_request,
    decompress,
    encode_labels,
    encode_write_request,
)
from tests.ingest.prompb import WriteRequest

STALE = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]


def test_encoding_parses_with_protobuf_exactly() -> None:
    series = [
        Labels.from_dict({"__name__": "up", "job": "x" * 20_000}),  # 3-byte lengths
        Labels.from_dict({"__name__": "température", "ville": "Zürich"}),
        Labels.from_dict({"__name__": "edge"}),
    ]
    ts = np.array([1_700_000_000_123, 0, 1, -5, 2**62, 127, 128, 1_700_000_000_000], np.int64)
    vals = np.array([1.5, math.inf, -math.inf, -0.0, STALE, 1e-300, 2.0**70, 0.0], np.float64)
    counts = np.array([1, 4, 3], np.int64)
    data = encode_write_request([encode_labels(ls) for ls in series], counts, ts, vals)
    m = WriteRequest()
    m.ParseFromString(data)
    assert len(m.timeseries) == 3
    i = 0
    for ls, c, pts in zip(series, counts.tolist(), m.timeseries, strict=True):
        assert [(lb.name, lb.value) for lb in pts.labels] == list(ls)
        for s in pts.samples:
            assert s.timestamp == ts[i]
            assert struct.pack("<d", s.value) == struct.pack("<d", vals[i])  # bit-exact
            i += 1
        assert len(pts.samples) == c
    assert i == len(ts)
    # Our decoder (used by tests) agrees, through snappy.
    decoded = decode_write_request(decompress(compress(data)))
    assert [ls for ls, _ in decoded] == series
    assert [t for _, p in decoded for t, _ in p] == ts.tolist()
