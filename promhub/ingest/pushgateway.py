"""Pushed metric groups: Pushgateway 1.x semantics over promhub's own parsers.

A *group* is what one grouping key (``job`` plus the URL's other label pairs) holds: metric
families, plus ``push_time_seconds`` and ``push_failure_time_seconds``. The rules follow
Pushgateway 1.5 as the real binary behaves:

- ``PUT`` replaces every family of the group, ``POST`` only the families it pushes,
  ``DELETE`` removes the group;
- grouping labels override labels of the same name in the body (``instance`` is set to ""
  when neither has it, so the stored series carry no ``instance``);
- a push whose body does not parse is answered 400 and leaves no trace; a push that parses
  but is invalid or inconsistent with what the store holds (sample timestamps, the same
  series twice, a family name used with another type, ``x_count`` colliding with a summary
  ``x``) is answered 400, sets the group's ``push_failure_time_seconds`` and changes
  nothing else.

Storage is columnar per group: each group keeps a *series table* (index -> final label
set) with a cache from the raw series text of a body line to its index, the same idea as
the scrape cache (:mod:`promhub.model.exposition`), so a job that pushes the same series
again and again pays for label parsing once. A family is an array of table indices and an
array of values. Everything here is synchronous and guarded by one lock; callers run it in
a worker thread.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from promhub.model.exposition import ExpositionError, SeriesCache, parse
from promhub.model.exposition_grammar import format_openmetrics_float, go_float
from promhub.model.labels import LABEL_NAME_RE, METRIC_NAME, METRIC_NAME_RE, Labels
from promhub.model.protobuf_exposition import (
    ProtobufError,
    ProtoFamily,
    decode_delimited,
    is_delimited_protobuf,
)

__all__ = [
    "PUSH_FAILURE_METRIC",
    "PUSH_METRIC",
    "Family",
    "Group",
    "GroupKey",
    "GroupStore",
    "PushError",
    "PushLimits",
]

PUSH_METRIC = "push_time_seconds"
PUSH_FAILURE_METRIC = "push_failure_time_seconds"
PUSH_HELP = "Last Unix time when changing this group in the Pushgateway succeeded."
PUSH_FAILURE_HELP = "Last Unix time when changing this group in the Pushgateway failed."
_INCONSISTENT = "pushed metrics are invalid or inconsistent with existing metrics: "
#: Series names a summary / histogram family also produces, as Go's registry checks them.
_SUFFIXES = {"summary": ("_sum", "_count"), "histogram": ("_bucket", "_sum", "_count")}

#: A grouping key: its label pairs sorted by name, empty values included (``x@base64/=``
#: makes a group of its own, as in Pushgateway).
GroupKey = tuple[tuple[str, str], ...]


class PushError(Exception):
    """A rejected push; ``str()`` is the reason sent back with a 400."""


class _Inconsistent(PushError):
    """A push that parsed but cannot be applied: it sets ``push_failure_time_seconds``."""


@dataclass(frozen=True, slots=True)
class PushLimits:
    """Limits on one push (0: no limit)."""

    series: int = 0
    body_bytes: int = 0


@dataclass(frozen=True, slots=True)
class Family:
    """One metric family of a group: series (table indices) and their values."""

    name: str
    type: str  # counter, gauge, summary, histogram, untyped
    help: str
    time_ns: int  # when it was pushed
    idx: NDArray[np.int64]
    values: NDArray[np.float64]
    #: The ``+Inf`` buckets were added by promhub (a protobuf histogram without one): the
    #: TSDB gets them, as a scrape of Pushgateway's text would, but the JSON API hides them.
    implicit_inf: bool = False


@dataclass(slots=True)
class Group:
    """What one grouping key holds. Families are replaced, never changed in place."""

    key: GroupKey
    families: dict[str, Family] = field(default_factory=dict)
    #: Seconds from the last successful push until the group expires (0: never).
    ttl: float = 0.0
    #: Series table: index -> final labels, and the reverse.
    table: list[Labels] = field(default_factory=list)
    index: dict[Labels, int] = field(default_factory=dict)
    #: Raw series text of a text body line -> table index (the scrape parser's cache, which
    #: also remembers the last body's shape: a re-push of the same series only converts
    #: values).
    raw: SeriesCache = field(default_factory=SeriesCache)
    #: Metric name id of each table entry, and the names: lets a push find the family of
    #: each sample with one array lookup instead of per-sample string work.
    name_ids: list[int] = field(default_factory=list)
    names: dict[str, int] = field(default_factory=dict)
    _name_arr: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    #: Per table entry: 1 if it has an ``le``, 2 if it has a ``quantile`` that is not a
    #: float (Pushgateway's parser rejects those in histograms and summaries).
    bad_bounds: list[int] = field(default_factory=list)
    #: Bumped on every change, so that writers know when to rebuild what they derived.
    version: int = 0

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.key)

    @property
    def push_time(self) -> float:
        return _scalar(self.families.get(PUSH_METRIC))

    @property
    def failure_time(self) -> float:
        return _scalar(self.families.get(PUSH_FAILURE_METRIC))

    @property
    def expires_at(self) -> float | None:
        """Wall-clock time after which the group is gone, or None if it never expires."""
        if self.ttl <= 0:
            return None
        return max(self.push_time, self.failure_time) + self.ttl

    def resolve(self, labels: Labels) -> int:
        """The table index of a label set, adding it if new."""
        i = self.index.get(labels)
        if i is None:
            i = len(self.table)
            self.table.append(labels)
            self.index[labels] = i
            name = labels.name
            nid = self.names.get(name)
            if nid is None:
                nid = self.names[name] = len(self.names)
            self.name_ids.append(nid)
            bad = 0
            for k, v in labels:
                if k in ("le", "quantile") and go_float(v.encode()) is None:
                    bad |= 1 if k == "le" else 2
            self.bad_bounds.append(bad)
        return i

    def name_array(self) -> NDArray[np.int64]:
        """:attr:`name_ids` as an array (rebuilt only when the table grew)."""
        if len(self._name_arr) != len(self.name_ids):
            self._name_arr = np.array(self.name_ids, dtype=np.int64)
        return self._name_arr

    def live_idx(self) -> NDArray[np.int64]:
        """Table indices of all series the group currently exposes."""
        parts = [f.idx for f in self.families.values()]
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)

    def compact_table(self) -> None:
        """Forget table entries no family uses (after churn), renumbering the families."""
        live = self.live_idx()
        if len(self.table) <= 2 * len(live) + 1000:
            return
        keep = np.unique(live)
        remap = np.full(len(self.table), -1, dtype=np.int64)
        remap[keep] = np.arange(len(keep), dtype=np.int64)
        self.table = [self.table[i] for i in keep]
        self.index = {lbl: i for i, lbl in enumerate(self.table)}
        self.name_ids = [self.name_ids[i] for i in keep]
        self.bad_bounds = [self.bad_bounds[i] for i in keep]
        self.raw.clear()
        self.families = {
            n: Family(f.name, f.type, f.help, f.time_ns, remap[f.idx], f.values, f.implicit_inf)
            for n, f in self.families.items()
        }
        self.version += 1


def _scalar(f: Family | None) -> float:
    return float(f.values[0]) if f is not None and len(f.values) else 0.0


@dataclass(slots=True)
class _Parsed:
    """A parsed push: per family, table indices and values (body order)."""

    families: dict[str, Family]
    samples: int


class GroupStore:
    """All pushed groups, with the store-wide indexes consistency checks need.

    Thread-safe: every public method takes the store's lock.
    """

    def __init__(self, limits: PushLimits | None = None) -> None:
        self.limits = limits or PushLimits()
        self.lock = threading.RLock()
        self._groups: dict[GroupKey, Group] = {}
        #: family name -> type -> number of groups holding it with that type.
        self._types: dict[str, dict[str, int]] = {}
        #: final series labels -> the group exposing it.
        self._owner: dict[Labels, GroupKey] = {}
        #: Bumped on every change (the persistence debounce watches it).
        self.version = 0
        #: Called (under the lock) with every change, as a record and a body, so that it
        #: can be logged before the client gets its answer (see :mod:`.persistence`).
        self.journal: Callable[[dict[str, Any], bytes], None] | None = None

    # -- reading ----------------------------------------------------------------------

    def groups(self) -> list[Group]:
        with self.lock:
            return list(self._groups.values())

    def get(self, key: GroupKey) -> Group | None:
        with self.lock:
            return self._groups.get(key)

    def __len__(self) -> int:
        return len(self._groups)

    # -- writing ----------------------------------------------------------------------

    def push(
        self,
        grouping: Mapping[str, str],
        body: bytes,
        content_type: str,
        *,
        replace: bool,
        ttl: float = 0.0,
        now: float | None = None,
    ) -> None:
        """Apply a ``PUT`` (``replace``) or ``POST``; raise :class:`PushError` if rejected.

        ``grouping`` must contain ``job``. ``ttl`` (seconds, 0: never) becomes the group's
        time to live, counted from this push.
        """
        now = time.time() if now is None else now
        now_ns = int(now * 1e9)
        key: GroupKey = tuple(sorted(grouping.items()))
        if self.limits.body_bytes and len(body) > self.limits.body_bytes:
            raise PushError(
                f"request body of {len(body)} bytes exceeds the limit of "
                f"{self.limits.body_bytes} bytes (pushgateway.body_size_limit)"
            )
        with self.lock:
            group = self._groups.get(key) or Group(key, ttl=ttl)
            try:
                if is_delimited_protobuf(content_type):
                    parsed = _parse_protobuf(group, body, now_ns)
                else:
                    parsed = _parse_text(group, body, now_ns)
                if self.limits.series and parsed.samples > self.limits.series:
                    raise PushError(
                        f"push has {parsed.samples} series, more than the limit of "
                        f"{self.limits.series} (pushgateway.series_limit)"
                    )
                new = self._apply(group, parsed, replace, now, now_ns)
            except _Inconsistent as e:
                self._fail(group, now, now_ns, ttl)
                self._record(
                    {"op": "push", "g": dict(grouping), "ct": content_type, "r": replace,
                     "ttl": ttl, "t": now},
                    body,
                )  # fmt: skip
                raise PushError(_INCONSISTENT + str(e)) from None
            # Logged first: if the journal cannot be written the push is not applied.
            self._record(
                {"op": "push", "g": dict(grouping), "ct": content_type, "r": replace,
                 "ttl": ttl, "t": now},
                body,
            )  # fmt: skip
            group.ttl = ttl
            self._commit(group, new)

    def _record(self, rec: dict[str, Any], body: bytes = b"") -> None:
        if self.journal is not None:
            self.journal(rec, body)

    def delete(self, grouping: Mapping[str, str]) -> bool:
        """Remove a group; True if it existed."""
        key: GroupKey = tuple(sorted(grouping.items()))
        with self.lock:
            group = self._groups.get(key)
            if group is None:
                return False
            self._remove(group)
            self._record({"op": "delete", "g": dict(key)})
            return True

    def wipe(self) -> int:
        """Remove every group; returns how many there were."""
        with self.lock:
            n = len(self._groups)
            for g in list(self._groups.values()):
                self._remove(g)
            self._record({"op": "wipe"})
            return n

    def expire(self, now: float | None = None) -> list[GroupKey]:
        """Remove the groups whose time to live has run out."""
        now = time.time() if now is None else now
        with self.lock:
            gone = [
                g for g in self._groups.values() if g.expires_at is not None and g.expires_at <= now
            ]
            for g in gone:
                self._remove(g)
                self._record({"op": "delete", "g": dict(g.key)})
            return [g.key for g in gone]

    def restore(self, group: Group) -> None:
        """Add a group read back from persistence (no checks: it was valid when saved)."""
        with self.lock:
            old = self._groups.get(group.key)
            if old is not None:
                self._remove(old)
            self._commit(group, group.families)

    # -- internals ------------------------------------------------------------------------

    def _apply(
        self, group: Group, parsed: _Parsed, replace: bool, now: float, now_ns: int
    ) -> dict[str, Family]:
        """The group's families after this push, or PushError if it is inconsistent."""
        old = group.families
        if replace:
            new = {n: f for n, f in old.items() if n in (PUSH_METRIC, PUSH_FAILURE_METRIC)}
        else:
            new = dict(old)
        new.update(parsed.families)
        # Pushed families of these names are overwritten by the push itself, as in
        # Pushgateway (which answers 200 and keeps its own).
        new.pop(PUSH_FAILURE_METRIC, None)
        if PUSH_FAILURE_METRIC in old:
            new[PUSH_FAILURE_METRIC] = old[PUSH_FAILURE_METRIC]
        new[PUSH_METRIC] = _gauge(group, PUSH_METRIC, PUSH_HELP, now, now_ns)
        if PUSH_FAILURE_METRIC not in new:
            new[PUSH_FAILURE_METRIC] = _gauge(
                group, PUSH_FAILURE_METRIC, PUSH_FAILURE_HELP, 0, now_ns
            )
        self._check(group, old, new)
        return new

    def _check(self, group: Group, old: dict[str, Family], new: dict[str, Family]) -> None:
        # Types: a family name means one type across the whole store.
        for name, f in new.items():
            if old.get(name) is f:
                continue
            held = dict(self._types.get(name, {}))
            prev = old.get(name)
            if prev is not None:
                held[prev.type] -= 1
            other = [t for t, n in held.items() if n > 0 and t != f.type]
            if other:
                raise _Inconsistent(
                    f"metric {name!r} is pushed as {f.type} but is {other[0]} in another group"
                )
            # Summary/histogram series names must not collide with other families.
            for suffix in _SUFFIXES.get(f.type, ()):
                if self._holds(name + suffix, group, old, new):
                    raise _Inconsistent(
                        f"metric named {name + suffix!r} collides with {f.type} named {name!r}"
                    )
            for t, suffixes in _SUFFIXES.items():
                for suffix in suffixes:
                    base = name[: -len(suffix)]
                    if name.endswith(suffix) and self._holds(base, group, old, new, t):
                        raise _Inconsistent(
                            f"metric named {name!r} collides with {t} named {base!r}"
                        )
        # Series: one label set, one value, across all groups. The table holds each label
        # set once, so within the group a repeated index is a repeated series.
        table = group.table
        body = [f.idx for n, f in new.items() if n not in (PUSH_METRIC, PUSH_FAILURE_METRIC)]
        if body:
            every = np.concatenate(body)
            uniq, counts = np.unique(every, return_counts=True)
            if len(uniq) != len(every):
                lbl = table[int(uniq[np.argmax(counts > 1)])]
                raise _Inconsistent(f"series {lbl} was pushed more than once")
        for name, f in new.items():
            if name in (PUSH_METRIC, PUSH_FAILURE_METRIC):
                # Distinct per grouping key in Pushgateway even where the keys differ only
                # by an empty value ({job="a"} vs {job="a",x=""}), so never a conflict.
                continue
            prev = old.get(name)
            if prev is f or (prev is not None and np.array_equal(prev.idx, f.idx)):
                continue  # the usual re-push: these series are this group's already
            owner_of = self._owner.get
            for i in f.idx.tolist():
                owner = owner_of(table[i])
                if owner is not None and owner != group.key:
                    raise _Inconsistent(f"series {table[i]} was pushed more than once")

    def _holds(
        self,
        name: str,
        group: Group,
        old: dict[str, Family],
        new: dict[str, Family],
        mtype: str | None = None,
    ) -> bool:
        """Whether family ``name`` (of type ``mtype`` if given) exists once this push lands."""
        f = new.get(name)
        if f is not None and (mtype is None or f.type == mtype):
            return True
        held = dict(self._types.get(name, {}))
        prev = old.get(name)
        if prev is not None:
            held[prev.type] -= 1
        return any(n > 0 and (mtype is None or t == mtype) for t, n in held.items())

    def _fail(self, group: Group, now: float, now_ns: int, ttl: float) -> None:
        """Record a failed push: only ``push_failure_time_seconds`` changes."""
        new = dict(group.families)
        new[PUSH_FAILURE_METRIC] = _gauge(
            group, PUSH_FAILURE_METRIC, PUSH_FAILURE_HELP, now, now_ns
        )
        if PUSH_METRIC not in new:
            new[PUSH_METRIC] = _gauge(group, PUSH_METRIC, PUSH_HELP, 0, now_ns)
        if group.key not in self._groups:
            group.ttl = ttl
        self._commit(group, new)

    def _commit(self, group: Group, new: dict[str, Family]) -> None:
        old = group.families if group.key in self._groups else {}
        for name, f in old.items():
            if new.get(name) is f:
                continue
            nf = new.get(name)
            same = nf is not None and np.array_equal(nf.idx, f.idx)
            counts = self._types[name]
            counts[f.type] -= 1
            if counts[f.type] <= 0:
                del counts[f.type]
                if not counts:
                    del self._types[name]
            if not same:
                for i in f.idx.tolist():
                    self._owner.pop(group.table[i], None)
        for name, f in new.items():
            prev = old.get(name)
            if prev is f:
                continue
            counts = self._types.setdefault(name, {})
            counts[f.type] = counts.get(f.type, 0) + 1
            if prev is None or not np.array_equal(prev.idx, f.idx):
                for i in f.idx.tolist():
                    self._owner[group.table[i]] = group.key
        group.families = new
        group.version += 1
        self._groups[group.key] = group
        group.compact_table()
        self.version += 1

    def _remove(self, group: Group) -> None:
        self._commit(group, {})
        del self._groups[group.key]


