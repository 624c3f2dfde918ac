"""OpenTelemetry → Prometheus names, as Prometheus 3.x's OTLP receiver builds them.

Prometheus delegates this to its ``otlptranslator`` library; the rules (and the test cases
in ``tests/ingest/test_otlp_names.py``) follow it for the classic, escaped naming scheme
(``translation_strategy: UnderscoreEscapingWithSuffixes`` and ``...WithoutSuffixes``):

- a metric name is split into tokens at every character outside ``[a-zA-Z0-9:]``; the
  tokens are joined with ``_`` (so runs of invalid characters and underscores collapse);
- the unit (UCUM, e.g. ``By/s``) becomes suffix tokens: the main unit through
  :data:`UNIT_MAP`, a ``/per`` unit through :data:`PER_UNIT_MAP` as ``per_<unit>``;
  annotations in braces (``{request}``) are dropped; a suffix already among the tokens
  is not added twice;
- monotonic counters end in ``total``, gauges of unit ``1`` in ``ratio`` (each moved to
  the end if the name already has it);
- a name starting with a digit gets a leading ``_``;
- label names: characters outside ``[a-zA-Z0-9]`` become ``_`` with runs collapsed
  (unless ``preserve_underscores``), a leading digit gets ``key_``, ``__x__`` is kept.
"""

from __future__ import annotations

import enum
import re


class MetricType(enum.Enum):
    """What an OTLP metric becomes in Prometheus (decides the type suffixes)."""

    GAUGE = "gauge"
    MONOTONIC_COUNTER = "counter"
    NON_MONOTONIC_COUNTER = "non_monotonic_counter"
    HISTOGRAM = "histogram"
    EXPONENTIAL_HISTOGRAM = "exponential_histogram"
    SUMMARY = "summary"
    UNKNOWN = "unknown"


#: UCUM units → Prometheus' base-unit words. Unknown units are kept (then sanitised).
UNIT_MAP = {
    # time
    "d": "days",
    "h": "hours",
    "min": "minutes",
    "s": "seconds",
    "ms": "milliseconds",
    "us": "microseconds",
    "ns": "nanoseconds",
    # bytes
    "By": "bytes",
    "KiBy": "kibibytes",
    "MiBy": "mebibytes",
    "GiBy": "gibibytes",
    "TiBy": "tibibytes",
    "KBy": "kilobytes",
    "MBy": "megabytes",
    "GBy": "gigabytes",
    "TBy": "terabytes",
    # SI
    "m": "meters",
    "V": "volts",
    "A": "amperes",
    "J": "joules",
    "W": "watts",
    "g": "grams",
    # misc
    "Cel": "celsius",
    "Hz": "hertz",
    "1": "",
    "%": "percent",
}

#: The unit after ``/`` (singular: ``By/s`` is ``bytes_per_second``).
PER_UNIT_MAP = {
    "s": "second",
    "m": "minute",
    "h": "hour",
    "d": "day",
    "w": "week",
    "mo": "month",
    "y": "year",
}

_NOT_METRIC_CHAR = re.compile(r"[^a-zA-Z0-9:]+")
_NOT_METRIC_CHAR_ONE = re.compile(r"[^a-zA-Z0-9:]")
_NOT_LABEL_CHAR = re.compile(r"[^a-zA-Z0-9]+")
_NOT_LABEL_CHAR_ONE = re.compile(r"[^a-zA-Z0-9_]")


def _unit_parts(unit: str) -> tuple[str, str]:
    """The main and ``per_`` suffixes of a UCUM unit, before character clean-up."""
    main_otel, _, per_otel = unit.partition("/")
    main_otel = main_otel.strip()
    main = ""
    if main_otel and "{" not in main_otel and "}" not in main_otel:
        main = UNIT_MAP.get(main_otel, main_otel)
    per = ""
    per_otel = per_otel.strip()
    if per_otel and "{" not in per_otel and "}" not in per_otel:
        per = "per_" + PER_UNIT_MAP.get(per_otel, per_otel)
    return main, per


def _clean_unit(unit: str) -> str:
    # Invalid characters become underscores, runs collapse, one leading "_" goes.
    return _collapse(_NOT_METRIC_CHAR_ONE.sub("_", unit)).removeprefix("_")


def _collapse(s: str) -> str:
    return re.sub(r"_+", "_", s)


def unit_name(unit: str) -> str:
    """The unit as Prometheus' metadata shows it: ``By/s`` → ``bytes_per_second``."""
    main, per = _unit_parts(unit)
    main, per = _clean_unit(main), _clean_unit(per)
    u = f"{main}_{per}" if main and per else main or per
    return u.strip("_") if u else ""


def metric_name(
    name: str, unit: str, mtype: MetricType, *, suffixes: bool = True, namespace: str = ""
) -> str:
    """The Prometheus metric (family) name of an OTLP metric; "" if nothing valid is left.

    >>> metric_name("http.server.request.duration", "s", MetricType.HISTOGRAM)
    'http_server_request_duration_seconds'
    """
    if not suffixes:
        out = "_".join(t for t in re.split(r"[^a-zA-Z0-9:_]+", name) if t)
        if namespace:
            ns = "_".join(t for t in re.split(r"[^a-zA-Z0-9:_]+", namespace) if t)
            out = f"{ns}_{out}"
        elif out[:1].isdigit():
            out = "_" + out
        return out if out.strip("_") else ""
    tokens = [t for t in _NOT_METRIC_CHAR.split(name) if t]
    main, per = _unit_parts(unit)
    main, per = _clean_unit(main), _clean_unit(per)
    if main in tokens:
        main = ""
    if per == "per_":
        per = ""
    else:
        per = per.removesuffix("_")
        if per in tokens:
            per = ""
    if per:
        main = main.removesuffix("_")
    if main:
        tokens.append(main)
    if per:
        tokens.append(per)
    if mtype is MetricType.MONOTONIC_COUNTER:
        tokens = [t for t in tokens if t != "total"] + ["total"]
    if unit == "1" and mtype is MetricType.GAUGE:
        tokens = [t for t in tokens if t != "ratio"] + ["ratio"]
    if namespace:
        tokens.insert(0, namespace)
    out = "_".join(tokens)
    if out[:1].isdigit():
        out = "_" + out
    return out if out.strip("_") else ""


def label_name(
    name: str, *, underscore_sanitization: bool = False, preserve_underscores: bool = False
) -> str:
    """A Prometheus label name for an OTLP attribute key; "" if nothing valid is left.

    >>> label_name("http.request.method")
    'http_request_method'
    >>> label_name("123abc")
    'key_123abc'
    """
    if not name:
        return ""
    if preserve_underscores:
        out = _NOT_LABEL_CHAR_ONE.sub("_", name)
    elif len(name) >= 4 and name.startswith("__") and name.endswith("__"):
        out = "__" + _NOT_LABEL_CHAR.sub("_", name[2:-2]) + "__"
    else:
        out = _NOT_LABEL_CHAR.sub("_", name)
    if out[0].isdigit():
        out = "key_" + out
    elif underscore_sanitization and out.startswith("_") and not out.startswith("__"):
        out = "key" + out
    if out != name and not out.strip("_"):
        return ""
    return out
