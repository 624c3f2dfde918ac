"""Loading and validating ``promhub.yml`` (a superset of ``prometheus.yml``).

The rules follow Prometheus' own config package: the same defaults (a job inherits the
global interval, timeout and limits; ``metrics_path: /metrics``, ``scheme: http`` …), the
same validation (unknown fields, bad durations, sizes and regexes, invalid label names,
duplicate job names, a timeout longer than its interval, per-action relabel
requirements, conflicting auth settings), and the same path handling (relative paths
are resolved against the config file's directory). Every error names the file, the line
and the field path::

    promhub.yml:12: field scrape_configs[0].scrape_interval: not a valid duration string: "5x"

Where promhub is stricter than Prometheus it says why: a scrape ``scheme`` other than
http/https (Prometheus fails those targets at runtime instead), non-integer counts, and
service-discovery mechanisms promhub does not implement yet.
"""

from __future__ import annotations

import glob
import os
import re
from importlib import resources
from typing import Any

from promhub.config.alerting import read_alerting
from promhub.config.http_client import HTTP_CLIENT_FIELDS, check_url, read_http_client
from promhub.config.model import (
    RELABEL_ACTIONS,
    Config,
    ConfigError,
    FileSDConfig,
    GlobalConfig,
    HTTPSDConfig,
    RelabelConfig,
    ScrapeConfig,
    StaticConfig,
)
from promhub.config.otlp import parse_settings as parse_otlp_settings
from promhub.config.pushgateway import read_pushgateway
from promhub.config.remote import read_remote_reads
from promhub.config.remote_write import read_remote_write
from promhub.config.units import format_duration, parse_duration, parse_size
from promhub.config.yaml_lines import (
    ANY_KEY,
    Section,
    compose,
    construct,
    describe,
    is_null,
)
from promhub.model.relabel import compile_regex, is_valid_label_name

#: ``storage.exemplars.max_exemplars`` when unset (Prometheus' DefaultExemplarsConfig).
DEFAULT_MAX_EXEMPLARS = 100_000

__all__ = [
    "ConfigCheck",
    "check_config",
    "default_config",
    "format_duration",
    "load_config",
    "load_config_text",
    "parse_duration",
    "parse_size",
]

#: Scrape limits a job inherits from ``global`` when it does not set its own.
_INHERITED_LIMITS = (
    "sample_limit",
    "target_limit",
    "label_limit",
    "label_name_length_limit",
    "label_value_length_limit",
    "keep_dropped_targets",
)

