"""Query results as Prometheus' JSON, built in bulk.

Prometheus writes every sample value as a *string* holding Go's
``strconv.FormatFloat(v, 'f', -1, 64)`` (shortest round-trip digits, never an exponent;
``NaN``, ``+Inf``, ``-Inf``) and every timestamp as seconds with the milliseconds after a dot
(``1435781451.781``; a whole second has no fraction). A range query over 30k series returns
millions of samples, so nothing here formats one sample at a time in Python:

- all values of a response go through one ``orjson`` call (Ryu, ~20 ns per float), the
  ``.0`` of whole numbers is cut out of that buffer with one NumPy mask, and only values that
  came back in exponent form or as ``null`` (tiny, huge, NaN, ±Inf: rare) are redone one by
  one by :func:`format_float`;
- timestamps of a range query are the T step times, formatted once per step, and every
  sample reuses the bytes of its step;
- the pieces are laid into one object array in output order with vectorised index
  arithmetic and joined by a single ``bytes.join``.

Per-series work (the ``metric`` object) is unavoidable and done once per series.

>>> import numpy as np
>>> format_float(1e21), format_float(-0.0), format_float(1.5e-7), format_timestamp(1435781451780)
('1000000000000000000000', '-0', '0.00000015', '1435781451.780')
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import orjson
from numpy.typing import NDArray

from promhub.model.gofloat import format_f
from promhub.model.labels import METRIC_NAME, Labels

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

_COMMA = ord(",")
_DOT = ord(".")
_ZERO = ord("0")
_E = ord("e")
_N = ord("n")  # only in ``null`` (NaN and ±Inf)


format_float = format_f


def format_timestamp(ms: int) -> str:
    """A millisecond timestamp as Prometheus writes it: seconds, ``.mmm`` only if non-zero."""
    sign = ""
    if ms < 0:
        sign, ms = "-", -ms
    sec, frac = divmod(ms, 1000)
    return f"{sign}{sec}.{frac:03d}" if frac else f"{sign}{sec}"


def value_tokens(values: F64) -> list[bytes]:
    """Each value formatted as by :func:`format_float`, as ASCII bytes (no quotes)."""
    n = len(values)
    if n == 0:
        return []
    vals = np.ascontiguousarray(values, dtype=np.float64)
    buf = orjson.dumps(vals, option=orjson.OPT_SERIALIZE_NUMPY)
    # Whole numbers come out as ``12.0``: one C-level replace cuts every ``.0`` (``-0.0``
    # becomes Go's ``-0``). orjson never writes ``.0`` before an exponent.
    tokens = buf[1:-1].replace(b".0,", b",").split(b",")
    if tokens[-1].endswith(b".0"):
        tokens[-1] = tokens[-1][:-2]
    # orjson writes very small and very large magnitudes with an exponent and NaN/±Inf as
    # ``null``; those (rare) values are redone one by one. The bounds are conservative.
    mag = np.abs(vals)
    odd = ~np.isfinite(vals) | (mag >= 1e15) | ((mag < 1e-4) & (mag > 0))
    if odd.any():
        for i in np.flatnonzero(odd).tolist():
            tokens[i] = format_float(float(vals[i])).encode()
    return tokens


def metric_json(labels: Labels, drop_name: bool = False) -> bytes:
    """The ``metric`` object of a series (its labels; ``__name__`` left out if dropped)."""
    if drop_name:
        return orjson.dumps({k: v for k, v in labels if k != METRIC_NAME})
    return orjson.dumps(dict(labels))


def _drop_flags(drop_name: NDArray[np.bool_] | None, n: int) -> list[bool]:
    if drop_name is None or len(drop_name) != n:
        return [False] * n
    return [bool(x) for x in drop_name.tolist()]


def encode_vector(
    labels: Sequence[Labels],
    values: F64,
    ts_ms: int,
    drop_name: NDArray[np.bool_] | None = None,
) -> bytes:
    """An instant vector: ``[{"metric":{...},"value":[ts,"v"]},...]`` in the given order."""
    n = len(labels)
    if n == 0:
        return b"[]"
    tokens = value_tokens(values)
    head = b',"value":[' + format_timestamp(ts_ms).encode() + b',"'
    drops = _drop_flags(drop_name, n)
    items = [
        b'{"metric":' + metric_json(ls, d) + head + tok + b'"]}'
        for ls, d, tok in zip(labels, drops, tokens, strict=True)
    ]
    return b"[" + b",".join(items) + b"]"


def encode_matrix_steps(
    labels: Sequence[Labels],
    values: F64,
    present: NDArray[np.bool_],
    step_times: I64,
    drop_name: NDArray[np.bool_] | None = None,
) -> bytes:
    """A range-query matrix from ``[N, T]`` values and presence (series without any sample
    are left out): ``[{"metric":{...},"values":[[t,"v"],...]},...]``."""
    if len(labels) == 0 or values.size == 0:
        return b"[]"
    counts = present.sum(axis=1)
    kept = np.flatnonzero(counts)
    if len(kept) == 0:
        return b"[]"
    ts = [format_timestamp(int(t)).encode() for t in step_times.tolist()]
    if len(kept) == len(labels) and bool(present.all()):
        return _dense_matrix(labels, values, ts, drop_name)
    rows, cols = np.nonzero(present)  # row-major: series by series, steps ascending
    tokens = value_tokens(values[rows, cols])
    first_tab = np.array([b"[[" + t + b',"' for t in ts] + [b""], dtype=object)[:-1]
    next_tab = np.array([b'"],[' + t + b',"' for t in ts] + [b""], dtype=object)[:-1]
    return _assemble(labels, kept, counts[kept], cols, tokens, first_tab, next_tab, drop_name)


def _dense_matrix(
    labels: Sequence[Labels],
    values: F64,
    ts: list[bytes],
    drop_name: NDArray[np.bool_] | None,
) -> bytes:
    """Every series has a sample at every step (the usual range result): one ``%``
    template holding all T timestamps formats each series in a single C call."""
    n, t = values.shape
    tokens = value_tokens(values.reshape(-1))
    tmpl = b"%b[[" + ts[0] + b',"%b' + b"".join(b'"],[' + x + b',"%b' for x in ts[1:]) + b'"]]}'
    drops = _drop_flags(drop_name, n)
    out = [
        tmpl
        % (
            b'{"metric":' + metric_json(labels[i], drops[i]) + b',"values":',
            *tokens[i * t : (i + 1) * t],
        )
        for i in range(n)
    ]
    return b"[" + b",".join(out) + b"]"


def encode_matrix_samples(
    labels: Sequence[Labels],
    offsets: I64,
    timestamps: I64,
    values: F64,
    drop_name: NDArray[np.bool_] | None = None,
) -> bytes:
    """A matrix of raw samples (``foo[5m]`` at one instant): series i owns samples
    ``offsets[i]:offsets[i+1]`` of ``timestamps``/``values``."""
    if len(labels) == 0:
        return b"[]"
    counts = np.diff(offsets)
    kept = np.flatnonzero(counts)
    if len(kept) == 0:
        return b"[]"
    # Gather the kept series' samples in order (series with no samples contribute none).
    idx = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in kept.tolist()])
    tokens = value_tokens(values[idx])
    # Samples of one scrape share timestamps: format each distinct one once.
    uniq, inv = np.unique(timestamps[idx], return_inverse=True)
    ts = [format_timestamp(int(t)).encode() for t in uniq.tolist()]
    first_tab = np.array([b"[[" + t + b',"' for t in ts] + [b""], dtype=object)[:-1]
    next_tab = np.array([b'"],[' + t + b',"' for t in ts] + [b""], dtype=object)[:-1]
    return _assemble(labels, kept, counts[kept], inv, tokens, first_tab, next_tab, drop_name)


def _assemble(
    labels: Sequence[Labels],
    kept: I64,
    counts: I64,
    ts_index: I64,
    tokens: list[bytes],
    first_tab: NDArray[np.object_],
    next_tab: NDArray[np.object_],
    drop_name: NDArray[np.bool_] | None,
) -> bytes:
    """Lay headers, per-sample timestamp prefixes and value tokens out in output order.

    Output slots: series k's header at ``2*start_k + k``, then for its j-th sample (global
    index g) the prefix at ``2*g + k + 1`` and the value at ``2*g + k + 2``.
    """
    n = len(tokens)
    nk = len(kept)
    starts = np.zeros(nk, dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    series_of = np.repeat(np.arange(nk, dtype=np.int64), counts)
    g = np.arange(n, dtype=np.int64)
    parts = np.empty(2 * n + nk + 1, dtype=object)
    prefixes = next_tab[ts_index]
    firsts = starts
    prefixes[firsts] = first_tab[ts_index[firsts]]
    parts[2 * g + series_of + 1] = prefixes
    vals = np.empty(n, dtype=object)
    vals[:] = tokens
    parts[2 * g + series_of + 2] = vals
    drops = _drop_flags(drop_name, len(labels))
    heads = np.empty(nk, dtype=object)
    heads[:] = [
        (b'"]]},{"metric":' if k else b'[{"metric":')
        + metric_json(labels[i], drops[i])
        + b',"values":'
        for k, i in enumerate(kept.tolist())
    ]
    parts[2 * starts + np.arange(nk)] = heads
    parts[-1] = b'"]]}]'
    return b"".join(parts.tolist())


def encode_scalar(ts_ms: int, v: float) -> bytes:
    """``[ts,"v"]``."""
    return b"[" + format_timestamp(ts_ms).encode() + b',"' + format_float(v).encode() + b'"]'


def encode_string(ts_ms: int, s: str) -> bytes:
    """``[ts,"s"]``."""
    return b"[" + format_timestamp(ts_ms).encode() + b"," + orjson.dumps(s) + b"]"
