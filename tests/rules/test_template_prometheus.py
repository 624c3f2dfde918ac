"""Prometheus' template_test.go cases, ported: rule template functions and error messages."""

from __future__ import annotations

import math
from typing import Any

import pytest

from promhub.rules.template import TemplateError
from promhub.rules.template_funcs import (
    Sample,
    expand_rule_template,
    expand_rule_template_or_error,
    expand_template,
    rule_funcs,
)

EXT_URL = "http://testhost:9090/path/prefix"
MAX_I64 = 2**63 - 1
MAX_U64 = 2**64 - 1


def expand(text: str, data: Any = None, query_result: list[Sample] | None = None) -> str:
    funcs = rule_funcs(query=lambda _expr: list(query_result or []), external_url=EXT_URL)
    return expand_template("test", text, data, funcs)


def metric(value: float, **labels: str) -> Sample:
    return Sample({"__name__": "metric", **labels}, value)


CASES: list[tuple[str, Any, list[Sample] | None, str]] = [
    ("plain text", None, None, "plain text"),
    ("{{ 1 }}", None, None, "1"),
    ('{{ "<b>" }}', None, None, "<b>"),
    ('{{define "x"}}{{.arg0}} {{.arg1}}{{end}}{{template "x" (args 1 "2")}}', None, None, "1 2"),
    ('{{ query "1.5" | first | value }}', None, [Sample({}, 1.5)], "1.5"),
    (
        "{{ query \"metric{instance='a'}\" | first | value }}",
        None,
        [metric(11, instance="a")],
        "11",
    ),
    (
        '{{ query "metric{instance=\'a\'}" | first | label "instance" }}',
        None,
        [metric(11, instance="a")],
        "a",
    ),
    (
        "{{ query \"metric{__value__='a'}\" | first | strvalue }}",
        None,
        [metric(11, __value__="a")],
        "a",
    ),
    (
        '{{ query "metric{instance=\'a\'}" | first | label "foo" }}',
        None,
        [metric(11, instance="a")],
        "",
    ),
    ('{{ $x := query "metric" | first }}{{ $x.Labels.foo }}', None, [metric(11, instance="a")], ""),
    (
        '{{ range query "metric" | sortByLabel "instance" }}'
        "{{.Labels.instance}}:{{.Value}}: {{end}}",
        None,
        [metric(21, instance="b"), metric(11, instance="a")],
        "a:11: b:21: ",
    ),
    ('{{ "foo.example.com" | stripPort }}', None, None, "foo.example.com"),
    ('{{ "foo.example.com:12345" | stripPort }}', None, None, "foo.example.com"),
    ('{{ "192.0.2.1" | stripPort }}', None, None, "192.0.2.1"),
    ('{{ "192.0.2.1:12345" | stripPort }}', None, None, "192.0.2.1"),
    ('{{ "2001:0DB8::1" | stripPort }}', None, None, "2001:0DB8::1"),
    ('{{ "[2001:0DB8::1]:12345" | stripPort }}', None, None, "2001:0DB8::1"),
    ('{{ "[2001:0DB8::1]::12345" | stripPort }}', None, None, "[2001:0DB8::1]::12345"),
    ("{{ .Foo }}", None, None, "<no value>"),
    ('{{ reReplaceAll "(a)b" "x$1" "ab" }}', None, None, "xa"),
    (
        "{{ range . }}{{ humanize . }}:{{ end }}",
        [0.0, 1.0, 1234567.0, 0.12],
        None,
        "0:1:1.235M:120m:",
    ),
    (
        "{{ range . }}{{ humanize . }}:{{ end }}",
        ["0.0", "1.0", "1234567.0", ".12"],
        None,
        "0:1:1.235M:120m:",
    ),
    (
        "{{ range . }}{{ humanize . }}:{{ end }}",
        [0, -1, 1, 1234567, MAX_I64],
        None,
        "0:-1:1:1.235M:9.223E:",
    ),
    (
        "{{ range . }}{{ humanize . }}:{{ end }}",
        [0, 1, 1234567, MAX_U64],
        None,
        "0:1:1.235M:18.45E:",
    ),
    (
        "{{ range . }}{{ humanize1024 . }}:{{ end }}",
        [0.0, 1.0, 1048576.0, 0.12],
        None,
        "0:1:1Mi:0.12:",
    ),
    (
        "{{ range . }}{{ humanize1024 . }}:{{ end }}",
        ["0.0", "1.0", "1048576.0", ".12"],
        None,
        "0:1:1Mi:0.12:",
    ),
    (
        "{{ range . }}{{ humanize1024 . }}:{{ end }}",
        [0, -1, 1, 1234567, MAX_I64],
        None,
        "0:-1:1:1.177Mi:8Ei:",
    ),
    (
        "{{ range . }}{{ humanize1024 . }}:{{ end }}",
        [0, 1, 1234567, MAX_U64],
        None,
        "0:1:1.177Mi:16Ei:",
    ),
    (
        "{{ range . }}{{ humanizeDuration . }}:{{ end }}",
        [0, 1, 60, 3600, 86400, 86400 + 3600, -(86400 * 2 + 3600 * 3 + 60 * 4 + 5), 899.99],
        None,
        "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:1d 1h 0m 0s:-2d 3h 4m 5s:14m 59s:",
    ),
    (
        "{{ range . }}{{ humanizeDuration . }}:{{ end }}",
        ["0", "1", "60", "3600", "86400"],
        None,
        "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:",
    ),
    (
        "{{ range . }}{{ humanizeDuration . }}:{{ end }}",
        [0.1, 0.0001, 0.12345, 60.1, 60.5, 1.2345, 12.345],
        None,
        "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:",
    ),
    (
        "{{ range . }}{{ humanizeDuration . }}:{{ end }}",
        [".1", ".0001", ".12345", "60.1", "60.5", "1.2345", "12.345"],
        None,
        "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:",
    ),
    (
        "{{ range . }}{{ humanizeDuration . }}:{{ end }}",
        [0, -1, 1, 1234567],
        None,
        "0s:-1s:1s:14d 6h 56m 7s:",
    ),
    (
        "{{ range . }}{{ humanize . }}:{{ humanize1024 . }}:{{ humanizeDuration . }}:"
        "{{humanizeTimestamp .}}:{{ end }}",
        [math.inf, -math.inf, math.nan],
        None,
        "+Inf:+Inf:+Inf:+Inf:-Inf:-Inf:-Inf:-Inf:NaN:NaN:NaN:NaN:",
    ),
    (
        "{{ range . }}{{ humanize . }}:{{ humanize1024 . }}:{{ humanizeDuration . }}:"
        "{{humanizeTimestamp .}}:{{ end }}",
        ["+Inf", "-Inf", "NaN"],
        None,
        "+Inf:+Inf:+Inf:+Inf:-Inf:-Inf:-Inf:-Inf:NaN:NaN:NaN:NaN:",
    ),
    (
        "{{ -0.22222 | humanizePercentage }}:{{ 0.0 | humanizePercentage }}:"
        "{{ 0.1234567 | humanizePercentage }}:{{ 1.23456 | humanizePercentage }}",
        None,
        None,
        "-22.22%:0%:12.35%:123.5%",
    ),
    (
        "{{ range . }}{{ humanizePercentage . }}:{{ end }}",
        [0, -1, 1, 1234567, MAX_I64],
        None,
        "0%:-100%:100%:1.235e+08%:9.223e+20%:",
    ),
    (
        "{{ range . }}{{ humanizePercentage . }}:{{ end }}",
        [0, 1, 1234567, MAX_U64],
        None,
        "0%:100%:1.235e+08%:1.845e+21%:",
    ),
    (
        '{{ "-0.22222" | humanizePercentage }}:{{ "0.0" | humanizePercentage }}:'
        '{{ "0.1234567" | humanizePercentage }}:{{ "1.23456" | humanizePercentage }}',
        None,
        None,
        "-22.22%:0%:12.35%:123.5%",
    ),
    (
        "{{ range . }}{{ humanizeTimestamp . }}:{{ end }}",
        [0, -1, 1, 1234567, 9223372036],
        None,
        "1970-01-01 00:00:00 +0000 UTC:1969-12-31 23:59:59 +0000 UTC:"
        "1970-01-01 00:00:01 +0000 UTC:1970-01-15 06:56:07 +0000 UTC:"
        "2262-04-11 23:47:16 +0000 UTC:",
    ),
    ("{{ 1435065584.128 | humanizeTimestamp }}", None, None, "2015-06-23 13:19:44.128 +0000 UTC"),
    ('{{ "1435065584.128" | humanizeTimestamp }}', None, None, "2015-06-23 13:19:44.128 +0000 UTC"),
    ('{{ (1435065584.128 | toTime).Format "2006" }}', None, None, "2015"),
    ('{{ ("1435065584.128" | toTime).Format "2006" }}', None, None, "2015"),
    ('{{ "aa bb CC" | title }}', None, None, "Aa Bb CC"),
    ('{{ "aa bb CC" | toUpper }}', None, None, "AA BB CC"),
    ('{{ "aA bB CC" | toLower }}', None, None, "aa bb cc"),
    ('{{ match "a+" "aa" }} {{ match "a+" "b" }}', None, None, "true false"),
    ('{{ graphLink "up" }}', None, None, "/graph?g0.expr=up&g0.tab=0"),
    ('{{ tableLink "up" }}', None, None, "/graph?g0.expr=up&g0.tab=1"),
    ("{{ pathPrefix }}", None, None, "/path/prefix"),
    ("{{ externalURL }}", None, None, "http://testhost:9090/path/prefix"),
    ('{{ printf "%0.2f" (parseDuration "1h2m10ms") }}', None, None, "3720.01"),
    ('{{ "foo.example.com" | stripDomain }}', None, None, "foo"),
    ('{{ "foo.example.com:12345" | stripDomain }}', None, None, "foo:12345"),
    ('{{ "192.0.2.1" | stripDomain }}', None, None, "192.0.2.1"),
    ('{{ "192.0.2.1:12345" | stripDomain }}', None, None, "192.0.2.1:12345"),
    ('{{ "2001:0DB8::1" | stripDomain }}', None, None, "2001:0DB8::1"),
    ('{{ "[2001:0DB8::1]:12345" | stripDomain }}', None, None, "[2001:0DB8::1]:12345"),
    ('{{ "[2001:0DB8::1]::12345" | stripDomain }}', None, None, "[2001:0DB8::1]::12345"),
]


