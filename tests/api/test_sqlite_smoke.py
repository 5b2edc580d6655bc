"""The README's run path on the embedded defaults: SQLite, no broker, runserver.

Everything runs in subprocesses with a clean environment (no PostgreSQL or
Redis settings inherited), talking real HTTP, so this keeps `make run` from
rotting while the rest of the suite runs on PostgreSQL.
"""

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.api.conftest import sample

ROOT = Path(__file__).resolve().parents[2]
INHERITED_SERVICES = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_BROKER_FOLDER",
                      "DJANGO_SETTINGS_MODULE")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def sqlite_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in INHERITED_SERVICES}
    env.update({
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "CELERY_BROKER_FOLDER": str(tmp_path / "broker"),
        "DJANGO_SETTINGS_MODULE": "shopboard.settings",
        "PYTHONUNBUFFERED": "1",
    })
    return env


def _manage(env, *args) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture
def server(sqlite_env, tmp_path):
    _manage(sqlite_env, "migrate", "--no-input", "-v0")
    seeded = _manage(sqlite_env, "seed_demo")
    key = re.search(r"API key \(shops [\d, ]+\): (\S+)", seeded).group(1)
    port = _free_port()
    log_path = tmp_path / "runserver.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
            cwd=ROOT, env=sqlite_env, stdout=log, stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log_path.read_text()
            try:
                if requests.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "runserver did not answer within 30 s"
            time.sleep(0.1)
        yield base, key
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_batch_post_patch_and_read_back_on_sqlite(server):
    base, key = server
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"

    posted = sample("post-repair-orders.json")
    response = session.post(f"{base}/api/v1/repair-orders", json=posted, timeout=10)
    assert response.status_code == 201, response.text
    assert response.json()["repair_orders"] == [{"shop_id": 33, "repair_number": "606471", "stage_id": 1}]

    patch = sample("patch-phone-number.json")
    patch[0]["repair_orders"][0]["customer"]["phone_number"] = "5550001111"
    response = session.patch(f"{base}/api/v1/repair-orders", json=patch, timeout=10)
    assert response.status_code == 200, response.text

    response = session.get(f"{base}/api/v1/shops/33/repair-orders/606471", timeout=10)
    assert response.status_code == 200, response.text
    readback = response.json()
    expected = posted[0]["repair_orders"][0]
    expected["customer"]["phone_number"] = "5550001111"
    assert {k: readback[k] for k in expected} == expected
    assert (readback["stage_id"], readback["version"]) == (1, 2)
    assert response.headers["X-Request-ID"]

    # The seeded demo ROs are listed too, paged by cursor.
    page = session.get(f"{base}/api/v1/shops/33/repair-orders", params={"limit": 5}, timeout=10).json()
    assert len(page["items"]) == 5 and page["next_cursor"]
    problem = session.post(f"{base}/api/v1/repair-orders", json=posted, timeout=10)
    assert problem.status_code == 422
    assert problem.json()["errors"][0]["code"] == "duplicate_repair_number"
