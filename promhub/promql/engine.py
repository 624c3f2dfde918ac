"""The PromQL engine: instant and range queries over a :class:`Queryable`.

>>> engine = Engine()
>>> result = engine.instant(db, 'sum by (job) (rate(http_requests_total[5m]))', now_ms)
>>> result.result_type, result.value.labels

Semantics follow Prometheus 3.x (``promql/engine.go``): 5 m lookback with staleness
markers, ``offset``/``@`` (incl. negative offsets and ``@ start()``/``@ end()``), subqueries
aligned to absolute multiples of their step, delayed ``__name__`` removal, the sample limit
and timeout. The evaluation itself is vectorised over all steps (see
:mod:`promhub.promql.evaluator`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from promhub.model.labels import Labels
from promhub.promql.ast import Expr, ValueType
from promhub.promql.binops import drop_metric_name, merge_same_labels
from promhub.promql.call import Annotation
from promhub.promql.errors import PromQLError
from promhub.promql.evaluator import TOO_MANY_SAMPLES, Evaluator, _scalar_as_vector
from promhub.promql.prepare import prepare
from promhub.promql.value import (
    I64,
    Mask,
    RangeSeries,
    ScalarSeries,
    StringValue,
    Value,
    VectorSeries,
)
from promhub.storage.interface import Queryable

__all__ = ["Engine", "PromQLError", "QueryResult", "TOO_MANY_SAMPLES", "check_resolution"]

ResultType = Literal["vector", "matrix", "scalar", "string"]

#: Prometheus' cap on points per series of a range query (enforced by its HTTP API).
MAX_POINTS_PER_SERIES = 11_000


@dataclass(slots=True)
class QueryResult:
    """What a query returned.

    ``value`` is a :class:`VectorSeries` for ``vector`` (T = 1, rows in evaluation order)
    and for ``matrix`` results of range queries (rows sorted by labels, ``step_times``
    gives the columns); a :class:`RangeSeries` for the ``matrix`` result of an instant
    query such as ``foo[5m]`` (one window per series, sorted); a :class:`ScalarSeries`
    (one value) for ``scalar``; a :class:`StringValue` for ``string``. ``__name__``
    removal has been applied (``drop_name`` is all false).
    """

    value: Value
    result_type: ResultType
    warnings: list[str] = field(default_factory=list)
    infos: list[str] = field(default_factory=list)
    samples_total: int = 0
    peak_samples: int = 0
    step_times: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    timings: dict[str, float] = field(default_factory=dict)


def check_resolution(start_ms: int, end_ms: int, step_ms: int) -> None:
    """Refuse range queries Prometheus' API refuses (too many points per series)."""
    if step_ms <= 0:
        raise PromQLError(
            "bad_data",
            "zero or negative query resolution step widths are not accepted. "
            "Try a positive integer",
        )
    if end_ms < start_ms:
        raise PromQLError("bad_data", "end timestamp must not be before start time")
    if (end_ms - start_ms) // step_ms > MAX_POINTS_PER_SERIES:
        raise PromQLError(
            "bad_data",
            "exceeded maximum resolution of 11,000 points per timeseries. "
            "Try decreasing the query resolution (?step=XX)",
        )


class Engine:
    """Evaluates PromQL; safe to share between threads (queries keep no shared state)."""

    def __init__(
        self,
        *,
        lookback_ms: int = 300_000,
        max_samples: int = 50_000_000,
        timeout_s: float = 120.0,
        default_subquery_step_ms: int = 60_000,
    ) -> None:
        self.lookback_ms = lookback_ms
        self.max_samples = max_samples
        self.timeout_s = timeout_s
        self.default_subquery_step_ms = default_subquery_step_ms

    def instant(self, queryable: Queryable, expr: str | Expr, ts_ms: int) -> QueryResult:
        """Evaluate ``expr`` at ``ts_ms``."""
        return self._run(queryable, expr, ts_ms, ts_ms, 0)

    def range(
        self, queryable: Queryable, expr: str | Expr, start_ms: int, end_ms: int, step_ms: int
    ) -> QueryResult:
        """Evaluate ``expr`` at ``start_ms, start_ms + step_ms, … <= end_ms``."""
        if step_ms <= 0:
            raise PromQLError(
                "bad_data",
                "zero or negative query resolution step widths are not accepted. "
                "Try a positive integer",
            )
        if end_ms < start_ms:
            raise PromQLError("bad_data", "end timestamp must not be before start time")
        return self._run(queryable, expr, start_ms, end_ms, step_ms)

    # -- internals ---------------------------------------------------------------------

    def _run(
        self, queryable: Queryable, expr: str | Expr, start: int, end: int, step: int
    ) -> QueryResult:
        t0 = time.monotonic()
        text = expr if isinstance(expr, str) else None
        node = _parse(expr)
        is_range = step > 0
        if is_range and node.type not in (ValueType.VECTOR, ValueType.SCALAR):
            raise PromQLError(
                "bad_data",
                f'invalid expression type "{_documented(node.type)}" for range query, '
                "must be Scalar or instant Vector",
            )
        t1 = time.monotonic()
        prepared = prepare(node, start, end, step)
        ev = Evaluator(
            queryable,
            prepared,
            lookback_ms=self.lookback_ms,
            max_samples=self.max_samples,
            deadline=t0 + self.timeout_s,
            default_subquery_step_ms=self.default_subquery_step_ms,
        )
        if is_range:
            n = (end - start) // step + 1
            times = start + step * np.arange(n, dtype=np.int64)
        else:
            times = np.array([start], dtype=np.int64)
        try:
            value = ev.eval(node, times)
        except RecursionError as e:
            raise PromQLError("bad_data", "query is nested too deeply") from e
        except MemoryError as e:
            raise PromQLError("execution", TOO_MANY_SAMPLES) from e
        t2 = time.monotonic()
        result = _finish(value, is_range, times)
        warnings, infos = _render(ev.annotations, text)
        t3 = time.monotonic()
        result.warnings, result.infos = ev.storage_warnings + warnings, infos
        result.samples_total = ev.samples_total
        result.peak_samples = ev.peak_samples
        result.timings = {
            "parse": t1 - t0,
            "eval": t2 - t1,
            "result": t3 - t2,
            "total": t3 - t0,
        }
        return result


