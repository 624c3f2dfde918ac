"""The OTLP metrics receiver: ``POST /api/v1/otlp/v1/metrics`` as in Prometheus 3.x.

Turned on by ``--web.enable-otlp-receiver``. A request body (OTLP/protobuf or OTLP/JSON)
is decoded into an ``ExportMetricsServiceRequest``, translated
by :mod:`promhub.ingest.otlp_translate` and committed to storage in one append, so a
request is stored entirely or not at all. Points promhub cannot store yet (exponential
histograms, delta temporality) and samples the storage refuses (out of order) are counted
and reported back in the response's ``partial_success``, as the OTLP spec asks.

Series refs are cached per translation key across requests (the label set of a data
point is built only the first time it is seen). The head garbage-collects series without
samples; a commit that hits a forgotten ref clears the cache and is translated again once,
as the scrape loop does.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as svc
from prometheus_client import CollectorRegistry, Counter

from promhub.config.otlp import TranslationSettings, parse_settings
from promhub.ingest.otlp_translate import SeriesResolver, Translator
from promhub.model.labels import Labels
from promhub.model.protowire import encode_varint
from promhub.storage.interface import (
    Appendable,
    Appender,
    Metadata,
    Refs,
    StorageError,
    StorageFullError,
)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
#: Series refs kept across requests before the cache starts afresh.
MAX_CACHED_KEYS = 1_000_000


class OTLPError(Exception):
    """A request the receiver refuses; ``status`` is the HTTP status to answer with."""

    status = 400


class UnsupportedMediaTypeError(OTLPError):
    """The Content-Type is neither OTLP/protobuf nor OTLP/JSON."""

    status = 415


class MalformedRequestError(OTLPError):
    """The body cannot be decoded as an ExportMetricsServiceRequest."""


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What one request did."""

    appended: int
    rejected_points: int
    error_message: str


# -- decoding -------------------------------------------------------------------------------


def media_type(content_type: str) -> str:
    """The OTLP encoding a Content-Type names; raises :class:`UnsupportedMediaTypeError`."""
    mt = content_type.split(";", 1)[0].strip().lower()
    if mt in (PROTOBUF, JSON):
        return mt
    raise UnsupportedMediaTypeError(
        f"unsupported content type: {content_type or '(none)'}, supported: [{JSON}, {PROTOBUF}]"
    )


def _hex_ids_to_base64(doc: Any) -> None:
    """OTLP/JSON writes trace and span ids in hex; protobuf's JSON mapping wants base64."""
    for rm in doc.get("resourceMetrics") or doc.get("resource_metrics") or []:
        for sm in rm.get("scopeMetrics") or rm.get("scope_metrics") or []:
            for m in sm.get("metrics") or []:
                for kind in ("gauge", "sum", "histogram", "exponentialHistogram", "summary"):
                    data = m.get(kind)
                    if not isinstance(data, dict):
                        continue
                    for dp in data.get("dataPoints") or data.get("data_points") or []:
                        for ex in dp.get("exemplars") or []:
                            for f in ("traceId", "spanId", "trace_id", "span_id"):
                                v = ex.get(f)
                                if isinstance(v, str) and v:
                                    try:
                                        ex[f] = base64.b64encode(bytes.fromhex(v)).decode()
                                    except ValueError:
                                        raise MalformedRequestError(
                                            f"exemplar {f} {v!r} is not hex"
                                        ) from None


