"""OTLP metrics → Prometheus series and samples, as Prometheus 3.x translates them.

The walk over a decoded ``ExportMetricsServiceRequest`` is the only per-data-point Python
work: for every data point it builds a hashable *key* (resource, scope, family, attributes,
bucket layout) and asks a :class:`SeriesResolver` for the refs of the series that key
produces (a histogram point is one key for all of its ``_bucket``/``_sum``/``_count``
series). Label sets are built only on a cache miss. Values go into one flat list and
timestamps, start timestamps and staleness are expanded per point with NumPy, so a warm
request costs one dict lookup per data point plus the attribute walk.

Rules (Prometheus' ``storage/remote/otlptranslator``, default settings):

- gauges → gauge; sums: monotonic cumulative → counter with ``_total``, non-monotonic
  cumulative → gauge; explicit-bucket histograms → ``_bucket{le}`` (cumulative, with
  ``+Inf`` = count), ``_sum`` (if set), ``_count``; summaries → ``{quantile}``, ``_sum``,
  ``_count``. Delta temporality and exponential histograms are rejected (counted).
- labels: data point attributes (sanitised; keys that collide after sanitising are
  joined with ``;`` in key order), then promoted resource attributes, optional scope
  labels, then ``job`` = ``service.namespace/service.name`` and ``instance`` =
  ``service.instance.id`` (these win).
- ``target_info`` per resource with the non-identifying resource attributes, sampled
  from the earliest to the latest timestamp of the resource every lookback/2.
- a point flagged ``NO_RECORDED_VALUE`` becomes a stale marker on all of its series.
- timestamps: ns → ms (floor); start times ride along as start timestamps.
"""

from __future__ import annotations

import base64
import itertools
import json
import math
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as svc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2 as pb

from promhub.config.otlp import TranslationSettings
from promhub.ingest.otlp_names import MetricType, metric_name, unit_name
from promhub.model.labels import Labels
from promhub.model.value import STALE_NAN
from promhub.storage.interface import Metadata, Refs, Timestamps, Values

_CUMULATIVE = pb.AGGREGATION_TEMPORALITY_CUMULATIVE
_NO_RECORDED_VALUE = pb.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK
_IDENTIFYING = ("service.namespace", "service.name", "service.instance.id")
#: Lookback delta Prometheus assumes when spacing ``target_info`` samples.
LOOKBACK_MS = 300_000


class SeriesResolver:
    """Maps a translation key to the refs of its series (see :mod:`promhub.ingest.otlp`)."""

    def refs(
        self, key: Hashable, build: Callable[..., Sequence[Labels]], args: tuple[Any, ...]
    ) -> Refs:
        """The refs of the series ``build(*args)`` describes, cached under ``key``."""
        raise NotImplementedError

    def intern(self, key: Hashable) -> int:
        """A small integer standing for a big key (a resource's attributes) in other keys."""
        raise NotImplementedError


@dataclass(slots=True)
class Translation:
    """What one request becomes: samples as arrays, metadata, and what was rejected."""

    refs: Refs
    timestamps: Timestamps
    values: Values
    start_timestamps: Timestamps | None
    #: (job, instance) → family → metadata.
    metadata: dict[tuple[str, str], dict[str, Metadata]] = field(default_factory=dict)
    rejected_points: int = 0
    errors: list[str] = field(default_factory=list)


# -- attribute values ---------------------------------------------------------------------


