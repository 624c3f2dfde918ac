"""The inverted index: label name → value → sorted series refs.

Used by the head and by every loaded block so that ``=``, ``!=``, ``=~`` and ``!~``
select series without scanning all of them: equality is one lookup, a regex is tested
once per distinct *value* of its label (not per series), and negative or empty-matching
matchers subtract from the set instead of enumerating it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import reduce

import numpy as np
from numpy.typing import NDArray

from promhub.model.labels import Labels
from promhub.model.matcher import Matcher, MatchType

RefArray = NDArray[np.int64]
_EMPTY: RefArray = np.empty(0, dtype=np.int64)


class MemPostings:
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


_INVERSE = {
    MatchType.EQUAL: MatchType.NOT_EQUAL,
    MatchType.NOT_EQUAL: MatchType.EQUAL,
    MatchType.REGEX: MatchType.NOT_REGEX,
    MatchType.NOT_REGEX: MatchType.REGEX,
}
