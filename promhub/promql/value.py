"""Values the engine moves between operators, laid out for NumPy.

An instant vector over all steps of a query is a :class:`VectorSeries`: N label sets and an
``[N, T]`` matrix of floats with an ``[N, T]`` presence mask (NaN is a legitimate value, so
absence needs its own mask). An instant query is the same with T = 1. Scalars are ``[T]``
arrays. Range vectors (matrix selectors, subqueries) are :class:`RangeSeries`: every series'
samples concatenated in one array with CSR offsets, so window bounds for all (series, step)
pairs come from one vectorised ``searchsorted``.

Native histograms are a later issue: they will arrive as an extra, optional histogram
column block on these types (a parallel object array per sample slot), leaving the float
paths untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from promhub.model.labels import Labels

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
Mask = NDArray[np.bool_]


@dataclass(slots=True)
class VectorSeries:
    """An instant vector at each of T steps."""

    labels: list[Labels]
    values: F64  # [N, T]
    present: Mask  # [N, T]
    #: Per-series flag for Prometheus' delayed ``__name__`` removal: the name is dropped when
    #: the result leaves the engine (or meets an operation that needs it gone).
    drop_name: NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))

    @property
    def num_series(self) -> int:
        return len(self.labels)

    @property
    def num_steps(self) -> int:
        return int(self.values.shape[1])


@dataclass(slots=True)
class ScalarSeries:
    """A scalar at each of T steps."""

    values: F64  # [T]


@dataclass(slots=True)
class StringValue:
    value: str


@dataclass(slots=True)
class RangeSeries:
    """Range-vector input: for each series, its raw samples; for each step, a window.

    ``offsets[i]:offsets[i+1]`` slices series i's samples from ``timestamps``/``values``
    (ascending, staleness markers already removed). ``lo[i, k]:hi[i, k]`` are the samples of
    series i inside step k's window ``(t_k - range, t_k]``.

    ``start_timestamps``, aligned with ``timestamps``, are the samples' start timestamps
    (0 = none) as storage returned them; only a matrix selector has them. Like Prometheus,
    anything computed (a subquery) has none, so rates over it ignore them.
    """

    labels: list[Labels]
    offsets: I64  # [N + 1]
    timestamps: I64  # [total]
    values: F64  # [total]
    lo: I64  # [N, T]
    hi: I64  # [N, T]
    step_times: I64  # [T] evaluation times (after offset/@ adjustments)
    range_ms: int
    drop_name: NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))
    start_timestamps: I64 | None = None


Value = VectorSeries | ScalarSeries | StringValue | RangeSeries
