"""`make run` on its embedded defaults, as a newcomer runs it: no DATABASE_URL,
no broker. manage.py starts the embedded PostgreSQL (data in SHOPBOARD_VAR_DIR,
here a temporary folder) and `rundemo --load-demo` (the command of `make run`)
migrates, loads the demo and serves it with a real Celery worker and the demo
OBS receiver.

Over real HTTP: a batch POST and PATCH read back, a move reaches the demo
OBS (through the same per-RO lock as production), the demo API key survives a
second seed_demo, and stopping the demo stops its worker and its PostgreSQL.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import requests

from repairs.demo import DEMO_PASSWORD
from tests.api.conftest import as_read, sample
from tests.obs.support import BASE_DIR, wait_until

pytestmark = pytest.mark.worker

INHERITED_SERVICES = {
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "CELERY_BROKER_FOLDER",
    "DJANGO_SETTINGS_MODULE",
    "OBS_UPDATE_URL",
    "OBS_API_KEY",
    "SHOPBOARD_VAR_DIR",
}
KEY_LINE = re.compile(r"API key \(shops 33, 44\): (\S+)")
MOVE_ONE = """
from repairs.models import RepairOrder
from repairs.services import repair_order_move
ro = RepairOrder.objects.filter(shop_id=33, obs_event_id__isnull=False).order_by("id").first()
repair_order_move(repair_order_id=ro.id, stage_id=8 if ro.stage_id != 8 else 9, source="board")
print("MOVED", ro.obs_event_id)
"""


def manage(env, *args, timeout=180) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postmaster_pid(pgdata: Path) -> int | None:
    pid_file = pgdata / "postmaster.pid"
    return int(pid_file.read_text().split()[0]) if pid_file.exists() else None


def alive(pid: int) -> bool:
    """Running: an exited process not yet reaped by its parent (a zombie) is not."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _line_comes(lines, wanted: str, *, within: int = 20) -> bool:
    """The stream sends `wanted` within its next few lines (heartbeats may come first)."""
    return any(next(lines) == wanted for _ in range(within))


@pytest.fixture
def var_dir():
    # Not under pytest's tmp_path: any pytest session started meanwhile on
    # this machine closes /tmp/pytest-of-<user> again (0700), and the server,
    # run as its own system user when we are root, must reach its folder.
    folder = Path(tempfile.mkdtemp(prefix="shopboard-make-run-")) / "var"
    yield folder
    shutil.rmtree(folder.parent, ignore_errors=True)


@pytest.fixture
def demo_env(var_dir, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in INHERITED_SERVICES and not k.startswith("PYTEST")}
    env.update(
        DEBUG="true",
        SHOPBOARD_VAR_DIR=str(var_dir),
        CELERY_BROKER_FOLDER=str(tmp_path / "broker"),
        PYTHONUNBUFFERED="1",
    )
    yield env
    # Whatever happened, no embedded server outlives the test.
    if (pid := postmaster_pid(var_dir / "postgres")) and alive(pid):
        os.kill(pid, signal.SIGQUIT)


def test_make_run_serves_the_demo_on_the_embedded_postgresql_and_stops_it(demo_env, var_dir, tmp_path):
    pgdata = var_dir / "postgres"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "rundemo.log"
    with open(log_path, "wb") as log:
        demo = subprocess.Popen(
            [sys.executable, "manage.py", "rundemo", "--load-demo", f"127.0.0.1:{port}"],
            cwd=BASE_DIR,
            env=demo_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    worker_pid = None
    try:

        def healthy():
            assert demo.poll() is None, log_path.read_text()
            try:
                return requests.get(f"{base}/api/v1/health", timeout=5).status_code == 200
            except requests.ConnectionError:
                return False

        wait_until(healthy, timeout=120, interval=0.2, message="rundemo to answer")
        log = log_path.read_text()
        first = KEY_LINE.search(log).group(1)
        worker_pid = int(re.search(r"worker with beat started \(pid (\d+)", log).group(1))
        assert f"Database shopboard on {pgdata}." in log
        server_pid = postmaster_pid(pgdata)
        assert server_pid and alive(server_pid)

        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {first}"
        posted = sample("post-repair-orders.json")
        response = session.post(f"{base}/api/v1/repair-orders", json=posted, timeout=30)
        assert response.status_code == 201, response.text
        assert response.json()["repair_orders"] == [{"shop_id": 33, "repair_number": "606471", "stage_id": 1}]
        patch = sample("patch-phone-number.json")
        patch[0]["repair_orders"][0]["customer"]["phone_number"] = "5550001111"
        response = session.patch(f"{base}/api/v1/repair-orders", json=patch, timeout=30)
        assert response.status_code == 200, response.text
        readback = session.get(f"{base}/api/v1/shops/33/repair-orders/606471", timeout=30).json()
        expected = as_read(posted[0]["repair_orders"][0])
        expected["customer"]["phone_number"] = "5550001111"
        assert {k: readback[k] for k in expected} == expected
        assert (readback["stage_id"], readback["version"]) == (1, 2)

        # The board's event stream is served too (uvicorn): a signed-in manager's stream
        # opens, and the move below (another process) reaches it through LISTEN/NOTIFY.
        board = requests.Session()
        login = board.get(f"{base}/accounts/login/", timeout=30)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
        signed = board.post(
            f"{base}/accounts/login/",
            data={"username": "manager", "password": DEMO_PASSWORD, "csrfmiddlewaretoken": token},
            allow_redirects=False,
            timeout=30,
        )
        assert signed.status_code == 302, signed.text
        stream = board.get(f"{base}/shops/33/board/events/", stream=True, timeout=(10, 60))
        assert stream.status_code == 200 and stream.headers["Content-Type"].startswith("text/event-stream")
        lines = stream.iter_lines(decode_unicode=True)
        assert _line_comes(lines, "event: live")

        # Another command beside the demo joins its server (and leaves it running).
        obs_event_id = manage(demo_env, "shell", "-c", MOVE_ONE).split("MOVED ")[1].strip()
        assert alive(server_pid)
        assert _line_comes(lines, "event: board")
        stream.close()

        def received():
            try:
                return obs_event_id in requests.get(f"{base}/demo/obs/", timeout=5).text
            except requests.ConnectionError:
                return False

        wait_until(received, timeout=60, interval=0.5, message="the demo OBS to receive the move")
    finally:
        demo.send_signal(signal.SIGTERM)
        code = demo.wait(timeout=60)
    log = log_path.read_text()
    assert code == 0, log
    assert "Stopping the Celery worker" in log
    assert worker_pid is not None and not alive(worker_pid)
    assert postmaster_pid(pgdata) is None, log + (pgdata / "log").read_text()
    wait_until(lambda: not alive(server_pid), timeout=10, message="the embedded PostgreSQL to exit")
    # The next run: the same demo API key, the data kept (the RO posted above
    # is still there), and the server stopped again after each command.
    again = manage(demo_env, "seed_demo")
    assert KEY_LINE.search(again).group(1) == first
    assert "the same key as the last run" in again
    shown = manage(
        demo_env,
        "shell",
        "-c",
        "from repairs.models import RepairOrder; print(RepairOrder.objects.filter(repair_number='606471').count())",
    )
    assert shown.splitlines()[-1] == "1"
    assert postmaster_pid(pgdata) is None
