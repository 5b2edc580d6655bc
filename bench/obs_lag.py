"""Delivery lag of OBS notifications: from a move's commit to OBS's receipt.

A real Celery worker (prefork, concurrency 2, beat) on the configured broker,
a local HTTP server standing in for OBS (answering at once), and N moves of
N different OBS ROs made in this process. Prints median, p95 and max for
moves made one at a time (spaced) and all at once (burst).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/shopboard_obs \
    CELERY_BROKER_URL=redis://127.0.0.1:6379/7 python -m bench.obs_lag [N]
"""

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopboard.settings")

import django

django.setup()

from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from integrations.models import Notification, ObsSettings
from repairs.models import RepairOrder, Shop
from repairs.services import repair_order_move
from tests.obs.support import FakeObs, Worker, new_obs_event_id, wait_until

BENCH_SHOP_ID = 990_001


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def run(n: int, *, gap: float, fake: FakeObs, label: str) -> None:
    shop = Shop.objects.get(pk=BENCH_SHOP_ID)
    ros = [
        RepairOrder.objects.create(
            shop=shop,
            repair_number=f"LAG-{label}-{i}",
            stage_id=1,
            stage_entered_at=timezone.now(),
            obs_event_id=new_obs_event_id(),
        )
        for i in range(n)
    ]
    # When each move returned to its caller: committed, delivery task queued.
    committed: dict[str, float] = {}
    for ro in ros:
        repair_order_move(repair_order_id=ro.id, stage_id=7, source="board")
        committed[ro.obs_event_id] = time.time()
        if gap:
            time.sleep(gap)
    delivered = Notification.objects.filter(repair_order__in=ros, state=Notification.State.DELIVERED)
    wait_until(lambda: delivered.count() == n, timeout=120, message=f"{n} deliveries")
    receipts = {
        r.body[0]["obs_event_id"]: r.at for r in fake.received if r.body[0]["obs_event_id"] in committed
    }
    lags = [(receipts[event_id] - at) * 1000 for event_id, at in committed.items()]
    span = max(receipts.values()) - min(committed.values())
    print(
        f"{label:>7}: {n} moves, {len(fake.received)} POSTs, {delivered.count()} delivered, "
        f"last one {span:.1f} s after the first move; "
        f"lag ms median {statistics.median(lags):.0f}, p95 {percentile(lags, 95):.0f}, max {max(lags):.0f}"
    )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    call_command("migrate", verbosity=0)
    Shop.objects.filter(pk=BENCH_SHOP_ID).delete()
    shop = Shop.objects.create(id=BENCH_SHOP_ID, name="OBS lag bench")
    fake = FakeObs()
    ObsSettings.objects.create(shop=shop, update_url=fake.url, api_key="bench")
    db = settings.DATABASES["default"]
    env = {"OBS_UPDATE_URL": fake.url, "OBS_API_KEY": "bench"}
    if db["ENGINE"].endswith("sqlite3"):
        sys.exit("Run the benchmark on PostgreSQL (set DATABASE_URL).")
    from shopboard.celery import app

    app.control.purge()
    worker = Worker(env=env, log_dir=Path(tempfile.mkdtemp(prefix="obs-lag-")))
    try:
        print(f"broker {settings.CELERY_BROKER_URL.split('@')[-1]}, worker prefork x2, OBS answering at once")
        run(n, gap=0.05, fake=fake, label="spaced")
        fake.reset()
        run(n, gap=0, fake=fake, label="burst")
    finally:
        worker.stop()
        fake.close()
        Shop.objects.filter(pk=BENCH_SHOP_ID).delete()


if __name__ == "__main__":
    main()
