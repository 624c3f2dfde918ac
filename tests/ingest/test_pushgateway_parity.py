"""The same request sequence against the real Pushgateway 1.5 and promhub: same status
codes, equivalent ``/api/v1/metrics`` (push times aside)."""

from __future__ import annotations

import base64
from typing import Any

from tests.conftest import PromhubProcess
from tests.ingest.conftest import Pushgateway, groups, request
from tests.ingest.metrics_proto import CONTENT_TYPE, delimited, sample_families


def b64(s: str) -> str:
    return base64.urlsafe_b64encode(s.encode()).decode()


TEXT = b"""\
# HELP jobs_total Jobs.
# TYPE jobs_total counter
jobs_total{kind="a"} 3
jobs_total{kind="b"} 4
# TYPE temp gauge
temp 21.5
# HELP dur Duration.
# TYPE dur histogram
dur_bucket{le="0.5"} 1
dur_bucket{le="1"} 2
dur_bucket{le="+Inf"} 3
dur_sum 2.5
dur_count 3
# TYPE lat summary
lat{quantile="0.9"} 0.2
lat_sum 1
lat_count 4
plain 1e-07
huge 12345678
"""

SEQUENCE: list[tuple[str, str, bytes, dict[str, str]]] = [
    ("PUT", "/metrics/job/par1", TEXT, {}),
    ("POST", "/metrics/job/par1/instance/i1", b"inst_metric 1\n", {}),
    ("POST", f"/metrics/job@base64/{b64('a/b')}/path@base64/{b64('/x/y')}", b"p 1\n", {}),
    ("POST", "/metrics/job/par1/empty@base64/=", b"e 2\n", {}),
    ("PUT", "/metrics/job/par2", b"ts_metric 1 1000\n", {}),
    ("PUT", "/metrics/job/par3", b"ok 1\nbroken{ 2\n", {}),
    ("PUT", "/metrics/job/par4", b"# TYPE temp counter\ntemp 1\n", {}),
    ("PUT", "/metrics/job/par5", b"dup 1\ndup 2\n", {}),
    ("PUT", "/metrics/job/par6/odd", b"x 1\n", {}),
    ("PUT", "/metrics/job/par6/__bad/1", b"x 1\n", {}),
    ("PUT", "/metrics/job/par7", b'over{job="other",instance="i9"} 1\n', {}),
    ("POST", "/metrics/job/par8", delimited(*sample_families()), {"Content-Type": CONTENT_TYPE}),
    ("PUT", "/metrics/job/par9", b"lat_count 1\n", {}),
    ("PUT", "/metrics/job/par10", b"", {}),
    ("PUT", "/metrics/job/par12", b"push_time_seconds 1\npush_failure_time_seconds 2\n", {}),
    ("PUT", "/metrics/job/par11", b"nan_metric NaN\ninf_metric +Inf\n", {}),
    ("POST", "/metrics/job/par1", b"# TYPE temp gauge\ntemp 22\n", {}),
    ("DELETE", "/metrics/job/par1/instance/i1", b"", {}),
    ("DELETE", "/metrics/job/never-pushed", b"", {}),
    # Rules of Pushgateway's text parser that Prometheus' scrape parser does not have.
    ("PUT", "/metrics/job/par13", b'# TYPE s summary\ns{quantile="abc"} 1\n', {}),
    ("PUT", "/metrics/job/par13", b"# HELP a x\n# HELP a y\na 1\n", {}),
    ("PUT", "/metrics/job/par13", b"# TYPE a gauge\n# TYPE a gauge\na 1\n", {}),
    ("PUT", "/metrics/job/par13", b"a 1\n# TYPE a gauge\n", {}),
    ("PUT", "/metrics/job/par13", b'# TYPE h histogram\nh_bucket{le="x"} 1\n', {}),
    ("PUT", "/metrics/job/par14", b'a{le="x"} 1\nb{x="a\\"b\\nc"} 2\n\n# free comment\n', {}),
]


def normalized(base: str) -> list[Any]:
    out = []
    for g in groups(base):
        g = dict(g)
        g.pop("ttl_seconds", None)
        for name, fam in g.items():
            if not isinstance(fam, dict) or "metrics" not in fam:
                continue
            fam.pop("time_stamp", None)
            if name in ("push_time_seconds", "push_failure_time_seconds"):
                for m in fam["metrics"]:
                    m["value"] = "set" if m["value"] != "0" else "0"
            fam["metrics"].sort(key=lambda m: sorted(m["labels"].items()))
        out.append(g)
    return sorted(out, key=lambda g: sorted(g["labels"].items()))


def test_same_sequence_same_answers(pushgateway: Pushgateway, promhub_push: PromhubProcess) -> None:
    codes: dict[str, list[int]] = {"pushgateway": [], "promhub": []}
    for target, base in (("pushgateway", pushgateway.url), ("promhub", promhub_push.url)):
        assert request(base + "/api/v1/admin/wipe", "PUT")[0] == 202
        for method, path, body, headers in SEQUENCE:
            codes[target].append(request(base + path, method, body, headers)[0])
    assert codes["promhub"] == codes["pushgateway"]
    theirs, ours = normalized(pushgateway.url), normalized(promhub_push.url)
    assert [g["labels"] for g in ours] == [g["labels"] for g in theirs]
    for a, b in zip(ours, theirs, strict=True):
        assert a == b, a["labels"]
