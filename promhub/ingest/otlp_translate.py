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
from typing import Any, NamedTuple

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


class _Samples:
    """Columns being collected for one request: one entry per data point (``counts``
    samples each), expanded to one per sample with NumPy by :meth:`finish`."""

    def __init__(self) -> None:
        self.refs: list[Refs] = []
        self.values: list[float] = []
        self.counts: list[int] = []
        self.ts: list[int] = []
        self.sts: list[int] = []
        self.stale: list[bool] = []
        self.rejected = 0
        self.errors: dict[str, None] = {}  # distinct messages, in order

    def add(self, refs: Refs, vals: list[float], t: int, st: int, stale: bool) -> None:
        self.refs.append(refs)
        self.values.extend(vals)
        self.counts.append(len(vals))
        self.ts.append(t)
        self.sts.append(st)
        self.stale.append(stale)

    def reject(self, n: int, msg: str) -> None:
        self.rejected += n
        self.errors[msg] = None

    def finish(self, meta: dict[tuple[str, str], dict[str, Metadata]]) -> Translation:
        meta = {k: v for k, v in meta.items() if v}
        errors = list(self.errors)
        if not self.counts:
            none = np.empty(0, np.int64)
            return Translation(none, none, np.empty(0), None, meta, self.rejected, errors)
        n_per = np.asarray(self.counts, dtype=np.int64)
        vals = np.asarray(self.values, dtype=np.float64)
        stale = np.repeat(np.asarray(self.stale, dtype=bool), n_per)
        if stale.any():
            vals[stale] = STALE_NAN
        sts = np.asarray(self.sts, dtype=np.int64)
        return Translation(
            refs=np.concatenate(self.refs),
            timestamps=np.repeat(np.asarray(self.ts, dtype=np.int64), n_per),
            values=vals,
            start_timestamps=np.repeat(sts, n_per) if sts.any() else None,
            metadata=meta,
            rejected_points=self.rejected,
            errors=errors,
        )


class _Family(NamedTuple):
    otel_name: str
    name: str  # the Prometheus family name
    ptype: str  # its metadata type
    start_times: bool  # whether its points' start times are kept (not for gauges)


def _kind(m: pb.Metric, out: _Samples) -> tuple[MetricType, str, Sequence[Any]] | None:
    """(translation type, Prometheus metadata type, data points) of a storable metric;
    None (with the points counted as rejected) for one promhub cannot store."""
    kind = m.WhichOneof("data")
    if kind == "gauge":
        return MetricType.GAUGE, "gauge", m.gauge.data_points
    if kind == "summary":
        return MetricType.SUMMARY, "summary", m.summary.data_points
    if kind == "sum":
        if m.sum.aggregation_temporality != _CUMULATIVE:
            msg = f'delta or unspecified temporality of sum "{m.name}" is not supported'
            out.reject(len(m.sum.data_points), msg)
            return None
        if m.sum.is_monotonic:
            return MetricType.MONOTONIC_COUNTER, "counter", m.sum.data_points
        return MetricType.NON_MONOTONIC_COUNTER, "gauge", m.sum.data_points
    if kind == "histogram":
        if m.histogram.aggregation_temporality != _CUMULATIVE:
            msg = f'delta or unspecified temporality of histogram "{m.name}" is not supported'
            out.reject(len(m.histogram.data_points), msg)
            return None
        return MetricType.HISTOGRAM, "histogram", m.histogram.data_points
    if kind == "exponential_histogram":
        msg = f'exponential histogram "{m.name}" is not supported yet'
        out.reject(len(m.exponential_histogram.data_points), msg)
        return None
    out.reject(0, f'metric "{m.name}" has no data')
    return None


