"""Template functions of Prometheus rule templates and Alertmanager notification templates.

:func:`rule_funcs` is Prometheus' ``template.NewTemplateExpander`` function map (humanize,
query, first, label, …) and :func:`expand_rule_template` its ``Expand``: the way a rule's
labels and annotations are rendered with ``$labels``, ``$value``, ``$externalLabels`` and
``$externalURL``. :func:`alertmanager_funcs` is Alertmanager's ``DefaultFuncs``.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import json
import math
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from promhub.rules.goformat import GoDuration, GoTime, go_float, go_format_g, go_type_name
from promhub.rules.template import StrMap, Template, TemplateError

__all__ = [
    "QueryFunc",
    "Sample",
    "alertmanager_funcs",
    "check_rule_template",
    "expand_rule_template",
    "expand_rule_template_or_error",
    "expand_template",
    "humanize",
    "humanize1024",
    "humanize_duration",
    "humanize_percentage",
    "humanize_timestamp",
    "rule_funcs",
]

QueryFunc = Callable[[str], Iterable[Any]]
"""``query(expr)`` -> samples, each with ``.Labels`` (or ``labels``) and ``.Value`` (``value``)."""

_INT64_MAX = 2**63 - 1
_GO_FLOAT = re.compile(r"[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|inf|infinity|nan)",
                       re.IGNORECASE)  # fmt: skip


class Sample:
    """One query result as rule templates see it: ``.Labels`` (a map) and ``.Value``."""

    __slots__ = ("Labels", "Value")

    def __init__(self, labels: Mapping[str, str], value: float) -> None:
        self.Labels = StrMap(labels)
        self.Value = float(value)

    def String(self) -> str:  # noqa: N802 - printed as Go prints a *sample
        """Go's %v of the struct pointer's fields."""
        labels = " ".join(f"{k}:{v}" for k, v in sorted(self.Labels.items()))
        return f"&{{map[{labels}] {go_float(self.Value)}}}"


def to_float(v: Any) -> float:
    """Prometheus' ConvertToFloat: numbers, numeric strings (Go syntax) and durations."""
    if isinstance(v, bool):
        raise ValueError(f"can't convert {go_type_name(v)} to float")
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        if not _GO_FLOAT.fullmatch(v):
            raise ValueError(f'strconv.ParseFloat: parsing "{v}": invalid syntax')
        return float(v)
    if isinstance(v, GoDuration):
        return v.Seconds()
    if isinstance(v, dt.timedelta):
        return v.total_seconds()
    raise ValueError(f"can't convert {go_type_name(v)} to float")


def humanize(v: Any) -> str:
    """1234567 -> ``1.235M``, 0.12 -> ``120m`` (SI prefixes, 4 significant digits)."""
    f = to_float(v)
    if f == 0 or math.isnan(f) or math.isinf(f):
        return go_format_g(f, 4)
    prefix = ""
    if abs(f) >= 1:
        for p in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(f) < 1000:
                break
            prefix, f = p, f / 1000
    else:
        for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
            if abs(f) >= 1:
                break
            prefix, f = p, f * 1000
    return go_format_g(f, 4) + prefix


def humanize1024(v: Any) -> str:
    """1048576 -> ``1Mi`` (binary prefixes); values up to 1 print as they are."""
    f = to_float(v)
    if abs(f) <= 1 or math.isnan(f) or math.isinf(f):
        return go_format_g(f, 4)
    prefix = ""
    for p in ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"):
        if abs(f) < 1024:
            break
        prefix, f = p, f / 1024
    return go_format_g(f, 4) + prefix


def humanize_duration(v: Any) -> str:
    """Seconds to ``1d 1h 0m 0s`` / ``14m 59s`` / ``1.234s`` / ``100ms``."""
    f = to_float(v)
    if math.isnan(f) or math.isinf(f):
        return go_format_g(f, 4)
    if f == 0:
        return go_format_g(f, 4) + "s"
    if abs(f) >= 1:
        sign = "-" if f < 0 else ""
        f = abs(f)
        total = int(f)
        seconds, minutes = total % 60, total // 60 % 60
        hours, days = total // 3600 % 24, total // 86400
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{go_format_g(f, 4)}s"
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(f) >= 1:
            break
        prefix, f = p, f * 1000
    return f"{go_format_g(f, 4)}{prefix}s"


def humanize_percentage(v: Any) -> str:
    """0.1234 -> ``12.34%``."""
    return go_format_g(to_float(v) * 100, 4) + "%"


