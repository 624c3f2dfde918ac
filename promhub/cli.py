"""The ``promhub`` command: ``serve``, and promtool-like ``check`` and ``tsdb`` tools."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from promhub import __version__
from promhub.server.options import Options, parse_features


def _duration_ms(s: str) -> int:
    from promhub.config.loader import parse_duration

    return int(round(parse_duration(s) * 1000))


def _size_bytes(s: str) -> int:
    from promhub.config.loader import parse_size

    return 0 if s in ("0", "") else parse_size(s)


def _add_serve(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the server (scrape, store, serve the API)")
    p.add_argument(
        "--config.file",
        dest="config_file",
        default="",
        help="promhub/prometheus configuration file (default: embedded default)",
    )
    p.add_argument(
        "--storage.tsdb.path",
        dest="storage_path",
        default="data",
        help="base path for metrics storage",
    )
    p.add_argument(
        "--storage.tsdb.retention.time",
        dest="retention_time",
        default="15d",
        help="how long to retain samples in storage",
    )
    p.add_argument(
        "--storage.tsdb.retention.size",
        dest="retention_size",
        default="0",
        help="maximum bytes of storage blocks to retain, e.g. 512MB (0: no limit)",
    )
    p.add_argument(
        "--storage.tsdb.min-block-duration",
        dest="min_block_duration",
        default="",
        help="duration of the head block before it is persisted",
    )
    p.add_argument(
        "--web.listen-address",
        dest="listen_address",
        default="0.0.0.0:9090",
        help="address to listen on for the UI, API and telemetry",
    )
    p.add_argument(
        "--web.enable-lifecycle",
        dest="enable_lifecycle",
        action="store_true",
        help="enable shutdown and reload via HTTP request",
    )
    p.add_argument(
        "--web.enable-admin-api",
        dest="enable_admin_api",
        action="store_true",
        help="enable API endpoints for admin control actions",
    )
    p.add_argument(
        "--web.enable-otlp-receiver",
        dest="enable_otlp_receiver",
        action="store_true",
        help="enable the OTLP metrics receiver on /api/v1/otlp/v1/metrics",
    )
    p.add_argument(
        "--web.enable-remote-write-receiver",
        dest="enable_remote_write_receiver",
        action="store_true",
        help="accept remote write requests at /api/v1/write",
    )
    p.add_argument(
        "--web.enable-push-api",
        dest="enable_push_api",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="accept Pushgateway pushes on /metrics/job/... (default on)",
    )
    p.add_argument(
        "--web.enable-dashboard-writes",
        dest="enable_dashboard_writes",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="import and delete dashboards via /api/v1/dashboards (default on)",
    )
    p.add_argument("--web.external-url", dest="external_url", default="")
    p.add_argument(
        "--web.max-request-body-bytes",
        dest="max_body",
        default="64MB",
        help="largest request body accepted",
    )
    p.add_argument(
        "--log.level", dest="log_level", default="info", choices=["debug", "info", "warn", "error"]
    )
    p.add_argument(
        "--enable-feature",
        dest="enable_feature",
        action="append",
        default=[],
        help="comma-separated feature names to enable "
        "(promhub knows: exemplar-storage, remote-write-receiver)",
    )
    _add_web_query_flags(p)
    p.add_argument("--rules.alert.for-outage-tolerance", dest="rules_outage", default="1h")
    p.add_argument("--rules.alert.for-grace-period", dest="rules_grace", default="10m")
    p.add_argument("--rules.alert.resend-delay", dest="rules_resend", default="1m")
    p.add_argument(
        "--alertmanager.notification-queue-capacity", dest="am_queue", type=int, default=10_000
    )
    p.add_argument("--alertmanager.notification-batch-size", dest="am_batch", type=int, default=256)
    p.add_argument(
        "--alertmanager.drain-notification-queue-on-shutdown",
        dest="am_drain",
        action=argparse.BooleanOptionalAction,
        default=True,
    )


def _add_web_query_flags(p: argparse.ArgumentParser) -> None:
    """The HTTP API's security and PromQL limit flags (Prometheus' names and defaults)."""
    p.add_argument(
        "--web.config.file",
        dest="web_config_file",
        default="",
        help="path to a web.yml enabling TLS and/or basic authentication",
    )
    p.add_argument(
        "--web.cors.origin",
        dest="cors_origin",
        default=".*",
        help="regex for CORS origin, fully anchored (e.g. 'https?://(domain1|domain2)\\.com')",
    )
    p.add_argument(
        "--agent",
        action="store_true",
        help="run in agent mode: scrape and forward with remote_write, no local querying",
    )
    p.add_argument(
        "--storage.agent.path",
        dest="agent_storage_path",
        default="data-agent/",
        help="base path for the agent's write-ahead log",
    )
    p.add_argument(
        "--storage.agent.retention.max-time",
        dest="agent_max_wal_time",
        default="4h",
        help="forget series not appended to for this long when the WAL is truncated",
    )
    p.add_argument(
        "--storage.agent.wal-truncate-frequency",
        dest="agent_truncate_frequency",
        default="2h",
        help="how often the agent checkpoints and truncates its WAL (Prometheus' default 2h)",
    )
    p.add_argument("--query.lookback-delta", dest="query_lookback", default="5m")
    p.add_argument("--query.timeout", dest="query_timeout", default="2m")
    p.add_argument("--query.max-samples", dest="query_max_samples", type=int, default=50_000_000)
    p.add_argument("--query.max-concurrency", dest="query_max_concurrency", type=int, default=20)


def _add_tools(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = sub.add_parser("check", help="check configuration files (like promtool check)")
    csub = check.add_subparsers(dest="check_cmd", required=True)
    cc = csub.add_parser("config", help="check that a configuration file is valid")
    cc.add_argument("files", nargs="+")
    cr = csub.add_parser("rules", help="check that rule files are valid")
    cr.add_argument("files", nargs="+")

    test = sub.add_parser("test", help="unit-test rules (like promtool test rules)")
    tsub_ = test.add_subparsers(dest="test_cmd", required=True)
    tr = tsub_.add_parser("rules", help="run rule unit-test files (promtool's format)")
    tr.add_argument("files", nargs="+", metavar="FILE")
    tr.add_argument(
        "--run",
        action="append",
        default=[],
        metavar="REGEX",
        help="only test groups whose name matches (may be repeated)",
    )
    tr.add_argument("--debug", action="store_true", help="print alerts at each checked time")

    tsdb = sub.add_parser("tsdb", help="inspect a promhub data directory (like promtool tsdb)")
    tsub = tsdb.add_subparsers(dest="tsdb_cmd", required=True)
    an = tsub.add_parser("analyze", help="series, samples and cardinality of a data directory")
    an.add_argument("dir", nargs="?", default="data")
    an.add_argument("--limit", type=int, default=20)
    dp = tsub.add_parser("dump", help="print every sample as 'labels value timestamp'")
    dp.add_argument("dir", nargs="?", default="data")
    dp.add_argument("--match", default='{__name__=~".+"}', help="series selector")
    dp.add_argument("--min-time", dest="min_time", type=int, default=-(2**63))
    dp.add_argument("--max-time", dest="max_time", type=int, default=2**63 - 1)
    _add_backfill(tsub)


def _add_promqltest(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "promqltest", help="run Prometheus promqltest script files against the PromQL engine"
    )
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("-v", "--verbose", action="store_true", help="print each failure")
    p.add_argument(
        "--eval-timeout",
        dest="eval_timeout",
        type=float,
        default=60.0,
        help="seconds one eval (with its extra checks) may take before it counts as failed",
    )


def _add_backfill(tsdb_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``tsdb create-blocks-from openmetrics``: promtool's backfill into a promhub data dir."""
    cb = tsdb_sub.add_parser(
        "create-blocks-from", help="import samples from a file and write them as blocks"
    )
    cb.add_argument(
        "--max-block-duration",
        dest="max_block_duration",
        default="2h",
        help="longest block to create (2h, or one of 6h, 18h, ... when larger)",
    )
    cb.add_argument("-q", "--quiet", action="store_true", help="do not print created blocks")
    fsub = cb.add_subparsers(dest="backfill_format", required=True)
    om = fsub.add_parser(
        "openmetrics", help="OpenMetrics text with a timestamp on every sample, ending in # EOF"
    )
    om.add_argument("input_file", metavar="INPUT_FILE")
    om.add_argument("output_dir", metavar="OUTPUT_DIR", nargs="?", default="data")


