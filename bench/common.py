"""What every part of the bench shares: where it lives, the loopback address it serves on, the bench user, log().

The bench is run as a script (`python bench/run.py`), so bench/ is on sys.path and its modules import each other
by their plain names; the same folder is on the servers' PYTHONPATH, for apps.py and the other targets.
"""

import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
HOST = "127.0.0.1"
API = "/api/v1"
ME_PATH = f"{API}/users/me"
EMAIL = "bench@example.com"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)
