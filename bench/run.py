"""Benchmark the rendered service against the same app without its security middleware, a hand-written
baseline and a bare Starlette route, side by side; then /health/live latency while 8 clients keep logging in.

    .venv/bin/python bench/run.py            # about 6 minutes
    .venv/bin/python bench/run.py --quick    # about 1.5 minutes, noisier

    .venv/bin/python bench/run.py --database postgresql --rate-limit-store redis

Run it with the template's test environment (copier, uvicorn, httpx and the service's dependencies). It renders
the default project from this checkout (uncommitted changes included), migrates a temporary SQLite file (or a
throwaway PostgreSQL database, dropped afterwards, with --database postgresql),
registers a user and logs in over HTTP, starts one uvicorn worker per target on 127.0.0.1 (stack_off and
no_metrics each share one with the whole stack: apps.Paired), and drives each
target in turn, round after round, so that drift on the machine hits every target alike. Load comes from `wrk`
when it is on PATH, otherwise from loadgen.py in a separate process. Results go to bench/results/latest.json.
"""

# This script only parses the options and orchestrates one run (its docstring is the --help text). The work lives
# beside it: servers.py (render, environment, uvicorn targets), databases.py (throwaway PostgreSQL and Redis,
# connection churn), load.py (wrk and loadgen.py), throughput.py (interleaved rounds), latency.py (health under
# login load) and report.py (summary, tables, latest.json, README section).

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

from common import log
from databases import Backends
from latency import health_with_stack_only
from load import LoadGenerator
from report import passed, publish, run_info, summarize
from servers import Target, migrate, render, service_env, stop_server, targets_for
from throughput import measure_throughput


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5 rounds, 5 s of login load (about 1.5 minutes)")
    parser.add_argument("--duration", type=int, help="whole seconds of load per target per round (default 1)")
    parser.add_argument("--rounds", type=int, help="rounds over all targets (default 25)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent keep-alive clients (default 32)")
    parser.add_argument(
        "--processes", type=int, help="server processes per target over the rounds, started in turn (default 5)"
    )
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
    args.processes = args.processes or (1 if args.quick else 5)
    args.login_duration = args.login_duration or (5.0 if args.quick else 20.0)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_before = os.getloadavg()[0]
    command = shlex.join(["python", "bench/run.py", *(sys.argv[1:] if argv is None else argv)])
    workdir = Path(tempfile.mkdtemp(prefix="rampart-bench-"))
    project = workdir / "project"
    targets: dict[str, Target] = {}
    backends = Backends.for_run(args.database, args.rate_limit_store)
    try:
        answers = {"database": args.database, "rate_limit_store": args.rate_limit_store}
        log(f"rendering the project ({args.vcs_ref}, {answers}) into {project}")
        package = render(project, args.vcs_ref, answers)
        password = secrets.token_urlsafe(24)
        env = service_env(project, package, backends.create(workdir))
        log("alembic upgrade heads")
        migrate(project, env)
        targets = targets_for(package)
        generator = LoadGenerator.create(not args.no_wrk, args.connections, args.wrk_threads, workdir)
        pool = measure_throughput(generator, targets, env, workdir, password, args, backends.pg_database)
        health = health_with_stack_only(targets, password, args.login_duration)
        summary = summarize(targets, health, args.database)
        info = run_info(args, command, load_before, generator.name, pool)
        publish(targets, health, summary, info, args.update_readme)
        return 0 if passed(summary) or not args.strict else 1
    finally:
        for target in targets.values():
            stop_server(target)
        if args.keep:
            log(f"kept {workdir}" + backends.kept())
        else:
            shutil.rmtree(workdir, ignore_errors=True)
            backends.drop_database()
        backends.clear_redis()


if __name__ == "__main__":
    sys.exit(main())
