"""file_sd: targets read from YAML or JSON files, re-read when they change.

Prometheus watches the files with inotify and also re-reads them every
``refresh_interval``. We poll ``stat()`` every few seconds instead: it needs no extra
dependency, works on network filesystems where inotify is silent, and a few ``stat``
calls cost nothing next to a scrape.

Semantics follow Prometheus' file discovery:

- each entry of ``files`` may hold glob characters in its last path element;
- ``.json`` files are JSON, ``.yml``/``.yaml`` files are YAML, anything else is an error;
- group ``i`` of file ``f`` has source ``f"{f}:{i}"`` and the label ``__meta_filepath``;
- a file that cannot be read or parsed keeps the groups it had before, and counts in
  ``prometheus_sd_file_read_errors_total``; a file that is gone loses its groups.
"""

from __future__ import annotations

import asyncio
import glob
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import yaml
from prometheus_client import Counter, Summary

from promhub.config.model import FileSDConfig
from promhub.discovery.targetgroup import DiscoveryError, TargetGroup, groups_from_document

log = logging.getLogger(__name__)

#: Label naming the file a target came from.
FILEPATH_LABEL = "__meta_filepath"

#: How often file modification is checked unless the manager says otherwise.
DEFAULT_POLL_INTERVAL = 2.0

READ_ERRORS = Counter(
    "prometheus_sd_file_read_errors_total",
    "The number of File-SD read errors.",
)
SCAN_DURATION = Summary(
    "prometheus_sd_file_scan_duration_seconds",
    "The duration of the File-SD scan in seconds.",
)

_EXTENSIONS = {".json": "json", ".yml": "yaml", ".yaml": "yaml"}


@dataclass(frozen=True, slots=True)
class _Stamp:
    """What must stay equal for a file to count as unchanged since it was last read."""

    mtime_ns: int
    size: int
    inode: int


def read_target_file(path: str) -> list[TargetGroup]:
    """Read and validate one target file; raises :class:`DiscoveryError` or ``OSError``."""
    kind = _EXTENSIONS.get(os.path.splitext(path)[1].lower())
    if kind is None:
        raise DiscoveryError(f"{path}: invalid file extension, want .json, .yml or .yaml")
    with open(path, "rb") as f:
        data = f.read()
    try:
        doc: object = json.loads(data) if kind == "json" else yaml.safe_load(data)
    except (ValueError, yaml.YAMLError) as e:
        # json.JSONDecodeError and UnicodeDecodeError are ValueErrors; both name a position.
        raise DiscoveryError(f"{path}: {e}") from None
    return groups_from_document(
        doc,
        source_prefix=path,
        where=path,
        extra_labels={FILEPATH_LABEL: path},
        yaml_scalars=kind == "yaml",
    )


class FileProvider:
    """Discovers targets from the files of one ``file_sd_configs`` entry."""

    def __init__(self, config: FileSDConfig, poll_interval: float = DEFAULT_POLL_INTERVAL) -> None:
        self._config = config
        self._poll_interval = poll_interval
        self._stamps: dict[str, _Stamp] = {}
        self._groups: dict[str, list[TargetGroup]] = {}

    async def run(self, send: Callable[[list[TargetGroup]], None]) -> None:
        """Report the groups of all files, then again whenever they change."""
        last_full = -float("inf")
        while True:
            now = time.monotonic()
            full = now - last_full >= self._config.refresh_interval
            if full:
                last_full = now
            # Globbing, stat and parsing touch the disk and a big file takes a while to
            # parse, so keep them off the event loop.
            changed = await asyncio.to_thread(self._scan, full)
            if changed:
                send([g for groups in self._groups.values() for g in groups])
            await asyncio.sleep(self._poll_interval)

    def _scan(self, full: bool) -> bool:
        """Re-read new and modified files (all files if ``full``); True if groups changed."""
        with SCAN_DURATION.time():
            stamps: dict[str, _Stamp] = {}
            groups: dict[str, list[TargetGroup]] = {}
            for path in self._list_files():
                try:
                    st = os.stat(path)
                except OSError:
                    continue  # Vanished since globbing: treated like a deleted file.
                stamp = _Stamp(st.st_mtime_ns, st.st_size, st.st_ino)
                stamps[path] = stamp
                if not full and self._stamps.get(path) == stamp and path in self._groups:
                    groups[path] = self._groups[path]
                    continue
                try:
                    groups[path] = read_target_file(path)
                except Exception as e:  # Whatever is wrong with the file, keep its targets.
                    READ_ERRORS.inc()
                    log.error(
                        "file_sd: error reading %s, keeping its previous targets: %s", path, e
                    )
                    if path in self._groups:
                        groups[path] = self._groups[path]
            changed = groups != self._groups
            self._stamps, self._groups = stamps, groups
            return changed

    def _list_files(self) -> list[str]:
        paths: set[str] = set()
        for pattern in self._config.files:
            if glob.has_magic(pattern):
                # Like Go's filepath.Glob, "*" also matches names starting with a dot.
                paths.update(glob.glob(pattern, include_hidden=True))
            elif os.path.exists(pattern):
                paths.add(pattern)
        return sorted(paths)
