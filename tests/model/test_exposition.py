"""Exposition parsing: agreement with prometheus_client's parsers, real exporters over HTTP,
Prometheus' rejections, and the scrape cache."""

from __future__ import annotations

import math
import random
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Enum,
    Gauge,
    Histogram,
    Info,
    Summary,
    start_http_server,
)
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as om_oracle,
)
from prometheus_client.parser import text_string_to_metric_families as text_oracle

from promhub.model.exposition import (
    SCRAPE_ACCEPT_HEADER,
    ExpositionError,
    ParsedBody,
    SeriesCache,
    detect_format,
    parse,
)
from promhub.model.exposition_grammar import format_openmetrics_float
from promhub.model.labels import Labels
from promhub.model.value import STALE_NAN_BITS

TEXT = "text/plain; version=0.0.4; charset=utf-8"
OM = "application/openmetrics-text; version=1.0.0; charset=utf-8"


class Registry:
    """A resolve callback handing out dense refs, remembering each series' labels."""

    def __init__(self, drop: str | None = None) -> None:
        self.labels: list[Labels] = []
        self.drop = drop

    def __call__(self, labels: Labels) -> int:
        if self.drop is not None and labels.name == self.drop:
            return -1
        self.labels.append(labels)
        return len(self.labels) - 1


def run(body: bytes | str, ct: str = TEXT, default_ts: int = 0) -> tuple[ParsedBody, Registry]:
    reg = Registry()
    data = body.encode() if isinstance(body, str) else body
    return parse(data, ct, {}, reg, default_ts), reg


def samples(r: ParsedBody, reg: Registry) -> list[tuple[Labels, float, int | None]]:
    out = []
    for ref, v, ts, has in zip(r.refs, r.values, r.timestamps, r.has_timestamps, strict=True):
        out.append((reg.labels[ref], float(v), int(ts) if has else None))
    return out


# -- oracle: prometheus_client's parsers ------------------------------------------------

_CHARS = ["a", "Z", "0", " ", "\\", '"', "\n", "{", "}", ",", "=", "#", "é", "日本", "🚀", "\t"]


def _escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _ident(rnd: random.Random, first: str = "abcxyz_", rest: str = "abcxyz_019") -> str:
    return rnd.choice(first) + "".join(rnd.choice(rest) for _ in range(rnd.randint(0, 8)))


def _value(rnd: random.Random) -> str:
    return rnd.choice(
        [
            str(rnd.randint(0, 10**12)),
            repr(rnd.uniform(-1e6, 1e6)),
            repr(rnd.random() * 1e-7),
            f"{rnd.random():.3e}",
            "NaN",
            "+Inf",
            "-Inf",
            "-0.0",
            ".5",
        ]
    )


def _labelsets(rnd: random.Random, n: int) -> list[dict[str, str]]:
    names = sorted({_ident(rnd, rest="abcxyz_019") for _ in range(rnd.randint(0, 4))})
    names = [n_ for n_ in names if not n_.startswith("__")]
    out: list[dict[str, str]] = []
    for i in range(n):
        d = {k: "".join(rnd.choice(_CHARS) for _ in range(rnd.randint(1, 6))) for k in names}
        d["series"] = str(i)  # distinct label sets within the family
        out.append(d)
    return out


def _series(name: str, labels: dict[str, str], quoted_name: bool) -> str:
    parts = [f'{k}="{_escape(v)}"' for k, v in labels.items()]
    if quoted_name:
        return "{" + ",".join([f'"{_escape(name)}"', *parts]) + "}"
    return name + ("{" + ",".join(parts) + "}" if parts else "")


