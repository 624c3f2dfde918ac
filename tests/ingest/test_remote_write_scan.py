"""The WriteRequest scanner: the C extension and its pure-Python twin agree with each
other and with the protobuf runtime, on generated and on hand-made edge-case input."""

from __future__ import annotations

import contextlib
import math
import struct
import subprocess
import sys
from pathlib import Path

import cramjam
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promhub.ingest import writerequest as wr
from tests.ingest.prompb import MESSAGES, MESSAGES_V2, write_request, write_request_v2

STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]


def scan_both(
    data: bytes, cache: dict[bytes, int] | None, v2: bool = False, **limits: int
) -> wr.WriteRequestScan:
    """Scan with both implementations, assert identical output (or identical errors)."""
    py_err: wr.DecodeError | None = None
    c_err: wr.DecodeError | None = None
    py = c = None
    py_scan, c_scan = (wr.scan_v2_python, wr.scan_v2) if v2 else (wr.scan_python, wr.scan)
    try:
        py = py_scan(data, dict(cache) if cache is not None else None, **limits)
    except wr.DecodeError as e:
        py_err = e
    if not wr.HAVE_EXTENSION:
        if py_err:
            raise py_err
        assert py is not None
        return py
    try:
        c = c_scan(data, dict(cache) if cache is not None else None, **limits)
    except wr.DecodeError as e:
        c_err = e
    assert (type(py_err), str(py_err)) == (type(c_err), str(c_err))
    if py_err:
        raise py_err
    assert py is not None and c is not None
    assert np.array_equal(py.refs, c.refs)
    assert py.misses == c.misses
    assert np.array_equal(py.sample_series, c.sample_series)
    assert np.array_equal(py.timestamps, c.timestamps)
    # Bit patterns, so NaNs (and the stale marker's payload) compare too.
    assert np.array_equal(py.values.view(np.uint64), c.values.view(np.uint64))
    assert py.exemplars == c.exemplars
    assert py.histograms == c.histograms
    assert py.metadata == c.metadata
    for a, b in ((py.created, c.created), (py.symbols, c.symbols)):
        assert (a is None and b is None) or np.array_equal(a, b)  # type: ignore[arg-type]
    for _, key in c.misses:
        assert labels_both(key) == wr.decode_labels_python(key)
    return c


def labels_both(key: bytes) -> list[tuple[str, str]]:
    """decode_labels with both implementations: identical pairs or identical errors."""
    results = []
    for fn in (wr.decode_labels, wr.decode_labels_python):
        try:
            results.append(fn(key))
        except wr.DecodeError as e:
            results.append(str(e))
    assert results[0] == results[1]
    if isinstance(results[0], str):
        raise wr.DecodeError(results[0])
    return results[0]


