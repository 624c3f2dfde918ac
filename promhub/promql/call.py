"""The contract between the engine and the function library.

The engine evaluates a ``Call``'s arguments and hands them to the function's implementation
as a :class:`FunctionCall`; the implementation returns a value. Implementations live in
``promhub.promql.functions`` and register themselves in :data:`FUNCTIONS` by name.

Annotations (Prometheus' warnings and infos such as "metric might not be a counter") are
reported through :meth:`FunctionCall.annotate` with the position of the node they concern,
so the engine can render them as Prometheus does (``PromQL info: ... (1:6)``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from promhub.promql.ast import Call, Expr
from promhub.promql.value import I64, Value


@dataclass(slots=True)
class Annotation:
    kind: Literal["warning", "info"]
    message: str  # without the "PromQL warning: " prefix and the position suffix
    node: Expr


@dataclass(slots=True)
class FunctionCall:
    """One evaluation of a function over all steps of a query."""

    node: Call
    args: list[Value]
    #: Evaluation times of the T steps (ms), after any ``@`` pinning of the call itself.
    step_times: I64
    annotations: list[Annotation] = field(default_factory=list)
    #: Query-wide settings a few functions need (e.g. lookback for absent_over_time).
    lookback_ms: int = 300_000

    @property
    def num_steps(self) -> int:
        return int(len(self.step_times))

    def annotate(
        self, kind: Literal["warning", "info"], message: str, node: Expr | None = None
    ) -> None:
        self.annotations.append(Annotation(kind, message, node or self.node))


FunctionImpl = Callable[[FunctionCall], Value]

#: name → implementation. Filled by ``promhub.promql.functions`` on import.
FUNCTIONS: dict[str, FunctionImpl] = {}


def function(name: str) -> Callable[[FunctionImpl], FunctionImpl]:
    """Register an implementation: ``@function("rate")``."""

    def register(fn: FunctionImpl) -> FunctionImpl:
        FUNCTIONS[name] = fn
        return fn

    return register


def empty_steps() -> I64:
    return np.empty(0, dtype=np.int64)
