"""Benchmark the rendered service against the same app without its security middleware, a hand-written
baseline and a bare Starlette route, side by side; then /health/live latency while 8 clients keep logging in.

    .venv/bin/python bench/run.py            # about 2.5 minutes
    .venv/bin/python bench/run.py --quick    # about 30 seconds, noisier

    .venv/bin/python bench/run.py --database postgresql --rate-limit-store redis

Run it with the template's test environment (copier, uvicorn, httpx and the service's dependencies). It renders
the default project from this checkout (uncommitted changes included), migrates a temporary SQLite file (or a
throwaway PostgreSQL database, dropped afterwards, with --database postgresql),
registers a user and logs in over HTTP, starts one uvicorn worker per target on 127.0.0.1, and drives each
target in turn, round after round, so that drift on the machine hits every target alike. Load comes from `wrk`
when it is on PATH, otherwise from loadgen.py in a separate process. Results go to bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import platform
import secrets
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"
API = "/api/v1"
ME_PATH = f"{API}/users/me"
HOST = "127.0.0.1"
EMAIL = "bench@example.com"
README_MARKER = "bench:results"
# --database postgresql: the server that holds the throwaway database (trust auth on loopback) and the Redis for the
# rate-limit counters (a database of its own, keys under a prefix unique to the run).
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
PG_PORT = 5432
PG_PHASE_BASELINE = ["stack", "baseline", "ceiling"]
PG_PHASE_STACK_OFF = ["stack", "stack_off", "ceiling"]

# Targets of the issue: whole stack / stack off >= 0.90, whole stack / hand-written >= 1.0, health p95 <= 50 ms.
RATIO_TARGETS = {("stack", "stack_off"): 0.90, ("stack", "baseline"): 1.0}
HEALTH_P95_TARGET_MS = 50.0
LOGIN_CLIENTS = 8


@dataclass
class Target:
    name: str
    description: str
    app: str
    server: subprocess.Popen[bytes] | None = None
    port: int = 0
    log: Path | None = None
    rounds: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}{ME_PATH}"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


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


def server_options() -> list[str]:
    options = ["--no-access-log", "--no-server-header", "--no-proxy-headers", "--log-level", "warning"]
    if importlib.util.find_spec("uvloop") is not None:
        options += ["--loop", "uvloop"]
    if importlib.util.find_spec("httptools") is not None:
        options += ["--http", "httptools"]
    return options


def pg_admin(sql: str, *args: Any) -> list[Any]:
    """Run one statement on the PostgreSQL server as its administrator (outside any transaction)."""
    import asyncpg

    async def run() -> list[Any]:
        connection = await asyncpg.connect(PG_ADMIN_URL, ssl=False, timeout=5)
        try:
            return list(await connection.fetch(sql, *args))
        finally:
            await connection.close()

    return asyncio.run(run())


def pg_connections(database: str, targets: dict[str, Target]) -> dict[str, Any]:
    """The bench database's server connections now: backends, sessions ever opened, and who holds them."""
    time.sleep(2.0)  # a backend reports its session count to pg_stat_database within a second of going idle
    backends = pg_admin("SELECT pid FROM pg_stat_activity WHERE datname = $1", database)
    sessions = pg_admin("SELECT sessions FROM pg_stat_database WHERE datname = $1", database)
    return {
        "backends": sorted(row["pid"] for row in backends),
        "sessions_opened": sessions[0]["sessions"] if sessions else None,
        "per_target": {name: established_connections(t, PG_PORT) for name, t in targets.items()},
    }


def established_connections(target: Target, port: int) -> int | None:
    """How many TCP connections to `port` the server process holds (Linux /proc), or None where that is unknown."""
    if target.server is None or target.server.poll() is not None:
        return None
    try:
        fds = Path(f"/proc/{target.server.pid}/fd").iterdir()
        inodes = {link[8:-1] for fd in fds if (link := os.readlink(fd)).startswith("socket:[")}
        rows = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
    except OSError:
        return None
    # columns: sl local_address rem_address st ... inode (10th); state 01 is ESTABLISHED
    return sum(1 for row in rows if int(row[2].rsplit(":", 1)[1], 16) == port and row[3] == "01" and row[9] in inodes)


