"""Every OBS notification and webhook message, with its attempts, into the one
outbox. OBS rows keep their ids (their order per RO is their id order);
webhook rows follow them, shifted past the largest OBS id, in their own
order. A delivery task queued before the upgrade names an old id of a task
that no longer exists: the sweep re-queues every pending message instead.
"""

from django.db import migrations

COPY = """
INSERT INTO integrations_message (
    id, destination, endpoint_id, repair_order_id, stage_change_id, stage_id, obs_event_id,
    public_id, event_type, body, state, created_at, updated_at, next_attempt_at, attempt_count,
    last_error, delivered_at)
SELECT n.id, 'obs', NULL, n.repair_order_id, n.stage_change_id, n.stage_id, n.obs_event_id,
    'msg_' || replace(gen_random_uuid()::text, '-', ''), 'repair_order.stage_changed', '', n.state,
    n.created_at, n.updated_at, n.next_attempt_at, n.attempt_count, n.last_error, n.delivered_at
FROM integrations_notification n;

-- OBS kept one text per attempt: its answer when delivered, else what went wrong.
INSERT INTO integrations_attempt (
    id, message_id, attempted_at, http_status, error, response_excerpt, duration_ms)
SELECT a.id, a.notification_id, a.attempted_at, a.http_status,
    CASE WHEN delivering THEN '' ELSE a.message END,
    CASE WHEN delivering THEN a.message ELSE '' END,
    a.duration_ms
FROM (
    SELECT a.*, (n.state = 'delivered' AND a.http_status BETWEEN 200 AND 299 AND a.id = max(a.id)
        OVER (PARTITION BY a.notification_id)) AS delivering
    FROM integrations_deliveryattempt a JOIN integrations_notification n ON n.id = a.notification_id
) a;

CREATE TEMPORARY TABLE delivery_shift ON COMMIT DROP AS
SELECT (SELECT coalesce(max(id), 0) FROM integrations_notification) AS messages,
       (SELECT coalesce(max(id), 0) FROM integrations_deliveryattempt) AS attempts;

INSERT INTO integrations_message (
    id, destination, endpoint_id, repair_order_id, stage_change_id, stage_id, obs_event_id,
    public_id, event_type, body, state, created_at, updated_at, next_attempt_at, attempt_count,
    last_error, delivered_at)
SELECT m.id + s.messages, 'webhook', m.endpoint_id, m.repair_order_id, NULL, NULL, '',
    m.webhook_id, m.event_type, m.body, m.state, m.created_at, m.updated_at, m.next_attempt_at,
    m.attempt_count, m.last_error, m.delivered_at
FROM integrations_webhookmessage m, delivery_shift s;

INSERT INTO integrations_attempt (
    id, message_id, attempted_at, http_status, error, response_excerpt, duration_ms)
SELECT a.id + s.attempts, a.message_id + s.messages, a.attempted_at, a.http_status, a.error,
    a.response_excerpt, a.duration_ms
FROM integrations_webhookattempt a, delivery_shift s;

SELECT setval(pg_get_serial_sequence('integrations_message', 'id'), greatest(max(id), 1), max(id) IS NOT NULL)
FROM integrations_message;
SELECT setval(pg_get_serial_sequence('integrations_attempt', 'id'), greatest(max(id), 1), max(id) IS NOT NULL)
FROM integrations_attempt;

-- The foreign keys are checked now, not at the commit after 0007 altered these tables.
SET CONSTRAINTS ALL IMMEDIATE;
"""


# Back (a downgrade): the same rows into the old outboxes, ids kept.
COPY_BACK = """
INSERT INTO integrations_notification (
    id, repair_order_id, stage_change_id, obs_event_id, stage_id, state, created_at, updated_at,
    next_attempt_at, attempt_count, last_error, delivered_at)
SELECT id, repair_order_id, stage_change_id, obs_event_id, stage_id, state, created_at, updated_at,
    next_attempt_at, attempt_count, last_error, delivered_at
FROM integrations_message WHERE destination = 'obs';

INSERT INTO integrations_deliveryattempt (id, notification_id, attempted_at, http_status, message, duration_ms)
SELECT a.id, a.message_id, a.attempted_at, a.http_status,
    CASE WHEN a.error <> '' THEN a.error ELSE a.response_excerpt END, a.duration_ms
FROM integrations_attempt a JOIN integrations_message m ON m.id = a.message_id
WHERE m.destination = 'obs';

INSERT INTO integrations_webhookmessage (
    id, endpoint_id, repair_order_id, webhook_id, event_type, body, state, created_at, updated_at,
    next_attempt_at, attempt_count, last_error, delivered_at)
SELECT id, endpoint_id, repair_order_id, public_id, event_type, body, state, created_at, updated_at,
    next_attempt_at, attempt_count, last_error, delivered_at
FROM integrations_message WHERE destination = 'webhook';

INSERT INTO integrations_webhookattempt (
    id, message_id, attempted_at, http_status, error, response_excerpt, duration_ms)
SELECT a.id, a.message_id, a.attempted_at, a.http_status, a.error, a.response_excerpt, a.duration_ms
FROM integrations_attempt a JOIN integrations_message m ON m.id = a.message_id
WHERE m.destination = 'webhook';

SELECT setval(pg_get_serial_sequence(t, 'id'), greatest(m, 1), m > 0)
FROM (VALUES
    ('integrations_notification', (SELECT coalesce(max(id), 0) FROM integrations_notification)),
    ('integrations_deliveryattempt', (SELECT coalesce(max(id), 0) FROM integrations_deliveryattempt)),
    ('integrations_webhookmessage', (SELECT coalesce(max(id), 0) FROM integrations_webhookmessage)),
    ('integrations_webhookattempt', (SELECT coalesce(max(id), 0) FROM integrations_webhookattempt))
) AS s(t, m);

DELETE FROM integrations_attempt;
DELETE FROM integrations_message;
SET CONSTRAINTS ALL IMMEDIATE;
"""


class Migration(migrations.Migration):
    dependencies = [("integrations", "0005_delivery_engine")]

    operations = [migrations.RunSQL(COPY, COPY_BACK)]
