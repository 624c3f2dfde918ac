"""Render templates with Debian's real ``amtool template render`` to compare with promhub."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from promhub.rules.template_data import KV, Alert, Alerts, NotificationData

AMTOOL = shutil.which("amtool") or "/usr/bin/amtool"
DEBIAN_DEFAULT_TMPL = Path("/usr/share/prometheus/alertmanager/default.tmpl")
SEP = "@@@"

needs_amtool = pytest.mark.skipif(
    not Path(AMTOOL).exists(), reason="Debian prometheus-alertmanager (amtool) not installed"
)


def sample_group(status_mix: str = "mixed") -> dict[str, Any]:
    """An alert group as Alertmanager's template.Data JSON (what amtool --template.data reads)."""
    alerts = [
        {"status": "firing", "labels": {"alertname": "HighCpuUsage", "instance": "web-1:9100",
                                        "job": "node", "severity": "critical"},
         "annotations": {"summary": "CPU high on web-1", "description": "CPU is 93%"},
         "startsAt": "2026-11-25T16:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
         "generatorURL": "http://prom:9090/graph?g0.expr=cpu", "fingerprint": "a1"},
        {"status": "firing", "labels": {"alertname": "HighCpuUsage", "instance": "web-2:9100",
                                        "job": "node", "severity": "critical"},
         "annotations": {"summary": "CPU high on web-2", "description": "CPU is 93%"},
         "startsAt": "2026-11-25T16:01:30Z", "endsAt": "0001-01-01T00:00:00Z",
         "generatorURL": "http://prom:9090/graph?g0.expr=cpu", "fingerprint": "a2"},
        {"status": "resolved", "labels": {"alertname": "HighCpuUsage", "instance": "web-3:9100",
                                          "job": "node", "severity": "critical"},
         "annotations": {"summary": "CPU high on web-3"},
         "startsAt": "2026-11-25T15:00:00Z", "endsAt": "2026-11-25T16:05:00Z",
         "generatorURL": "", "fingerprint": "a3"},
    ]  # fmt: skip
    if status_mix == "resolved":
        for a in alerts:
            a["status"] = "resolved"
            a["endsAt"] = "2026-11-25T16:10:00Z"
    common_ann = {"description": "CPU is 93%"} if status_mix == "resolved" else {}
    return {
        "receiver": "slack critical",
        "status": "firing" if status_mix == "mixed" else "resolved",
        "externalURL": "http://am.example:9093",
        "groupLabels": {"alertname": "HighCpuUsage", "job": "node"},
        "commonLabels": {"alertname": "HighCpuUsage", "job": "node", "severity": "critical"},
        "commonAnnotations": common_ann,
        "alerts": alerts,
    }


def _time(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


def to_data(raw: dict[str, Any]) -> NotificationData:
    """The same group as promhub's template data."""
    alerts = Alerts(
        Alert(
            a["status"],
            KV(a["labels"]),
            KV(a["annotations"]),
            _time(a["startsAt"]),
            _time(a["endsAt"]),
            a["generatorURL"],
            a["fingerprint"],
        )  # fmt: skip
        for a in raw["alerts"]
    )
    return NotificationData(raw["receiver"], raw["status"], alerts, KV(raw["groupLabels"]),
                            KV(raw["commonLabels"]), KV(raw["commonAnnotations"]),
                            raw["externalURL"])  # fmt: skip


def amtool_render(
    tmp: Path, text: str, data: dict[str, Any], glob: Path | list[Path] | None = None
) -> str:
    """amtool's output, or ``ERROR: <message>`` when it refuses the template."""
    data_file = tmp / "data.json"
    data_file.write_text(json.dumps(data))
    if glob is None:
        glob = tmp / "empty.tmpl"
        glob.write_text('{{ define "__promhub_empty" }}{{ end }}')
    globs = glob if isinstance(glob, list) else [glob]
    proc = subprocess.run(
        [AMTOOL, "template", "render", *(f"--template.glob={g}" for g in globs),
         f"--template.data={data_file}", f"--template.text={text}"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        return "ERROR: " + proc.stderr.strip().removeprefix("amtool: error: ")
    return proc.stdout
