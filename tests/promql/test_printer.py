"""Printing PromQL: ``String()``, ``Prettify`` and the parse_query tree, as Prometheus does.

Cases are Prometheus' own (``printer_test.go``, ``prettier_test.go``); the outputs are what
``promtool``/the Prometheus UI show for the same queries.
"""

from __future__ import annotations

import json

import pytest

from promhub.promql import format_expr, parse_expr, prettify, to_json

# (input, String() output or None when identical)
STRING_CASES: list[tuple[str, str | None]] = [
    ('sum by() (task:errors:rate10s{job="s"})', 'sum(task:errors:rate10s{job="s"})'),
    ('sum by(code) (task:errors:rate10s{job="s"})', 'sum by (code) (task:errors:rate10s{job="s"})'),
    (
        'sum without() (task:errors:rate10s{job="s"})',
        'sum without () (task:errors:rate10s{job="s"})',
    ),
    (
        'sum without(instance) (task:errors:rate10s{job="s"})',
        'sum without (instance) (task:errors:rate10s{job="s"})',
    ),
    (
        'sum by("foo.bar") (task:errors:rate10s{job="s"})',
        'sum by ("foo.bar") (task:errors:rate10s{job="s"})',
    ),
    (
        'sum without("foo.bar") (task:errors:rate10s{job="s"})',
        'sum without ("foo.bar") (task:errors:rate10s{job="s"})',
    ),
    ('topk(5, task:errors:rate10s{job="s"})', None),
    ('count_values("value", task:errors:rate10s{job="s"})', None),
    ("a - on() c", "a - on () c"),
    ("a - on(b) c", "a - on (b) c"),
    ("a - on(b) group_left(x) c", "a - on (b) group_left (x) c"),
    ("a - on(b) group_left(x, y) c", "a - on (b) group_left (x, y) c"),
    ("a - on(b) group_left c", "a - on (b) group_left () c"),
    ("a - on(b) group_left() (c)", "a - on (b) group_left () (c)"),
    ("a - ignoring(b) c", "a - ignoring (b) c"),
    ("a - ignoring() c", "a - c"),
    ("a - ignoring() group_left(__metric__) c", "a - ignoring () group_left (__metric__) c"),
    ("a - ignoring() group_left c", "a - ignoring () group_left () c"),
    ("a + fill(-23) b", "a + fill (-23) b"),
    ("a + fill_left(-23) b", "a + fill_left (-23) b"),
    ("a + fill_right(42) b", "a + fill_right (42) b"),
    ("a + fill_left(-23) fill_right(42) b", "a + fill_left (-23) fill_right (42) b"),
    ("a + on(b) group_left fill(-23) c", "a + on (b) group_left () fill (-23) c"),
    ("up > bool 0", None),
    ("a offset 1m", None),
    ("a offset -7m", None),
    ('a{c="d"}[5m] offset 1m', None),
    ("a[5m] offset 1m", None),
    ("a[12m] offset -3m", None),
    ("a[1h:5m] offset 1m", None),
    ("a anchored", None),
    ("a[5m] anchored", None),
    ('a{b="c"}[5m] anchored', None),
    ('a{b="c"}[5m] anchored offset 1m', None),
    ('a{b="c"}[5m] anchored @ start() offset 1m', None),
    ("a smoothed", None),
    ("a[5m] smoothed", None),
    ('a{b="c"}[5m] smoothed offset 1m', None),
    ('{__name__="a"}', None),
    ('a{b!="c"}[1m]', None),
    ('a{b=~"c"}[1m]', None),
    ('a{b!~"c"}[1m]', None),
    ("a @ 10", "a @ 10.000"),
    ("a[1m] @ 10", "a[1m] @ 10.000"),
    ("a @ start()", None),
    ("a @ end()", None),
    ("a[1m] @ start()", None),
    ("a[1m] @ end()", None),
    ('{__name__="",a="x"}', None),
    ('{"a.b"="c"}', None),
    ('{"0"="1"}', None),
    ('{"_0"="1"}', '{_0="1"}'),
    ('{""="0"}', None),
    ('{``="0"}', '{""="0"}'),
    ("1048576", None),
    ("foo[step()]", None),
    ("foo[-step()]", None),
    ("foo[(step())]", None),
    ("foo[-(step())]", None),
    ("foo offset step()", None),
    ("foo offset -step()", None),
    ("foo offset (step())", None),
    ("foo offset -(step())", None),
    ("foo offset +(5*2)", "foo offset (5 * 2)"),
    ("foo offset +min_of(10s, 20s)", "foo offset min_of(10s, 20s)"),
    ("foo offset -min_of(10s, 20s)", None),
    (
        "foo offset -min_of(10s, +max_of(step() ^ 2, 2))",
        "foo offset -min_of(10s, max_of(step() ^ 2, 2))",
    ),
    ("foo[200-min_of(-step()^+step(),1)]", "foo[200 - min_of(-step() ^ step(), 1)]"),
    ("foo[200 - min_of(step() + 10s, -max_of(step() ^ 2, 3))]", None),
    ("foo[range()]", None),
    ("foo[-range()]", None),
    ("foo offset range()", None),
    ("foo offset -range()", None),
    ("foo[max_of(range(), 5s)]", None),
    ("predict_linear(foo[1h], 3000)", None),
    ('sum by("üüü") (foo)', 'sum by ("üüü") (foo)'),
    ('sum without("äää") (foo)', 'sum without ("äää") (foo)'),
    ('count by("ööö", job) (foo)', 'count by ("ööö", job) (foo)'),
    ('foo / on("äää") bar', 'foo / on ("äää") bar'),
    ('foo / ignoring("üüü") bar', 'foo / ignoring ("üüü") bar'),
    ('foo / on("äää") group_right("ööö") bar', 'foo / on ("äää") group_right ("ööö") bar'),
    ('foo / on(legacy, "üüü") bar', 'foo / on (legacy, "üüü") bar'),
    ("foo / on(job, instance) bar", "foo / on (job, instance) bar"),
    ('label_replace(testmetric, "dst", "destination-value-$1", "src", "source-value-(.*)")', None),
    ('{a="\\n\\t\\u0007"}', '{a="\\n\\t\\a"}'),
    ("1e-7", "0.0000001"),
    ("-0", "-0"),
]


