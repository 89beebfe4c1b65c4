"""The default project as a user meets it: migrate, start uvicorn on loopback, walk the auth flow over HTTP."""

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from helpers import render, run

PASSWORD = "a long and uncommon passphrase 7"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    project = render(tmp_path_factory.mktemp("e2e") / "project")
    env = {"PYTHONPATH": str(project / "src")}
    migrated = run([sys.executable, "-m", "alembic", "upgrade", "heads"], project, env=env)
    assert migrated.returncode == 0, migrated.stderr

    port = _free_port()
    command = [sys.executable, "-m", "uvicorn", "my_service.main:app", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--no-server-header", "--no-proxy-headers", "--no-access-log"]
    process = subprocess.Popen(
        command, cwd=project, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            process.kill()
            pytest.fail("uvicorn did not start: " + (process.stdout.read() if process.stdout else ""))
        yield base, project
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_register_verify_login_refresh_reuse_logout(server: tuple[str, Path]) -> None:
    base, project = server
    with httpx.Client(base_url=f"{base}/api/v1", timeout=10) as http:
        created = http.post("/auth/register", json={"email": "Walker@Example.com", "password": PASSWORD})
        assert created.status_code == 201, created.text
        assert created.json()["email"] == "walker@example.com"
        assert "hashed_password" not in created.text

        # No mail server in development: the owner reads the link with the outbox command, as the README says.
        unverified = http.post("/auth/login", data={"username": "walker@example.com", "password": PASSWORD})
        assert unverified.status_code == 403, unverified.text
        outbox = subprocess.run(
            [sys.executable, "-m", "my_service", "outbox", "--bodies"],
            cwd=project,
            env={**os.environ, "PYTHONPATH": str(project / "src")},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert outbox.returncode == 0, outbox.stderr
        [token] = re.findall(r"/verify-email#token=(\S+)", outbox.stdout)
        assert http.post("/auth/verify-email", json={"token": token}).status_code == 204

        login = http.post("/auth/login", data={"username": "walker@example.com", "password": PASSWORD})
        assert login.status_code == 200, login.text
        first = login.json()
        assert first["token_type"] == "bearer"
        assert login.headers["cache-control"] == "no-store"
        assert "server" not in login.headers

        me = http.get("/users/me", headers={"Authorization": f"Bearer {first['access_token']}"})
        assert me.status_code == 200
        assert me.json()["email"] == "walker@example.com"

        rotated = http.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert rotated.status_code == 200, rotated.text
        second = rotated.json()
        assert second["refresh_token"] != first["refresh_token"]

        reused = http.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert reused.status_code == 401
        revoked = http.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})
        assert revoked.status_code == 401, "reuse must revoke the whole family"
        family_access = http.get("/users/me", headers={"Authorization": f"Bearer {second['access_token']}"})
        assert family_access.status_code == 401

        fresh = http.post("/auth/login", data={"username": "walker@example.com", "password": PASSWORD}).json()
        headers = {"Authorization": f"Bearer {fresh['access_token']}"}
        logout = http.post("/auth/logout", headers=headers)
        assert logout.status_code == 204
        assert "storage" in logout.headers["clear-site-data"]
        assert http.get("/users/me", headers=headers).status_code == 401
        assert http.post("/auth/refresh", json={"refresh_token": fresh["refresh_token"]}).status_code == 401


def test_docs_are_served_offline_in_development(server: tuple[str, Path]) -> None:
    base, _ = server
    page = httpx.get(f"{base}/docs")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "cdn" not in page.text.lower()
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "docs-init.js"):
        assert httpx.get(f"{base}/docs/assets/{asset}").status_code == 200


def test_first_admin_comes_from_the_command(server: tuple[str, Path]) -> None:
    base, project = server
    created = subprocess.run(
        [sys.executable, "-m", "my_service", "create-admin", "--email", "root@example.com"],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(project / "src")},
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert created.returncode == 0, created.stderr
    tokens = httpx.post(f"{base}/api/v1/auth/login", data={"username": "root@example.com", "password": PASSWORD}).json()
    users = httpx.get(f"{base}/api/v1/users", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert users.status_code == 200
    assert {user["email"] for user in users.json()} >= {"root@example.com"}
