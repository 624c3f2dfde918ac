"""The notification log kept on disk, so a restart neither re-notifies within
``repeat_interval`` nor forgets that a receiver was told of alerts now resolved."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time

from promhub.alerting.dispatch import NotifyLog, _LogEntry

__all__ = ["PersistentNotifyLog"]

log = logging.getLogger(__name__)

#: Alertmanager's ``--data.retention`` default: entries older than this are dropped.
DEFAULT_RETENTION = 120 * 3600.0
_VERSION = 1


class PersistentNotifyLog(NotifyLog):
    """A :class:`NotifyLog` loaded from and saved to a JSON file.

    Saving is explicit (:meth:`save`) so the pipeline can batch many records of one
    burst of flushes into a single write; the write is atomic (temp file + rename).
    """

    def __init__(self, path: str, retention: float = DEFAULT_RETENTION) -> None:
        super().__init__()
        self.path = path
        self.retention = retention
        self.load()

    def load(self) -> None:
        """Read the file if present; a damaged file is logged and ignored (the cost is
        at most one repeated notification, not a refusal to start)."""
        try:
            with open(self.path, encoding="utf-8") as f:
                doc = json.load(f)
            for e in doc["entries"]:
                self.entries[(e["integration"], e["group_key"])] = _LogEntry(
                    frozenset(int(x, 16) for x in e["firing"]),
                    frozenset(int(x, 16) for x in e["resolved"]),
                    float(e["at"]),
                )
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.warning("notification log %s unreadable, starting empty: %s", self.path, e)
            self.entries.clear()

    def save(self, now: float | None = None) -> None:
        """Drop entries past retention and write the rest."""
        cutoff = (time.time() if now is None else now) - self.retention
        for k in [k for k, e in self.entries.items() if e.at < cutoff]:
            del self.entries[k]
        doc = {
            "version": _VERSION,
            "entries": [
                {
                    "integration": integ,
                    "group_key": gk,
                    "firing": sorted(f"{fp:016x}" for fp in e.firing),
                    "resolved": sorted(f"{fp:016x}" for fp in e.resolved),
                    "at": e.at,
                }
                for (integ, gk), e in self.entries.items()
            ],
        }
        d = os.path.dirname(self.path) or "."
        os.makedirs(d, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".nflog", dir=d)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(doc, f, separators=(",", ":"))
            os.replace(tmp, self.path)
        except BaseException:
            os.unlink(tmp)
            raise