@pytest.mark.parametrize(("query", "printed"), STRING_CASES)
def test_string_is_prometheus_string(query: str, printed: str | None) -> None:
    assert format_expr(parse_expr(query)) == (query if printed is None else printed)


# (input, Prettify output with a 10-character line limit), from prettier_test.go.
PRETTY_CASES: list[tuple[str, str]] = [
    ("sum(foo)", "sum(foo)"),
    ('sum by() (task:errors:rate10s{job="s"})', 'sum(\n  task:errors:rate10s{job="s"}\n)'),
    (
        'sum without(job,foo) (task:errors:rate10s{job="s"})',
        'sum without (job, foo) (\n  task:errors:rate10s{job="s"}\n)',
    ),
    (
        'sum(task:errors:rate10s{job="s"}) without(job,foo)',
        'sum without (job, foo) (\n  task:errors:rate10s{job="s"}\n)',
    ),
    ('topk(10, ask:errors:rate10s{job="s"})', 'topk(\n  10,\n  ask:errors:rate10s{job="s"}\n)'),
    (
        "sum by(job,foo) # Comment 1.\n(sum by(job,foo) ( # Comment 2.\n"
        'task:errors:rate10s{job="s"}))',
        'sum by (job, foo) (\n  sum by (job, foo) (\n    task:errors:rate10s{job="s"}\n  )\n)',
    ),
    ("a+b", "a + b"),
    ("a == bool 1", "  a\n== bool\n  1"),
    ("a + ignoring(job) b", "  a\n+ ignoring (job)\n  b"),
    ("foo_1 + foo_2", "  foo_1\n+\n  foo_2"),
    ("foo_1 + foo_2 + foo_3", "    foo_1\n  +\n    foo_2\n+\n  foo_3"),
    ("foo + baar + foo_3", "  foo + baar\n+\n  foo_3"),
    (
        "foo_1 + ignoring(foo) foo_2 + ignoring(job) group_left foo_3 "
        "+ on(instance) group_right foo_4",
        "      foo_1\n    + ignoring (foo)\n      foo_2\n  + ignoring (job) group_left ()\n"
        "    foo_3\n+ on (instance) group_right ()\n  foo_4",
    ),
    ("rate(foo[1m])", "rate(\n  foo[1m]\n)"),
    (
        "rate(long_vector_selector[10m:1m] @ start() offset 1m)",
        "rate(\n  long_vector_selector[10m:1m] @ start() offset 1m\n)",
    ),
    (
        "histogram_quantile(0.9, rate(foo[1m]))",
        "histogram_quantile(\n  0.9,\n  rate(\n    foo[1m]\n  )\n)",
    ),
    (
        "max_over_time(rate(demo_api_request_duration_seconds_count[1m])[1m:] @ start() offset 1m)",
        "max_over_time(\n  rate(\n    demo_api_request_duration_seconds_count[1m]\n"
        "  )[1m:] @ start() offset 1m\n)",
    ),
    (
        'label_replace(up{job="api-server",service="a:c"}, "foo", "$1", "service", "(.*):.*")',
        'label_replace(\n  up{job="api-server",service="a:c"},\n  "foo",\n  "$1",\n  "service",\n'
        '  "(.*):.*"\n)',
    ),
    ("(foo)", "(foo)"),
    ("(_foo_long_)", "(\n  _foo_long_\n)"),
    ("((foo_long))", "(\n  (foo_long)\n)"),
    ("(((foo_long)))", "(\n  (\n    (foo_long)\n  )\n)"),
    ("a @ 1", "a @ 1.000"),
    ("vector_selector @ start()", "vector_selector @ start()"),
    ("(1 + 2)", "(1 + 2)"),
    ("(foo + bar)", "(\n  foo + bar\n)"),
    ("(foo_long + bar_long)", "(\n    foo_long\n  +\n    bar_long\n)"),
    (
        "((foo_long + bar_long) + bar_2_long)",
        "(\n    (\n        foo_long\n      +\n        bar_long\n    )\n  +\n    bar_2_long\n)",
    ),
    (
        "(node_timex_offset_seconds > 0.05 and deriv(node_timex_offset_seconds[5m]) >= 0) or "
        "(node_timex_offset_seconds < -0.05 and deriv(node_timex_offset_seconds[5m]) <= 0)",
        "  (\n        node_timex_offset_seconds\n      >\n        0.05\n    and\n        deriv(\n"
        "          node_timex_offset_seconds[5m]\n        )\n      >=\n        0\n  )\nor\n  (\n"
        "        node_timex_offset_seconds\n      <\n        -0.05\n    and\n        deriv(\n"
        "          node_timex_offset_seconds[5m]\n        )\n      <=\n        0\n  )",
    ),
    (
        '(count by (job) (changes(process_start_time_seconds{job="alertmanager"}[10m]) > 4) / '
        'count by (job) (up{job="alertmanager"})) >= 0.5',
        "  (\n      count by (job) (\n          changes(\n"
        '            process_start_time_seconds{job="alertmanager"}[10m]\n          )\n'
        "        >\n          4\n      )\n    /\n      count by (job) (\n"
        '        up{job="alertmanager"}\n      )\n  )\n>=\n  0.5',
    ),
    ("-1", "-1"),
    ("-vector_selector", "-vector_selector"),
    ("(-vector_selector)", "(\n  -vector_selector\n)"),
    (
        "-histogram_quantile(0.99, sum by (le) (rate(foo[1m])))",
        "-histogram_quantile(\n  0.99,\n  sum by (le) (\n    rate(\n      foo[1m]\n    )\n  )\n)",
    ),
    (
        "(-histogram_quantile(0.9, -rate(foo[1m] @ start())))",
        "(\n  -histogram_quantile(\n    0.9,\n    -rate(\n      foo[1m] @ start()\n    )\n  )\n)",
    ),
    ("rate(foo[2*1h])", "rate(\n  foo[2 * 1h]\n)"),
    ("rate(foo[-5m+35m])", "rate(\n  foo[-5m + 35m]\n)"),
]