@pytest.mark.parametrize(("text", "data", "query_result", "want"), CASES)
def test_prometheus_expansion(
    text: str, data: Any, query_result: list[Sample] | None, want: str
) -> None:
    assert expand(text, data, query_result) == want


ERRORS: list[tuple[str, Any, str]] = [
    (
        "{{\u00a0}}",
        None,
        "error parsing template test: template: test:1: unrecognized character in action: U+00A0",
    ),
    ("{{", None, "error parsing template test: template: test:1: unclosed action"),
    (
        '{{ query "missing" | first }}',
        None,
        'error executing template test: template: test:1:21: executing "test" at <first>: '
        "error calling first: first() called on vector with no elements",
    ),
    (
        '{{ humanize "one" }}',
        None,
        'error executing template test: template: test:1:3: executing "test" at <humanize "one">: '
        'error calling humanize: strconv.ParseFloat: parsing "one": invalid syntax',
    ),
    (
        '{{ humanize1024 "one" }}',
        None,
        'error executing template test: template: test:1:3: executing "test" at '
        '<humanize1024 "one">: error calling humanize1024: strconv.ParseFloat: parsing "one": '
        "invalid syntax",
    ),
    (
        '{{ "one" | humanizePercentage }}',
        None,
        'error executing template test: template: test:1:11: executing "test" at '
        "<humanizePercentage>: error calling humanizePercentage: strconv.ParseFloat: parsing "
        '"one": invalid syntax',
    ),
    (
        "{{ range . }}{{ humanizeTimestamp . }}:{{ end }}",
        [-(2**63), MAX_I64],
        'error executing template test: template: test:1:16: executing "test" at '
        "<humanizeTimestamp .>: error calling humanizeTimestamp: -9.223372036854776e+18 cannot be "
        "represented as a nanoseconds timestamp since it overflows int64",
    ),
    (
        "{{ range . }}{{ humanizeTimestamp . }}:{{ end }}",
        [MAX_U64],
        'error executing template test: template: test:1:16: executing "test" at '
        "<humanizeTimestamp .>: error calling humanizeTimestamp: 1.8446744073709552e+19 cannot be "
        "represented as a nanoseconds timestamp since it overflows int64",
    ),
]