def _gauge(group: Group, name: str, help_: str, value: float, now_ns: int) -> Family:
    lbl = Labels.from_dict({**dict(group.key), METRIC_NAME: name})
    idx = np.array([group.resolve(lbl)], dtype=np.int64)
    return Family(name, "gauge", help_, now_ns, idx, np.array([value], dtype=np.float64))


# ----------------------------------------------------------------------------- parsing


def _final(labels: Iterable[tuple[str, str]], grouping: GroupKey) -> Labels:
    """A body series' labels once the grouping labels override it (Pushgateway's rule)."""
    d = dict(labels)
    d.update(grouping)
    return Labels.from_dict(d)


def _family_of(name: str, types: Mapping[str, str]) -> str:
    """The family a text sample belongs to, as the text format's parser groups them."""
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix):
            base = name[: -len(suffix)]
            t = types.get(base)
            if t == "histogram" or (t == "summary" and suffix != "_bucket"):
                return base
    return name


def _parse_text(group: Group, body: bytes, now_ns: int) -> _Parsed:
    key = group.key

    def resolve(labels: Labels) -> int:
        return group.resolve(_final(labels, key))

    try:
        p = parse(body, "text/plain; version=0.0.4", group.raw, resolve, 0)
    except ExpositionError as e:
        raise PushError(f"text format parsing error in line {e.line}: {e.reason}") from None
    if len(p.has_timestamps) and p.has_timestamps.any():
        raise _Inconsistent("pushed metrics must not have timestamps")
    types = {n: ("untyped" if m.type == "unknown" else m.type) for n, m in p.metadata.items()}
    helps = {n: m.help for n, m in p.metadata.items()}
    if types or helps:
        _check_metadata_lines(body)
    # Family per sample: resolve each distinct metric name once, then one array lookup.
    nids = group.name_array()[p.refs]
    uniq, inverse = np.unique(nids, return_inverse=True)
    by_id = {i: n for n, i in group.names.items()}
    fams = [_family_of(by_id[int(i)], types) for i in uniq.tolist()]
    out = _split(fams, inverse, p.refs, p.values, types, helps, now_ns)
    if any(group.bad_bounds):
        _check_bounds(group, body, out)
    return _Parsed(out, len(p.refs))


