"""Binary operators over all steps at once: scalar/scalar, vector/scalar, vector/vector
(one-to-one, group_left/group_right, fill modifiers) and the set operators.

Vector matching computes each series' match signature once per query; the per-step work is
NumPy over ``[N, T]`` arrays indexed by signature.
"""

from __future__ import annotations

import numpy as np

from promhub.model.labels import METRIC_NAME, Labels
from promhub.promql.ast import COMPARISON_OPS, Cardinality, VectorMatching
from promhub.promql.errors import PromQLError
from promhub.promql.value import F64, I64, Mask, VectorSeries

#: Labels that describe the metric rather than the series; dropped together with the name.
METADATA_LABELS = (METRIC_NAME, "__type__", "__unit__")


def go_string(labels: Labels) -> str:
    """Go's ``labels.Labels.String()``: ``{__name__="up", job="x"}``."""
    return "{" + ", ".join(f"{k}={_go_quote(v)}" for k, v in labels) + "}"


def _go_quote(s: str) -> str:
    out = []
    for ch in s:
        if ch in '\\"':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif not ch.isprintable():
            out.append(f"\\u{ord(ch):04x}" if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def drop_metric_name(labels: Labels) -> Labels:
    """The label set without ``__name__`` (and ``__type__``/``__unit__``)."""
    # Called once per result series: a plain loop and a list beat generator expressions.
    for k, _ in labels:
        if k in METADATA_LABELS:
            return Labels([p for p in labels if p[0] not in METADATA_LABELS])
    return labels


def arithmetic(op: str, a: F64, b: F64) -> F64:
    """Elementwise ``a op b`` with Go's float semantics (``%`` is math.Mod, ``^`` math.Pow).

    Comparisons return 1.0/0.0.
    """
    with np.errstate(all="ignore"):
        if op == "+":
            r = a + b
        elif op == "-":
            r = a - b
        elif op == "*":
            r = a * b
        elif op == "/":
            r = np.divide(a, b)
        elif op == "%":
            r = np.fmod(a, b)
        elif op == "^":
            r = np.power(a, b)
        elif op == "atan2":
            r = np.arctan2(a, b)
        elif op in COMPARISON_OPS:
            r = compare(op, a, b).astype(np.float64)
        else:
            raise PromQLError("bad_data", f"operator {op!r} not allowed for scalar operations")
    return np.asarray(r, dtype=np.float64)


def compare(op: str, a: F64, b: F64) -> Mask:
    with np.errstate(invalid="ignore"):
        if op == "==":
            return np.asarray(a == b)
        if op == "!=":
            return np.asarray(a != b)
        if op == ">":
            return np.asarray(a > b)
        if op == "<":
            return np.asarray(a < b)
        if op == ">=":
            return np.asarray(a >= b)
        return np.asarray(a <= b)


def _elem(op: str, fl: F64, fr: F64, return_bool: bool) -> tuple[F64, Mask]:
    """Values and keep-mask of ``fl op fr`` for vector elements."""
    if op in COMPARISON_OPS:
        keep = compare(op, fl, fr)
        if return_bool:
            return keep.astype(np.float64), np.ones(keep.shape, dtype=bool)
        return fl, keep
    vals = arithmetic(op, fl, fr)
    return vals, np.ones(vals.shape, dtype=bool)


def vector_scalar(
    op: str, vec: VectorSeries, scalar: F64, scalar_left: bool, return_bool: bool
) -> VectorSeries:
    """``vec op scalar`` (or ``scalar op vec`` when ``scalar_left``)."""
    s = np.broadcast_to(scalar, vec.values.shape)
    fl, fr = (s, vec.values) if scalar_left else (vec.values, s)
    vals, keep = _elem(op, fl, fr, return_bool)
    if op in COMPARISON_OPS and not return_bool:
        # The vector's own value survives a filter, whichever side it was on.
        vals = vec.values
    drop = vec.drop_name | (op not in COMPARISON_OPS or return_bool)
    return VectorSeries(vec.labels, np.array(vals, dtype=np.float64), vec.present & keep, drop)


def _signature(labels: Labels, on: bool, names: frozenset[str]) -> Labels:
    if on:
        return Labels(p for p in labels if p[0] in names)
    return Labels(p for p in labels if p[0] not in names and p[0] != METRIC_NAME)


def signatures(
    sides: tuple[list[Labels], list[Labels]], matching: VectorMatching
) -> tuple[I64, I64, list[Labels]]:
    """Match-signature ids of both sides' series (shared id space) and the signatures."""
    names = frozenset(matching.matching_labels)
    ids: dict[Labels, int] = {}
    out: list[I64] = []
    for side in sides:
        arr = np.empty(len(side), dtype=np.int64)
        for i, ls in enumerate(side):
            arr[i] = ids.setdefault(_signature(ls, matching.on, names), len(ids))
        out.append(arr)
    return out[0], out[1], list(ids)


def _presence_by_sig(sig: I64, present: Mask, nsig: int) -> I64:
    counts = np.zeros((nsig, present.shape[1]), dtype=np.int64)
    np.add.at(counts, sig, present.astype(np.int64))
    return counts


def set_operation(
    op: str, lhs: VectorSeries, rhs: VectorSeries, matching: VectorMatching
) -> VectorSeries:
    """``and``, ``or`` and ``unless`` (many-to-many, by signature per step)."""
    sl, sr, sigs = signatures((lhs.labels, rhs.labels), matching)
    t = lhs.values.shape[1]
    if op == "and":
        rp = _presence_by_sig(sr, rhs.present, len(sigs)) > 0
        keep = lhs.present & rp[sl] if len(sl) else lhs.present
        return VectorSeries(lhs.labels, lhs.values, keep, lhs.drop_name)
    if op == "unless":
        rp = _presence_by_sig(sr, rhs.present, len(sigs)) > 0
        keep = lhs.present & ~rp[sl] if len(sl) else lhs.present
        return VectorSeries(lhs.labels, lhs.values, keep, lhs.drop_name)
    lp = _presence_by_sig(sl, lhs.present, len(sigs)) > 0
    rkeep = rhs.present & ~lp[sr] if len(sr) else rhs.present
    out = VectorSeries(
        lhs.labels + rhs.labels,
        np.concatenate([lhs.values, rhs.values]).reshape(-1, t),
        np.concatenate([lhs.present, rkeep]).reshape(-1, t),
        np.concatenate([lhs.drop_name, rhs.drop_name]),
    )
    return merge_same_labels(out)


def merge_same_labels(v: VectorSeries) -> VectorSeries:
    """Fold rows with identical label sets into one; overlapping values are an error, as
    in Prometheus' per-step assembly of output series."""
    first: dict[Labels, int] = {}
    dup = False
    for i, ls in enumerate(v.labels):
        if first.setdefault(ls, i) != i:
            dup = True
    if not dup:
        return v
    rows = np.array([first[ls] for ls in v.labels], dtype=np.int64)
    counts = np.zeros((v.num_series, v.num_steps), dtype=np.int64)
    np.add.at(counts, rows, v.present.astype(np.int64))
    if (counts > 1).any():
        raise PromQLError("execution", "vector cannot contain metrics with the same labelset")
    keep_rows = sorted(set(first.values()))
    values = v.values.copy()
    present = v.present.copy()
    drop = v.drop_name.copy()
    for i in range(v.num_series):
        r = int(rows[i])
        if r != i:
            m = v.present[i]
            values[r, m] = v.values[i, m]
            present[r] |= m
    idx = np.array(keep_rows, dtype=np.int64)
    return VectorSeries([v.labels[i] for i in keep_rows], values[idx], present[idx], drop[idx])


def _match_labels(labels: Labels, matching: VectorMatching) -> Labels:
    """Prometheus' ``Labels.MatchLabels``: what identifies the match group."""
    return _signature(labels, matching.on, frozenset(matching.matching_labels))


def _result_labels(
    many: Labels, one: Labels | None, op: str, matching: VectorMatching, card: Cardinality
) -> Labels:
    d = dict(many)
    if op not in COMPARISON_OPS:
        for k in METADATA_LABELS:
            d.pop(k, None)
    if card is Cardinality.ONE_TO_ONE:
        names = set(matching.matching_labels)
        if matching.on:
            d = {k: v for k, v in d.items() if k in names}
        else:
            d = {k: v for k, v in d.items() if k not in names}
    for ln in matching.include:
        val = one.get(ln) if one is not None else ""
        if val:
            d[ln] = val
        else:
            d.pop(ln, None)
    return Labels.from_dict(d)


class _Output:
    """Output rows of a vector/vector operation, keyed by label set."""

    def __init__(self, t: int) -> None:
        self.t = t
        self.index: dict[Labels, int] = {}
        self.labels: list[Labels] = []
        self.drop: list[bool] = []

    def row(self, labels: Labels, drop: bool) -> int:
        r = self.index.get(labels)
        if r is None:
            r = self.index[labels] = len(self.labels)
            self.labels.append(labels)
            self.drop.append(drop)
        elif drop:
            self.drop[r] = True
        return r


def vector_vector(
    op: str,
    lhs: VectorSeries,
    rhs: VectorSeries,
    matching: VectorMatching,
    return_bool: bool,
) -> VectorSeries:
    """Arithmetic and comparison between two vectors with vector matching."""
    card = matching.card
    swapped = card is Cardinality.ONE_TO_MANY
    many, one = (rhs, lhs) if swapped else (lhs, rhs)
    fill_one, fill_many = matching.fill_right, matching.fill_left
    sm, so, sigs = signatures((many.labels, one.labels), matching)
    t = lhs.values.shape[1]
    nsig = len(sigs)
    any_many = many.present.any(axis=0)
    any_one = one.present.any(axis=0)
    active = any_many & any_one if fill_one is None and fill_many is None else any_many | any_one
    one_present = one.present & active
    many_present = many.present & active

    counts = _presence_by_sig(so, one_present, nsig)
    if (counts > 1).any():
        s_idx, step = (int(x[0]) for x in np.nonzero(counts > 1))
        js = [j for j in range(one.num_series) if so[j] == s_idx and one_present[j, step]]
        side = "left" if swapped else "right"
        a, b = sorted((one.labels[js[0]], one.labels[js[1]]))
        raise PromQLError(
            "execution",
            f"found duplicate series for the match group {go_string(_match_labels(a, matching))}"
            f" on the {side} hand-side of the operation: [{go_string(a)}, {go_string(b)}]"
            ";many-to-many matching not allowed: matching labels must be unique on one side",
        )
    one_idx = np.full((nsig, t), -1, dtype=np.int64)
    jr, jc = np.nonzero(one_present)
    one_idx[so[jr], jc] = jr
    jm = one_idx[sm] if len(sm) else np.zeros((0, t), dtype=np.int64)
    matched = many_present & (jm >= 0)
    safe_j = np.where(jm >= 0, jm, 0)
    vr = one.values[safe_j, np.arange(t)] if one.num_series else np.zeros(jm.shape)
    use_fill = many_present & (jm < 0) & (fill_one is not None)
    if fill_one is not None:
        vr = np.where(use_fill, fill_one, vr)
    vm = many.values
    fl, fr = (vr, vm) if swapped else (vm, vr)
    vals, keep = _elem(op, fl, fr, return_bool)
    keep = keep & (matched | use_fill)

    out = _Output(t)
    drop_op = op not in COMPARISON_OPS or return_bool
    nm = many.num_series
    # Output row per (many series, one series) pair: group_x include labels vary with it.
    pair_key = np.where(
        keep,
        np.arange(nm)[:, None] * (one.num_series + 1) + np.where(matched, jm, one.num_series),
        -1,
    )
    uniq, inv = np.unique(pair_key[keep], return_inverse=True)
    pair_rows = np.empty(len(uniq), dtype=np.int64)
    for p, key in enumerate(uniq.tolist()):
        i, j = divmod(key, one.num_series + 1)
        one_ls = one.labels[j] if j < one.num_series else None
        ls = _result_labels(many.labels[i], one_ls, op, matching, card)
        pair_rows[p] = out.row(ls, bool(many.drop_name[i]) or drop_op)
    ki, kt = np.nonzero(keep)
    rows = pair_rows[inv]
    if card is Cardinality.ONE_TO_ONE:
        # Counted before comparison filtering, as Prometheus does.
        mi, mt = np.nonzero(matched)
        dup = np.zeros((nsig, t), dtype=np.int64)
        np.add.at(dup, (sm[mi], mt), 1)
        if (dup > 1).any():
            raise PromQLError(
                "execution",
                "multiple matches for labels: many-to-one matching must be explicit "
                "(group_left/group_right)",
            )
    # Fill pass: one-side series whose match group produced nothing get a synthetic many side.
    extra: list[tuple[int, I64, F64]] = []
    if fill_many is not None and one.num_series:
        hit = np.zeros((nsig, t), dtype=bool)
        hit[sm[ki], kt] = True
        lonely = one_present & ~hit[so]
        for j in np.nonzero(lonely.any(axis=1))[0].tolist():
            m = lonely[j]
            fm = np.full(t, fill_many)
            xa, xb = (one.values[j], fm) if swapped else (fm, one.values[j])
            v, k = _elem(op, xa, xb, return_bool)
            k = k & m
            if not k.any():
                continue
            synth = _match_labels(one.labels[j], matching)
            ls = _result_labels(synth, one.labels[j], op, matching, card)
            extra.append((out.row(ls, drop_op), np.nonzero(k)[0], v[k]))
    nrows = len(out.labels)
    values = np.zeros((nrows, t))
    present = np.zeros((nrows, t), dtype=bool)
    cnt = np.zeros((nrows, t), dtype=np.int64)
    np.add.at(cnt, (rows, kt), 1)
    values[rows, kt] = vals[ki, kt]
    present[rows, kt] = True
    for r, steps, v in extra:
        cnt[r, steps] += 1
        values[r, steps] = v
        present[r, steps] = True
    if (cnt > 1).any():
        if card is Cardinality.ONE_TO_ONE:
            raise PromQLError("execution", "vector cannot contain metrics with the same labelset")
        raise PromQLError(
            "execution", "multiple matches for labels: grouping labels must ensure unique matches"
        )
    return VectorSeries(out.labels, values, present, np.array(out.drop, dtype=bool))
