"""The README's run command on its embedded defaults: SQLite, the filesystem
broker, a real worker started by `manage.py rundemo`, the demo OBS receiver.
A move reaches "OBS" with no broker or OBS installed, and stopping the demo
stops its worker."""

import os
import re
import signal
import socket
import subprocess
import sys

import pytest
import requests

from tests.obs.support import BASE_DIR, wait_until

pytestmark = pytest.mark.worker

MOVE_ONE = """
from repairs.models import RepairOrder
from repairs.services import repair_order_move
ro = RepairOrder.objects.filter(shop_id=33, obs_event_id__isnull=False).order_by("id").first()
repair_order_move(repair_order_id=ro.id, stage_id=8 if ro.stage_id != 8 else 9, source="board")
print("MOVED", ro.obs_event_id)
"""


def manage(env, *args, timeout=120):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )


def test_rundemo_delivers_a_move_to_the_demo_obs_and_stops_its_worker(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "OBS_UPDATE_URL", "OBS_API_KEY"}
        and not k.startswith("PYTEST")
    }
    env.update(
        DEBUG="true",
        DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        CELERY_BROKER_FOLDER=str(tmp_path / "broker"),
    )
    manage(env, "migrate", "--no-input", "-v0")
    manage(env, "seed_demo")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log_path = tmp_path / "rundemo.log"
    with open(log_path, "wb") as log:
        demo = subprocess.Popen(
            [sys.executable, "manage.py", "rundemo", f"127.0.0.1:{port}"],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    worker_pid = None
    try:
        started = wait_until(
            lambda: re.search(r"worker with beat started \(pid (\d+)", log_path.read_text()),
            timeout=30,
            message="rundemo",
        )
        worker_pid = int(started.group(1))
        assert f"http://127.0.0.1:{port}/demo/obs/updateevent/" in log_path.read_text()

        obs_event_id = manage(env, "shell", "-c", MOVE_ONE).stdout.split("MOVED ")[1].strip()

        def received():
            try:
                page = requests.get(f"http://127.0.0.1:{port}/demo/obs/", timeout=2).text
            except requests.ConnectionError:
                return False
            return obs_event_id in page

        wait_until(received, timeout=40, interval=0.5, message="the demo OBS to receive the move")
    finally:
        demo.send_signal(signal.SIGTERM)
        code = demo.wait(timeout=40)
        if worker_pid is None:
            print(log_path.read_text())
    assert code == 0, log_path.read_text()
    assert "Stopping the Celery worker" in log_path.read_text()
    with pytest.raises(ProcessLookupError):
        os.kill(worker_pid, 0)
