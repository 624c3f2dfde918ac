"""The host's own metrics under node_exporter's names, so its dashboards work unchanged.

:class:`HostCollector` reads Linux ``/proc`` and ``/sys`` on every collect and yields the
core families of ``prometheus-node-exporter`` 1.5 with its exact names, label names,
units, types and help texts: CPU, load, memory, filesystems, disks, network, boot time,
time, uname, OS release, context switches, interrupts, forks, processes, entropy, file
descriptors and the default vmstat fields. Each area is read on its own; one that cannot
be read (a missing file on an older kernel, a container without ``/sys``) is skipped
without hiding the others, as node_exporter's collectors fail independently.

>>> from prometheus_client import generate_latest
>>> b"node_load1" in generate_latest(host_registry())
True
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    UnknownMetricFamily,
)
from prometheus_client.registry import Collector, CollectorRegistry

log = logging.getLogger(__name__)

#: The kernel reports CPU times in USER_HZ, which is 100 on every Linux ABI.
_USER_HZ = 100.0
#: /proc/diskstats counts 512-byte sectors whatever the device's real sector size.
_SECTOR_BYTES = 512.0
#: node_exporter resets a CPU's counters when idle time jumps back this far (hotplug).
_CPU_JUMP_BACK_SECONDS = 3.0

_CPU_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")

# node_exporter 1.5's default exclusions (--collector.filesystem.*-exclude,
# --collector.diskstats.device-exclude, --collector.netdev.device-exclude).
_FS_MOUNT_EXCLUDE = re.compile(
    r"^/(dev|proc|run|sys|mnt|media|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"
)
_FS_TYPE_EXCLUDE = re.compile(
    r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs"
    r"|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs"
    r"|squashfs|sysfs|tracefs)$"
)
_DISK_EXCLUDE = re.compile(r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$")
_NETDEV_EXCLUDE = re.compile(r"^lo$")
_VMSTAT_INCLUDE = re.compile(r"^(oom_kill|pgpg|pswp|pg.*fault).*")
_MEMINFO_PARENS = re.compile(r"\((.*)\)")

# /proc/diskstats columns after major, minor and name: (metric, help, scale, is_counter).
_DISK_FIELDS: tuple[tuple[str, str, float, bool], ...] = (
    ("reads_completed_total", "The total number of reads completed successfully.", 1, True),
    ("reads_merged_total", "The total number of reads merged.", 1, True),
    ("read_bytes_total", "The total number of bytes read successfully.", _SECTOR_BYTES, True),
    ("read_time_seconds_total", "The total number of seconds spent by all reads.", 1e-3, True),
    ("writes_completed_total", "The total number of writes completed successfully.", 1, True),
    ("writes_merged_total", "The number of writes merged.", 1, True),
    (
        "written_bytes_total",
        "The total number of bytes written successfully.",
        _SECTOR_BYTES,
        True,
    ),
    (
        "write_time_seconds_total",
        "This is the total number of seconds spent by all writes.",
        1e-3,
        True,
    ),
    ("io_now", "The number of I/Os currently in progress.", 1, False),
    ("io_time_seconds_total", "Total seconds spent doing I/Os.", 1e-3, True),
    (
        "io_time_weighted_seconds_total",
        "The weighted # of seconds spent doing I/Os.",
        1e-3,
        True,
    ),
    # Kernel 4.18+:
    ("discards_completed_total", "The total number of discards completed successfully.", 1, True),
    ("discards_merged_total", "The total number of discards merged.", 1, True),
    ("discarded_sectors_total", "The total number of sectors discarded successfully.", 1, True),
    (
        "discard_time_seconds_total",
        "This is the total number of seconds spent by all discards.",
        1e-3,
        True,
    ),
    # Kernel 5.5+:
    (
        "flush_requests_total",
        "The total number of flush requests completed successfully",
        1,
        True,
    ),
    (
        "flush_requests_time_seconds_total",
        "This is the total number of seconds spent by all flush requests.",
        1e-3,
        True,
    ),
)

_NETDEV_RECEIVE = ("bytes", "packets", "errs", "drop", "fifo", "frame", "compressed", "multicast")
_NETDEV_TRANSMIT = ("bytes", "packets", "errs", "drop", "fifo", "colls", "carrier", "compressed")

_OS_INFO_LABELS = (
    "build_id",
    "id",
    "id_like",
    "image_id",
    "image_version",
    "name",
    "pretty_name",
    "variant",
    "variant_id",
    "version",
    "version_codename",
    "version_id",
)


class HostCollector(Collector):
    """node_exporter's core metrics for the machine promhub runs on.

    ``proc`` and ``sys`` are the procfs and sysfs mount points (node_exporter's
    ``--path.procfs`` and ``--path.sysfs``), for running in a container with the host's
    filesystems mounted elsewhere. Collecting is safe from several threads at once.
    """

    def __init__(self, proc: str = "/proc", sys: str = "/sys", etc: str = "/etc") -> None:
        self._proc = proc
        self._sys = sys
        self._etc = etc
        # Last reported CPU times, so counters never go backwards (see _cpu).
        self._cpu_times: dict[str, list[float]] = {}
        self._cpu_lock = threading.Lock()

    def collect(self) -> Iterator[Metric]:
        """Read the host now and yield every family that could be read."""
        areas: tuple[Callable[[], Iterable[Metric]], ...] = (
            self._stat,
            self._loadavg,
            self._meminfo,
            self._filesystems,
            self._diskstats,
            self._netdev,
            self._netclass,
            self._time,
            self._uname,
            self._os_release,
            self._entropy,
            self._filefd,
            self._vmstat,
        )
        for area in areas:
            try:
                # Materialise first: a half-read area must not leave half its families.
                families = list(area())
            except (OSError, ValueError, IndexError) as e:
                log.debug("host metrics: %s unavailable: %s", area.__name__, e)
                continue
            # node_exporter never shows a family without samples; neither do we.
            yield from (f for f in families if f.samples)

    # --- /proc/stat: CPU, boot time, context switches, interrupts, forks, processes ---

    def _stat(self) -> list[Metric]:
        cpu = CounterMetricFamily(
            "node_cpu_seconds_total",
            "Seconds the CPUs spent in each mode.",
            labels=["cpu", "mode"],
        )
        guest = CounterMetricFamily(
            "node_cpu_guest_seconds_total",
            "Seconds the CPUs spent in guests (VMs) for each mode.",
            labels=["cpu", "mode"],
        )
        out: list[Metric] = [cpu, guest]
        seen: set[str] = set()
        for line in self._read("stat").splitlines():
            key, _, rest = line.partition(" ")
            if key.startswith("cpu") and key != "cpu":
                n = key[3:]
                seen.add(n)
                fields = [int(v) / _USER_HZ for v in rest.split()]
                fields += [0.0] * (10 - len(fields))
                times = self._monotonic_cpu(n, fields)
                for mode, value in zip(_CPU_MODES, times, strict=False):
                    cpu.add_metric([n, mode], value)
                # Guest time is already part of user and nice; node_exporter shows it apart.
                guest.add_metric([n, "user"], times[8])
                guest.add_metric([n, "nice"], times[9])
            elif key == "btime":
                out.append(_gauge("node_boot_time_seconds", "Node boot time, in unixtime.", rest))
            elif key == "ctxt":
                out.append(
                    _counter(
                        "node_context_switches_total", "Total number of context switches.", rest
                    )
                )
            elif key == "intr":
                out.append(
                    _counter(
                        "node_intr_total",
                        "Total number of interrupts serviced.",
                        rest.split(maxsplit=1)[0],
                    )
                )
            elif key == "processes":
                out.append(_counter("node_forks_total", "Total number of forks.", rest))
            elif key == "procs_running":
                out.append(
                    _gauge("node_procs_running", "Number of processes in runnable state.", rest)
                )
            elif key == "procs_blocked":
                out.append(
                    _gauge(
                        "node_procs_blocked",
                        "Number of processes blocked waiting for I/O to complete.",
                        rest,
                    )
                )
        with self._cpu_lock:
            for gone in set(self._cpu_times) - seen:
                del self._cpu_times[gone]  # An offline CPU starts afresh if it returns.
        return out

    def _monotonic_cpu(self, n: str, fields: list[float]) -> list[float]:
        # Some kernels let idle and iowait step backwards a little; a counter must not, so
        # keep the previous value. A big step back in idle means the CPU was hot-plugged:
        # start over, as node_exporter does.
        with self._cpu_lock:
            prev = self._cpu_times.get(n)
            if prev is None or prev[3] - fields[3] >= _CPU_JUMP_BACK_SECONDS:
                cur = fields[:10]
            else:
                cur = [max(p, f) for p, f in zip(prev, fields, strict=False)]
            self._cpu_times[n] = cur
            return cur

    def _loadavg(self) -> list[Metric]:
        one, five, fifteen = self._read("loadavg").split()[:3]
        return [
            _gauge("node_load1", "1m load average.", one),
            _gauge("node_load5", "5m load average.", five),
            _gauge("node_load15", "15m load average.", fifteen),
        ]

    def _meminfo(self) -> list[Metric]:
        out: list[Metric] = []
        for line in self._read("meminfo").splitlines():
            parts = line.split()
            if len(parts) < 2:
                continue
            key = _MEMINFO_PARENS.sub(r"_\1", parts[0].rstrip(":"))
            value = float(parts[1])
            if len(parts) == 3 and parts[2] == "kB":
                key += "_bytes"
                value *= 1024
            out.append(
                GaugeMetricFamily(
                    f"node_memory_{key}", f"Memory information field {key}.", value=value
                )
            )
        return out

    # --- storage ---

    def _filesystems(self) -> list[Metric]:
        labels = ["device", "fstype", "mountpoint"]
        fams = {
            "size_bytes": "Filesystem size in bytes.",
            "free_bytes": "Filesystem free space in bytes.",
            "avail_bytes": "Filesystem space available to non-root users in bytes.",
            "files": "Filesystem total file nodes.",
            "files_free": "Filesystem total free file nodes.",
            "readonly": "Filesystem read-only status.",
            "device_error": (
                "Whether an error occurred while getting statistics for the given device."
            ),
        }
        g = {
            k: GaugeMetricFamily(f"node_filesystem_{k}", h, labels=labels) for k, h in fams.items()
        }
        try:
            mounts = self._read("1/mounts")
        except FileNotFoundError:
            mounts = self._read("mounts")  # /proc/1 is hidden under hidepid.
        seen: set[tuple[str, str, str]] = set()
        for line in mounts.splitlines():
            parts = line.split()
            if len(parts) < 4:
                continue
            device, fstype, options = parts[0], parts[2], parts[3]
            mountpoint = parts[1].replace("\\040", " ").replace("\\011", "\t")
            if _FS_MOUNT_EXCLUDE.match(mountpoint) or _FS_TYPE_EXCLUDE.match(fstype):
                continue
            key = (device, fstype, mountpoint)
            if key in seen:
                continue
            seen.add(key)
            lv = list(key)
            g["readonly"].add_metric(lv, 1.0 if "ro" in options.split(",") else 0.0)
            try:
                # A hung network mount blocks here; node_exporter has the same exposure
                # without its (off by default) stat timeout.
                st = os.statvfs(mountpoint)
            except OSError:
                g["device_error"].add_metric(lv, 1.0)
                continue
            g["device_error"].add_metric(lv, 0.0)
            # node_exporter multiplies by statfs' f_bsize, not f_frsize.
            g["size_bytes"].add_metric(lv, float(st.f_blocks * st.f_bsize))
            g["free_bytes"].add_metric(lv, float(st.f_bfree * st.f_bsize))
            g["avail_bytes"].add_metric(lv, float(st.f_bavail * st.f_bsize))
            g["files"].add_metric(lv, float(st.f_files))
            g["files_free"].add_metric(lv, float(st.f_ffree))
        return list(g.values())

    def _diskstats(self) -> list[Metric]:
        rows = []
        width = len(_DISK_FIELDS)
        for line in self._read("diskstats").splitlines():
            parts = line.split()
            if len(parts) < 14 or _DISK_EXCLUDE.match(parts[2]):
                continue
            rows.append((parts[2], parts[3:]))
            width = min(width, len(parts) - 3)
        out: list[Metric] = []
        for i, (name, help_, scale, is_counter) in enumerate(_DISK_FIELDS[:width]):
            kind = CounterMetricFamily if is_counter else GaugeMetricFamily
            fam = kind(f"node_disk_{name}", help_, labels=["device"])
            for device, values in rows:
                fam.add_metric([device], int(values[i]) * scale)
            out.append(fam)
        return out

    # --- network ---

    def _netdev(self) -> list[Metric]:
        names = [f"receive_{f}" for f in _NETDEV_RECEIVE]
        names += [f"transmit_{f}" for f in _NETDEV_TRANSMIT]
        fams = [
            CounterMetricFamily(
                f"node_network_{n}_total", f"Network device statistic {n}.", labels=["device"]
            )
            for n in names
        ]
        for line in self._read("net/dev").splitlines()[2:]:
            device, _, rest = line.partition(":")
            device = device.strip()
            if _NETDEV_EXCLUDE.match(device):
                continue
            for fam, value in zip(fams, rest.split(), strict=False):
                fam.add_metric([device], float(value))
        return list(fams)

    def _netclass(self) -> list[Metric]:
        base = os.path.join(self._sys, "class", "net")
        up = GaugeMetricFamily(
            "node_network_up", "Value is 1 if operstate is 'up', 0 otherwise.", labels=["device"]
        )
        info = GaugeMetricFamily(
            "node_network_info",
            "Non-numeric data from /sys/class/net/<iface>, value is always 1.",
            labels=["address", "broadcast", "device", "duplex", "ifalias", "operstate"],
        )
        props = {
            "mtu_bytes": ("mtu", 1.0),
            "transmit_queue_length": ("tx_queue_len", 1.0),
            "carrier": ("carrier", 1.0),
            # Mb/s to bytes/s; an unknown speed (-1) shows as -125000 like node_exporter.
            "speed_bytes": ("speed", 1e6 / 8),
        }
        prop_fams = {
            k: GaugeMetricFamily(
                f"node_network_{k}", f"Network device property: {k}", labels=["device"]
            )
            for k in props
        }
        for device in sorted(os.listdir(base)):
            d = os.path.join(base, device)
            operstate = _read_attr(d, "operstate")
            up.add_metric([device], 1.0 if operstate == "up" else 0.0)
            info.add_metric(
                [
                    _read_attr(d, "address"),
                    _read_attr(d, "broadcast"),
                    device,
                    _read_attr(d, "duplex"),
                    _read_attr(d, "ifalias"),
                    operstate,
                ],
                1.0,
            )
            for key, (attr, scale) in props.items():
                # Many attributes refuse reads (EINVAL) while a link is down: skip those.
                raw = _read_attr(d, attr)
                if raw.lstrip("-").isdigit():
                    prop_fams[key].add_metric([device], int(raw) * scale)
        return [up, info, *prop_fams.values()]

    # --- identity and clocks ---

    def _time(self) -> list[Metric]:
        now = time.time()
        lt = time.localtime(now)
        tz = GaugeMetricFamily(
            "node_time_zone_offset_seconds",
            "System time zone offset in seconds.",
            labels=["time_zone"],
        )
        tz.add_metric([lt.tm_zone], float(lt.tm_gmtoff))
        return [
            GaugeMetricFamily(
                "node_time_seconds", "System time in seconds since epoch (1970).", value=now
            ),
            tz,
        ]

    def _uname(self) -> list[Metric]:
        u = os.uname()
        try:
            domainname = self._read("sys/kernel/domainname").strip()
        except OSError:
            domainname = "(none)"
        fam = GaugeMetricFamily(
            "node_uname_info",
            "Labeled system information as provided by the uname system call.",
            labels=["domainname", "machine", "nodename", "release", "sysname", "version"],
        )
        fam.add_metric([domainname, u.machine, u.nodename, u.release, u.sysname, u.version], 1.0)
        return [fam]

    def _os_release(self) -> list[Metric]:
        text = ""
        for path in (os.path.join(self._etc, "os-release"), "/usr/lib/os-release"):
            try:
                with open(path, encoding="utf-8", errors="replace") as f:
                    text = f.read()
                break
            except OSError:
                continue
        else:
            return []
        fields = _parse_os_release(text)
        labels = [fields.get(k.upper(), "") for k in _OS_INFO_LABELS]
        out: list[Metric] = []
        info = GaugeMetricFamily(
            "node_os_info",
            "A metric with a constant '1' value labeled by " + ", ".join(_OS_INFO_LABELS) + ".",
            labels=list(_OS_INFO_LABELS),
        )
        info.add_metric(labels, 1.0)
        out.append(info)
        m = re.match(r"^[0-9]+\.?[0-9]*", fields.get("VERSION_ID", ""))
        if m:
            version = GaugeMetricFamily(
                "node_os_version",
                "Metric containing the major.minor part of the OS version.",
                labels=["id", "id_like", "name"],
            )
            version.add_metric(
                [fields.get("ID", ""), fields.get("ID_LIKE", ""), fields.get("NAME", "")],
                float(m.group().rstrip(".")),
            )
            out.append(version)
        return out

    # --- kernel tables ---

    def _entropy(self) -> list[Metric]:
        return [
            _gauge(
                "node_entropy_available_bits",
                "Bits of available entropy.",
                self._read("sys/kernel/random/entropy_avail"),
            ),
            _gauge(
                "node_entropy_pool_size_bits",
                "Bits of entropy pool.",
                self._read("sys/kernel/random/poolsize"),
            ),
        ]

    def _filefd(self) -> list[Metric]:
        allocated, _, maximum = self._read("sys/fs/file-nr").split()[:3]
        return [
            _gauge("node_filefd_allocated", "File descriptor statistics: allocated.", allocated),
            _gauge("node_filefd_maximum", "File descriptor statistics: maximum.", maximum),
        ]

    def _vmstat(self) -> list[Metric]:
        out: list[Metric] = []
        for line in self._read("vmstat").splitlines():
            key, _, value = line.partition(" ")
            if _VMSTAT_INCLUDE.match(key):
                out.append(
                    UnknownMetricFamily(
                        f"node_vmstat_{key}",
                        f"/proc/vmstat information field {key}.",
                        value=float(value),
                    )
                )
        return out

    def _read(self, name: str) -> str:
        with open(os.path.join(self._proc, name), encoding="utf-8", errors="replace") as f:
            return f.read()


def host_registry() -> CollectorRegistry:
    """A registry holding only a :class:`HostCollector`, to serve at ``/host/metrics``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HostCollector())
    return registry


def _gauge(name: str, help_: str, value: str) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help_, value=float(value))


def _counter(name: str, help_: str, value: str) -> CounterMetricFamily:
    return CounterMetricFamily(name, help_, value=float(value))


def _read_attr(directory: str, name: str) -> str:
    try:
        with open(os.path.join(directory, name), encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return ""


def _parse_os_release(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep or key.startswith("#"):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        fields[key] = value
    return fields
