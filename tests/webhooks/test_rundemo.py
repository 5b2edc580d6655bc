"""`make run`'s webhook: rundemo gives every shop an endpoint at the demo
receiver, and a move arrives there with a signature that verified."""

import os
import re
import signal
import socket
import subprocess
import sys

import pytest
import requests

from tests.obs.support import BASE_DIR, wait_until
from tests.obs.test_rundemo import MOVE_ONE, manage

pytestmark = pytest.mark.worker


def test_rundemo_sends_a_move_to_the_demo_webhook_receiver_signed(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {"DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "OBS_UPDATE_URL", "WEBHOOKS_ALLOW_PRIVATE"}
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
    try:
        wait_until(lambda: re.search(r"Webhooks of every shop also go to", log_path.read_text()), timeout=30)
        manage(env, "shell", "-c", MOVE_ONE)

        def received():
            try:
                page = requests.get(f"http://127.0.0.1:{port}/demo/webhooks/", timeout=2).text
            except requests.ConnectionError:
                return False
            return "repair_order.stage_changed" in page and page

        page = wait_until(received, timeout=40, interval=0.5, message="the demo receiver to get the move")
        assert "✔ verified" in page and "✘" not in page
    finally:
        demo.send_signal(signal.SIGTERM)
        demo.wait(timeout=40)
