"""The one place where promhub's components are wired together.

Start order matters: the HTTP listener comes up first so ``/-/healthy`` answers while the
TSDB replays its WAL; ``/-/ready`` turns 200 only once storage is open and scraping runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge

from promhub import __version__
from promhub.alerting.manager import AlertManager, alertmanager_source, fanout_notify
from promhub.api.web import SSL_CONTEXT_KEY, build_app
from promhub.config.loader import default_config, load_config, max_exemplars
from promhub.config.model import Config
from promhub.discovery.manager import DiscoveryManager
from promhub.ingest.otlp import OTLPReceiver
from promhub.ingest.pushmanager import TICK_INTERVAL, PushManager
from promhub.ingest.remote_write import RemoteWriteReceiver
from promhub.instrument.host import host_registry
from promhub.promql.engine import Engine
from promhub.rules.expander import RuleTemplateExpander, check_template
from promhub.rules.manager import RuleManager
from promhub.rules.notifier import Notifier
from promhub.scrape.manager import ScrapeManager
from promhub.server.options import Options
from promhub.server.scheduler import Scheduler
from promhub.storage.fanout import Fanout
from promhub.storage.interface import Queryable
from promhub.storage.remote import WriteStorage
from promhub.tsdb import DB
from promhub.tsdb.agent import AgentStorage
from promhub.tsdb.exemplars import ExemplarStorage

log = logging.getLogger("promhub")


class Server:
    """promhub's process: storage, discovery, scraping and the HTTP API."""

    def __init__(self, opts: Options, registry: CollectorRegistry = REGISTRY) -> None:
        self.opts = opts
        self.registry = registry
        self.host_registry = host_registry()
        self.start_time = time.time()
        self.ready = False
        self.db: DB | None = None
        #: Local storage plus ``remote_read`` endpoints: what PromQL queries read.
        self.fanout: Fanout | None = None
        #: Agent mode's WAL-only storage (``--agent``); then ``db`` stays None.
        self.agent: AgentStorage | None = None
        self.config: Config | None = None
        self.scrape: ScrapeManager | None = None
        self.discovery: DiscoveryManager | None = None
        #: The OTLP metrics receiver (``--web.enable-otlp-receiver``), once storage is open.
        self.otlp: OTLPReceiver | None = None
        #: ``POST /api/v1/write``; None until storage is open or when the flag is off.
        self.remote_write_receiver: RemoteWriteReceiver | None = None
        #: remote_write queues, fed from the TSDB's WAL (created once the DB is open).
        self.remote_write: WriteStorage | None = None
        #: The Pushgateway API's groups (None until storage is open).
        self.push: PushManager | None = None
        #: Recording and alerting rules (None until storage is open, and in agent mode).
        self.rules: RuleManager | None = None
        #: Sends the rules' alerts to ``alerting.alertmanagers`` (created with the rules).
        self.notifier: Notifier | None = None
        #: The built-in alert manager (only when the config names an alertmanager.yml).
        self.alertmanager: AlertManager | None = None
        self._am_task: asyncio.Task[None] | None = None
        self.scheduler = Scheduler(registry)
        #: Scraped exemplars, in memory only; sized by the config with
        #: ``--enable-feature=exemplar-storage``, else empty (Prometheus' metrics still show).
        self.exemplars = ExemplarStorage(0)
        registry.register(self.exemplars.collector())
        self._stopping = asyncio.Event()
        self._reload_lock = asyncio.Lock()
        self._reload_ok = Gauge(
            "prometheus_config_last_reload_successful",
            "Whether the last configuration reload attempt was successful.",
            registry=registry,
        )
        self._reload_time = Gauge(
            "prometheus_config_last_reload_success_timestamp_seconds",
            "Timestamp of the last successful configuration reload.",
            registry=registry,
        )
        self._reloads_failed = Counter(
            "promhub_config_reloads_failed_total",
            "Configuration reloads that were refused (the old configuration kept running).",
            registry=registry,
        )
        Gauge(
            "prometheus_build_info",
            "A metric with a constant '1' value labeled by version, revision, branch, "
            "goversion from which prometheus was built, and the goos and goarch for the build.",
            ["version", "revision", "branch", "goversion", "goos", "goarch", "tags"],
            registry=registry,
        ).labels(__version__, "", "", "python", "linux", "", "promhub").set(1)
        self.runner: web.AppRunner | None = None

    @property
    def queryable(self) -> Queryable | None:
        """What queries read: the fanout over local and remote storage, once open."""
        return self.fanout if self.fanout is not None else self.db

    # -- configuration -------------------------------------------------------------------

    def load(self) -> Config:
        """Load the configuration the flags name (or the embedded default)."""
        if self.opts.config_file:
            return load_config(self.opts.config_file)
        return default_config(self.opts.listen_address)

    def _apply(self, cfg: Config) -> None:
        assert self.scrape is not None and self.discovery is not None
        if self.rules is not None:  # first: a bad rule file refuses the whole reload
            self.rules.apply_config(cfg)
        if self.alertmanager is None and self.ready:
            # A reload that names an alertmanager.yml for the first time starts it.
            data = self.opts.agent_storage_path if self.opts.agent else self.opts.storage_path
            if self._build_alertmanager(cfg, Path(data)):
                assert self.alertmanager is not None
                self._am_task = asyncio.get_running_loop().create_task(self.alertmanager.run())
        if self.alertmanager is not None:  # a bad alertmanager.yml refuses it too
            self.alertmanager.apply_config(cfg)
        if self.notifier is not None:
            self.notifier.apply_config(cfg)
        self.scrape.apply_config(cfg)
        if self.remote_write is not None:
            self.remote_write.apply_config(cfg)
        if self.fanout is not None:
            self.fanout.apply_config(cfg)
        self.discovery.apply_config(cfg.scrape_configs)
        if self.otlp is not None:
            self.otlp.apply_config(cfg.otlp)
        if self.push is not None:
            self.push.apply_config(cfg)
        if self.opts.exemplar_storage:
            self.exemplars.resize(max_exemplars(cfg))
        self.config = cfg
        self._reload_ok.set(1)
        self._reload_time.set(time.time())

    async def reload(self) -> None:
        """Re-read the configuration; on any error the running one stays and this raises."""
        async with self._reload_lock:
            try:
                cfg = await asyncio.to_thread(self.load)
                self._apply(cfg)
            except Exception as e:
                self._reload_ok.set(0)
                self._reloads_failed.inc()
                log.error("configuration reload failed, keeping the old one: %s", e)
                raise
            log.info("configuration reloaded from %s", self.opts.config_file or "<default>")

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        cfg = self.load()  # refuse to start on a bad config, before touching anything
        app = build_app(self)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self.runner.setup()
        host, port = self.opts.host_port
        site = web.TCPSite(
            self.runner, host, port, reuse_address=True, ssl_context=app[SSL_CONTEXT_KEY]
        )
        await site.start()
        log.info("listening on %s", self.opts.listen_address)
        # A clickable address for the console: the external URL when set, else the
        # listen address with a wildcard host shown as localhost.
        scheme = "https" if app[SSL_CONTEXT_KEY] is not None else "http"
        shown = "localhost" if host in ("0.0.0.0", "::", "") else host
        shown = f"[{shown}]" if ":" in shown else shown
        console_url = self.opts.external_url or f"{scheme}://{shown}:{port}"

        appendable: DB | AgentStorage
        if self.opts.agent:
            appendable = await self._open_agent()
        else:
            self.db = appendable = await asyncio.to_thread(
                DB.open,
                self.opts.storage_path,
                **self._db_options(),
            )
            self.registry.register(self.db.collector())
            self.fanout = Fanout(self.db, self.db.lowest_timestamp, self.registry)
        # remote_write queues tail the WAL of whichever storage this mode writes.
        data = Path(self.opts.agent_storage_path if self.opts.agent else self.opts.storage_path)
        self.remote_write = WriteStorage(
            data / "wal",
            data,
            self.registry,
            metadata_source=lambda: (
                [t.metadata for t in self.scrape.metadata()] if self.scrape is not None else []
            ),
        )
        self.scrape = ScrapeManager(
            appendable,
            registry=self.registry,
            exemplars=self.exemplars if self.opts.exemplar_storage else None,
        )
        self.discovery = DiscoveryManager(self.scrape.update_targets)
        if self.db is None and (
            self.opts.enable_otlp_receiver or self.opts.enable_remote_write_receiver
        ):
            log.warning("agent mode: the OTLP and remote_write receivers are not available")
        if self.opts.enable_otlp_receiver and self.db is not None:
            self.otlp = OTLPReceiver(self.db, registry=self.registry)
        if self.opts.enable_remote_write_receiver and self.db is not None:
            self.remote_write_receiver = RemoteWriteReceiver(
                self.db,
                self.db.head,
                exemplars=self.exemplars if self.opts.exemplar_storage else None,
                registry=self.registry,
            )
        if self.fanout is not None and self.db is not None:
            self.rules = self._rule_manager(self.fanout, self.db)
            self.notifier = Notifier(
                self.registry,
                queue_capacity=self.opts.notification_queue_capacity,
                batch_size=self.opts.notification_batch_size,
                drain_on_shutdown=self.opts.drain_notification_queue,
            )
            self.rules.set_notify(self.notifier.rule_notify(self.opts.external_url_or_default))
        self._build_alertmanager(cfg, data)
        push = PushManager(appendable, data / "pushgateway", self.registry)
        await asyncio.to_thread(push.load)
        self.push = push
        self._apply(cfg)
        self.scheduler.add("pushgateway", TICK_INTERVAL, push.tick, blocking=True)
        if self.db is not None:
            self.scheduler.add(
                "tsdb_maintenance", self.opts.maintenance_interval, self.db.maintain, blocking=True
            )
        self.ready = True
        log.info("server is ready to receive web requests")
        log.info("web console at %s/", console_url.rstrip("/"))

    async def _open_agent(self) -> AgentStorage:
        log.info("running in agent mode: WAL-only storage at %s", self.opts.agent_storage_path)
        self.agent = await asyncio.to_thread(AgentStorage.open, self.opts.agent_storage_path)
        self.registry.register(self.agent.collector())
        self.scheduler.add(
            "agent_wal_truncate",
            self.opts.agent_truncate_frequency,
            self._truncate_agent_wal,
            blocking=True,
        )
        return self.agent

    def _truncate_agent_wal(self) -> None:
        """Forget idle series and drop WAL segments nobody needs any more (blocking)."""
        assert self.agent is not None
        # Segments a remote_write queue has not sent yet stay.
        needed = self.remote_write.lowest_needed_segment() if self.remote_write else None
        self.agent.maintain(int(time.time() * 1000) - self.opts.agent_max_wal_time_ms, needed)

    def _build_alertmanager(self, cfg: Config, data: Path) -> bool:
        """The built-in alert manager, when the config names one; the rules' alerts go
        to it as well as to whatever notify hook the rules already have."""
        path, inline = alertmanager_source(cfg)
        if not path and inline is None:
            return False
        self.alertmanager = AlertManager(
            str(data / "alertmanager"),
            self.registry,
            notify=None,  # the built-in notification pipeline: the config's receivers
            external_url=self.opts.external_url_or_default,
        )
        if self.rules is not None:
            own = self.alertmanager.rule_notify(self._external_labels)
            self.rules.set_notify(fanout_notify(self.rules.settings.notify, own))
        return True

    def _external_labels(self) -> dict[str, str]:
        return dict(self.config.global_.external_labels) if self.config else {}

    def _rule_manager(self, queryable: Queryable, db: DB) -> RuleManager:
        o = self.opts
        engine = Engine(
            lookback_ms=o.query_lookback_ms,
            max_samples=o.query_max_samples,
            timeout_s=o.query_timeout_s,
        )
        return RuleManager(
            engine,
            queryable,
            db,
            self.registry,
            expand=RuleTemplateExpander(
                engine, queryable, self._external_labels, o.external_url_or_default
            ),
            check_template=check_template,
            resend_delay_s=o.rules_resend_delay_s,
            outage_tolerance_s=o.rules_outage_tolerance_s,
            grace_period_s=o.rules_grace_period_s,
        )

    def _db_options(self) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "retention_time_ms": self.opts.retention_time_ms,
            "retention_size_bytes": self.opts.retention_size_bytes,
        }
        if self.opts.min_block_duration_ms:
            kw["min_block_duration_ms"] = self.opts.min_block_duration_ms
        return kw

    async def run(self) -> None:
        """Start, serve until SIGTERM/SIGINT (SIGHUP reloads), then stop cleanly."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stopping.set)
        loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
        await self.start()
        assert self.scrape is not None and self.discovery is not None
        async with asyncio.TaskGroup() as tg:
            scrape_task = tg.create_task(self.scrape.run())
            disc_task = tg.create_task(self.discovery.run())
            if self.remote_write is not None:
                tg.create_task(self.remote_write.run())
            if self.rules is not None:
                tg.create_task(self.rules.run())
            if self.notifier is not None:
                tg.create_task(self.notifier.run())
            if self.alertmanager is not None:
                tg.create_task(self.alertmanager.run())
            await self._stopping.wait()
            log.info("received stop signal, shutting down")
            await self.stop()
            for t in (scrape_task, disc_task):
                t.cancel()

    def _on_sighup(self) -> None:
        async def go() -> None:
            # A failed reload is logged by reload(); the old config keeps running.
            with contextlib.suppress(Exception):
                await self.reload()

        asyncio.get_running_loop().create_task(go())

    def request_stop(self) -> None:
        self._stopping.set()

    async def stop(self) -> None:
        self.ready = False
        await self.scheduler.stop()
        if self.rules is not None:
            await self.rules.stop()
        if self.notifier is not None:  # after the rules: their last alerts still go out
            await self.notifier.stop()
        if self.alertmanager is not None:
            await self.alertmanager.stop()
        if self.push is not None:
            await asyncio.to_thread(self.push.stop)
        if self.discovery is not None:
            await self.discovery.stop()
        if self.scrape is not None:
            await self.scrape.stop()
        if self.remote_write is not None:
            await self.remote_write.stop()
        if self.runner is not None:
            await self.runner.cleanup()
        if self.fanout is not None:
            await self.fanout.close()
        if self.db is not None:
            await asyncio.to_thread(self.db.close)
            self.db = None
        if self.agent is not None:
            await asyncio.to_thread(self.agent.close)
            self.agent = None
