"""Writes of the webhooks (SPEC §9).

endpoints   add, change, delete, rotate the secret of, disable an endpoint
recording   repairs' events into the outbox, in the writer's transaction; test messages
delivery    the one delivery engine's calls for webhooks; re-sends
"""

from .delivery import (
    MAX_ROUNDS,
    DeliveryReport,
    NotResendable,
    webhook_message_deliver,
    webhook_message_resend,
    webhook_messages_resend_failed,
)
from .endpoints import (
    EndpointInvalid,
    endpoint_create,
    endpoint_delete,
    endpoint_disable,
    endpoint_secret_rotate,
    endpoint_update,
    events_check,
    url_check,
)
from .recording import endpoint_test_send, message_body, stage_change_record, webhook_events_record

__all__ = [
    "MAX_ROUNDS",
    "DeliveryReport",
    "EndpointInvalid",
    "NotResendable",
    "endpoint_create",
    "endpoint_delete",
    "endpoint_disable",
    "endpoint_secret_rotate",
    "endpoint_test_send",
    "endpoint_update",
    "events_check",
    "message_body",
    "stage_change_record",
    "url_check",
    "webhook_events_record",
    "webhook_message_deliver",
    "webhook_message_resend",
    "webhook_messages_resend_failed",
]
