"""Reads of the one outbox: the sweep's, and the delivery log's."""

from datetime import timedelta

from django.db.models import Max, Prefetch, Q, QuerySet
from django.utils import timezone

from .adapters import adapter_for, adapters
from .models import Attempt, Message

State = Message.State


def lanes_due(*, limit: int) -> QuerySet:
    """The sweep's read: for every lane with a pending message due for longer
    than its destination's grace, one message id standing for the lane (its
    newest); message_pending_due_idx. Messages without RO share one group per
    endpoint here, so one of them is re-queued per sweep: they are rare and
    never hold anything back."""
    now = timezone.now()
    due = Q()
    for adapter in adapters():
        cutoff = now - timedelta(seconds=adapter.sweep_grace_seconds())
        due |= Q(destination=adapter.kind, next_attempt_at__lte=cutoff)
    return (
        Message.objects.filter(due, state=State.PENDING)
        .order_by()
        .values("destination", "endpoint_id", "repair_order_id")
        .annotate(head=Max("id"))
        .values_list("head", flat=True)[:limit]
    )


def delivery_log(
    *,
    destination: str | None = None,
    repair_order_id: int | None = None,
    endpoint_id: int | None = None,
    limit: int = 50,
) -> list[Message]:
    """The delivery log (templates/integrations/delivery_log.html): messages,
    newest first, with their attempts (newest first), filtered by destination
    kind, RO and endpoint. Each carries `resendable`: its destination's
    re-send rule allows it (adapters' resend_refusal)."""
    messages = Message.objects.all()
    if destination is not None:
        messages = messages.filter(destination=destination)
    if repair_order_id is not None:
        messages = messages.filter(repair_order_id=repair_order_id)
    if endpoint_id is not None:
        messages = messages.filter(endpoint_id=endpoint_id)
    log = list(
        messages.select_related("stage", "endpoint", "repair_order")
        .prefetch_related(Prefetch("attempts", queryset=Attempt.objects.order_by("-attempted_at", "-id")))
        .order_by("-id")[:limit]
    )
    lanes_seen = set()
    for message in log:
        lane = (message.destination, message.endpoint_id, message.repair_order_id)
        newest = lane not in lanes_seen
        lanes_seen.add(lane)
        message.resendable = not adapter_for(message.destination).resend_refusal(message, newest=newest)
    return log
