"""Alertmanager notification templates: default templates, functions and data model.

promhub's default.tmpl must render what Alertmanager's renders for the same alert group; the
reference is Debian's Alertmanager default.tmpl executed by the real ``amtool``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from promhub.rules.template import TemplateError
from promhub.rules.template_data import (
    KV,
    Alert,
    NotificationData,
    default_templates_text,
    notification_template,
    render,
)

from .amtool_peer import (
    DEBIAN_DEFAULT_TMPL,
    SEP,
    amtool_render,
    needs_amtool,
    sample_group,
    to_data,
)

DEFAULT_NAMES = [
    "__subject", "__alertmanagerURL", "__text_alert_list",
    "slack.default.title", "slack.default.username", "slack.default.fallback",
    "slack.default.callbackid", "slack.default.pretext", "slack.default.titlelink",
    "slack.default.iconemoji", "slack.default.iconurl", "slack.default.text",
    "slack.default.footer", "pagerduty.default.description", "pagerduty.default.client",
    "pagerduty.default.clientURL", "opsgenie.default.message", "opsgenie.default.description",
    "opsgenie.default.source", "wechat.default.message", "victorops.default.state_message",
    "victorops.default.entity_display_name", "victorops.default.monitoring_tool",
    "pushover.default.title", "pushover.default.message", "pushover.default.url",
    "sns.default.subject", "sns.default.message", "telegram.default.message",
    "discord.default.title", "discord.default.message", "webex.default.message",
]  # fmt: skip


def _field(name: str) -> str:
    arg = ".Alerts" if name == "__text_alert_list" else "."
    return f'{{{{ template "{name}" {arg} }}}}'


@needs_amtool
@pytest.mark.skipif(not DEBIAN_DEFAULT_TMPL.exists(), reason="Debian default.tmpl not installed")
@pytest.mark.parametrize("mix", ["mixed", "resolved"])
def test_default_templates_render_like_alertmanager(tmp_path: Path, mix: str) -> None:
    raw = sample_group(mix)
    text = SEP.join(_field(n) for n in DEFAULT_NAMES)
    want = amtool_render(tmp_path, text, raw, glob=DEBIAN_DEFAULT_TMPL)
    assert not want.startswith("ERROR"), want
    got = render(notification_template(), text, to_data(raw))
    for name, w, g in zip(DEFAULT_NAMES, want.split(SEP), got.split(SEP), strict=True):
        assert g == w, name


def _group() -> NotificationData:
    return to_data(sample_group())


def test_slack_title_for_a_sample_group() -> None:
    tmpl = notification_template()
    data = _group()
    assert render(tmpl, '{{ template "slack.default.title" . }}', data) == (
        "[FIRING:2] HighCpuUsage node (critical)"
    )
    assert render(tmpl, '{{ template "slack.default.titlelink" . }}', data) == (
        "http://am.example:9093/#/alerts?receiver=slack+critical"
    )


def test_email_templates_render_subject_and_html() -> None:
    tmpl = notification_template()
    data = _group()
    assert render(tmpl, '{{ template "email.default.subject" . }}', data) == (
        "[FIRING:2] HighCpuUsage node (critical)"
    )
    html = render(tmpl, '{{ template "email.default.html" . }}', data)
    assert html.startswith("<!DOCTYPE html>")
    assert "<title>[FIRING:2] HighCpuUsage node (critical)</title>" in html
    assert "[2] Firing" in html and "[1] Resolved" in html
    assert "instance = web-3:9100" in html


def test_msteams_text_lists_firing_and_resolved() -> None:
    out = render(notification_template(), '{{ template "msteams.default.text" . }}', _group())
    assert "# Alerts Firing:" in out and "# Alerts Resolved:" in out
    assert "  - instance = web-2:9100" in out


def test_default_templates_ship_with_license_note() -> None:
    text = default_templates_text()
    assert "Apache License 2.0" in text
    assert '{{ define "slack.default.title" }}' in text


def test_user_template_files_extend_and_override_defaults(tmp_path: Path) -> None:
    (tmp_path / "a.tmpl").write_text(
        '{{ define "slack.default.title" }}custom {{ .Status }}{{ end }}\n'
        '{{ define "my.text" }}{{ range .Alerts.Firing }}{{ .Labels.instance }} {{ end }}{{ end }}'
    )
    tmpl = notification_template([str(tmp_path / "*.tmpl")])
    data = _group()
    assert render(tmpl, '{{ template "slack.default.title" . }}', data) == "custom firing"
    assert render(tmpl, '{{ template "my.text" . }}', data) == "web-1:9100 web-2:9100 "


def test_bad_user_template_file_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.tmpl"
    path.write_text('{{ define "x" }}\nok\n{{ if }}\n{{ end }}{{ end }}')
    with pytest.raises(TemplateError) as exc:
        notification_template([str(path)])
    assert str(exc.value) == f"template: {path}:3: missing value for if"


def test_functions_missing_from_older_amtool() -> None:
    tmpl = notification_template()
    start = dt.datetime(2026, 11, 25, 16, 0, 0, tzinfo=dt.UTC)
    data = NotificationData.from_alerts(
        "r", [Alert("firing", {"alertname": "A"}, {}, start)], {"alertname": "A"}, ""
    )
    text = (
        '{{ range .Alerts }}{{ .StartsAt | date "2006-01-02 15:04 MST" }}|'
        '{{ (.StartsAt | tz "Europe/Paris").Format "15:04 MST" }}|'
        '{{ (.StartsAt | tz "Asia/Kolkata").Format "15:04 -07:00" }}{{ end }}|'
        '{{ trimSpace "  x \\n" }}|{{ humanizeDuration 3661 }}|{{ "aB cD" | title }}|'
        '{{ stringSlice "a" "b" | toJson }}|{{ urlUnescape "a%20b+c" }}'
    )
    assert render(tmpl, text, data) == (
        '2026-11-25 16:00 UTC|17:00 CET|21:30 +05:30|x|1h 1m 1s|Ab Cd|["a","b"]|a b c'
    )


def test_since_is_a_duration() -> None:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2, minutes=3)
    data = NotificationData.from_alerts("r", [Alert("firing", {"a": "b"}, {}, start)], {}, "")
    out = render(
        notification_template(),
        "{{ range .Alerts }}{{ since .StartsAt | humanizeDuration }}{{ end }}",
        data,
    )
    assert out.startswith("2h 3m ")


def test_unknown_time_zone_is_an_error() -> None:
    data = _group()
    with pytest.raises(TemplateError, match="unknown time zone Mars/Base"):
        text = '{{ range .Alerts }}{{ tz "Mars/Base" .StartsAt }}{{ end }}'
        render(notification_template(), text, data)


def test_data_model_common_labels_and_sorted_pairs() -> None:
    a1 = Alert("firing", {"zone": "b", "alertname": "X", "job": "n", "i": "1"}, {"s": "same"})
    a2 = Alert("resolved", {"zone": "b", "alertname": "X", "job": "n", "i": "2"}, {"s": "same"})
    data = NotificationData.from_alerts("recv", [a1, a2], {"job": "n"}, "http://am")
    assert data.Status == "firing"
    assert data.CommonLabels == {"zone": "b", "alertname": "X", "job": "n"}
    assert data.CommonAnnotations == {"s": "same"}
    assert data.CommonLabels.SortedPairs().Names() == ["alertname", "job", "zone"]
    assert data.CommonLabels.Remove(["job"]).Values() == ["X", "b"]
    assert [a.Labels["i"] for a in data.Alerts.Firing()] == ["1"]
    assert [a.Labels["i"] for a in data.Alerts.Resolved()] == ["2"]
    assert isinstance(data.GroupLabels, KV)


DEBIAN_EMAIL_TMPL = Path("/usr/share/prometheus/alertmanager/email.tmpl")


@needs_amtool
@pytest.mark.skipif(not DEBIAN_EMAIL_TMPL.exists(), reason="Debian email.tmpl not installed")
def test_alertmanager_email_template_file_renders_identically(tmp_path: Path) -> None:
    # Alertmanager's own e-mail HTML template, loaded as a user `templates:` file.
    raw = sample_group()
    text = '{{ template "email.default.subject" . }}@@@{{ template "email.default.html" . }}'
    want = amtool_render(tmp_path, text, raw, glob=[DEBIAN_DEFAULT_TMPL, DEBIAN_EMAIL_TMPL])
    assert not want.startswith("ERROR"), want
    got = render(notification_template([str(DEBIAN_EMAIL_TMPL)]), text, to_data(raw))
    assert got == want


def test_re2_spellings_work_in_regex_functions() -> None:
    tmpl = notification_template()
    text = (
        '{{ reReplaceAll "(?<host>[a-z0-9-]+):(\\\\d+)\\\\z" "${host}" "web-1:9100" }} '
        '{{ match "^web-\\\\d+\\\\z" "web-12" }}'
    )
    assert render(tmpl, text, _group()) == "web-1 true"