_TOP = {
    "global", "scrape_configs", "scrape_config_files", "rule_files", "alerting",
    "remote_write", "remote_read", "storage", "tracing", "otlp", "runtime",
    "pushgateway",
}  # fmt: skip
_GLOBAL = {
    "scrape_interval", "scrape_timeout", "scrape_protocols", "evaluation_interval",
    "rule_query_offset", "query_log_file", "scrape_failure_log_file", "external_labels",
    "body_size_limit", "sample_limit", "target_limit", "label_limit",
    "label_name_length_limit", "label_value_length_limit", "keep_dropped_targets",
    "metric_name_validation_scheme", "metric_name_escaping_scheme",
    "scrape_native_histograms", "convert_classic_histograms_to_nhcb",
    "always_scrape_classic_histograms", "extra_scrape_metrics",
}  # fmt: skip
_HTTP = HTTP_CLIENT_FIELDS
_SUPPORTED_SD = ("static_configs", "file_sd_configs", "http_sd_configs")
#: Discovery mechanisms Prometheus has and promhub does not (yet): named, not "unknown".
_OTHER_SD = {
    f"{k}_sd_configs"
    for k in (
        "azure", "consul", "digitalocean", "docker", "dockerswarm", "dns", "ec2", "eureka",
        "gce", "hetzner", "ionos", "kubernetes", "kuma", "lightsail", "linode", "marathon",
        "nerve", "nomad", "openstack", "ovhcloud", "puppetdb", "scaleway", "serverset",
        "stackit", "triton", "uyuni", "vultr",
    )
}  # fmt: skip
_SCRAPE = {
    "job_name", "honor_labels", "honor_timestamps", "track_timestamps_staleness", "params",
    "scrape_interval", "scrape_timeout", "scrape_protocols", "fallback_scrape_protocol",
    "scrape_native_histograms", "always_scrape_classic_histograms",
    "scrape_classic_histograms", "convert_classic_histograms_to_nhcb",
    "scrape_failure_log_file", "metrics_path", "scheme", "enable_compression",
    "body_size_limit", "sample_limit", "target_limit", "label_limit",
    "label_name_length_limit", "label_value_length_limit", "native_histogram_bucket_limit",
    "native_histogram_min_bucket_factor", "keep_dropped_targets",
    "metric_name_validation_scheme", "metric_name_escaping_scheme", "extra_scrape_metrics",
    "relabel_configs", "metric_relabel_configs",
} | _HTTP | set(_SUPPORTED_SD) | _OTHER_SD  # fmt: skip
_RELABEL = {
    "source_labels", "separator", "regex", "modulus", "target_label", "replacement", "action",
}  # fmt: skip
SCRAPE_PROTOCOLS = (
    "PrometheusProto", "PrometheusText0.0.4", "PrometheusText1.0.0",
    "OpenMetricsText0.0.1", "OpenMetricsText1.0.0",
)  # fmt: skip
_ESCAPING = ("allow-utf-8", "underscores", "dots", "values")
# A glob may use '*' only in its last path element, as Prometheus requires.
_PAT_RULE_PATH = re.compile(r"[^*]*(\*[^/]*)?\Z")
_PAT_FILE_SD = re.compile(r"[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)\Z")
# A replace target_label may contain $1 / ${name} references.
_RELABEL_TARGET = re.compile(r"(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+\Z", re.ASCII)
_ENV_REF = re.compile(r"\$(?:\{([^}]*)\}|(\$|[A-Za-z0-9_]+))")


# --------------------------------------------------------------------------- public API


def load_config(path: str) -> Config:
    """Read and validate the config file at ``path``.

    Raises :class:`ConfigError` (naming file, line and field) if it is invalid, or
    :class:`OSError` if it cannot be read.
    """
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return _Loader(path, os.path.dirname(path) or ".").load(text)


def load_config_text(text: str, filename: str = "") -> Config:
    """Validate config ``text``; ``filename`` is used in errors and, when given, as the
    base for relative paths (otherwise they stay as written)."""
    base = (os.path.dirname(filename) or ".") if filename else ""
    return _Loader(filename, base).load(text)


def default_config(listen_address: str = "0.0.0.0:9090") -> Config:
    """The embedded default: promhub scraping itself and its built-in host collector.

    ``listen_address`` is promhub's own ``--web.listen-address``; both jobs target it.
    """
    host, _, port = listen_address.rpartition(":")
    host = host.strip("[]")
    if host in ("", "0.0.0.0", "::"):
        host = "localhost"
    elif ":" in host:
        host = f"[{host}]"
    text = resources.files("promhub.config").joinpath("default.yml").read_text("utf-8")
    text = text.replace("localhost:9090", f"{host}:{port or '9090'}")
    cfg = _Loader("", "").load(text)
    cfg.source_file = ""
    return cfg


class ConfigCheck(list[str]):
    """Result of :func:`check_config`: the error lines (empty if valid), plus
    ``rule_files`` (the files the ``rule_files`` globs matched, to check next) and
    ``warnings`` (e.g. a ``file_sd`` path that matches nothing yet)."""

    def __init__(self, errors: list[str], rule_files: list[str], warnings: list[str]) -> None:
        super().__init__(errors)
        self.rule_files = rule_files
        self.warnings = warnings


