"""The rules manager: loads ``rule_files``, runs each group on its own schedule.

>>> m = RuleManager(engine, db, db, registry, notify=send)
>>> m.apply_config(cfg)      # raises ConfigError naming file:line on a bad rule file
>>> await m.run()            # until stop()

Each group is an asyncio task that sleeps until its next aligned evaluation time and
evaluates in a worker thread, so a slow query never blocks the event loop or other groups.
On reload a group whose definition did not change keeps its object (alerts, pending
times, series for staleness); a changed group takes over the state of same-named rules; a
removed group writes stale markers for its series, as Prometheus does.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import glob
import logging
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Summary

from promhub.config.model import Config, ConfigError
from promhub.promql.engine import Engine
from promhub.rules.group import Group, NotifyFunc, Settings
from promhub.rules.rule import Alert, Expand, no_expand
from promhub.rules.rulefile import GroupDef, RuleFileError, TemplateCheck, load_rule_file
from promhub.storage.interface import Appendable, Queryable

__all__ = ["RuleManager", "load_groups"]

log = logging.getLogger(__name__)


def load_groups(cfg: Config, check_template: TemplateCheck | None = None) -> list[GroupDef]:
    """Every group of every file the config's ``rule_files`` globs match, validated."""
    out: list[GroupDef] = []
    for pattern in cfg.rule_files:
        for path in sorted(glob.glob(pattern)):
            try:
                out.extend(load_rule_file(path, check_template))
            except RuleFileError as e:
                raise ConfigError("; ".join(e.errors)) from None
    return out


def _drop_notify(expr: str, alerts: list[Alert]) -> None:
    pass


