"""``tsdb dump`` / ``tsdb analyze`` compared line by line with the real promtool."""

from __future__ import annotations

import io
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from promhub.model.labels import Labels
from promhub.model.matcher import parse_selector
from promhub.model.value import STALE_NAN
from promhub.tsdb import DB, analyze, dump
from promhub.tsdb.tool import format_duration, format_value

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")

# (labels, [(seconds, value)]) — values chosen to exercise Go's %g formatting.
DATA: list[tuple[dict[str, str], list[tuple[int, float]]]] = [
    ({"__name__": "up", "job": "node", "instance": "h:9100"}, [(1700000000, 1), (1700000015, 0)]),
    (
        {"__name__": "process_start_time_seconds", "job": "node", "instance": "h:9100"},
        [(1700000000, 1699990000.25), (1700000015, 1699990000.25)],
    ),
    (
        {"__name__": "gc_seconds", "job": "node", "instance": "h:9100", "quantile": "0.5"},
        [(1700000000, 3.9257e-05), (1700000015, 0.1 + 0.2), (1700000030, 1234567.0)],
    ),
    (
        {"__name__": "odd", "job": "api", "path": 'a"b\\c'},
        [(1700000005, math.inf), (1700000010, -math.inf), (1700000020, -2.5e-300)],
    ),
    ({"__name__": "big", "job": "api"}, [(1700000000, 123456.0), (1700000010, 1e21)]),
]


def _openmetrics() -> str:
    lines = []
    for labels, samples in DATA:
        name = labels["__name__"]
        rest = ",".join(
            f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
            for k, v in labels.items()
            if k != "__name__"
        )
        for t, v in samples:
            vs = {math.inf: "+Inf", -math.inf: "-Inf"}.get(v, repr(float(v)))
            lines.append(f"{name}{{{rest}}} {vs} {t}")
    return "\n".join(lines) + "\n# EOF\n"


def _our_db(path: Path) -> None:
    with DB.open(path) as db:
        app = db.appender()
        for labels, samples in DATA:
            r = app.ref(Labels.from_dict(labels))
            ts = np.array([t * 1000 for t, _ in samples])
            app.append(np.full(len(ts), r), ts, np.array([v for _, v in samples]))
        app.commit()


def _promtool_block(tmp_path: Path) -> Path:
    assert PROMTOOL is not None
    src = tmp_path / "om.txt"
    src.write_text(_openmetrics())
    out = tmp_path / "prom"
    subprocess.run(
        [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(src), str(out)],
        check=True,
        capture_output=True,
    )
    (out / "wal").mkdir()  # promtool dump also reads the WAL and insists on its dir
    return out


@needs_promtool
def test_dump_prints_exactly_what_promtool_prints(tmp_path: Path) -> None:
    prom = _promtool_block(tmp_path)
    want = subprocess.run(
        [PROMTOOL, "tsdb", "dump", str(prom)], check=True, capture_output=True, text=True
    ).stdout
    _our_db(tmp_path / "ours")
    buf = io.StringIO()
    dump(tmp_path / "ours", parse_selector('{__name__=~".+"}'), out=buf)
    assert sorted(buf.getvalue().splitlines()) == sorted(want.splitlines())
    assert '{__name__="up", instance="h:9100", job="node"} 1 1700000000000' in buf.getvalue()


def _sections(report: str) -> dict[str, set[str]]:
    """Report lines grouped by section (promtool orders ties at random)."""
    out: dict[str, set[str]] = {}
    cur = "header"
    for line in report.splitlines():
        if not line:
            continue
        if line.endswith(":"):
            cur = line
            continue
        out.setdefault(cur, set()).add(line)
    return out


@needs_promtool
def test_analyze_matches_promtool_on_the_same_data(tmp_path: Path) -> None:
    prom = _promtool_block(tmp_path)
    want = subprocess.run(
        [PROMTOOL, "tsdb", "analyze", str(prom)], check=True, capture_output=True, text=True
    ).stdout
    _our_db(tmp_path / "ours")
    got = analyze(tmp_path / "ours")
    w, g = _sections(want), _sections(got)
    assert {k for k in w if k != "header"} == {k for k in g if k != "header"}
    for k in w:
        if k == "header":
            drop = ("Block ID:", "Samples:", "Bytes per sample:")
            assert {x for x in g[k] if not x.startswith(drop)} == {
                x for x in w[k] if not x.startswith(drop)
            }
        else:
            assert g[k] == w[k], k
    assert "Bytes per sample:" in got


def test_analyze_reports_a_block_after_a_cut(tmp_path: Path) -> None:
    with DB.open(tmp_path, min_block_duration_ms=60_000) as db:
        app = db.appender()
        refs = np.array(
            [app.ref(Labels.from_dict({"__name__": "m", "i": str(i)})) for i in range(4)]
        )
        for t in range(0, 300_000, 5000):
            app.append(refs, np.array([t]), np.full(4, float(t)))
            app.commit()
        db.maintain()
        newest = max(db.blocks, key=lambda b: b.meta.max_time).meta.ulid
    report = analyze(tmp_path, limit=2)
    assert report.startswith(f"Block ID: {newest}\nDuration: 1m0s\nSeries: 4\n")
    assert "Highest cardinality metric names:\n4 m\n" in report
    assert analyze(tmp_path, block_id="head").startswith("Block ID: head\n")


def test_dump_is_read_only_and_prints_staleness_as_nan(tmp_path: Path) -> None:
    with DB.open(tmp_path) as db:
        app = db.appender()
        r = app.ref(Labels.from_dict({"__name__": "up"}))
        app.append(np.array([r, r]), np.array([1, 2]), np.array([1.0, STALE_NAN]))
        app.commit()
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    buf = io.StringIO()
    dump(tmp_path, parse_selector("up"), 0, 1, out=buf)
    assert buf.getvalue() == '{__name__="up"} 1 1\n'
    buf = io.StringIO()
    dump(tmp_path, parse_selector("up"), out=buf)
    assert buf.getvalue().splitlines()[-1] == '{__name__="up"} NaN 2'
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")} == before


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (3.9257e-05, "3.9257e-05"),
        (1.7e9, "1.7e+09"),
        (123456.0, "123456"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (-0.0, "-0"),
        (1e-300, "1e-300"),
    ],
)
def test_values_format_like_go(value: float, text: str) -> None:
    assert format_value(value) == text


def test_durations_format_like_go() -> None:
    assert [format_duration(x) for x in (0, 500, 15001, 7_200_000, 5_430_000)] == [
        "0s",
        "500ms",
        "15.001s",
        "2h0m0s",
        "1h30m30s",
    ]