def _family(rnd: random.Random, idx: int, om: bool) -> tuple[list[str], str, str]:
    """Lines of one random family, its name and its help text."""
    kinds = ["counter", "gauge", "histogram", "summary", "untyped"]
    if om:
        kinds += ["info", "stateset"]
    kind = rnd.choice(kinds)
    base = f"{_ident(rnd)}_{idx}"
    quoted = kind in ("gauge", "untyped") and rnd.random() < 0.3
    if quoted:
        base = f"my.metric-{idx}.é"
    help_text = "".join(rnd.choice(_CHARS) for _ in range(rnd.randint(0, 12)))
    help_text = help_text.replace("\t", " ").strip(" ") or "h"
    with_ts = rnd.random() < 0.4
    family = base
    if kind == "counter" and not om:
        family = base + "_total"  # the text format names counter families as exposed
    typ = "unknown" if (kind == "untyped" and om) else kind
    fam_ref = f'"{_escape(family)}"' if quoted else family
    help_esc = help_text.replace("\\", "\\\\").replace("\n", "\\n")
    if om:
        help_esc = _escape(help_text)
    lines = [f"# HELP {fam_ref} {help_esc}", f"# TYPE {fam_ref} {typ}"]
    ts_sec = rnd.randint(1, 2 * 10**9)
    ts_frac = rnd.randint(0, 7)

    def line(name: str, labels: dict[str, str], value: str, exemplar: str = "") -> str:
        s = f"{_series(name, labels, quoted)} {value}"
        if with_ts:
            # One timestamp per family: the OpenMetrics oracle insists they never go back.
            s += f" {ts_sec + ts_frac / 8}" if om else f" {ts_sec * 1000 + ts_frac}"
        return s + exemplar

    def exemplar() -> str:
        if not om or rnd.random() < 0.5:
            return ""
        ts = f" {rnd.randint(0, 10**9) / 4}" if rnd.random() < 0.5 else ""
        # prometheus_client's parser mis-splits exemplars holding '"' or '\\'; spare it.
        val = _escape("".join(rnd.choice(_CHARS[:4] + _CHARS[7:]) for _ in range(3)))
        return f' # {{trace_id="{val}"}} {rnd.randint(0, 100)}{ts}'

    for labels in _labelsets(rnd, rnd.randint(1, 3)):
        if kind == "counter":
            name = base + "_total"
            lines.append(line(name, labels, str(rnd.randint(0, 10**6)), exemplar()))
            if om and rnd.random() < 0.5:
                lines.append(line(base + "_created", labels, str(rnd.randint(0, 10**9))))
        elif kind in ("gauge", "untyped"):
            lines.append(line(base, labels, _value(rnd)))
        elif kind == "histogram":
            count = 0
            for le in ("0.1", "1.0", "2.5", "+Inf"):
                count += rnd.randint(0, 5)
                lines.append(line(base + "_bucket", {**labels, "le": le}, str(count), exemplar()))
            lines.append(line(base + "_count", labels, str(count)))
            lines.append(line(base + "_sum", labels, repr(rnd.uniform(0, 100))))
        elif kind == "summary":
            for q in ("0.5", "0.99"):
                lines.append(line(base, {**labels, "quantile": q}, repr(rnd.random())))
            lines.append(line(base + "_count", labels, str(rnd.randint(0, 100))))
            lines.append(line(base + "_sum", labels, repr(rnd.uniform(0, 100))))
        elif kind == "info":
            lines.append(line(base + "_info", labels, "1"))
        elif kind == "stateset":
            for state in ("on", "off"):
                lines.append(line(base, {**labels, base: state}, rnd.choice(["0", "1"])))
    return lines, family, help_text


def _oracle_samples(fams: Iterator[Any], om: bool) -> list[tuple[Labels, float, int | None]]:
    out = []
    for fam in fams:
        # Prometheus 3 spells classic histogram "le" and summary "quantile" values the
        # OpenMetrics way (le="1" becomes "1.0"); prometheus_client keeps them as written.
        norm = {"histogram": "le", "summary": "quantile"}.get(fam.type)
        for s in fam.samples:
            d = dict(s.labels)
            if norm in d:
                d[norm] = format_openmetrics_float(float(d[norm]))
            labels = Labels.from_dict({**d, "__name__": s.name})
            ts = s.timestamp
            if ts is None:
                ms = None
            elif om:
                ms = ts.sec * 1000 + ts.nsec // 1_000_000
            else:
                ms = round(ts * 1000)
            out.append((labels, float(s.value), ms))
    return out


def _same(ours: list[Any], theirs: list[Any]) -> None:
    assert len(ours) == len(theirs)
    for (la, va, ta), (lb, vb, tb) in zip(ours, theirs, strict=True):
        assert la == lb
        assert (math.isnan(va) and math.isnan(vb)) or va == vb, (la, va, vb)
        assert ta == tb, la