class _Metrics:
    """Prometheus' rule-manager metrics, labelled ``rule_group="file;name"``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        g = ["rule_group"]
        self.evals = Counter(
            "prometheus_rule_evaluations_total",
            "The total number of rule evaluations.",
            g,
            registry=registry,
        )
        self.failures = Counter(
            "prometheus_rule_evaluation_failures_total",
            "The total number of rule evaluation failures.",
            g,
            registry=registry,
        )
        self.iterations = Counter(
            "prometheus_rule_group_iterations_total",
            "The total number of scheduled rule group evaluations, whether executed or missed.",
            g,
            registry=registry,
        )
        self.missed = Counter(
            "prometheus_rule_group_iterations_missed_total",
            "The total number of rule group evaluations missed due to slow rule group evaluation.",
            g,
            registry=registry,
        )
        self.last_duration = Gauge(
            "prometheus_rule_group_last_duration_seconds",
            "The duration of the last rule group evaluation.",
            g,
            registry=registry,
        )
        self.last_ts = Gauge(
            "prometheus_rule_group_last_evaluation_timestamp_seconds",
            "The timestamp of the last rule group evaluation in seconds.",
            g,
            registry=registry,
        )
        self.last_samples = Gauge(
            "prometheus_rule_group_last_evaluation_samples",
            "The number of samples returned during the last rule group evaluation.",
            g,
            registry=registry,
        )
        self.interval = Gauge(
            "prometheus_rule_group_interval_seconds",
            "The interval of a rule group.",
            g,
            registry=registry,
        )
        self.rules = Gauge(
            "prometheus_rule_group_rules", "The number of rules.", g, registry=registry
        )
        self.eval_duration = Summary(
            "prometheus_rule_evaluation_duration_seconds",
            "The duration for a rule to execute.",
            registry=registry,
        )
        self.group_duration = Summary(
            "prometheus_rule_group_duration_seconds",
            "The duration of rule group evaluations.",
            registry=registry,
        )
        self._all = (
            self.evals, self.failures, self.iterations, self.missed, self.last_duration,
            self.last_ts, self.last_samples, self.interval, self.rules,
        )  # fmt: skip

    def add(self, g: Group) -> None:
        for m in self._all:
            m.labels(g.key)  # the series exist (at 0) before the first evaluation
        self.interval.labels(g.key).set(g.interval_ms / 1000)
        self.rules.labels(g.key).set(len(g.rules))

    def remove(self, g: Group) -> None:
        for m in self._all:
            with contextlib.suppress(KeyError):
                m.remove(g.key)

    def observe(self, g: Group, rule_failures: int, duration_s: float, samples: int) -> None:
        self.evals.labels(g.key).inc(len(g.rules))
        self.failures.labels(g.key).inc(rule_failures)
        self.last_duration.labels(g.key).set(duration_s)
        self.last_ts.labels(g.key).set(g.last_eval_ms / 1000)
        self.last_samples.labels(g.key).set(samples)
        self.group_duration.observe(duration_s)
        for r in g.rules:
            self.eval_duration.observe(r.status.eval_seconds)


class RuleManager:
    """Runs the rule groups of the current configuration."""

    def __init__(
        self,
        engine: Engine,
        queryable: Queryable,
        appendable: Appendable,
        registry: CollectorRegistry,
        *,
        notify: NotifyFunc = _drop_notify,
        expand: Expand = no_expand,
        check_template: TemplateCheck | None = None,
        resend_delay_s: float = 60.0,
        outage_tolerance_s: float = 3600.0,
        grace_period_s: float = 600.0,
    ) -> None:
        self.settings = Settings(
            engine,
            queryable,
            appendable,
            notify,
            expand,
            int(resend_delay_s * 1000),
            int(outage_tolerance_s * 1000),
            int(grace_period_s * 1000),
        )
        self.check_template = check_template
        self.metrics = _Metrics(registry)
        #: Current groups by ``file;name``, in file order.
        self.groups: dict[str, Group] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._running = False
        self._stopped = asyncio.Event()
        self._first_config = True

    def set_notify(self, notify: NotifyFunc) -> None:
        """Replace the alert hook (the alert manager connects here once it exists)."""
        self.settings.notify = notify

    def set_expand(self, expand: Expand) -> None:
        """Replace the template expander of rules created from now on."""
        self.settings.expand = expand

    # -- configuration -----------------------------------------------------------------

    def apply_config(self, cfg: Config) -> None:
        """Load ``cfg``'s rule files and switch to them; on an error nothing changes."""
        defs = load_groups(cfg, self.check_template)
        g = cfg.global_
        new: dict[str, Group] = {}
        for d in defs:
            interval = d.interval_s or g.evaluation_interval
            offset = d.query_offset_s if d.query_offset_s is not None else g.rule_query_offset
            key = f"{d.file};{d.name}"
            old = self.groups.get(key)
            if (
                old is not None
                and old.d == d
                and old.interval_ms == int(interval * 1000)
                and old.query_offset_ms == int(offset * 1000)
            ):
                new[key] = old
                continue
            grp = Group(d, interval, offset, self.settings)
            if old is not None:
                grp.copy_state(old)
            else:
                # Groups present at start restore their alerts' for state from storage.
                grp.should_restore = self._first_config
            new[key] = grp
        self._first_config = False
        removed = [grp for k, grp in self.groups.items() if new.get(k) is not grp]
        now = int(time.time() * 1000)
        for grp in removed:
            self._cancel(grp.key)
            self.metrics.remove(grp)
            if grp.key not in new:
                asyncio_safe(functools.partial(grp.mark_stale, now))
        self.groups = new
        for grp in new.values():
            self.metrics.add(grp)
            if self._running and grp.key not in self._tasks:
                self._start(grp)

    # -- lifecycle -------------------------------------------------------------------

    async def run(self) -> None:
        """Evaluate the groups until :meth:`stop`."""
        self._running = True
        for grp in self.groups.values():
            if grp.key not in self._tasks:
                self._start(grp)
        await self._stopped.wait()

    async def stop(self) -> None:
        """Stop every group; an evaluation in progress finishes first."""
        self._running = False
        tasks = list(self._tasks.values())
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks.clear()
        self._stopped.set()

    def _start(self, grp: Group) -> None:
        self._tasks[grp.key] = asyncio.get_running_loop().create_task(
            self._loop(grp), name=f"rules:{grp.key}"
        )

    def _cancel(self, key: str) -> None:
        t = self._tasks.pop(key, None)
        if t is not None:
            t.cancel()

    async def _loop(self, grp: Group) -> None:
        interval = grp.interval_ms
        # The first evaluation is the next aligned time from now (Prometheus waits too).
        next_ts = grp.eval_time(int(time.time() * 1000)) + interval
        while True:
            await asyncio.sleep(max(0.0, next_ts / 1000 - time.time()))
            self.metrics.iterations.labels(grp.key).inc()
            # Shielded: a reload or stop cancels the loop, never a half-written evaluation.
            await asyncio.shield(asyncio.to_thread(grp.eval, next_ts, self.metrics))
            now = int(time.time() * 1000)
            missed = (now - next_ts) // interval - 1
            if missed > 0:
                self.metrics.missed.labels(grp.key).inc(missed)
                self.metrics.iterations.labels(grp.key).inc(missed)
            next_ts += interval * (max(0, missed) + 1)

    # -- queries for the API ---------------------------------------------------------

    def rule_groups(self) -> list[Group]:
        """The groups ordered by file, then name (the order Prometheus' API lists them)."""
        return sorted(self.groups.values(), key=lambda g: (g.d.file, g.d.name))


def asyncio_safe(fn: Callable[[], None]) -> None:
    """Run blocking ``fn`` in a worker thread if a loop runs, else now."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        fn()
        return
    loop.run_in_executor(None, fn)