def _float_to_time(f: float) -> GoTime:
    ns = f * 1e9
    if ns > _INT64_MAX or ns < -(2**63):
        raise ValueError(
            f"{go_float(f)} cannot be represented as a nanoseconds timestamp "
            "since it overflows int64"
        )
    # Prometheus goes through model.Time: millisecond precision, truncated toward zero.
    ms = int(int(ns) / 1_000_000)
    return GoTime(dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=ms))


def humanize_timestamp(v: Any) -> str:
    """Unix seconds -> ``2015-06-23 13:19:44.128 +0000 UTC``."""
    f = to_float(v)
    if math.isnan(f) or math.isinf(f):
        return go_format_g(f, 4)
    return str(_float_to_time(f))


def to_time(v: Any) -> GoTime:
    """Unix seconds -> a time value (``(toTime $value).Format "2006"``)."""
    return _float_to_time(to_float(v))


def _title(s: str, lower_rest: bool) -> str:
    """golang.org/x/text/cases.Title: upper-case each word's first letter.

    Words follow Unicode word segmentation closely enough for labels: letters, digits and
    ``_`` form words, ``'`` and ``.`` between two of them do not split a word (``o'neil``,
    ``ab.cd``). Prometheus keeps the rest of the word as is (``cases.NoLower``);
    Alertmanager lower-cases it.
    """
    out: list[str] = []
    need_upper = True
    for i, ch in enumerate(s):
        word_char = ch.isalnum() or ch == "_"
        if not word_char and ch in "'." and 0 < i < len(s) - 1:
            word_char = (s[i - 1].isalnum() or s[i - 1] == "_") and s[i + 1].isalnum()
        if not word_char:
            need_upper = True
            out.append(ch)
        elif need_upper and ch.isalpha():
            out.append(ch.upper())
            need_upper = False
        else:
            out.append(ch.lower() if lower_rest else ch)
    return "".join(out)


@functools.lru_cache(maxsize=1024)
def _go_regex(pattern: str) -> re.Pattern[str]:
    # RE2 and Python agree on the syntax rule authors use; translate RE2's spellings that
    # Python lacks: named groups "(?<n>…)" and end of text "\z".
    pattern = re.sub(r"\(\?<(?=[A-Za-z_])", "(?P<", pattern)
    pattern = re.sub(r"(?<!\\)((?:\\\\)*)\\z", r"\1\\Z", pattern)
    return re.compile(pattern)


