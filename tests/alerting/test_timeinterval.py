"""Time intervals, ported from Alertmanager's timeinterval/timeinterval_test.go."""

from __future__ import annotations

import textwrap
from datetime import datetime

import pytest

from promhub.alerting.config import ConfigError
from promhub.alerting.timeinterval import TimeInterval, TimeRange, contains
from tests.alerting.conftest import am_config


def ts(s: str) -> float:
    """Go's RFC822Z layout: ``02 Jan 06 15:04 -0700``."""
    return datetime.strptime(s, "%d %b %y %H:%M %z").timestamp()


def intervals(yaml_list: str) -> list[TimeInterval]:
    """Parse a YAML list of time intervals the way a config file's would be."""
    body = textwrap.indent(textwrap.dedent(yaml_list).strip("\n"), "      ")
    text = f"route: {{receiver: r}}\ntime_intervals:\n  - name: t\n    time_intervals:\n{body}\n"
    return am_config(text, ("r",)).time_intervals["t"]


CONTAINS_CASES = [
    ("- {}", ["02 Jan 06 15:04 +0000", "03 Jan 07 10:04 +0000", "04 Jan 06 09:04 +0000"], []),
    # 9am to 5pm, monday to friday
    ("- {weekdays: ['monday:friday'], times: [{start_time: '09:00', end_time: '17:00'}]}",
     ["04 May 20 15:04 +0000", "05 May 20 10:04 +0000", "09 Jun 20 09:04 +0000"],
     ["03 May 20 15:04 +0000", "04 May 20 08:59 +0000", "05 May 20 05:00 +0000"]),
    # Easter 2020
    ("- {days_of_month: ['4:6'], months: ['april'], years: ['2020']}",
     ["04 Apr 20 15:04 +0000", "05 Apr 20 00:00 +0000", "06 Apr 20 23:05 +0000"],
     ["03 May 18 15:04 +0000", "03 Apr 20 23:59 +0000", "04 Jun 20 23:59 +0000",
      "06 Apr 19 23:59 +0000", "07 Apr 20 00:00 +0000"]),
    # The last 3 days of each month
    ("- {days_of_month: ['-3:-1']}",
     ["31 Jan 20 15:04 +0000", "30 Jan 20 15:04 +0000", "29 Jan 20 15:04 +0000",
      "30 Jun 20 00:00 +0000", "29 Feb 20 23:05 +0000"],
     ["03 May 18 15:04 +0000", "27 Jan 20 15:04 +0000", "03 Apr 20 23:59 +0000",
      "04 Jun 20 23:59 +0000", "06 Apr 19 23:59 +0000", "07 Apr 20 00:00 +0000",
      "01 Mar 20 00:00 +0000"]),
    # Out-of-bound days are clamped to the month (Go builds -31:31 directly; a config
    # file must write it as two ranges)
    ("- {months: ['6'], days_of_month: ['-31:-1', '1:31']}",
     ["30 Jun 20 00:00 +0000", "01 Jun 20 00:00 +0000"],
     ["31 May 20 00:00 +0000", "01 Jul 20 00:00 +0000"]),
    # Sydney business hours
    ("- {weekdays: ['monday:friday'], times: [{start_time: '09:00', end_time: '17:00'}],"
     " location: 'Australia/Sydney'}",
     ["06 Apr 21 13:00 +1000"], ["06 Apr 21 13:00 +0000"]),
    # ... during daylight saving time
    ("- {weekdays: ['monday:friday'], times: [{start_time: '09:00', end_time: '17:00'}],"
     " months: ['november'], location: 'Australia/Sydney'}",
     ["01 Nov 21 09:00 +1100", "31 Oct 21 22:00 +0000"], ["31 Oct 21 21:00 +0000"]),
    # Last week of Q1 minus Saturdays, business hours, 2020-2025 and 2030-2035
    ("""
     - weekdays: ['monday:friday', 'sunday']
       months: ['january:march']
       days_of_month: ['-7:-1']
       years: ['2020:2025', '2030:2035']
       times: [{start_time: '09:00', end_time: '17:00'}]
     """,
     ["27 Jan 21 09:00 +0000", "28 Jan 21 16:59 +0000", "29 Jan 21 13:00 +0000",
      "31 Mar 25 13:00 +0000", "31 Jan 35 13:00 +0000"],
     ["30 Jan 21 13:00 +0000", "01 Apr 21 13:00 +0000", "30 Jan 26 13:00 +0000",
      "31 Jan 35 17:01 +0000"]),
    ("""
     - weekdays: ['monday:wednesday', 'saturday', 'sunday']
       times: [{start_time: '13:00', end_time: '15:00'}]
       days_of_month: ['1', '10', '20:-1']
       years: ['2020:2023']
       months: ['january:march']
     """,
     ["10 Jan 21 13:00 +0000", "30 Jan 21 14:24 +0000"],
     ["09 Jan 21 13:00 +0000", "20 Jan 21 12:59 +0000", "02 Feb 21 13:00 +0000"]),
    # A start day after the end of the month does not clamp into it
    ("- {days_of_month: ['30:31'], years: ['2020:2023'], months: ['february']}",
     [], ["28 Feb 21 13:00 +0000"]),
]  # fmt: skip


