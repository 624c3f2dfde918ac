"""PromQL: parsing, printing and (in the engine modules) evaluation.

Public parsing API::

    from promhub.promql import parse_expr, format_expr, ParseError

    expr = parse_expr('sum by (job) (rate(http_requests_total[5m]))')
    format_expr(expr)   # 'sum by (job) (rate(http_requests_total[5m]))'
"""

from promhub.promql.lexer import ParseError
from promhub.promql.literals import evaluate_duration, format_duration_ms, parse_duration_ms
from promhub.promql.parser import (
    MAX_DEPTH,
    parse_expr,
    parse_metric_selector,
)
from promhub.promql.printer import format_expr, prettify, to_json
from promhub.promql.signatures import SIGNATURES, FunctionSignature

__all__ = [
    "MAX_DEPTH",
    "SIGNATURES",
    "FunctionSignature",
    "ParseError",
    "evaluate_duration",
    "format_duration_ms",
    "format_expr",
    "parse_duration_ms",
    "parse_expr",
    "parse_metric_selector",
    "prettify",
    "to_json",
]
