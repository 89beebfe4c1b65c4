"""T06: README's first command, run exactly as written in a fresh clone, renders a project that starts and records a
template source that `copier update` can use; README's update commands then bring the next release into it.

The clone is a throwaway repository of this working tree released as v0.2.0 (a CI checkout may have no tags), cloned
the way a user clones it. The commands run with an empty HOME and XDG folders and a PATH that holds uv or not, as
on a fresh machine; the machine's network settings stay, and so do the user's uv and pip download caches, so that the
suite does not download the project's dependencies every time.
"""

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import copier
import pytest
import yaml
from helpers import GIT_ENV, TEMPLATE, git, release
from releases import working_tree_repository

README = (TEMPLATE / "README.md").read_text()
HEADERS = Path("template/src/{{ package_name }}/middleware/security_headers.py")
HSTS = '"max-age=63072000; includeSubDomains"'
HSTS_PRELOAD = '"max-age=63072000; includeSubDomains; preload"'
START_TIMEOUT = 300  # seconds; the first run downloads the project's dependencies into the uv cache


def bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, re.DOTALL)


def copy_command() -> str:
    """The line after the `# 1.` comment of README's first bash block."""
    lines = bash_blocks(README)[0].splitlines()
    return next(lines[number + 1] for number, line in enumerate(lines) if line.startswith("# 1."))


def update_blocks() -> tuple[str, str]:
    """The two blocks of "Updating a project": the first commit of a project, then each update."""
    section = README.split("\n## Updating a project\n", 1)[1].split("\n## ", 1)[0]
    first_commit, each_update = bash_blocks(section)
    return first_commit, each_update


def user_cache(tool: str) -> str:
    cache = os.environ.get(f"{tool.upper()}_CACHE_DIR")
    return cache or str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / tool)


def path_without_uv() -> list[str]:
    """The directories of this PATH that hold neither uv nor uvx: what a machine without uv has."""
    entries = os.environ.get("PATH", os.defpath).split(os.pathsep)
    return [entry for entry in entries if entry and not any((Path(entry) / name).exists() for name in ("uv", "uvx"))]


def uv_bin(tmp_path: Path) -> Path:
    """A directory holding only this environment's uv and uvx, as a user's installed uv."""
    found = shutil.which("uv") or shutil.which("uv", path=str(Path(sys.executable).parent))
    assert found, "uv is one of the template's test dependencies"
    directory = tmp_path / "uv-bin"
    directory.mkdir()
    for name in ("uv", "uvx"):
        (directory / name).symlink_to(Path(found).with_name(name))
    return directory


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# What a shell of this test process carries that a fresh login would not: an active environment, Python and git
# redirections. The rest (proxies, CA bundles, package indexes) is the machine's network and stays.
NOT_ON_A_FRESH_MACHINE = (
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONUSERBASE",
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "UV_PROJECT_ENVIRONMENT",
    "UV_PYTHON",
)


def fresh_machine(tmp_path: Path, path: list[str], port: int) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    kept = {name: value for name, value in os.environ.items() if name not in NOT_ON_A_FRESH_MACHINE}
    return {
        **kept,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "XDG_STATE_HOME": str(home / ".local/state"),
        "PATH": os.pathsep.join(path),
        "UV_CACHE_DIR": user_cache("uv"),
        "PIP_CACHE_DIR": user_cache("pip"),
        "COPIER_SETTINGS_PATH": os.environ["COPIER_SETTINGS_PATH"],  # the empty settings of conftest.py
        # README's command serves on uvicorn's default port, 8000, which another program may hold. uvicorn reads
        # every option from UVICORN_<OPTION> too, so the port moves without changing a character of the command.
        "UVICORN_PORT": str(port),
    }


@pytest.fixture
def upstream(tmp_path: Path) -> Path:
    """This working tree (tracked and new files, not ignored ones) as the template's repository, released as v0.2.0."""
    return working_tree_repository(tmp_path / "upstream", "v0.2.0")


@pytest.fixture
def clone(upstream: Path, tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    git(work, "clone", "-q", str(upstream), "rampart")
    return work / "rampart"


def health(port: int) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=2) as response:
            return int(response.status)
    except OSError:  # urllib.error.URLError included
        return None