@pytest.mark.parametrize(("spec", "inside", "outside"), CONTAINS_CASES)
def test_contains_time(spec: str, inside: list[str], outside: list[str]) -> None:
    tis = intervals(spec)
    for s in inside:
        assert contains(tis, ts(s)), s
    for s in outside:
        assert not contains(tis, ts(s)), s


@pytest.mark.parametrize(
    ("start", "end", "want"),
    [("00:00", "24:00", (0, 1440)), ("01:35", "17:39", (95, 1059)),
     ("09:35", "09:39", (575, 579)), ("17:31", "17:31", None), ("12:30", "24:01", None),
     ("09:30", "07:41", None), ("24:00", "17:41", None), ("14:03", "", None)],
)  # fmt: skip
def test_parse_time_range(start: str, end: str, want: tuple[int, int] | None) -> None:
    end_part = f", end_time: '{end}'" if end else ""
    spec = f"- {{times: [{{start_time: '{start}'{end_part}}}]}}"
    if want is None:
        with pytest.raises(ConfigError):
            intervals(spec)
    else:
        assert intervals(spec)[0].times == [TimeRange(*want)]


@pytest.mark.parametrize(
    ("spec", "err"),
    [
        ("- {times: [{start_time: '01:99', end_time: '23:59'}]}",
         "couldn't parse timestamp 01:99, invalid format"),
        ("- {times: [{start_time: '00:00', end_time: '99:99'}]}",
         "couldn't parse timestamp 99:99, invalid format"),
        ("- {weekdays: ['friday:monday']}", "start day cannot be before end day"),
        ("- {weekdays: ['blurgsday:flurgsday']}", "blurgsday is not a valid weekday"),
        ("- {weekdays: ['1:3']}", "1 is not a valid weekday"),
        ("- {weekdays: ['-2:-1']}", "-2 is not a valid weekday"),
        ("- {days_of_month: ['0']}", "0 is not a valid day of the month: out of range"),
        ("- {days_of_month: ['-50:-20']}", "-50 is not a valid day of the month: out of range"),
        ("- {days_of_month: ['1:50']}", "50 is not a valid day of the month: out of range"),
        ("- {days_of_month: ['-15:5']}", "end day must be negative if start day is negative"),
        ("- {days_of_month: ['10:-25']}", "end day -25 is always before start day 10"),
        ("- {months: ['martius:june']}", "martius is not a valid month"),
        ("- {months: ['march:junius']}", "junius is not a valid month"),
        ("- {months: ['december:january']}", "end month january is before start month december"),
        ("- {years: ['2022:2020']}", "end year 2020 is before start year 2022"),
    ],
)  # fmt: skip
def test_invalid_intervals(spec: str, err: str) -> None:
    with pytest.raises(ConfigError) as ei:
        intervals(spec)
    assert ei.value.msg == err


def test_valid_specials() -> None:
    assert intervals("- {days_of_month: ['1:-1']}")[0].days_of_month == [(1, -1)]
    assert intervals("- {months: ['January:december']}")[0].months == [(1, 12)]
    ti = intervals("- {years: ['2020:2022'], location: 'Australia/Sydney'}")[0]
    assert (ti.years, ti.location_name) == ([(2020, 2022)], "Australia/Sydney")