def check_config(path: str) -> ConfigCheck:
    """Check a config file the way ``promtool check config`` does.

    Beyond loading it, referenced client certificate and key files must exist; file_sd
    paths matching nothing are reported as warnings.
    """
    try:
        cfg = load_config(path)
    except ConfigError as e:
        return ConfigCheck([str(e)], [], [])
    except OSError as e:
        return ConfigCheck([f"{path}: {e.strerror or e}"], [], [])
    except UnicodeDecodeError as e:
        return ConfigCheck([f"{path}: not valid UTF-8: {e.reason}"], [], [])
    errors: list[str] = []
    warnings: list[str] = []
    rule_files: list[str] = []
    for pattern in cfg.rule_files:
        rule_files.extend(sorted(glob.glob(pattern)))
    for sc in cfg.scrape_configs:
        tls = sc.http.tls_config
        for what, f in (("client cert", tls.cert_file), ("client key", tls.key_file)):
            if f and not os.path.exists(f):
                errors.append(f'error checking {what} file "{f}": no such file or directory')
        for fsd in sc.file_sd_configs:
            for pattern in fsd.files:
                if not glob.glob(pattern):
                    warnings.append(
                        f'file "{pattern}" for file_sd in scrape job "{sc.job_name}" does not exist'
                    )
    return ConfigCheck(errors, rule_files, warnings)


# --------------------------------------------------------------------------- loading