def churn(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    opened = None
    if before["sessions_opened"] is not None and after["sessions_opened"] is not None:
        opened = after["sessions_opened"] - before["sessions_opened"]
    return {
        "before": before,
        "after": after,
        "sessions_opened_during_rounds": opened,
        "backends_closed": len(set(before["backends"]) - set(after["backends"])),
        "backends_new": len(set(after["backends"]) - set(before["backends"])),
    }


def clear_redis_prefix(prefix: str) -> int:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        return int(client.delete(*keys)) if keys else 0
    finally:
        client.close()


def start_server(target: Target, env: dict[str, str], workdir: Path) -> None:
    target.port = free_port()
    target.log = workdir / f"{target.name}.log"
    command = [sys.executable, "-m", "uvicorn", target.app, "--host", HOST, "--port", str(target.port)]
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


def cpu_seconds(target: Target) -> float | None:
    """CPU time the server process has used so far (Linux /proc), or None where that cannot be read."""
    assert target.server is not None
    try:
        fields = Path(f"/proc/{target.server.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def migrate(project: Path, env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"], cwd=project, env=env, capture_output=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"bench: alembic upgrade head failed:\n{result.stderr.decode(errors='replace')}")


def register_and_login(stack: Target, password: str) -> str:
    base = f"http://{HOST}:{stack.port}"
    with httpx.Client(base_url=base, timeout=30.0) as client:
        registered = client.post(f"{API}/auth/register", json={"email": EMAIL, "password": password})
        if registered.status_code != 201:
            raise SystemExit(f"bench: register answered {registered.status_code}: {registered.text}")
        login = client.post(f"{API}/auth/login", data={"username": EMAIL, "password": password})
        if login.status_code != 200:
            raise SystemExit(f"bench: login answered {login.status_code}: {login.text}")
        token: str = login.json()["access_token"]
        return token


def run_rounds(
    generator: LoadGenerator, targets: dict[str, Target], token: str, args: argparse.Namespace, phase: int
) -> None:
    """Drive every target in turn for `args.rounds` rounds; each result is tagged with its phase and round."""
    order = list(targets)
    for round_number in range(args.rounds):
        shift = round_number % len(order)  # rotate the order too, so no target always follows the same one
        for name in order[shift:] + order[:shift]:
            cpu_before = cpu_seconds(targets[name])
            result = generator.run(targets[name].url, token, args.duration)
            cpu_after = cpu_seconds(targets[name])
            if cpu_before is not None and cpu_after is not None and result["requests"]:
                result["server_cpu_us_per_request"] = round(1e6 * (cpu_after - cpu_before) / result["requests"], 1)
            if result["non_2xx"] or result["errors"]:
                raise SystemExit(f"bench: {name} had {result['non_2xx']} non-2xx and {result['errors']} errors")
            result["round"] = f"{phase}:{round_number}"
            targets[name].rounds.append(result)
        if (round_number + 1) % 5 and round_number + 1 != args.rounds:
            continue
        log(
            f"round {round_number + 1}/{args.rounds}: "
            + ", ".join(f"{n} {t.rounds[-1]['requests_per_second']:.0f}" for n, t in targets.items())
        )