@pytest.mark.parametrize("om", [False, True], ids=["text", "openmetrics"])
@pytest.mark.parametrize("seed", range(12))
def test_random_bodies_agree_with_prometheus_client(om: bool, seed: int) -> None:
    rnd = random.Random(seed)
    lines: list[str] = []
    helps: dict[str, str] = {}
    for i in range(rnd.randint(3, 10)):
        fam_lines, family, help_text = _family(rnd, i, om)
        lines += fam_lines
        helps[family] = help_text
    if om:
        lines.append("# EOF")
    text = "\n".join(lines) + "\n"

    reg = Registry()
    cache: dict[bytes, int] = {}
    r = parse(text.encode(), OM if om else TEXT, cache, reg, -7)
    oracle = om_oracle(text) if om else text_oracle(text)
    fams = list(oracle)
    _same(samples(r, reg), _oracle_samples(iter(fams), om))
    warm = parse(text.encode(), OM if om else TEXT, cache, reg, -7)
    _same(samples(warm, reg), _oracle_samples(iter(fams), om))
    assert r.samples_total == len(r.refs) == r.new_series
    assert r.format == ("openmetrics" if om else "text")
    assert {k: m.help for k, m in r.metadata.items()} == helps
    assert sorted(f.documentation for f in fams) == sorted(helps.values())
    assert (r.timestamps[~r.has_timestamps] == -7).all()
    if om:
        want = [
            (
                Labels.from_dict({**smp.labels, "__name__": smp.name}),
                Labels.from_dict(smp.exemplar.labels),
                smp.exemplar.value,
            )
            for fam in fams
            for smp in fam.samples
            if smp.exemplar is not None
        ]
        got = [(reg.labels[e.series_ref], e.labels, e.value) for e in r.exemplars]
        assert got == want


# -- real exporters over HTTP -------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _fetch(url: str, accept: str) -> tuple[bytes, str]:
    req = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.read(), resp.headers.get("Content-Type", "")


