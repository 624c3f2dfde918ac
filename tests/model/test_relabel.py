"""Relabeling semantics, case by case as in Prometheus' relabel_test.go."""

from __future__ import annotations

from typing import Any

import pytest

from promhub.config.model import RelabelConfig
from promhub.model.labels import Labels
from promhub.model.relabel import compile_regex, relabel, relabel_dict


def rc(**kw: Any) -> RelabelConfig:
    """A RelabelConfig with a Go-syntax regex, the way the config loader builds one."""
    regex = kw.pop("regex", "(.*)")
    cfg = RelabelConfig(**kw)
    cfg.regex, cfg.pattern = regex, compile_regex(regex)
    return cfg


CASES: list[tuple[str, dict[str, str], list[RelabelConfig], dict[str, str] | None]] = [
    (
        "replace with a capture group",
        {"a": "foo", "b": "bar", "c": "baz"},
        [rc(source_labels=["a"], regex="f(.*)", target_label="d", replacement="ch${1}-ch${1}")],
        {"a": "foo", "b": "bar", "c": "baz", "d": "choo-choo"},
    ),
    (
        "replace joins sources with the separator",
        {"a": "foo", "b": "bar", "c": "baz"},
        [
            rc(
                source_labels=["a", "b"],
                regex="f(.*);(.*)r",
                target_label="a",
                replacement="b${1}${2}m",
            ),
            rc(
                source_labels=["c", "a"],
                regex="(b).*b(.*)ba(.*)",
                target_label="d",
                replacement="$1$2$2$3",
            ),
        ],
        {"a": "boobam", "b": "bar", "c": "baz", "d": "boooom"},
    ),
    (
        "drop on match",
        {"a": "foo"},
        [rc(source_labels=["a"], regex=".*o.*", action="drop")],
        None,
    ),
    (
        "drop then keep",
        {"a": "foo", "b": "bar"},
        [
            rc(source_labels=["a"], regex="f(.*)", action="drop"),
            rc(source_labels=["b"], regex="bar", action="keep"),
        ],
        None,
    ),
    (
        "keep without match drops",
        {"a": "abc"},
        [rc(source_labels=["a"], regex=".*(b).*", action="keep")],
        {"a": "abc"},
    ),
    (
        "keep drops non-matching",
        {"a": "foo"},
        [rc(source_labels=["a"], regex="no-match", action="keep")],
        None,
    ),
    (
        "regexes are anchored",
        {"a": "foo"},
        [rc(source_labels=["a"], regex="f|o", action="keep")],
        None,
    ),
    (
        "no match means no replacement",
        {"a": "boo"},
        [rc(source_labels=["a"], regex="f", target_label="b", replacement="bar")],
        {"a": "boo"},
    ),
    (
        "empty replacement deletes the target",
        {"a": "foo", "f": "baz"},
        [rc(source_labels=["a"], regex="(f).*", target_label="$1", replacement="$2")],
        {"a": "foo"},
    ),
    (
        "target expanding to an invalid label name is skipped",
        {"a": "some-name-value"},
        [
            rc(
                source_labels=["a"],
                regex="some-([^-]+)-(.*)",
                target_label="${1}-x",
                replacement="y",
            )
        ],
        {"a": "some-name-value"},
    ),
    (
        "target from a group",
        {"a": "some-name-value"},
        [
            rc(
                source_labels=["a"],
                regex="some-([^-]+)-([^,]+)",
                target_label="${1}",
                replacement="${2}",
            )
        ],
        {"a": "some-name-value", "name": "value"},
    ),
    (
        "unknown and named groups",
        {"a": "foo"},
        [
            rc(
                source_labels=["a"],
                regex="(?P<first>f)(o+)",
                target_label="b",
                replacement="${first}|$2|${9}|${nope}|$$|$2x",
            )
        ],
        {"a": "foo", "b": "f|oo|||$|"},
    ),
    (
        "a missing source label reads as empty",
        {"a": "foo"},
        [rc(source_labels=["missing"], regex="", target_label="b", replacement="was-empty")],
        {"a": "foo", "b": "was-empty"},
    ),
    (
        "dot matches newline (Prometheus 3)",
        {"a": "foo\nbar"},
        [rc(source_labels=["a"], regex="foo.bar", action="keep")],
        {"a": "foo\nbar"},
    ),
    (
        "hashmod",
        {"a": "foo", "b": "bar", "c": "baz"},
        [rc(source_labels=["c"], target_label="d", action="hashmod", modulus=1000)],
        {"a": "foo", "b": "bar", "c": "baz", "d": "976"},
    ),
    (
        "hashmod of a value with a newline",
        {"a": "foo\nbar"},
        [rc(source_labels=["a"], target_label="b", action="hashmod", modulus=1000)],
        {"a": "foo\nbar", "b": "734"},
    ),
    (
        "labelmap copies matching names",
        {"a": "foo", "b1": "bar", "b2": "baz"},
        [rc(regex="(b.*)", replacement="bar_${1}", action="labelmap")],
        {"a": "foo", "b1": "bar", "b2": "baz", "bar_b1": "bar", "bar_b2": "baz"},
    ),
    (
        "labelmap of __meta labels",
        {"a": "foo", "__meta_my_bar": "aaa", "__meta_my_baz": "bbb", "__meta_other": "ccc"},
        [rc(regex="__meta_(my.*)", replacement="${1}", action="labelmap")],
        {
            "a": "foo",
            "__meta_my_bar": "aaa",
            "__meta_my_baz": "bbb",
            "__meta_other": "ccc",
            "my_bar": "aaa",
            "my_baz": "bbb",
        },
    ),
    (
        "labeldrop",
        {"a": "foo", "b": "bar", "c": "baz"},
        [rc(regex="(b|c)", action="labeldrop")],
        {"a": "foo"},
    ),
    (
        "labelkeep",
        {"a": "foo", "aa": "bar", "c": "baz"},
        [rc(regex="a.*", action="labelkeep")],
        {"a": "foo", "aa": "bar"},
    ),
    (
        "lowercase",
        {"foo": "bAr123Foo"},
        [rc(source_labels=["foo"], target_label="foo_lower", action="lowercase")],
        {"foo": "bAr123Foo", "foo_lower": "bar123foo"},
    ),
    (
        "uppercase of several sources",
        {"foo": "bAr123Foo", "bar": "bAz"},
        [rc(source_labels=["foo", "bar"], separator="-", target_label="u", action="uppercase")],
        {"foo": "bAr123Foo", "bar": "bAz", "u": "BAR123FOO-BAZ"},
    ),
    (
        "uppercase maps rune by rune like Go",
        {"a": "straße"},
        [rc(source_labels=["a"], target_label="b", action="uppercase")],
        {"a": "straße", "b": "STRAßE"},
    ),
    (
        "keepequal keeps equal",
        {"__tmp_port": "1234", "__port1": "1234"},
        [rc(source_labels=["__tmp_port"], target_label="__port1", action="keepequal")],
        {"__tmp_port": "1234", "__port1": "1234"},
    ),
    (
        "keepequal drops unequal",
        {"__tmp_port": "1234", "__port1": "5678"},
        [rc(source_labels=["__tmp_port"], target_label="__port1", action="keepequal")],
        None,
    ),
    (
        "dropequal drops equal",
        {"__tmp_port": "1234", "__port1": "1234"},
        [rc(source_labels=["__tmp_port"], target_label="__port1", action="dropequal")],
        None,
    ),
    (
        "dropequal keeps unequal",
        {"__tmp_port": "1234", "__port1": "5678"},
        [rc(source_labels=["__tmp_port"], target_label="__port1", action="dropequal")],
        {"__tmp_port": "1234", "__port1": "5678"},
    ),
    (
        "case-insensitive flag in the middle of a pattern",
        {"a": "fOO"},
        [rc(source_labels=["a"], regex="f(?i)oo", action="keep")],
        {"a": "fOO"},
    ),
    (
        r"\d is ASCII-only as in Go",
        {"a": "١٢"},
        [rc(source_labels=["a"], regex=r"\d+", action="drop")],
        {"a": "١٢"},
    ),
]