names = st.text(alphabet="abcxyz_", min_size=1, max_size=6)
values = st.text(max_size=8)
floats = st.floats(allow_nan=True, allow_infinity=True) | st.just(STALE_NAN)
samples = st.lists(st.tuples(st.integers(-(2**63), 2**63 - 1), floats), min_size=0, max_size=4)
series = st.lists(
    st.tuples(st.dictionaries(names, values, max_size=4), samples), min_size=0, max_size=6
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(series, st.data())
def test_generated_requests_scan_like_the_protobuf_runtime(
    ser: list[tuple[dict[str, str], list[tuple[int, float]]]], data: st.DataObject
) -> None:
    req = write_request(ser)
    body = req.SerializeToString()
    # Warm the cache with a random subset of the series' label bytes.
    first = scan_both(body, None)
    keys = [k for _, k in first.misses]
    chosen = data.draw(st.lists(st.sampled_from(keys), unique=True) if keys else st.just([]))
    cache = {k: 1000 + i for i, k in enumerate(chosen)}
    got = scan_both(body, cache)
    assert got.num_series == len(req.timeseries)
    exp_ts = [s.timestamp for t in req.timeseries for s in t.samples]
    exp_vals = [s.value for t in req.timeseries for s in t.samples]
    exp_sidx = [i for i, t in enumerate(req.timeseries) for _ in t.samples]
    assert got.timestamps.tolist() == exp_ts
    assert got.sample_series.tolist() == exp_sidx
    assert np.array_equal(got.values.view(np.uint64), np.array(exp_vals).view(np.uint64))
    by_index = dict(got.misses)
    for i, t in enumerate(req.timeseries):
        pairs = [(lb.name, lb.value) for lb in t.labels]
        assert wr.decode_labels(keys[i]) == pairs
        if keys[i] in cache:
            assert got.refs[i] == cache[keys[i]] and i not in by_index
        else:
            assert got.refs[i] == -1 and by_index[i] == keys[i]


def test_hits_return_the_cached_ref_and_misses_the_label_bytes() -> None:
    req = write_request([({"__name__": "a"}, [(1, 1.0)]), ({"__name__": "b"}, [(2, 2.0)])])
    body = req.SerializeToString()
    cold = scan_both(body, {})
    assert cold.refs.tolist() == [-1, -1]
    cache = {cold.misses[0][1]: 7}
    warm = scan_both(body, cache)
    assert warm.refs.tolist() == [7, -1]
    assert [i for i, _ in warm.misses] == [1]


def test_special_values_and_extreme_timestamps_survive_bit_exact() -> None:
    vals = [STALE_NAN, math.nan, math.inf, -math.inf, -0.0, 5e-324]
    tss = [-(2**63), -1, 0, 1, 2**63 - 1, 1_700_000_000_000]
    req = write_request([({"__name__": "x"}, list(zip(tss, vals, strict=True)))])
    got = scan_both(req.SerializeToString(), None)
    assert got.timestamps.tolist() == tss
    assert got.values.view(np.uint64).tolist() == np.array(vals).view(np.uint64).tolist()


def test_missing_fields_default_to_zero_and_unknown_fields_are_skipped() -> None:
    # TimeSeries{labels, sample{} (no value, no timestamp), field 9 varint, field 10 fixed32}
    label = b"\x0a\x04" + b"\x0a\x02ab"  # Label{name:"ab"}
    ts_msg = label + b"\x12\x00" + b"\x48\x05" + b"\x55\x01\x02\x03\x04"
    body = b"\x0a" + bytes([len(ts_msg)]) + ts_msg + b"\x10\x01"  # + unknown field 2
    got = scan_both(body, None)
    assert got.timestamps.tolist() == [0] and got.values.tolist() == [0.0]
    assert wr.decode_labels(got.misses[0][1]) == [("ab", "")]


def test_labels_split_by_samples_form_the_same_key_as_contiguous_ones() -> None:
    la = b"\x0a\x0e\x0a\x08__name__\x12\x02up"
    lb = b"\x0a\x08\x0a\x03job\x12\x01a"
    sample = b"\x12\x02\x10\x05"  # Sample{timestamp: 5}
    split = la + sample + lb
    joined = la + lb + sample
    a = scan_both(b"\x0a" + bytes([len(split)]) + split, None)
    b = scan_both(b"\x0a" + bytes([len(joined)]) + joined, None)
    assert a.misses == b.misses
    assert wr.decode_labels(a.misses[0][1]) == [("__name__", "up"), ("job", "a")]


def test_exemplars_histograms_and_metadata_are_located() -> None:
    req = write_request([({"__name__": "h"}, [(1, 1.0)])])
    ex = req.timeseries[0].exemplars.add(value=0.5, timestamp=3)
    ex.labels.add(name="trace_id", value="abc")
    req.timeseries[0].histograms.add(count_int=3, sum=1.5, timestamp=4)
    md = req.metadata.add()
    md.type, md.metric_family_name, md.help, md.unit = 1, "h", "help text", "seconds"
    body = req.SerializeToString()
    got = scan_both(body, None)
    assert len(got.histograms) == 1 and got.histograms[0][0] == 0
    (i, a, b) = got.exemplars[0]
    assert i == 0 and wr.decode_exemplar(body, a, b) == ([("trace_id", "abc")], 0.5, 3)
    assert got.metadata[0][0] == -1  # 1.0 metadata belongs to the request, not a series
    name, meta = wr.decode_metadata(body, *got.metadata[0][1:])
    assert (name, meta.type, meta.help, meta.unit) == ("h", "counter", "help text", "seconds")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\x0a", "truncated varint at byte 1"),
        (b"\x0a\x05\x0a\x01", "length exceeds its message at byte 1"),
        (b"\x08", "wrong wire type at byte 0"),  # timeseries as a varint
        (b"\x0b", "wrong wire type at byte 0"),  # timeseries as a group
        (b"\x2b", "unsupported wire type at byte 0"),  # an unknown field as a group
        (b"\x00\x01", "invalid field number at byte 0"),
        (b"\x0a\x03\x12\x01\x09", "truncated fixed64 at byte 5"),  # sample value cut short
        (b"\x0a\x04\x12\x02\x10\x80", "truncated varint at byte 5"),
        (b"\x38" + b"\xff" * 9 + b"\x02", "varint overflows 64 bits at byte 1"),
        (b"\x0a\x02\x12\x00" + b"\x35\x00", "truncated fixed32 at byte 5"),
    ],
)
def test_malformed_input_fails_identically_with_the_position(body: bytes, message: str) -> None:
    with pytest.raises(wr.DecodeError) as e:
        scan_both(body, None)
    assert str(e.value) == f"malformed protobuf: {message}"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_arbitrary_bytes_never_crash_and_both_agree(data: bytes) -> None:
    with contextlib.suppress(wr.DecodeError):
        scan_both(data, {})


