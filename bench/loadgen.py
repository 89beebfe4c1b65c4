"""A small HTTP/1.1 load generator on raw asyncio streams (standard library; uvloop when installed).

Used by run.py for the login load and the /health/live probe, and for throughput when `wrk` is not on PATH.
It runs in its own process so that its CPU time never counts against the server's event loop.

Two modes:
  closed loop  --connections N: N keep-alive connections, each sending the next request as soon as the last
               answer arrived, until --duration seconds have passed.
  paced        --interval S: one keep-alive connection, one request every S seconds (a probe).

Prints one JSON object: requests, seconds, requests_per_second, statuses, errors and latency percentiles in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import sys
import time
from urllib.parse import urlsplit


class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.statuses: dict[str, int] = {}
        self.errors = 0


def build_request(url: str, method: str, headers: list[str], body: bytes) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 80
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {path} HTTP/1.1", f"Host: {parts.netloc}", "User-Agent: rampart-bench"]
    lines += headers
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return host, port, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; return its status and whether the connection may be reused."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = None
    chunked = False
    close = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif name == b"connection" and b"close" in value.lower():
            close = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    elif length is None and status not in (204, 304):
        await reader.read()  # body until close
        close = True
    return status, not close


async def connection_loop(
    host: str, port: int, request: bytes, deadline: float, stats: Stats, interval: float | None
) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    next_send = time.perf_counter()
    while True:
        now = time.perf_counter()
        if interval is not None:
            if next_send > now:
                await asyncio.sleep(next_send - now)
            next_send += interval
        if time.perf_counter() >= deadline:
            break
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            assert reader is not None
            started = time.perf_counter()
            writer.write(request)
            status, reusable = await read_response(reader)
            elapsed = time.perf_counter() - started
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, IndexError):
            stats.errors += 1
            if writer is not None:
                writer.close()
            reader = writer = None
            await asyncio.sleep(0.01)
            continue
        stats.latencies.append(elapsed)
        stats.statuses[str(status)] = stats.statuses.get(str(status), 0) + 1
        if not reusable:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (the smallest value with at least `fraction` of the samples at or below it)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def summarize(stats: Stats, seconds: float) -> dict[str, object]:
    values = sorted(stats.latencies)
    ok = sum(count for status, count in stats.statuses.items() if status.startswith("2"))
    return {
        "requests": len(values),
        "ok": ok,
        "seconds": round(seconds, 3),
        "requests_per_second": round(len(values) / seconds, 1) if seconds > 0 else 0.0,
        "statuses": stats.statuses,
        "errors": stats.errors,
        "latency_ms": {
            "p50": round(percentile(values, 0.50) * 1000, 3),
            "p90": round(percentile(values, 0.90) * 1000, 3),
            "p95": round(percentile(values, 0.95) * 1000, 3),
            "p99": round(percentile(values, 0.99) * 1000, 3),
            "max": round(values[-1] * 1000, 3) if values else float("nan"),
            "mean": round(sum(values) / len(values) * 1000, 3) if values else float("nan"),
        },
    }


async def run(args: argparse.Namespace) -> dict[str, object]:
    body = args.body.encode() if args.body is not None else b""
    host, port, request = build_request(args.url, args.method, args.header, body)
    stats = Stats()
    started = time.perf_counter()
    deadline = started + args.duration
    connections = 1 if args.interval is not None else args.connections
    await asyncio.gather(
        *(connection_loop(host, port, request, deadline, stats, args.interval) for _ in range(connections))
    )
    return summarize(stats, time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--interval", type=float, default=None, help="paced mode: seconds between requests")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--header", action="append", default=[], help="'Name: value', repeatable")
    parser.add_argument("--body", default=None)
    args = parser.parse_args(argv)
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(run(args))
    else:
        result = uvloop.run(run(args))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