def _load_functions() -> None:
    """Import the function library, which registers itself in ``call.FUNCTIONS``."""
    import contextlib
    import importlib

    # The library is optional for the engine's own unit tests.
    with contextlib.suppress(ImportError):
        importlib.import_module("promhub.promql.functions")


_load_functions()


def _parse(expr: str | Expr) -> Expr:
    if not isinstance(expr, str):
        return expr
    import importlib

    parser = importlib.import_module("promhub.promql.parser")
    try:
        node: Expr = parser.parse_expr(expr)
        return node
    except PromQLError:
        raise
    except Exception as e:
        raise PromQLError("bad_data", str(e)) from e


def _documented(t: ValueType) -> str:
    return {
        ValueType.MATRIX: "range vector",
        ValueType.VECTOR: "instant vector",
        ValueType.SCALAR: "scalar",
        ValueType.STRING: "string",
    }.get(t, t.value)


def _drop_names(labels: list[Labels], drop: Mask) -> list[Labels]:
    if drop.size == 0 or not drop.any():
        return labels
    return [drop_metric_name(ls) if d else ls for ls, d in zip(labels, drop.tolist(), strict=True)]


def _finish(value: Value, is_range: bool, times: I64) -> QueryResult:
    """Apply delayed name removal, check label-set uniqueness, order the result."""
    if isinstance(value, StringValue):
        return QueryResult(value, "string", step_times=times)
    if isinstance(value, ScalarSeries):
        if not is_range:
            return QueryResult(
                ScalarSeries(np.asarray(value.values[:1])), "scalar", step_times=times
            )
        value = _scalar_as_vector(ScalarSeries(np.broadcast_to(value.values, times.shape)))
    if isinstance(value, VectorSeries):
        labels = _drop_names(value.labels, value.drop_name)
        v = VectorSeries(labels, value.values, value.present, np.zeros(len(labels), dtype=bool))
        if not is_range:
            idx = np.flatnonzero(v.present[:, 0])
            kept = [labels[i] for i in idx]
            if len(set(kept)) != len(kept):
                raise PromQLError(
                    "execution", "vector cannot contain metrics with the same labelset"
                )
            out = VectorSeries(kept, v.values[idx], v.present[idx], np.zeros(len(idx), bool))
            return QueryResult(out, "vector", step_times=times)
        v = merge_same_labels(v)
        rows = [i for i in np.flatnonzero(v.present.any(axis=1)).tolist()]
        rows.sort(key=lambda i: v.labels[i])
        idx = np.array(rows, dtype=np.int64)
        out = VectorSeries(
            [v.labels[i] for i in rows],
            v.values[idx].reshape(len(rows), len(times)),
            v.present[idx].reshape(len(rows), len(times)),
            np.zeros(len(rows), dtype=bool),
        )
        return QueryResult(out, "matrix", step_times=times)
    assert isinstance(value, RangeSeries)
    labels = _drop_names(value.labels, value.drop_name)
    lo, hi = value.lo[:, 0], value.hi[:, 0]
    rows = [i for i in range(len(labels)) if hi[i] > lo[i]]
    if len({labels[i] for i in rows}) != len(rows):
        raise PromQLError("execution", "vector cannot contain metrics with the same labelset")
    rows.sort(key=lambda i: labels[i])
    counts = np.array([hi[i] - lo[i] for i in rows], dtype=np.int64)
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    parts_t = [value.timestamps[lo[i] : hi[i]] for i in rows]
    parts_v = [value.values[lo[i] : hi[i]] for i in rows]
    ts = np.concatenate(parts_t) if parts_t else np.zeros(0, dtype=np.int64)
    vs = np.concatenate(parts_v) if parts_v else np.zeros(0)
    out_rs = RangeSeries(
        [labels[i] for i in rows],
        offsets,
        ts,
        vs,
        offsets[:-1].reshape(-1, 1),
        offsets[1:].reshape(-1, 1),
        value.step_times[:1],
        value.range_ms,
        np.zeros(len(rows), dtype=bool),
    )
    return QueryResult(out_rs, "matrix", step_times=times)


def _render(annotations: list[Annotation], text: str | None) -> tuple[list[str], list[str]]:
    """Annotations as the API shows them: ``PromQL info: <message> (line:col)``."""
    warnings: list[str] = []
    infos: list[str] = []
    seen: set[str] = set()
    for a in annotations:
        start = a.node.pos[0]
        if text is not None:
            line = text.count("\n", 0, start) + 1
            col = start - (text.rfind("\n", 0, start) + 1) + 1
        else:
            line, col = 1, start + 1
        if a.kind == "info":
            msg = f"PromQL info: {a.message} ({line}:{col})"
        else:
            msg = f"PromQL warning: {a.message} ({line}:{col})"
        if msg in seen:
            continue
        seen.add(msg)
        (infos if a.kind == "info" else warnings).append(msg)
    return warnings, infos