@settings(max_examples=100, deadline=None)
@given(series, st.integers(0, 200), st.binary(min_size=1, max_size=3))
def test_corrupted_requests_never_crash_and_both_agree(
    ser: list[tuple[dict[str, str], list[tuple[int, float]]]], at: int, junk: bytes
) -> None:
    body = bytearray(write_request(ser).SerializeToString())
    at = at % (len(body) + 1)
    body[at : at + len(junk)] = junk
    with contextlib.suppress(wr.DecodeError):
        scan_both(bytes(body), {})


def test_invalid_utf8_in_a_label_is_a_decode_error() -> None:
    key = b"\x0a\x04\x0a\x02\xff\xfe"
    with pytest.raises(wr.DecodeError, match="not valid UTF-8 at byte 4"):
        labels_both(key)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40))
def test_label_decoding_agrees_on_arbitrary_bytes(key: bytes) -> None:
    with contextlib.suppress(wr.DecodeError):
        labels_both(b"\x0a" + bytes([len(key)]) + key)
    with contextlib.suppress(wr.DecodeError):
        labels_both(key)


def test_decompress_checks_the_announced_size_before_decoding() -> None:
    raw = MESSAGES["WriteRequest"]().SerializeToString() + b"\x0a\x00" * 1000
    body = bytes(cramjam.snappy.compress_raw(raw))
    assert wr.decompress(body, 10_000) == raw
    with pytest.raises(wr.DecodeError, match="exceeds the limit of 100 bytes"):
        wr.decompress(body, 100)
    with pytest.raises(wr.DecodeError, match="snappy"):
        wr.decompress(b"\x10garbage", 10_000)