_META_LINE = re.compile(rb"^[ \t]*#[ \t]+(HELP|TYPE)[ \t]+([^ \t\n]+)", re.MULTILINE)


def _line_of(body: bytes, pos: int) -> int:
    return body.count(b"\n", 0, pos) + 1


def _check_metadata_lines(body: bytes) -> None:
    """The text format rules Pushgateway's parser adds to Prometheus' scrape parser:
    one HELP and one TYPE per metric name, and TYPE before the name's samples."""
    seen: set[tuple[bytes, bytes]] = set()
    for m in _META_LINE.finditer(body):
        kind, name = m.group(1), m.group(2)
        where = f"text format parsing error in line {_line_of(body, m.start())}: "
        if (kind, name) in seen:
            if kind == b"HELP":
                raise PushError(where + f'second HELP line for metric name "{name.decode()}"')
            raise PushError(
                where + f'second TYPE line for metric name "{name.decode()}", '
                "or TYPE reported after samples"
            )
        seen.add((kind, name))
        if kind == b"TYPE":
            before = body[: m.start()]
            if any(
                before.startswith(name + sep) or (b"\n" + name + sep) in before
                for sep in (b"{", b" ", b"\t")
            ):
                raise PushError(
                    where + f'second TYPE line for metric name "{name.decode()}", '
                    "or TYPE reported after samples"
                )