class _Loader:
    def __init__(self, file: str, base_dir: str) -> None:
        self.file = file
        self.base_dir = base_dir

    def join(self, path: str, base_dir: str | None = None) -> str:
        """Resolve a relative path against the config's directory (Prometheus' JoinDir)."""
        base = self.base_dir if base_dir is None else base_dir
        if not path or not base or os.path.isabs(path):
            return path
        return os.path.normpath(os.path.join(base, path))

    def load(self, text: str) -> Config:
        root = compose(text, self.file)
        cfg = Config(source_file=self.file, source_text=text)
        if root is None:  # an empty file is a valid, empty config
            return cfg
        top = Section(root, self.file, "", "config.Config", _TOP)
        cfg.global_ = self.global_config(top.section("global", "config.GlobalConfig", _GLOBAL))
        for key in ("rule_files", "scrape_config_files"):
            patterns = top.str_list(key)
            for p in patterns:
                if not _PAT_RULE_PATH.match(p):
                    what = "rule file" if key == "rule_files" else "scrape config file"
                    raise top.error(key, f'invalid {what} path "{p}"')
            setattr(cfg, key, [self.join(p) for p in patterns])
        jobs: dict[str, str] = {}
        for sec in top.sections("scrape_configs", "config.ScrapeConfig", _SCRAPE):
            sc = self.scrape_config(sec, cfg.global_, self.base_dir)
            if sc.job_name in jobs:
                raise sec.error(
                    "job_name", f'found multiple scrape configs with job name "{sc.job_name}"'
                )
            jobs[sc.job_name] = "main config file"
            cfg.scrape_configs.append(sc)
        for pattern in cfg.scrape_config_files:
            for path in sorted(glob.glob(pattern)):
                cfg.scrape_configs.extend(self.scrape_config_file(path, cfg.global_, jobs))
        cfg.alerting = read_alerting(top, self, self.base_dir)
        cfg.storage = self.raw_mapping(top, "storage")
        self.check_exemplars(top)
        cfg.tracing = self.raw_mapping(top, "tracing")
        cfg.otlp = self.raw_mapping(top, "otlp")
        try:
            parse_otlp_settings(cfg.otlp)
        except ValueError as e:
            raise top.error("otlp", str(e)) from None
        cfg.runtime = self.raw_mapping(top, "runtime")
        cfg.remote_write = read_remote_write(top, self.join, self.relabel_configs)
        cfg.remote_read = read_remote_reads(top, self.join)
        cfg.pushgateway = read_pushgateway(top)
        return cfg

    def scrape_config_file(
        self, path: str, g: GlobalConfig, jobs: dict[str, str]
    ) -> list[ScrapeConfig]:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"cannot read scrape config file: {e}", path) from None
        sub = _Loader(path, os.path.dirname(path) or ".")
        root = compose(text, path)
        if root is None:
            return []
        top = Section(root, path, "", "config.ScrapeConfigs", {"scrape_configs"})
        out = []
        for sec in top.sections("scrape_configs", "config.ScrapeConfig", _SCRAPE):
            sc = sub.scrape_config(sec, g, sub.base_dir)
            if sc.job_name in jobs:
                raise sec.error(
                    "job_name",
                    f'found multiple scrape configs with job name "{sc.job_name}", '
                    f"first found in {jobs[sc.job_name]}",
                )
            jobs[sc.job_name] = f'"{os.path.abspath(path)}"'
            out.append(sc)
        return out

    # -- global

    def global_config(self, sec: Section | None) -> GlobalConfig:
        g = GlobalConfig()
        if sec is None:
            return g
        g.scrape_interval = sec.get_duration("scrape_interval") or g.scrape_interval
        timeout = sec.get_duration("scrape_timeout")
        if timeout > g.scrape_interval:
            raise sec.error("scrape_timeout", "global scrape timeout greater than scrape interval")
        g.scrape_timeout = timeout or min(g.scrape_timeout, g.scrape_interval)
        g.evaluation_interval = sec.get_duration("evaluation_interval") or g.evaluation_interval
        g.rule_query_offset = sec.get_duration("rule_query_offset")
        g.query_log_file = self.join(sec.get_str("query_log_file"))
        g.scrape_failure_log_file = self.join(sec.get_str("scrape_failure_log_file"))
        for name, (line, value) in sec.str_map_lines("external_labels").items():
            if not is_valid_label_name(name):
                raise ConfigError(
                    f'"{name}" is not a valid label name',
                    self.file,
                    line,
                    sec.child("external_labels"),
                )
            g.external_labels[name] = _expand_env(value)
        if "scrape_protocols" in sec:
            g.scrape_protocols = self.scrape_protocols(sec, "global config")
        g.body_size_limit = sec.get_size("body_size_limit")
        for key in _INHERITED_LIMITS:
            setattr(g, key, sec.get_uint(key))
        scheme = sec.get_str("metric_name_validation_scheme")
        g.metric_name_validation_scheme = scheme if scheme in ("utf8", "legacy") else "utf8"
        g.metric_name_escaping_scheme = self.escaping(sec, "")
        for key in (
            "scrape_native_histograms",
            "convert_classic_histograms_to_nhcb",
            "always_scrape_classic_histograms",
            "extra_scrape_metrics",
        ):
            setattr(g, key, sec.get_bool(key, False))
        return g

    def scrape_protocols(self, sec: Section, whose: str) -> list[str]:
        protos = sec.str_list("scrape_protocols")
        if not protos:
            raise sec.error("scrape_protocols", f"scrape_protocols cannot be empty for {whose}")
        seen: set[str] = set()
        for p in protos:
            if p.lower() in seen:
                raise sec.error("scrape_protocols", f"duplicated protocol in scrape_protocols: {p}")
            if p not in SCRAPE_PROTOCOLS:
                raise sec.error(
                    "scrape_protocols",
                    f"unknown scrape protocol {p}, supported: {sorted(SCRAPE_PROTOCOLS)}",
                )
            seen.add(p.lower())
        return protos

    def escaping(self, sec: Section, default: str) -> str:
        esc = sec.get_str("metric_name_escaping_scheme", default)
        if esc and esc not in _ESCAPING:
            raise sec.error(
                "metric_name_escaping_scheme",
                f"unknown name escaping method {esc!r}, must be one of {', '.join(_ESCAPING)}",
            )
        return esc

    # -- scrape configs

    def scrape_config(self, sec: Section, g: GlobalConfig, base_dir: str) -> ScrapeConfig:
        job = sec.get_str("job_name")
        if not job:
            raise sec.error("job_name" if "job_name" in sec.keys else "", "job_name is empty")
        for key in _OTHER_SD:
            if key in sec.keys:
                raise sec.error(
                    key,
                    f"{key} is not supported by promhub yet "
                    f"(supported: {', '.join(_SUPPORTED_SD)})",
                )
        sc = ScrapeConfig(job_name=job)
        sc.honor_labels = sec.get_bool("honor_labels", False)
        sc.honor_timestamps = sec.get_bool("honor_timestamps", True)
        sc.track_timestamps_staleness = sec.get_bool("track_timestamps_staleness", False)
        sc.params = self.params(sec)

        sc.scrape_interval = sec.get_duration("scrape_interval") or g.scrape_interval
        timeout = sec.get_duration("scrape_timeout")
        if timeout > sc.scrape_interval:
            raise sec.error(
                "scrape_timeout",
                "scrape timeout greater than scrape interval for scrape config with job name "
                f'"{job}"',
            )
        # An inherited global timeout longer than this job's interval is capped silently.
        sc.scrape_timeout = timeout or min(g.scrape_timeout, sc.scrape_interval)

        if "scrape_protocols" in sec:
            sc.scrape_protocols = self.scrape_protocols(sec, f'scrape config with job name "{job}"')
        else:
            sc.scrape_protocols = list(g.scrape_protocols)
        sc.fallback_scrape_protocol = sec.get_str("fallback_scrape_protocol")
        if sc.fallback_scrape_protocol and sc.fallback_scrape_protocol not in SCRAPE_PROTOCOLS:
            raise sec.error(
                "fallback_scrape_protocol",
                f"invalid fallback_scrape_protocol for scrape config with job name "
                f'"{job}": unknown scrape protocol {sc.fallback_scrape_protocol}',
            )
        sc.metrics_path = sec.get_str("metrics_path", "/metrics") or "/metrics"
        sc.scheme = sec.get_str("scheme", "http") or "http"
        if sc.scheme not in ("http", "https"):
            raise sec.error("scheme", f'invalid scheme "{sc.scheme}": must be "http" or "https"')
        sc.enable_compression = sec.get_bool("enable_compression", True)

        sc.body_size_limit = sec.get_size("body_size_limit") or g.body_size_limit
        for key in _INHERITED_LIMITS:
            setattr(sc, key, sec.get_uint(key) or getattr(g, key))
        sc.native_histogram_bucket_limit = sec.get_uint("native_histogram_bucket_limit")
        sc.native_histogram_min_bucket_factor = sec.get_float("native_histogram_min_bucket_factor")
        sc.scrape_native_histograms = sec.get_bool(
            "scrape_native_histograms", g.scrape_native_histograms
        )
        # Prometheus 2.x called it scrape_classic_histograms.
        sc.always_scrape_classic_histograms = sec.get_bool(
            "always_scrape_classic_histograms",
            sec.get_bool("scrape_classic_histograms", g.always_scrape_classic_histograms),
        )
        sc.convert_classic_histograms_to_nhcb = sec.get_bool(
            "convert_classic_histograms_to_nhcb", g.convert_classic_histograms_to_nhcb
        )
        sc.extra_scrape_metrics = sec.get_bool("extra_scrape_metrics", g.extra_scrape_metrics)
        sc.scrape_failure_log_file = (
            self.join(sec.get_str("scrape_failure_log_file"), base_dir) or g.scrape_failure_log_file
        )
        validation = sec.get_str("metric_name_validation_scheme")
        if validation not in ("", "utf8", "legacy"):
            raise sec.error(
                "metric_name_validation_scheme",
                f"unknown scrape config name validation method specified, must be either "
                f"'', 'legacy' or 'utf8', got {validation}",
            )
        sc.metric_name_validation_scheme = validation or g.metric_name_validation_scheme
        default_esc = "underscores" if sc.metric_name_validation_scheme == "legacy" else ""
        if not validation:
            default_esc = g.metric_name_escaping_scheme or default_esc
        sc.metric_name_escaping_scheme = self.escaping(sec, default_esc) or (
            "underscores" if sc.metric_name_validation_scheme == "legacy" else "allow-utf-8"
        )
        if (
            sc.metric_name_escaping_scheme == "allow-utf-8"
            and sc.metric_name_validation_scheme != "utf8"
        ):
            raise sec.error(
                "metric_name_escaping_scheme",
                "utf8 metric names requested but validation scheme is not set to UTF8",
            )

        sc.http = read_http_client(sec, lambda p: self.join(p, base_dir))
        sc.static_configs = [self.static_config(s) for s in sec.sections(
            "static_configs", "targetgroup.Group", {"targets", "labels"}
        )]  # fmt: skip
        sc.file_sd_configs = [
            self.file_sd(s, base_dir)
            for s in sec.sections("file_sd_configs", "file.SDConfig", {"files", "refresh_interval"})
        ]
        sc.http_sd_configs = [
            self.http_sd(s, base_dir)
            for s in sec.sections(
                "http_sd_configs", "http.SDConfig", {"url", "refresh_interval"} | _HTTP
            )
        ]
        sc.relabel_configs = self.relabel_configs(sec, "relabel_configs")
        sc.metric_relabel_configs = self.relabel_configs(sec, "metric_relabel_configs")
        if not sc.relabel_configs:
            # Users often paste URLs into targets; without relabeling that cannot work.
            for i, st in enumerate(sc.static_configs):
                for t in st.targets:
                    if "/" in t:
                        raise ConfigError(
                            f'"{t}" is not a valid hostname',
                            self.file,
                            sec.line_of("static_configs"),
                            f"{sec.child('static_configs')}[{i}].targets",
                        )
        return sc

    def params(self, sec: Section) -> dict[str, list[str]]:
        node = sec.node("params")
        if node is None:
            return {}
        inner = Section(node, self.file, sec.child("params"), "url.Values", ANY_KEY)
        return {k: inner.str_list(k) for k in inner.keys}

    def static_config(self, sec: Section) -> StaticConfig:
        st = StaticConfig(targets=sec.str_list("targets"))
        for name, (line, value) in sec.str_map_lines("labels").items():
            if not is_valid_label_name(name):
                raise ConfigError(
                    f'"{name}" is not a valid label name', self.file, line, sec.child("labels")
                )
            st.labels[name] = value
        return st

    def file_sd(self, sec: Section, base_dir: str) -> FileSDConfig:
        files = sec.str_list("files")
        if not files:
            raise sec.error("files", "file_sd_config must contain at least one path name")
        for f in files:
            if not _PAT_FILE_SD.match(f):
                raise sec.error("files", f'path name "{f}" is not valid for file discovery')
        refresh = sec.get_duration("refresh_interval") or 300.0
        return FileSDConfig(files=[self.join(f, base_dir) for f in files], refresh_interval=refresh)

    def http_sd(self, sec: Section, base_dir: str) -> HTTPSDConfig:
        url = sec.get_str("url")
        if not url:
            raise sec.error("url" if "url" in sec.keys else "", "URL is missing")
        check_url(sec, "url", url, ("http", "https"))
        refresh = sec.get_duration("refresh_interval") or 60.0
        return HTTPSDConfig(
            url=url,
            refresh_interval=refresh,
            http=read_http_client(sec, lambda p: self.join(p, base_dir)),
        )

    def relabel_configs(self, sec: Section, key: str) -> list[RelabelConfig]:
        return [self.relabel_config(s) for s in sec.sections(key, "relabel.Config", _RELABEL)]

    def relabel_config(self, sec: Section) -> RelabelConfig:
        raw_action = sec.get_str("action", "replace")
        action = raw_action.lower()
        if action not in RELABEL_ACTIONS:
            raise sec.error("action", f'unknown relabel action "{raw_action}"')
        sources = sec.str_list("source_labels")
        for name in sources:
            if not is_valid_label_name(name):
                raise sec.error("source_labels", f'"{name}" is not a valid label name')
        regex_node = sec.keys.get("regex")
        regex = "(.*)"
        if regex_node is not None:
            regex = "" if is_null(regex_node[1]) else sec.get_str("regex")
        rc = RelabelConfig(
            source_labels=sources,
            separator=sec.get_str("separator", ";") if "separator" in sec else ";",
            modulus=sec.get_uint("modulus"),
            target_label=sec.get_str("target_label"),
            replacement=sec.get_str("replacement", "$1") if "replacement" in sec else "$1",
            action=action,
        )
        try:
            # Set after construction: the dataclass would compile the Go syntax as Python.
            rc.pattern = compile_regex(regex)
        except ValueError as e:
            raise sec.error("regex", str(e)) from None
        rc.regex = regex
        self.validate_relabel(sec, rc, regex_node is not None)
        return rc

    def validate_relabel(self, sec: Section, rc: RelabelConfig, regex_set: bool) -> None:
        a, target = rc.action, rc.target_label
        if rc.modulus == 0 and a == "hashmod":
            raise sec.error("", "relabel configuration for hashmod requires non-zero modulus")
        needs_target = ("replace", "hashmod", "lowercase", "uppercase", "keepequal", "dropequal")
        if a in needs_target and not target:
            raise sec.error(
                "", f"relabel configuration for {a} action requires 'target_label' value"
            )
        if a == "replace" and not (
            is_valid_label_name(target)
            if "$" not in target
            else _RELABEL_TARGET.match(target) is not None
        ):
            raise sec.error(
                "target_label", f"\"{target}\" is invalid 'target_label' for {a} action"
            )
        if a in ("lowercase", "uppercase", "keepequal", "dropequal", "hashmod") and (
            not is_valid_label_name(target)
        ):
            raise sec.error(
                "target_label", f"\"{target}\" is invalid 'target_label' for {a} action"
            )
        if a in ("lowercase", "uppercase", "keepequal", "dropequal") and rc.replacement != "$1":
            raise sec.error("replacement", f"'replacement' can not be set for {a} action")
        if a == "labelmap" and not _RELABEL_TARGET.match(rc.replacement):
            raise sec.error(
                "replacement", f"\"{rc.replacement}\" is invalid 'replacement' for {a} action"
            )
        if a in ("keepequal", "dropequal") and (regex_set or rc.modulus or rc.separator != ";"):
            raise sec.error(
                "",
                f"{a} action requires only 'source_labels' and `target_label`, and no other fields",
            )
        if a in ("labeldrop", "labelkeep") and (
            "source_labels" in sec.keys
            or target
            or rc.modulus
            or rc.separator != ";"
            or rc.replacement != "$1"
        ):
            raise sec.error("", f"{a} action requires only 'regex', and no other fields")

    # -- sections kept as written

    def check_exemplars(self, top: Section) -> None:
        """``storage.exemplars`` as Prometheus' strict ExemplarsConfig (the rest stays raw)."""
        storage = top.section("storage", "config.StorageConfig", ANY_KEY)
        if storage is None:
            return
        ex = storage.section("exemplars", "config.ExemplarsConfig", ("max_exemplars",))
        if ex is None:
            return
        node = ex.node("max_exemplars")
        value = None if node is None else construct(node)
        if node is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ex.error("max_exemplars", f"cannot unmarshal {describe(node)} into int64")

    def raw_mapping(self, top: Section, key: str) -> dict[str, Any]:
        node = top.node(key)
        if node is None:
            return {}
        value = construct(node)
        if not isinstance(value, dict):
            raise top.error(key, f"{key} must be a mapping")
        return value


def max_exemplars(cfg: Config) -> int:
    """``storage.exemplars.max_exemplars`` (Prometheus' default 100000; <= 0 stores none)."""
    exemplars = cfg.storage.get("exemplars")
    if not isinstance(exemplars, dict):
        return DEFAULT_MAX_EXEMPLARS
    value = exemplars.get("max_exemplars")
    if isinstance(value, bool) or not isinstance(value, int):
        return DEFAULT_MAX_EXEMPLARS
    return value


def _expand_env(value: str) -> str:
    """Expand ``$VAR`` / ``${VAR}`` in an external label value; ``$$`` is a literal ``$``."""
    if "$" not in value:
        return value

    def sub(m: re.Match[str]) -> str:
        name = m.group(1) if m.group(1) is not None else m.group(2)
        return "$" if name == "$" else os.environ.get(name, "")

    return _ENV_REF.sub(sub, value)
