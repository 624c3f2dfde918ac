"""PromQL parsing: cases ported from Prometheus' ``promql/parser/parse_test.go``.

Valid queries are compared by their printed form (Prometheus' ``String()``) plus, where the
test pins them, values and positions; invalid ones by the exact error text a user sees from
``/api/v1/query`` (``1:5: parse error: ...``).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from promhub.model.matcher import MatchType
from promhub.promql import (
    MAX_DEPTH,
    ParseError,
    evaluate_duration,
    format_expr,
    parse_duration_ms,
    parse_expr,
    parse_metric_selector,
)
from promhub.promql.ast import (
    AggregateExpr,
    AtModifier,
    BinaryExpr,
    Call,
    Cardinality,
    MatrixSelector,
    NumberLiteral,
    StringLiteral,
    SubqueryExpr,
    UnaryExpr,
    ValueType,
    VectorSelector,
)

# (query, printed form or None when it prints back unchanged)
VALID: list[tuple[str, str | None]] = [
    # Scalars and scalar operations.
    ("1", None),
    ("+Inf", "+Inf"),
    ("-Inf", None),
    (".5", "0.5"),
    ("5.", "5"),
    ("123.4567", None),
    ("5e-3", "0.005"),
    ("5e3", "5000"),
    ("0xc", "12"),
    ("0755", "493"),
    ("+5.5e-3", "0.0055"),
    ("-0755", "-493"),
    ("1_000", "1000"),
    ("1 + 1", None),
    ("1 - 1", None),
    ("1 * 1", None),
    ("1 % 1", None),
    ("1 / 1", None),
    ("1 == bool 1", None),
    ("1 != bool 1", None),
    ("1 > bool 1", None),
    ("1 >= bool 1", None),
    ("1 < bool 1", None),
    ("1 <= bool 1", None),
    ("-1^2", "-1 ^ 2"),
    ("-1*2", "-1 * 2"),
    ("-1+2", "-1 + 2"),
    ("-1^-2", "-1 ^ -2"),
    ("+1 + -2 * 1", "1 + -2 * 1"),
    ("1 + 2/(3*1)", "1 + 2 / (3 * 1)"),
    ("1 < bool 2 - 1 * 2", None),
    ("-some_metric", None),
    ("+some_metric", None),
    (" +some_metric", "+some_metric"),
    (' +{"some_metric"}', '+{__name__="some_metric"}'),
    ("5m", None),
    ("1h30m", None),
    ("-5m", None),
    ("1e100", "1" + "0" * 100),
    ("NaN", None),
    ("2 ^ 3 ^ 2", None),
    ("atan2(1, 2)" if False else "1 atan2 2", None),
    # Vector selectors and binary operations.
    ('offset{step="1s"}[5m]', None),
    ('step{offset="1s"}[5m]', None),
    ('anchored{job="test"}', None),
    ('smoothed{job="test"}', None),
    ("foo * bar", None),
    ("foo * sum", None),
    ("foo == 1", None),
    ("foo == bool 1", None),
    ("2.5 / bar", None),
    ("foo and bar", None),
    ("foo or bar", None),
    ("foo unless bar", None),
    ("foo + bar or bla and blub", None),
    ("foo and bar unless baz or qux", None),
    (
        "bar + on(foo) bla / on(baz, buz) group_right(test) blub",
        "bar + on (foo) bla / on (baz, buz) group_right (test) blub",
    ),
    ("foo * on(test,blub) bar", "foo * on (test, blub) bar"),
    ("foo * on(test,blub) group_left bar", "foo * on (test, blub) group_left () bar"),
    ("foo and on(test,blub) bar", "foo and on (test, blub) bar"),
    ("foo and on() bar", "foo and on () bar"),
    ("foo and ignoring(test,blub) bar", "foo and ignoring (test, blub) bar"),
    ("foo and ignoring() bar", "foo and bar"),
    ("foo unless on(bar) baz", "foo unless on (bar) baz"),
    (
        "foo / on(test,blub) group_left(bar) bar",
        "foo / on (test, blub) group_left (bar) bar",
    ),
    (
        "foo / ignoring(test,blub) group_left(blub) bar",
        "foo / ignoring (test, blub) group_left (blub) bar",
    ),
    (
        "foo - on(test,blub) group_right(bar,foo) bar",
        "foo - on (test, blub) group_right (bar, foo) bar",
    ),
    ("foo", None),
    ("min", None),
    ("foo offset 5m", None),
    ("foo offset -7m", None),
    ("foo OFFSET 1h30m", "foo offset 1h30m"),
    ("foo OFFSET 1m30ms", "foo offset 1m30ms"),
    ("foo @ 1603774568", "foo @ 1603774568.000"),
    ("foo @ -100", "foo @ -100.000"),
    ("foo @ .3", "foo @ 0.300"),
    ("foo @ 3.", "foo @ 3.000"),
    ("foo @ 3.33", "foo @ 3.330"),
    ("foo @ 3.3333", "foo @ 3.333"),
    ("foo @ 3.3335", "foo @ 3.334"),
    ("foo @ 3e2", "foo @ 300.000"),
    ("foo @ 3e-1", "foo @ 0.300"),
    ("foo @ 0xA", "foo @ 10.000"),
    ("foo @ -3.3e1", "foo @ -33.000"),
    ('foo:bar{a="bc"}', None),
    ('{"foo"}', '{__name__="foo"}'),
    (
        r"{'foo\'bar', 'a\\dos\\path'='boo\\urns'}",
        r"""{"a\\dos\\path"="boo\\urns",__name__="foo'bar"}""",
    ),
    ('{"foo", a="bc"}', '{__name__="foo",a="bc"}'),
    ("foo{NaN='bc'}", 'foo{NaN="bc"}'),
    ("foo{bar='}'}", 'foo{bar="}"}'),
    (
        'foo{a="b", foo!="bar", test=~"test", bar!~"baz"}',
        'foo{a="b",bar!~"baz",foo!="bar",test=~"test"}',
    ),
    (
        '{a="b", foo!="bar", "foo", test=~"test", bar!~"baz"}',
        '{__name__="foo",a="b",bar!~"baz",foo!="bar",test=~"test"}',
    ),
    (
        'foo{a="b", foo!="bar", test=~"test", bar!~"baz",}',
        'foo{a="b",bar!~"baz",foo!="bar",test=~"test"}',
    ),
    ('{__name__=~"bar", __name__!~"baz"}', '{__name__!~"baz",__name__=~"bar"}'),
    ('{__name__="bar", __name__="baz"}', '{__name__="bar",__name__="baz"}'),
    ('{"bar", __name__="baz"}', '{__name__="bar",__name__="baz"}'),
    # Matrix selectors.
    ("test[1000ms]", "test[1s]"),
    ("test[1001ms]", "test[1s1ms]"),
    ("test[5s]", None),
    ("test[5m]", None),
    ("foo[5m30s]", None),
    ("test[5h] OFFSET 5m", "test[5h] offset 5m"),
    ("test[5d] OFFSET 10s", "test[5d] offset 10s"),
    ("test[5w] offset 2w", None),
    ('test{a="b"}[5y] OFFSET 3d', 'test{a="b"}[5y] offset 3d'),
    ('test{a="b"}[5m] OFFSET 3600', 'test{a="b"}[5m] offset 1h'),
    ("foo[3ms] @ 2.345", "foo[3ms] @ 2.345"),
    ("foo[4s180ms] @ 2.345", None),
    ("foo[4.18] @ 2.345", "foo[4s180ms] @ 2.345"),
    ("foo[4s18ms] @ 2.345", None),
    ("foo[4.018] @ 2.345", "foo[4s18ms] @ 2.345"),
    ('test{a="b"}[5y] @ 1603774699', 'test{a="b"}[5y] @ 1603774699.000'),
    ("test[5]", "test[5s]"),
    ("some_metric[5m] @ 1m", "some_metric[5m] @ 60.000"),
    # Aggregations.
    ("sum by (foo)(some_metric)", "sum by (foo) (some_metric)"),
    ("sum by (anchored)(some_metric)", "sum by (anchored) (some_metric)"),
    ("sum by (smoothed)(some_metric)", "sum by (smoothed) (some_metric)"),
    ('sum by ("foo bar")({"some.metric"})', 'sum by ("foo bar") ({__name__="some.metric"})'),
    (
        'sum by ("foo", bar, \'baz\')({"some.metric"})',
        'sum by (foo, bar, baz) ({__name__="some.metric"})',
    ),
    ("avg by (foo)(some_metric)", "avg by (foo) (some_metric)"),
    ("max by (foo)(some_metric)", "max by (foo) (some_metric)"),
    ("sum without (foo) (some_metric)", None),
    ("sum (some_metric) without (foo)", "sum without (foo) (some_metric)"),
    ("stddev(some_metric)", None),
    ("stdvar by (foo)(some_metric)", "stdvar by (foo) (some_metric)"),
    ("sum by ()(some_metric)", "sum(some_metric)"),
    ("sum by (foo,bar,)(some_metric)", "sum by (foo, bar) (some_metric)"),
    ("sum by (foo,)(some_metric)", "sum by (foo) (some_metric)"),
    ("topk(5, some_metric)", None),
    ('count_values("value", some_metric)', None),
    (
        "sum without(and, by, avg, count, alert, annotations)(some_metric)",
        "sum without (and, by, avg, count, alert, annotations) (some_metric)",
    ),
    ("sum(sum)", None),
    ("a + sum", None),
    ("limitk(2, foo)", None),
    ("limit_ratio(0.5, foo)", None),
    ("quantile without (a) (0.9, foo)", "quantile without (a) (0.9, foo)"),
    ("bottomk by (a) (3, foo)", None),
    ("group(foo)", None),
    # Function calls.
    ("time()", None),
    ('floor(some_metric{foo!="bar"})', None),
    ("rate(some_metric[5m])", None),
    ("round(some_metric)", None),
    ("round(some_metric, 5)", None),
    ('label_join(x, "d", ",", "a", "b", "c")', None),
    ('sort_by_label(x, "a", "b")', None),
    ("predict_linear(foo[1h], 3000)", None),
    ("double_exponential_smoothing(foo[5m], 0.5, 0.1)", None),
    ("info(rate(http_request_counter_total{}[5m]))", "info(rate(http_request_counter_total[5m]))"),
    (
        'info(http_request_counter_total{namespace="zzz"}, {foo="bar", bar="baz"})',
        'info(http_request_counter_total{namespace="zzz"}, {bar="baz",foo="bar"})',
    ),
    ('histogram_quantiles(x, "q", 0.5, 0.9)', None),
    ("start()", None),
    ("end() - start()", None),
    ("vector(range())", None),
    ("min_of(3, NaN)", None),
    ("start_timestamp(foo)", None),
    # Strings.
    (r'"double-quoted string \" with escaped quote"', None),
    (
        r"'single-quoted string \' with escaped quote'",
        '"single-quoted string \' with escaped quote"',
    ),
    ("`backtick-quoted string`", '"backtick-quoted string"'),
    (r'"\a\b\f\n\r\t\v\\\" - \u1234\U00010111☺"', r'"\a\b\f\n\r\t\v\\\" - ሴ𐄑☺"'),
    ("`a\\b`", r'"a\\b"'),
    # Subqueries.
    ('foo{bar="baz"}[10m:6s]', None),
    ('foo{bar="baz"}[10m5s:1h6ms]', None),
    ("foo[10m:]", None),
    ('min_over_time(rate(foo{bar="baz"}[2s])[5m:5s])', None),
    ('min_over_time(rate(foo{bar="baz"}[2s])[5m:])[4m:3s]', None),
    ('min_over_time(rate(foo{bar="baz"}[2s])[5m:] offset 4m)[4m:3s]', None),
    (
        'min_over_time(rate(foo{bar="baz"}[2s])[5m:] @ 1603775091)[4m:3s]',
        'min_over_time(rate(foo{bar="baz"}[2s])[5m:] @ 1603775091.000)[4m:3s]',
    ),
    (
        'min_over_time(rate(foo{bar="baz"}[2s])[5m:] @ -160377509)[4m:3s]',
        'min_over_time(rate(foo{bar="baz"}[2s])[5m:] @ -160377509.000)[4m:3s]',
    ),
    ("some_metric OFFSET 1m [10m:5s]", "some_metric offset 1m[10m:5s]"),
    ("some_metric @ 123 [10m:5s]", "some_metric @ 123.000[10m:5s]"),
    ("some_metric @ 123 offset 1m [10m:5s]", "some_metric @ 123.000 offset 1m[10m:5s]"),
    ("some_metric offset 1m @ 123 [10m:5s]", "some_metric @ 123.000 offset 1m[10m:5s]"),
    ("some_metric[10m:5s] offset 1m @ 123", "some_metric[10m:5s] @ 123.000 offset 1m"),
    ('(foo + bar{nm="val"})[5m:]', None),
    ('(foo + bar{nm="val"})[5m:] offset 10m', None),
    (
        '(foo + bar{nm="val"} @ 1234)[5m:] @ 1603775019',
        '(foo + bar{nm="val"} @ 1234.000)[5m:] @ 1603775019.000',
    ),
    # @ preprocessors.
    ("foo @ start()", None),
    ("foo @ end()", None),
    ("test[5y] @ start()", None),
    ("test[5y] @ end()", None),
    ("foo[10m:6s] @ start()", None),
    ("foo[10m:6s] @ end()", None),
    ("start", None),
    ("end", None),
    ('start{end="foo"}', None),
    ('end{start="foo"}', None),
    ("foo unless on(start) bar", "foo unless on (start) bar"),
    ("foo unless on(end) bar", "foo unless on (end) bar"),
    # Duration expressions.
    ("foo[11s+10s-5*2^2]", "foo[11s + 10s - 5 * 2 ^ 2]"),
    ("foo[-(10s-5s)+20s]", "foo[-(10s - 5s) + 20s]"),
    ("foo[-10s+15s]", "foo[-10s + 15s]"),
    ("foo[step()]", None),
    ("foo[  -  step  (  )  ]", "foo[-step()]"),
    ("foo[   step  (  )  ]", "foo[step()]"),
    ("foo[-step()]", None),
    ("foo[(step())]", None),
    ("foo[-(step())]", None),
    ("foo offset step()", None),
    ("foo offset -step()", None),
    ("foo offset (step())", None),
    ("foo offset +(5*2)", "foo offset (5 * 2)"),
    ("foo[max_of(step(),5s)]", "foo[max_of(step(), 5s)]"),
    ("foo offset max_of(step(),5s)", "foo offset max_of(step(), 5s)"),
    ("foo offset -min_of(5s,step()+8s)", "foo offset -min_of(5s, step() + 8s)"),
    ("foo[range()]", None),
    ("foo[-range()]", None),
    ("foo offset range()", None),
    ("foo offset -range()", None),
    ("foo[max_of(range(),5s)]", "foo[max_of(range(), 5s)]"),
    ("foo[4s+4s:1s*2] offset (5s-8)", "foo[4s + 4s:1s * 2] offset (5s - 8)"),
    ("foo offset 5s-8", "foo offset 5s - 8"),
    ("rate(foo[2m+2m])", "rate(foo[2m + 2m])"),
    ("foo offset -1^1", "foo offset -1s ^ 1"),
    ("foo offset -(1^2)", "foo offset -(1 ^ 2)"),
    ("foo offset (-1^2)", "foo offset (-1 ^ 2)"),
    ("foo[-2^2]", "foo[-2 ^ 2]"),
    ("foo[0+-2^2]", "foo[0 + -2 ^ 2]"),
    ("foo[(5m)]", "foo[5m]"),
    ("foo[1h/2]", "foo[1h / 2]"),
    ("(sum(foo))", None),
    ("(sum(foo) )", "(sum(foo))"),
    ("(sum(foo) by (bar))", "(sum by (bar) (foo))"),
    ("(sum by (bar) (foo))", None),
    (
        "sum by (job)(rate(http_requests_total[30m]))",
        "sum by (job) (rate(http_requests_total[30m]))",
    ),
    # Experimental modifiers.
    ("rate(foo[5m] anchored)", None),
    ("foo anchored", None),
    ('a{b="c"}[5m] smoothed @ start() offset 1m', None),
    ("left + fill(0) right", "left + fill (0) right"),
    ("left + fill_left(5) fill_right(7) right", "left + fill_left (5) fill_right (7) right"),
    ("left + fill_right(-Inf) right", "left + fill_right (-Inf) right"),
    ("a + on(b) group_left fill(-23) c", "a + on (b) group_left () fill (-23) c"),
    ("other + fill", None),
    ("other + fill(0) fill", "other + fill (0) fill"),
    ("h >/ 0.5", None),
    ("h </ -Inf", None),
    # UTF-8 names.
    ('{"my.metric", "l.x"="v"}', '{"l.x"="v",__name__="my.metric"}'),
    ('sum by ("üüü") (foo)', None),
    ('foo / on("äää") group_left("ööö") bar', 'foo / on ("äää") group_left ("ööö") bar'),
    ('{"0"="1"}', None),
    ('{"_0"="1"}', '{_0="1"}'),
    # Comments and whitespace.
    ("foo # a comment\n+ bar", "foo + bar"),
    ("sum(\n  rate(foo[5m])\n)", "sum(rate(foo[5m]))"),
]

# (query, the error text Prometheus returns)
INVALID: list[tuple[str, str]] = [
    ("", "unknown position: parse error: no expression found in input"),
    ("# just a comment\n\n", "1:1: parse error: no expression found in input"),
    ("1+", "1:3: parse error: unexpected end of input"),
    (".", "1:1: parse error: unexpected character: '.'"),
    ("2.5.", '1:1: parse error: bad number or duration syntax: "2.5."'),
    ("100..4", '1:1: parse error: bad number or duration syntax: "100.."'),
    ("0deadbeef", '1:1: parse error: bad number or duration syntax: "0de"'),
    ("1 /", "1:4: parse error: unexpected end of input"),
    ("*1", "1:1: parse error: unexpected <op:*>"),
    ("(1))", "1:5: parse error: unexpected right parenthesis ')'"),
    ("((1)", "1:5: parse error: unclosed left parenthesis"),
    (
        "9" * 309,
        f'1:1: parse error: error parsing number: strconv.ParseFloat: parsing "{"9" * 309}": '
        "value out of range",
    ),
    ("(", "1:2: parse error: unclosed left parenthesis"),
    ("1 and 1", '1:1: parse error: set operator "and" not allowed in binary scalar expression'),
    ("1 == 1", "1:3: parse error: comparisons between scalars must use BOOL modifier"),
    ("1 or 1", '1:1: parse error: set operator "or" not allowed in binary scalar expression'),
    (
        "1 unless 1",
        '1:1: parse error: set operator "unless" not allowed in binary scalar expression',
    ),
    ("1 !~ 1", "1:3: parse error: unexpected character after '!': '~'"),
    ("1 =~ 1", "1:3: parse error: unexpected character after '=': '~'"),
    (
        '-"string"',
        "1:1: parse error: unary expression only allowed on expressions of type scalar or "
        'instant vector, got "string"',
    ),
    (
        "-test[5m]",
        "1:1: parse error: unary expression only allowed on expressions of type scalar or "
        'instant vector, got "range vector"',
    ),
    ("*test", "1:1: parse error: unexpected <op:*>"),
    ("@@", "1:1: parse error: unexpected <op:@>"),
    (
        "1 offset 1d",
        "1:1: parse error: offset modifier must be preceded by an instant vector selector or "
        "range vector selector or a subquery",
    ),
    ("foo offset 1s offset 2s", "1:1: parse error: offset may not be set multiple times"),
    ("a - on(b) ignoring(c) d", "1:11: parse error: unexpected <ignoring>"),
    ("foo and 1", '1:1: parse error: set operator "and" not allowed in binary scalar expression'),
    ("1 and foo", '1:1: parse error: set operator "and" not allowed in binary scalar expression'),
    ("foo or 1", '1:1: parse error: set operator "or" not allowed in binary scalar expression'),
    ("1 or on(bar) foo", "1:1: parse error: vector matching only allowed between instant vectors"),
    ("foo == on(bar) 10", "1:1: parse error: vector matching only allowed between instant vectors"),
    ("foo + group_left(baz) bar", "1:7: parse error: unexpected <group_left>"),
    (
        "foo and on(bar) group_left(baz) bar",
        '1:1: parse error: no grouping allowed for "and" operation',
    ),
    (
        "foo or on(bar) group_right(baz) bar",
        '1:1: parse error: no grouping allowed for "or" operation',
    ),
    (
        "foo unless on(bar) group_left(baz) bar",
        '1:1: parse error: no grouping allowed for "unless" operation',
    ),
    (
        'http_requests{group="production"} + on(instance) group_left(job,instance) '
        'cpu_count{type="smp"}',
        '1:35: parse error: label "instance" must not occur in ON and GROUP clause at once',
    ),
    ("foo + bool bar", "1:5: parse error: bool modifier can only be used on comparison operators"),
    ("foo + bool 10", "1:5: parse error: bool modifier can only be used on comparison operators"),
    ("foo and bool 10", "1:5: parse error: bool modifier can only be used on comparison operators"),
    ("foo @ +Inf", "1:1: parse error: timestamp out of bounds for @ modifier: +Inf"),
    ("foo @ -Inf", "1:1: parse error: timestamp out of bounds for @ modifier: -Inf"),
    ("foo @ NaN", "1:1: parse error: timestamp out of bounds for @ modifier: NaN"),
    (
        f"foo @ {float(2**63) + 1:f}",
        f"1:1: parse error: timestamp out of bounds for @ modifier: {float(2**63) + 1:f}",
    ),
    ("{", "1:2: parse error: unexpected end of input inside braces"),
    ("}", "1:1: parse error: unexpected character: '}'"),
    ("some{", "1:6: parse error: unexpected end of input inside braces"),
    ("some}", "1:5: parse error: unexpected character: '}'"),
    (
        "some_metric{a=b}",
        '1:15: parse error: unexpected identifier "b" in label matching, expected string',
    ),
    ('some_metric{a:b="b"}', "1:14: parse error: unexpected character inside braces: ':'"),
    ('foo{a*"b"}', "1:6: parse error: unexpected character inside braces: '*'"),
    ('foo{a>="b"}', "1:6: parse error: unexpected character inside braces: '>'"),
    ('some_metric{a="\ufffd"}', "1:15: parse error: invalid UTF-8 rune"),
    (
        "foo{gibberish}",
        '1:14: parse error: unexpected "}" in label matching, expected label matching operator',
    ),
    ("foo{1}", "1:5: parse error: unexpected character inside braces: '1'"),
    ("{}", "1:1: parse error: vector selector must contain at least one non-empty matcher"),
    ('{x=""}', "1:1: parse error: vector selector must contain at least one non-empty matcher"),
    ('{x=~".*"}', "1:1: parse error: vector selector must contain at least one non-empty matcher"),
    ('{x!~".+"}', "1:1: parse error: vector selector must contain at least one non-empty matcher"),
    ('{x!="a"}', "1:1: parse error: vector selector must contain at least one non-empty matcher"),
    ('foo{__name__="bar"}', '1:1: parse error: metric name must not be set twice: "foo" or "bar"'),
    ("foo{__name__= =}", '1:15: parse error: unexpected "=" in label matching, expected string'),
    ("foo{,}", '1:5: parse error: unexpected "," in label matching, expected identifier or "}"'),
    (
        'foo{__name__ == "bar"}',
        '1:15: parse error: unexpected "=" in label matching, expected string',
    ),
    (
        'foo{__name__="bar" lol}',
        '1:20: parse error: unexpected identifier "lol" in label matching, expected "," or "}"',
    ),
    ('foo{"a"=}', '1:9: parse error: unexpected "}" in label matching, expected string'),
    ("foo[5mm]", '1:5: parse error: bad number or duration syntax: "5mm"'),
    ("foo[5m1]", '1:5: parse error: bad number or duration syntax: "5m1"'),
    ("foo[5m:1m1]", '1:8: parse error: bad number or duration syntax: "1m1"'),
    ("foo[5y1hs]", '1:5: parse error: unknown unit "hs" in duration "5y1hs"'),
    ("foo[5m1h]", '1:5: parse error: not a valid duration string: "5m1h"'),
    ("foo[5m1m]", '1:5: parse error: not a valid duration string: "5m1m"'),
    ("foo[0m]", "1:5: parse error: duration must be greater than 0"),
    ('foo["5m"]', "1:5: parse error: unexpected character in duration expression: '\"'"),
    (
        "foo[]",
        '1:5: parse error: unexpected "]" in subquery or range selector, expected number, '
        "duration, step(), or range()",
    ),
    ("foo[-1]", "1:5: parse error: duration must be greater than 0"),
    ("some_metric[5m] OFFSET 1mm", '1:24: parse error: bad number or duration syntax: "1mm"'),
    (
        "some_metric[5m] OFFSET",
        "1:23: parse error: unexpected end of input in offset, expected number, duration, "
        "step(), or range()",
    ),
    ("some_metric OFFSET 1m[5m]", "1:22: parse error: no offset modifiers allowed before range"),
    ("some_metric[5m] @", "1:18: parse error: unexpected end of input in @, expected timestamp"),
    ("some_metric @ 1234 [5m]", "1:20: parse error: no @ modifiers allowed before range"),
    ("(foo + bar)[5m]", "1:12: parse error: ranges only allowed for vector selectors"),
    ('sum by ("foo)(some_metric{})', "1:9: parse error: unterminated quoted string"),
    (
        "sum without(==)(some_metric)",
        "1:13: parse error: unexpected <op:==> in grouping opts, expected label",
    ),
    (
        "sum without(,)(some_metric)",
        '1:13: parse error: unexpected "," in grouping opts, expected label',
    ),
    (
        "sum without(foo,,)(some_metric)",
        '1:17: parse error: unexpected "," in grouping opts, expected label',
    ),
    ("sum some_metric by (test)", '1:5: parse error: unexpected identifier "some_metric"'),
    (
        "sum (some_metric) by test",
        '1:22: parse error: unexpected identifier "test" in grouping opts, expected "("',
    ),
    ("sum () by (test)", "1:1: parse error: no arguments for aggregate expression provided"),
    ("MIN keep_common (some_metric)", '1:5: parse error: unexpected identifier "keep_common"'),
    ("MIN (some_metric) keep_common", '1:19: parse error: unexpected identifier "keep_common"'),
    ("sum (some_metric) without (test) by (test)", "1:34: parse error: unexpected <by>"),
    ("sum without (test) (some_metric) by (test)", "1:34: parse error: unexpected <by>"),
    (
        "topk(some_metric)",
        "1:1: parse error: wrong number of arguments for aggregate expression provided, "
        "expected 2, got 1",
    ),
    ("topk(some_metric,)", "1:17: parse error: trailing commas not allowed in function call args"),
    (
        "topk(some_metric, other_metric)",
        "1:6: parse error: expected type scalar in aggregation parameter, got instant vector",
    ),
    (
        "count_values(5, other_metric)",
        "1:14: parse error: expected type string in aggregation parameter, got scalar",
    ),
    (
        "rate(some_metric[5m]) @ 1234",
        "1:1: parse error: @ modifier must be preceded by an instant vector selector or range "
        "vector selector or a subquery",
    ),
    ("floor()", '1:1: parse error: expected 1 argument(s) in call to "floor", got 0'),
    (
        "floor(some_metric, other_metric)",
        '1:1: parse error: expected 1 argument(s) in call to "floor", got 2',
    ),
    ("floor(some_metric, 1)", '1:1: parse error: expected 1 argument(s) in call to "floor", got 2'),
    (
        "floor(1)",
        '1:7: parse error: expected type instant vector in call to function "floor", got scalar',
    ),
    (
        "hour(some_metric, some_metric, some_metric)",
        '1:1: parse error: expected at most 1 argument(s) in call to "hour", got 3',
    ),
    ("time(some_metric)", '1:1: parse error: expected 0 argument(s) in call to "time", got 1'),
    (
        "non_existent_function_far_bar()",
        '1:1: parse error: unknown function with name "non_existent_function_far_bar"',
    ),
    (
        "rate(some_metric)",
        '1:6: parse error: expected type range vector in call to function "rate", got instant '
        "vector",
    ),
    (
        'label_join(x, "a")',
        '1:1: parse error: expected at least 3 argument(s) in call to "label_join", got 2',
    ),
    ("-=", '1:2: parse error: unexpected "="'),
    ("++-++-+-+-<", "1:11: parse error: unexpected <op:<>"),
    ("e-+=/(0)", '1:4: parse error: unexpected "="'),
    ("a>b()", '1:3: parse error: unknown function with name "b"'),
    (
        "rate(avg)",
        '1:6: parse error: expected type range vector in call to function "rate", got instant '
        "vector",
    ),
    ("`\\``", "1:4: parse error: unterminated raw string"),
    ('"\\', "1:1: parse error: escape sequence not terminated"),
    ('"\\c"', "1:1: parse error: unknown escape sequence U+0063 'c'"),
    ('"\\x."', "1:1: parse error: illegal character U+002E '.' in escape sequence"),
    ('foo{bar="baz"}[', "1:16: parse error: unexpected end of input in duration expression"),
    (
        "test[5d] OFFSET 10s [10m:5s]",
        "1:1: parse error: subquery is only allowed on instant vector, got matrix instead",
    ),
    (
        '(foo + bar{nm="val"})[5m:][10m:5s]',
        "1:1: parse error: subquery is only allowed on instant vector, got matrix instead",
    ),
    ("rate(food[1m])[1h] offset 1h", "1:15: parse error: ranges only allowed for vector selectors"),
    ("rate(food[1m])[1h] @ 100", "1:15: parse error: ranges only allowed for vector selectors"),
    (
        'info(rate(http_request_counter_total{}[5m]), target_info{foo="bar"})',
        "1:46: parse error: expected label selectors only, got vector selector instead",
    ),
    (
        'info(http_request_counter_total{namespace="zzz"}, {foo="bar"} == 1)',
        "1:51: parse error: expected label selectors only",
    ),
    (
        "foo[step]",
        '1:9: parse error: unexpected "]" in subquery or range selector, expected number, '
        "duration, step(), or range()",
    ),
    ("foo[step()/0d]", "1:11: parse error: division by zero"),
    ("foo[5s/0d]", "1:7: parse error: division by zero"),
    ("foo offset (4d/0)", "1:15: parse error: division by zero"),
    ("foo[5s%0d]", "1:7: parse error: modulo by zero"),
    ("foo offset 9.5e10", "1:12: parse error: duration out of range"),
    ("foo[9.5e10]", "1:5: parse error: duration out of range"),
    ("sum(", "1:5: parse error: unclosed left parenthesis"),
    ("sum(rate(", "1:10: parse error: unclosed left parenthesis"),
    ("foo[5s x 5s]", "1:8: parse error: unexpected character: 'x', expected ':'"),
    ("foo[5s s 5s]", "1:8: parse error: unexpected character: 's', expected ':'"),
    # Checks beyond the upstream table.
    ("foo + on(a) 1", "1:1: parse error: vector matching only allowed between instant vectors"),
    (
        "foo + fill(0) 1",
        "1:1: parse error: filling in missing series only allowed between instant vectors",
    ),
    (
        "foo and fill(0) bar",
        "1:1: parse error: filling in missing series not allowed for set operators",
    ),
    ("foo offset 5m @ 1 @ 2", "1:1: parse error: @ <timestamp> may not be set multiple times"),
    (
        "foo[5m] anchored smoothed",
        "1:1: parse error: anchored and smoothed modifiers cannot be used together",
    ),
    ("foo[5m:] anchored", "1:1: parse error: anchored modifier is not supported for subqueries"),
    (
        "rate(foo[5m]) + foo[5m]",
        "1:17: parse error: binary expression must contain only scalar and instant vector types",
    ),
    ("sum(foo bar)", '1:9: parse error: unexpected identifier "bar" in aggregation'),
    ("foo\n  + *", "2:5: parse error: unexpected <op:*>"),
    ('sum by ("") (foo)', '1:9: parse error: invalid label name for grouping: ""'),
    ('foo{a=~"("}', "1:5: parse error: error parsing regexp: missing closing ): `(`"),
    (
        "quantile(foo, bar)",
        "1:10: parse error: expected type scalar in aggregation parameter, got instant vector",
    ),
]


@pytest.mark.parametrize(("query", "printed"), VALID)
def test_valid_queries_print_back_as_prometheus_does(query: str, printed: str | None) -> None:
    expr = parse_expr(query)
    want = query if printed is None else printed
    assert format_expr(expr) == want
    # The printed form parses to the same tree.
    assert format_expr(parse_expr(format_expr(expr))) == want


@pytest.mark.parametrize(("query", "message"), INVALID)
def test_invalid_queries_fail_with_prometheus_message(query: str, message: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_expr(query)
    assert str(info.value) == message


def test_case_counts() -> None:
    assert len(VALID) + len(INVALID) >= 150


def test_unary_minus_binds_looser_than_power() -> None:
    e = parse_expr("-2 ^ 2")
    assert isinstance(e, UnaryExpr) and isinstance(e.expr, BinaryExpr)
    assert parse_expr("-1 * 2").type is ValueType.SCALAR
    n = parse_expr("-1*2")
    assert isinstance(n, BinaryExpr) and isinstance(n.lhs, NumberLiteral) and n.lhs.value == -1


def test_power_is_right_associative_and_precedence_is_prometheus() -> None:
    e = parse_expr("2 ^ 3 ^ 2")
    assert isinstance(e, BinaryExpr) and isinstance(e.rhs, BinaryExpr)
    e = parse_expr("a or b and c == d + e * f ^ g")
    ops = []
    node = e
    while isinstance(node, BinaryExpr):
        ops.append(node.op)
        node = node.rhs
    assert ops == ["or", "and", "==", "+", "*", "^"]


def test_positions_match_prometheus() -> None:
    e = parse_expr("sum by (foo)(some_metric)")
    assert isinstance(e, AggregateExpr)
    assert e.pos == (0, 25) and e.expr.pos == (13, 24)
    e = parse_expr('foo{bar="baz"}[10m5s:1h6ms]')
    assert isinstance(e, SubqueryExpr)
    assert e.pos == (0, 27) and e.range_ms == 605_000 and e.step_ms == 3_600_006
    e = parse_expr("some_metric OFFSET 1m [10m:5s]")
    assert isinstance(e, SubqueryExpr) and e.expr.pos == (0, 21)
    e = parse_expr("test[5h] OFFSET 5m")
    assert isinstance(e, MatrixSelector)
    assert e.pos == (0, 18) and e.vector_selector.pos == (0, 4)
    assert e.vector_selector.offset_ms == 300_000
    e = parse_expr(" +some_metric")
    assert isinstance(e, UnaryExpr) and e.pos == (1, 13)
    n = parse_expr("-0755")
    assert isinstance(n, NumberLiteral) and n.pos == (0, 5) and n.value == -493


def test_modifier_values() -> None:
    vs = parse_expr("foo @ 3.3335 offset -7m")
    assert isinstance(vs, VectorSelector)
    assert vs.timestamp_ms == 3334 and vs.offset_ms == -420_000
    vs = parse_expr("foo @ end()")
    assert isinstance(vs, VectorSelector) and vs.start_or_end is AtModifier.END
    b = parse_expr("a + on(b) group_left(c) fill_right(1.5) d")
    assert isinstance(b, BinaryExpr) and b.matching is not None
    assert b.matching.card is Cardinality.MANY_TO_ONE
    assert b.matching.include == ["c"] and b.matching.on and b.matching.fill_right == 1.5
    assert b.matching.fill_left is None
    s = parse_expr("a and b")
    assert isinstance(s, BinaryExpr) and s.matching is not None
    assert s.matching.card is Cardinality.MANY_TO_MANY
    assert isinstance(parse_expr("1 + 2"), BinaryExpr)
    assert parse_expr("1 + foo").matching is None  # type: ignore[attr-defined]
    m = parse_expr("rate(x[5m] smoothed)")
    assert isinstance(m, Call) and isinstance(m.args[0], MatrixSelector)
    assert m.args[0].vector_selector.smoothed
    nan = parse_expr("NaN")
    assert isinstance(nan, NumberLiteral) and math.isnan(nan.value)


def test_strings_unquote_like_go() -> None:
    s = parse_expr(r'"\a\b\f\n\r\t\v\\\" - \xFF\377\u1234\U00010111\U0001011111☺"')
    assert isinstance(s, StringLiteral)
    assert s.value.startswith('\a\b\f\n\r\t\v\\" - ')
    # \xFF and \377 are raw (invalid UTF-8) bytes: kept as escapes, printed back as Go does.
    assert format_expr(s).endswith(r' - \xff\xffሴ𐄑𐄑11☺"')
    raw = parse_expr("`\\a\\b`")
    assert isinstance(raw, StringLiteral) and raw.value == "\\a\\b"


def test_duration_expressions_are_kept_and_evaluated() -> None:
    m = parse_expr("foo[step()*2 + 1s]")
    assert isinstance(m, MatrixSelector) and m.range_ms == 0 and m.range_expr is not None
    assert evaluate_duration(m.range_expr, step_ms=10_000, range_ms=0) == 21_000
    vs = parse_expr("foo offset -min_of(range(), 8s)")
    assert isinstance(vs, VectorSelector) and vs.offset_expr is not None
    got = evaluate_duration(vs.offset_expr, step_ms=5000, range_ms=10_000, allow_negative=True)
    assert got == -8000
    with pytest.raises(ValueError, match="duration must be greater than 0"):
        evaluate_duration(m.range_expr, step_ms=-1000, range_ms=0)
    # An offset takes one duration atom: the rest belongs to the outer expression.
    b = parse_expr("foo offset 2 ^ 2")
    assert isinstance(b, BinaryExpr) and b.op == "^"
    assert isinstance(b.lhs, VectorSelector) and b.lhs.offset_ms == 2000


def test_functions_carry_their_return_type() -> None:
    assert parse_expr("scalar(foo)").type is ValueType.SCALAR
    assert parse_expr("time()").type is ValueType.SCALAR
    assert parse_expr("rate(foo[1m])").type is ValueType.VECTOR
    assert parse_expr("foo[1m]").type is ValueType.MATRIX
    assert parse_expr('"x"').type is ValueType.STRING


def test_metric_selector_for_match_params() -> None:
    ms = parse_metric_selector('up{job="node", instance=~"a.*"}')
    assert [(m.name, m.type, m.value) for m in ms] == [
        ("job", MatchType.EQUAL, "node"),
        ("instance", MatchType.REGEX, "a.*"),
        ("__name__", MatchType.EQUAL, "up"),
    ]
    assert [m.value for m in parse_metric_selector('{"my.metric"}')] == ["my.metric"]
    with pytest.raises(ParseError, match="vector selector must contain at least one"):
        parse_metric_selector('{job=""}')
    with pytest.raises(ParseError, match="1:4: parse error: unexpected <op:"):
        parse_metric_selector("up + 1")


def test_durations() -> None:
    assert parse_duration_ms("1h30m") == 5_400_000
    assert parse_duration_ms("10s53ms") == 10_053
    assert parse_duration_ms("0") == 0
    with pytest.raises(ValueError, match='not a valid duration string: "5m1h"'):
        parse_duration_ms("5m1h")


def test_hostile_nesting_is_refused_not_a_crash() -> None:
    deep = "(" * 10_000 + "1" + ")" * 10_000
    with pytest.raises(ParseError, match="maximum nesting depth"):
        parse_expr(deep)
    chain = " + ".join(["a"] * 5_000)
    with pytest.raises(ParseError, match="maximum nesting depth"):
        parse_expr(chain)
    with pytest.raises(ParseError, match="maximum nesting depth"):
        parse_expr("2" + " ^ 2" * 5_000)
    with pytest.raises(ParseError, match="maximum nesting depth"):
        parse_expr("abs(" * 5_000 + "x" + ")" * 5_000)
    with pytest.raises(ParseError, match="maximum nesting depth"):
        parse_expr("-" * 5_000 + "x")
    with pytest.raises(ParseError, match="maximum nesting depth"):
        parse_expr("foo[" + "(" * 5_000 + "1s" + ")" * 5_000 + "]")
    # Just below the limit still works.
    ok = "(" * (MAX_DEPTH // 2) + "x" + ")" * (MAX_DEPTH // 2)
    assert format_expr(parse_expr(ok)) == ok


def test_huge_queries_are_bounded() -> None:
    with pytest.raises(ParseError, match="query too long"):
        parse_expr("x" * (2 << 20))


def test_every_query_of_the_conformance_files_parses_and_round_trips() -> None:
    data = Path(__file__).resolve().parents[3] / "shared" / "promql-testdata"
    assert data.is_dir(), f"missing {data}"
    n = 0
    for f in sorted(data.glob("*.test")):
        for line in f.read_text().splitlines():
            words = line.strip().split()
            if not words or not words[0].startswith("eval"):
                continue
            skip = 4 if words[1] == "instant" else 8
            query = line.strip().split(None, skip)[skip]
            printed = format_expr(parse_expr(query))
            assert format_expr(parse_expr(printed)) == printed, query
            n += 1
    assert n > 2000
