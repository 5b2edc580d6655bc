"""One commit's messages delivered together (integrations/delivery/batch.py):
a move's OBS notification and its message to every endpoint leave in one
task, their lanes claimed and recorded in shared statements, their HTTP
calls made at once; a slow or failing endpoint holds back no other lane's
outcome; order per RO and endpoint holds across commits, with a real
worker, and when the worker's database connections die mid-call. Real
PostgreSQL, a real broker, real local HTTP servers. The in-process tests
come before the worker's (a module-scoped worker would take their tasks)."""

import base64
import json
import threading
from collections import defaultdict

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bench.harness import DELIVERY_POOL
from integrations.delivery.batch import messages_deliver
from integrations.delivery.models import Destination, Message
from integrations.delivery.queue import BATCH_TASK
from integrations.webhooks.services import endpoint_create
from repairs.services import repair_order_move
from tests.obs.support import FAST_OBS_ENV, Reply, make_obs_repair_order, wait_until
from tests.webhooks.conftest import start_worker
from tests.webhooks.support import Receiver

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

State = Message.State


class LaneReceiver(Receiver):
    """A receiver whose paths answer each by their own script, and whose
    gated paths hold every request until the test opens the gate."""

    def __init__(self):
        super().__init__()
        self.scripts: dict[str, list[Reply]] = {}
        self.gates: dict[str, threading.Event] = {}

    def _next_reply(self, item):
        gate = self.gates.get(item.path)
        with self._lock:
            self.received.append(item)
            script = self.scripts.get(item.path)
            reply = script.pop(0) if script else self.default
        if gate is not None:
            gate.wait(timeout=30)
        return reply

    def reset(self):
        for gate in getattr(self, "gates", {}).values():
            gate.set()
        super().reset()
        self.scripts, self.gates = {}, {}

    def holding(self, path: str) -> int:
        with self._lock:
            return sum(1 for r in self.received if r.path == path) - sum(
                1 for r in self.completed if r.path == path
            )


@pytest.fixture(scope="module")
def lanes_server():
    server = LaneReceiver()
    yield server
    server.reset()
    server.close()


@pytest.fixture
def lanes(lanes_server):
    lanes_server.reset()
    yield lanes_server
    lanes_server.reset()


@pytest.fixture
def obs_here(settings, webhooks_settings, lanes):
    """This process's OBS settings as a test worker's, OBS at the receiver."""
    for name, value in FAST_OBS_ENV.items():
        setattr(settings, name, type(getattr(settings, name))(value))
    settings.OBS_UPDATE_URL = lanes.url_for("/obs")
    return settings


def _move(ro, stage_id: int) -> list[int]:
    before = Message.objects.order_by("-id").values_list("id", flat=True).first() or 0
    repair_order_move(repair_order_id=ro.id, stage_id=stage_id, source="board")
    return list(Message.objects.filter(id__gt=before).order_by("id").values_list("id", flat=True))