@pytest.mark.parametrize("name,labels,configs,want", CASES, ids=[c[0] for c in CASES])
def test_relabel_case(
    name: str,
    labels: dict[str, str],
    configs: list[RelabelConfig],
    want: dict[str, str] | None,
) -> None:
    got = relabel(Labels.from_dict(labels), configs)
    if want is None:
        assert got is None
    else:
        assert got == Labels.from_dict(want)
    # The dict flavour used for targets agrees.
    got_dict = relabel_dict(labels, configs)
    assert got_dict == want


def test_labelmap_collision_follows_builder_order() -> None:
    # Two labels map to the same name: Prometheus visits the original labels in sorted
    # order, so the later name ("b_x") wins.
    cfgs = [rc(regex="[ab]_(x)", replacement="$1", action="labelmap")]
    assert relabel({"a_x": "1", "b_x": "2"}, cfgs) == Labels.from_dict(
        {"a_x": "1", "b_x": "2", "x": "2"}
    )


def test_no_configs_returns_input_unchanged() -> None:
    ls = Labels.from_dict({"__name__": "up", "job": "a"})
    assert relabel(ls, []) is ls


def test_result_drops_empty_values() -> None:
    cfgs = [rc(source_labels=["a"], target_label="b", replacement="")]
    assert relabel({"a": "x", "b": "y", "c": ""}, cfgs) == Labels.from_dict({"a": "x"})


def test_hashmod_shards_targets_evenly() -> None:
    cfgs = [
        rc(source_labels=["__address__"], target_label="__tmp_hash", action="hashmod", modulus=3)
    ]
    shards = [relabel_dict({"__address__": f"10.0.0.{i}:9100"}, cfgs) for i in range(300)]
    counts = [sum(1 for s in shards if s and s["__tmp_hash"] == str(k)) for k in range(3)]
    assert all(60 < c < 140 for c in counts), counts


@pytest.mark.parametrize(
    "regex",
    ["(?=a)", r"(a)\1", "a**", "a*+", "(?#c)", "a{1001}", "(a", "a)", r"\Z", "[a", "(?U)a"],
)
def test_go_rejects_these_regexes(regex: str) -> None:
    with pytest.raises(ValueError, match="error parsing regexp"):
        compile_regex(regex)


@pytest.mark.parametrize(
    "regex,matches,rejects",
    [
        ("(?i)foo", ["FOO", "foo"], ["fo"]),
        ("a(?i)b|c", ["aB", "C"], ["ac", "AB"]),
        ("foo$", ["foo"], ["foo\n"]),
        (r"[[:alpha:]]+[[:digit:]]", ["ab1"], ["1a"]),
        (r"\Qa.b\E", ["a.b"], ["axb"]),
        ("(?<n>x)y", ["xy"], []),
        ("a{,2}", ["a{,2}"], ["aa"]),
        (r"\x{263a}", ["\u263a"], []),
        ("[a&&b]", ["&", "a"], ["c"]),
        (r"\pL+", ["héllo"], ["h1"]),
    ],
)
def test_go_regex_syntax(regex: str, matches: list[str], rejects: list[str]) -> None:
    p = compile_regex(regex)
    for s in matches:
        assert p.match(s), s
    for s in rejects:
        assert not p.match(s), s
