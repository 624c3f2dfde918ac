"""OTLP → Prometheus names: cases taken from Prometheus' otlptranslator tests
(metric_namer_test.go, label_namer_test.go, unit_namer_test.go) and the OpenTelemetry
collector's normalize_name_test.go that they came from."""

from __future__ import annotations

import pytest

from promhub.ingest.otlp_names import MetricType, label_name, metric_name, unit_name

G, C, U = MetricType.GAUGE, MetricType.MONOTONIC_COUNTER, MetricType.NON_MONOTONIC_COUNTER
H, S = MetricType.HISTOGRAM, MetricType.SUMMARY


@pytest.mark.parametrize(
    ("name", "unit", "mtype", "want"),
    [
        # metric_namer_test.go, WithMetricSuffixes, escaping
        ("requests", "", C, "requests_total"),
        ("cpu_usage", "1", G, "cpu_usage_ratio"),
        ("items", "1", C, "items_total"),
        ("response_time", "ms", G, "response_time_milliseconds"),
        ("memory_usage", "By", G, "memory_usage_bytes"),
        ("requests", "1/s", G, "requests_per_second"),
        ("throughput", "By/s", G, "throughput_bytes_per_second"),
        ("custom_metric", "custom_unit", G, "custom_metric_custom_unit"),
        ("custom_metric", "{custom}", G, "custom_metric"),
        ("custom_metric", "By/{custom}", G, "custom_metric_bytes"),
        ("requests_total", "", C, "requests_total"),
        ("cpu_usage_ratio", "1", G, "cpu_usage_ratio"),
        ("response_time_seconds", "s", G, "response_time_seconds"),
        (
            "metric__with__multiple__underscores",
            "unit__multiple__underscores",
            G,
            "metric_with_multiple_underscores_unit_multiple_underscores",
        ),
        (
            "custom_metric",
            "unit@with#special/chars",
            G,
            "custom_metric_unit_with_special_per_chars",
        ),
        ("@#$%", "", G, ""),
        ("request_duration", "s", H, "request_duration_seconds"),
        ("response_time", "ms", S, "response_time_milliseconds"),
        ("active_connections", "", U, "active_connections"),
        ("uptime", "d", G, "uptime_days"),
        ("duration", "h", G, "duration_hours"),
        # normalize_name_test.go (collector)
        ("system.filesystem.usage", "By", G, "system_filesystem_usage_bytes"),
        ("system.io", "By", C, "system_io_bytes_total"),
        ("system.network.dropped", "{packets}", C, "system_network_dropped_total"),
        ("http.server.request.duration", "s", H, "http_server_request_duration_seconds"),
        ("broken.metric.speed", "km/h", G, "broken_metric_speed_km_per_hour"),
        ("temperature", "Cel", G, "temperature_celsius"),
        ("disk.usage", "KiBy", G, "disk_usage_kibibytes"),
        ("energy", "J", C, "energy_joules_total"),
        ("unusual_total_name", "", C, "unusual_name_total"),
        ("unused.ratio.gauge", "1", G, "unused_gauge_ratio"),
        ("disk.used", "%", G, "disk_used_percent"),
        ("123.requests", "", G, "_123_requests"),
        ("colons:are:kept", "", G, "colons:are:kept"),
    ],
)
def test_metric_name_with_suffixes(name: str, unit: str, mtype: MetricType, want: str) -> None:
    assert metric_name(name, unit, mtype) == want


@pytest.mark.parametrize(
    ("name", "want"),
    [
        ("simple_metric", "simple_metric"),
        ("metric@with#special$chars", "metric_with_special_chars"),
        ("123metric", "_123metric"),
        ("metric@@##$$name", "metric_name"),
        ("@#$%", ""),
    ],
)
def test_metric_name_without_suffixes(name: str, want: str) -> None:
    assert metric_name(name, "s", C, suffixes=False) == want


@pytest.mark.parametrize(
    ("label", "want"),
    [
        ("label:with:colons", "label_with_colons"),
        ("LabelWithCapitalLetters", "LabelWithCapitalLetters"),
        ("label!with&special$chars)", "label_with_special_chars_"),
        ("label.with.dots", "label_with_dots"),
        ("123label", "key_123label"),
        ("_label_starting_with_underscore", "_label_starting_with_underscore"),
        ("__reserved__", "__reserved__"),
        ("http.request.method", "http_request_method"),
        ("ようこそ", ""),
        ("__", ""),
        ("", ""),
    ],
)
def test_label_name(label: str, want: str) -> None:
    assert label_name(label) == want


def test_label_name_options() -> None:
    assert label_name("_x", underscore_sanitization=True) == "key_x"
    assert label_name("__x__", underscore_sanitization=True) == "__x__"
    assert label_name("a..b") == "a_b"
    assert label_name("a..b", preserve_underscores=True) == "a__b"


@pytest.mark.parametrize(
    ("unit", "want"),
    [
        ("s", "seconds"),
        ("By/s", "bytes_per_second"),
        ("1/s", "per_second"),
        ("1", ""),
        ("{request}", ""),
        ("ms", "milliseconds"),
        ("custom", "custom"),
    ],
)
def test_unit_name(unit: str, want: str) -> None:
    assert unit_name(unit) == want
