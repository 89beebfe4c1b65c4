"""The service's Prometheus metrics (prometheus-client): requests by route, security events, dependency errors.

Request metrics are labelled by route template (`/api/v1/users/{user_id}`, never the raw path), method and status,
so their number of series stays bounded whatever clients send. Security counters are fed from one place, the audit
log (`audit.record`); dependency errors from where the service catches them. Every counter an alert reads exists
at 0 from the start, so that `increase()` sees its first event (deploy/prometheus/alerts.yml).

The metrics are made once per process, at the first use (`registry()`, when the app is built), never at import:
the CLI and Alembic, which import the modules that count, make no metric and write no file until something counts.
With PROMETHEUS_MULTIPROC_DIR set (prometheus-client's own variable), every worker process writes its values to
files there and `registry()` sums them at each scrape. The directory must be empty when the server starts (a fresh
tmpfs, or emptied by whatever starts uvicorn); it is created if missing, just before the first metric opens its file.
"""

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED_ROUTE = "unmatched"
# Methods outside this set are counted as `other`: a client must not be able to add series at will.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"
# Rate limits that throttle (security/rate_limit.py); the account budgets among them are the lockouts.
LIMITS = (
    "login",
    "login_account",
    "login_device",
    "register",
    "refresh",
    "mfa_account",
    "password_reset",
    "password_reset_account",
    "verification_resend",
    "verification_resend_account",
)
LOCKOUT_LIMITS = frozenset({"login_account", "login_device"})
# The secret backend is not among them: it is read at start only, and a failure there stops the process (README.md).
DEPENDENCIES = ("database", "rate_limit_store", "smtp")
# From a cached token check (a few ms) to a password hash under load (seconds).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# Audit events (observability/audit.py, by value): the first three each move one counter as they are.
LOGIN_FAILED_EVENT = "authn_login_fail"
REUSE_EVENT = "authn_token_reuse"
AUTHORIZATION_FAILED_EVENT = "authz_fail"
THROTTLED_EVENT = "authn_throttled"
# MFA's steps (audit events by value), each a series of security_mfa_events by its `step`.
MFA_STEPS = {
    "authn_mfa_enrollment_started": "enrollment_started",
    "authn_mfa_enabled": "enabled",
    "authn_mfa_challenged": "challenged",
    "authn_mfa_success": "succeeded",
    "authn_mfa_fail": "failed",
    "authn_mfa_recovery_code_used": "recovery_code_used",
    "authn_mfa_disabled": "disabled",
}
# Recovery's steps, each a series of security_recovery_events by its `step`.
RECOVERY_STEPS = {
    "authn_password_reset_requested": "reset_requested",
    "authn_password_reset": "reset_completed",
    "authn_password_reset_fail": "reset_failed",
    "user_email_verification_requested": "verification_requested",
    "user_email_verified": "verified",
    "user_email_verification_fail": "verification_failed",
    "user_email_change_requested": "email_change_requested",
    "user_email_changed": "email_changed",
}
COUNTED_EVENTS = frozenset(
    {LOGIN_FAILED_EVENT, REUSE_EVENT, AUTHORIZATION_FAILED_EVENT, THROTTLED_EVENT, *MFA_STEPS, *RECOVERY_STEPS}
)


@dataclass(frozen=True, slots=True)
class Metrics:
    """The metrics of this process, with the label children that the counting functions use looked up once."""

    http_requests: Counter
    http_latency: Histogram
    lockouts: Counter
    throttles: dict[str, Counter]
    events: dict[str, Counter]
    dependency_errors: dict[str, Counter]


@cache
def metrics() -> Metrics:
    """This process's metrics, made at the first call. Every counter an alert reads exists at 0 from then on."""
    if multiproc_dir := os.environ.get(MULTIPROC_DIR_VARIABLE):
        Path(multiproc_dir).mkdir(parents=True, exist_ok=True)  # before the first metric below opens its file there
    # A `_created` series beside every counter doubles the series count for a start time nothing here alerts on
    # (prometheus-client leaves this function and MultiProcessCollector unannotated).
    disable_created_metrics()  # type: ignore[no-untyped-call]
    throttles = Counter("security_throttles", "Requests refused by a rate limit, by limit name.", ["limit"])
    mfa = Counter("security_mfa_events", "MFA steps: " + ", ".join(MFA_STEPS.values()) + ".", ["step"])
    recovery = Counter(
        "security_recovery_events", "Recovery steps: " + ", ".join(RECOVERY_STEPS.values()) + ".", ["step"]
    )
    dependency_errors = Counter(
        "dependency_errors", "Failures to reach a dependency, by name: " + ", ".join(DEPENDENCIES) + ".", ["dependency"]
    )
    return Metrics(
        http_requests=Counter(
            "http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
        ),
        http_latency=Histogram(
            "http_request_duration_seconds",
            "Time from a request's arrival to its last response byte, by route template, method and status class.",
            ["route", "method", "status_class"],
            buckets=LATENCY_BUCKETS,
        ),
        lockouts=Counter("security_lockouts", "Password checks refused because the account's failure budget is spent."),
        throttles={limit: throttles.labels(limit) for limit in LIMITS},
        events={
            LOGIN_FAILED_EVENT: Counter(
                "security_login_failures", "Failed logins: wrong password, unknown or disabled account."
            ),
            REUSE_EVENT: Counter(
                "security_token_reuse", "Refresh tokens presented again after use: their sessions end."
            ),
            AUTHORIZATION_FAILED_EVENT: Counter(
                "security_authorization_failures", "Authenticated requests refused a right (403)."
            ),
            **{event: mfa.labels(step) for event, step in MFA_STEPS.items()},
            **{event: recovery.labels(step) for event, step in RECOVERY_STEPS.items()},
        },
        dependency_errors={name: dependency_errors.labels(name) for name in DEPENDENCIES},
    )


def count_security_event(event: str, limit: object = None) -> None:
    """Count audit event `event` in its counter, if it has one; a throttle by its `limit`."""
    if event not in COUNTED_EVENTS:
        return  # the other events make no metric: a CLI that records one writes no metrics file
    counters = metrics()
    if (counter := counters.events.get(event)) is not None:
        counter.inc()
    elif event == THROTTLED_EVENT and isinstance(limit, str) and (throttles := counters.throttles.get(limit)):
        throttles.inc()
        if limit in LOCKOUT_LIMITS:
            counters.lockouts.inc()


def count_dependency_error(dependency: str) -> None:
    """Count one failure to reach `dependency` (one of DEPENDENCIES)."""
    metrics().dependency_errors[dependency].inc()


def registry() -> CollectorRegistry:
    """What GET /metrics exposes: this process's registry, or the sum over every worker's files in multi-process mode.

    Makes the metrics, so that they exist from the start. Raises ValueError at start-up when
    PROMETHEUS_MULTIPROC_DIR is set but is not a directory.
    """
    metrics()
    if not os.environ.get(MULTIPROC_DIR_VARIABLE):
        return REGISTRY
    workers = CollectorRegistry()
    MultiProcessCollector(workers)  # type: ignore[no-untyped-call]
    return workers
