"""kill -9 a real server mid-ingestion: every committed sample survives, none duplicates."""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

from tests.conftest import run_promhub, wait_for
from tests.targets import MetricsTarget

SERIES_PER_TARGET = 300


def _body(n: int) -> str:
    lines = ["# TYPE work_total counter"]
    lines += [f'work_total{{shard="{i}"}} {n}' for i in range(SERIES_PER_TARGET)]
    return "\n".join(lines) + "\n"


def _dump(data_dir: Path) -> dict[str, list[tuple[int, float]]]:
    r = run_promhub("tsdb", "dump", str(data_dir), "--match", '{job="load"}')
    assert r.returncode == 0, r.stderr
    series: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for line in r.stdout.splitlines():
        labels, value, ts = line.rsplit(" ", 2)
        if value != "NaN":  # staleness markers after failed scrapes are not the point here
            series[labels].append((int(ts), float(value)))
    return series


def _check_consistent(series: dict[str, list[tuple[int, float]]], n_targets: int) -> None:
    by_instance: dict[str, list[list[tuple[int, float]]]] = defaultdict(list)
    for labels, samples in series.items():
        ts = [t for t, _ in samples]
        assert ts == sorted(set(ts)), f"duplicate or unordered samples in {labels}"
        if labels.startswith('{__name__="work_total"'):
            vals = [v for _, v in samples]
            assert vals == sorted(set(vals)), f"a scrape stored twice in {labels}"
            inst = labels.split('instance="')[1].split('"')[0]
            by_instance[inst].append(samples)
    assert len(by_instance) == n_targets
    for inst, all_series in by_instance.items():
        assert len(all_series) == SERIES_PER_TARGET
        # A scrape is all-or-nothing: every series of a target has exactly the same samples.
        first = all_series[0]
        assert all(s == first for s in all_series), f"half-stored scrape on {inst}"
        ups = series[f'{{__name__="up", instance="{inst}", job="load"}}']
        assert [t for t, v in ups if v == 1] == [t for t, _ in first]


def test_kill9_loses_no_committed_sample(promhub_factory, tmp_path: Path) -> None:
    targets = [MetricsTarget(_body) for _ in range(4)]
    try:
        cfg = tmp_path / "promhub.yml"
        cfg.write_text(
            "global: {scrape_interval: 100ms, scrape_timeout: 100ms}\n"
            "scrape_configs:\n  - job_name: load\n    static_configs:\n"
            f"      - targets: [{', '.join(t.address for t in targets)}]\n"
        )
        data = tmp_path / "data"
        for _round in range(2):
            p = promhub_factory(data, cfg)
            p.wait_ready()
            before = sum(len(t.served) for t in targets)
            wait_for(lambda b=before: sum(len(t.served) for t in targets) > b + 20, timeout=30)
            committed = _dump(data)  # read-only view of what is committed by now
            time.sleep(0.7)
            p.kill9()
            recovered = _dump(data)
            _check_consistent(recovered, len(targets))
            for labels, samples in committed.items():
                assert set(samples) <= set(recovered[labels]), f"lost samples of {labels}"
            assert sum(len(s) for s in recovered.values()) > sum(len(s) for s in committed.values())
    finally:
        for t in targets:
            t.close()
