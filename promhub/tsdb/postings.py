"""The inverted index: label name → value → sorted series refs.

Used by the head and by every loaded block so that ``=``, ``!=``, ``=~`` and ``!~``
select series without scanning all of them: equality is one lookup, a regex is tested
once per distinct *value* of its label (not per series), and negative or empty-matching
matchers subtract from the set instead of enumerating it.

:class:`Postings` holds that matcher logic once; :class:`MemPostings` (the head: series
come and go) and :class:`BlockPostings` (an immutable block: one int32 array, a few bytes
per label) only store the lists.
"""

from __future__ import annotations

import bisect
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from functools import reduce

import numpy as np
from numpy.typing import NDArray

from promhub.model.labels import Labels
from promhub.model.matcher import Matcher, MatchType

RefArray = NDArray[np.int64]
_EMPTY: RefArray = np.empty(0, dtype=np.int64)


class Postings(ABC):
    """Matcher evaluation over an inverted index; subclasses say how lists are stored."""

    @abstractmethod
    def all(self) -> RefArray:
        """Sorted refs of every series."""

    @abstractmethod
    def get(self, name: str, value: str) -> RefArray:
        """Sorted refs of the series with label ``name="value"``."""

    @abstractmethod
    def label_names(self) -> list[str]:
        """Sorted label names."""

    @abstractmethod
    def label_values(self, name: str) -> list[str]:
        """Sorted values of label ``name``."""

    @abstractmethod
    def num_series(self) -> int:
        """Number of indexed series."""

    @abstractmethod
    def cardinality(self) -> dict[str, int]:
        """Distinct values per label name (for ``tsdb analyze`` and status pages)."""

    @abstractmethod
    def _union_matching(self, m: Matcher) -> RefArray:
        """Sorted refs of series that have label ``m.name`` with a value ``m`` matches."""

    @abstractmethod
    def _with_label(self, name: str) -> RefArray:
        """Sorted refs of series that have label ``name`` at all."""

    def select(self, matchers: Sequence[Matcher]) -> RefArray:
        """Sorted refs of the series matching every matcher."""
        positives: list[RefArray] = []
        negatives: list[RefArray] = []
        for m in matchers:
            if m.matches_empty():
                # Series lacking the label match too: subtract the ones whose value fails.
                inverse = Matcher.new(_INVERSE[m.type], m.name, m.value)
                if inverse.type is MatchType.NOT_EQUAL and inverse.value == "":
                    # `name=""`: exclude every series that has the label at all.
                    negatives.append(self._with_label(m.name))
                else:
                    negatives.append(self._union_matching(inverse))
            elif m.type in (MatchType.EQUAL, MatchType.REGEX):
                positives.append(self._union_matching(m))
            else:
                # `!=` / `!~` that does not match "": only series with the label qualify.
                has = self._with_label(m.name)
                inverse = Matcher.new(_INVERSE[m.type], m.name, m.value)
                positives.append(np.setdiff1d(has, self._union_matching(inverse), True))
        if positives:
            positives.sort(key=len)
            result = reduce(lambda a, b: np.intersect1d(a, b, assume_unique=True), positives)
        else:
            result = self.all()
        for neg in negatives:
            if len(result) == 0:
                break
            result = np.setdiff1d(result, neg, assume_unique=True)
        return result


class MemPostings(Postings):
    """Postings lists kept as Python lists while growing, frozen to arrays on read."""

    def __init__(self) -> None:
        self._lists: dict[str, dict[str, list[int]]] = {}
        self._frozen: dict[tuple[str, str], RefArray] = {}
        self._all: list[int] = []
        self._all_frozen: RefArray | None = None

    def add(self, ref: int, labels: Labels) -> None:
        """Index a series. Refs must be added in increasing order."""
        self._all.append(ref)
        self._all_frozen = None
        for name, value in labels:
            self._lists.setdefault(name, {}).setdefault(value, []).append(ref)
            self._frozen.pop((name, value), None)

    def remove(self, refs: Iterable[int], labels_of: Sequence[Labels | None]) -> None:
        """Drop series (head garbage collection)."""
        gone = set(refs)
        if not gone:
            return
        self._all = [r for r in self._all if r not in gone]
        self._all_frozen = None
        touched: set[tuple[str, str]] = set()
        for r in gone:
            ls = labels_of[r]
            if ls is not None:
                touched.update(ls)
        for name, value in touched:
            vals = self._lists.get(name)
            if vals is None or value not in vals:
                continue
            kept = [r for r in vals[value] if r not in gone]
            if kept:
                vals[value] = kept
            else:
                del vals[value]
                if not vals:
                    del self._lists[name]
            self._frozen.pop((name, value), None)

    def all(self) -> RefArray:
        if self._all_frozen is None:
            self._all_frozen = np.asarray(self._all, dtype=np.int64)
        return self._all_frozen

    def get(self, name: str, value: str) -> RefArray:
        key = (name, value)
        arr = self._frozen.get(key)
        if arr is None:
            lst = self._lists.get(name, {}).get(value)
            if lst is None:
                return _EMPTY
            arr = np.asarray(lst, dtype=np.int64)
            self._frozen[key] = arr
        return arr

    def label_names(self) -> list[str]:
        return sorted(self._lists)

    def label_values(self, name: str) -> list[str]:
        return sorted(self._lists.get(name, {}))

    def num_series(self) -> int:
        return len(self._all)

    def cardinality(self) -> dict[str, int]:
        """Distinct values per label name (for ``tsdb analyze`` and status pages)."""
        return {n: len(v) for n, v in self._lists.items()}

    def _union_matching(self, m: Matcher) -> RefArray:
        """Refs of series that have label ``m.name`` with a value ``m`` matches."""
        vals = self._lists.get(m.name, {})
        if m.type is MatchType.EQUAL:
            return self.get(m.name, m.value) if m.value else _EMPTY
        arrays = [self.get(m.name, v) for v in vals if m.matches(v)]
        if not arrays:
            return _EMPTY
        if len(arrays) == 1:
            return arrays[0]
        return np.unique(np.concatenate(arrays))

    def _with_label(self, name: str) -> RefArray:
        vals = self._lists.get(name, {})
        arrays = [self.get(name, v) for v in vals]
        if not arrays:
            return _EMPTY
        return np.unique(np.concatenate(arrays))


