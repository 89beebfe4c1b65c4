"""O01: GET /metrics answers only direct requests (no forwarding header) from METRICS_ALLOWED_NETWORKS (a 404 like
any unknown path for everyone else), and its counters move with the events they count, over HTTP with real logins,
tokens and hashes.

The metrics live in the process, shared by every app a test builds, so each test compares a scrape before its
events with a scrape after them.
"""

import re
import uuid

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from support import API, PASSWORD, PROJECT_ROOT, AppFactory, client_for, login, register, unique_email
from support.database import DatabaseOutage

OUTSIDE = "203.0.113.9"
ALERTS = PROJECT_ROOT / "deploy" / "prometheus" / "alerts.yml"
# A name in a PromQL expression: the word before a selector's `{` or a range's `[`.
METRIC_NAME = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)(?=[{\[])")

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(http: httpx.AsyncClient) -> Samples:
    response = await http.get("/metrics")
    assert response.status_code == 200, response.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


def requests_key(route: str, method: str, status: int) -> dict[str, str]:
    return {"route": route, "method": method, "status": str(status)}


async def test_o01_metrics_hidden_from_other_networks(make_app: AppFactory) -> None:
    app = await make_app()
    async with client_for(app) as local, client_for(app, "::1") as local6, client_for(app, OUTSIDE) as outside:
        scraped = await local.get("/metrics")
        assert scraped.status_code == 200, scraped.text
        assert scraped.headers["content-type"].startswith("text/plain; version=")
        assert "# TYPE http_requests_total counter" in scraped.text
        assert (await local6.get("/metrics")).status_code == 200
        # Prometheus scrapes by address: the Host check does not apply, as it does to the API.
        assert (await local.get("/metrics", headers={"Host": "10.1.2.3:8000"})).status_code == 200
        assert (await local.get(f"{API}/users/me", headers={"Host": "10.1.2.3:8000"})).status_code == 400

        unknown = await outside.get("/no-such-path")
        for method in ("GET", "HEAD", "POST", "DELETE", "PROPFIND"):
            hidden = await outside.request(method, "/metrics")
            assert hidden.status_code == 404, method
            assert hidden.headers["content-type"] == unknown.headers["content-type"] == "application/json"
            if method != "HEAD":
                assert hidden.json() == unknown.json() == {"detail": "Not Found"}
        assert (await local.post("/metrics")).status_code == 405
    assert "/metrics" not in app.openapi()["paths"]

    # The allowlist is a setting, and it judges the connection's own peer.
    moved = await make_app(metrics_allowed_networks=["203.0.113.0/24"], trusted_proxies=["127.0.0.1"])
    async with client_for(moved) as proxy, client_for(moved, OUTSIDE) as allowed:
        assert (await allowed.get("/metrics")).status_code == 200
        assert (await proxy.get("/metrics")).status_code == 404
        assert (await proxy.get("/metrics", headers={"X-Forwarded-For": OUTSIDE})).status_code == 404


FORWARDING = (
    {"X-Forwarded-For": "198.51.100.7"},
    {"X-Forwarded-For": "127.0.0.1"},
    {"X-Forwarded-Host": "api.example.com"},
    {"X-Forwarded-Proto": "https"},
    {"Forwarded": "for=198.51.100.7"},
    {"X-Real-IP": "198.51.100.7"},
)


async def test_o01_metrics_refuse_proxied_requests(make_app: AppFactory) -> None:
    """A proxy (a load balancer that rewrites source addresses) may turn any Internet client into an allowlisted
    peer: a request that carries any forwarding header is never a scrape, from an allowlisted peer, trusted or not."""
    for proxies in ([], ["10.0.0.0/8"]):
        app = await make_app(metrics_allowed_networks=["10.0.0.0/8"], trusted_proxies=proxies)
        async with client_for(app, "10.1.2.3") as inside:
            unknown = await inside.get("/no-such-path")
            assert (await inside.get("/metrics")).status_code == 200, proxies
            for headers in FORWARDING:
                for method in ("GET", "HEAD"):
                    proxied = await inside.request(method, "/metrics", headers=headers)
                    assert proxied.status_code == 404, (proxies, method, headers)
                    if method == "GET":
                        assert proxied.json() == unknown.json() == {"detail": "Not Found"}


async def test_o01_metrics_allowlist_takes_networks_only(make_app: AppFactory) -> None:
    with pytest.raises(ValidationError, match=r"METRICS_ALLOWED_NETWORKS: 'metrics\.internal'"):
        await make_app(metrics_allowed_networks="10.0.0.0/8,metrics.internal")
    nobody = await make_app(metrics_allowed_networks="")
    async with client_for(nobody) as local:
        assert (await local.get("/metrics")).status_code == 404


async def test_o01_production_refuses_metrics_open_to_the_internet(make_app: AppFactory) -> None:
    """deploy.E019: an allowlist holding the Internet (`0.0.0.0/0`, `::/0`, a wide public network) stops the start."""
    production = {"app_env": "production", "allowed_hosts": ["api.example.com"]}
    for everyone in ("0.0.0.0/0", "10.0.0.0/8,::/0", "8.0.0.0/8"):
        with pytest.raises(SystemExit, match=r"deploy\.E019 METRICS_ALLOWED_NETWORKS covers large parts") as refused:
            await make_app(**production, metrics_allowed_networks=everyone)
        assert "deploy.E0" not in str(refused.value).replace("deploy.E019", ""), refused.value
    await make_app(**production, metrics_allowed_networks="10.0.0.0/8,fd00::/8,192.0.2.7")


async def test_o01_security_counters_move_with_their_events(make_app: AppFactory) -> None:
    app = await make_app(rate_limit_login="1/minute", rate_limit_login_account="1/15 minutes")
    email = unique_email("victim")
    target = uuid.uuid4()
    async with (
        client_for(app) as owner,
        client_for(app, "127.0.0.2") as guesser,
        client_for(app, "127.0.0.3") as other_guesser,
    ):
        assert (await register(owner, email)).status_code == 201
        before = await scrape(owner)
        tokens = await login(owner, email)
        assert tokens.status_code == 200, tokens.text
        headers = {"Authorization": f"Bearer {tokens.json()['access_token']}"}
        forbidden = await owner.patch(f"{API}/users/{target}", json={"is_active": False}, headers=headers)
        assert forbidden.status_code == 403, forbidden.text
        assert (await login(guesser, email, "wrong " + PASSWORD)).status_code == 401
        assert (await login(guesser, email)).status_code == 429  # the guesser's own window (login) is full
        assert (await login(other_guesser, email, "wrong " + PASSWORD)).status_code == 429  # the account's budget
        refresh_token = tokens.json()["refresh_token"]
        for expected in (200, 401):  # the second use of one refresh token is a reuse
            response = await owner.post(f"{API}/auth/refresh", json={"refresh_token": refresh_token})
            assert response.status_code == expected, response.text
        after = await scrape(owner)

    assert delta(before, after, "security_login_failures_total") == 1
    assert delta(before, after, "security_throttles_total", limit="login") == 1
    assert delta(before, after, "security_throttles_total", limit="login_account") == 1
    assert delta(before, after, "security_lockouts_total") == 1
    assert delta(before, after, "security_token_reuse_total") == 1
    assert delta(before, after, "security_authorization_failures_total") == 1
    # Requests by route template, never the raw path.
    patch_403 = requests_key(API + "/users/{user_id}", "PATCH", 403)
    assert delta(before, after, "http_requests_total", **patch_403) == 1
    assert delta(before, after, "http_requests_total", **requests_key(f"{API}/auth/login", "POST", 429)) == 2
    login_4xx = {"route": f"{API}/auth/login", "method": "POST", "status_class": "4xx"}
    assert delta(before, after, "http_request_duration_seconds_count", **login_4xx) == 3
    assert not [key for key in after if str(target) in str(key)]


async def test_o01_labels_stay_bounded(app: FastAPI) -> None:
    """Unknown paths share one route label, unknown methods one method label: clients cannot add series."""
    async with client_for(app) as http:
        before = await scrape(http)
        for path in ("/no-such-path", f"{API}/{uuid.uuid4()}"):
            assert (await http.get(path)).status_code == 404
        assert (await http.request("BREW", f"{API}/items")).status_code == 405
        after = await scrape(http)
    assert delta(before, after, "http_requests_total", **requests_key("unmatched", "GET", 404)) == 2
    assert delta(before, after, "http_requests_total", **requests_key(f"{API}/items", "other", 405)) == 1


async def test_o01_outage_counts_as_a_dependency_error(database_outage: DatabaseOutage) -> None:
    """Each request that meets the outage counts once: the API's 503s (the error boundary) and the readiness probe's."""
    async with client_for(database_outage.app) as http:
        assert (await http.get("/health/ready")).status_code == 200
        before = await scrape(http)
        await database_outage.take_down()
        try:
            # Twice: a server's pool first hands out a connection that died, then a new one is refused.
            for _ in range(2):
                assert (await login(http, unique_email("outage"))).status_code == 503
            assert (await http.get("/health/ready")).status_code == 503
            after = await scrape(http)
        finally:
            await database_outage.bring_back()
    assert delta(before, after, "dependency_errors_total", dependency="database") == 3
    assert delta(before, after, "http_requests_total", **requests_key(f"{API}/auth/login", "POST", 503)) == 2
    assert delta(before, after, "http_requests_total", **requests_key("/health/ready", "GET", 503)) == 1


async def test_o01_route_labels_are_templates_of_included_routers(make_app: AppFactory) -> None:
    """An owner's router, included under the API prefix as main.py includes `extensions/routes.py` and with a router
    of its own inside, is labelled by its full template; so is one included after the first request."""
    reports = APIRouter(prefix="/reports")

    @reports.get("/{report_id}")
    async def report(report_id: int) -> dict[str, int]:
        return {"report_id": report_id}

    owner = APIRouter()
    owner.include_router(reports, prefix="/teams/{team_id}")
    app = await make_app()
    app.include_router(owner, prefix=API)
    async with client_for(app) as http:
        before = await scrape(http)
        assert (await http.get(f"{API}/teams/7/reports/41")).status_code == 200
        assert (await http.get(f"{API}/teams/8/reports/42")).status_code == 200
        late = APIRouter()

        @late.get("/late/{late_id}")
        async def late_route(late_id: int) -> dict[str, int]:
            return {"late_id": late_id}

        app.include_router(late, prefix=API)
        assert (await http.get(f"{API}/late/3")).status_code == 200
        after = await scrape(http)
    template = API + "/teams/{team_id}/reports/{report_id}"
    assert delta(before, after, "http_requests_total", **requests_key(template, "GET", 200)) == 2
    assert delta(before, after, "http_requests_total", **requests_key(API + "/late/{late_id}", "GET", 200)) == 1
    assert not [key for key in after if "/teams/7" in str(key) or "/late/3" in str(key)]


async def test_o01_alert_rules_read_exported_metrics(client: httpx.AsyncClient) -> None:
    """Every metric that deploy/prometheus/alerts.yml reads is on GET /metrics: no alert waits for a name in vain."""
    expressions, expression = [], None
    for line in ALERTS.read_text().splitlines():
        indent = len(line) - len(line.lstrip())
        if line.strip().startswith("expr:"):
            expression = indent
            expressions.append(line.split("expr:", 1)[1])
        elif expression is not None and indent > expression and line.strip():
            expressions.append(line)
        else:
            expression = None
    referenced = {name for text in expressions for name in METRIC_NAME.findall(text)}
    assert "security_token_reuse_total" in referenced, expressions
    assert (await client.get("/health/live")).status_code == 200
    exported = {name for name, _labels in await scrape(client)}
    assert referenced <= exported, referenced - exported
