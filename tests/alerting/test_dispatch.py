"""Grouping and flush timing (Alertmanager's dispatcher) on a fake clock, and the
notification log's repeat_interval / send_resolved decisions."""

from __future__ import annotations

from promhub.alerting.alert import Alert
from promhub.alerting.dispatch import Dispatcher, Flush, NotifyLog
from promhub.alerting.inhibit import Inhibitor
from promhub.alerting.matcher import parse_matchers
from promhub.alerting.silence import Silence, Silences
from tests.alerting.conftest import FakeClock, am_config

CONFIG = """
route:
  receiver: default
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 1h
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
      continue: true
    - matchers: ['team="db"']
      receiver: db
      group_by: ['...']
"""


def setup(clock: FakeClock, text: str = CONFIG, **kw: object) -> tuple[Dispatcher, list[Flush]]:
    flushes: list[Flush] = []
    cfg = am_config(text, ("default", "pager", "db"))
    d = Dispatcher(cfg, flushes.append, clock=clock, **kw)  # type: ignore[arg-type]
    return d, flushes


def firing(clock: FakeClock, **labels: str) -> Alert:
    t = clock()
    return Alert(dict(labels), starts_at=t, ends_at=t + 3600, updated_at=t)


def run_until(d: Dispatcher, clock: FakeClock, t: float) -> None:
    """Advance the clock to ``t`` deadline by deadline, as the server loop does."""
    while (nd := d.next_deadline()) is not None and nd <= t:
        clock.t = max(clock.t, nd)
        d.tick()
    clock.t = t


def test_group_waits_then_flushes_every_group_interval(clock: FakeClock) -> None:
    d, flushes = setup(clock)
    t0 = clock()
    d.put(firing(clock, alertname="HighCpu", instance="a"))
    run_until(d, clock, t0 + 29)
    assert flushes == []  # group_wait not over yet
    d.put(firing(clock, alertname="HighCpu", instance="b"))  # joins the waiting group
    run_until(d, clock, t0 + 31)
    assert len(flushes) == 1
    f = flushes[0]
    assert (f.receiver, f.now) == ("default", t0 + 30)
    assert f.group_key == '{}:{alertname="HighCpu"}'
    assert f.group_labels == {"alertname": "HighCpu"}
    assert [a.labels["instance"] for a in f.firing] == ["a", "b"]
    # A third alert arriving later goes out with the next group_interval flush.
    d.put(firing(clock, alertname="HighCpu", instance="c"))
    run_until(d, clock, t0 + 30 + 299)
    assert len(flushes) == 1
    run_until(d, clock, t0 + 30 + 300)
    assert len(flushes) == 2 and len(flushes[1].firing) == 3


def test_old_alert_skips_group_wait(clock: FakeClock) -> None:
    d, flushes = setup(clock)
    a = firing(clock, alertname="Old")
    a.starts_at -= 3600
    d.put(a)
    d.tick()
    assert [f.group_key for f in flushes] == ['{}:{alertname="Old"}']


def test_groups_by_route_and_labels(clock: FakeClock) -> None:
    d, flushes = setup(clock)
    d.put(
        firing(clock, alertname="Down", severity="critical", team="db"),
        firing(clock, alertname="Down", severity="warning", team="db", instance="x"),
        firing(clock, alertname="Slow"),
    )
    run_until(d, clock, clock() + 30)
    got = sorted((f.receiver, f.group_key, len(f.alerts)) for f in flushes)
    # The critical db alert reaches pager and, because pager continues, db as well;
    # the db route groups by all labels, so each db alert is a group of its own.
    assert got == [
        ("db", '{}/{team="db"}:{alertname="Down", instance="x", severity="warning", team="db"}', 1),
        ("db", '{}/{team="db"}:{alertname="Down", severity="critical", team="db"}', 1),
        ("default", '{}:{alertname="Slow"}', 1),
        ("pager", '{}/{severity="critical"}:{alertname="Down"}', 1),
    ]  # fmt: skip


def test_resolved_alert_is_sent_once_then_the_group_goes(clock: FakeClock) -> None:
    d, flushes = setup(clock)
    a = firing(clock, alertname="Flap")
    d.put(a)
    run_until(d, clock, clock() + 30)
    assert len(flushes[-1].firing) == 1
    clock.advance(60)
    d.put(Alert(a.labels, starts_at=a.starts_at, ends_at=clock(), updated_at=clock()))
    run_until(d, clock, clock() + 300)
    assert len(flushes) == 2 and len(flushes[-1].resolved) == 1
    assert d.next_deadline() is None  # the emptied group was dropped
    run_until(d, clock, clock() + 3600)
    assert len(flushes) == 2