_INVERSE = {
    MatchType.EQUAL: MatchType.NOT_EQUAL,
    MatchType.NOT_EQUAL: MatchType.EQUAL,
    MatchType.REGEX: MatchType.NOT_REGEX,
    MatchType.NOT_REGEX: MatchType.REGEX,
}


class BlockPostings(Postings):
    """Immutable postings of a block, built once from its series' symbol ids.

    Every (name, value) list is a slice of ONE int32 array of refs, so a block costs
    4 bytes per label of a series instead of a Python list entry and a dict slot. Lists
    are ordered by name then value (symbol ids are assigned in string order), which keeps
    a name's lists contiguous: a regex tests each distinct value once, and "has this
    label" is one slice.
    """

    def __init__(
        self, symbols: Sequence[str], pairs: NDArray[np.int32], starts: NDArray[np.int64]
    ) -> None:
        """``symbols`` sorted; ``pairs[i]`` a label's (name id, value id); series ``r``'s
        labels are ``pairs[starts[r]:starts[r + 1]]``."""
        self._symbols = symbols
        self._n = len(starts) - 1
        nsym = max(len(symbols), 1)
        ref_of_pair = np.repeat(np.arange(self._n, dtype=np.int32), np.diff(starts))
        key = pairs[:, 0].astype(np.int64) * nsym + pairs[:, 1]
        # Stable, so each list's refs stay in increasing order.
        order = np.argsort(key, kind="stable")
        self._refs: NDArray[np.int32] = ref_of_pair[order]
        key = key[order]
        firsts = np.flatnonzero(np.diff(key)) + 1 if len(key) else np.empty(0, np.int64)
        list_lo = np.concatenate(([0], firsts)).astype(np.int64) if len(key) else firsts
        #: Per list: its start in ``_refs`` (one extra entry: the end of the last list).
        self._offsets: NDArray[np.int64] = np.append(list_lo, len(key)).astype(np.int64)
        self._value_ids: NDArray[np.int32] = (key[list_lo] % nsym).astype(np.int32)
        name_ids = key[list_lo] // nsym
        nfirst = np.flatnonzero(np.diff(name_ids)) + 1
        nlo = np.concatenate(([0], nfirst)).tolist() if len(name_ids) else []
        nhi = np.append(nfirst, len(name_ids)).tolist() if len(name_ids) else []
        #: Label name → its range of lists, in name order.
        self._names = {
            symbols[int(name_ids[lo])]: (lo, hi) for lo, hi in zip(nlo, nhi, strict=True)
        }

    def _list(self, k: int) -> NDArray[np.int32]:
        return self._refs[self._offsets[k] : self._offsets[k + 1]]

    def _find(self, name: str, value: str) -> int:
        """Index of the list of ``name="value"``, or -1."""
        rng = self._names.get(name)
        if rng is None:
            return -1
        sid = bisect.bisect_left(self._symbols, value)
        if sid == len(self._symbols) or self._symbols[sid] != value:
            return -1
        lo, hi = rng
        k = lo + int(np.searchsorted(self._value_ids[lo:hi], sid))
        return k if k < hi and int(self._value_ids[k]) == sid else -1

    def all(self) -> RefArray:
        return np.arange(self._n, dtype=np.int64)

    def get(self, name: str, value: str) -> RefArray:
        k = self._find(name, value)
        return _EMPTY if k < 0 else self._list(k).astype(np.int64)

    def label_names(self) -> list[str]:
        return list(self._names)

    def label_values(self, name: str) -> list[str]:
        lo, hi = self._names.get(name, (0, 0))
        return [self._symbols[v] for v in self._value_ids[lo:hi].tolist()]

    def num_series(self) -> int:
        return self._n

    def cardinality(self) -> dict[str, int]:
        return {n: hi - lo for n, (lo, hi) in self._names.items()}

    def _union_matching(self, m: Matcher) -> RefArray:
        if m.type is MatchType.EQUAL:
            return self.get(m.name, m.value) if m.value else _EMPTY
        lo, hi = self._names.get(m.name, (0, 0))
        syms = self._symbols
        ks = [lo + i for i, v in enumerate(self._value_ids[lo:hi].tolist()) if m.matches(syms[v])]
        if not ks:
            return _EMPTY
        if len(ks) == 1:
            return self._list(ks[0]).astype(np.int64)
        # A well-formed series has one value per name, so lists are disjoint; unique()
        # rather than sort() keeps the result a set even for a file that breaks that.
        return np.unique(np.concatenate([self._list(k) for k in ks])).astype(np.int64)

    def _with_label(self, name: str) -> RefArray:
        lo, hi = self._names.get(name, (0, 0))
        if lo == hi:
            return _EMPTY
        refs = self._refs[self._offsets[lo] : self._offsets[hi]]
        return np.unique(refs).astype(np.int64)