@pytest.mark.parametrize(("query", "pretty"), PRETTY_CASES)
def test_prettify_matches_prometheus(query: str, pretty: str) -> None:
    assert prettify(parse_expr(query), max_width=10) == pretty


def test_prettify_default_width_keeps_short_queries_on_one_line() -> None:
    q = 'sum by (job) (rate(http_requests_total{job="api"}[5m]))'
    assert prettify(parse_expr(q)) == q
    long_q = " + ".join(f"metric_number_{i}" for i in range(8))
    assert "\n" in prettify(parse_expr(long_q))


def test_parse_query_tree_has_prometheus_shape() -> None:
    tree = to_json(parse_expr('sum by (job) (rate(x{a="b"}[5m] offset 1m)) > bool 2'))
    assert json.loads(json.dumps(tree)) == {
        "bool": True,
        "lhs": {
            "expr": {
                "args": [
                    {
                        "anchored": False,
                        "matchers": [
                            {"name": "a", "type": "=", "value": "b"},
                            {"name": "__name__", "type": "=", "value": "x"},
                        ],
                        "name": "x",
                        "offset": 60000,
                        "range": 300000,
                        "smoothed": False,
                        "startOrEnd": None,
                        "timestamp": None,
                        "type": "matrixSelector",
                    }
                ],
                "func": {
                    "argTypes": ["matrix"],
                    "name": "rate",
                    "returnType": "vector",
                    "variadic": 0,
                },
                "type": "call",
            },
            "grouping": ["job"],
            "op": "sum",
            "param": None,
            "type": "aggregation",
            "without": False,
        },
        "matching": None,
        "op": ">",
        "rhs": {"type": "numberLiteral", "val": "2"},
        "type": "binaryExpr",
    }