def re_replace_all(pattern: str, repl: str, text: str) -> str:
    """Go's Regexp.ReplaceAllString: ``$1``, ``${1}``, ``$name`` (longest name), ``$$``."""
    rx = _go_regex(pattern)

    def expand(m: re.Match[str]) -> str:
        out: list[str] = []
        i = 0
        while i < len(repl):
            ch = repl[i]
            if ch != "$" or i + 1 >= len(repl):
                out.append(ch)
                i += 1
                continue
            nxt = repl[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "{":
                end = repl.find("}", i + 2)
                name = repl[i + 2 : end] if end > 0 else ""
                if end < 0 or not re.fullmatch(r"\w+", name):
                    out.append(ch)
                    i += 1
                    continue
                i = end + 1
            else:
                nm = re.match(r"\w+", repl[i + 1 :])
                if nm is None:
                    out.append(ch)
                    i += 1
                    continue
                name = nm.group(0)
                i += 1 + len(name)
            out.append(_group(m, name))
        return "".join(out)

    return rx.sub(expand, text)


def _group(m: re.Match[str], name: str) -> str:
    try:
        g = m.group(int(name)) if name.isdigit() else m.group(name)
    except IndexError:  # Go expands an unknown group to ""
        return ""
    return g or ""


def _match(pattern: str, text: str) -> bool:
    return _go_regex(pattern).search(text) is not None


def split_host_port(hostport: str) -> tuple[str, str] | None:
    """Go's net.SplitHostPort; None where Go returns an error."""
    i = hostport.rfind(":")
    if i < 0:
        return None
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0 or end + 1 != i:
            return None
        host, j, k = hostport[1:end], 1, end + 1
    else:
        host, j, k = hostport[:i], 0, 0
        if ":" in host:
            return None
    if "[" in hostport[j:] or "]" in hostport[k:]:
        return None
    return host, hostport[i + 1 :]


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def strip_port(hostport: str) -> str:
    """``host:port`` -> ``host`` (IPv6 brackets removed); unsplittable input unchanged."""
    parts = split_host_port(hostport)
    return hostport if parts is None else parts[0]


def strip_domain(hostport: str) -> str:
    """``foo.example.com:9100`` -> ``foo:9100``; IP addresses are left alone."""
    parts = split_host_port(hostport)
    host, port = (hostport, "") if parts is None else parts
    if _is_ip(host):
        return hostport
    host = host.split(".")[0]
    if port:
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return host


_DURATION_UNITS = {"y": 365 * 86400.0, "w": 7 * 86400.0, "d": 86400.0, "h": 3600.0, "m": 60.0,
                   "s": 1.0, "ms": 0.001}  # fmt: skip
_DURATION = re.compile(r"(\d+)(ms|y|w|d|h|m|s)")


def parse_duration(s: str) -> float:
    """Prometheus duration (``1h2m10ms``, ``1w``) to seconds."""
    if s == "0":
        return 0.0
    pos, total, last = 0, 0.0, -1
    order = list(_DURATION_UNITS)
    while pos < len(s):
        m = _DURATION.match(s, pos)
        if m is None:
            raise ValueError(f'not a valid duration string: "{s}"')
        rank = order.index(m.group(2))
        if rank <= last:
            raise ValueError(f'not a valid duration string: "{s}"')
        last = rank
        total += int(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    if not s:
        raise ValueError("empty duration string")
    return total


def _sample(obj: Any) -> Sample:
    if isinstance(obj, Sample):
        return obj
    if isinstance(obj, Mapping):
        return Sample(
            obj.get("Labels", obj.get("labels", {})), obj.get("Value", obj.get("value", 0))
        )
    labels = getattr(obj, "Labels", None)
    if labels is None:
        labels = getattr(obj, "labels", {})
    value: Any = getattr(obj, "Value", None)
    if value is None:
        value = getattr(obj, "value", 0.0)
    return Sample(labels, float(value))


def rule_funcs(
    query: QueryFunc | None = None, external_url: str = ""
) -> dict[str, Callable[..., Any]]:
    """Prometheus' rule/console template functions.

    ``query`` is called with a PromQL expression and returns the instant vector at the
    rule's evaluation time; ``external_url`` feeds ``externalURL``/``pathPrefix``.
    """

    def run_query(expr: str) -> list[Sample]:
        if query is None:
            raise ValueError("query is not available in this context")
        return [_sample(s) for s in query(expr)]

    def first(v: list[Sample]) -> Sample:
        if len(v) > 0:
            return v[0]
        raise ValueError("first() called on vector with no elements")

    def label(name: str, s: Sample) -> str:
        return s.Labels.get(name, "") if s is not None else ""

    def sort_by_label(name: str, v: list[Sample]) -> list[Sample]:
        return sorted(v, key=lambda s: s.Labels.get(name, ""))

    def args(*a: Any) -> dict[str, Any]:
        return {f"arg{i}": x for i, x in enumerate(a)}

    def graph_link(expr: str, tab: int = 0) -> str:
        return f"/graph?g0.expr={urllib.parse.quote_plus(expr)}&g0.tab={tab}"

    parsed = urllib.parse.urlsplit(external_url)
    return {
        "query": run_query,
        "first": first,
        "label": label,
        "value": lambda s: s.Value,
        "strvalue": lambda s: s.Labels.get("__value__", ""),
        "args": args,
        "reReplaceAll": re_replace_all,
        "safeHtml": lambda s: s,
        "match": _match,
        "title": lambda s: _title(s, lower_rest=False),
        "toUpper": lambda s: s.upper(),
        "toLower": lambda s: s.lower(),
        "graphLink": lambda e: graph_link(e, 0),
        "tableLink": lambda e: graph_link(e, 1),
        "sortByLabel": sort_by_label,
        "humanize": humanize,
        "humanize1024": humanize1024,
        "humanizeDuration": humanize_duration,
        "humanizePercentage": humanize_percentage,
        "humanizeTimestamp": humanize_timestamp,
        "toTime": to_time,
        "toDuration": lambda v: GoDuration(round(to_float(v) * 1e9)),
        "pathPrefix": lambda: parsed.path,
        "externalURL": lambda: external_url,
        "parseDuration": parse_duration,
        "stripPort": strip_port,
        "stripDomain": strip_domain,
    }


@functools.lru_cache(maxsize=4096)
def _parsed_rule_template(name: str, text: str) -> Template:
    # Rule annotations are re-rendered for every alert at every evaluation; parse once.
    return Template.parse(name, text, rule_funcs())


def expand_template(
    name: str, text: str, data: Any, funcs: Mapping[str, Callable[..., Any]]
) -> str:
    """Prometheus' ``Expander.Expand``: errors read ``error parsing template NAME: …`` or
    ``error executing template NAME: …``."""
    try:
        tmpl = Template.parse(name, text, funcs)
    except TemplateError as e:
        raise TemplateError(f"error parsing template {name}: {e}") from None
    try:
        return tmpl.execute(data)
    except TemplateError as e:
        raise TemplateError(f"error executing template {name}: {e}") from None


_RULE_DEFS = ("{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}"
              "{{$externalURL := .ExternalURL}}{{$value := .Value}}")  # fmt: skip


def expand_rule_template(
    text: str,
    labels: Mapping[str, str],
    value: float,
    external_labels: Mapping[str, str] | None = None,
    external_url: str = "",
    query: QueryFunc | None = None,
    name: str = "__alert",
) -> str:
    """Render an alerting rule's label or annotation as Prometheus does.

    ``$labels``/``.Labels``, ``$value``/``.Value``, ``$externalLabels`` and ``$externalURL``
    are defined; ``query`` backs the ``query`` function.

    >>> expand_rule_template("{{ $labels.instance }} at {{ $value | humanize }}",
    ...                      {"instance": "a:9100"}, 1234567.0)
    'a:9100 at 1.235M'

    Raises:
        TemplateError: the message Prometheus would put in ``<error expanding template: …>``.
    """
    data = {
        "Labels": StrMap(labels),
        "ExternalLabels": StrMap(external_labels or {}),
        "ExternalURL": external_url,
        "Value": float(value),
    }
    if "{{" not in text:
        return text  # the common case: a plain string needs no parsing
    try:
        tmpl = _parsed_rule_template(name, _RULE_DEFS + text)
    except TemplateError as e:
        raise TemplateError(f"error parsing template {name}: {e}") from None
    try:
        return tmpl.with_funcs(rule_funcs(query, external_url)).execute(data)
    except TemplateError as e:
        raise TemplateError(f"error executing template {name}: {e}") from None


def check_rule_template(text: str, name: str = "__alert") -> None:
    """Parse a rule's label/annotation template as ``promtool check rules`` does.

    ``name`` should be ``"__alert_" + alertname``, so the message reads like Prometheus':
    ``template: __alert_HighCpu:1: function "nosuch" not defined``.

    Raises:
        TemplateError: the template does not parse.
    """
    Template.parse(name, _RULE_DEFS + text, rule_funcs())


def expand_rule_template_or_error(text: str, labels: Mapping[str, str], value: float,
                                  **kwargs: Any) -> str:  # fmt: skip
    """Like :func:`expand_rule_template`, but a failure becomes the annotation text
    ``<error expanding template: …>``, as Prometheus keeps the alert and shows the error."""
    try:
        return expand_rule_template(text, labels, value, **kwargs)
    except TemplateError as e:
        return f"<error expanding template: {e}>"


def _tz(name: str, t: GoTime) -> GoTime:
    try:
        zone: dt.tzinfo = dt.UTC if name in ("", "UTC") else ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name}") from None
    return GoTime(t.t.astimezone(zone))


def _since(t: GoTime) -> GoDuration:
    delta = dt.datetime.now(dt.UTC) - t.t
    return GoDuration(round(delta.total_seconds() * 1e9))


def _join(sep: str, items: Iterable[Any]) -> str:
    if isinstance(items, str):
        raise ValueError("join expects a list of strings")
    return sep.join(str(x) for x in items)


def alertmanager_funcs() -> dict[str, Callable[..., Any]]:
    """Alertmanager's template functions (``DefaultFuncs``)."""
    return {
        "toUpper": lambda s: s.upper(),
        "toLower": lambda s: s.lower(),
        "title": lambda s: _title(s, lower_rest=True),
        "trimSpace": lambda s: s.strip(" \t\n\r\v\f"),
        "join": _join,
        "match": _match,
        "safeHtml": lambda s: s,
        "safeUrl": lambda s: s,
        "urlUnescape": lambda s: urllib.parse.unquote_plus(s, errors="strict"),
        "reReplaceAll": re_replace_all,
        "stringSlice": lambda *s: list(s),
        "date": lambda fmt, t: t.Format(fmt),
        "tz": _tz,
        "since": _since,
        "humanizeDuration": humanize_duration,
        "toJson": lambda v: json.dumps(v, separators=(",", ":"), default=str),
    }
