"""PromQL's function library.

Importing this package registers every implementation in
:data:`promhub.promql.call.FUNCTIONS` under its PromQL name; the engine looks functions up
there and calls them with a :class:`~promhub.promql.call.FunctionCall`.

Modules by subject: :mod:`.rate` (rate, increase, delta, irate, idelta, deriv,
predict_linear, resets, changes), :mod:`.over_time` (``*_over_time``, ``ts_of_*``,
absent/present_over_time, double_exponential_smoothing), :mod:`.math` (element-wise
functions, clamp, round, scalar, vector, time, absent, sort), :mod:`.time` (calendar
functions), :mod:`.labels` (label_replace, label_join, sort_by_label), :mod:`.histogram`
(classic histogram_quantile/quantiles/fraction) and :mod:`.info`.
"""

from promhub.promql.functions import (  # noqa: F401  (imported to register)
    histogram,
    labels,
    math,
    over_time,
    rate,
    time,
)
from promhub.promql.functions.window import FunctionError

__all__ = ["FunctionError"]
