"""Bulk JSON rendering: Go's float spelling, timestamps, and every matrix layout."""

from __future__ import annotations

import json
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from promhub.api.jsonfmt import (
    encode_matrix_samples,
    encode_matrix_steps,
    encode_vector,
    format_float,
    format_timestamp,
    value_tokens,
)
from promhub.model.labels import Labels


def test_go_f_spelling() -> None:
    cases = {
        1.0: "1",
        -0.0: "-0",
        0.1: "0.1",
        1e21: "1000000000000000000000",
        1.5e-7: "0.00000015",
        123456789.125: "123456789.125",
        1.2345678901234567e20: "123456789012345670000",
        math.nan: "NaN",
        math.inf: "+Inf",
        -math.inf: "-Inf",
    }
    for v, want in cases.items():
        assert format_float(v) == want, v


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=50))
def test_bulk_tokens_match_single_formatting(values: list[float]) -> None:
    arr = np.array(values, dtype=np.float64)
    assert value_tokens(arr) == [format_float(v).encode() for v in values]


def test_tokens_round_trip() -> None:
    rng = np.random.default_rng(7)
    vals = rng.standard_normal(5000) * 10.0 ** rng.integers(-20, 25, 5000)
    toks = value_tokens(vals)
    assert all(b"e" not in t for t in toks)
    assert np.array_equal(np.array([float(t) for t in toks]), vals)


def test_timestamps() -> None:
    assert format_timestamp(1435781451781) == "1435781451.781"
    assert format_timestamp(1435781451780) == "1435781451.780"
    assert format_timestamp(1435781451000) == "1435781451"
    assert format_timestamp(-1500) == "-1.500"
    assert format_timestamp(5) == "0.005"


LS = [Labels.from_dict({"__name__": "a", "x": str(i)}) for i in range(3)]


def test_vector_keeps_order_and_can_drop_name() -> None:
    out = encode_vector(LS[::-1], np.array([1.0, 2.5, np.nan]), 1000, np.array([0, 1, 0], bool))
    assert json.loads(out) == [
        {"metric": {"__name__": "a", "x": "2"}, "value": [1, "1"]},
        {"metric": {"x": "1"}, "value": [1, "2.5"]},
        {"metric": {"__name__": "a", "x": "0"}, "value": [1, "NaN"]},
    ]
    assert encode_vector([], np.zeros(0), 0) == b"[]"


def test_matrix_dense_and_sparse_agree() -> None:
    vals = np.arange(12, dtype=np.float64).reshape(3, 4) / 4
    steps = np.array([0, 15_000, 30_000, 45_500])
    dense = json.loads(encode_matrix_steps(LS, vals, np.ones((3, 4), bool), steps))
    assert dense[1] == {
        "metric": {"__name__": "a", "x": "1"},
        "values": [[0, "1"], [15, "1.25"], [30, "1.5"], [45.5, "1.75"]],
    }
    present = np.ones((3, 4), bool)
    present[0] = False  # a series without samples is left out
    present[2, 1] = False
    sparse = json.loads(encode_matrix_steps(LS, vals, present, steps))
    assert [s["metric"]["x"] for s in sparse] == ["1", "2"]
    assert sparse[0] == dense[1]
    assert [p[0] for p in sparse[1]["values"]] == [0, 30, 45.5]


def test_matrix_of_raw_samples() -> None:
    offsets = np.array([0, 2, 2, 3])
    ts = np.array([1000, 2500, 7000])
    vals = np.array([1.0, 2.0, 3.0])
    out = json.loads(encode_matrix_samples(LS, offsets, ts, vals))
    assert out == [
        {"metric": {"__name__": "a", "x": "0"}, "values": [[1, "1"], [2.5, "2"]]},
        {"metric": {"__name__": "a", "x": "2"}, "values": [[7, "3"]]},
    ]
