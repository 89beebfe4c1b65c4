"""H10: the OpenAPI document of a development render tells the truth, checked by schemathesis `--checks all`.

The default project is served by uvicorn on a free loopback port, with its development `.env`, a database of the
test's own, and rate limits that do not stop the generated requests. Schemathesis reads /openapi.json and checks
every status, header, body and constraint the app answers with against it, in each of its phases, with bounded
examples and a fixed seed so that a run is repeatable; schemathesis_hooks.py gives it fresh accounts and says
which refusal the document cannot state. Any failure fails the test.
"""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import run

HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
# Not the template's default, so that a document that states the default instead of the setting is caught.
PASSWORD_MIN_LENGTH = 17
MAX_EXAMPLES = 25
SEED = 20260801
API = "/api/v1"
ADMIN_EMAIL = "root@example.com"
PASSWORD = "violet otter reads maps under a copper lantern at quarter past nine"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def server(rendered: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The default render, migrated, with an admin, and served in development mode; its base URL."""
    project = rendered("default")
    workdir = tmp_path_factory.mktemp("openapi")
    relaxed = dict.fromkeys(
        (
            "LOGIN",
            "LOGIN_ACCOUNT",
            "REGISTER",
            "REFRESH",
            "MFA",
            "PASSWORD_RESET",
            "PASSWORD_RESET_ACCOUNT",
            "VERIFICATION_RESEND",
        ),
        "100000/minute",
    )
    env = {
        "PYTHONPATH": str(project / "src"),
        "APP_ENV": "development",
        "DOCS_ENABLED": "true",
        "LOG_LEVEL": "WARNING",
        "DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'openapi.db'}",
        "PASSWORD_MIN_LENGTH": str(PASSWORD_MIN_LENGTH),
        # The hooks' accounts log in right after registering: no mailbox to follow a verification link from.
        "EMAIL_VERIFICATION_REQUIRED": "false",
        **{f"RATE_LIMIT_{name}": value for name, value in relaxed.items()},
    }
    migrated = run([sys.executable, "-m", "alembic", "upgrade", "heads"], project, env=env)
    assert migrated.returncode == 0, migrated.stderr
    admin = subprocess.run(
        [sys.executable, "-m", "my_service", "create-admin", "--email", ADMIN_EMAIL],
        cwd=project,
        env={**os.environ, **env},
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert admin.returncode == 0, admin.stderr

    port = _free_port()
    command = [sys.executable, "-m", "uvicorn", "my_service.main:app", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--no-server-header", "--no-proxy-headers", "--no-access-log"]
    log = (workdir / "uvicorn.log").open("w")
    process = subprocess.Popen(command, cwd=project, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health/live", timeout=1, trust_env=False).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, (workdir / "uvicorn.log").read_text()
            assert time.monotonic() < deadline, "uvicorn did not answer within 30 s"
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def _schema(base: str) -> dict[str, Any]:
    response = httpx.get(f"{base}/openapi.json", timeout=10, trust_env=False)
    assert response.status_code == 200
    schema: dict[str, Any] = response.json()
    return schema


def test_h10_document_states_the_settings_and_every_layers_statuses(server: str) -> None:
    schema = _schema(server)
    components = schema["components"]["schemas"]
    for model, field in (("RegisterIn", "password"), ("PasswordChangeIn", "new_password")):
        assert components[model]["properties"][field]["minLength"] == PASSWORD_MIN_LENGTH, (model, field)
    login = schema["paths"][f"{API}/auth/login"]["post"]
    form = login["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]["$ref"]
    assert components[form.rsplit("/", 1)[1]]["properties"]["username"]["minLength"] == 1

    for path, item in schema["paths"].items():
        for method, operation in item.items():
            statuses = set(operation["responses"])
            assert {"400", "503"} <= statuses, (method, path)
            if operation.get("security"):
                assert "401" in statuses, (method, path)
                assert operation["responses"]["401"]["headers"]["WWW-Authenticate"]["required"] is True
            if "requestBody" in operation:
                assert {"413", "422"} <= statuses, (method, path)
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert response["content"]["application/json"]["schema"]["$ref"].endswith("Body"), status
    assert "429" in schema["paths"][f"{API}/auth/login"]["post"]["responses"]
    assert "409" in schema["paths"][f"{API}/auth/register"]["post"]["responses"]
    assert "404" in schema["paths"][f"{API}/items/{{item_id}}"]["patch"]["responses"]
    assert "403" in schema["paths"][f"{API}/users"]["get"]["responses"]


def test_h10_schemathesis_finds_nothing(server: str, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "schemathesis.cli", "run", f"{server}/openapi.json", "--checks", "all"]
    command += ["--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--generation-database", "none"]
    command += ["--no-color"]
    env = {
        "SCHEMATHESIS_HOOKS": str(HOOKS),
        "RAMPART_API_URL": f"{server}{API}",
        "RAMPART_ADMIN_EMAIL": ADMIN_EMAIL,
        "RAMPART_PASSWORD": PASSWORD,
        "RAMPART_PASSWORD_MIN_LENGTH": str(PASSWORD_MIN_LENGTH),
    }
    started = time.monotonic()
    result = run(command, tmp_path, env=env, timeout=600)
    output = result.stdout + result.stderr
    summary = output[output.rfind("=== SUMMARY") :] if "=== SUMMARY" in output else output[-4000:]
    assert result.returncode == 0, output[-20000:]
    # Every operation was reached with a valid token: a run that only ever got 401s would prove little.
    assert "Authentication failed" not in output, summary
    print(f"schemathesis: {time.monotonic() - started:.0f} s\n{summary}")
