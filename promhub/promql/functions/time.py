"""Calendar functions (UTC): year, month, day_of_month, day_of_week, day_of_year,
days_in_month, hour, minute.

With no argument they read the evaluation time (a one-element vector with no labels);
with a vector they interpret each value as Unix seconds. Calendar fields come from NumPy's
``datetime64`` arithmetic for all elements at once.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from promhub.model.labels import Labels
from promhub.promql.call import FunctionCall, function
from promhub.promql.functions.window import vector_arg
from promhub.promql.value import F64, I64, Value, VectorSeries

Field = Callable[[I64], F64]

_I64_MIN = np.iinfo(np.int64).min


def _seconds(values: F64) -> I64:
    """Go's ``int64(f)``: truncation toward zero; NaN and out-of-range give MinInt64."""
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(values) & (np.abs(values) < 9.2e18)
        out: I64 = np.where(ok, np.trunc(np.where(ok, values, 0.0)), 0).astype(np.int64)
    out[~ok] = _I64_MIN
    return out


def _days(secs: I64) -> I64:
    out: I64 = np.floor_divide(secs, 86400)
    return out


def _ymd(secs: I64) -> tuple[I64, I64, I64]:
    # Clamp to what datetime64[D] represents; absurd inputs give absurd (but finite) dates.
    days = np.clip(_days(secs), -(2**40), 2**40).astype("datetime64[D]")
    years = days.astype("datetime64[Y]")
    months = days.astype("datetime64[M]")
    year: I64 = years.astype(np.int64) + 1970
    month: I64 = (months.astype(np.int64) % 12) + 1
    day: I64 = (days - months).astype(np.int64) + 1
    return year, month, day


def _year(secs: I64) -> F64:
    return _ymd(secs)[0].astype(np.float64)


def _month(secs: I64) -> F64:
    return _ymd(secs)[1].astype(np.float64)


def _day_of_month(secs: I64) -> F64:
    return _ymd(secs)[2].astype(np.float64)


def _day_of_week(secs: I64) -> F64:
    # 1970-01-01 was a Thursday (4); Sunday is 0 as in Go's time.Weekday.
    out: F64 = ((_days(secs) + 4) % 7).astype(np.float64)
    return out


def _day_of_year(secs: I64) -> F64:
    days = np.clip(_days(secs), -(2**40), 2**40).astype("datetime64[D]")
    start = days.astype("datetime64[Y]").astype("datetime64[D]")
    out: F64 = ((days - start).astype(np.int64) + 1).astype(np.float64)
    return out


def _days_in_month(secs: I64) -> F64:
    days = np.clip(_days(secs), -(2**40), 2**40).astype("datetime64[D]")
    month = days.astype("datetime64[M]")
    nxt = (month + 1).astype("datetime64[D]")
    out: F64 = (nxt - month.astype("datetime64[D]")).astype(np.int64).astype(np.float64)
    return out


def _hour(secs: I64) -> F64:
    out: F64 = (np.floor_divide(secs, 3600) % 24).astype(np.float64)
    return out


def _minute(secs: I64) -> F64:
    out: F64 = (np.floor_divide(secs, 60) % 60).astype(np.float64)
    return out


def _date_function(field: Field) -> Callable[[FunctionCall], Value]:
    def impl(call: FunctionCall) -> Value:
        if not call.args:
            # Go: time.Unix(ts/1000, 0), integer division truncating toward zero.
            steps = np.asarray(call.step_times, dtype=np.int64)
            secs = np.trunc(steps / 1000).astype(np.int64)
            return VectorSeries(
                [Labels(())],
                field(secs).reshape(1, -1),
                np.ones((1, call.num_steps), dtype=bool),
                np.zeros(1, dtype=bool),
            )
        v = vector_arg(call)
        values = field(_seconds(v.values).ravel()).reshape(v.values.shape)
        return VectorSeries(v.labels, values, v.present.copy(), np.ones(v.num_series, bool))

    return impl


_FIELDS: dict[str, Field] = {
    "year": _year,
    "month": _month,
    "day_of_month": _day_of_month,
    "day_of_week": _day_of_week,
    "day_of_year": _day_of_year,
    "days_in_month": _days_in_month,
    "hour": _hour,
    "minute": _minute,
}

for _name, _field in _FIELDS.items():
    function(_name)(_date_function(_field))
