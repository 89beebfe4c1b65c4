"""What the security middleware costs, in machine instructions per request: one process under callgrind.

    .venv/bin/python bench/instructions.py                          # about 2 minutes
    .venv/bin/python bench/instructions.py --database postgresql
    .venv/bin/python bench/instructions.py --layers                 # and each security layer alone (8 minutes)

Throughput on a shared 2-CPU machine swings by tens of per cent from one second to the next (the CPU time of one
request of one process ranged 560-1070 us within a minute), which buries a difference of a few per cent under
noise that only hundreds of rounds average out. Instructions do not swing: valgrind's callgrind counts every
instruction the server process executes, the same count for the same work whatever else the machine is doing.

One uvicorn process runs under callgrind and serves the whole stack, `stack_off` and `no_metrics` side by side
(apps.Paired, each app on its own pool). After start-up and a warm-up, it counts the instructions of batches of
`GET /api/v1/users/me` (8 keep-alive clients, the same token), batch by batch in a rotating order, and reports each
app's instructions per request (the median over the batches) and the ratios `stack / stack_off` and
`stack / no_metrics` as throughputs: stack_off's instructions per request over the stack's. With `--layers` the
process also serves the stack without each security layer in turn (`no_security_headers`, ...), so that each
layer's cost, the server's own work on what the layer adds included, is the difference to the whole stack.

Instructions are not time: a cache miss costs more than an add. So this is the cost of the code run, in the same
process on the same data, that the throughput rounds of run.py estimate with their noise; run.py stays the
benchmark of speed. Needs valgrind (`apt-get install valgrind`); the outbox sender is told to look for mail every
300 s, so that its polls do not count against either app.
"""

from __future__ import annotations

import argparse
import functools
import re
import secrets
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
from common import ME_PATH, log
from databases import Backends
from report import machine, update_readme
from servers import (
    Target,
    migrate,
    register_and_login,
    render,
    service_env,
    start_server,
    stop_server,
    wait_until_serving,
)

README_MARKER = "bench:instructions"
APPS = ("stack", "stack_off", "no_metrics")
# The layers the service runs in the bench's environment (apps.SECURITY_LAYERS: no proxy, no CORS origins).
LAYERS = ("no_security_headers", "no_request_id", "no_error_boundary", "no_trusted_host", "no_body_limit")
CLIENTS = 8
_TOTALS = re.compile(r"^(?:summary|totals): (\d+)", re.MULTILINE)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=400, help="requests per app per batch (default 400)")
    parser.add_argument("--batches", type=int, default=5, help="batches per app (default 5)")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--layers", action="store_true", help="also the stack without each security layer alone")
    parser.add_argument("--vcs-ref", default="HEAD", help="git ref to render (HEAD includes uncommitted changes)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary project, database and logs")
    parser.add_argument("--update-readme", action="store_true", help="write the figures into bench/README.md")
    return parser.parse_args(argv)


class Callgrind:
    """One uvicorn process (`process`, a servers.Target) under callgrind, instrumented only once it serves, counted
    batch by batch."""

    def __init__(self, app: str, env: dict[str, str], workdir: Path) -> None:
        self.out = workdir / "callgrind.out"
        self.process = Target("callgrind", "the server process under callgrind", app)
        wrapper = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",  # start-up under full instrumentation would take minutes, and is not measured
            f"--callgrind-out-file={self.out}",
        ]
        start_server(self.process, env, workdir, wrapper)
        self.dumps = 0

    def control(self, *options: str) -> None:
        assert self.process.server is not None
        subprocess.run(["callgrind_control", *options, str(self.process.server.pid)], capture_output=True, check=True)

    def count(self, work: Callable[[], None]) -> int:
        """The instructions the process executes while `work()` runs (counters zeroed before, dumped after)."""
        self.control("--zero")
        work()
        self.control("--dump")
        self.dumps += 1
        dump = Path(f"{self.out}.{self.dumps}")
        deadline = time.monotonic() + 60
        while not dump.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        found = _TOTALS.search(dump.read_text(errors="replace"))
        if found is None:
            raise SystemExit(f"bench: no instruction total in {dump}")
        return int(found.group(1))