def _check_bounds(group: Group, body: bytes, families: Mapping[str, Family]) -> None:
    """Histogram ``le`` and summary ``quantile`` values must be floats (Pushgateway)."""
    bad = np.array(group.bad_bounds, dtype=np.int64)
    for f in families.values():
        bit, label = {"histogram": (1, "le"), "summary": (2, "quantile")}.get(f.type, (0, ""))
        hits = f.idx[(bad[f.idx] & bit) != 0] if bit else f.idx[:0]
        if len(hits):
            i = int(hits[0])
            raw = next((k for k, v in group.raw.items() if v == i), b"")
            pos = body.find(raw) if raw else -1
            line = _line_of(body, pos) if pos >= 0 else 0
            value = group.table[i].get(label)
            raise PushError(
                f"text format parsing error in line {line}: "
                f"expected float as value for '{label}' label, got \"{value}\""
            )


def _split(
    fams: list[str],
    inverse: NDArray[np.intp],
    refs: NDArray[np.int64],
    values: NDArray[np.float64],
    types: Mapping[str, str],
    helps: Mapping[str, str],
    now_ns: int,
) -> dict[str, Family]:
    """Group samples into families: sample ``k`` belongs to ``fams[inverse[k]]``."""
    out: dict[str, Family] = {}
    if not len(refs):
        return out
    # Several metric names can share a family (x_bucket, x_sum, x_count): renumber.
    fam_index: dict[str, int] = {}
    fam_of_name = np.array([fam_index.setdefault(f, len(fam_index)) for f in fams])
    per_sample = fam_of_name[inverse]
    names = list(fam_index)
    if len(names) == 1:
        (name,) = names
        return {
            name: Family(
                name, types.get(name, "untyped"), helps.get(name, ""), now_ns, refs, values
            )
        }
    order = np.argsort(per_sample, kind="stable")
    bounds = np.searchsorted(per_sample[order], np.arange(len(names) + 1))
    for k, name in enumerate(names):
        sel = order[bounds[k] : bounds[k + 1]]
        out[name] = Family(
            name, types.get(name, "untyped"), helps.get(name, ""), now_ns, refs[sel], values[sel]
        )
    return out


