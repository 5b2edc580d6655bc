"""`python -m bench.profile move|deliver`: the cost of the outbox, in process
(docs/bench.md, section 7). Imported by bench/profile.py once Django is set up.

move      board moves in the moves shop, SQL statements and CPU per move, with
          the shop's webhook endpoints enabled, then disabled, then enabled
deliver   moves, then their outbox messages delivered here to a local
          receiver, one lane at a time (message_deliver: sweep, re-send,
          retry) and one commit at a time (messages_deliver: the task a
          writer's commit publishes): statements, CPU and wall time per
          delivery and per commit, and the batched path's call tree
"""

import statistics
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import moves

WARM_UP = 3


class _Answer204(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def _receiver() -> str:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer204)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def main(request: str, *, repeats: int, html: str | None) -> int:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from pyinstrument import Profiler

    from integrations.delivery.batch import messages_deliver
    from integrations.delivery.models import Message
    from integrations.delivery.services import message_deliver
    from integrations.webhooks.models import WebhookEndpoint
    from repairs.models import RepairOrder

    settings.WEBHOOKS_ALLOW_PRIVATE = True
    url = _receiver()
    # OBS too: the bench's OBS address is a closed port.
    settings.OBS_UPDATE_URL = f"{url}/obs"
    endpoints = WebhookEndpoint.objects.filter(shop_id=moves.MOVES_SHOP)
    for endpoint in endpoints:
        endpoint.url = f"{url}/e{endpoint.id}"
        endpoint.save(update_fields=["url"])
    client = Client()
    client.force_login(get_user_model().objects.get(username=moves.user_names(1)[0]))
    ros = iter(RepairOrder.objects.filter(shop_id=moves.MOVES_SHOP).order_by("?"))

    def move() -> tuple[float, int]:
        ro = next(ros)
        # The test client sends no request_started reset: past 9,000 statements the
        # connection's log stops growing and a capture would count 0.
        reset_queries()
        started = time.process_time()
        with CaptureQueriesContext(connection) as queries:
            response = client.post(
                f"/shops/{moves.MOVES_SHOP}/ros/{ro.id}/move/",
                {"stage_id": ro.stage_id % 15 + 1, "version": ro.version},
                headers={"HX-Request": "true", "HX-Target": f"ro-{ro.id}"},
            )
        if response.status_code != 200:
            raise RuntimeError(f"move answered {response.status_code}")
        return (time.process_time() - started) * 1000, len(queries)

    def report(label: str, samples: list[tuple[float, int]], unit: str) -> None:
        print(
            f"{label}: {statistics.median(ms for ms, _ in samples):.2f} ms CPU per {unit} (median), "
            f"statements per {unit}: {dict(Counter(n for _, n in samples))}"
        )

    if request == "move":
        for enabled in (True, False, True):
            endpoints.update(enabled=enabled)
            cache.clear()
            for _ in range(WARM_UP):
                move()
            report(f"move, endpoints {'on' if enabled else 'off'}", [move() for _ in range(repeats)], "move")
        return 0

    endpoints.update(enabled=True)

    def moves_made(count: int) -> list[list[int]]:
        """`count` moves; each one's pending messages (one commit's)."""
        commits = []
        for _ in range(count):
            before = Message.objects.order_by("-id").values_list("id", flat=True).first() or 0
            move()
            commits.append(
                list(
                    Message.objects.filter(id__gt=before, state=Message.State.PENDING)
                    .order_by("id")
                    .values_list("id", flat=True)
                )
            )
        return commits

    # One lane at a time (message_deliver: the sweep's, a re-send's, a retry's path).
    commits = moves_made(repeats)
    destinations = dict(Message.objects.filter(id__in=sum(commits, [])).values_list("id", "destination"))
    samples: dict[str, list[tuple[float, int]]] = {}
    walls = []
    for message_id in sum(commits, []):
        started, wall = time.process_time(), time.perf_counter()
        with CaptureQueriesContext(connection) as queries:
            message_deliver(message_id=message_id)
        walls.append(time.perf_counter() - wall)
        samples.setdefault(destinations[message_id], []).append(
            ((time.process_time() - started) * 1000, len(queries))
        )
    for destination, values in samples.items():
        report(f"one lane: deliver {destination}", values, "delivery")
    print(f"one lane: wall per delivery: {statistics.median(walls) * 1000:.1f} ms (median)")
    # One commit's lanes together (messages_deliver: the task a writer's commit publishes),
    # with the shop's endpoints and without (OBS alone).
    for enabled in (True, False):
        endpoints.update(enabled=enabled)
        cache.clear()
        commits = moves_made(repeats)
        batched, walls = [], []
        for ids in commits:
            started, wall = time.process_time(), time.perf_counter()
            with CaptureQueriesContext(connection) as queries:
                messages_deliver(message_ids=ids)
            walls.append(time.perf_counter() - wall)
            batched.append(((time.process_time() - started) * 1000, len(queries)))
        sizes = dict(Counter(len(ids) for ids in commits))
        label = f"batched, endpoints {'on' if enabled else 'off'}: deliver one commit (messages: {sizes})"
        report(label, batched, "commit")
        print(
            f"batched, endpoints {'on' if enabled else 'off'}: wall per commit: {statistics.median(walls) * 1000:.1f} ms"
        )
    endpoints.update(enabled=True)
    cache.clear()
    commits = moves_made(repeats)
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for ids in commits:
        messages_deliver(message_ids=ids)
    profiler.stop()
    print(profiler.output_text(unicode=True, color=False, show_all=False))
    if html:
        with open(html, "w") as out:
            out.write(profiler.output_html())
    return 0