def drive(url: str, token: str, requests: int) -> None:
    """`requests` GETs of `url` from CLIENTS keep-alive clients; every answer must be a 200."""

    def client(count: int) -> None:
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=120.0) as http:
            for _ in range(count):
                response = http.get(url)
                if response.status_code != 200:
                    raise SystemExit(f"bench: {url} answered {response.status_code}: {response.text[:200]}")

    shares = [requests // CLIENTS + (n < requests % CLIENTS) for n in range(CLIENTS)]
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(client, shares))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("bench: valgrind is not installed (apt-get install valgrind)")
    workdir = Path(tempfile.mkdtemp(prefix="rampart-instructions-"))
    backends = Backends.for_run(args.database, "memory")
    server = None
    try:
        project = workdir / "project"
        log(f"rendering the project ({args.vcs_ref}, database {args.database}) into {project}")
        package = render(project, args.vcs_ref, {"database": args.database})
        env = service_env(project, package, backends.create(workdir)) | {"MAIL_POLL_SECONDS": "300"}
        migrate(project, env)
        log("starting uvicorn under callgrind (a minute or two)")
        apps = (*APPS, *LAYERS) if args.layers else APPS
        server = Callgrind("apps:paired_" + "__".join(apps[1:]), env, workdir)
        wait_until_serving(server.process, timeout=600.0)
        targets = {name: Target(name, name, "") for name in apps}
        for target in targets.values():
            target.share(server.process)
        token = register_and_login(targets["stack"], secrets.token_urlsafe(24))
        server.control("--instr=on")
        urls = {name: target.url for name, target in targets.items()}
        for url in urls.values():
            drive(url, token, args.requests // 2)  # warm-up: pools opened, statements prepared, caches filled
        per_request: dict[str, list[float]] = {name: [] for name in apps}
        for batch in range(args.batches):
            shift = batch % len(apps)
            for name in apps[shift:] + apps[:shift]:
                count = server.count(functools.partial(drive, urls[name], token, args.requests))
                per_request[name].append(count / args.requests)
            log(f"batch {batch + 1}/{args.batches}: " + ", ".join(f"{n} {v[-1]:,.0f}" for n, v in per_request.items()))
        table = report(per_request, args)
        print()
        print(table)
        if args.update_readme:
            command = shlex.join(["python", "bench/instructions.py", *(sys.argv[1:] if argv is None else argv)])
            info = {
                "finished": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": machine(),
                "command": command,
                "database": args.database,
                "rate_limit_store": "memory",
            }
            update_readme(table, info, README_MARKER)
            log("updated bench/README.md")
        return 0
    finally:
        if server is not None:
            stop_server(server.process)
        if args.keep:
            log(f"kept {workdir}" + backends.kept())
        else:
            shutil.rmtree(workdir, ignore_errors=True)
            backends.drop_database()


def report(per_request: dict[str, list[float]], args: argparse.Namespace) -> str:
    medians = {name: statistics.median(values) for name, values in per_request.items()}
    lines = [
        f"GET {ME_PATH}, database {args.database}, one uvicorn process under callgrind serving "
        f"{', '.join(per_request)}; "
        f"{args.batches} batches of {args.requests} requests per app from {CLIENTS} keep-alive clients",
        "",
        "| app | instructions per request (median) | min - max over the batches |",
        "| --- | ---: | --- |",
        *(
            f"| {name} | {medians[name]:,.0f} | {min(values):,.0f} - {max(values):,.0f} |"
            for name, values in per_request.items()
        ),
        "",
        "| ratio (as throughputs) | from instructions |",
        "| --- | ---: |",
        *(f"| stack / {name} | {medians[name] / medians['stack']:.3f} |" for name in list(per_request)[1:]),
        "",
        "| part (the stack without it) | instructions per request | share of the stack's |",
        "| --- | ---: | ---: |",
        *(
            part(medians, label, name)
            for name, label in (("stack_off", "security middleware"), ("no_metrics", "metrics"))
        ),
        *(part(medians, name.removeprefix("no_"), name) for name in list(per_request)[len(APPS) :]),
    ]
    return "\n".join(lines)


def part(medians: dict[str, float], label: str, without: str) -> str:
    """One row of the parts table: what the stack executes beyond the app `without`."""
    cost = medians["stack"] - medians[without]
    return f"| {label} | {cost:,.0f} | {cost / medians['stack']:.1%} |"


if __name__ == "__main__":
    sys.exit(main())