def test_without_the_extension_the_python_twin_serves(tmp_path: Path) -> None:
    """An install without a compiler still decodes requests (just slower)."""
    script = (
        "import sys; sys.modules['promhub.ingest._rwscan'] = None\n"
        "from promhub.ingest import writerequest as wr\n"
        "from tests.ingest.prompb import write_request\n"
        "assert not wr.HAVE_EXTENSION\n"
        "body = write_request([({'__name__': 'a'}, [(5, 1.5)])]).SerializeToString()\n"
        "got = wr.scan(body, {})\n"
        "print(wr.decode_labels(got.misses[0][1]), got.timestamps.tolist())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[('__name__', 'a')] [5]"


# -- remote write 2.0 -----------------------------------------------------------------------


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(series, st.integers(-(2**40), 2**40))
def test_v2_requests_scan_like_the_protobuf_runtime(
    ser: list[tuple[dict[str, str], list[tuple[int, float]]]], created: int
) -> None:
    req, _ = write_request_v2(ser, created=created)
    body = req.SerializeToString()
    got = scan_both(body, None, v2=True)
    assert got.num_series == len(ser)
    assert got.timestamps.tolist() == [t for _, ss in ser for t, _ in ss]
    assert got.created is not None and got.created.tolist() == [created] * len(ser)
    for (_i, key), (labels, _) in zip(got.misses, ser, strict=True):
        assert wr.decode_labels(key) == sorted(labels.items())
    # The keys are stable across requests with other symbol tables: the cache hits.
    cache = {k: 50 + i for i, k in got.misses}
    other, _ = write_request_v2([({"zzz": "first"}, [])] + ser)  # shifts every symbol ref
    warm = scan_both(other.SerializeToString(), cache, v2=True)
    assert warm.refs[1:].tolist() == [cache[k] for _, k in got.misses]


def test_v2_unpacked_label_refs_and_symbols_after_series_are_accepted() -> None:
    # TimeSeries{labels_refs: 1, 2 (unpacked), samples{ts 9}}, then symbols "", "__name__", "up"
    ts = b"\x08\x01\x08\x02" + b"\x12\x02\x10\x09"
    body = b"\x2a" + bytes([len(ts)]) + ts + b"\x22\x00" + b"\x22\x08__name__" + b"\x22\x02up"
    got = scan_both(body, None, v2=True)
    assert wr.decode_labels(got.misses[0][1]) == [("__name__", "up")]
    assert got.timestamps.tolist() == [9]


@pytest.mark.parametrize(
    ("ts", "message"),
    [
        (b"\x0a\x01\x01", "odd number of label references in a series at byte 2"),
        (b"\x0a\x02\x00\x07", "label reference out of the symbol table in a series at byte 2"),
        (b"\x0a\x02\x00\x80", "truncated varint at byte 5"),
    ],
)
def test_v2_bad_label_refs_fail_identically(ts: bytes, message: str) -> None:
    body = b"\x2a" + bytes([len(ts)]) + ts + b"\x22\x00"
    with pytest.raises(wr.DecodeError) as e:
        scan_both(body, None, v2=True)
    assert str(e.value) == f"malformed protobuf: {message}"


@settings(max_examples=100, deadline=None)
@given(series, st.integers(0, 200), st.binary(min_size=1, max_size=3))
def test_v2_corrupted_requests_never_crash_and_both_agree(
    ser: list[tuple[dict[str, str], list[tuple[int, float]]]], at: int, junk: bytes
) -> None:
    body = bytearray(write_request_v2(ser)[0].SerializeToString())
    at = at % (len(body) + 1)
    body[at : at + len(junk)] = junk
    with contextlib.suppress(wr.DecodeError):
        scan_both(bytes(body), {}, v2=True)


def test_v2_exemplars_and_metadata_resolve_symbols() -> None:
    req, syms = write_request_v2([({"__name__": "h_total"}, [(1, 1.0)])])
    t = req.timeseries[0]
    ex = t.exemplars.add(value=0.25, timestamp=4)
    ex.labels_refs.extend([syms.ref("trace_id"), syms.ref("t1")])
    t.metadata.type = 1
    t.metadata.help_ref = syms.ref("Requests.")
    t.metadata.unit_ref = 0
    del req.symbols[:]
    req.symbols.extend(syms.table)
    body = req.SerializeToString()
    got = scan_both(body, None, v2=True)
    assert got.symbols is not None
    (i, a, b) = got.exemplars[0]
    assert wr.decode_exemplar_v2(body, a, b, got.symbols) == ([("trace_id", "t1")], 0.25, 4)
    (i, a, b) = got.metadata[0]
    md = wr.decode_metadata_v2(body, a, b, got.symbols)
    assert (i, md.type, md.help, md.unit) == (0, "counter", "Requests.", "")
    assert MESSAGES_V2["Request"].FromString(body).timeseries[0].metadata.type == 1


@settings(max_examples=100, deadline=None)
@given(series, st.integers(1, 5), st.integers(1, 8), st.booleans())
def test_series_and_sample_limits_stop_both_scanners_at_the_same_point(
    ser: list[tuple[dict[str, str], list[tuple[int, float]]]],
    max_series: int,
    max_samples: int,
    v2: bool,
) -> None:
    body = (write_request_v2(ser)[0] if v2 else write_request(ser)).SerializeToString()
    n_samples = sum(len(ss) for _, ss in ser)
    try:
        got = scan_both(body, None, v2, max_series=max_series, max_samples=max_samples)
    except wr.TooLargeError as e:
        assert len(ser) > max_series or n_samples > max_samples
        assert str(e) in (
            f"more than {max_series} series in one request",
            f"more than {max_samples} samples in one request",
        )
    else:
        assert got.num_series <= max_series and len(got.timestamps) <= max_samples
