"""The alerts page in a real browser: alert manager groups and pending alerts, the silence
editor (create from an alert, edit, expire — checked against /api/v2/silences), the
history."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from playwright.sync_api import expect

from tests.conftest import http_get, wait_for
from tests.web.conftest import PHONE, Stack

SUMMARY = "127.0.0.1:1 of job broken is down"


def api(stack: Stack, path: str) -> Any:
    code, body = http_get(stack.url + path)
    assert code == 200, body
    return json.loads(body)


def test_firing_alert_is_grouped_with_its_summary_and_pending_alert_is_shown(
    stack: Stack, console: Any
) -> None:
    page = console(stack.url).goto("/alerts")
    group = page.locator('section.alert-group[data-group="TargetDown"]')
    expect(group).to_be_visible()
    expect(group.locator(".group-head")).to_contain_text('alertname="TargetDown"')
    expect(group.locator(".group-head .receiver")).to_have_text("default")
    alert = group.locator("article.alert-item")
    expect(alert.locator(".summary")).to_have_text(SUMMARY)
    expect(alert.locator(".badge").first).to_have_text("firing")
    expect(alert.locator(".labels")).to_contain_text('job="broken"')
    # AlwaysPending never reaches the alert manager: it shows from the rules, pending,
    # with the time left of its 1h `for`.
    pending = page.locator('article.alert-item.pending[data-alertname="AlwaysPending"]')
    expect(pending).to_contain_text("pending")
    expect(pending).to_contain_text("fires in")
    expect(pending).to_contain_text("(for 1h)")
    assert page.locator('section.alert-group[data-group="AlwaysPending"]').count() == 0

    # A matcher filter keeps the URL and hides what does not match.
    page.fill("input.matcher-input", 'severity="warning"')
    expect(group).to_have_count(0)
    expect(pending).to_be_visible()
    assert "filter=severity" in page.url
    # The receiver filter lists the configured receivers.
    page.select_option('select[aria-label="Receiver"]', "default")
    expect(pending).to_be_visible()
    assert "receiver=default" in page.url
    # Clicking a label chip filters by it.
    page.fill("input.matcher-input", "")
    expect(group).to_be_visible()
    group.locator('.group-head button.label-chip:has-text("alertname")').click()
    expect(page.locator("input.matcher-input")).to_have_value('alertname="TargetDown"')
    expect(pending).to_have_count(0)


def _silences(stack: Stack) -> list[dict[str, Any]]:
    return [s for s in api(stack, "/api/v2/silences") if s["createdBy"] == "ui-tester"]


def test_silence_created_edited_and_expired_in_the_ui(stack: Stack, console: Any) -> None:
    c = console(stack.url)
    page = c.goto("/alerts")
    group = page.locator('section.alert-group[data-group="TargetDown"]')
    group.locator('a:has-text("Silence group")').click()
    # The editor opens with the group's labels as matchers, its state in the URL.
    page.wait_for_url("**/silences?new=1&matcher=*")
    expect(page.locator(".matcher-row .m-name")).to_have_value("alertname")
    expect(page.locator(".matcher-row .m-value")).to_have_value("TargetDown")
    preview = page.locator(".silence-preview")
    expect(preview).to_contain_text('instance="127.0.0.1:1"')  # the alert it would mute
    page.fill('input[name="createdBy"]', "ui-tester")
    page.fill('textarea[name="comment"]', "broken on purpose")
    page.click('button[type="submit"]')
    page.wait_for_url("**/silences?saved=*")

    [sil] = _silences(stack)
    assert sil["matchers"] == [
        {"name": "alertname", "value": "TargetDown", "isRegex": False, "isEqual": True}
    ]
    assert sil["comment"] == "broken on purpose"
    assert sil["status"]["state"] == "active"
    card = page.locator(f'article.silence[data-id="{sil["id"]}"]')
    expect(card).to_contain_text("broken on purpose")
    expect(card).to_contain_text("mutes 1 alert")

    # The alert now shows as suppressed, naming the silence.
    page.click('.tabs [data-tab="alerts"]')
    alert = page.locator('section.alert-group[data-group="TargetDown"] article.alert-item')
    expect(alert).to_have_attribute("data-state", "suppressed")
    expect(alert.locator(".suppressed-by")).to_contain_text(sil["id"][:8])
    alerts = api(stack, "/api/v2/alerts?filter=" + urllib.parse.quote('alertname="TargetDown"'))
    assert alerts[0]["status"]["silencedBy"] == [sil["id"]]

    # Edit the comment: an in-place update of the same silence.
    page.goto(stack.url + "/silences")
    card.locator('a:has-text("Edit")').click()
    page.wait_for_url(f"**/silences?edit={sil['id']}*")
    comment = page.locator('textarea[name="comment"]')
    expect(comment).to_have_value("broken on purpose")
    comment.fill("broken on purpose, see ticket 42")
    page.click('button[type="submit"]')
    page.wait_for_url("**/silences?saved=*")
    # Alertmanager semantics: the edit updates the silence in place or, when the change
    # needs it, expires it and creates a successor (the page says so); either way the
    # API then holds one active silence with the new comment and the same matchers.
    [edited] = [s for s in _silences(stack) if s["status"]["state"] == "active"]
    assert edited["comment"] == "broken on purpose, see ticket 42"
    assert edited["matchers"] == sil["matchers"]
    if edited["id"] != sil["id"]:
        expect(page.locator(".replaced-note")).to_contain_text("was expired")
    card = page.locator(f'article.silence[data-id="{edited["id"]}"]')
    expect(card).to_contain_text("see ticket 42")

    # Expire it: the API reports it expired and the list moves it.
    page.once("dialog", lambda d: d.accept())
    card.locator('button:has-text("Expire")').click()
    expired_card = page.locator(f'section[data-state="expired"] article[data-id="{edited["id"]}"]')
    expect(expired_card).to_be_visible()
    assert {s["status"]["state"] for s in _silences(stack)} == {"expired"}
    wait_for(
        lambda: (
            api(stack, "/api/v2/alerts?filter=alertname%3D%22TargetDown%22")[0]["status"]["state"]
            == "active"
        )
    )


def test_silence_editor_checks_input_and_shows_server_errors(stack: Stack, console: Any) -> None:
    c = console(stack.url, viewport=PHONE)
    page = c.goto("/silences?new=1")
    page.click('button[type="submit"]')
    errors = page.locator('.field-error[data-for="form"]')
    expect(errors).to_contain_text("at least one matcher")
    expect(errors).to_contain_text("Created by")
    # A regex JavaScript accepts but the server's RE2 syntax does not: the server's message
    # is shown next to the form and nothing is created.
    page.fill(".matcher-row .m-name", "job")
    page.select_option(".matcher-row .m-op", "=~")
    page.fill(".matcher-row .m-value", "(?=a)b")
    page.fill('input[name="createdBy"]', "ui-tester-2")
    page.fill('textarea[name="comment"]', "lookahead")
    page.click('button[type="submit"]')
    expect(page.locator(".form-error")).to_contain_text("invalid or unsupported Perl syntax")
    assert "ui-tester-2" not in [s["createdBy"] for s in api(stack, "/api/v2/silences")]
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # That 400 was expected: the browser logs it as a failed resource load.
    c.errors[:] = [e for e in c.errors if "status of 400" not in e]


def test_history_lists_the_target_down_firing(stack: Stack, console: Any) -> None:
    page = console(stack.url).goto("/history")
    fired = page.locator('tr[data-kind="active"]', has_text='alertname="TargetDown"')
    expect(fired.first).to_contain_text("firing")
    expect(fired.first).to_contain_text('job="broken"')
    notified = page.locator('tr[data-kind="notification"]', has_text='alertname="TargetDown"')
    expect(notified.first).to_contain_text("to default: 1 firing")
    page.select_option('select[aria-label="Time range"]', "1h")
    expect(fired.first).to_be_visible()
    assert "range=1h" in page.url
    # Filtering by a matcher that selects nothing empties the table (and lands in the URL).
    page.fill("input.matcher-input", 'alertname="NoSuchAlert"')
    expect(page.locator(".empty")).to_have_text("No events in this range.")
    assert "filter=alertname" in page.url
