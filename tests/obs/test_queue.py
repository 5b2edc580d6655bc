"""Publishing with the broker down: bounded, logged, and only paid once."""

import os
import socket
import subprocess
import sys

from tests.obs.support import BASE_DIR

SCRIPT = """
import time
from integrations.obs.queue import obs_deliver_enqueue
for n in (1, 2, 3):
    started = time.monotonic()
    queued = obs_deliver_enqueue(n)
    print("RESULT", queued, round(time.monotonic() - started, 2))
"""


def test_unreachable_broker_costs_one_bounded_timeout_then_is_skipped():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    env = {
        **os.environ,
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{dead_port}/0",
    }
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", SCRIPT],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    results = [line.split()[1:] for line in out.stdout.splitlines() if line.startswith("RESULT")]
    assert [queued for queued, _ in results] == ["False", "False", "False"]
    first, *rest = [float(seconds) for _, seconds in results]
    assert first < 5  # CELERY_BROKER_CONNECTION_TIMEOUT is 2 s
    assert all(seconds < 0.1 for seconds in rest)
    assert "Could not queue OBS notification 1" in out.stderr
