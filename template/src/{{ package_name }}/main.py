"""The ASGI application: `uvicorn <package>.main:app`."""

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from functools import partial

from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from .api.docs import DOCS_PATH, OPENAPI_PATH, docs_router
from .api.errors import install_error_handlers
from .api.methods import install_method_not_allowed
from .api.openapi import install_openapi
from .api.routes import auth, health, items, metrics, mfa, recovery, users
from .db.engine import create_engine, create_reader
from .db.outages import is_outage
from .db.session import create_sessionmaker
from .extensions import models as _extension_models  # noqa: F401  (registers the project's own tables)
from .extensions import routes as extension_routes
from .mail.delivery import OutboxDelivery, SmtpSender
from .mail.outbox import Outbox
from .middleware.body_limit import BodySizeLimitMiddleware
from .middleware.error_boundary import ErrorBoundaryMiddleware
from .middleware.metrics import MetricsMiddleware
from .middleware.proxy_headers import ProxyHeadersMiddleware
from .middleware.request_id import RequestIdMiddleware
from .middleware.security_headers import SecurityHeadersMiddleware
from .middleware.trusted_host import TrustedHostMiddleware
from .observability.error_tracking import Reporter, init_error_tracking
from .observability.logging import configure_logging
from .observability.metrics import count_dependency_error
from .security.mfa_challenge import MfaChallenges
from .security.passwords import PasswordHasher
from .security.rate_limit_store import create_rate_limiter
from .security.secret_box import SecretBox
from .security.tokens import TokenService
from .services.account_mail import AccountMail
from .settings import ConfigurationError, Settings, get_settings
from .settings.deploy_checks import run_deploy_checks

API_PREFIX = "/api/v1"
YOUNG_GC_THRESHOLD = 10_000


def security_middleware(settings: Settings, *, docs: bool, report: Reporter) -> list[Middleware]:
    """The middleware around every route, outermost first: each sees only what the ones above it let through."""
    # No proxy to believe, or no origin to allow: one layer less on every request.
    proxies = [Middleware(ProxyHeadersMiddleware, trusted_proxies=settings.trusted_proxies)]
    cors = [
        Middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=False,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )
    ]
    return [
        # Outermost, so that every answer, the 500s and the refusals below included, carries the headers.
        Middleware(SecurityHeadersMiddleware, docs_prefixes=[DOCS_PATH] if docs else []),
        # Next, so that every answer is counted and timed, the refusals and 500s of the layers below included.
        Middleware(MetricsMiddleware),
        *(proxies if settings.trusted_proxies else []),
        Middleware(RequestIdMiddleware),
        # The outages it sees are the database's (db/outages.py); the rate-limit store counts its own.
        Middleware(
            ErrorBoundaryMiddleware,
            is_outage=is_outage,
            report=report,
            count_outage=partial(count_dependency_error, "database"),
        ),
        # Probes and Prometheus reach a replica by its address, whatever the Host.
        Middleware(
            TrustedHostMiddleware, allowed_hosts=settings.allowed_hosts, exempt_paths=(*health.PATHS, metrics.PATH)
        ),
        *(cors if settings.cors_origins else []),
        Middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes),
    ]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    if settings.is_production and (findings := run_deploy_checks(settings)):
        raise ConfigurationError("refusing to start in production: " + "; ".join(map(str, findings)))
    configure_logging(settings.log_level)
    report = init_error_tracking(settings)

    engine = create_engine(settings)
    rate_limiter = create_rate_limiter(settings)
    sessionmaker = create_sessionmaker(engine)
    outbox = Outbox()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # What exists now lives as long as the process: keep it out of every later garbage collection, which
        # would otherwise walk all of it each time (about 6% of throughput, per rampart's bench).
        gc.collect()
        gc.freeze()
        # 32 requests in flight keep thousands of young objects alive; collecting them every 700 allocations
        # cost about 7% of the CPU of an authenticated request (bench/, in process).
        gc.set_threshold(YOUNG_GC_THRESHOLD, *gc.get_threshold()[1:])
        # Each process sends the outbox's mail; leases keep the processes and replicas from sending one twice.
        delivery = OutboxDelivery(sessionmaker, outbox, settings, SmtpSender(settings))
        sending = asyncio.create_task(delivery.run())
        yield
        delivery.stop()
        sending.cancel()
        with suppress(asyncio.CancelledError):
            await sending
        await rate_limiter.aclose()
        await engine.dispose()

    docs = settings.docs_enabled and not settings.is_production
    app = FastAPI(
        title=settings.project_name,
        debug=False,
        docs_url=None,
        redoc_url=None,
        openapi_url=OPENAPI_PATH if docs else None,
        lifespan=lifespan,
        middleware=security_middleware(settings, docs=docs, report=report),
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.reader = create_reader(engine)
    app.state.sessionmaker = sessionmaker
    app.state.passwords = PasswordHasher.from_settings(settings)
    app.state.tokens = TokenService(settings)
    app.state.rate_limiter = rate_limiter
    app.state.account_mail = AccountMail.from_settings(settings, outbox)
    app.state.secret_box = SecretBox.from_settings(settings)
    app.state.mfa_challenges = MfaChallenges(settings)

    # Each router is included with the prefix, not nested under one `/api/v1` router: the same routes, and
    # FastAPI matches one level less on every request (about 6% of the CPU per request, per rampart's bench).
    for router in (auth.router, mfa.router, recovery.router, users.router, items.router, extension_routes.router):
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(health.router)
    metrics.install_metrics(app, settings.metrics_allowed_networks)
    if docs:
        app.include_router(docs_router(settings.project_name))
    install_error_handlers(app)
    install_method_not_allowed(app)
    # The document states what FastAPI cannot see: the layers' statuses, and limits that are settings (H10).
    install_openapi(app, settings.password_min_length)
    return app


app = create_app()
