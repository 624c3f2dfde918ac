"""Range queries over many series take bulk paths (bounds placed on the step grid, rates in
row blocks, topk/bottomk by partition). Whatever path runs, a range query must answer at
every step exactly what the instant query at that step answers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from promhub.model.labels import Labels
from promhub.promql.engine import Engine
from promhub.promql.functions import rate as rate_module
from promhub.promql.value import VectorSeries
from promhub.tsdb.db import DB

STEP = 15_000
START, END = 600_000, 1_500_000


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DB]:
    rng = np.random.default_rng(5)
    path: Path = tmp_path_factory.mktemp("fast")
    db = DB.open(path)
    app = db.appender()
    specials = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 5.0])
    for i in range(120):
        ls = Labels.from_dict({"__name__": "c_total", "i": str(i), "g": str(i % 3)})
        # Irregular scrapes, gaps, a counter reset now and then.
        ts = np.cumsum(rng.integers(5_000, 25_000, 120)).astype(np.int64)
        ts = ts[(ts < 1_400_000) | (i % 7 != 0)]
        vals = np.cumsum(rng.integers(0, 9, len(ts))).astype(float)
        if i % 11 == 0:
            vals[len(vals) // 2 :] -= vals[len(vals) // 2]
        app.append(np.full(len(ts), app.ref(ls)), ts, vals)
        g = Labels.from_dict({"__name__": "gauge", "i": str(i)})
        gv = rng.choice(specials, len(ts)) if i % 4 == 0 else np.round(rng.normal(size=len(ts)), 1)
        app.append(np.full(len(ts), app.ref(g)), ts, gv)
    app.commit()
    yield db
    db.close()


def _steps(v: VectorSeries) -> dict[tuple[Labels, int], int]:
    out = {}
    for i, ls in enumerate(v.labels):
        for k in np.flatnonzero(v.present[i]).tolist():
            out[(ls, k)] = int(v.values[i, k].view(np.int64))  # bit-exact, NaN included
    return out


@pytest.mark.parametrize(
    "query",
    [
        "rate(c_total[1m])",
        "increase(c_total[2m])",
        "sum by (g) (rate(c_total[5m]))",
        "topk(3, gauge)",
        "bottomk(4, gauge)",
        "topk by (g) (2, c_total)",
        "count(gauge)",
    ],
)
def test_range_steps_equal_instant_queries(
    db: DB, query: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rate_module, "_BLOCK_CELLS", 256)  # several row blocks here too
    engine = Engine()
    rng = engine.range(db, query, START, END, STEP)
    value = rng.value
    assert isinstance(value, VectorSeries)
    got = _steps(value)
    want: dict[tuple[Labels, int], int] = {}
    for k, t in enumerate(range(START, END + 1, STEP)):
        inst = engine.instant(db, query, t).value
        assert isinstance(inst, VectorSeries)
        for i, ls in enumerate(inst.labels):
            if inst.present[i, 0]:
                want[(ls, k)] = int(inst.values[i, 0].view(np.int64))
    assert got == want
    assert len(got) > 0
