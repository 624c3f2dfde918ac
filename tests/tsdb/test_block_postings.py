"""A block's compact index answers exactly like the head's postings and a full scan."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from promhub.model.labels import Labels
from promhub.model.matcher import Matcher, MatchType, matches_all
from promhub.tsdb.block import Block, write_block
from promhub.tsdb.blockindex import (
    IndexFormatError,
    LabelTable,
    LabelTableBuilder,
    decode_index,
    encode_index,
)
from promhub.tsdb.postings import BlockPostings, MemPostings

T0 = 1_700_000_000_000
NAMES = ["__name__", "a", "b", "le"]
VALUES = ["x", "xy", "y", "0.5", "é", "+Inf"]

label_sets = st.lists(
    st.dictionaries(st.sampled_from(NAMES), st.sampled_from(VALUES), min_size=1),
    min_size=0,
    max_size=40,
).map(lambda ds: sorted({Labels.from_dict(d) for d in ds}))

matchers = st.lists(
    st.builds(
        Matcher.new,
        st.sampled_from(list(MatchType)),
        st.sampled_from([*NAMES, "missing"]),
        st.sampled_from(["", "x", "x.*", ".+", "y|0.5", ".*", "é"]),
    ),
    max_size=3,
)


def table_of(series: list[Labels]) -> LabelTable:
    b = LabelTableBuilder()
    for ls in series:
        b.add(ls)
    return b.build()


@settings(max_examples=300, deadline=None)
@given(label_sets, matchers)
# A value that is a symbol of the block but not a value of this name.
@example([Labels.from_dict({"a": "y"}), Labels.from_dict({"b": "x"})], [Matcher.new("=", "a", "x")])
def test_block_postings_select_like_a_scan_and_mem_postings(
    series: list[Labels], ms: list[Matcher]
) -> None:
    t = table_of(series)
    bp = BlockPostings(t.symbols, t.pairs, t.starts)
    mp = MemPostings()
    for ref, ls in enumerate(series):
        mp.add(ref, ls)
    expected = [r for r, ls in enumerate(series) if matches_all(ms, ls)]
    assert bp.select(ms).tolist() == expected
    assert mp.select(ms).tolist() == expected
    assert bp.label_names() == mp.label_names()
    assert bp.cardinality() == mp.cardinality()
    for name in [*NAMES, "missing"]:
        assert bp.label_values(name) == mp.label_values(name)
    assert [t.labels(r) for r in range(len(series))] == series
    assert t.labels_of(np.arange(len(series))[::-1]) == series[::-1]


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(label_sets.filter(bool), matchers)
def test_block_answers_label_queries_like_a_scan(
    tmp_path: Path, series: list[Labels], ms: list[Matcher]
) -> None:
    ts = np.array([T0], dtype=np.int64)
    meta = write_block(tmp_path, [(ls, ts, np.ones(1)) for ls in series], T0, T0 + 1000)
    with Block.open(tmp_path / meta.ulid) as b:
        hits = [ls for ls in series if matches_all(ms, ls)]
        assert b.series(ms, T0, T0) == hits
        assert [s.labels for s in b.select(ms, T0, T0)] == hits
        if ms:
            assert b.label_names(ms) == sorted({n for ls in hits for n, _ in ls})
            for name in NAMES:
                want = sorted({v for ls in hits if (v := ls.get(name))})
                assert b.label_values(name, ms) == want
        assert [ls for ls, _, _ in b.iter_series()] == series


def test_labels_of_a_missing_ref_is_an_index_error(tmp_path: Path) -> None:
    ls = Labels.from_dict({"__name__": "up"})
    meta = write_block(tmp_path, [(ls, np.array([T0]), np.ones(1))], T0, T0 + 1000)
    with Block.open(tmp_path / meta.ulid) as b:
        assert b.labels(0) == ls
        with pytest.raises(IndexError, match="out of range"):
            b.labels(1)


def test_blocks_share_label_strings(tmp_path: Path) -> None:
    """The same series in two blocks does not cost its strings twice."""
    ls = Labels.from_dict({"__name__": "up", "instance": "host-with-a-long-name:9100"})
    paths = []
    for i in range(2):
        meta = write_block(tmp_path, [(ls, np.array([T0 + i]), np.ones(1))], T0, T0 + 1000)
        paths.append(tmp_path / meta.ulid)
    with Block.open(paths[0]) as a, Block.open(paths[1]) as b:
        assert a.labels(0)[0][1] is b.labels(0)[0][1]


def test_unsorted_symbol_table_is_refused(tmp_path: Path) -> None:
    ts = np.array([T0], dtype=np.int64)
    meta = write_block(
        tmp_path, [(Labels.from_dict({"__name__": n}), ts, np.ones(1)) for n in "ab"], T0, T0 + 1
    )
    index_path = tmp_path / meta.ulid / "index"
    ix = decode_index(index_path.read_bytes())
    t = ix.labels
    # A writer that broke the string order would make every lookup by bisection wrong.
    ix.labels = LabelTable(list(reversed(t.symbols)), len(t.symbols) - 1 - t.pairs, t.starts)
    # Checksummed as valid, so only the order check can catch it.
    with pytest.raises(IndexFormatError, match="not sorted"):
        decode_index(encode_index(ix))
