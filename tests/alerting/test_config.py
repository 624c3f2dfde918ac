"""alertmanager.yml loading: parity with Debian's ``amtool check-config`` on the
fixtures in ``amconfigs/``, errors that name file, line and field, and defaults."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess

import pytest

from promhub.alerting.config import ConfigError, load_alertmanager_config
from promhub.alerting.receiver import MSTeamsConfig
from tests.alerting.conftest import am_config

HERE = os.path.join(os.path.dirname(__file__), "amconfigs")
FIXTURES = sorted(glob.glob(os.path.join(HERE, "*.yml")))
AMTOOL = shutil.which("amtool")


def _amtool_verdicts() -> dict[str, str]:
    """One amtool run over every fixture: file name -> "SUCCESS" or the failure."""
    assert AMTOOL is not None
    out = subprocess.run(
        [AMTOOL, "check-config", *FIXTURES], capture_output=True, text=True, timeout=60
    )
    verdicts = {}
    for m in re.finditer(r"Checking '([^']+)'\s+(SUCCESS|FAILED: [^\n]*)", out.stdout + out.stderr):
        verdicts[os.path.basename(m.group(1))] = m.group(2)
    return verdicts


@pytest.mark.skipif(AMTOOL is None, reason="amtool not installed")
def test_check_config_parity_with_amtool() -> None:
    verdicts = _amtool_verdicts()
    assert len(verdicts) == len(FIXTURES) >= 80
    mismatches = []
    for path in FIXTURES:
        name = os.path.basename(path)
        try:
            load_alertmanager_config(path)
            ours = "SUCCESS"
        except ConfigError as e:
            ours = f"FAILED: {e}"
        theirs = verdicts[name]
        # The fixture's name says what both must conclude.
        assert theirs.startswith("SUCCESS" if name.startswith("valid") else "FAILED"), name
        if ours.startswith("SUCCESS") != theirs.startswith("SUCCESS"):
            mismatches.append(f"{name}: amtool {theirs!r}, promhub {ours!r}")
    assert not mismatches, "\n".join(mismatches)


@pytest.mark.parametrize(
    ("name", "line", "field", "msg"),
    [
        ("invalid_undefined_receiver", 4, "route.routes[0].receiver", 'undefined receiver "nope"'),
        ("invalid_bad_duration", 3, "route.group_wait", 'not a valid duration string: "10x"'),
        ("invalid_unknown_field", 3, "route.group_wiat", "not found in type config.Route"),
        ("invalid_matcher_syntax", 4, "route.routes[0].matchers[0]", "bad matcher format: foo"),
        ("invalid_ti_weekday", 8, "time_intervals[0].time_intervals[0].weekdays",
         "start day cannot be before end day"),
        ("invalid_email_no_to", 6, "receivers[0].email_configs[0].to", "missing to address"),
        ("invalid_duplicate_receiver", 6, "receivers[1].name", "is not unique"),
    ],
)  # fmt: skip
def test_errors_name_file_line_and_field(name: str, line: int, field: str, msg: str) -> None:
    path = os.path.join(HERE, name + ".yml")
    with pytest.raises(ConfigError) as ei:
        load_alertmanager_config(path)
    e = ei.value
    assert (os.path.basename(e.file), e.line, e.field) == (name + ".yml", line, field), str(e)
    assert msg in e.msg
    assert str(e).startswith(f"{path}:{line}: field {field}: ")


def test_seed_stack_defaults_and_inheritance() -> None:
    cfg = load_alertmanager_config(os.path.join(HERE, "valid_seed_stack.yml"))
    assert cfg.global_.resolve_timeout == 300
    assert cfg.templates == [os.path.join(HERE, "templates/*.tmpl")]
    slack = cfg.receivers["slack-critical"].slack_configs[0]
    # Unset settings come from global, templated ones keep Alertmanager's defaults.
    assert slack.api_url == "https://hooks.slack.com/services/XXX/YYY/ZZZ"
    assert slack.send_resolved is True
    assert slack.text == '{{ template "slack.default.text" . }}'
    mail = cfg.receivers["email-warnings"].email_configs[0]
    assert (mail.smarthost, mail.from_, mail.hello, mail.require_tls) == (
        "smtp.example.org:587", "alertmanager@example.org", "localhost", True,
    )  # fmt: skip
    assert mail.html == '{{ template "email.default.html" . }}'
    pd = cfg.receivers["pagerduty"].pagerduty_configs[0]
    assert pd.url == "https://events.pagerduty.com/v2/enqueue"
    assert pd.send_resolved is True and pd.severity == "error"
    assert set(pd.details) == {"firing", "resolved", "num_firing", "num_resolved"}
    assert [str(m) for m in cfg.inhibit_rules[0].source_matchers] == ['severity="critical"']


def test_all_integrations_parse_with_their_defaults() -> None:
    cfg = load_alertmanager_config(os.path.join(HERE, "valid_all_receivers.yml"))
    r = cfg.receivers
    assert r["web"].webhook_configs[0].send_resolved is False
    assert r["web"].webhook_configs[0].max_alerts == 10
    assert r["web"].webhook_configs[0].http_config.basic_auth is not None
    assert r["tg"].telegram_configs[0].chat_id == -1001
    assert r["tg"].telegram_configs[0].api_url == "https://api.telegram.org"
    og = r["og"].opsgenie_configs[0]
    assert (og.api_key, og.api_url, og.priority) == ("key", "https://api.opsgenie.com/", "P1")
    assert r["discord"].discord_configs[0].title == '{{ template "discord.default.title" . }}'
    assert r["mail"].email_configs[0].headers == {
        "Subject": "alert", "To": "ops@example.org", "From": "am@example.org",
    }  # fmt: skip
    assert r["blackhole"].webhook_configs == []


def test_msteams_from_alertmanager_026() -> None:
    # Not in the amtool parity set: Debian's amtool is 0.25, which predates msteams.
    cfg = am_config(
        """
        route: {receiver: teams}
        receivers:
          - name: teams
            msteams_configs: [{webhook_url: 'https://example.webhook.office.com/x'}]
        """
    )
    t = cfg.receivers["teams"].msteams_configs[0]
    assert isinstance(t, MSTeamsConfig)
    assert t.send_resolved and t.title == '{{ template "msteams.default.title" . }}'
    with pytest.raises(ConfigError, match="one of webhook_url or webhook_url_file"):
        am_config("route: {receiver: t}\nreceivers: [{name: t, msteams_configs: [{}]}]\n")


def test_unsupported_integration_is_named() -> None:
    with pytest.raises(ConfigError, match="pushover_configs: this integration is not supported"):
        am_config("route: {receiver: p}\nreceivers: [{name: p, pushover_configs: [{}]}]\n")


def test_utf8_quoted_label_name_in_matchers() -> None:
    cfg = am_config(
        """
        route:
          receiver: r
          routes: [{matchers: ['"service name"="api"'], receiver: r}]
        """,
        ("r",),
    )
    m = cfg.route.routes[0].matchers[0]
    assert (m.name, m.value) == ("service name", "api")


@pytest.mark.parametrize(
    ("text", "err"),
    [
        # amtool 0.25 panics on these; promhub says what is wrong.
        ("route: {receiver: r}\nreceivers: [null]\n", "receivers[0]: empty or null section"),
        ("route: {receiver: r, routes: [null]}\nreceivers: [{name: r}]\n",
         "route.routes[0]: empty or null section"),
    ],
)  # fmt: skip
def test_null_sections_are_refused_cleanly(text: str, err: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(err)):
        am_config(text)


def test_webhook_url_file_from_alertmanager_026(tmp_path: str) -> None:
    path = os.path.join(str(tmp_path), "am.yml")
    with open(path, "w") as f:
        f.write("route: {receiver: r}\nreceivers: [{name: r, webhook_configs: [{url_file: u}]}]\n")
    cfg = load_alertmanager_config(path)
    # Relative paths resolve against the config file's directory.
    assert cfg.receivers["r"].webhook_configs[0].url_file == os.path.join(str(tmp_path), "u")