def _backfill(args: argparse.Namespace) -> int:
    from promhub.tsdb.backfill import BackfillError, create_blocks
    from promhub.tsdb.tool import format_duration

    try:
        metas = create_blocks(
            args.input_file,
            args.output_dir,
            max_block_duration_ms=_duration_ms(args.max_block_duration),
        )
    except (BackfillError, OSError, ValueError) as e:
        print(f"promhub: error: {e}", file=sys.stderr)
        return 1
    if not args.quiet and metas:
        # promtool's table, so scripts reading its output read ours.
        row = "{:<28}{:<15}{:<15}{:<13}{:<13}{:<13}{:<13}{}"
        header = ("BLOCK ULID", "MIN TIME", "MAX TIME", "DURATION", "NUM SAMPLES")
        print(row.format(*header, "NUM CHUNKS", "NUM SERIES", "SIZE"))
        for m in metas:
            print(
                row.format(
                    m.ulid,
                    m.min_time,
                    m.max_time,
                    format_duration(m.max_time - m.min_time),
                    m.num_samples,
                    m.num_chunks,
                    m.num_series,
                    m.size_bytes,
                )
            )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="promhub", description=__doc__)
    parser.add_argument("--version", action="version", version=f"promhub {__version__}")
    sub = parser.add_subparsers(dest="cmd", required=True)
    _add_serve(sub)
    _add_tools(sub)
    _add_promqltest(sub)
    return parser