def _broker_tasks() -> list[tuple[str, list]]:
    """The tasks waiting on the broker's default queue: (name, args)."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    tasks = []
    for raw in client.lrange("celery", 0, -1):
        envelope = json.loads(raw)
        args = json.loads(base64.b64decode(envelope["body"]))[0]
        tasks.append((envelope["headers"]["task"], args))
    return tasks


def test_a_move_publishes_one_task_for_all_its_messages(shop, lanes, obs_here):
    from shopboard.celery import app

    for path in ("/a", "/b", "/c"):
        endpoint_create(shop_id=shop.id, url=lanes.url_for(path), events=["*"])
    ro = make_obs_repair_order(shop)
    app.control.purge()
    ids = _move(ro, 2)
    assert len(ids) == 4  # OBS and three endpoints
    assert _broker_tasks() == [(BATCH_TASK, [ids])]
    app.control.purge()


def test_a_commits_lanes_are_delivered_together_in_statements_that_do_not_grow_with_its_endpoints(
    shop, lanes, obs_here
):
    endpoint_create(shop_id=shop.id, url=lanes.url_for("/a"), events=["*"])
    ro = make_obs_repair_order(shop)
    statements = {}
    for endpoints in (1, 3):
        ids = _move(ro, 2 if endpoints == 1 else 3)
        with CaptureQueriesContext(connection) as queries:
            report = messages_deliver(message_ids=ids)
        statements[endpoints] = len(queries)
        assert sorted(report.outcomes.values()) == ["delivered"] * (endpoints + 1)
        if endpoints == 1:
            for path in ("/b", "/c"):
                endpoint_create(shop_id=shop.id, url=lanes.url_for(path), events=["*"])
    assert statements[1] == statements[3]
    assert not Message.objects.exclude(state=State.DELIVERED).exists()
    # Each message once, each with one attempt.
    ids = [r.headers["webhook-id"] for r in lanes.completed if r.path != "/obs"]
    assert len(ids) == 1 + 3 and len(set(ids)) == len(ids)
    assert {m.attempts.count() for m in Message.objects.all()} == {1}
    assert [r.body[0]["status"] for r in lanes.completed if r.path == "/obs"] == ["2", "3"]


def test_a_slow_endpoint_and_a_failing_one_hold_back_no_other_lanes_outcome(shop, lanes, obs_here):
    endpoints = {
        path: endpoint_create(shop_id=shop.id, url=lanes.url_for(path), events=["*"])[0]
        for path in ("/fast", "/slow", "/fail")
    }
    lanes.gates["/slow"] = threading.Event()
    lanes.scripts["/fail"] = [Reply(status=500)]
    ro = make_obs_repair_order(shop)
    ids = _move(ro, 2)
    reports = []

    def deliver():
        try:
            reports.append(messages_deliver(message_ids=ids))
        finally:
            connection.close()

    caller = threading.Thread(target=deliver)
    caller.start()
    try:

        def message(path):
            return Message.objects.get(endpoint=endpoints[path])

        # While the slow endpoint still holds its request, the others' outcomes are recorded.
        wait_until(
            lambda: (
                message("/fast").state == State.DELIVERED
                and message("/fail").last_error == "HTTP 500."
                and Message.objects.get(destination=Destination.OBS).state == State.DELIVERED
            ),
            timeout=20,
            message="the fast lanes' outcomes while the slow call is held",
        )
        assert lanes.holding("/slow") == 1
        slow = message("/slow")
        assert (slow.state, slow.attempt_count, slow.attempts.count()) == (State.PENDING, 1, 0)
        failing = message("/fail")
        assert (failing.state, failing.attempt_count) == (State.PENDING, 1)
        assert failing.next_attempt_at is not None
    finally:
        lanes.gates["/slow"].set()
        caller.join(timeout=30)
    assert not caller.is_alive()
    [report] = reports
    assert report.outcomes == {
        Message.objects.get(destination=Destination.OBS).id: "delivered",
        message_id_of(endpoints["/fast"]): "delivered",
        message_id_of(endpoints["/slow"]): "delivered",
        message_id_of(endpoints["/fail"]): "retrying",
    }
    assert Message.objects.get(endpoint=endpoints["/slow"]).state == State.DELIVERED


def message_id_of(endpoint) -> int:
    return Message.objects.get(endpoint=endpoint).id


def test_a_lane_whose_lease_another_claim_holds_is_left_to_it_and_the_others_go(shop, lanes, obs_here):
    from django.utils import timezone

    from integrations.delivery import services as engine
    from integrations.delivery.adapters import adapter_for
    from shopboard.celery import app

    held, free = (
        endpoint_create(shop_id=shop.id, url=lanes.url_for(path), events=["*"])[0]
        for path in ("/held", "/free")
    )
    ro = make_obs_repair_order(shop)
    ids = _move(ro, 2)
    [message] = Message.objects.filter(endpoint=held)
    # Another worker claimed the lane's head (its lease runs) and its booking ran out.
    lane = engine.Lane(message.destination, message.endpoint_id, message.repair_order_id, message.id)
    assert engine.lane_head_claim(lane, adapter_for(Destination.WEBHOOK)).message.id == message.id
    Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    app.control.purge()

    report = messages_deliver(message_ids=ids)
    assert report.outcomes[message.id] == "busy"
    assert Message.objects.get(endpoint=free).state == State.DELIVERED
    assert Message.objects.get(destination=Destination.OBS).state == State.DELIVERED
    message.refresh_from_db()
    assert (message.state, message.attempt_count, message.attempts.count()) == (State.PENDING, 1, 0)
    assert [r.path for r in lanes.received if r.path == "/held"] == []
    # Left to the lease's holder: no task goes round for it.
    assert _broker_tasks() == []


def test_a_message_committed_while_the_call_holds_its_lanes_is_sent_by_the_same_call(
    shop, lanes, obs_here, monkeypatch
):
    """The hand-over: the move's task would find the lanes taken and leave
    them; the holder looks at their heads after letting go, and goes round."""
    from integrations.delivery import batch
    from shopboard.celery import app

    endpoint_create(shop_id=shop.id, url=lanes.url_for("/lane"), events=["repair_order.stage_changed"])
    ro = make_obs_repair_order(shop)
    ids = _move(ro, 2)
    assert set(messages_deliver(message_ids=ids).outcomes.values()) == {"delivered"}
    claim = batch.lane_heads_claim

    def claim_then_a_move_commits(held):
        # The holder's claim finds nothing due; before it lets go of the
        # lanes, another writer commits a move.
        claims = claim(held)
        if not claims.claimed and not Message.objects.filter(state=State.PENDING).exists():
            repair_order_move(repair_order_id=ro.id, stage_id=3, source="board")
        return claims

    monkeypatch.setattr(batch, "lane_heads_claim", claim_then_a_move_commits)
    messages_deliver(message_ids=ids)
    app.control.purge()  # the move's own task, which nobody runs here
    assert set(Message.objects.values_list("state", flat=True)) == {State.DELIVERED}
    assert [b["data"]["stage_id"] for b in lanes.bodies("/lane")] == [2, 3]
    assert [r.body[0]["status"] for r in lanes.completed if r.path == "/obs"] == ["2", "3"]


@pytest.fixture(scope="module")
def threads_worker(django_db_setup, lanes_server, tmp_path_factory):
    pool, concurrency = DELIVERY_POOL
    worker = start_worker(lanes_server, tmp_path_factory.mktemp("celery"), pool=pool, concurrency=concurrency)
    yield worker
    worker.stop()


def _versions(lanes, paths) -> dict[tuple[str, str], list[int]]:
    seen = defaultdict(list)
    for received in lanes.completed:
        if received.path in paths:
            data = json.loads(received.raw)["data"]
            seen[(received.path, data["repair_number"])].append(data["version"])
    return seen


@pytest.mark.worker
def test_order_per_ro_and_endpoint_holds_across_commits_with_a_flaky_endpoint(
    threads_worker, shop, lanes, webhooks_settings
):
    lanes.default = Reply(status=204, body=b"")
    paths = ("/a", "/b", "/flaky")
    for path in paths:
        endpoint_create(shop_id=shop.id, url=lanes.url_for(path), events=["repair_order.stage_changed"])
    lanes.scripts["/flaky"] = [Reply(status=500), Reply(status=204, body=b""), Reply(status=503)]
    ros = [make_obs_repair_order(shop) for _ in range(3)]
    stages = (2, 3, 4, 5)
    for stage_id in stages:
        for ro in ros:
            repair_order_move(repair_order_id=ro.id, stage_id=stage_id, source="board")
    made = len(ros) * len(stages) * len(paths)
    wait_until(
        lambda: (
            Message.objects.filter(destination=Destination.WEBHOOK, state=State.DELIVERED).count() == made
        ),
        timeout=60,
        message=f"{made} webhook messages delivered",
    )
    completed = [r.headers["webhook-id"] for r in lanes.completed if r.path in paths]
    assert len(completed) == made and len(set(completed)) == made
    versions = _versions(lanes, paths)
    assert len(versions) == len(ros) * len(paths)
    assert all(v == sorted(v) and len(v) == len(stages) for v in versions.values())
    wait_until(
        lambda: not Message.objects.filter(state=State.PENDING).exists(),
        timeout=30,
        message="OBS settled",
    )
    for ro in ros:
        newest = Message.objects.filter(destination=Destination.OBS, repair_order=ro).order_by("-id").first()
        assert (newest.stage_id, newest.state) == (stages[-1], State.DELIVERED)


def _terminate_other_backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


@pytest.mark.worker
def test_a_commits_lanes_keep_their_order_when_the_workers_connections_die_mid_call(
    threads_worker, shop, lanes, webhooks_settings
):
    paths = ("/held", "/quick")
    for path in paths:
        endpoint_create(shop_id=shop.id, url=lanes.url_for(path), events=["repair_order.stage_changed"])
    lanes.gates["/held"] = threading.Event()
    ro = make_obs_repair_order(shop)
    repair_order_move(repair_order_id=ro.id, stage_id=2, source="board")
    wait_until(lambda: lanes.holding("/held") == 1, message="the first call to /held to arrive")
    assert _terminate_other_backends() >= 1
    repair_order_move(repair_order_id=ro.id, stage_id=3, source="board")
    wait_until(
        lambda: len([r for r in lanes.completed if r.path == "/quick"]) == 2,
        timeout=20,
        message="/quick to get both moves while /held is held",
    )
    lanes.gates["/held"].set()
    wait_until(
        lambda: (
            not Message.objects.filter(state=State.PENDING).exists()
            and len([r for r in lanes.completed if r.path == "/held"]) >= 2
        ),
        timeout=40,
        message="every message to settle",
    )
    hooks = Message.objects.filter(destination=Destination.WEBHOOK)
    assert set(hooks.values_list("state", flat=True)) == {State.DELIVERED}
    # OBS on the current stage (an older notification may end obsolete: latest-only).
    newest = Message.objects.filter(destination=Destination.OBS).order_by("-id").first()
    assert (newest.stage_id, newest.state) == (3, State.DELIVERED)
    versions = _versions(lanes, paths)
    assert sorted(path for path, _ in versions) == sorted(paths)
    assert all(v == sorted(v) and len(set(v)) == 2 for v in versions.values())
    held = [r.headers["webhook-id"] for r in lanes.completed if r.path == "/held"]
    assert len(held) == len(set(held)) == 2