def preflight(targets: dict[str, Target], token: str) -> None:
    """Each target answers 200 with the right body; the stack sends its security headers, stack-off does not."""
    auth = {"Authorization": f"Bearer {token}"}
    for target in targets.values():
        response = httpx.get(target.url, headers=auth, timeout=10.0)
        if response.status_code != 200 or response.json().get("email") != EMAIL:
            raise SystemExit(f"bench: {target.name} answered {response.status_code}: {response.text[:200]}")
        if target.name in ("stack", "stack_off"):
            bad = httpx.get(target.url, headers={"Authorization": "Bearer not-a-token"}, timeout=10.0)
            if bad.status_code != 401:
                raise SystemExit(f"bench: {target.name} accepted a bad token ({bad.status_code})")
    stack = httpx.get(targets["stack"].url, headers=auth, timeout=10.0).headers
    for header in ("content-security-policy", "strict-transport-security", "x-request-id", "cache-control"):
        if header not in stack:
            raise SystemExit(f"bench: the whole stack answered without {header}")
    if "stack_off" not in targets:
        return
    stack_off = httpx.get(targets["stack_off"].url, headers=auth, timeout=10.0).headers
    if "content-security-policy" in stack_off or "x-request-id" in stack_off:
        raise SystemExit("bench: stack_off still runs the security middleware")


WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCHJSON {\\"requests\\":%d,\\"duration_us\\":%d,\\"connect\\":%d,\\"read\\":%d,\\"write\\":%d," ..
    "\\"status\\":%d,\\"timeout\\":%d,\\"p50\\":%d,\\"p90\\":%d,\\"p95\\":%d,\\"p99\\":%d,\\"max\\":%d}\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(95), latency:percentile(99), latency.max))
end
"""


@dataclass
class LoadGenerator:
    wrk: str | None
    connections: int
    wrk_threads: int
    script: Path

    @property
    def name(self) -> str:
        return f"wrk -t{self.wrk_threads} -c{self.connections}" if self.wrk else f"loadgen.py -c{self.connections}"

    def run(self, url: str, token: str, duration: float) -> dict[str, Any]:
        header = f"Authorization: Bearer {token}"
        if self.wrk:
            command = [self.wrk, f"-t{self.wrk_threads}", f"-c{self.connections}", f"-d{max(1, round(duration))}s"]
            command += ["--timeout", "10s", "-s", str(self.script), "-H", header, url]
            output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            line = next((x for x in output.splitlines() if x.startswith("BENCHJSON ")), None)
            if line is None:
                raise SystemExit(f"bench: cannot read wrk's output:\n{output}")
            raw = json.loads(line.removeprefix("BENCHJSON "))
            seconds = raw["duration_us"] / 1e6
            errors = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
            return {
                "requests_per_second": round(raw["requests"] / seconds, 1),
                "requests": raw["requests"],
                "non_2xx": raw["status"],
                "errors": errors,
                "latency_ms": {key: raw[key] / 1000 for key in ("p50", "p90", "p95", "p99", "max")},
            }
        result = run_loadgen(url, ["--connections", str(self.connections), "--header", header], duration)
        return {
            "requests_per_second": result["requests_per_second"],
            "requests": result["requests"],
            "non_2xx": result["requests"] - result["ok"],
            "errors": result["errors"],
            "latency_ms": result["latency_ms"],
        }


def loadgen_command(url: str, options: list[str], duration: float) -> list[str]:
    return [sys.executable, str(BENCH_DIR / "loadgen.py"), url, "--duration", str(duration), *options]


def run_loadgen(url: str, options: list[str], duration: float) -> dict[str, Any]:
    output = subprocess.run(loadgen_command(url, options, duration), capture_output=True, text=True, check=True).stdout
    result: dict[str, Any] = json.loads(output)
    return result


def collect(process: subprocess.Popen[str]) -> dict[str, Any]:
    output, _ = process.communicate(timeout=120)
    if process.returncode != 0:
        raise SystemExit(f"bench: loadgen failed with exit code {process.returncode}")
    result: dict[str, Any] = json.loads(output)
    return result


def health_under_login_load(stack: Target, password: str, duration: float) -> dict[str, Any]:
    """8 clients loop POST /auth/login (real hashing) while a 9th probes GET /health/live every 20 ms."""
    base = f"http://{HOST}:{stack.port}"
    probe = ["--interval", "0.02"]
    idle = run_loadgen(f"{base}/health/live", probe, min(3.0, duration))
    form = httpx.QueryParams({"username": EMAIL, "password": password})
    login_options = [
        "--connections",
        str(LOGIN_CLIENTS),
        "--method",
        "POST",
        "--header",
        "Content-Type: application/x-www-form-urlencoded",
        "--body",
        str(form),
    ]
    ramp = 1.5
    logins = subprocess.Popen(
        loadgen_command(f"{base}{API}/auth/login", login_options, duration + 2 * ramp),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(ramp)  # let the hashing queue fill before probing
        loaded = run_loadgen(f"{base}/health/live", probe, duration)
    finally:
        login_result = collect(logins)
    return {"idle": idle, "under_login_load": loaded, "logins": login_result}


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def summarize(targets: dict[str, Target], health: dict[str, Any]) -> dict[str, Any]:
    medians = {name: median([r["requests_per_second"] for r in t.rounds]) for name, t in targets.items()}
    cpu = {
        name: median([r["server_cpu_us_per_request"] for r in t.rounds if "server_cpu_us_per_request" in r])
        for name, t in targets.items()
    }
    ratios = []
    for (numerator, denominator), goal in [*RATIO_TARGETS.items(), (("stack", "ceiling"), None)]:
        # pair the rounds that both ran (on PostgreSQL, each ratio comes from its own phase)
        by_round = {r["round"]: r for r in targets[denominator].rounds}
        paired = [
            a["requests_per_second"] / by_round[a["round"]]["requests_per_second"]
            for a in targets[numerator].rounds
            if a["round"] in by_round
        ]
        value = median(paired)  # each round's pair ran seconds apart, so drift cancels within a pair
        ratios.append(
            {
                "name": f"{numerator} / {denominator}",
                "value": round(value, 3),
                "ratio_of_medians": round(medians[numerator] / medians[denominator], 3),
                # the throughput ratio that the server's CPU time per request implies (less sensitive to other load)
                "cpu_implied": round(cpu[denominator] / cpu[numerator], 3),
                "per_round_min": round(min(paired), 3),
                "per_round_max": round(max(paired), 3),
                "target": goal,
                "pass": None if goal is None else value >= goal,
            }
        )
    p95 = health["under_login_load"]["latency_ms"]["p95"]
    return {
        "requests_per_second": medians,
        "ratios": ratios,
        "health_live_p95_ms": p95,
        "health_pass": p95 <= HEALTH_P95_TARGET_MS,
    }


def report(targets: dict[str, Target], health: dict[str, Any], summary: dict[str, Any], info: dict[str, Any]) -> str:
    backend = ""
    if info["database"] != "sqlite" or info["rate_limit_store"] != "memory":
        backend = f"database {info['database']}, rate-limit store {info['rate_limit_store']}, "
    lines = [
        f"GET {ME_PATH}, {backend}{info['load_generator']}, {info['rounds']} rounds x {info['duration']} s per "
        f"target, {info['server']}; load average before the run {info['load_average_before']:.2f}",
        "",
        "| target | what | req/s (median) | min - max | p50 ms | p99 ms | server CPU us/req |",
        "| --- | --- | ---: | --- | ---: | ---: | ---: |",
    ]
    for name, target in targets.items():
        p50 = median([r["latency_ms"]["p50"] for r in target.rounds])
        p99 = median([r["latency_ms"]["p99"] for r in target.rounds])
        rates = [r["requests_per_second"] for r in target.rounds]
        cpu = median([r["server_cpu_us_per_request"] for r in target.rounds if "server_cpu_us_per_request" in r])
        rps = summary["requests_per_second"][name]
        lines.append(
            f"| {name} | {target.description} | {rps:.0f} | {min(rates):.0f} - {max(rates):.0f} | {p50:.2f} | "
            f"{p99:.2f} | {cpu:.0f} |"
        )
    lines += [
        "",
        "| ratio | median of round ratios | per-round range | ratio of medians | from CPU/req | target | result |",
        "| --- | ---: | --- | ---: | ---: | --- | --- |",
    ]
    for ratio in summary["ratios"]:
        goal = f">= {ratio['target']:.2f}" if ratio["target"] is not None else "reference"
        verdict = "" if ratio["pass"] is None else ("PASS" if ratio["pass"] else "FAIL")
        spread = f"{ratio['per_round_min']:.3f} - {ratio['per_round_max']:.3f}"
        lines.append(
            f"| {ratio['name']} | {ratio['value']:.3f} | {spread} | {ratio['ratio_of_medians']:.3f} | "
            f"{ratio['cpu_implied']:.3f} | {goal} | {verdict} |"
        )
    loaded = health["under_login_load"]
    idle = health["idle"]["latency_ms"]
    logins = health["logins"]
    login_codes = ", ".join(f"{code}: {count}" for code, count in sorted(logins["statuses"].items()))
    lines += [
        "",
        f"GET /health/live while {LOGIN_CLIENTS} clients loop POST {API}/auth/login (production hashing, "
        f"{logins['requests_per_second']:.1f} logins/s, statuses {login_codes}), one probe every 20 ms:",
        "",
        "| probe | samples | p50 ms | p95 ms | p99 ms | max ms | target | result |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |",
        f"| idle | {health['idle']['requests']} | {idle['p50']:.2f} | {idle['p95']:.2f} | {idle['p99']:.2f} | "
        f"{idle['max']:.2f} | | |",
        f"| under login load | {loaded['requests']} | {loaded['latency_ms']['p50']:.2f} | "
        f"{loaded['latency_ms']['p95']:.2f} | {loaded['latency_ms']['p99']:.2f} | {loaded['latency_ms']['max']:.2f} | "
        f"p95 <= {HEALTH_P95_TARGET_MS:.0f} ms | {'PASS' if summary['health_pass'] else 'FAIL'} |",
    ]
    for phase in info.get("pool", []):
        before, after = phase["before"]["per_target"], phase["after"]["per_target"]
        names = [name for name in targets if before.get(name) is not None]
        lines += [
            "",
            f"PostgreSQL connections held after the warm-up and after the {info['rounds']} rounds of "
            f"{', '.join(names)} (DATABASE_POOL_SIZE {info['pool_size']}): "
            f"{phase['sessions_opened_during_rounds']} sessions opened and {phase['backends_closed']} closed "
            "during the rounds",
            "",
            "| target | before | after |",
            "| --- | ---: | ---: |",
            *(f"| {name} | {before[name]} | {after[name]} |" for name in names),
            f"| bench database (pg_stat_activity) | {len(phase['before']['backends'])} | "
            f"{len(phase['after']['backends'])} |",
        ]
    return "\n".join(lines)


def update_readme(table: str, info: dict[str, Any]) -> None:
    readme = BENCH_DIR / "README.md"
    text = readme.read_text()
    marker = README_MARKER
    if info["database"] != "sqlite" or info["rate_limit_store"] != "memory":
        marker += f":{info['database']}+{info['rate_limit_store']}"
    start, finish = f"<!-- {marker} -->", f"<!-- /{marker} -->"
    if start not in text or finish not in text:
        raise SystemExit(f"bench: {readme} has no {start} ... {finish} section")
    head, _, rest = text.partition(start)
    _, _, end = rest.partition(finish)
    block = (
        f"{start}\nMeasured {info['finished'][:10]} on {info['machine']} with\n"
        f"`{info['command']}`:\n\n{table}\n{finish}"
    )
    readme.write_text(head + block + end)


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    names = ("fastapi", "starlette", "uvicorn", "pydantic", "sqlalchemy", "aiosqlite", "asyncpg", "redis", "pyjwt")
    for name in (*names, "uvloop"):
        with contextlib.suppress(PackageNotFoundError):
            found[name] = version(name)
    return found


def git_describe() -> str:
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return head + ("+uncommitted" if dirty else "")
    return "unknown"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5 rounds, 5 s of login load (about 35 s)")
    parser.add_argument("--duration", type=int, help="whole seconds of load per target per round (default 1)")
    parser.add_argument("--rounds", type=int, help="rounds over all targets (default 25)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent keep-alive clients (default 32)")
    parser.add_argument("--login-duration", type=float, help="seconds of login load (default 20)")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--rate-limit-store", choices=("memory", "redis"), default="memory")
    parser.add_argument("--vcs-ref", default="HEAD", help="git ref to render (HEAD includes uncommitted changes)")
    parser.add_argument("--no-wrk", action="store_true", help="use loadgen.py even when wrk is on PATH")
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the temporary project, database and logs")
    parser.add_argument("--update-readme", action="store_true", help="write the figures into bench/README.md")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    args.duration = args.duration or 1
    args.rounds = args.rounds or (5 if args.quick else 25)
    args.login_duration = args.login_duration or (5.0 if args.quick else 20.0)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_before = os.getloadavg()[0]
    command = shlex.join(["python", "bench/run.py", *(sys.argv[1:] if argv is None else argv)])
    workdir = Path(tempfile.mkdtemp(prefix="rampart-bench-"))
    project = workdir / "project"
    targets: dict[str, Target] = {}
    run_id = secrets.token_hex(4)
    pg_database = f"rampart_bench_{run_id}" if args.database == "postgresql" else None
    redis_prefix = f"rampart-bench-{run_id}" if args.rate_limit_store == "redis" else None
    try:
        answers = {"database": args.database, "rate_limit_store": args.rate_limit_store}
        log(f"rendering the project ({args.vcs_ref}, {answers}) into {project}")
        package = render(project, args.vcs_ref, answers)
        password = secrets.token_urlsafe(24)
        database_url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        backends: dict[str, str] = {}
        if pg_database is not None:
            log(f"creating the PostgreSQL database {pg_database}")
            pg_admin(f'CREATE DATABASE "{pg_database}"')
            database_url = f"postgresql+asyncpg://postgres@{HOST}:{PG_PORT}/{pg_database}"
            backends["DATABASE_SSL_MODE"] = "disable"  # loopback: nothing to encrypt (deploy check D012 agrees)
        if redis_prefix is not None:
            backends |= {"REDIS_URL": REDIS_URL, "RATE_LIMIT_KEY_PREFIX": redis_prefix}
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(project / "src"), str(BENCH_DIR)]),
            "PYTHONDONTWRITEBYTECODE": "1",
            "BENCH_PACKAGE": package,
            "APP_ENV": "production",
            "DEBUG": "false",
            "DOCS_ENABLED": "false",
            "SECRET_KEY": secrets.token_hex(32),
            "DATABASE_URL": database_url,
            "ALLOWED_HOSTS": f"{HOST},localhost",
            "CORS_ORIGINS": "",
            "TRUSTED_PROXIES": "",
            "JWT_ISSUER": "rampart-bench",
            "JWT_AUDIENCE": "rampart-bench-api",
            "RATE_LIMIT_LOGIN": "1000000/minute",
            "RATE_LIMIT_LOGIN_ACCOUNT": "1000000/minute",
            "WEB_CONCURRENCY": "1",
            **backends,
        }
        log("alembic upgrade head")
        migrate(project, env)

        targets = {
            target.name: target
            for target in (
                Target("stack", "rendered service, whole security stack", f"{package}.main:app"),
                Target("stack_off", "same app, security middleware removed", "apps:stack_off"),
                Target("baseline", "hand-written FastAPI + PyJWT + SQLAlchemy", "baseline_app:app"),
                Target("ceiling", "bare Starlette route", "starlette_app:app"),
            )
        }
        wrk = None if args.no_wrk else shutil.which("wrk")
        script = workdir / "report.lua"
        script.write_text(WRK_SCRIPT)
        generator = LoadGenerator(wrk, args.connections, args.wrk_threads, script)
        token = ""
        pool: list[dict[str, Any]] = []
        # On PostgreSQL three warm pools of 32 (+ 8 overflow) connections would not fit the server's default
        # max_connections of 100, so the comparison runs in two phases of interleaved rounds, each with two pools.
        phases = [list(targets)] if pg_database is None else [PG_PHASE_BASELINE, PG_PHASE_STACK_OFF]
        for phase_number, phase in enumerate(phases):
            for name in set(targets) - set(phase):
                stop_server(targets[name])
            for name in phase:
                if targets[name].server is None or targets[name].server.poll() is not None:
                    start_server(targets[name], env, workdir)
            for name in phase:
                wait_until_serving(targets[name])
            log(f"servers up: {', '.join(f'{n}@{targets[n].port}' for n in phase)}")
            token = token or register_and_login(targets["stack"], password)
            preflight({name: targets[name] for name in phase}, token)
            log(f"load generator: {generator.name}; warming up")
            for name in phase:
                generator.run(targets[name].url, token, 1 if args.quick else 2)
            pool_before = pg_connections(pg_database, targets) if pg_database is not None else None
            run_rounds(generator, {name: targets[name] for name in phase}, token, args, phase_number)
            if pg_database is not None and pool_before is not None:
                pool.append(churn(pool_before, pg_connections(pg_database, targets)))
                log(f"PostgreSQL sessions opened during the rounds: {pool[-1]['sessions_opened_during_rounds']}")

        for name in ("stack_off", "baseline", "ceiling"):
            stop_server(targets[name])  # idle servers cost nothing, but the login phase needs only the stack
        log(f"health under login load: {LOGIN_CLIENTS} login clients for {args.login_duration:.0f} s")
        health = health_under_login_load(targets["stack"], password, args.login_duration)

        summary = summarize(targets, health)
        info = {
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": command,
            "git": git_describe(),
            "machine": f"{os.cpu_count()} CPUs, {platform.system()} {platform.machine()}, "
            f"Python {platform.python_version()}",
            "versions": versions(),
            "server": "uvicorn, 1 worker, " + " ".join(server_options()),
            "load_generator": generator.name,
            "rounds": args.rounds,
            "duration": args.duration,
            "connections": args.connections,
            "load_average_before": load_before,
            "database": args.database,
            "rate_limit_store": args.rate_limit_store,
        }
        if pool:
            info |= {"pool": pool, "pool_size": os.environ.get("DATABASE_POOL_SIZE", "32 (default)")}
        table = report(targets, health, summary, info)
        if load_before > 0.5:
            log(f"the load average was {load_before:.2f} before the run: other work shares the CPUs, expect noise")
        print()
        print(table)
        print()
        RESULTS.mkdir(exist_ok=True)
        latest = RESULTS / "latest.json"
        latest.write_text(
            json.dumps(
                {
                    "info": info,
                    "summary": summary,
                    "targets": {
                        n: {"description": t.description, "app": t.app, "rounds": t.rounds} for n, t in targets.items()
                    },
                    "health": health,
                },
                indent=2,
            )
            + "\n"
        )
        log(f"wrote {latest.relative_to(REPO)}")
        if args.update_readme:
            update_readme(table, info)
            log("updated bench/README.md")
        passed = all(r["pass"] is not False for r in summary["ratios"]) and summary["health_pass"]
        return 0 if passed or not args.strict else 1
    finally:
        for target in targets.values():
            stop_server(target)
        if args.keep:
            log(f"kept {workdir}" + (f" and the PostgreSQL database {pg_database}" if pg_database else ""))
        else:
            shutil.rmtree(workdir, ignore_errors=True)
            if pg_database is not None:
                with contextlib.suppress(Exception):
                    pg_admin(f'DROP DATABASE IF EXISTS "{pg_database}" WITH (FORCE)')
                    log(f"dropped the PostgreSQL database {pg_database}")
        if redis_prefix is not None:
            with contextlib.suppress(Exception):
                log(f"deleted {clear_redis_prefix(redis_prefix)} Redis keys under {redis_prefix}:")


if __name__ == "__main__":
    sys.exit(main())
