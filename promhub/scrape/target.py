"""Scrape targets: from discovered target groups to labelled, scheduled endpoints.

:func:`targets_from_groups` is Prometheus' ``PopulateLabels``: each discovered target gets
the scrape config's defaults as ``__``-labels (``__scheme__``, ``__metrics_path__``, …),
goes through ``relabel_configs``, and comes out either as a :class:`Target` (with its
final labels, URL, interval and timeout) or as a dropped target, remembered with its
discovered labels so the targets API can show why it is not scraped.
"""

from __future__ import annotations

import enum
import hashlib
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

from promhub.config.model import ScrapeConfig
from promhub.discovery.targetgroup import TargetGroup
from promhub.model.labels import RESERVED_PREFIX, Labels
from promhub.model.relabel import relabel

ADDRESS_LABEL = "__address__"
SCHEME_LABEL = "__scheme__"
METRICS_PATH_LABEL = "__metrics_path__"
SCRAPE_INTERVAL_LABEL = "__scrape_interval__"
SCRAPE_TIMEOUT_LABEL = "__scrape_timeout__"
PARAM_LABEL_PREFIX = "__param_"
META_LABEL_PREFIX = "__meta_"
JOB_LABEL = "job"
INSTANCE_LABEL = "instance"

_DURATION_RE = re.compile(
    r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$"
)
_DURATION_UNITS_MS = (
    ("y", 365 * 86_400_000),
    ("w", 7 * 86_400_000),
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1000),
    ("ms", 1),
)


def format_duration(seconds: float) -> str:
    """Spell a duration the way Prometheus prints one (``15s``, ``1m30s``, ``200ms``)."""
    ms = round(seconds * 1000)
    if ms == 0:
        return "0s"
    out = []
    for unit, size in _DURATION_UNITS_MS:
        if ms >= size:
            out.append(f"{ms // size}{unit}")
            ms %= size
    return "".join(out)


def parse_duration(text: str) -> float:
    """Parse a Prometheus duration (``1m30s``) into seconds; raises ValueError."""
    m = _DURATION_RE.match(text)
    if not text or m is None:
        raise ValueError(f"not a valid duration string: {text!r}")
    ms = 0
    for (_, size), part in zip(_DURATION_UNITS_MS, m.groups(), strict=True):
        if part:
            ms += int(part) * size
    return ms / 1000


class Health(enum.Enum):
    """A target's health as the targets API reports it."""

    UNKNOWN = "unknown"
    UP = "up"
    DOWN = "down"


@dataclass(eq=False, slots=True)
class Target:
    """One endpoint to scrape, with its labels and the outcome of its last scrape.

    ``labels`` are what every scraped series gets (no ``__``-labels); ``internal`` keeps
    the full relabelled set (``__address__``, ``__param_*`` …) the URL is built from;
    ``discovered`` is the set before relabeling.
    """

    labels: Labels
    internal: Labels
    discovered: Labels
    url: str
    interval: float
    timeout: float
    #: Stable identity within a pool: same labels and URL → same hash.
    hash: int
    health: Health = Health.UNKNOWN
    last_error: str = ""
    #: Wall-clock seconds of the last scrape's start; 0 before the first one.
    last_scrape: float = 0.0
    last_duration: float = 0.0
    last_samples: int = 0

    def offset(self, seed: int, now: float | None = None) -> float:
        """Seconds from ``now`` to this target's next scrape slot.

        As in Prometheus, a hash of the target (mixed with a per-server seed, so several
        servers scraping one target spread out) picks a fixed phase within the interval;
        every scrape of the target then lands on that phase, evenly spaced, and the
        targets of a pool spread over the interval instead of all firing at once.
        """
        interval_ms = max(1, round(self.interval * 1000))
        now_ms = int((time.time() if now is None else now) * 1000)
        phase = (self.hash ^ seed) % interval_ms
        wait = (phase - now_ms) % interval_ms
        return wait / 1000

    def api_dict(self, pool: str) -> dict[str, object]:
        """This target as an entry of ``/api/v1/targets``' ``activeTargets``."""
        return {
            "discoveredLabels": self.discovered.to_dict(),
            "labels": self.labels.to_dict(),
            "scrapePool": pool,
            "scrapeUrl": self.url,
            "globalUrl": self.url,
            "lastError": self.last_error,
            "lastScrape": _rfc3339(self.last_scrape),
            "lastScrapeDuration": self.last_duration,
            "health": self.health.value,
            "scrapeInterval": format_duration(self.interval),
            "scrapeTimeout": format_duration(self.timeout),
        }


def _rfc3339(t: float) -> str:
    if t <= 0:
        # Go's zero time, which is what Prometheus reports before the first scrape.
        return "0001-01-01T00:00:00Z"
    whole = int(t)
    frac = f"{t - whole:.9f}"[1:].rstrip("0").rstrip(".")
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + frac + "Z"


@dataclass(slots=True)
class TargetSet:
    """The outcome of turning a pool's target groups into targets."""

    targets: list[Target] = field(default_factory=list)
    #: Discovered label sets of targets dropped by relabeling or invalid after it.
    dropped: list[Labels] = field(default_factory=list)
    #: One message per target that could not be built (no address, bad interval…).
    errors: list[str] = field(default_factory=list)


