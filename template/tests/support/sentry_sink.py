"""A Sentry server as far as the SDK can tell: it takes envelopes on loopback and keeps them for the test to read.

It speaks the part of the protocol the SDK sends to: `POST /api/<project>/envelope/` (and the older `/store/`),
bodies gzip-, deflate- or brotli-compressed or plain. Each envelope is kept as it arrived (the bytes a real server
would store) and parsed: a JSON header line, then items, each a JSON header line and a payload (its `length`
bytes, or up to the next newline).
"""

import gzip
import importlib
import json
import re
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ROUTE = re.compile(r"/api/(?P<project>[^/]+)/(?P<endpoint>envelope|store)/?")


@dataclass
class Item:
    headers: dict[str, Any]
    payload: bytes

    @property
    def type(self) -> str:
        return str(self.headers.get("type", ""))

    def json(self) -> Any:
        return json.loads(self.payload)


@dataclass
class Envelope:
    raw: bytes
    project: str
    headers: dict[str, Any]
    items: list[Item] = field(default_factory=list)


def parse_envelope(raw: bytes, project: str) -> Envelope:
    header_line, _, rest = raw.partition(b"\n")
    envelope = Envelope(raw, project, json.loads(header_line or b"{}"))
    while rest.strip():
        item_line, _, rest = rest.partition(b"\n")
        headers = json.loads(item_line)
        if "length" in headers:
            payload, rest = rest[: headers["length"]], rest[headers["length"] :]
            rest = rest.removeprefix(b"\n")
        else:
            payload, _, rest = rest.partition(b"\n")
        envelope.items.append(Item(headers, payload))
    return envelope


def _decompress(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding == "br":  # the SDK's choice when the brotli module is installed
        return bytes(importlib.import_module("brotli").decompress(body))
    return body


class SentrySink(ThreadingHTTPServer):
    """Collects what the SDK sends; `envelopes` in arrival order."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.envelopes: list[Envelope] = []
        self._lock = threading.Lock()

    def dsn(self, public_key: str, secret_key: str = "", project: str = "1") -> str:
        """A DSN that points the SDK here (plain HTTP: fine outside production, which check-deploy refuses)."""
        credentials = f"{public_key}:{secret_key}" if secret_key else public_key
        return f"http://{credentials}@127.0.0.1:{self.server_address[1]}/{project}"

    def keep(self, envelope: Envelope) -> None:
        with self._lock:
            self.envelopes.append(envelope)

    @property
    def raw(self) -> bytes:
        """Every envelope's bytes, as one text to search."""
        with self._lock:
            return b"\n".join(envelope.raw for envelope in self.envelopes)

    def items(self, item_type: str) -> list[Item]:
        with self._lock:
            return [item for envelope in self.envelopes for item in envelope.items if item.type == item_type]


class _Handler(BaseHTTPRequestHandler):
    server: SentrySink

    def do_POST(self) -> None:
        route = ROUTE.fullmatch(self.path.partition("?")[0])
        if route is None:
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        raw = _decompress(body, self.headers.get("Content-Encoding", "").strip().lower())
        if route["endpoint"] == "store":  # the older endpoint: one event as JSON, no envelope around it
            raw = b'{}\n{"type":"event"}\n' + raw
        self.server.keep(parse_envelope(raw, route["project"]))
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads the envelopes, not an access log."""


@contextmanager
def sentry_sink() -> Iterator[SentrySink]:
    sink = SentrySink()
    # A short poll: `shutdown` waits for the loop to notice, and the default would cost half a second per test.
    thread = threading.Thread(target=sink.serve_forever, args=(0.02,), name="sentry-sink", daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        sink.shutdown()
        sink.server_close()
        thread.join()