def _check_name(name: str, what: str) -> None:
    if not METRIC_NAME_RE.match(name):
        raise _Inconsistent(f"{what}: invalid metric name {name!r}")


def _parse_protobuf(group: Group, body: bytes, now_ns: int) -> _Parsed:
    try:
        fams = decode_delimited(body)
    except ProtobufError as e:
        raise PushError(f"protobuf parsing error: {e}") from None
    out: dict[str, Family] = {}
    n = 0
    for pf in fams:
        _check_name(pf.name, "protobuf MetricFamily")
        mtype = pf.type if pf.type in ("counter", "gauge", "summary", "histogram") else "untyped"
        idx: list[int] = []
        vals: list[float] = []
        implicit: list[bool] = []
        for labels, value in _expand(pf, implicit):
            idx.append(group.resolve(_final(labels, group.key)))
            vals.append(value)
        n += len(idx)
        # A later family of the same name wins, as in Pushgateway's map.
        out[pf.name] = Family(
            pf.name,
            mtype,
            pf.help,
            now_ns,
            np.array(idx, dtype=np.int64),
            np.array(vals, dtype=np.float64),
            implicit_inf=bool(implicit) and all(implicit),
        )
    return _Parsed({k: v for k, v in out.items() if len(v.idx)}, n)


def _expand(
    pf: ProtoFamily, implicit_inf: list[bool]
) -> Iterable[tuple[list[tuple[str, str]], float]]:
    """The samples a protobuf family exposes in the text format, with their labels.

    Appends to ``implicit_inf`` whether each histogram metric lacked its ``+Inf`` bucket.
    """
    name = pf.name
    for m in pf.metrics:
        if m.timestamp_ms is not None:
            raise _Inconsistent("pushed metrics must not have timestamps")
        seen: set[str] = set()
        for k, _ in m.labels:
            if not LABEL_NAME_RE.match(k) or k.startswith("__"):
                raise _Inconsistent(f"metric {name!r}: invalid label name {k!r}")
            if k in seen:
                raise _Inconsistent(f"metric {name!r}: duplicate label name {k!r}")
            seen.add(k)
        base = [(METRIC_NAME, name), *m.labels]
        if pf.type == "summary":
            for q, v in m.points:
                yield [*base, ("quantile", format_openmetrics_float(q))], v
            yield [(METRIC_NAME, name + "_sum"), *m.labels], m.sum
            yield [(METRIC_NAME, name + "_count"), *m.labels], m.count
        elif pf.type in ("histogram", "gaugehistogram"):
            has_inf = False
            for bound, c in m.points:
                has_inf = has_inf or math.isinf(bound) and bound > 0
                le = format_openmetrics_float(bound)
                yield [(METRIC_NAME, name + "_bucket"), *m.labels, ("le", le)], c
            implicit_inf.append(not has_inf)
            if not has_inf:  # the text format always shows the +Inf bucket
                yield [(METRIC_NAME, name + "_bucket"), *m.labels, ("le", "+Inf")], m.count
            yield [(METRIC_NAME, name + "_sum"), *m.labels], m.sum
            yield [(METRIC_NAME, name + "_count"), *m.labels], m.count
        else:
            yield base, m.value
