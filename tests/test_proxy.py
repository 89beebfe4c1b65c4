"""O03 and several instances: the shipped nginx site in front of two app processes on one PostgreSQL and one Redis.

One render (PostgreSQL, Redis rate limits, env secrets) is migrated into a database of its own, with its counters in
Redis database 14. Two uvicorn processes serve it on loopback ports, behind nginx running the project's own
`deploy/nginx/` site with only the certificate paths, listen ports and upstream servers rewritten; the certificate
comes from a throwaway CA made here. Each test's clients connect from loopback addresses of their own (127.0.0.3,
127.0.0.4, ...), so that each has a rate-limit budget of its own; nginx reaches the instances from 127.0.0.1, the one
address in their TRUSTED_PROXIES.
"""

import asyncio
import contextlib
import ipaddress
import json
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from helpers import render, run
from services import DATABASE_URLS, REDIS_URL, unavailable
from sqlalchemy.engine import make_url

ANSWERS = {"database": "postgresql", "rate_limit_store": "redis", "secret_backend": "env"}
PACKAGE = "my_service"
SITE = Path("deploy/nginx/my-service.conf")
HOST = "api.example.com"  # the site's server_name; the instances list it in ALLOWED_HOSTS
PASSWORD = "a long and uncommon passphrase 7"
LOGIN_LIMIT = 4  # RATE_LIMIT_LOGIN per client, per minute
REDIS_DB = 14
LOGIN = "/api/v1/auth/login"
APP_BODY_LIMIT = 65_536  # MAX_BODY_BYTES's default


@dataclass(frozen=True)
class Stack:
    https: str
    http: str
    instances: tuple[str, str]
    ca: Path
    logs: tuple[Path, Path]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate it signed for HOST and 127.0.0.1, both valid for an hour: (ca, certificate, key)."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rampart throwaway test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(HOST), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = directory / "ca.pem", directory / "fullchain.pem", directory / "privkey.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    return ca_path, cert_path, key_path


def _site_for_test(shipped: str, rewrites: list[tuple[str, str]]) -> str:
    """The shipped site with each pattern (matching exactly one line) replaced, and nothing else changed."""
    site = shipped
    for pattern, replacement in rewrites:
        site, count = re.subn(pattern, replacement, site, flags=re.MULTILINE)
        assert count == 1, f"the shipped site should have exactly one line matching {pattern!r}, not {count}"
    changed = [old for old, new in zip(shipped.splitlines(), site.splitlines(), strict=True) if old != new]
    assert len(changed) == len(rewrites), changed
    return site


def _nginx_conf(directory: Path, site: Path) -> str:
    """The main file a packaged nginx would have, with every path it writes under `directory`."""
    temp = "\n".join(
        f"    {kind}_temp_path {directory / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # As root, nginx's workers would run as `nobody`, who cannot write under pytest's private temporary folders.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return (
        f"{user}worker_processes 1;\npid {directory / 'nginx.pid'};\nevents {{\n    worker_connections 256;\n}}\n"
        f"http {{\n    access_log {directory / 'access.log'};\n{temp}\n    include {site};\n}}\n"
    )


def _database_admin(url: str, statement: str) -> None:
    parts = make_url(url)

    async def execute() -> None:
        connection = await asyncpg.connect(
            host=parts.host,
            port=parts.port or 5432,
            user=parts.username,
            password=parts.password,
            database=parts.database or "postgres",
        )
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(execute())


