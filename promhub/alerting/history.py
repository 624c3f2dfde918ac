"""Alert history: every state change and notification, bounded and persisted (promhub
extension; Alertmanager keeps no history and upstream declined to add one).

Events are appended, one JSON object a line, to ``history.jsonl`` under the alert
manager's data directory, so a crash loses at most the line being written and a restart
reads the history back. Memory and disk stay bounded: the newest ``max_events`` are kept;
once the file holds twice that many lines it is rewritten (atomically) with only the
kept ones, so the rewrite cost is amortised over ``max_events`` appends.

An event is a dict with ``time`` (Unix seconds), ``kind`` and the ``labels`` it concerns:

- state changes of one alert: ``kind`` ``"active"``, ``"suppressed"`` (with
  ``silencedBy``/``inhibitedBy``) or ``"resolved"``, plus ``fingerprint``;
- notifications: ``kind`` ``"notification"`` with ``receiver``, ``groupKey``, group
  ``labels`` and the ``alerts`` sent (fingerprint, labels, status).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from promhub.alerting.matcher import matches
from promhub.model.matcher import Matcher

__all__ = ["History"]

FILENAME = "history.jsonl"
DEFAULT_MAX_EVENTS = 100_000

log = logging.getLogger("promhub.alerting")


class History:
    """The bounded, append-only event log; ``data_dir`` None keeps it in memory only."""

    def __init__(self, data_dir: str | None, max_events: int = DEFAULT_MAX_EVENTS) -> None:
        self.max_events = max_events
        self.events: deque[dict[str, Any]] = deque(maxlen=max_events)
        self.path = os.path.join(data_dir, FILENAME) if data_dir else None
        self._lines = 0
        if self.path and os.path.exists(self.path):
            self._load(self.path)

    def _load(self, path: str) -> None:
        with open(path, encoding="utf-8") as f:
            for line in f:
                self._lines += 1
                try:
                    self.events.append(json.loads(line))
                except json.JSONDecodeError:
                    # A torn last line after a crash: skip it, keep the rest.
                    log.warning("skipping a damaged line %d of %s", self._lines, path)

    def add(self, event: dict[str, Any]) -> None:
        """Append one event (in memory and on disk)."""
        self.add_many((event,))

    def add_many(self, events: Iterable[dict[str, Any]]) -> None:
        """Append events with one write."""
        batch = list(events)
        if not batch:
            return
        self.events.extend(batch)
        if not self.path:
            return
        if self._lines + len(batch) > 2 * self.max_events:
            self._compact()
            return
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write("".join(_line(e) for e in batch))
        self._lines += len(batch)

    def _compact(self) -> None:
        assert self.path is not None
        d = os.path.dirname(self.path) or "."
        os.makedirs(d, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".history.", dir=d)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write("".join(_line(e) for e in self.events))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            os.unlink(tmp)
            raise
        self._lines = len(self.events)

    def query(
        self, start: float | None = None, end: float | None = None, matchers: Sequence[Matcher] = ()
    ) -> Iterator[dict[str, Any]]:
        """Events with ``start <= time <= end`` (oldest first) concerning labels all
        ``matchers`` accept (a notification matches if its group or one alert does)."""
        for e in self.events:
            t = e["time"]
            if (start is not None and t < start) or (end is not None and t > end):
                continue
            if matchers and not _event_matches(e, matchers):
                continue
            yield e


def _event_matches(e: dict[str, Any], ms: Sequence[Matcher]) -> bool:
    if matches(ms, e.get("labels", {})):
        return True
    return any(matches(ms, a.get("labels", {})) for a in e.get("alerts", ()))


def _line(e: dict[str, Any]) -> str:
    return json.dumps(e, separators=(",", ":"), ensure_ascii=False) + "\n"
