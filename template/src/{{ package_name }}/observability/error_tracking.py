"""Error reports to Sentry: on only when SENTRY_DSN is set, and scrubbed before anything leaves the process.

A report holds the exception (type, message, stack frames with their source lines, never local variables), the
request's method, path, query string and headers, the request id, and recent log lines as breadcrumbs. Before it is
sent, every part of it (and every breadcrumb) goes through `Scrubber`: a value under a name like token, password,
secret, pepper, key, dsn, email, cookie or authorization is replaced, whatever its depth, and so are emails, JWTs,
refresh tokens, bearer credentials, password hashes, passwords in URLs and the service's own secrets (earlier keys
included) wherever they appear in text. Client IP addresses are personal data: a value under a name like client or
x-forwarded-for, and any IPv4 or IPv6 address in text, is replaced too; only the request's URL and Host header keep
theirs, the service's own. Request bodies are never read.

With SENTRY_DSN unset, `sentry_sdk.init` is never called: no client, no patched library, no cost per request.
Sentry's framework integrations stay off too: `ErrorBoundaryMiddleware` turns a crash into a 500 before they could
see it, and reports it through the callable `init_error_tracking` returns. Only SENTRY_TRACES_SAMPLE_RATE above
zero adds the Starlette and FastAPI integrations, for the traces it asks for.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
from collections.abc import Callable, Iterator
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from pydantic import SecretStr
from starlette.types import Scope

from ..settings import Settings
from ..settings.defaults import PROJECT_SLUG
from .request_id import current_request_id

if TYPE_CHECKING:
    from sentry_sdk.types import Event

Reporter = Callable[[Exception, Scope], None]
FILTERED = "[Filtered]"
# Loggers whose lines are breadcrumbs only, never events of their own: anyone can cause a security event at will
# (a wrong password), and the error boundary's line of a crash repeats the report it has just sent.
BREADCRUMB_ONLY_LOGGERS = frozenset({"audit", "errors"})
SHORTEST_SECRET = 8  # shorter setting values are not searched for in text: they would match ordinary words

# Added to the names Sentry's own scrubber knows (its DEFAULT_DENYLIST); `Scrubber` below goes further.
DENYLIST = [
    "access_token",
    "refresh_token",
    "id_token",
    "device_token",
    "pepper",
    "password_pepper",
    "secret_key",
    "dsn",
    "sentry_dsn",
    "email",
    "username",
    "api-key",
    "x-api-key",
    "set-cookie",
    "proxy-authorization",
    "x-csrf-token",
    "x-forwarded-for",
    "x-real-ip",
    "forwarded",
    "true-client-ip",
    "cf-connecting-ip",
]
# A name that says its value is a credential or an address, anywhere in a name: `X-Api-Key`, `new_password`.
SENSITIVE_NAME = re.compile(
    r"token|passw|pwd|secret|pepper|key|dsn|e-?mail|cookie|authori[sz]ation|credential|session|csrf|xsrf|signature",
    re.IGNORECASE,
)
# A name whose value is a client's address: the audit log's `client`, a proxy's headers.
ADDRESS_NAME = re.compile(
    r"(?:client|remote|peer)(?:[-_.]?(?:ip|addr|address|host))?|ip(?:[-_]?address)?|x-forwarded-for|x-real-ip"
    r"|forwarded|true-client-ip|cf-connecting-ip|x-client-ip",
    re.IGNORECASE,
)
# Each starts where a word starts, and is bounded: linear time, even on a long base64 blob.
_NAME = r"(?<![\w.-])[\w.-]{0,40}?(?:" + SENSITIVE_NAME.pattern + r")[\w.-]{0,40}"
# What a credential or an address looks like inside text: messages, breadcrumbs, URLs and query strings.
TEXT_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # a password hash as security/hashers.py writes it (argon2id, scrypt, bcrypt-hmac) or imports it (bcrypt)
    (re.compile(r"\$(?:argon2(?:id|i|d)|scrypt|bcrypt-hmac|2[abxy])\$[\w$.,=+/-]+"), FILTERED),
    (re.compile(r"(?<=://)[^/\s@]+@"), FILTERED + "@"),  # user:password@ in a URL (a DSN, a database URL)
    (re.compile(r"\b(bearer|basic|digest)\s+[\w.~+/=-]+", re.IGNORECASE), r"\1 " + FILTERED),
    (
        # name=value, name: value, 'name': 'value': a query string, a header line, a dict's repr (in a repr)
        re.compile(
            r"(?P<name>" + _NAME + r")(?P<sep>(?:\\*[\"'])?\s*[:=]\s*)"
            r"(?P<value>" + re.escape(FILTERED) + r"|\\+'.*?\\+'|\\+\".*?\\+\"|'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\""
            r"|[\w.]+\((?:[^()]|\([^()]*\))*\)|[^\s&\"',;)}\]\\]+)",
            re.IGNORECASE,
        ),
        r"\g<name>\g<sep>" + FILTERED,
    ),
    (re.compile(r"\beyJ[\w-]*\.[\w-]+\.[\w-]*"), FILTERED),  # a JWT: its header always starts with `{"`
    (re.compile(r"\brt_[\w-]{16,}"), FILTERED),  # a refresh token (security/tokens.py)
    (re.compile(r"(?<![\w.%+-])[\w.%+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})+"), FILTERED),  # an email address
)
# What may be an IP address in text, a port after it or not: IPv6 first, whole even with an IPv4 tail
# (::ffff:203.0.113.7) or uvicorn's unbracketed port (2001:db8::7:51234), then IPv4. `_address` decides.
ADDRESS_PATTERNS = (
    re.compile(r"(?<![\w.:])(?:[0-9A-Fa-f]{0,4}:){2,8}(?:[0-9A-Fa-f]{1,5}|(?:\d{1,3}\.){3}\d{1,3})?(?![\w.:])"),
    re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\.?\w)"),
)


def _address(match: re.Match[str]) -> str:
    """An IP address of three parts at least, a port after it or not; a time, a MAC, a slice (`[1::2]`), `::1` stay."""
    text = match.group()
    for candidate in (text, text.rpartition(":")[0]):
        try:
            ipaddress.ip_address(candidate)
        except ValueError:
            continue
        if len([part for part in re.split(r"[:.]", candidate) if part]) >= 3:
            return FILTERED
    return text


def _secret_values(value: object) -> Iterator[str]:
    """The secrets a setting holds: one SecretStr, or several (SECRET_KEY_PREVIOUS, PASSWORD_PEPPER_PREVIOUS)."""
    if isinstance(value, SecretStr):
        yield value.get_secret_value()
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _secret_values(item)


def _secrets_of(settings: Settings) -> list[str]:
    """Every secret setting's value, and the password inside one that is a URL, longest first."""
    found: set[str] = set()
    for name in type(settings).model_fields:
        for secret in _secret_values(getattr(settings, name)):
            found.add(secret)
            try:
                password = urlsplit(secret).password
            except ValueError:
                password = None
            if password:
                found.add(password)
    return sorted((secret for secret in found if len(secret) >= SHORTEST_SECRET), key=len, reverse=True)