def test_firing_alert_is_shown_without_its_future_end(clock: FakeClock) -> None:
    d, flushes = setup(clock)
    d.put(firing(clock, alertname="A"))
    run_until(d, clock, clock() + 30)
    assert flushes[0].alerts[0].ends_at == 0.0


def test_silenced_and_inhibited_alerts_are_left_out(clock: FakeClock) -> None:
    cfg_text = CONFIG + (
        "inhibit_rules:\n"
        "  - source_matchers: ['severity=\"critical\"']\n"
        "    target_matchers: ['severity=\"warning\"']\n"
        "    equal: [alertname]\n"
    )
    cfg = am_config(cfg_text, ("default", "pager", "db"))
    sil = Silences(clock=clock)
    ih = Inhibitor(cfg.inhibit_rules)
    flushes: list[Flush] = []
    d = Dispatcher(cfg, flushes.append, clock=clock, muters=[ih, sil])
    sil.set(Silence(parse_matchers('instance="quiet"'), clock(), clock() + 3600, "me", "test"))
    alerts = [
        firing(clock, alertname="Disk", severity="critical", instance="a"),
        firing(clock, alertname="Disk", severity="warning", instance="b"),
        firing(clock, alertname="Mem", severity="warning", instance="c"),
        firing(clock, alertname="Mem", severity="warning", instance="quiet"),
    ]
    ih.put(*alerts)
    d.put(*alerts)
    run_until(d, clock, clock() + 30)
    sent = sorted(a.labels["instance"] for f in flushes for a in f.alerts)
    # "a" goes to pager only (a matching child route replaces the root's receiver);
    # b is inhibited by a, "quiet" is silenced.
    assert sent == ["a", "c"]


def test_mute_and_active_time_intervals(clock: FakeClock) -> None:
    # 2023-11-14 22:13:20 UTC is a Tuesday.
    text = """
    route:
      receiver: default
      group_by: [alertname]
      routes:
        - matchers: [when=night]
          receiver: db
          mute_time_intervals: [night]
        - matchers: [when=office]
          receiver: pager
          active_time_intervals: [office]
    time_intervals:
      - name: night
        time_intervals: [{times: [{start_time: '22:00', end_time: '24:00'}]}]
      - name: office
        time_intervals:
          - weekdays: ['monday:friday']
            times: [{start_time: '09:00', end_time: '17:00'}]
    """
    d, flushes = setup(clock, text)
    a, b = firing(clock, alertname="A", when="night"), firing(clock, alertname="B", when="office")
    a.ends_at = b.ends_at = clock() + 86400
    d.put(a, b)
    run_until(d, clock, clock() + 30)
    assert flushes == []
    # Next morning 10:00 UTC: the night is over and the office is open.
    run_until(d, clock, 1_700_042_400.0 + 60)
    assert {f.receiver for f in flushes} == {"db", "pager"}


def test_notify_log_repeat_interval_and_send_resolved(clock: FakeClock) -> None:
    d, flushes = setup(clock)
    log = NotifyLog()
    sent: list[tuple[float, int, int]] = []

    def deliver() -> None:
        f = flushes.pop()
        for integration, send_resolved in (("hook", True), ("mail", False)):
            if log.needs_update(integration, f, send_resolved):
                log.record(integration, f)
                if integration == "hook":
                    sent.append((f.now - t0, len(f.firing), len(f.resolved)))

    t0 = clock()
    a = firing(clock, alertname="X", instance="1")
    a.ends_at = t0 + 10 * 3600
    d.put(a)
    for _ in range(14):  # t0+30s, then every 5 minutes: 13 flushes up to ~1h05m
        run_until(d, clock, d.next_deadline() or 0.0)
        deliver()
    # Sent at group_wait, then nothing changed until repeat_interval (1h) had passed.
    assert sent == [(30, 1, 0), (30 + 13 * 300, 1, 0)]
    # A second alert fires: notified at the next flush regardless of repeat_interval.
    b = firing(clock, alertname="X", instance="2")
    b.ends_at = t0 + 10 * 3600
    d.put(b)
    run_until(d, clock, d.next_deadline() or 0.0)
    deliver()
    assert sent[-1][1:] == (2, 0)
    # One resolves: the send_resolved integration hears of it.
    d.put(Alert(b.labels, starts_at=b.starts_at, ends_at=clock(), updated_at=clock()))
    run_until(d, clock, d.next_deadline() or 0.0)
    deliver()
    assert sent[-1][1:] == (1, 1)