@pytest.fixture(scope="module")
def node_exporter() -> Iterator[str]:
    exe = "/usr/bin/prometheus-node-exporter"
    if shutil.which(exe) is None:
        pytest.skip("prometheus-node-exporter is not installed")
    port = _free_port()
    proc = subprocess.Popen(
        [exe, f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                _fetch(url, "text/plain")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("accept", [SCRAPE_ACCEPT_HEADER, "text/plain;version=0.0.4"])
def test_node_exporter_scrape_matches_oracle(node_exporter: str, accept: str) -> None:
    body, ct = _fetch(node_exporter, accept)
    r, reg = run(body, ct)
    om = detect_format(ct) == "openmetrics"
    oracle = om_oracle(body.decode()) if om else text_oracle(body.decode())
    _same(samples(r, reg), _oracle_samples(oracle, om))
    assert r.samples_total > 100
    assert r.metadata["node_cpu_seconds_total"].type == "counter"
    assert r.metadata["go_gc_duration_seconds"].type == "summary"


@pytest.fixture(scope="module")
def client_exporter() -> Iterator[str]:
    """prometheus_client's own HTTP server: a real OpenMetrics producer with exemplars."""
    registry = CollectorRegistry()
    c = Counter("jobs", "Jobs done.", ["queue"], registry=registry)
    c.labels("a\\b").inc(3, exemplar={"trace_id": "abc"})
    c.labels('q"uote\nd').inc(1.5)
    g = Gauge("temperature_celsius", "Temp.", registry=registry, unit="celsius")
    g.set(-273.15)
    h = Histogram("latency_seconds", "Latency.", registry=registry)
    h.observe(0.3, exemplar={"trace_id": "t1"})
    h.observe(7)
    s = Summary("size_bytes", "Sizes.", registry=registry)
    s.observe(512)
    Info("build", "Build info.", registry=registry).info({"version": "1.2", "rev": "日本"})
    e = Enum("state", "State.", states=["up", "down"], registry=registry)
    e.state("down")
    port = _free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        yield f"http://127.0.0.1:{port}/metrics"
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.mark.parametrize("accept", [SCRAPE_ACCEPT_HEADER, "text/plain;version=0.0.4"])
def test_prometheus_client_scrape_matches_oracle(client_exporter: str, accept: str) -> None:
    body, ct = _fetch(client_exporter, accept)
    om = detect_format(ct) == "openmetrics"
    assert om == (accept == SCRAPE_ACCEPT_HEADER)
    r, reg = run(body, ct)
    oracle = list(om_oracle(body.decode()) if om else text_oracle(body.decode()))
    _same(samples(r, reg), _oracle_samples(iter(oracle), om))
    names = {ls.name for ls in reg.labels}
    assert {"jobs_total", "latency_seconds_bucket", "build_info", "state"} <= names
    if om:
        # _created series are ingested as ordinary series, as Prometheus 3 does by default.
        assert "jobs_created" in names
        assert r.metadata["temperature_celsius"].unit == "celsius"
        assert r.metadata["state"].type == "stateset"
        assert {e.labels.get("trace_id") for e in r.exemplars} == {"abc", "t1"}
    assert Labels.from_dict({"__name__": "jobs_total", "queue": 'q"uote\nd'}) in reg.labels


# -- semantics pinned to Prometheus ---------------------------------------------------


def test_accept_header_and_format_detection() -> None:
    assert SCRAPE_ACCEPT_HEADER.startswith(
        "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
        "application/openmetrics-text;version=0.0.1;q=0.5,"
    )
    assert "text/plain;version=0.0.4;q=0.3" in SCRAPE_ACCEPT_HEADER
    assert SCRAPE_ACCEPT_HEADER.endswith("*/*;q=0.2")
    assert detect_format(OM) == "openmetrics"
    assert detect_format("Application/OpenMetrics-Text; version=0.0.1") == "openmetrics"
    assert detect_format(TEXT) == "text"
    assert detect_format("") == "text"
    assert detect_format("application/json") == "text"


def test_text_details() -> None:
    body = (
        '# HELP a_total Back\\\\slash and\\nnewline \\"kept\n'
        "# TYPE a_total counter\n"
        "#  a comment\n"
        "#TYPE not metadata\n"
        "\n"
        'a_total{x="1"} 5 1700000000123\n'
        '  a_total { y = "2" , } +Inf\n'
        '{"my.dotted", "lab.el"="v"} -1.5e-3\n'
        'b{z=""} nan\n'
        "# TYPE h histogram\n"
        'h_bucket{le="1"} 1\n'
        'h_bucket{le="1e6"} 2\n'
        "# TYPE s summary\n"
        's{quantile="0.50"} 3\n'
        'g{le="1"} 4'  # no final newline; "le" of a non-histogram stays as written
    )
    r, reg = run(body, default_ts=99)
    got = samples(r, reg)
    assert [str(ls) for ls, _, _ in got] == [
        'a_total{x="1"}',
        'a_total{y="2"}',
        '{__name__="my.dotted", "lab.el"="v"}',
        "b",
        'h_bucket{le="1.0"}',
        'h_bucket{le="1e+06"}',
        's{quantile="0.5"}',
        'g{le="1"}',
    ]
    assert got[0][2] == 1700000000123 and got[1][1] == math.inf and got[2][1] == -1.5e-3
    assert r.metadata["a_total"].help == 'Back\\slash and\nnewline \\"kept'
    assert r.metadata["a_total"].type == "counter"
    assert int(r.timestamps[1]) == 99 and not r.has_timestamps[1]


def test_nan_is_never_a_stale_marker() -> None:
    r, _ = run("a NaN\nb nan\n")
    bits = r.values.view(np.uint64)
    assert (bits == 0x7FF8000000000001).all()  # Prometheus' normal NaN
    assert not (bits == STALE_NAN_BITS).any()


def test_openmetrics_details() -> None:
    body = (
        "# TYPE req counter\n"
        "# UNIT req_seconds seconds\n"
        '# HELP req Quote \\" escaped\n'
        'req_total{a="1"} 1 1.001 # {trace_id="x y",span="#}"} 0.5 2.5\n'
        'req_created{a="1"} 1.5e9\n'
        "# TYPE st stateset\n"
        'st{st="a"} 1\n'
        "# EOF"
    )
    r, reg = run(body, OM)
    got = samples(r, reg)
    # int64(1.001 * 1000) truncates to 1000 in Go, and so here.
    assert got[0] == (Labels.from_dict({"__name__": "req_total", "a": "1"}), 1.0, 1000)
    assert got[1][0].name == "req_created" and got[1][1] == 1.5e9
    (ex,) = r.exemplars
    assert reg.labels[ex.series_ref].name == "req_total"
    assert ex.labels == Labels.from_dict({"trace_id": "x y", "span": "#}"})
    assert (ex.value, ex.timestamp) == (0.5, 2500)
    assert r.metadata["req"].help == 'Quote " escaped'
    assert r.metadata["req_seconds"].unit == "seconds"


def test_dropped_series_are_cached_and_counted() -> None:
    reg = Registry(drop="noisy")
    cache: dict[bytes, int] = {}
    body = b"keep 1\nnoisy 2\nkeep2 3 5\n"
    r = parse(body, TEXT, cache, reg, 0)
    assert list(r.refs) == [0, 1] and list(r.values) == [1.0, 3.0]
    assert list(r.has_timestamps) == [False, True] and int(r.timestamps[1]) == 5
    assert (r.samples_total, r.new_series) == (3, 2)
    assert cache[b"noisy"] == -1
    again = parse(body, TEXT, cache, reg, 0)
    assert (again.samples_total, again.new_series, len(reg.labels)) == (3, 0, 2)


def test_warm_cache_gives_identical_results() -> None:
    rnd = random.Random(7)
    lines: list[str] = []
    for i in range(15):
        lines += _family(rnd, i, om=True)[0]
    body = ("\n".join(lines) + "\n# EOF\n").encode()
    reg = Registry()
    cache: dict[bytes, int] = {}
    cold = parse(body, OM, cache, reg, 1)
    warm = parse(body, OM, cache, reg, 1)
    assert cold.new_series > 0 and warm.new_series == 0
    for f in ("refs", "timestamps", "has_timestamps"):
        assert np.array_equal(getattr(cold, f), getattr(warm, f))
    assert np.array_equal(cold.values, warm.values, equal_nan=True)
    assert cold.exemplars == warm.exemplars and cold.metadata == warm.metadata


def test_huge_line() -> None:
    big = "x" * 5_000_000
    r, reg = run(f'ok 1\nhuge{{v="{big}"}} 2\n')
    assert reg.labels[r.refs[1]].get("v") == big
    with pytest.raises(ExpositionError) as e:
        run('ok 1\nhuge{v="' + big + "} 2\n")  # unterminated value
    assert e.value.line == 2


# Each body is malformed on exactly the line given; Prometheus rejects all of these.
TEXT_ERRORS = [
    ("a 1\nb 1_0\n", 2, "invalid float"),
    ("a 1\nb 0x10\n", 2, "invalid float"),
    ("b +nan\n", 1, "invalid float"),
    ("b 1e400\n", 1, "invalid float"),
    ("b abc\n", 1, 'invalid float value "abc"'),
    ("b infinit\n", 1, "invalid float"),
    ("b 1\r\n", 1, "invalid float"),
    ("a 1\nb\n", 2, "expected value after metric"),
    ('a{x="1"}\n', 1, "expected value after metric"),
    ("a 1 2 3\n", 1, "after timestamp"),
    ("a 1 -5\n", 1, "expected timestamp"),
    ("a 1 1.5\n", 1, "expected end of line after timestamp"),
    ("a 1 99999999999999999999\n", 1, "out of range"),
    ('a{x="1",x="2"} 1\n', 1, "duplicate label name"),
    ('a{__name__="b"} 1\n', 1, "duplicate label name"),
    ('{x="1"} 1\n', 1, "metric name not set"),
    ('{"a", "b"} 1\n', 1, "metric name already set"),
    ('a{"b"} 1\n', 1, "metric name already set"),
    ('{""} 1\n', 1, "empty metric name"),
    ('a{""="v"} 1\n', 1, "empty label name"),
    ("1a 1\n", 1, "expected a metric name"),
    ("a-b 1\n", 1, "invalid float"),
    ('a{1x="1"} 1\n', 1, "expected label name"),
    ("a{x=1} 1\n", 1, "expected quoted label value"),
    ('a{x="1} 1\n', 1, "expected quoted label value"),
    ('a{x="1" 1\n', 1, "expected label name"),
    ('a{x="1"\n', 1, "unterminated label set"),
    ('a{x"1"} 1\n', 1, "expected '='"),
    ('a{x="\xff"} 1\n', 1, "invalid UTF-8"),
    ("# TYPE a foo\n", 1, "invalid metric type"),
    ("# TYPE a unknown\n", 1, "invalid metric type"),
    ("# TYPE a counter \n", 1, "invalid metric type"),
    ("# HELP 1a x\n", 1, "expected metric name after HELP"),
    ("# HELP a \xff\n", 1, "invalid UTF-8"),
    ('a 1\na{x="1"} 1 # {t="1"} 1\n', 2, "expected timestamp"),
]

OM_ERRORS = [
    ("a 1\n", 2, "does not end with # EOF"),
    ("", 1, "does not end with # EOF"),
    ("a 1\n# EOF\na 2\n", 3, "unexpected data after # EOF"),
    ("a 1\n# EOF\n\n", 3, "unexpected data after # EOF"),
    ("a 1\n\n# EOF\n", 2, "got an empty line"),
    ("# random comment\n# EOF\n", 1, "expected HELP, TYPE, UNIT, EOF"),
    ("a  1\n# EOF\n", 1, "expected value"),
    ("a\t1\n# EOF\n", 1, "expected value after metric"),
    ("a 1\t\n# EOF\n", 1, "invalid float"),
    (" a 1\n# EOF\n", 1, "expected a metric name"),
    ("a 1 \n# EOF\n", 1, "expected timestamp"),
    ("a 1 NaN\n# EOF\n", 1, "invalid timestamp"),
    ("a 1 1_0\n# EOF\n", 1, "invalid timestamp"),
    ('a{x="1" ,y="2"} 1\n# EOF\n', 1, "expected ',' or '}'"),
    ('a{x ="1"} 1\n# EOF\n', 1, "expected '='"),
    ('a{x="1"y="2"} 1\n# EOF\n', 1, "expected ',' or '}'"),
    ('a 1 # {"x"} 1\n# EOF\n', 1, "expected label name in exemplar"),
    ('a 1 # {x="1"}\n# EOF\n', 1, "expected exemplar value"),
    ('a 1 # {x="1"} z\n# EOF\n', 1, "invalid exemplar value"),
    ('a 1 # {x="1"} 1 2 3\n# EOF\n', 1, "after exemplar"),
    ('a 1 #{x="1"} 1\n# EOF\n', 1, "invalid timestamp"),
    ("# TYPE a untyped\n# EOF\n", 1, "invalid metric type"),
    ("# UNIT a_bytes seconds\n# EOF\n", 1, "not a suffix"),
    ("# HELP a\n# EOF\n", 1, "expected text in HELP"),
    ("a 1\n# EOF ", 2, "expected HELP, TYPE, UNIT, EOF"),
]


@pytest.mark.parametrize(("body", "line", "message"), TEXT_ERRORS)
def test_malformed_text(body: str, line: int, message: str) -> None:
    with pytest.raises(ExpositionError) as e:
        run(body.encode("latin-1") if "\xff" in body else body)
    assert e.value.line == line
    assert message in str(e.value)
    assert str(e.value).startswith(f"line {line}: ")


@pytest.mark.parametrize(("body", "line", "message"), OM_ERRORS)
def test_malformed_openmetrics(body: str, line: int, message: str) -> None:
    with pytest.raises(ExpositionError) as e:
        run(body, OM)
    assert e.value.line == line
    assert message in str(e.value)


def test_first_error_wins_even_if_found_later_by_bulk_conversion() -> None:
    # Line 2's value is only checked in bulk after line 4's syntax error was seen.
    body = "a 1\nb 1_0\nc 3\nd{ 4\n"
    reg = Registry()
    cache: dict[bytes, int] = {}
    parse(b"a 0\nb 0\nc 0\n", TEXT, cache, reg, 0)  # warm: lines 1-3 take the fast path
    with pytest.raises(ExpositionError) as e:
        parse(body.encode(), TEXT, cache, reg, 0)
    assert e.value.line == 2


def test_edge_spellings_prometheus_accepts() -> None:
    r, reg = run('a Inf\nb -infinity\nc +inf\nd .5\ne 5.\nf 1E+05\ng{x="\\t"} 0\nh+1 1\n')
    assert list(r.values[:6]) == [math.inf, -math.inf, math.inf, 0.5, 5.0, 1e5]
    assert reg.labels[6].get("x") == "\\t"  # unknown escapes stay as written, as in Go
    assert reg.labels[7].name == "h" and r.values[7] == 1.0  # Go's lexer splits "h+1"


@pytest.mark.parametrize(
    ("le", "want"),
    [
        ("1", "1.0"),
        ("0.0001", "0.0001"),
        ("0.00001", "1e-05"),
        ("123456", "123456.0"),
        ("1234567", "1.234567e+06"),
        ("2.5", "2.5"),
        ("-0", "0.0"),
        ("+inf", "+Inf"),
        ("not-a-number", "not-a-number"),
    ],
)
def test_histogram_le_spelled_like_prometheus(le: str, want: str) -> None:
    r, reg = run(f'# TYPE h histogram\nh_bucket{{le="{le}"}} 1\n')
    assert reg.labels[0].get("le") == want


# -- the skeleton fast path (SeriesCache) -----------------------------------------------


def _body_with_values(template: list[str], values: list[str], om: bool) -> bytes:
    it = iter(values)
    lines = [line.replace("{V}", next(it)) if "{V}" in line else line for line in template]
    if om:
        lines.append("# EOF")
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("om", [False, True])
def test_skeleton_fast_path_equals_full_parse(om: bool) -> None:
    rnd = random.Random(11)
    template: list[str] = []
    for i in range(12):
        name = f"fam{i}"
        template += [f"# HELP {name} help {i}", f"# TYPE {name} gauge"]
        for labels in _labelsets(rnd, rnd.randint(1, 6)):
            template.append(_series(name, labels, quoted_name=False) + " {V}")
    n = sum("{V}" in t for t in template)
    ct = OM if om else TEXT
    reg = Registry(drop="fam3")
    cache = SeriesCache()
    spellings = ["1", "-0", "1e-300", "NaN", "+Inf", "-Inf", "3.25", "12345678901234567"]
    for round_ in range(5):
        values = [rnd.choice(spellings) for _ in range(n)]
        body = _body_with_values(template, values, om)
        fast = parse(body, ct, cache, reg, round_)
        full = parse(body, ct, dict(cache), reg, round_)  # a plain dict: the full parse
        assert cache.shape is not None
        if round_:  # same skeleton as before: the shared refs of the fast path
            assert fast.refs is cache.shape.refs and fast.new_series == 0
        assert np.array_equal(fast.refs, full.refs)
        assert np.array_equal(fast.values.view(np.uint64), full.values.view(np.uint64))
        assert np.array_equal(fast.timestamps, full.timestamps)
        assert not fast.has_timestamps.any()
        assert fast.samples_total == full.samples_total == n
        assert fast.metadata == full.metadata
    assert len(fast.refs) < n  # fam3 was dropped by resolve, in both paths


def test_skeleton_fast_path_falls_back_when_the_body_changes() -> None:
    reg = Registry()
    cache = SeriesCache()
    parse(b"a 1\nb 2\n", TEXT, cache, reg, 0)
    # A new series: different skeleton, full parse, new ref.
    r = parse(b"a 1\nb 2\nc 3\n", TEXT, cache, reg, 0)
    assert (r.new_series, list(r.values)) == (1, [1.0, 2.0, 3.0])
    # A bad value on a known shape still fails with the line of the full parse.
    with pytest.raises(ExpositionError, match="line 2"):
        parse(b"a 1\nb 0x1\nc 3\n", TEXT, cache, reg, 0)
    # Timestamps or an empty value token: no fast path, exact results.
    r = parse(b"a 1 5\nb 2\nc 3\n", TEXT, cache, reg, 9)
    assert list(r.timestamps) == [5, 9, 9] and cache.shape is None
    with pytest.raises(ExpositionError):
        parse(b"a 1\nb \nc 3\n", TEXT, cache, reg, 0)
    parse(b"a 1\nb 2\nc 3\n", TEXT, cache, reg, 0)
    assert cache.shape is not None
    cache.clear()
    assert cache.shape is None and not cache
