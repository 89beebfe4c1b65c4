"""The servers under test: render the project, set up its environment, start, watch and stop one uvicorn each.

Everything that is about a target's process lives here, so that the measuring modules only drive URLs.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from common import API, BENCH_DIR, EMAIL, HOST, ME_PATH, REPO


@dataclass
class Target:
    """One app under test, served by a uvicorn process of its own, or by `host`'s under `prefix` (apps.Paired)."""

    name: str
    description: str
    app: str
    server: subprocess.Popen[bytes] | None = None
    port: int = 0
    log: Path | None = None
    rounds: list[dict[str, Any]] = field(default_factory=list)
    host: Target | None = None
    prefix: str = ""

    @property
    def process(self) -> Target:
        """The target whose uvicorn process serves this one: itself, or its host."""
        return self.host or self

    @property
    def base_url(self) -> str:
        """Where this target's routes start: its process's address, then its prefix."""
        return f"http://{HOST}:{self.process.port}{self.prefix}"

    @property
    def url(self) -> str:
        return f"{self.base_url}{ME_PATH}"

    def share(self, host: Target) -> None:
        """From now on `host`'s process serves this target, under `/<name>`."""
        self.host, self.prefix = host, f"/{self.name}"

    def own(self) -> None:
        """From now on this target is served by its own process again."""
        self.host, self.prefix = None, ""


def paired_host(target: Target) -> Target:
    """The process that serves the whole stack and `target` side by side (apps.Paired)."""
    return Target(f"stack+{target.name}", f"stack and {target.name} in one process", f"apps:paired_{target.name}")


def targets_for(package: str) -> dict[str, Target]:
    """The six targets, in the order they are driven and reported."""
    return {
        target.name: target
        for target in (
            Target("stack", "rendered service, whole security stack", f"{package}.main:app"),
            Target("stack_off", "same app, security middleware removed (beside stack, one process)", "apps:stack_off"),
            Target("no_metrics", "same app, request metrics removed (beside stack, one process)", "apps:no_metrics"),
            Target("baseline", "hand-written FastAPI + PyJWT + SQLAlchemy", "baseline_app:app"),
            Target("floor", "Starlette + PyJWT + one SELECT on the driver", "floor_app:app"),
            Target("ceiling", "bare Starlette route", "starlette_app:app"),
        )
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def render(destination: Path, vcs_ref: str, answers: dict[str, str]) -> str:
    """Render the project (defaults, except `answers`); return its package name."""
    from copier import run_copy

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # copier warns that a dirty checkout is rendered with its changes
        run_copy(str(REPO), str(destination), data=answers, vcs_ref=vcs_ref, defaults=True, unsafe=False, quiet=True)
    (destination / ".env").unlink(missing_ok=True)  # every setting comes from the environment below
    packages = [path.parent.name for path in (destination / "src").glob("*/main.py")]
    if len(packages) != 1:
        raise SystemExit(f"bench: cannot find the rendered package under {destination / 'src'}")
    return packages[0]


def service_env(project: Path, package: str, backends: dict[str, str]) -> dict[str, str]:
    """The environment every target runs in: production settings, a fresh key, raised login limits, `backends`."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(project / "src"), str(BENCH_DIR)]),
        "PYTHONDONTWRITEBYTECODE": "1",
        "BENCH_PACKAGE": package,
        # Not production: its start-up guard rightly refuses the unbounded login limits the login-load phase needs
        # (deploy.E016). Nothing on the measured route depends on APP_ENV.
        "APP_ENV": "test",
        "DEBUG": "false",
        "DOCS_ENABLED": "false",
        "SECRET_KEY": secrets.token_hex(32),
        "ALLOWED_HOSTS": f"{HOST},localhost",
        "CORS_ORIGINS": "",
        "TRUSTED_PROXIES": "",
        "JWT_ISSUER": "rampart-bench",
        "JWT_AUDIENCE": "rampart-bench-api",
        "RATE_LIMIT_LOGIN": "1000000/minute",
        "RATE_LIMIT_LOGIN_ACCOUNT": "1000000/minute",
        # The bench user logs in right after registering, with no mailbox to follow a verification link from.
        "EMAIL_VERIFICATION_REQUIRED": "false",
        "WEB_CONCURRENCY": "1",
        **backends,
    }


def server_options() -> list[str]:
    options = ["--no-access-log", "--no-server-header", "--no-proxy-headers", "--log-level", "warning"]
    if importlib.util.find_spec("uvloop") is not None:
        options += ["--loop", "uvloop"]
    if importlib.util.find_spec("httptools") is not None:
        options += ["--http", "httptools"]
    return options


def start_server(target: Target, env: dict[str, str], workdir: Path, wrapper: Sequence[str] = ()) -> None:
    """Start `target`'s uvicorn on a free port, logging to `<workdir>/<name>.log`, under `wrapper` if one is given
    (instructions.py: valgrind)."""
    target.port = free_port()
    target.log = workdir / f"{target.name}.log"
    command = [*wrapper, sys.executable, "-m", "uvicorn", target.app, "--host", HOST, "--port", str(target.port)]
    with target.log.open("wb") as out:
        target.server = subprocess.Popen(
            [*command, *server_options()], cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT
        )


def wait_until_serving(target: Target, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert target.server is not None
        if target.server.poll() is not None:
            break
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(target.url, timeout=1.0)
            return
        time.sleep(0.1)
    raise SystemExit(f"bench: {target.name} did not start; its log:\n{tail(target.log)}")


def tail(path: Path | None, lines: int = 30) -> str:
    if path is None or not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def stop_server(target: Target) -> None:
    server = target.server
    if server is None or server.poll() is not None:
        return
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def serve_only(processes: list[Target], running: list[Target], env: dict[str, str], workdir: Path) -> None:
    """Stop the processes of `running` not in `processes`, start those of `processes` that are not running, and
    wait until they serve."""
    for process in running:
        if process not in processes:
            stop_server(process)
    for process in processes:
        if process.server is None or process.server.poll() is not None:
            start_server(process, env, workdir)
    for process in processes:
        wait_until_serving(process)


def cpu_seconds(target: Target) -> float | None:
    """CPU time the target's server process has used so far (Linux /proc), or None where that cannot be read."""
    server = target.process.server
    assert server is not None
    try:
        fields = Path(f"/proc/{server.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def migrate(project: Path, env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "heads"], cwd=project, env=env, capture_output=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"bench: alembic upgrade heads failed:\n{result.stderr.decode(errors='replace')}")


def register_and_login(stack: Target, password: str) -> str:
    with httpx.Client(base_url=stack.base_url, timeout=30.0) as client:
        registered = client.post(f"{API}/auth/register", json={"email": EMAIL, "password": password})
        if registered.status_code != 201:
            raise SystemExit(f"bench: register answered {registered.status_code}: {registered.text}")
        login = client.post(f"{API}/auth/login", data={"username": EMAIL, "password": password})
        if login.status_code != 200:
            raise SystemExit(f"bench: login answered {login.status_code}: {login.text}")
        token: str = login.json()["access_token"]
        return token
