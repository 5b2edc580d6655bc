"""What differs between kinds of destination, behind one interface.

The engine (services.py) owns the lane, the lease, the booking, the
retries and the record; an adapter says, for its kind:

latest_only   whether only a lane's newest message matters (OBS: the RO's
              current stage; older pending ones become obsolete) or every
              message goes out in order (webhooks: every event)
policy        its retry schedule (integrations/delivery/policy.py)
lease_seconds how long a claim holds the lane (longer than one call)
sweep_grace   how long a due message waits before the sweep re-queues it
prepare       inside the claim's transaction: where and what to send, or
              Refused (OBS switched off, endpoint disabled, secret unreadable)
send          the HTTP call, outside any transaction: a SendResult
on_delivered  bookkeeping of a delivery, in the record's transaction
on_failure    bookkeeping of a failure, in the record's transaction; True
              when it ended the message itself (a webhook endpoint disabled)
resend_refusal why a person may not send this message again, or ""
resend_url    where the page's Re-send button posts (its integration's view)
"""

from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from .models import Destination, Message
from .policy import RetryPolicy


class Refused(Exception):
    """The message cannot be sent at all now: it fails with this reason."""


@dataclass(frozen=True)
class SendResult:
    delivered: bool
    http_status: int | None
    # In words, for people; empty when delivered.
    error: str
    # The start of the answer (OBS: its message).
    response_excerpt: str
    duration_ms: int
    # Trying again cannot help (other 4xx, OBS's error body, a refused URL).
    permanent: bool = False
    # Seconds the destination asked us to wait (Retry-After, seconds form).
    retry_after_seconds: float | None = None


class Adapter(Protocol):
    kind: Destination
    latest_only: bool

    def policy(self) -> RetryPolicy: ...

    def lease_seconds(self) -> float: ...

    def sweep_grace_seconds(self) -> float: ...

    def prepare(self, message: Message, now: datetime) -> Any: ...

    def send(self, prepared: Any, message: Message) -> SendResult: ...

    def on_delivered(self, message: Message, now: datetime) -> None: ...

    def on_failure(
        self, message: Message, result: SendResult, attempted_at: datetime, now: datetime
    ) -> bool: ...

    def resend_refusal(self, message: Message, *, newest: bool | None = None) -> str: ...

    def resend_url(self, message: Message, *, shop_id: int) -> str: ...

    def card_watch(self, repair_order_id: int | None) -> AbstractContextManager[None]:
        """Wraps every write of a message's state, inside its transaction, so
        a destination whose state a board card shows (OBS's problem badge) can
        tell open boards when the card changed."""
        ...

    def cards_watch(self, repair_order_ids: list[int]) -> AbstractContextManager[None]:
        """card_watch for many ROs at once (the batched delivery's record)."""
        ...

    def card_may_change(self, message: Message, *, delivered: bool, now: datetime) -> bool:
        """Whether recording this outcome of the claimed message may change
        what its card shows; if not, the batched record skips cards_watch's
        reads. `message` carries `newer_exists` from the claim (a newer
        message of its lane existed then)."""
        ...


def adapter_for(kind: str) -> Adapter:
    # Imported here: the adapters import their integration's services,
    # which import the engine.
    from ..obs.adapter import OBS_ADAPTER
    from ..webhooks.adapter import WEBHOOK_ADAPTER

    return {Destination.OBS: OBS_ADAPTER, Destination.WEBHOOK: WEBHOOK_ADAPTER}[kind]


def adapters() -> list[Adapter]:
    return [adapter_for(kind) for kind in Destination]
