"""The head's sample sort helpers and its remembered label order."""

from __future__ import annotations

import random

import numpy as np

from promhub.model.labels import Labels
from promhub.tsdb.head import Head, _member, _stable_order


def test_stable_order_matches_a_stable_argsort() -> None:
    rnd = random.Random(1)
    for _ in range(200):
        n = rnd.randint(0, 3000)
        top = rnd.choice([5, 300, 70_000, 2**40])
        refs = np.array([rnd.randint(0, top) for _ in range(n)], dtype=np.int64)
        if rnd.random() < 0.3:
            refs = np.sort(refs)
        order = _stable_order(refs)
        expected = np.argsort(refs, kind="stable")
        if order is None:
            assert (expected == np.arange(n)).all()
        else:
            assert (order == expected).all()


def test_member_matches_isin() -> None:
    rnd = random.Random(2)
    for _ in range(200):
        top = rnd.choice([5, 300, 70_000, 2**40])
        refs = np.array([rnd.randint(0, top) for _ in range(rnd.randint(0, 500))], np.int64)
        want = np.unique(np.array([rnd.randint(0, top) for _ in range(rnd.randint(0, 50))]))
        assert (_member(refs, want.astype(np.int64)) == np.isin(refs, want)).all()


def test_label_order_is_remembered_per_refs() -> None:
    head = Head()
    labels = [Labels.from_dict({"__name__": "m", "i": str(i)}) for i in range(30)]
    refs = np.array([head.ref(ls) for ls in labels], dtype=np.int64)
    sel = refs[::2]
    mine = [labels[i] for i in range(0, 30, 2)]
    order, ordered = head.label_order(sel, mine)
    assert ordered == sorted(mine)
    assert [mine[i] for i in order.tolist()] == ordered
    again, ordered2 = head.label_order(sel.copy(), mine)
    assert (again == order).all() and ordered2 == ordered
    ordered2.append(labels[1])  # callers get their own list
    assert head.label_order(sel, mine)[1] == ordered