def run_copy_command(clone: Path, env: dict[str, str], log: Path) -> None:
    """Command 1 as written, in the background (it ends in a server) until the project answers, then stopped."""
    port = int(env["UVICORN_PORT"])
    with log.open("w") as output:
        server = subprocess.Popen(
            ["bash", "-c", copy_command()],
            cwd=clone,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while health(port) != 200:
            assert server.poll() is None, f"command 1 ended with {server.returncode}:\n{log.read_text()[-6000:]}"
            assert time.monotonic() < deadline, f"no answer on port {port}:\n{log.read_text()[-6000:]}"
            time.sleep(0.5)
    finally:  # the whole process group: bash, uv and uvicorn
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def answers(project: Path) -> dict[str, str]:
    recorded: dict[str, str] = yaml.safe_load((project / ".copier-answers.yml").read_text())
    return recorded


@pytest.mark.slow
def test_copy_command_records_a_source_that_updates(clone: Path, upstream: Path, tmp_path: Path) -> None:
    env = fresh_machine(tmp_path, [str(uv_bin(tmp_path)), *path_without_uv()], free_port())
    project = clone.parent / "my-service"

    run_copy_command(clone, env, tmp_path / "copy.log")

    recorded = answers(project)
    assert Path(recorded["_src_path"]).is_absolute()
    assert Path(recorded["_src_path"]).resolve() == clone.resolve()
    assert recorded["_commit"] == "v0.2.0"
    assert (project / "uv.lock").is_file(), "uv run writes the lock the owner commits"
    assert "uv run alembic upgrade heads" in (tmp_path / "copy.log").read_text(), "the after-copy message"
    dotenv = (project / ".env").read_bytes()

    first_commit, each_update = update_blocks()
    done = subprocess.run(
        ["bash", "-ec", first_commit], cwd=project, env={**env, **GIT_ENV}, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr

    headers = upstream / HEADERS
    headers.write_text(headers.read_text().replace(HSTS, HSTS_PRELOAD, 1))
    release(upstream, "v0.2.1", "rampart 0.2.1: HSTS preload")
    git(clone, "pull", "-q", "--tags")  # README: bring the new releases into the clone first

    done = subprocess.run(
        ["bash", "-ec", each_update], cwd=project, env=env, capture_output=True, text=True, check=False, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr

    assert HSTS_PRELOAD in (project / "src/my_service/middleware/security_headers.py").read_text()
    recorded = answers(project)
    assert recorded["_commit"] == "v0.2.1"
    assert Path(recorded["_src_path"]).is_absolute()
    assert (project / ".env").read_bytes() == dotenv
    files = git(project, "ls-files", "--cached", "--others", "--exclude-standard", "-z").split("\0")
    assert not [name for name in files if name.endswith((".rej", ".orig"))]
    marker = re.compile(rb"^(<<<<<<<|>>>>>>>) ", re.MULTILINE)
    assert not [name for name in filter(None, files) if marker.search((project / name).read_bytes())]


@pytest.mark.slow
def test_copy_command_without_uv_installs_it_into_a_venv(clone: Path, tmp_path: Path) -> None:
    """The fallback branch: no uv on PATH, so command 1 makes .venv in the clone and installs uv there with pip."""
    path = path_without_uv()
    if not any((Path(entry) / "python3").exists() for entry in path):
        pytest.skip("no python3 on PATH outside the directories that hold uv")
    env = fresh_machine(tmp_path, path, free_port())

    run_copy_command(clone, env, tmp_path / "copy.log")

    assert (clone / ".venv/bin/uv").exists()
    assert answers(clone.parent / "my-service")["_commit"] == "v0.2.0"


@pytest.mark.parametrize(
    ("answers", "services"),
    [
        ({}, None),
        (
            {"database": "postgresql", "rate_limit_store": "redis", "secret_backend": "vault"},
            "Before the migration: start PostgreSQL, start Redis, put the secrets into Vault",
        ),
    ],
    ids=["default", "postgresql-redis-vault"],
)
def test_after_copy_message_lists_the_next_steps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], answers: dict[str, str], services: str | None
) -> None:
    destination = tmp_path / "svc"
    copier.run_copy(
        str(TEMPLATE), destination, data={"package_name": "svc", **answers}, defaults=True, vcs_ref="HEAD", quiet=False
    )

    message = capsys.readouterr().err.split("Next steps:", 1)[1]
    for step in (
        f"cd {destination} && chmod 600 .env",
        "uv sync ",
        "uv run alembic upgrade heads",
        "uv run pre-commit install",
        "uv run python -m svc create-admin --email ",
        "uv run uvicorn svc.main:app --no-server-header --no-proxy-headers",
        ".venv/bin/pip install -e . --group dev --group app",
        "copier update --trust --defaults",
    ):
        assert step in message
    assert "{{" not in message and "{%" not in message and "\n\n\n" not in message
    assert (services in message) if services else "Before the migration" not in message
