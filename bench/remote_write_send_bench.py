"""remote_write sender: encoding cost per sample, and backlog drain rate per CPU core.

1. Encoding a 2,000-sample WriteRequest (default ``max_samples_per_send``), two shapes:
   one sample per series (a scrape's worth, what a caught-up queue sends) and 20 samples
   per series (a backlog). Compared: promhub's NumPy encoder, the same bytes built by a
   per-sample Python loop, and the protobuf library (upb) building and serializing the
   message. Labels are pre-encoded in all three, as the queue caches them per series.
2. Draining a WAL backlog: ``--series`` series × ``--scrapes`` scrapes are written to a
   fresh TSDB, then a queue starts from the WAL's beginning and sends everything to a
   sink in another process that answers 204. Reported: samples/s and the sender process'
   CPU seconds per million samples.

Example::

    python bench/remote_write_send_bench.py                 # 1,000 series x 200 scrapes
    python bench/remote_write_send_bench.py --series 200 --scrapes 50   # quick
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from promhub.config.loader import load_config_text  # noqa: E402
from promhub.model.labels import Labels  # noqa: E402
from promhub.storage.remote import WriteStorage  # noqa: E402
from promhub.storage.remote.codec import encode_labels, encode_write_request  # noqa: E402
from promhub.storage.remote.queue import progress_file  # noqa: E402
from promhub.tsdb import DB  # noqa: E402


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def python_loop(labels: list[bytes], counts: list[int], ts: list[int], vals: list[float]) -> bytes:
    parts = []
    i = 0
    for lb, c in zip(labels, counts, strict=True):
        body = bytearray(lb)
        for _ in range(c):
            s = b"\x09" + struct.pack("<d", vals[i]) + b"\x10" + _varint(ts[i] & (2**64 - 1))
            body += b"\x12" + _varint(len(s)) + s
            i += 1
        parts.append(b"\x0a" + _varint(len(body)) + bytes(body))
    return b"".join(parts)


def protobuf_class() -> Any:
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    f = descriptor_pb2.FileDescriptorProto(name="b.proto", package="prometheus", syntax="proto3")
    for name, fields in (
        ("Label", [("name", 1, 9, 1, ""), ("value", 2, 9, 1, "")]),
        ("Sample", [("value", 1, 1, 1, ""), ("timestamp", 2, 3, 1, "")]),
        ("TimeSeries", [("labels", 1, 11, 3, ".prometheus.Label"),
                        ("samples", 2, 11, 3, ".prometheus.Sample")]),
        ("WriteRequest", [("timeseries", 1, 11, 3, ".prometheus.TimeSeries")]),
    ):  # fmt: skip
        m = f.message_type.add(name=name)
        for fname, num, ftype, label, tname in fields:
            fd = m.field.add(name=fname, number=num, type=ftype, label=label)
            if tname:
                fd.type_name = tname
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("prometheus.WriteRequest"))


def bench_encode(per_series: int, reps: int) -> dict[str, float]:
    n = 2000
    nser = n // per_series
    series = [
        Labels.from_dict({"__name__": f"metric_{i % 50}", "instance": "host:9100", "job": "node",
                          "i": str(i)})
        for i in range(nser)
    ]  # fmt: skip
    labels = [encode_labels(ls) for ls in series]
    counts = np.full(nser, per_series, np.int64)
    ts = (1_700_000_000_000 + np.tile(np.arange(per_series) * 15_000, nser)).astype(np.int64)
    vals = np.random.default_rng(1).random(n) * 1000
    out: dict[str, float] = {}

    def timeit(name: str, fn: Any) -> None:
        fn()
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        out[name] = (time.perf_counter() - t0) / reps / n * 1e9  # ns per sample

    timeit("numpy", lambda: encode_write_request(labels, counts, ts, vals))
    tl, vl, cl = ts.tolist(), vals.tolist(), counts.tolist()
    timeit("python_loop", lambda: python_loop(labels, cl, tl, vl))
    assert python_loop(labels, cl, tl, vl) == encode_write_request(labels, counts, ts, vals)
    wr = protobuf_class()
    pairs = [list(ls) for ls in series]

    def pb() -> bytes:
        m = wr()
        i = 0
        for ps, c in zip(pairs, cl, strict=True):
            t = m.timeseries.add()
            for k, v in ps:
                t.labels.add(name=k, value=v)
            for _ in range(c):
                t.samples.add(value=vl[i], timestamp=tl[i])
                i += 1
        return bytes(m.SerializeToString())

    timeit("protobuf_upb", pb)
    return out


def _sink(port: Any) -> None:
    from aiohttp import web

    async def handle(req: web.Request) -> web.Response:
        await req.read()
        return web.Response(status=204)

    async def main() -> None:
        app = web.Application(client_max_size=64 << 20)
        app.router.add_post("/api/v1/write", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port.value = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        await asyncio.Event().wait()

    asyncio.run(main())


def bench_drain(nseries: int, scrapes: int) -> dict[str, float]:
    port = multiprocessing.Value("i", 0)
    sink = multiprocessing.Process(target=_sink, args=(port,), daemon=True)
    sink.start()
    while port.value == 0:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port.value}/api/v1/write"
    with tempfile.TemporaryDirectory() as d:
        data = Path(d)
        db = DB.open(data)
        app = db.appender()
        refs = np.array(
            [app.ref(Labels.from_dict({"__name__": f"m{i % 20}", "i": str(i), "job": "j"}))
             for i in range(nseries)], np.int64)  # fmt: skip
        rng = np.random.default_rng(2)
        for s in range(scrapes):
            a = db.appender()
            a.append(refs, np.array([1_700_000_000_000 + s * 15_000], np.int64),
                     rng.random(nseries))  # fmt: skip
            a.commit()
        cfg = load_config_text(f"remote_write: [{{url: '{url}', name: bench}}]\n")
        pf = progress_file(data, cfg.remote_write[0])
        pf.parent.mkdir(parents=True)
        pf.write_text(json.dumps({"segment": 1, "offset": 0}))  # the first segment
        total = nseries * scrapes

        async def main() -> tuple[float, float]:
            rw = WriteStorage(data / "wal", data, CollectorRegistry())
            c0, w0 = time.process_time(), time.perf_counter()
            rw.apply_config(cfg)
            (q,) = rw.queues
            sent = rw.metrics.samples.labels("bench", url)
            while sent._value.get() < total:  # noqa: SLF001
                await asyncio.sleep(0.02)
            c1, w1 = time.process_time(), time.perf_counter()
            await rw.stop()
            del q
            return c1 - c0, w1 - w0

        cpu, wall = asyncio.run(main())
        db.close()
    sink.kill()
    return {
        "samples": total,
        "wall_s": round(wall, 3),
        "samples_per_s": round(total / wall),
        "cpu_s_per_1M_samples": round(cpu / total * 1e6, 3),
        "samples_per_cpu_s": round(total / cpu),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=1000)
    ap.add_argument("--scrapes", type=int, default=200)
    ap.add_argument("--reps", type=int, default=50)
    args = ap.parse_args()
    res = {
        "encode_ns_per_sample_1_per_series": bench_encode(1, args.reps),
        "encode_ns_per_sample_20_per_series": bench_encode(20, args.reps),
        "drain": bench_drain(args.series, args.scrapes),
    }
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