@pytest.mark.parametrize(("text", "data", "message"), ERRORS)
def test_prometheus_errors(text: str, data: Any, message: str) -> None:
    with pytest.raises(TemplateError) as exc:
        expand(text, data, [])
    assert str(exc.value) == message


def test_humanize_duration_error_names_function() -> None:
    with pytest.raises(TemplateError, match=r"at <humanizeDuration \"one\">: error calling "):
        expand('{{ humanizeDuration "one" }}')


def test_field_of_query_result_is_an_execution_error() -> None:
    with pytest.raises(TemplateError, match="can't evaluate field banana"):
        expand('{{ (query "missing").banana }}', None, [])


def test_rule_annotation_variables() -> None:
    out = expand_rule_template(
        "{{ $labels.instance }} {{ .Labels.job }} is {{ $value }} ({{ $value | humanize }}) "
        "on {{ $externalLabels.cluster }} see {{ $externalURL }}",
        {"instance": "a:9100", "job": "node"},
        1234567.0,
        external_labels={"cluster": "eu1"},
        external_url="http://prom:9090",
    )
    assert out == "a:9100 node is 1.234567e+06 (1.235M) on eu1 see http://prom:9090"


def test_rule_annotation_common_idioms() -> None:
    labels = {"instance": "web-1.example.com:9100", "job": "node", "severity": "critical"}
    text = (
        "{{ if gt $value 80.0 }}HIGH{{ else }}ok{{ end }} "
        '{{ printf "%.2f" $value }}% on {{ $labels.instance | stripDomain }} '
        "{{ with $labels.missing }}has{{ else }}none{{ end }} "
        "{{ range $k, $v := $labels }}{{ $k }}={{ $v }},{{ end }} "
        "{{ $labels.severity | toUpper }} {{ 3661 | humanizeDuration }}"
    )
    assert expand_rule_template(text, labels, 93.456) == (
        "HIGH 93.46% on web-1:9100 none instance=web-1.example.com:9100,job=node,"
        "severity=critical, CRITICAL 1h 1m 1s"
    )


def test_rule_template_query_callback_sees_expression() -> None:
    seen: list[str] = []

    def query(expr: str) -> list[dict[str, Any]]:
        seen.append(expr)
        return [{"labels": {"instance": "b"}, "value": 2.0},
                {"labels": {"instance": "a"}, "value": 1.0}]  # fmt: skip

    out = expand_rule_template(
        '{{ range query "up == 0" | sortByLabel "instance" }}{{ .Labels.instance }} {{ end }}'
        '{{ with query "up" }}{{ . | first | value | humanize }}{{ end }}',
        {},
        0.0,
        query=query,
    )
    assert out == "a b 2"
    assert seen == ["up == 0", "up"]


def test_rule_template_error_becomes_annotation_text() -> None:
    out = expand_rule_template_or_error("{{ $value | humanize | nosuch }}", {}, 1.0)
    assert out.startswith("<error expanding template: error parsing template __alert:")
    assert 'function "nosuch" not defined' in out


def test_plain_text_is_returned_unparsed() -> None:
    assert expand_rule_template("CPU high on {host}", {}, 1.0) == "CPU high on {host}"