def _float_str(v: float) -> str:
    """Go's ``strconv.FormatFloat(v, 'f', -1, 64)``: shortest, never in exponent form."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return np.format_float_positional(v, trim="-")


def _any_json(v: common_pb2.AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind == "string_value":
        return v.string_value
    if kind == "bool_value":
        return v.bool_value
    if kind == "int_value":
        return v.int_value
    if kind == "double_value":
        return v.double_value
    if kind == "bytes_value":
        return base64.b64encode(v.bytes_value).decode()
    if kind == "array_value":
        return [_any_json(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _any_json(kv.value) for kv in v.kvlist_value.values}
    return None


def any_str(v: common_pb2.AnyValue) -> str:
    """An attribute value as a label value (pdata's ``Value.AsString``)."""
    kind = v.WhichOneof("value")
    if kind == "string_value":
        return v.string_value
    if kind == "int_value":
        return str(v.int_value)
    if kind == "bool_value":
        return "true" if v.bool_value else "false"
    if kind == "double_value":
        return _float_str(v.double_value)
    if kind == "bytes_value":
        return base64.b64encode(v.bytes_value).decode()
    if kind is None:
        return ""
    return json.dumps(_any_json(v), separators=(",", ":"))


def _attrs(kvs: Iterable[common_pb2.KeyValue]) -> tuple[tuple[str, str], ...]:
    # String values inline: this runs for every attribute of every data point.
    return tuple(
        (kv.key, v.string_value if v.WhichOneof("value") == "string_value" else any_str(v))
        for kv in kvs
        for v in (kv.value,)
    )


# -- label sets -----------------------------------------------------------------------------


@dataclass(slots=True)
class _Resource:
    attrs: dict[str, str]
    job: str
    instance: str
    promoted: list[tuple[str, str]]
    key: Hashable
    min_ts: int = 2**63 - 1
    max_ts: int = -(2**63)


def _resource(kvs: Iterable[common_pb2.KeyValue], st: TranslationSettings) -> _Resource:
    attrs = dict(_attrs(kvs))
    job = attrs.get("service.name", "")
    if job and "service.namespace" in attrs:
        job = f"{attrs['service.namespace']}/{job}"
    if st.promote_all_resource_attributes:
        promoted = [(k, v) for k, v in attrs.items() if k not in st.ignore_resource_attributes]
    else:
        promoted = [(k, attrs[k]) for k in st.promote_resource_attributes if k in attrs]
    promoted.sort(key=lambda kv: kv[0])
    key = tuple(sorted(attrs.items()))
    return _Resource(attrs, job, attrs.get("service.instance.id", ""), promoted, key)


def _base_labels(
    res: _Resource,
    attrs: Sequence[tuple[str, str]],
    scope: Sequence[tuple[str, str]],
    st: TranslationSettings,
    ignore: Sequence[str] = (),
) -> dict[str, str]:
    """createAttributes: the label set of a data point without ``__name__``."""
    out: dict[str, str] = {}
    for k, v in sorted(attrs, key=lambda kv: kv[0]):
        if k in ignore:
            continue
        name = st.label(k)
        if not name:
            raise ValueError(f"attribute {k!r} gives no valid label name")
        out[name] = out[name] + ";" + v if name in out else v
    for k, v in res.promoted:
        name = st.label(k)
        if name and name not in out:
            out[name] = v
    for k, v in scope:
        out[k] = v
    if res.job:
        out["job"] = res.job
    if res.instance:
        out["instance"] = res.instance
    return out


def _with(base: Mapping[str, str], name: str, *extra: tuple[str, str]) -> Labels:
    d = dict(base)
    d.update(extra)
    d["__name__"] = name
    return Labels.from_dict(d)


# -- the walk ---------------------------------------------------------------------------------


class Translator:
    """Turns decoded requests into :class:`Translation` s; keeps a family-name cache."""

    def __init__(self, settings: TranslationSettings | None = None) -> None:
        self.settings = settings or TranslationSettings()
        self._names: dict[tuple[str, str, MetricType], str] = {}

    def family(self, name: str, unit: str, mtype: MetricType) -> str:
        k = (name, unit, mtype)
        out = self._names.get(k)
        if out is None:
            if len(self._names) > 100_000:
                self._names.clear()
            out = self._names[k] = metric_name(name, unit, mtype, suffixes=self.settings.suffixes)
        return out

    def translate(
        self, req: svc.ExportMetricsServiceRequest, resolver: SeriesResolver
    ) -> Translation:
        st = self.settings
        ref_parts: list[Refs] = []
        ts: list[int] = []  # one per data point
        sts: list[int] = []
        counts: list[int] = []  # samples per data point
        stale: list[bool] = []
        values: list[float] = []
        meta: dict[tuple[str, str], dict[str, Metadata]] = {}
        errors: dict[str, None] = {}
        rejected = 0

        for rm in req.resource_metrics:
            first = len(ts)
            res = _resource(rm.resource.attributes, st)
            fams = meta.setdefault((res.job, res.instance), {})
            rid = resolver.intern(res.key)
            for sm in rm.scope_metrics:
                scope: tuple[tuple[str, str], ...] = ()
                if st.promote_scope_metadata and sm.scope.name:
                    scope = (
                        ("otel_scope_name", sm.scope.name),
                        ("otel_scope_version", sm.scope.version),
                        ("otel_scope_schema_url", sm.schema_url),
                        *(
                            (st.label("otel_scope_" + k), v)
                            for k, v in _attrs(sm.scope.attributes)
                            if st.label("otel_scope_" + k)
                        ),
                    )
                sid = resolver.intern(scope)
                for m in sm.metrics:
                    kind = m.WhichOneof("data")
                    points: Sequence[Any]
                    if kind == "gauge":
                        mtype, points, ptype = MetricType.GAUGE, m.gauge.data_points, "gauge"
                    elif kind == "sum":
                        points = m.sum.data_points
                        if m.sum.aggregation_temporality != _CUMULATIVE:
                            rejected += len(points)
                            errors[f'delta or unspecified temporality of sum "{m.name}" is '
                                   "not supported"] = None  # fmt: skip
                            continue
                        if m.sum.is_monotonic:
                            mtype, ptype = MetricType.MONOTONIC_COUNTER, "counter"
                        else:
                            mtype, ptype = MetricType.NON_MONOTONIC_COUNTER, "gauge"
                    elif kind == "histogram":
                        points = m.histogram.data_points
                        if m.histogram.aggregation_temporality != _CUMULATIVE:
                            rejected += len(points)
                            errors[f'delta or unspecified temporality of histogram "{m.name}" '
                                   "is not supported"] = None  # fmt: skip
                            continue
                        mtype, ptype = MetricType.HISTOGRAM, "histogram"
                    elif kind == "summary":
                        mtype, points, ptype = MetricType.SUMMARY, m.summary.data_points, "summary"
                    elif kind == "exponential_histogram":
                        rejected += len(m.exponential_histogram.data_points)
                        errors[f'exponential histogram "{m.name}" is not supported yet'] = None
                        continue
                    else:
                        errors[f'metric "{m.name}" has no data'] = None
                        continue
                    if not points:
                        continue
                    fam = self.family(m.name, m.unit, mtype)
                    if not fam:
                        rejected += len(points)
                        errors[f"metric name {m.name!r} gives no valid Prometheus name"] = None
                        continue
                    fams[fam] = Metadata(ptype, m.description, unit_name(m.unit))
                    dp: Any
                    for dp in points:
                        t = dp.time_unix_nano // 1_000_000
                        attrs = _attrs(dp.attributes)
                        if ptype == "histogram":
                            n = min(len(dp.explicit_bounds), len(dp.bucket_counts))
                            has_sum = dp.HasField("sum")
                            key: Hashable = (
                                rid, sid, fam, attrs, tuple(dp.explicit_bounds[:n]), has_sum
                            )  # fmt: skip
                            vals: list[float] = list(itertools.accumulate(dp.bucket_counts[:n]))
                            vals.append(dp.count)
                            if has_sum:
                                vals.append(dp.sum)
                            vals.append(dp.count)
                        elif ptype == "summary":
                            qs = tuple(q.quantile for q in dp.quantile_values)
                            key = (rid, sid, fam, attrs, qs)
                            vals = [q.value for q in dp.quantile_values]
                            vals += (dp.sum, dp.count)
                        else:
                            key = (rid, sid, fam, attrs)
                            vals = [
                                dp.as_int if dp.WhichOneof("value") == "as_int" else dp.as_double
                            ]
                        try:
                            refs = resolver.refs(
                                key, self._series, (res, scope, fam, ptype, dp, attrs)
                            )
                        except ValueError as e:
                            rejected += 1
                            errors[f'metric "{m.name}": {e}'] = None
                            continue
                        ref_parts.append(refs)
                        values.extend(vals)
                        counts.append(len(vals))
                        ts.append(t)
                        s = dp.start_time_unix_nano // 1_000_000 if kind != "gauge" else 0
                        sts.append(s if s <= t else 0)
                        stale.append(bool(dp.flags & _NO_RECORDED_VALUE))
            if len(ts) > first:
                res.min_ts, res.max_ts = min(ts[first:]), max(ts[first:])
            self._target_info(res, resolver, ref_parts, values, counts, ts, sts, stale)

        if not counts:
            none = np.empty(0, np.int64)
            return Translation(none, none, np.empty(0), None, meta, rejected, list(errors))
        n_per = np.asarray(counts, dtype=np.int64)
        vals_arr = np.asarray(values, dtype=np.float64)
        stale_arr = np.repeat(np.asarray(stale, dtype=bool), n_per)
        if stale_arr.any():
            vals_arr[stale_arr] = STALE_NAN
        sts_arr = np.asarray(sts, dtype=np.int64)
        return Translation(
            refs=np.concatenate(ref_parts),
            timestamps=np.repeat(np.asarray(ts, dtype=np.int64), n_per),
            values=vals_arr,
            start_timestamps=np.repeat(sts_arr, n_per) if sts_arr.any() else None,
            metadata={k: v for k, v in meta.items() if v},
            rejected_points=rejected,
            errors=list(errors),
        )

    def _series(
        self,
        res: _Resource,
        scope: Sequence[tuple[str, str]],
        fam: str,
        ptype: str,
        dp: Any,
        attrs: Sequence[tuple[str, str]],
    ) -> list[Labels]:
        """The label sets of one data point's series, in the order its values come."""
        base = _base_labels(res, attrs, scope, self.settings)
        if ptype == "histogram":
            n = min(len(dp.explicit_bounds), len(dp.bucket_counts))
            out = [
                _with(base, fam + "_bucket", ("le", _float_str(b))) for b in dp.explicit_bounds[:n]
            ]
            out.append(_with(base, fam + "_bucket", ("le", "+Inf")))
            if dp.HasField("sum"):
                out.append(_with(base, fam + "_sum"))
            out.append(_with(base, fam + "_count"))
            return out
        if ptype == "summary":
            out = [
                _with(base, fam, ("quantile", _float_str(q.quantile))) for q in dp.quantile_values
            ]
            return [*out, _with(base, fam + "_sum"), _with(base, fam + "_count")]
        return [_with(base, fam)]

    def _target_info(
        self,
        res: _Resource,
        resolver: SeriesResolver,
        ref_parts: list[Refs],
        values: list[float],
        counts: list[int],
        ts: list[int],
        sts: list[int],
        stale: list[bool],
    ) -> None:
        st = self.settings
        if res.min_ts > res.max_ts:
            return  # no data points: no time to put target_info at
        if not any(k not in _IDENTIFYING for k in res.attrs):
            return  # only job and instance: target_info would say nothing more
        if not (res.job or res.instance):
            return
        ignore = () if st.keep_identifying_resource_attributes else _IDENTIFYING
        no_promotion = _Resource(res.attrs, res.job, res.instance, [], res.key)
        key = ("target_info", resolver.intern(res.key))

        def build() -> list[Labels]:
            base = _base_labels(no_promotion, list(res.attrs.items()), (), st, ignore)
            return [_with(base, "target_info")]

        try:
            refs = resolver.refs(key, build, ())
        except ValueError:
            return
        times = list(range(res.min_ts, res.max_ts, LOOKBACK_MS // 2))
        if not times or times[-1] < res.max_ts:
            times.append(res.max_ts)
        for t in times:
            ref_parts.append(refs)
            values.append(1.0)
            counts.append(1)
            ts.append(t)
            sts.append(0)
            stale.append(False)
