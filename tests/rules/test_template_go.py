"""Go text/template semantics: promhub's engine renders what Go renders.

The reference is Go itself: Debian's ``amtool template render`` executes the same text with
Go's text/template and Alertmanager's functions, so each case compares with real output.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from promhub.rules.template import Template, TemplateError
from promhub.rules.template_data import notification_template, render

from .amtool_peer import SEP, amtool_render, needs_amtool, sample_group, to_data

GO_CASES = [
    # literals and Go's %v of numbers
    "{{ 1 }}|{{ 1.5 }}|{{ 1e6 }}|{{ 1234567.0 }}|{{ 0.0001 }}|{{ 0.00001 }}|{{ 0x1F }}|{{ 017 }}"
    "|{{ 'a' }}|{{ 1_000 }}|{{ -2 }}|{{ true }}",
    '{{ `raw "str"` }} {{ "tab\\tnl" }} {{ "\\u00e9\\x41" }}',
    # printf verbs
    '{{ printf "%d %5d %-5d| %05d %x %X %o %b %c" 42 42 42 42 255 255 8 5 65 }}',
    '{{ printf "%f %.2f %8.3f %e %E %g %G %.3g" 3.14159 3.14159 3.14159 1234.5678 1234.5678'
    " 1234.5678 0.000012345 3.14159 }}",
    '{{ printf "%s %q %v %10s|%-10s| %.2s" "abc" "a\\"b" "x" "r" "l" "hello" }}',
    '{{ printf "%v %v %v %v" 1 1.5 true nil }} {{ printf "%t" true }}',
    '{{ printf "%d" 1.5 }} {{ printf "%s" 3 }} {{ printf "%d %d" 1 }} {{ printf "%d" 1 2 }}',
    '{{ printf "%6.2f%%" 12.3456 }} {{ printf "%+d %+.1f" 5 2.5 }} {{ printf "%T %T %T" 1 .5 "" }}',
    '{{ printf "%s %s %s %v" nil true 1.5 (stringSlice "a") }}',
    '{{ print 1 2 "a" "b" 3 4 }}|{{ println 1 "a" 2 }}|{{ print nil }}|{{ print true false }}',
    # builtins
    '{{ stringSlice "a" "b" }} {{ len (stringSlice "a" "b") }} {{ index (stringSlice "a" "b") 1 }}'
    ' {{ slice (stringSlice "a" "b" "c") 1 }} {{ slice "hello" 1 3 }} {{ len "héllo" }}'
    ' {{ index "abc" 1 }}',
    '{{ html "<a href=\\"x\\">\'&\'</a>" }} {{ js "it\'s <b> \\"q\\" & =\\n" }}'
    ' {{ urlquery "a b&c=d/é" }}',
    '{{ eq 1 1 }} {{ eq "a" "b" "a" }} {{ ne 1 2 }} {{ lt 1 2 }} {{ le 2 2 }} {{ gt "b" "a" }}'
    " {{ ge 1.5 2.5 }}",
    '{{ and 1 0 2 }} {{ and 1 2 }} {{ or 0 "" }} {{ or 0 "x" }} {{ not 0 }} {{ not "a" }}',
    # whitespace trimming and comments
    '{{- " trimmed " -}}   X   {{- 3 }}\n  {{- /* gone */ -}}  \n|{{/* c */}}|',
    # control structures and variables
    '{{ range $i, $e := stringSlice "a" "b" "c" }}{{ $i }}:{{ $e }} {{ end }}'
    "|{{ range stringSlice }}x{{ else }}empty{{ end }}",
    "{{ range $k, $v := .CommonLabels }}{{ $k }}={{ $v }};{{ end }}"
    "|{{ range .CommonLabels }}{{ . }},{{ end }}",
    "{{ with .CommonLabels.job }}job={{ . }}{{ end }}"
    '{{ with .CommonLabels.nope }}x{{ else }}no job{{ end }}|{{ index .CommonLabels "nope" }}|',
    "{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ $y := 3 }}{{ end }}{{ $x }} {{ $ := 5 }}{{ $ }}",
    '{{ define "t1" }}[{{ . }}]{{ end }}{{ template "t1" "arg" }}{{ template "t1" }}'
    '{{ block "b1" 5 }}<{{ . }}>{{ end }}',
    '{{ if eq .Status "firing" }}F{{ else if eq .Status "resolved" }}R{{ else }}?{{ end }}'
    ' {{ if 0 }}a{{ else if "" }}b{{ else }}c{{ end }}',
    '{{ range $i, $e := stringSlice "a" "b" "c" "d" }}{{ if eq $i 1 }}{{ continue }}{{ end }}'
    "{{ if eq $i 3 }}{{ break }}{{ end }}{{ $e }}{{ end }}",
    '{{ with $z := .Status }}{{ $z }}{{ end }} {{ range $v := stringSlice "q" }}{{ $v }}{{ end }}'
    ' {{ .Receiver | printf "%s-%s" "pre" }} {{ (stringSlice "p" "q") | len }}',
    # Alertmanager's data model methods and Go's printing of them
    "{{ .CommonLabels }} {{ .CommonLabels.SortedPairs }} {{ .GroupLabels.Names }}"
    ' {{ .CommonLabels.Values }} {{ printf "%T %T" .CommonLabels .Alerts }}',
    '{{ (.CommonLabels.Remove (stringSlice "job")).SortedPairs.Names }} {{ len .Alerts.Firing }}'
    " {{ len .Alerts.Resolved }} {{ len .Alerts }}",
    "{{ range .Alerts }}{{ .Status }} {{ .StartsAt }} {{ .EndsAt }} {{ .Labels.instance }}"
    " {{ .Fingerprint }} {{ .Annotations.SortedPairs.Values }};{{ end }}",
    '{{ range .Alerts }}{{ .StartsAt.Format "2006-01-02T15:04:05Z07:00 Mon Jan _2 03:04PM" }}'
    " {{ .StartsAt.Unix }} {{ .EndsAt.IsZero }};{{ end }}",
    # Alertmanager's functions
    '{{ toUpper "abc" }} {{ toLower "ABC" }} {{ title "hello wORLD foo-bar o\'neil x_y 3rd" }}'
    ' {{ join ", " (stringSlice "a" "b") }} {{ match "^web-[0-9]+" "web-12:9100" }}'
    ' {{ reReplaceAll "(.*):(\\\\d+)" "$1 port ${2}x $2x $$" "web:9100" }} {{ safeHtml "<b>" }}',
]


@needs_amtool
def test_go_semantics_match_go(tmp_path: Path) -> None:
    raw = sample_group()
    text = SEP.join(GO_CASES)
    want = amtool_render(tmp_path, text, raw)
    assert not want.startswith("ERROR"), want
    got = render(notification_template(), text, to_data(raw))
    for case, w, g in zip(GO_CASES, want.split(SEP), got.split(SEP), strict=True):
        assert g == w, case


def _normalise(msg: str) -> str:
    # amtool names its inline template ""; promhub names it "__field".
    msg = re.sub(r"template: [^:\s]*:", "template: :", msg)
    return re.sub(r'executing "[^"]*"', 'executing ""', msg)


ERROR_CASES = [
    "{{ } }}",
    "{{ $x := }}",
    "{{ if }}{{ end }}",
    '{{ index .CommonLabels "job" "x" }}',
    "{{ .CommonLabels.job.x }}",
    "{{ len 3 }}",
    "{{ lt 1 1.5 }}",
    '{{ eq 1 "a" }}',
    '{{ template "zz" }}',
    "{{ printf }}",
    "{{ nil }}",
    "{{ 1 2 }}",
    "{{ $x := 1 }}{{ $x.y }}",
    '{{ range "abc" }}{{ . }}{{ end }}',
    '{{ slice "abc" 2 1 }}',
    '{{ index (stringSlice "a") 3 }}',
    "{{ .Status.Foo }}",
    "{{ .Nope }}",
    "{{ nosuch 1 }}",
    "{{ $nope }}",
    "{{ if 1 }}x",
    "{{ end }}",
    "x\n{{ else }}",
    '{{ "unterminated }}',
    "{{ and }}",
    "{{ (1 }}",
]


@needs_amtool
@pytest.mark.parametrize("text", ERROR_CASES)
def test_error_messages_match_go(tmp_path: Path, text: str) -> None:
    raw = sample_group()
    want = amtool_render(tmp_path, text, raw)
    assert want.startswith("ERROR: ")
    with pytest.raises(TemplateError) as exc:
        render(notification_template(), text, to_data(raw))
    assert _normalise(str(exc.value)) == _normalise(want.removeprefix("ERROR: "))


def test_parse_error_names_template_and_line() -> None:
    with pytest.raises(TemplateError) as exc:
        Template.parse("alert.tmpl", "line one\n{{ if .X }}\n{{ .a} }}\n{{ end }}")
    assert str(exc.value) == 'template: alert.tmpl:3: unexpected "}" in operand'


def test_execution_error_names_template_line_and_column() -> None:
    tmpl = Template.parse(
        "t.tmpl", '{{ define "inner" }}\n  {{ .a.b.c }}{{ end }}x{{ template "inner" . }}'
    )
    with pytest.raises(TemplateError) as exc:
        tmpl.execute({"a": {"b": 3}})
    assert str(exc.value) == (
        'template: t.tmpl:2:7: executing "inner" at <.a.b.c>: can\'t evaluate field c in type int'
    )


def test_function_exception_is_a_template_error_not_a_crash() -> None:
    def boom(_: object) -> str:
        raise RuntimeError("backend down")

    tmpl = Template.parse("t", "{{ boom . }}", {"boom": boom})
    with pytest.raises(TemplateError, match="at <boom .>: error calling boom: backend down"):
        tmpl.execute(1)


def test_deep_recursion_is_an_error() -> None:
    tmpl = Template.parse("t", '{{ define "r" }}{{ template "r" . }}{{ end }}{{ template "r" 1 }}')
    with pytest.raises(TemplateError, match="maximum template depth"):
        tmpl.execute(None)


def test_missing_keys_print_like_go() -> None:
    # A missing key of a generic map prints <no value>; of a map[string]string it is empty.
    from promhub.rules.template import StrMap

    tmpl = Template.parse("t", "[{{ .a.x }}][{{ .b.x }}][{{ .c.d.e }}]")
    assert tmpl.execute({"a": {}, "b": StrMap()}) == "[<no value>][][<no value>]"


def test_range_over_map_sorts_keys_and_int_keys_numerically() -> None:
    tmpl = Template.parse("t", "{{ range $k, $v := . }}{{ $k }}{{ $v }} {{ end }}")
    assert tmpl.execute({10: "a", 9: "b", 100: "c"}) == "9b 10a 100c "


def test_methods_of_python_objects_are_callable_with_arguments() -> None:
    class Greeter:
        Name = "prom"

        def Greet(self, greeting: str) -> str:  # noqa: N802
            return f"{greeting}, {self.Name}"

    tmpl = Template.parse("t", '{{ .Greet "hi" }} {{ .Name }} {{ "yo" | .Greet }}')
    assert tmpl.execute(Greeter()) == "hi, prom prom yo, prom"


def test_add_parses_more_files_into_one_set() -> None:
    tmpl = Template.parse("main", '{{ template "x" . }}')
    tmpl.add("lib.tmpl", '{{ define "x" }}<{{ . }}>{{ end }}')
    assert tmpl.execute(5) == "<5>"
    assert tmpl.names() == ["lib.tmpl", "main", "x"]


_FUZZ_TOKENS = [
    "{{", "}}", "{{-", " -}}", " ", "$x", "$", ":=", "=", "|", "(", ")", ".", ".a", "$labels",
    "if", "else", "end", "range", "with", "define", "template", "block", '"s"', "`r`", "1",
    "1.5", "-2", "'c'", "nil", "true", "printf", '"%d"', "index", "len", "slice", "eq", "lt",
    "and", "or", "not", ",", "$i", "break", "continue", "/*", "*/", "\n", "x", "print", "html",
    "call", "1e400", "0x", "\\", '"', "}", "{", "é", "\u00a0",
]  # fmt: skip


def test_garbage_templates_fail_cleanly() -> None:
    # Whatever a user types into an annotation, the result is output or a TemplateError.
    import random

    rng = random.Random(7)
    for _ in range(3000):
        text = "".join(rng.choice(_FUZZ_TOKENS) for _ in range(rng.randint(1, 14)))
        try:
            Template.parse("f", text).execute(rng.choice([None, {"a": {"b": 1}}, [1, "a"], 3]))
        except TemplateError as e:
            assert "Error:" not in str(e), (text, str(e))