def test_parse_query_tree_of_vector_matching_and_subquery() -> None:
    tree = to_json(parse_expr("a and on (b) c"))
    assert tree["matching"] == {
        "card": "many-to-many",
        "fillValues": {"lhs": None, "rhs": None},
        "include": [],
        "labels": ["b"],
        "on": True,
    }
    sq = to_json(parse_expr("max_over_time((-x)[5m:1m] @ end())"))
    sub = sq["args"][0]
    assert sub["type"] == "subquery" and sub["startOrEnd"] == "end"
    assert sub["range"] == 300000 and sub["step"] == 60000
    assert sub["expr"]["type"] == "parenExpr"
    assert sub["expr"]["expr"] == {
        "expr": {
            "anchored": False,
            "matchers": [{"name": "__name__", "type": "=", "value": "x"}],
            "name": "x",
            "offset": 0,
            "smoothed": False,
            "startOrEnd": None,
            "timestamp": None,
            "type": "vectorSelector",
        },
        "op": "-",
        "type": "unaryExpr",
    }
    assert to_json(parse_expr('"s"')) == {"type": "stringLiteral", "val": "s"}
    assert to_json(parse_expr("(1)")) == {
        "expr": {"type": "numberLiteral", "val": "1"},
        "type": "parenExpr",
    }


def test_at_rewrite_round_trips_through_string() -> None:
    # The promqltest runner pins every selector with "@ t" and re-parses the printed query.
    e = parse_expr('rate(foo{a="b"}[5m] @ 100 offset -1m)[10m:1m] @ 3600')
    printed = format_expr(e)
    assert printed == 'rate(foo{a="b"}[5m] @ 100.000 offset -1m)[10m:1m] @ 3600.000'
    assert format_expr(parse_expr(printed)) == printed
