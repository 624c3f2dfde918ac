"""Floats printed as Go prints them, which Prometheus' outputs (JSON, PromQL's printer,
promtool dumps, templates, messages) are compared against byte for byte.

Python's ``repr`` gives the same shortest round-tripping digits as Go's shortest
formatting; only the layout differs, and specials are spelled ``NaN``, ``+Inf``, ``-Inf``.
"""

from __future__ import annotations

import math
from decimal import Decimal

__all__ = ["format_e", "format_f", "format_g"]


def format_f(v: float) -> str:
    """``strconv.FormatFloat(v, 'f', -1, 64)``: shortest digits, never an exponent."""
    if v != v:
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    r = repr(float(v))
    if "e" not in r:
        return r[:-2] if r.endswith(".0") else r
    mant, _, exp_s = r.partition("e")
    sign = "-" if mant.startswith("-") else ""
    # repr's exponent form has exactly one non-zero digit before the point.
    digits = mant.lstrip("-").replace(".", "")
    point = 1 + int(exp_s)  # where the decimal point goes, counted from digits[0]
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{sign}{digits}{'0' * (point - len(digits))}"
    return f"{sign}{digits[:point]}.{digits[point:]}"


def format_g(v: float) -> str:
    """Go's ``%v``/``%g`` of a float64 (``strconv.FormatFloat(v, 'g', -1, 64)``): shortest
    digits, exponent form below 1e-4 and from 1e+06."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == 0:
        return "-0" if math.copysign(1.0, v) < 0 else "0"
    sign, digits, exp = Decimal(repr(v)).normalize().as_tuple()
    assert isinstance(exp, int)
    ds = "".join(map(str, digits))
    nd = len(ds)
    dp = nd + exp  # position of the decimal point relative to the digits
    neg = "-" if sign else ""
    x = dp - 1
    if x < -4 or x >= 6:
        mant = ds[0] + ("." + ds[1:] if nd > 1 else "")
        return f"{neg}{mant}e{'-' if x < 0 else '+'}{abs(x):02d}"
    if dp <= 0:
        return f"{neg}0.{'0' * -dp}{ds}"
    if dp >= nd:
        return neg + ds + "0" * (dp - nd)
    return f"{neg}{ds[:dp]}.{ds[dp:]}"


def format_e(v: float, upper: bool = False) -> str:
    """``strconv.FormatFloat(v, 'e', -1, 64)`` (``'E'`` with ``upper``): ``2.5e-01``."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    verb = "E" if upper else "e"
    s = ""
    for prec in range(17):  # the fewest digits that read back as the same float
        s = f"{v:.{prec}{verb}}"
        if float(s) == v:
            break
    mant, _, exp = s.partition(verb)
    e = int(exp)
    return f"{mant}{verb}{'-' if e < 0 else '+'}{abs(e):02d}"