def target_hash(internal: Labels, url: str) -> int:
    """A 63-bit identity of a target (labels and URL), stable across restarts."""
    h = hashlib.blake2b(digest_size=8)
    for k, v in internal:
        h.update(k.encode())
        h.update(b"\xff")
        h.update(v.encode())
        h.update(b"\xff")
    h.update(url.encode())
    return int.from_bytes(h.digest(), "little") >> 1


def offset_seed(hostname: str, external_labels: Mapping[str, str]) -> int:
    """The per-server seed that shifts all of this server's scrape phases."""
    h = hashlib.blake2b(digest_size=8)
    h.update(hostname.encode())
    for k, v in sorted(external_labels.items()):
        h.update(b"\xff" + k.encode() + b"\xff" + v.encode())
    return int.from_bytes(h.digest(), "little") >> 1


def target_url(internal: Labels, params: Mapping[str, list[str]]) -> str:
    """The scrape URL: scheme, address and path from labels, query from ``params``.

    A ``__param_<name>`` label replaces the first value of that parameter, as in
    Prometheus, so relabeling can route a target through e.g. a blackbox exporter.
    """
    d = internal.to_dict()
    query: dict[str, list[str]] = {k: list(v) for k, v in params.items()}
    for k, v in internal:
        if k.startswith(PARAM_LABEL_PREFIX):
            name = k[len(PARAM_LABEL_PREFIX) :]
            if query.get(name):
                query[name][0] = v
            else:
                query[name] = [v]
    url = f"{d.get(SCHEME_LABEL, 'http')}://{d.get(ADDRESS_LABEL, '')}"
    url += d.get(METRICS_PATH_LABEL, "/metrics")
    if query:
        url += "?" + urlencode(sorted(query.items()), doseq=True)
    return url


def populate_labels(
    cfg: ScrapeConfig, target: Mapping[str, str], group_labels: Mapping[str, str]
) -> tuple[Labels | None, Labels]:
    """Relabel one discovered target: ``(final internal labels or None, discovered)``.

    Raises ValueError with the reason when the target survives relabeling but cannot be
    scraped (no ``__address__``, a bad interval label, timeout above interval).
    """
    lb: dict[str, str] = dict(target)
    for k, v in group_labels.items():
        # A target's own labels win over its group's, as in Prometheus.
        if k not in lb:
            lb[k] = v
    defaults = (
        (JOB_LABEL, cfg.job_name),
        (SCRAPE_INTERVAL_LABEL, format_duration(cfg.scrape_interval)),
        (SCRAPE_TIMEOUT_LABEL, format_duration(cfg.scrape_timeout)),
        (METRICS_PATH_LABEL, cfg.metrics_path),
        (SCHEME_LABEL, cfg.scheme),
    )
    for k, v in defaults:
        if not lb.get(k):
            lb[k] = v
    for name, values in cfg.params.items():
        key = PARAM_LABEL_PREFIX + name
        if values and not lb.get(key):
            lb[key] = values[0]
    discovered = Labels.from_dict(lb)
    out = relabel(discovered, cfg.relabel_configs)
    if out is None:
        return None, discovered
    res = out.to_dict()
    addr = res.get(ADDRESS_LABEL, "")
    if not addr:
        raise ValueError("no address")
    if "/" in addr:
        raise ValueError(f"{addr!r} is not a valid hostname")
    interval = parse_duration(res.get(SCRAPE_INTERVAL_LABEL, ""))
    timeout = parse_duration(res.get(SCRAPE_TIMEOUT_LABEL, ""))
    if interval <= 0:
        raise ValueError("scrape interval cannot be 0")
    if timeout <= 0:
        raise ValueError("scrape timeout cannot be 0")
    if timeout > interval:
        raise ValueError(
            f"scrape timeout cannot be greater than scrape interval "
            f"({res[SCRAPE_TIMEOUT_LABEL]!r} > {res[SCRAPE_INTERVAL_LABEL]!r})"
        )
    for k in [k for k in res if k.startswith(META_LABEL_PREFIX)]:
        del res[k]
    if not res.get(INSTANCE_LABEL):
        res[INSTANCE_LABEL] = addr
    return Labels.from_dict(res), discovered


def build_target(cfg: ScrapeConfig, internal: Labels, discovered: Labels) -> Target:
    """A :class:`Target` from labels that passed :func:`populate_labels`."""
    d = internal.to_dict()
    url = target_url(internal, cfg.params)
    return Target(
        labels=Labels(p for p in internal if not p[0].startswith(RESERVED_PREFIX)),
        internal=internal,
        discovered=discovered,
        url=url,
        interval=parse_duration(d[SCRAPE_INTERVAL_LABEL]),
        timeout=parse_duration(d[SCRAPE_TIMEOUT_LABEL]),
        hash=target_hash(internal, url),
    )


def targets_from_groups(cfg: ScrapeConfig, groups: Iterable[TargetGroup]) -> TargetSet:
    """All targets of a pool's groups, deduplicated (first occurrence wins)."""
    out = TargetSet()
    seen: set[int] = set()
    for group in groups:
        for i, t in enumerate(group.targets):
            try:
                internal, discovered = populate_labels(cfg, t, group.labels)
            except ValueError as e:
                out.errors.append(f"group {group.source!r} target {i} ({dict(t)}): {e}")
                out.dropped.append(Labels.from_dict({**group.labels, **t}))
                continue
            if internal is None:
                out.dropped.append(discovered)
                continue
            target = build_target(cfg, internal, discovered)
            if target.hash in seen:
                continue
            seen.add(target.hash)
            out.targets.append(target)
    return out
