"""Dashboard store: Grafana dashboard models kept as JSON files for the console.

Imported dashboards live as ``<storage.tsdb.path>/dashboards/<uid>.json``; starter dashboards
ship with promhub in ``promhub/web/dashboards/*.json`` and are read-only ("built-in"). Models
are Grafana's own JSON (a dashboard exported from Grafana imports here unchanged and the
starter dashboards import into Grafana unchanged), so validation checks only what the
console needs to draw a dashboard and reports the first problem by its JSON path, e.g.
``panels[3].targets[0].expr: must be a string``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
import threading
from pathlib import Path
from typing import Any

#: The starter dashboards shipped in the package.
BUILTIN_DIR = Path(__file__).parent / "dashboards"
#: Largest dashboard accepted: Grafana's big community dashboards are a few hundred KB.
MAX_BYTES = 2 * 1024 * 1024
#: Grafana's uid rule: at most 40 characters of letters, digits, '-' and '_'.
UID_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


class DashboardError(ValueError):
    """A dashboard that cannot be stored; the message names the problem."""


class ReadOnlyError(DashboardError):
    """A write to a built-in dashboard."""


def parse_dashboard(raw: bytes | str) -> dict[str, Any]:
    """Parse and validate an import body; returns the bare dashboard model.

    Accepts the bare model or Grafana's import wrapper ``{"dashboard": {...}, ...}``.
    Assigns a uid when the model has none and drops Grafana's numeric ``id`` (meaningless
    outside the Grafana it came from).
    """
    if len(raw) > MAX_BYTES:
        raise DashboardError(f"dashboard is {len(raw)} bytes, more than the {MAX_BYTES} allowed")
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        where = (
            f" at line {e.lineno} column {e.colno}" if isinstance(e, json.JSONDecodeError) else ""
        )
        msg = e.msg if isinstance(e, json.JSONDecodeError) else str(e)
        raise DashboardError(f"invalid JSON{where}: {msg}") from None
    if not isinstance(doc, dict):
        raise DashboardError("dashboard must be a JSON object")
    if isinstance(doc.get("dashboard"), dict) and "panels" not in doc:
        doc = doc["dashboard"]
    _validate(doc)
    uid = doc.get("uid")
    if uid in (None, ""):
        doc["uid"] = secrets.token_urlsafe(9).replace("_", "x").replace("-", "y")
    doc.pop("id", None)
    model: dict[str, Any] = doc
    return model


def _validate(doc: dict[str, Any]) -> None:
    title = doc.get("title")
    if not isinstance(title, str) or not title.strip():
        raise DashboardError("title: missing (a dashboard needs a non-empty title)")
    uid = doc.get("uid")
    if uid not in (None, "") and (not isinstance(uid, str) or not UID_RE.match(uid)):
        raise DashboardError(
            f"uid: {uid!r} is not 1-40 letters, digits, '-' or '_' (Grafana's uid rule)"
        )
    tags = doc.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise DashboardError("tags: must be a list of strings")
    panels = doc.get("panels", [])
    if not isinstance(panels, list):
        raise DashboardError("panels: must be a list")
    for i, p in enumerate(panels):
        _validate_panel(p, f"panels[{i}]")
    # Dashboards from before Grafana 5 (schemaVersion < 16) keep their panels in `rows`.
    rows = doc.get("rows", [])
    if not isinstance(rows, list):
        raise DashboardError("rows: must be a list")
    for i, r in enumerate(rows):
        if not isinstance(r, dict) or not isinstance(r.get("panels", []), list):
            raise DashboardError(f"rows[{i}]: must be an object with a list of panels")
        for k, p in enumerate(r.get("panels", [])):
            _validate_panel(p, f"rows[{i}].panels[{k}]")
    templating = doc.get("templating", {})
    if not isinstance(templating, dict) or not isinstance(templating.get("list", []), list):
        raise DashboardError("templating: must be an object with a list")
    for i, v in enumerate(templating.get("list", [])):
        where = f"templating.list[{i}]"
        if not isinstance(v, dict):
            raise DashboardError(f"{where}: must be an object")
        name = v.get("name")
        if not isinstance(name, str) or not re.match(r"^\w+$", name):
            raise DashboardError(f"{where}: missing name (letters, digits and '_')")


def _validate_panel(p: Any, where: str) -> None:
    if not isinstance(p, dict):
        raise DashboardError(f"{where}: must be an object")
    if not isinstance(p.get("type"), str) or not p["type"]:
        raise DashboardError(f"{where}: missing type")
    grid = p.get("gridPos")
    if grid is not None:
        if not isinstance(grid, dict):
            raise DashboardError(f"{where}.gridPos: must be an object")
        for key in ("h", "w", "x", "y"):
            if key in grid and not isinstance(grid[key], int | float):
                raise DashboardError(f"{where}.gridPos.{key}: must be a number")
    targets = p.get("targets", [])
    if not isinstance(targets, list):
        raise DashboardError(f"{where}.targets: must be a list")
    for j, t in enumerate(targets):
        tw = f"{where}.targets[{j}]"
        if not isinstance(t, dict):
            raise DashboardError(f"{tw}: must be an object")
        if _is_expression_target(t):
            continue
        # A target without expr is an empty query (row panels of Grafana 9+ exports carry
        # one, and an unfinished query saves that way): Grafana draws nothing for it, and
        # the console skips it likewise.
        if "expr" in t and not isinstance(t["expr"], str):
            raise DashboardError(f"{tw}.expr: must be a string")
    nested = p.get("panels", [])
    if not isinstance(nested, list):
        raise DashboardError(f"{where}.panels: must be a list")
    for k, q in enumerate(nested):
        _validate_panel(q, f"{where}.panels[{k}]")


def _is_expression_target(t: dict[str, Any]) -> bool:
    """Grafana server-side expressions (math/reduce over other queries) carry no PromQL."""
    ds = t.get("datasource")
    return isinstance(ds, dict) and ds.get("type") == "__expr__"


def summary(doc: dict[str, Any], builtin: bool) -> dict[str, Any]:
    """The list entry of a dashboard: uid, title, tags, panel count (rows excluded).

    Counts the panels of legacy (pre-Grafana 5) ``rows`` too, so such a dashboard does not
    list as empty.
    """

    def count(panels: list[Any]) -> int:
        n = 0
        for p in panels:
            if isinstance(p, dict):
                n += count(p.get("panels", [])) if p.get("type") == "row" else 1
        return n

    return {
        "uid": doc.get("uid", ""),
        "title": doc.get("title", ""),
        "tags": doc.get("tags", []),
        "panels": count(doc.get("panels", []))
        + sum(count(r.get("panels", [])) for r in doc.get("rows", []) if isinstance(r, dict)),
        "builtin": builtin,
    }


class DashboardStore:
    """Imported dashboards in ``directory`` plus the read-only built-in ones."""

    def __init__(self, directory: Path, builtin_dir: Path = BUILTIN_DIR) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._builtin: dict[str, dict[str, Any]] = {}
        for f in sorted(builtin_dir.glob("*.json")):
            doc = parse_dashboard(f.read_bytes())
            self._builtin[doc["uid"]] = doc

    def is_builtin(self, uid: str) -> bool:
        return uid in self._builtin

    def _path(self, uid: str) -> Path:
        # The uid rule keeps the name inside the directory (no '/', no '..').
        if not UID_RE.match(uid):
            raise DashboardError(f"uid: {uid!r} is not a valid dashboard uid")
        return self.directory / f"{uid}.json"

    def _imported(self) -> list[dict[str, Any]]:
        out = []
        if self.directory.is_dir():
            for f in sorted(self.directory.glob("*.json")):
                try:
                    out.append(json.loads(f.read_bytes()))
                except (OSError, ValueError):
                    continue  # a half-written or hand-broken file is skipped, not fatal
        return out

    def list(self) -> list[dict[str, Any]]:
        """Built-in dashboards first, then imported ones, each group by title."""
        items = [summary(d, True) for d in self._builtin.values()]
        items.sort(key=lambda s: s["title"].lower())
        imported = [summary(d, False) for d in self._imported() if isinstance(d, dict)]
        imported.sort(key=lambda s: str(s["title"]).lower())
        return items + imported

    def get(self, uid: str) -> tuple[dict[str, Any], bool] | None:
        """(model, builtin) or None."""
        if uid in self._builtin:
            return self._builtin[uid], True
        if not UID_RE.match(uid):
            return None
        try:
            doc = json.loads(self._path(uid).read_bytes())
        except (OSError, ValueError):
            return None
        return (doc, False) if isinstance(doc, dict) else None

    def save(self, raw: bytes | str) -> dict[str, Any]:
        """Validate and store (replacing a dashboard with the same uid); returns its summary."""
        doc = parse_dashboard(raw)
        if doc["uid"] in self._builtin:
            raise ReadOnlyError(
                f"uid: {doc['uid']!r} is a built-in dashboard; give the copy another uid"
            )
        data = json.dumps(doc, indent=2, ensure_ascii=False).encode()
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            # Write-then-rename, so a crash never leaves a torn dashboard behind.
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".part")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, self._path(doc["uid"]))
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return summary(doc, False)

    def delete(self, uid: str) -> bool:
        """Remove an imported dashboard; False if there is none with that uid."""
        if uid in self._builtin:
            raise ReadOnlyError(f"{uid!r} is a built-in dashboard and cannot be deleted")
        if not UID_RE.match(uid):
            return False
        with self._lock:
            try:
                self._path(uid).unlink()
            except FileNotFoundError:
                return False
        return True
