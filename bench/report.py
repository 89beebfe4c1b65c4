"""What a run reports: the medians and ratios against their targets, the tables, bench/results/latest.json and the
figures section of bench/README.md, with the versions and commit they were measured on.

Kept apart from the measuring so that the figures a run writes are computed in one place.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import statistics
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import API, BENCH_DIR, ME_PATH, REPO, log
from latency import LOGIN_CLIENTS
from servers import Target, server_options

RESULTS = BENCH_DIR / "results"
README_MARKER = "bench:results"

# The targets: the security middleware costs at most 5 %, the whole stack answers at least twice as many requests as
# the same lookup written by hand, and at least half as many as the raw floor on PostgreSQL (on SQLite, where one
# connection serialises every query, the floor ratio is shown for reference). A request waits at most 50 ms at the
# 99th percentile under 32 clients, and the liveness probe at most 50 ms at the 95th while 8 clients log in.
RATIO_TARGETS = {("stack", "stack_off"): 0.95, ("stack", "baseline"): 2.0}
FLOOR_TARGET = {"postgresql": 0.5}
P99_TARGET_MS = 50.0
HEALTH_P95_TARGET_MS = 50.0


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def median_interval(values: list[float], confidence: float = 0.95) -> tuple[float, float]:
    """A distribution-free interval for the median: the order statistics that hold it with at least `confidence`
    (each value falls below the median with chance 1/2, so their count below it is binomial). NaNs when too few."""
    ordered, n = sorted(values), len(values)
    below = 0.0  # P(at most k values below the median), summed up k by k
    for k in range(n // 2):
        below += math.comb(n, k) / 2**n
        if below > (1 - confidence) / 2:
            if k == 0:
                break
            return ordered[k - 1], ordered[n - k]
    return float("nan"), float("nan")


def _median_of(pairs: list[tuple[dict[str, Any], dict[str, Any]]], side: int, key: str) -> float:
    """The median of `key` over one side of the paired rounds (the rounds that lack it are left out)."""
    return median([pair[side][key] for pair in pairs if key in pair[side]])


def _latency(target: Target, percentile: str) -> float:
    """The median over rounds of one latency percentile ("p50", "p99"), in ms."""
    return median([r["latency_ms"][percentile] for r in target.rounds])


def _tail(target: Target) -> float:
    """The median over rounds of p99 / p50."""
    return round(median([r["latency_ms"]["p99"] / r["latency_ms"]["p50"] for r in target.rounds]), 2)


def summarize(targets: dict[str, Target], health: dict[str, Any], database: str) -> dict[str, Any]:
    medians = {name: median([r["requests_per_second"] for r in t.rounds]) for name, t in targets.items()}
    ratios = []
    goals = [
        *RATIO_TARGETS.items(),
        (("stack", "floor"), FLOOR_TARGET.get(database)),
        (("stack", "no_metrics"), None),
        (("stack", "ceiling"), None),
    ]
    for (numerator, denominator), goal in goals:
        # pair the rounds that both ran (on PostgreSQL, each ratio comes from its own phase)
        by_round = {r["round"]: r for r in targets[denominator].rounds}
        pairs = [(a, by_round[a["round"]]) for a in targets[numerator].rounds if a["round"] in by_round]
        paired = [a["requests_per_second"] / b["requests_per_second"] for a, b in pairs]
        value = median(paired)  # each round's pair ran seconds apart, so drift cancels within a pair
        low, high = median_interval(paired)
        # Medians over the paired rounds only: on PostgreSQL the stack also ran in the other phases, at other times.
        ratios.append(
            {
                "name": f"{numerator} / {denominator}",
                "rounds": len(paired),
                "value": round(value, 3),
                "ratio_of_medians": round(
                    _median_of(pairs, 0, "requests_per_second") / _median_of(pairs, 1, "requests_per_second"), 3
                ),
                # the throughput ratio that the server's CPU time per request implies (less sensitive to other load)
                "cpu_implied": round(
                    _median_of(pairs, 1, "server_cpu_us_per_request")
                    / _median_of(pairs, 0, "server_cpu_us_per_request"),
                    3,
                ),
                "interval_95": None if math.isnan(low) else [round(low, 3), round(high, 3)],
                "per_round_min": round(min(paired), 3),
                "per_round_max": round(max(paired), 3),
                "target": goal,
                "pass": None if goal is None else value >= goal,
            }
        )
    p95 = health["under_login_load"]["latency_ms"]["p95"]
    p99 = _latency(targets["stack"], "p99")
    return {
        "requests_per_second": medians,
        "ratios": ratios,
        "stack_p99_ms": p99,
        # Whether a p99 comes from the target's own stalls or from serving 32 clients on one event loop on this
        # machine: a target that adds no tail of its own has the p99/p50 of the floor and the ceiling.
        "p99_over_p50": {name: _tail(target) for name, target in targets.items()},
        "stack_p99_pass": p99 <= P99_TARGET_MS,
        "health_live_p95_ms": p95,
        "health_pass": p95 <= HEALTH_P95_TARGET_MS,
    }


def report(targets: dict[str, Target], health: dict[str, Any], summary: dict[str, Any], info: dict[str, Any]) -> str:
    """The Markdown tables of a run: throughput, ratios, health under login load, PostgreSQL connections."""
    lines = [
        *throughput_table(targets, summary, info),
        *ratio_table(summary),
        *health_table(health, summary),
        *(line for phase in info.get("pool", []) for line in pool_table(phase, info)),
    ]
    return "\n".join(lines)


def throughput_table(targets: dict[str, Target], summary: dict[str, Any], info: dict[str, Any]) -> list[str]:
    backend = ""
    if info["database"] != "sqlite" or info["rate_limit_store"] != "memory":
        backend = f"database {info['database']}, rate-limit store {info['rate_limit_store']}, "
    lines = [
        f"GET {ME_PATH}, {backend}{info['load_generator']}, {info['rounds']} rounds x {info['duration']} s per "
        f"target, {info['processes']} server processes per target in turn, {info['server']}; "
        f"load average before the run {info['load_average_before']:.2f}",
        "",
        "| target | what | req/s (median) | min - max | p50 ms | p99 ms | p99 / p50 | server CPU us/req |",
        "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for name, target in targets.items():
        p50, p99 = _latency(target, "p50"), _latency(target, "p99")
        rates = [r["requests_per_second"] for r in target.rounds]
        cpu = median([r["server_cpu_us_per_request"] for r in target.rounds if "server_cpu_us_per_request" in r])
        rps = summary["requests_per_second"][name]
        lines.append(
            f"| {name} | {target.description} | {rps:.0f} | {min(rates):.0f} - {max(rates):.0f} | {p50:.2f} | "
            f"{p99:.2f} | {summary['p99_over_p50'][name]:.2f} | {cpu:.0f} |"
        )
    verdict = "PASS" if summary["stack_p99_pass"] else "FAIL"
    lines += [
        "",
        f"Whole stack p99 (median of the rounds' p99 at {info['connections']} clients): "
        f"{summary['stack_p99_ms']:.2f} ms, target <= {P99_TARGET_MS:.0f} ms: {verdict}",
    ]
    if "floor" in targets:
        lines[-1] += f" (the raw floor's in the same rounds: {_latency(targets['floor'], 'p99'):.2f} ms)"
    return lines


def ratio_table(summary: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "| ratio | rounds | median of round ratios | 95 % interval of that median | per-round range | "
        "ratio of medians | from CPU/req | target | result |",
        "| --- | ---: | ---: | --- | --- | ---: | ---: | --- | --- |",
    ]
    for ratio in summary["ratios"]:
        goal = f">= {ratio['target']:.2f}" if ratio["target"] is not None else "reference"
        verdict = "" if ratio["pass"] is None else ("PASS" if ratio["pass"] else "FAIL")
        spread = f"{ratio['per_round_min']:.3f} - {ratio['per_round_max']:.3f}"
        interval = ratio["interval_95"]
        interval = "too few rounds" if interval is None else f"{interval[0]:.3f} - {interval[1]:.3f}"
        lines.append(
            f"| {ratio['name']} | {ratio['rounds']} | {ratio['value']:.3f} | {interval} | {spread} | "
            f"{ratio['ratio_of_medians']:.3f} | "
            f"{ratio['cpu_implied']:.3f} | {goal} | {verdict} |"
        )
    return lines


def health_table(health: dict[str, Any], summary: dict[str, Any]) -> list[str]:
    loaded = health["under_login_load"]
    idle = health["idle"]["latency_ms"]
    logins = health["logins"]
    login_codes = ", ".join(f"{code}: {count}" for code, count in sorted(logins["statuses"].items()))
    return [
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


def pool_table(phase: dict[str, Any], info: dict[str, Any]) -> list[str]:
    before, after = phase["before"]["per_target"], phase["after"]["per_target"]
    names = [name for name, held in before.items() if held is not None]  # server processes, paired ones included
    return [
        "",
        f"PostgreSQL connections held by the last processes of {', '.join(names)} after their warm-up and after "
        f"their rounds (DATABASE_POOL_SIZE {info['pool_size']}): "
        f"{phase['sessions_opened_during_rounds']} sessions opened and {phase['backends_closed']} closed "
        "during those rounds",
        "",
        "| target | before | after |",
        "| --- | ---: | ---: |",
        *(f"| {name} | {before[name]} | {after[name]} |" for name in names),
        f"| bench database (pg_stat_activity) | {len(phase['before']['backends'])} | "
        f"{len(phase['after']['backends'])} |",
    ]


def update_readme(table: str, info: dict[str, Any], marker: str = README_MARKER) -> None:
    """Replace the section between `<!-- marker -->` and `<!-- /marker -->` (with `:database+store` unless the
    defaults) of bench/README.md with `table`, and when and how it was measured."""
    readme = BENCH_DIR / "README.md"
    text = readme.read_text()
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


def machine() -> str:
    return f"{os.cpu_count()} CPUs, {platform.system()} {platform.machine()}, Python {platform.python_version()}"


def run_info(
    args: argparse.Namespace, command: str, load_before: float, load_generator: str, pool: list[dict[str, Any]]
) -> dict[str, Any]:
    """How, where and on what the run was measured, as latest.json and the README section record it."""
    info = {
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "git": git_describe(),
        "machine": machine(),
        "versions": versions(),
        "server": "uvicorn, 1 worker, " + " ".join(server_options()),
        "load_generator": load_generator,
        "rounds": args.rounds,
        "processes": args.processes,
        "duration": args.duration,
        "connections": args.connections,
        "load_average_before": load_before,
        "database": args.database,
        "rate_limit_store": args.rate_limit_store,
    }
    if pool:
        info |= {"pool": pool, "pool_size": os.environ.get("DATABASE_POOL_SIZE", "32 (default)")}
    return info


def publish(
    targets: dict[str, Target],
    health: dict[str, Any],
    summary: dict[str, Any],
    info: dict[str, Any],
    readme: bool,
) -> None:
    """Print the tables, write bench/results/latest.json and, when asked, the figures section of bench/README.md."""
    table = report(targets, health, summary, info)
    if info["load_average_before"] > 0.5:
        log(
            f"the load average was {info['load_average_before']:.2f} before the run: other work shares the CPUs, "
            "expect noise"
        )
    print()
    print(table)
    print()
    latest = write_results(targets, health, summary, info)
    log(f"wrote {latest.relative_to(REPO)}")
    if readme:
        update_readme(table, info)
        log("updated bench/README.md")


def write_results(
    targets: dict[str, Target], health: dict[str, Any], summary: dict[str, Any], info: dict[str, Any]
) -> Path:
    """bench/results/latest.json: the run's info and summary, every round of every target, the health probes."""
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
    return latest


def passed(summary: dict[str, Any]) -> bool:
    """Every ratio with a target meets it, and so do the whole stack's p99 and the health probe."""
    ratios = all(r["pass"] is not False for r in summary["ratios"])
    return ratios and summary["stack_p99_pass"] and summary["health_pass"]
