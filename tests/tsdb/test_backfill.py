"""``promhub tsdb create-blocks-from openmetrics``: the same blocks as promtool's backfill.

Each comparison runs the real ``promtool tsdb create-blocks-from openmetrics`` on the same
file and compares ``promtool tsdb dump`` of its output with ``promhub tsdb dump`` of ours.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from promhub.cli import main
from promhub.model.labels import Labels
from promhub.model.matcher import parse_selector
from promhub.tsdb import backfill
from promhub.tsdb.backfill import BackfillError, create_blocks
from promhub.tsdb.db import DB

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
HOUR = 3600

# Two hours and a bit from an aligned start: three 2 h windows, histogram buckets with
# canonical ``le`` spellings (Prometheus 2.42's promtool does not normalise them, 3.x and
# promhub do), NaN and ±Inf values, escaped label values, families interleaved.
T0 = 1_700_000_000 // 7200 * 7200


def _om_file(tmp: Path, lines: list[str]) -> Path:
    path = tmp / "input.om"
    path.write_text("\n".join(lines) + "\n")
    return path


def _sample_file(tmp: Path) -> Path:
    lines = [
        "# HELP http_requests_total Requests.",
        "# TYPE http_requests_total counter",
    ]
    for code in ("200", "500"):
        for k in range(0, 9000, 450):
            ts = T0 - 900 + k
            lines.append(
                f'http_requests_total{{code="{code}",path="/a\\"b\\\\c"}} {k * 1.5 + 0.25} {ts}'
            )
    lines.append("# TYPE latency_seconds histogram")
    for k in range(0, 3 * HOUR, 600):
        fts = T0 + k + 0.123
        for i, le in enumerate(("0.1", "1.0", "+Inf")):
            lines.append(f'latency_seconds_bucket{{le="{le}"}} {k + i} {fts}')
        lines.append(f"latency_seconds_count {k + 2} {fts}")
        lines.append(f"latency_seconds_sum {k / 7} {fts}")
    lines.append("# TYPE temperature gauge")
    lines += [
        f"temperature NaN {T0}",
        f"temperature +Inf {T0 + 15}",
        f"temperature -3e-05 {T0 + 30}",
    ]
    lines.append("# EOF")
    return _om_file(tmp, lines)


def _promtool_blocks(input_file: Path, out: Path, *extra: str) -> None:
    subprocess.run(
        [PROMTOOL, "tsdb", "create-blocks-from", *extra, "openmetrics", str(input_file), str(out)],
        check=True,
        capture_output=True,
    )


def _promtool_dump(out: Path) -> list[str]:
    (out / "wal").mkdir(exist_ok=True)  # promtool's dump opens the WAL too
    r = subprocess.run(
        [PROMTOOL, "tsdb", "dump", str(out)], check=True, capture_output=True, text=True
    )
    return sorted(r.stdout.splitlines())


def _promhub_dump(out: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    capsys.readouterr()
    assert main(["tsdb", "dump", str(out)]) == 0
    return sorted(capsys.readouterr().out.splitlines())


def _block_ranges(out: Path) -> list[tuple[int, int, int, int]]:
    ranges = []
    for meta in out.glob("*/meta.json"):
        doc = json.loads(meta.read_text())
        st = doc["stats"]
        ranges.append((doc["minTime"], doc["maxTime"], st["numSeries"], st["numSamples"]))
    return sorted(ranges)


def test_same_samples_and_blocks_as_promtool(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _sample_file(tmp_path)
    _promtool_blocks(src, tmp_path / "prom")
    assert main(["tsdb", "create-blocks-from", "openmetrics", str(src), str(tmp_path / "ph")]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split()[:3] == ["BLOCK", "ULID", "MIN"]
    assert len(printed) == 1 + 3  # header and one line per block

    ours = _promhub_dump(tmp_path / "ph", capsys)
    assert len(ours) == 2 * 20 + 18 * 5 + 3
    assert ours == _promtool_dump(tmp_path / "prom")
    # Same cut into windows: each block spans exactly its samples, as promtool writes it.
    assert _block_ranges(tmp_path / "ph") == _block_ranges(tmp_path / "prom")


def test_longer_max_block_duration_like_promtool(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _sample_file(tmp_path)
    _promtool_blocks(src, tmp_path / "prom", "--max-block-duration=7h")
    args = ["tsdb", "create-blocks-from", "--max-block-duration=7h", "-q", "openmetrics"]
    assert main([*args, str(src), str(tmp_path / "ph")]) == 0
    assert capsys.readouterr().out == ""
    ranges = _block_ranges(tmp_path / "ph")
    assert ranges == _block_ranges(tmp_path / "prom")
    assert len(ranges) == 2  # 6 h windows, the largest of 2 h × 3ⁿ not above 7 h
    assert _promhub_dump(tmp_path / "ph", capsys) == _promtool_dump(tmp_path / "prom")


def test_output_is_a_data_dir_promhub_serves(tmp_path: Path) -> None:
    metas = create_blocks(_sample_file(tmp_path), tmp_path / "data")
    assert [m.num_series for m in metas] == [2, 8, 7]
    with DB.open(tmp_path / "data") as db:
        q = db.querier(T0 * 1000, (T0 + 900) * 1000)
        got = q.select(parse_selector('http_requests_total{code="500"}'))
        assert [s.labels for s in got] == [
            Labels.from_dict({"__name__": "http_requests_total", "code": "500", "path": '/a"b\\c'})
        ]
        assert got[0].timestamps.tolist() == [T0 * 1000, (T0 + 450) * 1000, (T0 + 900) * 1000]
        assert got[0].values.tolist() == [900 * 1.5 + 0.25, 1350 * 1.5 + 0.25, 1800 * 1.5 + 0.25]
        nan = q.select(parse_selector("temperature"))[0].values
        assert np.isnan(nan[0]) and nan[1] == np.inf


def test_small_pieces_keep_histogram_types_and_line_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Non-canonical ``le`` spellings are normalised by the family's # TYPE, which must
    # carry over when the file is read in pieces far smaller than one family.
    lines = ["# TYPE h histogram"]
    for k in range(50):
        lines += [f'h_bucket{{le="1"}} {k} {1000 + k}', f'h_bucket{{le="+Inf"}} {k} {1000 + k}']
    lines.append("# EOF")
    src = _om_file(tmp_path, lines)
    monkeypatch.setattr(backfill, "PIECE_BYTES", 64)
    metas = create_blocks(src, tmp_path / "data")
    assert sum(m.num_samples for m in metas) == 100
    with DB.open(tmp_path / "data") as db:
        got = db.querier(0, 10**7).select(parse_selector("h_bucket"))
        assert sorted(s.labels.get("le") for s in got) == ["+Inf", "1.0"]

    lines.insert(77, "h_bucket{le=1} 3 1077")  # line 78 of the file
    _om_file(tmp_path, lines)
    with pytest.raises(BackfillError, match=r"input\.om:78: "):
        create_blocks(src, tmp_path / "data2")
    assert not (tmp_path / "data2").exists()


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["a 1 100", "a 2", "# EOF"], r"input\.om:2: expected a timestamp"),
        (["a 1 100"], r"input\.om:2: data does not end with # EOF"),
        (["a 1 100", "# EOF", "a 2 200"], r"input\.om:3: unexpected data after # EOF"),
        (["a 1 100", "a 2 90", "# EOF"], r"out of order sample for series a: timestamp 90000"),
        (
            ["a 1 100", "a 2 100", "# EOF"],
            r"duplicate sample for timestamp 100000 .* series a: 1.0 then 2.0",
        ),
    ],
)
def test_bad_input_is_refused_naming_where(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], lines: list[str], message: str
) -> None:
    src = _om_file(tmp_path, lines)
    assert main(["tsdb", "create-blocks-from", "openmetrics", str(src), str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("promhub: error: ")
    with pytest.raises(BackfillError, match=message):
        create_blocks(src, tmp_path / "o")
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_repeated_samples_collapse_like_promtool(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _om_file(
        tmp_path, ["# TYPE a counter", "a_total 1 100", "a_total 1 100", "a_total 2 110", "# EOF"]
    )
    _promtool_blocks(src, tmp_path / "prom")
    create_blocks(src, tmp_path / "ph")
    assert _promhub_dump(tmp_path / "ph", capsys) == _promtool_dump(tmp_path / "prom")


def test_file_without_samples_writes_nothing(tmp_path: Path) -> None:
    src = _om_file(tmp_path, ["# TYPE a counter", "# EOF"])
    assert create_blocks(src, tmp_path / "o") == []