def decode(body: bytes, mtype: str) -> svc.ExportMetricsServiceRequest:
    """An ExportMetricsServiceRequest from an OTLP/protobuf or OTLP/JSON body."""
    req = svc.ExportMetricsServiceRequest()
    if mtype == PROTOBUF:
        try:
            req.ParseFromString(body)
        except DecodeError as e:
            raise MalformedRequestError(
                f"cannot decode protobuf ExportMetricsServiceRequest: {e}"
            ) from None
        return req
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise MalformedRequestError(f"invalid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise MalformedRequestError("invalid OTLP/JSON: the body must be a JSON object")
    try:
        _hex_ids_to_base64(doc)
        json_format.ParseDict(doc, req, ignore_unknown_fields=True)
    except (json_format.ParseError, AttributeError, TypeError, binascii.Error) as e:
        raise MalformedRequestError(f"invalid OTLP/JSON ExportMetricsServiceRequest: {e}") from None
    return req


def encode_response(result: ExportResult, mtype: str) -> bytes:
    """The ExportMetricsServiceResponse for ``result`` in the request's encoding."""
    resp = svc.ExportMetricsServiceResponse()
    if result.rejected_points or result.error_message:
        resp.partial_success.rejected_data_points = result.rejected_points
        resp.partial_success.error_message = result.error_message
    if mtype == JSON:
        return json_format.MessageToJson(resp, indent=None).encode()
    return resp.SerializeToString()


def encode_status(code: int, message: str, mtype: str) -> bytes:
    """A ``google.rpc.Status`` error body, as OTLP/HTTP answers failures with."""
    if mtype == JSON:
        return json.dumps({"code": code, "message": message}).encode()
    msg = message.encode()
    out = bytearray(b"\x08")  # field 1 (code), varint
    out += encode_varint(code)
    out += b"\x12"  # field 2 (message), length-delimited
    out += encode_varint(len(msg))
    return bytes(out + msg)


# -- series refs ------------------------------------------------------------------------------


class _RefCache(SeriesResolver):
    """Translation key → refs, across requests; the appender is set per request."""

    def __init__(self, max_keys: int) -> None:
        self.max_keys = max_keys
        self.app: Appender | None = None
        self._refs: dict[Hashable, Refs] = {}
        self._ids: dict[Hashable, int] = {}

    def clear(self) -> None:
        self._refs.clear()
        self._ids.clear()

    def begin(self, app: Appender) -> None:
        self.app = app
        if len(self._refs) > self.max_keys or len(self._ids) > self.max_keys:
            self.clear()

    def __len__(self) -> int:
        return len(self._refs)

    def intern(self, key: Hashable) -> int:
        i = self._ids.get(key)
        if i is None:
            i = self._ids[key] = len(self._ids)
        return i

    def refs(
        self, key: Hashable, build: Callable[..., Sequence[Labels]], args: tuple[Any, ...]
    ) -> Refs:
        r = self._refs.get(key)
        if r is None:
            assert self.app is not None
            app = self.app
            r = np.array([app.ref(ls) for ls in build(*args)], dtype=np.int64)
            self._refs[key] = r
        return r


# -- the receiver ---------------------------------------------------------------------------------


class OTLPReceiver:
    """Stores OTLP metric exports in ``appendable``; see the module docstring.

    ``write`` blocks (translation and the WAL write) and is meant for a worker thread;
    requests are translated and committed one at a time.
    """

    def __init__(
        self,
        appendable: Appendable,
        registry: CollectorRegistry | None = None,
        *,
        max_cached_keys: int = MAX_CACHED_KEYS,
    ) -> None:
        self._appendable = appendable
        self._lock = threading.Lock()
        self._translator = Translator()
        self._cache = _RefCache(max_cached_keys)
        self._metadata: dict[tuple[str, str], dict[str, Metadata]] = {}
        self._samples = Counter(
            "promhub_otlp_samples_appended_total",
            "Samples received through the OTLP receiver and stored.",
            registry=registry,
        )
        self._rejected = Counter(
            "promhub_otlp_data_points_rejected_total",
            "OTLP data points that could not be stored (unsupported type or temporality, "
            "invalid names) or samples the storage refused.",
            registry=registry,
        )
        self._failed = Counter(
            "promhub_otlp_requests_failed_total",
            "OTLP export requests answered with an error status.",
            ["code"],
            registry=registry,
        )

    @property
    def settings(self) -> TranslationSettings:
        return self._translator.settings

    def apply_config(self, otlp: dict[str, Any]) -> None:
        """Apply the configuration's ``otlp:`` section (already validated by the loader)."""
        settings = parse_settings(otlp)
        with self._lock:
            if settings != self._translator.settings:
                # Names and labels depend on the settings: no cached ref is valid any more.
                self._translator = Translator(settings)
                self._cache.clear()

    def metadata(self) -> dict[tuple[str, str], dict[str, Metadata]]:
        """(job, instance) → metric family → the latest metadata received for it."""
        with self._lock:
            return {k: dict(v) for k, v in self._metadata.items()}

    def count_failure(self, status: int) -> None:
        self._failed.labels(str(status)).inc()

    def write(self, body: bytes, content_type: str) -> ExportResult:
        """Decode, translate and store one export request (``body`` already decompressed:
        the HTTP server undoes ``Content-Encoding: gzip`` within the body size limit).

        Raises :class:`OTLPError` for a request that is not valid OTLP and
        :class:`~promhub.storage.interface.StorageError` when storage fails (nothing of the
        request is stored then).
        """
        mtype = media_type(content_type)
        req = decode(body, mtype)
        with self._lock:
            try:
                return self._store(req)
            except StorageError as e:
                if isinstance(e, StorageFullError):
                    raise
                # A cached ref the head has garbage-collected since: resolve all again.
                self._cache.clear()
                return self._store(req)

    def _store(self, req: svc.ExportMetricsServiceRequest) -> ExportResult:
        app = self._appendable.appender()
        self._cache.begin(app)
        try:
            tr = self._translator.translate(req, self._cache)
            if len(tr.refs):
                app.append(tr.refs, tr.timestamps, tr.values, tr.start_timestamps)
            res = app.commit()
        except BaseException:
            app.rollback()
            raise
        finally:
            self._cache.app = None
        for target, fams in tr.metadata.items():
            self._metadata.setdefault(target, {}).update(fams)
        refused = res.out_of_order + res.duplicate + res.too_old
        errors = list(tr.errors)
        if refused:
            what = [
                f"{n} {kind}"
                for n, kind in (
                    (res.out_of_order, "out of order"),
                    (res.duplicate, "duplicate"),
                    (res.too_old, "too old"),
                )
                if n
            ]
            errors.append(f"{refused} samples refused by storage ({', '.join(what)})")
        self._samples.inc(res.appended)
        if tr.rejected_points + refused:
            self._rejected.inc(tr.rejected_points + refused)
        return ExportResult(res.appended, tr.rejected_points + refused, "; ".join(errors))