def _serve(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from promhub.server.server import Server

    logging.basicConfig(
        level=getattr(logging, args.log_level.upper().replace("WARN", "WARNING")),
        format="ts=%(asctime)s level=%(levelname)s component=%(name)s msg=%(message)r",
        datefmt="%Y-%m-%dT%H:%M:%S",
    )
    features, unknown = parse_features(args.enable_feature)
    for name in unknown:
        logging.getLogger("promhub").warning("Unknown option for --enable-feature: %s", name)
    if "exemplar-storage" in features:
        logging.getLogger("promhub").info("Experimental in-memory exemplar storage enabled")
    if "remote-write-receiver" in features:
        # Prometheus 2.x's old spelling, deprecated there in favour of the flag.
        args.enable_remote_write_receiver = True
        logging.getLogger("promhub").warning(
            "Remote write receiver enabled via feature flag remote-write-receiver. "
            "This is DEPRECATED. Use --web.enable-remote-write-receiver."
        )
    try:
        opts = Options(
            config_file=args.config_file,
            storage_path=args.storage_path,
            retention_time_ms=_duration_ms(args.retention_time),
            retention_size_bytes=_size_bytes(args.retention_size),
            min_block_duration_ms=_duration_ms(args.min_block_duration)
            if args.min_block_duration
            else 0,
            listen_address=args.listen_address,
            enable_lifecycle=args.enable_lifecycle,
            enable_admin_api=args.enable_admin_api,
            enable_otlp_receiver=args.enable_otlp_receiver,
            enable_remote_write_receiver=args.enable_remote_write_receiver,
            enable_push_api=args.enable_push_api,
            enable_dashboard_writes=args.enable_dashboard_writes,
            external_url=args.external_url,
            max_body_bytes=_size_bytes(args.max_body),
            log_level=args.log_level,
            web_config_file=args.web_config_file,
            cors_origin=args.cors_origin,
            query_lookback_ms=_duration_ms(args.query_lookback),
            query_timeout_s=_duration_ms(args.query_timeout) / 1000,
            query_max_samples=args.query_max_samples,
            query_max_concurrency=max(1, args.query_max_concurrency),
            enable_features=features,
            agent=args.agent,
            agent_storage_path=args.agent_storage_path,
            agent_max_wal_time_ms=_duration_ms(args.agent_max_wal_time),
            agent_truncate_frequency=_duration_ms(args.agent_truncate_frequency) / 1000,
            rules_outage_tolerance_s=_duration_ms(args.rules_outage) / 1000,
            rules_grace_period_s=_duration_ms(args.rules_grace) / 1000,
            rules_resend_delay_s=_duration_ms(args.rules_resend) / 1000,
            notification_queue_capacity=args.am_queue,
            notification_batch_size=args.am_batch,
            drain_notification_queue=args.am_drain,
            flags={
                "config.file": args.config_file,
                "storage.tsdb.path": args.storage_path,
                "storage.tsdb.retention.time": args.retention_time,
                "storage.tsdb.retention.size": args.retention_size,
                "web.listen-address": args.listen_address,
                "web.enable-lifecycle": str(args.enable_lifecycle).lower(),
                "web.enable-admin-api": str(args.enable_admin_api).lower(),
                "web.enable-otlp-receiver": str(args.enable_otlp_receiver).lower(),
                "web.enable-remote-write-receiver": str(args.enable_remote_write_receiver).lower(),
                "web.enable-push-api": str(args.enable_push_api).lower(),
                "web.enable-dashboard-writes": str(args.enable_dashboard_writes).lower(),
                "web.external-url": args.external_url,
                "log.level": args.log_level,
                "web.config.file": args.web_config_file,
                "web.cors.origin": args.cors_origin,
                "query.lookback-delta": args.query_lookback,
                "query.timeout": args.query_timeout,
                "query.max-samples": str(args.query_max_samples),
                "query.max-concurrency": str(args.query_max_concurrency),
                "enable-feature": ",".join(args.enable_feature),
                "agent": str(args.agent).lower(),
                "storage.agent.path": args.agent_storage_path,
                "storage.agent.retention.max-time": args.agent_max_wal_time,
                "storage.agent.wal-truncate-frequency": args.agent_truncate_frequency,
            },
        )
    except ValueError as e:
        print(f"promhub: error: {e}", file=sys.stderr)
        return 2
    try:
        asyncio.run(Server(opts).run())
    except Exception as e:  # a bad config or unusable data dir: say so, exit non-zero
        logging.getLogger("promhub").error("%s", e)
        print(f"promhub: error: {e}", file=sys.stderr)
        return 1
    return 0


def _check_config(files: Sequence[str]) -> int:
    """``promtool check config``: the file, then the rule files it names (as promtool), then
    the built-in alert manager's configuration (promhub's own section)."""
    import glob

    from promhub.alerting.config import load_alertmanager_config, load_alertmanager_config_text
    from promhub.alerting.manager import alertmanager_source, inline_text
    from promhub.config.loader import check_config, load_config
    from promhub.config.model import ConfigError
    from promhub.rules.check import check_rules
    from promhub.rules.expander import check_template

    failed = False
    for f in files:
        print(f"Checking {f}")
        errors = check_config(f)
        if errors:
            failed = True
            for e in errors:
                print(f"  FAILED: {e}")
            print()
            continue
        cfg = load_config(f)
        rule_files = [p for pat in cfg.rule_files for p in sorted(glob.glob(pat))]
        if rule_files:
            print(f"  SUCCESS: {len(rule_files)} rule files found")
            # promtool's own indentation of this line when rule files follow.
            print(f" SUCCESS: {f} is valid prometheus config file syntax")
        else:
            print(f"  SUCCESS: {f} is valid prometheus config file syntax")
        print()
        if rule_files and check_rules(
            rule_files, sys.stdout, sys.stderr, check_template, error_indent=" " * 5
        ):
            failed = True
        am_path, inline = alertmanager_source(cfg)
        if am_path or inline is not None:
            print(f"Checking {am_path or f + ' (alerting.alertmanager_config)'}")
            try:
                if am_path:
                    load_alertmanager_config(am_path)
                else:
                    load_alertmanager_config_text(inline_text(cfg, inline), f)
                print("  SUCCESS: valid alertmanager configuration")
            except (ConfigError, OSError) as e:
                failed = True
                print(f"  FAILED: {e}")
            print()
    return 1 if failed else 0


def _tsdb(args: argparse.Namespace) -> int:
    from promhub.model.matcher import SelectorError, parse_selector

    if args.tsdb_cmd == "create-blocks-from":
        return _backfill(args)
    from promhub.tsdb.tool import analyze, dump

    try:
        if args.tsdb_cmd == "analyze":
            print(analyze(args.dir, limit=args.limit), end="")
        else:
            try:
                matchers = parse_selector(args.match)
            except SelectorError as e:
                print(f"promhub: error: --match: {e}", file=sys.stderr)
                return 2
            dump(args.dir, matchers, args.min_time, args.max_time, sys.stdout)
    except BrokenPipeError:
        return 0
    except (OSError, ValueError) as e:
        print(f"promhub: error: {e}", file=sys.stderr)
        return 1
    return 0


def _promqltest(args: argparse.Namespace) -> int:
    from promhub.promql.promqltest import main as run

    try:
        return run(
            args.files, verbose=args.verbose, out=sys.stdout, eval_timeout_s=args.eval_timeout
        )
    except BrokenPipeError:
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.cmd == "serve":
        return _serve(args, argv)
    if args.cmd == "check" and args.check_cmd == "rules":
        from promhub.rules.check import check_rules
        from promhub.rules.expander import check_template

        return check_rules(args.files, sys.stdout, sys.stderr, check_template)
    if args.cmd == "check":
        return _check_config(args.files)
    if args.cmd == "test":
        from promhub.rules.unittest import rules_unit_test

        return rules_unit_test(args.files, sys.stdout, sys.stderr, args.run, args.debug)
    if args.cmd == "tsdb":
        return _tsdb(args)
    if args.cmd == "promqltest":
        return _promqltest(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
