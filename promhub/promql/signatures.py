"""The PromQL function table: argument types, variadic count and return type per function.

Mirrors Prometheus' ``promql/parser/functions.go`` (3.x). ``variadic`` follows Prometheus'
convention: 0 = exactly ``len(arg_types)`` arguments; n > 0 = the last ``n`` listed arguments
are optional; -1 = the last listed type repeats without limit (at least ``len - 1``
arguments). ``experimental`` marks functions Prometheus gates behind
``--enable-feature=promql-experimental-functions`` (promhub enables them).
"""

from __future__ import annotations

from dataclasses import dataclass

from promhub.promql.ast import ValueType

_V = ValueType.VECTOR
_M = ValueType.MATRIX
_S = ValueType.SCALAR
_STR = ValueType.STRING


@dataclass(frozen=True, slots=True)
class FunctionSignature:
    name: str
    arg_types: tuple[ValueType, ...]
    return_type: ValueType
    variadic: int = 0
    experimental: bool = False

    @property
    def min_args(self) -> int:
        return len(self.arg_types) - (1 if self.variadic == -1 else self.variadic)

    @property
    def max_args(self) -> int | None:
        """None when unbounded."""
        return None if self.variadic == -1 else len(self.arg_types)


def _sig(
    name: str,
    args: tuple[ValueType, ...],
    ret: ValueType = _V,
    variadic: int = 0,
    experimental: bool = False,
) -> FunctionSignature:
    return FunctionSignature(name, args, ret, variadic, experimental)


_TABLE = [
    _sig("abs", (_V,)),
    _sig("absent", (_V,)),
    _sig("absent_over_time", (_M,)),
    _sig("avg_over_time", (_M,)),
    _sig("ceil", (_V,)),
    _sig("end", (), _S, experimental=True),
    _sig("changes", (_M,)),
    _sig("clamp", (_V, _S, _S)),
    _sig("clamp_max", (_V, _S)),
    _sig("clamp_min", (_V, _S)),
    _sig("count_over_time", (_M,)),
    _sig("days_in_month", (_V,), variadic=1),
    _sig("day_of_month", (_V,), variadic=1),
    _sig("day_of_week", (_V,), variadic=1),
    _sig("day_of_year", (_V,), variadic=1),
    _sig("deg", (_V,)),
    _sig("delta", (_M,)),
    _sig("deriv", (_M,)),
    _sig("double_exponential_smoothing", (_M, _S, _S), experimental=True),
    _sig("exp", (_V,)),
    _sig("first_over_time", (_M,), experimental=True),
    _sig("floor", (_V,)),
    _sig("histogram_avg", (_V,)),
    _sig("histogram_count", (_V,)),
    _sig("histogram_fraction", (_S, _S, _V)),
    _sig("histogram_quantile", (_S, _V)),
    _sig("histogram_quantiles", (_V, _STR, _S), variadic=-1, experimental=True),
    _sig("histogram_stddev", (_V,)),
    _sig("histogram_stdvar", (_V,)),
    _sig("histogram_sum", (_V,)),
    _sig("hour", (_V,), variadic=1),
    _sig("idelta", (_M,)),
    _sig("increase", (_M,)),
    _sig("info", (_V, _V), variadic=1, experimental=True),
    _sig("irate", (_M,)),
    _sig("label_join", (_V, _STR, _STR, _STR), variadic=-1),
    _sig("label_replace", (_V, _STR, _STR, _STR, _STR)),
    _sig("last_over_time", (_M,)),
    _sig("ln", (_V,)),
    _sig("log10", (_V,)),
    _sig("log2", (_V,)),
    _sig("mad_over_time", (_M,), experimental=True),
    _sig("max_of", (_S, _S), _S, experimental=True),
    _sig("min_of", (_S, _S), _S, experimental=True),
    _sig("max_over_time", (_M,)),
    _sig("min_over_time", (_M,)),
    _sig("minute", (_V,), variadic=1),
    _sig("month", (_V,), variadic=1),
    _sig("pi", (), _S),
    _sig("predict_linear", (_M, _S)),
    _sig("present_over_time", (_M,)),
    _sig("quantile_over_time", (_S, _M)),
    _sig("rad", (_V,)),
    _sig("range", (), _S, experimental=True),
    _sig("rate", (_M,)),
    _sig("resets", (_M,)),
    _sig("round", (_V, _S), variadic=1),
    _sig("scalar", (_V,), _S),
    _sig("sgn", (_V,)),
    _sig("sort", (_V,)),
    _sig("sort_by_label", (_V, _STR), variadic=-1, experimental=True),
    _sig("sort_by_label_desc", (_V, _STR), variadic=-1, experimental=True),
    _sig("sort_desc", (_V,)),
    _sig("sqrt", (_V,)),
    _sig("start", (), _S, experimental=True),
    _sig("start_timestamp", (_V,), experimental=True),
    _sig("stddev_over_time", (_M,)),
    _sig("step", (), _S, experimental=True),
    _sig("stdvar_over_time", (_M,)),
    _sig("sum_over_time", (_M,)),
    _sig("time", (), _S),
    _sig("timestamp", (_V,)),
    _sig("ts_of_first_over_time", (_M,), experimental=True),
    _sig("ts_of_last_over_time", (_M,), experimental=True),
    _sig("ts_of_max_over_time", (_M,), experimental=True),
    _sig("ts_of_min_over_time", (_M,), experimental=True),
    _sig("vector", (_S,)),
    _sig("year", (_V,), variadic=1),
]
# Trigonometric functions.
_TABLE += [
    _sig(n, (_V,))
    for n in [
        "acos",
        "acosh",
        "asin",
        "asinh",
        "atan",
        "atanh",
        "cos",
        "cosh",
        "sin",
        "sinh",
        "tan",
        "tanh",
    ]
]

#: name → signature, for every function PromQL knows.
SIGNATURES: dict[str, FunctionSignature] = {s.name: s for s in sorted(_TABLE, key=lambda s: s.name)}

#: Functions whose result depends on the evaluation time itself (the promqltest runner does
#: not re-check these with ``@`` pinned).
TIME_DEPENDENT_FUNCTIONS = frozenset(
    [
        "time",
        "timestamp",
        "day_of_month",
        "day_of_week",
        "day_of_year",
        "days_in_month",
        "hour",
        "minute",
        "month",
        "year",
        "predict_linear",
    ]
)

#: The functions that may appear in duration expressions (``[step()*2]``, ``offset
#: min_of(range(), 8s)``); there ``parser.evaluate_duration`` computes them. As ordinary
#: expressions they are scalar functions like any other (``end() - start()``).
DURATION_FUNCTIONS = frozenset({"step", "range", "min_of", "max_of"})

#: Functions whose value depends on the query's start, end or step (the promqltest runner
#: skips its ``@``-pinning and range-query cross-checks for queries using them).
QUERY_RANGE_FUNCTIONS = frozenset({"start", "end", "range", "step"})
