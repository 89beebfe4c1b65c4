"""The latency half of the bench: GET /health/live, idle and while 8 clients keep logging in with real hashing.

Password hashing is the slowest thing the service does; this shows that it does not stall the event loop for the
liveness probe an orchestrator sends.
"""

import subprocess
import time
from typing import Any

import httpx
from common import API, EMAIL, log
from load import collect, loadgen_command, run_loadgen
from servers import Target, stop_server

LOGIN_CLIENTS = 8


def health_under_login_load(stack: Target, password: str, duration: float) -> dict[str, Any]:
    """8 clients loop POST /auth/login (real hashing) while a 9th probes GET /health/live every 20 ms."""
    base = stack.base_url
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


def health_with_stack_only(targets: dict[str, Target], password: str, duration: float) -> dict[str, Any]:
    """Stop every target but the stack, then measure its health probe under login load."""
    for name in ("stack_off", "no_metrics", "baseline", "floor", "ceiling"):
        stop_server(targets[name])  # idle servers cost nothing, but the login phase needs only the stack
    log(f"health under login load: {LOGIN_CLIENTS} login clients for {duration:.0f} s")
    return health_under_login_load(targets["stack"], password, duration)
