"""Events into the webhook outbox, in the writer's transaction.

repairs sends its signals inside the writer's transaction; outbox.py turns
each into one message per enabled endpoint of the RO's shop that wants the
event, with the body (the RO as the read API shows it) fixed now, and queues
their delivery on commit, in one task with the commit's other messages
(OBS's too: integrations/delivery/batch.py). A shop without endpoints pays one query.
"""

import json
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from repairs.models import RepairOrder, StageChange
from repairs.selectors import repair_order_team_loaded, repair_orders_to_read

from ...api.render import repair_order_json
from ...delivery.models import Destination
from ...delivery.queue import message_deliver_enqueue, messages_deliver_on_commit
from ..events import EventType
from ..models import WebhookEndpoint, WebhookMessage
from ..selectors import endpoints_listening


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.UTC).isoformat().replace("+00:00", "Z")


def message_body(*, event_type: str, timestamp: datetime, data: dict) -> str:
    return json.dumps(
        {"type": event_type, "timestamp": _rfc3339(timestamp), "data": data},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def webhook_events_record(
    *,
    event_type: EventType,
    repair_order_ids: Sequence[int],
    extra: dict | None = None,
    at: datetime | None = None,
    repair_orders: Sequence[RepairOrder] | None = None,
    shop_ids: Collection[int] | None = None,
) -> list[int]:
    """One message per (RO, enabled endpoint of its shop that wants the
    event), in the caller's transaction; delivery is queued on commit.
    Returns their ids.
    `extra` is added to every RO's data (a stage change's from/to/source).
    `repair_orders`: the ROs as the writer holds them (stage set), so that
    only their teams are read for the bodies (one query, not two); one RO (a
    move): its team is read with the endpoints, in the same statement.
    `shop_ids`: the shops of the ROs, when the writer knows them (a batch): the
    endpoints are then found by shop, not through the ROs (1,000 look-ups).

    Not decorated atomic: it only runs inside the writer's transaction (a
    repairs signal), and a savepoint would cost every batch two statements."""
    if not repair_order_ids:
        return []
    # One RO in hand (a move): its team comes with the endpoints, in the same statement.
    team_of = repair_orders[0].id if repair_orders is not None and len(repair_orders) == 1 else None
    if repair_orders is not None:
        listening = endpoints_listening(shop_ids={ro.shop_id for ro in repair_orders}, team_of=team_of)
    elif shop_ids is not None:
        listening = endpoints_listening(shop_ids=shop_ids)
    else:
        listening = endpoints_listening(repair_order_ids=repair_order_ids)
    listening = [e for e in listening if e.wants(event_type)]
    if not listening:
        return []
    teams = {team_of: listening[0].team or []} if team_of is not None else {}
    by_shop: dict[int, list[WebhookEndpoint]] = {}
    for endpoint in listening:
        by_shop.setdefault(endpoint.shop_id, []).append(endpoint)
    now = timezone.now()
    at = at or now
    if teams:
        readable = repair_orders
    elif repair_orders is not None:
        readable = [repair_order_team_loaded(ro) for ro in repair_orders]
    else:
        readable = repair_orders_to_read(repair_order_ids=repair_order_ids)
    rows = []
    for ro in readable:
        endpoints = by_shop.get(ro.shop_id)
        if not endpoints:
            continue
        body = message_body(
            event_type=event_type,
            timestamp=at,
            data=repair_order_json(ro, team=teams.get(ro.id)) | (extra or {}),
        )
        rows.extend(
            {
                "destination": Destination.WEBHOOK,
                "endpoint_id": endpoint.id,
                "repair_order_id": ro.id,
                "event_type": event_type,
                "body": body,
                "next_attempt_at": now,
            }
            for endpoint in endpoints
        )
    ids = _messages_insert(rows, now=now)
    named = ", ".join(map(str, ids)) if len(ids) <= 5 else f"{ids[0]}…{ids[-1]} ({len(ids)})"
    messages_deliver_on_commit(ids, what=f"webhook message{'s' if len(ids) > 1 else ''} {named}")
    return ids


def _messages_insert(rows: list[dict[str, Any]], *, now: datetime) -> list[int]:
    """The messages in one INSERT … VALUES … RETURNING id, in `rows`' order, each
    column as bulk_create would set it (the field's default, `now` for
    auto_now/auto_now_add): without building a model instance per message,
    which cost a move with three endpoints ~1 ms of CPU (docs/bench.md, section 7)."""
    if not rows:
        return []
    meta = WebhookMessage._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    quote = connection.ops.quote_name
    insert = f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) VALUES "
    row_sql = f"({', '.join(['%s'] * len(fields))})"
    # A batch of 1,000 ROs to several endpoints: chunks within PostgreSQL's parameter limit.
    per_statement = connection.ops.bulk_batch_size(fields, rows)
    ids = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            values = []
            for row in chunk:
                for field in fields:
                    if field.attname in row:
                        value = row[field.attname]
                    elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                        value = now
                    else:
                        value = field.get_default()
                    values.append(field.get_db_prep_save(value, connection))
            cursor.execute(
                f"{insert}{', '.join([row_sql] * len(chunk))} RETURNING {quote(meta.pk.column)}", values
            )
            ids.extend(id_ for (id_,) in cursor.fetchall())
    return ids


def stage_change_record(*, repair_order: RepairOrder, stage_change: StageChange) -> list[int]:
    return webhook_events_record(
        event_type=EventType.REPAIR_ORDER_STAGE_CHANGED,
        repair_order_ids=[repair_order.id],
        repair_orders=[repair_order],
        extra={
            "from_stage_id": stage_change.from_stage_id,
            "to_stage_id": stage_change.to_stage_id,
            "source": stage_change.source,
        },
        at=stage_change.changed_at,
    )


@transaction.atomic
def endpoint_test_send(*, endpoint_id: int) -> WebhookMessage:
    """A `webhook.test` message to this endpoint, whatever it subscribes to."""
    endpoint = WebhookEndpoint.objects.get(pk=endpoint_id)
    now = timezone.now()
    message = WebhookMessage.objects.create(
        endpoint=endpoint,
        event_type=EventType.TEST,
        body=message_body(
            event_type=EventType.TEST,
            timestamp=now,
            data={
                "shop_id": endpoint.shop_id,
                "endpoint_id": endpoint.id,
                "message": "A test event from Shopboard.",
            },
        ),
        next_attempt_at=now,
    )
    transaction.on_commit(lambda: message_deliver_enqueue(message.id))
    return message
