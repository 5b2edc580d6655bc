"""Render the board of a shop with N Active ROs and report queries and time.

    DATABASE_URL=postgres://... python bench/board_render.py [N] [ROUNDS]

Works in a transaction that is rolled back: it leaves the database as it was.
"""

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopboard.settings")

SHOP_ID = 987_654


class Rollback(Exception):
    pass


def etag_of(client) -> str:
    response = client.get(f"/shops/{SHOP_ID}/board/", headers={"HX-Request": "true", "HX-Target": "board"})
    return response["ETag"]


def main(count: int, rounds: int) -> None:
    import django

    django.setup()

    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.db import connection, transaction
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from repairs.models import Membership, Shop
    from tests.board.test_query_budget import load_shop

    try:
        with transaction.atomic():
            shop = Shop.objects.create(id=SHOP_ID, name="Bench shop")
            user = get_user_model().objects.create_user("bench-board-user")
            Membership.objects.create(user=user, shop=shop, role="manager")
            load_shop(shop, count)
            client = Client()
            client.force_login(user)
            gzip = {"Accept-Encoding": "gzip"}
            poll = {**gzip, "HX-Request": "true", "HX-Target": "board"}
            cases = [
                ("full page", gzip, True),
                ("poll, changed", poll, True),  # the first board to ask after a change renders
                ("poll, shared", poll, False),  # the other boards get that rendering from the cache
            ]
            for label, headers, fresh in cases:
                client.get(f"/shops/{SHOP_ID}/board/", headers=headers)  # warm up templates
                timings = []
                for _ in range(rounds):
                    if fresh:
                        cache.delete(f"board-fragment:{SHOP_ID}:{etag_of(client)}")
                    with CaptureQueriesContext(connection) as queries:
                        start = time.perf_counter()
                        response = client.get(f"/shops/{SHOP_ID}/board/", headers=headers)
                        timings.append((time.perf_counter() - start) * 1000)
                    assert response.status_code == 200
                print(
                    f"{label:>15}: {count} ROs, {len(queries)} queries, {len(response.content) // 1024} KiB gzipped, "
                    f"median {statistics.median(timings):.0f} ms, min {min(timings):.0f} ms over {rounds} rounds"
                )
            etag = response["ETag"]
            timings = []
            for _ in range(rounds):
                with CaptureQueriesContext(connection) as queries:
                    start = time.perf_counter()
                    response = client.get(
                        f"/shops/{SHOP_ID}/board/",
                        headers={"HX-Request": "true", "HX-Target": "board", "If-None-Match": etag},
                    )
                    timings.append((time.perf_counter() - start) * 1000)
                assert response.status_code == 304
            print(
                f"{'poll, idle':>15}: {count} ROs, {len(queries)} queries, 304, "
                f"median {statistics.median(timings):.1f} ms over {rounds} rounds"
            )
            raise Rollback
    except Rollback:
        pass


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500, int(sys.argv[2]) if len(sys.argv) > 2 else 10)