def _is_sensitive(name: str) -> bool:
    return SENSITIVE_NAME.search(name) is not None or ADDRESS_NAME.fullmatch(name) is not None


class Scrubber:
    """Replaces what must not leave the process in an event or a breadcrumb, at any depth."""

    def __init__(self, secrets: list[str]) -> None:
        self._secrets = secrets

    def text(self, value: str, *, addresses: bool = True) -> str:
        for secret in self._secrets:
            value = value.replace(secret, FILTERED)
        for pattern, replacement in TEXT_PATTERNS:
            value = pattern.sub(replacement, value)
        if addresses:
            for address in ADDRESS_PATTERNS:
                value = address.sub(_address, value)
        return value

    def value(self, value: object) -> object:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {
                key: FILTERED if isinstance(key, str) and _is_sensitive(key) else self.value(item)
                for key, item in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.value(item) for item in value]
        return value

    def event(self, event: Event, _hint: dict[str, Any]) -> Event | None:
        """`before_send`: the lines of BREADCRUMB_ONLY_LOGGERS are dropped; every other event is scrubbed."""
        if event.get("logger") in BREADCRUMB_ONLY_LOGGERS and "exception" not in event:
            return None
        trace = event.get("contexts", {}).get("trace", {})
        # The sampling context only matters to traces; it carries the DSN's key, which errors do without.
        sampling = trace.pop("dynamic_sampling_context", None)
        scrubbed = cast("Event", {key: self.value(item) for key, item in event.items() if key != "request"})
        if isinstance(request := event.get("request"), dict):
            scrubbed["request"] = self.request(request)
        if sampling is not None and event.get("type") == "transaction":
            scrubbed["contexts"]["trace"]["dynamic_sampling_context"] = sampling
        return scrubbed

    def request(self, request: dict[str, Any]) -> dict[str, Any]:
        """The host in the request's URL and its Host header keep their address: the service's own, no client's."""
        scrubbed = cast("dict[str, Any]", self.value(request))
        if isinstance(url := request.get("url"), str):
            parts = urlsplit(url)
            origin = f"{parts.scheme}://{parts.netloc}"
            origin = origin if parts.netloc and url.startswith(origin) else ""
            scrubbed["url"] = self.text(origin, addresses=False) + self.text(url.removeprefix(origin))
        headers = request.get("headers")
        if isinstance(headers, dict) and isinstance(host := headers.get("host"), str):
            scrubbed["headers"]["host"] = self.text(host, addresses=False)
        return scrubbed

    def breadcrumb(self, crumb: dict[str, Any], _hint: dict[str, Any]) -> dict[str, Any] | None:
        """`before_breadcrumb`: a log line kept for the next report is scrubbed as it is recorded."""
        return {key: self.value(item) for key, item in crumb.items()}