def _scope_labels(sm: pb.ScopeMetrics, st: TranslationSettings) -> tuple[tuple[str, str], ...]:
    if not (st.promote_scope_metadata and sm.scope.name):
        return ()
    extra = ((st.label("otel_scope_" + k), v) for k, v in _attrs(sm.scope.attributes))
    return (
        ("otel_scope_name", sm.scope.name),
        ("otel_scope_version", sm.scope.version),
        ("otel_scope_schema_url", sm.schema_url),
        *((k, v) for k, v in extra if k),
    )


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
        """The samples, metadata and rejections of one request (refs via ``resolver``)."""
        out = _Samples()
        meta: dict[tuple[str, str], dict[str, Metadata]] = {}
        for rm in req.resource_metrics:
            first = len(out.ts)
            res = _resource(rm.resource.attributes, self.settings)
            fams = meta.setdefault((res.job, res.instance), {})
            rid = resolver.intern(res.key)
            for sm in rm.scope_metrics:
                scope = _scope_labels(sm, self.settings)
                sid = resolver.intern(scope)
                for m in sm.metrics:
                    kind = _kind(m, out)
                    if kind is None or not kind[2]:
                        continue
                    mtype, ptype, points = kind
                    fam = self.family(m.name, m.unit, mtype)
                    if not fam:
                        msg = f"metric name {m.name!r} gives no valid Prometheus name"
                        out.reject(len(points), msg)
                        continue
                    fams[fam] = Metadata(ptype, m.description, unit_name(m.unit))
                    family = _Family(m.name, fam, ptype, mtype is not MetricType.GAUGE)
                    self._points(family, points, (res, rid), (scope, sid), resolver, out)
            if len(out.ts) > first:
                res.min_ts, res.max_ts = min(out.ts[first:]), max(out.ts[first:])
                self._target_info(res, resolver, out)
        return out.finish(meta)

    def _points(
        self,
        family: _Family,
        points: Sequence[Any],
        resource: tuple[_Resource, int],
        scope: tuple[tuple[tuple[str, str], ...], int],
        resolver: SeriesResolver,
        out: _Samples,
    ) -> None:
        """The hot loop: one cache lookup and a few list appends per data point."""
        res, rid = resource
        scope_labels, sid = scope
        fam, ptype, with_start = family.name, family.ptype, family.start_times
        dp: Any
        for dp in points:
            attrs = _attrs(dp.attributes)
            vals: list[float]
            key: Hashable
            if ptype == "histogram":
                n = min(len(dp.explicit_bounds), len(dp.bucket_counts))
                has_sum = dp.HasField("sum")
                key = (rid, sid, fam, attrs, tuple(dp.explicit_bounds[:n]), has_sum)
                # Cumulative buckets, then +Inf (= count), sum (if set) and count.
                vals = list(itertools.accumulate(dp.bucket_counts[:n]))
                vals.append(dp.count)
                if has_sum:
                    vals.append(dp.sum)
                vals.append(dp.count)
            elif ptype == "summary":
                key = (rid, sid, fam, attrs, tuple(q.quantile for q in dp.quantile_values))
                vals = [q.value for q in dp.quantile_values]
                vals += (dp.sum, dp.count)
            else:
                key = (rid, sid, fam, attrs)
                vals = [dp.as_int if dp.WhichOneof("value") == "as_int" else dp.as_double]
            try:
                refs = resolver.refs(key, self._series, (res, scope_labels, fam, ptype, dp, attrs))
            except ValueError as e:
                out.reject(1, f'metric "{family.otel_name}": {e}')
                continue
            t = dp.time_unix_nano // 1_000_000
            st = dp.start_time_unix_nano // 1_000_000 if with_start else 0
            out.add(refs, vals, t, st if st <= t else 0, bool(dp.flags & _NO_RECORDED_VALUE))

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

    def _target_info(self, res: _Resource, resolver: SeriesResolver, out: _Samples) -> None:
        st = self.settings
        if not any(k not in _IDENTIFYING for k in res.attrs):
            return  # only job and instance: target_info would say nothing more
        if not (res.job or res.instance):
            return
        ignore = () if st.keep_identifying_resource_attributes else _IDENTIFYING
        no_promotion = _Resource(res.attrs, res.job, res.instance, [], res.key)

        def build() -> list[Labels]:
            base = _base_labels(no_promotion, list(res.attrs.items()), (), st, ignore)
            return [_with(base, "target_info")]

        try:
            refs = resolver.refs(("target_info", resolver.intern(res.key)), build, ())
        except ValueError:
            return
        # From the earliest to the latest point every lookback/2, so that target_info
        # never goes stale in between (Prometheus' rule).
        times = list(range(res.min_ts, res.max_ts, LOOKBACK_MS // 2))
        if not times or times[-1] < res.max_ts:
            times.append(res.max_ts)
        for t in times:
            out.add(refs, [1.0], t, 0, False)
