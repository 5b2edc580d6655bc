"""The upgrade to the one outbox (integrations migrations 0005–0007) moves every
OBS notification and webhook message, with its attempts, and the downgrade
moves them back: on the real PostgreSQL, with the real migrations."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from integrations.delivery.models import Attempt, Destination, Message
from integrations.webhooks.services import endpoint_create
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

BEFORE = ("integrations", "0004_scale_indexes")


def _migrate(target) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate([target])


def _latest():
    return MigrationExecutor(connection).loader.graph.leaf_nodes("integrations")[0]


def _sql(statement: str, params=()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def test_the_upgrade_moves_both_outboxes_into_one_and_the_downgrade_moves_them_back(shop):
    ro = factories.make_repair_order(shop=shop, obs_event_id="EVT-1")
    hook, _ = endpoint_create(shop_id=shop.id, url="https://hooks.example.com/in", events=["*"])
    _migrate(BEFORE)
    try:
        _sql(
            "INSERT INTO integrations_notification (id, repair_order_id, obs_event_id, stage_id, state,"
            " created_at, updated_at, attempt_count, last_error, delivered_at) VALUES"
            " (1, %s, 'EVT-1', 3, 'delivered', now(), now(), 1, '', now()),"
            " (2, %s, 'EVT-1', 5, 'failed', now(), now(), 1, 'HTTP 400: Unknown status', NULL)",
            [ro.id, ro.id],
        )
        _sql(
            "INSERT INTO integrations_deliveryattempt (id, notification_id, attempted_at, http_status, message,"
            " duration_ms) VALUES (1, 1, now(), 200, '{\"success\": true}', 10),"
            " (2, 2, now(), 400, 'HTTP 400: Unknown status', 11)"
        )
        _sql(
            "INSERT INTO integrations_webhookmessage (id, endpoint_id, repair_order_id, webhook_id, event_type,"
            " body, state, created_at, updated_at, next_attempt_at, attempt_count, last_error) VALUES"
            " (1, %s, %s, 'msg_old', 'repair_order.updated', '{\"a\":1}', 'pending', now(), now(), now(), 1,"
            " 'HTTP 500.')",
            [hook.id, ro.id],
        )
        _sql(
            "INSERT INTO integrations_webhookattempt (id, message_id, attempted_at, http_status, error,"
            " response_excerpt, duration_ms) VALUES (1, 1, now(), 500, 'HTTP 500.', 'oops', 12)"
        )
    finally:
        _migrate(_latest())

    obs = list(Message.objects.filter(destination=Destination.OBS).order_by("id"))
    assert [(m.id, m.stage_id, m.state, m.obs_event_id, m.event_type) for m in obs] == [
        (1, 3, "delivered", "EVT-1", "repair_order.stage_changed"),
        (2, 5, "failed", "EVT-1", "repair_order.stage_changed"),
    ]
    [hooked] = Message.objects.filter(destination=Destination.WEBHOOK)
    assert (hooked.id, hooked.public_id, hooked.endpoint_id, hooked.body, hooked.state) == (
        3,
        "msg_old",
        hook.id,
        '{"a":1}',
        "pending",
    )
    attempts = {
        a.message_id: (a.http_status, a.error, a.response_excerpt, a.duration_ms)
        for a in Attempt.objects.all()
    }
    assert attempts == {
        1: (200, "", '{"success": true}', 10),  # what OBS answered to the delivering attempt
        2: (400, "HTTP 400: Unknown status", "", 11),
        3: (500, "HTTP 500.", "oops", 12),
    }
    # New rows come after the moved ones.
    newer = Message.objects.create(destination=Destination.OBS, repair_order=ro, event_type="x")
    assert newer.id > 3
    newer.delete()

    _migrate(BEFORE)
    try:
        assert _sql("SELECT id, stage_id, state FROM integrations_notification ORDER BY id") == [
            (1, 3, "delivered"),
            (2, 5, "failed"),
        ]
        assert _sql("SELECT notification_id, message FROM integrations_deliveryattempt ORDER BY id") == [
            (1, '{"success": true}'),
            (2, "HTTP 400: Unknown status"),
        ]
        assert _sql("SELECT id, webhook_id FROM integrations_webhookmessage") == [(3, "msg_old")]
        assert _sql("SELECT message_id, error FROM integrations_webhookattempt") == [(3, "HTTP 500.")]
    finally:
        _migrate(_latest())