def _wait_until_ready(base: str, process: subprocess.Popen[bytes], log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        with contextlib.suppress(httpx.TransportError, ValueError):
            if httpx.get(f"{base}/health/ready", timeout=2).json().get("status") == "ok":
                return
        time.sleep(0.2)
    pytest.fail(f"{base} did not get ready:\n{log.read_text(errors='replace')[-3000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render(tmp_path_factory.mktemp("proxy") / "project", ANSWERS)


@pytest.fixture(scope="module")
def stack(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    nginx = shutil.which("nginx", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
    if nginx is None:
        unavailable("nginx is not installed (Debian package `nginx`)")
    server_url = DATABASE_URLS["postgresql"]
    server = make_url(server_url)
    if not _listening(server.host or "127.0.0.1", server.port or 5432):
        unavailable(f"postgresql not reachable at {server.host}:{server.port}; start it or set TEST_POSTGRESQL_URL")
    redis_parts = urlsplit(REDIS_URL)
    if not _listening(redis_parts.hostname or "127.0.0.1", redis_parts.port or 6379):
        unavailable(f"redis not reachable at {redis_parts.netloc}; start it or set TEST_REDIS_URL")
    assert nginx is not None
    workdir = tmp_path_factory.mktemp("proxy-run")
    database = f"rampart_proxy_{secrets.token_hex(4)}"
    database_url = server.set(drivername="postgresql+asyncpg", database=database).render_as_string(hide_password=False)
    redis_url = redis_parts._replace(path=f"/{REDIS_DB}").geturl()
    counters = redis.Redis.from_url(redis_url)

    with ExitStack() as cleanup:
        _database_admin(server_url, f'CREATE DATABASE "{database}"')
        cleanup.callback(_database_admin, server_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        counters.flushdb()
        cleanup.callback(counters.close)
        cleanup.callback(counters.flushdb)

        env = {
            "PYTHONPATH": str(project / "src"),
            "PYTHONUNBUFFERED": "1",
            "APP_ENV": "test",
            "SECRET_KEY": secrets.token_hex(32),
            "DATABASE_URL": database_url,
            "MIGRATIONS_DATABASE_URL": database_url,
            "DATABASE_SSL_MODE": "disable",
            "REDIS_URL": redis_url,
            "RATE_LIMIT_KEY_PREFIX": f"proxy-test-{secrets.token_hex(4)}",
            "TRUSTED_PROXIES": "127.0.0.1/32",
            "ALLOWED_HOSTS": f"{HOST},127.0.0.1",
            "RATE_LIMIT_LOGIN": f"{LOGIN_LIMIT}/minute",
            # Users log in right after registering here; verification by mail has its own tests in the project.
            "EMAIL_VERIFICATION_REQUIRED": "false",
        }
        migrated = run([sys.executable, "-m", "alembic", "upgrade", "heads"], project, env=env)
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr

        ports = (_free_port(), _free_port())
        logs = (workdir / "app-a.log", workdir / "app-b.log")
        processes = []
        for port, log in zip(ports, logs, strict=True):
            command = [sys.executable, "-m", "uvicorn", f"{PACKAGE}.main:app", "--host", "127.0.0.1"]
            command += ["--port", str(port), "--no-server-header", "--no-proxy-headers"]
            output = cleanup.enter_context(log.open("wb"))
            process = subprocess.Popen(
                command, cwd=project, env={**os.environ, **env}, stdout=output, stderr=subprocess.STDOUT
            )
            cleanup.callback(_stop, process)
            processes.append(process)
        instances = (f"http://127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}")
        for base, process, log in zip(instances, processes, logs, strict=True):
            _wait_until_ready(base, process, log)

        ca, certificate, key = _certificates(workdir)
        https_port, http_port = _free_port(), _free_port()
        ipv6 = "[::1]" if _ipv6_loopback() else "127.0.0.2"  # a second address where IPv6 is off
        site = workdir / "site.conf"
        shipped = (project / SITE).read_text()
        site.write_text(
            _site_for_test(
                shipped,
                [
                    (r"^(\s*)listen 80;$", rf"\g<1>listen 127.0.0.1:{http_port};"),
                    (r"^(\s*)listen \[::\]:80;$", rf"\g<1>listen {ipv6}:{http_port};"),
                    (r"^(\s*)listen 443 ssl;$", rf"\g<1>listen 127.0.0.1:{https_port} ssl;"),
                    (r"^(\s*)listen \[::\]:443 ssl;$", rf"\g<1>listen {ipv6}:{https_port} ssl;"),
                    (r"^(\s*)ssl_certificate \S+;$", rf"\g<1>ssl_certificate {certificate};"),
                    (r"^(\s*)ssl_certificate_key \S+;$", rf"\g<1>ssl_certificate_key {key};"),
                    (r"^(\s*)server 127\.0\.0\.1:8000;$", rf"\g<1>server 127.0.0.1:{ports[0]};"),
                    (r"^(\s*)server 127\.0\.0\.1:8001;$", rf"\g<1>server 127.0.0.1:{ports[1]};"),
                ],
            )
        )
        conf = workdir / "nginx.conf"
        conf.write_text(_nginx_conf(workdir, site))
        error_log = workdir / "error.log"
        command = [nginx, "-p", str(workdir), "-c", str(conf), "-e", str(error_log), "-g", "daemon off;"]
        proxy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        cleanup.callback(_stop, proxy)
        deadline = time.monotonic() + 15
        while not (_listening("127.0.0.1", https_port) and _listening("127.0.0.1", http_port)):
            if proxy.poll() is not None or time.monotonic() > deadline:
                errors = error_log.read_text(errors="replace") if error_log.exists() else ""
                pytest.fail(f"nginx did not start:\n{errors}")
            time.sleep(0.05)

        yield Stack(f"https://127.0.0.1:{https_port}", f"http://127.0.0.1:{http_port}", instances, ca, logs)


def _tls(ca: Path, maximum: ssl.TLSVersion = ssl.TLSVersion.MAXIMUM_SUPPORTED) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca))
    context.maximum_version = maximum
    return context


def _through_proxy(stack: Stack, source: str) -> httpx.Client:
    """A client of the proxy connecting from loopback address `source`, as a browser of HOST would."""
    transport = httpx.HTTPTransport(verify=_tls(stack.ca), local_address=source)
    return httpx.Client(base_url=stack.https, transport=transport, headers={"Host": HOST}, timeout=10)


def _direct(base: str, source: str) -> httpx.Client:
    """A client of one instance, bypassing the proxy, connecting from loopback address `source`."""
    return httpx.Client(base_url=base, transport=httpx.HTTPTransport(local_address=source), timeout=10)


def _failed_login(client: httpx.Client, **headers: str) -> httpx.Response:
    """A wrong password for an account nobody has: each attempt names a new one, so only the client's budget fills."""
    form = {"username": f"nobody-{uuid.uuid4().hex}@example.com", "password": "not the password at all"}
    return client.post(LOGIN, data=form, headers=headers)


def _audit_record(stack: Stack, request_id: str, event: str) -> dict[str, Any]:
    """The audit record `event` of request `request_id`, from whichever instance's log holds it."""
    for _ in range(50):
        for log in stack.logs:
            for line in log.read_text(errors="replace").splitlines():
                record = json.loads(line) if line.startswith("{") else {}
                if record.get("request_id") == request_id and record.get("event") == event:
                    return dict(record)
        time.sleep(0.05)
    pytest.fail(f"no {event} record for request {request_id} in the instances' logs")


def test_o03_site_matches_the_app(project: Path) -> None:
    """The values the site repeats from the app (HSTS, the body cap) are the app's, read from its own code."""
    site = (project / SITE).read_text()
    headers = (project / "src" / PACKAGE / "middleware" / "security_headers.py").read_text()
    hsts = re.search(r'"strict-transport-security": "([^"]+)"', headers)
    assert hsts is not None
    assert re.findall(r"add_header Strict-Transport-Security \"([^\"]+)\" always;", site) == [hsts.group(1)]
    assert re.findall(r"^\s*proxy_hide_header Strict-Transport-Security;$", site, re.MULTILINE)
    base = (project / "src" / PACKAGE / "settings" / "base.py").read_text()
    assert f"max_body_bytes: int = Field(default={APP_BODY_LIMIT:_}" in base
    assert re.findall(r"^\s*client_max_body_size (\d+)k;$", site, re.MULTILINE) == [str(APP_BODY_LIMIT // 1024)]
    assert f'"Request body is larger than {APP_BODY_LIMIT} bytes."' in site


def test_o03_site_lists_the_instances_a_project_may_run(project: Path, rendered: Callable[[str], Path]) -> None:
    """Two upstream servers where several instances can share state (a database server and Redis), one elsewhere:
    nginx would send part of the traffic of a single-instance project to a port where nothing listens."""
    upstream = re.compile(r"^\s*server 127\.0\.0\.1:(\d+);$", re.MULTILINE)
    assert upstream.findall((project / SITE).read_text()) == ["8000", "8001"]
    single = (rendered("default") / SITE).read_text()
    assert upstream.findall(single) == ["8000"]
    assert "# One only:" in single


def test_o03_tls_1_2_refused_and_1_3_served(stack: Stack) -> None:
    port = int(urlsplit(stack.https).port or 0)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        pytest.raises(ssl.SSLError) as refused,
    ):
        _tls(stack.ca, ssl.TLSVersion.TLSv1_2).wrap_socket(raw, server_hostname=HOST)
    assert refused.value.reason == "TLSV1_ALERT_PROTOCOL_VERSION", refused.value
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        _tls(stack.ca, ssl.TLSVersion.TLSv1_3).wrap_socket(raw, server_hostname=HOST) as accepted,
    ):
        assert accepted.version() == "TLSv1.3"

    with _through_proxy(stack, "127.0.0.3") as client:
        live = client.get("/health/live")
        assert live.status_code == 200, live.text
        assert live.json() == {"status": "ok"}
        assert live.extensions["network_stream"].get_extra_info("ssl_object").version() == "TLSv1.3"
        assert live.headers["server"] == "nginx", "server_tokens off: no version"

    redirect = httpx.get(f"{stack.http}/health/live?probe=1", headers={"Host": "evil.example"})
    assert redirect.status_code == 301
    assert redirect.headers["location"] == f"https://{HOST}/health/live?probe=1"
    assert "strict-transport-security" not in redirect.headers


def test_o03_hsts_seen_through_the_proxy_is_the_apps(stack: Stack) -> None:
    with _direct(stack.instances[0], "127.0.0.9") as app:
        apps = app.get("/health/live").headers.get_list("strict-transport-security")
        unknown_at_app = app.get("/no-such-route", headers={"Host": HOST})
        too_large_at_app = app.post("/api/v1/auth/register", content=b"x" * (APP_BODY_LIMIT + 1))
    assert len(apps) == 1
    assert too_large_at_app.status_code == 413
    with _through_proxy(stack, "127.0.0.3") as client:
        answers = {
            "app": client.get("/health/live"),
            "app error": client.get("/no-such-route"),
            "metrics": client.get("/metrics"),
            "at the cap": client.post("/no-such-route", content=b"x" * APP_BODY_LIMIT),
            "over the cap": client.post("/api/v1/auth/register", content=b"x" * (APP_BODY_LIMIT + 1)),
        }
    for name, answer in answers.items():
        assert answer.headers.get_list("strict-transport-security") == apps, name
    # nginx's own answers: the app's bodies, without the headers only the app sends.
    assert answers["metrics"].status_code == 404
    assert answers["metrics"].json() == unknown_at_app.json() == answers["app error"].json()
    assert "x-request-id" not in answers["metrics"].headers
    assert answers["at the cap"].status_code == 404, "a body of MAX_BODY_BYTES reaches the app"
    assert "x-request-id" in answers["at the cap"].headers
    assert answers["over the cap"].status_code == 413
    assert answers["over the cap"].json() == too_large_at_app.json()
    assert "x-request-id" not in answers["over the cap"].headers


def test_o03_each_client_through_the_proxy_has_its_own_budget(stack: Stack) -> None:
    with _through_proxy(stack, "127.0.0.3") as first, _through_proxy(stack, "127.0.0.4") as second:
        assert [_failed_login(first).status_code for _ in range(LOGIN_LIMIT)] == [401] * LOGIN_LIMIT
        throttled = _failed_login(first)
        assert throttled.status_code == 429, throttled.text
        assert int(throttled.headers["retry-after"]) > 0
        assert _failed_login(second).status_code == 401, "another client's budget is untouched"


def test_o03_spoofed_forwarded_for_through_the_proxy_is_ignored(stack: Stack) -> None:
    with _through_proxy(stack, "127.0.0.6") as client:
        answers = [
            _failed_login(client, **{"X-Forwarded-For": f"198.51.100.{n}", "X-Request-ID": f"chosen-by-client-{n}"})
            for n in range(LOGIN_LIMIT + 1)
        ]
    assert [answer.status_code for answer in answers] == [401] * LOGIN_LIMIT + [429]
    for n, answer in enumerate(answers):
        request_id = answer.headers["x-request-id"]
        assert request_id != f"chosen-by-client-{n}"
        event = "authn_login_fail" if answer.status_code == 401 else "authn_throttled"
        assert _audit_record(stack, request_id, event)["client"] == "127.0.0.6"


def test_e04_forwarded_for_from_a_direct_client_is_ignored(stack: Stack) -> None:
    """A client reaching an instance without the proxy is not in TRUSTED_PROXIES: its X-Forwarded-For is not read."""
    with _direct(stack.instances[0], "127.0.0.5") as client:
        answers = [_failed_login(client, **{"X-Forwarded-For": f"203.0.113.{n}"}) for n in range(LOGIN_LIMIT + 1)]
    assert [answer.status_code for answer in answers] == [401] * LOGIN_LIMIT + [429]
    assert _audit_record(stack, answers[0].headers["x-request-id"], "authn_login_fail")["client"] == "127.0.0.5"


def test_e05_login_limit_is_shared_by_both_instances(stack: Stack) -> None:
    with _direct(stack.instances[0], "127.0.0.7") as first, _direct(stack.instances[1], "127.0.0.7") as second:
        alternated = [first, second] * (LOGIN_LIMIT // 2)
        assert [_failed_login(client).status_code for client in alternated] == [401] * LOGIN_LIMIT
        assert _failed_login(first).status_code == 429
        assert _failed_login(second).status_code == 429


def test_sessions_hold_across_instances(stack: Stack) -> None:
    """Register on one instance, log in through the proxy; every session change on one holds at once on the other."""
    email = f"walker-{uuid.uuid4().hex[:8]}@example.com"
    with (
        _direct(stack.instances[0], "127.0.0.9") as first,
        _direct(stack.instances[1], "127.0.0.9") as second,
        _through_proxy(stack, "127.0.0.8") as proxy,
    ):
        created = first.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
        assert created.status_code == 201, created.text

        def login() -> dict[str, str]:
            answer = proxy.post(LOGIN, data={"username": email, "password": PASSWORD})
            assert answer.status_code == 200, answer.text
            return dict(answer.json())

        def me(client: httpx.Client, tokens: dict[str, str]) -> int:
            bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
            return client.get("/api/v1/users/me", headers=bearer).status_code

        def refresh(client: httpx.Client, tokens: dict[str, str]) -> httpx.Response:
            return client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})

        tokens = login()
        assert (me(first, tokens), me(second, tokens)) == (200, 200)

        rotated = refresh(first, tokens)
        assert rotated.status_code == 200, rotated.text
        assert refresh(second, tokens).status_code == 401, "the used refresh token is refused on the other instance"
        assert refresh(first, rotated.json()).status_code == 401, "reuse revoked the family everywhere"
        assert me(first, rotated.json()) == 401

        tokens = login()
        logout = second.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert logout.status_code == 204
        assert me(first, tokens) == 401, "logout on one instance ends the token on the other at once"
        assert refresh(first, tokens).status_code == 401