def _release() -> str:
    """SENTRY_RELEASE when the deployment names one (a commit, say), else the installed version; never a `git` call."""
    if release := os.environ.get("SENTRY_RELEASE"):
        return release
    try:
        return f"{PROJECT_SLUG}@{version(PROJECT_SLUG)}"
    except PackageNotFoundError:
        return PROJECT_SLUG


def _request(scope: Scope) -> dict[str, Any]:
    """What a report says about the request: never its body, and its headers only after scrubbing."""
    return {
        "method": scope.get("method"),
        "url": scope.get("path"),
        "query_string": scope.get("query_string", b"").decode("latin-1"),
        "headers": {name.decode("latin-1"): value.decode("latin-1") for name, value in scope.get("headers", [])},
    }


def report_exception(exc: Exception, scope: Scope) -> None:
    """Send a crash the error boundary answered with a 500, with the request it happened in."""
    import sentry_sdk
    from sentry_sdk.utils import event_from_exception

    client = sentry_sdk.get_client()
    event, hint = event_from_exception(exc, client_options=client.options, mechanism={"type": "asgi", "handled": False})
    route_path: str = getattr(scope.get("route"), "path", None) or scope["path"]
    event["transaction"] = route_path
    event["request"] = _request(scope)
    if request_id := current_request_id():
        event["tags"] = {"request_id": request_id}
    sentry_sdk.capture_event(event, hint=hint)


def ignore_exception(_exc: Exception, _scope: Scope) -> None:
    """Error tracking is off: the log has the traceback."""


def init_error_tracking(settings: Settings) -> Reporter:
    """Start Sentry when SENTRY_DSN is set; return what reports the crashes the error boundary answers."""
    if settings.sentry_dsn is None:
        return ignore_exception
    # Imported here: a service without SENTRY_DSN never loads sentry_sdk (about 0.1 s at every start).
    import sentry_sdk
    from sentry_sdk.integrations import Integration
    from sentry_sdk.integrations.atexit import AtexitIntegration
    from sentry_sdk.integrations.dedupe import DedupeIntegration
    from sentry_sdk.integrations.fastapi import FastApiIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration
    from sentry_sdk.integrations.starlette import StarletteIntegration
    from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber

    scrubber = Scrubber(_secrets_of(settings))
    integrations: list[Integration] = [
        AtexitIntegration(),  # sends what is queued when the process ends
        DedupeIntegration(),  # an exception both reported and logged with its exc_info is sent once
        LoggingIntegration(level=logging.INFO, event_level=logging.ERROR),
    ]
    tracing = settings.sentry_traces_sample_rate > 0
    if tracing:
        # Traces only: crashes are the boundary's to report, so no status code makes these send an error.
        integrations += [
            StarletteIntegration(failed_request_status_codes=set()),
            FastApiIntegration(failed_request_status_codes=set()),
        ]
    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        environment=settings.sentry_environment or settings.app_env,
        release=_release(),
        spotlight=False,  # left to SENTRY_SPOTLIGHT, it would turn on sending personal data
        include_local_variables=False,
        max_request_body_size="never",
        default_integrations=False,
        auto_enabling_integrations=False,
        integrations=integrations,
        event_scrubber=EventScrubber(denylist=[*DEFAULT_DENYLIST, *DENYLIST], recursive=True),
        before_send=scrubber.event,
        before_send_transaction=scrubber.event,
        before_breadcrumb=scrubber.breadcrumb,
        traces_sample_rate=settings.sentry_traces_sample_rate if tracing else None,
    )
    return report_exception
