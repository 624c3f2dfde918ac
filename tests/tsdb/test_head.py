"""Head append rules (Prometheus' out-of-order / duplicate semantics) and queries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from promhub.model.labels import Labels
from promhub.model.matcher import parse_selector
from promhub.model.value import STALE_NAN, STALE_NAN_BITS
from promhub.storage.interface import MAX_TIME, MIN_TIME
from promhub.tsdb import DB, UnknownSeriesError
from promhub.tsdb.head import Head


def _ls(name: str = "m", **kw: str) -> Labels:
    return Labels.from_dict({"__name__": name, **kw})


def _select(db: DB, sel: str, mint: int = MIN_TIME, maxt: int = MAX_TIME) -> dict[Labels, tuple]:
    q = db.querier(mint, maxt)
    return {
        s.labels: (s.timestamps.tolist(), s.values.tolist()) for s in q.select(parse_selector(sel))
    }


def test_commit_makes_a_scrape_queryable(tmp_path: Path) -> None:
    with DB.open(tmp_path) as db:
        app = db.appender()
        refs = np.array([app.ref(_ls("up", job=f"j{i}")) for i in range(3)])
        app.append(refs, np.array([1000]), np.array([1.0, 0.0, 1.0]))
        assert _select(db, "up") == {}  # nothing visible before commit
        res = app.commit()
        assert (res.appended, res.new_series) == (3, 3)
        got = _select(db, 'up{job=~"j[01]"}')
        assert got == {_ls("up", job="j0"): ([1000], [1.0]), _ls("up", job="j1"): ([1000], [0.0])}
        assert _select(db, "up", 2000, 3000) == {}


def test_out_of_order_and_duplicates_follow_prometheus(tmp_path: Path) -> None:
    with DB.open(tmp_path) as db:
        app = db.appender()
        a, b = app.ref(_ls(i="a")), app.ref(_ls(i="b"))
        app.append(np.array([a, b]), np.array([100]), np.array([1.0, 2.0]))
        app.commit()
        # Same timestamp: same value is silently ignored, another value is a duplicate.
        app.append(np.array([a, b]), np.array([100]), np.array([1.0, 3.0]))
        r = app.commit()
        assert (r.appended, r.duplicate, r.out_of_order) == (0, 1, 0)
        app.append(np.array([a]), np.array([50]), np.array([9.0]))
        r = app.commit()
        assert (r.appended, r.out_of_order) == (0, 1)
        # Within one batch a ref may repeat: judged in arrival order.
        app.append(np.array([a, a, a, a]), np.array([200, 200, 150, 300]), np.array([5, 6, 7, 8.0]))
        r = app.commit()
        assert (r.appended, r.duplicate, r.out_of_order) == (2, 1, 1)
        assert _select(db, 'm{i="a"}')[_ls(i="a")] == ([100, 200, 300], [1.0, 5.0, 8.0])
        assert _select(db, 'm{i="b"}')[_ls(i="b")] == ([100], [2.0])
        text = _metrics(db)
        assert 'prometheus_tsdb_out_of_order_samples_total{type="float"} 2.0' in text
        assert 'prometheus_tsdb_head_samples_appended_total{type="float"} 4.0' in text


def _metrics(db: DB) -> str:
    from prometheus_client import CollectorRegistry, generate_latest

    reg = CollectorRegistry()
    reg.register(db.collector())
    return generate_latest(reg).decode()


def _reference(
    batches: list[list[tuple[int, int, float]]], min_valid: int
) -> tuple[dict[int, list], list]:
    """Append one sample at a time, as the rules are written."""
    last: dict[int, tuple[int, int]] = {}
    data: dict[int, list] = {}
    results = []
    for batch in batches:
        ok = dup = ooo = old = 0
        for ref, t, v in batch:
            if t < min_valid:
                old += 1
                continue
            bits = np.float64(v).view(np.uint64)
            lt = last.get(ref)
            if lt is None or t > lt[0]:
                last[ref] = (t, int(bits))
                data.setdefault(ref, []).append((t, v))
                ok += 1
            elif t == lt[0]:
                if int(bits) != lt[1]:
                    dup += 1
            else:
                ooo += 1
        results.append((ok, dup, ooo, old))
    return data, results


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(
            st.tuples(st.integers(0, 3), st.integers(0, 6), st.sampled_from([0.0, 1.0, 2.0])),
            min_size=1,
            max_size=12,
        ),
        min_size=1,
        max_size=5,
    ),
    st.integers(0, 2),
)
def test_vectorised_rules_match_one_by_one_appends(batches: list, min_valid: int) -> None:
    head = Head(min_valid_time=min_valid)
    refs = [head.ref(_ls(i=str(i))) for i in range(4)]
    results = []
    for batch in batches:
        r = head.commit(
            np.array([refs[x[0]] for x in batch]),
            np.array([x[1] for x in batch]),
            np.array([x[2] for x in batch]),
        )
        results.append((r.appended, r.duplicate, r.out_of_order, r.too_old))
        head.freeze()
    want, want_results = _reference(batches, min_valid)
    assert results == want_results
    cols = head.snapshot().collect(np.array(refs), MIN_TIME, MAX_TIME)
    got = {
        int(r): list(zip(*(a.tolist() for a in cols.series(i)), strict=True))
        for i, r in enumerate(cols.refs)
    }
    assert got == want


def test_staleness_marker_is_kept_bit_exact(tmp_path: Path) -> None:
    with DB.open(tmp_path) as db:
        app = db.appender()
        r = app.ref(_ls("up"))
        app.append(np.array([r, r]), np.array([1, 2]), np.array([1.0, STALE_NAN]))
        app.commit()
        db.head.freeze()
    with DB.open(tmp_path) as db:
        s = db.querier(MIN_TIME, MAX_TIME).select(parse_selector("up"))[0]
        assert int(s.values.view(np.uint64)[1]) == STALE_NAN_BITS


def test_unknown_ref_is_an_error_naming_it(tmp_path: Path) -> None:
    with DB.open(tmp_path) as db:
        app = db.appender()
        app.append(np.array([42]), np.array([1]), np.array([1.0]))
        try:
            app.commit()
        except UnknownSeriesError as e:
            assert "42" in str(e)
        else:
            raise AssertionError("commit accepted an unknown ref")


def test_invalid_labels_are_refused() -> None:
    head = Head()
    for bad in (Labels(()), Labels((("job", "x"),)), Labels((("__name__", "1bad"),))):
        try:
            head.ref(bad)
        except ValueError as e:
            assert "invalid series" in str(e)
        else:
            raise AssertionError(f"accepted {bad!r}")


def test_label_names_and_values(tmp_path: Path) -> None:
    with DB.open(tmp_path) as db:
        app = db.appender()
        refs = np.array([app.ref(_ls("a", x="1")), app.ref(_ls("b", y="2"))])
        app.append(refs, np.array([5]), np.array([1.0, 2.0]))
        app.commit()
        q = db.querier(0, 10)
        assert q.label_names() == ["__name__", "x", "y"]
        assert q.label_values("__name__") == ["a", "b"]
        assert q.label_names(parse_selector("a")) == ["__name__", "x"]
        assert q.label_values("y", parse_selector("b")) == ["2"]
