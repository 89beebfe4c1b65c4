"""How the bench drives load: `wrk` with a Lua report, or loadgen.py, always in a process of its own.

The throughput rounds and the health-under-login-load probe both start their load here, so that neither the load
generator's CPU time nor its event loop is shared with a server under test.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import BENCH_DIR

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

    @classmethod
    def create(cls, use_wrk: bool, connections: int, wrk_threads: int, workdir: Path) -> LoadGenerator:
        """`wrk` when it is wanted and on PATH (its Lua report written into `workdir`), otherwise loadgen.py."""
        wrk = shutil.which("wrk") if use_wrk else None
        script = workdir / "report.lua"
        script.write_text(WRK_SCRIPT)
        return cls(wrk, connections, wrk_threads, script)

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
