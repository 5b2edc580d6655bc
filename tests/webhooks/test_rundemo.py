"""`make run`'s webhook: rundemo gives every shop an endpoint at the demo
receiver, and a move arrives there with a signature that verified."""

import re
import signal
import subprocess
import sys

import pytest
import requests

from tests.obs.support import BASE_DIR, wait_until
from tests.test_make_run import MOVE_ONE, demo_env, free_port, manage, var_dir  # noqa: F401  (fixtures)

pytestmark = pytest.mark.worker


def test_make_run_sends_a_move_to_the_demo_webhook_receiver_signed(demo_env, tmp_path):  # noqa: F811
    demo_env.pop("WEBHOOKS_ALLOW_PRIVATE", None)  # the demo turns it on itself
    port = free_port()
    log_path = tmp_path / "rundemo.log"
    with open(log_path, "wb") as log:
        demo = subprocess.Popen(
            [sys.executable, "manage.py", "rundemo", "--load-demo", f"127.0.0.1:{port}"],
            cwd=BASE_DIR,
            env=demo_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(
            lambda: re.search(r"Webhooks of every shop also go to", log_path.read_text()),
            timeout=120,
            interval=0.2,
            message="rundemo",
        )
        manage(demo_env, "shell", "-c", MOVE_ONE)

        def received():
            try:
                page = requests.get(f"http://127.0.0.1:{port}/demo/webhooks/", timeout=5).text
            except requests.ConnectionError:
                return False
            return "repair_order.stage_changed" in page and page

        page = wait_until(received, timeout=60, interval=0.5, message="the demo receiver to get the move")
        assert "✔ verified" in page and "✘" not in page
    finally:
        demo.send_signal(signal.SIGTERM)
        demo.wait(timeout=60)
