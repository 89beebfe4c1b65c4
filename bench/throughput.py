"""The throughput half of the bench: GET /api/v1/users/me on every target, in interleaved rounds.

Each round drives every target in turn (in a rotating order), so that drift on the machine hits every target
alike; the ratios of report.py pair the targets round by round. A preflight first makes sure that every target
answers the same thing and that only the whole stack runs the security middleware.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path
from typing import Any

import httpx
from common import EMAIL, log
from databases import churn, pg_connections
from load import LoadGenerator
from servers import Target, cpu_seconds, paired_host, register_and_login, serve_only, stop_server

# The rounds run in phases; the targets of a phase are driven in turn, round after round. The whole stack is in every
# phase, and each ratio pairs its rounds with the other target's rounds of one phase. On PostgreSQL the floor,
# ceiling and baseline get phases of their own, as three warm pools of 32 (+ 8 overflow) connections would not fit
# the server's default max_connections of 100.
SQLITE_PHASES = [["stack", "baseline", "floor", "ceiling"], ["stack", "stack_off"], ["stack", "no_metrics"]]
PG_PHASES = [["stack", "floor", "ceiling"], ["stack", "baseline"], ["stack", "stack_off"], ["stack", "no_metrics"]]
# These differ from the stack by a few per cent, less than two processes of one app differ: each is served beside the
# stack by one process (apps.Paired), and the stack's rounds of its phase come from that process too.
PAIRED = frozenset({"stack_off", "no_metrics"})


def measure_throughput(
    generator: LoadGenerator,
    targets: dict[str, Target],
    env: dict[str, str],
    workdir: Path,
    password: str,
    args: argparse.Namespace,
    pg_database: str | None,
) -> list[dict[str, Any]]:
    """Run the rounds, phase by phase; return the PostgreSQL connection churn of each phase (none on SQLite).

    At the end only the whole stack's own process is serving."""
    token = ""
    pool: list[dict[str, Any]] = []
    running: list[Target] = []
    try:
        for phase_number, phase in enumerate(SQLITE_PHASES if pg_database is None else PG_PHASES):
            chosen = {name: targets[name] for name in phase}
            processes = share_processes(chosen)
            serve_only(processes, running, env, workdir)
            running = processes
            log(f"servers up: {', '.join(f'{p.name}@{p.port}' for p in processes)}")
            token = token or register_and_login(targets["stack"], password)
            preflight(chosen, token)
            log(f"load generator: {generator.name}")
            segments = split_rounds(args.rounds, args.processes)
            by_process = {process.name: process for process in processes}
            pool_before = None
            for index, rounds in enumerate(segments):
                if index:
                    restart(processes, env, workdir)
                for target in chosen.values():
                    generator.run(target.url, token, 1 if args.quick else 2)  # warm-up
                last = index == len(segments) - 1
                pool_before = pg_connections(pg_database, by_process) if pg_database is not None and last else None
                run_rounds(generator, chosen, token, args, phase_number, rounds)
            if pg_database is not None and pool_before is not None:
                pool.append(churn(pool_before, pg_connections(pg_database, by_process)))
                log(f"PostgreSQL sessions opened during the last rounds: {pool[-1]['sessions_opened_during_rounds']}")
            for target in chosen.values():
                target.own()
        serve_only([targets["stack"]], running, env, workdir)
    except BaseException:
        for process in running:
            stop_server(process)
        raise
    return pool


def share_processes(chosen: dict[str, Target]) -> list[Target]:
    """The processes that serve the phase's targets: one for the stack and a PAIRED target together, otherwise one
    per target."""
    paired = [target for name, target in chosen.items() if name in PAIRED]
    if not paired:
        return list(chosen.values())
    if len(chosen) != 2 or "stack" not in chosen:
        raise SystemExit(f"bench: {paired[0].name} can only share a phase with the whole stack alone")
    host = paired_host(paired[0])
    for target in chosen.values():
        target.share(host)
    return [host]


def split_rounds(rounds: int, processes: int) -> list[range]:
    """`rounds` split into `processes` runs of consecutive rounds, as even as they divide."""
    processes = max(1, min(processes, rounds))
    bounds = [rounds * n // processes for n in range(processes + 1)]
    return [range(start, stop) for start, stop in itertools.pairwise(bounds)]


def restart(processes: list[Target], env: dict[str, str], workdir: Path) -> None:
    """Fresh processes: two processes of one app differ by up to ~15 % in req/s (memory layout, hash seed, which core
    they land on), so each target is measured over several processes, not one lucky or unlucky."""
    for process in processes:
        stop_server(process)
    serve_only(processes, [], env, workdir)
    log(f"fresh processes: {', '.join(f'{p.name}@{p.port}' for p in processes)}")


def run_rounds(
    generator: LoadGenerator,
    targets: dict[str, Target],
    token: str,
    args: argparse.Namespace,
    phase: int,
    rounds: range,
) -> None:
    """Drive every target in turn for `rounds`; each result is tagged with its phase, round and server process."""
    order = list(targets)
    for round_number in rounds:
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
            server = targets[name].process.server
            assert server is not None
            result["pid"] = server.pid
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
        if target.name in ("stack", "stack_off", "no_metrics"):
            bad = httpx.get(target.url, headers={"Authorization": "Bearer not-a-token"}, timeout=10.0)
            if bad.status_code != 401:
                raise SystemExit(f"bench: {target.name} accepted a bad token ({bad.status_code})")
    stack = httpx.get(targets["stack"].url, headers=auth, timeout=10.0).headers
    for header in ("content-security-policy", "strict-transport-security", "x-request-id", "cache-control"):
        if header not in stack:
            raise SystemExit(f"bench: the whole stack answered without {header}")
    if "no_metrics" in targets:
        no_metrics = httpx.get(targets["no_metrics"].url, headers=auth, timeout=10.0).headers
        if "content-security-policy" not in no_metrics or "x-request-id" not in no_metrics:
            raise SystemExit("bench: no_metrics lost the security middleware too")
    if "stack_off" not in targets:
        return
    stack_off = httpx.get(targets["stack_off"].url, headers=auth, timeout=10.0).headers
    if "content-security-policy" in stack_off or "x-request-id" in stack_off:
        raise SystemExit("bench: stack_off still runs the security middleware")
